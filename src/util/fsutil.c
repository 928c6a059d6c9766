#include "util/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/alloc.h"
#include "util/err.h"

int bc_mkdir_p(const char *path, mode_t mode)
{
    char *p = bc_strdup(path);
    int rc = 0;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            rc = BC_EIO;
            break;
        }
        *c = saved;
        if (saved == '\0')
            break;
    }
    free(p);
    struct stat st;
    if (rc == 0 && stat(path, &st) < 0)
        rc = BC_EIO;
    else if (rc == 0 && !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        rc = BC_EIO;
    }
    return rc;
}

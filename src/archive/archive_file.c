/* file://DIR: objects are files under DIR, named by their keys. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive_backend.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fsutil.h"
#include "util/log.h"

#define ARCHIVE_DIR_MODE 0700 /* the archive is private */
#define PART_SUFFIX ".part"   /* until complete: readers never see half a file */

struct archive_file {
    char *dir;
};

/* Creates every missing directory of path (those below the archive's own). */
static int make_parents(const char *path)
{
    char *dir = bc_strdup(path);
    *strrchr(dir, '/') = '\0';
    int rc = bc_mkdir_p(dir, ARCHIVE_DIR_MODE);
    if (rc < 0)
        bc_warn("archive: cannot create %s: %s", dir, strerror(errno));
    free(dir);
    return rc;
}

static char *file_begin(void *impl, const char *key)
{
    struct archive_file *f = impl;
    char *path = bc_asprintf("%s/%s%s", f->dir, key, PART_SUFFIX);
    if (make_parents(path) == 0)
        return path;
    free(path);
    return NULL;
}

static int file_commit(void *impl, const char *key, const char *path)
{
    struct archive_file *f = impl;
    char *dest = bc_asprintf("%s/%s", f->dir, key);
    int rc = rename(path, dest) == 0 ? 0 : BC_EIO;
    if (rc < 0) {
        bc_warn("archive: cannot keep %s: %s", dest, strerror(errno));
        unlink(path);
    }
    free(dest);
    return rc;
}

static const char *file_local_dir(void *impl)
{
    return ((struct archive_file *)impl)->dir;
}

static void file_close(void *impl)
{
    struct archive_file *f = impl;
    if (!f)
        return;
    free(f->dir);
    free(f);
}

static const struct archive_ops file_ops = {
    .name = "file",
    .begin = file_begin,
    .commit = file_commit,
    .local_dir = file_local_dir,
    .close = file_close,
};

int archive_file_backend_open(const char *dir, const struct archive_ops **ops, void **impl)
{
    if (mkdir(dir, ARCHIVE_DIR_MODE) < 0 && errno != EEXIST) {
        bc_error("archive: cannot create %s: %s", dir, strerror(errno));
        return BC_EIO;
    }
    struct archive_file *f = bc_calloc(1, sizeof *f);
    f->dir = bc_strdup(dir);
    size_t len = strlen(f->dir);
    while (len > 1 && f->dir[len - 1] == '/')
        f->dir[--len] = '\0';
    *ops = &file_ops;
    *impl = f;
    return 0;
}

#include "util/web_root.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_build.h"
#include "util/err.h"

#define BIN_DIR "/bin"
#define SHARED_WEB_ROOT "/share/babelcast/web"

static int has_index(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/index.html", dir);
    return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* PREFIX/share/babelcast/web for a binary at PREFIX/bin/NAME, or "". */
static void beside_binary(char *out, size_t len)
{
    char exe[PATH_MAX];
    out[0] = '\0';
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0'; /* the binary's directory */
    size_t dir_len = strlen(exe), bin_len = strlen(BIN_DIR);
    if (dir_len < bin_len || strcmp(exe + dir_len - bin_len, BIN_DIR) != 0)
        return;
    exe[dir_len - bin_len] = '\0'; /* the prefix */
    int w = snprintf(out, len, "%s%s", exe, SHARED_WEB_ROOT);
    if (w < 0 || (size_t)w >= len)
        out[0] = '\0';
}

int bc_web_root_default(char *out, size_t len)
{
    beside_binary(out, len);
    if (out[0] && has_index(out))
        return 0;
    const char *root = has_index(BC_SOURCE_WEB_ROOT) ? BC_SOURCE_WEB_ROOT : BC_INSTALLED_WEB_ROOT;
    int w = snprintf(out, len, "%s", root);
    return w >= 0 && (size_t)w < len ? 0 : BC_ELIMIT;
}

/* File-system helpers several parts share. */
#ifndef BC_FSUTIL_H
#define BC_FSUTIL_H

#include <sys/types.h>

/* Creates path and every missing parent with mode (as mkdir -p; existing
 * directories are left as they are). Returns 0 when path is a directory
 * afterwards, else BC_EIO (the reason is in errno: ENOTDIR when something
 * on the way is not a directory). Thread-safe. */
int bc_mkdir_p(const char *path, mode_t mode);

#endif

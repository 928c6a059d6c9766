/* Internal to src/archive: the table of operations every archive backend
 * fills in. archive.c names the objects (keys made of
 * [A-Za-z0-9._-] segments joined by '/', checked by spool_key_valid) and
 * writes their bytes; a backend says where to write them and keeps them. */
#ifndef BC_ARCHIVE_BACKEND_H
#define BC_ARCHIVE_BACKEND_H

#include <stddef.h>

struct archive_ops {
    const char *name;
    /* A path to write the object key to (heap string; its directory exists
     * or NULL after an error, logged). */
    char *(*begin)(void *impl, const char *key);
    /* The file at path (from begin) is complete: keep it as key. On failure
     * the file is gone. Returns 0 or a BC_E* code. */
    int (*commit)(void *impl, const char *key, const char *path);
    /* Optional: the directory of a local archive. */
    const char *(*local_dir)(void *impl);
    /* Optional: objects not yet stored, and waiting for them. */
    size_t (*pending)(void *impl);
    int (*wait)(void *impl, int timeout_ms);
    void (*close)(void *impl);
};

/* dir: the archive's directory. */
int archive_file_backend_open(const char *dir, const struct archive_ops **ops, void **impl);
/* url: the whole s3:// URL; data_dir holds the spool. */
int archive_s3_backend_open(const char *url, const char *data_dir, const struct archive_ops **ops,
                            void **impl);

#endif

/* A spool: files waiting in a local directory to be handed to a slow or
 * unreliable store (S3), and one thread that hands them over.
 *
 * A writer asks for a temporary path (spool_begin), writes the file, and
 * commits it under its key; from then on the file survives crashes and
 * restarts until the upload callback took it, and only then is deleted.
 * Layout under dir: tmp/ (files being written; emptied at open), ready/
 * (committed, one file per key: '/' in a key becomes '+'), failed/ (keys the
 * store refused for good, kept for the operator).
 *
 * Uploader threads take ready files in key order (each file by one
 * thread at a time). A retryable failure (the
 * store is down, slow, throttling or refusing our credentials) waits with
 * exponential backoff and tries again, forever: nothing is lost, and
 * nothing after it is skipped. A permanent refusal (BC_EINVAL, BC_EFORMAT,
 * BC_ELIMIT) moves the file to failed/ after max_attempts. A key committed
 * twice is uploaded under the same key again (stores overwrite), so
 * idempotent keys make each object exist once.
 *
 * All functions are thread-safe; none waits on the store. */
#ifndef BC_SPOOL_H
#define BC_SPOOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_KEY_MAX 512

/* Hands the file at path over as key. Runs on an uploader thread (several
 * at once for different keys); returns
 * 0 when the store has it, else a BC_E* code (see above). cancel becomes
 * nonzero when the spool closes: give up soon (BC_ECLOSED). */
typedef int (*spool_upload_fn)(void *ctx, const char *key, const char *path,
                               const atomic_int *cancel);

struct spool_params {
    int backoff_min_ms; /* first wait after a failure; default 500 */
    int backoff_max_ms; /* waits double up to this; default 10000 */
    int max_attempts;   /* for permanent refusals; default 5 */
    int threads;        /* uploads in flight at once; default 4 */
};

struct spool_stats {
    size_t pending;        /* committed, not yet uploaded */
    uint64_t uploaded;     /* since open */
    uint64_t failures;     /* failed attempts since open */
    uint64_t given_up;     /* moved to failed/ since open */
};

struct spool;

void spool_default_params(struct spool_params *p);

/* Creates dir and its subdirectories (mode 0700) when missing, empties
 * tmp/, and starts the uploaders, which begin with what ready/ holds from
 * before. params NULL: defaults. upload and ctx must outlive the spool.
 * Returns 0 and *out, BC_EINVAL or BC_EIO. */
int spool_open(const char *dir, const struct spool_params *params, spool_upload_fn upload,
               void *ctx, struct spool **out);
/* Stops the uploaders (uploads in flight are cancelled); what is not
 * uploaded stays in ready/ for the next open. NULL is a no-op. */
void spool_close(struct spool *s);

/* Whether key may be spooled: 1..SPOOL_KEY_MAX-1 characters of
 * [A-Za-z0-9._-/], no empty segment, no segment starting with '.'. */
int spool_key_valid(const char *key);
/* The key a file name of ready/ stands for (spool_commit names a file
 * after its key with '+' for '/'): 0 and key, or BC_EINVAL and "" when
 * the name is no valid key's. */
int spool_key_of_name(const char *name, char key[SPOOL_KEY_MAX]);

/* A new, unique path under tmp/ to write a file to (heap string, caller
 * frees). Never fails. */
char *spool_begin(struct spool *s);
/* Moves the file written at tmp_path into ready/ as key and wakes the
 * uploader. Returns 0, BC_EINVAL (bad key) or BC_EIO (the file is removed). */
int spool_commit(struct spool *s, const char *tmp_path, const char *key);

void spool_stats(struct spool *s, struct spool_stats *out);
/* Blocks until nothing is pending or timeout_ms passed. Returns 0 or
 * BC_ETIMEDOUT. */
int spool_wait_empty(struct spool *s, int timeout_ms);

#endif

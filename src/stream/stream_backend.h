/* Internal to src/stream: the table of operations every backend fills in,
 * and the in-memory log that the mem:// backend is and the file:// backend
 * builds on. Session ids reaching a backend have been validated by stream.c. */
#ifndef BC_STREAM_BACKEND_H
#define BC_STREAM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "stream/stream.h"

/* Largest record data; the file format stores the length in 32 bits. */
#define STREAM_RECORD_MAX_BYTES (64u * 1024 * 1024)

struct stream_ops {
    const char *name;
    int (*append)(void *impl, const char *id, enum stream_kind kind, const void *data, size_t len,
                  uint64_t *seq_out);
    int (*read)(void *impl, const char *id, uint64_t after_seq, struct stream_record **out);
    int (*checkpoint)(void *impl, const char *id, uint64_t seq, const void *state,
                      size_t state_len);
    int (*checkpoint_get)(void *impl, const char *id, uint64_t *seq, void *state,
                          size_t *state_len);
    int (*record_failed)(void *impl, const char *id, uint64_t seq, const char *error);
    size_t (*dead_letters)(void *impl, const char *id);
    int (*audio_bytes)(void *impl, const char *id, uint64_t *bytes);
    size_t (*sessions_pending)(void *impl, char (*ids)[STREAM_SESSION_ID_MAX], size_t max);
    void (*session_ended)(void *impl, const char *id);
    int (*lease)(void *impl, const char *id, const char *owner, int ttl_ms, uint64_t *token);
    /* Optional (NULL: nothing to release, returns 0). */
    int (*lease_release)(void *impl, const char *id, const char *owner);
    /* Optional (NULL: stream.c calls cb after this handle's appends). Returns
     * 0 when the backend itself calls cb for every append from then on. */
    int (*set_notify)(void *impl, stream_notify_cb cb, void *user_data);
    void (*close)(void *impl);
};

/* 1..STREAM_SESSION_ID_MAX-1 characters of [A-Za-z0-9_-]: ids become
 * file names. */
int stream_id_valid(const char *id);

/* Backend constructors; params are complete and validated. */
int stream_mem_backend_open(const struct stream_params *params, const struct stream_ops **ops,
                            void **impl);
int stream_file_backend_open(const char *dir, const struct stream_params *params,
                             const struct stream_ops **ops, void **impl);
/* url is the whole redis:// URL. */
int stream_redis_backend_open(const char *url, const struct stream_params *params,
                              const struct stream_ops **ops, void **impl);
/* url is the whole kinesis:// URL. */
int stream_kinesis_backend_open(const char *url, const struct stream_params *params,
                                const struct stream_ops **ops, void **impl);

/* ---- The in-memory log ---------------------------------------------------
 * One mutex guards everything. Records after the checkpoint stay in memory
 * (that is the backlog), so a durable backend only has to write, never read
 * back while running. Hooks let such a backend persist each change in the
 * same critical section, which keeps file order equal to seq order. */

struct stream_mem;

struct stream_mem_hooks {
    void *ctx;
    /* Under the lock: a session is created; *ext receives per-session state. */
    int (*session_new)(void *ctx, const char *id, void **ext);
    /* Under the lock: a session is forgotten (close or retention). */
    void (*session_free)(void *ctx, void *ext);
    /* Under the lock: rec got its seq; nonzero rejects the append. */
    int (*append)(void *ctx, void *ext, const struct stream_record *rec);
    /* Under the lock: record seq exhausted its attempts; nonzero keeps it retryable. */
    int (*dead_letter)(void *ctx, void *ext, uint64_t seq, int64_t append_ms, const char *error);
    /* Under the lock: the session was marked ended. */
    void (*ended)(void *ctx, void *ext);
    /* Under the lock: retention drops the session (delete its files). */
    void (*drop)(void *ctx, const char *id, void *ext);
};

/* What stream_mem_foreach shows of one session (valid during the callback). */
struct stream_mem_view {
    const char *id;
    void *ext;
    uint64_t checkpoint_seq;
    struct stream_record *const *records; /* the pending ones, in seq order */
    size_t pending_records;
    size_t pending_bytes; /* data bytes of the pending records */
    uint64_t audio_bytes; /* stream_audio_bytes: all audio ever appended */
    int ended;
};

/* hooks may be NULL (pure memory); it is copied. */
struct stream_mem *stream_mem_new(const struct stream_params *params,
                                  const struct stream_mem_hooks *hooks);
void stream_mem_free(struct stream_mem *m);

int stream_mem_append(struct stream_mem *m, const char *id, enum stream_kind kind, const void *data,
                      size_t len, uint64_t *seq_out);
int stream_mem_read(struct stream_mem *m, const char *id, uint64_t after_seq,
                    struct stream_record **out);
/* BC_EINVAL unless checkpoint <= seq <= last appended seq. */
int stream_mem_checkpoint_check(struct stream_mem *m, const char *id, uint64_t seq);
int stream_mem_checkpoint(struct stream_mem *m, const char *id, uint64_t seq, const void *state,
                          size_t state_len);
int stream_mem_checkpoint_get(struct stream_mem *m, const char *id, uint64_t *seq, void *state,
                              size_t *state_len);
int stream_mem_record_failed(struct stream_mem *m, const char *id, uint64_t seq, const char *error);
size_t stream_mem_dead_letters(struct stream_mem *m, const char *id);
uint64_t stream_mem_audio_bytes(struct stream_mem *m, const char *id);
size_t stream_mem_sessions_pending(struct stream_mem *m, char (*ids)[STREAM_SESSION_ID_MAX],
                                   size_t max);
void stream_mem_session_ended(struct stream_mem *m, const char *id);

/* The session's ext (created through the hook when create is set), or
 * BC_ENOTFOUND. The pointer stays valid until retention or stream_mem_free. */
int stream_mem_session_ext(struct stream_mem *m, const char *id, int create, void **ext);

/* Recovery: registers a session found on disk (no session_new hook call),
 * then its pending records in seq order (ownership of rec moves to the log). */
int stream_mem_load_session(struct stream_mem *m, const char *id, uint64_t checkpoint_seq,
                            const void *state, size_t state_len, uint64_t last_seq,
                            int64_t last_append_ms, size_t dead_letters, int ended,
                            uint64_t audio_bytes, void *ext);
int stream_mem_load_record(struct stream_mem *m, const char *id, struct stream_record *rec);

/* Calls fn for every session under the lock. */
void stream_mem_foreach(struct stream_mem *m,
                        void (*fn)(void *ctx, const struct stream_mem_view *v), void *ctx);
/* Drops sessions that are ended, fully processed and whose last append is
 * older than params->retention_ms. Returns how many. */
size_t stream_mem_sweep(struct stream_mem *m, int64_t now_ms);

#endif

/* Shared by the kinesis:// backend's files: stream_kinesis_api.c (the
 * Kinesis JSON 1.1 calls, throttling retries), stream_kinesis_store.c and
 * stream_kinesis_store_local.c (shard leases, checkpoints and per-session
 * counters in Redis or in a local journal), stream_kinesis.c (the stream
 * operations), stream_kinesis_shard.c (the shard coordinator) and
 * stream_kinesis_reader.c (a reader thread per leased shard). Not part of
 * the stream interface. */
#ifndef BC_STREAM_KINESIS_INTERNAL_H
#define BC_STREAM_KINESIS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/aws.h"
#include "stream/stream_backend.h"

/* Kinesis sequence numbers are decimal strings of up to 128 digits. */
#define KIN_SEQNUM_MAX 132
#define KIN_SHARD_ID_MAX 132
#define KIN_STREAM_NAME_MAX 132
#define KIN_OWNER_MAX 128

/* ---- the Kinesis API (stream_kinesis_api.c) -------------------------- */

struct kin_api;

/* The stream name, region and endpoint come from url (a parsed
 * kinesis:// URL). Returns 0 and *out, BC_EINVAL, BC_EAUTH (no
 * credentials) or BC_EIO. */
int kin_api_new(const struct aws_url *url, struct kin_api **out);
void kin_api_free(struct kin_api *a);

struct kin_shard_info {
    char id[KIN_SHARD_ID_MAX];
    char parent[KIN_SHARD_ID_MAX];   /* "" when none */
    char adjacent[KIN_SHARD_ID_MAX]; /* the other parent of a merge; "" when none */
};

/* Every shard of the stream, open and closed (ListShards, paged). Returns
 * 0 and *shards (caller frees) with *n, or a BC_E* code. */
int kin_list_shards(struct kin_api *a, struct kin_shard_info **shards, size_t *n);

/* PutRecord of data under partition key; ordering ("" for none) is the
 * SequenceNumberForOrdering. Throttling and transient failures are retried
 * with backoff for at most max_wait_ms. Returns 0 and the record's
 * sequence number in seqnum, BC_EAGAIN (still throttled), BC_EINVAL or
 * BC_EIO. */
int kin_put_record(struct kin_api *a, const char *key, const void *data, size_t len,
                   const char *ordering, int max_wait_ms, char seqnum[KIN_SEQNUM_MAX]);

/* GetShardIterator: after (a sequence number) gives AFTER_SEQUENCE_NUMBER,
 * else type ("TRIM_HORIZON" or "LATEST"). Returns 0 and *iterator (caller
 * frees) or a BC_E* code. */
int kin_shard_iterator(struct kin_api *a, const char *shard, const char *type, const char *after,
                       char **iterator);

struct kin_record {
    char seqnum[KIN_SEQNUM_MAX];
    char key[STREAM_SESSION_ID_MAX]; /* "" when the partition key is no session id */
    uint8_t *data;                   /* decoded; caller frees */
    size_t len;
};

/* GetRecords of at most limit records. *next is the next iterator, NULL
 * once the (closed) shard has no more records. Returns 0, *recs (free with
 * kin_records_free) and *n; BC_ESTATE when the iterator expired; BC_EAGAIN
 * while throttled past the retries; other BC_E* codes. */
int kin_get_records(struct kin_api *a, const char *iterator, int limit, struct kin_record **recs,
                    size_t *n, char **next);
void kin_records_free(struct kin_record *recs, size_t n);

/* ---- the API's answers (stream_kinesis_answer.c) --------------------- */

/* Compares two sequence numbers (decimal strings without leading zeros):
 * -1, 0 or 1. "" is the smallest. */
int kin_seqnum_cmp(const char *a, const char *b);
/* Whether s is a sequence number: 1..KIN_SEQNUM_MAX-1 decimal digits,
 * without a leading zero (but "0"). */
bool kin_seqnum_valid(const char *s);
/* Whether s may name a shard (in the journal, in Redis keys):
 * 1..KIN_SHARD_ID_MAX-1 characters of [A-Za-z0-9_.-]. */
bool kin_shard_id_valid(const char *s);

/* The parsers below read an answer's body (len bytes, not necessarily
 * NUL-terminated; any bytes) and log what they refuse. None keeps a
 * pointer into body. */

/* What an answer to op with an HTTP status other than 200 means (its
 * JSON's __type and message, when it has them): BC_EAGAIN (throttled) or
 * BC_EIO (5xx) with *retry set; else *retry 0 and BC_ESTATE (expired
 * iterator), BC_ENOTFOUND, BC_EAUTH, BC_EINVAL or BC_EIO. */
int kin_answer_error(const char *op, long status, const char *body, size_t len, int *retry);
/* A ListShards page: 0, *shards (caller frees; NULL when none) with *n and
 * *next_token (caller frees; NULL on the last page), or BC_EIO when the
 * body is no JSON object. Shards whose id is not kin_shard_id_valid are
 * left out; such a parent or adjacent parent reads as "". */
int kin_answer_shards(const char *body, size_t len, struct kin_shard_info **shards, size_t *n,
                      char **next_token);
/* The non-empty string field of op's answer: 0 and *value (caller frees),
 * or BC_EIO with *value NULL. */
int kin_answer_string(const char *op, const char *body, size_t len, const char *field,
                      char **value);
/* A PutRecord answer: 0 and its SequenceNumber (kin_seqnum_valid) in
 * seqnum, or BC_EIO with seqnum "". */
int kin_answer_seqnum(const char *body, size_t len, char seqnum[KIN_SEQNUM_MAX]);
/* A GetRecords answer: 0, *recs (free with kin_records_free) with *n, in
 * strictly increasing sequence numbers, and *next (caller frees; NULL
 * when the answer has none: the shard is closed and read); a record
 * whose Data is no strict base64 is kept with no data and no key. BC_EIO
 * when the body is no JSON object, BC_EFORMAT when a record lacks Data or
 * a sequence number, or is out of order; nothing is returned then. */
int kin_answer_records(const char *body, size_t len, struct kin_record **recs, size_t *n,
                       char **next);

/* ---- leases and checkpoints (stream_kinesis_store*.c) ----------------- */

/* A session's count of records in shard order up to a shard's checkpoint. */
struct kin_count {
    char id[STREAM_SESSION_ID_MAX];
    uint64_t n;
};

struct kin_shard_state {
    char pos[KIN_SEQNUM_MAX]; /* last record of the processed prefix; "" none */
    int done;                 /* read to its end and every record processed */
    struct kin_count *counts; /* heap; caller frees */
    size_t n_counts;
};

/* One fenced write: the session's checkpoint (when id is set) and the
 * shard's new position with the counts that changed (when pos is set). */
struct kin_commit {
    const char *shard;
    const char *owner;
    uint64_t token;
    const char *id; /* NULL: no session checkpoint */
    uint64_t seq;
    const void *state;
    size_t state_len;
    const char *pos; /* NULL: the shard's position is unchanged */
    int done;
    const struct kin_count *counts;
    size_t n_counts;
};

struct kin_store_ops {
    /* Grants (new token) or renews (same token) the shard's lease for
     * ttl_ms. BC_ESTATE when another owner holds it. */
    int (*lease)(void *impl, const char *shard, const char *owner, int ttl_ms, uint64_t *token);
    int (*release)(void *impl, const char *shard, const char *owner);
    int (*shard_get)(void *impl, const char *shard, struct kin_shard_state *out);
    /* BC_ESTATE (nothing written) unless owner holds the lease with token. */
    int (*commit)(void *impl, const struct kin_commit *c);
    int (*session_get)(void *impl, const char *id, uint64_t *seq, void *state, size_t *state_len);
    /* A new fencing token of the session (the registry's caption fence). */
    int (*session_fence)(void *impl, const char *id, uint64_t *token);
    int (*add_bytes)(void *impl, const char *id, uint64_t n);
    int (*bytes)(void *impl, const char *id, uint64_t *n);
    int (*dead_letter)(void *impl, const char *id, uint64_t seq, int64_t append_ms,
                       const char *error);
    size_t (*dead_count)(void *impl, const char *id);
    /* The session ended: its keys may expire after retention_ms. */
    void (*ended)(void *impl, const char *id, int retention_ms);
    void (*close)(void *impl);
};

/* In Redis (url), the keys described in stream_kinesis_store.c. */
int kin_store_redis_open(const char *url, const char *stream, const struct kin_store_ops **ops,
                         void **impl);
/* In a journal file under dir, for one process. */
int kin_store_local_open(const char *dir, const char *stream, const struct kin_store_ops **ops,
                         void **impl);

/* ---- the backend (stream_kinesis.c, _shard.c, _reader.c) -------------- */

/* A record read from a shard, in the shard's list until the processed
 * prefix moves past it. */
struct kin_rec {
    struct kin_rec *next;       /* shard order */
    struct kin_rec *sess_next;  /* the session's unprocessed records */
    struct kin_session *sess;   /* NULL: not a babelcast record */
    uint64_t seq;               /* per session */
    int processed;
    size_t len;
    char seqnum[KIN_SEQNUM_MAX];
    struct stream_record *rec;  /* NULL once processed */
};

enum kin_shard_phase { KIN_SHARD_FREE, KIN_SHARD_HELD, KIN_SHARD_DONE };

struct kin_backend;

struct kin_shard {
    struct kin_backend *backend;
    char id[KIN_SHARD_ID_MAX];
    char parent[KIN_SHARD_ID_MAX];
    char adjacent[KIN_SHARD_ID_MAX];
    enum kin_shard_phase state;
    int lost;                 /* the lease went to another owner: the reader stops */
    uint64_t token;
    int64_t valid_until_us;   /* the lease as this process last saw it granted */
    pthread_t reader;
    int reader_started, reader_exited;
    pthread_mutex_t commit_lock; /* one commit of the shard at a time, in order */
    /* Counts of the sessions at the position the reader started from. */
    struct kin_count *start_counts;
    size_t n_start_counts;
    char read_pos[KIN_SEQNUM_MAX]; /* last record read */
    char mem_pos[KIN_SEQNUM_MAX];  /* end of the processed prefix in memory */
    char pos[KIN_SEQNUM_MAX];      /* end of the processed prefix as stored */
    int at_end, done, done_stored;
    struct kin_count *dirty;       /* counts changed since the last stored commit */
    size_t n_dirty, cap_dirty;
    struct kin_rec *head, *tail;
    size_t pending_bytes;
};

#define KIN_SESSION_BUCKETS 1024

struct kin_session {
    struct kin_session *hnext;
    char id[STREAM_SESSION_ID_MAX];
    struct kin_shard *shard;    /* whose reader numbers its records; NULL: none here */
    uint64_t count;             /* records numbered so far */
    int ckpt_loaded;
    uint64_t ckpt;
    uint8_t state[STREAM_STATE_MAX];
    size_t state_len;
    struct kin_rec *first, *last; /* unprocessed, in order */
    char lease_owner[KIN_OWNER_MAX]; /* "" when not leased */
    uint64_t lease_token;
    char ordering[KIN_SEQNUM_MAX]; /* this appender's last sequence number */
    uint64_t attempt_seq;
    int attempts;
};

struct kin_options {
    int limit;        /* records per GetRecords */
    int poll_ms;      /* wait after a GetRecords that found the shard drained */
    int lease_ms;     /* shard lease ttl */
    int max_shards;   /* shards leased at once; 0: no limit */
    int start_latest; /* a shard without checkpoint starts at LATEST, not TRIM_HORIZON */
};

struct kin_backend {
    struct stream_params params;
    struct kin_options opt;
    struct kin_api *api;
    const struct kin_store_ops *store;
    void *store_impl;
    char owner[KIN_OWNER_MAX];
    pthread_mutex_t lock; /* shards, sessions, stopping */
    pthread_cond_t wake;  /* readers' and the coordinator's sleeps */
    int stopping;
    struct kin_shard **shards;
    size_t n_shards;
    struct kin_session *buckets[KIN_SESSION_BUCKETS];
    pthread_mutex_t notify_lock;
    stream_notify_cb notify;
    void *notify_data;
    pthread_t coordinator;
    int coordinator_started;
};

/* Caller holds b->lock. */
struct kin_session *kin_session_find(struct kin_backend *b, const char *id, int create);
/* Caller holds b->lock: the shard's lease is held (writes are fenced by
 * the store besides). */
int kin_shard_held(const struct kin_shard *sh);
/* Marks records of session id up to seq processed, stores its checkpoint
 * and moves the shard's checkpoint over the processed prefix (id NULL: the
 * prefix only). Returns 0, BC_EINVAL (seq out of range), BC_ESTATE (the
 * session is not read from sh, or sh is not held: fenced) or BC_EIO. */
int kin_shard_commit(struct kin_backend *b, struct kin_shard *sh, const char *id, uint64_t seq,
                     const void *state, size_t state_len);
/* A record's data in the stream: KIN_HEADER_BYTES (a version, the kind,
 * append_ms as 8 bytes big-endian) and then the record's data. */
#define KIN_HEADER_BYTES 10
void kin_record_header(enum stream_kind kind, int64_t append_ms, uint8_t out[KIN_HEADER_BYTES]);
/* The header of a record's data (len bytes, any): 0 with its kind and
 * append_ms, or BC_EFORMAT when it is too short or of another version
 * (someone else's record). */
int kin_record_header_parse(const uint8_t *data, size_t len, uint32_t *kind, int64_t *append_ms);
/* The reader thread of shard arg (a struct kin_shard *). */
void *kin_reader_main(void *arg);
/* Starts the coordinator thread (shard leases and readers). */
int kin_coordinator_start(struct kin_backend *b);
/* Stops the coordinator and the readers; gives the held leases back. */
void kin_coordinator_stop(struct kin_backend *b);
/* Sleeps up to ms on b->wake; returns 1 when the backend is stopping.
 * Caller holds b->lock. */
int kin_sleep(struct kin_backend *b, int ms);

#endif

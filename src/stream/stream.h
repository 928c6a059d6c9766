/* The ingestion stream: an ordered, durable log of speaker audio records,
 * partitioned by session. The gateway appends; the one worker that owns a
 * session reads its records in order and checkpoints after processing.
 *
 * Backends behind one table of operations, chosen by URL:
 *   mem://            bounded in-memory log (lost on exit)
 *   file://DIR        the same plus an append-only file log per session under
 *                     DIR with periodic fsync and retention: records accepted
 *                     before a crash are read again after a restart
 *   redis://[:password@]host:port[/db]
 *                     one Redis shared by many processes: gateways append,
 *                     workers lease sessions, read and checkpoint (fenced by
 *                     the lease's token); see stream_redis.c for the keys
 *   kinesis://NAME?region=R[&endpoint=URL][&limit=N][&poll_ms=N]
 *          [&start=trim_horizon|latest][&lease_ms=N][&max_shards=N]
 *          [&max_attempts=N]
 *                     an Amazon Kinesis data stream: gateways PutRecord
 *                     (partition key = session id); workers lease shards and
 *                     read them; leases and checkpoints in Redis (redis_url)
 *                     or in state_dir for one process. See stream_kinesis.c
 *                     and stream_kinesis_reader.c. stream_append reports seq 0
 *                     there: records are numbered by the reader.
 *
 * Durability on redis:// is Redis's: with `appendonly yes` and
 * `appendfsync everysec` an acknowledged append survives a redis-server
 * crash but up to 1 s of acknowledged audio may be lost on power loss;
 * `appendfsync always` loses none (at the cost of an fsync per append).
 * An append that fails with BC_EIO may still have been applied when the
 * connection broke after Redis received it: a retry then stores the audio
 * twice under two seqs (at least once, never lost once acknowledged).
 * retention_ms on redis://: processed records are kept that long (trimmed
 * at later checkpoints), and an ended, processed session's keys expire
 * that long after its last checkpoint. A live session at 25.6 KB/s keeps
 * about 2.2 GB of processed audio per day of retention in Redis's memory.
 *
 * All functions are thread-safe. */
#ifndef BC_STREAM_H
#define BC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#define STREAM_SESSION_ID_MAX 64
#define STREAM_STATE_MAX 256 /* bytes of opaque checkpoint state */

enum stream_kind {
    STREAM_KIND_AUDIO = 1, /* PCM16LE mono 16 kHz */
    STREAM_KIND_END = 2,   /* the speaker ended the utterance: flush */
    STREAM_KIND_SESSION_END = 3, /* the session ended: flush and finish */
};

struct stream_record {
    uint64_t seq;      /* per session, from 1, without gaps */
    uint32_t kind;     /* enum stream_kind */
    int64_t append_ms; /* wall clock (Unix ms) when appended */
    size_t len;
    uint8_t data[];
};

struct stream_params {
    size_t max_backlog_bytes; /* unprocessed bytes per session before append says BC_EAGAIN; default 32 MiB */
    int fsync_interval_ms;    /* file log: at most this much accepted audio is at risk on power loss; default 200 */
    int retention_ms;         /* file log: processed records of ended sessions are deleted after this; default 24 h */
    int max_attempts;         /* processing attempts per record before the dead-letter log; default 3 */
    const char *redis_url;    /* kinesis://: leases and checkpoints in this Redis; default NULL */
    const char *state_dir;    /* kinesis:// without redis_url: their journal's directory; default NULL */
};

typedef void (*stream_notify_cb)(void *user_data, const char *session_id);

struct stream;

void stream_default_params(struct stream_params *params);

/* Opens a backend by URL (see above). Returns 0 and *out (close with
 * stream_close), BC_EINVAL (unknown scheme or bad URL) or BC_EIO. On
 * file://, sessions found with records after their checkpoint are reported
 * by stream_sessions_pending. redis:// opens while Redis is down: calls
 * return BC_EIO (within the 2 s command timeout) until it is back. */
int stream_open(const char *url, const struct stream_params *params, struct stream **out);
void stream_close(struct stream *s);

/* cb runs after every successful append (on the appending thread) so a
 * worker can be woken. Set once, before use. On redis:// it runs instead on
 * a subscriber thread for every append by any process sharing the Redis
 * (this handle's included, once each; stream_set_notify waits up to 2 s for
 * the subscription), and once for every pending session
 * after the subscriber reconnects (appends made while it was away are not
 * announced otherwise); stream_close stops that thread. cb NULL stops the
 * notifications: once it returns, cb is no longer running or called, so
 * what it uses may be freed before stream_close. */
void stream_set_notify(struct stream *s, stream_notify_cb cb, void *user_data);

/* Appends a record; when it returns 0 the record is in the log (and written
 * to the file, fsynced within fsync_interval_ms) and *seq_out is its number.
 * Returns BC_EAGAIN when the session's backlog is full, BC_EINVAL for an
 * empty or over-long session id, BC_EIO. */
int stream_append(struct stream *s, const char *session_id, enum stream_kind kind,
                  const void *data, size_t len, uint64_t *seq_out);

/* The first record with seq > after_seq, in a new heap block (*out, caller
 * frees). Returns 0, or BC_EAGAIN when there is none yet. */
int stream_read(struct stream *s, const char *session_id, uint64_t after_seq,
                struct stream_record **out);

/* Marks every record up to seq processed and stores state (opaque, at most
 * STREAM_STATE_MAX bytes) with it. Returns 0, BC_EINVAL (seq below the
 * checkpoint or beyond the last record), BC_ESTATE (redis://: fenced off,
 * see stream_lease) or BC_EIO. */
int stream_checkpoint(struct stream *s, const char *session_id, uint64_t seq, const void *state,
                      size_t state_len);
/* The last checkpoint: *seq (0 when none) and its state (copied into state,
 * *state_len set; 0 when none). Returns 0. */
int stream_checkpoint_get(struct stream *s, const char *session_id, uint64_t *seq, void *state,
                          size_t *state_len);

/* Counts a failed processing attempt of record seq. Returns 0 when it may be
 * retried, or 1 after max_attempts: the record went to the dead-letter log
 * with error and the caller moves on past it. */
int stream_record_failed(struct stream *s, const char *session_id, uint64_t seq,
                         const char *error);
/* Bytes of audio the session's log holds in all: every STREAM_KIND_AUDIO
 * record ever appended, processed or not. A speaker that reconnects, to any
 * gateway, resumes right after it. 0 for an unknown session. Returns 0 or
 * BC_EIO. */
int stream_audio_bytes(struct stream *s, const char *session_id, uint64_t *bytes);
/* Number of dead-lettered records of the session. */
size_t stream_dead_letters(struct stream *s, const char *session_id);

/* Sessions with records after their checkpoint (recovery). At most max ids.
 * redis:// also lists sessions not yet ended, processed or not: a worker
 * scans them for sessions whose owner died. */
size_t stream_sessions_pending(struct stream *s, char (*ids)[STREAM_SESSION_ID_MAX], size_t max);

/* The session will get no more records: its log may be dropped once
 * processed and older than the retention. */
void stream_session_ended(struct stream *s, const char *session_id);

/* Ownership of a session's records across processes. The embedded backends
 * have one process: the lease is always granted and *fencing_token is 1.
 * redis://: a free (or expired) lease is granted for ttl_ms with a new
 * token; the owner holding it renews it for ttl_ms, token unchanged; another
 * owner gets BC_ESTATE. The handle remembers the lease it was granted, and
 * stream_checkpoint on that session is refused (BC_ESTATE, nothing changed)
 * once the lease is no longer held by that owner with that token. A handle
 * that never took a lease on a session may checkpoint it only while no
 * lease exists. Returns 0, BC_ESTATE, BC_EINVAL or BC_EIO. */
int stream_lease(struct stream *s, const char *session_id, const char *owner, int ttl_ms,
                 uint64_t *fencing_token);
/* Gives the lease up at once (a stopping worker hands its sessions over)
 * when owner holds it; otherwise changes nothing. The embedded backends
 * return 0. Returns 0, BC_EINVAL or BC_EIO. */
int stream_lease_release(struct stream *s, const char *session_id, const char *owner);

#endif

/* The worker pool: threads that own sessions one at a time, read each
 * session's records from the ingestion stream in order, run them through the
 * session's pipeline, store final captions and translated audio, publish
 * results on the delivery bus and checkpoint.
 *
 * Across processes a session belongs to the pool holding its lease in the
 * stream (renewed every ttl/3; a pool that loses it drops the session
 * without a word). A maintenance thread also scans the stream for sessions
 * with unprocessed records and no owner, which is how a pool takes over
 * from one that died, and how it resumes after a restart. A pool claims a
 * new session only while it has room: fewer sessions than its capacity,
 * judged from measured load and bounded by max_sessions (pipeline/capacity.h).
 * It announces its room in the registry (session_room_set) when it
 * changes and every lease_ttl_ms/3, valid for lease_ttl_ms, so gateways
 * refuse new sessions when no pool has room. A session whose records wait
 * too long sheds work (translated partials, then all partials, never
 * finals) and records its level in the registry (session_shedding_set).
 *
 * Within the pool a session is processed by one thread at a time, which
 * gives it back after a bounded turn so one busy session never starves
 * another. Checkpoints advance only at utterance boundaries, so after a
 * crash an unfinished utterance is recognized again from its start, and a
 * final stored before the crash is neither delivered nor spoken twice.
 * The languages of a session (targets plus languages with listeners) are
 * read from the registry. All functions are thread-safe. */
#ifndef BC_WORKER_H
#define BC_WORKER_H

#include <stddef.h>

#include "archive/archive.h"
#include "delivery/delivery.h"
#include "pipeline/pipeline.h"
#include "session/session.h"
#include "stream/stream.h"

struct worker_config {
    int threads;              /* default: one per processor */
    int records_per_turn;     /* records processed before the session yields; default 2 */
    struct archive *archive;  /* translated speech and, at session end, transcripts; NULL: none */
    int max_sessions;         /* sessions owned at once; default 64 */
    int lease_ttl_ms;         /* default 2000 */
    double target_load;       /* share of the threads' time sessions may use; default 0.8 */
    int latency_budget_ms;    /* end of speech -> first audio goal; default 1000 */
};

/* What the pool's capacity is judged from, and the room it announces. */
struct worker_capacity {
    size_t sessions;
    int room;                /* as last announced in the registry; -1 before */
    double busy_per_audio_s; /* 0 while unmeasured */
    int64_t delay_p95_ms;
    int estimate;
    size_t shedding[SESSION_SHED_PARTIALS + 1]; /* sessions per shedding level */
};

struct worker_pool;

void worker_default_config(struct worker_config *config);

/* Everything passed in is borrowed and must outlive the pool. Starts the
 * threads. Returns 0 and *out (free with worker_pool_free) or BC_EIO. */
int worker_pool_new(const struct worker_config *config, const struct pipeline_engines *engines,
                    struct stream *stream, struct session_registry *registry,
                    struct delivery *bus, struct worker_pool **out);
/* Stops the threads after their current record; unprocessed records stay
 * in the stream. NULL is a no-op. */
void worker_pool_free(struct worker_pool *pool);

/* The session has new records (the stream's notify callback). */
void worker_pool_notify(struct worker_pool *pool, const char *session_id);
/* Sessions the pool owns now. */
size_t worker_pool_sessions(struct worker_pool *pool);
/* Fills *out (thread-safe; cheap). */
void worker_pool_capacity(struct worker_pool *pool, struct worker_capacity *out);
/* Blocks until every notified session has no unprocessed record and all
 * speech is synthesized, or timeout_ms passes. Returns 0 or BC_ETIMEDOUT. */
int worker_pool_drain(struct worker_pool *pool, int timeout_ms);

#endif

/* A worker pool's capacity, judged from measured load.
 *
 * The pool reports, for every record it processes, how long processing
 * took (wall time in pipeline_feed/flush: recognition and translation may
 * run in child processes, which the thread's CPU time would miss) and how
 * much audio it held, and how long the record waited between its append and
 * the start of its processing (queue delay). Over the last
 * CAPACITY_WINDOW_MS this gives the busy time per second of audio (the load
 * one live session puts on the pool) and the 95th percentile of queue
 * delay. From these and the number of processing threads the pool
 * estimates how many sessions it can hold within the latency goal:
 *
 *   estimate = threads * target_load / busy_per_audio_second
 *
 * capped at max_sessions, and held at the sessions it has while the queue
 * delay's p95 is over half the latency budget (the other half is left to
 * recognition, translation and synthesis). It is never below one session
 * per thread (nor above max_sessions): with fewer sessions than threads no
 * record waits for a thread, so neither a slow machine nor one session's
 * backlog says anything about the pool's room. Before the window holds
 * CAPACITY_MIN_AUDIO_MS of audio there is no evidence, and the estimate
 * uses CAPACITY_PRIOR_BUSY_PER_AUDIO_S instead of a measurement: a burst
 * of sessions on an idle server is admitted as far as a typical session's
 * cost allows, not up to max_sessions.
 *
 * A session falls behind when the queue delay of its records is over
 * half the latency budget; it then sheds work in a fixed order
 * (capacity_shedding, enum session_shedding).
 *
 * Thread-safe: every function takes the object's own lock, never another. */
#ifndef BC_CAPACITY_H
#define BC_CAPACITY_H

#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

#define CAPACITY_WINDOW_MS 10000
#define CAPACITY_MIN_AUDIO_MS 2000
/* Busy seconds per second of audio assumed before any is measured: one
 * session's recognition, translation and synthesis measured about 0.2 on
 * a 2-core x86-64 machine; a little more errs on the side of admitting
 * fewer sessions until the real cost is known. */
#define CAPACITY_PRIOR_BUSY_PER_AUDIO_S 0.25

struct capacity_config {
    int max_sessions;      /* the upper bound; >= 1 */
    int threads;           /* processing threads of the pool; >= 1 */
    double target_load;    /* share of the threads' time sessions may keep busy; default 0.8 */
    int latency_budget_ms; /* end of speech -> first audio goal; default 1000 */
};

/* What the estimate was made from (for /healthz and logs). */
struct capacity_stats {
    double busy_per_audio_s; /* 0 while there is no evidence */
    double audio_s;          /* audio processed in the window */
    int64_t delay_p95_ms;    /* queue delay, 0 while none was measured */
    int estimate;            /* sessions the pool can hold, <= max_sessions */
};

struct capacity;

void capacity_default_config(struct capacity_config *config);
/* Returns a new estimator (free with capacity_free); never NULL. Values
 * out of range in config are replaced by defaults. */
struct capacity *capacity_new(const struct capacity_config *config);
/* NULL is a no-op. */
void capacity_free(struct capacity *cap);

/* A record holding audio_ms of audio was processed in busy_us microseconds
 * of wall time, now_us (monotonic, bc_now_us) being the end. */
void capacity_record_busy(struct capacity *cap, int64_t busy_us, int64_t audio_ms, int64_t now_us);
/* A record waited delay_ms between its append and the start of its
 * processing. */
void capacity_record_delay(struct capacity *cap, int64_t delay_ms, int64_t now_us);

/* The estimate at now_us given that the pool holds `sessions` already,
 * with what it was made from in *stats (may be NULL). */
int capacity_estimate(struct capacity *cap, size_t sessions, int64_t now_us,
                      struct capacity_stats *stats);
/* Sessions the pool may still claim: estimate - sessions, at least 0. */
int capacity_room(struct capacity *cap, size_t sessions, int64_t now_us);

/* The level a session should shed at, from the queue delay of the record
 * it is about to process and its current level: over the shed threshold
 * (half the latency budget) it steps up one level, over twice that it
 * sheds partials; it steps back to none once the delay is under half the
 * threshold again (hysteresis, so a session near the line does not flap). */
enum session_shedding capacity_shedding(const struct capacity *cap,
                                        enum session_shedding current, int64_t delay_ms);

#endif

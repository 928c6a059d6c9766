/* The gateway's appends to the ingestion stream, off its event-loop thread.
 *
 * A small pool of ingest threads appends the records the service thread
 * submits. A session always goes to the same thread (by a hash of its id),
 * so its records are appended in the order they were submitted; different
 * sessions append in parallel. Consecutive audio records of one feed that
 * are waiting together may be appended as one record (at most
 * GW_INGEST_COALESCE_BYTES): they were waiting anyway, and one round trip
 * to the backend replaces several.
 *
 * Every submitted record gives one result (coalesced records share one,
 * which says how many they were), collected by gw_ingest_take on the
 * service thread; the wake callback runs (on an ingest thread) after each
 * result is posted.
 *
 * A feed is one speaker connection's series of records: once one of its
 * appends fails, every later record of it still queued is dropped without
 * being appended (its result says dropped), so nothing after a gap is
 * stored. Results name a feed by its generation number, never by pointer.
 *
 * Threads: gw_ingest_* calls from one thread (the service thread);
 * gw_feed_* from any. */
#ifndef BC_GATEWAY_INGEST_H
#define BC_GATEWAY_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "stream/stream.h"

#define GW_INGEST_THREADS 4
#define GW_INGEST_COALESCE_BYTES (32 * 1024)

struct gw_ingest;
struct gw_feed;

struct gw_ingest_result {
    char session[STREAM_SESSION_ID_MAX];
    uint64_t gen; /* the feed's generation; 0 for a record of no feed */
    enum stream_kind kind;
    int rc;         /* stream_append's: 0 when the stream accepted the records */
    int dropped;    /* not appended: an earlier record of the feed failed */
    size_t records; /* how many submitted records this result covers */
    size_t bytes;   /* their bytes in all */
};

/* Starts the threads appending to stream (borrowed, outliving the
 * ingest). wake(wake_data) runs on an ingest thread after each result. */
struct gw_ingest *gw_ingest_new(struct stream *stream, void (*wake)(void *), void *wake_data);
/* Stops the threads after the appends in progress (records still queued
 * are dropped without a result: nothing was acknowledged for them) and
 * frees the results not taken. No append runs once it returns. NULL is a
 * no-op. */
void gw_ingest_free(struct gw_ingest *ing);

/* Queues a record (data copied) of session for appending after every
 * record submitted before it for that session. feed may be NULL (a record
 * no speaker connection waits for); else it is referenced until the result
 * is posted. */
void gw_ingest_submit(struct gw_ingest *ing, struct gw_feed *feed, const char *session,
                      enum stream_kind kind, const void *data, size_t len);
/* The results posted so far, oldest first: *out (heap, caller frees; NULL
 * when none) and *n. */
void gw_ingest_take(struct gw_ingest *ing, struct gw_ingest_result **out, size_t *n);
/* Records submitted whose result is not posted yet. */
size_t gw_ingest_pending(struct gw_ingest *ing);
/* Waits until every submitted record has its result posted, or timeout_ms
 * passes. Returns 0, or BC_ETIMEDOUT. */
int gw_ingest_wait_idle(struct gw_ingest *ing, int timeout_ms);

/* A new feed of generation gen (> 0), held by the caller. */
struct gw_feed *gw_feed_new(uint64_t gen);
uint64_t gw_feed_gen(const struct gw_feed *feed);
/* Drops the caller's reference; NULL is a no-op. */
void gw_feed_unref(struct gw_feed *feed);

#endif

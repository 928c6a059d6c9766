/* Ingest threads: each owns the queue of the sessions that hash to it and
 * appends their records one at a time, so a slow append (an HTTPS
 * PutRecord, a throttled shard) holds back only those sessions, never the
 * event loop. */
#include "gateway/gateway_ingest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/timeutil.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define NS_PER_US 1000LL
#define RESULTS_INITIAL 16

struct gw_feed {
    atomic_int refs;
    atomic_int failed; /* set by the ingest thread whose append failed */
    uint64_t gen;
};

struct ingest_job {
    struct ingest_job *next;
    struct gw_feed *feed;
    char session[STREAM_SESSION_ID_MAX];
    enum stream_kind kind;
    uint8_t *data;
    size_t len;
};

struct ingest_lane {
    struct gw_ingest *owner;
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct ingest_job *head, *tail;
};

struct gw_ingest {
    struct stream *stream;
    void (*wake)(void *);
    void *wake_data;
    atomic_int stopping;
    struct ingest_lane lanes[GW_INGEST_THREADS];
    /* results, and the records whose result is not posted yet */
    pthread_mutex_t done_lock;
    pthread_cond_t idle; /* CLOCK_MONOTONIC, as bc_now_us */
    struct gw_ingest_result *done;
    size_t n_done, cap_done;
    size_t pending;
};

struct gw_feed *gw_feed_new(uint64_t gen)
{
    struct gw_feed *f = bc_calloc(1, sizeof *f);
    atomic_init(&f->refs, 1);
    atomic_init(&f->failed, 0);
    f->gen = gen;
    return f;
}

uint64_t gw_feed_gen(const struct gw_feed *feed)
{
    return feed ? feed->gen : 0;
}

static void feed_ref(struct gw_feed *feed)
{
    if (feed)
        atomic_fetch_add(&feed->refs, 1);
}

void gw_feed_unref(struct gw_feed *feed)
{
    if (feed && atomic_fetch_sub(&feed->refs, 1) == 1)
        free(feed);
}

static unsigned lane_of(const char *session)
{
    unsigned h = 5381;
    for (; *session; session++)
        h = h * 33 + (unsigned char)*session;
    return h % GW_INGEST_THREADS;
}

static void job_free(struct ingest_job *j)
{
    gw_feed_unref(j->feed);
    free(j->data);
    free(j);
}

static int mergeable(const struct ingest_job *first, const struct ingest_job *j)
{
    return j->kind == STREAM_KIND_AUDIO && j->feed == first->feed;
}

/* Caller holds lane->lock and the queue is not empty. Unlinks the first
 * job and the later audio of its feed that may join it: only jobs of its
 * session that follow without another record of that session between, so
 * the session's order holds. Returns the batch as a list. */
static struct ingest_job *take_batch(struct ingest_lane *lane)
{
    struct ingest_job *first = lane->head;
    lane->head = first->next;
    first->next = NULL;
    struct ingest_job *last = first;
    size_t bytes = first->len;
    struct ingest_job **p = &lane->head, *prev = NULL;
    while (first->kind == STREAM_KIND_AUDIO && first->feed && *p) {
        struct ingest_job *j = *p;
        if (strcmp(j->session, first->session) != 0) {
            prev = j;
            p = &j->next;
            continue;
        }
        if (!mergeable(first, j) || bytes + j->len > GW_INGEST_COALESCE_BYTES)
            break;
        *p = j->next;
        j->next = NULL;
        last->next = j;
        last = j;
        bytes += j->len;
    }
    if (!lane->head)
        lane->tail = NULL;
    else if (!*p)
        lane->tail = prev;
    return first;
}

static void post(struct gw_ingest *ing, const struct gw_ingest_result *r)
{
    pthread_mutex_lock(&ing->done_lock);
    if (ing->n_done == ing->cap_done) {
        ing->cap_done = ing->cap_done ? ing->cap_done * 2 : RESULTS_INITIAL;
        ing->done = bc_realloc(ing->done, ing->cap_done * sizeof *ing->done);
    }
    ing->done[ing->n_done++] = *r;
    ing->pending -= r->records;
    if (ing->pending == 0)
        pthread_cond_broadcast(&ing->idle);
    pthread_mutex_unlock(&ing->done_lock);
    ing->wake(ing->wake_data);
}

/* Appends a batch as one record and posts its result. */
static void append_batch(struct gw_ingest *ing, struct ingest_job *batch)
{
    struct gw_ingest_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.session, sizeof r.session, "%s", batch->session);
    r.gen = gw_feed_gen(batch->feed);
    r.kind = batch->kind;
    for (const struct ingest_job *j = batch; j; j = j->next) {
        r.records++;
        r.bytes += j->len;
    }
    if (batch->feed && atomic_load(&batch->feed->failed))
        r.dropped = 1;
    else {
        const uint8_t *data = batch->data;
        uint8_t *joined = NULL;
        if (batch->next) {
            joined = bc_malloc(r.bytes);
            size_t at = 0;
            for (const struct ingest_job *j = batch; j; j = j->next) {
                memcpy(joined + at, j->data, j->len);
                at += j->len;
            }
            data = joined;
        }
        uint64_t seq;
        r.rc = stream_append(ing->stream, batch->session, batch->kind, data, r.bytes, &seq);
        free(joined);
        if (r.rc < 0 && batch->feed)
            atomic_store(&batch->feed->failed, 1);
    }
    while (batch) {
        struct ingest_job *next = batch->next;
        job_free(batch);
        batch = next;
    }
    post(ing, &r);
}

static void *lane_main(void *arg)
{
    struct ingest_lane *lane = arg;
    struct gw_ingest *ing = lane->owner;
    pthread_mutex_lock(&lane->lock);
    for (;;) {
        while (!lane->head && !atomic_load(&ing->stopping))
            pthread_cond_wait(&lane->cond, &lane->lock);
        if (atomic_load(&ing->stopping))
            break;
        struct ingest_job *batch = take_batch(lane);
        pthread_mutex_unlock(&lane->lock);
        append_batch(ing, batch);
        pthread_mutex_lock(&lane->lock);
    }
    pthread_mutex_unlock(&lane->lock);
    return NULL;
}

struct gw_ingest *gw_ingest_new(struct stream *stream, void (*wake)(void *), void *wake_data)
{
    struct gw_ingest *ing = bc_calloc(1, sizeof *ing);
    ing->stream = stream;
    ing->wake = wake;
    ing->wake_data = wake_data;
    atomic_init(&ing->stopping, 0);
    pthread_mutex_init(&ing->done_lock, NULL);
    bc_cond_init_monotonic(&ing->idle);
    for (int i = 0; i < GW_INGEST_THREADS; i++) {
        struct ingest_lane *lane = &ing->lanes[i];
        lane->owner = ing;
        pthread_mutex_init(&lane->lock, NULL);
        pthread_cond_init(&lane->cond, NULL);
        lane->started = pthread_create(&lane->thread, NULL, lane_main, lane) == 0;
        if (!lane->started) {
            gw_ingest_free(ing);
            return NULL;
        }
    }
    return ing;
}

void gw_ingest_free(struct gw_ingest *ing)
{
    if (!ing)
        return;
    atomic_store(&ing->stopping, 1);
    for (int i = 0; i < GW_INGEST_THREADS; i++) {
        struct ingest_lane *lane = &ing->lanes[i];
        if (!lane->owner)
            continue; /* never initialized: creation stopped before it */
        pthread_mutex_lock(&lane->lock);
        pthread_cond_signal(&lane->cond);
        pthread_mutex_unlock(&lane->lock);
        if (lane->started)
            pthread_join(lane->thread, NULL);
        while (lane->head) {
            struct ingest_job *next = lane->head->next;
            job_free(lane->head);
            lane->head = next;
        }
        pthread_cond_destroy(&lane->cond);
        pthread_mutex_destroy(&lane->lock);
    }
    pthread_cond_destroy(&ing->idle);
    pthread_mutex_destroy(&ing->done_lock);
    free(ing->done);
    free(ing);
}

void gw_ingest_submit(struct gw_ingest *ing, struct gw_feed *feed, const char *session,
                      enum stream_kind kind, const void *data, size_t len)
{
    struct ingest_job *j = bc_calloc(1, sizeof *j);
    feed_ref(feed);
    j->feed = feed;
    snprintf(j->session, sizeof j->session, "%s", session);
    j->kind = kind;
    if (len) {
        j->data = bc_malloc(len);
        memcpy(j->data, data, len);
    }
    j->len = len;
    pthread_mutex_lock(&ing->done_lock);
    ing->pending++;
    pthread_mutex_unlock(&ing->done_lock);
    struct ingest_lane *lane = &ing->lanes[lane_of(session)];
    pthread_mutex_lock(&lane->lock);
    if (lane->tail)
        lane->tail->next = j;
    else
        lane->head = j;
    lane->tail = j;
    pthread_cond_signal(&lane->cond);
    pthread_mutex_unlock(&lane->lock);
}

void gw_ingest_take(struct gw_ingest *ing, struct gw_ingest_result **out, size_t *n)
{
    pthread_mutex_lock(&ing->done_lock);
    *out = ing->done;
    *n = ing->n_done;
    ing->done = NULL;
    ing->n_done = ing->cap_done = 0;
    pthread_mutex_unlock(&ing->done_lock);
}

size_t gw_ingest_pending(struct gw_ingest *ing)
{
    pthread_mutex_lock(&ing->done_lock);
    size_t n = ing->pending;
    pthread_mutex_unlock(&ing->done_lock);
    return n;
}

int gw_ingest_wait_idle(struct gw_ingest *ing, int timeout_ms)
{
    int64_t until_ns = (bc_now_us() + (int64_t)timeout_ms * (NS_PER_MS / NS_PER_US)) * NS_PER_US;
    struct timespec until = {.tv_sec = (time_t)(until_ns / NS_PER_S),
                             .tv_nsec = (long)(until_ns % NS_PER_S)};
    pthread_mutex_lock(&ing->done_lock);
    while (ing->pending > 0 && bc_now_us() * NS_PER_US < until_ns)
        pthread_cond_timedwait(&ing->idle, &ing->done_lock, &until);
    int rc = ing->pending > 0 ? BC_ETIMEDOUT : 0;
    pthread_mutex_unlock(&ing->done_lock);
    return rc;
}

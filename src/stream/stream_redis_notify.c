/* The subscriber thread of a redis:// stream: a connection of its own
 * SUBSCRIBEd to the appends channel, calling the notify callback with each
 * session id published by any process. It polls with a short timeout so
 * close is noticed promptly, reconnects with backoff when Redis goes away,
 * and after reconnecting announces every pending session once, since
 * appends published while it was away reached nobody. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream_redis_internal.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SR_POLL_MS 100 /* how soon the thread notices stop */
/* sr_notifier_start waits this long for the first subscription. */
#define SR_SUBSCRIBE_WAIT_MS 2000
#define SR_BACKOFF_MIN_MS 50
#define SR_BACKOFF_MAX_MS 2000
#define SR_SUBSCRIBE_REPLY_ELEMENTS 3 /* ["subscribe"|"message", channel, count|payload] */
#define US_PER_MS 1000
#define NS_PER_MS 1000000L
#define MS_PER_S 1000

struct sr_notifier {
    struct redis_backend *b;
    stream_notify_cb cb;
    void *user_data;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int waiting;    /* sr_notifier_start still waits for the first subscription */
    int subscribed; /* the first subscription happened while it waited */
};

enum next { NEXT_REPLY, NEXT_STOP, NEXT_ERROR };

/* The next reply on ctx, waiting in slices of SR_POLL_MS for data. */
static enum next next_reply(struct sr_notifier *n, redisContext *ctx, redisReply **out)
{
    *out = NULL;
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(ctx, &reply) != REDIS_OK)
            return NEXT_ERROR;
        if (reply) {
            *out = reply;
            return NEXT_REPLY;
        }
        if (atomic_load(&n->stop))
            return NEXT_STOP;
        struct pollfd p = {.fd = ctx->fd, .events = POLLIN};
        int ready = poll(&p, 1, SR_POLL_MS);
        if (ready < 0 && errno != EINTR)
            return NEXT_ERROR;
        if (ready > 0 && redisBufferRead(ctx) != REDIS_OK)
            return NEXT_ERROR;
    }
}

static int send_subscribe(redisContext *ctx)
{
    if (redisAppendCommand(ctx, "SUBSCRIBE %s", SR_APPENDS_CHANNEL) != REDIS_OK)
        return -1;
    int done = 0;
    while (!done)
        if (redisBufferWrite(ctx, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* 1 when r is [kind, SR_APPENDS_CHANNEL, ...]. */
static int is_push(const redisReply *r, const char *kind)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == SR_SUBSCRIBE_REPLY_ELEMENTS &&
           r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, kind) == 0 &&
           r->element[1]->type == REDIS_REPLY_STRING &&
           strcmp(r->element[1]->str, SR_APPENDS_CHANNEL) == 0;
}

static void announce(struct sr_notifier *n, const redisReply *payload)
{
    char id[STREAM_SESSION_ID_MAX];
    if (payload->type != REDIS_REPLY_STRING || payload->len == 0 || payload->len >= sizeof id)
        return;
    memcpy(id, payload->str, payload->len);
    id[payload->len] = '\0';
    if (stream_id_valid(id))
        n->cb(n->user_data, id);
}

static void catch_up(struct sr_notifier *n)
{
    redisReply *r;
    if (redis_conn_commandf(n->b->conn, &r, "SMEMBERS %s", SR_PENDING_KEY) < 0)
        return;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements && !atomic_load(&n->stop); i++)
            announce(n, r->element[i]);
    freeReplyObject(r);
}

/* Called once subscribed: wakes sr_notifier_start, or, when nobody waits
 * for this subscription, makes up for what was published meanwhile. */
static void on_subscribed(struct sr_notifier *n)
{
    pthread_mutex_lock(&n->mu);
    int waited = n->waiting;
    if (waited) {
        n->subscribed = 1;
        pthread_cond_signal(&n->cond);
    }
    pthread_mutex_unlock(&n->mu);
    if (!waited)
        catch_up(n);
}

/* Sleeps ms in slices so stop is noticed. */
static void pause_ms(struct sr_notifier *n, int ms)
{
    for (int left = ms; left > 0 && !atomic_load(&n->stop); left -= SR_POLL_MS)
        bc_sleep_us((int64_t)(left < SR_POLL_MS ? left : SR_POLL_MS) * US_PER_MS);
}

/* One connection's life: subscribe, then deliver until it fails or stop. */
static void serve(struct sr_notifier *n, redisContext *ctx, int *backoff_ms)
{
    if (send_subscribe(ctx) < 0)
        return;
    redisReply *r;
    enum next next;
    while ((next = next_reply(n, ctx, &r)) == NEXT_REPLY) {
        if (is_push(r, "subscribe")) {
            *backoff_ms = SR_BACKOFF_MIN_MS;
            on_subscribed(n);
        } else if (is_push(r, "message")) {
            announce(n, r->element[2]);
        }
        freeReplyObject(r);
    }
    if (next == NEXT_ERROR)
        bc_warn("stream: lost the redis subscription (%s); reconnecting",
                ctx->err ? ctx->errstr : "poll failed");
}

static void *notifier_main(void *arg)
{
    struct sr_notifier *n = arg;
    int backoff_ms = SR_BACKOFF_MIN_MS;
    while (!atomic_load(&n->stop)) {
        redisContext *ctx = redis_connect_raw(&n->b->url, 0);
        if (ctx) {
            serve(n, ctx, &backoff_ms);
            redisFree(ctx);
        }
        if (atomic_load(&n->stop))
            break;
        pause_ms(n, backoff_ms);
        backoff_ms = backoff_ms * 2 > SR_BACKOFF_MAX_MS ? SR_BACKOFF_MAX_MS : backoff_ms * 2;
    }
    return NULL;
}

static void free_notifier(struct sr_notifier *n)
{
    pthread_cond_destroy(&n->cond);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

struct sr_notifier *sr_notifier_start(struct redis_backend *b, stream_notify_cb cb, void *user_data)
{
    struct sr_notifier *n = bc_calloc(1, sizeof(*n));
    n->b = b;
    n->cb = cb;
    n->user_data = user_data;
    atomic_init(&n->stop, 0);
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cond, NULL);
    n->waiting = 1;
    if (pthread_create(&n->thread, NULL, notifier_main, n) != 0) {
        bc_error("stream: cannot start the redis subscriber thread");
        free_notifier(n);
        return NULL;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SR_SUBSCRIBE_WAIT_MS / MS_PER_S;
    until.tv_nsec += (long)(SR_SUBSCRIBE_WAIT_MS % MS_PER_S) * NS_PER_MS;
    if (until.tv_nsec >= NS_PER_MS * MS_PER_S) {
        until.tv_sec++;
        until.tv_nsec -= NS_PER_MS * MS_PER_S;
    }
    pthread_mutex_lock(&n->mu);
    while (!n->subscribed)
        if (pthread_cond_timedwait(&n->cond, &n->mu, &until) == ETIMEDOUT)
            break;
    if (!n->subscribed)
        bc_warn("stream: redis subscription not ready yet; appends are announced once it is");
    n->waiting = 0;
    pthread_mutex_unlock(&n->mu);
    return n;
}

void sr_notifier_stop(struct sr_notifier *n)
{
    if (!n)
        return;
    atomic_store(&n->stop, 1);
    pthread_join(n->thread, NULL);
    free_notifier(n);
}

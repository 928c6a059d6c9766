/* The Redis backend's thread: one subscribing connection of its own, the
 * (UN)SUBSCRIBEs and demand counts the callers recorded, and the messages
 * received for the sessions of interest, queued for the gateway.
 *
 * The thread sleeps in poll() on the subscribing socket and a pipe that
 * callers write to (delivery_redis_poke), so callers never wait for Redis
 * and stop is noticed at once. The connection's read/write timeout bounds
 * every write, so a Redis that stops answering cannot hold the thread. */
#include "delivery/delivery_redis.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
/* Between attempts to store demand counts Redis refused. */
#define DEMAND_RETRY_MS 200
/* Longest sleep in poll() with nothing to do; only bounds how stale a
 * missed poke can get. */
#define IDLE_POLL_MS 1000
#define DRAIN_BYTES 64

/* KEYS[1] the demand hash; ARGV: the sum's field, this process's field, its
 * new count. Returns the new sum. Fields at zero are deleted. */
static const char demand_script[] =
    "local old = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0') "
    "local n = tonumber(ARGV[3]) "
    "if n > 0 then redis.call('HSET', KEYS[1], ARGV[2], n) "
    "else redis.call('HDEL', KEYS[1], ARGV[2]) end "
    "local sum = redis.call('HINCRBY', KEYS[1], ARGV[1], n - old) "
    "if sum <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end "
    "return sum";

void delivery_redis_poke(struct delivery_redis *r)
{
    static const char byte = 1;
    /* A full pipe already holds a poke. */
    if (write(r->wake_fds[1], &byte, 1) < 0 && errno != EAGAIN)
        bc_warn("delivery: cannot wake the Redis thread: %s", strerror(errno));
}

static void drain_pokes(struct delivery_redis *r)
{
    char buf[DRAIN_BYTES];
    while (read(r->wake_fds[0], buf, sizeof buf) > 0) {
    }
}

static bool stopping(struct delivery_redis *r)
{
    pthread_mutex_lock(&r->lock);
    bool stop = r->stop;
    pthread_mutex_unlock(&r->lock);
    return stop;
}

/* Sleeps ms, or less when stop is set; pokes meanwhile (new requests) wait
 * for the connection like everything else. */
static void nap(struct delivery_redis *r, int ms)
{
    int64_t deadline = bc_now_us() + (int64_t)ms * 1000;
    for (int64_t left = deadline - bc_now_us(); left > 0 && !stopping(r);
         left = deadline - bc_now_us()) {
        struct pollfd p = {.fd = r->wake_fds[0], .events = POLLIN};
        if (poll(&p, 1, (int)((left + 999) / 1000)) > 0)
            drain_pokes(r);
    }
}

static int send_command(redisContext *ctx, int argc, const char **argv, const size_t *lens)
{
    if (redisAppendCommandArgv(ctx, argc, argv, lens) != REDIS_OK)
        return BC_EIO;
    int done = 0;
    while (!done) {
        if (redisBufferWrite(ctx, &done) != REDIS_OK)
            return BC_EIO;
    }
    return 0;
}

/* One SUBSCRIBE or UNSUBSCRIBE for all channels in names. */
static int send_channels(redisContext *ctx, const char *verb, char (*names)[DELIVERY_REDIS_KEY_MAX],
                         size_t n)
{
    if (n == 0)
        return 0;
    const char **argv = bc_calloc(n + 1, sizeof *argv);
    size_t *lens = bc_calloc(n + 1, sizeof *lens);
    argv[0] = verb;
    lens[0] = strlen(verb);
    for (size_t i = 0; i < n; i++) {
        argv[i + 1] = names[i];
        lens[i + 1] = strlen(names[i]);
    }
    int rc = send_command(ctx, (int)n + 1, argv, lens);
    free(argv);
    free(lens);
    return rc;
}

/* Brings the server's subscriptions of this connection in line with
 * r->subs, and forgets sessions nobody is interested in any more. */
static int sync_subscriptions(struct delivery_redis *r, redisContext *ctx)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->n_subs, n_sub = 0, n_unsub = 0;
    char(*sub)[DELIVERY_REDIS_KEY_MAX] = n ? bc_calloc(n, sizeof *sub) : NULL;
    char(*unsub)[DELIVERY_REDIS_KEY_MAX] = n ? bc_calloc(n, sizeof *unsub) : NULL;
    for (size_t i = 0; i < r->n_subs;) {
        struct delivery_redis_sub *s = &r->subs[i];
        if (s->refs > 0 && !s->on_server) {
            delivery_redis_key(sub[n_sub++], DELIVERY_REDIS_KEY_MAX, s->session,
                               DELIVERY_REDIS_CHANNEL_SUFFIX);
            s->on_server = true;
        } else if (s->refs <= 0) {
            if (s->on_server)
                delivery_redis_key(unsub[n_unsub++], DELIVERY_REDIS_KEY_MAX, s->session,
                                   DELIVERY_REDIS_CHANNEL_SUFFIX);
            *s = r->subs[--r->n_subs];
            continue;
        }
        i++;
    }
    pthread_mutex_unlock(&r->lock);
    int rc = send_channels(ctx, "SUBSCRIBE", sub, n_sub);
    if (rc == 0)
        rc = send_channels(ctx, "UNSUBSCRIBE", unsub, n_unsub);
    free(sub);
    free(unsub);
    return rc;
}

static int store_demand(struct delivery_redis *r, const struct delivery_demand_entry *e,
                        int receivers)
{
    char key[DELIVERY_REDIS_KEY_MAX], sum[DELIVERY_REDIS_FIELD_MAX], own[DELIVERY_REDIS_FIELD_MAX];
    delivery_redis_key(key, sizeof key, e->session, DELIVERY_REDIS_DEMAND_SUFFIX);
    delivery_redis_demand_field(sum, sizeof sum, e->lang, e->codec, NULL);
    delivery_redis_demand_field(own, sizeof own, e->lang, e->codec, r->instance);
    redisReply *reply = NULL;
    int rc = redis_conn_commandf(r->cmd, &reply, "EVAL %s 1 %s %s %s %d", demand_script, key, sum,
                                 own, receivers);
    if (rc == 0 && reply->type == REDIS_REPLY_ERROR) {
        bc_warn("delivery: storing demand refused: %s", reply->str);
        rc = BC_EIO;
    }
    freeReplyObject(reply);
    return rc;
}

/* Stores every count that changed (or must be stored again) since it was
 * last stored, in the order of the table. The counts are absolute, so a
 * change made meanwhile is simply stored on the next round. A process that
 * dies without delivery_free leaves its fields (and its share of the sum)
 * behind until the session's hash is deleted. Returns 0 or BC_EIO (the rest
 * waits for a retry). */
static int sync_demand(struct delivery_redis *r)
{
    for (;;) {
        struct delivery_demand_entry todo;
        bool found = false;
        pthread_mutex_lock(&r->lock);
        size_t i = 0;
        while (i < r->demand.n && !found) {
            struct delivery_demand_entry *e = &r->demand.entries[i];
            if (e->receivers == 0 && e->applied == 0 && !e->reapply) {
                delivery_demand_remove(&r->demand, e);
                continue;
            }
            if (e->receivers != e->applied || e->reapply) {
                todo = *e;
                found = true;
            }
            i++;
        }
        pthread_mutex_unlock(&r->lock);
        if (!found)
            return 0;
        if (store_demand(r, &todo, todo.receivers) < 0)
            return BC_EIO;
        pthread_mutex_lock(&r->lock);
        struct delivery_demand_entry *e =
            delivery_demand_find(&r->demand, todo.session, todo.lang, todo.codec, false);
        if (e) {
            e->applied = todo.receivers;
            e->reapply = false;
        }
        pthread_mutex_unlock(&r->lock);
    }
}

void delivery_redis_demand_withdraw(struct delivery_redis *r)
{
    for (size_t i = 0; i < r->demand.n; i++) {
        const struct delivery_demand_entry *e = &r->demand.entries[i];
        if ((e->applied != 0 || e->reapply) && store_demand(r, e, 0) < 0) {
            bc_warn("delivery: this process's demand stays in Redis (unreachable)");
            return;
        }
    }
}

/* A received message for a session of interest goes to the ring. Returns
 * 1 when queued. */
static int on_message(struct delivery_redis *r, const redisReply *channel,
                      const redisReply *payload)
{
    struct delivery_msg *m = NULL;
    if (delivery_wire_decode(payload->str, payload->len, &m) < 0) {
        bc_warn("delivery: malformed message (%zu bytes) on %.*s skipped", payload->len,
                (int)channel->len, channel->str);
        return 0;
    }
    char expected[DELIVERY_REDIS_KEY_MAX];
    delivery_redis_key(expected, sizeof expected, m->session, DELIVERY_REDIS_CHANNEL_SUFFIX);
    if (strlen(expected) != channel->len || memcmp(expected, channel->str, channel->len) != 0) {
        bc_warn("delivery: message for session %s on %.*s skipped", m->session, (int)channel->len,
                channel->str);
        delivery_msg_unref(m);
        return 0;
    }
    /* Messages still in flight when the last receiver left are not wanted. */
    bool wanted = false;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n_subs && !wanted; i++)
        wanted = r->subs[i].refs > 0 && strcmp(r->subs[i].session, m->session) == 0;
    pthread_mutex_unlock(&r->lock);
    if (!wanted) {
        delivery_msg_unref(m);
        return 0;
    }
    delivery_ring_push(r->ring, m);
    return 1;
}

/* Reads what the socket has and handles every complete reply. Returns 0, or
 * BC_EIO when the connection is gone. */
static int read_replies(struct delivery_redis *r, redisContext *ctx)
{
    if (redisBufferRead(ctx) != REDIS_OK)
        return BC_EIO;
    int queued = 0;
    for (;;) {
        void *v = NULL;
        if (redisGetReplyFromReader(ctx, &v) != REDIS_OK)
            return BC_EIO;
        if (!v)
            break;
        redisReply *reply = v;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
            reply->element[0]->type == REDIS_REPLY_STRING &&
            strcmp(reply->element[0]->str, "message") == 0 &&
            reply->element[1]->type == REDIS_REPLY_STRING &&
            reply->element[2]->type == REDIS_REPLY_STRING)
            queued += on_message(r, reply->element[1], reply->element[2]);
        else if (reply->type == REDIS_REPLY_ERROR)
            bc_warn("delivery: Redis subscriber error: %s", reply->str);
        freeReplyObject(reply);
    }
    if (queued)
        delivery_ring_wake(r->ring);
    return 0;
}

/* A new connection has no subscriptions, and Redis may have come back
 * without the demand this process stored: everything is sent again. */
static void connection_reset(struct delivery_redis *r)
{
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n_subs; i++)
        r->subs[i].on_server = false;
    for (size_t i = 0; i < r->demand.n; i++)
        r->demand.entries[i].reapply = true;
    pthread_mutex_unlock(&r->lock);
}

/* Stores demand, then waits for replies or a poke and handles them.
 * Returns 0, or BC_EIO when the connection is gone. */
static int serve(struct delivery_redis *r, redisContext *ctx, int *backoff_ms)
{
    int timeout_ms = sync_demand(r) < 0 ? DEMAND_RETRY_MS : IDLE_POLL_MS;
    struct pollfd p[2] = {{.fd = ctx->fd, .events = POLLIN},
                          {.fd = r->wake_fds[0], .events = POLLIN}};
    int n = poll(p, 2, timeout_ms);
    if (n <= 0)
        return 0;
    if (p[1].revents)
        drain_pokes(r);
    if (p[0].revents == 0)
        return 0;
    if (read_replies(r, ctx) < 0)
        return BC_EIO;
    /* Only a connection that carried replies ends an outage: one that
     * Redis accepts and drops at once keeps backing off. */
    *backoff_ms = BACKOFF_MIN_MS;
    return 0;
}

static void *backend_thread(void *arg)
{
    struct delivery_redis *r = arg;
    /* A write to a connection Redis closed must not end the process. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

    redisContext *ctx = NULL;
    int backoff_ms = BACKOFF_MIN_MS;
    bool down = false;
    while (!stopping(r)) {
        if (!ctx) {
            ctx = redis_connect_raw(&r->url, DELIVERY_REDIS_TIMEOUT_MS);
            if (!ctx) {
                if (!down)
                    bc_warn("delivery: Redis %s:%d unreachable; retrying", r->url.host,
                            r->url.port);
                down = true;
                nap(r, backoff_ms);
                backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
                continue;
            }
            if (down)
                bc_info("delivery: Redis %s:%d reachable again; subscribing again", r->url.host,
                        r->url.port);
            down = false;
            redisEnableKeepAlive(ctx);
            connection_reset(r);
        }
        if (sync_subscriptions(r, ctx) == 0 && serve(r, ctx, &backoff_ms) == 0)
            continue;
        bc_warn("delivery: lost the Redis subscriber connection: %s",
                ctx->errstr[0] ? ctx->errstr : "write failed");
        redisFree(ctx);
        ctx = NULL;
        down = true;
        nap(r, backoff_ms);
        backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
    }
    if (ctx)
        redisFree(ctx);
    return NULL;
}

int delivery_redis_thread_start(struct delivery_redis *r)
{
    if (pthread_create(&r->thread, NULL, backend_thread, r) != 0)
        return BC_EIO;
    r->thread_started = true;
    return 0;
}

void delivery_redis_thread_stop(struct delivery_redis *r)
{
    if (!r->thread_started)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_mutex_unlock(&r->lock);
    delivery_redis_poke(r);
    pthread_join(r->thread, NULL);
    r->thread_started = false;
}

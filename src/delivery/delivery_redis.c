/* The Redis backend (redis://): publishing on the callers' threads, the
 * cached demand read, and the requests (subscriptions, demand changes) that
 * the callers record for the backend thread (delivery_redis_sub.c). */
#include "delivery/delivery_redis.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define DEMAND_CACHE_US ((int64_t)DELIVERY_DEMAND_CACHE_MS * 1000)
#define SUBS_INITIAL 16
#define CACHE_INITIAL 16
#define RANDOM_DEVICE "/dev/urandom"

static void redis_publish(void *impl, struct delivery_msg *m)
{
    struct delivery_redis *r = impl;
    uint8_t *wire = NULL;
    size_t len = 0;
    char channel[DELIVERY_REDIS_KEY_MAX];
    delivery_redis_key(channel, sizeof channel, m->session, DELIVERY_REDIS_CHANNEL_SUFFIX);
    int rc = delivery_wire_encode(m, &wire, &len);
    delivery_msg_unref(m);
    if (rc < 0) {
        bc_warn("delivery: a message without session or over %u bytes was not published",
                DELIVERY_WIRE_MAX_PAYLOAD);
    } else {
        redisReply *reply = NULL;
        rc = redis_conn_commandf(r->pub, &reply, "PUBLISH %s %b", channel, wire, len);
        if (rc == 0 && reply->type == REDIS_REPLY_ERROR) {
            bc_warn("delivery: PUBLISH refused: %s", reply->str);
            rc = BC_EIO;
        }
        freeReplyObject(reply);
        free(wire);
    }
    if (rc < 0) {
        __atomic_add_fetch(&r->publish_dropped, 1, __ATOMIC_RELAXED);
        if (!__atomic_exchange_n(&r->publish_failing, 1, __ATOMIC_RELAXED))
            bc_warn("delivery: dropping published messages: Redis unreachable (%s)",
                    bc_strerror(rc));
    } else if (__atomic_exchange_n(&r->publish_failing, 0, __ATOMIC_RELAXED)) {
        bc_info("delivery: publishing again");
    }
}

static size_t redis_drain(void *impl, struct delivery_msg **out, size_t max)
{
    struct delivery_redis *r = impl;
    return delivery_ring_drain(r->ring, out, max);
}

static void redis_subscribe(void *impl, const char *session, int delta)
{
    struct delivery_redis *r = impl;
    pthread_mutex_lock(&r->lock);
    struct delivery_redis_sub *s = NULL;
    for (size_t i = 0; i < r->n_subs && !s; i++) {
        if (strcmp(r->subs[i].session, session) == 0)
            s = &r->subs[i];
    }
    if (!s && delta > 0) {
        if (r->n_subs == r->cap_subs) {
            r->cap_subs = r->cap_subs ? r->cap_subs * 2 : SUBS_INITIAL;
            r->subs = bc_realloc(r->subs, r->cap_subs * sizeof *r->subs);
        }
        s = &r->subs[r->n_subs++];
        memset(s, 0, sizeof *s);
        snprintf(s->session, sizeof s->session, "%s", session);
    }
    if (s) {
        s->refs += delta;
        if (s->refs < 0) {
            bc_warn("delivery: session %s unsubscribed more often than subscribed", session);
            s->refs = 0;
        }
    }
    pthread_mutex_unlock(&r->lock);
    /* The thread sends the (UN)SUBSCRIBE and forgets entries at zero. */
    if (s)
        delivery_redis_poke(r);
}

static void redis_demand_add(void *impl, const char *session, const char *lang,
                             enum delivery_codec codec, int delta)
{
    struct delivery_redis *r = impl;
    pthread_mutex_lock(&r->lock);
    struct delivery_demand_entry *e =
        delivery_demand_find(&r->demand, session, lang, codec, delta > 0);
    if (e) {
        e->receivers += delta;
        if (e->receivers < 0)
            e->receivers = 0;
    }
    pthread_mutex_unlock(&r->lock);
    /* The thread stores the new count and forgets entries at zero. */
    if (e)
        delivery_redis_poke(r);
}

/* The sum in Redis, or 0 when it cannot be read. */
static int demand_read(struct delivery_redis *r, const char *session, const char *lang,
                       enum delivery_codec codec)
{
    char key[DELIVERY_REDIS_KEY_MAX], field[DELIVERY_REDIS_FIELD_MAX];
    delivery_redis_key(key, sizeof key, session, DELIVERY_REDIS_DEMAND_SUFFIX);
    delivery_redis_demand_field(field, sizeof field, lang, codec, NULL);
    redisReply *reply = NULL;
    int receivers = 0;
    if (redis_conn_commandf(r->pub, &reply, "HGET %s %s", key, field) == 0 &&
        reply->type == REDIS_REPLY_STRING) {
        long n = strtol(reply->str, NULL, 10);
        receivers = n > 0 && n < INT32_MAX ? (int)n : 0;
    }
    freeReplyObject(reply);
    return receivers;
}

static int redis_demand(void *impl, const char *session, const char *lang,
                        enum delivery_codec codec)
{
    struct delivery_redis *r = impl;
    int64_t now = bc_now_us();
    pthread_mutex_lock(&r->cache_lock);
    for (size_t i = 0; i < r->n_cache;) {
        struct delivery_redis_cached *c = &r->cache[i];
        if (now - c->at_us >= DEMAND_CACHE_US) {
            /* Stale entries go, so the cache holds only what was asked
             * for recently. */
            *c = r->cache[--r->n_cache];
            continue;
        }
        if (c->codec == codec && strcmp(c->session, session) == 0 && strcmp(c->lang, lang) == 0) {
            int receivers = c->receivers;
            pthread_mutex_unlock(&r->cache_lock);
            return receivers;
        }
        i++;
    }
    pthread_mutex_unlock(&r->cache_lock);

    int receivers = demand_read(r, session, lang, codec);

    pthread_mutex_lock(&r->cache_lock);
    if (r->n_cache == r->cap_cache) {
        r->cap_cache = r->cap_cache ? r->cap_cache * 2 : CACHE_INITIAL;
        r->cache = bc_realloc(r->cache, r->cap_cache * sizeof *r->cache);
    }
    /* Two threads missing at once may both add one; the older one simply
     * expires first. */
    struct delivery_redis_cached *c = &r->cache[r->n_cache++];
    snprintf(c->session, sizeof c->session, "%s", session);
    snprintf(c->lang, sizeof c->lang, "%s", lang);
    c->codec = codec;
    c->receivers = receivers;
    c->at_us = bc_now_us();
    pthread_mutex_unlock(&r->cache_lock);
    return receivers;
}

static uint64_t redis_dropped(void *impl)
{
    struct delivery_redis *r = impl;
    return __atomic_load_n(&r->publish_dropped, __ATOMIC_RELAXED) + delivery_ring_dropped(r->ring);
}

static void redis_close(void *impl)
{
    struct delivery_redis *r = impl;
    if (!r)
        return;
    delivery_redis_thread_stop(r);
    if (r->cmd)
        delivery_redis_demand_withdraw(r);
    for (int i = 0; i < 2; i++) {
        if (r->wake_fds[i] >= 0)
            close(r->wake_fds[i]);
    }
    redis_conn_close(r->pub);
    redis_conn_close(r->cmd);
    delivery_ring_free(r->ring);
    delivery_demand_release(&r->demand);
    free(r->subs);
    free(r->cache);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->cache_lock);
    free(r);
}

static const struct delivery_ops redis_ops = {
    .name = "redis",
    .publish = redis_publish,
    .drain = redis_drain,
    .subscribe = redis_subscribe,
    .demand_add = redis_demand_add,
    .demand = redis_demand,
    .dropped = redis_dropped,
    .close = redis_close,
};

/* A name for this process's demand fields that no other process picks. */
static void make_instance(char *hex, size_t len)
{
    uint8_t bytes[DELIVERY_REDIS_INSTANCE_BYTES];
    int fd = open(RANDOM_DEVICE, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, bytes, sizeof bytes) : -1;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)sizeof bytes) {
        uint64_t v = (uint64_t)getpid() << 32 ^ (uint64_t)bc_now_us() ^ (uint64_t)time(NULL);
        for (size_t i = 0; i < sizeof bytes; i++)
            bytes[i] = (uint8_t)(v >> (8 * i));
    }
    for (size_t i = 0; i < sizeof bytes && 2 * i + 2 < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
}

static int make_pipe(int fds[2])
{
    if (pipe(fds) < 0)
        return BC_EIO;
    for (int i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFL, O_NONBLOCK) < 0 || fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0)
            return BC_EIO;
    }
    return 0;
}

int delivery_redis_backend_open(const char *url, size_t max_queued, delivery_wake_cb wake,
                                void *user_data, const struct delivery_ops **ops, void **impl)
{
    struct delivery_redis *r = bc_calloc(1, sizeof *r);
    r->wake_fds[0] = r->wake_fds[1] = -1;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->cache_lock, NULL);
    r->ring = delivery_ring_new(max_queued, wake, user_data);
    make_instance(r->instance, sizeof r->instance);
    int rc = redis_url_parse(url, &r->url);
    if (rc < 0) {
        bc_error("delivery: bad Redis url '%s'", url);
        goto fail;
    }
    if ((rc = redis_conn_open(url, DELIVERY_REDIS_TIMEOUT_MS, &r->pub)) < 0 ||
        (rc = redis_conn_open(url, DELIVERY_REDIS_TIMEOUT_MS, &r->cmd)) < 0)
        goto fail;
    if ((rc = make_pipe(r->wake_fds)) < 0 || (rc = delivery_redis_thread_start(r)) < 0) {
        bc_error("delivery: cannot start the Redis receiving thread");
        goto fail;
    }
    *ops = &redis_ops;
    *impl = r;
    return 0;
fail:
    redis_close(r);
    return rc;
}

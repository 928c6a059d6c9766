/* The in-process backend (mem://): a bounded ring between the publishing
 * threads and the gateway's event loop, and the demand counts kept by that
 * gateway. The ring and the demand table are reused by the Redis backend. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/delivery_backend.h"
#include "util/alloc.h"

#define DELIVERY_DEMAND_INITIAL 16

struct delivery_ring {
    pthread_mutex_t lock;
    struct delivery_msg **slots;
    size_t cap, head, count;
    uint64_t dropped;
    delivery_wake_cb wake;
    void *user_data;
};

struct delivery_ring *delivery_ring_new(size_t max_queued, delivery_wake_cb wake, void *user_data)
{
    struct delivery_ring *r = bc_calloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->cap = max_queued ? max_queued : 1;
    r->slots = bc_calloc(r->cap, sizeof *r->slots);
    r->wake = wake;
    r->user_data = user_data;
    return r;
}

void delivery_ring_free(struct delivery_ring *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++)
        delivery_msg_unref(r->slots[(r->head + i) % r->cap]);
    pthread_mutex_destroy(&r->lock);
    free(r->slots);
    free(r);
}

/* Makes room by dropping the oldest audio frame; with none, the oldest
 * message. Captions are small and matter more than one audio frame.
 * Caller holds r->lock. */
static void drop_one(struct delivery_ring *r)
{
    size_t victim = 0;
    for (size_t i = 0; i < r->count; i++) {
        if (r->slots[(r->head + i) % r->cap]->binary) {
            victim = i;
            break;
        }
    }
    delivery_msg_unref(r->slots[(r->head + victim) % r->cap]);
    for (size_t i = victim; i > 0; i--)
        r->slots[(r->head + i) % r->cap] = r->slots[(r->head + i - 1) % r->cap];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    r->dropped++;
}

void delivery_ring_push(struct delivery_ring *r, struct delivery_msg *m)
{
    pthread_mutex_lock(&r->lock);
    if (r->count == r->cap)
        drop_one(r);
    r->slots[(r->head + r->count) % r->cap] = m;
    r->count++;
    pthread_mutex_unlock(&r->lock);
}

void delivery_ring_wake(struct delivery_ring *r)
{
    if (r->wake)
        r->wake(r->user_data);
}

size_t delivery_ring_drain(struct delivery_ring *r, struct delivery_msg **out, size_t max)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->count < max ? r->count : max;
    for (size_t i = 0; i < n; i++)
        out[i] = r->slots[(r->head + i) % r->cap];
    r->head = (r->head + n) % r->cap;
    r->count -= n;
    pthread_mutex_unlock(&r->lock);
    return n;
}

uint64_t delivery_ring_dropped(struct delivery_ring *r)
{
    pthread_mutex_lock(&r->lock);
    uint64_t n = r->dropped;
    pthread_mutex_unlock(&r->lock);
    return n;
}

struct delivery_demand_entry *delivery_demand_find(struct delivery_demand_table *t,
                                                   const char *session, const char *lang,
                                                   enum delivery_codec codec, bool create)
{
    for (size_t i = 0; i < t->n; i++) {
        struct delivery_demand_entry *e = &t->entries[i];
        if (e->codec == codec && strcmp(e->session, session) == 0 && strcmp(e->lang, lang) == 0)
            return e;
    }
    if (!create)
        return NULL;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : DELIVERY_DEMAND_INITIAL;
        t->entries = bc_realloc(t->entries, t->cap * sizeof *t->entries);
    }
    struct delivery_demand_entry *e = &t->entries[t->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->session, sizeof e->session, "%s", session);
    snprintf(e->lang, sizeof e->lang, "%s", lang);
    e->codec = codec;
    return e;
}

void delivery_demand_remove(struct delivery_demand_table *t, struct delivery_demand_entry *e)
{
    *e = t->entries[--t->n];
}

void delivery_demand_release(struct delivery_demand_table *t)
{
    free(t->entries);
    memset(t, 0, sizeof *t);
}

/* ---- mem:// ---------------------------------------------------------------- */

struct delivery_local {
    struct delivery_ring *ring;
    pthread_mutex_t lock; /* demand */
    struct delivery_demand_table demand;
};

static void local_publish(void *impl, struct delivery_msg *m)
{
    struct delivery_local *l = impl;
    delivery_ring_push(l->ring, m);
    delivery_ring_wake(l->ring);
}

static size_t local_drain(void *impl, struct delivery_msg **out, size_t max)
{
    struct delivery_local *l = impl;
    return delivery_ring_drain(l->ring, out, max);
}

/* Every message published in this process is received here. */
static void local_subscribe(void *impl, const char *session, int delta)
{
}

static void local_demand_add(void *impl, const char *session, const char *lang,
                             enum delivery_codec codec, int delta)
{
    struct delivery_local *l = impl;
    pthread_mutex_lock(&l->lock);
    struct delivery_demand_entry *e =
        delivery_demand_find(&l->demand, session, lang, codec, delta > 0);
    if (e) {
        e->receivers += delta;
        if (e->receivers <= 0)
            delivery_demand_remove(&l->demand, e);
    }
    pthread_mutex_unlock(&l->lock);
}

static int local_demand(void *impl, const char *session, const char *lang,
                        enum delivery_codec codec)
{
    struct delivery_local *l = impl;
    pthread_mutex_lock(&l->lock);
    const struct delivery_demand_entry *e =
        delivery_demand_find(&l->demand, session, lang, codec, false);
    int receivers = e ? e->receivers : 0;
    pthread_mutex_unlock(&l->lock);
    return receivers;
}

static uint64_t local_dropped(void *impl)
{
    struct delivery_local *l = impl;
    return delivery_ring_dropped(l->ring);
}

static void local_close(void *impl)
{
    struct delivery_local *l = impl;
    delivery_ring_free(l->ring);
    delivery_demand_release(&l->demand);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static const struct delivery_ops local_ops = {
    .name = "mem",
    .publish = local_publish,
    .drain = local_drain,
    .subscribe = local_subscribe,
    .demand_add = local_demand_add,
    .demand = local_demand,
    .dropped = local_dropped,
    .close = local_close,
};

void delivery_local_backend_open(size_t max_queued, delivery_wake_cb wake, void *user_data,
                                 const struct delivery_ops **ops, void **impl)
{
    struct delivery_local *l = bc_calloc(1, sizeof *l);
    l->ring = delivery_ring_new(max_queued, wake, user_data);
    pthread_mutex_init(&l->lock, NULL);
    *ops = &local_ops;
    *impl = l;
}

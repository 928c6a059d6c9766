/* Internal to src/delivery: the table of operations every backend fills in,
 * the bounded ring of received messages that every backend hands to the
 * gateway through, and the table of demand counts. Arguments reaching a
 * backend have been checked by delivery.c (session and lang fit their
 * fields, m is not NULL). */
#ifndef BC_DELIVERY_BACKEND_H
#define BC_DELIVERY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery/delivery.h"

struct delivery_ops {
    const char *name;
    void (*publish)(void *impl, struct delivery_msg *m);
    size_t (*drain)(void *impl, struct delivery_msg **out, size_t max);
    void (*subscribe)(void *impl, const char *session, int delta);
    void (*demand_add)(void *impl, const char *session, const char *lang, enum delivery_codec codec,
                       int delta);
    int (*demand)(void *impl, const char *session, const char *lang, enum delivery_codec codec);
    uint64_t (*dropped)(void *impl);
    void (*close)(void *impl);
};

/* mem://: never fails. */
void delivery_local_backend_open(size_t max_queued, delivery_wake_cb wake, void *user_data,
                                 const struct delivery_ops **ops, void **impl);
/* redis://...: BC_EINVAL for a bad URL, BC_EIO when the backend thread
 * cannot start. Redis being down is not an error. */
int delivery_redis_backend_open(const char *url, size_t max_queued, delivery_wake_cb wake,
                                void *user_data, const struct delivery_ops **ops, void **impl);

/* ---- The ring -------------------------------------------------------------
 * Messages waiting for the gateway's event loop, at most max_queued; a push
 * into a full ring drops the oldest audio frame (the oldest message when
 * there is none). All functions are thread-safe. */

struct delivery_ring;

struct delivery_ring *delivery_ring_new(size_t max_queued, delivery_wake_cb wake, void *user_data);
/* Unrefs the messages still queued. NULL is a no-op. */
void delivery_ring_free(struct delivery_ring *r);
/* Takes over the reference to m; does not call wake. */
void delivery_ring_push(struct delivery_ring *r, struct delivery_msg *m);
/* Calls wake (if any) on the calling thread. */
void delivery_ring_wake(struct delivery_ring *r);
size_t delivery_ring_drain(struct delivery_ring *r, struct delivery_msg **out, size_t max);
/* Messages dropped by pushes into a full ring. */
uint64_t delivery_ring_dropped(struct delivery_ring *r);

/* ---- Demand counts ----------------------------------------------------------
 * Receivers per (session, lang, codec), a growing array; not locked: its
 * owner holds a lock of its own around every call. */

struct delivery_demand_entry {
    char session[DELIVERY_ID_MAX];
    char lang[DELIVERY_LANG_MAX];
    enum delivery_codec codec;
    int receivers; /* this process's count */
    int applied;   /* the part of receivers already stored elsewhere (Redis) */
    bool reapply;  /* store it again even when applied == receivers */
};

struct delivery_demand_table {
    struct delivery_demand_entry *entries;
    size_t n, cap;
};

/* The entry, or NULL; with create, a new zeroed one instead of NULL. The
 * pointer is valid until the next add or remove on the table. */
struct delivery_demand_entry *delivery_demand_find(struct delivery_demand_table *t,
                                                   const char *session, const char *lang,
                                                   enum delivery_codec codec, bool create);
/* Removes e (from this table) by moving the last entry into its place. */
void delivery_demand_remove(struct delivery_demand_table *t, struct delivery_demand_entry *e);
void delivery_demand_release(struct delivery_demand_table *t);

#endif

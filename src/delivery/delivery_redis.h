/* Internal to src/delivery: the Redis backend's state, shared by its
 * publishing side (delivery_redis.c), its thread (delivery_redis_sub.c) and
 * its wire format (delivery_redis_wire.c).
 *
 * Wire format of one message, the payload of a PUBLISH on the channel
 * REDIS_KEY_FMT(session, "out"); all integers big-endian:
 *   u8  version (DELIVERY_WIRE_VERSION)
 *   u8  flags: DELIVERY_WIRE_BINARY | DELIVERY_WIRE_TO_SPEAKER | DELIVERY_WIRE_CLOSES
 *   u8  codec (enum delivery_codec)
 *   u8  session length S (1..DELIVERY_ID_MAX-1)
 *   u8  lang length L (0..DELIVERY_LANG_MAX-1)
 *   S bytes session, L bytes lang (no NUL)
 *   u32 payload length P (at most DELIVERY_WIRE_MAX_PAYLOAD)
 *   P bytes payload (binary-safe), and nothing after it.
 *
 * Demand: the hash REDIS_KEY_FMT(session, "demand") holds, per
 * (lang, codec), the field "LANG/CODEC" (the sum over processes, what
 * delivery_demand reads) and one field "LANG/CODEC/INSTANCE" per process
 * (its own count). A Lua script sets a process's own field and moves the
 * sum by the difference in one step, so storing the same count twice (after
 * Redis restarted from its append-only file, say) never counts it twice. */
#ifndef BC_DELIVERY_REDIS_H
#define BC_DELIVERY_REDIS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "delivery/delivery_backend.h"
#include "redis/redis_conn.h"

#define DELIVERY_WIRE_VERSION 1
#define DELIVERY_WIRE_BINARY 0x01
#define DELIVERY_WIRE_TO_SPEAKER 0x02
#define DELIVERY_WIRE_CLOSES 0x04
#define DELIVERY_WIRE_FLAGS (DELIVERY_WIRE_BINARY | DELIVERY_WIRE_TO_SPEAKER | DELIVERY_WIRE_CLOSES)
#define DELIVERY_WIRE_MAX_PAYLOAD (16u * 1024 * 1024)

#define DELIVERY_REDIS_CHANNEL_SUFFIX "out"
#define DELIVERY_REDIS_DEMAND_SUFFIX "demand"
/* Keys and channels: "bc:{" + session + "}:" + suffix. */
#define DELIVERY_REDIS_KEY_MAX 128
/* "LANG/CODEC/INSTANCE" */
#define DELIVERY_REDIS_FIELD_MAX 96
#define DELIVERY_REDIS_INSTANCE_BYTES 8
/* Connection and command timeout of every connection the backend makes. */
#define DELIVERY_REDIS_TIMEOUT_MS 1000

/* A session this process receives while refs > 0. */
struct delivery_redis_sub {
    char session[DELIVERY_ID_MAX];
    int refs;
    bool on_server; /* SUBSCRIBE sent on the current connection */
};

struct delivery_redis_cached {
    char session[DELIVERY_ID_MAX];
    char lang[DELIVERY_LANG_MAX];
    enum delivery_codec codec;
    int receivers;
    int64_t at_us;
};

struct delivery_redis {
    struct redis_url url;
    char instance[2 * DELIVERY_REDIS_INSTANCE_BYTES + 1]; /* hex; names this process's fields */
    struct delivery_ring *ring;
    struct redis_conn *pub;   /* PUBLISH and demand reads, on the callers' threads */
    struct redis_conn *cmd;   /* demand writes, on the backend thread (then on close) */
    uint64_t publish_dropped; /* atomic */
    int publish_failing;      /* atomic; logs the first drop of an outage only */

    pthread_mutex_t lock; /* guards subs, demand and stop */
    struct delivery_redis_sub *subs;
    size_t n_subs, cap_subs;
    struct delivery_demand_table demand;
    bool stop;

    int wake_fds[2]; /* pokes the backend thread out of poll(); -1 when closed */
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t cache_lock;
    struct delivery_redis_cached *cache;
    size_t n_cache, cap_cache;
};

/* Starts the backend thread: it keeps a subscribing connection, sends the
 * (UN)SUBSCRIBEs and demand changes recorded under r->lock, and queues the
 * messages it receives in r->ring. Returns 0 or BC_EIO. */
int delivery_redis_thread_start(struct delivery_redis *r);
/* Sets stop, wakes the thread and joins it. Safe when it never started. */
void delivery_redis_thread_stop(struct delivery_redis *r);
/* Makes the thread look at r->subs and r->demand again. Never blocks. */
void delivery_redis_poke(struct delivery_redis *r);
/* After the thread stopped: sets this process's counts in Redis to zero
 * (best effort, gives up at the first failure). */
void delivery_redis_demand_withdraw(struct delivery_redis *r);

/* "bc:{session}:suffix" into buf. */
void delivery_redis_key(char *buf, size_t len, const char *session, const char *suffix);
/* "LANG/CODEC", plus "/INSTANCE" when instance is not NULL. */
void delivery_redis_demand_field(char *buf, size_t len, const char *lang, enum delivery_codec codec,
                                 const char *instance);

/* Encodes m (wire format above) into a new heap block *out of *len bytes.
 * BC_EINVAL when m does not fit the format (empty session, payload over
 * DELIVERY_WIRE_MAX_PAYLOAD). */
int delivery_wire_encode(const struct delivery_msg *m, uint8_t **out, size_t *len);
/* A new message (one reference) from len bytes of data, or BC_EFORMAT for
 * anything that is not exactly one well-formed message. */
int delivery_wire_decode(const void *data, size_t len, struct delivery_msg **out);

#endif

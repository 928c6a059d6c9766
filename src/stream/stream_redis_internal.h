/* Shared by the redis:// backend's files (stream_redis.c: the operations;
 * stream_redis_script.c: key names and the Lua scripts; stream_redis_notify.c:
 * the subscriber thread). Not part of the stream interface. */
#ifndef BC_STREAM_REDIS_INTERNAL_H
#define BC_STREAM_REDIS_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "redis/redis_conn.h"
#include "stream/stream_backend.h"

#define SR_PENDING_KEY "bc:stream:pending"
#define SR_APPENDS_CHANNEL "bc:stream:appends"
#define SR_KEY_MAX (STREAM_SESSION_ID_MAX + 32)
#define SR_OWNER_MAX 128
#define SR_SHA_HEX 40

/* The keys every script receives, in this order (KEYS[1..SR_KEY_COUNT]).
 * The first SR_KEYS_EXPIRING are the session's own data, which expire
 * together once the session has ended and been processed. */
enum sr_key {
    SR_KEY_AUDIO,
    SR_KEY_SEQ,
    SR_KEY_BYTES,
    SR_KEY_CKPT,
    SR_KEY_ATTEMPTS,
    SR_KEY_DEAD,
    SR_KEY_ENDED,
    SR_KEY_FENCE,
    SR_KEY_LEASE,
    SR_KEY_PENDING,
    SR_KEY_COUNT
};
#define SR_KEYS_EXPIRING (SR_KEY_FENCE + 1)

struct sr_keys {
    char name[SR_KEY_COUNT][SR_KEY_MAX];
};

enum sr_script {
    SR_SCRIPT_APPEND,
    SR_SCRIPT_CHECKPOINT,
    SR_SCRIPT_RECORD_FAILED,
    SR_SCRIPT_LEASE,
    SR_SCRIPT_RELEASE,
    SR_SCRIPT_ENDED,
    SR_SCRIPT_COUNT
};

/* A lease this handle was granted: checkpoints on the session carry it. */
struct sr_lease {
    char id[STREAM_SESSION_ID_MAX];
    char owner[SR_OWNER_MAX];
    uint64_t token;
};

struct sr_notifier;

struct redis_backend {
    struct redis_conn *conn;
    struct redis_url url;
    struct stream_params params;
    pthread_mutex_t lock; /* leases, shas, notifier */
    struct sr_lease *leases;
    size_t n_leases, cap_leases;
    char sha[SR_SCRIPT_COUNT][SR_SHA_HEX + 1]; /* "" until loaded */
    struct sr_notifier *notifier;
};

void sr_keys_init(const char *id, struct sr_keys *keys);

/* Runs a script by EVALSHA (loading it on first use, EVAL when Redis lost
 * it) with every key of keys and argv as ARGV. Returns 0 and *reply, an
 * array whose first element is the script's status string (caller frees),
 * or BC_EIO (unreachable, or Redis answered an error: logged). */
int sr_eval(struct redis_backend *b, enum sr_script which, const struct sr_keys *keys, int argc,
            const char **argv, const size_t *lens, redisReply **reply);
/* 1 when reply's status (see sr_eval) is status. */
int sr_status_is(const redisReply *reply, const char *status);
/* The integer element i of reply (0 when missing). */
uint64_t sr_reply_u64(const redisReply *reply, size_t i);

/* Starts the subscriber thread calling cb for every append announced on
 * SR_APPENDS_CHANNEL, waiting (bounded) until it has subscribed. */
struct sr_notifier *sr_notifier_start(struct redis_backend *b, stream_notify_cb cb,
                                      void *user_data);
/* Stops and joins the thread. Accepts NULL. */
void sr_notifier_stop(struct sr_notifier *n);

#endif

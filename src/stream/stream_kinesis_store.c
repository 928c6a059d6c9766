/* kinesis:// leases and checkpoints in Redis (when the server has --redis).
 *
 * Keys of shard SHARD of stream NAME (the hash tag keeps them together):
 *   bc:kin:{NAME}:SHARD:lease   owner of the shard, PX ttl
 *   bc:kin:{NAME}:SHARD:fence   fencing token of the latest grant (INCR)
 *   bc:kin:{NAME}:SHARD:ckpt    hash: pos (sequence number of the last
 *                               record of the processed prefix), done,
 *                               n:<session> (the session's records in the
 *                               stream up to pos)
 * Keys of session ID:
 *   bc:{ID}:kckpt   hash: seq, state (the session's checkpoint)
 *   bc:{ID}:kbytes  audio bytes appended in all (stream_audio_bytes)
 *   bc:{ID}:kdead   list of JSON {seq, append_ms, error}
 *   bc:{ID}:fence   the session's fencing token, shared with the registry,
 *                   which refuses captions from an older owner
 * A commit checks the shard's lease and fence and writes the session's
 * checkpoint and the shard's position in one script, so a worker that lost
 * the shard cannot move either back. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis_conn.h"
#include "stream/stream_kinesis_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define KS_TIMEOUT_MS 2000
#define KS_KEY_MAX (KIN_STREAM_NAME_MAX + KIN_SHARD_ID_MAX + 32)
#define KS_NUM_MAX 24
#define KS_COUNT_PREFIX "n:"
#define KS_COMMIT_FIXED_ARGS 8

struct ks_redis {
    struct redis_conn *conn;
    char stream[KIN_STREAM_NAME_MAX];
};

/* clang-format off */
/* KEYS: lease, fence. ARGV: owner, ttl_ms. */
static const char lua_lease[] =
    "local holder = redis.call('GET', KEYS[1])\n"
    "if not holder then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "  return {'NEW', redis.call('INCR', KEYS[2])}\n"
    "end\n"
    "if holder == ARGV[1] then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "  return {'RENEW', tonumber(redis.call('GET', KEYS[2]) or '0')}\n"
    "end\n"
    "return {'BUSY', 0}\n";

/* KEYS: lease. ARGV: owner. */
static const char lua_release[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "return {'OK', 0}\n";

/* KEYS: lease, fence, shard ckpt, session ckpt. ARGV: owner, token,
 * has_session, seq, state, has_pos, pos, done, then id, count pairs. */
static const char lua_commit[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then\n"
    "  return {'FENCED', 0}\n"
    "end\n"
    "if ARGV[3] == '1' then redis.call('HSET', KEYS[4], 'seq', ARGV[4], 'state', ARGV[5]) end\n"
    "if ARGV[6] == '1' then\n"
    "  redis.call('HSET', KEYS[3], 'pos', ARGV[7], 'done', ARGV[8])\n"
    "  for i = 9, #ARGV, 2 do\n"
    "    redis.call('HSET', KEYS[3], '" KS_COUNT_PREFIX "' .. ARGV[i], ARGV[i + 1])\n"
    "  end\n"
    "end\n"
    "return {'OK', 0}\n";
/* clang-format on */

static void shard_key(const struct ks_redis *r, const char *shard, const char *what,
                      char key[KS_KEY_MAX])
{
    snprintf(key, KS_KEY_MAX, "bc:kin:{%s}:%s:%s", r->stream, shard, what);
}

static void session_key(const char *id, const char *what, char key[KS_KEY_MAX])
{
    snprintf(key, KS_KEY_MAX, REDIS_KEY_FMT, id, what);
}

/* EVAL script with keys and args; *status is the reply's first element, *num its second. */
static int ks_eval(struct ks_redis *r, const char *script, int n_keys, const char **keys,
                   int n_args, const char **args, const size_t *lens, char status[16],
                   uint64_t *num)
{
    int argc = 3 + n_keys + n_args;
    const char **av = bc_malloc((size_t)argc * sizeof *av);
    size_t *al = bc_malloc((size_t)argc * sizeof *al);
    char nk[KS_NUM_MAX];
    snprintf(nk, sizeof nk, "%d", n_keys);
    av[0] = "EVAL";
    av[1] = script;
    av[2] = nk;
    for (int i = 0; i < n_keys; i++)
        av[3 + i] = keys[i];
    for (int i = 0; i < n_args; i++)
        av[3 + n_keys + i] = args[i];
    for (int i = 0; i < argc; i++)
        al[i] = i >= 3 + n_keys && lens ? lens[i - 3 - n_keys] : strlen(av[i]);
    redisReply *rep;
    int rc = redis_conn_command(r->conn, argc, av, al, &rep);
    free(av);
    free(al);
    if (rc < 0)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
        bc_error("stream: kinesis state script failed: %s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        return BC_EIO;
    }
    snprintf(status, 16, "%s", rep->element[0]->str);
    *num = rep->element[1]->type == REDIS_REPLY_INTEGER && rep->element[1]->integer > 0
               ? (uint64_t)rep->element[1]->integer
               : 0;
    freeReplyObject(rep);
    return 0;
}

static int ks_lease(void *impl, const char *shard, const char *owner, int ttl_ms, uint64_t *token)
{
    struct ks_redis *r = impl;
    char lease[KS_KEY_MAX], fence[KS_KEY_MAX], ttl[KS_NUM_MAX], status[16];
    shard_key(r, shard, "lease", lease);
    shard_key(r, shard, "fence", fence);
    snprintf(ttl, sizeof ttl, "%d", ttl_ms);
    const char *keys[] = {lease, fence}, *args[] = {owner, ttl};
    int rc = ks_eval(r, lua_lease, 2, keys, 2, args, NULL, status, token);
    if (rc < 0)
        return rc;
    return strcmp(status, "BUSY") == 0 ? BC_ESTATE : 0;
}

static int ks_release(void *impl, const char *shard, const char *owner)
{
    struct ks_redis *r = impl;
    char lease[KS_KEY_MAX], status[16];
    uint64_t unused;
    shard_key(r, shard, "lease", lease);
    const char *keys[] = {lease}, *args[] = {owner};
    return ks_eval(r, lua_release, 1, keys, 1, args, NULL, status, &unused);
}

static int ks_shard_get(void *impl, const char *shard, struct kin_shard_state *out)
{
    struct ks_redis *r = impl;
    memset(out, 0, sizeof *out);
    char key[KS_KEY_MAX];
    shard_key(r, shard, "ckpt", key);
    redisReply *rep;
    int rc = redis_conn_commandf(r->conn, &rep, "HGETALL %s", key);
    if (rc < 0)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(rep);
        return BC_EIO;
    }
    size_t prefix = strlen(KS_COUNT_PREFIX);
    out->counts = bc_calloc(rep->elements / 2 + 1, sizeof *out->counts);
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const redisReply *k = rep->element[i], *v = rep->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, "pos") == 0 && v->len < KIN_SEQNUM_MAX) {
            snprintf(out->pos, sizeof out->pos, "%s", v->str);
        } else if (strcmp(k->str, "done") == 0) {
            out->done = strcmp(v->str, "1") == 0;
        } else if (strncmp(k->str, KS_COUNT_PREFIX, prefix) == 0 &&
                   stream_id_valid(k->str + prefix)) {
            struct kin_count *c = &out->counts[out->n_counts++];
            snprintf(c->id, sizeof c->id, "%s", k->str + prefix);
            c->n = strtoull(v->str, NULL, 10);
        }
    }
    freeReplyObject(rep);
    return 0;
}

static int ks_commit(void *impl, const struct kin_commit *c)
{
    struct ks_redis *r = impl;
    char lease[KS_KEY_MAX], fence[KS_KEY_MAX], ckpt[KS_KEY_MAX], sckpt[KS_KEY_MAX];
    shard_key(r, c->shard, "lease", lease);
    shard_key(r, c->shard, "fence", fence);
    shard_key(r, c->shard, "ckpt", ckpt);
    session_key(c->id ? c->id : "-", "kckpt", sckpt);
    size_t n_args = KS_COMMIT_FIXED_ARGS + (c->pos ? 2 * c->n_counts : 0);
    const char **args = bc_malloc(n_args * sizeof *args);
    size_t *lens = bc_malloc(n_args * sizeof *lens);
    char (*nums)[KS_NUM_MAX] = bc_malloc((c->n_counts + 2) * sizeof *nums);
    snprintf(nums[0], KS_NUM_MAX, "%" PRIu64, c->token);
    snprintf(nums[1], KS_NUM_MAX, "%" PRIu64, c->seq);
    args[0] = c->owner;
    args[1] = nums[0];
    args[2] = c->id ? "1" : "0";
    args[3] = nums[1];
    args[4] = c->state_len ? c->state : "";
    args[5] = c->pos ? "1" : "0";
    args[6] = c->pos ? c->pos : "";
    args[7] = c->done ? "1" : "0";
    for (size_t i = 0; i < KS_COMMIT_FIXED_ARGS; i++)
        lens[i] = i == 4 ? c->state_len : strlen(args[i]);
    for (size_t i = 0; c->pos && i < c->n_counts; i++) {
        snprintf(nums[2 + i], KS_NUM_MAX, "%" PRIu64, c->counts[i].n);
        args[KS_COMMIT_FIXED_ARGS + 2 * i] = c->counts[i].id;
        args[KS_COMMIT_FIXED_ARGS + 2 * i + 1] = nums[2 + i];
        lens[KS_COMMIT_FIXED_ARGS + 2 * i] = strlen(c->counts[i].id);
        lens[KS_COMMIT_FIXED_ARGS + 2 * i + 1] = strlen(nums[2 + i]);
    }
    const char *keys[] = {lease, fence, ckpt, sckpt};
    char status[16];
    uint64_t unused;
    int rc = ks_eval(r, lua_commit, 4, keys, (int)n_args, args, lens, status, &unused);
    free(args);
    free(lens);
    free(nums);
    if (rc == 0 && strcmp(status, "FENCED") == 0)
        rc = BC_ESTATE;
    return rc;
}

static int ks_session_get(void *impl, const char *id, uint64_t *seq, void *state,
                          size_t *state_len)
{
    struct ks_redis *r = impl;
    char key[KS_KEY_MAX];
    session_key(id, "kckpt", key);
    redisReply *rep;
    int rc = redis_conn_commandf(r->conn, &rep, "HMGET %s seq state", key);
    if (rc < 0)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
        freeReplyObject(rep);
        return BC_EIO;
    }
    const redisReply *s = rep->element[0], *st = rep->element[1];
    *seq = s->type == REDIS_REPLY_STRING ? strtoull(s->str, NULL, 10) : 0;
    size_t n = st->type == REDIS_REPLY_STRING ? st->len : 0;
    if (n > STREAM_STATE_MAX)
        n = STREAM_STATE_MAX;
    if (n)
        memcpy(state, st->str, n);
    *state_len = n;
    freeReplyObject(rep);
    return 0;
}

/* One command answering an integer. */
static int ks_integer(struct ks_redis *r, uint64_t *out, const char *fmt, const char *key,
                      uint64_t arg)
{
    redisReply *rep;
    int rc = redis_conn_commandf(r->conn, &rep, fmt, key, arg);
    if (rc < 0)
        return rc;
    if (rep->type == REDIS_REPLY_INTEGER)
        *out = rep->integer > 0 ? (uint64_t)rep->integer : 0;
    else if (rep->type == REDIS_REPLY_STRING)
        *out = strtoull(rep->str, NULL, 10);
    else if (rep->type == REDIS_REPLY_NIL)
        *out = 0;
    else
        rc = BC_EIO;
    freeReplyObject(rep);
    return rc;
}

static int ks_session_fence(void *impl, const char *id, uint64_t *token)
{
    char key[KS_KEY_MAX];
    session_key(id, REDIS_FENCE_SUFFIX, key);
    return ks_integer(impl, token, "INCR %s", key, 0);
}

static int ks_add_bytes(void *impl, const char *id, uint64_t n)
{
    char key[KS_KEY_MAX];
    uint64_t total;
    session_key(id, "kbytes", key);
    return ks_integer(impl, &total, "INCRBY %s %" PRIu64, key, n);
}

static int ks_bytes(void *impl, const char *id, uint64_t *n)
{
    char key[KS_KEY_MAX];
    session_key(id, "kbytes", key);
    return ks_integer(impl, n, "GET %s", key, 0);
}

static int ks_dead_letter(void *impl, const char *id, uint64_t seq, int64_t append_ms,
                          const char *error)
{
    struct ks_redis *r = impl;
    char key[KS_KEY_MAX];
    session_key(id, "kdead", key);
    cJSON *json = cJSON_CreateObject();
    cJSON_AddNumberToObject(json, "seq", (double)seq);
    cJSON_AddNumberToObject(json, "append_ms", (double)append_ms);
    cJSON_AddStringToObject(json, "error", error);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    redisReply *rep;
    int rc = redis_conn_commandf(r->conn, &rep, "RPUSH %s %s", key, text);
    free(text);
    if (rc == 0)
        freeReplyObject(rep);
    return rc;
}

static size_t ks_dead_count(void *impl, const char *id)
{
    char key[KS_KEY_MAX];
    uint64_t n = 0;
    session_key(id, "kdead", key);
    return ks_integer(impl, &n, "LLEN %s", key, 0) == 0 ? (size_t)n : 0;
}

static void ks_ended(void *impl, const char *id, int retention_ms)
{
    struct ks_redis *r = impl;
    static const char *const what[] = {"kckpt", "kbytes", "kdead"};
    for (size_t i = 0; i < sizeof what / sizeof what[0]; i++) {
        char key[KS_KEY_MAX];
        uint64_t unused;
        session_key(id, what[i], key);
        if (ks_integer(r, &unused, "PEXPIRE %s %" PRIu64, key, (uint64_t)retention_ms) < 0)
            bc_warn("stream: the state of session %s does not expire", id);
    }
}

static void ks_close(void *impl)
{
    struct ks_redis *r = impl;
    if (!r)
        return;
    redis_conn_close(r->conn);
    free(r);
}

static const struct kin_store_ops redis_store_ops = {
    .lease = ks_lease,
    .release = ks_release,
    .shard_get = ks_shard_get,
    .commit = ks_commit,
    .session_get = ks_session_get,
    .session_fence = ks_session_fence,
    .add_bytes = ks_add_bytes,
    .bytes = ks_bytes,
    .dead_letter = ks_dead_letter,
    .dead_count = ks_dead_count,
    .ended = ks_ended,
    .close = ks_close,
};

int kin_store_redis_open(const char *url, const char *stream, const struct kin_store_ops **ops,
                         void **impl)
{
    struct ks_redis *r = bc_calloc(1, sizeof *r);
    snprintf(r->stream, sizeof r->stream, "%s", stream);
    if (redis_conn_open(url, KS_TIMEOUT_MS, &r->conn) < 0) {
        free(r);
        bc_error("stream: bad redis url for the kinesis state");
        return BC_EINVAL;
    }
    *ops = &redis_store_ops;
    *impl = r;
    return 0;
}

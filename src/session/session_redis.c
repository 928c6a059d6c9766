/* The Redis registry backend: sessions, tokens, listener counts and the
 * catalog shared by every gateway and worker process. Key layout in
 * session_redis_internal.h. Any failure to reach Redis, and any error
 * reply, is BC_EIO; the shared connection reconnects with backoff. */
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/session_backend.h"
#include "session/session_redis_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define RS_NOSCRIPT_PREFIX "NOSCRIPT"
/* EVALSHA, the digest, the key count, then the script's keys and args. */
#define RS_EVAL_FIXED_ARGS 3
#define RS_EVAL_MAX_ARGS 8
#define RS_NUMBER_MAX 24 /* a 64-bit integer in decimal, sign and NUL */
#define SHA1_BYTES (RS_SHA1_HEX_LEN / 2)

void rs_key(char *buf, const char *id, const char *suffix)
{
    snprintf(buf, RS_KEY_MAX, REDIS_KEY_FMT, id, suffix);
}

static int sha1_hex(const char *text, char out[RS_SHA1_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(text, strlen(text), md, &len, EVP_sha1(), NULL) || len != SHA1_BYTES)
        return BC_EIO;
    for (unsigned int i = 0; i < len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[2 * len] = '\0';
    return 0;
}

/* Logs and frees an error reply. Returns BC_EIO. */
static int reply_error(redisReply *reply, const char *what)
{
    bc_error("session: redis %s: %s", what, reply->str ? reply->str : "error reply");
    freeReplyObject(reply);
    return BC_EIO;
}

int rs_command(struct session_redis *r, int argc, const char **argv, redisReply **reply)
{
    size_t lens[RS_EVAL_FIXED_ARGS + RS_EVAL_MAX_ARGS];
    if (argc > (int)(sizeof lens / sizeof lens[0]))
        return BC_EINVAL;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    int rc = redis_conn_command(r->conn, argc, argv, lens, reply);
    if (rc < 0)
        return BC_EIO;
    if ((*reply)->type == REDIS_REPLY_ERROR) {
        rc = reply_error(*reply, argv[0]);
        *reply = NULL;
    }
    return rc;
}

int rs_eval(struct session_redis *r, enum rs_script_id which, int n_keys, const char **args,
            int n_args, redisReply **reply)
{
    *reply = NULL;
    if (n_args > RS_EVAL_MAX_ARGS)
        return BC_EINVAL;
    char n_keys_text[RS_NUMBER_MAX];
    snprintf(n_keys_text, sizeof n_keys_text, "%d", n_keys);
    const char *argv[RS_EVAL_FIXED_ARGS + RS_EVAL_MAX_ARGS] = {"EVALSHA", r->sha[which],
                                                               n_keys_text};
    size_t lens[RS_EVAL_FIXED_ARGS + RS_EVAL_MAX_ARGS];
    for (int i = 0; i < n_args; i++)
        argv[RS_EVAL_FIXED_ARGS + i] = args[i];
    int argc = RS_EVAL_FIXED_ARGS + n_args;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (redis_conn_command(r->conn, argc, argv, lens, reply) < 0)
        return BC_EIO;
    /* Redis forgets scripts when it restarts; EVAL teaches it again. */
    if ((*reply)->type == REDIS_REPLY_ERROR && (*reply)->str &&
        strncmp((*reply)->str, RS_NOSCRIPT_PREFIX, strlen(RS_NOSCRIPT_PREFIX)) == 0) {
        freeReplyObject(*reply);
        *reply = NULL;
        argv[0] = "EVAL";
        argv[1] = rs_script_text(which);
        lens[0] = strlen(argv[0]);
        lens[1] = strlen(argv[1]);
        if (redis_conn_command(r->conn, argc, argv, lens, reply) < 0)
            return BC_EIO;
    }
    if ((*reply)->type == REDIS_REPLY_ERROR) {
        int rc = reply_error(*reply, "script");
        *reply = NULL;
        return rc;
    }
    return 0;
}

int rs_eval_int(struct session_redis *r, enum rs_script_id which, int n_keys, const char **args,
                int n_args, long long *value)
{
    redisReply *reply;
    int rc = rs_eval(r, which, n_keys, args, n_args, &reply);
    if (rc < 0)
        return rc;
    if (reply->type != REDIS_REPLY_INTEGER) {
        bc_error("session: redis script answered type %d, not an integer", reply->type);
        freeReplyObject(reply);
        return BC_EIO;
    }
    *value = reply->integer;
    freeReplyObject(reply);
    return 0;
}

static void rs_close(void *impl)
{
    struct session_redis *r = impl;
    if (!r)
        return;
    redis_conn_close(r->conn);
    free(r);
}

static const struct session_ops rs_ops;

int session_redis_open(const char *url, const struct session_limits *limits,
                       const struct session_ops **ops, void **impl)
{
    struct session_redis *r = bc_calloc(1, sizeof *r);
    r->limits = *limits;
    int rc = redis_conn_open(url, 0, &r->conn);
    if (rc < 0) {
        bc_error("session: bad redis url");
        goto fail;
    }
    for (int i = 0; i < RS_SCRIPT_COUNT; i++) {
        rc = sha1_hex(rs_script_text((enum rs_script_id)i), r->sha[i]);
        if (rc < 0) {
            bc_error("session: SHA-1 failed");
            goto fail;
        }
    }
    *ops = &rs_ops;
    *impl = r;
    return 0;
fail:
    rs_close(r);
    return rc;
}

/* ---- Sessions and tokens ---- */

static int rs_create(void *impl, const struct session_new *s)
{
    struct session_redis *r = impl;
    char info_key[RS_KEY_MAX], created[RS_NUMBER_MAX], max[RS_NUMBER_MAX];
    rs_key(info_key, s->id, RS_INFO_SUFFIX);
    snprintf(created, sizeof created, "%" PRId64, s->created_ms);
    snprintf(max, sizeof max, "%d", r->limits.max_sessions);
    /* The row first, then the place among the live sessions: a crash in
     * between leaves a row nobody knows the id of, never a place taken by
     * nothing. */
    const char *create_args[] = {info_key, s->token_hash, s->source, s->targets, created,
                                 s->key_hash};
    long long answer;
    int rc = rs_eval_int(r, RS_CREATE, 1, create_args, 6, &answer);
    if (rc < 0)
        return rc;
    if (answer == RS_TAKEN)
        return SESSION_ID_TAKEN;
    const char *reserve_args[] = {RS_LIVE_KEY, s->id, created, max};
    rc = rs_eval_int(r, RS_RESERVE, 1, reserve_args, 4, &answer);
    if (rc == 0 && answer == RS_DONE)
        return 0;
    const char *del[] = {"DEL", info_key};
    redisReply *reply;
    if (rs_command(r, 2, del, &reply) == 0)
        freeReplyObject(reply);
    return rc < 0 ? rc : BC_ELIMIT;
}

static int reply_text(const redisReply *reply, size_t i, const char **out)
{
    if (reply->type != REDIS_REPLY_ARRAY || i >= reply->elements ||
        reply->element[i]->type != REDIS_REPLY_STRING)
        return 0;
    *out = reply->element[i]->str;
    return 1;
}

static int rs_get(void *impl, const char *id, struct session_info *info)
{
    struct session_redis *r = impl;
    char key[RS_KEY_MAX];
    rs_key(key, id, RS_INFO_SUFFIX);
    const char *argv[] = {"HMGET",      key,        "source",    "targets",
                          "state",      "created_ms", "ended_ms", "active_ms",
                          "transcript_deleted", "listener_key", "mode"};
    redisReply *reply;
    int rc = rs_command(r, 11, argv, &reply);
    if (rc < 0)
        return rc;
    const char *source, *targets, *state, *created, *ended;
    if (!reply_text(reply, 0, &source) || !reply_text(reply, 1, &targets) ||
        !reply_text(reply, 2, &state) || !reply_text(reply, 3, &created) ||
        !reply_text(reply, 4, &ended)) {
        freeReplyObject(reply);
        return BC_ENOTFOUND;
    }
    memset(info, 0, sizeof *info);
    memcpy(info->id, id, SESSION_ID_LEN + 1);
    snprintf(info->source, sizeof info->source, "%s", source);
    session_parse_targets(targets, info);
    info->state = strcmp(state, "0") ? SESSION_ENDED : SESSION_LIVE;
    info->created_ms = strtoll(created, NULL, 10);
    info->ended_ms = strtoll(ended, NULL, 10);
    const char *active;
    info->active_ms = info->created_ms;
    if (reply_text(reply, 5, &active) && strtoll(active, NULL, 10) > info->created_ms)
        info->active_ms = strtoll(active, NULL, 10);
    const char *deleted;
    info->transcript_deleted = reply_text(reply, 6, &deleted) && strcmp(deleted, "1") == 0;
    const char *key_hash;
    info->is_private = reply_text(reply, 7, &key_hash) && key_hash[0];
    const char *mode;
    if (reply_text(reply, 8, &mode) && strtol(mode, NULL, 10) == SESSION_MODE_SIMULTANEOUS)
        info->mode = SESSION_MODE_SIMULTANEOUS;
    freeReplyObject(reply);
    return 0;
}

/* A hash field of the session: field "token" or "listener_key". A
 * session without a listener_key field (created before there were
 * private sessions) is public: "". */
static int read_hash(struct session_redis *r, const char *id, const char *field,
                     char hash[SESSION_TOKEN_HASH_LEN + 1])
{
    char key[RS_KEY_MAX];
    rs_key(key, id, RS_INFO_SUFFIX);
    const char *argv[] = {"HMGET", key, "token", field};
    redisReply *reply;
    int rc = rs_command(r, 4, argv, &reply);
    if (rc < 0)
        return rc;
    const char *token, *value;
    rc = BC_ENOTFOUND;
    if (reply_text(reply, 0, &token)) {
        snprintf(hash, SESSION_TOKEN_HASH_LEN + 1, "%s", reply_text(reply, 1, &value) ? value : "");
        rc = 0;
    }
    freeReplyObject(reply);
    return rc;
}

static int rs_token_hash(void *impl, const char *id, char hash[SESSION_TOKEN_HASH_LEN + 1])
{
    return read_hash(impl, id, "token", hash);
}

static int rs_key_hash(void *impl, const char *id, char hash[SESSION_TOKEN_HASH_LEN + 1])
{
    return read_hash(impl, id, "listener_key", hash);
}

static int rs_end(void *impl, const char *id, int64_t ended_ms)
{
    struct session_redis *r = impl;
    /* Out of the live set first: should the next step fail, the session
     * stops counting against max_sessions while still live, and a retry
     * finishes the end; the other order could leak a place for good. */
    const char *zrem[] = {"ZREM", RS_LIVE_KEY, id};
    redisReply *reply;
    int rc = rs_command(r, 3, zrem, &reply);
    if (rc < 0)
        return rc;
    freeReplyObject(reply);
    char key[RS_KEY_MAX], listeners[RS_KEY_MAX], langs[RS_KEY_MAX], fence[RS_KEY_MAX];
    char prefix[RS_KEY_MAX], ended[RS_NUMBER_MAX], retention[RS_NUMBER_MAX];
    rs_key(key, id, RS_INFO_SUFFIX);
    rs_key(listeners, id, RS_LISTENERS_SUFFIX);
    rs_key(langs, id, RS_LANGS_SUFFIX);
    rs_key(fence, id, REDIS_FENCE_SUFFIX);
    rs_key(prefix, id, RS_CAPTIONS_PREFIX);
    snprintf(ended, sizeof ended, "%" PRId64, ended_ms);
    snprintf(retention, sizeof retention, "%" PRId64,
             r->limits.retention_ms > 0 ? r->limits.retention_ms : 0);
    const char *args[] = {key, listeners, langs, fence, ended, retention, prefix};
    long long answer;
    rc = rs_eval_int(r, RS_END, 4, args, 7, &answer);
    if (rc < 0)
        return rc;
    return answer == RS_DONE ? 0 : answer == RS_ENDED ? BC_ESTATE : BC_ENOTFOUND;
}

/* Sets one field of a live session's hash. */
static int set_live_field(struct session_redis *r, const char *id, const char *field, int64_t value)
{
    char key[RS_KEY_MAX], text[RS_NUMBER_MAX];
    rs_key(key, id, RS_INFO_SUFFIX);
    snprintf(text, sizeof text, "%" PRId64, value);
    const char *args[] = {key, field, text};
    long long answer;
    int rc = rs_eval_int(r, RS_TOUCH, 1, args, 3, &answer);
    if (rc < 0)
        return rc;
    return answer == RS_DONE ? 0 : answer == RS_ENDED ? BC_ESTATE : BC_ENOTFOUND;
}

static int rs_touch(void *impl, const char *id, int64_t now_ms)
{
    return set_live_field(impl, id, "active_ms", now_ms);
}

static int rs_set_mode(void *impl, const char *id, enum session_mode mode)
{
    return set_live_field(impl, id, "mode", (int64_t)mode);
}

static size_t rs_list_live(void *impl, char (*ids)[SESSION_ID_LEN + 1], size_t max)
{
    struct session_redis *r = impl;
    char last[RS_NUMBER_MAX];
    if (max - 1 > (size_t)LLONG_MAX)
        snprintf(last, sizeof last, "-1"); /* all: Redis reads ranks as signed 64-bit */
    else
        snprintf(last, sizeof last, "%zu", max - 1);
    /* Score order is creation order, ties broken by id as with SQLite. */
    const char *argv[] = {"ZRANGE", RS_LIVE_KEY, "0", last};
    redisReply *reply;
    if (rs_command(r, 4, argv, &reply) < 0)
        return 0;
    size_t n = 0;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements && n < max; i++) {
        const char *id;
        if (reply_text(reply, i, &id) && session_valid_id(id))
            memcpy(ids[n++], id, SESSION_ID_LEN + 1);
    }
    freeReplyObject(reply);
    return n;
}

/* ---- Listeners ---- */

static int rs_listener_join(void *impl, const char *id, const char *lang)
{
    struct session_redis *r = impl;
    char info_key[RS_KEY_MAX], listeners_key[RS_KEY_MAX], max[RS_NUMBER_MAX];
    rs_key(info_key, id, RS_INFO_SUFFIX);
    rs_key(listeners_key, id, RS_LISTENERS_SUFFIX);
    snprintf(max, sizeof max, "%d", r->limits.max_listeners_per_session);
    const char *args[] = {info_key, listeners_key, lang, max};
    long long answer;
    int rc = rs_eval_int(r, RS_JOIN, 2, args, 4, &answer);
    if (rc < 0)
        return rc;
    switch (answer) {
    case RS_DONE: return 0;
    case RS_ENDED: return BC_ESTATE;
    case RS_LIMIT: return BC_ELIMIT;
    default: return BC_ENOTFOUND;
    }
}

static void rs_listener_leave(void *impl, const char *id, const char *lang)
{
    struct session_redis *r = impl;
    char key[RS_KEY_MAX];
    rs_key(key, id, RS_LISTENERS_SUFFIX);
    const char *args[] = {key, lang};
    long long answer;
    if (rs_eval_int(r, RS_LEAVE, 1, args, 2, &answer) < 0)
        bc_warn("session %s: a %s listener's leave was not counted", id, lang);
}

static size_t rs_listener_counts(void *impl, const char *id, char (*langs)[SESSION_LANG_LEN],
                                 int *counts, size_t max)
{
    struct session_redis *r = impl;
    char key[RS_KEY_MAX];
    rs_key(key, id, RS_LISTENERS_SUFFIX);
    const char *argv[] = {"HGETALL", key};
    redisReply *reply;
    if (rs_command(r, 2, argv, &reply) < 0)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i + 1 < reply->elements && n < max; i += 2) {
        const char *lang, *count;
        if (!reply_text(reply, i, &lang) || !reply_text(reply, i + 1, &count) ||
            !session_valid_lang(lang))
            continue;
        long value = strtol(count, NULL, 10);
        if (value <= 0 || value > INT_MAX)
            continue;
        snprintf(langs[n], SESSION_LANG_LEN, "%s", lang);
        counts[n++] = (int)value;
    }
    freeReplyObject(reply);
    return n;
}

/* ---- Catalog ---- */

static int rs_catalog_set(void *impl, const char *json)
{
    struct session_redis *r = impl;
    const char *argv[] = {"SET", RS_CATALOG_KEY, json};
    redisReply *reply;
    int rc = rs_command(r, 3, argv, &reply);
    if (rc == 0)
        freeReplyObject(reply);
    return rc;
}

static int rs_catalog_get(void *impl, char **json)
{
    struct session_redis *r = impl;
    const char *argv[] = {"GET", RS_CATALOG_KEY};
    redisReply *reply;
    int rc = rs_command(r, 2, argv, &reply);
    if (rc < 0)
        return rc;
    rc = BC_ENOTFOUND;
    if (reply->type == REDIS_REPLY_STRING) {
        *json = bc_strndup(reply->str, reply->len);
        rc = 0;
    }
    freeReplyObject(reply);
    return rc;
}

/* Keys expire by themselves (end_lua): nothing to sweep. */
static int rs_purge_ended(void *impl, int64_t ended_before_ms, size_t *n)
{
    (void)impl;
    (void)ended_before_ms;
    *n = 0;
    return 0;
}

static const struct session_ops rs_ops = {
    .name = "redis",
    .create = rs_create,
    .get = rs_get,
    .token_hash = rs_token_hash,
    .key_hash = rs_key_hash,
    .set_mode = rs_set_mode,
    .end = rs_end,
    .touch = rs_touch,
    .list_live = rs_list_live,
    .listener_join = rs_listener_join,
    .listener_leave = rs_listener_leave,
    .listener_counts = rs_listener_counts,
    .add_caption = rs_add_caption,
    .read_captions = rs_read_captions,
    .delete_transcript = rs_delete_transcript,
    .purge_ended = rs_purge_ended,
    .catalog_set = rs_catalog_set,
    .catalog_get = rs_catalog_get,
    .glossary_set = rs_glossary_set,
    .glossary_get = rs_glossary_get,
    .room_set = rs_room_set,
    .room_clear = rs_room_clear,
    .room_get = rs_room_get,
    .shedding_set = rs_shedding_set,
    .shedding_get = rs_shedding_get,
    .close = rs_close,
};

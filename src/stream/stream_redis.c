/* redis://[:password@]host:port[/db]: the ingestion stream in one Redis
 * shared by every gateway (appends) and worker (leases, reads, checkpoints).
 *
 * Keys of session ID (the hash tag {ID} keeps them on one cluster slot):
 *   bc:{ID}:audio     stream; entry id "<seq>-0", fields seq, kind,
 *                     append_ms (Redis clock), end (running total of data
 *                     bytes up to this record), data (binary)
 *   bc:{ID}:seq       last seq given out (INCR)
 *   bc:{ID}:bytes     data bytes appended in all
 *   bc:{ID}:ckpt      hash: seq, state (opaque), bytes (the "end" of seq);
 *                     the backlog is bytes - ckpt.bytes
 *   bc:{ID}:attempts  hash: seq -> failed processing attempts
 *   bc:{ID}:dead      list of JSON {seq, append_ms, error}
 *   bc:{ID}:ended     "1" once the session gets no more records
 *   bc:{ID}:fence     fencing token of the latest lease grant (INCR)
 *   bc:{ID}:lease     owner of the session, PX ttl
 * Global:
 *   bc:stream:pending set of ids not yet ended or not fully processed
 *   bc:stream:appends channel; every append publishes its session id
 * When an ended session is fully processed it leaves the pending set and
 * all its keys but the lease (which has its own ttl) expire after
 * params.retention_ms. The global set and channel make the scripts
 * cross-slot, which a single Redis (or a cluster with one master) accepts.
 *
 * Lease and fencing: lease grants a fresh token from the fence counter; the
 * handle remembers (id -> owner, token) and each checkpoint script compares
 * them with the lease and fence keys, so a worker whose lease expired and
 * was taken over cannot overwrite the new owner's checkpoint. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream_redis_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define SR_COMMAND_TIMEOUT_MS 2000 /* bounds every call while Redis hangs */
#define SR_ERROR_MAX 1024          /* bytes of an error kept with a dead letter */
#define SR_NUM_MAX 24              /* a decimal uint64 and its NUL */
#define SR_INITIAL_LEASES 16

/* ---- leases this handle was granted ---- */

/* Caller holds b->lock. */
static struct sr_lease *lease_find(struct redis_backend *b, const char *id)
{
    for (size_t i = 0; i < b->n_leases; i++)
        if (strcmp(b->leases[i].id, id) == 0)
            return &b->leases[i];
    return NULL;
}

static void lease_remember(struct redis_backend *b, const char *id, const char *owner,
                           uint64_t token)
{
    pthread_mutex_lock(&b->lock);
    struct sr_lease *l = lease_find(b, id);
    if (!l) {
        if (b->n_leases == b->cap_leases) {
            b->cap_leases = b->cap_leases ? 2 * b->cap_leases : SR_INITIAL_LEASES;
            b->leases = bc_realloc(b->leases, b->cap_leases * sizeof(*b->leases));
        }
        l = &b->leases[b->n_leases++];
        snprintf(l->id, sizeof l->id, "%s", id);
    }
    snprintf(l->owner, sizeof l->owner, "%s", owner);
    l->token = token;
    pthread_mutex_unlock(&b->lock);
}

/* Forgets the lease of id (only owner's, unless owner is NULL). */
static void lease_forget(struct redis_backend *b, const char *id, const char *owner)
{
    pthread_mutex_lock(&b->lock);
    struct sr_lease *l = lease_find(b, id);
    if (l && (!owner || strcmp(l->owner, owner) == 0))
        *l = b->leases[--b->n_leases];
    pthread_mutex_unlock(&b->lock);
}

/* Copies the remembered lease of id; 0 when there is none. */
static int lease_lookup(struct redis_backend *b, const char *id, struct sr_lease *out)
{
    pthread_mutex_lock(&b->lock);
    struct sr_lease *l = lease_find(b, id);
    if (l)
        *out = *l;
    pthread_mutex_unlock(&b->lock);
    return l != NULL;
}

/* ---- operations ---- */

static int sr_append(void *impl, const char *id, enum stream_kind kind, const void *data,
                     size_t len, uint64_t *seq_out)
{
    struct redis_backend *b = impl;
    /* A record that can never fit would make the caller retry forever. */
    if (len > b->params.max_backlog_bytes)
        return BC_EINVAL;
    struct sr_keys keys;
    sr_keys_init(id, &keys);
    char kind_s[SR_NUM_MAX], max_s[SR_NUM_MAX];
    snprintf(kind_s, sizeof kind_s, "%u", (unsigned)kind);
    snprintf(max_s, sizeof max_s, "%zu", b->params.max_backlog_bytes);
    const char *argv[] = {id, kind_s, len ? data : "", max_s, SR_APPENDS_CHANNEL};
    size_t lens[] = {strlen(id), strlen(kind_s), len, strlen(max_s), strlen(SR_APPENDS_CHANNEL)};
    redisReply *r;
    int rc = sr_eval(b, SR_SCRIPT_APPEND, &keys, 5, argv, lens, &r);
    if (rc < 0)
        return rc;
    if (sr_status_is(r, "FULL")) {
        rc = BC_EAGAIN;
    } else if (sr_status_is(r, "OK") && sr_reply_u64(r, 1) > 0) {
        *seq_out = sr_reply_u64(r, 1);
    } else {
        bc_error("stream: unexpected append reply %s", r->element[0]->str);
        rc = BC_EIO;
    }
    freeReplyObject(r);
    return rc;
}

/* reply: one stream entry [id, [field, value, ...]]. */
static int entry_to_record(const redisReply *e, struct stream_record **out)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return BC_EFORMAT;
    const redisReply *f = e->element[1];
    const redisReply *data = NULL;
    uint64_t seq = 0, kind = 0, append_ms = 0;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return BC_EFORMAT;
        if (strcmp(k->str, "data") == 0)
            data = v;
        else if (strcmp(k->str, "seq") == 0)
            seq = strtoull(v->str, NULL, 10);
        else if (strcmp(k->str, "kind") == 0)
            kind = strtoull(v->str, NULL, 10);
        else if (strcmp(k->str, "append_ms") == 0)
            append_ms = strtoull(v->str, NULL, 10);
    }
    if (!data || seq == 0)
        return BC_EFORMAT;
    struct stream_record *rec = bc_malloc(sizeof(*rec) + data->len);
    rec->seq = seq;
    rec->kind = (uint32_t)kind;
    rec->append_ms = (int64_t)append_ms;
    rec->len = data->len;
    if (data->len)
        memcpy(rec->data, data->str, data->len);
    *out = rec;
    return 0;
}

static int sr_read(void *impl, const char *id, uint64_t after_seq, struct stream_record **out)
{
    struct redis_backend *b = impl;
    if (after_seq == UINT64_MAX)
        return BC_EAGAIN;
    char key[SR_KEY_MAX], start[SR_NUM_MAX];
    snprintf(key, sizeof key, REDIS_KEY_FMT, id, "audio");
    /* Entry ids are "<seq>-0": the first entry at or after after_seq + 1. */
    snprintf(start, sizeof start, "%" PRIu64, after_seq + 1);
    redisReply *r;
    int rc = redis_conn_commandf(b->conn, &r, "XRANGE %s %s + COUNT 1", key, start);
    if (rc < 0)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY) {
        bc_error("stream: XRANGE %s: %s", key, r->type == REDIS_REPLY_ERROR ? r->str : "?");
        rc = BC_EIO;
    } else if (r->elements == 0) {
        rc = BC_EAGAIN;
    } else if ((rc = entry_to_record(r->element[0], out)) < 0) {
        bc_error("stream: malformed entry in %s", key);
    }
    freeReplyObject(r);
    return rc;
}

static int sr_checkpoint(void *impl, const char *id, uint64_t seq, const void *state,
                         size_t state_len)
{
    struct redis_backend *b = impl;
    struct sr_lease held;
    int leased = lease_lookup(b, id, &held);
    struct sr_keys keys;
    sr_keys_init(id, &keys);
    char seq_s[SR_NUM_MAX], token_s[SR_NUM_MAX], ret_s[SR_NUM_MAX];
    snprintf(seq_s, sizeof seq_s, "%" PRIu64, seq);
    snprintf(token_s, sizeof token_s, "%" PRIu64, leased ? held.token : 0);
    snprintf(ret_s, sizeof ret_s, "%d", b->params.retention_ms);
    const char *owner = leased ? held.owner : "";
    const char *argv[] = {id, seq_s, state_len ? state : "", owner, token_s, ret_s};
    size_t lens[] = {strlen(id),    strlen(seq_s),   state_len,
                     strlen(owner), strlen(token_s), strlen(ret_s)};
    redisReply *r;
    int rc = sr_eval(b, SR_SCRIPT_CHECKPOINT, &keys, 6, argv, lens, &r);
    if (rc < 0)
        return rc;
    if (sr_status_is(r, "FENCED")) {
        bc_warn("stream: checkpoint of session %s refused: its lease is held by another owner", id);
        rc = BC_ESTATE;
    } else if (sr_status_is(r, "BADSEQ")) {
        rc = BC_EINVAL;
    } else if (sr_status_is(r, "DONE")) {
        /* The session is over: nothing left to guard. */
        lease_forget(b, id, NULL);
    } else if (!sr_status_is(r, "OK")) {
        rc = BC_EIO;
    }
    freeReplyObject(r);
    return rc;
}

static int sr_checkpoint_get(void *impl, const char *id, uint64_t *seq, void *state,
                             size_t *state_len)
{
    struct redis_backend *b = impl;
    char key[SR_KEY_MAX];
    snprintf(key, sizeof key, REDIS_KEY_FMT, id, "ckpt");
    redisReply *r;
    int rc = redis_conn_commandf(b->conn, &r, "HMGET %s seq state", key);
    if (rc < 0)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        freeReplyObject(r);
        return BC_EIO;
    }
    const redisReply *s = r->element[0], *st = r->element[1];
    if (seq)
        *seq = s->type == REDIS_REPLY_STRING ? strtoull(s->str, NULL, 10) : 0;
    size_t n = st->type == REDIS_REPLY_STRING ? st->len : 0;
    if (n > STREAM_STATE_MAX)
        n = STREAM_STATE_MAX;
    if (state && n)
        memcpy(state, st->str, n);
    if (state_len)
        *state_len = n;
    freeReplyObject(r);
    return 0;
}

static int sr_record_failed(void *impl, const char *id, uint64_t seq, const char *error)
{
    struct redis_backend *b = impl;
    struct sr_keys keys;
    sr_keys_init(id, &keys);
    char seq_s[SR_NUM_MAX], max_s[SR_NUM_MAX];
    snprintf(seq_s, sizeof seq_s, "%" PRIu64, seq);
    snprintf(max_s, sizeof max_s, "%d", b->params.max_attempts);
    size_t error_len = strnlen(error, SR_ERROR_MAX);
    const char *argv[] = {id, seq_s, error, max_s};
    size_t lens[] = {strlen(id), strlen(seq_s), error_len, strlen(max_s)};
    redisReply *r;
    int rc = sr_eval(b, SR_SCRIPT_RECORD_FAILED, &keys, 4, argv, lens, &r);
    if (rc < 0)
        return rc;
    if (sr_status_is(r, "DEAD"))
        rc = 1;
    else if (sr_status_is(r, "BADSEQ"))
        rc = BC_EINVAL;
    else if (!sr_status_is(r, "RETRY"))
        rc = BC_EIO;
    freeReplyObject(r);
    return rc;
}

static size_t sr_dead_letters(void *impl, const char *id)
{
    struct redis_backend *b = impl;
    char key[SR_KEY_MAX];
    snprintf(key, sizeof key, REDIS_KEY_FMT, id, "dead");
    redisReply *r;
    if (redis_conn_commandf(b->conn, &r, "LLEN %s", key) < 0)
        return 0;
    size_t n = r->type == REDIS_REPLY_INTEGER && r->integer > 0 ? (size_t)r->integer : 0;
    freeReplyObject(r);
    return n;
}

static int sr_audio_bytes(void *impl, const char *id, uint64_t *bytes)
{
    struct redis_backend *b = impl;
    char key[SR_KEY_MAX];
    snprintf(key, sizeof key, REDIS_KEY_FMT, id, "ckpt");
    redisReply *r;
    *bytes = 0;
    if (redis_conn_commandf(b->conn, &r, "HGET %s audio_bytes", key) < 0)
        return BC_EIO;
    int rc = r->type == REDIS_REPLY_ERROR ? BC_EIO : 0;
    if (r->type == REDIS_REPLY_STRING)
        *bytes = strtoull(r->str, NULL, 10);
    freeReplyObject(r);
    return rc;
}

static size_t sr_sessions_pending(void *impl, char (*ids)[STREAM_SESSION_ID_MAX], size_t max)
{
    struct redis_backend *b = impl;
    redisReply *r;
    if (redis_conn_commandf(b->conn, &r, "SMEMBERS %s", SR_PENDING_KEY) < 0)
        return 0;
    size_t n = 0;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements && n < max; i++) {
            const redisReply *e = r->element[i];
            if (e->type == REDIS_REPLY_STRING && stream_id_valid(e->str))
                snprintf(ids[n++], STREAM_SESSION_ID_MAX, "%s", e->str);
        }
    }
    freeReplyObject(r);
    return n;
}

static void sr_session_ended(void *impl, const char *id)
{
    struct redis_backend *b = impl;
    struct sr_keys keys;
    sr_keys_init(id, &keys);
    char ret_s[SR_NUM_MAX];
    snprintf(ret_s, sizeof ret_s, "%d", b->params.retention_ms);
    const char *argv[] = {id, ret_s};
    size_t lens[] = {strlen(id), strlen(ret_s)};
    redisReply *r;
    if (sr_eval(b, SR_SCRIPT_ENDED, &keys, 2, argv, lens, &r) < 0) {
        bc_warn("stream: could not mark session %s ended; it stays pending", id);
        return;
    }
    freeReplyObject(r);
}

static int sr_lease(void *impl, const char *id, const char *owner, int ttl_ms, uint64_t *token)
{
    struct redis_backend *b = impl;
    if (strlen(owner) >= SR_OWNER_MAX)
        return BC_EINVAL;
    struct sr_keys keys;
    sr_keys_init(id, &keys);
    char ttl_s[SR_NUM_MAX];
    snprintf(ttl_s, sizeof ttl_s, "%d", ttl_ms);
    const char *argv[] = {owner, ttl_s};
    size_t lens[] = {strlen(owner), strlen(ttl_s)};
    redisReply *r;
    int rc = sr_eval(b, SR_SCRIPT_LEASE, &keys, 2, argv, lens, &r);
    if (rc < 0)
        return rc;
    if (sr_status_is(r, "NEW") || sr_status_is(r, "RENEW")) {
        *token = sr_reply_u64(r, 1);
        lease_remember(b, id, owner, *token);
    } else if (sr_status_is(r, "BUSY")) {
        /* A lease remembered from before stays: it keeps this handle's
         * checkpoints fenced off until released. */
        rc = BC_ESTATE;
    } else {
        rc = BC_EIO;
    }
    freeReplyObject(r);
    return rc;
}

static int sr_lease_release(void *impl, const char *id, const char *owner)
{
    struct redis_backend *b = impl;
    struct sr_keys keys;
    sr_keys_init(id, &keys);
    const char *argv[] = {owner};
    size_t lens[] = {strlen(owner)};
    redisReply *r;
    int rc = sr_eval(b, SR_SCRIPT_RELEASE, &keys, 1, argv, lens, &r);
    if (rc < 0)
        return rc;
    freeReplyObject(r);
    lease_forget(b, id, owner);
    return 0;
}

static int sr_set_notify(void *impl, stream_notify_cb cb, void *user_data)
{
    struct redis_backend *b = impl;
    pthread_mutex_lock(&b->lock);
    struct sr_notifier *old = b->notifier;
    b->notifier = NULL;
    pthread_mutex_unlock(&b->lock);
    sr_notifier_stop(old);
    if (!cb)
        return 0;
    struct sr_notifier *n = sr_notifier_start(b, cb, user_data);
    pthread_mutex_lock(&b->lock);
    b->notifier = n;
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static void sr_close(void *impl)
{
    struct redis_backend *b = impl;
    if (!b)
        return;
    sr_notifier_stop(b->notifier);
    redis_conn_close(b->conn);
    free(b->leases);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static const struct stream_ops redis_ops = {
    .name = "redis",
    .append = sr_append,
    .read = sr_read,
    .checkpoint = sr_checkpoint,
    .checkpoint_get = sr_checkpoint_get,
    .record_failed = sr_record_failed,
    .dead_letters = sr_dead_letters,
    .audio_bytes = sr_audio_bytes,
    .sessions_pending = sr_sessions_pending,
    .session_ended = sr_session_ended,
    .lease = sr_lease,
    .lease_release = sr_lease_release,
    .set_notify = sr_set_notify,
    .close = sr_close,
};

int stream_redis_backend_open(const char *url, const struct stream_params *params,
                              const struct stream_ops **ops, void **impl)
{
    struct redis_backend *b = bc_calloc(1, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    b->params = *params;
    if (redis_url_parse(url, &b->url) < 0 ||
        redis_conn_open(url, SR_COMMAND_TIMEOUT_MS, &b->conn) < 0) {
        bc_error("stream: bad redis url");
        goto fail;
    }
    *ops = &redis_ops;
    *impl = b;
    return 0;

fail:
    sr_close(b);
    return BC_EINVAL;
}

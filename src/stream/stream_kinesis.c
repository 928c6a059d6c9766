/* kinesis://STREAM?region=R[&endpoint=URL][&limit=N][&poll_ms=N]
 *     [&start=trim_horizon|latest][&lease_ms=N][&max_shards=N][&max_attempts=N]
 * The ingestion stream in an Amazon Kinesis data stream.
 *
 * Gateways append with PutRecord: partition key = session id, and
 * SequenceNumberForOrdering = the sequence number of the session's previous
 * record from this handle, so a session's records keep their order. The
 * data is a small header (kind, append_ms; see KIN_HEADER_BYTES) and the
 * record's bytes. stream_append reports seq 0: a record's number is given
 * by the reader (stream_kinesis_reader.c explains the numbering).
 *
 * Workers own shards, not sessions: once stream_set_notify is given a
 * callback, this handle leases shards (in Redis when params.redis_url is
 * set, else in a journal under params.state_dir for one process), reads
 * each with its own thread and keeps every session's unprocessed records in
 * memory; stream_read, stream_checkpoint and stream_lease of a session are
 * served from there. stream_lease of a session succeeds while this handle
 * holds the session's shard; its token is the session's fencing token for
 * the registry. stream_audio_bytes is a counter kept with the leases and
 * updated after each accepted append. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream/stream_kinesis_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define KIN_SCHEME "kinesis://"
/* Latency first: GetRecords returns what is there (it never waits to fill
 * a batch), so a large limit costs nothing while the stream keeps up and
 * lets a restarted worker catch up in few calls. */
#define KIN_DEFAULT_LIMIT 500
#define KIN_MAX_LIMIT 10000
#define KIN_DEFAULT_POLL_MS 200
#define KIN_DEFAULT_LEASE_MS 3000
#define KIN_MIN_LEASE_MS 300
#define KIN_MAX_OPTION 3600000
/* A gateway waits this long for a throttled append before refusing the
 * audio (the speaker resends it). */
#define KIN_APPEND_WAIT_MS 2000
/* PutRecord takes at most 1 MiB of data and partition key together. */
#define KIN_RECORD_MAX ((size_t)1024 * 1024)

static unsigned hash_id(const char *id)
{
    unsigned h = 5381;
    for (; *id; id++)
        h = h * 33 + (unsigned char)*id;
    return h % KIN_SESSION_BUCKETS;
}

struct kin_session *kin_session_find(struct kin_backend *b, const char *id, int create)
{
    unsigned h = hash_id(id);
    for (struct kin_session *s = b->buckets[h]; s; s = s->hnext)
        if (strcmp(s->id, id) == 0)
            return s;
    if (!create)
        return NULL;
    struct kin_session *s = bc_calloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    s->hnext = b->buckets[h];
    b->buckets[h] = s;
    return s;
}

/* Caller holds b->lock. After its last record the session needs no
 * ordering here; an entry only this appender used goes (a gateway would
 * otherwise keep one per session ever served). */
static void session_forget_appender(struct kin_backend *b, struct kin_session *s)
{
    s->ordering[0] = '\0';
    if (s->shard || s->first || s->lease_owner[0] || s->ckpt_loaded)
        return;
    struct kin_session **p = &b->buckets[hash_id(s->id)];
    while (*p != s)
        p = &(*p)->hnext;
    *p = s->hnext;
    free(s);
}

static int kb_append(void *impl, const char *id, enum stream_kind kind, const void *data,
                     size_t len, uint64_t *seq_out)
{
    struct kin_backend *b = impl;
    if (len + KIN_HEADER_BYTES + strlen(id) > KIN_RECORD_MAX)
        return BC_EINVAL;
    uint8_t *payload = bc_malloc(KIN_HEADER_BYTES + len);
    kin_record_header(kind, bc_wall_ms(), payload);
    if (len)
        memcpy(payload + KIN_HEADER_BYTES, data, len);
    char ordering[KIN_SEQNUM_MAX], seqnum[KIN_SEQNUM_MAX];
    pthread_mutex_lock(&b->lock);
    snprintf(ordering, sizeof ordering, "%s", kin_session_find(b, id, 1)->ordering);
    pthread_mutex_unlock(&b->lock);
    int rc = kin_put_record(b->api, id, payload, KIN_HEADER_BYTES + len, ordering,
                            KIN_APPEND_WAIT_MS, seqnum);
    free(payload);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&b->lock);
    struct kin_session *s = kin_session_find(b, id, 1);
    if (kin_seqnum_cmp(seqnum, s->ordering) > 0)
        snprintf(s->ordering, sizeof s->ordering, "%s", seqnum);
    if (kind == STREAM_KIND_SESSION_END)
        session_forget_appender(b, s);
    pthread_mutex_unlock(&b->lock);
    /* The record is in the stream: a failed count only makes a reconnecting
     * speaker resend some audio (at least once, never lost). */
    if (kind == STREAM_KIND_AUDIO && b->store->add_bytes(b->store_impl, id, len) < 0)
        bc_warn("stream: session %s: audio byte count not updated", id);
    *seq_out = 0;
    return 0;
}

static int kb_read(void *impl, const char *id, uint64_t after_seq, struct stream_record **out)
{
    struct kin_backend *b = impl;
    int rc = BC_EAGAIN;
    pthread_mutex_lock(&b->lock);
    const struct kin_session *s = kin_session_find(b, id, 0);
    for (const struct kin_rec *r = s ? s->first : NULL; r; r = r->sess_next) {
        if (r->seq > after_seq && r->rec) {
            size_t size = sizeof *r->rec + r->rec->len;
            *out = bc_malloc(size);
            memcpy(*out, r->rec, size);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int kb_checkpoint(void *impl, const char *id, uint64_t seq, const void *state,
                         size_t state_len)
{
    struct kin_backend *b = impl;
    pthread_mutex_lock(&b->lock);
    const struct kin_session *s = kin_session_find(b, id, 0);
    struct kin_shard *sh = s ? s->shard : NULL;
    pthread_mutex_unlock(&b->lock);
    if (!sh)
        return BC_ESTATE; /* its shard is not (or no longer) read here */
    return kin_shard_commit(b, sh, id, seq, state, state_len);
}

static int kb_checkpoint_get(void *impl, const char *id, uint64_t *seq, void *state,
                             size_t *state_len)
{
    struct kin_backend *b = impl;
    uint64_t got_seq = 0;
    uint8_t got[STREAM_STATE_MAX];
    size_t got_len = 0;
    pthread_mutex_lock(&b->lock);
    const struct kin_session *s = kin_session_find(b, id, 0);
    int cached = s && s->ckpt_loaded;
    if (cached) {
        got_seq = s->ckpt;
        got_len = s->state_len;
        memcpy(got, s->state, got_len);
    }
    pthread_mutex_unlock(&b->lock);
    if (!cached) {
        int rc = b->store->session_get(b->store_impl, id, &got_seq, got, &got_len);
        if (rc < 0)
            return rc;
    }
    if (seq)
        *seq = got_seq;
    if (state && got_len)
        memcpy(state, got, got_len);
    if (state_len)
        *state_len = got_len;
    return 0;
}

static int kb_record_failed(void *impl, const char *id, uint64_t seq, const char *error)
{
    struct kin_backend *b = impl;
    pthread_mutex_lock(&b->lock);
    struct kin_session *s = kin_session_find(b, id, 0);
    if (!s || seq <= s->ckpt || seq > s->count) {
        pthread_mutex_unlock(&b->lock);
        return BC_EINVAL;
    }
    if (s->attempt_seq != seq) {
        s->attempt_seq = seq;
        s->attempts = 0;
    }
    int dead = ++s->attempts >= b->params.max_attempts;
    int64_t append_ms = 0;
    for (const struct kin_rec *r = s->first; r; r = r->sess_next)
        if (r->seq == seq && r->rec)
            append_ms = r->rec->append_ms;
    pthread_mutex_unlock(&b->lock);
    if (!dead)
        return 0;
    int rc = b->store->dead_letter(b->store_impl, id, seq, append_ms, error);
    return rc < 0 ? rc : 1;
}

static size_t kb_dead_letters(void *impl, const char *id)
{
    struct kin_backend *b = impl;
    return b->store->dead_count(b->store_impl, id);
}

static int kb_audio_bytes(void *impl, const char *id, uint64_t *bytes)
{
    struct kin_backend *b = impl;
    return b->store->bytes(b->store_impl, id, bytes);
}

static size_t kb_sessions_pending(void *impl, char (*ids)[STREAM_SESSION_ID_MAX], size_t max)
{
    struct kin_backend *b = impl;
    size_t n = 0;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < KIN_SESSION_BUCKETS && n < max; i++)
        for (const struct kin_session *s = b->buckets[i]; s && n < max; s = s->hnext)
            if (s->first && s->shard && kin_shard_held(s->shard))
                snprintf(ids[n++], STREAM_SESSION_ID_MAX, "%s", s->id);
    pthread_mutex_unlock(&b->lock);
    return n;
}

static void kb_session_ended(void *impl, const char *id)
{
    struct kin_backend *b = impl;
    b->store->ended(b->store_impl, id, b->params.retention_ms);
}

static int kb_lease(void *impl, const char *id, const char *owner, int ttl_ms, uint64_t *token)
{
    struct kin_backend *b = impl;
    if (strlen(owner) >= KIN_OWNER_MAX)
        return BC_EINVAL;
    pthread_mutex_lock(&b->lock);
    struct kin_session *s = kin_session_find(b, id, 0);
    int rc = 0;
    if (!s || !s->shard || !kin_shard_held(s->shard) ||
        (s->lease_owner[0] && strcmp(s->lease_owner, owner) != 0))
        rc = BC_ESTATE;
    else if (s->lease_owner[0])
        *token = s->lease_token;
    const struct kin_shard *sh = s ? s->shard : NULL;
    int grant = rc == 0 && !s->lease_owner[0];
    pthread_mutex_unlock(&b->lock);
    if (!grant)
        return rc;
    uint64_t fence;
    if ((rc = b->store->session_fence(b->store_impl, id, &fence)) < 0)
        return rc;
    pthread_mutex_lock(&b->lock);
    s = kin_session_find(b, id, 0);
    if (!s || s->shard != sh || !kin_shard_held(sh) || s->lease_owner[0]) {
        rc = BC_ESTATE;
    } else {
        snprintf(s->lease_owner, sizeof s->lease_owner, "%s", owner);
        s->lease_token = fence;
        *token = fence;
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int kb_lease_release(void *impl, const char *id, const char *owner)
{
    struct kin_backend *b = impl;
    pthread_mutex_lock(&b->lock);
    struct kin_session *s = kin_session_find(b, id, 0);
    if (s && strcmp(s->lease_owner, owner) == 0)
        s->lease_owner[0] = '\0';
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static int kb_set_notify(void *impl, stream_notify_cb cb, void *user_data)
{
    struct kin_backend *b = impl;
    pthread_mutex_lock(&b->notify_lock);
    b->notify = cb;
    b->notify_data = user_data;
    pthread_mutex_unlock(&b->notify_lock);
    /* The first consumer starts reading; readers stay until close, so a
     * stopping worker's unfinished records are handed over at close. */
    if (cb && kin_coordinator_start(b) < 0)
        bc_error("stream: cannot start the kinesis shard coordinator");
    return 0;
}

static void kb_close(void *impl)
{
    struct kin_backend *b = impl;
    if (!b)
        return;
    kin_coordinator_stop(b);
    for (size_t i = 0; i < b->n_shards; i++) {
        pthread_mutex_destroy(&b->shards[i]->commit_lock);
        free(b->shards[i]->start_counts);
        free(b->shards[i]->dirty);
        free(b->shards[i]);
    }
    free(b->shards);
    for (size_t i = 0; i < KIN_SESSION_BUCKETS; i++) {
        while (b->buckets[i]) {
            struct kin_session *s = b->buckets[i];
            b->buckets[i] = s->hnext;
            free(s);
        }
    }
    if (b->store)
        b->store->close(b->store_impl);
    kin_api_free(b->api);
    pthread_cond_destroy(&b->wake);
    pthread_mutex_destroy(&b->lock);
    pthread_mutex_destroy(&b->notify_lock);
    free(b);
}

static const struct stream_ops kinesis_ops = {
    .name = "kinesis",
    .append = kb_append,
    .read = kb_read,
    .checkpoint = kb_checkpoint,
    .checkpoint_get = kb_checkpoint_get,
    .record_failed = kb_record_failed,
    .dead_letters = kb_dead_letters,
    .audio_bytes = kb_audio_bytes,
    .sessions_pending = kb_sessions_pending,
    .session_ended = kb_session_ended,
    .lease = kb_lease,
    .lease_release = kb_lease_release,
    .set_notify = kb_set_notify,
    .close = kb_close,
};

/* An integer option in [min, max]; absent: def. */
static int int_option(const struct aws_url *u, const char *name, int min, int max, int def,
                      int *out)
{
    const char *v = aws_url_param(u, name);
    *out = def;
    if (!v)
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < min || n > max) {
        bc_error("stream: kinesis:// option %s=%s: want an integer in %d..%d", name, v, min, max);
        return BC_EINVAL;
    }
    *out = (int)n;
    return 0;
}

static int parse_options(const struct aws_url *u, struct kin_options *o)
{
    if (int_option(u, "limit", 1, KIN_MAX_LIMIT, KIN_DEFAULT_LIMIT, &o->limit) < 0 ||
        int_option(u, "poll_ms", 1, KIN_MAX_OPTION, KIN_DEFAULT_POLL_MS, &o->poll_ms) < 0 ||
        int_option(u, "lease_ms", KIN_MIN_LEASE_MS, KIN_MAX_OPTION, KIN_DEFAULT_LEASE_MS,
                   &o->lease_ms) < 0 ||
        int_option(u, "max_shards", 0, KIN_MAX_OPTION, 0, &o->max_shards) < 0)
        return BC_EINVAL;
    const char *start = aws_url_param(u, "start");
    if (start && strcmp(start, "latest") != 0 && strcmp(start, "trim_horizon") != 0) {
        bc_error("stream: kinesis:// option start=%s: want trim_horizon or latest", start);
        return BC_EINVAL;
    }
    o->start_latest = start && strcmp(start, "latest") == 0;
    return 0;
}

/* A stream that does not exist is a set-up error, said at start rather
 * than in every later call's log line. Anything else (no permission to
 * list shards, as a gateway needs none; Kinesis unreachable for now) is
 * left to the calls that need the stream. */
static int check_stream_exists(struct kin_api *api, const struct aws_url *u)
{
    struct kin_shard_info *shards = NULL;
    size_t n = 0;
    int rc = kin_list_shards(api, &shards, &n);
    free(shards);
    if (rc == BC_ENOTFOUND) {
        bc_error("stream: Kinesis stream '%s' not found in region %s: create it first (see "
                 "the README, \"On AWS\")", u->path, u->region);
        return rc;
    }
    return 0;
}

int stream_kinesis_backend_open(const char *url, const struct stream_params *params,
                                const struct stream_ops **ops, void **impl)
{
    static const char *const extra[] = {"limit",      "poll_ms",      "start", "lease_ms",
                                        "max_shards", "max_attempts", NULL};
    struct aws_url u;
    int rc = aws_url_parse(url, KIN_SCHEME, extra, &u);
    if (rc < 0)
        return rc;
    struct kin_backend *b = bc_calloc(1, sizeof *b);
    pthread_mutex_init(&b->lock, NULL);
    pthread_mutex_init(&b->notify_lock, NULL);
    bc_cond_init_monotonic(&b->wake);
    b->params = *params;
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(b->owner, sizeof b->owner, "%s:%ld:%p", host, (long)getpid(), (void *)b);
    if ((rc = parse_options(&u, &b->opt)) < 0 ||
        (rc = int_option(&u, "max_attempts", 1, KIN_MAX_OPTION, params->max_attempts,
                         &b->params.max_attempts)) < 0)
        goto fail;
    if (!params->redis_url && !params->state_dir) {
        bc_error("stream: kinesis:// keeps its leases and checkpoints in Redis (--redis) or in "
                 "the data directory; neither was given");
        rc = BC_EINVAL;
        goto fail;
    }
    if ((rc = kin_api_new(&u, &b->api)) < 0 || (rc = check_stream_exists(b->api, &u)) < 0)
        goto fail;
    if (params->redis_url)
        rc = kin_store_redis_open(params->redis_url, u.path, &b->store, &b->store_impl);
    else
        rc = kin_store_local_open(params->state_dir, u.path, &b->store, &b->store_impl);
    if (rc < 0)
        goto fail;
    aws_url_release(&u);
    *ops = &kinesis_ops;
    *impl = b;
    return 0;
fail:
    aws_url_release(&u);
    kb_close(b);
    return rc;
}

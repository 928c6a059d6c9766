/* kinesis:// shard readers: a thread per leased shard reads it in order and
 * hands each record to its session's in-memory list; commits move the
 * shard's checkpoint over the processed prefix. (The coordinator, in
 * stream_kinesis_shard.c, leases the shards and starts the readers.)
 *
 * Numbering. A session's records are numbered 1, 2, ... in shard order by
 * the reader. The shard's checkpoint stores, with its position, each
 * session's count of records up to that position, so a reader that starts
 * again from the checkpoint (after a restart or on another worker) numbers
 * every later record exactly as before, and a session's own checkpoint
 * (seq) keeps meaning the same records. A child shard (after a split or
 * merge) starts from the counts its parents ended with; it is leased only
 * once every parent is done (read to its end and fully processed), so a
 * session's records reach its pipeline in order across a reshard.
 *
 * The shard's checkpoint never passes a record that is not processed: it
 * is the position of the last record of the prefix whose records are all
 * processed (checkpointed by their session, or dead-lettered and passed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stream/stream_kinesis_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define KIN_MIN_CALL_INTERVAL_MS 200            /* GetRecords: 5 calls per second per shard */
#define KIN_HEADER_VERSION 1

int kin_sleep(struct kin_backend *b, int ms)
{
    if (b->stopping)
        return 1;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ns = until.tv_nsec + (int64_t)ms * 1000000;
    until.tv_sec += ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&b->wake, &b->lock, &until);
    return b->stopping;
}

int kin_shard_held(const struct kin_shard *sh)
{
    return sh->state == KIN_SHARD_HELD && !sh->lost;
}

/* ---- the processed prefix and commits ---------------------------------- */

/* Caller holds b->lock. */
static void add_dirty(struct kin_shard *sh, const struct kin_session *s, uint64_t n)
{
    for (size_t i = 0; i < sh->n_dirty; i++) {
        if (strcmp(sh->dirty[i].id, s->id) == 0) {
            sh->dirty[i].n = n;
            return;
        }
    }
    if (sh->n_dirty == sh->cap_dirty) {
        sh->cap_dirty = sh->cap_dirty ? 2 * sh->cap_dirty : 16;
        sh->dirty = bc_realloc(sh->dirty, sh->cap_dirty * sizeof *sh->dirty);
    }
    snprintf(sh->dirty[sh->n_dirty].id, STREAM_SESSION_ID_MAX, "%s", s->id);
    sh->dirty[sh->n_dirty++].n = n;
}

static void rec_drop_data(struct kin_shard *sh, struct kin_rec *r)
{
    r->processed = 1;
    sh->pending_bytes -= r->len;
    r->len = 0;
    free(r->rec);
    r->rec = NULL;
}

/* Caller holds b->lock: pops the processed prefix. */
static void advance(struct kin_shard *sh)
{
    while (sh->head && sh->head->processed) {
        struct kin_rec *r = sh->head;
        sh->head = r->next;
        if (!sh->head)
            sh->tail = NULL;
        if (r->sess)
            add_dirty(sh, r->sess, r->seq);
        snprintf(sh->mem_pos, sizeof sh->mem_pos, "%s", r->seqnum);
        free(r);
    }
    if (sh->at_end && !sh->head)
        sh->done = 1;
}

int kin_shard_commit(struct kin_backend *b, struct kin_shard *sh, const char *id, uint64_t seq,
                     const void *state, size_t state_len)
{
    pthread_mutex_lock(&sh->commit_lock);
    pthread_mutex_lock(&b->lock);
    int rc = 0;
    struct kin_session *sess = id ? kin_session_find(b, id, 0) : NULL;
    if (!kin_shard_held(sh) || (id && (!sess || sess->shard != sh))) {
        rc = BC_ESTATE;
    } else if (sess && (seq < sess->ckpt || seq > sess->count)) {
        rc = BC_EINVAL;
    } else if (sess) {
        while (sess->first && sess->first->seq <= seq) {
            struct kin_rec *r = sess->first;
            sess->first = r->sess_next;
            rec_drop_data(sh, r);
        }
        if (!sess->first)
            sess->last = NULL;
        sess->ckpt = seq;
        sess->state_len = state_len;
        if (state_len)
            memcpy(sess->state, state, state_len);
    }
    if (rc < 0) {
        pthread_mutex_unlock(&b->lock);
        pthread_mutex_unlock(&sh->commit_lock);
        return rc;
    }
    advance(sh);
    int moved = strcmp(sh->mem_pos, sh->pos) != 0 || (sh->done && !sh->done_stored);
    struct kin_commit c = {.shard = sh->id,
                           .owner = b->owner,
                           .token = sh->token,
                           .id = id,
                           .seq = seq,
                           .state = state,
                           .state_len = state_len,
                           .pos = moved ? bc_strdup(sh->mem_pos) : NULL,
                           .done = sh->done};
    struct kin_count *counts = NULL;
    if (moved && sh->n_dirty) {
        counts = bc_malloc(sh->n_dirty * sizeof *counts);
        memcpy(counts, sh->dirty, sh->n_dirty * sizeof *counts);
        c.counts = counts;
        c.n_counts = sh->n_dirty;
    }
    pthread_mutex_unlock(&b->lock);
    if (c.id || c.pos)
        rc = b->store->commit(b->store_impl, &c);
    pthread_mutex_lock(&b->lock);
    if (rc == 0 && c.pos) {
        snprintf(sh->pos, sizeof sh->pos, "%s", c.pos);
        sh->done_stored = c.done;
        /* Counts that changed again meanwhile stay for the next commit
         * (commits of a shard are serialized, so only advance() adds). */
        size_t kept = 0;
        for (size_t i = 0; i < sh->n_dirty; i++) {
            int stored = 0;
            for (size_t j = 0; j < c.n_counts; j++)
                stored |= strcmp(counts[j].id, sh->dirty[i].id) == 0 && counts[j].n == sh->dirty[i].n;
            if (!stored)
                sh->dirty[kept++] = sh->dirty[i];
        }
        sh->n_dirty = kept;
    } else if (rc == BC_ESTATE) {
        bc_warn("stream: shard %s: lease lost to another owner", sh->id);
        sh->lost = 1;
        pthread_cond_broadcast(&b->wake);
    }
    pthread_mutex_unlock(&b->lock);
    pthread_mutex_unlock(&sh->commit_lock);
    free((char *)c.pos);
    free(counts);
    return rc;
}

/* ---- the reader ----------------------------------------------------------- */

static uint64_t start_count(const struct kin_shard *sh, const char *id)
{
    for (size_t i = 0; i < sh->n_start_counts; i++)
        if (strcmp(sh->start_counts[i].id, id) == 0)
            return sh->start_counts[i].n;
    return 0;
}

/* The session of a record, with its checkpoint loaded (the store is read
 * without b->lock). Caller holds b->lock; returns holding it, or NULL when
 * the store cannot be read (the batch is read again). */
static struct kin_session *session_for(struct kin_backend *b, const char *id)
{
    struct kin_session *s = kin_session_find(b, id, 1);
    if (s->ckpt_loaded)
        return s;
    uint64_t seq = 0;
    uint8_t state[STREAM_STATE_MAX];
    size_t state_len = 0;
    pthread_mutex_unlock(&b->lock);
    int rc = b->store->session_get(b->store_impl, id, &seq, state, &state_len);
    pthread_mutex_lock(&b->lock);
    s = kin_session_find(b, id, 1);
    if (rc < 0)
        return NULL;
    if (!s->ckpt_loaded) {
        s->ckpt_loaded = 1;
        s->ckpt = seq;
        s->state_len = state_len;
        memcpy(s->state, state, state_len);
    }
    return s;
}

/* Caller holds b->lock. Returns 1 when the record is for a session that
 * now has unprocessed records, 0 when it is processed already or not one
 * of ours, BC_EIO when its session's checkpoint cannot be read. */
static int ingest(struct kin_backend *b, struct kin_shard *sh, struct kin_record *kr)
{
    struct kin_rec *r = bc_calloc(1, sizeof *r);
    snprintf(r->seqnum, sizeof r->seqnum, "%s", kr->seqnum);
    int fresh = 0;
    uint32_t kind;
    int64_t append_ms;
    if (kr->key[0] && kin_record_header_parse(kr->data, kr->len, &kind, &append_ms) == 0) {
        struct kin_session *s = session_for(b, kr->key);
        if (!s) {
            free(r);
            return BC_EIO;
        }
        if (s->shard != sh) {
            s->shard = sh;
            s->count = start_count(sh, s->id);
        }
        r->sess = s;
        r->seq = ++s->count;
        if (r->seq > s->ckpt) {
            size_t len = kr->len - KIN_HEADER_BYTES;
            struct stream_record *rec = bc_malloc(sizeof *rec + len);
            rec->seq = r->seq;
            rec->kind = kind;
            rec->append_ms = append_ms;
            rec->len = len;
            memcpy(rec->data, kr->data + KIN_HEADER_BYTES, len);
            r->rec = rec;
            r->len = len;
            sh->pending_bytes += len;
            if (s->last)
                s->last->sess_next = r;
            else
                s->first = r;
            s->last = r;
            fresh = 1;
        }
    }
    r->processed = r->rec == NULL;
    if (sh->tail)
        sh->tail->next = r;
    else
        sh->head = r;
    sh->tail = r;
    snprintf(sh->read_pos, sizeof sh->read_pos, "%s", kr->seqnum);
    return fresh;
}

void kin_record_header(enum stream_kind kind, int64_t append_ms, uint8_t out[KIN_HEADER_BYTES])
{
    out[0] = KIN_HEADER_VERSION;
    out[1] = (uint8_t)kind;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)((uint64_t)append_ms >> (8 * (7 - i)));
}

int kin_record_header_parse(const uint8_t *data, size_t len, uint32_t *kind, int64_t *append_ms)
{
    if (!data || len < KIN_HEADER_BYTES || data[0] != KIN_HEADER_VERSION)
        return BC_EFORMAT;
    /* Unsigned: a negative time has its top bit set, which a signed shift
     * may not move. */
    uint64_t ms = 0;
    for (int i = 0; i < 8; i++)
        ms = (ms << 8) | data[2 + i];
    *kind = data[1];
    *append_ms = (int64_t)ms;
    return 0;
}

static void notify_sessions(struct kin_backend *b, char (*ids)[STREAM_SESSION_ID_MAX], size_t n)
{
    pthread_mutex_lock(&b->notify_lock);
    for (size_t i = 0; i < n && b->notify; i++)
        b->notify(b->notify_data, ids[i]);
    pthread_mutex_unlock(&b->notify_lock);
}

/* Caller holds b->lock. Reads one batch; returns how long to wait before
 * the next, in ms. */
static int read_batch(struct kin_backend *b, struct kin_shard *sh, char **iterator)
{
    const char *type = b->opt.start_latest ? "LATEST" : "TRIM_HORIZON";
    char after[KIN_SEQNUM_MAX];
    snprintf(after, sizeof after, "%s", sh->read_pos[0] ? sh->read_pos : sh->pos);
    pthread_mutex_unlock(&b->lock);
    int rc = 0;
    if (!*iterator)
        rc = kin_shard_iterator(b->api, sh->id, type, after, iterator);
    struct kin_record *recs = NULL;
    size_t n = 0;
    char *next = NULL;
    if (rc == 0)
        rc = kin_get_records(b->api, *iterator, b->opt.limit, &recs, &n, &next);
    pthread_mutex_lock(&b->lock);
    if (rc < 0) {
        free(*iterator);
        *iterator = NULL; /* expired, or the call failed: a new one from read_pos */
        return b->opt.poll_ms;
    }
    char (*ids)[STREAM_SESSION_ID_MAX] = bc_malloc((n + 1) * sizeof *ids);
    size_t n_ids = 0;
    size_t i = 0;
    for (; i < n && !sh->lost; i++) {
        int fresh = ingest(b, sh, &recs[i]);
        if (fresh < 0)
            break;
        if (fresh && (n_ids == 0 || strcmp(ids[n_ids - 1], recs[i].key) != 0))
            snprintf(ids[n_ids++], STREAM_SESSION_ID_MAX, "%s", recs[i].key);
    }
    free(*iterator);
    *iterator = NULL;
    if (i == n && !sh->lost) {
        *iterator = next;
        next = NULL;
        sh->at_end = *iterator == NULL;
    }
    free(next);
    kin_records_free(recs, n);
    pthread_mutex_unlock(&b->lock);
    notify_sessions(b, ids, n_ids);
    free(ids);
    /* Records passed over (another process's, or processed before a
     * restart) and the shard's end move the checkpoint without a session. */
    kin_shard_commit(b, sh, NULL, 0, NULL, 0);
    pthread_mutex_lock(&b->lock);
    return n >= (size_t)b->opt.limit ? KIN_MIN_CALL_INTERVAL_MS : b->opt.poll_ms;
}

void *kin_reader_main(void *arg)
{
    struct kin_shard *sh = arg;
    struct kin_backend *b = sh->backend;
    char *iterator = NULL;
    pthread_mutex_lock(&b->lock);
    while (!b->stopping && !sh->lost && !sh->done) {
        int wait_ms = b->opt.poll_ms;
        if (sh->pending_bytes < b->params.max_backlog_bytes && !sh->at_end)
            wait_ms = read_batch(b, sh, &iterator);
        if (!sh->done)
            kin_sleep(b, wait_ms);
    }
    sh->reader_exited = 1;
    pthread_cond_broadcast(&b->wake);
    pthread_mutex_unlock(&b->lock);
    free(iterator);
    return NULL;
}


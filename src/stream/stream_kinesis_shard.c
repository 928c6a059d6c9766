/* kinesis:// shard coordinator: one thread per handle that consumes the
 * stream lists the shards (again every KIN_LIST_INTERVAL_US, to find the
 * children of a reshard), leases free shards whose parents are done,
 * renews the leases it holds every lease_ms / 3 and starts a reader for
 * each (stream_kinesis_reader.c). A shard whose lease went to another
 * owner, or that is done, is stopped and its sessions forgotten here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream_kinesis_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define KIN_LIST_INTERVAL_US (10 * 1000 * 1000) /* new shards appear after a reshard */

/* Caller holds b->lock. */
static struct kin_shard *shard_find(struct kin_backend *b, const char *id)
{
    for (size_t i = 0; i < b->n_shards; i++)
        if (strcmp(b->shards[i]->id, id) == 0)
            return b->shards[i];
    return NULL;
}

static struct kin_shard *shard_new(struct kin_backend *b, const struct kin_shard_info *info)
{
    struct kin_shard *sh = bc_calloc(1, sizeof *sh);
    sh->backend = b;
    snprintf(sh->id, sizeof sh->id, "%s", info->id);
    snprintf(sh->parent, sizeof sh->parent, "%s", info->parent);
    snprintf(sh->adjacent, sizeof sh->adjacent, "%s", info->adjacent);
    pthread_mutex_init(&sh->commit_lock, NULL);
    return sh;
}

/* Returns 0 or the listing's error. */
static int list_shards(struct kin_backend *b)
{
    struct kin_shard_info *infos;
    size_t n;
    int rc = kin_list_shards(b->api, &infos, &n);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < n; i++) {
        if (shard_find(b, infos[i].id))
            continue;
        b->shards = bc_realloc(b->shards, (b->n_shards + 1) * sizeof *b->shards);
        b->shards[b->n_shards++] = shard_new(b, &infos[i]);
    }
    pthread_mutex_unlock(&b->lock);
    free(infos);
    return 0;
}

/* A parent is done when its stored checkpoint says so, or when the stream
 * no longer lists it (trimmed after the retention). */
static int parent_done(struct kin_backend *b, const char *id)
{
    if (!id[0])
        return 1;
    pthread_mutex_lock(&b->lock);
    struct kin_shard *p = shard_find(b, id);
    int done = !p || p->state == KIN_SHARD_DONE;
    pthread_mutex_unlock(&b->lock);
    return done;
}

/* Merges counts into the shard's start counts (the larger wins). */
static void merge_counts(struct kin_shard *sh, const struct kin_count *counts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < sh->n_start_counts && strcmp(sh->start_counts[j].id, counts[i].id) != 0)
            j++;
        if (j == sh->n_start_counts) {
            sh->start_counts =
                bc_realloc(sh->start_counts, (sh->n_start_counts + 1) * sizeof *sh->start_counts);
            sh->start_counts[sh->n_start_counts++] = counts[i];
        } else if (counts[i].n > sh->start_counts[j].n) {
            sh->start_counts[j].n = counts[i].n;
        }
    }
}

/* The shard's stored state (and its parents' final counts when it has no
 * checkpoint yet). Returns 1 when it is done already, 0, or BC_EIO. */
static int load_shard(struct kin_backend *b, struct kin_shard *sh)
{
    struct kin_shard_state st;
    if (b->store->shard_get(b->store_impl, sh->id, &st) < 0)
        return BC_EIO;
    int rc = st.done;
    free(sh->start_counts);
    sh->start_counts = NULL;
    sh->n_start_counts = 0;
    merge_counts(sh, st.counts, st.n_counts);
    snprintf(sh->pos, sizeof sh->pos, "%s", st.pos);
    free(st.counts);
    const char *parents[] = {sh->parent, sh->adjacent};
    for (int i = 0; i < 2 && !sh->pos[0] && rc == 0; i++) {
        if (!parents[i][0])
            continue;
        if (b->store->shard_get(b->store_impl, parents[i], &st) < 0)
            return BC_EIO;
        merge_counts(sh, st.counts, st.n_counts);
        free(st.counts);
    }
    return rc;
}

/* Caller holds b->lock. Forgets what the shard's reader gathered: sessions
 * lose their records and leases here (another owner has them now). */
static void shard_reset(struct kin_backend *b, struct kin_shard *sh)
{
    while (sh->head) {
        struct kin_rec *r = sh->head;
        sh->head = r->next;
        free(r->rec);
        free(r);
    }
    sh->tail = NULL;
    sh->pending_bytes = 0;
    for (size_t i = 0; i < KIN_SESSION_BUCKETS; i++) {
        for (struct kin_session *s = b->buckets[i]; s; s = s->hnext) {
            if (s->shard != sh)
                continue;
            s->shard = NULL;
            s->first = s->last = NULL;
            s->lease_owner[0] = '\0';
            s->ckpt_loaded = 0;
        }
    }
    sh->n_dirty = 0;
    sh->read_pos[0] = sh->mem_pos[0] = '\0';
    sh->at_end = sh->done = sh->done_stored = 0;
}

/* Caller holds b->lock; returns holding it. Joins the shard's reader. */
static void shard_stop(struct kin_backend *b, struct kin_shard *sh)
{
    sh->lost = 1;
    pthread_cond_broadcast(&b->wake);
    if (sh->reader_started) {
        pthread_mutex_unlock(&b->lock);
        pthread_join(sh->reader, NULL);
        pthread_mutex_lock(&b->lock);
        sh->reader_started = 0;
    }
}

static void try_lease(struct kin_backend *b, struct kin_shard *sh)
{
    if (!parent_done(b, sh->parent) || !parent_done(b, sh->adjacent))
        return;
    uint64_t token;
    if (b->store->lease(b->store_impl, sh->id, b->owner, b->opt.lease_ms, &token) < 0) {
        /* Held elsewhere: still, a done shard is done for everyone. */
        struct kin_shard_state st;
        if (b->store->shard_get(b->store_impl, sh->id, &st) == 0) {
            free(st.counts);
            if (st.done) {
                pthread_mutex_lock(&b->lock);
                sh->state = KIN_SHARD_DONE;
                pthread_mutex_unlock(&b->lock);
            }
        }
        return;
    }
    int64_t granted_us = bc_now_us();
    pthread_mutex_lock(&b->lock);
    shard_reset(b, sh);
    int loaded = load_shard(b, sh);
    if (loaded != 0) {
        if (loaded == 1)
            sh->state = KIN_SHARD_DONE;
        pthread_mutex_unlock(&b->lock);
        b->store->release(b->store_impl, sh->id, b->owner);
        return;
    }
    sh->token = token;
    sh->valid_until_us = granted_us + (int64_t)b->opt.lease_ms * 1000;
    sh->lost = 0;
    sh->reader_exited = 0;
    sh->state = KIN_SHARD_HELD;
    if (pthread_create(&sh->reader, NULL, kin_reader_main, sh) == 0) {
        sh->reader_started = 1;
        bc_info("stream: shard %s leased (token %llu), reading after %s", sh->id,
                (unsigned long long)token, sh->pos[0] ? sh->pos : "the start");
    } else {
        sh->state = KIN_SHARD_FREE;
    }
    pthread_mutex_unlock(&b->lock);
}

/* Renews a held lease; drops the shard when it is lost or done. */
static void tend_held(struct kin_backend *b, struct kin_shard *sh)
{
    pthread_mutex_lock(&b->lock);
    int done = sh->done && sh->done_stored && sh->reader_exited;
    int lost = sh->lost;
    pthread_mutex_unlock(&b->lock);
    uint64_t token = 0;
    int64_t asked_us = bc_now_us();
    int rc = done || lost ? BC_ESTATE
                          : b->store->lease(b->store_impl, sh->id, b->owner, b->opt.lease_ms, &token);
    pthread_mutex_lock(&b->lock);
    if (rc == 0 && token == sh->token) {
        sh->valid_until_us = asked_us + (int64_t)b->opt.lease_ms * 1000;
    } else if (rc == 0 || rc == BC_ESTATE || bc_now_us() >= sh->valid_until_us) {
        if (!done)
            bc_warn("stream: shard %s: lease lost; its sessions go to its new owner", sh->id);
        shard_stop(b, sh);
        shard_reset(b, sh);
        sh->state = done ? KIN_SHARD_DONE : KIN_SHARD_FREE;
        pthread_mutex_unlock(&b->lock);
        if (done)
            bc_info("stream: shard %s done", sh->id);
        b->store->release(b->store_impl, sh->id, b->owner);
        return;
    }
    pthread_mutex_unlock(&b->lock);
}

static void *coordinator_main(void *arg)
{
    struct kin_backend *b = arg;
    int64_t next_list_us = 0;
    pthread_mutex_lock(&b->lock);
    while (!b->stopping) {
        pthread_mutex_unlock(&b->lock);
        /* A failed listing is tried again at the next tick. */
        if (bc_now_us() >= next_list_us && list_shards(b) == 0)
            next_list_us = bc_now_us() + KIN_LIST_INTERVAL_US;
        pthread_mutex_lock(&b->lock);
        size_t n = b->n_shards;
        for (size_t i = 0; i < n && !b->stopping; i++) {
            struct kin_shard *sh = b->shards[i];
            size_t held = 0;
            for (size_t j = 0; j < n; j++)
                held += b->shards[j]->state == KIN_SHARD_HELD;
            enum kin_shard_phase state = sh->state;
            pthread_mutex_unlock(&b->lock);
            if (state == KIN_SHARD_HELD)
                tend_held(b, sh);
            else if (state == KIN_SHARD_FREE && (b->opt.max_shards == 0 || held < (size_t)b->opt.max_shards))
                try_lease(b, sh);
            pthread_mutex_lock(&b->lock);
        }
        kin_sleep(b, b->opt.lease_ms / 3);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

int kin_coordinator_start(struct kin_backend *b)
{
    if (b->coordinator_started)
        return 0;
    if (pthread_create(&b->coordinator, NULL, coordinator_main, b) != 0)
        return BC_EIO;
    b->coordinator_started = 1;
    return 0;
}

void kin_coordinator_stop(struct kin_backend *b)
{
    pthread_mutex_lock(&b->lock);
    b->stopping = 1;
    pthread_cond_broadcast(&b->wake);
    pthread_mutex_unlock(&b->lock);
    if (b->coordinator_started)
        pthread_join(b->coordinator, NULL);
    b->coordinator_started = 0;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < b->n_shards; i++) {
        struct kin_shard *sh = b->shards[i];
        int held = sh->state == KIN_SHARD_HELD;
        shard_stop(b, sh);
        shard_reset(b, sh);
        if (held) {
            /* The next owner starts at once, from the stored checkpoint. */
            pthread_mutex_unlock(&b->lock);
            b->store->release(b->store_impl, sh->id, b->owner);
            pthread_mutex_lock(&b->lock);
        }
        sh->state = KIN_SHARD_FREE;
    }
    pthread_mutex_unlock(&b->lock);
}

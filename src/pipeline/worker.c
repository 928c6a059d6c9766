#include "pipeline/worker.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/glossary_refresh.h"
#include "pipeline/capacity.h"
#include "pipeline/speech_out.h"
#include "protocol/protocol.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

/* A short turn (200 ms of audio, a few ms of work) keeps a session's wait
 * for a worker short when many sessions share few cores. */
#define WORKER_DEFAULT_RECORDS_PER_TURN 2
#define WORKER_SESSIONS_MAX 1024
/* Finals whose speech may be queued at once per language. */
#define WORKER_AUDIO_META_SLOTS 32
#define WORKER_DRAIN_POLL_US 20000
/* Records remembered for timing (60 s of 100 ms frames): longer than any utterance. */
#define WORKER_RECORD_MARKS 600
#define SAMPLES_PER_MS (ASR_RATE_HZ / 1000)
/* Chunks of synthesized speech waiting for Opus encoding (one thread
 * encodes over 100 times faster than real time). */
#define WORKER_OPUS_JOBS_MAX 8192
#define WORKER_DEFAULT_MAX_SESSIONS 64
#define WORKER_DEFAULT_LEASE_TTL_MS 2000
/* Listeners come and go: a session's languages are read again this often. */
#define WORKER_LANG_REFRESH_US 500000
#define WORKER_OWNER_MAX 96
/* After a final caption could not be stored, the session's records are
 * processed again from its checkpoint at most this often. */
#define WORKER_STORE_RETRY_US 1000000

/* Where a record ended in the recognizer's timeline, to find the record
 * holding a given sample. */
struct record_mark {
    int64_t end_sample;
    uint64_t seq;
    int64_t append_ms;
};

/* What a listener needs to time an utterance's audio. */
struct audio_meta {
    int utterance;
    struct protocol_origin timing;
};

struct lang_output {
    char lang[PIPELINE_LANG_MAX];
    struct audio_meta meta[WORKER_AUDIO_META_SLOTS];
    struct speech_out *speech;
};

/* Processing state of one session. Scheduling flags are guarded by the
 * pool's lock; the pipeline belongs to the worker running the session. */
struct worker_session {
    struct worker_pool *pool;
    char id[STREAM_SESSION_ID_MAX];
    int queued, running, dirty, finished;
    struct pipeline *pipeline;
    uint64_t seq;           /* last record fed */
    uint64_t current_seq;   /* record being fed, for caption metadata */
    int64_t current_append_ms;
    enum session_shedding shedding; /* what the session leaves out while behind */
    struct record_mark marks[WORKER_RECORD_MARKS]; /* ring, oldest overwritten */
    size_t n_marks, next_mark;
    int leased, lost;       /* lost: another owner took the session: drop it */
    int store_failed;       /* a final caption was not stored (BC_E*): redo from the checkpoint */
    int64_t retry_at_us;    /* not before then */
    uint64_t fence;         /* the lease's fencing token */
    char langs[PIPELINE_LANGS_MAX][PIPELINE_LANG_MAX];
    size_t n_langs;
    int64_t langs_checked_us;
    enum session_mode mode; /* from the registry, fixed when the session was created */
    uint64_t glossary_version; /* the pipeline's, 0: none */
    pthread_mutex_t out_lock; /* outputs: captions come from the worker, audio from TTS */
    struct lang_output outputs[PIPELINE_LANGS_MAX + 1];
    size_t n_outputs;
};

/* Checkpoint state: where the recognizer's timeline resumes. */
struct resume_state {
    int64_t position;
    int32_t next_utterance;
};

struct worker_pool {
    struct worker_config config;
    struct pipeline_engines engines;
    struct stream *stream;
    struct session_registry *registry;
    struct delivery *bus;
    struct serial *opus_encoder; /* shared by every session's speech_out */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t tick; /* the maintenance thread's timer (monotonic clock) */
    int stopping;
    struct worker_session *sessions[WORKER_SESSIONS_MAX];
    size_t n_sessions;
    struct worker_session *ready[WORKER_SESSIONS_MAX];
    size_t ready_head, ready_count;
    /* Sessions another owner holds, not tried again before retry_at_us. */
    struct foreign_session {
        char id[STREAM_SESSION_ID_MAX];
        int64_t retry_at_us;
    } foreign[WORKER_SESSIONS_MAX];
    size_t n_foreign;
    char owner[WORKER_OWNER_MAX];
    pthread_t *threads;
    int n_threads;
    pthread_t maintenance;
    int maintenance_started;
    struct capacity *capacity;
    int room_changed; /* sessions came or went: announce the room now */
    int announced_room; /* what gateways see; -1 until announced */
};

void worker_default_config(struct worker_config *config)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    /* More threads than cores measured slower: recognition is CPU-bound. */
    config->threads = cpus > 0 ? (int)cpus : 1;
    config->records_per_turn = WORKER_DEFAULT_RECORDS_PER_TURN;
    config->archive = NULL;
    config->max_sessions = WORKER_DEFAULT_MAX_SESSIONS;
    config->lease_ttl_ms = WORKER_DEFAULT_LEASE_TTL_MS;
    struct capacity_config cc;
    capacity_default_config(&cc);
    config->target_load = cc.target_load;
    config->latency_budget_ms = cc.latency_budget_ms;
}

/* Caller holds pool->lock. */
static struct worker_session *find_session(struct worker_pool *pool, const char *id, int create)
{
    for (size_t i = 0; i < pool->n_sessions; i++) {
        if (strcmp(pool->sessions[i]->id, id) == 0)
            return pool->sessions[i];
    }
    if (!create || pool->n_sessions >= WORKER_SESSIONS_MAX ||
        capacity_room(pool->capacity, pool->n_sessions, bc_now_us()) < 1)
        return NULL;
    struct worker_session *ws = bc_calloc(1, sizeof *ws);
    ws->pool = pool;
    snprintf(ws->id, sizeof ws->id, "%s", id);
    pthread_mutex_init(&ws->out_lock, NULL);
    pool->sessions[pool->n_sessions++] = ws;
    pool->room_changed = 1;
    pthread_cond_signal(&pool->tick);
    return ws;
}

/* Caller holds pool->lock. */
static void remove_session(struct worker_pool *pool, struct worker_session *ws)
{
    for (size_t i = 0; i < pool->n_sessions; i++) {
        if (pool->sessions[i] == ws) {
            pool->sessions[i] = pool->sessions[--pool->n_sessions];
            pool->room_changed = 1;
            pthread_cond_signal(&pool->tick);
            break;
        }
    }
    for (size_t i = 0; i < ws->n_outputs; i++)
        speech_out_free(ws->outputs[i].speech);
    pthread_mutex_destroy(&ws->out_lock);
    free(ws);
}

/* Caller holds pool->lock. */
static void enqueue(struct worker_pool *pool, struct worker_session *ws)
{
    if (ws->queued || ws->running || ws->finished)
        return;
    ws->queued = 1;
    pool->ready[(pool->ready_head + pool->ready_count++) % WORKER_SESSIONS_MAX] = ws;
    pthread_cond_signal(&pool->wake);
}

/* Caller holds pool->lock. 1 while another owner is known to hold the
 * session; forgets owners whose retry time has come. */
static int is_foreign(struct worker_pool *pool, const char *id, int64_t now_us)
{
    for (size_t i = 0; i < pool->n_foreign; i++) {
        if (strcmp(pool->foreign[i].id, id) != 0)
            continue;
        if (now_us < pool->foreign[i].retry_at_us)
            return 1;
        pool->foreign[i] = pool->foreign[--pool->n_foreign];
        return 0;
    }
    return 0;
}

/* Caller holds pool->lock. */
static void mark_foreign(struct worker_pool *pool, const char *id)
{
    if (pool->n_foreign == WORKER_SESSIONS_MAX)
        return;
    struct foreign_session *f = &pool->foreign[pool->n_foreign++];
    snprintf(f->id, sizeof f->id, "%s", id);
    f->retry_at_us = bc_now_us() + (int64_t)pool->config.lease_ttl_ms * 1000;
}

void worker_pool_notify(struct worker_pool *pool, const char *session_id)
{
    pthread_mutex_lock(&pool->lock);
    struct worker_session *ws = find_session(pool, session_id, 0);
    if (!ws && !pool->stopping && !is_foreign(pool, session_id, bc_now_us()))
        ws = find_session(pool, session_id, 1);
    if (ws && ws->running)
        ws->dirty = 1;
    else if (ws)
        enqueue(pool, ws);
    pthread_mutex_unlock(&pool->lock);
}

size_t worker_pool_sessions(struct worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    size_t n = pool->n_sessions;
    pthread_mutex_unlock(&pool->lock);
    return n;
}

/* Caller holds ws->out_lock. */
static struct lang_output *output_for(struct worker_session *ws, const char *lang)
{
    for (size_t i = 0; i < ws->n_outputs; i++) {
        if (strcmp(ws->outputs[i].lang, lang) == 0)
            return &ws->outputs[i];
    }
    if (ws->n_outputs == sizeof ws->outputs / sizeof ws->outputs[0])
        return NULL;
    struct lang_output *o = &ws->outputs[ws->n_outputs++];
    memset(o, 0, sizeof *o);
    snprintf(o->lang, sizeof o->lang, "%s", lang);
    o->speech = speech_out_new(ws->id, lang, ws->pool->config.archive, ws->pool->bus,
                               ws->pool->opus_encoder);
    return o;
}

static void publish_json(struct worker_session *ws, const char *lang, cJSON *json, bool to_speaker,
                         bool closes)
{
    struct delivery_msg *m = delivery_msg_json(ws->id, lang, json);
    m->to_speaker = to_speaker;
    m->closes = closes;
    delivery_publish(ws->pool->bus, m);
}

/* The record that held the sample at end_ms: its seq and the time the
 * gateway accepted it, so clients can time a caption from the speech it ends
 * with. Falls back to the record being fed. Runs on the worker thread. */
static struct record_mark record_at(const struct worker_session *ws, int64_t end_ms)
{
    int64_t sample = end_ms * SAMPLES_PER_MS;
    struct record_mark found = {0, ws->current_seq, ws->current_append_ms};
    for (size_t i = 0; i < ws->n_marks; i++) {
        const struct record_mark *m =
            &ws->marks[(ws->next_mark + WORKER_RECORD_MARKS - 1 - i) % WORKER_RECORD_MARKS];
        if (m->end_sample < sample)
            break;
        found = *m;
    }
    return found;
}

static void remember_record(struct worker_session *ws)
{
    ws->marks[ws->next_mark] = (struct record_mark){pipeline_position(ws->pipeline),
                                                    ws->current_seq, ws->current_append_ms};
    ws->next_mark = (ws->next_mark + 1) % WORKER_RECORD_MARKS;
    if (ws->n_marks < WORKER_RECORD_MARKS)
        ws->n_marks++;
}

static int on_caption(struct worker_session *ws, const struct pipeline_event *ev)
{
    struct record_mark origin = record_at(ws, ev->end_ms);
    int is_source = strcmp(ev->lang, PIPELINE_SOURCE_LANG) == 0;
    /* A caption that commits a chunk carries settled words: never shed. */
    if (!ev->final && ev->chunk < 0 && ws->shedding >= SESSION_SHED_PARTIALS)
        return 0;
    if (ev->final) {
        int rc = session_add_caption_fenced(ws->pool->registry, ws->id, ev->lang, ev->utterance,
                                            ev->start_ms, ev->end_ms, ev->text, ev->source_text,
                                            ws->fence);
        if (rc == 1)
            return 1; /* delivered before the restart */
        if (rc == BC_ESTATE) {
            ws->lost = 1; /* a newer owner exists: this final is its to give */
            return 1;
        }
        if (rc < 0) {
            /* Delivered live but not stored, it would be missing from the
             * transcript and from replays: it goes out once it is stored. */
            bc_warn("session %s: caption not stored: %s", ws->id, bc_strerror(rc));
            if (!ws->store_failed)
                ws->store_failed = rc;
            return 1;
        }
    }
    if (ev->final || ev->chunk >= 0) { /* the speech about to be synthesized */
        pthread_mutex_lock(&ws->out_lock);
        struct lang_output *o = output_for(ws, ev->lang);
        if (o) {
            struct audio_meta *m = &o->meta[ev->utterance % WORKER_AUDIO_META_SLOTS];
            *m = (struct audio_meta){ev->utterance, {ev->end_ms, origin.seq, origin.append_ms}};
        }
        pthread_mutex_unlock(&ws->out_lock);
    }
    cJSON *json = protocol_caption(ev->lang, ev->utterance, ev->final, ev->text,
                                        ev->source_text, ev->start_ms, ev->end_ms);
    cJSON_AddNumberToObject(json, "seq", (double)origin.seq);
    cJSON_AddNumberToObject(json, "append_ms", (double)origin.append_ms);
    cJSON_AddBoolToObject(json, "replay", 0);
    protocol_caption_committed(json, ev->committed, ev->chunk);
    publish_json(ws, ev->lang, json, is_source, false);
    cJSON_Delete(json);
    return 0;
}

/* Runs on the synthesis thread. */
static void on_audio(struct worker_session *ws, const struct pipeline_event *ev)
{
    pthread_mutex_lock(&ws->out_lock);
    struct lang_output *o = output_for(ws, ev->lang);
    if (o && ev->type == PIPELINE_AUDIO_START) {
        const struct audio_meta *m = &o->meta[ev->utterance % WORKER_AUDIO_META_SLOTS];
        speech_out_start(o->speech, ev->utterance, ev->chunk, ev->sample_rate,
                         m->utterance == ev->utterance ? &m->timing : NULL);
    } else if (o && ev->type == PIPELINE_AUDIO) {
        speech_out_samples(o->speech, ev->pcm, ev->n_samples);
    } else if (o && ev->type == PIPELINE_AUDIO_END) {
        speech_out_end(o->speech, ev->n_samples);
    }
    pthread_mutex_unlock(&ws->out_lock);
}

static int sink(void *user_data, const struct pipeline_event *ev)
{
    struct worker_session *ws = user_data;
    if (ev->type == PIPELINE_CAPTION)
        return on_caption(ws, ev);
    on_audio(ws, ev);
    return 0;
}

/* Reads the session's languages from the registry (at most every
 * WORKER_LANG_REFRESH_US) and hands changes to the pipeline. Runs on the
 * thread running the session: preparing a language spawns processes. */
static void refresh_languages(struct worker_pool *pool, struct worker_session *ws)
{
    int64_t now_us = bc_now_us();
    if (ws->langs_checked_us && now_us - ws->langs_checked_us < WORKER_LANG_REFRESH_US)
        return;
    ws->langs_checked_us = now_us;
    if (ws->pipeline)
        glossary_refresh(ws->pipeline, pool->registry, ws->id, &ws->glossary_version);
    struct session_info info;
    char langs[SESSION_TARGETS_MAX][SESSION_LANG_LEN];
    if (session_get(pool->registry, ws->id, &info) < 0)
        return;
    ws->mode = info.mode;
    size_t n = session_languages(pool->registry, &info, langs, SESSION_TARGETS_MAX);
    size_t m = 0;
    int changed = 0;
    for (size_t i = 0; i < n && m < PIPELINE_LANGS_MAX; i++) {
        if (strcmp(langs[i], info.source) == 0)
            continue;
        changed |= m >= ws->n_langs || strcmp(ws->langs[m], langs[i]) != 0;
        snprintf(ws->langs[m++], PIPELINE_LANG_MAX, "%s", langs[i]);
    }
    changed |= m != ws->n_langs;
    ws->n_langs = m;
    if (!changed || !ws->pipeline)
        return;
    const char *ptrs[PIPELINE_LANGS_MAX];
    for (size_t i = 0; i < ws->n_langs; i++) {
        ptrs[i] = ws->langs[i];
        mt_prepare(pool->engines.mt, ptrs[i]);
    }
    pipeline_set_languages(ws->pipeline, ptrs, ws->n_langs);
}

static int open_pipeline(struct worker_pool *pool, struct worker_session *ws)
{
    refresh_languages(pool, ws);
    const char *langs[PIPELINE_LANGS_MAX];
    for (size_t i = 0; i < ws->n_langs; i++) {
        langs[i] = ws->langs[i];
        mt_prepare(pool->engines.mt, langs[i]);
    }
    int rc = pipeline_new(&pool->engines, langs, ws->n_langs, sink, ws, &ws->pipeline);
    if (rc < 0)
        return rc;
    pipeline_set_mode(ws->pipeline, ws->mode == SESSION_MODE_SIMULTANEOUS ? PIPELINE_SIMULTANEOUS
                                                                          : PIPELINE_SENTENCE);
    ws->glossary_version = 0;
    glossary_refresh(ws->pipeline, pool->registry, ws->id, &ws->glossary_version);
    struct resume_state state = {0};
    size_t state_len = 0;
    stream_checkpoint_get(pool->stream, ws->id, &ws->seq, &state, &state_len);
    if (state_len == sizeof state && state.position > 0) {
        pipeline_resume(ws->pipeline, state.position, state.next_utterance);
        bc_info("session %s: resuming after record %llu at %.1f s", ws->id,
                (unsigned long long)ws->seq, (double)state.position / ASR_RATE_HZ);
    }
    return 0;
}

/* The session's transcripts, in every language this worker produced or
 * the registry names, go to the archive once its last words are stored. */
static void archive_session(struct worker_session *ws)
{
    if (!ws->pool->config.archive)
        return;
    const char *langs[PIPELINE_LANGS_MAX + 1];
    pthread_mutex_lock(&ws->out_lock);
    size_t n = ws->n_outputs;
    for (size_t i = 0; i < n; i++)
        langs[i] = ws->outputs[i].lang;
    pthread_mutex_unlock(&ws->out_lock);
    int rc = archive_transcripts(ws->pool->config.archive, ws->pool->registry, ws->id, langs, n);
    if (rc < 0)
        bc_warn("session %s: transcripts not archived: %s", ws->id, bc_strerror(rc));
}

static void finish_session(struct worker_session *ws)
{
    pipeline_wait_idle(ws->pipeline);
    /* Opus listeners hear the last words before they are told the end. */
    pthread_mutex_lock(&ws->out_lock);
    for (size_t i = 0; i < ws->n_outputs; i++)
        speech_out_flush(ws->outputs[i].speech);
    pthread_mutex_unlock(&ws->out_lock);
    archive_session(ws);
    if (ws->shedding != SESSION_SHED_NONE)
        session_shedding_set(ws->pool->registry, ws->id, SESSION_SHED_NONE);
    cJSON *json = protocol_ended();
    publish_json(ws, DELIVERY_ALL_LANGS, json, true, true);
    cJSON_Delete(json);
    stream_session_ended(ws->pool->stream, ws->id);
    stream_lease_release(ws->pool->stream, ws->id, ws->pool->owner);
    ws->finished = 1;
}

/* Judges the session's lag by how long the record waited, and sheds or
 * restores work accordingly; a change is recorded in the registry so any
 * gateway can report it. */
static void judge_lag(struct worker_session *ws, const struct stream_record *rec)
{
    struct worker_pool *pool = ws->pool;
    int64_t delay_ms = bc_wall_ms() - rec->append_ms;
    capacity_record_delay(pool->capacity, delay_ms, bc_now_us());
    enum session_shedding level = capacity_shedding(pool->capacity, ws->shedding, delay_ms);
    pipeline_set_lagging(ws->pipeline, level >= SESSION_SHED_TRANSLATED_PARTIALS);
    if (level == ws->shedding)
        return;
    bc_info("session %s: records waited %lld ms: shedding %s", ws->id, (long long)delay_ms,
            session_shedding_name(level));
    pthread_mutex_lock(&pool->lock);
    ws->shedding = level; /* the pool lock guards it for worker_pool_capacity */
    pthread_mutex_unlock(&pool->lock);
    int rc = session_shedding_set(pool->registry, ws->id, level);
    if (rc < 0)
        bc_debug("session %s: shedding level not recorded: %s", ws->id, bc_strerror(rc));
}

static int run_record(struct worker_session *ws, const struct stream_record *rec)
{
    switch (rec->kind) {
    case STREAM_KIND_AUDIO:
        return pipeline_feed(ws->pipeline, (const int16_t *)rec->data, rec->len / sizeof(int16_t));
    case STREAM_KIND_END:
        return pipeline_flush(ws->pipeline);
    case STREAM_KIND_SESSION_END: {
        int rc = pipeline_flush(ws->pipeline);
        if (ws->store_failed)
            return ws->store_failed; /* not over until its last words are stored */
        finish_session(ws);
        return rc;
    }
    default:
        return BC_EFORMAT;
    }
}

/* Runs the record through the pipeline, measuring the wall time it takes
 * per second of audio for the capacity estimate. */
static int process_record(struct worker_session *ws, const struct stream_record *rec)
{
    ws->current_seq = rec->seq;
    ws->current_append_ms = rec->append_ms;
    judge_lag(ws, rec);
    int64_t started_us = bc_now_us();
    int rc = run_record(ws, rec);
    int64_t audio_ms = rec->kind == STREAM_KIND_AUDIO
                           ? (int64_t)(rec->len / sizeof(int16_t)) / SAMPLES_PER_MS
                           : 0;
    int64_t now_us = bc_now_us();
    capacity_record_busy(ws->pool->capacity, now_us - started_us, audio_ms, now_us);
    return rc;
}

enum turn_result { TURN_IDLE, TURN_MORE, TURN_LOST };

/* Takes the session's lease before its first record. */
static int claim(struct worker_pool *pool, struct worker_session *ws)
{
    if (ws->leased)
        return 0;
    int rc = stream_lease(pool->stream, ws->id, pool->owner, pool->config.lease_ttl_ms, &ws->fence);
    if (rc < 0)
        return rc;
    ws->leased = 1;
    bc_debug("session %s: claimed (fencing token %llu)", ws->id, (unsigned long long)ws->fence);
    /* A previous owner may have left its shedding level behind. */
    if (session_shedding_set(pool->registry, ws->id, SESSION_SHED_NONE) < 0)
        bc_debug("session %s: shedding level not reset", ws->id);
    return 0;
}

/* A final caption could not be stored: the recognizer restarts from the
 * checkpoint, before the utterance, so the records are processed again
 * (captions stored already are not delivered twice). */
static void rewind_to_checkpoint(struct worker_session *ws, const char *error)
{
    bc_warn("session %s: %s; processing again from the checkpoint", ws->id, error);
    pipeline_free(ws->pipeline);
    ws->pipeline = NULL;
    ws->store_failed = 0;
    ws->retry_at_us = bc_now_us() + WORKER_STORE_RETRY_US;
}

/* One turn: up to records_per_turn records. */
static enum turn_result run_turn(struct worker_pool *pool, struct worker_session *ws)
{
    if (ws->lost || claim(pool, ws) < 0)
        return TURN_LOST;
    if (ws->retry_at_us > bc_now_us())
        return TURN_IDLE; /* the maintenance scan brings it back */
    if (!ws->pipeline && open_pipeline(pool, ws) < 0) {
        bc_error("session %s: no recognizer available", ws->id);
        return TURN_IDLE;
    }
    for (int i = 0; i < pool->config.records_per_turn && !ws->finished; i++) {
        if (ws->lost)
            return TURN_LOST;
        refresh_languages(pool, ws);
        struct stream_record *rec;
        if (stream_read(pool->stream, ws->id, ws->seq, &rec) < 0)
            return TURN_IDLE;
        int rc = process_record(ws, rec);
        if (ws->store_failed)
            rc = ws->store_failed;
        if (rc < 0) {
            char error[128];
            snprintf(error, sizeof error, "processing failed: %s", bc_strerror(rc));
            /* A full disk is no fault of the record: it waits for space
             * rather than going to the dead-letter log after a few tries. */
            int dead = rc == BC_ENOSPC ? 0 : stream_record_failed(pool->stream, ws->id, rec->seq,
                                                                   error);
            if (ws->store_failed && dead != 1) {
                free(rec);
                rewind_to_checkpoint(ws, error);
                return TURN_IDLE;
            }
            ws->store_failed = 0;
            bc_warn("session %s: record %llu %s%s", ws->id, (unsigned long long)rec->seq, error,
                    dead == 1 ? "; set aside in the dead-letter log" : "; will retry");
            if (dead != 1) {
                free(rec);
                return TURN_MORE;
            }
        }
        ws->seq = rec->seq;
        free(rec);
        remember_record(ws);
        if (!pipeline_in_utterance(ws->pipeline)) {
            struct resume_state state = {pipeline_position(ws->pipeline),
                                         pipeline_next_utterance(ws->pipeline)};
            if (stream_checkpoint(pool->stream, ws->id, ws->seq, &state, sizeof state) ==
                BC_ESTATE)
                return TURN_LOST;
        }
    }
    return ws->finished ? TURN_IDLE : TURN_MORE;
}

/* Caller holds pool->lock; returns holding it. Frees a session that ended
 * or that another owner took (its speech still pending is not waited for
 * under the lock). */
static void retire(struct worker_pool *pool, struct worker_session *ws, int lost)
{
    if (lost && ws->leased)
        bc_warn("session %s: lease lost to another worker; dropping it", ws->id);
    else if (lost)
        bc_debug("session %s: another worker owns it", ws->id);
    if (lost)
        mark_foreign(pool, ws->id);
    /* While the lock is released below the session is still listed: a
     * lease renewal or a notification must not queue it again, or a second
     * thread would retire it twice. */
    ws->finished = 1;
    pthread_mutex_unlock(&pool->lock);
    pipeline_free(ws->pipeline);
    pthread_mutex_lock(&pool->lock);
    remove_session(pool, ws);
}

static void *worker_main(void *arg)
{
    struct worker_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->stopping && pool->ready_count == 0)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->stopping)
            break;
        struct worker_session *ws = pool->ready[pool->ready_head];
        pool->ready_head = (pool->ready_head + 1) % WORKER_SESSIONS_MAX;
        pool->ready_count--;
        ws->queued = 0;
        ws->running = 1;
        ws->dirty = 0;
        pthread_mutex_unlock(&pool->lock);
        enum turn_result result = run_turn(pool, ws);
        pthread_mutex_lock(&pool->lock);
        ws->running = 0;
        if (ws->finished || result == TURN_LOST)
            retire(pool, ws, result == TURN_LOST);
        else if (result == TURN_MORE || ws->dirty)
            enqueue(pool, ws);
        pthread_cond_broadcast(&pool->wake);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Renews the leases of the sessions this pool runs; a session whose lease
 * went to another owner is queued so its thread drops it. Redis calls run
 * outside the pool lock. */
static void renew_leases(struct worker_pool *pool)
{
    char (*ids)[STREAM_SESSION_ID_MAX] = bc_malloc(WORKER_SESSIONS_MAX * sizeof *ids);
    uint64_t *fences = bc_malloc(WORKER_SESSIONS_MAX * sizeof *fences);
    size_t n = 0;
    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < pool->n_sessions; i++) {
        const struct worker_session *ws = pool->sessions[i];
        if (ws->leased && !ws->finished && !ws->lost) {
            snprintf(ids[n], sizeof ids[n], "%s", ws->id);
            fences[n++] = ws->fence;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < n; i++) {
        uint64_t token = 0;
        int rc = stream_lease(pool->stream, ids[i], pool->owner, pool->config.lease_ttl_ms, &token);
        if (rc != BC_ESTATE && (rc < 0 || token == fences[i]))
            continue; /* held, or Redis unreachable: fencing guards the writes */
        pthread_mutex_lock(&pool->lock);
        struct worker_session *ws = find_session(pool, ids[i], 0);
        if (ws && ws->fence == fences[i]) {
            ws->lost = 1;
            enqueue(pool, ws);
        }
        pthread_mutex_unlock(&pool->lock);
    }
    free(ids);
    free(fences);
}

/* Sessions with unprocessed records and no owner: after a restart, or
 * after the worker that owned them died. */
static void scan_pending(struct worker_pool *pool)
{
    char (*ids)[STREAM_SESSION_ID_MAX] = bc_malloc(WORKER_SESSIONS_MAX * sizeof *ids);
    size_t n = stream_sessions_pending(pool->stream, ids, WORKER_SESSIONS_MAX);
    for (size_t i = 0; i < n; i++)
        worker_pool_notify(pool, ids[i]);
    free(ids);
}

/* Announces the pool's room in the registry, valid for one lease ttl
 * (announced again every third of it). Registry calls run outside the
 * pool lock. */
static void announce_room(struct worker_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->room_changed = 0;
    int room = capacity_room(pool->capacity, pool->n_sessions, bc_now_us());
    pthread_mutex_unlock(&pool->lock);
    int rc = session_room_set(pool->registry, pool->owner, room, pool->config.lease_ttl_ms);
    if (rc < 0) {
        bc_debug("room not announced: %s", bc_strerror(rc));
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->announced_room = room;
    pthread_mutex_unlock(&pool->lock);
}

static void *maintenance_main(void *arg)
{
    struct worker_pool *pool = arg;
    int64_t period_us = (int64_t)pool->config.lease_ttl_ms * 1000 / 3;
    int64_t due_us = 0;
    pthread_mutex_lock(&pool->lock);
    while (!pool->stopping) {
        pthread_mutex_unlock(&pool->lock);
        if (bc_now_us() >= due_us) {
            renew_leases(pool);
            scan_pending(pool);
            due_us = bc_now_us() + period_us;
        }
        announce_room(pool);
        pthread_mutex_lock(&pool->lock);
        /* The monotonic clock of bc_now_us, which the tick condition uses. */
        struct timespec until;
        until.tv_sec = (time_t)(due_us / 1000000);
        until.tv_nsec = (long)(due_us % 1000000) * 1000;
        if (!pool->stopping && !pool->room_changed)
            pthread_cond_timedwait(&pool->tick, &pool->lock, &until);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

void worker_pool_capacity(struct worker_pool *pool, struct worker_capacity *out)
{
    memset(out, 0, sizeof *out);
    struct capacity_stats stats;
    pthread_mutex_lock(&pool->lock);
    out->sessions = pool->n_sessions;
    capacity_estimate(pool->capacity, pool->n_sessions, bc_now_us(), &stats);
    out->room = pool->announced_room;
    for (size_t i = 0; i < pool->n_sessions; i++)
        out->shedding[pool->sessions[i]->shedding]++;
    pthread_mutex_unlock(&pool->lock);
    out->busy_per_audio_s = stats.busy_per_audio_s;
    out->delay_p95_ms = stats.delay_p95_ms;
    out->estimate = stats.estimate;
}

int worker_pool_new(const struct worker_config *config, const struct pipeline_engines *engines,
                    struct stream *stream, struct session_registry *registry,
                    struct delivery *bus, struct worker_pool **out)
{
    *out = NULL;
    struct worker_pool *pool = bc_calloc(1, sizeof *pool);
    pool->config = *config;
    if (pool->config.threads < 1)
        pool->config.threads = 1;
    if (pool->config.records_per_turn < 1)
        pool->config.records_per_turn = WORKER_DEFAULT_RECORDS_PER_TURN;
    pool->engines = *engines;
    pool->stream = stream;
    pool->registry = registry;
    pool->bus = bus;
    if (pool->config.max_sessions < 1)
        pool->config.max_sessions = WORKER_DEFAULT_MAX_SESSIONS;
    if (pool->config.lease_ttl_ms < 1)
        pool->config.lease_ttl_ms = WORKER_DEFAULT_LEASE_TTL_MS;
    struct capacity_config cc = {pool->config.max_sessions, pool->config.threads,
                                 pool->config.target_load, pool->config.latency_budget_ms};
    pool->capacity = capacity_new(&cc);
    pool->announced_room = -1;
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(pool->owner, sizeof pool->owner, "%s:%ld:%p", host, (long)getpid(), (void *)pool);
    pthread_mutex_init(&pool->lock, NULL);
    bc_cond_init_monotonic(&pool->tick);
    if (serial_new(WORKER_OPUS_JOBS_MAX, &pool->opus_encoder) < 0)
        bc_warn("no Opus encoder thread: listeners get PCM16 only");
    pthread_cond_init(&pool->wake, NULL);
    pool->threads = bc_calloc((size_t)pool->config.threads, sizeof *pool->threads);
    for (int i = 0; i < pool->config.threads; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0)
            goto fail;
        pool->n_threads++;
    }
    if (pthread_create(&pool->maintenance, NULL, maintenance_main, pool) != 0)
        goto fail;
    pool->maintenance_started = 1;
    *out = pool;
    return 0;
fail:
    worker_pool_free(pool);
    return BC_EIO;
}

void worker_pool_free(struct worker_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_cond_broadcast(&pool->tick);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_threads; i++)
        pthread_join(pool->threads[i], NULL);
    if (pool->maintenance_started)
        pthread_join(pool->maintenance, NULL);
    /* Another worker resumes these at their checkpoints without waiting for
     * the leases to expire. */
    while (pool->n_sessions > 0) {
        struct worker_session *ws = pool->sessions[0];
        pipeline_free(ws->pipeline);
        if (ws->leased)
            stream_lease_release(pool->stream, ws->id, pool->owner);
        remove_session(pool, ws);
    }
    if (pool->maintenance_started && session_room_clear(pool->registry, pool->owner) < 0)
        bc_debug("room announcement left to expire");
    capacity_free(pool->capacity);
    serial_free(pool->opus_encoder);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->tick);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
}

int worker_pool_drain(struct worker_pool *pool, int timeout_ms)
{
    int64_t deadline = bc_now_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        int busy = pool->ready_count > 0 || serial_pending(pool->opus_encoder) > 0;
        for (size_t i = 0; i < pool->n_sessions; i++)
            busy |= pool->sessions[i]->running;
        pthread_mutex_unlock(&pool->lock);
        if (!busy)
            break;
        if (bc_now_us() > deadline)
            return BC_ETIMEDOUT;
        bc_sleep_us(WORKER_DRAIN_POLL_US);
    }
    /* Speech still being synthesized belongs to pipelines no worker runs now. */
    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < pool->n_sessions; i++) {
        if (pool->sessions[i]->pipeline)
            pipeline_wait_idle(pool->sessions[i]->pipeline);
    }
    pthread_mutex_unlock(&pool->lock);
    return 0;
}

/* asr.h: models, pools and streams over in-process or forked recognizers. */
#include "engine/asr.h"

#include <pthread.h>
#include <stdlib.h>

#include "engine/asr_fork.h"
#include "engine/asr_recognizer.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define ASR_POOL_MAX 64

struct asr_model {
    struct asr_params params;
    struct asr_dict dict;   /* in-process: what every decoder loads */
    struct asr_params load; /* params naming dict */
    struct asr_template *tmpl; /* forked mode */
    pthread_mutex_t lock;      /* guards the pool and in-process loading and freeing */
    /* Idle recognizers: struct asr_recognizer in-process, struct asr_remote forked. */
    void *pool[ASR_POOL_MAX];
    int pool_count;
};

/* Exactly one of local and remote is set. */
struct asr_stream {
    struct asr_model *model;
    struct asr_recognizer *local;
    struct asr_remote *remote;
    struct asr_callbacks cb;
    /* Forked: the state when the last call began, where a fresh recognizer
     * takes over if the call fails. */
    int64_t call_position;
    int call_next_utterance;
};

static int forked(const struct asr_model *model)
{
    return model->params.isolation == ASR_ISOLATION_FORK;
}

/* Terms may use words the trimmed dictionary left out. */
static const char *full_dict(const struct asr_model *model)
{
    return model->params.trim_dictionary ? model->params.dict_path : NULL;
}

static void *pool_take(struct asr_model *model)
{
    pthread_mutex_lock(&model->lock);
    void *idle = model->pool_count ? model->pool[--model->pool_count] : NULL;
    pthread_mutex_unlock(&model->lock);
    return idle;
}

/* Drops what the pool has no room for. */
static void pool_put(struct asr_model *model, void *idle)
{
    pthread_mutex_lock(&model->lock);
    if (model->pool_count < ASR_POOL_MAX) {
        model->pool[model->pool_count++] = idle;
        idle = NULL;
    }
    if (idle && !forked(model))
        asr_recognizer_free(idle);
    pthread_mutex_unlock(&model->lock);
    if (idle && forked(model))
        asr_remote_free(idle);
}

int asr_model_new(const struct asr_params *params, struct asr_model **out)
{
    *out = NULL;
    int rc = asr_params_check(params);
    if (rc < 0)
        return rc;
    struct asr_model *model = bc_calloc(1, sizeof *model);
    model->params = *params;
    model->dict.fd = -1;
    pthread_mutex_init(&model->lock, NULL);
    if (forked(model)) {
        rc = asr_template_start(params, &model->tmpl);
    } else {
        struct asr_recognizer *r;
        rc = asr_dict_prepare(params, &model->dict, &model->load);
        if (rc == 0)
            rc = asr_recognizer_new(&model->load, &r);
        if (rc == 0)
            model->pool[model->pool_count++] = r;
    }
    if (rc < 0)
        goto fail;
    *out = model;
    return 0;
fail:
    asr_model_free(model);
    return rc;
}

void asr_model_free(struct asr_model *model)
{
    if (!model)
        return;
    for (int i = 0; i < model->pool_count; i++) {
        if (forked(model))
            asr_remote_free(model->pool[i]);
        else
            asr_recognizer_free(model->pool[i]);
    }
    asr_template_stop(model->tmpl);
    asr_dict_release(&model->dict);
    pthread_mutex_destroy(&model->lock);
    free(model);
}

/* A pooled recognizer process may have died while idle: one reset failure
 * costs a fresh process, not the stream. */
static int start_remote(struct asr_model *model, const struct asr_callbacks *callbacks,
                        struct asr_remote **out)
{
    struct asr_remote *r = pool_take(model);
    if (r && asr_remote_reset(r, callbacks) < 0) {
        asr_remote_free(r);
        r = NULL;
    }
    if (!r) {
        int rc = asr_template_spawn(model->tmpl, &r);
        if (rc < 0)
            return rc;
        rc = asr_remote_reset(r, callbacks);
        if (rc < 0) {
            asr_remote_free(r);
            return rc;
        }
    }
    *out = r;
    return 0;
}

static void free_local(struct asr_model *model, struct asr_recognizer *r)
{
    pthread_mutex_lock(&model->lock);
    asr_recognizer_free(r);
    pthread_mutex_unlock(&model->lock);
}

static int start_local(struct asr_model *model, const struct asr_callbacks *callbacks,
                       struct asr_recognizer **out)
{
    struct asr_recognizer *r = pool_take(model);
    if (!r) {
        pthread_mutex_lock(&model->lock);
        int rc = asr_recognizer_new(&model->load, &r);
        pthread_mutex_unlock(&model->lock);
        if (rc < 0)
            return rc;
    }
    int rc = asr_recognizer_start(r, callbacks);
    if (rc < 0) {
        free_local(model, r);
        return rc;
    }
    *out = r;
    return 0;
}

int asr_stream_new(struct asr_model *model, const struct asr_callbacks *callbacks,
                   struct asr_stream **out)
{
    *out = NULL;
    struct asr_stream *s = bc_calloc(1, sizeof *s);
    s->model = model;
    s->cb = *callbacks;
    int rc = forked(model) ? start_remote(model, callbacks, &s->remote)
                           : start_local(model, callbacks, &s->local);
    if (rc < 0) {
        free(s);
        return BC_EENGINE;
    }
    *out = s;
    return 0;
}

void asr_stream_free(struct asr_stream *s)
{
    if (!s)
        return;
    /* A decoder with a stream's terms would prefer them for the next one. */
    if (s->local && asr_recognizer_has_terms(s->local)) {
        free_local(s->model, s->local);
    } else if (s->local) {
        asr_recognizer_stop(s->local);
        pool_put(s->model, s->local);
    } else if (asr_remote_failed(s->remote) || asr_remote_has_terms(s->remote)) {
        asr_remote_free(s->remote);
    } else {
        pool_put(s->model, s->remote); /* reset when reused */
    }
    free(s);
}

static int remote_lost(const struct asr_stream *s)
{
    return s->remote && asr_remote_failed(s->remote);
}

/* After a failed call a fresh recognizer process takes over where that call
 * began, so the caller's retry of the same samples continues the timeline;
 * the utterance that was in progress is lost. */
static int revive(struct asr_stream *s)
{
    struct asr_remote *fresh = NULL;
    int rc = start_remote(s->model, &s->cb, &fresh);
    if (rc == 0 && (s->call_position > 0 || s->call_next_utterance > 0))
        rc = asr_remote_resume(fresh, s->call_position, s->call_next_utterance);
    if (rc == 0)
        rc = asr_remote_take_terms(fresh, s->remote);
    if (rc < 0) {
        asr_remote_free(fresh);
        return BC_EENGINE;
    }
    bc_warn("speech recognition continues in process %d at %.2f s", (int)asr_remote_pid(fresh),
            (double)s->call_position / ASR_RATE_HZ);
    asr_remote_free(s->remote);
    s->remote = fresh;
    return 0;
}

/* Readies a forked stream for a call: remembers where it begins. */
static int begin_remote_call(struct asr_stream *s)
{
    if (remote_lost(s) && revive(s) < 0)
        return BC_EENGINE;
    s->call_position = asr_remote_position(s->remote);
    s->call_next_utterance = asr_remote_next_utterance(s->remote);
    return 0;
}

int asr_stream_feed(struct asr_stream *s, const int16_t *pcm, size_t n_samples)
{
    if (s->local)
        return asr_recognizer_feed(s->local, pcm, n_samples);
    int rc = begin_remote_call(s);
    return rc < 0 ? rc : asr_remote_feed(s->remote, pcm, n_samples);
}

int asr_stream_flush(struct asr_stream *s)
{
    if (s->local)
        return asr_recognizer_flush(s->local);
    int rc = begin_remote_call(s);
    return rc < 0 ? rc : asr_remote_flush(s->remote);
}

int64_t asr_stream_position(const struct asr_stream *s)
{
    if (s->local)
        return asr_recognizer_position(s->local);
    return remote_lost(s) ? s->call_position : asr_remote_position(s->remote);
}

int asr_stream_in_utterance(const struct asr_stream *s)
{
    if (s->local)
        return asr_recognizer_in_utterance(s->local);
    return remote_lost(s) ? 0 : asr_remote_in_utterance(s->remote);
}

int asr_stream_next_utterance(const struct asr_stream *s)
{
    if (s->local)
        return asr_recognizer_next_utterance(s->local);
    return remote_lost(s) ? s->call_next_utterance : asr_remote_next_utterance(s->remote);
}

int asr_stream_set_vocabulary(struct asr_stream *s, const struct asr_term *terms, size_t n)
{
    if (s->local)
        return asr_recognizer_set_vocabulary(s->local, full_dict(s->model), terms, n);
    int rc = begin_remote_call(s);
    if (rc == 0)
        rc = asr_remote_set_vocabulary(s->remote, terms, n);
    return rc < 0 ? 0 : rc;
}

int asr_stream_resume(struct asr_stream *s, int64_t position, int next_utterance)
{
    if (s->local)
        return asr_recognizer_resume(s->local, position, next_utterance);
    int rc = begin_remote_call(s);
    return rc < 0 ? rc : asr_remote_resume(s->remote, position, next_utterance);
}

int asr_stream_process(const struct asr_stream *s)
{
    return s->remote ? (int)asr_remote_pid(s->remote) : 0;
}

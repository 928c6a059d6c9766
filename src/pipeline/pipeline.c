#include "pipeline/pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "glossary/glossary.h"
#include "metrics/probes.h"
#include "pipeline/pacer.h"
#include "pipeline/pipeline_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define MS_PER_SECOND 1000
#define US_PER_SECOND 1e6
#define NS_PER_SECOND 1e9
/* Translated partials are refreshed at most this often: each costs one
 * translation per language, and the finals are what matter. */
#define PIPELINE_PARTIAL_MT_INTERVAL_MS 300
/* Simultaneous mode looks at the input at least this often, however large
 * the blocks fed: its pauses and held speech are timed by these looks. */
#define PIPELINE_TICK_MS 100

struct pipeline {
    struct pipeline_engines engines;
    struct asr_stream *asr;
    pipeline_sink sink;
    void *user_data;
    char langs[PIPELINE_LANGS_MAX][PIPELINE_LANG_MAX];
    size_t n_langs;
    pthread_mutex_t lock; /* guards pending and pacer */
    pthread_cond_t idle;
    int pending;                   /* speech syntheses whose last chunk has not arrived */
    int lagging;                   /* input is late: translate finals only */
    int partial_mt_utterance;      /* utterance of the last translated partial */
    int64_t partial_mt_end_sample; /* and where its input ended */
    double emit_cpu_s;             /* CPU time spent translating and emitting, which the
                                      recognizer's callbacks do inside a feed */
    struct pipeline_simul *simul;  /* simultaneous mode; NULL in sentence mode */
    struct pacer *pacer;           /* listeners' play-out, per language, on the input timeline */
    enum pipeline_pacing pacing;
    struct glossary *glossary;      /* in use; NULL: none */
    struct glossary *glossary_next; /* set mid-utterance: used from glossary_from on */
    int glossary_pending, glossary_from;
};

/* One synthesis request in flight; freed by its last chunk. */
struct speech_job {
    struct pipeline *p;
    char lang[PIPELINE_LANG_MAX];
    int utterance;
    int chunk;
    int started;
    size_t n_samples;
    int64_t submitted_us;
    int64_t paced_estimate_ms; /* counted in the pacer until measured */
};

/* CPU seconds the calling thread has used. */
static double thread_cpu_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / NS_PER_SECOND;
}

static int64_t samples_to_ms(int64_t samples)
{
    return samples * MS_PER_SECOND / ASR_RATE_HZ;
}

int pipeline_emit_caption(struct pipeline *p, const char *lang, const struct asr_hyp *hyp,
                          const char *text, int final, const char *committed, int chunk)
{
    struct pipeline_event ev = {
        .type = PIPELINE_CAPTION,
        .lang = lang,
        .utterance = hyp->utterance,
        .final = final,
        .text = text,
        .source_text = hyp->text,
        .start_ms = samples_to_ms(hyp->start_sample),
        .end_ms = samples_to_ms(hyp->end_sample),
        .chunk = chunk,
        .committed = committed,
    };
    return p->sink(p->user_data, &ev);
}

/* One synthesis less in flight; wakes pipeline_wait_idle at zero. */
static void job_done(struct pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    if (--p->pending == 0)
        pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->lock);
}

static void on_speech_chunk(void *user_data, const int16_t *pcm, size_t n_samples, bool last,
                            int err)
{
    struct speech_job *job = user_data;
    struct pipeline *p = job->p;
    int rate = tts_sample_rate(p->engines.tts);
    struct pipeline_event ev = {
        .lang = job->lang, .utterance = job->utterance, .sample_rate = rate, .chunk = job->chunk};
    if (err < 0)
        bc_warn("speech synthesis failed for %s utterance %d: %s", job->lang, job->utterance,
                bc_strerror(err));
    if (!job->started && (n_samples > 0 || last)) {
        ev.type = PIPELINE_AUDIO_START;
        p->sink(p->user_data, &ev);
        job->started = 1;
    }
    if (n_samples > 0) {
        ev.type = PIPELINE_AUDIO;
        ev.pcm = pcm;
        ev.n_samples = n_samples;
        p->sink(p->user_data, &ev);
        job->n_samples += n_samples;
    }
    if (!last)
        return;
    ev.type = PIPELINE_AUDIO_END;
    ev.pcm = NULL;
    ev.n_samples = job->n_samples;
    p->sink(p->user_data, &ev);
    probe_tts(job->lang, (double)(bc_now_us() - job->submitted_us) / US_PER_SECOND);
    pthread_mutex_lock(&p->lock);
    pacer_measured(p->pacer, job->lang, job->paced_estimate_ms,
                   rate > 0 ? (int64_t)job->n_samples * MS_PER_SECOND / rate : 0);
    pthread_mutex_unlock(&p->lock);
    free(job);
    job_done(p);
}

int pipeline_paced(const struct pipeline *p)
{
    return p->pacing == PIPELINE_PACING_ON || (p->pacing == PIPELINE_PACING_AUTO && p->simul);
}

void pipeline_speak(struct pipeline *p, const char *lang, int utterance, int chunk,
                    const char *text, size_t ahead_bytes)
{
    if (!p->engines.tts || !text[0])
        return;
    struct speech_job *job = bc_calloc(1, sizeof *job);
    job->p = p;
    snprintf(job->lang, sizeof job->lang, "%s", lang);
    job->utterance = utterance;
    job->chunk = chunk;
    job->submitted_us = bc_now_us();
    /* The play-out is followed even when not paced, so that pacing sees
     * what is already queued the moment it applies. */
    int64_t now_ms = samples_to_ms(asr_stream_position(p->asr));
    pthread_mutex_lock(&p->lock);
    p->pending++;
    int speed = pipeline_paced(p) ? pacer_speed(p->pacer, lang, now_ms, strlen(text) + ahead_bytes)
                                  : TTS_SPEED_NORMAL;
    job->paced_estimate_ms = pacer_queue(p->pacer, lang, now_ms, strlen(text), speed);
    pthread_mutex_unlock(&p->lock);
    int rc = tts_submit_speed(p->engines.tts, lang, text, speed, on_speech_chunk, job);
    if (rc == 0)
        return;
    if (rc != BC_ENOTFOUND) /* text-only languages are expected */
        bc_warn("speech for %s utterance %d not queued: %s", lang, utterance, bc_strerror(rc));
    pthread_mutex_lock(&p->lock);
    pacer_measured(p->pacer, lang, job->paced_estimate_ms, 0);
    pthread_mutex_unlock(&p->lock);
    free(job);
    job_done(p);
}

int64_t pipeline_play_lag_ms(struct pipeline *p, const char *lang)
{
    int64_t now_ms = samples_to_ms(asr_stream_position(p->asr));
    pthread_mutex_lock(&p->lock);
    int64_t lag_ms = pacer_lag_ms(p->pacer, lang, now_ms);
    pthread_mutex_unlock(&p->lock);
    return lag_ms;
}

/* Partials are translated when the input is on time and the last translated
 * partial of this utterance is PIPELINE_PARTIAL_MT_INTERVAL_MS old. */
int pipeline_translate_partial_now(struct pipeline *p, const struct asr_hyp *hyp)
{
    int64_t interval = (int64_t)PIPELINE_PARTIAL_MT_INTERVAL_MS * ASR_RATE_HZ / MS_PER_SECOND;
    if (p->lagging)
        return 0;
    if (hyp->utterance == p->partial_mt_utterance &&
        hyp->end_sample - p->partial_mt_end_sample < interval)
        return 0;
    p->partial_mt_utterance = hyp->utterance;
    p->partial_mt_end_sample = hyp->end_sample;
    return 1;
}

static int mt_translate_fn(void *mt, const char *lang, const char *text, char **out)
{
    return mt_translate(mt, lang, text, out);
}

int pipeline_translate(struct pipeline *p, const char *lang, const char *text, char **out)
{
    *out = NULL;
    if (!text[0]) {
        *out = bc_strdup("");
        return 0;
    }
    int64_t mt_started_us = bc_now_us();
    int rc = glossary_translate(p->glossary, mt_translate_fn, p->engines.mt, lang, text, out);
    probe_mt(lang, (double)(bc_now_us() - mt_started_us) / US_PER_SECOND);
    return rc;
}

size_t pipeline_n_langs(const struct pipeline *p)
{
    return p->n_langs;
}

const char *pipeline_lang(const struct pipeline *p, size_t i)
{
    return p->langs[i];
}

/* The glossary for utterance (or, utterance < 0, for whatever starts
 * next): a new one waits for the utterance in progress to end. */
static const struct glossary *glossary_for(struct pipeline *p, int utterance)
{
    if (p->glossary_pending &&
        (utterance < 0 ? !asr_stream_in_utterance(p->asr) : utterance >= p->glossary_from)) {
        glossary_free(p->glossary);
        p->glossary = p->glossary_next;
        p->glossary_next = NULL;
        p->glossary_pending = 0;
    }
    return p->glossary;
}

static void translate_and_emit(struct pipeline *p, const struct asr_hyp *hyp, int final)
{
    double cpu_s = thread_cpu_s();
    char *spelled = glossary_spell_source(glossary_for(p, hyp->utterance), hyp->text);
    pipeline_emit_caption(p, PIPELINE_SOURCE_LANG, hyp, spelled, final, NULL, -1);
    free(spelled);
    if (!final && !pipeline_translate_partial_now(p, hyp)) {
        p->emit_cpu_s += thread_cpu_s() - cpu_s;
        return;
    }
    for (size_t i = 0; i < p->n_langs; i++) {
        const char *lang = p->langs[i];
        char *translated = NULL;
        int rc = pipeline_translate(p, lang, hyp->text, &translated);
        if (rc < 0) {
            /* One failed sentence must not hold up the session: a failed
             * partial is skipped, a failed final goes out empty. */
            bc_warn("translation to %s failed: %s", lang, bc_strerror(rc));
            if (!final)
                continue;
        }
        const char *text = translated ? translated : "";
        int delivered_before = pipeline_emit_caption(p, lang, hyp, text, final, NULL, -1);
        if (final && !delivered_before)
            pipeline_speak(p, lang, hyp->utterance, -1, text, 0);
        free(translated);
    }
    p->emit_cpu_s += thread_cpu_s() - cpu_s;
}

static void on_hyp(struct pipeline *p, const struct asr_hyp *hyp, int final)
{
    if (!p->simul) {
        translate_and_emit(p, hyp, final);
        return;
    }
    double cpu_s = thread_cpu_s();
    if (final)
        pipeline_simul_final(p, p->simul, hyp);
    else
        pipeline_simul_partial(p, p->simul, hyp);
    p->emit_cpu_s += thread_cpu_s() - cpu_s;
}

static void on_partial(void *user_data, const struct asr_hyp *hyp)
{
    on_hyp(user_data, hyp, 0);
}

static void on_final(void *user_data, const struct asr_hyp *hyp)
{
    on_hyp(user_data, hyp, 1);
}

int pipeline_new(const struct pipeline_engines *engines, const char *const *langs, size_t n_langs,
                 pipeline_sink sink, void *user_data, struct pipeline **out)
{
    *out = NULL;
    struct pipeline *p = bc_calloc(1, sizeof *p);
    p->engines = *engines;
    p->sink = sink;
    p->user_data = user_data;
    p->partial_mt_utterance = -1;
    struct pacer_params pacer_params;
    pacer_default_params(&pacer_params);
    if (pacer_new(&pacer_params, &p->pacer) < 0)
        abort(); /* the defaults are valid */
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->idle, NULL);
    pipeline_set_languages(p, langs, n_langs);
    struct asr_callbacks cb = {on_partial, on_final, p};
    int rc = asr_stream_new(engines->asr, &cb, &p->asr);
    if (rc < 0)
        goto fail;
    *out = p;
    return 0;
fail:
    pipeline_free(p);
    return rc;
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    pipeline_wait_idle(p);
    asr_stream_free(p->asr);
    pipeline_simul_free(p->simul);
    pacer_free(p->pacer);
    glossary_free(p->glossary);
    glossary_free(p->glossary_next);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void pipeline_set_mode(struct pipeline *p, enum pipeline_mode mode)
{
    if (mode == PIPELINE_SIMULTANEOUS && !p->simul)
        p->simul = pipeline_simul_new();
    if (mode == PIPELINE_SENTENCE) {
        pipeline_simul_free(p->simul);
        p->simul = NULL;
    }
}

void pipeline_set_pacing(struct pipeline *p, enum pipeline_pacing pacing)
{
    pthread_mutex_lock(&p->lock);
    p->pacing = pacing;
    pthread_mutex_unlock(&p->lock);
}

void pipeline_set_languages(struct pipeline *p, const char *const *langs, size_t n_langs)
{
    p->n_langs = 0;
    for (size_t i = 0; i < n_langs && p->n_langs < PIPELINE_LANGS_MAX; i++) {
        const struct mt_language *l = mt_language_find(p->engines.mt, langs[i]);
        if (!l) {
            bc_warn("no translation into '%s'; ignored", langs[i]);
            continue;
        }
        int seen = 0;
        for (size_t j = 0; j < p->n_langs; j++)
            seen |= strcmp(p->langs[j], l->code) == 0;
        if (!seen)
            snprintf(p->langs[p->n_langs++], PIPELINE_LANG_MAX, "%s", l->code);
    }
}

/* Recognition's own CPU time: the feed's, less what its callbacks spent
 * translating and emitting. */
static void measure_asr(struct pipeline *p, double cpu_before_s, double emit_before_s,
                        size_t n_samples)
{
    double emit_s = p->emit_cpu_s - emit_before_s;
    double asr_s = thread_cpu_s() - cpu_before_s - emit_s;
    probe_asr(asr_s > 0 ? asr_s : 0, (double)n_samples / ASR_RATE_HZ);
}

/* The recognizer prefers every term of the glossary, from its next utterance. */
static void prefer_terms(struct pipeline *p, const struct glossary *glossary)
{
    size_t n = glossary_count(glossary);
    struct asr_term *terms = bc_calloc(n ? n : 1, sizeof *terms);
    for (size_t i = 0; i < n; i++)
        terms[i] = (struct asr_term){glossary_term(glossary, i), glossary_sounds_like(glossary, i)};
    asr_stream_set_vocabulary(p->asr, terms, n);
    free(terms);
}

void pipeline_set_glossary(struct pipeline *p, struct glossary *glossary)
{
    prefer_terms(p, glossary);
    glossary_free(p->glossary_next);
    p->glossary_next = glossary;
    p->glossary_pending = 1;
    p->glossary_from = asr_stream_next_utterance(p->asr) + asr_stream_in_utterance(p->asr);
    glossary_for(p, -1);
}

int pipeline_feed(struct pipeline *p, const int16_t *pcm, size_t n_samples)
{
    double cpu_s = thread_cpu_s(), emit_s = p->emit_cpu_s;
    glossary_for(p, -1);
    size_t step = p->simul ? (size_t)ASR_RATE_HZ * PIPELINE_TICK_MS / MS_PER_SECOND : n_samples;
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < n_samples; off += step) {
        size_t n = n_samples - off < step ? n_samples - off : step;
        rc = asr_stream_feed(p->asr, pcm + off, n);
        if (p->simul && rc == 0 && asr_stream_in_utterance(p->asr)) {
            double tick_cpu_s = thread_cpu_s();
            pipeline_simul_tick(p, p->simul, asr_stream_position(p->asr));
            p->emit_cpu_s += thread_cpu_s() - tick_cpu_s;
        }
    }
    measure_asr(p, cpu_s, emit_s, n_samples);
    return rc;
}

int pipeline_flush(struct pipeline *p)
{
    double cpu_s = thread_cpu_s(), emit_s = p->emit_cpu_s;
    int rc = asr_stream_flush(p->asr);
    measure_asr(p, cpu_s, emit_s, 0);
    return rc;
}

void pipeline_wait_idle(struct pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0)
        pthread_cond_wait(&p->idle, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

int64_t pipeline_position(const struct pipeline *p)
{
    return asr_stream_position(p->asr);
}

int pipeline_in_utterance(const struct pipeline *p)
{
    return asr_stream_in_utterance(p->asr);
}

int pipeline_next_utterance(const struct pipeline *p)
{
    return asr_stream_next_utterance(p->asr);
}

int pipeline_resume(struct pipeline *p, int64_t position, int next_utterance)
{
    return asr_stream_resume(p->asr, position, next_utterance);
}

void pipeline_set_lagging(struct pipeline *p, int lagging)
{
    p->lagging = lagging;
}

#include "pipeline/speech_out.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "audio/audio_opus.h"
#include "metrics/probes.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SPEECH_OUT_SUBMIT_RETRY_US 1000
#define MS_PER_SECOND 1000.0

/* The Opus side of a speech_out; touched only on the encoder's thread. */
struct opus_track {
    char session[DELIVERY_ID_MAX];
    char lang[DELIVERY_LANG_MAX];
    struct delivery *bus;
    struct audio_opus_encoder *encoder; /* NULL when it could not be made */
    int input_rate_hz;
};

enum opus_job_kind { OPUS_JOB_START, OPUS_JOB_SAMPLES, OPUS_JOB_END, OPUS_JOB_FREE };

struct opus_job {
    enum opus_job_kind kind;
    struct opus_track *track;
    int utterance;
    int chunk;
    int sample_rate_hz;
    bool has_timing;
    struct protocol_origin timing;
    size_t n_samples;
    int16_t samples[];
};

struct speech_out {
    char session[DELIVERY_ID_MAX];
    char lang[DELIVERY_LANG_MAX];
    struct archive *archive;
    struct delivery *bus;
    struct serial *encoder;
    struct opus_track *opus;
    bool speaking;
    bool opus_utterance; /* this utterance is being sent in Opus */
    bool opus_backlog_warned;
    int utterance;
    int chunk;
    struct archive_speech *archived; /* the utterance being archived */
    int64_t unheard_append_ms; /* the utterance's timing until its first audio goes out; 0: none */
};

struct speech_out *speech_out_new(const char *session, const char *lang, struct archive *archive,
                                  struct delivery *bus, struct serial *encoder)
{
    struct speech_out *o = bc_calloc(1, sizeof *o);
    snprintf(o->session, sizeof o->session, "%s", session);
    snprintf(o->lang, sizeof o->lang, "%s", lang);
    o->archive = archive;
    o->bus = bus;
    o->encoder = encoder;
    o->chunk = -1;
    o->opus = bc_calloc(1, sizeof *o->opus);
    snprintf(o->opus->session, sizeof o->opus->session, "%s", session);
    snprintf(o->opus->lang, sizeof o->opus->lang, "%s", lang);
    o->opus->bus = bus;
    return o;
}

static void publish(struct delivery *bus, const char *session, const char *lang,
                    enum delivery_codec codec, bool binary, const void *data, size_t len)
{
    struct delivery_msg *m = delivery_msg_new(session, lang, binary, data, len);
    m->codec = codec;
    delivery_publish(bus, m);
}

/* Messages of a chunk say which one (simultaneous mode). */
static cJSON *with_chunk(cJSON *json, int chunk)
{
    if (chunk >= 0)
        cJSON_AddNumberToObject(json, "chunk", chunk);
    return json;
}

static void publish_json(struct delivery *bus, const char *session, const char *lang,
                         enum delivery_codec codec, cJSON *json)
{
    struct delivery_msg *m = delivery_msg_json(session, lang, json);
    m->codec = codec;
    delivery_publish(bus, m);
    cJSON_Delete(json);
}

/* ---- the encoder's thread ---- */

static void publish_opus_packet(const uint8_t *data, size_t len, void *user_data)
{
    struct opus_track *t = user_data;
    publish(t->bus, t->session, t->lang, DELIVERY_CODEC_OPUS, true, data, len);
}

/* Returns false when no encoder can be made for this rate. */
static bool track_start(struct opus_track *t, int sample_rate_hz)
{
    if (t->encoder && t->input_rate_hz == sample_rate_hz)
        return true;
    audio_opus_encoder_free(t->encoder);
    t->encoder = NULL;
    t->input_rate_hz = sample_rate_hz;
    if (audio_opus_encoder_new(sample_rate_hz, &t->encoder) < 0)
        bc_warn("session %s: no Opus audio for %s", t->session, t->lang);
    return t->encoder != NULL;
}

static void run_opus_job(void *arg)
{
    struct opus_job *job = arg;
    struct opus_track *t = job->track;
    switch (job->kind) {
    case OPUS_JOB_START:
        if (track_start(t, job->sample_rate_hz))
            publish_json(t->bus, t->session, t->lang, DELIVERY_CODEC_OPUS,
                         with_chunk(protocol_audio_start(job->utterance, AUDIO_OPUS_RATE_HZ,
                                                         delivery_codec_name(DELIVERY_CODEC_OPUS),
                                                         AUDIO_OPUS_FRAME_MS,
                                                         job->has_timing ? &job->timing : NULL),
                                    job->chunk));
        break;
    case OPUS_JOB_SAMPLES:
        if (t->encoder && audio_opus_encoder_push(t->encoder, job->samples, job->n_samples,
                                                  publish_opus_packet, t) < 0)
            bc_warn("session %s: Opus encoding failed for %s", t->session, t->lang);
        break;
    case OPUS_JOB_END:
        if (t->encoder) {
            size_t opus_samples = 0;
            audio_opus_encoder_finish(t->encoder, publish_opus_packet, t, &opus_samples);
            publish_json(t->bus, t->session, t->lang, DELIVERY_CODEC_OPUS,
                         with_chunk(protocol_audio_end(job->utterance, opus_samples), job->chunk));
        }
        break;
    case OPUS_JOB_FREE:
        audio_opus_encoder_free(t->encoder);
        free(t);
        break;
    }
    free(job);
}

/* ---- the caller's thread ---- */

static struct opus_job *opus_job_new(struct speech_out *o, enum opus_job_kind kind,
                                     size_t n_samples)
{
    struct opus_job *job = bc_calloc(1, sizeof *job + n_samples * sizeof job->samples[0]);
    job->kind = kind;
    job->track = o->opus;
    job->utterance = o->utterance;
    job->chunk = o->chunk;
    job->n_samples = n_samples;
    return job;
}

/* A full queue loses this utterance's Opus audio rather than stall
 * synthesis; its end still goes out so listeners stay in step. */
static void opus_submit(struct speech_out *o, struct opus_job *job)
{
    enum opus_job_kind kind = job->kind;
    if (serial_submit(o->encoder, o->opus, run_opus_job, job) == 0)
        return;
    free(job);
    if (kind == OPUS_JOB_SAMPLES && !o->opus_backlog_warned) {
        bc_warn("session %s: Opus encoder backlog: %s audio skipped", o->session, o->lang);
        o->opus_backlog_warned = true;
    }
}

void speech_out_start(struct speech_out *o, int utterance, int chunk, int sample_rate_hz,
                      const struct protocol_origin *timing)
{
    if (o->speaking) /* the previous utterance never ended */
        speech_out_end(o, 0);
    o->speaking = true;
    /* A later chunk of the same utterance goes on in the same file. */
    bool continues = chunk > 0 && utterance == o->utterance && o->archived;
    if (!continues) {
        archive_speech_close(o->archived);
        o->archived = NULL;
    }
    o->utterance = utterance;
    o->chunk = chunk;
    o->unheard_append_ms = timing ? timing->append_ms : 0;
    if (!continues && o->archive)
        archive_speech_open(o->archive, o->session, o->lang, utterance, sample_rate_hz,
                            &o->archived);
    publish_json(
        o->bus, o->session, o->lang, DELIVERY_CODEC_PCM16,
        with_chunk(protocol_audio_start(utterance, sample_rate_hz,
                                        delivery_codec_name(DELIVERY_CODEC_PCM16), 0, timing),
                   chunk));
    /* Decided per utterance: a listener who joins mid-utterance missed its
     * start anyway. */
    o->opus_utterance =
        o->encoder && delivery_demand(o->bus, o->session, o->lang, DELIVERY_CODEC_OPUS) > 0;
    if (o->opus_utterance) {
        struct opus_job *job = opus_job_new(o, OPUS_JOB_START, 0);
        job->sample_rate_hz = sample_rate_hz;
        job->has_timing = timing != NULL;
        if (timing)
            job->timing = *timing;
        opus_submit(o, job);
    }
}

void speech_out_samples(struct speech_out *o, const int16_t *pcm, size_t n)
{
    archive_speech_append(o->archived, pcm, n);
    publish(o->bus, o->session, o->lang, DELIVERY_CODEC_PCM16, true, pcm, n * sizeof *pcm);
    if (o->unheard_append_ms > 0 && n > 0) {
        probe_first_audio(o->lang, (double)(bc_wall_ms() - o->unheard_append_ms) / MS_PER_SECOND);
        o->unheard_append_ms = 0;
    }
    if (o->opus_utterance) {
        struct opus_job *job = opus_job_new(o, OPUS_JOB_SAMPLES, n);
        memcpy(job->samples, pcm, n * sizeof *pcm);
        opus_submit(o, job);
    }
}

void speech_out_end(struct speech_out *o, size_t n_samples)
{
    /* A chunk's file stays open: the next chunk may continue it. */
    if (o->chunk < 0) {
        archive_speech_close(o->archived);
        o->archived = NULL;
    }
    publish_json(o->bus, o->session, o->lang, DELIVERY_CODEC_PCM16,
                 with_chunk(protocol_audio_end(o->utterance, n_samples), o->chunk));
    if (o->opus_utterance)
        opus_submit(o, opus_job_new(o, OPUS_JOB_END, 0));
    o->opus_utterance = false;
    o->speaking = false;
}

struct opus_barrier {
    pthread_mutex_t lock;
    pthread_cond_t reached;
    bool done;
};

static void run_barrier(void *arg)
{
    struct opus_barrier *b = arg;
    pthread_mutex_lock(&b->lock);
    b->done = true;
    pthread_cond_signal(&b->reached);
    pthread_mutex_unlock(&b->lock);
}

/* Submits fn(arg) behind this track's jobs, waiting for room rather than
 * skipping it. Returns 0, or BC_ECLOSED when there is no executor. */
static int submit_waiting(struct speech_out *o, serial_job_fn fn, void *arg)
{
    int rc = o->encoder ? serial_submit(o->encoder, o->opus, fn, arg) : BC_ECLOSED;
    while (rc == BC_EAGAIN) {
        bc_sleep_us(SPEECH_OUT_SUBMIT_RETRY_US);
        rc = serial_submit(o->encoder, o->opus, fn, arg);
    }
    return rc;
}

void speech_out_flush(struct speech_out *o)
{
    if (!o)
        return;
    struct opus_barrier b = {.done = false};
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.reached, NULL);
    /* Jobs of one track run in order: once the barrier runs, so did they. */
    if (submit_waiting(o, run_barrier, &b) == 0) {
        pthread_mutex_lock(&b.lock);
        while (!b.done)
            pthread_cond_wait(&b.reached, &b.lock);
        pthread_mutex_unlock(&b.lock);
    }
    pthread_cond_destroy(&b.reached);
    pthread_mutex_destroy(&b.lock);
}

void speech_out_free(struct speech_out *o)
{
    if (!o)
        return;
    archive_speech_close(o->archived);
    /* The track is freed after the jobs queued before it, so this waits
     * for room rather than skip it. */
    struct opus_job *job = opus_job_new(o, OPUS_JOB_FREE, 0);
    int rc = submit_waiting(o, run_opus_job, job);
    if (rc < 0) /* no executor, or it is gone: nothing else holds the track */
        run_opus_job(job);
    free(o);
}

/* Speech synthesis on espeak-ng 1.51: one owner thread makes every espeak
 * call and serves a bounded FIFO of requests.
 *
 * espeak-ng 1.51 cannot be initialized twice in one process: after a second
 * espeak_Initialize (with or without espeak_Terminate in between) the next
 * espeak_Terminate hangs forever, and voice data of the first one stay cached.
 * So espeak is initialized once per process by the first tts_new and kept
 * until exit; later instances only resize its output buffer. */
#include "engine/tts.h"

#include <ctype.h>
#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

enum {
    TTS_DEFAULT_QUEUE_MAX = 256,
    TTS_DEFAULT_CHUNK_MS = 100,
    TTS_CHUNK_MS_MIN = 10,
    TTS_CHUNK_MS_MAX = 1000,
    /* espeak's default is 175; translated speech runs longer than its
     * English source, so speak a little faster to keep up with a live talk. */
    TTS_RATE_WPM = 185,
    TTS_LANG_MAX_BYTES = 16,
    /* Far above a sentence; bounds the copy and the time one request can
     * hold the only synthesis thread. */
    TTS_TEXT_MAX_BYTES = 64 * 1024,
};

struct tts_voice_entry {
    const char *lang; /* normalized: lower case, '_' separator */
    const char *voice;
    bool stand_in;
};

/* Voice names as espeak_SetVoiceByName accepts them in 1.51 ("fr-fr" and
 * "pt-pt" are language tags there, not names). */
static const struct tts_voice_entry tts_voices[] = {
    {"es", "es", false},     {"ca", "ca", false},       {"eo", "eo", false}, {"fr", "fr", false},
    {"pt", "pt", false},     {"pt_br", "pt-br", false}, {"it", "it", false}, {"ro", "ro", false},
    {"an", "an", false},     {"en", "en-us", false},    {"gl", "pt", true},  {"oc", "ca", true},
    {"oc_aran", "ca", true}, {"ast", "es", true},
};
#define TTS_N_VOICES (sizeof tts_voices / sizeof tts_voices[0])

struct tts_req {
    struct tts_req *next;
    const struct tts_voice_entry *voice;
    char *text;
    int rate_wpm;
    tts_chunk_cb cb;
    void *user_data;
};

struct tts {
    pthread_mutex_t lock;
    pthread_cond_t work_cond; /* owner thread waits for requests or close */
    pthread_cond_t init_cond; /* tts_new waits for the owner's init */
    bool sync_ready;
    bool owns_instance;
    pthread_t thread;
    bool thread_started;

    struct tts_req *head, *tail; /* under lock */
    int n_queued;
    bool closed;
    bool init_done;
    int init_rc;

    int queue_max;
    int chunk_ms;
    char *data_dir;
    int sample_rate;             /* written before init_done, then read-only */
    bool voice_ok[TTS_N_VOICES]; /* same */
    const char *current_voice;   /* owner thread only */
    int current_rate_wpm;        /* owner thread only; 0: unknown */
};

/* Process-wide espeak state; see the top comment. g_espeak_* are touched by
 * one owner thread at a time (instances never overlap). */
static pthread_mutex_t g_instance_lock = PTHREAD_MUTEX_INITIALIZER;
static bool g_instance_alive;
static bool g_espeak_ready;
static int g_espeak_rate;
static char *g_espeak_data_dir;

void tts_default_params(struct tts_params *params)
{
    params->queue_max = TTS_DEFAULT_QUEUE_MAX;
    params->chunk_ms = TTS_DEFAULT_CHUNK_MS;
    params->data_dir = NULL;
}

static bool tts_same_dir(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static int tts_on_chunk(short *wav, int n_samples, espeak_EVENT *events)
{
    struct tts_req *req = events ? events->user_data : NULL;
    if (!req)
        return 1; /* not ours: abort rather than deliver audio nowhere */
    if (wav && n_samples > 0)
        req->cb(req->user_data, (const int16_t *)wav, (size_t)n_samples, false, 0);
    return 0;
}

static int tts_engine_init(struct tts *tts)
{
    if (!g_espeak_ready) {
        int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, tts->chunk_ms, tts->data_dir,
                                     espeakINITIALIZE_DONT_EXIT);
        if (rate <= 0) {
            bc_error("tts: espeak_Initialize failed (%d), data dir %s", rate,
                     tts->data_dir ? tts->data_dir : "(default)");
            return BC_EENGINE;
        }
        g_espeak_ready = true;
        g_espeak_rate = rate;
        g_espeak_data_dir = tts->data_dir ? bc_strdup(tts->data_dir) : NULL;
    } else if (espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, tts->chunk_ms, NULL) !=
               ENS_OK) {
        bc_error("tts: espeak output buffer of %d ms refused", tts->chunk_ms);
        return BC_EENGINE;
    }
    tts->sample_rate = g_espeak_rate;
    espeak_SetSynthCallback(tts_on_chunk);
    for (size_t i = 0; i < TTS_N_VOICES; i++) {
        tts->voice_ok[i] = espeak_SetVoiceByName(tts_voices[i].voice) == EE_OK;
        if (!tts->voice_ok[i])
            bc_warn("tts: no espeak voice '%s': language %s is text-only", tts_voices[i].voice,
                    tts_voices[i].lang);
    }
    tts->current_voice = NULL;
    tts->current_rate_wpm = 0;
    return 0;
}

static void tts_run(struct tts *tts, struct tts_req *req)
{
    int err = 0;
    if (tts->current_voice != req->voice->voice) {
        tts->current_voice = NULL;
        /* A new voice brings its own rate. */
        tts->current_rate_wpm = 0;
        if (espeak_SetVoiceByName(req->voice->voice) != EE_OK)
            err = BC_EENGINE;
        else
            tts->current_voice = req->voice->voice;
    }
    if (!err && tts->current_rate_wpm != req->rate_wpm) {
        espeak_SetParameter(espeakRATE, req->rate_wpm, 0);
        tts->current_rate_wpm = req->rate_wpm;
    }
    if (!err) {
        espeak_ERROR rc = espeak_Synth(req->text, strlen(req->text) + 1, 0, POS_CHARACTER, 0,
                                       espeakCHARS_UTF8, NULL, req);
        if (rc != EE_OK) {
            bc_error("tts: espeak_Synth failed (%d) for %s", (int)rc, req->voice->lang);
            err = BC_EENGINE;
        }
    }
    req->cb(req->user_data, NULL, 0, true, err);
}

static void tts_req_free(struct tts_req *req)
{
    if (!req)
        return;
    free(req->text);
    free(req);
}

static void *tts_thread_main(void *arg)
{
    struct tts *tts = arg;
    int rc = tts_engine_init(tts);

    pthread_mutex_lock(&tts->lock);
    tts->init_rc = rc;
    tts->init_done = true;
    pthread_cond_signal(&tts->init_cond);
    pthread_mutex_unlock(&tts->lock);
    if (rc)
        return NULL;

    for (;;) {
        pthread_mutex_lock(&tts->lock);
        while (!tts->head && !tts->closed)
            pthread_cond_wait(&tts->work_cond, &tts->lock);
        struct tts_req *req = tts->head;
        if (req) {
            tts->head = req->next;
            if (!tts->head)
                tts->tail = NULL;
            tts->n_queued--;
        }
        pthread_mutex_unlock(&tts->lock);
        if (!req)
            break; /* closed and drained */
        tts_run(tts, req);
        tts_req_free(req);
    }
    return NULL;
}

int tts_new(const struct tts_params *params, struct tts **out)
{
    struct tts_params defaults;
    struct tts *tts = NULL;
    int rc;

    if (!out)
        return BC_EINVAL;
    *out = NULL;
    if (!params) {
        tts_default_params(&defaults);
        params = &defaults;
    }
    if (params->queue_max < 1 || params->chunk_ms < TTS_CHUNK_MS_MIN ||
        params->chunk_ms > TTS_CHUNK_MS_MAX) {
        bc_error("tts: queue_max %d or chunk_ms %d out of range", params->queue_max,
                 params->chunk_ms);
        return BC_EINVAL;
    }
    /* espeak silently falls back to its default data for a missing dir. */
    struct stat st;
    if (params->data_dir && (stat(params->data_dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        bc_error("tts: espeak data dir %s is not a directory", params->data_dir);
        return BC_EENGINE;
    }

    tts = bc_calloc(1, sizeof *tts);
    tts->queue_max = params->queue_max;
    tts->chunk_ms = params->chunk_ms;
    tts->data_dir = params->data_dir ? bc_strdup(params->data_dir) : NULL;

    pthread_mutex_lock(&g_instance_lock);
    if (g_instance_alive) {
        rc = BC_ESTATE;
        bc_error("tts: only one instance per process");
    } else if (g_espeak_ready && !tts_same_dir(g_espeak_data_dir, tts->data_dir)) {
        rc = BC_ESTATE;
        bc_error("tts: espeak already initialized with data dir %s; cannot switch to %s",
                 g_espeak_data_dir ? g_espeak_data_dir : "(default)",
                 tts->data_dir ? tts->data_dir : "(default)");
    } else {
        rc = 0;
        g_instance_alive = true;
        tts->owns_instance = true;
    }
    pthread_mutex_unlock(&g_instance_lock);
    if (rc)
        goto fail;

    pthread_mutex_init(&tts->lock, NULL);
    pthread_cond_init(&tts->work_cond, NULL);
    pthread_cond_init(&tts->init_cond, NULL);
    tts->sync_ready = true;

    if (pthread_create(&tts->thread, NULL, tts_thread_main, tts) != 0) {
        rc = BC_EIO;
        goto fail;
    }
    tts->thread_started = true;

    pthread_mutex_lock(&tts->lock);
    while (!tts->init_done)
        pthread_cond_wait(&tts->init_cond, &tts->lock);
    rc = tts->init_rc;
    pthread_mutex_unlock(&tts->lock);
    if (rc)
        goto fail;

    *out = tts;
    return 0;

fail:
    tts_free(tts);
    return rc;
}

void tts_free(struct tts *tts)
{
    if (!tts)
        return;
    if (tts->thread_started) {
        if (pthread_equal(pthread_self(), tts->thread)) {
            bc_error("tts: tts_free called from a TTS callback; ignored");
            return;
        }
        pthread_mutex_lock(&tts->lock);
        tts->closed = true;
        pthread_cond_signal(&tts->work_cond);
        pthread_mutex_unlock(&tts->lock);
        pthread_join(tts->thread, NULL);
    }
    while (tts->head) {
        struct tts_req *next = tts->head->next;
        tts_req_free(tts->head);
        tts->head = next;
    }
    if (tts->sync_ready) {
        pthread_mutex_destroy(&tts->lock);
        pthread_cond_destroy(&tts->work_cond);
        pthread_cond_destroy(&tts->init_cond);
    }
    if (tts->owns_instance) {
        pthread_mutex_lock(&g_instance_lock);
        g_instance_alive = false;
        pthread_mutex_unlock(&g_instance_lock);
    }
    free(tts->data_dir);
    free(tts);
}

int tts_sample_rate(const struct tts *tts)
{
    return tts ? tts->sample_rate : 0;
}

/* Index into tts_voices of lang ("pt-BR", "es_MX", "GL"...), or -1. */
static int tts_lookup(const char *lang)
{
    char key[TTS_LANG_MAX_BYTES];
    size_t n = strlen(lang);
    if (n == 0 || n >= sizeof key)
        return -1;
    for (size_t i = 0; i <= n; i++)
        key[i] = lang[i] == '-' ? '_' : (char)tolower((unsigned char)lang[i]);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < TTS_N_VOICES; i++)
            if (strcmp(tts_voices[i].lang, key) == 0)
                return (int)i;
        /* An unlisted region variant speaks with its base language. */
        char *sep = strchr(key, '_');
        if (!sep)
            break;
        *sep = '\0';
    }
    return -1;
}

int tts_voice_for(const struct tts *tts, const char *lang, const char **voice, bool *stand_in)
{
    if (!tts || !lang)
        return BC_EINVAL;
    int i = tts_lookup(lang);
    if (i < 0 || !tts->voice_ok[i])
        return BC_ENOTFOUND;
    if (voice)
        *voice = tts_voices[i].voice;
    if (stand_in)
        *stand_in = tts_voices[i].stand_in;
    return 0;
}

int tts_submit(struct tts *tts, const char *lang, const char *text, tts_chunk_cb cb,
               void *user_data)
{
    return tts_submit_speed(tts, lang, text, TTS_SPEED_NORMAL, cb, user_data);
}

int tts_submit_speed(struct tts *tts, const char *lang, const char *text, int speed_percent,
                     tts_chunk_cb cb, void *user_data)
{
    if (!tts || !lang || !text || !cb || speed_percent < TTS_SPEED_MIN ||
        speed_percent > TTS_SPEED_MAX)
        return BC_EINVAL;
    size_t len = strnlen(text, TTS_TEXT_MAX_BYTES + 1);
    if (len > TTS_TEXT_MAX_BYTES) {
        bc_warn("tts: text over %d bytes refused", TTS_TEXT_MAX_BYTES);
        return BC_EINVAL;
    }
    int i = tts_lookup(lang);
    if (i < 0 || !tts->voice_ok[i])
        return BC_ENOTFOUND;

    struct tts_req *req = bc_calloc(1, sizeof *req);
    req->voice = &tts_voices[i];
    req->text = bc_strndup(text, len);
    req->rate_wpm = TTS_RATE_WPM * speed_percent / TTS_SPEED_NORMAL;
    req->cb = cb;
    req->user_data = user_data;

    int rc = 0;
    pthread_mutex_lock(&tts->lock);
    if (tts->closed) {
        rc = BC_ECLOSED;
    } else if (tts->n_queued >= tts->queue_max) {
        rc = BC_EAGAIN;
    } else {
        if (tts->tail)
            tts->tail->next = req;
        else
            tts->head = req;
        tts->tail = req;
        tts->n_queued++;
        pthread_cond_signal(&tts->work_cond);
    }
    pthread_mutex_unlock(&tts->lock);
    if (rc)
        tts_req_free(req);
    return rc;
}

struct tts_collect {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
    int err;
    int16_t *pcm;
    size_t n, cap;
};

static void tts_collect_cb(void *user_data, const int16_t *pcm, size_t n_samples, bool last,
                           int err)
{
    struct tts_collect *c = user_data;
    if (n_samples > 0) {
        if (c->n + n_samples > c->cap) {
            c->cap = (c->n + n_samples) * 2;
            c->pcm = bc_realloc(c->pcm, c->cap * sizeof *c->pcm);
        }
        memcpy(c->pcm + c->n, pcm, n_samples * sizeof *pcm);
        c->n += n_samples;
    }
    if (last) {
        pthread_mutex_lock(&c->lock);
        c->err = err;
        c->done = true;
        pthread_cond_signal(&c->done_cond);
        pthread_mutex_unlock(&c->lock);
    }
}

int tts_synth(struct tts *tts, const char *lang, const char *text, int16_t **pcm, size_t *n_samples)
{
    if (!tts || !pcm || !n_samples)
        return BC_EINVAL;
    *pcm = NULL;
    *n_samples = 0;
    if (tts->thread_started && pthread_equal(pthread_self(), tts->thread))
        return BC_ESTATE; /* waiting on our own thread would never end */

    struct tts_collect c = {.done = false};
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.done_cond, NULL);
    int rc = tts_submit(tts, lang, text, tts_collect_cb, &c);
    if (rc)
        goto done;
    pthread_mutex_lock(&c.lock);
    while (!c.done)
        pthread_cond_wait(&c.done_cond, &c.lock);
    pthread_mutex_unlock(&c.lock);
    rc = c.err;
    if (rc)
        goto done;
    *pcm = c.pcm;
    *n_samples = c.n;
    c.pcm = NULL;

done:
    free(c.pcm);
    pthread_mutex_destroy(&c.lock);
    pthread_cond_destroy(&c.done_cond);
    return rc;
}

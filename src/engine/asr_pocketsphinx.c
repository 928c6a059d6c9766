/* pocketsphinx 0.8 (5prealpha) backend of asr.h. */
#include "engine/asr.h"
#include "engine/asr_vocab.h"

#include <pocketsphinx.h>
#include <sphinxbase/cmn.h>
#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define ASR_MODEL_DIR "/usr/share/pocketsphinx/model/en-us"
#define ASR_SAMPLES_PER_FRAME (ASR_RATE_HZ / 100) /* pocketsphinx frames are 10 ms */
/* Feeding in small blocks keeps the VAD's decisions (and so utterance times)
 * precise to this many samples. */
#define ASR_BLOCK_SAMPLES (ASR_RATE_HZ / 50)
/* pocketsphinx's default -vad_startspeech: speech is flagged this late. */
#define ASR_VAD_STARTSPEECH_FRAMES 10
#define ASR_POOL_MAX 64
#define ASR_TEXT_MAX 4096

/* A loaded decoder and the cepstral mean it started with: live CMN adapts
 * to each stream, so a reused decoder is reset to it for repeatable results. */
struct asr_decoder {
    ps_decoder_t *ps;
    mfcc_t *initial_cmn;
};

struct asr_model {
    struct asr_params params;
    char utt_silence_frames[16];
    pthread_mutex_t lock; /* guards pool and every ps_init/ps_free */
    struct asr_decoder *pool[ASR_POOL_MAX];
    int pool_count;
};

struct asr_stream {
    struct asr_model *model;
    struct asr_decoder *decoder;
    ps_decoder_t *ps;
    struct asr_callbacks cb;
    int64_t position;            /* samples fed */
    int64_t utt_start_sample;
    int64_t stream_start_sample; /* where the decoder's frame 0 is: 0, or the resume position */
    int64_t last_end_sample;
    int64_t next_partial_sample;
    int in_utterance;            /* VAD flagged speech since the last final */
    int utterance_has_text;      /* a partial was reported for the current utterance */
    int utterance_index;
    char last_partial[ASR_TEXT_MAX];
    struct asr_vocab *vocab_pending; /* for the next utterance */
    int vocab_added;                 /* the decoder has words of ours: not reused */
};

/* pocketsphinx logs through globals: configure them once, under the lock. */
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void silence_library_log(void)
{
    err_set_logfp(NULL);
}

void asr_default_params(struct asr_params *params)
{
    params->hmm_dir = ASR_MODEL_DIR "/en-us";
    params->lm_path = ASR_MODEL_DIR "/en-us.lm.bin";
    params->dict_path = ASR_MODEL_DIR "/cmudict-en-us.dict";
    params->utterance_silence_ms = 300;
    params->utterance_max_ms = 12000;
    params->partial_interval_ms = 100;
    params->fast_search = 1;
}

static void decoder_free(struct asr_decoder *d)
{
    if (!d)
        return;
    ps_free(d->ps);
    free(d->initial_cmn);
    free(d);
}

static ps_decoder_t *decoder_init(struct asr_model *model)
{
    const struct asr_params *p = &model->params;
    cmd_ln_t *config;
    if (p->fast_search)
        config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", p->hmm_dir, "-lm", p->lm_path, "-dict",
                             p->dict_path, "-vad_postspeech", model->utt_silence_frames,
                             "-fwdflat", "no", "-bestpath", "no", "-maxhmmpf", "3000", "-maxwpf",
                             "5", NULL);
    else
        config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", p->hmm_dir, "-lm", p->lm_path, "-dict",
                             p->dict_path, "-vad_postspeech", model->utt_silence_frames, NULL);
    if (!config)
        return NULL;
    ps_decoder_t *ps = ps_init(config);
    cmd_ln_free_r(config); /* the decoder holds its own reference */
    return ps;
}

static struct asr_decoder *decoder_create(struct asr_model *model)
{
    ps_decoder_t *ps = decoder_init(model);
    if (!ps)
        return NULL;
    struct asr_decoder *d = bc_calloc(1, sizeof *d);
    d->ps = ps;
    cmn_t *cmn = ps_get_feat(ps)->cmn_struct;
    d->initial_cmn = bc_calloc((size_t)cmn->veclen, sizeof *d->initial_cmn);
    cmn_live_get(cmn, d->initial_cmn);
    return d;
}

int asr_model_new(const struct asr_params *params, struct asr_model **out)
{
    *out = NULL;
    if (params->utterance_silence_ms < 50 || params->utterance_silence_ms > 5000 ||
        params->utterance_max_ms < 1000 || params->partial_interval_ms < 10)
        return BC_EINVAL;
    const char *files[] = {params->lm_path, params->dict_path};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (access(files[i], R_OK) != 0) {
            bc_error("speech model file %s is not readable", files[i]);
            return BC_EENGINE;
        }
    }
    pthread_once(&log_once, silence_library_log);
    struct asr_model *model = bc_calloc(1, sizeof *model);
    model->params = *params;
    snprintf(model->utt_silence_frames, sizeof model->utt_silence_frames, "%d",
             params->utterance_silence_ms / 10);
    pthread_mutex_init(&model->lock, NULL);
    pthread_mutex_lock(&model->lock);
    struct asr_decoder *d = decoder_create(model);
    pthread_mutex_unlock(&model->lock);
    if (!d) {
        bc_error("pocketsphinx could not load the model in %s", params->hmm_dir);
        goto fail;
    }
    model->pool[model->pool_count++] = d;
    *out = model;
    return 0;
fail:
    asr_model_free(model);
    return BC_EENGINE;
}

void asr_model_free(struct asr_model *model)
{
    if (!model)
        return;
    for (int i = 0; i < model->pool_count; i++)
        decoder_free(model->pool[i]);
    pthread_mutex_destroy(&model->lock);
    free(model);
}

int asr_stream_new(struct asr_model *model, const struct asr_callbacks *callbacks,
                   struct asr_stream **out)
{
    *out = NULL;
    pthread_mutex_lock(&model->lock);
    struct asr_decoder *d = model->pool_count ? model->pool[--model->pool_count]
                                              : decoder_create(model);
    pthread_mutex_unlock(&model->lock);
    if (!d)
        return BC_EENGINE;
    struct asr_stream *s = bc_calloc(1, sizeof *s);
    s->model = model;
    s->decoder = d;
    s->ps = d->ps;
    s->cb = *callbacks;
    cmn_live_set(ps_get_feat(d->ps)->cmn_struct, d->initial_cmn);
    if (ps_start_stream(s->ps) < 0 || ps_start_utt(s->ps) < 0) {
        asr_stream_free(s);
        return BC_EENGINE;
    }
    *out = s;
    return 0;
}

void asr_stream_free(struct asr_stream *s)
{
    if (!s)
        return;
    struct asr_model *model = s->model;
    ps_end_utt(s->ps); /* leaves the decoder ready for its next stream */
    asr_vocab_free(s->vocab_pending);
    pthread_mutex_lock(&model->lock);
    if (model->pool_count < ASR_POOL_MAX && !s->vocab_added)
        model->pool[model->pool_count++] = s->decoder;
    else
        decoder_free(s->decoder);
    pthread_mutex_unlock(&model->lock);
    free(s);
}

/* Copies hyp into buf with single spaces and no filler words like <sil>. */
static void normalize_text(const char *hyp, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    if (!hyp)
        return;
    const char *p = hyp;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *word = p;
        while (*p && *p != ' ')
            p++;
        size_t wlen = (size_t)(p - word);
        if (wlen == 0 || word[0] == '<' || word[0] == '[')
            continue;
        char term[ASR_TEXT_MAX];
        size_t term_len = asr_vocab_term_text(word, wlen, term, sizeof term);
        if (term_len) {
            word = term;
            wlen = term_len;
        }
        /* Alternate pronunciations come back as "word(2)". */
        const char *paren = memchr(word, '(', wlen);
        if (paren)
            wlen = (size_t)(paren - word);
        if (n + wlen + 2 > len)
            break;
        if (n)
            buf[n++] = ' ';
        memcpy(buf + n, word, wlen);
        n += wlen;
        buf[n] = '\0';
    }
}

static void report_partial(struct asr_stream *s)
{
    char text[ASR_TEXT_MAX];
    normalize_text(ps_get_hyp(s->ps, NULL), text, sizeof text);
    if (!text[0] || strcmp(text, s->last_partial) == 0)
        return;
    snprintf(s->last_partial, sizeof s->last_partial, "%s", text);
    s->utterance_has_text = 1;
    if (s->cb.on_partial) {
        struct asr_hyp hyp = {text, s->utterance_index, s->utt_start_sample, s->position, 0,
                              NULL, 0};
        s->cb.on_partial(s->cb.user_data, &hyp);
    }
}

/* Where each word of the final hypothesis ended, for the words
 * normalize_text keeps; frames count from the decoder's stream start. */
static size_t word_ends(struct asr_stream *s, int64_t *ends, size_t max)
{
    size_t n = 0;
    for (ps_seg_t *seg = ps_seg_iter(s->ps); seg; seg = ps_seg_next(seg)) {
        const char *w = ps_seg_word(seg);
        if (!w || w[0] == '<' || w[0] == '[')
            continue;
        if (n == max) {
            ps_seg_free(seg);
            break;
        }
        int sf, ef;
        ps_seg_frames(seg, &sf, &ef);
        ends[n++] = s->stream_start_sample + (int64_t)(ef + 1) * ASR_SAMPLES_PER_FRAME;
    }
    return n;
}

static int end_utterance(struct asr_stream *s, int64_t end_sample, int forced)
{
    if (ps_end_utt(s->ps) < 0)
        return BC_EENGINE;
    char text[ASR_TEXT_MAX];
    normalize_text(ps_get_hyp(s->ps, NULL), text, sizeof text);
    if (end_sample < s->utt_start_sample)
        end_sample = s->utt_start_sample;
    if ((text[0] || s->utterance_has_text) && s->cb.on_final) {
        int64_t ends[ASR_TEXT_MAX / 2];
        struct asr_hyp hyp = {text, s->utterance_index, s->utt_start_sample, end_sample, forced,
                              ends, 0};
        hyp.n_words = word_ends(s, ends, sizeof ends / sizeof ends[0]);
        s->cb.on_final(s->cb.user_data, &hyp);
    }
    if (text[0] || s->utterance_has_text)
        s->utterance_index++;
    s->in_utterance = 0;
    s->utterance_has_text = 0;
    s->last_partial[0] = '\0';
    s->last_end_sample = end_sample;
    return ps_start_utt(s->ps) < 0 ? BC_EENGINE : 0;
}

/* Between utterances: the decoder's search is rebuilt with the new words. */
static int apply_vocabulary(struct asr_stream *s)
{
    int rc = ps_end_utt(s->ps) < 0 ? BC_EENGINE : asr_vocab_apply(s->ps, s->vocab_pending);
    asr_vocab_free(s->vocab_pending);
    s->vocab_pending = NULL;
    s->vocab_added = 1;
    if (ps_start_utt(s->ps) < 0)
        rc = BC_EENGINE;
    return rc;
}

static int process_block(struct asr_stream *s, const int16_t *pcm, size_t n)
{
    const struct asr_params *p = &s->model->params;
    if (s->vocab_pending && !s->in_utterance && apply_vocabulary(s) < 0)
        return BC_EENGINE;
    if (ps_process_raw(s->ps, pcm, n, FALSE, FALSE) < 0)
        return BC_EENGINE;
    s->position += (int64_t)n;
    int in_speech = ps_get_in_speech(s->ps);
    if (in_speech && !s->in_utterance) {
        int64_t start = s->position - ASR_VAD_STARTSPEECH_FRAMES * ASR_SAMPLES_PER_FRAME;
        s->utt_start_sample = start > s->last_end_sample ? start : s->last_end_sample;
        s->in_utterance = 1;
        s->next_partial_sample = s->position;
    }
    if (!s->in_utterance)
        return 0;
    if (!in_speech) {
        int64_t silence = (int64_t)p->utterance_silence_ms * ASR_RATE_HZ / 1000;
        return end_utterance(s, s->position - silence, 0);
    }
    if (s->position - s->utt_start_sample >= (int64_t)p->utterance_max_ms * ASR_RATE_HZ / 1000)
        return end_utterance(s, s->position, 1);
    if (s->position >= s->next_partial_sample) {
        report_partial(s);
        s->next_partial_sample = s->position + (int64_t)p->partial_interval_ms * ASR_RATE_HZ / 1000;
    }
    return 0;
}

int asr_stream_feed(struct asr_stream *s, const int16_t *pcm, size_t n_samples)
{
    while (n_samples > 0) {
        size_t n = n_samples < ASR_BLOCK_SAMPLES ? n_samples : ASR_BLOCK_SAMPLES;
        int rc = process_block(s, pcm, n);
        if (rc < 0)
            return rc;
        pcm += n;
        n_samples -= n;
    }
    return 0;
}

int asr_stream_flush(struct asr_stream *s)
{
    if (!s->in_utterance)
        return 0;
    return end_utterance(s, s->position, 1);
}

int64_t asr_stream_position(const struct asr_stream *s)
{
    return s->position;
}

int asr_stream_in_utterance(const struct asr_stream *s)
{
    return s->in_utterance;
}

int asr_stream_next_utterance(const struct asr_stream *s)
{
    return s->utterance_index;
}

int asr_stream_set_vocabulary(struct asr_stream *s, const struct asr_term *terms, size_t n)
{
    int taken;
    struct asr_vocab *v = asr_vocab_prepare(s->ps, terms, n, &taken);
    asr_vocab_free(s->vocab_pending);
    s->vocab_pending = v;
    return taken;
}

int asr_stream_resume(struct asr_stream *s, int64_t position, int next_utterance)
{
    if (s->position != 0 || position < 0 || next_utterance < 0)
        return BC_ESTATE;
    s->position = position;
    s->stream_start_sample = position;
    s->last_end_sample = position;
    s->utterance_index = next_utterance;
    return 0;
}

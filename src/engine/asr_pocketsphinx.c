/* pocketsphinx 0.8 (5prealpha) recognizer: decoder and utterance segmentation. */
#include "engine/asr_recognizer.h"
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

/* A loaded decoder, the cepstral mean it started with (live CMN adapts to
 * each stream, so a reused decoder is reset to it for repeatable results)
 * and the segmentation state of the stream it serves. */
struct asr_recognizer {
    struct asr_params params;
    ps_decoder_t *ps;
    mfcc_t *initial_cmn;
    int active;                  /* a stream is started */
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
    int vocab_added;                 /* the decoder has words of a stream's terms */
};

/* pocketsphinx logs through globals: configure them once. */
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void silence_library_log(void)
{
    err_set_logfp(NULL);
}

void asr_library_quiet(void)
{
    pthread_once(&log_once, silence_library_log);
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
    params->isolation = ASR_ISOLATION_FORK;
    params->trim_dictionary = 1;
}

int asr_params_check(const struct asr_params *params)
{
    if (params->utterance_silence_ms < 50 || params->utterance_silence_ms > 5000 ||
        params->utterance_max_ms < 1000 || params->partial_interval_ms < 10 ||
        (params->isolation != ASR_ISOLATION_IN_PROCESS && params->isolation != ASR_ISOLATION_FORK))
        return BC_EINVAL;
    const char *files[] = {params->lm_path, params->dict_path};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (access(files[i], R_OK) != 0) {
            bc_error("speech model file %s is not readable", files[i]);
            return BC_EENGINE;
        }
    }
    return 0;
}

static ps_decoder_t *decoder_init(const struct asr_params *p)
{
    char silence_frames[16];
    snprintf(silence_frames, sizeof silence_frames, "%d", p->utterance_silence_ms / 10);
    cmd_ln_t *config;
    if (p->fast_search)
        config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", p->hmm_dir, "-lm", p->lm_path, "-dict",
                             p->dict_path, "-vad_postspeech", silence_frames, "-fwdflat", "no",
                             "-bestpath", "no", "-maxhmmpf", "3000", "-maxwpf", "5", NULL);
    else
        config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", p->hmm_dir, "-lm", p->lm_path, "-dict",
                             p->dict_path, "-vad_postspeech", silence_frames, NULL);
    if (!config)
        return NULL;
    ps_decoder_t *ps = ps_init(config);
    cmd_ln_free_r(config); /* the decoder holds its own reference */
    return ps;
}

int asr_recognizer_new(const struct asr_params *params, struct asr_recognizer **out)
{
    *out = NULL;
    asr_library_quiet();
    ps_decoder_t *ps = decoder_init(params);
    if (!ps) {
        bc_error("pocketsphinx could not load the model in %s", params->hmm_dir);
        return BC_EENGINE;
    }
    struct asr_recognizer *r = bc_calloc(1, sizeof *r);
    r->params = *params;
    r->ps = ps;
    cmn_t *cmn = ps_get_feat(ps)->cmn_struct;
    r->initial_cmn = bc_calloc((size_t)cmn->veclen, sizeof *r->initial_cmn);
    cmn_live_get(cmn, r->initial_cmn);
    *out = r;
    return 0;
}

void asr_recognizer_free(struct asr_recognizer *r)
{
    if (!r)
        return;
    asr_recognizer_stop(r);
    ps_free(r->ps);
    free(r->initial_cmn);
    free(r);
}

int asr_recognizer_start(struct asr_recognizer *r, const struct asr_callbacks *callbacks)
{
    asr_recognizer_stop(r);
    if (r->vocab_added)
        return BC_ESTATE; /* another stream's terms would leak into this one */
    r->cb = *callbacks;
    r->position = r->utt_start_sample = r->stream_start_sample = 0;
    r->last_end_sample = r->next_partial_sample = 0;
    r->in_utterance = r->utterance_has_text = r->utterance_index = 0;
    r->last_partial[0] = '\0';
    cmn_live_set(ps_get_feat(r->ps)->cmn_struct, r->initial_cmn);
    if (ps_start_stream(r->ps) < 0 || ps_start_utt(r->ps) < 0)
        return BC_EENGINE;
    r->active = 1;
    return 0;
}

void asr_recognizer_stop(struct asr_recognizer *r)
{
    if (!r->active)
        return;
    ps_end_utt(r->ps); /* leaves the decoder ready for its next stream */
    asr_vocab_free(r->vocab_pending);
    r->vocab_pending = NULL;
    r->active = 0;
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

static void report_partial(struct asr_recognizer *s)
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
static size_t word_ends(struct asr_recognizer *s, int64_t *ends, size_t max)
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

static int end_utterance(struct asr_recognizer *s, int64_t end_sample, int forced)
{
    if (ps_end_utt(s->ps) < 0)
        return BC_EENGINE;
    char text[ASR_TEXT_MAX];
    normalize_text(ps_get_hyp(s->ps, NULL), text, sizeof text);
    if (end_sample < s->utt_start_sample)
        end_sample = s->utt_start_sample;
    if ((text[0] || s->utterance_has_text) && s->cb.on_final) {
        int64_t ends[ASR_WORDS_MAX];
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
static int apply_vocabulary(struct asr_recognizer *s)
{
    int rc = ps_end_utt(s->ps) < 0 ? BC_EENGINE : asr_vocab_apply(s->ps, s->vocab_pending);
    asr_vocab_free(s->vocab_pending);
    s->vocab_pending = NULL;
    s->vocab_added = 1;
    if (ps_start_utt(s->ps) < 0)
        rc = BC_EENGINE;
    return rc;
}

static int process_block(struct asr_recognizer *s, const int16_t *pcm, size_t n)
{
    const struct asr_params *p = &s->params;
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

int asr_recognizer_feed(struct asr_recognizer *s, const int16_t *pcm, size_t n_samples)
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

int asr_recognizer_flush(struct asr_recognizer *s)
{
    if (!s->in_utterance)
        return 0;
    return end_utterance(s, s->position, 1);
}

int64_t asr_recognizer_position(const struct asr_recognizer *s)
{
    return s->position;
}

int asr_recognizer_in_utterance(const struct asr_recognizer *s)
{
    return s->in_utterance;
}

int asr_recognizer_next_utterance(const struct asr_recognizer *s)
{
    return s->utterance_index;
}

int asr_recognizer_resume(struct asr_recognizer *s, int64_t position, int next_utterance)
{
    if (s->position != 0 || position < 0 || next_utterance < 0)
        return BC_ESTATE;
    s->position = position;
    s->stream_start_sample = position;
    s->last_end_sample = position;
    s->utterance_index = next_utterance;
    return 0;
}

int asr_recognizer_set_vocabulary(struct asr_recognizer *s, const char *full_dict,
                                  const struct asr_term *terms, size_t n)
{
    int taken;
    struct asr_vocab *v = asr_vocab_prepare(s->ps, full_dict, terms, n, &taken);
    asr_vocab_free(s->vocab_pending);
    s->vocab_pending = v;
    return taken;
}

int asr_recognizer_has_terms(const struct asr_recognizer *s)
{
    return s->vocab_added;
}

/* Streaming speech recognition with utterance segmentation (pocketsphinx).
 *
 * An asr_model holds the configuration and a pool of loaded decoders: a
 * decoder freed by one stream is reused by the next, since this pocketsphinx
 * cannot share one loaded model between decoders. Creating and destroying
 * decoders is serialized (the library's init and logging are not
 * thread-safe). Each asr_stream is used by one thread at a time; different
 * streams may run on different threads at once.
 *
 * Times are in samples of the stream's input timeline at ASR_RATE_HZ,
 * counted from the first sample fed. */
#ifndef BC_ASR_H
#define BC_ASR_H

#include <stddef.h>
#include <stdint.h>

#define ASR_RATE_HZ 16000

struct asr_params {
    const char *hmm_dir;        /* acoustic model directory */
    const char *lm_path;        /* binary language model */
    const char *dict_path;      /* pronunciation dictionary */
    int utterance_silence_ms;   /* silence that ends an utterance */
    int utterance_max_ms;       /* an utterance is cut at this length */
    int partial_interval_ms;    /* how often partial hypotheses are looked at */
    int fast_search;            /* 1: single pass with pruned beams (low finalize latency) */
};

/* One hypothesis. text is valid only during the callback. */
struct asr_hyp {
    const char *text;      /* lower-case words separated by single spaces */
    int utterance;         /* 0, 1, 2... per stream; partials and the final share it */
    int64_t start_sample;  /* first sample of the utterance's speech */
    int64_t end_sample;    /* final: last sample of speech; partial: samples fed so far */
    int forced;            /* final only: 1 when cut by utterance_max_ms or a flush */
    /* Final only (else NULL, 0): where each word of text ended, in samples
     * of the input timeline; n_words may be less than the words of text. */
    const int64_t *word_end_samples;
    size_t n_words;
};

/* Called on the thread that calls asr_stream_feed/asr_stream_flush.
 * on_partial runs when the text of the utterance in progress changes;
 * on_final runs once per utterance that produced any text (the text may be
 * empty when the final pass retracted a partial). */
struct asr_callbacks {
    void (*on_partial)(void *user_data, const struct asr_hyp *hyp);
    void (*on_final)(void *user_data, const struct asr_hyp *hyp);
    void *user_data;
};

struct asr_model;
struct asr_stream;

/* Fills params with the Debian en-us model paths and latency-tuned defaults. */
void asr_default_params(struct asr_params *params);

/* Validates params and loads one decoder to fail early. Returns 0 and *out
 * (free with asr_model_free after all its streams), or BC_EINVAL or
 * BC_EENGINE (model files missing or unreadable). */
int asr_model_new(const struct asr_params *params, struct asr_model **out);
void asr_model_free(struct asr_model *model);

/* Starts a stream with a decoder from the pool (or a new one, about 0.25 s
 * and 100 MB). Returns 0 and *out, or BC_EENGINE. */
int asr_stream_new(struct asr_model *model, const struct asr_callbacks *callbacks,
                   struct asr_stream **out);
/* Returns the decoder to the pool. An utterance in progress is dropped
 * without a final; call asr_stream_flush first to keep it. NULL is a no-op. */
void asr_stream_free(struct asr_stream *stream);

/* Feeds PCM16 mono samples at ASR_RATE_HZ. Callbacks run inside.
 * Returns 0 or BC_EENGINE. */
int asr_stream_feed(struct asr_stream *stream, const int16_t *pcm, size_t n_samples);
/* Ends the utterance in progress now (end of input): its final runs inside. */
int asr_stream_flush(struct asr_stream *stream);
/* Samples fed so far. */
int64_t asr_stream_position(const struct asr_stream *stream);
/* 1 while an utterance is in progress (speech seen and not yet final). */
int asr_stream_in_utterance(const struct asr_stream *stream);
/* The number the next utterance will get. */
int asr_stream_next_utterance(const struct asr_stream *stream);
/* A term the recognizer should prefer. */
struct asr_term {
    const char *text;        /* one or more words: "prudently", "holy spirit" */
    const char *sounds_like; /* NULL or "": text's own words are in the pronunciation
                                dictionary; else dictionary words whose sounds, one
                                after the other, make the term's: "koo ber net ease" */
};

/* Makes the stream prefer terms from its next utterance on (the utterance
 * in progress keeps what it started with): each becomes one word of the
 * recognizer with the concatenated pronunciations of its (or its
 * sounds_like's) words and a raised language-model probability, and is
 * reported as text in lower case. A term with a word missing from the
 * dictionary (and no sounds_like) is skipped. Terms stay preferred until
 * the stream ends, also when a later call leaves them out; the stream's
 * decoder is then not reused by another stream. Adding words rebuilds the
 * decoder's search once per call, at the first block fed between
 * utterances: about a second or more of CPU on the feeding thread, so a
 * change delays that stream's next captions by about as much. Copies what
 * it needs. Returns the number of terms taken (0..n). */
int asr_stream_set_vocabulary(struct asr_stream *stream, const struct asr_term *terms, size_t n);

/* Continues a stream recovered from a checkpoint: the timeline starts at
 * position samples and utterances are numbered from next_utterance. Call
 * before the first feed. Returns 0 or BC_ESTATE. */
int asr_stream_resume(struct asr_stream *stream, int64_t position, int next_utterance);

#endif

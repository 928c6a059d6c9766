/* Streaming speech recognition with utterance segmentation (pocketsphinx).
 *
 * An asr_model holds the configuration and a pool of recognizers: one freed
 * by a stream is reused by the next (reset to the cepstral mean it loaded
 * with, so results are repeatable). Each asr_stream is used by one thread
 * at a time; different streams may run on different threads at once.
 *
 * Isolation (asr_params.isolation):
 * - ASR_ISOLATION_FORK (default): asr_model_new forks a template process
 *   that loads one decoder; each recognizer is a process forked from it,
 *   sharing the loaded model copy-on-write (about 20 MB each instead of
 *   about 80). The stream calls below talk to it over a socket and run the
 *   callbacks on the calling thread, as in-process streams do. Forking is
 *   only safe while the process has a single thread, so asr_model_new must
 *   be called before the process starts any thread; it refuses otherwise
 *   (BC_ESTATE). A recognizer process that dies makes its stream's calls
 *   fail with BC_EENGINE once; the stream's next call, and the next
 *   asr_stream_new, get a fresh one.
 *   Recognizer processes end when the model is freed or the process dies.
 * - ASR_ISOLATION_IN_PROCESS: decoders live in this process (about 80 MB
 *   each); creating and destroying them is serialized (the library's init
 *   and logging are not thread-safe).
 *
 * Times are in samples of the stream's input timeline at ASR_RATE_HZ,
 * counted from the first sample fed. */
#ifndef BC_ASR_H
#define BC_ASR_H

#include <stddef.h>
#include <stdint.h>

#define ASR_RATE_HZ 16000

enum asr_isolation {
    ASR_ISOLATION_IN_PROCESS = 0, /* decoders in this process */
    ASR_ISOLATION_FORK = 1,       /* one process per recognizer, forked from a template */
};

struct asr_params {
    const char *hmm_dir;        /* acoustic model directory */
    const char *lm_path;        /* binary language model */
    const char *dict_path;      /* pronunciation dictionary */
    int utterance_silence_ms;   /* silence that ends an utterance */
    int utterance_max_ms;       /* an utterance is cut at this length */
    int partial_interval_ms;    /* how often partial hypotheses are looked at */
    int fast_search;            /* 1: single pass with pruned beams (low finalize latency) */
    int isolation;              /* enum asr_isolation */
    int trim_dictionary;        /* 1: load only the words the language model knows
                                   (same results, about 14 MB less per decoder) */
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

/* Validates params and loads one decoder to fail early (in forked mode: in
 * the template process it starts). Returns 0 and *out (free with
 * asr_model_free after all its streams), or BC_EINVAL, BC_EENGINE (model
 * files missing or unreadable, no process could be started) or BC_ESTATE
 * (forked mode asked for by a process that already runs threads). */
int asr_model_new(const struct asr_params *params, struct asr_model **out);
void asr_model_free(struct asr_model *model);

/* Starts a stream with a recognizer from the pool (or a new one: in-process
 * about 0.25 s and 80 MB; forked a few milliseconds and about 20 MB).
 * Returns 0 and *out, or BC_EENGINE. */
int asr_stream_new(struct asr_model *model, const struct asr_callbacks *callbacks,
                   struct asr_stream **out);
/* Returns the recognizer to the pool; a failed one, or one whose decoder
 * got terms (asr_stream_set_vocabulary), is discarded (forked: its process
 * ends). An utterance in progress is dropped without a final; call
 * asr_stream_flush first to keep it. NULL is a no-op. */
void asr_stream_free(struct asr_stream *stream);

/* Feeds PCM16 mono samples at ASR_RATE_HZ. Callbacks run inside.
 * Returns 0 or BC_EENGINE (the decoder failed or its process died; logged).
 * Forked: after BC_EENGINE the stream reads as it was when the failed call
 * began, and its next call hands it to a fresh recognizer process that
 * continues from there (the utterance in progress is lost), so retrying the
 * same samples is right. */
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
 * decoder is then not reused by another stream (forked: its process ends
 * with the stream). Adding words rebuilds the
 * decoder's search once per call, at the first block fed between
 * utterances: about a second or more of CPU on the feeding thread, so a
 * change delays that stream's next captions by about as much. Copies what
 * it needs. Returns the number of terms taken (0..n). Forked: at most 100
 * terms of up to 159 bytes each (text and sounds_like) are sent; when the
 * recognizer process fails the call returns 0 and the fresh process that
 * continues the stream gets the terms of the stream's last call. */
int asr_stream_set_vocabulary(struct asr_stream *stream, const struct asr_term *terms, size_t n);

/* Continues a stream recovered from a checkpoint: the timeline starts at
 * position samples and utterances are numbered from next_utterance. Call
 * before the first feed. Returns 0 or BC_ESTATE. */
int asr_stream_resume(struct asr_stream *stream, int64_t position, int next_utterance);
/* The id of the process that runs the stream's recognizer (forked mode),
 * or 0 in-process. For logs and tests. */
int asr_stream_process(const struct asr_stream *stream);

#endif

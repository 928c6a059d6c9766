/* One loaded pocketsphinx decoder with the utterance segmentation of the
 * stream it serves (private to src/engine).
 *
 * In-process streams drive one directly; in forked mode each recognizer
 * process drives the copy it inherited from the template process. A
 * recognizer serves one stream at a time and is used by one thread at a
 * time. Loading and freeing are not thread-safe (the library's init and
 * logging use globals): callers serialize them. Times are in samples at
 * ASR_RATE_HZ, as in asr.h. */
#ifndef BC_ASR_RECOGNIZER_H
#define BC_ASR_RECOGNIZER_H

#include "engine/asr.h"

/* Longest hypothesis text in bytes, terminator included. */
#define ASR_TEXT_MAX 4096
/* Most word end times a final carries (a word and a blank take 2 bytes). */
#define ASR_WORDS_MAX (ASR_TEXT_MAX / 2)

struct asr_recognizer;

/* Checks params without loading anything. Returns 0, BC_EINVAL (bad
 * numbers) or BC_EENGINE (model files missing or unreadable), logging why. */
int asr_params_check(const struct asr_params *params);

/* Silences the library's logging; once per process, thread-safe. */
void asr_library_quiet(void);

/* The dictionary decoders load: with params->trim_dictionary, the entries
 * of params->dict_path whose word the language model knows, in a memory
 * file (same hypotheses, about 14 MB less per decoder). */
struct asr_dict {
    int fd;        /* -1: the full dictionary */
    char path[32]; /* names fd */
};

/* Fills *load with params whose dict_path names the dictionary to load,
 * valid until asr_dict_release(dict). Takes about as long as loading a
 * decoder. Returns 0, BC_EIO or BC_EENGINE (logged); on failure nothing
 * needs releasing. */
int asr_dict_prepare(const struct asr_params *params, struct asr_dict *dict,
                     struct asr_params *load);
void asr_dict_release(struct asr_dict *dict);
/* The first pronunciation of word in the dictionary file at dict_path
 * (phones separated by blanks) into phones. Reads the whole file: for the
 * few words a trimmed dictionary left out. Returns 0, BC_ENOTFOUND, BC_EIO
 * or BC_EFORMAT (it does not fit len). */
int asr_dict_lookup(const char *dict_path, const char *word, char *phones, size_t len);

/* Loads a decoder (about 0.25 s and 100 MB). Returns 0 and *out, or
 * BC_EENGINE. The recognizer starts idle: call asr_recognizer_start. */
int asr_recognizer_new(const struct asr_params *params, struct asr_recognizer **out);
/* NULL is a no-op; an active stream is dropped. */
void asr_recognizer_free(struct asr_recognizer *r);

/* Starts a stream at position 0, utterance 0, with the decoder's cepstral
 * mean reset to its value after loading (repeatable results). Ends the
 * previous stream first, dropping an utterance in progress. callbacks are
 * copied. Returns 0 or BC_EENGINE. */
int asr_recognizer_start(struct asr_recognizer *r, const struct asr_callbacks *callbacks);
/* Ends the stream, dropping an utterance in progress; no-op when idle. */
void asr_recognizer_stop(struct asr_recognizer *r);

/* The asr_stream_* operations of asr.h on the active stream. */
int asr_recognizer_feed(struct asr_recognizer *r, const int16_t *pcm, size_t n_samples);
int asr_recognizer_flush(struct asr_recognizer *r);
int asr_recognizer_resume(struct asr_recognizer *r, int64_t position, int next_utterance);
int64_t asr_recognizer_position(const struct asr_recognizer *r);
int asr_recognizer_in_utterance(const struct asr_recognizer *r);
int asr_recognizer_next_utterance(const struct asr_recognizer *r);
/* asr_stream_set_vocabulary: returns the number of terms taken. full_dict
 * is NULL or the dictionary file to look words up in that the loaded
 * (trimmed) dictionary lacks. */
int asr_recognizer_set_vocabulary(struct asr_recognizer *r, const char *full_dict,
                                  const struct asr_term *terms, size_t n);
/* 1 once the decoder got words of a stream's terms: it must not serve
 * another stream (asr_recognizer_start refuses it with BC_ESTATE). */
int asr_recognizer_has_terms(const struct asr_recognizer *r);

#endif

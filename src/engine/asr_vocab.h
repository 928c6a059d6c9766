/* Internal to the pocketsphinx backend: glossary terms as words of a
 * decoder (asr_stream_set_vocabulary). A term becomes one dictionary word
 * named after it ("holy_spirit_G": its words joined by '_', then a suffix
 * no dictionary word has), with the concatenated pronunciations of its
 * words and a raised unigram probability. Not thread-safe: one decoder,
 * one thread. */
#ifndef BC_ASR_VOCAB_H
#define BC_ASR_VOCAB_H

#include <pocketsphinx.h>
#include <stddef.h>

#include "engine/asr.h"

struct asr_vocab;

/* Looks up the pronunciations of terms in ps's dictionary (then in the
 * file full_dict, when not NULL) now and keeps the words to add (skipping
 * terms that cannot be spelled, and words ps has already). Returns the new
 * list (free with asr_vocab_free, NULL when there is nothing to add) and
 * the number of terms taken in *taken. */
struct asr_vocab *asr_vocab_prepare(ps_decoder_t *ps, const char *full_dict,
                                    const struct asr_term *terms, size_t n, int *taken);
void asr_vocab_free(struct asr_vocab *v);
/* Adds the words to ps's dictionary and language model. Call between
 * utterances (after ps_end_utt, before ps_start_utt). Returns 0 or
 * BC_EENGINE. */
int asr_vocab_apply(ps_decoder_t *ps, const struct asr_vocab *v);
/* For a hypothesis word (wlen bytes at word) that names a term: the term's
 * text into buf (words separated by blanks, NUL-ended) and its length; 0
 * for any other word. */
size_t asr_vocab_term_text(const char *word, size_t wlen, char *buf, size_t len);

#endif

/* Stable prefixes of an utterance in progress, committed in chunks for
 * simultaneous translation. Fed the recognizer's partial hypotheses of one
 * stream, it commits the words the last `agree` partials share once they
 * end at a clause boundary: a pause (the hypothesis unchanged for pause_ms
 * of input: all its words), before a clause word (and, but, which, that,
 * because, so...), or at max_words; except at a pause, a chunk does not
 * end on a word that leans on the next one (the, of, his, was...).
 * Committed words are never taken back: the utterance's final completes
 * them with the words after them (aligned when the final disagrees with
 * the committed prefix).
 *
 * Pure logic, no engines. Not thread-safe: one caller at a time. */
#ifndef BC_CHUNKER_H
#define BC_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define CHUNKER_DEFAULT_AGREE 2
#define CHUNKER_DEFAULT_PAUSE_MS 250
#define CHUNKER_DEFAULT_MAX_WORDS 6
#define CHUNKER_DEFAULT_MIN_WORDS 2

struct chunker_params {
    int agree;     /* partials that must share a prefix before it is committed (>= 1) */
    int pause_ms;  /* a hypothesis unchanged this long (input time) ends a chunk */
    int max_words; /* a chunk never grows longer than this */
    int min_words; /* a clause word ends a chunk only after this many words */
};

struct chunker;

void chunker_default_params(struct chunker_params *params);
/* Returns 0 and *out (free with chunker_free), or BC_EINVAL for params out
 * of range. */
int chunker_new(const struct chunker_params *params, struct chunker **out);
/* NULL is a no-op. */
void chunker_free(struct chunker *c);

/* A partial hypothesis of utterance `utterance` (lower-case words separated
 * by spaces) seen when the input reached at_ms. A new utterance number
 * starts afresh. Returns 1 and *chunk (heap, caller frees: the words
 * committed now) or 0 when nothing was committed. */
int chunker_partial(struct chunker *c, int utterance, const char *text, int64_t at_ms,
                    char **chunk);
/* The input reached at_ms without a new partial. Returns as chunker_partial. */
int chunker_tick(struct chunker *c, int64_t at_ms, char **chunk);
/* The utterance's final text. Returns in *rest (heap, caller frees, may be
 * "") the words of the final after the committed ones, and starts afresh.
 * With nothing committed *rest is the whole final. */
void chunker_final(struct chunker *c, const char *text, char **rest);

/* The words committed in the utterance in progress ("" when none): valid
 * until the next call. */
const char *chunker_committed(const struct chunker *c);
/* Chunks committed in the utterance in progress. */
int chunker_chunks(const struct chunker *c);
/* The words of text after the committed prefix, aligned as by
 * chunker_final, in *rest (heap, caller frees). For partial captions. */
void chunker_rest(const struct chunker *c, const char *text, char **rest);

#endif

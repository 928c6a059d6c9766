/* A session's glossary: the names and terms a speaker wants recognized,
 * kept as they are or translated as given. Parsed from the API's JSON or
 * from the text form of `babelcast translate --glossary` and the speaker
 * page (one term per line: term, then TAB-separated fields `keep`,
 * `sounds_like=WORDS` or `LANG=translation`; blank lines and lines starting
 * with '#' are skipped). A glossary is immutable once built, so one may be
 * read by several threads; glossary_free it when no one uses it any more. */
#ifndef BC_GLOSSARY_H
#define BC_GLOSSARY_H

#include <stddef.h>

#include "util/lang_code.h"

#define GLOSSARY_TERMS_MAX 100    /* terms in one glossary */
#define GLOSSARY_TERM_MAX 64      /* bytes of UTF-8 in one term */
#define GLOSSARY_WORDS_MAX 8      /* words in one term */
#define GLOSSARY_TEXT_MAX 128     /* bytes of a translation or sounds_like */
#define GLOSSARY_LANGS_MAX 16     /* translations of one term */
#define GLOSSARY_ERROR_MAX 160    /* room for a parse error message */

struct glossary;
struct cJSON;

/* Maps a language code as written to its canonical code in out, and
 * returns 0, or BC_ENOTFOUND when the language is not offered. */
typedef int (*glossary_lang_fn)(void *user, const char *code, char out[LANG_CODE_MAX]);

/* From a JSON array of {"term": S, "keep": B, "translations": {LANG: S},
 * "sounds_like": S}. lang_ok checks every translation's language (NULL:
 * any well-formed code). Returns 0 and *out, or BC_EINVAL with a message
 * for people in err (err_size bytes, NUL-ended) that names the term. */
int glossary_from_json(const struct cJSON *array, glossary_lang_fn lang_ok, void *user,
                       struct glossary **out, char *err, size_t err_size);
/* As glossary_from_json from JSON text (the stored form). */
int glossary_parse_json(const char *json, glossary_lang_fn lang_ok, void *user,
                        struct glossary **out, char *err, size_t err_size);
/* From the text form (len bytes). Errors name the line. */
int glossary_parse_text(const char *text, size_t len, glossary_lang_fn lang_ok, void *user,
                        struct glossary **out, char *err, size_t err_size);
/* Accepts NULL. */
void glossary_free(struct glossary *g);

/* The canonical JSON array (what GET answers and the registry stores),
 * heap, caller frees. NULL g gives "[]". */
char *glossary_to_json(const struct glossary *g);
size_t glossary_count(const struct glossary *g);
/* The term at index as written, and its sounds_like ("" when none);
 * valid as long as g. */
const char *glossary_term(const struct glossary *g, size_t index);
const char *glossary_sounds_like(const struct glossary *g, size_t index);

/* Translates text (recognized English: words separated by blanks) into
 * lang with translate, protecting every term that is kept or has a
 * translation into lang: each occurrence (whole words, ignoring ASCII
 * case; the longest term wins) goes through the engine as a placeholder
 * the engine leaves alone, and comes out as the term (keep) or its given
 * translation. translate has mt_translate's contract. g NULL or without a
 * match: translate(text) unchanged. Returns translate's code; *out heap. */
typedef int (*glossary_translate_fn)(void *user, const char *lang, const char *text,
                                     char **out);
int glossary_translate(const struct glossary *g, glossary_translate_fn translate, void *user,
                       const char *lang, const char *text, char **out);
/* The source text with every term found in it spelled as the glossary
 * writes it ("holy spirit" -> "Holy Spirit"); heap, caller frees. */
char *glossary_spell_source(const struct glossary *g, const char *text);

#endif

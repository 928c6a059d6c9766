/* Language codes as the API spells them: ISO 639-1 where one exists, with
 * an optional variant ("pt_BR"). Pure functions, thread-safe. */
#ifndef BC_LANG_CODE_H
#define BC_LANG_CODE_H

#include <stddef.h>

#define LANG_CODE_MAX 16

/* "spa", "ES", "pt-br", "por_BR" (len bytes of code) -> "es", "es", "pt_BR",
 * "pt_BR". Returns 0 or BC_EINVAL when code is not LANG[_VARIANT] with a 2-3
 * letter LANG. */
int lang_code_normalize(const char *code, size_t len, char out[LANG_CODE_MAX]);
/* English name of a normalized code ("Spanish", "Brazilian Portuguese",
 * "Catalan (x)"), or the code itself when unknown. */
void lang_code_english_name(const char *code, char *name, size_t size);
/* 1 for the variants worth listing as languages of their own ("pt_BR"). */
int lang_code_is_named_variant(const char *code);

#endif

/* Language codes: ISO 639-1/639-3 spellings and English names. */
#include "util/lang_code.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/err.h"

struct lang_name {
    const char *iso1, *iso3, *name;
};

static const struct lang_name lang_names[] = {
    {"an", "arg", "Aragonese"}, {"ast", "ast", "Asturian"},
    {"br", "bre", "Breton"},    {"ca", "cat", "Catalan"},
    {"cy", "cym", "Welsh"},     {"da", "dan", "Danish"},
    {"de", "deu", "German"},    {"en", "eng", "English"},
    {"eo", "epo", "Esperanto"}, {"es", "spa", "Spanish"},
    {"eu", "eus", "Basque"},    {"fr", "fra", "French"},
    {"gl", "glg", "Galician"},  {"is", "isl", "Icelandic"},
    {"it", "ita", "Italian"},   {"kk", "kaz", "Kazakh"},
    {"mt", "mlt", "Maltese"},   {"nb", "nob", "Norwegian Bokmal"},
    {"nl", "nld", "Dutch"},     {"nn", "nno", "Norwegian Nynorsk"},
    {"oc", "oci", "Occitan"},   {"pt", "por", "Portuguese"},
    {"ro", "ron", "Romanian"},  {"sc", "srd", "Sardinian"},
    {"sv", "swe", "Swedish"},   {"tt", "tat", "Tatar"},
};

static const struct {
    const char *code, *name;
} variant_names[] = {
    {"pt_BR", "Brazilian Portuguese"},
    {"oc_aran", "Aranese"},
    {"ca_valencia", "Valencian"},
};

/* "spa", "ES", "pt-br", "por_BR" -> "es", "es", "pt_BR", "pt_BR". Returns 0
 * or BC_EINVAL when code is not LANG[_VARIANT] with a 2-3 letter LANG. */
int lang_code_normalize(const char *code, size_t len, char out[LANG_CODE_MAX])
{
    size_t llen = 0;
    while (llen < len && isalpha((unsigned char)code[llen]))
        llen++;
    if (llen < 2 || llen > 3 || len >= LANG_CODE_MAX)
        return BC_EINVAL;
    char lang[4] = {0};
    for (size_t i = 0; i < llen; i++)
        lang[i] = (char)tolower((unsigned char)code[i]);
    const char *iso1 = lang;
    for (size_t i = 0; i < sizeof lang_names / sizeof *lang_names; i++)
        if (strcmp(lang, lang_names[i].iso3) == 0 || strcmp(lang, lang_names[i].iso1) == 0)
            iso1 = lang_names[i].iso1;
    size_t n = strlen(iso1);
    memcpy(out, iso1, n);
    if (llen < len) {
        if ((code[llen] != '_' && code[llen] != '-') || llen + 1 == len)
            return BC_EINVAL;
        out[n++] = '_';
        for (size_t i = llen + 1; i < len; i++) {
            if (!isalnum((unsigned char)code[i]))
                return BC_EINVAL; /* more than one variant part */
            out[n++] = code[i];
        }
    }
    out[n] = '\0';
    return 0;
}

void lang_code_english_name(const char *code, char *name, size_t size)
{
    for (size_t i = 0; i < sizeof variant_names / sizeof *variant_names; i++)
        if (strcasecmp(code, variant_names[i].code) == 0) {
            snprintf(name, size, "%s", variant_names[i].name);
            return;
        }
    size_t llen = strcspn(code, "_");
    const char *lang = NULL;
    for (size_t i = 0; i < sizeof lang_names / sizeof *lang_names; i++)
        if (strlen(lang_names[i].iso1) == llen &&
            strncmp(code, lang_names[i].iso1, llen) == 0)
            lang = lang_names[i].name;
    if (!lang)
        snprintf(name, size, "%s", code);
    else if (code[llen])
        snprintf(name, size, "%s (%s)", lang, code + llen + 1);
    else
        snprintf(name, size, "%s", lang);
}

int lang_code_is_named_variant(const char *code)
{
    for (size_t i = 0; i < sizeof variant_names / sizeof *variant_names; i++)
        if (strcasecmp(code, variant_names[i].code) == 0)
            return 1;
    return 0;
}

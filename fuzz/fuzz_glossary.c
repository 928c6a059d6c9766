/* A session's glossary as a speaker sends it (API JSON or the text form):
 * a refusal must say why and build nothing; what is accepted must print
 * to JSON that parses back to the same glossary, and matching it against
 * text must neither crash nor lose the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "glossary/glossary.h"
#include "util/alloc.h"
#include "util/err.h"

#define FUZZ_SENTENCE "the holy spirit and prudently dashwood said kubernetes"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static int identity(void *user, const char *lang, const char *text, char **out)
{
    (void)user;
    (void)lang;
    *out = bc_strdup(text);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len == 0)
        return 0;
    char *text = fuzz_cstr(data + 1, len - 1);
    struct glossary *g = NULL;
    char err[GLOSSARY_ERROR_MAX] = "";
    int rc = data[0] & 1 ? glossary_parse_text(text, len - 1, NULL, NULL, &g, err, sizeof err)
                         : glossary_parse_json(text, NULL, NULL, &g, err, sizeof err);
    free(text);
    if (rc != 0) {
        if (rc != BC_EINVAL || g || !err[0])
            abort();
        return 0;
    }
    char *json = glossary_to_json(g);
    struct glossary *again = NULL;
    if (glossary_parse_json(json, NULL, NULL, &again, err, sizeof err) != 0 ||
        glossary_count(again) != glossary_count(g))
        abort();
    char *json_again = glossary_to_json(again);
    if (strcmp(json, json_again) != 0)
        abort();
    char *translated = NULL;
    if (glossary_translate(g, identity, NULL, "es", FUZZ_SENTENCE, &translated) != 0 || !translated)
        abort();
    char *spelled = glossary_spell_source(g, FUZZ_SENTENCE);
    if (!spelled)
        abort();
    fuzz_touch(translated, strlen(translated));
    free(spelled);
    free(translated);
    free(json_again);
    free(json);
    glossary_free(again);
    glossary_free(g);
    return 0;
}

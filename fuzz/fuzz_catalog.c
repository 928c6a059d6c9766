/* The language catalog a worker publishes through the registry, as a
 * gateway reads it: catalog_parse must refuse what is not a catalog, and
 * what it accepts must print and parse back to the same catalog. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "fuzz_common.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static int same_language(const struct catalog_language *a, const struct catalog_language *b)
{
    return strcmp(a->code, b->code) == 0 && strcmp(a->name, b->name) == 0 &&
           a->voice == b->voice && a->pivot == b->pivot && a->stand_in == (b->stand_in && b->voice) &&
           (!a->voice || strcmp(a->voice_name, b->voice_name) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char *text = fuzz_cstr(data, len);
    struct catalog *c;
    int rc = catalog_parse(text, &c);
    free(text);
    if (rc != 0) {
        if (rc != BC_EFORMAT || c)
            abort();
        return 0;
    }
    for (size_t i = 0; i < catalog_count(c); i++) {
        const struct catalog_language *l = catalog_at(c, i);
        if (catalog_find(c, l->code) == NULL)
            abort();
    }
    char *json = catalog_json(c);
    struct catalog *again;
    if (catalog_parse(json, &again) != 0 || catalog_count(again) != catalog_count(c) ||
        catalog_sample_rate(again) != catalog_sample_rate(c))
        abort();
    for (size_t i = 0; i < catalog_count(c); i++) {
        if (!same_language(catalog_at(again, i), catalog_at(c, i)))
            abort();
    }
    catalog_free(again);
    free(json);
    catalog_free(c);
    return 0;
}

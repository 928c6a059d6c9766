/* The languages a deployment offers: built by a worker from its engines,
 * published through the session registry as JSON, and read by gateways,
 * which never open an engine. The JSON is the body of GET /api/languages:
 *   {"source": [{"code": "en", "name": "English"}],
 *    "targets": [{"code", "name", "voice", "voice_name"?, "stand_in", "pivot"}],
 *    "sample_rate": 22050}
 * A catalog is immutable once built; reading it needs no lock. */
#ifndef BC_CATALOG_H
#define BC_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/lang_code.h"

#define CATALOG_NAME_MAX 64
#define CATALOG_VOICE_MAX 64
#define CATALOG_SOURCE_LANG "en"

struct catalog_language {
    char code[LANG_CODE_MAX];      /* normalized: "es", "pt_BR" */
    char name[CATALOG_NAME_MAX];   /* English name */
    bool voice;                    /* speech is synthesized for it */
    char voice_name[CATALOG_VOICE_MAX];
    bool stand_in;                 /* the voice is a neighbouring language's */
    bool pivot;                    /* translated through Spanish */
};

struct catalog;

/* An empty catalog; sample_rate is the synthesized speech's (0: none). */
struct catalog *catalog_new(int sample_rate);
void catalog_free(struct catalog *c);
/* Copies l in (its code normalized). Returns 0 or BC_EINVAL for a bad code. */
int catalog_add(struct catalog *c, const struct catalog_language *l);

/* Parses the JSON above. Returns 0 and *out, or BC_EFORMAT. */
int catalog_parse(const char *json, struct catalog **out);
/* The JSON above, in a new heap string (caller frees). */
char *catalog_json(const struct catalog *c);

size_t catalog_count(const struct catalog *c);
const struct catalog_language *catalog_at(const struct catalog *c, size_t index);
/* The target for a code in any spelling lang_code_normalize takes ("spa",
 * "ES"), or NULL. */
const struct catalog_language *catalog_find(const struct catalog *c, const char *code);
int catalog_sample_rate(const struct catalog *c);

#endif

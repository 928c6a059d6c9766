#include "catalog/catalog.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

#define CATALOG_SOURCE_NAME "English"
/* Rates a synthesizer could plausibly use; anything else is a bad catalog. */
#define CATALOG_MAX_SAMPLE_RATE 192000

struct catalog {
    struct catalog_language *langs;
    size_t n, cap;
    int sample_rate;
};

struct catalog *catalog_new(int sample_rate)
{
    struct catalog *c = bc_calloc(1, sizeof *c);
    c->sample_rate = sample_rate;
    return c;
}

void catalog_free(struct catalog *c)
{
    if (!c)
        return;
    free(c->langs);
    free(c);
}

int catalog_add(struct catalog *c, const struct catalog_language *l)
{
    char code[LANG_CODE_MAX];
    if (lang_code_normalize(l->code, strnlen(l->code, sizeof l->code), code) < 0)
        return BC_EINVAL;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->langs = bc_realloc(c->langs, c->cap * sizeof *c->langs);
    }
    struct catalog_language *dst = &c->langs[c->n++];
    *dst = *l;
    snprintf(dst->code, sizeof dst->code, "%s", code);
    return 0;
}

size_t catalog_count(const struct catalog *c)
{
    return c->n;
}

const struct catalog_language *catalog_at(const struct catalog *c, size_t index)
{
    return index < c->n ? &c->langs[index] : NULL;
}

const struct catalog_language *catalog_find(const struct catalog *c, const char *code)
{
    char norm[LANG_CODE_MAX];
    if (!c || !code || lang_code_normalize(code, strlen(code), norm) < 0)
        return NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->langs[i].code, norm) == 0)
            return &c->langs[i];
    }
    return NULL;
}

int catalog_sample_rate(const struct catalog *c)
{
    return c->sample_rate;
}

char *catalog_json(const struct catalog *c)
{
    cJSON *json = cJSON_CreateObject();
    cJSON *source = cJSON_AddArrayToObject(json, "source");
    cJSON *en = cJSON_CreateObject();
    cJSON_AddStringToObject(en, "code", CATALOG_SOURCE_LANG);
    cJSON_AddStringToObject(en, "name", CATALOG_SOURCE_NAME);
    cJSON_AddItemToArray(source, en);
    cJSON *targets = cJSON_AddArrayToObject(json, "targets");
    for (size_t i = 0; i < c->n; i++) {
        const struct catalog_language *l = &c->langs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "code", l->code);
        cJSON_AddStringToObject(o, "name", l->name);
        cJSON_AddBoolToObject(o, "voice", l->voice);
        if (l->voice)
            cJSON_AddStringToObject(o, "voice_name", l->voice_name);
        cJSON_AddBoolToObject(o, "stand_in", l->voice && l->stand_in);
        if (l->pivot)
            cJSON_AddStringToObject(o, "pivot", "es");
        else
            cJSON_AddNullToObject(o, "pivot");
        cJSON_AddItemToArray(targets, o);
    }
    cJSON_AddNumberToObject(json, "sample_rate", c->sample_rate);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    char *out = bc_strdup(text);
    cJSON_free(text);
    return out;
}

static int copy_string(const cJSON *o, const char *key, char *out, size_t len, int required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v))
        return required ? BC_EFORMAT : 0;
    if (strlen(v->valuestring) >= len)
        return BC_EFORMAT;
    snprintf(out, len, "%s", v->valuestring);
    return 0;
}

static int parse_language(const cJSON *o, struct catalog_language *l)
{
    memset(l, 0, sizeof *l);
    if (!cJSON_IsObject(o) || copy_string(o, "code", l->code, sizeof l->code, 1) < 0 ||
        copy_string(o, "name", l->name, sizeof l->name, 1) < 0 ||
        copy_string(o, "voice_name", l->voice_name, sizeof l->voice_name, 0) < 0)
        return BC_EFORMAT;
    l->voice = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "voice"));
    l->stand_in = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "stand_in"));
    l->pivot = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "pivot"));
    return 0;
}

int catalog_parse(const char *text, struct catalog **out)
{
    *out = NULL;
    cJSON *json = text ? cJSON_Parse(text) : NULL;
    const cJSON *targets = json ? cJSON_GetObjectItemCaseSensitive(json, "targets") : NULL;
    const cJSON *rate = json ? cJSON_GetObjectItemCaseSensitive(json, "sample_rate") : NULL;
    struct catalog *c = NULL;
    if (!cJSON_IsArray(targets) || !cJSON_IsNumber(rate) || rate->valuedouble < 0 ||
        rate->valuedouble > CATALOG_MAX_SAMPLE_RATE)
        goto fail;
    c = catalog_new(rate->valueint);
    const cJSON *t;
    cJSON_ArrayForEach(t, targets)
    {
        struct catalog_language l;
        if (parse_language(t, &l) < 0 || catalog_add(c, &l) < 0)
            goto fail;
    }
    cJSON_Delete(json);
    *out = c;
    return 0;
fail:
    catalog_free(c);
    cJSON_Delete(json);
    return BC_EFORMAT;
}

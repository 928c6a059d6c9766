/* Glossary parsing, validation and its canonical JSON. */
#include "glossary/glossary.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "glossary/glossary_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/utf8.h"

#define GLOSSARY_KEEP_FIELD "keep"
#define GLOSSARY_SOUNDS_FIELD "sounds_like"
#define GLOSSARY_COMMENT '#'
/* Enough of a bad term to recognize it in an error message. */
#define GLOSSARY_QUOTE_MAX 24

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && size)
        vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return BC_EINVAL;
}

static void entry_release(struct glossary_entry *e)
{
    free(e->term);
    for (size_t i = 0; i < e->n_words; i++)
        free(e->words[i]);
    free(e->sounds_like);
    for (size_t i = 0; i < e->n_tr; i++)
        free(e->tr[i].text);
}

void glossary_free(struct glossary *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        entry_release(&g->entries[i]);
    free(g->entries);
    free(g);
}

enum text_problem { TEXT_OK, TEXT_NOT_UTF8, TEXT_CONTROL, TEXT_EMPTY, TEXT_TOO_LONG };

#define PROBLEM_TEXT_MAX 40

/* What is wrong with a value, for messages ("the es translation is
 * empty"), written into buf (PROBLEM_TEXT_MAX bytes); returns buf. */
static const char *problem_text(enum text_problem p, size_t max, char *buf)
{
    static const char *const texts[] = {
        [TEXT_OK] = "is fine", [TEXT_NOT_UTF8] = "is not valid UTF-8",
        [TEXT_CONTROL] = "contains a control character", [TEXT_EMPTY] = "is empty",
    };
    if (p == TEXT_TOO_LONG)
        snprintf(buf, PROBLEM_TEXT_MAX, "is longer than %zu bytes", max);
    else
        snprintf(buf, PROBLEM_TEXT_MAX, "%s", texts[p]);
    return buf;
}

/* Checks text as a value people wrote: valid UTF-8, no control
 * characters, not blank, at most max bytes. Returns a copy with blanks
 * squeezed and trimmed, or NULL with the reason in *why. */
static char *clean_text(const char *text, size_t len, size_t max, enum text_problem *why)
{
    if (!bc_utf8_valid(text, len)) {
        *why = TEXT_NOT_UTF8;
        return NULL;
    }
    char *out = bc_malloc(len + 1);
    size_t n = 0;
    int blank = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == ' ') {
            blank = n > 0;
            continue;
        }
        if (c < ' ' || c == 0x7f) {
            free(out);
            *why = TEXT_CONTROL;
            return NULL;
        }
        if (blank)
            out[n++] = ' ';
        blank = 0;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    if (n == 0 || n > max) {
        free(out);
        *why = n == 0 ? TEXT_EMPTY : TEXT_TOO_LONG;
        return NULL;
    }
    return out;
}

/* The term's words in ASCII lower case; 0 or BC_ELIMIT (too many). */
static int split_words(struct glossary_entry *e)
{
    const char *p = e->term;
    while (*p) {
        size_t len = strcspn(p, " ");
        if (e->n_words == GLOSSARY_WORDS_MAX)
            return BC_ELIMIT;
        char *w = bc_strndup(p, len);
        for (char *c = w; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        e->words[e->n_words++] = w;
        p += len;
        p += *p == ' ';
    }
    return 0;
}

/* The start of every message about term i. */
static void term_label(const struct glossary_entry *e, size_t i, char *buf, size_t size)
{
    if (e->term)
        snprintf(buf, size, "glossary term %zu ('%.*s%s')", i + 1, GLOSSARY_QUOTE_MAX, e->term,
                 strlen(e->term) > GLOSSARY_QUOTE_MAX ? "..." : "");
    else
        snprintf(buf, size, "glossary term %zu", i + 1);
}

static int set_term(struct glossary_entry *e, size_t i, const char *text, size_t len, char *err,
                    size_t size)
{
    enum text_problem why;
    char problem[PROBLEM_TEXT_MAX];
    e->term = clean_text(text, len, GLOSSARY_TERM_MAX, &why);
    if (!e->term)
        return fail(err, size, "glossary term %zu %s", i + 1, problem_text(why, GLOSSARY_TERM_MAX, problem));
    if (split_words(e) < 0)
        return fail(err, size, "glossary term %zu has more than %d words", i + 1,
                    GLOSSARY_WORDS_MAX);
    return 0;
}

static int add_translation(struct glossary_entry *e, size_t i, const char *lang,
                           const char *text, size_t len, glossary_lang_fn lang_ok, void *user,
                           char *err, size_t size)
{
    char label[GLOSSARY_ERROR_MAX / 2];
    term_label(e, i, label, sizeof label);
    char code[LANG_CODE_MAX];
    int rc = lang_ok ? lang_ok(user, lang, code) : lang_code_normalize(lang, strlen(lang), code);
    if (rc < 0)
        return fail(err, size, "%s: unknown language '%.*s' (not among the languages offered)", label,
                    LANG_CODE_MAX, lang);
    for (size_t k = 0; k < e->n_tr; k++)
        if (strcmp(e->tr[k].lang, code) == 0)
            return fail(err, size, "%s: two translations into %s", label, code);
    if (e->n_tr == GLOSSARY_LANGS_MAX)
        return fail(err, size, "%s: more than %d translations", label, GLOSSARY_LANGS_MAX);
    enum text_problem why;
    char problem[PROBLEM_TEXT_MAX];
    char *clean = clean_text(text, len, GLOSSARY_TEXT_MAX, &why);
    if (!clean)
        return fail(err, size, "%s: the %s translation %s", label, code,
                    problem_text(why, GLOSSARY_TEXT_MAX, problem));
    snprintf(e->tr[e->n_tr].lang, LANG_CODE_MAX, "%s", code);
    e->tr[e->n_tr++].text = clean;
    return 0;
}

static int set_sounds_like(struct glossary_entry *e, size_t i, const char *text, size_t len,
                           char *err, size_t size)
{
    char label[GLOSSARY_ERROR_MAX / 2];
    term_label(e, i, label, sizeof label);
    enum text_problem why;
    char problem[PROBLEM_TEXT_MAX];
    free(e->sounds_like);
    e->sounds_like = clean_text(text, len, GLOSSARY_TEXT_MAX, &why);
    if (!e->sounds_like)
        return fail(err, size, "%s: sounds_like %s", label, problem_text(why, GLOSSARY_TEXT_MAX, problem));
    return 0;
}

/* What every term must satisfy once all its fields are read; also fills
 * defaults. */
static int finish_entry(struct glossary *g, size_t i, char *err, size_t size)
{
    struct glossary_entry *e = &g->entries[i];
    char label[GLOSSARY_ERROR_MAX / 2];
    term_label(e, i, label, sizeof label);
    if (!e->term)
        return fail(err, size, "glossary term %zu has no \"term\"", i + 1);
    if (e->keep && e->n_tr)
        return fail(err, size, "%s: keep and translations exclude each other", label);
    if (!e->sounds_like)
        e->sounds_like = bc_strdup("");
    for (size_t k = 0; k < i; k++)
        if (strcasecmp(g->entries[k].term, e->term) == 0)
            return fail(err, size, "%s is listed twice", label);
    return 0;
}

static struct glossary_entry *new_entry(struct glossary *g, size_t *cap)
{
    if (g->n == *cap) {
        *cap = *cap ? *cap * 2 : GLOSSARY_TERMS_MAX / 4;
        g->entries = bc_realloc(g->entries, *cap * sizeof *g->entries);
    }
    struct glossary_entry *e = &g->entries[g->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static int entry_from_json(struct glossary_entry *e, size_t i, const cJSON *item,
                           glossary_lang_fn lang_ok, void *user, char *err, size_t size)
{
    if (!cJSON_IsObject(item))
        return fail(err, size, "glossary term %zu is not an object like {\"term\": \"...\"}",
                    i + 1);
    const cJSON *term = cJSON_GetObjectItemCaseSensitive(item, "term");
    if (!cJSON_IsString(term))
        return fail(err, size, "glossary term %zu needs \"term\" as a string", i + 1);
    int rc = set_term(e, i, term->valuestring, strlen(term->valuestring), err, size);
    if (rc < 0)
        return rc;
    char label[GLOSSARY_ERROR_MAX / 2];
    term_label(e, i, label, sizeof label);
    const cJSON *field;
    cJSON_ArrayForEach(field, item)
    {
        const char *name = field->string;
        if (strcmp(name, "term") == 0)
            continue;
        if (strcmp(name, GLOSSARY_KEEP_FIELD) == 0) {
            if (!cJSON_IsBool(field))
                return fail(err, size, "%s: keep must be true or false", label);
            e->keep = cJSON_IsTrue(field);
        } else if (strcmp(name, GLOSSARY_SOUNDS_FIELD) == 0) {
            if (!cJSON_IsString(field))
                return fail(err, size, "%s: sounds_like must be a string", label);
            rc = set_sounds_like(e, i, field->valuestring, strlen(field->valuestring), err, size);
        } else if (strcmp(name, "translations") == 0) {
            if (!cJSON_IsObject(field))
                return fail(err, size, "%s: translations must be an object like {\"es\": \"...\"}",
                            label);
            const cJSON *tr;
            cJSON_ArrayForEach(tr, field)
            {
                if (!cJSON_IsString(tr))
                    return fail(err, size, "%s: the translation into %.*s must be a string",
                                label, LANG_CODE_MAX, tr->string);
                rc = add_translation(e, i, tr->string, tr->valuestring, strlen(tr->valuestring),
                                     lang_ok, user, err, size);
                if (rc < 0)
                    return rc;
            }
        } else {
            return fail(err, size, "%s: unknown field '%.24s' (term, keep, translations, sounds_like)",
                        label, name);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int glossary_from_json(const cJSON *array, glossary_lang_fn lang_ok, void *user,
                       struct glossary **out, char *err, size_t err_size)
{
    *out = NULL;
    if (!cJSON_IsArray(array))
        return fail(err, err_size, "glossary must be an array of terms");
    if (cJSON_GetArraySize(array) > GLOSSARY_TERMS_MAX)
        return fail(err, err_size, "glossary has more than %d terms", GLOSSARY_TERMS_MAX);
    struct glossary *g = bc_calloc(1, sizeof *g);
    size_t cap = 0;
    const cJSON *item;
    int rc = 0;
    cJSON_ArrayForEach(item, array)
    {
        size_t i = g->n;
        struct glossary_entry *e = new_entry(g, &cap);
        if ((rc = entry_from_json(e, i, item, lang_ok, user, err, err_size)) < 0 ||
            (rc = finish_entry(g, i, err, err_size)) < 0)
            goto fail;
    }
    *out = g;
    return 0;
fail:
    glossary_free(g);
    return rc;
}

int glossary_parse_json(const char *json, glossary_lang_fn lang_ok, void *user,
                        struct glossary **out, char *err, size_t err_size)
{
    *out = NULL;
    cJSON *array = json ? cJSON_Parse(json) : NULL;
    if (!array)
        return fail(err, err_size, "glossary is not valid JSON");
    int rc = glossary_from_json(array, lang_ok, user, out, err, err_size);
    cJSON_Delete(array);
    return rc;
}

/* One TAB-separated field after the term on a line of the text form. */
static int field_from_text(struct glossary_entry *e, size_t i, size_t line, const char *field,
                           size_t len, glossary_lang_fn lang_ok, void *user, char *err,
                           size_t size)
{
    while (len > 0 && field[len - 1] == ' ')
        len--;
    while (len > 0 && field[0] == ' ')
        field++, len--;
    if (len == 0)
        return 0;
    if (len == strlen(GLOSSARY_KEEP_FIELD) && memcmp(field, GLOSSARY_KEEP_FIELD, len) == 0) {
        e->keep = 1;
        return 0;
    }
    const char *eq = memchr(field, '=', len);
    if (!eq)
        return fail(err, size,
                    "line %zu: '%.*s' is not keep, sounds_like=WORDS or LANG=translation", line,
                    (int)(len < GLOSSARY_QUOTE_MAX ? len : GLOSSARY_QUOTE_MAX), field);
    size_t name_len = (size_t)(eq - field);
    const char *value = eq + 1;
    size_t value_len = len - name_len - 1;
    int rc;
    if (name_len == strlen(GLOSSARY_SOUNDS_FIELD) &&
        memcmp(field, GLOSSARY_SOUNDS_FIELD, name_len) == 0) {
        rc = set_sounds_like(e, i, value, value_len, err, size);
    } else {
        char lang[LANG_CODE_MAX + 1];
        snprintf(lang, sizeof lang, "%.*s", (int)(name_len < LANG_CODE_MAX ? name_len : LANG_CODE_MAX),
                 field);
        rc = add_translation(e, i, lang, value, value_len, lang_ok, user, err, size);
    }
    return rc;
}

/* Prefixes err with the line number. */
static int at_line(char *err, size_t size, size_t line)
{
    if (err && size && strncmp(err, "line ", 5) != 0) {
        char copy[GLOSSARY_ERROR_MAX * 2];
        snprintf(copy, sizeof copy, "%s", err);
        snprintf(err, size, "line %zu: %s", line, copy);
    }
    return BC_EINVAL;
}

int glossary_parse_text(const char *text, size_t len, glossary_lang_fn lang_ok, void *user,
                        struct glossary **out, char *err, size_t err_size)
{
    *out = NULL;
    struct glossary *g = bc_calloc(1, sizeof *g);
    size_t cap = 0, line = 0;
    const char *p = text, *end = text + len;
    int rc = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t n = (size_t)(stop - p);
        line++;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        size_t lead = 0;
        while (lead < n && p[lead] == ' ')
            lead++;
        if (lead == n || p[lead] == GLOSSARY_COMMENT) {
            p = stop + (nl != NULL);
            continue;
        }
        if (g->n == GLOSSARY_TERMS_MAX) {
            rc = fail(err, err_size, "line %zu: glossary has more than %d terms", line,
                      GLOSSARY_TERMS_MAX);
            goto fail;
        }
        size_t i = g->n;
        struct glossary_entry *e = new_entry(g, &cap);
        const char *tab = memchr(p, '\t', n);
        size_t term_len = tab ? (size_t)(tab - p) : n;
        if ((rc = set_term(e, i, p, term_len, err, err_size)) < 0) {
            at_line(err, err_size, line);
            goto fail;
        }
        while (tab) {
            const char *field = tab + 1;
            tab = memchr(field, '\t', (size_t)(p + n - field));
            size_t field_len = (size_t)((tab ? tab : p + n) - field);
            if ((rc = field_from_text(e, i, line, field, field_len, lang_ok, user, err,
                                      err_size)) < 0) {
                at_line(err, err_size, line);
                goto fail;
            }
        }
        if ((rc = finish_entry(g, i, err, err_size)) < 0) {
            at_line(err, err_size, line);
            goto fail;
        }
        p = stop + (nl != NULL);
    }
    *out = g;
    return 0;
fail:
    glossary_free(g);
    return rc;
}

char *glossary_to_json(const struct glossary *g)
{
    cJSON *array = cJSON_CreateArray();
    for (size_t i = 0; g && i < g->n; i++) {
        const struct glossary_entry *e = &g->entries[i];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "term", e->term);
        if (e->keep)
            cJSON_AddBoolToObject(item, GLOSSARY_KEEP_FIELD, 1);
        if (e->n_tr) {
            cJSON *tr = cJSON_AddObjectToObject(item, "translations");
            for (size_t k = 0; k < e->n_tr; k++)
                cJSON_AddStringToObject(tr, e->tr[k].lang, e->tr[k].text);
        }
        if (e->sounds_like[0])
            cJSON_AddStringToObject(item, GLOSSARY_SOUNDS_FIELD, e->sounds_like);
        cJSON_AddItemToArray(array, item);
    }
    char *text = cJSON_PrintUnformatted(array);
    cJSON_Delete(array);
    char *out = bc_strdup(text);
    cJSON_free(text);
    return out;
}

size_t glossary_count(const struct glossary *g)
{
    return g ? g->n : 0;
}

const char *glossary_term(const struct glossary *g, size_t index)
{
    return g && index < g->n ? g->entries[index].term : NULL;
}

const char *glossary_sounds_like(const struct glossary *g, size_t index)
{
    return g && index < g->n ? g->entries[index].sounds_like : NULL;
}

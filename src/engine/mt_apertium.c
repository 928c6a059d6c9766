/* Apertium MT: discovery of English-source directions (direct, or through
 * Spanish), text normalization around the Apertium stream format, retries.
 * The target table and pipeline list are built in mt_new and never change,
 * so lookups need no lock; each pipeline has its own mutex (mt_pipeline.h). */
#include "engine/mt.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/mt_pipeline.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/lang_code.h"
#include "util/log.h"
#include "util/utf8.h"

#define MT_DEFAULT_MODES_DIR "/usr/share/apertium/modes"
#define MT_DEFAULT_READ_TIMEOUT_MS 5000
#define MT_DEFAULT_RETRIES 1
/* The first sentence loads every dictionary (0.1-0.2 s): it gets at least
 * this long even with a short read timeout. */
#define MT_WARMUP_MIN_TIMEOUT_MS 2000
#define MT_WARMUP_TEXT "The house is big."
#define MT_MODE_SUFFIX ".mode"
#define MT_PIVOT_LANG "es"
#define MT_SOURCE_LANG "en"
/* Characters with a meaning in the Apertium stream format. */
#define MT_STREAM_SPECIALS "\\[]^$/<>@{}"
/* Marks the generator leaves at word starts (unknown, untranslated, no form). */
#define MT_WORD_MARKS "*#@"

struct mt_target {
    struct mt_language lang; /* first: mt_language_at hands out &target->lang */
    struct mt_pipeline *first, *second;
};

struct mt {
    char *modes_dir;
    int read_timeout_ms;
    int retries;
    struct mt_target *targets;
    size_t ntargets;
    struct mt_pipeline **pipes; /* owned; shared by targets */
    size_t npipes;
    /* Per pipeline, its last exchange (guarded by that pipeline's lock): a
     * sentence going to es and to a language pivoting through es is put
     * through eng-spa once. */
    struct mt_last { char *in, *out; } *last;
};

void mt_default_params(struct mt_params *params)
{
    params->modes_dir = MT_DEFAULT_MODES_DIR;
    params->read_timeout_ms = MT_DEFAULT_READ_TIMEOUT_MS;
    params->retries = MT_DEFAULT_RETRIES;
}

/* "eng-cat_valencia" -> "en", "ca_valencia"; refuses names with more than
 * two dash-separated parts (-old, -bytecode, -j, eco-es-fr...). */
static int mt_parse_mode_name(const char *mode, char src[MT_LANG_CODE_MAX],
                              char tgt[MT_LANG_CODE_MAX])
{
    const char *dash = strchr(mode, '-');
    if (!dash || strchr(dash + 1, '-'))
        return BC_EINVAL;
    if (lang_code_normalize(mode, (size_t)(dash - mode), src) != 0)
        return BC_EINVAL;
    int rc = lang_code_normalize(dash + 1, strlen(dash + 1), tgt);
    if (rc != 0 || !strchr(tgt, '_'))
        return rc;
    /* Orthographic norms and sub-variants (cat_iec2017, cat_valencia_uni)
     * would only clutter the language list: keep the named variants. */
    return lang_code_is_named_variant(tgt) ? 0 : BC_EINVAL;
}

/* Whether a normalized code is lang or one of its variants. */
static int mt_is_lang(const char *code, const char *lang)
{
    size_t n = strlen(lang);
    return strncmp(code, lang, n) == 0 && (code[n] == '\0' || code[n] == '_');
}

static int mt_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int mt_cmp_target(const void *a, const void *b)
{
    return strcmp(((const struct mt_target *)a)->lang.code,
                  ((const struct mt_target *)b)->lang.code);
}

static struct mt_target *mt_find_target(const struct mt *mt, const char *code)
{
    char norm[MT_LANG_CODE_MAX];
    if (!code || lang_code_normalize(code, strlen(code), norm) != 0)
        return NULL;
    for (size_t i = 0; i < mt->ntargets; i++)
        if (strcasecmp(mt->targets[i].lang.code, norm) == 0)
            return &mt->targets[i];
    return NULL;
}

static struct mt_pipeline *mt_add_pipeline(struct mt *mt, const char *mode)
{
    struct mt_pipeline *pl;
    int rc = mt_pipeline_new(mt->modes_dir, mode, &pl);
    if (rc != 0) {
        bc_warn("mt: skipping mode %s: %s", mode, bc_strerror(rc));
        return NULL;
    }
    mt->pipes = bc_realloc(mt->pipes, (mt->npipes + 1) * sizeof *mt->pipes);
    mt->last = bc_realloc(mt->last, (mt->npipes + 1) * sizeof *mt->last);
    mt->last[mt->npipes] = (struct mt_last){NULL, NULL};
    mt->pipes[mt->npipes++] = pl;
    return pl;
}

static void mt_add_target(struct mt *mt, const char *code, struct mt_pipeline *first,
                          struct mt_pipeline *second)
{
    mt->targets = bc_realloc(mt->targets, (mt->ntargets + 1) * sizeof *mt->targets);
    struct mt_target *t = &mt->targets[mt->ntargets++];
    memset(t, 0, sizeof *t);
    snprintf(t->lang.code, sizeof t->lang.code, "%s", code);
    lang_code_english_name(code, t->lang.name, sizeof t->lang.name);
    snprintf(t->lang.mode, sizeof t->lang.mode, "%s", mt_pipeline_mode(first));
    if (second)
        snprintf(t->lang.pivot_mode, sizeof t->lang.pivot_mode, "%s", mt_pipeline_mode(second));
    t->first = first;
    t->second = second;
}

/* Direct English directions first; Spanish-source ones fill the gaps. */
static void mt_discover(struct mt *mt, char **modes, size_t nmodes)
{
    char src[MT_LANG_CODE_MAX], tgt[MT_LANG_CODE_MAX];
    for (size_t i = 0; i < nmodes; i++) {
        if (mt_parse_mode_name(modes[i], src, tgt) != 0 || !mt_is_lang(src, MT_SOURCE_LANG) ||
            mt_is_lang(tgt, MT_SOURCE_LANG) || mt_find_target(mt, tgt))
            continue;
        struct mt_pipeline *pl = mt_add_pipeline(mt, modes[i]);
        if (pl)
            mt_add_target(mt, tgt, pl, NULL);
    }
    struct mt_target *pivot = mt_find_target(mt, MT_PIVOT_LANG);
    struct mt_pipeline *to_pivot = pivot ? pivot->first : NULL;
    for (size_t i = 0; to_pivot && i < nmodes; i++) {
        if (mt_parse_mode_name(modes[i], src, tgt) != 0 || strcmp(src, MT_PIVOT_LANG) != 0 ||
            mt_is_lang(tgt, MT_SOURCE_LANG) || mt_is_lang(tgt, MT_PIVOT_LANG) ||
            mt_find_target(mt, tgt))
            continue;
        struct mt_pipeline *pl = mt_add_pipeline(mt, modes[i]);
        if (pl)
            mt_add_target(mt, tgt, to_pivot, pl);
    }
}

int mt_new(const struct mt_params *params, struct mt **out)
{
    struct mt_params defaults;
    mt_default_params(&defaults);
    if (!params)
        params = &defaults;
    if (!out)
        return BC_EINVAL;
    struct mt *mt = bc_calloc(1, sizeof *mt);
    char **modes = NULL;
    size_t nmodes = 0;
    DIR *dir = NULL;
    int rc;

    mt->modes_dir = bc_strdup(params->modes_dir ? params->modes_dir : defaults.modes_dir);
    mt->read_timeout_ms =
        params->read_timeout_ms > 0 ? params->read_timeout_ms : defaults.read_timeout_ms;
    mt->retries = params->retries >= 0 ? params->retries : 0;
    dir = opendir(mt->modes_dir);
    if (!dir) {
        rc = errno == ENOENT || errno == ENOTDIR ? BC_ENOTFOUND : BC_EIO;
        goto fail;
    }
    struct dirent *de;
    size_t suffix_len = strlen(MT_MODE_SUFFIX);
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len <= suffix_len || strcmp(de->d_name + len - suffix_len, MT_MODE_SUFFIX) != 0 ||
            len - suffix_len >= MT_MODE_NAME_MAX)
            continue;
        modes = bc_realloc(modes, (nmodes + 1) * sizeof *modes);
        modes[nmodes++] = bc_strndup(de->d_name, len - suffix_len);
    }
    closedir(dir);
    dir = NULL;
    /* readdir order is arbitrary: sort so the choice among duplicates is stable. */
    if (nmodes)
        qsort(modes, nmodes, sizeof *modes, mt_cmp_str);
    mt_discover(mt, modes, nmodes);
    if (mt->ntargets == 0) {
        rc = BC_ENOTFOUND;
        goto fail;
    }
    qsort(mt->targets, mt->ntargets, sizeof *mt->targets, mt_cmp_target);
    for (size_t i = 0; i < nmodes; i++)
        free(modes[i]);
    free(modes);
    *out = mt;
    return 0;
fail:
    if (dir)
        closedir(dir);
    for (size_t i = 0; i < nmodes; i++)
        free(modes[i]);
    free(modes);
    mt_free(mt);
    return rc;
}

void mt_free(struct mt *mt)
{
    if (!mt)
        return;
    for (size_t i = 0; i < mt->npipes; i++) {
        mt_pipeline_free(mt->pipes[i]);
        free(mt->last[i].in);
        free(mt->last[i].out);
    }
    free(mt->pipes);
    free(mt->last);
    free(mt->targets);
    free(mt->modes_dir);
    free(mt);
}

size_t mt_language_count(const struct mt *mt)
{
    return mt ? mt->ntargets : 0;
}

const struct mt_language *mt_language_at(const struct mt *mt, size_t index)
{
    return mt && index < mt->ntargets ? &mt->targets[index].lang : NULL;
}

const struct mt_language *mt_language_find(const struct mt *mt, const char *code)
{
    struct mt_target *t = mt ? mt_find_target(mt, code) : NULL;
    return t ? &t->lang : NULL;
}

/* Valid UTF-8 only, control characters as blanks, blanks squeezed, trimmed. */
static char *mt_clean_input(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    char *out = bc_malloc(strlen(text) + 1);
    size_t n = 0;
    int blank = 0;
    while (*s) {
        size_t len = bc_utf8_len(s);
        if (len == 0) {
            s++;
            continue;
        }
        if (len == 1 && (*s <= ' ' || *s == 0x7f)) {
            blank = n > 0;
            s++;
            continue;
        }
        if (blank)
            out[n++] = ' ';
        blank = 0;
        memcpy(out + n, s, len);
        n += len;
        s += len;
    }
    out[n] = '\0';
    /* ASR writes the pronoun "i" in lower case, which Apertium then takes
     * for a foreign word ("i think" -> "i Piensa"). */
    for (size_t i = 0; i < n; i++)
        if (out[i] == 'i' && (i == 0 || out[i - 1] == ' ') &&
            (out[i + 1] == '\0' || out[i + 1] == ' ' || out[i + 1] == '\''))
            out[i] = 'I';
    return out;
}

static int mt_ends_with_punct(const char *s)
{
    size_t n = strlen(s);
    static const char ellipsis[] = "\xe2\x80\xa6";
    return (n > 0 && strchr(".!?;:", s[n - 1])) || (n >= 3 && memcmp(s + n - 3, ellipsis, 3) == 0);
}

/* Escaped stream text with a final "." because Apertium translates a
 * sentence without one worse. */
static char *mt_to_stream(const char *plain)
{
    char *out = bc_malloc(strlen(plain) * 2 + 3);
    size_t n = 0;
    for (const char *p = plain; *p; p++) {
        if (strchr(MT_STREAM_SPECIALS, *p))
            out[n++] = '\\';
        out[n++] = *p;
    }
    if (!mt_ends_with_punct(plain))
        out[n++] = '.';
    out[n] = '\0';
    return out;
}

/* Unescapes, drops the generator's word marks, squeezes blanks, trims. */
static char *mt_from_stream(const char *raw)
{
    char *out = bc_malloc(strlen(raw) + 1);
    size_t n = 0;
    int blank = 0, word_start = 1;
    for (const char *p = raw; *p; p++) {
        if (isspace((unsigned char)*p)) {
            blank = n > 0;
            word_start = 1;
            continue;
        }
        if (word_start && strchr(MT_WORD_MARKS, *p))
            continue;
        if (*p == '\\' && p[1])
            p++; /* an escaped character is text, never a mark */
        if (blank)
            out[n++] = ' ';
        out[n++] = *p;
        blank = word_start = 0;
    }
    out[n] = '\0';
    return out;
}

/* Spawns and warms up when needed. Caller holds the pipeline lock. */
static int mt_ensure_running(const struct mt *mt, struct mt_pipeline *pl)
{
    int timeout_ms = mt->read_timeout_ms > MT_WARMUP_MIN_TIMEOUT_MS ? mt->read_timeout_ms
                                                                    : MT_WARMUP_MIN_TIMEOUT_MS;
    if (mt_pipeline_running(pl))
        return 0;
    char *answer = NULL;
    int rc = mt_pipeline_spawn(pl);
    if (rc == 0)
        rc = mt_pipeline_exchange(pl, MT_WARMUP_TEXT, timeout_ms, &answer);
    free(answer);
    if (rc != 0) {
        bc_warn("mt: %s did not start: %s", mt_pipeline_mode(pl), bc_strerror(rc));
        mt_pipeline_kill(pl);
        return rc == BC_ETIMEDOUT ? rc : BC_EENGINE;
    }
    return 0;
}

/* One pipeline pass with respawn-and-retry. */
static struct mt_last *mt_last_of(struct mt *mt, const struct mt_pipeline *pl)
{
    for (size_t i = 0; i < mt->npipes; i++) {
        if (mt->pipes[i] == pl)
            return &mt->last[i];
    }
    return NULL;
}

static int mt_step(struct mt *mt, struct mt_pipeline *pl, const char *plain, char **out)
{
    struct mt_last *last = mt_last_of(mt, pl);
    mt_pipeline_lock(pl);
    if (last && last->in && strcmp(last->in, plain) == 0) {
        *out = bc_strdup(last->out);
        mt_pipeline_unlock(pl);
        return 0;
    }
    char *stream = mt_to_stream(plain), *raw = NULL;
    int rc = BC_EENGINE;
    for (int attempt = 0; attempt <= mt->retries; attempt++) {
        if ((rc = mt_ensure_running(mt, pl)) != 0)
            continue;
        rc = mt_pipeline_exchange(pl, stream, mt->read_timeout_ms, &raw);
        if (rc == 0)
            break;
        bc_warn("mt: %s failed (%s), respawning", mt_pipeline_mode(pl), bc_strerror(rc));
        mt_pipeline_kill(pl);
    }
    if (rc == 0) {
        *out = mt_from_stream(raw);
        if (last) {
            free(last->in);
            free(last->out);
            last->in = bc_strdup(plain);
            last->out = bc_strdup(*out);
        }
    }
    mt_pipeline_unlock(pl);
    free(stream);
    free(raw);
    return rc;
}

int mt_prepare(struct mt *mt, const char *code)
{
    struct mt_target *t = mt ? mt_find_target(mt, code) : NULL;
    if (!t)
        return BC_ENOTFOUND;
    struct mt_pipeline *pls[2] = {t->first, t->second};
    for (size_t i = 0; i < 2 && pls[i]; i++) {
        int rc = BC_EENGINE;
        mt_pipeline_lock(pls[i]);
        for (int attempt = 0; attempt <= mt->retries && rc != 0; attempt++)
            rc = mt_ensure_running(mt, pls[i]);
        mt_pipeline_unlock(pls[i]);
        if (rc != 0)
            return BC_EENGINE;
    }
    return 0;
}

int mt_translate(struct mt *mt, const char *code, const char *text, char **out)
{
    if (!mt || !text || !out)
        return BC_EINVAL;
    struct mt_target *t = mt_find_target(mt, code);
    if (!t)
        return BC_ENOTFOUND;
    char *clean = mt_clean_input(text), *mid = NULL, *res = NULL;
    int rc = 0;
    if (!*clean) {
        *out = clean;
        return 0;
    }
    if ((rc = mt_step(mt, t->first, clean, &mid)) != 0)
        goto fail;
    if (t->second) {
        /* The Spanish keeps its final punctuation so both passes see a
         * complete sentence; only the end result loses the added period. */
        if ((rc = mt_step(mt, t->second, mid, &res)) != 0)
            goto fail;
        free(mid);
    } else {
        res = mid;
    }
    mid = NULL;
    size_t n = strlen(res);
    if (!mt_ends_with_punct(clean) && n > 0 && res[n - 1] == '.') {
        res[--n] = '\0';
        while (n > 0 && res[n - 1] == ' ')
            res[--n] = '\0';
    }
    free(clean);
    *out = res;
    return 0;
fail:
    free(clean);
    free(mid);
    return rc;
}

size_t mt_debug_pids(struct mt *mt, const char *mode, pid_t *pids, size_t max)
{
    for (size_t i = 0; mt && mode && i < mt->npipes; i++) {
        if (strcmp(mt_pipeline_mode(mt->pipes[i]), mode) != 0)
            continue;
        mt_pipeline_lock(mt->pipes[i]);
        size_t n = mt_pipeline_pids(mt->pipes[i], pids, max);
        mt_pipeline_unlock(mt->pipes[i]);
        return n;
    }
    return 0;
}

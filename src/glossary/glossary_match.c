/* Finding glossary terms in recognized text and carrying them through
 * machine translation.
 *
 * A protected term goes to the engine as a made-up word ("Zxq0"): Apertium
 * passes words it does not know through in place and inflects the words
 * around them as around a name. Its own format blocks ("[...]"
 * superblanks) were tried first and are not enough: the structural
 * transfer moves them ("the [x] is good" came out in Catalan as "l'és [x]
 * bé", "the red [x] car" in Spanish as "el coche [x] rojo"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "glossary/glossary_internal.h"
#include "util/alloc.h"
#include "util/err.h"

/* Letters no English, Romance or Esperanto dictionary knows, then the slot
 * number. */
#define PLACEHOLDER_PREFIX "Zxq"
#define PLACEHOLDER_DIGITS_MAX 4

struct tokens {
    char **words; /* as in the text */
    size_t n;
};

static void tokens_split(const char *text, struct tokens *t)
{
    t->words = NULL;
    t->n = 0;
    size_t cap = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " ");
        if (t->n == cap) {
            cap = cap ? cap * 2 : 16;
            t->words = bc_realloc(t->words, cap * sizeof *t->words);
        }
        t->words[t->n++] = bc_strndup(p, len);
        p += len;
    }
}

static void tokens_release(struct tokens *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->words[i]);
    free(t->words);
}

/* Whether word equals lower (already lower case), ignoring ASCII case. */
static int word_is(const char *word, const char *lower)
{
    for (; *word && *lower; word++, lower++) {
        char c = *word >= 'A' && *word <= 'Z' ? (char)(*word - 'A' + 'a') : *word;
        if (c != *lower)
            return 0;
    }
    return *word == *lower;
}

static const char *translation_into(const struct glossary_entry *e, const char *lang)
{
    for (size_t i = 0; i < e->n_tr; i++)
        if (strcmp(e->tr[i].lang, lang) == 0)
            return e->tr[i].text;
    return NULL;
}

/* What entry e becomes in lang: the term itself when kept (or, lang NULL,
 * when only spelling the source), its translation, or NULL (not
 * protected: the engine translates it). */
static const char *replacement(const struct glossary_entry *e, const char *lang)
{
    if (!lang || e->keep)
        return e->term;
    return translation_into(e, lang);
}

/* The longest entry with a replacement in lang matching the words at pos:
 * its word count, 0 when none; *which is the entry. */
static size_t match_at(const struct glossary *g, const struct tokens *t, size_t pos,
                       const char *lang, const struct glossary_entry **which)
{
    size_t best = 0;
    for (size_t i = 0; i < g->n; i++) {
        const struct glossary_entry *e = &g->entries[i];
        if (e->n_words <= best || pos + e->n_words > t->n || !replacement(e, lang))
            continue;
        size_t k = 0;
        while (k < e->n_words && word_is(t->words[pos + k], e->words[k]))
            k++;
        if (k == e->n_words) {
            best = k;
            *which = e;
        }
    }
    return best;
}

static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap)
            *cap = *cap ? *cap * 2 : 64;
        *buf = bc_realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* text with every matched term replaced: by a placeholder numbered after
 * its slot (slots non-NULL; the replacements go there, at most max), or by
 * the replacement itself. Returns the rewritten text and *n_slots. */
static char *rewrite(const struct glossary *g, const char *text, const char *lang,
                     const char **slots, size_t max, size_t *n_slots)
{
    struct tokens t;
    tokens_split(text, &t);
    char *out = NULL;
    size_t len = 0, cap = 0;
    *n_slots = 0;
    append(&out, &len, &cap, "", 0);
    for (size_t pos = 0; pos < t.n;) {
        const struct glossary_entry *e = NULL;
        size_t n = match_at(g, &t, pos, lang, &e);
        if (len)
            append(&out, &len, &cap, " ", 1);
        if (n == 0 || (slots && *n_slots == max)) {
            append(&out, &len, &cap, t.words[pos], strlen(t.words[pos]));
            pos++;
            continue;
        }
        const char *with = replacement(e, lang);
        if (slots) {
            char mark[sizeof PLACEHOLDER_PREFIX + PLACEHOLDER_DIGITS_MAX];
            snprintf(mark, sizeof mark, PLACEHOLDER_PREFIX "%zu", *n_slots);
            slots[(*n_slots)++] = with;
            append(&out, &len, &cap, mark, strlen(mark));
        } else {
            append(&out, &len, &cap, with, strlen(with));
            (*n_slots)++;
        }
        pos += n;
    }
    tokens_release(&t);
    return out;
}

static int is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (unsigned char)c >= 0x80;
}

/* The placeholder at p (a word start): its slot number, or -1. *len is
 * its length. */
static long placeholder_at(const char *p, size_t *len)
{
    size_t prefix = strlen(PLACEHOLDER_PREFIX);
    if (strncasecmp(p, PLACEHOLDER_PREFIX, prefix) != 0)
        return -1;
    size_t digits = 0;
    long slot = 0;
    while (p[prefix + digits] >= '0' && p[prefix + digits] <= '9' &&
           digits < PLACEHOLDER_DIGITS_MAX) {
        slot = slot * 10 + (p[prefix + digits] - '0');
        digits++;
    }
    if (digits == 0 || is_word_char(p[prefix + digits]))
        return -1;
    *len = prefix + digits;
    return slot;
}

/* translated with each placeholder replaced by its slot's text. */
static char *restore(const char *translated, const char **slots, size_t n_slots)
{
    char *out = NULL;
    size_t len = 0, cap = 0;
    append(&out, &len, &cap, "", 0);
    for (const char *p = translated; *p;) {
        size_t n = 0;
        long slot = (p == translated || !is_word_char(p[-1])) ? placeholder_at(p, &n) : -1;
        if (slot >= 0 && (size_t)slot < n_slots) {
            append(&out, &len, &cap, slots[slot], strlen(slots[slot]));
            p += n;
        } else {
            append(&out, &len, &cap, p, 1);
            p++;
        }
    }
    return out;
}

int glossary_translate(const struct glossary *g, glossary_translate_fn translate, void *user,
                       const char *lang, const char *text, char **out)
{
    if (!g || g->n == 0 || !lang)
        return translate(user, lang, text, out);
    const char *slots[GLOSSARY_TERMS_MAX * GLOSSARY_WORDS_MAX];
    size_t n_slots;
    char *masked = rewrite(g, text, lang, slots, sizeof slots / sizeof slots[0], &n_slots);
    if (n_slots == 0) {
        free(masked);
        return translate(user, lang, text, out);
    }
    char *translated = NULL;
    int rc = translate(user, lang, masked, &translated);
    free(masked);
    if (rc < 0)
        return rc;
    *out = restore(translated, slots, n_slots);
    free(translated);
    return 0;
}

char *glossary_spell_source(const struct glossary *g, const char *text)
{
    if (!g || g->n == 0)
        return bc_strdup(text);
    size_t n;
    char *spelled = rewrite(g, text, NULL, NULL, 0, &n);
    if (n == 0) {
        /* Untouched: keep the text as it came, blanks and all. */
        free(spelled);
        return bc_strdup(text);
    }
    return spelled;
}

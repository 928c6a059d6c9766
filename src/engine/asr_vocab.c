#include "engine/asr_vocab.h"

#include <sphinxbase/ckd_alloc.h>
#include <sphinxbase/ngram_model.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/asr_recognizer.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

/* Ends every word made for a term; dictionary words are lower case. */
#define VOCAB_SUFFIX "_G"
/* A term's unigram probability as a multiple of the uniform one (1/N for N
 * words in the model). Measured on the librivox clips with the fast search
 * settings: 1 changes nothing ("prudently" stays "crudely"), 30 to 10000
 * all recognize "prudently" and none inserted a term in the other four
 * clips. */
#define VOCAB_UNIGRAM_WEIGHT 100.0f
/* pocketsphinx's name of the n-gram search it starts with. */
#define VOCAB_LM_SEARCH "_default"
#define VOCAB_NAME_MAX 256
#define VOCAB_PHONES_MAX 1024

struct vocab_word {
    char *name;
    char *phones;
};

struct asr_vocab {
    struct vocab_word *words;
    size_t n;
};

void asr_vocab_free(struct asr_vocab *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        free(v->words[i].name);
        free(v->words[i].phones);
    }
    free(v->words);
    free(v);
}

/* The phones of word from ps's dictionary or else full_dict's into buf. */
static int pronounce(ps_decoder_t *ps, const char *full_dict, const char *word, char *buf,
                     size_t len)
{
    char *pron = ps_lookup_word(ps, word);
    if (!pron)
        return full_dict ? asr_dict_lookup(full_dict, word, buf, len) : BC_ENOTFOUND;
    int w = snprintf(buf, len, "%s", pron);
    ckd_free(pron);
    return w >= 0 && (size_t)w < len ? 0 : BC_EFORMAT;
}

/* The phones of text's words, one after the other, into phones; 0, or -1
 * when a word is in neither dictionary or it does not fit. */
static int spell(ps_decoder_t *ps, const char *full_dict, const char *text, char *phones,
                 size_t len)
{
    char word[VOCAB_NAME_MAX];
    size_t n = 0;
    phones[0] = '\0';
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        size_t wlen = strcspn(p, " ");
        if (wlen == 0)
            break;
        if (wlen >= sizeof word)
            return -1;
        for (size_t i = 0; i < wlen; i++)
            word[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
        word[wlen] = '\0';
        p += wlen;
        char pron[VOCAB_PHONES_MAX];
        if (pronounce(ps, full_dict, word, pron, sizeof pron) < 0)
            return -1;
        int w = snprintf(phones + n, len - n, "%s%s", n ? " " : "", pron);
        if (w < 0 || (size_t)w >= len - n)
            return -1;
        n += (size_t)w;
    }
    return n > 0 ? 0 : -1;
}

/* The word named after text: lower case, blanks as '_', then the suffix. */
static int name_of(const char *text, char *name, size_t len)
{
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == ' ' && (n == 0 || name[n - 1] == '_'))
            continue;
        if (n + 1 >= len)
            return -1;
        name[n++] = *p == ' ' ? '_' : (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    }
    while (n > 0 && name[n - 1] == '_')
        n--;
    if (n == 0 || n + sizeof VOCAB_SUFFIX > len)
        return -1;
    memcpy(name + n, VOCAB_SUFFIX, sizeof VOCAB_SUFFIX);
    return 0;
}

struct asr_vocab *asr_vocab_prepare(ps_decoder_t *ps, const char *full_dict,
                                    const struct asr_term *terms, size_t n, int *taken)
{
    struct asr_vocab *v = bc_calloc(1, sizeof *v);
    *taken = 0;
    for (size_t i = 0; i < n; i++) {
        char name[VOCAB_NAME_MAX], phones[VOCAB_PHONES_MAX];
        const char *sounds = terms[i].sounds_like && terms[i].sounds_like[0]
                                 ? terms[i].sounds_like
                                 : terms[i].text;
        if (!terms[i].text || name_of(terms[i].text, name, sizeof name) < 0 ||
            spell(ps, full_dict, sounds, phones, sizeof phones) < 0) {
            bc_info("asr: no pronunciation for '%s'; not preferred",
                    terms[i].text ? terms[i].text : "");
            continue;
        }
        ++*taken;
        char *known = ps_lookup_word(ps, name);
        ckd_free(known);
        if (known)
            continue; /* added by an earlier call: already preferred */
        v->words = bc_realloc(v->words, (v->n + 1) * sizeof *v->words);
        v->words[v->n].name = bc_strdup(name);
        v->words[v->n].phones = bc_strdup(phones);
        v->n++;
    }
    if (v->n == 0) {
        asr_vocab_free(v);
        return NULL;
    }
    return v;
}

int asr_vocab_apply(ps_decoder_t *ps, const struct asr_vocab *v)
{
    ngram_model_t *lm = ps_get_lm(ps, VOCAB_LM_SEARCH);
    for (size_t i = 0; v && i < v->n; i++) {
        /* The unigram goes in first with its weight: ps_add_word would add
         * it with the uniform probability, and leaves a known word as it
         * is. Only the last word rebuilds the search (slow). */
        if (lm && ngram_model_add_word(lm, v->words[i].name, VOCAB_UNIGRAM_WEIGHT) < 0)
            return BC_EENGINE;
        if (ps_add_word(ps, v->words[i].name, v->words[i].phones, i + 1 == v->n) < 0)
            return BC_EENGINE;
    }
    return 0;
}

size_t asr_vocab_term_text(const char *word, size_t wlen, char *buf, size_t len)
{
    size_t suffix = strlen(VOCAB_SUFFIX);
    if (wlen <= suffix || memcmp(word + wlen - suffix, VOCAB_SUFFIX, suffix) != 0 ||
        wlen - suffix >= len)
        return 0;
    size_t n = wlen - suffix;
    for (size_t i = 0; i < n; i++)
        buf[i] = word[i] == '_' ? ' ' : word[i];
    buf[n] = '\0';
    return n;
}

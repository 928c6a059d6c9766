#include "pipeline/chunker.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

/* More partials than this cannot be asked to agree: recognizers revise
 * within a few hypotheses or not at all. */
#define CHUNKER_AGREE_MAX 8
/* How far from the committed count an aligned final may place the cut. */
#define CHUNKER_ALIGN_WINDOW 3

/* Words that open a clause: a chunk ends before them, so each chunk
 * translates as a unit of meaning. */
static const char *const clause_words[] = {
    "and",   "but",    "or",    "so",      "because", "which",   "that",   "who",
    "whom",  "whose",  "where", "when",    "while",   "if",      "though", "although",
    "since", "unless", "until", "whether", "then",    "however",
};

/* Words that lean on the next one (articles, prepositions, possessives,
 * auxiliaries, subject pronouns): a chunk cut after them would be
 * translated without what they belong to ("more | amiable woman" comes
 * out in the wrong order), so a cut moves back before them. */
static const char *const dangling_words[] = {
    "the",   "a",     "an",    "of",    "to",    "in",   "on",    "at",    "for",   "with",
    "by",    "from",  "into",  "about", "as",    "than", "his",   "her",   "its",   "their",
    "my",    "your",  "our",   "this",  "these", "those", "very", "more",  "most",  "less",
    "not",   "no",    "some",  "any",   "each",  "every", "such", "own",   "is",    "are",
    "was",   "were",  "be",    "been",  "being", "have",  "has",  "had",   "will",  "would",
    "can",   "could", "shall", "should", "may",  "might", "must", "do",    "does",  "did",
    "he",    "she",   "it",    "they",  "we",    "i",     "you",  "mister", "mr",
};

/* One hypothesis split into words; the words point into buf. */
struct words {
    char *buf;
    char **w;
    size_t n;
};

struct chunker {
    struct chunker_params params;
    int utterance;                        /* -1 before the first partial */
    struct words hist[CHUNKER_AGREE_MAX]; /* the latest partials, hist[0] newest */
    size_t n_hist;
    int64_t changed_ms; /* when the newest partial arrived */
    char **committed;   /* copies of the committed words */
    size_t n_committed, cap_committed;
    char *committed_text;
    int chunks;
};

static bool in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(w, list[i]) == 0)
            return true;
    }
    return false;
}

static bool is_clause_word(const char *w)
{
    return in_list(w, clause_words, sizeof clause_words / sizeof clause_words[0]);
}

static bool is_dangling(const char *w)
{
    return in_list(w, dangling_words, sizeof dangling_words / sizeof dangling_words[0]);
}

static void words_release(struct words *ws)
{
    free(ws->buf);
    free(ws->w);
    memset(ws, 0, sizeof *ws);
}

static void words_split(const char *text, struct words *ws)
{
    ws->buf = bc_strdup(text ? text : "");
    ws->n = 0;
    ws->w = bc_calloc(strlen(ws->buf) / 2 + 1, sizeof *ws->w);
    char *save = NULL;
    for (char *t = strtok_r(ws->buf, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save))
        ws->w[ws->n++] = t;
}

/* words[from..to) joined by single spaces (heap). */
static char *join(char *const *w, size_t from, size_t to)
{
    size_t len = 1;
    for (size_t i = from; i < to; i++)
        len += strlen(w[i]) + 1;
    char *out = bc_malloc(len), *p = out;
    *p = '\0';
    for (size_t i = from; i < to; i++) {
        size_t n = strlen(w[i]);
        if (p != out)
            *p++ = ' ';
        memcpy(p, w[i], n + 1);
        p += n;
    }
    return out;
}

void chunker_default_params(struct chunker_params *params)
{
    params->agree = CHUNKER_DEFAULT_AGREE;
    params->pause_ms = CHUNKER_DEFAULT_PAUSE_MS;
    params->max_words = CHUNKER_DEFAULT_MAX_WORDS;
    params->min_words = CHUNKER_DEFAULT_MIN_WORDS;
}

static void reset(struct chunker *c, int utterance)
{
    for (size_t i = 0; i < c->n_hist; i++)
        words_release(&c->hist[i]);
    c->n_hist = 0;
    for (size_t i = 0; i < c->n_committed; i++)
        free(c->committed[i]);
    c->n_committed = 0;
    free(c->committed_text);
    c->committed_text = bc_strdup("");
    c->chunks = 0;
    c->utterance = utterance;
}

int chunker_new(const struct chunker_params *params, struct chunker **out)
{
    *out = NULL;
    if (params->agree < 1 || params->agree > CHUNKER_AGREE_MAX || params->pause_ms < 1 ||
        params->min_words < 1 || params->max_words < params->min_words)
        return BC_EINVAL;
    struct chunker *c = bc_calloc(1, sizeof *c);
    c->params = *params;
    reset(c, -1);
    *out = c;
    return 0;
}

void chunker_free(struct chunker *c)
{
    if (!c)
        return;
    reset(c, -1);
    free(c->committed_text);
    free(c->committed);
    free(c);
}

/* Where the committed words end in hypothesis h: after them when h starts
 * with them, else where h has the last committed word(s) nearest to the
 * committed count, else at that count. */
static size_t align(const struct chunker *c, const struct words *h)
{
    size_t n = c->n_committed;
    if (n == 0)
        return 0;
    bool same = h->n >= n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(h->w[i], c->committed[i]) == 0;
    if (same)
        return n;
    size_t best = n < h->n ? n : h->n;
    int best_score = 0;
    size_t lo = n > CHUNKER_ALIGN_WINDOW ? n - CHUNKER_ALIGN_WINDOW : 1;
    for (size_t j = lo; j <= n + CHUNKER_ALIGN_WINDOW && j <= h->n; j++) {
        if (strcmp(h->w[j - 1], c->committed[n - 1]) != 0)
            continue;
        int score = 1 + (n >= 2 && j >= 2 && strcmp(h->w[j - 2], c->committed[n - 2]) == 0);
        size_t dist = j > n ? j - n : n - j, best_dist = best > n ? best - n : n - best;
        if (score > best_score || (score == best_score && dist < best_dist)) {
            best = j;
            best_score = score;
        }
    }
    return best;
}

/* Where a chunk [from, to) of h ends once words that lean on the next one
 * are left for the next chunk; from when every word does. */
static size_t trim_dangling(const struct words *h, size_t from, size_t to)
{
    while (to > from && is_dangling(h->w[to - 1]))
        to--;
    return to;
}

/* Commits words [from, to) of the newest partial as a chunk. */
static int commit(struct chunker *c, size_t from, size_t to, char **chunk)
{
    const struct words *h = &c->hist[0];
    if (c->n_committed + (to - from) > c->cap_committed) {
        c->cap_committed = (c->n_committed + (to - from)) * 2;
        c->committed = bc_realloc(c->committed, c->cap_committed * sizeof *c->committed);
    }
    for (size_t i = from; i < to; i++)
        c->committed[c->n_committed++] = bc_strdup(h->w[i]);
    free(c->committed_text);
    c->committed_text = join(c->committed, 0, c->n_committed);
    c->chunks++;
    *chunk = join(h->w, from, to);
    return 1;
}

/* Words the last `agree` partials share from their start. */
static size_t agreed_prefix(const struct chunker *c)
{
    if (c->n_hist < (size_t)c->params.agree)
        return 0;
    size_t len = c->hist[0].n;
    for (size_t k = 1; k < (size_t)c->params.agree; k++) {
        size_t i = 0;
        while (i < len && i < c->hist[k].n && strcmp(c->hist[0].w[i], c->hist[k].w[i]) == 0)
            i++;
        len = i;
    }
    return len;
}

int chunker_partial(struct chunker *c, int utterance, const char *text, int64_t at_ms, char **chunk)
{
    *chunk = NULL;
    if (utterance != c->utterance)
        reset(c, utterance);
    words_release(&c->hist[CHUNKER_AGREE_MAX - 1]);
    memmove(&c->hist[1], &c->hist[0], (CHUNKER_AGREE_MAX - 1) * sizeof c->hist[0]);
    words_split(text, &c->hist[0]);
    if (c->n_hist < CHUNKER_AGREE_MAX)
        c->n_hist++;
    c->changed_ms = at_ms;
    const struct words *h = &c->hist[0];
    size_t base = align(c, h);
    size_t stable = agreed_prefix(c);
    /* The newest word may still be growing into another one. */
    if (stable >= h->n)
        stable = h->n > 0 ? h->n - 1 : 0;
    if (stable <= base)
        return 0;
    size_t limit = base + (size_t)c->params.max_words;
    size_t cut = 0;
    /* A clause word ends the chunk before it, once the word itself is stable. */
    for (size_t b = base + (size_t)c->params.min_words; b < stable && b <= limit; b++) {
        if (is_clause_word(h->w[b]))
            cut = b;
    }
    if (!cut && stable >= limit)
        cut = limit;
    size_t min_cut = base + (size_t)c->params.min_words;
    if (cut)
        cut = trim_dangling(h, base, cut);
    /* Leaning words all the way back: a longer chunk rather than none. */
    if (cut && cut < min_cut && stable >= limit)
        cut = trim_dangling(h, base, stable);
    return cut >= min_cut ? commit(c, base, cut, chunk) : 0;
}

int chunker_tick(struct chunker *c, int64_t at_ms, char **chunk)
{
    *chunk = NULL;
    if (c->n_hist == 0 || at_ms - c->changed_ms < c->params.pause_ms)
        return 0;
    /* Words that lean on the next one go too: a speaker who stopped after
     * them has mostly ended the sentence, and they would otherwise wait for
     * the final and then play after everything before them. */
    const struct words *h = &c->hist[0];
    size_t base = align(c, h);
    return h->n > base ? commit(c, base, h->n, chunk) : 0;
}

void chunker_rest(const struct chunker *c, const char *text, char **rest)
{
    struct words f;
    words_split(text, &f);
    *rest = join(f.w, align(c, &f), f.n);
    words_release(&f);
}

void chunker_final(struct chunker *c, const char *text, char **rest)
{
    chunker_rest(c, text, rest);
    reset(c, -1);
}

const char *chunker_committed(const struct chunker *c)
{
    return c->committed_text;
}

int chunker_chunks(const struct chunker *c)
{
    return c->chunks;
}

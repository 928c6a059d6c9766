/* Simultaneous mode: the chunker commits stable words of the utterance in
 * progress; each chunk is translated and spoken at once, and the final
 * only completes what the chunks did not carry. A chunk is translated with
 * the sentence so far as context when the engine keeps the words already
 * committed (Apertium, being local, mostly does), else alone.
 *
 * With pacing, a chunk's speech waits as text while its listeners still
 * have more than SIMUL_HOLD_MS of speech to play: chunks committed in the
 * meantime, and the final's rest, join it, and the whole is spoken as one
 * piece when they are about to run out, at a pace chosen knowing all of
 * it. The piece is numbered by the last chunk it carries. Without this,
 * the words said last play only after every piece queued before them. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pipeline/chunker.h"
#include "pipeline/pipeline_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define MS_PER_SECOND 1000
/* Speech for a chunk is held while listeners still have more than this
 * to play (input time): more than the pipeline's tick (100 ms of input),
 * so that it is released before they run dry. */
#define SIMUL_HOLD_MS 200

/* The translation committed so far in one language. */
struct lang_committed {
    char lang[PIPELINE_LANG_MAX];
    char *text;
    char *held;    /* committed, not spoken yet; NULL: none */
    int held_last; /* the last chunk held */
};

struct pipeline_simul {
    struct chunker *chunker;
    int utterance; /* the utterance the state below belongs to; -1: none */
    int64_t start_sample;
    char *last_text; /* its newest partial */
    struct lang_committed langs[PIPELINE_LANGS_MAX];
    size_t n_langs;
};

static int64_t samples_to_ms(int64_t samples)
{
    return samples * MS_PER_SECOND / ASR_RATE_HZ;
}

/* a and b joined by a space when both have text (heap). */
static char *join2(const char *a, const char *b)
{
    return bc_asprintf("%s%s%s", a, a[0] && b[0] ? " " : "", b);
}

static void reset(struct pipeline_simul *s, int utterance)
{
    for (size_t i = 0; i < s->n_langs; i++) {
        free(s->langs[i].text);
        free(s->langs[i].held);
    }
    s->n_langs = 0;
    free(s->last_text);
    s->last_text = NULL;
    s->utterance = utterance;
}

struct pipeline_simul *pipeline_simul_new(void)
{
    struct pipeline_simul *s = bc_calloc(1, sizeof *s);
    struct chunker_params params;
    chunker_default_params(&params);
    if (chunker_new(&params, &s->chunker) < 0)
        abort(); /* the defaults are valid */
    s->utterance = -1;
    return s;
}

void pipeline_simul_free(struct pipeline_simul *s)
{
    if (!s)
        return;
    reset(s, -1);
    chunker_free(s->chunker);
    free(s);
}

/* The committed translation in lang, NULL when nothing of this utterance
 * was committed in it (it became active mid-utterance). */
static struct lang_committed *committed_in(struct pipeline_simul *s, const char *lang, int create)
{
    for (size_t i = 0; i < s->n_langs; i++) {
        if (strcmp(s->langs[i].lang, lang) == 0)
            return &s->langs[i];
    }
    if (!create || s->n_langs == PIPELINE_LANGS_MAX)
        return NULL;
    struct lang_committed *l = &s->langs[s->n_langs++];
    snprintf(l->lang, sizeof l->lang, "%s", lang);
    l->text = bc_strdup("");
    l->held = NULL;
    l->held_last = -1;
    return l;
}

static void hold(struct lang_committed *l, int chunk, const char *piece)
{
    if (!piece[0])
        return;
    char *grown = join2(l->held ? l->held : "", piece);
    free(l->held);
    l->held = grown;
    l->held_last = chunk;
}

/* Speaks what l holds unless, paced, its listeners still have more than
 * SIMUL_HOLD_MS to play (force: speak anyway). ahead_bytes: source text
 * said but not committed yet, which will follow. */
static void release(struct pipeline *p, struct lang_committed *l, int utterance, int force,
                    size_t ahead_bytes)
{
    if (!l->held)
        return;
    if (!force && pipeline_paced(p) && pipeline_play_lag_ms(p, l->lang) > SIMUL_HOLD_MS)
        return;
    pipeline_speak(p, l->lang, utterance, l->held_last, l->held, ahead_bytes);
    free(l->held);
    l->held = NULL;
    l->held_last = -1;
}

/* Bytes of the words of text after the committed ones. */
static size_t rest_bytes(const struct pipeline_simul *s, const char *text)
{
    char *rest = NULL;
    chunker_rest(s->chunker, text, &rest);
    size_t n = strlen(rest);
    free(rest);
    return n;
}

/* Translates a piece that continues a sentence: the engine capitalizes
 * each input's first letter as if it began one. *out is "" on failure
 * (logged): a chunk must not stop the ones after it. */
static void translate_piece(struct pipeline *p, const char *lang, const char *text, int continues,
                            char **out)
{
    int rc = pipeline_translate(p, lang, text, out);
    if (rc < 0) {
        bc_warn("translation to %s failed: %s", lang, bc_strerror(rc));
        free(*out);
        *out = bc_strdup("");
    }
    if (continues && isupper((unsigned char)(*out)[0]) && !isupper((unsigned char)(*out)[1]))
        (*out)[0] = (char)tolower((unsigned char)(*out)[0]);
}

/* The translation of `source` (the sentence so far, new words last) after
 * `done`, the translation committed for what came before them, when the
 * engine's translation of all of it starts with `done` (letter case aside);
 * else NULL. With context, agreement and word choice follow the sentence
 * ("to do for them": "de hacer para ellos", not "a hacer para les"). */
static char *translate_in_context(struct pipeline *p, const char *lang, const char *source,
                                  const char *done)
{
    size_t n = strlen(done);
    if (!n)
        return NULL;
    char *all = NULL;
    char *piece = NULL;
    if (pipeline_translate(p, lang, source, &all) == 0 && strncasecmp(all, done, n) == 0 &&
        all[n] == ' ') {
        const char *rest = all + n;
        while (*rest == ' ')
            rest++;
        if (*rest)
            piece = bc_strdup(rest);
    }
    free(all);
    return piece;
}

/* Captions of a partial in every language: committed text first, then the
 * words after it. chunk >= 0 when this partial committed that chunk. */
static void emit_partial(struct pipeline *p, struct pipeline_simul *s, const struct asr_hyp *hyp,
                         int chunk)
{
    char *rest = NULL;
    chunker_rest(s->chunker, hyp->text, &rest);
    const char *committed = chunker_committed(s->chunker);
    char *text = join2(committed, rest);
    pipeline_emit_caption(p, PIPELINE_SOURCE_LANG, hyp, text, 0, committed, chunk);
    free(text);
    int with_rest = rest[0] && pipeline_translate_partial_now(p, hyp);
    for (size_t i = 0; i < pipeline_n_langs(p); i++) {
        const char *lang = pipeline_lang(p, i);
        struct lang_committed *l = committed_in(s, lang, 0);
        if (!with_rest && chunk < 0)
            continue;
        char *tail = NULL;
        if (with_rest)
            translate_piece(p, lang, rest, committed[0] != '\0', &tail);
        const char *lang_committed = l ? l->text : "";
        char *shown = join2(lang_committed, tail ? tail : "");
        pipeline_emit_caption(p, lang, hyp, shown, 0, lang_committed, chunk);
        free(shown);
        free(tail);
    }
    free(rest);
}

/* chunk: the source words the chunker committed just now. */
static void commit(struct pipeline *p, struct pipeline_simul *s, const struct asr_hyp *hyp,
                   const char *chunk)
{
    int index = chunker_chunks(s->chunker) - 1;
    char *pieces[PIPELINE_LANGS_MAX] = {0};
    struct lang_committed *ls[PIPELINE_LANGS_MAX] = {0};
    size_t n = pipeline_n_langs(p);
    for (size_t i = 0; i < n; i++) {
        /* A language that became active mid-utterance waits for the final. */
        struct lang_committed *l = committed_in(s, pipeline_lang(p, i), index == 0);
        ls[i] = l;
        if (!l)
            continue;
        pieces[i] = translate_in_context(p, l->lang, chunker_committed(s->chunker), l->text);
        if (!pieces[i])
            translate_piece(p, l->lang, chunk, index > 0, &pieces[i]);
        char *grown = join2(l->text, pieces[i]);
        free(l->text);
        l->text = grown;
    }
    emit_partial(p, s, hyp, index);
    /* Spoken after its caption, which gives listeners the chunk's timing. */
    size_t ahead = rest_bytes(s, hyp->text);
    for (size_t i = 0; i < n; i++) {
        if (pieces[i]) {
            hold(ls[i], index, pieces[i]);
            release(p, ls[i], hyp->utterance, 0, ahead);
        }
        free(pieces[i]);
    }
}

void pipeline_simul_partial(struct pipeline *p, struct pipeline_simul *s, const struct asr_hyp *hyp)
{
    if (hyp->utterance != s->utterance)
        reset(s, hyp->utterance);
    free(s->last_text);
    s->last_text = bc_strdup(hyp->text);
    s->start_sample = hyp->start_sample;
    char *chunk = NULL;
    if (chunker_partial(s->chunker, hyp->utterance, hyp->text, samples_to_ms(hyp->end_sample),
                        &chunk))
        commit(p, s, hyp, chunk);
    else
        emit_partial(p, s, hyp, -1);
    free(chunk);
}

void pipeline_simul_tick(struct pipeline *p, struct pipeline_simul *s, int64_t position)
{
    if (!s->last_text)
        return;
    char *chunk = NULL;
    if (chunker_tick(s->chunker, samples_to_ms(position), &chunk)) {
        struct asr_hyp hyp = {.text = s->last_text, .utterance = s->utterance,
                              .start_sample = s->start_sample, .end_sample = position};
        commit(p, s, &hyp, chunk);
    }
    free(chunk);
    for (size_t i = 0; i < s->n_langs; i++) {
        if (s->langs[i].held)
            release(p, &s->langs[i], s->utterance, 0, rest_bytes(s, s->last_text));
    }
}

void pipeline_simul_final(struct pipeline *p, struct pipeline_simul *s, const struct asr_hyp *hyp)
{
    if (hyp->utterance != s->utterance)
        reset(s, hyp->utterance);
    int chunks = chunker_chunks(s->chunker);
    char *source_committed = bc_strdup(chunks ? chunker_committed(s->chunker) : "");
    char *rest = NULL;
    chunker_final(s->chunker, hyp->text, &rest);
    char *full = join2(source_committed, rest);
    struct asr_hyp whole = *hyp;
    whole.text = full; /* what listeners got, committed words first */
    pipeline_emit_caption(p, PIPELINE_SOURCE_LANG, &whole, full, 1, NULL, -1);
    for (size_t i = 0; i < pipeline_n_langs(p); i++) {
        const char *lang = pipeline_lang(p, i);
        struct lang_committed *l = committed_in(s, lang, 0);
        /* A language that joined mid-utterance gets all of it now. */
        const char *todo = l ? rest : full;
        char *piece = l && rest[0] ? translate_in_context(p, lang, full, l->text) : NULL;
        if (!piece)
            translate_piece(p, lang, todo, l && l->text[0], &piece);
        char *text = join2(l ? l->text : "", piece);
        int delivered_before = pipeline_emit_caption(p, lang, &whole, text, 1, NULL, -1);
        if (l) {
            hold(l, chunks, piece);
            if (!delivered_before)
                release(p, l, hyp->utterance, 1, 0);
        } else if (!delivered_before) {
            pipeline_speak(p, lang, hyp->utterance, chunks, piece, 0);
        }
        free(text);
        free(piece);
    }
    free(rest);
    free(full);
    free(source_committed);
    reset(s, -1);
}

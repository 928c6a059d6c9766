/* The chunker: stable prefixes, clause boundaries, pauses, and committed
 * words never taken back. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/chunker.h"
#include "test.h"
#include "util/err.h"

/* Five words at most: the cases below are written for that. */
#define TEST_MAX_WORDS 5

static struct chunker *make(void)
{
    struct chunker_params p;
    chunker_default_params(&p);
    p.max_words = TEST_MAX_WORDS;
    struct chunker *c;
    ASSERT_EQ(chunker_new(&p, &c), 0);
    return c;
}

/* Feeds a partial; returns the chunk committed (heap) or NULL. */
static char *partial(struct chunker *c, int utt, const char *text, int64_t ms)
{
    char *chunk = NULL;
    int rc = chunker_partial(c, utt, text, ms, &chunk);
    ASSERT_EQ(rc, chunk != NULL);
    return chunk;
}

static void expect_chunk(char *chunk, const char *want)
{
    ASSERT(chunk != NULL);
    ASSERT_STR_EQ(chunk, want);
    free(chunk);
}

static void test_params(void)
{
    struct chunker_params p;
    chunker_default_params(&p);
    struct chunker *c;
    p.agree = 0;
    ASSERT_EQ(chunker_new(&p, &c), BC_EINVAL);
    ASSERT(c == NULL);
    chunker_default_params(&p);
    p.max_words = p.min_words - 1;
    ASSERT_EQ(chunker_new(&p, &c), BC_EINVAL);
    chunker_free(NULL);
}

/* Nothing is committed until two partials agree, and never the newest word. */
static void test_agreement(void)
{
    struct chunker *c = make();
    ASSERT(partial(c, 0, "the old man walked", 100) == NULL);
    /* Agreement on four words, but the last one may still grow. */
    ASSERT(partial(c, 0, "the old man walked slowly", 200) == NULL);
    /* Five stable words: the maximum chunk length. */
    expect_chunk(partial(c, 0, "the old man walked slowly down", 300), "the old man walked slowly");
    ASSERT_STR_EQ(chunker_committed(c), "the old man walked slowly");
    ASSERT_EQ(chunker_chunks(c), 1);
    chunker_free(c);
}

/* A revision of unstable words commits nothing. */
static void test_disagreement(void)
{
    struct chunker *c = make();
    ASSERT(partial(c, 0, "a cat sat on the mat and", 100) == NULL);
    ASSERT(partial(c, 0, "the cats at on the mat and then", 200) == NULL);
    chunker_free(c);
}

/* A clause word ends the chunk before it. */
static void test_clause_word(void)
{
    struct chunker *c = make();
    ASSERT(partial(c, 0, "he came home but", 100) == NULL);
    expect_chunk(partial(c, 0, "he came home but she", 200), "he came home");
    /* The clause word opens the next chunk. */
    ASSERT(partial(c, 0, "he came home but she was", 300) == NULL);
    ASSERT(partial(c, 0, "he came home but she was not there which", 400) == NULL);
    expect_chunk(partial(c, 0, "he came home but she was not there which was", 500),
                 "but she was not there");
    ASSERT_STR_EQ(chunker_committed(c), "he came home but she was not there");
    ASSERT_EQ(chunker_chunks(c), 2);
    chunker_free(c);
}

/* Too short before a clause word: no chunk. */
static void test_min_words(void)
{
    struct chunker *c = make();
    ASSERT(partial(c, 0, "yes and", 100) == NULL);
    ASSERT(partial(c, 0, "yes and so", 200) == NULL);
    chunker_free(c);
}

/* A chunk does not end on a word that leans on the next one. */
static void test_dangling(void)
{
    struct chunker *c = make();
    ASSERT(partial(c, 0, "he had married a more amiable", 100) == NULL);
    /* Five words would end on "more": the cut moves back before "a more". */
    expect_chunk(partial(c, 0, "he had married a more amiable woman", 200), "he had married");
    char *chunk = NULL;
    /* A pause commits them all the same: the speaker stopped there. */
    ASSERT(partial(c, 1, "the end of the", 1000) == NULL);
    ASSERT_EQ(chunker_tick(c, 1000 + CHUNKER_DEFAULT_PAUSE_MS, &chunk), 1);
    expect_chunk(chunk, "the end of the");
    ASSERT_STR_EQ(chunker_committed(c), "the end of the");
    chunker_free(c);
}

/* A hypothesis unchanged for the pause commits all its words. */
static void test_pause(void)
{
    struct chunker *c = make();
    char *chunk = NULL;
    ASSERT(partial(c, 0, "in the beginning", 1000) == NULL);
    ASSERT_EQ(chunker_tick(c, 1100, &chunk), 0);
    ASSERT_EQ(chunker_tick(c, 1000 + CHUNKER_DEFAULT_PAUSE_MS, &chunk), 1);
    expect_chunk(chunk, "in the beginning");
    /* Nothing new: the pause goes on without another chunk. */
    ASSERT_EQ(chunker_tick(c, 2000, &chunk), 0);
    ASSERT(chunk == NULL);
    chunker_free(c);
}

/* The final completes the committed words: agreeing, revised, shorter. */
static void test_final(void)
{
    struct chunker *c = make();
    char *rest = NULL;
    ASSERT(partial(c, 0, "he came home but", 100) == NULL);
    expect_chunk(partial(c, 0, "he came home but she", 200), "he came home");
    chunker_final(c, "he came home but she was gone", &rest);
    ASSERT_STR_EQ(rest, "but she was gone");
    free(rest);
    ASSERT_STR_EQ(chunker_committed(c), "");
    ASSERT_EQ(chunker_chunks(c), 0);

    /* The final revised a committed word: the committed ones stand, the
     * cut follows the last committed word. */
    ASSERT(partial(c, 1, "he came home but", 100) == NULL);
    expect_chunk(partial(c, 1, "he came home but she", 200), "he came home");
    chunker_final(c, "the came home but she was gone", &rest);
    ASSERT_STR_EQ(rest, "but she was gone");
    free(rest);

    /* The final dropped a word before the cut. */
    ASSERT(partial(c, 2, "he came home but", 100) == NULL);
    expect_chunk(partial(c, 2, "he came home but she", 200), "he came home");
    chunker_final(c, "he home but she left", &rest);
    ASSERT_STR_EQ(rest, "but she left");
    free(rest);

    /* The final is shorter than what was committed. */
    ASSERT(partial(c, 3, "he came home but", 100) == NULL);
    expect_chunk(partial(c, 3, "he came home but she", 200), "he came home");
    chunker_final(c, "he", &rest);
    ASSERT_STR_EQ(rest, "");
    free(rest);

    /* Nothing committed: the whole final. */
    chunker_final(c, "just this", &rest);
    ASSERT_STR_EQ(rest, "just this");
    free(rest);
    chunker_free(c);
}

/* Over a long noisy run of partials, what is committed only grows, and
 * each chunk continues the committed text. */
static void test_never_retracts(void)
{
    static const char *const partials[] = {
        "it",
        "it was",
        "it was the",
        "it was the best",
        "it was the best of",
        "it was the best of times",
        "it was the vest of times it",
        "it was the best of times it was",
        "it was the best of times it was the worst",
        "it was the best of times it was the worst of",
        "it was the best of time it was the worst of times",
        "it was the best of times it was the worst of times and",
        "it was the best of times it was the worst of times and the age",
    };
    struct chunker *c = make();
    char *before = strdup("");
    for (size_t i = 0; i < sizeof partials / sizeof partials[0]; i++) {
        char *chunk = partial(c, 7, partials[i], (int64_t)i * 100);
        const char *now = chunker_committed(c);
        ASSERT(strncmp(now, before, strlen(before)) == 0);
        if (chunk) {
            ASSERT(strlen(now) >= strlen(chunk));
            ASSERT_STR_EQ(now + strlen(now) - strlen(chunk), chunk);
        } else {
            ASSERT_STR_EQ(now, before);
        }
        free(chunk);
        free(before);
        before = strdup(now);
    }
    ASSERT_GE(chunker_chunks(c), 2);
    char *rest = NULL;
    chunker_rest(c, "it was the best of times it was the worst of times and the age of wisdom",
                 &rest);
    /* committed + rest reads as the whole sentence. */
    char joined[256];
    snprintf(joined, sizeof joined, "%s %s", before, rest);
    ASSERT_STR_EQ(joined,
                  "it was the best of times it was the worst of times and the age of wisdom");
    free(rest);
    free(before);
    chunker_free(c);
}

/* A new utterance number starts afresh. */
static void test_new_utterance(void)
{
    struct chunker *c = make();
    ASSERT(partial(c, 0, "he came home but", 100) == NULL);
    expect_chunk(partial(c, 0, "he came home but she", 200), "he came home");
    ASSERT(partial(c, 1, "and then", 300) == NULL);
    ASSERT_STR_EQ(chunker_committed(c), "");
    ASSERT_EQ(chunker_chunks(c), 0);
    chunker_free(c);
}

int main(void)
{
    test_params();
    test_agreement();
    test_disagreement();
    test_clause_word();
    test_min_words();
    test_pause();
    test_dangling();
    test_final();
    test_never_retracts();
    test_new_utterance();
    return 0;
}

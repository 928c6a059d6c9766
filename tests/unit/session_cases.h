/* The registry's behaviour, the same on every backend: lifecycle, tokens,
 * ids, limits, listener counts, captions, the catalog, capacity (room
 * and shedding) and threads. A test
 * sets session_cases_open to a function that returns a fresh, empty
 * registry of its backend with the given limits (0: default), then calls
 * session_cases_run. Header-only: include it in one test. */
#ifndef BC_SESSION_CASES_H
#define BC_SESSION_CASES_H

#include <pthread.h>

#include "session/session.h"
#include "test.h"
#include "util/err.h"
#include "util/timeutil.h"

#define ID_ALPHABET "abcdefghjkmnpqrstuvwxyz23456789"
#define UNIQUE_CREATES 1000
#define THREADS 4
#define SESSIONS_PER_THREAD 10
#define CAPTIONS_PER_SESSION 12

static struct session_registry *(*session_cases_open)(int max_sessions, int max_listeners);

static void create(struct session_registry *reg, struct session_info *info,
                   char token[SESSION_TOKEN_LEN + 1])
{
    const char *targets[] = {"es", "ca"};
    ASSERT_OK(session_create(reg, "en", targets, 2, info, token));
}

/* The count of lang among n counts, or 0 when it is not listed. */
static int count_of(char (*langs)[SESSION_LANG_LEN], const int *counts, size_t n,
                    const char *lang)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(langs[i], lang))
            return counts[i];
    return 0;
}

static void case_lifecycle(void)
{
    struct session_registry *reg = session_cases_open(0, 0);
    struct session_info info, got;
    char token[SESSION_TOKEN_LEN + 1];
    int64_t before_ms = bc_wall_ms();
    const char *targets[] = {"es", "ca", "eo"};
    ASSERT_OK(session_create(reg, "en", targets, 3, &info, token));
    ASSERT_EQ(strlen(info.id), SESSION_ID_LEN);
    ASSERT_STR_EQ(info.source, "en");
    ASSERT_EQ(info.n_targets, 3);
    ASSERT_STR_EQ(info.targets[0], "es");
    ASSERT_STR_EQ(info.targets[2], "eo");
    ASSERT_EQ(info.state, SESSION_LIVE);
    ASSERT_GE(info.created_ms, before_ms);
    ASSERT_LE(info.created_ms, bc_wall_ms());
    ASSERT_EQ(info.ended_ms, 0);

    ASSERT_OK(session_get(reg, info.id, &got));
    ASSERT_STR_EQ(got.id, info.id);
    ASSERT_STR_EQ(got.source, "en");
    ASSERT_EQ(got.n_targets, 3);
    ASSERT_STR_EQ(got.targets[1], "ca");
    ASSERT_EQ(got.state, SESSION_LIVE);
    ASSERT_EQ(got.created_ms, info.created_ms);
    ASSERT_EQ(got.ended_ms, 0);

    ASSERT_OK(session_create(reg, "en", NULL, 0, &got, token));
    ASSERT_EQ(got.n_targets, 0);
    ASSERT_OK(session_get(reg, got.id, &got));
    ASSERT_EQ(got.n_targets, 0);

    ASSERT_OK(session_end(reg, info.id, NULL));
    ASSERT_OK(session_get(reg, info.id, &got));
    ASSERT_EQ(got.state, SESSION_ENDED);
    ASSERT_GE(got.ended_ms, got.created_ms);
    ASSERT_EQ(session_end(reg, info.id, NULL), BC_ESTATE);

    ASSERT_EQ(session_get(reg, "zzzzzzzzzz", &got), BC_ENOTFOUND);
    ASSERT_EQ(session_get(reg, "short", &got), BC_ENOTFOUND);
    ASSERT_EQ(session_get(reg, "bad{id}:x!", &got), BC_ENOTFOUND);
    ASSERT_EQ(session_get(reg, NULL, &got), BC_ENOTFOUND);
    ASSERT_EQ(session_end(reg, "zzzzzzzzzz", NULL), BC_ENOTFOUND);

    const char *too_many[SESSION_TARGETS_MAX + 1];
    for (size_t i = 0; i <= SESSION_TARGETS_MAX; i++)
        too_many[i] = "es";
    ASSERT_EQ(session_create(reg, "en", too_many, SESSION_TARGETS_MAX + 1, &got, token),
              BC_EINVAL);
    ASSERT_OK(session_create(reg, "en", too_many, SESSION_TARGETS_MAX, &got, token));
    ASSERT_EQ(got.n_targets, SESSION_TARGETS_MAX);
    ASSERT_OK(session_get(reg, got.id, &got));
    ASSERT_EQ(got.n_targets, SESSION_TARGETS_MAX);
    const char *long_code[] = {"a-code-that-is-far-too-long"};
    ASSERT_EQ(session_create(reg, "en", long_code, 1, &got, token), BC_EINVAL);
    const char *comma[] = {"es,ca"};
    ASSERT_EQ(session_create(reg, "en", comma, 1, &got, token), BC_EINVAL);
    ASSERT_EQ(session_create(reg, "", NULL, 0, &got, token), BC_EINVAL);
    session_registry_close(reg);
}

static void case_tokens(void)
{
    struct session_registry *reg = session_cases_open(0, 0);
    struct session_info info, other;
    char token[SESSION_TOKEN_LEN + 1], other_token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    create(reg, &other, other_token);
    ASSERT_EQ(strlen(token), SESSION_TOKEN_LEN);
    ASSERT_EQ(strspn(token, "0123456789abcdef"), SESSION_TOKEN_LEN);
    ASSERT(strcmp(token, other_token) != 0);

    ASSERT_OK(session_check_token(reg, info.id, token));
    ASSERT_OK(session_check_token(reg, other.id, other_token));
    char wrong[SESSION_TOKEN_LEN + 2];
    snprintf(wrong, sizeof wrong, "%s", token);
    wrong[SESSION_TOKEN_LEN - 1] = wrong[SESSION_TOKEN_LEN - 1] == 'a' ? 'b' : 'a';
    ASSERT_EQ(session_check_token(reg, info.id, wrong), BC_EAUTH);
    ASSERT_EQ(session_check_token(reg, info.id, other_token), BC_EAUTH);
    snprintf(wrong, sizeof wrong, "%.*s", SESSION_TOKEN_LEN - 1, token); /* a prefix */
    ASSERT_EQ(session_check_token(reg, info.id, wrong), BC_EAUTH);
    snprintf(wrong, sizeof wrong, "%s0", token); /* one character more */
    ASSERT_EQ(session_check_token(reg, info.id, wrong), BC_EAUTH);
    ASSERT_EQ(session_check_token(reg, info.id, ""), BC_EAUTH);
    ASSERT_EQ(session_check_token(reg, info.id, NULL), BC_EAUTH);
    ASSERT_EQ(session_check_token(reg, "zzzzzzzzzz", token), BC_ENOTFOUND);

    /* A wrong token cannot end a session. */
    ASSERT_EQ(session_end(reg, info.id, other_token), BC_EAUTH);
    ASSERT_EQ(session_end(reg, info.id, ""), BC_EAUTH);
    struct session_info got;
    ASSERT_OK(session_get(reg, info.id, &got));
    ASSERT_EQ(got.state, SESSION_LIVE);
    ASSERT_OK(session_end(reg, info.id, token));
    ASSERT_EQ(session_end(reg, info.id, token), BC_ESTATE);
    /* The token stays the speaker's credential after the end. */
    ASSERT_OK(session_check_token(reg, info.id, token));
    ASSERT_EQ(session_check_token(reg, info.id, other_token), BC_EAUTH);
    session_registry_close(reg);
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void case_ids(void)
{
    struct session_registry *reg = session_cases_open(UNIQUE_CREATES, 0);
    static char ids[UNIQUE_CREATES][SESSION_ID_LEN + 1];
    int seen[256] = {0};
    for (int i = 0; i < UNIQUE_CREATES; i++) {
        struct session_info info;
        char token[SESSION_TOKEN_LEN + 1];
        create(reg, &info, token);
        ASSERT_EQ(strlen(info.id), SESSION_ID_LEN);
        ASSERT_EQ(strspn(info.id, ID_ALPHABET), SESSION_ID_LEN);
        for (int c = 0; c < SESSION_ID_LEN; c++)
            seen[(unsigned char)info.id[c]]++;
        memcpy(ids[i], info.id, sizeof ids[i]);
    }
    qsort(ids, UNIQUE_CREATES, sizeof ids[0], cmp_ids);
    for (int i = 1; i < UNIQUE_CREATES; i++)
        ASSERT(strcmp(ids[i - 1], ids[i]) != 0);
    /* 10000 draws: every character of the alphabet shows up. */
    for (const char *c = ID_ALPHABET; *c; c++)
        ASSERT_GT(seen[(unsigned char)*c], 0);

    static char live[UNIQUE_CREATES + 1][SESSION_ID_LEN + 1];
    ASSERT_EQ(session_list_live(reg, live, UNIQUE_CREATES + 1), UNIQUE_CREATES);
    qsort(live, UNIQUE_CREATES, sizeof live[0], cmp_ids);
    for (int i = 0; i < UNIQUE_CREATES; i++)
        ASSERT_STR_EQ(live[i], ids[i]);
    ASSERT_EQ(session_list_live(reg, live, 7), 7);
    session_registry_close(reg);
}

static void case_live_and_limit(void)
{
    struct session_registry *reg = session_cases_open(3, 0);
    struct session_info info[3], extra;
    char token[SESSION_TOKEN_LEN + 1];
    for (int i = 0; i < 3; i++) {
        create(reg, &info[i], token);
        /* Distinct creation times, so the live list has one order. */
        bc_sleep_us(2000);
    }
    char ids[4][SESSION_ID_LEN + 1];
    ASSERT_EQ(session_list_live(reg, ids, 4), 3);
    for (int i = 0; i < 3; i++)
        ASSERT_STR_EQ(ids[i], info[i].id); /* oldest first */
    const char *targets[] = {"es"};
    ASSERT_EQ(session_create(reg, "en", targets, 1, &extra, token), BC_ELIMIT);
    ASSERT_OK(session_end(reg, info[1].id, NULL));
    ASSERT_EQ(session_list_live(reg, ids, 4), 2);
    ASSERT_STR_EQ(ids[0], info[0].id);
    ASSERT_STR_EQ(ids[1], info[2].id);
    ASSERT_OK(session_create(reg, "en", targets, 1, &extra, token));
    ASSERT_EQ(session_create(reg, "en", targets, 1, &extra, token), BC_ELIMIT);
    ASSERT_EQ(session_list_live(reg, ids, 4), 3);
    ASSERT_STR_EQ(ids[2], extra.id);
    session_registry_close(reg);
}

static void case_listeners(void)
{
    struct session_registry *reg = session_cases_open(0, 3);
    struct session_info a, b;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &a, token);
    create(reg, &b, token);
    char langs[4][SESSION_LANG_LEN];
    int counts[4];
    ASSERT_EQ(session_listener_counts(reg, a.id, langs, counts, 4), 0);

    ASSERT_OK(session_listener_join(reg, a.id, "es"));
    ASSERT_OK(session_listener_join(reg, a.id, "es"));
    ASSERT_OK(session_listener_join(reg, a.id, "ca"));
    ASSERT_OK(session_listener_join(reg, b.id, "es"));
    ASSERT_EQ(session_listener_join(reg, a.id, "fr"), BC_ELIMIT); /* 3 listeners in all */
    ASSERT_EQ(session_listener_join(reg, a.id, "es"), BC_ELIMIT);
    ASSERT_EQ(session_listener_counts(reg, a.id, langs, counts, 4), 2);
    ASSERT_EQ(count_of(langs, counts, 2, "es"), 2);
    ASSERT_EQ(count_of(langs, counts, 2, "ca"), 1);
    ASSERT_EQ(session_listener_counts(reg, a.id, langs, counts, 1), 1);
    ASSERT_EQ(session_listener_counts(reg, b.id, langs, counts, 4), 1);
    ASSERT_STR_EQ(langs[0], "es");
    ASSERT_EQ(counts[0], 1);

    session_listener_leave(reg, a.id, "ca");
    ASSERT_OK(session_listener_join(reg, a.id, "fr"));
    ASSERT_EQ(session_listener_counts(reg, a.id, langs, counts, 4), 2);
    ASSERT_EQ(count_of(langs, counts, 2, "fr"), 1);
    ASSERT_EQ(count_of(langs, counts, 2, "ca"), 0);
    session_listener_leave(reg, a.id, "es");
    session_listener_leave(reg, a.id, "es");
    session_listener_leave(reg, a.id, "es"); /* one too many: ignored */
    session_listener_leave(reg, a.id, "de");
    session_listener_leave(reg, "zzzzzzzzzz", "es");
    ASSERT_EQ(session_listener_counts(reg, a.id, langs, counts, 4), 1);
    ASSERT_STR_EQ(langs[0], "fr");
    ASSERT_EQ(counts[0], 1);
    /* The extra leave did not lend a place: two joins fit, a third does not. */
    ASSERT_OK(session_listener_join(reg, a.id, "es"));
    ASSERT_OK(session_listener_join(reg, a.id, "es"));
    ASSERT_EQ(session_listener_join(reg, a.id, "es"), BC_ELIMIT);

    ASSERT_EQ(session_listener_join(reg, "zzzzzzzzzz", "es"), BC_ENOTFOUND);
    ASSERT_EQ(session_listener_join(reg, a.id, "es,ca"), BC_EINVAL);
    ASSERT_OK(session_end(reg, b.id, NULL));
    ASSERT_EQ(session_listener_join(reg, b.id, "es"), BC_ESTATE);
    session_registry_close(reg);
}

static void add_three(struct session_registry *reg, const char *id)
{
    /* Out of order, as a pipeline that finishes utterances unevenly. */
    ASSERT_EQ(session_add_caption(reg, id, "es", 2, 5000, 7000, "tercera", "third"), 0);
    ASSERT_EQ(session_add_caption(reg, id, "es", 0, 0, 1500, "primera", "first"), 0);
    ASSERT_EQ(session_add_caption(reg, id, "es", 1, 1500, 4000, "segunda", "second"), 0);
    ASSERT_EQ(session_add_caption(reg, id, "en", 0, 0, 1500, "first", "first"), 0);
}

static void check_three(struct session_registry *reg, const char *id)
{
    struct transcript *t;
    ASSERT_OK(session_transcript(reg, id, "es", &t));
    ASSERT_EQ(transcript_count(t), 3);
    const char *texts[] = {"primera", "segunda", "tercera"};
    for (size_t i = 0; i < 3; i++) {
        ASSERT_EQ(transcript_cue_at(t, i)->utterance, (int)i);
        ASSERT_STR_EQ(transcript_cue_at(t, i)->text, texts[i]);
    }
    ASSERT_STR_EQ(transcript_cue_at(t, 1)->source_text, "second");
    ASSERT_EQ(transcript_cue_at(t, 1)->start_ms, 1500);
    ASSERT_EQ(transcript_cue_at(t, 2)->start_ms, 5000);
    ASSERT_EQ(transcript_cue_at(t, 2)->end_ms, 7000);
    transcript_free(t);
}

static void case_captions(void)
{
    struct session_registry *reg = session_cases_open(0, 0);
    struct session_info info, other;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    create(reg, &other, token);
    add_three(reg, info.id);
    check_three(reg, info.id);

    /* A replay is reported and does not overwrite. */
    ASSERT_EQ(session_add_caption(reg, info.id, "es", 1, 1, 2, "otra", "other"), 1);
    ASSERT_EQ(session_add_caption_fenced(reg, info.id, "es", 1, 1, 2, "otra", "other", 3), 1);
    check_three(reg, info.id);

    struct transcript *t;
    ASSERT_OK(session_transcript(reg, info.id, "en", &t));
    ASSERT_EQ(transcript_count(t), 1);
    ASSERT_STR_EQ(transcript_cue_at(t, 0)->text, "first");
    transcript_free(t);
    ASSERT_OK(session_transcript(reg, info.id, "fr", &t));
    ASSERT_EQ(transcript_count(t), 0);
    transcript_free(t);
    ASSERT_OK(session_transcript(reg, other.id, "es", &t)); /* captions stay per session */
    ASSERT_EQ(transcript_count(t), 0);
    transcript_free(t);
    ASSERT_EQ(session_transcript(reg, "zzzzzzzzzz", "es", &t), BC_ENOTFOUND);
    ASSERT(t == NULL);
    ASSERT_EQ(session_add_caption(reg, "zzzzzzzzzz", "es", 0, 0, 1, "x", "x"), BC_ENOTFOUND);
    ASSERT_EQ(session_add_caption(reg, info.id, "es", 9, 0, 1, NULL, "x"), BC_EINVAL);

    ASSERT_OK(session_recent_captions(reg, info.id, "es", 2, &t));
    ASSERT_EQ(transcript_count(t), 2);
    ASSERT_STR_EQ(transcript_cue_at(t, 0)->text, "segunda");
    ASSERT_STR_EQ(transcript_cue_at(t, 1)->text, "tercera");
    transcript_free(t);
    ASSERT_OK(session_recent_captions(reg, info.id, "es", 10, &t));
    ASSERT_EQ(transcript_count(t), 3);
    ASSERT_STR_EQ(transcript_cue_at(t, 0)->text, "primera");
    transcript_free(t);
    ASSERT_OK(session_recent_captions(reg, info.id, "es", SIZE_MAX, &t));
    ASSERT_EQ(transcript_count(t), 3);
    transcript_free(t);
    ASSERT_OK(session_recent_captions(reg, info.id, "es", 0, &t));
    ASSERT_EQ(transcript_count(t), 0);
    transcript_free(t);
    ASSERT_EQ(session_recent_captions(reg, "zzzzzzzzzz", "es", 2, &t), BC_ENOTFOUND);

    /* Text is stored as given: quotes, newlines, non-ASCII; a NULL source is "". */
    const char *odd = "\"¿Qué?\"\n\tdijo \\ él";
    ASSERT_EQ(session_add_caption(reg, other.id, "es", 7, 100, 200, odd, NULL), 0);
    ASSERT_OK(session_transcript(reg, other.id, "es", &t));
    ASSERT_EQ(transcript_count(t), 1);
    ASSERT_STR_EQ(transcript_cue_at(t, 0)->text, odd);
    ASSERT_STR_EQ(transcript_cue_at(t, 0)->source_text, "");
    transcript_free(t);

    /* Captions may still arrive after the end (the last utterance flushes). */
    ASSERT_OK(session_end(reg, info.id, NULL));
    ASSERT_EQ(session_add_caption(reg, info.id, "es", 3, 7000, 8000, "cuarta", "fourth"), 0);
    ASSERT_OK(session_recent_captions(reg, info.id, "es", 1, &t));
    ASSERT_STR_EQ(transcript_cue_at(t, 0)->text, "cuarta");
    transcript_free(t);
    session_registry_close(reg);
}

static void case_catalog(void)
{
    struct session_registry *reg = session_cases_open(0, 0);
    char *json = (char *)&json; /* must be reset */
    ASSERT_EQ(session_catalog_get(reg, &json), BC_ENOTFOUND);
    ASSERT(json == NULL);
    const char *first = "{\"source\":[\"en\"],\"targets\":{\"en\":[\"es\",\"ca\"]}}";
    ASSERT_OK(session_catalog_set(reg, first));
    ASSERT_OK(session_catalog_get(reg, &json));
    ASSERT_STR_EQ(json, first);
    free(json);
    const char *second = "{\"source\":[\"en\"],\"targets\":{\"en\":[\"es\",\"ca\",\"eo\"]},"
                         "\"names\":{\"es\":\"español\"}}";
    ASSERT_OK(session_catalog_set(reg, second));
    ASSERT_OK(session_catalog_get(reg, &json));
    ASSERT_STR_EQ(json, second);
    free(json);
    ASSERT_EQ(session_catalog_set(reg, NULL), BC_EINVAL);
    ASSERT_EQ(session_catalog_get(reg, NULL), BC_EINVAL);
    session_registry_close(reg);
}

/* The glossary: versions count replacements, an unchanged version hands
 * no copy back, an ended session refuses a new one and keeps the last. */
static void case_glossary(void)
{
    struct session_registry *reg = session_cases_open(0, 0);
    struct session_info info;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    char *json = (char *)&json; /* must be reset */
    uint64_t version = 99;
    ASSERT_OK(session_glossary_get(reg, info.id, 0, &json, &version));
    ASSERT(json == NULL);
    ASSERT_EQ(version, 0);
    const char *first = "[{\"term\":\"Dashwood\",\"keep\":true}]";
    const char *second = "[{\"term\":\"Holy Spirit\",\"translations\":{\"es\":\"Esp\u00edritu\"}}]";
    uint64_t set_version = 0;
    ASSERT_OK(session_glossary_set(reg, info.id, first, &set_version));
    ASSERT_EQ(set_version, 1);
    ASSERT_OK(session_glossary_get(reg, info.id, 0, &json, &version));
    ASSERT_EQ(version, 1);
    ASSERT_STR_EQ(json, first);
    free(json);
    ASSERT_OK(session_glossary_get(reg, info.id, 1, &json, &version));
    ASSERT(json == NULL);
    ASSERT_EQ(version, 1);
    ASSERT_OK(session_glossary_set(reg, info.id, second, NULL));
    ASSERT_OK(session_glossary_get(reg, info.id, 1, &json, &version));
    ASSERT_EQ(version, 2);
    ASSERT_STR_EQ(json, second);
    free(json);
    ASSERT_OK(session_glossary_set(reg, info.id, "[]", &set_version));
    ASSERT_EQ(set_version, 3);
    ASSERT_EQ(session_glossary_set(reg, "nosuchsess", first, NULL), BC_ENOTFOUND);
    ASSERT_EQ(session_glossary_get(reg, "nosuchsess", 0, &json, &version), BC_ENOTFOUND);
    ASSERT_EQ(session_glossary_get(reg, "../bad", 0, &json, &version), BC_ENOTFOUND);
    ASSERT_EQ(session_glossary_set(reg, info.id, NULL, NULL), BC_EINVAL);
    char *huge = malloc(SESSION_GLOSSARY_MAX + 2);
    memset(huge, 'x', SESSION_GLOSSARY_MAX + 1);
    huge[SESSION_GLOSSARY_MAX + 1] = '\0';
    ASSERT_EQ(session_glossary_set(reg, info.id, huge, NULL), BC_EINVAL);
    free(huge);
    ASSERT_OK(session_end(reg, info.id, token));
    ASSERT_EQ(session_glossary_set(reg, info.id, first, NULL), BC_ESTATE);
    ASSERT_OK(session_glossary_get(reg, info.id, 0, &json, &version));
    ASSERT_EQ(version, 3);
    ASSERT_STR_EQ(json, "[]");
    free(json);
    session_registry_close(reg);
}

struct worker {
    struct session_registry *reg;
    int failures;
    char ids[SESSIONS_PER_THREAD][SESSION_ID_LEN + 1];
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    for (int s = 0; s < SESSIONS_PER_THREAD; s++) {
        struct session_info info;
        char token[SESSION_TOKEN_LEN + 1];
        const char *targets[] = {"es"};
        if (session_create(w->reg, "en", targets, 1, &info, token) != 0) {
            w->failures++;
            continue;
        }
        memcpy(w->ids[s], info.id, sizeof w->ids[s]);
        for (int u = 0; u < CAPTIONS_PER_SESSION; u++) {
            if (session_add_caption(w->reg, info.id, "es", u, u * 1000, u * 1000 + 900, "texto",
                                    "text") != 0)
                w->failures++;
            if (session_listener_join(w->reg, info.id, "es") != 0)
                w->failures++;
        }
        if (session_check_token(w->reg, info.id, token) != 0)
            w->failures++;
    }
    return NULL;
}

static void case_threads(void)
{
    struct session_registry *reg = session_cases_open(THREADS * SESSIONS_PER_THREAD, 0);
    struct worker workers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].reg = reg;
        ASSERT_OK(pthread_create(&threads[i], NULL, worker_run, &workers[i]));
    }
    for (int i = 0; i < THREADS; i++)
        ASSERT_OK(pthread_join(threads[i], NULL));
    for (int i = 0; i < THREADS; i++) {
        ASSERT_EQ(workers[i].failures, 0);
        for (int s = 0; s < SESSIONS_PER_THREAD; s++) {
            struct transcript *t;
            ASSERT_OK(session_transcript(reg, workers[i].ids[s], "es", &t));
            ASSERT_EQ(transcript_count(t), CAPTIONS_PER_SESSION);
            transcript_free(t);
            char langs[2][SESSION_LANG_LEN];
            int counts[2];
            ASSERT_EQ(session_listener_counts(reg, workers[i].ids[s], langs, counts, 2), 1);
            ASSERT_EQ(counts[0], CAPTIONS_PER_SESSION);
        }
    }
    char ids[THREADS * SESSIONS_PER_THREAD + 1][SESSION_ID_LEN + 1];
    ASSERT_EQ(session_list_live(reg, ids, THREADS * SESSIONS_PER_THREAD + 1),
              THREADS * SESSIONS_PER_THREAD);
    struct session_info info;
    char token[SESSION_TOKEN_LEN + 1];
    ASSERT_EQ(session_create(reg, "en", NULL, 0, &info, token), BC_ELIMIT);
    session_registry_close(reg);
}

/* Speaker activity: starts at creation, moves with session_touch, stops
 * with the end. */
static void case_activity(void)
{
    struct session_registry *reg = session_cases_open(0, 0);
    struct session_info info, got;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    ASSERT_EQ(info.active_ms, info.created_ms);
    ASSERT_OK(session_get(reg, info.id, &got));
    ASSERT_EQ(got.active_ms, info.created_ms);
    bc_sleep_us(5000);
    int64_t before_ms = bc_wall_ms();
    ASSERT_OK(session_touch(reg, info.id));
    ASSERT_OK(session_get(reg, info.id, &got));
    ASSERT_GE(got.active_ms, before_ms);
    ASSERT_LE(got.active_ms, bc_wall_ms());
    ASSERT_EQ(got.created_ms, info.created_ms);
    ASSERT_EQ(session_touch(reg, "nosuchsess"), BC_ENOTFOUND);
    ASSERT_EQ(session_touch(reg, "../x"), BC_ENOTFOUND);
    ASSERT_OK(session_end(reg, info.id, token));
    int64_t last_ms = got.active_ms;
    ASSERT_EQ(session_touch(reg, info.id), BC_ESTATE);
    ASSERT_OK(session_get(reg, info.id, &got));
    ASSERT_EQ(got.active_ms, last_ms);
    session_registry_close(reg);
}

/* Deleting a transcript: every language's captions go, the session says
 * so, and only the speaker token may do it. */
static void case_delete_transcript(void)
{
    struct session_registry *reg = session_cases_open(0, 0);
    struct session_info info, got;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    ASSERT_OK(session_add_caption(reg, info.id, "en", 0, 0, 900, "hello", "hello"));
    ASSERT_OK(session_add_caption(reg, info.id, "es", 0, 0, 900, "hola", "hello"));
    ASSERT_OK(session_add_caption(reg, info.id, "ca", 1, 900, 1800, "adeu", "bye"));
    ASSERT_EQ(session_delete_transcript(reg, info.id, "0123456789abcdef0123456789abcdef"),
              BC_EAUTH);
    ASSERT_EQ(session_delete_transcript(reg, info.id, ""), BC_EAUTH);
    ASSERT_EQ(session_delete_transcript(reg, "nosuchsess", token), BC_ENOTFOUND);
    ASSERT_OK(session_get(reg, info.id, &got));
    ASSERT_EQ(got.transcript_deleted, 0);
    ASSERT_OK(session_delete_transcript(reg, info.id, token));
    ASSERT_OK(session_get(reg, info.id, &got));
    ASSERT_EQ(got.transcript_deleted, 1);
    ASSERT_EQ(got.state, SESSION_LIVE);
    const char *langs[] = {"en", "es", "ca"};
    for (size_t i = 0; i < 3; i++) {
        struct transcript *t;
        ASSERT_OK(session_transcript(reg, info.id, langs[i], &t));
        ASSERT_EQ(transcript_count(t), 0);
        transcript_free(t);
    }
    session_registry_close(reg);
}

/* Private sessions: a listener key, checked like the token; public
 * sessions let anyone listen. */
static void case_private(void)
{
    struct session_registry *reg = session_cases_open(0, 0);
    struct session_info priv, pub, got;
    char token[SESSION_TOKEN_LEN + 1], key[SESSION_KEY_LEN + 1], pub_token[SESSION_TOKEN_LEN + 1];
    const char *targets[] = {"es"};
    ASSERT_OK(session_create_private(reg, "en", targets, 1, &priv, token, key));
    create(reg, &pub, pub_token);
    ASSERT_EQ(strlen(key), SESSION_KEY_LEN);
    ASSERT(strcmp(key, token) != 0);
    ASSERT_EQ(priv.is_private, 1);
    ASSERT_EQ(pub.is_private, 0);
    ASSERT_OK(session_get(reg, priv.id, &got));
    ASSERT_EQ(got.is_private, 1);
    ASSERT_OK(session_get(reg, pub.id, &got));
    ASSERT_EQ(got.is_private, 0);
    ASSERT_OK(session_check_listener_key(reg, priv.id, key));
    ASSERT_EQ(session_check_listener_key(reg, priv.id, token), BC_EAUTH);
    ASSERT_EQ(session_check_listener_key(reg, priv.id, ""), BC_EAUTH);
    ASSERT_EQ(session_check_listener_key(reg, priv.id, NULL), BC_EAUTH);
    key[0] = key[0] == 'a' ? 'b' : 'a';
    ASSERT_EQ(session_check_listener_key(reg, priv.id, key), BC_EAUTH);
    ASSERT_OK(session_check_listener_key(reg, pub.id, ""));
    ASSERT_OK(session_check_listener_key(reg, pub.id, NULL));
    ASSERT_EQ(session_check_listener_key(reg, "nosuchsess", key), BC_ENOTFOUND);
    ASSERT_OK(session_check_token(reg, priv.id, token));
    session_registry_close(reg);
}

static void case_mode(void)
{
    struct session_registry *reg = session_cases_open(0, 0);
    struct session_info info, got;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    ASSERT_EQ(info.mode, SESSION_MODE_SENTENCE);
    ASSERT_OK(session_get(reg, info.id, &got));
    ASSERT_EQ(got.mode, SESSION_MODE_SENTENCE);
    ASSERT_OK(session_set_mode(reg, info.id, SESSION_MODE_SIMULTANEOUS));
    ASSERT_OK(session_get(reg, info.id, &got));
    ASSERT_EQ(got.mode, SESSION_MODE_SIMULTANEOUS);
    ASSERT_EQ(session_set_mode(reg, info.id, (enum session_mode)7), BC_EINVAL);
    ASSERT_EQ(session_set_mode(reg, "nosuchsess", SESSION_MODE_SENTENCE), BC_ENOTFOUND);
    ASSERT_OK(session_end(reg, info.id, token));
    ASSERT_EQ(session_set_mode(reg, info.id, SESSION_MODE_SENTENCE), BC_ESTATE);
    enum session_mode mode;
    ASSERT_OK(session_mode_parse("simultaneous", &mode));
    ASSERT_EQ(mode, SESSION_MODE_SIMULTANEOUS);
    ASSERT_OK(session_mode_parse("sentence", &mode));
    ASSERT_EQ(mode, SESSION_MODE_SENTENCE);
    ASSERT_EQ(session_mode_parse("fast", &mode), BC_EINVAL);
    ASSERT_EQ(session_mode_parse(NULL, &mode), BC_EINVAL);
    ASSERT_STR_EQ(session_mode_name(SESSION_MODE_SIMULTANEOUS), "simultaneous");
    session_registry_close(reg);
}

/* Room announcements: summed over workers, replaced, withdrawn, and
 * forgotten once their ttl passed. Shedding levels: per live session,
 * none until set, back to none. */
#define ROOM_SHORT_TTL_MS 1
#define ROOM_LONG_TTL_MS 60000
#define ROOM_EXPIRY_WAIT_US 20000
static void case_capacity(void)
{
    struct session_registry *reg = session_cases_open(0, 0);
    int free_slots = -1, workers = -1;
    ASSERT_OK(session_room_get(reg, &free_slots, &workers));
    ASSERT_EQ(free_slots, 0);
    ASSERT_EQ(workers, 0);
    ASSERT_OK(session_room_set(reg, "worker-a", 3, ROOM_LONG_TTL_MS));
    ASSERT_OK(session_room_set(reg, "worker-b", 0, ROOM_LONG_TTL_MS));
    ASSERT_OK(session_room_get(reg, &free_slots, &workers));
    ASSERT_EQ(free_slots, 3);
    ASSERT_EQ(workers, 2);
    ASSERT_OK(session_room_set(reg, "worker-a", 1, ROOM_LONG_TTL_MS));
    ASSERT_OK(session_room_set(reg, "worker-c", 2, ROOM_SHORT_TTL_MS));
    bc_sleep_us(ROOM_EXPIRY_WAIT_US);
    ASSERT_OK(session_room_get(reg, &free_slots, &workers));
    ASSERT_EQ(free_slots, 1); /* worker-c's announcement expired */
    ASSERT_EQ(workers, 2);
    ASSERT_OK(session_room_clear(reg, "worker-a"));
    ASSERT_OK(session_room_clear(reg, "never-announced"));
    ASSERT_OK(session_room_get(reg, &free_slots, &workers));
    ASSERT_EQ(free_slots, 0);
    ASSERT_EQ(workers, 1);
    ASSERT_EQ(session_room_set(reg, "", 1, ROOM_LONG_TTL_MS), BC_EINVAL);
    ASSERT_EQ(session_room_set(reg, NULL, 1, ROOM_LONG_TTL_MS), BC_EINVAL);
    ASSERT_EQ(session_room_set(reg, "worker-a", -1, ROOM_LONG_TTL_MS), BC_EINVAL);
    ASSERT_EQ(session_room_set(reg, "worker-a", 1, 0), BC_EINVAL);

    struct session_info info;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    enum session_shedding level = SESSION_SHED_PARTIALS;
    ASSERT_OK(session_shedding_get(reg, info.id, &level));
    ASSERT_EQ(level, SESSION_SHED_NONE);
    ASSERT_OK(session_shedding_set(reg, info.id, SESSION_SHED_TRANSLATED_PARTIALS));
    ASSERT_OK(session_shedding_get(reg, info.id, &level));
    ASSERT_EQ(level, SESSION_SHED_TRANSLATED_PARTIALS);
    ASSERT_OK(session_shedding_set(reg, info.id, SESSION_SHED_PARTIALS));
    ASSERT_OK(session_shedding_get(reg, info.id, &level));
    ASSERT_EQ(level, SESSION_SHED_PARTIALS);
    ASSERT_OK(session_shedding_set(reg, info.id, SESSION_SHED_NONE));
    ASSERT_OK(session_shedding_get(reg, info.id, &level));
    ASSERT_EQ(level, SESSION_SHED_NONE);
    ASSERT_EQ(session_shedding_set(reg, info.id, (enum session_shedding)7), BC_EINVAL);
    ASSERT_EQ(session_shedding_set(reg, "zzzzzzzzzz", SESSION_SHED_PARTIALS), BC_ENOTFOUND);
    ASSERT_EQ(session_shedding_get(reg, "zzzzzzzzzz", &level), BC_ENOTFOUND);
    ASSERT_EQ(session_shedding_get(reg, "short", &level), BC_ENOTFOUND);
    ASSERT_STR_EQ(session_shedding_name(SESSION_SHED_NONE), "none");
    ASSERT_STR_EQ(session_shedding_name(SESSION_SHED_TRANSLATED_PARTIALS), "translated_partials");
    ASSERT_STR_EQ(session_shedding_name(SESSION_SHED_PARTIALS), "partials");
    session_registry_close(reg);
}

static void session_cases_run(void)
{
    case_mode();
    case_capacity();
    case_private();
    case_delete_transcript();
    case_activity();
    case_lifecycle();
    case_tokens();
    case_ids();
    case_live_and_limit();
    case_listeners();
    case_captions();
    case_catalog();
    case_glossary();
    case_threads();
}

#endif

/* The session registry: lifecycle, tokens, ids, limits, listener counts,
 * captions, persistence across a reopen, a broken db file and threads. */
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include "session/session.h"
#include "test.h"
#include "util/err.h"
#include "util/timeutil.h"

#define ID_ALPHABET "abcdefghjkmnpqrstuvwxyz23456789"
#define UNIQUE_CREATES 1000
#define THREADS 4
#define SESSIONS_PER_THREAD 10
#define CAPTIONS_PER_SESSION 12

static struct session_registry *open_mem(int max_sessions, int max_listeners)
{
    struct session_limits limits;
    session_default_limits(&limits);
    if (max_sessions)
        limits.max_sessions = max_sessions;
    if (max_listeners)
        limits.max_listeners_per_session = max_listeners;
    struct session_registry *reg;
    ASSERT_OK(session_registry_open(NULL, &limits, &reg));
    return reg;
}

static void create(struct session_registry *reg, struct session_info *info,
                   char token[SESSION_TOKEN_LEN + 1])
{
    const char *targets[] = {"es", "ca"};
    ASSERT_OK(session_create(reg, "en", targets, 2, info, token));
}

static void test_lifecycle(void)
{
    struct session_registry *reg = open_mem(0, 0);
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
    ASSERT_EQ(got.n_targets, 3);
    ASSERT_STR_EQ(got.targets[1], "ca");
    ASSERT_EQ(got.created_ms, info.created_ms);

    ASSERT_OK(session_create(reg, "en", NULL, 0, &got, token));
    ASSERT_EQ(got.n_targets, 0);

    ASSERT_OK(session_end(reg, info.id, NULL));
    ASSERT_OK(session_get(reg, info.id, &got));
    ASSERT_EQ(got.state, SESSION_ENDED);
    ASSERT_GE(got.ended_ms, got.created_ms);
    ASSERT_EQ(session_end(reg, info.id, NULL), BC_ESTATE);

    ASSERT_EQ(session_get(reg, "zzzzzzzzzz", &got), BC_ENOTFOUND);
    ASSERT_EQ(session_get(reg, "short", &got), BC_ENOTFOUND);
    ASSERT_EQ(session_end(reg, "zzzzzzzzzz", NULL), BC_ENOTFOUND);

    const char *too_many[SESSION_TARGETS_MAX + 1];
    for (size_t i = 0; i <= SESSION_TARGETS_MAX; i++)
        too_many[i] = "es";
    ASSERT_EQ(session_create(reg, "en", too_many, SESSION_TARGETS_MAX + 1, &got, token),
              BC_EINVAL);
    ASSERT_OK(session_create(reg, "en", too_many, SESSION_TARGETS_MAX, &got, token));
    ASSERT_EQ(got.n_targets, SESSION_TARGETS_MAX);
    const char *long_code[] = {"a-code-that-is-far-too-long"};
    ASSERT_EQ(session_create(reg, "en", long_code, 1, &got, token), BC_EINVAL);
    const char *comma[] = {"es,ca"};
    ASSERT_EQ(session_create(reg, "en", comma, 1, &got, token), BC_EINVAL);
    ASSERT_EQ(session_create(reg, "", NULL, 0, &got, token), BC_EINVAL);
    session_registry_close(reg);
}

static void test_tokens(void)
{
    struct session_registry *reg = open_mem(0, 0);
    struct session_info info, other;
    char token[SESSION_TOKEN_LEN + 1], other_token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    create(reg, &other, other_token);
    ASSERT_EQ(strlen(token), SESSION_TOKEN_LEN);
    ASSERT_EQ(strspn(token, "0123456789abcdef"), SESSION_TOKEN_LEN);
    ASSERT(strcmp(token, other_token) != 0);

    ASSERT_OK(session_check_token(reg, info.id, token));
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

static void test_ids(void)
{
    struct session_registry *reg = open_mem(UNIQUE_CREATES, 0);
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

    char live[UNIQUE_CREATES + 1][SESSION_ID_LEN + 1];
    ASSERT_EQ(session_list_live(reg, live, UNIQUE_CREATES + 1), UNIQUE_CREATES);
    ASSERT_EQ(session_list_live(reg, live, 7), 7);
    session_registry_close(reg);
}

static void test_max_sessions(void)
{
    struct session_registry *reg = open_mem(3, 0);
    struct session_info info[3], extra;
    char token[SESSION_TOKEN_LEN + 1];
    for (int i = 0; i < 3; i++)
        create(reg, &info[i], token);
    const char *targets[] = {"es"};
    ASSERT_EQ(session_create(reg, "en", targets, 1, &extra, token), BC_ELIMIT);
    ASSERT_OK(session_end(reg, info[1].id, NULL));
    ASSERT_OK(session_create(reg, "en", targets, 1, &extra, token));
    ASSERT_EQ(session_create(reg, "en", targets, 1, &extra, token), BC_ELIMIT);
    session_registry_close(reg);
}

static void test_listeners(void)
{
    struct session_registry *reg = open_mem(0, 3);
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
    ASSERT_EQ(session_listener_counts(reg, a.id, langs, counts, 4), 2);
    ASSERT_STR_EQ(langs[0], "es");
    ASSERT_EQ(counts[0], 2);
    ASSERT_STR_EQ(langs[1], "ca");
    ASSERT_EQ(counts[1], 1);
    ASSERT_EQ(session_listener_counts(reg, a.id, langs, counts, 1), 1);
    ASSERT_EQ(session_listener_counts(reg, b.id, langs, counts, 4), 1);
    ASSERT_EQ(counts[0], 1);

    session_listener_leave(reg, a.id, "ca");
    ASSERT_OK(session_listener_join(reg, a.id, "fr"));
    ASSERT_EQ(session_listener_counts(reg, a.id, langs, counts, 4), 2);
    ASSERT_STR_EQ(langs[1], "fr");
    session_listener_leave(reg, a.id, "es");
    session_listener_leave(reg, a.id, "es");
    session_listener_leave(reg, a.id, "es"); /* one too many: ignored */
    session_listener_leave(reg, a.id, "de");
    session_listener_leave(reg, "zzzzzzzzzz", "es");
    ASSERT_EQ(session_listener_counts(reg, a.id, langs, counts, 4), 1);
    ASSERT_STR_EQ(langs[0], "fr");
    ASSERT_EQ(counts[0], 1);

    ASSERT_EQ(session_listener_join(reg, "zzzzzzzzzz", "es"), BC_ENOTFOUND);
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
    ASSERT_EQ(transcript_cue_at(t, 2)->start_ms, 5000);
    ASSERT_EQ(transcript_cue_at(t, 2)->end_ms, 7000);
    transcript_free(t);
}

static void test_captions(void)
{
    struct session_registry *reg = open_mem(0, 0);
    struct session_info info, other;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    create(reg, &other, token);
    add_three(reg, info.id);
    check_three(reg, info.id);

    /* A replay is reported and does not overwrite. */
    ASSERT_EQ(session_add_caption(reg, info.id, "es", 1, 1, 2, "otra", "other"), 1);
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

    ASSERT_OK(session_recent_captions(reg, info.id, "es", 2, &t));
    ASSERT_EQ(transcript_count(t), 2);
    ASSERT_STR_EQ(transcript_cue_at(t, 0)->text, "segunda");
    ASSERT_STR_EQ(transcript_cue_at(t, 1)->text, "tercera");
    transcript_free(t);
    ASSERT_OK(session_recent_captions(reg, info.id, "es", 10, &t));
    ASSERT_EQ(transcript_count(t), 3);
    ASSERT_STR_EQ(transcript_cue_at(t, 0)->text, "primera");
    transcript_free(t);
    ASSERT_OK(session_recent_captions(reg, info.id, "es", 0, &t));
    ASSERT_EQ(transcript_count(t), 0);
    transcript_free(t);
    ASSERT_EQ(session_recent_captions(reg, "zzzzzzzzzz", "es", 2, &t), BC_ENOTFOUND);

    /* Captions may still arrive after the end (the last utterance flushes). */
    ASSERT_OK(session_end(reg, info.id, NULL));
    ASSERT_EQ(session_add_caption(reg, info.id, "es", 3, 7000, 8000, "cuarta", "fourth"), 0);
    session_registry_close(reg);
}

/* A fresh directory under $TMPDIR (or /tmp) in dir. */
static void make_temp_dir(char *dir, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, size, "%s/bc_session_XXXXXX", base && *base ? base : "/tmp");
    ASSERT(mkdtemp(dir));
}

static void remove_db(const char *dir, const char *path)
{
    char extra[4096];
    unlink(path);
    snprintf(extra, sizeof extra, "%s-wal", path);
    unlink(extra);
    snprintf(extra, sizeof extra, "%s-shm", path);
    unlink(extra);
    ASSERT_OK(rmdir(dir));
}

static void test_persistence(void)
{
    char dir[1024];
    make_temp_dir(dir, sizeof dir);
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/babelcast.db", dir);

    struct session_registry *reg;
    ASSERT_OK(session_registry_open(path, NULL, &reg));
    struct session_info live, ended, got;
    char token[SESSION_TOKEN_LEN + 1], ended_token[SESSION_TOKEN_LEN + 1];
    create(reg, &live, token);
    create(reg, &ended, ended_token);
    add_three(reg, live.id);
    ASSERT_OK(session_end(reg, ended.id, ended_token));
    ASSERT_OK(session_get(reg, ended.id, &got));
    int64_t ended_ms = got.ended_ms;
    session_registry_close(reg);

    /* The file really is a WAL database that sqlite3 can read. */
    sqlite3 *db;
    ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    ASSERT_STR_EQ((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);

    ASSERT_OK(session_registry_open(path, NULL, &reg));
    ASSERT_OK(session_get(reg, live.id, &got));
    ASSERT_EQ(got.state, SESSION_LIVE);
    ASSERT_EQ(got.created_ms, live.created_ms);
    ASSERT_EQ(got.n_targets, 2);
    ASSERT_STR_EQ(got.targets[1], "ca");
    ASSERT_OK(session_get(reg, ended.id, &got));
    ASSERT_EQ(got.state, SESSION_ENDED);
    ASSERT_EQ(got.ended_ms, ended_ms);
    ASSERT_OK(session_check_token(reg, live.id, token));
    ASSERT_EQ(session_check_token(reg, live.id, ended_token), BC_EAUTH);
    check_three(reg, live.id);
    ASSERT_EQ(session_add_caption(reg, live.id, "es", 0, 0, 1500, "again", "again"), 1);
    char ids[4][SESSION_ID_LEN + 1];
    ASSERT_EQ(session_list_live(reg, ids, 4), 1);
    ASSERT_STR_EQ(ids[0], live.id);
    session_registry_close(reg);
    remove_db(dir, path);
}

static void test_bad_files(void)
{
    char dir[1024];
    make_temp_dir(dir, sizeof dir);
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/garbage.db", dir);
    FILE *f = fopen(path, "w");
    ASSERT(f);
    for (int i = 0; i < 100; i++)
        fprintf(f, "this is a text file, not a database %d\n", i);
    fclose(f);
    struct session_registry *reg = (struct session_registry *)&reg; /* must be reset */
    ASSERT_EQ(session_registry_open(path, NULL, &reg), BC_EIO);
    ASSERT(reg == NULL);
    f = fopen(path, "r"); /* left as it was */
    ASSERT(f);
    char line[128];
    ASSERT(fgets(line, sizeof line, f));
    ASSERT_STR_EQ(line, "this is a text file, not a database 0\n");
    fclose(f);

    f = fopen(path, "w"); /* shorter than an SQLite header */
    ASSERT(f);
    fputs("hello\n", f);
    fclose(f);
    ASSERT_EQ(session_registry_open(path, NULL, &reg), BC_EIO);

    char missing[sizeof dir + 32];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.db", dir);
    ASSERT_EQ(session_registry_open(missing, NULL, &reg), BC_EIO);
    ASSERT_EQ(session_registry_open(dir, NULL, &reg), BC_EIO); /* a directory */
    remove_db(dir, path);
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

static void test_threads(void)
{
    struct session_registry *reg = open_mem(THREADS * SESSIONS_PER_THREAD, 0);
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
    session_registry_close(reg);
}

int main(void)
{
    test_lifecycle();
    test_tokens();
    test_ids();
    test_max_sessions();
    test_listeners();
    test_captions();
    test_persistence();
    test_bad_files();
    test_threads();
    printf("session: all passed\n");
    return 0;
}

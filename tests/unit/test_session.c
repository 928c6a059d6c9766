/* The session registry on SQLite: the shared cases (session_cases.h), then
 * what only this backend promises: listener order, persistence across a
 * reopen, private files, hashed tokens and the migration of clear ones,
 * registry URLs, and broken db files. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session_cases.h"

#define PRIVATE_MODE 0600
#define LEGACY_TOKEN "0123456789abcdef0123456789abcdef"

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

/* Counts come in the order languages first got a listener. */
static void test_listener_order(void)
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
    ASSERT_OK(session_catalog_set(reg, "{\"targets\":[\"es\"]}"));
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
    char *json;
    ASSERT_OK(session_catalog_get(reg, &json));
    ASSERT_STR_EQ(json, "{\"targets\":[\"es\"]}");
    free(json);
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


static void sha256_hex(const char *text, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ASSERT(EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL));
    ASSERT_EQ(len, 32);
    for (unsigned int i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The token column of session id, read with sqlite3 itself, into out. */
static void raw_token(const char *path, const char *id, char *out, size_t size)
{
    sqlite3 *db;
    ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT token FROM sessions WHERE id = ?", -1, &st, NULL),
              SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void assert_mode(const char *path, const char *suffix)
{
    char name[4096];
    snprintf(name, sizeof name, "%s%s", path, suffix);
    struct stat st;
    if (stat(name, &st) != 0)
        TEST_FAIL_("%s does not exist", name);
    if ((st.st_mode & 0777) != PRIVATE_MODE)
        TEST_FAIL_("%s has mode %o, want %o", name, (unsigned)(st.st_mode & 0777),
                   (unsigned)PRIVATE_MODE);
}

/* The database and its -wal and -shm files are readable by the owner only,
 * even under a permissive umask; tokens are stored as their SHA-256. */
static void test_private_files_and_hashed_tokens(void)
{
    char dir[1024];
    make_temp_dir(dir, sizeof dir);
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/babelcast.db", dir);
    mode_t old_umask = umask(022);
    struct session_registry *reg;
    ASSERT_OK(session_registry_open_url(path, NULL, &reg));
    struct session_info info;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    /* While the connection is open in WAL mode all three files exist. */
    assert_mode(path, "");
    assert_mode(path, "-wal");
    assert_mode(path, "-shm");
    umask(old_umask);

    char stored[128], expected[65];
    raw_token(path, info.id, stored, sizeof stored);
    ASSERT(strcmp(stored, token) != 0);
    ASSERT(strstr(stored, token) == NULL);
    sha256_hex(token, expected);
    ASSERT_STR_EQ(stored, expected);
    ASSERT_OK(session_check_token(reg, info.id, token));
    /* The hash itself is not a credential. */
    ASSERT_EQ(session_check_token(reg, info.id, stored), BC_EAUTH);
    session_registry_close(reg);
    remove_db(dir, path);
}

/* A database written before tokens were hashed: its speakers keep their
 * tokens, and after the open no clear token is left in the file. */
static void test_legacy_tokens(void)
{
    char dir[1024];
    make_temp_dir(dir, sizeof dir);
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/old.db", dir);
    sqlite3 *db;
    ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
              SQLITE_OK);
    const char *old_schema =
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE sessions(id TEXT PRIMARY KEY, token TEXT NOT NULL,"
        " source TEXT NOT NULL, targets TEXT NOT NULL, state INTEGER NOT NULL,"
        " created_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL);"
        "CREATE TABLE captions(session TEXT NOT NULL, lang TEXT NOT NULL,"
        " utterance INTEGER NOT NULL, start_ms INTEGER, end_ms INTEGER, text TEXT,"
        " source_text TEXT, PRIMARY KEY(session, lang, utterance));"
        "INSERT INTO sessions VALUES('abcdefghjk', '" LEGACY_TOKEN "', 'en', 'es,ca', 0,"
        " 1700000000000, 0);"
        "INSERT INTO captions VALUES('abcdefghjk', 'es', 0, 0, 900, 'hola', 'hello');";
    ASSERT_EQ(sqlite3_exec(db, old_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct session_registry *reg;
    ASSERT_OK(session_registry_open(path, NULL, &reg));
    ASSERT_OK(session_check_token(reg, "abcdefghjk", LEGACY_TOKEN));
    ASSERT_EQ(session_check_token(reg, "abcdefghjk", "0123456789abcdef0123456789abcdee"),
              BC_EAUTH);
    char stored[128], expected[65];
    raw_token(path, "abcdefghjk", stored, sizeof stored);
    sha256_hex(LEGACY_TOKEN, expected);
    ASSERT_STR_EQ(stored, expected);
    struct session_info got;
    ASSERT_OK(session_get(reg, "abcdefghjk", &got));
    ASSERT_EQ(got.created_ms, 1700000000000);
    ASSERT_EQ(got.active_ms, 1700000000000);
    ASSERT_STR_EQ(got.targets[1], "ca");
    ASSERT_OK(session_touch(reg, "abcdefghjk"));
    ASSERT_OK(session_get(reg, "abcdefghjk", &got));
    ASSERT_GT(got.active_ms, 1700000000000);
    struct transcript *t;
    ASSERT_OK(session_transcript(reg, "abcdefghjk", "es", &t));
    ASSERT_EQ(transcript_count(t), 1);
    ASSERT_STR_EQ(transcript_cue_at(t, 0)->text, "hola");
    transcript_free(t);
    ASSERT_OK(session_end(reg, "abcdefghjk", LEGACY_TOKEN));
    session_registry_close(reg);

    /* Opening again leaves the hashes as they are. */
    ASSERT_OK(session_registry_open(path, NULL, &reg));
    ASSERT_OK(session_check_token(reg, "abcdefghjk", LEGACY_TOKEN));
    session_registry_close(reg);
    raw_token(path, "abcdefghjk", stored, sizeof stored);
    ASSERT_STR_EQ(stored, expected);
    remove_db(dir, path);
}

static void test_urls(void)
{
    char dir[1024];
    make_temp_dir(dir, sizeof dir);
    char path[sizeof dir + 16], url[sizeof path + 16];
    snprintf(path, sizeof path, "%s/url.db", dir);
    snprintf(url, sizeof url, "sqlite://%s", path);
    struct session_registry *reg;
    ASSERT_OK(session_registry_open_url(url, NULL, &reg));
    struct session_info info, got;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    session_registry_close(reg);
    ASSERT_OK(session_registry_open_url(path, NULL, &reg)); /* the same file */
    ASSERT_OK(session_get(reg, info.id, &got));
    session_registry_close(reg);
    ASSERT_OK(session_registry_open_url(NULL, NULL, &reg)); /* private memory */
    ASSERT_EQ(session_get(reg, info.id, &got), BC_ENOTFOUND);
    session_registry_close(reg);

    const char *bad[] = {"", "sqlite://", "ftp://host/x", "redis://", "redis://host:0",
                         "redis://host:99999", NULL};
    for (int i = 0; bad[i]; i++) {
        reg = (struct session_registry *)&reg;
        if (session_registry_open_url(bad[i], NULL, &reg) != BC_EINVAL)
            TEST_FAIL_("accepted '%s'", bad[i]);
        ASSERT(reg == NULL);
    }
    session_registry_close(NULL);
    remove_db(dir, path);
}

/* Retention on SQLite: transcripts of sessions ended before the cutoff
 * are deleted and marked so, once; live and later sessions keep theirs. */
static void test_purge_ended(void)
{
    struct session_registry *reg = open_mem(0, 0);
    struct session_info old, recent, live, got;
    char t1[SESSION_TOKEN_LEN + 1], t2[SESSION_TOKEN_LEN + 1], t3[SESSION_TOKEN_LEN + 1];
    create(reg, &old, t1);
    create(reg, &recent, t2);
    create(reg, &live, t3);
    add_three(reg, old.id);
    add_three(reg, recent.id);
    add_three(reg, live.id);
    ASSERT_OK(session_end(reg, old.id, t1));
    ASSERT_OK(session_get(reg, old.id, &got));
    int64_t cutoff_ms = got.ended_ms + 1;
    bc_sleep_us(5000);
    ASSERT_OK(session_end(reg, recent.id, t2));
    ASSERT_EQ(session_purge_ended(reg, cutoff_ms), 1);
    ASSERT_EQ(session_purge_ended(reg, cutoff_ms), 0);
    ASSERT_OK(session_get(reg, old.id, &got));
    ASSERT_EQ(got.transcript_deleted, 1);
    struct transcript *t;
    ASSERT_OK(session_transcript(reg, old.id, "es", &t));
    ASSERT_EQ(transcript_count(t), 0);
    transcript_free(t);
    ASSERT_OK(session_get(reg, recent.id, &got));
    ASSERT_EQ(got.transcript_deleted, 0);
    check_three(reg, recent.id);
    check_three(reg, live.id);
    session_registry_close(reg);
}

int main(void)
{
    session_cases_open = open_mem;
    session_cases_run();
    test_listener_order();
    test_persistence();
    test_private_files_and_hashed_tokens();
    test_legacy_tokens();
    test_purge_ended();
    test_urls();
    test_bad_files();
    printf("session: all passed\n");
    return 0;
}

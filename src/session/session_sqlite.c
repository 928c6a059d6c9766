/* The SQLite registry backend: one process, sessions and captions in one
 * database file (or memory), listener counts in memory. */
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session/session_backend.h"
#include "session/session_sqlite_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define SQ_BUSY_TIMEOUT_MS 5000
/* Only the server reads sessions and tokens; SQLite gives the -wal and -shm
 * files the database file's mode. */
#define SQ_FILE_MODE 0600

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY, token TEXT NOT NULL,"
    " source TEXT NOT NULL, targets TEXT NOT NULL, state INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL,"
    " active_ms INTEGER NOT NULL DEFAULT 0, transcript_deleted INTEGER NOT NULL DEFAULT 0,"
    " listener_key TEXT NOT NULL DEFAULT '', mode INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS captions(session TEXT NOT NULL, lang TEXT NOT NULL,"
    " utterance INTEGER NOT NULL, start_ms INTEGER, end_ms INTEGER, text TEXT,"
    " source_text TEXT, PRIMARY KEY(session, lang, utterance));"
    "CREATE TABLE IF NOT EXISTS catalog(k INTEGER PRIMARY KEY CHECK(k = 0),"
    " json TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS glossaries(session TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    " json TEXT NOT NULL);";

static const char *const stmt_sql[ST_COUNT] = {
    [ST_INSERT] = "INSERT INTO sessions(id, token, source, targets, state, created_ms, ended_ms,"
                  " listener_key) VALUES(?, ?, ?, ?, 0, ?, 0, ?)",
    [ST_GET] = "SELECT source, targets, state, created_ms, ended_ms, max(created_ms, active_ms),"
               " transcript_deleted, listener_key <> '', mode FROM sessions WHERE id = ?",
    [ST_TOKEN] = "SELECT token FROM sessions WHERE id = ?",
    [ST_KEY] = "SELECT listener_key FROM sessions WHERE id = ?",
    [ST_COUNT_LIVE] = "SELECT COUNT(*) FROM sessions WHERE state = 0",
    [ST_END] = "UPDATE sessions SET state = 1, ended_ms = ? WHERE id = ? AND state = 0",
    [ST_TOUCH] = "UPDATE sessions SET active_ms = ? WHERE id = ? AND state = 0",
    [ST_SET_MODE] = "UPDATE sessions SET mode = ? WHERE id = ? AND state = 0",
    [ST_LIST_LIVE] = "SELECT id FROM sessions WHERE state = 0 ORDER BY created_ms, id LIMIT ?",
    [ST_ADD_CAPTION] = "INSERT OR IGNORE INTO captions(session, lang, utterance, start_ms, end_ms,"
                       " text, source_text) VALUES(?, ?, ?, ?, ?, ?, ?)",
    [ST_RECENT] = "SELECT * FROM (SELECT utterance, start_ms, end_ms, text, source_text"
                  " FROM captions WHERE session = ? AND lang = ? ORDER BY utterance DESC"
                  " LIMIT ?) ORDER BY utterance",
    [ST_CATALOG_SET] = "INSERT OR REPLACE INTO catalog(k, json) VALUES(0, ?)",
    [ST_CATALOG_GET] = "SELECT json FROM catalog WHERE k = 0",
    [ST_GLOSSARY_SET] = "INSERT INTO glossaries(session, version, json) VALUES(?1, 1, ?2)"
                        " ON CONFLICT(session) DO UPDATE SET version = version + 1,"
                        " json = excluded.json RETURNING version",
    [ST_GLOSSARY_GET] = "SELECT version, CASE WHEN version <> ?2 THEN json END FROM glossaries"
                        " WHERE session = ?1",
};

int sq_db_fail(struct session_sqlite *s, const char *what)
{
    bc_error("session: %s: %s", what, sqlite3_errmsg(s->db));
    return sqlite3_errcode(s->db) == SQLITE_FULL ? BC_ENOSPC : BC_EIO;
}

void sq_stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void sq_close(void *impl)
{
    struct session_sqlite *s = impl;
    if (!s)
        return;
    for (size_t i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    if (s->db)
        sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s->listeners);
    free(s->rooms);
    free(s->shedding);
    free(s);
}

/* SQLite would create the file with the umask's mode (usually 0644). A
 * failure here is left for sqlite3_open_v2 to report. */
static void create_private_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, SQ_FILE_MODE);
    if (fd >= 0)
        close(fd);
}

static const struct session_ops sq_ops;

int session_sqlite_open(const char *db_path, const struct session_limits *limits,
                        const struct session_ops **ops, void **impl)
{
    struct session_sqlite *s = bc_calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->limits = *limits;

    const char *path = db_path ? db_path : ":memory:";
    if (db_path)
        create_private_file(db_path);
    /* Our mutex serializes every use of the connection. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        if (!s->db) {
            bc_error("session: cannot open %s: out of memory", path);
            goto fail;
        }
        bc_error("session: cannot open %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, SQ_BUSY_TIMEOUT_MS);
    /* WAL lets readers (sqlite3 shell, backups) run beside the server;
     * NORMAL is durable across process crashes, which is what replay needs. */
    const char *pragmas = db_path ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" : "";
    char *errmsg = NULL;
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, &errmsg) != SQLITE_OK ||
        sqlite3_exec(s->db, schema_sql, NULL, NULL, &errmsg) != SQLITE_OK) {
        bc_error("session: cannot set up %s: %s", path, errmsg ? errmsg : sqlite3_errmsg(s->db));
        sqlite3_free(errmsg);
        goto fail;
    }
    if (sq_migrate_columns(s) < 0 || sq_migrate_tokens(s) < 0)
        goto fail;
    for (size_t i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            sq_db_fail(s, "prepare");
            goto fail;
        }
    }
    *ops = &sq_ops;
    *impl = s;
    return 0;
fail:
    sq_close(s);
    return BC_EIO;
}

/* Caller holds the lock. Runs the statement that reads session id's row:
 * 1 with the row ready in *st, BC_ENOTFOUND or BC_EIO. The caller then
 * calls sq_stmt_done(*st). */
static int lookup_locked(struct session_sqlite *s, enum sq_stmt_id which, const char *id,
                         const char *what, sqlite3_stmt **st)
{
    *st = s->stmt[which];
    sqlite3_bind_text(*st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(*st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? BC_ENOTFOUND : sq_db_fail(s, what);
}

/* Caller holds the lock. */
static int get_locked(struct session_sqlite *s, const char *id, struct session_info *info)
{
    sqlite3_stmt *st;
    int rc = lookup_locked(s, ST_GET, id, "get session", &st);
    if (rc == 1) {
        memset(info, 0, sizeof *info);
        snprintf(info->id, sizeof info->id, "%s", id);
        const char *source = (const char *)sqlite3_column_text(st, 0);
        snprintf(info->source, sizeof info->source, "%s", source ? source : "");
        session_parse_targets((const char *)sqlite3_column_text(st, 1), info);
        info->state = sqlite3_column_int(st, 2) ? SESSION_ENDED : SESSION_LIVE;
        info->created_ms = sqlite3_column_int64(st, 3);
        info->ended_ms = sqlite3_column_int64(st, 4);
        info->active_ms = sqlite3_column_int64(st, 5);
        info->transcript_deleted = sqlite3_column_int(st, 6) != 0;
        info->is_private = sqlite3_column_int(st, 7) != 0;
        info->mode = sqlite3_column_int(st, 8) == SESSION_MODE_SIMULTANEOUS
                         ? SESSION_MODE_SIMULTANEOUS
                         : SESSION_MODE_SENTENCE;
        rc = 0;
    }
    sq_stmt_done(st);
    return rc;
}

int sq_lock_session(struct session_sqlite *s, const char *id, struct session_info *info)
{
    pthread_mutex_lock(&s->lock);
    int rc = get_locked(s, id, info);
    if (rc < 0)
        pthread_mutex_unlock(&s->lock);
    return rc;
}

int sq_lock_live_session(struct session_sqlite *s, const char *id)
{
    struct session_info info;
    int rc = sq_lock_session(s, id, &info);
    if (rc >= 0 && info.state != SESSION_LIVE) {
        pthread_mutex_unlock(&s->lock);
        rc = BC_ESTATE;
    }
    return rc;
}

static int count_live_locked(struct session_sqlite *s, int *count)
{
    sqlite3_stmt *st = s->stmt[ST_COUNT_LIVE];
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int(st, 0);
        rc = 0;
    } else {
        rc = sq_db_fail(s, "count live sessions");
    }
    sq_stmt_done(st);
    return rc;
}

static int sq_create(void *impl, const struct session_new *n)
{
    struct session_sqlite *s = impl;
    pthread_mutex_lock(&s->lock);
    int live = 0;
    int rc = count_live_locked(s, &live);
    if (rc < 0)
        goto out;
    if (live >= s->limits.max_sessions) {
        rc = BC_ELIMIT;
        goto out;
    }
    sqlite3_stmt *st = s->stmt[ST_INSERT];
    sqlite3_bind_text(st, 1, n->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, n->token_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, n->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, n->targets, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, n->created_ms);
    sqlite3_bind_text(st, 6, n->key_hash, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(s->db);
    sq_stmt_done(st);
    if (step == SQLITE_DONE)
        rc = 0;
    else if (ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        rc = SESSION_ID_TAKEN;
    else
        rc = sq_db_fail(s, "insert session");
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sq_get(void *impl, const char *id, struct session_info *info)
{
    struct session_sqlite *s = impl;
    int rc = sq_lock_session(s, id, info);
    if (rc == 0)
        pthread_mutex_unlock(&s->lock);
    return rc;
}

static int read_hash(struct session_sqlite *s, enum sq_stmt_id which, const char *id,
                     char hash[SESSION_TOKEN_HASH_LEN + 1])
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    int rc = lookup_locked(s, which, id, "read token", &st);
    if (rc == 1) {
        const char *col = (const char *)sqlite3_column_text(st, 0);
        snprintf(hash, SESSION_TOKEN_HASH_LEN + 1, "%s", col ? col : "");
        rc = 0;
    }
    sq_stmt_done(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Runs the update of a live session's row (ST_END, ST_TOUCH, ST_SET_MODE): 0 when it
 * changed, else BC_ESTATE (ended), BC_ENOTFOUND or BC_EIO. */
static int sq_token_hash(void *impl, const char *id, char hash[SESSION_TOKEN_HASH_LEN + 1])
{
    return read_hash(impl, ST_TOKEN, id, hash);
}

static int sq_key_hash(void *impl, const char *id, char hash[SESSION_TOKEN_HASH_LEN + 1])
{
    return read_hash(impl, ST_KEY, id, hash);
}

static int update_live(struct session_sqlite *s, enum sq_stmt_id which, const char *id,
                       int64_t ms)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = s->stmt[which];
    sqlite3_bind_int64(st, 1, ms);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sq_stmt_done(st);
    if (rc != SQLITE_DONE) {
        rc = sq_db_fail(s, which == ST_END ? "end session" : "update session");
    } else if (sqlite3_changes(s->db) == 1) {
        rc = 0;
    } else {
        /* Nothing updated: either ended already or unknown. */
        struct session_info info;
        rc = get_locked(s, id, &info);
        if (rc == 0)
            rc = BC_ESTATE;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sq_end(void *impl, const char *id, int64_t ended_ms)
{
    return update_live(impl, ST_END, id, ended_ms);
}

static int sq_touch(void *impl, const char *id, int64_t now_ms)
{
    return update_live(impl, ST_TOUCH, id, now_ms);
}

static int sq_set_mode(void *impl, const char *id, enum session_mode mode)
{
    return update_live(impl, ST_SET_MODE, id, (int64_t)mode);
}

static size_t sq_list_live(void *impl, char (*ids)[SESSION_ID_LEN + 1], size_t max)
{
    struct session_sqlite *s = impl;
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = s->stmt[ST_LIST_LIVE];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    int rc = SQLITE_DONE;
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (session_valid_id(id))
            memcpy(ids[n++], id, SESSION_ID_LEN + 1);
    }
    if (n < max && rc != SQLITE_DONE)
        sq_db_fail(s, "list live sessions");
    sq_stmt_done(st);
    pthread_mutex_unlock(&s->lock);
    return n;
}

static struct sq_listener_count *listener_find(struct session_sqlite *s, const char *id,
                                               const char *lang)
{
    for (size_t i = 0; i < s->n_listeners; i++)
        if (!strcmp(s->listeners[i].id, id) && !strcmp(s->listeners[i].lang, lang))
            return &s->listeners[i];
    return NULL;
}

static int sq_listener_join(void *impl, const char *id, const char *lang)
{
    struct session_sqlite *s = impl;
    int rc = sq_lock_live_session(s, id);
    if (rc < 0)
        return rc;
    int total = 0;
    for (size_t i = 0; i < s->n_listeners; i++)
        if (!strcmp(s->listeners[i].id, id))
            total += s->listeners[i].count;
    if (total >= s->limits.max_listeners_per_session) {
        rc = BC_ELIMIT;
        goto out;
    }
    struct sq_listener_count *entry = listener_find(s, id, lang);
    if (!entry) {
        if (s->n_listeners == s->cap_listeners) {
            s->cap_listeners = s->cap_listeners ? s->cap_listeners * 2 : SESSION_TARGETS_MAX;
            s->listeners = bc_realloc(s->listeners, s->cap_listeners * sizeof *s->listeners);
        }
        entry = &s->listeners[s->n_listeners++];
        memset(entry, 0, sizeof *entry);
        memcpy(entry->id, id, SESSION_ID_LEN + 1);
        snprintf(entry->lang, sizeof entry->lang, "%s", lang);
    }
    entry->count++;
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void sq_listener_leave(void *impl, const char *id, const char *lang)
{
    struct session_sqlite *s = impl;
    pthread_mutex_lock(&s->lock);
    struct sq_listener_count *entry = listener_find(s, id, lang);
    if (entry && --entry->count == 0) {
        /* Shift rather than swap so counts keep the order languages first appeared. */
        size_t index = (size_t)(entry - s->listeners);
        memmove(entry, entry + 1, (s->n_listeners - index - 1) * sizeof *entry);
        s->n_listeners--;
    }
    pthread_mutex_unlock(&s->lock);
}

static size_t sq_listener_counts(void *impl, const char *id, char (*langs)[SESSION_LANG_LEN],
                                 int *counts, size_t max)
{
    struct session_sqlite *s = impl;
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n_listeners && n < max; i++) {
        if (strcmp(s->listeners[i].id, id))
            continue;
        memcpy(langs[n], s->listeners[i].lang, SESSION_LANG_LEN);
        counts[n++] = s->listeners[i].count;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

static int sq_catalog_set(void *impl, const char *json)
{
    struct session_sqlite *s = impl;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = s->stmt[ST_CATALOG_SET];
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sq_db_fail(s, "store catalog");
    sq_stmt_done(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int sq_catalog_get(void *impl, char **json)
{
    struct session_sqlite *s = impl;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = s->stmt[ST_CATALOG_GET];
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        *json = bc_strdup(text ? text : "");
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? BC_ENOTFOUND : sq_db_fail(s, "read catalog");
    }
    sq_stmt_done(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static const struct session_ops sq_ops = {
    .name = "sqlite",
    .create = sq_create,
    .get = sq_get,
    .token_hash = sq_token_hash,
    .key_hash = sq_key_hash,
    .set_mode = sq_set_mode,
    .end = sq_end,
    .touch = sq_touch,
    .list_live = sq_list_live,
    .listener_join = sq_listener_join,
    .listener_leave = sq_listener_leave,
    .listener_counts = sq_listener_counts,
    .add_caption = sq_add_caption,
    .read_captions = sq_read_captions,
    .delete_transcript = sq_delete_transcript,
    .purge_ended = sq_purge_ended,
    .catalog_set = sq_catalog_set,
    .catalog_get = sq_catalog_get,
    .glossary_set = sq_glossary_set,
    .glossary_get = sq_glossary_get,
    .room_set = sq_room_set,
    .room_clear = sq_room_clear,
    .room_get = sq_room_get,
    .shedding_set = sq_shedding_set,
    .shedding_get = sq_shedding_get,
    .close = sq_close,
};

#include "session/session.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "session/session_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SESSION_DEFAULT_MAX_SESSIONS 64
#define SESSION_DEFAULT_MAX_LISTENERS 500
#define SESSION_BUSY_TIMEOUT_MS 5000
#define SESSION_ID_ATTEMPTS 8
#define SESSION_TOKEN_BYTES (SESSION_TOKEN_LEN / 2)
#define SESSION_TARGETS_TEXT_MAX (SESSION_TARGETS_MAX * SESSION_LANG_LEN)

/* No 0/o, 1/l/i: ids are read out loud and typed from screens. */
static const char id_alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";
#define ID_ALPHABET_LEN (sizeof id_alphabet - 1)
/* Bytes at or above this are rejected so every letter is equally likely. */
#define ID_BYTE_LIMIT (256 - 256 % ID_ALPHABET_LEN)

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY, token TEXT NOT NULL,"
    " source TEXT NOT NULL, targets TEXT NOT NULL, state INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS captions(session TEXT NOT NULL, lang TEXT NOT NULL,"
    " utterance INTEGER NOT NULL, start_ms INTEGER, end_ms INTEGER, text TEXT,"
    " source_text TEXT, PRIMARY KEY(session, lang, utterance));";

static const char *const stmt_sql[ST_COUNT] = {
    [ST_INSERT] = "INSERT INTO sessions(id, token, source, targets, state, created_ms, ended_ms)"
                  " VALUES(?, ?, ?, ?, 0, ?, 0)",
    [ST_GET] = "SELECT source, targets, state, created_ms, ended_ms FROM sessions WHERE id = ?",
    [ST_TOKEN] = "SELECT token FROM sessions WHERE id = ?",
    [ST_COUNT_LIVE] = "SELECT COUNT(*) FROM sessions WHERE state = 0",
    [ST_END] = "UPDATE sessions SET state = 1, ended_ms = ? WHERE id = ? AND state = 0",
    [ST_LIST_LIVE] = "SELECT id FROM sessions WHERE state = 0 ORDER BY created_ms, id LIMIT ?",
    [ST_ADD_CAPTION] = "INSERT OR IGNORE INTO captions(session, lang, utterance, start_ms, end_ms,"
                       " text, source_text) VALUES(?, ?, ?, ?, ?, ?, ?)",
    [ST_RECENT] = "SELECT * FROM (SELECT utterance, start_ms, end_ms, text, source_text"
                  " FROM captions WHERE session = ? AND lang = ? ORDER BY utterance DESC"
                  " LIMIT ?) ORDER BY utterance",
};

void session_default_limits(struct session_limits *limits)
{
    limits->max_sessions = SESSION_DEFAULT_MAX_SESSIONS;
    limits->max_listeners_per_session = SESSION_DEFAULT_MAX_LISTENERS;
}

int reg_db_fail(struct session_registry *reg, const char *what)
{
    bc_error("session: %s: %s", what, sqlite3_errmsg(reg->db));
    return BC_EIO;
}

void reg_stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void session_registry_close(struct session_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(reg->stmt[i]);
    if (reg->db)
        sqlite3_close(reg->db);
    pthread_mutex_destroy(&reg->lock);
    free(reg->listeners);
    free(reg);
}

int session_registry_open(const char *db_path, const struct session_limits *limits,
                          struct session_registry **out)
{
    *out = NULL;
    struct session_registry *reg = bc_calloc(1, sizeof *reg);
    pthread_mutex_init(&reg->lock, NULL);
    if (limits)
        reg->limits = *limits;
    else
        session_default_limits(&reg->limits);

    const char *path = db_path ? db_path : ":memory:";
    /* Our mutex serializes every use of the connection. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &reg->db, flags, NULL) != SQLITE_OK) {
        if (!reg->db) {
            bc_error("session: cannot open %s: out of memory", path);
            goto fail;
        }
        bc_error("session: cannot open %s: %s", path, sqlite3_errmsg(reg->db));
        goto fail;
    }
    sqlite3_busy_timeout(reg->db, SESSION_BUSY_TIMEOUT_MS);
    /* WAL lets readers (sqlite3 shell, backups) run beside the server;
     * NORMAL is durable across process crashes, which is what replay needs. */
    const char *pragmas = db_path ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" : "";
    char *errmsg = NULL;
    if (sqlite3_exec(reg->db, pragmas, NULL, NULL, &errmsg) != SQLITE_OK ||
        sqlite3_exec(reg->db, schema_sql, NULL, NULL, &errmsg) != SQLITE_OK) {
        bc_error("session: cannot set up %s: %s", path,
                 errmsg ? errmsg : sqlite3_errmsg(reg->db));
        sqlite3_free(errmsg);
        goto fail;
    }
    for (size_t i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(reg->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &reg->stmt[i], NULL) != SQLITE_OK) {
            reg_db_fail(reg, "prepare");
            goto fail;
        }
    }
    *out = reg;
    return 0;
fail:
    session_registry_close(reg);
    return BC_EIO;
}

static int fill_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bc_error("session: getrandom: %s", strerror(errno));
            return BC_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int make_id(char id[SESSION_ID_LEN + 1])
{
    size_t filled = 0;
    while (filled < SESSION_ID_LEN) {
        unsigned char bytes[SESSION_ID_LEN * 2];
        if (fill_random(bytes, sizeof bytes) < 0)
            return BC_EIO;
        for (size_t i = 0; i < sizeof bytes && filled < SESSION_ID_LEN; i++)
            if (bytes[i] < ID_BYTE_LIMIT)
                id[filled++] = id_alphabet[bytes[i] % ID_ALPHABET_LEN];
    }
    id[SESSION_ID_LEN] = '\0';
    return 0;
}

static int make_token(char token[SESSION_TOKEN_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[SESSION_TOKEN_BYTES];
    if (fill_random(bytes, sizeof bytes) < 0)
        return BC_EIO;
    for (size_t i = 0; i < sizeof bytes; i++) {
        token[2 * i] = hex[bytes[i] >> 4];
        token[2 * i + 1] = hex[bytes[i] & 0xf];
    }
    token[SESSION_TOKEN_LEN] = '\0';
    return 0;
}

int reg_valid_lang(const char *code)
{
    /* Targets are stored comma-separated, so a comma would split a code. */
    return code && code[0] && strlen(code) < SESSION_LANG_LEN && !strchr(code, ',');
}

static int valid_id(const char *id)
{
    return id && strlen(id) == SESSION_ID_LEN;
}

static void parse_targets(const char *text, struct session_info *info)
{
    info->n_targets = 0;
    while (text && *text && info->n_targets < SESSION_TARGETS_MAX) {
        size_t len = strcspn(text, ",");
        if (len > 0 && len < SESSION_LANG_LEN) {
            memcpy(info->targets[info->n_targets], text, len);
            info->targets[info->n_targets++][len] = '\0';
        }
        text += len + (text[len] == ',');
    }
}

/* Caller holds the lock. Runs the statement that reads session id's row:
 * 1 with the row ready in *st, BC_ENOTFOUND or BC_EIO. The caller then
 * calls reg_stmt_done(*st). */
static int lookup_locked(struct session_registry *reg, enum stmt_id which, const char *id,
                         const char *what, sqlite3_stmt **st)
{
    *st = reg->stmt[which];
    sqlite3_bind_text(*st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(*st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? BC_ENOTFOUND : reg_db_fail(reg, what);
}

/* Caller holds the lock. */
static int get_locked(struct session_registry *reg, const char *id, struct session_info *info)
{
    sqlite3_stmt *st;
    int rc = lookup_locked(reg, ST_GET, id, "get session", &st);
    if (rc == 1) {
        memset(info, 0, sizeof *info);
        snprintf(info->id, sizeof info->id, "%s", id);
        const char *source = (const char *)sqlite3_column_text(st, 0);
        snprintf(info->source, sizeof info->source, "%s", source ? source : "");
        parse_targets((const char *)sqlite3_column_text(st, 1), info);
        info->state = sqlite3_column_int(st, 2) ? SESSION_ENDED : SESSION_LIVE;
        info->created_ms = sqlite3_column_int64(st, 3);
        info->ended_ms = sqlite3_column_int64(st, 4);
        rc = 0;
    }
    reg_stmt_done(st);
    return rc;
}

static int count_live_locked(struct session_registry *reg, int *count)
{
    sqlite3_stmt *st = reg->stmt[ST_COUNT_LIVE];
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int(st, 0);
        rc = 0;
    } else {
        rc = reg_db_fail(reg, "count live sessions");
    }
    reg_stmt_done(st);
    return rc;
}

int reg_lock_session(struct session_registry *reg, const char *id, int args_ok,
                        struct session_info *info)
{
    if (!valid_id(id))
        return BC_ENOTFOUND;
    if (!args_ok)
        return BC_EINVAL;
    pthread_mutex_lock(&reg->lock);
    int rc = get_locked(reg, id, info);
    if (rc < 0)
        pthread_mutex_unlock(&reg->lock);
    return rc;
}

int session_create(struct session_registry *reg, const char *source, const char *const *targets,
                   size_t n_targets, struct session_info *info, char token[SESSION_TOKEN_LEN + 1])
{
    if (!reg_valid_lang(source) || n_targets > SESSION_TARGETS_MAX || (n_targets && !targets))
        return BC_EINVAL;
    char joined[SESSION_TARGETS_TEXT_MAX] = "";
    size_t used = 0;
    for (size_t i = 0; i < n_targets; i++) {
        if (!reg_valid_lang(targets[i]))
            return BC_EINVAL;
        used += (size_t)snprintf(joined + used, sizeof joined - used, "%s%s", i ? "," : "",
                                 targets[i]);
    }
    char id[SESSION_ID_LEN + 1];
    if (make_token(token) < 0)
        return BC_EIO;
    int64_t now_ms = bc_wall_ms();

    pthread_mutex_lock(&reg->lock);
    int live = 0;
    int rc = count_live_locked(reg, &live);
    if (rc < 0)
        goto out;
    if (live >= reg->limits.max_sessions) {
        rc = BC_ELIMIT;
        goto out;
    }
    sqlite3_stmt *st = reg->stmt[ST_INSERT];
    rc = BC_EIO;
    for (int attempt = 0; attempt < SESSION_ID_ATTEMPTS; attempt++) {
        if (make_id(id) < 0)
            break;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, token, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, joined, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now_ms);
        int step = sqlite3_step(st);
        int ext = sqlite3_extended_errcode(reg->db);
        reg_stmt_done(st);
        if (step == SQLITE_DONE) {
            rc = get_locked(reg, id, info);
            break;
        }
        if (ext != SQLITE_CONSTRAINT_PRIMARYKEY) {
            reg_db_fail(reg, "insert session");
            break;
        }
        bc_warn("session: id collision on %s, drawing another", id);
    }
out:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int session_get(struct session_registry *reg, const char *id, struct session_info *info)
{
    int rc = reg_lock_session(reg, id, 1, info);
    if (rc == 0)
        pthread_mutex_unlock(&reg->lock);
    return rc;
}

/* Runs through every byte whatever the input, so the time taken does not
 * tell an attacker how much of a guess was right. */
static int token_equal(const char *stored, const char *given)
{
    size_t given_len = strnlen(given, SESSION_TOKEN_LEN + 1);
    volatile unsigned char diff = (unsigned char)(given_len != SESSION_TOKEN_LEN);
    for (size_t i = 0; i < SESSION_TOKEN_LEN; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)stored[i]);
    }
    return diff == 0;
}

/* Caller holds the lock. */
static int check_token_locked(struct session_registry *reg, const char *id, const char *token)
{
    sqlite3_stmt *st;
    int rc = lookup_locked(reg, ST_TOKEN, id, "read token", &st);
    if (rc == 1) {
        char stored[SESSION_TOKEN_LEN + 1] = "";
        const char *col = (const char *)sqlite3_column_text(st, 0);
        if (col && strlen(col) == SESSION_TOKEN_LEN)
            memcpy(stored, col, SESSION_TOKEN_LEN);
        rc = stored[0] && token && token[0] && token_equal(stored, token) ? 0 : BC_EAUTH;
    }
    reg_stmt_done(st);
    return rc;
}

int session_check_token(struct session_registry *reg, const char *id, const char *token)
{
    if (!valid_id(id))
        return BC_ENOTFOUND;
    pthread_mutex_lock(&reg->lock);
    int rc = check_token_locked(reg, id, token);
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int session_end(struct session_registry *reg, const char *id, const char *token)
{
    if (!valid_id(id))
        return BC_ENOTFOUND;
    pthread_mutex_lock(&reg->lock);
    /* No token: the server itself ends the session. */
    int rc = token ? check_token_locked(reg, id, token) : 0;
    if (rc < 0)
        goto out;
    sqlite3_stmt *st = reg->stmt[ST_END];
    sqlite3_bind_int64(st, 1, bc_wall_ms());
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    reg_stmt_done(st);
    if (rc != SQLITE_DONE) {
        rc = reg_db_fail(reg, "end session");
    } else if (sqlite3_changes(reg->db) == 1) {
        rc = 0;
    } else {
        /* Nothing updated: either ended already or unknown. */
        struct session_info info;
        rc = get_locked(reg, id, &info);
        if (rc == 0)
            rc = BC_ESTATE;
    }
out:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

size_t session_list_live(struct session_registry *reg, char (*ids)[SESSION_ID_LEN + 1], size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&reg->lock);
    sqlite3_stmt *st = reg->stmt[ST_LIST_LIVE];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    int rc = SQLITE_DONE;
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (valid_id(id))
            memcpy(ids[n++], id, SESSION_ID_LEN + 1);
    }
    if (n < max && rc != SQLITE_DONE)
        reg_db_fail(reg, "list live sessions");
    reg_stmt_done(st);
    pthread_mutex_unlock(&reg->lock);
    return n;
}

static struct listener_count *listener_find(struct session_registry *reg, const char *id,
                                            const char *lang)
{
    for (size_t i = 0; i < reg->n_listeners; i++)
        if (!strcmp(reg->listeners[i].id, id) && !strcmp(reg->listeners[i].lang, lang))
            return &reg->listeners[i];
    return NULL;
}

int session_listener_join(struct session_registry *reg, const char *id, const char *lang)
{
    struct session_info info;
    int rc = reg_lock_session(reg, id, reg_valid_lang(lang), &info);
    if (rc < 0)
        return rc;
    if (info.state != SESSION_LIVE) {
        rc = BC_ESTATE;
        goto out;
    }
    int total = 0;
    for (size_t i = 0; i < reg->n_listeners; i++)
        if (!strcmp(reg->listeners[i].id, id))
            total += reg->listeners[i].count;
    if (total >= reg->limits.max_listeners_per_session) {
        rc = BC_ELIMIT;
        goto out;
    }
    struct listener_count *entry = listener_find(reg, id, lang);
    if (!entry) {
        if (reg->n_listeners == reg->cap_listeners) {
            reg->cap_listeners = reg->cap_listeners ? reg->cap_listeners * 2 : SESSION_TARGETS_MAX;
            reg->listeners =
                bc_realloc(reg->listeners, reg->cap_listeners * sizeof *reg->listeners);
        }
        entry = &reg->listeners[reg->n_listeners++];
        memset(entry, 0, sizeof *entry);
        memcpy(entry->id, id, SESSION_ID_LEN + 1);
        snprintf(entry->lang, sizeof entry->lang, "%s", lang);
    }
    entry->count++;
out:
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

void session_listener_leave(struct session_registry *reg, const char *id, const char *lang)
{
    if (!id || !lang)
        return;
    pthread_mutex_lock(&reg->lock);
    struct listener_count *entry = listener_find(reg, id, lang);
    if (entry && --entry->count == 0) {
        /* Shift rather than swap so counts keep the order languages first appeared. */
        size_t index = (size_t)(entry - reg->listeners);
        memmove(entry, entry + 1, (reg->n_listeners - index - 1) * sizeof *entry);
        reg->n_listeners--;
    }
    pthread_mutex_unlock(&reg->lock);
}

size_t session_listener_counts(struct session_registry *reg, const char *id,
                               char (*langs)[SESSION_LANG_LEN], int *counts, size_t max)
{
    size_t n = 0;
    if (!id)
        return 0;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->n_listeners && n < max; i++) {
        if (strcmp(reg->listeners[i].id, id))
            continue;
        memcpy(langs[n], reg->listeners[i].lang, SESSION_LANG_LEN);
        counts[n++] = reg->listeners[i].count;
    }
    pthread_mutex_unlock(&reg->lock);
    return n;
}

size_t session_languages(struct session_registry *reg, const struct session_info *info,
                         char (*langs)[SESSION_LANG_LEN], size_t max)
{
    size_t n = 0;
    int counts[SESSION_TARGETS_MAX];
    char listened[SESSION_TARGETS_MAX][SESSION_LANG_LEN];
    size_t n_listened =
        session_listener_counts(reg, info->id, listened, counts, SESSION_TARGETS_MAX);
    for (size_t i = 0; i < info->n_targets + n_listened && n < max; i++) {
        const char *lang = i < info->n_targets ? info->targets[i] : listened[i - info->n_targets];
        int seen = 0;
        for (size_t j = 0; j < n; j++)
            seen |= strcmp(langs[j], lang) == 0;
        if (!seen)
            snprintf(langs[n++], SESSION_LANG_LEN, "%s", lang);
    }
    return n;
}

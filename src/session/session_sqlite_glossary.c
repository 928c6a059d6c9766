/* The SQLite backend's glossaries: one row per session that has one. */
#include <stdlib.h>

#include "session/session_sqlite_internal.h"
#include "util/alloc.h"
#include "util/err.h"

int sq_glossary_set(void *impl, const char *id, const char *json, uint64_t *version)
{
    struct session_sqlite *s = impl;
    int rc = sq_lock_live_session(s, id);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = s->stmt[ST_GLOSSARY_SET];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = (uint64_t)sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sq_db_fail(s, "set glossary");
    } else {
        rc = sq_db_fail(s, "set glossary");
    }
    sq_stmt_done(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int sq_glossary_get(void *impl, const char *id, uint64_t known_version, char **json,
                    uint64_t *version)
{
    struct session_sqlite *s = impl;
    struct session_info info;
    int rc = sq_lock_session(s, id, &info);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = s->stmt[ST_GLOSSARY_GET];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)known_version);
    *version = 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = (uint64_t)sqlite3_column_int64(st, 0);
        const char *text = (const char *)sqlite3_column_text(st, 1);
        if (text)
            *json = bc_strdup(text);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? 0 : sq_db_fail(s, "get glossary");
    }
    sq_stmt_done(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

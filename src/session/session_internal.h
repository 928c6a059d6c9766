/* Shared by the session registry's files (session.c: sessions, tokens,
 * listener counts; session_captions.c: the captions table); not part of its
 * interface. */
#ifndef BC_SESSION_INTERNAL_H
#define BC_SESSION_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>

#include "session/session.h"

enum stmt_id {
    ST_INSERT,
    ST_GET,
    ST_TOKEN,
    ST_COUNT_LIVE,
    ST_END,
    ST_LIST_LIVE,
    ST_ADD_CAPTION,
    ST_RECENT,
    ST_COUNT
};

struct listener_count {
    char id[SESSION_ID_LEN + 1];
    char lang[SESSION_LANG_LEN];
    int count;
};

struct session_registry {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    pthread_mutex_t lock;
    struct session_limits limits;
    struct listener_count *listeners; /* only entries with count > 0 */
    size_t n_listeners, cap_listeners;
};

/* Logs the connection's last error; returns BC_EIO. */
int reg_db_fail(struct session_registry *reg, const char *what);
/* Statements are reused: clear them for the next caller. */
void reg_stmt_done(sqlite3_stmt *st);
/* A language code that can be stored. */
int reg_valid_lang(const char *code);
/* The start of every call on one session: BC_ENOTFOUND for a malformed id,
 * BC_EINVAL unless args_ok (the caller's check of its other arguments), then
 * the lock and the session's row in *info (BC_ENOTFOUND when there is none).
 * Returns 0 holding reg->lock, or an error without it. */
int reg_lock_session(struct session_registry *reg, const char *id, int args_ok,
                     struct session_info *info);

#endif

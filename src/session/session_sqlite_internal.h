/* Shared by the SQLite backend's files (session_sqlite.c: sessions, tokens,
 * listener counts, catalog; session_sqlite_captions.c: the captions table);
 * not part of its interface. */
#ifndef BC_SESSION_SQLITE_INTERNAL_H
#define BC_SESSION_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

enum sq_stmt_id {
    ST_INSERT,
    ST_GET,
    ST_TOKEN,
    ST_KEY,
    ST_COUNT_LIVE,
    ST_END,
    ST_TOUCH,
    ST_SET_MODE,
    ST_LIST_LIVE,
    ST_ADD_CAPTION,
    ST_RECENT,
    ST_CATALOG_SET,
    ST_CATALOG_GET,
    ST_GLOSSARY_SET,
    ST_GLOSSARY_GET,
    ST_COUNT
};

struct sq_listener_count {
    char id[SESSION_ID_LEN + 1];
    char lang[SESSION_LANG_LEN];
    int count;
};

/* Capacity state lives in memory, like listener counts: one process. */
struct sq_room {
    char worker[SESSION_WORKER_NAME_MAX];
    int free_slots;
    int64_t expires_ms;
};

struct sq_shedding {
    char id[SESSION_ID_LEN + 1];
    enum session_shedding level; /* never SESSION_SHED_NONE: those are removed */
};

struct session_sqlite {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    pthread_mutex_t lock;
    struct session_limits limits;
    struct sq_listener_count *listeners; /* only entries with count > 0 */
    size_t n_listeners, cap_listeners;
    struct sq_room *rooms;
    size_t n_rooms, cap_rooms;
    struct sq_shedding *shedding;
    size_t n_shedding, cap_shedding;
};

/* Logs the connection's last error; returns BC_ENOSPC when it was
 * SQLITE_FULL (the disk is full), else BC_EIO. */
int sq_db_fail(struct session_sqlite *s, const char *what);
/* Statements are reused: clear them for the next caller. */
void sq_stmt_done(sqlite3_stmt *st);
/* The start of every call on one session: takes the lock and reads the
 * session's row into *info. Returns 0 holding s->lock, or BC_ENOTFOUND /
 * BC_EIO without it. */
int sq_lock_session(struct session_sqlite *s, const char *id, struct session_info *info);
/* sq_lock_session for calls only a live session takes: returns 0 holding
 * s->lock, or BC_ESTATE (the session has ended), BC_ENOTFOUND or BC_EIO
 * without it. */
int sq_lock_live_session(struct session_sqlite *s, const char *id);

/* session_sqlite_migrate.c, at open: adds the columns an older database
 * lacks; replaces clear-text tokens by their hash (one transaction).
 * 0 or BC_EIO. */
int sq_migrate_columns(struct session_sqlite *s);
int sq_migrate_tokens(struct session_sqlite *s);

int sq_add_caption(void *impl, const char *id, const char *lang, int utterance, int64_t start_ms,
                   int64_t end_ms, const char *text, const char *source_text, uint64_t fence);
int sq_delete_transcript(void *impl, const char *id);
int sq_purge_ended(void *impl, int64_t ended_before_ms, size_t *n);
int sq_read_captions(void *impl, const char *id, const char *lang, int64_t limit,
                     struct transcript **out);
/* session_sqlite_glossary.c */
int sq_glossary_set(void *impl, const char *id, const char *json, uint64_t *version);
int sq_glossary_get(void *impl, const char *id, uint64_t known_version, char **json,
                    uint64_t *version);

/* session_sqlite_capacity.c */
int sq_room_set(void *impl, const char *worker, int free_slots, int64_t expires_ms);
int sq_room_clear(void *impl, const char *worker);
int sq_room_get(void *impl, int64_t now_ms, int *free_slots, int *workers);
int sq_shedding_set(void *impl, const char *id, enum session_shedding level);
int sq_shedding_get(void *impl, const char *id, enum session_shedding *level);

#endif

/* The SQLite backend's captions table: the final captions of every
 * language, kept for transcripts and for listeners who join late. */
#include <stdint.h>

#include "session/session.h"
#include "session/session_sqlite_internal.h"

/* One process holds every lease, so there is no newer owner to fence off. */
int sq_add_caption(void *impl, const char *id, const char *lang, int utterance, int64_t start_ms,
                   int64_t end_ms, const char *text, const char *source_text, uint64_t fence)
{
    struct session_sqlite *s = impl;
    struct session_info info;
    int rc = sq_lock_session(s, id, &info);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = s->stmt[ST_ADD_CAPTION];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, lang, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, utterance);
    sqlite3_bind_int64(st, 4, start_ms);
    sqlite3_bind_int64(st, 5, end_ms);
    sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, source_text, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sq_stmt_done(st);
    if (rc != SQLITE_DONE)
        rc = sq_db_fail(s, "add caption");
    else
        rc = sqlite3_changes(s->db) == 0 ? 1 : 0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* limit < 0: all captions (SQLite reads a negative LIMIT as none). */
int sq_read_captions(void *impl, const char *id, const char *lang, int64_t limit,
                     struct transcript **out)
{
    struct session_sqlite *s = impl;
    struct session_info info;
    int rc = sq_lock_session(s, id, &info);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = s->stmt[ST_RECENT];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, lang, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit);
    struct transcript *t = transcript_new(lang);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        transcript_add(t, sqlite3_column_int(st, 0), sqlite3_column_int64(st, 1),
                       sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 3),
                       (const char *)sqlite3_column_text(st, 4));
    if (rc != SQLITE_DONE) {
        rc = sq_db_fail(s, "read captions");
        transcript_free(t);
        t = NULL;
    } else {
        rc = 0;
    }
    sq_stmt_done(st);
    pthread_mutex_unlock(&s->lock);
    *out = t;
    return rc;
}

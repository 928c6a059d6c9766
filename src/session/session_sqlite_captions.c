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

/* Rare calls (a speaker's request, an hourly sweep): statements prepared
 * each time. */
static const char delete_captions_sql[] = "DELETE FROM captions WHERE session = ?1";
static const char mark_deleted_sql[] = "UPDATE sessions SET transcript_deleted = 1 WHERE id = ?1";
static const char purge_captions_sql[] =
    "DELETE FROM captions WHERE session IN (SELECT id FROM sessions WHERE state = 1"
    " AND ended_ms < ?1 AND transcript_deleted = 0)";
static const char purge_mark_sql[] =
    "UPDATE sessions SET transcript_deleted = 1 WHERE state = 1 AND ended_ms < ?1"
    " AND transcript_deleted = 0";

/* Caller holds the lock. Runs sql with ?1 bound to text (or, when text is
 * NULL, to number); the rows changed in *changes. */
static int run_locked(struct session_sqlite *s, const char *sql, const char *text, int64_t number,
                      int *changes)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sq_db_fail(s, "prepare a deletion");
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, number);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sq_db_fail(s, "delete captions");
    sqlite3_finalize(st);
    if (changes)
        *changes = sqlite3_changes(s->db);
    return rc;
}

/* Caller holds the lock: both statements in one transaction, so a crash
 * never leaves captions of a transcript marked deleted. */
static int two_steps_locked(struct session_sqlite *s, const char *first, const char *second,
                            const char *text, int64_t number, int *changes)
{
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sq_db_fail(s, "begin a deletion");
    int rc = run_locked(s, first, text, number, NULL);
    if (rc == 0)
        rc = run_locked(s, second, text, number, changes);
    if (rc == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = sq_db_fail(s, "commit a deletion");
    if (rc < 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int sq_delete_transcript(void *impl, const char *id)
{
    struct session_sqlite *s = impl;
    struct session_info info;
    int rc = sq_lock_session(s, id, &info);
    if (rc < 0)
        return rc;
    rc = two_steps_locked(s, delete_captions_sql, mark_deleted_sql, id, 0, NULL);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int sq_purge_ended(void *impl, int64_t ended_before_ms, size_t *n)
{
    struct session_sqlite *s = impl;
    int changes = 0;
    pthread_mutex_lock(&s->lock);
    int rc = two_steps_locked(s, purge_captions_sql, purge_mark_sql, NULL, ended_before_ms,
                              &changes);
    pthread_mutex_unlock(&s->lock);
    *n = rc == 0 && changes > 0 ? (size_t)changes : 0;
    return rc;
}

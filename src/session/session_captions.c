/* The captions table: the final captions of every language, kept for
 * transcripts and for listeners who join late. */
#include <stdint.h>

#include "session/session.h"
#include "session/session_internal.h"

int session_add_caption(struct session_registry *reg, const char *id, const char *lang,
                        int utterance, int64_t start_ms, int64_t end_ms, const char *text,
                        const char *source_text)
{
    struct session_info info;
    int rc = reg_lock_session(reg, id, reg_valid_lang(lang) && text, &info);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = reg->stmt[ST_ADD_CAPTION];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, lang, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, utterance);
    sqlite3_bind_int64(st, 4, start_ms);
    sqlite3_bind_int64(st, 5, end_ms);
    sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, source_text ? source_text : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    reg_stmt_done(st);
    if (rc != SQLITE_DONE)
        rc = reg_db_fail(reg, "add caption");
    else
        rc = sqlite3_changes(reg->db) == 0 ? 1 : 0;
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

/* limit < 0: all captions (SQLite reads a negative LIMIT as none). */
static int read_captions(struct session_registry *reg, const char *id, const char *lang,
                         int64_t limit, struct transcript **out)
{
    *out = NULL;
    struct session_info info;
    int rc = reg_lock_session(reg, id, reg_valid_lang(lang), &info);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = reg->stmt[ST_RECENT];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, lang, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit);
    struct transcript *t = transcript_new(lang);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        transcript_add(t, sqlite3_column_int(st, 0), sqlite3_column_int64(st, 1),
                       sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 3),
                       (const char *)sqlite3_column_text(st, 4));
    if (rc != SQLITE_DONE) {
        rc = reg_db_fail(reg, "read captions");
        transcript_free(t);
        t = NULL;
    } else {
        rc = 0;
    }
    reg_stmt_done(st);
    pthread_mutex_unlock(&reg->lock);
    *out = t;
    return rc;
}

int session_transcript(struct session_registry *reg, const char *id, const char *lang,
                       struct transcript **out)
{
    return read_captions(reg, id, lang, -1, out);
}

int session_recent_captions(struct session_registry *reg, const char *id, const char *lang,
                            size_t n, struct transcript **out)
{
    int64_t limit = n > INT64_MAX ? INT64_MAX : (int64_t)n;
    return read_captions(reg, id, lang, limit, out);
}

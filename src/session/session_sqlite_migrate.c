/* The SQLite backend's upgrades of databases written by earlier versions:
 * columns they lack, tokens they stored in clear. */
#include <sqlite3.h>

#include "session/session_backend.h"
#include "session/session_sqlite_internal.h"
#include "util/err.h"
#include "util/log.h"

/* Tokens written before they were hashed: the clear text is 32 characters,
 * a hash 64. */
static const char legacy_tokens_sql[] =
    "SELECT id, token FROM sessions WHERE length(token) <> 64";
static const char rehash_token_sql[] = "UPDATE sessions SET token = ? WHERE id = ?";
/* Columns databases of earlier versions lack: speaker activity, deleted
 * transcripts, private sessions' listener keys, the translation mode. */
static const struct {
    const char *probe, *add;
} added_columns[] = {
    {"SELECT active_ms FROM sessions LIMIT 0",
     "ALTER TABLE sessions ADD COLUMN active_ms INTEGER NOT NULL DEFAULT 0"},
    {"SELECT transcript_deleted FROM sessions LIMIT 0",
     "ALTER TABLE sessions ADD COLUMN transcript_deleted INTEGER NOT NULL DEFAULT 0"},
    {"SELECT listener_key FROM sessions LIMIT 0",
     "ALTER TABLE sessions ADD COLUMN listener_key TEXT NOT NULL DEFAULT ''"},
    {"SELECT mode FROM sessions LIMIT 0",
     "ALTER TABLE sessions ADD COLUMN mode INTEGER NOT NULL DEFAULT 0"},
};

int sq_migrate_columns(struct session_sqlite *s)
{
    for (size_t i = 0; i < sizeof added_columns / sizeof added_columns[0]; i++) {
        sqlite3_stmt *probe = NULL;
        int has = sqlite3_prepare_v2(s->db, added_columns[i].probe, -1, &probe, NULL) == SQLITE_OK;
        sqlite3_finalize(probe);
        if (!has && sqlite3_exec(s->db, added_columns[i].add, NULL, NULL, NULL) != SQLITE_OK)
            return sq_db_fail(s, "add a column");
    }
    return 0;
}

/* Replaces clear-text tokens by their hash, in one transaction so a crash
 * leaves either all of them or none rewritten. */
int sq_migrate_tokens(struct session_sqlite *s)
{
    sqlite3_stmt *sel = NULL, *upd = NULL;
    int rc = BC_EIO;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        sq_db_fail(s, "begin token migration");
        return BC_EIO;
    }
    if (sqlite3_prepare_v2(s->db, legacy_tokens_sql, -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, rehash_token_sql, -1, &upd, NULL) != SQLITE_OK) {
        sq_db_fail(s, "prepare token migration");
        goto fail;
    }
    int step;
    size_t migrated = 0;
    while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
        char hash[SESSION_TOKEN_HASH_LEN + 1];
        if (session_token_hash((const char *)sqlite3_column_text(sel, 1), hash) < 0)
            goto fail;
        sqlite3_bind_text(upd, 1, hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(upd, 2, (const char *)sqlite3_column_text(sel, 0), -1,
                          SQLITE_TRANSIENT);
        int done = sqlite3_step(upd);
        sq_stmt_done(upd);
        if (done != SQLITE_DONE) {
            sq_db_fail(s, "rewrite token");
            goto fail;
        }
        migrated++;
    }
    if (step != SQLITE_DONE) {
        sq_db_fail(s, "read tokens");
        goto fail;
    }
    sqlite3_finalize(sel);
    sel = NULL;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sq_db_fail(s, "commit token migration");
        goto fail;
    }
    if (migrated)
        bc_info("session: stored %zu speaker token(s) as hashes", migrated);
    rc = 0;
fail:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    if (rc < 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The session registry: sessions, speaker tokens, languages, listener
 * counts and the final captions of every language, persisted in SQLite so
 * a restart keeps them. Every function is thread-safe (one connection
 * behind a mutex). */
#ifndef BC_SESSION_H
#define BC_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "archive/transcript.h"

#define SESSION_ID_LEN 10        /* lower-case letters and digits, easy to read out */
#define SESSION_TOKEN_LEN 32     /* hex of 128 random bits */
#define SESSION_LANG_LEN 16
#define SESSION_TARGETS_MAX 16

enum session_state { SESSION_LIVE, SESSION_ENDED };

struct session_limits {
    int max_sessions;              /* live sessions at once; default 64 */
    int max_listeners_per_session; /* default 500 */
};

struct session_info {
    char id[SESSION_ID_LEN + 1];
    char source[SESSION_LANG_LEN];
    char targets[SESSION_TARGETS_MAX][SESSION_LANG_LEN];
    size_t n_targets;
    enum session_state state;
    int64_t created_ms; /* Unix epoch ms */
    int64_t ended_ms;   /* 0 while live */
};

struct session_registry;

void session_default_limits(struct session_limits *limits);

/* Opens (creating tables as needed) the database at db_path, or a private
 * in-memory one when db_path is NULL. Returns 0 and *out (free with
 * session_registry_close), or BC_EIO with the reason logged. */
int session_registry_open(const char *db_path, const struct session_limits *limits,
                          struct session_registry **out);
void session_registry_close(struct session_registry *reg);

/* Creates a live session. targets may be empty; codes are stored as given
 * (the caller validates them). Returns 0, fills *info and token (NUL-ended),
 * or BC_ELIMIT (max_sessions live), BC_EINVAL (too many targets or a code
 * too long), BC_EIO. */
int session_create(struct session_registry *reg, const char *source, const char *const *targets,
                   size_t n_targets, struct session_info *info, char token[SESSION_TOKEN_LEN + 1]);
/* Returns 0 and *info, or BC_ENOTFOUND. */
int session_get(struct session_registry *reg, const char *id, struct session_info *info);
/* Constant-time token check. Returns 0, BC_ENOTFOUND or BC_EAUTH
 * (wrong or missing token). */
int session_check_token(struct session_registry *reg, const char *id, const char *token);
/* Marks the session ended (token checked as above; NULL token skips the
 * check, for shutdown and tests). Ending an ended session returns BC_ESTATE. */
int session_end(struct session_registry *reg, const char *id, const char *token);
/* Ids of live sessions (for recovery after a restart); at most max. */
size_t session_list_live(struct session_registry *reg, char (*ids)[SESSION_ID_LEN + 1], size_t max);

/* Listener counts live in memory only (connections do not survive a restart). */
/* Returns 0, BC_ENOTFOUND, BC_ESTATE (ended) or BC_ELIMIT (listeners per session). */
int session_listener_join(struct session_registry *reg, const char *id, const char *lang);
void session_listener_leave(struct session_registry *reg, const char *id, const char *lang);
/* Fills langs/counts (at most max) with the languages that have listeners.
 * Returns the number of languages. */
size_t session_listener_counts(struct session_registry *reg, const char *id,
                               char (*langs)[SESSION_LANG_LEN], int *counts, size_t max);

/* The languages a session is translated into: its targets, then every
 * other language with listeners; written into langs, returns the count. */
size_t session_languages(struct session_registry *reg, const struct session_info *info,
                         char (*langs)[SESSION_LANG_LEN], size_t max);

/* Stores a final caption (lang "en" for the source text). Returns 0 when
 * stored, 1 when (id, lang, utterance) was stored already (left unchanged:
 * a replay after a crash, not to be delivered again), or BC_EIO. */
int session_add_caption(struct session_registry *reg, const char *id, const char *lang,
                        int utterance, int64_t start_ms, int64_t end_ms, const char *text,
                        const char *source_text);
/* The captions of (id, lang) in utterance order, as a new transcript (caller
 * frees with transcript_free). Returns 0 or BC_ENOTFOUND (no such session). */
int session_transcript(struct session_registry *reg, const char *id, const char *lang,
                       struct transcript **out);
/* The last n final captions of (id, lang), oldest first (for late joiners). */
int session_recent_captions(struct session_registry *reg, const char *id, const char *lang,
                            size_t n, struct transcript **out);

#endif

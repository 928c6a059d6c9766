/* The session registry: sessions, speaker tokens, languages, listener
 * counts, the final captions of every language and the language catalog.
 * Two backends behind one interface, chosen by URL:
 *   sqlite://PATH or PATH  one process; persisted in an SQLite file so a
 *                          restart keeps it (files created mode 0600)
 *   redis://[:pw@]host:port[/db]
 *                          shared by every gateway and worker process;
 *                          listener counts are summed over all of them
 * Speaker tokens are stored only as their SHA-256. Every function is
 * thread-safe. With Redis every call that needs the store returns BC_EIO
 * while Redis is unreachable (after at most the connection timeout) and
 * works again once it is back. */
#ifndef BC_SESSION_H
#define BC_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "archive/transcript.h"

#define SESSION_ID_LEN 10        /* lower-case letters and digits, easy to read out */
#define SESSION_TOKEN_LEN 32     /* hex of 128 random bits */
#define SESSION_KEY_LEN 32       /* a private session's listener key, the same kind */
#define SESSION_LANG_LEN 16
#define SESSION_TARGETS_MAX 16

enum session_state { SESSION_LIVE, SESSION_ENDED };
/* How listeners get the translation: each sentence once it ends, or its
 * clauses while it goes on (pipeline/chunker.h). */
enum session_mode { SESSION_MODE_SENTENCE, SESSION_MODE_SIMULTANEOUS };

struct session_limits {
    int max_sessions;              /* live sessions at once; default 64 */
    int max_listeners_per_session; /* default 500 */
    int64_t retention_ms;          /* Redis: an ended session's keys expire this long after
                                      its end (0: kept); SQLite: see session_purge_ended */
};

struct session_info {
    char id[SESSION_ID_LEN + 1];
    char source[SESSION_LANG_LEN];
    char targets[SESSION_TARGETS_MAX][SESSION_LANG_LEN];
    size_t n_targets;
    enum session_state state;
    int64_t created_ms; /* Unix epoch ms */
    int64_t ended_ms;   /* 0 while live */
    int64_t active_ms;  /* last speaker activity (session_touch), else created_ms */
    int transcript_deleted; /* its captions were deleted (on request or by retention) */
    int is_private;     /* listeners need the listener key (session_check_listener_key) */
    enum session_mode mode; /* SESSION_MODE_SENTENCE unless set */
};

struct session_registry;

void session_default_limits(struct session_limits *limits);

/* Opens the SQLite backend: the database at db_path (created mode 0600, with
 * tables as needed; tokens an older version stored in clear are replaced by
 * their hash), or a private in-memory one when db_path is NULL. Returns 0
 * and *out (free with session_registry_close), or BC_EIO with the reason
 * logged. */
int session_registry_open(const char *db_path, const struct session_limits *limits,
                          struct session_registry **out);
/* Opens the backend url names: "redis://..." (see redis/redis_conn.h; a
 * Redis that is down is not an error here, calls fail with BC_EIO until it
 * is up), "sqlite://PATH" or a plain PATH (as session_registry_open), or a
 * private in-memory SQLite database when url is NULL. limits NULL: defaults.
 * Returns 0 and *out, BC_EINVAL (malformed url) or BC_EIO; *out is NULL
 * after a failure. */
int session_registry_open_url(const char *url, const struct session_limits *limits,
                              struct session_registry **out);
/* Accepts NULL. */
void session_registry_close(struct session_registry *reg);

/* Creates a live session. targets may be empty; codes are stored as given
 * (the caller validates them). Returns 0, fills *info and token (NUL-ended),
 * or BC_ELIMIT (max_sessions live), BC_EINVAL (too many targets or a code
 * too long), BC_ENOSPC (SQLite: the disk is full), BC_EIO. token is
 * overwritten even when the call fails. */
int session_create(struct session_registry *reg, const char *source, const char *const *targets,
                   size_t n_targets, struct session_info *info, char token[SESSION_TOKEN_LEN + 1]);
/* As session_create for a private session: also draws a listener key into
 * key (NUL-ended; stored only as its SHA-256, like the token). */
int session_create_private(struct session_registry *reg, const char *source,
                           const char *const *targets, size_t n_targets,
                           struct session_info *info, char token[SESSION_TOKEN_LEN + 1],
                           char key[SESSION_KEY_LEN + 1]);
/* Returns 0 and *info, BC_ENOTFOUND or BC_EIO. */
int session_get(struct session_registry *reg, const char *id, struct session_info *info);
/* Constant-time check of the token against the stored hash. Returns 0,
 * BC_ENOTFOUND, BC_EAUTH (wrong or missing token) or BC_EIO. */
int session_check_token(struct session_registry *reg, const char *id, const char *token);
/* Whoever may listen: 0 for a public session, or for a private one when
 * key is its listener key (constant-time check); else BC_EAUTH. Also
 * BC_ENOTFOUND or BC_EIO. */
int session_check_listener_key(struct session_registry *reg, const char *id, const char *key);
/* Marks the session ended (token checked as above; NULL token skips the
 * check, for shutdown and tests). Ending an ended session returns BC_ESTATE. */
int session_end(struct session_registry *reg, const char *id, const char *token);
/* Records now as the session's last speaker activity (active_ms), which
 * idle sessions are judged by, across every gateway. Returns 0,
 * BC_ENOTFOUND, BC_ESTATE (ended) or BC_EIO. */
int session_touch(struct session_registry *reg, const char *id);
/* Sets the translation mode of a live session (new sessions have
 * SESSION_MODE_SENTENCE). Returns 0, BC_ENOTFOUND, BC_ESTATE (ended),
 * BC_EINVAL (no such mode) or BC_EIO. */
int session_set_mode(struct session_registry *reg, const char *id, enum session_mode mode);
/* "sentence" or "simultaneous": 0 and *mode, else BC_EINVAL. */
int session_mode_parse(const char *name, enum session_mode *mode);
/* The name session_mode_parse reads. */
const char *session_mode_name(enum session_mode mode);

/* Ids of live sessions, oldest first (for recovery after a restart); at
 * most max. 0 when the store cannot be read. */
size_t session_list_live(struct session_registry *reg, char (*ids)[SESSION_ID_LEN + 1], size_t max);

/* Listener counts: in memory with SQLite (connections do not survive a
 * restart); with Redis one count per (session, language) shared by every
 * process, so max_listeners_per_session bounds the sum over all gateways.
 * Returns 0, BC_ENOTFOUND, BC_ESTATE (ended), BC_ELIMIT (listeners per
 * session), BC_EINVAL (bad language code) or BC_EIO. */
int session_listener_join(struct session_registry *reg, const char *id, const char *lang);
void session_listener_leave(struct session_registry *reg, const char *id, const char *lang);
/* Fills langs/counts (at most max) with the languages that have listeners,
 * in no promised order. Returns the number of languages (0 after an error). */
size_t session_listener_counts(struct session_registry *reg, const char *id,
                               char (*langs)[SESSION_LANG_LEN], int *counts, size_t max);

/* The languages a session is translated into: its targets, then every
 * other language with listeners; written into langs, returns the count. */
size_t session_languages(struct session_registry *reg, const struct session_info *info,
                         char (*langs)[SESSION_LANG_LEN], size_t max);

/* Stores a final caption (lang "en" for the source text). Returns 0 when
 * stored, 1 when (id, lang, utterance) was stored already (left unchanged:
 * a replay after a crash, not to be delivered again), BC_ENOTFOUND, BC_EINVAL,
 * BC_ENOSPC (SQLite: the disk is full) or BC_EIO. The same as
 * session_add_caption_fenced with fence 0. */
int session_add_caption(struct session_registry *reg, const char *id, const char *lang,
                        int utterance, int64_t start_ms, int64_t end_ms, const char *text,
                        const char *source_text);
/* As session_add_caption, written by the holder of the session's lease
 * whose fencing token is fence. With Redis and fence > 0 the write is
 * refused with BC_ESTATE, nothing stored, when the session's recorded fence
 * (REDIS_FENCE_SUFFIX, raised each time a lease is granted) is greater:
 * a newer owner exists and this one must stop. The check and the write are
 * one atomic step. fence 0 skips the check; SQLite (one process, no
 * leases) ignores fence. */
int session_add_caption_fenced(struct session_registry *reg, const char *id, const char *lang,
                               int utterance, int64_t start_ms, int64_t end_ms,
                               const char *text, const char *source_text, uint64_t fence);
/* Deletes the captions of every language of the session and marks its
 * transcript deleted (transcript_deleted in session_info). The token is
 * checked as by session_end (NULL skips the check). Returns 0, BC_EAUTH,
 * BC_ENOTFOUND or BC_EIO. */
int session_delete_transcript(struct session_registry *reg, const char *id, const char *token);
/* Retention: deletes the transcripts (as above) of the sessions that ended
 * before ended_before_ms. Returns how many, or a negative BC_E* code. With
 * Redis, where keys expire by themselves (retention_ms), it returns 0. */
int session_purge_ended(struct session_registry *reg, int64_t ended_before_ms);

/* The captions of (id, lang) in utterance order, as a new transcript (caller
 * frees with transcript_free). Returns 0, BC_ENOTFOUND (no such session),
 * BC_EINVAL or BC_EIO; *out is NULL after a failure. */
int session_transcript(struct session_registry *reg, const char *id, const char *lang,
                       struct transcript **out);
/* The last n final captions of (id, lang), oldest first (for late joiners). */
int session_recent_captions(struct session_registry *reg, const char *id, const char *lang,
                            size_t n, struct transcript **out);

/* The language catalog: JSON text that workers publish (what their engines
 * can recognize and translate) and gateways read, opaque to the registry.
 * set replaces it: returns 0, BC_EINVAL (NULL) or BC_EIO. get returns 0 and
 * a copy in *json (caller frees), BC_ENOTFOUND when none was published, or
 * BC_EIO; *json is NULL after a failure. */
int session_catalog_set(struct session_registry *reg, const char *json);
int session_catalog_get(struct session_registry *reg, char **json);

/* The session's glossary: JSON text the gateway has validated
 * (glossary/glossary.h), opaque to the registry, replaced as a whole. Each
 * replacement raises the session's glossary version (the first set gives
 * 1), so a worker can poll cheaply. set returns 0 and *version (may be
 * NULL), BC_EINVAL (NULL, or longer than SESSION_GLOSSARY_MAX bytes),
 * BC_ESTATE (the session ended), BC_ENOTFOUND, BC_ENOSPC or BC_EIO. get
 * returns 0 with the stored version in *version (0: never set) and, only
 * when it differs from known_version, a copy in *json (caller frees; NULL
 * otherwise); or BC_ENOTFOUND, BC_EIO. */
#define SESSION_GLOSSARY_MAX (256 * 1024)
int session_glossary_set(struct session_registry *reg, const char *id, const char *json,
                         uint64_t *version);
int session_glossary_get(struct session_registry *reg, const char *id, uint64_t known_version,
                         char **json, uint64_t *version);
/* ---- Capacity: workers' room and sessions' shedding ---- */

#define SESSION_WORKER_NAME_MAX 96

/* What a session that fell behind leaves out, in this order (finals are
 * never left out). */
enum session_shedding {
    SESSION_SHED_NONE = 0,
    SESSION_SHED_TRANSLATED_PARTIALS,
    SESSION_SHED_PARTIALS,
};
/* "none", "translated_partials", "partials". */
const char *session_shedding_name(enum session_shedding level);

/* A worker (any name unique to it, at most SESSION_WORKER_NAME_MAX - 1
 * characters) announces that it can claim free_slots more sessions. The
 * announcement holds for ttl_ms, so the room of a worker that died
 * vanishes; workers announce again well within it. With Redis the expiry
 * is judged on the reader's clock against the writer's: hosts need
 * clocks within a fraction of ttl_ms. Returns 0, BC_EINVAL or BC_EIO. */
int session_room_set(struct session_registry *reg, const char *worker, int free_slots, int ttl_ms);
/* Withdraws a worker's announcement (it stops). Returns 0, BC_EINVAL or BC_EIO. */
int session_room_clear(struct session_registry *reg, const char *worker);
/* The free slots summed over current announcements into *free_slots and
 * the number of workers announcing into *workers (0: none is known, so
 * nothing can be judged). Returns 0 or BC_EIO. */
int session_room_get(struct session_registry *reg, int *free_slots, int *workers);

/* The shedding level of a live session, written by the worker running it
 * and read by any gateway. set returns 0, BC_EINVAL, BC_ENOTFOUND or
 * BC_EIO; get returns 0 and *level (SESSION_SHED_NONE until a worker set
 * one), BC_ENOTFOUND or BC_EIO. */
int session_shedding_set(struct session_registry *reg, const char *id, enum session_shedding level);
int session_shedding_get(struct session_registry *reg, const char *id,
                         enum session_shedding *level);

#endif

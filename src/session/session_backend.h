/* Internal to src/session: the table of operations every registry backend
 * fills in, and the helpers session.c shares with them. session.c has
 * validated every argument before a backend sees it: ids are
 * SESSION_ID_LEN characters, language codes pass session_valid_lang, texts
 * are not NULL, and tokens reach a backend only as their hash. */
#ifndef BC_SESSION_BACKEND_H
#define BC_SESSION_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

/* SHA-256 of a speaker token in lower-case hex: what backends store. */
#define SESSION_TOKEN_HASH_LEN 64
/* Targets travel between dispatcher and backends comma-separated. */
#define SESSION_TARGETS_TEXT_MAX (SESSION_TARGETS_MAX * SESSION_LANG_LEN)
/* create's answer when the drawn id belongs to another session already. */
#define SESSION_ID_TAKEN 1

/* A session as session_create hands it to a backend. */
struct session_new {
    const char *id;
    const char *token_hash; /* SESSION_TOKEN_HASH_LEN hex characters */
    const char *key_hash;   /* the listener key's, or "" for a public session */
    const char *source;
    const char *targets;    /* comma-separated, may be "" */
    int64_t created_ms;
};

/* Each operation is thread-safe. Unless stated otherwise an operation
 * returns 0 or a negative BC_E* code, BC_EIO when its store failed (logged).
 * Every operation on one session answers BC_ENOTFOUND when it does not
 * exist, except listener_leave and listener_counts (which do nothing). */
struct session_ops {
    const char *name;
    /* 0, SESSION_ID_TAKEN (nothing stored: draw another id), BC_ELIMIT
     * (max_sessions live), BC_EIO. */
    int (*create)(void *impl, const struct session_new *s);
    int (*get)(void *impl, const char *id, struct session_info *info);
    /* The stored token hash (NUL-ended) in hash. */
    int (*token_hash)(void *impl, const char *id, char hash[SESSION_TOKEN_HASH_LEN + 1]);
    /* The stored listener key hash, "" for a public session. */
    int (*key_hash)(void *impl, const char *id, char hash[SESSION_TOKEN_HASH_LEN + 1]);
    /* 0, BC_ESTATE (ended already), BC_ENOTFOUND, BC_EIO. */
    int (*end)(void *impl, const char *id, int64_t ended_ms);
    /* Sets active_ms of a live session: 0, BC_ESTATE (ended), BC_ENOTFOUND. */
    int (*touch)(void *impl, const char *id, int64_t now_ms);
    /* Sets the mode of a live session: 0, BC_ESTATE (ended), BC_ENOTFOUND. */
    int (*set_mode)(void *impl, const char *id, enum session_mode mode);
    size_t (*list_live)(void *impl, char (*ids)[SESSION_ID_LEN + 1], size_t max);
    int (*listener_join)(void *impl, const char *id, const char *lang);
    void (*listener_leave)(void *impl, const char *id, const char *lang);
    size_t (*listener_counts)(void *impl, const char *id, char (*langs)[SESSION_LANG_LEN],
                              int *counts, size_t max);
    /* 0 stored, 1 stored already, BC_ESTATE (fence > 0 and a newer fence is
     * recorded; nothing stored), BC_ENOTFOUND, BC_EIO. */
    int (*add_caption)(void *impl, const char *id, const char *lang, int utterance,
                       int64_t start_ms, int64_t end_ms, const char *text,
                       const char *source_text, uint64_t fence);
    /* The last limit captions (all when limit < 0) in utterance order, as a
     * new transcript in *out. */
    int (*read_captions)(void *impl, const char *id, const char *lang, int64_t limit,
                         struct transcript **out);
    /* Every caption of the session deleted and the transcript marked so. */
    int (*delete_transcript)(void *impl, const char *id);
    /* delete_transcript for every session ended before ended_before_ms
     * whose transcript is not deleted yet; the count in *n. */
    int (*purge_ended)(void *impl, int64_t ended_before_ms, size_t *n);
    int (*catalog_set)(void *impl, const char *json);
    /* *json is a new heap string; BC_ENOTFOUND when none was published. */
    int (*catalog_get)(void *impl, char **json);
    /* Replaces the glossary of a live session (BC_ESTATE when ended) and
     * counts one more version, written to *version (the first is 1). */
    int (*glossary_set)(void *impl, const char *id, const char *json, uint64_t *version);
    /* The stored version in *version (0: never set) and, when it differs
     * from known_version, the glossary as a new heap string in *json (else
     * *json stays NULL). */
    int (*glossary_get)(void *impl, const char *id, uint64_t known_version, char **json,
                        uint64_t *version);
    /* Capacity (session_capacity.c validated the arguments). room_get
     * counts only announcements not older than their ttl at now_ms. */
    int (*room_set)(void *impl, const char *worker, int free_slots, int64_t expires_ms);
    int (*room_clear)(void *impl, const char *worker);
    int (*room_get)(void *impl, int64_t now_ms, int *free_slots, int *workers);
    int (*shedding_set)(void *impl, const char *id, enum session_shedding level);
    int (*shedding_get)(void *impl, const char *id, enum session_shedding *level);
    void (*close)(void *impl);
};

/* The handle: a backend's table and state. */
struct session_registry {
    const struct session_ops *ops;
    void *impl;
};

/* Backend constructors. limits is complete. */
int session_sqlite_open(const char *db_path, const struct session_limits *limits,
                        const struct session_ops **ops, void **impl);
int session_redis_open(const char *url, const struct session_limits *limits,
                       const struct session_ops **ops, void **impl);

/* ---- Shared helpers (session.c) ---- */

/* A language code that can be stored (no comma: targets are joined by one). */
int session_valid_lang(const char *code);
/* SESSION_ID_LEN characters, each a letter or digit. */
int session_valid_id(const char *id);
/* hex of SHA-256(token) into hash (NUL-ended). Returns 0 or BC_EIO. */
int session_token_hash(const char *token, char hash[SESSION_TOKEN_HASH_LEN + 1]);
/* 1 when text is SESSION_TOKEN_HASH_LEN lower-case hex digits. */
int session_is_token_hash(const char *text);
/* Fills info->targets from comma-separated text. */
void session_parse_targets(const char *text, struct session_info *info);

#endif

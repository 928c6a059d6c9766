/* Shared by the Redis backend's files (session_redis.c: sessions, tokens,
 * listener counts, catalog and the script runner; session_redis_captions.c:
 * captions and their fencing); not part of its interface.
 *
 * Key layout (every key of a session carries the hash tag {ID}, so each
 * script touches one Cluster slot):
 *   bc:{ID}:info            hash: token (SHA-256 hex), source, targets,
 *                           state (0 live, 1 ended), created_ms, ended_ms,
 *                           active_ms (absent until the first session_touch)
 *                           transcript_deleted (1 once its captions were deleted)
 *                           glossary (canonical JSON), glossary_version (count
 *                           of replacements; absent until the first)
 *                           shedding (enum session_shedding; absent: none)
 *   bc:{ID}:listeners       hash: language -> listeners over all gateways
 *   bc:{ID}:langs           set: the languages with captions
 *   bc:{ID}:captions:LANG   sorted set scored by utterance, one JSON member
 *                           per caption {"u","s","e","t","x"}
 *   bc:{ID}:fence           integer, the fencing token of the newest lease
 *                           (written by the stream backend, read here)
 *   bc:registry:live        sorted set of live ids scored by created_ms
 *   bc:catalog              string, the language catalog JSON
 *   bc:registry:room        hash: worker -> "EXPIRES_MS FREE_SLOTS", the
 *                           room each worker announced */
#ifndef BC_SESSION_REDIS_INTERNAL_H
#define BC_SESSION_REDIS_INTERNAL_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "redis/redis_conn.h"
#include "session/session.h"

#define RS_LIVE_KEY "bc:registry:live"
#define RS_CATALOG_KEY "bc:catalog"
#define RS_ROOM_KEY "bc:registry:room"
#define RS_INFO_SUFFIX "info"
#define RS_LISTENERS_SUFFIX "listeners"
#define RS_LANGS_SUFFIX "langs"
#define RS_CAPTIONS_PREFIX "captions:"
/* "bc:{" id "}:" "captions:" lang, with room to spare. */
#define RS_KEY_MAX 96

/* What the scripts answer besides data (Lua integers). */
#define RS_DONE 0
#define RS_TAKEN 1 /* the id or the caption exists already */
#define RS_NOTFOUND 2
#define RS_ENDED 3
#define RS_LIMIT 4
#define RS_FENCED 5

enum rs_script_id {
    RS_CREATE,
    RS_RESERVE,
    RS_END,
    RS_TOUCH,
    RS_JOIN,
    RS_LEAVE,
    RS_ADD_CAPTION,
    RS_READ_CAPTIONS,
    RS_DELETE_TRANSCRIPT,
    RS_GLOSSARY_SET,
    RS_GLOSSARY_GET,
    RS_SET_SHEDDING,
    RS_SCRIPT_COUNT
};

/* SHA-1 in hex, the name EVALSHA knows a script by. */
#define RS_SHA1_HEX_LEN 40

struct session_redis {
    struct redis_conn *conn;
    struct session_limits limits;
    char sha[RS_SCRIPT_COUNT][RS_SHA1_HEX_LEN + 1];
};

/* The script's text (static). */
const char *rs_script_text(enum rs_script_id which);
/* Runs script which with n_keys keys then the other args (NUL-ended
 * strings), loading it when Redis does not know it (first use, restart).
 * Returns 0 and *reply (caller frees; never an error reply) or BC_EIO. */
int rs_eval(struct session_redis *r, enum rs_script_id which, int n_keys, const char **args,
            int n_args, redisReply **reply);
/* As rs_eval for a script answering one integer, in *value. */
int rs_eval_int(struct session_redis *r, enum rs_script_id which, int n_keys, const char **args,
                int n_args, long long *value);
/* The key of session id with suffix into buf (RS_KEY_MAX). */
void rs_key(char *buf, const char *id, const char *suffix);

/* One command from NUL-ended strings (at most 11 arguments); an
 * error reply becomes BC_EIO. Returns 0 and *reply (caller frees). */
int rs_command(struct session_redis *r, int argc, const char **argv, redisReply **reply);

/* session_redis_capacity.c */
int rs_room_set(void *impl, const char *worker, int free_slots, int64_t expires_ms);
int rs_room_clear(void *impl, const char *worker);
int rs_room_get(void *impl, int64_t now_ms, int *free_slots, int *workers);
int rs_shedding_set(void *impl, const char *id, enum session_shedding level);
int rs_shedding_get(void *impl, const char *id, enum session_shedding *level);

int rs_add_caption(void *impl, const char *id, const char *lang, int utterance, int64_t start_ms,
                   int64_t end_ms, const char *text, const char *source_text, uint64_t fence);
int rs_delete_transcript(void *impl, const char *id);
int rs_read_captions(void *impl, const char *id, const char *lang, int64_t limit,
                     struct transcript **out);
/* session_redis_glossary.c */
int rs_glossary_set(void *impl, const char *id, const char *json, uint64_t *version);
int rs_glossary_get(void *impl, const char *id, uint64_t known_version, char **json,
                    uint64_t *version);

#endif

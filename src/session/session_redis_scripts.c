/* The Lua scripts of the Redis registry backend. Each reads and writes the
 * keys of one session (one Cluster slot) or the live set alone, so every
 * check and the write it guards happen as one atomic step on the server.
 * Answers are the RS_* integers of session_redis_internal.h. */
#include "session/session_redis_internal.h"

#define RS_STR_(x) #x
#define RS_STR(x) RS_STR_(x)

/* KEYS: info. ARGV: token hash, source, targets, created_ms, listener key
 * hash ("" for a public session). */
static const char create_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return " RS_STR(RS_TAKEN) " end\n"
    "redis.call('HSET', KEYS[1], 'token', ARGV[1], 'source', ARGV[2], 'targets', ARGV[3],"
    " 'state', '0', 'created_ms', ARGV[4], 'ended_ms', '0', 'listener_key', ARGV[5])\n"
    "return " RS_STR(RS_DONE) "\n";

/* KEYS: live set. ARGV: id, created_ms, max_sessions. */
static const char reserve_lua[] =
    "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return " RS_STR(RS_LIMIT) " end\n"
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])\n"
    "return " RS_STR(RS_DONE) "\n";

/* KEYS: info, listeners, langs, fence. ARGV: ended_ms, retention_ms ('0':
 * kept), the captions key prefix. Retention: every key of the session
 * expires retention_ms after the end (captions stored later get the same
 * expiry in add_caption). */
static const char end_lua[] =
    "local state = redis.call('HGET', KEYS[1], 'state')\n"
    "if not state then return " RS_STR(RS_NOTFOUND) " end\n"
    "if state ~= '0' then return " RS_STR(RS_ENDED) " end\n"
    "redis.call('HSET', KEYS[1], 'state', '1', 'ended_ms', ARGV[1])\n"
    "if ARGV[2] ~= '0' then\n"
    "  for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ARGV[2]) end\n"
    "  for _, lang in ipairs(redis.call('SMEMBERS', KEYS[3])) do\n"
    "    redis.call('PEXPIRE', ARGV[3] .. lang, ARGV[2])\n"
    "  end\n"
    "end\n"
    "return " RS_STR(RS_DONE) "\n";

/* KEYS: info, langs. ARGV: the captions key prefix. */
static const char delete_transcript_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return " RS_STR(RS_NOTFOUND) " end\n"
    "for _, lang in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"
    "  redis.call('DEL', ARGV[1] .. lang)\n"
    "end\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('HSET', KEYS[1], 'transcript_deleted', '1')\n"
    "return " RS_STR(RS_DONE) "\n";

/* KEYS: info. ARGV: field, value: set on a live session (activity, mode). */
static const char touch_lua[] =
    "local state = redis.call('HGET', KEYS[1], 'state')\n"
    "if not state then return " RS_STR(RS_NOTFOUND) " end\n"
    "if state ~= '0' then return " RS_STR(RS_ENDED) " end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "return " RS_STR(RS_DONE) "\n";

/* KEYS: info, listeners. ARGV: lang, max listeners per session. The limit
 * bounds the sum over every language and every gateway. */
static const char join_lua[] =
    "local state = redis.call('HGET', KEYS[1], 'state')\n"
    "if not state then return " RS_STR(RS_NOTFOUND) " end\n"
    "if state ~= '0' then return " RS_STR(RS_ENDED) " end\n"
    "local total = 0\n"
    "for _, v in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(v) end\n"
    "if total >= tonumber(ARGV[2]) then return " RS_STR(RS_LIMIT) " end\n"
    "redis.call('HINCRBY', KEYS[2], ARGV[1], 1)\n"
    "return " RS_STR(RS_DONE) "\n";

/* KEYS: listeners. ARGV: lang. A count never goes below zero and a
 * language without listeners disappears from the hash. */
static const char leave_lua[] =
    "local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')\n"
    "if n <= 1 then redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "else redis.call('HINCRBY', KEYS[1], ARGV[1], -1) end\n"
    "return " RS_STR(RS_DONE) "\n";

/* KEYS: info, fence, captions, langs. ARGV: fence ('0': no check),
 * utterance, member, lang. A caption stored after the end expires with the
 * session's other keys. Fences are compared as decimal strings (length, then digits) so
 * every 64-bit value compares exactly, which Lua's doubles would not. */
static const char add_caption_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return " RS_STR(RS_NOTFOUND) " end\n"
    "if ARGV[1] ~= '0' then\n"
    "  local cur = redis.call('GET', KEYS[2])\n"
    "  if cur then\n"
    "    cur = string.gsub(cur, '^0+', '')\n"
    "    if #cur > #ARGV[1] or (#cur == #ARGV[1] and cur > ARGV[1]) then\n"
    "      return " RS_STR(RS_FENCED) "\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[2], ARGV[2], 'LIMIT', 0, 1) > 0 then\n"
    "  return " RS_STR(RS_TAKEN) "\n"
    "end\n"
    "redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])\n"
    "redis.call('SADD', KEYS[4], ARGV[4])\n"
    "local ttl = redis.call('PTTL', KEYS[1])\n"
    "if ttl > 0 then\n"
    "  redis.call('PEXPIRE', KEYS[3], ttl)\n"
    "  redis.call('PEXPIRE', KEYS[4], ttl)\n"
    "end\n"
    "return " RS_STR(RS_DONE) "\n";

/* KEYS: info, captions. ARGV: first rank (0 or -n), '1' to read nothing.
 * Answers RS_NOTFOUND, or the members in utterance order. */
static const char read_captions_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return " RS_STR(RS_NOTFOUND) " end\n"
    "if ARGV[2] == '1' then return {} end\n"
    "return redis.call('ZRANGE', KEYS[2], ARGV[1], -1)\n";

/* KEYS: info. ARGV: the glossary JSON. Answers {RS_DONE, new version} or
 * {RS_NOTFOUND} / {RS_ENDED}. */
static const char glossary_set_lua[] =
    "local state = redis.call('HGET', KEYS[1], 'state')\n"
    "if not state then return {" RS_STR(RS_NOTFOUND) "} end\n"
    "if state ~= '0' then return {" RS_STR(RS_ENDED) "} end\n"
    "local v = redis.call('HINCRBY', KEYS[1], 'glossary_version', 1)\n"
    "redis.call('HSET', KEYS[1], 'glossary', ARGV[1])\n"
    "return {" RS_STR(RS_DONE) ", tostring(v)}\n";

/* KEYS: info. ARGV: the version the caller has. Answers {RS_NOTFOUND}, or
 * {RS_DONE, version} and the glossary when the version differs: one round
 * trip, and no copy of the glossary while it is unchanged. */
static const char glossary_get_lua[] =
    "local r = redis.call('HMGET', KEYS[1], 'state', 'glossary_version', 'glossary')\n"
    "if not r[1] then return {" RS_STR(RS_NOTFOUND) "} end\n"
    "local v = r[2] or '0'\n"
    "if v == ARGV[1] or not r[3] then return {" RS_STR(RS_DONE) ", v} end\n"
    "return {" RS_STR(RS_DONE) ", v, r[3]}\n";
/* KEYS: info. ARGV: shedding level. A live session only: the hash of a
 * session that expired is not brought back. */
static const char set_shedding_lua[] =
    "local state = redis.call('HGET', KEYS[1], 'state')\n"
    "if not state then return " RS_STR(RS_NOTFOUND) " end\n"
    "redis.call('HSET', KEYS[1], 'shedding', ARGV[1])\n"
    "return " RS_STR(RS_DONE) "\n";

static const char *const scripts[RS_SCRIPT_COUNT] = {
    [RS_CREATE] = create_lua,
    [RS_RESERVE] = reserve_lua,
    [RS_END] = end_lua,
    [RS_TOUCH] = touch_lua,
    [RS_JOIN] = join_lua,
    [RS_LEAVE] = leave_lua,
    [RS_ADD_CAPTION] = add_caption_lua,
    [RS_READ_CAPTIONS] = read_captions_lua,
    [RS_DELETE_TRANSCRIPT] = delete_transcript_lua,
    [RS_GLOSSARY_SET] = glossary_set_lua,
    [RS_GLOSSARY_GET] = glossary_get_lua,
    [RS_SET_SHEDDING] = set_shedding_lua,
};

const char *rs_script_text(enum rs_script_id which)
{
    return scripts[which];
}

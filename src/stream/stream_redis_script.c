/* redis:// key names and the Lua scripts that change a session's keys.
 * Every change of more than one key is one script, so Redis applies it
 * atomically and two processes never see half of it. Scripts read the time
 * from Redis (TIME), so every process stamps records with one clock and
 * append_ms grows with seq, which the retention trim relies on. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream_redis_internal.h"
#include "util/err.h"
#include "util/log.h"

#define SR_FIXED_ARGS 3 /* EVALSHA sha numkeys */
#define SR_AUDIO_KIND "1" /* STREAM_KIND_AUDIO as the append script gets it */
#define SR_MAX_ARGS 8

/* clang-format off */
/* Names bound in every script; KEYS follow enum sr_key. */
#define LUA_PRELUDE                                                                                \
    "local audio, seqk, bytesk, ckpt, attempts, dead, ended, fence, lease, pending =\n"            \
    "  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]\n" \
    "local EXPIRING = 8\n"                                                                         \
    "local function num(v) return tonumber(v) or 0 end\n"                                          \
    "local function field(e, name)\n"                                                              \
    "  local f = e[2]\n"                                                                           \
    "  for i = 1, #f, 2 do if f[i] == name then return f[i + 1] end end\n"                         \
    "end\n"                                                                                        \
    "local function ckpt_seq() return num(redis.call('HGET', ckpt, 'seq')) end\n"                  \
    "local function last_seq() return num(redis.call('GET', seqk)) end\n"                          \
    "local function now_ms()\n"                                                                    \
    "  local t = redis.call('TIME')\n"                                                             \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                         \
    "end\n"                                                                                        \
    "local function expire_all(ms)\n"                                                              \
    "  for i = 1, EXPIRING do redis.call('PEXPIRE', KEYS[i], ms) end\n"                            \
    "end\n"

/* ARGV: id, kind, data, max_backlog_bytes, channel. The backlog is the data
 * appended (bytes) minus the data up to the checkpoint (ckpt.bytes); each
 * entry stores the running total ("end") so a checkpoint finds its share
 * without reading the records it covers. The ckpt hash also keeps
 * audio_bytes, the audio ever appended (stream_audio_bytes), so it expires
 * with the session. A record arriving after the end (a late frame) revives
 * the session's keys, or they would expire while it is pending and leave an
 * id in the pending set that nothing removes. */
static const char lua_append[] =
    LUA_PRELUDE
    "local len = string.len(ARGV[3])\n"
    "local total = num(redis.call('GET', bytesk))\n"
    "if total - num(redis.call('HGET', ckpt, 'bytes')) + len > tonumber(ARGV[4]) then\n"
    "  return {'FULL'}\n"
    "end\n"
    "if redis.call('PTTL', seqk) > 0 then\n"
    "  for i = 1, EXPIRING do redis.call('PERSIST', KEYS[i]) end\n"
    "end\n"
    "local seq = redis.call('INCR', seqk)\n"
    "local ms = now_ms()\n"
    "total = redis.call('INCRBY', bytesk, len)\n"
    "if ARGV[2] == '" SR_AUDIO_KIND "' then redis.call('HINCRBY', ckpt, 'audio_bytes', len) end\n"
    "redis.call('XADD', audio, seq .. '-0', 'seq', seq, 'kind', ARGV[2], 'append_ms', ms,\n"
    "           'end', total, 'data', ARGV[3])\n"
    "redis.call('SADD', pending, ARGV[1])\n"
    "redis.call('PUBLISH', ARGV[5], ARGV[1])\n"
    "return {'OK', seq}\n";

/* ARGV: id, seq, state, owner ("" when this handle holds no lease), token,
 * retention_ms.
 * Retention: processed records are kept until they are older than the
 * retention (like Kinesis, for replay), then trimmed with XTRIM MINID. The
 * entry id is "<seq>-0" and append_ms grows with seq, so the processed and
 * old records are a prefix of the stream: a binary search over seq finds its
 * end. The common case (oldest record younger than the retention) costs one
 * XRANGE of one entry. */
static const char lua_checkpoint[] =
    LUA_PRELUDE
    "local function trim(upto, cutoff)\n"
    "  local first = redis.call('XRANGE', audio, '-', '+', 'COUNT', 1)\n"
    "  if #first == 0 then return end\n"
    "  local lo = num(field(first[1], 'seq'))\n"
    "  if lo > upto or num(field(first[1], 'append_ms')) >= cutoff then return end\n"
    "  local hi = upto + 1\n"
    "  while hi - lo > 1 do\n"
    "    local mid = math.floor((lo + hi) / 2)\n"
    "    local e = redis.call('XRANGE', audio, mid, mid)\n"
    "    if #e == 1 and num(field(e[1], 'append_ms')) < cutoff then lo = mid else hi = mid end\n"
    "  end\n"
    "  redis.call('XTRIM', audio, 'MINID', lo + 1)\n"
    "end\n"
    "local holder = redis.call('GET', lease)\n"
    "if ARGV[4] == '' then\n"
    "  if holder then return {'FENCED'} end\n"
    "elseif holder ~= ARGV[4] or redis.call('GET', fence) ~= ARGV[5] then\n"
    "  return {'FENCED'}\n"
    "end\n"
    "local seq = tonumber(ARGV[2])\n"
    "local last = last_seq()\n"
    "if seq < ckpt_seq() or seq > last then return {'BADSEQ'} end\n"
    "local done = num(redis.call('HGET', ckpt, 'bytes'))\n"
    "if seq > 0 then\n"
    "  local e = redis.call('XRANGE', audio, seq, seq)\n"
    "  if #e == 1 then done = num(field(e[1], 'end')) end\n"
    "end\n"
    "redis.call('HSET', ckpt, 'seq', seq, 'state', ARGV[3], 'bytes', done)\n"
    "for _, s in ipairs(redis.call('HKEYS', attempts)) do\n"
    "  if tonumber(s) <= seq then redis.call('HDEL', attempts, s) end\n"
    "end\n"
    "trim(seq, now_ms() - tonumber(ARGV[6]))\n"
    "if seq == last and redis.call('EXISTS', ended) == 1 then\n"
    "  redis.call('SREM', pending, ARGV[1])\n"
    "  expire_all(ARGV[6])\n"
    "  return {'DONE'}\n"
    "end\n"
    "return {'OK'}\n";

/* ARGV: id, seq, error, max_attempts. */
static const char lua_record_failed[] =
    LUA_PRELUDE
    "local seq = tonumber(ARGV[2])\n"
    "if seq <= ckpt_seq() or seq > last_seq() then return {'BADSEQ'} end\n"
    "local n = redis.call('HINCRBY', attempts, ARGV[2], 1)\n"
    "if n < tonumber(ARGV[4]) then return {'RETRY', n} end\n"
    "local ms = 0\n"
    "local e = redis.call('XRANGE', audio, seq, seq)\n"
    "if #e == 1 then ms = num(field(e[1], 'append_ms')) end\n"
    "redis.call('RPUSH', dead, cjson.encode({seq = seq, append_ms = ms, error = ARGV[3]}))\n"
    "redis.call('HDEL', attempts, ARGV[2])\n"
    "return {'DEAD'}\n";

/* ARGV: owner, ttl_ms. The fence only grows, so a token identifies one
 * grant; an owner renewing keeps its token. */
static const char lua_lease[] =
    LUA_PRELUDE
    "local holder = redis.call('GET', lease)\n"
    "if not holder then\n"
    "  redis.call('SET', lease, ARGV[1], 'PX', ARGV[2])\n"
    "  return {'NEW', redis.call('INCR', fence)}\n"
    "end\n"
    "if holder == ARGV[1] then\n"
    "  redis.call('PEXPIRE', lease, ARGV[2])\n"
    "  return {'RENEW', num(redis.call('GET', fence))}\n"
    "end\n"
    "return {'BUSY'}\n";

/* ARGV: owner. */
static const char lua_release[] =
    LUA_PRELUDE
    "if redis.call('GET', lease) == ARGV[1] then\n"
    "  redis.call('DEL', lease)\n"
    "  return {'RELEASED'}\n"
    "end\n"
    "return {'OK'}\n";

/* ARGV: id, retention_ms. */
static const char lua_ended[] =
    LUA_PRELUDE
    "redis.call('SET', ended, '1')\n"
    "if ckpt_seq() >= last_seq() then\n"
    "  redis.call('SREM', pending, ARGV[1])\n"
    "  expire_all(ARGV[2])\n"
    "  return {'DONE'}\n"
    "end\n"
    "return {'OK'}\n";

/* clang-format on */

static const char *const scripts[SR_SCRIPT_COUNT] = {
    [SR_SCRIPT_APPEND] = lua_append,
    [SR_SCRIPT_CHECKPOINT] = lua_checkpoint,
    [SR_SCRIPT_RECORD_FAILED] = lua_record_failed,
    [SR_SCRIPT_LEASE] = lua_lease,
    [SR_SCRIPT_RELEASE] = lua_release,
    [SR_SCRIPT_ENDED] = lua_ended,
};

static const char *const key_suffix[SR_KEY_COUNT] = {
    [SR_KEY_AUDIO] = "audio",       [SR_KEY_SEQ] = "seq",
    [SR_KEY_BYTES] = "bytes",       [SR_KEY_CKPT] = "ckpt",
    [SR_KEY_ATTEMPTS] = "attempts", [SR_KEY_DEAD] = "dead",
    [SR_KEY_ENDED] = "ended",       [SR_KEY_FENCE] = REDIS_FENCE_SUFFIX,
    [SR_KEY_LEASE] = "lease",
};

void sr_keys_init(const char *id, struct sr_keys *keys)
{
    for (int i = 0; i < SR_KEY_COUNT; i++) {
        if (i == SR_KEY_PENDING)
            snprintf(keys->name[i], SR_KEY_MAX, "%s", SR_PENDING_KEY);
        else
            snprintf(keys->name[i], SR_KEY_MAX, REDIS_KEY_FMT, id, key_suffix[i]);
    }
}

/* Caller holds nothing; the sha is shared by every thread of the handle. */
static int load_sha(struct redis_backend *b, enum sr_script which, char sha[SR_SHA_HEX + 1])
{
    pthread_mutex_lock(&b->lock);
    memcpy(sha, b->sha[which], SR_SHA_HEX + 1);
    pthread_mutex_unlock(&b->lock);
    if (sha[0])
        return 0;
    redisReply *r;
    int rc = redis_conn_commandf(b->conn, &r, "SCRIPT LOAD %s", scripts[which]);
    if (rc < 0)
        return rc;
    if (r->type != REDIS_REPLY_STRING || r->len != SR_SHA_HEX) {
        bc_error("stream: redis refused a script: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return BC_EIO;
    }
    memcpy(sha, r->str, SR_SHA_HEX);
    sha[SR_SHA_HEX] = '\0';
    freeReplyObject(r);
    pthread_mutex_lock(&b->lock);
    memcpy(b->sha[which], sha, SR_SHA_HEX + 1);
    pthread_mutex_unlock(&b->lock);
    return 0;
}

int sr_eval(struct redis_backend *b, enum sr_script which, const struct sr_keys *keys, int argc,
            const char **argv, const size_t *lens, redisReply **reply)
{
    *reply = NULL;
    if (argc > SR_MAX_ARGS)
        return BC_EINVAL;
    char sha[SR_SHA_HEX + 1];
    int rc = load_sha(b, which, sha);
    if (rc < 0)
        return rc;
    enum { N = SR_FIXED_ARGS + SR_KEY_COUNT + SR_MAX_ARGS };
    const char *av[N];
    size_t al[N];
    char numkeys[16];
    snprintf(numkeys, sizeof numkeys, "%d", SR_KEY_COUNT);
    int n = 0;
    av[n] = "EVALSHA";
    al[n++] = strlen("EVALSHA");
    av[n] = sha;
    al[n++] = SR_SHA_HEX;
    av[n] = numkeys;
    al[n++] = strlen(numkeys);
    for (int i = 0; i < SR_KEY_COUNT; i++) {
        av[n] = keys->name[i];
        al[n++] = strlen(keys->name[i]);
    }
    for (int i = 0; i < argc; i++) {
        av[n] = argv[i];
        al[n++] = lens[i];
    }
    redisReply *r;
    rc = redis_conn_command(b->conn, n, av, al, &r);
    if (rc < 0)
        return rc;
    /* Redis forgets scripts when it restarts; EVAL also caches it again. */
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", strlen("NOSCRIPT")) == 0) {
        freeReplyObject(r);
        av[0] = "EVAL";
        al[0] = strlen("EVAL");
        av[1] = scripts[which];
        al[1] = strlen(scripts[which]);
        rc = redis_conn_command(b->conn, n, av, al, &r);
        if (rc < 0)
            return rc;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        bc_error("stream: redis script failed: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return BC_EIO;
    }
    *reply = r;
    return 0;
}

int sr_status_is(const redisReply *reply, const char *status)
{
    return strcmp(reply->element[0]->str, status) == 0;
}

uint64_t sr_reply_u64(const redisReply *reply, size_t i)
{
    if (i >= reply->elements)
        return 0;
    const redisReply *e = reply->element[i];
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer > 0 ? (uint64_t)e->integer : 0;
    if (e->type == REDIS_REPLY_STRING)
        return strtoull(e->str, NULL, 10);
    return 0;
}

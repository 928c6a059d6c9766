/* The Redis backend's captions: one sorted set per (session, language),
 * scored by utterance, each member the caption as JSON. Adding checks the
 * session, the writer's fence and the utterance in the same script as the
 * write, so a replay or a stale owner never stores a second copy. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "session/session_backend.h"
#include "session/session_redis_internal.h"
#include "util/err.h"
#include "util/log.h"

#define RS_NUMBER_MAX 24
/* Above this many captions "the last n" is all of them, and the rank stays
 * a small integer Redis parses. */
#define RS_READ_ALL_ABOVE ((int64_t)1 << 31)

#define FIELD_UTTERANCE "u"
#define FIELD_START "s"
#define FIELD_END "e"
#define FIELD_TEXT "t"
#define FIELD_SOURCE "x"

static void captions_key(char *buf, const char *id, const char *lang)
{
    char suffix[sizeof RS_CAPTIONS_PREFIX + SESSION_LANG_LEN];
    snprintf(suffix, sizeof suffix, RS_CAPTIONS_PREFIX "%s", lang);
    rs_key(buf, id, suffix);
}

/* Timestamps are milliseconds well inside a double's exact range. */
static char *encode(int utterance, int64_t start_ms, int64_t end_ms, const char *text,
                    const char *source_text)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, FIELD_UTTERANCE, utterance);
    cJSON_AddNumberToObject(o, FIELD_START, (double)start_ms);
    cJSON_AddNumberToObject(o, FIELD_END, (double)end_ms);
    cJSON_AddStringToObject(o, FIELD_TEXT, text);
    cJSON_AddStringToObject(o, FIELD_SOURCE, source_text);
    char *member = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return member;
}

/* Adds the caption that member encodes to t; 0, or BC_EFORMAT when it is
 * not one (left out). */
static int decode_into(struct transcript *t, const char *member)
{
    cJSON *o = cJSON_Parse(member);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, FIELD_UTTERANCE);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, FIELD_START);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, FIELD_END);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, FIELD_TEXT);
    const cJSON *source = cJSON_GetObjectItemCaseSensitive(o, FIELD_SOURCE);
    int rc = BC_EFORMAT;
    if (cJSON_IsNumber(u) && cJSON_IsNumber(s) && cJSON_IsNumber(e) && cJSON_IsString(text) &&
        cJSON_IsString(source)) {
        transcript_add(t, u->valueint, (int64_t)s->valuedouble, (int64_t)e->valuedouble,
                       text->valuestring, source->valuestring);
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

int rs_add_caption(void *impl, const char *id, const char *lang, int utterance, int64_t start_ms,
                   int64_t end_ms, const char *text, const char *source_text, uint64_t fence)
{
    struct session_redis *r = impl;
    char info_key[RS_KEY_MAX], fence_key[RS_KEY_MAX], key[RS_KEY_MAX], langs_key[RS_KEY_MAX];
    rs_key(info_key, id, RS_INFO_SUFFIX);
    rs_key(fence_key, id, REDIS_FENCE_SUFFIX);
    rs_key(langs_key, id, RS_LANGS_SUFFIX);
    captions_key(key, id, lang);
    char fence_text[RS_NUMBER_MAX], utterance_text[RS_NUMBER_MAX];
    snprintf(fence_text, sizeof fence_text, "%" PRIu64, fence);
    snprintf(utterance_text, sizeof utterance_text, "%d", utterance);
    char *member = encode(utterance, start_ms, end_ms, text, source_text);
    const char *args[] = {info_key,   fence_key,      key,    langs_key,
                          fence_text, utterance_text, member, lang};
    long long answer;
    int rc = rs_eval_int(r, RS_ADD_CAPTION, 4, args, 8, &answer);
    cJSON_free(member);
    if (rc < 0)
        return rc;
    switch (answer) {
    case RS_DONE: return 0;
    case RS_TAKEN: return 1;
    case RS_FENCED:
        bc_warn("session %s: caption %d (%s) refused: fence %" PRIu64 " is stale", id, utterance,
                lang, fence);
        return BC_ESTATE;
    default: return BC_ENOTFOUND;
    }
}

int rs_read_captions(void *impl, const char *id, const char *lang, int64_t limit,
                     struct transcript **out)
{
    struct session_redis *r = impl;
    char info_key[RS_KEY_MAX], key[RS_KEY_MAX], first[RS_NUMBER_MAX];
    rs_key(info_key, id, RS_INFO_SUFFIX);
    captions_key(key, id, lang);
    int64_t rank = limit < 0 || limit > RS_READ_ALL_ABOVE ? 0 : -limit;
    snprintf(first, sizeof first, "%" PRId64, rank);
    const char *args[] = {info_key, key, first, limit == 0 ? "1" : "0"};
    redisReply *reply;
    int rc = rs_eval(r, RS_READ_CAPTIONS, 2, args, 4, &reply);
    if (rc < 0)
        return rc;
    if (reply->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(reply);
        return BC_ENOTFOUND;
    }
    struct transcript *t = transcript_new(lang);
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *m = reply->element[i];
        if (m->type != REDIS_REPLY_STRING || decode_into(t, m->str) < 0)
            bc_warn("session %s: a %s caption in Redis is malformed; left out", id, lang);
    }
    freeReplyObject(reply);
    *out = t;
    return 0;
}

int rs_delete_transcript(void *impl, const char *id)
{
    struct session_redis *r = impl;
    char info_key[RS_KEY_MAX], langs_key[RS_KEY_MAX], prefix[RS_KEY_MAX];
    rs_key(info_key, id, RS_INFO_SUFFIX);
    rs_key(langs_key, id, RS_LANGS_SUFFIX);
    captions_key(prefix, id, "");
    const char *args[] = {info_key, langs_key, prefix};
    long long answer;
    int rc = rs_eval_int(r, RS_DELETE_TRANSCRIPT, 2, args, 3, &answer);
    if (rc < 0)
        return rc;
    return answer == RS_DONE ? 0 : BC_ENOTFOUND;
}

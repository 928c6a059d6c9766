/* The Redis backend's capacity state: the room every worker announces (one
 * hash shared by all workers and gateways) and each session's shedding
 * level (a field of its info hash, so it expires with the session). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/session_backend.h"
#include "session/session_redis_internal.h"
#include "util/err.h"

#define RS_NUMBER_MAX 24
#define RS_ROOM_VALUE_MAX (2 * RS_NUMBER_MAX)
/* An announcement expired this long ago is deleted by the reader that
 * finds it (a worker that died). The delay makes it unlikely to delete a
 * fresh announcement written between the read and the delete. */
#define RS_ROOM_FORGET_MS (60 * 1000)

int rs_room_set(void *impl, const char *worker, int free_slots, int64_t expires_ms)
{
    char value[RS_ROOM_VALUE_MAX];
    snprintf(value, sizeof value, "%" PRId64 " %d", expires_ms, free_slots);
    const char *argv[] = {"HSET", RS_ROOM_KEY, worker, value};
    redisReply *reply;
    int rc = rs_command(impl, 4, argv, &reply);
    if (rc == 0)
        freeReplyObject(reply);
    return rc;
}

int rs_room_clear(void *impl, const char *worker)
{
    const char *argv[] = {"HDEL", RS_ROOM_KEY, worker};
    redisReply *reply;
    int rc = rs_command(impl, 3, argv, &reply);
    if (rc == 0)
        freeReplyObject(reply);
    return rc;
}

int rs_room_get(void *impl, int64_t now_ms, int *free_slots, int *workers)
{
    const char *argv[] = {"HGETALL", RS_ROOM_KEY};
    redisReply *reply;
    int rc = rs_command(impl, 2, argv, &reply);
    if (rc < 0)
        return rc;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements; i += 2) {
        const redisReply *name = reply->element[i], *value = reply->element[i + 1];
        if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
            continue;
        long long expires = 0;
        int slots = 0;
        if (sscanf(value->str, "%lld %d", &expires, &slots) != 2 || slots < 0)
            continue;
        if (expires < now_ms) {
            if (expires + RS_ROOM_FORGET_MS < now_ms)
                rs_room_clear(impl, name->str); /* on failure the next reader does */
            continue;
        }
        *free_slots += slots;
        (*workers)++;
    }
    freeReplyObject(reply);
    return 0;
}

int rs_shedding_set(void *impl, const char *id, enum session_shedding level)
{
    char key[RS_KEY_MAX], text[RS_NUMBER_MAX];
    rs_key(key, id, RS_INFO_SUFFIX);
    snprintf(text, sizeof text, "%d", (int)level);
    const char *args[] = {key, text};
    long long answer;
    int rc = rs_eval_int(impl, RS_SET_SHEDDING, 1, args, 2, &answer);
    if (rc < 0)
        return rc;
    return answer == RS_DONE ? 0 : BC_ENOTFOUND;
}

int rs_shedding_get(void *impl, const char *id, enum session_shedding *level)
{
    char key[RS_KEY_MAX];
    rs_key(key, id, RS_INFO_SUFFIX);
    const char *argv[] = {"HMGET", key, "state", "shedding"};
    redisReply *reply;
    int rc = rs_command(impl, 4, argv, &reply);
    if (rc < 0)
        return rc;
    rc = BC_ENOTFOUND;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING) {
        const redisReply *value = reply->element[1];
        long stored = value->type == REDIS_REPLY_STRING ? strtol(value->str, NULL, 10) : 0;
        *level = stored > SESSION_SHED_NONE && stored <= SESSION_SHED_PARTIALS
                     ? (enum session_shedding)stored
                     : SESSION_SHED_NONE;
        rc = 0;
    }
    freeReplyObject(reply);
    return rc;
}

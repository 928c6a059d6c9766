/* The Redis backend's glossaries: two fields of the session's info hash, so
 * they expire with it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "session/session_redis_internal.h"
#include "util/alloc.h"
#include "util/err.h"

/* Decimal digits of a uint64_t, and a NUL. */
#define RS_VERSION_TEXT_MAX 21

/* The answer of a glossary script: its code, then *version from element 1,
 * then (when json is not NULL) element 2 as a new string in *json. */
static int glossary_answer(const redisReply *reply, uint64_t *version, char **json)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER)
        return BC_EIO;
    long long code = reply->element[0]->integer;
    if (code == RS_NOTFOUND)
        return BC_ENOTFOUND;
    if (code == RS_ENDED)
        return BC_ESTATE;
    if (code != RS_DONE || reply->elements < 2 || reply->element[1]->type != REDIS_REPLY_STRING)
        return BC_EIO;
    *version = strtoull(reply->element[1]->str, NULL, 10);
    if (json && reply->elements >= 3 && reply->element[2]->type == REDIS_REPLY_STRING)
        *json = bc_strndup(reply->element[2]->str, reply->element[2]->len);
    return 0;
}

/* Runs a glossary script on the session's info hash with one argument
 * after the key, and reads its answer as glossary_answer does. */
static int glossary_eval(struct session_redis *r, enum rs_script_id which, const char *id,
                         const char *arg, uint64_t *version, char **json)
{
    char key[RS_KEY_MAX];
    rs_key(key, id, RS_INFO_SUFFIX);
    const char *args[] = {key, arg};
    redisReply *reply;
    int rc = rs_eval(r, which, 1, args, 2, &reply);
    if (rc < 0)
        return rc;
    rc = glossary_answer(reply, version, json);
    freeReplyObject(reply);
    return rc;
}

int rs_glossary_set(void *impl, const char *id, const char *json, uint64_t *version)
{
    return glossary_eval(impl, RS_GLOSSARY_SET, id, json, version, NULL);
}

int rs_glossary_get(void *impl, const char *id, uint64_t known_version, char **json,
                    uint64_t *version)
{
    char known[RS_VERSION_TEXT_MAX];
    snprintf(known, sizeof known, "%" PRIu64, known_version);
    *version = 0;
    return glossary_eval(impl, RS_GLOSSARY_GET, id, known, version, json);
}

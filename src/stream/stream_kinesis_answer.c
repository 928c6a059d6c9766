/* The Kinesis answers the kinesis:// backend reads, parsed from the bytes
 * of an HTTP body: whatever answers on the endpoint (AWS, an emulator, or
 * anyone on a plain http:// endpoint) is not trusted. What is kept from an
 * answer ends up in the journal, in Redis keys and in comparisons of
 * positions, so shard ids and sequence numbers are checked here, once. */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream_kinesis_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define KIN_SHARD_ID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
#define KIN_DIGITS "0123456789"
#define KIN_B64_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#define KIN_B64_PAD1_BITS 0x3
#define KIN_B64_PAD2_BITS 0xF
#define KIN_ERROR_TYPE_MAX 128
#define KIN_HTTP_THROTTLED 429
#define KIN_HTTP_SERVER_ERROR 500
#define KIN_FIRST_SHARDS 8

int kin_seqnum_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    int c = strcmp(a, b);
    return (c > 0) - (c < 0);
}

bool kin_seqnum_valid(const char *s)
{
    size_t n = strnlen(s, KIN_SEQNUM_MAX);
    /* No leading zero: kin_seqnum_cmp orders by length first. */
    return n > 0 && n < KIN_SEQNUM_MAX && strspn(s, KIN_DIGITS) == n && (s[0] != '0' || n == 1);
}

bool kin_shard_id_valid(const char *s)
{
    size_t n = strnlen(s, KIN_SHARD_ID_MAX);
    return n > 0 && n < KIN_SHARD_ID_MAX && strspn(s, KIN_SHARD_ID_CHARS) == n;
}

static const char *json_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* The body as a JSON object, or NULL. */
static cJSON *parse_object(const char *body, size_t len)
{
    cJSON *json = cJSON_ParseWithLength(body, len);
    if (json && !cJSON_IsObject(json)) {
        cJSON_Delete(json);
        json = NULL;
    }
    return json;
}

static bool is_throttle(const char *type)
{
    return strstr(type, "ProvisionedThroughputExceeded") || strstr(type, "LimitExceeded");
}

int kin_answer_error(const char *op, long status, const char *body, size_t len, int *retry)
{
    *retry = 0;
    cJSON *json = parse_object(body, len);
    char type[KIN_ERROR_TYPE_MAX] = "";
    const char *t = json_str(json, "__type"), *message = json_str(json, "message");
    if (t)
        copy_str(type, sizeof type, t);
    int rc;
    if (is_throttle(type) || status == KIN_HTTP_THROTTLED) {
        rc = BC_EAGAIN;
        *retry = 1;
    } else if (status >= KIN_HTTP_SERVER_ERROR) {
        rc = BC_EIO;
        *retry = 1;
    } else if (strstr(type, "ExpiredIterator")) {
        rc = BC_ESTATE;
    } else if (strstr(type, "ResourceNotFound")) {
        bc_error("kinesis %s: %s", op, message ? message : "");
        rc = BC_ENOTFOUND;
    } else {
        bc_error("kinesis %s: HTTP %ld %s %s", op, status, type[0] ? type : "(no error type)",
                 message ? message : "");
        rc = aws_status_error(status);
        if (rc == 0 || rc == BC_EAGAIN)
            rc = BC_EIO;
    }
    cJSON_Delete(json);
    return rc;
}

/* An answer that is no JSON object: logged, BC_EIO. */
static int not_json(const char *op)
{
    bc_error("kinesis %s: the answer is not a JSON object", op);
    return BC_EIO;
}

int kin_answer_shards(const char *body, size_t len, struct kin_shard_info **shards, size_t *n,
                      char **next_token)
{
    *shards = NULL;
    *n = 0;
    *next_token = NULL;
    cJSON *json = parse_object(body, len);
    if (!json)
        return not_json("ListShards");
    size_t cap = 0;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(json, "Shards"), *s;
    if (!cJSON_IsArray(list))
        list = NULL;
    cJSON_ArrayForEach(s, list)
    {
        const char *id = json_str(s, "ShardId");
        const char *parent = json_str(s, "ParentShardId");
        const char *adjacent = json_str(s, "AdjacentParentShardId");
        /* A shard that cannot be named safely is not read; parents that
         * cannot be are taken as none. */
        if (!id || !kin_shard_id_valid(id))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : KIN_FIRST_SHARDS;
            *shards = bc_realloc(*shards, cap * sizeof **shards);
        }
        struct kin_shard_info *info = &(*shards)[(*n)++];
        copy_str(info->id, sizeof info->id, id);
        copy_str(info->parent, sizeof info->parent,
                 parent && kin_shard_id_valid(parent) ? parent : NULL);
        copy_str(info->adjacent, sizeof info->adjacent,
                 adjacent && kin_shard_id_valid(adjacent) ? adjacent : NULL);
    }
    const char *next = json_str(json, "NextToken");
    if (next && *next)
        *next_token = bc_strdup(next);
    cJSON_Delete(json);
    return 0;
}

int kin_answer_string(const char *op, const char *body, size_t len, const char *field,
                      char **value)
{
    *value = NULL;
    cJSON *json = parse_object(body, len);
    if (!json)
        return not_json(op);
    const char *s = json_str(json, field);
    int rc = 0;
    if (s && *s) {
        *value = bc_strdup(s);
    } else {
        bc_error("kinesis %s: the answer has no %s", op, field);
        rc = BC_EIO;
    }
    cJSON_Delete(json);
    return rc;
}

int kin_answer_seqnum(const char *body, size_t len, char seqnum[KIN_SEQNUM_MAX])
{
    seqnum[0] = '\0';
    char *s;
    int rc = kin_answer_string("PutRecord", body, len, "SequenceNumber", &s);
    if (rc < 0)
        return rc;
    if (kin_seqnum_valid(s)) {
        copy_str(seqnum, KIN_SEQNUM_MAX, s);
    } else {
        bc_error("kinesis PutRecord: the sequence number is not one");
        rc = BC_EIO;
    }
    free(s);
    return rc;
}

/* Decodes canonical base64 (no whitespace, '=' only as the last one or
 * two characters, zero bits before it): what one byte string encodes to,
 * so that a record's Data has one meaning. 0 and *out (heap) with *len, or
 * BC_EFORMAT. */
static int decode_b64(const char *text, uint8_t **out, size_t *len)
{
    size_t n = strlen(text);
    size_t pad = (n >= 1 && text[n - 1] == '=') + (n >= 2 && text[n - 2] == '=');
    if (n % 4 || strspn(text, KIN_B64_CHARS) != n - pad)
        return BC_EFORMAT;
    /* The last character before the padding carries 4 (pad 2) or 2 (pad 1)
     * bits past the data. */
    if (pad && (strchr(KIN_B64_CHARS, text[n - pad - 1]) - KIN_B64_CHARS) &
                   (pad == 2 ? KIN_B64_PAD2_BITS : KIN_B64_PAD1_BITS))
        return BC_EFORMAT;
    uint8_t *buf = bc_malloc(n / 4 * 3 + 1);
    int got = n ? EVP_DecodeBlock(buf, (const unsigned char *)text, (int)n) : 0;
    if (got < 0 || (size_t)got != n / 4 * 3) {
        free(buf);
        return BC_EFORMAT;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    *out = buf;
    *len = (size_t)got - pad;
    return 0;
}

int kin_answer_records(const char *body, size_t len, struct kin_record **recs, size_t *n,
                       char **next)
{
    *recs = NULL;
    *n = 0;
    *next = NULL;
    cJSON *json = parse_object(body, len);
    if (!json)
        return not_json("GetRecords");
    int rc = 0;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(json, "Records"), *r;
    if (!cJSON_IsArray(list))
        list = NULL;
    size_t count = list ? (size_t)cJSON_GetArraySize(list) : 0;
    *recs = count ? bc_calloc(count, sizeof **recs) : NULL;
    cJSON_ArrayForEach(r, list)
    {
        const char *seq = json_str(r, "SequenceNumber"), *key = json_str(r, "PartitionKey");
        const char *data = json_str(r, "Data");
        /* Positions are compared as numbers: a shard's records come in
         * increasing order, or the answer is not believed. */
        if (!seq || !data || !kin_seqnum_valid(seq) ||
            (*n > 0 && kin_seqnum_cmp(seq, (*recs)[*n - 1].seqnum) <= 0)) {
            bc_error("kinesis GetRecords: a record without data or with a bad sequence number");
            rc = BC_EFORMAT;
            break;
        }
        struct kin_record *k = &(*recs)[*n];
        copy_str(k->seqnum, sizeof k->seqnum, seq);
        if (key && stream_id_valid(key))
            copy_str(k->key, sizeof k->key, key);
        if (decode_b64(data, &k->data, &k->len) < 0) {
            /* Someone else's record: kept (it has a place in the shard) but empty. */
            k->data = NULL;
            k->len = 0;
            k->key[0] = '\0';
        }
        (*n)++;
    }
    const char *it = json_str(json, "NextShardIterator");
    if (rc == 0 && it)
        *next = bc_strdup(it);
    cJSON_Delete(json);
    if (rc < 0) {
        kin_records_free(*recs, *n);
        *recs = NULL;
        *n = 0;
    }
    return rc;
}

void kin_records_free(struct kin_record *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(recs[i].data);
    free(recs);
}

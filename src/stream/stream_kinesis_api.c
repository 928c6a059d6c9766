/* The Kinesis Data Streams calls the kinesis:// backend makes, in the JSON
 * 1.1 protocol (POST /, X-Amz-Target: Kinesis_20131202.<Operation>),
 * signed by src/aws. Throttling (ProvisionedThroughputExceededException,
 * LimitExceededException, HTTP 429/503) and transient failures are retried
 * with exponential backoff and full jitter, within a deadline per call, and
 * counted (babelcast_stream_throttled_total). */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/probes.h"
#include "stream/stream_kinesis_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define KIN_TARGET_PREFIX "Kinesis_20131202."
#define KIN_CONTENT_TYPE "application/x-amz-json-1.1"
#define KIN_SERVICE "kinesis"
#define KIN_BACKOFF_FIRST_MS 25
#define KIN_BACKOFF_MAX_MS 1000
/* Reads and listings may wait longer than an append, which holds a speaker. */
#define KIN_READ_WAIT_MS 10000
#define KIN_REQUEST_TIMEOUT_MS 5000
#define KIN_CONNECT_TIMEOUT_MS 2000
/* GetRecords answers up to 10 MB; PutRecord and the rest answer little. */
#define KIN_MAX_RESPONSE_BYTES ((size_t)12 * 1024 * 1024)
#define KIN_STREAM_NAME_CHARS                                                                      \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
#define KIN_ERROR_TYPE_MAX 128

struct kin_api {
    struct aws_client *client;
    char stream[KIN_STREAM_NAME_MAX];
};

int kin_api_new(const struct aws_url *url, struct kin_api **out)
{
    *out = NULL;
    size_t n = strlen(url->path);
    if (n == 0 || n >= KIN_STREAM_NAME_MAX || strspn(url->path, KIN_STREAM_NAME_CHARS) != n) {
        bc_error("stream: kinesis:// needs a stream name of 1-128 characters [A-Za-z0-9_.-]");
        return BC_EINVAL;
    }
    struct kin_api *a = bc_calloc(1, sizeof *a);
    snprintf(a->stream, sizeof a->stream, "%s", url->path);
    struct aws_client_params p = {.service = KIN_SERVICE,
                                  .region = url->region,
                                  .endpoint = url->endpoint,
                                  .connect_timeout_ms = KIN_CONNECT_TIMEOUT_MS,
                                  .timeout_ms = KIN_REQUEST_TIMEOUT_MS};
    int rc = aws_client_new(&p, NULL, &a->client);
    if (rc < 0) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void kin_api_free(struct kin_api *a)
{
    if (!a)
        return;
    aws_client_free(a->client);
    free(a);
}

int kin_seqnum_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

/* xorshift per thread: jitter needs no quality, only no shared state. */
static int jitter_ms(int max_ms)
{
    static _Thread_local uint32_t x;
    if (x == 0)
        x = (uint32_t)bc_now_us() ^ (uint32_t)(uintptr_t)&x;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return max_ms > 0 ? (int)(x % (uint32_t)(max_ms + 1)) : 0;
}

static int is_throttle(const char *type)
{
    return strstr(type, "ProvisionedThroughputExceeded") || strstr(type, "LimitExceeded");
}

/* Maps an error answer to a code (logged unless it is one callers expect). */
static int answer_error(const char *op, long status, const char *type, const char *message)
{
    if (strstr(type, "ExpiredIterator"))
        return BC_ESTATE;
    if (strstr(type, "ResourceNotFound")) {
        bc_error("kinesis %s: %s", op, message);
        return BC_ENOTFOUND;
    }
    bc_error("kinesis %s: HTTP %ld %s %s", op, status, type, message);
    int rc = aws_status_error(status);
    return rc == 0 || rc == BC_EAGAIN ? BC_EIO : rc;
}

/* One operation: the request body is req's JSON; *out the parsed answer.
 * Retries throttling, 5xx and connection failures until max_wait_ms. */
static int kin_call(struct kin_api *a, const char *op, const cJSON *req, int max_wait_ms,
                    cJSON **out)
{
    *out = NULL;
    char target[64];
    snprintf(target, sizeof target, KIN_TARGET_PREFIX "%s", op);
    const struct aws_header headers[] = {{"X-Amz-Target", target},
                                         {"Content-Type", KIN_CONTENT_TYPE}};
    char *body = cJSON_PrintUnformatted(req);
    if (!body)
        return BC_EINVAL;
    struct aws_request r = {.method = "POST",
                            .path = "/",
                            .headers = headers,
                            .n_headers = sizeof headers / sizeof headers[0],
                            .body = body,
                            .body_len = strlen(body),
                            .max_response_bytes = KIN_MAX_RESPONSE_BYTES};
    int64_t deadline = bc_now_us() + (int64_t)max_wait_ms * 1000;
    int backoff_ms = KIN_BACKOFF_FIRST_MS;
    int rc;
    for (;;) {
        struct aws_response resp = {0};
        rc = aws_request_perform(a->client, &r, &resp);
        int retry = rc == BC_EIO || rc == BC_ETIMEDOUT;
        if (rc == 0) {
            cJSON *json = cJSON_ParseWithLength(resp.body, resp.body_len);
            const cJSON *t = json ? cJSON_GetObjectItemCaseSensitive(json, "__type") : NULL;
            const cJSON *m = json ? cJSON_GetObjectItemCaseSensitive(json, "message") : NULL;
            char type[KIN_ERROR_TYPE_MAX] = "";
            if (cJSON_IsString(t))
                snprintf(type, sizeof type, "%s", t->valuestring);
            if (resp.status == 200 && json) {
                *out = json;
                json = NULL;
            } else if (is_throttle(type) || resp.status == 429) {
                probe_stream_throttled();
                rc = BC_EAGAIN;
                retry = 1;
            } else if (resp.status >= 500) {
                rc = BC_EIO;
                retry = 1;
            } else {
                rc = answer_error(op, resp.status, type[0] ? type : "(no error type)",
                                  cJSON_IsString(m) ? m->valuestring : "");
            }
            cJSON_Delete(json);
            aws_response_release(&resp);
        }
        if (!retry)
            break;
        int sleep_ms = jitter_ms(backoff_ms);
        if (bc_now_us() + (int64_t)sleep_ms * 1000 >= deadline)
            break;
        bc_sleep_us((int64_t)sleep_ms * 1000);
        backoff_ms = backoff_ms * 2 > KIN_BACKOFF_MAX_MS ? KIN_BACKOFF_MAX_MS : backoff_ms * 2;
    }
    free(body);
    return rc;
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

/* kin_call for one string of the answer: frees req; *value is a new
 * string, or NULL with BC_EIO when the answer lacks it. */
static int kin_call_for(struct kin_api *a, const char *op, cJSON *req, int max_wait_ms,
                        const char *field, char **value)
{
    *value = NULL;
    cJSON *resp;
    int rc = kin_call(a, op, req, max_wait_ms, &resp);
    cJSON_Delete(req);
    if (rc < 0)
        return rc;
    const char *s = json_str(resp, field);
    if (s)
        *value = bc_strdup(s);
    else
        rc = BC_EIO;
    cJSON_Delete(resp);
    return rc;
}

int kin_list_shards(struct kin_api *a, struct kin_shard_info **shards, size_t *n)
{
    *shards = NULL;
    *n = 0;
    size_t cap = 0;
    char *token = NULL;
    int rc;
    do {
        cJSON *req = cJSON_CreateObject();
        if (token)
            cJSON_AddStringToObject(req, "NextToken", token);
        else
            cJSON_AddStringToObject(req, "StreamName", a->stream);
        cJSON *resp;
        rc = kin_call(a, "ListShards", req, KIN_READ_WAIT_MS, &resp);
        cJSON_Delete(req);
        free(token);
        token = NULL;
        if (rc < 0)
            break;
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(resp, "Shards"), *s;
        cJSON_ArrayForEach(s, list)
        {
            const char *id = json_str(s, "ShardId");
            if (!id || strlen(id) >= KIN_SHARD_ID_MAX)
                continue;
            if (*n == cap) {
                cap = cap ? 2 * cap : 8;
                *shards = bc_realloc(*shards, cap * sizeof **shards);
            }
            struct kin_shard_info *info = &(*shards)[(*n)++];
            copy_str(info->id, sizeof info->id, id);
            copy_str(info->parent, sizeof info->parent, json_str(s, "ParentShardId"));
            copy_str(info->adjacent, sizeof info->adjacent, json_str(s, "AdjacentParentShardId"));
        }
        const char *next = json_str(resp, "NextToken");
        token = next ? bc_strdup(next) : NULL;
        cJSON_Delete(resp);
    } while (token);
    if (rc < 0) {
        free(*shards);
        *shards = NULL;
        *n = 0;
    }
    return rc;
}

int kin_put_record(struct kin_api *a, const char *key, const void *data, size_t len,
                   const char *ordering, int max_wait_ms, char seqnum[KIN_SEQNUM_MAX])
{
    /* base64: 4 characters per 3 bytes, and the NUL. */
    char *b64 = bc_malloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, data, (int)len);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "StreamName", a->stream);
    cJSON_AddStringToObject(req, "PartitionKey", key);
    cJSON_AddStringToObject(req, "Data", b64);
    free(b64);
    if (ordering && *ordering)
        cJSON_AddStringToObject(req, "SequenceNumberForOrdering", ordering);
    char *s;
    int rc = kin_call_for(a, "PutRecord", req, max_wait_ms, "SequenceNumber", &s);
    if (rc < 0)
        return rc;
    if (strlen(s) >= KIN_SEQNUM_MAX)
        rc = BC_EIO;
    else
        copy_str(seqnum, KIN_SEQNUM_MAX, s);
    free(s);
    return rc;
}

int kin_shard_iterator(struct kin_api *a, const char *shard, const char *type, const char *after,
                       char **iterator)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "StreamName", a->stream);
    cJSON_AddStringToObject(req, "ShardId", shard);
    if (after && *after) {
        cJSON_AddStringToObject(req, "ShardIteratorType", "AFTER_SEQUENCE_NUMBER");
        cJSON_AddStringToObject(req, "StartingSequenceNumber", after);
    } else {
        cJSON_AddStringToObject(req, "ShardIteratorType", type);
    }
    return kin_call_for(a, "GetShardIterator", req, KIN_READ_WAIT_MS, "ShardIterator", iterator);
}

/* Decodes base64 text; 0 and *out (heap) with *len, or BC_EFORMAT. */
static int decode_b64(const char *text, uint8_t **out, size_t *len)
{
    size_t n = strlen(text);
    if (n % 4)
        return BC_EFORMAT;
    uint8_t *buf = bc_malloc(n / 4 * 3 + 1);
    int got = n ? EVP_DecodeBlock(buf, (const unsigned char *)text, (int)n) : 0;
    if (got < 0) {
        free(buf);
        return BC_EFORMAT;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    size_t pad = (n >= 1 && text[n - 1] == '=') + (n >= 2 && text[n - 2] == '=');
    *out = buf;
    *len = (size_t)got - pad;
    return 0;
}

int kin_get_records(struct kin_api *a, const char *iterator, int limit, struct kin_record **recs,
                    size_t *n, char **next)
{
    *recs = NULL;
    *n = 0;
    *next = NULL;
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "ShardIterator", iterator);
    cJSON_AddNumberToObject(req, "Limit", limit);
    cJSON *resp;
    int rc = kin_call(a, "GetRecords", req, KIN_READ_WAIT_MS, &resp);
    cJSON_Delete(req);
    if (rc < 0)
        return rc;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(resp, "Records"), *r;
    size_t count = (size_t)cJSON_GetArraySize(list);
    *recs = count ? bc_calloc(count, sizeof **recs) : NULL;
    cJSON_ArrayForEach(r, list)
    {
        const char *seq = json_str(r, "SequenceNumber"), *key = json_str(r, "PartitionKey");
        const char *data = json_str(r, "Data");
        if (!seq || !data || strlen(seq) >= KIN_SEQNUM_MAX) {
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
    const char *it = json_str(resp, "NextShardIterator");
    if (rc == 0 && it)
        *next = bc_strdup(it);
    cJSON_Delete(resp);
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

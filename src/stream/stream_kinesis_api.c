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
#define KIN_HTTP_OK 200
/* ListShards pages followed before the listing is given up as endless. */
#define KIN_LIST_PAGES_MAX 1000

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

/* One operation: the request body is req's JSON; *out the answer's body
 * (status 200). Retries throttling, 5xx and connection failures until
 * max_wait_ms. */
static int kin_call(struct kin_api *a, const char *op, const cJSON *req, int max_wait_ms,
                    struct aws_response *out)
{
    memset(out, 0, sizeof *out);
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
        if (rc == 0 && resp.status == KIN_HTTP_OK) {
            *out = resp;
            break;
        }
        if (rc == 0) {
            rc = kin_answer_error(op, resp.status, resp.body, resp.body_len, &retry);
            if (rc == BC_EAGAIN)
                probe_stream_throttled();
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

/* kin_call for one string of the answer: frees req; *value is a new
 * string, or NULL with BC_EIO when the answer lacks it. */
static int kin_call_for(struct kin_api *a, const char *op, cJSON *req, int max_wait_ms,
                        const char *field, char **value)
{
    *value = NULL;
    struct aws_response resp;
    int rc = kin_call(a, op, req, max_wait_ms, &resp);
    cJSON_Delete(req);
    if (rc < 0)
        return rc;
    rc = kin_answer_string(op, resp.body, resp.body_len, field, value);
    aws_response_release(&resp);
    return rc;
}

int kin_list_shards(struct kin_api *a, struct kin_shard_info **shards, size_t *n)
{
    *shards = NULL;
    *n = 0;
    char *token = NULL;
    int rc, pages = 0;
    do {
        cJSON *req = cJSON_CreateObject();
        if (token)
            cJSON_AddStringToObject(req, "NextToken", token);
        else
            cJSON_AddStringToObject(req, "StreamName", a->stream);
        struct aws_response resp;
        rc = kin_call(a, "ListShards", req, KIN_READ_WAIT_MS, &resp);
        cJSON_Delete(req);
        free(token);
        token = NULL;
        if (rc < 0)
            break;
        struct kin_shard_info *page;
        size_t n_page;
        rc = kin_answer_shards(resp.body, resp.body_len, &page, &n_page, &token);
        aws_response_release(&resp);
        if (rc < 0)
            break;
        if (n_page) {
            *shards = bc_realloc(*shards, (*n + n_page) * sizeof **shards);
            memcpy(*shards + *n, page, n_page * sizeof *page);
            *n += n_page;
        }
        free(page);
        if (token && ++pages >= KIN_LIST_PAGES_MAX) {
            bc_error("kinesis ListShards: more than %d pages", KIN_LIST_PAGES_MAX);
            rc = BC_EIO;
        }
    } while (token && rc == 0);
    free(token);
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
    struct aws_response resp;
    int rc = kin_call(a, "PutRecord", req, max_wait_ms, &resp);
    cJSON_Delete(req);
    if (rc < 0)
        return rc;
    rc = kin_answer_seqnum(resp.body, resp.body_len, seqnum);
    aws_response_release(&resp);
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

int kin_get_records(struct kin_api *a, const char *iterator, int limit, struct kin_record **recs,
                    size_t *n, char **next)
{
    *recs = NULL;
    *n = 0;
    *next = NULL;
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "ShardIterator", iterator);
    cJSON_AddNumberToObject(req, "Limit", limit);
    struct aws_response resp;
    int rc = kin_call(a, "GetRecords", req, KIN_READ_WAIT_MS, &resp);
    cJSON_Delete(req);
    if (rc < 0)
        return rc;
    rc = kin_answer_records(resp.body, resp.body_len, recs, n, next);
    aws_response_release(&resp);
    return rc;
}

/* Kinesis answers as the kinesis:// backend parses them
 * (stream_kinesis_answer.c). The first input byte picks the parser; for an
 * error answer the next two are the HTTP status; the rest is the body.
 * What must hold for any body:
 * - an error answer is a negative code, a retried one BC_EAGAIN or BC_EIO,
 *   429 and throttling types are BC_EAGAIN, 5xx are retried;
 * - what is refused is a negative code with nothing returned;
 * - what is accepted is no longer than the body: shard ids valid, parents
 *   "" or valid, sequence numbers decimal without leading zeros and
 *   strictly increasing in a GetRecords answer, keys "" or session ids,
 *   decoded Data encodes back to the record's Data, and a babelcast
 *   header read from it writes back the same bytes;
 * - kin_seqnum_cmp is antisymmetric, and matches numeric order on valid
 *   sequence numbers. */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "stream/stream_kinesis_internal.h"
#include "util/err.h"

enum { ANSWER_ERROR, ANSWER_SHARDS, ANSWER_STRING, ANSWER_SEQNUM, ANSWER_RECORDS, ANSWER_CMP,
       ANSWER_KINDS };

#define STATUS_BYTES 2
#define HTTP_OK 200
#define HTTP_THROTTLED 429
#define HTTP_SERVER_ERROR 500

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_error(const uint8_t *data, size_t len)
{
    if (len < STATUS_BYTES)
        return;
    long status = HTTP_OK + 1 + (data[0] << 8 | data[1]) % 500;
    int retry = -1;
    int rc = kin_answer_error("Op", status, (const char *)data + STATUS_BYTES,
                              len - STATUS_BYTES, &retry);
    check(rc < 0 && (retry == 0 || retry == 1));
    check(!retry || rc == BC_EAGAIN || rc == BC_EIO);
    check(status != HTTP_THROTTLED || (rc == BC_EAGAIN && retry));
    check(status < HTTP_SERVER_ERROR || retry);
    check(rc == BC_EAGAIN || rc == BC_EIO || rc == BC_ESTATE || rc == BC_ENOTFOUND ||
          rc == BC_EAUTH || rc == BC_EINVAL);
}

static void check_shards(const char *body, size_t len)
{
    struct kin_shard_info *shards = (void *)1;
    size_t n = 1;
    char *next = (void *)1;
    int rc = kin_answer_shards(body, len, &shards, &n, &next);
    if (rc < 0) {
        check(rc == BC_EIO && !shards && n == 0 && !next);
        return;
    }
    check(rc == 0 && (n == 0) == (shards == NULL) && n <= len);
    for (size_t i = 0; i < n; i++) {
        check(kin_shard_id_valid(shards[i].id) && strlen(shards[i].id) < len);
        check(!shards[i].parent[0] || kin_shard_id_valid(shards[i].parent));
        check(!shards[i].adjacent[0] || kin_shard_id_valid(shards[i].adjacent));
    }
    check(!next || (*next && strlen(next) < len));
    free(shards);
    free(next);
}

static void check_string(const char *body, size_t len)
{
    char *value = (void *)1;
    int rc = kin_answer_string("GetShardIterator", body, len, "ShardIterator", &value);
    check(rc == 0 ? value && *value && strlen(value) < len : rc == BC_EIO && !value);
    free(value);
}

static void check_seqnum(const char *body, size_t len)
{
    char seqnum[KIN_SEQNUM_MAX];
    memset(seqnum, 'x', sizeof seqnum);
    int rc = kin_answer_seqnum(body, len, seqnum);
    check(rc == 0 ? kin_seqnum_valid(seqnum) && strlen(seqnum) < len
                  : rc == BC_EIO && seqnum[0] == '\0');
}

/* The Data strings of the answer's records, in order (for the round trip). */
static void check_records_data(const char *body, size_t len, const struct kin_record *recs,
                               size_t n)
{
    cJSON *json = cJSON_ParseWithLength(body, len);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(json, "Records"), *r;
    if (!cJSON_IsArray(list))
        list = NULL;
    size_t i = 0;
    cJSON_ArrayForEach(r, list)
    {
        check(i < n);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(r, "Data");
        check(cJSON_IsString(d));
        if (recs[i].data) {
            char *b64 = bc_malloc(4 * ((recs[i].len + 2) / 3) + 1);
            EVP_EncodeBlock((unsigned char *)b64, recs[i].data, (int)recs[i].len);
            check(strcmp(b64, d->valuestring) == 0);
            free(b64);
        }
        i++;
    }
    check(i == n);
    cJSON_Delete(json);
}

/* A babelcast header read from a record writes back the same bytes. */
static void check_header(const struct kin_record *k)
{
    uint32_t kind = UINT32_MAX;
    int64_t ms;
    if (kin_record_header_parse(k->data, k->len, &kind, &ms) < 0) {
        check(k->len < KIN_HEADER_BYTES || k->data[0] != 1);
        return;
    }
    check(kind <= UINT8_MAX);
    uint8_t again[KIN_HEADER_BYTES];
    kin_record_header((enum stream_kind)kind, ms, again);
    check(memcmp(again, k->data, KIN_HEADER_BYTES) == 0);
}

static void check_records(const char *body, size_t len)
{
    struct kin_record *recs = (void *)1;
    size_t n = 1;
    char *next = (void *)1;
    int rc = kin_answer_records(body, len, &recs, &n, &next);
    if (rc < 0) {
        check((rc == BC_EIO || rc == BC_EFORMAT) && !recs && n == 0 && !next);
        return;
    }
    check(rc == 0 && (n == 0) == (recs == NULL) && n <= len);
    for (size_t i = 0; i < n; i++) {
        const struct kin_record *k = &recs[i];
        check(kin_seqnum_valid(k->seqnum));
        check(i == 0 || (kin_seqnum_cmp(recs[i - 1].seqnum, k->seqnum) < 0 &&
                         kin_seqnum_cmp(k->seqnum, recs[i - 1].seqnum) > 0));
        check(!k->key[0] || stream_id_valid(k->key));
        check(k->len <= len && (k->data != NULL || (k->len == 0 && !k->key[0])));
        if (k->data)
            fuzz_touch(k->data, k->len);
        check_header(k);
    }
    check(!next || strlen(next) < len);
    check_records_data(body, len, recs, n);
    kin_records_free(recs, n);
    free(next);
}

/* Three strings split at NULs: antisymmetry, reflexivity, and on valid
 * sequence numbers numeric order and transitivity. */
static void check_cmp(const char *body, size_t len)
{
    const char *s[3] = {"", "", ""};
    size_t k = 0;
    for (size_t i = 0; i < len && k < 3; i++) {
        if (i == 0 || body[i - 1] == '\0')
            s[k++] = body + i;
    }
    for (int i = 0; i < 3; i++) {
        check(kin_seqnum_cmp(s[i], s[i]) == 0);
        for (int j = 0; j < 3; j++) {
            int c = kin_seqnum_cmp(s[i], s[j]);
            check(c >= -1 && c <= 1 && c == -kin_seqnum_cmp(s[j], s[i]));
            check((c == 0) == (strcmp(s[i], s[j]) == 0));
            if (kin_seqnum_valid(s[i]) && kin_seqnum_valid(s[j]) && strlen(s[i]) < 20 &&
                strlen(s[j]) < 20) {
                unsigned long long a = strtoull(s[i], NULL, 10), b = strtoull(s[j], NULL, 10);
                check(c == (a > b) - (a < b));
            }
        }
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int m = 0; m < 3; m++)
                check(!(kin_seqnum_cmp(s[i], s[j]) < 0 && kin_seqnum_cmp(s[j], s[m]) < 0) ||
                      kin_seqnum_cmp(s[i], s[m]) < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static int ready;
    if (!ready) {
        fuzz_quiet();
        ready = 1;
    }
    if (len == 0)
        return 0;
    int kind = data[0] % ANSWER_KINDS;
    data++;
    len--;
    /* A copy of exactly len bytes, so ASan sees a read past the body. */
    char *body = bc_malloc(len ? len : 1);
    memcpy(body, data, len);
    switch (kind) {
    case ANSWER_ERROR:
        check_error((const uint8_t *)body, len);
        break;
    case ANSWER_SHARDS:
        check_shards(body, len);
        break;
    case ANSWER_STRING:
        check_string(body, len);
        break;
    case ANSWER_SEQNUM:
        check_seqnum(body, len);
        break;
    case ANSWER_RECORDS:
        check_records(body, len);
        break;
    default: {
        char *s = bc_malloc(len + 1);
        memcpy(s, body, len);
        s[len] = '\0';
        check_cmp(s, len);
        free(s);
        break;
    }
    }
    free(body);
    return 0;
}

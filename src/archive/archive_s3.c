/* s3://BUCKET[/PREFIX]?region=R[&endpoint=URL]: objects are spooled under
 * DATA/spool/s3 and PUT by the spool's thread. On AWS a bucket is
 * addressed by its virtual host (BUCKET.s3.REGION.amazonaws.com) unless its
 * name has a dot (TLS wildcards stop at one label); an explicit endpoint
 * (an emulator, a private or S3-compatible store) is addressed path-style. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/archive_backend.h"
#include "archive/spool.h"
#include "aws/aws.h"
#include "metrics/metrics.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define S3_SCHEME "s3://"
#define S3_SERVICE "s3"
#define S3_BUCKET_MIN 3
#define S3_BUCKET_MAX 63
#define S3_OBJECT_MAX_BYTES ((size_t)256 * 1024 * 1024) /* far above any utterance */
#define S3_REQUEST_TIMEOUT_MS 60000
#define SPOOL_SUBDIR "spool"
#define SPOOL_S3_SUBDIR "spool/s3"
#define SPOOL_DIR_MODE 0700

static const struct metrics_desc pending_metric = {
    .type = METRICS_GAUGE,
    .name = "babelcast_archive_pending_objects",
    .help = "Archive objects spooled locally and not yet stored in S3."};
static const struct metrics_desc uploaded_metric = {
    .type = METRICS_COUNTER,
    .name = "babelcast_archive_uploads_total",
    .help = "Archive objects stored in S3 since start."};
static const struct metrics_desc failures_metric = {
    .type = METRICS_COUNTER,
    .name = "babelcast_archive_upload_failures_total",
    .help = "Failed attempts to store an archive object in S3 (each is retried)."};

struct archive_s3 {
    char *bucket;
    char *prefix; /* "" or without a trailing '/' */
    bool path_style;
    struct aws_client *client;
    struct spool *spool;
};

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {".wav", "audio/wav"},
    {".vtt", "text/vtt; charset=utf-8"},
    {".srt", "application/x-subrip; charset=utf-8"},
    {".txt", "text/plain; charset=utf-8"},
    {".json", "application/json"},
};

static const char *content_type(const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < sizeof content_types / sizeof content_types[0]; i++) {
        size_t m = strlen(content_types[i].ext);
        if (n >= m && strcmp(key + n - m, content_types[i].ext) == 0)
            return content_types[i].type;
    }
    return "application/octet-stream";
}

/* The whole file in memory (S3 wants its length and hash up front). */
static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return BC_EIO;
    struct stat st;
    int rc = fstat(fileno(f), &st) == 0 ? 0 : BC_EIO;
    if (rc == 0 && (size_t)st.st_size > S3_OBJECT_MAX_BYTES)
        rc = BC_ELIMIT;
    if (rc == 0) {
        *len = (size_t)st.st_size;
        *data = bc_malloc(*len + 1);
        if (fread(*data, 1, *len, f) != *len) {
            free(*data);
            *data = NULL;
            rc = BC_EIO;
        }
    }
    fclose(f);
    return rc;
}

/* S3 answers 400 to some failures that go away: worth retrying, never
 * worth giving an object up for. */
static const char *const transient_codes[] = {
    "<Code>ExpiredToken</Code>", "<Code>RequestTimeout</Code>", "<Code>TokenRefreshRequired</Code>",
    "<Code>InvalidToken</Code>"};

/* What an answer means to the spool; refused credentials are read again
 * (rotated keys, a refreshed session token) before the next attempt. */
static int answer_error(struct archive_s3 *s, const struct aws_response *resp)
{
    int rc = aws_status_error(resp->status);
    bool transient = false;
    for (size_t i = 0; i < sizeof transient_codes / sizeof transient_codes[0]; i++)
        transient |= rc == BC_EINVAL && strstr(resp->body, transient_codes[i]) != NULL;
    if (rc == BC_EAUTH || transient)
        aws_client_reload_credentials(s->client);
    return transient ? BC_EAGAIN : rc;
}

/* The spool's callback: one PUT per object, on the spool's thread. */
static int s3_upload(void *ctx, const char *key, const char *path, const atomic_int *cancel)
{
    struct archive_s3 *s = ctx;
    char *data = NULL;
    size_t len = 0;
    int rc = read_file(path, &data, &len);
    if (rc < 0)
        return rc;
    char hash[AWS_SHA256_HEX_LEN + 1];
    aws_sha256_hex(data, len, hash);
    char *object = bc_asprintf("%s%s%s%s%s", s->path_style ? s->bucket : "",
                               s->path_style ? "/" : "", s->prefix, *s->prefix ? "/" : "", key);
    char *encoded = aws_uri_encode_path(object);
    char *req_path = bc_asprintf("/%s", encoded);
    struct aws_header headers[] = {
        {"Content-Type", content_type(key)},
        {"x-amz-content-sha256", hash},
    };
    struct aws_request req = {.method = "PUT",
                              .path = req_path,
                              .headers = headers,
                              .n_headers = sizeof headers / sizeof headers[0],
                              .body = data,
                              .body_len = len,
                              .cancel = cancel};
    struct aws_response resp;
    rc = aws_request_perform(s->client, &req, &resp);
    if (rc == 0) {
        rc = answer_error(s, &resp);
        if (rc < 0)
            bc_debug("archive: PUT %s answered %ld", object, resp.status);
        aws_response_release(&resp);
    }
    free(req_path);
    free(encoded);
    free(object);
    free(data);
    return rc;
}

static bool bucket_valid(const char *b)
{
    size_t n = strlen(b);
    if (n < S3_BUCKET_MIN || n > S3_BUCKET_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '-' ||
              b[i] == '.'))
            return false;
    return isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[n - 1]);
}

/* Splits BUCKET[/PREFIX] and checks both. */
static int parse_location(struct archive_s3 *s, const char *path)
{
    const char *slash = strchr(path, '/');
    s->bucket = slash ? bc_strndup(path, (size_t)(slash - path)) : bc_strdup(path);
    s->prefix = bc_strdup(slash ? slash + 1 : "");
    size_t n = strlen(s->prefix);
    while (n > 0 && s->prefix[n - 1] == '/')
        s->prefix[--n] = '\0';
    if (!bucket_valid(s->bucket)) {
        bc_error("archive: bad S3 bucket name '%s'", s->bucket);
        return BC_EINVAL;
    }
    if (n > 0 && !spool_key_valid(s->prefix)) {
        bc_error("archive: bad S3 prefix '%s' (use [A-Za-z0-9._-] and '/')", s->prefix);
        return BC_EINVAL;
    }
    return 0;
}

static char *s3_begin(void *impl, const char *key)
{
    (void)key;
    return spool_begin(((struct archive_s3 *)impl)->spool);
}

static int s3_commit(void *impl, const char *key, const char *path)
{
    return spool_commit(((struct archive_s3 *)impl)->spool, path, key);
}

static size_t s3_pending(void *impl)
{
    struct spool_stats st;
    spool_stats(((struct archive_s3 *)impl)->spool, &st);
    return st.pending;
}

static int s3_wait(void *impl, int timeout_ms)
{
    return spool_wait_empty(((struct archive_s3 *)impl)->spool, timeout_ms);
}

static void collect_metrics(void *user_data)
{
    struct archive_s3 *s = user_data;
    struct spool_stats st;
    spool_stats(s->spool, &st);
    metrics_set(&pending_metric, NULL, (double)st.pending);
    metrics_set(&uploaded_metric, NULL, (double)st.uploaded);
    metrics_set(&failures_metric, NULL, (double)st.failures);
}

static void s3_close(void *impl)
{
    struct archive_s3 *s = impl;
    if (!s)
        return;
    if (s->spool) {
        metrics_collector_remove(collect_metrics, s);
        spool_close(s->spool);
    }
    aws_client_free(s->client);
    free(s->bucket);
    free(s->prefix);
    free(s);
}

static const struct archive_ops s3_ops = {
    .name = "s3",
    .begin = s3_begin,
    .commit = s3_commit,
    .pending = s3_pending,
    .wait = s3_wait,
    .close = s3_close,
};

static int open_client(struct archive_s3 *s, const struct aws_url *u)
{
    char *endpoint = NULL;
    s->path_style = u->endpoint != NULL || strchr(s->bucket, '.') != NULL;
    if (!u->endpoint && !s->path_style)
        endpoint = bc_asprintf("https://%s.s3.%s.amazonaws.com", s->bucket, u->region);
    else if (!u->endpoint)
        endpoint = bc_asprintf("https://s3.%s.amazonaws.com", u->region);
    struct aws_client_params p = {.service = S3_SERVICE,
                                  .region = u->region,
                                  .endpoint = u->endpoint ? u->endpoint : endpoint,
                                  .timeout_ms = S3_REQUEST_TIMEOUT_MS};
    int rc = aws_client_new(&p, NULL, &s->client);
    free(endpoint);
    return rc;
}

int archive_s3_backend_open(const char *url, const char *data_dir, const struct archive_ops **ops,
                            void **impl)
{
    struct aws_url u;
    int rc = aws_url_parse(url, S3_SCHEME, NULL, &u);
    if (rc < 0)
        return rc;
    struct archive_s3 *s = bc_calloc(1, sizeof *s);
    char *spool_parent = bc_asprintf("%s/%s", data_dir, SPOOL_SUBDIR);
    char *spool_dir = bc_asprintf("%s/%s", data_dir, SPOOL_S3_SUBDIR);
    if ((rc = parse_location(s, u.path)) < 0 || (rc = open_client(s, &u)) < 0)
        goto fail;
    mkdir(spool_parent, SPOOL_DIR_MODE);
    if ((rc = spool_open(spool_dir, NULL, s3_upload, s, &s->spool)) < 0)
        goto fail;
    metrics_register(&pending_metric);
    metrics_register(&uploaded_metric);
    metrics_register(&failures_metric);
    if (metrics_collector_add(collect_metrics, s) < 0)
        bc_warn("archive: the upload counts are not in the metrics");
    bc_info("archive: s3://%s/%s via %s (spool %s)", s->bucket, s->prefix,
            aws_client_endpoint(s->client), spool_dir);
    *ops = &s3_ops;
    *impl = s;
    free(spool_parent);
    free(spool_dir);
    aws_url_release(&u);
    return 0;
fail:
    s3_close(s);
    free(spool_parent);
    free(spool_dir);
    aws_url_release(&u);
    return rc;
}

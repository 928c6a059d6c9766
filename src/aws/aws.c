#include "aws/aws.h"

#include <curl/curl.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "config_build.h"
#include "util/err.h"
#include "util/log.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 30000
#define IDLE_HANDLES_MAX 8 /* kept per client for connection reuse */
#define EXPECT_100_TIMEOUT_MS 200
#define HTTP_PREFIX "http://"
#define SIGV4_MAX 160
#define HTTP_OK_MIN 200
#define HTTP_OK_MAX 299
#define HTTP_UNAUTHORIZED 401
#define HTTP_FORBIDDEN 403
#define HTTP_NOT_FOUND 404
#define HTTP_TOO_MANY_REQUESTS 429
#define HTTP_CLIENT_ERROR_MIN 400
#define HTTP_CLIENT_ERROR_MAX 499
#define HTTP_UNAVAILABLE 503

struct aws_client {
    struct aws_credentials creds; /* guarded by lock once requests run */
    bool loaded;                  /* from the environment or the file: reloadable */
    char *endpoint;
    char sigv4[SIGV4_MAX]; /* "aws:amz:REGION:SERVICE" */
    const char *protocols; /* the endpoint's scheme only */
    int connect_timeout_ms;
    int timeout_ms;
    pthread_mutex_t lock; /* guards idle and creds */
    CURL *idle[IDLE_HANDLES_MAX];
    size_t n_idle;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init_once(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int aws_global_init(void)
{
    pthread_once(&global_once, global_init_once);
    if (global_rc != CURLE_OK) {
        bc_error("aws: curl_global_init failed: %s", curl_easy_strerror(global_rc));
        return BC_EIO;
    }
    return 0;
}

int aws_client_new(const struct aws_client_params *params, const struct aws_credentials *creds,
                   struct aws_client **out)
{
    if (!out)
        return BC_EINVAL;
    *out = NULL;
    if (!params || !params->service || !*params->service || !aws_region_valid(params->region) ||
        params->connect_timeout_ms < 0 || params->timeout_ms < 0)
        return BC_EINVAL;
    int rc = aws_global_init();
    if (rc < 0)
        return rc;
    struct aws_client *c = bc_calloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    if (creds)
        c->creds = *creds;
    else if ((rc = aws_credentials_load(&c->creds)) < 0)
        goto fail;
    c->loaded = !creds;
    c->endpoint = params->endpoint ? bc_strdup(params->endpoint)
                                   : aws_endpoint_default(params->service, params->region);
    size_t len = strlen(c->endpoint);
    if (len > 0 && c->endpoint[len - 1] == '/')
        c->endpoint[len - 1] = '\0';
    /* Plain HTTP only where the operator wrote http:// (an emulator or a
     * private endpoint); never a downgrade of AWS's own endpoints. */
    c->protocols = strncmp(c->endpoint, HTTP_PREFIX, strlen(HTTP_PREFIX)) == 0 ? "http" : "https";
    snprintf(c->sigv4, sizeof c->sigv4, "aws:amz:%s:%s", params->region, params->service);
    c->connect_timeout_ms =
        params->connect_timeout_ms ? params->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    c->timeout_ms = params->timeout_ms ? params->timeout_ms : DEFAULT_TIMEOUT_MS;
    *out = c;
    return 0;
fail:
    aws_client_free(c);
    return rc;
}

void aws_client_free(struct aws_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_idle; i++)
        curl_easy_cleanup(c->idle[i]);
    pthread_mutex_destroy(&c->lock);
    aws_credentials_wipe(&c->creds);
    free(c->endpoint);
    free(c);
}

const char *aws_client_endpoint(const struct aws_client *c)
{
    return c ? c->endpoint : NULL;
}

static CURL *handle_take(struct aws_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->n_idle > 0)
        h = c->idle[--c->n_idle];
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_reset(h); /* keeps its connections and DNS cache */
    else
        h = curl_easy_init();
    return h;
}

static void handle_give_back(struct aws_client *c, CURL *h)
{
    pthread_mutex_lock(&c->lock);
    if (c->n_idle < IDLE_HANDLES_MAX) {
        c->idle[c->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_cleanup(h);
}

struct body_sink {
    char *data;
    size_t len;
    size_t max;
    bool overflow;
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *user_data)
{
    struct body_sink *s = user_data;
    size_t n = size * nmemb;
    if (n > s->max - s->len) {
        s->overflow = true;
        return 0; /* curl stops the transfer */
    }
    s->data = bc_realloc(s->data, s->len + n + 1);
    memcpy(s->data + s->len, ptr, n);
    s->len += n;
    s->data[s->len] = '\0';
    return n;
}

static int progress(void *user_data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    const atomic_int *cancel = user_data;
    return atomic_load(cancel) != 0; /* nonzero aborts the transfer */
}

static bool header_valid(const struct aws_header *h)
{
    return h->name && h->value && *h->name && !strpbrk(h->name, ":\r\n") &&
           !strpbrk(h->value, "\r\n");
}

int aws_client_reload_credentials(struct aws_client *c)
{
    if (!c || !c->loaded)
        return BC_ESTATE;
    struct aws_credentials fresh;
    int rc = aws_credentials_load(&fresh);
    if (rc == 0) {
        pthread_mutex_lock(&c->lock);
        c->creds = fresh;
        pthread_mutex_unlock(&c->lock);
    }
    aws_credentials_wipe(&fresh);
    return rc;
}

/* The request's headers; the session token rides along and is signed. */
static int build_headers(const struct aws_credentials *creds, const struct aws_request *req,
                         struct curl_slist **out)
{
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (!header_valid(&req->headers[i])) {
            curl_slist_free_all(list);
            return BC_EINVAL;
        }
        char *line = bc_asprintf("%s: %s", req->headers[i].name, req->headers[i].value);
        list = curl_slist_append(list, line);
        free(line);
    }
    if (creds->session_token[0]) {
        char *line = bc_asprintf("x-amz-security-token: %s", creds->session_token);
        list = curl_slist_append(list, line);
        explicit_bzero(line, strlen(line));
        free(line);
    }
    *out = list;
    return 0;
}

static void set_method(CURL *h, const struct aws_request *req)
{
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (req->body_len == 0 && strcmp(req->method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    } else {
        /* In-memory fields: curl hashes them into the signature. */
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body_len ? req->body : "");
    }
}

static int curl_error(CURLcode code, const char *detail, const char *endpoint)
{
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        bc_debug("aws: %s: timed out (%s)", endpoint, detail);
        return BC_ETIMEDOUT;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        bc_warn("aws: %s: bad request URL (%s)", endpoint, detail);
        return BC_EINVAL;
    default:
        bc_debug("aws: %s: %s", endpoint, detail);
        return BC_EIO;
    }
}

int aws_request_perform(struct aws_client *c, const struct aws_request *req,
                        struct aws_response *resp)
{
    if (!resp)
        return BC_EINVAL;
    memset(resp, 0, sizeof *resp);
    if (!c || !req || !req->method || !req->path || req->path[0] != '/' ||
        (req->body_len && !req->body) || strpbrk(req->path, " \r\n"))
        return BC_EINVAL;
    struct aws_credentials creds;
    pthread_mutex_lock(&c->lock);
    creds = c->creds;
    pthread_mutex_unlock(&c->lock);
    struct curl_slist *headers = NULL;
    int rc = build_headers(&creds, req, &headers);
    CURL *h = rc < 0 ? NULL : handle_take(c);
    if (!h) {
        aws_credentials_wipe(&creds);
        curl_slist_free_all(headers);
        return rc < 0 ? rc : BC_EIO;
    }
    char *url = bc_asprintf("%s%s", c->endpoint, req->path);
    struct body_sink sink = {.max = req->max_response_bytes ? req->max_response_bytes
                                                            : AWS_DEFAULT_MAX_RESPONSE_BYTES};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, c->protocols);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, (long)EXPECT_100_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "babelcast/" BC_VERSION);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, creds.access_key_id);
    curl_easy_setopt(h, CURLOPT_PASSWORD, creds.secret_access_key);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    set_method(h, req);
    if (req->cancel) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)req->cancel);
    }

    CURLcode code = curl_easy_perform(h);
    if (code == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body = sink.data ? sink.data : bc_strdup("");
        resp->body_len = sink.len;
        sink.data = NULL;
    } else if (req->cancel && atomic_load(req->cancel)) {
        rc = BC_ECLOSED;
    } else if (sink.overflow) {
        bc_warn("aws: %s: response longer than %zu bytes", c->endpoint, sink.max);
        rc = BC_ELIMIT;
    } else {
        rc = curl_error(code, errbuf[0] ? errbuf : curl_easy_strerror(code), c->endpoint);
    }
    /* The handle keeps pointers to these until its next reset. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_PASSWORD, "");
    handle_give_back(c, h);
    aws_credentials_wipe(&creds);
    curl_slist_free_all(headers);
    free(sink.data);
    free(url);
    return rc;
}

void aws_response_release(struct aws_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

int aws_status_error(long status)
{
    if (status >= HTTP_OK_MIN && status <= HTTP_OK_MAX)
        return 0;
    if (status == HTTP_TOO_MANY_REQUESTS || status == HTTP_UNAVAILABLE)
        return BC_EAGAIN;
    if (status == HTTP_UNAUTHORIZED || status == HTTP_FORBIDDEN)
        return BC_EAUTH;
    if (status == HTTP_NOT_FOUND)
        return BC_ENOTFOUND;
    if (status >= HTTP_CLIENT_ERROR_MIN && status <= HTTP_CLIENT_ERROR_MAX)
        return BC_EINVAL;
    return BC_EIO;
}

void aws_sha256_hex(const void *data, size_t len, char out[AWS_SHA256_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(data ? data : (const void *)"", len, digest);
    for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xf];
    }
    out[AWS_SHA256_HEX_LEN] = '\0';
}

char *aws_uri_encode_path(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = bc_malloc(3 * n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '/') {
            *o++ = (char)ch;
        } else {
            *o++ = '%';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 0xf];
        }
    }
    *o = '\0';
    return out;
}

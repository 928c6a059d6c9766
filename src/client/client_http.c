/* REST side of the client (libcurl), URL helpers, and the growing buffer
 * both sides receive into. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/client_internal.h"
#include "client/client_url.h"
#include "util/alloc.h"
#include "util/err.h"

/* Refuse answers larger than this: the API's bodies are small. */
#define HTTP_RESPONSE_MAX_BYTES (64 * 1024 * 1024)
#define HTTP_BUF_FIRST_BYTES 1024
#define HTTP_STATUS_CREATED 201
#define HTTP_STATUS_NO_CONTENT 204
#define HTTP_STATUS_BAD_REQUEST 400
#define HTTP_STATUS_UNAUTHORIZED 401
#define HTTP_STATUS_NOT_FOUND 404
#define HTTP_STATUS_CONFLICT 409
#define HTTP_STATUS_UNPROCESSABLE 422
#define HTTP_STATUS_TOO_MANY 429
#define HTTP_STATUS_UNAVAILABLE 503
#define URL_PORT_MAX 65535

int client_url_parse(const char *url, struct client_url *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    const char *p;
    if (!strncmp(url, "ws://", 5))
        p = url + 5;
    else if (!strncmp(url, "http://", 7))
        p = url + 7;
    else if (!strncmp(url, "wss://", 6) || !strncmp(url, "https://", 8)) {
        snprintf(err, err_len, "TLS is not supported, use ws:// or http://: %s", url);
        return BC_EINVAL;
    } else {
        snprintf(err, err_len, "URL must start with ws:// or http://: %s", url);
        return BC_EINVAL;
    }
    const char *host = p, *host_end;
    if (*p == '[') {
        host = ++p;
        while (*p && *p != ']')
            p++;
        if (*p != ']')
            goto bad;
        host_end = p++;
    } else {
        while (*p && *p != ':' && *p != '/' && *p != '?')
            p++;
        host_end = p;
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len == 0 || host_len > CLIENT_URL_HOST_MAX)
        goto bad;
    memcpy(out->host, host, host_len);
    out->port = CLIENT_URL_DEFAULT_PORT;
    if (*p == ':') {
        long port = 0;
        const char *digits = ++p;
        while (isdigit((unsigned char)*p) && port <= URL_PORT_MAX)
            port = port * 10 + (*p++ - '0');
        if (p == digits || port < 1 || port > URL_PORT_MAX)
            goto bad;
        out->port = (int)port;
    }
    if (*p && *p != '/' && *p != '?')
        goto bad;
    int n = snprintf(out->path, sizeof out->path, "%s%s", *p == '/' ? "" : "/", p);
    if (n < 0 || (size_t)n >= sizeof out->path)
        goto bad;
    return 0;
bad:
    snprintf(err, err_len, "malformed URL: %s", url);
    return BC_EINVAL;
}

char *client_url_join(const char *base_url, const char *path_fmt, ...)
{
    size_t base_len = strlen(base_url);
    while (base_len && base_url[base_len - 1] == '/')
        base_len--;
    va_list ap;
    va_start(ap, path_fmt);
    char *path = NULL;
    int n = vsnprintf(NULL, 0, path_fmt, ap);
    va_end(ap);
    path = bc_malloc((size_t)n + 1);
    va_start(ap, path_fmt);
    vsnprintf(path, (size_t)n + 1, path_fmt, ap);
    va_end(ap);
    char *joined = bc_asprintf("%.*s%s", (int)base_len, base_url, path);
    free(path);
    return joined;
}

char *client_url_escape(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = bc_malloc(strlen(text) * 3 + 1);
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

void *client_buf_reserve(void *buf, size_t *cap, size_t need, size_t first_cap)
{
    if (need <= *cap)
        return buf;
    size_t c = *cap ? *cap : first_cap;
    while (c < need)
        c *= 2;
    *cap = c;
    return bc_realloc(buf, c);
}

static pthread_once_t http_once = PTHREAD_ONCE_INIT;

static void http_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct http_buf {
    char *data;
    size_t len, cap;
    int too_big;
};

static size_t http_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct http_buf *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > HTTP_RESPONSE_MAX_BYTES) {
        b->too_big = 1;
        return 0;
    }
    b->data = client_buf_reserve(b->data, &b->cap, b->len + n + 1, HTTP_BUF_FIRST_BYTES);
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

int client_http(const char *method, const char *url, const char *body, const char *const *headers,
                int timeout_ms, long *status, char **resp, size_t *resp_len, char *err,
                size_t err_len)
{
    int rc = 0;
    struct curl_slist *list = NULL;
    struct http_buf buf = {0};
    char curl_err[CURL_ERROR_SIZE] = "";
    *status = 0;
    if (resp)
        *resp = NULL;
    if (resp_len)
        *resp_len = 0;
    pthread_once(&http_once, http_global_init);
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(err, err_len, "cannot initialise libcurl");
        return BC_EIO;
    }
    for (const char *const *h = headers; h && *h; h++)
        list = curl_slist_append(list, *h);
    if (body) {
        list = curl_slist_append(list, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    /* The WebSocket side connects directly; REST must reach the same server. */
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        rc = cc == CURLE_OPERATION_TIMEDOUT ? BC_ETIMEDOUT : BC_EIO;
        if (buf.too_big)
            snprintf(err, err_len, "%s %s: response larger than %d bytes", method, url,
                     HTTP_RESPONSE_MAX_BYTES);
        else
            snprintf(err, err_len, "%s %s: %s", method, url,
                     curl_err[0] ? curl_err : curl_easy_strerror(cc));
        goto fail;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    if (resp) {
        *resp = buf.data ? buf.data : bc_strdup("");
        buf.data = NULL;
    }
    if (resp_len)
        *resp_len = buf.len;
fail:
    free(buf.data);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return rc;
}

/* One line from the server's {"error","code"} answer. */
static void rest_error(long status, const char *resp, char *err, size_t err_len)
{
    cJSON *json = cJSON_Parse(resp ? resp : "");
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "error"));
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "code"));
    if (msg)
        snprintf(err, err_len, "server refused (HTTP %ld, %s): %s", status, code ? code : "?", msg);
    else
        snprintf(err, err_len, "server refused (HTTP %ld)", status);
    cJSON_Delete(json);
}

static int rest_status_err(long status)
{
    switch (status) {
    case HTTP_STATUS_BAD_REQUEST: return BC_EINVAL;
    case HTTP_STATUS_UNAUTHORIZED: return BC_EAUTH;
    case HTTP_STATUS_NOT_FOUND:
    case HTTP_STATUS_UNPROCESSABLE: return BC_ENOTFOUND;
    case HTTP_STATUS_CONFLICT: return BC_ESTATE;
    case HTTP_STATUS_TOO_MANY: return BC_ELIMIT;
    case HTTP_STATUS_UNAVAILABLE: return BC_EAGAIN;
    default: return BC_EIO;
    }
}

int client_rest_create_session(const char *base_url, const char *const *targets, size_t n_targets,
                               int timeout_ms, char **id, char **token, char *err, size_t err_len)
{
    *id = *token = NULL;
    char *url = client_url_join(base_url, "/api/sessions");
    char *resp = NULL;
    cJSON *answer = NULL;
    long status;
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "source", "en");
    if (n_targets) {
        cJSON *arr = cJSON_AddArrayToObject(req, "targets");
        for (size_t i = 0; i < n_targets; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(targets[i]));
    }
    char *body = cJSON_PrintUnformatted(req);
    int rc = client_http("POST", url, body, NULL, timeout_ms, &status, &resp, NULL, err, err_len);
    if (rc)
        goto fail;
    if (status != HTTP_STATUS_CREATED) {
        rest_error(status, resp, err, err_len);
        rc = rest_status_err(status);
        goto fail;
    }
    answer = cJSON_Parse(resp);
    const char *sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(answer, "id"));
    const char *stok =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(answer, "speaker_token"));
    if (!sid || !stok || !*sid) {
        snprintf(err, err_len, "POST %s: answer lacks id or speaker_token", url);
        rc = BC_EFORMAT;
        goto fail;
    }
    *id = bc_strdup(sid);
    *token = bc_strdup(stok);
fail:
    cJSON_Delete(answer);
    cJSON_Delete(req);
    cJSON_free(body);
    free(resp);
    free(url);
    return rc;
}

int client_rest_end_session(const char *base_url, const char *id, const char *token, int timeout_ms,
                            char *err, size_t err_len)
{
    char *esc = client_url_escape(id);
    char *url = client_url_join(base_url, "/api/sessions/%s", esc);
    char *auth = bc_asprintf("Authorization: Bearer %s", token);
    const char *headers[] = {auth, NULL};
    char *resp = NULL;
    long status;
    int rc =
        client_http("DELETE", url, NULL, headers, timeout_ms, &status, &resp, NULL, err, err_len);
    if (rc == 0 && status != HTTP_STATUS_NO_CONTENT) {
        rest_error(status, resp, err, err_len);
        rc = rest_status_err(status);
    }
    free(resp);
    free(auth);
    free(url);
    free(esc);
    return rc;
}

/* HTTP requests to the gateway as libwebsockets hands them over: the
 * request checks (gw_http_check_request), then routing, path splitting,
 * query arguments and JSON bodies (gw_http_handle), above all the body of
 * POST /api/sessions. The input reads
 *   METHOD SP PATH[?QUERY] LF
 *   (Name: value LF)*   Authorization, Content-Length, Transfer-Encoding
 *   LF
 *   body
 * where "{id}" and "{token}" stand for a live session and its token. Every
 * request must get a status line's worth of answer: a known status, a
 * JSON error for the API, nothing read outside the request. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_gateway.h"

#define FUZZ_LINE_MAX (GW_URI_MAX * 2)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* The next line of [*p, end) without its LF; *p moves past it. */
static size_t next_line(const char **p, const char *end, const char **line)
{
    *line = *p;
    const char *lf = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = (size_t)((lf ? lf : end) - *p);
    *p = lf ? lf + 1 : end;
    return n;
}

static void set_method(struct lws *wsi, const char *m, size_t n)
{
    static const struct {
        const char *name;
        enum lws_token_indexes token;
    } methods[] = {
        {"GET", WSI_TOKEN_GET_URI},       {"POST", WSI_TOKEN_POST_URI},
        {"DELETE", WSI_TOKEN_DELETE_URI}, {"PUT", WSI_TOKEN_PUT_URI},
        {"PATCH", WSI_TOKEN_PATCH_URI},   {"HEAD", WSI_TOKEN_HEAD_URI},
        {"OPTIONS", WSI_TOKEN_OPTIONS_URI},
    };
    wsi->uri_token = WSI_TOKEN_GET_URI;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (strlen(methods[i].name) == n && memcmp(methods[i].name, m, n) == 0)
            wsi->uri_token = methods[i].token;
    }
}

/* As gateway.c's method_of. */
static int method_of(struct lws *wsi)
{
    switch (wsi->uri_token) {
    case WSI_TOKEN_GET_URI: return GW_GET;
    case WSI_TOKEN_POST_URI: return GW_POST;
    case WSI_TOKEN_DELETE_URI: return GW_DELETE;
    case WSI_TOKEN_PUT_URI:
    case WSI_TOKEN_PATCH_URI: return GW_OTHER_WITH_BODY;
    default: return GW_OTHER;
    }
}

static void set_header(struct fuzz_world *w, struct lws *wsi, const char *line, size_t n)
{
    static const struct {
        const char *name;
        size_t field, flag;
    } known[] = {
        {"authorization:", offsetof(struct lws, authorization), 0},
        {"content-length:", offsetof(struct lws, content_length),
         offsetof(struct lws, has_content_length)},
        {"transfer-encoding:", offsetof(struct lws, transfer_encoding),
         offsetof(struct lws, has_transfer_encoding)},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t k = strlen(known[i].name);
        if (n < k || strncasecmp(line, known[i].name, k) != 0)
            continue;
        const char *v = line + k;
        size_t vn = n - k;
        while (vn && *v == ' ')
            v++, vn--;
        fuzz_expand(w, v, vn, (char *)wsi + known[i].field, FUZZ_HEADER_MAX);
        if (known[i].flag)
            *(int *)((char *)wsi + known[i].flag) = 1;
    }
}

static int known_status(int status)
{
    return status >= 200 && status <= 599 && gw_http_reason(status)[0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct fuzz_world *w = fuzz_world_begin();
    static struct lws wsi;
    memset(&wsi, 0, sizeof wsi);
    const char *p = (const char *)data, *end = p + len, *line;

    size_t n = next_line(&p, end, &line);
    const char *sp = memchr(line, ' ', n);
    set_method(&wsi, line, sp ? (size_t)(sp - line) : n);
    const char *target = sp ? sp + 1 : line + n;
    size_t target_len = (size_t)(line + n - target);
    const char *q = memchr(target, '?', target_len);
    size_t path_len = q ? (size_t)(q - target) : target_len;
    fuzz_expand(w, target, path_len, wsi.uri, sizeof wsi.uri);
    if (q)
        fuzz_expand(w, q + 1, target_len - path_len - 1, wsi.args, sizeof wsi.args);
    while (p < end && (n = next_line(&p, end, &line)) > 0)
        set_header(w, &wsi, line, n);

    struct conn c;
    memset(&c, 0, sizeof c);
    c.kind = CONN_HTTP;
    c.wsi = &wsi;
    c.method = method_of(&wsi);
    int rc = gw_http_check_request(&c);
    if (rc == 0) {
        /* As gateway.c: the URI as libwebsockets gives it, then the body
         * of the methods that have one. */
        snprintf(c.uri, sizeof c.uri, "%s", wsi.uri);
        int has_body = c.method == GW_POST || c.method == GW_OTHER_WITH_BODY;
        size_t body_len = has_body ? (size_t)(end - p) : 0;
        if (body_len > GW_HTTP_BODY_MAX) {
            c.body_too_large = 1;
        } else if (body_len) {
            c.body = bc_malloc(body_len + 1);
            memcpy(c.body, p, body_len);
            c.body[body_len] = '\0';
            c.body_len = body_len;
        }
        rc = gw_http_handle(&w->srv, &c);
    } else if (rc != 1) {
        abort();
    }
    if (rc == 0 || (rc == 1 && c.response_status)) {
        if (!known_status(c.response_status) || (c.response_len && !c.response))
            abort();
        fuzz_touch(c.response, c.response_len);
    } else if (rc != 1) {
        abort(); /* no answer and no file */
    }
    free(c.body);
    free(c.response);
    fuzz_world_end(w);
    return 0;
}

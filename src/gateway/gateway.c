#include "gateway/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define GW_DEFAULT_PORT 8080
#define GW_DEFAULT_MAX_FRAME_BYTES 65536
#define GW_DEFAULT_LISTENER_QUEUE_BYTES (4u * 1024 * 1024)
#define GW_DEFAULT_LISTENER_MAX_LAG_MS 10000
#define GW_DEFAULT_RECENT_CAPTIONS 20
#define GW_DEFAULT_SESSION_RATE_PER_MIN 10
#define GW_DEFAULT_IDLE_SESSION_S 1800
#define GW_DEFAULT_RETENTION_DAYS 30
#define GW_RETRY_AFTER_DIGITS 16
#define GW_RX_BUFFER_BYTES 16384
#define GW_CLOSE_GOING_AWAY 1001
#define GW_SERVICE_SLICE_MS 100
#define GW_HTTP_HEAD_BYTES 1024
#define GW_HTTP_STATUS_LINE_MAX 64
/* Requests whose headers do not fit are closed by libwebsockets unanswered;
 * below this size the gateway answers 414 or 431 itself. */
#define GW_HTTP_HEADER_BUFFER_BYTES 16384
#define HTTP_UPGRADE_REQUIRED 426
#define WS_VERSION "13"
#define GW_TLS_ALPN "http/1.1"
/* Shutdown waits this long for the audio on its way to the stream: a
 * Kinesis append may wait 2 s for a throttled shard, and its request 5 s. */
#define GW_INGEST_DRAIN_MS 10000

void gateway_default_config(struct gateway_config *c)
{
    memset(c, 0, sizeof *c);
    c->listen_host = "127.0.0.1";
    c->port = GW_DEFAULT_PORT;
    c->max_frame_bytes = GW_DEFAULT_MAX_FRAME_BYTES;
    c->listener_queue_max_bytes = GW_DEFAULT_LISTENER_QUEUE_BYTES;
    c->listener_max_lag_ms = GW_DEFAULT_LISTENER_MAX_LAG_MS;
    c->recent_captions = GW_DEFAULT_RECENT_CAPTIONS;
    c->session_rate_per_min = GW_DEFAULT_SESSION_RATE_PER_MIN;
    c->idle_session_s = GW_DEFAULT_IDLE_SESSION_S;
    c->retention_days = GW_DEFAULT_RETENTION_DAYS;
}

static void http_reset(struct conn *c)
{
    free(c->body);
    free(c->response);
    c->body = NULL;
    c->response = NULL;
    c->body_len = c->response_len = 0;
    c->body_too_large = 0;
    c->retry_after_s = 0;
}

static int method_of(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return GW_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return GW_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI))
        return GW_DELETE;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) || lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI))
        return GW_OTHER_WITH_BODY;
    return GW_OTHER;
}

/* The status line and headers of c's response into [*p, end); the status
 * line is built here because libwebsockets 4.1 leaves most reason phrases
 * empty. */
static int http_head(struct lws *wsi, const struct conn *c, int closes, uint8_t **p, uint8_t *end)
{
    char line[GW_HTTP_STATUS_LINE_MAX];
    int n = snprintf(line, sizeof line, "HTTP/1.1 %d %s", c->response_status,
                     gw_http_reason(c->response_status));
    if (lws_add_http_header_by_name(wsi, NULL, (const unsigned char *)line, n, p, end))
        return 1;
    if (c->response_type &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)c->response_type,
                                     (int)strlen(c->response_type), p, end))
        return 1;
    if (lws_add_http_header_content_length(wsi, c->response_len, p, end))
        return 1;
    static const char no_cache[] = "no-store";
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)no_cache, (int)strlen(no_cache), p,
                                     end))
        return 1;
    static const char close_[] = "close";
    if (closes && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                               (const unsigned char *)close_,
                                               (int)strlen(close_), p, end))
        return 1;
    if (c->response_status == HTTP_UPGRADE_REQUIRED &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_VERSION, (const unsigned char *)WS_VERSION,
                                     (int)strlen(WS_VERSION), p, end))
        return 1;
    char retry[GW_RETRY_AFTER_DIGITS];
    int retry_len = snprintf(retry, sizeof retry, "%d", c->retry_after_s);
    if (c->retry_after_s > 0 &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_RETRY_AFTER,
                                     (const unsigned char *)retry, retry_len, p, end))
        return 1;
    return lws_finalize_http_header(wsi, p, end);
}

/* Sends the status line and headers now and the body when writeable. */
static int http_respond(struct lws *wsi, struct conn *c)
{
    uint8_t headers[LWS_PRE + GW_HTTP_HEAD_BYTES], *start = headers + LWS_PRE, *p = start,
                                                   *end = headers + sizeof headers - 1;
    c->answered = 1;
    if (http_head(wsi, c, 0, &p, end) ||
        lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) < 0)
        return 1;
    if (c->response_len == 0) {
        http_reset(c);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
}

/* Sends a refusal whole, in one write, and closes: the request's framing
 * (body length, upgrade) cannot be trusted, so nothing after it is read. */
static int http_refuse(struct lws *wsi, struct conn *c)
{
    size_t cap = LWS_PRE + GW_HTTP_HEAD_BYTES + c->response_len;
    uint8_t *buf = bc_malloc(cap), *start = buf + LWS_PRE, *p = start;
    c->answered = 1;
    if (http_head(wsi, c, 1, &p, buf + LWS_PRE + GW_HTTP_HEAD_BYTES - 1) == 0) {
        memcpy(p, c->response, c->response_len);
        p += c->response_len;
        if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) < 0)
            bc_debug("refusal not sent");
    }
    free(buf);
    http_reset(c);
    return -1;
}

static int http_handle(struct gateway *srv, struct lws *wsi, struct conn *c)
{
    int rc = gw_http_handle(srv, c);
    c->answered = 1;
    if (rc == 1)
        return 0; /* a static file is on its way */
    if (rc < 0) {
        http_reset(c);
        return -1;
    }
    return http_respond(wsi, c);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct conn *c = user;
    struct gateway *srv = lws_context_user(lws_get_context(wsi));
    if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE) {
        /* Before the upgrade the connection has no state of its own yet. */
        struct conn check;
        memset(&check, 0, sizeof check);
        check.wsi = wsi;
        if (gw_http_check_upgrade(&check) || gw_http_check_origin(srv, &check))
            return http_refuse(wsi, &check);
        return 0;
    }
    /* Connections dropped before their headers arrive have no state yet. */
    if (!c && reason != LWS_CALLBACK_EVENT_WAIT_CANCELLED)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        http_reset(c);
        c->kind = CONN_HTTP;
        c->wsi = wsi;
        c->answered = 0;
        c->method = method_of(wsi);
        if (gw_http_check_request(c))
            return http_refuse(wsi, c);
        snprintf(c->uri, sizeof c->uri, "%s", (const char *)in);
        if (c->method == GW_POST || c->method == GW_OTHER_WITH_BODY)
            return 0; /* answer once the body is in */
        return http_handle(srv, wsi, c);
    case LWS_CALLBACK_HTTP_BODY:
        /* An explicitly empty body arrives as (NULL, 0). */
        if (c->answered || len == 0)
            return 0;
        if (c->body_len + len > GW_HTTP_BODY_MAX) {
            c->body_too_large = 1;
            return 0;
        }
        c->body = bc_realloc(c->body, c->body_len + len + 1);
        memcpy(c->body + c->body_len, in, len);
        c->body_len += len;
        c->body[c->body_len] = '\0';
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (c->answered)
            return 0;
        return http_handle(srv, wsi, c);
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!c->response)
            return 0;
        uint8_t *buf = bc_malloc(LWS_PRE + c->response_len);
        memcpy(buf + LWS_PRE, c->response, c->response_len);
        int n = lws_write(wsi, buf + LWS_PRE, c->response_len, LWS_WRITE_HTTP_FINAL);
        free(buf);
        http_reset(c);
        if (n < 0)
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        http_reset(c);
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        http_reset(c);
        c->wsi = wsi;
        if (lws_hdr_copy(wsi, c->uri, sizeof c->uri, WSI_TOKEN_GET_URI) < 0)
            c->uri[0] = '\0';
        return gw_ws_established(srv, c);
    case LWS_CALLBACK_RECEIVE:
        return gw_ws_receive(srv, c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return gw_ws_writeable(srv, c);
    case LWS_CALLBACK_CLOSED:
        gw_ws_closed(srv, c);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (srv)
            gw_ws_dispatch(srv);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    {"babelcast", callback, sizeof(struct conn), GW_RX_BUFFER_BYTES, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void refresh_catalog(struct gateway *gw)
{
    char *json = NULL;
    struct catalog *fresh = NULL;
    if (!gw->deps.fetch_catalog || gw->deps.fetch_catalog(gw->deps.user_data, &json) < 0)
        return;
    if (catalog_parse(json, &fresh) < 0)
        bc_warn("ignoring a malformed language catalog");
    free(json);
    if (fresh) {
        catalog_free(gw->catalog);
        gw->catalog = fresh;
    }
}

static void on_catalog_timer(lws_sorted_usec_list_t *sul)
{
    struct gateway *gw = lws_container_of(sul, struct gateway, catalog_timer);
    refresh_catalog(gw);
    int next_ms = gw->catalog ? GATEWAY_CATALOG_REFRESH_MS : GATEWAY_CATALOG_RETRY_MS;
    lws_sul_schedule(gw->context, 0, &gw->catalog_timer, on_catalog_timer,
                     (lws_usec_t)next_ms * LWS_US_PER_MS);
}

/* The library's own errors go through the process log, in its format. */
static void log_library_line(int level, const char *line)
{
    (void)level;
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        n--;
    bc_error("libwebsockets: %.*s", (int)n, line);
}

static void wake_loop(void *gw)
{
    gateway_wake(gw);
}

int gateway_new(const struct gateway_config *config, const struct gateway_deps *deps,
                struct gateway **out)
{
    *out = NULL;
    struct gateway *gw = bc_calloc(1, sizeof *gw);
    gw->config = *config;
    gw->deps = *deps;
    gw->registry = deps->registry;
    gw->stream = deps->stream;
    gw->bus = deps->bus;
    gw->started_us = bc_now_us();
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = config->port;
    info.iface = config->listen_host;
    info.protocols = protocols;
    info.user = gw;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.max_http_header_data = GW_HTTP_HEADER_BUFFER_BYTES;
    char *self_cert = NULL, *self_key = NULL;
    const char *cert = config->tls_cert, *key = config->tls_key;
    if (!cert && config->tls_self_signed_dir) {
        if (gw_tls_self_signed(config->tls_self_signed_dir, config->listen_host,
                               config->public_url, &self_cert, &self_key) < 0) {
            free(self_cert);
            free(self_key);
            free(gw);
            return BC_EIO;
        }
        cert = self_cert;
        key = self_key;
    }
    if (cert) {
        /* https and wss on the one port: libwebsockets loads both files now. */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cert;
        info.ssl_private_key_filepath = key;
        /* HTTP/1.1 only: the responses here write their own status line,
         * which HTTP/2's header encoding has no place for. */
        info.alpn = GW_TLS_ALPN;
    }
    int tls = cert != NULL;
    lws_set_log_level(LLL_ERR, log_library_line);
    gw->context = lws_create_context(&info);
    free(self_cert);
    free(self_key);
    if (!gw->context) {
        bc_error("cannot listen on %s:%d%s", config->listen_host, config->port,
                 tls ? " (or the TLS certificate and key are unusable)" : "");
        free(gw);
        return BC_EIO;
    }
    if (config->public_url) {
        snprintf(gw->public_url, sizeof gw->public_url, "%s", config->public_url);
        /* Links are public_url + "/listen/ID": no doubled slash. */
        size_t n = strlen(gw->public_url);
        while (n > 0 && gw->public_url[n - 1] == '/')
            gw->public_url[--n] = '\0';
    } else
        snprintf(gw->public_url, sizeof gw->public_url, "%s://%s:%d", tls ? "https" : "http",
                 config->listen_host, gateway_port(gw));
    if (gw_origin_init(gw) < 0) {
        lws_context_destroy(gw->context);
        free(gw);
        return BC_EINVAL;
    }
    if (!config->health_only && gw->stream &&
        !(gw->ingest = gw_ingest_new(gw->stream, wake_loop, gw))) {
        bc_error("cannot start the ingest threads");
        lws_context_destroy(gw->context);
        free(gw);
        return BC_EIO;
    }
    gw_ws_start_lag_checks(gw); /* also the timer gateway_service promises */
    if (!config->health_only) {
        on_catalog_timer(&gw->catalog_timer);
        /* Sessions left live by an earlier run end now if they are idle. */
        gw_idle_start(gw);
    }
    *out = gw;
    return 0;
}

int gateway_port(const struct gateway *gw)
{
    return lws_get_vhost_listen_port(lws_get_vhost_by_name(gw->context, "default"));
}

const char *gateway_public_url(const struct gateway *gw)
{
    return gw->public_url;
}

void gateway_service(struct gateway *gw)
{
    lws_service(gw->context, 0);
}

void gateway_wake(struct gateway *gw)
{
    if (gw && gw->context)
        lws_cancel_service(gw->context);
}

void gateway_begin_drain(struct gateway *gw)
{
    gw->draining = 1;
    if (!gw->ingest)
        return;
    gw_ws_end_utterances(gw);
    /* The workers drain next: what they are to finish must be in the
     * stream by then. */
    if (gw_ingest_wait_idle(gw->ingest, GW_INGEST_DRAIN_MS) < 0)
        bc_warn("shutdown: some audio did not reach the stream; its speakers resend it");
    gw_ws_ingest_results(gw);
}

void gateway_flush(struct gateway *gw, int timeout_ms)
{
    int64_t deadline = bc_now_us() + (int64_t)timeout_ms * 1000;
    gw_ws_dispatch(gw);
    gw_ws_close_all(gw, GW_CLOSE_GOING_AWAY, "server shutting down");
    while (gw->conns && bc_now_us() < deadline)
        lws_service(gw->context, GW_SERVICE_SLICE_MS);
}

void gateway_free(struct gateway *gw)
{
    if (!gw)
        return;
    gw->closing = 1;
    /* Before the context goes: the ingest threads wake it. */
    gw_ingest_free(gw->ingest);
    gw->ingest = NULL;
    lws_sul_cancel(&gw->lag_check);
    lws_sul_cancel(&gw->catalog_timer);
    lws_sul_cancel(&gw->idle_timer);
    lws_context_destroy(gw->context);
    gw_rate_free(gw);
    catalog_free(gw->catalog);
    while (gw->sessions) {
        struct gw_session *next = gw->sessions->next;
        free(gw->sessions);
        gw->sessions = next;
    }
    free(gw);
}

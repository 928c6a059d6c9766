#include "gateway/gateway.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/gateway_internal.h"
#include "pipeline/engines.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define GW_DEFAULT_PORT 8080
#define GW_DEFAULT_MAX_FRAME_BYTES 65536
#define GW_DEFAULT_MAX_SESSIONS 64
#define GW_DEFAULT_MAX_LISTENERS 500
#define GW_DEFAULT_LISTENER_QUEUE_BYTES (4u * 1024 * 1024)
#define GW_DEFAULT_LISTENER_MAX_LAG_MS 10000
#define GW_DEFAULT_RECENT_CAPTIONS 20
#define GW_DEFAULT_SHUTDOWN_TIMEOUT_MS 20000
#define GW_DELIVERY_QUEUE_MAX 65536
#define GW_RX_BUFFER_BYTES 16384
/* After the drain, sockets get this long to receive what is queued and
 * their close. */
#define GW_FLUSH_TIMEOUT_US 2000000
#define GW_CLOSE_GOING_AWAY 1001
#define GW_SERVICE_SLICE_MS 100
#define GW_HTTP_HEAD_BYTES 1024
#define GW_HTTP_STATUS_LINE_MAX 64
/* Requests whose headers do not fit are closed by libwebsockets unanswered;
 * below this size the gateway answers 414 or 431 itself. */
#define GW_HTTP_HEADER_BUFFER_BYTES 16384
#define HTTP_UPGRADE_REQUIRED 426
#define WS_VERSION "13"

static volatile sig_atomic_t stop_requested;
static struct lws_context *signal_context;

static void on_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
    if (signal_context)
        lws_cancel_service(signal_context);
}

void gateway_default_config(struct gateway_config *c)
{
    memset(c, 0, sizeof *c);
    c->listen_host = "127.0.0.1";
    c->port = GW_DEFAULT_PORT;
    c->data_dir = "babelcast-data";
    c->max_frame_bytes = GW_DEFAULT_MAX_FRAME_BYTES;
    c->max_sessions = GW_DEFAULT_MAX_SESSIONS;
    c->max_listeners_per_session = GW_DEFAULT_MAX_LISTENERS;
    c->listener_queue_max_bytes = GW_DEFAULT_LISTENER_QUEUE_BYTES;
    c->listener_max_lag_ms = GW_DEFAULT_LISTENER_MAX_LAG_MS;
    c->recent_captions = GW_DEFAULT_RECENT_CAPTIONS;
    c->with_speech = 1;
    c->shutdown_timeout_ms = GW_DEFAULT_SHUTDOWN_TIMEOUT_MS;
    asr_default_params(&c->asr);
}

static void http_reset(struct conn *c)
{
    free(c->body);
    free(c->response);
    c->body = NULL;
    c->response = NULL;
    c->body_len = c->response_len = 0;
    c->body_too_large = 0;
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

static int http_handle(struct server *srv, struct lws *wsi, struct conn *c)
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
    struct server *srv = lws_context_user(lws_get_context(wsi));
    if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE) {
        /* Before the upgrade the connection has no state of its own yet. */
        struct conn check;
        memset(&check, 0, sizeof check);
        check.wsi = wsi;
        return gw_http_check_upgrade(&check) ? http_refuse(wsi, &check) : 0;
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

static void wake_gateway(void *user_data)
{
    struct server *srv = user_data;
    if (srv->context)
        lws_cancel_service(srv->context);
}

static void on_stream_append(void *user_data, const char *session_id)
{
    struct server *srv = user_data;
    worker_pool_notify(srv->workers, session_id);
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    bc_error("cannot create directory %s: %s", path, strerror(errno));
    return BC_EIO;
}

static int open_storage(struct server *srv)
{
    const struct gateway_config *cfg = &srv->config;
    if (make_dir(cfg->data_dir) < 0)
        return BC_EIO;
    char *db = bc_asprintf("%s/sessions.db", cfg->data_dir);
    struct session_limits limits = {cfg->max_sessions, cfg->max_listeners_per_session};
    int rc = session_registry_open(db, &limits, &srv->registry);
    free(db);
    if (rc < 0)
        return rc;
    char *default_stream = bc_asprintf("file://%s/stream", cfg->data_dir);
    const char *url = cfg->stream_url ? cfg->stream_url : default_stream;
    struct stream_params params;
    stream_default_params(&params);
    rc = stream_open(url, &params, &srv->stream);
    if (rc < 0)
        bc_error("cannot open the ingestion stream %s: %s", url, bc_strerror(rc));
    free(default_stream);
    srv->speech_dir = bc_asprintf("%s/audio", cfg->data_dir);
    return rc;
}

/* Sessions that had audio in the stream when the last run stopped. */
static void recover(struct server *srv)
{
    char ids[GW_DEFAULT_MAX_SESSIONS * 4][STREAM_SESSION_ID_MAX];
    size_t n = stream_sessions_pending(srv->stream, ids, sizeof ids / sizeof ids[0]);
    for (size_t i = 0; i < n; i++) {
        bc_info("session %s: processing audio accepted before the restart", ids[i]);
        worker_pool_notify(srv->workers, ids[i]);
    }
}

static int start(struct server *srv, int ready_fd)
{
    int rc = open_storage(srv);
    if (rc < 0)
        return rc;
    rc = engines_open(&srv->config.asr, srv->config.with_speech, &srv->engines);
    if (rc < 0)
        return rc;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = srv->config.port;
    info.iface = srv->config.listen_host;
    info.protocols = protocols;
    info.user = srv;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.max_http_header_data = GW_HTTP_HEADER_BUFFER_BYTES;
    lws_set_log_level(LLL_ERR, NULL);
    srv->context = lws_create_context(&info);
    if (!srv->context) {
        bc_error("cannot listen on %s:%d", srv->config.listen_host, srv->config.port);
        return BC_EIO;
    }
    int port = lws_get_vhost_listen_port(lws_get_vhost_by_name(srv->context, "default"));
    if (srv->config.public_url)
        snprintf(srv->public_url, sizeof srv->public_url, "%s", srv->config.public_url);
    else
        snprintf(srv->public_url, sizeof srv->public_url, "http://%s:%d",
                 srv->config.listen_host, port);
    srv->bus = delivery_new(GW_DELIVERY_QUEUE_MAX, wake_gateway, srv);
    struct worker_config wc;
    worker_default_config(&wc);
    if (srv->config.workers > 0)
        wc.threads = srv->config.workers;
    wc.archive_dir = srv->speech_dir;
    rc = worker_pool_new(&wc, &srv->engines, srv->stream, srv->registry, srv->bus, &srv->workers);
    if (rc < 0)
        return rc;
    stream_set_notify(srv->stream, on_stream_append, srv);
    gw_ws_start_lag_checks(srv);
    recover(srv);
    bc_info("listening on %s (web root %s, data %s)", srv->public_url, srv->config.web_root,
            srv->config.data_dir);
    if (ready_fd >= 0) {
        char line[32];
        int n = snprintf(line, sizeof line, "%d\n", port);
        if (write(ready_fd, line, (size_t)n) != n)
            bc_warn("could not report the port");
    }
    return 0;
}

/* Ends utterances in flight, lets the workers finish, then gives listeners
 * a moment to receive what is queued. */
static void drain(struct server *srv)
{
    srv->draining = 1;
    for (struct gw_session *s = srv->sessions; s; s = s->next) {
        uint64_t seq;
        if (s->received_samples > 0)
            stream_append(srv->stream, s->id, STREAM_KIND_END, NULL, 0, &seq);
    }
    if (worker_pool_drain(srv->workers, srv->config.shutdown_timeout_ms) < 0)
        bc_warn("shutdown: some audio is still unprocessed; it stays in the stream");
    int64_t deadline = bc_now_us() + GW_FLUSH_TIMEOUT_US;
    gw_ws_dispatch(srv);
    gw_ws_close_all(srv, GW_CLOSE_GOING_AWAY, "server shutting down");
    while (srv->conns && bc_now_us() < deadline)
        lws_service(srv->context, GW_SERVICE_SLICE_MS);
}

static void stop(struct server *srv)
{
    worker_pool_free(srv->workers);
    srv->workers = NULL;
    srv->closing = 1;
    if (srv->context) {
        lws_sul_cancel(&srv->lag_check);
        lws_context_destroy(srv->context);
    }
    signal_context = NULL;
    delivery_free(srv->bus);
    engines_close(&srv->engines);
    stream_close(srv->stream);
    session_registry_close(srv->registry);
    while (srv->sessions) {
        struct gw_session *next = srv->sessions->next;
        free(srv->sessions);
        srv->sessions = next;
    }
    free(srv->speech_dir);
}

int gateway_run(const struct gateway_config *config, int ready_fd)
{
    struct server srv;
    memset(&srv, 0, sizeof srv);
    srv.config = *config;
    srv.started_us = bc_now_us();
    stop_requested = 0;
    int rc = start(&srv, ready_fd);
    if (rc == 0) {
        signal_context = srv.context;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        while (!stop_requested)
            lws_service(srv.context, 0);
        bc_info("shutting down: finishing utterances in flight");
        drain(&srv);
    }
    stop(&srv);
    if (rc == 0)
        bc_info("stopped");
    return rc;
}

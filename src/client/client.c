/* WebSocket client: one lws context and service thread per connection, so
 * callers never deal with the event loop. Other threads hand messages over
 * through a locked queue and wake the loop with lws_cancel_service. */
#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client.h"
#include "client/client_internal.h"
#include "client/client_url.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

/* lws keeps a few descriptors of its own (cancel pipe, DNS) beside ours;
 * a small table avoids allocating one sized to the process fd limit. */
#define WS_FD_LIMIT 16
#define WS_CLOSE_REASON_MAX 123 /* a close frame holds at most 125 bytes */
#define WS_CLOSE_NO_STATUS 1005
#define WS_CLOSE_TOO_BIG 1009
#define WS_MS_PER_S 1000
#define WS_RX_FIRST_BYTES 4096

enum ws_state { WS_CONNECTING, WS_OPEN, WS_CLOSED };

struct ws_msg {
    struct ws_msg *next;
    int binary;
    size_t len;
    unsigned char buf[]; /* LWS_PRE bytes of room, then the payload */
};

struct client_ws {
    struct lws_context *ctx;
    pthread_t thread;
    int thread_started;
    struct client_ws_callbacks cb;
    void *user;
    struct client_url url;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    /* Under mu. */
    enum ws_state state;
    int established; /* the upgrade completed once (it may have closed since) */
    struct lws *wsi;
    int stop, silent;
    int close_asked, close_code;
    char close_reason[WS_CLOSE_REASON_MAX + 1];
    struct ws_msg *head, *tail;
    size_t queued;
    char connect_err[160];

    /* Service thread only. */
    unsigned char *rx;
    size_t rx_len, rx_cap;
    int rx_started, rx_binary, rx_too_big;
    int end_code;
    char end_reason[WS_CLOSE_REASON_MAX + 1];
};

static pthread_once_t ws_log_once = PTHREAD_ONCE_INIT;

static void ws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        n--;
    bc_debug("lws: %.*s", (int)n, line);
}

static void ws_log_init(void)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, ws_log_emit);
}

/* Wakes the service loop so it re-checks the queue and the flags. */
static void ws_kick(struct client_ws *ws)
{
    if (ws->ctx)
        lws_cancel_service(ws->ctx);
}

static void ws_rx(struct client_ws *ws, struct lws *wsi, const void *in, size_t len)
{
    if (!ws->rx_started) {
        ws->rx_started = 1;
        ws->rx_binary = lws_frame_is_binary(wsi);
        ws->rx_len = 0;
        ws->rx_too_big = 0;
    }
    if (ws->rx_len + len > CLIENT_WS_MESSAGE_MAX_BYTES) {
        ws->rx_too_big = 1;
    } else if (len) {
        ws->rx = client_buf_reserve(ws->rx, &ws->rx_cap, ws->rx_len + len + 1, WS_RX_FIRST_BYTES);
        memcpy(ws->rx + ws->rx_len, in, len);
        ws->rx_len += len;
    }
    if (!lws_is_final_fragment(wsi))
        return;
    ws->rx_started = 0;
    if (ws->rx_too_big)
        return;
    if (ws->rx_cap)
        ws->rx[ws->rx_len] = '\0';
    const char *data = ws->rx_cap ? (const char *)ws->rx : "";
    if (ws->rx_binary) {
        if (ws->cb.on_binary)
            ws->cb.on_binary((const uint8_t *)data, ws->rx_len, ws->user);
    } else if (ws->cb.on_text) {
        ws->cb.on_text(data, ws->rx_len, ws->user);
    }
}

/* Returns -1 to make lws close the connection. */
static int ws_writeable(struct client_ws *ws, struct lws *wsi)
{
    pthread_mutex_lock(&ws->mu);
    struct ws_msg *m = ws->head;
    if (m) {
        ws->head = m->next;
        if (!ws->head)
            ws->tail = NULL;
        ws->queued -= m->len;
    } else if (ws->close_asked) {
        int code = ws->close_code;
        char reason[WS_CLOSE_REASON_MAX + 1];
        snprintf(reason, sizeof reason, "%s", ws->close_reason);
        pthread_mutex_unlock(&ws->mu);
        ws->end_code = code;
        snprintf(ws->end_reason, sizeof ws->end_reason, "%s", reason);
        lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
        return -1;
    }
    int more = ws->head != NULL || ws->close_asked;
    pthread_mutex_unlock(&ws->mu);
    if (!m)
        return 0;
    int n = lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    int failed = n < (int)m->len;
    free(m);
    if (failed)
        return -1;
    if (more)
        lws_callback_on_writable(wsi);
    return 0;
}

static void ws_peer_close(struct client_ws *ws, const unsigned char *in, size_t len)
{
    ws->end_code = WS_CLOSE_NO_STATUS;
    ws->end_reason[0] = '\0';
    if (len >= 2) {
        ws->end_code = (in[0] << 8) | in[1];
        size_t n = len - 2 < WS_CLOSE_REASON_MAX ? len - 2 : WS_CLOSE_REASON_MAX;
        memcpy(ws->end_reason, in + 2, n);
        ws->end_reason[n] = '\0';
    }
}

static void ws_closed(struct client_ws *ws)
{
    pthread_mutex_lock(&ws->mu);
    int was_open = ws->state == WS_OPEN;
    int silent = ws->silent;
    ws->wsi = NULL;
    pthread_mutex_unlock(&ws->mu);
    if (was_open && !silent && ws->cb.on_close)
        ws->cb.on_close(ws->end_code ? ws->end_code : CLIENT_WS_CLOSE_ABNORMAL, ws->end_reason,
                        ws->user);
    pthread_mutex_lock(&ws->mu);
    ws->state = WS_CLOSED;
    pthread_cond_broadcast(&ws->cond);
    pthread_mutex_unlock(&ws->mu);
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct client_ws *ws = lws_context_user(lws_get_context(wsi));
    if (!ws)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        unsigned int status = lws_http_client_http_response(wsi);
        pthread_mutex_lock(&ws->mu);
        if (status && status != 101)
            snprintf(ws->connect_err, sizeof ws->connect_err, "the server answered HTTP %u",
                     status);
        else
            snprintf(ws->connect_err, sizeof ws->connect_err, "%s",
                     in ? (const char *)in : "connection failed");
        ws->wsi = NULL;
        ws->state = WS_CLOSED;
        pthread_cond_broadcast(&ws->cond);
        pthread_mutex_unlock(&ws->mu);
        break;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        pthread_mutex_lock(&ws->mu);
        ws->wsi = wsi;
        ws->state = WS_OPEN;
        ws->established = 1;
        if (ws->head || ws->close_asked)
            lws_callback_on_writable(wsi);
        pthread_cond_broadcast(&ws->cond);
        pthread_mutex_unlock(&ws->mu);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        ws_rx(ws, wsi, in, len);
        if (ws->rx_too_big && !ws->rx_started) {
            ws->end_code = WS_CLOSE_TOO_BIG;
            snprintf(ws->end_reason, sizeof ws->end_reason, "message too large");
            lws_close_reason(wsi, WS_CLOSE_TOO_BIG, NULL, 0);
            return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE: return ws_writeable(ws, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: ws_peer_close(ws, in, len); break;
    case LWS_CALLBACK_CLIENT_CLOSED: ws_closed(ws); break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        pthread_mutex_lock(&ws->mu);
        if (ws->wsi && ws->state == WS_OPEN && (ws->head || ws->close_asked))
            lws_callback_on_writable(ws->wsi);
        pthread_mutex_unlock(&ws->mu);
        break;
    default: break;
    }
    return 0;
}

static const struct lws_protocols ws_protocols[] = {
    {"babelcast-client", ws_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *ws_thread(void *arg)
{
    struct client_ws *ws = arg;
    for (;;) {
        pthread_mutex_lock(&ws->mu);
        int done = ws->stop || ws->state == WS_CLOSED;
        pthread_mutex_unlock(&ws->mu);
        if (done || lws_service(ws->ctx, 0) < 0)
            break;
    }
    return NULL;
}

static void ws_deadline(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / WS_MS_PER_S;
    ts->tv_nsec += (long)(timeout_ms % WS_MS_PER_S) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits under mu until the state is (want_closed ? closed : no longer
 * connecting), at most timeout_ms (negative: forever). 0 or ETIMEDOUT. */
static int ws_wait(struct client_ws *ws, int want_closed, int timeout_ms)
{
    struct timespec until;
    ws_deadline(&until, timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        int done = want_closed ? ws->state == WS_CLOSED : ws->state != WS_CONNECTING;
        if (done)
            return 0;
        if (timeout_ms < 0)
            pthread_cond_wait(&ws->cond, &ws->mu);
        else if (pthread_cond_timedwait(&ws->cond, &ws->mu, &until) == ETIMEDOUT)
            timeout_ms = 0;
        if (timeout_ms == 0) {
            done = want_closed ? ws->state == WS_CLOSED : ws->state != WS_CONNECTING;
            return done ? 0 : ETIMEDOUT;
        }
    }
}

int client_ws_new(const char *url, const struct client_ws_callbacks *cb, void *user,
                  int connect_timeout_ms, struct client_ws **out, char *err, size_t err_len)
{
    *out = NULL;
    int rc;
    struct client_ws *ws = bc_calloc(1, sizeof *ws);
    bc_cond_init_monotonic(&ws->cond);
    pthread_mutex_init(&ws->mu, NULL);
    if (cb)
        ws->cb = *cb;
    ws->user = user;
    rc = client_url_parse(url, &ws->url, err, err_len);
    if (rc)
        goto fail;
    pthread_once(&ws_log_once, ws_log_init);

    unsigned timeout_s = (unsigned)((connect_timeout_ms + WS_MS_PER_S - 1) / WS_MS_PER_S);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = ws_protocols;
    info.gid = -1;
    info.uid = -1;
    info.user = ws;
    info.fd_limit_per_thread = WS_FD_LIMIT;
    info.timeout_secs = timeout_s ? timeout_s : 1;
    info.connect_timeout_secs = info.timeout_secs;
    ws->ctx = lws_create_context(&info);
    if (!ws->ctx) {
        snprintf(err, err_len, "cannot create the WebSocket context");
        rc = BC_EIO;
        goto fail;
    }

    char host_header[CLIENT_URL_HOST_MAX + 8];
    snprintf(host_header, sizeof host_header, "%s:%d", ws->url.host, ws->url.port);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ws->ctx;
    ci.address = ws->url.host;
    ci.port = ws->url.port;
    ci.path = ws->url.path;
    ci.host = host_header;
    ci.origin = host_header;
    ci.local_protocol_name = ws_protocols[0].name;
    if (!lws_client_connect_via_info(&ci)) {
        pthread_mutex_lock(&ws->mu);
        if (!ws->connect_err[0])
            snprintf(ws->connect_err, sizeof ws->connect_err, "connection failed");
        ws->state = WS_CLOSED;
        pthread_mutex_unlock(&ws->mu);
    }
    if (pthread_create(&ws->thread, NULL, ws_thread, ws) != 0) {
        snprintf(err, err_len, "cannot start the WebSocket thread");
        rc = BC_EIO;
        goto fail;
    }
    ws->thread_started = 1;

    pthread_mutex_lock(&ws->mu);
    int waited = ws_wait(ws, 0, connect_timeout_ms);
    int established = ws->established;
    if (!established)
        snprintf(err, err_len, "cannot connect to %s:%d: %s", ws->url.host, ws->url.port,
                 ws->connect_err[0] ? ws->connect_err : "connection closed");
    pthread_mutex_unlock(&ws->mu);
    if (waited == ETIMEDOUT) {
        snprintf(err, err_len, "cannot connect to %s:%d: timed out after %d ms", ws->url.host,
                 ws->url.port, connect_timeout_ms);
        rc = BC_ETIMEDOUT;
        goto fail;
    }
    if (!established) {
        rc = BC_EIO;
        goto fail;
    }
    *out = ws;
    return 0;
fail:
    client_ws_free(ws);
    return rc;
}

static int ws_send(struct client_ws *ws, int binary, const void *data, size_t len)
{
    pthread_mutex_lock(&ws->mu);
    int rc = 0;
    if (ws->state == WS_CLOSED || ws->close_asked || ws->stop)
        rc = BC_ECLOSED;
    else if (ws->queued && ws->queued + len > CLIENT_WS_QUEUE_MAX_BYTES)
        rc = BC_EAGAIN;
    if (rc) {
        pthread_mutex_unlock(&ws->mu);
        return rc;
    }
    pthread_mutex_unlock(&ws->mu);
    /* Copy outside the lock: frames can be large. */
    struct ws_msg *m = bc_malloc(sizeof *m + LWS_PRE + len);
    m->next = NULL;
    m->binary = binary;
    m->len = len;
    if (len)
        memcpy(m->buf + LWS_PRE, data, len);
    pthread_mutex_lock(&ws->mu);
    if (ws->tail)
        ws->tail->next = m;
    else
        ws->head = m;
    ws->tail = m;
    ws->queued += len;
    pthread_mutex_unlock(&ws->mu);
    ws_kick(ws);
    return 0;
}

int client_ws_send_text(struct client_ws *ws, const char *text, size_t len)
{
    return ws_send(ws, 0, text, len);
}

int client_ws_send_binary(struct client_ws *ws, const void *data, size_t len)
{
    return ws_send(ws, 1, data, len);
}

size_t client_ws_queued_bytes(struct client_ws *ws)
{
    pthread_mutex_lock(&ws->mu);
    size_t n = ws->queued;
    pthread_mutex_unlock(&ws->mu);
    return n;
}

void client_ws_close(struct client_ws *ws, int code, const char *reason)
{
    pthread_mutex_lock(&ws->mu);
    if (!ws->close_asked) {
        ws->close_asked = 1;
        ws->close_code = code;
        snprintf(ws->close_reason, sizeof ws->close_reason, "%s", reason ? reason : "");
    }
    pthread_mutex_unlock(&ws->mu);
    ws_kick(ws);
}

int client_ws_wait_closed(struct client_ws *ws, int timeout_ms)
{
    pthread_mutex_lock(&ws->mu);
    int rc = ws_wait(ws, 1, timeout_ms);
    pthread_mutex_unlock(&ws->mu);
    return rc ? BC_ETIMEDOUT : 0;
}

int client_ws_is_open(struct client_ws *ws)
{
    pthread_mutex_lock(&ws->mu);
    int open = ws->state == WS_OPEN;
    pthread_mutex_unlock(&ws->mu);
    return open;
}

void client_ws_free(struct client_ws *ws)
{
    if (!ws)
        return;
    pthread_mutex_lock(&ws->mu);
    ws->stop = 1;
    ws->silent = 1;
    pthread_mutex_unlock(&ws->mu);
    if (ws->thread_started) {
        ws_kick(ws);
        pthread_join(ws->thread, NULL);
    }
    if (ws->ctx)
        lws_context_destroy(ws->ctx);
    struct ws_msg *m = ws->head;
    while (m) {
        struct ws_msg *next = m->next;
        free(m);
        m = next;
    }
    free(ws->rx);
    pthread_cond_destroy(&ws->cond);
    pthread_mutex_destroy(&ws->mu);
    free(ws);
}

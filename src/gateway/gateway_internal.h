/* Shared by the gateway's files; not part of its interface. Everything here
 * is touched by the service thread only, unless a comment says otherwise. */
#ifndef BC_GATEWAY_INTERNAL_H
#define BC_GATEWAY_INTERNAL_H

#include <libwebsockets.h>
#include <stdint.h>

#include "delivery/delivery.h"
#include "gateway/gateway.h"
#include "catalog/catalog.h"
#include "session/session.h"
#include "stream/stream.h"

#define GW_HTTP_BODY_MAX 16384
#define GW_URI_MAX 512

enum conn_kind { CONN_HTTP = 0, CONN_SPEAKER, CONN_LISTENER };

/* A message waiting for one connection's socket. */
struct gw_queued {
    struct delivery_msg *msg;
    int64_t enqueued_us;
};

/* Per-connection state, allocated and zeroed by libwebsockets. */
struct conn {
    enum conn_kind kind;
    struct lws *wsi;
    struct conn *next; /* WebSocket connections list */
    char session[SESSION_ID_LEN + 1];
    char lang[SESSION_LANG_LEN];
    enum delivery_codec codec; /* listeners: the audio they asked for */
    /* outgoing messages, shared with other receivers */
    struct gw_queued *queue;
    size_t queue_head, queue_count, queue_cap, queue_bytes;
    /* speaker frame reassembly */
    uint8_t *rx;
    size_t rx_len;
    int frames_since_ack;
    /* a close requested outside the writeable callback */
    int close_code;
    char close_reason[96];
    /* HTTP */
    char uri[GW_URI_MAX];
    int method; /* enum gw_method */
    char *body;
    size_t body_len;
    int body_too_large;
    char *response;
    size_t response_len;
    int response_status;
    const char *response_type;
    int answered; /* this request got its response: later body callbacks are ignored */
};

/* Gateway-side state of a live session. */
struct gw_session {
    char id[SESSION_ID_LEN + 1];
    int64_t received_samples;
    struct conn *speaker;
    struct gw_session *next;
};

struct gateway {
    struct gateway_config config;
    struct gateway_deps deps;
    char public_url[256];
    struct lws_context *context;
    struct session_registry *registry;
    struct stream *stream;
    struct delivery *bus;
    struct catalog *catalog; /* NULL until a worker has published one */
    struct conn *conns;
    struct gw_session *sessions;
    int64_t started_us;
    int draining; /* shutting down: no new audio is accepted */
    int closing;  /* connection closes only free memory */
    lws_sorted_usec_list_t lag_check;
    lws_sorted_usec_list_t catalog_timer;
};

enum gw_method { GW_GET = 1, GW_POST, GW_DELETE, GW_OTHER, GW_OTHER_WITH_BODY };

/* gateway_http.c: answers an HTTP request (conn->uri, method, body) by
 * filling conn->response*, or returns 1 after starting a static file. */
int gw_http_handle(struct gateway *srv, struct conn *c);
/* Fills conn->response* with {"error": message, "code": code}; returns 0. */
int gw_respond_error(struct conn *c, int status, const char *code, const char *message);

/* gateway_request.c: checks what libwebsockets lets through before any
 * body is read: URI and header sizes, Content-Length and Transfer-Encoding.
 * Returns 0, or 1 after filling conn->response* with the error: the framing
 * of what follows is unknown, so the connection must close after it. */
int gw_http_check_request(struct conn *c);
/* The same for a WebSocket upgrade request (sizes, Sec-WebSocket-Version,
 * Sec-WebSocket-Key): 0 to upgrade, or 1 with conn->response* filled. */
int gw_http_check_upgrade(struct conn *c);
/* The standard reason phrase of an HTTP status ("Created"), "" if unknown. */
const char *gw_http_reason(int status);

/* gateway_request.c: the value of query argument name ("lang") into out:
 * 0; 1 when absent (out is then ""); -1 when longer than len - 1. */
int gw_query_arg(struct lws *wsi, const char *name, char *out, size_t len);

/* gateway_metrics.c: fills conn->response* with the Prometheus metrics. */
int gw_metrics_respond(struct gateway *srv, struct conn *c);

/* gateway_ws.c */
int gw_ws_established(struct gateway *srv, struct conn *c);
int gw_ws_receive(struct gateway *srv, struct conn *c, const void *in, size_t len);
int gw_ws_writeable(struct gateway *srv, struct conn *c);
void gw_ws_closed(struct gateway *srv, struct conn *c);
void gw_ws_dispatch(struct gateway *srv);
/* Drops lagging listeners every GW_LAG_CHECK_INTERVAL_MS from now on. */
void gw_ws_start_lag_checks(struct gateway *srv);
/* Shutdown: every speaker and listener gets close code (1001) after what is
 * queued for it; each leaves srv->conns once its close is done. */
void gw_ws_close_all(struct gateway *srv, int code, const char *reason);
struct gw_session *gw_session_find(struct gateway *srv, const char *id, int create);
/* Appends a session end to the stream (DELETE or shutdown). */
int gw_end_session(struct gateway *srv, const char *id);

#endif

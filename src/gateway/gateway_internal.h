/* Shared by the gateway's files; not part of its interface. Everything here
 * is touched by the service thread only, unless a comment says otherwise. */
#ifndef BC_GATEWAY_INTERNAL_H
#define BC_GATEWAY_INTERNAL_H

#include <libwebsockets.h>
#include <stdint.h>

#include "delivery/delivery.h"
#include "gateway/gateway.h"
#include "gateway/gateway_ingest.h"
#include "catalog/catalog.h"
#include "session/session.h"
#include "stream/stream.h"

struct cJSON;

#define GW_HTTP_BODY_MAX 16384
#define GW_URI_MAX 512
#define GW_ORIGIN_MAX 256
#define GW_ADDR_MAX 64 /* a client's address as text */
#define GW_CLOSE_REASON_MAX 120 /* a WebSocket close reason fits in 123 bytes */

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
    /* speakers: records on their way to the stream (gateway_ingest.h) */
    struct gw_feed *feed;
    size_t ingest_records, ingest_bytes;
    int rx_paused;      /* reads paused: too much queued, or ready not sent yet */
    int awaiting_ready; /* the session's earlier records are still being appended */
    /* a close requested outside the writeable callback */
    int close_code;
    char close_reason[GW_CLOSE_REASON_MAX];
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
    int retry_after_s; /* > 0: a Retry-After header */
    int answered; /* this request got its response: later body callbacks are ignored */
};

/* gateway_admission.c: a slot of the workers' room held for a speaker
 * admitted to a session no worker has taken yet. */
#define GW_RESERVATIONS_MAX 128
struct gw_reservation {
    char session[SESSION_ID_LEN + 1];
    int64_t since_us;
};

/* Gateway-side state of a live session. */
struct gw_session {
    char id[SESSION_ID_LEN + 1];
    int64_t received_samples; /* accepted by the stream */
    size_t ingest_pending;    /* records submitted, their results not handled yet */
    struct conn *speaker;
    struct gw_session *next;
};

struct gateway {
    struct gateway_config config;
    struct gateway_deps deps;
    char public_url[256];
    char own_origin[GW_ORIGIN_MAX]; /* the public URL's, normalized */
    struct lws_context *context;
    struct session_registry *registry;
    struct stream *stream;
    struct delivery *bus;
    struct catalog *catalog; /* NULL until a worker has published one */
    struct conn *conns;
    struct gw_session *sessions;
    struct gw_ingest *ingest; /* NULL with health_only */
    uint64_t last_feed_gen;
    int64_t started_us;
    int draining; /* shutting down: no new audio is accepted */
    int closing;  /* connection closes only free memory */
    lws_sorted_usec_list_t lag_check;
    lws_sorted_usec_list_t catalog_timer;
    lws_sorted_usec_list_t idle_timer;
    struct gw_reservation reservations[GW_RESERVATIONS_MAX];
    size_t n_reservations;
    struct gw_rate_client *rate_clients; /* gateway_limits.c */
    size_t n_rate_clients;
};

enum gw_method { GW_GET = 1, GW_POST, GW_DELETE, GW_OTHER, GW_OTHER_WITH_BODY };

/* gateway_http.c: answers an HTTP request (conn->uri, method, body) by
 * filling conn->response*, or returns 1 after starting a static file. */
int gw_http_handle(struct gateway *srv, struct conn *c);
/* gateway_auth.c: the value of an "Authorization: Bearer VALUE" header
 * into out, or "". */
void gw_bearer_token(struct lws *wsi, char *out, size_t len);
/* Whether this request may read session info (listen, transcript, details):
 * 1 for a public session; for a private one 1 when it carries the listener
 * key (query key=, or Authorization: Bearer) or the speaker token (query
 * token=, or Bearer), copying a valid listener key into key (else ""). */
int gw_may_listen(struct gateway *srv, struct lws *wsi, const struct session_info *info,
                  char *key, size_t key_len);
/* Fills conn->response* with {"error": message, "code": code}; returns 0. */
int gw_respond_error(struct conn *c, int status, const char *code, const char *message);
/* Fills conn->response* with json (consumed). */
void gw_respond_json(struct conn *c, int status, struct cJSON *json);
/* The request body as one JSON object and nothing else, or NULL after
 * answering 400. */
struct cJSON *gw_parse_body(struct conn *c);
/* Answers a failed registry call rc (507 disk full, 503 unreachable, else
 * 500 with message or rc's text); returns 0. */
int gw_respond_store_failure(struct conn *c, int rc, const char *message);

/* gateway_glossary.c: a session's glossary. */
#define GW_GLOSSARY_PATH "/glossary"
/* Validates value, the "glossary" of a request (NULL: none given), into
 * canonical JSON in *json (heap; NULL when none given). Returns 0, or 1
 * after answering 400 (with the reason) or 503 (no languages known yet). */
int gw_glossary_check(struct gateway *srv, struct conn *c, const struct cJSON *value,
                      char **json);
/* Stores a checked glossary for session id; session_glossary_set's codes. */
int gw_glossary_store(struct gateway *srv, const char *id, const char *json);
/* GET (anyone who may read the session) and PUT (the speaker's token) of
 * /api/sessions/ID/glossary. Returns 0 with the response filled. */
int gw_glossary_route(struct gateway *srv, struct conn *c, const struct session_info *info);

/* gateway_request.c: checks what libwebsockets lets through before any
 * body is read: URI and header sizes, Content-Length and Transfer-Encoding.
 * Returns 0, or 1 after filling conn->response* with the error: the framing
 * of what follows is unknown, so the connection must close after it. */
int gw_http_check_request(struct conn *c);
/* The same for a WebSocket upgrade request (sizes, Sec-WebSocket-Version,
 * Sec-WebSocket-Key): 0 to upgrade, or 1 with conn->response* filled. */
int gw_http_check_upgrade(struct conn *c);
/* Origin of a WebSocket upgrade or a state-changing request: 0 when
 * allowed (gw_origin_allowed), or 1 with a 403 bad_origin filled in. */
int gw_http_check_origin(struct gateway *gw, struct conn *c);
/* The standard reason phrase of an HTTP status ("Created"), "" if unknown. */
const char *gw_http_reason(int status);

/* gateway_request.c: the value of query argument name ("lang") into out:
 * 0; 1 when absent (out is then ""); -1 when longer than len - 1. */
int gw_query_arg(struct lws *wsi, const char *name, char *out, size_t len);

/* gateway_origin.c: "scheme://host[:port]..." as "scheme://host:port"
 * (lower case, default port explicit) into out; 0 or -1 when it is not an
 * http(s) origin. */
int gw_origin_normalize(const char *in, char *out, size_t len);
/* Sets gw->own_origin from the public URL and checks the allowed origins;
 * 0 or BC_EINVAL (logged). */
int gw_origin_init(struct gateway *gw);
/* 1 when the request carries no Origin, or one of the server's own (its
 * public URL's, or the Host header's), or an allowed one; else 0. */
int gw_origin_allowed(struct gateway *gw, struct lws *wsi);

/* gateway_limits.c: takes one session creation from addr's allowance:
 * 1, or 0 with the seconds until the next one in *retry_after_s. */
int gw_rate_take(struct gateway *gw, const char *addr, int *retry_after_s);
void gw_rate_free(struct gateway *gw);
/* Ends every live session idle (no speaker) for config.idle_session_s, as
 * DELETE does; records this gateway's speakers as active. Returns how many
 * it ended. gw_idle_start sweeps now and then every few seconds. */
int gw_idle_sweep(struct gateway *gw);
void gw_idle_start(struct gateway *gw);

/* gateway_admission.c: 1 when the workers announced room for one more
 * session beyond the slots this gateway holds for speakers whose sessions
 * no worker has taken yet, or when no worker announced any (or the
 * registry cannot be read): nothing to judge by, the stream holds the
 * audio until a worker takes it. */
int gw_workers_have_room(struct gateway *gw);
/* The same for the speaker of session, which has no audio in the stream
 * yet; when 1, a slot is held for it until its audio is in the stream and
 * the worker that takes it has announced its room again (or for
 * GW_RESERVATION_MAX_MS): a burst of speakers cannot all take the same
 * room. */
int gw_reserve_room(struct gateway *gw, const char *session);
/* Fills conn->response* with 503 server_full and a Retry-After; returns 0. */
int gw_refuse_server_full(struct conn *c);
/* Adds "shedding" ("none", "translated_partials", "partials") to a
 * session's details; left out when the registry cannot say. */
void gw_add_shedding(struct gateway *gw, cJSON *json, const struct session_info *info);

/* gateway_tls.c: the paths of DIR/cert.pem and DIR/key.pem (heap, caller
 * frees both, also after a failure), made (0600, in a 0700 DIR) as a
 * self-signed certificate for host, public_url's host (may be NULL), this
 * machine's name, localhost and 127.0.0.1 unless both exist already.
 * Returns 0 or BC_EIO (logged). */
int gw_tls_self_signed(const char *dir, const char *host, const char *public_url,
                       char **cert_path, char **key_path);
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
/* Queues a session end (DELETE, idle sweep) for the stream, after the
 * session's queued audio; a failed append is logged. */
void gw_end_session(struct gateway *srv, const char *id);
/* Queues an utterance end for every session with a speaker here (shutdown). */
void gw_ws_end_utterances(struct gateway *srv);
/* Handles the results of appends (acks, closes, paused reads). */
void gw_ws_ingest_results(struct gateway *srv);

#endif

/* The gateway: one libwebsockets service thread serving the REST API, the
 * speaker and listener WebSockets, static web pages and /healthz, on one
 * port. It appends speaker audio to the ingestion stream (on its ingest
 * threads, never on the service thread: gateway_ingest.h) and fans the
 * results that the delivery bus brings out to listeners. It never opens an
 * engine: the languages it offers come from a catalog the workers publish.
 *
 * Threads: everything but gateway_wake runs on the thread that calls
 * gateway_service. */
#ifndef BC_GATEWAY_H
#define BC_GATEWAY_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct session_registry;
struct stream;
struct delivery;

struct gateway_config {
    const char *listen_host;          /* default 127.0.0.1 */
    int port;                         /* default 8080; 0 picks a free port */
    const char *web_root;             /* static files */
    const char *public_url;           /* base of listen links; default http://host:port
                                         (https:// with TLS) */
    int health_only;                  /* serve /healthz alone (a worker's port) */
    size_t max_frame_bytes;           /* largest speaker frame; default 65536 */
    int listener_max_lag_ms;          /* a listener whose oldest unsent message is older is
                                         dropped; default 10000 */
    size_t listener_queue_max_bytes;  /* and one with this much unsent; default 4 MiB */
    int recent_captions;              /* finals replayed to a late joiner; default 20 */
    /* Origins besides the server's own whose pages may open sockets and
     * send POST/PUT/PATCH/DELETE ("https://app.example.org"); borrowed. */
    const char *const *allow_origins;
    size_t n_allow_origins;
    int session_rate_per_min;         /* sessions one client address may create per
                                         minute (429 beyond); default 10; 0: no limit */
    int idle_session_s;               /* a live session without a speaker this long
                                         ends by itself; default 1800; 0: never */
    const char *tls_cert;             /* PEM files: serve https and wss on the port */
    const char *tls_key;
    const char *tls_self_signed_dir;  /* without tls_cert: make (once) and use a
                                         self-signed certificate kept in this directory */
    int retention_days;               /* transcripts and archived speech of a session
                                         are deleted this long after its end (by the
                                         role that holds them); default 30; 0: kept */
};

/* What the gateway works with; borrowed, outliving the gateway. With
 * health_only, registry, stream and bus may be NULL. */
struct gateway_deps {
    struct session_registry *registry;
    struct stream *stream;
    struct delivery *bus;
    /* The catalog JSON (catalog/catalog.h) into *json (heap, the gateway
     * frees it); BC_ENOTFOUND while no worker has published one. Called on
     * the gateway's thread at start and every GATEWAY_CATALOG_REFRESH_MS
     * (GATEWAY_CATALOG_RETRY_MS while it has none). */
    int (*fetch_catalog)(void *user_data, char **json);
    /* Adds role-specific fields to the /healthz answer; may be NULL. */
    void (*health)(void *user_data, cJSON *json);
    void *user_data;
};

#define GATEWAY_CATALOG_REFRESH_MS 5000
#define GATEWAY_CATALOG_RETRY_MS 500 /* while none is known */

struct gateway;

void gateway_default_config(struct gateway_config *config);

/* Listens. Returns 0 and *out (free with gateway_free), BC_EINVAL when the
 * public URL or an allowed origin is malformed, or BC_EIO when the address
 * cannot be bound (logged). */
int gateway_new(const struct gateway_config *config, const struct gateway_deps *deps,
                struct gateway **out);
/* The port listened on (useful after asking for port 0). */
int gateway_port(const struct gateway *gw);
const char *gateway_public_url(const struct gateway *gw);
/* Serves sockets once: returns after handling what happened, or after a
 * timer (one runs every 500 ms), or after gateway_wake. */
void gateway_service(struct gateway *gw);
/* Makes gateway_service return soon and deliver what the bus holds.
 * Thread-safe and async-signal-safe. */
void gateway_wake(struct gateway *gw);
/* Shutdown, step one: refuses new audio and appends an utterance end for
 * every session with a speaker here, so its last words are processed.
 * Returns once everything queued for the stream is appended (or refused),
 * or after 10 s. */
void gateway_begin_drain(struct gateway *gw);
/* Step two: closes every speaker and listener (1001 "server shutting down")
 * after what is queued for it, serving until all are closed or timeout_ms
 * passes. */
void gateway_flush(struct gateway *gw, int timeout_ms);
/* Stops the ingest threads (after the appends in progress; records still
 * queued are dropped, unacknowledged) and listening, and frees what is
 * left. Call before closing the stream. NULL is a no-op. */
void gateway_free(struct gateway *gw);

#endif

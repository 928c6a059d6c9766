/* Client side of the babelcast API: a WebSocket connection with its own
 * service thread (libwebsockets, ws:// only) and blocking REST calls
 * (libcurl). Used by `babelcast speak`, `babelcast listen` and the live
 * benchmark. */
#ifndef BC_CLIENT_H
#define BC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* Frames waiting to be written, in bytes, before a send says BC_EAGAIN. */
#define CLIENT_WS_QUEUE_MAX_BYTES (512 * 1024)
/* A received message larger than this closes the connection (1009). */
#define CLIENT_WS_MESSAGE_MAX_BYTES (16 * 1024 * 1024)
/* Close code reported when the connection dropped without a close frame. */
#define CLIENT_WS_CLOSE_ABNORMAL 1006

/* Callbacks run on the connection's service thread, one at a time; they
 * must not call client_ws_free. The data pointers are valid only during
 * the call. Any of them may be NULL. */
struct client_ws_callbacks {
    void (*on_text)(const char *text, size_t len, void *user);
    void (*on_binary)(const uint8_t *data, size_t len, void *user);
    /* Runs once when an established connection ends: the peer's close code
     * and reason ("" when none), or our own code when we closed first, or
     * CLIENT_WS_CLOSE_ABNORMAL when the connection dropped. */
    void (*on_close)(int code, const char *reason, void *user);
};

struct client_ws;

/* Connects to url ("ws://host[:port]/path?query" or the same with http://;
 * port 80 by default) and waits until the upgrade completes or
 * connect_timeout_ms passes. cb is copied; user is passed to every
 * callback. Returns 0 and *out (free with client_ws_free), or BC_EINVAL
 * (malformed URL, TLS asked for), BC_EIO (refused, DNS, upgrade rejected)
 * or BC_ETIMEDOUT, with a one-line reason in err (err_len bytes). */
int client_ws_new(const char *url, const struct client_ws_callbacks *cb, void *user,
                  int connect_timeout_ms, struct client_ws **out, char *err, size_t err_len);

/* Queues one message (copied) for the service thread. Thread-safe.
 * Returns 0, BC_EAGAIN (queue holds CLIENT_WS_QUEUE_MAX_BYTES: retry later)
 * or BC_ECLOSED (closed or closing). */
int client_ws_send_text(struct client_ws *ws, const char *text, size_t len);
int client_ws_send_binary(struct client_ws *ws, const void *data, size_t len);
/* Bytes queued and not yet handed to the socket. Thread-safe. */
size_t client_ws_queued_bytes(struct client_ws *ws);

/* Sends the queued messages, then closes with code (1000..4999) and reason
 * (may be NULL). Returns at once; thread-safe; later calls are no-ops. */
void client_ws_close(struct client_ws *ws, int code, const char *reason);
/* Waits until the connection has ended (on_close has returned), at most
 * timeout_ms (negative: forever). Returns 0 or BC_ETIMEDOUT. */
int client_ws_wait_closed(struct client_ws *ws, int timeout_ms);
/* 1 while the connection is up (even if a close was asked for), else 0. */
int client_ws_is_open(struct client_ws *ws);

/* Drops the connection if still open (without running on_close), joins
 * the service thread and frees. NULL is a no-op. Not from a callback. */
void client_ws_free(struct client_ws *ws);

/* One HTTP request. method "GET", "POST", "DELETE"...; body may be NULL
 * (sent as application/json when given); headers is NULL or a
 * NULL-terminated list of "Name: value". Waits at most timeout_ms in total
 * (connecting included). Returns 0 with *status and the response body in
 * *resp (NUL-terminated, caller frees; *resp_len bytes without the NUL;
 * resp/resp_len may be NULL), or BC_EINVAL / BC_EIO / BC_ETIMEDOUT with a
 * one-line reason in err. Any HTTP status counts as success here. */
int client_http(const char *method, const char *url, const char *body, const char *const *headers,
                int timeout_ms, long *status, char **resp, size_t *resp_len, char *err,
                size_t err_len);

/* POST base_url/api/sessions with source "en" and the n_targets targets.
 * Returns 0 with the new session's id and speaker token (caller frees
 * both), BC_EIO / BC_ETIMEDOUT (not reachable) or BC_EINVAL, BC_ELIMIT
 * (429), BC_ENOTFOUND (422 unknown language), BC_EAGAIN (503: the server
 * is full or has no worker; retry later) with the server's message in
 * err. */
int client_rest_create_session(const char *base_url, const char *const *targets, size_t n_targets,
                               int timeout_ms, char **id, char **token, char *err, size_t err_len);
/* DELETE base_url/api/sessions/{id} with the token. Returns 0 (204),
 * BC_EAUTH, BC_ENOTFOUND, BC_ESTATE (already ended) or BC_EIO. */
int client_rest_end_session(const char *base_url, const char *id, const char *token, int timeout_ms,
                            char *err, size_t err_len);

/* base_url without trailing slashes followed by the printf-formatted path,
 * as a new heap string. */
char *client_url_join(const char *base_url, const char *path_fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Percent-encodes everything except unreserved characters; caller frees. */
char *client_url_escape(const char *text);

#endif

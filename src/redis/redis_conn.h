/* One connection to Redis, shared by the stream, registry and delivery
 * backends: URL parsing, AUTH and SELECT, reconnection with backoff, and
 * the key names every backend agrees on.
 *
 * URL: redis://[:password@]host[:port][/db] (port 6379, db 0 by default).
 * Every key of a session carries the hash tag {ID} so that one session lives
 * on one Redis Cluster slot: see REDIS_KEY_FMT.
 *
 * All functions are thread-safe: commands on one redis_conn are serialized
 * by its mutex. A subscriber (blocking reads) needs a connection of its own. */
#ifndef BC_REDIS_CONN_H
#define BC_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>

/* Key of a session: snprintf(buf, len, REDIS_KEY_FMT, id, "audio") gives
 * "bc:{ID}:audio". */
#define REDIS_KEY_FMT "bc:{%s}:%s"
/* The fencing token of a session's current lease (an integer). The stream
 * backend writes it when a lease is granted; any backend that must refuse a
 * stale owner's writes compares against it in the same Lua script. */
#define REDIS_FENCE_SUFFIX "fence"

#define REDIS_URL_MAX 512

struct redis_url {
    char host[256];
    int port;
    char password[128]; /* "" when none */
    int db;
};

/* Parses url into *out. Returns 0 or BC_EINVAL. */
int redis_url_parse(const char *url, struct redis_url *out);

struct redis_conn;

/* Connects (connect and command timeout timeout_ms; 0: 2000). A server that
 * is down is not an error: commands fail with BC_EIO until it is back, and
 * the connection retries with backoff. Returns 0 and *out (free with
 * redis_conn_close) or BC_EINVAL for a bad URL. */
int redis_conn_open(const char *url, int timeout_ms, struct redis_conn **out);
void redis_conn_close(struct redis_conn *c);

/* Runs one command given as argv (binary-safe: lens). On success returns 0
 * and *reply (caller frees with freeReplyObject; an error reply is returned
 * as such, type REDIS_REPLY_ERROR). Returns BC_EIO when Redis cannot be
 * reached now (the connection is dropped and re-tried with backoff on later
 * calls). */
int redis_conn_command(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
                       redisReply **reply);
/* printf-style form of the above (hiredis format: %s, %b with a length). */
int redis_conn_commandf(struct redis_conn *c, redisReply **reply, const char *fmt, ...);

/* 1 while the last command reached Redis (or none was tried yet), 0 while
 * it is unreachable. */
int redis_conn_up(struct redis_conn *c);

/* A blocking connection for SUBSCRIBE and friends, not shared: the caller
 * owns it (redisFree) and handles its errors. Returns NULL when Redis cannot
 * be reached now. read_timeout_ms bounds each redisGetReply (0: none). */
redisContext *redis_connect_raw(const struct redis_url *url, int read_timeout_ms);

#endif

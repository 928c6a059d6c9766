#include "redis/redis_conn.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define REDIS_DEFAULT_PORT 6379
#define REDIS_DEFAULT_TIMEOUT_MS 2000
#define REDIS_BACKOFF_MIN_US 50000
#define REDIS_BACKOFF_MAX_US 2000000
#define REDIS_MAX_DB 1000000

struct redis_conn {
    pthread_mutex_t lock;
    struct redis_url url;
    int timeout_ms;
    redisContext *ctx;
    int up;
    int64_t next_attempt_us;
    int64_t backoff_us;
};

static int parse_number(const char *text, size_t len, int max, int *out)
{
    if (len == 0 || len > 9)
        return BC_EINVAL;
    int value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return BC_EINVAL;
        value = value * 10 + (text[i] - '0');
    }
    if (value > max)
        return BC_EINVAL;
    *out = value;
    return 0;
}

int redis_url_parse(const char *url, struct redis_url *out)
{
    static const char scheme[] = "redis://";
    memset(out, 0, sizeof *out);
    out->port = REDIS_DEFAULT_PORT;
    if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0)
        return BC_EINVAL;
    const char *p = url + sizeof scheme - 1;
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t n = (size_t)(at - pw);
        if (n >= sizeof out->password)
            return BC_EINVAL;
        memcpy(out->password, pw, n);
        out->password[n] = '\0';
        p = at + 1;
    }
    size_t host_len = strcspn(p, ":/");
    if (host_len == 0 || host_len >= sizeof out->host)
        return BC_EINVAL;
    memcpy(out->host, p, host_len);
    out->host[host_len] = '\0';
    p += host_len;
    if (*p == ':') {
        size_t n = strcspn(p + 1, "/");
        if (parse_number(p + 1, n, 65535, &out->port) < 0 || out->port == 0)
            return BC_EINVAL;
        p += 1 + n;
    }
    if (*p == '/' && p[1] != '\0') {
        if (parse_number(p + 1, strlen(p + 1), REDIS_MAX_DB, &out->db) < 0)
            return BC_EINVAL;
    } else if (*p != '\0' && strcmp(p, "/") != 0) {
        return BC_EINVAL;
    }
    return 0;
}

static int handshake(redisContext *ctx, const struct redis_url *url)
{
    redisReply *r;
    if (url->password[0]) {
        r = redisCommand(ctx, "AUTH %s", url->password);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        if (r && !ok)
            bc_error("redis: AUTH refused: %s", r->str);
        freeReplyObject(r);
        if (!ok)
            return BC_EAUTH;
    }
    if (url->db) {
        r = redisCommand(ctx, "SELECT %d", url->db);
        int ok = r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (!ok)
            return BC_EIO;
    }
    return 0;
}

redisContext *redis_connect_raw(const struct redis_url *url, int read_timeout_ms)
{
    struct timeval tv = {REDIS_DEFAULT_TIMEOUT_MS / 1000, 0};
    redisContext *ctx = redisConnectWithTimeout(url->host, url->port, tv);
    if (!ctx || ctx->err || handshake(ctx, url) < 0) {
        if (ctx)
            redisFree(ctx);
        return NULL;
    }
    struct timeval rt = {read_timeout_ms / 1000, (read_timeout_ms % 1000) * 1000};
    if (read_timeout_ms > 0)
        redisSetTimeout(ctx, rt);
    return ctx;
}

int redis_conn_open(const char *url, int timeout_ms, struct redis_conn **out)
{
    *out = NULL;
    struct redis_url parsed;
    if (redis_url_parse(url, &parsed) < 0)
        return BC_EINVAL;
    struct redis_conn *c = bc_calloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->url = parsed;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : REDIS_DEFAULT_TIMEOUT_MS;
    c->up = 1;
    c->backoff_us = REDIS_BACKOFF_MIN_US;
    *out = c;
    return 0;
}

void redis_conn_close(struct redis_conn *c)
{
    if (!c)
        return;
    if (c->ctx)
        redisFree(c->ctx);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Caller holds c->lock. */
static void mark_down(struct redis_conn *c, const char *why)
{
    if (c->up)
        bc_warn("redis %s:%d unreachable (%s); retrying with backoff", c->url.host, c->url.port,
                why);
    if (c->ctx) {
        redisFree(c->ctx); /* why may point into it */
        c->ctx = NULL;
    }
    c->up = 0;
    c->next_attempt_us = bc_now_us() + c->backoff_us;
    c->backoff_us = c->backoff_us * 2 > REDIS_BACKOFF_MAX_US ? REDIS_BACKOFF_MAX_US
                                                             : c->backoff_us * 2;
}

/* Caller holds c->lock. */
static int ensure_connected(struct redis_conn *c)
{
    if (c->ctx)
        return 0;
    if (!c->up && bc_now_us() < c->next_attempt_us)
        return BC_EIO;
    c->ctx = redis_connect_raw(&c->url, c->timeout_ms);
    if (!c->ctx) {
        mark_down(c, "connect failed");
        return BC_EIO;
    }
    if (!c->up)
        bc_info("redis %s:%d reachable again", c->url.host, c->url.port);
    c->up = 1;
    c->backoff_us = REDIS_BACKOFF_MIN_US;
    return 0;
}

int redis_conn_command(struct redis_conn *c, int argc, const char **argv, const size_t *lens,
                       redisReply **reply)
{
    *reply = NULL;
    pthread_mutex_lock(&c->lock);
    int rc = ensure_connected(c);
    if (rc == 0) {
        *reply = redisCommandArgv(c->ctx, argc, argv, lens);
        if (!*reply) {
            mark_down(c, c->ctx->errstr);
            rc = BC_EIO;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int redis_conn_commandf(struct redis_conn *c, redisReply **reply, const char *fmt, ...)
{
    *reply = NULL;
    pthread_mutex_lock(&c->lock);
    int rc = ensure_connected(c);
    if (rc == 0) {
        va_list ap;
        va_start(ap, fmt);
        *reply = redisvCommand(c->ctx, fmt, ap);
        va_end(ap);
        if (!*reply) {
            mark_down(c, c->ctx->errstr);
            rc = BC_EIO;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int redis_conn_up(struct redis_conn *c)
{
    pthread_mutex_lock(&c->lock);
    int up = c->up;
    pthread_mutex_unlock(&c->lock);
    return up;
}

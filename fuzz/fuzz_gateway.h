/* The gateway without a socket, for the gateway's fuzz targets: a stand-in
 * for the few libwebsockets calls the request and WebSocket code makes on a
 * connection, and a fresh gateway (in-memory registry, mem:// stream,
 * in-process bus, a fixed catalog, one live session) per input.
 *
 * The stand-ins are defined in the fuzz executable, so the gateway's
 * objects linked into it call them instead of the library's; they act on
 * the struct lws defined here (libwebsockets only declares it), which holds
 * what a parsed request or a received frame would: the URI split from its
 * query, a few headers, and the fragment flags. No libwebsockets context
 * exists in these processes, so the library's own code never runs on it. */
#ifndef BC_FUZZ_GATEWAY_H
#define BC_FUZZ_GATEWAY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "gateway/gateway_internal.h"

/* RFC 6455 5.5: a control frame's payload is at most 125 bytes, two of
 * them the close code. */
#define FUZZ_WS_CLOSE_REASON_MAX 123
#define FUZZ_WS_CLOSE_CODE_MIN 1000
#define FUZZ_WS_CLOSE_CODE_MAX 4999
#define FUZZ_HEADER_MAX 1024
#define FUZZ_QUEUED_MAX 1024
#define FUZZ_INGEST_WAIT_MS 10000

struct lws {
    enum lws_token_indexes uri_token; /* WSI_TOKEN_GET_URI, ..._POST_URI... */
    char uri[GW_URI_MAX * 2];
    char args[GW_URI_MAX * 2]; /* the query, without '?' */
    char authorization[FUZZ_HEADER_MAX];
    char content_length[FUZZ_HEADER_MAX];
    char transfer_encoding[FUZZ_HEADER_MAX];
    char ws_version[FUZZ_HEADER_MAX];
    char ws_key[FUZZ_HEADER_MAX];
    int has_content_length, has_transfer_encoding, has_ws_version, has_ws_key;
    /* the frame being received */
    int binary, first, final;
    size_t remaining;
    /* what the gateway did with the connection */
    int closed_with;
    int writable_requests;
};

/* A header's value, or NULL when the request did not have it. */
static const char *fake_header(struct lws *wsi, enum lws_token_indexes h)
{
    if (h == wsi->uri_token)
        return wsi->uri;
    switch (h) {
    case WSI_TOKEN_HTTP_URI_ARGS: return wsi->args[0] ? wsi->args : NULL;
    case WSI_TOKEN_HTTP_AUTHORIZATION: return wsi->authorization[0] ? wsi->authorization : NULL;
    case WSI_TOKEN_HTTP_CONTENT_LENGTH: return wsi->has_content_length ? wsi->content_length : NULL;
    case WSI_TOKEN_HTTP_TRANSFER_ENCODING:
        return wsi->has_transfer_encoding ? wsi->transfer_encoding : NULL;
    case WSI_TOKEN_VERSION: return wsi->has_ws_version ? wsi->ws_version : NULL;
    case WSI_TOKEN_KEY: return wsi->has_ws_key ? wsi->ws_key : NULL;
    default: return NULL;
    }
}

int lws_hdr_total_length(struct lws *wsi, enum lws_token_indexes h)
{
    const char *v = fake_header(wsi, h);
    return v ? (int)strlen(v) : 0;
}

/* -1 when the value does not fit with its NUL, as libwebsockets; an absent
 * header returns 0 and leaves dest as it was (some versions write "" there:
 * the gateway must not count on it). */
int lws_hdr_copy(struct lws *wsi, char *dest, int len, enum lws_token_indexes h)
{
    const char *v = fake_header(wsi, h);
    if (len <= 0 || (v && strlen(v) >= (size_t)len))
        return -1;
    if (!v)
        return 0;
    memcpy(dest, v, strlen(v) + 1);
    return (int)strlen(v);
}

/* As libwebsockets 4.1: walks the '&'-separated arguments, each copied
 * into buf, until one starts with name; a fragment that does not fit in
 * buf ends the walk. (libwebsockets also percent-decodes them: its own
 * parser is not what these targets fuzz.) */
const char *lws_get_urlarg_by_name(struct lws *wsi, const char *name, char *buf, int len)
{
    const char *p = wsi->args;
    while (*p) {
        size_t n = strcspn(p, "&");
        if (n >= (size_t)len)
            return NULL;
        memcpy(buf, p, n);
        buf[n] = '\0';
        if (strncmp(buf, name, strlen(name)) == 0)
            return buf + strlen(name);
        p += n;
        if (*p == '&')
            p++;
    }
    return NULL;
}

void lws_close_reason(struct lws *wsi, enum lws_close_status status, unsigned char *buf,
                      size_t len)
{
    fuzz_touch(buf, len);
    if ((int)status < FUZZ_WS_CLOSE_CODE_MIN || (int)status > FUZZ_WS_CLOSE_CODE_MAX ||
        len > FUZZ_WS_CLOSE_REASON_MAX)
        abort(); /* not a close frame a browser accepts */
    wsi->closed_with = (int)status;
}

int lws_callback_on_writable(struct lws *wsi)
{
    wsi->writable_requests++;
    return 1;
}

lws_sockfd_type lws_get_socket_fd(struct lws *wsi)
{
    (void)wsi;
    return -1;
}

int lws_frame_is_binary(struct lws *wsi)
{
    return wsi->binary;
}

int lws_is_first_fragment(struct lws *wsi)
{
    return wsi->first;
}

int lws_is_final_fragment(struct lws *wsi)
{
    return wsi->final;
}

size_t lws_remaining_packet_payload(struct lws *wsi)
{
    return wsi->remaining;
}

int lws_write(struct lws *wsi, unsigned char *buf, size_t len, enum lws_write_protocol wp)
{
    (void)wsi;
    (void)wp;
    fuzz_touch(buf, len);
    return (int)len;
}

int lws_serve_http_file(struct lws *wsi, const char *file, const char *content_type,
                        const char *other_headers, int other_headers_len)
{
    (void)wsi;
    (void)other_headers;
    (void)other_headers_len;
    struct stat st;
    if (stat(file, &st) != 0 || !content_type[0])
        abort(); /* the gateway promised a regular file it checked */
    return 0;
}

void lws_sul_schedule(struct lws_context *ctx, int tsi, lws_sorted_usec_list_t *sul,
                      sul_cb_t cb, lws_usec_t us)
{
    (void)ctx;
    (void)tsi;
    (void)sul;
    (void)cb;
    (void)us;
}

/* The gateway's world. The registry costs more to open than most inputs,
 * so one serves FUZZ_WORLD_INPUTS inputs, each with a new live session
 * that is ended afterwards (sessions do not see each other's state, and at
 * most one is live at a time). The stream and the bus are new for every
 * input: what they keep of an ended session would grow the heap on every
 * input, which makes libFuzzer look for a leak after each one. */
#define FUZZ_WORLD_INPUTS 256

struct fuzz_world {
    struct gateway srv;
    int inputs;
    char id[SESSION_ID_LEN + 1];      /* this input's live session */
    char token[SESSION_TOKEN_LEN + 1]; /* its speaker token */
};

static const char fuzz_catalog_json[] =
    "{\"source\":[{\"code\":\"en\",\"name\":\"English\"}],\"targets\":["
    "{\"code\":\"es\",\"name\":\"Spanish\",\"voice\":true,\"voice_name\":\"es\",\"stand_in\":false,\"pivot\":null},"
    "{\"code\":\"fr\",\"name\":\"French\",\"voice\":true,\"voice_name\":\"fr-fr\",\"stand_in\":false,\"pivot\":\"es\"},"
    "{\"code\":\"pt_BR\",\"name\":\"Brazilian Portuguese\",\"voice\":false,\"stand_in\":false,\"pivot\":\"es\"},"
    "{\"code\":\"gl\",\"name\":\"Galician\",\"voice\":true,\"voice_name\":\"pt\",\"stand_in\":true,\"pivot\":null}],"
    "\"sample_rate\":22050}";

/* A web root with the pages the gateway maps paths to. */
static const char *fuzz_web_root(void)
{
    static char *root;
    if (root)
        return root;
    root = bc_asprintf("%s/web", fuzz_scratch_dir());
    if (mkdir(root, 0700) != 0)
        abort();
    static const char *const pages[] = {"index.html", "speak.html", "listen.html", "app.js"};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        char *path = bc_asprintf("%s/%s", root, pages[i]);
        fuzz_write_file(path, (const uint8_t *)"<p>page</p>\n", 12);
        free(path);
    }
    return root;
}

static void fuzz_world_open(struct fuzz_world *w)
{
    memset(w, 0, sizeof *w);
    struct gateway *srv = &w->srv;
    gateway_default_config(&srv->config);
    srv->config.web_root = fuzz_web_root();
    snprintf(srv->public_url, sizeof srv->public_url, "http://127.0.0.1:8080");
    if (session_registry_open_url(NULL, NULL, &srv->registry) != 0 ||
        catalog_parse(fuzz_catalog_json, &srv->catalog) != 0)
        abort();
}

static void fuzz_world_close(struct fuzz_world *w)
{
    struct gateway *srv = &w->srv;
    session_registry_close(srv->registry);
    catalog_free(srv->catalog);
}

/* The service thread is not woken: the targets take results themselves
 * (fuzz_settle). */
static void fuzz_no_wake(void *unused)
{
    (void)unused;
}

/* The world for the next input: a new stream, ingest threads and bus, a
 * new live session in w->id. */
static struct fuzz_world *fuzz_world_begin(void)
{
    static struct fuzz_world world;
    static int opened;
    if (!opened || world.inputs == FUZZ_WORLD_INPUTS) {
        if (opened)
            fuzz_world_close(&world);
        fuzz_quiet();
        fuzz_world_open(&world);
        opened = 1;
    }
    world.inputs++;
    if (stream_open("mem://", NULL, &world.srv.stream) != 0)
        abort();
    world.srv.ingest = gw_ingest_new(world.srv.stream, fuzz_no_wake, NULL);
    if (!world.srv.ingest)
        abort();
    world.srv.bus = delivery_new(FUZZ_QUEUED_MAX, NULL, NULL);
    static const char *const targets[] = {"es", "fr"};
    struct session_info info;
    if (session_create(world.srv.registry, CATALOG_SOURCE_LANG, targets, 2, &info, world.token) != 0)
        abort();
    snprintf(world.id, sizeof world.id, "%s", info.id);
    return &world;
}

/* Waits for every append submitted so far and hands the results to the
 * gateway, as its service thread would once woken. */
static void fuzz_settle(struct gateway *srv)
{
    if (gw_ingest_wait_idle(srv->ingest, FUZZ_INGEST_WAIT_MS) != 0)
        abort(); /* an append into mem:// never takes this long */
    gw_ws_dispatch(srv);
}

/* Ends the input's session and drops what the gateway, the stream and the
 * bus kept for it. */
static void fuzz_world_end(struct fuzz_world *w)
{
    struct gateway *srv = &w->srv;
    fuzz_settle(srv);
    gw_ingest_free(srv->ingest);
    srv->ingest = NULL;
    struct delivery_msg *batch[64];
    size_t n;
    while ((n = delivery_drain(srv->bus, batch, sizeof batch / sizeof batch[0])) > 0) {
        for (size_t i = 0; i < n; i++)
            delivery_msg_unref(batch[i]);
    }
    while (srv->sessions) {
        struct gw_session *next = srv->sessions->next;
        free(srv->sessions);
        srv->sessions = next;
    }
    session_end(srv->registry, w->id, NULL);
    gw_rate_free(srv); /* every input starts with a full allowance */
    delivery_free(srv->bus);
    stream_close(srv->stream);
    srv->bus = NULL;
    srv->stream = NULL;
}

/* Copies src into dst (cap bytes) replacing "{id}" and "{token}" by the
 * world's live session, so that inputs can name it. */
static void fuzz_expand(const struct fuzz_world *w, const char *src, size_t n, char *dst,
                        size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap;) {
        const char *with = NULL;
        size_t skip = 0;
        if (n - i >= 4 && memcmp(src + i, "{id}", 4) == 0)
            with = w->id, skip = 4;
        else if (n - i >= 7 && memcmp(src + i, "{token}", 7) == 0)
            with = w->token, skip = 7;
        if (with) {
            size_t k = strlen(with);
            if (k > cap - 1 - o)
                k = cap - 1 - o;
            memcpy(dst + o, with, k);
            o += k;
            i += skip;
        } else {
            dst[o++] = src[i++];
        }
    }
    dst[o] = '\0';
}

#endif

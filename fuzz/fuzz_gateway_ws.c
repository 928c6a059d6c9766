/* A WebSocket connection to the gateway as libwebsockets hands it over:
 * the path and query it was opened with (gw_ws_established: speaker or
 * listener, session, token, lang, codec), then the frames it receives
 * (gw_ws_receive: speaker audio and JSON control messages such as
 * {"type":"end"}, fragmented or not), then its close. The input reads
 *   PATH[?QUERY] LF
 *   (flags len byte*)*    one received fragment each: flags bit 0 binary,
 *                         bit 1 first fragment, bit 2 final fragment, bit 3
 *                         more of the frame still to come; len one byte
 * where "{id}" and "{token}" stand for a live session and its token. Every
 * close must carry a code and reason a browser accepts; what is queued for
 * the connection must drain. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_gateway.h"

#define FRAME_BINARY 1u
#define FRAME_FIRST 2u
#define FRAME_FINAL 4u
#define FRAME_MORE 8u
/* Keeps the gateway's reassembly buffer small enough to overflow. */
#define FUZZ_MAX_FRAME_BYTES 1024
/* Writeable callbacks to drain a queue before giving up on it. */
#define FUZZ_DRAIN_MAX 10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* Serves writeable callbacks until the queue is empty or the connection
 * closes; returns the last callback's result. */
static int drain(struct gateway *srv, struct conn *c)
{
    fuzz_settle(srv);
    for (int i = 0; i < FUZZ_DRAIN_MAX; i++) {
        if (c->queue_count == 0 && !c->close_code)
            return 0;
        int rc = gw_ws_writeable(srv, c);
        if (rc < 0)
            return rc;
    }
    abort(); /* the queue never empties */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct fuzz_world *w = fuzz_world_begin();
    w->srv.config.max_frame_bytes = FUZZ_MAX_FRAME_BYTES;
    static struct lws wsi;
    memset(&wsi, 0, sizeof wsi);
    wsi.uri_token = WSI_TOKEN_GET_URI;
    const uint8_t *lf = memchr(data, '\n', len);
    size_t first = lf ? (size_t)(lf - data) : len;
    const char *q = memchr(data, '?', first);
    size_t path_len = q ? (size_t)(q - (const char *)data) : first;
    fuzz_expand(w, (const char *)data, path_len, wsi.uri, sizeof wsi.uri);
    if (q)
        fuzz_expand(w, q + 1, first - path_len - 1, wsi.args, sizeof wsi.args);
    size_t pos = lf ? first + 1 : len;

    struct conn c;
    memset(&c, 0, sizeof c);
    c.wsi = &wsi;
    /* As gateway.c: the URI copied, a path too long for it left empty. */
    if (lws_hdr_copy(&wsi, c.uri, sizeof c.uri, WSI_TOKEN_GET_URI) < 0)
        c.uri[0] = '\0';
    int rc = gw_ws_established(&w->srv, &c);
    if (rc < 0 && !wsi.closed_with)
        abort(); /* refused without saying why */
    if (rc == 0 && c.kind == CONN_HTTP)
        abort(); /* accepted as neither speaker nor listener */
    if (rc == 0)
        rc = drain(&w->srv, &c);
    while (rc == 0 && pos + 2 <= len) {
        unsigned flags = data[pos];
        size_t n = data[pos + 1];
        pos += 2;
        if (n > len - pos)
            n = len - pos;
        wsi.binary = !!(flags & FRAME_BINARY);
        wsi.first = !!(flags & FRAME_FIRST);
        wsi.final = !!(flags & FRAME_FINAL);
        wsi.remaining = (flags & FRAME_MORE) ? 1 : 0;
        rc = gw_ws_receive(&w->srv, &c, data + pos, n);
        pos += n;
        if (rc == 0)
            rc = drain(&w->srv, &c);
    }
    if (rc < 0 && !wsi.closed_with)
        abort();
    if (c.kind != CONN_HTTP || c.queue || c.rx)
        gw_ws_closed(&w->srv, &c);
    fuzz_world_end(w);
    return 0;
}

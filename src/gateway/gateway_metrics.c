/* GET /metrics: what this gateway sees (sessions, speakers, listeners by
 * language and codec) set into the metrics just before they are rendered. */
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_internal.h"
#include "metrics/metrics.h"
#include "metrics/probes.h"
#include "util/alloc.h"

#define HTTP_OK 200
#define GW_METRICS_SESSIONS_MAX 4096
/* Distinct (language, codec) pairs counted; the installed languages times
 * the codecs are far fewer. */
#define GW_METRICS_LISTENER_KINDS 128

struct listener_kind {
    const char *lang;
    enum delivery_codec codec;
    size_t n;
};

static void count_listeners(const struct gateway *srv)
{
    struct listener_kind kinds[GW_METRICS_LISTENER_KINDS];
    size_t n_kinds = 0, n_speakers = 0;
    for (const struct conn *c = srv->conns; c; c = c->next) {
        if (c->close_code)
            continue; /* on its way out */
        if (c->kind == CONN_SPEAKER)
            n_speakers++;
        if (c->kind != CONN_LISTENER)
            continue;
        size_t k = 0;
        while (k < n_kinds && !(kinds[k].codec == c->codec && strcmp(kinds[k].lang, c->lang) == 0))
            k++;
        if (k == n_kinds && n_kinds == GW_METRICS_LISTENER_KINDS)
            continue;
        if (k == n_kinds)
            kinds[n_kinds++] = (struct listener_kind){c->lang, c->codec, 0};
        kinds[k].n++;
    }
    probe_set_speakers(n_speakers);
    probe_listeners_clear();
    for (size_t k = 0; k < n_kinds; k++)
        probe_set_listeners(kinds[k].lang, delivery_codec_name(kinds[k].codec), kinds[k].n);
}

int gw_metrics_respond(struct gateway *srv, struct conn *c)
{
    if (!srv->config.health_only) {
        count_listeners(srv);
        if (srv->ingest)
            probe_set_ingest_queued(gw_ingest_pending(srv->ingest));
        if (srv->registry) {
            char(*ids)[SESSION_ID_LEN + 1] = bc_malloc(GW_METRICS_SESSIONS_MAX * sizeof *ids);
            probe_set_live_sessions(session_list_live(srv->registry, ids, GW_METRICS_SESSIONS_MAX));
            free(ids);
        }
    }
    char *text;
    size_t len;
    metrics_render(&text, &len);
    c->response_status = HTTP_OK;
    c->response_type = METRICS_CONTENT_TYPE;
    c->response = text;
    c->response_len = len;
    return 0;
}

/* Abuse limits: how fast one client address may create sessions, and the
 * end of sessions whose speaker has gone for good. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

/* Addresses remembered at once; when full the one idle longest goes (an
 * address idle a minute has its whole allowance back anyway). */
#define GW_RATE_CLIENTS_MAX 4096
#define US_PER_MIN (60LL * 1000 * 1000)
#define US_PER_S (1000 * 1000)
/* The idle sweep runs a few times per idle period, so a session ends at
 * most a quarter period late, and never less often than this. */
#define GW_IDLE_SWEEPS_PER_PERIOD 4
#define GW_IDLE_SWEEP_MAX_MS (60 * 1000)
#define GW_IDLE_SWEEP_MIN_MS 250
#define GW_IDLE_LIST_MAX 4096
#define MS_PER_S 1000

/* A token bucket per address: session_rate_per_min tokens at most, one
 * back every minute / rate. */
struct gw_rate_client {
    char addr[GW_ADDR_MAX];
    double tokens;
    int64_t updated_us;
};

int gw_rate_take(struct gateway *gw, const char *addr, int *retry_after_s)
{
    int rate = gw->config.session_rate_per_min;
    *retry_after_s = 0;
    if (rate <= 0)
        return 1;
    int64_t now_us = bc_now_us();
    double refill_per_us = (double)rate / (double)US_PER_MIN;
    struct gw_rate_client *client = NULL, *oldest = NULL;
    for (size_t i = 0; i < gw->n_rate_clients; i++) {
        struct gw_rate_client *c = &gw->rate_clients[i];
        if (strcmp(c->addr, addr) == 0) {
            client = c;
            break;
        }
        if (!oldest || c->updated_us < oldest->updated_us)
            oldest = c;
    }
    if (!client) {
        if (!gw->rate_clients)
            gw->rate_clients = bc_calloc(GW_RATE_CLIENTS_MAX, sizeof *gw->rate_clients);
        client = gw->n_rate_clients < GW_RATE_CLIENTS_MAX ? &gw->rate_clients[gw->n_rate_clients++]
                                                          : oldest;
        snprintf(client->addr, sizeof client->addr, "%s", addr);
        client->tokens = rate;
        client->updated_us = now_us;
    }
    client->tokens += (double)(now_us - client->updated_us) * refill_per_us;
    if (client->tokens > rate)
        client->tokens = rate;
    client->updated_us = now_us;
    if (client->tokens >= 1.0) {
        client->tokens -= 1.0;
        return 1;
    }
    int64_t wait_us = (int64_t)((1.0 - client->tokens) / refill_per_us);
    *retry_after_s = (int)((wait_us + US_PER_S - 1) / US_PER_S);
    if (*retry_after_s < 1)
        *retry_after_s = 1;
    return 0;
}

void gw_rate_free(struct gateway *gw)
{
    free(gw->rate_clients);
    gw->rate_clients = NULL;
    gw->n_rate_clients = 0;
}

/* Ends one live session if nobody has spoken in it for the idle period:
 * this gateway's speakers are recorded as active instead. The registry
 * decides, so with several gateways the one holding the speaker keeps the
 * session alive for all, and only one of them ends it (the others get
 * BC_ESTATE). */
static int sweep_one(struct gateway *gw, const char *id, int64_t now_ms, int64_t idle_ms)
{
    struct gw_session *s = gw_session_find(gw, id, 0);
    if (s && s->speaker) {
        session_touch(gw->registry, id);
        return 0;
    }
    struct session_info info;
    if (session_get(gw->registry, id, &info) < 0 || info.state != SESSION_LIVE ||
        now_ms - info.active_ms < idle_ms)
        return 0;
    if (session_end(gw->registry, id, NULL) < 0)
        return 0;
    bc_info("session %s: ended after %lld s without a speaker", id,
            (long long)((now_ms - info.active_ms) / MS_PER_S));
    gw_end_session(gw, id);
    return 1;
}

int gw_idle_sweep(struct gateway *gw)
{
    if (gw->config.idle_session_s <= 0 || !gw->registry)
        return 0;
    char (*ids)[SESSION_ID_LEN + 1] = bc_malloc(GW_IDLE_LIST_MAX * sizeof *ids);
    size_t n = session_list_live(gw->registry, ids, GW_IDLE_LIST_MAX);
    int64_t now_ms = bc_wall_ms(), idle_ms = (int64_t)gw->config.idle_session_s * MS_PER_S;
    int ended = 0;
    for (size_t i = 0; i < n; i++)
        ended += sweep_one(gw, ids[i], now_ms, idle_ms);
    free(ids);
    return ended;
}

static int64_t sweep_interval_ms(const struct gateway *gw)
{
    int64_t ms = (int64_t)gw->config.idle_session_s * MS_PER_S / GW_IDLE_SWEEPS_PER_PERIOD;
    if (ms > GW_IDLE_SWEEP_MAX_MS)
        ms = GW_IDLE_SWEEP_MAX_MS;
    return ms < GW_IDLE_SWEEP_MIN_MS ? GW_IDLE_SWEEP_MIN_MS : ms;
}

static void on_idle_timer(lws_sorted_usec_list_t *sul)
{
    struct gateway *gw = lws_container_of(sul, struct gateway, idle_timer);
    gw_idle_sweep(gw);
    lws_sul_schedule(gw->context, 0, &gw->idle_timer, on_idle_timer,
                     (lws_usec_t)sweep_interval_ms(gw) * LWS_US_PER_MS);
}

void gw_idle_start(struct gateway *gw)
{
    if (gw->config.idle_session_s > 0 && gw->registry)
        on_idle_timer(&gw->idle_timer);
}

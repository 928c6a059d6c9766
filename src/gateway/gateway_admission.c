/* Admission: whether some worker has room for one more session (workers
 * announce their room in the registry), the refusals that follow when
 * none has, and the shedding level sessions report. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "gateway/gateway_internal.h"
#include "metrics/probes.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define HTTP_UNAVAILABLE 503
/* Rooms change as sessions end and as load is measured again, both within
 * seconds; sooner than this a retry would find the same workers. */
#define GW_SERVER_FULL_RETRY_S 10

/* A speaker that sends nothing for this long gives its slot back. */
#define GW_RESERVATION_MAX_MS 5000
#define US_PER_MS 1000

static int reservation_expired(const struct gw_reservation *r, int64_t now_us)
{
    return (now_us - r->since_us) / US_PER_MS >= GW_RESERVATION_MAX_MS;
}

/* Drops the slots no longer needed; returns how many are held. A worker
 * takes a session on its first audio and announces its room at once, so
 * from then on the announcement counts the session: holding its slot
 * longer would count it twice and refuse a speaker there is room for. */
static size_t held_slots(struct gateway *gw)
{
    int64_t now_us = bc_now_us();
    size_t kept = 0;
    for (size_t i = 0; i < gw->n_reservations; i++) {
        struct gw_reservation *r = &gw->reservations[i];
        uint64_t audio_bytes = 0;
        if (reservation_expired(r, now_us) ||
            (stream_audio_bytes(gw->stream, r->session, &audio_bytes) == 0 && audio_bytes > 0))
            continue;
        gw->reservations[kept++] = *r;
    }
    gw->n_reservations = kept;
    return kept;
}

/* 1 with *left the announced room less the slots held, or 0 when nothing
 * can be judged (no announcement, registry unreadable). */
static int room_left(struct gateway *gw, int *left)
{
    int free_slots = 0, workers = 0;
    int rc = session_room_get(gw->registry, &free_slots, &workers);
    if (rc < 0) {
        bc_debug("workers' room unknown: %s", bc_strerror(rc));
        return 0;
    }
    *left = free_slots - (int)held_slots(gw);
    return workers > 0;
}

int gw_workers_have_room(struct gateway *gw)
{
    int left;
    return !room_left(gw, &left) || left > 0;
}

int gw_reserve_room(struct gateway *gw, const char *session)
{
    int64_t now_us = bc_now_us();
    for (size_t i = 0; i < gw->n_reservations; i++) {
        const struct gw_reservation *r = &gw->reservations[i];
        /* The same speaker again, its slot still held (an expired one is
         * purged below and the room judged afresh). */
        if (strcmp(r->session, session) == 0 && !reservation_expired(r, now_us))
            return 1;
    }
    int left;
    if (!room_left(gw, &left))
        return 1;
    if (left <= 0)
        return 0;
    if (gw->n_reservations < GW_RESERVATIONS_MAX) {
        struct gw_reservation *r = &gw->reservations[gw->n_reservations++];
        snprintf(r->session, sizeof r->session, "%s", session);
        r->since_us = bc_now_us();
    }
    return 1;
}

int gw_refuse_server_full(struct conn *c)
{
    probe_session_refused("server_full");
    gw_respond_error(c, HTTP_UNAVAILABLE, "server_full",
                     "the server is at capacity: no worker can take a new session now; "
                     "try again later");
    c->retry_after_s = GW_SERVER_FULL_RETRY_S;
    return 0;
}

void gw_add_shedding(struct gateway *gw, cJSON *json, const struct session_info *info)
{
    enum session_shedding level = SESSION_SHED_NONE;
    if (info->state == SESSION_LIVE && session_shedding_get(gw->registry, info->id, &level) < 0)
        return; /* unknown: better absent than wrong */
    cJSON_AddStringToObject(json, "shedding", session_shedding_name(level));
}

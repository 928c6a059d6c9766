/* Admission: whether some worker has room for one more session (workers
 * announce their room in the registry), the refusals that follow when
 * none has, and the shedding level sessions report. */
#include <cjson/cJSON.h>

#include "gateway/gateway_internal.h"
#include "metrics/probes.h"
#include "util/err.h"
#include "util/log.h"

#define HTTP_UNAVAILABLE 503
/* Rooms change as sessions end and as load is measured again, both within
 * seconds; sooner than this a retry would find the same workers. */
#define GW_SERVER_FULL_RETRY_S 10

int gw_workers_have_room(struct gateway *gw)
{
    int free_slots = 0, workers = 0;
    int rc = session_room_get(gw->registry, &free_slots, &workers);
    if (rc < 0) {
        bc_debug("workers' room unknown: %s", bc_strerror(rc));
        return 1;
    }
    return workers == 0 || free_slots > 0;
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

/* The registry's capacity calls: workers' room and sessions' shedding,
 * checked here and handed to the backend. */
#include <string.h>

#include "session/session.h"
#include "session/session_backend.h"
#include "util/err.h"
#include "util/timeutil.h"

static const char *const shedding_names[] = {
    [SESSION_SHED_NONE] = "none",
    [SESSION_SHED_TRANSLATED_PARTIALS] = "translated_partials",
    [SESSION_SHED_PARTIALS] = "partials",
};

const char *session_shedding_name(enum session_shedding level)
{
    if ((unsigned)level >= sizeof shedding_names / sizeof shedding_names[0])
        return shedding_names[SESSION_SHED_NONE];
    return shedding_names[level];
}

static int valid_worker(const char *worker)
{
    size_t len = worker ? strlen(worker) : 0;
    return len > 0 && len < SESSION_WORKER_NAME_MAX;
}

int session_room_set(struct session_registry *reg, const char *worker, int free_slots, int ttl_ms)
{
    if (!valid_worker(worker) || free_slots < 0 || ttl_ms < 1)
        return BC_EINVAL;
    return reg->ops->room_set(reg->impl, worker, free_slots, bc_wall_ms() + ttl_ms);
}

int session_room_clear(struct session_registry *reg, const char *worker)
{
    if (!valid_worker(worker))
        return BC_EINVAL;
    return reg->ops->room_clear(reg->impl, worker);
}

int session_room_get(struct session_registry *reg, int *free_slots, int *workers)
{
    *free_slots = 0;
    *workers = 0;
    return reg->ops->room_get(reg->impl, bc_wall_ms(), free_slots, workers);
}

int session_shedding_set(struct session_registry *reg, const char *id, enum session_shedding level)
{
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    if ((unsigned)level > SESSION_SHED_PARTIALS)
        return BC_EINVAL;
    return reg->ops->shedding_set(reg->impl, id, level);
}

int session_shedding_get(struct session_registry *reg, const char *id,
                         enum session_shedding *level)
{
    *level = SESSION_SHED_NONE;
    if (!session_valid_id(id))
        return BC_ENOTFOUND;
    return reg->ops->shedding_get(reg->impl, id, level);
}

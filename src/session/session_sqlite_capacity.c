/* The SQLite backend's capacity state: workers' room and sessions'
 * shedding levels, in memory (one process; nothing to keep across a
 * restart: workers announce again, sessions are judged again). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "session/session_backend.h"
#include "session/session_sqlite_internal.h"
#include "util/alloc.h"
#include "util/err.h"

#define SQ_CAPACITY_INITIAL 8

/* Caller holds the lock. */
static struct sq_room *room_find(struct session_sqlite *s, const char *worker)
{
    for (size_t i = 0; i < s->n_rooms; i++)
        if (!strcmp(s->rooms[i].worker, worker))
            return &s->rooms[i];
    return NULL;
}

int sq_room_set(void *impl, const char *worker, int free_slots, int64_t expires_ms)
{
    struct session_sqlite *s = impl;
    pthread_mutex_lock(&s->lock);
    struct sq_room *room = room_find(s, worker);
    if (!room) {
        if (s->n_rooms == s->cap_rooms) {
            s->cap_rooms = s->cap_rooms ? s->cap_rooms * 2 : SQ_CAPACITY_INITIAL;
            s->rooms = bc_realloc(s->rooms, s->cap_rooms * sizeof *s->rooms);
        }
        room = &s->rooms[s->n_rooms++];
        snprintf(room->worker, sizeof room->worker, "%s", worker);
    }
    room->free_slots = free_slots;
    room->expires_ms = expires_ms;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int sq_room_clear(void *impl, const char *worker)
{
    struct session_sqlite *s = impl;
    pthread_mutex_lock(&s->lock);
    struct sq_room *room = room_find(s, worker);
    if (room)
        *room = s->rooms[--s->n_rooms];
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int sq_room_get(void *impl, int64_t now_ms, int *free_slots, int *workers)
{
    struct session_sqlite *s = impl;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n_rooms; i++) {
        if (s->rooms[i].expires_ms < now_ms)
            continue;
        *free_slots += s->rooms[i].free_slots;
        (*workers)++;
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* Caller holds the lock. */
static struct sq_shedding *shedding_find(struct session_sqlite *s, const char *id)
{
    for (size_t i = 0; i < s->n_shedding; i++)
        if (!strcmp(s->shedding[i].id, id))
            return &s->shedding[i];
    return NULL;
}

int sq_shedding_set(void *impl, const char *id, enum session_shedding level)
{
    struct session_sqlite *s = impl;
    struct session_info info;
    int rc = sq_lock_session(s, id, &info);
    if (rc < 0)
        return rc;
    struct sq_shedding *entry = shedding_find(s, id);
    if (entry && level == SESSION_SHED_NONE) {
        *entry = s->shedding[--s->n_shedding];
    } else if (level != SESSION_SHED_NONE) {
        if (!entry) {
            if (s->n_shedding == s->cap_shedding) {
                s->cap_shedding = s->cap_shedding ? s->cap_shedding * 2 : SQ_CAPACITY_INITIAL;
                s->shedding = bc_realloc(s->shedding, s->cap_shedding * sizeof *s->shedding);
            }
            entry = &s->shedding[s->n_shedding++];
            memcpy(entry->id, id, SESSION_ID_LEN + 1);
        }
        entry->level = level;
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int sq_shedding_get(void *impl, const char *id, enum session_shedding *level)
{
    struct session_sqlite *s = impl;
    struct session_info info;
    int rc = sq_lock_session(s, id, &info);
    if (rc < 0)
        return rc;
    const struct sq_shedding *entry = shedding_find(s, id);
    *level = entry ? entry->level : SESSION_SHED_NONE;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

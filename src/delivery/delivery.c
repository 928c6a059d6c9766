#include "delivery/delivery.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

#define DELIVERY_DEMAND_INITIAL 16

struct delivery {
    pthread_mutex_t lock;
    struct delivery_msg **ring;
    size_t cap, head, count;
    uint64_t dropped;
    delivery_wake_cb wake;
    void *user_data;
    struct delivery_demand *demand;
    size_t n_demand, cap_demand;
};

/* Receivers of one (session, lang, codec). */
struct delivery_demand {
    char session[DELIVERY_ID_MAX];
    char lang[DELIVERY_LANG_MAX];
    enum delivery_codec codec;
    int receivers;
};

const char *delivery_codec_name(enum delivery_codec codec)
{
    switch (codec) {
    case DELIVERY_CODEC_PCM16: return "pcm16";
    case DELIVERY_CODEC_OPUS: return "opus";
    case DELIVERY_CODEC_ANY: break;
    }
    return "";
}

int delivery_codec_parse(const char *name, enum delivery_codec *out)
{
    if (strcmp(name, "pcm16") == 0)
        *out = DELIVERY_CODEC_PCM16;
    else if (strcmp(name, "opus") == 0)
        *out = DELIVERY_CODEC_OPUS;
    else
        return BC_ENOTFOUND;
    return 0;
}

struct delivery_msg *delivery_msg_new(const char *session, const char *lang, bool binary,
                                      const void *payload, size_t len)
{
    struct delivery_msg *m = bc_calloc(1, sizeof *m + DELIVERY_PRE + len + 1);
    m->refs = 1;
    snprintf(m->session, sizeof m->session, "%s", session);
    snprintf(m->lang, sizeof m->lang, "%s", lang);
    m->binary = binary;
    m->len = len;
    m->payload = m->buf + DELIVERY_PRE;
    if (len)
        memcpy(m->payload, payload, len);
    return m;
}

struct delivery_msg *delivery_msg_json(const char *session, const char *lang, const cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    struct delivery_msg *m = delivery_msg_new(session, lang, false, text, strlen(text));
    cJSON_free(text);
    return m;
}

cJSON *delivery_caption_json(const char *lang, int utterance, bool final, const char *text,
                             const char *source_text, int64_t start_ms, int64_t end_ms)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "type", "caption");
    cJSON_AddStringToObject(json, "lang", lang);
    cJSON_AddBoolToObject(json, "final", final);
    cJSON_AddNumberToObject(json, "utterance", utterance);
    cJSON_AddStringToObject(json, "text", text);
    cJSON_AddStringToObject(json, "source_text", source_text);
    cJSON_AddNumberToObject(json, "source_start_ms", (double)start_ms);
    cJSON_AddNumberToObject(json, "source_end_ms", (double)end_ms);
    return json;
}

void delivery_msg_ref(struct delivery_msg *m)
{
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
}

void delivery_msg_unref(struct delivery_msg *m)
{
    if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(m);
}

struct delivery *delivery_new(size_t max_queued, delivery_wake_cb wake, void *user_data)
{
    struct delivery *d = bc_calloc(1, sizeof *d);
    pthread_mutex_init(&d->lock, NULL);
    d->cap = max_queued ? max_queued : 1;
    d->ring = bc_calloc(d->cap, sizeof *d->ring);
    d->wake = wake;
    d->user_data = user_data;
    return d;
}

void delivery_free(struct delivery *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->count; i++)
        delivery_msg_unref(d->ring[(d->head + i) % d->cap]);
    pthread_mutex_destroy(&d->lock);
    free(d->ring);
    free(d->demand);
    free(d);
}

/* Caller holds d->lock. */
static struct delivery_demand *demand_find(struct delivery *d, const char *session,
                                           const char *lang, enum delivery_codec codec)
{
    for (size_t i = 0; i < d->n_demand; i++) {
        struct delivery_demand *e = &d->demand[i];
        if (e->codec == codec && strcmp(e->session, session) == 0 && strcmp(e->lang, lang) == 0)
            return e;
    }
    return NULL;
}

void delivery_demand_add(struct delivery *d, const char *session, const char *lang,
                         enum delivery_codec codec, int delta)
{
    pthread_mutex_lock(&d->lock);
    struct delivery_demand *e = demand_find(d, session, lang, codec);
    if (!e && delta > 0) {
        if (d->n_demand == d->cap_demand) {
            d->cap_demand = d->cap_demand ? d->cap_demand * 2 : DELIVERY_DEMAND_INITIAL;
            d->demand = bc_realloc(d->demand, d->cap_demand * sizeof *d->demand);
        }
        e = &d->demand[d->n_demand++];
        memset(e, 0, sizeof *e);
        snprintf(e->session, sizeof e->session, "%s", session);
        snprintf(e->lang, sizeof e->lang, "%s", lang);
        e->codec = codec;
    }
    if (e) {
        e->receivers += delta;
        if (e->receivers <= 0)
            *e = d->demand[--d->n_demand];
    }
    pthread_mutex_unlock(&d->lock);
}

int delivery_demand(struct delivery *d, const char *session, const char *lang,
                    enum delivery_codec codec)
{
    pthread_mutex_lock(&d->lock);
    const struct delivery_demand *e = demand_find(d, session, lang, codec);
    int receivers = e ? e->receivers : 0;
    pthread_mutex_unlock(&d->lock);
    return receivers;
}

/* Makes room by dropping the oldest audio frame; with none, the oldest
 * message. Captions are small and matter more than one audio frame. */
static void drop_one(struct delivery *d)
{
    size_t victim = 0;
    for (size_t i = 0; i < d->count; i++) {
        if (d->ring[(d->head + i) % d->cap]->binary) {
            victim = i;
            break;
        }
    }
    delivery_msg_unref(d->ring[(d->head + victim) % d->cap]);
    for (size_t i = victim; i > 0; i--)
        d->ring[(d->head + i) % d->cap] = d->ring[(d->head + i - 1) % d->cap];
    d->head = (d->head + 1) % d->cap;
    d->count--;
    d->dropped++;
}

void delivery_publish(struct delivery *d, struct delivery_msg *m)
{
    pthread_mutex_lock(&d->lock);
    if (d->count == d->cap)
        drop_one(d);
    d->ring[(d->head + d->count) % d->cap] = m;
    d->count++;
    pthread_mutex_unlock(&d->lock);
    if (d->wake)
        d->wake(d->user_data);
}

size_t delivery_drain(struct delivery *d, struct delivery_msg **out, size_t max)
{
    pthread_mutex_lock(&d->lock);
    size_t n = d->count < max ? d->count : max;
    for (size_t i = 0; i < n; i++)
        out[i] = d->ring[(d->head + i) % d->cap];
    d->head = (d->head + n) % d->cap;
    d->count -= n;
    pthread_mutex_unlock(&d->lock);
    return n;
}

uint64_t delivery_dropped(struct delivery *d)
{
    pthread_mutex_lock(&d->lock);
    uint64_t n = d->dropped;
    pthread_mutex_unlock(&d->lock);
    return n;
}

void delivery_subscribe(struct delivery *d, const char *session, int delta)
{
    (void)d, (void)session, (void)delta;
}

#include "delivery/delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/delivery_backend.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define MEM_SCHEME "mem://"
#define REDIS_SCHEME "redis://"

struct delivery {
    const struct delivery_ops *ops;
    void *impl;
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

void delivery_msg_ref(struct delivery_msg *m)
{
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
}

void delivery_msg_unref(struct delivery_msg *m)
{
    if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(m);
}

int delivery_open(const char *url, size_t max_queued, delivery_wake_cb wake, void *user_data,
                  struct delivery **out)
{
    if (!out)
        return BC_EINVAL;
    *out = NULL;
    const struct delivery_ops *ops = NULL;
    void *impl = NULL;
    if (url && strcmp(url, MEM_SCHEME) == 0) {
        delivery_local_backend_open(max_queued, wake, user_data, &ops, &impl);
    } else if (url && strncmp(url, REDIS_SCHEME, strlen(REDIS_SCHEME)) == 0) {
        int rc = delivery_redis_backend_open(url, max_queued, wake, user_data, &ops, &impl);
        if (rc < 0)
            return rc;
    } else {
        bc_error("delivery: unsupported url '%s' (want mem:// or redis://host:port)",
                 url ? url : "(null)");
        return BC_EINVAL;
    }
    struct delivery *d = bc_calloc(1, sizeof *d);
    d->ops = ops;
    d->impl = impl;
    *out = d;
    return 0;
}

struct delivery *delivery_new(size_t max_queued, delivery_wake_cb wake, void *user_data)
{
    struct delivery *d = bc_calloc(1, sizeof *d);
    delivery_local_backend_open(max_queued, wake, user_data, &d->ops, &d->impl);
    return d;
}

void delivery_free(struct delivery *d)
{
    if (!d)
        return;
    d->ops->close(d->impl);
    free(d);
}

/* Names that do not fit a message's fields would be cut, and then match
 * another session's or language's receivers. */
static bool names_ok(const char *session, const char *lang)
{
    if (!session || !session[0] || strnlen(session, DELIVERY_ID_MAX) == DELIVERY_ID_MAX)
        return false;
    return !lang || strnlen(lang, DELIVERY_LANG_MAX) < DELIVERY_LANG_MAX;
}

void delivery_publish(struct delivery *d, struct delivery_msg *m)
{
    if (m)
        d->ops->publish(d->impl, m);
}

size_t delivery_drain(struct delivery *d, struct delivery_msg **out, size_t max)
{
    return d->ops->drain(d->impl, out, max);
}

void delivery_subscribe(struct delivery *d, const char *session, int delta)
{
    if (!names_ok(session, NULL)) {
        bc_warn("delivery: subscribe to an invalid session id ignored");
        return;
    }
    if (delta != 0)
        d->ops->subscribe(d->impl, session, delta);
}

void delivery_demand_add(struct delivery *d, const char *session, const char *lang,
                         enum delivery_codec codec, int delta)
{
    if (!lang || !names_ok(session, lang)) {
        bc_warn("delivery: demand for an invalid session id or language ignored");
        return;
    }
    if (delta != 0)
        d->ops->demand_add(d->impl, session, lang, codec, delta);
}

int delivery_demand(struct delivery *d, const char *session, const char *lang,
                    enum delivery_codec codec)
{
    if (!lang || !names_ok(session, lang))
        return 0;
    return d->ops->demand(d->impl, session, lang, codec);
}

uint64_t delivery_dropped(struct delivery *d)
{
    return d->ops->dropped(d->impl);
}

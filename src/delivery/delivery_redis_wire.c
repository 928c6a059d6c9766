/* The Redis backend's names and message encoding (format in
 * delivery_redis.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/delivery_redis.h"
#include "util/alloc.h"
#include "util/err.h"

/* version, flags, codec, session length, lang length */
#define WIRE_HEAD_BYTES 5
#define WIRE_LEN_BYTES 4
#define WIRE_CODEC_LAST DELIVERY_CODEC_OPUS
/* Demand field name of DELIVERY_CODEC_ANY, whose wire name is "". */
#define DEMAND_CODEC_ANY "any"

void delivery_redis_key(char *buf, size_t len, const char *session, const char *suffix)
{
    snprintf(buf, len, REDIS_KEY_FMT, session, suffix);
}

void delivery_redis_demand_field(char *buf, size_t len, const char *lang, enum delivery_codec codec,
                                 const char *instance)
{
    const char *codec_name =
        codec == DELIVERY_CODEC_ANY ? DEMAND_CODEC_ANY : delivery_codec_name(codec);
    if (instance)
        snprintf(buf, len, "%s/%s/%s", lang, codec_name, instance);
    else
        snprintf(buf, len, "%s/%s", lang, codec_name);
}

int delivery_wire_encode(const struct delivery_msg *m, uint8_t **out, size_t *len)
{
    size_t session_len = strnlen(m->session, sizeof m->session);
    size_t lang_len = strnlen(m->lang, sizeof m->lang);
    if (session_len == 0 || session_len == sizeof m->session || lang_len == sizeof m->lang ||
        m->len > DELIVERY_WIRE_MAX_PAYLOAD || (unsigned)m->codec > WIRE_CODEC_LAST)
        return BC_EINVAL;
    size_t total = WIRE_HEAD_BYTES + session_len + lang_len + WIRE_LEN_BYTES + m->len;
    uint8_t *p = bc_malloc(total);
    *out = p;
    *len = total;
    *p++ = DELIVERY_WIRE_VERSION;
    *p++ = (uint8_t)((m->binary ? DELIVERY_WIRE_BINARY : 0) |
                     (m->to_speaker ? DELIVERY_WIRE_TO_SPEAKER : 0) |
                     (m->closes ? DELIVERY_WIRE_CLOSES : 0));
    *p++ = (uint8_t)m->codec;
    *p++ = (uint8_t)session_len;
    *p++ = (uint8_t)lang_len;
    memcpy(p, m->session, session_len);
    p += session_len;
    memcpy(p, m->lang, lang_len);
    p += lang_len;
    uint32_t n = (uint32_t)m->len;
    *p++ = (uint8_t)(n >> 24);
    *p++ = (uint8_t)(n >> 16);
    *p++ = (uint8_t)(n >> 8);
    *p++ = (uint8_t)n;
    if (m->len)
        memcpy(p, m->payload, m->len);
    return 0;
}

int delivery_wire_decode(const void *data, size_t len, struct delivery_msg **out)
{
    *out = NULL;
    const uint8_t *p = data;
    if (len < WIRE_HEAD_BYTES || p[0] != DELIVERY_WIRE_VERSION || (p[1] & ~DELIVERY_WIRE_FLAGS) ||
        p[2] > WIRE_CODEC_LAST)
        return BC_EFORMAT;
    uint8_t flags = p[1], codec = p[2];
    size_t session_len = p[3], lang_len = p[4];
    if (session_len == 0 || session_len >= DELIVERY_ID_MAX || lang_len >= DELIVERY_LANG_MAX)
        return BC_EFORMAT;
    size_t names_end = WIRE_HEAD_BYTES + session_len + lang_len;
    if (len < names_end + WIRE_LEN_BYTES)
        return BC_EFORMAT;
    const char *session = (const char *)p + WIRE_HEAD_BYTES;
    const char *lang = session + session_len;
    if (memchr(session, '\0', session_len) || memchr(lang, '\0', lang_len))
        return BC_EFORMAT;
    const uint8_t *q = p + names_end;
    size_t payload_len = (size_t)q[0] << 24 | (size_t)q[1] << 16 | (size_t)q[2] << 8 | q[3];
    if (payload_len > DELIVERY_WIRE_MAX_PAYLOAD || len - names_end - WIRE_LEN_BYTES != payload_len)
        return BC_EFORMAT;

    char session_z[DELIVERY_ID_MAX], lang_z[DELIVERY_LANG_MAX];
    memcpy(session_z, session, session_len);
    session_z[session_len] = '\0';
    memcpy(lang_z, lang, lang_len);
    lang_z[lang_len] = '\0';
    struct delivery_msg *m = delivery_msg_new(session_z, lang_z, flags & DELIVERY_WIRE_BINARY,
                                              q + WIRE_LEN_BYTES, payload_len);
    m->to_speaker = flags & DELIVERY_WIRE_TO_SPEAKER;
    m->closes = flags & DELIVERY_WIRE_CLOSES;
    m->codec = (enum delivery_codec)codec;
    *out = m;
    return 0;
}

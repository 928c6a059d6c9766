/* The delivery bus: results of the pipeline (captions, audio frames,
 * control messages) travel from worker and TTS threads to the gateway that
 * fans them out to the listeners of (session, lang).
 *
 * A message is encoded once and shared by reference among all its
 * receivers. Backends behind one table of operations, chosen by URL:
 *   mem://                              in-process: a bounded queue plus a
 *                                       wake-up of the gateway's event loop
 *   redis://[:password@]host:port[/db]  across processes: workers PUBLISH
 *                                       each message on its session's channel
 *                                       REDIS_KEY_FMT(ID, "out"); a gateway
 *                                       receives the sessions it subscribed
 *                                       to into the same bounded queue. Demand
 *                                       is summed over gateways in the hash
 *                                       REDIS_KEY_FMT(ID, "demand").
 * With Redis, delivery is at most once: what is published while Redis is
 * down, or before a gateway's subscription took effect, is lost. */
#ifndef BC_DELIVERY_H
#define BC_DELIVERY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DELIVERY_ID_MAX 64
#define DELIVERY_LANG_MAX 16
/* Room before the payload for the WebSocket header (libwebsockets' LWS_PRE). */
#define DELIVERY_PRE 16
/* How long delivery_demand may answer from its cache (Redis). */
#define DELIVERY_DEMAND_CACHE_MS 250
/* lang value that addresses every connection of the session. */
#define DELIVERY_ALL_LANGS "*"

/* The audio encoding a message is for; captions and control messages are
 * for every listener (ANY). */
enum delivery_codec { DELIVERY_CODEC_ANY = 0, DELIVERY_CODEC_PCM16, DELIVERY_CODEC_OPUS };

/* Its name on the wire ("pcm16", "opus"; "" for ANY). */
const char *delivery_codec_name(enum delivery_codec codec);
/* Returns 0 and *out for "pcm16" or "opus", else BC_ENOTFOUND. */
int delivery_codec_parse(const char *name, enum delivery_codec *out);

struct delivery_msg {
    int refs;                        /* atomic; see delivery_msg_ref/unref */
    char session[DELIVERY_ID_MAX];
    char lang[DELIVERY_LANG_MAX];
    bool binary;
    bool to_speaker;                 /* also (or only, with lang "") for the speaker */
    bool closes;                     /* receivers close after sending it (session ended) */
    enum delivery_codec codec;       /* listeners of another codec skip it */
    size_t len;
    uint8_t *payload;                /* = buf + DELIVERY_PRE */
    uint8_t buf[];
};

/* A new message with one reference, payload copied. */
struct delivery_msg *delivery_msg_new(const char *session, const char *lang, bool binary,
                                      const void *payload, size_t len);
/* A new text message holding json in compact form, with one reference. */
struct delivery_msg *delivery_msg_json(const char *session, const char *lang, const cJSON *json);
void delivery_msg_ref(struct delivery_msg *m);
/* Drops a reference; frees at zero. NULL is a no-op. */
void delivery_msg_unref(struct delivery_msg *m);

struct delivery;

typedef void (*delivery_wake_cb)(void *user_data);

/* The in-process bus, as delivery_open("mem://", ...). max_queued: messages
 * waiting for the gateway before publish drops the oldest audio (captions
 * are kept). wake runs on the publishing thread after each publish. Never
 * fails. */
struct delivery *delivery_new(size_t max_queued, delivery_wake_cb wake, void *user_data);
/* Opens a bus by URL (see above); max_queued bounds this process's queue of
 * received messages as for delivery_new. With redis://, wake runs on the
 * backend's receiving thread after received messages were queued, and
 * Redis being down is not an error (the backend reconnects by itself).
 * Returns 0 and *out (free with delivery_free), BC_EINVAL (unknown scheme,
 * bad URL) or BC_EIO. */
int delivery_open(const char *url, size_t max_queued, delivery_wake_cb wake, void *user_data,
                  struct delivery **out);
/* Stops the backend's threads, frees queued messages; with Redis, removes
 * this process's demand from Redis (best effort, bounded by the connection
 * timeout). NULL is a no-op. */
void delivery_free(struct delivery *d);

/* Takes over the caller's reference. Thread-safe. With Redis, the message
 * is sent from the calling thread, which may block up to the connection
 * timeout; when Redis cannot be reached it is dropped and counted in
 * delivery_dropped. Messages published by one thread arrive in order. */
void delivery_publish(struct delivery *d, struct delivery_msg *m);
/* Moves up to max queued messages into out (the caller owns those
 * references). Returns the count. Thread-safe. */
size_t delivery_drain(struct delivery *d, struct delivery_msg **out, size_t max);
/* This process receives the session's messages while the sum of deltas is
 * positive (reference counted: +1 per speaker or listener, -1 when it
 * leaves). In-process every message is received anyway (no-op). Never
 * blocks (Redis SUBSCRIBE/UNSUBSCRIBE are sent by the backend's thread, so
 * messages published before that happens are not received); meant for the
 * gateway's event-loop thread. Thread-safe. */
void delivery_subscribe(struct delivery *d, const char *session, int delta);
/* Receivers of (session, lang, codec), kept by the gateway so that
 * producers can skip encodings nobody receives. Thread-safe and never
 * blocks: with Redis the count is stored by the backend's thread. */
void delivery_demand_add(struct delivery *d, const char *session, const char *lang,
                         enum delivery_codec codec, int delta);
/* The receivers counted by delivery_demand_add; with Redis, summed over
 * every process sharing the bus, at most DELIVERY_DEMAND_CACHE_MS old
 * (may read Redis, bounded by the connection timeout; 0 while Redis is
 * down). Thread-safe. */
int delivery_demand(struct delivery *d, const char *session, const char *lang,
                    enum delivery_codec codec);
/* Messages dropped: this process's queue overflowed because the gateway
 * fell behind, or (Redis) a publish could not reach Redis. */
uint64_t delivery_dropped(struct delivery *d);

#endif

/* The delivery bus: results of the pipeline (captions, audio frames,
 * control messages) travel from worker and TTS threads to the gateway that
 * fans them out to the listeners of (session, lang).
 *
 * A message is encoded once and shared by reference among all its
 * receivers. The in-process backend is a bounded queue plus a wake-up of
 * the gateway's event loop. */
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
/* The fields every caption message has (docs/API.md); the caller adds
 * seq/append_ms and replay, sends, and frees it with cJSON_Delete. */
cJSON *delivery_caption_json(const char *lang, int utterance, bool final, const char *text,
                             const char *source_text, int64_t start_ms, int64_t end_ms);
void delivery_msg_ref(struct delivery_msg *m);
/* Drops a reference; frees at zero. NULL is a no-op. */
void delivery_msg_unref(struct delivery_msg *m);

struct delivery;

typedef void (*delivery_wake_cb)(void *user_data);

/* max_queued: messages waiting for the gateway before publish drops the
 * oldest audio (captions are kept). wake runs on the publishing thread
 * after each publish. Never fails. */
struct delivery *delivery_new(size_t max_queued, delivery_wake_cb wake, void *user_data);
/* Frees queued messages. */
void delivery_free(struct delivery *d);

/* Takes over the caller's reference. Thread-safe. */
void delivery_publish(struct delivery *d, struct delivery_msg *m);
/* Moves up to max queued messages into out (the caller owns those
 * references). Returns the count. Thread-safe. */
size_t delivery_drain(struct delivery *d, struct delivery_msg **out, size_t max);
/* Receivers of (session, lang, codec), kept by the gateway so that
 * producers can skip encodings nobody receives. Thread-safe. */
void delivery_demand_add(struct delivery *d, const char *session, const char *lang,
                         enum delivery_codec codec, int delta);
int delivery_demand(struct delivery *d, const char *session, const char *lang,
                    enum delivery_codec codec);
/* The calling process receives the session's messages while its count is
 * above zero (a gateway with a speaker or listeners of it). The in-process
 * bus delivers everything. Never blocks: safe on an event-loop thread. */
void delivery_subscribe(struct delivery *d, const char *session, int delta);
/* Messages dropped because the gateway fell behind. */
uint64_t delivery_dropped(struct delivery *d);

#endif

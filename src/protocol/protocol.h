/* The JSON messages of the WebSocket protocol (docs/API.md), built in one
 * place so the gateway, the workers and the speech output agree on them.
 * Each function returns a new object the caller frees with cJSON_Delete;
 * callers may add fields (seq, append_ms, replay). Pure and thread-safe. */
#ifndef BC_PROTOCOL_H
#define BC_PROTOCOL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTOCOL_LANG_MAX 16 /* bytes of a language code, NUL included */

/* Where the speech that a caption or an utterance's audio ends with entered
 * the stream, so a client can measure latency from it. */
struct protocol_origin {
    int64_t source_end_ms; /* end of the utterance in the session's timeline */
    uint64_t seq;          /* stream record holding that sample */
    int64_t append_ms;     /* when that record was appended (Unix ms) */
};

/* {"type":"caption", lang, final, utterance, text, source_text,
 *  source_start_ms, source_end_ms} */
cJSON *protocol_caption(const char *lang, int utterance, bool final, const char *text,
                        const char *source_text, int64_t start_ms, int64_t end_ms);
/* Simultaneous mode: adds "committed" (the caption's text that no later
 * caption of the utterance takes back) when committed is not NULL, and
 * "chunk" (the chunk of the utterance this caption commits) when chunk >= 0.
 * Returns json. */
cJSON *protocol_caption_committed(cJSON *json, const char *committed, int chunk);
/* To a speaker: {"type":"ready", session, received_samples}. */
cJSON *protocol_ready(const char *session, int64_t received_samples);
/* To a speaker: {"type":"ack", received_samples}. */
cJSON *protocol_ack(int64_t received_samples);
/* To a speaker: {"type":"listeners", counts: {lang: n}}. */
cJSON *protocol_listeners(const char (*langs)[PROTOCOL_LANG_MAX], const int *counts, size_t n);
/* To a listener: {"type":"hello", session, lang, sample_rate, codec,
 * frame_ms (when > 0), voice}. */
cJSON *protocol_hello(const char *session, const char *lang, int sample_rate_hz,
                      const char *codec, int frame_ms, bool voice);
/* {"type":"audio_start", utterance, sample_rate, codec, frame_ms (when > 0),
 * source_end_ms/seq/append_ms (when origin)} */
cJSON *protocol_audio_start(int utterance, int sample_rate_hz, const char *codec, int frame_ms,
                            const struct protocol_origin *origin);
/* {"type":"audio_end", utterance, samples} */
cJSON *protocol_audio_end(int utterance, size_t samples);
/* {"type":"ended"}: the session is over; receivers close with 1000. */
cJSON *protocol_ended(void);

#endif

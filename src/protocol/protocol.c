#include "protocol/protocol.h"

static cJSON *message(const char *type)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "type", type);
    return json;
}

cJSON *protocol_caption(const char *lang, int utterance, bool final, const char *text,
                        const char *source_text, int64_t start_ms, int64_t end_ms)
{
    cJSON *json = message("caption");
    cJSON_AddStringToObject(json, "lang", lang);
    cJSON_AddBoolToObject(json, "final", final);
    cJSON_AddNumberToObject(json, "utterance", utterance);
    cJSON_AddStringToObject(json, "text", text);
    cJSON_AddStringToObject(json, "source_text", source_text);
    cJSON_AddNumberToObject(json, "source_start_ms", (double)start_ms);
    cJSON_AddNumberToObject(json, "source_end_ms", (double)end_ms);
    return json;
}

cJSON *protocol_caption_committed(cJSON *json, const char *committed, int chunk)
{
    if (committed)
        cJSON_AddStringToObject(json, "committed", committed);
    if (chunk >= 0)
        cJSON_AddNumberToObject(json, "chunk", chunk);
    return json;
}

cJSON *protocol_ready(const char *session, int64_t received_samples)
{
    cJSON *json = message("ready");
    cJSON_AddStringToObject(json, "session", session);
    cJSON_AddNumberToObject(json, "received_samples", (double)received_samples);
    return json;
}

cJSON *protocol_ack(int64_t received_samples)
{
    cJSON *json = message("ack");
    cJSON_AddNumberToObject(json, "received_samples", (double)received_samples);
    return json;
}

cJSON *protocol_listeners(const char (*langs)[PROTOCOL_LANG_MAX], const int *counts, size_t n)
{
    cJSON *json = message("listeners");
    cJSON *obj = cJSON_AddObjectToObject(json, "counts");
    for (size_t i = 0; i < n; i++)
        cJSON_AddNumberToObject(obj, langs[i], counts[i]);
    return json;
}

cJSON *protocol_hello(const char *session, const char *lang, int sample_rate_hz, const char *codec,
                      int frame_ms, bool voice)
{
    cJSON *json = message("hello");
    cJSON_AddStringToObject(json, "session", session);
    cJSON_AddStringToObject(json, "lang", lang);
    cJSON_AddNumberToObject(json, "sample_rate", sample_rate_hz);
    cJSON_AddStringToObject(json, "codec", codec);
    if (frame_ms > 0)
        cJSON_AddNumberToObject(json, "frame_ms", frame_ms);
    cJSON_AddBoolToObject(json, "voice", voice);
    return json;
}

cJSON *protocol_audio_start(int utterance, int sample_rate_hz, const char *codec, int frame_ms,
                            const struct protocol_origin *origin)
{
    cJSON *json = message("audio_start");
    cJSON_AddNumberToObject(json, "utterance", utterance);
    cJSON_AddNumberToObject(json, "sample_rate", sample_rate_hz);
    cJSON_AddStringToObject(json, "codec", codec);
    if (frame_ms > 0)
        cJSON_AddNumberToObject(json, "frame_ms", frame_ms);
    if (origin) {
        cJSON_AddNumberToObject(json, "source_end_ms", (double)origin->source_end_ms);
        cJSON_AddNumberToObject(json, "seq", (double)origin->seq);
        cJSON_AddNumberToObject(json, "append_ms", (double)origin->append_ms);
    }
    return json;
}

cJSON *protocol_audio_end(int utterance, size_t samples)
{
    cJSON *json = message("audio_end");
    cJSON_AddNumberToObject(json, "utterance", utterance);
    cJSON_AddNumberToObject(json, "samples", (double)samples);
    return json;
}

cJSON *protocol_ended(void)
{
    return message("ended");
}

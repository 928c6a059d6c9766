#include "pipeline/speech_out.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audio/audio.h"
#include "audio/audio_opus.h"
#include "util/alloc.h"
#include "util/log.h"

#define ARCHIVE_DIR_MODE 0755

struct speech_out {
    char session[DELIVERY_ID_MAX];
    char lang[DELIVERY_LANG_MAX];
    char *archive_dir;
    struct delivery *bus;
    int utterance;
    bool speaking;
    struct wav_writer *archive;
    struct audio_opus_encoder *opus; /* NULL when it could not be made */
    int opus_input_rate_hz;
};

struct speech_out *speech_out_new(const char *session, const char *lang, const char *archive_dir,
                                  struct delivery *bus)
{
    struct speech_out *o = bc_calloc(1, sizeof *o);
    snprintf(o->session, sizeof o->session, "%s", session);
    snprintf(o->lang, sizeof o->lang, "%s", lang);
    o->archive_dir = archive_dir ? bc_strdup(archive_dir) : NULL;
    o->bus = bus;
    return o;
}

static void publish(struct speech_out *o, enum delivery_codec codec, bool binary, const void *data,
                    size_t len)
{
    struct delivery_msg *m = delivery_msg_new(o->session, o->lang, binary, data, len);
    m->codec = codec;
    delivery_publish(o->bus, m);
}

static void publish_json(struct speech_out *o, enum delivery_codec codec, cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    publish(o, codec, false, text, strlen(text));
    cJSON_free(text);
    cJSON_Delete(json);
}

static void publish_opus_packet(const uint8_t *data, size_t len, void *user_data)
{
    publish(user_data, DELIVERY_CODEC_OPUS, true, data, len);
}

static void drop_packet(const uint8_t *data, size_t len, void *user_data)
{
    (void)data;
    (void)len;
    (void)user_data;
}

static void archive_open(struct speech_out *o, int sample_rate_hz)
{
    if (!o->archive_dir)
        return;
    char *session_dir = bc_asprintf("%s/%s", o->archive_dir, o->session);
    char *dir = bc_asprintf("%s/%s", session_dir, o->lang);
    char *path = bc_asprintf("%s/%06d.wav", dir, o->utterance);
    mkdir(o->archive_dir, ARCHIVE_DIR_MODE);
    mkdir(session_dir, ARCHIVE_DIR_MODE);
    mkdir(dir, ARCHIVE_DIR_MODE);
    if (wav_writer_open(path, sample_rate_hz, &o->archive) < 0)
        bc_warn("cannot archive audio to %s", path);
    free(path);
    free(dir);
    free(session_dir);
}

/* An encoder for this rate, reset; NULL when Opus is unavailable. */
static struct audio_opus_encoder *opus_for(struct speech_out *o, int sample_rate_hz)
{
    if (o->opus && o->opus_input_rate_hz == sample_rate_hz) {
        if (o->speaking) /* the previous utterance never ended */
            audio_opus_encoder_finish(o->opus, drop_packet, NULL, NULL);
        return o->opus;
    }
    audio_opus_encoder_free(o->opus);
    o->opus = NULL;
    if (audio_opus_encoder_new(sample_rate_hz, &o->opus) < 0)
        bc_warn("session %s: no Opus audio for %s", o->session, o->lang);
    o->opus_input_rate_hz = sample_rate_hz;
    return o->opus;
}

static cJSON *audio_start_json(int utterance, enum delivery_codec codec, int sample_rate_hz,
                               const struct speech_timing *timing)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "type", "audio_start");
    cJSON_AddNumberToObject(json, "utterance", utterance);
    cJSON_AddNumberToObject(json, "sample_rate", sample_rate_hz);
    cJSON_AddStringToObject(json, "codec", delivery_codec_name(codec));
    if (codec == DELIVERY_CODEC_OPUS)
        cJSON_AddNumberToObject(json, "frame_ms", AUDIO_OPUS_FRAME_MS);
    if (timing) {
        cJSON_AddNumberToObject(json, "source_end_ms", (double)timing->source_end_ms);
        cJSON_AddNumberToObject(json, "seq", (double)timing->seq);
        cJSON_AddNumberToObject(json, "append_ms", (double)timing->append_ms);
    }
    return json;
}

static cJSON *audio_end_json(int utterance, size_t n_samples)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "type", "audio_end");
    cJSON_AddNumberToObject(json, "utterance", utterance);
    cJSON_AddNumberToObject(json, "samples", (double)n_samples);
    return json;
}

void speech_out_start(struct speech_out *o, int utterance, int sample_rate_hz,
                      const struct speech_timing *timing)
{
    wav_writer_close(o->archive);
    o->archive = NULL;
    o->utterance = utterance;
    archive_open(o, sample_rate_hz);
    struct audio_opus_encoder *opus = opus_for(o, sample_rate_hz);
    o->speaking = true;
    publish_json(o, DELIVERY_CODEC_PCM16,
                 audio_start_json(utterance, DELIVERY_CODEC_PCM16, sample_rate_hz, timing));
    if (opus)
        publish_json(o, DELIVERY_CODEC_OPUS,
                     audio_start_json(utterance, DELIVERY_CODEC_OPUS, AUDIO_OPUS_RATE_HZ, timing));
}

void speech_out_samples(struct speech_out *o, const int16_t *pcm, size_t n)
{
    if (o->archive)
        wav_writer_append(o->archive, pcm, n);
    publish(o, DELIVERY_CODEC_PCM16, true, pcm, n * sizeof *pcm);
    if (o->opus && o->speaking && audio_opus_encoder_push(o->opus, pcm, n, publish_opus_packet, o) < 0)
        bc_warn("session %s: Opus encoding failed for %s", o->session, o->lang);
}

void speech_out_end(struct speech_out *o, size_t n_samples)
{
    wav_writer_close(o->archive);
    o->archive = NULL;
    publish_json(o, DELIVERY_CODEC_PCM16, audio_end_json(o->utterance, n_samples));
    if (o->opus && o->speaking) {
        size_t opus_samples = 0;
        audio_opus_encoder_finish(o->opus, publish_opus_packet, o, &opus_samples);
        publish_json(o, DELIVERY_CODEC_OPUS, audio_end_json(o->utterance, opus_samples));
    }
    o->speaking = false;
}

void speech_out_free(struct speech_out *o)
{
    if (!o)
        return;
    wav_writer_close(o->archive);
    audio_opus_encoder_free(o->opus);
    free(o->archive_dir);
    free(o);
}

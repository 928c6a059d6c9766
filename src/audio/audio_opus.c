#include "audio/audio_opus.h"

#include <opus.h>
#include <stdlib.h>
#include <string.h>

#include "audio/resample.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define OPUS_CHANNELS 1
/* Translated speech is synthetic and clean: complexity 1 encodes about
 * twice as fast as 5 with the same bitrate and loudness envelope
 * (tests/unit/test_opus.c, bench/bench_opus.c). */
#define OPUS_ENCODER_COMPLEXITY 1

struct audio_opus_encoder {
    OpusEncoder *opus;
    struct resampler *resampler;
    int16_t frame[AUDIO_OPUS_FRAME_SAMPLES];
    size_t frame_fill;
    size_t samples_since_finish;
};

struct audio_opus_decoder {
    OpusDecoder *opus;
};

int audio_opus_encoder_new(int in_rate_hz, struct audio_opus_encoder **out)
{
    *out = NULL;
    struct audio_opus_encoder *e = bc_calloc(1, sizeof *e);
    int rc = resampler_new(in_rate_hz, AUDIO_OPUS_RATE_HZ, &e->resampler);
    if (rc < 0)
        goto fail;
    int opus_rc = OPUS_OK;
    e->opus = opus_encoder_create(AUDIO_OPUS_RATE_HZ, OPUS_CHANNELS, OPUS_APPLICATION_VOIP, &opus_rc);
    if (!e->opus || opus_rc != OPUS_OK) {
        bc_error("opus encoder: %s", opus_strerror(opus_rc));
        rc = BC_EENGINE;
        goto fail;
    }
    opus_encoder_ctl(e->opus, OPUS_SET_BITRATE(AUDIO_OPUS_BITRATE_BPS));
    opus_encoder_ctl(e->opus, OPUS_SET_COMPLEXITY(OPUS_ENCODER_COMPLEXITY));
    opus_encoder_ctl(e->opus, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
    *out = e;
    return 0;

fail:
    audio_opus_encoder_free(e);
    return rc;
}

static int encode_frame(struct audio_opus_encoder *e, audio_opus_packet_cb cb, void *user_data)
{
    uint8_t packet[AUDIO_OPUS_MAX_PACKET_BYTES];
    opus_int32 len =
        opus_encode(e->opus, e->frame, AUDIO_OPUS_FRAME_SAMPLES, packet, (opus_int32)sizeof packet);
    e->frame_fill = 0;
    if (len < 0) {
        bc_error("opus encode: %s", opus_strerror(len));
        return BC_EENGINE;
    }
    e->samples_since_finish += AUDIO_OPUS_FRAME_SAMPLES;
    cb(packet, (size_t)len, user_data);
    return 0;
}

/* Fills frames from samples already at the Opus rate. */
static int frame_up(struct audio_opus_encoder *e, const int16_t *pcm, size_t n,
                    audio_opus_packet_cb cb, void *user_data)
{
    while (n > 0) {
        size_t take = AUDIO_OPUS_FRAME_SAMPLES - e->frame_fill;
        if (take > n)
            take = n;
        memcpy(e->frame + e->frame_fill, pcm, take * sizeof *pcm);
        e->frame_fill += take;
        pcm += take;
        n -= take;
        if (e->frame_fill == AUDIO_OPUS_FRAME_SAMPLES) {
            int rc = encode_frame(e, cb, user_data);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int audio_opus_encoder_push(struct audio_opus_encoder *e, const int16_t *pcm, size_t n,
                            audio_opus_packet_cb cb, void *user_data)
{
    const int16_t *resampled;
    size_t n_resampled;
    int rc = resampler_process(e->resampler, pcm, n, &resampled, &n_resampled);
    if (rc < 0)
        return rc;
    return frame_up(e, resampled, n_resampled, cb, user_data);
}

int audio_opus_encoder_finish(struct audio_opus_encoder *e, audio_opus_packet_cb cb,
                              void *user_data, size_t *out_samples)
{
    const int16_t *tail;
    size_t n_tail;
    int rc = resampler_flush(e->resampler, &tail, &n_tail);
    if (rc == 0)
        rc = frame_up(e, tail, n_tail, cb, user_data);
    if (rc == 0 && e->frame_fill > 0) {
        memset(e->frame + e->frame_fill, 0,
               (AUDIO_OPUS_FRAME_SAMPLES - e->frame_fill) * sizeof *e->frame);
        rc = encode_frame(e, cb, user_data);
    }
    if (out_samples)
        *out_samples = e->samples_since_finish;
    e->samples_since_finish = 0;
    e->frame_fill = 0;
    opus_encoder_ctl(e->opus, OPUS_RESET_STATE);
    return rc;
}

size_t audio_opus_encoder_delay(const struct audio_opus_encoder *e)
{
    opus_int32 lookahead = 0;
    opus_encoder_ctl(e->opus, OPUS_GET_LOOKAHEAD(&lookahead));
    return lookahead > 0 ? (size_t)lookahead : 0;
}

void audio_opus_encoder_free(struct audio_opus_encoder *e)
{
    if (!e)
        return;
    if (e->opus)
        opus_encoder_destroy(e->opus);
    resampler_free(e->resampler);
    free(e);
}

int audio_opus_decoder_new(struct audio_opus_decoder **out)
{
    *out = NULL;
    int opus_rc = OPUS_OK;
    OpusDecoder *opus = opus_decoder_create(AUDIO_OPUS_RATE_HZ, OPUS_CHANNELS, &opus_rc);
    if (!opus || opus_rc != OPUS_OK) {
        bc_error("opus decoder: %s", opus_strerror(opus_rc));
        return BC_EENGINE;
    }
    struct audio_opus_decoder *d = bc_calloc(1, sizeof *d);
    d->opus = opus;
    *out = d;
    return 0;
}

int audio_opus_decoder_decode(struct audio_opus_decoder *d, const uint8_t *packet, size_t len,
                              int16_t *pcm, size_t max, size_t *n_out)
{
    *n_out = 0;
    /* An empty packet means "lost" to libopus; here it is a bad frame. */
    if (len == 0 || len > AUDIO_OPUS_MAX_PACKET_BYTES)
        return BC_EFORMAT;
    int n = opus_decode(d->opus, packet, (opus_int32)len, pcm, (int)max, 0);
    if (n < 0)
        return BC_EFORMAT;
    *n_out = (size_t)n;
    return 0;
}

void audio_opus_decoder_free(struct audio_opus_decoder *d)
{
    if (!d)
        return;
    opus_decoder_destroy(d->opus);
    free(d);
}

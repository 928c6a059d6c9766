/* Opus packets for listeners: real speech through encoder and decoder. */
#include <math.h>

#include "audio/audio.h"
#include "audio/audio_opus.h"
#include "test.h"
#include "util/err.h"

#define SPEECH_FILE TEST_LIBRIVOX_DIR "/sense_and_sensibility_01_austen_64kb-0880.wav"
#define SPEECH_RATE_HZ 22050 /* the synthesizer's rate */
#define MAX_PACKETS 20000
#define ENVELOPE_MIN_CORRELATION 0.95
/* Bytes per second may exceed the target bitrate a little (VBR). */
#define BITRATE_SLACK 1.25

struct packets {
    uint8_t *data[MAX_PACKETS];
    size_t len[MAX_PACKETS];
    size_t n, bytes;
};

static void keep_packet(const uint8_t *data, size_t len, void *user_data)
{
    struct packets *p = user_data;
    ASSERT_LT(p->n, MAX_PACKETS);
    ASSERT_GT(len, 0);
    p->data[p->n] = malloc(len);
    memcpy(p->data[p->n], data, len);
    p->len[p->n++] = len;
    p->bytes += len;
}

static void packets_free(struct packets *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->data[i]);
    p->n = p->bytes = 0;
}

/* Pushes in uneven pieces, as the synthesizer delivers them. */
static void encode(struct audio_opus_encoder *e, const struct audio_pcm *pcm, struct packets *out,
                   size_t *samples)
{
    static const size_t pieces[] = {1, 479, 4410, 0, 1000, 77, 2205};
    size_t pos = 0, k = 0;
    while (pos < pcm->n_samples) {
        size_t len = pieces[k++ % (sizeof pieces / sizeof pieces[0])];
        if (len > pcm->n_samples - pos)
            len = pcm->n_samples - pos;
        ASSERT_OK(audio_opus_encoder_push(e, pcm->samples + pos, len, keep_packet, out));
        pos += len;
    }
    ASSERT_OK(audio_opus_encoder_finish(e, keep_packet, out, samples));
}

/* Log energy per frame, shifted by the codec's delay, for comparing shapes. */
static double envelope_correlation(const int16_t *a, const int16_t *b, size_t n, size_t frame)
{
    size_t frames = n / frame;
    double *ea = calloc(frames, sizeof *ea), *eb = calloc(frames, sizeof *eb);
    double ma = 0, mb = 0;
    for (size_t f = 0; f < frames; f++) {
        for (size_t i = f * frame; i < (f + 1) * frame; i++) {
            ea[f] += (double)a[i] * a[i];
            eb[f] += (double)b[i] * b[i];
        }
        ea[f] = log10(1 + ea[f]);
        eb[f] = log10(1 + eb[f]);
        ma += ea[f] / (double)frames;
        mb += eb[f] / (double)frames;
    }
    double sab = 0, saa = 0, sbb = 0;
    for (size_t f = 0; f < frames; f++) {
        sab += (ea[f] - ma) * (eb[f] - mb);
        saa += (ea[f] - ma) * (ea[f] - ma);
        sbb += (eb[f] - mb) * (eb[f] - mb);
    }
    free(ea);
    free(eb);
    return sab / sqrt(saa * sbb);
}

static void test_round_trip(void)
{
    char err[256];
    struct audio_pcm speech, reference;
    ASSERT_OK(audio_load(SPEECH_FILE, SPEECH_RATE_HZ, &speech, err, sizeof err));
    ASSERT_OK(audio_load(SPEECH_FILE, AUDIO_OPUS_RATE_HZ, &reference, err, sizeof err));

    struct audio_opus_encoder *e = NULL;
    ASSERT_OK(audio_opus_encoder_new(SPEECH_RATE_HZ, &e));
    static struct packets first, second;
    size_t samples = 0;
    encode(e, &speech, &first, &samples);

    size_t expected_packets =
        (reference.n_samples + AUDIO_OPUS_FRAME_SAMPLES - 1) / AUDIO_OPUS_FRAME_SAMPLES;
    ASSERT_LE(first.n, expected_packets + 1);
    ASSERT_GE(first.n, expected_packets);
    ASSERT_EQ(samples, first.n * AUDIO_OPUS_FRAME_SAMPLES);
    double seconds = (double)reference.n_samples / AUDIO_OPUS_RATE_HZ;
    double bytes_per_s = (double)first.bytes / seconds;
    double pcm_bytes_per_s = SPEECH_RATE_HZ * sizeof(int16_t);
    printf("%.1f s of speech: %zu packets, %.0f bytes/s (PCM16 at %d Hz: %.0f, %.1fx smaller)\n",
           seconds, first.n, bytes_per_s, SPEECH_RATE_HZ, pcm_bytes_per_s,
           pcm_bytes_per_s / bytes_per_s);
    ASSERT(bytes_per_s < AUDIO_OPUS_BITRATE_BPS / 8.0 * BITRATE_SLACK);

    struct audio_opus_decoder *d = NULL;
    ASSERT_OK(audio_opus_decoder_new(&d));
    int16_t *decoded = calloc(first.n * AUDIO_OPUS_FRAME_SAMPLES, sizeof *decoded);
    size_t n_decoded = 0;
    for (size_t i = 0; i < first.n; i++) {
        size_t n = 0;
        ASSERT_OK(audio_opus_decoder_decode(d, first.data[i], first.len[i], decoded + n_decoded,
                                            AUDIO_OPUS_FRAME_SAMPLES, &n));
        ASSERT_EQ(n, AUDIO_OPUS_FRAME_SAMPLES);
        n_decoded += n;
    }
    /* Opus delays its output by the encoder's lookahead; compare the shapes
     * of the two signals' loudness over time. */
    size_t delay = audio_opus_encoder_delay(e);
    ASSERT_LT(delay, AUDIO_OPUS_FRAME_SAMPLES);
    double corr = envelope_correlation(reference.samples, decoded + delay,
                                       reference.n_samples - delay, AUDIO_OPUS_FRAME_SAMPLES);
    printf("loudness envelope correlation with the original: %.3f\n", corr);
    ASSERT(corr > ENVELOPE_MIN_CORRELATION);

    /* finish() resets the encoder: the same speech gives the same packets. */
    encode(e, &speech, &second, &samples);
    ASSERT_EQ(second.n, first.n);
    for (size_t i = 0; i < first.n; i++) {
        ASSERT_EQ(second.len[i], first.len[i]);
        ASSERT(memcmp(second.data[i], first.data[i], first.len[i]) == 0);
    }

    free(decoded);
    packets_free(&first);
    packets_free(&second);
    audio_opus_decoder_free(d);
    audio_opus_encoder_free(e);
    audio_pcm_release(&speech);
    audio_pcm_release(&reference);
}

static void test_bad_packets(void)
{
    struct audio_opus_decoder *d = NULL;
    ASSERT_OK(audio_opus_decoder_new(&d));
    int16_t pcm[AUDIO_OPUS_FRAME_SAMPLES];
    size_t n = 1;
    /* Code 3 (frame count follows) with a count of zero is malformed. */
    const uint8_t zero_frames[] = {0x03, 0x00};
    ASSERT_EQ(audio_opus_decoder_decode(d, zero_frames, sizeof zero_frames, pcm,
                                        AUDIO_OPUS_FRAME_SAMPLES, &n),
              BC_EFORMAT);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(audio_opus_decoder_decode(d, zero_frames, 0, pcm, AUDIO_OPUS_FRAME_SAMPLES, &n),
              BC_EFORMAT);
    /* A valid 20 ms packet does not fit in 10 ms of room. */
    struct audio_opus_encoder *e = NULL;
    ASSERT_OK(audio_opus_encoder_new(AUDIO_OPUS_RATE_HZ, &e));
    static struct packets one;
    int16_t silence[AUDIO_OPUS_FRAME_SAMPLES] = {0};
    ASSERT_OK(audio_opus_encoder_push(e, silence, AUDIO_OPUS_FRAME_SAMPLES, keep_packet, &one));
    ASSERT_OK(audio_opus_encoder_finish(e, keep_packet, &one, NULL));
    ASSERT_GE(one.n, 1);
    ASSERT_EQ(audio_opus_decoder_decode(d, one.data[0], one.len[0], pcm,
                                        AUDIO_OPUS_FRAME_SAMPLES / 2, &n),
              BC_EFORMAT);
    ASSERT_OK(audio_opus_decoder_decode(d, one.data[0], one.len[0], pcm,
                                        AUDIO_OPUS_FRAME_SAMPLES, &n));
    ASSERT_EQ(n, AUDIO_OPUS_FRAME_SAMPLES);
    struct audio_opus_encoder *bad = NULL;
    ASSERT_EQ(audio_opus_encoder_new(0, &bad), BC_EINVAL);
    ASSERT(bad == NULL);
    packets_free(&one);
    audio_opus_encoder_free(e);
    audio_opus_decoder_free(d);
}

int main(void)
{
    test_round_trip();
    test_bad_packets();
    printf("opus: ok\n");
    return 0;
}

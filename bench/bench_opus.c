/* Opus for listeners: encoding speed (real-time factor) of speech at the
 * synthesizer's rate, bytes per second, and decoding speed.
 *
 * build/bench/bench_opus */
#include <stdio.h>
#include <stdlib.h>

#include "audio/audio.h"
#include "audio/audio_opus.h"
#include "test_paths.h"
#include "util/err.h"
#include "util/timeutil.h"

#define SYNTH_RATE_HZ 22050
#define CHUNK_MS 100 /* what the synthesizer delivers at a time */
#define ROUNDS 10
#define US_PER_S 1e6

static const char *const clips[] = {
    TEST_LIBRIVOX_DIR "/sense_and_sensibility_01_austen_64kb-0870.wav",
    TEST_LIBRIVOX_DIR "/sense_and_sensibility_01_austen_64kb-0880.wav",
    TEST_LIBRIVOX_DIR "/sense_and_sensibility_01_austen_64kb-0890.wav",
    TEST_LIBRIVOX_DIR "/sense_and_sensibility_01_austen_64kb-0920.wav",
    TEST_LIBRIVOX_DIR "/sense_and_sensibility_01_austen_64kb-0930.wav",
};

struct packets {
    uint8_t **data;
    size_t *len;
    size_t n, cap, bytes;
};

static void keep(const uint8_t *data, size_t len, void *user_data)
{
    struct packets *p = user_data;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->data = realloc(p->data, p->cap * sizeof *p->data);
        p->len = realloc(p->len, p->cap * sizeof *p->len);
    }
    p->data[p->n] = malloc(len);
    for (size_t i = 0; i < len; i++)
        p->data[p->n][i] = data[i];
    p->len[p->n++] = len;
    p->bytes += len;
}

static void forget(struct packets *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->data[i]);
    p->n = p->bytes = 0;
}

int main(void)
{
    struct audio_opus_encoder *enc = NULL;
    struct audio_opus_decoder *dec = NULL;
    if (audio_opus_encoder_new(SYNTH_RATE_HZ, &enc) < 0 || audio_opus_decoder_new(&dec) < 0) {
        fprintf(stderr, "bench_opus: no Opus\n");
        return 1;
    }
    struct packets p = {0};
    double audio_s = 0, encode_s = 0, decode_s = 0;
    size_t bytes = 0;
    int16_t pcm[AUDIO_OPUS_FRAME_SAMPLES];
    size_t chunk = SYNTH_RATE_HZ / 1000 * CHUNK_MS;
    for (size_t c = 0; c < sizeof clips / sizeof clips[0]; c++) {
        struct audio_pcm speech;
        char err[256];
        if (audio_load(clips[c], SYNTH_RATE_HZ, &speech, err, sizeof err) < 0) {
            fprintf(stderr, "bench_opus: %s\n", err);
            return 1;
        }
        for (int r = 0; r < ROUNDS; r++) {
            int64_t t0 = bc_now_us();
            for (size_t at = 0; at < speech.n_samples; at += chunk) {
                size_t n = speech.n_samples - at < chunk ? speech.n_samples - at : chunk;
                audio_opus_encoder_push(enc, speech.samples + at, n, keep, &p);
            }
            audio_opus_encoder_finish(enc, keep, &p, NULL);
            int64_t t1 = bc_now_us();
            for (size_t i = 0; i < p.n; i++) {
                size_t n = 0;
                audio_opus_decoder_decode(dec, p.data[i], p.len[i], pcm, AUDIO_OPUS_FRAME_SAMPLES, &n);
            }
            int64_t t2 = bc_now_us();
            encode_s += (double)(t1 - t0) / US_PER_S;
            decode_s += (double)(t2 - t1) / US_PER_S;
            audio_s += (double)speech.n_samples / SYNTH_RATE_HZ;
            bytes += p.bytes;
            forget(&p);
        }
        audio_pcm_release(&speech);
    }
    printf("opus %d Hz, %d ms frames, %d bit/s target; input PCM16 at %d Hz in %d ms chunks\n",
           AUDIO_OPUS_RATE_HZ, AUDIO_OPUS_FRAME_MS, AUDIO_OPUS_BITRATE_BPS, SYNTH_RATE_HZ, CHUNK_MS);
    printf("audio %.1f s: encode %.1f ms (%.0fx real time), decode %.1f ms (%.0fx real time)\n",
           audio_s, encode_s * 1e3, audio_s / encode_s, decode_s * 1e3, audio_s / decode_s);
    printf("%.0f bytes/s against %d bytes/s of PCM16 (%.1fx smaller)\n", (double)bytes / audio_s,
           SYNTH_RATE_HZ * 2, SYNTH_RATE_HZ * 2 / ((double)bytes / audio_s));
    free(p.data);
    free(p.len);
    audio_opus_encoder_free(enc);
    audio_opus_decoder_free(dec);
    return 0;
}

/* Resampler: real sines and a real recording through libsoxr. */
#include <math.h>

#include "audio/audio.h"
#include "audio/resample.h"
#include "test.h"
#include "util/err.h"

#define PI 3.14159265358979323846
#define SINE_AMPLITUDE 10000.0
/* Samples skipped at each end where the filter rings in and out. */
#define EDGE_SAMPLES 200

static int16_t *make_sine(double freq_hz, int rate_hz, size_t n)
{
    int16_t *s = malloc(n * sizeof(*s));
    for (size_t i = 0; i < n; i++)
        s[i] = (int16_t)lrint(SINE_AMPLITUDE * sin(2 * PI * freq_hz * (double)i / rate_hz));
    return s;
}

static double rms(const int16_t *s, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)s[i] * s[i];
    return n ? sqrt(sum / (double)n) : 0;
}

/* Amplitude of the freq_hz component (Goertzel), in sample units. */
static double tone_amplitude(const int16_t *s, size_t n, double freq_hz, int rate_hz)
{
    double w = 2 * PI * freq_hz / rate_hz, re = 0, im = 0;
    for (size_t i = 0; i < n; i++) {
        re += s[i] * cos(w * (double)i);
        im -= s[i] * sin(w * (double)i);
    }
    return 2 * sqrt(re * re + im * im) / (double)n;
}

static void test_sine_round_trip(void)
{
    const int in_rate = 22050, mid_rate = 16000;
    const double freq = 1000.0;
    size_t n = (size_t)in_rate; /* one second */
    int16_t *sine = make_sine(freq, in_rate, n);

    int16_t *mid = NULL, *back = NULL;
    size_t n_mid = 0, n_back = 0;
    ASSERT_OK(resample_all(sine, n, in_rate, mid_rate, &mid, &n_mid));
    ASSERT_GE(n_mid, (size_t)mid_rate - 1);
    ASSERT_LE(n_mid, (size_t)mid_rate + 1);
    /* The tone stays at 1 kHz with its energy: the 1 kHz bin holds nearly all
     * of it, a neighbouring frequency almost none. */
    const int16_t *core = mid + EDGE_SAMPLES;
    size_t n_core = n_mid - 2 * EDGE_SAMPLES;
    double amp = tone_amplitude(core, n_core, freq, mid_rate);
    ASSERT(fabs(amp - SINE_AMPLITUDE) < SINE_AMPLITUDE * 0.01);
    ASSERT(tone_amplitude(core, n_core, freq * 1.1, mid_rate) < SINE_AMPLITUDE * 0.01);
    ASSERT(fabs(rms(core, n_core) - SINE_AMPLITUDE / sqrt(2)) < SINE_AMPLITUDE * 0.01);

    ASSERT_OK(resample_all(mid, n_mid, mid_rate, in_rate, &back, &n_back));
    ASSERT_GE(n_back, n - 1);
    ASSERT_LE(n_back, n + 1);
    /* Sample-aligned with the original (soxr compensates its delay). */
    double err = 0;
    for (size_t i = EDGE_SAMPLES; i < n - EDGE_SAMPLES; i++)
        err += pow(back[i] - sine[i], 2);
    err = sqrt(err / (double)(n - 2 * EDGE_SAMPLES));
    printf("sine 22050->16000->22050: rms error %.2f of amplitude %.0f\n", err, SINE_AMPLITUDE);
    ASSERT(err < SINE_AMPLITUDE * 0.002);
    free(sine);
    free(mid);
    free(back);
}

static void test_downsample_rejects_alias(void)
{
    /* 6 kHz is above the 4 kHz Nyquist of 8 kHz: it must be filtered out, not
     * folded back to 2 kHz. */
    size_t n = 16000;
    int16_t *tone = make_sine(6000.0, 16000, n), *out = NULL;
    size_t n_out = 0;
    ASSERT_OK(resample_all(tone, n, 16000, 8000, &out, &n_out));
    ASSERT_GE(n_out, (size_t)7999);
    ASSERT_LE(n_out, (size_t)8001);
    double alias = tone_amplitude(out + EDGE_SAMPLES, n_out - 2 * EDGE_SAMPLES, 2000.0, 8000);
    printf("6 kHz tone at 8 kHz: alias amplitude %.2f, rms %.2f\n", alias, rms(out, n_out));
    ASSERT(alias < SINE_AMPLITUDE * 0.001);
    ASSERT(rms(out + EDGE_SAMPLES, n_out - 2 * EDGE_SAMPLES) < SINE_AMPLITUDE * 0.001);
    free(tone);
    free(out);
}

/* Feeds in uneven pieces; returns the concatenated output. */
static int16_t *stream_in_pieces(struct resampler *r, const int16_t *in, size_t n, size_t *n_out)
{
    static const size_t pieces[] = {1, 7, 160, 0, 333, 1024, 5};
    int16_t *all = malloc((n * 4 + 4096) * sizeof(*all));
    size_t total = 0, pos = 0, k = 0;
    const int16_t *o;
    size_t n_o;
    while (pos < n) {
        size_t len = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
        if (len > n - pos)
            len = n - pos;
        ASSERT_OK(resampler_process(r, in + pos, len, &o, &n_o));
        memcpy(all + total, o, n_o * sizeof(*o));
        total += n_o;
        pos += len;
    }
    ASSERT_OK(resampler_flush(r, &o, &n_o));
    memcpy(all + total, o, n_o * sizeof(*o));
    *n_out = total + n_o;
    return all;
}

static void test_streaming_matches_one_shot(void)
{
    char err[256];
    struct audio_pcm speech;
    ASSERT_OK(audio_load(TEST_GOFORWARD_RAW, 16000, &speech, err, sizeof(err)));

    int16_t *whole = NULL;
    size_t n_whole = 0;
    ASSERT_OK(resample_all(speech.samples, speech.n_samples, 16000, 48000, &whole, &n_whole));
    ASSERT_EQ(n_whole, speech.n_samples * 3);

    struct resampler *r = NULL;
    ASSERT_OK(resampler_new(16000, 48000, &r));
    size_t n_streamed = 0;
    int16_t *streamed = stream_in_pieces(r, speech.samples, speech.n_samples, &n_streamed);
    ASSERT_EQ(n_streamed, n_whole);
    for (size_t i = 0; i < n_whole; i++)
        ASSERT_LE(abs(streamed[i] - whole[i]), 1);

    /* After a flush the object serves a fresh stream with the same result. */
    size_t n_again = 0;
    int16_t *again = stream_in_pieces(r, speech.samples, speech.n_samples, &n_again);
    ASSERT_EQ(n_again, n_streamed);
    ASSERT(memcmp(again, streamed, n_again * sizeof(*again)) == 0);

    /* 48 kHz back to 16 kHz gives the recording back. */
    int16_t *back = NULL;
    size_t n_back = 0;
    ASSERT_OK(resample_all(whole, n_whole, 48000, 16000, &back, &n_back));
    ASSERT_EQ(n_back, speech.n_samples);
    double e = 0;
    for (size_t i = 0; i < n_back; i++)
        e += pow(back[i] - speech.samples[i], 2);
    e = sqrt(e / (double)n_back);
    printf("speech 16k->48k->16k: rms error %.2f of rms %.2f\n", e,
           rms(speech.samples, speech.n_samples));
    ASSERT(e < rms(speech.samples, speech.n_samples) * 0.01);

    free(back);
    free(again);
    free(streamed);
    free(whole);
    resampler_free(r);
    audio_pcm_release(&speech);
}

static void test_same_rate_passes_through(void)
{
    int16_t in[] = {1, -2, 3, 32767, -32768};
    struct resampler *r = NULL;
    ASSERT_OK(resampler_new(16000, 16000, &r));
    const int16_t *o;
    size_t n_o;
    ASSERT_OK(resampler_process(r, in, 5, &o, &n_o));
    ASSERT_EQ(n_o, 5);
    ASSERT(memcmp(o, in, sizeof(in)) == 0);
    ASSERT_OK(resampler_flush(r, &o, &n_o));
    ASSERT_EQ(n_o, 0);
    resampler_free(r);

    int16_t *out = NULL;
    size_t n_out = 99;
    ASSERT_OK(resample_all(in, 5, 22050, 22050, &out, &n_out));
    ASSERT_EQ(n_out, 5);
    ASSERT(memcmp(out, in, sizeof(in)) == 0);
    free(out);
}

static void test_rates_validated(void)
{
    struct resampler *r = (struct resampler *)&r;
    ASSERT_EQ(resampler_new(999, 16000, &r), BC_EINVAL);
    ASSERT(r == NULL);
    ASSERT_EQ(resampler_new(16000, 384001, &r), BC_EINVAL);
    ASSERT_EQ(resampler_new(0, 16000, &r), BC_EINVAL);
    ASSERT_EQ(resampler_new(-16000, 16000, &r), BC_EINVAL);
    ASSERT_OK(resampler_new(1000, 384000, &r));
    resampler_free(r);
    resampler_free(NULL);

    int16_t one = 5, *out = NULL;
    size_t n_out = 0;
    ASSERT_EQ(resample_all(&one, 1, 16000, 500, &out, &n_out), BC_EINVAL);
    ASSERT(out == NULL);
    /* Empty input is a valid, empty stream. */
    ASSERT_OK(resample_all(NULL, 0, 16000, 8000, &out, &n_out));
    ASSERT_EQ(n_out, 0);
    free(out);
}

int main(void)
{
    test_sine_round_trip();
    test_downsample_rejects_alias();
    test_streaming_matches_one_shot();
    test_same_rate_passes_through();
    test_rates_validated();
    puts("resample: all tests passed");
    return 0;
}

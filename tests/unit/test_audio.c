/* Audio files: real recordings re-encoded in every supported WAV flavour,
 * broken files, and the streamed writer. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio/audio.h"
#include "test.h"
#include "util/err.h"

#define GOFORWARD_SAMPLES 44580      /* 89160 bytes of PCM16 */
#define LIBRIVOX_0870_SAMPLES 113600 /* data chunk of 227200 bytes */
#define LIBRIVOX_0870 TEST_LIBRIVOX_DIR "/sense_and_sensibility_01_austen_64kb-0870.wav"
#define TAG_PCM 1
#define TAG_FLOAT 3
#define TAG_EXTENSIBLE 0xFFFE

static char tmp_dir[256];
static char err[512];

static void remove_tmp_dir(void)
{
    DIR *d = opendir(tmp_dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", tmp_dir, e->d_name);
        if (unlink(path) < 0)
            rmdir(path);
    }
    closedir(d);
    rmdir(tmp_dir);
}

static const char *tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
    return path;
}

static void write_file(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(tmp_path(name), "wb");
    ASSERT(f != NULL);
    ASSERT_EQ(fwrite(data, 1, len, f), len);
    ASSERT_EQ(fclose(f), 0);
}

/* ---- building WAV images byte by byte ---- */

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_le(struct buf *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        put(b, &c, 1);
    }
}

struct wav_spec {
    unsigned tag, channels, rate, bits;
    int extensible;
    int extra_chunks; /* LIST before fmt, odd-sized chunk with pad byte before data */
};

/* One PCM16-scale value v encoded in the spec's sample format. */
static void put_sample(struct buf *b, const struct wav_spec *s, double v)
{
    if (s->tag == TAG_FLOAT && s->bits == 32) {
        float f = (float)(v / 32768.0);
        uint32_t u;
        memcpy(&u, &f, 4);
        put_le(b, u, 4);
    } else if (s->tag == TAG_FLOAT) {
        double d = v / 32768.0;
        uint64_t u;
        memcpy(&u, &d, 8);
        put_le(b, u, 8);
    } else if (s->bits == 8) {
        long q = lrint(v / 256.0) + 128;
        put_le(b, (uint64_t)(q < 0 ? 0 : q > 255 ? 255 : q), 1);
    } else {
        /* Fill the low bits too, as a real 24/32-bit recording would. */
        int shift = (int)s->bits - 16;
        int64_t q = (int64_t)lrint(v) * (1LL << shift) + (shift ? (1LL << shift) / 3 : 0);
        put_le(b, (uint64_t)q, (int)s->bits / 8);
    }
}

/* frames[i * channels + c] in PCM16 units. */
static struct buf make_wav(const struct wav_spec *s, const double *frames, size_t n_frames)
{
    struct buf b = {0};
    unsigned block = s->channels * s->bits / 8;
    put(&b, "RIFF\0\0\0\0WAVE", 12);
    if (s->extra_chunks) {
        put(&b, "LIST", 4);
        put_le(&b, 10, 4);
        put(&b, "INFOISFT\2\0", 10);
    }
    put(&b, "fmt ", 4);
    put_le(&b, s->extensible ? 40 : 16, 4);
    put_le(&b, s->extensible ? TAG_EXTENSIBLE : s->tag, 2);
    put_le(&b, s->channels, 2);
    put_le(&b, s->rate, 4);
    put_le(&b, s->rate * block, 4);
    put_le(&b, block, 2);
    put_le(&b, s->bits, 2);
    if (s->extensible) {
        put_le(&b, 22, 2);
        put_le(&b, s->bits, 2);
        put_le(&b, (1u << s->channels) - 1, 4);
        put_le(&b, s->tag, 2);
        /* The rest of KSDATAFORMAT_SUBTYPE_PCM/IEEE_FLOAT after the tag. */
        static const uint8_t guid_tail[14] = {0, 0, 0,    0, 0x10, 0,    0x80,
                                              0, 0, 0xAA, 0, 0x38, 0x9B, 0x71};
        put(&b, guid_tail, sizeof(guid_tail));
    }
    if (s->extra_chunks) {
        put(&b, "fact", 4);
        put_le(&b, 4, 4);
        put_le(&b, n_frames, 4);
        put(&b, "junk", 4);
        put_le(&b, 3, 4);
        put(&b, "abc\0", 4); /* odd size: one pad byte */
    }
    put(&b, "data", 4);
    put_le(&b, n_frames * block, 4);
    for (size_t i = 0; i < n_frames * s->channels; i++)
        put_sample(&b, s, frames[i]);
    uint8_t riff[4] = {(uint8_t)(b.len - 8), (uint8_t)((b.len - 8) >> 8),
                       (uint8_t)((b.len - 8) >> 16), (uint8_t)((b.len - 8) >> 24)};
    memcpy(b.p + 4, riff, 4);
    return b;
}

static void free_buf(struct buf *b)
{
    free(b->p);
    b->p = NULL;
}

/* ---- comparisons ---- */

static double rms_diff(const int16_t *a, const int16_t *b, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += pow((double)a[i] - b[i], 2);
    return sqrt(sum / (double)n);
}

static double rms(const int16_t *a, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)a[i] * a[i];
    return sqrt(sum / (double)n);
}

static double correlation(const int16_t *a, const int16_t *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

/* ---- tests ---- */

static void test_load_real_recordings(void)
{
    struct audio_pcm pcm;
    ASSERT_OK(audio_load(TEST_GOFORWARD_RAW, 16000, &pcm, err, sizeof(err)));
    ASSERT_EQ(pcm.n_samples, GOFORWARD_SAMPLES);
    ASSERT_EQ(pcm.sample_rate, 16000);
    /* Raw bytes are little-endian PCM16, read independently here. */
    FILE *f = fopen(TEST_GOFORWARD_RAW, "rb");
    ASSERT(f != NULL);
    uint8_t raw[4];
    ASSERT_EQ(fread(raw, 1, 4, f), 4);
    fclose(f);
    ASSERT_EQ(pcm.samples[0], (int16_t)(raw[0] | raw[1] << 8));
    ASSERT_EQ(pcm.samples[1], (int16_t)(raw[2] | raw[3] << 8));
    ASSERT_GT(rms(pcm.samples, pcm.n_samples), 100.0); /* speech, not silence */
    audio_pcm_release(&pcm);
    audio_pcm_release(&pcm); /* released twice is harmless */

    ASSERT_OK(audio_load(TEST_GOFORWARD_RAW, 8000, &pcm, err, sizeof(err)));
    ASSERT_EQ(pcm.sample_rate, 8000);
    ASSERT_EQ(pcm.n_samples, GOFORWARD_SAMPLES / 2);
    audio_pcm_release(&pcm);

    ASSERT_OK(audio_load(LIBRIVOX_0870, 16000, &pcm, err, sizeof(err)));
    ASSERT_EQ(pcm.n_samples, LIBRIVOX_0870_SAMPLES);
    ASSERT_EQ(pcm.sample_rate, 16000);
    ASSERT_EQ(pcm.samples[0], 0x0049); /* first data bytes: 49 00 11 00 */
    ASSERT_EQ(pcm.samples[1], 0x0011);
    audio_pcm_release(&pcm);

    ASSERT_OK(audio_load(LIBRIVOX_0870, 22050, &pcm, err, sizeof(err)));
    ASSERT_EQ(pcm.sample_rate, 22050);
    ASSERT(labs((long)pcm.n_samples - (long)(LIBRIVOX_0870_SAMPLES * 22050L / 16000)) <= 1);
    audio_pcm_release(&pcm);
}

static void test_write_read_back(const struct audio_pcm *speech)
{
    const char *path = tmp_path("written.wav");
    ASSERT_OK(audio_write_wav(path, speech->samples, speech->n_samples, 16000));
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_size, 44 + 2 * (long)speech->n_samples);
    /* The canonical header, byte for byte, so other tools can read it. */
    FILE *f = fopen(path, "rb");
    ASSERT(f != NULL);
    uint8_t h[44];
    ASSERT_EQ(fread(h, 1, sizeof(h), f), sizeof(h));
    fclose(f);
    uint32_t data_bytes = (uint32_t)(2 * speech->n_samples);
    uint8_t want[44] = "RIFF....WAVEfmt \x10\0\0\0\1\0\1\0\x80\x3e\0\0\0\x7d\0\0\2\0\x10\0data";
    for (int i = 0; i < 4; i++) {
        want[4 + i] = (uint8_t)((data_bytes + 36) >> (8 * i));
        want[40 + i] = (uint8_t)(data_bytes >> (8 * i));
    }
    ASSERT(memcmp(h, want, sizeof(h)) == 0);

    struct audio_pcm back;
    ASSERT_OK(audio_load(path, 16000, &back, err, sizeof(err)));
    ASSERT_EQ(back.n_samples, speech->n_samples);
    ASSERT(memcmp(back.samples, speech->samples, 2 * back.n_samples) == 0);
    audio_pcm_release(&back);

    /* Written at 22050 Hz, the header says so: loading at 22050 is exact. */
    ASSERT_OK(audio_write_wav(path, speech->samples, 1000, 22050));
    ASSERT_OK(audio_load(path, 22050, &back, err, sizeof(err)));
    ASSERT_EQ(back.n_samples, 1000);
    ASSERT(memcmp(back.samples, speech->samples, 2000) == 0);
    audio_pcm_release(&back);

    ASSERT_EQ(audio_write_wav(tmp_path("no/such/dir.wav"), speech->samples, 10, 16000), BC_EIO);
    ASSERT_EQ(audio_write_wav(path, speech->samples, 10, 0), BC_EINVAL);
}

struct encoding_case {
    const char *name;
    struct wav_spec spec;
    double max_rms_error; /* vs the original 16 kHz PCM16 */
};

/* Frame i of the recording spread over the channels so that only a true
 * average gives the original back. */
static void fill_frames(const struct audio_pcm *sp, unsigned channels, double *frames)
{
    for (size_t i = 0; i < sp->n_samples; i++) {
        double v = sp->samples[i];
        for (unsigned c = 0; c < channels; c++)
            frames[i * channels + c] = v;
        if (channels < 2)
            continue;
        double d = sp->samples[(i + 777) % sp->n_samples] / 4.0;
        if (fabs(v) + fabs(d) > 32767)
            d = 0;
        frames[i * channels] = v + d;
        frames[i * channels + 1] = v - d;
    }
}

static void test_encodings(const struct audio_pcm *speech)
{
    static const struct encoding_case cases[] = {
        {"pcm16_chunks.wav", {TAG_PCM, 1, 16000, 16, 0, 1}, 0.0},
        {"pcm8.wav", {TAG_PCM, 1, 16000, 8, 0, 0}, 80.0},
        {"pcm24.wav", {TAG_PCM, 1, 16000, 24, 0, 0}, 0.0},
        {"pcm32.wav", {TAG_PCM, 1, 16000, 32, 0, 0}, 0.0},
        {"float32.wav", {TAG_FLOAT, 1, 16000, 32, 0, 0}, 0.0},
        {"float64.wav", {TAG_FLOAT, 1, 16000, 64, 0, 1}, 0.0},
        {"stereo16.wav", {TAG_PCM, 2, 16000, 16, 0, 0}, 0.0},
        {"ext24_stereo.wav", {TAG_PCM, 2, 16000, 24, 1, 1}, 0.0},
        {"ext_float_6ch.wav", {TAG_FLOAT, 6, 16000, 32, 1, 0}, 0.0},
        {"pcm16_8ch.wav", {TAG_PCM, 8, 16000, 16, 0, 0}, 0.0},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const struct encoding_case *c = &cases[k];
        double *frames = malloc(speech->n_samples * c->spec.channels * sizeof(*frames));
        fill_frames(speech, c->spec.channels, frames);
        struct buf b = make_wav(&c->spec, frames, speech->n_samples);
        free(frames);
        write_file(c->name, b.p, b.len);
        free_buf(&b);

        struct audio_pcm got;
        int rc = audio_load(tmp_path(c->name), 16000, &got, err, sizeof(err));
        if (rc)
            fprintf(stderr, "%s: %s\n", c->name, err);
        ASSERT_OK(rc);
        ASSERT_EQ(got.n_samples, speech->n_samples);
        double e = rms_diff(got.samples, speech->samples, got.n_samples);
        printf("%-18s rms error %.3f (signal rms %.1f)\n", c->name, e,
               rms(speech->samples, speech->n_samples));
        ASSERT(e <= c->max_rms_error);
        ASSERT(correlation(got.samples, speech->samples, got.n_samples) > 0.999);
        audio_pcm_release(&got);
    }
}

/* 44.1 kHz made by linear interpolation (independent of the code under test),
 * decoded back to 16 kHz by soxr. */
static void test_44100(const struct audio_pcm *speech)
{
    const int rate = 44100;
    size_t n = (size_t)((double)speech->n_samples * rate / 16000);
    double *frames = malloc(n * sizeof(*frames));
    for (size_t j = 0; j < n; j++) {
        double t = (double)j * 16000 / rate;
        size_t i = (size_t)t;
        double a = speech->samples[i];
        double b = i + 1 < speech->n_samples ? speech->samples[i + 1] : a;
        frames[j] = a + (b - a) * (t - (double)i);
    }
    struct wav_spec spec = {TAG_PCM, 1, (unsigned)rate, 16, 0, 0};
    struct buf w = make_wav(&spec, frames, n);
    free(frames);
    write_file("rate44100.wav", w.p, w.len);
    free_buf(&w);

    struct audio_pcm got;
    ASSERT_OK(audio_load(tmp_path("rate44100.wav"), 16000, &got, err, sizeof(err)));
    ASSERT(labs((long)got.n_samples - (long)speech->n_samples) <= 1);
    size_t m = got.n_samples < speech->n_samples ? got.n_samples : speech->n_samples;
    double corr = correlation(got.samples, speech->samples, m);
    double e = rms_diff(got.samples, speech->samples, m);
    printf("rate44100.wav      rms error %.2f, correlation %.5f\n", e, corr);
    ASSERT(corr > 0.99);
    ASSERT(e < rms(speech->samples, m) * 0.1);
    audio_pcm_release(&got);
}

static void test_streamed_sizes_and_clamping(const struct audio_pcm *speech)
{
    struct wav_spec spec = {TAG_PCM, 1, 16000, 16, 0, 0};
    double frames[100];
    for (int i = 0; i < 100; i++)
        frames[i] = speech->samples[i];
    struct buf b = make_wav(&spec, frames, 100);
    static const uint32_t streamed[] = {0, 0xFFFFFFFFu};
    for (int k = 0; k < 2; k++) {
        /* A writer streaming to a pipe cannot fill in either size. */
        for (int i = 0; i < 4; i++) {
            b.p[4 + i] = (uint8_t)(streamed[k] >> (8 * i));
            b.p[40 + i] = (uint8_t)(streamed[k] >> (8 * i));
        }
        struct audio_pcm got;
        ASSERT_OK(audio_decode_wav(b.p, b.len, 16000, &got, err, sizeof(err)));
        ASSERT_EQ(got.n_samples, 100);
        ASSERT(memcmp(got.samples, speech->samples, 200) == 0);
        audio_pcm_release(&got);
    }
    free_buf(&b);

    /* A genuinely empty data chunk followed by another chunk, RIFF size exact. */
    b = make_wav(&spec, frames, 0);
    put(&b, "LIST\4\0\0\0INFO", 12);
    uint32_t riff = (uint32_t)b.len - 8;
    for (int i = 0; i < 4; i++)
        b.p[4 + i] = (uint8_t)(riff >> (8 * i));
    struct audio_pcm empty;
    ASSERT_OK(audio_decode_wav(b.p, b.len, 16000, &empty, err, sizeof(err)));
    ASSERT_EQ(empty.n_samples, 0);
    audio_pcm_release(&empty);
    free_buf(&b);

    /* Floats beyond full scale clamp; NaN becomes silence. */
    struct wav_spec fspec = {TAG_FLOAT, 1, 16000, 32, 0, 0};
    double fvals[] = {2.0 * 32768, -3.0 * 32768, NAN, 0.5 * 32768, -1.0 * 32768};
    b = make_wav(&fspec, fvals, 5);
    struct audio_pcm got;
    ASSERT_OK(audio_decode_wav(b.p, b.len, 16000, &got, err, sizeof(err)));
    ASSERT_EQ(got.n_samples, 5);
    ASSERT_EQ(got.samples[0], 32767);
    ASSERT_EQ(got.samples[1], -32768);
    ASSERT_EQ(got.samples[2], 0);
    ASSERT_EQ(got.samples[3], 16384);
    ASSERT_EQ(got.samples[4], -32768);
    audio_pcm_release(&got);
    free_buf(&b);
}

/* Expects the load to fail with code and a message containing word. */
static void expect_fail(const char *path, int code, const char *word)
{
    struct audio_pcm pcm;
    memset(&pcm, 0xAB, sizeof(pcm));
    err[0] = '\0';
    int rc = audio_load(path, 16000, &pcm, err, sizeof(err));
    printf("  %s -> %d \"%s\"\n", path, rc, err);
    ASSERT_EQ(rc, code);
    ASSERT_STR_CONTAINS(err, word);
    ASSERT_STR_CONTAINS(err, path);
    ASSERT(strchr(err, '\n') == NULL);
    ASSERT(pcm.samples == NULL && pcm.n_samples == 0);
}

/* Copies the real WAV with one header field patched. */
static void write_patched(const char *name, const uint8_t *wav, size_t len, size_t offset,
                          uint32_t value, int bytes)
{
    uint8_t *copy = malloc(len);
    memcpy(copy, wav, len);
    for (int i = 0; i < bytes; i++)
        copy[offset + (size_t)i] = (uint8_t)(value >> (8 * i));
    write_file(name, copy, len);
    free(copy);
}

static void test_bad_files(void)
{
    FILE *f = fopen(LIBRIVOX_0870, "rb");
    ASSERT(f != NULL);
    static uint8_t wav[300000];
    size_t len = fread(wav, 1, sizeof(wav), f);
    fclose(f);
    ASSERT_EQ(len, 44 + 2 * LIBRIVOX_0870_SAMPLES);

    write_file("truncated_header.wav", wav, 30);
    expect_fail(tmp_path("truncated_header.wav"), BC_EFORMAT, "truncated");
    write_file("tiny.wav", wav, 6);
    expect_fail(tmp_path("tiny.wav"), BC_EFORMAT, "RIFF");
    write_file("no_data.wav", wav, 36);
    expect_fail(tmp_path("no_data.wav"), BC_EFORMAT, "no data chunk");

    write_file("cut_short.wav", wav, len / 2);
    expect_fail(tmp_path("cut_short.wav"), BC_EFORMAT, "claims 227200 bytes but only");
    write_patched("lying_size.wav", wav, len, 40, 1000000, 4);
    expect_fail(tmp_path("lying_size.wav"), BC_EFORMAT, "claims 1000000 bytes");

    const char text[] = "This is a text file, not audio.\nSecond line.\n";
    write_file("text.wav", text, strlen(text));
    expect_fail(tmp_path("text.wav"), BC_EFORMAT, "not a WAV file (no RIFF header)");

    write_patched("zero_channels.wav", wav, len, 22, 0, 2);
    expect_fail(tmp_path("zero_channels.wav"), BC_EFORMAT, "zero channels");
    write_patched("nine_channels.wav", wav, len, 22, 9, 2);
    expect_fail(tmp_path("nine_channels.wav"), BC_EFORMAT, "9 channels");
    write_patched("zero_rate.wav", wav, len, 24, 0, 4);
    expect_fail(tmp_path("zero_rate.wav"), BC_EFORMAT, "zero sample rate");
    write_patched("low_rate.wav", wav, len, 24, 800, 4);
    expect_fail(tmp_path("low_rate.wav"), BC_EFORMAT, "800 Hz");
    write_patched("block_align.wav", wav, len, 32, 3, 2);
    expect_fail(tmp_path("block_align.wav"), BC_EFORMAT, "block align 3");
    write_patched("bits12.wav", wav, len, 34, 12, 2);
    expect_fail(tmp_path("bits12.wav"), BC_EFORMAT, "12 bits");
    write_patched("adpcm.wav", wav, len, 20, 2, 2);
    expect_fail(tmp_path("adpcm.wav"), BC_EFORMAT, "format tag 0x0002");
    write_patched("no_fmt.wav", wav, len, 12, 0x20786d66u ^ 0x20202020u, 4); /* "FMT\0" */
    expect_fail(tmp_path("no_fmt.wav"), BC_EFORMAT, "no fmt chunk");
    write_patched("wave_form.wav", wav, len, 8, 0x49564124u, 4); /* "$AVI" */
    expect_fail(tmp_path("wave_form.wav"), BC_EFORMAT, "not WAVE");

    write_file("odd.raw", wav + 44, 1001);
    expect_fail(tmp_path("odd.raw"), BC_EFORMAT, "odd byte count 1001");
    write_file("empty.wav", "", 0);
    expect_fail(tmp_path("empty.wav"), BC_EFORMAT, "empty");
    write_file("empty.pcm", "", 0);
    expect_fail(tmp_path("empty.pcm"), BC_EFORMAT, "empty");
    expect_fail(tmp_path("missing.wav"), BC_EIO, strerror(ENOENT));
    /* A sparse file: refused by its size before anything is read. */
    FILE *big = fopen(tmp_path("huge.wav"), "wb");
    ASSERT(big != NULL);
    ASSERT_EQ(ftruncate(fileno(big), AUDIO_MAX_FILE_BYTES + 1), 0);
    fclose(big);
    expect_fail(tmp_path("huge.wav"), BC_EFORMAT, "larger than");
    /* A FIFO with no writer must not block the loader. */
    ASSERT_EQ(mkfifo(tmp_path("fifo.wav"), 0600), 0);
    expect_fail(tmp_path("fifo.wav"), BC_EIO, "not a regular file");
    expect_fail(tmp_dir, BC_EIO, strerror(EISDIR));

    /* An in-memory image is checked the same way. */
    struct audio_pcm pcm;
    ASSERT_EQ(audio_decode_wav((const uint8_t *)text, strlen(text), 16000, &pcm, err, sizeof(err)),
              BC_EFORMAT);
    ASSERT_STR_CONTAINS(err, "no RIFF header");
    ASSERT_EQ(audio_decode_wav(wav, len, 0, &pcm, err, sizeof(err)), BC_EINVAL);
    ASSERT_OK(audio_decode_wav(wav, len, 16000, &pcm, NULL, 0));
    ASSERT_EQ(pcm.n_samples, LIBRIVOX_0870_SAMPLES);
    audio_pcm_release(&pcm);
}

static void test_wav_writer(const struct audio_pcm *speech)
{
    const char *path = tmp_path("streamed.wav");
    char path_copy[512];
    snprintf(path_copy, sizeof(path_copy), "%s", path);
    struct wav_writer *w = NULL;
    ASSERT_OK(wav_writer_open(path_copy, 16000, &w));
    ASSERT_EQ(wav_writer_samples(w), 0);

    struct audio_pcm got;
    ASSERT_OK(audio_load(path_copy, 16000, &got, err, sizeof(err)));
    ASSERT_EQ(got.n_samples, 0);
    audio_pcm_release(&got);

    static const size_t pieces[] = {1600, 1, 333, 0, 8000};
    size_t total = 0;
    for (size_t k = 0; total < speech->n_samples; k++) {
        size_t n = pieces[k % (sizeof(pieces) / sizeof(pieces[0]))];
        if (n > speech->n_samples - total)
            n = speech->n_samples - total;
        ASSERT_OK(wav_writer_append(w, speech->samples + total, n));
        total += n;
        ASSERT_EQ(wav_writer_samples(w), total);
        /* Readable while still open, with exactly what was appended. */
        ASSERT_OK(audio_load(path_copy, 16000, &got, err, sizeof(err)));
        ASSERT_EQ(got.n_samples, total);
        ASSERT(memcmp(got.samples, speech->samples, total * 2) == 0);
        audio_pcm_release(&got);
    }
    wav_writer_close(w);
    wav_writer_close(NULL);
    ASSERT_OK(audio_load(path_copy, 16000, &got, err, sizeof(err)));
    ASSERT_EQ(got.n_samples, speech->n_samples);
    audio_pcm_release(&got);

    ASSERT_EQ(wav_writer_open(tmp_path("no/such/dir.wav"), 16000, &w), BC_EIO);
    ASSERT(w == NULL);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof(tmp_dir), "%s/bc_test_audio_XXXXXX", base && *base ? base : "/tmp");
    ASSERT(mkdtemp(tmp_dir) != NULL);
    atexit(remove_tmp_dir);

    struct audio_pcm speech;
    ASSERT_OK(audio_load(LIBRIVOX_0870, 16000, &speech, err, sizeof(err)));

    test_load_real_recordings();
    test_write_read_back(&speech);
    test_encodings(&speech);
    test_44100(&speech);
    test_streamed_sizes_and_clamping(&speech);
    test_bad_files();
    test_wav_writer(&speech);

    audio_pcm_release(&speech);
    puts("audio: all tests passed");
    return 0;
}

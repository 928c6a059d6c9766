#include "audio/audio.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio/resample.h"
#include "audio/wav_internal.h"
#include "util/alloc.h"
#include "util/err.h"

#define WAV_MAX_CHANNELS 8
#define WAV_RIFF_HEADER_BYTES 12
#define WAV_CHUNK_HEADER_BYTES 8
/* WAVE_FORMAT_EXTENSIBLE: cbSize (2) + valid bits (2) + channel mask (4) +
 * subformat GUID (16) after the 16 basic bytes. */
#define WAV_FMT_EXTENSIBLE_BYTES 40
#define WAV_FMT_SUBFORMAT_OFFSET 24
#define WAV_TAG_FLOAT 0x0003
#define WAV_TAG_EXTENSIBLE 0xFFFE
/* Writers that stream to a pipe leave the data size at one of these. */
#define WAV_STREAMED_SIZE_ZERO 0u
#define WAV_STREAMED_SIZE_MAX 0xFFFFFFFFu
#define RAW_RATE_HZ AUDIO_SPEECH_RATE_HZ
#define PCM16_FULL_SCALE 32768.0
/* 8-bit WAV is unsigned around 128; wider integers keep their top 16 bits. */
#define PCM8_ZERO 128
#define PCM8_TO_PCM16 256.0
#define PCM32_TO_PCM16 65536.0

static void set_err(char *err, size_t err_len, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(char *err, size_t err_len, const char *label, const char *fmt, ...)
{
    if (!err || !err_len)
        return;
    int n = snprintf(err, err_len, "%s: ", label);
    if (n < 0 || (size_t)n >= err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
    va_end(ap);
    /* One line, whatever the path contains. */
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct wav_fmt {
    unsigned tag; /* WAV_TAG_PCM or WAV_TAG_FLOAT after unwrapping EXTENSIBLE */
    unsigned channels;
    uint32_t rate_hz;
    unsigned block_align; /* bytes per frame */
    unsigned bits;
};

/* One sample of any supported encoding, in PCM16 units (not yet rounded). */
static double sample_value(const struct wav_fmt *f, const uint8_t *p)
{
    if (f->tag == WAV_TAG_FLOAT) {
        double v;
        if (f->bits == 32) {
            float x;
            uint32_t u = rd32(p);
            memcpy(&x, &u, sizeof(x));
            v = x;
        } else {
            uint64_t u = (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
            memcpy(&v, &u, sizeof(v));
        }
        return isnan(v) ? 0.0 : v * PCM16_FULL_SCALE;
    }
    switch (f->bits) {
    case 8: return ((int)p[0] - PCM8_ZERO) * PCM8_TO_PCM16;
    case 16: return (int16_t)rd16(p);
    case 24: {
        /* Placed in the top 24 bits so the sign comes along. */
        int32_t v = (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24);
        return v / PCM32_TO_PCM16;
    }
    default: return (int32_t)rd32(p) / PCM32_TO_PCM16;
    }
}

static int16_t to_pcm16(double v)
{
    if (v >= PCM16_FULL_SCALE - 1)
        return INT16_MAX;
    if (v <= -PCM16_FULL_SCALE)
        return INT16_MIN;
    return (int16_t)lrint(v);
}

static int parse_fmt(const uint8_t *p, uint32_t size, struct wav_fmt *f, const char *label,
                     char *err, size_t err_len)
{
    if (size < WAV_FMT_MIN_BYTES) {
        set_err(err, err_len, label, "fmt chunk too short (%u bytes)", (unsigned)size);
        return BC_EFORMAT;
    }
    f->tag = rd16(p);
    f->channels = rd16(p + 2);
    f->rate_hz = rd32(p + 4);
    f->block_align = rd16(p + 12);
    f->bits = rd16(p + 14);
    if (f->tag == WAV_TAG_EXTENSIBLE) {
        if (size < WAV_FMT_EXTENSIBLE_BYTES) {
            set_err(err, err_len, label, "extensible fmt chunk too short (%u bytes)",
                    (unsigned)size);
            return BC_EFORMAT;
        }
        f->tag = rd16(p + WAV_FMT_SUBFORMAT_OFFSET);
    }
    if (f->channels == 0) {
        set_err(err, err_len, label, "fmt chunk has zero channels");
        return BC_EFORMAT;
    }
    if (f->channels > WAV_MAX_CHANNELS) {
        set_err(err, err_len, label, "%u channels (at most %d supported)", f->channels,
                WAV_MAX_CHANNELS);
        return BC_EFORMAT;
    }
    if (f->rate_hz == 0) {
        set_err(err, err_len, label, "fmt chunk has a zero sample rate");
        return BC_EFORMAT;
    }
    if (f->rate_hz < WAV_MIN_RATE_HZ || f->rate_hz > WAV_MAX_RATE_HZ) {
        set_err(err, err_len, label, "sample rate %u Hz outside %d..%d", (unsigned)f->rate_hz,
                WAV_MIN_RATE_HZ, WAV_MAX_RATE_HZ);
        return BC_EFORMAT;
    }
    int bits_ok = f->tag == WAV_TAG_PCM
                      ? (f->bits == 8 || f->bits == 16 || f->bits == 24 || f->bits == 32)
                      : f->tag == WAV_TAG_FLOAT && (f->bits == 32 || f->bits == 64);
    if (f->tag != WAV_TAG_PCM && f->tag != WAV_TAG_FLOAT) {
        set_err(err, err_len, label, "unsupported encoding (format tag 0x%04X)", f->tag);
        return BC_EFORMAT;
    }
    if (!bits_ok) {
        set_err(err, err_len, label, "unsupported encoding (%s with %u bits per sample)",
                f->tag == WAV_TAG_PCM ? "PCM" : "float", f->bits);
        return BC_EFORMAT;
    }
    if (f->block_align != f->channels * (f->bits / 8)) {
        set_err(err, err_len, label, "block align %u does not match %u channel(s) of %u bits",
                f->block_align, f->channels, f->bits);
        return BC_EFORMAT;
    }
    return 0;
}

/* Downmixes frames to mono PCM16 and converts to target_rate_hz into *out. */
static int convert(const struct wav_fmt *f, const uint8_t *data, size_t n_frames,
                   int target_rate_hz, struct audio_pcm *out, const char *label, char *err,
                   size_t err_len)
{
    int16_t *mono = bc_malloc((n_frames ? n_frames : 1) * sizeof(*mono));
    size_t bytes_per_sample = f->bits / 8;
    for (size_t i = 0; i < n_frames; i++) {
        const uint8_t *frame = data + i * f->block_align;
        double sum = 0;
        for (unsigned c = 0; c < f->channels; c++)
            sum += sample_value(f, frame + c * bytes_per_sample);
        mono[i] = to_pcm16(sum / f->channels);
    }
    if ((int)f->rate_hz == target_rate_hz || n_frames == 0) {
        out->samples = mono;
        out->n_samples = n_frames;
        out->sample_rate = target_rate_hz;
        return 0;
    }
    int16_t *res = NULL;
    size_t n_res = 0;
    int rc = resample_all(mono, n_frames, (int)f->rate_hz, target_rate_hz, &res, &n_res);
    free(mono);
    if (rc < 0) {
        set_err(err, err_len, label, "cannot resample %u Hz to %d Hz: %s", (unsigned)f->rate_hz,
                target_rate_hz, bc_strerror(rc));
        return rc;
    }
    out->samples = res;
    out->n_samples = n_res;
    out->sample_rate = target_rate_hz;
    return 0;
}

static int decode_wav(const uint8_t *d, size_t len, int target_rate_hz, struct audio_pcm *out,
                      const char *label, char *err, size_t err_len)
{
    if (len == 0) {
        set_err(err, err_len, label, "empty file");
        return BC_EFORMAT;
    }
    if (len < WAV_RIFF_HEADER_BYTES || memcmp(d, "RIFF", 4) != 0) {
        set_err(err, err_len, label, "not a WAV file (no RIFF header)");
        return BC_EFORMAT;
    }
    if (memcmp(d + 8, "WAVE", 4) != 0) {
        set_err(err, err_len, label, "not a WAV file (RIFF form is not WAVE)");
        return BC_EFORMAT;
    }

    struct wav_fmt fmt;
    int have_fmt = 0;
    const uint8_t *data = NULL;
    size_t data_len = 0;
    size_t pos = WAV_RIFF_HEADER_BYTES;
    while (len - pos >= WAV_CHUNK_HEADER_BYTES) {
        const uint8_t *id = d + pos;
        uint32_t size = rd32(d + pos + 4);
        size_t body = pos + WAV_CHUNK_HEADER_BYTES;
        size_t remain = len - body;
        if (!have_fmt && memcmp(id, "fmt ", 4) == 0) {
            if (size > remain) {
                set_err(err, err_len, label, "fmt chunk truncated (%u bytes, %zu remain)",
                        (unsigned)size, remain);
                return BC_EFORMAT;
            }
            int rc = parse_fmt(d + body, size, &fmt, label, err, err_len);
            if (rc < 0)
                return rc;
            have_fmt = 1;
        } else if (!data && memcmp(id, "data", 4) == 0) {
            data = d + body;
            /* A zero size is a real empty chunk when the RIFF size accounts
             * for the whole file; a streaming writer could not know it. */
            int streamed = size == WAV_STREAMED_SIZE_MAX ||
                           (size == WAV_STREAMED_SIZE_ZERO && remain > 0 &&
                            (uint64_t)rd32(d + 4) + WAV_CHUNK_HEADER_BYTES != len);
            if (streamed) {
                data_len = remain;
            } else if (size <= remain) {
                data_len = size;
            } else {
                set_err(err, err_len, label, "data chunk claims %u bytes but only %zu remain",
                        (unsigned)size, remain);
                return BC_EFORMAT;
            }
            if (data_len == remain)
                break;
        }
        if (size > remain)
            break; /* a truncated trailing chunk we do not need */
        /* Chunks are word-aligned: an odd size is followed by a pad byte. */
        pos = body + size + (size & 1u);
        if (pos > len)
            break;
    }
    if (!have_fmt) {
        set_err(err, err_len, label, "no fmt chunk");
        return BC_EFORMAT;
    }
    if (!data) {
        set_err(err, err_len, label, "no data chunk");
        return BC_EFORMAT;
    }
    return convert(&fmt, data, data_len / fmt.block_align, target_rate_hz, out, label, err,
                   err_len);
}

static int rate_ok(int rate_hz, const char *label, char *err, size_t err_len)
{
    if (rate_hz >= WAV_MIN_RATE_HZ && rate_hz <= WAV_MAX_RATE_HZ)
        return 1;
    set_err(err, err_len, label, "target rate %d Hz outside %d..%d", rate_hz, WAV_MIN_RATE_HZ,
            WAV_MAX_RATE_HZ);
    return 0;
}

int audio_decode_wav(const uint8_t *data, size_t len, int target_rate_hz, struct audio_pcm *out,
                     char *err, size_t err_len)
{
    static const char label[] = "WAV data";
    memset(out, 0, sizeof(*out));
    if (err && err_len)
        err[0] = '\0';
    if (!rate_ok(target_rate_hz, label, err, err_len))
        return BC_EINVAL;
    if (!data && len) {
        set_err(err, err_len, label, "no buffer");
        return BC_EINVAL;
    }
    return decode_wav(data, len, target_rate_hz, out, label, err, err_len);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int decode_raw(const uint8_t *d, size_t len, int target_rate_hz, struct audio_pcm *out,
                      const char *label, char *err, size_t err_len)
{
    if (len == 0) {
        set_err(err, err_len, label, "empty file");
        return BC_EFORMAT;
    }
    if (len % WAV_OUT_BYTES_PER_SAMPLE) {
        set_err(err, err_len, label, "odd byte count %zu (raw PCM16 needs whole 2-byte samples)",
                len);
        return BC_EFORMAT;
    }
    struct wav_fmt f = {WAV_TAG_PCM, 1, RAW_RATE_HZ, WAV_OUT_BYTES_PER_SAMPLE, WAV_OUT_BITS};
    return convert(&f, d, len / WAV_OUT_BYTES_PER_SAMPLE, target_rate_hz, out, label, err, err_len);
}

/* Reads a whole regular file; never blocks on FIFOs or devices. */
static int read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t err_len)
{
    *buf = NULL;
    *len = 0;
    uint8_t *b = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, err_len, path, "%s", strerror(errno));
        return BC_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        set_err(err, err_len, path, "%s", strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        set_err(err, err_len, path, "%s", strerror(EISDIR));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, err_len, path, "not a regular file");
        goto fail;
    }
    if (st.st_size > AUDIO_MAX_FILE_BYTES) {
        close(fd);
        set_err(err, err_len, path, "file is %lld bytes, larger than the %ld-byte limit",
                (long long)st.st_size, (long)AUDIO_MAX_FILE_BYTES);
        return BC_EFORMAT;
    }
    size_t want = (size_t)st.st_size, got = 0;
    b = bc_malloc(want ? want : 1);
    while (got < want) {
        ssize_t n = read(fd, b + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            set_err(err, err_len, path, "%s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break; /* shrank while we read: decode what is there */
        got += (size_t)n;
    }
    close(fd);
    *buf = b;
    *len = got;
    return 0;

fail:
    free(b);
    close(fd);
    return BC_EIO;
}

int audio_load(const char *path, int target_rate_hz, struct audio_pcm *out, char *err,
               size_t err_len)
{
    memset(out, 0, sizeof(*out));
    if (err && err_len)
        err[0] = '\0';
    if (!path) {
        set_err(err, err_len, "audio_load", "no path");
        return BC_EINVAL;
    }
    if (!rate_ok(target_rate_hz, path, err, err_len))
        return BC_EINVAL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len, err, err_len);
    if (rc < 0)
        return rc;
    if (ends_with(path, ".raw") || ends_with(path, ".pcm"))
        rc = decode_raw(buf, len, target_rate_hz, out, path, err, err_len);
    else
        rc = decode_wav(buf, len, target_rate_hz, out, path, err, err_len);
    free(buf);
    return rc;
}

void audio_pcm_release(struct audio_pcm *pcm)
{
    if (!pcm)
        return;
    free(pcm->samples);
    memset(pcm, 0, sizeof(*pcm));
}

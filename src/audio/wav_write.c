/* Writing mono PCM16 WAV files, whole or streamed. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/audio.h"
#include "audio/wav_internal.h"
#include "util/alloc.h"
#include "util/err.h"

#define WAV_OUT_HEADER_BYTES 44
/* The RIFF size field counts everything after its own 8 bytes. */
#define WAV_RIFF_SIZE_OFFSET 4
#define WAV_DATA_SIZE_OFFSET 40
#define WAV_MAX_DATA_BYTES (0xFFFFFFFFull - (WAV_OUT_HEADER_BYTES - 8))
/* Samples converted to little-endian bytes per write() call. */
#define WAV_WRITE_CHUNK_SAMPLES 8192
/* Recordings of speech stay private to the user who made them. */
#define WAV_FILE_MODE 0600

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The canonical 44-byte header: RIFF, a 16-byte PCM fmt chunk, data. */
static void wav_header(uint8_t h[WAV_OUT_HEADER_BYTES], int rate_hz, uint32_t data_bytes)
{
    memcpy(h, "RIFF", 4);
    wr32(h + WAV_RIFF_SIZE_OFFSET, data_bytes + (WAV_OUT_HEADER_BYTES - 8));
    memcpy(h + 8, "WAVEfmt ", 8);
    wr32(h + 16, WAV_FMT_MIN_BYTES);
    wr16(h + 20, WAV_TAG_PCM);
    wr16(h + 22, 1);
    wr32(h + 24, (uint32_t)rate_hz);
    wr32(h + 28, (uint32_t)rate_hz * WAV_OUT_BYTES_PER_SAMPLE);
    wr16(h + 32, WAV_OUT_BYTES_PER_SAMPLE);
    wr16(h + 34, WAV_OUT_BITS);
    memcpy(h + 36, "data", 4);
    wr32(h + WAV_DATA_SIZE_OFFSET, data_bytes);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return BC_EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_samples(int fd, const int16_t *s, size_t n)
{
    uint8_t le[WAV_WRITE_CHUNK_SAMPLES * WAV_OUT_BYTES_PER_SAMPLE];
    while (n) {
        size_t k = n < WAV_WRITE_CHUNK_SAMPLES ? n : WAV_WRITE_CHUNK_SAMPLES;
        for (size_t i = 0; i < k; i++)
            wr16(le + i * WAV_OUT_BYTES_PER_SAMPLE, (uint16_t)s[i]);
        if (write_all(fd, le, k * WAV_OUT_BYTES_PER_SAMPLE) < 0)
            return BC_EIO;
        s += k;
        n -= k;
    }
    return 0;
}

static int out_rate_ok(int rate_hz)
{
    return rate_hz >= WAV_MIN_RATE_HZ && rate_hz <= WAV_MAX_RATE_HZ;
}

int audio_write_wav(const char *path, const int16_t *samples, size_t n_samples, int sample_rate_hz)
{
    if (!path || (!samples && n_samples) || !out_rate_ok(sample_rate_hz))
        return BC_EINVAL;
    if (n_samples > WAV_MAX_DATA_BYTES / WAV_OUT_BYTES_PER_SAMPLE)
        return BC_ELIMIT;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, WAV_FILE_MODE);
    if (fd < 0)
        return BC_EIO;
    uint8_t h[WAV_OUT_HEADER_BYTES];
    wav_header(h, sample_rate_hz, (uint32_t)(n_samples * WAV_OUT_BYTES_PER_SAMPLE));
    int rc = write_all(fd, h, sizeof(h));
    if (rc == 0)
        rc = write_samples(fd, samples, n_samples);
    if (close(fd) < 0)
        rc = BC_EIO;
    return rc;
}

struct wav_writer {
    int fd;
    int rate_hz;
    size_t n_samples;
};

int wav_writer_open(const char *path, int sample_rate_hz, struct wav_writer **out)
{
    *out = NULL;
    if (!path || !out_rate_ok(sample_rate_hz))
        return BC_EINVAL;
    struct wav_writer *w = bc_calloc(1, sizeof(*w));
    w->rate_hz = sample_rate_hz;
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, WAV_FILE_MODE);
    if (w->fd < 0)
        goto fail;
    uint8_t h[WAV_OUT_HEADER_BYTES];
    wav_header(h, sample_rate_hz, 0);
    if (write_all(w->fd, h, sizeof(h)) < 0)
        goto fail;
    *out = w;
    return 0;

fail:
    wav_writer_close(w);
    return BC_EIO;
}

int wav_writer_append(struct wav_writer *w, const int16_t *samples, size_t n_samples)
{
    if (!w || (!samples && n_samples))
        return BC_EINVAL;
    if (n_samples > WAV_MAX_DATA_BYTES / WAV_OUT_BYTES_PER_SAMPLE - w->n_samples)
        return BC_ELIMIT;
    off_t end = (off_t)(WAV_OUT_HEADER_BYTES + w->n_samples * WAV_OUT_BYTES_PER_SAMPLE);
    if (write_samples(w->fd, samples, n_samples) < 0) {
        /* Drop a partial append so the header and the data still agree. */
        if (ftruncate(w->fd, end) == 0)
            (void)lseek(w->fd, end, SEEK_SET);
        return BC_EIO;
    }
    w->n_samples += n_samples;
    /* Data first, sizes second: a crash in between leaves a valid, shorter file. */
    uint32_t data_bytes = (uint32_t)(w->n_samples * WAV_OUT_BYTES_PER_SAMPLE);
    uint8_t size[4];
    wr32(size, data_bytes + (WAV_OUT_HEADER_BYTES - 8));
    if (pwrite(w->fd, size, sizeof(size), WAV_RIFF_SIZE_OFFSET) != (ssize_t)sizeof(size))
        return BC_EIO;
    wr32(size, data_bytes);
    if (pwrite(w->fd, size, sizeof(size), WAV_DATA_SIZE_OFFSET) != (ssize_t)sizeof(size))
        return BC_EIO;
    return 0;
}

size_t wav_writer_samples(const struct wav_writer *w)
{
    return w ? w->n_samples : 0;
}

void wav_writer_close(struct wav_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w);
}

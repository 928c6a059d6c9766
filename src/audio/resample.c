#include "audio/resample.h"

#include <math.h>
#include <soxr.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define RESAMPLE_MIN_RATE_HZ 1000
#define RESAMPLE_MAX_RATE_HZ 384000
/* Extra output room per call so rounding of the ratio never forces a regrow. */
#define RESAMPLE_OUT_SLACK_SAMPLES 64
/* Room asked for per round while draining the tail (about one filter length). */
#define RESAMPLE_FLUSH_CHUNK_SAMPLES 4096
/* resample_all feeds the stream in pieces so soxr's own buffers stay small. */
#define RESAMPLE_ALL_CHUNK_SAMPLES 65536

struct resampler {
    soxr_t soxr;  /* NULL when the rates are equal: samples pass through */
    double ratio; /* out_rate / in_rate */
    int16_t *buf;
    size_t cap; /* samples */
};

static int rate_ok(int rate_hz)
{
    return rate_hz >= RESAMPLE_MIN_RATE_HZ && rate_hz <= RESAMPLE_MAX_RATE_HZ;
}

static void reserve(struct resampler *r, size_t n)
{
    if (n <= r->cap)
        return;
    r->buf = bc_realloc(r->buf, n * sizeof(*r->buf));
    r->cap = n;
}

int resampler_new(int in_rate_hz, int out_rate_hz, struct resampler **out)
{
    *out = NULL;
    if (!rate_ok(in_rate_hz) || !rate_ok(out_rate_hz))
        return BC_EINVAL;

    struct resampler *r = bc_calloc(1, sizeof(*r));
    r->ratio = (double)out_rate_hz / in_rate_hz;
    if (in_rate_hz != out_rate_hz) {
        soxr_error_t e = NULL;
        soxr_io_spec_t io = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I);
        /* Dither would make identical input give different output; speech
         * recognition gains nothing from it at 16 bits. */
        io.flags |= SOXR_NO_DITHER;
        soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
        r->soxr = soxr_create(in_rate_hz, out_rate_hz, 1, &e, &io, &q, NULL);
        if (!r->soxr || e) {
            bc_error("resampler %d->%d Hz: %s", in_rate_hz, out_rate_hz, soxr_strerror(e));
            goto fail;
        }
    }
    *out = r;
    return 0;

fail:
    resampler_free(r);
    return BC_EENGINE;
}

/* Runs soxr until all of in is consumed and the output has stopped filling
 * the buffer; in == NULL drains the tail. */
static int run(struct resampler *r, const int16_t *in, size_t n_in, size_t room, size_t *n_out)
{
    size_t used = 0, done = 0;
    reserve(r, room);
    for (;;) {
        size_t idone = 0, odone = 0, space = r->cap - done;
        soxr_error_t e = soxr_process(r->soxr, in ? in + used : NULL, in ? n_in - used : 0, &idone,
                                      r->buf + done, space, &odone);
        if (e) {
            bc_error("resampler: %s", e);
            return BC_EENGINE;
        }
        used += idone;
        done += odone;
        if (odone == space) {
            reserve(r, r->cap * 2);
            continue;
        }
        if (!in || used == n_in)
            break;
        if (idone == 0 && odone == 0) {
            bc_error("resampler: no progress with %zu samples left", n_in - used);
            return BC_EENGINE;
        }
    }
    *n_out = done;
    return 0;
}

int resampler_process(struct resampler *r, const int16_t *in, size_t n_in, const int16_t **out,
                      size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!r || (!in && n_in))
        return BC_EINVAL;
    if (!r->soxr) {
        reserve(r, n_in ? n_in : 1);
        if (n_in)
            memcpy(r->buf, in, n_in * sizeof(*in));
        *out = r->buf;
        *n_out = n_in;
        return 0;
    }
    static const int16_t none[1];
    size_t room = (size_t)ceil((double)n_in * r->ratio) + RESAMPLE_OUT_SLACK_SAMPLES;
    int rc = run(r, n_in ? in : none, n_in, room, n_out);
    *out = r->buf;
    return rc;
}

int resampler_flush(struct resampler *r, const int16_t **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!r)
        return BC_EINVAL;
    if (!r->soxr) {
        reserve(r, 1);
        *out = r->buf;
        return 0;
    }
    int rc = run(r, NULL, 0, RESAMPLE_FLUSH_CHUNK_SAMPLES, n_out);
    /* soxr refuses input after end-of-input; start a fresh stream so the
     * object stays usable (the output buffer is ours and is untouched). */
    soxr_clear(r->soxr);
    *out = r->buf;
    return rc;
}

void resampler_free(struct resampler *r)
{
    if (!r)
        return;
    if (r->soxr)
        soxr_delete(r->soxr);
    free(r->buf);
    free(r);
}

static void append(int16_t **dst, size_t *n, size_t *cap, const int16_t *src, size_t n_src)
{
    if (*n + n_src > *cap) {
        *cap = (*n + n_src) * 2;
        *dst = bc_realloc(*dst, *cap * sizeof(**dst));
    }
    if (n_src)
        memcpy(*dst + *n, src, n_src * sizeof(*src));
    *n += n_src;
}

int resample_all(const int16_t *in, size_t n_in, int in_rate_hz, int out_rate_hz, int16_t **out,
                 size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!in && n_in)
        return BC_EINVAL;
    struct resampler *r = NULL;
    int rc = resampler_new(in_rate_hz, out_rate_hz, &r);
    if (rc < 0)
        return rc;

    size_t cap = (size_t)ceil((double)n_in * r->ratio) + RESAMPLE_OUT_SLACK_SAMPLES;
    int16_t *res = bc_malloc(cap * sizeof(*res));
    size_t n = 0;
    const int16_t *chunk;
    size_t n_chunk;
    for (size_t pos = 0; pos < n_in; pos += RESAMPLE_ALL_CHUNK_SAMPLES) {
        size_t len = n_in - pos;
        if (len > RESAMPLE_ALL_CHUNK_SAMPLES)
            len = RESAMPLE_ALL_CHUNK_SAMPLES;
        rc = resampler_process(r, in + pos, len, &chunk, &n_chunk);
        if (rc < 0)
            goto fail;
        append(&res, &n, &cap, chunk, n_chunk);
    }
    rc = resampler_flush(r, &chunk, &n_chunk);
    if (rc < 0)
        goto fail;
    append(&res, &n, &cap, chunk, n_chunk);
    resampler_free(r);
    *out = res;
    *n_out = n;
    return 0;

fail:
    free(res);
    resampler_free(r);
    return rc;
}

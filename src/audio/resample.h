/* Streaming sample-rate conversion of mono PCM16 (libsoxr). One object per
 * stream; not thread-safe, use from one thread at a time. */
#ifndef BC_RESAMPLE_H
#define BC_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

struct resampler;

/* Returns 0 and *out (free with resampler_free), or BC_EINVAL for rates
 * outside 1000..384000 Hz, or BC_EENGINE. */
int resampler_new(int in_rate_hz, int out_rate_hz, struct resampler **out);
/* Converts n_in samples. *out points into a buffer owned by the resampler,
 * valid until the next call; *n_out may be 0 while the filter fills. */
int resampler_process(struct resampler *r, const int16_t *in, size_t n_in, const int16_t **out,
                      size_t *n_out);
/* Drains the filter's tail at end of stream; same output rules. */
int resampler_flush(struct resampler *r, const int16_t **out, size_t *n_out);
void resampler_free(struct resampler *r);

/* One-shot convenience: converts a whole buffer into a new heap array
 * (*out, free with free()). Returns 0 or a negative code. */
int resample_all(const int16_t *in, size_t n_in, int in_rate_hz, int out_rate_hz, int16_t **out,
                 size_t *n_out);

#endif

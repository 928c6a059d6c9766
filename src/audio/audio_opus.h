/* Opus for translated speech sent to listeners: PCM16 mono at any rate in,
 * one raw Opus packet per AUDIO_OPUS_FRAME_MS out, and back. About 15x
 * smaller than PCM16 at 22050 Hz. Objects are not thread-safe: use each
 * from one thread at a time. */
#ifndef BC_AUDIO_OPUS_H
#define BC_AUDIO_OPUS_H

#include <stddef.h>
#include <stdint.h>

/* Wideband: encodes 1.6x faster than 24 kHz and synthesized speech has
 * little above 8 kHz. */
#define AUDIO_OPUS_RATE_HZ 16000
/* Long frames: a third of the WebSocket messages of 20 ms ones and a little
 * less overhead; delay does not matter, synthesis runs ahead of real time. */
#define AUDIO_OPUS_FRAME_MS 60
#define AUDIO_OPUS_FRAME_SAMPLES (AUDIO_OPUS_RATE_HZ / 1000 * AUDIO_OPUS_FRAME_MS)
#define AUDIO_OPUS_BITRATE_BPS 24000
/* Largest packet the encoder is allowed to write (bytes). */
#define AUDIO_OPUS_MAX_PACKET_BYTES 1276

/* Receives each packet as it is encoded; data is valid during the call. */
typedef void (*audio_opus_packet_cb)(const uint8_t *data, size_t len, void *user_data);

struct audio_opus_encoder;

/* An encoder for PCM16 mono at in_rate_hz (resampled to AUDIO_OPUS_RATE_HZ).
 * Returns 0 and *out (free with audio_opus_encoder_free), BC_EINVAL for a
 * rate out of range, or BC_EENGINE. */
int audio_opus_encoder_new(int in_rate_hz, struct audio_opus_encoder **out);
/* Encodes n samples, calling cb for every whole frame now complete.
 * Returns 0 or BC_EENGINE. */
int audio_opus_encoder_push(struct audio_opus_encoder *e, const int16_t *pcm, size_t n,
                            audio_opus_packet_cb cb, void *user_data);
/* Ends a stretch of speech: encodes what is buffered, the last frame
 * padded with silence, and resets the encoder for the next one.
 * *out_samples (may be NULL) gets the samples at AUDIO_OPUS_RATE_HZ in all
 * packets since the previous finish. Returns 0 or BC_EENGINE. */
int audio_opus_encoder_finish(struct audio_opus_encoder *e, audio_opus_packet_cb cb,
                              void *user_data, size_t *out_samples);
/* Samples (at AUDIO_OPUS_RATE_HZ) by which decoded audio lags the input. */
size_t audio_opus_encoder_delay(const struct audio_opus_encoder *e);
/* NULL is a no-op. */
void audio_opus_encoder_free(struct audio_opus_encoder *e);

struct audio_opus_decoder;

/* A decoder producing PCM16 mono at AUDIO_OPUS_RATE_HZ. Returns 0 and *out
 * (free with audio_opus_decoder_free) or BC_EENGINE. */
int audio_opus_decoder_new(struct audio_opus_decoder **out);
/* Decodes one packet into pcm (room for max samples; a frame needs
 * AUDIO_OPUS_FRAME_SAMPLES). Returns 0 and *n_out, or BC_EFORMAT for a
 * packet that is not Opus or does not fit. */
int audio_opus_decoder_decode(struct audio_opus_decoder *d, const uint8_t *packet, size_t len,
                              int16_t *pcm, size_t max, size_t *n_out);
/* NULL is a no-op. */
void audio_opus_decoder_free(struct audio_opus_decoder *d);

#endif

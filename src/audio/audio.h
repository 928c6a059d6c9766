/* Audio files: decode WAV or raw PCM into mono PCM16 at a chosen rate,
 * and write mono PCM16 WAV, whole or streamed. Not tied to any thread. */
#ifndef BC_AUDIO_H
#define BC_AUDIO_H

#include <stddef.h>
#include <stdint.h>

/* The speech pipeline's rate: PCM16LE mono at 16 kHz. */
#define AUDIO_SPEECH_RATE_HZ 16000
/* Refuse files larger than this (bytes) before reading them. */
#define AUDIO_MAX_FILE_BYTES (1024L * 1024 * 1024)

/* Mono PCM16 samples owned by the struct. */
struct audio_pcm {
    int16_t *samples;
    size_t n_samples;
    int sample_rate; /* Hz */
};

/* Loads a WAV file (PCM 8/16/24/32-bit integer or 32-bit float, any number of
 * channels, any rate, RIFF with any extra chunks) or, when the name ends in
 * .raw or .pcm, headerless PCM16LE mono at AUDIO_SPEECH_RATE_HZ. Downmixes
 * to mono and resamples to target_rate_hz.
 * Returns 0 and fills *out (release with audio_pcm_release), or BC_EIO (cannot
 * open or read), BC_EFORMAT (not audio, truncated, inconsistent header,
 * unsupported encoding) with a one-line reason naming the problem in err
 * (err_len bytes, always NUL-terminated). *out is zeroed on failure. */
int audio_load(const char *path, int target_rate_hz, struct audio_pcm *out, char *err,
               size_t err_len);

/* Same as audio_load for an in-memory WAV image (no raw detection). */
int audio_decode_wav(const uint8_t *data, size_t len, int target_rate_hz, struct audio_pcm *out,
                     char *err, size_t err_len);

/* Frees the samples; safe on a zeroed or released struct. */
void audio_pcm_release(struct audio_pcm *pcm);

/* Writes a whole mono PCM16 WAV file. Returns 0 or BC_EIO. */
int audio_write_wav(const char *path, const int16_t *samples, size_t n_samples, int sample_rate_hz);

/* Streamed WAV writer: the header's sizes are kept valid after every
 * append, so a file cut short by a crash is still playable. */
struct wav_writer;
/* Creates/truncates path. Returns 0 or BC_EIO; *out owned by the caller. */
int wav_writer_open(const char *path, int sample_rate_hz, struct wav_writer **out);
/* Appends samples; returns 0 or BC_EIO. */
int wav_writer_append(struct wav_writer *w, const int16_t *samples, size_t n_samples);
/* Samples written so far. */
size_t wav_writer_samples(const struct wav_writer *w);
/* Closes the file and frees w; NULL is a no-op. */
void wav_writer_close(struct wav_writer *w);

#endif

/* WAV format facts shared by the decoder (audio.c) and the writer
 * (wav_write.c); not part of the audio interface. */
#ifndef BC_WAV_INTERNAL_H
#define BC_WAV_INTERNAL_H

/* Sample rates either side accepts. */
#define WAV_MIN_RATE_HZ 1000
#define WAV_MAX_RATE_HZ 384000
#define WAV_FMT_MIN_BYTES 16
#define WAV_TAG_PCM 0x0001
/* What the writer produces, and what raw files hold: PCM16 mono. */
#define WAV_OUT_BITS 16
#define WAV_OUT_BYTES_PER_SAMPLE 2

#endif

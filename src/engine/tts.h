/* Speech synthesis (espeak-ng backend). espeak-ng keeps one global instance
 * and is not thread-safe, so one owner thread serves every language from a
 * bounded queue. Every function here may be called from any thread. */
#ifndef BC_TTS_H
#define BC_TTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tts_params {
    int queue_max;       /* pending requests; submit beyond it gives BC_EAGAIN; default 256 */
    int chunk_ms;        /* audio delivered in chunks of about this length; default 100 */
    const char *data_dir; /* espeak-ng data; NULL for the default */
};

struct tts;

/* Called on the TTS thread, in order, for every chunk of one request.
 * last is true on the final call (n_samples may be 0 then); err is 0, or a
 * negative code when synthesis failed (last is true then). Exactly one call
 * per accepted request has last == true; user_data must live until then. */
typedef void (*tts_chunk_cb)(void *user_data, const int16_t *pcm, size_t n_samples, bool last,
                             int err);

void tts_default_params(struct tts_params *params);
/* Initializes espeak-ng on a new owner thread. Returns 0 and *out (free with
 * tts_free), or BC_EENGINE. Only one struct tts may exist per process. */
int tts_new(const struct tts_params *params, struct tts **out);
/* Finishes queued requests (their callbacks run), stops the thread, frees. */
void tts_free(struct tts *tts);

/* Output rate in Hz (22050 for espeak-ng). PCM16 mono. */
int tts_sample_rate(const struct tts *tts);

/* The voice used for lang ("es", "pt_BR", "gl"...). Returns 0 and *voice
 * (static string) and *stand_in (true when it is a neighbour language's voice,
 * e.g. pt for gl), or BC_ENOTFOUND when the language is text-only. */
int tts_voice_for(const struct tts *tts, const char *lang, const char **voice, bool *stand_in);

/* Speaking rates, in percent of the normal rate. */
#define TTS_SPEED_NORMAL 100
#define TTS_SPEED_MIN 50
#define TTS_SPEED_MAX 200

/* Queues text (UTF-8) for synthesis in lang at the normal rate. Returns 0
 * (cb will run), BC_ENOTFOUND (no voice: text-only), BC_EAGAIN (queue
 * full), BC_ECLOSED. */
int tts_submit(struct tts *tts, const char *lang, const char *text, tts_chunk_cb cb,
               void *user_data);
/* As tts_submit, spoken at speed_percent of the normal rate
 * (TTS_SPEED_MIN..TTS_SPEED_MAX, else BC_EINVAL). The rate holds for this
 * request only. Speech gets shorter less than the rate grows (pauses and
 * some sounds keep their length): 150 % shortens it by about a quarter. */
int tts_submit_speed(struct tts *tts, const char *lang, const char *text, int speed_percent,
                     tts_chunk_cb cb, void *user_data);

/* Blocking convenience: synthesizes text and returns all samples in *pcm
 * (heap, caller frees) and *n_samples. Same errors as tts_submit. */
int tts_synth(struct tts *tts, const char *lang, const char *text, int16_t **pcm,
              size_t *n_samples);

#endif

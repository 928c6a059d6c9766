/* How fast to speak the next piece of translated speech so that listeners
 * do not fall behind the speaker.
 *
 * A listener plays the audio of its language piece after piece: a piece
 * starts when it arrives or when the one before it ends, whichever is
 * later. Translated speech often runs longer than its source, so pieces
 * queue up. The pacer keeps, per language, when the audio already sent
 * will have finished playing (its play-out end), and answers a speed for
 * the next piece: the normal one while the play-out ends at most
 * target_lag_ms after now, faster beyond that, growing linearly to
 * max_speed at target_lag_ms + ramp_ms.
 *
 * Times are milliseconds of one clock chosen by the caller (the pipeline
 * uses the input timeline: source audio fed so far). A piece's length is
 * known only once synthesized: pacer_queue counts an estimate from its
 * text at once, so that a piece queued before the one before it is
 * measured still sees it, and pacer_measured replaces the estimate.
 *
 * Pure logic, no engines. Not thread-safe: one caller at a time. */
#ifndef BC_PACER_H
#define BC_PACER_H

#include <stddef.h>
#include <stdint.h>

#define PACER_DEFAULT_TARGET_LAG_MS 200
#define PACER_DEFAULT_RAMP_MS 800
#define PACER_DEFAULT_MAX_SPEED 150 /* percent of the normal rate */
/* Spanish from espeak-ng at its normal rate: 50-65 ms per byte of text. */
#define PACER_DEFAULT_MS_PER_BYTE 60
/* Languages followed at once; a new one beyond takes the track that has
 * been idle longest. */
#define PACER_TRACKS_MAX 16

struct pacer_params {
    int target_lag_ms; /* play-out ending this far after now needs no hurry (>= 0) */
    int ramp_ms;       /* lag beyond the target at which max_speed is reached (> 0) */
    int max_speed;     /* percent of the normal rate (100..TTS_SPEED_MAX) */
    int ms_per_byte;   /* estimated audio per byte of text at the normal speed (> 0) */
};

struct pacer;

void pacer_default_params(struct pacer_params *params);
/* Returns 0 and *out (free with pacer_free), or BC_EINVAL for params out
 * of range. */
int pacer_new(const struct pacer_params *params, struct pacer **out);
/* NULL is a no-op. */
void pacer_free(struct pacer *p);

/* How long after now_ms the audio already sent in lang ends (0: idle). */
int64_t pacer_lag_ms(const struct pacer *p, const char *lang, int64_t now_ms);
/* The speed (percent of the normal rate, 100..max_speed) for a piece in
 * lang sent at now_ms. */
int pacer_speed(const struct pacer *p, const char *lang, int64_t now_ms);
/* A piece of text_bytes of text in lang is sent at now_ms at speed.
 * Returns the length counted for it until pacer_measured. */
int64_t pacer_queue(struct pacer *p, const char *lang, int64_t now_ms, size_t text_bytes,
                    int speed);
/* The piece counted as estimate_ms (pacer_queue's answer) lasts actual_ms. */
void pacer_measured(struct pacer *p, const char *lang, int64_t estimate_ms, int64_t actual_ms);

#endif

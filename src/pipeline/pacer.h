/* How fast to speak the next piece of translated speech so that listeners
 * do not fall behind the speaker.
 *
 * A listener plays the audio of its language piece after piece: a piece
 * starts when it arrives or when the one before it ends, whichever is
 * later. A piece is sent once its source words are said, and lasts about
 * as long as they did, so pieces queue up behind long ones, and what the
 * speaker says last is heard only after all of that. The pacer keeps, per
 * language, when the audio already sent will have finished playing (its
 * play-out end), and answers a speed for the next piece: the normal one
 * when the piece, started after what is queued, ends at most
 * target_lag_ms after now; else the speed that makes it end then, at
 * most max_speed.
 *
 * Times are milliseconds of one clock chosen by the caller (the pipeline
 * uses the input timeline: source audio fed so far). A piece's length is
 * known only once synthesized: it is estimated from its text (bytes times
 * a factor each language's measurements correct); pacer_queue counts the
 * estimate at once, so that a piece queued before the one before it is
 * measured still sees it, and pacer_measured replaces it. Lengths are
 * taken as inversely proportional to the speed; a synthesizer that
 * shortens less than that (espeak-ng: 150 % gives about 0.73 of the
 * length) just ends a little later than aimed.
 *
 * Pure logic, no engines. Not thread-safe: one caller at a time. */
#ifndef BC_PACER_H
#define BC_PACER_H

#include <stddef.h>
#include <stdint.h>

#define PACER_DEFAULT_TARGET_LAG_MS 1000
#define PACER_DEFAULT_MAX_SPEED 150 /* percent of the normal rate */
/* Spanish from espeak-ng at its normal rate: 50-65 ms per byte of text. */
#define PACER_DEFAULT_MS_PER_BYTE 60
/* Languages followed at once; a new one beyond takes the track that has
 * been idle longest. */
#define PACER_TRACKS_MAX 16

struct pacer_params {
    int target_lag_ms; /* a piece ending this long after it is sent needs no hurry (> 0) */
    int max_speed;     /* percent of the normal rate (100..200) */
    int ms_per_byte;   /* first estimate of audio per byte of text at the normal speed (> 0) */
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
/* The speed (percent of the normal rate, 100..max_speed) for a piece of
 * text_bytes of text in lang sent at now_ms. */
int pacer_speed(const struct pacer *p, const char *lang, int64_t now_ms, size_t text_bytes);
/* A piece of text_bytes of text in lang is sent at now_ms at speed.
 * Returns the length counted for it until pacer_measured. */
int64_t pacer_queue(struct pacer *p, const char *lang, int64_t now_ms, size_t text_bytes,
                    int speed);
/* The piece counted as estimate_ms (pacer_queue's answer) lasts actual_ms. */
void pacer_measured(struct pacer *p, const char *lang, int64_t estimate_ms, int64_t actual_ms);

#endif

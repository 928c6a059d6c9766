/* The translated speech of one (session, language): archived as one WAV per
 * utterance and published to listeners as PCM16 as synthesized and, while
 * anyone listens in Opus, as Opus packets. Opus is encoded on a serial
 * executor so that synthesis, shared by every session, never waits for it.
 * Not thread-safe: calls for one object come from one thread at a time
 * (the caller's lock). */
#ifndef BC_SPEECH_OUT_H
#define BC_SPEECH_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "delivery/delivery.h"
#include "protocol/protocol.h"
#include "util/serial.h"

/* Where the utterance came from, for listeners to time it. */
struct speech_out;

/* archive may be NULL (no archive); each utterance goes to it as
 * <session>/<lang>/<utterance>.wav. archive, bus and encoder are borrowed
 * and must outlive the jobs this object submits (free the executor before
 * the bus). */
struct speech_out *speech_out_new(const char *session, const char *lang, struct archive *archive,
                                  struct delivery *bus, struct serial *encoder);
/* timing may be NULL when unknown. chunk: the utterance's chunk this audio
 * speaks in simultaneous mode (its messages carry it; the chunks of one
 * utterance share its archive file), -1 for a whole utterance. */
void speech_out_start(struct speech_out *o, int utterance, int chunk, int sample_rate_hz,
                      const struct protocol_origin *timing);
void speech_out_samples(struct speech_out *o, const int16_t *pcm, size_t n);
/* n_samples: the utterance's total at the synthesized rate. */
void speech_out_end(struct speech_out *o, size_t n_samples);
/* Returns once every Opus message submitted so far for this object is
 * published (the caller's next publication follows them on the bus). Waits
 * for the encoder's thread; never call it from there. NULL is a no-op. */
void speech_out_flush(struct speech_out *o);
/* NULL is a no-op. Opus work already submitted still completes. */
void speech_out_free(struct speech_out *o);

#endif

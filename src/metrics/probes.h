/* What babelcast measures: the named metrics of every role and one call
 * per event, so the code being measured says what happened and not how it
 * is exposed. Every call is thread-safe and cheap (a mutex and a few
 * additions); none blocks on I/O.
 *
 * Gateway side: speaker frames and bytes, stream appends, peers dropped
 * for lag, refused sessions, live sessions and listeners.
 * Worker side: recognition real-time factor, translation and synthesis
 * durations, end of speech to first translated audio, dead letters, owned
 * sessions, room for more, sessions shedding work. */
#ifndef BC_PROBES_H
#define BC_PROBES_H

#include <stddef.h>

/* Registers the metrics of the sides this process runs, so each is
 * rendered (at zero) before its first event, and sets
 * babelcast_build_info{version, role} to 1. */
void probe_init(const char *role, int gateway_side, int worker_side);

/* Gateway. */
/* A speaker's audio frame of bytes arrived (before it is appended). */
void probe_speaker_frame(size_t bytes);
/* One stream append took seconds; failed when it returned an error. */
void probe_stream_append(double seconds, int failed);
/* A peer was closed with 4408; listener 1 for a listener, 0 for a speaker. */
void probe_lag_drop(int listener);
/* POST /api/sessions was refused with this error code (too_many_sessions,
 * no_worker, registry_unavailable...). */
void probe_session_refused(const char *code);
void probe_set_live_sessions(size_t n);
void probe_set_speakers(size_t n);
/* Speaker frames and ends waiting to be appended to the stream. */
void probe_set_ingest_queued(size_t n);
/* Listener gauges are set in full: clear, then set every combination. */
void probe_listeners_clear(void);
void probe_set_listeners(const char *lang, const char *codec, size_t n);

/* Worker. */
/* Recognition spent cpu_seconds (the recognizing thread's CPU time,
 * translation excluded) on audio_seconds of audio. */
void probe_asr(double cpu_seconds, double audio_seconds);
/* One translation into lang took seconds. */
void probe_mt(const char *lang, double seconds);
/* One synthesis into lang took seconds from request to last chunk
 * (waiting for the synthesizer included). */
void probe_tts(const char *lang, double seconds);
/* The first translated audio of an utterance in lang was published this
 * many seconds after the gateway accepted the audio that ended its speech. */
void probe_first_audio(const char *lang, double seconds);
/* A record was set aside in the dead-letter log. */
void probe_dead_letter(void);
void probe_set_worker_sessions(size_t n);
/* Sessions the worker may still claim. */
void probe_set_worker_room(int n);
/* Sessions owned that shed at level ("none", "translated_partials",
 * "partials"). */
void probe_set_shedding(const char *level, size_t n);

/* Either side. */
/* A call to the stream's service (Kinesis) was throttled; it is retried. */
void probe_stream_throttled(void);

#endif

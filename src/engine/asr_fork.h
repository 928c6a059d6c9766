/* Forked recognizers (private to src/engine): a template process that
 * loaded one decoder, recognizer processes forked from it on request, and
 * the user's proxy for each (asr_remote), which speaks asr_wire.h.
 *
 * asr_template_start forks, so it must run while the calling process has
 * a single thread. Everything else may run on any thread: spawning is
 * serialized inside; one asr_remote is used by one thread at a time. */
#ifndef BC_ASR_FORK_H
#define BC_ASR_FORK_H

#include <sys/types.h>

#include "engine/asr.h"

struct asr_template;
struct asr_remote;

/* Forks the template process and waits until it loaded its decoder.
 * Returns 0 and *out, BC_ESTATE (the process already runs threads) or
 * BC_EENGINE (the fork or the load failed; logged). */
int asr_template_start(const struct asr_params *params, struct asr_template **out);
/* Ends the template process and waits for it (bounded). Free every remote
 * first. NULL is a no-op. */
void asr_template_stop(struct asr_template *tmpl);
/* Has the template fork a recognizer process and returns the proxy.
 * Returns 0 and *out or BC_EENGINE (logged). */
int asr_template_spawn(struct asr_template *tmpl, struct asr_remote **out);

/* Closes the socket, which ends the recognizer process. NULL is a no-op. */
void asr_remote_free(struct asr_remote *remote);
/* Starts a fresh stream in the recognizer with these callbacks (copied). */
int asr_remote_reset(struct asr_remote *remote, const struct asr_callbacks *callbacks);
/* The asr_stream_* calls of asr.h, carried out by the recognizer process;
 * callbacks run on the calling thread. After BC_EENGINE (the process died,
 * hung or answered nonsense: logged) every call fails: free the remote. */
int asr_remote_feed(struct asr_remote *remote, const int16_t *pcm, size_t n_samples);
int asr_remote_flush(struct asr_remote *remote);
int asr_remote_resume(struct asr_remote *remote, int64_t position, int next_utterance);
/* Returns the number of terms taken or BC_EENGINE. Terms past the wire's
 * bounds (asr_wire.h) are not taken. */
int asr_remote_set_vocabulary(struct asr_remote *remote, const struct asr_term *terms, size_t n);
/* Sends remote the terms of from's last asr_remote_set_vocabulary, if any
 * (a fresh recognizer taking over a stream). Returns 0 or BC_EENGINE. */
int asr_remote_take_terms(struct asr_remote *remote, const struct asr_remote *from);
/* 1 once the recognizer's decoder got words of the stream's terms: the
 * process must end with the stream, not serve another. */
int asr_remote_has_terms(const struct asr_remote *remote);
int64_t asr_remote_position(const struct asr_remote *remote);
int asr_remote_in_utterance(const struct asr_remote *remote);
int asr_remote_next_utterance(const struct asr_remote *remote);
int asr_remote_failed(const struct asr_remote *remote);
pid_t asr_remote_pid(const struct asr_remote *remote);

/* The template process's life (asr_zygote.c): loads a decoder, reports on
 * control_fd, forks recognizers on request and exits when control_fd
 * closes or user_pid dies. Never returns. */
_Noreturn void asr_zygote_main(const struct asr_params *params, int control_fd, pid_t user_pid);

#endif

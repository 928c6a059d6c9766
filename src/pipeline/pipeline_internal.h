/* Internal to src/pipeline: what pipeline.c lends the simultaneous mode
 * (pipeline_simul.c). All run on the thread that feeds the pipeline. */
#ifndef BC_PIPELINE_INTERNAL_H
#define BC_PIPELINE_INTERNAL_H

#include "pipeline/pipeline.h"

/* Emits a caption event; returns the sink's answer. committed NULL and
 * chunk -1 outside simultaneous mode. */
int pipeline_emit_caption(struct pipeline *p, const char *lang, const struct asr_hyp *hyp,
                          const char *text, int final, const char *committed, int chunk);
/* Queues text for synthesis as chunk `chunk` (-1: the whole utterance).
 * ahead_bytes: text already spoken by the speaker that will follow it,
 * which pacing counts as queued after this piece. */
void pipeline_speak(struct pipeline *p, const char *lang, int utterance, int chunk,
                    const char *text, size_t ahead_bytes);
/* How long (ms of the input timeline) lang's listeners still have to play
 * of the speech already queued for them. */
int64_t pipeline_play_lag_ms(struct pipeline *p, const char *lang);
/* 1 when speech is paced (src/pipeline/pacer.h). */
int pipeline_paced(const struct pipeline *p);
/* mt_translate with the probe; "" translates to "". Returns 0 and *out
 * (heap) or a negative BC_E* code. */
int pipeline_translate(struct pipeline *p, const char *lang, const char *text, char **out);
/* 1 when a partial caption should be translated now (not lagging, and
 * the last translated partial is old enough). */
int pipeline_translate_partial_now(struct pipeline *p, const struct asr_hyp *hyp);
size_t pipeline_n_langs(const struct pipeline *p);
const char *pipeline_lang(const struct pipeline *p, size_t i);

/* Simultaneous mode's state, one per pipeline. */
struct pipeline_simul;

struct pipeline_simul *pipeline_simul_new(void);
void pipeline_simul_free(struct pipeline_simul *s);
void pipeline_simul_partial(struct pipeline *p, struct pipeline_simul *s,
                            const struct asr_hyp *hyp);
/* The input reached position (samples) within an utterance. */
void pipeline_simul_tick(struct pipeline *p, struct pipeline_simul *s, int64_t position);
void pipeline_simul_final(struct pipeline *p, struct pipeline_simul *s, const struct asr_hyp *hyp);

#endif

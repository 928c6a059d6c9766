/* Opens and closes the three shared engines a process needs. */
#ifndef BC_ENGINES_H
#define BC_ENGINES_H

#include "catalog/catalog.h"
#include "pipeline/pipeline.h"

/* Loads the ASR model, discovers translation directions and (with_tts)
 * starts the speech synthesis thread. With forked recognizers (the default
 * of asr_default_params) call it before the process starts any thread.
 * Returns 0 and fills *out, or the failing engine's code after logging
 * which one failed; nothing stays open on failure. */
int engines_open(const struct asr_params *asr_params, int with_tts, struct pipeline_engines *out);
/* Closes what engines_open opened; safe on a zeroed struct. */
void engines_close(struct pipeline_engines *engines);
/* The languages the engines offer, for gateways (caller frees with
 * catalog_free). */
struct catalog *engines_catalog(const struct pipeline_engines *engines);

#endif

/* Keeps a pipeline's glossary in step with the session registry, where
 * the gateway stores it (possibly in another process). */
#ifndef BC_GLOSSARY_REFRESH_H
#define BC_GLOSSARY_REFRESH_H

#include <stdint.h>

#include "pipeline/pipeline.h"
#include "session/session.h"

/* Reads the glossary of session id when its version in the registry is not
 * *version (one small read while it is unchanged) and hands it to p
 * (pipeline_set_glossary: from the next utterance on). *version is then
 * the version p has. A glossary that cannot be read or parsed leaves p's as
 * it is (logged). Runs on the thread that feeds p. */
void glossary_refresh(struct pipeline *p, struct session_registry *reg, const char *id,
                      uint64_t *version);

#endif

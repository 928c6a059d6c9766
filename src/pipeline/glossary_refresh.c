#include "pipeline/glossary_refresh.h"

#include <inttypes.h>
#include <stdlib.h>

#include "glossary/glossary.h"
#include "util/log.h"

void glossary_refresh(struct pipeline *p, struct session_registry *reg, const char *id,
                      uint64_t *version)
{
    char *json = NULL;
    uint64_t stored;
    if (session_glossary_get(reg, id, *version, &json, &stored) < 0 || stored == *version)
        return;
    struct glossary *g = NULL;
    char err[GLOSSARY_ERROR_MAX];
    /* The gateway checked the languages against the catalog when it stored it. */
    if (json && glossary_parse_json(json, NULL, NULL, &g, err, sizeof err) < 0) {
        bc_warn("session %s: glossary version %" PRIu64 " unusable: %s", id, stored, err);
        free(json);
        *version = stored; /* not read again until it changes */
        return;
    }
    free(json);
    pipeline_set_glossary(p, g);
    *version = stored;
}

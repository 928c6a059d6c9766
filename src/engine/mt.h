/* Machine translation from English to every installed target language.
 * Apertium backend: one persistent null-flush pipeline per direction,
 * spawned without a shell, warmed up, respawned when a stage dies.
 * Targets that exist only from Spanish are reached by pivoting through es.
 * All functions are thread-safe; each pipeline serves one sentence at a time. */
#ifndef BC_MT_H
#define BC_MT_H

#include <stddef.h>
#include <sys/types.h>

#include "util/lang_code.h"

#define MT_LANG_CODE_MAX LANG_CODE_MAX
#define MT_MODE_NAME_MAX 64

struct mt_params {
    const char *modes_dir;  /* where <mode>.mode files live; default the apertium one */
    int read_timeout_ms;    /* per sentence, per pipeline; default 5000 */
    int retries;            /* respawn-and-retry count after a pipeline dies; default 1 */
};

struct mt_language {
    char code[MT_LANG_CODE_MAX];         /* ISO 639-1 where one exists: "es", "pt_BR" */
    char name[32];                       /* English name: "Spanish" */
    char mode[MT_MODE_NAME_MAX];         /* first (or only) apertium mode: "eng-spa" */
    char pivot_mode[MT_MODE_NAME_MAX];   /* second mode when pivoting ("es-fr"), else "" */
};

struct mt;

void mt_default_params(struct mt_params *params);
/* Discovers the installed directions; spawns no pipeline yet.
 * Returns 0 and *out (free with mt_free), or BC_ENOTFOUND when no English
 * direction is installed, or BC_EIO. */
int mt_new(const struct mt_params *params, struct mt **out);
void mt_free(struct mt *mt);

/* Target languages, sorted by code; index 0..count-1. Pointers live as long as mt. */
size_t mt_language_count(const struct mt *mt);
const struct mt_language *mt_language_at(const struct mt *mt, size_t index);
/* NULL when code is not a target. Accepts "es" and "spa" spellings. */
const struct mt_language *mt_language_find(const struct mt *mt, const char *code);

/* Spawns and warms up the pipelines a target needs, if not running.
 * Returns 0, BC_ENOTFOUND (unknown code) or BC_EENGINE. */
int mt_prepare(struct mt *mt, const char *code);

/* Translates one English sentence or fragment (UTF-8, no markup) into code.
 * Returns 0 and *out (heap, caller frees), or BC_ENOTFOUND, BC_ETIMEDOUT,
 * BC_EENGINE (after the retries). Empty input gives an empty output. */
int mt_translate(struct mt *mt, const char *code, const char *text, char **out);

/* For tests: pids of the running stages of the pipeline for mode (0 when
 * not running). Returns the number written to pids. */
size_t mt_debug_pids(struct mt *mt, const char *mode, pid_t *pids, size_t max);

#endif

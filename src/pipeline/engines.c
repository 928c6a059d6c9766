#include "pipeline/engines.h"

#include <stdio.h>
#include <string.h>

#include "util/err.h"
#include "util/log.h"

int engines_open(const struct asr_params *asr_params, int with_tts, struct pipeline_engines *out)
{
    memset(out, 0, sizeof *out);
    int rc = asr_model_new(asr_params, &out->asr);
    if (rc < 0) {
        bc_error("speech recognition engine: %s", bc_strerror(rc));
        goto fail;
    }
    struct mt_params mt_params;
    mt_default_params(&mt_params);
    rc = mt_new(&mt_params, &out->mt);
    if (rc < 0) {
        bc_error("translation engine: %s", bc_strerror(rc));
        goto fail;
    }
    if (with_tts) {
        struct tts_params tts_params;
        tts_default_params(&tts_params);
        rc = tts_new(&tts_params, &out->tts);
        if (rc < 0) {
            bc_error("speech synthesis engine: %s", bc_strerror(rc));
            goto fail;
        }
    }
    return 0;
fail:
    engines_close(out);
    return rc;
}

void engines_close(struct pipeline_engines *engines)
{
    tts_free(engines->tts);
    mt_free(engines->mt);
    asr_model_free(engines->asr);
    memset(engines, 0, sizeof *engines);
}

struct catalog *engines_catalog(const struct pipeline_engines *engines)
{
    struct catalog *c = catalog_new(engines->tts ? tts_sample_rate(engines->tts) : 0);
    for (size_t i = 0; i < mt_language_count(engines->mt); i++) {
        const struct mt_language *m = mt_language_at(engines->mt, i);
        struct catalog_language l;
        memset(&l, 0, sizeof l);
        snprintf(l.code, sizeof l.code, "%s", m->code);
        snprintf(l.name, sizeof l.name, "%s", m->name);
        const char *voice = NULL;
        l.voice = engines->tts && tts_voice_for(engines->tts, m->code, &voice, &l.stand_in) == 0;
        if (l.voice)
            snprintf(l.voice_name, sizeof l.voice_name, "%s", voice);
        l.pivot = m->pivot_mode[0] != '\0';
        if (catalog_add(c, &l) < 0)
            bc_warn("language %s left out of the catalog: not a language code", m->code);
    }
    return c;
}

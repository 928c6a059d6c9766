#include "pipeline/engines.h"

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

/* WAV images as a speaker's file would bring them: audio_decode_wav must
 * either refuse them with BC_EFORMAT or return samples it can account for. */
#include <stdint.h>
#include <stdlib.h>

#include "audio/audio.h"
#include "fuzz_common.h"
#include "util/err.h"

/* A rate the input does not choose: resampling is exercised whenever the
 * file's rate differs, which most mutations make it. */
#define FUZZ_WAV_TARGET_RATE AUDIO_SPEECH_RATE_HZ

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct audio_pcm pcm;
    char err[256];
    int rc = audio_decode_wav(data, len, FUZZ_WAV_TARGET_RATE, &pcm, err, sizeof err);
    if (rc == 0) {
        if (pcm.sample_rate != FUZZ_WAV_TARGET_RATE || (pcm.n_samples && !pcm.samples))
            abort();
        fuzz_touch(pcm.samples, pcm.n_samples * sizeof *pcm.samples);
    } else if (rc != BC_EFORMAT || !err[0]) {
        abort();
    }
    audio_pcm_release(&pcm);
    return 0;
}

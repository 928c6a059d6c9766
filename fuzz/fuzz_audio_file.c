/* Audio files as `babelcast speak FILE` and `translate FILE` load them:
 * the first input byte picks the name (.raw/.pcm are headerless PCM16, any
 * other name is read as WAV), the rest is the file's content. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "audio/audio.h"
#include "fuzz_common.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const char *const names[] = {"in.raw", "in.PCM", "in.wav", "in"};
    static char paths[sizeof names / sizeof names[0]][4096];
    if (!paths[0][0]) {
        fuzz_quiet();
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            snprintf(paths[i], sizeof paths[i], "%s/%s", fuzz_scratch_dir(), names[i]);
    }
    if (len == 0)
        return 0;
    const char *path = paths[data[0] % (sizeof names / sizeof names[0])];
    fuzz_write_file(path, data + 1, len - 1);
    struct audio_pcm pcm;
    char err[256];
    int rc = audio_load(path, AUDIO_SPEECH_RATE_HZ, &pcm, err, sizeof err);
    if (rc == 0)
        fuzz_touch(pcm.samples, pcm.n_samples * sizeof *pcm.samples);
    else if (rc != BC_EFORMAT || !err[0])
        abort();
    audio_pcm_release(&pcm);
    remove(path);
    return 0;
}

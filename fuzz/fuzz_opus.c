/* Opus packets as a listener receives them (`babelcast listen --codec
 * opus`): the input is a run of packets, each a one-byte length and that
 * many bytes, decoded in order by one decoder, as a stream would be. */
#include <stdint.h>
#include <stdlib.h>

#include "audio/audio_opus.h"
#include "fuzz_common.h"
#include "util/err.h"

/* Room for the longest packet Opus allows (120 ms), so a long but valid
 * packet decodes instead of failing for lack of space. */
#define FUZZ_OPUS_MAX_SAMPLES (AUDIO_OPUS_RATE_HZ / 1000 * 120)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct audio_opus_decoder *dec;
    if (audio_opus_decoder_new(&dec) < 0)
        abort();
    static int16_t pcm[FUZZ_OPUS_MAX_SAMPLES];
    size_t pos = 0;
    while (pos < len) {
        size_t n = data[pos++];
        if (n > len - pos)
            n = len - pos;
        /* Alternate the room offered: a client sized for one 60 ms frame
         * must get BC_EFORMAT, not an overrun, from a longer packet. */
        size_t room = (pos & 1) ? AUDIO_OPUS_FRAME_SAMPLES : FUZZ_OPUS_MAX_SAMPLES;
        size_t got = 0;
        int rc = audio_opus_decoder_decode(dec, data + pos, n, pcm, room, &got);
        if (rc == 0 && got > room)
            abort();
        if (rc != 0 && (rc != BC_EFORMAT || got != 0))
            abort();
        pos += n;
    }
    audio_opus_decoder_free(dec);
    return 0;
}

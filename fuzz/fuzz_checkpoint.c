/* A session's checkpoint file as the file:// stream reads it at open
 * (sf_read_checkpoint): anything but an intact checkpoint must read as
 * "none" (seq 0, no state), which replays the log instead of skipping it.
 * The first input byte set recomputes the trailing CRC, so the fuzzer gets
 * past it to the length checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "stream/stream.h"
#include "stream/stream_file_internal.h"

#define CKPT_CRC_BYTES 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static char *path;
    if (!path) {
        fuzz_quiet();
        path = bc_asprintf("%s/checkpoint", fuzz_scratch_dir());
    }
    if (len == 0)
        return 0;
    int fix_crc = data[0] & 1;
    data++;
    len--;
    uint8_t *buf = bc_malloc(len ? len : 1);
    memcpy(buf, data, len);
    if (fix_crc && len >= CKPT_CRC_BYTES)
        sf_put_u32(buf + len - CKPT_CRC_BYTES, sf_crc32_update(0, buf, len - CKPT_CRC_BYTES));
    fuzz_write_file(path, buf, len);

    /* Poisoned, so a state read back that was never written shows. */
    uint8_t state[STREAM_STATE_MAX];
    memset(state, 0xA5, sizeof state);
    uint64_t seq = 1;
    size_t state_len = 1;
    sf_read_checkpoint(fuzz_scratch_dir(), &seq, state, &state_len);
    if (state_len > STREAM_STATE_MAX)
        abort();
    int intact = len >= CKPT_HEADER_BYTES + CKPT_CRC_BYTES && sf_get_u32(buf) == CKPT_MAGIC &&
                 sf_get_u32(buf + 12) == len - CKPT_HEADER_BYTES - CKPT_CRC_BYTES &&
                 sf_get_u32(buf + len - CKPT_CRC_BYTES) ==
                     sf_crc32_update(0, buf, len - CKPT_CRC_BYTES) &&
                 len - CKPT_HEADER_BYTES - CKPT_CRC_BYTES <= STREAM_STATE_MAX;
    if (intact) {
        if (seq != sf_get_u64(buf + 4) || state_len != len - CKPT_HEADER_BYTES - CKPT_CRC_BYTES ||
            memcmp(state, buf + CKPT_HEADER_BYTES, state_len) != 0)
            abort();
    } else if (seq != 0 || state_len != 0) {
        abort();
    }
    free(buf);
    return 0;
}

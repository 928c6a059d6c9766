/* A session's log file as the file:// stream finds it at open after a
 * crash, a torn write or a damaged disk (stream_file_recover.c). The first
 * input byte says how to lay the session out, the rest is the log file:
 *   bit 0: recompute the CRC of every record the reader could find, so the
 *          fuzzer reaches what follows the CRC check (seq gaps, damage in
 *          the middle, compaction bases) instead of stopping at it;
 *   bit 1: write a valid checkpoint, at the seq in the next input byte;
 *   bit 2: mark the session ended.
 * The stream must open, hand out every record after the checkpoint in
 * order without gaps, and hand out the same after a second open (the first
 * one may have rewritten the log). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "stream/stream.h"
#include "stream/stream_file_internal.h"
#include "util/err.h"

#define FUZZ_SESSION "fuzzsession"
#define FLAG_FIX_CRC 1u
#define FLAG_CHECKPOINT 2u
#define FLAG_ENDED 4u
/* More records than a short input can hold. */
#define FUZZ_MAX_RECORDS 100000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void fix_crcs(uint8_t *buf, size_t size)
{
    size_t off = 0;
    while (size - off >= LOG_HEADER_BYTES) {
        uint32_t n = sf_get_u32(buf + off + 24);
        if (sf_get_u32(buf + off) != LOG_MAGIC || n > size - off - LOG_HEADER_BYTES) {
            off++;
            continue;
        }
        uint32_t crc = sf_crc32_update(sf_crc32_update(0, buf + off, LOG_CRC_OFFSET),
                                       buf + off + LOG_HEADER_BYTES, n);
        sf_put_u32(buf + off + LOG_CRC_OFFSET, crc);
        off += LOG_HEADER_BYTES + n;
    }
}

static void write_checkpoint(const char *dir, uint64_t seq)
{
    uint8_t buf[CKPT_HEADER_BYTES + 4];
    sf_put_u32(buf, CKPT_MAGIC);
    sf_put_u64(buf + 4, seq);
    sf_put_u32(buf + 12, 0);
    sf_put_u32(buf + CKPT_HEADER_BYTES, sf_crc32_update(0, buf, CKPT_HEADER_BYTES));
    char *path = bc_asprintf("%s/checkpoint", dir);
    fuzz_write_file(path, buf, sizeof buf);
    free(path);
}

/* What one open of the stream hands out. */
struct seen {
    uint64_t checkpoint;
    size_t n;
    uint64_t *seqs;
    uint32_t *kinds;
    size_t *lens;
    size_t dead;
    uint64_t audio_bytes;
};

static void read_all(const char *url, struct seen *out)
{
    memset(out, 0, sizeof *out);
    struct stream *s;
    if (stream_open(url, NULL, &s) != 0)
        abort(); /* a damaged log must never keep the server from starting */
    uint8_t state[STREAM_STATE_MAX];
    size_t state_len;
    stream_checkpoint_get(s, FUZZ_SESSION, &out->checkpoint, state, &state_len);
    uint64_t after = out->checkpoint;
    struct stream_record *rec;
    while (stream_read(s, FUZZ_SESSION, after, &rec) == 0) {
        if (rec->seq != after + 1 || out->n == FUZZ_MAX_RECORDS)
            abort(); /* numbering must stay without gaps */
        fuzz_touch(rec->data, rec->len);
        out->seqs = bc_realloc(out->seqs, (out->n + 1) * sizeof *out->seqs);
        out->kinds = bc_realloc(out->kinds, (out->n + 1) * sizeof *out->kinds);
        out->lens = bc_realloc(out->lens, (out->n + 1) * sizeof *out->lens);
        out->seqs[out->n] = rec->seq;
        out->kinds[out->n] = rec->kind;
        out->lens[out->n] = rec->len;
        out->n++;
        after = rec->seq;
        free(rec);
    }
    out->dead = stream_dead_letters(s, FUZZ_SESSION);
    if (stream_audio_bytes(s, FUZZ_SESSION, &out->audio_bytes) != 0)
        abort();
    stream_close(s);
}

static void seen_free(struct seen *s)
{
    free(s->seqs);
    free(s->kinds);
    free(s->lens);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static char *root, *url, *dir, *log;
    if (!root) {
        fuzz_quiet();
        root = bc_asprintf("%s/stream", fuzz_scratch_dir());
        url = bc_asprintf("file://%s", root);
        dir = bc_asprintf("%s/%s", root, FUZZ_SESSION);
        log = bc_asprintf("%s/log", dir);
    }
    if (len < 2)
        return 0;
    unsigned flags = data[0];
    uint64_t checkpoint = data[1];
    data += 2;
    len -= 2;
    fuzz_rm_tree(root);
    if (mkdir(root, 0700) != 0 || mkdir(dir, 0700) != 0)
        abort();
    uint8_t *buf = bc_malloc(len ? len : 1);
    memcpy(buf, data, len);
    if (flags & FLAG_FIX_CRC)
        fix_crcs(buf, len);
    fuzz_write_file(log, buf, len);
    free(buf);
    if (flags & FLAG_CHECKPOINT)
        write_checkpoint(dir, checkpoint);
    if (flags & FLAG_ENDED) {
        char *ended = bc_asprintf("%s/ended", dir);
        fuzz_write_file(ended, NULL, 0);
        free(ended);
    }

    struct seen first, second;
    read_all(url, &first);
    read_all(url, &second);
    if (first.checkpoint != second.checkpoint || first.n != second.n ||
        first.dead != second.dead || first.audio_bytes != second.audio_bytes)
        abort();
    for (size_t i = 0; i < first.n; i++) {
        if (first.seqs[i] != second.seqs[i] || first.kinds[i] != second.kinds[i] ||
            first.lens[i] != second.lens[i])
            abort();
    }
    seen_free(&first);
    seen_free(&second);
    return 0;
}

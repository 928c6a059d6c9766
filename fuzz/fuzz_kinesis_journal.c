/* The kinesis:// local state journal (DATA_DIR/kinesis-NAME.journal) as
 * kin_store_local_open replays it at start-up. What must hold for any
 * file: opening recovers (0), skipping what is damaged; the journal it
 * rewrites reads back to itself (nothing accepted is lost or changed by
 * a second start); what it keeps is sane (positions "" or sequence
 * numbers, states within STREAM_STATE_MAX, counts of valid session ids);
 * and a commit written after it reads back after a restart. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "stream/stream_kinesis_internal.h"
#include "util/err.h"

#define JOURNAL_STREAM "fz"
#define FUZZ_SHARD "shardId-000000000099"
#define FUZZ_SESSION "fuzzsession01"
#define FUZZ_OWNER "fuzzer"
#define FUZZ_POS "49590338271490256608559692538361571095921575989136588898"
#define FUZZ_TTL_MS 60000
#define FUZZ_STATE_MAX 32
#define LINE_ID_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(int ok)
{
    if (!ok)
        abort();
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    check(f != NULL);
    size_t cap = 4096, n = 0;
    char *buf = bc_malloc(cap + 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = bc_realloc(buf, cap + 1);
        }
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void open_store(const char *dir, const struct kin_store_ops **ops, void **impl)
{
    check(kin_store_local_open(dir, JOURNAL_STREAM, ops, impl) == 0);
}

/* Every shard and session the rewritten journal names reads back sane. */
static void check_state(const char *journal, const struct kin_store_ops *ops, void *impl)
{
    char *copy = bc_strdup(journal), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char tag, id[LINE_ID_MAX];
        check(sscanf(line, "%c %255s", &tag, id) == 2);
        if (tag == 'P') {
            check(kin_shard_id_valid(id));
            struct kin_shard_state st;
            check(ops->shard_get(impl, id, &st) == 0);
            check(!st.pos[0] || kin_seqnum_valid(st.pos));
            check(st.done == 0 || st.done == 1);
            for (size_t i = 0; i < st.n_counts; i++)
                check(stream_id_valid(st.counts[i].id));
            free(st.counts);
        } else {
            check(strchr("NCBFD", tag) != NULL);
            if (tag == 'N')
                continue;
            check(stream_id_valid(id));
            uint8_t state[STREAM_STATE_MAX];
            uint64_t seq;
            size_t state_len = STREAM_STATE_MAX + 1;
            check(ops->session_get(impl, id, &seq, state, &state_len) == 0);
            check(state_len <= STREAM_STATE_MAX);
        }
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static char *dir, *path;
    if (!dir) {
        fuzz_quiet();
        dir = bc_asprintf("%s/state", fuzz_scratch_dir());
        path = bc_asprintf("%s/kinesis-%s.journal", dir, JOURNAL_STREAM);
    }
    fuzz_rm_tree(dir);
    check(mkdir(dir, 0700) == 0);
    fuzz_write_file(path, data, len);

    const struct kin_store_ops *ops;
    void *impl;
    open_store(dir, &ops, &impl);
    size_t first_len;
    char *first = read_all(path, &first_len);
    check_state(first, ops, impl);
    ops->close(impl);

    /* A second start changes nothing. */
    open_store(dir, &ops, &impl);
    size_t second_len;
    char *second = read_all(path, &second_len);
    check(first_len == second_len && memcmp(first, second, first_len) == 0);

    /* A commit on top of what was read survives a restart. */
    uint8_t state[FUZZ_STATE_MAX];
    size_t state_len = len < sizeof state ? len : sizeof state;
    if (state_len)
        memcpy(state, data, state_len);
    uint64_t token = 0;
    check(ops->lease(impl, FUZZ_SHARD, FUZZ_OWNER, FUZZ_TTL_MS, &token) == 0);
    struct kin_count counts[] = {{FUZZ_SESSION, len}};
    struct kin_commit c = {.shard = FUZZ_SHARD, .owner = FUZZ_OWNER, .token = token,
                           .id = FUZZ_SESSION, .seq = len + 1, .state = state,
                           .state_len = state_len, .pos = FUZZ_POS, .done = (int)(len & 1),
                           .counts = counts, .n_counts = 1};
    check(ops->commit(impl, &c) == 0);
    check(ops->add_bytes(impl, FUZZ_SESSION, len) == 0);
    uint64_t before_bytes;
    check(ops->bytes(impl, FUZZ_SESSION, &before_bytes) == 0);
    ops->close(impl);

    open_store(dir, &ops, &impl);
    struct kin_shard_state st;
    check(ops->shard_get(impl, FUZZ_SHARD, &st) == 0);
    check(strcmp(st.pos, FUZZ_POS) == 0 && st.done == (int)(len & 1));
    int found = 0;
    for (size_t i = 0; i < st.n_counts; i++)
        found |= strcmp(st.counts[i].id, FUZZ_SESSION) == 0 && st.counts[i].n == len;
    check(found);
    free(st.counts);
    uint8_t back[STREAM_STATE_MAX];
    uint64_t seq, bytes;
    size_t back_len;
    check(ops->session_get(impl, FUZZ_SESSION, &seq, back, &back_len) == 0);
    check(seq == len + 1 && back_len == state_len && memcmp(back, state, state_len) == 0);
    check(ops->bytes(impl, FUZZ_SESSION, &bytes) == 0 && bytes == before_bytes);
    ops->close(impl);

    free(first);
    free(second);
    return 0;
}

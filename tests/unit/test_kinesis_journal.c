/* The kinesis:// local journal (stream_kinesis_store_local.c) read back at
 * start-up: intact lines are replayed, lines cut short by a crash or
 * damaged on disk are skipped whole (never half-believed), and the journal
 * rewritten at open holds only what was believed. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "stream/stream_kinesis_internal.h"
#include "test.h"
#include "util/err.h"
#include "util/log.h"

#define SEQ "49680770142408496753413833928446023143907810928303800338"
#define SHARD "shardId-000000000001"
#define ID "abcd234567"

static char g_dir[] = "/tmp/bc-kinesis-journal-XXXXXX";

static void write_journal(const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/kinesis-t.journal", g_dir);
    FILE *f = fopen(path, "wb");
    ASSERT(f);
    ASSERT_EQ(fwrite(text, 1, strlen(text), f), strlen(text));
    ASSERT_EQ(fclose(f), 0);
}

static char *read_journal(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/kinesis-t.journal", g_dir);
    FILE *f = fopen(path, "rb");
    ASSERT(f);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void open_store(const struct kin_store_ops **ops, void **impl)
{
    ASSERT_OK(kin_store_local_open(g_dir, "t", ops, impl));
}

/* An intact journal, then each line damaged: the last intact value stays. */
static void test_damaged_lines(void)
{
    write_journal("P " SHARD " " SEQ " 1\n"
                  "N " SHARD " " ID " 3\n"
                  "C " ID " 3 0a0b\n"
                  "B " ID " 640\n"
                  "F " ID " 2\n"
                  /* damaged: a position that is no sequence number, done 2 */
                  "P " SHARD " 0x1f 2\n"
                  /* a shard id that would not survive as one */
                  "N bad/shard " ID " 9\n"
                  /* a count, a seq, a byte count, a fence that are no numbers */
                  "N " SHARD " " ID " -1\n"
                  "C " ID " x1 0c\n"
                  "B " ID " 1F\n"
                  "F " ID " 99999999999999999999999\n"
                  /* a state of odd length, of bad hex, longer than a state */
                  "C " ID " 4 abc\n"
                  "C " ID " 4 zz\n"
                  "C " ID " 4 -1\n"
                  /* a tag of two letters; too many fields */
                  "PX " SHARD " " SEQ " 0\n"
                  "B " ID " 7 8\n"
                  /* a line with a NUL in it; a dead letter without error */
                  "B " ID " 1\0\n"
                  "D " ID " 1\n"
                  /* cut short by a crash */
                  "B " ID " 999");
    const struct kin_store_ops *ops;
    void *impl;
    open_store(&ops, &impl);
    struct kin_shard_state st;
    ASSERT_OK(ops->shard_get(impl, SHARD, &st));
    ASSERT_STR_EQ(st.pos, SEQ);
    ASSERT_EQ(st.done, 1);
    ASSERT_EQ(st.n_counts, 1);
    ASSERT_STR_EQ(st.counts[0].id, ID);
    ASSERT_EQ(st.counts[0].n, 3);
    free(st.counts);
    ASSERT_OK(ops->shard_get(impl, "bad/shard", &st));
    ASSERT_EQ(st.n_counts, 0);
    free(st.counts);
    uint64_t seq, v;
    uint8_t state[STREAM_STATE_MAX];
    size_t state_len;
    ASSERT_OK(ops->session_get(impl, ID, &seq, state, &state_len));
    ASSERT_EQ(seq, 3);
    ASSERT_EQ(state_len, 2);
    ASSERT_EQ(state[0], 0x0a);
    ASSERT_EQ(state[1], 0x0b);
    ASSERT_OK(ops->bytes(impl, ID, &v));
    ASSERT_EQ(v, 640);
    ASSERT_EQ(ops->dead_count(impl, ID), 0);
    ops->close(impl);

    /* The rewritten journal holds what was believed, and reads back whole. */
    char *text = read_journal();
    ASSERT(!strstr(text, "0x1f") && !strstr(text, "bad/shard") && !strstr(text, " 999"));
    char before[4096];
    snprintf(before, sizeof before, "%s", text);
    open_store(&ops, &impl);
    ASSERT_STR_EQ(read_journal(), before);
    ASSERT_OK(ops->session_fence(impl, ID, &v));
    ASSERT_EQ(v, 3);
    ops->close(impl);
}

/* A state as long as a state may be is taken; one byte more is not. */
static void test_state_bounds(void)
{
    char line[2 * STREAM_STATE_MAX + 64];
    for (int extra = 0; extra <= 1; extra++) {
        int n = snprintf(line, sizeof line, "C " ID " 5 ");
        for (int i = 0; i < STREAM_STATE_MAX + extra; i++)
            n += snprintf(line + n, sizeof line - (size_t)n, "%02x", i & 0xff);
        snprintf(line + n, sizeof line - (size_t)n, "\n");
        write_journal(line);
        const struct kin_store_ops *ops;
        void *impl;
        open_store(&ops, &impl);
        uint64_t seq;
        uint8_t state[STREAM_STATE_MAX];
        size_t state_len;
        ASSERT_OK(ops->session_get(impl, ID, &seq, state, &state_len));
        ASSERT_EQ(seq, extra ? 0 : 5);
        ASSERT_EQ(state_len, extra ? 0 : STREAM_STATE_MAX);
        ops->close(impl);
    }
}

int main(void)
{
    bc_log_set_level(BC_LOG_QUIET);
    ASSERT(mkdtemp(g_dir));
    test_damaged_lines();
    test_state_bounds();
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ASSERT_EQ(system(cmd), 0);
    printf("kinesis_journal: all passed\n");
    return 0;
}

/* Ingestion stream: the same behaviour tests on mem:// and file://, then
 * durability tests on file:// (reopen, torn and damaged logs, a crashed
 * writer process, retention, compaction). Records carry 100 ms chunks of a
 * real recording (pocketsphinx-testdata goforward.raw, PCM16LE 16 kHz). */
/* nftw */
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stream/stream.h"
#include "test.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define CHUNK_BYTES 3200 /* 100 ms of 16 kHz PCM16 */
#define LOG_HEADER_BYTES 32
#define LOG_BASE_BYTES 8 /* the base record of a compacted log */
#define WAIT_STEP_US 10000
#define WAIT_MAX_STEPS 1000 /* 10 s: only a broken implementation waits this long */
#define THREADS 4
#define RECORDS_PER_THREAD 400

static uint8_t *g_audio;
static size_t g_chunks;
static char g_root[256];
static int g_dirs;

static const uint8_t *chunk(size_t i)
{
    return g_audio + (i % g_chunks) * CHUNK_BYTES;
}

static void load_audio(void)
{
    FILE *f = fopen(TEST_GOFORWARD_RAW, "rb");
    ASSERT(f != NULL);
    g_audio = malloc(1 << 20);
    size_t n = fread(g_audio, 1, 1 << 20, f);
    fclose(f);
    g_chunks = n / CHUNK_BYTES;
    ASSERT_GE(g_chunks, 20);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* A fresh backend: "mem://" or a new directory under g_root. */
static struct stream *open_fresh(const char *scheme, const struct stream_params *p, char *dir,
                                 size_t dir_size)
{
    char url[1024];
    if (strcmp(scheme, "mem") == 0) {
        snprintf(url, sizeof(url), "mem://");
    } else {
        snprintf(dir, dir_size, "%s/s%d", g_root, ++g_dirs);
        snprintf(url, sizeof(url), "file://%s", dir);
    }
    struct stream *s = NULL;
    ASSERT_OK(stream_open(url, p, &s));
    return s;
}

static struct stream *reopen(const char *dir, const struct stream_params *p)
{
    char url[1024];
    snprintf(url, sizeof(url), "file://%s", dir);
    struct stream *s = NULL;
    ASSERT_OK(stream_open(url, p, &s));
    return s;
}

static void expect_record(struct stream *s, const char *id, uint64_t after, uint64_t seq,
                          const uint8_t *data, size_t len)
{
    struct stream_record *r = NULL;
    ASSERT_OK(stream_read(s, id, after, &r));
    ASSERT_EQ(r->seq, seq);
    ASSERT_EQ(r->len, len);
    ASSERT_EQ(r->kind, STREAM_KIND_AUDIO);
    ASSERT(memcmp(r->data, data, len) == 0);
    free(r);
}

static void test_order(const char *scheme)
{
    char dir[512];
    struct stream *s = open_fresh(scheme, NULL, dir, sizeof(dir));
    const char *ids[] = {"alpha", "beta-2", "G_3"};
    int64_t t0 = bc_wall_ms();
    for (size_t i = 0; i < 10; i++)
        for (size_t k = 0; k < 3; k++) {
            uint64_t seq = 0;
            ASSERT_OK(stream_append(s, ids[k], STREAM_KIND_AUDIO, chunk(i + k), CHUNK_BYTES, &seq));
            ASSERT_EQ(seq, i + 1);
        }
    uint64_t seq = 0;
    ASSERT_OK(stream_append(s, "alpha", STREAM_KIND_END, NULL, 0, &seq));
    ASSERT_EQ(seq, 11);
    uint64_t audio = 1;
    ASSERT_OK(stream_audio_bytes(s, "alpha", &audio));
    ASSERT_EQ(audio, 10 * CHUNK_BYTES); /* the END record carries no audio */
    ASSERT_OK(stream_audio_bytes(s, "nobody", &audio));
    ASSERT_EQ(audio, 0);
    for (size_t k = 0; k < 3; k++) {
        for (uint64_t i = 0; i < 10; i++) {
            struct stream_record *r = NULL;
            ASSERT_OK(stream_read(s, ids[k], i, &r));
            ASSERT_EQ(r->seq, i + 1);
            ASSERT(memcmp(r->data, chunk(i + k), CHUNK_BYTES) == 0);
            ASSERT_GE(r->append_ms, t0);
            ASSERT_LE(r->append_ms, bc_wall_ms());
            free(r);
        }
    }
    struct stream_record *r = NULL;
    ASSERT_OK(stream_read(s, "alpha", 10, &r));
    ASSERT_EQ(r->kind, STREAM_KIND_END);
    ASSERT_EQ(r->len, 0);
    free(r);
    stream_close(s);
}

static void test_read_after(const char *scheme)
{
    char dir[512];
    struct stream *s = open_fresh(scheme, NULL, dir, sizeof(dir));
    struct stream_record *r = (void *)1;
    ASSERT_EQ(stream_read(s, "none", 0, &r), BC_EAGAIN);
    ASSERT(r == NULL);
    for (size_t i = 0; i < 5; i++)
        ASSERT_OK(stream_append(s, "x", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    expect_record(s, "x", 0, 1, chunk(0), CHUNK_BYTES);
    expect_record(s, "x", 3, 4, chunk(3), CHUNK_BYTES);
    expect_record(s, "x", 4, 5, chunk(4), CHUNK_BYTES);
    ASSERT_EQ(stream_read(s, "x", 5, &r), BC_EAGAIN);
    ASSERT_EQ(stream_read(s, "x", 1000, &r), BC_EAGAIN);
    stream_close(s);
}

static void test_checkpoint(const char *scheme)
{
    char dir[512];
    struct stream *s = open_fresh(scheme, NULL, dir, sizeof(dir));
    uint64_t seq = 99;
    uint8_t state[STREAM_STATE_MAX];
    size_t state_len = 99;
    ASSERT_OK(stream_checkpoint_get(s, "c", &seq, state, &state_len));
    ASSERT_EQ(seq, 0);
    ASSERT_EQ(state_len, 0);
    for (size_t i = 0; i < 5; i++)
        ASSERT_OK(stream_append(s, "c", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    ASSERT_OK(stream_checkpoint(s, "c", 3, "asr=7", 5));
    ASSERT_OK(stream_checkpoint_get(s, "c", &seq, state, &state_len));
    ASSERT_EQ(seq, 3);
    ASSERT_EQ(state_len, 5);
    ASSERT(memcmp(state, "asr=7", 5) == 0);
    /* Processed records are gone: the oldest readable one is 4. */
    expect_record(s, "c", 0, 4, chunk(3), CHUNK_BYTES);
    ASSERT_EQ(stream_checkpoint(s, "c", 2, NULL, 0), BC_EINVAL); /* backwards */
    ASSERT_EQ(stream_checkpoint(s, "c", 6, NULL, 0), BC_EINVAL); /* not appended yet */
    ASSERT_EQ(stream_checkpoint(s, "c", 4, state, STREAM_STATE_MAX + 1), BC_EINVAL);

    char ids[4][STREAM_SESSION_ID_MAX];
    ASSERT_EQ(stream_sessions_pending(s, ids, 4), 1);
    ASSERT_STR_EQ(ids[0], "c");
    ASSERT_OK(stream_checkpoint(s, "c", 5, NULL, 0));
    ASSERT_EQ(stream_sessions_pending(s, ids, 4), 0);
    ASSERT_OK(stream_checkpoint_get(s, "c", &seq, state, &state_len));
    ASSERT_EQ(seq, 5);
    ASSERT_EQ(state_len, 0);
    struct stream_record *r = NULL;
    ASSERT_EQ(stream_read(s, "c", 0, &r), BC_EAGAIN);
    stream_close(s);
}

static void test_backlog(const char *scheme)
{
    char dir[512];
    struct stream_params p;
    stream_default_params(&p);
    p.max_backlog_bytes = 4 * CHUNK_BYTES;
    struct stream *s = open_fresh(scheme, &p, dir, sizeof(dir));
    for (size_t i = 0; i < 4; i++)
        ASSERT_OK(stream_append(s, "b", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    uint64_t seq = 0;
    ASSERT_EQ(stream_append(s, "b", STREAM_KIND_AUDIO, chunk(4), CHUNK_BYTES, &seq), BC_EAGAIN);
    ASSERT_OK(stream_append(s, "other", STREAM_KIND_AUDIO, chunk(4), CHUNK_BYTES, NULL));
    ASSERT_OK(stream_checkpoint(s, "b", 2, NULL, 0));
    ASSERT_OK(stream_append(s, "b", STREAM_KIND_AUDIO, chunk(4), CHUNK_BYTES, &seq));
    ASSERT_EQ(seq, 5); /* the refused append did not use a number */
    ASSERT_OK(stream_append(s, "b", STREAM_KIND_AUDIO, chunk(5), CHUNK_BYTES, &seq));
    ASSERT_EQ(stream_append(s, "b", STREAM_KIND_AUDIO, chunk(6), CHUNK_BYTES, NULL), BC_EAGAIN);
    /* A record that could never fit is a caller error, not back-pressure. */
    uint8_t *big = calloc(5, CHUNK_BYTES);
    ASSERT_EQ(stream_append(s, "fresh", STREAM_KIND_AUDIO, big, 5 * CHUNK_BYTES, NULL), BC_EINVAL);
    free(big);
    expect_record(s, "b", 4, 5, chunk(4), CHUNK_BYTES);
    stream_close(s);
}

struct notify_log {
    struct stream *s;
    int calls;
    char last[STREAM_SESSION_ID_MAX];
    uint64_t readable_seq;
};

static void on_notify(void *user_data, const char *session_id)
{
    struct notify_log *n = user_data;
    n->calls++;
    snprintf(n->last, sizeof(n->last), "%s", session_id);
    /* Reading from the callback would deadlock if it ran under the lock. */
    struct stream_record *r = NULL;
    ASSERT_OK(stream_read(n->s, session_id, n->readable_seq, &r));
    n->readable_seq = r->seq;
    free(r);
}

static void test_notify(const char *scheme)
{
    char dir[512];
    struct stream_params p;
    stream_default_params(&p);
    p.max_backlog_bytes = 3 * CHUNK_BYTES;
    struct stream *s = open_fresh(scheme, &p, dir, sizeof(dir));
    struct notify_log n = {.s = s};
    stream_set_notify(s, on_notify, &n);
    for (size_t i = 0; i < 3; i++)
        ASSERT_OK(stream_append(s, "n1", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    ASSERT_EQ(n.calls, 3);
    ASSERT_STR_EQ(n.last, "n1");
    ASSERT_EQ(n.readable_seq, 3);
    ASSERT_EQ(stream_append(s, "n1", STREAM_KIND_AUDIO, chunk(3), CHUNK_BYTES, NULL), BC_EAGAIN);
    ASSERT_EQ(n.calls, 3); /* refused appends wake nobody */
    stream_close(s);
}

static void test_bad_input(const char *scheme)
{
    char dir[512];
    struct stream *s = open_fresh(scheme, NULL, dir, sizeof(dir));
    char long_id[STREAM_SESSION_ID_MAX + 1];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[STREAM_SESSION_ID_MAX] = '\0';
    const char *bad[] = {"", "a/b", "..", ".hidden", "a b", "é", "x\n", long_id};
    struct stream_record *r = NULL;
    uint64_t seq;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_EQ(stream_append(s, bad[i], STREAM_KIND_AUDIO, chunk(0), CHUNK_BYTES, NULL),
                  BC_EINVAL);
        ASSERT_EQ(stream_read(s, bad[i], 0, &r), BC_EINVAL);
        ASSERT_EQ(stream_checkpoint(s, bad[i], 0, NULL, 0), BC_EINVAL);
        ASSERT_EQ(stream_checkpoint_get(s, bad[i], &seq, NULL, NULL), BC_EINVAL);
        ASSERT_EQ(stream_record_failed(s, bad[i], 1, "x"), BC_EINVAL);
        ASSERT_EQ(stream_lease(s, bad[i], "w1", 1000, &seq), BC_EINVAL);
    }
    ASSERT_EQ(stream_append(s, NULL, STREAM_KIND_AUDIO, chunk(0), CHUNK_BYTES, NULL), BC_EINVAL);
    long_id[STREAM_SESSION_ID_MAX - 1] = '\0'; /* the longest valid id */
    ASSERT_OK(stream_append(s, long_id, STREAM_KIND_AUDIO, chunk(0), CHUNK_BYTES, NULL));
    ASSERT_EQ(stream_append(s, "ok", (enum stream_kind)7, chunk(0), CHUNK_BYTES, NULL), BC_EINVAL);
    ASSERT_EQ(stream_append(s, "ok", STREAM_KIND_AUDIO, NULL, 10, NULL), BC_EINVAL);
    ASSERT_EQ(stream_record_failed(s, "ok", 1, "never appended"), BC_EINVAL);
    stream_close(s);

    const char *urls[] = {
        "",       "mem:/",          "mem://x", "file://", "redis://",
        "/tmp/x", "kinesis://name", "MEM://"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        s = (void *)1;
        ASSERT_EQ(stream_open(urls[i], NULL, &s), BC_EINVAL);
        ASSERT(s == NULL);
    }
    ASSERT_EQ(stream_open(NULL, NULL, &s), BC_EINVAL);
}

static void test_retries(const char *scheme)
{
    char dir[512];
    struct stream *s = open_fresh(scheme, NULL, dir, sizeof(dir));
    for (size_t i = 0; i < 3; i++)
        ASSERT_OK(stream_append(s, "r", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    ASSERT_EQ(stream_record_failed(s, "r", 2, "asr \"crashed\""), 0);
    ASSERT_EQ(stream_record_failed(s, "r", 2, "asr \"crashed\""), 0);
    ASSERT_EQ(stream_dead_letters(s, "r"), 0);
    ASSERT_EQ(stream_record_failed(s, "r", 2, "asr \"crashed\""), 1);
    ASSERT_EQ(stream_dead_letters(s, "r"), 1);
    ASSERT_OK(stream_checkpoint(s, "r", 2, NULL, 0));
    ASSERT_EQ(stream_record_failed(s, "r", 2, "again"), BC_EINVAL); /* already processed */
    ASSERT_EQ(stream_record_failed(s, "r", 3, "once"), 0);
    uint64_t token = 0;
    ASSERT_OK(stream_lease(s, "r", "worker-1", 5000, &token));
    ASSERT_EQ(token, 1);
    stream_close(s);
    if (strcmp(scheme, "file") == 0) {
        char path[1024], line[256] = {0};
        snprintf(path, sizeof(path), "%s/r/dead", dir);
        FILE *f = fopen(path, "r");
        ASSERT(f != NULL);
        ASSERT(fgets(line, sizeof(line), f) != NULL);
        fclose(f);
        ASSERT_STR_CONTAINS(line, "{\"seq\":2,\"error\":\"asr \\\"crashed\\\"\",\"append_ms\":");
        s = reopen(dir, NULL);
        ASSERT_EQ(stream_dead_letters(s, "r"), 1);
        stream_close(s);
    }
}

struct producer {
    struct stream *s;
    int index;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    char id[16];
    snprintf(id, sizeof(id), "w%d", p->index);
    uint8_t buf[CHUNK_BYTES];
    for (uint32_t i = 0; i < RECORDS_PER_THREAD; i++) {
        memcpy(buf, chunk(i), CHUNK_BYTES);
        memcpy(buf, &i, sizeof(i)); /* tag: which record this is */
        int rc;
        while ((rc = stream_append(p->s, id, STREAM_KIND_AUDIO, buf, CHUNK_BYTES, NULL)) ==
               BC_EAGAIN)
            bc_sleep_us(1000);
        ASSERT_OK(rc);
    }
    return NULL;
}

static void *consume(void *arg)
{
    struct stream *s = arg;
    uint64_t done[THREADS] = {0};
    size_t total = 0, idle = 0;
    while (total < THREADS * RECORDS_PER_THREAD) {
        int progressed = 0;
        for (int k = 0; k < THREADS; k++) {
            char id[16];
            snprintf(id, sizeof(id), "w%d", k);
            struct stream_record *r = NULL;
            if (stream_read(s, id, done[k], &r) != 0)
                continue;
            uint32_t tag;
            memcpy(&tag, r->data, sizeof(tag));
            ASSERT_EQ(r->seq, done[k] + 1);
            ASSERT_EQ(tag, done[k]);
            ASSERT(memcmp(r->data + sizeof(tag), chunk(tag) + sizeof(tag),
                          CHUNK_BYTES - sizeof(tag)) == 0);
            done[k] = r->seq;
            free(r);
            ASSERT_OK(stream_checkpoint(s, id, done[k], &done[k], sizeof(done[k])));
            total++;
            progressed = 1;
        }
        idle = progressed ? 0 : idle + 1;
        ASSERT_LT(idle, WAIT_MAX_STEPS * 10);
        if (!progressed)
            bc_sleep_us(WAIT_STEP_US / 10);
    }
    return NULL;
}

static void test_concurrent(const char *scheme)
{
    char dir[512];
    struct stream_params p;
    stream_default_params(&p);
    p.max_backlog_bytes = 16 * CHUNK_BYTES; /* producers do hit back-pressure */
    p.fsync_interval_ms = 20;
    struct stream *s = open_fresh(scheme, &p, dir, sizeof(dir));
    pthread_t threads[THREADS], reader;
    struct producer prod[THREADS];
    ASSERT_OK(pthread_create(&reader, NULL, consume, s));
    for (int k = 0; k < THREADS; k++) {
        prod[k] = (struct producer){.s = s, .index = k};
        ASSERT_OK(pthread_create(&threads[k], NULL, produce, &prod[k]));
    }
    for (int k = 0; k < THREADS; k++)
        pthread_join(threads[k], NULL);
    pthread_join(reader, NULL);
    char ids[8][STREAM_SESSION_ID_MAX];
    ASSERT_EQ(stream_sessions_pending(s, ids, 8), 0);
    for (int k = 0; k < THREADS; k++) {
        char id[16];
        snprintf(id, sizeof(id), "w%d", k);
        uint64_t seq = 0, state = 0;
        size_t len = 0;
        ASSERT_OK(stream_checkpoint_get(s, id, &seq, &state, &len));
        ASSERT_EQ(seq, RECORDS_PER_THREAD);
        ASSERT_EQ(state, RECORDS_PER_THREAD);
    }
    stream_close(s);
}

/* ---- file:// only ---- */

static off_t file_size(const char *path)
{
    struct stat st;
    ASSERT_OK(stat(path, &st));
    return st.st_size;
}

static void test_reopen(void)
{
    char dir[512];
    struct stream *s = open_fresh("file", NULL, dir, sizeof(dir));
    for (size_t i = 0; i < 6; i++)
        ASSERT_OK(stream_append(s, "s1", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    for (size_t i = 0; i < 3; i++)
        ASSERT_OK(stream_append(s, "s2", STREAM_KIND_AUDIO, chunk(10 + i), CHUNK_BYTES, NULL));
    ASSERT_OK(stream_append(s, "s3", STREAM_KIND_AUDIO, chunk(0), CHUNK_BYTES, NULL));
    ASSERT_OK(stream_checkpoint(s, "s1", 2, "utt=1", 5));
    ASSERT_OK(stream_checkpoint(s, "s3", 1, NULL, 0));
    stream_close(s);

    s = reopen(dir, NULL);
    char ids[8][STREAM_SESSION_ID_MAX];
    size_t n = stream_sessions_pending(s, ids, 8);
    ASSERT_EQ(n, 2);
    ASSERT(strcmp(ids[0], "s3") != 0 && strcmp(ids[1], "s3") != 0);
    for (uint64_t seq = 3; seq <= 6; seq++)
        expect_record(s, "s1", seq - 1, seq, chunk(seq - 1), CHUNK_BYTES);
    expect_record(s, "s1", 0, 3, chunk(2), CHUNK_BYTES); /* 1 and 2 stay processed */
    for (uint64_t seq = 1; seq <= 3; seq++)
        expect_record(s, "s2", seq - 1, seq, chunk(9 + seq), CHUNK_BYTES);
    uint64_t seq = 0;
    uint8_t state[STREAM_STATE_MAX];
    size_t len = 0;
    ASSERT_OK(stream_checkpoint_get(s, "s1", &seq, state, &len));
    ASSERT_EQ(seq, 2);
    ASSERT_EQ(len, 5);
    ASSERT(memcmp(state, "utt=1", 5) == 0);
    ASSERT_OK(stream_append(s, "s1", STREAM_KIND_AUDIO, chunk(7), CHUNK_BYTES, &seq));
    ASSERT_EQ(seq, 7);
    ASSERT_OK(stream_append(s, "s3", STREAM_KIND_AUDIO, chunk(7), CHUNK_BYTES, &seq));
    ASSERT_EQ(seq, 2);
    stream_close(s);

    /* The directory belongs to one process at a time. */
    s = reopen(dir, NULL);
    char url[1024];
    snprintf(url, sizeof(url), "file://%s", dir);
    struct stream *second = NULL;
    ASSERT_EQ(stream_open(url, NULL, &second), BC_EIO);
    stream_close(s);
}

static void append_three(const char *dir_out_id, struct stream *s)
{
    for (size_t i = 0; i < 3; i++)
        ASSERT_OK(stream_append(s, dir_out_id, STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
}

static void test_torn_tail(void)
{
    char dir[512], log[1024];
    struct stream *s = open_fresh("file", NULL, dir, sizeof(dir));
    append_three("t", s);
    stream_close(s);
    snprintf(log, sizeof(log), "%s/t/log", dir);
    const off_t rec = LOG_HEADER_BYTES + CHUNK_BYTES;
    ASSERT_EQ(file_size(log), 3 * rec);
    ASSERT_OK(truncate(log, 3 * rec - 5));

    s = reopen(dir, NULL);
    ASSERT_EQ(file_size(log), 2 * rec);
    expect_record(s, "t", 0, 1, chunk(0), CHUNK_BYTES);
    expect_record(s, "t", 1, 2, chunk(1), CHUNK_BYTES);
    struct stream_record *r = NULL;
    ASSERT_EQ(stream_read(s, "t", 2, &r), BC_EAGAIN);
    uint64_t seq = 0;
    ASSERT_OK(stream_append(s, "t", STREAM_KIND_AUDIO, chunk(5), CHUNK_BYTES, &seq));
    ASSERT_EQ(seq, 3);
    stream_close(s);
    s = reopen(dir, NULL);
    expect_record(s, "t", 2, 3, chunk(5), CHUNK_BYTES);
    stream_close(s);
}

static void flip_byte(const char *log, off_t at)
{
    int fd = open(log, O_RDWR);
    ASSERT(fd >= 0);
    uint8_t b;
    ASSERT_EQ(pread(fd, &b, 1, at), 1);
    b ^= 0x10;
    ASSERT_EQ(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

static void expect_placeholder(struct stream *s, const char *id, uint64_t seq)
{
    struct stream_record *r = NULL;
    ASSERT_OK(stream_read(s, id, seq - 1, &r));
    ASSERT_EQ(r->seq, seq);
    ASSERT_EQ(r->len, 0);
    free(r);
}

/* One flipped byte in a record's audio: that record is set aside as a dead
 * letter and the ones after it are kept, now and after another reopen. */
static void test_corrupt_middle(void)
{
    char dir[512], log[1024];
    struct stream *s = open_fresh("file", NULL, dir, sizeof(dir));
    append_three("m", s);
    stream_close(s);
    snprintf(log, sizeof(log), "%s/m/log", dir);
    const off_t rec = LOG_HEADER_BYTES + CHUNK_BYTES;
    flip_byte(log, rec + LOG_HEADER_BYTES + 100);

    for (int round = 0; round < 2; round++) {
        s = reopen(dir, NULL);
        ASSERT_EQ(stream_dead_letters(s, "m"), 1);
        expect_record(s, "m", 0, 1, chunk(0), CHUNK_BYTES);
        expect_placeholder(s, "m", 2);
        expect_record(s, "m", 2, 3, chunk(2), CHUNK_BYTES);
        struct stream_record *r = NULL;
        ASSERT_EQ(stream_read(s, "m", 3, &r), BC_EAGAIN);
        stream_close(s);
    }
    s = reopen(dir, NULL);
    uint64_t seq = 0;
    ASSERT_OK(stream_append(s, "m", STREAM_KIND_AUDIO, chunk(9), CHUNK_BYTES, &seq));
    ASSERT_EQ(seq, 4);
    stream_close(s);
    s = reopen(dir, NULL);
    expect_record(s, "m", 3, 4, chunk(9), CHUNK_BYTES);
    ASSERT_EQ(stream_dead_letters(s, "m"), 1);
    stream_close(s);
}

/* 72 records, some processed, one flipped byte in the length field of one
 * in the middle: its length no longer fits, yet every later one is kept. */
static void test_corrupt_header(void)
{
    enum { N = 72, BAD = 40, DONE = 10 };
    char dir[512], log[1024];
    struct stream *s = open_fresh("file", NULL, dir, sizeof(dir));
    for (size_t i = 0; i < N; i++)
        ASSERT_OK(stream_append(s, "h", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    ASSERT_OK(stream_checkpoint(s, "h", DONE, NULL, 0));
    stream_close(s);
    snprintf(log, sizeof(log), "%s/h/log", dir);
    const off_t rec = LOG_HEADER_BYTES + CHUNK_BYTES;
    flip_byte(log, (BAD - 1) * rec + 24 + 1); /* the length's second byte */

    s = reopen(dir, NULL);
    ASSERT_EQ(stream_dead_letters(s, "h"), 1);
    for (uint64_t seq = DONE + 1; seq <= N; seq++) {
        if (seq == BAD)
            expect_placeholder(s, "h", seq);
        else
            expect_record(s, "h", seq - 1, seq, chunk(seq - 1), CHUNK_BYTES);
    }
    uint64_t seq = 0;
    ASSERT_OK(stream_append(s, "h", STREAM_KIND_AUDIO, chunk(0), CHUNK_BYTES, &seq));
    ASSERT_EQ(seq, N + 1);
    stream_close(s);
}

static void test_crash(void)
{
    enum { N = 60 };
    char dir[512], url[1024];
    snprintf(dir, sizeof(dir), "%s/s%d", g_root, ++g_dirs);
    snprintf(url, sizeof(url), "file://%s", dir);
    fflush(stdout); /* the child must not repeat buffered output */
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        struct stream *s = NULL;
        if (stream_open(url, NULL, &s) != 0)
            _exit(2);
        for (size_t i = 0; i < N; i++)
            if (stream_append(s, i % 2 ? "odd" : "even", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES,
                              NULL) != 0)
                _exit(3);
        _exit(0); /* no stream_close: nothing flushed or fsynced by us */
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);

    struct stream *s = reopen(dir, NULL);
    char ids[4][STREAM_SESSION_ID_MAX];
    ASSERT_EQ(stream_sessions_pending(s, ids, 4), 2);
    for (size_t i = 0; i < N; i++)
        expect_record(s, i % 2 ? "odd" : "even", i / 2, i / 2 + 1, chunk(i), CHUNK_BYTES);
    stream_close(s);
}

static int dir_exists(const char *dir, const char *id)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, id);
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_retention(void)
{
    char dir[512];
    struct stream_params p;
    stream_default_params(&p);
    p.retention_ms = 50;
    p.fsync_interval_ms = 10;
    struct stream *s = open_fresh("file", &p, dir, sizeof(dir));
    append_three("done", s);
    append_three("live", s);
    append_three("unread", s);
    ASSERT_OK(stream_checkpoint(s, "done", 3, NULL, 0));
    ASSERT_OK(stream_checkpoint(s, "live", 3, NULL, 0));
    stream_session_ended(s, "done");
    stream_session_ended(s, "unread");
    int steps = 0;
    while (dir_exists(dir, "done") && steps++ < WAIT_MAX_STEPS)
        bc_sleep_us(WAIT_STEP_US);
    ASSERT(!dir_exists(dir, "done"));
    bc_sleep_us(10 * p.retention_ms * 1000); /* several more sweeps */
    ASSERT(dir_exists(dir, "live"));
    ASSERT(dir_exists(dir, "unread"));
    uint64_t seq = 1;
    ASSERT_OK(stream_checkpoint_get(s, "done", &seq, NULL, NULL));
    ASSERT_EQ(seq, 0); /* forgotten */
    expect_record(s, "unread", 0, 1, chunk(0), CHUNK_BYTES);
    stream_close(s);

    s = reopen(dir, &p);
    char ids[4][STREAM_SESSION_ID_MAX];
    ASSERT_EQ(stream_sessions_pending(s, ids, 4), 1);
    ASSERT_STR_EQ(ids[0], "unread");
    ASSERT_OK(stream_checkpoint(s, "unread", 3, NULL, 0));
    steps = 0;
    while (dir_exists(dir, "unread") && steps++ < WAIT_MAX_STEPS)
        bc_sleep_us(WAIT_STEP_US);
    ASSERT(!dir_exists(dir, "unread")); /* the ended marker survived the restart */
    ASSERT(dir_exists(dir, "live"));
    stream_close(s);
}

/* A long live session keeps only its unprocessed tail on disk. */
static void test_compaction(void)
{
    enum { N = 2800, KEEP = 5 }; /* about 9 MB of audio */
    char dir[512], log[1024];
    struct stream_params p;
    stream_default_params(&p);
    p.fsync_interval_ms = 10;
    struct stream *s = open_fresh("file", &p, dir, sizeof(dir));
    for (size_t i = 0; i < N; i++)
        ASSERT_OK(stream_append(s, "long", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    ASSERT_OK(stream_checkpoint(s, "long", N - KEEP, "k", 1));
    snprintf(log, sizeof(log), "%s/long/log", dir);
    const off_t rec = LOG_HEADER_BYTES + CHUNK_BYTES;
    const off_t base = LOG_HEADER_BYTES + LOG_BASE_BYTES; /* the dropped records' audio */
    int steps = 0;
    while (file_size(log) != base + KEEP * rec && steps++ < WAIT_MAX_STEPS)
        bc_sleep_us(WAIT_STEP_US);
    ASSERT_EQ(file_size(log), base + KEEP * rec);
    uint64_t seq = 0;
    ASSERT_OK(stream_append(s, "long", STREAM_KIND_AUDIO, chunk(N), CHUNK_BYTES, &seq));
    ASSERT_EQ(seq, N + 1);
    stream_close(s);

    s = reopen(dir, &p);
    uint64_t audio = 0;
    ASSERT_OK(stream_audio_bytes(s, "long", &audio));
    ASSERT_EQ(audio, (uint64_t)(N + 1) * CHUNK_BYTES); /* compacted away or not, all counted */
    for (uint64_t i = N - KEEP + 1; i <= N + 1; i++)
        expect_record(s, "long", i - 1, i, chunk(i - 1), CHUNK_BYTES);
    ASSERT_OK(stream_checkpoint(s, "long", N + 1, NULL, 0));
    stream_close(s);
    s = reopen(dir, &p); /* fully processed: numbering continues from the checkpoint */
    ASSERT_OK(stream_append(s, "long", STREAM_KIND_AUDIO, chunk(0), CHUNK_BYTES, &seq));
    ASSERT_EQ(seq, N + 2);
    stream_close(s);
}

static size_t open_fds(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* Ended, processed sessions keep their files but no descriptor, and a late
 * record still lands in the log. */
static void test_ended_sessions_release_fds(void)
{
    enum { SESSIONS = 64 };
    char dir[512], id[32];
    struct stream_params p;
    stream_default_params(&p);
    p.fsync_interval_ms = 10;
    struct stream *s = open_fresh("file", &p, dir, sizeof(dir));
    size_t before = open_fds();
    for (int i = 0; i < SESSIONS; i++) {
        uint64_t seq;
        snprintf(id, sizeof id, "done-%d", i);
        ASSERT_OK(stream_append(s, id, STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, &seq));
        ASSERT_OK(stream_checkpoint(s, id, seq, NULL, 0));
        stream_session_ended(s, id);
    }
    int steps = 0;
    while (open_fds() > before + SESSIONS / 2 && steps++ < WAIT_MAX_STEPS)
        bc_sleep_us(WAIT_STEP_US);
    ASSERT_LT(open_fds(), before + SESSIONS / 2);
    uint64_t seq = 0;
    ASSERT_OK(stream_append(s, "done-0", STREAM_KIND_AUDIO, chunk(1), CHUNK_BYTES, &seq));
    ASSERT_EQ(seq, 2);
    stream_close(s);
    s = reopen(dir, &p);
    expect_record(s, "done-0", 1, 2, chunk(1), CHUNK_BYTES);
    stream_close(s);
}

static void run_common(const char *scheme)
{
    test_order(scheme);
    test_read_after(scheme);
    test_checkpoint(scheme);
    test_backlog(scheme);
    test_notify(scheme);
    test_bad_input(scheme);
    test_retries(scheme);
    test_concurrent(scheme);
    printf("stream %s://: common tests passed\n", scheme);
}

int main(void)
{
    bc_log_set_level(BC_LOG_WARN); /* keep the expected warnings, drop recovery chatter */
    load_audio();
    snprintf(g_root, sizeof(g_root), "%s/test_stream_XXXXXX", TEST_BUILD_DIR);
    ASSERT(mkdtemp(g_root) != NULL);

    run_common("mem");
    run_common("file");
    test_reopen();
    test_torn_tail();
    test_corrupt_middle();
    test_corrupt_header();
    test_crash();
    test_retention();
    test_compaction();
    test_ended_sessions_release_fds();
    printf("stream file://: durability tests passed\n");

    nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(g_audio);
    return 0;
}

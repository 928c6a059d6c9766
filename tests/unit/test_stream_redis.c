/* The redis:// ingestion stream against a real redis-server: several
 * handles stand for gateways and workers in different processes. Records
 * carry 100 ms chunks of a real recording (pocketsphinx-testdata
 * goforward.raw, PCM16LE 16 kHz). The last test kills the server (kill -9)
 * and restarts it from its append-only file. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "redis_fixture.h"
#include "stream/stream.h"
#include "test.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define CHUNK_BYTES 3200 /* 100 ms of 16 kHz PCM16 */
#define WAIT_STEP_US 20000
#define WAIT_MAX_US (15 * 1000 * 1000) /* only a broken implementation waits this long */
#define GATEWAYS 2
#define THREADS_PER_GATEWAY 2
#define RECORDS_PER_THREAD 150
#define TAG_BYTES 8 /* [gateway u8][thread u8][0][0][index u32 LE] */
#define EIO_BOUND_US (3 * 1000 * 1000)
#define SHORT_TTL_MS 300
#define LONG_TTL_MS 60000
#define NOTIFY_IDS_MAX 256

static struct redis_fixture g_fx;
static uint8_t *g_audio;
static size_t g_chunks;

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

static struct stream *open_redis(const struct stream_params *p)
{
    struct stream *s = NULL;
    ASSERT_OK(stream_open(g_fx.url, p, &s));
    return s;
}

/* A direct connection to look at the keys the backend wrote. */
static redisReply *raw(const char *fmt, const char *arg)
{
    redisContext *c = redisConnect("127.0.0.1", g_fx.port);
    ASSERT(c && !c->err);
    redisReply *r = redisCommand(c, fmt, arg);
    ASSERT(r != NULL);
    redisFree(c);
    return r;
}

static long long raw_int(const char *fmt, const char *arg)
{
    redisReply *r = raw(fmt, arg);
    ASSERT_EQ(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static int pending_has(struct stream *s, const char *id)
{
    char ids[NOTIFY_IDS_MAX][STREAM_SESSION_ID_MAX];
    size_t n = stream_sessions_pending(s, ids, NOTIFY_IDS_MAX);
    for (size_t i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return 1;
    return 0;
}

/* ---- two gateways appending to one session ---- */

struct appender {
    struct stream *s;
    int gateway, thread;
    uint64_t seqs[RECORDS_PER_THREAD];
};

static void make_payload(uint8_t *buf, int gateway, int thread, uint32_t i)
{
    memcpy(buf, chunk(i + (size_t)gateway * 7 + (size_t)thread * 3), CHUNK_BYTES);
    buf[0] = (uint8_t)gateway;
    buf[1] = (uint8_t)thread;
    buf[2] = 0; /* NUL bytes inside the data must survive */
    buf[3] = 0;
    memcpy(buf + 4, &i, sizeof i);
}

static void *append_main(void *arg)
{
    struct appender *a = arg;
    uint8_t buf[CHUNK_BYTES];
    for (uint32_t i = 0; i < RECORDS_PER_THREAD; i++) {
        make_payload(buf, a->gateway, a->thread, i);
        ASSERT_OK(stream_append(a->s, "order", STREAM_KIND_AUDIO, buf, sizeof buf, &a->seqs[i]));
    }
    return NULL;
}

static void test_two_gateways_order(void)
{
    struct stream *gw[GATEWAYS];
    for (int g = 0; g < GATEWAYS; g++)
        gw[g] = open_redis(NULL);
    int64_t t0 = bc_wall_ms();
    struct appender a[GATEWAYS * THREADS_PER_GATEWAY];
    pthread_t th[GATEWAYS * THREADS_PER_GATEWAY];
    for (int k = 0; k < GATEWAYS * THREADS_PER_GATEWAY; k++) {
        a[k] = (struct appender){.s = gw[k / THREADS_PER_GATEWAY],
                                 .gateway = k / THREADS_PER_GATEWAY,
                                 .thread = k % THREADS_PER_GATEWAY};
        ASSERT_OK(pthread_create(&th[k], NULL, append_main, &a[k]));
    }
    for (int k = 0; k < GATEWAYS * THREADS_PER_GATEWAY; k++)
        pthread_join(th[k], NULL);
    const uint64_t total = (uint64_t)GATEWAYS * THREADS_PER_GATEWAY * RECORDS_PER_THREAD;

    /* A worker reads 1..total without gaps; each appender's records come
     * in its own order, with the seq it was told, and the data intact. */
    struct stream *worker = open_redis(NULL);
    uint32_t next[GATEWAYS][THREADS_PER_GATEWAY] = {{0}};
    uint8_t want[CHUNK_BYTES];
    int64_t prev_ms = 0;
    for (uint64_t seq = 1; seq <= total; seq++) {
        struct stream_record *r = NULL;
        ASSERT_OK(stream_read(worker, "order", seq - 1, &r));
        ASSERT_EQ(r->seq, seq);
        ASSERT_EQ(r->kind, STREAM_KIND_AUDIO);
        ASSERT_EQ(r->len, CHUNK_BYTES);
        ASSERT_GE(r->append_ms, t0);
        ASSERT_LE(r->append_ms, bc_wall_ms());
        ASSERT_GE(r->append_ms, prev_ms);
        prev_ms = r->append_ms;
        int g = r->data[0], t = r->data[1];
        ASSERT_LT(g, GATEWAYS);
        ASSERT_LT(t, THREADS_PER_GATEWAY);
        uint32_t i;
        memcpy(&i, r->data + 4, sizeof i);
        ASSERT_EQ(i, next[g][t]);
        next[g][t]++;
        ASSERT_EQ(a[g * THREADS_PER_GATEWAY + t].seqs[i], seq);
        make_payload(want, g, t, i);
        ASSERT(memcmp(r->data, want, CHUNK_BYTES) == 0);
        free(r);
    }
    struct stream_record *r = (void *)1;
    ASSERT_EQ(stream_read(worker, "order", total, &r), BC_EAGAIN);
    ASSERT(r == NULL);

    uint64_t audio = 0;
    ASSERT_OK(stream_audio_bytes(worker, "order", &audio));
    ASSERT_EQ(audio, total * CHUNK_BYTES);

    /* An empty record and one made of NUL bytes. */
    uint64_t seq;
    ASSERT_OK(stream_append(gw[1], "order", STREAM_KIND_END, NULL, 0, &seq));
    ASSERT_EQ(seq, total + 1);
    static const uint8_t zeros[64];
    ASSERT_OK(stream_append(gw[0], "order", STREAM_KIND_SESSION_END, zeros, sizeof zeros, &seq));
    ASSERT_EQ(seq, total + 2);
    ASSERT_OK(stream_read(worker, "order", total, &r));
    ASSERT_EQ(r->kind, STREAM_KIND_END);
    ASSERT_EQ(r->len, 0);
    free(r);
    ASSERT_OK(stream_read(worker, "order", total + 1, &r));
    ASSERT_EQ(r->kind, STREAM_KIND_SESSION_END);
    ASSERT_EQ(r->len, sizeof zeros);
    ASSERT(memcmp(r->data, zeros, sizeof zeros) == 0);
    free(r);
    ASSERT_OK(stream_audio_bytes(worker, "order", &audio));
    ASSERT_EQ(audio, total * CHUNK_BYTES); /* only audio records count */
    for (int g = 0; g < GATEWAYS; g++)
        stream_close(gw[g]);
    stream_close(worker);
}

static void test_read_after_and_checkpoint(void)
{
    struct stream *gw = open_redis(NULL), *w1 = open_redis(NULL), *w2 = open_redis(NULL);
    struct stream_record *r = (void *)1;
    ASSERT_EQ(stream_read(w1, "none", 0, &r), BC_EAGAIN);
    for (size_t i = 0; i < 6; i++)
        ASSERT_OK(stream_append(gw, "ck", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    ASSERT_OK(stream_read(w1, "ck", 3, &r));
    ASSERT_EQ(r->seq, 4);
    ASSERT(memcmp(r->data, chunk(3), CHUNK_BYTES) == 0);
    free(r);
    ASSERT_EQ(stream_read(w1, "ck", 6, &r), BC_EAGAIN);
    ASSERT_EQ(stream_read(w1, "ck", UINT64_MAX, &r), BC_EAGAIN);

    uint64_t seq = 99;
    uint8_t state[STREAM_STATE_MAX];
    size_t state_len = 99;
    ASSERT_OK(stream_checkpoint_get(w2, "ck", &seq, state, &state_len));
    ASSERT_EQ(seq, 0);
    ASSERT_EQ(state_len, 0);
    const uint8_t mine[] = {'p', 0, 's', 0, 0, 7};
    ASSERT_OK(stream_checkpoint(w1, "ck", 4, mine, sizeof mine));
    ASSERT_OK(stream_checkpoint_get(w2, "ck", &seq, state, &state_len));
    ASSERT_EQ(seq, 4);
    ASSERT_EQ(state_len, sizeof mine);
    ASSERT(memcmp(state, mine, sizeof mine) == 0);
    ASSERT_EQ(stream_checkpoint(w2, "ck", 3, mine, 1), BC_EINVAL); /* behind */
    ASSERT_EQ(stream_checkpoint(w2, "ck", 7, mine, 1), BC_EINVAL); /* beyond the last */
    ASSERT_OK(stream_checkpoint(w2, "ck", 6, NULL, 0));
    ASSERT_OK(stream_checkpoint_get(w1, "ck", &seq, state, &state_len));
    ASSERT_EQ(seq, 6);
    ASSERT_EQ(state_len, 0);
    /* Records stay readable after their checkpoint (within the retention). */
    ASSERT_OK(stream_read(w2, "ck", 0, &r));
    ASSERT_EQ(r->seq, 1);
    free(r);
    stream_close(gw);
    stream_close(w1);
    stream_close(w2);
}

/* ---- leases ---- */

static void test_lease_exclusive(void)
{
    struct stream *a = open_redis(NULL), *b = open_redis(NULL);
    uint64_t ta = 0, tb = 0, t;
    ASSERT_OK(stream_lease(a, "ls", "worker-a", LONG_TTL_MS, &ta));
    ASSERT_GT(ta, 0);
    ASSERT_EQ(stream_lease(b, "ls", "worker-b", LONG_TTL_MS, &tb), BC_ESTATE);
    ASSERT_OK(stream_lease(a, "ls", "worker-a", LONG_TTL_MS, &t)); /* renew */
    ASSERT_EQ(t, ta);
    ASSERT_OK(stream_lease_release(b, "ls", "worker-b")); /* not b's: nothing changes */
    ASSERT_EQ(stream_lease(b, "ls", "worker-b", LONG_TTL_MS, &tb), BC_ESTATE);
    ASSERT_OK(stream_lease_release(a, "ls", "worker-a"));
    ASSERT_OK(stream_lease(b, "ls", "worker-b", LONG_TTL_MS, &tb)); /* at once */
    ASSERT_GT(tb, ta);
    ASSERT_EQ(stream_lease(a, "ls", "worker-a", LONG_TTL_MS, &t), BC_ESTATE);
    ASSERT_EQ(stream_lease_release(a, "ls", ""), BC_EINVAL);
    stream_close(a);
    stream_close(b);

    /* The embedded backends keep granting everyone. */
    struct stream *m = NULL;
    ASSERT_OK(stream_open("mem://", NULL, &m));
    ASSERT_OK(stream_lease(m, "ls", "x", 1, &t));
    ASSERT_EQ(t, 1);
    ASSERT_OK(stream_lease_release(m, "ls", "x"));
    stream_close(m);
}

static void test_fencing(void)
{
    struct stream *gw = open_redis(NULL), *a = open_redis(NULL), *b = open_redis(NULL);
    struct stream *single = open_redis(NULL);
    for (size_t i = 0; i < 5; i++)
        ASSERT_OK(stream_append(gw, "fence", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    /* Without any lease a lone process may checkpoint. */
    ASSERT_OK(stream_checkpoint(single, "fence", 1, "s", 1));

    uint64_t ta, tb;
    ASSERT_OK(stream_lease(a, "fence", "worker-a", SHORT_TTL_MS, &ta));
    ASSERT_OK(stream_checkpoint(a, "fence", 2, "a", 1));
    ASSERT_EQ(stream_checkpoint(single, "fence", 3, "s", 1), BC_ESTATE);
    /* a stops renewing; b takes over once the lease has expired. */
    int64_t deadline = bc_now_us() + WAIT_MAX_US;
    int rc;
    while ((rc = stream_lease(b, "fence", "worker-b", LONG_TTL_MS, &tb)) == BC_ESTATE &&
           bc_now_us() < deadline)
        bc_sleep_us(WAIT_STEP_US);
    ASSERT_OK(rc);
    ASSERT_GT(tb, ta);
    ASSERT_OK(stream_checkpoint(b, "fence", 3, "b", 1));
    /* a wakes up and tries to record its progress: refused, nothing changed. */
    ASSERT_EQ(stream_checkpoint(a, "fence", 4, "a", 1), BC_ESTATE);
    ASSERT_EQ(stream_checkpoint(single, "fence", 4, "s", 1), BC_ESTATE);
    uint64_t seq;
    char state[STREAM_STATE_MAX];
    size_t len;
    ASSERT_OK(stream_checkpoint_get(a, "fence", &seq, state, &len));
    ASSERT_EQ(seq, 3);
    ASSERT_EQ(len, 1);
    ASSERT_EQ(state[0], 'b');
    /* Renewing by a does not get it back either. */
    ASSERT_EQ(stream_lease(a, "fence", "worker-a", LONG_TTL_MS, &ta), BC_ESTATE);
    ASSERT_EQ(stream_checkpoint(a, "fence", 4, "a", 1), BC_ESTATE);
    ASSERT_OK(stream_checkpoint(b, "fence", 5, "b", 1));
    stream_close(gw);
    stream_close(a);
    stream_close(b);
    stream_close(single);
}

/* ---- notifications ---- */

struct seen {
    pthread_mutex_t mu;
    char ids[NOTIFY_IDS_MAX][STREAM_SESSION_ID_MAX];
    size_t n;
};

static void on_append(void *user, const char *id)
{
    struct seen *s = user;
    pthread_mutex_lock(&s->mu);
    if (s->n < NOTIFY_IDS_MAX)
        snprintf(s->ids[s->n++], STREAM_SESSION_ID_MAX, "%s", id);
    pthread_mutex_unlock(&s->mu);
}

static size_t seen_count(struct seen *s, const char *id)
{
    size_t k = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        k += strcmp(s->ids[i], id) == 0;
    pthread_mutex_unlock(&s->mu);
    return k;
}

static void wait_seen_at_least(struct seen *s, const char *id, size_t count)
{
    int64_t deadline = bc_now_us() + WAIT_MAX_US;
    while (seen_count(s, id) < count && bc_now_us() < deadline)
        bc_sleep_us(WAIT_STEP_US);
    ASSERT_GE(seen_count(s, id), count);
}

static void wait_seen(struct seen *s, const char *id, size_t count)
{
    wait_seen_at_least(s, id, count);
    ASSERT_EQ(seen_count(s, id), count);
}

static void test_notify_across_handles(void)
{
    struct stream *a = open_redis(NULL), *b = open_redis(NULL);
    struct seen sa = {.mu = PTHREAD_MUTEX_INITIALIZER}, sb = {.mu = PTHREAD_MUTEX_INITIALIZER};
    stream_set_notify(a, on_append, &sa);
    stream_set_notify(b, on_append, &sb);
    for (size_t i = 0; i < 3; i++)
        ASSERT_OK(stream_append(a, "ntf", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    ASSERT_OK(stream_append(b, "ntf-b", STREAM_KIND_AUDIO, chunk(0), CHUNK_BYTES, NULL));
    wait_seen(&sb, "ntf", 3);
    wait_seen(&sa, "ntf", 3);
    wait_seen(&sa, "ntf-b", 1);
    wait_seen(&sb, "ntf-b", 1);
    /* Once each, not once from the subscriber and once from the append. */
    bc_sleep_us(10 * WAIT_STEP_US);
    ASSERT_EQ(seen_count(&sa, "ntf"), 3);
    ASSERT_EQ(seen_count(&sb, "ntf-b"), 1);
    /* Stopped: no more calls, and what cb uses could be freed now. */
    stream_set_notify(b, NULL, NULL);
    ASSERT_OK(stream_append(a, "ntf", STREAM_KIND_AUDIO, chunk(3), CHUNK_BYTES, NULL));
    wait_seen(&sa, "ntf", 4);
    ASSERT_EQ(seen_count(&sb, "ntf"), 3);
    stream_close(a);
    stream_close(b);
}

/* ---- failures, pending sessions, backlog, retention ---- */

static void test_dead_letters(void)
{
    struct stream_params p;
    stream_default_params(&p);
    p.max_attempts = 2;
    struct stream *s = open_redis(&p);
    for (size_t i = 0; i < 3; i++)
        ASSERT_OK(stream_append(s, "dl", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    ASSERT_EQ(stream_dead_letters(s, "dl"), 0);
    ASSERT_EQ(stream_record_failed(s, "dl", 2, "decoder said no"), 0);
    ASSERT_EQ(stream_record_failed(s, "dl", 2, "decoder said \"no\" again"), 1);
    ASSERT_EQ(stream_dead_letters(s, "dl"), 1);
    ASSERT_EQ(stream_record_failed(s, "dl", 9, "x"), BC_EINVAL); /* no such record */
    /* Attempts count per record, and a checkpoint forgets those it passed. */
    ASSERT_EQ(stream_record_failed(s, "dl", 3, "x"), 0);
    ASSERT_OK(stream_checkpoint(s, "dl", 2, NULL, 0));
    ASSERT_EQ(stream_record_failed(s, "dl", 2, "x"), BC_EINVAL); /* processed */
    ASSERT_EQ(stream_record_failed(s, "dl", 3, "x"), 1);
    ASSERT_EQ(stream_dead_letters(s, "dl"), 2);
    struct stream *other = open_redis(&p);
    ASSERT_EQ(stream_dead_letters(other, "dl"), 2);
    stream_close(other);
    redisReply *r = raw("LRANGE %s 0 -1", "bc:{dl}:dead");
    ASSERT_EQ(r->type, REDIS_REPLY_ARRAY);
    ASSERT_EQ(r->elements, 2);
    ASSERT_STR_CONTAINS(r->element[0]->str, "\"seq\":2");
    ASSERT_STR_CONTAINS(r->element[0]->str, "decoder said \\\"no\\\" again");
    ASSERT_STR_CONTAINS(r->element[1]->str, "\"seq\":3");
    freeReplyObject(r);
    stream_close(s);
}

static void test_sessions_pending(void)
{
    struct stream *gw = open_redis(NULL), *w = open_redis(NULL);
    for (size_t i = 0; i < 3; i++) {
        ASSERT_OK(stream_append(gw, "pend-live", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
        ASSERT_OK(stream_append(gw, "pend-done", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
        ASSERT_OK(stream_append(gw, "pend-end1", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    }
    ASSERT(pending_has(w, "pend-live"));
    ASSERT(pending_has(w, "pend-done"));
    /* Processed but live: a worker that dies now leaves it to the others. */
    ASSERT_OK(stream_checkpoint(w, "pend-done", 3, NULL, 0));
    ASSERT(pending_has(w, "pend-done"));
    ASSERT_EQ(raw_int("PTTL %s", "bc:{pend-done}:audio"), -1);
    /* Ended after being processed: gone, its keys expire. */
    stream_session_ended(gw, "pend-done");
    ASSERT(!pending_has(w, "pend-done"));
    ASSERT(pending_has(w, "pend-live"));
    long long ttl = raw_int("PTTL %s", "bc:{pend-done}:audio");
    ASSERT_GT(ttl, 0);
    ASSERT_LE(ttl, 24LL * 60 * 60 * 1000);
    ASSERT_GT(raw_int("PTTL %s", "bc:{pend-done}:ckpt"), 0);
    ASSERT_GT(raw_int("PTTL %s", "bc:{pend-done}:seq"), 0);
    /* Ended before being processed: stays until the checkpoint reaches the end. */
    stream_session_ended(gw, "pend-end1");
    ASSERT(pending_has(w, "pend-end1"));
    ASSERT_OK(stream_checkpoint(w, "pend-end1", 2, NULL, 0));
    ASSERT(pending_has(w, "pend-end1"));
    ASSERT_OK(stream_checkpoint(w, "pend-end1", 3, NULL, 0));
    ASSERT(!pending_has(w, "pend-end1"));
    ASSERT_GT(raw_int("PTTL %s", "bc:{pend-end1}:audio"), 0);
    /* A late record revives an ended session until it is processed too. */
    uint64_t seq;
    ASSERT_OK(stream_append(gw, "pend-done", STREAM_KIND_END, NULL, 0, &seq));
    ASSERT_EQ(seq, 4);
    ASSERT(pending_has(w, "pend-done"));
    ASSERT_EQ(raw_int("PTTL %s", "bc:{pend-done}:audio"), -1);
    ASSERT_EQ(raw_int("PTTL %s", "bc:{pend-done}:ckpt"), -1);
    ASSERT_OK(stream_checkpoint(w, "pend-done", 4, NULL, 0));
    ASSERT(!pending_has(w, "pend-done"));
    ASSERT_GT(raw_int("PTTL %s", "bc:{pend-done}:seq"), 0);
    stream_close(gw);
    stream_close(w);
}

static void test_backlog_limit(void)
{
    struct stream_params p;
    stream_default_params(&p);
    p.max_backlog_bytes = 3 * CHUNK_BYTES;
    struct stream *a = open_redis(&p), *b = open_redis(&p);
    for (size_t i = 0; i < 3; i++)
        ASSERT_OK(
            stream_append(i % 2 ? a : b, "bl", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    uint64_t seq = 0;
    ASSERT_EQ(stream_append(a, "bl", STREAM_KIND_AUDIO, chunk(3), CHUNK_BYTES, &seq), BC_EAGAIN);
    ASSERT_EQ(stream_append(b, "bl", STREAM_KIND_AUDIO, chunk(3), 1, &seq), BC_EAGAIN);
    ASSERT_OK(stream_append(b, "bl", STREAM_KIND_END, NULL, 0, &seq)); /* no data: fits */
    ASSERT_EQ(seq, 4);
    ASSERT_EQ(stream_append(a, "bl", STREAM_KIND_AUDIO, chunk(0), 4 * CHUNK_BYTES, &seq),
              BC_EINVAL); /* never fits */
    ASSERT_OK(stream_checkpoint(b, "bl", 1, NULL, 0));
    ASSERT_OK(stream_append(a, "bl", STREAM_KIND_AUDIO, chunk(4), CHUNK_BYTES, &seq));
    ASSERT_EQ(seq, 5);
    ASSERT_EQ(stream_append(a, "bl", STREAM_KIND_AUDIO, chunk(5), CHUNK_BYTES, &seq), BC_EAGAIN);
    stream_close(a);
    stream_close(b);
}

static void test_retention_trim(void)
{
    struct stream_params p;
    stream_default_params(&p);
    struct stream *keep = open_redis(&p);
    for (size_t i = 0; i < 5; i++)
        ASSERT_OK(stream_append(keep, "ret-keep", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    ASSERT_OK(stream_checkpoint(keep, "ret-keep", 3, NULL, 0));
    ASSERT_EQ(raw_int("XLEN %s", "bc:{ret-keep}:audio"), 5);
    stream_close(keep);

    /* Retention 0: processed records go at the checkpoint, the rest stay. */
    p.retention_ms = 0;
    struct stream *s = open_redis(&p);
    for (size_t i = 0; i < 9; i++)
        ASSERT_OK(stream_append(s, "ret-trim", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    /* Redis's clock is in ms: let the records be older than "now - 0". */
    bc_sleep_us(5 * 1000);
    ASSERT_OK(stream_checkpoint(s, "ret-trim", 6, NULL, 0));
    ASSERT_EQ(raw_int("XLEN %s", "bc:{ret-trim}:audio"), 3);
    struct stream_record *r;
    ASSERT_OK(stream_read(s, "ret-trim", 0, &r));
    ASSERT_EQ(r->seq, 7);
    ASSERT(memcmp(r->data, chunk(6), CHUNK_BYTES) == 0);
    free(r);
    /* The backlog accounting survives the trim. */
    ASSERT_OK(stream_checkpoint(s, "ret-trim", 6, "again", 5));
    ASSERT_OK(stream_checkpoint(s, "ret-trim", 8, NULL, 0));
    ASSERT_EQ(raw_int("XLEN %s", "bc:{ret-trim}:audio"), 1);
    stream_close(s);
}

static void test_url_db(void)
{
    char url[128];
    snprintf(url, sizeof url, "%s/3", g_fx.url);
    struct stream *s = NULL;
    ASSERT_OK(stream_open(url, NULL, &s));
    uint64_t seq;
    ASSERT_OK(stream_append(s, "db3", STREAM_KIND_AUDIO, chunk(0), CHUNK_BYTES, &seq));
    ASSERT_EQ(raw_int("EXISTS %s", "bc:{db3}:audio"), 0); /* not in db 0 */
    stream_close(s);
    ASSERT_EQ(stream_open("redis://", NULL, &s), BC_EINVAL);
    ASSERT(s == NULL);
}

/* ---- Redis killed and restarted ---- */

static void test_redis_restart(void)
{
    struct stream *gw = open_redis(NULL), *w = open_redis(NULL);
    struct seen sw = {.mu = PTHREAD_MUTEX_INITIALIZER};
    stream_set_notify(w, on_append, &sw);
    for (size_t i = 0; i < 10; i++)
        ASSERT_OK(stream_append(gw, "crash", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, NULL));
    ASSERT_OK(stream_checkpoint(w, "crash", 4, "w", 1));
    wait_seen(&sw, "crash", 10);

    redis_fixture_kill(&g_fx);
    uint64_t seq = 0;
    for (int k = 0; k < 3; k++) {
        int64_t t0 = bc_now_us();
        ASSERT_EQ(stream_append(gw, "crash", STREAM_KIND_AUDIO, chunk(10), CHUNK_BYTES, &seq),
                  BC_EIO);
        ASSERT_LT(bc_now_us() - t0, EIO_BOUND_US);
    }
    struct stream_record *r;
    ASSERT_EQ(stream_read(w, "crash", 0, &r), BC_EIO);

    redis_fixture_run(&g_fx);
    int64_t deadline = bc_now_us() + WAIT_MAX_US;
    int rc;
    while ((rc = stream_append(gw, "crash", STREAM_KIND_AUDIO, chunk(10), CHUNK_BYTES, &seq)) ==
               BC_EIO &&
           bc_now_us() < deadline)
        bc_sleep_us(WAIT_STEP_US);
    ASSERT_OK(rc);
    ASSERT_EQ(seq, 11);
    for (uint64_t i = 0; i < 11; i++) {
        ASSERT_OK(stream_read(w, "crash", i, &r));
        ASSERT_EQ(r->seq, i + 1);
        ASSERT(memcmp(r->data, chunk(i), CHUNK_BYTES) == 0);
        free(r);
    }
    uint64_t ck;
    char state[STREAM_STATE_MAX];
    size_t len;
    ASSERT_OK(stream_checkpoint_get(w, "crash", &ck, state, &len));
    ASSERT_EQ(ck, 4);
    ASSERT_EQ(len, 1);
    ASSERT(pending_has(w, "crash"));

    /* The subscriber is back: appends by the other handle reach w again
     * (through the message, or the catch-up after resubscribing, or both). */
    ASSERT_OK(stream_append(gw, "after", STREAM_KIND_AUDIO, chunk(0), CHUNK_BYTES, &seq));
    wait_seen_at_least(&sw, "after", 1);
    /* Subscribed and past the catch-up: each new append is announced once. */
    for (size_t i = 0; i < 3; i++)
        ASSERT_OK(stream_append(gw, "after2", STREAM_KIND_AUDIO, chunk(i), CHUNK_BYTES, &seq));
    wait_seen(&sw, "after2", 3);
    stream_close(gw);
    stream_close(w);
}

/* Runs on every exit, failed assertions included: no server outlives the test. */
static void stop_fixture(void)
{
    redis_fixture_stop(&g_fx);
}

int main(void)
{
    bc_log_set_level(BC_LOG_ERROR);
    load_audio();
    redis_fixture_start(&g_fx);
    atexit(stop_fixture);
    test_two_gateways_order();
    test_read_after_and_checkpoint();
    test_lease_exclusive();
    test_fencing();
    test_notify_across_handles();
    test_dead_letters();
    test_sessions_pending();
    test_backlog_limit();
    test_retention_trim();
    test_url_db();
    test_redis_restart();
    free(g_audio);
    printf("stream_redis: all tests passed\n");
    return 0;
}

/* The kinesis:// ingestion stream against kinesalite, on a 2-shard stream
 * with sessions on both shards: a gateway handle appends, a worker handle
 * leases the shards and reads every session's records in order, numbered
 * 1, 2, ...; checkpoints survive the worker's restart, which resumes after
 * them with the same numbering; audio byte counts and dead letters; a
 * split shard, whose child goes on with the numbering. Run once with the
 * leases and checkpoints in a local journal and once in Redis. Also: both
 * stores refuse a writer that lost its lease, and throttled appends (a fake
 * endpoint) are retried, counted and refused while throttling lasts. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kinesalite_fixture.h"
#include "metrics/metrics.h"
#include "redis_fixture.h"
#include "stream/stream.h"
#include "stream/stream_kinesis_internal.h"
#include "test.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SESSIONS 6
#define RECORDS 12
#define RECORD_BYTES 640
#define WAIT_STEP_US 20000
#define WAIT_MAX_US (30 * 1000 * 1000) /* only a broken implementation waits this long */
#define LEASE_MS 600
#define OWNER "test-worker"

static struct kinesalite_fixture g_kin;
static atomic_int g_notified;

static void on_notify(void *user_data, const char *id)
{
    atomic_fetch_add(&g_notified, 1);
}

static void session_id(int i, char id[STREAM_SESSION_ID_MAX])
{
    snprintf(id, STREAM_SESSION_ID_MAX, "sess-%d", i);
}

/* Kinesis puts a key in shard 0 of 2 when its MD5 is below 2^127. */
static int shard_of(const char *id)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len;
    ASSERT(EVP_Digest(id, strlen(id), md, &len, EVP_md5(), NULL) == 1);
    return md[0] >= 0x80;
}

static void fill(uint8_t *buf, int session, int record)
{
    for (int i = 0; i < RECORD_BYTES; i++)
        buf[i] = (uint8_t)(session * 31 + record * 7 + i);
}

static struct stream *open_stream(const char *url, const char *state_dir, const char *redis_url)
{
    struct stream_params p;
    stream_default_params(&p);
    p.state_dir = state_dir;
    p.redis_url = redis_url;
    p.max_attempts = 2;
    struct stream *s;
    ASSERT_OK(stream_open(url, &p, &s));
    return s;
}

/* Waits until this handle may own the session (it leased its shard). */
static void wait_lease(struct stream *s, const char *id, uint64_t *token)
{
    int64_t deadline = bc_now_us() + WAIT_MAX_US;
    while (stream_lease(s, id, OWNER, LEASE_MS, token) != 0) {
        ASSERT(bc_now_us() < deadline);
        bc_sleep_us(WAIT_STEP_US);
    }
}

static struct stream_record *wait_read(struct stream *s, const char *id, uint64_t after)
{
    int64_t deadline = bc_now_us() + WAIT_MAX_US;
    struct stream_record *rec;
    while (stream_read(s, id, after, &rec) == BC_EAGAIN) {
        ASSERT(bc_now_us() < deadline);
        bc_sleep_us(WAIT_STEP_US);
    }
    return rec;
}

/* Reads records after..RECORDS of session i and checks number, kind and data. */
static void read_in_order(struct stream *s, int i, uint64_t after)
{
    char id[STREAM_SESSION_ID_MAX];
    session_id(i, id);
    uint8_t want[RECORD_BYTES];
    for (uint64_t seq = after + 1; seq <= RECORDS; seq++) {
        struct stream_record *rec = wait_read(s, id, seq - 1);
        ASSERT_EQ(rec->seq, seq);
        ASSERT_EQ(rec->kind, STREAM_KIND_AUDIO);
        ASSERT_EQ(rec->len, RECORD_BYTES);
        fill(want, i, (int)seq);
        ASSERT(memcmp(rec->data, want, RECORD_BYTES) == 0);
        ASSERT(rec->append_ms > 0);
        free(rec);
    }
    struct stream_record *none;
    ASSERT_EQ(stream_read(s, id, RECORDS, &none), BC_EAGAIN);
}

/* The shard of sess-0 splits in two: its parent is read to its end and
 * processed first, then the child that gets the session's next record goes
 * on with its numbering (the count is carried over from the parent). */
static void reshard(const char *stream_name, struct stream *gw, struct stream *w)
{
    static const char *const middle[] = {"85070591730234615865843651857942052864",
                                         "255211775190703847597530955573826158592"};
    int shard = shard_of("sess-0");
    char body[256];
    snprintf(body, sizeof body,
             "{\"StreamName\":\"%s\",\"ShardToSplit\":\"shardId-%012d\","
             "\"NewStartingHashKey\":\"%s\"}",
             stream_name, shard, middle[shard]);
    kinesalite_fixture_call(&g_kin, "SplitShard", body);
    uint8_t buf[RECORD_BYTES];
    fill(buf, 0, RECORDS + 2);
    uint64_t seq, token;
    ASSERT_OK(stream_append(gw, "sess-0", STREAM_KIND_AUDIO, buf, sizeof buf, &seq));
    struct stream_record *rec = wait_read(w, "sess-0", RECORDS + 1);
    ASSERT_EQ(rec->seq, RECORDS + 2);
    ASSERT(memcmp(rec->data, buf, RECORD_BYTES) == 0);
    free(rec);
    wait_lease(w, "sess-0", &token);
    ASSERT_OK(stream_checkpoint(w, "sess-0", RECORDS + 2, NULL, 0));
}

static void scenario(const char *stream_name, const char *state_dir, const char *redis_url)
{
    char url[256];
    snprintf(url, sizeof url, "kinesis://%s?region=us-east-1&endpoint=%s&poll_ms=50&lease_ms=%d",
             stream_name, g_kin.endpoint, LEASE_MS);
    kinesalite_fixture_stream(&g_kin, stream_name, 2);

    /* Gateway and worker in one process share one handle without Redis;
     * with Redis they are two, as in two processes. */
    struct stream *gw = open_stream(url, state_dir, redis_url);
    struct stream *w = redis_url ? open_stream(url, state_dir, redis_url) : gw;
    int on_shard[2] = {0, 0};
    uint8_t buf[RECORD_BYTES];
    for (int r = 1; r <= RECORDS; r++) {
        for (int i = 0; i < SESSIONS; i++) {
            char id[STREAM_SESSION_ID_MAX];
            session_id(i, id);
            on_shard[shard_of(id)] += r == 1;
            fill(buf, i, r);
            uint64_t seq;
            ASSERT_OK(stream_append(gw, id, STREAM_KIND_AUDIO, buf, sizeof buf, &seq));
        }
    }
    ASSERT_GT(on_shard[0], 0);
    ASSERT_GT(on_shard[1], 0);

    stream_set_notify(w, on_notify, NULL);
    for (int i = 0; i < SESSIONS; i++) {
        char id[STREAM_SESSION_ID_MAX];
        session_id(i, id);
        uint64_t token, again;
        wait_lease(w, id, &token);
        ASSERT_GT(token, 0);
        ASSERT_OK(stream_lease(w, id, OWNER, LEASE_MS, &again));
        ASSERT_EQ(again, token);
        ASSERT_EQ(stream_lease(w, id, "someone-else", LEASE_MS, &again), BC_ESTATE);
        read_in_order(w, i, 0);
        uint64_t bytes;
        ASSERT_OK(stream_audio_bytes(gw, id, &bytes));
        ASSERT_EQ(bytes, (uint64_t)RECORDS * RECORD_BYTES);
        /* Half of each session processed, with its resume state. */
        char state[32];
        int n = snprintf(state, sizeof state, "state-%d", i);
        ASSERT_EQ(stream_checkpoint(w, id, RECORDS + 1, state, (size_t)n), BC_EINVAL);
        ASSERT_OK(stream_checkpoint(w, id, RECORDS / 2, state, (size_t)n));
        ASSERT_EQ(stream_checkpoint(w, id, RECORDS / 2 - 1, state, (size_t)n), BC_EINVAL);
    }
    ASSERT_GT(atomic_load(&g_notified), 0);
    char pending[SESSIONS + 1][STREAM_SESSION_ID_MAX];
    ASSERT_EQ(stream_sessions_pending(w, pending, SESSIONS + 1), SESSIONS);

    /* A record that keeps failing goes to the dead-letter log. */
    ASSERT_EQ(stream_record_failed(w, "sess-0", RECORDS / 2 + 1, "test"), 0);
    ASSERT_EQ(stream_record_failed(w, "sess-0", RECORDS / 2 + 1, "test"), 1);
    ASSERT_EQ(stream_dead_letters(w, "sess-0"), 1);
    ASSERT_EQ(stream_record_failed(w, "sess-0", 1, "test"), BC_EINVAL);

    /* The worker restarts: the checkpoints hold, the numbering too. */
    if (w != gw)
        stream_close(w);
    else
        stream_close(gw);
    w = open_stream(url, state_dir, redis_url);
    if (!redis_url)
        gw = w;
    stream_set_notify(w, on_notify, NULL);
    for (int i = 0; i < SESSIONS; i++) {
        char id[STREAM_SESSION_ID_MAX], want[32];
        session_id(i, id);
        uint64_t token, seq;
        wait_lease(w, id, &token);
        uint8_t state[STREAM_STATE_MAX];
        size_t state_len;
        ASSERT_OK(stream_checkpoint_get(w, id, &seq, state, &state_len));
        ASSERT_EQ(seq, RECORDS / 2);
        int n = snprintf(want, sizeof want, "state-%d", i);
        ASSERT_EQ(state_len, n);
        ASSERT(memcmp(state, want, state_len) == 0);
        read_in_order(w, i, RECORDS / 2);
        ASSERT_OK(stream_checkpoint(w, id, RECORDS, NULL, 0));
    }
    ASSERT_EQ(stream_sessions_pending(w, pending, SESSIONS + 1), 0);
    ASSERT_EQ(stream_dead_letters(w, "sess-0"), 1);

    /* Appends after everything was processed reach the worker as 13, 14. */
    uint8_t more[RECORD_BYTES];
    fill(more, 0, RECORDS + 1);
    uint64_t seq;
    ASSERT_OK(stream_append(gw, "sess-0", STREAM_KIND_END, NULL, 0, &seq));
    struct stream_record *rec = wait_read(w, "sess-0", RECORDS);
    ASSERT_EQ(rec->seq, RECORDS + 1);
    ASSERT_EQ(rec->kind, STREAM_KIND_END);
    ASSERT_EQ(rec->len, 0);
    free(rec);
    ASSERT_OK(stream_checkpoint(w, "sess-0", RECORDS + 1, NULL, 0));
    reshard(stream_name, gw, w);
    stream_set_notify(w, NULL, NULL);
    if (w != gw)
        stream_close(w);
    stream_close(gw);
}

static void test_bad_urls(void)
{
    static const char *const bad[] = {
        "kinesis://?region=us-east-1",
        "kinesis://bad/name?region=us-east-1",
        "kinesis://s?region=us-east-1&limit=0",
        "kinesis://s?region=us-east-1&start=somewhere",
        "kinesis://s?region=us-east-1&poll_ms=x",
        "kinesis://s?region=us-east-1&unknown=1",
        "kinesis://s?region=us-east-1&max_attempts=0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct stream_params p;
        stream_default_params(&p);
        p.state_dir = "/tmp";
        struct stream *s;
        ASSERT_EQ(stream_open(bad[i], &p, &s), BC_EINVAL);
    }
    /* Without Redis or a data directory there is nowhere to keep leases. */
    struct stream *s;
    ASSERT_EQ(stream_open("kinesis://s?region=us-east-1", NULL, &s), BC_EINVAL);
}

/* ---- the lease and checkpoint store: fencing ---- */

/* A worker that lost its shard's lease writes nothing more: neither the
 * shard's position nor a session's checkpoint. */
static void test_store_fencing(const struct kin_store_ops *ops, void *impl)
{
    uint64_t a, b, again;
    ASSERT_OK(ops->lease(impl, "shard-x", "A", 60000, &a));
    ASSERT_OK(ops->lease(impl, "shard-x", "A", 60000, &again));
    ASSERT_EQ(again, a);
    ASSERT_EQ(ops->lease(impl, "shard-x", "B", 60000, &b), BC_ESTATE);
    struct kin_count counts[] = {{"sess-f", 7}};
    struct kin_commit c = {.shard = "shard-x", .owner = "A", .token = a, .id = "sess-f",
                           .seq = 7, .state = "s7", .state_len = 2, .pos = "100",
                           .counts = counts, .n_counts = 1};
    ASSERT_OK(ops->commit(impl, &c));
    ASSERT_OK(ops->release(impl, "shard-x", "A"));
    ASSERT_OK(ops->lease(impl, "shard-x", "B", 60000, &b));
    ASSERT_GT(b, a);
    counts[0].n = 9;
    c.seq = 9;
    c.pos = "200";
    ASSERT_EQ(ops->commit(impl, &c), BC_ESTATE);
    struct kin_shard_state st;
    ASSERT_OK(ops->shard_get(impl, "shard-x", &st));
    ASSERT_STR_EQ(st.pos, "100");
    ASSERT_EQ(st.n_counts, 1);
    ASSERT_EQ(st.counts[0].n, 7);
    free(st.counts);
    uint64_t seq;
    uint8_t state[STREAM_STATE_MAX];
    size_t state_len;
    ASSERT_OK(ops->session_get(impl, "sess-f", &seq, state, &state_len));
    ASSERT_EQ(seq, 7);
    ASSERT_EQ(state_len, 2);
    uint64_t f1, f2;
    ASSERT_OK(ops->session_fence(impl, "sess-f", &f1));
    ASSERT_OK(ops->session_fence(impl, "sess-f", &f2));
    ASSERT_GT(f2, f1);
    ops->close(impl);
}

/* ---- throttling: a fake endpoint refuses the first appends (other
 * calls, such as the check at open that the stream exists, get an empty
 * shard list and are not counted) ---- */

#define THROTTLED_ANSWERS 3
#define FAKE_REQUEST_MAX 65536

struct fake_kinesis {
    int fd;
    int port;
    int throttle; /* answers to throttle before accepting; -1: all */
    atomic_int requests;
    pthread_t thread;
};

static void *fake_main(void *arg)
{
    struct fake_kinesis *f = arg;
    static const char throttled[] =
        "{\"__type\":\"ProvisionedThroughputExceededException\",\"message\":\"slow down\"}";
    static const char accepted[] = "{\"SequenceNumber\":\"4960\",\"ShardId\":\"shardId-000000000000\"}";
    static const char no_shards[] = "{\"Shards\":[]}";
    char *buf = malloc(FAKE_REQUEST_MAX);
    for (;;) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            break;
        /* One request per connection: read the headers and the body. */
        size_t got = 0;
        long body = -1;
        char *end = NULL;
        while (got < FAKE_REQUEST_MAX - 1) {
            ssize_t n = read(c, buf + got, FAKE_REQUEST_MAX - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            end = strstr(buf, "\r\n\r\n");
            const char *cl = strstr(buf, "Content-Length:");
            if (end && cl)
                body = strtol(cl + strlen("Content-Length:"), NULL, 10);
            if (end && body >= 0 && got >= (size_t)(end + 4 - buf) + (size_t)body)
                break;
        }
        int put = strstr(buf, "Kinesis_20131202.PutRecord") != NULL;
        int n = put ? atomic_fetch_add(&f->requests, 1) : 0;
        int throttle = put && (f->throttle < 0 || n < f->throttle);
        const char *answer = !put ? no_shards : throttle ? throttled : accepted;
        char head[256];
        int len = snprintf(head, sizeof head,
                           "HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                           "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                           throttle ? 400 : 200, throttle ? "Bad Request" : "OK", strlen(answer));
        if (write(c, head, (size_t)len) < 0 || write(c, answer, strlen(answer)) < 0)
            perror("fake kinesis");
        close(c);
    }
    free(buf);
    return NULL;
}

static void fake_start(struct fake_kinesis *f, int throttle)
{
    memset(f, 0, sizeof *f);
    f->throttle = throttle;
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ASSERT(f->fd >= 0 && bind(f->fd, (struct sockaddr *)&a, sizeof a) == 0);
    ASSERT(listen(f->fd, 16) == 0 && getsockname(f->fd, (struct sockaddr *)&a, &len) == 0);
    f->port = ntohs(a.sin_port);
    ASSERT(pthread_create(&f->thread, NULL, fake_main, f) == 0);
}

static void fake_stop(struct fake_kinesis *f)
{
    shutdown(f->fd, SHUT_RDWR);
    close(f->fd);
    pthread_join(f->thread, NULL);
}

/* How often the throttling counter went up, from the metrics text. */
static double throttled_total(void)
{
    char *text;
    size_t len;
    metrics_render(&text, &len);
    const char *line = strstr(text, "\nbabelcast_stream_throttled_total ");
    double v = line ? strtod(line + strlen("\nbabelcast_stream_throttled_total "), NULL) : 0;
    free(text);
    return v;
}

/* Throttled appends are retried with backoff and counted; one still
 * throttled after the append's deadline fails with BC_EAGAIN, so the
 * gateway acknowledges nothing Kinesis did not accept. */
static void test_throttled(const char *state_dir)
{
    for (int always = 0; always <= 1; always++) {
        struct fake_kinesis f;
        fake_start(&f, always ? -1 : THROTTLED_ANSWERS);
        char url[128];
        snprintf(url, sizeof url, "kinesis://fake?region=us-east-1&endpoint=http://127.0.0.1:%d",
                 f.port);
        struct stream *s = open_stream(url, state_dir, NULL);
        double before = throttled_total();
        uint8_t buf[RECORD_BYTES];
        fill(buf, 0, 1);
        uint64_t seq, bytes;
        const char *id = always ? "throttled-always" : "throttled-once";
        int rc = stream_append(s, id, STREAM_KIND_AUDIO, buf, sizeof buf, &seq);
        ASSERT_OK(stream_audio_bytes(s, id, &bytes));
        if (always) {
            ASSERT_EQ(rc, BC_EAGAIN);
            ASSERT_GT(atomic_load(&f.requests), 1);
            ASSERT_EQ(bytes, 0);
        } else {
            ASSERT_OK(rc);
            ASSERT_EQ(atomic_load(&f.requests), THROTTLED_ANSWERS + 1);
            ASSERT_EQ(throttled_total() - before, THROTTLED_ANSWERS);
            ASSERT_EQ(bytes, RECORD_BYTES);
        }
        stream_close(s);
        fake_stop(&f);
    }
}

int main(void)
{
    bc_log_set_level(BC_LOG_WARN);
    test_bad_urls();
    kinesalite_fixture_start(&g_kin);

    char dir[] = "/tmp/bc-kinesis-XXXXXX";
    ASSERT(mkdtemp(dir));
    const struct kin_store_ops *ops;
    void *impl;
    ASSERT_OK(kin_store_local_open(dir, "fencing", &ops, &impl));
    test_store_fencing(ops, impl);
    test_throttled(dir);
    scenario("local", dir, NULL);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ(system(cmd), 0);

    struct redis_fixture redis;
    redis_fixture_start(&redis);
    ASSERT_OK(kin_store_redis_open(redis.url, "fencing", &ops, &impl));
    test_store_fencing(ops, impl);
    scenario("shared", NULL, redis.url);
    redis_fixture_stop(&redis);

    kinesalite_fixture_stop(&g_kin);
    printf("stream_kinesis: all passed\n");
    return 0;
}

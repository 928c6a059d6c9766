/* The delivery bus across processes through a real redis-server: one
 * publishing handle (a worker) and two receiving handles (two gateways).
 * Subscriptions route each session to the gateway that asked for it, every
 * field survives the trip in order, demand sums over gateways, malformed
 * messages are skipped, and a kill -9 of Redis is survived. */
#include "delivery/delivery.h"
#include "protocol/protocol.h"

#include <signal.h>

#include "delivery/delivery_redis.h"
#include "redis_fixture.h"
#include "test.h"
#include "util/err.h"
#include "util/timeutil.h"

#define WAIT_US (20 * 1000 * 1000)
#define POLL_US 2000
#define QUEUE 1024
#define ORDERED 500
#define OTHER_EVERY 5
/* Publishing with Redis down may take up to the connection timeout. */
#define DOWN_PUBLISH_MAX_US ((int64_t)3 * 1000 * 1000)
#define DOWN_PUBLISHES 20
#define SETTLE_US (4 * DELIVERY_DEMAND_CACHE_MS * 1000)

static struct redis_fixture fx;
static int wakes_a;

static void count_wake(void *user_data)
{
    __atomic_add_fetch((int *)user_data, 1, __ATOMIC_RELAXED);
}

static redisReply *admin(const char *fmt, const char *a, const void *b, size_t b_len)
{
    redisContext *c = redisConnect("127.0.0.1", fx.port);
    if (!c || c->err)
        TEST_FAIL_("cannot reach the test's redis-server");
    redisReply *r = b ? redisCommand(c, fmt, a, b, b_len) : redisCommand(c, fmt, a);
    ASSERT(r != NULL);
    redisFree(c);
    return r;
}

static long long subscribers(const char *session)
{
    char channel[DELIVERY_REDIS_KEY_MAX];
    snprintf(channel, sizeof channel, "bc:{%s}:out", session);
    redisReply *r = admin("PUBSUB NUMSUB %s", channel, NULL, 0);
    ASSERT_EQ(r->type, REDIS_REPLY_ARRAY);
    ASSERT_EQ(r->elements, 2);
    long long n = r->element[1]->integer;
    freeReplyObject(r);
    return n;
}

static void wait_subscribers(const char *session, long long want)
{
    int64_t deadline = bc_now_us() + WAIT_US;
    while (subscribers(session) != want) {
        if (bc_now_us() > deadline)
            TEST_FAIL_("session %s: %lld subscribers, want %lld", session, subscribers(session),
                       want);
        bc_sleep_us(POLL_US * 10);
    }
}

static void wait_demand(struct delivery *d, const char *session, const char *lang,
                        enum delivery_codec codec, int want)
{
    int64_t deadline = bc_now_us() + WAIT_US;
    int got;
    while ((got = delivery_demand(d, session, lang, codec)) != want) {
        if (bc_now_us() > deadline)
            TEST_FAIL_("demand %s/%s/%d: %d, want %d", session, lang, codec, got, want);
        bc_sleep_us(POLL_US * 10);
    }
}

static struct delivery_msg *next_msg(struct delivery *d)
{
    int64_t deadline = bc_now_us() + WAIT_US;
    struct delivery_msg *m;
    while (delivery_drain(d, &m, 1) == 0) {
        if (bc_now_us() > deadline)
            TEST_FAIL_("no message within %d s", WAIT_US / 1000000);
        bc_sleep_us(POLL_US);
    }
    return m;
}

/* Message i of a session: JSON captions and binary frames with NUL bytes
 * (one empty), every flag and codec in turn. */
static struct delivery_msg *make_msg(const char *session, int i)
{
    struct delivery_msg *m;
    if (i % 2 == 0) {
        cJSON *json = protocol_caption("es", i, i % 4 == 0, "¿qué tal?", "how are you?",
                                            i * 10, i * 10 + 5);
        m = delivery_msg_json(session, i % 6 == 0 ? DELIVERY_ALL_LANGS : "es", json);
        cJSON_Delete(json);
    } else {
        uint8_t frame[200] = {0};
        size_t len = i == 3 ? 0 : (size_t)(i % 150) + 8;
        for (size_t k = 0; k < len; k++)
            frame[k] = (uint8_t)(k % 3 == 0 ? 0 : (uint8_t)(i * 31 + (int)k));
        m = delivery_msg_new(session, "fr", true, frame, len);
        m->codec = i % 4 == 1 ? DELIVERY_CODEC_OPUS : DELIVERY_CODEC_PCM16;
    }
    m->to_speaker = i % 3 == 0;
    m->closes = i % 7 == 0;
    if (i % 10 == 5)
        m->lang[0] = '\0';
    return m;
}

static void assert_same(const struct delivery_msg *got, const struct delivery_msg *want, int i)
{
    if (strcmp(got->session, want->session) != 0 || strcmp(got->lang, want->lang) != 0 ||
        got->binary != want->binary || got->to_speaker != want->to_speaker ||
        got->closes != want->closes || got->codec != want->codec || got->len != want->len ||
        (want->len && memcmp(got->payload, want->payload, want->len) != 0))
        TEST_FAIL_("message %d: got %s/%s binary %d len %zu, want %s/%s binary %d len %zu", i,
                   got->session, got->lang, got->binary, got->len, want->session, want->lang,
                   want->binary, want->len);
    ASSERT(got->payload == got->buf + DELIVERY_PRE);
}

/* Only the gateway subscribed to a session receives it; all fields intact
 * and in publish order. */
static void test_routing_and_order(struct delivery *pub, struct delivery *a, struct delivery *b)
{
    delivery_subscribe(a, "s1", 1);
    delivery_subscribe(b, "s2", 1);
    wait_subscribers("s1", 1);
    wait_subscribers("s2", 1);
    int others = 0;
    for (int i = 0; i < ORDERED; i++) {
        delivery_publish(pub, make_msg("s1", i));
        if (i % OTHER_EVERY == 0) {
            delivery_publish(pub, make_msg("s2", i));
            others++;
        }
    }
    for (int i = 0; i < ORDERED; i++) {
        struct delivery_msg *got = next_msg(a), *want = make_msg("s1", i);
        assert_same(got, want, i);
        delivery_msg_unref(got);
        delivery_msg_unref(want);
    }
    for (int i = 0; i < others; i++) {
        struct delivery_msg *got = next_msg(b), *want = make_msg("s2", i * OTHER_EVERY);
        assert_same(got, want, i * OTHER_EVERY);
        delivery_msg_unref(got);
        delivery_msg_unref(want);
    }
    /* The last of each went out after all others: nothing else is queued. */
    struct delivery_msg *m;
    ASSERT_EQ(delivery_drain(a, &m, 1), 0);
    ASSERT_EQ(delivery_drain(b, &m, 1), 0);
    ASSERT_EQ(delivery_dropped(pub), 0);
    ASSERT_EQ(delivery_dropped(a), 0);
    ASSERT_GT(__atomic_load_n(&wakes_a, __ATOMIC_RELAXED), 0);
}

static void expect_text(struct delivery *d, const char *session, const char *t)
{
    struct delivery_msg *m = next_msg(d);
    ASSERT_STR_EQ(m->session, session);
    ASSERT_EQ(m->len, strlen(t));
    ASSERT(memcmp(m->payload, t, m->len) == 0);
    delivery_msg_unref(m);
}

static void publish_text(struct delivery *d, const char *session, const char *t)
{
    delivery_publish(d, delivery_msg_new(session, "es", false, t, strlen(t)));
}

/* Subscriptions are counted; the last unsubscribe stops delivery. */
static void test_unsubscribe(struct delivery *pub, struct delivery *b)
{
    delivery_subscribe(b, "s3", 1);
    wait_subscribers("s3", 1);
    delivery_subscribe(b, "s2", 1);
    delivery_subscribe(b, "s2", -1);
    publish_text(pub, "s2", "still there");
    expect_text(b, "s2", "still there");
    delivery_subscribe(b, "s2", -1);
    wait_subscribers("s2", 0);
    /* Messages of one publisher arrive in order: had the first come through,
     * it would be drained before the second. */
    publish_text(pub, "s2", "gone");
    publish_text(pub, "s3", "marker");
    expect_text(b, "s3", "marker");
}

/* Demand of both gateways sums in the worker's view. */
static void test_demand(struct delivery *pub, struct delivery *a, struct delivery *b)
{
    delivery_demand_add(a, "s1", "es", DELIVERY_CODEC_OPUS, 2);
    delivery_demand_add(b, "s1", "es", DELIVERY_CODEC_OPUS, 1);
    delivery_demand_add(b, "s1", "fr", DELIVERY_CODEC_PCM16, 1);
    delivery_demand_add(b, "s1", "fr", DELIVERY_CODEC_ANY, 1);
    wait_demand(pub, "s1", "es", DELIVERY_CODEC_OPUS, 3);
    wait_demand(pub, "s1", "fr", DELIVERY_CODEC_PCM16, 1);
    wait_demand(pub, "s1", "fr", DELIVERY_CODEC_ANY, 1);
    wait_demand(a, "s1", "es", DELIVERY_CODEC_OPUS, 3);
    ASSERT_EQ(delivery_demand(pub, "s1", "es", DELIVERY_CODEC_PCM16), 0);
    ASSERT_EQ(delivery_demand(pub, "s2", "es", DELIVERY_CODEC_OPUS), 0);

    delivery_demand_add(a, "s1", "es", DELIVERY_CODEC_OPUS, -1);
    delivery_demand_add(b, "s1", "fr", DELIVERY_CODEC_PCM16, -1);
    delivery_demand_add(b, "s1", "fr", DELIVERY_CODEC_ANY, -1);
    wait_demand(pub, "s1", "es", DELIVERY_CODEC_OPUS, 2);
    wait_demand(pub, "s1", "fr", DELIVERY_CODEC_PCM16, 0);
    wait_demand(pub, "s1", "fr", DELIVERY_CODEC_ANY, 0);
    /* Left in Redis: the sum and one field per gateway for es/opus. */
    redisReply *r = admin("HLEN %s", "bc:{s1}:demand", NULL, 0);
    ASSERT_EQ(r->integer, 3);
    freeReplyObject(r);
    r = admin("HGET %s es/opus", "bc:{s1}:demand", NULL, 0);
    ASSERT_STR_EQ(r->str, "2");
    freeReplyObject(r);
}

/* Garbage on a session's channel is skipped; the next message arrives. */
static void test_malformed(struct delivery *pub, struct delivery *a)
{
    const char *channel = "bc:{s1}:out";
    struct delivery_msg *good = make_msg("s1", 1);
    uint8_t *wire;
    size_t len;
    ASSERT_OK(delivery_wire_encode(good, &wire, &len));
    struct delivery_msg *elsewhere = make_msg("s9", 1);
    uint8_t *wire9;
    size_t len9;
    ASSERT_OK(delivery_wire_encode(elsewhere, &wire9, &len9));
    delivery_msg_unref(elsewhere);

    redisReply *r;
    r = admin("PUBLISH %s %b", channel, "garbage", 7);
    ASSERT_EQ(r->integer, 1);
    freeReplyObject(r);
    freeReplyObject(admin("PUBLISH %s %b", channel, "", 0));
    freeReplyObject(admin("PUBLISH %s %b", channel, wire, len - 1));
    wire[0] = DELIVERY_WIRE_VERSION + 1;
    freeReplyObject(admin("PUBLISH %s %b", channel, wire, len));
    wire[0] = DELIVERY_WIRE_VERSION;
    wire[4] = DELIVERY_LANG_MAX; /* lang length out of range */
    freeReplyObject(admin("PUBLISH %s %b", channel, wire, len));
    freeReplyObject(admin("PUBLISH %s %b", channel, wire9, len9)); /* another session's */

    publish_text(pub, "s1", "after the garbage");
    expect_text(a, "s1", "after the garbage");
    struct delivery_msg *m;
    ASSERT_EQ(delivery_drain(a, &m, 1), 0);
    free(wire);
    free(wire9);
    delivery_msg_unref(good);
}

static void wipe_redis_data(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/appendonlydir '%s'/*.aof", fx.dir, fx.dir);
    ASSERT_EQ(system(cmd), 0);
}

/* After a restart: both receivers subscribe again by themselves, publishing
 * resumes, and the message published then arrives (nothing published while
 * Redis was down was kept for later: it would arrive first). */
static void expect_recovery(struct delivery *pub, struct delivery *a, const char *t)
{
    wait_subscribers("s1", 1);
    wait_subscribers("s3", 1);
    int64_t deadline = bc_now_us() + WAIT_US;
    for (;;) {
        uint64_t dropped = delivery_dropped(pub);
        publish_text(pub, "s1", t);
        if (delivery_dropped(pub) == dropped)
            break;
        if (bc_now_us() > deadline)
            TEST_FAIL_("publishing did not resume");
        bc_sleep_us(POLL_US * 50);
    }
    expect_text(a, "s1", t);
}

/* Redis killed and restarted: publishes while it is down are dropped
 * promptly; receivers subscribe again; demand is neither counted twice
 * (Redis restarted with its data) nor lost (Redis restarted empty). */
static void test_redis_restart(struct delivery *pub, struct delivery *a)
{
    wait_demand(pub, "s1", "es", DELIVERY_CODEC_OPUS, 2);
    redis_fixture_kill(&fx);

    uint64_t dropped = delivery_dropped(pub);
    for (int i = 0; i < DOWN_PUBLISHES; i++) {
        int64_t t0 = bc_now_us();
        publish_text(pub, "s1", "into the void");
        ASSERT_LT(bc_now_us() - t0, DOWN_PUBLISH_MAX_US);
    }
    ASSERT_EQ(delivery_dropped(pub), dropped + DOWN_PUBLISHES);

    redis_fixture_run(&fx);
    expect_recovery(pub, a, "after the restart");
    redisReply *r = admin("HGET %s es/opus", "bc:{s1}:demand", NULL, 0);
    ASSERT_EQ(r->type, REDIS_REPLY_STRING); /* kept: stored again over itself */
    freeReplyObject(r);
    bc_sleep_us(SETTLE_US);
    ASSERT_EQ(delivery_demand(pub, "s1", "es", DELIVERY_CODEC_OPUS), 2);

    redis_fixture_kill(&fx);
    wipe_redis_data();
    redis_fixture_run(&fx);
    expect_recovery(pub, a, "after a restart without data");
    bc_sleep_us(SETTLE_US); /* the value cached before the restart expires */
    wait_demand(pub, "s1", "es", DELIVERY_CODEC_OPUS, 2);
    bc_sleep_us(SETTLE_US);
    ASSERT_EQ(delivery_demand(pub, "s1", "es", DELIVERY_CODEC_OPUS), 2);
}

/* Closing a gateway takes its demand out of Redis. */
static void test_close_withdraws(struct delivery *pub, struct delivery *a, struct delivery *b)
{
    delivery_free(b);
    wait_demand(pub, "s1", "es", DELIVERY_CODEC_OPUS, 1);
    delivery_free(a);
    wait_demand(pub, "s1", "es", DELIVERY_CODEC_OPUS, 0);
    redisReply *r = admin("EXISTS %s", "bc:{s1}:demand", NULL, 0);
    ASSERT_EQ(r->integer, 0);
    freeReplyObject(r);
    wait_subscribers("s1", 0);
}

/* Redis down from the start is not an error. */
static void test_open_while_down(void)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", redis_fixture_free_port());
    struct delivery *d;
    ASSERT_OK(delivery_open(url, QUEUE, NULL, NULL, &d));
    delivery_subscribe(d, "s1", 1);
    delivery_demand_add(d, "s1", "es", DELIVERY_CODEC_OPUS, 1);
    publish_text(d, "s1", "nobody");
    ASSERT_EQ(delivery_dropped(d), 1);
    ASSERT_EQ(delivery_demand(d, "s1", "es", DELIVERY_CODEC_OPUS), 0);
    delivery_free(d);
}

/* A failing assertion exits: the server must not outlive the test. */
static void stop_fixture(void)
{
    if (fx.dir[0])
        redis_fixture_stop(&fx);
}

int main(void)
{
    /* A write to a connection Redis has closed must fail, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    redis_fixture_start(&fx);
    atexit(stop_fixture);
    struct delivery *pub, *a, *b;
    ASSERT_OK(delivery_open(fx.url, QUEUE, NULL, NULL, &pub));
    ASSERT_OK(delivery_open(fx.url, QUEUE, count_wake, &wakes_a, &a));
    ASSERT_OK(delivery_open(fx.url, QUEUE, NULL, NULL, &b));

    test_routing_and_order(pub, a, b);
    test_unsubscribe(pub, b);
    test_demand(pub, a, b);
    test_malformed(pub, a);
    test_redis_restart(pub, a);
    test_close_withdraws(pub, a, b);
    delivery_free(pub);
    test_open_while_down();

    printf("delivery_redis: ok\n");
    return 0;
}

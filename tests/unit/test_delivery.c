/* The delivery bus in-process (mem://): messages and their references, the
 * bounded queue that drops audio before captions, demand counts, opening by
 * URL, publishing from several threads, and the Redis wire format's decoder
 * against truncated and corrupted input. */
#include "delivery/delivery.h"
#include "protocol/protocol.h"

#include <pthread.h>

#include "delivery/delivery_redis.h"
#include "test.h"
#include "util/err.h"

#define THREADS 4
#define PER_THREAD 2000
#define BIG_QUEUE (THREADS * PER_THREAD)

static int wakes;

static void count_wake(void *user_data)
{
    __atomic_add_fetch((int *)user_data, 1, __ATOMIC_RELAXED);
}

static struct delivery_msg *text(const char *session, const char *t)
{
    return delivery_msg_new(session, "es", false, t, strlen(t));
}

static struct delivery_msg *audio(const char *session, uint8_t tag)
{
    uint8_t frame[3] = {0, tag, 0};
    return delivery_msg_new(session, "es", true, frame, sizeof frame);
}

static void test_codec_names(void)
{
    enum delivery_codec c;
    ASSERT_OK(delivery_codec_parse("opus", &c));
    ASSERT_EQ(c, DELIVERY_CODEC_OPUS);
    ASSERT_OK(delivery_codec_parse("pcm16", &c));
    ASSERT_EQ(c, DELIVERY_CODEC_PCM16);
    ASSERT_EQ(delivery_codec_parse("mp3", &c), BC_ENOTFOUND);
    ASSERT_STR_EQ(delivery_codec_name(DELIVERY_CODEC_OPUS), "opus");
    ASSERT_STR_EQ(delivery_codec_name(DELIVERY_CODEC_ANY), "");
}

static void test_messages_and_refs(void)
{
    cJSON *json = protocol_caption("es", 3, true, "hola", "hello", 100, 900);
    struct delivery_msg *m = delivery_msg_json("s1", "es", json);
    cJSON_Delete(json);
    ASSERT_STR_EQ(m->session, "s1");
    ASSERT_STR_EQ(m->lang, "es");
    ASSERT(!m->binary);
    ASSERT(m->payload == m->buf + DELIVERY_PRE);
    cJSON *back = cJSON_ParseWithLength((const char *)m->payload, m->len);
    ASSERT(back);
    ASSERT_STR_EQ(cJSON_GetObjectItem(back, "text")->valuestring, "hola");
    ASSERT_EQ(cJSON_GetObjectItem(back, "source_end_ms")->valuedouble, 900);
    cJSON_Delete(back);

    delivery_msg_ref(m);
    delivery_msg_ref(m);
    ASSERT_EQ(m->refs, 3);
    delivery_msg_unref(m);
    delivery_msg_unref(m);
    ASSERT_EQ(m->refs, 1);
    delivery_msg_unref(m); /* freed: ASan reports a leak or a double free */
    delivery_msg_unref(NULL);
}

static void test_queue_drops_audio_first(void)
{
    wakes = 0;
    struct delivery *d = delivery_new(4, count_wake, &wakes);
    delivery_publish(d, text("s1", "c1"));
    delivery_publish(d, audio("s1", 1));
    delivery_publish(d, audio("s1", 2));
    delivery_publish(d, text("s1", "c2"));
    delivery_publish(d, text("s1", "c3")); /* drops audio 1 */
    delivery_publish(d, text("s1", "c4")); /* drops audio 2 */
    delivery_publish(d, text("s1", "c5")); /* no audio left: drops c1 */
    ASSERT_EQ(wakes, 7);
    ASSERT_EQ(delivery_dropped(d), 3);

    struct delivery_msg *out[8];
    ASSERT_EQ(delivery_drain(d, out, 3), 3);
    ASSERT_EQ(delivery_drain(d, out + 3, 8), 1);
    ASSERT_EQ(delivery_drain(d, out, 8), 0);
    const char *want[] = {"c2", "c3", "c4", "c5"};
    for (int i = 0; i < 4; i++) {
        ASSERT(!out[i]->binary);
        ASSERT_EQ(out[i]->len, 2);
        ASSERT(memcmp(out[i]->payload, want[i], 2) == 0);
        delivery_msg_unref(out[i]);
    }
    /* Queued messages are freed with the bus. */
    delivery_publish(d, audio("s1", 3));
    delivery_publish(d, text("s1", "c6"));
    delivery_free(d);
}

static void test_demand(void)
{
    struct delivery *d = delivery_new(4, NULL, NULL);
    delivery_subscribe(d, "s1", 1); /* in-process: everything is received anyway */
    delivery_demand_add(d, "s1", "es", DELIVERY_CODEC_OPUS, 1);
    delivery_demand_add(d, "s1", "es", DELIVERY_CODEC_OPUS, 1);
    delivery_demand_add(d, "s1", "es", DELIVERY_CODEC_PCM16, 1);
    delivery_demand_add(d, "s2", "es", DELIVERY_CODEC_OPUS, 1);
    ASSERT_EQ(delivery_demand(d, "s1", "es", DELIVERY_CODEC_OPUS), 2);
    ASSERT_EQ(delivery_demand(d, "s1", "es", DELIVERY_CODEC_PCM16), 1);
    ASSERT_EQ(delivery_demand(d, "s1", "fr", DELIVERY_CODEC_OPUS), 0);
    ASSERT_EQ(delivery_demand(d, "s2", "es", DELIVERY_CODEC_OPUS), 1);
    delivery_demand_add(d, "s1", "es", DELIVERY_CODEC_OPUS, -1);
    ASSERT_EQ(delivery_demand(d, "s1", "es", DELIVERY_CODEC_OPUS), 1);
    delivery_demand_add(d, "s1", "es", DELIVERY_CODEC_OPUS, -1);
    ASSERT_EQ(delivery_demand(d, "s1", "es", DELIVERY_CODEC_OPUS), 0);
    /* Leaving twice does not go negative, and a count starts again from 0. */
    delivery_demand_add(d, "s1", "es", DELIVERY_CODEC_OPUS, -1);
    delivery_demand_add(d, "s1", "es", DELIVERY_CODEC_OPUS, 1);
    ASSERT_EQ(delivery_demand(d, "s1", "es", DELIVERY_CODEC_OPUS), 1);
    /* Names that do not fit are refused rather than cut into another's. */
    char long_id[DELIVERY_ID_MAX + 8];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    delivery_demand_add(d, long_id, "es", DELIVERY_CODEC_OPUS, 1);
    ASSERT_EQ(delivery_demand(d, long_id, "es", DELIVERY_CODEC_OPUS), 0);
    long_id[DELIVERY_ID_MAX - 1] = '\0';
    ASSERT_EQ(delivery_demand(d, long_id, "es", DELIVERY_CODEC_OPUS), 0);

    delivery_publish(d, text("s9", "not subscribed"));
    struct delivery_msg *m;
    ASSERT_EQ(delivery_drain(d, &m, 1), 1);
    ASSERT_STR_EQ(m->session, "s9");
    delivery_msg_unref(m);
    delivery_free(d);
}

static void test_open(void)
{
    struct delivery *d = (struct delivery *)&wakes;
    ASSERT_EQ(delivery_open("http://x", 4, NULL, NULL, &d), BC_EINVAL);
    ASSERT(d == NULL);
    ASSERT_EQ(delivery_open(NULL, 4, NULL, NULL, &d), BC_EINVAL);
    ASSERT_EQ(delivery_open("mem://x", 4, NULL, NULL, &d), BC_EINVAL);
    ASSERT_EQ(delivery_open("redis://", 4, NULL, NULL, &d), BC_EINVAL);
    ASSERT_EQ(delivery_open("redis://host:99999", 4, NULL, NULL, &d), BC_EINVAL);
    wakes = 0;
    ASSERT_OK(delivery_open("mem://", 0, count_wake, &wakes, &d));
    delivery_publish(d, text("s1", "a"));
    delivery_publish(d, text("s1", "b")); /* max_queued 0 means 1 */
    ASSERT_EQ(wakes, 2);
    ASSERT_EQ(delivery_dropped(d), 1);
    delivery_free(d);
    delivery_free(NULL);
}

struct producer {
    struct delivery *d;
    int id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        int v[2] = {p->id, i};
        delivery_publish(p->d, delivery_msg_new("s1", "es", true, v, sizeof v));
    }
    return NULL;
}

/* Each thread's messages arrive complete and in its order. */
static void test_threads(void)
{
    wakes = 0;
    struct delivery *d = delivery_new(BIG_QUEUE, count_wake, &wakes);
    pthread_t t[THREADS];
    struct producer p[THREADS];
    for (int i = 0; i < THREADS; i++) {
        p[i] = (struct producer){d, i};
        ASSERT_EQ(pthread_create(&t[i], NULL, produce, &p[i]), 0);
    }
    int next[THREADS] = {0};
    int got = 0;
    struct delivery_msg *batch[64];
    while (got < THREADS * PER_THREAD) {
        size_t n = delivery_drain(d, batch, 64);
        for (size_t i = 0; i < n; i++) {
            int v[2];
            ASSERT_EQ(batch[i]->len, sizeof v);
            memcpy(v, batch[i]->payload, sizeof v);
            ASSERT(v[0] >= 0 && v[0] < THREADS);
            ASSERT_EQ(v[1], next[v[0]]);
            next[v[0]]++;
            delivery_msg_unref(batch[i]);
        }
        got += (int)n;
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ASSERT_EQ(delivery_dropped(d), 0);
    ASSERT_EQ(wakes, THREADS * PER_THREAD);
    delivery_free(d);
}

static void test_wire_format(void)
{
    uint8_t payload[] = {0, 1, 0, 'x', 0};
    struct delivery_msg *m = delivery_msg_new("sess-1", "fr", true, payload, sizeof payload);
    m->to_speaker = true;
    m->codec = DELIVERY_CODEC_PCM16;
    uint8_t *wire;
    size_t len;
    ASSERT_OK(delivery_wire_encode(m, &wire, &len));
    ASSERT_EQ(wire[0], DELIVERY_WIRE_VERSION);

    struct delivery_msg *back;
    ASSERT_OK(delivery_wire_decode(wire, len, &back));
    ASSERT_STR_EQ(back->session, "sess-1");
    ASSERT_STR_EQ(back->lang, "fr");
    ASSERT(back->binary && back->to_speaker && !back->closes);
    ASSERT_EQ(back->codec, DELIVERY_CODEC_PCM16);
    ASSERT_EQ(back->len, sizeof payload);
    ASSERT(memcmp(back->payload, payload, sizeof payload) == 0);
    delivery_msg_unref(back);

    /* Every truncation is refused, and so is one byte too many. */
    for (size_t n = 0; n < len; n++) {
        ASSERT_EQ(delivery_wire_decode(wire, n, &back), BC_EFORMAT);
        ASSERT(back == NULL);
    }
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, wire, len);
    longer[len] = 0;
    ASSERT_EQ(delivery_wire_decode(longer, len + 1, &back), BC_EFORMAT);
    free(longer);
    /* Any corrupted byte decodes to a well-formed message or is refused;
     * under ASan this also shows that nothing is read out of bounds. */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t *copy = malloc(len);
            memcpy(copy, wire, len);
            copy[i] ^= (uint8_t)(1u << bit);
            if (delivery_wire_decode(copy, len, &back) == 0) {
                ASSERT(strlen(back->session) > 0);
                ASSERT(strlen(back->session) < DELIVERY_ID_MAX);
                ASSERT(back->codec <= DELIVERY_CODEC_OPUS);
                delivery_msg_unref(back);
            }
            free(copy);
        }
    }
    free(wire);

    m->session[0] = '\0';
    ASSERT_EQ(delivery_wire_encode(m, &wire, &len), BC_EINVAL);
    delivery_msg_unref(m);
}

int main(void)
{
    test_codec_names();
    test_messages_and_refs();
    test_queue_drops_audio_first();
    test_demand();
    test_open();
    test_threads();
    test_wire_format();
    printf("delivery: ok\n");
    return 0;
}

/* The gateway's ingest threads on a mem:// stream: each session's records
 * reach the stream in the order submitted (coalesced or not), results cover
 * every record, a failed append drops the rest of its feed and nothing
 * else, and freeing with records still queued neither hangs nor leaks. */
#include <stdatomic.h>

#include "gateway/gateway_ingest.h"
#include "test.h"
#include "util/err.h"

#define WAIT_MS 10000
#define SMALL 3000
#define SESSIONS 3
#define FRAMES 40
#define FAIL_BACKLOG 36000
#define TOO_BIG 34000 /* fits the backlog alone, not after SMALL; above the coalescing limit */

static atomic_int wakes;

static void on_wake(void *user_data)
{
    (void)user_data;
    atomic_fetch_add(&wakes, 1);
}

static struct stream *open_mem(size_t backlog)
{
    struct stream_params p;
    stream_default_params(&p);
    if (backlog)
        p.max_backlog_bytes = backlog;
    struct stream *s;
    ASSERT_OK(stream_open("mem://", &p, &s));
    return s;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed * 31 + i);
}

/* The session's records from the start: audio bytes joined into audio,
 * and the kind of the last one. */
static size_t read_back(struct stream *s, const char *id, uint8_t *audio, size_t cap,
                        uint32_t *last_kind)
{
    size_t n = 0;
    uint64_t after = 0;
    struct stream_record *r;
    while (stream_read(s, id, after, &r) == 0) {
        after = r->seq;
        *last_kind = r->kind;
        if (r->kind == STREAM_KIND_AUDIO) {
            ASSERT_LE(r->len, GW_INGEST_COALESCE_BYTES);
            ASSERT_LE(n + r->len, cap);
            memcpy(audio + n, r->data, r->len);
            n += r->len;
        }
        free(r);
    }
    return n;
}

static void test_order(void)
{
    struct stream *s = open_mem(0);
    struct gw_ingest *ing = gw_ingest_new(s, on_wake, NULL);
    ASSERT(ing);
    static uint8_t sent[SESSIONS][FRAMES * SMALL], got[FRAMES * SMALL];
    struct gw_feed *feeds[SESSIONS];
    char ids[SESSIONS][16];
    for (int k = 0; k < SESSIONS; k++) {
        feeds[k] = gw_feed_new((uint64_t)k + 1);
        snprintf(ids[k], sizeof ids[k], "order%d", k);
        fill(sent[k], sizeof sent[k], (unsigned)k);
    }
    for (int f = 0; f < FRAMES; f++)
        for (int k = 0; k < SESSIONS; k++)
            gw_ingest_submit(ing, feeds[k], ids[k], STREAM_KIND_AUDIO, sent[k] + f * SMALL, SMALL);
    for (int k = 0; k < SESSIONS; k++)
        gw_ingest_submit(ing, feeds[k], ids[k], STREAM_KIND_END, NULL, 0);
    ASSERT_OK(gw_ingest_wait_idle(ing, WAIT_MS));
    ASSERT_EQ(gw_ingest_pending(ing), 0);
    struct gw_ingest_result *res;
    size_t n;
    gw_ingest_take(ing, &res, &n);
    size_t records[SESSIONS] = {0}, bytes[SESSIONS] = {0};
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(res[i].rc, 0);
        ASSERT_EQ(res[i].dropped, 0);
        int k = res[i].session[5] - '0';
        ASSERT_EQ(res[i].gen, k + 1);
        records[k] += res[i].records;
        bytes[k] += res[i].bytes;
    }
    free(res);
    ASSERT_GE(atomic_load(&wakes), 1);
    for (int k = 0; k < SESSIONS; k++) {
        ASSERT_EQ(records[k], FRAMES + 1);
        ASSERT_EQ(bytes[k], FRAMES * SMALL);
        uint32_t last = 0;
        ASSERT_EQ(read_back(s, ids[k], got, sizeof got, &last), FRAMES * SMALL);
        ASSERT(memcmp(got, sent[k], sizeof got) == 0);
        ASSERT_EQ(last, STREAM_KIND_END);
        gw_feed_unref(feeds[k]);
    }
    gw_ingest_free(ing);
    stream_close(s);
}

static void test_failure_drops_the_rest(void)
{
    struct stream *s = open_mem(FAIL_BACKLOG);
    struct gw_ingest *ing = gw_ingest_new(s, on_wake, NULL);
    static uint8_t buf[TOO_BIG];
    fill(buf, sizeof buf, 7);
    struct gw_feed *feed = gw_feed_new(9);
    gw_ingest_submit(ing, feed, "gap", STREAM_KIND_AUDIO, buf, SMALL);
    gw_ingest_submit(ing, feed, "gap", STREAM_KIND_AUDIO, buf, TOO_BIG);
    gw_ingest_submit(ing, feed, "gap", STREAM_KIND_AUDIO, buf, SMALL);
    gw_ingest_submit(ing, feed, "gap", STREAM_KIND_END, NULL, 0);
    /* A record of no feed (a session end) still goes in after the gap. */
    gw_ingest_submit(ing, NULL, "gap", STREAM_KIND_SESSION_END, NULL, 0);
    gw_feed_unref(feed); /* the connection closed: results still come */
    ASSERT_OK(gw_ingest_wait_idle(ing, WAIT_MS));
    struct gw_ingest_result *res;
    size_t n;
    gw_ingest_take(ing, &res, &n);
    size_t accepted = 0, failed = 0, dropped = 0, ends = 0;
    for (size_t i = 0; i < n; i++) {
        if (res[i].gen == 0) {
            ASSERT_EQ(res[i].rc, 0);
            ends++;
        } else if (res[i].dropped)
            dropped += res[i].records;
        else if (res[i].rc < 0) {
            ASSERT_EQ(res[i].rc, BC_EAGAIN);
            ASSERT_EQ(res[i].bytes, TOO_BIG);
            failed++;
        } else
            accepted += res[i].bytes;
    }
    free(res);
    ASSERT_EQ(accepted, SMALL);
    ASSERT_EQ(failed, 1);
    ASSERT_EQ(dropped, 2);
    ASSERT_EQ(ends, 1);
    static uint8_t got[TOO_BIG];
    uint32_t last = 0;
    ASSERT_EQ(read_back(s, "gap", got, sizeof got, &last), SMALL);
    ASSERT_EQ(last, STREAM_KIND_SESSION_END);
    gw_ingest_free(ing);
    stream_close(s);
}

static void test_free_with_work_queued(void)
{
    struct stream *s = open_mem(0);
    struct gw_ingest *ing = gw_ingest_new(s, on_wake, NULL);
    static uint8_t buf[SMALL];
    struct gw_feed *feed = gw_feed_new(1);
    for (int f = 0; f < FRAMES; f++)
        gw_ingest_submit(ing, feed, "busy", STREAM_KIND_AUDIO, buf, sizeof buf);
    gw_feed_unref(feed);
    gw_ingest_free(ing);
    stream_close(s);
    gw_ingest_free(NULL);
}

int main(void)
{
    test_order();
    test_failure_drops_the_rest();
    test_free_with_work_queued();
    printf("gateway_ingest: all passed\n");
    return 0;
}

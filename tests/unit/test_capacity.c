/* The capacity estimator: no evidence gives the prior cost's estimate
 * (never over max_sessions); measured load
 * gives threads * target_load / busy per audio second; long queues hold
 * the estimate at the sessions held; old measurements leave the window;
 * the shedding order and its hysteresis. Times are passed in, so nothing
 * here depends on the machine's speed. */
#include "pipeline/capacity.h"
#include "test.h"

#define US_PER_S 1000000LL
#define START_US (1000 * US_PER_S)
#define RECORD_MS 100

static struct capacity *make(int max_sessions, int threads)
{
    struct capacity_config config;
    capacity_default_config(&config);
    config.max_sessions = max_sessions;
    config.threads = threads;
    return capacity_new(&config);
}

/* seconds of audio over as many seconds of wall time, each record costing
 * busy_per_audio_s of processing. */
static void feed(struct capacity *cap, int seconds, double busy_per_audio_s, int64_t delay_ms,
                 int64_t *now_us)
{
    for (int i = 0; i < seconds * 1000 / RECORD_MS; i++) {
        *now_us += RECORD_MS * 1000;
        capacity_record_delay(cap, delay_ms, *now_us);
        capacity_record_busy(cap, (int64_t)(busy_per_audio_s * RECORD_MS * 1000), RECORD_MS,
                             *now_us);
    }
}

/* 2 threads * 0.8 / the prior 0.25 s per audio second */
#define PRIOR_ESTIMATE_2_THREADS 6

static void test_no_evidence(void)
{
    struct capacity *cap = make(5, 2);
    struct capacity_stats stats;
    ASSERT_EQ(capacity_estimate(cap, 0, START_US, &stats), 5);
    ASSERT_EQ(stats.busy_per_audio_s == 0, 1);
    ASSERT_EQ(capacity_room(cap, 3, START_US), 2);
    ASSERT_EQ(capacity_room(cap, 7, START_US), 0);
    int64_t now = START_US;
    feed(cap, 1, 0.2, 0, &now); /* under CAPACITY_MIN_AUDIO_MS */
    ASSERT_EQ(capacity_estimate(cap, 1, now, NULL), 5);
    capacity_free(cap);
    /* a burst on an idle server: the prior, not max_sessions, bounds it */
    struct capacity *big = make(64, 2);
    ASSERT_EQ(capacity_estimate(big, 0, START_US, &stats), PRIOR_ESTIMATE_2_THREADS);
    ASSERT_EQ(stats.busy_per_audio_s == 0, 1);
    ASSERT_EQ(capacity_room(big, 0, START_US), PRIOR_ESTIMATE_2_THREADS);
    capacity_free(big);
    /* never below one session per thread */
    struct capacity *one = make(64, 1);
    ASSERT_EQ(capacity_estimate(one, 0, START_US, NULL) >= 1, 1);
    capacity_free(one);
    capacity_free(NULL);
}

static void test_measured_load(void)
{
    struct capacity *cap = make(64, 2);
    int64_t now = START_US;
    feed(cap, 5, 0.2, 10, &now);
    struct capacity_stats stats;
    /* 2 threads * 0.8 / 0.2 = 8 sessions */
    ASSERT_EQ(capacity_estimate(cap, 1, now, &stats), 8);
    ASSERT_EQ(stats.busy_per_audio_s > 0.19 && stats.busy_per_audio_s < 0.21, 1);
    ASSERT_EQ(stats.delay_p95_ms, 10);
    ASSERT_EQ(capacity_room(cap, 6, now), 2);
    /* the bound still holds */
    struct capacity *small = make(3, 2);
    int64_t t = START_US;
    feed(small, 5, 0.2, 10, &t);
    ASSERT_EQ(capacity_estimate(small, 1, t, NULL), 3);
    capacity_free(small);
    /* once the window has passed, the old load is forgotten */
    now += (CAPACITY_WINDOW_MS + 2000) * 1000LL;
    ASSERT_EQ(capacity_estimate(cap, 1, now, NULL), PRIOR_ESTIMATE_2_THREADS);
    capacity_free(cap);
}

static void test_queue_delay_holds(void)
{
    struct capacity *cap = make(64, 2);
    int64_t now = START_US;
    feed(cap, 5, 0.05, 900, &now); /* cheap, but records wait 0.9 s */
    struct capacity_stats stats;
    ASSERT_EQ(capacity_estimate(cap, 4, now, &stats), 4);
    ASSERT_EQ(stats.delay_p95_ms, 900);
    ASSERT_EQ(capacity_room(cap, 4, now), 0);
    /* below one session per thread the delay is not the pool's doing */
    ASSERT_EQ(capacity_estimate(cap, 0, now, NULL), 2);
    ASSERT_EQ(capacity_room(cap, 1, now), 1);
    capacity_free(cap);
}

static void test_target_load(void)
{
    struct capacity_config config;
    capacity_default_config(&config);
    config.threads = 1;
    config.target_load = 0.001; /* nothing real fits: one session per thread */
    struct capacity *cap = capacity_new(&config);
    int64_t now = START_US;
    feed(cap, 3, 0.2, 0, &now);
    ASSERT_EQ(capacity_estimate(cap, 1, now, NULL), 1);
    ASSERT_EQ(capacity_room(cap, 1, now), 0);
    ASSERT_EQ(capacity_room(cap, 0, now), 1);
    capacity_free(cap);
}

static void test_shedding_order(void)
{
    struct capacity *cap = make(4, 1); /* latency budget 1000 ms: threshold 500 */
    enum session_shedding level = SESSION_SHED_NONE;
    level = capacity_shedding(cap, level, 100);
    ASSERT_EQ(level, SESSION_SHED_NONE);
    level = capacity_shedding(cap, level, 600);
    ASSERT_EQ(level, SESSION_SHED_TRANSLATED_PARTIALS);
    level = capacity_shedding(cap, level, 400); /* under the threshold, not yet caught up */
    ASSERT_EQ(level, SESSION_SHED_TRANSLATED_PARTIALS);
    level = capacity_shedding(cap, level, 1500);
    ASSERT_EQ(level, SESSION_SHED_PARTIALS);
    level = capacity_shedding(cap, level, 700); /* still behind: keeps shedding partials */
    ASSERT_EQ(level, SESSION_SHED_PARTIALS);
    level = capacity_shedding(cap, level, 100);
    ASSERT_EQ(level, SESSION_SHED_NONE);
    capacity_free(cap);
}

int main(void)
{
    test_no_evidence();
    test_measured_load();
    test_queue_delay_holds();
    test_target_load();
    test_shedding_order();
    return 0;
}

/* The pacer on a synthetic clock: normal speed while listeners keep up,
 * faster (bounded) once the play-out lags, estimates replaced by
 * measurements, languages apart. */
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/pacer.h"
#include "test.h"
#include "util/err.h"

#define NORMAL 100
#define TARGET_MS 200
#define RAMP_MS 800
#define MAX_SPEED 150
#define MS_PER_BYTE 60

static struct pacer *make(void)
{
    struct pacer_params params = {TARGET_MS, RAMP_MS, MAX_SPEED, MS_PER_BYTE};
    struct pacer *p;
    ASSERT_OK(pacer_new(&params, &p));
    return p;
}

/* Sends a piece at now_ms that turns out to last actual_ms. */
static void send(struct pacer *p, const char *lang, int64_t now_ms, size_t bytes,
                 int64_t actual_ms)
{
    int speed = pacer_speed(p, lang, now_ms);
    int64_t estimate = pacer_queue(p, lang, now_ms, bytes, speed);
    pacer_measured(p, lang, estimate, actual_ms);
}

static void test_params(void)
{
    struct pacer_params params;
    pacer_default_params(&params);
    struct pacer *p;
    ASSERT_OK(pacer_new(&params, &p));
    pacer_free(p);
    params.max_speed = NORMAL - 1;
    ASSERT_EQ(pacer_new(&params, &p), BC_EINVAL);
    ASSERT(p == NULL);
    pacer_default_params(&params);
    params.ramp_ms = 0;
    ASSERT_EQ(pacer_new(&params, &p), BC_EINVAL);
    pacer_free(NULL);
}

/* Pieces no longer than the gaps between them never lag. */
static void test_keeping_up(void)
{
    struct pacer *p = make();
    ASSERT_EQ(pacer_speed(p, "es", 0), NORMAL);
    for (int64_t t = 0; t < 10000; t += 1000) {
        ASSERT_EQ(pacer_speed(p, "es", t), NORMAL);
        send(p, "es", t, 10, 900);
    }
    ASSERT_EQ(pacer_lag_ms(p, "es", 10000), 0);
    pacer_free(p);
}

/* Speech 1.5 times as long as its source builds a lag; the speed grows
 * with it, never beyond the maximum, and the normal speed returns once
 * the listener caught up. */
static void test_lag_speeds_up(void)
{
    struct pacer *p = make();
    int prev = NORMAL;
    int64_t t = 0;
    for (int i = 0; i < 6; i++, t += 1000) {
        int speed = pacer_speed(p, "es", t);
        ASSERT(speed >= prev);
        ASSERT(speed <= MAX_SPEED);
        prev = speed;
        send(p, "es", t, 20, 1500);
    }
    /* Lag 6 * 500 ms: beyond target + ramp. */
    ASSERT_EQ(pacer_lag_ms(p, "es", t), 3000);
    ASSERT_EQ(pacer_speed(p, "es", t), MAX_SPEED);
    /* Half-way up the ramp. */
    ASSERT_EQ(pacer_speed(p, "es", t + 3000 - TARGET_MS - RAMP_MS / 2), (NORMAL + MAX_SPEED) / 2);
    /* Within the target: no hurry. */
    ASSERT_EQ(pacer_speed(p, "es", t + 3000 - TARGET_MS), NORMAL);
    ASSERT_EQ(pacer_speed(p, "es", t + 5000), NORMAL);
    ASSERT_EQ(pacer_lag_ms(p, "es", t + 5000), 0);
    pacer_free(p);
}

/* A piece not measured yet counts with its estimate (text length, shorter
 * at a higher speed); the measurement replaces it. */
static void test_estimate(void)
{
    struct pacer *p = make();
    int64_t estimate = pacer_queue(p, "es", 0, 50, NORMAL);
    ASSERT_EQ(estimate, 50 * MS_PER_BYTE);
    ASSERT_EQ(pacer_lag_ms(p, "es", 0), 50 * MS_PER_BYTE);
    ASSERT_EQ(pacer_speed(p, "es", 0), MAX_SPEED);
    int64_t fast = pacer_queue(p, "es", 0, 50, MAX_SPEED);
    ASSERT_LT(fast, estimate);
    pacer_measured(p, "es", estimate, 1000);
    pacer_measured(p, "es", fast, 1000);
    ASSERT_EQ(pacer_lag_ms(p, "es", 0), 2000);
    pacer_free(p);
}

/* Each language has its own play-out; more languages than tracks reuse the
 * one idle longest. */
static void test_languages(void)
{
    struct pacer *p = make();
    send(p, "es", 0, 10, 5000);
    ASSERT_EQ(pacer_speed(p, "es", 0), MAX_SPEED);
    ASSERT_EQ(pacer_speed(p, "ca", 0), NORMAL);
    ASSERT_EQ(pacer_lag_ms(p, "ca", 0), 0);
    char lang[8];
    for (int i = 0; i < PACER_TRACKS_MAX + 2; i++) {
        snprintf(lang, sizeof lang, "l%d", i);
        send(p, lang, 0, 10, 100 + i);
    }
    ASSERT_EQ(pacer_lag_ms(p, "es", 0), 5000);
    pacer_free(p);
}

int main(void)
{
    test_params();
    test_keeping_up();
    test_lag_speeds_up();
    test_estimate();
    test_languages();
    printf("pacer: all tests passed\n");
    return 0;
}

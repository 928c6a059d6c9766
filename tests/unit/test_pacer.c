/* The pacer on a synthetic clock: the normal speed while pieces fit in the
 * target lag, the speed that makes them fit when the play-out lags
 * (bounded), estimates replaced by measurements and corrected by them,
 * languages apart. */
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/pacer.h"
#include "test.h"
#include "util/err.h"

#define NORMAL 100
#define TARGET_MS 1000
#define MAX_SPEED 150
#define MS_PER_BYTE 10 /* a piece of n bytes lasts n * 10 ms at the normal speed */

static struct pacer *make(void)
{
    struct pacer_params params = {TARGET_MS, MAX_SPEED, MS_PER_BYTE};
    struct pacer *p;
    ASSERT_OK(pacer_new(&params, &p));
    return p;
}

/* Sends a piece at now_ms as the pacer says, spoken by a synthesizer whose
 * length is exactly the estimate; returns its speed. */
static int send(struct pacer *p, const char *lang, int64_t now_ms, size_t bytes)
{
    int speed = pacer_speed(p, lang, now_ms, bytes);
    ASSERT(speed >= NORMAL && speed <= MAX_SPEED);
    int64_t estimate = pacer_queue(p, lang, now_ms, bytes, speed);
    pacer_measured(p, lang, estimate, estimate);
    return speed;
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
    params.target_lag_ms = 0;
    ASSERT_EQ(pacer_new(&params, &p), BC_EINVAL);
    pacer_default_params(&params);
    params.ms_per_byte = 0;
    ASSERT_EQ(pacer_new(&params, &p), BC_EINVAL);
    pacer_free(NULL);
}

/* Pieces shorter than the gaps between them never lag nor hurry. */
static void test_keeping_up(void)
{
    struct pacer *p = make();
    for (int64_t t = 0; t < 10000; t += 1000)
        ASSERT_EQ(send(p, "es", t, 60), NORMAL);
    ASSERT_EQ(pacer_lag_ms(p, "es", 10000), 0);
    pacer_free(p);
}

/* Alone, a piece that fits in the target goes at the normal speed; a
 * longer one at the speed that makes it fit; far longer, at the maximum. */
static void test_piece_length(void)
{
    struct pacer *p = make();
    ASSERT_EQ(pacer_speed(p, "es", 0, TARGET_MS / MS_PER_BYTE), NORMAL);
    ASSERT_EQ(pacer_speed(p, "es", 0, 120), 120);
    ASSERT_EQ(pacer_speed(p, "es", 0, 1000), MAX_SPEED);
    pacer_free(p);
}

/* Audio still queued leaves less room: the speed grows as the play-out
 * lags, up to the maximum, and falls back once the listener caught up. */
static void test_lag_speeds_up(void)
{
    struct pacer *p = make();
    ASSERT_EQ(send(p, "es", 0, 300), MAX_SPEED); /* 3000 ms at normal: 2000 at 150 % */
    ASSERT_EQ(pacer_lag_ms(p, "es", 0), 2000);
    int prev = MAX_SPEED + 1;
    for (int64_t t = 0; t <= 3000; t += 250) {
        int speed = pacer_speed(p, "es", t, 50); /* 500 ms */
        ASSERT(speed <= prev);
        prev = speed;
    }
    /* 500 ms queued leaves 500 ms of room for 500 ms: no hurry. */
    ASSERT_EQ(pacer_speed(p, "es", 1500, 50), NORMAL);
    /* 750 ms queued leaves 250 ms for 500: the maximum. */
    ASSERT_EQ(pacer_speed(p, "es", 1250, 50), MAX_SPEED);
    /* 600 ms queued leaves 400 ms for 500: 125 %. */
    ASSERT_EQ(pacer_speed(p, "es", 1400, 50), 125);
    ASSERT_EQ(pacer_speed(p, "es", 3000, 50), NORMAL);
    ASSERT_EQ(pacer_lag_ms(p, "es", 3000), 0);
    pacer_free(p);
}

/* Speech longer than its source builds a lag; pacing keeps it bounded. */
static void test_long_talk(void)
{
    struct pacer *paced = make(), *unpaced = make();
    for (int64_t t = 0; t < 60000; t += 1000) {
        send(paced, "es", t, 140); /* 1.4 s of speech per second of source */
        int64_t estimate = pacer_queue(unpaced, "es", t, 140, NORMAL);
        pacer_measured(unpaced, "es", estimate, estimate);
    }
    ASSERT_GT(pacer_lag_ms(unpaced, "es", 60000), 20000);
    ASSERT_LT(pacer_lag_ms(paced, "es", 60000), TARGET_MS);
    pacer_free(paced);
    pacer_free(unpaced);
}

/* A piece not measured yet counts with its estimate (shorter at a higher
 * speed); the measurement replaces it and corrects later estimates. */
static void test_estimate(void)
{
    struct pacer *p = make();
    int64_t normal = pacer_queue(p, "es", 0, 50, NORMAL);
    ASSERT_EQ(normal, 50 * MS_PER_BYTE);
    ASSERT_EQ(pacer_lag_ms(p, "es", 0), 50 * MS_PER_BYTE);
    int64_t fast = pacer_queue(p, "es", 0, 50, MAX_SPEED);
    ASSERT_LT(fast, normal);
    pacer_measured(p, "es", normal, 1000);
    pacer_measured(p, "es", fast, 1000);
    ASSERT_EQ(pacer_lag_ms(p, "es", 0), 2000);
    /* Speech twice as long as estimated, again and again: estimates follow. */
    int64_t before = pacer_queue(p, "ca", 0, 50, NORMAL);
    ASSERT_EQ(before, 50 * MS_PER_BYTE);
    pacer_measured(p, "ca", before, 2 * before);
    for (int i = 0; i < 20; i++) {
        int64_t e = pacer_queue(p, "ca", 0, 50, NORMAL);
        pacer_measured(p, "ca", e, 2 * 50 * MS_PER_BYTE);
    }
    int64_t after = pacer_queue(p, "ca", 0, 50, NORMAL);
    ASSERT_GT(after, before + before / 2);
    ASSERT(after <= 2 * before);
    /* Nothing spoken (a failed synthesis) teaches nothing. */
    pacer_measured(p, "ca", after, 0);
    ASSERT_EQ(pacer_queue(p, "ca", 0, 50, NORMAL), after);
    pacer_free(p);
}

/* Each language has its own play-out; more languages than tracks reuse the
 * one idle longest. */
static void test_languages(void)
{
    struct pacer *p = make();
    send(p, "es", 0, 500);
    ASSERT_EQ(pacer_speed(p, "es", 0, 10), MAX_SPEED);
    ASSERT_EQ(pacer_speed(p, "ca", 0, 10), NORMAL);
    ASSERT_EQ(pacer_lag_ms(p, "ca", 0), 0);
    char lang[8];
    for (int i = 0; i < PACER_TRACKS_MAX + 2; i++) {
        snprintf(lang, sizeof lang, "l%d", i);
        send(p, lang, 0, 10 + (size_t)i);
    }
    ASSERT_GT(pacer_lag_ms(p, "es", 0), 0);
    pacer_free(p);
}

int main(void)
{
    test_params();
    test_keeping_up();
    test_piece_length();
    test_lag_speeds_up();
    test_long_talk();
    test_estimate();
    test_languages();
    printf("pacer: all tests passed\n");
    return 0;
}

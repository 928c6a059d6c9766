#include "pipeline/capacity.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

#define CAPACITY_DEFAULT_TARGET_LOAD 0.8
#define CAPACITY_DEFAULT_LATENCY_BUDGET_MS 1000
#define CAPACITY_DEFAULT_MAX_SESSIONS 64
/* Busy time is summed in buckets of this length; the window is made of
 * whole buckets. */
#define CAPACITY_BUCKET_US 1000000
#define CAPACITY_BUCKETS (CAPACITY_WINDOW_MS / 1000)
/* Queue delays remembered (records of 100 ms: 10 s of 10 sessions). */
#define CAPACITY_DELAY_SAMPLES 1024
#define CAPACITY_PERCENTILE 0.95
#define US_PER_MS 1000
#define MS_PER_S 1000.0

struct busy_bucket {
    int64_t start_us; /* bucket start, a multiple of CAPACITY_BUCKET_US; 0: empty */
    int64_t busy_us;
    int64_t audio_ms;
};

struct delay_sample {
    int64_t at_us;
    int64_t delay_ms;
};

struct capacity {
    struct capacity_config config;
    pthread_mutex_t lock;
    struct busy_bucket buckets[CAPACITY_BUCKETS];
    struct delay_sample delays[CAPACITY_DELAY_SAMPLES];
    size_t next_delay, n_delays;
};

void capacity_default_config(struct capacity_config *config)
{
    config->max_sessions = CAPACITY_DEFAULT_MAX_SESSIONS;
    config->threads = 1;
    config->target_load = CAPACITY_DEFAULT_TARGET_LOAD;
    config->latency_budget_ms = CAPACITY_DEFAULT_LATENCY_BUDGET_MS;
}

struct capacity *capacity_new(const struct capacity_config *config)
{
    struct capacity *cap = bc_calloc(1, sizeof *cap);
    struct capacity_config defaults;
    capacity_default_config(&defaults);
    cap->config = *config;
    if (cap->config.max_sessions < 1)
        cap->config.max_sessions = defaults.max_sessions;
    if (cap->config.threads < 1)
        cap->config.threads = defaults.threads;
    if (!(cap->config.target_load > 0))
        cap->config.target_load = defaults.target_load;
    if (cap->config.latency_budget_ms < 1)
        cap->config.latency_budget_ms = defaults.latency_budget_ms;
    pthread_mutex_init(&cap->lock, NULL);
    return cap;
}

void capacity_free(struct capacity *cap)
{
    if (!cap)
        return;
    pthread_mutex_destroy(&cap->lock);
    free(cap);
}

static int64_t window_start_us(int64_t now_us)
{
    return now_us - (int64_t)CAPACITY_WINDOW_MS * US_PER_MS;
}

void capacity_record_busy(struct capacity *cap, int64_t busy_us, int64_t audio_ms, int64_t now_us)
{
    int64_t start = now_us - now_us % CAPACITY_BUCKET_US;
    pthread_mutex_lock(&cap->lock);
    struct busy_bucket *b = &cap->buckets[(start / CAPACITY_BUCKET_US) % CAPACITY_BUCKETS];
    if (b->start_us != start)
        *b = (struct busy_bucket){start, 0, 0};
    b->busy_us += busy_us > 0 ? busy_us : 0;
    b->audio_ms += audio_ms > 0 ? audio_ms : 0;
    pthread_mutex_unlock(&cap->lock);
}

void capacity_record_delay(struct capacity *cap, int64_t delay_ms, int64_t now_us)
{
    pthread_mutex_lock(&cap->lock);
    cap->delays[cap->next_delay] = (struct delay_sample){now_us, delay_ms > 0 ? delay_ms : 0};
    cap->next_delay = (cap->next_delay + 1) % CAPACITY_DELAY_SAMPLES;
    if (cap->n_delays < CAPACITY_DELAY_SAMPLES)
        cap->n_delays++;
    pthread_mutex_unlock(&cap->lock);
}

static int compare_ms(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Caller holds the lock. */
static int64_t delay_p95_locked(const struct capacity *cap, int64_t now_us)
{
    int64_t values[CAPACITY_DELAY_SAMPLES];
    size_t n = 0;
    for (size_t i = 0; i < cap->n_delays; i++) {
        if (cap->delays[i].at_us >= window_start_us(now_us))
            values[n++] = cap->delays[i].delay_ms;
    }
    if (n == 0)
        return 0;
    qsort(values, n, sizeof values[0], compare_ms);
    size_t rank = (size_t)(CAPACITY_PERCENTILE * (double)(n - 1) + 0.5);
    return values[rank];
}

int capacity_estimate(struct capacity *cap, size_t sessions, int64_t now_us,
                      struct capacity_stats *stats)
{
    struct capacity_stats s;
    memset(&s, 0, sizeof s);
    int64_t busy_us = 0, audio_ms = 0;
    pthread_mutex_lock(&cap->lock);
    for (size_t i = 0; i < CAPACITY_BUCKETS; i++) {
        const struct busy_bucket *b = &cap->buckets[i];
        if (b->start_us && b->start_us + CAPACITY_BUCKET_US > window_start_us(now_us)) {
            busy_us += b->busy_us;
            audio_ms += b->audio_ms;
        }
    }
    s.delay_p95_ms = delay_p95_locked(cap, now_us);
    pthread_mutex_unlock(&cap->lock);
    const struct capacity_config *c = &cap->config;
    int floor = c->threads < c->max_sessions ? c->threads : c->max_sessions;
    s.audio_s = (double)audio_ms / MS_PER_S;
    s.estimate = c->max_sessions;
    int measured = audio_ms >= CAPACITY_MIN_AUDIO_MS && busy_us > 0;
    if (measured)
        s.busy_per_audio_s = (double)busy_us / US_PER_MS / (double)audio_ms;
    double per_session = measured ? s.busy_per_audio_s : CAPACITY_PRIOR_BUSY_PER_AUDIO_S;
    double affordable = (double)c->threads * c->target_load / per_session;
    if (affordable < (double)s.estimate)
        s.estimate = affordable > floor ? (int)affordable : floor;
    /* Queues already too long: whatever the load says, no more sessions
     * until they shorten. Below the floor no record waits for a thread, so
     * a delay there is the machine's, not this pool's queues. */
    size_t held = sessions > (size_t)floor ? sessions : (size_t)floor;
    if (s.delay_p95_ms > c->latency_budget_ms / 2 && (size_t)s.estimate > held)
        s.estimate = (int)held;
    if (stats)
        *stats = s;
    return s.estimate;
}

int capacity_room(struct capacity *cap, size_t sessions, int64_t now_us)
{
    int estimate = capacity_estimate(cap, sessions, now_us, NULL);
    return (size_t)estimate > sessions ? estimate - (int)sessions : 0;
}

enum session_shedding capacity_shedding(const struct capacity *cap,
                                        enum session_shedding current, int64_t delay_ms)
{
    int64_t threshold = cap->config.latency_budget_ms / 2;
    if (delay_ms > 2 * threshold)
        return SESSION_SHED_PARTIALS;
    if (delay_ms > threshold)
        return current > SESSION_SHED_TRANSLATED_PARTIALS ? current
                                                           : SESSION_SHED_TRANSLATED_PARTIALS;
    if (delay_ms < threshold / 2)
        return SESSION_SHED_NONE;
    return current;
}

/* Metrics registry: the exposition text line by line (escaping, histogram
 * buckets, number formats), the series bound, clearing, collectors,
 * concurrent updates and the process metrics read from /proc/self. */
#include <math.h>
#include <pthread.h>

#include "metrics/metrics.h"
#include "test.h"
#include "util/err.h"

#define THREADS 4
#define ADDS_PER_THREAD 50000
#define BUSY_ITERATIONS 50000000L

static const double buckets[] = {0.1, 0.5, 1};
static const struct metrics_desc requests = {.type = METRICS_COUNTER,
                                             .name = "test_requests_total",
                                             .help =
                                                 "Requests, by path.\nSecond line \\ backslash.",
                                             .labels = {"path", "code"}};
static const struct metrics_desc plain = {
    .type = METRICS_COUNTER, .name = "test_plain_total", .help = "A counter without labels."};
static const struct metrics_desc level = {
    .type = METRICS_GAUGE, .name = "test_level", .help = "A gauge.", .labels = {"lang"}};
static const struct metrics_desc latency = {.type = METRICS_HISTOGRAM,
                                            .name = "test_latency_seconds",
                                            .help = "A histogram.",
                                            .labels = {"lang"},
                                            .buckets = buckets,
                                            .n_buckets = 3};
static const struct metrics_desc unlabeled_histogram = {.type = METRICS_HISTOGRAM,
                                                        .name = "test_plain_seconds",
                                                        .help = "An unlabeled histogram.",
                                                        .buckets = buckets,
                                                        .n_buckets = 3};

static char *render(void)
{
    char *text;
    size_t len;
    metrics_render(&text, &len);
    ASSERT_EQ(strlen(text), len);
    ASSERT(len > 0 && text[len - 1] == '\n');
    return text;
}

static void test_counters_and_escaping(void)
{
    metrics_reset();
    metrics_register(&plain);
    char *text = render();
    ASSERT_STR_CONTAINS(text, "# HELP test_plain_total A counter without labels.\n"
                              "# TYPE test_plain_total counter\ntest_plain_total 0\n");
    free(text);
    const char *a[] = {"/api", "200"};
    const char *odd[] = {"quote\" back\\slash\nnewline", "500"};
    metrics_add(&requests, a, 1);
    metrics_add(&requests, a, 2);
    metrics_add(&requests, odd, 1);
    metrics_add(&plain, NULL, 12345678);
    text = render();
    ASSERT_STR_CONTAINS(
        text, "# HELP test_requests_total Requests, by path.\\nSecond line \\\\ backslash.\n");
    ASSERT_STR_CONTAINS(text, "test_requests_total{path=\"/api\",code=\"200\"} 3\n");
    ASSERT_STR_CONTAINS(
        text, "test_requests_total{path=\"quote\\\" back\\\\slash\\nnewline\",code=\"500\"} 1\n");
    ASSERT_STR_CONTAINS(text, "test_plain_total 12345678\n");
    /* Families are sorted by name whatever the order they came in. */
    ASSERT(strstr(text, "test_plain_total") < strstr(text, "test_requests_total"));
    free(text);
}

static void test_numbers(void)
{
    metrics_reset();
    const char *en[] = {"en"}, *es[] = {"es"}, *ca[] = {"ca"}, *fr[] = {"fr"};
    metrics_set(&level, en, 0.1);
    metrics_set(&level, es, 0.1 + 0.2); /* not 0.3: must print what reads back */
    metrics_set(&level, ca, -2.5e-7);
    metrics_set(&level, fr, INFINITY);
    char *text = render();
    ASSERT_STR_CONTAINS(text, "test_level{lang=\"en\"} 0.1\n");
    ASSERT_STR_CONTAINS(text, "test_level{lang=\"es\"} 0.30000000000000004\n");
    ASSERT_STR_CONTAINS(text, "test_level{lang=\"ca\"} -2.5e-07\n");
    ASSERT_STR_CONTAINS(text, "test_level{lang=\"fr\"} +Inf\n");
    free(text);
}

static void test_histogram(void)
{
    metrics_reset();
    const char *es[] = {"es"};
    double values[] = {0.05, 0.1, 0.3, 0.7, 2};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        metrics_observe(&latency, es, values[i]);
    metrics_register(&unlabeled_histogram);
    char *text = render();
    /* Buckets are cumulative and a bound includes its value. */
    ASSERT_STR_CONTAINS(text, "# TYPE test_latency_seconds histogram\n"
                              "test_latency_seconds_bucket{lang=\"es\",le=\"0.1\"} 2\n"
                              "test_latency_seconds_bucket{lang=\"es\",le=\"0.5\"} 3\n"
                              "test_latency_seconds_bucket{lang=\"es\",le=\"1\"} 4\n"
                              "test_latency_seconds_bucket{lang=\"es\",le=\"+Inf\"} 5\n"
                              "test_latency_seconds_sum{lang=\"es\"} 3.15\n"
                              "test_latency_seconds_count{lang=\"es\"} 5\n");
    ASSERT_STR_CONTAINS(text, "test_plain_seconds_bucket{le=\"+Inf\"} 0\n"
                              "test_plain_seconds_sum 0\ntest_plain_seconds_count 0\n");
    free(text);
}

static void test_series_bound_and_clear(void)
{
    metrics_reset();
    char name[16];
    for (int i = 0; i <= METRICS_SERIES_MAX; i++) {
        snprintf(name, sizeof name, "l%d", i);
        const char *labels[] = {name};
        metrics_set(&level, labels, i);
    }
    char *text = render();
    ASSERT_STR_CONTAINS(text, "test_level{lang=\"l255\"} 255\n");
    ASSERT(!strstr(text, "lang=\"l256\""));
    ASSERT_STR_CONTAINS(text, "babelcast_metrics_series_dropped_total 1\n");
    free(text);
    metrics_clear(&level);
    const char *es[] = {"es"};
    metrics_set(&level, es, 4);
    text = render();
    ASSERT(!strstr(text, "lang=\"l0\""));
    ASSERT_STR_CONTAINS(text, "# TYPE test_level gauge\ntest_level{lang=\"es\"} 4\n");
    free(text);
}

static void collect(void *user_data)
{
    int *calls = user_data;
    (*calls)++;
    metrics_set(&level, (const char *[]){"collected"}, *calls);
}

static void test_collectors(void)
{
    metrics_reset();
    int calls = 0;
    ASSERT_OK(metrics_collector_add(collect, &calls));
    char *text = render();
    ASSERT_EQ(calls, 1);
    ASSERT_STR_CONTAINS(text, "test_level{lang=\"collected\"} 1\n");
    free(text);
    metrics_collector_remove(collect, &calls);
    free(render());
    ASSERT_EQ(calls, 1);
    int full = 0;
    for (;;) {
        int rc = metrics_collector_add(collect, &full);
        if (rc < 0) {
            ASSERT_EQ(rc, BC_ELIMIT);
            break;
        }
    }
    metrics_reset();
    free(render());
    ASSERT_EQ(full, 0);
}

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < ADDS_PER_THREAD; i++) {
        metrics_add(&plain, NULL, 1);
        metrics_observe(&unlabeled_histogram, NULL, 0.2);
    }
    return NULL;
}

static void test_threads(void)
{
    metrics_reset();
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_create(&threads[i], NULL, adder, NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        free(render()); /* rendering while others add */
        pthread_join(threads[i], NULL);
    }
    char *text = render();
    char expected[128];
    snprintf(expected, sizeof expected, "test_plain_total %d\n", THREADS * ADDS_PER_THREAD);
    ASSERT_STR_CONTAINS(text, expected);
    snprintf(expected, sizeof expected, "test_plain_seconds_bucket{le=\"0.5\"} %d\n",
             THREADS * ADDS_PER_THREAD);
    ASSERT_STR_CONTAINS(text, expected);
    free(text);
}

/* The value of an unlabeled sample in text, or -1. */
static double sample(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static void test_process(void)
{
    metrics_reset();
    volatile double sink = 0;
    for (long i = 0; i < BUSY_ITERATIONS; i++)
        sink += (double)i;
    char *text = render();
    ASSERT_STR_CONTAINS(text, "# TYPE process_cpu_seconds_total counter\n");
    ASSERT(sample(text, "process_cpu_seconds_total") > 0);
    ASSERT(sample(text, "process_resident_memory_bytes") > 1024 * 1024);
    ASSERT(sample(text, "process_virtual_memory_bytes") >=
           sample(text, "process_resident_memory_bytes"));
    ASSERT(sample(text, "process_open_fds") >= 3);
    ASSERT(sample(text, "process_threads") >= 1);
    ASSERT(sample(text, "process_start_time_seconds") > 1.5e9);
    free(text);
}

int main(void)
{
    test_counters_and_escaping();
    test_numbers();
    test_histogram();
    test_series_bound_and_clear();
    test_collectors();
    test_threads();
    test_process();
    metrics_reset();
    printf("metrics: all passed\n");
    return 0;
}

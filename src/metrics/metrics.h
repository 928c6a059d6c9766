/* A process-wide registry of Prometheus metrics (counters, gauges,
 * histograms), rendered in the text exposition format 0.0.4.
 *
 * A metric is described once by a static struct metrics_desc; every call
 * names it by that descriptor's address, and the first call registers it.
 * Label values are given in the order of the descriptor's label names and
 * copied. A family holds at most METRICS_SERIES_MAX label combinations: a
 * further combination is not recorded (and counted in
 * babelcast_metrics_series_dropped_total) rather than grow without bound.
 *
 * Threads: every function is thread-safe (one mutex; no engine or network
 * call is made under it). Collectors run on the thread that renders. */
#ifndef BC_METRICS_H
#define BC_METRICS_H

#include <stddef.h>

#define METRICS_SERIES_MAX 256
#define METRICS_LABELS_MAX 4
#define METRICS_BUCKETS_MAX 24
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_desc {
    enum metrics_type type;
    const char *name; /* snake_case; counters end in _total, units are base units */
    const char *help;
    const char *labels[METRICS_LABELS_MAX]; /* label names; unused slots NULL */
    const double *buckets;                  /* histograms: upper bounds, ascending, +Inf implied */
    size_t n_buckets;                       /* at most METRICS_BUCKETS_MAX */
};

/* Registers desc (and, for a metric without labels, its one series at 0),
 * so it is rendered before anything was recorded. Idempotent. */
void metrics_register(const struct metrics_desc *desc);
/* Adds v (>= 0) to a counter, or to a gauge. */
void metrics_add(const struct metrics_desc *desc, const char *const *label_values, double v);
/* Sets a gauge, or a counter that mirrors a count kept elsewhere (such as
 * the CPU time the kernel keeps). */
void metrics_set(const struct metrics_desc *desc, const char *const *label_values, double v);
/* Counts v into a histogram. */
void metrics_observe(const struct metrics_desc *desc, const char *const *label_values, double v);
/* Forgets every series of desc: for gauges set in full by a collector, so a
 * label combination that is gone stops being rendered. */
void metrics_clear(const struct metrics_desc *desc);

/* Called at the start of every metrics_render, outside the registry lock,
 * to set gauges from their sources. */
typedef void (*metrics_collect_fn)(void *user_data);
/* Returns 0, or BC_ELIMIT when METRICS_COLLECTORS_MAX are registered. */
int metrics_collector_add(metrics_collect_fn fn, void *user_data);
/* Removes a collector; when this returns, it is not running and will not run. */
void metrics_collector_remove(metrics_collect_fn fn, void *user_data);

/* The exposition text (process metrics from /proc/self included) into
 * *text (heap, NUL-terminated; free it) and its length into *len. */
void metrics_render(char **text, size_t *len);

/* Forgets every metric and collector (tests). */
void metrics_reset(void);

#endif

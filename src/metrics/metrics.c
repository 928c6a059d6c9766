#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics_process.h"
#include "util/alloc.h"
#include "util/err.h"

#define METRICS_FAMILIES_MAX 64
#define METRICS_COLLECTORS_MAX 8
#define METRICS_TEXT_INITIAL 4096
#define METRICS_NUMBER_MAX 40
/* Digits that print most decimal constants as written; 17 always round-trips. */
#define METRICS_SHORT_DIGITS 15
#define METRICS_EXACT_DIGITS 17
/* Integers below 2^53 are exact in a double and print without an exponent. */
#define METRICS_EXACT_INT_MAX 9007199254740992.0

struct series {
    char *values[METRICS_LABELS_MAX];
    double value;
    double sum;
    uint64_t count;
    uint64_t buckets[METRICS_BUCKETS_MAX]; /* observations in each bucket alone */
};

struct family {
    const struct metrics_desc *desc;
    size_t n_labels;
    struct series *series[METRICS_SERIES_MAX];
    size_t n_series;
};

struct collector {
    metrics_collect_fn fn;
    void *user_data;
};

static const struct metrics_desc dropped_desc = {
    .type = METRICS_COUNTER,
    .name = "babelcast_metrics_series_dropped_total",
    .help = "Measurements not recorded because their metric had too many label combinations."};

static struct {
    pthread_mutex_t lock; /* families, dropped */
    struct family *families[METRICS_FAMILIES_MAX];
    size_t n_families;
    uint64_t dropped;
    pthread_mutex_t collect_lock; /* collectors; held while they run */
    struct collector collectors[METRICS_COLLECTORS_MAX];
    size_t n_collectors;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER, .collect_lock = PTHREAD_MUTEX_INITIALIZER};

static size_t label_count(const struct metrics_desc *desc)
{
    size_t n = 0;
    while (n < METRICS_LABELS_MAX && desc->labels[n])
        n++;
    return n;
}

static struct series *series_new(const struct family *f, const char *const *values)
{
    struct series *s = bc_calloc(1, sizeof *s);
    for (size_t i = 0; i < f->n_labels; i++)
        s->values[i] = bc_strdup(values && values[i] ? values[i] : "");
    return s;
}

static void series_free(struct series *s, size_t n_labels)
{
    for (size_t i = 0; i < n_labels; i++)
        free(s->values[i]);
    free(s);
}

/* Caller holds reg.lock. NULL when the registry is full. */
static struct family *family_for(const struct metrics_desc *desc)
{
    for (size_t i = 0; i < reg.n_families; i++) {
        if (reg.families[i]->desc == desc)
            return reg.families[i];
    }
    if (reg.n_families == METRICS_FAMILIES_MAX)
        return NULL;
    struct family *f = bc_calloc(1, sizeof *f);
    f->desc = desc;
    f->n_labels = label_count(desc);
    if (f->n_labels == 0)
        f->series[f->n_series++] = series_new(f, NULL);
    reg.families[reg.n_families++] = f;
    return f;
}

/* Caller holds reg.lock. NULL (and counted) when the family is full. */
static struct series *series_for(const struct metrics_desc *desc, const char *const *values)
{
    struct family *f = family_for(desc);
    if (!f) {
        reg.dropped++;
        return NULL;
    }
    for (size_t i = 0; i < f->n_series; i++) {
        struct series *s = f->series[i];
        size_t k = 0;
        while (k < f->n_labels && strcmp(s->values[k], values && values[k] ? values[k] : "") == 0)
            k++;
        if (k == f->n_labels)
            return s;
    }
    if (f->n_series == METRICS_SERIES_MAX) {
        reg.dropped++;
        return NULL;
    }
    struct series *s = series_new(f, values);
    f->series[f->n_series++] = s;
    return s;
}

void metrics_register(const struct metrics_desc *desc)
{
    pthread_mutex_lock(&reg.lock);
    if (!family_for(desc))
        reg.dropped++;
    pthread_mutex_unlock(&reg.lock);
}

void metrics_add(const struct metrics_desc *desc, const char *const *label_values, double v)
{
    pthread_mutex_lock(&reg.lock);
    struct series *s = series_for(desc, label_values);
    if (s)
        s->value += v;
    pthread_mutex_unlock(&reg.lock);
}

void metrics_set(const struct metrics_desc *desc, const char *const *label_values, double v)
{
    pthread_mutex_lock(&reg.lock);
    struct series *s = series_for(desc, label_values);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&reg.lock);
}

void metrics_observe(const struct metrics_desc *desc, const char *const *label_values, double v)
{
    pthread_mutex_lock(&reg.lock);
    struct series *s = series_for(desc, label_values);
    if (s) {
        size_t n = desc->n_buckets < METRICS_BUCKETS_MAX ? desc->n_buckets : METRICS_BUCKETS_MAX;
        size_t b = 0;
        while (b < n && v > desc->buckets[b])
            b++;
        if (b < n)
            s->buckets[b]++;
        s->sum += v;
        s->count++;
    }
    pthread_mutex_unlock(&reg.lock);
}

void metrics_clear(const struct metrics_desc *desc)
{
    pthread_mutex_lock(&reg.lock);
    struct family *f = family_for(desc);
    if (f && f->n_labels > 0) {
        for (size_t i = 0; i < f->n_series; i++)
            series_free(f->series[i], f->n_labels);
        f->n_series = 0;
    }
    pthread_mutex_unlock(&reg.lock);
}

int metrics_collector_add(metrics_collect_fn fn, void *user_data)
{
    pthread_mutex_lock(&reg.collect_lock);
    int rc = BC_ELIMIT;
    if (reg.n_collectors < METRICS_COLLECTORS_MAX) {
        reg.collectors[reg.n_collectors++] = (struct collector){fn, user_data};
        rc = 0;
    }
    pthread_mutex_unlock(&reg.collect_lock);
    return rc;
}

void metrics_collector_remove(metrics_collect_fn fn, void *user_data)
{
    pthread_mutex_lock(&reg.collect_lock);
    for (size_t i = 0; i < reg.n_collectors; i++) {
        if (reg.collectors[i].fn == fn && reg.collectors[i].user_data == user_data) {
            reg.collectors[i] = reg.collectors[--reg.n_collectors];
            break;
        }
    }
    pthread_mutex_unlock(&reg.collect_lock);
}

/* ---- text exposition ---- */

struct text {
    char *buf;
    size_t len, cap;
};

static void put(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        while (t->len + n + 1 > t->cap)
            t->cap = t->cap ? t->cap * 2 : METRICS_TEXT_INITIAL;
        t->buf = bc_realloc(t->buf, t->cap);
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void put_str(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* HELP text escapes backslash and newline; label values also the quote. */
static void put_escaped(struct text *t, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            put_str(t, "\\\\");
        else if (*s == '\n')
            put_str(t, "\\n");
        else if (*s == '"' && quote)
            put_str(t, "\\\"");
        else
            put(t, s, 1);
    }
}

/* Shortest text that reads back as v; integers without an exponent. */
static void put_number(struct text *t, double v)
{
    char buf[METRICS_NUMBER_MAX];
    if (isnan(v))
        snprintf(buf, sizeof buf, "NaN");
    else if (isinf(v))
        snprintf(buf, sizeof buf, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < METRICS_EXACT_INT_MAX)
        snprintf(buf, sizeof buf, "%.0f", v);
    else {
        snprintf(buf, sizeof buf, "%.*g", METRICS_SHORT_DIGITS, v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, sizeof buf, "%.*g", METRICS_EXACT_DIGITS, v);
    }
    put_str(t, buf);
}

/* name{labels[,le="bound"]} value */
static void put_sample(struct text *t, const struct family *f, const struct series *s,
                       const char *suffix, const char *le, double v)
{
    put_str(t, f->desc->name);
    put_str(t, suffix);
    if (f->n_labels > 0 || le) {
        put_str(t, "{");
        for (size_t i = 0; i < f->n_labels; i++) {
            if (i > 0)
                put_str(t, ",");
            put_str(t, f->desc->labels[i]);
            put_str(t, "=\"");
            put_escaped(t, s->values[i], 1);
            put_str(t, "\"");
        }
        if (le) {
            put_str(t, f->n_labels > 0 ? ",le=\"" : "le=\"");
            put_str(t, le);
            put_str(t, "\"");
        }
        put_str(t, "}");
    }
    put_str(t, " ");
    put_number(t, v);
    put_str(t, "\n");
}

static void put_histogram(struct text *t, const struct family *f, const struct series *s)
{
    uint64_t cumulative = 0;
    size_t n = f->desc->n_buckets < METRICS_BUCKETS_MAX ? f->desc->n_buckets : METRICS_BUCKETS_MAX;
    for (size_t b = 0; b < n; b++) {
        struct text le = {0};
        put_number(&le, f->desc->buckets[b]);
        cumulative += s->buckets[b];
        put_sample(t, f, s, "_bucket", le.buf, (double)cumulative);
        free(le.buf);
    }
    put_sample(t, f, s, "_bucket", "+Inf", (double)s->count);
    put_sample(t, f, s, "_sum", NULL, s->sum);
    put_sample(t, f, s, "_count", NULL, (double)s->count);
}

static void put_family(struct text *t, const struct family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    put_str(t, "# HELP ");
    put_str(t, f->desc->name);
    put_str(t, " ");
    put_escaped(t, f->desc->help, 0);
    put_str(t, "\n# TYPE ");
    put_str(t, f->desc->name);
    put_str(t, " ");
    put_str(t, type_names[f->desc->type]);
    put_str(t, "\n");
    for (size_t i = 0; i < f->n_series; i++) {
        if (f->desc->type == METRICS_HISTOGRAM)
            put_histogram(t, f, f->series[i]);
        else
            put_sample(t, f, f->series[i], "", NULL, f->series[i]->value);
    }
}

static int by_name(const void *a, const void *b)
{
    const struct family *fa = *(const struct family *const *)a;
    const struct family *fb = *(const struct family *const *)b;
    return strcmp(fa->desc->name, fb->desc->name);
}

void metrics_render(char **text, size_t *len)
{
    pthread_mutex_lock(&reg.collect_lock);
    for (size_t i = 0; i < reg.n_collectors; i++)
        reg.collectors[i].fn(reg.collectors[i].user_data);
    pthread_mutex_unlock(&reg.collect_lock);
    metrics_process_collect();

    pthread_mutex_lock(&reg.lock);
    struct series *s = series_for(&dropped_desc, NULL);
    if (s)
        s->value = (double)reg.dropped;
    /* A stable order: families register in whatever order events come. */
    qsort(reg.families, reg.n_families, sizeof reg.families[0], by_name);
    struct text t = {0};
    put(&t, "", 0);
    for (size_t i = 0; i < reg.n_families; i++)
        put_family(&t, reg.families[i]);
    pthread_mutex_unlock(&reg.lock);
    *text = t.buf;
    *len = t.len;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&reg.collect_lock);
    reg.n_collectors = 0;
    pthread_mutex_unlock(&reg.collect_lock);
    pthread_mutex_lock(&reg.lock);
    for (size_t i = 0; i < reg.n_families; i++) {
        struct family *f = reg.families[i];
        for (size_t k = 0; k < f->n_series; k++)
            series_free(f->series[k], f->n_labels);
        free(f);
    }
    reg.n_families = 0;
    reg.dropped = 0;
    pthread_mutex_unlock(&reg.lock);
}

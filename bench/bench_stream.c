/* Ingestion stream: append throughput of 3200-byte records (100 ms of
 * 16 kHz PCM16) and append->read latency with a notified reader that
 * checkpoints every record, as a session worker does, and the time one
 * append takes; mem:// and file:// (default fsync interval), redis://
 * when a Redis URL is given (sessions "bench-PID-..." are ended after), and
 * kinesis:// when a Kinesis URL is given (an existing stream, e.g. on
 * kinesalite; leases and checkpoints in a temporary directory; the
 * throughput run appends without checkpoints, which only a reader holding
 * the shard may write).
 * Usage: bench_stream [records] [redis://host:port|-] [kinesis://NAME?region=R&...] */
#define _XOPEN_SOURCE 700 /* nftw */

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream/stream.h"
#include "test_paths.h"
#include "util/err.h"
#include "util/timeutil.h"

#define RECORD_BYTES 3200
#define DEFAULT_RECORDS 20000
#define CHECKPOINT_EVERY_RECORDS 500
#define LATENCY_RECORDS 1000
#define LATENCY_GAP_US 10000 /* a 100 ms record every 10 ms: 10x real time */
#define BACKOFF_US 100
#define KINESIS_SCHEME "kinesis://"

/* Where kinesis:// keeps its leases and checkpoints (set in main). */
static const char *g_state_dir;

static int open_stream(const char *url, struct stream **s)
{
    struct stream_params p;
    stream_default_params(&p);
    p.state_dir = g_state_dir;
    return stream_open(url, &p, s);
}

struct reader {
    struct stream *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int woken, done;
    char id[STREAM_SESSION_ID_MAX];
    int64_t *latency_us, *checkpoint_us, *append_us;
    size_t n;
};

static void on_append(void *user_data, const char *session_id)
{
    struct reader *r = user_data;
    pthread_mutex_lock(&r->mu);
    r->woken = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void *read_loop(void *arg)
{
    struct reader *r = arg;
    uint64_t after = 0;
    while (r->n < LATENCY_RECORDS) {
        pthread_mutex_lock(&r->mu);
        while (!r->woken)
            pthread_cond_wait(&r->cv, &r->mu);
        r->woken = 0;
        pthread_mutex_unlock(&r->mu);
        struct stream_record *rec = NULL;
        while (r->n < LATENCY_RECORDS && stream_read(r->s, r->id, after, &rec) == 0) {
            int64_t sent_us;
            memcpy(&sent_us, rec->data, sizeof(sent_us));
            r->latency_us[r->n] = bc_now_us() - sent_us;
            after = rec->seq;
            free(rec);
            int64_t t0 = bc_now_us();
            if (stream_checkpoint(r->s, r->id, after, &after, sizeof(after)) != 0)
                fprintf(stderr, "checkpoint failed\n");
            r->checkpoint_us[r->n++] = bc_now_us() - t0;
        }
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t pct(int64_t *v, size_t n, int p)
{
    qsort(v, n, sizeof(*v), cmp_i64);
    return v[(n - 1) * (size_t)p / 100];
}

static int throughput(const char *url, const uint8_t *audio, size_t records, double *rps)
{
    struct stream *s = NULL;
    char id[STREAM_SESSION_ID_MAX];
    snprintf(id, sizeof id, "tput-%ld-%lld", (long)getpid(), (long long)bc_wall_ms());
    if (open_stream(url, &s) != 0)
        return -1;
    int checkpoints = strncmp(url, KINESIS_SCHEME, strlen(KINESIS_SCHEME)) != 0;
    int64_t t0 = bc_now_us();
    for (size_t i = 0; i < records; i++) {
        uint64_t seq;
        int rc;
        while ((rc = stream_append(s, id, STREAM_KIND_AUDIO, audio, RECORD_BYTES, &seq)) ==
               BC_EAGAIN)
            bc_sleep_us(BACKOFF_US);
        if (rc != 0 || (checkpoints && (i + 1) % CHECKPOINT_EVERY_RECORDS == 0 &&
                        stream_checkpoint(s, id, seq, NULL, 0) != 0)) {
            stream_close(s);
            return -1;
        }
    }
    int64_t t1 = bc_now_us();
    stream_session_ended(s, id);
    stream_close(s); /* includes the final fsync, outside the timing */
    *rps = (double)records * 1e6 / (double)(t1 - t0);
    return 0;
}

/* out: append->read p50, p99, checkpoint p50, append p50, p99 (us). */
static int latency(const char *url, uint8_t *audio, int64_t out[5])
{
    struct reader r = {.latency_us = calloc(LATENCY_RECORDS, sizeof(int64_t)),
                       .checkpoint_us = calloc(LATENCY_RECORDS, sizeof(int64_t)),
                       .append_us = calloc(LATENCY_RECORDS, sizeof(int64_t))};
    snprintf(r.id, sizeof r.id, "bench-%ld-%lld", (long)getpid(), (long long)bc_wall_ms());
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    int rc = open_stream(url, &r.s);
    pthread_t th;
    if (rc == 0) {
        stream_set_notify(r.s, on_append, &r);
        pthread_create(&th, NULL, read_loop, &r);
        for (size_t i = 0; i < LATENCY_RECORDS && rc == 0; i++) {
            int64_t now = bc_now_us();
            memcpy(audio, &now, sizeof(now));
            rc = stream_append(r.s, r.id, STREAM_KIND_AUDIO, audio, RECORD_BYTES, NULL);
            r.append_us[i] = bc_now_us() - now;
            bc_sleep_us(LATENCY_GAP_US);
        }
        if (rc == 0) {
            pthread_join(th, NULL);
            out[0] = pct(r.latency_us, LATENCY_RECORDS, 50);
            out[1] = pct(r.latency_us, LATENCY_RECORDS, 99);
            out[2] = pct(r.checkpoint_us, LATENCY_RECORDS, 50);
            out[3] = pct(r.append_us, LATENCY_RECORDS, 50);
            out[4] = pct(r.append_us, LATENCY_RECORDS, 99);
        }
        stream_session_ended(r.s, r.id);
        stream_close(r.s);
    }
    free(r.latency_us);
    free(r.checkpoint_us);
    free(r.append_us);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

int main(int argc, char **argv)
{
    size_t records = argc > 1 ? strtoul(argv[1], NULL, 10) : DEFAULT_RECORDS;
    if (records == 0) {
        fprintf(stderr, "usage: bench_stream [records] [redis://host:port|-] [kinesis://...]\n");
        return 2;
    }
    uint8_t audio[RECORD_BYTES];
    FILE *f = fopen(TEST_GOFORWARD_RAW, "rb");
    if (!f || fread(audio, 1, sizeof(audio), f) != sizeof(audio)) {
        fprintf(stderr, "cannot read %s\n", TEST_GOFORWARD_RAW);
        return 1;
    }
    fclose(f);
    char root[512];
    snprintf(root, sizeof(root), "%s/bench_stream_XXXXXX", TEST_BUILD_DIR);
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    char file_tput[600], file_lat[600];
    snprintf(file_tput, sizeof(file_tput), "file://%s/tput", root);
    snprintf(file_lat, sizeof(file_lat), "file://%s/lat", root);
    g_state_dir = root;
    const char *redis = argc > 2 && strcmp(argv[2], "-") != 0 ? argv[2] : NULL;
    const char *kinesis = argc > 3 ? argv[3] : NULL;
    const char *names[] = {"mem://", "file:// (fsync 200 ms)", "redis://", "kinesis://"};
    const char *urls[][2] = {
        {"mem://", "mem://"}, {file_tput, file_lat}, {redis, redis}, {kinesis, kinesis}};
    size_t backends = sizeof names / sizeof names[0];

    printf("%zu appends of %d-byte records; latency over %d records, one per %d us, "
           "reader checkpoints each\n\n",
           records, RECORD_BYTES, LATENCY_RECORDS, LATENCY_GAP_US);
    printf("%-24s %12s %8s %13s %13s %11s %10s %10s\n", "backend", "append rec/s", "MB/s",
           "append->read", "append->read", "checkpoint", "append", "append");
    printf("%-24s %12s %8s %13s %13s %11s %10s %10s\n", "", "", "", "p50 us", "p99 us", "p50 us",
           "p50 us", "p99 us");
    int status = 0;
    for (size_t b = 0; b < backends; b++) {
        if (!urls[b][0])
            continue;
        double rps = 0;
        int64_t lat[5] = {0};
        if (throughput(urls[b][0], audio, records, &rps) != 0 || latency(urls[b][1], audio, lat)) {
            fprintf(stderr, "%s failed\n", names[b]);
            status = 1;
            continue;
        }
        printf("%-24s %12.0f %8.1f %13lld %13lld %11lld %10lld %10lld\n", names[b], rps,
               rps * RECORD_BYTES / 1e6, (long long)lat[0], (long long)lat[1], (long long)lat[2],
               (long long)lat[3], (long long)lat[4]);
    }
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}

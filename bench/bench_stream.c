/* Ingestion stream: append throughput of 3200-byte records (100 ms of
 * 16 kHz PCM16) and append->read latency with a notified reader that
 * checkpoints every record, as a session worker does; mem:// and file://
 * (default fsync interval).
 * Usage: bench_stream [records] */
#define _XOPEN_SOURCE 700 /* nftw */

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct reader {
    struct stream *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int woken, done;
    int64_t *latency_us, *checkpoint_us;
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
        while (r->n < LATENCY_RECORDS && stream_read(r->s, "bench", after, &rec) == 0) {
            int64_t sent_us;
            memcpy(&sent_us, rec->data, sizeof(sent_us));
            r->latency_us[r->n] = bc_now_us() - sent_us;
            after = rec->seq;
            free(rec);
            int64_t t0 = bc_now_us();
            if (stream_checkpoint(r->s, "bench", after, &after, sizeof(after)) != 0)
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
    if (stream_open(url, NULL, &s) != 0)
        return -1;
    int64_t t0 = bc_now_us();
    for (size_t i = 0; i < records; i++) {
        uint64_t seq;
        int rc;
        while ((rc = stream_append(s, "tput", STREAM_KIND_AUDIO, audio, RECORD_BYTES, &seq)) ==
               BC_EAGAIN)
            bc_sleep_us(BACKOFF_US);
        if (rc != 0 || ((i + 1) % CHECKPOINT_EVERY_RECORDS == 0 &&
                        stream_checkpoint(s, "tput", seq, NULL, 0) != 0)) {
            stream_close(s);
            return -1;
        }
    }
    int64_t t1 = bc_now_us();
    stream_close(s); /* includes the final fsync, outside the timing */
    *rps = (double)records * 1e6 / (double)(t1 - t0);
    return 0;
}

static int latency(const char *url, uint8_t *audio, int64_t out[3])
{
    struct reader r = {.latency_us = calloc(LATENCY_RECORDS, sizeof(int64_t)),
                       .checkpoint_us = calloc(LATENCY_RECORDS, sizeof(int64_t))};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    int rc = stream_open(url, NULL, &r.s);
    pthread_t th;
    if (rc == 0) {
        stream_set_notify(r.s, on_append, &r);
        pthread_create(&th, NULL, read_loop, &r);
        for (size_t i = 0; i < LATENCY_RECORDS && rc == 0; i++) {
            int64_t now = bc_now_us();
            memcpy(audio, &now, sizeof(now));
            rc = stream_append(r.s, "bench", STREAM_KIND_AUDIO, audio, RECORD_BYTES, NULL);
            bc_sleep_us(LATENCY_GAP_US);
        }
        if (rc == 0) {
            pthread_join(th, NULL);
            out[0] = pct(r.latency_us, LATENCY_RECORDS, 50);
            out[1] = pct(r.latency_us, LATENCY_RECORDS, 99);
            out[2] = pct(r.checkpoint_us, LATENCY_RECORDS, 50);
        }
        stream_close(r.s);
    }
    free(r.latency_us);
    free(r.checkpoint_us);
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
        fprintf(stderr, "usage: bench_stream [records]\n");
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
    const char *names[] = {"mem://", "file:// (fsync 200 ms)"};
    const char *urls[][2] = {{"mem://", "mem://"}, {file_tput, file_lat}};

    printf("%zu appends of %d-byte records; latency over %d records, one per %d us, "
           "reader checkpoints each\n\n",
           records, RECORD_BYTES, LATENCY_RECORDS, LATENCY_GAP_US);
    printf("%-24s %12s %10s %14s %14s %16s\n", "backend", "append rec/s", "MB/s", "append->read",
           "append->read", "checkpoint");
    printf("%-24s %12s %10s %14s %14s %16s\n", "", "", "", "p50 us", "p99 us", "p50 us");
    int status = 0;
    for (size_t b = 0; b < 2; b++) {
        double rps = 0;
        int64_t lat[3] = {0};
        if (throughput(urls[b][0], audio, records, &rps) != 0 || latency(urls[b][1], audio, lat)) {
            fprintf(stderr, "%s failed\n", names[b]);
            status = 1;
            continue;
        }
        printf("%-24s %12.0f %10.1f %14lld %14lld %16lld\n", names[b], rps,
               rps * RECORD_BYTES / 1e6, (long long)lat[0], (long long)lat[1], (long long)lat[2]);
    }
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}

/* Speech recognition speed, finalize time and memory, and the chained time
 * from the end of an utterance to the first synthesized sample.
 * Usage: bench_engines [streams-for-memory (default 4)] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "pipeline/engines.h"
#include "test_paths.h"
#include "util/alloc.h"
#include "util/timeutil.h"

#define CHUNK_SAMPLES 1600 /* 100 ms */
#define CLIPS 5
#define GAP_SAMPLES ASR_RATE_HZ
#define MAX_UTTERANCES 64
#define CHAIN_LANG "es"

static const char *const clip_ids[CLIPS] = {"0870", "0880", "0890", "0920", "0930"};

struct timing {
    int64_t feed_started_us;   /* the feed call in progress */
    int64_t final_us[MAX_UTTERANCES];
    int64_t final_feed_us[MAX_UTTERANCES]; /* start of the feed call that produced it */
    int64_t first_audio_us[MAX_UTTERANCES];
    int finals;
    pthread_mutex_t lock;
};

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    }
    if (f)
        fclose(f);
    return kb;
}

static int16_t *make_talk(size_t *n)
{
    int16_t *talk = NULL;
    *n = 0;
    for (int i = 0; i < CLIPS; i++) {
        char path[512], err[256];
        snprintf(path, sizeof path, "%s/sense_and_sensibility_01_austen_64kb-%s.wav",
                 TEST_LIBRIVOX_DIR, clip_ids[i]);
        struct audio_pcm pcm;
        if (audio_load(path, ASR_RATE_HZ, &pcm, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            exit(1);
        }
        talk = bc_realloc(talk, (*n + pcm.n_samples + GAP_SAMPLES) * sizeof *talk);
        memcpy(talk + *n, pcm.samples, pcm.n_samples * sizeof *talk);
        memset(talk + *n + pcm.n_samples, 0, GAP_SAMPLES * sizeof *talk);
        *n += pcm.n_samples + GAP_SAMPLES;
        audio_pcm_release(&pcm);
    }
    return talk;
}

static int sink(void *user, const struct pipeline_event *ev)
{
    struct timing *t = user;
    int64_t now = bc_now_us();
    pthread_mutex_lock(&t->lock);
    if (ev->utterance < MAX_UTTERANCES) {
        if (ev->type == PIPELINE_CAPTION && ev->final && strcmp(ev->lang, CHAIN_LANG) == 0) {
            t->final_us[ev->utterance] = now;
            t->final_feed_us[ev->utterance] = t->feed_started_us;
            t->finals = ev->utterance + 1;
        }
        if (ev->type == PIPELINE_AUDIO && !t->first_audio_us[ev->utterance])
            t->first_audio_us[ev->utterance] = now;
    }
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void print_stats(const char *name, int64_t *v, int n)
{
    if (n == 0)
        return;
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)v[i];
    printf("  %-34s mean %7.1f ms  p50 %7.1f ms  max %7.1f ms  (n=%d)\n", name, sum / n / 1000.0,
           (double)v[n / 2] / 1000.0, (double)v[n - 1] / 1000.0, n);
}

/* engines is shared (espeak-ng is initialized once per process); only the
 * recognizer's settings change. */
static void bench_search(const char *name, int fast, struct pipeline_engines *shared,
                         const int16_t *talk, size_t n)
{
    struct asr_params params;
    asr_default_params(&params);
    params.isolation = ASR_ISOLATION_IN_PROCESS; /* CPU is measured on this thread */
    params.fast_search = fast;
    struct pipeline_engines engines = *shared;
    if (asr_model_new(&params, &engines.asr) < 0)
        exit(1);
    struct timing t = {0};
    pthread_mutex_init(&t.lock, NULL);
    const char *langs[] = {CHAIN_LANG};
    struct pipeline *p;
    if (pipeline_new(&engines, langs, 1, sink, &t, &p) < 0)
        exit(1);
    int64_t feed_total_us = 0;
    int64_t finalize[MAX_UTTERANCES], chain[MAX_UTTERANCES];
    for (size_t off = 0; off < n; off += CHUNK_SAMPLES) {
        size_t len = n - off < CHUNK_SAMPLES ? n - off : CHUNK_SAMPLES;
        pthread_mutex_lock(&t.lock);
        t.feed_started_us = bc_now_us();
        pthread_mutex_unlock(&t.lock);
        int64_t start = bc_now_us();
        pipeline_feed(p, talk + off, len);
        feed_total_us += bc_now_us() - start;
        pipeline_wait_idle(p); /* as live: the next chunk is 100 ms away */
    }
    pipeline_flush(p);
    pipeline_wait_idle(p);
    int nf = 0, nc = 0;
    for (int u = 0; u < t.finals; u++) {
        if (t.final_us[u])
            finalize[nf++] = t.final_us[u] - t.final_feed_us[u];
        if (t.first_audio_us[u])
            chain[nc++] = t.first_audio_us[u] - t.final_feed_us[u];
    }
    double audio_s = (double)n / ASR_RATE_HZ;
    printf("%s search: %.1f s of speech, %d utterances\n", name, audio_s, t.finals);
    printf("  %-34s %.3f (ASR + MT on partials and finals, TTS excluded)\n", "real-time factor",
           (double)feed_total_us / 1e6 / audio_s);
    print_stats("finalize + MT (chunk with the end)", finalize, nf);
    print_stats("end of utterance -> first TTS sample", chain, nc);
    pipeline_free(p);
    asr_model_free(engines.asr);
    pthread_mutex_destroy(&t.lock);
}

static void bench_memory(int streams)
{
    struct asr_params params;
    asr_default_params(&params);
    params.isolation = ASR_ISOLATION_IN_PROCESS; /* CPU is measured on this thread */
    long before = rss_kb();
    struct asr_model *model;
    if (asr_model_new(&params, &model) < 0)
        exit(1);
    long one = rss_kb();
    /* The model keeps its first decoder pooled: stream 0 takes it, the rest are new. */
    struct asr_stream **s = bc_calloc((size_t)streams + 1, sizeof *s);
    struct asr_callbacks cb = {0};
    asr_stream_new(model, &cb, &s[streams]);
    int64_t start = bc_now_us();
    for (int i = 0; i < streams; i++)
        asr_stream_new(model, &cb, &s[i]);
    int64_t init_us = bc_now_us() - start;
    long all = rss_kb();
    /* The first decoder's pages are only partly touched when it is made;
     * further decoders (loaded and fed nothing) show the resident cost. */
    printf("memory: first decoder %ld MB resident after load; %d more decoders %ld MB "
           "(%.0f MB each, %.0f ms each to load)\n",
           (one - before) / 1024, streams, (all - one) / 1024,
           (double)(all - one) / 1024 / streams, (double)init_us / 1000 / streams);
    for (int i = 0; i <= streams; i++)
        asr_stream_free(s[i]);
    free(s);
    asr_model_free(model);
}

int main(int argc, char **argv)
{
    int streams = argc > 1 ? atoi(argv[1]) : 4;
    size_t n;
    int16_t *talk = make_talk(&n);
    struct asr_params params;
    asr_default_params(&params);
    params.isolation = ASR_ISOLATION_IN_PROCESS; /* CPU is measured on this thread */
    struct pipeline_engines engines;
    if (engines_open(&params, 1, &engines) < 0)
        return 1;
    mt_prepare(engines.mt, CHAIN_LANG);
    bench_search("fast (default)", 1, &engines, talk, n);
    bench_search("full two-pass", 0, &engines, talk, n);
    engines_close(&engines);
    bench_memory(streams < 1 ? 1 : streams);
    free(talk);
    return 0;
}

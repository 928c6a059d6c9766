/* Memory of live recognizers: N streams fed real speech at once, then the
 * proportional set size (PSS) of this process and all its descendants,
 * for forked and in-process recognizers.
 *
 *   bench_asr_memory [--full-dictionary] [SECONDS_OF_SPEECH [N...]]
 *   (default: the trimmed dictionary, 4 s of speech, N = 1 2 4 8 16) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/audio.h"
#include "engine/asr.h"
#include "pss_tree.h"
#include "test_paths.h"
#include "util/alloc.h"

#define CHUNK_SAMPLES 1600
#define COUNTS_MAX 16
#define KB_PER_MB 1024.0

static const int default_counts[] = {1, 2, 4, 8, 16};

struct feeder {
    struct asr_stream *stream;
    const int16_t *pcm;
    size_t n;
};

/* PSS of this process and its descendants, and how many processes that is. */
static long tree_pss_kb(int *processes)
{
    long kb = pss_tree_kb(getpid(), processes);
    return kb < 0 ? 0 : kb;
}

static void *feed_main(void *arg)
{
    struct feeder *f = arg;
    for (size_t off = 0; off < f->n; off += CHUNK_SAMPLES) {
        size_t n = f->n - off < CHUNK_SAMPLES ? f->n - off : CHUNK_SAMPLES;
        if (asr_stream_feed(f->stream, f->pcm + off, n) < 0) {
            fprintf(stderr, "feed failed\n");
            exit(1);
        }
    }
    return NULL;
}

/* Creates the model (while single-threaded), n streams fed at once from
 * n threads, and measures the tree with all of them alive. */
static int full_dictionary;

static long measure(int isolation, int n, const int16_t *pcm, size_t n_samples, int *processes)
{
    struct asr_params params;
    asr_default_params(&params);
    params.isolation = isolation;
    params.trim_dictionary = !full_dictionary;
    struct asr_model *model;
    if (asr_model_new(&params, &model) < 0)
        exit(1);
    struct feeder *feeders = bc_calloc((size_t)n, sizeof *feeders);
    pthread_t *threads = bc_calloc((size_t)n, sizeof *threads);
    struct asr_callbacks cb = {0};
    for (int i = 0; i < n; i++) {
        if (asr_stream_new(model, &cb, &feeders[i].stream) < 0)
            exit(1);
        feeders[i].pcm = pcm;
        feeders[i].n = n_samples;
        pthread_create(&threads[i], NULL, feed_main, &feeders[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    long kb = tree_pss_kb(processes);
    for (int i = 0; i < n; i++)
        asr_stream_free(feeders[i].stream);
    asr_model_free(model);
    free(feeders);
    free(threads);
    return kb;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--full-dictionary") == 0) {
        full_dictionary = 1;
        argv++;
        argc--;
    }
    double seconds = argc > 1 ? atof(argv[1]) : 4.0;
    int counts[COUNTS_MAX], n_counts = 0;
    for (int i = 2; i < argc && n_counts < COUNTS_MAX; i++)
        counts[n_counts++] = atoi(argv[i]);
    if (!n_counts)
        for (size_t i = 0; i < sizeof default_counts / sizeof default_counts[0]; i++)
            counts[n_counts++] = default_counts[i];
    char err[256];
    struct audio_pcm pcm;
    const char *clip = TEST_LIBRIVOX_DIR "/sense_and_sensibility_01_austen_64kb-0870.wav";
    if (audio_load(clip, ASR_RATE_HZ, &pcm, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    size_t n_samples = (size_t)(seconds * ASR_RATE_HZ);
    if (n_samples > pcm.n_samples)
        n_samples = pcm.n_samples;
    static const struct {
        int isolation;
        const char *name;
    } modes[] = {{ASR_ISOLATION_FORK, "forked"}, {ASR_ISOLATION_IN_PROCESS, "in-process"}};
    int processes;
    long base = tree_pss_kb(&processes);
    printf("speech fed per recognizer: %.1f s; %s dictionary; PSS before any model: %.1f MB\n",
           (double)n_samples / ASR_RATE_HZ, full_dictionary ? "full" : "trimmed",
           base / KB_PER_MB);
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        long first = 0;
        int first_n = 0;
        for (int i = 0; i < n_counts; i++) {
            long kb = measure(modes[m].isolation, counts[i], pcm.samples, n_samples, &processes);
            printf("%-10s N=%2d  tree PSS %7.1f MB  (%d processes)", modes[m].name, counts[i],
                   kb / KB_PER_MB, processes);
            if (i == 0) {
                first = kb;
                first_n = counts[i];
            } else {
                printf("  per additional recognizer %.1f MB",
                       (double)(kb - first) / KB_PER_MB / (counts[i] - first_n));
            }
            printf("\n");
            fflush(stdout);
        }
    }
    audio_pcm_release(&pcm);
    return 0;
}

/* MT latency and memory: persistent null-flush pipelines (direct es, ca;
 * pivot fr) versus spawning `apertium eng-spa` per sentence.
 * Usage: bench_mt [rounds]   (each round translates every sentence once) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "engine/mt.h"
#include "test_paths.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/timeutil.h"

#define SENTENCES_MAX 64
#define MAX_STAGES 32
#define DEFAULT_ROUNDS 3
#define LINE_MAX_BYTES 1024

/* ASR-style text: lower case, no punctuation. The librivox references are
 * added in front when the test data is installed. */
static const char *const builtin[] = {
    "good morning my friends",
    "the house is big",
    "the dog eats the bread",
    "i think the water is cold",
    "we are going to the market tomorrow",
    "can you hear me in the back of the room",
    "thank you all for coming tonight",
    "the meeting will start in ten minutes",
    "please turn off your phones",
    "our speaker today works at the university",
    "she has written three books about the sea",
    "the weather was terrible last week",
    "my brother lives in a small village",
    "they bought a new car in the spring",
    "the children play in the garden after school",
    "this project started five years ago",
    "we need more volunteers for the summer",
    "the train leaves at seven in the evening",
    "i would like to thank the organizers",
    "the results were better than expected",
    "he reads the newspaper every morning",
    "there are many questions from the audience",
    "the library is closed on sundays",
    "she opened the window because it was hot",
    "we will talk about the history of the city",
    "the river flows through the old town",
    "do you have any questions",
    "the first part of the talk is about music",
    "my grandmother made the best soup",
    "the doctor said that he needs rest",
    "they walked along the beach for hours",
    "the price of bread has gone up",
    "our team won the game on saturday",
    "the teacher explained the lesson again",
    "this is the most important point",
    "please write your name on the list",
    "the office opens at nine",
    "we have to finish the report today",
    "the mountains are covered with snow",
    "he forgot his keys at home",
    "the concert was very long",
    "let me show you a short video",
    "the bus was late again this morning",
    "i have never seen such a beautiful bird",
    "the company will hire new workers next year",
    "see you next week",
    "the shop on the corner sells fresh fish",
    "everyone was happy at the end",
    "we should plant more trees in the park",
    "that is all for today",
};

static size_t load_sentences(char **out, size_t max)
{
    size_t n = 0;
    FILE *f = fopen(TEST_LIBRIVOX_DIR "/transcription", "r");
    char line[LINE_MAX_BYTES];
    while (f && n < max && fgets(line, sizeof line, f)) {
        char *s = strstr(line, "<s> "), *e = strstr(line, " </s>");
        if (s && e && e > s + 4)
            out[n++] = bc_strndup(s + 4, (size_t)(e - s - 4));
    }
    if (f)
        fclose(f);
    for (size_t i = 0; n < max && i < sizeof builtin / sizeof *builtin; i++)
        out[n++] = bc_strdup(builtin[i]);
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct stats {
    double mean, p50, p95, max;
};

static struct stats summarize(double *ms, size_t n)
{
    struct stats s = {0};
    qsort(ms, n, sizeof *ms, cmp_double);
    for (size_t i = 0; i < n; i++)
        s.mean += ms[i] / (double)n;
    s.p50 = ms[n / 2];
    s.p95 = ms[(n * 95) / 100 < n ? (n * 95) / 100 : n - 1];
    s.max = ms[n - 1];
    return s;
}

/* Sum of a smaps_rollup field (kB) over pids. */
static double sum_smaps_mb(const pid_t *pids, size_t n, const char *field)
{
    double kb = 0;
    size_t flen = strlen(field);
    for (size_t i = 0; i < n; i++) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pids[i]);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, field, flen) == 0 && line[flen] == ':')
                kb += strtod(line + flen + 1, NULL);
        if (f)
            fclose(f);
    }
    return kb / 1024.0;
}

static void print_row(const char *what, size_t n, struct stats s)
{
    printf("%-34s %6zu %9.2f %9.2f %9.2f %9.2f\n", what, n, s.mean, s.p50, s.p95, s.max);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : DEFAULT_ROUNDS;
    if (rounds < 1)
        rounds = 1;
    char *sentences[SENTENCES_MAX];
    size_t nsent = load_sentences(sentences, SENTENCES_MAX);
    struct mt *mt = NULL;
    int rc = mt_new(NULL, &mt);
    if (rc != 0) {
        fprintf(stderr, "mt_new: %s\n", bc_strerror(rc));
        return 1;
    }
    double *ms = calloc(nsent * (size_t)rounds, sizeof *ms);
    const char *codes[] = {"es", "ca", "fr"};

    printf("%zu sentences x %d rounds, persistent pipelines\n\n", nsent, rounds);
    printf("%-34s %6s %9s %9s %9s %9s\n", "latency (ms)", "n", "mean", "p50", "p95", "max");
    double prepare_ms[3];
    for (size_t c = 0; c < 3; c++) {
        int64_t t0 = bc_now_us();
        if ((rc = mt_prepare(mt, codes[c])) != 0) {
            fprintf(stderr, "mt_prepare %s: %s\n", codes[c], bc_strerror(rc));
            return 1;
        }
        prepare_ms[c] = (double)(bc_now_us() - t0) / 1000.0;
        size_t n = 0;
        for (int r = 0; r < rounds; r++)
            for (size_t i = 0; i < nsent; i++) {
                char *out = NULL;
                t0 = bc_now_us();
                rc = mt_translate(mt, codes[c], sentences[i], &out);
                ms[n++] = (double)(bc_now_us() - t0) / 1000.0;
                if (rc != 0)
                    fprintf(stderr, "translate %s: %s\n", codes[c], bc_strerror(rc));
                if (r == 0 && i < 2)
                    fprintf(stderr, "  [%s] %s -> %s\n", codes[c], sentences[i], out ? out : "");
                free(out);
            }
        const struct mt_language *l = mt_language_find(mt, codes[c]);
        char label[160];
        snprintf(label, sizeof label, "persistent %s (%s%s%s)", codes[c], l->mode,
                 l->pivot_mode[0] ? " + " : "", l->pivot_mode);
        print_row(label, n, summarize(ms, n));
    }

    /* Cold: the stock command spawns every stage for every sentence. */
    size_t n = 0;
    for (size_t i = 0; i < nsent; i++) {
        char cmd[LINE_MAX_BYTES + 64], out[LINE_MAX_BYTES];
        snprintf(cmd, sizeof cmd, "apertium eng-spa <<'BC_EOF'\n%s\nBC_EOF\n", sentences[i]);
        int64_t t0 = bc_now_us();
        FILE *p = popen(cmd, "r");
        if (!p)
            break;
        while (fgets(out, sizeof out, p))
            ;
        int status = pclose(p);
        ms[n++] = (double)(bc_now_us() - t0) / 1000.0;
        if (status != 0)
            fprintf(stderr, "apertium eng-spa exited with %d\n", status);
    }
    if (n)
        print_row("cold `apertium eng-spa` per call", n, summarize(ms, n));

    printf("\n%-34s %9s %9s %9s %7s\n", "pipeline memory", "start ms", "PSS MB", "RSS MB",
           "stages");
    const char *modes[] = {"eng-spa", "eng-cat", "es-fr"};
    for (size_t m = 0; m < 3; m++) {
        pid_t pids[MAX_STAGES];
        size_t np = mt_debug_pids(mt, modes[m], pids, MAX_STAGES);
        char label[64];
        snprintf(label, sizeof label, "%s", modes[m]);
        printf("%-34s %9.0f %9.1f %9.1f %7zu\n", label, prepare_ms[m],
               sum_smaps_mb(pids, np, "Pss"), sum_smaps_mb(pids, np, "Rss"), np);
    }
    printf("(start ms: mt_prepare = spawn + warm-up; for fr only es-fr was new)\n");

    mt_free(mt);
    free(ms);
    for (size_t i = 0; i < nsent; i++)
        free(sentences[i]);
    return 0;
}

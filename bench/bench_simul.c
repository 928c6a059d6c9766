/* Sentence against simultaneous mode on the librivox talk (the five clips
 * joined by 1 s of silence), fed to the pipeline in real time. Reports per
 * mode:
 *   ear-voice span: for each recognized source word, from the end of the
 *     word (the recognizer's segmentation) to when a listener starts
 *     hearing the audio that carries it; mean and p95
 *   sentence start -> first translated audio: mean
 *   end of speech -> start of the utterance's last audio: mean and p95 as
 *     heard (after the audio queued before it), p95 as it arrived, and p95
 *     of when it ends (the listener has heard everything)
 *   content words (5+ bytes) of the reference transcript's translation
 *     found in the translated finals: the quality guard; and its adjacent
 *     word pairs found together in them (word order and agreement)
 *   CPU of this process per second of audio (the translator's child
 *     processes are not counted)
 *   where a tail comes from: the audio pieces' total length against the
 *     source speech they carry (each chunk's words, from the end of the
 *     word before them to the end of their last), and the silence at the
 *     start and end of each piece
 * A listener plays an utterance's audio pieces back to back as they
 * arrive: a piece starts at its first sample's arrival or when the one
 * before it ends, whichever is later. Each mode runs with pacing off and
 * on (pipeline_set_pacing), side by side.
 *
 * --pieces lists every piece: when it arrived and started playing, how
 * long it lasts, and the source speech it carries. --only NAME runs one
 * variant (sentence, sent.paced, simul, simul.paced).
 *
 * build/bench/bench_simul [--lang es] [--pieces] [--only NAME] */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "audio/audio.h"
#include "pipeline/engines.h"
#include "pipeline/pipeline.h"
#include "test_paths.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SIMUL_CLIPS 5
#define SIMUL_GAP_S 1
#define SIMUL_FEED_MS 100
#define SIMUL_UTT_MAX 64
#define SIMUL_CHUNKS_MAX 64
#define SIMUL_SEGMENTS_MAX 1024
#define SIMUL_CONTENT_WORD_MIN_BYTES 5
#define SIMUL_TEXT_MAX 8192
#define SIMUL_PUNCT " ,.;:!?\""
#define SIMUL_PERCENTILE 0.95
#define SIMUL_QUIET_LEVEL 256 /* |sample| at or below: silence (espeak speaks in the thousands) */
#define SIMUL_VARIANTS 4
#define US_PER_S 1e6
#define MS_PER_S 1000

static const char *const clips[SIMUL_CLIPS] = {"0870", "0880", "0890", "0920", "0930"};

/* One utterance of the reference pass: where its speech and words are. */
struct ref_utt {
    int64_t start_sample, end_sample;
    int64_t *word_ends;
    size_t n_words;
};

/* One piece of translated audio as it reached the listener. */
struct segment {
    int utterance, chunk;
    int64_t first_audio_us; /* since the run's start; 0: no audio yet */
    size_t samples;
    int rate;
    size_t lead_quiet;  /* samples before the first sound */
    size_t trail_quiet; /* samples after the last sound so far */
    int sounded;
};

struct run {
    pthread_mutex_t lock;
    const char *lang;
    int64_t t0_us;
    struct segment seg[SIMUL_SEGMENTS_MAX];
    size_t n_seg;
    int chunk_words[SIMUL_UTT_MAX][SIMUL_CHUNKS_MAX]; /* source words committed up to each chunk */
    int n_chunks[SIMUL_UTT_MAX];
    char finals[SIMUL_TEXT_MAX];
};

struct refs {
    struct ref_utt utt[SIMUL_UTT_MAX];
    int n;
};

static size_t count_words(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p != ' ' && (p == text || p[-1] == ' ');
    return n;
}

static void on_ref_final(void *user_data, const struct asr_hyp *hyp)
{
    struct refs *r = user_data;
    if (hyp->utterance >= SIMUL_UTT_MAX)
        return;
    struct ref_utt *u = &r->utt[hyp->utterance];
    u->start_sample = hyp->start_sample;
    u->end_sample = hyp->end_sample;
    u->n_words = hyp->n_words;
    u->word_ends = bc_calloc(hyp->n_words + 1, sizeof *u->word_ends);
    memcpy(u->word_ends, hyp->word_end_samples, hyp->n_words * sizeof *u->word_ends);
    if (hyp->utterance + 1 > r->n)
        r->n = hyp->utterance + 1;
}

static void on_ref_partial(void *user_data, const struct asr_hyp *hyp)
{
    (void)user_data;
    (void)hyp;
}

static int sink(void *user_data, const struct pipeline_event *ev)
{
    struct run *run = user_data;
    int64_t now = bc_now_us() - run->t0_us;
    pthread_mutex_lock(&run->lock);
    int u = ev->utterance;
    struct segment *cur = run->n_seg ? &run->seg[run->n_seg - 1] : NULL;
    switch (ev->type) {
    case PIPELINE_CAPTION:
        if (u < SIMUL_UTT_MAX && strcmp(ev->lang, PIPELINE_SOURCE_LANG) == 0 && ev->chunk >= 0 &&
            ev->chunk < SIMUL_CHUNKS_MAX) {
            run->chunk_words[u][ev->chunk] = (int)count_words(ev->committed);
            if (ev->chunk + 1 > run->n_chunks[u])
                run->n_chunks[u] = ev->chunk + 1;
        }
        if (ev->final && strcmp(ev->lang, run->lang) == 0) {
            size_t len = strlen(run->finals);
            snprintf(run->finals + len, sizeof run->finals - len, " %s", ev->text);
        }
        break;
    case PIPELINE_AUDIO_START:
        if (run->n_seg < SIMUL_SEGMENTS_MAX)
            run->seg[run->n_seg++] =
                (struct segment){.utterance = u, .chunk = ev->chunk, .rate = ev->sample_rate};
        break;
    case PIPELINE_AUDIO:
        if (cur && !cur->first_audio_us && ev->n_samples > 0)
            cur->first_audio_us = now > 0 ? now : 1;
        for (size_t i = 0; cur && i < ev->n_samples; i++) {
            if (abs(ev->pcm[i]) > SIMUL_QUIET_LEVEL) {
                cur->sounded = 1;
                cur->trail_quiet = 0;
            } else {
                cur->trail_quiet++;
                cur->lead_quiet += !cur->sounded;
            }
        }
        break;
    case PIPELINE_AUDIO_END:
        if (cur)
            cur->samples = ev->n_samples;
        break;
    }
    pthread_mutex_unlock(&run->lock);
    return 0;
}

static int load_talk(struct audio_pcm *talk)
{
    char err[256];
    size_t gap = (size_t)SIMUL_GAP_S * ASR_RATE_HZ;
    memset(talk, 0, sizeof *talk);
    for (int i = 0; i < SIMUL_CLIPS; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/sense_and_sensibility_01_austen_64kb-%s.wav",
                 TEST_LIBRIVOX_DIR, clips[i]);
        struct audio_pcm clip;
        if (audio_load(path, ASR_RATE_HZ, &clip, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            return BC_EIO;
        }
        talk->samples = bc_realloc(talk->samples,
                                   (talk->n_samples + clip.n_samples + gap) * sizeof(int16_t));
        memcpy(talk->samples + talk->n_samples, clip.samples, clip.n_samples * sizeof(int16_t));
        memset(talk->samples + talk->n_samples + clip.n_samples, 0, gap * sizeof(int16_t));
        talk->n_samples += clip.n_samples + gap;
        audio_pcm_release(&clip);
    }
    talk->sample_rate = ASR_RATE_HZ;
    return 0;
}

/* Word times of every utterance: the recognizer alone, as fast as it goes.
 * Fed in the same blocks as the timed runs, it segments the same way. */
static int reference_pass(struct asr_model *asr, const struct audio_pcm *talk, struct refs *refs)
{
    struct asr_callbacks cb = {on_ref_partial, on_ref_final, refs};
    struct asr_stream *s;
    int rc = asr_stream_new(asr, &cb, &s);
    if (rc < 0)
        return rc;
    size_t block = ASR_RATE_HZ * SIMUL_FEED_MS / MS_PER_S;
    for (size_t off = 0; rc == 0 && off < talk->n_samples; off += block)
        rc = asr_stream_feed(s, talk->samples + off,
                             talk->n_samples - off < block ? talk->n_samples - off : block);
    if (rc == 0)
        rc = asr_stream_flush(s);
    asr_stream_free(s);
    return rc;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / US_PER_S +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / US_PER_S;
}

/* Feeds the talk at the pace it was spoken. Returns 0 or a BC_E* code. */
static int timed_run(const struct pipeline_engines *engines, enum pipeline_mode mode,
                     enum pipeline_pacing pacing, const struct audio_pcm *talk, struct run *run,
                     double *cpu)
{
    const char *langs[] = {run->lang};
    struct pipeline *p;
    int rc = pipeline_new(engines, langs, 1, sink, run, &p);
    if (rc < 0)
        return rc;
    pipeline_set_mode(p, mode);
    pipeline_set_pacing(p, pacing);
    size_t block = ASR_RATE_HZ * SIMUL_FEED_MS / MS_PER_S;
    double cpu_before = cpu_s();
    run->t0_us = bc_now_us();
    for (size_t off = 0; rc == 0 && off < talk->n_samples; off += block) {
        size_t n = talk->n_samples - off < block ? talk->n_samples - off : block;
        /* A block can be fed once it has all been spoken. */
        int64_t due = run->t0_us + (int64_t)((off + n) * US_PER_S / ASR_RATE_HZ);
        int64_t wait = due - bc_now_us();
        if (wait > 0)
            bc_sleep_us(wait);
        rc = pipeline_feed(p, talk->samples + off, n);
    }
    if (rc == 0)
        rc = pipeline_flush(p);
    pipeline_wait_idle(p);
    *cpu = cpu_s() - cpu_before;
    pipeline_free(p);
    return rc;
}

/* When a listener starts hearing each segment. */
static void schedule(const struct run *run, double *play_s)
{
    double busy_until = 0;
    for (size_t i = 0; i < run->n_seg; i++) {
        const struct segment *s = &run->seg[i];
        double arrival = (double)s->first_audio_us / US_PER_S;
        play_s[i] = arrival > busy_until ? arrival : busy_until;
        busy_until = play_s[i] + (s->rate ? (double)s->samples / s->rate : 0);
    }
}

/* The first segment of utterance u with chunk >= chunk; -1 if none. */
static int segment_for(const struct run *run, int u, int chunk)
{
    int best = -1;
    for (size_t i = 0; i < run->n_seg; i++) {
        const struct segment *s = &run->seg[i];
        if (s->utterance == u && s->first_audio_us && s->chunk >= chunk &&
            (best < 0 || s->chunk < run->seg[best].chunk))
            best = (int)i;
    }
    return best;
}

/* The chunk that carried word j of utterance u: -1 for a whole utterance. */
static int chunk_of_word(const struct run *run, int u, size_t j)
{
    if (run->n_chunks[u] == 0)
        return segment_for(run, u, 0) >= 0 ? 0 : -1;
    for (int k = 0; k < run->n_chunks[u]; k++) {
        if ((size_t)run->chunk_words[u][k] > j)
            return k;
    }
    return run->n_chunks[u];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double mean(const double *v, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    return n ? sum / (double)n : 0;
}

static double p95(double *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(SIMUL_PERCENTILE * (double)n + 0.999999);
    return v[(i ? i : 1) - 1];
}

struct report {
    double evs_mean, evs_p95, first_mean, last_mean, last_p95, last_arrival_p95, done_p95;
    double content_kept, pairs_kept, cpu_per_s;
    double audio_per_source, lead_quiet_ms, trail_quiet_ms, trail_quiet_max_ms;
    size_t words, chunks;
};

/* Seconds of source speech that segment s carries (see the top comment). */
static double source_span_s(const struct refs *refs, const struct run *run,
                            const struct segment *s)
{
    if (s->utterance < 0 || s->utterance >= refs->n)
        return 0;
    const struct ref_utt *ref = &refs->utt[s->utterance];
    int n_chunks = run->n_chunks[s->utterance];
    if (s->chunk < 0 || n_chunks == 0)
        return (double)(ref->end_sample - ref->start_sample) / ASR_RATE_HZ;
    /* A piece carries the chunks after the previous piece's up to its own. */
    int first = 0;
    for (const struct segment *o = run->seg; o < s; o++)
        if (o->utterance == s->utterance && o->chunk >= first)
            first = o->chunk + 1;
    size_t from = first > 0 ? (size_t)run->chunk_words[s->utterance][first - 1] : 0;
    if (from > ref->n_words)
        from = ref->n_words;
    int64_t begin = from ? ref->word_ends[from - 1] : ref->start_sample, end = ref->end_sample;
    if (s->chunk < n_chunks) {
        size_t to = (size_t)run->chunk_words[s->utterance][s->chunk];
        if (to > ref->n_words)
            to = ref->n_words;
        end = to ? ref->word_ends[to - 1] : begin;
    }
    return end > begin ? (double)(end - begin) / ASR_RATE_HZ : 0;
}

/* Audio against source, and silence at the pieces' edges. */
static void measure_pieces(const struct refs *refs, const struct run *run, struct report *r)
{
    double audio_s = 0, source_s = 0, lead_s = 0, trail_s = 0, trail_max_s = 0;
    size_t n = 0;
    for (size_t i = 0; i < run->n_seg; i++) {
        const struct segment *s = &run->seg[i];
        if (!s->rate || !s->samples)
            continue;
        audio_s += (double)s->samples / s->rate;
        source_s += source_span_s(refs, run, s);
        lead_s += (double)s->lead_quiet / s->rate;
        double trail = (double)s->trail_quiet / s->rate;
        trail_s += trail;
        trail_max_s = trail > trail_max_s ? trail : trail_max_s;
        n++;
    }
    r->audio_per_source = source_s > 0 ? audio_s / source_s : 0;
    r->lead_quiet_ms = n ? lead_s * MS_PER_S / (double)n : 0;
    r->trail_quiet_ms = n ? trail_s * MS_PER_S / (double)n : 0;
    r->trail_quiet_max_ms = trail_max_s * MS_PER_S;
}

static void lower_ascii(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* Words of a text, lower-cased, split at spaces and punctuation. */
struct word_list {
    char *buf;
    char **w; /* into buf */
    size_t n;
};

static void word_list_split(const char *text, struct word_list *l)
{
    l->buf = bc_strdup(text);
    lower_ascii(l->buf);
    l->w = bc_calloc(strlen(l->buf) / 2 + 1, sizeof *l->w);
    l->n = 0;
    char *save = NULL;
    for (char *t = strtok_r(l->buf, SIMUL_PUNCT, &save); t; t = strtok_r(NULL, SIMUL_PUNCT, &save))
        l->w[l->n++] = t;
}

static void word_list_release(struct word_list *l)
{
    free(l->buf);
    free(l->w);
}

/* 1 when words w[0..len) stand together somewhere in l. */
static int word_list_has(const struct word_list *l, char *const *w, size_t len)
{
    for (size_t j = 0; j + len <= l->n; j++) {
        size_t k = 0;
        while (k < len && strcmp(l->w[j + k], w[k]) == 0)
            k++;
        if (k == len)
            return 1;
    }
    return 0;
}

/* Share of the reference's adjacent word pairs that stand together in the
 * output too: what chunking costs in word order and agreement. */
static double pairs_kept(const char *reference, const char *output)
{
    struct word_list ref, out;
    word_list_split(reference, &ref);
    word_list_split(output, &out);
    size_t kept = 0;
    for (size_t i = 0; i + 1 < ref.n; i++)
        kept += (size_t)word_list_has(&out, &ref.w[i], 2);
    double share = ref.n > 1 ? (double)kept / (double)(ref.n - 1) : 0;
    word_list_release(&ref);
    word_list_release(&out);
    return share;
}

/* Share of the reference's content words found among the output's words. */
static double content_kept(const char *reference, const char *output)
{
    struct word_list ref, out;
    word_list_split(reference, &ref);
    word_list_split(output, &out);
    size_t total = 0, kept = 0;
    for (size_t i = 0; i < ref.n; i++) {
        if (strlen(ref.w[i]) < SIMUL_CONTENT_WORD_MIN_BYTES || ref.w[i][0] == '*')
            continue;
        total++;
        kept += (size_t)word_list_has(&out, &ref.w[i], 1);
    }
    word_list_release(&ref);
    word_list_release(&out);
    return total ? (double)kept / (double)total : 0;
}

static void measure(const struct refs *refs, const struct run *run, const char *reference,
                    double cpu, double audio_s, struct report *r)
{
    double *play = bc_calloc(run->n_seg + 1, sizeof *play);
    schedule(run, play);
    size_t cap = 1;
    for (int u = 0; u < refs->n; u++)
        cap += refs->utt[u].n_words;
    double *evs = bc_calloc(cap, sizeof *evs), *first = bc_calloc(SIMUL_UTT_MAX, sizeof *first);
    double *last = bc_calloc(SIMUL_UTT_MAX, sizeof *last);
    double *arrival = bc_calloc(SIMUL_UTT_MAX, sizeof *arrival);
    double *done = bc_calloc(SIMUL_UTT_MAX, sizeof *done);
    size_t n_evs = 0, n_first = 0, n_last = 0;
    for (int u = 0; u < refs->n; u++) {
        const struct ref_utt *ref = &refs->utt[u];
        for (size_t j = 0; j < ref->n_words; j++) {
            int k = chunk_of_word(run, u, j);
            int seg = segment_for(run, u, k);
            if (seg >= 0)
                evs[n_evs++] = play[seg] - (double)ref->word_ends[j] / ASR_RATE_HZ;
        }
        int head = segment_for(run, u, -1), tail = -1;
        for (size_t i = 0; i < run->n_seg; i++)
            if (run->seg[i].utterance == u && run->seg[i].first_audio_us)
                tail = (int)i;
        if (head >= 0)
            first[n_first++] = play[head] - (double)ref->start_sample / ASR_RATE_HZ;
        if (tail >= 0) {
            double end_s = (double)ref->end_sample / ASR_RATE_HZ;
            arrival[n_last] = (double)run->seg[tail].first_audio_us / US_PER_S - end_s;
            const struct segment *t = &run->seg[tail];
            done[n_last] = play[tail] + (t->rate ? (double)t->samples / t->rate : 0) - end_s;
            last[n_last++] = play[tail] - end_s;
        }
    }
    r->words = n_evs;
    r->chunks = run->n_seg;
    r->evs_mean = mean(evs, n_evs);
    r->evs_p95 = p95(evs, n_evs);
    r->first_mean = mean(first, n_first);
    r->last_mean = mean(last, n_last);
    r->last_p95 = p95(last, n_last);
    r->last_arrival_p95 = p95(arrival, n_last);
    r->done_p95 = p95(done, n_last);
    r->content_kept = content_kept(reference, run->finals);
    r->pairs_kept = pairs_kept(reference, run->finals);
    r->cpu_per_s = cpu / audio_s;
    measure_pieces(refs, run, r);
    free(play);
    free(evs);
    free(first);
    free(last);
    free(arrival);
    free(done);
}

static void print_pieces(const struct refs *refs, const struct run *run, const char *name)
{
    double *play = bc_calloc(run->n_seg + 1, sizeof *play);
    schedule(run, play);
    printf("%s: utterance chunk  arrives  plays  lasts  source(s)  utterance ends\n", name);
    for (size_t i = 0; i < run->n_seg; i++) {
        const struct segment *s = &run->seg[i];
        double end_s = s->utterance < refs->n
                           ? (double)refs->utt[s->utterance].end_sample / ASR_RATE_HZ
                           : 0;
        printf("%s: %9d %5d %8.2f %6.2f %6.2f %10.2f %15.2f\n", name, s->utterance, s->chunk,
               (double)s->first_audio_us / US_PER_S, play[i],
               s->rate ? (double)s->samples / s->rate : 0, source_span_s(refs, run, s), end_s);
    }
    free(play);
}

/* The reference transcript of the five clips, translated sentence by sentence. */
static char *reference_translation(struct mt *mt, const char *lang)
{
    char path[512], line[1024];
    snprintf(path, sizeof path, "%s/transcription", TEST_LIBRIVOX_DIR);
    FILE *f = fopen(path, "r");
    char *all = bc_strdup("");
    while (f && fgets(line, sizeof line, f)) {
        char *start = strstr(line, "<s>"), *end = strstr(line, "</s>");
        if (!start || !end)
            continue;
        *end = '\0';
        char *out = NULL;
        if (mt_translate(mt, lang, start + strlen("<s>"), &out) == 0) {
            char *grown = bc_asprintf("%s %s", all, out);
            free(all);
            all = grown;
        }
        free(out);
    }
    if (f)
        fclose(f);
    return all;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {{"lang", required_argument, NULL, 'l'},
                                            {"pieces", no_argument, NULL, 'p'},
                                            {"only", required_argument, NULL, 'o'},
                                            {NULL, 0, NULL, 0}};
    const char *lang = "es", *only = NULL;
    int opt, pieces = 0;
    while ((opt = getopt_long(argc, argv, "l:po:", options, NULL)) != -1) {
        if (opt == 'l') {
            lang = optarg;
        } else if (opt == 'p') {
            pieces = 1;
        } else if (opt == 'o') {
            only = optarg;
        } else {
            fprintf(stderr, "usage: bench_simul [--lang CODE] [--pieces] [--only NAME]\n");
            return 2;
        }
    }
    bc_log_set_level(BC_LOG_WARN);
    struct audio_pcm talk;
    struct pipeline_engines engines = {0};
    struct asr_params params;
    asr_default_params(&params);
    params.isolation = ASR_ISOLATION_IN_PROCESS; /* the CPU figure includes recognition */
    if (load_talk(&talk) < 0 || engines_open(&params, 1, &engines) < 0 ||
        mt_prepare(engines.mt, lang) < 0) {
        fprintf(stderr, "bench_simul: no talk or no engines\n");
        return 1;
    }
    struct refs refs = {0};
    if (reference_pass(engines.asr, &talk, &refs) < 0)
        return 1;
    char *reference = reference_translation(engines.mt, lang);
    double audio_s = (double)talk.n_samples / ASR_RATE_HZ;
    static const struct {
        enum pipeline_mode mode;
        enum pipeline_pacing pacing;
        const char *name;
    } variants[SIMUL_VARIANTS] = {
        {PIPELINE_SENTENCE, PIPELINE_PACING_OFF, "sentence"},
        {PIPELINE_SENTENCE, PIPELINE_PACING_ON, "sent.paced"},
        {PIPELINE_SIMULTANEOUS, PIPELINE_PACING_OFF, "simul"},
        {PIPELINE_SIMULTANEOUS, PIPELINE_PACING_ON, "simul.paced"},
    };
    struct report reports[SIMUL_VARIANTS];
    int chosen[SIMUL_VARIANTS], n_chosen = 0;
    for (int m = 0; m < SIMUL_VARIANTS; m++) {
        chosen[m] = !only || strcmp(only, variants[m].name) == 0;
        n_chosen += chosen[m];
    }
    if (!n_chosen) {
        fprintf(stderr, "bench_simul: no variant named %s\n", only);
        return 2;
    }
    for (int m = 0; m < SIMUL_VARIANTS; m++) {
        if (!chosen[m])
            continue;
        static struct run run;
        memset(&run, 0, sizeof run);
        pthread_mutex_init(&run.lock, NULL);
        run.lang = lang;
        double cpu = 0;
        fprintf(stderr, "bench_simul: %s, %.1f s of talk in real time...\n", variants[m].name,
                audio_s);
        if (timed_run(&engines, variants[m].mode, variants[m].pacing, &talk, &run, &cpu) < 0)
            return 1;
        measure(&refs, &run, reference, cpu, audio_s, &reports[m]);
        if (pieces)
            print_pieces(&refs, &run, variants[m].name);
        printf("%s output (%s):%s\n", variants[m].name, lang, run.finals);
        pthread_mutex_destroy(&run.lock);
    }
    printf("\n%-44s", "");
    for (int m = 0; m < SIMUL_VARIANTS; m++)
        if (chosen[m])
            printf(" %12s", variants[m].name);
#define ROW(label, fmt, field)                                                                     \
    do {                                                                                           \
        printf("\n%-44s", label);                                                                  \
        for (int m = 0; m < SIMUL_VARIANTS; m++)                                                   \
            if (chosen[m])                                                                         \
                printf(fmt, reports[m].field);                                                     \
    } while (0)
    ROW("source words timed", " %12zu", words);
    ROW("audio pieces", " %12zu", chunks);
    ROW("ear-voice span mean (s)", " %12.2f", evs_mean);
    ROW("ear-voice span p95 (s)", " %12.2f", evs_p95);
    ROW("sentence start -> first audio mean (s)", " %12.2f", first_mean);
    ROW("end of speech -> last audio mean (s)", " %12.2f", last_mean);
    ROW("end of speech -> last audio p95 (s)", " %12.2f", last_p95);
    ROW("end of speech -> last audio ends p95 (s)", " %12.2f", done_p95);
    ROW("end of speech -> last audio arrives p95 (s)", " %12.2f", last_arrival_p95);
    ROW("reference content words kept (share)", " %12.2f", content_kept);
    ROW("reference word pairs kept (share)", " %12.2f", pairs_kept);
    ROW("audio s per s of source speech it carries", " %12.2f", audio_per_source);
    ROW("silence at piece start mean (ms)", " %12.0f", lead_quiet_ms);
    ROW("silence at piece end mean (ms)", " %12.0f", trail_quiet_ms);
    ROW("silence at piece end max (ms)", " %12.0f", trail_quiet_max_ms);
    ROW("CPU s per s of audio (this process)", " %12.3f", cpu_per_s);
#undef ROW
    printf("\n");
    for (int u = 0; u < refs.n; u++)
        free(refs.utt[u].word_ends);
    free(reference);
    engines_close(&engines);
    audio_pcm_release(&talk);
    return 0;
}

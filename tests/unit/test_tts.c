/* TTS on the real espeak-ng: voices, chunk contract, queue limits, shutdown. */
/* nftw() needs the X/Open extensions. */
#define _XOPEN_SOURCE 700
#include "engine/tts.h"

#include <dirent.h>
#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "util/err.h"
#include "util/timeutil.h"

#define MIN_SENTENCE_S 0.5
#define MAX_SENTENCE_S 5.0
#define MIN_SPEECH_RMS 300.0 /* int16 units; espeak speech is in the thousands */
#define MAX_EMPTY_S 0.1      /* espeak emits a few ms of silence for empty text */
#define CHUNK_SLACK_FACTOR 2 /* espeak may round a chunk up by a sample or so */
#define SPEED_SLACK_DIVISOR 50 /* 2 %: same text, same speed */
#define CONCURRENT_THREADS 4
#define SUBMITS_PER_THREAD 25
#define POLL_SLEEP_US 1000
#define POLL_MAX_TRIES 10000 /* 10 s: a hang guard, not a timing assertion */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_done_seq; /* completions so far, under g_lock */

/* Blocks the TTS thread inside a callback so queue states are deterministic. */
struct gate {
    bool started, open;
};

struct rec {
    size_t n_samples, max_chunk;
    int n_chunks, n_last, after_last, err;
    double sum_sq;
    int done_seq; /* g_done_seq at completion, 1-based */
    struct gate *gate;
    struct tts *tts_for_reentry;
    int reentry_rc;
};

static void rec_cb(void *user_data, const int16_t *pcm, size_t n, bool last, int err)
{
    struct rec *r = user_data;
    if (r->gate) {
        pthread_mutex_lock(&g_lock);
        r->gate->started = true;
        pthread_cond_broadcast(&g_cond);
        while (!r->gate->open)
            pthread_cond_wait(&g_cond, &g_lock);
        pthread_mutex_unlock(&g_lock);
        r->gate = NULL;
    }
    if (r->tts_for_reentry) {
        int16_t *pcm2 = NULL;
        size_t n2 = 0;
        r->reentry_rc = tts_synth(r->tts_for_reentry, "es", "hola", &pcm2, &n2);
        free(pcm2);
        r->tts_for_reentry = NULL;
    }
    if (r->n_last)
        r->after_last++;
    for (size_t i = 0; i < n; i++)
        r->sum_sq += (double)pcm[i] * pcm[i];
    r->n_samples += n;
    if (n > r->max_chunk)
        r->max_chunk = n;
    if (n)
        r->n_chunks++;
    if (last) {
        pthread_mutex_lock(&g_lock);
        r->err = err;
        r->n_last++;
        r->done_seq = ++g_done_seq;
        pthread_cond_broadcast(&g_cond);
        pthread_mutex_unlock(&g_lock);
    }
}

static void rec_wait(struct rec *r)
{
    pthread_mutex_lock(&g_lock);
    while (r->n_last == 0)
        pthread_cond_wait(&g_cond, &g_lock);
    pthread_mutex_unlock(&g_lock);
}

static void gate_wait_started(struct gate *g)
{
    pthread_mutex_lock(&g_lock);
    while (!g->started)
        pthread_cond_wait(&g_cond, &g_lock);
    pthread_mutex_unlock(&g_lock);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g_lock);
    g->open = true;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

static double rec_seconds(const struct tts *tts, const struct rec *r)
{
    return (double)r->n_samples / tts_sample_rate(tts);
}

/* Submits and waits; asserts the one-last-call contract. */
static void speak(struct tts *tts, const char *lang, const char *text, struct rec *r)
{
    memset(r, 0, sizeof *r);
    ASSERT_OK(tts_submit(tts, lang, text, rec_cb, r));
    rec_wait(r);
    ASSERT_EQ(r->n_last, 1);
    ASSERT_EQ(r->after_last, 0);
    ASSERT_EQ(r->err, 0);
}

static const struct {
    const char *lang, *text;
} sentences[] = {
    {"es", "hola, buenos días a todos"},      {"ca", "bon dia a tothom, com esteu"},
    {"eo", "bonan tagon al vi ĉiuj, amikoj"}, {"fr", "bonjour à tous, comment allez-vous"},
    {"pt", "bom dia a todos, como estão"},    {"pt_BR", "bom dia a todos, tudo bem com vocês"},
    {"it", "buongiorno a tutti, come state"}, {"ro", "bună ziua tuturor, ce mai faceți"},
    {"gl", "bo día a todos, como estades"},
};

static void test_voices_speak(struct tts *tts, int chunk_ms)
{
    size_t chunk_samples = (size_t)chunk_ms * (size_t)tts_sample_rate(tts) / 1000;
    for (size_t i = 0; i < sizeof sentences / sizeof sentences[0]; i++) {
        struct rec r;
        speak(tts, sentences[i].lang, sentences[i].text, &r);
        double secs = rec_seconds(tts, &r);
        double rms = sqrt(r.sum_sq / (double)(r.n_samples ? r.n_samples : 1));
        fprintf(stderr, "  %-5s %.2f s rms %.0f chunks %d\n", sentences[i].lang, secs, rms,
                r.n_chunks);
        if (secs < MIN_SENTENCE_S || secs > MAX_SENTENCE_S)
            TEST_FAIL_("%s: implausible duration %.2f s", sentences[i].lang, secs);
        if (rms < MIN_SPEECH_RMS)
            TEST_FAIL_("%s: silent audio, rms %.1f", sentences[i].lang, rms);
        ASSERT_GT(r.n_chunks, 1);
        ASSERT_LE(r.max_chunk, chunk_samples * CHUNK_SLACK_FACTOR);
    }
}

static void test_voice_table(struct tts *tts)
{
    const char *voice = NULL;
    bool stand_in = true;
    ASSERT_EQ(tts_sample_rate(tts), 22050);
    ASSERT_OK(tts_voice_for(tts, "es", &voice, &stand_in));
    ASSERT_STR_EQ(voice, "es");
    ASSERT(!stand_in);
    ASSERT_OK(tts_voice_for(tts, "ES", &voice, &stand_in));
    ASSERT_STR_EQ(voice, "es");
    ASSERT_OK(tts_voice_for(tts, "pt-BR", &voice, &stand_in));
    ASSERT_STR_EQ(voice, "pt-br");
    ASSERT_OK(tts_voice_for(tts, "pt_br", &voice, &stand_in));
    ASSERT_STR_EQ(voice, "pt-br");
    ASSERT(!stand_in);
    ASSERT_OK(tts_voice_for(tts, "fr", &voice, &stand_in));
    ASSERT_STR_EQ(voice, "fr");
    ASSERT_OK(tts_voice_for(tts, "en", &voice, &stand_in));
    ASSERT_STR_EQ(voice, "en-us");
    ASSERT_OK(tts_voice_for(tts, "gl", &voice, &stand_in));
    ASSERT_STR_EQ(voice, "pt");
    ASSERT(stand_in);
    ASSERT_OK(tts_voice_for(tts, "oc-Aran", &voice, &stand_in));
    ASSERT_STR_EQ(voice, "ca");
    ASSERT(stand_in);
    ASSERT_OK(tts_voice_for(tts, "ast", &voice, &stand_in));
    ASSERT_STR_EQ(voice, "es");
    ASSERT(stand_in);
    ASSERT_OK(tts_voice_for(tts, "es-MX", &voice, &stand_in));
    ASSERT_STR_EQ(voice, "es");

    ASSERT_EQ(tts_voice_for(tts, "xx", &voice, &stand_in), BC_ENOTFOUND);
    ASSERT_EQ(tts_voice_for(tts, "", &voice, &stand_in), BC_ENOTFOUND);
    ASSERT_EQ(tts_voice_for(tts, "a-very-long-language-tag-indeed", &voice, &stand_in),
              BC_ENOTFOUND);
    ASSERT_EQ(tts_voice_for(tts, NULL, &voice, &stand_in), BC_EINVAL);

    struct rec r = {0};
    ASSERT_EQ(tts_submit(tts, "xx", "hello", rec_cb, &r), BC_ENOTFOUND);
    ASSERT_EQ(tts_submit(tts, "es", NULL, rec_cb, &r), BC_EINVAL);
    ASSERT_EQ(tts_submit(tts, "es", "hola", NULL, &r), BC_EINVAL);
    int16_t *pcm = NULL;
    size_t n = 1;
    ASSERT_EQ(tts_synth(tts, "xx", "hello", &pcm, &n), BC_ENOTFOUND);
    ASSERT(pcm == NULL && n == 0);
}

static void test_odd_text(struct tts *tts)
{
    static const char *const texts[] = {"", "   ", "...", "\xff\xfe hola \xc3", "<b>&amp;</b>"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct rec r;
        speak(tts, "es", texts[i], &r);
        if (i < 3 && rec_seconds(tts, &r) > MAX_EMPTY_S)
            TEST_FAIL_("text \"%s\" gave %.2f s of audio", texts[i], rec_seconds(tts, &r));
    }
}

static void test_longer_is_longer(struct tts *tts)
{
    static const char *const texts[] = {
        "hola",
        "hola, buenos días a todos",
        "hola, buenos días a todos, bienvenidos a esta charla sobre traducción automática",
        "hola, buenos días a todos, bienvenidos a esta charla sobre traducción automática. "
        "hoy hablaremos de reconocimiento de voz, de traducción y de síntesis del habla, "
        "y al final habrá tiempo para preguntas",
    };
    size_t prev = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int16_t *pcm = NULL;
        size_t n = 0;
        ASSERT_OK(tts_synth(tts, "es", texts[i], &pcm, &n));
        ASSERT(pcm != NULL);
        ASSERT_GT(n, prev);
        prev = n;
        free(pcm);
    }
}

/* Speech at a higher speed is shorter; the speed holds for its request
 * only; speeds out of range are refused. */
static void test_speed(struct tts *tts)
{
    static const char *const text = "la familia de dashwood se había asentado en sussex";
    static const int speeds[] = {TTS_SPEED_NORMAL, TTS_SPEED_MAX, TTS_SPEED_NORMAL, TTS_SPEED_MIN};
    struct rec r[sizeof speeds / sizeof speeds[0]];
    for (size_t i = 0; i < sizeof speeds / sizeof speeds[0]; i++) {
        memset(&r[i], 0, sizeof r[i]);
        ASSERT_OK(tts_submit_speed(tts, "es", text, speeds[i], rec_cb, &r[i]));
        rec_wait(&r[i]);
        ASSERT_EQ(r[i].err, 0);
    }
    /* espeak's output varies by a few samples from one call to the next. */
    size_t slack = r[0].n_samples / SPEED_SLACK_DIVISOR;
    ASSERT_LT(r[1].n_samples, r[0].n_samples - slack);
    ASSERT_LT(r[2].n_samples, r[0].n_samples + slack);
    ASSERT_GT(r[2].n_samples, r[0].n_samples - slack);
    ASSERT_GT(r[3].n_samples, r[0].n_samples + slack);
    struct rec bad = {0};
    ASSERT_EQ(tts_submit_speed(tts, "es", text, TTS_SPEED_MIN - 1, rec_cb, &bad), BC_EINVAL);
    ASSERT_EQ(tts_submit_speed(tts, "es", text, TTS_SPEED_MAX + 1, rec_cb, &bad), BC_EINVAL);
}

static void test_reentrant_synth_refused(struct tts *tts)
{
    struct rec r = {0};
    r.tts_for_reentry = tts;
    ASSERT_OK(tts_submit(tts, "es", "hola", rec_cb, &r));
    rec_wait(&r);
    ASSERT_EQ(r.reentry_rc, BC_ESTATE);
    ASSERT_EQ(r.n_last, 1);
}

struct worker {
    struct tts *tts;
    int index;
    struct rec recs[SUBMITS_PER_THREAD];
    int synth_ok;
};

static void *concurrent_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < SUBMITS_PER_THREAD; i++) {
        size_t s = (size_t)(w->index + i) % (sizeof sentences / sizeof sentences[0]);
        if (i % 5 == 4) {
            /* Mix the blocking call in with the queued ones. */
            int16_t *pcm = NULL;
            size_t n = 0;
            if (tts_synth(w->tts, sentences[s].lang, sentences[s].text, &pcm, &n) == 0 && n > 0)
                w->synth_ok++;
            free(pcm);
            w->recs[i].n_last = -1; /* not submitted */
            continue;
        }
        int rc;
        while ((rc = tts_submit(w->tts, sentences[s].lang, sentences[s].text, rec_cb,
                                &w->recs[i])) == BC_EAGAIN)
            bc_sleep_us(POLL_SLEEP_US);
        if (rc != 0)
            TEST_FAIL_("thread %d submit %d: %s", w->index, i, bc_strerror(rc));
    }
    return NULL;
}

static void test_concurrent(struct tts *tts)
{
    static struct worker workers[CONCURRENT_THREADS];
    pthread_t threads[CONCURRENT_THREADS];
    for (int t = 0; t < CONCURRENT_THREADS; t++) {
        memset(&workers[t], 0, sizeof workers[t]);
        workers[t].tts = tts;
        workers[t].index = t;
        ASSERT_OK(pthread_create(&threads[t], NULL, concurrent_worker, &workers[t]));
    }
    for (int t = 0; t < CONCURRENT_THREADS; t++)
        pthread_join(threads[t], NULL);
    int callbacks = 0, synths = 0;
    for (int t = 0; t < CONCURRENT_THREADS; t++) {
        int prev_seq = 0;
        for (int i = 0; i < SUBMITS_PER_THREAD; i++) {
            struct rec *r = &workers[t].recs[i];
            if (r->n_last < 0)
                continue;
            rec_wait(r);
            ASSERT_EQ(r->n_last, 1);
            ASSERT_EQ(r->after_last, 0);
            ASSERT_EQ(r->err, 0);
            ASSERT_GT(r->n_samples, 0);
            ASSERT_GT(r->done_seq, prev_seq); /* FIFO per submitter */
            prev_seq = r->done_seq;
            callbacks++;
        }
        synths += workers[t].synth_ok;
    }
    ASSERT_EQ(callbacks + synths, CONCURRENT_THREADS * SUBMITS_PER_THREAD);
}

static const char long_text[] =
    "hola, buenos días a todos, bienvenidos a esta charla sobre traducción automática. "
    "hoy hablaremos de reconocimiento de voz, de traducción y de síntesis del habla. "
    "veremos también cómo se reparten las tareas entre varios procesos";

static void test_queue_full(void)
{
    struct tts_params p;
    tts_default_params(&p);
    p.queue_max = 2;
    p.chunk_ms = 40; /* a different buffer on the reused espeak instance */
    struct tts *tts = NULL;
    ASSERT_OK(tts_new(&p, &tts));

    struct gate gate = {0};
    struct rec a = {.gate = &gate}, b = {0}, c = {0}, d = {0};
    ASSERT_OK(tts_submit(tts, "es", long_text, rec_cb, &a));
    gate_wait_started(&gate); /* a is off the queue and its thread held */
    ASSERT_OK(tts_submit(tts, "es", long_text, rec_cb, &b));
    ASSERT_OK(tts_submit(tts, "ca", long_text, rec_cb, &c));
    ASSERT_EQ(tts_submit(tts, "es", long_text, rec_cb, &d), BC_EAGAIN);
    gate_open(&gate);
    rec_wait(&a);
    rec_wait(&b);
    rec_wait(&c);
    ASSERT(a.done_seq < b.done_seq && b.done_seq < c.done_seq);
    ASSERT_EQ(d.n_last, 0);
    size_t chunk_samples = (size_t)p.chunk_ms * (size_t)tts_sample_rate(tts) / 1000;
    ASSERT_LE(a.max_chunk, chunk_samples * CHUNK_SLACK_FACTOR);
    ASSERT_GT(a.n_chunks, 10);
    tts_free(tts);
}

static void *free_thread(void *arg)
{
    tts_free(arg);
    return NULL;
}

#define PENDING_MAX 64

static void test_free_drains(void)
{
    struct tts *tts = NULL;
    ASSERT_OK(tts_new(NULL, &tts));
    static struct rec recs[PENDING_MAX];
    memset(recs, 0, sizeof recs);
    struct gate gate = {0};
    recs[0].gate = &gate;
    ASSERT_OK(tts_submit(tts, "fr", "bonjour à tous", rec_cb, &recs[0]));
    gate_wait_started(&gate);
    int accepted = 1;
    for (; accepted < 6; accepted++)
        ASSERT_OK(tts_submit(tts, "it", "buongiorno a tutti", rec_cb, &recs[accepted]));

    pthread_t th;
    ASSERT_OK(pthread_create(&th, NULL, free_thread, tts));
    /* The TTS thread is held, so tts stays alive until the gate opens. */
    int rc = 0, tries = 0;
    struct rec late = {0};
    while ((rc = tts_submit(tts, "es", "hola", rec_cb,
                            accepted < PENDING_MAX ? &recs[accepted] : &late)) == 0) {
        ASSERT(accepted < PENDING_MAX);
        accepted++;
        ASSERT_LT(++tries, POLL_MAX_TRIES);
        bc_sleep_us(POLL_SLEEP_US);
    }
    ASSERT_EQ(rc, BC_ECLOSED);
    gate_open(&gate);
    pthread_join(th, NULL);
    for (int i = 0; i < PENDING_MAX; i++) {
        ASSERT_EQ(recs[i].n_last, i < accepted ? 1 : 0);
        ASSERT_EQ(recs[i].after_last, 0);
        if (i < accepted)
            ASSERT_GT(recs[i].n_samples, 0);
    }
    ASSERT_EQ(late.n_last, 0);
}

/* Mirrors src into dst with symlinks, leaving out the relative path skip. */
static void link_all_but(const char *src, const char *dst, const char *skip)
{
    ASSERT_OK(mkdir(dst, 0755));
    DIR *dir = opendir(src);
    ASSERT(dir != NULL);
    const char *slash = strchr(skip, '/');
    size_t head_len = slash ? (size_t)(slash - skip) : strlen(skip);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char s[1024], d[1024];
        snprintf(s, sizeof s, "%s/%s", src, e->d_name);
        snprintf(d, sizeof d, "%s/%s", dst, e->d_name);
        bool on_path = strlen(e->d_name) == head_len && strncmp(e->d_name, skip, head_len) == 0;
        if (on_path && !slash)
            continue;
        if (on_path)
            link_all_but(s, d, slash + 1);
        else
            ASSERT_OK(symlink(s, d));
    }
    closedir(dir);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Runs fn in a child process: espeak-ng can be initialized once per process. */
static void in_child(void (*fn)(const char *), const char *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        fn(arg);
        fflush(NULL);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
}

static void child_missing_voice(const char *data_dir)
{
    struct tts_params p;
    tts_default_params(&p);
    p.data_dir = data_dir;
    struct tts *tts = NULL;
    ASSERT_OK(tts_new(&p, &tts));
    const char *voice = NULL;
    bool stand_in = false;
    ASSERT_EQ(tts_voice_for(tts, "it", &voice, &stand_in), BC_ENOTFOUND);
    struct rec r = {0};
    ASSERT_EQ(tts_submit(tts, "it", "buongiorno", rec_cb, &r), BC_ENOTFOUND);
    ASSERT_OK(tts_voice_for(tts, "es", &voice, &stand_in));
    speak(tts, "es", "hola, buenos días a todos", &r);
    ASSERT_GT(rec_seconds(tts, &r), MIN_SENTENCE_S);
    tts_free(tts);
}

static void child_bad_data(const char *data_dir)
{
    struct tts_params p;
    tts_default_params(&p);
    p.data_dir = data_dir;
    struct tts *tts = NULL;
    ASSERT_EQ(tts_new(&p, &tts), BC_EENGINE);
    ASSERT(tts == NULL);
}

/* A text-only language in real installed data: a copy of espeak's data
 * without the Italian voice file. */
static void test_text_only_language(void)
{
    espeak_ng_InitializePath(NULL);
    const char *data_path = NULL;
    espeak_Info(&data_path);
    ASSERT(data_path != NULL);

    char root[512], data[600], empty[600];
    snprintf(root, sizeof root, "%s/tts-data-%ld", TEST_BUILD_DIR, (long)getpid());
    snprintf(data, sizeof data, "%s/espeak-ng-data", root);
    snprintf(empty, sizeof empty, "%s/empty", root);
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    ASSERT_OK(mkdir(root, 0755));
    link_all_but(data_path, data, "lang/roa/it");
    ASSERT_OK(mkdir(empty, 0755));

    in_child(child_missing_voice, root);
    in_child(child_bad_data, empty);
    ASSERT_OK(nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS));
}

static void test_bad_params(void)
{
    struct tts_params p;
    struct tts *tts = NULL;
    tts_default_params(&p);
    p.data_dir = "/nonexistent/espeak-data";
    ASSERT_EQ(tts_new(&p, &tts), BC_EENGINE);
    tts_default_params(&p);
    p.queue_max = 0;
    ASSERT_EQ(tts_new(&p, &tts), BC_EINVAL);
    tts_default_params(&p);
    p.chunk_ms = 0;
    ASSERT_EQ(tts_new(&p, &tts), BC_EINVAL);
    ASSERT(tts == NULL);
    tts_free(NULL);
}

int main(void)
{
    /* First: the children need a process where espeak was never initialized. */
    test_text_only_language();
    test_bad_params();

    struct tts_params p;
    tts_default_params(&p);
    struct tts *tts = NULL;
    ASSERT_OK(tts_new(&p, &tts));
    struct tts *second = NULL;
    ASSERT_EQ(tts_new(&p, &second), BC_ESTATE);
    ASSERT(second == NULL);

    test_voice_table(tts);
    test_voices_speak(tts, p.chunk_ms);
    test_odd_text(tts);
    test_longer_is_longer(tts);
    test_speed(tts);
    test_reentrant_synth_refused(tts);
    test_concurrent(tts);
    tts_free(tts);

    test_queue_full();
    test_free_drains();
    printf("tts: all tests passed\n");
    return 0;
}

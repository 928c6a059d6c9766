/* Live end-to-end latency against a running server: N sessions started
 * --stagger-ms apart, each with one real-time speaker and one listener per
 * language. Measures, per utterance, end of speech -> first translated
 * audio frame at each listener, and the lag of partial and final captions;
 * counts the utterances a listener never heard and the sessions the server
 * refused (503 or close 4503: the rest run on); with --server-pid, the PSS
 * of the server's process tree (translation and recognizer processes
 * included) at its peak and per admitted session. By default each speaker
 * says the librivox talk (tests/server/harness.py make_talk) and the word
 * error rate of its English finals against the clips' transcription is
 * printed next to the speed; --file loops another recording for --seconds.
 *
 * build/bench/bench_live --server http://127.0.0.1:8080 --sessions 16
 *     [--languages es] [--stagger-ms 700] [--server-pid PID]
 *     [--file WAV --seconds 60] [--codec pcm16|opus] */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/audio.h"
#include "cli/cli.h"
#include "client/client.h"
#include "pss_tree.h"
#include "talk.h"
#include "test_paths.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/timeutil.h"
#include "wer.h"

#define LIVE_CHUNK_MS 100
#define LIVE_GAP_MS 1000 /* silence between loops of the file */
#define LIVE_TIMEOUT_MS 5000
#define LIVE_QUIET_DONE_US 3000000 /* after the speakers: this long without events = done */
#define LIVE_DRAIN_MAX_US 20000000
#define LIVE_POLL_US 200000
#define LIVE_QUEUE_FULL_WAIT_US 2000
#define LIVE_SESSIONS_MAX 64
#define LIVE_DEFAULT_STAGGER_MS 700
#define LIVE_STAGGER_MAX_MS 60000
#define LIVE_UTTERANCES_MAX 512
/* The process tree is read this often (every fifth poll): reading every
 * process's smaps costs the server's machine time too. */
#define LIVE_PSS_EVERY_POLLS 5
#define CLOSE_SERVER_FULL 4503
#define KB_PER_MB 1024.0
#define SAMPLES_PER_MS (AUDIO_SPEECH_RATE_HZ / 1000)
#define US_PER_MS 1000
#define US_PER_S 1000000LL

enum { M_AUDIO, M_FINAL, M_PARTIAL, M_SRC_FINAL, M_SRC_PARTIAL, M_COUNT };
static const char *const metric_names[M_COUNT] = {
    "end of speech -> first audio frame (listeners)",
    "end of speech -> final caption (listeners)",
    "partial caption lag (listeners)",
    "end of speech -> final caption (speaker, en)",
    "partial caption lag (speaker, en)",
};

struct stat_set {
    double *v;
    size_t n, cap;
};

struct live_session;

struct live_conn {
    struct live_session *s;
    struct client_ws *ws;
    int speaker;
    int awaiting_audio;
    int64_t audio_end_ms;
    int audio_utterance;
    unsigned char heard[LIVE_UTTERANCES_MAX]; /* listeners: translated audio arrived */
    int close_code;
};

struct live_session {
    char *id, *token;
    struct live_conn speaker;
    struct live_conn listeners[CLI_LANGS_MAX];
    size_t n_listeners;
    pthread_t thread;
    int64_t base;     /* session samples before ours (from "ready") */
    int64_t *sent_us; /* per chunk: monotonic time it was sent, 0 before */
    int utterances;
    char *finals[LIVE_UTTERANCES_MAX]; /* the speaker's English finals */
    int refused;      /* the server refused it (503 or 4503) */
    long index;       /* its start is index * stagger_ms after the first */
};

struct live {
    const char *server;
    char langs[CLI_LANGS_MAX][CLI_LANG_LEN];
    int n_langs;
    long sessions, seconds, server_pid, stagger_ms;
    int talk;         /* the librivox talk, not a looped --file */
    const char *file;
    const char *codec;
    size_t audio_bytes; /* received by all listeners */
    int16_t *pcm; /* the looped program, seconds long */
    size_t n_samples, n_chunks;
    pthread_mutex_t mu;
    struct stat_set stats[M_COUNT];
    int64_t last_event_us;
    int closes_unexpected;
    int refused;
};

static struct live L;

static void stat_add(struct stat_set *st, double v)
{
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 256;
        st->v = bc_realloc(st->v, st->cap * sizeof *st->v);
    }
    st->v[st->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double stat_pct(struct stat_set *st, double p)
{
    size_t i = (size_t)(p * (double)(st->n - 1) + 0.5);
    return st->v[i];
}

/* Milliseconds since the speaker sent the sample at end_ms; < 0 unknown. */
static double lag_ms(struct live_session *s, int64_t end_ms, int64_t now)
{
    int64_t idx = end_ms * SAMPLES_PER_MS - s->base - 1;
    if (idx < 0)
        idx = 0;
    size_t chunk = (size_t)idx / ((size_t)LIVE_CHUNK_MS * SAMPLES_PER_MS);
    if (chunk >= L.n_chunks)
        chunk = L.n_chunks - 1;
    int64_t sent = s->sent_us[chunk];
    return sent ? (double)(now - sent) / US_PER_MS : -1;
}

static void live_on_text(const char *text, size_t len, void *user)
{
    struct live_conn *c = user;
    struct live_session *s = c->s;
    int64_t now = bc_now_us();
    cJSON *msg = cJSON_ParseWithLength(text, len);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "type"));
    const cJSON *end = cJSON_GetObjectItemCaseSensitive(msg, "source_end_ms");
    int64_t end_ms = cJSON_IsNumber(end) ? (int64_t)end->valuedouble : 0;
    pthread_mutex_lock(&L.mu);
    L.last_event_us = now;
    if (!type) {
    } else if (!strcmp(type, "ready")) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(msg, "received_samples");
        s->base = cJSON_IsNumber(n) ? (int64_t)n->valuedouble : 0;
    } else if (!strcmp(type, "caption") &&
               !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "replay"))) {
        int final = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "final"));
        double lag = lag_ms(s, end_ms, now);
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(msg, "utterance");
        int utt = cJSON_IsNumber(u) ? (int)u->valuedouble : -1;
        const char *said = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "text"));
        if (final && c->speaker && utt >= 0 && utt < LIVE_UTTERANCES_MAX && !s->finals[utt]) {
            s->utterances++;
            s->finals[utt] = bc_strdup(said ? said : "");
        }
        if (lag >= 0)
            stat_add(&L.stats[c->speaker ? (final ? M_SRC_FINAL : M_SRC_PARTIAL)
                                         : (final ? M_FINAL : M_PARTIAL)],
                     lag);
    } else if (!strcmp(type, "audio_start")) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(msg, "utterance");
        c->awaiting_audio = 1;
        c->audio_end_ms = end_ms;
        c->audio_utterance = cJSON_IsNumber(u) ? (int)u->valuedouble : -1;
    }
    pthread_mutex_unlock(&L.mu);
    cJSON_Delete(msg);
}

static void live_on_binary(const uint8_t *data, size_t len, void *user)
{
    struct live_conn *c = user;
    int64_t now = bc_now_us();
    pthread_mutex_lock(&L.mu);
    L.last_event_us = now;
    L.audio_bytes += len;
    if (c->awaiting_audio) {
        c->awaiting_audio = 0;
        if (c->audio_utterance >= 0 && c->audio_utterance < LIVE_UTTERANCES_MAX)
            c->heard[c->audio_utterance] = 1;
        double lag = lag_ms(c->s, c->audio_end_ms, now);
        if (lag >= 0)
            stat_add(&L.stats[M_AUDIO], lag);
    }
    pthread_mutex_unlock(&L.mu);
}

static void live_on_close(int code, const char *reason, void *user)
{
    struct live_conn *c = user;
    pthread_mutex_lock(&L.mu);
    c->close_code = code;
    if (code == CLOSE_SERVER_FULL && c->speaker && !c->s->refused) {
        c->s->refused = 1;
        L.refused++;
        fprintf(stderr, "bench_live: session %s refused: %d %s\n", c->s->id, code, reason);
    } else if (code != 1000) {
        L.closes_unexpected++;
        fprintf(stderr, "bench_live: %s closed: %d %s\n", c->speaker ? "speaker" : "listener", code,
                reason);
    }
    pthread_mutex_unlock(&L.mu);
}

static const struct client_ws_callbacks live_cb = {live_on_text, live_on_binary, live_on_close};

static int live_connect(struct live_session *s);

/* Microphone model: a chunk is sent once all its samples "exist". */
static void *live_speaker(void *arg)
{
    struct live_session *s = arg;
    size_t chunk = (size_t)LIVE_CHUNK_MS * SAMPLES_PER_MS;
    bc_sleep_us(s->index * L.stagger_ms * US_PER_MS);
    int rc = live_connect(s);
    if (rc < 0) {
        pthread_mutex_lock(&L.mu);
        if (rc == BC_EAGAIN && !s->refused) {
            s->refused = 1;
            L.refused++;
        } else if (rc != BC_EAGAIN) {
            L.closes_unexpected++;
        }
        pthread_mutex_unlock(&L.mu);
        return NULL;
    }
    int64_t t0 = bc_now_us();
    for (size_t i = 0; i < L.n_chunks; i++) {
        int64_t wait = t0 + (int64_t)(i + 1) * LIVE_CHUNK_MS * US_PER_MS - bc_now_us();
        if (wait > 0)
            bc_sleep_us(wait);
        size_t from = i * chunk, n = L.n_samples - from < chunk ? L.n_samples - from : chunk;
        pthread_mutex_lock(&L.mu);
        s->sent_us[i] = bc_now_us();
        pthread_mutex_unlock(&L.mu);
        /* Samples go out in host order: the bench runs on little-endian hosts. */
        while ((rc = client_ws_send_binary(s->speaker.ws, L.pcm + from, n * 2)) == BC_EAGAIN)
            bc_sleep_us(LIVE_QUEUE_FULL_WAIT_US);
        if (rc)
            return NULL;
    }
    client_ws_send_text(s->speaker.ws, "{\"type\":\"end\"}", strlen("{\"type\":\"end\"}"));
    return NULL;
}

static int live_proc(long pid, double *cpu_s, long *rss_kb)
{
    char path[64], buf[PSS_TREE_LINE_MAX];
    /* Recognizers and translators are child processes: count the tree. */
    *cpu_s = pss_tree_cpu_s(pid);
    if (*cpu_s < 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    *rss_kb = 0;
    while (fgets(buf, sizeof buf, f))
        sscanf(buf, "VmRSS: %ld", rss_kb);
    fclose(f);
    return 0;
}

static int live_args(int argc, char **argv)
{
    L.sessions = 1;
    L.seconds = 30;
    L.stagger_ms = LIVE_DEFAULT_STAGGER_MS;
    const char *langs = "es";
    L.codec = "pcm16";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return -1;
        i++;
        if (!strcmp(a, "--server"))
            L.server = v;
        else if (!strcmp(a, "--languages"))
            langs = v;
        else if (!strcmp(a, "--file"))
            L.file = v;
        else if (!strcmp(a, "--codec"))
            L.codec = v;
        else if (!strcmp(a, "--sessions")) {
            if (cli_parse_int(v, 1, LIVE_SESSIONS_MAX, &L.sessions))
                return -1;
        } else if (!strcmp(a, "--seconds")) {
            if (cli_parse_int(v, 1, 3600, &L.seconds))
                return -1;
        } else if (!strcmp(a, "--stagger-ms")) {
            if (cli_parse_int(v, 0, LIVE_STAGGER_MAX_MS, &L.stagger_ms))
                return -1;
        } else if (!strcmp(a, "--server-pid")) {
            if (cli_parse_int(v, 1, 1L << 30, &L.server_pid))
                return -1;
        } else
            return -1;
    }
    L.n_langs = cli_parse_langs(langs, L.langs, CLI_LANGS_MAX);
    return L.server && L.n_langs > 0 ? 0 : -1;
}

/* The file looped with silence between loops, exactly L.seconds long; or
 * without a file, the librivox talk (L.seconds becomes its length). */
static int live_program(void)
{
    char err[256];
    size_t chunk = (size_t)LIVE_CHUNK_MS * SAMPLES_PER_MS;
    if (!L.file) {
        L.talk = 1;
        if (talk_load(&L.pcm, &L.n_samples, err, sizeof err)) {
            fprintf(stderr, "bench_live: %s\n", err);
            return -1;
        }
        L.seconds = (long)((L.n_samples + AUDIO_SPEECH_RATE_HZ - 1) / AUDIO_SPEECH_RATE_HZ);
        L.n_chunks = (L.n_samples + chunk - 1) / chunk;
        return 0;
    }
    struct audio_pcm pcm;
    if (audio_load(L.file, AUDIO_SPEECH_RATE_HZ, &pcm, err, sizeof err)) {
        fprintf(stderr, "bench_live: %s\n", err);
        return -1;
    }
    L.n_samples = (size_t)L.seconds * AUDIO_SPEECH_RATE_HZ;
    L.pcm = bc_calloc(L.n_samples, sizeof *L.pcm);
    size_t gap = (size_t)LIVE_GAP_MS * SAMPLES_PER_MS;
    for (size_t at = 0; at < L.n_samples; at += pcm.n_samples + gap) {
        size_t n = L.n_samples - at < pcm.n_samples ? L.n_samples - at : pcm.n_samples;
        memcpy(L.pcm + at, pcm.samples, n * sizeof *L.pcm);
    }
    L.n_chunks = (L.n_samples + chunk - 1) / chunk;
    audio_pcm_release(&pcm);
    return 0;
}

static int live_connect(struct live_session *s)
{
    char err[512];
    const char *targets[CLI_LANGS_MAX];
    for (int i = 0; i < L.n_langs; i++)
        targets[i] = L.langs[i];
    int rc = client_rest_create_session(L.server, targets, (size_t)L.n_langs, LIVE_TIMEOUT_MS,
                                        &s->id, &s->token, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "bench_live: session %ld: %s\n", s->index, err);
        return rc;
    }
    s->sent_us = bc_calloc(L.n_chunks, sizeof *s->sent_us);
    for (int i = 0; i < L.n_langs; i++) {
        struct live_conn *c = &s->listeners[s->n_listeners];
        c->s = s;
        char *url = client_url_join(L.server, "/ws/listen/%s?lang=%s&codec=%s", s->id, L.langs[i],
                                    L.codec);
        rc = client_ws_new(url, &live_cb, c, LIVE_TIMEOUT_MS, &c->ws, err, sizeof err);
        free(url);
        if (rc) {
            fprintf(stderr, "bench_live: listener %s: %s\n", L.langs[i], err);
            return BC_EIO;
        }
        s->n_listeners++;
    }
    s->speaker.s = s;
    s->speaker.speaker = 1;
    char *url = client_url_join(L.server, "/ws/speak/%s?token=%s", s->id, s->token);
    rc = client_ws_new(url, &live_cb, &s->speaker, LIVE_TIMEOUT_MS, &s->speaker.ws, err, sizeof err);
    free(url);
    if (rc)
        fprintf(stderr, "bench_live: speaker: %s\n", err);
    return rc ? BC_EIO : 0;
}

/* Utterances the speakers' finals name that a listener never heard (no
 * translated audio), over the admitted sessions. The talk's utterances are
 * taken as the most any session recognized: every speaker says the same. */
static void report_unheard(const struct live_session *sessions)
{
    int expected = 0, admitted = 0, unheard = 0;
    for (long i = 0; i < L.sessions; i++) {
        if (!sessions[i].refused && sessions[i].speaker.ws && sessions[i].utterances > expected)
            expected = sessions[i].utterances;
    }
    for (long i = 0; i < L.sessions; i++) {
        const struct live_session *s = &sessions[i];
        if (s->refused || !s->speaker.ws)
            continue;
        admitted++;
        for (size_t j = 0; j < s->n_listeners; j++) {
            int heard = 0;
            for (int u = 0; u < LIVE_UTTERANCES_MAX; u++)
                heard += s->listeners[j].heard[u];
            unheard += expected > heard ? expected - heard : 0;
        }
    }
    printf("sessions: %d admitted, %d refused (503 or close 4503)\n", admitted, L.refused);
    printf("utterances never heard: %d of %d (%d per session x %d listener(s) x %d session(s))\n",
           unheard, expected * L.n_langs * admitted, expected, L.n_langs, admitted);
}

/* Word error rate of each admitted session's English finals against the
 * talk's reference: mean, best and worst. */
static void report_wer(const struct live_session *sessions)
{
    char *reference = talk_reference();
    if (!reference) {
        printf("word error rate: no reference (%s/transcription)\n", TEST_LIBRIVOX_DIR);
        return;
    }
    double sum = 0, best = 1e9, worst = 0;
    int n = 0;
    for (long i = 0; i < L.sessions; i++) {
        const struct live_session *s = &sessions[i];
        if (s->refused || !s->speaker.ws)
            continue;
        char *hyp = bc_calloc(1, TALK_TEXT_MAX);
        for (int u = 0; u < LIVE_UTTERANCES_MAX; u++) {
            if (!s->finals[u])
                continue;
            strncat(hyp, s->finals[u], TALK_TEXT_MAX - strlen(hyp) - 2);
            strncat(hyp, " ", TALK_TEXT_MAX - strlen(hyp) - 1);
        }
        talk_normalize(hyp);
        size_t words = 0, errors = wer_errors(reference, hyp, &words);
        double wer = words ? (double)errors / (double)words : 0;
        sum += wer;
        best = wer < best ? wer : best;
        worst = wer > worst ? wer : worst;
        n++;
        free(hyp);
    }
    if (n)
        printf("word error rate of the English finals: mean %.1f%%, best %.1f%%, worst %.1f%% "
               "(%d session(s))\n", 100 * sum / n, 100 * best, 100 * worst, n);
    free(reference);
}

static void live_report(const struct live_session *sessions, int utterances, double cpu_s,
                        double wall_s, long rss_max_kb, long rss_end_kb, long pss_base_kb,
                        long pss_peak_kb, int pss_procs)
{
    printf("bench_live: %ld session(s) %ld ms apart x (1 speaker + %d listeners: %s", L.sessions,
           L.stagger_ms, L.n_langs, L.langs[0]);
    for (int i = 1; i < L.n_langs; i++)
        printf(",%s", L.langs[i]);
    printf("), %ld s of audio each (%s), chunks of %d ms\n", L.seconds,
           L.talk ? "the librivox talk" : L.file, LIVE_CHUNK_MS);
    printf("%-48s %7s %9s %9s %9s\n", "metric", "n", "p50 ms", "p95 ms", "max ms");
    for (int m = 0; m < M_COUNT; m++) {
        struct stat_set *st = &L.stats[m];
        if (!st->n) {
            printf("%-48s %7d %9s %9s %9s\n", metric_names[m], 0, "-", "-", "-");
            continue;
        }
        qsort(st->v, st->n, sizeof *st->v, cmp_double);
        printf("%-48s %7zu %9.0f %9.0f %9.0f\n", metric_names[m], st->n, stat_pct(st, 0.5),
               stat_pct(st, 0.95), st->v[st->n - 1]);
    }
    printf("utterances (final source captions): %d\n", utterances);
    report_unheard(sessions);
    if (L.talk)
        report_wer(sessions);
    printf("audio received (%s): %.1f KB per listener per second of the talk\n", L.codec,
           (double)L.audio_bytes / 1024.0 / (double)(L.sessions * L.n_langs) / (double)L.seconds);
    if (L.server_pid)
        printf("server pid %ld: CPU of its process tree %.1f s in %.1f s wall (%.0f%% of one "
               "core); the server process's RSS max %.1f MB, "
               "end %.1f MB\n",
               L.server_pid, cpu_s, wall_s, 100.0 * cpu_s / wall_s, rss_max_kb / 1024.0,
               rss_end_kb / 1024.0);
    int admitted = (int)L.sessions - L.refused;
    if (L.server_pid && pss_peak_kb > 0)
        printf("server process tree PSS: %.1f MB before, %.1f MB at peak (%d processes), "
               "%.1f MB per admitted session\n",
               pss_base_kb / KB_PER_MB, pss_peak_kb / KB_PER_MB, pss_procs,
               admitted > 0 ? (pss_peak_kb - pss_base_kb) / KB_PER_MB / admitted : 0.0);
    printf("unexpected closes: %d\n", L.closes_unexpected);
}

int main(int argc, char **argv)
{
    if (live_args(argc, argv)) {
        fprintf(stderr, "usage: bench_live --server URL [--sessions N] [--languages es,ca,fr]\n"
                        "                  [--stagger-ms MS] [--server-pid PID]\n"
                        "                  [--file WAV --seconds S] [--codec pcm16|opus]\n");
        return 2;
    }
    if (live_program())
        return 1;
    pthread_mutex_init(&L.mu, NULL);
    struct live_session *sessions = bc_calloc((size_t)L.sessions, sizeof *sessions);
    int started = 0, pss_procs = 0;
    double cpu0 = 0, cpu1 = 0, wall_s = 0;
    long rss = 0, rss_max = 0, pss_base = 0, pss_peak = 0;
    if (L.server_pid && live_proc(L.server_pid, &cpu0, &rss)) {
        fprintf(stderr, "bench_live: cannot read /proc/%ld\n", L.server_pid);
        L.server_pid = 0;
    }
    if (L.server_pid)
        pss_base = pss_tree_kb(L.server_pid, &pss_procs);
    int64_t t0 = bc_now_us();
    for (long i = 0; i < L.sessions; i++) {
        sessions[i].index = i;
        if (pthread_create(&sessions[i].thread, NULL, live_speaker, &sessions[i]) == 0)
            started++;
    }
    /* Sample memory while the speakers run and until the results stop coming. */
    int64_t speakers_done_at =
        t0 + (L.sessions - 1) * L.stagger_ms * US_PER_MS + L.seconds * US_PER_S;
    for (int poll = 0;; poll++) {
        if (L.server_pid && live_proc(L.server_pid, &cpu1, &rss) == 0 && rss > rss_max)
            rss_max = rss;
        int procs = 0;
        long pss = L.server_pid && poll % LIVE_PSS_EVERY_POLLS == 0
                       ? pss_tree_kb(L.server_pid, &procs)
                       : 0;
        if (pss > pss_peak) {
            pss_peak = pss;
            pss_procs = procs;
        }
        int64_t now = bc_now_us();
        pthread_mutex_lock(&L.mu);
        int64_t quiet = now - L.last_event_us;
        pthread_mutex_unlock(&L.mu);
        if (now > speakers_done_at &&
            (quiet > LIVE_QUIET_DONE_US || now - speakers_done_at > LIVE_DRAIN_MAX_US))
            break;
        bc_sleep_us(LIVE_POLL_US);
    }
    for (int i = 0; i < started; i++)
        pthread_join(sessions[i].thread, NULL);
    wall_s = (double)(bc_now_us() - t0) / US_PER_S;
    if (L.server_pid)
        live_proc(L.server_pid, &cpu1, &rss);
    for (long i = 0; i < L.sessions; i++) {
        struct live_session *s = &sessions[i];
        char err[256];
        if (s->speaker.ws) {
            client_ws_close(s->speaker.ws, 1000, "done");
            client_ws_wait_closed(s->speaker.ws, LIVE_TIMEOUT_MS);
        }
        if (s->id &&
            client_rest_end_session(L.server, s->id, s->token, LIVE_TIMEOUT_MS, err, sizeof err))
            fprintf(stderr, "bench_live: ending %s: %s\n", s->id, err);
        for (size_t j = 0; j < s->n_listeners; j++)
            client_ws_wait_closed(s->listeners[j].ws, LIVE_TIMEOUT_MS);
    }
    int utterances = 0;
    for (long i = 0; i < L.sessions; i++)
        utterances += sessions[i].utterances;
    live_report(sessions, utterances, cpu1 - cpu0, wall_s, rss_max, rss, pss_base, pss_peak,
                pss_procs);
    for (long i = 0; i < L.sessions; i++) {
        struct live_session *s = &sessions[i];
        client_ws_free(s->speaker.ws);
        for (size_t j = 0; j < s->n_listeners; j++)
            client_ws_free(s->listeners[j].ws);
        for (int u = 0; u < LIVE_UTTERANCES_MAX; u++)
            free(s->finals[u]);
        free(s->sent_us);
        free(s->id);
        free(s->token);
    }
    for (int m = 0; m < M_COUNT; m++)
        free(L.stats[m].v);
    free(sessions);
    free(L.pcm);
    pthread_mutex_destroy(&L.mu);
    return 0;
}

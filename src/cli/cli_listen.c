/* `babelcast listen`: joins a session as a listener of one language, prints
 * the final captions, and saves the translated speech and the captions. */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/transcript.h"
#include "audio/audio.h"
#include "audio/audio_opus.h"
#include "cli/cli.h"
#include "client/client.h"
#include "delivery/delivery.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/timeutil.h"

#define LISTEN_CONNECT_TIMEOUT_MS 5000
#define LISTEN_CLOSE_WAIT_MS 2000
#define LISTEN_POLL_US 50000
#define LISTEN_DURATION_MAX_S (7L * 24 * 3600)
#define LISTEN_DEFAULT_RATE_HZ 22050 /* used only if audio comes before "hello" */
#define LISTEN_CLOSE_NORMAL 1000
#define US_PER_S 1000000LL
#define US_PER_MS 1000
#define MS_PER_S 1000.0
/* The longest Opus packet holds 120 ms. */
#define LISTEN_OPUS_MAX_SAMPLES (AUDIO_OPUS_RATE_HZ / 1000 * 120)

struct listen_opts {
    const char *url, *session, *lang, *out, *captions, *codec_name;
    enum transcript_format format;
    enum delivery_codec codec;
    long duration_s; /* 0: until the session ends */
};

/* Shared between the main thread and the socket's service thread. */
struct listen_state {
    struct cli_conn conn; /* first: see struct cli_conn */
    const char *out_path;
    struct wav_writer *wav;
    int wav_rate, audio_rate, wav_failed, rate_warned;
    struct transcript *tr;
    int *seen;
    size_t n_seen, cap_seen;
    long captions, finals, utterances;
    size_t samples, audio_bytes;
    struct audio_opus_decoder *opus; /* NULL for PCM16 */
    long bad_packets;
    int ended;
};

static volatile sig_atomic_t listen_signalled;

static void listen_on_signal(int sig)
{
    listen_signalled = sig;
}

static void listen_usage(FILE *out)
{
    fputs("usage: babelcast listen URL --session ID --lang es [--out out.wav]\n"
          "                        [--captions out.vtt|.srt|.txt|.json] [--duration SECONDS]\n"
          "                        [--codec pcm16|opus]\n"
          "Joins session ID on the server at URL (http://host:port) as a listener of\n"
          "one language, prints the final captions as \"[START-END] text\" (seconds),\n"
          "and at exit writes the received speech (WAV) and the final captions (format\n"
          "from the extension). Ends when the session ends, after --duration, or on\n"
          "SIGINT/SIGTERM. --codec opus receives Opus packets (about 15x smaller)\n"
          "and decodes them; the default is PCM16.\n",
          out);
}

/* 1 the first time an utterance's final caption is seen (replays and the
 * live caption may both arrive). */
static int listen_first_final(struct listen_state *st, int utterance)
{
    for (size_t i = 0; i < st->n_seen; i++) {
        if (st->seen[i] == utterance)
            return 0;
    }
    if (st->n_seen == st->cap_seen) {
        st->cap_seen = st->cap_seen ? st->cap_seen * 2 : 64;
        st->seen = bc_realloc(st->seen, st->cap_seen * sizeof *st->seen);
    }
    st->seen[st->n_seen++] = utterance;
    return 1;
}

static void listen_open_wav(struct listen_state *st, int rate)
{
    if (!st->out_path || st->wav || st->wav_failed)
        return;
    if (wav_writer_open(st->out_path, rate, &st->wav)) {
        fprintf(stderr, "babelcast: cannot write %s\n", st->out_path);
        st->wav_failed = 1;
        return;
    }
    st->wav_rate = rate;
}

static int64_t listen_int(const cJSON *msg, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static void listen_caption(struct listen_state *st, const cJSON *msg)
{
    st->captions++;
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "final")))
        return;
    st->finals++;
    int utt = (int)listen_int(msg, "utterance");
    if (!listen_first_final(st, utt))
        return;
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "text"));
    const char *src = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "source_text"));
    int64_t start = listen_int(msg, "source_start_ms"), end = listen_int(msg, "source_end_ms");
    transcript_add(st->tr, utt, start, end, text ? text : "", src ? src : "");
    printf("[%.1f-%.1f] %s\n", (double)start / MS_PER_S, (double)end / MS_PER_S, text ? text : "");
    fflush(stdout);
}

static void listen_on_message(struct cli_conn *conn, const char *type, const cJSON *msg)
{
    struct listen_state *st = (struct listen_state *)conn;
    if (!strcmp(type, "hello")) {
        int rate = (int)listen_int(msg, "sample_rate");
        listen_open_wav(st, rate > 0 ? rate : LISTEN_DEFAULT_RATE_HZ);
    } else if (!strcmp(type, "caption")) {
        listen_caption(st, msg);
    } else if (!strcmp(type, "audio_start")) {
        st->utterances++;
        int rate = (int)listen_int(msg, "sample_rate");
        st->audio_rate = rate > 0 ? rate : LISTEN_DEFAULT_RATE_HZ;
        listen_open_wav(st, st->audio_rate);
        if (st->wav && st->audio_rate != st->wav_rate && !st->rate_warned) {
            fprintf(stderr, "babelcast: audio at %d Hz after %d Hz: not written\n", st->audio_rate,
                    st->wav_rate);
            st->rate_warned = 1;
        }
    } else if (!strcmp(type, "ended")) {
        st->ended = 1;
    }
}

/* Samples of one binary frame: PCM16LE as sent, or one decoded Opus packet.
 * Returns the count; *pcm is a heap array the caller frees. */
static size_t listen_samples(struct listen_state *st, const uint8_t *data, size_t len,
                             int16_t **pcm)
{
    if (st->opus) {
        *pcm = bc_malloc(LISTEN_OPUS_MAX_SAMPLES * sizeof **pcm);
        size_t n = 0;
        if (audio_opus_decoder_decode(st->opus, data, len, *pcm, LISTEN_OPUS_MAX_SAMPLES, &n) < 0)
            st->bad_packets++;
        return n;
    }
    size_t n = len / 2;
    *pcm = bc_malloc(n ? n * sizeof **pcm : 1);
    for (size_t i = 0; i < n; i++)
        (*pcm)[i] = (int16_t)(uint16_t)(data[2 * i] | (data[2 * i + 1] << 8));
    return n;
}

static void listen_on_binary(const uint8_t *data, size_t len, void *user)
{
    struct listen_state *st = user;
    int16_t *pcm = NULL;
    pthread_mutex_lock(&st->conn.mu);
    size_t n = listen_samples(st, data, len, &pcm);
    st->samples += n;
    st->audio_bytes += len;
    if (!st->wav)
        listen_open_wav(st, st->audio_rate ? st->audio_rate : LISTEN_DEFAULT_RATE_HZ);
    if (st->wav && !st->wav_failed && (!st->audio_rate || st->audio_rate == st->wav_rate) &&
        wav_writer_append(st->wav, pcm, n)) {
        fprintf(stderr, "babelcast: cannot write %s\n", st->out_path);
        st->wav_failed = 1;
    }
    pthread_mutex_unlock(&st->conn.mu);
    free(pcm);
}

static int listen_parse(int argc, char **argv, struct listen_opts *o)
{
    memset(o, 0, sizeof *o);
    const struct cli_value_opt values[] = {{"--session", &o->session},
                                           {"--lang", &o->lang},
                                           {"--out", &o->out},
                                           {"--captions", &o->captions},
                                           {"--codec", &o->codec_name},
                                           {NULL, NULL}};
    const char **positionals[] = {&o->url, NULL};
    int rc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--duration")) {
            if (i + 1 >= argc || cli_parse_int(argv[++i], 1, LISTEN_DURATION_MAX_S, &o->duration_s))
                return cli_fail(-CLI_EXIT_USAGE, "listen: --duration needs 1..%ld seconds",
                                LISTEN_DURATION_MAX_S);
        } else if ((rc = cli_parse_arg("listen", argc, argv, &i, values, 0, positionals)) != 0) {
            return rc;
        }
    }
    if (!o->url || !o->session || !o->lang)
        return cli_fail(-CLI_EXIT_USAGE, "listen: needs URL, --session and --lang (see --help)");
    if ((rc = cli_check_url("listen", o->url)) < 0)
        return rc;
    char langs[1][CLI_LANG_LEN];
    if (cli_parse_langs(o->lang, langs, 1) != 1)
        return cli_fail(-CLI_EXIT_USAGE, "listen: bad --lang: %s", o->lang);
    o->codec = DELIVERY_CODEC_PCM16;
    if (o->codec_name && delivery_codec_parse(o->codec_name, &o->codec) < 0)
        return cli_fail(-CLI_EXIT_USAGE, "listen: --codec is pcm16 or opus, got '%s'",
                        o->codec_name);
    if (o->captions) {
        const char *dot = strrchr(o->captions, '.');
        if (!dot || transcript_format_parse(dot + 1, &o->format))
            return cli_fail(-CLI_EXIT_USAGE,
                            "listen: --captions must end in .vtt, .srt, .txt or .json: %s",
                            o->captions);
    }
    return 0;
}

/* Waits until the connection ends, the session ends, the duration passes
 * or a signal arrives. Returns 1 when we should close ourselves. */
static int listen_wait(struct listen_state *st, long duration_s)
{
    int64_t stop_at = duration_s ? bc_now_us() + duration_s * US_PER_S : 0;
    int64_t ended_at = 0;
    for (;;) {
        pthread_mutex_lock(&st->conn.mu);
        int closed = st->conn.closed, ended = st->ended;
        pthread_mutex_unlock(&st->conn.mu);
        if (closed)
            return 0;
        int64_t now = bc_now_us();
        if (ended && !ended_at)
            ended_at = now;
        /* After "ended" the server closes; do it ourselves if it does not. */
        if (listen_signalled || (stop_at && now >= stop_at) ||
            (ended_at && now - ended_at >= (int64_t)LISTEN_CLOSE_WAIT_MS * US_PER_MS))
            return 1;
        bc_sleep_us(LISTEN_POLL_US);
    }
}

int cli_listen(int argc, char **argv)
{
    struct listen_opts o;
    int rc = listen_parse(argc, argv, &o);
    if (rc > 0) {
        listen_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (rc < 0)
        return -rc;

    struct listen_state st;
    memset(&st, 0, sizeof st);
    pthread_mutex_init(&st.conn.mu, NULL);
    st.conn.on_message = listen_on_message;
    st.out_path = o.out;
    st.tr = transcript_new(o.lang);
    char err[512];
    char *esc_id = client_url_escape(o.session), *esc_lang = client_url_escape(o.lang);
    char *url = client_url_join(o.url, "/ws/listen/%s?lang=%s&codec=%s", esc_id, esc_lang,
                                delivery_codec_name(o.codec));
    struct client_ws *ws = NULL;
    int exit_code = CLI_EXIT_FAILURE;

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = listen_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    if (o.codec == DELIVERY_CODEC_OPUS && audio_opus_decoder_new(&st.opus) < 0) {
        cli_fail(CLI_EXIT_FAILURE, "cannot create an Opus decoder");
        goto done;
    }
    static const struct client_ws_callbacks cb = {cli_conn_on_text, listen_on_binary,
                                                  cli_conn_on_close};
    if (client_ws_new(url, &cb, &st, LISTEN_CONNECT_TIMEOUT_MS, &ws, err, sizeof err)) {
        cli_fail(CLI_EXIT_FAILURE, "%s", err);
        goto done;
    }
    int we_close = listen_wait(&st, o.duration_s);
    if (we_close) {
        client_ws_close(ws, LISTEN_CLOSE_NORMAL, "bye");
        client_ws_wait_closed(ws, LISTEN_CLOSE_WAIT_MS);
    }
    client_ws_free(ws); /* no callbacks after this: st is ours alone */
    ws = NULL;
    if (we_close || st.conn.close_code == LISTEN_CLOSE_NORMAL || st.ended)
        exit_code = CLI_EXIT_OK;
    else
        cli_fail(CLI_EXIT_FAILURE, "server closed the connection: %d %s", st.conn.close_code,
                 st.conn.close_reason);
    if (o.captions && transcript_write_file(st.tr, o.format, o.captions)) {
        cli_fail(CLI_EXIT_FAILURE, "cannot write %s", o.captions);
        exit_code = CLI_EXIT_FAILURE;
    }
    if (st.wav_failed)
        exit_code = CLI_EXIT_FAILURE;
    if (st.bad_packets) {
        cli_fail(CLI_EXIT_FAILURE, "%ld audio packets could not be decoded", st.bad_packets);
        exit_code = CLI_EXIT_FAILURE;
    }
    fprintf(stderr,
            "listen: %ld captions (%ld final), %ld utterances of audio, %zu samples, "
            "%zu bytes of %s\n",
            st.captions, st.finals, st.utterances, st.samples, st.audio_bytes,
            delivery_codec_name(o.codec));
done:
    client_ws_free(ws);
    wav_writer_close(st.wav);
    transcript_free(st.tr);
    free(st.seen);
    audio_opus_decoder_free(st.opus);
    free(url);
    free(esc_id);
    free(esc_lang);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    pthread_mutex_destroy(&st.conn.mu);
    return exit_code;
}

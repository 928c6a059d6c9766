/* `babelcast speak`: streams an audio file to a session as its speaker and
 * prints the final source captions the server sends back. */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "cli/cli.h"
#include "client/client.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/timeutil.h"

#define SPEAK_TIMEOUT_MS 5000        /* connect, REST call, "ready" */
#define SPEAK_FINAL_TIMEOUT_MS 15000 /* after "end": give up after this long without captions */
#define SPEAK_IDLE_DONE_MS 4000      /* all audio acked, nothing pending, this quiet: done */
#define SPEAK_END_TOLERANCE_MS 1000  /* a final ending this close to the end covers it */
#define SPEAK_CLOSE_WAIT_MS 2000
#define SPEAK_CHUNK_MS_DEFAULT 100
#define SPEAK_CHUNK_MS_MIN 10
#define SPEAK_CHUNK_MS_MAX 2000 /* 64000 bytes: under the server's 65536 limit */
#define SPEAK_RETRY_FIRST_MS 250
#define SPEAK_RETRY_MAX_MS 4000
#define SPEAK_RETRIES_MAX 20 /* busy closes in a row without progress */
#define SPEAK_QUEUE_FULL_WAIT_US 2000
#define SPEAK_POLL_MS 100
#define SPEAK_CLOSE_BUSY 4503
#define SPEAK_CLOSE_NORMAL 1000
#define SAMPLES_PER_MS (AUDIO_SPEECH_RATE_HZ / 1000)
#define US_PER_S 1000000LL
#define US_PER_MS 1000

struct speak_opts {
    const char *url, *file, *session, *token, *targets;
    int fast, quiet, end_session;
    long chunk_ms;
};

/* Shared between the main thread and the socket's service thread. */
struct speak_state {
    struct cli_conn conn; /* first: see struct cli_conn */
    int quiet;
    int ready;
    int64_t ready_samples, acked_samples;
    int64_t last_final_end_ms;
    int partial_pending;
    int64_t last_caption_us;
};

static void speak_usage(FILE *out)
{
    fputs("usage: babelcast speak URL FILE [--session ID --token TOKEN] [--targets es,ca]\n"
          "                       [--fast] [--chunk-ms 100] [--quiet] [--end-session]\n"
          "Streams FILE (any WAV, or .raw/.pcm 16 kHz PCM16) to the server at URL\n"
          "(http://host:port) as the speaker of a session and prints the final source\n"
          "captions as \"[START s] text\". Without --session a session is created and\n"
          "its id, token and listen URL are printed first.\n"
          "  --session ID --token TOKEN  speak in an existing session\n"
          "  --targets LIST   target languages of a new session (default: server's)\n"
          "  --fast           send as fast as the server accepts, not in real time\n"
          "  --chunk-ms N     milliseconds of audio per frame (10..2000, default 100)\n"
          "  --quiet          do not print captions\n"
          "  --end-session    end the session when done (listeners get \"ended\")\n",
          out);
}

static void speak_on_message(struct cli_conn *conn, const char *type, const cJSON *msg)
{
    struct speak_state *st = (struct speak_state *)conn;
    if (!strcmp(type, "ready")) {
        cJSON *n = cJSON_GetObjectItemCaseSensitive(msg, "received_samples");
        st->ready_samples = cJSON_IsNumber(n) ? (int64_t)n->valuedouble : 0;
        st->acked_samples = st->ready_samples;
        st->ready = 1;
    } else if (!strcmp(type, "ack")) {
        cJSON *n = cJSON_GetObjectItemCaseSensitive(msg, "received_samples");
        if (cJSON_IsNumber(n))
            st->acked_samples = (int64_t)n->valuedouble;
    } else if (!strcmp(type, "caption")) {
        st->last_caption_us = bc_now_us();
        cJSON *start = cJSON_GetObjectItemCaseSensitive(msg, "source_start_ms");
        cJSON *end = cJSON_GetObjectItemCaseSensitive(msg, "source_end_ms");
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "text"));
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "final"))) {
            st->partial_pending = 0;
            if (cJSON_IsNumber(end) && (int64_t)end->valuedouble > st->last_final_end_ms)
                st->last_final_end_ms = (int64_t)end->valuedouble;
            if (!st->quiet && t) {
                printf("[%.1fs] %s\n", cJSON_IsNumber(start) ? start->valuedouble / 1000.0 : 0.0,
                       t);
                fflush(stdout);
            }
        } else {
            st->partial_pending = 1;
        }
    }
}

static int speak_parse(int argc, char **argv, struct speak_opts *o)
{
    memset(o, 0, sizeof *o);
    o->chunk_ms = SPEAK_CHUNK_MS_DEFAULT;
    const struct cli_value_opt values[] = {{"--session", &o->session},
                                           {"--token", &o->token},
                                           {"--targets", &o->targets},
                                           {NULL, NULL}};
    const char **positionals[] = {&o->url, &o->file, NULL};
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--fast"))
            o->fast = 1;
        else if (!strcmp(a, "--quiet"))
            o->quiet = 1;
        else if (!strcmp(a, "--end-session"))
            o->end_session = 1;
        else if (!strcmp(a, "--chunk-ms")) {
            if (i + 1 >= argc ||
                cli_parse_int(argv[++i], SPEAK_CHUNK_MS_MIN, SPEAK_CHUNK_MS_MAX, &o->chunk_ms))
                return cli_fail(-CLI_EXIT_USAGE, "speak: --chunk-ms needs %d..%d",
                                SPEAK_CHUNK_MS_MIN, SPEAK_CHUNK_MS_MAX);
        } else if ((rc = cli_parse_arg("speak", argc, argv, &i, values, 1, positionals)) != 0)
            return rc;
    }
    if (!o->url || !o->file)
        return cli_fail(-CLI_EXIT_USAGE, "speak: needs URL and FILE (see --help)");
    if (!o->session != !o->token)
        return cli_fail(-CLI_EXIT_USAGE, "speak: --session and --token go together");
    if ((rc = cli_check_url("speak", o->url)) < 0)
        return rc;
    char langs[CLI_LANGS_MAX][CLI_LANG_LEN];
    if (o->targets && cli_parse_langs(o->targets, langs, CLI_LANGS_MAX) < 0)
        return cli_fail(-CLI_EXIT_USAGE, "speak: bad --targets list: %s", o->targets);
    return 0;
}

/* Connects and waits for "ready". Returns 0, or the close code (> 0) when
 * the server refused, or -1 on a connection failure (message printed). */
static int speak_connect(const char *ws_url, struct speak_state *st, struct client_ws **ws,
                         int report)
{
    char err[256];
    static const struct client_ws_callbacks cb = {cli_conn_on_text, NULL, cli_conn_on_close};
    pthread_mutex_lock(&st->conn.mu);
    st->ready = 0;
    st->conn.closed = 0;
    pthread_mutex_unlock(&st->conn.mu);
    if (client_ws_new(ws_url, &cb, st, SPEAK_TIMEOUT_MS, ws, err, sizeof err)) {
        if (report)
            cli_fail(CLI_EXIT_FAILURE, "%s", err);
        return -1;
    }
    int64_t deadline = bc_now_us() + (int64_t)SPEAK_TIMEOUT_MS * US_PER_MS;
    for (;;) {
        pthread_mutex_lock(&st->conn.mu);
        int ready = st->ready, closed = st->conn.closed, code = st->conn.close_code;
        pthread_mutex_unlock(&st->conn.mu);
        if (ready)
            return 0;
        if (closed)
            return code;
        if (bc_now_us() > deadline) {
            if (report)
                cli_fail(CLI_EXIT_FAILURE, "the server did not say ready within %d ms",
                         SPEAK_TIMEOUT_MS);
            return -1;
        }
        bc_sleep_us((int64_t)SPEAK_POLL_MS * US_PER_MS / 10);
    }
}

/* Queues samples[from, to) in chunks, paced or not. Returns the position
 * reached (== to unless the socket closed). */
static size_t speak_stream(struct client_ws *ws, const struct speak_opts *o, const int16_t *samples,
                           size_t from, size_t to)
{
    size_t chunk = (size_t)o->chunk_ms * SAMPLES_PER_MS;
    uint8_t *frame = bc_malloc(chunk * 2);
    int64_t t0 = bc_now_us();
    size_t pos = from;
    while (pos < to) {
        size_t n = to - pos < chunk ? to - pos : chunk;
        if (!o->fast) {
            /* Pace on the clock from the start so delays never accumulate. */
            int64_t due = t0 + (int64_t)(pos - from) * US_PER_S / AUDIO_SPEECH_RATE_HZ;
            int64_t wait = due - bc_now_us();
            if (wait > 0)
                bc_sleep_us(wait);
        }
        for (size_t i = 0; i < n; i++) {
            uint16_t v = (uint16_t)samples[pos + i];
            frame[2 * i] = (uint8_t)(v & 0xff);
            frame[2 * i + 1] = (uint8_t)(v >> 8);
        }
        int rc = client_ws_send_binary(ws, frame, n * 2);
        if (rc == BC_EAGAIN) {
            bc_sleep_us(SPEAK_QUEUE_FULL_WAIT_US);
            continue;
        }
        if (rc)
            break;
        pos += n;
    }
    free(frame);
    return pos;
}

/* After "end": 1 when the last final caption covers the end, or everything
 * was acknowledged and the captions went quiet. */
static int speak_finished(struct speak_state *st, int64_t end_sample)
{
    pthread_mutex_lock(&st->conn.mu);
    int done = st->last_final_end_ms * SAMPLES_PER_MS >=
                   end_sample - (int64_t)SPEAK_END_TOLERANCE_MS * SAMPLES_PER_MS ||
               (st->acked_samples >= end_sample && !st->partial_pending &&
                bc_now_us() - st->last_caption_us >= (int64_t)SPEAK_IDLE_DONE_MS * US_PER_MS);
    pthread_mutex_unlock(&st->conn.mu);
    return done;
}

/* After "end": no caption for SPEAK_FINAL_TIMEOUT_MS. A server still
 * working through a --fast backlog keeps sending captions. */
static int speak_stalled(struct speak_state *st)
{
    pthread_mutex_lock(&st->conn.mu);
    int stalled = bc_now_us() - st->last_caption_us >= (int64_t)SPEAK_FINAL_TIMEOUT_MS * US_PER_MS;
    pthread_mutex_unlock(&st->conn.mu);
    return stalled;
}

/* Streams the whole file over as many connections as busy closes need.
 * Returns the exit code. */
static int speak_run(const struct speak_opts *o, const struct audio_pcm *pcm, const char *ws_url,
                     struct speak_state *st)
{
    struct client_ws *ws = NULL;
    int64_t base = -1;
    size_t pos = 0, last_pos = 0;
    int retries = 0, retry_ms = SPEAK_RETRY_FIRST_MS, exit_code = CLI_EXIT_FAILURE;
    for (;;) {
        int code = speak_connect(ws_url, st, &ws, base < 0);
        if (code == 0) {
            pthread_mutex_lock(&st->conn.mu);
            int64_t received = st->ready_samples;
            pthread_mutex_unlock(&st->conn.mu);
            if (base < 0)
                base = received;
            int64_t resume = received - base;
            pos = resume < 0                         ? 0
                  : resume > (int64_t)pcm->n_samples ? pcm->n_samples
                                                     : (size_t)resume;
            pos = speak_stream(ws, o, pcm->samples, pos, pcm->n_samples);
            if (pos == pcm->n_samples &&
                client_ws_send_text(ws, "{\"type\":\"end\"}", strlen("{\"type\":\"end\"}")) == 0) {
                int64_t end_sample = base + (int64_t)pcm->n_samples;
                pthread_mutex_lock(&st->conn.mu);
                st->last_caption_us = bc_now_us();
                pthread_mutex_unlock(&st->conn.mu);
                while (client_ws_is_open(ws) && !speak_finished(st, end_sample) &&
                       !speak_stalled(st))
                    bc_sleep_us((int64_t)SPEAK_POLL_MS * US_PER_MS);
                if (client_ws_is_open(ws)) {
                    if (!speak_finished(st, end_sample))
                        fprintf(stderr,
                                "babelcast: no final caption for the end of the audio "
                                "within %d s\n",
                                SPEAK_FINAL_TIMEOUT_MS / 1000);
                    client_ws_close(ws, SPEAK_CLOSE_NORMAL, "done");
                    client_ws_wait_closed(ws, SPEAK_CLOSE_WAIT_MS);
                    exit_code = CLI_EXIT_OK;
                    break;
                }
            }
            client_ws_wait_closed(ws, SPEAK_CLOSE_WAIT_MS);
            pthread_mutex_lock(&st->conn.mu);
            code = st->conn.closed ? st->conn.close_code : CLIENT_WS_CLOSE_ABNORMAL;
            pthread_mutex_unlock(&st->conn.mu);
        }
        if (code < 0 && base < 0)
            break; /* first connection failed: reported already */
        if (code > 0 && code != SPEAK_CLOSE_BUSY) {
            pthread_mutex_lock(&st->conn.mu);
            cli_fail(CLI_EXIT_FAILURE, "server closed the connection: %d %s", code,
                     st->conn.close_reason);
            pthread_mutex_unlock(&st->conn.mu);
            break;
        }
        /* Busy (or reconnecting after busy): back off, resume where the server stopped. */
        retries = pos > last_pos ? 0 : retries + 1;
        last_pos = pos;
        if (retries > SPEAK_RETRIES_MAX) {
            cli_fail(CLI_EXIT_FAILURE, "server stayed busy (%d retries without progress)",
                     SPEAK_RETRIES_MAX);
            break;
        }
        client_ws_free(ws);
        ws = NULL;
        retry_ms = retries ? (retry_ms * 2 > SPEAK_RETRY_MAX_MS ? SPEAK_RETRY_MAX_MS : retry_ms * 2)
                           : SPEAK_RETRY_FIRST_MS;
        bc_sleep_us((int64_t)retry_ms * US_PER_MS);
    }
    client_ws_free(ws);
    return exit_code;
}

int cli_speak(int argc, char **argv)
{
    struct speak_opts o;
    int rc = speak_parse(argc, argv, &o);
    if (rc > 0) {
        speak_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (rc < 0)
        return -rc;
    char err[512];
    struct audio_pcm pcm;
    if (audio_load(o.file, AUDIO_SPEECH_RATE_HZ, &pcm, err, sizeof err))
        return cli_fail(CLI_EXIT_FAILURE, "%s", err);
    struct speak_state st;
    memset(&st, 0, sizeof st);
    pthread_mutex_init(&st.conn.mu, NULL);
    st.conn.on_message = speak_on_message;
    st.quiet = o.quiet;
    char *id = NULL, *token = NULL, *ws_url = NULL, *esc_id = NULL, *esc_token = NULL;
    int exit_code = CLI_EXIT_FAILURE;
    if (o.session) {
        id = bc_strdup(o.session);
        token = bc_strdup(o.token);
    } else {
        char langs[CLI_LANGS_MAX][CLI_LANG_LEN];
        const char *targets[CLI_LANGS_MAX];
        int n = o.targets ? cli_parse_langs(o.targets, langs, CLI_LANGS_MAX) : 0;
        for (int i = 0; i < n; i++)
            targets[i] = langs[i];
        if (client_rest_create_session(o.url, targets, (size_t)n, SPEAK_TIMEOUT_MS, &id, &token,
                                       err, sizeof err)) {
            cli_fail(CLI_EXIT_FAILURE, "cannot create a session: %s", err);
            goto done;
        }
        char *listen = client_url_join(o.url, "/listen/%s", id);
        printf("session %s\ntoken %s\nlisten %s\n", id, token, listen);
        fflush(stdout);
        free(listen);
    }
    esc_id = client_url_escape(id);
    esc_token = client_url_escape(token);
    ws_url = client_url_join(o.url, "/ws/speak/%s?token=%s", esc_id, esc_token);
    exit_code = speak_run(&o, &pcm, ws_url, &st);
    if (exit_code == CLI_EXIT_OK && o.end_session &&
        client_rest_end_session(o.url, id, token, SPEAK_TIMEOUT_MS, err, sizeof err))
        exit_code = cli_fail(CLI_EXIT_FAILURE, "cannot end the session: %s", err);
done:
    free(ws_url);
    free(esc_id);
    free(esc_token);
    free(id);
    free(token);
    audio_pcm_release(&pcm);
    pthread_mutex_destroy(&st.conn.mu);
    return exit_code;
}

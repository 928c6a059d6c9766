/* Speaker and listener sockets, and the fan-out of delivery messages. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio_opus.h"
#include "gateway/gateway_internal.h"
#include "protocol/protocol.h"
#include "metrics/probes.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define GW_ACK_EVERY_FRAMES 10
#define GW_DRAIN_BATCH 256
#define GW_QUEUE_INITIAL 64
/* A listener that stopped reading gets no new messages to trip the lag
 * check, so it is also checked on a timer. */
#define GW_LAG_CHECK_INTERVAL_MS 500
#define GW_SPEAK_PREFIX "/ws/speak/"
#define GW_LISTEN_PREFIX "/ws/listen/"
#define BYTES_PER_SAMPLE 2
#define GW_CODEC_NAME_MAX 16
/* Kernel send buffers: about 6 s of PCM16 speech for a listener; for a
 * speaker, who gets only small text messages, a few hundred of them. */
#define GW_LISTENER_SNDBUF_BYTES (256 * 1024)
#define GW_SPEAKER_SNDBUF_BYTES (32 * 1024)
/* A speaker's reads pause while this much of its audio waits for the
 * stream, and resume below half of it: memory stays bounded whatever the
 * stream's speed (at 100 ms frames, 64 are 6.4 s of speech). */
#define GW_INGEST_MAX_RECORDS 64
#define GW_INGEST_MAX_BYTES (1024 * 1024)

enum close_code {
    CLOSE_ENDED_NORMALLY = 1000,
    CLOSE_GOING_AWAY = 1001,
    CLOSE_TRY_AGAIN = 1013, /* a shared store (Redis, the disk) is unreachable */
    CLOSE_BAD_FRAME = 4400,
    CLOSE_BAD_TOKEN = 4401,
    CLOSE_TOO_SLOW = 4408,
    CLOSE_NO_SESSION = 4404,
    CLOSE_REPLACED = 4409,
    CLOSE_SESSION_ENDED = 4410,
    CLOSE_FRAME_TOO_LARGE = 4413,
    CLOSE_BAD_LANGUAGE = 4415,
    CLOSE_LIMIT = 4429,
    CLOSE_BUSY = 4503,
};

/* Closes from inside this connection's own callback. */
static int close_now(struct conn *c, int code, const char *reason)
{
    lws_close_reason(c->wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
    return -1;
}

/* Adds c to the WebSocket connections with a fixed kernel send buffer:
 * without one the kernel's autotuning hides megabytes of lag from the
 * lag limit. */
static void link_conn(struct gateway *srv, struct conn *c, int sndbuf_bytes)
{
    c->next = srv->conns;
    srv->conns = c;
    if (setsockopt(lws_get_socket_fd(c->wsi), SOL_SOCKET, SO_SNDBUF, &sndbuf_bytes,
                   sizeof sndbuf_bytes) < 0)
        bc_debug("send buffer not set: %s", strerror(errno));
}

static void drop_queue(struct conn *c)
{
    while (c->queue_count > 0) {
        delivery_msg_unref(c->queue[c->queue_head].msg);
        c->queue_head = (c->queue_head + 1) % c->queue_cap;
        c->queue_count--;
    }
    c->queue_bytes = 0;
}

/* Closes another connection after what is queued for it. */
static void close_after_queue(struct conn *c, int code, const char *reason)
{
    if (c->close_code)
        return;
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    lws_callback_on_writable(c->wsi);
}

/* Closes another connection: its writeable callback does it. What was
 * queued for it is dropped: a replaced or lagging peer gets no more. */
static void close_later(struct conn *c, int code, const char *reason)
{
    if (c->close_code)
        return;
    drop_queue(c);
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    lws_callback_on_writable(c->wsi);
}

/* Lag is the age of the oldest unsent message, not the bytes queued:
 * synthesis delivers an utterance's speech in one burst, faster than real
 * time, which a listener that keeps up drains within moments. The byte
 * limit only bounds memory. A speaker that stops reading is dropped the
 * same way (its page reconnects and resends what was not acknowledged).
 * Returns 1 after dropping the connection. */
static int drop_if_lagging(struct gateway *srv, struct conn *c, size_t incoming_bytes,
                           int64_t now_us)
{
    if (c->kind == CONN_HTTP || c->close_code)
        return 0;
    int64_t max_lag_us = (int64_t)srv->config.listener_max_lag_ms * 1000;
    int too_old = c->queue_count > 0 && now_us - c->queue[c->queue_head].enqueued_us > max_lag_us;
    if (!too_old && c->queue_bytes + incoming_bytes <= srv->config.listener_queue_max_bytes)
        return 0;
    probe_lag_drop(c->kind == CONN_LISTENER);
    close_later(c, CLOSE_TOO_SLOW,
                c->kind == CONN_LISTENER ? "listener fell too far behind"
                                         : "speaker fell too far behind reading messages");
    return 1;
}

static void enqueue(struct gateway *srv, struct conn *c, struct delivery_msg *m)
{
    if (c->close_code)
        return;
    int64_t now_us = bc_now_us();
    if (drop_if_lagging(srv, c, m->len, now_us))
        return;
    if (c->queue_count == c->queue_cap) {
        size_t cap = c->queue_cap ? c->queue_cap * 2 : GW_QUEUE_INITIAL;
        struct gw_queued *q = bc_calloc(cap, sizeof *q);
        for (size_t i = 0; i < c->queue_count; i++)
            q[i] = c->queue[(c->queue_head + i) % c->queue_cap];
        free(c->queue);
        c->queue = q;
        c->queue_cap = cap;
        c->queue_head = 0;
    }
    delivery_msg_ref(m);
    struct gw_queued *slot = &c->queue[(c->queue_head + c->queue_count++) % c->queue_cap];
    slot->msg = m;
    slot->enqueued_us = now_us;
    c->queue_bytes += m->len;
    lws_callback_on_writable(c->wsi);
}

static void send_json(struct gateway *srv, struct conn *c, cJSON *json)
{
    struct delivery_msg *m = delivery_msg_json(c->session, c->lang, json);
    enqueue(srv, c, m);
    delivery_msg_unref(m);
}

struct gw_session *gw_session_find(struct gateway *srv, const char *id, int create)
{
    for (struct gw_session *s = srv->sessions; s; s = s->next) {
        if (strcmp(s->id, id) == 0)
            return s;
    }
    if (!create)
        return NULL;
    struct gw_session *s = bc_calloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    s->next = srv->sessions;
    srv->sessions = s;
    return s;
}

/* Queues a record of no speaker connection (an end) behind the session's
 * audio. */
static void submit_end(struct gateway *srv, struct gw_session *s, enum stream_kind kind)
{
    s->ingest_pending++;
    gw_ingest_submit(srv->ingest, NULL, s->id, kind, NULL, 0);
}

void gw_end_session(struct gateway *srv, const char *id)
{
    submit_end(srv, gw_session_find(srv, id, 1), STREAM_KIND_SESSION_END);
}

void gw_ws_end_utterances(struct gateway *srv)
{
    for (struct gw_session *s = srv->sessions; s; s = s->next) {
        if (s->speaker && (s->received_samples > 0 || s->ingest_pending > 0))
            submit_end(srv, s, STREAM_KIND_END);
    }
}

_Static_assert(SESSION_LANG_LEN == PROTOCOL_LANG_MAX, "listener counts go out as they are read");

static void send_listener_counts(struct gateway *srv, const char *id)
{
    struct gw_session *s = gw_session_find(srv, id, 0);
    if (!s || !s->speaker || s->speaker->awaiting_ready)
        return;
    char langs[SESSION_TARGETS_MAX][SESSION_LANG_LEN];
    int counts[SESSION_TARGETS_MAX];
    size_t n = session_listener_counts(srv->registry, id, langs, counts, SESSION_TARGETS_MAX);
    cJSON *json = protocol_listeners(langs, counts, n);
    send_json(srv, s->speaker, json);
    cJSON_Delete(json);
}

/* Splits "/ws/speak/ID" into the id; 0 or -1. */
static int path_session(const char *uri, const char *prefix, char *id, size_t len)
{
    size_t plen = strlen(prefix);
    if (strncmp(uri, prefix, plen) != 0)
        return -1;
    const char *rest = uri + plen;
    size_t n = strcspn(rest, "/?");
    if (n == 0 || n >= len || rest[n] != '\0')
        return -1;
    memcpy(id, rest, n);
    id[n] = '\0';
    return 0;
}

/* Pauses a speaker's reads while too much of its audio waits for the
 * stream or its ready is not sent; resumes them below half. */
static void update_rx(struct conn *c)
{
    int over = c->ingest_records > GW_INGEST_MAX_RECORDS || c->ingest_bytes > GW_INGEST_MAX_BYTES;
    int under = c->ingest_records <= GW_INGEST_MAX_RECORDS / 2 &&
                c->ingest_bytes <= GW_INGEST_MAX_BYTES / 2;
    int pause = c->awaiting_ready || over || (c->rx_paused && !under);
    if (pause == c->rx_paused)
        return;
    c->rx_paused = pause;
    lws_rx_flow_control(c->wsi, !pause);
}

/* What the log holds, not what this process saw: after a restart, or
 * when the speaker comes from another gateway, it resumes exactly there.
 * Read once none of the session's records is on its way, so a reconnecting
 * speaker neither resends what is about to be stored nor skips what fails. */
static void send_ready(struct gateway *srv, struct conn *c, struct gw_session *s)
{
    uint64_t audio_bytes;
    c->awaiting_ready = 0;
    update_rx(c);
    if (stream_audio_bytes(srv->stream, c->session, &audio_bytes) == 0)
        s->received_samples = (int64_t)(audio_bytes / BYTES_PER_SAMPLE);
    cJSON *json = protocol_ready(c->session, s->received_samples);
    send_json(srv, c, json);
    cJSON_Delete(json);
    send_listener_counts(srv, c->session);
}

static int open_speaker(struct gateway *srv, struct conn *c, const struct session_info *info)
{
    char token[SESSION_TOKEN_LEN + 8] = "";
    if (gw_query_arg(c->wsi, "token", token, sizeof token) < 0)
        token[0] = '\0';
    int rc = session_check_token(srv->registry, c->session, token);
    if (rc == BC_EIO)
        return close_now(c, CLOSE_TRY_AGAIN, "session registry unreachable: try again");
    if (rc < 0)
        return close_now(c, CLOSE_BAD_TOKEN, "missing or wrong speaker token");
    /* A session no worker has taken yet (none of its audio is in the
     * stream) that no worker has room for now: load rose since it was
     * created. Its speaker would talk into a queue nobody reads. */
    uint64_t audio_bytes;
    if (stream_audio_bytes(srv->stream, c->session, &audio_bytes) == 0 && audio_bytes == 0 &&
        !gw_reserve_room(srv, c->session))
        return close_now(c, CLOSE_BUSY, "server full: no worker can take this session now; "
                                        "try again later");
    c->kind = CONN_SPEAKER;
    link_conn(srv, c, GW_SPEAKER_SNDBUF_BYTES);
    snprintf(c->lang, sizeof c->lang, "%s", info->source);
    struct gw_session *s = gw_session_find(srv, c->session, 1);
    if (s->speaker)
        close_later(s->speaker, CLOSE_REPLACED, "replaced by a new speaker connection");
    s->speaker = c;
    c->feed = gw_feed_new(++srv->last_feed_gen);
    session_touch(srv->registry, c->session);
    delivery_subscribe(srv->bus, c->session, 1);
    if (s->ingest_pending > 0) {
        c->awaiting_ready = 1; /* ready once they are in: ingest_result */
        update_rx(c);
    } else
        send_ready(srv, c, s);
    return 0;
}

static void replay_recent(struct gateway *srv, struct conn *c)
{
    struct transcript *t;
    if (session_recent_captions(srv->registry, c->session, c->lang,
                                (size_t)srv->config.recent_captions, &t) < 0)
        return;
    for (size_t i = 0; i < transcript_count(t); i++) {
        const struct transcript_cue *cue = transcript_cue_at(t, i);
        cJSON *json = protocol_caption(c->lang, cue->utterance, true, cue->text,
                                            cue->source_text, cue->start_ms, cue->end_ms);
        cJSON_AddBoolToObject(json, "replay", 1);
        send_json(srv, c, json);
        cJSON_Delete(json);
    }
    transcript_free(t);
}

static int open_listener(struct gateway *srv, struct conn *c, const struct session_info *info)
{
    char key[SESSION_KEY_LEN + 1];
    if (!gw_may_listen(srv, c->wsi, info, key, sizeof key))
        return close_now(c, CLOSE_BAD_TOKEN, "a private session: missing or wrong listener key");
    char lang[SESSION_LANG_LEN + 8] = "";
    if (gw_query_arg(c->wsi, "lang", lang, sizeof lang) < 0)
        return close_now(c, CLOSE_BAD_LANGUAGE, "language not offered");
    if (!lang[0])
        snprintf(lang, sizeof lang, "%s", info->source);
    const struct catalog_language *l = catalog_find(srv->catalog, lang);
    if (!l && strcmp(lang, info->source) != 0)
        return close_now(c, CLOSE_BAD_LANGUAGE, "language not offered");
    snprintf(c->lang, sizeof c->lang, "%s", l ? l->code : info->source);
    char codec[GW_CODEC_NAME_MAX] = "";
    c->codec = DELIVERY_CODEC_PCM16;
    int has_codec = gw_query_arg(c->wsi, "codec", codec, sizeof codec);
    if (has_codec < 0 || (has_codec == 0 && codec[0] && delivery_codec_parse(codec, &c->codec) < 0))
        return close_now(c, CLOSE_BAD_LANGUAGE, "unknown codec: pcm16 or opus");
    int rc = session_listener_join(srv->registry, c->session, c->lang);
    if (rc == BC_ELIMIT)
        return close_now(c, CLOSE_LIMIT, "too many listeners in this session");
    if (rc == BC_EIO)
        return close_now(c, CLOSE_TRY_AGAIN, "session registry unreachable: try again");
    if (rc < 0)
        return close_now(c, CLOSE_SESSION_ENDED, "session ended");
    c->kind = CONN_LISTENER;
    link_conn(srv, c, GW_LISTENER_SNDBUF_BYTES);
    delivery_subscribe(srv->bus, c->session, 1);
    delivery_demand_add(srv->bus, c->session, c->lang, c->codec, 1);
    int opus = c->codec == DELIVERY_CODEC_OPUS;
    int rate = opus ? AUDIO_OPUS_RATE_HZ : srv->catalog ? catalog_sample_rate(srv->catalog) : 0;
    cJSON *json = protocol_hello(c->session, c->lang, rate, delivery_codec_name(c->codec),
                                 opus ? AUDIO_OPUS_FRAME_MS : 0, l && l->voice);
    send_json(srv, c, json);
    cJSON_Delete(json);
    replay_recent(srv, c);
    send_listener_counts(srv, c->session);
    return 0;
}

int gw_ws_established(struct gateway *srv, struct conn *c)
{
    int speaker = path_session(c->uri, GW_SPEAK_PREFIX, c->session, sizeof c->session) == 0;
    int listener =
        !speaker && path_session(c->uri, GW_LISTEN_PREFIX, c->session, sizeof c->session) == 0;
    if (!speaker && !listener)
        return close_now(c, CLOSE_NO_SESSION, "unknown socket path");
    struct session_info info;
    int rc = session_get(srv->registry, c->session, &info);
    if (rc == BC_EIO)
        return close_now(c, CLOSE_TRY_AGAIN, "session registry unreachable: try again");
    if (rc < 0)
        return close_now(c, CLOSE_NO_SESSION, "no such session");
    if (info.state == SESSION_ENDED)
        return close_now(c, CLOSE_SESSION_ENDED, "session ended");
    return speaker ? open_speaker(srv, c, &info) : open_listener(srv, c, &info);
}

/* Tells the speaker how much of its audio is in the stream. */
static void send_ack(struct gateway *srv, struct conn *c)
{
    struct gw_session *s = gw_session_find(srv, c->session, 1);
    c->frames_since_ack = 0;
    cJSON *json = protocol_ack(s->received_samples);
    send_json(srv, c, json);
    cJSON_Delete(json);
}

/* Nothing more is acknowledged: the speaker resends from its last ack.
 * What is queued for it (acks of what was accepted) goes out first. */
static void refuse_append(struct conn *c, int rc, const char *what)
{
    char reason[GW_CLOSE_REASON_MAX];
    int code = rc == BC_EIO ? CLOSE_TRY_AGAIN : CLOSE_BUSY;
    snprintf(reason, sizeof reason, "%s; %s",
             rc == BC_EIO       ? "ingestion stream unreachable"
             : rc == BC_ENOSPC ? "no space left on the server's disk"
                               : "server busy",
             what);
    bc_info("session %s: speaker closed with %d: %s", c->session, code, reason);
    close_after_queue(c, code, reason);
}

/* Queues a record of the speaker's for the stream; its result comes back
 * to ingest_result. */
static void submit(struct gateway *srv, struct conn *c, enum stream_kind kind, const void *data,
                   size_t len)
{
    gw_session_find(srv, c->session, 1)->ingest_pending++;
    c->ingest_records++;
    c->ingest_bytes += len;
    gw_ingest_submit(srv->ingest, c->feed, c->session, kind, data, len);
    update_rx(c);
}

/* Counts frames the stream accepted. Frames appended together may pass
 * the ack period: the ack then says how much is in with them, and the
 * periods stay where the speaker counts them (every GW_ACK_EVERY_FRAMES
 * frames since it connected or sent an end), so a speaker that stops
 * after a whole number of periods hears about its last frame. */
static void ack_frames(struct gateway *srv, struct conn *c, size_t frames)
{
    size_t total = (size_t)c->frames_since_ack + frames;
    if (total >= GW_ACK_EVERY_FRAMES)
        send_ack(srv, c);
    c->frames_since_ack = (int)(total % GW_ACK_EVERY_FRAMES);
}

/* Acknowledges what the stream accepted, or closes the speaker whose
 * record it refused. The speaker may be gone (or replaced): then only the
 * session's count moves. */
static void ingest_result(struct gateway *srv, const struct gw_ingest_result *r)
{
    struct gw_session *s = gw_session_find(srv, r->session, 0);
    if (!s)
        return;
    s->ingest_pending -= r->records;
    int accepted = !r->dropped && r->rc == 0;
    if (accepted && r->kind == STREAM_KIND_AUDIO)
        s->received_samples += (int64_t)(r->bytes / BYTES_PER_SAMPLE);
    struct conn *c = s->speaker;
    if (r->gen == 0 && r->rc < 0)
        bc_warn("session %s: its end was not appended to the stream: %s", s->id,
                bc_strerror(r->rc));
    else if (r->gen != 0 && c && gw_feed_gen(c->feed) == r->gen) {
        c->ingest_records -= r->records;
        c->ingest_bytes -= r->bytes;
        if (!r->dropped && r->rc < 0)
            refuse_append(c, r->rc,
                          r->kind == STREAM_KIND_END ? "the end was not accepted: send it again"
                                                     : "audio not accepted: resend it");
        else if (accepted && r->kind == STREAM_KIND_END)
            send_ack(srv, c);
        else if (accepted)
            ack_frames(srv, c, r->records);
        update_rx(c);
    }
    if (s->ingest_pending == 0 && c && c->awaiting_ready && !c->close_code)
        send_ready(srv, c, s);
}

void gw_ws_ingest_results(struct gateway *srv)
{
    if (!srv->ingest)
        return;
    struct gw_ingest_result *results;
    size_t n;
    gw_ingest_take(srv->ingest, &results, &n);
    for (size_t i = 0; i < n; i++)
        ingest_result(srv, &results[i]);
    free(results);
}

static int speaker_control(struct gateway *srv, struct conn *c, const char *text, size_t len)
{
    cJSON *json = cJSON_ParseWithLength(text, len);
    const cJSON *type = json ? cJSON_GetObjectItemCaseSensitive(json, "type") : NULL;
    int rc = 0;
    if (!cJSON_IsString(type))
        rc = close_now(c, CLOSE_BAD_FRAME, "control frames are JSON objects with a type");
    else if (strcmp(type->valuestring, "end") == 0)
        submit(srv, c, STREAM_KIND_END, NULL, 0);
    else
        rc = close_now(c, CLOSE_BAD_FRAME, "unknown control message type");
    cJSON_Delete(json);
    return rc;
}

static int speaker_audio(struct gateway *srv, struct conn *c)
{
    if (c->rx_len % BYTES_PER_SAMPLE)
        return close_now(c, CLOSE_BAD_FRAME, "PCM16 frames need an even number of bytes");
    if (c->rx_len == 0)
        return 0;
    probe_speaker_frame(c->rx_len);
    submit(srv, c, STREAM_KIND_AUDIO, c->rx, c->rx_len);
    return 0;
}

int gw_ws_receive(struct gateway *srv, struct conn *c, const void *in, size_t len)
{
    if (c->close_code)
        return 0;
    if (c->kind == CONN_LISTENER) {
        if (lws_frame_is_binary(c->wsi))
            return close_now(c, CLOSE_BAD_FRAME, "listeners do not send audio");
        return 0;
    }
    if (c->kind != CONN_SPEAKER)
        return -1;
    /* Audio after the final flush would never be processed in this run;
     * the speaker resends it, unacknowledged, to the next one. */
    if (srv->draining)
        return close_now(c, CLOSE_GOING_AWAY, "server shutting down");
    if (c->rx_len + len > srv->config.max_frame_bytes)
        return close_now(c, CLOSE_FRAME_TOO_LARGE, "frame larger than the limit");
    if (lws_is_first_fragment(c->wsi))
        c->rx_len = 0;
    if (!c->rx)
        c->rx = bc_malloc(srv->config.max_frame_bytes);
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!lws_is_final_fragment(c->wsi) || lws_remaining_packet_payload(c->wsi) > 0)
        return 0;
    int rc = lws_frame_is_binary(c->wsi) ? speaker_audio(srv, c)
                                         : speaker_control(srv, c, (const char *)c->rx, c->rx_len);
    c->rx_len = 0;
    return rc;
}

int gw_ws_writeable(struct gateway *srv, struct conn *c)
{
    if (c->queue_count > 0) {
        struct delivery_msg *m = c->queue[c->queue_head].msg;
        int n = lws_write(c->wsi, m->payload, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
        c->queue_head = (c->queue_head + 1) % c->queue_cap;
        c->queue_count--;
        c->queue_bytes -= m->len;
        int closes = m->closes;
        delivery_msg_unref(m);
        if (n < 0)
            return -1;
        if (closes)
            return close_now(c, CLOSE_ENDED_NORMALLY, "session ended");
        if (c->queue_count > 0 || c->close_code)
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (c->close_code)
        return close_now(c, c->close_code, c->close_reason);
    (void)srv;
    return 0;
}

void gw_ws_closed(struct gateway *srv, struct conn *c)
{
    for (struct conn **p = &srv->conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    drop_queue(c);
    free(c->queue);
    free(c->rx);
    gw_feed_unref(c->feed);
    c->queue = NULL;
    c->rx = NULL;
    c->feed = NULL;
    if (srv->closing) {
        c->kind = CONN_HTTP;
        return;
    }
    if (c->kind == CONN_SPEAKER) {
        struct gw_session *s = gw_session_find(srv, c->session, 0);
        if (s && s->speaker == c)
            s->speaker = NULL;
        /* The idle period starts when the speaker leaves. */
        session_touch(srv->registry, c->session);
        delivery_subscribe(srv->bus, c->session, -1);
    } else if (c->kind == CONN_LISTENER) {
        delivery_demand_add(srv->bus, c->session, c->lang, c->codec, -1);
        delivery_subscribe(srv->bus, c->session, -1);
        session_listener_leave(srv->registry, c->session, c->lang);
        send_listener_counts(srv, c->session);
    }
    c->kind = CONN_HTTP;
}

static int wants(const struct conn *c, const struct delivery_msg *m)
{
    /* A speaker's first message is its ready. */
    if (strcmp(c->session, m->session) != 0 || c->awaiting_ready)
        return 0;
    if (strcmp(m->lang, DELIVERY_ALL_LANGS) == 0)
        return 1;
    if (c->kind == CONN_SPEAKER)
        return m->to_speaker;
    if (m->codec != DELIVERY_CODEC_ANY && m->codec != c->codec)
        return 0;
    return strcmp(c->lang, m->lang) == 0;
}

void gw_ws_dispatch(struct gateway *srv)
{
    struct delivery_msg *batch[GW_DRAIN_BATCH];
    size_t n;
    gw_ws_ingest_results(srv);
    while ((n = delivery_drain(srv->bus, batch, GW_DRAIN_BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            for (struct conn *c = srv->conns; c; c = c->next) {
                if (wants(c, batch[i]))
                    enqueue(srv, c, batch[i]);
            }
            delivery_msg_unref(batch[i]);
        }
    }
}

void gw_ws_close_all(struct gateway *srv, int code, const char *reason)
{
    for (struct conn *c = srv->conns; c; c = c->next)
        close_after_queue(c, code, reason);
}

static void check_lag(lws_sorted_usec_list_t *sul)
{
    struct gateway *srv = lws_container_of(sul, struct gateway, lag_check);
    int64_t now_us = bc_now_us();
    for (struct conn *c = srv->conns; c; c = c->next)
        drop_if_lagging(srv, c, 0, now_us);
    gw_ws_start_lag_checks(srv);
}

void gw_ws_start_lag_checks(struct gateway *srv)
{
    lws_sul_schedule(srv->context, 0, &srv->lag_check, check_lag,
                     (lws_usec_t)GW_LAG_CHECK_INTERVAL_MS * LWS_US_PER_MS);
}

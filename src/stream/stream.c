#include "stream/stream.h"

#include <stdlib.h>
#include <string.h>

#include "metrics/probes.h"
#include "stream/stream_backend.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define STREAM_DEFAULT_MAX_BACKLOG_BYTES ((size_t)32 * 1024 * 1024)
#define STREAM_DEFAULT_FSYNC_INTERVAL_MS 200
#define STREAM_DEFAULT_RETENTION_MS (24 * 60 * 60 * 1000)
#define STREAM_DEFAULT_MAX_ATTEMPTS 3
#define US_PER_SECOND 1e6

#define MEM_SCHEME "mem://"
#define FILE_SCHEME "file://"
#define REDIS_SCHEME "redis://"
#define KINESIS_SCHEME "kinesis://"

struct stream {
    const struct stream_ops *ops;
    void *impl;
    stream_notify_cb notify;
    void *notify_data;
    int backend_notifies; /* the backend calls notify itself */
};

int stream_id_valid(const char *id)
{
    if (!id)
        return 0;
    size_t n = strnlen(id, STREAM_SESSION_ID_MAX);
    if (n == 0 || n >= STREAM_SESSION_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void stream_default_params(struct stream_params *params)
{
    params->max_backlog_bytes = STREAM_DEFAULT_MAX_BACKLOG_BYTES;
    params->fsync_interval_ms = STREAM_DEFAULT_FSYNC_INTERVAL_MS;
    params->retention_ms = STREAM_DEFAULT_RETENTION_MS;
    params->max_attempts = STREAM_DEFAULT_MAX_ATTEMPTS;
    params->redis_url = NULL;
    params->state_dir = NULL;
}

int stream_open(const char *url, const struct stream_params *params, struct stream **out)
{
    if (!out)
        return BC_EINVAL;
    *out = NULL;
    struct stream_params p;
    if (params)
        p = *params;
    else
        stream_default_params(&p);
    if (!url || p.max_backlog_bytes == 0 || p.fsync_interval_ms <= 0 || p.retention_ms < 0 ||
        p.max_attempts < 1) {
        bc_error("stream: bad url or parameters");
        return BC_EINVAL;
    }

    const struct stream_ops *ops = NULL;
    void *impl = NULL;
    int rc;
    if (strcmp(url, MEM_SCHEME) == 0) {
        rc = stream_mem_backend_open(&p, &ops, &impl);
    } else if (strncmp(url, FILE_SCHEME, strlen(FILE_SCHEME)) == 0 &&
               url[strlen(FILE_SCHEME)] != '\0') {
        rc = stream_file_backend_open(url + strlen(FILE_SCHEME), &p, &ops, &impl);
    } else if (strncmp(url, REDIS_SCHEME, strlen(REDIS_SCHEME)) == 0) {
        rc = stream_redis_backend_open(url, &p, &ops, &impl);
    } else if (strncmp(url, KINESIS_SCHEME, strlen(KINESIS_SCHEME)) == 0) {
        rc = stream_kinesis_backend_open(url, &p, &ops, &impl);
    } else {
        bc_error("stream: unsupported url '%s' (want mem://, file://DIR, redis://HOST:PORT or "
                 "kinesis://NAME?region=R)",
                 url);
        return BC_EINVAL;
    }
    if (rc < 0)
        return rc;
    struct stream *s = bc_calloc(1, sizeof(*s));
    s->ops = ops;
    s->impl = impl;
    *out = s;
    return 0;
}

void stream_close(struct stream *s)
{
    if (!s)
        return;
    if (s->ops)
        s->ops->close(s->impl);
    free(s);
}

void stream_set_notify(struct stream *s, stream_notify_cb cb, void *user_data)
{
    if (!s)
        return;
    s->notify = cb;
    s->notify_data = user_data;
    if (s->ops->set_notify)
        s->backend_notifies = s->ops->set_notify(s->impl, cb, user_data) == 0;
}

int stream_append(struct stream *s, const char *session_id, enum stream_kind kind, const void *data,
                  size_t len, uint64_t *seq_out)
{
    if (!s || !stream_id_valid(session_id) ||
        (kind != STREAM_KIND_AUDIO && kind != STREAM_KIND_END && kind != STREAM_KIND_SESSION_END) || (len && !data) ||
        len > STREAM_RECORD_MAX_BYTES)
        return BC_EINVAL;
    uint64_t seq = 0;
    int64_t started_us = bc_now_us();
    int rc = s->ops->append(s->impl, session_id, kind, data, len, &seq);
    probe_stream_append((double)(bc_now_us() - started_us) / US_PER_SECOND, rc < 0);
    if (rc < 0)
        return rc;
    if (seq_out)
        *seq_out = seq;
    /* The backend has released its lock: the callback may call back in. */
    if (s->notify && !s->backend_notifies)
        s->notify(s->notify_data, session_id);
    return 0;
}

int stream_read(struct stream *s, const char *session_id, uint64_t after_seq,
                struct stream_record **out)
{
    if (!out)
        return BC_EINVAL;
    *out = NULL;
    if (!s || !stream_id_valid(session_id))
        return BC_EINVAL;
    return s->ops->read(s->impl, session_id, after_seq, out);
}

int stream_checkpoint(struct stream *s, const char *session_id, uint64_t seq, const void *state,
                      size_t state_len)
{
    if (!s || !stream_id_valid(session_id) || state_len > STREAM_STATE_MAX || (state_len && !state))
        return BC_EINVAL;
    return s->ops->checkpoint(s->impl, session_id, seq, state, state_len);
}

int stream_checkpoint_get(struct stream *s, const char *session_id, uint64_t *seq, void *state,
                          size_t *state_len)
{
    if (seq)
        *seq = 0;
    if (state_len)
        *state_len = 0;
    if (!s || !stream_id_valid(session_id))
        return BC_EINVAL;
    return s->ops->checkpoint_get(s->impl, session_id, seq, state, state_len);
}

int stream_record_failed(struct stream *s, const char *session_id, uint64_t seq, const char *error)
{
    if (!s || !stream_id_valid(session_id))
        return BC_EINVAL;
    int rc = s->ops->record_failed(s->impl, session_id, seq, error ? error : "");
    if (rc == 1)
        probe_dead_letter();
    return rc;
}

int stream_audio_bytes(struct stream *s, const char *session_id, uint64_t *bytes)
{
    *bytes = 0;
    if (!s || !stream_id_valid(session_id))
        return BC_EINVAL;
    return s->ops->audio_bytes(s->impl, session_id, bytes);
}

size_t stream_dead_letters(struct stream *s, const char *session_id)
{
    if (!s || !stream_id_valid(session_id))
        return 0;
    return s->ops->dead_letters(s->impl, session_id);
}

size_t stream_sessions_pending(struct stream *s, char (*ids)[STREAM_SESSION_ID_MAX], size_t max)
{
    if (!s || !ids || max == 0)
        return 0;
    return s->ops->sessions_pending(s->impl, ids, max);
}

void stream_session_ended(struct stream *s, const char *session_id)
{
    if (s && stream_id_valid(session_id))
        s->ops->session_ended(s->impl, session_id);
}

int stream_lease(struct stream *s, const char *session_id, const char *owner, int ttl_ms,
                 uint64_t *fencing_token)
{
    if (!s || !stream_id_valid(session_id) || !owner || !*owner || ttl_ms <= 0 || !fencing_token)
        return BC_EINVAL;
    return s->ops->lease(s->impl, session_id, owner, ttl_ms, fencing_token);
}

int stream_lease_release(struct stream *s, const char *session_id, const char *owner)
{
    if (!s || !stream_id_valid(session_id) || !owner || !*owner)
        return BC_EINVAL;
    if (!s->ops->lease_release)
        return 0;
    return s->ops->lease_release(s->impl, session_id, owner);
}

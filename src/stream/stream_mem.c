#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream_backend.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/timeutil.h"

#define MEM_INITIAL_RECORDS 64

struct attempt {
    uint64_t seq;
    int count;
};

struct dead_letter {
    uint64_t seq;
    int64_t append_ms;
    char *error;
};

struct session {
    char id[STREAM_SESSION_ID_MAX];
    void *ext;
    /* Pending records live in recs[head .. head+count), contiguous so a
     * durable backend can rewrite them in one pass. */
    struct stream_record **recs;
    size_t head, count, cap;
    size_t backlog_bytes;
    uint64_t next_seq;
    uint64_t checkpoint_seq;
    uint8_t state[STREAM_STATE_MAX];
    size_t state_len;
    int64_t last_append_ms;
    int ended;
    struct attempt *attempts;
    size_t n_attempts;
    struct dead_letter *dead; /* the ones of this run */
    size_t n_dead;
    size_t dead_total; /* including those found on disk */
    uint64_t audio_bytes;
};

struct stream_mem {
    pthread_mutex_t mu;
    struct stream_params params;
    struct stream_mem_hooks hooks;
    struct session **sessions;
    size_t n_sessions, cap_sessions;
};

static struct session *find(struct stream_mem *m, const char *id)
{
    for (size_t i = 0; i < m->n_sessions; i++)
        if (strcmp(m->sessions[i]->id, id) == 0)
            return m->sessions[i];
    return NULL;
}

static void session_free(struct stream_mem *m, struct session *s)
{
    if (!s)
        return;
    if (m->hooks.session_free && s->ext)
        m->hooks.session_free(m->hooks.ctx, s->ext);
    for (size_t i = 0; i < s->count; i++)
        free(s->recs[s->head + i]);
    for (size_t i = 0; i < s->n_dead; i++)
        free(s->dead[i].error);
    free(s->dead);
    free(s->attempts);
    free(s->recs);
    free(s);
}

static struct session *session_add(struct stream_mem *m, const char *id, void *ext)
{
    struct session *s = bc_calloc(1, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->ext = ext;
    s->next_seq = 1;
    s->last_append_ms = bc_wall_ms();
    if (m->n_sessions == m->cap_sessions) {
        m->cap_sessions = m->cap_sessions ? 2 * m->cap_sessions : 16;
        m->sessions = bc_realloc(m->sessions, m->cap_sessions * sizeof(*m->sessions));
    }
    m->sessions[m->n_sessions++] = s;
    return s;
}

static size_t sweep_locked(struct stream_mem *m, int64_t now_ms)
{
    size_t dropped = 0;
    for (size_t i = 0; i < m->n_sessions;) {
        struct session *s = m->sessions[i];
        if (!s->ended || s->count > 0 || now_ms - s->last_append_ms < m->params.retention_ms) {
            i++;
            continue;
        }
        if (m->hooks.drop)
            m->hooks.drop(m->hooks.ctx, s->id, s->ext);
        session_free(m, s);
        m->sessions[i] = m->sessions[--m->n_sessions];
        dropped++;
    }
    return dropped;
}

static int get_or_create(struct stream_mem *m, const char *id, struct session **out)
{
    *out = find(m, id);
    if (*out)
        return 0;
    /* Without a background thread the memory backend forgets ended
     * sessions when new ones arrive, so a long-running server stays small. */
    if (!m->hooks.drop)
        sweep_locked(m, bc_wall_ms());
    void *ext = NULL;
    if (m->hooks.session_new) {
        int rc = m->hooks.session_new(m->hooks.ctx, id, &ext);
        if (rc < 0)
            return rc;
    }
    *out = session_add(m, id, ext);
    return 0;
}

static void push_record(struct session *s, struct stream_record *rec)
{
    if (s->head + s->count == s->cap) {
        if (s->head > 0) {
            memmove(s->recs, s->recs + s->head, s->count * sizeof(*s->recs));
            s->head = 0;
        } else {
            s->cap = s->cap ? 2 * s->cap : MEM_INITIAL_RECORDS;
            s->recs = bc_realloc(s->recs, s->cap * sizeof(*s->recs));
        }
    }
    s->recs[s->head + s->count++] = rec;
    s->backlog_bytes += rec->len;
}

struct stream_mem *stream_mem_new(const struct stream_params *params,
                                  const struct stream_mem_hooks *hooks)
{
    struct stream_mem *m = bc_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    m->params = *params;
    if (hooks)
        m->hooks = *hooks;
    return m;
}

void stream_mem_free(struct stream_mem *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_sessions; i++)
        session_free(m, m->sessions[i]);
    free(m->sessions);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int stream_mem_append(struct stream_mem *m, const char *id, enum stream_kind kind, const void *data,
                      size_t len, uint64_t *seq_out)
{
    /* A record that can never fit would make the caller retry forever. */
    if (len > m->params.max_backlog_bytes)
        return BC_EINVAL;
    struct stream_record *rec = bc_malloc(sizeof(*rec) + len);
    rec->kind = kind;
    rec->len = len;
    if (len)
        memcpy(rec->data, data, len);

    pthread_mutex_lock(&m->mu);
    struct session *s;
    int rc = get_or_create(m, id, &s);
    if (rc < 0)
        goto fail;
    if (s->backlog_bytes + len > m->params.max_backlog_bytes) {
        rc = BC_EAGAIN;
        goto fail;
    }
    rec->seq = s->next_seq;
    rec->append_ms = bc_wall_ms();
    if (m->hooks.append && (rc = m->hooks.append(m->hooks.ctx, s->ext, rec)) < 0)
        goto fail;
    push_record(s, rec);
    s->next_seq++;
    if (kind == STREAM_KIND_AUDIO)
        s->audio_bytes += len;
    s->last_append_ms = rec->append_ms;
    if (seq_out)
        *seq_out = rec->seq;
    pthread_mutex_unlock(&m->mu);
    return 0;

fail:
    pthread_mutex_unlock(&m->mu);
    free(rec);
    return rc;
}

int stream_mem_read(struct stream_mem *m, const char *id, uint64_t after_seq,
                    struct stream_record **out)
{
    *out = NULL;
    int rc = BC_EAGAIN;
    pthread_mutex_lock(&m->mu);
    struct session *s = find(m, id);
    if (s && s->count > 0) {
        uint64_t first = s->recs[s->head]->seq;
        uint64_t idx = after_seq < first ? 0 : after_seq - first + 1;
        if (idx < s->count) {
            const struct stream_record *r = s->recs[s->head + idx];
            *out = bc_malloc(sizeof(*r) + r->len);
            memcpy(*out, r, sizeof(*r) + r->len);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int checkpoint_ok(const struct session *s, uint64_t seq)
{
    if (!s)
        return seq == 0;
    return seq >= s->checkpoint_seq && seq < s->next_seq;
}

int stream_mem_checkpoint_check(struct stream_mem *m, const char *id, uint64_t seq)
{
    pthread_mutex_lock(&m->mu);
    int ok = checkpoint_ok(find(m, id), seq);
    pthread_mutex_unlock(&m->mu);
    return ok ? 0 : BC_EINVAL;
}

int stream_mem_checkpoint(struct stream_mem *m, const char *id, uint64_t seq, const void *state,
                          size_t state_len)
{
    if (state_len > STREAM_STATE_MAX)
        return BC_EINVAL;
    pthread_mutex_lock(&m->mu);
    struct session *s;
    int rc = get_or_create(m, id, &s);
    if (rc < 0)
        goto out;
    if (!checkpoint_ok(s, seq)) {
        rc = BC_EINVAL;
        goto out;
    }
    while (s->count > 0 && s->recs[s->head]->seq <= seq) {
        struct stream_record *r = s->recs[s->head++];
        s->backlog_bytes -= r->len;
        s->count--;
        free(r);
    }
    if (s->count == 0)
        s->head = 0;
    s->checkpoint_seq = seq;
    if (state_len)
        memcpy(s->state, state, state_len);
    s->state_len = state_len;
    size_t kept = 0;
    for (size_t i = 0; i < s->n_attempts; i++)
        if (s->attempts[i].seq > seq)
            s->attempts[kept++] = s->attempts[i];
    s->n_attempts = kept;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int stream_mem_checkpoint_get(struct stream_mem *m, const char *id, uint64_t *seq, void *state,
                              size_t *state_len)
{
    pthread_mutex_lock(&m->mu);
    struct session *s = find(m, id);
    if (seq)
        *seq = s ? s->checkpoint_seq : 0;
    size_t n = s ? s->state_len : 0;
    if (state && n)
        memcpy(state, s->state, n);
    if (state_len)
        *state_len = n;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int stream_mem_record_failed(struct stream_mem *m, const char *id, uint64_t seq, const char *error)
{
    int rc = BC_EINVAL;
    pthread_mutex_lock(&m->mu);
    struct session *s = find(m, id);
    if (!s || s->count == 0)
        goto out;
    uint64_t first = s->recs[s->head]->seq;
    if (seq < first || seq - first >= s->count)
        goto out;
    const struct stream_record *rec = s->recs[s->head + (seq - first)];
    size_t i = 0;
    while (i < s->n_attempts && s->attempts[i].seq != seq)
        i++;
    if (i == s->n_attempts) {
        s->attempts = bc_realloc(s->attempts, (s->n_attempts + 1) * sizeof(*s->attempts));
        s->attempts[s->n_attempts++] = (struct attempt){.seq = seq, .count = 0};
    }
    if (++s->attempts[i].count < m->params.max_attempts) {
        rc = 0;
        goto out;
    }
    if (!error)
        error = "";
    if (m->hooks.dead_letter &&
        (rc = m->hooks.dead_letter(m->hooks.ctx, s->ext, seq, rec->append_ms, error)) < 0) {
        s->attempts[i].count--; /* the next failure tries the dead-letter write again */
        goto out;
    }
    s->dead = bc_realloc(s->dead, (s->n_dead + 1) * sizeof(*s->dead));
    s->dead[s->n_dead++] =
        (struct dead_letter){.seq = seq, .append_ms = rec->append_ms, .error = bc_strdup(error)};
    s->dead_total++;
    s->attempts[i] = s->attempts[--s->n_attempts];
    rc = 1;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

uint64_t stream_mem_audio_bytes(struct stream_mem *m, const char *id)
{
    pthread_mutex_lock(&m->mu);
    struct session *s = find(m, id);
    uint64_t bytes = s ? s->audio_bytes : 0;
    pthread_mutex_unlock(&m->mu);
    return bytes;
}

size_t stream_mem_dead_letters(struct stream_mem *m, const char *id)
{
    pthread_mutex_lock(&m->mu);
    struct session *s = find(m, id);
    size_t n = s ? s->dead_total : 0;
    pthread_mutex_unlock(&m->mu);
    return n;
}

size_t stream_mem_sessions_pending(struct stream_mem *m, char (*ids)[STREAM_SESSION_ID_MAX],
                                   size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_sessions && n < max; i++)
        if (m->sessions[i]->count > 0)
            snprintf(ids[n++], STREAM_SESSION_ID_MAX, "%s", m->sessions[i]->id);
    pthread_mutex_unlock(&m->mu);
    return n;
}

void stream_mem_session_ended(struct stream_mem *m, const char *id)
{
    pthread_mutex_lock(&m->mu);
    struct session *s = find(m, id);
    if (s && !s->ended) {
        s->ended = 1;
        if (m->hooks.ended)
            m->hooks.ended(m->hooks.ctx, s->ext);
    }
    pthread_mutex_unlock(&m->mu);
}

int stream_mem_session_ext(struct stream_mem *m, const char *id, int create, void **ext)
{
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    struct session *s = find(m, id);
    if (!s && create)
        rc = get_or_create(m, id, &s);
    else if (!s)
        rc = BC_ENOTFOUND;
    *ext = rc == 0 ? s->ext : NULL;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int stream_mem_load_session(struct stream_mem *m, const char *id, uint64_t checkpoint_seq,
                            const void *state, size_t state_len, uint64_t last_seq,
                            int64_t last_append_ms, size_t dead_letters, int ended,
                            uint64_t audio_bytes, void *ext)
{
    if (state_len > STREAM_STATE_MAX)
        return BC_EINVAL;
    pthread_mutex_lock(&m->mu);
    int rc = BC_EINVAL;
    if (find(m, id))
        goto out;
    struct session *s = session_add(m, id, ext);
    s->checkpoint_seq = checkpoint_seq;
    s->next_seq = (last_seq > checkpoint_seq ? last_seq : checkpoint_seq) + 1;
    if (state_len)
        memcpy(s->state, state, state_len);
    s->state_len = state_len;
    s->last_append_ms = last_append_ms;
    s->dead_total = dead_letters;
    s->ended = ended;
    s->audio_bytes = audio_bytes;
    rc = 0;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int stream_mem_load_record(struct stream_mem *m, const char *id, struct stream_record *rec)
{
    pthread_mutex_lock(&m->mu);
    int rc = BC_EINVAL;
    struct session *s = find(m, id);
    if (!s)
        goto out;
    uint64_t want = s->count ? s->recs[s->head + s->count - 1]->seq + 1 : s->checkpoint_seq + 1;
    if (rec->seq != want) {
        rc = BC_EFORMAT;
        goto out;
    }
    push_record(s, rec);
    if (s->next_seq <= rec->seq)
        s->next_seq = rec->seq + 1;
    rc = 0;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

void stream_mem_foreach(struct stream_mem *m,
                        void (*fn)(void *ctx, const struct stream_mem_view *v), void *ctx)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_sessions; i++) {
        const struct session *s = m->sessions[i];
        struct stream_mem_view v = {
            .id = s->id,
            .ext = s->ext,
            .checkpoint_seq = s->checkpoint_seq,
            .records = s->recs ? s->recs + s->head : NULL,
            .pending_records = s->count,
            .pending_bytes = s->backlog_bytes,
            .audio_bytes = s->audio_bytes,
            .ended = s->ended,
        };
        fn(ctx, &v);
    }
    pthread_mutex_unlock(&m->mu);
}

size_t stream_mem_sweep(struct stream_mem *m, int64_t now_ms)
{
    pthread_mutex_lock(&m->mu);
    size_t n = sweep_locked(m, now_ms);
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* ---- mem:// backend: the log alone ---- */

static int mem_append(void *impl, const char *id, enum stream_kind kind, const void *data,
                      size_t len, uint64_t *seq_out)
{
    return stream_mem_append(impl, id, kind, data, len, seq_out);
}

static int mem_read(void *impl, const char *id, uint64_t after_seq, struct stream_record **out)
{
    return stream_mem_read(impl, id, after_seq, out);
}

static int mem_checkpoint(void *impl, const char *id, uint64_t seq, const void *state,
                          size_t state_len)
{
    return stream_mem_checkpoint(impl, id, seq, state, state_len);
}

static int mem_checkpoint_get(void *impl, const char *id, uint64_t *seq, void *state,
                              size_t *state_len)
{
    return stream_mem_checkpoint_get(impl, id, seq, state, state_len);
}

static int mem_record_failed(void *impl, const char *id, uint64_t seq, const char *error)
{
    return stream_mem_record_failed(impl, id, seq, error);
}

static size_t mem_dead_letters(void *impl, const char *id)
{
    return stream_mem_dead_letters(impl, id);
}

static int mem_audio_bytes(void *impl, const char *id, uint64_t *bytes)
{
    *bytes = stream_mem_audio_bytes(impl, id);
    return 0;
}

static size_t mem_sessions_pending(void *impl, char (*ids)[STREAM_SESSION_ID_MAX], size_t max)
{
    return stream_mem_sessions_pending(impl, ids, max);
}

static void mem_session_ended(void *impl, const char *id)
{
    stream_mem_session_ended(impl, id);
}

static int mem_lease(void *impl, const char *id, const char *owner, int ttl_ms, uint64_t *token)
{
    *token = 1;
    return 0;
}

static void mem_close(void *impl)
{
    stream_mem_free(impl);
}

static const struct stream_ops mem_ops = {
    .name = "mem",
    .append = mem_append,
    .read = mem_read,
    .checkpoint = mem_checkpoint,
    .checkpoint_get = mem_checkpoint_get,
    .record_failed = mem_record_failed,
    .dead_letters = mem_dead_letters,
    .audio_bytes = mem_audio_bytes,
    .sessions_pending = mem_sessions_pending,
    .session_ended = mem_session_ended,
    .lease = mem_lease,
    .close = mem_close,
};

int stream_mem_backend_open(const struct stream_params *params, const struct stream_ops **ops,
                            void **impl)
{
    *ops = &mem_ops;
    *impl = stream_mem_new(params, NULL);
    return 0;
}

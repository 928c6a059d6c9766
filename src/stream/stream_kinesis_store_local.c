/* kinesis:// leases and checkpoints without Redis: one process (gateway
 * and worker together) keeps them in memory and in a journal file,
 * DIR/kinesis-NAME.journal, one line per change:
 *   P <shard> <pos or -> <done>   a shard's checkpoint
 *   N <shard> <session> <count>   a session's records up to it
 *   C <session> <seq> <state hex or ->
 *   B <session> <audio bytes in all>
 *   F <session> <fencing token>
 *   D <session> <seq> <append_ms> <error hex>   a dead letter
 * The last line of a key wins; a line cut short or damaged is skipped (and
 * counted in a warning). Opening replays the journal and rewrites it
 * compacted (a new file renamed over the old); so does a journal grown past
 * KL_COMPACT_BYTES. Each change is one write(2): a kill -9 loses nothing
 * written; without fsync a power loss may roll checkpoints back, so records
 * are processed again (their captions are not stored twice). Leases are
 * this process's alone. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream/stream_kinesis_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define KL_COMPACT_BYTES ((off_t)16 * 1024 * 1024)
#define KL_LINE_MAX (2 * STREAM_STATE_MAX + KIN_SEQNUM_MAX + 2 * 1024 + 256)
#define KL_ERROR_MAX 1024
#define KL_FIELDS_MAX 5
#define KL_NONE "-"
#define KL_DIGITS "0123456789"
#define KL_HEX_CHARS "0123456789abcdefABCDEF"

struct kl_shard {
    char id[KIN_SHARD_ID_MAX];
    char pos[KIN_SEQNUM_MAX];
    int done;
    struct kin_count *counts;
    size_t n_counts;
    char owner[KIN_OWNER_MAX]; /* "" when not leased */
    int64_t expires_us;
    uint64_t token;
};

struct kl_session {
    char id[STREAM_SESSION_ID_MAX];
    uint64_t seq;
    uint8_t state[STREAM_STATE_MAX];
    size_t state_len;
    uint64_t bytes, fence;
    size_t dead;
};

struct kl_store {
    pthread_mutex_t lock;
    char *path;
    int fd;
    struct kl_shard *shards;
    size_t n_shards;
    struct kl_session *sessions;
    size_t n_sessions;
    uint64_t next_token;
};

/* Caller holds the lock. */
static struct kl_shard *shard_find(struct kl_store *s, const char *id, int create)
{
    for (size_t i = 0; i < s->n_shards; i++)
        if (strcmp(s->shards[i].id, id) == 0)
            return &s->shards[i];
    if (!create)
        return NULL;
    s->shards = bc_realloc(s->shards, (s->n_shards + 1) * sizeof *s->shards);
    struct kl_shard *sh = &s->shards[s->n_shards++];
    memset(sh, 0, sizeof *sh);
    snprintf(sh->id, sizeof sh->id, "%s", id);
    return sh;
}

static struct kl_session *session_find(struct kl_store *s, const char *id, int create)
{
    for (size_t i = 0; i < s->n_sessions; i++)
        if (strcmp(s->sessions[i].id, id) == 0)
            return &s->sessions[i];
    if (!create)
        return NULL;
    s->sessions = bc_realloc(s->sessions, (s->n_sessions + 1) * sizeof *s->sessions);
    struct kl_session *ss = &s->sessions[s->n_sessions++];
    memset(ss, 0, sizeof *ss);
    snprintf(ss->id, sizeof ss->id, "%s", id);
    return ss;
}

static void set_count(struct kl_shard *sh, const char *id, uint64_t n)
{
    for (size_t i = 0; i < sh->n_counts; i++) {
        if (strcmp(sh->counts[i].id, id) == 0) {
            sh->counts[i].n = n;
            return;
        }
    }
    sh->counts = bc_realloc(sh->counts, (sh->n_counts + 1) * sizeof *sh->counts);
    snprintf(sh->counts[sh->n_counts].id, STREAM_SESSION_ID_MAX, "%s", id);
    sh->counts[sh->n_counts++].n = n;
}

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Strict hex of at most cap bytes: the byte count, or -1. Only checks
 * when out is NULL. */
static long hex_decode(const char *in, uint8_t *out, size_t cap)
{
    size_t n = strlen(in);
    if (n % 2 || n / 2 > cap || strspn(in, KL_HEX_CHARS) != n)
        return -1;
    for (size_t i = 0; out && i < n / 2; i++) {
        char pair[3] = {in[2 * i], in[2 * i + 1], '\0'};
        out[i] = (uint8_t)strtoul(pair, NULL, 16);
    }
    return (long)(n / 2);
}

/* A decimal number as the journal writes it (digits only, no overflow). */
static bool parse_u64(const char *s, uint64_t *v)
{
    size_t n = strlen(s);
    if (n == 0 || strspn(s, KL_DIGITS) != n)
        return false;
    errno = 0;
    *v = strtoull(s, NULL, 10);
    return errno == 0;
}

static bool parse_i64(const char *s)
{
    uint64_t v;
    return parse_u64(s[0] == '-' ? s + 1 : s, &v) && v <= (uint64_t)INT64_MAX;
}

static bool is_none(const char *s)
{
    return strcmp(s, KL_NONE) == 0;
}

/* Applies one journal line. false (nothing changed) for a line that is no
 * change this journal writes: cut short, damaged or unknown. */
static bool apply_line(struct kl_store *s, char *line)
{
    char *save = NULL, *f[KL_FIELDS_MAX + 1] = {0};
    int n = 0;
    for (char *t = strtok_r(line, " \n", &save); t && n <= KL_FIELDS_MAX;
         t = strtok_r(NULL, " \n", &save))
        f[n++] = t;
    if (n < 3 || n > KL_FIELDS_MAX || strlen(f[0]) != 1)
        return false;
    uint64_t v;
    uint8_t state[STREAM_STATE_MAX];
    long state_len = 0;
    switch (f[0][0]) {
    case 'P':
        if (n != 4 || !kin_shard_id_valid(f[1]) || !(is_none(f[2]) || kin_seqnum_valid(f[2])) ||
            !(strcmp(f[3], "0") == 0 || strcmp(f[3], "1") == 0))
            return false;
        struct kl_shard *sh = shard_find(s, f[1], 1);
        snprintf(sh->pos, sizeof sh->pos, "%s", is_none(f[2]) ? "" : f[2]);
        sh->done = f[3][0] == '1';
        return true;
    case 'N':
        if (n != 4 || !kin_shard_id_valid(f[1]) || !stream_id_valid(f[2]) || !parse_u64(f[3], &v))
            return false;
        set_count(shard_find(s, f[1], 1), f[2], v);
        return true;
    case 'C':
        if (n != 4 || !stream_id_valid(f[1]) || !parse_u64(f[2], &v) ||
            (!is_none(f[3]) && (state_len = hex_decode(f[3], state, sizeof state)) < 0))
            return false;
        struct kl_session *c = session_find(s, f[1], 1);
        c->seq = v;
        c->state_len = (size_t)state_len;
        memcpy(c->state, state, (size_t)state_len);
        return true;
    case 'B':
    case 'F':
        if (n != 3 || !stream_id_valid(f[1]) || !parse_u64(f[2], &v))
            return false;
        struct kl_session *b = session_find(s, f[1], 1);
        *(f[0][0] == 'B' ? &b->bytes : &b->fence) = v;
        return true;
    case 'D':
        if (n != 5 || !stream_id_valid(f[1]) || !parse_u64(f[2], &v) || !parse_i64(f[3]) ||
            !(is_none(f[4]) || hex_decode(f[4], NULL, KL_ERROR_MAX) >= 0))
            return false;
        session_find(s, f[1], 1)->dead++;
        return true;
    default:
        return false;
    }
}

/* Caller holds the lock. One write: a line is in the file whole or, after
 * a crash mid-write, cut short and skipped when replayed. */
static int journal_write(struct kl_store *s, const char *text, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(s->fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            bc_error("stream: cannot write %s: %s", s->path, strerror(errno));
            return errno == ENOSPC ? BC_ENOSPC : BC_EIO;
        }
        off += (size_t)w;
    }
    return 0;
}

static int fmt_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fmt_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return BC_EINVAL;
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return 0;
        }
        *cap = 2 * *cap + (size_t)n;
        *buf = bc_realloc(*buf, *cap);
    }
}

static void session_line(const struct kl_session *ss, char **buf, size_t *len, size_t *cap)
{
    char hex[2 * STREAM_STATE_MAX + 1];
    hex_encode(ss->state, ss->state_len, hex);
    fmt_append(buf, len, cap, "C %s %" PRIu64 " %s\n", ss->id, ss->seq, ss->state_len ? hex : "-");
}

/* Caller holds the lock: writes the whole state to a new file and renames
 * it over the journal. */
static int compact(struct kl_store *s)
{
    size_t cap = KL_LINE_MAX, len = 0;
    char *buf = bc_malloc(cap);
    for (size_t i = 0; i < s->n_shards; i++) {
        const struct kl_shard *sh = &s->shards[i];
        fmt_append(&buf, &len, &cap, "P %s %s %d\n", sh->id, sh->pos[0] ? sh->pos : "-", sh->done);
        for (size_t j = 0; j < sh->n_counts; j++)
            fmt_append(&buf, &len, &cap, "N %s %s %" PRIu64 "\n", sh->id, sh->counts[j].id,
                       sh->counts[j].n);
    }
    for (size_t i = 0; i < s->n_sessions; i++) {
        const struct kl_session *ss = &s->sessions[i];
        session_line(ss, &buf, &len, &cap);
        fmt_append(&buf, &len, &cap, "B %s %" PRIu64 "\nF %s %" PRIu64 "\n", ss->id, ss->bytes,
                   ss->id, ss->fence);
        for (size_t j = 0; j < ss->dead; j++)
            fmt_append(&buf, &len, &cap, "D %s 0 0 -\n", ss->id);
    }
    char *tmp = bc_asprintf("%s.tmp", s->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? BC_EIO : 0;
    if (rc == 0) {
        int old = s->fd;
        s->fd = fd;
        rc = journal_write(s, buf, len);
        s->fd = old;
        if (rc == 0 && (fsync(fd) < 0 || rename(tmp, s->path) < 0))
            rc = BC_EIO;
        close(fd);
    }
    if (rc == 0) {
        if (s->fd >= 0)
            close(s->fd);
        s->fd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (s->fd < 0)
            rc = BC_EIO;
    }
    if (rc < 0)
        bc_error("stream: cannot rewrite %s: %s", s->path, strerror(errno));
    free(tmp);
    free(buf);
    return rc;
}

/* Caller holds the lock. */
static int maybe_compact(struct kl_store *s)
{
    struct stat st;
    if (fstat(s->fd, &st) == 0 && st.st_size > KL_COMPACT_BYTES)
        return compact(s);
    return 0;
}

static int kl_lease(void *impl, const char *shard, const char *owner, int ttl_ms, uint64_t *token)
{
    struct kl_store *s = impl;
    pthread_mutex_lock(&s->lock);
    struct kl_shard *sh = shard_find(s, shard, 1);
    int64_t now = bc_now_us();
    int rc = 0;
    if (sh->owner[0] && strcmp(sh->owner, owner) != 0 && sh->expires_us > now) {
        rc = BC_ESTATE;
    } else {
        if (strcmp(sh->owner, owner) != 0 || sh->expires_us <= now)
            sh->token = ++s->next_token;
        snprintf(sh->owner, sizeof sh->owner, "%s", owner);
        sh->expires_us = now + (int64_t)ttl_ms * 1000;
        *token = sh->token;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int kl_release(void *impl, const char *shard, const char *owner)
{
    struct kl_store *s = impl;
    pthread_mutex_lock(&s->lock);
    struct kl_shard *sh = shard_find(s, shard, 0);
    if (sh && strcmp(sh->owner, owner) == 0)
        sh->owner[0] = '\0';
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int kl_shard_get(void *impl, const char *shard, struct kin_shard_state *out)
{
    struct kl_store *s = impl;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->lock);
    const struct kl_shard *sh = shard_find(s, shard, 0);
    if (sh) {
        snprintf(out->pos, sizeof out->pos, "%s", sh->pos);
        out->done = sh->done;
        out->counts = bc_calloc(sh->n_counts + 1, sizeof *out->counts);
        if (sh->n_counts)
            memcpy(out->counts, sh->counts, sh->n_counts * sizeof *sh->counts);
        out->n_counts = sh->n_counts;
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int kl_commit(void *impl, const struct kin_commit *c)
{
    struct kl_store *s = impl;
    pthread_mutex_lock(&s->lock);
    struct kl_shard *sh = shard_find(s, c->shard, 1);
    if (strcmp(sh->owner, c->owner) != 0 || sh->token != c->token) {
        pthread_mutex_unlock(&s->lock);
        return BC_ESTATE;
    }
    size_t cap = KL_LINE_MAX, len = 0;
    char *buf = bc_malloc(cap);
    if (c->id) {
        struct kl_session *ss = session_find(s, c->id, 1);
        ss->seq = c->seq;
        ss->state_len = c->state_len;
        if (c->state_len)
            memcpy(ss->state, c->state, c->state_len);
        session_line(ss, &buf, &len, &cap);
    }
    if (c->pos) {
        snprintf(sh->pos, sizeof sh->pos, "%s", c->pos);
        sh->done = c->done;
        for (size_t i = 0; i < c->n_counts; i++) {
            set_count(sh, c->counts[i].id, c->counts[i].n);
            fmt_append(&buf, &len, &cap, "N %s %s %" PRIu64 "\n", sh->id, c->counts[i].id,
                       c->counts[i].n);
        }
        /* The position last: a cut-short write leaves the old one. */
        fmt_append(&buf, &len, &cap, "P %s %s %d\n", sh->id, sh->pos[0] ? sh->pos : "-",
                   sh->done);
    }
    int rc = journal_write(s, buf, len);
    if (rc == 0)
        rc = maybe_compact(s);
    pthread_mutex_unlock(&s->lock);
    free(buf);
    return rc;
}

static int kl_session_get(void *impl, const char *id, uint64_t *seq, void *state,
                          size_t *state_len)
{
    struct kl_store *s = impl;
    pthread_mutex_lock(&s->lock);
    const struct kl_session *ss = session_find(s, id, 0);
    *seq = ss ? ss->seq : 0;
    *state_len = ss ? ss->state_len : 0;
    if (ss && ss->state_len)
        memcpy(state, ss->state, ss->state_len);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* Sets a counter of the session and journals it as "<tag> id value". */
static int set_counter(struct kl_store *s, const char *id, char tag, uint64_t add, int increment,
                       uint64_t *out)
{
    pthread_mutex_lock(&s->lock);
    struct kl_session *ss = session_find(s, id, 1);
    uint64_t *v = tag == 'B' ? &ss->bytes : &ss->fence;
    *v = increment ? *v + add : add;
    char line[STREAM_SESSION_ID_MAX + 64];
    int n = snprintf(line, sizeof line, "%c %s %" PRIu64 "\n", tag, id, *v);
    if (out)
        *out = *v;
    int rc = journal_write(s, line, (size_t)n);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int kl_session_fence(void *impl, const char *id, uint64_t *token)
{
    return set_counter(impl, id, 'F', 1, 1, token);
}

static int kl_add_bytes(void *impl, const char *id, uint64_t n)
{
    return set_counter(impl, id, 'B', n, 1, NULL);
}

static int kl_bytes(void *impl, const char *id, uint64_t *n)
{
    struct kl_store *s = impl;
    pthread_mutex_lock(&s->lock);
    const struct kl_session *ss = session_find(s, id, 0);
    *n = ss ? ss->bytes : 0;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int kl_dead_letter(void *impl, const char *id, uint64_t seq, int64_t append_ms,
                          const char *error)
{
    struct kl_store *s = impl;
    size_t elen = strnlen(error, KL_ERROR_MAX);
    char *hex = bc_malloc(2 * elen + 2);
    hex_encode((const uint8_t *)error, elen, hex);
    char *line = bc_asprintf("D %s %" PRIu64 " %" PRId64 " %s\n", id, seq, append_ms,
                             elen ? hex : "-");
    pthread_mutex_lock(&s->lock);
    session_find(s, id, 1)->dead++;
    int rc = journal_write(s, line, strlen(line));
    pthread_mutex_unlock(&s->lock);
    free(line);
    free(hex);
    return rc;
}

static size_t kl_dead_count(void *impl, const char *id)
{
    struct kl_store *s = impl;
    pthread_mutex_lock(&s->lock);
    const struct kl_session *ss = session_find(s, id, 0);
    size_t n = ss ? ss->dead : 0;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void kl_ended(void *impl, const char *id, int retention_ms)
{
    /* A session's few lines cost less than tracking its retention. */
}

static void kl_close(void *impl)
{
    struct kl_store *s = impl;
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    for (size_t i = 0; i < s->n_shards; i++)
        free(s->shards[i].counts);
    free(s->shards);
    free(s->sessions);
    free(s->path);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const struct kin_store_ops local_store_ops = {
    .lease = kl_lease,
    .release = kl_release,
    .shard_get = kl_shard_get,
    .commit = kl_commit,
    .session_get = kl_session_get,
    .session_fence = kl_session_fence,
    .add_bytes = kl_add_bytes,
    .bytes = kl_bytes,
    .dead_letter = kl_dead_letter,
    .dead_count = kl_dead_count,
    .ended = kl_ended,
    .close = kl_close,
};

int kin_store_local_open(const char *dir, const char *stream, const struct kin_store_ops **ops,
                         void **impl)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        bc_error("stream: cannot create %s: %s", dir, strerror(errno));
        return BC_EIO;
    }
    struct kl_store *s = bc_calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->fd = -1;
    s->path = bc_asprintf("%s/kinesis-%s.journal", dir, stream);
    FILE *f = fopen(s->path, "r");
    if (f) {
        char *line = NULL;
        size_t cap = 0, damaged = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0) {
            /* A line cut short by a crash lacks its newline; one with a NUL
             * was damaged on disk. */
            bool whole = line[len - 1] == '\n' && memchr(line, '\0', (size_t)len) == NULL;
            if (!whole || !apply_line(s, line))
                damaged++;
        }
        free(line);
        fclose(f);
        if (damaged)
            bc_warn("stream: %s: %zu damaged or cut-short lines skipped; their changes are lost",
                    s->path, damaged);
    } else if (errno != ENOENT) {
        bc_error("stream: cannot read %s: %s", s->path, strerror(errno));
        kl_close(s);
        return BC_EIO;
    }
    pthread_mutex_lock(&s->lock);
    int rc = compact(s);
    pthread_mutex_unlock(&s->lock);
    if (rc < 0) {
        kl_close(s);
        return rc;
    }
    *ops = &local_store_ops;
    *impl = s;
    return 0;
}

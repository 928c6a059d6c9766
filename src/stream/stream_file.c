/* file://DIR: the memory log plus, per session, DIR/<id>/{log,checkpoint,
 * dead,ended}. Records are written inside the memory log's lock (so file
 * order is seq order) and fsynced by a background thread, which also applies
 * retention and compacts mostly-processed logs. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "stream/stream_file_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/timeutil.h"

#define COMPACT_MIN_LOG_BYTES ((uint64_t)8 * 1024 * 1024)
#define COMPACT_MIN_PROCESSED_PERCENT 75
#define DEAD_ERROR_MAX_CHARS 1024
#define DIR_MODE 0700

static int mkdir_p(const char *path)
{
    if (bc_mkdir_p(path, DIR_MODE) == 0)
        return 0;
    bc_error("stream: cannot create directory %s: %s", path, strerror(errno));
    return BC_EIO;
}

/* ---- hooks, all run under the memory log's lock ---- */

void sf_sess_free(void *ctx, void *ext)
{
    struct file_sess *fs = ext;
    if (fs->log_fd >= 0)
        close(fs->log_fd);
    pthread_mutex_destroy(&fs->ckpt_mu);
    free(fs->dir);
    free(fs);
}

struct file_sess *sf_sess_new(struct file_backend *fb, const char *id)
{
    struct file_sess *fs = bc_calloc(1, sizeof(*fs));
    fs->dir = bc_asprintf("%s/%s", fb->dir, id);
    fs->log_fd = -1;
    pthread_mutex_init(&fs->ckpt_mu, NULL);
    return fs;
}

int sf_open_log(struct file_sess *fs)
{
    char *path = bc_asprintf("%s/log", fs->dir);
    fs->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, FILE_MODE);
    int err = errno;
    if (fs->log_fd < 0)
        bc_error("stream: open %s: %s", path, strerror(err));
    free(path);
    if (fs->log_fd >= 0)
        return 0;
    return err == ENOSPC || err == EDQUOT ? BC_ENOSPC : BC_EIO;
}

static int hook_session_new(void *ctx, const char *id, void **ext)
{
    struct file_backend *fb = ctx;
    struct file_sess *fs = sf_sess_new(fb, id);
    int rc = BC_EIO;
    if (mkdir(fs->dir, DIR_MODE) < 0 && errno != EEXIST) {
        if (errno == ENOSPC || errno == EDQUOT)
            rc = BC_ENOSPC;
        bc_error("stream: mkdir %s: %s", fs->dir, strerror(errno));
        goto fail;
    }
    if ((rc = sf_open_log(fs)) < 0)
        goto fail;
    /* Make the new names durable once, so fsyncing the log suffices later. */
    sf_fsync_path(fs->dir);
    sf_fsync_path(fb->dir);
    *ext = fs;
    return 0;

fail:
    sf_sess_free(fb, fs);
    return rc;
}

static int hook_append(void *ctx, void *ext, const struct stream_record *rec)
{
    struct file_sess *fs = ext;
    int rc;
    if (fs->log_fd < 0 && (rc = sf_open_log(fs)) < 0)
        return rc;
    uint8_t hdr[LOG_HEADER_BYTES];
    sf_encode_header(rec, hdr);
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)rec->data, rec->len}};
    size_t want = sizeof(hdr) + rec->len;
    /* One system call per record: a crash tears at most the last one. */
    ssize_t w;
    do
        w = writev(fs->log_fd, iov, rec->len ? 2 : 1);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)want) {
        /* A short write to a regular file means the disk filled up. */
        int full = w >= 0 || errno == ENOSPC || errno == EDQUOT;
        bc_error("stream: write %s/log: %s", fs->dir, w < 0 ? strerror(errno) : "short write");
        if (w > 0 && ftruncate(fs->log_fd, (off_t)fs->log_bytes) < 0)
            bc_error("stream: cannot undo the partial record in %s/log", fs->dir);
        return full ? BC_ENOSPC : BC_EIO;
    }
    fs->log_bytes += want;
    fs->dirty = 1;
    return 0;
}

static int hook_dead_letter(void *ctx, void *ext, uint64_t seq, int64_t append_ms,
                            const char *error)
{
    struct file_sess *fs = ext;
    char esc[DEAD_ERROR_MAX_CHARS * 6 + 1];
    size_t n = 0;
    for (size_t i = 0; error[i] && i < DEAD_ERROR_MAX_CHARS; i++) {
        unsigned char c = (unsigned char)error[i];
        if (c == '"' || c == '\\')
            n += (size_t)sprintf(esc + n, "\\%c", c);
        else if (c < 0x20)
            n += (size_t)sprintf(esc + n, "\\u%04x", c);
        else
            esc[n++] = (char)c;
    }
    esc[n] = '\0';
    char *line = bc_asprintf("{\"seq\":%" PRIu64 ",\"error\":\"%s\",\"append_ms\":%" PRId64 "}\n",
                             seq, esc, append_ms);
    char *path = bc_asprintf("%s/dead", fs->dir);
    int rc = BC_EIO;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, FILE_MODE);
    if (fd >= 0 && sf_write_all(fd, line, strlen(line)) == 0 && fsync(fd) == 0)
        rc = 0;
    else
        bc_error("stream: write %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(path);
    free(line);
    return rc;
}

static void hook_ended(void *ctx, void *ext)
{
    struct file_sess *fs = ext;
    char *path = bc_asprintf("%s/ended", fs->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, FILE_MODE);
    if (fd < 0)
        bc_warn("stream: create %s: %s", path, strerror(errno));
    else
        close(fd);
    free(path);
}

static const char *const session_files[] = {"log",  "log.tmp", "checkpoint", "checkpoint.tmp",
                                            "dead", "ended"};

static void hook_drop(void *ctx, const char *id, void *ext)
{
    struct file_sess *fs = ext;
    for (size_t i = 0; i < sizeof(session_files) / sizeof(session_files[0]); i++) {
        char *path = bc_asprintf("%s/%s", fs->dir, session_files[i]);
        unlink(path);
        free(path);
    }
    if (rmdir(fs->dir) < 0)
        bc_warn("stream: retention cannot remove %s: %s", fs->dir, strerror(errno));
    else
        bc_info("stream: session %s deleted after retention", id);
}

/* ---- background: fsync, compaction, retention ---- */

struct flush_ctx {
    int *fds;
    size_t n, cap;
    int all;
};

/* Runs under the memory lock, so no append interleaves; the pending records
 * are at most a quarter of the log by then. */
static void compact(struct file_sess *fs, const struct stream_mem_view *v)
{
    char *tmp = bc_asprintf("%s/log.tmp", fs->dir);
    char *path = bc_asprintf("%s/log", fs->dir);
    uint64_t bytes = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, FILE_MODE);
    if (fd < 0)
        goto fail;
    uint64_t dropped_audio = v->audio_bytes;
    for (size_t i = 0; i < v->pending_records; i++) {
        if (v->records[i]->kind == STREAM_KIND_AUDIO)
            dropped_audio -= v->records[i]->len;
    }
    if (sf_write_base(fd, dropped_audio) < 0)
        goto fail;
    bytes += LOG_HEADER_BYTES + LOG_BASE_BYTES;
    for (size_t i = 0; i < v->pending_records; i++) {
        const struct stream_record *rec = v->records[i];
        uint8_t hdr[LOG_HEADER_BYTES];
        sf_encode_header(rec, hdr);
        if (sf_write_all(fd, hdr, sizeof(hdr)) < 0 || sf_write_all(fd, rec->data, rec->len) < 0)
            goto fail;
        bytes += sizeof(hdr) + rec->len;
    }
    if (fsync(fd) < 0 || rename(tmp, path) < 0)
        goto fail;
    sf_fsync_path(fs->dir);
    bc_debug("stream: compacted %s: %" PRIu64 " -> %" PRIu64 " bytes", path, fs->log_bytes, bytes);
    close(fs->log_fd);
    fs->log_fd = fd;
    fs->log_bytes = bytes;
    fs->dirty = 0;
    free(tmp);
    free(path);
    return;

fail:
    bc_warn("stream: compacting %s failed (%s); keeping the full log", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    free(path);
}

static void flush_visit(void *ctx, const struct stream_mem_view *v)
{
    struct flush_ctx *fc = ctx;
    struct file_sess *fs = v->ext;
    uint64_t pending = v->pending_bytes + (uint64_t)v->pending_records * LOG_HEADER_BYTES;
    if (!fc->all && fs->log_bytes >= COMPACT_MIN_LOG_BYTES && pending <= fs->log_bytes &&
        (fs->log_bytes - pending) * 100 >= fs->log_bytes * COMPACT_MIN_PROCESSED_PERCENT)
        compact(fs, v);
    if (v->ended && v->pending_records == 0 && !fs->dirty && fs->log_fd >= 0) {
        /* An ended, processed session keeps its files for the retention, but
         * not an open descriptor: a server that ran thousands of sessions
         * would run out of them. A late record opens the log again. */
        close(fs->log_fd);
        fs->log_fd = -1;
        return;
    }
    if ((!fs->dirty && !fc->all) || fs->log_fd < 0)
        return;
    if (fc->n == fc->cap) {
        fc->cap = fc->cap ? 2 * fc->cap : 16;
        fc->fds = bc_realloc(fc->fds, fc->cap * sizeof(*fc->fds));
    }
    fc->fds[fc->n++] = fs->log_fd;
    fs->dirty = 0;
}

/* The fds stay open while fsync runs outside the lock: only this thread
 * (or close, after joining it) closes them. */
static void flush(struct file_backend *fb, int all)
{
    struct flush_ctx fc = {.all = all};
    stream_mem_foreach(fb->mem, flush_visit, &fc);
    for (size_t i = 0; i < fc.n; i++)
        if (fsync(fc.fds[i]) < 0)
            bc_error("stream: fsync of a log under %s failed: %s", fb->dir, strerror(errno));
    free(fc.fds);
}

static void *bg_main(void *arg)
{
    struct file_backend *fb = arg;
    pthread_mutex_lock(&fb->bg_mu);
    while (!fb->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (int64_t)fb->params.fsync_interval_ms * NS_PER_MS;
        ts.tv_sec += (time_t)(ns / (NS_PER_MS * MS_PER_S));
        ts.tv_nsec = (long)(ns % (NS_PER_MS * MS_PER_S));
        pthread_cond_timedwait(&fb->bg_cv, &fb->bg_mu, &ts);
        if (fb->stopping)
            break;
        pthread_mutex_unlock(&fb->bg_mu);
        flush(fb, 0);
        pthread_rwlock_wrlock(&fb->gc_lock);
        stream_mem_sweep(fb->mem, bc_wall_ms());
        pthread_rwlock_unlock(&fb->gc_lock);
        pthread_mutex_lock(&fb->bg_mu);
    }
    pthread_mutex_unlock(&fb->bg_mu);
    return NULL;
}

/* ---- operations ---- */

static int file_append(void *impl, const char *id, enum stream_kind kind, const void *data,
                       size_t len, uint64_t *seq_out)
{
    struct file_backend *fb = impl;
    return stream_mem_append(fb->mem, id, kind, data, len, seq_out);
}

static int file_read(void *impl, const char *id, uint64_t after_seq, struct stream_record **out)
{
    struct file_backend *fb = impl;
    return stream_mem_read(fb->mem, id, after_seq, out);
}

/* The checkpoint file is written and fsynced outside the memory lock so
 * appenders never wait for the disk. */
static int file_checkpoint(void *impl, const char *id, uint64_t seq, const void *state,
                           size_t state_len)
{
    struct file_backend *fb = impl;
    pthread_rwlock_rdlock(&fb->gc_lock);
    void *ext;
    int rc = stream_mem_session_ext(fb->mem, id, 1, &ext);
    if (rc < 0)
        goto out;
    struct file_sess *fs = ext;
    pthread_mutex_lock(&fs->ckpt_mu);
    rc = stream_mem_checkpoint_check(fb->mem, id, seq);
    if (rc == 0)
        rc = sf_write_checkpoint(fs, seq, state, state_len);
    if (rc == 0)
        rc = stream_mem_checkpoint(fb->mem, id, seq, state, state_len);
    pthread_mutex_unlock(&fs->ckpt_mu);
out:
    pthread_rwlock_unlock(&fb->gc_lock);
    return rc;
}

static int file_checkpoint_get(void *impl, const char *id, uint64_t *seq, void *state,
                               size_t *state_len)
{
    struct file_backend *fb = impl;
    return stream_mem_checkpoint_get(fb->mem, id, seq, state, state_len);
}

static int file_record_failed(void *impl, const char *id, uint64_t seq, const char *error)
{
    struct file_backend *fb = impl;
    return stream_mem_record_failed(fb->mem, id, seq, error);
}

static size_t file_dead_letters(void *impl, const char *id)
{
    struct file_backend *fb = impl;
    return stream_mem_dead_letters(fb->mem, id);
}

static int file_audio_bytes(void *impl, const char *id, uint64_t *bytes)
{
    struct file_backend *fb = impl;
    *bytes = stream_mem_audio_bytes(fb->mem, id);
    return 0;
}

static size_t file_sessions_pending(void *impl, char (*ids)[STREAM_SESSION_ID_MAX], size_t max)
{
    struct file_backend *fb = impl;
    return stream_mem_sessions_pending(fb->mem, ids, max);
}

static void file_session_ended(void *impl, const char *id)
{
    struct file_backend *fb = impl;
    stream_mem_session_ended(fb->mem, id);
}

static int file_lease(void *impl, const char *id, const char *owner, int ttl_ms, uint64_t *token)
{
    *token = 1;
    return 0;
}

static void file_close(void *impl)
{
    struct file_backend *fb = impl;
    if (!fb)
        return;
    if (fb->bg_started) {
        pthread_mutex_lock(&fb->bg_mu);
        fb->stopping = 1;
        pthread_cond_signal(&fb->bg_cv);
        pthread_mutex_unlock(&fb->bg_mu);
        pthread_join(fb->bg, NULL);
    }
    if (fb->mem) {
        flush(fb, 1);
        stream_mem_free(fb->mem);
    }
    if (fb->lock_fd >= 0)
        close(fb->lock_fd);
    pthread_cond_destroy(&fb->bg_cv);
    pthread_mutex_destroy(&fb->bg_mu);
    pthread_rwlock_destroy(&fb->gc_lock);
    free(fb->dir);
    free(fb);
}

static const struct stream_ops file_ops = {
    .name = "file",
    .append = file_append,
    .read = file_read,
    .checkpoint = file_checkpoint,
    .checkpoint_get = file_checkpoint_get,
    .record_failed = file_record_failed,
    .dead_letters = file_dead_letters,
    .audio_bytes = file_audio_bytes,
    .sessions_pending = file_sessions_pending,
    .session_ended = file_session_ended,
    .lease = file_lease,
    .close = file_close,
};

int stream_file_backend_open(const char *dir, const struct stream_params *params,
                             const struct stream_ops **ops, void **impl)
{
    struct file_backend *fb = bc_calloc(1, sizeof(*fb));
    fb->dir = bc_strdup(dir);
    fb->lock_fd = -1;
    fb->params = *params;
    pthread_rwlock_init(&fb->gc_lock, NULL);
    pthread_mutex_init(&fb->bg_mu, NULL);
    bc_cond_init_monotonic(&fb->bg_cv);

    int rc = mkdir_p(fb->dir);
    if (rc < 0)
        goto fail;
    /* Two processes appending to one directory would interleave seqs. */
    char *lock = bc_asprintf("%s/.lock", fb->dir);
    fb->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, FILE_MODE);
    free(lock);
    if (fb->lock_fd < 0 || flock(fb->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        bc_error("stream: %s is in use by another process or unwritable: %s", fb->dir,
                 strerror(errno));
        rc = BC_EIO;
        goto fail;
    }
    struct stream_mem_hooks hooks = {
        .ctx = fb,
        .session_new = hook_session_new,
        .session_free = sf_sess_free,
        .append = hook_append,
        .dead_letter = hook_dead_letter,
        .ended = hook_ended,
        .drop = hook_drop,
    };
    fb->mem = stream_mem_new(params, &hooks);
    if ((rc = sf_recover_all(fb)) < 0)
        goto fail;
    if (pthread_create(&fb->bg, NULL, bg_main, fb) != 0) {
        rc = BC_EIO;
        goto fail;
    }
    fb->bg_started = 1;
    *ops = &file_ops;
    *impl = fb;
    return 0;

fail:
    file_close(fb);
    return rc;
}

#include "archive/spool.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SPOOL_DIR_MODE 0700
#define SPOOL_DEFAULT_BACKOFF_MIN_MS 500
#define SPOOL_DEFAULT_BACKOFF_MAX_MS 10000
#define SPOOL_DEFAULT_MAX_ATTEMPTS 5
/* S3 answers a PUT in tens of ms: one at a time would fall behind a busy
 * worker's stream of utterances. */
#define SPOOL_DEFAULT_THREADS 4
#define SPOOL_THREADS_MAX 64
/* Idle, the uploader looks at ready/ this often even without a commit. */
#define SPOOL_IDLE_RESCAN_MS 5000
#define SPOOL_WAIT_POLL_US 50000
#define SPOOL_KEY_SEPARATOR '/'
#define SPOOL_NAME_SEPARATOR '+' /* stands for '/' in file names */
#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

struct spool {
    char *dir, *tmp_dir, *ready_dir, *failed_dir;
    struct spool_params params;
    spool_upload_fn upload;
    void *ctx;
    atomic_int stopping;
    pthread_mutex_t lock; /* guards the fields below and ready/ renames and deletes */
    pthread_cond_t wake;  /* CLOCK_MONOTONIC */
    bool committed;       /* something arrived since the last scan */
    uint64_t next_tmp;
    uint64_t uploaded, failures, given_up;
    struct uploader *uploaders; /* params.threads of them */
    int n_started;
};

/* One uploader thread and the file it is uploading (guarded by the lock). */
struct uploader {
    struct spool *spool;
    pthread_t thread;
    char *busy; /* file name in flight, or NULL */
};

void spool_default_params(struct spool_params *p)
{
    p->backoff_min_ms = SPOOL_DEFAULT_BACKOFF_MIN_MS;
    p->backoff_max_ms = SPOOL_DEFAULT_BACKOFF_MAX_MS;
    p->max_attempts = SPOOL_DEFAULT_MAX_ATTEMPTS;
    p->threads = SPOOL_DEFAULT_THREADS;
}

int spool_key_valid(const char *key)
{
    size_t n = key ? strnlen(key, SPOOL_KEY_MAX) : 0;
    if (n == 0 || n >= SPOOL_KEY_MAX)
        return 0;
    bool segment_start = true;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '-' || c == '.';
        if (c == SPOOL_KEY_SEPARATOR) {
            if (segment_start)
                return 0; /* empty segment */
            segment_start = true;
            continue;
        }
        if (!plain || (segment_start && c == '.'))
            return 0;
        segment_start = false;
    }
    return !segment_start;
}

static void translate(char *s, char from, char to)
{
    for (; *s; s++)
        if (*s == from)
            *s = to;
}

int spool_key_of_name(const char *name, char key[SPOOL_KEY_MAX])
{
    size_t n = strnlen(name, SPOOL_KEY_MAX);
    key[0] = '\0';
    if (n >= SPOOL_KEY_MAX || strchr(name, SPOOL_KEY_SEPARATOR))
        return BC_EINVAL;
    memcpy(key, name, n + 1);
    translate(key, SPOOL_NAME_SEPARATOR, SPOOL_KEY_SEPARATOR);
    if (!spool_key_valid(key)) {
        key[0] = '\0';
        return BC_EINVAL;
    }
    return 0;
}

static int make_dir(const char *path)
{
    if (mkdir(path, SPOOL_DIR_MODE) == 0 || errno == EEXIST)
        return 0;
    bc_error("spool: cannot create %s: %s", path, strerror(errno));
    return BC_EIO;
}

/* Files of tmp/ were being written when the process stopped: whoever
 * wrote them writes them again. */
static void empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *file = bc_asprintf("%s/%s", path, e->d_name);
        unlink(file);
        free(file);
    }
    closedir(d);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file names in ready/, sorted (heap array of heap strings). */
static size_t scan_ready(struct spool *s, char ***out)
{
    *out = NULL;
    DIR *d = opendir(s->ready_dir);
    if (!d)
        return 0;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = bc_realloc(*out, cap * sizeof **out);
        }
        (*out)[n++] = bc_strdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(*out, n, sizeof **out, compare_names);
    return n;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Waits on wake until ms passed or the spool stops (or, when on_commit,
 * something is committed). Caller holds the lock. */
static void wait_ms(struct spool *s, int64_t ms, bool on_commit)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ns = until.tv_nsec + ms * NS_PER_MS;
    until.tv_sec += ns / NS_PER_S;
    until.tv_nsec = ns % NS_PER_S;
    while (!atomic_load(&s->stopping) && !(on_commit && s->committed)) {
        if (pthread_cond_timedwait(&s->wake, &s->lock, &until) == ETIMEDOUT)
            break;
    }
}

static bool permanent(int rc)
{
    return rc == BC_EINVAL || rc == BC_EFORMAT || rc == BC_ELIMIT;
}

/* Deletes ready/name after its upload unless a newer file was committed
 * under the same key meanwhile (that one still has to go). */
static void uploaded(struct spool *s, const char *path, const struct stat *before)
{
    pthread_mutex_lock(&s->lock);
    struct stat now;
    if (stat(path, &now) == 0 && now.st_ino == before->st_ino &&
        now.st_mtim.tv_sec == before->st_mtim.tv_sec &&
        now.st_mtim.tv_nsec == before->st_mtim.tv_nsec)
        unlink(path);
    s->uploaded++;
    pthread_mutex_unlock(&s->lock);
}

static void give_up(struct spool *s, const char *name, const char *path, int rc)
{
    char *dest = bc_asprintf("%s/%s", s->failed_dir, name);
    pthread_mutex_lock(&s->lock);
    if (rename(path, dest) < 0)
        remove(path);
    s->given_up++;
    pthread_mutex_unlock(&s->lock);
    bc_error("spool: %s refused (%s); kept in %s", name, bc_strerror(rc), dest);
    free(dest);
}

/* The state of the uploader between passes. */
struct upload_state {
    int64_t backoff_ms;
    char failing[SPOOL_KEY_MAX]; /* the key refused last, and how often */
    int attempts;
    bool outage_logged;
    unsigned jitter_seed;
};

/* Marks name as this uploader's unless another one has it. */
static bool claim(struct uploader *u, const char *name)
{
    struct spool *s = u->spool;
    bool taken = false;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->params.threads && !taken; i++)
        taken = s->uploaders[i].busy && strcmp(s->uploaders[i].busy, name) == 0;
    if (!taken)
        u->busy = bc_strdup(name);
    pthread_mutex_unlock(&s->lock);
    return !taken;
}

static void release(struct uploader *u)
{
    pthread_mutex_lock(&u->spool->lock);
    free(u->busy);
    u->busy = NULL;
    pthread_mutex_unlock(&u->spool->lock);
}

/* Uploads ready files in order until one fails. Returns false after a
 * failure (the caller backs off). */
static bool upload_pass(struct uploader *u, struct upload_state *st)
{
    struct spool *s = u->spool;
    char **names;
    size_t n = scan_ready(s, &names);
    bool ok = true;
    for (size_t i = 0; i < n && ok && !atomic_load(&s->stopping); i++) {
        if (!claim(u, names[i]))
            continue;
        char *path = bc_asprintf("%s/%s", s->ready_dir, names[i]);
        char key[SPOOL_KEY_MAX];
        struct stat before;
        int gone = stat(path, &before) < 0;
        /* Only spool_commit puts files here; anything else (put there by
         * hand, or a directory) is no object to upload, and set aside. */
        if (!gone && (!S_ISREG(before.st_mode) || spool_key_of_name(names[i], key) < 0)) {
            give_up(s, names[i], path, BC_EINVAL);
            release(u);
            free(path);
            continue;
        }
        int rc = gone ? 0 /* nothing to do */ : s->upload(s->ctx, key, path, &s->stopping);
        if (rc == 0) {
            if (st->outage_logged)
                bc_info("spool: uploads resumed");
            st->outage_logged = false;
            st->backoff_ms = 0;
            uploaded(s, path, &before);
        } else if (rc != BC_ECLOSED) {
            pthread_mutex_lock(&s->lock);
            s->failures++;
            pthread_mutex_unlock(&s->lock);
            bool same = strcmp(st->failing, key) == 0;
            st->attempts = same ? st->attempts + 1 : 1;
            snprintf(st->failing, sizeof st->failing, "%s", key);
            if (permanent(rc) && st->attempts >= s->params.max_attempts) {
                give_up(s, names[i], path, rc);
            } else {
                if (!st->outage_logged)
                    bc_warn("spool: upload of %s failed (%s); retrying with backoff", key,
                            bc_strerror(rc));
                st->outage_logged = true;
                ok = false;
            }
        }
        release(u);
        free(path);
    }
    free_names(names, n);
    return ok;
}

static void *uploader_main(void *arg)
{
    struct uploader *u = arg;
    struct spool *s = u->spool;
    struct upload_state st = {.jitter_seed = (unsigned)bc_now_us()};
    pthread_mutex_lock(&s->lock);
    while (!atomic_load(&s->stopping)) {
        s->committed = false;
        pthread_mutex_unlock(&s->lock);
        bool ok = upload_pass(u, &st);
        pthread_mutex_lock(&s->lock);
        if (ok) {
            wait_ms(s, SPOOL_IDLE_RESCAN_MS, true);
            continue;
        }
        st.backoff_ms = st.backoff_ms ? st.backoff_ms * 2 : s->params.backoff_min_ms;
        if (st.backoff_ms > s->params.backoff_max_ms)
            st.backoff_ms = s->params.backoff_max_ms;
        /* Jitter: spools of several workers do not retry in step. */
        wait_ms(s, st.backoff_ms / 2 + rand_r(&st.jitter_seed) % (st.backoff_ms / 2 + 1), false);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int spool_open(const char *dir, const struct spool_params *params, spool_upload_fn upload,
               void *ctx, struct spool **out)
{
    if (!out)
        return BC_EINVAL;
    *out = NULL;
    struct spool_params p;
    if (params)
        p = *params;
    else
        spool_default_params(&p);
    if (!dir || !*dir || !upload || p.backoff_min_ms < 1 || p.backoff_max_ms < p.backoff_min_ms ||
        p.max_attempts < 1 || p.threads < 1 || p.threads > SPOOL_THREADS_MAX)
        return BC_EINVAL;
    struct spool *s = bc_calloc(1, sizeof *s);
    s->dir = bc_strdup(dir);
    s->tmp_dir = bc_asprintf("%s/tmp", dir);
    s->ready_dir = bc_asprintf("%s/ready", dir);
    s->failed_dir = bc_asprintf("%s/failed", dir);
    s->params = p;
    s->upload = upload;
    s->ctx = ctx;
    atomic_init(&s->stopping, 0);
    pthread_mutex_init(&s->lock, NULL);
    bc_cond_init_monotonic(&s->wake);
    int rc = make_dir(s->dir);
    if (rc == 0)
        rc = make_dir(s->tmp_dir);
    if (rc == 0)
        rc = make_dir(s->ready_dir);
    if (rc == 0)
        rc = make_dir(s->failed_dir);
    if (rc < 0)
        goto fail;
    empty_dir(s->tmp_dir);
    s->uploaders = bc_calloc((size_t)p.threads, sizeof *s->uploaders);
    for (int i = 0; i < p.threads; i++) {
        s->uploaders[i].spool = s;
        if (pthread_create(&s->uploaders[i].thread, NULL, uploader_main, &s->uploaders[i]) != 0) {
            rc = BC_EIO;
            goto fail;
        }
        s->n_started++;
    }
    *out = s;
    return 0;
fail:
    spool_close(s);
    return rc;
}

void spool_close(struct spool *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stopping, 1);
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->n_started; i++)
        pthread_join(s->uploaders[i].thread, NULL);
    free(s->uploaders);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s->dir);
    free(s->tmp_dir);
    free(s->ready_dir);
    free(s->failed_dir);
    free(s);
}

char *spool_begin(struct spool *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t n = s->next_tmp++;
    pthread_mutex_unlock(&s->lock);
    return bc_asprintf("%s/%ld-%llu", s->tmp_dir, (long)getpid(), (unsigned long long)n);
}

int spool_commit(struct spool *s, const char *tmp_path, const char *key)
{
    if (!spool_key_valid(key)) {
        unlink(tmp_path);
        return BC_EINVAL;
    }
    char *name = bc_strdup(key);
    translate(name, SPOOL_KEY_SEPARATOR, SPOOL_NAME_SEPARATOR);
    char *dest = bc_asprintf("%s/%s", s->ready_dir, name);
    pthread_mutex_lock(&s->lock);
    int rc = rename(tmp_path, dest) == 0 ? 0 : BC_EIO;
    int err = errno;
    if (rc == 0) {
        s->committed = true;
        pthread_cond_broadcast(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc < 0) {
        bc_error("spool: cannot commit %s: %s", key, strerror(err));
        unlink(tmp_path);
    }
    free(dest);
    free(name);
    return rc;
}

void spool_stats(struct spool *s, struct spool_stats *out)
{
    char **names;
    size_t n = scan_ready(s, &names);
    free_names(names, n);
    pthread_mutex_lock(&s->lock);
    *out = (struct spool_stats){n, s->uploaded, s->failures, s->given_up};
    pthread_mutex_unlock(&s->lock);
}

int spool_wait_empty(struct spool *s, int timeout_ms)
{
    int64_t deadline = bc_now_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        struct spool_stats st;
        spool_stats(s, &st);
        if (st.pending == 0)
            return 0;
        if (bc_now_us() > deadline)
            return BC_ETIMEDOUT;
        bc_sleep_us(SPOOL_WAIT_POLL_US);
    }
}

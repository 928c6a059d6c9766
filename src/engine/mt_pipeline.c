/* Persistent null-flush Apertium pipeline: .mode parsing, spawning, one
 * sentence exchange. See mt_pipeline.h. */
#define _GNU_SOURCE /* pipe2, close_range */
#include "engine/mt_pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define MT_MODE_FILE_MAX_BYTES (64 * 1024)
#define MT_ANSWER_MAX_BYTES (1024 * 1024)
#define MT_READ_CHUNK_BYTES 4096
#define MT_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
/* A superblank numbered per request: proves an answer belongs to it. */
#define MT_SENTINEL_FORMAT "[<%u>]"
#define MT_SENTINEL_MAX 24

/* Stages that understand -z (flush on NUL). Anything else would swallow or
 * delay the NUL and hang the exchange, so such a mode is refused. */
static const char *const mt_null_flush_programs[] = {
    "lt-proc",
    "apertium-tagger",
    "apertium-pretransfer",
    "apertium-transfer",
    "apertium-interchunk",
    "apertium-postchunk",
    "lrx-proc",
    "cg-proc",
    "lsx-proc",
    "apertium-anaphora",
};

struct mt_pipeline {
    char *mode;
    size_t nstages;
    char ***argv; /* per stage, NULL-terminated */
    char **path;  /* per stage, resolved executable */
    pid_t *pids;  /* per stage; 0 when stopped */
    int wfd;      /* parent -> first stage; -1 when stopped */
    int rfd;      /* last stage -> parent; -1 when stopped */
    unsigned seq; /* last request number */
    pthread_mutex_t lock;
};

struct mt_strv {
    char **v;
    size_t n, cap;
};

static void mt_strv_push(struct mt_strv *sv, char *s)
{
    if (sv->n + 2 > sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 8;
        sv->v = bc_realloc(sv->v, sv->cap * sizeof *sv->v);
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

static void mt_strv_clear(struct mt_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    memset(sv, 0, sizeof *sv);
}

static const char *mt_basename(const char *p)
{
    const char *slash = strrchr(p, '/');
    return slash ? slash + 1 : p;
}

static int mt_supports_null_flush(const char *prog)
{
    for (size_t i = 0; i < sizeof mt_null_flush_programs / sizeof *mt_null_flush_programs; i++)
        if (strcmp(prog, mt_null_flush_programs[i]) == 0)
            return 1;
    return 0;
}

/* Deformatters and reformatters drop the NUL and are useless for plain text. */
static int mt_is_formatter(const char *prog)
{
    return strncmp(prog, "apertium-des", 12) == 0 || strncmp(prog, "apertium-re", 11) == 0;
}

static char *mt_resolve(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0 ? bc_strdup(prog) : NULL;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = MT_DEFAULT_PATH;
    while (*path) {
        size_t len = strcspn(path, ":");
        char *cand = bc_asprintf("%.*s/%s", (int)len, len ? path : ".", prog);
        if (access(cand, X_OK) == 0)
            return cand;
        free(cand);
        path += len;
        if (*path == ':')
            path++;
    }
    return NULL;
}

/* Adds one parsed stage: drops formatters, inserts -z, resolves the program. */
static int mt_add_stage(struct mt_pipeline *pl, struct mt_strv *args)
{
    if (args->n == 0)
        return BC_EFORMAT;
    const char *prog = mt_basename(args->v[0]);
    if (mt_is_formatter(prog)) {
        mt_strv_clear(args);
        return 0;
    }
    if (!mt_supports_null_flush(prog)) {
        bc_warn("mt: mode %s: stage %s has no null-flush mode", pl->mode, prog);
        return BC_EFORMAT;
    }
    char *path = mt_resolve(args->v[0]);
    if (!path) {
        bc_warn("mt: mode %s: %s not found", pl->mode, args->v[0]);
        return BC_ENOTFOUND;
    }
    int has_z = 0;
    for (size_t i = 1; i < args->n; i++)
        has_z |= strcmp(args->v[i], "-z") == 0;
    struct mt_strv argv = {0};
    mt_strv_push(&argv, args->v[0]);
    if (!has_z)
        mt_strv_push(&argv, bc_strdup("-z"));
    for (size_t i = 1; i < args->n; i++)
        mt_strv_push(&argv, args->v[i]);
    free(args->v);
    memset(args, 0, sizeof *args);

    pl->argv = bc_realloc(pl->argv, (pl->nstages + 1) * sizeof *pl->argv);
    pl->path = bc_realloc(pl->path, (pl->nstages + 1) * sizeof *pl->path);
    pl->argv[pl->nstages] = argv.v;
    pl->path[pl->nstages] = path;
    pl->nstages++;
    return 0;
}

/* A .mode file is one shell pipeline of simple commands with quoted paths;
 * $1 is the generator's unknown-word option, $2 an optional tagger option. */
static int mt_parse(struct mt_pipeline *pl, const char *s)
{
    struct mt_strv args = {0};
    char *tok = bc_malloc(strlen(s) + 1);
    size_t tlen = 0;
    int in_tok = 0, rc = 0;
    const char *p = s;

    for (;;) {
        char c = *p;
        int sep = c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '|';
        if (sep && in_tok) {
            tok[tlen] = '\0';
            mt_strv_push(&args, bc_strndup(tok, tlen));
            tlen = 0;
            in_tok = 0;
        }
        if (c == '\0' || c == '|' || c == '\n') {
            if (args.n > 0 || c == '|')
                if ((rc = mt_add_stage(pl, &args)) != 0)
                    goto fail;
            if (c == '\0')
                break;
            if (c == '\n' && p[strspn(p, " \t\r\n")] != '\0') {
                rc = BC_EFORMAT; /* a second command: not a single pipeline */
                goto fail;
            }
            p++;
            continue;
        }
        if (sep || c == '\r') {
            p++;
            continue;
        }
        if (c == '\'') {
            const char *end = strchr(p + 1, '\'');
            if (!end) {
                rc = BC_EFORMAT;
                goto fail;
            }
            memcpy(tok + tlen, p + 1, (size_t)(end - p - 1));
            tlen += (size_t)(end - p - 1);
            in_tok = 1;
            p = end + 1;
        } else if (c == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '$' || *p == '`') {
                    rc = BC_EFORMAT;
                    goto fail;
                }
                if (*p == '\\' && strchr("\"\\$`", p[1]))
                    p++;
                tok[tlen++] = *p;
            }
            if (*p != '"') {
                rc = BC_EFORMAT;
                goto fail;
            }
            in_tok = 1;
            p++;
        } else if (c == '\\' && p[1]) {
            if (p[1] != '\n') {
                tok[tlen++] = p[1];
                in_tok = 1;
            }
            p += 2;
        } else if (c == '$' && !in_tok && (p[1] == '1' || p[1] == '2') &&
                   strchr(" \t\n|", p[2] ? p[2] : ' ')) {
            if (p[1] == '1')
                mt_strv_push(&args, bc_strdup("-n"));
            p += 2;
        } else if (strchr("$`;&<>(){}*?~#", c)) {
            rc = BC_EFORMAT; /* shell syntax we do not emulate */
            goto fail;
        } else {
            tok[tlen++] = c;
            in_tok = 1;
            p++;
        }
    }
    if (pl->nstages == 0)
        rc = BC_EFORMAT;
fail:
    mt_strv_clear(&args);
    free(tok);
    return rc;
}

int mt_pipeline_new(const char *modes_dir, const char *mode, struct mt_pipeline **out)
{
    struct mt_pipeline *pl = bc_calloc(1, sizeof *pl);
    char *file = bc_asprintf("%s/%s.mode", modes_dir, mode);
    char *text = NULL;
    FILE *fp = NULL;
    int rc;

    pthread_mutex_init(&pl->lock, NULL);
    pl->mode = bc_strdup(mode);
    pl->wfd = pl->rfd = -1;
    fp = fopen(file, "re");
    if (!fp) {
        rc = errno == ENOENT ? BC_ENOTFOUND : BC_EIO;
        goto fail;
    }
    text = bc_malloc(MT_MODE_FILE_MAX_BYTES + 1);
    size_t n = fread(text, 1, MT_MODE_FILE_MAX_BYTES + 1, fp);
    if (ferror(fp) || n > MT_MODE_FILE_MAX_BYTES) {
        rc = ferror(fp) ? BC_EIO : BC_EFORMAT;
        goto fail;
    }
    text[n] = '\0';
    if ((rc = mt_parse(pl, text)) != 0)
        goto fail;
    pl->pids = bc_calloc(pl->nstages, sizeof *pl->pids);
    fclose(fp);
    free(text);
    free(file);
    *out = pl;
    return 0;
fail:
    if (fp)
        fclose(fp);
    free(text);
    free(file);
    mt_pipeline_free(pl);
    return rc;
}

void mt_pipeline_free(struct mt_pipeline *pl)
{
    if (!pl)
        return;
    if (pl->pids)
        mt_pipeline_kill(pl);
    for (size_t i = 0; i < pl->nstages; i++) {
        for (char **a = pl->argv[i]; *a; a++)
            free(*a);
        free(pl->argv[i]);
        free(pl->path[i]);
    }
    free(pl->argv);
    free(pl->path);
    free(pl->pids);
    free(pl->mode);
    pthread_mutex_destroy(&pl->lock);
    free(pl);
}

const char *mt_pipeline_mode(const struct mt_pipeline *pl)
{
    return pl->mode;
}
void mt_pipeline_lock(struct mt_pipeline *pl)
{
    pthread_mutex_lock(&pl->lock);
}
void mt_pipeline_unlock(struct mt_pipeline *pl)
{
    pthread_mutex_unlock(&pl->lock);
}
int mt_pipeline_running(const struct mt_pipeline *pl)
{
    return pl->wfd >= 0;
}

size_t mt_pipeline_pids(const struct mt_pipeline *pl, pid_t *pids, size_t max)
{
    size_t n = pl->nstages < max ? pl->nstages : max;
    for (size_t i = 0; i < n; i++)
        pids[i] = pl->pids[i];
    return n;
}

/* Runs in the forked child: only async-signal-safe calls until execv. */
static void mt_exec_stage(const char *path, char *const argv[], int in, int out, int max_fd)
{
    /* Move both ends above 2 first so dup2 cannot clobber one with the other;
     * F_DUPFD copies do not carry O_CLOEXEC. */
    int in2 = fcntl(in, F_DUPFD, 3), out2 = fcntl(out, F_DUPFD, 3);
    if (in2 < 0 || out2 < 0 || dup2(in2, STDIN_FILENO) < 0 || dup2(out2, STDOUT_FILENO) < 0)
        _exit(127);
    /* fds of other modules that lack O_CLOEXEC must not keep our pipes or
     * their sockets alive in the stages. */
    if (close_range(3, ~0U, 0) != 0)
        for (int fd = 3; fd < max_fd; fd++)
            close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL); /* a stage whose reader died must die too */
    execv(path, argv);
    _exit(127);
}

int mt_pipeline_spawn(struct mt_pipeline *pl)
{
    size_t npipes = pl->nstages + 1;
    int *fds = bc_malloc(npipes * 2 * sizeof *fds);
    long open_max = sysconf(_SC_OPEN_MAX);
    int max_fd = open_max > 0 && open_max < 65536 ? (int)open_max : 65536;
    int rc = BC_EIO;

    for (size_t i = 0; i < npipes * 2; i++)
        fds[i] = -1;
    /* O_CLOEXEC: stages spawned concurrently by other threads must not
     * inherit our ends, or EOF would never reach a stage. */
    for (size_t i = 0; i < npipes; i++)
        if (pipe2(fds + 2 * i, O_CLOEXEC) != 0)
            goto fail;
    for (size_t i = 0; i < pl->nstages; i++) {
        pid_t pid = fork();
        if (pid < 0)
            goto fail;
        if (pid == 0)
            mt_exec_stage(pl->path[i], pl->argv[i], fds[2 * i], fds[2 * (i + 1) + 1], max_fd);
        pl->pids[i] = pid;
    }
    pl->wfd = fds[1];
    pl->rfd = fds[2 * pl->nstages];
    fds[1] = fds[2 * pl->nstages] = -1;
    for (size_t i = 0; i < npipes * 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    if (fcntl(pl->wfd, F_SETFL, O_NONBLOCK) != 0 || fcntl(pl->rfd, F_SETFL, O_NONBLOCK) != 0) {
        mt_pipeline_kill(pl);
        return BC_EIO;
    }
    bc_debug("mt: spawned %s (%zu stages)", pl->mode, pl->nstages);
    return 0;
fail:
    bc_warn("mt: spawning %s failed: %s", pl->mode, strerror(errno));
    for (size_t i = 0; i < npipes * 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    mt_pipeline_kill(pl);
    return rc;
}

void mt_pipeline_kill(struct mt_pipeline *pl)
{
    if (pl->wfd >= 0)
        close(pl->wfd);
    if (pl->rfd >= 0)
        close(pl->rfd);
    pl->wfd = pl->rfd = -1;
    for (size_t i = 0; i < pl->nstages; i++) {
        if (pl->pids[i] <= 0)
            continue;
        kill(pl->pids[i], SIGKILL);
        while (waitpid(pl->pids[i], NULL, 0) < 0 && errno == EINTR)
            ;
        pl->pids[i] = 0;
    }
}

/* Writes to a pipe must not kill the process with SIGPIPE when a stage died,
 * and the library must not change the process-wide disposition: SIGPIPE is
 * blocked in this thread for the exchange and a SIGPIPE we caused is
 * consumed before unblocking. */
struct mt_sigpipe_guard {
    sigset_t old;
    int was_pending;
    int raised;
};

static void mt_sigpipe_block(struct mt_sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    g->raised = 0;
}

static void mt_sigpipe_restore(struct mt_sigpipe_guard *g)
{
    if (g->raised && !g->was_pending) {
        sigset_t set;
        struct timespec zero = {0, 0};
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Whether the answer ends with our sentinel (then removed); anything else,
 * such as the NUL a stage writes when its predecessor died, is not an
 * answer to this request. */
static int mt_take_sentinel(char *answer, size_t *len, const char *sentinel)
{
    size_t n = *len, slen = strlen(sentinel);
    while (n > 0 && strchr(" \t\r\n", answer[n - 1]))
        n--;
    if (n < slen || memcmp(answer + n - slen, sentinel, slen) != 0)
        return 0;
    *len = n - slen;
    return 1;
}

int mt_pipeline_exchange(struct mt_pipeline *pl, const char *input, int timeout_ms, char **out)
{
    char sentinel[MT_SENTINEL_MAX];
    snprintf(sentinel, sizeof sentinel, MT_SENTINEL_FORMAT, ++pl->seq);
    /* The superblank passes every stage verbatim and stays last; the blank
     * after it keeps Apertium from mistranslating the last word; the NUL is
     * the flush request. */
    char *request = bc_asprintf("%s%s\n", input, sentinel);
    size_t wlen = strlen(request) + 1;
    size_t woff = 0, rlen = 0, rcap = MT_READ_CHUNK_BYTES;
    char *rbuf = bc_malloc(rcap + 1);
    int64_t deadline_us = bc_now_us() + (int64_t)timeout_ms * 1000;
    struct mt_sigpipe_guard guard;
    int rc = BC_EENGINE;

    if (pl->wfd < 0)
        goto fail;
    mt_sigpipe_block(&guard);
    for (;;) {
        int64_t left_ms = (deadline_us - bc_now_us() + 999) / 1000;
        if (left_ms <= 0) {
            rc = BC_ETIMEDOUT;
            break;
        }
        struct pollfd pfd[2] = {{.fd = pl->rfd, .events = POLLIN},
                                {.fd = woff < wlen ? pl->wfd : -1, .events = POLLOUT}};
        int n = poll(pfd, 2, (int)left_ms);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (pfd[1].revents) {
            ssize_t w = write(pl->wfd, request + woff, wlen - woff);
            if (w < 0 && errno == EPIPE)
                guard.raised = 1;
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                break;
            if (w > 0)
                woff += (size_t)w;
        }
        if (pfd[0].revents) {
            if (rcap - rlen < MT_READ_CHUNK_BYTES) {
                rcap *= 2;
                rbuf = bc_realloc(rbuf, rcap + 1);
            }
            ssize_t r = read(pl->rfd, rbuf + rlen, rcap - rlen);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                break; /* a stage died */
            if (r < 0)
                continue;
            char *nul = memchr(rbuf + rlen, '\0', (size_t)r);
            rlen += (size_t)r;
            if (nul) {
                /* Anything after the NUL, or a NUL before our input was
                 * all written, means the stream is out of step. */
                size_t end = rlen;
                rlen = (size_t)(nul - rbuf);
                if (nul + 1 == rbuf + end && woff == wlen &&
                    mt_take_sentinel(rbuf, &rlen, sentinel))
                    rc = 0;
                break;
            }
            if (rlen > MT_ANSWER_MAX_BYTES)
                break;
        }
    }
    mt_sigpipe_restore(&guard);
    if (rc != 0)
        goto fail;
    rbuf[rlen] = '\0';
    free(request);
    *out = rbuf;
    return 0;
fail:
    free(request);
    free(rbuf);
    return rc;
}

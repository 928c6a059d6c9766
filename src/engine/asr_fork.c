/* The user's side of forked recognizers: starting the template process,
 * asking it for recognizers and proxying stream calls to them. */
#include "engine/asr_fork.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/asr_wire.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

/* Loading a decoder takes about 0.3 s; allow for a loaded machine and
 * sanitizers. */
#define ASR_FORK_LOAD_TIMEOUT_MS 120000
#define ASR_FORK_SPAWN_TIMEOUT_MS 30000
/* A request carries at most one second of audio; a recognizer silent this
 * long is hung. */
#define ASR_FORK_REPLY_TIMEOUT_MS 60000
#define ASR_FORK_EXIT_WAIT_MS 5000
#define ASR_FORK_EXIT_POLL_US 10000

struct asr_template {
    pid_t pid;
    int control;
    int gone;             /* the template process no longer answers */
    pthread_mutex_t lock; /* one spawn at a time on the control socket */
};

struct asr_remote {
    int fd;
    pid_t pid;
    int failed;
    struct asr_callbacks cb;
    int64_t position;
    int in_utterance;
    int next_utterance;
    int has_terms;
    struct asr_wire_msg msg;        /* replies */
    int64_t ends[ASR_WORDS_MAX];    /* of the final being delivered */
    char terms[ASR_WIRE_PAYLOAD_MAX]; /* the last VOCABULARY sent, for a successor */
    uint32_t terms_length;
};

/* Counts this process's threads: forking is only safe with one. */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Waits (bounded) for a child of this process to exit, then kills it. */
static void reap(pid_t pid)
{
    for (int waited_ms = 0; waited_ms < ASR_FORK_EXIT_WAIT_MS;
         waited_ms += ASR_FORK_EXIT_POLL_US / 1000) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return;
        bc_sleep_us(ASR_FORK_EXIT_POLL_US);
    }
    bc_warn("speech recognizer template process %d did not exit; killing it", (int)pid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int asr_template_start(const struct asr_params *params, struct asr_template **out)
{
    *out = NULL;
    int threads = thread_count();
    if (threads != 1) {
        bc_error("forked speech recognizers must be set up before the process starts threads "
                 "(%d running)", threads);
        return BC_ESTATE;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        bc_error("speech recognizer template: no socket: %s", strerror(errno));
        return BC_EENGINE;
    }
    pid_t self = getpid();
    fflush(NULL); /* buffered output must not be written twice */
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        asr_zygote_main(params, sv[1], self);
    }
    close(sv[1]);
    if (pid < 0) {
        bc_error("speech recognizer template: fork failed: %s", strerror(errno));
        close(sv[0]);
        return BC_EENGINE;
    }
    struct asr_template *t = bc_calloc(1, sizeof *t);
    t->pid = pid;
    t->control = sv[0];
    pthread_mutex_init(&t->lock, NULL);
    struct asr_wire_msg *msg = bc_malloc(sizeof *msg);
    int rc = asr_wire_recv(t->control, msg, ASR_FORK_LOAD_TIMEOUT_MS, NULL);
    if (rc == 0 && (msg->h.type != ASR_WIRE_LOADED || msg->h.rc < 0))
        rc = BC_EENGINE;
    free(msg);
    if (rc < 0) {
        bc_error("speech recognizer template process %d did not load the model: %s", (int)pid,
                 bc_strerror(rc));
        kill(pid, SIGKILL);
        asr_template_stop(t);
        return BC_EENGINE;
    }
    bc_debug("speech recognizer template process %d ready", (int)pid);
    *out = t;
    return 0;
}

void asr_template_stop(struct asr_template *t)
{
    if (!t)
        return;
    close(t->control); /* the template exits on end of file */
    reap(t->pid);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static int request_spawn(struct asr_template *t, struct asr_wire_msg *msg, int *fd)
{
    struct asr_wire_header h;
    memset(&h, 0, sizeof h);
    h.type = ASR_WIRE_SPAWN;
    int rc = asr_wire_send(t->control, &h, NULL, -1);
    if (rc == 0)
        rc = asr_wire_recv(t->control, msg, ASR_FORK_SPAWN_TIMEOUT_MS, fd);
    if (rc < 0) {
        t->gone = 1;
        bc_error("speech recognizer template process %d is gone (%s): no new recognizers",
                 (int)t->pid, bc_strerror(rc));
        return BC_EENGINE;
    }
    if (msg->h.type != ASR_WIRE_SPAWNED || msg->h.rc < 0 || *fd < 0) {
        bc_error("speech recognizer template process %d could not fork a recognizer",
                 (int)t->pid);
        if (*fd >= 0)
            close(*fd);
        return BC_EENGINE;
    }
    return 0;
}

int asr_template_spawn(struct asr_template *t, struct asr_remote **out)
{
    *out = NULL;
    struct asr_remote *r = bc_calloc(1, sizeof *r);
    int fd = -1, rc = BC_EENGINE;
    pthread_mutex_lock(&t->lock);
    if (!t->gone)
        rc = request_spawn(t, &r->msg, &fd);
    pthread_mutex_unlock(&t->lock);
    if (rc < 0) {
        free(r);
        return rc;
    }
    r->fd = fd;
    r->pid = (pid_t)r->msg.h.position;
    *out = r;
    return 0;
}

void asr_remote_free(struct asr_remote *r)
{
    if (!r)
        return;
    close(r->fd); /* the recognizer exits on end of file; its template reaps it */
    free(r);
}

/* A recognizer still running (hung or confused) is killed so it does not
 * linger; one that ended is not, as its id may already be reused. */
static int fail(struct asr_remote *r, const char *why, int still_running)
{
    if (!r->failed)
        bc_error("speech recognizer process %d %s", (int)r->pid, why);
    if (!r->failed && still_running)
        kill(r->pid, SIGKILL);
    r->failed = 1;
    return BC_EENGINE;
}

static void take_state(struct asr_remote *r, const struct asr_wire_header *h)
{
    r->position = h->position;
    r->in_utterance = h->in_utterance;
    r->next_utterance = h->next_utterance;
    r->has_terms = h->has_terms;
}

/* Returns 0 or BC_EFORMAT (a FINAL's word ends do not add up). */
static int deliver(struct asr_remote *r, const struct asr_wire_msg *m)
{
    int final = m->h.type == ASR_WIRE_FINAL;
    void (*fn)(void *, const struct asr_hyp *) = final ? r->cb.on_final : r->cb.on_partial;
    struct asr_hyp hyp = {m->payload, m->h.utterance, m->h.start_sample, m->h.end_sample,
                          m->h.forced, NULL, 0};
    if (final) {
        int n = asr_wire_final_decode(m, r->ends);
        if (n < 0)
            return n;
        hyp.word_end_samples = n ? r->ends : NULL;
        hyp.n_words = (size_t)n;
    }
    if (fn)
        fn(r->cb.user_data, &hyp);
    return 0;
}

/* Sends one request and runs the callbacks of the events it produced, in
 * order, until its DONE. Returns the recognizer's code or BC_EENGINE. */
static int request(struct asr_remote *r, const struct asr_wire_header *h, const void *payload)
{
    if (r->failed)
        return BC_EENGINE;
    int rc = asr_wire_send(r->fd, h, payload, -1);
    if (rc < 0)
        return fail(r, "is gone", 0);
    for (;;) {
        rc = asr_wire_recv(r->fd, &r->msg, ASR_FORK_REPLY_TIMEOUT_MS, NULL);
        if (rc == BC_ECLOSED)
            return fail(r, "ended unexpectedly", 0);
        if (rc == BC_ETIMEDOUT)
            return fail(r, "stopped answering", 1);
        if (rc < 0)
            return fail(r, "sent a malformed message", 1);
        take_state(r, &r->msg.h);
        switch (r->msg.h.type) {
        case ASR_WIRE_PARTIAL:
        case ASR_WIRE_FINAL:
            if (deliver(r, &r->msg) < 0)
                return fail(r, "sent a malformed final", 1);
            break;
        case ASR_WIRE_DONE:
            return r->msg.h.rc;
        default:
            return fail(r, "sent an unexpected message", 1);
        }
    }
}

static void header_init(struct asr_wire_header *h, int type)
{
    memset(h, 0, sizeof *h);
    h->type = type;
}

int asr_remote_reset(struct asr_remote *r, const struct asr_callbacks *callbacks)
{
    r->cb = *callbacks;
    r->terms_length = 0; /* the previous stream's */
    struct asr_wire_header h;
    header_init(&h, ASR_WIRE_RESET);
    return request(r, &h, NULL);
}

int asr_remote_feed(struct asr_remote *r, const int16_t *pcm, size_t n_samples)
{
    while (n_samples > 0) {
        size_t n = n_samples < ASR_WIRE_PCM_MAX ? n_samples : ASR_WIRE_PCM_MAX;
        struct asr_wire_header h;
        header_init(&h, ASR_WIRE_FEED);
        h.length = (uint32_t)(n * sizeof *pcm);
        int rc = request(r, &h, pcm);
        if (rc < 0)
            return rc;
        pcm += n;
        n_samples -= n;
    }
    return r->failed ? BC_EENGINE : 0;
}

int asr_remote_flush(struct asr_remote *r)
{
    struct asr_wire_header h;
    header_init(&h, ASR_WIRE_FLUSH);
    return request(r, &h, NULL);
}

int asr_remote_resume(struct asr_remote *r, int64_t position, int next_utterance)
{
    struct asr_wire_header h;
    header_init(&h, ASR_WIRE_RESUME);
    h.position = position;
    h.next_utterance = next_utterance;
    return request(r, &h, NULL);
}

/* Sends the terms in r->terms. */
static int send_terms(struct asr_remote *r)
{
    struct asr_wire_header h;
    header_init(&h, ASR_WIRE_VOCABULARY);
    h.length = r->terms_length;
    return request(r, &h, r->terms);
}

int asr_remote_set_vocabulary(struct asr_remote *r, const struct asr_term *terms, size_t n)
{
    r->terms_length = (uint32_t)asr_wire_terms_encode(terms, n, r->terms, sizeof r->terms);
    return send_terms(r);
}

int asr_remote_take_terms(struct asr_remote *r, const struct asr_remote *from)
{
    if (!from->terms_length)
        return 0;
    memcpy(r->terms, from->terms, from->terms_length);
    r->terms_length = from->terms_length;
    int rc = send_terms(r);
    return rc < 0 ? rc : 0;
}

int asr_remote_has_terms(const struct asr_remote *r)
{
    return r->has_terms;
}

int64_t asr_remote_position(const struct asr_remote *r)
{
    return r->position;
}

int asr_remote_in_utterance(const struct asr_remote *r)
{
    return r->in_utterance;
}

int asr_remote_next_utterance(const struct asr_remote *r)
{
    return r->next_utterance;
}

int asr_remote_failed(const struct asr_remote *r)
{
    return r->failed;
}

pid_t asr_remote_pid(const struct asr_remote *r)
{
    return r->pid;
}

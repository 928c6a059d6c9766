/* The template process and the recognizer processes it forks. Both are
 * single-threaded and leave with _exit: nothing registered by the user
 * process (atexit handlers, sanitizer leak checks, stdio buffers) runs in
 * them. */
/* close_range is a GNU extension. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/asr_fork.h"
#include "engine/asr_recognizer.h"
#include "engine/asr_wire.h"
#include "util/err.h"
#include "util/log.h"

#define EXIT_NORMAL 0
#define EXIT_BROKEN 1

/* One message buffer per process: both processes are single-threaded. */
static struct asr_wire_msg message;
static int16_t samples[ASR_WIRE_PCM_MAX];
static char event[ASR_WIRE_PAYLOAD_MAX];
static struct asr_term terms[ASR_WIRE_TERMS_MAX];

struct recognizer_link {
    int fd;
    struct asr_recognizer *rec;
    const char *full_dict; /* NULL or the dictionary untrimmed, for terms */
    int lost;              /* a send failed: the user is gone */
};

/* Dies with the process that forked this one (the user for the template,
 * the template for a recognizer), even if that one died before prctl. */
static void follow_parent(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(EXIT_NORMAL);
}

/* Descriptors inherited from the user process (listening sockets, files,
 * pipes a supervisor waits on) must not stay open in here. */
static void close_all_but(int keep)
{
    int first = STDERR_FILENO + 1;
    if (keep > first)
        close_range((unsigned)first, (unsigned)keep - 1, 0);
    close_range((unsigned)(keep >= first ? keep + 1 : first), ~0U, 0);
}

static void fill_state(struct asr_wire_header *h, const struct asr_recognizer *rec)
{
    h->position = asr_recognizer_position(rec);
    h->in_utterance = asr_recognizer_in_utterance(rec);
    h->next_utterance = asr_recognizer_next_utterance(rec);
    h->has_terms = asr_recognizer_has_terms(rec);
}

static void send_event(struct recognizer_link *link, int type, const struct asr_hyp *hyp)
{
    struct asr_wire_header h;
    memset(&h, 0, sizeof h);
    h.type = type;
    h.utterance = hyp->utterance;
    h.forced = hyp->forced;
    h.start_sample = hyp->start_sample;
    h.end_sample = hyp->end_sample;
    fill_state(&h, link->rec);
    const char *payload = hyp->text;
    if (type == ASR_WIRE_FINAL) {
        asr_wire_final_encode(&h, event, hyp->text, hyp->word_end_samples, hyp->n_words);
        payload = event;
    } else {
        h.length = (uint32_t)strnlen(hyp->text, ASR_TEXT_MAX - 1);
    }
    if (asr_wire_send(link->fd, &h, payload, -1) < 0)
        link->lost = 1;
}

static void on_partial(void *user_data, const struct asr_hyp *hyp)
{
    send_event(user_data, ASR_WIRE_PARTIAL, hyp);
}

static void on_final(void *user_data, const struct asr_hyp *hyp)
{
    send_event(user_data, ASR_WIRE_FINAL, hyp);
}

static int serve_request(struct recognizer_link *link, int *started)
{
    const struct asr_wire_header *h = &message.h;
    if (h->type == ASR_WIRE_RESET) {
        struct asr_callbacks cb = {on_partial, on_final, link};
        int rc = asr_recognizer_start(link->rec, &cb);
        *started = rc == 0;
        return rc;
    }
    if (!*started)
        return BC_ESTATE;
    switch (h->type) {
    case ASR_WIRE_FEED:
        if (h->length % sizeof samples[0] != 0)
            return BC_EINVAL;
        memcpy(samples, message.payload, h->length);
        return asr_recognizer_feed(link->rec, samples, h->length / sizeof samples[0]);
    case ASR_WIRE_FLUSH:
        return asr_recognizer_flush(link->rec);
    case ASR_WIRE_RESUME:
        return asr_recognizer_resume(link->rec, h->position, h->next_utterance);
    case ASR_WIRE_VOCABULARY: {
        int n = asr_wire_terms_decode(message.payload, h->length, terms, ASR_WIRE_TERMS_MAX);
        return n < 0 ? n : asr_recognizer_set_vocabulary(link->rec, link->full_dict, terms,
                                                             (size_t)n);
    }
    default:
        return BC_EINVAL;
    }
}

static _Noreturn void recognizer_main(struct asr_recognizer *rec, const char *full_dict, int fd,
                                      pid_t template_pid)
{
    follow_parent(template_pid);
    struct recognizer_link link = {fd, rec, full_dict, 0};
    int started = 0;
    for (;;) {
        int rc = asr_wire_recv(fd, &message, -1, NULL);
        if (rc == BC_ECLOSED)
            _exit(EXIT_NORMAL);
        if (rc < 0)
            _exit(EXIT_BROKEN);
        rc = serve_request(&link, &started);
        struct asr_wire_header done;
        memset(&done, 0, sizeof done);
        done.type = ASR_WIRE_DONE;
        done.rc = rc;
        fill_state(&done, rec);
        if (link.lost || asr_wire_send(fd, &done, NULL, -1) < 0)
            _exit(EXIT_NORMAL);
    }
}

static void spawn_recognizer(int control, struct asr_recognizer *rec, const char *full_dict)
{
    struct asr_wire_header reply;
    memset(&reply, 0, sizeof reply);
    reply.type = ASR_WIRE_SPAWNED;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        bc_error("speech recognizer: no socket: %s", strerror(errno));
        reply.rc = BC_EIO;
        asr_wire_send(control, &reply, NULL, -1);
        return;
    }
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(control);
        close(sv[0]);
        recognizer_main(rec, full_dict, sv[1], self);
    }
    close(sv[1]);
    if (pid < 0) {
        bc_error("speech recognizer: fork failed: %s", strerror(errno));
        reply.rc = BC_EENGINE;
    }
    reply.position = pid;
    asr_wire_send(control, &reply, NULL, pid < 0 ? -1 : sv[0]);
    close(sv[0]);
}

_Noreturn void asr_zygote_main(const struct asr_params *params, int control, pid_t user_pid)
{
    follow_parent(user_pid);
    /* The user process decides when recognizers end (it drains on SIGTERM);
     * the kernel reaps recognizers that exit. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_IGN);
    close_all_but(control);
    struct asr_recognizer *rec;
    struct asr_wire_header loaded;
    memset(&loaded, 0, sizeof loaded);
    loaded.type = ASR_WIRE_LOADED;
    struct asr_dict dict;
    struct asr_params load;
    loaded.rc = asr_dict_prepare(params, &dict, &load);
    if (loaded.rc == 0) {
        loaded.rc = asr_recognizer_new(&load, &rec);
        asr_dict_release(&dict); /* read: recognizers need no copy */
    }
    if (asr_wire_send(control, &loaded, NULL, -1) < 0 || loaded.rc < 0)
        _exit(EXIT_BROKEN);
    for (;;) {
        int rc = asr_wire_recv(control, &message, -1, NULL);
        if (rc == BC_ECLOSED)
            _exit(EXIT_NORMAL);
        if (rc < 0)
            _exit(EXIT_BROKEN);
        if (message.h.type == ASR_WIRE_SPAWN)
            spawn_recognizer(control, rec, params->trim_dictionary ? params->dict_path : NULL);
    }
}

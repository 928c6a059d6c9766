#include "engine/asr_wire.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/err.h"

/* A message is received in one piece: the payload follows the header. */
_Static_assert(offsetof(struct asr_wire_msg, payload) == sizeof(struct asr_wire_header),
               "asr_wire_msg has padding between header and payload");

int asr_wire_send(int fd, const struct asr_wire_header *h, const void *payload, int pass_fd)
{
    if (h->length > ASR_WIRE_PAYLOAD_MAX)
        return BC_EINVAL;
    struct iovec iov[2] = {{(void *)h, sizeof *h}, {(void *)payload, h->length}};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = h->length ? 2 : 1;
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    if (pass_fd >= 0) {
        memset(&control, 0, sizeof control);
        mh.msg_control = control.buf;
        mh.msg_controllen = sizeof control.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EPIPE || errno == ECONNRESET ? BC_ECLOSED : BC_EIO;
    return (size_t)n == sizeof *h + h->length ? 0 : BC_EIO;
}

static int wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int n;
    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return BC_EIO;
    return n == 0 ? BC_ETIMEDOUT : 0;
}

int asr_wire_recv(int fd, struct asr_wire_msg *msg, int timeout_ms, int *passed_fd)
{
    if (passed_fd)
        *passed_fd = -1;
    int rc = wait_readable(fd, timeout_ms);
    if (rc < 0)
        return rc;
    struct iovec iov = {msg, sizeof msg->h + ASR_WIRE_PAYLOAD_MAX};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.buf;
    mh.msg_controllen = sizeof control.buf;
    ssize_t n;
    do
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return BC_ECLOSED;
    if (n < 0)
        return BC_EIO;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int got;
        memcpy(&got, CMSG_DATA(c), sizeof got);
        if (passed_fd)
            *passed_fd = got;
        else
            close(got);
    }
    if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)n < sizeof msg->h ||
        msg->h.length > ASR_WIRE_PAYLOAD_MAX || (size_t)n != sizeof msg->h + msg->h.length) {
        if (passed_fd && *passed_fd >= 0) {
            close(*passed_fd);
            *passed_fd = -1;
        }
        return BC_EFORMAT;
    }
    msg->payload[msg->h.length] = '\0';
    return 0;
}

_Static_assert(ASR_TEXT_MAX + ASR_WORDS_MAX * sizeof(int64_t) <= ASR_WIRE_PAYLOAD_MAX,
               "a FINAL with every word end fits a message");
_Static_assert(ASR_WIRE_TERMS_MAX * 2 * ASR_WIRE_TERM_TEXT_MAX <= ASR_WIRE_PAYLOAD_MAX,
               "a VOCABULARY with every term fits a message");

size_t asr_wire_terms_encode(const struct asr_term *terms, size_t n, char *buf, size_t len)
{
    size_t used = 0, count = 0;
    for (size_t i = 0; i < n && count < ASR_WIRE_TERMS_MAX; i++) {
        const char *like = terms[i].sounds_like ? terms[i].sounds_like : "";
        size_t tlen = strlen(terms[i].text), llen = strlen(like);
        if (tlen >= ASR_WIRE_TERM_TEXT_MAX || llen >= ASR_WIRE_TERM_TEXT_MAX ||
            used + tlen + llen + 2 > len)
            continue;
        memcpy(buf + used, terms[i].text, tlen + 1);
        used += tlen + 1;
        memcpy(buf + used, like, llen + 1);
        used += llen + 1;
        count++;
    }
    return used;
}

/* One NUL-ended string of at most ASR_WIRE_TERM_TEXT_MAX bytes at *p. */
static const char *take_string(const char **p, const char *end)
{
    const char *s = *p;
    size_t room = (size_t)(end - s);
    if (room > ASR_WIRE_TERM_TEXT_MAX)
        room = ASR_WIRE_TERM_TEXT_MAX;
    const char *nul = memchr(s, '\0', room);
    if (!nul)
        return NULL;
    *p = nul + 1;
    return s;
}

int asr_wire_terms_decode(const char *buf, size_t len, struct asr_term *terms, size_t max)
{
    const char *p = buf, *end = buf + len;
    size_t n = 0;
    while (p < end) {
        if (n == max)
            return BC_EFORMAT;
        terms[n].text = take_string(&p, end);
        terms[n].sounds_like = terms[n].text ? take_string(&p, end) : NULL;
        if (!terms[n].sounds_like)
            return BC_EFORMAT;
        n++;
    }
    return (int)n;
}

void asr_wire_final_encode(struct asr_wire_header *h, char *payload, const char *text,
                           const int64_t *ends, size_t n)
{
    size_t tlen = strnlen(text, ASR_TEXT_MAX - 1);
    if (n > ASR_WORDS_MAX)
        n = ASR_WORDS_MAX;
    memcpy(payload, text, tlen);
    payload[tlen] = '\0';
    if (n)
        memcpy(payload + tlen + 1, ends, n * sizeof *ends);
    h->length = (uint32_t)(tlen + 1 + n * sizeof *ends);
    h->n_words = (int32_t)n;
}

int asr_wire_final_decode(const struct asr_wire_msg *msg, int64_t *ends)
{
    const struct asr_wire_header *h = &msg->h;
    size_t tlen = strnlen(msg->payload, h->length);
    if (h->n_words < 0 || h->n_words > ASR_WORDS_MAX || tlen == h->length ||
        h->length != tlen + 1 + (size_t)h->n_words * sizeof *ends)
        return BC_EFORMAT;
    if (h->n_words)
        memcpy(ends, msg->payload + tlen + 1, (size_t)h->n_words * sizeof *ends);
    return h->n_words;
}

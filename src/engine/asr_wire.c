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

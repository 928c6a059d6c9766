/* A one-thread HTTP server on a loopback port for tests of AWS requests:
 * it records each request (head and body) and answers with a set status
 * and body, after a set delay. One connection per request. */
#ifndef BC_AWS_FAKE_SERVER_H
#define BC_AWS_FAKE_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "util/timeutil.h"

#define FAKE_REQUEST_MAX 65536
#define FAKE_SLICE_US 10000

struct fake_server {
    int fd;
    int port;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t lock;
    /* the answer */
    int status;
    char *body;
    int delay_ms;
    /* the last request */
    char request[FAKE_REQUEST_MAX + 1];
    size_t head_len; /* up to and with the blank line */
    size_t request_len;
    int requests;
};

static size_t fake_content_length(const char *head)
{
    const char *p = strcasestr(head, "\r\ncontent-length:");
    return p ? (size_t)strtoul(p + strlen("\r\ncontent-length:"), NULL, 10) : 0;
}

static void fake_serve_one(struct fake_server *s, int c)
{
    char buf[FAKE_REQUEST_MAX + 1];
    size_t len = 0, head_len = 0;
    while (len < FAKE_REQUEST_MAX) {
        ssize_t n = recv(c, buf + len, FAKE_REQUEST_MAX - len, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end && !head_len)
            head_len = (size_t)(end - buf) + 4;
        if (head_len && len >= head_len + fake_content_length(buf))
            break;
    }
    pthread_mutex_lock(&s->lock);
    memcpy(s->request, buf, len + 1);
    s->head_len = head_len;
    s->request_len = len;
    s->requests++;
    int delay_ms = s->delay_ms, status = s->status;
    char *body = strdup(s->body ? s->body : "");
    pthread_mutex_unlock(&s->lock);
    for (int64_t until = bc_now_us() + (int64_t)delay_ms * 1000;
         bc_now_us() < until && !atomic_load(&s->stop);)
        bc_sleep_us(FAKE_SLICE_US);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                     strlen(body));
    if (send(c, head, (size_t)n, MSG_NOSIGNAL) == n)
        send(c, body, strlen(body), MSG_NOSIGNAL);
    free(body);
}

static void *fake_main(void *arg)
{
    struct fake_server *s = arg;
    while (!atomic_load(&s->stop)) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        fake_serve_one(s, c);
        close(c);
    }
    return NULL;
}

static void fake_start(struct fake_server *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->status = 200;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(s->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_OK(bind(s->fd, (struct sockaddr *)&a, sizeof a));
    ASSERT_OK(listen(s->fd, 8));
    socklen_t alen = sizeof a;
    ASSERT_OK(getsockname(s->fd, (struct sockaddr *)&a, &alen));
    s->port = ntohs(a.sin_port);
    ASSERT_OK(pthread_create(&s->thread, NULL, fake_main, s));
}

/* Sets the answer to the next requests; body is copied. */
static void fake_answer(struct fake_server *s, int status, const char *body, int delay_ms)
{
    pthread_mutex_lock(&s->lock);
    s->status = status;
    free(s->body);
    s->body = strdup(body);
    s->delay_ms = delay_ms;
    pthread_mutex_unlock(&s->lock);
}

static void fake_stop(struct fake_server *s)
{
    atomic_store(&s->stop, 1);
    shutdown(s->fd, SHUT_RDWR); /* wakes accept */
    pthread_join(s->thread, NULL);
    close(s->fd);
    free(s->body);
    pthread_mutex_destroy(&s->lock);
}

#endif

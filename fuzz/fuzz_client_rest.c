/* What a server answers the client's REST calls (`babelcast speak` creates
 * a session and ends it): the input's first byte picks the call, the rest
 * is the raw HTTP response a loopback server in this process sends back
 * before closing, whatever the request was. libcurl reads the framing; the
 * client must turn any status and body into one of its documented results,
 * and on success into a usable id and token. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client.h"
#include "fuzz_common.h"
#include "util/err.h"

#define FUZZ_TIMEOUT_MS 5000
#define FUZZ_REQUEST_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const uint8_t *answer;
static size_t answer_len;
static int listen_fd = -1;

/* Reads the request's head and its body if it announces one, so the client
 * is not reset before it has sent it. */
static void read_request(int fd)
{
    char buf[FUZZ_REQUEST_MAX + 1];
    size_t got = 0;
    while (got < FUZZ_REQUEST_MAX) {
        ssize_t n = read(fd, buf + got, FUZZ_REQUEST_MAX - got);
        if (n <= 0)
            return;
        got += (size_t)n;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        /* libcurl spells it so. */
        const char *cl = strstr(buf, "\r\nContent-Length:");
        size_t body = cl ? strtoul(cl + strlen("\r\nContent-Length:"), NULL, 10) : 0;
        if (got >= (size_t)(end + 4 - buf) + body)
            return;
    }
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        read_request(fd);
        pthread_mutex_lock(&mu);
        size_t off = 0;
        while (off < answer_len) {
            ssize_t n = write(fd, answer + off, answer_len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        pthread_mutex_unlock(&mu);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

static const char *start_server(void)
{
    static char url[64];
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    pthread_t t;
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(listen_fd, 16) != 0 || getsockname(listen_fd, (struct sockaddr *)&a, &alen) != 0 ||
        pthread_create(&t, NULL, serve, NULL) != 0)
        abort();
    pthread_detach(t);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    return url;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const char *base;
    if (!base) {
        fuzz_quiet();
        base = start_server();
    }
    if (len == 0)
        return 0;
    pthread_mutex_lock(&mu);
    answer = data + 1;
    answer_len = len - 1;
    pthread_mutex_unlock(&mu);
    char err[512] = "";
    int rc;
    if (data[0] & 1) {
        rc = client_rest_end_session(base, "k3m9x2p4qa", "00ff", FUZZ_TIMEOUT_MS, err, sizeof err);
        if (rc != 0 && rc != BC_EAUTH && rc != BC_ENOTFOUND && rc != BC_ESTATE && rc != BC_EIO &&
            rc != BC_EINVAL && rc != BC_ELIMIT && rc != BC_ETIMEDOUT && rc != BC_EAGAIN)
            abort();
    } else {
        static const char *const targets[] = {"es", "fr"};
        char *id = NULL, *token = NULL;
        rc = client_rest_create_session(base, targets, 2, FUZZ_TIMEOUT_MS, &id, &token, err,
                                        sizeof err);
        if (rc == 0 && (!id || !id[0] || !token))
            abort();
        if (rc != 0 && (id || token))
            abort();
        free(id);
        free(token);
    }
    if (rc != 0 && !err[0])
        abort(); /* a failure without a reason to show */
    fuzz_touch(err, strlen(err));
    pthread_mutex_lock(&mu);
    answer = NULL;
    answer_len = 0;
    pthread_mutex_unlock(&mu);
    return 0;
}

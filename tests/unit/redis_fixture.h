/* A real redis-server for a test: on a free loopback port, in a temporary
 * directory, with the append-only file on; stopped (and its directory
 * removed) by redis_fixture_stop. Header-only: include it in one test.
 * appendfsync always: with everysec, a busy machine can delay Redis's
 * write of what it already acknowledged, and a kill -9 then loses it (the
 * documented up-to-2 s window), which a test would see as flakiness. */
#ifndef BC_REDIS_FIXTURE_H
#define BC_REDIS_FIXTURE_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define REDIS_FIXTURE_START_TRIES 200 /* x 25 ms */

struct redis_fixture {
    pid_t pid;
    int port;
    char dir[64];
    char url[64];
};

static int redis_fixture_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("free port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts (or, after redis_fixture_kill, restarts on the same port and
 * directory, so the append-only file is read back) the server. Exits the
 * test when it does not answer PING. */
static void redis_fixture_run(struct redis_fixture *fx)
{
    char port[16];
    snprintf(port, sizeof port, "%d", fx->port);
    fx->pid = fork();
    if (fx->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir",
               fx->dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
               "--protected-mode", "no", (char *)NULL);
        perror("redis-server");
        _exit(127);
    }
    for (int i = 0; i < REDIS_FIXTURE_START_TRIES; i++) {
        redisContext *c = redisConnect("127.0.0.1", fx->port);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            redisFree(c);
            if (ok)
                return;
        } else if (c) {
            redisFree(c);
        }
        usleep(25000);
    }
    fprintf(stderr, "redis-server did not start on port %d\n", fx->port);
    exit(1);
}

static void redis_fixture_start(struct redis_fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/bc-redis-XXXXXX");
    if (!mkdtemp(fx->dir)) {
        perror("mkdtemp");
        exit(1);
    }
    fx->port = redis_fixture_free_port();
    snprintf(fx->url, sizeof fx->url, "redis://127.0.0.1:%d", fx->port);
    redis_fixture_run(fx);
}

/* kill -9 of the server; redis_fixture_run brings it back. */
static void redis_fixture_kill(struct redis_fixture *fx)
{
    if (fx->pid > 0) {
        kill(fx->pid, SIGKILL);
        waitpid(fx->pid, NULL, 0);
        fx->pid = 0;
    }
}

static void redis_fixture_stop(struct redis_fixture *fx)
{
    redis_fixture_kill(fx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
}

#endif

/* A Kinesis emulator for a test: kinesalite (npm, tests/aws; installed
 * there with `npm ci` when missing) on a free loopback port with its
 * in-memory store, started by tests/aws/kinesalite.js, which prints the
 * port. kinesalite_fixture_stream creates a stream through the AWS request
 * module (the emulator wants signed-looking requests, which it does not
 * verify). Header-only: include it in one test. */
#ifndef BC_KINESALITE_FIXTURE_H
#define BC_KINESALITE_FIXTURE_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aws/aws.h"
#include "test_paths.h"

#define KINESALITE_DIR TEST_SOURCE_DIR "/tests/aws"

struct kinesalite_fixture {
    pid_t pid;
    int port;
    char endpoint[64];
};

static void kinesalite_fixture_start(struct kinesalite_fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    if (access(KINESALITE_DIR "/node_modules/kinesalite", F_OK) != 0 &&
        system("cd '" KINESALITE_DIR "' && npm ci --no-audit --no-fund --loglevel=error") != 0) {
        fprintf(stderr, "cannot install kinesalite (npm ci in %s)\n", KINESALITE_DIR);
        exit(1);
    }
    int out[2];
    if (pipe(out) < 0) {
        perror("pipe");
        exit(1);
    }
    fx->pid = fork();
    if (fx->pid == 0) {
        /* A test that fails exits without stopping the emulator. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execlp("node", "node", KINESALITE_DIR "/kinesalite.js", "0", (char *)NULL);
        perror("node");
        _exit(127);
    }
    close(out[1]);
    char line[32] = "";
    ssize_t n = read(out[0], line, sizeof line - 1); /* blocks until it listens */
    close(out[0]);
    fx->port = n > 0 ? atoi(line) : 0;
    if (fx->port <= 0) {
        fprintf(stderr, "kinesalite did not start\n");
        exit(1);
    }
    snprintf(fx->endpoint, sizeof fx->endpoint, "http://127.0.0.1:%d", fx->port);
    /* The emulator checks only that credentials are there. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "test-secret", 1);
}

/* Calls operation (e.g. "CreateStream") with a JSON body; exits the test
 * unless it answers 200. */
static void kinesalite_fixture_call(struct kinesalite_fixture *fx, const char *operation,
                                    const char *body)
{
    struct aws_client_params p = {.service = "kinesis", .region = "us-east-1",
                                  .endpoint = fx->endpoint};
    struct aws_client *c;
    if (aws_client_new(&p, NULL, &c) < 0) {
        fprintf(stderr, "no AWS client\n");
        exit(1);
    }
    char target[64];
    snprintf(target, sizeof target, "Kinesis_20131202.%s", operation);
    const struct aws_header h[] = {{"X-Amz-Target", target},
                                   {"Content-Type", "application/x-amz-json-1.1"}};
    struct aws_request r = {.method = "POST", .path = "/", .headers = h, .n_headers = 2,
                            .body = body, .body_len = strlen(body)};
    struct aws_response resp;
    if (aws_request_perform(c, &r, &resp) < 0 || resp.status != 200) {
        fprintf(stderr, "%s %s failed\n", operation, body);
        exit(1);
    }
    aws_response_release(&resp);
    aws_client_free(c);
}

/* Creates stream name with shards shards (ACTIVE at once). */
static void kinesalite_fixture_stream(struct kinesalite_fixture *fx, const char *name, int shards)
{
    char body[256];
    snprintf(body, sizeof body, "{\"StreamName\":\"%s\",\"ShardCount\":%d}", name, shards);
    kinesalite_fixture_call(fx, "CreateStream", body);
}

static void kinesalite_fixture_stop(struct kinesalite_fixture *fx)
{
    if (fx->pid > 0) {
        kill(fx->pid, SIGTERM);
        waitpid(fx->pid, NULL, 0);
        fx->pid = 0;
    }
}

#endif

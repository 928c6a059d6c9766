/* Messages between a process that uses forked recognizers, the template
 * process and the recognizer processes (private to src/engine).
 *
 * The three run the same binary, so a message is a fixed header struct and
 * a bounded payload, one message per SOCK_SEQPACKET packet. Requests go to a
 * recognizer one at a time; it answers each with zero or more PARTIAL and
 * FINAL events, in the order its callbacks ran, then DONE. */
#ifndef BC_ASR_WIRE_H
#define BC_ASR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/asr_recognizer.h"

/* Samples per FEED: a whole number of the recognizer's feeding blocks, so
 * cutting a long feed into FEEDs does not change the results. */
#define ASR_WIRE_PCM_MAX ASR_RATE_HZ
#define ASR_WIRE_PAYLOAD_MAX (ASR_WIRE_PCM_MAX * 2)

enum asr_wire_type {
    ASR_WIRE_LOADED = 1, /* template -> user, once: rc of loading the decoder */
    ASR_WIRE_SPAWN,      /* user -> template: fork a recognizer */
    ASR_WIRE_SPAWNED,    /* template -> user: rc, position = pid; the socket rides along */
    ASR_WIRE_RESET,      /* user -> recognizer: start a fresh stream */
    ASR_WIRE_FEED,       /* user -> recognizer: payload is PCM16 samples */
    ASR_WIRE_FLUSH,      /* user -> recognizer */
    ASR_WIRE_RESUME,     /* user -> recognizer: position, next_utterance */
    ASR_WIRE_PARTIAL,    /* recognizer -> user: a hypothesis; payload is its text */
    ASR_WIRE_FINAL,      /* recognizer -> user: a hypothesis; payload is its text */
    ASR_WIRE_DONE,       /* recognizer -> user: rc of the request */
};

/* Every recognizer message carries the stream's state when it was sent, so
 * the user's view is current inside callbacks too. */
struct asr_wire_header {
    int32_t type;
    int32_t rc;
    int32_t utterance; /* events: the hypothesis's utterance */
    int32_t forced;    /* FINAL */
    int64_t start_sample;
    int64_t end_sample;
    int64_t position;  /* samples fed; SPAWNED: process id */
    int32_t in_utterance;
    int32_t next_utterance;
    uint32_t length;   /* payload bytes */
};

struct asr_wire_msg {
    struct asr_wire_header h;
    char payload[ASR_WIRE_PAYLOAD_MAX + 1]; /* text payloads get a terminator */
};

/* Sends h and h->length bytes of payload; pass_fd >= 0 rides along as
 * SCM_RIGHTS. Never raises SIGPIPE. Returns 0, BC_ECLOSED (peer gone) or
 * BC_EIO. */
int asr_wire_send(int fd, const struct asr_wire_header *h, const void *payload, int pass_fd);
/* Receives one message, waiting up to timeout_ms (negative: forever).
 * *passed_fd (when not NULL) gets a descriptor that rode along (close-on-exec)
 * or -1. Returns 0, BC_ECLOSED (peer gone), BC_ETIMEDOUT, BC_EFORMAT
 * (malformed message) or BC_EIO. */
int asr_wire_recv(int fd, struct asr_wire_msg *msg, int timeout_ms, int *passed_fd);

#endif

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
/* Terms in one VOCABULARY, and bytes of one text or sounds_like with its
 * terminator (room for a glossary's, glossary.h). */
#define ASR_WIRE_TERMS_MAX 100
#define ASR_WIRE_TERM_TEXT_MAX 160

enum asr_wire_type {
    ASR_WIRE_LOADED = 1, /* template -> user, once: rc of loading the decoder */
    ASR_WIRE_SPAWN,      /* user -> template: fork a recognizer */
    ASR_WIRE_SPAWNED,    /* template -> user: rc, position = pid; the socket rides along */
    ASR_WIRE_RESET,      /* user -> recognizer: start a fresh stream */
    ASR_WIRE_FEED,       /* user -> recognizer: payload is PCM16 samples */
    ASR_WIRE_FLUSH,      /* user -> recognizer */
    ASR_WIRE_RESUME,     /* user -> recognizer: position, next_utterance */
    ASR_WIRE_PARTIAL,    /* recognizer -> user: a hypothesis; payload is its text */
    ASR_WIRE_FINAL,      /* recognizer -> user: a hypothesis; payload is its text, a NUL,
                            then n_words int64_t word end samples */
    ASR_WIRE_DONE,       /* recognizer -> user: rc of the request */
    ASR_WIRE_VOCABULARY, /* user -> recognizer: payload is asr_wire_terms_encode's; DONE's rc
                            is the number of terms taken */
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
    int32_t n_words;   /* FINAL: word end times after the text */
    int32_t has_terms; /* the decoder got words of the stream's terms: not reusable */
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

/* Writes terms into buf as text NUL sounds_like NUL pairs (NULL
 * sounds_like as ""), as many as fit in ASR_WIRE_TERMS_MAX, len bytes and
 * the bounds above; a term too long is left out. Returns the bytes
 * written. */
size_t asr_wire_terms_encode(const struct asr_term *terms, size_t n, char *buf, size_t len);
/* Reads len bytes of pairs from buf into terms (pointing into buf, at most
 * max). Returns the number of terms or BC_EFORMAT. */
int asr_wire_terms_decode(const char *buf, size_t len, struct asr_term *terms, size_t max);

/* The payload of a FINAL: text, a NUL, then the word ends; fills
 * h->length and h->n_words. text is cut at ASR_TEXT_MAX - 1 bytes and n
 * at ASR_WORDS_MAX. */
void asr_wire_final_encode(struct asr_wire_header *h, char *payload, const char *text,
                           const int64_t *ends, size_t n);
/* Checks and reads a FINAL's payload: the word ends go into ends
 * (ASR_WORDS_MAX of them). Returns their number or BC_EFORMAT. */
int asr_wire_final_decode(const struct asr_wire_msg *msg, int64_t *ends);

#endif

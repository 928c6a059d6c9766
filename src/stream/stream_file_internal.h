/* Shared by the file:// backend's files (stream_file.c: the backend and its
 * write path; stream_file_format.c: the on-disk format; stream_file_recover.c:
 * reading a directory back at open). Not part of the stream interface. */
#ifndef BC_STREAM_FILE_INTERNAL_H
#define BC_STREAM_FILE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "stream/stream_backend.h"

#define LOG_MAGIC 0x474c4342u  /* "BCLG" little-endian */
#define CKPT_MAGIC 0x4b434342u /* "BCCK" little-endian */
/* [magic u32][seq u64][kind u32][append_ms i64][len u32][crc u32] */
#define LOG_HEADER_BYTES 32
#define LOG_CRC_OFFSET 28
/* A compacted log starts with this record (seq 0): its data, a u64, is the
 * audio bytes of the records compaction dropped, so stream_audio_bytes
 * survives compaction and restarts. */
#define LOG_KIND_BASE 0u
#define LOG_BASE_BYTES 8
/* [magic u32][seq u64][state_len u32][state][crc u32] */
#define CKPT_HEADER_BYTES 16
#define CKPT_MAX_BYTES (CKPT_HEADER_BYTES + STREAM_STATE_MAX + 4)
/* Speakers' audio is private to the server's user. */
#define FILE_MODE 0600
#define MS_PER_S 1000
#define NS_PER_MS 1000000L

/* Per-session state, the memory log's ext: DIR/<id> and its open log. */
struct file_sess {
    char *dir;
    int log_fd;
    uint64_t log_bytes;
    int dirty; /* written since the last fsync; guarded by the memory log's lock */
    pthread_mutex_t ckpt_mu;
};

struct file_backend {
    char *dir;
    int lock_fd;
    struct stream_params params;
    struct stream_mem *mem;
    /* Checkpoints use a session outside the memory lock (read side);
     * retention frees sessions (write side). */
    pthread_rwlock_t gc_lock;
    pthread_mutex_t bg_mu;
    pthread_cond_t bg_cv;
    int stopping;
    int bg_started;
    pthread_t bg;
};

/* ---- stream_file_format.c ---- */

/* CRC-32 (IEEE), chainable: sf_crc32_update(sf_crc32_update(0, a), b). */
uint32_t sf_crc32_update(uint32_t crc, const void *buf, size_t n);
/* Little-endian fields. */
void sf_put_u32(uint8_t *p, uint32_t v);
void sf_put_u64(uint8_t *p, uint64_t v);
uint32_t sf_get_u32(const uint8_t *p);
uint64_t sf_get_u64(const uint8_t *p);
/* A log record's header, its CRC covering the header and rec->data. */
void sf_encode_header(const struct stream_record *rec, uint8_t hdr[LOG_HEADER_BYTES]);
/* Writes the base record that starts a rewritten log; 0 or BC_EIO. */
int sf_write_base(int fd, uint64_t dropped_audio_bytes);
/* 0 or BC_EIO; retries short writes and EINTR. */
int sf_write_all(int fd, const void *buf, size_t n);
/* Best effort: makes a file's or directory's entries durable. */
void sf_fsync_path(const char *path);
/* Replaces fs->dir/checkpoint atomically. 0 or BC_EIO (logged). */
int sf_write_checkpoint(struct file_sess *fs, uint64_t seq, const void *state, size_t len);
/* dir/checkpoint into state (STREAM_STATE_MAX bytes). Missing or damaged:
 * seq 0, which replays the log rather than skipping it. */
void sf_read_checkpoint(const char *dir, uint64_t *seq, uint8_t *state, size_t *len);

/* ---- stream_file.c ---- */

/* A session's state with no log open yet; free with sf_sess_free. */
struct file_sess *sf_sess_new(struct file_backend *fb, const char *id);
/* The session_free hook: closes the log and frees ext. */
void sf_sess_free(void *ctx, void *ext);
/* Opens fs->dir/log for appending. 0 or BC_EIO (logged). */
int sf_open_log(struct file_sess *fs);

/* ---- stream_file_recover.c ---- */

/* Loads every session directory under fb->dir into fb->mem. A damaged
 * record inside a log is set aside: dead-lettered (counted by
 * stream_dead_letters), an empty audio record keeps its seq, and every later
 * record is kept; a torn or damaged last record is cut off. 0 or a negative
 * bc_err. */
int sf_recover_all(struct file_backend *fb);

#endif

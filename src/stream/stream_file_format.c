/* The file:// backend's on-disk format: little-endian fields, CRC-32
 * protected log records and checkpoints, and small file helpers. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream/stream_file_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t sf_crc32_update(uint32_t crc, const void *buf, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = buf;
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

void sf_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void sf_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t sf_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t sf_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void sf_encode_header(const struct stream_record *rec, uint8_t hdr[LOG_HEADER_BYTES])
{
    sf_put_u32(hdr, LOG_MAGIC);
    sf_put_u64(hdr + 4, rec->seq);
    sf_put_u32(hdr + 12, rec->kind);
    sf_put_u64(hdr + 16, (uint64_t)rec->append_ms);
    sf_put_u32(hdr + 24, (uint32_t)rec->len);
    sf_put_u32(hdr + LOG_CRC_OFFSET,
               sf_crc32_update(sf_crc32_update(0, hdr, LOG_CRC_OFFSET), rec->data, rec->len));
}

int sf_write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return BC_EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void sf_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int sf_write_checkpoint(struct file_sess *fs, uint64_t seq, const void *state, size_t len)
{
    uint8_t buf[CKPT_MAX_BYTES];
    sf_put_u32(buf, CKPT_MAGIC);
    sf_put_u64(buf + 4, seq);
    sf_put_u32(buf + 12, (uint32_t)len);
    if (len)
        memcpy(buf + CKPT_HEADER_BYTES, state, len);
    size_t n = CKPT_HEADER_BYTES + len;
    sf_put_u32(buf + n, sf_crc32_update(0, buf, n));
    n += 4;

    char *tmp = bc_asprintf("%s/checkpoint.tmp", fs->dir);
    char *path = bc_asprintf("%s/checkpoint", fs->dir);
    int rc = BC_EIO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE);
    if (fd < 0 || sf_write_all(fd, buf, n) < 0 || fsync(fd) < 0)
        goto out;
    close(fd);
    fd = -1;
    /* Without a directory fsync a crash may bring back the previous
     * checkpoint: records are then processed twice, never lost. */
    if (rename(tmp, path) == 0)
        rc = 0;
out:
    if (rc < 0)
        bc_error("stream: write %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(tmp);
    free(path);
    return rc;
}

void sf_read_checkpoint(const char *dir, uint64_t *seq, uint8_t *state, size_t *len)
{
    *seq = 0;
    *len = 0;
    char *path = bc_asprintf("%s/checkpoint", dir);
    uint8_t buf[CKPT_MAX_BYTES + 1];
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        size_t slen = n >= CKPT_HEADER_BYTES ? sf_get_u32(buf + 12) : 0;
        if (n < CKPT_HEADER_BYTES + 4 || sf_get_u32(buf) != CKPT_MAGIC || slen > STREAM_STATE_MAX ||
            n != CKPT_HEADER_BYTES + slen + 4 ||
            sf_get_u32(buf + n - 4) != sf_crc32_update(0, buf, n - 4)) {
            bc_warn("stream: %s is damaged; replaying the session from its start", path);
        } else {
            *seq = sf_get_u64(buf + 4);
            *len = slen;
            memcpy(state, buf + CKPT_HEADER_BYTES, slen);
        }
    }
    free(path);
}

int sf_write_base(int fd, uint64_t dropped_audio_bytes)
{
    /* On the heap: C does not allow a record with its data inside another struct. */
    struct stream_record *base = bc_calloc(1, sizeof *base + LOG_BASE_BYTES);
    base->kind = LOG_KIND_BASE;
    base->len = LOG_BASE_BYTES;
    sf_put_u64(base->data, dropped_audio_bytes);
    uint8_t hdr[LOG_HEADER_BYTES];
    sf_encode_header(base, hdr);
    int rc = 0;
    if (sf_write_all(fd, hdr, sizeof hdr) < 0 || sf_write_all(fd, base->data, LOG_BASE_BYTES) < 0)
        rc = BC_EIO;
    free(base);
    return rc;
}

/* Reading a file:// directory back at open: each session's checkpoint, its
 * log (damaged records in the middle set aside as dead letters, a torn or
 * damaged tail cut off), its dead letters and whether it ended, loaded into
 * the memory log. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream/stream_file_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define DEAD_DAMAGED_ERROR "damaged in the log file"
#define DEAD_LINE_MAX 160

struct scan {
    struct stream_record **recs; /* those after the checkpoint */
    size_t n, cap;
    uint64_t checkpoint_seq;
    uint64_t last_seq;
    int64_t last_append_ms;
    uint64_t good_bytes; /* end of the last record kept */
    uint64_t *lost;      /* after the checkpoint, unreadable: dead letters */
    size_t n_lost;
    int skipped; /* damaged bytes inside the log: it is rewritten without them */
    uint64_t audio_bytes; /* stream_audio_bytes of the session */
};

static void scan_free(struct scan *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        free(sc->recs[i]);
    free(sc->recs);
    free(sc->lost);
}

static void scan_keep(struct scan *sc, struct stream_record *rec)
{
    if (rec->seq <= sc->checkpoint_seq) {
        free(rec);
        return;
    }
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? 2 * sc->cap : 64;
        sc->recs = bc_realloc(sc->recs, sc->cap * sizeof(*sc->recs));
    }
    sc->recs[sc->n++] = rec;
}

/* A record lost to damage: an empty audio record holds its place, so the
 * numbering stays without gaps and processing moves past it. */
static void scan_lose(struct scan *sc, uint64_t seq, int64_t append_ms)
{
    if (seq <= sc->checkpoint_seq)
        return; /* processed before the damage mattered */
    sc->lost = bc_realloc(sc->lost, (sc->n_lost + 1) * sizeof(*sc->lost));
    sc->lost[sc->n_lost++] = seq;
    struct stream_record *rec = bc_calloc(1, sizeof(*rec));
    rec->seq = seq;
    rec->kind = STREAM_KIND_AUDIO;
    rec->append_ms = append_ms;
    scan_keep(sc, rec);
}

enum { REC_TORN = 0, REC_OK = 1, REC_DAMAGED = -1 };

/* The record at buf[off]: REC_OK with its size in *total, REC_TORN when it
 * runs past the end, REC_DAMAGED when it is not one whose seq follows after. */
static int record_at(const uint8_t *buf, size_t size, size_t off, uint64_t after, size_t *total)
{
    if (size - off < LOG_HEADER_BYTES)
        return REC_TORN;
    const uint8_t *hdr = buf + off;
    uint64_t seq = sf_get_u64(hdr + 4);
    uint32_t len = sf_get_u32(hdr + 24);
    if (sf_get_u32(hdr) != LOG_MAGIC || len > STREAM_RECORD_MAX_BYTES || seq <= after)
        return REC_DAMAGED;
    if (size - off - LOG_HEADER_BYTES < len)
        return REC_TORN;
    if (sf_crc32_update(sf_crc32_update(0, hdr, LOG_CRC_OFFSET), hdr + LOG_HEADER_BYTES, len) !=
        sf_get_u32(hdr + LOG_CRC_OFFSET))
        return REC_DAMAGED;
    *total = LOG_HEADER_BYTES + len;
    return REC_OK;
}

/* The first intact record after damage at off whose seq is plausible: the
 * records it skips took at least a header each. size when there is none. */
static size_t resync(const uint8_t *buf, size_t size, size_t off, const struct scan *sc)
{
    for (size_t at = off + 1; at + LOG_HEADER_BYTES <= size; at++) {
        size_t total;
        if (sf_get_u32(buf + at) != LOG_MAGIC ||
            record_at(buf, size, at, sc->last_seq, &total) != REC_OK)
            continue;
        uint64_t seq = sf_get_u64(buf + at + 4);
        uint64_t fits = (at - off) / LOG_HEADER_BYTES;
        if (!sc->last_seq || seq - sc->last_seq - 1 <= fits)
            return at;
    }
    return size;
}

/* The base record a compacted log starts with: its size, or 0 if absent. */
static size_t base_at_start(const uint8_t *buf, size_t size, struct scan *sc)
{
    const size_t total = LOG_HEADER_BYTES + LOG_BASE_BYTES;
    if (size < total || sf_get_u32(buf) != LOG_MAGIC || sf_get_u64(buf + 4) != 0 ||
        sf_get_u32(buf + 12) != LOG_KIND_BASE || sf_get_u32(buf + 24) != LOG_BASE_BYTES ||
        sf_crc32_update(sf_crc32_update(0, buf, LOG_CRC_OFFSET), buf + LOG_HEADER_BYTES,
                        LOG_BASE_BYTES) != sf_get_u32(buf + LOG_CRC_OFFSET))
        return 0;
    sc->audio_bytes = sf_get_u64(buf + LOG_HEADER_BYTES);
    return total;
}

static void scan_buffer(const uint8_t *buf, size_t size, struct scan *sc, const char **why)
{
    size_t off = base_at_start(buf, size, sc);
    sc->good_bytes = off;
    while (off < size) {
        size_t total = 0;
        int r = record_at(buf, size, off, sc->last_seq, &total);
        /* No bytes are missing between two intact records, so a seq that
         * jumps ahead does not belong here (a stale block, another log's
         * data): damage, whose skipped bytes then bound the records lost. */
        if (r == REC_OK && sc->last_seq && sf_get_u64(buf + off + 4) != sc->last_seq + 1)
            r = REC_DAMAGED;
        size_t next = off;
        if (r != REC_OK) {
            next = resync(buf, size, off, sc);
            if (next == size) {
                *why = r == REC_TORN ? "torn" : "damaged";
                return; /* the tail: truncated, as a crash mid-append leaves it */
            }
            r = record_at(buf, size, next, sc->last_seq, &total);
            sc->skipped = 1;
            bc_warn("stream: damaged bytes %zu-%zu skipped", off, next);
        }
        const uint8_t *hdr = buf + next;
        uint64_t seq = sf_get_u64(hdr + 4);
        int64_t append_ms = (int64_t)sf_get_u64(hdr + 16);
        uint64_t first_lost = sc->last_seq + 1;
        if (!sc->last_seq) {
            /* Damage at the start: the log began at most this many records earlier. */
            uint64_t fits = (next - off) / LOG_HEADER_BYTES;
            first_lost = seq > fits ? seq - fits : 1;
            if (first_lost <= sc->checkpoint_seq)
                first_lost = sc->checkpoint_seq + 1;
        }
        if (seq > first_lost)
            sc->skipped = 1;
        for (uint64_t lost = first_lost; lost < seq; lost++)
            scan_lose(sc, lost, append_ms);
        uint32_t len = sf_get_u32(hdr + 24);
        struct stream_record *rec = bc_malloc(sizeof(*rec) + len);
        memcpy(rec->data, hdr + LOG_HEADER_BYTES, len);
        rec->seq = seq;
        rec->kind = sf_get_u32(hdr + 12);
        rec->append_ms = append_ms;
        rec->len = len;
        if (rec->kind == STREAM_KIND_AUDIO)
            sc->audio_bytes += len;
        scan_keep(sc, rec);
        sc->last_seq = seq;
        sc->last_append_ms = append_ms;
        off = next + total;
        sc->good_bytes = off;
    }
}

/* Reads a log, skipping damaged records in the middle (sc->lost) and
 * truncating a torn or damaged tail. */
static int scan_log(const char *path, struct scan *sc)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : BC_EIO;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return BC_EIO;
    }
    const char *why = NULL;
    size_t size = (size_t)st.st_size;
    if (size > 0) {
        void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            bc_error("stream: read %s: %s", path, strerror(errno));
            close(fd);
            return BC_EIO;
        }
        scan_buffer(map, size, sc, &why);
        munmap(map, size);
    }
    close(fd);
    if (why && !sc->skipped) {
        bc_warn("stream: %s: %s record at byte %" PRIu64 "; truncating the log there", path, why,
                sc->good_bytes);
        if (truncate(path, (off_t)sc->good_bytes) < 0) {
            bc_error("stream: truncate %s: %s", path, strerror(errno));
            return BC_EIO;
        }
    }
    return 0;
}

/* Whether dir/dead already holds seq (a rewrite interrupted by a crash). */
static int dead_has(const char *path, uint64_t seq)
{
    char want[DEAD_LINE_MAX], line[DEAD_LINE_MAX];
    snprintf(want, sizeof want, "{\"seq\":%" PRIu64 ",", seq);
    FILE *f = fopen(path, "rb");
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
        found = strncmp(line, want, strlen(want)) == 0;
    if (f)
        fclose(f);
    return found;
}

/* Dead-letters the records lost to damage, then replaces the log by the
 * records after the checkpoint (placeholders included), so the damage is
 * reported once and the next open reads a clean log. */
static int set_aside_damage(const char *dir, const char *log, struct scan *sc)
{
    char *dead = bc_asprintf("%s/dead", dir);
    char *tmp = bc_asprintf("%s.tmp", log);
    int rc = BC_EIO, fd = -1;
    /* fopen would create it with the umask's mode. */
    int dead_fd = open(dead, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, FILE_MODE);
    FILE *f = dead_fd >= 0 ? fdopen(dead_fd, "ab") : NULL;
    if (dead_fd >= 0 && !f)
        close(dead_fd);
    for (size_t i = 0; f && i < sc->n_lost; i++) {
        if (!dead_has(dead, sc->lost[i]))
            fprintf(f, "{\"seq\":%" PRIu64 ",\"error\":\"%s\",\"append_ms\":%" PRId64 "}\n",
                    sc->lost[i], DEAD_DAMAGED_ERROR, sc->last_append_ms);
        fflush(f);
    }
    if (!f || ferror(f) || fsync(fileno(f)) < 0)
        goto out;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE);
    if (fd < 0)
        goto out;
    uint64_t dropped_audio = sc->audio_bytes;
    for (size_t i = 0; i < sc->n; i++) {
        if (sc->recs[i]->kind == STREAM_KIND_AUDIO)
            dropped_audio -= sc->recs[i]->len;
    }
    if (sf_write_base(fd, dropped_audio) < 0)
        goto out;
    uint64_t bytes = LOG_HEADER_BYTES + LOG_BASE_BYTES;
    for (size_t i = 0; i < sc->n; i++) {
        uint8_t hdr[LOG_HEADER_BYTES];
        sf_encode_header(sc->recs[i], hdr);
        if (sf_write_all(fd, hdr, sizeof hdr) < 0 ||
            sf_write_all(fd, sc->recs[i]->data, sc->recs[i]->len) < 0)
            goto out;
        bytes += sizeof hdr + sc->recs[i]->len;
    }
    if (fsync(fd) < 0 || rename(tmp, log) < 0)
        goto out;
    sf_fsync_path(dir);
    sc->good_bytes = bytes;
    rc = 0;
    bc_warn("stream: %s: %zu damaged records set aside in the dead-letter log, %zu kept", log,
            sc->n_lost, sc->n);
out:
    if (rc < 0)
        bc_error("stream: cannot set aside the damage in %s: %s", log, strerror(errno));
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    free(dead);
    free(tmp);
    return rc;
}

static size_t count_lines(const char *path)
{
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    return n;
}

static int recover_session(struct file_backend *fb, const char *id)
{
    struct file_sess *fs = sf_sess_new(fb, id);
    struct scan sc = {0};
    uint8_t state[STREAM_STATE_MAX];
    size_t state_len;
    uint64_t ckpt;
    sf_read_checkpoint(fs->dir, &ckpt, state, &state_len);
    sc.checkpoint_seq = ckpt;
    char *log = bc_asprintf("%s/log", fs->dir);
    int rc = scan_log(log, &sc);
    if (rc == 0 && sc.skipped)
        rc = set_aside_damage(fs->dir, log, &sc);
    if (rc < 0)
        goto fail;
    if (sc.n && sc.recs[0]->seq > ckpt + 1) {
        /* Compaction keeps only unprocessed records, so the older ones were done. */
        bc_warn("stream: %s: checkpoint %" PRIu64 " is behind the log; resuming at %" PRIu64,
                fs->dir, ckpt, sc.recs[0]->seq);
        ckpt = sc.recs[0]->seq - 1;
    }
    int64_t last_ms = sc.last_append_ms;
    struct stat st;
    if (!sc.last_seq && stat(fs->dir, &st) == 0)
        last_ms = (int64_t)st.st_mtim.tv_sec * MS_PER_S + st.st_mtim.tv_nsec / NS_PER_MS;
    char *dead = bc_asprintf("%s/dead", fs->dir);
    char *ended = bc_asprintf("%s/ended", fs->dir);
    size_t n_dead = count_lines(dead);
    int is_ended = access(ended, F_OK) == 0;
    free(dead);
    free(ended);
    if ((rc = sf_open_log(fs)) < 0)
        goto fail;
    fs->log_bytes = sc.good_bytes;
    rc = stream_mem_load_session(fb->mem, id, ckpt, state, state_len, sc.last_seq, last_ms, n_dead,
                                 is_ended, sc.audio_bytes, fs);
    if (rc < 0)
        goto fail;
    fs = NULL; /* owned by the memory log now */
    for (size_t i = 0; i < sc.n; i++) {
        if ((rc = stream_mem_load_record(fb->mem, id, sc.recs[i])) < 0)
            goto fail;
        sc.recs[i] = NULL;
    }
    if (sc.n)
        bc_info("stream: session %s: %zu records pending after seq %" PRIu64, id, sc.n, ckpt);
    scan_free(&sc);
    free(log);
    return 0;

fail:
    scan_free(&sc);
    if (fs)
        sf_sess_free(fb, fs);
    bc_error("stream: cannot recover session %s from %s", id, fb->dir);
    free(log);
    return rc < 0 ? rc : BC_EIO;
}

int sf_recover_all(struct file_backend *fb)
{
    DIR *d = opendir(fb->dir);
    if (!d) {
        bc_error("stream: opendir %s: %s", fb->dir, strerror(errno));
        return BC_EIO;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!stream_id_valid(e->d_name))
            continue; /* ".", "..", the lock file, foreign names */
        char *path = bc_asprintf("%s/%s", fb->dir, e->d_name);
        struct stat st;
        int is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        free(path);
        if (is_dir)
            rc = recover_session(fb, e->d_name);
    }
    closedir(d);
    return rc;
}

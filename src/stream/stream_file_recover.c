/* Reading a file:// directory back at open: each session's checkpoint, its
 * log up to the first torn or damaged record, its dead letters and whether
 * it ended, loaded into the memory log. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream/stream_file_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

struct scan {
    struct stream_record **recs; /* those after the checkpoint */
    size_t n, cap;
    uint64_t last_seq;
    int64_t last_append_ms;
    uint64_t good_bytes;
    uint64_t audio_bytes; /* stream_audio_bytes of the session */
};

static void scan_free(struct scan *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        free(sc->recs[i]);
    free(sc->recs);
}

/* Reads a log up to its first torn or damaged record and truncates it there. */
static int scan_log(const char *path, uint64_t checkpoint_seq, struct scan *sc)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 0 : BC_EIO;
    struct stat st;
    if (fstat(fileno(f), &st) < 0) {
        fclose(f);
        return BC_EIO;
    }
    const char *why = NULL;
    for (;;) {
        uint8_t hdr[LOG_HEADER_BYTES];
        size_t got = fread(hdr, 1, sizeof(hdr), f);
        if (got == 0)
            break;
        uint64_t seq = sf_get_u64(hdr + 4);
        uint32_t len = sf_get_u32(hdr + 24);
        if (got < sizeof(hdr) || sc->good_bytes + sizeof(hdr) + len > (uint64_t)st.st_size) {
            why = "torn";
            break;
        }
        int is_base = sc->good_bytes == 0 && seq == 0 && sf_get_u32(hdr + 12) == LOG_KIND_BASE &&
                      len == LOG_BASE_BYTES;
        if (sf_get_u32(hdr) != LOG_MAGIC || len > STREAM_RECORD_MAX_BYTES ||
            (seq == 0 && !is_base) || (sc->last_seq && seq != sc->last_seq + 1)) {
            why = "damaged";
            break;
        }
        struct stream_record *rec = bc_malloc(sizeof(*rec) + len);
        if (fread(rec->data, 1, len, f) != len) {
            free(rec);
            why = "torn";
            break;
        }
        if (sf_crc32_update(sf_crc32_update(0, hdr, LOG_CRC_OFFSET), rec->data, len) !=
            sf_get_u32(hdr + LOG_CRC_OFFSET)) {
            free(rec);
            why = "damaged";
            break;
        }
        rec->seq = seq;
        rec->kind = sf_get_u32(hdr + 12);
        rec->append_ms = (int64_t)sf_get_u64(hdr + 16);
        rec->len = len;
        sc->good_bytes += sizeof(hdr) + len;
        if (is_base) {
            sc->audio_bytes = sf_get_u64(rec->data);
            free(rec);
            continue;
        }
        if (rec->kind == STREAM_KIND_AUDIO)
            sc->audio_bytes += len;
        sc->last_seq = seq;
        sc->last_append_ms = rec->append_ms;
        if (seq <= checkpoint_seq) {
            free(rec);
            continue;
        }
        if (sc->n == sc->cap) {
            sc->cap = sc->cap ? 2 * sc->cap : 64;
            sc->recs = bc_realloc(sc->recs, sc->cap * sizeof(*sc->recs));
        }
        sc->recs[sc->n++] = rec;
    }
    int io_error = ferror(f);
    fclose(f);
    if (io_error) {
        bc_error("stream: read %s failed", path);
        return BC_EIO;
    }
    if (why) {
        bc_warn("stream: %s: %s record at byte %" PRIu64 "; truncating the log there", path, why,
                sc->good_bytes);
        if (truncate(path, (off_t)sc->good_bytes) < 0) {
            bc_error("stream: truncate %s: %s", path, strerror(errno));
            return BC_EIO;
        }
    }
    return 0;
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
    char *log = bc_asprintf("%s/log", fs->dir);
    int rc = scan_log(log, ckpt, &sc);
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

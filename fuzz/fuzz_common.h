/* What the fuzz targets share: quiet logs, NUL-terminated copies of the
 * input, and a scratch directory for the parsers that read files. Each
 * target is one process, so these keep their state in statics. */
#ifndef BC_FUZZ_COMMON_H
#define BC_FUZZ_COMMON_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/log.h"

/* The input as a C string (caller frees); an embedded NUL ends it early,
 * as it would for the C string APIs being fuzzed. */
static inline char *fuzz_cstr(const uint8_t *data, size_t len)
{
    char *s = bc_malloc(len + 1);
    memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

/* Reads every byte of what a parser returned, so ASan checks its extent. */
volatile uint8_t fuzz_sink;

static inline void fuzz_touch(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= b[i];
    fuzz_sink = x;
}

/* Logging would drown the fuzzer's own output; it is not under test. */
static inline void fuzz_quiet(void)
{
    if (!getenv("BC_FUZZ_LOG"))
        bc_log_set_level(BC_LOG_QUIET);
}

/* Removes path and, for a directory, everything below it (links are
 * removed, not followed). */
static inline void fuzz_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *child = bc_asprintf("%s/%s", path, e->d_name);
            fuzz_rm_tree(child);
            free(child);
        }
        if (d)
            closedir(d);
    }
    remove(path);
}

/* A new empty directory under $TMPDIR (or /dev/shm, or /tmp), removed at exit; the
 * path is static. Aborts when none can be made: nothing can be fuzzed. */
static char fuzz_scratch[4096];

static void fuzz_scratch_remove(void)
{
    if (fuzz_scratch[0])
        fuzz_rm_tree(fuzz_scratch);
}

static inline const char *fuzz_scratch_dir(void)
{
    if (fuzz_scratch[0])
        return fuzz_scratch;
    /* Memory-backed when possible: the file parsers create, fsync and
     * delete files on every input, which a disk turns into waits. */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_scratch, sizeof fuzz_scratch, "%s/bcfuzz.XXXXXX", tmp);
    if (!mkdtemp(fuzz_scratch)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_scratch_remove);
    return fuzz_scratch;
}

/* Writes len bytes to path (created or truncated); aborts on failure. */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

#endif

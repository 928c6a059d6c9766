#define _XOPEN_SOURCE 700 /* nftw */
#include "archive/retention.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session/session.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define MS_PER_DAY (24LL * 3600 * 1000)
#define RETENTION_FTW_FDS 8

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = type == FTW_DP ? rmdir(path) : unlink(path);
    if (rc < 0 && errno != ENOENT)
        bc_warn("retention: cannot remove %s: %s", path, strerror(errno));
    return 0; /* go on with the rest */
}

/* Whether the audio of session id may go: ended before cutoff_ms, or
 * unknown to the registry. */
static int expired(struct session_registry *reg, const char *id, int64_t cutoff_ms)
{
    struct session_info info;
    int rc = session_get(reg, id, &info);
    if (rc == BC_ENOTFOUND)
        return 1;
    return rc == 0 && info.state == SESSION_ENDED && info.ended_ms < cutoff_ms;
}

static int sweep_archive(struct session_registry *reg, const char *archive_dir, int64_t cutoff_ms)
{
    DIR *dir = opendir(archive_dir);
    if (!dir)
        return errno == ENOENT ? 0 : BC_EIO;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        /* Only what looks like a session's directory: never "..". */
        if (strlen(e->d_name) != SESSION_ID_LEN || strspn(e->d_name,
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != SESSION_ID_LEN)
            continue;
        if (!expired(reg, e->d_name, cutoff_ms))
            continue;
        char *path = bc_asprintf("%s/%s", archive_dir, e->d_name);
        nftw(path, remove_entry, RETENTION_FTW_FDS, FTW_DEPTH | FTW_PHYS);
        free(path);
        removed++;
    }
    closedir(dir);
    return removed;
}

int retention_sweep(struct session_registry *reg, const char *archive_dir, int retention_days,
                    int64_t now_ms)
{
    if (retention_days <= 0)
        return 0;
    int64_t cutoff_ms = now_ms - (int64_t)retention_days * MS_PER_DAY;
    int purged = session_purge_ended(reg, cutoff_ms);
    if (purged < 0)
        bc_warn("retention: transcripts not purged: %s", bc_strerror(purged));
    int removed = archive_dir ? sweep_archive(reg, archive_dir, cutoff_ms) : 0;
    if (removed < 0)
        bc_warn("retention: cannot read the archive %s", archive_dir);
    if (purged > 0 || removed > 0)
        bc_info("retention: deleted %d transcript(s) and the audio of %d session(s) ended over "
                "%d day(s) ago", purged > 0 ? purged : 0, removed > 0 ? removed : 0,
                retention_days);
    if (purged < 0)
        return purged;
    return removed < 0 ? removed : (purged > removed ? purged : removed);
}

#include "archive/archive.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive_backend.h"
#include "archive/spool.h"
#include "archive/transcript.h"
#include "audio/audio.h"
#include "session/session.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define FILE_SCHEME "file://"
#define S3_SCHEME "s3://"
#define DEFAULT_SUBDIR "audio"
#define ARCHIVE_LANGS_MAX (2 * SESSION_TARGETS_MAX + 2)
#define ARCHIVE_FILE_MODE 0600 /* the archive is private */

static const enum transcript_format transcript_formats[] = {TRANSCRIPT_VTT, TRANSCRIPT_SRT,
                                                            TRANSCRIPT_TXT, TRANSCRIPT_JSON};

struct archive {
    const struct archive_ops *ops;
    void *impl;
};

struct archive_speech {
    struct archive *archive;
    char *key;
    char *path;
    struct wav_writer *wav;
};

int archive_open(const char *url, const char *data_dir, struct archive **out)
{
    if (!out || !data_dir)
        return BC_EINVAL;
    *out = NULL;
    const struct archive_ops *ops = NULL;
    void *impl = NULL;
    int rc;
    if (!url || !*url) {
        char *dir = bc_asprintf("%s/%s", data_dir, DEFAULT_SUBDIR);
        rc = archive_file_backend_open(dir, &ops, &impl);
        free(dir);
    } else if (strncmp(url, FILE_SCHEME, strlen(FILE_SCHEME)) == 0 &&
               url[strlen(FILE_SCHEME)] != '\0') {
        rc = archive_file_backend_open(url + strlen(FILE_SCHEME), &ops, &impl);
    } else if (strncmp(url, S3_SCHEME, strlen(S3_SCHEME)) == 0) {
        rc = archive_s3_backend_open(url, data_dir, &ops, &impl);
    } else {
        bc_error("archive: unsupported url '%s' (want file://DIR or "
                 "s3://BUCKET/PREFIX?region=R)",
                 url);
        return BC_EINVAL;
    }
    if (rc < 0)
        return rc;
    struct archive *a = bc_calloc(1, sizeof *a);
    a->ops = ops;
    a->impl = impl;
    *out = a;
    return 0;
}

void archive_close(struct archive *a)
{
    if (!a)
        return;
    a->ops->close(a->impl);
    free(a);
}

const char *archive_local_dir(const struct archive *a)
{
    return a && a->ops->local_dir ? a->ops->local_dir(a->impl) : NULL;
}

size_t archive_pending(struct archive *a)
{
    return a && a->ops->pending ? a->ops->pending(a->impl) : 0;
}

int archive_wait(struct archive *a, int timeout_ms)
{
    return a && a->ops->wait ? a->ops->wait(a->impl, timeout_ms) : 0;
}

int archive_speech_open(struct archive *a, const char *session, const char *lang, int utterance,
                        int sample_rate_hz, struct archive_speech **out)
{
    *out = NULL;
    char *key = bc_asprintf("%s/%s/%06d.wav", session, lang, utterance);
    if (!spool_key_valid(key) || utterance < 0) {
        free(key);
        return BC_EINVAL;
    }
    char *path = a->ops->begin(a->impl, key);
    struct wav_writer *wav = NULL;
    if (!path || wav_writer_open(path, sample_rate_hz, &wav) < 0) {
        bc_warn("archive: cannot write the speech %s", key);
        free(path);
        free(key);
        return BC_EIO;
    }
    struct archive_speech *w = bc_calloc(1, sizeof *w);
    *w = (struct archive_speech){a, key, path, wav};
    *out = w;
    return 0;
}

void archive_speech_append(struct archive_speech *w, const int16_t *pcm, size_t n)
{
    if (w)
        wav_writer_append(w->wav, pcm, n);
}

void archive_speech_close(struct archive_speech *w)
{
    if (!w)
        return;
    wav_writer_close(w->wav);
    w->archive->ops->commit(w->archive->impl, w->key, w->path);
    free(w->path);
    free(w->key);
    free(w);
}

/* Writes text as the object key. */
static int put_text(struct archive *a, const char *key, const char *text, size_t len)
{
    char *path = a->ops->begin(a->impl, key);
    if (!path)
        return BC_EIO;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, ARCHIVE_FILE_MODE);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "wb");
    if (!f && fd >= 0)
        close(fd);
    bool ok = f && fwrite(text, 1, len, f) == len;
    ok = f && fclose(f) == 0 && ok;
    int rc = ok ? a->ops->commit(a->impl, key, path) : BC_EIO;
    if (!ok) {
        bc_warn("archive: cannot write %s", path);
        unlink(path);
    }
    free(path);
    return rc;
}

static int put_transcript(struct archive *a, const char *session, const struct transcript *t,
                          const char *lang)
{
    for (size_t i = 0; i < sizeof transcript_formats / sizeof transcript_formats[0]; i++) {
        char *key = bc_asprintf("%s/transcript.%s.%s", session, lang,
                                transcript_format_ext(transcript_formats[i]));
        int rc = spool_key_valid(key) ? 0 : BC_EINVAL;
        if (rc == 0) {
            char *text;
            size_t len;
            transcript_render(t, transcript_formats[i], &text, &len);
            rc = put_text(a, key, text, len);
            free(text);
        }
        free(key);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void add_lang(char (*list)[SESSION_LANG_LEN], size_t *n, const char *lang)
{
    if (!lang || !*lang || strlen(lang) >= SESSION_LANG_LEN || *n == ARCHIVE_LANGS_MAX)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], lang) == 0)
            return;
    snprintf(list[(*n)++], SESSION_LANG_LEN, "%s", lang);
}

int archive_transcripts(struct archive *a, struct session_registry *reg, const char *session,
                        const char *const *langs, size_t n_langs)
{
    struct session_info info;
    int rc = session_get(reg, session, &info);
    if (rc < 0)
        return rc;
    if (info.transcript_deleted)
        return 0;
    char list[ARCHIVE_LANGS_MAX][SESSION_LANG_LEN];
    size_t n = session_languages(reg, &info, list, ARCHIVE_LANGS_MAX / 2);
    add_lang(list, &n, info.source);
    for (size_t i = 0; i < n_langs; i++)
        add_lang(list, &n, langs[i]);
    int archived = 0;
    for (size_t i = 0; i < n; i++) {
        struct transcript *t;
        if ((rc = session_transcript(reg, session, list[i], &t)) == BC_EIO)
            return rc;
        if (rc < 0)
            continue; /* no such language here */
        if (transcript_count(t) > 0) {
            rc = put_transcript(a, session, t, list[i]);
            archived++;
        }
        transcript_free(t);
        if (rc < 0)
            return rc;
    }
    return archived;
}

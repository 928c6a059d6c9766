/* The archive's file:// backend and its naming: speech as
 * SESSION/LANG/NNNNNN.wav, transcripts at session end as
 * SESSION/transcript.LANG.FMT, bad names and URLs refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "session/session.h"
#include "test.h"
#include "util/err.h"
#include "util/log.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        TEST_FAIL_("cannot open %s", path);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int main(void)
{
    bc_log_set_level(BC_LOG_QUIET);
    char dir[] = "/tmp/bc_archive_XXXXXX";
    ASSERT(mkdtemp(dir));

    struct archive *a;
    ASSERT_EQ(archive_open("ftp://x", dir, &a), BC_EINVAL);
    ASSERT_EQ(archive_open("s3://Bad_Bucket?region=us-east-1", dir, &a), BC_EINVAL);
    ASSERT_EQ(archive_open("s3://bucket?region=us-east-1&endpoint=ftp://h", dir, &a), BC_EINVAL);
    ASSERT_OK(archive_open(NULL, dir, &a)); /* the default: DATA/audio */
    char expected[128];
    snprintf(expected, sizeof expected, "%s/audio", dir);
    ASSERT_STR_EQ(archive_local_dir(a), expected);
    ASSERT_EQ(archive_pending(a), 0);
    ASSERT_OK(archive_wait(a, 0));

    struct archive_speech *w;
    const int16_t pcm[4] = {1, -1, 2, -2};
    ASSERT_OK(archive_speech_open(a, "abc123", "es", 12, 22050, &w));
    archive_speech_append(w, pcm, 4);
    char path[256];
    snprintf(path, sizeof path, "%s/audio/abc123/es/000012.wav", dir);
    ASSERT(access(path, F_OK) != 0); /* not before it is complete */
    archive_speech_close(w);
    struct stat st;
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(st.st_size, 44 + sizeof pcm);
    ASSERT_EQ(archive_speech_open(a, "../x", "es", 1, 22050, &w), BC_EINVAL);
    ASSERT_EQ(archive_speech_open(a, "abc123", "e s", 1, 22050, &w), BC_EINVAL);
    ASSERT(w == NULL);

    /* Transcripts of an ended session, from the registry's captions. */
    char db[128];
    snprintf(db, sizeof db, "%s/sessions.db", dir);
    struct session_registry *reg;
    ASSERT_OK(session_registry_open_url(db, NULL, &reg));
    const char *targets[] = {"es", "ca"};
    struct session_info info;
    char token[SESSION_TOKEN_LEN + 1];
    ASSERT_OK(session_create(reg, "en", targets, 2, &info, token));
    ASSERT_OK(session_add_caption(reg, info.id, "en", 0, 0, 900, "go forward", "go forward"));
    ASSERT_OK(session_add_caption(reg, info.id, "es", 0, 0, 900, "ve adelante", "go forward"));
    ASSERT_OK(session_add_caption(reg, info.id, "eo", 0, 0, 900, "iru antaŭen", "go forward"));
    const char *produced[] = {"eo"};
    /* es and en from the registry, eo as produced; ca has no captions. */
    ASSERT_EQ(archive_transcripts(a, reg, info.id, produced, 1), 3);
    const char *formats[] = {"vtt", "srt", "txt", "json"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/audio/%s/transcript.es.%s", dir, info.id, formats[i]);
        char *text = slurp(path);
        ASSERT_STR_CONTAINS(text, "ve adelante");
        free(text);
    }
    snprintf(path, sizeof path, "%s/audio/%s/transcript.eo.txt", dir, info.id);
    char *text = slurp(path);
    ASSERT_STR_EQ(text, "iru antaŭen\n");
    free(text);
    snprintf(path, sizeof path, "%s/audio/%s/transcript.ca.vtt", dir, info.id);
    ASSERT(access(path, F_OK) != 0);
    ASSERT_EQ(archive_transcripts(a, reg, "nosuchsession", NULL, 0), BC_ENOTFOUND);
    session_registry_close(reg);
    archive_close(a);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
    printf("archive: all passed\n");
    return 0;
}

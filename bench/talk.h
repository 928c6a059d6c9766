/* The librivox talk of the benchmarks and server tests: the five clips of
 * pocketsphinx-testdata joined with a second of silence between them and a
 * second after the last (as tests/server/harness.py make_talk), and its
 * reference text from the clips' `transcription` file. Header-only. */
#ifndef BC_BENCH_TALK_H
#define BC_BENCH_TALK_H

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "test_paths.h"
#include "util/alloc.h"

#define TALK_CLIPS 5
#define TALK_GAP_MS 1000
#define TALK_TAIL_MS 1000
#define TALK_LINE_MAX 1024
#define TALK_TEXT_MAX 8192

static const char *const talk_clips[TALK_CLIPS] = {"0870", "0880", "0890", "0920", "0930"};

/* The talk's samples at AUDIO_SPEECH_RATE_HZ into *pcm (caller frees) and
 * *n. Returns 0, or -1 with the reason in err. */
static int talk_load(int16_t **pcm, size_t *n, char *err, size_t err_len)
{
    size_t gap = (size_t)TALK_GAP_MS * AUDIO_SPEECH_RATE_HZ / 1000;
    size_t tail = (size_t)TALK_TAIL_MS * AUDIO_SPEECH_RATE_HZ / 1000;
    *pcm = NULL;
    *n = 0;
    for (int i = 0; i < TALK_CLIPS; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/sense_and_sensibility_01_austen_64kb-%s.wav",
                 TEST_LIBRIVOX_DIR, talk_clips[i]);
        struct audio_pcm clip;
        if (audio_load(path, AUDIO_SPEECH_RATE_HZ, &clip, err, err_len)) {
            free(*pcm);
            *pcm = NULL;
            return -1;
        }
        size_t after = i + 1 < TALK_CLIPS ? gap : tail;
        *pcm = bc_realloc(*pcm, (*n + clip.n_samples + after) * sizeof **pcm);
        memcpy(*pcm + *n, clip.samples, clip.n_samples * sizeof **pcm);
        memset(*pcm + *n + clip.n_samples, 0, after * sizeof **pcm);
        *n += clip.n_samples + after;
        audio_pcm_release(&clip);
    }
    return 0;
}

/* Lower-case words and single spaces: how hypotheses and references are
 * compared. In place. */
static void talk_normalize(char *text)
{
    char *out = text;
    int space = 1;
    for (const char *p = text; *p; p++) {
        if (isalnum((unsigned char)*p) || *p == '\'') {
            *out++ = (char)tolower((unsigned char)*p);
            space = 0;
        } else if (!space) {
            *out++ = ' ';
            space = 1;
        }
    }
    if (out > text && out[-1] == ' ')
        out--;
    *out = '\0';
}

/* The reference words of the talk, in clip order (heap; caller frees), or
 * NULL when the transcription file cannot be read. */
static char *talk_reference(void)
{
    FILE *f = fopen(TEST_LIBRIVOX_DIR "/transcription", "r");
    if (!f)
        return NULL;
    char *text = bc_calloc(1, TALK_TEXT_MAX);
    char line[TALK_LINE_MAX];
    while (fgets(line, sizeof line, f)) {
        /* "<s> words </s> (file-id)" */
        char *start = strstr(line, "<s>"), *end = strstr(line, "</s>");
        if (!start || !end || end < start)
            continue;
        *end = '\0';
        strncat(text, start + strlen("<s>"), TALK_TEXT_MAX - strlen(text) - 2);
        strncat(text, " ", TALK_TEXT_MAX - strlen(text) - 1);
    }
    fclose(f);
    talk_normalize(text);
    return text;
}

#endif

/* A pronunciation dictionary trimmed to the language model's vocabulary:
 * the decoder only ever hypothesizes words both know, and the full
 * dictionary's other entries cost about 14 MB per loaded decoder. */
/* memfd_create is a GNU extension. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sphinxbase/hash_table.h>
#include <sphinxbase/logmath.h>
#include <sphinxbase/ngram_model.h>

#include "engine/asr_recognizer.h"
#include "util/err.h"
#include "util/log.h"

/* Only used to read the model; the decoder makes its own. */
#define LOGMATH_BASE 1.0001
/* Longer headwords are not words of the model. */
#define DICT_WORD_MAX 256

/* "word(2)" is an alternate pronunciation of "word". */
static size_t headword_length(const char *line)
{
    size_t n = strcspn(line, " \t\n");
    const char *paren = memchr(line, '(', n);
    return paren && paren > line ? (size_t)(paren - line) : n;
}

static int write_known_words(FILE *in, FILE *out, hash_table_t *vocabulary, long *kept)
{
    char *line = NULL;
    size_t cap = 0;
    *kept = 0;
    int32 unused;
    char word[DICT_WORD_MAX];
    while (getline(&line, &cap, in) >= 0) {
        size_t n = headword_length(line);
        if (n == 0 || n >= sizeof word)
            continue;
        memcpy(word, line, n);
        word[n] = '\0';
        if (hash_table_lookup_int32(vocabulary, word, &unused) < 0)
            continue;
        if (fputs(line, out) == EOF) {
            free(line);
            return BC_EIO;
        }
        (*kept)++;
    }
    free(line);
    return ferror(in) ? BC_EIO : 0;
}

static int trim(const char *lm_path, const char *dict_path, int fd)
{
    int rc = BC_EENGINE;
    logmath_t *lmath = logmath_init(LOGMATH_BASE, 0, 0);
    ngram_model_t *lm = lmath ? ngram_model_read(NULL, lm_path, NGRAM_AUTO, lmath) : NULL;
    FILE *in = fopen(dict_path, "r");
    int out_fd = dup(fd);
    FILE *out = out_fd >= 0 ? fdopen(out_fd, "w") : NULL;
    if (!out && out_fd >= 0)
        close(out_fd);
    if (!lm || !in || !out) {
        bc_error("cannot trim the dictionary %s to the language model %s", dict_path, lm_path);
        goto done;
    }
    int32 words = (int32)ngram_model_get_counts(lm)[0];
    hash_table_t *vocabulary = hash_table_new(words, HASH_CASE_YES);
    for (int32 wid = 0; wid < words; wid++)
        hash_table_enter_int32(vocabulary, ngram_word(lm, wid), wid); /* keys live in lm */
    long kept;
    rc = write_known_words(in, out, vocabulary, &kept);
    hash_table_free(vocabulary);
    if (rc == 0)
        bc_debug("dictionary trimmed to %ld entries for %d words of the language model", kept,
                 (int)words);
done:
    if (out && fclose(out) != 0 && rc == 0)
        rc = BC_EIO;
    if (in)
        fclose(in);
    ngram_model_free(lm);
    logmath_free(lmath);
    return rc;
}

int asr_dict_prepare(const struct asr_params *params, struct asr_dict *dict,
                     struct asr_params *load)
{
    *load = *params;
    dict->fd = -1;
    if (!params->trim_dictionary)
        return 0;
    asr_library_quiet();
    dict->fd = memfd_create("babelcast-dictionary", MFD_CLOEXEC);
    if (dict->fd < 0) {
        bc_error("no memory file for the trimmed dictionary: %s", strerror(errno));
        return BC_EIO;
    }
    int rc = trim(params->lm_path, params->dict_path, dict->fd);
    if (rc < 0) {
        asr_dict_release(dict);
        return rc;
    }
    snprintf(dict->path, sizeof dict->path, "/proc/self/fd/%d", dict->fd);
    load->dict_path = dict->path;
    return 0;
}

int asr_dict_lookup(const char *dict_path, const char *word, char *phones, size_t len)
{
    FILE *in = fopen(dict_path, "r");
    if (!in)
        return BC_EIO;
    char *line = NULL;
    size_t cap = 0, wlen = strlen(word);
    int rc = BC_ENOTFOUND;
    while (rc == BC_ENOTFOUND && getline(&line, &cap, in) >= 0) {
        if (headword_length(line) != wlen || memcmp(line, word, wlen) != 0)
            continue;
        const char *p = line + strcspn(line, " \t\n");
        p += strspn(p, " \t");
        size_t n = strcspn(p, "\n");
        if (n == 0 || n >= len)
            rc = BC_EFORMAT;
        else {
            memcpy(phones, p, n);
            phones[n] = '\0';
            rc = 0;
        }
    }
    free(line);
    fclose(in);
    return rc;
}

void asr_dict_release(struct asr_dict *dict)
{
    if (dict->fd >= 0)
        close(dict->fd);
    dict->fd = -1;
}

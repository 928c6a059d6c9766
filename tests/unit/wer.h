/* Word error rate between a reference and a hypothesis (space-separated
 * lower-case words), for recognition tests and benchmarks. */
#ifndef BC_TEST_WER_H
#define BC_TEST_WER_H

#include <stdlib.h>
#include <string.h>

#define WER_MAX_WORDS 512

static size_t wer_split(char *text, char **words)
{
    size_t n = 0;
    for (char *tok = strtok(text, " \t\n"); tok && n < WER_MAX_WORDS; tok = strtok(NULL, " \t\n"))
        words[n++] = tok;
    return n;
}

/* Word-level edit distance; *ref_words receives the reference length. */
static size_t wer_errors(const char *reference, const char *hypothesis, size_t *ref_words)
{
    char *ref_copy = strdup(reference), *hyp_copy = strdup(hypothesis);
    char *ref[WER_MAX_WORDS], *hyp[WER_MAX_WORDS];
    size_t nr = wer_split(ref_copy, ref), nh = wer_split(hyp_copy, hyp);
    size_t *prev = calloc(nh + 1, sizeof *prev), *cur = calloc(nh + 1, sizeof *cur);
    for (size_t j = 0; j <= nh; j++)
        prev[j] = j;
    for (size_t i = 1; i <= nr; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= nh; j++) {
            size_t sub = prev[j - 1] + (strcmp(ref[i - 1], hyp[j - 1]) != 0);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        size_t *tmp = prev;
        prev = cur;
        cur = tmp;
    }
    size_t errors = prev[nh];
    free(prev);
    free(cur);
    free(ref_copy);
    free(hyp_copy);
    *ref_words = nr;
    return errors;
}

#endif

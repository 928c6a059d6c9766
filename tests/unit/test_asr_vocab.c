/* Preferred terms (asr_stream_set_vocabulary) on real speech: the librivox
 * talk is recognized with "prudently" only when it is a term, the talk's
 * word error rate does not get worse with terms, a term spelled with
 * sounds_like is recognized by that sound, and a decoder that was given
 * terms is not handed to the next stream. */
#include "audio/audio.h"
#include "engine/asr.h"
#include "test.h"
#include "util/alloc.h"
#include "util/err.h"
#include "wer.h"

#define CHUNK_SAMPLES 1600 /* 100 ms, as a live speaker sends */
#define CLIPS 5
#define TEXT_MAX 4096

static void on_partial(void *user, const struct asr_hyp *hyp)
{
    (void)user;
    (void)hyp;
}

static void on_final(void *user, const struct asr_hyp *hyp)
{
    char *text = user;
    if (!hyp->text[0])
        return;
    if (text[0])
        strncat(text, " ", TEXT_MAX - strlen(text) - 1);
    strncat(text, hyp->text, TEXT_MAX - strlen(text) - 1);
}

/* Recognizes pcm in one stream given terms (n may be 0); returns the
 * number of terms the stream took. */
static int recognize(struct asr_model *model, const int16_t *pcm, size_t n,
                     const struct asr_term *terms, size_t n_terms, char text[TEXT_MAX])
{
    text[0] = '\0';
    struct asr_callbacks cb = {on_partial, on_final, text};
    struct asr_stream *s;
    ASSERT_OK(asr_stream_new(model, &cb, &s));
    int taken = n_terms ? asr_stream_set_vocabulary(s, terms, n_terms) : 0;
    for (size_t off = 0; off < n; off += CHUNK_SAMPLES)
        ASSERT_OK(asr_stream_feed(s, pcm + off, n - off < CHUNK_SAMPLES ? n - off : CHUNK_SAMPLES));
    ASSERT_OK(asr_stream_flush(s));
    asr_stream_free(s);
    return taken;
}

static void clip_path(int i, char *path, size_t len, char *fileid, size_t id_len)
{
    static const char *const clips[CLIPS] = {"0870", "0880", "0890", "0920", "0930"};
    snprintf(fileid, id_len, "sense_and_sensibility_01_austen_64kb-%s", clips[i]);
    snprintf(path, len, "%s/%s.wav", TEST_LIBRIVOX_DIR, fileid);
}

static void reference_of(const char *fileid, char *out, size_t len)
{
    FILE *f = fopen(TEST_LIBRIVOX_DIR "/transcription", "r");
    ASSERT(f);
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        char *start = strstr(line, "<s>"), *end = strstr(line, "</s>");
        if (!strstr(line, fileid) || !start || !end)
            continue;
        *end = '\0';
        strncat(out, start + 3, len - strlen(out) - 1);
    }
    fclose(f);
}

/* The five clips joined by a second of silence, and their reference. */
static int16_t *load_talk(size_t *n, char *reference, size_t ref_len)
{
    int16_t *talk = NULL;
    *n = 0;
    reference[0] = '\0';
    for (int i = 0; i < CLIPS; i++) {
        char path[512], fileid[128], err[256];
        clip_path(i, path, sizeof path, fileid, sizeof fileid);
        reference_of(fileid, reference, ref_len);
        struct audio_pcm pcm;
        if (audio_load(path, ASR_RATE_HZ, &pcm, err, sizeof err) != 0)
            TEST_FAIL_("%s: %s", path, err);
        talk = bc_realloc(talk, (*n + pcm.n_samples + ASR_RATE_HZ) * sizeof *talk);
        memcpy(talk + *n, pcm.samples, pcm.n_samples * sizeof *talk);
        memset(talk + *n + pcm.n_samples, 0, ASR_RATE_HZ * sizeof *talk);
        *n += pcm.n_samples + ASR_RATE_HZ;
        audio_pcm_release(&pcm);
    }
    return talk;
}

int main(void)
{
    struct asr_params params;
    asr_default_params(&params);
    struct asr_model *model;
    ASSERT_OK(asr_model_new(&params, &model));
    size_t n;
    char reference[TEXT_MAX], plain[TEXT_MAX], with[TEXT_MAX], after[TEXT_MAX];
    int16_t *talk = load_talk(&n, reference, sizeof reference);

    recognize(model, talk, n, NULL, 0, plain);
    static const struct asr_term terms[] = {
        {"prudently", NULL},
        {"Dashwood", ""},
        {"holy spirit", NULL},                      /* not said: must not appear */
        {"Kubernetes", "coo burr net ease"},        /* not said either */
        {"zzqxv", NULL},                            /* no pronunciation: skipped */
    };
    int taken = recognize(model, talk, n, terms, sizeof terms / sizeof terms[0], with);
    recognize(model, talk, n, NULL, 0, after);
    size_t words, errors_plain = wer_errors(reference, plain, &words);
    size_t errors_with = wer_errors(reference, with, &words);
    printf("ref:   %s\nplain: %s (%zu errors in %zu words)\nterms: %s (%zu errors)\n", reference,
           plain, errors_plain, words, with, errors_with);
    ASSERT_EQ(taken, 4);
    ASSERT(!strstr(plain, "prudently"));
    ASSERT_STR_CONTAINS(with, "there might be prudently in his power");
    ASSERT(!strstr(with, "holy spirit") && !strstr(with, "kubernetes"));
    ASSERT(!strstr(with, "_G"));
    ASSERT_LE(errors_with, errors_plain);
    /* The next stream gets a fresh decoder: no term of the last one. */
    ASSERT_STR_EQ(after, plain);

    /* A made-up spelling, known only by how it sounds. */
    static const struct asr_term made_up[] = {{"purdentlee", "prudent lee"}};
    char sounded[TEXT_MAX];
    ASSERT_EQ(recognize(model, talk, n, made_up, 1, sounded), 1);
    printf("sounds_like: %s\n", sounded);
    ASSERT_STR_CONTAINS(sounded, "might be purdentlee in his power");

    /* A word the language model lacks, and so the trimmed dictionary the
     * decoder loads, is spelled from the full dictionary. */
    static const struct asr_term unknown_to_lm[] = {{"Piaget", NULL}, {"wikis", "wiki's"}};
    char nothing[TEXT_MAX];
    ASSERT_EQ(recognize(model, talk, 0, unknown_to_lm, 2, nothing), 2);

    free(talk);
    asr_model_free(model);
    printf("asr_vocab: all passed\n");
    return 0;
}

/* Recognition of real human speech from Debian's pocketsphinx-testdata. */

#include "audio/audio.h"
#include "engine/asr.h"
#include "test.h"
#include "util/alloc.h"
#include "util/err.h"
#include "wer.h"

#define CHUNK_SAMPLES 1600 /* 100 ms, as a live speaker sends */
#define LIBRIVOX_CLIPS 5
/* Streaming with the fast single-pass search measured 22 errors in 71 words
 * (31.0%); the bound leaves three words of margin (1 word = 1.4 points). */
#define LIBRIVOX_MAX_WER_PERCENT 35.0

struct collected {
    char text[4096];
    int finals, partials, forced;
    int64_t first_start, last_end, max_length;
    int64_t final_starts[64], final_ends[64];
};

static void on_partial(void *user, const struct asr_hyp *hyp)
{
    struct collected *c = user;
    ASSERT(hyp->text[0] != '\0');
    ASSERT_EQ(hyp->utterance, c->finals);
    c->partials++;
}

static void on_final(void *user, const struct asr_hyp *hyp)
{
    struct collected *c = user;
    ASSERT_EQ(hyp->utterance, c->finals);
    ASSERT_LE(hyp->start_sample, hyp->end_sample);
    if (c->finals == 0)
        c->first_start = hyp->start_sample;
    if (c->finals < 64) {
        c->final_starts[c->finals] = hyp->start_sample;
        c->final_ends[c->finals] = hyp->end_sample;
    }
    ASSERT_GE(hyp->start_sample, c->last_end);
    c->last_end = hyp->end_sample;
    if (hyp->end_sample - hyp->start_sample > c->max_length)
        c->max_length = hyp->end_sample - hyp->start_sample;
    c->forced += hyp->forced;
    c->finals++;
    if (hyp->text[0]) {
        if (c->text[0])
            strncat(c->text, " ", sizeof c->text - strlen(c->text) - 1);
        strncat(c->text, hyp->text, sizeof c->text - strlen(c->text) - 1);
    }
}

static void recognize(struct asr_model *model, const int16_t *pcm, size_t n, struct collected *c)
{
    memset(c, 0, sizeof *c);
    struct asr_callbacks cb = {on_partial, on_final, c};
    struct asr_stream *s;
    ASSERT_OK(asr_stream_new(model, &cb, &s));
    for (size_t off = 0; off < n; off += CHUNK_SAMPLES)
        ASSERT_OK(asr_stream_feed(s, pcm + off, n - off < CHUNK_SAMPLES ? n - off : CHUNK_SAMPLES));
    ASSERT_OK(asr_stream_flush(s));
    ASSERT_EQ(asr_stream_position(s), n);
    asr_stream_free(s);
}

static void load(const char *path, struct audio_pcm *pcm)
{
    char err[256];
    int rc = audio_load(path, ASR_RATE_HZ, pcm, err, sizeof err);
    if (rc != 0)
        TEST_FAIL_("%s: %s", path, err);
}

static void test_goforward(struct asr_model *model)
{
    struct audio_pcm pcm;
    load(TEST_GOFORWARD_RAW, &pcm);
    struct collected c;
    recognize(model, pcm.samples, pcm.n_samples, &c);
    ASSERT_STR_EQ(c.text, "go forward ten meters");
    ASSERT_GE(c.partials, 1);
    ASSERT_GT(c.last_end, c.first_start);
    ASSERT_LE(c.last_end, (int64_t)pcm.n_samples);
    /* Decoders come back from the pool: a second pass must agree. */
    struct collected again;
    recognize(model, pcm.samples, pcm.n_samples, &again);
    ASSERT_STR_EQ(again.text, c.text);
    audio_pcm_release(&pcm);
}

/* Reads "<s> words </s> (fileid)" lines. */
static int read_reference(const char *fileid, char *out, size_t len)
{
    FILE *f = fopen(TEST_LIBRIVOX_DIR "/transcription", "r");
    ASSERT(f);
    char line[2048];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (!strstr(line, fileid))
            continue;
        char *start = strstr(line, "<s>"), *end = strstr(line, "</s>");
        ASSERT(start && end);
        *end = '\0';
        snprintf(out, len, "%s", start + 3);
        found = 1;
    }
    fclose(f);
    return found;
}

/* The five librivox clips joined by a second of silence, as one talk: each
 * clip is its own utterance, timed within its clip, and the whole talk is
 * recognized within the WER bound. One stream, as in a live session, so the
 * decoder's cepstral mean adapts after the first sentence. */
static void test_librivox_talk(struct asr_model *model)
{
    static const char *const clips[LIBRIVOX_CLIPS] = {"0870", "0880", "0890", "0920", "0930"};
    const size_t gap = ASR_RATE_HZ;
    int16_t *talk = NULL;
    size_t n = 0, clip_start[LIBRIVOX_CLIPS], clip_end[LIBRIVOX_CLIPS];
    char reference[4096] = "";
    for (int i = 0; i < LIBRIVOX_CLIPS; i++) {
        char fileid[128], path[512], ref[2048];
        snprintf(fileid, sizeof fileid, "sense_and_sensibility_01_austen_64kb-%s", clips[i]);
        snprintf(path, sizeof path, "%s/%s.wav", TEST_LIBRIVOX_DIR, fileid);
        ASSERT(read_reference(fileid, ref, sizeof ref));
        strncat(reference, ref, sizeof reference - strlen(reference) - 1);
        struct audio_pcm pcm;
        load(path, &pcm);
        talk = bc_realloc(talk, (n + pcm.n_samples + gap) * sizeof *talk);
        memcpy(talk + n, pcm.samples, pcm.n_samples * sizeof *talk);
        clip_start[i] = n;
        clip_end[i] = n + pcm.n_samples;
        memset(talk + clip_end[i], 0, gap * sizeof *talk);
        n += pcm.n_samples + gap;
        audio_pcm_release(&pcm);
    }
    struct collected c;
    recognize(model, talk, n, &c);
    size_t words, errors = wer_errors(reference, c.text, &words);
    double wer = 100.0 * (double)errors / (double)words;
    printf("ref: %s\nhyp: %s\n", reference, c.text);
    printf("librivox talk: %d utterances, WER %.1f%% (%zu errors in %zu words), bound %.1f%%\n",
           c.finals, wer, errors, words, LIBRIVOX_MAX_WER_PERCENT);
    ASSERT_EQ(c.finals, LIBRIVOX_CLIPS);
    for (int i = 0; i < LIBRIVOX_CLIPS; i++) {
        /* The VAD flags speech a little late and keeps a little silence. */
        ASSERT_GE(c.final_starts[i], (int64_t)clip_start[i]);
        ASSERT_LE(c.final_starts[i], (int64_t)clip_end[i]);
        ASSERT_GE(c.final_ends[i], (int64_t)clip_start[i]);
        ASSERT_LE(c.final_ends[i], (int64_t)(clip_end[i] + gap));
    }
    ASSERT_STR_CONTAINS(c.text, "more amiable woman");
    ASSERT(wer <= LIBRIVOX_MAX_WER_PERCENT);
    free(talk);
}

/* Continuous speech is still cut into utterances of at most utterance_max_ms. */
static void test_max_utterance(void)
{
    struct asr_params params;
    asr_default_params(&params);
    params.utterance_max_ms = 2000;
    struct asr_model *model;
    ASSERT_OK(asr_model_new(&params, &model));
    struct audio_pcm pcm;
    load(TEST_LIBRIVOX_DIR "/sense_and_sensibility_01_austen_64kb-0870.wav", &pcm);
    struct collected c;
    recognize(model, pcm.samples, pcm.n_samples, &c);
    printf("max utterance 2000 ms: %d finals, %d forced, longest %" PRId64 " samples\n", c.finals,
           c.forced, c.max_length);
    ASSERT_GE(c.finals, 3);
    ASSERT_GE(c.forced, 1);
    ASSERT_LE(c.max_length, 2000 * ASR_RATE_HZ / 1000);
    audio_pcm_release(&pcm);
    asr_model_free(model);
}

static void test_bad_params(void)
{
    struct asr_params params;
    struct asr_model *model = NULL;
    asr_default_params(&params);
    params.utterance_silence_ms = 0;
    ASSERT_EQ(asr_model_new(&params, &model), BC_EINVAL);
    ASSERT(model == NULL);
    asr_default_params(&params);
    params.lm_path = "/nonexistent/model.lm.bin";
    ASSERT_EQ(asr_model_new(&params, &model), BC_EENGINE);
}

int main(void)
{
    struct asr_params params;
    asr_default_params(&params);
    struct asr_model *model;
    ASSERT_OK(asr_model_new(&params, &model));
    test_goforward(model);
    test_librivox_talk(model);
    asr_model_free(model);
    test_max_utterance();
    test_bad_params();
    printf("asr: all passed\n");
    return 0;
}

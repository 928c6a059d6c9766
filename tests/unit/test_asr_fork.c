/* Forked recognizers (asr.h, ASR_ISOLATION_FORK) against in-process ones,
 * on real speech from Debian's pocketsphinx-testdata. */

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "audio/audio.h"
#include "engine/asr.h"
#include "test.h"
#include "util/alloc.h"
#include "util/err.h"

#define CHUNK_SAMPLES 1600 /* 100 ms, as a live speaker sends */
#define EVENTS_MAX 512
#define EVENT_TEXT_MAX 512
#define TALKERS 2
#define CLIPS_PER_TALK 2
#define EVENT_WORDS_MAX 64

struct event {
    int final;
    int utterance;
    int64_t start, end;
    int forced;
    char text[EVENT_TEXT_MAX];
    size_t n_words;
    int64_t word_ends[EVENT_WORDS_MAX];
};

struct event_log {
    struct event events[EVENTS_MAX];
    int count;
};

struct talk {
    int16_t *pcm;
    size_t n;
};

static void record(struct event_log *log, int final, const struct asr_hyp *hyp)
{
    ASSERT_LT(log->count, EVENTS_MAX);
    struct event *e = &log->events[log->count++];
    e->final = final;
    e->utterance = hyp->utterance;
    e->start = hyp->start_sample;
    e->end = hyp->end_sample;
    e->forced = hyp->forced;
    snprintf(e->text, sizeof e->text, "%s", hyp->text);
    ASSERT(final || (!hyp->word_end_samples && !hyp->n_words));
    ASSERT_LE(hyp->n_words, EVENT_WORDS_MAX);
    e->n_words = hyp->n_words;
    for (size_t i = 0; i < hyp->n_words; i++)
        e->word_ends[i] = hyp->word_end_samples[i];
}

static void on_partial(void *user, const struct asr_hyp *hyp)
{
    record(user, 0, hyp);
}

static void on_final(void *user, const struct asr_hyp *hyp)
{
    record(user, 1, hyp);
}

static void load(const char *path, struct audio_pcm *pcm)
{
    char err[256];
    if (audio_load(path, ASR_RATE_HZ, pcm, err, sizeof err) != 0)
        TEST_FAIL_("%s: %s", path, err);
}

/* Librivox clips joined by a second of silence. */
static void make_talk(const char *const *clips, int n_clips, struct talk *t)
{
    const size_t gap = ASR_RATE_HZ;
    t->pcm = NULL;
    t->n = 0;
    for (int i = 0; i < n_clips; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/sense_and_sensibility_01_austen_64kb-%s.wav",
                 TEST_LIBRIVOX_DIR, clips[i]);
        struct audio_pcm pcm;
        load(path, &pcm);
        t->pcm = bc_realloc(t->pcm, (t->n + pcm.n_samples + gap) * sizeof *t->pcm);
        memcpy(t->pcm + t->n, pcm.samples, pcm.n_samples * sizeof *t->pcm);
        memset(t->pcm + t->n + pcm.n_samples, 0, gap * sizeof *t->pcm);
        t->n += pcm.n_samples + gap;
        audio_pcm_release(&pcm);
    }
}

static void feed_all(struct asr_stream *s, const int16_t *pcm, size_t n)
{
    for (size_t off = 0; off < n; off += CHUNK_SAMPLES)
        ASSERT_OK(asr_stream_feed(s, pcm + off, n - off < CHUNK_SAMPLES ? n - off : CHUNK_SAMPLES));
}

struct talker {
    struct asr_model *model;
    const struct talk *talk;
    struct event_log log;
};

static void *talk_main(void *arg)
{
    struct talker *t = arg;
    struct asr_callbacks cb = {on_partial, on_final, &t->log};
    struct asr_stream *s;
    ASSERT_OK(asr_stream_new(t->model, &cb, &s));
    feed_all(s, t->talk->pcm, t->talk->n);
    ASSERT_OK(asr_stream_flush(s));
    ASSERT_EQ(asr_stream_position(s), (int64_t)t->talk->n);
    asr_stream_free(s);
    return NULL;
}

static void recognize_concurrently(struct asr_model *model, const struct talk *talks,
                                   struct talker *talkers)
{
    pthread_t threads[TALKERS];
    for (int i = 0; i < TALKERS; i++) {
        memset(&talkers[i], 0, sizeof talkers[i]);
        talkers[i].model = model;
        talkers[i].talk = &talks[i];
        ASSERT_EQ(pthread_create(&threads[i], NULL, talk_main, &talkers[i]), 0);
    }
    for (int i = 0; i < TALKERS; i++)
        pthread_join(threads[i], NULL);
}

static void assert_same_events(const struct event_log *a, const struct event_log *b)
{
    ASSERT_EQ(a->count, b->count);
    for (int i = 0; i < a->count; i++) {
        const struct event *x = &a->events[i], *y = &b->events[i];
        ASSERT_EQ(x->final, y->final);
        ASSERT_EQ(x->utterance, y->utterance);
        ASSERT_EQ(x->start, y->start);
        ASSERT_EQ(x->end, y->end);
        ASSERT_EQ(x->forced, y->forced);
        ASSERT_STR_EQ(x->text, y->text);
        ASSERT_EQ(x->n_words, y->n_words);
        for (size_t w = 0; w < x->n_words; w++)
            ASSERT_EQ(x->word_ends[w], y->word_ends[w]);
    }
}

/* Word end times of finals: one per word, rising, within the utterance. */
static void assert_word_times(const struct event_log *log)
{
    for (int i = 0; i < log->count; i++) {
        const struct event *e = &log->events[i];
        if (!e->final || !e->text[0])
            continue;
        size_t words = 1;
        for (const char *p = e->text; *p; p++)
            words += *p == ' ';
        ASSERT_EQ(e->n_words, words);
        for (size_t w = 0; w < e->n_words; w++) {
            ASSERT(e->word_ends[w] > e->start);
            ASSERT(w == 0 || e->word_ends[w] >= e->word_ends[w - 1]);
        }
    }
}

static int final_count(const struct event_log *log)
{
    int n = 0;
    for (int i = 0; i < log->count; i++)
        n += log->events[i].final;
    return n;
}

/* Two recognizers forked from one template, fed at once from two threads,
 * report exactly what two independent in-process decoders report. */
static struct talker by_fork[TALKERS], by_local[TALKERS];

static void test_same_as_in_process(struct asr_model *forked, struct asr_model *local,
                                    const struct talk *talks)
{
    recognize_concurrently(forked, talks, by_fork);
    recognize_concurrently(local, talks, by_local);
    for (int i = 0; i < TALKERS; i++) {
        printf("talker %d: %d events, %d finals, last: %s\n", i, by_fork[i].log.count,
               final_count(&by_fork[i].log),
               by_fork[i].log.count ? by_fork[i].log.events[by_fork[i].log.count - 1].text : "");
        ASSERT_EQ(final_count(&by_fork[i].log), CLIPS_PER_TALK);
        assert_word_times(&by_fork[i].log);
        assert_same_events(&by_fork[i].log, &by_local[i].log);
    }
    /* Reused from the pool, a recognizer starts over exactly. */
    static struct talker again[TALKERS];
    recognize_concurrently(forked, talks, again);
    for (int i = 0; i < TALKERS; i++)
        assert_same_events(&again[i].log, &by_local[i].log);
}

/* Recognizes talk with terms set before the first feed and after resuming
 * at offset (word times then count from there); returns the stream's
 * recognizer process. */
static int recognize_with_terms(struct asr_model *model, const struct talk *talk,
                                const struct asr_term *terms, size_t n, int64_t offset,
                                struct event_log *log)
{
    memset(log, 0, sizeof *log);
    struct asr_callbacks cb = {on_partial, on_final, log};
    struct asr_stream *s;
    ASSERT_OK(asr_stream_new(model, &cb, &s));
    if (offset)
        ASSERT_OK(asr_stream_resume(s, offset, 0));
    ASSERT_EQ(asr_stream_set_vocabulary(s, terms, n), (int)n);
    feed_all(s, talk->pcm, talk->n);
    ASSERT_OK(asr_stream_flush(s));
    int process = asr_stream_process(s);
    asr_stream_free(s);
    return process;
}

/* Glossary terms work the same in a recognizer process, and that process
 * ends with its stream instead of serving the next one. */
static void test_vocabulary(struct asr_model *forked, struct asr_model *local,
                            const struct talk *talk)
{
    static const struct asr_term terms[] = {{"prudently", NULL}, {"purdentlee", "prudent lee"}};
    const size_t n = sizeof terms / sizeof terms[0];
    const int64_t offset = 10 * ASR_RATE_HZ;
    static struct event_log by_forked, by_in_process;
    int first = recognize_with_terms(forked, talk, terms, n, offset, &by_forked);
    recognize_with_terms(local, talk, terms, n, offset, &by_in_process);
    assert_same_events(&by_forked, &by_in_process);
    assert_word_times(&by_forked);
    const struct event *final = NULL;
    for (int i = 0; i < by_forked.count && !final; i++)
        final = by_forked.events[i].final ? &by_forked.events[i] : NULL;
    ASSERT(final);
    printf("with terms: %s\n", final->text);
    ASSERT(strstr(final->text, "prudently") || strstr(final->text, "purdentlee"));
    ASSERT(final->start >= offset);
    /* The next stream gets another process, which knows no term. */
    static struct event_log plain;
    int second = recognize_with_terms(forked, talk, NULL, 0, 0, &plain);
    ASSERT(second != first);
    for (int i = 0; i < plain.count; i++)
        ASSERT(!strstr(plain.events[i].text, "prudently") &&
               !strstr(plain.events[i].text, "purdentlee"));
}

/* The dictionary trimmed to the language model's words (the default)
 * changes nothing in what is recognized. */
static void test_trimmed_dictionary(const struct talk *talks)
{
    struct asr_params params;
    asr_default_params(&params);
    params.isolation = ASR_ISOLATION_IN_PROCESS;
    params.trim_dictionary = 0;
    struct asr_model *full;
    ASSERT_OK(asr_model_new(&params, &full));
    static struct talker with_full[TALKERS];
    recognize_concurrently(full, talks, with_full);
    for (int i = 0; i < TALKERS; i++)
        assert_same_events(&with_full[i].log, &by_local[i].log);
    asr_model_free(full);
}

/* kill -9 of a recognizer mid-stream: the call fails at once, the stream
 * carries on in a fresh process from where the failed call began, and new
 * streams work. */
static void test_killed_recognizer(struct asr_model *model, const struct talk *talk)
{
    static struct event_log log;
    memset(&log, 0, sizeof log);
    struct asr_callbacks cb = {on_partial, on_final, &log};
    struct asr_stream *s;
    ASSERT_OK(asr_stream_new(model, &cb, &s));
    size_t half = talk->n / 2 / CHUNK_SAMPLES * CHUNK_SAMPLES;
    feed_all(s, talk->pcm, half);
    int victim = asr_stream_process(s);
    ASSERT_GT(victim, 0);
    int next_utterance = asr_stream_next_utterance(s);
    ASSERT_EQ(kill(victim, SIGKILL), 0);
    ASSERT_EQ(asr_stream_feed(s, talk->pcm + half, CHUNK_SAMPLES), BC_EENGINE);
    ASSERT_EQ(asr_stream_position(s), (int64_t)half);
    ASSERT_EQ(asr_stream_in_utterance(s), 0);
    ASSERT_EQ(asr_stream_next_utterance(s), next_utterance);
    int before = log.count;
    feed_all(s, talk->pcm + half, talk->n - half);
    ASSERT_OK(asr_stream_flush(s));
    ASSERT_NE(asr_stream_process(s), victim);
    ASSERT_EQ(asr_stream_position(s), (int64_t)talk->n);
    ASSERT_GT(log.count, before);
    const struct event *last = &log.events[log.count - 1];
    ASSERT(last->final);
    ASSERT_GE(last->utterance, next_utterance);
    ASSERT_GE(last->start, (int64_t)half);
    asr_stream_free(s);

    /* An idle pooled recognizer that died is replaced too. */
    ASSERT_OK(asr_stream_new(model, &cb, &s));
    victim = asr_stream_process(s);
    asr_stream_free(s);
    ASSERT_EQ(kill(victim, SIGKILL), 0);
    memset(&log, 0, sizeof log);
    struct audio_pcm pcm;
    load(TEST_GOFORWARD_RAW, &pcm);
    ASSERT_OK(asr_stream_new(model, &cb, &s));
    ASSERT_NE(asr_stream_process(s), victim);
    feed_all(s, pcm.samples, pcm.n_samples);
    ASSERT_OK(asr_stream_flush(s));
    ASSERT_EQ(final_count(&log), 1);
    ASSERT_STR_EQ(log.events[log.count - 1].text, "go forward ten meters");
    asr_stream_free(s);
    audio_pcm_release(&pcm);
}

static void *block_until_cancelled(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

/* Forking is refused once the process runs threads. */
static void test_refused_with_threads(void)
{
    pthread_t thread;
    ASSERT_EQ(pthread_create(&thread, NULL, block_until_cancelled, NULL), 0);
    struct asr_params params;
    asr_default_params(&params);
    struct asr_model *model = NULL;
    ASSERT_EQ(asr_model_new(&params, &model), BC_ESTATE);
    ASSERT(model == NULL);
    pthread_cancel(thread);
    pthread_join(thread, NULL);
}

int main(void)
{
    static const char *const clips[TALKERS][CLIPS_PER_TALK] = {{"0870", "0880"},
                                                               {"0890", "0920"}};
    struct talk talks[TALKERS];
    for (int i = 0; i < TALKERS; i++)
        make_talk(clips[i], CLIPS_PER_TALK, &talks[i]);
    struct asr_params params;
    asr_default_params(&params);
    ASSERT_EQ(params.isolation, ASR_ISOLATION_FORK);
    struct asr_model *forked, *local;
    ASSERT_OK(asr_model_new(&params, &forked)); /* first: no thread runs yet */
    params.isolation = ASR_ISOLATION_IN_PROCESS;
    ASSERT_OK(asr_model_new(&params, &local));
    test_same_as_in_process(forked, local, talks);
    test_vocabulary(forked, local, &talks[0]);
    asr_model_free(local);
    test_trimmed_dictionary(talks);
    test_killed_recognizer(forked, &talks[0]);
    asr_model_free(forked);
    test_refused_with_threads();
    for (int i = 0; i < TALKERS; i++)
        free(talks[i].pcm);
    printf("asr_fork: all passed\n");
    return 0;
}

/* TTS speed per language: real-time factor (synthesis time / audio length)
 * and time from submit to the first audio chunk, one request at a time. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/tts.h"
#include "util/err.h"
#include "util/timeutil.h"

#define RUNS_PER_LANG 20
#define US_PER_S 1e6
#define US_PER_MS 1e3

static const struct {
    const char *lang;
    const char *text[2];
} langs[] = {
    {"es",
     {"hola, buenos días a todos",
      "hoy hablaremos de reconocimiento de voz, de traducción y de síntesis del habla"}},
    {"ca",
     {"bon dia a tothom, com esteu",
      "avui parlarem del reconeixement de la veu, de la traducció i de la síntesi"}},
    {"eo",
     {"bonan tagon al vi ĉiuj, amikoj",
      "hodiaŭ ni parolos pri parolrekono, pri tradukado kaj pri parolsintezo"}},
    {"fr",
     {"bonjour à tous, comment allez-vous",
      "aujourd'hui nous parlerons de reconnaissance vocale, de traduction et de synthèse"}},
    {"pt",
     {"bom dia a todos, como estão",
      "hoje vamos falar de reconhecimento de voz, de tradução e de síntese de fala"}},
    {"pt_BR",
     {"bom dia a todos, tudo bem com vocês",
      "hoje vamos falar de reconhecimento de voz, de tradução e de síntese de fala"}},
    {"it",
     {"buongiorno a tutti, come state",
      "oggi parleremo di riconoscimento vocale, di traduzione e di sintesi vocale"}},
    {"ro",
     {"bună ziua tuturor, ce mai faceți",
      "astăzi vom vorbi despre recunoașterea vocii, traducere și sinteza vorbirii"}},
    {"an",
     {"bons días a totz, como tz'esta",
      "hue charraremos d'o reconoiximiento d'a voz, d'a traducción y d'a sintesi"}},
    {"en",
     {"good morning everyone, how are you",
      "today we will talk about speech recognition, translation and speech synthesis"}},
    {"gl",
     {"bo día a todos, como estades",
      "hoxe falaremos de recoñecemento de voz, de tradución e de síntese de fala"}},
};

struct run {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int64_t t_first_us;
    size_t n_samples;
    bool done;
    int err;
};

static void run_cb(void *user_data, const int16_t *pcm, size_t n, bool last, int err)
{
    struct run *r = user_data;
    if (n && !r->t_first_us)
        r->t_first_us = bc_now_us();
    r->n_samples += n;
    if (last) {
        pthread_mutex_lock(&r->lock);
        r->done = true;
        r->err = err;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock);
    }
}

struct totals {
    double audio_s, synth_us, first_us;
};

/* One request, waited for; adds its numbers to t. */
static int measure(struct tts *tts, const char *lang, const char *text, struct totals *t)
{
    struct run r = {.t_first_us = 0};
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.cond, NULL);
    int64_t start = bc_now_us();
    int rc = tts_submit(tts, lang, text, run_cb, &r);
    if (rc == 0) {
        pthread_mutex_lock(&r.lock);
        while (!r.done)
            pthread_cond_wait(&r.cond, &r.lock);
        pthread_mutex_unlock(&r.lock);
        rc = r.err ? r.err : (r.t_first_us ? 0 : BC_EENGINE);
    }
    int64_t end = bc_now_us();
    pthread_mutex_destroy(&r.lock);
    pthread_cond_destroy(&r.cond);
    if (rc) {
        fprintf(stderr, "%s: %s\n", lang, bc_strerror(rc));
        return rc;
    }
    t->audio_s += (double)r.n_samples / tts_sample_rate(tts);
    t->synth_us += (double)(end - start);
    t->first_us += (double)(r.t_first_us - start);
    return 0;
}

static void print_row(const char *lang, const char *voice, const char *stand_in,
                      const struct totals *t)
{
    printf("%-6s %-6s %-9s %10.2f %12.2f %12.3f %10.4f\n", lang, voice, stand_in,
           t->audio_s / RUNS_PER_LANG, t->synth_us / RUNS_PER_LANG / US_PER_MS,
           t->first_us / RUNS_PER_LANG / US_PER_MS, t->synth_us / US_PER_S / t->audio_s);
}

int main(void)
{
    struct tts *tts = NULL;
    int64_t t0 = bc_now_us();
    int rc = tts_new(NULL, &tts);
    if (rc) {
        fprintf(stderr, "tts_new: %s\n", bc_strerror(rc));
        return 1;
    }
    size_t n_langs = sizeof langs / sizeof langs[0];
    printf("tts_new: %.1f ms, %d Hz, %d runs per row\n", (bc_now_us() - t0) / US_PER_MS,
           tts_sample_rate(tts), RUNS_PER_LANG);
    printf("%-6s %-6s %-9s %10s %12s %12s %10s\n", "lang", "voice", "stand-in", "audio s",
           "synth ms", "1st chunk ms", "RTF");

    for (size_t l = 0; l < n_langs; l++) {
        const char *voice = "-";
        bool stand_in = false;
        if (tts_voice_for(tts, langs[l].lang, &voice, &stand_in) != 0) {
            printf("%-6s text-only\n", langs[l].lang);
            continue;
        }
        struct totals t = {0};
        for (int i = 0; i < RUNS_PER_LANG; i++)
            if (measure(tts, langs[l].lang, langs[l].text[i % 2], &t) != 0)
                goto fail;
        print_row(langs[l].lang, voice, stand_in ? "yes" : "no", &t);
    }
    /* Live sessions interleave languages: every request switches voice. */
    struct totals t = {0};
    for (int i = 0; i < RUNS_PER_LANG; i++)
        if (measure(tts, langs[(size_t)i % n_langs].lang, langs[(size_t)i % n_langs].text[0], &t) !=
            0)
            goto fail;
    print_row("mixed", "switch", "-", &t);
    tts_free(tts);
    return 0;

fail:
    tts_free(tts);
    return 1;
}

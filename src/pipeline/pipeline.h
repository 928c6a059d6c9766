/* The per-session processing chain: speech in, then for every active
 * language live captions (partials and finals) and synthesized speech: on
 * finals in sentence mode, on each committed chunk and the final's
 * remainder in simultaneous mode. One pipeline per audio stream.
 *
 * Threads: pipeline_feed/flush/set_languages are called by one thread at a
 * time (the session's worker). The sink runs on that thread for captions
 * and on the TTS thread for audio; it must be thread-safe and must not call
 * back into the pipeline. */
#ifndef BC_PIPELINE_H
#define BC_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/asr.h"
#include "engine/mt.h"
#include "engine/tts.h"

#define PIPELINE_SOURCE_LANG "en"
#define PIPELINE_LANGS_MAX 16
#define PIPELINE_LANG_MAX 16

/* Shared engines; owned by the caller and outliving every pipeline. tts may
 * be NULL (captions only). */
struct pipeline_engines {
    struct asr_model *asr;
    struct mt *mt;
    struct tts *tts;
};

enum pipeline_event_type {
    PIPELINE_CAPTION,     /* text, source_text, final */
    PIPELINE_AUDIO_START, /* sample_rate */
    PIPELINE_AUDIO,       /* pcm, n_samples, sample_rate */
    PIPELINE_AUDIO_END,   /* n_samples: total samples of the utterance's audio */
};

/* sentence: an utterance is translated and spoken once it is final.
 * simultaneous: its stable words are committed in chunks while it runs
 * (pipeline/chunker.h), each translated and spoken at once. */
enum pipeline_mode { PIPELINE_SENTENCE, PIPELINE_SIMULTANEOUS };

/* Everything is valid only during the sink call. */
struct pipeline_event {
    enum pipeline_event_type type;
    const char *lang;        /* PIPELINE_SOURCE_LANG for source captions */
    int utterance;           /* per stream, from 0 */
    int final;               /* captions: 1 for the settled text of the utterance */
    const char *text;        /* caption in lang */
    const char *source_text; /* recognized English */
    int64_t start_ms;        /* utterance span in the input timeline */
    int64_t end_ms;          /* partials: input received so far */
    const int16_t *pcm;
    size_t n_samples;
    int sample_rate;
    /* Simultaneous mode only, else -1 and NULL. Audio events: the last
     * chunk of the utterance they speak; a piece of audio speaks the
     * chunks after the previous piece's up to it (paced speech joins
     * chunks that wait for the listeners), in order.
     * Captions: chunk is the chunk this caption commits (-1: none new);
     * committed is the text committed so far, a prefix of text that no
     * later caption of the utterance takes back. */
    int chunk;
    const char *committed;
};

/* Returns 0; for a final caption in a target language, nonzero means it was
 * delivered before (a replay after a crash): its speech is not made again. */
typedef int (*pipeline_sink)(void *user_data, const struct pipeline_event *event);

struct pipeline;

/* Returns 0 and *out (free with pipeline_free), or BC_EENGINE when no ASR
 * stream can be made. langs: target codes; unknown ones are ignored with a
 * warning. */
int pipeline_new(const struct pipeline_engines *engines, const char *const *langs, size_t n_langs,
                 pipeline_sink sink, void *user_data, struct pipeline **out);
/* Waits for pending speech synthesis (its sink calls run first), then frees. */
void pipeline_free(struct pipeline *p);

/* Sentence mode until set. Call between utterances. */
void pipeline_set_mode(struct pipeline *p, enum pipeline_mode mode);

/* How fast translated speech is spoken. Paced: a piece that a listener,
 * playing each language's audio back to back, would finish hearing more
 * than PACER_DEFAULT_TARGET_LAG_MS after it was sent is spoken faster, up
 * to PACER_DEFAULT_MAX_SPEED percent of the normal rate
 * (pipeline/pacer.h); times are reckoned on the input timeline. AUTO (the
 * default) paces simultaneous mode only; the play-out is followed in
 * every mode. Any thread. */
enum pipeline_pacing { PIPELINE_PACING_AUTO, PIPELINE_PACING_OFF, PIPELINE_PACING_ON };
void pipeline_set_pacing(struct pipeline *p, enum pipeline_pacing pacing);

/* Replaces the active target languages (at most PIPELINE_LANGS_MAX). */
void pipeline_set_languages(struct pipeline *p, const char *const *langs, size_t n_langs);

struct glossary;
/* Hands the pipeline a new glossary (NULL: none; the pipeline frees it),
 * used from the next utterance on: the one in progress finishes with the
 * glossary it started with. */
void pipeline_set_glossary(struct pipeline *p, struct glossary *glossary);

/* PCM16 mono at ASR_RATE_HZ. Returns 0 or BC_EENGINE. */
int pipeline_feed(struct pipeline *p, const int16_t *pcm, size_t n_samples);
/* Ends the utterance in progress (end of speech). */
int pipeline_flush(struct pipeline *p);
/* Blocks until every queued synthesis has delivered its last audio event. */
void pipeline_wait_idle(struct pipeline *p);
/* Samples fed so far. */
int64_t pipeline_position(const struct pipeline *p);
/* 1 while an utterance is in progress: the input since the last final is
 * still needed to finish it. */
int pipeline_in_utterance(const struct pipeline *p);
int pipeline_next_utterance(const struct pipeline *p);
/* While lagging, partial captions are not translated (the source partials
 * still go out), so a late session catches up on what matters: finals. */
void pipeline_set_lagging(struct pipeline *p, int lagging);
/* See asr_stream_resume. */
int pipeline_resume(struct pipeline *p, int64_t position, int next_utterance);

#endif

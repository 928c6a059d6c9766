#include "metrics/probes.h"

#include "config_build.h"
#include "metrics/metrics.h"

#define NO_LABELS {NULL}
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Appends: a local fsync batch or a Redis round trip. */
static const double append_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
/* About a second is the goal; tens of seconds is a session far behind. */
static const double first_audio_buckets[] = {0.1, 0.25, 0.5, 0.75, 1,  1.25, 1.5,
                                             2,   3,    5,   10,   30, 60};
static const double rtf_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5};
static const double mt_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,   0.25,   0.5,   1,    2.5,   5};
static const double tts_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

static const struct metrics_desc build_info = {
    METRICS_GAUGE, "babelcast_build_info", "Version and role of this process (always 1).",
    {"version", "role"}, NULL, 0};

static const struct metrics_desc live_sessions = {
    METRICS_GAUGE, "babelcast_sessions_live", "Live sessions in the session registry.",
    NO_LABELS, NULL, 0};
static const struct metrics_desc speakers = {
    METRICS_GAUGE, "babelcast_speakers", "Speakers connected to this gateway.", NO_LABELS, NULL, 0};
static const struct metrics_desc listeners = {
    METRICS_GAUGE, "babelcast_listeners", "Listeners connected to this gateway.",
    {"lang", "codec"}, NULL, 0};
static const struct metrics_desc frames = {
    METRICS_COUNTER, "babelcast_speaker_frames_total", "Speaker audio frames received.",
    NO_LABELS, NULL, 0};
static const struct metrics_desc frame_bytes = {
    METRICS_COUNTER, "babelcast_speaker_bytes_total", "Bytes of speaker audio received.",
    NO_LABELS, NULL, 0};
static const struct metrics_desc append_latency = {
    METRICS_HISTOGRAM, "babelcast_stream_append_duration_seconds",
    "Time to append one record to the ingestion stream.", NO_LABELS,
    append_buckets, N_OF(append_buckets)};
static const struct metrics_desc append_errors = {
    METRICS_COUNTER, "babelcast_stream_append_errors_total",
    "Appends to the ingestion stream that failed (nothing was acknowledged).", NO_LABELS, NULL, 0};
static const struct metrics_desc lag_drops = {
    METRICS_COUNTER, "babelcast_lag_drops_total",
    "Peers closed with 4408 because their oldest unsent message was too old or too much was "
    "unsent.",
    {"peer"}, NULL, 0};
static const struct metrics_desc refused = {
    METRICS_COUNTER, "babelcast_sessions_refused_total",
    "Session creations refused, by error code (429 too_many_sessions, 503 no_worker...).",
    {"code"}, NULL, 0};

static const struct metrics_desc worker_sessions = {
    METRICS_GAUGE, "babelcast_worker_sessions", "Sessions this worker owns and processes.",
    NO_LABELS, NULL, 0};
static const struct metrics_desc asr_rtf = {
    METRICS_HISTOGRAM, "babelcast_asr_real_time_factor",
    "Recognition CPU seconds per second of audio, per record.", NO_LABELS, rtf_buckets,
    N_OF(rtf_buckets)};
static const struct metrics_desc asr_cpu = {
    METRICS_COUNTER, "babelcast_asr_cpu_seconds_total", "CPU seconds spent recognizing speech.",
    NO_LABELS, NULL, 0};
static const struct metrics_desc asr_audio = {
    METRICS_COUNTER, "babelcast_asr_audio_seconds_total", "Seconds of audio recognized.",
    NO_LABELS, NULL, 0};
static const struct metrics_desc mt_duration = {
    METRICS_HISTOGRAM, "babelcast_mt_duration_seconds", "Time to translate one caption.",
    {"lang"}, mt_buckets, N_OF(mt_buckets)};
static const struct metrics_desc tts_duration = {
    METRICS_HISTOGRAM, "babelcast_tts_duration_seconds",
    "Time from a synthesis request to its last chunk of speech, queueing included.", {"lang"},
    tts_buckets, N_OF(tts_buckets)};
static const struct metrics_desc first_audio = {
    METRICS_HISTOGRAM, "babelcast_end_of_speech_to_audio_seconds",
    "Time from the gateway accepting the audio that ends an utterance to the first translated "
    "speech of it being published.",
    {"lang"}, first_audio_buckets, N_OF(first_audio_buckets)};
static const struct metrics_desc dead_letters = {
    METRICS_COUNTER, "babelcast_dead_letters_total",
    "Records whose processing kept failing, set aside in the dead-letter log.", NO_LABELS, NULL,
    0};

void probe_init(const char *role, int gateway_side, int worker_side)
{
    const char *info[] = {BC_VERSION, role};
    metrics_set(&build_info, info, 1);
    if (gateway_side) {
        const struct metrics_desc *const all[] = {&live_sessions, &speakers,       &listeners,
                                                  &frames,        &frame_bytes,    &append_latency,
                                                  &append_errors, &lag_drops,      &refused};
        for (size_t i = 0; i < N_OF(all); i++)
            metrics_register(all[i]);
        const char *peers[][1] = {{"listener"}, {"speaker"}};
        for (size_t i = 0; i < N_OF(peers); i++)
            metrics_add(&lag_drops, peers[i], 0);
        const char *codes[][1] = {{"too_many_sessions"}, {"no_worker"}};
        for (size_t i = 0; i < N_OF(codes); i++)
            metrics_add(&refused, codes[i], 0);
    }
    if (worker_side) {
        const struct metrics_desc *const all[] = {&worker_sessions, &asr_rtf,      &asr_cpu,
                                                  &asr_audio,       &mt_duration,  &tts_duration,
                                                  &first_audio,     &dead_letters};
        for (size_t i = 0; i < N_OF(all); i++)
            metrics_register(all[i]);
    }
}

void probe_speaker_frame(size_t bytes)
{
    metrics_add(&frames, NULL, 1);
    metrics_add(&frame_bytes, NULL, (double)bytes);
}

void probe_stream_append(double seconds, int failed)
{
    metrics_observe(&append_latency, NULL, seconds);
    if (failed)
        metrics_add(&append_errors, NULL, 1);
}

void probe_lag_drop(int listener)
{
    const char *peer[] = {listener ? "listener" : "speaker"};
    metrics_add(&lag_drops, peer, 1);
}

void probe_session_refused(const char *code)
{
    const char *labels[] = {code};
    metrics_add(&refused, labels, 1);
}

void probe_set_live_sessions(size_t n)
{
    metrics_set(&live_sessions, NULL, (double)n);
}

void probe_set_speakers(size_t n)
{
    metrics_set(&speakers, NULL, (double)n);
}

void probe_listeners_clear(void)
{
    metrics_clear(&listeners);
}

void probe_set_listeners(const char *lang, const char *codec, size_t n)
{
    const char *labels[] = {lang, codec};
    metrics_set(&listeners, labels, (double)n);
}

void probe_asr(double cpu_seconds, double audio_seconds)
{
    metrics_add(&asr_cpu, NULL, cpu_seconds);
    metrics_add(&asr_audio, NULL, audio_seconds);
    if (audio_seconds > 0)
        metrics_observe(&asr_rtf, NULL, cpu_seconds / audio_seconds);
}

void probe_mt(const char *lang, double seconds)
{
    const char *labels[] = {lang};
    metrics_observe(&mt_duration, labels, seconds);
}

void probe_tts(const char *lang, double seconds)
{
    const char *labels[] = {lang};
    metrics_observe(&tts_duration, labels, seconds);
}

void probe_first_audio(const char *lang, double seconds)
{
    const char *labels[] = {lang};
    metrics_observe(&first_audio, labels, seconds);
}

void probe_dead_letter(void)
{
    metrics_add(&dead_letters, NULL, 1);
}

void probe_set_worker_sessions(size_t n)
{
    metrics_set(&worker_sessions, NULL, (double)n);
}

#include "metrics/probes.h"

#include "config_build.h"
#include "metrics/metrics.h"

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

static const struct metrics_desc build_info = {.type = METRICS_GAUGE,
                                               .name = "babelcast_build_info",
                                               .help =
                                                   "Version and role of this process (always 1).",
                                               .labels = {"version", "role"}};

static const struct metrics_desc live_sessions = {.type = METRICS_GAUGE,
                                                  .name = "babelcast_sessions_live",
                                                  .help = "Live sessions in the session registry."};
static const struct metrics_desc speakers = {.type = METRICS_GAUGE,
                                             .name = "babelcast_speakers",
                                             .help = "Speakers connected to this gateway."};
static const struct metrics_desc ingest_queued = {
    .type = METRICS_GAUGE,
    .name = "babelcast_ingest_queued_frames",
    .help = "Speaker frames and ends waiting in this gateway's queues to be appended to the "
            "ingestion stream."};
static const struct metrics_desc listeners = {.type = METRICS_GAUGE,
                                              .name = "babelcast_listeners",
                                              .help = "Listeners connected to this gateway.",
                                              .labels = {"lang", "codec"}};
static const struct metrics_desc frames = {.type = METRICS_COUNTER,
                                           .name = "babelcast_speaker_frames_total",
                                           .help = "Speaker audio frames received."};
static const struct metrics_desc frame_bytes = {.type = METRICS_COUNTER,
                                                .name = "babelcast_speaker_bytes_total",
                                                .help = "Bytes of speaker audio received."};
static const struct metrics_desc append_latency = {
    .type = METRICS_HISTOGRAM,
    .name = "babelcast_stream_append_duration_seconds",
    .help = "Time to append one record to the ingestion stream.",
    .buckets = append_buckets,
    .n_buckets = N_OF(append_buckets)};
static const struct metrics_desc append_errors = {
    .type = METRICS_COUNTER,
    .name = "babelcast_stream_append_errors_total",
    .help = "Appends to the ingestion stream that failed (nothing was acknowledged)."};
static const struct metrics_desc lag_drops = {
    .type = METRICS_COUNTER,
    .name = "babelcast_lag_drops_total",
    .help =
        "Peers closed with 4408 because their oldest unsent message was too old or too much was "
        "unsent.",
    .labels = {"peer"}};
static const struct metrics_desc refused = {
    .type = METRICS_COUNTER,
    .name = "babelcast_sessions_refused_total",
    .help = "Session creations refused, by error code (429 too_many_sessions, 503 server_full, "
            "503 no_worker...).",
    .labels = {"code"}};

static const struct metrics_desc worker_sessions = {.type = METRICS_GAUGE,
                                                    .name = "babelcast_worker_sessions",
                                                    .help =
                                                        "Sessions this worker owns and processes."};
static const struct metrics_desc worker_room = {
    .type = METRICS_GAUGE,
    .name = "babelcast_worker_room",
    .help = "Sessions this worker may still claim (its measured capacity minus what it owns)."};
static const struct metrics_desc shedding = {
    .type = METRICS_GAUGE,
    .name = "babelcast_sessions_shedding",
    .help = "Sessions this worker owns by what they leave out while behind "
            "(none, translated_partials, partials).",
    .labels = {"level"}};
static const struct metrics_desc asr_rtf = {
    .type = METRICS_HISTOGRAM,
    .name = "babelcast_asr_real_time_factor",
    .help = "Recognition CPU seconds per second of audio, per record.",
    .buckets = rtf_buckets,
    .n_buckets = N_OF(rtf_buckets)};
static const struct metrics_desc asr_cpu = {.type = METRICS_COUNTER,
                                            .name = "babelcast_asr_cpu_seconds_total",
                                            .help = "CPU seconds spent recognizing speech."};
static const struct metrics_desc asr_audio = {.type = METRICS_COUNTER,
                                              .name = "babelcast_asr_audio_seconds_total",
                                              .help = "Seconds of audio recognized."};
static const struct metrics_desc mt_duration = {.type = METRICS_HISTOGRAM,
                                                .name = "babelcast_mt_duration_seconds",
                                                .help = "Time to translate one caption.",
                                                .labels = {"lang"},
                                                .buckets = mt_buckets,
                                                .n_buckets = N_OF(mt_buckets)};
static const struct metrics_desc tts_duration = {
    .type = METRICS_HISTOGRAM,
    .name = "babelcast_tts_duration_seconds",
    .help = "Time from a synthesis request to its last chunk of speech, queueing included.",
    .labels = {"lang"},
    .buckets = tts_buckets,
    .n_buckets = N_OF(tts_buckets)};
static const struct metrics_desc first_audio = {
    .type = METRICS_HISTOGRAM,
    .name = "babelcast_end_of_speech_to_audio_seconds",
    .help =
        "Time from the gateway accepting the audio that ends an utterance to the first translated "
        "speech of it being published.",
    .labels = {"lang"},
    .buckets = first_audio_buckets,
    .n_buckets = N_OF(first_audio_buckets)};
static const struct metrics_desc dead_letters = {
    .type = METRICS_COUNTER,
    .name = "babelcast_dead_letters_total",
    .help = "Records whose processing kept failing, set aside in the dead-letter log."};

void probe_init(const char *role, int gateway_side, int worker_side)
{
    const char *info[] = {BC_VERSION, role};
    metrics_set(&build_info, info, 1);
    if (gateway_side) {
        const struct metrics_desc *const all[] = {
            &live_sessions, &speakers,       &ingest_queued, &listeners, &frames,
            &frame_bytes,   &append_latency, &append_errors, &lag_drops, &refused};
        for (size_t i = 0; i < N_OF(all); i++)
            metrics_register(all[i]);
        const char *peers[][1] = {{"listener"}, {"speaker"}};
        for (size_t i = 0; i < N_OF(peers); i++)
            metrics_add(&lag_drops, peers[i], 0);
        const char *codes[][1] = {{"too_many_sessions"}, {"no_worker"}, {"server_full"}};
        for (size_t i = 0; i < N_OF(codes); i++)
            metrics_add(&refused, codes[i], 0);
    }
    if (worker_side) {
        const struct metrics_desc *const all[] = {
            &worker_sessions, &worker_room,  &shedding,    &asr_rtf,     &asr_cpu,
            &asr_audio,       &mt_duration,  &tts_duration, &first_audio, &dead_letters};
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

void probe_set_ingest_queued(size_t n)
{
    metrics_set(&ingest_queued, NULL, (double)n);
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

static const struct metrics_desc stream_throttled = {
    .type = METRICS_COUNTER,
    .name = "babelcast_stream_throttled_total",
    .help = "Calls to the ingestion stream's service that were throttled and retried "
            "(Kinesis ProvisionedThroughputExceeded or LimitExceeded)."};

void probe_stream_throttled(void)
{
    metrics_add(&stream_throttled, NULL, 1);
}

void probe_set_worker_room(int n)
{
    metrics_set(&worker_room, NULL, (double)n);
}

void probe_set_shedding(const char *level, size_t n)
{
    const char *labels[] = {level};
    metrics_set(&shedding, labels, (double)n);
}

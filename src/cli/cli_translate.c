/* babelcast translate: the live pipeline run over a recording, utterance by
 * utterance, writing captions and translated speech per language. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/transcript.h"
#include "audio/audio.h"
#include "cli/cli.h"
#include "glossary/glossary.h"
#include "pipeline/engines.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fsutil.h"
#include "util/log.h"

#define TRANSLATE_CHUNK_MS 100
#define TRANSLATE_DEFAULT_LANGS "es"
#define MS_PER_SECOND 1000
/* A glossary file is a few kilobytes; anything this big is a mistake. */
#define GLOSSARY_FILE_MAX (1024 * 1024)
#define OUT_DIR_MODE 0755 /* what mkdir -p would make: outputs are for the user to share */

/* The translated speech of one language, laid on the input's timeline. */
struct speech_track {
    int16_t *samples;
    size_t n_samples, capacity;
    size_t cursor;    /* where the utterance being received goes next */
    size_t busy_until; /* end of the last utterance written: speech never overlaps */
};

struct translate_job {
    const char *name;
    char langs[CLI_LANGS_MAX][CLI_LANG_LEN];
    size_t n_langs;
    struct transcript *source;
    struct transcript *captions[CLI_LANGS_MAX];
    struct speech_track tracks[CLI_LANGS_MAX];
    int64_t utterance_start_ms[CLI_LANGS_MAX]; /* of the final each track speaks next */
    int sample_rate;
    int show_progress;
    int64_t total_ms;
    pthread_mutex_t lock; /* the sink runs on the worker and the TTS thread */
};

static int lang_index(const struct translate_job *job, const char *lang)
{
    for (size_t i = 0; i < job->n_langs; i++) {
        if (strcmp(job->langs[i], lang) == 0)
            return (int)i;
    }
    return -1;
}

static void track_write(struct speech_track *t, const int16_t *pcm, size_t n)
{
    size_t end = t->cursor + n;
    if (end > t->capacity) {
        size_t cap = t->capacity ? t->capacity : 1;
        while (cap < end)
            cap *= 2;
        t->samples = bc_realloc(t->samples, cap * sizeof *t->samples);
        memset(t->samples + t->capacity, 0, (cap - t->capacity) * sizeof *t->samples);
        t->capacity = cap;
    }
    memcpy(t->samples + t->cursor, pcm, n * sizeof *pcm);
    t->cursor = end;
    if (end > t->n_samples)
        t->n_samples = end;
}

static void print_caption(struct translate_job *job, const struct pipeline_event *ev)
{
    if (strcmp(ev->lang, PIPELINE_SOURCE_LANG) == 0) {
        if (job->show_progress)
            fprintf(stderr, "\r%*s\r", 60, "");
        printf("[%6.1fs - %6.1fs] %s\n", (double)ev->start_ms / MS_PER_SECOND,
               (double)ev->end_ms / MS_PER_SECOND, ev->text);
    } else {
        printf("%*s%s: %s\n", 12, "", ev->lang, ev->text);
    }
    fflush(stdout);
}

static int sink(void *user_data, const struct pipeline_event *ev)
{
    struct translate_job *job = user_data;
    pthread_mutex_lock(&job->lock);
    int li = lang_index(job, ev->lang);
    switch (ev->type) {
    case PIPELINE_CAPTION:
        /* Simultaneous mode speaks an utterance from its first chunk on. */
        if (ev->chunk == 0 && li >= 0)
            job->utterance_start_ms[li] = ev->start_ms;
        if (!ev->final || !ev->text[0])
            break;
        print_caption(job, ev);
        if (li < 0) {
            transcript_add(job->source, ev->utterance, ev->start_ms, ev->end_ms, ev->text,
                           ev->source_text);
        } else {
            transcript_add(job->captions[li], ev->utterance, ev->start_ms, ev->end_ms, ev->text,
                           ev->source_text);
            job->utterance_start_ms[li] = ev->start_ms;
        }
        break;
    case PIPELINE_AUDIO_START:
        if (li >= 0) {
            struct speech_track *t = &job->tracks[li];
            size_t at = (size_t)(job->utterance_start_ms[li] * ev->sample_rate / MS_PER_SECOND);
            t->cursor = at > t->busy_until ? at : t->busy_until;
            job->sample_rate = ev->sample_rate;
        }
        break;
    case PIPELINE_AUDIO:
        if (li >= 0)
            track_write(&job->tracks[li], ev->pcm, ev->n_samples);
        break;
    case PIPELINE_AUDIO_END:
        if (li >= 0)
            job->tracks[li].busy_until = job->tracks[li].cursor;
        break;
    }
    pthread_mutex_unlock(&job->lock);
    return 0;
}

static int write_transcripts(const struct transcript *t, const char *dir, const char *name,
                             const char *lang)
{
    static const enum transcript_format formats[] = {TRANSCRIPT_VTT, TRANSCRIPT_SRT,
                                                     TRANSCRIPT_TXT};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        char *path = bc_asprintf("%s/%s.%s.%s", dir, name, lang, transcript_format_ext(formats[i]));
        int rc = transcript_write_file(t, formats[i], path);
        if (rc < 0)
            cli_fail(CLI_EXIT_FAILURE, "cannot write %s", path);
        free(path);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int write_outputs(struct translate_job *job, const char *dir, int with_speech)
{
    int rc = write_transcripts(job->source, dir, job->name, PIPELINE_SOURCE_LANG);
    for (size_t i = 0; rc == 0 && i < job->n_langs; i++) {
        rc = write_transcripts(job->captions[i], dir, job->name, job->langs[i]);
        struct speech_track *t = &job->tracks[i];
        if (rc < 0 || !with_speech || t->n_samples == 0)
            continue;
        /* The track lasts at least as long as the input, so it lines up. */
        size_t input_samples = (size_t)(job->total_ms * job->sample_rate / MS_PER_SECOND);
        if (input_samples > t->n_samples) {
            t->cursor = t->n_samples;
            int16_t *silence = bc_calloc(input_samples - t->n_samples, sizeof *silence);
            track_write(t, silence, input_samples - t->n_samples);
            free(silence);
        }
        char *path = bc_asprintf("%s/%s.%s.wav", dir, job->name, job->langs[i]);
        rc = audio_write_wav(path, t->samples, t->n_samples, job->sample_rate);
        if (rc < 0)
            cli_fail(CLI_EXIT_FAILURE, "cannot write %s", path);
        else
            fprintf(stderr, "wrote %s (%.1f s)\n", path,
                    (double)t->n_samples / job->sample_rate);
        free(path);
    }
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: babelcast translate INPUT [--to LANGS] [--out DIR] [--glossary FILE]\n"
            "                           [--no-speech] [--mode MODE]\n"
            "\n"
            "Recognizes English speech in INPUT (WAV of any common encoding, or .raw PCM16\n"
            "16 kHz mono), translates each utterance and writes, per language, NAME.LANG.vtt,\n"
            ".srt, .txt and .wav (translated speech at the utterances' times), plus the\n"
            "English transcript NAME.en.vtt/.srt/.txt.\n"
            "\n"
            "  --to LANGS     comma-separated target languages (default %s);\n"
            "                 see babelcast languages\n"
            "  --out DIR      output directory, created when missing (default: the current one)\n"
            "  --glossary FILE  names and terms, one per line: TERM, then TAB-separated\n"
            "                 keep (never translated), LANG=TRANSLATION (as given in LANG)\n"
            "                 or sounds_like=WORDS; lines starting with # are comments\n"
            "  --no-speech    captions only, no synthesized audio\n"
            "  --mode MODE    sentence (default) or simultaneous: speak clauses as they\n"
            "                 settle, before each sentence ends\n"
            "  -q, --quiet    print nothing but errors\n",
            TRANSLATE_DEFAULT_LANGS);
}

/* The input's file name without directory and extension. */
static char *base_name(const char *path)
{
    char *copy = bc_strdup(path);
    char *name = bc_strdup(basename(copy));
    free(copy);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
    return name;
}

static int offered_lang(void *mt, const char *code, char out[LANG_CODE_MAX])
{
    const struct mt_language *l = mt_language_find(mt, code);
    if (!l)
        return BC_ENOTFOUND;
    snprintf(out, LANG_CODE_MAX, "%s", l->code);
    return 0;
}

/* Reads and parses the glossary file at path; 0 and *out, or the exit code
 * after saying what is wrong. */
static int load_glossary(const char *path, struct mt *mt, struct glossary **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_fail(CLI_EXIT_USAGE, "--glossary %s: %s", path, strerror(errno));
    char *text = bc_malloc(GLOSSARY_FILE_MAX + 1);
    size_t n = fread(text, 1, GLOSSARY_FILE_MAX + 1, f);
    int read_error = ferror(f);
    fclose(f);
    int rc = CLI_EXIT_OK;
    char err[GLOSSARY_ERROR_MAX];
    if (read_error)
        rc = cli_fail(CLI_EXIT_FAILURE, "--glossary %s: cannot read it", path);
    else if (n > GLOSSARY_FILE_MAX)
        rc = cli_fail(CLI_EXIT_USAGE, "--glossary %s: larger than %d bytes", path,
                      GLOSSARY_FILE_MAX);
    else if (glossary_parse_text(text, n, offered_lang, mt, out, err, sizeof err) < 0)
        rc = cli_fail(CLI_EXIT_USAGE, "--glossary %s: %s", path, err);
    free(text);
    return rc;
}

static int feed_all(struct pipeline *p, const struct audio_pcm *pcm, int show_progress)
{
    size_t chunk = AUDIO_SPEECH_RATE_HZ * TRANSLATE_CHUNK_MS / MS_PER_SECOND;
    for (size_t off = 0; off < pcm->n_samples; off += chunk) {
        size_t n = pcm->n_samples - off < chunk ? pcm->n_samples - off : chunk;
        int rc = pipeline_feed(p, pcm->samples + off, n);
        if (rc < 0)
            return rc;
        if (show_progress)
            fprintf(stderr, "\r%3d%%", (int)(100 * (off + n) / pcm->n_samples));
    }
    int rc = pipeline_flush(p);
    if (show_progress)
        fprintf(stderr, "\r%*s\r", 60, "");
    return rc;
}

int cli_translate(int argc, char **argv)
{
    static const struct option options[] = {
        {"to", required_argument, NULL, 't'},   {"out", required_argument, NULL, 'o'},
        {"no-speech", no_argument, NULL, 'n'},  {"quiet", no_argument, NULL, 'q'},
        {"mode", required_argument, NULL, 'm'}, {"glossary", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *to = TRANSLATE_DEFAULT_LANGS, *out_dir = ".", *glossary_path = NULL;
    int with_speech = 1, quiet = 0, opt;
    enum pipeline_mode mode = PIPELINE_SENTENCE;
    optind = 1;
    opterr = 0; /* one-line errors of our own below */
    while ((opt = getopt_long(argc, argv, "t:o:m:g:nqh", options, NULL)) != -1) {
        switch (opt) {
        case 't': to = optarg; break;
        case 'o': out_dir = optarg; break;
        case 'g': glossary_path = optarg; break;
        case 'n': with_speech = 0; break;
        case 'q': quiet = 1; break;
        case 'm':
            if (strcmp(optarg, "simultaneous") == 0)
                mode = PIPELINE_SIMULTANEOUS;
            else if (strcmp(optarg, "sentence") != 0)
                return cli_fail(CLI_EXIT_USAGE, "--mode is sentence or simultaneous; got '%s'",
                                optarg);
            break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_bad_option("translate", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_fail(CLI_EXIT_USAGE, "translate needs exactly one INPUT file (see --help)");
    const char *input = argv[optind];
    struct translate_job job = {0};
    int n_langs = cli_parse_langs(to, job.langs, CLI_LANGS_MAX);
    if (n_langs < 0)
        return cli_fail(CLI_EXIT_USAGE, "--to wants a list like es,ca,fr; got '%s'", to);
    job.n_langs = (size_t)n_langs;
    if (bc_mkdir_p(out_dir, OUT_DIR_MODE) < 0)
        return cli_fail(CLI_EXIT_FAILURE, "cannot create --out %s: %s", out_dir, strerror(errno));

    char err[512];
    struct audio_pcm pcm = {0};
    if (audio_load(input, AUDIO_SPEECH_RATE_HZ, &pcm, err, sizeof err) < 0)
        return cli_fail(CLI_EXIT_FAILURE, "%s", err);

    bc_log_set_level(quiet ? BC_LOG_ERROR : BC_LOG_WARN);
    struct pipeline_engines engines;
    struct asr_params asr_params;
    asr_default_params(&asr_params);
    asr_params.isolation = ASR_ISOLATION_IN_PROCESS; /* one stream: no process to share with */
    int exit_code = CLI_EXIT_FAILURE;
    struct pipeline *p = NULL;
    if (engines_open(&asr_params, with_speech, &engines) < 0) {
        audio_pcm_release(&pcm);
        return cli_fail(CLI_EXIT_FAILURE, "could not start the speech engines");
    }
    for (size_t i = 0; i < job.n_langs; i++) {
        const struct mt_language *lang = mt_language_find(engines.mt, job.langs[i]);
        if (!lang) {
            exit_code = cli_fail(CLI_EXIT_USAGE, "no translation into '%s' (see babelcast languages)",
                                 job.langs[i]);
            goto done;
        }
        snprintf(job.langs[i], CLI_LANG_LEN, "%s", lang->code);
        if (mt_prepare(engines.mt, lang->code) < 0) {
            cli_fail(CLI_EXIT_FAILURE, "the translator into %s did not start", lang->code);
            goto done;
        }
    }

    pthread_mutex_init(&job.lock, NULL);
    job.name = base_name(input);
    job.source = transcript_new(PIPELINE_SOURCE_LANG);
    for (size_t i = 0; i < job.n_langs; i++)
        job.captions[i] = transcript_new(job.langs[i]);
    job.show_progress = !quiet && isatty(STDERR_FILENO);
    job.total_ms = (int64_t)pcm.n_samples * MS_PER_SECOND / AUDIO_SPEECH_RATE_HZ;
    job.sample_rate = engines.tts ? tts_sample_rate(engines.tts) : 0;
    if (quiet && !freopen("/dev/null", "w", stdout))
        goto done;

    struct glossary *glossary = NULL;
    if (glossary_path && (exit_code = load_glossary(glossary_path, engines.mt, &glossary)) != 0)
        goto done;
    exit_code = CLI_EXIT_FAILURE;
    const char *lang_ptrs[CLI_LANGS_MAX];
    for (size_t i = 0; i < job.n_langs; i++)
        lang_ptrs[i] = job.langs[i];
    if (pipeline_new(&engines, lang_ptrs, job.n_langs, sink, &job, &p) < 0) {
        glossary_free(glossary);
        cli_fail(CLI_EXIT_FAILURE, "could not start speech recognition");
        goto done;
    }
    pipeline_set_mode(p, mode);
    pipeline_set_glossary(p, glossary);
    if (feed_all(p, &pcm, job.show_progress) < 0) {
        cli_fail(CLI_EXIT_FAILURE, "speech recognition failed on %s", input);
        goto done;
    }
    pipeline_wait_idle(p);
    if (write_outputs(&job, out_dir, with_speech) == 0)
        exit_code = CLI_EXIT_OK;
    if (transcript_count(job.source) == 0)
        fprintf(stderr, "babelcast: no speech recognized in %s\n", input);
done:
    pipeline_free(p);
    engines_close(&engines);
    audio_pcm_release(&pcm);
    if (job.source) {
        pthread_mutex_destroy(&job.lock);
        transcript_free(job.source);
    }
    for (size_t i = 0; i < job.n_langs; i++) {
        transcript_free(job.captions[i]);
        free(job.tracks[i].samples);
    }
    free((char *)job.name);
    return exit_code;
}

/* MT engine against the installed Apertium pairs: discovery, translations,
 * stream escaping, stage crashes, timeouts, threads, no leaked children/fds. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/mt.h"
#include "test.h"
#include "util/err.h"

#define MODES_DIR "/usr/share/apertium/modes"
#define MAX_STAGES 32
#define THREADS 4
#define SHORT_TIMEOUT_MS 300

static char *translate(struct mt *mt, const char *code, const char *text)
{
    char *out = NULL;
    int rc = mt_translate(mt, code, text, &out);
    if (rc != 0)
        TEST_FAIL_("mt_translate(%s, \"%s\") returned %d (%s)", code, text, rc, bc_strerror(rc));
    return out;
}

/* Clean output: no marks, no double or edge blanks. */
static void assert_clean(const char *out)
{
    size_t n = strlen(out);
    ASSERT(n == 0 || (out[0] != ' ' && out[n - 1] != ' '));
    ASSERT(!strstr(out, "  "));
    ASSERT(!strchr(out, '\n'));
    for (const char *p = out; *p; p++)
        if (p == out || p[-1] == ' ')
            if (*p == '*' || *p == '#' || *p == '@')
                TEST_FAIL_("word mark in \"%s\"", out);
}

static void expect(struct mt *mt, const char *code, const char *text, const char *w1,
                   const char *w2)
{
    char *out = translate(mt, code, text);
    printf("  %-11s %-38s -> %s\n", code, text, out);
    assert_clean(out);
    ASSERT_STR_CONTAINS(out, w1);
    if (w2)
        ASSERT_STR_CONTAINS(out, w2);
    /* The period added for Apertium must not show. */
    ASSERT(out[strlen(out) - 1] != '.');
    free(out);
}

static size_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    size_t n = 0;
    ASSERT(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int pid_gone(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static void test_discovery(struct mt *mt)
{
    const char *required[] = {"ca", "eo", "es", "fr", "gl", "it", "pt"};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        ASSERT(mt_language_find(mt, required[i]));
    for (size_t i = 0; i < mt_language_count(mt); i++) {
        const struct mt_language *l = mt_language_at(mt, i);
        printf("  %-11s %-21s %-16s %s\n", l->code, l->name, l->mode, l->pivot_mode);
        if (i > 0)
            ASSERT_LT(strcmp(mt_language_at(mt, i - 1)->code, l->code), 0);
        ASSERT(!strchr(l->mode, '-') || !strchr(strchr(l->mode, '-') + 1, '-'));
        ASSERT(strcmp(l->code, "en") != 0);
    }
    ASSERT(mt_language_at(mt, mt_language_count(mt)) == NULL);
    const struct mt_language *es = mt_language_find(mt, "es");
    ASSERT_STR_EQ(es->name, "Spanish");
    ASSERT_STR_EQ(es->mode, "eng-spa");
    ASSERT_STR_EQ(es->pivot_mode, "");
    ASSERT(mt_language_find(mt, "spa") == es);
    ASSERT(mt_language_find(mt, "ES") == es);
    const struct mt_language *fr = mt_language_find(mt, "fr");
    ASSERT_STR_EQ(fr->name, "French");
    ASSERT_STR_EQ(fr->mode, "eng-spa");
    ASSERT_STR_EQ(fr->pivot_mode, "es-fr");
    /* Direct pairs win over pivots. */
    ASSERT_STR_EQ(mt_language_find(mt, "ca")->mode, "eng-cat");
    ASSERT_STR_EQ(mt_language_find(mt, "ca")->pivot_mode, "");
    ASSERT_STR_EQ(mt_language_find(mt, "gl")->mode, "en-gl");
    ASSERT_STR_EQ(mt_language_find(mt, "eo")->mode, "en-eo");
    ASSERT_STR_EQ(mt_language_find(mt, "it")->pivot_mode, "spa-ita");
    ASSERT_STR_EQ(mt_language_find(mt, "pt")->name, "Portuguese");
    if (mt_language_find(mt, "pt_BR")) {
        ASSERT(mt_language_find(mt, "pt-br") == mt_language_find(mt, "pt_BR"));
        ASSERT(mt_language_find(mt, "por_BR") == mt_language_find(mt, "pt_BR"));
        ASSERT_STR_EQ(mt_language_find(mt, "pt_BR")->name, "Brazilian Portuguese");
    }
    ASSERT(mt_language_find(mt, "xx") == NULL);
    ASSERT(mt_language_find(mt, "en") == NULL);
    ASSERT(mt_language_find(mt, "") == NULL);
    ASSERT(mt_language_find(mt, NULL) == NULL);
    ASSERT(mt_language_find(mt, "eng-spa") == NULL);
    ASSERT(mt_language_find(mt, "ca_iec2017") == NULL); /* an orthography, not a language */
}

static void test_translations(struct mt *mt)
{
    static const struct {
        const char *code, *text, *w1, *w2;
    } cases[] = {
        {"es", "the house is big", "casa", "grande"},
        {"es", "the dog eats the bread", "perro", "pan"},
        {"es", "he was not an ill disposed young man", "hombre", "joven"},
        {"es", "good morning my friends", "días", "amigos"},
        {"es", "i think the water is cold", "Pienso", "agua"},
        {"ca", "the house is big", "casa", "gran"},
        {"ca", "the dog eats the bread", "gos", "pa"},
        {"ca", "good morning my friends", "bon dia", "amics"},
        {"gl", "the house is big", "casa", "grande"},
        {"gl", "the dog eats the bread", "can", "pan"},
        {"eo", "the house is big", "domo", "granda"},
        {"eo", "the dog eats the bread", "hundo", "panon"},
        {"eo", "good morning my friends", "amikoj", NULL},
        {"fr", "the house is big", "maison", "grande"},
        {"fr", "the dog eats the bread", "chien", "pain"},
        {"fr", "good morning my friends", "amis", NULL},
        {"it", "the house is big", "casa", "grande"},
        {"it", "the dog eats the bread", "cane", "pane"},
        {"pt", "the house is big", "casa", "grande"},
        {"pt", "the dog eats the bread", "cão", "pão"},
        {"pt", "he was not an ill disposed young man", "homem", "jovem"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect(mt, cases[i].code, cases[i].text, cases[i].w1, cases[i].w2);

    /* Optional pairs: only when installed. */
    static const struct {
        const char *code, *w1;
    } optional[] = {{"an", "casa"},      {"ast", "casa"},   {"oc", "ostal"},
                    {"oc_aran", "casa"}, {"pt_BR", "casa"}, {"ca_valencia", "casa"}};
    for (size_t i = 0; i < sizeof optional / sizeof *optional; i++)
        if (mt_language_find(mt, optional[i].code))
            expect(mt, optional[i].code, "the house is big", optional[i].w1, NULL);

    /* Punctuation the speaker gave is kept. */
    char *out = translate(mt, "es", "the house is big.");
    ASSERT_STR_EQ(out, "La casa es grande.");
    free(out);
    out = translate(mt, "fr", "is the house big?");
    ASSERT_STR_CONTAINS(out, "maison");
    ASSERT_EQ(out[strlen(out) - 1], '?');
    free(out);
    /* Control characters and odd blanks are only blanks. */
    out = translate(mt, "es", "\tthe  house\r\nis\x01 big \x7f");
    ASSERT_STR_EQ(out, "La casa es grande");
    free(out);
    /* Invalid UTF-8 is dropped, valid multi-byte text survives. */
    out = translate(mt, "es", "the \xff\xfehouse is big caf\xc3\xa9");
    ASSERT_STR_CONTAINS(out, "casa");
    ASSERT(!strchr(out, '\xff'));
    free(out);
}

static void test_empty_and_errors(struct mt *mt)
{
    char *out = NULL;
    ASSERT_OK(mt_translate(mt, "es", "", &out));
    ASSERT_STR_EQ(out, "");
    free(out);
    out = NULL;
    ASSERT_OK(mt_translate(mt, "fr", " \t\n ", &out));
    ASSERT_STR_EQ(out, "");
    free(out);
    out = NULL;
    ASSERT_EQ(mt_translate(mt, "xx", "the house", &out), BC_ENOTFOUND);
    ASSERT_EQ(mt_translate(mt, "en", "the house", &out), BC_ENOTFOUND);
    ASSERT_EQ(mt_translate(mt, NULL, "the house", &out), BC_ENOTFOUND);
    ASSERT_EQ(mt_translate(mt, "es", NULL, &out), BC_EINVAL);
    ASSERT(out == NULL);
    ASSERT_EQ(mt_prepare(mt, "xx"), BC_ENOTFOUND);
}

/* Every stream-format character, alone and together: no error, the
 * character comes back, and the same pipeline (same pids: no respawn)
 * keeps translating correctly. */
static void test_special_chars(struct mt *mt)
{
    const char *specials = "\\[]^$/<>@{}";
    const char *codes[] = {"es", "fr"};
    for (size_t c = 0; c < 2; c++) {
        ASSERT_OK(mt_prepare(mt, codes[c]));
        pid_t before[MAX_STAGES], after[MAX_STAGES];
        size_t n = mt_debug_pids(mt, "eng-spa", before, MAX_STAGES);
        ASSERT_GT(n, 0);
        for (const char *s = specials; *s; s++) {
            char text[64];
            snprintf(text, sizeof text, "the house x%cy is big", *s);
            char *out = translate(mt, codes[c], text);
            char special[2] = {*s, '\0'};
            ASSERT_STR_CONTAINS(out, special);
            free(out);
            out = translate(mt, codes[c], "the house is big");
            ASSERT_STR_CONTAINS(out, c == 0 ? "La casa es grande" : "La maison est grande");
            free(out);
        }
        char *out = translate(mt, codes[c], "a\\b[c]d^e$f/g<h>i@j{k}l [ ] \\ ^$ </> {@}");
        ASSERT_STR_CONTAINS(out, "[c]d^");
        ASSERT_STR_CONTAINS(out, "$f/g<h>i@j{k}l [ ] \\ ^$ </> {@}");
        free(out);
        out = translate(mt, codes[c], "\\");
        ASSERT_STR_EQ(out, "\\");
        free(out);
        out = translate(mt, codes[c], "the dog eats the bread");
        ASSERT_STR_CONTAINS(out, c == 0 ? "perro" : "chien");
        free(out);
        ASSERT_EQ(mt_debug_pids(mt, "eng-spa", after, MAX_STAGES), n);
        ASSERT(memcmp(before, after, n * sizeof *before) == 0);
    }
}

/* SIGKILL one stage (first, middle, last): the next translation respawns. */
static void test_stage_crash(struct mt *mt, const char *code, const char *mode, const char *word)
{
    ASSERT_OK(mt_prepare(mt, code));
    pid_t before[MAX_STAGES], after[MAX_STAGES];
    size_t n = mt_debug_pids(mt, mode, before, MAX_STAGES);
    ASSERT_GE(n, 3);
    size_t victims[] = {0, n / 2, n - 1};
    /* A new sentence each time: a repeated one is answered from the last
     * exchange without touching the pipeline. */
    static const char *const sentences[] = {"the house is big", "the house is small",
                                            "the house is new"};
    for (size_t v = 0; v < 3; v++) {
        ASSERT_EQ(mt_debug_pids(mt, mode, before, MAX_STAGES), n);
        for (size_t i = 0; i < n; i++)
            ASSERT_GT(before[i], 0);
        ASSERT_OK(kill(before[victims[v]], SIGKILL));
        char *out = translate(mt, code, sentences[v]);
        ASSERT_STR_CONTAINS(out, word);
        free(out);
        ASSERT_EQ(mt_debug_pids(mt, mode, after, MAX_STAGES), n);
        for (size_t i = 0; i < n; i++) {
            ASSERT_GT(after[i], 0);
            ASSERT_NE(after[i], before[i]);
            ASSERT(pid_gone(before[i])); /* killed and reaped: no zombie */
        }
    }
}

struct job {
    const char *code, *text;
    char *expected;
};

static const char *const job_texts[] = {
    "the house is big",          "good morning my friends",
    "the dog eats the bread",    "he was not an ill disposed young man",
    "i think the water is cold",
};
static const char *const job_codes[] = {"es", "fr", "ca", "eo", "it"};
#define JOBS (5 * 5)
#define JOB_ROUNDS 4

struct worker {
    struct mt *mt;
    struct job *jobs;
    size_t offset;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (size_t r = 0; r < JOB_ROUNDS * JOBS; r++) {
        struct job *j = &w->jobs[(r + w->offset) % JOBS];
        char *out = NULL;
        if (mt_translate(w->mt, j->code, j->text, &out) != 0 || strcmp(out, j->expected) != 0)
            w->failures++;
        free(out);
    }
    return NULL;
}

static void test_threads(struct mt *mt)
{
    struct job jobs[JOBS];
    for (size_t i = 0; i < JOBS; i++) {
        jobs[i].code = job_codes[i % 5];
        jobs[i].text = job_texts[i / 5];
        jobs[i].expected = translate(mt, jobs[i].code, jobs[i].text);
    }
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    for (size_t t = 0; t < THREADS; t++) {
        /* Different languages at once, all but two sharing eng-spa. */
        workers[t] = (struct worker){mt, jobs, t * 3, 0};
        ASSERT_OK(pthread_create(&threads[t], NULL, worker_main, &workers[t]));
    }
    for (size_t t = 0; t < THREADS; t++) {
        ASSERT_OK(pthread_join(threads[t], NULL));
        ASSERT_EQ(workers[t].failures, 0);
    }
    for (size_t i = 0; i < JOBS; i++)
        free(jobs[i].expected);
}

/* A private modes directory: filtering, broken modes, hanging stages. */
static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fputs(text, f);
    fclose(f);
    ASSERT_OK(chmod(path, mode));
}

static void test_private_dir(void)
{
    char dir[512], bin[600], path[700];
    snprintf(dir, sizeof dir, "%s/test_mt_XXXXXX", TEST_BUILD_DIR);
    ASSERT(mkdtemp(dir));
    struct mt_params params;
    mt_default_params(&params);
    params.modes_dir = dir;
    struct mt *mt = NULL;
    ASSERT_EQ(mt_new(&params, &mt), BC_ENOTFOUND); /* empty */

    /* Real pairs under names that must be taken or skipped. */
    static const char *const links[][2] = {
        {"eng-spa", "eng-spa"},
        {"es-fr", "es-fr"},
        {"es-pt", "es-gl"},
        {"en-gl", "en-gl"},
        {"es-pt", "spa-por_BR"},
        {"en-eo", "en-eo-bytecode"},
        {"eng-cat", "eng-cat_iec2017"},
        {"spa-ast", "spa-ast-old"},
        {"eng-spa", "spa-eng"},
        {"es-fr", "eco-es-fr"},
    };
    for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
        char target[300];
        snprintf(target, sizeof target, "%s/%s.mode", MODES_DIR, links[i][0]);
        snprintf(path, sizeof path, "%s/%s.mode", dir, links[i][1]);
        ASSERT_OK(symlink(target, path));
    }
    /* Unusable modes: a stage without null-flush, shell syntax, a missing
     * data file (spawns but dies), a stage that never answers. */
    snprintf(bin, sizeof bin, "%s/bin", dir);
    ASSERT_OK(mkdir(bin, 0755));
    snprintf(path, sizeof path, "%s/lt-proc", bin);
    write_file(path, "#!/bin/sh\nexec sleep 3600\n", 0755);
    snprintf(path, sizeof path, "%s/eng-deu.mode", dir);
    write_file(path, "vislcg3 -g 'x.rlx'\n", 0644);
    snprintf(path, sizeof path, "%s/eng-nld.mode", dir);
    write_file(path, "lt-proc 'a.bin' > /tmp/x | lt-proc 'b.bin'\n", 0644);
    snprintf(path, sizeof path, "%s/eng-ron.mode", dir);
    write_file(path, "apertium-destxt | lt-proc \"missing.bin\" | apertium-retxt\n", 0644);
    snprintf(path, sizeof path, "%s/eng-ita.mode", dir);
    snprintf(bin + strlen(bin), sizeof bin - strlen(bin), "/lt-proc");
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fprintf(f, "'%s' $1 'x.bin'\n", bin);
    fclose(f);

    size_t fds = count_fds();
    params.read_timeout_ms = SHORT_TIMEOUT_MS;
    ASSERT_OK(mt_new(&params, &mt));
    const char *want[] = {"es", "fr", "gl", "it", "pt_BR", "ro"};
    ASSERT_EQ(mt_language_count(mt), sizeof want / sizeof *want);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        ASSERT_STR_EQ(mt_language_at(mt, i)->code, want[i]);
    ASSERT_STR_EQ(mt_language_find(mt, "gl")->mode, "en-gl"); /* not es-gl */
    ASSERT_STR_EQ(mt_language_find(mt, "pt_BR")->pivot_mode, "spa-por_BR");
    ASSERT_STR_EQ(mt_language_find(mt, "ro")->name, "Romanian");

    char *out = NULL;
    ASSERT_EQ(mt_translate(mt, "ro", "the house is big", &out), BC_EENGINE);
    ASSERT_EQ(mt_prepare(mt, "ro"), BC_EENGINE);
    ASSERT_EQ(mt_translate(mt, "it", "the house is big", &out), BC_ETIMEDOUT);
    ASSERT(out == NULL);
    out = translate(mt, "pt_BR", "the house is big");
    ASSERT_STR_CONTAINS(out, "casa");
    free(out);

    pid_t pids[MAX_STAGES];
    size_t n = mt_debug_pids(mt, "eng-spa", pids, MAX_STAGES);
    ASSERT_GT(n, 0);
    mt_free(mt);
    for (size_t i = 0; i < n; i++)
        ASSERT(pid_gone(pids[i]));
    ASSERT_EQ(count_fds(), fds);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_OK(system(cmd));
    params.modes_dir = dir; /* now missing */
    ASSERT_EQ(mt_new(&params, &mt), BC_ENOTFOUND);
}

int main(void)
{
    size_t fds = count_fds();
    struct mt *mt = NULL;
    ASSERT_OK(mt_new(NULL, &mt));
    printf("languages:\n");
    test_discovery(mt);
    printf("translations:\n");
    test_translations(mt);
    test_empty_and_errors(mt);
    test_special_chars(mt);
    test_stage_crash(mt, "es", "eng-spa", "casa");
    test_stage_crash(mt, "fr", "es-fr", "maison");
    test_stage_crash(mt, "ca", "eng-cat", "casa");
    test_threads(mt);

    pid_t pids[MAX_STAGES];
    size_t n = mt_debug_pids(mt, "eng-cat", pids, MAX_STAGES);
    ASSERT_GT(n, 0);
    ASSERT_EQ(mt_debug_pids(mt, "no-such", pids, MAX_STAGES), 0);
    n = mt_debug_pids(mt, "eng-cat", pids, MAX_STAGES);
    mt_free(mt);
    mt_free(NULL);
    for (size_t i = 0; i < n; i++)
        ASSERT(pid_gone(pids[i]));
    ASSERT_EQ(count_fds(), fds);

    test_private_dir();
    printf("mt: all tests passed\n");
    return 0;
}

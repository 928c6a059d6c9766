/* The spool: committed files reach the store in key order, a failing store
 * delays them (nothing lost, nothing skipped), a permanent refusal is set
 * aside, a reopened spool resumes, a file is deleted only once stored. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/spool.h"
#include "test.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define WAIT_MS 20000
#define KEYS_MAX 32

/* A fake store: fails while `failing` is set, refuses keys containing
 * "bad" for good, records what it got. */
struct store {
    pthread_mutex_t lock;
    int failing;
    int attempts;
    char keys[KEYS_MAX][SPOOL_KEY_MAX];
    char bodies[KEYS_MAX][64];
    int n;
};

static int upload(void *ctx, const char *key, const char *path, const atomic_int *cancel)
{
    struct store *st = ctx;
    pthread_mutex_lock(&st->lock);
    st->attempts++;
    int rc = st->failing ? BC_EIO : strstr(key, "bad") ? BC_EINVAL : 0;
    if (rc == 0 && st->n < KEYS_MAX) {
        snprintf(st->keys[st->n], SPOOL_KEY_MAX, "%s", key);
        FILE *f = fopen(path, "rb");
        ASSERT(f);
        size_t len = fread(st->bodies[st->n], 1, sizeof st->bodies[0] - 1, f);
        st->bodies[st->n][len] = '\0';
        fclose(f);
        st->n++;
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static void put(struct spool *s, const char *key, const char *body)
{
    char *path = spool_begin(s);
    FILE *f = fopen(path, "wb");
    ASSERT(f);
    fputs(body, f);
    fclose(f);
    ASSERT_OK(spool_commit(s, path, key));
    free(path);
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int main(void)
{
    bc_log_set_level(BC_LOG_QUIET);
    ASSERT(spool_key_valid("abc/en/000001.wav"));
    ASSERT(spool_key_valid("s/transcript.pt_BR.vtt"));
    const char *bad_keys[] = {"", "/a", "a/", "a//b", "../a", "a/.hidden", "a b", "a+b", "é"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++)
        if (spool_key_valid(bad_keys[i]))
            TEST_FAIL_("accepted key '%s'", bad_keys[i]);

    char dir[] = "/tmp/bc_spool_XXXXXX";
    ASSERT(mkdtemp(dir));
    struct store st = {.failing = 1};
    pthread_mutex_init(&st.lock, NULL);
    struct spool_params p;
    spool_default_params(&p);
    p.backoff_min_ms = 10;
    p.backoff_max_ms = 40;
    p.max_attempts = 2;
    p.threads = 1; /* one uploader: a strict key order to check */

    /* The store is down: commits pile up in ready/, attempts go on. */
    struct spool *s;
    ASSERT_OK(spool_open(dir, &p, upload, &st, &s));
    put(s, "sess/es/000001.wav", "one");
    put(s, "sess/es/000000.wav", "zero");
    char *tmp = spool_begin(s);
    FILE *f = fopen(tmp, "wb");
    fclose(f);
    ASSERT_EQ(spool_commit(s, tmp, "bad key"), BC_EINVAL);
    ASSERT(access(tmp, F_OK) != 0); /* removed */
    free(tmp);
    int64_t deadline = bc_now_us() + (int64_t)WAIT_MS * 1000;
    for (;;) {
        pthread_mutex_lock(&st.lock);
        int attempts = st.attempts;
        pthread_mutex_unlock(&st.lock);
        if (attempts >= 3)
            break;
        ASSERT(bc_now_us() < deadline);
        bc_sleep_us(5000);
    }
    struct spool_stats stats;
    spool_stats(s, &stats);
    ASSERT_EQ(stats.pending, 2);
    ASSERT_GE(stats.failures, 3);
    ASSERT_EQ(stats.uploaded, 0);
    ASSERT_EQ(spool_wait_empty(s, 50), BC_ETIMEDOUT);

    /* Closed while down: the files stay; a leftover in tmp/ goes at open. */
    spool_close(s);
    char ready[64], failed[64], tmp_dir[64];
    snprintf(ready, sizeof ready, "%s/ready", dir);
    snprintf(failed, sizeof failed, "%s/failed", dir);
    snprintf(tmp_dir, sizeof tmp_dir, "%s/tmp", dir);
    ASSERT_EQ(count_files(ready), 2);
    char leftover[96];
    snprintf(leftover, sizeof leftover, "%s/half-written", tmp_dir);
    f = fopen(leftover, "wb");
    fclose(f);

    /* Reopened with the store back: everything arrives, in key order. */
    pthread_mutex_lock(&st.lock);
    st.failing = 0;
    pthread_mutex_unlock(&st.lock);
    ASSERT_OK(spool_open(dir, &p, upload, &st, &s));
    ASSERT_EQ(count_files(tmp_dir), 0);
    put(s, "sess/transcript.es.vtt", "vtt");
    put(s, "sess/bad/object", "refused");
    ASSERT_OK(spool_wait_empty(s, WAIT_MS));
    pthread_mutex_lock(&st.lock);
    ASSERT_EQ(st.n, 3);
    ASSERT_STR_EQ(st.keys[0], "sess/es/000000.wav");
    ASSERT_STR_EQ(st.bodies[0], "zero");
    ASSERT_STR_EQ(st.keys[1], "sess/es/000001.wav");
    ASSERT_STR_EQ(st.bodies[1], "one");
    ASSERT_STR_EQ(st.keys[2], "sess/transcript.es.vtt");
    pthread_mutex_unlock(&st.lock);
    spool_stats(s, &stats);
    ASSERT_EQ(stats.pending, 0);
    ASSERT_EQ(stats.uploaded, 3);
    ASSERT_EQ(stats.given_up, 1);
    ASSERT_EQ(count_files(ready), 0);
    ASSERT_EQ(count_files(failed), 1); /* the refused one, kept for the operator */

    /* The same key again is uploaded again (stores overwrite it). */
    put(s, "sess/es/000000.wav", "zero again");
    ASSERT_OK(spool_wait_empty(s, WAIT_MS));
    pthread_mutex_lock(&st.lock);
    ASSERT_EQ(st.n, 4);
    ASSERT_STR_EQ(st.bodies[3], "zero again");
    pthread_mutex_unlock(&st.lock);
    spool_close(s);

    /* Files that spool_commit never wrote in ready/ (put there by hand, a
     * directory, a name that is no key's) are set aside in failed/ at the
     * next open, never uploaded; the spooled ones still go. */
    const char *strays[] = {"a b", "+lead", "x++y", "trail+"};
    char stray[128];
    for (size_t i = 0; i < sizeof strays / sizeof strays[0]; i++) {
        snprintf(stray, sizeof stray, "%s/%s", ready, strays[i]);
        f = fopen(stray, "wb");
        ASSERT(f);
        fclose(f);
    }
    snprintf(stray, sizeof stray, "%s/late+es+000001.wav", ready);
    f = fopen(stray, "wb");
    ASSERT(f);
    fputs("late", f);
    fclose(f);
    snprintf(stray, sizeof stray, "%s/subdir", ready);
    ASSERT_EQ(mkdir(stray, 0700), 0);
    ASSERT_OK(spool_open(dir, &p, upload, &st, &s));
    ASSERT_OK(spool_wait_empty(s, WAIT_MS));
    spool_stats(s, &stats);
    ASSERT_EQ(stats.given_up, 5);
    ASSERT_EQ(stats.uploaded, 1);
    spool_close(s);
    pthread_mutex_lock(&st.lock);
    ASSERT_EQ(st.n, 5);
    ASSERT_STR_EQ(st.keys[4], "late/es/000001.wav");
    ASSERT_STR_EQ(st.bodies[4], "late");
    pthread_mutex_unlock(&st.lock);
    ASSERT_EQ(count_files(ready), 0);
    ASSERT_EQ(count_files(failed), 6);

    /* Several uploaders: every file arrives once. */
    p.threads = 4;
    pthread_mutex_lock(&st.lock);
    st.n = 0;
    pthread_mutex_unlock(&st.lock);
    ASSERT_OK(spool_open(dir, &p, upload, &st, &s));
    char key[64], body[16];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "many/es/%06d.wav", i);
        snprintf(body, sizeof body, "%d", i);
        put(s, key, body);
    }
    ASSERT_OK(spool_wait_empty(s, WAIT_MS));
    spool_close(s);
    pthread_mutex_lock(&st.lock);
    ASSERT_EQ(st.n, 20);
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "many/es/%06d.wav", i);
        int seen = 0;
        for (int j = 0; j < st.n; j++)
            seen += strcmp(st.keys[j], key) == 0 && atoi(st.bodies[j]) == i;
        ASSERT_EQ(seen, 1);
    }
    pthread_mutex_unlock(&st.lock);

    ASSERT_EQ(spool_open(dir, &p, NULL, &st, &s), BC_EINVAL);
    p.threads = 0;
    ASSERT_EQ(spool_open(dir, &p, upload, &st, &s), BC_EINVAL);
    char *cmd = malloc(strlen(dir) + 16);
    sprintf(cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
    free(cmd);
    pthread_mutex_destroy(&st.lock);
    printf("spool: all passed\n");
    return 0;
}

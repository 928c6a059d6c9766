/* The session registry on a real redis-server: the shared cases
 * (session_cases.h), then what a multi-process deployment relies on: two
 * registries on one Redis see each other's sessions, limits and listener
 * counts; fenced captions; hashed tokens and hash-tagged keys; Redis killed
 * with -9 (every call fails promptly) and restarted from its append-only
 * file with the data intact. */
#include <openssl/evp.h>
#include <stdarg.h>

#include "redis_fixture.h"
#include "session_cases.h"

#define FENCE_KEY_FMT "bc:{%s}:fence"
#define INFO_KEY_FMT "bc:{%s}:info"
/* A call while Redis is down must fail well within this (the connection
 * timeout is 2 s; a dead server refuses at once). */
#define DOWN_CALL_MAX_US (5 * 1000 * 1000)
#define RECONNECT_WAIT_US (15 * 1000 * 1000)
#define RECONNECT_STEP_US 20000

static struct redis_fixture fx;

/* One command on a connection of the test's own; exits on failure. */
static redisReply *raw(const char *fmt, ...)
{
    redisContext *c = redisConnect("127.0.0.1", fx.port);
    if (!c || c->err)
        TEST_FAIL_("cannot reach redis on %d", fx.port);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    if (!r || r->type == REDIS_REPLY_ERROR)
        TEST_FAIL_("raw command %s failed: %s", fmt, r ? r->str : "no reply");
    return r;
}

static void raw_ok(const char *fmt, const char *a, const char *b)
{
    freeReplyObject(raw(fmt, a, b));
}

static struct session_registry *open_limits(int max_sessions, int max_listeners)
{
    struct session_limits limits;
    session_default_limits(&limits);
    if (max_sessions)
        limits.max_sessions = max_sessions;
    if (max_listeners)
        limits.max_listeners_per_session = max_listeners;
    struct session_registry *reg;
    ASSERT_OK(session_registry_open_url(fx.url, &limits, &reg));
    return reg;
}

/* A fresh registry: everything in Redis is dropped first. */
static struct session_registry *open_fresh(int max_sessions, int max_listeners)
{
    freeReplyObject(raw("FLUSHALL"));
    return open_limits(max_sessions, max_listeners);
}

/* Retention: at the end every key of the session gets the retention as
 * its expiry, captions stored after the end too, and once it passes the
 * session is gone. */
#define RETENTION_TEST_MS 1500
#define EXPIRY_WAIT_US (30 * 1000 * 1000)
static void test_retention_expiry(void)
{
    freeReplyObject(raw("FLUSHALL"));
    struct session_limits limits;
    session_default_limits(&limits);
    limits.retention_ms = RETENTION_TEST_MS;
    struct session_registry *reg;
    ASSERT_OK(session_registry_open_url(fx.url, &limits, &reg));
    struct session_info info, got;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    ASSERT_OK(session_add_caption(reg, info.id, "es", 0, 0, 900, "hola", "hello"));
    redisReply *ttl = raw("PTTL " INFO_KEY_FMT, info.id);
    ASSERT_EQ(ttl->integer, -1); /* live: no expiry */
    freeReplyObject(ttl);
    ASSERT_OK(session_end(reg, info.id, token));
    /* The last words are stored after the end. */
    ASSERT_OK(session_add_caption(reg, info.id, "ca", 0, 0, 900, "hola", "hello"));
    const char *keys[] = {"bc:{%s}:info", "bc:{%s}:captions:es", "bc:{%s}:captions:ca",
                          "bc:{%s}:langs"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char key[128];
        snprintf(key, sizeof key, keys[i], info.id);
        ttl = raw("PTTL %s", key);
        ASSERT_GT(ttl->integer, 0);
        ASSERT_LE(ttl->integer, RETENTION_TEST_MS);
        freeReplyObject(ttl);
    }
    int64_t deadline = bc_now_us() + EXPIRY_WAIT_US;
    while (session_get(reg, info.id, &got) == 0 && bc_now_us() < deadline)
        bc_sleep_us(RECONNECT_STEP_US);
    ASSERT_EQ(session_get(reg, info.id, &got), BC_ENOTFOUND);
    redisReply *left = raw("KEYS bc:{%s}:*", info.id);
    ASSERT_EQ(left->elements, 0);
    freeReplyObject(left);
    session_registry_close(reg);
}

/* Two gateways: one Redis, one registry each. */
static void test_two_handles(void)
{
    struct session_registry *a = open_fresh(2, 3);
    struct session_registry *b = open_limits(2, 3);
    struct session_info info, got, other;
    char token[SESSION_TOKEN_LEN + 1], other_token[SESSION_TOKEN_LEN + 1];
    create(a, &info, token);
    ASSERT_OK(session_get(b, info.id, &got));
    ASSERT_STR_EQ(got.source, "en");
    ASSERT_EQ(got.created_ms, info.created_ms);
    ASSERT_OK(session_check_token(b, info.id, token));

    /* max_sessions counts the sessions of every process. */
    create(b, &other, other_token);
    char scratch[SESSION_TOKEN_LEN + 1];
    ASSERT_EQ(session_create(a, "en", NULL, 0, &got, scratch), BC_ELIMIT);
    char ids[3][SESSION_ID_LEN + 1];
    ASSERT_EQ(session_list_live(a, ids, 3), 2);

    /* Listener counts are summed over both, and so is the limit. */
    ASSERT_OK(session_listener_join(a, info.id, "es"));
    ASSERT_OK(session_listener_join(a, info.id, "es"));
    ASSERT_OK(session_listener_join(b, info.id, "es"));
    ASSERT_EQ(session_listener_join(b, info.id, "ca"), BC_ELIMIT);
    ASSERT_EQ(session_listener_join(a, info.id, "es"), BC_ELIMIT);
    char langs[4][SESSION_LANG_LEN];
    int counts[4];
    ASSERT_EQ(session_listener_counts(a, info.id, langs, counts, 4), 1);
    ASSERT_STR_EQ(langs[0], "es");
    ASSERT_EQ(counts[0], 3);
    session_listener_leave(b, info.id, "es");
    ASSERT_OK(session_listener_join(b, info.id, "ca"));
    ASSERT_EQ(session_listener_counts(a, info.id, langs, counts, 4), 2);
    ASSERT_EQ(count_of(langs, counts, 2, "es"), 2);
    ASSERT_EQ(count_of(langs, counts, 2, "ca"), 1);

    /* A caption written by one is a replay for the other. */
    ASSERT_EQ(session_add_caption(a, info.id, "es", 0, 0, 900, "hola", "hello"), 0);
    ASSERT_EQ(session_add_caption(b, info.id, "es", 0, 0, 900, "hola", "hello"), 1);
    struct transcript *t;
    ASSERT_OK(session_transcript(b, info.id, "es", &t));
    ASSERT_EQ(transcript_count(t), 1);
    ASSERT_STR_EQ(transcript_cue_at(t, 0)->text, "hola");
    transcript_free(t);

    /* The catalog a worker publishes is what a gateway reads. */
    ASSERT_OK(session_catalog_set(b, "{\"targets\":[\"es\",\"ca\"]}"));
    char *json;
    ASSERT_OK(session_catalog_get(a, &json));
    ASSERT_STR_EQ(json, "{\"targets\":[\"es\",\"ca\"]}");
    free(json);

    /* Ending on one is seen by the other, and frees a place for both. */
    ASSERT_OK(session_end(b, info.id, token));
    ASSERT_OK(session_get(a, info.id, &got));
    ASSERT_EQ(got.state, SESSION_ENDED);
    ASSERT_EQ(session_end(a, info.id, NULL), BC_ESTATE);
    ASSERT_EQ(session_listener_join(a, info.id, "es"), BC_ESTATE);
    ASSERT_OK(session_create(a, "en", NULL, 0, &got, scratch));
    session_registry_close(a);
    session_registry_close(b);
}

static void test_fencing(void)
{
    struct session_registry *reg = open_fresh(0, 0);
    struct session_info info;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    char key[64];
    snprintf(key, sizeof key, FENCE_KEY_FMT, info.id);

    /* No lease granted yet: any fence writes. */
    ASSERT_EQ(session_add_caption_fenced(reg, info.id, "es", 0, 0, 900, "cero", "zero", 3), 0);

    raw_ok("SET %s %s", key, "5");
    ASSERT_EQ(session_add_caption_fenced(reg, info.id, "es", 1, 900, 1800, "viejo", "old", 4),
              BC_ESTATE);
    struct transcript *t;
    ASSERT_OK(session_transcript(reg, info.id, "es", &t));
    ASSERT_EQ(transcript_count(t), 1); /* nothing stored */
    transcript_free(t);
    ASSERT_EQ(session_add_caption_fenced(reg, info.id, "es", 1, 900, 1800, "uno", "one", 5), 0);
    ASSERT_EQ(session_add_caption_fenced(reg, info.id, "es", 2, 1800, 2700, "dos", "two", 6), 0);
    /* A stale owner's replay is refused, not reported as stored. */
    ASSERT_EQ(session_add_caption_fenced(reg, info.id, "es", 1, 900, 1800, "uno", "one", 4),
              BC_ESTATE);
    /* Fence 0 checks nothing. */
    ASSERT_EQ(session_add_caption(reg, info.id, "es", 3, 2700, 3600, "tres", "three"), 0);
    ASSERT_OK(session_transcript(reg, info.id, "es", &t));
    ASSERT_EQ(transcript_count(t), 4);
    ASSERT_STR_EQ(transcript_cue_at(t, 1)->text, "uno");
    ASSERT_STR_EQ(transcript_cue_at(t, 3)->text, "tres");
    transcript_free(t);

    /* Every 64-bit fence compares exactly (a double would call these equal). */
    raw_ok("SET %s %s", key, "18446744073709551615");
    ASSERT_EQ(session_add_caption_fenced(reg, info.id, "es", 4, 0, 1, "x", "x",
                                         UINT64_MAX - 1), BC_ESTATE);
    ASSERT_EQ(session_add_caption_fenced(reg, info.id, "es", 4, 0, 1, "x", "x", UINT64_MAX), 0);
    raw_ok("SET %s %s", key, "10");
    ASSERT_EQ(session_add_caption_fenced(reg, info.id, "es", 5, 0, 1, "x", "x", 9), BC_ESTATE);
    ASSERT_EQ(session_add_caption_fenced(reg, info.id, "es", 5, 0, 1, "x", "x", 10), 0);
    ASSERT_EQ(session_add_caption_fenced(reg, "zzzzzzzzzz", "es", 0, 0, 1, "x", "x", 10),
              BC_ENOTFOUND);
    session_registry_close(reg);
}

static void sha256_hex(const char *text, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ASSERT(EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL));
    ASSERT_EQ(len, 32);
    for (unsigned int i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Tokens are stored as their SHA-256, and every key of a session carries
 * its id as hash tag (the other keys are the registry's two global ones). */
static void test_layout(void)
{
    struct session_registry *reg = open_fresh(0, 0);
    struct session_info info;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    ASSERT_OK(session_listener_join(reg, info.id, "es"));
    ASSERT_EQ(session_add_caption(reg, info.id, "es", 0, 0, 900, "hola", "hello"), 0);
    ASSERT_OK(session_catalog_set(reg, "{}"));

    char key[64], expected[65];
    snprintf(key, sizeof key, INFO_KEY_FMT, info.id);
    redisReply *r = raw("HGET %s token", key);
    ASSERT_EQ(r->type, REDIS_REPLY_STRING);
    ASSERT(strstr(r->str, token) == NULL);
    sha256_hex(token, expected);
    ASSERT_STR_EQ(r->str, expected);
    freeReplyObject(r);

    char tag[SESSION_ID_LEN + 3];
    snprintf(tag, sizeof tag, "{%s}", info.id);
    r = raw("KEYS *");
    ASSERT_EQ(r->type, REDIS_REPLY_ARRAY);
    ASSERT_EQ(r->elements, 6); /* info, listeners, captions, langs, live set, catalog */
    size_t tagged = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const char *k = r->element[i]->str;
        if (strncmp(k, "bc:", 3) != 0)
            TEST_FAIL_("key %s is outside bc:", k);
        if (strstr(k, tag) == k + 3)
            tagged++;
        else if (strcmp(k, "bc:registry:live") && strcmp(k, "bc:catalog"))
            TEST_FAIL_("key %s names no session", k);
    }
    ASSERT_EQ(tagged, 4);
    freeReplyObject(r);
    session_registry_close(reg);
}

/* Each call on a registry whose Redis is gone fails with BC_EIO, quickly. */
static void assert_all_fail(struct session_registry *reg, const char *id, const char *token)
{
    int64_t start = bc_now_us();
    struct session_info info;
    char new_token[SESSION_TOKEN_LEN + 1];
    struct transcript *t = NULL;
    char *json = NULL;
    char ids[4][SESSION_ID_LEN + 1];
    char langs[4][SESSION_LANG_LEN];
    int counts[4];
    ASSERT_EQ(session_get(reg, id, &info), BC_EIO);
    ASSERT_EQ(session_create(reg, "en", NULL, 0, &info, new_token), BC_EIO);
    ASSERT_EQ(session_check_token(reg, id, token), BC_EIO);
    ASSERT_EQ(session_end(reg, id, NULL), BC_EIO);
    ASSERT_EQ(session_listener_join(reg, id, "es"), BC_EIO);
    session_listener_leave(reg, id, "es");
    ASSERT_EQ(session_listener_counts(reg, id, langs, counts, 4), 0);
    ASSERT_EQ(session_list_live(reg, ids, 4), 0);
    ASSERT_EQ(session_add_caption_fenced(reg, id, "es", 9, 0, 1, "x", "x", 1), BC_EIO);
    ASSERT_EQ(session_transcript(reg, id, "es", &t), BC_EIO);
    ASSERT(t == NULL);
    ASSERT_EQ(session_recent_captions(reg, id, "es", 2, &t), BC_EIO);
    ASSERT_EQ(session_catalog_set(reg, "{}"), BC_EIO);
    ASSERT_EQ(session_catalog_get(reg, &json), BC_EIO);
    ASSERT(json == NULL);
    ASSERT_LT(bc_now_us() - start, DOWN_CALL_MAX_US);
}

/* A loopback port bound but not listening: connecting is refused, and no
 * other server can take the port while fd is open. */
static int closed_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT(*fd >= 0);
    ASSERT_OK(bind(*fd, (struct sockaddr *)&a, sizeof a));
    ASSERT_OK(getsockname(*fd, (struct sockaddr *)&a, &len));
    return ntohs(a.sin_port);
}

static void test_unreachable_at_open(void)
{
    int fd;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", closed_port(&fd));
    struct session_registry *reg;
    ASSERT_OK(session_registry_open_url(url, NULL, &reg)); /* down is not a bad url */
    assert_all_fail(reg, "abcdefghjk", "0123456789abcdef0123456789abcdef");
    session_registry_close(reg);
    close(fd);
}

static void test_kill_and_restart(void)
{
    struct session_registry *reg = open_fresh(0, 0);
    /* Each write reaches the append-only file before Redis answers it, so
     * a kill -9 right after loses nothing the test relies on. */
    freeReplyObject(raw("CONFIG SET appendfsync always"));
    struct session_info info, got;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    add_three(reg, info.id);
    ASSERT_OK(session_listener_join(reg, info.id, "es"));
    ASSERT_OK(session_catalog_set(reg, "{\"targets\":[\"es\"]}"));

    redis_fixture_kill(&fx);
    assert_all_fail(reg, info.id, token);
    assert_all_fail(reg, info.id, token); /* while backing off as well */

    redis_fixture_run(&fx);
    int64_t deadline = bc_now_us() + RECONNECT_WAIT_US;
    int rc;
    while ((rc = session_get(reg, info.id, &got)) == BC_EIO && bc_now_us() < deadline)
        bc_sleep_us(RECONNECT_STEP_US);
    ASSERT_OK(rc);
    ASSERT_EQ(got.state, SESSION_LIVE);
    ASSERT_EQ(got.created_ms, info.created_ms);
    ASSERT_STR_EQ(got.targets[1], "ca");
    ASSERT_OK(session_check_token(reg, info.id, token));
    check_three(reg, info.id); /* scripts are loaded again after the restart */
    ASSERT_EQ(session_add_caption(reg, info.id, "es", 1, 0, 1, "otra", "other"), 1);
    char ids[2][SESSION_ID_LEN + 1];
    ASSERT_EQ(session_list_live(reg, ids, 2), 1);
    ASSERT_STR_EQ(ids[0], info.id);
    ASSERT_EQ(session_list_live(reg, ids, SIZE_MAX), 1);
    char langs[2][SESSION_LANG_LEN];
    int counts[2];
    ASSERT_EQ(session_listener_counts(reg, info.id, langs, counts, 2), 1);
    ASSERT_EQ(counts[0], 1);
    char *json;
    ASSERT_OK(session_catalog_get(reg, &json));
    ASSERT_STR_EQ(json, "{\"targets\":[\"es\"]}");
    free(json);
    ASSERT_OK(session_end(reg, info.id, token));
    session_registry_close(reg);
}

/* A registry on another database number keeps out of database 0. */
static void test_database_number(void)
{
    freeReplyObject(raw("FLUSHALL"));
    char url[96];
    snprintf(url, sizeof url, "%s/3", fx.url);
    struct session_registry *reg;
    ASSERT_OK(session_registry_open_url(url, NULL, &reg));
    struct session_info info;
    char token[SESSION_TOKEN_LEN + 1];
    create(reg, &info, token);
    session_registry_close(reg);
    redisReply *r = raw("DBSIZE");
    ASSERT_EQ(r->integer, 0);
    freeReplyObject(r);
    reg = open_limits(0, 0);
    ASSERT_EQ(session_get(reg, info.id, &info), BC_ENOTFOUND);
    session_registry_close(reg);
}

/* A failed assertion exits: the server must not outlive the test. */
static void stop_fixture(void)
{
    redis_fixture_stop(&fx);
}

int main(void)
{
    redis_fixture_start(&fx);
    atexit(stop_fixture);
    session_cases_open = open_fresh;
    session_cases_run();
    test_two_handles();
    test_fencing();
    test_layout();
    test_retention_expiry();
    test_database_number();
    test_unreachable_at_open();
    test_kill_and_restart();
    printf("session_redis: all passed\n");
    return 0;
}

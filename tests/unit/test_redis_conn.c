/* The shared Redis connection against a real redis-server: URL parsing,
 * commands, a refused command while Redis is down, and reconnection. */
#include "redis/redis_conn.h"

#include "redis_fixture.h"
#include "test.h"
#include "util/err.h"
#include "util/timeutil.h"

#define RECONNECT_WAIT_US (10 * 1000 * 1000)

static void test_url(void)
{
    struct redis_url u;
    ASSERT_OK(redis_url_parse("redis://127.0.0.1", &u));
    ASSERT_STR_EQ(u.host, "127.0.0.1");
    ASSERT_EQ(u.port, 6379);
    ASSERT_EQ(u.db, 0);
    ASSERT_STR_EQ(u.password, "");
    ASSERT_OK(redis_url_parse("redis://:s3cret@redis.example:6400/2", &u));
    ASSERT_STR_EQ(u.host, "redis.example");
    ASSERT_EQ(u.port, 6400);
    ASSERT_EQ(u.db, 2);
    ASSERT_STR_EQ(u.password, "s3cret");
    ASSERT_OK(redis_url_parse("redis://host:7000/", &u));
    ASSERT_EQ(u.port, 7000);
    const char *bad[] = {"", "http://host", "redis://", "redis://host:0", "redis://host:99999",
                         "redis://host:12ab", "redis://host/x", "redis://host:1/2/3", NULL};
    for (int i = 0; bad[i]; i++) {
        if (redis_url_parse(bad[i], &u) != BC_EINVAL)
            TEST_FAIL_("accepted %s", bad[i]);
    }
}

static void test_commands_and_reconnect(void)
{
    struct redis_fixture fx;
    redis_fixture_start(&fx);
    struct redis_conn *c;
    ASSERT_OK(redis_conn_open(fx.url, 500, &c));
    redisReply *r;
    ASSERT_OK(redis_conn_commandf(c, &r, "SET %s %b", "bc:{s1}:k", "v\0x", (size_t)3));
    freeReplyObject(r);
    const char *argv[] = {"GET", "bc:{s1}:k"};
    size_t lens[] = {3, 9};
    ASSERT_OK(redis_conn_command(c, 2, argv, lens, &r));
    ASSERT_EQ(r->type, REDIS_REPLY_STRING);
    ASSERT_EQ(r->len, 3);
    ASSERT(memcmp(r->str, "v\0x", 3) == 0);
    freeReplyObject(r);
    ASSERT_OK(redis_conn_commandf(c, &r, "NOSUCHCOMMAND"));
    ASSERT_EQ(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);

    redis_fixture_kill(&fx);
    ASSERT_EQ(redis_conn_commandf(c, &r, "PING"), BC_EIO);
    ASSERT(r == NULL);
    ASSERT_EQ(redis_conn_up(c), 0);
    redis_fixture_run(&fx);
    int64_t deadline = bc_now_us() + RECONNECT_WAIT_US;
    int rc;
    while ((rc = redis_conn_commandf(c, &r, "GET %s", "bc:{s1}:k")) != 0 && bc_now_us() < deadline)
        bc_sleep_us(20000);
    ASSERT_OK(rc);
    ASSERT_EQ(redis_conn_up(c), 1);
    freeReplyObject(r);
    redis_conn_close(c);
    redis_fixture_stop(&fx);
}

int main(void)
{
    test_url();
    test_commands_and_reconnect();
    printf("redis_conn: all passed\n");
    return 0;
}

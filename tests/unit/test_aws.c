/* The AWS request module's offline parts: resource URLs, credentials from
 * the environment and the shared credentials file, hashing and encoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/aws.h"
#include "test.h"
#include "util/err.h"
#include "util/log.h"

static void test_url(void)
{
    struct aws_url u;
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    ASSERT_OK(aws_url_parse("s3://bucket/some/prefix?region=eu-west-1", "s3://", NULL, &u));
    ASSERT_STR_EQ(u.path, "bucket/some/prefix");
    ASSERT_STR_EQ(u.region, "eu-west-1");
    ASSERT(u.endpoint == NULL);
    aws_url_release(&u);

    /* An explicit endpoint, percent-encoded or not; a trailing '/' goes. */
    ASSERT_OK(aws_url_parse("s3://b?endpoint=http%3A%2F%2F127.0.0.1%3A4569%2F&region=us-east-2",
                            "s3://", NULL, &u));
    ASSERT_STR_EQ(u.endpoint, "http://127.0.0.1:4569");
    ASSERT_STR_EQ(u.region, "us-east-2");
    aws_url_release(&u);
    ASSERT_OK(aws_url_parse("kinesis://audio?endpoint=http://127.0.0.1:4567", "kinesis://", NULL,
                            &u));
    ASSERT_STR_EQ(u.path, "audio");
    ASSERT_STR_EQ(u.region, "us-east-1"); /* an emulator still needs a signing region */
    aws_url_release(&u);

    /* The region from the environment when the URL has none. */
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    ASSERT_OK(aws_url_parse("s3://b", "s3://", NULL, &u));
    ASSERT_STR_EQ(u.region, "ap-south-1");
    aws_url_release(&u);
    setenv("AWS_REGION", "sa-east-1", 1);
    ASSERT_OK(aws_url_parse("s3://b", "s3://", NULL, &u));
    ASSERT_STR_EQ(u.region, "sa-east-1");
    aws_url_release(&u);
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");

    /* Extra parameters the caller accepts. */
    const char *extra[] = {"shards", "start", NULL};
    ASSERT_OK(aws_url_parse("kinesis://s?region=us-east-1&shards=2&start=LATEST+now",
                            "kinesis://", extra, &u));
    ASSERT_STR_EQ(aws_url_param(&u, "shards"), "2");
    ASSERT_STR_EQ(aws_url_param(&u, "start"), "LATEST now");
    ASSERT(aws_url_param(&u, "other") == NULL);
    aws_url_release(&u);

    const char *bad[] = {
        "s3://b",                                     /* no region anywhere */
        "s3://b?region=EU WEST",                      /* bad region */
        "s3://b?region=us-east-1&region=us-east-1",   /* repeated */
        "s3://b?region=us-east-1&color=red",          /* unknown parameter */
        "s3://b?region=us-east-1&endpoint=ftp://x",   /* not http(s) */
        "s3://b?region=us-east-1&endpoint=http://",   /* no host */
        "s3://b?region=us-east-1&endpoint=http://h/p", /* a path */
        "s3://b?region=us-east-1&endpoint=http://u@h", /* user info */
        "s3://b?region=us-east-1&endpoint=%zz",       /* bad encoding */
        "s3://b?region",                              /* no '=' */
        "kinesis://b?region=us-east-1",               /* wrong scheme */
        "s3://b#x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (aws_url_parse(bad[i], "s3://", NULL, &u) != BC_EINVAL)
            TEST_FAIL_("accepted %s", bad[i]);
        ASSERT(u.path == NULL && u.endpoint == NULL && u.n_params == 0);
    }
    ASSERT_EQ(aws_url_parse("s3://b?region=us-east-1&shards=1", "s3://", extra + 1, &u),
              BC_EINVAL);
    aws_url_release(&u); /* releasing a failed parse is harmless */

    char *def = aws_endpoint_default("kinesis", "eu-central-1");
    ASSERT_STR_EQ(def, "https://kinesis.eu-central-1.amazonaws.com");
    free(def);
}

static const char credentials_file[] =
    "# comment\n"
    "[default]\n"
    "aws_access_key_id = AKIDDEFAULT\n"
    "aws_secret_access_key=secretdefault\n"
    "\n"
    "[ ci ]\n"
    "  aws_access_key_id\t=  AKIDCI  \n"
    "; another comment\n"
    "aws_secret_access_key = secret/ci+x=\n"
    "aws_session_token = tokenci\n"
    "region = eu-west-1\n"
    "[partial]\n"
    "aws_access_key_id = ONLYID\n";

static void test_credentials_parse(void)
{
    struct aws_credentials c;
    ASSERT_OK(aws_credentials_parse(credentials_file, "default", &c));
    ASSERT_STR_EQ(c.access_key_id, "AKIDDEFAULT");
    ASSERT_STR_EQ(c.secret_access_key, "secretdefault");
    ASSERT_STR_EQ(c.session_token, "");
    ASSERT_OK(aws_credentials_parse(credentials_file, "ci", &c));
    ASSERT_STR_EQ(c.access_key_id, "AKIDCI");
    ASSERT_STR_EQ(c.secret_access_key, "secret/ci+x=");
    ASSERT_STR_EQ(c.session_token, "tokenci");
    ASSERT_EQ(aws_credentials_parse(credentials_file, "partial", &c), BC_ENOTFOUND);
    ASSERT_EQ(aws_credentials_parse(credentials_file, "missing", &c), BC_ENOTFOUND);
    ASSERT_EQ(aws_credentials_parse("", "default", &c), BC_ENOTFOUND);

    char *longer = malloc(AWS_SECRET_MAX + 64);
    int n = snprintf(longer, AWS_SECRET_MAX + 64, "[default]\naws_access_key_id=a\n"
                                                 "aws_secret_access_key=");
    memset(longer + n, 'x', AWS_SECRET_MAX);
    longer[n + AWS_SECRET_MAX] = '\0';
    ASSERT_EQ(aws_credentials_parse(longer, "default", &c), BC_EFORMAT);
    free(longer);
    aws_credentials_wipe(&c);
    ASSERT_EQ(c.secret_access_key[0], 0);
}

static void test_credentials_load(void)
{
    char path[] = "/tmp/bc_aws_credentials_XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, credentials_file, strlen(credentials_file)),
              (ssize_t)strlen(credentials_file));
    close(fd);

    struct aws_credentials c;
    /* The environment wins over the file. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
    setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    ASSERT_OK(aws_credentials_load(&c));
    ASSERT_STR_EQ(c.access_key_id, "AKIDENV");
    ASSERT_STR_EQ(c.session_token, "tokenenv");

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    ASSERT_OK(aws_credentials_load(&c));
    ASSERT_STR_EQ(c.access_key_id, "AKIDDEFAULT");
    setenv("AWS_PROFILE", "ci", 1);
    ASSERT_OK(aws_credentials_load(&c));
    ASSERT_STR_EQ(c.access_key_id, "AKIDCI");
    setenv("AWS_PROFILE", "partial", 1);
    ASSERT_EQ(aws_credentials_load(&c), BC_EAUTH);
    unsetenv("AWS_PROFILE");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    ASSERT_EQ(aws_credentials_load(&c), BC_EAUTH);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unlink(path);
}

static void test_helpers(void)
{
    char hex[AWS_SHA256_HEX_LEN + 1];
    aws_sha256_hex("", 0, hex);
    ASSERT_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    aws_sha256_hex("hello", 5, hex);
    ASSERT_STR_EQ(hex, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");

    char *enc = aws_uri_encode_path("/b/pre fix/a+b~c_d.e-f/é");
    ASSERT_STR_EQ(enc, "/b/pre%20fix/a%2Bb~c_d.e-f/%C3%A9");
    free(enc);

    ASSERT_EQ(aws_status_error(200), 0);
    ASSERT_EQ(aws_status_error(204), 0);
    ASSERT_EQ(aws_status_error(503), BC_EAGAIN);
    ASSERT_EQ(aws_status_error(429), BC_EAGAIN);
    ASSERT_EQ(aws_status_error(403), BC_EAUTH);
    ASSERT_EQ(aws_status_error(404), BC_ENOTFOUND);
    ASSERT_EQ(aws_status_error(400), BC_EINVAL);
    ASSERT_EQ(aws_status_error(500), BC_EIO);
}

static void test_client_offline(void)
{
    struct aws_credentials creds = {.access_key_id = "AKID", .secret_access_key = "s"};
    struct aws_client *c;
    struct aws_client_params p = {.service = "s3", .region = "eu-west-1"};
    ASSERT_OK(aws_client_new(&p, &creds, &c));
    ASSERT_STR_EQ(aws_client_endpoint(c), "https://s3.eu-west-1.amazonaws.com");
    struct aws_response r;
    struct aws_request bad = {.method = "GET", .path = "no-slash"};
    ASSERT_EQ(aws_request_perform(c, &bad, &r), BC_EINVAL);
    struct aws_header injected = {"X-Test", "a\r\nb"};
    struct aws_request bad_header = {.method = "GET", .path = "/", .headers = &injected,
                                     .n_headers = 1};
    ASSERT_EQ(aws_request_perform(c, &bad_header, &r), BC_EINVAL);
    aws_client_free(c);

    p.region = "Not A Region";
    ASSERT_EQ(aws_client_new(&p, &creds, &c), BC_EINVAL);

    /* A closed loopback port: the request fails, quickly, as BC_EIO. */
    p.region = "us-east-1";
    p.endpoint = "http://127.0.0.1:1";
    ASSERT_OK(aws_client_new(&p, &creds, &c));
    struct aws_request get = {.method = "GET", .path = "/bucket/key"};
    ASSERT_EQ(aws_request_perform(c, &get, &r), BC_EIO);
    ASSERT(r.body == NULL);
    aws_client_free(c);
}

int main(void)
{
    bc_log_set_level(BC_LOG_QUIET);
    test_url();
    test_credentials_parse();
    test_credentials_load();
    test_helpers();
    test_client_offline();
    printf("aws: all passed\n");
    return 0;
}

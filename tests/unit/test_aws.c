#define _GNU_SOURCE /* strcasestr */
/* The AWS request module: resource URLs, credentials from the environment
 * and the shared credentials file, hashing and encoding; and requests to a
 * loopback server whose SigV4 signatures are recomputed here, independently
 * of curl, with response limits, timeouts and cancellation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "aws/aws.h"
#include "aws_fake_server.h"
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
    /* A value goes into a request header: a CR in it would start another
     * header, a blank or a byte past ASCII would corrupt the signature. */
    const char *unprintable[] = {"[default]\naws_access_key_id=a\naws_secret_access_key=s\n"
                                 "aws_session_token=tok\rX-Amz-Date: 0\n",
                                 "[default]\naws_access_key_id=a b\naws_secret_access_key=s\n",
                                 "[default]\naws_access_key_id=a\naws_secret_access_key=s\xc3\xa9\n"};
    for (size_t i = 0; i < sizeof unprintable / sizeof unprintable[0]; i++)
        ASSERT_EQ(aws_credentials_parse(unprintable[i], "default", &c), BC_EFORMAT);
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

/* The value of header name in an HTTP head (a new string), or NULL. */
static char *header_value(const char *head, const char *name)
{
    char needle[128];
    snprintf(needle, sizeof needle, "\r\n%s:", name);
    const char *p = strcasestr(head, needle);
    if (!p)
        return NULL;
    p += strlen(needle);
    while (*p == ' ')
        p++;
    const char *end = strstr(p, "\r\n");
    return strndup(p, (size_t)(end - p));
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void hmac(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &len);
}

/* Recomputes the SigV4 signature of a captured request, independently of
 * curl, and compares it with the one it carries. */
static void verify_sigv4(const struct fake_server *fs, const char *secret, const char *scope_tail)
{
    char *head = strndup(fs->request, fs->head_len);
    const char *body = fs->request + fs->head_len;
    size_t body_len = fs->request_len - fs->head_len;
    char method[16], path[1024];
    ASSERT_EQ(sscanf(head, "%15s %1023s", method, path), 2);
    char *auth = header_value(head, "Authorization");
    char *date = header_value(head, "X-Amz-Date");
    ASSERT(auth && date);
    char credential[256], signed_headers[512], signature[65];
    ASSERT_EQ(sscanf(auth, "AWS4-HMAC-SHA256 Credential=%255[^,], SignedHeaders=%511[^,], "
                           "Signature=%64s",
                     credential, signed_headers, signature),
              3);
    char scope[128];
    snprintf(scope, sizeof scope, "%.8s/%s", date, scope_tail);
    ASSERT_STR_CONTAINS(credential, scope);

    char canonical[8192];
    char *query = strchr(path, '?');
    if (query)
        *query++ = '\0';
    int n = snprintf(canonical, sizeof canonical, "%s\n%s\n%s\n", method, path, query ? query : "");
    char names[512];
    snprintf(names, sizeof names, "%s", signed_headers);
    for (char *save, *name = strtok_r(names, ";", &save); name; name = strtok_r(NULL, ";", &save)) {
        char *value = header_value(head, name);
        if (!value)
            TEST_FAIL_("signed header %s was not sent", name);
        n += snprintf(canonical + n, sizeof canonical - (size_t)n, "%s:%s\n", name, value);
        free(value);
    }
    char payload_hash[65];
    char *declared = header_value(head, "x-amz-content-sha256");
    if (declared) {
        unsigned char d[32];
        SHA256((const unsigned char *)body, body_len, d);
        hex(d, 32, payload_hash);
        ASSERT_STR_EQ(declared, payload_hash); /* S3 checks it against the body */
        free(declared);
    } else {
        unsigned char d[32];
        SHA256((const unsigned char *)body, body_len, d);
        hex(d, 32, payload_hash);
    }
    snprintf(canonical + n, sizeof canonical - (size_t)n, "\n%s\n%s", signed_headers,
             payload_hash);

    unsigned char d[32];
    char canonical_hash[65], to_sign[512];
    SHA256((const unsigned char *)canonical, strlen(canonical), d);
    hex(d, 32, canonical_hash);
    snprintf(to_sign, sizeof to_sign, "AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, canonical_hash);
    char secret_key[256];
    snprintf(secret_key, sizeof secret_key, "AWS4%s", secret);
    unsigned char k[32];
    char part[64];
    snprintf(part, sizeof part, "%.8s", date);
    hmac(secret_key, strlen(secret_key), part, k);
    char tail[128];
    snprintf(tail, sizeof tail, "%s", scope_tail);
    for (char *save, *p = strtok_r(tail, "/", &save); p; p = strtok_r(NULL, "/", &save))
        hmac(k, 32, p, k); /* region, service, aws4_request */
    hmac(k, 32, to_sign, d);
    char expected[65];
    hex(d, 32, expected);
    ASSERT_STR_EQ(signature, expected);
    free(auth);
    free(date);
    free(head);
}

static atomic_int cancel_flag;

static void *cancel_soon(void *arg)
{
    (void)arg;
    bc_sleep_us(200000);
    atomic_store(&cancel_flag, 1);
    return NULL;
}

static void test_requests(void)
{
    struct fake_server fs;
    fake_start(&fs);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", fs.port);
    struct aws_credentials creds = {.access_key_id = "AKIDTEST",
                                    .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                    .session_token = "FwoGZXIvYXdzE//token=="};
    struct aws_client_params p = {.service = "s3", .region = "eu-west-1", .endpoint = endpoint,
                                  .timeout_ms = 300};
    struct aws_client *c;
    ASSERT_OK(aws_client_new(&p, &creds, &c));

    /* An S3 PUT: signed with the body's hash, the token signed along. */
    fake_answer(&fs, 200, "stored", 0);
    const char body[] = "RIFF\0\1binary";
    char hash[AWS_SHA256_HEX_LEN + 1];
    aws_sha256_hex(body, sizeof body, hash);
    struct aws_header headers[] = {{"Content-Type", "audio/wav"}, {"x-amz-content-sha256", hash}};
    struct aws_request put = {.method = "PUT", .path = "/bucket/pre/a%20b/000001.wav",
                              .headers = headers, .n_headers = 2, .body = body,
                              .body_len = sizeof body};
    struct aws_response r;
    ASSERT_OK(aws_request_perform(c, &put, &r));
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body, "stored");
    ASSERT_EQ(fs.request_len - fs.head_len, sizeof body);
    ASSERT(memcmp(fs.request + fs.head_len, body, sizeof body) == 0);
    ASSERT_STR_CONTAINS(fs.request, "PUT /bucket/pre/a%20b/000001.wav HTTP/1.1");
    char *token = header_value(fs.request, "x-amz-security-token");
    ASSERT_STR_EQ(token, creds.session_token);
    free(token);
    verify_sigv4(&fs, creds.secret_access_key, "eu-west-1/s3/aws4_request");
    aws_response_release(&r);

    /* A JSON POST without a declared hash (Kinesis style): curl hashes the body. */
    struct aws_client *k;
    p.service = "kinesis";
    ASSERT_OK(aws_client_new(&p, &creds, &k));
    fake_answer(&fs, 400, "{\"__type\":\"ResourceNotFoundException\"}", 0);
    const char json[] = "{\"StreamName\":\"audio\"}";
    struct aws_header kh[] = {{"Content-Type", "application/x-amz-json-1.1"},
                              {"X-Amz-Target", "Kinesis_20131202.DescribeStream"}};
    struct aws_request post = {.method = "POST", .path = "/", .headers = kh, .n_headers = 2,
                               .body = json, .body_len = strlen(json)};
    ASSERT_OK(aws_request_perform(k, &post, &r));
    ASSERT_EQ(r.status, 400);
    ASSERT_EQ(aws_status_error(r.status), BC_EINVAL);
    ASSERT_STR_CONTAINS(r.body, "ResourceNotFound");
    verify_sigv4(&fs, creds.secret_access_key, "eu-west-1/kinesis/aws4_request");
    aws_response_release(&r);
    aws_client_free(k);

    /* A response over the limit, a server too slow, a cancelled request. */
    fake_answer(&fs, 200, "0123456789abcdefghij", 0);
    struct aws_request get = {.method = "GET", .path = "/bucket/key", .max_response_bytes = 10};
    ASSERT_EQ(aws_request_perform(c, &get, &r), BC_ELIMIT);
    ASSERT(r.body == NULL);
    get.max_response_bytes = 0;
    ASSERT_OK(aws_request_perform(c, &get, &r));
    ASSERT_EQ(r.body_len, 20);
    aws_response_release(&r);
    fake_answer(&fs, 200, "late", 5000);
    ASSERT_EQ(aws_request_perform(c, &get, &r), BC_ETIMEDOUT);
    aws_client_free(c);
    p.timeout_ms = 0; /* the default: far longer than the test */
    p.service = "s3";
    ASSERT_OK(aws_client_new(&p, &creds, &c));
    pthread_t t;
    get.cancel = &cancel_flag;
    int64_t started = bc_now_us();
    ASSERT_OK(pthread_create(&t, NULL, cancel_soon, NULL));
    ASSERT_EQ(aws_request_perform(c, &get, &r), BC_ECLOSED);
    ASSERT_LT(bc_now_us() - started, 4000000); /* well before the server's 5 s */
    pthread_join(t, NULL);
    ASSERT_EQ(aws_client_reload_credentials(c), BC_ESTATE); /* given, not loaded */
    aws_client_free(c);

    /* Loaded credentials are read again on request: rotated keys apply. */
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_ACCESS_KEY_ID", "AKIDFIRST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "first-secret", 1);
    ASSERT_OK(aws_client_new(&p, NULL, &c));
    fake_answer(&fs, 200, "", 0);
    get.cancel = NULL;
    ASSERT_OK(aws_request_perform(c, &get, &r));
    aws_response_release(&r);
    ASSERT_STR_CONTAINS(fs.request, "Credential=AKIDFIRST/");
    setenv("AWS_ACCESS_KEY_ID", "AKIDSECOND", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "second-secret", 1);
    ASSERT_OK(aws_client_reload_credentials(c));
    ASSERT_OK(aws_request_perform(c, &get, &r));
    aws_response_release(&r);
    ASSERT_STR_CONTAINS(fs.request, "Credential=AKIDSECOND/");
    verify_sigv4(&fs, "second-secret", "eu-west-1/s3/aws4_request");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    aws_client_free(c);
    fake_stop(&fs);
}

int main(void)
{
    bc_log_set_level(BC_LOG_QUIET);
    test_url();
    test_credentials_parse();
    test_credentials_load();
    test_helpers();
    test_client_offline();
    test_requests();
    printf("aws: all passed\n");
    return 0;
}

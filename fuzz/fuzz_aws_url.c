/* AWS resource URLs as the s3:// archive and the kinesis:// stream take
 * them (aws_url_parse). The first input byte picks the scheme and the
 * extra parameters allowed; the rest is the URL after the scheme. What
 * must hold for any URL: the result is 0 or BC_EINVAL (and a zeroed URL);
 * what is accepted has the path as written, a valid region, no endpoint
 * or http(s)://HOST[:PORT] with a host free of blanks, control
 * characters and "/?#@", only allowed and unrepeated parameters; and the
 * URL written back from it (values percent-encoded) parses the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_url.h"
#include "fuzz_common.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* As the kinesis:// stream allows them. */
static const char *const kinesis_extra[] = {"limit",      "poll_ms",      "start", "lease_ms",
                                            "max_shards", "max_attempts", NULL};

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_endpoint(const char *e)
{
    const char *host = strncmp(e, "https://", 8) == 0  ? e + 8
                       : strncmp(e, "http://", 7) == 0 ? e + 7
                                                       : NULL;
    check(host && *host && !strpbrk(host, "/?#@"));
    for (const char *p = host; *p; p++)
        check((unsigned char)*p > ' ' && *p != 0x7f);
}

/* s percent-encoded but for unreserved characters (heap string). */
static char *encode(const char *s)
{
    char *out = bc_malloc(3 * strlen(s) + 1), *o = out;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c))
            *o++ = (char)c;
        else
            o += sprintf(o, "%%%02X", c);
    }
    *o = '\0';
    return out;
}

static char *write_back(const char *scheme, const struct aws_url *u)
{
    char *region = encode(u->region);
    char *url = bc_asprintf("%s%s?region=%s", scheme, u->path, region);
    free(region);
    if (u->endpoint) {
        char *e = encode(u->endpoint);
        char *longer = bc_asprintf("%s&endpoint=%s", url, e);
        free(e);
        free(url);
        url = longer;
    }
    for (int i = 0; i < u->n_params; i++) {
        char *v = encode(u->params[i].value);
        char *longer = bc_asprintf("%s&%s=%s", url, u->params[i].name, v);
        free(v);
        free(url);
        url = longer;
    }
    return url;
}

static void check_same(const struct aws_url *a, const struct aws_url *b)
{
    check(strcmp(a->path, b->path) == 0 && strcmp(a->region, b->region) == 0);
    check((a->endpoint == NULL) == (b->endpoint == NULL));
    check(!a->endpoint || strcmp(a->endpoint, b->endpoint) == 0);
    check(a->n_params == b->n_params);
    for (int i = 0; i < a->n_params; i++)
        check(strcmp(a->params[i].name, b->params[i].name) == 0 &&
              strcmp(a->params[i].value, b->params[i].value) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static int ready;
    if (!ready) {
        fuzz_quiet();
        /* The region's fallbacks: the same answer for every run. */
        unsetenv("AWS_REGION");
        unsetenv("AWS_DEFAULT_REGION");
        ready = 1;
    }
    if (len == 0)
        return 0;
    int kinesis = data[0] & 1;
    const char *scheme = kinesis ? "kinesis://" : "s3://";
    const char *const *extra = kinesis ? kinesis_extra : NULL;
    char *rest = fuzz_cstr(data + 1, len - 1);
    char *url = bc_asprintf("%s%s", scheme, rest);
    struct aws_url u;
    memset(&u, 0xA5, sizeof u);
    int rc = aws_url_parse(url, scheme, extra, &u);
    if (rc < 0) {
        check(rc == BC_EINVAL && !u.path && !u.endpoint && !u.params && u.n_params == 0);
    } else {
        check(rc == 0);
        size_t path_len = strcspn(rest, "?#");
        check(strlen(u.path) == path_len && strncmp(u.path, rest, path_len) == 0);
        check(aws_region_valid(u.region));
        if (u.endpoint)
            check_endpoint(u.endpoint);
        for (int i = 0; i < u.n_params; i++) {
            int allowed = 0;
            for (size_t k = 0; extra && extra[k]; k++)
                allowed |= strcmp(u.params[i].name, extra[k]) == 0;
            check(allowed);
            for (int j = 0; j < i; j++)
                check(strcmp(u.params[i].name, u.params[j].name) != 0);
            check(strlen(u.params[i].value) < len);
        }
        char *again = write_back(scheme, &u);
        struct aws_url v;
        check(aws_url_parse(again, scheme, extra, &v) == 0);
        check_same(&u, &v);
        aws_url_release(&v);
        free(again);
        aws_url_release(&u);
    }
    free(url);
    free(rest);
    return 0;
}

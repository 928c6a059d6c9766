#include "aws/aws_url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define FALLBACK_REGION "us-east-1" /* emulators ignore it, but SigV4 needs one */
#define HTTP_PREFIX "http://"
#define HTTPS_PREFIX "https://"
#define HEX_BASE 16

bool aws_region_valid(const char *region)
{
    size_t n = region ? strlen(region) : 0;
    if (n == 0 || n >= AWS_REGION_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)region[i]) || isdigit((unsigned char)region[i]) ||
              region[i] == '-'))
            return false;
    return true;
}

char *aws_endpoint_default(const char *service, const char *region)
{
    return bc_asprintf("https://%s.%s.amazonaws.com", service, region);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent- and '+'-decodes [s, s+len) into a new string; NULL when a
 * sequence is malformed or decodes to NUL. */
static char *decode(const char *s, size_t len)
{
    char *out = bc_malloc(len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            *o++ = s[i] == '+' ? ' ' : s[i];
            continue;
        }
        int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
        int lo = i + 2 < len ? hex_digit(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi * HEX_BASE + lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

/* An endpoint is scheme://host[:port] with nothing after but one '/'. */
static int endpoint_take(const char *value, char **out)
{
    size_t skip = strncmp(value, HTTPS_PREFIX, strlen(HTTPS_PREFIX)) == 0 ? strlen(HTTPS_PREFIX)
                  : strncmp(value, HTTP_PREFIX, strlen(HTTP_PREFIX)) == 0 ? strlen(HTTP_PREFIX)
                                                                           : 0;
    if (skip == 0)
        return BC_EINVAL;
    const char *host = value + skip;
    size_t host_len = strcspn(host, "/?#@");
    if (host_len == 0 || (host[host_len] && strcmp(host + host_len, "/") != 0))
        return BC_EINVAL;
    for (size_t i = 0; i < host_len; i++)
        if (isspace((unsigned char)host[i]) || iscntrl((unsigned char)host[i]))
            return BC_EINVAL;
    *out = bc_strndup(value, skip + host_len);
    return 0;
}

static bool name_allowed(const char *name, const char *const *extra)
{
    for (size_t i = 0; extra && extra[i]; i++)
        if (strcmp(name, extra[i]) == 0)
            return true;
    return false;
}

static bool seen(const struct aws_url *u, const char *name, bool has_region)
{
    if (strcmp(name, "region") == 0)
        return has_region;
    if (strcmp(name, "endpoint") == 0)
        return u->endpoint != NULL;
    return aws_url_param(u, name) != NULL;
}

/* One name=value of the query. */
static int take_param(struct aws_url *u, const char *pair, size_t len, const char *const *extra,
                      bool *has_region)
{
    const char *eq = memchr(pair, '=', len);
    if (!eq || eq == pair)
        return BC_EINVAL;
    char *name = bc_strndup(pair, (size_t)(eq - pair));
    char *value = decode(eq + 1, len - (size_t)(eq - pair) - 1);
    int rc = BC_EINVAL;
    if (!value || seen(u, name, *has_region)) {
        bc_error("aws: bad or repeated parameter '%s'", name);
    } else if (strcmp(name, "region") == 0) {
        if (aws_region_valid(value)) {
            snprintf(u->region, sizeof u->region, "%s", value);
            *has_region = true;
            rc = 0;
        } else {
            bc_error("aws: bad region '%s'", value);
        }
    } else if (strcmp(name, "endpoint") == 0) {
        rc = endpoint_take(value, &u->endpoint);
        if (rc < 0)
            bc_error("aws: bad endpoint '%s' (want http://HOST[:PORT] or https://HOST[:PORT])",
                     value);
    } else if (name_allowed(name, extra)) {
        u->params = bc_realloc(u->params, (size_t)(u->n_params + 1) * sizeof *u->params);
        u->params[u->n_params++] = (struct aws_url_param){name, value};
        return 0;
    } else {
        bc_error("aws: unknown parameter '%s'", name);
    }
    free(name);
    free(value);
    return rc;
}

static int region_from_environment(struct aws_url *u)
{
    const char *names[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) {
            if (!aws_region_valid(v)) {
                bc_error("aws: bad region '%s' in %s", v, names[i]);
                return BC_EINVAL;
            }
            snprintf(u->region, sizeof u->region, "%s", v);
            return 0;
        }
    }
    if (u->endpoint) {
        snprintf(u->region, sizeof u->region, "%s", FALLBACK_REGION);
        return 0;
    }
    bc_error("aws: no region: add ?region=R or set AWS_REGION");
    return BC_EINVAL;
}

int aws_url_parse(const char *url, const char *scheme, const char *const *extra,
                  struct aws_url *out)
{
    if (!out)
        return BC_EINVAL;
    memset(out, 0, sizeof *out);
    if (!url || !scheme || strncmp(url, scheme, strlen(scheme)) != 0)
        return BC_EINVAL;
    const char *rest = url + strlen(scheme);
    size_t path_len = strcspn(rest, "?#");
    if (rest[path_len] == '#') {
        bc_error("aws: unexpected '#' in '%s'", url);
        return BC_EINVAL;
    }
    out->path = bc_strndup(rest, path_len);
    bool has_region = false;
    int rc = 0;
    if (rest[path_len] == '?') {
        const char *q = rest + path_len + 1;
        while (*q && rc == 0) {
            size_t len = strcspn(q, "&");
            if (len > 0)
                rc = take_param(out, q, len, extra, &has_region);
            q += len + (q[len] == '&');
        }
    }
    if (rc == 0 && !has_region)
        rc = region_from_environment(out);
    if (rc < 0)
        aws_url_release(out);
    return rc;
}

void aws_url_release(struct aws_url *u)
{
    if (!u)
        return;
    free(u->path);
    free(u->endpoint);
    for (int i = 0; i < u->n_params; i++) {
        free(u->params[i].name);
        free(u->params[i].value);
    }
    free(u->params);
    memset(u, 0, sizeof *u);
}

const char *aws_url_param(const struct aws_url *u, const char *name)
{
    for (int i = 0; u && i < u->n_params; i++)
        if (strcmp(u->params[i].name, name) == 0)
            return u->params[i].value;
    return NULL;
}

/* The URL of an AWS resource as babelcast's options spell it:
 *   SCHEME://PATH?region=R&endpoint=URL[&NAME=VALUE...]
 * e.g. s3://bucket/prefix?region=eu-west-1 or
 * kinesis://audio?region=us-east-1&endpoint=http://127.0.0.1:4567.
 * Without region= the region is AWS_REGION, else AWS_DEFAULT_REGION, else
 * (only with an explicit endpoint, e.g. an emulator) us-east-1. Without
 * endpoint= requests go to AWS over HTTPS; plain http:// is allowed only in
 * an explicit endpoint. Query values may be percent-encoded. */
#ifndef BC_AWS_URL_H
#define BC_AWS_URL_H

#include <stdbool.h>

#define AWS_REGION_MAX 64

struct aws_url_param {
    char *name;
    char *value; /* percent-decoded */
};

struct aws_url {
    char *path;                /* between SCHEME:// and '?', as written; may be "" */
    char region[AWS_REGION_MAX];
    char *endpoint;            /* scheme://host[:port] without a trailing '/'; NULL: AWS's */
    struct aws_url_param *params; /* the query's other parameters, in order */
    int n_params;
};

/* Parses url, which must start with scheme (e.g. "s3://"). extra lists the
 * names of further parameters the caller accepts (NULL-terminated, or
 * NULL for none); any other name, a repeated name, a bad region or
 * endpoint is BC_EINVAL with a message logged. Returns 0 and *out (release
 * with aws_url_release; released and zeroed on failure). */
int aws_url_parse(const char *url, const char *scheme, const char *const *extra,
                  struct aws_url *out);
void aws_url_release(struct aws_url *u);

/* The value of extra parameter name, or NULL when absent. */
const char *aws_url_param(const struct aws_url *u, const char *name);

/* https://SERVICE.REGION.amazonaws.com (new heap string). */
char *aws_endpoint_default(const char *service, const char *region);

/* Whether region looks like an AWS region name ([a-z0-9-], 1..63). */
bool aws_region_valid(const char *region);

#endif

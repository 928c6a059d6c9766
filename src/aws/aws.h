/* Signed requests to an AWS service (or an emulator) over libcurl: SigV4
 * through CURLOPT_AWS_SIGV4, HTTPS to AWS, plain HTTP only to an explicit
 * http:// endpoint, bounded responses, timeouts.
 *
 * A client holds the credentials, the service, region and endpoint, and a
 * few idle curl handles so that connections are reused. A client is
 * thread-safe: concurrent requests each take their own handle. Each request
 * blocks its caller until the response or the timeout: call it from a
 * thread that may wait (never the gateway's event loop). */
#ifndef BC_AWS_H
#define BC_AWS_H

#include <stdatomic.h>
#include <stddef.h>

#include "aws/aws_credentials.h"
#include "aws/aws_url.h"

#define AWS_SHA256_HEX_LEN 64
#define AWS_DEFAULT_MAX_RESPONSE_BYTES ((size_t)1024 * 1024)

struct aws_client_params {
    const char *service;    /* signing name: "s3", "kinesis" */
    const char *region;     /* e.g. "eu-west-1" */
    const char *endpoint;   /* scheme://host[:port]; NULL: https://SERVICE.REGION.amazonaws.com */
    int connect_timeout_ms; /* 0: 5000 */
    int timeout_ms;         /* whole request; 0: 30000 */
};

struct aws_header {
    const char *name;
    const char *value;
};

struct aws_request {
    const char *method;               /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    const char *path;                 /* from '/', percent-encoded as signed; may carry ?query */
    const struct aws_header *headers; /* extra headers, e.g. X-Amz-Target; may be NULL */
    size_t n_headers;
    const void *body; /* sent as is (and hashed for the signature); NULL when body_len is 0 */
    size_t body_len;
    size_t max_response_bytes; /* a longer body fails the request; 0: AWS_DEFAULT_MAX_RESPONSE_BYTES */
    const atomic_int *cancel;  /* may be NULL; once nonzero the request stops within about 1 s */
};

struct aws_response {
    long status; /* HTTP status */
    char *body;  /* NUL-terminated heap copy (may be ""); release with aws_response_release */
    size_t body_len;
};

struct aws_client;

/* Makes curl ready (once per process, thread-safe). Called by
 * aws_client_new; call it first from main when other threads might call
 * curl_global_init at the same time. Returns 0 or BC_EIO. */
int aws_global_init(void);

/* creds NULL: aws_credentials_load(). The credentials are copied. Returns
 * 0 and *out, BC_EINVAL (bad params), BC_EAUTH (no credentials), BC_EIO. */
int aws_client_new(const struct aws_client_params *params, const struct aws_credentials *creds,
                   struct aws_client **out);
/* NULL is a no-op. No request may be running. */
void aws_client_free(struct aws_client *c);
/* Reads the credentials again (aws_credentials_load), for a client made
 * with creds NULL: rotated keys or a refreshed session token in the
 * environment's file take effect for the next requests. Returns 0,
 * BC_ESTATE (the client was given its credentials) or a load error (the
 * old credentials stay). */
int aws_client_reload_credentials(struct aws_client *c);
/* scheme://host[:port] requests go to; valid while c lives. */
const char *aws_client_endpoint(const struct aws_client *c);

/* Sends req and waits for its response. Returns 0 when a response arrived,
 * whatever its status (*resp filled: release it); else *resp is empty and
 * the result is BC_ETIMEDOUT (connect or transfer timeout), BC_ELIMIT (the
 * response exceeded max_response_bytes), BC_ECLOSED (*req->cancel was
 * set), BC_EINVAL (bad request) or BC_EIO
 * (connection refused or reset, DNS, TLS). Nothing secret is logged. */
int aws_request_perform(struct aws_client *c, const struct aws_request *req,
                        struct aws_response *resp);
void aws_response_release(struct aws_response *resp);

/* What an HTTP status means to a caller: 0 for 2xx, BC_EAGAIN for 429 and
 * 503 (throttled, retry later), BC_EAUTH for 401/403, BC_ENOTFOUND for 404,
 * BC_EINVAL for other 4xx, BC_EIO for 5xx and anything else. */
int aws_status_error(long status);

/* Lowercase hex SHA-256 of data (out: AWS_SHA256_HEX_LEN + 1 bytes), the
 * value of S3's x-amz-content-sha256 header. */
void aws_sha256_hex(const void *data, size_t len, char out[AWS_SHA256_HEX_LEN + 1]);

/* Percent-encodes s for a URL path as SigV4 wants it: unreserved
 * characters and '/' stay, everything else becomes %XX. New heap string. */
char *aws_uri_encode_path(const char *s);

#endif

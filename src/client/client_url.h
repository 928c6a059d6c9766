/* URL parsing shared by the client modules (internal). */
#ifndef BC_CLIENT_URL_H
#define BC_CLIENT_URL_H

#include <stddef.h>

#define CLIENT_URL_HOST_MAX 255
#define CLIENT_URL_PATH_MAX 2048
#define CLIENT_URL_DEFAULT_PORT 80

struct client_url {
    char host[CLIENT_URL_HOST_MAX + 1]; /* without IPv6 brackets */
    int port;
    char path[CLIENT_URL_PATH_MAX + 1]; /* "/..." with the query, never empty */
};

/* Parses "ws://host[:port][/path][?query]" (http:// is accepted too).
 * Returns 0 or BC_EINVAL with a one-line reason in err (wss/https say TLS
 * is not supported). */
int client_url_parse(const char *url, struct client_url *out, char *err, size_t err_len);

#endif

/* Cross-origin checks: a page on another site must not be able to make a
 * visitor's browser create or end sessions, or open sockets, here. Browsers
 * send Origin on every cross-origin request and on every WebSocket
 * handshake; command-line clients send none and are trusted as before. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_internal.h"
#include "util/err.h"
#include "util/log.h"

#define HTTP_DEFAULT_PORT 80
#define HTTPS_DEFAULT_PORT 443
#define GW_PORT_MAX 65535

/* "scheme://host[:port][/path]" as "scheme://host:port", lower-case, with
 * the scheme's default port made explicit, so equal origins compare equal.
 * Only http and https (and ws/wss, as their http equivalents) are origins
 * that can be allowed. Returns 0, or -1 for anything else ("null", junk). */
int gw_origin_normalize(const char *in, char *out, size_t len)
{
    static const char sep[] = "://";
    const char *colon_slash = strstr(in, sep);
    if (!colon_slash)
        return -1;
    size_t scheme_len = (size_t)(colon_slash - in);
    int tls;
    if (scheme_len == 4 && strncasecmp(in, "http", 4) == 0)
        tls = 0;
    else if (scheme_len == 5 && strncasecmp(in, "https", 5) == 0)
        tls = 1;
    else if (scheme_len == 2 && strncasecmp(in, "ws", 2) == 0)
        tls = 0;
    else if (scheme_len == 3 && strncasecmp(in, "wss", 3) == 0)
        tls = 1;
    else
        return -1;
    const char *host = colon_slash + strlen(sep);
    size_t authority = strcspn(host, "/?#");
    if (host[authority] != '\0' && host[authority] != '/')
        return -1;
    /* An IPv6 literal keeps its brackets; the port follows the last one. */
    const char *host_end = host + authority;
    const char *port_sep = NULL;
    const char *bracket = memchr(host, ']', authority);
    const char *search_from = bracket ? bracket : host;
    for (const char *p = search_from; p < host_end; p++) {
        if (*p == ':')
            port_sep = p;
    }
    size_t host_len = (size_t)((port_sep ? port_sep : host_end) - host);
    if (host_len == 0 || memchr(host, '@', authority))
        return -1;
    long port = tls ? HTTPS_DEFAULT_PORT : HTTP_DEFAULT_PORT;
    if (port_sep) {
        char *end;
        if (port_sep + 1 == host_end)
            return -1;
        port = strtol(port_sep + 1, &end, 10);
        if (end != host_end || port <= 0 || port > GW_PORT_MAX)
            return -1;
    }
    int n = snprintf(out, len, "%s://%.*s:%ld", tls ? "https" : "http", (int)host_len, host,
                     port);
    if (n < 0 || (size_t)n >= len)
        return -1;
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

int gw_origin_init(struct gateway *gw)
{
    if (gw_origin_normalize(gw->public_url, gw->own_origin, sizeof gw->own_origin) < 0) {
        bc_error("the public URL %s is not an http or https URL", gw->public_url);
        return BC_EINVAL;
    }
    for (size_t i = 0; i < gw->config.n_allow_origins; i++) {
        char origin[GW_ORIGIN_MAX];
        if (gw_origin_normalize(gw->config.allow_origins[i], origin, sizeof origin) < 0) {
            bc_error("--allow-origin %s is not an origin such as https://example.org",
                     gw->config.allow_origins[i]);
            return BC_EINVAL;
        }
    }
    return 0;
}

int gw_origin_allowed(struct gateway *gw, struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
        return 1;
    char value[GW_ORIGIN_MAX], origin[GW_ORIGIN_MAX], candidate[GW_ORIGIN_MAX];
    if (lws_hdr_copy(wsi, value, sizeof value, WSI_TOKEN_ORIGIN) < 0 ||
        gw_origin_normalize(value, origin, sizeof origin) < 0)
        return 0;
    if (strcmp(origin, gw->own_origin) == 0)
        return 1;
    /* The page was loaded from whatever name the client used for this
     * server (a LAN address, a host name) when the public URL names another. */
    char host[GW_ORIGIN_MAX], url[GW_ORIGIN_MAX + 16];
    if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) > 0) {
        snprintf(url, sizeof url, "%s://%s", lws_is_ssl(wsi) ? "https" : "http", host);
        if (gw_origin_normalize(url, candidate, sizeof candidate) == 0 &&
            strcmp(origin, candidate) == 0)
            return 1;
    }
    for (size_t i = 0; i < gw->config.n_allow_origins; i++) {
        if (gw_origin_normalize(gw->config.allow_origins[i], candidate, sizeof candidate) == 0 &&
            strcmp(origin, candidate) == 0)
            return 1;
    }
    return 0;
}

/* What the gateway checks in a request before routing it, beyond what
 * libwebsockets 4.1 checks: sizes, body framing, the WebSocket handshake,
 * query values; and the reason phrases of its status lines. */
#include <stdio.h>
#include <string.h>

#include "gateway/gateway_internal.h"

#define HTTP_OK 200
#define HTTP_CREATED 201
#define HTTP_NO_CONTENT 204
#define HTTP_BAD_REQUEST 400
#define HTTP_UNAUTHORIZED 401
#define HTTP_FORBIDDEN 403
#define HTTP_NOT_FOUND 404
#define HTTP_METHOD_NOT_ALLOWED 405
#define HTTP_CONFLICT 409
#define HTTP_LENGTH_REQUIRED 411
#define HTTP_PAYLOAD_TOO_LARGE 413
#define HTTP_URI_TOO_LONG 414
#define HTTP_UNPROCESSABLE 422
#define HTTP_UPGRADE_REQUIRED 426
#define HTTP_TOO_MANY 429
#define HTTP_HEADERS_TOO_LARGE 431
#define HTTP_SERVER_ERROR 500
#define HTTP_UNAVAILABLE 503
#define HTTP_INSUFFICIENT_STORAGE 507
/* Known request headers, values summed; unknown ones only count against
 * the parser's buffer. */
#define GW_HTTP_HEADERS_MAX 8192
/* Enough digits for any body the gateway accepts, few enough to never overflow. */
#define GW_CONTENT_LENGTH_DIGITS_MAX 9
/* A Sec-WebSocket-Key is 16 random bytes in base64: 22 characters and "==". */
#define WS_KEY_CHARS 24
#define WS_KEY_DATA_CHARS 22
#define WS_VERSION "13"

/* respond_error for the request checks, which return 1 once answered. */
static int refuse(struct conn *c, int status, const char *code, const char *message)
{
    gw_respond_error(c, status, code, message);
    return 1;
}

const char *gw_http_reason(int status)
{
    switch (status) {
    case HTTP_OK: return "OK";
    case HTTP_CREATED: return "Created";
    case HTTP_NO_CONTENT: return "No Content";
    case HTTP_BAD_REQUEST: return "Bad Request";
    case HTTP_UNAUTHORIZED: return "Unauthorized";
    case HTTP_FORBIDDEN: return "Forbidden";
    case HTTP_NOT_FOUND: return "Not Found";
    case HTTP_METHOD_NOT_ALLOWED: return "Method Not Allowed";
    case HTTP_CONFLICT: return "Conflict";
    case HTTP_LENGTH_REQUIRED: return "Length Required";
    case HTTP_PAYLOAD_TOO_LARGE: return "Payload Too Large";
    case HTTP_URI_TOO_LONG: return "URI Too Long";
    case HTTP_UNPROCESSABLE: return "Unprocessable Entity";
    case HTTP_UPGRADE_REQUIRED: return "Upgrade Required";
    case HTTP_TOO_MANY: return "Too Many Requests";
    case HTTP_HEADERS_TOO_LARGE: return "Request Header Fields Too Large";
    case HTTP_SERVER_ERROR: return "Internal Server Error";
    case HTTP_UNAVAILABLE: return "Service Unavailable";
    case HTTP_INSUFFICIENT_STORAGE: return "Insufficient Storage";
    default: return "";
    }
}

/* Request line and header sizes; 0, or 1 with the error filled in. */
static int check_sizes(struct conn *c)
{
    static const enum lws_token_indexes uris[] = {
        WSI_TOKEN_GET_URI,    WSI_TOKEN_POST_URI,  WSI_TOKEN_DELETE_URI, WSI_TOKEN_PUT_URI,
        WSI_TOKEN_PATCH_URI,  WSI_TOKEN_HEAD_URI,  WSI_TOKEN_OPTIONS_URI, WSI_TOKEN_HTTP_URI_ARGS,
    };
    size_t uri = 0, all = 0;
    for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++)
        uri += (size_t)lws_hdr_total_length(c->wsi, uris[i]);
    for (int t = 0; t < WSI_TOKEN_COUNT; t++)
        all += (size_t)lws_hdr_total_length(c->wsi, (enum lws_token_indexes)t);
    /* c->uri and the query buffers hold at most GW_URI_MAX - 1 characters. */
    if (uri >= GW_URI_MAX)
        return refuse(c, HTTP_URI_TOO_LONG, "uri_too_long", "request URI too long");
    if (all > GW_HTTP_HEADERS_MAX)
        return refuse(c, HTTP_HEADERS_TOO_LARGE, "headers_too_large",
                             "request headers too large");
    return 0;
}

int gw_http_check_request(struct conn *c)
{
    if (check_sizes(c))
        return 1;
    int has_length = lws_hdr_total_length(c->wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    /* Chunked bodies are refused rather than decoded: libwebsockets 4.1 does
     * not decode them, and with a Content-Length too they are a request
     * smuggling vector (RFC 9112 6.3). */
    if (lws_hdr_total_length(c->wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        if (has_length)
            return refuse(c, HTTP_BAD_REQUEST, "bad_framing",
                                 "Transfer-Encoding and Content-Length together");
        return refuse(c, HTTP_LENGTH_REQUIRED, "length_required",
                      "send the body with a Content-Length; chunked bodies are not accepted");
    }
    if (!has_length) {
        /* Without one libwebsockets waits for a body that never ends. */
        if (c->method == GW_POST || c->method == GW_OTHER_WITH_BODY)
            return refuse(c, HTTP_LENGTH_REQUIRED, "length_required",
                                 "a request with a body needs a Content-Length");
        return 0;
    }
    char value[GW_CONTENT_LENGTH_DIGITS_MAX + 2];
    int n = lws_hdr_copy(c->wsi, value, sizeof value, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    int digits = n > 0 && n <= GW_CONTENT_LENGTH_DIGITS_MAX;
    for (int i = 0; digits && i < n; i++)
        digits = value[i] >= '0' && value[i] <= '9';
    if (!digits)
        return refuse(c, HTTP_BAD_REQUEST, "bad_length",
                             "Content-Length must be a decimal byte count");
    return 0;
}

static int ws_key_valid(const char *key)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    /* The last data character carries 2 bits of the 16th byte and 4 zero bits. */
    static const char last[] = "AQgw";
    if (strlen(key) != WS_KEY_CHARS || strcmp(key + WS_KEY_DATA_CHARS, "==") != 0)
        return 0;
    for (int i = 0; i < WS_KEY_DATA_CHARS; i++) {
        if (!key[i] || !strchr(b64, key[i]))
            return 0;
    }
    return strchr(last, key[WS_KEY_DATA_CHARS - 1]) != NULL;
}

int gw_http_check_upgrade(struct conn *c)
{
    if (check_sizes(c))
        return 1;
    char version[8] = "", key[WS_KEY_CHARS + 8] = "";
    if (lws_hdr_copy(c->wsi, version, sizeof version, WSI_TOKEN_VERSION) < 0 ||
        strcmp(version, WS_VERSION) != 0)
        return refuse(c, HTTP_UPGRADE_REQUIRED, "bad_websocket_version",
                             "only WebSocket version 13 is supported");
    if (lws_hdr_copy(c->wsi, key, sizeof key, WSI_TOKEN_KEY) < 0 || !ws_key_valid(key))
        return refuse(c, HTTP_BAD_REQUEST, "bad_websocket_key",
                             "Sec-WebSocket-Key must be 16 bytes in base64");
    return 0;
}

int gw_http_check_origin(struct gateway *gw, struct conn *c)
{
    if (gw_origin_allowed(gw, c->wsi))
        return 0;
    return refuse(c, HTTP_FORBIDDEN, "bad_origin",
                  "requests from pages of another origin are not accepted "
                  "(see --allow-origin)");
}

int gw_query_arg(struct lws *wsi, const char *name, char *out, size_t len)
{
    /* libwebsockets copies "name=value" into the buffer and returns the value;
     * request URIs are shorter than the buffer (check_sizes). */
    char buf[GW_URI_MAX], key[64];
    snprintf(key, sizeof key, "%s=", name);
    out[0] = '\0';
    const char *value = lws_get_urlarg_by_name(wsi, key, buf, sizeof buf);
    if (!value)
        return 1;
    if (strlen(value) >= len)
        return -1;
    memcpy(out, value, strlen(value) + 1);
    return 0;
}

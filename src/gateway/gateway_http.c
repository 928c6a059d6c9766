/* The REST API, /healthz, QR codes and static pages. */
#include <cjson/cJSON.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway/gateway_internal.h"
#include "metrics/probes.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/timeutil.h"

#define HTTP_OK 200
#define HTTP_CREATED 201
#define HTTP_NO_CONTENT 204
#define HTTP_BAD_REQUEST 400
#define HTTP_UNAUTHORIZED 401
#define HTTP_NOT_FOUND 404
#define HTTP_METHOD_NOT_ALLOWED 405
#define HTTP_CONFLICT 409
#define HTTP_PAYLOAD_TOO_LARGE 413
#define HTTP_UNPROCESSABLE 422
#define HTTP_TOO_MANY 429
#define HTTP_SERVER_ERROR 500
#define HTTP_UNAVAILABLE 503
#define HTTP_INSUFFICIENT_STORAGE 507
#define QR_MARGIN_MODULES 4
#define QR_MODULE_PX 8
#define GW_HEALTH_SESSIONS_MAX 4096
#define JSON_TYPE "application/json"
#define SESSIONS_PREFIX "/api/sessions/"

static void respond(struct conn *c, int status, const char *type, char *body, size_t len)
{
    c->response_status = status;
    c->response_type = type;
    c->response = body;
    c->response_len = len;
}

void gw_respond_json(struct conn *c, int status, cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    respond(c, status, JSON_TYPE, bc_strdup(text), strlen(text));
    cJSON_free(text);
    cJSON_Delete(json);
}

int gw_respond_error(struct conn *c, int status, const char *code, const char *message)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "error", message);
    cJSON_AddStringToObject(json, "code", code);
    gw_respond_json(c, status, json);
    return 0;
}

/* A full disk or an unreachable Redis is named as such, so an operator
 * sees the cause rather than a generic error. */
int gw_respond_store_failure(struct conn *c, int rc, const char *message)
{
    if (rc == BC_ENOSPC)
        return gw_respond_error(c, HTTP_INSUFFICIENT_STORAGE, "disk_full", bc_strerror(rc));
    if (rc == BC_EIO)
        return gw_respond_error(c, HTTP_UNAVAILABLE, "registry_unavailable",
                                "the session registry is unreachable; try again");
    return gw_respond_error(c, HTTP_SERVER_ERROR, "internal", message ? message : bc_strerror(rc));
}


static int get_languages(struct gateway *srv, struct conn *c)
{
    if (!srv->catalog)
        return gw_respond_error(c, HTTP_UNAVAILABLE, "no_worker",
                             "no worker has published its languages yet");
    char *text = catalog_json(srv->catalog);
    respond(c, HTTP_OK, JSON_TYPE, text, strlen(text));
    return 0;
}

static int get_health(struct gateway *srv, struct conn *c)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "status", "ok");
    if (srv->registry) {
        char ids[GW_HEALTH_SESSIONS_MAX][SESSION_ID_LEN + 1];
        size_t live = session_list_live(srv->registry, ids, GW_HEALTH_SESSIONS_MAX);
        cJSON_AddNumberToObject(json, "sessions", (double)live);
    }
    cJSON_AddNumberToObject(json, "uptime_s", (double)(bc_now_us() - srv->started_us) / 1e6);
    if (srv->deps.health)
        srv->deps.health(srv->deps.user_data, json);
    gw_respond_json(c, HTTP_OK, json);
    return 0;
}

/* A JSON \u0000 escape outside an escaped backslash: cJSON would cut the
 * string there, so "es\u0000xx" would pass as "es". */
static int has_nul_escape(const char *s, size_t n)
{
    static const char nul[] = "u0000";
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '\\')
            continue;
        if (n - i - 1 >= strlen(nul) && strncmp(s + i + 1, nul, strlen(nul)) == 0)
            return 1;
        i++; /* the escaped character */
    }
    return 0;
}

cJSON *gw_parse_body(struct conn *c)
{
    if (c->body_len == 0) {
        gw_respond_error(c, HTTP_BAD_REQUEST, "bad_json",
                      "empty body: send a JSON object such as {\"targets\":[\"es\"]}");
        return NULL;
    }
    if (memchr(c->body, '\0', c->body_len) || has_nul_escape(c->body, c->body_len)) {
        gw_respond_error(c, HTTP_BAD_REQUEST, "bad_json", "the body contains a NUL character");
        return NULL;
    }
    const char *end = NULL;
    cJSON *req = cJSON_ParseWithLengthOpts(c->body, c->body_len, &end, 0);
    if (!req || !cJSON_IsObject(req)) {
        cJSON_Delete(req);
        gw_respond_error(c, HTTP_BAD_REQUEST, "bad_json", "body is not a JSON object");
        return NULL;
    }
    while (end < c->body + c->body_len && strchr(" \t\r\n", *end))
        end++;
    if (end < c->body + c->body_len) {
        cJSON_Delete(req);
        gw_respond_error(c, HTTP_BAD_REQUEST, "bad_json", "characters after the JSON object");
        return NULL;
    }
    return req;
}

static int create(struct gateway *srv, const char **codes, size_t n, int is_private,
                  struct session_info *info, char *token, char *key)
{
    if (is_private)
        return session_create_private(srv->registry, CATALOG_SOURCE_LANG, codes, n, info, token,
                                      key);
    return session_create(srv->registry, CATALOG_SOURCE_LANG, codes, n, info, token);
}

/* The listener page of session id, with the key of a private one. */
static char *listen_url(struct gateway *srv, const char *id, const char *key)
{
    if (key && key[0])
        return bc_asprintf("%s/listen/%s?key=%s", srv->public_url, id, key);
    return bc_asprintf("%s/listen/%s", srv->public_url, id);
}

/* Takes one creation from the client's allowance; 0, or 1 after a 429. */
static int rate_limited(struct gateway *srv, struct conn *c)
{
    char addr[GW_ADDR_MAX] = "";
    lws_get_peer_simple(c->wsi, addr, sizeof addr);
    int retry_after_s;
    if (gw_rate_take(srv, addr, &retry_after_s))
        return 0;
    probe_session_refused("rate_limited");
    gw_respond_error(c, HTTP_TOO_MANY, "rate_limited",
                     "too many sessions created from this address; retry later");
    c->retry_after_s = retry_after_s;
    return 1;
}

static int post_session(struct gateway *srv, struct conn *c)
{
    if (c->body_too_large)
        return gw_respond_error(c, HTTP_PAYLOAD_TOO_LARGE, "body_too_large", "request body too large");
    cJSON *req = gw_parse_body(c);
    if (!req)
        return 0;
    const cJSON *source = cJSON_GetObjectItemCaseSensitive(req, "source");
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(req, "targets");
    const cJSON *private_ = cJSON_GetObjectItemCaseSensitive(req, "private");
    const cJSON *mode_ = cJSON_GetObjectItemCaseSensitive(req, "mode");
    enum session_mode mode = SESSION_MODE_SENTENCE;
    char *glossary = NULL;
    if (gw_glossary_check(srv, c, cJSON_GetObjectItemCaseSensitive(req, "glossary"), &glossary)) {
        cJSON_Delete(req);
        return 0;
    }
    const char *codes[SESSION_TARGETS_MAX];
    size_t n = 0;
    int status = 0;
    const char *code = NULL, *message = NULL;
    if (source && (!cJSON_IsString(source) || strcmp(source->valuestring, "en") != 0)) {
        status = HTTP_UNPROCESSABLE, code = "unknown_language";
        message = "the only source language is en";
    } else if (targets && (!cJSON_IsArray(targets) ||
                           cJSON_GetArraySize(targets) > SESSION_TARGETS_MAX)) {
        status = HTTP_BAD_REQUEST, code = "bad_request";
        message = "targets must be an array of at most 16 language codes";
    } else if (private_ && !cJSON_IsBool(private_)) {
        status = HTTP_BAD_REQUEST, code = "bad_request";
        message = "private must be true or false";
    } else if (mode_ && session_mode_parse(cJSON_GetStringValue(mode_), &mode) < 0) {
        status = HTTP_BAD_REQUEST, code = "bad_request";
        message = "mode must be \"sentence\" or \"simultaneous\"";
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, targets)
    {
        if (status)
            break;
        const struct catalog_language *l =
            cJSON_IsString(t) ? catalog_find(srv->catalog, t->valuestring) : NULL;
        int repeated = 0;
        for (size_t i = 0; l && i < n; i++)
            repeated |= strcmp(codes[i], l->code) == 0;
        if (!l && !srv->catalog) {
            status = HTTP_UNAVAILABLE, code = "no_worker";
            message = "no worker has published its languages yet; try again shortly";
        } else if (!l) {
            status = HTTP_UNPROCESSABLE, code = "unknown_language";
            message = "a target language is not installed (see GET /api/languages)";
        } else if (repeated) {
            status = HTTP_BAD_REQUEST, code = "bad_request";
            message = "a target language is listed twice";
        } else {
            codes[n++] = l->code;
        }
    }
    if (status) {
        if (status == HTTP_UNAVAILABLE)
            probe_session_refused(code);
        cJSON_Delete(req);
        free(glossary);
        return gw_respond_error(c, status, code, message);
    }
    if (!gw_workers_have_room(srv)) {
        cJSON_Delete(req);
        return gw_refuse_server_full(c);
    }
    if (rate_limited(srv, c)) {
        cJSON_Delete(req);
        free(glossary);
        return 0;
    }
    struct session_info info;
    char token[SESSION_TOKEN_LEN + 1], key[SESSION_KEY_LEN + 1] = "";
    int is_private = cJSON_IsTrue(private_);
    cJSON_Delete(req);
    int rc = create(srv, codes, n, is_private, &info, token, key);
    /* Idle sessions must not hold the last places until the next sweep. */
    if (rc == BC_ELIMIT && gw_idle_sweep(srv) > 0)
        rc = create(srv, codes, n, is_private, &info, token, key);
    if (rc == 0 && glossary && (rc = gw_glossary_store(srv, info.id, glossary)) < 0)
        session_end(srv->registry, info.id, NULL); /* no session without its glossary */
    free(glossary);
    if (rc == BC_ELIMIT) {
        probe_session_refused("too_many_sessions");
        return gw_respond_error(c, HTTP_TOO_MANY, "too_many_sessions", "too many live sessions");
    }
    if (rc == 0 && mode != SESSION_MODE_SENTENCE)
        rc = session_set_mode(srv->registry, info.id, mode);
    if (rc < 0)
        return gw_respond_store_failure(c, rc, NULL);
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "id", info.id);
    cJSON_AddStringToObject(json, "speaker_token", token);
    cJSON_AddStringToObject(json, "mode", session_mode_name(mode));
    char *listen = listen_url(srv, info.id, key);
    char *speak = bc_asprintf("%s/speak/%s", srv->public_url, info.id);
    if (is_private)
        cJSON_AddStringToObject(json, "listener_key", key);
    cJSON_AddBoolToObject(json, "private", is_private);
    cJSON_AddStringToObject(json, "listen_url", listen);
    cJSON_AddStringToObject(json, "speak_url", speak);
    free(listen);
    free(speak);
    cJSON_AddStringToObject(json, "source", info.source);
    cJSON *arr = cJSON_AddArrayToObject(json, "targets");
    for (size_t i = 0; i < info.n_targets; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(info.targets[i]));
    gw_respond_json(c, HTTP_CREATED, json);
    return 0;
}

static int get_session(struct gateway *srv, struct conn *c, const struct session_info *info)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "id", info->id);
    cJSON_AddStringToObject(json, "state", info->state == SESSION_LIVE ? "live" : "ended");
    cJSON_AddStringToObject(json, "source", info->source);
    cJSON_AddStringToObject(json, "mode", session_mode_name(info->mode));
    cJSON *targets = cJSON_AddArrayToObject(json, "targets");
    for (size_t i = 0; i < info->n_targets; i++)
        cJSON_AddItemToArray(targets, cJSON_CreateString(info->targets[i]));
    char langs[SESSION_TARGETS_MAX][SESSION_LANG_LEN];
    size_t n = session_languages(srv->registry, info, langs, SESSION_TARGETS_MAX);
    cJSON *languages = cJSON_AddArrayToObject(json, "languages");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(languages, cJSON_CreateString(langs[i]));
    int counts[SESSION_TARGETS_MAX];
    n = session_listener_counts(srv->registry, info->id, langs, counts, SESSION_TARGETS_MAX);
    cJSON *listeners = cJSON_AddObjectToObject(json, "listeners");
    for (size_t i = 0; i < n; i++)
        cJSON_AddNumberToObject(listeners, langs[i], counts[i]);
    cJSON_AddNumberToObject(json, "created_ms", (double)info->created_ms);
    cJSON_AddNumberToObject(json, "ended_ms", (double)info->ended_ms);
    gw_add_shedding(srv, json, info);
    gw_respond_json(c, HTTP_OK, json);
    return 0;
}

static int delete_session(struct gateway *srv, struct conn *c, const struct session_info *info)
{
    char token[128];
    gw_bearer_token(c->wsi, token, sizeof token);
    int rc = session_end(srv->registry, info->id, token);
    if (rc == BC_EAUTH)
        return gw_respond_error(c, HTTP_UNAUTHORIZED, "bad_token", "missing or wrong speaker token");
    if (rc == BC_ESTATE)
        return gw_respond_error(c, HTTP_CONFLICT, "session_ended", "session already ended");
    if (rc < 0)
        return gw_respond_store_failure(c, rc, NULL);
    gw_end_session(srv, info->id);
    respond(c, HTTP_NO_CONTENT, JSON_TYPE, NULL, 0);
    return 0;
}

static int delete_transcript(struct gateway *srv, struct conn *c, const struct session_info *info)
{
    char token[128];
    gw_bearer_token(c->wsi, token, sizeof token);
    int rc = session_delete_transcript(srv->registry, info->id, token);
    if (rc == BC_EAUTH)
        return gw_respond_error(c, HTTP_UNAUTHORIZED, "bad_token", "missing or wrong speaker token");
    if (rc < 0)
        return gw_respond_store_failure(c, rc, NULL);
    respond(c, HTTP_NO_CONTENT, JSON_TYPE, NULL, 0);
    return 0;
}

static int get_transcript(struct gateway *srv, struct conn *c, const struct session_info *info)
{
    if (info->transcript_deleted)
        return gw_respond_error(c, HTTP_NOT_FOUND, "transcript_deleted", "transcript deleted");
    char lang[SESSION_LANG_LEN + 8] = "", format_name[16] = "";
    if (gw_query_arg(c->wsi, "lang", lang, sizeof lang) < 0)
        return gw_respond_error(c, HTTP_BAD_REQUEST, "bad_request", "lang is too long");
    if (!lang[0])
        snprintf(lang, sizeof lang, "%s", info->source);
    int rc = gw_query_arg(c->wsi, "format", format_name, sizeof format_name);
    if (rc == 1 || (rc == 0 && !format_name[0]))
        snprintf(format_name, sizeof format_name, "json");
    enum transcript_format format;
    if (transcript_format_parse(format_name, &format) < 0)
        return gw_respond_error(c, HTTP_BAD_REQUEST, "bad_format", "format is vtt, srt, txt or json");
    const struct catalog_language *l = catalog_find(srv->catalog, lang);
    if (!l && strcmp(lang, info->source) != 0)
        return gw_respond_error(c, HTTP_UNPROCESSABLE, "unknown_language", "language not offered");
    struct transcript *t;
    if (session_transcript(srv->registry, info->id, l ? l->code : info->source, &t) < 0)
        return gw_respond_error(c, HTTP_NOT_FOUND, "no_session", "no such session");
    char *text;
    size_t len;
    transcript_render(t, format, &text, &len);
    transcript_free(t);
    respond(c, HTTP_OK, transcript_format_mime(format), text, len);
    return 0;
}

/* key: a private session's listener key when the request carried it, so
 * the code opens the session; else "" (the speaker's own request). */
static int get_qr(struct gateway *srv, struct conn *c, const struct session_info *info,
                  const char *key)
{
    char *url = listen_url(srv, info->id, key);
    QRcode *qr = QRcode_encodeString(url, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    free(url);
    if (!qr)
        return gw_respond_error(c, HTTP_SERVER_ERROR, "internal", "QR encoding failed");
    int size = qr->width + 2 * QR_MARGIN_MODULES;
    size_t cap = (size_t)qr->width * (size_t)qr->width * 24 + 512, len = 0;
    char *svg = bc_malloc(cap);
    len += (size_t)snprintf(svg + len, cap - len,
                            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                            "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\">"
                            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
                            size, size, size * QR_MODULE_PX, size * QR_MODULE_PX);
    for (int y = 0; y < qr->width; y++) {
        for (int x = 0; x < qr->width; x++) {
            if (qr->data[y * qr->width + x] & 1)
                len += (size_t)snprintf(svg + len, cap - len, "M%d %dh1v1h-1z",
                                        x + QR_MARGIN_MODULES, y + QR_MARGIN_MODULES);
        }
    }
    len += (size_t)snprintf(svg + len, cap - len, "\"/></svg>\n");
    QRcode_free(qr);
    respond(c, HTTP_OK, "image/svg+xml", svg, len);
    return 0;
}

static int session_route(struct gateway *srv, struct conn *c)
{
    const char *rest = c->uri + strlen(SESSIONS_PREFIX);
    size_t id_len = strcspn(rest, "/");
    char id[SESSION_ID_LEN + 1];
    if (id_len == 0 || id_len > SESSION_ID_LEN)
        return gw_respond_error(c, HTTP_NOT_FOUND, "no_session", "no such session");
    memcpy(id, rest, id_len);
    id[id_len] = '\0';
    const char *sub = rest + id_len;
    struct session_info info;
    int rc = session_get(srv->registry, id, &info);
    if (rc == BC_EIO)
        return gw_respond_error(c, HTTP_UNAVAILABLE, "registry_unavailable",
                                "the session registry is unreachable; try again");
    if (rc < 0)
        return gw_respond_error(c, HTTP_NOT_FOUND, "no_session", "no such session");
    char key[SESSION_KEY_LEN + 1];
    int readable = gw_may_listen(srv, c->wsi, &info, key, sizeof key);
    if (!readable && c->method == GW_GET)
        return gw_respond_error(c, HTTP_UNAUTHORIZED, "bad_key",
                                "a private session: the listener key is missing or wrong");
    if (sub[0] == '\0' && c->method == GW_GET)
        return get_session(srv, c, &info);
    if (sub[0] == '\0' && c->method == GW_DELETE)
        return delete_session(srv, c, &info);
    if (strcmp(sub, "/transcript") == 0 && c->method == GW_GET)
        return get_transcript(srv, c, &info);
    if (strcmp(sub, "/transcript") == 0 && c->method == GW_DELETE)
        return delete_transcript(srv, c, &info);
    if (strcmp(sub, "/qr.svg") == 0 && c->method == GW_GET)
        return get_qr(srv, c, &info, key);
    if (strcmp(sub, GW_GLOSSARY_PATH) == 0)
        return gw_glossary_route(srv, c, &info);
    if (sub[0] == '\0' || strcmp(sub, "/transcript") == 0 || strcmp(sub, "/qr.svg") == 0)
        return gw_respond_error(c, HTTP_METHOD_NOT_ALLOWED, "bad_method", "method not allowed");
    return gw_respond_error(c, HTTP_NOT_FOUND, "not_found", "no such resource");
}

static const char *mime_of(const char *path)
{
    static const struct {
        const char *ext, *mime;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".png", "image/png"},                 {".ico", "image/x-icon"},
        {".json", JSON_TYPE},                  {".webmanifest", "application/manifest+json"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].mime;
    }
    return "application/octet-stream";
}

/* Whether path, with every link resolved, is still below root: a link in
 * the web root must not publish the rest of the file system. */
static int inside_web_root(const char *root, const char *path)
{
    char *real_root = realpath(root, NULL), *real_path = realpath(path, NULL);
    size_t n = real_root ? strlen(real_root) : 0;
    int inside = real_root && real_path && strncmp(real_path, real_root, n) == 0 &&
                 real_path[n] == '/';
    free(real_root);
    free(real_path);
    return inside;
}

static int static_file(struct gateway *srv, struct conn *c)
{
    const char *page = NULL;
    if (strcmp(c->uri, "/") == 0)
        page = "/index.html";
    else if (strncmp(c->uri, "/speak/", 7) == 0 && !strchr(c->uri + 7, '/'))
        page = "/speak.html";
    else if (strncmp(c->uri, "/listen/", 8) == 0 && !strchr(c->uri + 8, '/'))
        page = "/listen.html";
    else
        page = c->uri;
    struct stat st;
    char *path = bc_asprintf("%s%s", srv->config.web_root, page);
    int found = srv->config.web_root && !strstr(page, "..") && stat(path, &st) == 0 &&
                S_ISREG(st.st_mode) && inside_web_root(srv->config.web_root, path);
    if (!found) {
        free(path);
        static const char not_found[] = "404 not found\n";
        respond(c, HTTP_NOT_FOUND, "text/plain; charset=utf-8", bc_strdup(not_found),
                strlen(not_found));
        return 0;
    }
    int rc = lws_serve_http_file(c->wsi, path, mime_of(path), NULL, 0);
    free(path);
    if (rc < 0)
        return -1;
    return 1;
}

int gw_http_handle(struct gateway *srv, struct conn *c)
{
    if (strcmp(c->uri, "/healthz") == 0 && c->method == GW_GET)
        return get_health(srv, c);
    /* A browser sends a cross-origin POST with a "simple" type such as
     * text/plain without asking first, so the body is never the test. */
    int changes = c->method == GW_POST || c->method == GW_DELETE ||
                  c->method == GW_OTHER_WITH_BODY;
    if (changes && gw_http_check_origin(srv, c))
        return 0;
    if (strcmp(c->uri, "/metrics") == 0 && c->method == GW_GET)
        return gw_metrics_respond(srv, c);
    if (srv->config.health_only)
        return gw_respond_error(c, HTTP_NOT_FOUND, "not_found",
                                "this port serves /healthz and /metrics only");
    if (strcmp(c->uri, "/api/languages") == 0 && c->method == GW_GET)
        return get_languages(srv, c);
    if (strcmp(c->uri, "/api/sessions") == 0 || strcmp(c->uri, "/api/sessions/") == 0) {
        if (c->method == GW_POST)
            return post_session(srv, c);
        return gw_respond_error(c, HTTP_METHOD_NOT_ALLOWED, "bad_method", "use POST");
    }
    if (strncmp(c->uri, SESSIONS_PREFIX, strlen(SESSIONS_PREFIX)) == 0)
        return session_route(srv, c);
    if (strncmp(c->uri, "/api/", 5) == 0)
        return gw_respond_error(c, HTTP_NOT_FOUND, "not_found", "no such resource");
    if (c->method != GW_GET)
        return gw_respond_error(c, HTTP_METHOD_NOT_ALLOWED, "bad_method", "method not allowed");
    return static_file(srv, c);
}

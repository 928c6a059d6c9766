/* GET and PUT /api/sessions/ID/glossary, and the "glossary" of
 * POST /api/sessions. The gateway validates (glossary/glossary.h) and
 * stores canonical JSON in the registry; workers read it from there. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_internal.h"
#include "glossary/glossary.h"
#include "util/alloc.h"
#include "util/err.h"

#define HTTP_OK 200
#define HTTP_BAD_REQUEST 400
#define HTTP_UNAUTHORIZED 401
#define HTTP_METHOD_NOT_ALLOWED 405
#define HTTP_CONFLICT 409
#define HTTP_PAYLOAD_TOO_LARGE 413
#define HTTP_UNAVAILABLE 503
#define GLOSSARY_TEXT_TYPE "text/plain"
#define CONTENT_TYPE_MAX 128
#define BEARER_MAX 128

struct lang_check {
    const struct catalog *catalog;
    int no_catalog; /* a language was asked for before any worker published */
};

static int catalog_lang(void *user, const char *code, char out[LANG_CODE_MAX])
{
    struct lang_check *check = user;
    if (!check->catalog) {
        check->no_catalog = 1;
        return BC_ENOTFOUND;
    }
    const struct catalog_language *l = catalog_find(check->catalog, code);
    if (!l)
        return BC_ENOTFOUND;
    snprintf(out, LANG_CODE_MAX, "%s", l->code);
    return 0;
}

/* Answers a glossary that did not parse; returns 1. */
static int refuse(struct conn *c, const struct lang_check *check, const char *err)
{
    if (check->no_catalog)
        gw_respond_error(c, HTTP_UNAVAILABLE, "no_worker",
                         "no worker has published its languages yet; try again shortly");
    else
        gw_respond_error(c, HTTP_BAD_REQUEST, "bad_glossary", err);
    return 1;
}

static int finish(struct conn *c, const struct lang_check *check, struct glossary *g, int rc,
                  const char *err, char **json)
{
    if (rc < 0)
        return refuse(c, check, err);
    *json = glossary_to_json(g);
    glossary_free(g);
    return 0;
}

int gw_glossary_check(struct gateway *srv, struct conn *c, const cJSON *value, char **json)
{
    *json = NULL;
    if (!value)
        return 0;
    struct lang_check check = {srv->catalog, 0};
    struct glossary *g;
    char err[GLOSSARY_ERROR_MAX];
    int rc = glossary_from_json(value, catalog_lang, &check, &g, err, sizeof err);
    return finish(c, &check, g, rc, err, json);
}

int gw_glossary_store(struct gateway *srv, const char *id, const char *json)
{
    return session_glossary_set(srv->registry, id, json, NULL);
}

static void respond_glossary(struct conn *c, const char *json, uint64_t version)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *array = cJSON_Parse(json ? json : "[]");
    cJSON_AddItemToObject(out, "glossary", array ? array : cJSON_CreateArray());
    cJSON_AddNumberToObject(out, "version", (double)version);
    gw_respond_json(c, HTTP_OK, out);
}

static int get_glossary(struct gateway *srv, struct conn *c, const struct session_info *info)
{
    char *json = NULL;
    uint64_t version;
    int rc = session_glossary_get(srv->registry, info->id, 0, &json, &version);
    if (rc < 0)
        return gw_respond_store_failure(c, rc, NULL);
    respond_glossary(c, json, version);
    free(json);
    return 0;
}

/* The body's glossary: the text form for a text/plain body, else a JSON
 * object {"glossary": [...]}. 0 with *json, or 1 after answering. */
static int body_glossary(struct gateway *srv, struct conn *c, char **json)
{
    char type[CONTENT_TYPE_MAX] = "";
    lws_hdr_copy(c->wsi, type, sizeof type, WSI_TOKEN_HTTP_CONTENT_TYPE);
    if (strncmp(type, GLOSSARY_TEXT_TYPE, strlen(GLOSSARY_TEXT_TYPE)) == 0) {
        struct lang_check check = {srv->catalog, 0};
        struct glossary *g;
        char err[GLOSSARY_ERROR_MAX];
        int rc = glossary_parse_text(c->body ? c->body : "", c->body_len, catalog_lang, &check,
                                     &g, err, sizeof err);
        return finish(c, &check, g, rc, err, json);
    }
    cJSON *req = gw_parse_body(c);
    if (!req)
        return 1;
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(req, "glossary");
    int rc = 1;
    if (value)
        rc = gw_glossary_check(srv, c, value, json);
    else
        gw_respond_error(c, HTTP_BAD_REQUEST, "bad_glossary",
                         "send {\"glossary\": [...]} or the text form as text/plain");
    cJSON_Delete(req);
    return rc;
}

static int put_glossary(struct gateway *srv, struct conn *c, const struct session_info *info)
{
    if (c->body_too_large)
        return gw_respond_error(c, HTTP_PAYLOAD_TOO_LARGE, "body_too_large",
                                "glossary too large for one request");
    char token[BEARER_MAX];
    gw_bearer_token(c->wsi, token, sizeof token);
    int rc = session_check_token(srv->registry, info->id, token);
    if (rc == BC_EAUTH)
        return gw_respond_error(c, HTTP_UNAUTHORIZED, "bad_token", "missing or wrong speaker token");
    if (rc < 0)
        return gw_respond_store_failure(c, rc, NULL);
    if (info->state != SESSION_LIVE)
        return gw_respond_error(c, HTTP_CONFLICT, "session_ended", "session already ended");
    char *json = NULL;
    if (body_glossary(srv, c, &json))
        return 0;
    uint64_t version;
    rc = session_glossary_set(srv->registry, info->id, json, &version);
    if (rc == BC_ESTATE)
        rc = gw_respond_error(c, HTTP_CONFLICT, "session_ended", "session already ended");
    else if (rc < 0)
        rc = gw_respond_store_failure(c, rc, NULL);
    else
        respond_glossary(c, json, version);
    free(json);
    return rc;
}

int gw_glossary_route(struct gateway *srv, struct conn *c, const struct session_info *info)
{
    if (c->method == GW_GET)
        return get_glossary(srv, c, info);
    if (c->method == GW_OTHER_WITH_BODY && lws_hdr_total_length(c->wsi, WSI_TOKEN_PUT_URI))
        return put_glossary(srv, c, info);
    return gw_respond_error(c, HTTP_METHOD_NOT_ALLOWED, "bad_method", "use GET or PUT");
}

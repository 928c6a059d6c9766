/* Who may do what with a session: the speaker token and a private
 * session's listener key, as the requests carry them. */
#include <stdio.h>
#include <string.h>

#include "gateway/gateway_internal.h"

/* The speaker token of an Authorization: Bearer header, or "". */
void gw_bearer_token(struct lws *wsi, char *out, size_t len)
{
    char auth[128] = "";
    static const char bearer[] = "Bearer ";
    if (lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) < 0 ||
        strncmp(auth, bearer, strlen(bearer)) != 0)
        auth[0] = '\0';
    snprintf(out, len, "%s", auth[0] ? auth + strlen(bearer) : "");
}

int gw_may_listen(struct gateway *srv, struct lws *wsi, const struct session_info *info,
                  char *key, size_t key_len)
{
    key[0] = '\0';
    if (!info->is_private)
        return 1;
    char given[SESSION_TOKEN_LEN + 8], bearer[128];
    if (gw_query_arg(wsi, "key", given, sizeof given) == 0 &&
        session_check_listener_key(srv->registry, info->id, given) == 0) {
        snprintf(key, key_len, "%s", given);
        return 1;
    }
    /* The speaker may read everything of its own session. */
    if (gw_query_arg(wsi, "token", given, sizeof given) == 0 &&
        session_check_token(srv->registry, info->id, given) == 0)
        return 1;
    gw_bearer_token(wsi, bearer, sizeof bearer);
    if (bearer[0]) {
        const char *value = bearer;
        if (session_check_token(srv->registry, info->id, value) == 0)
            return 1;
        if (session_check_listener_key(srv->registry, info->id, value) == 0) {
            snprintf(key, key_len, "%s", value);
            return 1;
        }
    }
    return 0;
}

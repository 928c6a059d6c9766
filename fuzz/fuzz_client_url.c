/* URLs given to `babelcast speak/listen --server`: client_url_parse must
 * accept or refuse every string and, when it accepts, fill a host, a port
 * and a path that the rest of the client can use as they are; escaping and
 * joining must hold any text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/client_url.h"
#include "fuzz_common.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char *url = fuzz_cstr(data, len);
    struct client_url u;
    char err[512];
    int rc = client_url_parse(url, &u, err, sizeof err);
    if (rc == 0) {
        if (!u.host[0] || strlen(u.host) > CLIENT_URL_HOST_MAX || u.port < 1 || u.port > 65535 ||
            u.path[0] != '/' || strlen(u.path) > CLIENT_URL_PATH_MAX)
            abort();
    } else if (rc != BC_EINVAL || !err[0]) {
        abort();
    }
    char *escaped = client_url_escape(url);
    for (const char *p = escaped; *p; p++) {
        if (strchr("/?#&= ", *p))
            abort(); /* would change the URL's structure */
    }
    char *joined = client_url_join(url, "/api/sessions/%s", escaped);
    if (!strstr(joined, escaped))
        abort();
    free(joined);
    free(escaped);
    free(url);
    return 0;
}

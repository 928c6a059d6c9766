/* Redis URLs from the command line and the environment (--redis,
 * redis://[:password@]host[:port][/db]): redis_url_parse must accept or
 * refuse any string, and what it accepts must be usable as it is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "redis/redis_conn.h"
#include "util/err.h"

/* The largest database index redis_conn.c accepts. */
#define FUZZ_REDIS_DB_MAX 1000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char *url = fuzz_cstr(data, len);
    struct redis_url u;
    int rc = redis_url_parse(url, &u);
    if (rc == 0) {
        if (!u.host[0] || strnlen(u.host, sizeof u.host) == sizeof u.host ||
            strnlen(u.password, sizeof u.password) == sizeof u.password || u.port < 1 ||
            u.port > 65535 || u.db < 0 || u.db > FUZZ_REDIS_DB_MAX || strpbrk(u.host, ":/"))
            abort();
    } else if (rc != BC_EINVAL) {
        abort();
    }
    free(url);
    return 0;
}

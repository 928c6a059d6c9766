/* Messages read from Redis pub/sub (delivery_redis_sub.c): any bytes a
 * peer or a corrupted channel delivers must decode to a well-formed message
 * or BC_EFORMAT, and what decodes must encode back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/delivery.h"
#include "delivery/delivery_redis.h"
#include "fuzz_common.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    struct delivery_msg *m;
    int rc = delivery_wire_decode(data, len, &m);
    if (rc != 0) {
        if (rc != BC_EFORMAT || m)
            abort();
        return 0;
    }
    if (!m->session[0] || strnlen(m->session, sizeof m->session) == sizeof m->session ||
        strnlen(m->lang, sizeof m->lang) == sizeof m->lang)
        abort();
    fuzz_touch(m->payload, m->len);
    uint8_t *again;
    size_t again_len;
    if (delivery_wire_encode(m, &again, &again_len) != 0 || again_len != len ||
        memcmp(again, data, len) != 0)
        abort();
    free(again);
    delivery_msg_unref(m);
    return 0;
}

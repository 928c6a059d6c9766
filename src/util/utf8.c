#include "util/utf8.h"

#include <string.h>

#define UTF8_LEAD2_MIN 0xc2
#define UTF8_LEAD2_MAX 0xdf
#define UTF8_LEAD3_MIN 0xe0
#define UTF8_LEAD3_MAX 0xef
#define UTF8_LEAD4_MIN 0xf0
#define UTF8_LEAD4_MAX 0xf4
#define UTF8_SEQ_MAX 4

size_t bc_utf8_len(const unsigned char *s)
{
    size_t n = s[0] < 0x80                                          ? 1
               : s[0] >= UTF8_LEAD2_MIN && s[0] <= UTF8_LEAD2_MAX ? 2
               : s[0] >= UTF8_LEAD3_MIN && s[0] <= UTF8_LEAD3_MAX ? 3
               : s[0] >= UTF8_LEAD4_MIN && s[0] <= UTF8_LEAD4_MAX ? 4
                                                                  : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
        (n == 4 && s[0] == 0xf0 && s[1] < 0x90) || (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong, surrogate, beyond U+10FFFF */
    return n;
}

int bc_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        /* A NUL-padded copy: a sequence cut short by the end then fails
         * bc_utf8_len's continuation check. */
        unsigned char buf[UTF8_SEQ_MAX + 1] = {0};
        size_t avail = (size_t)(end - p) < UTF8_SEQ_MAX ? (size_t)(end - p) : UTF8_SEQ_MAX;
        memcpy(buf, p, avail);
        size_t k = buf[0] ? bc_utf8_len(buf) : 0;
        if (k == 0)
            return 0;
        p += k;
    }
    return 1;
}

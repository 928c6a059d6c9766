#include "util/utf8.h"

#define UTF8_LEAD2_MIN 0xc2
#define UTF8_LEAD2_MAX 0xdf
#define UTF8_LEAD3_MIN 0xe0
#define UTF8_LEAD3_MAX 0xef
#define UTF8_LEAD4_MIN 0xf0
#define UTF8_LEAD4_MAX 0xf4

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
        if (*p == '\0')
            return 0;
        /* A sequence cut by the end fails on the NUL-free check below. */
        size_t len = 1;
        for (; len < 4 && p + len < end; len++)
            ;
        unsigned char buf[5] = {0};
        for (size_t i = 0; i < len; i++)
            buf[i] = p[i];
        size_t k = bc_utf8_len(buf);
        if (k == 0)
            return 0;
        p += k;
    }
    return 1;
}

/* UTF-8 checks. Pure functions, thread-safe. */
#ifndef BC_UTF8_H
#define BC_UTF8_H

#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence at s (NUL-ended), or 0 when it
 * is not one (a stray continuation byte, an overlong form, a surrogate or a
 * code point beyond U+10FFFF). */
size_t bc_utf8_len(const unsigned char *s);
/* 1 when the n bytes at s are valid UTF-8 with no NUL byte. */
int bc_utf8_valid(const char *s, size_t n);

#endif

/* UTF-8 checks: valid text of every sequence length, and each kind of
 * invalid input (stray continuation, truncated, overlong, surrogate,
 * beyond U+10FFFF, an embedded NUL). */
#include "test.h"
#include "util/utf8.h"

static int valid(const char *s)
{
    return bc_utf8_valid(s, strlen(s));
}

int main(void)
{
    ASSERT(valid(""));
    ASSERT(valid("plain ASCII"));
    ASSERT(valid("Esp\xc3\xadritu Santo \xe2\x80\xa6 \xf0\x9f\x8e\xa4"));
    ASSERT(!valid("caf\xe9"));                 /* Latin-1 */
    ASSERT(!valid("\x80 stray"));              /* continuation without a lead */
    ASSERT(!valid("cut \xe2\x80"));            /* truncated at the end */
    ASSERT(!valid("\xc0\xaf"));                /* overlong '/' */
    ASSERT(!valid("\xed\xa0\x80"));            /* surrogate U+D800 */
    ASSERT(!valid("\xf4\x90\x80\x80"));        /* U+110000 */
    ASSERT(!bc_utf8_valid("a\0b", 3));         /* NUL inside */
    ASSERT(!bc_utf8_valid("\xc3\0", 2));       /* NUL as a continuation */
    ASSERT(bc_utf8_valid("\xc3\xad" "xyz", 2)); /* only the first n bytes count */
    ASSERT_EQ(bc_utf8_len((const unsigned char *)"\xf0\x9f\x8e\xa4"), 4);
    ASSERT_EQ(bc_utf8_len((const unsigned char *)"\xe2\x80\xa6"), 3);
    printf("utf8: all passed\n");
    return 0;
}

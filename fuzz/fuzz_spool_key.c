/* The archive spool's keys and the file names of ready/ it reads back at
 * start-up (spool_key_valid, spool_key_of_name). The input is taken both
 * as a key and as a file name. What must hold for any string: a valid key
 * is 1..SPOOL_KEY_MAX-1 characters of [A-Za-z0-9._-/] without an empty
 * segment or one starting with '.'; its file name (each '/' a '+') is one
 * path component that reads back to the same key; a file name reads back
 * to a key only when that key is valid and names the file again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive/spool.h"
#include "fuzz_common.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void check(int ok)
{
    if (!ok)
        abort();
}

/* The rule, said another way: segments split at '/'. */
static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n >= SPOOL_KEY_MAX)
        return 0;
    const char *seg = k;
    for (;;) {
        size_t m = strcspn(seg, "/");
        if (m == 0 || seg[0] == '.')
            return 0;
        for (size_t i = 0; i < m; i++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
                        seg[i]))
                return 0;
        if (!seg[m])
            return 1;
        seg += m + 1;
    }
}

static void swap_chars(char *s, char from, char to)
{
    for (; *s; s++)
        if (*s == from)
            *s = to;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static int ready;
    if (!ready) {
        fuzz_quiet();
        ready = 1;
    }
    char *s = fuzz_cstr(data, len);
    int valid = spool_key_valid(s);
    check(valid == 0 || valid == 1);
    check(valid == key_ok(s));
    char key[SPOOL_KEY_MAX];
    if (valid) {
        char *name = bc_strdup(s);
        swap_chars(name, '/', '+');
        check(!strchr(name, '/') && name[0] != '.' && strcmp(name, "..") != 0);
        check(spool_key_of_name(name, key) == 0 && strcmp(key, s) == 0);
        free(name);
    }
    memset(key, 'x', sizeof key);
    int rc = spool_key_of_name(s, key);
    if (rc == 0) {
        check(spool_key_valid(key));
        char *name = bc_strdup(key);
        swap_chars(name, '/', '+');
        check(strcmp(name, s) == 0);
        free(name);
    } else {
        check(rc == BC_EINVAL && key[0] == '\0');
    }
    free(s);
    return 0;
}

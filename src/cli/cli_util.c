#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("babelcast: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_bad_option(const char *command, const char *arg)
{
    return cli_fail(CLI_EXIT_USAGE, "%s: unknown option or missing value: %s (see --help)", command,
                    arg);
}

int cli_parse_langs(const char *list, char langs[][CLI_LANG_LEN], size_t max)
{
    size_t n = 0;
    const char *p = list;
    while (*p) {
        const char *start = p;
        while (*p && *p != ',')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || len >= CLI_LANG_LEN || n == max)
            return -1;
        for (size_t i = 0; i < len; i++) {
            if (!isalnum((unsigned char)start[i]) && start[i] != '_' && start[i] != '-')
                return -1;
        }
        memcpy(langs[n], start, len);
        langs[n++][len] = '\0';
        if (*p == ',')
            p++;
    }
    return n ? (int)n : -1;
}

int cli_parse_int(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

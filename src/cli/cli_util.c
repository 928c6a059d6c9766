#include <cjson/cJSON.h>
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

void cli_conn_on_text(const char *text, size_t len, void *user)
{
    struct cli_conn *conn = user;
    cJSON *msg = cJSON_ParseWithLength(text, len);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "type"));
    if (type) {
        pthread_mutex_lock(&conn->mu);
        conn->on_message(conn, type, msg);
        pthread_mutex_unlock(&conn->mu);
    }
    cJSON_Delete(msg);
}

void cli_conn_on_close(int code, const char *reason, void *user)
{
    struct cli_conn *conn = user;
    pthread_mutex_lock(&conn->mu);
    conn->closed = 1;
    conn->close_code = code;
    snprintf(conn->close_reason, sizeof conn->close_reason, "%s", reason);
    pthread_mutex_unlock(&conn->mu);
}

int cli_parse_arg(const char *command, int argc, char **argv, int *i,
                  const struct cli_value_opt *opts, int allow_empty,
                  const char **const *positionals)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
        return 1;
    for (const struct cli_value_opt *o = opts; o->name; o++) {
        if (strcmp(a, o->name))
            continue;
        if (*i + 1 >= argc || (!allow_empty && !argv[*i + 1][0]))
            return cli_fail(-CLI_EXIT_USAGE, "%s: %s needs a value", command, a);
        *o->value = argv[++*i];
        return 0;
    }
    if (a[0] == '-' && a[1])
        return cli_fail(-CLI_EXIT_USAGE, "%s: unknown option %s (see --help)", command, a);
    for (const char **const *slot = positionals; *slot; slot++) {
        if (!**slot) {
            **slot = a;
            return 0;
        }
    }
    return cli_fail(-CLI_EXIT_USAGE, "%s: unexpected argument %s", command, a);
}

int cli_check_url(const char *command, const char *url)
{
    if (strncmp(url, "http://", 7) && strncmp(url, "ws://", 5))
        return cli_fail(-CLI_EXIT_USAGE, "%s: URL must start with http:// (got %s)", command, url);
    return 0;
}

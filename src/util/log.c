#include "util/log.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"

#define LOG_LINE_MAX 1024
#define LOG_ROLE_MAX 32
#define LOG_TS_MAX 40
#define NS_PER_MS 1000000L
/* Each byte of a line becomes at most the three of U+FFFD. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"
#define UTF8_REPLACEMENT_LEN 3

static enum bc_log_level current_level = BC_LOG_INFO;
static enum bc_log_format current_format = BC_LOG_TEXT;
static char current_role[LOG_ROLE_MAX];
static const char *const level_names[] = {"debug", "info", "warn", "error", ""};

void bc_log_set_level(enum bc_log_level level)
{
    current_level = level;
}

void bc_log_set_format(enum bc_log_format format)
{
    current_format = format;
}

int bc_log_format_parse(const char *name, enum bc_log_format *out)
{
    if (strcmp(name, "text") == 0)
        *out = BC_LOG_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = BC_LOG_JSON;
    else
        return BC_EINVAL;
    return 0;
}

void bc_log_set_role(const char *role)
{
    snprintf(current_role, sizeof current_role, "%s", role ? role : "");
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp, min;
    if ((s[0] & 0xE0) == 0xC0)
        n = 2, cp = s[0] & 0x1F, min = 0x80;
    else if ((s[0] & 0xF0) == 0xE0)
        n = 3, cp = s[0] & 0x0F, min = 0x800;
    else if ((s[0] & 0xF8) == 0xF0)
        n = 4, cp = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* in as valid UTF-8 into out (room for 3 * strlen(in) + 1). */
static void utf8_clean(const char *in, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    while (*s) {
        size_t n = utf8_sequence(s);
        if (n == 0) {
            memcpy(out, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
            out += UTF8_REPLACEMENT_LEN;
            s++;
            continue;
        }
        memcpy(out, s, n);
        out += n;
        s += n;
    }
    *out = '\0';
}

static void timestamp(char *out, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03ldZ", ts.tv_nsec / NS_PER_MS);
}

static void write_json(enum bc_log_level level, const char *line)
{
    char ts[LOG_TS_MAX];
    char clean[UTF8_REPLACEMENT_LEN * LOG_LINE_MAX + 1];
    timestamp(ts, sizeof ts);
    utf8_clean(line, clean);
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "ts", ts);
    cJSON_AddStringToObject(json, "level", level_names[level]);
    cJSON_AddStringToObject(json, "msg", clean);
    cJSON_AddNumberToObject(json, "pid", (double)getpid());
    if (current_role[0])
        cJSON_AddStringToObject(json, "role", current_role);
    char *text = cJSON_PrintUnformatted(json);
    if (text)
        fprintf(stderr, "%s\n", text);
    cJSON_free(text);
    cJSON_Delete(json);
}

void bc_log(enum bc_log_level level, const char *fmt, ...)
{
    if (level < current_level)
        return;
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (current_format == BC_LOG_JSON)
        write_json(level, line);
    else
        fprintf(stderr, "babelcast %s: %s\n", level_names[level], line);
}

#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum bc_log_level current_level = BC_LOG_INFO;

void bc_log_set_level(enum bc_log_level level)
{
    current_level = level;
}

void bc_log(enum bc_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error", ""};
    if (level < current_level)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "babelcast %s: %s\n", names[level], line);
}

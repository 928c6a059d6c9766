/* Leveled logging to stderr, one line per message. Thread-safe (one write
 * per line). Text lines read "babelcast LEVEL: message"; JSON lines are one
 * object each: {"ts":"2025-01-31T12:00:00.123Z","level":"info","msg":"...",
 * "pid":123,"role":"gateway"} (ts in UTC with milliseconds; role only once
 * set; msg as valid UTF-8, an invalid byte replaced by U+FFFD). */
#ifndef BC_LOG_H
#define BC_LOG_H

enum bc_log_level { BC_LOG_DEBUG, BC_LOG_INFO, BC_LOG_WARN, BC_LOG_ERROR, BC_LOG_QUIET };
enum bc_log_format { BC_LOG_TEXT, BC_LOG_JSON };

/* The setters are meant for start-up, before other threads log. */
void bc_log_set_level(enum bc_log_level level);
void bc_log_set_format(enum bc_log_format format);
/* Parses "text" or "json". Returns 0 or BC_EINVAL. */
int bc_log_format_parse(const char *name, enum bc_log_format *out);
/* The role named in JSON lines ("all", "gateway", "worker"); copied; NULL: none. */
void bc_log_set_role(const char *role);
void bc_log(enum bc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define bc_debug(...) bc_log(BC_LOG_DEBUG, __VA_ARGS__)
#define bc_info(...) bc_log(BC_LOG_INFO, __VA_ARGS__)
#define bc_warn(...) bc_log(BC_LOG_WARN, __VA_ARGS__)
#define bc_error(...) bc_log(BC_LOG_ERROR, __VA_ARGS__)

#endif

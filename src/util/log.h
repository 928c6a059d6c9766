/* Leveled logging to stderr. Thread-safe (one fprintf per line). */
#ifndef BC_LOG_H
#define BC_LOG_H

enum bc_log_level { BC_LOG_DEBUG, BC_LOG_INFO, BC_LOG_WARN, BC_LOG_ERROR, BC_LOG_QUIET };

void bc_log_set_level(enum bc_log_level level);
void bc_log(enum bc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define bc_debug(...) bc_log(BC_LOG_DEBUG, __VA_ARGS__)
#define bc_info(...) bc_log(BC_LOG_INFO, __VA_ARGS__)
#define bc_warn(...) bc_log(BC_LOG_WARN, __VA_ARGS__)
#define bc_error(...) bc_log(BC_LOG_ERROR, __VA_ARGS__)

#endif

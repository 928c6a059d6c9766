/* Clocks. */
#ifndef BC_TIMEUTIL_H
#define BC_TIMEUTIL_H

#include <pthread.h>
#include <stdint.h>

/* Monotonic clock in microseconds (CLOCK_MONOTONIC). */
int64_t bc_now_us(void);
/* Wall clock in milliseconds since the Unix epoch. */
int64_t bc_wall_ms(void);
/* Sleep for the given microseconds, restarting after signals. */
void bc_sleep_us(int64_t us);
/* Initializes cond (default attributes otherwise) so that its timed waits
 * take absolute times on CLOCK_MONOTONIC, the clock of bc_now_us. */
void bc_cond_init_monotonic(pthread_cond_t *cond);

#endif

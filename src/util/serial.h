/* A serial executor: one thread runs submitted jobs one at a time. Jobs
 * with the same key run in the order they were submitted; different keys
 * take turns, one job each, so a long run of one key does not hold up the
 * first job of another. Used to take slow work off a thread that others
 * wait for. */
#ifndef BC_SERIAL_H
#define BC_SERIAL_H

#include <stddef.h>

/* Runs on the executor's thread; owns arg. */
typedef void (*serial_job_fn)(void *arg);

struct serial;

/* max_jobs bounds the jobs waiting. Returns 0 and *out (free with
 * serial_free), BC_EINVAL for 0, or BC_EIO when the thread cannot start. */
int serial_new(size_t max_jobs, struct serial **out);
/* Queues fn(arg) behind the jobs of key (any pointer; only compared).
 * Thread-safe. Returns 0, or BC_EAGAIN when max_jobs are waiting, or
 * BC_ECLOSED after serial_free began; fn does not run then and arg stays
 * the caller's. */
int serial_submit(struct serial *s, const void *key, serial_job_fn fn, void *arg);
/* Jobs queued or running; 0 for NULL. Thread-safe. */
size_t serial_pending(struct serial *s);
/* Runs every queued job, then stops the thread and frees s. NULL is a no-op. */
void serial_free(struct serial *s);

#endif

/* The standard process_* metrics of this process, read from /proc/self:
 * CPU seconds, resident and virtual memory, threads, open file
 * descriptors, start time. */
#ifndef BC_METRICS_PROCESS_H
#define BC_METRICS_PROCESS_H

/* Sets the process_* metrics from /proc/self now (metrics_render calls
 * it). A value that cannot be read keeps its last value. Thread-safe. */
void metrics_process_collect(void);

#endif

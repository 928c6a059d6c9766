#include "metrics/metrics_process.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics/metrics.h"

#define PROC_STAT_MAX 1024
/* Fields of /proc/self/stat (proc(5)), counted from 1, after "pid (comm)". */
#define STAT_FIRST_AFTER_COMM 3
#define STAT_UTIME 14
#define STAT_STIME 15
#define STAT_THREADS 20
#define STAT_STARTTIME 22
#define STAT_VSIZE 23
#define STAT_RSS 24
#define STAT_FIELDS_MAX 25

static const struct metrics_desc cpu_desc = {.type = METRICS_COUNTER,
                                             .name = "process_cpu_seconds_total",
                                             .help = "User and system CPU time spent, in seconds."};
static const struct metrics_desc rss_desc = {.type = METRICS_GAUGE,
                                             .name = "process_resident_memory_bytes",
                                             .help = "Resident memory size in bytes."};
static const struct metrics_desc vms_desc = {.type = METRICS_GAUGE,
                                             .name = "process_virtual_memory_bytes",
                                             .help = "Virtual memory size in bytes."};
static const struct metrics_desc threads_desc = {
    .type = METRICS_GAUGE, .name = "process_threads", .help = "Threads of the process."};
static const struct metrics_desc start_desc = {
    .type = METRICS_GAUGE,
    .name = "process_start_time_seconds",
    .help = "Start time of the process since the Unix epoch, in seconds."};
static const struct metrics_desc fds_desc = {
    .type = METRICS_GAUGE, .name = "process_open_fds", .help = "Open file descriptors."};
static const struct metrics_desc max_fds_desc = {
    .type = METRICS_GAUGE, .name = "process_max_fds", .help = "Limit on open file descriptors."};

/* Seconds since the epoch at which the machine booted, or -1. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    double btime = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "btime ", strlen("btime ")) == 0) {
            btime = strtod(line + strlen("btime "), NULL);
            break;
        }
    }
    if (f)
        fclose(f);
    return btime;
}

/* The fields of /proc/self/stat into fields[] (by their proc(5) number);
 * 0 or -1. The command name may hold spaces and parentheses: fields are
 * counted from the last ')'. */
static int read_stat(double fields[STAT_FIELDS_MAX])
{
    char buf[PROC_STAT_MAX];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    for (int i = STAT_FIRST_AFTER_COMM; i < STAT_FIELDS_MAX; i++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return -1;
        fields[i] = strtod(p, &p); /* the state letter reads as 0 */
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

void metrics_process_collect(void)
{
    double fields[STAT_FIELDS_MAX] = {0};
    double ticks = (double)sysconf(_SC_CLK_TCK);
    double page = (double)sysconf(_SC_PAGESIZE);
    if (read_stat(fields) == 0 && ticks > 0) {
        metrics_set(&cpu_desc, NULL, (fields[STAT_UTIME] + fields[STAT_STIME]) / ticks);
        metrics_set(&rss_desc, NULL, fields[STAT_RSS] * page);
        metrics_set(&vms_desc, NULL, fields[STAT_VSIZE]);
        metrics_set(&threads_desc, NULL, fields[STAT_THREADS]);
        double btime = boot_time();
        if (btime >= 0)
            metrics_set(&start_desc, NULL, btime + fields[STAT_STARTTIME] / ticks);
    }
    int fds = count_fds();
    if (fds >= 0)
        metrics_set(&fds_desc, NULL, fds);
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        metrics_set(&max_fds_desc, NULL, (double)limit.rlim_cur);
}

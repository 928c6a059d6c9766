/* Memory of a process tree: the sum of Pss (proportional set size: shared
 * pages divided among the processes sharing them) over a process and all
 * its descendants, from /proc/PID/smaps_rollup. Header-only, for
 * benchmarks. */
#ifndef BC_BENCH_PSS_TREE_H
#define BC_BENCH_PSS_TREE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PSS_TREE_MAX_PROCS 4096
#define PSS_TREE_LINE_MAX 512

/* Reads /proc/PID/stat into buf (cap bytes); returns its fields from the
 * third (the state) on, in buf, or NULL when it cannot be read. */
static inline const char *pss_tree_stat(long pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    return p && p[1] == ' ' ? p + 2 : NULL;
}

/* The parent of pid from /proc/PID/stat, or -1. */
static inline long pss_tree_parent(long pid)
{
    char buf[PSS_TREE_LINE_MAX];
    const char *fields = pss_tree_stat(pid, buf, sizeof buf);
    long ppid = -1;
    if (!fields || sscanf(fields, "%*c %ld", &ppid) != 1)
        return -1;
    return ppid;
}

/* Pss of one process in kB, or -1 when it cannot be read. */
static inline long pss_tree_one_kb(long pid)
{
    char path[64], line[PSS_TREE_LINE_MAX];
    snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Pss: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* Fills tree with root and its descendants (root first); returns how many,
 * 0 when /proc cannot be read. */
static inline size_t pss_tree_members(long root, long *tree, size_t cap)
{
    long pids[PSS_TREE_MAX_PROCS], parents[PSS_TREE_MAX_PROCS];
    size_t n = 0;
    DIR *d = cap ? opendir("/proc") : NULL;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) && n < PSS_TREE_MAX_PROCS;) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        pids[n] = pid;
        parents[n++] = pss_tree_parent(pid);
    }
    closedir(d);
    /* Breadth-first over the parent links: tree grows as children are found. */
    size_t n_tree = 0;
    tree[n_tree++] = root;
    for (size_t t = 0; t < n_tree; t++)
        for (size_t i = 0; i < n && n_tree < cap; i++)
            if (parents[i] == tree[t])
                tree[n_tree++] = pids[i];
    return n_tree;
}

/* Sum of Pss over root and its descendants in kB (processes that exit
 * while it is read are skipped); *n_procs gets how many were counted.
 * -1 when root cannot be read. */
static inline long pss_tree_kb(long root, int *n_procs)
{
    long tree[PSS_TREE_MAX_PROCS];
    size_t n = pss_tree_members(root, tree, PSS_TREE_MAX_PROCS);
    long total = n ? pss_tree_one_kb(root) : -1;
    if (total < 0)
        return -1;
    *n_procs = 1;
    for (size_t i = 1; i < n; i++) {
        long kb = pss_tree_one_kb(tree[i]);
        if (kb >= 0) {
            total += kb;
            (*n_procs)++;
        }
    }
    return total;
}

/* CPU time (user + system, with that of reaped children) of root and its
 * descendants in seconds; -1 when root cannot be read. */
static inline double pss_tree_cpu_s(long root)
{
    long tree[PSS_TREE_MAX_PROCS];
    size_t n = pss_tree_members(root, tree, PSS_TREE_MAX_PROCS);
    double total = -1;
    for (size_t i = 0; i < n; i++) {
        char buf[PSS_TREE_LINE_MAX];
        const char *fields = pss_tree_stat(tree[i], buf, sizeof buf);
        unsigned long utime, stime;
        long cutime, cstime;
        if (!fields || sscanf(fields, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld",
                              &utime, &stime, &cutime, &cstime) != 4) {
            if (i == 0)
                return -1;
            continue;
        }
        total = (total < 0 ? 0 : total) +
                (double)(utime + stime + (unsigned long)(cutime + cstime)) /
                    (double)sysconf(_SC_CLK_TCK);
    }
    return total;
}

#endif

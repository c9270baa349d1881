/* Where ss-bridge's threads run: bridge_cpu.h. Linux. */
#include "bridge_cpu.h"
#include "platform/platform.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NCPU 1024 /* (CPU_SETSIZE) */

typedef struct cpu_times {
    uint64_t busy[NCPU], all[NCPU];
    uint64_t own_ns; /* the process's CPU time */
} cpu_times;

static struct {
    bcpu_mode mode;
    cpu_set_t allowed;
    int cur;    /* the CPU of all threads; -1: spread over allowed */
    int64_t next_ns, last_ns;
    cpu_times last;
} g;

/* Jiffies per CPU from /proc/stat: busy (user, nice, system, irq,
 * softirq, steal) and all (those, idle and iowait). 0, or -1. */
static int read_times(cpu_times *t)
{
    memset(t->busy, 0, sizeof t->busy);
    memset(t->all, 0, sizeof t->all);
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    t->own_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int cpu;
        unsigned long long v[8] = {0};
        if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
            continue;
        if (sscanf(line + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu",
                   &cpu, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]) < 5 ||
            cpu < 0 || cpu >= NCPU)
            continue;
        /* user nice system idle iowait irq softirq steal */
        t->busy[cpu] = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        t->all[cpu] = t->busy[cpu] + v[3] + v[4];
    }
    fclose(f);
    return 0;
}

/* Every thread of the process (the main thread first) on CPU c, or on
 * every allowed CPU (c < 0). False if the main thread could not move
 * (the CPUs the process may use changed: they are read again). */
static bool move_all(int c)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    if (c >= 0)
        CPU_SET(c, &one);
    else
        one = g.allowed;
    if (sched_setaffinity(0, sizeof one, &one) != 0) {
        cpu_set_t now;
        if (sched_getaffinity(0, sizeof now, &now) == 0)
            g.allowed = now;
        return false;
    }
    g.cur = c;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return true; /* (the main thread moved; threads it starts too) */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long tid = strtol(e->d_name, &end, 10);
        if (end != e->d_name && !*end)
            sched_setaffinity((pid_t)tid, sizeof one, &one);
    }
    closedir(d);
    return true;
}

/* Per mille of the interval that CPU c was idle (not busy with anything,
 * or, for the bridge's own CPU, busy with it): -1 if unknown. */
static int idle_pm(const cpu_times *a, const cpu_times *b, int c, bool mine)
{
    if (b->all[c] <= a->all[c] || b->busy[c] < a->busy[c])
        return -1; /* (offline, or counters gone back) */
    uint64_t all = b->all[c] - a->all[c], busy = b->busy[c] - a->busy[c];
    if (mine) {
        uint64_t own = (b->own_ns - a->own_ns) /
                       (1000000000u / (uint64_t)sysconf(_SC_CLK_TCK));
        busy = own < busy ? busy - own : 0;
    }
    if (busy > all)
        busy = all;
    return (int)(1000 * (all - busy) / all);
}

int bcpu_parse(const char *arg, bcpu_mode *mode, cpu_set_t *set)
{
    CPU_ZERO(set);
    if (strcmp(arg, "auto") == 0 || strcmp(arg, "any") == 0) {
        *mode = arg[1] == 'u' ? BCPU_AUTO : BCPU_ANY;
        return 0;
    }
    const char *p = arg;
    while (*p) {
        char *end;
        if (*p < '0' || *p > '9')
            return -1;
        long a = strtol(p, &end, 10), b = a;
        if (a >= NCPU)
            return -1;
        p = end;
        if (*p == '-') {
            if (p[1] < '0' || p[1] > '9')
                return -1;
            b = strtol(p + 1, &end, 10);
            if (end == p + 1 || b < a || b >= NCPU)
                return -1;
            p = end;
        }
        for (long c = a; c <= b; c++)
            CPU_SET((int)c, set);
        if (*p == ',' && p[1])
            p++;
        else if (*p)
            return -1;
    }
    if (CPU_COUNT(set) == 0)
        return -1;
    *mode = BCPU_FIXED;
    return 0;
}

/* The least busy allowed CPU over the interval a..b, but `but` (-1:
 * none excluded): -1 if none is known; its idle per mille in *pm. */
static int idlest(const cpu_times *a, const cpu_times *b, int but, int *pm)
{
    int best = -1;
    *pm = -1;
    for (int c = 0; c < NCPU; c++) {
        if (c == but || !CPU_ISSET(c, &g.allowed))
            continue;
        int v = idle_pm(a, b, c, false);
        if (v >= 0 && v >= *pm) {
            best = c;
            *pm = v;
        }
    }
    return best;
}

int bcpu_start(bcpu_mode mode, const cpu_set_t *set)
{
    g.mode = mode;
    g.cur = -1;
    if (mode == BCPU_FIXED)
        return sched_setaffinity(0, sizeof *set, set) == 0 ? -1 : -2;
    if (mode != BCPU_AUTO ||
        sched_getaffinity(0, sizeof g.allowed, &g.allowed) != 0 ||
        CPU_COUNT(&g.allowed) < 2) {
        g.mode = BCPU_ANY;
        return -1;
    }
    static cpu_times a;
    if (read_times(&a) != 0) {
        g.mode = BCPU_ANY;
        return -1;
    }
    nanosleep(&(struct timespec){0, 100000000}, NULL);
    read_times(&g.last);
    int best_pm, best = idlest(&a, &g.last, -1, &best_pm);
    if (best < 0 || !move_all(best)) {
        g.mode = BCPU_ANY;
        return -1;
    }
    g.last_ns = ss__now_ns();
    g.next_ns = g.last_ns + 1000000000;
    return best;
}

int bcpu_tick(int64_t now_ns, int *from, int *to, int *pct)
{
    if (g.mode != BCPU_AUTO || now_ns < g.next_ns)
        return BCPU_STAY;
    g.next_ns = now_ns + 1000000000;
    static cpu_times t;
    if (read_times(&t) != 0)
        return BCPU_STAY;
    int64_t span = now_ns - g.last_ns;
    int own = span > 0 ? (int)((t.own_ns - g.last.own_ns) * 1000 /
                               (uint64_t)span)
                       : 0;
    int here = g.cur >= 0 ? idle_pm(&g.last, &t, g.cur, true) : -1;
    int best_pm, best = idlest(&g.last, &t, g.cur, &best_pm);
    g.last = t;
    g.last_ns = now_ns;
    int from_cpu = g.cur;
    int kind = bcpu_decide(g.cur, here, best, best_pm, own, to);
    if (kind == BCPU_STAY)
        return kind;
    *from = from_cpu;
    *pct = kind == BCPU_MOVED ? (here >= 0 ? (1000 - here) / 10 : -1)
                              : own / 10;
    return move_all(*to) ? kind : BCPU_STAY;
}

int bcpu_decide(int cur, int here, int best, int best_pm, int own, int *to)
{
    if (cur >= 0 && own >= 900) {
        *to = -1; /* it needs more than its CPU: all of them */
        return BCPU_SPREAD;
    }
    if (cur < 0 && own < 400 && best >= 0) {
        *to = best;
        return BCPU_GATHERED;
    }
    if (cur >= 0 && here < 0 && best >= 0) {
        *to = best; /* (its CPU went offline: no figures) */
        return BCPU_MOVED;
    }
    if (cur >= 0 && here <= 500 && best >= 0 && best_pm >= here + 250) {
        *to = best;
        return BCPU_MOVED;
    }
    return BCPU_STAY;
}

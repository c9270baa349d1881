/*
 * Where ss-bridge's threads run (--cpu; docs/bridge.md, "CPU placement").
 * Linux: /proc/stat, sched_setaffinity(). Called from the bridge's main
 * thread only.
 *
 * A signal crosses five threads per host on its way (the emitter, a
 * drainer, ZeroMQ's I/O threads, the main thread, the receiver); the
 * bridge's own hand-offs cost a switch on one core when its threads share
 * it, and a wake-up of another core (tens of microseconds on a virtual
 * machine) when they do not. So by default ("auto") every thread of the
 * bridge runs on one CPU, the least busy one it may use, and moves to
 * another when that one gets busy with other work.
 */
#ifndef SS_BRIDGE_CPU_H
#define SS_BRIDGE_CPU_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdint.h>

typedef enum bcpu_mode {
    BCPU_AUTO,  /* one CPU, chosen and revisited (the default) */
    BCPU_ANY,   /* the scheduler's choice, as for any process */
    BCPU_FIXED, /* the CPUs of --cpu LIST */
} bcpu_mode;

/* Parses --cpu's value: "auto", "any", or a list ("1", "0,2", "2-3").
 * 0, or -1 when it is none of these. */
int bcpu_parse(const char *arg, bcpu_mode *mode, cpu_set_t *set);

/* Applies the mode, before the bridge starts any thread (they inherit
 * it). AUTO samples the load for 100 ms and takes the least busy CPU the
 * process may use (of equals, the highest numbered: CPU 0 takes most
 * interrupts); with one CPU allowed, it does nothing. Returns the CPU
 * chosen (AUTO), -1 when none was chosen (ANY, FIXED, or one CPU
 * allowed), or -2 with errno when FIXED's CPUs cannot be used. */
int bcpu_start(bcpu_mode mode, const cpu_set_t *set);

enum {
    BCPU_STAY = 0,
    BCPU_MOVED,    /* *from was busy with other work (*pct): now on *to */
    BCPU_SPREAD,   /* the bridge used *pct of its CPU *from: now all */
    BCPU_GATHERED, /* the bridge uses *pct of a CPU again: now on *to */
};

/* AUTO only (else BCPU_STAY): once a second at most, looks at the last
 * interval and moves every thread of the process (threads started later
 * inherit the main thread's CPUs):
 * - the bridge used 90% of its CPU or more: it needs more than one, all
 *   allowed CPUs are given to its threads (BCPU_SPREAD);
 * - spread, it used less than 40% of one CPU: back on the least busy one
 *   (BCPU_GATHERED);
 * - its CPU was busy with other work at least half the time and another
 *   allowed CPU idle at least a quarter of the time more, or its CPU gave
 *   no figures (offline): there (BCPU_MOVED; *pct -1 for no figures).
 * A move the kernel refuses (the allowed CPUs changed) is not made
 * (BCPU_STAY), and the allowed CPUs are read again. */
int bcpu_tick(int64_t now_ns, int *from, int *to, int *pct);

/* bcpu_tick()'s rule, on one interval's figures, in per mille: cur, the
 * CPU of the threads (-1: spread); here, its idle time, the bridge's own
 * use not counted as busy (-1: unknown); best and best_pm, the idlest
 * other allowed CPU and its idle time (-1: none); own, the bridge's use
 * of one CPU. Returns the BCPU_ kind and, unless BCPU_STAY, *to (-1:
 * every allowed CPU). Pure: tests/test_bridge_cpu_rule.c. */
int bcpu_decide(int cur, int here, int best, int best_pm, int own, int *to);

#endif

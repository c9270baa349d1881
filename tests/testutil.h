/*
 * testutil.h - helpers shared by the test programs: children that are always
 * reaped, shared memory for results, checksums, a watchdog.
 */
#ifndef SS_TESTUTIL_H
#define SS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Child entry: returns the child's exit code (0 = success). */
typedef int (*tu_child_fn)(void *arg);

/*
 * tu_fork - fork a child that runs fn(arg) and _exit()s with its result.
 * The pid is registered so that tu_reap_all() (run at exit and by
 * tu_watchdog) kills and reaps it even if the test fails half-way.
 * Returns the pid, or -1 (and the test should fail).
 */
pid_t tu_fork(tu_child_fn fn, void *arg);

/*
 * tu_wait - wait for child pid at most timeout_ms; on timeout it is killed
 * with SIGKILL and reaped. Returns the exit code (0..255) if it exited,
 * 128 + signal number if a signal ended it, 1000 on timeout, -1 on error.
 */
int tu_wait(pid_t pid, int timeout_ms);

/* tu_reap_all - SIGKILL and reap every child still registered. */
void tu_reap_all(void);

/*
 * tu_watchdog - after seconds, print a message, kill every registered child
 * and abort the test process (so CTest reports a failure, never a hang).
 * Call once at the start of main(). Also installs tu_reap_all at exit.
 */
void tu_watchdog(unsigned seconds);

/* tu_shared_alloc - zeroed MAP_SHARED|MAP_ANONYMOUS memory (never fails:
 * aborts on error); tu_shared_free releases it. */
void *tu_shared_alloc(size_t size);
void tu_shared_free(void *p, size_t size);

/* tu_hash32 - FNV-1a of len bytes, the checksum of test messages. */
uint32_t tu_hash32(const void *data, size_t len);

/* tu_now_ns - CLOCK_MONOTONIC in nanoseconds. */
int64_t tu_now_ns(void);

/* tu_rand - xorshift64* step on *state (never 0). */
uint64_t tu_rand(uint64_t *state);

#endif

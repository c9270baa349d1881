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

/* ---- Test messages: header {id, seq, len, checksum} + a payload derived
 * from (id, seq), so a receiver can check every byte. ---- */

#include <stdbool.h>

#define TU_MSG_HDR 16u             /* id, seq, len, checksum: 4 x u32 */
#define TU_MSG_MAX_PAYLOAD 8192u   /* largest payload any test uses */
#define TU_MSG_FIXED_LEN 0x80000000u /* in maxpay: every payload that long */

typedef struct tu_msg_hdr {
    uint32_t id;
    uint32_t seq;
    uint32_t len; /* payload bytes after the header */
    uint32_t sum; /* tu_hash32 of the payload */
} tu_msg_hdr;

/* tu_msg_pay_len - payload length of message (id, seq): 0..maxpay,
 * deterministic (or exactly maxpay & ~TU_MSG_FIXED_LEN with that flag). */
uint32_t tu_msg_pay_len(uint32_t id, uint32_t seq, uint32_t maxpay);

/* tu_msg_pay_fill - the len payload bytes of message (id, seq). */
void tu_msg_pay_fill(uint8_t *p, uint32_t id, uint32_t seq, uint32_t len);

/* tu_msg_build - write message (id, seq) to buf; returns its length. */
size_t tu_msg_build(uint8_t *buf, uint32_t id, uint32_t seq, uint32_t maxpay);

/* tu_msg_check - check a received message: NULL if intact (and *id, *seq
 * set), else what is wrong. ids must be < nid, seqs < nseq. */
const char *tu_msg_check(const void *data, size_t len, uint32_t maxpay,
                         uint32_t nid, uint32_t nseq, uint32_t *id,
                         uint32_t *seq);

/* tu_rec_cost - ring bytes a message of len bytes takes. */
size_t tu_rec_cost(size_t len);

/* tu_sleep_us - sleep us microseconds, resuming after signals. */
void tu_sleep_us(long us);

/* tu_proc_stat - the state letter (field 3: R, S, T, Z...) and start time
 * (field 22) of /proc/<pid>/stat (a thread id works too); false if it
 * cannot be read. */
bool tu_proc_stat(pid_t pid, char *state, uint64_t *start);

/* tu_wait_proc_state - wait at most timeout_ms for pid to show state
 * (tu_proc_stat()); whether it did (false at once if it is gone). */
bool tu_wait_proc_state(pid_t pid, char state, int timeout_ms);

/* tu_child_exited - whether child pid has exited, without reaping it. */
bool tu_child_exited(pid_t pid);

/* tu_gettid - the calling thread's id (for tu_wait_asleep). */
pid_t tu_gettid(void);

/*
 * tu_wait_asleep - wait at most timeout_ms until thread or process id
 * sleeps in the kernel (state S in /proc/<id>/stat): a test that wants a
 * thread or child blocked in a call before it acts waits for this instead
 * of sleeping a while and hoping so. Returns true once it sleeps; false on
 * timeout or if id has exited (the caller's own checks then tell whether
 * that was wrong).
 */
bool tu_wait_asleep(pid_t id, int timeout_ms);

/* tu_pick_timeout - a random timeout for one call: mostly forever,
 * sometimes SS_NO_WAIT or 1 ms. */
int64_t tu_pick_timeout(uint64_t *rs);

/* tu_benign_retry - whether rc is an acceptable "not now" for timeout to. */
bool tu_benign_retry(int rc, int64_t to);

/* ---- Loop processes in tests (test_seed.c, test_process_*.c) ---- */

#include <signal_slot.h>

/*
 * tu_errs - failures seen where cmocka cannot assert (in a loop process, in
 * a slot): lives in shared memory (tu_shared_alloc), any process notes into
 * it, the test asserts count == 0 at the end and prints the first one.
 */
typedef struct tu_errs {
    int count;
    int first_line;
    char first[160];
} tu_errs;

/* tu_errs_note - record one failure (line, what); async-signal-unsafe but
 * process- and thread-safe. */
void tu_errs_note(tu_errs *e, int line, const char *what);

/* TU_CHECK - note a failure in e unless cond holds; evaluates to cond
 * (1 or 0). */
#define TU_CHECK(e, cond) tu_check_((e), (cond) ? 1 : 0, __LINE__, #cond)
int tu_check_(tu_errs *e, int ok, int line, const char *what);

/* tu_errs_report - print e's first failure (if any) to stderr; returns
 * e->count. */
int tu_errs_report(const tu_errs *e, const char *where);

/*
 * tu_process_new - ss_process_new() that also remembers the process, so
 * that tu_process_teardown() can kill and reap it if the test fails
 * half-way. tu_process_free() forgets it and frees it.
 */
int tu_process_new(ss_process **out, const char *name,
                   const ss_loop_options *opts);
void tu_process_free(ss_process *p);

/* tu_process_teardown - a cmocka teardown: SIGKILL and join every process
 * still remembered (not freed: the test's objects may be gone). */
int tu_process_teardown(void **state);

/*
 * tu_exits - collects the "exited" signal of loop processes on a loop
 * thread of its own in the parent, so that a test can wait for a process's
 * end and learn how it ended without running a loop itself.
 */
typedef struct tu_exits tu_exits;

/* tu_exits_new - a collector whose loop is named loop_name, running on a
 * thread. NULL on error. */
tu_exits *tu_exits_new(const char *loop_name);

/* tu_exits_watch - connect p's "exited" signal to the collector. */
int tu_exits_watch(tu_exits *x, ss_process *p);

/*
 * tu_exits_wait - wait at most timeout_ns for the "exited" signal of the
 * process named name: *code and *sig (optional) receive its arguments,
 * *count (optional) how many times it came. Returns 0 or SS_ETIMEDOUT.
 */
int tu_exits_wait(tu_exits *x, const char *name, int64_t timeout_ns,
                  int *code, int *sig, int *count);

/* tu_exits_free - stop the collector's loop, join its thread, free it. */
void tu_exits_free(tu_exits *x);

/* tu_log_quiet_drops - route library logging to a handler that prints
 * every line except the periodic "N drops of this signal so far" ones
 * (tests that drop on purpose), which it only counts: tu_drop_lines(). */
void tu_log_quiet_drops(void);
long tu_drop_lines(void);

#endif

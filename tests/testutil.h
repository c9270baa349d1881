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

/* tu_child_exited - whether child pid has exited, without reaping it. */
bool tu_child_exited(pid_t pid);

/* tu_pick_timeout - a random timeout for one call: mostly forever,
 * sometimes SS_NO_WAIT or 1 ms. */
int64_t tu_pick_timeout(uint64_t *rs);

/* tu_benign_retry - whether rc is an acceptable "not now" for timeout to. */
bool tu_benign_retry(int rc, int64_t to);

#endif

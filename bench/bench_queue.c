/*
 * bench/bench_queue.c - "ss-bench queue": message throughput between
 * processes, ss_queue against the kernel's IPC and ZeroMQ.
 *
 * One run = one transport, P producer processes, C consumer processes, a
 * consumer batch size. The harness below is shared by every transport
 * through a bench_ops table:
 *
 *   1. setup() in the parent; fork the C consumers, which open their
 *      endpoint and report ready; then fork the P producers likewise.
 *      Consumers go first because a ZeroMQ producer connecting before the
 *      consumer has bound would only get through after a reconnect delay.
 *   2. Every child waits on a start barrier (a futex word in shared
 *      memory); the parent reads the clock and releases them all.
 *   3. Producers send per_producer messages each, report it and wait.
 *   4. When every producer has sent everything, the parent sends one end
 *      marker at a time and waits for a consumer to exit before sending
 *      the next: with a single FIFO and batched reads, markers sent
 *      together could all land in one consumer's batch and leave another
 *      waiting forever.
 *   5. When the consumers are gone, the parent lets the producers close
 *      their endpoint and exit. They wait because ZeroMQ (libzmq 4.3.4,
 *      ipc://) drops messages a PULL socket has not taken yet from a PUSH
 *      peer that disconnects, whatever the linger; for the other
 *      transports it makes no difference.
 *   6. Each consumer checked every message and recorded, in shared memory,
 *      what it received and the time it finished its last data message.
 *      The parent sums it all up and checks that every message arrived
 *      exactly once, intact, in order per producer.
 *
 * The time of a run is from the barrier's release to the latest "last data
 * message" among the consumers: exit, reaping and end markers are not
 * counted.
 */
#include "bench.h"

#include "signal_slot/error.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The message size of faster-fifo's comparison. */
#define MSG_SIZE 40u
/* Producer id of an end marker; data messages carry 0..P-1. */
#define END_ID UINT32_MAX
/* Longest a run may take before every child is killed. */
#define RUN_TIMEOUT_NS SS_SEC(60)
/* How long a parent-side send of an end marker may block. */
#define END_SEND_TIMEOUT_MS 5000
/* Poll period of a consumer draining after its end marker (ZeroMQ). */
#define DRAIN_POLL_MS 1
#define ERR_LEN 200

/* Child exit codes, so that the parent can tell what went wrong even when
 * the child could not write its error text. */
enum { CHILD_OK = 0, CHILD_IO = 1, CHILD_INVALID = 2, CHILD_OPEN = 3 };

/* ---- message format ----
 *
 * Every message, end markers included, is MSG_SIZE bytes: the pipe is a
 * byte stream and only keeps its framing if all writes have one size.
 *
 *   0  u32 producer id (END_ID for an end marker)
 *   4  u32 checksum of every other byte
 *   8  u64 sequence number, 0.. per producer
 *  16  filler derived from (producer, seq), so that no two messages are
 *      alike and a message copied from the wrong place fails the checksum
 */

static uint32_t load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A hash of every byte but the checksum's own. Each 8-byte word is
 * multiplied by its own odd constant and the products are summed, so the
 * multiplies run side by side: a serial hash, a chain of multiplies, cost
 * a third of the queue's own time per 40-byte message. A changed word, or
 * a word moved to another place, still changes the sum. */
static uint32_t msg_checksum(const unsigned char *m, size_t len)
{
    uint64_t h = (uint64_t)load32(m) * 0x9e3779b97f4a7c15ull;
    uint64_t k = 0xff51afd7ed558ccdull;
    size_t off = 8;
    for (; off + 8 <= len; off += 8) {
        h += load64(m + off) * k;
        k += 0x6a09e667f3bcc90aull; /* even: k stays odd */
    }
    for (; off < len; off++)
        h += (uint64_t)m[off] * (k + 2 * off);
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return (uint32_t)(h ^ (h >> 32));
}

static void msg_fill(unsigned char *m, size_t len, uint32_t producer,
                     uint64_t seq)
{
    memcpy(m, &producer, 4);
    memcpy(m + 8, &seq, 8);
    uint64_t w = seq * 0x9e3779b97f4a7c15ull + producer;
    size_t off = 16;
    for (; off + 8 <= len; off += 8) {
        /* Each word on its own, not from the previous one: no chain. */
        uint64_t v = w + off * 0xbf58476d1ce4e5b9ull;
        v ^= v >> 31;
        memcpy(m + off, &v, 8);
    }
    for (; off < len; off++)
        m[off] = (unsigned char)(w >> (off % 8 * 8));
    uint32_t check = msg_checksum(m, len);
    memcpy(m + 4, &check, 4);
}

/* ---- state shared by the parent and every child of one run ---- */

typedef struct consumer_slot {
    /* Data messages taken so far: the only field written during the run,
     * alone on its cache line, read by consumers that drain (ZeroMQ). */
    _Alignas(64) _Atomic uint64_t got;
    _Atomic bool draining; /* took its end marker, waits for the rest */
    /* Written once, when the consumer stops. */
    uint64_t last_ns;   /* CLOCK_MONOTONIC after its last data message */
    uint64_t invalid;   /* messages that failed a check */
    bool ended;         /* took an end marker */
    char error[ERR_LEN];
    uint64_t count[BENCH_MAX_PRODUCERS];
    uint64_t seq_sum[BENCH_MAX_PRODUCERS];
    uint64_t seq_sq_sum[BENCH_MAX_PRODUCERS]; /* modulo 2^64 */
} consumer_slot;

typedef struct shared_block {
    _Atomic uint32_t ready; /* children whose endpoint is open */
    /* Futex word: 0 children wait to start, 1 running, 2 producers may
     * close and exit. */
    _Atomic uint32_t go;
    /* Producers that sent all their messages; futex word the parent
     * waits on. */
    _Atomic uint32_t producers_done;
    char producer_error[BENCH_MAX_PRODUCERS][ERR_LEN];
    consumer_slot cons[BENCH_MAX_CONSUMERS];
} shared_block;

static void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
    /* Not FUTEX_PRIVATE: the word is shared between processes. */
    syscall(SYS_futex, word, FUTEX_WAIT, val, NULL, NULL, 0);
}

/* Like futex_wait(), at most timeout_ns. */
static void futex_wait_for(_Atomic uint32_t *word, uint32_t val,
                           int64_t timeout_ns)
{
    struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
    syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* ---- children ---- */

static int producer_loop(const bench_ops *ops, void *ep,
                         const bench_params *p, shared_block *sh, int index)
{
    _Alignas(8) unsigned char msg[MSG_SIZE];
    for (uint64_t seq = 0; seq < p->per_producer; seq++) {
        msg_fill(msg, p->msg_size, (uint32_t)index, seq);
        if (ops->producer_send(ep, msg, p->msg_size) != 0) {
            snprintf(sh->producer_error[index], ERR_LEN,
                     "producer %d, message %llu: %s", index,
                     (unsigned long long)seq, bench_error());
            return CHILD_IO;
        }
    }
    return CHILD_OK;
}

/* What a consumer tracks while it runs, in its own memory, copied to its
 * shared slot when it stops. */
typedef struct consumer_state {
    const bench_params *p;
    int index;
    uint64_t invalid;
    bool have_error;
    char error[ERR_LEN];
    uint64_t last_seq[BENCH_MAX_PRODUCERS];
    bool seen[BENCH_MAX_PRODUCERS];
    uint64_t count[BENCH_MAX_PRODUCERS];
    uint64_t seq_sum[BENCH_MAX_PRODUCERS];
    uint64_t seq_sq_sum[BENCH_MAX_PRODUCERS];
} consumer_state;

enum { MSG_DATA, MSG_END, MSG_BAD };

static int bad_msg(consumer_state *cs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Count an invalid message; keep the first description, which is the one
 * that explains the others. */
static int bad_msg(consumer_state *cs, const char *fmt, ...)
{
    cs->invalid++;
    if (!cs->have_error) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(cs->error, ERR_LEN, "consumer %d: ", cs->index);
        vsnprintf(cs->error + n, ERR_LEN - (size_t)n, fmt, ap);
        va_end(ap);
        cs->have_error = true;
    }
    return MSG_BAD;
}

static int check_msg(consumer_state *cs, const ss_msg *m)
{
    if (m->len != cs->p->msg_size)
        return bad_msg(cs, "message of %zu bytes, expected %zu", m->len,
                       cs->p->msg_size);
    const unsigned char *b = m->data;
    uint32_t producer = load32(b);
    uint64_t seq = load64(b + 8);
    if (load32(b + 4) != msg_checksum(b, m->len))
        return bad_msg(cs, "checksum mismatch (producer %u, seq %llu)",
                       producer, (unsigned long long)seq);
    if (producer == END_ID)
        return MSG_END;
    if (producer >= (uint32_t)cs->p->producers ||
        seq >= cs->p->per_producer)
        return bad_msg(cs, "producer %u seq %llu out of range", producer,
                       (unsigned long long)seq);
    if (cs->seen[producer] && seq <= cs->last_seq[producer])
        return bad_msg(cs,
                       "producer %u: seq %llu after seq %llu (FIFO order "
                       "broken or duplicate)",
                       producer, (unsigned long long)seq,
                       (unsigned long long)cs->last_seq[producer]);
    cs->seen[producer] = true;
    cs->last_seq[producer] = seq;
    cs->count[producer]++;
    cs->seq_sum[producer] += seq;
    cs->seq_sq_sum[producer] += seq * seq;
    return MSG_DATA;
}

static uint64_t total_got(shared_block *sh, int consumers)
{
    uint64_t sum = 0;
    for (int i = 0; i < consumers; i++)
        sum += atomic_load_explicit(&sh->cons[i].got, memory_order_relaxed);
    return sum;
}

static int consumer_loop(const bench_ops *ops, void *ep,
                         const bench_params *p, shared_block *sh, int index)
{
    static consumer_state cs; /* off the stack: one per process */
    static ss_msg msgs[BENCH_MAX_BATCH];
    consumer_slot *slot = &sh->cons[index];
    const uint64_t expected = (uint64_t)p->producers * p->per_producer;
    uint64_t got = 0, last_ns = 0;
    bool draining = false, ended = false;
    int status = CHILD_OK;

    memset(&cs, 0, sizeof cs);
    cs.p = p;
    cs.index = index;
    for (;;) {
        int n = ops->consumer_recv(ep, p->batch, msgs,
                                   draining ? DRAIN_POLL_MS : -1);
        if (n < 0) {
            snprintf(slot->error, ERR_LEN, "consumer %d after %llu "
                     "messages: %s", index, (unsigned long long)got,
                     bench_error());
            status = CHILD_IO;
            break;
        }
        uint64_t data = 0;
        for (int i = 0; i < n; i++) {
            int kind = check_msg(&cs, &msgs[i]);
            if (kind == MSG_END) {
                if (ended || draining)
                    bad_msg(&cs, "a second end marker");
                ended = true;
            } else if (kind == MSG_DATA) {
                if (ended && !ops->end_may_overtake)
                    bad_msg(&cs, "data message after the end marker");
                data++;
            }
        }
        if (data > 0) {
            got += data;
            atomic_store_explicit(&slot->got, got, memory_order_relaxed);
            last_ns = bench_now_ns();
        }
        if (ended && !ops->end_may_overtake)
            break;
        if (ended && !draining) {
            draining = true;
            atomic_store_explicit(&slot->draining, true,
                                  memory_order_relaxed);
        }
        /* Here the marker only says that the producers have sent
         * everything: their data may still be on its way to any consumer,
         * so stop once the consumers together hold every message. */
        if (draining && total_got(sh, p->consumers) >= expected)
            break;
    }

    slot->last_ns = last_ns;
    slot->invalid = cs.invalid;
    slot->ended = ended;
    memcpy(slot->count, cs.count, sizeof cs.count);
    memcpy(slot->seq_sum, cs.seq_sum, sizeof cs.seq_sum);
    memcpy(slot->seq_sq_sum, cs.seq_sq_sum, sizeof cs.seq_sq_sum);
    if (cs.have_error && status == CHILD_OK) {
        memcpy(slot->error, cs.error, ERR_LEN);
        status = CHILD_INVALID;
    }
    return status;
}

static _Noreturn void child_main(const bench_ops *ops, void *impl,
                                 const bench_params *p, shared_block *sh,
                                 bool producer, int index, pid_t parent)
{
    /* A child whose parent died must not live on, blocked forever. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(CHILD_IO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    void *ep = NULL;
    int rc = producer ? ops->producer_open(impl, index, &ep)
                      : ops->consumer_open(impl, index, &ep);
    if (rc != 0) {
        char *err = producer ? sh->producer_error[index]
                             : sh->cons[index].error;
        snprintf(err, ERR_LEN, "%s %d: open: %s",
                 producer ? "producer" : "consumer", index, bench_error());
        _exit(CHILD_OPEN);
    }
    atomic_fetch_add(&sh->ready, 1);
    while (atomic_load_explicit(&sh->go, memory_order_acquire) == 0)
        futex_wait(&sh->go, 0);

    int status;
    if (producer) {
        status = producer_loop(ops, ep, p, sh, index);
        if (status == CHILD_OK) {
            atomic_fetch_add(&sh->producers_done, 1);
            futex_wake_all(&sh->producers_done);
            while (atomic_load_explicit(&sh->go, memory_order_acquire) < 2)
                futex_wait(&sh->go, 1);
        }
    } else {
        status = consumer_loop(ops, ep, p, sh, index);
    }
    ops->endpoint_close(ep);
    _exit(status);
}

/* ---- parent ---- */

typedef struct child {
    pid_t pid;
    bool producer;
    int index;
    bool exited;
    bool killed; /* by kill_all(), after another failure or a timeout */
    int status;  /* from waitpid */
} child;

typedef struct run_ctx {
    const bench_ops *ops;
    void *impl;
    const bench_params *p;
    shared_block *sh;
    child kids[BENCH_MAX_PRODUCERS + BENCH_MAX_CONSUMERS];
    int n_kids;
    int producers_left;
    int consumers_left;
    bool markers_started;
    bool producers_released;
    bool marked[BENCH_MAX_CONSUMERS]; /* sent an end marker (targeted) */
    bool child_failed; /* a child exited other than cleanly */
} run_ctx;

typedef struct run_result {
    bool ok;
    double seconds;
    uint64_t msgs;
    char error[4 * ERR_LEN];
} run_result;

static void add_error(run_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append to the run's error text; the first few causes are kept. */
static void add_error(run_result *r, const char *fmt, ...)
{
    size_t used = strlen(r->error);
    r->ok = false;
    if (used + 8 >= sizeof r->error)
        return;
    if (used > 0) {
        strcpy(r->error + used, "; ");
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error + used, sizeof r->error - used, fmt, ap);
    va_end(ap);
}

static void describe_status(char *buf, size_t size, int status)
{
    if (WIFEXITED(status))
        snprintf(buf, size, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, size, "status 0x%x", (unsigned)status);
}

/* Reap every child that has exited, without blocking. */
static void reap(run_ctx *rc)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (int i = 0; i < rc->n_kids; i++) {
            child *k = &rc->kids[i];
            if (k->pid != pid || k->exited)
                continue;
            k->exited = true;
            k->status = status;
            if (k->producer)
                rc->producers_left--;
            else
                rc->consumers_left--;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != CHILD_OK)
                rc->child_failed = true;
            /* Consumers only stop on an end marker, producers only when
             * released: any earlier exit is a failure. */
            if (k->producer ? !rc->producers_released
                            : !rc->markers_started)
                rc->child_failed = true;
        }
    }
}

/* Sleep until a child exits or timeout_ns elapses (SIGCHLD is blocked in
 * the parent, so that it can be waited for without a handler), then
 * reap. */
static void wait_child_event(run_ctx *rc, int64_t timeout_ns)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    struct timespec ts = {timeout_ns / 1000000000, timeout_ns % 1000000000};
    sigtimedwait(&set, NULL, &ts);
    reap(rc);
}

static void kill_all(run_ctx *rc)
{
    for (int i = 0; i < rc->n_kids; i++) {
        if (!rc->kids[i].exited) {
            kill(rc->kids[i].pid, SIGKILL);
            rc->kids[i].killed = true;
        }
    }
    for (int i = 0; i < rc->n_kids; i++) {
        child *k = &rc->kids[i];
        if (k->exited)
            continue;
        while (waitpid(k->pid, &k->status, 0) < 0 && errno == EINTR)
            ;
        k->exited = true;
    }
    rc->producers_left = rc->consumers_left = 0;
}

static bool fork_children(run_ctx *rc, bool producers, int count,
                          run_result *r)
{
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < count; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            add_error(r, "fork: %s", strerror(errno));
            return false;
        }
        if (pid == 0)
            child_main(rc->ops, rc->impl, rc->p, rc->sh, producers, i,
                       parent);
        child *k = &rc->kids[rc->n_kids++];
        *k = (child){.pid = pid, .producer = producers, .index = i};
        if (producers)
            rc->producers_left++;
        else
            rc->consumers_left++;
    }
    return true;
}

/* Wait until `count` children in all have opened their endpoint. */
static bool wait_ready(run_ctx *rc, uint32_t count, uint64_t deadline,
                       run_result *r)
{
    while (atomic_load(&rc->sh->ready) < count) {
        if (rc->child_failed) {
            add_error(r, "a child failed before the start");
            return false;
        }
        if (bench_now_ns() > deadline) {
            add_error(r, "children not ready after %lld s",
                      (long long)(RUN_TIMEOUT_NS / SS_SEC(1)));
            return false;
        }
        wait_child_event(rc, SS_MSEC(1));
    }
    return true;
}

/* Sum of 0..n-1. */
static uint64_t seq_sum_expected(uint64_t n)
{
    return n % 2 == 0 ? n / 2 * (n - 1) : (n - 1) / 2 * n;
}

/* Sum of the squares of 0..n-1 = (n-1) n (2n-1) / 6, modulo 2^64 like the
 * consumers' sums: divide the factors first, while the division is still
 * exact, then let the product wrap. */
static uint64_t seq_sq_sum_expected(uint64_t n)
{
    if (n == 0)
        return 0;
    uint64_t a = n - 1, b = n, c = 2 * n - 1;
    if (a % 2 == 0)
        a /= 2;
    else
        b /= 2;
    if (a % 3 == 0)
        a /= 3;
    else if (b % 3 == 0)
        b /= 3;
    else
        c /= 3;
    return a * b * c;
}

/* The checks on what the consumers received, once they all stopped. */
static void validate(run_ctx *rc, run_result *r)
{
    const bench_params *p = rc->p;
    shared_block *sh = rc->sh;
    const uint64_t n = p->per_producer;
    const uint64_t sum = seq_sum_expected(n);
    const uint64_t sq = seq_sq_sum_expected(n);
    uint64_t total = 0;

    for (int c = 0; c < p->consumers; c++) {
        consumer_slot *s = &sh->cons[c];
        total += s->got;
        if (s->invalid > 0)
            add_error(r, "%llu invalid messages, first: %s",
                      (unsigned long long)s->invalid, s->error);
    }
    if (total != (uint64_t)p->producers * n)
        add_error(r, "received %llu data messages, sent %llu",
                  (unsigned long long)total,
                  (unsigned long long)((uint64_t)p->producers * n));
    for (int i = 0; i < p->producers; i++) {
        uint64_t cnt = 0, s1 = 0, s2 = 0;
        for (int c = 0; c < p->consumers; c++) {
            cnt += sh->cons[c].count[i];
            s1 += sh->cons[c].seq_sum[i];
            s2 += sh->cons[c].seq_sq_sum[i];
        }
        if (cnt != n || s1 != sum || s2 != sq) {
            add_error(r, "producer %d: %llu of %llu messages received, "
                      "sequence sums %s (lost or duplicated messages)",
                      i, (unsigned long long)cnt, (unsigned long long)n,
                      s1 == sum && s2 == sq ? "match" : "differ");
            break; /* one line says enough */
        }
    }
}

/* Run one transport once: the whole harness of the file comment. */
static void run_one(const bench_ops *ops, const bench_params *p,
                    run_result *r)
{
    memset(r, 0, sizeof *r);
    r->ok = true;
    r->msgs = (uint64_t)p->producers * p->per_producer;

    shared_block *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        add_error(r, "mmap: %s", strerror(errno));
        return;
    }
    static run_ctx rc; /* big (the children table), reused per run */
    memset(&rc, 0, sizeof rc);
    rc.ops = ops;
    rc.p = p;
    rc.sh = sh;
    if (ops->setup(&rc.impl, p) != 0) {
        add_error(r, "setup: %s", bench_error());
        munmap(sh, sizeof *sh);
        return;
    }

    const uint64_t deadline = bench_now_ns() + (uint64_t)RUN_TIMEOUT_NS;
    uint64_t start_ns = 0;
    bool ok = fork_children(&rc, false, p->consumers, r) &&
              wait_ready(&rc, (uint32_t)p->consumers, deadline, r) &&
              fork_children(&rc, true, p->producers, r) &&
              wait_ready(&rc, (uint32_t)(p->consumers + p->producers),
                         deadline, r);
    if (ok) {
        start_ns = bench_now_ns();
        atomic_store_explicit(&sh->go, 1, memory_order_release);
        futex_wake_all(&sh->go);
        /* The producers wake this wait; a child that dies does not, hence
         * the period, which bounds how late a failure is noticed. */
        for (;;) {
            uint32_t done = atomic_load(&sh->producers_done);
            reap(&rc);
            if (done == (uint32_t)p->producers)
                break;
            if (rc.child_failed) {
                add_error(r, "a child failed during the run");
                ok = false;
                break;
            }
            if (bench_now_ns() > deadline) {
                add_error(r, "timeout: producers still sending after %lld "
                          "s (consumers received %llu of %llu messages)",
                          (long long)(RUN_TIMEOUT_NS / SS_SEC(1)),
                          (unsigned long long)total_got(sh, p->consumers),
                          (unsigned long long)r->msgs);
                ok = false;
                break;
            }
            futex_wait_for(&sh->producers_done, done, SS_MSEC(50));
        }
    }
    /* One end marker at a time, each to a consumer still running. */
    _Alignas(8) unsigned char marker[MSG_SIZE];
    rc.markers_started = true;
    while (ok && rc.consumers_left > 0 && !rc.child_failed) {
        /* A running consumer that has not had its marker yet; on a shared
         * FIFO the marker may have gone to another one, so any running
         * consumer will do. */
        int target = -1, any = -1;
        for (int i = 0; i < rc.n_kids && target < 0; i++) {
            const child *k = &rc.kids[i];
            if (k->producer || k->exited)
                continue;
            if (any < 0)
                any = k->index;
            if (!rc.marked[k->index])
                target = k->index;
        }
        if (target < 0 && !ops->end_may_overtake)
            target = any;
        if (target < 0) {
            add_error(r, "consumers still running after all markers");
            ok = false;
            break;
        }
        rc.marked[target] = true;
        msg_fill(marker, p->msg_size, END_ID, (uint64_t)target);
        if (ops->send_end(rc.impl, target, marker, p->msg_size,
                          END_SEND_TIMEOUT_MS) != 0) {
            add_error(r, "end marker: %s", bench_error());
            ok = false;
            break;
        }
        int before = rc.consumers_left;
        while (rc.consumers_left == before && !rc.child_failed &&
               bench_now_ns() <= deadline)
            wait_child_event(&rc, SS_MSEC(50));
        if (rc.consumers_left == before && !rc.child_failed) {
            int draining = 0;
            for (int c = 0; c < p->consumers; c++)
                draining += atomic_load(&sh->cons[c].draining);
            add_error(r, "timeout: no consumer stopped after an end marker "
                      "(consumers received %llu of %llu messages; %d "
                      "draining after their marker)",
                      (unsigned long long)total_got(sh, p->consumers),
                      (unsigned long long)r->msgs, draining);
            ok = false;
        }
    }
    if (ok) {
        rc.producers_released = true;
        atomic_store_explicit(&sh->go, 2, memory_order_release);
        futex_wake_all(&sh->go);
        while (rc.producers_left > 0 && !rc.child_failed &&
               bench_now_ns() <= deadline)
            wait_child_event(&rc, SS_MSEC(50));
        if (rc.producers_left > 0 && !rc.child_failed) {
            add_error(r, "timeout: producers did not exit");
            ok = false;
        }
    }
    if (rc.child_failed && ok) {
        add_error(r, "a child failed during the run");
        ok = false;
    }
    kill_all(&rc); /* only stragglers after a failure are left */

    /* The children that failed by themselves explain the failure; those
     * killed afterwards are only counted. */
    int killed = 0;
    for (int i = 0; i < rc.n_kids; i++) {
        const child *k = &rc.kids[i];
        if (k->killed) {
            killed++;
            continue;
        }
        if (WIFEXITED(k->status) && WEXITSTATUS(k->status) == CHILD_OK)
            continue;
        const char *text = k->producer ? sh->producer_error[k->index]
                                       : sh->cons[k->index].error;
        char st[64];
        describe_status(st, sizeof st, k->status);
        add_error(r, "%s %d: %s%s%s", k->producer ? "producer" : "consumer",
                  k->index, st, text[0] ? ": " : "", text);
    }
    if (killed > 0)
        add_error(r, "%d children still running were killed", killed);
    if (ok)
        validate(&rc, r);

    uint64_t end_ns = 0;
    for (int c = 0; c < p->consumers; c++) {
        if (sh->cons[c].last_ns > end_ns)
            end_ns = sh->cons[c].last_ns;
    }
    if (start_ns > 0 && end_ns > start_ns)
        r->seconds = (double)(end_ns - start_ns) / 1e9;
    ops->teardown(rc.impl);
    munmap(sh, sizeof *sh);
}

/* ---- ss_queue as a transport ---- */

/* Whether each ss_queue child calls ss_queue_prefault() while it sets up,
 * before the start barrier (--no-prefault turns it off). */
static bool g_prefault = true;

typedef struct ssq_impl {
    ss_queue *q;
    size_t buf_size; /* a consumer's receive buffer: batch records */
} ssq_impl;

typedef struct ssq_endpoint {
    ss_queue *q;
    unsigned char *buf; /* consumers only */
    size_t buf_size;
} ssq_endpoint;

static int ssq_setup(void **impl, const bench_params *p)
{
    /* The defaults on purpose: 1 MiB ring, default spin. */
    ss_queue_options opts;
    ss_queue_options_init(&opts);
    ssq_impl *s = calloc(1, sizeof *s);
    if (s == NULL) {
        bench_set_error("out of memory");
        return -1;
    }
    int rc = ss_queue_create(&s->q, &opts);
    if (rc != 0) {
        free(s);
        return bench_ss_fail("ss_queue_create", rc);
    }
    /* get_many starts each message at an 8-byte boundary. */
    s->buf_size = p->batch * ((p->msg_size + 7) & ~(size_t)7);
    *impl = s;
    return 0;
}

static int ssq_open(void *impl, void **ep, bool consumer)
{
    ssq_impl *s = impl;
    ssq_endpoint *e = calloc(1, sizeof *e);
    if (e != NULL && consumer) {
        e->buf_size = s->buf_size;
        e->buf = malloc(e->buf_size);
    }
    if (e == NULL || (consumer && e->buf == NULL)) {
        free(e);
        bench_set_error("out of memory");
        return -1;
    }
    /* The handle inherited through fork() is the child's handle. */
    e->q = s->q;
    /* A child inherits the mapping but not its page-table entries: without
     * this, every child takes a page fault on its first touch of each ring
     * page during the run (about a tenth of a 20x20 run's time). A
     * long-running program pays that once; a latency-sensitive one calls
     * this at start-up, as here. */
    if (g_prefault && ss_queue_prefault(e->q) != 0) {
        free(e->buf);
        free(e);
        bench_set_error("ss_queue_prefault failed");
        return -1;
    }
    *ep = e;
    return 0;
}

static int ssq_producer_open(void *impl, int index, void **ep)
{
    (void)index;
    return ssq_open(impl, ep, false);
}

static int ssq_consumer_open(void *impl, int index, void **ep)
{
    (void)index;
    return ssq_open(impl, ep, true);
}

static int ssq_send(void *ep, const void *msg, size_t len)
{
    ssq_endpoint *e = ep;
    int rc = ss_queue_put(e->q, msg, len, SS_WAIT_FOREVER);
    return rc == 0 ? 0 : bench_ss_fail("ss_queue_put", rc);
}

static int ssq_recv(void *ep, size_t max, ss_msg *msgs, int timeout_ms)
{
    ssq_endpoint *e = ep;
    int64_t timeout = timeout_ms < 0 ? SS_WAIT_FOREVER : SS_MSEC(timeout_ms);
    int rc;
    size_t n = 1;
    if (max == 1) {
        /* batch 1 is the plain single get, not get_many of one. */
        size_t len = 0;
        rc = ss_queue_get(e->q, e->buf, e->buf_size, &len, timeout);
        msgs[0].data = e->buf;
        msgs[0].len = len;
    } else {
        rc = ss_queue_get_many(e->q, e->buf, e->buf_size, msgs, max, &n,
                               timeout);
    }
    if (rc == SS_ETIMEDOUT && timeout_ms >= 0)
        return 0;
    if (rc != 0)
        return bench_ss_fail(max == 1 ? "ss_queue_get" : "ss_queue_get_many", rc);
    if (n < 1 || n > max) {
        bench_set_error("ss_queue_get_many returned 0 but n = %zu (max %zu)",
                        n, max);
        return -1;
    }
    return (int)n;
}

static void ssq_endpoint_close(void *ep)
{
    ssq_endpoint *e = ep;
    ss_queue_destroy(e->q);
    free(e->buf);
    free(e);
}

static int ssq_send_end(void *impl, int consumer, const void *msg, size_t len,
                        int timeout_ms)
{
    /* One queue: whichever consumer is waiting takes the marker. */
    (void)consumer;
    ssq_impl *s = impl;
    int rc = ss_queue_put(s->q, msg, len, SS_MSEC(timeout_ms));
    return rc == 0 ? 0 : bench_ss_fail("ss_queue_put (end marker)", rc);
}

static void ssq_teardown(void *impl)
{
    ssq_impl *s = impl;
    ss_queue_destroy(s->q);
    free(s);
}

static const bench_ops ssq_ops = {
    .name = "ss_queue",
    .native_batch = true,
    .end_may_overtake = false,
    .setup = ssq_setup,
    .producer_open = ssq_producer_open,
    .producer_send = ssq_send,
    .consumer_open = ssq_consumer_open,
    .consumer_recv = ssq_recv,
    .endpoint_close = ssq_endpoint_close,
    .send_end = ssq_send_end,
    .teardown = ssq_teardown,
    .describe = NULL,
};

/* For "ss-bench signal": one run of the 1x1 single-get cell of this
 * table (ss_queue with its defaults, 40-byte messages, the same harness,
 * checks and clock), with msgs messages. */
double bench_queue_1x1_single(uint64_t msgs, char *err, size_t err_size)
{
    bench_params p = {.producers = 1,
                      .consumers = 1,
                      .msg_size = MSG_SIZE,
                      .batch = 1,
                      .per_producer = msgs};
    static run_result r;
    run_one(&ssq_ops, &p, &r);
    if (!r.ok || r.seconds <= 0) {
        snprintf(err, err_size, "%s", r.error[0] ? r.error : "no time");
        return -1;
    }
    return (double)r.msgs / r.seconds;
}

/* ---- the subcommand ---- */

/* Index 0 must stay ss_queue: the ratios divide by its result. */
static const bench_ops *const impls[] = {
    &ssq_ops, &bench_pipe_ops, &bench_socketpair_ops, &bench_posix_mq_ops,
    &bench_zmq_ops,
};
#define N_IMPLS (sizeof impls / sizeof impls[0])

/* Short labels of the ratio columns: "x pipe" = ss_queue / pipe. */
static const char *const ratio_labels[N_IMPLS] = {
    NULL, "x pipe", "x sockpair", "x mq", "x zmq",
};

/* faster-fifo's comparison: the six configurations and its published
 * figures (msgs/s, single get and batch 100), measured elsewhere. */
typedef struct queue_config {
    int producers;
    int consumers;
    uint64_t per_producer;
    double ff_single;
    double ff_batch;
} queue_config;

static const queue_config configs[] = {
    {1, 1, 200000, 5.7e6, 9.4e6},   {1, 10, 200000, 3.5e6, 4.1e6},
    {10, 1, 100000, 3.4e6, 6.5e6},  {3, 20, 100000, 3.7e6, 4.5e6},
    {20, 3, 50000, 4.0e6, 7.2e6},   {20, 20, 50000, 5.9e6, 10.1e6},
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])
/* Messages per producer of a --config outside the six. */
#define CUSTOM_PER_PRODUCER 100000

/* Target of the issue: ss_queue at twice faster-fifo. */
#define TARGET_RATIO 2.0

/* Run a measurement n times: on this shared, noisy 2-core machine one short
 * run can be off by a factor of two either way. *out is the run of median
 * time, or the first failed run (a failure anywhere fails the measurement). */
static void run_repeated(const bench_ops *ops, const bench_params *p, int n,
                         run_result *out)
{
    static run_result runs[99];
    for (int k = 0; k < n; k++) {
        memset(&runs[k], 0, sizeof runs[k]);
        run_one(ops, p, &runs[k]);
        if (!runs[k].ok) {
            *out = runs[k];
            return;
        }
    }
    /* Insertion sort by time: n is tiny. */
    for (int k = 1; k < n; k++) {
        run_result r = runs[k];
        int j = k - 1;
        for (; j >= 0 && runs[j].seconds > r.seconds; j--)
            runs[j + 1] = runs[j];
        runs[j + 1] = r;
    }
    *out = runs[n / 2];
}

typedef struct queue_opts {
    double scale;
    uint32_t only; /* bit i: impls[i] */
    bool one_config;
    queue_config config;
    size_t batch; /* 0: both 1 and 100 */
    int repeat;   /* runs per measurement; the median is reported */
    bool json;
} queue_opts;

void bench_queue_usage(FILE *f)
{
    fprintf(f,
        "usage: ss-bench queue [--scale F] [--only IMPLS] [--config PxC]\n"
        "                      [--batch N] [--repeat N] [--no-prefault]\n"
        "                      [--json]\n"
        "\n"
        "Throughput of 40-byte messages, each producer and each consumer in\n"
        "its own process, in faster-fifo's six configurations (PxC): 1x1,\n"
        "1x10 (200K messages per producer), 10x1, 3x20 (100K), 20x3, 20x20\n"
        "(50K), with consumers taking one message at a time (batch 1) and\n"
        "up to 100 at a time (batch 100). Every run checks that each\n"
        "message arrived once, intact and in order per producer.\n"
        "\n"
        "options:\n"
        "  --scale F      multiply message counts by F (e.g. 0.01 for a\n"
        "                 smoke run; at least 100 messages per producer)\n"
        "  --only IMPLS   comma list of: ss_queue, pipe, socketpair,\n"
        "                 posix_mq, zmq_ipc (default: all)\n"
        "  --config PxC   run one configuration, e.g. 20x3 (P, C <= %d)\n"
        "  --batch N      1 or 100 (default: both; any 1..%d accepted)\n"
        "  --repeat N     run each measurement N times and report the\n"
        "                 run of median time (default 3; every run is\n"
        "                 validated)\n"
        "  --no-prefault  ss_queue children do not call ss_queue_prefault()\n"
        "                 before the start (they then fault ring pages in\n"
        "                 during the run)\n"
        "  --json         one JSON object per line per measurement\n"
        "  --help         this text\n",
        BENCH_MAX_PRODUCERS, BENCH_MAX_BATCH);
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ss-bench queue: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n\n");
    va_end(ap);
    bench_queue_usage(stderr);
    return BENCH_EXIT_USAGE;
}

/* Returns -1 if the options are fine, else the exit code. */
static int parse_queue_opts(int argc, char **argv, queue_opts *o)
{
    static const char *const names[N_IMPLS] = {
        "ss_queue", "pipe", "socketpair", "posix_mq", "zmq_ipc",
    };
    *o = (queue_opts){.scale = 1.0, .only = (1u << N_IMPLS) - 1, .repeat = 3};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            bench_queue_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            o->json = true;
        } else if (strcmp(argv[i], "--no-prefault") == 0) {
            g_prefault = false;
        } else if (bench_opt(argc, argv, &i, "--scale", &v)) {
            if (v == NULL || !bench_parse_scale(v, &o->scale))
                return usage_error("--scale needs a number > 0 and <= "
                                   "1000, got '%s'", v ? v : "");
        } else if (bench_opt(argc, argv, &i, "--only", &v)) {
            if (v == NULL)
                return usage_error("--only needs a list");
            if (!bench_parse_only(v, names, N_IMPLS, &o->only))
                return usage_error("bad --only '%s'", v);
        } else if (bench_opt(argc, argv, &i, "--config", &v)) {
            int pr, co, end = 0;
            if (v == NULL || sscanf(v, "%dx%d%n", &pr, &co, &end) != 2 ||
                v[end] != '\0' || pr < 1 || co < 1 ||
                pr > BENCH_MAX_PRODUCERS || co > BENCH_MAX_CONSUMERS)
                return usage_error("--config needs PxC, e.g. 3x20, got '%s'",
                                   v ? v : "");
            o->one_config = true;
            o->config = (queue_config){pr, co, CUSTOM_PER_PRODUCER, 0, 0};
            for (size_t k = 0; k < N_CONFIGS; k++) {
                if (configs[k].producers == pr && configs[k].consumers == co)
                    o->config = configs[k];
            }
        } else if (bench_opt(argc, argv, &i, "--repeat", &v)) {
            char *end;
            long r = v ? strtol(v, &end, 10) : 0;
            if (v == NULL || *end != '\0' || r < 1 || r > 99)
                return usage_error("--repeat needs 1..99, got '%s'",
                                   v ? v : "");
            o->repeat = (int)r;
        } else if (bench_opt(argc, argv, &i, "--batch", &v)) {
            char *end;
            long b = v ? strtol(v, &end, 10) : 0;
            if (v == NULL || *end != '\0' || b < 1 || b > BENCH_MAX_BATCH)
                return usage_error("--batch needs 1..1000 (1 or 100), got "
                                   "'%s'", v ? v : "");
            o->batch = (size_t)b;
        } else {
            return usage_error("unknown option '%s'", argv[i]);
        }
    }
    return -1;
}

static uint64_t scaled(uint64_t n, double scale)
{
    long long v = llround((double)n * scale);
    return v < 100 ? 100 : (uint64_t)v;
}

static void print_json(const bench_ops *ops, const bench_params *p,
                       const run_result *r, double ff_ref, int repeat)
{
    double rate = r->seconds > 0 ? (double)r->msgs / r->seconds : 0;
    printf("{\"bench\":\"queue\",\"impl\":\"%s\",\"producers\":%d,"
           "\"consumers\":%d,\"msg_size\":%zu,\"batch\":%zu,"
           "\"native_batch\":%s,\"msgs\":%llu,\"seconds\":%.6f,"
           "\"msgs_per_s\":%.0f,\"repeat\":%d,\"ok\":%s",
           ops->name, p->producers, p->consumers, p->msg_size, p->batch,
           ops->native_batch ? "true" : "false",
           (unsigned long long)r->msgs, r->seconds, rate, repeat,
           r->ok ? "true" : "false");
    if (ops == impls[0] && ff_ref > 0)
        printf(",\"ff_ref_msgs_per_s\":%.0f,\"vs_target\":%.3f", ff_ref,
               rate / (TARGET_RATIO * ff_ref));
    if (ops == impls[0])
        printf(",\"prefault\":%s", g_prefault ? "true" : "false");
    if (!r->ok) {
        printf(",\"error\":");
        bench_json_string(stdout, r->error);
    }
    printf("}\n");
    fflush(stdout);
}

static void print_header(const queue_opts *o)
{
    printf("ss-bench queue: %u-byte messages, one process per producer and "
           "per consumer, scale %g, median of %d runs\n",
           MSG_SIZE, o->scale, o->repeat);
    printf("rates in messages/s; \"x pipe\" = ss_queue / pipe; ss_queue: "
           "default 1 MiB ring, blocking calls, default spin, %s\n\n",
           g_prefault ? "children prefault the ring before the start"
                      : "no prefault (--no-prefault)");
    printf("%-7s %5s %9s", "config", "batch", "msgs");
    for (size_t i = 0; i < N_IMPLS; i++) {
        if (!(o->only & (1u << i)))
            continue;
        printf(" %10s", impls[i]->name);
        if (i > 0 && (o->only & 1u))
            printf(" %10s", ratio_labels[i]);
    }
    if (o->only & 1u)
        printf(" | %8s %9s", "ff ref", "vs target");
    printf("\n");
    fflush(stdout);
}

static void print_row(const queue_opts *o, const bench_params *p,
                      const run_result *res, double ff_ref)
{
    char buf[32], cfg[16];
    snprintf(cfg, sizeof cfg, "%dx%d", p->producers, p->consumers);
    printf("%-7s %5zu %9llu", cfg, p->batch,
           (unsigned long long)((uint64_t)p->producers * p->per_producer));
    const run_result *ss = (o->only & 1u) ? &res[0] : NULL;
    double ss_rate = ss && ss->ok && ss->seconds > 0
                         ? (double)ss->msgs / ss->seconds
                         : 0;
    for (size_t i = 0; i < N_IMPLS; i++) {
        if (!(o->only & (1u << i)))
            continue;
        const run_result *r = &res[i];
        double rate = r->ok && r->seconds > 0 ? (double)r->msgs / r->seconds
                                              : 0;
        if (!r->ok) {
            snprintf(buf, sizeof buf, "FAIL");
        } else {
            bench_fmt_rate(buf, sizeof buf, rate);
            if (!impls[i]->native_batch && p->batch > 1)
                strcat(buf, "*");
        }
        printf(" %10s", buf);
        if (i == 0 || !ss)
            continue;
        if (ss_rate > 0 && rate > 0)
            snprintf(buf, sizeof buf, "%.2fx", ss_rate / rate);
        else
            snprintf(buf, sizeof buf, "-");
        printf(" %10s", buf);
    }
    if (ss) {
        if (ff_ref > 0) {
            bench_fmt_rate(buf, sizeof buf, ff_ref);
            printf(" | %8s", buf);
            if (ss_rate > 0)
                printf(" %9.2f", ss_rate / (TARGET_RATIO * ff_ref));
            else
                printf(" %9s", "-");
        } else {
            printf(" | %8s %9s", "-", "-");
        }
    }
    printf("\n");
    fflush(stdout);
}

static void print_footer(const queue_opts *o, bool any_unbatched,
                         char notes[N_IMPLS][160])
{
    printf("\n");
    if (any_unbatched)
        printf("* no batch receive in this transport: it read one message "
               "at a time in the batch > 1 rows.\n");
    if (o->only & 1u)
        printf("ff ref: faster-fifo msgs/s from the issue (single get / "
               "batch 100) -- reference, measured\n"
               "        elsewhere, not in this run. Target: ss_queue at "
               "%.0fx faster-fifo;\n"
               "        vs target = ss_queue msgs/s / (%.0f x ff ref), "
               ">= 1.00 meets it.\n",
               TARGET_RATIO, TARGET_RATIO);
    for (size_t i = 0; i < N_IMPLS; i++) {
        if (notes[i][0])
            printf("%s: %s\n", impls[i]->name, notes[i]);
    }
}

int bench_queue_main(int argc, char **argv)
{
    queue_opts o;
    int rc = parse_queue_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;

    /* A peer that died must turn a write into an error, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    /* SIGCHLD stays pending until sigtimedwait() takes it. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);

    static char notes[N_IMPLS][160];
    bool any_failed = false, any_unbatched = false;
    const size_t batches[] = {1, 100};
    if (!o.json)
        print_header(&o);
    for (size_t c = 0; c < N_CONFIGS; c++) {
        const queue_config *cfg = o.one_config ? &o.config : &configs[c];
        for (size_t b = 0; b < 2; b++) {
            size_t batch = o.batch ? o.batch : batches[b];
            double ff_ref = batch == 1     ? cfg->ff_single
                            : batch == 100 ? cfg->ff_batch
                                           : 0;
            bench_params p = {
                .producers = cfg->producers,
                .consumers = cfg->consumers,
                .msg_size = MSG_SIZE,
                .batch = batch,
                .per_producer = scaled(cfg->per_producer, o.scale),
            };
            run_result res[N_IMPLS];
            memset(res, 0, sizeof res);
            for (size_t i = 0; i < N_IMPLS; i++) {
                if (!(o.only & (1u << i)))
                    continue;
                run_repeated(impls[i], &p, o.repeat, &res[i]);
                if (!res[i].ok) {
                    any_failed = true;
                    fprintf(stderr, "ss-bench queue: %dx%d batch %zu %s "
                            "FAILED: %s\n", p.producers, p.consumers,
                            p.batch, impls[i]->name, res[i].error);
                }
                if (impls[i]->describe && !notes[i][0]) {
                    const char *d = impls[i]->describe();
                    if (d)
                        snprintf(notes[i], sizeof notes[i], "%s", d);
                }
                if (!impls[i]->native_batch && batch > 1)
                    any_unbatched = true;
                if (o.json)
                    print_json(impls[i], &p, &res[i], ff_ref, o.repeat);
            }
            if (!o.json)
                print_row(&o, &p, res, ff_ref);
            if (o.batch)
                break;
        }
        if (o.one_config)
            break;
    }
    if (!o.json)
        print_footer(&o, any_unbatched, notes);
    return any_failed ? BENCH_EXIT_FAIL : 0;
}

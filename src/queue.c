/*
 * queue.c - the shared-memory MPMC message queue (docs/queue.md).
 *
 * Layout of the shared object: one header page (or more), then the ring.
 * The ring is mapped twice in a row, so a record that runs past the ring's
 * end continues contiguously: records are never split and can be read in
 * place.
 *
 * Producers serialise on the producer side's lock, consumers on the
 * consumer side's: a producer and a consumer never wait for each other.
 * Each side publishes its position (tail or head) with one release store,
 * which is the commit point; a redo journal written just before makes the
 * counters that go with it recoverable. A lock names its holder thread; a
 * contender that finds the holder dead takes the lock over and repairs the
 * side: it rolls the journal forward if it was armed, and everything past
 * the published position is ignored, so a cut-off put is never seen and a
 * cut-off get consumed nothing.
 *
 * Waiting: spin on the other side's position for spin_ns, then sleep on a
 * futex sequence word with a waiter count, in slices of at most 100 ms so
 * that a wake-up lost with a killed process costs latency, never a hang.
 */
#include "ss_internal.h"

#include <limits.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SSQ_MAGIC 0x3145554555515353ull /* "SSQUEUE1" little-endian */
#define SSQ_VERSION 3u
#define SSQ_REC_SALT 0x5A17C0DEu
#define SSQ_SLICE_NS SS_MSEC(100)
#define SSQ_LOCK_YIELDS 64
/* A contender waiting on a side lock checks this often that the holder is
 * alive. */
#define SSQ_LOCK_SLICE_NS SS_MSEC(10)
/* Without the system-wide barrier an unlock's wake-up can be missed: a
 * sleeper then retries this often, and can be this late. */
#define SSQ_LOCK_SLICE_UNFENCED_NS SS_MSEC(1)
/* An impatient waiter (emission) probes a holder this often for being
 * stopped or asleep, and trusts a finding this long before probing again. */
#define SSQ_HALT_PROBE_NS SS_USEC(500)
#define SSQ_STUCK_TRUST_NS SS_MSEC(2)
#define SSQ_POLL_PAUSES 8
#define SSQ_SETTLE_ROUNDS 16
#define SSQ_SETTLE_BYTES 4096
#define SSQ_OPEN_WAIT_NS SS_SEC(1)
#define SSQ_NAME_MAX 200

/* Record header in the ring, 8-byte aligned, followed by len payload bytes
 * rounded up to 8. check ties the length to the record's position, so a
 * damaged length or a misplaced position is detected before it is used. */
typedef struct ssq_rec {
    uint32_t len;
    uint32_t check;
} ssq_rec;

/* Redo journal of a side: the values the lock holder is about to publish. */
typedef struct ssq_journal {
    _Atomic uint32_t armed;
    uint32_t pad_;
    uint64_t pos, msgs, bytes;
} ssq_journal;

/* What a side publishes to the other side and to stats readers, with the
 * journal that makes it repairable: one cache line, written at every
 * commit, polled by the other side. */
typedef struct ssq_pub {
    _Atomic uint64_t pos;   /* tail or head, monotonic byte position */
    _Atomic uint64_t msgs;  /* messages committed / consumed, ever */
    _Atomic uint64_t bytes; /* payload bytes committed / consumed, ever */
    ssq_journal journal;
} ssq_pub;

/* Private state of a side, touched only by its lock holder: with the lock,
 * one cache line. */
typedef struct ssq_side {
    /* 0 when free, else the holder thread's identity: (start << 32) | tid
     * (see self_ident()). Its tid half is the futex sleepers wait on. */
    _Atomic uint64_t lock;
    _Atomic uint32_t lock_waiters; /* threads asleep on (or going to) it */
    uint32_t pad_;
    uint64_t off;        /* pub.pos % ring_size */
    uint64_t peer_cache; /* last position read from the other side */
} ssq_side;

#define SSQ_ALIGN __attribute__((aligned(128)))

/* A put or get under contention moves the lock's line and the published
 * line between cores, and nothing else of the header: keep each to one. */
_Static_assert(sizeof(ssq_side) <= 64, "side state spans cache lines");
_Static_assert(sizeof(ssq_pub) <= 64, "published state spans cache lines");

/* A wait point. Sleepers sleep on seq; they register in waiters under the
 * lock of the side that will wake them, which reads waiters and spinners
 * inside its critical section. spinners counts callers busy-polling, who
 * need no wake-up. */
typedef struct ssq_waitq {
    _Atomic uint32_t seq;
    _Atomic uint32_t waiters;
    /* On its own line: spinners change at every poll episode, waiters only
     * when somebody sleeps, and committers read waiters first. */
    SSQ_ALIGN _Atomic int32_t spinners;
} ssq_waitq;

typedef struct ssq_header {
    /* Immutable after creation; magic is stored last, with release. */
    _Atomic uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint64_t ring_size;
    uint64_t max_msgs;
    uint64_t max_msg_size;
    uint64_t check; /* hash of the immutable fields above */

    _Atomic uint32_t closed;
    _Atomic uint32_t corrupt;
    _Atomic uint64_t refused_full;
    _Atomic uint64_t repairs;

    SSQ_ALIGN ssq_side prod;
    SSQ_ALIGN ssq_pub prod_pub;
    SSQ_ALIGN ssq_side cons;
    SSQ_ALIGN ssq_pub cons_pub;
    SSQ_ALIGN ssq_waitq data;  /* consumers wait here for messages */
    SSQ_ALIGN ssq_waitq space; /* producers wait here for room */
} ssq_header;

struct ss_queue {
    ssq_header *hdr;
    char *ring; /* hdr + header_size; mapped twice */
    size_t map_size;
    /* Copies of the immutable header fields, taken once and trusted. */
    uint64_t ring_size;
    uint64_t max_msgs;
    uint64_t max_msg_size;
    _Atomic uint32_t spin_ns;
    /* The shared object's file, which a lock holder's process maps. */
    ss_file_id file;
    /* Its descriptor, kept for ss_queue_fd() (anonymous queues created
     * with keep_fd, and ss_queue_open_fd()), else -1. */
    int fd;
    /* Zero-copy read session; only the thread holding the consumer lock
     * touches these. */
    _Atomic uint64_t rd_owner; /* thread_id() of the reader, 0 if none */
    size_t rd_n;               /* messages exposed */
    uint64_t rd_tail;          /* the tail they were validated against */
    _Atomic uint32_t corrupt_logged;
    /* A lock holder found stopped or asleep, until when that is trusted
     * (impatient waiters only; see side_lock_until()). */
    _Atomic uint64_t stuck;
    _Atomic int64_t stuck_until;
};

enum ssq_side_id { SSQ_PROD, SSQ_CONS };

/* Fault injection, compiled in only for the tests (SS_FAULT_INJECTION):
 * the process kills itself with SIGKILL at a chosen instant of a commit,
 * so that each repair path is exercised deterministically; or it stops
 * there (another signal, SIGSTOP), or sleeps there forever, lock held. */
#ifdef SS_FAULT_INJECTION
#include <signal.h>
int ss__fault_point;
int ss__fault_signal;
static void ssq_fault(void)
{
    ss__fault_point = 0; /* once */
    if (ss__fault_signal < 0)
        for (;;)
            pause();
    raise(ss__fault_signal ? ss__fault_signal : SIGKILL);
}
#define SSQ_FAULT(side, at)                                                    \
    do {                                                                       \
        if (ss__fault_point == ss__fault_code((side) == SSQ_CONS, (at)))      \
            ssq_fault();                                                       \
    } while (0)
#else
#define SSQ_FAULT(side, at) ((void)0)
#endif

/* A number for the calling thread, unique in this process for the
 * process's lifetime (zero-copy read sessions belong to a thread). The
 * forking thread takes a new one in the child, so a session open in the
 * parent at fork() is never the child's. */
static _Atomic uint64_t ssq_thread_ids;
static _Thread_local uint64_t ssq_thread_id;
static pthread_once_t ssq_atfork_once = PTHREAD_ONCE_INIT;

/* Identity of the calling thread as lock holder, 0 until first needed:
 * (start time << 32) | kernel thread id, which another process can check
 * (ss__thread_probe()). Initial-exec: read on every lock. Not in a build
 * for a module loaded with dlopen() (SS_NO_STATIC_TLS: the Python
 * extension), whose thread-local block must then not be static. */
#ifdef SS_NO_STATIC_TLS
#define SSQ_TLS_MODEL
#else
#define SSQ_TLS_MODEL __attribute__((tls_model("initial-exec")))
#endif
static _Thread_local uint64_t ssq_self SSQ_TLS_MODEL;

/* Whether this process is reached by other processes' system-wide
 * barriers, so that side_unlock() needs no fence of its own (set once). */
static _Atomic bool ssq_light_unlock;

static void forget_thread_id(void)
{
    ssq_thread_id = 0;
    ssq_self = 0;
}

/* Once per process, before its first queue handle. */
static void process_init(void)
{
    pthread_atfork(NULL, NULL, forget_thread_id);
    /* Without the barrier (old kernels, seccomp), unlocks fence: slower,
     * as correct, and not worth a log line. */
    bool light = ss__membarrier_register(SS_MB_SYSTEM) == 0;
    atomic_store_explicit(&ssq_light_unlock, light, memory_order_relaxed);
}

static inline uint64_t thread_id(void)
{
    if (SS_UNLIKELY(ssq_thread_id == 0))
        ssq_thread_id = atomic_fetch_add(&ssq_thread_ids, 1) + 1;
    return ssq_thread_id;
}

/* ---- small helpers ---- */

static inline uint64_t rec_size(uint64_t len)
{
    return sizeof(ssq_rec) + ((len + 7) & ~(uint64_t)7);
}

/* Move a position and its ring offset past a record of rs bytes. */
static inline void ring_advance(const ss_queue *q, uint64_t *pos, uint64_t *off,
                                uint64_t rs)
{
    *pos += rs;
    *off += rs;
    if (*off >= q->ring_size)
        *off -= q->ring_size;
}

static inline uint32_t rec_check(uint32_t len, uint64_t pos)
{
    return (len * 0x9E3779B1u) ^ (uint32_t)(pos >> 3) ^ SSQ_REC_SALT;
}

static uint64_t header_hash(const ssq_header *h)
{
    /* The sizes of the structures go in too, so that a process built with
     * another layout (another ABI) is refused. */
    uint64_t v[7] = {SSQ_MAGIC, ((uint64_t)h->version << 32) | h->header_size,
                     h->ring_size, h->max_msgs, h->max_msg_size,
                     sizeof(ssq_header), sizeof(ssq_side)};
    uint64_t x = 0xcbf29ce484222325ull;
    for (int i = 0; i < 7; i++) {
        x ^= v[i];
        x *= 0x100000001b3ull;
        x ^= x >> 29;
    }
    return x;
}

static void wake_all(ss_queue *q);

static int mark_corrupt(ss_queue *q, const char *what, uint64_t a, uint64_t b)
{
    atomic_store_explicit(&q->hdr->corrupt, 1, memory_order_release);
    if (atomic_exchange(&q->corrupt_logged, 1) == 0)
        SS_LOG_ERR("queue", "shared memory corrupted: %s (%llu, %llu); the "
                   "queue refuses every call from now on",
                   what, (unsigned long long)a, (unsigned long long)b);
    /* Nothing will move any more: waiters must learn it now. */
    wake_all(q);
    return SS_ECORRUPT;
}

static inline bool is_corrupt(const ss_queue *q)
{
    return atomic_load_explicit(&q->hdr->corrupt, memory_order_relaxed) != 0;
}

/* ---- locking and repair ---- */

static ssq_side *side_of(ss_queue *q, enum ssq_side_id s)
{
    return s == SSQ_PROD ? &q->hdr->prod : &q->hdr->cons;
}

static ssq_pub *pub_of(ss_queue *q, enum ssq_side_id s)
{
    return s == SSQ_PROD ? &q->hdr->prod_pub : &q->hdr->cons_pub;
}

/* The previous holder of side s died holding its lock: finish or forget what
 * it was doing, then check that the published positions still make sense. */
static int repair_side(ss_queue *q, enum ssq_side_id s)
{
    ssq_side *sd = side_of(q, s);
    ssq_pub *pub = pub_of(q, s);
    ssq_journal *j = &pub->journal;
    bool rolled = false;

    if (atomic_load_explicit(&j->armed, memory_order_acquire)) {
        /* It died between arming the journal and disarming it: the records
         * were complete before arming, so the commit is rolled forward. */
        atomic_store_explicit(&pub->msgs, j->msgs, memory_order_relaxed);
        atomic_store_explicit(&pub->bytes, j->bytes, memory_order_relaxed);
        atomic_store_explicit(&pub->pos, j->pos, memory_order_release);
        atomic_store_explicit(&j->armed, 0, memory_order_release);
        rolled = true;
    }
    uint64_t mine = atomic_load_explicit(&pub->pos, memory_order_acquire);
    uint64_t other = atomic_load_explicit(
        &pub_of(q, s == SSQ_PROD ? SSQ_CONS : SSQ_PROD)->pos,
        memory_order_acquire);
    uint64_t tail = s == SSQ_PROD ? mine : other;
    uint64_t head = s == SSQ_PROD ? other : mine;
    if (tail - head > q->ring_size)
        return mark_corrupt(q, "head/tail out of range after repair", head,
                            tail);
    sd->off = mine % q->ring_size;
    sd->peer_cache = other;
    atomic_fetch_add(&q->hdr->repairs, 1);
    SS_LOG_WARNING("queue",
                   "a process died inside the %s side of the queue; repaired "
                   "(%s its last operation)",
                   s == SSQ_PROD ? "producer" : "consumer",
                   rolled ? "completed" : "discarded");
    return 0;
}

static uint64_t self_ident_slow(void)
{
    uint32_t tid, start;
    ss__thread_ident(&tid, &start);
    ssq_self = (uint64_t)start << 32 | tid;
    return ssq_self;
}

static inline uint64_t self_ident(void)
{
    uint64_t me = ssq_self;
    return SS_LIKELY(me != 0) ? me : self_ident_slow();
}

/* The futex word of a side lock: the half of the lock word with the
 * holder's thread id. */
static inline _Atomic uint32_t *lock_futex(ssq_side *sd)
{
    char *p = (char *)&sd->lock;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    p += 4;
#endif
    return (_Atomic uint32_t *)(void *)p;
}

/* One attempt at side lock sd; on failure *seen is the holder's identity. */
static inline bool lock_try(ssq_side *sd, uint64_t me, uint64_t *seen)
{
    uint64_t v = 0;
    if (SS_LIKELY(atomic_compare_exchange_strong_explicit(
            &sd->lock, &v, me, memory_order_acquire, memory_order_relaxed)))
        return true;
    *seen = v;
    return false;
}

static int held_by_caller(enum ssq_side_id s)
{
    SS_LOG_ERR("queue", "this thread already holds the %s side (a zero-copy "
               "read is still open?)",
               s == SSQ_PROD ? "producer" : "consumer");
    return SS_ESTATE;
}

static inline void side_unlock(ss_queue *q, enum ssq_side_id s)
{
    ssq_side *sd = side_of(q, s);
    atomic_store_explicit(&sd->lock, 0, memory_order_release);
    /* Keeps the compiler from moving the load above the store (C11 lets a
     * relaxed load pass a release store); the processor is dealt with
     * below. */
    atomic_signal_fence(memory_order_seq_cst);
    /* The store above and the load below must not be reordered, or a
     * sleeper registering meanwhile would miss its wake-up. A fence here
     * would wait for every store of the critical section to leave this
     * core (ring lines the consumers are reading): instead a thread that
     * goes to sleep on the lock issues a system-wide barrier after
     * registering, which orders this pair for us (see side_lock_until()).
     * Only a process that the barrier cannot reach fences here. */
    if (SS_UNLIKELY(!atomic_load_explicit(&ssq_light_unlock,
                                          memory_order_relaxed)))
        atomic_thread_fence(memory_order_seq_cst);
    if (SS_UNLIKELY(atomic_load_explicit(&sd->lock_waiters,
                                         memory_order_relaxed) != 0))
        ss__futex_wake(lock_futex(sd), 1);
}

/* Side s's lock is held by seen, whose thread has gone: take the lock over
 * from it and repair the side. 0 when the lock is now ours, SS_EBUSY when
 * another contender took it over first, or an error from the repair.
 * Several contenders may find the same dead holder: the compare-and-swap
 * on the whole identity lets exactly one through, and an identity is never
 * reused (thread ids are, with another start time). */
static int lock_take_over(ss_queue *q, enum ssq_side_id s, uint64_t seen,
                          uint64_t me)
{
    ssq_side *sd = side_of(q, s);
    if (!atomic_compare_exchange_strong_explicit(&sd->lock, &seen, me,
                                                 memory_order_acquire,
                                                 memory_order_relaxed))
        return SS_EBUSY;
    int rc = repair_side(q, s);
    if (rc != 0)
        side_unlock(q, s);
    return rc;
}

/* Whether seen is a holder this handle found stopped or asleep a moment
 * ago (impatient waiters give up at once instead of probing it again). */
static inline bool stuck_known(ss_queue *q, uint64_t seen)
{
    return seen == atomic_load_explicit(&q->stuck, memory_order_relaxed) &&
           ss__now_ns() <
               atomic_load_explicit(&q->stuck_until, memory_order_relaxed);
}

/* Remember a holder found stuck, and say so once per holder. */
static void stuck_note(ss_queue *q, enum ssq_side_id s, uint64_t seen,
                       ss_thread_state st, int64_t now)
{
    uint64_t was = atomic_exchange_explicit(&q->stuck, seen,
                                            memory_order_relaxed);
    atomic_store_explicit(&q->stuck_until, now + SSQ_STUCK_TRUST_NS,
                          memory_order_relaxed);
    if (was != seen)
        SS_LOG_WARNING("queue", "the %s side of a queue is held by thread "
                       "%u, which is %s: calls that cannot wait for it give "
                       "up (SS_EBUSY) until it goes on",
                       s == SSQ_PROD ? "producer" : "consumer",
                       (unsigned)(uint32_t)seen,
                       st == SS_THREAD_STOPPED
                           ? "stopped (a signal or a debugger)"
                       : st == SS_THREAD_ASLEEP
                           ? "asleep (frozen, or blocked in a signal "
                             "handler)"
                           : "not letting go (preempted for long, or "
                             "frozen)");
}

/* Take side s's lock, waiting until deadline (-1: forever; SSQ_NO_BLOCK:
 * the yielding retries only). Yielding the core between attempts comes
 * first: the lock is held for a copy, and going to sleep in the kernel
 * would cost the holder a wake-up system call at unlock. Not spinning with
 * pauses: a waiter that polls the lock from another core takes its cache
 * line away from the holder, whose unlock then waits for it (measured:
 * yielding at once raised 20x3 single gets from 13M to 18M messages/s and
 * 20x20 batched gets from 14.8M to 16.0M); and with more processes than
 * cores the holder may be preempted behind us. Then probe the holder
 * (/proc): one that has gone is robbed and the side repaired; sleep on
 * the lock, probing it again every SSQ_LOCK_SLICE_NS.
 *
 * impatient (emission, close): a holder that is not making progress, seen
 * stopped (SIGSTOP, a debugger) or asleep twice in a row, ends the wait at
 * once with SS_EBUSY; it is probed every SSQ_HALT_PROBE_NS. A holder that
 * runs is waited for until the deadline, as by everyone else. */
#define SSQ_NO_BLOCK ((int64_t)-3)

/* seen == *me: the caller holds the lock already, unless its identity
 * came from its parent through a fork that skipped the atfork handlers
 * (_Fork(), a raw clone()): then it takes its own and says false. */
static bool really_me(uint64_t *me)
{
    if ((uint32_t)*me == ss__thread_tid())
        return true;
    *me = self_ident_slow();
    return false;
}

/* Ways of waiting for a lock (side_lock_until()). */
enum {
    SSQ_IMPATIENT = 1, /* give up on a stuck holder (SS_EBUSY) */
    SSQ_UNTIL_CLOSED = 2, /* give up (SS_ECLOSED) once the queue is closed
                             or corrupt: a waiter registering as sleeper */
};

static int side_lock_until(ss_queue *q, enum ssq_side_id s, int64_t deadline,
                           unsigned how)
{
    bool impatient = how & SSQ_IMPATIENT;
    ssq_side *sd = side_of(q, s);
    uint64_t me = self_ident(), seen;
    uint64_t first = 0;
    for (int i = 0; i < SSQ_LOCK_YIELDS; i++) {
        if (lock_try(sd, me, &seen))
            return 0;
        if (SS_UNLIKELY(seen == me) && really_me(&me))
            return held_by_caller(s);
        if (impatient && stuck_known(q, seen))
            return SS_EBUSY;
        if (i == 0)
            first = seen;
        ss__yield();
        if ((i & 7) == 7) {
            /* A yield can last a time slice when others want the core. */
            if (deadline >= 0 && ss__now_ns() >= deadline)
                break;
            /* Impatient: a holder that has not let go in 8 yields is
             * probed now, not after 64 (on a loaded machine those can
             * take the whole patience); one that has is contention. */
            if (impatient && seen == first)
                break;
            first = seen;
        }
    }
    bool sleeper = false, fenced = false;
    int64_t next_probe = 0, next_full = 0; /* at once, first */
    /* A holder seen asleep at the last probe, and held since. */
    uint64_t asleep = 0;
    int rc;
    for (;;) {
        if (lock_try(sd, me, &seen)) {
            rc = 0;
            break;
        }
        if (SS_UNLIKELY(seen == me)) {
            if (really_me(&me)) {
                rc = held_by_caller(s);
                break;
            }
            continue;
        }
        if (seen != asleep)
            asleep = 0; /* released and taken again since */
        if ((how & SSQ_UNTIL_CLOSED) &&
            (atomic_load_explicit(&q->hdr->closed, memory_order_acquire) ||
             is_corrupt(q))) {
            rc = SS_ECLOSED;
            break;
        }
        /* By the clock, not by how the sleep ended: signals that keep
         * interrupting it must not keep a dead holder's lock held. */
        int64_t now = ss__now_ns();
        if (now >= next_probe) {
            /* Whether it still maps the queue (exec()) is the costly part
             * of a probe, and may wait for the holder's process (its
             * memory map lock): every SSQ_LOCK_SLICE_NS only, and never
             * for an impatient caller, which must not block (a holder
             * that exec()ed is robbed by the others). */
            bool full = !impatient && now >= next_full;
            ss_thread_state st = ss__thread_probe(
                (uint32_t)seen, (uint32_t)(seen >> 32), full ? &q->file : NULL);
            /* The probe speaks of the holder seen before it: if the lock
             * changed hands meanwhile, it says nothing of the new one. */
            if (atomic_load_explicit(&sd->lock, memory_order_acquire) !=
                seen) {
                asleep = 0;
                continue;
            }
            if (st == SS_THREAD_GONE) {
                rc = lock_take_over(q, s, seen, me);
                if (rc != SS_EBUSY)
                    break;
                continue; /* another contender took it over: try again */
            }
            if (impatient &&
                (st == SS_THREAD_STOPPED ||
                 (st == SS_THREAD_ASLEEP && asleep == seen))) {
                stuck_note(q, s, seen, st, now);
                rc = SS_EBUSY;
                break;
            }
            asleep = st == SS_THREAD_ASLEEP ? seen : 0;
            now = ss__now_ns();
            if (full)
                next_full = now + SSQ_LOCK_SLICE_NS;
            next_probe = impatient ? now + SSQ_HALT_PROBE_NS : next_full;
        }
        if (deadline == SSQ_NO_BLOCK) {
            rc = SS_EAGAIN;
            break;
        }
        int64_t until = next_probe;
        if (!fenced && now + SSQ_LOCK_SLICE_UNFENCED_NS < until)
            until = now + SSQ_LOCK_SLICE_UNFENCED_NS;
        if (deadline >= 0) {
            if (now >= deadline) {
                /* Impatient: a holder that kept the lock the whole
                 * patience is as good as stuck for the calls that follow
                 * (a moment: see stuck_known()). */
                if (impatient)
                    stuck_note(q, s, seen, SS_THREAD_RUNS, now);
                rc = SS_ETIMEDOUT;
                break;
            }
            if (deadline < until)
                until = deadline;
        }
        if (!sleeper) {
            /* Register, then the barrier: any unlock from now on sees us,
             * and any unlock before it has its release visible to the
             * attempt that follows (side_unlock() has no fence). */
            atomic_fetch_add_explicit(&sd->lock_waiters, 1,
                                      memory_order_seq_cst);
            sleeper = true;
            fenced = ss__membarrier(SS_MB_SYSTEM) == 0;
            continue;
        }
        ss__futex_wait(lock_futex(sd), (uint32_t)seen, until - now);
    }
    if (sleeper) {
        atomic_fetch_sub_explicit(&sd->lock_waiters, 1, memory_order_seq_cst);
        /* Leaving without the lock, maybe with the wake-up of an unlock
         * meant for somebody: pass it on. */
        if (rc != 0 &&
            atomic_load_explicit(&sd->lock, memory_order_relaxed) == 0 &&
            atomic_load_explicit(&sd->lock_waiters, memory_order_relaxed))
            ss__futex_wake(lock_futex(sd), 1);
    }
    return rc;
}

/* Take side s's own lock for a call with timeout_ns: SS_NO_WAIT never
 * sleeps (SS_EAGAIN if the lock stays busy through SSQ_LOCK_YIELDS yielding
 * retries and its holder lives), a positive timeout waits no longer than
 * its deadline. *deadline is computed here on first need (-2: not yet) and
 * shared with the rest of the call. */
static inline int side_lock(ss_queue *q, enum ssq_side_id s,
                            int64_t timeout_ns, int64_t *deadline)
{
    uint64_t seen;
    if (SS_LIKELY(lock_try(side_of(q, s), self_ident(), &seen)))
        return 0;
    /* SS_NO_WAIT still retries a little: a lock held for a copy is normal
     * under contention and must not look like a full or empty queue. Only
     * a holder that stays (preempted, stopped, a long zero-copy read) makes
     * the call give up. */
    if (timeout_ns == 0)
        return side_lock_until(q, s, SSQ_NO_BLOCK, 0);
    if (*deadline == -2)
        *deadline = ss__deadline_ns(timeout_ns);
    return side_lock_until(q, s, *deadline, 0);
}

/* Publish a side's new position and counters: arm the journal, store the
 * counters and then the position (the commit point), disarm. */
static inline void side_commit(ss_queue *q, enum ssq_side_id s, uint64_t pos,
                               uint64_t off, uint64_t msgs, uint64_t bytes)
{
    ssq_side *sd = side_of(q, s);
    ssq_pub *pub = pub_of(q, s);
    ssq_journal *j = &pub->journal;
    if (s == SSQ_CONS) /* a put's is before its last check of the flag */
        SSQ_FAULT(s, SS__FAULT_COPIED);
    j->pos = pos;
    j->msgs = msgs;
    j->bytes = bytes;
    atomic_store_explicit(&j->armed, 1, memory_order_release);
    SSQ_FAULT(s, SS__FAULT_ARMED);
    /* Release, not relaxed: a counter store must not become visible (or be
     * compiled) before the journal is armed, or a death in between would
     * leave a counter advanced for a commit that repair then discards. */
    atomic_store_explicit(&pub->msgs, msgs, memory_order_release);
    atomic_store_explicit(&pub->bytes, bytes, memory_order_release);
    atomic_store_explicit(&pub->pos, pos, memory_order_release);
    SSQ_FAULT(s, SS__FAULT_COMMITTED);
    sd->off = off;
    atomic_store_explicit(&j->armed, 0, memory_order_release);
}

/* ---- waiting ---- */

/* Whether a committer must wake sleepers of w: read inside the
 * committer's critical section, where sleepers register (wait_change()), so
 * that either the sleeper saw the commit or the committer sees the sleeper.
 * Nobody to wake when someone is still busy-polling: it will see the
 * commit, and hand the wake-up on if it leaves work behind (wake_more()). */
static inline bool must_wake(ssq_waitq *w)
{
    if (SS_LIKELY(atomic_load_explicit(&w->waiters, memory_order_relaxed) == 0))
        return false;
    /* Somebody sleeps. Read spinners with a read-modify-write, ordered in
     * its modification order against the spinner's own count-out: if we
     * still see a spinner, its count-out comes later and synchronises with
     * us, so whatever it does next (its take, its hand-on in after_take())
     * sees our commit. A plain load here would race with that count-out
     * (store buffering) and could skip a needed wake-up. */
    return atomic_fetch_add_explicit(&w->spinners, 0, memory_order_seq_cst) <= 0;
}

static inline void wake(ssq_waitq *w, int n)
{
    atomic_fetch_add_explicit(&w->seq, 1, memory_order_release);
    ss__futex_wake(&w->seq, n);
}

/* Wake every sleeper of both wait points (close, corruption). */
static void wake_all(ss_queue *q)
{
    wake(&q->hdr->data, INT_MAX);
    wake(&q->hdr->space, INT_MAX);
}

/* Whether a waiter should stop waiting: the position moved, or the queue
 * was closed or found corrupt (the caller then sees why). */
static inline bool wait_over(const ss_queue *q, _Atomic uint64_t *watch,
                             uint64_t seen)
{
    return atomic_load_explicit(watch, memory_order_acquire) != seen ||
           atomic_load_explicit(&q->hdr->closed, memory_order_acquire) ||
           atomic_load_explicit(&q->hdr->corrupt, memory_order_acquire);
}

/* Wait until *watch differs from seen, the queue closes, or the deadline
 * (-1: none) passes. other is the side whose commits move *watch and whose
 * lock orders our registration as a sleeper. Spins first, then sleeps on w.
 * Returns 0, SS_ETIMEDOUT, or an error from taking the other side's lock. */
static int wait_change(ss_queue *q, ssq_waitq *w, enum ssq_side_id other,
                       _Atomic uint64_t *watch, uint64_t seen, int64_t deadline,
                       uint64_t settle_bytes)
{
    uint32_t spin = atomic_load_explicit(&q->spin_ns, memory_order_relaxed);
    bool spinning = false;

    if (spin) {
        int64_t end = ss__now_ns() + spin;
        if (deadline >= 0 && end > deadline)
            end = deadline;
        atomic_fetch_add_explicit(&w->spinners, 1, memory_order_seq_cst);
        spinning = true;
        for (unsigned i = 1;; i++) {
            if (wait_over(q, watch, seen)) {
                /* A batch reader right behind a streaming producer would
                 * take a record or two at a time and pull every line the
                 * producer is still writing. While the producer keeps
                 * committing, let it fill a few lines first; stop as soon
                 * as a poll sees no progress (a lone message is not
                 * delayed by more than one poll). Batch readers only. */
                uint64_t at = atomic_load_explicit(watch, memory_order_acquire);
                for (int r = 0; at - seen < settle_bytes &&
                                r < SSQ_SETTLE_ROUNDS;
                     r++) {
                    for (int k = 0; k < SSQ_POLL_PAUSES; k++)
                        ss__cpu_relax();
                    uint64_t later = atomic_load_explicit(watch,
                                                          memory_order_acquire);
                    if (later == at)
                        break;
                    at = later;
                }
                /* Counted out with a read-modify-write: see must_wake(). */
                atomic_fetch_sub_explicit(&w->spinners, 1, memory_order_seq_cst);
                return 0;
            }
            /* Poll every few pauses, not continuously: each poll pulls the
             * producer's line over, and a committer that finds it shared
             * pays a cross-core invalidation. */
            for (int k = 0; k < SSQ_POLL_PAUSES; k++)
                ss__cpu_relax();
            if ((i & 7) == 0) {
                if (ss__now_ns() >= end)
                    break;
                /* Every ~1.5 us, give the core away if anybody else wants
                 * it: with more processes than cores, the one we wait for
                 * may be queued behind us on this very core. With the core
                 * to ourselves this costs a system call that returns at
                 * once, and a reply comes in well before the first. */
                ss__yield();
            }
        }
    }
    for (;;) {
        uint32_t s = atomic_load_explicit(&w->seq, memory_order_acquire);
        /* Closed meanwhile (its holder stuck, say): stop waiting for the
         * lock too; the caller then sees why. */
        int rc = side_lock_until(q, other, deadline, SSQ_UNTIL_CLOSED);
        if (rc != 0) {
            if (spinning) {
                atomic_fetch_sub_explicit(&w->spinners, 1, memory_order_seq_cst);
                /* Committers may have skipped wake-ups because we spun:
                 * pass one on before giving up. */
                if (atomic_load_explicit(watch, memory_order_acquire) != seen &&
                    must_wake(w))
                    wake(w, 1);
            }
            return rc == SS_ECLOSED ? 0 : rc;
        }
        atomic_fetch_add_explicit(&w->waiters, 1, memory_order_relaxed);
        if (spinning)
            atomic_fetch_sub_explicit(&w->spinners, 1, memory_order_seq_cst);
        spinning = false;
        bool over = wait_over(q, watch, seen);
        side_unlock(q, other);
        if (over) {
            atomic_fetch_sub_explicit(&w->waiters, 1, memory_order_relaxed);
            return 0;
        }
        int64_t slice = SSQ_SLICE_NS;
        if (deadline >= 0) {
            int64_t left = deadline - ss__now_ns();
            if (left < slice)
                slice = left > 0 ? left : 0;
        }
        bool timed_out = ss__futex_wait(&w->seq, s, slice) == SS_ETIMEDOUT;
        atomic_fetch_sub_explicit(&w->waiters, 1, memory_order_relaxed);
        if (wait_over(q, watch, seen)) {
            /* Woken by the clock, not by the committer: it skipped the
             * wake-up because it saw spinners, and one of them may have been
             * killed while spinning and never counted itself out. Forget
             * them: a live spinner counted out too early only costs a
             * wake-up that was not needed. */
            if (timed_out)
                atomic_store_explicit(&w->spinners, 0, memory_order_relaxed);
            return 0;
        }
        if (deadline >= 0 && ss__now_ns() >= deadline)
            return SS_ETIMEDOUT;
    }
}

/* ---- creation and mapping ---- */

SS_API void ss_queue_options_init(ss_queue_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->spin_ns = SS_QUEUE_DEFAULT_SPIN_NS;
}

static size_t header_bytes(void)
{
    size_t page = ss__page_size();
    return (sizeof(ssq_header) + page - 1) / page * page;
}

/* Work out the ring size for opts; 0 or SS_EINVAL. */
static int ring_size_for(const ss_queue_options *opts, uint64_t *ring)
{
    size_t page = ss__page_size();
    size_t cap = opts && opts->capacity ? opts->capacity
                                        : SS_QUEUE_DEFAULT_CAPACITY;
    if ((uint64_t)cap > ((uint64_t)1 << 40)) {
        SS_LOG_ERR("queue", "capacity %zu too large (at most 1 TiB)", cap);
        return SS_EINVAL;
    }
    if (cap < page)
        cap = page;
    *ring = (cap + page - 1) / page * page;
    return 0;
}

/* A handle on the queue mapped at base from fd: 0 or an SS_E* code. */
static int handle_new(void *base, size_t map_size, uint32_t spin_ns, int fd,
                      ss_queue **out)
{
    pthread_once(&ssq_atfork_once, process_init);
    ss_file_id file;
    int rc = ss__fd_file_id(fd, &file);
    if (rc != 0)
        return rc;
    ss_queue *q = calloc(1, sizeof *q);
    if (!q)
        return SS_ENOMEM;
    q->file = file;
    q->fd = -1;
    q->hdr = base;
    q->ring = (char *)base + q->hdr->header_size;
    q->map_size = map_size;
    q->ring_size = q->hdr->ring_size;
    q->max_msgs = q->hdr->max_msgs;
    q->max_msg_size = q->hdr->max_msg_size;
    atomic_store(&q->spin_ns, spin_ns);
    *out = q;
    return 0;
}

/* Create the object behind fd (already sized) as a fresh queue. */
static int create_on_fd(int fd, uint64_t ring, const ss_queue_options *opts,
                        ss_queue **out)
{
    size_t hb = header_bytes();
    void *base;
    int rc = ss__map_mirror(fd, hb, ring, &base);
    if (rc != 0)
        return rc;
    ssq_header *h = base;
    /* The object is new and zero-filled. */
    h->version = SSQ_VERSION;
    h->header_size = (uint32_t)hb;
    h->ring_size = ring;
    h->max_msgs = opts ? opts->max_msgs : 0;
    uint64_t mm = ring - sizeof(ssq_rec);
    h->max_msg_size = mm > UINT32_MAX ? UINT32_MAX : mm;
    h->check = header_hash(h);
    atomic_store_explicit(&h->magic, SSQ_MAGIC, memory_order_release);
    rc = handle_new(base, hb + 2 * ring,
                    opts ? opts->spin_ns : SS_QUEUE_DEFAULT_SPIN_NS, fd, out);
    if (rc != 0)
        ss__unmap(base, hb + 2 * ring);
    return rc;
}

SS_API int ss_queue_create(ss_queue **out, const ss_queue_options *opts)
{
    uint64_t ring;
    if (!out)
        return SS_EINVAL;
    int rc = ring_size_for(opts, &ring);
    if (rc != 0)
        return rc;
    int fd = ss__shm_create_anon(header_bytes() + ring,
                                 opts ? opts->label : NULL);
    if (fd < 0)
        return fd;
    rc = create_on_fd(fd, ring, opts, out);
    if (rc == 0 && opts && opts->keep_fd)
        (*out)->fd = fd; /* ss_queue_fd() */
    else
        ss__close_fd(fd); /* the mappings keep the memory alive */
    return rc;
}

/* Normalise a user name into "/name" in buf; 0 or an SS_E* code. */
static int shm_name(const char *name, char *buf, size_t size)
{
    if (!name)
        return SS_EINVAL;
    if (name[0] == '/')
        name++;
    size_t n = strlen(name);
    if (n == 0 || n > SSQ_NAME_MAX || strchr(name, '/') || n + 2 > size ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        SS_LOG_ERR("queue", "bad queue name \"%.*s\": 1 to %d characters, no '/' "
                   "but a leading one",
                   SSQ_NAME_MAX + 1, name, SSQ_NAME_MAX);
        return SS_ENAMETOOLONG;
    }
    buf[0] = '/';
    memcpy(buf + 1, name, n + 1);
    return 0;
}

SS_API int ss_queue_create_named(ss_queue **out, const char *name,
                                 const ss_queue_options *opts)
{
    char nm[SSQ_NAME_MAX + 2];
    uint64_t ring;
    if (!out)
        return SS_EINVAL;
    int rc = shm_name(name, nm, sizeof nm);
    if (rc == 0)
        rc = ring_size_for(opts, &ring);
    if (rc != 0)
        return rc;
    unsigned mode = opts && opts->mode ? opts->mode : 0600;
    int fd = ss__shm_create_named(nm, mode & 0777, header_bytes() + ring);
    if (fd < 0)
        return fd;
    rc = create_on_fd(fd, ring, opts, out);
    ss__close_fd(fd);
    if (rc != 0)
        ss__shm_unlink(nm);
    return rc;
}

/* Check an opened object's header. 0 or an SS_E* code. */
static int validate_header(const ssq_header *h, size_t file_size)
{
    if (atomic_load_explicit(&h->magic, memory_order_acquire) != SSQ_MAGIC)
        return SS_EFOREIGN;
    if (h->version != SSQ_VERSION)
        return SS_EVERSION;
    size_t page = ss__page_size();
    if (h->check != header_hash(h) || h->header_size != header_bytes() ||
        h->ring_size == 0 || h->ring_size % page != 0 ||
        h->ring_size > ((uint64_t)1 << 40) ||
        (uint64_t)file_size != h->header_size + h->ring_size ||
        h->max_msg_size == 0 || h->max_msg_size > h->ring_size - sizeof(ssq_rec))
        return SS_ECORRUPT;
    return 0;
}

SS_API int ss_queue_open(ss_queue **out, const char *name)
{
    return ss__queue_open_within(out, name, SSQ_OPEN_WAIT_NS);
}

/* Map the queue in the shared object fd (size bytes so far; nm names it
 * in log lines), waiting up to wait_ns for a creator to finish writing its
 * header. fd stays the caller's. */
static int open_on_fd(int fd, size_t size, const char *nm, int64_t wait_ns,
                      ss_queue **out)
{
    /* A creator may be between shm_open and writing the magic: give it up to
     * a second (wait_ns) before calling the object foreign. */
    int rc;
    size_t hb = header_bytes();
    int64_t give_up = ss__now_ns() + wait_ns;
    void *hp = NULL;
    for (;;) {
        if (size >= hb) {
            if (!hp && (rc = ss__map_plain(fd, hb, &hp)) != 0)
                goto fail;
            if (atomic_load_explicit(&((ssq_header *)hp)->magic,
                                     memory_order_acquire) != 0)
                break;
        }
        if (ss__now_ns() >= give_up) {
            rc = SS_EFOREIGN;
            if (wait_ns > 0)
                SS_LOG_ERR("queue", "%s is not a signal-slot queue (size "
                           "%zu, no magic)", nm, size);
            goto fail;
        }
        usleep(1000);
        int64_t sz = ss__shm_size(fd);
        if (sz < 0) {
            rc = (int)sz;
            goto fail;
        }
        size = (size_t)sz;
    }
    rc = validate_header(hp, size);
    if (rc != 0) {
        SS_LOG_ERR("queue", "cannot open %s: %s", nm, ss_strerror(rc));
        goto fail;
    }
    uint64_t ring = ((ssq_header *)hp)->ring_size;
    ss__unmap(hp, hb);
    hp = NULL;
    void *base;
    if ((rc = ss__map_mirror(fd, hb, ring, &base)) != 0)
        goto fail;
    /* Re-check through the final mapping: the object could have been
     * replaced between the two mappings. */
    if ((rc = validate_header(base, size)) != 0) {
        ss__unmap(base, hb + 2 * ring);
        goto fail;
    }
    if ((rc = handle_new(base, hb + 2 * ring, SS_QUEUE_DEFAULT_SPIN_NS, fd,
                         out)) != 0) {
        ss__unmap(base, hb + 2 * ring);
        goto fail;
    }
    return 0;
fail:
    if (hp)
        ss__unmap(hp, hb);
    return rc;
}

int ss__queue_open_within(ss_queue **out, const char *name, int64_t wait_ns)
{
    char nm[SSQ_NAME_MAX + 2];
    if (!out)
        return SS_EINVAL;
    int rc = shm_name(name, nm, sizeof nm);
    if (rc != 0)
        return rc;
    size_t size = 0;
    int fd = ss__shm_open_named(nm, &size);
    if (fd < 0)
        return fd;
    rc = open_on_fd(fd, size, nm, wait_ns, out);
    ss__close_fd(fd);
    return rc;
}

SS_API int ss_queue_open_fd(ss_queue **out, int fd)
{
    if (!out || fd < 0)
        return SS_EINVAL;
    int64_t size = ss__shm_size(fd);
    if (size < 0)
        return (int)size;
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0)
        return SS_ESYS;
    int rc = open_on_fd(own, (size_t)size, "a queue's descriptor", 0, out);
    if (rc == 0)
        (*out)->fd = own;
    else
        ss__close_fd(own);
    return rc;
}

SS_API int ss_queue_fd(const ss_queue *q)
{
    if (!q)
        return SS_EINVAL;
    return q->fd >= 0 ? q->fd : SS_ENOTSUP;
}

SS_API int ss_queue_unlink(const char *name)
{
    char nm[SSQ_NAME_MAX + 2];
    int rc = shm_name(name, nm, sizeof nm);
    return rc != 0 ? rc : ss__shm_unlink(nm);
}

SS_API void ss_queue_destroy(ss_queue *q)
{
    if (!q)
        return;
    /* A zero-copy read left open by this thread would keep the consumer
     * side locked for every process: release it, consuming nothing. */
    if (atomic_load_explicit(&q->rd_owner, memory_order_relaxed) ==
        thread_id()) {
        SS_LOG_WARNING("queue", "destroyed with a zero-copy read still open; "
                       "its messages stay in the queue");
        ss_queue_read_end(q, 0);
    }
    ss__unmap(q->hdr, q->map_size);
    if (q->fd >= 0)
        ss__close_fd(q->fd);
    free(q);
}

/* ---- put ---- */

/* Inlined in its two callers, so that the public put, whose ss__put is a
 * constant, loses the runtime's framing, reserve and patience branches. */
#if defined(__GNUC__)
#define SSQ_INLINE static inline __attribute__((always_inline))
#else
#define SSQ_INLINE static inline
#endif
SSQ_INLINE int put_many(ss_queue *q, const ss_msg *msgs, size_t n,
                        const ss__put *how);

SS_API int ss_queue_put_many(ss_queue *q, const ss_msg *msgs, size_t n,
                             int64_t timeout_ns)
{
    ss__put how = {.timeout_ns = timeout_ns, .patience_ns = -1};
    return put_many(q, msgs, n, &how);
}

int ss__queue_put_rt(ss_queue *q, const ss_msg *msgs, size_t n,
                     const ss__put *how)
{
    return put_many(q, msgs, n, how);
}

/* The producer lock for a put: a public put waits for it as its timeout
 * says; the runtime's, patience_ns at most and not for a stuck holder. */
static inline int put_lock(ss_queue *q, const ss__put *how, int64_t *deadline)
{
    if (how->patience_ns < 0)
        return side_lock(q, SSQ_PROD, how->timeout_ns, deadline);
    uint64_t seen;
    if (SS_LIKELY(lock_try(side_of(q, SSQ_PROD), self_ident(), &seen)))
        return 0;
    /* Patience counts from this wait for the lock, not from the call's
     * start (a stop may have waited for room before). */
    int64_t until = ss__deadline_ns(how->patience_ns);
    int rc = side_lock_until(q, SSQ_PROD, until < 0 ? INT64_MAX : until,
                             SSQ_IMPATIENT);
    return rc == SS_ETIMEDOUT ? SS_EBUSY : rc;
}

/* Each message written is prefix (prefix_len bytes; none if 0) followed by
 * msgs[i]: the runtime puts a header before payloads without copying.
 * framed: one message instead, prefix, then n as a u32, then each msgs[i]
 * as a u32 length and its bytes (a batch of signals in one record). */
SSQ_INLINE int put_many(ss_queue *q, const ss_msg *msgs, size_t n,
                        const ss__put *how)
{
    const void *prefix = how->prefix;
    size_t prefix_len = how->prefix_len;
    bool framed = how->framed;
    int64_t timeout_ns = how->timeout_ns;
    uint64_t reserve = how->reserve;
    if (!q || (n && !msgs))
        return SS_EINVAL;
    if (n == 0)
        return 0;
    uint64_t need = 0, payload = 0;
    if (framed) {
        uint64_t len = prefix_len + 4;
        for (size_t i = 0; i < n; i++) {
            if (msgs[i].len && !msgs[i].data)
                return SS_EINVAL;
            len += 4 + (uint64_t)msgs[i].len;
        }
        if (n > UINT32_MAX || len > q->max_msg_size)
            return SS_EMSGSIZE;
        need = rec_size(len);
        payload = len;
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t len = msgs[i].len + prefix_len;
            if (len == 0 || (msgs[i].len && !msgs[i].data) || len < prefix_len)
                return SS_EINVAL;
            if (len > q->max_msg_size)
                return SS_EMSGSIZE;
            need += rec_size(len);
            payload += len;
        }
    }
    size_t n_recs = framed ? 1 : n;
    if (need > q->ring_size || q->ring_size - need < reserve ||
        (q->max_msgs && n_recs > q->max_msgs))
        return SS_EMSGSIZE;
    uint64_t room_need = need + reserve; /* what stays free is not used */

    ssq_header *h = q->hdr;
    int64_t deadline = -2; /* computed on the first wait */
    for (;;) {
        if (SS_UNLIKELY(is_corrupt(q)))
            return SS_ECORRUPT;
        int rc = put_lock(q, how, &deadline);
        if (SS_UNLIKELY(rc != 0))
            return rc;
        if (SS_UNLIKELY(atomic_load_explicit(&h->closed, memory_order_relaxed))) {
            side_unlock(q, SSQ_PROD);
            return SS_ECLOSED;
        }
        uint64_t tail = atomic_load_explicit(&h->prod_pub.pos,
                                             memory_order_relaxed);
        uint64_t put_msgs = atomic_load_explicit(&h->prod_pub.msgs,
                                                 memory_order_relaxed);
        uint64_t off = h->prod.off;
        /* Try with the cached head first (no cache miss on the consumers'
         * line); only when that says "full" read the real one. */
        uint64_t head = h->prod.peer_cache;
        bool room, fresh = false;
        for (;;) {
            uint64_t used = tail - head;
            room = used <= q->ring_size && q->ring_size - used >= room_need;
            if (room && q->max_msgs) {
                uint64_t got = atomic_load_explicit(&h->cons_pub.msgs,
                                                    memory_order_acquire);
                if (SS_UNLIKELY(got > put_msgs)) {
                    side_unlock(q, SSQ_PROD);
                    return mark_corrupt(q, "more messages taken than put", got,
                                        put_msgs);
                }
                room = put_msgs - got + n_recs <= q->max_msgs;
            }
            if (room || fresh)
                break;
            head = atomic_load_explicit(&h->cons_pub.pos, memory_order_acquire);
            h->prod.peer_cache = head;
            fresh = true;
        }
        if (SS_UNLIKELY(tail - head > q->ring_size || off >= q->ring_size)) {
            side_unlock(q, SSQ_PROD);
            return mark_corrupt(q, "producer position out of range", tail, head);
        }
        if (SS_LIKELY(room)) {
            uint64_t pos = tail;
            if (framed) {
                /* The mirror mapping makes the record contiguous. */
                ssq_rec *r = (ssq_rec *)(q->ring + off);
                unsigned char *d = (unsigned char *)(r + 1);
                r->len = (uint32_t)payload;
                r->check = rec_check((uint32_t)payload, pos);
                memcpy(d, prefix, prefix_len);
                d += prefix_len;
                ss__st_le32(d, (uint32_t)n);
                d += 4;
                for (size_t i = 0; i < n; i++) {
                    uint32_t v = (uint32_t)msgs[i].len;
                    ss__st_le32(d, v);
                    if (v)
                        memcpy(d + 4, msgs[i].data, v);
                    d += 4 + (size_t)v;
                }
                ring_advance(q, &pos, &off, need);
            } else {
                for (size_t i = 0; i < n; i++) {
                    ssq_rec *r = (ssq_rec *)(q->ring + off);
                    uint32_t len = (uint32_t)(msgs[i].len + prefix_len);
                    r->len = len;
                    r->check = rec_check(len, pos);
                    if (prefix_len)
                        memcpy(r + 1, prefix, prefix_len);
                    if (msgs[i].len)
                        memcpy((unsigned char *)(r + 1) + prefix_len,
                               msgs[i].data, msgs[i].len);
                    ring_advance(q, &pos, &off, rec_size(len));
                }
            }
            SSQ_FAULT(SSQ_PROD, SS__FAULT_COPIED);
            /* Closed while copying, without the lock (a close that did
             * not wait for us, ss__queue_close_within()): not committed. */
            if (SS_UNLIKELY(atomic_load_explicit(&h->closed,
                                                 memory_order_acquire))) {
                side_unlock(q, SSQ_PROD);
                return SS_ECLOSED;
            }
            uint64_t bytes = atomic_load_explicit(&h->prod_pub.bytes,
                                                  memory_order_relaxed);
            side_commit(q, SSQ_PROD, pos, off, put_msgs + n_recs,
                        bytes + payload);
            bool wk = must_wake(&h->data);
            side_unlock(q, SSQ_PROD);
            if (wk)
                wake(&h->data, n_recs > INT_MAX ? INT_MAX : (int)n_recs);
            return 0;
        }
        side_unlock(q, SSQ_PROD);

        if (timeout_ns == 0) {
            atomic_fetch_add_explicit(&h->refused_full, 1, memory_order_relaxed);
            return SS_EAGAIN;
        }
        if (deadline == -2)
            deadline = ss__deadline_ns(timeout_ns);
        rc = wait_change(q, &h->space, SSQ_CONS, &h->cons_pub.pos, head,
                         deadline, 0);
        if (rc != 0) {
            if (rc == SS_ETIMEDOUT)
                atomic_fetch_add_explicit(&h->refused_full, 1,
                                          memory_order_relaxed);
            return rc;
        }
    }
}

SS_API int ss_queue_put(ss_queue *q, const void *msg, size_t len,
                        int64_t timeout_ns)
{
    if (!msg)
        return SS_EINVAL;
    ss_msg m = {msg, len};
    return ss_queue_put_many(q, &m, 1, timeout_ns);
}

/* ---- get ---- */

/* After a consumer's commit: wake producers waiting for room (wk, decided
 * under the lock), and if messages were left behind while other consumers
 * sleep and none polls, hand one of them the wake-up, so that a backlog is
 * never left to a single consumer that may not come back soon. */
static inline void after_take(ss_queue *q, bool wk, uint64_t head)
{
    ssq_header *h = q->hdr;
    if (wk)
        wake(&h->space, INT_MAX);
    if (atomic_load_explicit(&h->data.waiters, memory_order_relaxed) &&
        atomic_load_explicit(&h->prod_pub.pos, memory_order_acquire) != head &&
        must_wake(&h->data))
        wake(&h->data, 1);
}

/* A record's length, read once: anyone with the memory may rewrite it
 * meanwhile, so the value that was checked is the value that is used (a
 * second read could return a length that was never validated). */
static inline uint32_t rec_len(const ssq_rec *r)
{
    return *(const volatile uint32_t *)&r->len;
}

/* Whether the record r at position pos, whose length was read as len
 * (rec_len()), is sound: a length in range that fits before tail, and a
 * check word that matches both. */
static inline bool rec_valid(const ss_queue *q, const ssq_rec *r, uint32_t len,
                             uint64_t pos, uint64_t tail)
{
    uint64_t avail = tail - pos;
    return avail >= sizeof *r && avail <= q->ring_size && len != 0 &&
           len <= q->max_msg_size && rec_size(len) <= avail &&
           *(const volatile uint32_t *)&r->check == rec_check(len, pos);
}

/* What a take copies out (buf != NULL) or exposes in place (buf == NULL). */
typedef struct ssq_take {
    ss_msg *msgs;
    size_t max_msgs;
    char *buf;
    size_t buf_size;
    size_t n;      /* messages taken */
    size_t needed; /* with SS_ENOBUFS: size of the first message */
    uint64_t tail; /* the tail they were validated against */
    int until;     /* copying: stop after a message starting with this
                      byte (-1: none) */
} ssq_take;

/* Take messages under the consumer lock. With hold, the lock stays held and
 * nothing is committed (zero-copy read); otherwise the take is committed. */
static int take(ss_queue *q, ssq_take *t, int64_t timeout_ns, bool hold)
{
    ssq_header *h = q->hdr;
    int64_t deadline = -2;
    for (;;) {
        if (SS_UNLIKELY(is_corrupt(q)))
            return SS_ECORRUPT;
        int rc = side_lock(q, SSQ_CONS, timeout_ns, &deadline);
        if (SS_UNLIKELY(rc != 0))
            return rc;
        uint64_t head = atomic_load_explicit(&h->cons_pub.pos,
                                             memory_order_relaxed);
        uint64_t tail = h->cons.peer_cache;
        bool closed = false;
        if (tail == head || tail - head > q->ring_size) {
            tail = atomic_load_explicit(&h->prod_pub.pos, memory_order_acquire);
            if (tail == head) {
                closed = atomic_load_explicit(&h->closed, memory_order_acquire);
                /* The close was stored after every commit (under the
                 * producer lock): once it is seen, this re-read gives the
                 * final tail, so nothing committed is left behind. */
                if (closed)
                    tail = atomic_load_explicit(&h->prod_pub.pos,
                                                memory_order_acquire);
            }
            h->cons.peer_cache = tail;
        }
        uint64_t off = h->cons.off;
        if (SS_UNLIKELY(tail - head > q->ring_size || off >= q->ring_size)) {
            side_unlock(q, SSQ_CONS);
            return mark_corrupt(q, "consumer position out of range", head, tail);
        }
        if (SS_LIKELY(tail != head)) {
            uint64_t pos = head, used = 0, payload = 0;
            size_t n = 0;
            while (n < t->max_msgs) {
                if (pos == tail) {
                    /* The cached tail is used up: look for commits made
                     * since, so a batch takes all there is. */
                    uint64_t t2 = atomic_load_explicit(&h->prod_pub.pos,
                                                       memory_order_acquire);
                    if (t2 == tail || t2 - head > q->ring_size)
                        break;
                    tail = t2;
                    h->cons.peer_cache = t2;
                }
                ssq_rec *r = (ssq_rec *)(q->ring + off);
                uint32_t len = rec_len(r);
                if (SS_UNLIKELY(!rec_valid(q, r, len, pos, tail))) {
                    side_unlock(q, SSQ_CONS);
                    return mark_corrupt(q, "bad record header (position, "
                                           "length)",
                                        pos, len);
                }
                if (t->buf) {
                    size_t at = (size_t)(used + 7) & ~(size_t)7;
                    if (at > t->buf_size || t->buf_size - at < len) {
                        if (n == 0)
                            t->needed = len;
                        break;
                    }
                    memcpy(t->buf + at, r + 1, len);
                    t->msgs[n].data = t->buf + at;
                    used = at + len;
                } else {
                    t->msgs[n].data = r + 1;
                }
                t->msgs[n].len = len;
                n++;
                payload += len;
                uint64_t rs = rec_size(len);
                ring_advance(q, &pos, &off, rs);
                /* Read from the private copy: what is checked is what
                 * the caller gets. */
                if (t->until >= 0 && t->buf &&
                    (unsigned char)t->buf[used - len] == t->until)
                    break;
            }
            t->n = n;
            t->tail = tail;
            if (n == 0) {
                side_unlock(q, SSQ_CONS);
                return SS_ENOBUFS;
            }
            if (hold)
                return 0;
            uint64_t got = atomic_load_explicit(&h->cons_pub.msgs,
                                                memory_order_relaxed);
            uint64_t bytes = atomic_load_explicit(&h->cons_pub.bytes,
                                                  memory_order_relaxed);
            side_commit(q, SSQ_CONS, pos, off, got + n, bytes + payload);
            bool wk = must_wake(&h->space);
            side_unlock(q, SSQ_CONS);
            after_take(q, wk, pos);
            return 0;
        }
        side_unlock(q, SSQ_CONS);
        if (closed)
            return SS_ECLOSED;
        if (timeout_ns == 0)
            return SS_EAGAIN;
        if (deadline == -2)
            deadline = ss__deadline_ns(timeout_ns);
        rc = wait_change(q, &h->data, SSQ_PROD, &h->prod_pub.pos, tail,
                         deadline, t->max_msgs > 1 ? SSQ_SETTLE_BYTES : 0);
        if (rc != 0)
            return rc;
    }
}

SS_API int ss_queue_get(ss_queue *q, void *buf, size_t buf_size, size_t *len,
                        int64_t timeout_ns)
{
    if (!q || !buf || !len)
        return SS_EINVAL;
    ss_msg m;
    ssq_take t = {&m, 1, buf, buf_size, 0, 0, 0, -1};
    int rc = take(q, &t, timeout_ns, false);
    if (rc == 0)
        *len = m.len;
    else if (rc == SS_ENOBUFS)
        *len = t.needed;
    return rc;
}

SS_API int ss_queue_get_many(ss_queue *q, void *buf, size_t buf_size,
                             ss_msg *msgs, size_t max_msgs, size_t *n,
                             int64_t timeout_ns)
{
    return ss__queue_get_many_until(q, buf, buf_size, msgs, max_msgs, n,
                                    timeout_ns, -1);
}

int ss__queue_get_many_until(ss_queue *q, void *buf, size_t buf_size,
                             ss_msg *msgs, size_t max_msgs, size_t *n,
                             int64_t timeout_ns, int until)
{
    if (!q || !buf || !msgs || !n || max_msgs == 0)
        return SS_EINVAL;
    ssq_take t = {msgs, max_msgs, buf, buf_size, 0, 0, 0, until};
    *n = 0;
    int rc = take(q, &t, timeout_ns, false);
    if (rc == 0) {
        *n = t.n;
    } else if (rc == SS_ENOBUFS) {
        msgs[0].data = NULL;
        msgs[0].len = t.needed;
    }
    return rc;
}

SS_API int ss_queue_read_begin(ss_queue *q, ss_msg *msgs, size_t max_msgs,
                               size_t *n, int64_t timeout_ns)
{
    if (!q || !msgs || !n || max_msgs == 0)
        return SS_EINVAL;
    *n = 0;
    ssq_take t = {msgs, max_msgs, NULL, 0, 0, 0, 0, -1};
    int rc = take(q, &t, timeout_ns, true);
    if (rc != 0)
        return rc;
    q->rd_n = t.n;
    q->rd_tail = t.tail;
    atomic_store_explicit(&q->rd_owner, thread_id(), memory_order_relaxed);
    *n = t.n;
    return 0;
}

SS_API int ss_queue_read_end(ss_queue *q, size_t consumed)
{
    if (!q)
        return SS_EINVAL;
    /* rd_owner is set only while a thread of this process holds the
     * consumer lock in a read session: if it names this thread, we hold
     * the lock and rd_n and rd_tail are ours to read. */
    if (atomic_load_explicit(&q->rd_owner, memory_order_relaxed) != thread_id())
        return SS_ESTATE;
    size_t exposed = q->rd_n;
    if (consumed > exposed)
        return SS_EINVAL;
    ssq_header *h = q->hdr;
    atomic_store_explicit(&q->rd_owner, 0, memory_order_relaxed);
    uint64_t pos = atomic_load_explicit(&h->cons_pub.pos, memory_order_relaxed);
    if (consumed > 0) {
        /* Walk the records again to find the new head. They were checked by
         * read_begin, but they are in shared memory that anyone can write
         * (the caller too, through msgs[i].data): check them again. */
        uint64_t off = h->cons.off, payload = 0;
        for (size_t i = 0; i < consumed; i++) {
            /* The offset too is shared memory: checked before anything is
             * read through it, and only checked values are logged. */
            if (SS_UNLIKELY(off >= q->ring_size)) {
                side_unlock(q, SSQ_CONS);
                return mark_corrupt(q, "consumer offset changed during a "
                                       "zero-copy read",
                                    pos, off);
            }
            const ssq_rec *r = (const ssq_rec *)(q->ring + off);
            uint32_t len = rec_len(r);
            if (SS_UNLIKELY(!rec_valid(q, r, len, pos, q->rd_tail))) {
                side_unlock(q, SSQ_CONS);
                return mark_corrupt(q, "record changed during a zero-copy "
                                       "read",
                                    pos, len);
            }
            payload += len;
            ring_advance(q, &pos, &off, rec_size(len));
        }
        uint64_t got = atomic_load_explicit(&h->cons_pub.msgs,
                                            memory_order_relaxed);
        uint64_t bytes = atomic_load_explicit(&h->cons_pub.bytes,
                                              memory_order_relaxed);
        side_commit(q, SSQ_CONS, pos, off, got + consumed, bytes + payload);
    }
    bool wk = consumed > 0 && must_wake(&h->space);
    side_unlock(q, SSQ_CONS);
    after_take(q, wk, pos);
    return 0;
}

/* ---- close and introspection ---- */

/* Close, waiting for the producer lock until deadline as how says. */
static int queue_close(ss_queue *q, int64_t deadline, unsigned how)
{
    if (!q)
        return SS_EINVAL;
    ssq_header *h = q->hdr;
    int rc = side_lock_until(q, SSQ_PROD, deadline, how);
    atomic_store_explicit(&h->closed, 1, memory_order_release);
    if (rc == 0)
        side_unlock(q, SSQ_PROD);
    wake_all(q);
    /* Waiters asleep on a lock to register as sleepers stop waiting for
     * it (the holder may be stuck); the others go back to sleep. */
    ss__futex_wake(lock_futex(&h->prod), INT_MAX);
    ss__futex_wake(lock_futex(&h->cons), INT_MAX);
    return rc == SS_ECORRUPT ? rc : 0;
}

SS_API int ss_queue_close(ss_queue *q)
{
    /* Under the producer lock, so that every put either committed before
     * the close or sees it: a put in progress is waited for, however long
     * it takes (its holder, if it dies, is taken over). */
    return queue_close(q, -1, 0);
}

int ss__queue_close_within(ss_queue *q, int64_t patience_ns)
{
    /* A holder that does not let go (stopped, asleep, or past the
     * patience) is not waited for: the flag is set without the lock, and
     * a put it then finishes may commit after the close. */
    int64_t until = ss__deadline_ns(patience_ns);
    return queue_close(q, until < 0 ? INT64_MAX : until, SSQ_IMPATIENT);
}

SS_API bool ss_queue_is_closed(const ss_queue *q)
{
    return q && atomic_load_explicit(&q->hdr->closed, memory_order_acquire);
}

SS_API int ss_queue_get_stats(const ss_queue *q, ss_queue_stats *out)
{
    if (!q || !out)
        return SS_EINVAL;
    const ssq_header *h = q->hdr;
    memset(out, 0, sizeof *out);
    /* Consumer side first: whatever it has consumed was committed before,
     * so the producer counters read next are at least as large. */
    uint64_t got = atomic_load_explicit(&h->cons_pub.msgs, memory_order_acquire);
    uint64_t got_b = atomic_load_explicit(&h->cons_pub.bytes,
                                          memory_order_acquire);
    uint64_t head = atomic_load_explicit(&h->cons_pub.pos, memory_order_acquire);
    uint64_t put = atomic_load_explicit(&h->prod_pub.msgs, memory_order_acquire);
    uint64_t put_b = atomic_load_explicit(&h->prod_pub.bytes,
                                          memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&h->prod_pub.pos, memory_order_acquire);
    out->msgs = put >= got ? put - got : 0;
    out->bytes = put_b >= got_b ? put_b - got_b : 0;
    out->ring_used = tail - head <= q->ring_size ? tail - head : 0;
    out->capacity = q->ring_size;
    out->max_msgs = q->max_msgs;
    out->max_msg_size = q->max_msg_size;
    out->put_total = put;
    out->got_total = got;
    out->refused_full = atomic_load_explicit(&h->refused_full,
                                             memory_order_relaxed);
    out->repairs = atomic_load_explicit(&h->repairs, memory_order_relaxed);
    out->closed = atomic_load_explicit(&h->closed, memory_order_acquire) != 0;
    return is_corrupt(q) ? SS_ECORRUPT : 0;
}

SS_API size_t ss_queue_size(const ss_queue *q)
{
    ss_queue_stats st;
    if (!q || ss_queue_get_stats(q, &st) != 0)
        return 0;
    return (size_t)st.msgs;
}

SS_API size_t ss_queue_capacity(const ss_queue *q)
{
    return q ? (size_t)q->ring_size : 0;
}

SS_API size_t ss_queue_max_msg_size(const ss_queue *q)
{
    return q ? (size_t)q->max_msg_size : 0;
}

SS_API int ss_queue_prefault(ss_queue *q)
{
    if (!q)
        return SS_EINVAL;
    return ss__map_prefault(q->hdr, q->map_size);
}

SS_API void ss_queue_set_spin(ss_queue *q, uint32_t spin_ns)
{
    if (q)
        atomic_store_explicit(&q->spin_ns, spin_ns, memory_order_relaxed);
}

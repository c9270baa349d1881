/*
 * tables_lock.c - the lock over the runtime's tables (loops, objects,
 * signals, connections): many readers, rare writers.
 *
 * Every emission and every dispatched batch reads the tables; only set-up
 * and tear-down write them. A pthread rwlock costs a reader two atomic
 * read-modify-writes, each of which drains the store buffer, and the
 * emitter's store buffer is full of writes to the shared ring: measured,
 * that was a tenth of a single emission. So readers here use no atomic RMW
 * and no fence at all:
 *
 *  - each reading thread owns a slot (its own cache line) whose `active`
 *    flag it sets before reading the tables and clears after, and it checks
 *    `g_writer` in between;
 *  - a writer takes `g_wmutex`, sets `g_writer`, then calls membarrier(2)
 *    (MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full memory barrier
 *    on every running thread of the process: from then on a reader either
 *    sees `g_writer` and steps back (to wait on `g_wmutex`), or its
 *    `active` flag is visible to the writer, which waits for it to clear.
 *
 * This is the asymmetric-fence scheme of userspace RCU's "memb" flavour;
 * it is writer-preferring (a stream of readers cannot starve a writer) and
 * reads nest. Where membarrier is missing, an ordinary writer-preferring
 * pthread rwlock does the job.
 *
 * Fork: a child is single-threaded; a pthread_atfork() handler forgets the
 * slots and locks of the threads that did not come along.
 */
#include "ss_internal.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct tl_slot {
    _Atomic int active;    /* 1 while its thread reads the tables */
    int depth;             /* nested reads (its thread only) */
    _Atomic bool in_use;   /* owned by a live thread */
    bool fresh;            /* just taken: its first read fences itself */
    struct tl_slot *next;  /* g_slots; slots are never freed */
} __attribute__((aligned(64))) tl_slot;

enum { MODE_FAST = 1, MODE_RWLOCK = 2 };

static int g_mode;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;

static tl_slot *_Atomic g_slots;
static _Atomic int g_writer;
static pthread_mutex_t g_wmutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

static _Thread_local tl_slot *tl_my;
static _Thread_local int tl_writing; /* write depth of this thread */
static _Thread_local int tl_rw_reads; /* rwlock mode: nested reads */
static _Thread_local int tl_inner_reads; /* reads nested in this write */
_Thread_local ss__deferred *ss__tl_deferred;

/* The key's destructor, run by the exiting thread itself. Other
 * destructors may still run after it on this thread and take the lock
 * again: tl_my is cleared so that they acquire a slot of their own (and
 * set the key again, so it is released again), instead of sharing this one
 * with the next thread that takes it. */
static void slot_release(void *arg)
{
    tl_slot *s = arg;
    if (tl_my == s)
        tl_my = NULL;
    atomic_store_explicit(&s->active, 0, memory_order_release);
    s->depth = 0;
    atomic_store_explicit(&s->in_use, false, memory_order_release);
}

/* The rwlock of the fallback, writer-preferring, made afresh. */
static void rw_init(void)
{
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&g_rw, &a);
    pthread_rwlockattr_destroy(&a);
}

static void after_fork_child(void)
{
    /* Only this thread came along: every other slot is free, and no one
     * else can hold the writers' mutex (a normal mutex that this thread
     * holds may be unlocked under its new thread id: it is kept). */
    for (tl_slot *s = atomic_load(&g_slots); s; s = s->next) {
        if (s != tl_my) {
            atomic_store(&s->active, 0);
            s->depth = 0;
            atomic_store(&s->in_use, false);
        }
    }
    if (!tl_writing) {
        pthread_mutex_init(&g_wmutex, NULL);
        atomic_store(&g_writer, 0);
    }
    /* The rwlock is made afresh whatever this thread held, which it then
     * takes again: read holds of the threads left behind would keep every
     * writer out for ever, and glibc tells a write hold from a read hold
     * at unlock by the writer's thread id, which is not this thread's any
     * more (its unlock would count as a reader's and leave it held). */
    rw_init();
    if (g_mode == MODE_RWLOCK) {
        if (tl_writing)
            pthread_rwlock_wrlock(&g_rw);
        else if (tl_rw_reads)
            pthread_rwlock_rdlock(&g_rw);
    }
    if (g_mode == MODE_FAST && ss__membarrier_register(SS_MB_PROCESS) != 0 &&
        !tl_writing && !(tl_my && tl_my->depth)) {
        /* No barrier here (unlikely: registration is inherited on current
         * kernels): nothing is held, so changing modes is safe. */
        g_mode = MODE_RWLOCK;
    }
}

/* A fork by any thread (a language runtime's, a user's) holds the tables
 * for writing across it, so that the child never copies them in the
 * middle of another thread's change. Not when this thread holds the lock
 * already (ss_process_start() holds it for its forking thread: see
 * ss__tables_fork_held()), which it keeps across the fork either way. */
static _Thread_local bool tl_fork_took;
static _Thread_local bool tl_fork_held_for_me;

void ss__tables_fork_held(bool held)
{
    tl_fork_held_for_me = held;
}

static void before_fork(void)
{
    tl_fork_took = !tl_fork_held_for_me && !ss__tables_held();
    if (tl_fork_took)
        ss__tables_write_lock();
}

static void after_fork_parent(void)
{
    if (tl_fork_took) {
        tl_fork_took = false;
        ss__tables_unlock();
    }
}

static void after_fork_child_release(void)
{
    if (tl_fork_took) {
        tl_fork_took = false;
        ss__tables_unlock();
    }
}

static void init_once(void)
{
    pthread_key_create(&g_key, slot_release);
    g_mode = ss__membarrier_register(SS_MB_PROCESS) == 0 ? MODE_FAST : MODE_RWLOCK;
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    /* (Child handlers run in registration order: the lock is made afresh,
     * then released.) */
    pthread_atfork(NULL, NULL, after_fork_child_release);
}

static tl_slot *slot_acquire(void)
{
    tl_slot *s;
    for (s = atomic_load(&g_slots); s; s = s->next) {
        bool free_ = false;
        if (atomic_compare_exchange_strong(&s->in_use, &free_, true))
            break;
    }
    if (!s) {
        s = aligned_alloc(64, sizeof *s);
        if (!s)
            abort(); /* 64 bytes once per thread; nothing sane to do */
        atomic_init(&s->active, 0);
        s->depth = 0;
        atomic_init(&s->in_use, true);
        s->next = atomic_load(&g_slots);
        while (!atomic_compare_exchange_weak(&g_slots, &s->next, s))
            ;
    }
    s->fresh = true;
    pthread_setspecific(g_key, s);
    tl_my = s;
    return s;
}

void ss__tables_read_lock(void)
{
    pthread_once(&g_once, init_once);
    if (tl_writing) {
        tl_inner_reads++; /* a writer may read what it holds */
        return;
    }
    if (g_mode != MODE_FAST) {
        if (tl_rw_reads++ == 0)
            pthread_rwlock_rdlock(&g_rw);
        return;
    }
    tl_slot *s = tl_my ? tl_my : slot_acquire();
    if (s->depth++ > 0)
        return;
    for (;;) {
        atomic_store_explicit(&s->active, 1, memory_order_relaxed);
        /* The CPU-level fence between this store and the next load is the
         * writer's membarrier; only the compiler must be kept in order.
         * Except on a slot's first read: a writer that found the slot not
         * in use skipped the barrier (see ss__tables_write_lock()). */
        if (SS_UNLIKELY(s->fresh)) {
            atomic_thread_fence(memory_order_seq_cst);
            s->fresh = false;
        } else {
            atomic_signal_fence(memory_order_seq_cst);
        }
        if (!atomic_load_explicit(&g_writer, memory_order_acquire))
            return;
        /* A writer is coming: step back and wait for it. */
        atomic_store_explicit(&s->active, 0, memory_order_release);
        pthread_mutex_lock(&g_wmutex);
        pthread_mutex_unlock(&g_wmutex);
    }
}

static void read_unlock(void)
{
    if (g_mode != MODE_FAST) {
        if (--tl_rw_reads == 0)
            pthread_rwlock_unlock(&g_rw);
        return;
    }
    tl_slot *s = tl_my;
    if (--s->depth == 0)
        atomic_store_explicit(&s->active, 0, memory_order_release);
}

void ss__tables_write_lock(void)
{
    pthread_once(&g_once, init_once);
    if (tl_writing++ > 0)
        return;
    if (g_mode != MODE_FAST) {
        pthread_rwlock_wrlock(&g_rw);
        return;
    }
    pthread_mutex_lock(&g_wmutex);
    atomic_store(&g_writer, 1);
    /* The barrier is for readers that may be between setting `active` and
     * reading `g_writer` without a fence: threads that own a slot. With no
     * slot in use but this thread's (a single-threaded set-up, the common
     * case), none can: a thread that takes a slot after this scan fences
     * its first read (fresh), and sees g_writer, stored before the scan
     * (both sequentially consistent). The barrier costs microseconds. */
    bool others = false;
    for (tl_slot *s = atomic_load(&g_slots); s && !others; s = s->next)
        others = s != tl_my && atomic_load(&s->in_use);
    if (others && ss__membarrier(SS_MB_PROCESS) != 0) {
        static _Atomic bool logged;
        if (!atomic_exchange(&logged, true))
            SS_LOG_ERR("loop", "membarrier failed: the tables' lock relies on "
                       "a full fence instead");
        atomic_thread_fence(memory_order_seq_cst);
    }
    for (tl_slot *s = atomic_load(&g_slots); s; s = s->next) {
        /* This thread's own read, if any, is nested in its write. */
        if (s == tl_my)
            continue;
        for (unsigned spins = 0;
             atomic_load_explicit(&s->active, memory_order_acquire); spins++) {
            if (spins < 64)
                ss__cpu_relax();
            else
                ss__yield();
        }
    }
}

static void write_unlock(void)
{
    if (--tl_writing > 0)
        return;
    if (g_mode != MODE_FAST) {
        pthread_rwlock_unlock(&g_rw);
        return;
    }
    atomic_store_explicit(&g_writer, 0, memory_order_release);
    pthread_mutex_unlock(&g_wmutex);
}

bool ss__tables_held(void)
{
    return tl_writing > 0 || tl_rw_reads > 0 || (tl_my && tl_my->depth > 0);
}

void ss__tables_unlock(void)
{
    /* Holds nest in LIFO order: a read taken inside a write ends first. */
    if (tl_inner_reads > 0) {
        tl_inner_reads--;
        return;
    }
    if (tl_writing > 0)
        write_unlock();
    else
        read_unlock();
    if (SS_UNLIKELY(ss__tl_deferred != NULL) && !ss__tables_held())
        ss__tables_after_unlock();
}

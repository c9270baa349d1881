/*
 * test_stuck_peer.c - emitting never blocks on another process that holds
 * a receiving queue's producer side and makes no progress: stopped
 * (SIGSTOP, as a debugger or Ctrl-Z would), asleep (frozen, or blocked in a
 * signal handler), or stuck while a loop process ends. And it does not give
 * up on producers that run (ordinary contention).
 *
 * The library is built with SS_FAULT_INJECTION (signal_slot_fi): a forked
 * child stops itself, or sleeps, at the commit of its next put, holding the
 * producer lock, deterministically.
 *
 * What is checked: every emission while the holder is stuck returns
 * SS_EBUSY and is counted exactly once, by the loop and by the signal; the
 * stop of a loop whose queue is held returns SS_EBUSY instead of waiting;
 * once the holder goes on (or is killed: its put is discarded), emissions
 * are delivered again, and the receiver gets exactly what was accepted, in
 * order; a loop process killed while a stopped process holds its queue is
 * still reported ("exited"). No timing is asserted: a call that blocked
 * would hang the test until the child is let go, which then shows as a
 * wrong return code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <signal_slot.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ss_internal.h"
#include "testutil.h"

/* A receiver that checks values arrive as 0, 1, 2..., and counts apart
 * the stuck child's message (-1). */
typedef struct recv {
    ss_object obj;
    int32_t next;
    int bad;
    int specials;
} recv;

static void on_v(ss_object *receiver, const ss_args *args, void *ud)
{
    recv *r = (recv *)receiver;
    int32_t v = -2;
    (void)ud;
    if (ss_args_unpack(args, "i", &v) != 0)
        r->bad++;
    else if (v == -1)
        r->specials++;
    else if (v != r->next++)
        r->bad++;
}

static void count_tick(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)args;
    (*(int *)ud)++;
}

static ss_object *g_emitter;

/* The stuck child: its next commit stops or sleeps, producer lock held. */
static int stuck_child(void *arg)
{
    ss__fault_signal = *(int *)arg;
    ss__fault_point = ss__fault_code(0, SS__FAULT_COPIED);
    int rc = ss_emit(g_emitter, "v", (int32_t)-1);
    return rc == 0 ? 0 : 10;
}

/* Let the test go on if a call blocks that should not: let the child go
 * after a long while, so that the blocked call returns (with the wrong
 * code) instead of hanging the test. */
typedef struct rescue {
    pid_t pid;
    int sig;
    _Atomic int cancel;
    pthread_t th;
} rescue;

static void *rescue_main(void *arg)
{
    rescue *r = arg;
    for (int i = 0; i < 300 && !atomic_load(&r->cancel); i++)
        tu_sleep_us(100000);
    if (!atomic_load(&r->cancel))
        kill(r->pid, r->sig);
    return NULL;
}

static void rescue_start(rescue *r, pid_t pid, int sig)
{
    r->pid = pid;
    r->sig = sig;
    atomic_store(&r->cancel, 0);
    assert_int_equal(pthread_create(&r->th, NULL, rescue_main, r), 0);
}

static void rescue_stop(rescue *r)
{
    atomic_store(&r->cancel, 1);
    pthread_join(r->th, NULL);
}

/* Two loops: *l, whose object r receives signal sig (of signature types)
 * from e, on *el; capacity 0 for the default queue. */
static void pair_new(ss_loop **l, ss_loop **el, const char *name,
                     size_t capacity, ss_object *e, ss_object *r,
                     const char *sig, const char *types, ss_slot_fn slot)
{
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.queue_capacity = capacity;
    char ename[SS_NAME_MAX + 1];
    snprintf(ename, sizeof ename, "%s_emitters", name);
    assert_int_equal(ss_loop_new(l, name, &o), 0);
    assert_int_equal(ss_loop_new(el, ename, NULL), 0);
    assert_int_equal(ss_object_init(e, *el, "e"), 0);
    assert_int_equal(ss_object_init(r, *l, "r"), 0);
    assert_int_equal(ss_signal_add(e, sig, types), 0);
    assert_int_equal(ss_connect(e, sig, r, slot, types, NULL), 0);
}

/* A loop l with an emitter e (on loop el) connected to r; l's queue stuck
 * by a child stopped (sig SIGSTOP) or asleep (sig -1) in its put. */
static void stuck_case(int sig)
{
    enum { N = 1000, M = 20 };
    ss_loop *l, *el;
    static ss_object e;
    static recv r;
    memset(&r, 0, sizeof r);
    pair_new(&l, &el, "stuck", 0, &e, &r.obj, "v", "i", on_v);
    g_emitter = &e;

    pid_t pid = tu_fork(stuck_child, &sig);
    assert_true(pid > 0);
    assert_true(tu_wait_proc_state(pid, sig == SIGSTOP ? 'T' : 'S', 20000));
    rescue res;
    rescue_start(&res, pid, sig == SIGSTOP ? SIGCONT : SIGKILL);

    /* Every emission gives up on the stuck holder, and is counted. */
    int busy = 0, other = 0, other_rc = 0;
    for (int32_t k = 0; k < N; k++) {
        int rc = ss_emit(&e, "v", k);
        if (rc == SS_EBUSY)
            busy++;
        else if (other++ == 0)
            other_rc = rc;
    }
    /* So does the loop's stop, instead of waiting a second per try. */
    int stop_rc = ss_loop_stop(l);
    /* The loop's own timer does not go through the queue: it still fires,
     * once per iteration, none dropped. */
    static ss_timer tick;
    static int ticks;
    ticks = 0;
    assert_int_equal(ss_timer_init(&tick, l, 0, false, "tick"), 0);
    assert_int_equal(ss_connect(&tick.object, "timeout", &r.obj, count_tick,
                                "", &ticks),
                     0);
    for (int k = 0; k < 5; k++)
        assert_int_equal(ss_loop_run_once(l, SS_NO_WAIT), 0);
    uint64_t tick_drops = ss_signal_dropped(&tick.object, "timeout");
    ss_timer_destroy(&tick);
    rescue_stop(&res);
    assert_int_equal(ticks, 5);
    assert_int_equal(tick_drops, 0);
    if (other)
        fail_msg("%d of %d emissions did not give up (first: %s)", other, N,
                 ss_errname(other_rc));
    assert_int_equal(busy, N);
    assert_int_equal(stop_rc, SS_EBUSY);
    assert_int_equal(ss_signal_dropped(&e, "v"), N);
    assert_int_equal(ss_loop_dropped(l), N);

    if (sig == SIGSTOP) {
        /* Let it go: its put completes, then it exits. */
        assert_int_equal(kill(pid, SIGCONT), 0);
        assert_int_equal(tu_wait(pid, 20000), 0);
    } else {
        /* Killed asleep: its cut-off put is discarded, the lock taken
         * over by the next put. */
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(tu_wait(pid, 20000), 128 + SIGKILL);
    }
    /* A finding of "stuck" is trusted for a moment (2 ms) before the
     * holder is probed again: the first emission may still give up, and
     * is retried. Then the lock is free (or taken over), for good. */
    int retried = 0, rc;
    int64_t end = tu_now_ns() + SS_SEC(20);
    while ((rc = ss_emit(&e, "v", (int32_t)0)) == SS_EBUSY &&
           tu_now_ns() < end)
        retried++;
    assert_int_equal(rc, 0);
    for (int32_t k = 1; k < M; k++)
        assert_int_equal(ss_emit(&e, "v", k), 0);
    assert_int_equal(ss_loop_stop(l), 0);
    assert_int_equal(ss_loop_run(l), SS_LOOP_STOPPED);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.next, M);
    assert_int_equal(r.specials, sig == SIGSTOP ? 1 : 0);
    assert_int_equal(ss_loop_dropped(l), N + retried);

    ss_object_destroy(&e);
    ss_object_destroy(&r.obj);
    ss_loop_free(l);
    ss_loop_free(el);
}

static void test_stopped_holder(void **state)
{
    (void)state;
    stuck_case(SIGSTOP);
}

static void test_asleep_holder(void **state)
{
    (void)state;
    stuck_case(-1);
}

/* ---- a loop process ends while a stopped process holds its queue ---- */

static void test_exit_notice_past_stuck_holder(void **state)
{
    (void)state;
    ss_process *p;
    ss_loop *el;
    assert_int_equal(tu_process_new(&p, "held", NULL), 0);
    assert_int_equal(ss_loop_new(&el, "held_emitters", NULL), 0);
    static ss_object e, r;
    assert_int_equal(ss_object_init(&e, el, "e"), 0);
    assert_int_equal(ss_object_init(&r, ss_process_loop(p), "r"), 0);
    assert_int_equal(ss_signal_add(&e, "v", "i"), 0);
    static recv sink;
    assert_int_equal(ss_connect(&e, "v", &r, on_v, "i", &sink), 0);
    tu_exits *ex = tu_exits_new("held_exits");
    assert_non_null(ex);
    assert_int_equal(tu_exits_watch(ex, p), 0);
    assert_int_equal(ss_process_start(p, NULL, NULL), 0);

    g_emitter = &e;
    int sig = SIGSTOP;
    pid_t pid = tu_fork(stuck_child, &sig);
    assert_true(pid > 0);
    assert_true(tu_wait_proc_state(pid, 'T', 20000));
    rescue res;
    rescue_start(&res, pid, SIGCONT);
    /* The watcher closes the dead child's queue, held by the stopped one,
     * then says "exited". */
    assert_int_equal(ss_process_kill(p, SIGKILL), 0);
    int code = -9, sig_got = -9, count = 0;
    int rc = tu_exits_wait(ex, "held", SS_SEC(20), &code, &sig_got, &count);
    char st = 0;
    uint64_t start;
    tu_proc_stat(pid, &st, &start);
    rescue_stop(&res);
    assert_int_equal(rc, 0);
    assert_int_equal(st, 'T'); /* it was still stopped when "exited" came */
    assert_int_equal(code, -1);
    assert_int_equal(sig_got, SIGKILL);
    assert_int_equal(count, 1);
    int status = -1;
    assert_int_equal(ss_process_join(p, SS_SEC(20), &status), 0);
    assert_int_equal(status, 128 + SIGKILL);
    /* Let the stopped one go: its put finds the queue closed and does not
     * commit (a message nobody would ever count). */
    assert_int_equal(kill(pid, SIGCONT), 0);
    assert_int_equal(tu_wait(pid, 20000), 10);
    assert_int_equal(ss_queue_size(ss_loop_queue(ss_process_loop(p))), 0);
    tu_exits_free(ex);
    ss_object_destroy(&e);
    ss_object_destroy(&r);
    tu_process_free(p);
    ss_loop_free(el);
}

/* ---- a close that does not wait for a stuck producer ---- */

static ss_queue *g_q;

static int stuck_put_child(void *arg)
{
    (void)arg;
    ss__fault_signal = SIGSTOP;
    ss__fault_point = ss__fault_code(0, SS__FAULT_COPIED);
    return ss_queue_put(g_q, "late", 4, SS_NO_WAIT) == SS_ECLOSED ? 0 : 10;
}

typedef struct getter {
    int rc;
    _Atomic int done;
    _Atomic pid_t tid;
} getter;

static void *getter_main(void *arg)
{
    getter *g = arg;
    char buf[16];
    size_t len;
    atomic_store(&g->tid, tu_gettid());
    g->rc = ss_queue_get(g_q, buf, sizeof buf, &len, SS_WAIT_FOREVER);
    atomic_store(&g->done, 1);
    return NULL;
}

/* The watcher's close (ss__queue_close_within) gives up on a producer
 * stopped in its put; a consumer asleep on the empty queue, waiting for
 * that producer's lock to register, wakes and sees the close; and the
 * stopped put, let go, finds the queue closed and commits nothing (it used
 * to commit after consumers had been told the queue was drained). */
static void test_close_past_stuck_producer(void **state)
{
    (void)state;
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.spin_ns = 0;
    assert_int_equal(ss_queue_create(&g_q, &o), 0);
    pid_t pid = tu_fork(stuck_put_child, NULL);
    assert_true(pid > 0);
    assert_true(tu_wait_proc_state(pid, 'T', 20000));
    rescue res;
    rescue_start(&res, pid, SIGCONT);
    static getter g;
    atomic_store(&g.done, 0);
    atomic_store(&g.tid, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, getter_main, &g), 0);
    while (atomic_load(&g.tid) == 0)
        tu_sleep_us(200);
    /* asleep: on the stopped producer's lock, to register as a sleeper */
    assert_true(tu_wait_asleep(atomic_load(&g.tid), 20000));
    assert_int_equal(ss__queue_close_within(g_q, SS_MSEC(100)), 0);
    int64_t end = tu_now_ns() + SS_SEC(20);
    while (!atomic_load(&g.done) && tu_now_ns() < end)
        tu_sleep_us(1000);
    bool woke = atomic_load(&g.done);
    rescue_stop(&res);
    assert_int_equal(kill(pid, SIGCONT), 0);
    pthread_join(th, NULL);
    assert_true(woke);
    assert_int_equal(g.rc, SS_ECLOSED);
    assert_int_equal(tu_wait(pid, 20000), 0); /* its put: SS_ECLOSED */
    assert_int_equal(ss_queue_size(g_q), 0);
    ss_queue_destroy(g_q);
}

/* ---- ordinary contention: running producers are waited for ---- */

enum { CT_THREADS = 4, CT_EACH = 20000 };

typedef struct ct_arg {
    ss_object *e;
    int32_t who;
    int failed, first_rc;
} ct_arg;

static void *ct_main(void *arg)
{
    ct_arg *a = arg;
    for (int32_t k = 0; k < CT_EACH; k++) {
        int rc = ss_emit(a->e, "w", a->who, k);
        if (rc != 0 && a->failed++ == 0)
            a->first_rc = rc;
    }
    return NULL;
}

typedef struct ct_recv {
    ss_object obj;
    int32_t next[CT_THREADS];
    int bad;
} ct_recv;

static void on_w(ss_object *receiver, const ss_args *args, void *ud)
{
    ct_recv *r = (ct_recv *)receiver;
    int32_t who = -1, k = -1;
    (void)ud;
    if (ss_args_unpack(args, "ii", &who, &k) != 0 || who < 0 ||
        who >= CT_THREADS || k != r->next[who]++)
        r->bad++;
}

/* Four threads emit at once into a queue with room for all: none gives up
 * (on two cores, holders are preempted often: they run, and are waited
 * for); per-emitter order holds. */
static void test_contention_does_not_give_up(void **state)
{
    (void)state;
    ss_loop *l, *el;
    static ss_object e;
    static ct_recv r;
    memset(&r, 0, sizeof r);
    pair_new(&l, &el, "contended", 8u << 20, &e, &r.obj, "w", "ii", on_w);
    pthread_t th[CT_THREADS];
    ct_arg args[CT_THREADS];
    for (int i = 0; i < CT_THREADS; i++) {
        args[i] = (ct_arg){.e = &e, .who = i};
        assert_int_equal(pthread_create(&th[i], NULL, ct_main, &args[i]), 0);
    }
    for (int i = 0; i < CT_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < CT_THREADS; i++)
        if (args[i].failed)
            fail_msg("thread %d: %d emissions failed, first %s", i,
                     args[i].failed, ss_errname(args[i].first_rc));
    assert_int_equal(ss_loop_dropped(l), 0);
    assert_int_equal(ss_loop_stop(l), 0);
    assert_int_equal(ss_loop_run(l), SS_LOOP_STOPPED);
    assert_int_equal(r.bad, 0);
    for (int i = 0; i < CT_THREADS; i++)
        assert_int_equal(r.next[i], CT_EACH);
    ss_object_destroy(&e);
    ss_object_destroy(&r.obj);
    ss_loop_free(l);
    ss_loop_free(el);
}

static int teardown(void **state)
{
    tu_reap_all();
    return tu_process_teardown(state);
}

int main(void)
{
    tu_watchdog(120);
    tu_log_quiet_drops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_stopped_holder, teardown),
        cmocka_unit_test_teardown(test_asleep_holder, teardown),
        cmocka_unit_test_teardown(test_exit_notice_past_stuck_holder,
                                  teardown),
        cmocka_unit_test_teardown(test_close_past_stuck_producer, teardown),
        cmocka_unit_test_teardown(test_contention_does_not_give_up, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

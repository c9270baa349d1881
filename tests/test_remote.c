/*
 * test_remote.c - connections between processes that were started apart:
 * the peer is another program (remote_peer, exec'd), found by its loop's
 * name in a domain of this test's own.
 *
 * What is checked: a signal connected to a slot by name of the other
 * program (both directions: this program's emitter to the peer's slot,
 * the peer's emitter to a slot function here), values and order per
 * emitter with nothing lost or doubled; a disconnect while the peer emits
 * (what comes after it does not arrive, a later marker does); a broadcast
 * of the peer's signal on this program's loop, to a subscriber by name;
 * the end of the peer noticed here ("ended" of its handle) and emissions
 * to it counted as drops; its name published again by a new peer; a loop
 * process connected to after it started. Errors: no such slot, another
 * signature, a loop not published. No timing is asserted: waits are for
 * events, with generous safety timers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <signal_slot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char g_domain[40];

/* ---- the peer ---- */

static char *g_peer_argv[8];

static int exec_peer(void *arg)
{
    (void)arg;
    execv(SS_REMOTE_PEER, g_peer_argv);
    return 127;
}

static pid_t start_peer(const char *mode, const char *n)
{
    g_peer_argv[0] = (char *)"remote_peer";
    g_peer_argv[1] = g_domain;
    g_peer_argv[2] = (char *)mode;
    g_peer_argv[3] = (char *)n;
    g_peer_argv[4] = NULL;
    pid_t pid = tu_fork(exec_peer, NULL);
    assert_true(pid > 0);
    return pid;
}

/* ---- this program's side ---- */

/* A receiver that checks values 0, 1, 2... and stops its loop at want. */
typedef struct seq {
    ss_object obj;
    int64_t next, want;
    int bad, ended, end_code, end_sig, ticks;
} seq;

static void on_data(ss_object *receiver, const ss_args *args, void *ud)
{
    seq *r = ud;
    (void)receiver;
    int64_t x = -1;
    const char *s = NULL;
    if (ss_args_unpack(args, "xs", &x, &s) != 0 || x != r->next ||
        strcmp(s, "payload") != 0)
        r->bad++;
    r->next = x + 1;
    if (r->next == r->want)
        ss_loop_stop(ss_object_loop(&r->obj));
}

static void on_tick(ss_object *receiver, const ss_args *args, void *ud)
{
    seq *r = ud;
    (void)receiver;
    int64_t x = -1;
    if (ss_args_unpack(args, "x", &x) != 0 || x != r->ticks)
        r->bad++;
    r->ticks++;
    if (r->ticks == r->want)
        ss_loop_stop(ss_object_loop(&r->obj));
}

static void on_ended(ss_object *receiver, const ss_args *args, void *ud)
{
    seq *r = ud;
    (void)receiver;
    int32_t code = 0, sig = 0;
    if (ss_args_unpack(args, "ii", &code, &sig) != 0)
        r->bad++;
    r->end_code = code;
    r->end_sig = sig;
    r->ended++;
    ss_loop_stop(ss_object_loop(&r->obj));
}

/* Run l until a slot stops it, with a safety timer that fails the test if
 * it has to stop it instead. */
static int g_fired;

static void on_safety(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)args;
    g_fired = 1;
    ss_loop_stop(ud);
}

static void run_until_stopped(ss_loop *l)
{
    static ss_timer safety;
    g_fired = 0;
    assert_int_equal(ss_timer_init(&safety, l, SS_SEC(30), true, "safety"),
                     0);
    assert_int_equal(ss_connect(&safety.object, "timeout", ss_loop_object(l),
                                on_safety, "", l),
                     0);
    assert_int_equal(ss_loop_run(l), SS_LOOP_STOPPED);
    ss_timer_destroy(&safety);
    if (g_fired)
        fail_msg("the safety timer stopped the loop");
}

static ss_loop *new_published(const char *name)
{
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_loop *l;
    assert_int_equal(ss_loop_new(&l, name, &o), 0);
    return l;
}

/* ---- tests ---- */

/* This program's emitter to the peer's slot by name: N values, in order,
 * none lost (full queues are retried). */
static void test_emit_to_named_slot(void **state)
{
    (void)state;
    enum { N = 20000 };
    char n[16];
    snprintf(n, sizeof n, "%d", N);
    pid_t pid = start_peer("receiver", n);
    ss_loop *l;
    assert_int_equal(ss_loop_new(&l, "here", NULL), 0);
    static ss_object src;
    assert_int_equal(ss_object_init(&src, l, "src"), 0);
    assert_int_equal(ss_signal_add(&src, "data", "xs"), 0);
    assert_int_equal(ss_signal_add(&src, "other", "x"), 0);
    ss_loop *rx;
    assert_int_equal(ss_loop_open(&rx, "rx", SS_SEC(20)), 0);
    assert_true(ss_loop_is_remote(rx));
    assert_string_equal(ss_loop_name(rx), "rx");
    ss_object *sink;
    assert_int_equal(ss_object_open(&sink, rx, "sink"), 0);
    /* Wrong names and signatures are refused by the peer. */
    assert_int_equal(ss_connect_slot(&src, "data", sink, "nosuch"), SS_ENOENT);
    assert_int_equal(ss_connect_slot(&src, "other", sink, "on_data"),
                     SS_ESIGNATURE);
    ss_object *nobody;
    assert_int_equal(ss_object_open(&nobody, rx, "nobody"), 0);
    assert_int_equal(ss_connect_slot(&src, "data", nobody, "on_data"),
                     SS_ENOENT);
    ss_object_free(nobody);
    /* A slot function cannot cross: by name only. */
    assert_int_equal(ss_connect(&src, "data", sink, on_data, "xs", NULL),
                     SS_ENOTSUP);
    assert_int_equal(ss_connect_slot(&src, "data", sink, "on_data"), 0);
    assert_int_equal(ss_connect_slot(&src, "data", sink, "on_data"), 0);
    for (int64_t k = 0; k < N; k++) {
        /* Halfway, disconnected and connected again: what is emitted
         * after each connect arrives, in order, once (the peer checks
         * 0, 1, 2... and that none comes twice). */
        if (k == N / 2) {
            assert_int_equal(ss_disconnect_slot(&src, "data", sink, "on_data"),
                             0);
            assert_int_equal(ss_connect_slot(&src, "data", sink, "on_data"),
                             0);
        }
        int rc;
        while ((rc = ss_emit(&src, "data", k, "payload")) == SS_EAGAIN)
            tu_sleep_us(100);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(tu_wait(pid, 30000), 0); /* it got N, in order */
    ss_object_free(sink);
    ss_loop_free(rx);
    ss_object_destroy(&src);
    ss_loop_free(l);
}

/* The peer's emitter to a slot function here: connected from here (the
 * route is asked of the peer's loop), then disconnected while the peer
 * emits; broadcast of its "tick" on this loop to a subscriber; its end
 * noticed here. */
static void test_remote_emitter(void **state)
{
    (void)state;
    enum { N = 5000, TICKS = 100 };
    pid_t pid = start_peer("emitter", NULL);
    ss_loop *l = new_published("tr");
    static seq r;
    memset(&r, 0, sizeof r);
    assert_int_equal(ss_object_init(&r.obj, l, "r"), 0);
    static ss_object ctl;
    assert_int_equal(ss_object_init(&ctl, l, "ctl"), 0);
    assert_int_equal(ss_signal_add(&ctl, "go", "x"), 0);
    assert_int_equal(ss_signal_add(&ctl, "ticks", "x"), 0);
    assert_int_equal(ss_signal_add(&ctl, "quit", ""), 0);
    ss_loop *ex;
    assert_int_equal(ss_loop_open(&ex, "ex", SS_SEC(20)), 0);
    ss_object *src;
    assert_int_equal(ss_object_open(&src, ex, "src"), 0);
    /* The peer's data to a function here. */
    assert_int_equal(ss_connect(src, "data", &r.obj, on_data, "x", &r),
                     SS_ESIGNATURE);
    assert_int_equal(ss_connect(src, "data", &r.obj, on_data, "xs", &r), 0);
    /* Our control signals to its slots by name. */
    assert_int_equal(ss_connect_slot(&ctl, "go", src, "go"), 0);
    assert_int_equal(ss_connect_slot(&ctl, "ticks", src, "ticks"), 0);
    assert_int_equal(ss_connect_slot(&ctl, "quit", src, "quit"), 0);
    /* Its end, noticed here. */
    assert_int_equal(ss_connect(ss_loop_object(ex), "ended", &r.obj, on_ended,
                                "ii", &r),
                     0);

    r.want = N;
    assert_int_equal(ss_emit(&ctl, "go", (int64_t)N), 0);
    run_until_stopped(l);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.next, N);

    /* Disconnected: what it emits next does not arrive here. */
    assert_int_equal(ss_disconnect(src, "data", &r.obj, on_data, &r), 0);
    assert_int_equal(ss_emit(&ctl, "go", (int64_t)100), 0);
    /* Broadcast of its "tick" on this loop, to a subscriber by name: it
     * comes after the 100 "data" in the peer's order. */
    assert_int_equal(ss_subscribe(&r.obj, "tick", on_tick, "x", &r), 0);
    assert_int_equal(ss_signal_broadcast_on(src, "tick", l), 0);
    r.want = TICKS;
    assert_int_equal(ss_emit(&ctl, "ticks", (int64_t)TICKS), 0);
    run_until_stopped(l);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.ticks, TICKS);
    assert_int_equal(r.next, N); /* nothing after the disconnect */

    /* Killed: its end is noticed here, and emissions to it are counted
     * drops (its queue is retired). */
    kill(pid, SIGKILL);
    assert_int_equal(tu_wait(pid, 30000), 128 + SIGKILL);
    run_until_stopped(l);
    assert_int_equal(r.ended, 1);
    assert_int_equal(r.end_code, -1);
    int rc = ss_emit(&ctl, "go", (int64_t)1);
    assert_true(rc == SS_ECLOSED || rc == 0);
    /* A new peer takes the name again, with its own queue. */
    pid = start_peer("emitter", NULL);
    ss_loop *ex2;
    assert_int_equal(ss_loop_open(&ex2, "ex", SS_SEC(20)), 0);
    assert_true(ex2 != ex);
    ss_object *src2;
    assert_int_equal(ss_object_open(&src2, ex2, "src"), 0);
    assert_int_equal(ss_connect(src2, "data", &r.obj, on_data, "xs", &r), 0);
    assert_int_equal(ss_connect_slot(&ctl, "go", src2, "go"), 0);
    assert_int_equal(ss_connect_slot(&ctl, "quit", src2, "quit"), 0);
    r.next = 0;
    r.want = 50;
    assert_int_equal(ss_emit(&ctl, "go", (int64_t)50), 0);
    run_until_stopped(l);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.next, 50);
    assert_int_equal(ss_emit(&ctl, "quit"), 0);
    assert_int_equal(tu_wait(pid, 30000), 0);

    ss_object_free(src);
    ss_object_free(src2);
    ss_loop_free(ex);
    ss_loop_free(ex2);
    ss_object_destroy(&r.obj);
    ss_object_destroy(&ctl);
    ss_loop_free(l);
}

/* A loop process connected to after it started (by name: the child
 * registered its slot in its init function). */
static void init_slot(ss_process *p, void *ud)
{
    (void)p;
    ss_slot_add(ud, "on_data", on_data, "xs", ud);
}

static seq g_child_seq;

static void test_loop_process_after_start(void **state)
{
    (void)state;
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_process *p;
    assert_int_equal(tu_process_new(&p, "lp", &o), 0);
    memset(&g_child_seq, 0, sizeof g_child_seq);
    g_child_seq.want = 1000;
    assert_int_equal(ss_object_init(&g_child_seq.obj, ss_process_loop(p),
                                     "sink"),
                     0);
    assert_int_equal(ss_process_start(p, init_slot, &g_child_seq), 0);
    ss_loop *l;
    assert_int_equal(ss_loop_new(&l, "lp_parent", NULL), 0);
    static ss_object src;
    assert_int_equal(ss_object_init(&src, l, "src"), 0);
    assert_int_equal(ss_signal_add(&src, "data", "xs"), 0);
    /* After the start, the old way is refused; by name it works. */
    assert_int_equal(ss_connect(&src, "data", &g_child_seq.obj, on_data,
                                "xs", &g_child_seq),
                     SS_ENOTSUP);
    assert_int_equal(ss_connect_slot(&src, "data", &g_child_seq.obj,
                                     "on_data"),
                     0);
    for (int64_t k = 0; k < 1000; k++) {
        int rc;
        while ((rc = ss_emit(&src, "data", k, "payload")) == SS_EAGAIN)
            tu_sleep_us(100);
        assert_int_equal(rc, 0);
    }
    /* The child stops its loop at 1000 in order: exit code 0. */
    int status = -1;
    assert_int_equal(ss_process_join(p, SS_SEC(30), &status), 0);
    assert_int_equal(status, 0);
    ss_object_destroy(&src);
    ss_loop_free(l);
    ss_object_destroy(&g_child_seq.obj);
    tu_process_free(p);
}

/* Slots by name made on demand (ss_loop_set_slot_resolver()), taking
 * any signature (SS_SIGNATURE_ANY), their user data released once. */
static int g_released, g_resolved;
static char g_any_sig[16];
static int64_t g_any_sum;

static void count_release(void *ud)
{
    (void)ud;
    g_released++;
}

static void on_any(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)ud;
    snprintf(g_any_sig, sizeof g_any_sig, "%s", ss_args_signature(args));
    int64_t x = 0;
    int32_t y = 0;
    if (ss_args_unpack(args, "xi", &x, &y) == 0)
        g_any_sum += x + y;
    ss_loop_stop(ss_object_loop(receiver));
}

/* Knows the slots "on_any" (any signature) and "on_data" ("xs", user
 * data: the receiver, a seq); refuses the rest. */
static int resolver(ss_object *obj, const char *slot, void *ud)
{
    (void)ud;
    g_resolved++;
    if (strcmp(slot, "on_any") == 0)
        return ss_slot_add_data(obj, slot, on_any, SS_SIGNATURE_ANY, NULL,
                                count_release);
    if (strcmp(slot, "on_data") == 0)
        return ss_slot_add_data(obj, slot, on_data, "xs", obj, count_release);
    return SS_ENOENT;
}

static void test_slot_resolver_here(void **state)
{
    (void)state;
    g_released = g_resolved = 0;
    g_any_sum = 0;
    ss_loop *l;
    assert_int_equal(ss_loop_new(&l, "resolver_here", NULL), 0);
    static ss_object src, sink;
    assert_int_equal(ss_object_init(&src, l, "src"), 0);
    assert_int_equal(ss_object_init(&sink, l, "sink"), 0);
    assert_int_equal(ss_signal_add(&src, "pair", "xi"), 0);
    /* No resolver yet: unknown. */
    assert_int_equal(ss_connect_slot(&src, "pair", &sink, "on_any"),
                     SS_ENOENT);
    assert_int_equal(ss_loop_set_slot_resolver(l, resolver, NULL), 0);
    assert_int_equal(ss_connect_slot(&src, "pair", &sink, "nosuch"),
                     SS_ENOENT);
    assert_int_equal(g_resolved, 1);
    assert_int_equal(ss_connect_slot(&src, "pair", &sink, "on_any"), 0);
    assert_int_equal(g_resolved, 2);
    /* Made once: found the next time. A second add is refused and its
     * user data released at once. */
    assert_int_equal(ss_connect_slot(&src, "pair", &sink, "on_any"), 0);
    assert_int_equal(g_resolved, 2);
    assert_int_equal(ss_slot_add_data(&sink, "on_any", on_any, "x", NULL,
                                      count_release),
                     SS_EEXIST);
    assert_int_equal(g_released, 1);
    assert_int_equal(ss_slot_add_data(&sink, "bad", on_any, "?", NULL,
                                      count_release),
                     SS_ESIGNATURE);
    assert_int_equal(g_released, 2);
    /* A slot of any signature cannot tell a broadcast's. */
    assert_int_equal(ss_subscribe_slot(&sink, "pair", "on_any"), SS_ENOTSUP);
    /* Delivered with the signal's signature. */
    assert_int_equal(ss_emit(&src, "pair", (int64_t)40, (int32_t)2), 0);
    assert_int_equal(ss_loop_run(l), SS_LOOP_STOPPED);
    assert_string_equal(g_any_sig, "xi");
    /* Connected twice to the same slot by name: called once. */
    assert_int_equal(g_any_sum, 42);
    /* ...and a typed slot checks the signature. */
    assert_int_equal(ss_connect_slot(&src, "pair", &sink, "on_data"),
                     SS_ESIGNATURE);
    /* The object's end releases its slots' user data, once each. */
    ss_object_destroy(&sink);
    assert_int_equal(g_released, 4);
    ss_object_destroy(&src);
    ss_loop_free(l);
    assert_int_equal(g_released, 4);
}

static seq g_resolved_seq;

/* A loop process whose slots are made on demand when another process
 * connects to them after it started (on the child's loop thread). */
static void test_slot_resolver_after_start(void **state)
{
    (void)state;
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_process *p;
    assert_int_equal(tu_process_new(&p, "lr", &o), 0);
    memset(&g_resolved_seq, 0, sizeof g_resolved_seq);
    g_resolved_seq.want = 1000;
    assert_int_equal(ss_object_init(&g_resolved_seq.obj, ss_process_loop(p),
                                     "sink"),
                     0);
    assert_int_equal(ss_loop_set_slot_resolver(ss_process_loop(p), resolver,
                                               NULL),
                     0);
    assert_int_equal(ss_process_start(p, NULL, NULL), 0);
    ss_loop *l;
    assert_int_equal(ss_loop_new(&l, "lr_parent", NULL), 0);
    static ss_object src;
    assert_int_equal(ss_object_init(&src, l, "src"), 0);
    assert_int_equal(ss_signal_add(&src, "data", "xs"), 0);
    /* Refused by the child's resolver; then made there. */
    assert_int_equal(ss_connect_slot(&src, "data", &g_resolved_seq.obj,
                                     "nosuch"),
                     SS_ENOENT);
    assert_int_equal(ss_connect_slot(&src, "data", &g_resolved_seq.obj,
                                     "on_data"),
                     0);
    for (int64_t k = 0; k < 1000; k++) {
        int rc;
        while ((rc = ss_emit(&src, "data", k, "payload")) == SS_EAGAIN)
            tu_sleep_us(100);
        assert_int_equal(rc, 0);
    }
    /* The child stops its loop at 1000 in order: exit code 0. */
    int status = -1;
    assert_int_equal(ss_process_join(p, SS_SEC(30), &status), 0);
    assert_int_equal(status, 0);
    ss_object_destroy(&src);
    ss_loop_free(l);
    ss_object_destroy(&g_resolved_seq.obj);
    tu_process_free(p);
}

/* A broadcast of this program's signal onto the peer's loop, to a slot
 * the peer registered by name and that this program subscribes. */
static void test_broadcast_to_subscriber(void **state)
{
    (void)state;
    enum { N = 3000 };
    char n[16];
    snprintf(n, sizeof n, "%d", N);
    pid_t pid = start_peer("subscriber", n);
    ss_loop *l;
    assert_int_equal(ss_loop_new(&l, "bcaster", NULL), 0);
    static ss_object src;
    assert_int_equal(ss_object_init(&src, l, "src"), 0);
    assert_int_equal(ss_signal_add(&src, "tick", "x"), 0);
    ss_loop *sl;
    assert_int_equal(ss_loop_open(&sl, "sub", SS_SEC(20)), 0);
    ss_object *sink;
    assert_int_equal(ss_object_open(&sink, sl, "sink"), 0);
    assert_int_equal(ss_subscribe_slot(sink, "tick", "nosuch"), SS_ENOENT);
    assert_int_equal(ss_subscribe_slot(sink, "tick", "on_tick"), 0);
    assert_int_equal(ss_subscribe_slot(sink, "tick", "on_tick"), 0); /* once */
    /* A function cannot be subscribed across: by name only. */
    assert_int_equal(ss_subscribe(sink, "tick", on_tick, "x", NULL),
                     SS_ENOTSUP);
    assert_int_equal(ss_signal_broadcast_on(&src, "tick", sl), 0);
    for (int64_t k = 0; k < N; k++) {
        int rc;
        while ((rc = ss_emit(&src, "tick", k)) == SS_EAGAIN)
            tu_sleep_us(100);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(tu_wait(pid, 30000), 0); /* N ticks, in order, once */
    ss_object_free(sink);
    ss_loop_free(sl);
    ss_object_destroy(&src);
    ss_loop_free(l);
}

/* A loop process that emits on its own, every iteration of its loop (a
 * timer of interval 0), connected to after it started, then disconnected
 * while it emits; and one of its objects subscribed by name after the
 * start. The child's state, shared before the fork: */
typedef struct lp_child {
    ss_object src, sink;
    ss_timer tick;
    int64_t sent;      /* child: the next value to emit */
    int64_t ticks_in;  /* child: broadcast ticks received, in order */
    int bad;
} lp_child;

static lp_child g_lp;

/* Child: one value per loop iteration (a full queue: the same value next
 * time, so that what is sent is 0, 1, 2... without gaps). */
static void lp_on_tick(ss_object *r, const ss_args *args, void *ud)
{
    (void)r;
    (void)args;
    (void)ud;
    if (ss_emit(&g_lp.src, "data", g_lp.sent) == 0)
        g_lp.sent++;
}

/* Child: a broadcast "tick" from the parent, by the slot subscribed by
 * name; at 100, in order, the child stops (exit 0; 3 if out of order). */
static void lp_on_bcast(ss_object *r, const ss_args *args, void *ud)
{
    (void)ud;
    int64_t x = -1;
    if (ss_args_unpack(args, "x", &x) != 0 || x != g_lp.ticks_in)
        g_lp.bad++;
    g_lp.ticks_in++;
    if (g_lp.ticks_in == 100)
        ss_loop_stop(ss_object_loop(r));
}

static void lp_init(ss_process *p, void *ud)
{
    (void)p;
    (void)ud;
    ss_timer_init(&g_lp.tick, ss_process_loop(p), 0, false, "tick");
    ss_connect(&g_lp.tick.object, "timeout", &g_lp.src, lp_on_tick, "", NULL);
    ss_slot_add(&g_lp.sink, "on_bcast", lp_on_bcast, "x", NULL);
}

/* Parent: values from the child, each the one after the one before (the
 * first is whatever the child was at when the route came); after K of
 * them, disconnect from inside the slot, while the child goes on. */
typedef struct lp_parent {
    ss_object obj;
    ss_object *src; /* the child's emitter */
    int64_t next, got, k, after;
    bool disconnected;
    int bad, disc_rc;
} lp_parent;

static void lp_on_data(ss_object *r, const ss_args *args, void *ud)
{
    lp_parent *pp = ud;
    (void)r;
    int64_t x = -1;
    if (pp->disconnected) {
        pp->after++; /* must not happen */
        return;
    }
    if (ss_args_unpack(args, "x", &x) != 0 || (pp->got > 0 && x != pp->next))
        pp->bad++;
    pp->next = x + 1;
    if (++pp->got == pp->k) {
        pp->disc_rc = ss_disconnect(pp->src, "data", &pp->obj, lp_on_data, pp);
        pp->disconnected = true;
        ss_loop_stop(ss_object_loop(&pp->obj));
    }
}

static void on_quiet_end(ss_object *r, const ss_args *args, void *ud)
{
    (void)r;
    (void)args;
    ss_loop_stop(ud);
}

static void test_loop_process_disconnect_while_emitting(void **state)
{
    (void)state;
#ifdef __SANITIZE_THREAD__
    /* The child starts a thread (its watch over the parent's published
     * loop) after a fork from a parent with threads, which ThreadSanitizer
     * does not support; the other builds run it. */
    skip();
#endif
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_process *p;
    assert_int_equal(tu_process_new(&p, "lpe", &o), 0);
    memset(&g_lp, 0, sizeof g_lp);
    ss_loop *cl = ss_process_loop(p);
    assert_int_equal(ss_object_init(&g_lp.src, cl, "src"), 0);
    assert_int_equal(ss_object_init(&g_lp.sink, cl, "sink"), 0);
    assert_int_equal(ss_signal_add(&g_lp.src, "data", "x"), 0);
    assert_int_equal(ss_process_start(p, lp_init, NULL), 0);

    ss_loop *l = new_published("lpe_parent");
    static lp_parent pp;
    memset(&pp, 0, sizeof pp);
    pp.k = 2000;
    pp.src = &g_lp.src;
    assert_int_equal(ss_object_init(&pp.obj, l, "rx"), 0);
    /* Connected after the start: the child's loop is asked for the route. */
    assert_int_equal(ss_connect(&g_lp.src, "data", &pp.obj, lp_on_data, "x",
                                &pp),
                     0);
    run_until_stopped(l);
    assert_int_equal(pp.disc_rc, 0);
    assert_int_equal(pp.bad, 0);
    assert_int_equal(pp.got, pp.k);
    /* The child goes on emitting; nothing more comes here. */
    static ss_timer quiet;
    assert_int_equal(ss_timer_init(&quiet, l, SS_MSEC(200), true, "quiet"),
                     0);
    assert_int_equal(ss_connect(&quiet.object, "timeout", &pp.obj,
                                on_quiet_end, "", l),
                     0);
    assert_int_equal(ss_loop_run(l), SS_LOOP_STOPPED);
    ss_timer_destroy(&quiet);
    assert_int_equal(pp.after, 0);

    /* Its object "sink", subscribed by name after the start, gets our
     * broadcast "tick"; at 100 in order the child stops: exit code 0. */
    static ss_object bsrc;
    assert_int_equal(ss_object_init(&bsrc, l, "bsrc"), 0);
    assert_int_equal(ss_signal_add(&bsrc, "tick", "x"), 0);
    assert_int_equal(ss_subscribe_slot(&g_lp.sink, "tick", "nosuch"),
                     SS_ENOENT);
    assert_int_equal(ss_subscribe_slot(&g_lp.sink, "tick", "on_bcast"), 0);
    assert_int_equal(ss_signal_broadcast_on(&bsrc, "tick", cl), 0);
    for (int64_t k = 0; k < 100; k++) {
        int rc;
        while ((rc = ss_emit(&bsrc, "tick", k)) == SS_EAGAIN)
            tu_sleep_us(100);
        assert_int_equal(rc, 0);
    }
    int status = -1;
    assert_int_equal(ss_process_join(p, SS_SEC(30), &status), 0);
    assert_int_equal(status, 0);
    ss_object_destroy(&bsrc);
    ss_object_destroy(&pp.obj);
    ss_loop_free(l);
    tu_process_free(p);
}

/* A handle on one of this process's own published loops works as one on
 * another process's: a connection through it, made before the loop runs
 * and again from a slot on that loop's own thread (no wait for itself). */
static void on_data_reconnect(ss_object *receiver, const ss_args *args,
                              void *ud);

static ss_object *g_own_sink;
static ss_object g_own_src;
static int g_own_rc = -1;

static void on_data_reconnect(ss_object *receiver, const ss_args *args,
                              void *ud)
{
    seq *r = ud;
    on_data(receiver, args, ud);
    if (r->next == 5) {
        /* On the loop's own thread: applied at once. */
        g_own_rc = ss_disconnect_slot(&g_own_src, "data", g_own_sink,
                                      "on_data");
        if (g_own_rc == 0)
            g_own_rc = ss_connect_slot(&g_own_src, "data", g_own_sink,
                                       "on_data");
        /* Emitted after the connection returned: delivered, in order. */
        for (int64_t k = 5; k < 10 && g_own_rc == 0; k++)
            if (ss_emit(&g_own_src, "data", k, "payload") != 0)
                r->bad++;
    }
}

static void test_own_loop_handle(void **state)
{
    (void)state;
    ss_loop *l = new_published("own");
    static seq r;
    memset(&r, 0, sizeof r);
    r.want = 10;
    assert_int_equal(ss_object_init(&r.obj, l, "sink"), 0);
    assert_int_equal(ss_slot_add(&r.obj, "on_data", on_data_reconnect, "xs",
                                 &r),
                     0);
    assert_int_equal(ss_object_init(&g_own_src, l, "src"), 0);
    assert_int_equal(ss_signal_add(&g_own_src, "data", "xs"), 0);
    ss_loop *h;
    assert_int_equal(ss_loop_open(&h, "own", SS_NO_WAIT), 0);
    assert_true(ss_loop_is_remote(h));
    assert_int_equal(ss_object_open(&g_own_sink, h, "sink"), 0);
    /* The loop does not run yet: applied at once, no wait. */
    assert_int_equal(ss_connect_slot(&g_own_src, "data", g_own_sink,
                                     "on_data"),
                     0);
    for (int64_t k = 0; k < 5; k++)
        assert_int_equal(ss_emit(&g_own_src, "data", k, "payload"), 0);
    run_until_stopped(l);
    assert_int_equal(g_own_rc, 0);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.next, 10);
    ss_object_free(g_own_sink);
    ss_loop_free(h);
    ss_object_destroy(&g_own_src);
    ss_object_destroy(&r.obj);
    ss_loop_free(l);
}

/* A loop that is not published cannot be reached from another process. */
static void test_not_published(void **state)
{
    (void)state;
    pid_t pid = start_peer("emitter", NULL);
    ss_loop *l;
    assert_int_equal(ss_loop_new(&l, "hidden", NULL), 0);
    static ss_object r;
    assert_int_equal(ss_object_init(&r, l, "r"), 0);
    ss_loop *ex;
    assert_int_equal(ss_loop_open(&ex, "ex", SS_SEC(20)), 0);
    ss_object *src;
    assert_int_equal(ss_object_open(&src, ex, "src"), 0);
    assert_int_equal(ss_connect(src, "data", &r, on_data, "xs", NULL),
                     SS_ENOTSUP);
    assert_int_equal(ss_loop_open(&ex, "nosuch", SS_NO_WAIT), SS_ENOENT);
    assert_int_equal(ss_loop_run(ex), SS_ENOTSUP);
    assert_int_equal(ss_loop_stop(ex), 0); /* stops the peer's loop */
    assert_int_equal(tu_wait(pid, 30000), 0);
    ss_object_free(src);
    ss_loop_free(ex);
    ss_object_destroy(&r);
    ss_loop_free(l);
}

/* A spawned child (a fresh program, no tables inherited) rebuilds the
 * graph on loops attached by name, runs its loop; what was emitted to it
 * before it started is delivered, both directions, in order. */
typedef struct at_home {
    ss_object obj;
    int64_t next, want;
    int bad;
} at_home;

static void at_on_echo(ss_object *receiver, const ss_args *args, void *ud)
{
    at_home *h = ud;
    int64_t x = -1;
    if (ss_args_unpack(args, "x", &x) != 0 || x != h->next)
        h->bad++;
    h->next = x + 1;
    if (h->next == h->want)
        ss_loop_stop(ss_object_loop(receiver));
}

static void at_never(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)args;
    (void)ud;
}

/* by_fd: the loops are not published; the child gets their queues'
 * descriptors across exec. */
static int g_fds[2] = {-1, -1};

static int exec_peer_fds(void *arg)
{
    (void)arg;
    /* Inherited across exec: without FD_CLOEXEC, in the child only. */
    for (int k = 0; k < 2; k++) {
        int d = dup(g_fds[k]);
        if (d < 0)
            return 126;
        g_fds[k] = d;
    }
    static char a4[16], a5[16];
    snprintf(a4, sizeof a4, "%d", g_fds[0]);
    snprintf(a5, sizeof a5, "%d", g_fds[1]);
    g_peer_argv[4] = a4;
    g_peer_argv[5] = a5;
    g_peer_argv[6] = NULL;
    execv(SS_REMOTE_PEER, g_peer_argv);
    return 127;
}

static void spawned_child(bool by_fd)
{
    enum { N = 2000 };
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = !by_fd;
    ss_loop *m, *c;
    assert_int_equal(ss_loop_new(&m, "at_main", &o), 0);
    assert_int_equal(ss_loop_new(&c, "at_child", &o), 0);
    static ss_object src, sink, back;
    static at_home home;
    memset(&home, 0, sizeof home);
    home.want = N;
    assert_int_equal(ss_object_init(&src, m, "src"), 0);
    assert_int_equal(ss_object_init(&home.obj, m, "home"), 0);
    assert_int_equal(ss_object_init(&sink, c, "sink"), 0);
    assert_int_equal(ss_object_init(&back, c, "back"), 0);
    assert_int_equal(ss_signal_add(&src, "data", "xs"), 0);
    assert_int_equal(ss_signal_add(&back, "echo", "x"), 0);
    assert_int_equal(ss_connect(&src, "data", &sink, at_never, "xs", NULL),
                     0);
    assert_int_equal(ss_connect(&back, "echo", &home.obj, at_on_echo, "x",
                                &home),
                     0);
    for (int64_t k = 0; k < N / 2; k++) /* before the child exists */
        assert_int_equal(ss_emit(&src, "data", k, "payload"), 0);
    char n[16];
    snprintf(n, sizeof n, "%d", N);
    pid_t pid;
    if (by_fd) {
        g_fds[0] = ss_queue_fd(ss_loop_queue(m));
        g_fds[1] = ss_queue_fd(ss_loop_queue(c));
        assert_true(g_fds[0] >= 0 && g_fds[1] >= 0);
        g_peer_argv[0] = (char *)"remote_peer";
        g_peer_argv[1] = g_domain;
        g_peer_argv[2] = (char *)"attachfd";
        g_peer_argv[3] = n;
        pid = tu_fork(exec_peer_fds, NULL);
        assert_true(pid > 0);
    } else {
        pid = start_peer("attach", n);
    }
    assert_int_equal(ss_loop_set_process(c, pid), 0);
    for (int64_t k = N / 2; k < N; k++) {
        int rc;
        while ((rc = ss_emit(&src, "data", k, "payload")) == SS_EAGAIN)
            tu_sleep_us(100);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(ss_loop_run(m), SS_LOOP_STOPPED);
    assert_int_equal(home.next, N);
    assert_int_equal(home.bad, 0);
    assert_int_equal(tu_wait(pid, 30000), 0); /* it got N, in order */
    ss_loop_process_ended(c, 0, 0);
    ss_object_destroy(&src);
    ss_object_destroy(&home.obj);
    ss_object_destroy(&sink);
    ss_object_destroy(&back);
    ss_loop_free(c);
    ss_loop_free(m);
}

static void test_spawned_child_attaches(void **state)
{
    (void)state;
    spawned_child(false);
}

static void test_spawned_child_attaches_by_fd(void **state)
{
    (void)state;
    spawned_child(true);
}

static int teardown(void **state)
{
    tu_reap_all();
    tu_process_teardown(state);
    return 0;
}

int main(void)
{
    tu_watchdog(180);
    snprintf(g_domain, sizeof g_domain, "tr%d", (int)getpid());
    if (ss_domain_set(g_domain) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_emit_to_named_slot, teardown),
        cmocka_unit_test_teardown(test_remote_emitter, teardown),
        cmocka_unit_test_teardown(test_loop_process_after_start, teardown),
        cmocka_unit_test_teardown(test_slot_resolver_here, teardown),
        cmocka_unit_test_teardown(test_slot_resolver_after_start, teardown),
        cmocka_unit_test_teardown(test_broadcast_to_subscriber, teardown),
        cmocka_unit_test_teardown(test_loop_process_disconnect_while_emitting,
                                  teardown),
        cmocka_unit_test_teardown(test_own_loop_handle, teardown),
        cmocka_unit_test_teardown(test_not_published, teardown),
        cmocka_unit_test_teardown(test_spawned_child_attaches, teardown),
        cmocka_unit_test_teardown(test_spawned_child_attaches_by_fd,
                                  teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char path[96];
    snprintf(path, sizeof path, "/dev/shm/ss-%u-%s", (unsigned)geteuid(),
             g_domain);
    unlink(path);
    return rc;
}

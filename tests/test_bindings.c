/*
 * test_bindings.c - what a language binding (the Python package) relies
 * on: user_data handed over with a destroy callback, run once and never
 * with the tables locked; hooks around each run of slot calls; objects
 * destroyed on another thread than their loop's; fork() from any thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "signal_slot.h"
#include "testutil.h"

/* ---- user_data with a destroy callback ---- */

typedef struct ud {
    _Atomic int destroyed; /* times destroy ran */
    _Atomic int calls;     /* times the slot ran */
    pthread_t destroyer;   /* the thread destroy ran on */
    ss_loop *probe_loop;   /* a loop to touch from destroy, if any */
} ud;

static ss_loop *g_probe_loop;

/* Takes the tables' write lock from another thread: if destroy ran with
 * the lock held by this thread, that thread would wait for ever (the
 * test's watchdog would then end it). */
static void *connect_elsewhere(void *arg)
{
    ss_loop *l = arg;
    ss_object tmp;
    if (ss_object_init(&tmp, l, NULL) != 0)
        return (void *)1;
    ss_object_destroy(&tmp);
    return NULL;
}

static void ud_destroy(void *p)
{
    ud *u = p;
    u->destroyer = pthread_self(); /* published by the count */
    atomic_fetch_add(&u->destroyed, 1);
    if (u->probe_loop) {
        pthread_t t;
        void *res = (void *)1;
        if (pthread_create(&t, NULL, connect_elsewhere, u->probe_loop) == 0)
            pthread_join(t, &res);
        if (res != NULL)
            atomic_fetch_add(&u->destroyed, 1000); /* seen as a failure */
    }
}

static void count_slot(ss_object *r, const ss_args *a, void *p)
{
    (void)r;
    (void)a;
    atomic_fetch_add(&((ud *)p)->calls, 1);
}

static ss_loop *new_loop(const char *name)
{
    ss_loop *l = NULL;
    assert_int_equal(ss_loop_new(&l, name, NULL), 0);
    return l;
}

static void run_pending(ss_loop *l)
{
    size_t n = 1;
    while (ss_loop_pending(l, &n, NULL) == 0 && n > 0)
        assert_int_equal(ss_loop_run_once(l, SS_NO_WAIT), 0);
}

static void test_destroy_once_per_way_out(void **state)
{
    (void)state;
    ss_loop *l = new_loop("d1");
    g_probe_loop = l;
    ss_object a, b;
    assert_int_equal(ss_object_init(&a, l, "a"), 0);
    assert_int_equal(ss_object_init(&b, l, "b"), 0);
    assert_int_equal(ss_signal_add(&a, "sig", "x"), 0);

    /* Disconnect: destroyed once, after which the slot is not called. */
    ud u1 = {.probe_loop = l};
    assert_int_equal(ss_connect_data(&a, "sig", &b, count_slot, "x", &u1,
                                     ud_destroy),
                     0);
    assert_int_equal(ss_emit(&a, "sig", (int64_t)1), 0);
    run_pending(l);
    assert_int_equal(atomic_load(&u1.calls), 1);
    assert_int_equal(atomic_load(&u1.destroyed), 0);
    assert_int_equal(ss_disconnect(&a, "sig", &b, count_slot, &u1), 0);
    assert_int_equal(atomic_load(&u1.destroyed), 1);
    assert_true(pthread_equal(u1.destroyer, pthread_self()));
    assert_int_equal(ss_emit(&a, "sig", (int64_t)2), 0);
    run_pending(l);
    assert_int_equal(atomic_load(&u1.calls), 1);

    /* The same five values again: the second user_data is given back at
     * once, the first stays (and is called once per emission). */
    ud u2 = {.probe_loop = l};
    assert_int_equal(ss_connect_data(&a, "sig", &b, count_slot, "x", &u2,
                                     ud_destroy),
                     0);
    assert_int_equal(ss_connect_data(&a, "sig", &b, count_slot, "x", &u2,
                                     ud_destroy),
                     0);
    assert_int_equal(atomic_load(&u2.destroyed), 1);
    assert_int_equal(ss_emit(&a, "sig", (int64_t)3), 0);
    run_pending(l);
    assert_int_equal(atomic_load(&u2.calls), 1);

    /* Errors: destroyed before the call returns. */
    ud u3 = {.probe_loop = l};
    assert_int_equal(ss_connect_data(&a, "nosuch", &b, count_slot, "x", &u3,
                                     ud_destroy),
                     SS_ENOENT);
    assert_int_equal(atomic_load(&u3.destroyed), 1);
    assert_int_equal(ss_connect_data(&a, "sig", &b, count_slot, "s", &u3,
                                     ud_destroy),
                     SS_ESIGNATURE);
    assert_int_equal(atomic_load(&u3.destroyed), 2);
    assert_int_equal(ss_connect_data(NULL, "sig", &b, count_slot, "x", &u3,
                                     ud_destroy),
                     SS_EINVAL);
    assert_int_equal(atomic_load(&u3.destroyed), 3);

    /* The receiver destroyed: its connections' user_data with it. */
    ss_object c;
    assert_int_equal(ss_object_init(&c, l, "c"), 0);
    ud u4 = {.probe_loop = l};
    assert_int_equal(ss_connect_data(&a, "sig", &c, count_slot, "x", &u4,
                                     ud_destroy),
                     0);
    ss_object_destroy(&c);
    assert_int_equal(atomic_load(&u4.destroyed), 1);

    /* Subscriptions: unsubscribe, and the loop's end. */
    ud u5 = {.probe_loop = l}, u6 = {.probe_loop = NULL};
    assert_int_equal(ss_subscribe_data(&b, "tick", count_slot, "x", &u5,
                                       ud_destroy),
                     0);
    assert_int_equal(ss_subscribe_data(&b, "tick", count_slot, "x", &u5,
                                       ud_destroy),
                     0);
    assert_int_equal(atomic_load(&u5.destroyed), 1); /* the second one */
    assert_int_equal(ss_unsubscribe(&b, "tick", count_slot, &u5), 0);
    assert_int_equal(atomic_load(&u5.destroyed), 2);
    assert_int_equal(ss_subscribe_data(&b, "tick", count_slot, "x", &u6,
                                       ud_destroy),
                     0);
    assert_int_equal(ss_subscribe_data(&b, "tick2", count_slot, "zz",
                                       &u3, ud_destroy),
                     SS_ESIGNATURE);
    assert_int_equal(atomic_load(&u3.destroyed), 4);

    /* The emitter destroyed: u2 goes with its signal. */
    ss_object_destroy(&a);
    assert_int_equal(atomic_load(&u2.destroyed), 2);
    /* The loop freed: b is detached, its subscription released. */
    ss_loop_free(l);
    assert_int_equal(atomic_load(&u6.destroyed), 1);
    ss_object_destroy(&b);
    assert_int_equal(atomic_load(&u1.destroyed), 1);
    assert_int_equal(atomic_load(&u4.destroyed), 1);
}

/* Disconnected while its slot runs on the loop's thread: destroy waits for
 * the call to return, and runs on the thread that dropped it last. */
typedef struct slow {
    ud u;
    _Atomic int in_slot, release;
} slow;

static void slow_slot(ss_object *r, const ss_args *a, void *p)
{
    (void)r;
    (void)a;
    slow *s = p;
    atomic_fetch_add(&s->u.calls, 1);
    atomic_store(&s->in_slot, 1);
    while (!atomic_load(&s->release))
        tu_sleep_us(100);
}

static void test_destroy_after_running_slot(void **state)
{
    (void)state;
    ss_loop *l = new_loop("d2");
    static ss_object a, b;
    assert_int_equal(ss_object_init(&a, l, "a"), 0);
    assert_int_equal(ss_object_init(&b, l, "b"), 0);
    assert_int_equal(ss_signal_add(&a, "sig", ""), 0);
    static slow s;
    memset(&s, 0, sizeof s);
    assert_int_equal(ss_connect_data(&a, "sig", &b, slow_slot, "",
                                     &s, ud_destroy),
                     0);
    assert_int_equal(ss_loop_start_thread(l), 0);
    assert_int_equal(ss_emit(&a, "sig"), 0);
    while (!atomic_load(&s.in_slot))
        tu_sleep_us(100);
    assert_int_equal(ss_disconnect(&a, "sig", &b, slow_slot, &s),
                     0);
    /* The slot still runs: its user_data is still the library's. */
    tu_sleep_us(20000);
    assert_int_equal(atomic_load(&s.u.destroyed), 0);
    atomic_store(&s.release, 1);
    int64_t deadline = tu_now_ns() + SS_SEC(10);
    while (!atomic_load(&s.u.destroyed) && tu_now_ns() < deadline)
        tu_sleep_us(100);
    assert_int_equal(atomic_load(&s.u.destroyed), 1);
    assert_false(pthread_equal(s.u.destroyer, pthread_self()));
    assert_int_equal(ss_loop_stop(l), 0);
    int st = -1;
    assert_int_equal(ss_loop_join_thread(l, &st), 0);
    assert_int_equal(st, SS_LOOP_STOPPED);
    assert_int_equal(atomic_load(&s.u.calls), 1);
    ss_object_destroy(&a);
    ss_object_destroy(&b);
    ss_loop_free(l);
}

/* ---- hooks around each run of slot calls ---- */

typedef struct hooks {
    int begins, ends, depth, max_depth, bad;
    int calls;
    ss_loop *loop;
    ss_object *src;
    bool nest; /* the first call runs the loop again */
} hooks;

static void h_begin(ss_loop *l, void *p)
{
    hooks *h = p;
    if (l != h->loop)
        h->bad++;
    h->begins++;
    if (++h->depth > h->max_depth)
        h->max_depth = h->depth;
}

static void h_end(ss_loop *l, void *p)
{
    hooks *h = p;
    if (l != h->loop || h->depth <= 0)
        h->bad++;
    h->ends++;
    h->depth--;
}

static void h_slot(ss_object *r, const ss_args *a, void *p)
{
    (void)r;
    hooks *h = p;
    int64_t v = -1;
    assert_int_equal(ss_args_unpack(a, "x", &v), 0);
    if (h->depth < 1)
        h->bad++; /* called outside begin/end */
    h->calls++;
    if (h->nest && v == 0) {
        /* Emitted from inside a slot, and handled by a nested run. */
        assert_int_equal(ss_emit(h->src, "sig", (int64_t)100), 0);
        assert_int_equal(ss_loop_run_once(h->loop, SS_NO_WAIT), 0);
    }
}

static void test_dispatch_hooks(void **state)
{
    (void)state;
    ss_loop *l = new_loop("hk");
    ss_object a, b;
    assert_int_equal(ss_object_init(&a, l, "a"), 0);
    assert_int_equal(ss_object_init(&b, l, "b"), 0);
    assert_int_equal(ss_signal_add(&a, "sig", "x"), 0);
    assert_int_equal(ss_signal_add(&a, "lonely", "x"), 0);
    hooks h = {.loop = l, .src = &a};
    assert_int_equal(ss_connect(&a, "sig", &b, h_slot, "x", &h), 0);
    assert_int_equal(ss_loop_set_dispatch_hooks(NULL, h_begin, h_end, &h),
                     SS_EINVAL);
    assert_int_equal(ss_loop_set_dispatch_hooks(l, h_begin, h_end, &h), 0);
    /* Ten signals in one run: one begin, one end. */
    for (int64_t k = 1; k <= 10; k++)
        assert_int_equal(ss_emit(&a, "sig", k), 0);
    assert_int_equal(ss_loop_run_once(l, SS_NO_WAIT), 0);
    assert_int_equal(h.calls, 10);
    assert_int_equal(h.begins, 1);
    assert_int_equal(h.ends, 1);
    /* Nobody connected: no hooks. */
    assert_int_equal(ss_emit(&a, "lonely", (int64_t)1), 0);
    assert_int_equal(ss_loop_run_once(l, SS_NO_WAIT), 0);
    assert_int_equal(h.begins, 1);
    /* Nested: the outer run's end comes after the inner pair. */
    h.nest = true;
    assert_int_equal(ss_emit(&a, "sig", (int64_t)0), 0);
    assert_int_equal(ss_loop_run_once(l, SS_NO_WAIT), 0);
    assert_int_equal(h.calls, 12);
    assert_int_equal(h.begins, 3);
    assert_int_equal(h.ends, 3);
    assert_int_equal(h.max_depth, 2);
    assert_int_equal(h.depth, 0);
    assert_int_equal(h.bad, 0);
    /* Removed. */
    assert_int_equal(ss_loop_set_dispatch_hooks(l, NULL, NULL, NULL), 0);
    h.nest = false;
    h.depth = 1; /* (so that the slot does not count a call outside) */
    assert_int_equal(ss_emit(&a, "sig", (int64_t)5), 0);
    assert_int_equal(ss_loop_run_once(l, SS_NO_WAIT), 0);
    assert_int_equal(h.begins, 3);
    assert_int_equal(h.calls, 13);
    /* From another thread while the loop runs: refused. */
    assert_int_equal(ss_loop_start_thread(l), 0);
    int64_t deadline = tu_now_ns() + SS_SEC(5);
    int rc;
    while ((rc = ss_loop_set_dispatch_hooks(l, h_begin, h_end, &h)) == 0 &&
           tu_now_ns() < deadline) {
        assert_int_equal(ss_loop_set_dispatch_hooks(l, NULL, NULL, NULL), 0);
        tu_sleep_us(100); /* until the thread has started */
    }
    assert_int_equal(rc, SS_ESTATE);
    assert_int_equal(ss_loop_stop(l), 0);
    assert_int_equal(ss_loop_join_thread(l, NULL), 0);
    ss_object_destroy(&a);
    ss_object_destroy(&b);
    ss_loop_free(l);
}

/* ---- an object destroyed on another thread than its loop's ---- */

typedef struct victim {
    ss_object obj;
    _Atomic int entered, left;
    int64_t last; /* written by its slot: freed memory if destroy did not
                     wait (AddressSanitizer reports it) */
    int sleep_us;
} victim;

static void victim_slot(ss_object *r, const ss_args *a, void *p)
{
    (void)p;
    victim *v = (victim *)r;
    atomic_store(&v->entered, 1);
    if (v->sleep_us)
        tu_sleep_us(v->sleep_us);
    int64_t x = 0;
    ss_args_unpack(a, "x", &x);
    v->last = x;
    atomic_store(&v->left, 1);
}

static void test_destroy_waits_for_running_slot(void **state)
{
    (void)state;
    ss_loop *l = new_loop("dw");
    static ss_object src;
    assert_int_equal(ss_object_init(&src, l, "src"), 0);
    assert_int_equal(ss_signal_add(&src, "sig", "x"), 0);
    assert_int_equal(ss_loop_start_thread(l), 0);

    /* A slot that runs for a while: destroy returns after it. */
    victim *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->sleep_us = 50000;
    assert_int_equal(ss_object_init(&v->obj, l, "v"), 0);
    assert_int_equal(ss_connect(&src, "sig", &v->obj, victim_slot, "x", NULL),
                     0);
    assert_int_equal(ss_emit(&src, "sig", (int64_t)7), 0);
    while (!atomic_load(&v->entered))
        tu_sleep_us(50);
    ss_object_destroy(&v->obj);
    assert_int_equal(atomic_load(&v->left), 1);
    assert_int_equal(v->last, 7);
    free(v);

    /* Races: emissions in flight while the receiver is destroyed and
     * freed at once; no slot may touch it afterwards. */
    int delivered = 0;
    for (int k = 0; k < 2000; k++) {
        v = calloc(1, sizeof *v);
        assert_non_null(v);
        assert_int_equal(ss_object_init(&v->obj, l, "v"), 0);
        assert_int_equal(
            ss_connect(&src, "sig", &v->obj, victim_slot, "x", NULL), 0);
        for (int j = 0; j < 4; j++)
            assert_int_equal(ss_emit(&src, "sig", (int64_t)j), 0);
        if (k & 1)
            tu_sleep_us(k % 7 * 10);
        ss_object_destroy(&v->obj);
        /* Nothing of v runs from here on: entered and left agree. */
        assert_int_equal(atomic_load(&v->entered), atomic_load(&v->left));
        delivered += atomic_load(&v->left);
        memset(v, 0xab, sizeof *v);
        free(v);
    }
    printf("destroyed on another thread: 2000 receivers, %d of them after "
           "a slot call\n", delivered);
    assert_int_equal(ss_loop_stop(l), 0);
    assert_int_equal(ss_loop_join_thread(l, NULL), 0);
    ss_object_destroy(&src);
    ss_loop_free(l);
}

/* ---- a fork by any thread, while another one changes the tables ---- */

typedef struct churn {
    ss_loop *loop;
    _Atomic int stop;
    _Atomic long rounds;
} churn;

static void *churn_main(void *arg)
{
    churn *c = arg;
    ss_object objs[16];
    while (!atomic_load(&c->stop)) {
        for (int i = 0; i < 16; i++)
            if (ss_object_init(&objs[i], c->loop, NULL) != 0 ||
                ss_signal_add(&objs[i], "s", "x") != 0)
                abort();
        for (int i = 0; i < 16; i++)
            ss_object_destroy(&objs[i]);
        atomic_fetch_add(&c->rounds, 1);
    }
    return NULL;
}

static ss_object g_fsrc, g_fdst;
static _Atomic int g_fgot;

static void fork_slot(ss_object *r, const ss_args *a, void *p)
{
    (void)r;
    (void)p;
    int64_t x = 0;
    if (ss_args_unpack(a, "x", &x) == 0 && x == 42)
        g_fgot++;
}

static int fork_child(void *arg)
{
    ss_loop *l = arg;
    /* The tables are whole: objects can be made, found and connected,
     * and a signal goes through. */
    ss_object o[64];
    for (int i = 0; i < 64; i++)
        if (ss_object_init(&o[i], l, NULL) != 0)
            return 2;
    for (int i = 0; i < 64; i++)
        ss_object_destroy(&o[i]);
    if (ss_emit(&g_fsrc, "sig", (int64_t)42) != 0)
        return 3;
    for (int k = 0; k < 100 && !g_fgot; k++)
        ss_loop_run_once(l, SS_MSEC(10));
    return g_fgot == 1 ? 0 : 4;
}

static void test_fork_from_any_thread(void **state)
{
    (void)state;
    ss_loop *l = new_loop("fk");
    assert_int_equal(ss_object_init(&g_fsrc, l, "src"), 0);
    assert_int_equal(ss_object_init(&g_fdst, l, "dst"), 0);
    assert_int_equal(ss_signal_add(&g_fsrc, "sig", "x"), 0);
    assert_int_equal(ss_connect(&g_fsrc, "sig", &g_fdst, fork_slot, "x", NULL),
                     0);
    churn c = {.loop = l};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, churn_main, &c), 0);
    int bad = 0;
    for (int k = 0; k < 200; k++) {
        pid_t pid = tu_fork(fork_child, l);
        assert_true(pid > 0);
        int rc = tu_wait(pid, 10000);
        if (rc != 0) {
            printf("child %d: exit %d\n", k, rc);
            bad++;
        }
    }
    atomic_store(&c.stop, 1);
    pthread_join(t, NULL);
    printf("forks while another thread changed the tables: 200 children, "
           "%ld rounds of changes\n", atomic_load(&c.rounds));
    assert_int_equal(bad, 0);
    ss_object_destroy(&g_fsrc);
    ss_object_destroy(&g_fdst);
    ss_loop_free(l);
}

/* ---- a loop run by a child that the program forked itself ---- */

typedef struct adopted {
    ss_object src, sink;   /* src: parent's emitter; sink: on the child loop */
    ss_object back, home;  /* back: the child's emitter; home: parent's */
    int64_t next;          /* the child: next value expected */
    int bad;
    int64_t got_back;      /* the parent: echoes received, in order */
    ss_loop *parent_loop;
} adopted;

static adopted g_ad;

static void ad_on_data(ss_object *r, const ss_args *a, void *p)
{
    (void)r;
    (void)p;
    int64_t v = -1;
    if (ss_args_unpack(a, "x", &v) != 0 || v != g_ad.next)
        g_ad.bad++;
    g_ad.next = v + 1;
    if (ss_emit(&g_ad.back, "echo", v) != 0)
        g_ad.bad++;
}

static void ad_on_echo(ss_object *r, const ss_args *a, void *p)
{
    (void)r;
    (void)p;
    int64_t v = -1;
    if (ss_args_unpack(a, "x", &v) != 0 || v != g_ad.got_back)
        g_ad.bad++;
    g_ad.got_back++;
    if (g_ad.got_back == 1000)
        ss_loop_stop(g_ad.parent_loop);
}

static void test_adopted_loop(void **state)
{
    (void)state;
    char dom[32];
    snprintf(dom, sizeof dom, "tb%d", (int)getpid());
    assert_int_equal(ss_domain_set(dom), 0);
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_loop *parent = NULL, *child = NULL;
    assert_int_equal(ss_loop_new(&parent, "ad_parent", &o), 0);
    assert_int_equal(ss_loop_new(&child, "ad_child", &o), 0);
    memset(&g_ad, 0, sizeof g_ad);
    g_ad.parent_loop = parent;
    assert_int_equal(ss_object_init(&g_ad.src, parent, "src"), 0);
    assert_int_equal(ss_object_init(&g_ad.home, parent, "home"), 0);
    assert_int_equal(ss_object_init(&g_ad.sink, child, "sink"), 0);
    assert_int_equal(ss_object_init(&g_ad.back, child, "back"), 0);
    assert_int_equal(ss_signal_add(&g_ad.src, "data", "x"), 0);
    assert_int_equal(ss_signal_add(&g_ad.back, "echo", "x"), 0);
    assert_int_equal(ss_connect(&g_ad.src, "data", &g_ad.sink, ad_on_data,
                                "x", NULL),
                     0);
    assert_int_equal(ss_connect(&g_ad.back, "echo", &g_ad.home, ad_on_echo,
                                "x", NULL),
                     0);
    /* Emitted before the child exists: waits in its queue. */
    for (int64_t k = 0; k < 500; k++)
        assert_int_equal(ss_emit(&g_ad.src, "data", k), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (ss_loop_adopt(child) != 0)
            _exit(5);
        int rc = ss_loop_run(child);
        _exit(rc == SS_LOOP_STOPPED && g_ad.bad == 0 && g_ad.next == 1000
                  ? 0
                  : 6);
    }
    assert_int_equal(ss_loop_set_process(child, pid), 0);
    /* Running elsewhere now: no more connections by function. */
    assert_int_equal(ss_connect(&g_ad.src, "data", &g_ad.sink, ad_on_data,
                                "x", &g_ad),
                     SS_ENOTSUP);
    /* The child owns its registry entry. */
    ss_loop_info info[8];
    size_t n = 0;
    int64_t deadline = tu_now_ns() + SS_SEC(10);
    bool owned = false;
    while (!owned && tu_now_ns() < deadline) {
        assert_int_equal(ss_registry_list(info, 8, &n), 0);
        for (size_t i = 0; i < n; i++)
            if (strcmp(info[i].name, "ad_child") == 0 && info[i].pid == pid)
                owned = true;
        if (!owned)
            tu_sleep_us(1000);
    }
    assert_true(owned);
    for (int64_t k = 500; k < 1000; k++) {
        int rc;
        while ((rc = ss_emit(&g_ad.src, "data", k)) == SS_EAGAIN)
            tu_sleep_us(100);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(ss_loop_run(parent), SS_LOOP_STOPPED);
    assert_int_equal(g_ad.got_back, 1000);
    assert_int_equal(g_ad.bad, 0);
    assert_int_equal(ss_loop_stop(child), 0);
    int st = -1;
    assert_int_equal(tu_wait(pid, 10000), 0);
    (void)st;
    /* Its end, told by the parent: emissions to it are counted drops. */
    assert_int_equal(ss_emit(&g_ad.src, "data", (int64_t)1), 0);
    assert_int_equal(ss_loop_process_ended(child, 0, 0), 1);
    assert_int_equal(ss_emit(&g_ad.src, "data", (int64_t)2), SS_ECLOSED);
    assert_true(ss_loop_dropped(child) >= 2);
    ss_object_destroy(&g_ad.src);
    ss_object_destroy(&g_ad.home);
    ss_object_destroy(&g_ad.sink);
    ss_object_destroy(&g_ad.back);
    ss_loop_free(child);
    ss_loop_free(parent);
    char path[96];
    snprintf(path, sizeof path, "/dev/shm/ss-%u-%s", (unsigned)getuid(), dom);
    unlink(path);
}

/* ---- a slot that runs its loop once more (Python's process_events()) ---- */

typedef struct nest {
    ss_object a, b, c;
    char seen[64][32];
    int n, bad;
} nest;

static nest g_nest;

static void nest_record(ss_object *r, const ss_args *args, void *p)
{
    (void)p;
    const char *s = NULL;
    if (ss_args_unpack(args, "s", &s) != 0 || g_nest.n >= 64) {
        g_nest.bad++;
        return;
    }
    snprintf(g_nest.seen[g_nest.n++], 32, "%s:%s", ss_object_id(r), s);
}

static void nest_outer(ss_object *r, const ss_args *args, void *p)
{
    nest_record(r, args, p);
    const char *s = NULL;
    ss_args_unpack(args, "s", &s);
    if (s && strcmp(s, "a0") == 0) {
        /* Its own messages while the outer batch still holds a1..a4. */
        for (int k = 0; k < 3; k++) {
            char v[32];
            snprintf(v, sizeof v, "inner%d-xxxxxxxxx", k);
            ss_emit(&g_nest.c, "sig", (const char *)v);
        }
        ss_loop *l = ss_object_loop(r);
        for (int k = 0; k < 3; k++)
            if (ss_loop_run_once(l, SS_NO_WAIT) != 0)
                g_nest.bad++;
    }
}

static void test_nested_run_once(void **state)
{
    (void)state;
    ss_loop *l = new_loop("nest");
    memset(&g_nest, 0, sizeof g_nest);
    assert_int_equal(ss_object_init(&g_nest.a, l, "a"), 0);
    assert_int_equal(ss_object_init(&g_nest.b, l, "b"), 0);
    assert_int_equal(ss_object_init(&g_nest.c, l, "c"), 0);
    assert_int_equal(ss_signal_add(&g_nest.a, "sig", "s"), 0);
    assert_int_equal(ss_signal_add(&g_nest.c, "sig", "s"), 0);
    assert_int_equal(ss_connect(&g_nest.a, "sig", &g_nest.b, nest_outer, "s",
                                NULL),
                     0);
    assert_int_equal(ss_connect(&g_nest.c, "sig", &g_nest.b, nest_record, "s",
                                NULL),
                     0);
    for (int k = 0; k < 5; k++) {
        char v[16];
        snprintf(v, sizeof v, "a%d", k);
        assert_int_equal(ss_emit(&g_nest.a, "sig", (const char *)v), 0);
    }
    assert_int_equal(ss_loop_run_once(l, SS_NO_WAIT), 0);
    /* The inner signals inside the first outer call, then the rest of the
     * outer batch, intact. */
    const char *want[] = {"b:a0", "b:inner0-xxxxxxxxx", "b:inner1-xxxxxxxxx",
                          "b:inner2-xxxxxxxxx", "b:a1", "b:a2", "b:a3",
                          "b:a4"};
    assert_int_equal(g_nest.bad, 0);
    assert_int_equal(g_nest.n, 8);
    for (int k = 0; k < 8; k++)
        assert_string_equal(g_nest.seen[k], want[k]);
    ss_object_destroy(&g_nest.a);
    ss_object_destroy(&g_nest.b);
    ss_object_destroy(&g_nest.c);
    ss_loop_free(l);
}

int main(void)
{
    tu_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_destroy_once_per_way_out),
        cmocka_unit_test(test_destroy_after_running_slot),
        cmocka_unit_test(test_dispatch_hooks),
        cmocka_unit_test(test_destroy_waits_for_running_slot),
        cmocka_unit_test(test_fork_from_any_thread),
        cmocka_unit_test(test_adopted_loop),
        cmocka_unit_test(test_nested_run_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_seed.c - the scenarios of the seed's own test suite (signal-slot-mp,
 * tests/test_signal_slot.py), across real loop processes, asserting what
 * every slot received (counts and values), not only that it ran:
 *
 *   basic        the main loop and two loop processes, objects connected in
 *                every direction, connect/disconnect/reconnect, duplicate
 *                connections, an object detached while connected, a signal
 *                broadcast on a process loop with two subscribers, a
 *                periodic timer in a child driving slots on two other
 *                loops, a single-shot timer stopping all three loops.
 *   multiarg     a map payload and an integer, single and batched
 *                emissions before the process starts, "started" connected.
 *   same_ids     the same object id on several loops; a duplicate refused.
 *   overflow     a process loop with a tiny queue and a slow slot flooded
 *                by the parent: drops counted exactly, the rest delivered
 *                in order.
 *
 * What happens in a child is recorded in shared memory (tu_shared_alloc)
 * and checked by the parent once the child has ended.
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

#define JOIN_TIMEOUT SS_SEC(20)

/* A list of received ints: n counts them all, the first VALS_MAX are kept. */
#define VALS_MAX 16
typedef struct vals {
    int n;
    int v[VALS_MAX];
} vals;

static void vals_add(vals *x, int v)
{
    if (x->n < VALS_MAX)
        x->v[x->n] = v;
    x->n++;
}

static void assert_vals(const vals *x, const int *want, int n)
{
    assert_int_equal(x->n, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(x->v[i], want[i]);
}

static bool sender_is(const ss_args *args, const char *loop, const char *obj)
{
    const char *l = NULL, *o = NULL;
    ss_args_sender(args, &l, &o, NULL);
    return l && o && strcmp(l, loop) == 0 && strcmp(o, obj) == 0;
}

/* ================================================================ basic */

/* Everything the basic scenario observes, wherever it happens. */
typedef struct basic_shm {
    tu_errs err;
    vals o1_inc, o3_inc, o5_inc;      /* "foo" values received by inc */
    vals o2_from_o3, o2_from_o5;      /* x of each reply received by o2 */
    vals o4_reply, o6_reply, o8_reply; /* x of replies from o5 */
    vals o9_inc;                      /* destroys itself on the first */
    int o4_started;                   /* my_process1 "started" slot */
    int o2_p2_started;                /* my_process2 "started", on main */
    int o1_timeout, o7_timeout;       /* timer of my_process1 */
    int o7_bcast, o8_bcast;           /* o1's broadcast on my_process2 */
    int o2_from_o7;                   /* o7's signal, back on main */
    int stop_fired;                   /* the single-shot stop timer */
    int armed;                        /* stop timer started by the test */
} basic_shm;

static basic_shm *B;

/* The seed's C1: inc() counts and replies with (process name, count). */
typedef struct c1 {
    ss_object obj;
    int x;
    vals *inc;
} c1;

static void c1_inc(ss_object *receiver, const ss_args *args, void *ud)
{
    c1 *self = (c1 *)receiver;
    int32_t data = 0;
    (void)ud;
    if (!TU_CHECK(&B->err, ss_args_unpack(args, "i", &data) == 0))
        return;
    vals_add(self->inc, data);
    self->x++;
    TU_CHECK(&B->err,
             ss_emit(receiver, "reply",
                     ss_loop_name(ss_object_loop(receiver)),
                     (int32_t)self->x) == 0);
}

/* o2 (main): replies from o3 (my_process1) and o5 (my_process2), one slot. */
static void o2_on_reply(ss_object *receiver, const ss_args *args, void *ud);

/* A C2's on_reply: replies of o5 only. */
static void c2_on_reply(ss_object *receiver, const ss_args *args, void *ud)
{
    vals *rec = ud;
    const char *name = NULL;
    int32_t x = 0;
    (void)receiver;
    if (!TU_CHECK(&B->err, ss_args_unpack(args, "si", &name, &x) == 0))
        return;
    TU_CHECK(&B->err, strcmp(name, "my_process2") == 0);
    TU_CHECK(&B->err, sender_is(args, "my_process2", "o5_p2"));
    vals_add(rec, x);
}

/* o9 (my_process2) detaches itself while connected, in its first call:
 * later foos are not delivered to it. */
static void o9_inc_once(ss_object *receiver, const ss_args *args, void *ud)
{
    int32_t data = 0;
    (void)ud;
    TU_CHECK(&B->err, ss_args_unpack(args, "i", &data) == 0);
    vals_add(&B->o9_inc, data);
    ss_object_destroy(receiver);
    TU_CHECK(&B->err, ss_object_loop(receiver) == NULL);
}

/* C1.on_timeout: emit broadcast_signal(42, 43). */
static void c1_on_timeout(ss_object *receiver, const ss_args *args, void *ud)
{
    int *count = ud;
    (void)args;
    (*count)++;
    TU_CHECK(&B->err, sender_is(args, "my_process1", "t"));
    TU_CHECK(&B->err, ss_emit(receiver, "broadcast_signal", (int32_t)42,
                              (int32_t)43) == 0);
}

/* on_bcast of o7 and o8: o1's broadcast, subscribed by name. */
static void on_bcast(ss_object *receiver, const ss_args *args, void *ud)
{
    int *count = ud;
    int32_t a = 0, b = 0;
    (void)receiver;
    if (!TU_CHECK(&B->err, ss_args_unpack(args, "ii", &a, &b) == 0))
        return;
    TU_CHECK(&B->err, a == 42 && b == 43);
    TU_CHECK(&B->err, sender_is(args, "main_loop", "o1"));
    (*count)++;
}

/* my_process1 started: o4 emits foo_signal(7) to o3 (connected twice). */
static void o4_on_start(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)ud;
    TU_CHECK(&B->err, sender_is(args, "my_process1", "my_process1"));
    B->o4_started++;
    TU_CHECK(&B->err, ss_emit(receiver, "foo_signal", (int32_t)7) == 0);
}

static ss_timer basic_stop_timer;

/* Once everything deterministic has been received and the timer of
 * my_process1 has driven both loops a few times, start the stop timer. */
static void basic_maybe_arm(void)
{
    if (B->armed || B->o2_from_o3.n < 3 || B->o2_from_o5.n < 2 ||
        B->o2_p2_started < 1 || B->o1_timeout < 3 || B->o2_from_o7 < 3)
        return;
    B->armed = 1;
    ss_timer_start(&basic_stop_timer);
}

static void o2_on_reply(ss_object *receiver, const ss_args *args, void *ud)
{
    const char *name = NULL;
    int32_t x = 0;
    (void)receiver;
    (void)ud;
    if (!TU_CHECK(&B->err, ss_args_unpack(args, "si", &name, &x) == 0))
        return;
    if (sender_is(args, "my_process1", "o3_p")) {
        TU_CHECK(&B->err, strcmp(name, "my_process1") == 0);
        vals_add(&B->o2_from_o3, x);
    } else if (sender_is(args, "my_process2", "o5_p2")) {
        TU_CHECK(&B->err, strcmp(name, "my_process2") == 0);
        vals_add(&B->o2_from_o5, x);
    } else {
        TU_CHECK(&B->err, !"reply from an unexpected sender");
    }
    basic_maybe_arm();
}

static void o1_on_timeout(ss_object *receiver, const ss_args *args, void *ud)
{
    c1_on_timeout(receiver, args, ud);
    basic_maybe_arm();
}

static void o2_on_p2_started(ss_object *receiver, const ss_args *args,
                             void *ud)
{
    (void)receiver;
    (void)ud;
    TU_CHECK(&B->err, sender_is(args, "my_process2", "my_process2"));
    B->o2_p2_started++;
    basic_maybe_arm();
}

static void o2_on_o7(ss_object *receiver, const ss_args *args, void *ud)
{
    int32_t a = 0, b = 0;
    (void)receiver;
    (void)ud;
    TU_CHECK(&B->err, ss_args_unpack(args, "ii", &a, &b) == 0 && a == 42 &&
                          b == 43);
    TU_CHECK(&B->err, sender_is(args, "my_process2", "o7_p2"));
    B->o2_from_o7++;
    basic_maybe_arm();
}

static void on_stop_fired(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)args;
    (void)ud;
    B->stop_fired++;
}

static void test_basic(void **state)
{
    (void)state;
    B = tu_shared_alloc(sizeof *B);
    tu_exits *ex = tu_exits_new("basic_exits");
    assert_non_null(ex);

    ss_loop *main_loop;
    ss_process *p, *p2;
    assert_int_equal(ss_loop_new(&main_loop, "main_loop", NULL), 0);
    assert_int_equal(tu_process_new(&p, "my_process1", NULL), 0);
    assert_int_equal(tu_process_new(&p2, "my_process2", NULL), 0);
    ss_loop *l1 = ss_process_loop(p), *l2 = ss_process_loop(p2);

    /* The seed's objects: o1, o2 on main; o3, o4, t on my_process1; o5,
     * o6 (detached below), o7, o8 on my_process2. C1s have "reply" and
     * "broadcast_signal", C2s "foo_signal". */
    /* Static: if the test fails half-way they stay in the loops' tables,
     * and must not point into a dead stack frame. */
    static c1 o1, o3, o5, o7;
    static ss_object o2, o4, o6, o8, o6b, o9;
    static ss_timer t;
    o1 = (c1){.inc = &B->o1_inc};
    o3 = (c1){.inc = &B->o3_inc};
    o5 = (c1){.inc = &B->o5_inc};
    o7 = (c1){.inc = NULL};
    assert_int_equal(ss_object_init(&o1.obj, main_loop, "o1"), 0);
    assert_int_equal(ss_object_init(&o2, main_loop, "o2"), 0);
    assert_int_equal(ss_object_init(&o3.obj, l1, "o3_p"), 0);
    assert_int_equal(ss_object_init(&o4, l1, "o4_p"), 0);
    assert_int_equal(ss_timer_init(&t, l1, SS_MSEC(5), false, "t"), 0);
    assert_int_equal(ss_object_init(&o5.obj, l2, "o5_p2"), 0);
    assert_int_equal(ss_object_init(&o6, l2, "o6_p2"), 0);
    assert_int_equal(ss_object_init(&o7.obj, l2, "o7_p2"), 0);
    assert_int_equal(ss_object_init(&o8, l2, "o8_p2"), 0);
    assert_int_equal(ss_object_init(&o9, l2, "o9_p2"), 0);
    c1 *c1s[] = {&o1, &o3, &o5, &o7};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ss_signal_add(&c1s[i]->obj, "reply", "si"), 0);
        assert_int_equal(
            ss_signal_add(&c1s[i]->obj, "broadcast_signal", "ii"), 0);
    }
    ss_object *c2s[] = {&o2, &o4, &o6, &o8};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(ss_signal_add(c2s[i], "foo_signal", "i"), 0);

    /* main -> main: connect, disconnect, reconnect. */
    assert_int_equal(ss_connect(&o2, "foo_signal", &o1.obj, c1_inc, "i", NULL),
                     0);
    assert_int_equal(ss_disconnect(&o2, "foo_signal", &o1.obj, c1_inc, NULL),
                     0);
    assert_int_equal(ss_disconnect(&o2, "foo_signal", &o1.obj, c1_inc, NULL),
                     SS_ENOENT);
    assert_int_equal(ss_connect(&o2, "foo_signal", &o1.obj, c1_inc, "i", NULL),
                     0);
    /* main -> my_process1; my_process1 -> my_process1, connected twice. */
    assert_int_equal(ss_connect(&o2, "foo_signal", &o3.obj, c1_inc, "i", NULL),
                     0);
    assert_int_equal(ss_connect(&o4, "foo_signal", &o3.obj, c1_inc, "i", NULL),
                     0);
    assert_int_equal(ss_connect(&o4, "foo_signal", &o3.obj, c1_inc, "i", NULL),
                     0);
    /* main -> my_process2, also connect, disconnect, reconnect. */
    assert_int_equal(ss_connect(&o2, "foo_signal", &o5.obj, c1_inc, "i", NULL),
                     0);
    assert_int_equal(ss_disconnect(&o2, "foo_signal", &o5.obj, c1_inc, NULL),
                     0);
    assert_int_equal(ss_connect(&o2, "foo_signal", &o5.obj, c1_inc, "i", NULL),
                     0);
    assert_int_equal(ss_connect(&o6, "foo_signal", &o5.obj, c1_inc, "i", NULL),
                     0);
    assert_int_equal(
        ss_connect(&o2, "foo_signal", &o9, o9_inc_once, "i", NULL), 0);
    /* A slot's signature must match the signal's. */
    assert_int_equal(ss_connect(&o6, "foo_signal", &o5.obj, c1_inc, "x", NULL),
                     SS_ESIGNATURE);
    /* Replies of o3 (my_process1) and o5 (my_process2) to one slot on main;
     * o5's also to my_process1 (o4), to o6 twice (detached below) and to o8
     * twice (delivered once). */
    assert_int_equal(
        ss_connect(&o3.obj, "reply", &o2, o2_on_reply, "si", NULL), 0);
    assert_int_equal(
        ss_connect(&o5.obj, "reply", &o2, o2_on_reply, "si", NULL), 0);
    assert_int_equal(ss_connect(&o5.obj, "reply", &o4, c2_on_reply, "si",
                                &B->o4_reply),
                     0);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(ss_connect(&o5.obj, "reply", &o6, c2_on_reply, "si",
                                    &B->o6_reply),
                         0);
        assert_int_equal(ss_connect(&o5.obj, "reply", &o8, c2_on_reply, "si",
                                    &B->o8_reply),
                         0);
    }
    /* o6 detached while connected both ways. */
    ss_object_destroy(&o6);
    assert_null(ss_object_loop(&o6));
    assert_int_equal(ss_emit(&o6, "foo_signal", (int32_t)1), SS_ENOENT);
    /* An id freed by detaching can be taken again. */
    assert_int_equal(ss_object_init(&o6b, l2, "o6_p2"), 0);
    ss_object_destroy(&o6b);

    /* o1's broadcast_signal broadcast on my_process2: o7 and o8 subscribe;
     * o7's own broadcast_signal goes back to main. */
    assert_int_equal(ss_signal_broadcast_on(&o1.obj, "broadcast_signal", l2),
                     0);
    assert_int_equal(ss_subscribe(&o7.obj, "broadcast_signal", on_bcast, "ii",
                                  &B->o7_bcast),
                     0);
    assert_int_equal(
        ss_subscribe(&o8, "broadcast_signal", on_bcast, "ii", &B->o8_bcast),
        0);
    assert_int_equal(ss_connect(&o7.obj, "broadcast_signal", &o2, o2_on_o7,
                                "ii", NULL),
                     0);
    /* The timer of my_process1 drives slots on my_process2 and on main. */
    assert_int_equal(ss_connect(&t.object, "timeout", &o7.obj, c1_on_timeout,
                                "", &B->o7_timeout),
                     0);
    assert_int_equal(ss_connect(&t.object, "timeout", &o1.obj, o1_on_timeout,
                                "", &B->o1_timeout),
                     0);
    /* The loops' "started": my_process1's to o4 there, my_process2's to o2
     * on main. */
    assert_int_equal(ss_connect(ss_loop_object(l1), "started", &o4,
                                o4_on_start, "", NULL),
                     0);
    assert_int_equal(ss_connect(ss_loop_object(l2), "started", &o2,
                                o2_on_p2_started, "", NULL),
                     0);

    /* The single-shot stop timer stops all three loops. It is started (by
     * basic_maybe_arm) once everything above has been observed. */
    assert_int_equal(ss_timer_init(&basic_stop_timer, main_loop, SS_MSEC(10),
                                   true, "stop_timer"),
                     0);
    ss_timer_stop(&basic_stop_timer);
    ss_object *stop_targets[] = {ss_loop_object(main_loop),
                                 ss_process_object(p),
                                 ss_process_object(p2)};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ss_connect(&basic_stop_timer.object, "timeout",
                                    stop_targets[i], ss_loop_stop_slot, "",
                                    NULL),
                         0);
    assert_int_equal(ss_connect(&basic_stop_timer.object, "timeout", &o2,
                                on_stop_fired, "", NULL),
                     0);
    assert_int_equal(tu_exits_watch(ex, p), 0);
    assert_int_equal(tu_exits_watch(ex, p2), 0);

    /* One foo before the processes start (held in their queues), one
     * after. */
    assert_int_equal(ss_emit(&o2, "foo_signal", (int32_t)123), 0);
    assert_int_equal(ss_process_start(p, NULL, NULL), 0);
    assert_int_equal(ss_process_start(p2, NULL, NULL), 0);
    /* Running processes: no new connection to them. */
    assert_int_equal(ss_connect(&o2, "foo_signal", &o8, c1_inc, "i", NULL),
                     SS_ENOTSUP);
    assert_int_equal(ss_emit(&o2, "foo_signal", (int32_t)124), 0);

    assert_int_equal(ss_loop_run(main_loop), SS_LOOP_STOPPED);
    int status = -1;
    assert_int_equal(ss_process_join(p, JOIN_TIMEOUT, &status), 0);
    assert_int_equal(status, 0);
    assert_int_equal(ss_process_join(p2, JOIN_TIMEOUT, &status), 0);
    assert_int_equal(status, 0);
    int code = -9, sig = -9, count = 0;
    assert_int_equal(tu_exits_wait(ex, "my_process1", JOIN_TIMEOUT, &code,
                                   &sig, &count),
                     0);
    assert_int_equal(code, 0);
    assert_int_equal(sig, 0);
    assert_int_equal(count, 1);
    assert_int_equal(tu_exits_wait(ex, "my_process2", JOIN_TIMEOUT, &code,
                                   &sig, &count),
                     0);
    assert_int_equal(code, 0);
    assert_int_equal(sig, 0);
    assert_int_equal(count, 1);

    assert_int_equal(tu_errs_report(&B->err, "basic"), 0);
    /* main -> main (reconnected: once each). */
    assert_vals(&B->o1_inc, (int[]){123, 124}, 2);
    /* o3: 123 and 124 from main in order, and 7 once from o4 (connected
     * twice), somewhere among them. */
    assert_int_equal(B->o3_inc.n, 3);
    int i123 = -1, i124 = -1, i7 = -1;
    for (int i = 0; i < 3; i++) {
        int v = B->o3_inc.v[i];
        if (v == 123)
            i123 = i;
        else if (v == 124)
            i124 = i;
        else if (v == 7)
            i7 = i;
    }
    assert_true(i123 >= 0 && i124 > i123 && i7 >= 0);
    assert_int_equal(B->o4_started, 1);
    /* o5: main's two, not o6's (detached); reconnected: once each. */
    assert_vals(&B->o5_inc, (int[]){123, 124}, 2);
    /* Replies: o3 counted to 3, o5 to 2, each in order, to every slot. */
    assert_vals(&B->o2_from_o3, (int[]){1, 2, 3}, 3);
    assert_vals(&B->o2_from_o5, (int[]){1, 2}, 2);
    assert_vals(&B->o4_reply, (int[]){1, 2}, 2);
    assert_vals(&B->o8_reply, (int[]){1, 2}, 2);
    assert_int_equal(B->o6_reply.n, 0);
    /* o9 got the first foo, detached itself, and not the second. */
    assert_vals(&B->o9_inc, (int[]){123}, 1);
    assert_int_equal(B->o2_p2_started, 1);
    /* Timer-driven: both loops ticked at least 3 times (the stop waited for
     * it); both subscribers got every broadcast my_process2 handled, which
     * are at most o1's emissions; main saw at most what o7 emitted. */
    assert_true(B->o1_timeout >= 3);
    assert_true(B->o2_from_o7 >= 3);
    assert_true(B->o7_timeout >= B->o2_from_o7);
    assert_true(B->o7_bcast >= 1);
    assert_int_equal(B->o7_bcast, B->o8_bcast);
    assert_true(B->o7_bcast <= B->o1_timeout);
    assert_int_equal(B->stop_fired, 1);

    ss_timer_destroy(&basic_stop_timer);
    ss_timer_destroy(&t);
    ss_object_destroy(&o1.obj);
    ss_object_destroy(&o2);
    ss_object_destroy(&o3.obj);
    ss_object_destroy(&o4);
    ss_object_destroy(&o5.obj);
    ss_object_destroy(&o7.obj);
    ss_object_destroy(&o8);
    ss_object_destroy(&o9); /* only the child's copy was detached */
    tu_process_free(p);
    tu_process_free(p2);
    ss_loop_free(main_loop);
    tu_exits_free(ex);
    tu_shared_free(B, sizeof *B);
    B = NULL;
}

/* ============================================================= multiarg */

#define MA_N 100

typedef struct multiarg_shm {
    tu_errs err;
    int started;            /* "started" slot calls */
    int received_at_start;  /* data handled before "started" was */
    int n;                  /* data received */
    int32_t ints[MA_N + 8]; /* the int argument, in arrival order */
} multiarg_shm;

static multiarg_shm *MA;

/* The dictionary of emission k: {"a": <k as int64>, "b": <"item-k">,
 * "c": <k / 4.0>, "d": <k odd>, "e": <[k, k+1, k+2] as ai>}, as the map
 * "{v}" of the signal "s1" (signature "{v}i"). */
static void ma_write_map(ss_writer *w, int k)
{
    char text[32];
    snprintf(text, sizeof text, "item-%d", k);
    ss_writer_map_begin(w, "v");
    ss_writer_put_string(w, "a");
    ss_writer_variant_begin(w, "x");
    ss_writer_put_int64(w, (int64_t)k * 1000000007);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "b");
    ss_writer_variant_begin(w, "s");
    ss_writer_put_string(w, text);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "c");
    ss_writer_variant_begin(w, "d");
    ss_writer_put_double(w, k / 4.0);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "d");
    ss_writer_variant_begin(w, "b");
    ss_writer_put_bool(w, k % 2 == 1);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "e");
    ss_writer_variant_begin(w, "ai");
    ss_writer_array_begin(w, "i");
    for (int j = 0; j < 3; j++)
        ss_writer_put_int32(w, k + j);
    ss_writer_array_end(w);
    ss_writer_variant_end(w);
    ss_writer_map_end(w);
}

/* Check the map of emission k (read in the child). */
static bool ma_check_map(const ss_value *map, int k)
{
    ss_reader r;
    size_t count = 0;
    if (ss_reader_init_value(&r, map) != 0 ||
        ss_reader_map_begin(&r, &count) != 0 || count != 5)
        return false;
    static const char *const keys[] = {"a", "b", "c", "d", "e"};
    static const char *const sigs[] = {"x", "s", "d", "b", "ai"};
    for (int e = 0; e < 5; e++) {
        const char *key, *vsig;
        size_t vlen;
        if (ss_reader_map_next(&r, &key, NULL) != 0 ||
            strcmp(key, keys[e]) != 0 ||
            ss_reader_variant_begin(&r, &vsig, &vlen) != 0 ||
            vlen != strlen(sigs[e]) || memcmp(vsig, sigs[e], vlen) != 0)
            return false;
        bool ok = false;
        if (e == 0) {
            int64_t v;
            ok = ss_reader_get_int64(&r, &v) == 0 &&
                 v == (int64_t)k * 1000000007;
        } else if (e == 1) {
            const char *s;
            char want[32];
            snprintf(want, sizeof want, "item-%d", k);
            ok = ss_reader_get_string(&r, &s, NULL) == 0 &&
                 strcmp(s, want) == 0;
        } else if (e == 2) {
            double d;
            ok = ss_reader_get_double(&r, &d) == 0 && d == k / 4.0;
        } else if (e == 3) {
            bool b;
            ok = ss_reader_get_bool(&r, &b) == 0 && b == (k % 2 == 1);
        } else {
            size_t n = 0;
            ok = ss_reader_array_begin(&r, &n) == 0 && n == 3;
            for (int j = 0; ok && j < 3; j++) {
                int32_t v;
                ok = ss_reader_get_int32(&r, &v) == 0 && v == k + j;
            }
            ok = ok && ss_reader_array_end(&r) == 0;
        }
        if (!ok || ss_reader_variant_end(&r) != 0)
            return false;
    }
    return ss_reader_map_end(&r) == 0 && ss_reader_at_end(&r);
}

static void ma_on_s1(ss_object *receiver, const ss_args *args, void *ud)
{
    ss_value map;
    int32_t k = -1;
    (void)ud;
    if (!TU_CHECK(&MA->err, ss_args_unpack(args, "{v}i", &map, &k) == 0))
        return;
    TU_CHECK(&MA->err, strcmp(ss_args_signature(args), "{v}i") == 0);
    TU_CHECK(&MA->err, sender_is(args, "_p1", "o1"));
    TU_CHECK(&MA->err, ma_check_map(&map, k));
    if (MA->n < MA_N + 8)
        MA->ints[MA->n] = k;
    MA->n++;
    if (MA->n == MA_N)
        TU_CHECK(&MA->err, ss_emit(receiver, "done", (int32_t)MA->n) == 0);
}

static void ma_on_start(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)ud;
    TU_CHECK(&MA->err, sender_is(args, "_p1", "_p1"));
    MA->started++;
    MA->received_at_start = MA->n;
}

static void ma_on_done(ss_object *receiver, const ss_args *args, void *ud)
{
    int32_t n = 0;
    int *done = ud;
    TU_CHECK(&MA->err, ss_args_unpack(args, "i", &n) == 0 && n == MA_N);
    (*done)++;
    ss_loop_stop(ss_object_loop(receiver));
}

/* Emit emission k of "s1" alone, with the map passed as a view. */
static int ma_emit_one(ss_object *o1, int k)
{
    unsigned char buf[512];
    ss_writer w;
    ss_writer_init(&w, buf, sizeof buf);
    ma_write_map(&w, k);
    ss_value v = {"{v}", NULL, 0};
    int rc = ss_writer_data(&w, &v.data, &v.len);
    if (rc == 0)
        rc = ss_emit(o1, "s1", &v, (int32_t)k);
    ss_writer_free(&w);
    return rc;
}

/* Emit emissions first..first+n-1 of "s1" in one batch (ss_emit_many). */
static int ma_emit_batch(ss_object *o1, int first, int n)
{
    ss_writer w[MA_N];
    ss_msg msgs[MA_N];
    memset(msgs, 0, sizeof msgs);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        ss_writer_init(&w[i], NULL, 0);
        ma_write_map(&w[i], first + i);
        ss_pack(&w[i], "i", (int32_t)(first + i));
        int e = ss_writer_data(&w[i], &msgs[i].data, &msgs[i].len);
        if (rc == 0)
            rc = e;
    }
    if (rc == 0)
        rc = ss_emit_many(o1, "s1", msgs, (size_t)n);
    for (int i = 0; i < n; i++)
        ss_writer_free(&w[i]);
    return rc;
}

static void test_multiarg(void **state)
{
    (void)state;
    MA = tu_shared_alloc(sizeof *MA);
    ss_process *p;
    ss_loop *main_loop;
    assert_int_equal(tu_process_new(&p, "_p1", NULL), 0);
    assert_int_equal(ss_loop_new(&main_loop, "multiarg_loop", NULL), 0);
    static ss_object o1, o2, back; /* static: see test_basic */
    assert_int_equal(ss_object_init(&o1, ss_process_loop(p), "o1"), 0);
    assert_int_equal(ss_object_init(&o2, ss_process_loop(p), "o2"), 0);
    assert_int_equal(ss_object_init(&back, main_loop, "back"), 0);
    assert_int_equal(ss_signal_add(&o1, "s1", "{v}i"), 0);
    assert_int_equal(ss_signal_add(&o2, "done", "i"), 0);
    /* "{sv}" is D-Bus style; here a map's braces hold the value type. */
    assert_int_equal(ss_signal_add(&o1, "bad", "{sv}"), SS_ESIGNATURE);
    assert_int_equal(ss_connect(ss_loop_object(ss_process_loop(p)), "started",
                                &o2, ma_on_start, "", NULL),
                     0);
    assert_int_equal(ss_connect(&o1, "s1", &o2, ma_on_s1, "{v}i", NULL), 0);
    int done = 0;
    assert_int_equal(ss_connect(&o2, "done", &back, ma_on_done, "i", &done),
                     0);

    /* Before the start: single and batched emissions interleaved, from the
     * parent (o1's loop has not started). A wrongly typed batch is refused
     * as a whole. */
    int k = 0;
    for (; k < 10; k++)
        assert_int_equal(ma_emit_one(&o1, k), 0);
    assert_int_equal(ma_emit_batch(&o1, k, 2), 0);
    k += 2;
    for (; k < 15; k++)
        assert_int_equal(ma_emit_one(&o1, k), 0);
    {
        unsigned char bad[8] = {1, 2, 3};
        ss_msg m = {bad, 3};
        assert_int_equal(ss_emit_many(&o1, "s1", &m, 1), SS_EMALFORMED);
    }
    assert_int_equal(ma_emit_batch(&o1, k, 40), 0);
    k += 40;
    assert_int_equal(ma_emit_one(&o1, k++), 0);
    assert_int_equal(ma_emit_batch(&o1, k, MA_N - k), 0);
    k = MA_N;

    assert_int_equal(ss_process_start(p, NULL, NULL), 0);
    assert_int_equal(ss_loop_run(main_loop), SS_LOOP_STOPPED);
    assert_int_equal(done, 1);
    assert_int_equal(ss_process_stop(p), 0);
    int status = -1;
    assert_int_equal(ss_process_join(p, JOIN_TIMEOUT, &status), 0);
    assert_int_equal(status, 0);

    assert_int_equal(tu_errs_report(&MA->err, "multiarg"), 0);
    assert_int_equal(MA->n, MA_N);
    for (int i = 0; i < MA_N; i++)
        assert_int_equal(MA->ints[i], i);
    assert_int_equal(MA->started, 1);
    /* "started" is emitted when the loop starts, after what was queued
     * before: everything emitted before the start was handled first. */
    assert_int_equal(MA->received_at_start, MA_N);

    ss_object_destroy(&o1);
    ss_object_destroy(&o2);
    ss_object_destroy(&back);
    tu_process_free(p);
    ss_loop_free(main_loop);
    tu_shared_free(MA, sizeof *MA);
    MA = NULL;
}

/* ============================================================= same ids */

typedef struct same_shm {
    tu_errs err;
    int pings[2]; /* received by "same" on proc_a, proc_b */
} same_shm;

static same_shm *SI;

/* "same" on a process: answer with our loop's name. */
static void same_on_ping(ss_object *receiver, const ss_args *args, void *ud)
{
    int32_t v = 0;
    int idx = (int)(intptr_t)ud;
    if (!TU_CHECK(&SI->err, ss_args_unpack(args, "i", &v) == 0))
        return;
    TU_CHECK(&SI->err, sender_is(args, "same_main", "same"));
    TU_CHECK(&SI->err, strcmp(ss_object_id(receiver), "same") == 0);
    SI->pings[idx]++;
    TU_CHECK(&SI->err,
             ss_emit(receiver, "pong", ss_loop_name(ss_object_loop(receiver)),
                     v) == 0);
}

typedef struct same_main {
    ss_object obj;
    int from_a, from_b, bad;
} same_main;

static void same_on_pong(ss_object *receiver, const ss_args *args, void *ud)
{
    same_main *m = (same_main *)receiver;
    const char *name = NULL, *loop = NULL, *obj = NULL;
    int32_t v = 0;
    (void)ud;
    ss_args_sender(args, &loop, &obj, NULL);
    if (ss_args_unpack(args, "si", &name, &v) != 0 || !loop || !obj ||
        strcmp(obj, "same") != 0 || strcmp(loop, name) != 0 || v != 5) {
        m->bad++;
    } else if (strcmp(name, "proc_a") == 0) {
        m->from_a++;
    } else if (strcmp(name, "proc_b") == 0) {
        m->from_b++;
    } else {
        m->bad++;
    }
    if (m->from_a + m->from_b + m->bad == 2)
        ss_loop_stop(ss_object_loop(receiver));
}

static void test_same_ids(void **state)
{
    (void)state;
    SI = tu_shared_alloc(sizeof *SI);
    ss_loop *main_loop;
    ss_process *pa, *pb, *dup;
    assert_int_equal(ss_loop_new(&main_loop, "same_main", NULL), 0);
    assert_int_equal(tu_process_new(&pa, "proc_a", NULL), 0);
    assert_int_equal(tu_process_new(&pb, "proc_b", NULL), 0);
    /* Loop (and process) names are unique in the program. */
    assert_int_equal(ss_process_new(&dup, "proc_a", NULL), SS_EEXIST);
    assert_int_equal(ss_process_new(&dup, "same_main", NULL), SS_EEXIST);

    static same_main m; /* static: see test_basic */
    static ss_object a, b, twin, other;
    memset(&m, 0, sizeof m);
    /* The same id on three loops: allowed. */
    assert_int_equal(ss_object_init(&m.obj, main_loop, "same"), 0);
    assert_int_equal(ss_object_init(&a, ss_process_loop(pa), "same"), 0);
    assert_int_equal(ss_object_init(&b, ss_process_loop(pb), "same"), 0);
    /* Twice on one loop: refused, on a thread loop and a process loop. */
    assert_int_equal(ss_object_init(&twin, main_loop, "same"), SS_EEXIST);
    assert_int_equal(ss_object_init(&twin, ss_process_loop(pa), "same"),
                     SS_EEXIST);
    /* A loop is an object on itself: its name is taken there too. */
    assert_int_equal(ss_object_init(&twin, ss_process_loop(pa), "proc_a"),
                     SS_EEXIST);
    /* ...but is free on another loop. */
    assert_int_equal(ss_object_init(&other, ss_process_loop(pb), "proc_a"),
                     0);
    static ss_timer tdup;
    assert_int_equal(ss_timer_init(&tdup, main_loop, SS_SEC(1), true, "same"),
                     SS_EEXIST);

    assert_int_equal(ss_signal_add(&m.obj, "ping", "i"), 0);
    assert_int_equal(ss_signal_add(&a, "pong", "si"), 0);
    assert_int_equal(ss_signal_add(&b, "pong", "si"), 0);
    assert_int_equal(ss_connect(&m.obj, "ping", &a, same_on_ping, "i",
                                (void *)(intptr_t)0),
                     0);
    assert_int_equal(ss_connect(&m.obj, "ping", &b, same_on_ping, "i",
                                (void *)(intptr_t)1),
                     0);
    assert_int_equal(
        ss_connect(&a, "pong", &m.obj, same_on_pong, "si", NULL), 0);
    assert_int_equal(
        ss_connect(&b, "pong", &m.obj, same_on_pong, "si", NULL), 0);
    assert_int_equal(ss_process_start(pa, NULL, NULL), 0);
    assert_int_equal(ss_process_start(pb, NULL, NULL), 0);
    assert_int_equal(ss_emit(&m.obj, "ping", (int32_t)5), 0);
    assert_int_equal(ss_loop_run(main_loop), SS_LOOP_STOPPED);
    assert_int_equal(m.bad, 0);
    assert_int_equal(m.from_a, 1);
    assert_int_equal(m.from_b, 1);

    ss_process *ps[] = {pa, pb};
    for (int i = 0; i < 2; i++) {
        int status = -1;
        assert_int_equal(ss_process_stop(ps[i]), 0);
        assert_int_equal(ss_process_join(ps[i], JOIN_TIMEOUT, &status), 0);
        assert_int_equal(status, 0);
    }
    assert_int_equal(tu_errs_report(&SI->err, "same_ids"), 0);
    assert_int_equal(SI->pings[0], 1);
    assert_int_equal(SI->pings[1], 1);

    ss_object_destroy(&m.obj);
    ss_object_destroy(&a);
    ss_object_destroy(&b);
    ss_object_destroy(&other);
    tu_process_free(pa);
    tu_process_free(pb);
    ss_loop_free(main_loop);
    tu_shared_free(SI, sizeof *SI);
    SI = NULL;
}

/* ============================================================= overflow */

#define OV_PRE 400        /* emitted before the start: into an unread queue */
#define OV_WANT 300       /* single emissions until the child got this many */
#define OV_FLOOD 200000   /* ...but at most this many */
#define OV_BATCHES 1000   /* then batches of OV_BATCH */
#define OV_BATCH 10
#define OV_TOTAL (OV_PRE + OV_FLOOD + OV_BATCHES * OV_BATCH)

typedef struct overflow_shm {
    tu_errs err;
    int n;                  /* "flood" messages received by the child */
    int order_bad;          /* a seq not above the previous one */
    int32_t seqs[OV_TOTAL]; /* in arrival order */
    int fin_ok;             /* "fin" received */
    int huge;               /* "huge" received: never (it cannot fit) */
} overflow_shm;

static overflow_shm *OV;

/* The slow slot: records the sequence number and sleeps a little. */
static void ov_on_flood(ss_object *receiver, const ss_args *args, void *ud)
{
    int32_t seq = -1;
    (void)receiver;
    (void)ud;
    if (!TU_CHECK(&OV->err, ss_args_unpack(args, "is", &seq, NULL) == 0))
        return;
    if (OV->n > 0 && seq <= OV->seqs[OV->n - 1])
        OV->order_bad++;
    if (TU_CHECK(&OV->err, OV->n < OV_TOTAL)) {
        OV->seqs[OV->n] = seq;
        __atomic_store_n(&OV->n, OV->n + 1, __ATOMIC_RELEASE);
    }
    tu_sleep_us(100);
}

static void ov_on_huge(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)args;
    (void)ud;
    OV->huge++;
}

static void ov_on_fin(ss_object *receiver, const ss_args *args, void *ud)
{
    int32_t sent = -1;
    (void)ud;
    TU_CHECK(&OV->err, ss_args_unpack(args, "i", &sent) == 0);
    OV->fin_ok++;
    /* Report what arrived: the parent compares it with what it sent. */
    TU_CHECK(&OV->err, ss_emit(receiver, "report", (int32_t)OV->n,
                               (int32_t)OV->order_bad) == 0);
}

typedef struct ov_main {
    ss_object obj;
    int reports;
    int32_t n, order_bad;
} ov_main;

static void ov_on_report(ss_object *receiver, const ss_args *args, void *ud)
{
    ov_main *m = (ov_main *)receiver;
    (void)ud;
    if (ss_args_unpack(args, "ii", &m->n, &m->order_bad) == 0)
        m->reports++;
    ss_loop_stop(ss_object_loop(receiver));
}

/* One flood emission: seq and some text, so messages are not tiny. */
static int ov_emit(ss_object *o, int seq)
{
    return ss_emit(o, "flood", (int32_t)seq, "overflowing the queue");
}

/* Drop lines ("... dropped (N drops of this signal so far)") are counted
 * per signal instead of printed; other lines go to stderr. */
static int g_drop_lines_flood, g_drop_lines_fin;

static void count_drop_lines(ss_log_level level, const char *component,
                             const char *message, void *ud)
{
    (void)ud;
    if (strstr(message, "drops of this signal so far")) {
        if (strstr(message, "flooder.flood "))
            __atomic_fetch_add(&g_drop_lines_flood, 1, __ATOMIC_RELAXED);
        else if (strstr(message, "flooder.fin "))
            __atomic_fetch_add(&g_drop_lines_fin, 1, __ATOMIC_RELAXED);
        return;
    }
    fprintf(stderr, "[%d] %s %s: %s\n", (int)getpid(),
            level == SS_LOG_ERROR ? "ERROR" : "WARN", component, message);
}

static void test_overflow(void **state)
{
    (void)state;
    ss_log_set_handler(count_drop_lines, NULL);
    g_drop_lines_flood = g_drop_lines_fin = 0;
    OV = tu_shared_alloc(sizeof *OV);
    ss_loop_options small;
    ss_loop_options_init(&small);
    small.queue_capacity = 4096; /* the smallest: one page */
    ss_process *p;
    ss_loop *main_loop;
    assert_int_equal(tu_process_new(&p, "slow_proc", &small), 0);
    assert_int_equal(ss_loop_new(&main_loop, "ov_main", NULL), 0);
    ss_loop *pl = ss_process_loop(p);
    assert_true(ss_queue_capacity(ss_loop_queue(pl)) < 8192);
    static ov_main m; /* static: see test_basic */
    static ss_object slow;
    memset(&m, 0, sizeof m);
    assert_int_equal(ss_object_init(&m.obj, main_loop, "flooder"), 0);
    assert_int_equal(ss_object_init(&slow, pl, "slow"), 0);
    assert_int_equal(ss_signal_add(&m.obj, "flood", "is"), 0);
    assert_int_equal(ss_signal_add(&m.obj, "fin", "i"), 0);
    assert_int_equal(ss_signal_add(&slow, "report", "ii"), 0);
    assert_int_equal(
        ss_connect(&m.obj, "flood", &slow, ov_on_flood, "is", NULL), 0);
    assert_int_equal(ss_connect(&m.obj, "fin", &slow, ov_on_fin, "i", NULL),
                     0);
    assert_int_equal(ss_signal_add(&m.obj, "huge", "y"), 0);
    assert_int_equal(
        ss_connect(&m.obj, "huge", &slow, ov_on_huge, "y", NULL), 0);
    assert_int_equal(
        ss_connect(&slow, "report", &m.obj, ov_on_report, "ii", NULL), 0);

    static bool ok[OV_TOTAL];
    memset(ok, 0, sizeof ok);
    int seq = 0, sent = 0, dropped = 0;

    /* 1. Before the start nobody reads: a prefix fits, the rest drops. */
    int first_drop = -1;
    for (; seq < OV_PRE; seq++) {
        int rc = ov_emit(&m.obj, seq);
        assert_true(rc == 0 || rc == SS_EAGAIN);
        ok[seq] = rc == 0;
        if (rc == 0) {
            sent++;
            assert_int_equal(first_drop, -1); /* no success after a drop */
        } else {
            dropped++;
            if (first_drop < 0)
                first_drop = seq;
        }
    }
    assert_true(sent > 0);
    assert_true(dropped > 0);
    assert_int_equal(ss_loop_dropped(pl), (uint64_t)dropped);
    assert_int_equal(ss_signal_dropped(&m.obj, "flood"), (uint64_t)dropped);

    /* 2. Started, with a slow slot, flooded with single emissions (with a
     * pause now and then, so that the queue is drained and refilled many
     * times) until the child has received OV_WANT of them. */
    assert_int_equal(ss_process_start(p, NULL, NULL), 0);
    for (int i = 0; i < OV_FLOOD; i++, seq++) {
        if (__atomic_load_n(&OV->n, __ATOMIC_ACQUIRE) >= OV_WANT)
            break;
        /* Usually a tenth of OV_FLOOD does. If the child is slow to get
         * going (a loaded machine), longer pauses in the second half give
         * it at least 15 s more instead of running out of emissions in a
         * fraction of a second. */
        if (i % 64 == 63)
            tu_sleep_us(i < OV_FLOOD / 2 ? 100 : 10000);
        int rc = ov_emit(&m.obj, seq);
        assert_true(rc == 0 || rc == SS_EAGAIN);
        ok[seq] = rc == 0;
        if (rc == 0)
            sent++;
        else
            dropped++;
    }
    /* 3. And with batches: all or none. */
    assert_true(__atomic_load_n(&OV->n, __ATOMIC_ACQUIRE) >= OV_WANT);
    int total = seq + OV_BATCHES * OV_BATCH;
    for (int b = 0; b < OV_BATCHES; b++) {
        if (b % 8 == 7)
            tu_sleep_us(100);
        unsigned char bufs[OV_BATCH][64];
        ss_msg msgs[OV_BATCH];
        for (int j = 0; j < OV_BATCH; j++) {
            ss_writer w;
            ss_writer_init(&w, bufs[j], sizeof bufs[j]);
            ss_pack(&w, "is", (int32_t)(seq + j), "overflowing the queue");
            assert_int_equal(ss_writer_data(&w, &msgs[j].data, &msgs[j].len),
                             0);
            assert_false(ss_writer_allocated(&w));
        }
        int rc = ss_emit_many(&m.obj, "flood", msgs, OV_BATCH);
        assert_true(rc == 0 || rc == SS_EAGAIN);
        for (int j = 0; j < OV_BATCH; j++, seq++) {
            ok[seq] = rc == 0;
            if (rc == 0)
                sent++;
            else
                dropped++;
        }
    }
    assert_int_equal(seq, total);
    assert_int_equal(sent + dropped, total);
    assert_true(dropped > 0);
    assert_int_equal(ss_signal_dropped(&m.obj, "flood"), (uint64_t)dropped);

    /* A message larger than the whole queue: dropped and counted, like
     * any other that does not fit, with SS_EMSGSIZE (a retry cannot help). */
    static unsigned char huge[64 << 10];
    assert_int_equal(ss_emit(&m.obj, "huge", (const void *)huge, sizeof huge),
                     SS_EMSGSIZE);
    assert_int_equal(ss_signal_dropped(&m.obj, "huge"), 1);
    assert_int_equal(ss_loop_dropped(pl), (uint64_t)dropped + 1);

    /* 4. "fin", retried until it fits (its drops are counted too). */
    int fin_drops = 0, rc;
    while ((rc = ss_emit(&m.obj, "fin", (int32_t)sent)) == SS_EAGAIN) {
        fin_drops++;
        tu_sleep_us(200);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(ss_signal_dropped(&m.obj, "fin"), (uint64_t)fin_drops);
    assert_int_equal(ss_loop_dropped(pl),
                     (uint64_t)(dropped + 1 + fin_drops));

    assert_int_equal(ss_loop_run(main_loop), SS_LOOP_STOPPED);
    assert_int_equal(m.reports, 1);
    assert_int_equal(ss_process_stop(p), 0);
    int status = -1;
    assert_int_equal(ss_process_join(p, JOIN_TIMEOUT, &status), 0);
    assert_int_equal(status, 0);

    assert_int_equal(tu_errs_report(&OV->err, "overflow"), 0);
    assert_int_equal(OV->fin_ok, 1);
    assert_int_equal(OV->huge, 0);
    assert_int_equal(m.order_bad, 0);
    /* delivered + dropped == emitted, and delivered is exactly the
     * emissions that returned 0, in order. */
    assert_int_equal(m.n, sent);
    assert_int_equal(OV->n, sent);
    assert_int_equal(sent + dropped, total);
    int j = 0;
    for (int s = 0; s < total; s++) {
        if (!ok[s])
            continue;
        assert_true(j < OV->n);
        assert_int_equal(OV->seqs[j], s);
        j++;
    }
    assert_int_equal(j, OV->n);

    /* Logged at the first drop, then once every 100 drops at most, and
     * no more than once a second. */
    assert_true(g_drop_lines_flood >= 1 &&
                g_drop_lines_flood <= 1 + dropped / 100);
    assert_true(fin_drops ? g_drop_lines_fin >= 1 &&
                                g_drop_lines_fin <= 1 + fin_drops / 100
                          : g_drop_lines_fin == 0);
    print_message("overflow: %d emitted, %d delivered, %d dropped (%d before "
                  "the start), %d drops of fin\n",
                  total, sent, dropped, OV_PRE - first_drop, fin_drops);
    ss_log_set_handler(NULL, NULL);

    ss_object_destroy(&m.obj);
    ss_object_destroy(&slow);
    tu_process_free(p);
    ss_loop_free(main_loop);
    tu_shared_free(OV, sizeof *OV);
    OV = NULL;
}

int main(void)
{
    tu_watchdog(90);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_basic, tu_process_teardown),
        cmocka_unit_test_teardown(test_multiarg, tu_process_teardown),
        cmocka_unit_test_teardown(test_same_ids, tu_process_teardown),
        cmocka_unit_test_teardown(test_overflow, tu_process_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

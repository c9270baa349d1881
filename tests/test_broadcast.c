/*
 * test_broadcast.c - signals broadcast on a loop and objects there that
 * subscribe to them by name: who receives what, from which emitter, after
 * unsubscribing, with a wrong signature, and across threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal_slot.h>
#include <string.h>

#include "testutil.h"

typedef struct sub {
    ss_object obj;
    int64_t sum;
    int calls;
    int from_e, from_f;
    bool destroy_on_call;
} sub;

static void on_tick(ss_object *receiver, const ss_args *args, void *ud)
{
    sub *s = (sub *)receiver;
    int64_t v;
    (void)ud;
    assert_int_equal(ss_args_unpack(args, "x", &v), 0);
    const char *loop, *obj, *sig;
    ss_args_sender(args, &loop, &obj, &sig);
    assert_string_equal(loop, "bcA");
    assert_string_equal(sig, "tick");
    s->from_e += strcmp(obj, "e") == 0;
    s->from_f += strcmp(obj, "f") == 0;
    s->sum += v;
    s->calls++;
    if (s->destroy_on_call)
        ss_object_destroy(receiver);
}

static int wrong_calls;

static void on_tick_wrong(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)args;
    (void)ud;
    wrong_calls++;
}

/* Runs loop b until everything queued so far is handled. */
static void drain(ss_loop *b)
{
    assert_int_equal(ss_loop_stop(b), 0);
    assert_int_equal(ss_loop_run(b), SS_LOOP_STOPPED);
}

static void test_subscribers_get_every_emitter(void **state)
{
    (void)state;
    ss_loop *a, *b;
    assert_int_equal(ss_loop_new(&a, "bcA", NULL), 0);
    assert_int_equal(ss_loop_new(&b, "bcB", NULL), 0);
    ss_object e, f;
    sub s1 = {0}, s2 = {0}, s3 = {0};
    assert_int_equal(ss_object_init(&e, a, "e"), 0);
    assert_int_equal(ss_object_init(&f, a, "f"), 0);
    assert_int_equal(ss_object_init(&s1.obj, b, "s1"), 0);
    assert_int_equal(ss_object_init(&s2.obj, b, "s2"), 0);
    assert_int_equal(ss_object_init(&s3.obj, b, "s3"), 0);
    assert_int_equal(ss_signal_add(&e, "tick", "x"), 0);
    assert_int_equal(ss_signal_add(&f, "tick", "x"), 0);
    assert_int_equal(ss_signal_broadcast_on(&e, "tick", b), 0);
    assert_int_equal(ss_signal_broadcast_on(&e, "tick", b), 0); /* once */
    assert_int_equal(ss_signal_broadcast_on(&f, "tick", b), 0);
    assert_int_equal(ss_signal_broadcast_on(&e, "nope", b), SS_ENOENT);
    assert_int_equal(ss_subscribe(&s1.obj, "tick", on_tick, "x", NULL), 0);
    assert_int_equal(ss_subscribe(&s1.obj, "tick", on_tick, "x", NULL), 0);
    assert_int_equal(ss_subscribe(&s2.obj, "tick", on_tick, "x", NULL), 0);
    /* A subscriber that expects another signature is never called. */
    assert_int_equal(ss_subscribe(&s3.obj, "tick", on_tick_wrong, "s", NULL),
                     0);
    assert_int_equal(ss_subscribe(&s3.obj, "tick", on_tick, "a(", NULL),
                     SS_ESIGNATURE);

    for (int64_t k = 1; k <= 10; k++)
        assert_int_equal(ss_emit(&e, "tick", k), 0);
    for (int64_t k = 1; k <= 5; k++)
        assert_int_equal(ss_emit(&f, "tick", 100 * k), 0);
    drain(b);
    assert_int_equal(s1.calls, 15);
    assert_int_equal(s1.sum, 55 + 1500);
    assert_int_equal(s1.from_e, 10);
    assert_int_equal(s1.from_f, 5);
    assert_int_equal(s2.calls, 15);
    assert_int_equal(wrong_calls, 0);

    /* Unsubscribed: s2 gets nothing more; twice is SS_ENOENT. */
    assert_int_equal(ss_unsubscribe(&s2.obj, "tick", on_tick, NULL), 0);
    assert_int_equal(ss_unsubscribe(&s2.obj, "tick", on_tick, NULL),
                     SS_ENOENT);
    assert_int_equal(ss_emit(&e, "tick", (int64_t)1000), 0);
    drain(b);
    assert_int_equal(s1.calls, 16);
    assert_int_equal(s2.calls, 15);

    /* A subscriber destroyed in its slot is not called again. */
    s1.destroy_on_call = true;
    assert_int_equal(ss_emit(&e, "tick", (int64_t)1), 0);
    assert_int_equal(ss_emit(&e, "tick", (int64_t)1), 0);
    drain(b);
    assert_int_equal(s1.calls, 17);

    ss_object_destroy(&e);
    ss_object_destroy(&f);
    ss_object_destroy(&s2.obj);
    ss_object_destroy(&s3.obj);
    ss_loop_free(a);
    ss_loop_free(b);
}

static void test_broadcast_to_loop_thread(void **state)
{
    (void)state;
    ss_loop *a, *b;
    assert_int_equal(ss_loop_new(&a, "bcA", NULL), 0);
    assert_int_equal(ss_loop_new(&b, "bcT", NULL), 0);
    ss_object e;
    sub s1 = {0};
    assert_int_equal(ss_object_init(&e, a, "e"), 0);
    assert_int_equal(ss_object_init(&s1.obj, b, "s1"), 0);
    assert_int_equal(ss_signal_add(&e, "tick", "x"), 0);
    assert_int_equal(ss_signal_broadcast_on(&e, "tick", b), 0);
    assert_int_equal(ss_subscribe(&s1.obj, "tick", on_tick, "x", NULL), 0);
    assert_int_equal(ss_loop_start_thread(b), 0);
    int64_t expect = 0;
    for (int64_t k = 1; k <= 5000; k++) {
        int rc;
        while ((rc = ss_emit(&e, "tick", k)) == SS_EAGAIN)
            ; /* the loop's queue was full: send it again */
        assert_int_equal(rc, 0);
        expect += k;
    }
    assert_int_equal(ss_loop_stop(b), 0);
    int status;
    assert_int_equal(ss_loop_join_thread(b, &status), 0);
    assert_int_equal(status, SS_LOOP_STOPPED);
    assert_int_equal(s1.calls, 5000);
    assert_int_equal(s1.sum, expect);
    ss_object_destroy(&e);
    ss_object_destroy(&s1.obj);
    ss_loop_free(a);
    ss_loop_free(b);
}

static int alloc_calls;

static void on_alloc(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)args;
    (void)ud;
    assert_string_equal(ss_object_id(receiver), "heap");
    alloc_calls++;
}

/* Objects the library allocates take part like embedded ones. */
static void test_library_allocated_objects(void **state)
{
    (void)state;
    ss_loop *a;
    assert_int_equal(ss_loop_new(&a, "alloc", NULL), 0);
    ss_object *e, *r, *dup = NULL;
    assert_int_equal(ss_object_new(&e, a, NULL), 0);
    assert_int_equal(ss_object_new(&r, a, "heap"), 0);
    assert_int_equal(ss_object_new(&dup, a, "heap"), SS_EEXIST);
    assert_null(dup);
    assert_int_equal(ss_signal_add(e, "go", ""), 0);
    assert_int_equal(ss_connect(e, "go", r, on_alloc, "", NULL), 0);
    assert_int_equal(ss_emit(e, "go"), 0);
    assert_int_equal(ss_emit(e, "go"), 0);
    assert_int_equal(ss_loop_stop(a), 0);
    assert_int_equal(ss_loop_run(a), SS_LOOP_STOPPED);
    assert_int_equal(alloc_calls, 2);
    ss_object_free(r); /* connections to it go with it */
    assert_int_equal(ss_emit(e, "go"), 0);
    ss_object_free(e);
    ss_loop_free(a);
}

int main(void)
{
    tu_watchdog(60);
    ss_log_set_level(SS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscribers_get_every_emitter),
        cmocka_unit_test(test_broadcast_to_loop_thread),
        cmocka_unit_test(test_library_allocated_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

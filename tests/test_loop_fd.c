/*
 * test_loop_fd.c - a loop embedded in a poll() loop through ss_loop_fd()
 * and ss_loop_next_timeout(): the descriptor is readable exactly when
 * there is work, also for deliveries from another thread, and timers are
 * served through the reported timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <signal_slot.h>

#include "testutil.h"

static int readable(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    return r == 1 && (p.revents & POLLIN);
}

typedef struct counter {
    ss_object obj;
    int64_t sum;
    int calls;
} counter;

static void on_value(ss_object *receiver, const ss_args *args, void *ud)
{
    counter *c = (counter *)receiver;
    int64_t v;
    (void)ud;
    assert_int_equal(ss_args_unpack(args, "x", &v), 0);
    c->sum += v;
    c->calls++;
}

static void on_timeout(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)args;
    (*(int *)ud)++;
}

static void test_fd_readable_when_work(void **state)
{
    (void)state;
    ss_loop *src, *emb;
    assert_int_equal(ss_loop_new(&src, "fdsrc", NULL), 0);
    assert_int_equal(ss_loop_new(&emb, "fdemb", NULL), 0);
    ss_object e;
    counter c = {0};
    assert_int_equal(ss_object_init(&e, src, "e"), 0);
    assert_int_equal(ss_object_init(&c.obj, emb, "c"), 0);
    assert_int_equal(ss_signal_add(&e, "v", "x"), 0);
    assert_int_equal(ss_connect(&e, "v", &c.obj, on_value, "x", NULL), 0);

    int fd = ss_loop_fd(emb);
    assert_true(fd >= 0);
    assert_int_equal(ss_loop_fd(emb), fd); /* the same one every time */
    /* Created readable (in case work was queued before): serve it. */
    assert_int_equal(ss_loop_run_once(emb, SS_NO_WAIT), 0);
    assert_false(readable(fd, 0));

    assert_int_equal(ss_emit(&e, "v", (int64_t)5), 0);
    assert_int_equal(ss_emit(&e, "v", (int64_t)7), 0);
    assert_true(readable(fd, 1000));
    assert_int_equal(ss_loop_run_once(emb, SS_NO_WAIT), 0);
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.sum, 12);
    assert_false(readable(fd, 0));

    /* No timer: no timeout. A timer: its deadline, served via poll. */
    assert_int_equal(ss_loop_next_timeout(emb), -1);
    ss_timer t;
    int fired = 0;
    int64_t t0 = tu_now_ns();
    assert_int_equal(ss_timer_init(&t, emb, SS_MSEC(20), true, "t"), 0);
    assert_int_equal(ss_connect(&t.object, "timeout", &c.obj, on_timeout, "",
                                &fired),
                     0);
    int64_t left = ss_loop_next_timeout(emb);
    /* The deadline is 20 ms after a time between t0 and now: what is left
     * is at most 20 ms, and at least 20 ms less the time this thread took
     * (which a loaded machine may stretch past 20 ms: then 0, due now). */
    int64_t took = tu_now_ns() - t0;
    assert_true(left <= SS_MSEC(20));
    assert_true(left >= (took < SS_MSEC(20) ? SS_MSEC(20) - took : 0));
    for (int rounds = 0; fired == 0 && rounds < 100; rounds++) {
        int64_t to = ss_loop_next_timeout(emb);
        readable(fd, to < 0 ? 100 : (int)(to / 1000000) + 1);
        assert_int_equal(ss_loop_run_once(emb, SS_NO_WAIT), 0);
    }
    assert_int_equal(fired, 1);
    assert_int_equal(ss_loop_next_timeout(emb), -1); /* single shot */

    /* A stop request makes it readable too, and is seen. */
    assert_int_equal(ss_loop_stop(emb), 0);
    assert_true(readable(fd, 1000));
    assert_int_equal(ss_loop_run_once(emb, SS_NO_WAIT), SS_LOOP_STOPPED);
    assert_true(ss_loop_stopped(emb));

    ss_timer_destroy(&t);
    ss_object_destroy(&e);
    ss_object_destroy(&c.obj);
    ss_loop_free(src);
    ss_loop_free(emb);
}

static ss_object *g_emitter;

static void *emit_many_values(void *arg)
{
    (void)arg;
    for (int64_t k = 1; k <= 2000; k++)
        while (ss_emit(g_emitter, "v", k) == SS_EAGAIN)
            ;
    return NULL;
}

/* Deliveries from another thread wake a poll() that sleeps on the fd; no
 * message is left behind when the poll loop stops. */
static void test_fd_wakes_poll_from_thread(void **state)
{
    (void)state;
    ss_loop *src, *emb;
    assert_int_equal(ss_loop_new(&src, "fdsrc2", NULL), 0);
    assert_int_equal(ss_loop_new(&emb, "fdemb2", NULL), 0);
    ss_object e;
    counter c = {0};
    assert_int_equal(ss_object_init(&e, src, "e"), 0);
    assert_int_equal(ss_object_init(&c.obj, emb, "c"), 0);
    assert_int_equal(ss_signal_add(&e, "v", "x"), 0);
    assert_int_equal(ss_connect(&e, "v", &c.obj, on_value, "x", NULL), 0);
    int fd = ss_loop_fd(emb);
    assert_true(fd >= 0);
    g_emitter = &e;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, emit_many_values, NULL), 0);
    int64_t t0 = tu_now_ns();
    while (c.calls < 2000 && tu_now_ns() - t0 < SS_SEC(20)) {
        if (readable(fd, 1000))
            assert_int_equal(ss_loop_run_once(emb, SS_NO_WAIT), 0);
    }
    pthread_join(th, NULL);
    assert_int_equal(c.calls, 2000);
    assert_int_equal(c.sum, 2000 * 2001 / 2);
    ss_object_destroy(&e);
    ss_object_destroy(&c.obj);
    ss_loop_free(src);
    ss_loop_free(emb);
}

int main(void)
{
    tu_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_readable_when_work),
        cmocka_unit_test(test_fd_wakes_poll_from_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

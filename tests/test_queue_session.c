/*
 * test_queue_session.c - who may finish a zero-copy read, and that a caller's
 * timeout also bounds the wait for its own side's lock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <signal_slot.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static ss_queue *q;

static int setup(void **state)
{
    (void)state;
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = 8192;
    return ss_queue_create(&q, &o);
}

static int teardown(void **state)
{
    (void)state;
    tu_reap_all();
    ss_queue_destroy(q);
    q = NULL;
    return 0;
}

static void *hold_session(void *arg)
{
    _Atomic int *stage = arg;
    ss_msg m[4];
    size_t n;
    if (ss_queue_read_begin(q, m, 4, &n, SS_NO_WAIT) != 0)
        return NULL;
    atomic_store(stage, 1);
    while (atomic_load(stage) != 2)
        usleep(1000);
    ss_queue_read_end(q, 0);
    return NULL;
}

/* While another thread holds the consumer side in a zero-copy read, a get
 * with SS_NO_WAIT answers at once and a timed get times out: neither blocks
 * on the lock beyond what it asked for. */
static void test_own_lock_honours_timeout(void **state)
{
    (void)state;
    assert_int_equal(ss_queue_put(q, "held", 4, SS_NO_WAIT), 0);
    _Atomic int stage = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_session, &stage), 0);
    while (atomic_load(&stage) != 1)
        usleep(1000);
    char buf[16];
    size_t len;
    int64_t t0 = tu_now_ns();
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT),
                     SS_EAGAIN);
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_MSEC(30)),
                     SS_ETIMEDOUT);
    assert_true(tu_now_ns() - t0 >= SS_MSEC(30));
    atomic_store(&stage, 2);
    pthread_join(t, NULL);
    /* The session consumed nothing: the message is still there. */
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "held", 4);
}

static int child_read_end(void *arg)
{
    (void)arg;
    /* The session belongs to the parent's thread, not to this process. */
    return ss_queue_read_end(q, 1) == SS_ESTATE ? 0 : 1;
}

/* fork() inside a read session: the child cannot end (and commit) the
 * parent's session; the parent's read consumes exactly what it saw. */
static void test_fork_during_session(void **state)
{
    (void)state;
    assert_int_equal(ss_queue_put(q, "a", 1, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_put(q, "b", 1, SS_NO_WAIT), 0);
    ss_msg m[1];
    size_t n;
    assert_int_equal(ss_queue_read_begin(q, m, 1, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 1);
    pid_t pid = tu_fork(child_read_end, NULL);
    assert_true(pid > 0);
    assert_int_equal(tu_wait(pid, 10000), 0);
    assert_int_equal(ss_queue_read_end(q, 1), 0);
    char buf[4];
    size_t len;
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 'b');
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT),
                     SS_EAGAIN);
}

static void *session_then_exit(void *arg)
{
    (void)arg;
    ss_msg m[1];
    size_t n;
    ss_queue_read_begin(q, m, 1, &n, SS_NO_WAIT);
    return NULL; /* exits holding the consumer side */
}

static void *try_read_end(void *arg)
{
    int *rc = arg;
    *rc = ss_queue_read_end(q, 1);
    return NULL;
}

/* A thread that exits inside a session: another thread (which may reuse its
 * stack and thread-local storage) cannot end it; the next consumer repairs
 * the side and gets the message, which was never consumed. */
static void test_thread_exit_during_session(void **state)
{
    (void)state;
    assert_int_equal(ss_queue_put(q, "kept", 4, SS_NO_WAIT), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, session_then_exit, NULL), 0);
    pthread_join(t, NULL);
    int rc = 0;
    assert_int_equal(pthread_create(&t, NULL, try_read_end, &rc), 0);
    pthread_join(t, NULL);
    assert_int_equal(rc, SS_ESTATE);
    char buf[8];
    size_t len;
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_SEC(5)), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "kept", 4);
    ss_queue_stats st;
    assert_int_equal(ss_queue_get_stats(q, &st), 0);
    assert_true(st.repairs >= 1);
}

int main(void)
{
    tu_watchdog(60);
    ss_log_set_level(SS_LOG_ERROR); /* the repair warning is expected */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_own_lock_honours_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fork_during_session, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_thread_exit_during_session, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_queue_faultpoints.c - a process killed at each instant of a commit,
 * deterministically: the library is built with SS_FAULT_INJECTION and a
 * forked child sets the point at which its next commit kills it. Checks the
 * repair's two outcomes exactly: an operation cut off before its journal was
 * armed is discarded, one cut off after is completed, once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal_slot.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ss_internal.h"
#include "testutil.h"

static int completed_logs, discarded_logs;

static void count_repairs(ss_log_level level, const char *component,
                          const char *message, void *user_data)
{
    (void)level;
    (void)component;
    (void)user_data;
    if (strstr(message, "repaired (completed"))
        completed_logs++;
    if (strstr(message, "repaired (discarded"))
        discarded_logs++;
}

static ss_queue *q;
static int point;

static int child_put(void *arg)
{
    (void)arg;
    ss__fault_point = point;
    ss_queue_put(q, "m1", 2, SS_NO_WAIT);
    return 1; /* not reached: the commit kills the process */
}

static int child_get(void *arg)
{
    (void)arg;
    char buf[8];
    size_t len;
    ss__fault_point = point;
    if (arg) {
        ss_msg m[1];
        size_t n;
        if (ss_queue_read_begin(q, m, 1, &n, SS_NO_WAIT) == 0)
            ss_queue_read_end(q, 1);
    } else {
        ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT);
    }
    return 1;
}

/* Takes everything left and compares with the expected names. */
static void expect_contents(const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char buf[8];
        size_t len = 0;
        assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT), 0);
        assert_int_equal(len, strlen(names[i]));
        assert_memory_equal(buf, names[i], len);
    }
    char buf[8];
    size_t len;
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT),
                     SS_EAGAIN);
}

static void run_put_point(int at, bool delivered)
{
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = 4096;
    assert_int_equal(ss_queue_create(&q, &o), 0);
    assert_int_equal(ss_queue_put(q, "m0", 2, SS_NO_WAIT), 0);
    point = ss__fault_code(0, at);
    completed_logs = discarded_logs = 0;
    pid_t pid = tu_fork(child_put, NULL);
    assert_true(pid > 0);
    assert_int_equal(tu_wait(pid, 10000), 128 + SIGKILL);
    /* The next producer repairs the side. */
    assert_int_equal(ss_queue_put(q, "m2", 2, SS_NO_WAIT), 0);
    ss_queue_stats st;
    assert_int_equal(ss_queue_get_stats(q, &st), 0);
    assert_int_equal(st.repairs, 1);
    assert_int_equal(st.put_total, delivered ? 3 : 2);
    assert_int_equal(st.msgs, delivered ? 3 : 2);
    assert_int_equal(st.bytes, delivered ? 6 : 4);
    assert_int_equal(completed_logs, delivered ? 1 : 0);
    assert_int_equal(discarded_logs, delivered ? 0 : 1);
    const char *with[] = {"m0", "m1", "m2"}, *without[] = {"m0", "m2"};
    if (delivered)
        expect_contents(with, 3);
    else
        expect_contents(without, 2);
    assert_int_equal(ss_queue_get_stats(q, &st), 0);
    assert_int_equal(st.msgs, 0);
    assert_int_equal(st.got_total, st.put_total);
    ss_queue_destroy(q);
}

static void run_get_point(int at, bool consumed, bool zero_copy)
{
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = 4096;
    assert_int_equal(ss_queue_create(&q, &o), 0);
    assert_int_equal(ss_queue_put(q, "m0", 2, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_put(q, "m1", 2, SS_NO_WAIT), 0);
    point = ss__fault_code(1, at);
    completed_logs = discarded_logs = 0;
    pid_t pid = tu_fork(child_get, zero_copy ? (void *)1 : NULL);
    assert_true(pid > 0);
    assert_int_equal(tu_wait(pid, 10000), 128 + SIGKILL);
    const char *all[] = {"m0", "m1"}, *rest[] = {"m1"};
    /* The next consumer repairs the side. */
    if (consumed)
        expect_contents(rest, 1);
    else
        expect_contents(all, 2);
    ss_queue_stats st;
    assert_int_equal(ss_queue_get_stats(q, &st), 0);
    assert_int_equal(st.repairs, 1);
    assert_int_equal(st.got_total, 2);
    assert_int_equal(st.msgs, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(completed_logs, consumed ? 1 : 0);
    assert_int_equal(discarded_logs, consumed ? 0 : 1);
    ss_queue_destroy(q);
}

static void test_put_killed_before_arming(void **s)
{
    (void)s;
    run_put_point(SS__FAULT_COPIED, false);
}

static void test_put_killed_after_arming(void **s)
{
    (void)s;
    run_put_point(SS__FAULT_ARMED, true);
}

static void test_put_killed_after_publishing(void **s)
{
    (void)s;
    run_put_point(SS__FAULT_COMMITTED, true);
}

static void test_get_killed_before_arming(void **s)
{
    (void)s;
    run_get_point(SS__FAULT_COPIED, false, false);
}

static void test_get_killed_after_arming(void **s)
{
    (void)s;
    run_get_point(SS__FAULT_ARMED, true, false);
}

static void test_get_killed_after_publishing(void **s)
{
    (void)s;
    run_get_point(SS__FAULT_COMMITTED, true, false);
}

static void test_read_end_killed_before_arming(void **s)
{
    (void)s;
    run_get_point(SS__FAULT_COPIED, false, true);
}

static void test_read_end_killed_after_arming(void **s)
{
    (void)s;
    run_get_point(SS__FAULT_ARMED, true, true);
}

int main(void)
{
    tu_watchdog(60);
    ss_log_set_handler(count_repairs, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_killed_before_arming),
        cmocka_unit_test(test_put_killed_after_arming),
        cmocka_unit_test(test_put_killed_after_publishing),
        cmocka_unit_test(test_get_killed_before_arming),
        cmocka_unit_test(test_get_killed_after_arming),
        cmocka_unit_test(test_get_killed_after_publishing),
        cmocka_unit_test(test_read_end_killed_before_arming),
        cmocka_unit_test(test_read_end_killed_after_arming),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

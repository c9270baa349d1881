/*
 * test_bridge_cpu_rule.c - the rule by which ss-bridge moves its threads
 * (--cpu auto; tools/bridge_cpu.h, bcpu_decide()), on made-up figures:
 * spread when the bridge needs more than its CPU, gathered when it no
 * longer does, moved when its CPU is busy with other work and another is
 * clearly idler, and left alone otherwise. (test_bridge_cpu.sh checks the
 * threads themselves, on a real busy CPU.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bridge_cpu.h"
#include "testutil.h"

/* bcpu_decide() with *to preset to a value it must overwrite (or keep,
 * for BCPU_STAY). */
static int decide(int cur, int here, int best, int best_pm, int own, int *to)
{
    *to = 77;
    return bcpu_decide(cur, here, best, best_pm, own, to);
}

static void test_spread_and_gather(void **state)
{
    (void)state;
    int to;
    /* 90% of its CPU or more: every CPU, whatever the others do. */
    assert_int_equal(decide(1, 50, 0, 0, 900, &to), BCPU_SPREAD);
    assert_int_equal(to, -1);
    assert_int_equal(decide(0, 0, 1, 1000, 1000, &to), BCPU_SPREAD);
    assert_int_equal(to, -1);
    assert_int_equal(decide(1, 50, 0, 0, 899, &to), BCPU_STAY);
    assert_int_equal(to, 77);
    /* Spread: gathered on the idlest once under 40% of one CPU. */
    assert_int_equal(decide(-1, -1, 3, 800, 399, &to), BCPU_GATHERED);
    assert_int_equal(to, 3);
    assert_int_equal(decide(-1, -1, 3, 800, 400, &to), BCPU_STAY);
    assert_int_equal(decide(-1, -1, 3, 800, 950, &to), BCPU_STAY);
    /* (No CPU known: stays spread.) */
    assert_int_equal(decide(-1, -1, -1, -1, 0, &to), BCPU_STAY);
}

static void test_move(void **state)
{
    (void)state;
    int to;
    /* Its CPU idle 40% (busy 60% with others), another 70%: moves. */
    assert_int_equal(decide(1, 400, 0, 700, 100, &to), BCPU_MOVED);
    assert_int_equal(to, 0);
    /* Busy exactly half the time: moves if the other is 25 points idler. */
    assert_int_equal(decide(1, 500, 2, 750, 0, &to), BCPU_MOVED);
    assert_int_equal(to, 2);
    assert_int_equal(decide(1, 500, 2, 749, 0, &to), BCPU_STAY);
    /* Busy less than half the time with others: stays. */
    assert_int_equal(decide(1, 501, 0, 1000, 0, &to), BCPU_STAY);
    /* Everything busy: stays. */
    assert_int_equal(decide(1, 0, 0, 100, 500, &to), BCPU_STAY);
    /* No other CPU known: stays. */
    assert_int_equal(decide(1, 0, -1, -1, 0, &to), BCPU_STAY);
    assert_int_equal(to, 77);
    /* No figures for its own CPU (offline): moves to one that has. */
    assert_int_equal(decide(1, -1, 0, 300, 0, &to), BCPU_MOVED);
    assert_int_equal(to, 0);
    assert_int_equal(decide(1, -1, -1, -1, 0, &to), BCPU_STAY);
}

int main(void)
{
    tu_watchdog(30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread_and_gather),
        cmocka_unit_test(test_move),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_loop_wire.c - messages written straight into a loop's queue, as
 * another process (or a corruption) could: the documented format
 * (docs/wire-format.md) is delivered, and every malformed message is
 * dropped with a log line, never followed out of bounds, without stopping
 * the loop or touching the messages around it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal_slot.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

typedef struct sink {
    ss_object obj;
    int32_t got[32];
    int n;
} sink;

static void on_n(ss_object *receiver, const ss_args *args, void *ud)
{
    sink *s = (sink *)receiver;
    int32_t v;
    (void)ud;
    assert_int_equal(ss_args_unpack(args, "i", &v), 0);
    if (s->n < 32)
        s->got[s->n] = v;
    s->n++;
}

static int errors;

static void count_errors(ss_log_level level, const char *component,
                         const char *message, void *user_data)
{
    (void)component, (void)message, (void)user_data;
    if (level == SS_LOG_ERROR)
        errors++;
}

/* Message builder: kind, names "wl"/"e"/"n", then body bytes. */
typedef struct msgb {
    unsigned char b[256];
    size_t len;
} msgb;

static void mb_start(msgb *m, unsigned kind)
{
    static const char names[] = "wlen"; /* "wl" + "e" + "n" */
    m->b[0] = (unsigned char)kind;
    m->b[1] = 2;
    m->b[2] = 1;
    m->b[3] = 1;
    memcpy(m->b + 4, names, 4);
    m->len = 8;
}

static void mb_u32(msgb *m, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        m->b[m->len++] = (unsigned char)(v >> (8 * i));
}

static void put(ss_loop *l, const msgb *m)
{
    assert_int_equal(ss_queue_put(ss_loop_queue(l), m->b, m->len, SS_NO_WAIT),
                     0);
}

static void test_raw_messages(void **state)
{
    (void)state;
    ss_loop *l;
    assert_int_equal(ss_loop_new(&l, "wl", NULL), 0);
    static ss_object e;
    static sink s;
    assert_int_equal(ss_object_init(&e, l, "e"), 0);
    assert_int_equal(ss_object_init(&s.obj, l, "s"), 0);
    assert_int_equal(ss_signal_add(&e, "n", "i"), 0);
    assert_int_equal(ss_connect(&e, "n", &s.obj, on_n, "i", NULL), 0);
    ss_log_set_handler(count_errors, NULL);
    errors = 0;
    msgb m;

    /* 1. a well-formed signal, built by hand: delivered */
    mb_start(&m, 1);
    mb_u32(&m, 1);
    put(l, &m);
    /* 2. too short for a header */
    put(l, &(msgb){{1, 2}, 2});
    /* 3. unknown kind */
    mb_start(&m, 9);
    mb_u32(&m, 99);
    put(l, &m);
    /* 4. name lengths past the end */
    mb_start(&m, 1);
    m.b[1] = 60;
    put(l, &m);
    /* 5. payload of the wrong size for "i" */
    mb_start(&m, 1);
    mb_u32(&m, 98);
    m.b[m.len++] = 0;
    put(l, &m);
    /* 6. a batch of 2, well formed: both delivered */
    mb_start(&m, 3);
    mb_u32(&m, 2);
    mb_u32(&m, 4);
    mb_u32(&m, 2);
    mb_u32(&m, 4);
    mb_u32(&m, 3);
    put(l, &m);
    /* 7. a batch announcing 3 parts with 1: the first delivered */
    mb_start(&m, 3);
    mb_u32(&m, 3);
    mb_u32(&m, 4);
    mb_u32(&m, 4);
    put(l, &m);
    /* 8. a batch whose part length runs past the end: nothing */
    mb_start(&m, 3);
    mb_u32(&m, 1);
    mb_u32(&m, 1000);
    mb_u32(&m, 97);
    put(l, &m);
    /* 9. a batch with a bad payload in the middle: the others delivered */
    mb_start(&m, 3);
    mb_u32(&m, 3);
    mb_u32(&m, 4);
    mb_u32(&m, 5);
    mb_u32(&m, 2); /* too short for "i" */
    m.b[m.len++] = 0;
    m.b[m.len++] = 0;
    mb_u32(&m, 4);
    mb_u32(&m, 6);
    put(l, &m);
    /* 10. a batch cut inside its count */
    mb_start(&m, 3);
    m.b[m.len++] = 1;
    put(l, &m);
    /* 11. an emitter that does not exist: dropped quietly (debug) */
    mb_start(&m, 1);
    m.b[5] = 'x'; /* loop "wx" */
    mb_u32(&m, 96);
    put(l, &m);
    /* 12. a last good one, then a stop */
    mb_start(&m, 1);
    mb_u32(&m, 7);
    put(l, &m);
    assert_int_equal(ss_loop_stop(l), 0);

    assert_int_equal(ss_loop_run(l), SS_LOOP_STOPPED);
    ss_log_set_handler(NULL, NULL);
    static const int32_t want[] = {1, 2, 3, 4, 5, 6, 7};
    assert_int_equal(s.n, 7);
    for (int i = 0; i < 7; i++)
        assert_int_equal(s.got[i], want[i]);
    /* 2, 3, 4, 5, 7, 8, 9 (the bad part), 10: one error line each. */
    assert_int_equal(errors, 8);
    ss_object_destroy(&e);
    ss_object_destroy(&s.obj);
    ss_loop_free(l);
}

int main(void)
{
    tu_watchdog(30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

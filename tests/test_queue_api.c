/*
 * test_queue_api.c - every path of the queue API in one process (plus a
 * forked child sharing an anonymous queue): arguments, every error code,
 * sizes, order, wrap-around, zero-copy reads, close and the statistics.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "signal_slot/error.h"
#include "signal_slot/queue.h"
#include "testutil.h"

/* ---- helpers ---- */

#define ASSERT_RC(expr, expected)                                              \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ != (expected))                                                 \
            fail_msg("%s: got %d (%s), expected %d (%s)", #expr, rc_,          \
                     ss_errname(rc_), (int)(expected), ss_errname(expected));  \
    } while (0)

static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Ring bytes one message of len bytes costs. */
static size_t rec_size(size_t len)
{
    return SS_QUEUE_RECORD_OVERHEAD + ((len + 7) & ~(size_t)7);
}

/* Content of message seq: its first 4 bytes carry seq (when there is
 * room), the rest is a pattern depending on seq and the position. */
static void fill_msg(unsigned char *p, size_t len, uint32_t seq)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)((seq * 2654435761u + (uint32_t)i * 40503u) >> 13);
    if (len >= 4)
        memcpy(p, &seq, 4);
}

static int check_msg(const void *data, size_t len, uint32_t seq)
{
    const unsigned char *p = data;
    if (len >= 4) {
        uint32_t s;
        memcpy(&s, p, 4);
        if (s != seq)
            return 0;
    }
    for (size_t i = (len >= 4 ? 4 : 0); i < len; i++)
        if (p[i] != (unsigned char)((seq * 2654435761u + (uint32_t)i * 40503u) >> 13))
            return 0;
    return 1;
}

static ss_queue *mkq(size_t capacity, size_t max_msgs)
{
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = capacity;
    o.max_msgs = max_msgs;
    ss_queue *q = NULL;
    ASSERT_RC(ss_queue_create(&q, &o), 0);
    assert_non_null(q);
    return q;
}

static ss_queue_stats stats_of(ss_queue *q)
{
    ss_queue_stats s;
    memset(&s, 0xAB, sizeof s);
    ASSERT_RC(ss_queue_get_stats(q, &s), 0);
    return s;
}

/* Put message seq of len bytes, NO_WAIT, expecting rc. */
static int put_seq(ss_queue *q, uint32_t seq, size_t len, int64_t timeout)
{
    unsigned char *b = malloc(len ? len : 1);
    assert_non_null(b);
    fill_msg(b, len, seq);
    int rc = ss_queue_put(q, b, len, timeout);
    free(b);
    return rc;
}

/* Get one message and check it is seq of len bytes. */
static void get_check(ss_queue *q, uint32_t seq, size_t len)
{
    size_t cap = len + 64;
    unsigned char *b = malloc(cap);
    assert_non_null(b);
    size_t got = 0;
    int rc = ss_queue_get(q, b, cap, &got, SS_NO_WAIT);
    if (rc != 0) {
        free(b);
        fail_msg("get of seq %u: %s", seq, ss_errname(rc));
    }
    if (got != len || !check_msg(b, got, seq)) {
        free(b);
        fail_msg("seq %u: got len %zu expected %zu or bad content", seq, got, len);
    }
    free(b);
}

/* ---- a thread that makes one blocking call ---- */

enum { OP_GET, OP_PUT, OP_GET_MANY, OP_READ_BEGIN };

struct blocker {
    ss_queue *q;
    int op;
    int64_t timeout;
    size_t put_len;
    uint32_t put_seq;
    int rc;
    size_t len;
    size_t n;
    unsigned char buf[512];
    atomic_int done;
    pthread_t tid;
    _Atomic pid_t os_tid; /* for blocker_wait_asleep */
};

static void *blocker_main(void *arg)
{
    struct blocker *b = arg;
    ss_msg msgs[4];
    atomic_store(&b->os_tid, tu_gettid());
    switch (b->op) {
    case OP_GET:
        b->rc = ss_queue_get(b->q, b->buf, sizeof b->buf, &b->len, b->timeout);
        break;
    case OP_PUT: {
        unsigned char m[512];
        fill_msg(m, b->put_len, b->put_seq);
        b->rc = ss_queue_put(b->q, m, b->put_len, b->timeout);
        break;
    }
    case OP_GET_MANY:
        b->rc = ss_queue_get_many(b->q, b->buf, sizeof b->buf, msgs, 4, &b->n,
                                  b->timeout);
        if (b->rc == 0) {
            b->len = msgs[0].len;
            memmove(b->buf, msgs[0].data, msgs[0].len);
        }
        break;
    case OP_READ_BEGIN:
        b->rc = ss_queue_read_begin(b->q, msgs, 4, &b->n, b->timeout);
        if (b->rc == 0) {
            b->len = msgs[0].len;
            memcpy(b->buf, msgs[0].data, msgs[0].len);
            int r = ss_queue_read_end(b->q, 1);
            if (r != 0)
                b->rc = 1000 + r;
        }
        break;
    }
    atomic_store(&b->done, 1);
    return NULL;
}

static void blocker_start(struct blocker *b, ss_queue *q, int op, int64_t timeout)
{
    b->q = q;
    b->op = op;
    b->timeout = timeout;
    b->rc = 12345;
    b->len = 0;
    b->n = 0;
    atomic_store(&b->done, 0);
    atomic_store(&b->os_tid, 0);
    assert_int_equal(pthread_create(&b->tid, NULL, blocker_main, b), 0);
}

/* blocker_wait_asleep - wait until b's thread sleeps in its call (or has
 * returned, which the test's own checks then judge), 10 s at most: what
 * the test does next is done to a blocked call, as the test means, and not
 * to one that has not started yet (as after a fixed sleep on a loaded
 * machine). */
static void blocker_wait_asleep(struct blocker *b)
{
    int64_t deadline = tu_now_ns() + SS_SEC(10);
    pid_t tid;
    while ((tid = atomic_load(&b->os_tid)) == 0 && tu_now_ns() < deadline)
        tu_sleep_us(200);
    if (tid != 0)
        tu_wait_asleep(tid, 10000);
}

static void blocker_join(struct blocker *b)
{
    assert_int_equal(pthread_join(b->tid, NULL), 0);
}

/* ---- options and creation ---- */

static void test_options_init(void **state)
{
    (void)state;
    ss_queue_options o;
    memset(&o, 0xFF, sizeof o);
    ss_queue_options_init(&o);
    assert_int_equal(o.capacity, 0);
    assert_int_equal(o.max_msgs, 0);
    assert_int_equal(o.mode, 0);
    assert_int_equal(o.spin_ns, SS_QUEUE_DEFAULT_SPIN_NS);
}

static void check_fresh_defaults(ss_queue *q)
{
    assert_int_equal(ss_queue_capacity(q), SS_QUEUE_DEFAULT_CAPACITY);
    assert_int_equal(ss_queue_max_msg_size(q),
                     SS_QUEUE_DEFAULT_CAPACITY - SS_QUEUE_RECORD_OVERHEAD);
    assert_int_equal(ss_queue_size(q), 0);
    assert_false(ss_queue_is_closed(q));
    ss_queue_stats s = stats_of(q);
    assert_int_equal(s.msgs, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(s.ring_used, 0);
    assert_int_equal(s.capacity, SS_QUEUE_DEFAULT_CAPACITY);
    assert_int_equal(s.max_msgs, 0);
    assert_int_equal(s.max_msg_size, SS_QUEUE_DEFAULT_CAPACITY - 8);
    assert_int_equal(s.put_total, 0);
    assert_int_equal(s.got_total, 0);
    assert_int_equal(s.refused_full, 0);
    assert_int_equal(s.repairs, 0);
    assert_false(s.closed);
}

static void test_create_defaults(void **state)
{
    (void)state;
    ss_queue *q = NULL;
    ASSERT_RC(ss_queue_create(&q, NULL), 0);
    assert_non_null(q);
    check_fresh_defaults(q);
    ss_queue_destroy(q);

    ss_queue_options o;
    ss_queue_options_init(&o);
    q = NULL;
    ASSERT_RC(ss_queue_create(&q, &o), 0);
    assert_non_null(q);
    check_fresh_defaults(q);
    ss_queue_destroy(q);
}

static void test_create_invalid(void **state)
{
    (void)state;
    ASSERT_RC(ss_queue_create(NULL, NULL), SS_EINVAL);

    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = SIZE_MAX;
    ss_queue *q = (ss_queue *)(uintptr_t)0x5151;
    int rc = ss_queue_create(&q, &o);
    if (rc != SS_EINVAL && rc != SS_ENOMEM)
        fail_msg("capacity SIZE_MAX: %s", ss_errname(rc));
    assert_ptr_equal(q, (ss_queue *)(uintptr_t)0x5151); /* untouched */

    o.capacity = SIZE_MAX / 2 + 3;
    rc = ss_queue_create(&q, &o);
    if (rc != SS_EINVAL && rc != SS_ENOMEM)
        fail_msg("capacity SIZE_MAX/2: %s", ss_errname(rc));
    assert_ptr_equal(q, (ss_queue *)(uintptr_t)0x5151);
}

static void test_capacity_rounding(void **state)
{
    (void)state;
    const size_t p = page_size();
    const struct {
        size_t asked, expected;
    } cases[] = {
        {1, p}, {8, p}, {p - 1, p}, {p, p}, {p + 1, 2 * p},
        {2 * p, 2 * p}, {3 * p - 8, 3 * p}, {5 * p + 8, 6 * p},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ss_queue *q = mkq(cases[i].asked, 0);
        assert_int_equal(ss_queue_capacity(q), cases[i].expected);
        assert_int_equal(ss_queue_max_msg_size(q), cases[i].expected - 8);
        ss_queue_stats s = stats_of(q);
        assert_int_equal(s.capacity, cases[i].expected);
        assert_int_equal(s.max_msg_size, cases[i].expected - 8);
        /* The full capacity really is usable by one message. */
        size_t max = ss_queue_max_msg_size(q);
        ASSERT_RC(put_seq(q, 77, max, SS_NO_WAIT), 0);
        assert_int_equal(stats_of(q).ring_used, cases[i].expected);
        get_check(q, 77, max);
        ss_queue_destroy(q);
    }
}

/* ---- round trips ---- */

static void test_roundtrip_sizes(void **state)
{
    (void)state;
    ss_queue *q = mkq(0, 0);
    const size_t max = ss_queue_max_msg_size(q);
    const size_t sizes[] = {1, 7, 8, 9, 40, 4095, max, 2, 4096, 65537, max - 1};
    unsigned char *in = malloc(max);
    unsigned char *out = malloc(max + 32);
    assert_non_null(in);
    assert_non_null(out);
    uint64_t puts = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = sizes[i];
        fill_msg(in, len, (uint32_t)(1000 + i));
        ASSERT_RC(ss_queue_put(q, in, len, SS_NO_WAIT), 0);
        puts++;
        ss_queue_stats s = stats_of(q);
        assert_int_equal(s.msgs, 1);
        assert_int_equal(s.bytes, len);
        assert_int_equal(s.ring_used, rec_size(len));
        assert_int_equal(s.put_total, puts);

        /* Exactly len bytes of buffer suffice; nothing beyond is written. */
        memset(out, 0xEE, max + 32);
        size_t got = 0;
        ASSERT_RC(ss_queue_get(q, out, len, &got, SS_NO_WAIT), 0);
        assert_int_equal(got, len);
        assert_memory_equal(out, in, len);
        for (size_t k = len; k < len + 32; k++)
            assert_int_equal(out[k], 0xEE);
        assert_int_equal(ss_queue_size(q), 0);
        assert_int_equal(stats_of(q).got_total, puts);
        assert_int_equal(stats_of(q).ring_used, 0);
    }

    /* A max-size message fills the ring: nothing else fits. */
    fill_msg(in, max, 5);
    ASSERT_RC(ss_queue_put(q, in, max, SS_WAIT_FOREVER), 0);
    assert_int_equal(stats_of(q).ring_used, ss_queue_capacity(q));
    ASSERT_RC(ss_queue_put(q, in, 1, SS_NO_WAIT), SS_EAGAIN);
    size_t got = 0;
    ASSERT_RC(ss_queue_get(q, out, max, &got, SS_NO_WAIT), 0);
    assert_int_equal(got, max);
    assert_memory_equal(out, in, max);

    free(in);
    free(out);
    ss_queue_destroy(q);
}

/* ---- invalid arguments ---- */

static void test_einval(void **state)
{
    (void)state;
    ss_queue *q = mkq(page_size(), 0);
    unsigned char buf[64] = {1, 2, 3};
    size_t len = 0, n = 0;
    ss_msg msgs[4];

    ASSERT_RC(ss_queue_put(NULL, buf, 3, SS_NO_WAIT), SS_EINVAL);
    ASSERT_RC(ss_queue_put(q, NULL, 3, SS_NO_WAIT), SS_EINVAL);
    ASSERT_RC(ss_queue_put(q, buf, 0, SS_NO_WAIT), SS_EINVAL);
    ASSERT_RC(ss_queue_put(q, buf, 0, SS_WAIT_FOREVER), SS_EINVAL);

    /* put_many: a bad message anywhere refuses the whole batch. */
    ss_msg batch[3] = {{buf, 3}, {buf, 0}, {buf, 5}};
    ASSERT_RC(ss_queue_put_many(NULL, batch, 1, SS_NO_WAIT), SS_EINVAL);
    ASSERT_RC(ss_queue_put_many(q, NULL, 2, SS_NO_WAIT), SS_EINVAL);
    ASSERT_RC(ss_queue_put_many(q, batch, 3, SS_NO_WAIT), SS_EINVAL);
    batch[1].len = 4;
    batch[2].data = NULL;
    ASSERT_RC(ss_queue_put_many(q, batch, 3, SS_NO_WAIT), SS_EINVAL);
    assert_int_equal(ss_queue_size(q), 0);

    /* A message for the gets below. */
    ASSERT_RC(ss_queue_put(q, buf, 3, SS_NO_WAIT), 0);

    ASSERT_RC(ss_queue_get(NULL, buf, sizeof buf, &len, SS_NO_WAIT), SS_EINVAL);
    ASSERT_RC(ss_queue_get(q, NULL, sizeof buf, &len, SS_NO_WAIT), SS_EINVAL);
    ASSERT_RC(ss_queue_get(q, buf, sizeof buf, NULL, SS_NO_WAIT), SS_EINVAL);

    ASSERT_RC(ss_queue_get_many(NULL, buf, sizeof buf, msgs, 4, &n, SS_NO_WAIT),
              SS_EINVAL);
    ASSERT_RC(ss_queue_get_many(q, NULL, sizeof buf, msgs, 4, &n, SS_NO_WAIT),
              SS_EINVAL);
    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, NULL, 4, &n, SS_NO_WAIT),
              SS_EINVAL);
    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, msgs, 4, NULL, SS_NO_WAIT),
              SS_EINVAL);
    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, msgs, 0, &n, SS_NO_WAIT),
              SS_EINVAL);

    ASSERT_RC(ss_queue_read_begin(NULL, msgs, 4, &n, SS_NO_WAIT), SS_EINVAL);
    ASSERT_RC(ss_queue_read_begin(q, NULL, 4, &n, SS_NO_WAIT), SS_EINVAL);
    ASSERT_RC(ss_queue_read_begin(q, msgs, 4, NULL, SS_NO_WAIT), SS_EINVAL);
    ASSERT_RC(ss_queue_read_begin(q, msgs, 0, &n, SS_NO_WAIT), SS_EINVAL);
    int rc = ss_queue_read_end(NULL, 0);
    if (rc != SS_EINVAL && rc != SS_ESTATE)
        fail_msg("read_end(NULL): %s", ss_errname(rc));

    ASSERT_RC(ss_queue_close(NULL), SS_EINVAL);
    ss_queue_stats s;
    ASSERT_RC(ss_queue_get_stats(NULL, &s), SS_EINVAL);
    ASSERT_RC(ss_queue_get_stats(q, NULL), SS_EINVAL);

    /* Nothing above changed the queue: the one message is intact. */
    s = stats_of(q);
    assert_int_equal(s.msgs, 1);
    assert_int_equal(s.put_total, 1);
    assert_int_equal(s.got_total, 0);
    assert_int_equal(s.refused_full, 0);
    assert_false(s.closed);
    unsigned char out[8];
    ASSERT_RC(ss_queue_get(q, out, sizeof out, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(out, buf, 3);
    ss_queue_destroy(q);
}

/* ---- sizes that can never fit ---- */

static void test_emsgsize(void **state)
{
    (void)state;
    const size_t p = page_size();
    ss_queue *q = mkq(p, 0);
    const size_t max = ss_queue_max_msg_size(q);
    assert_int_equal(max, p - 8);
    unsigned char *big = calloc(1, 4 * p);
    assert_non_null(big);

    /* Returned at once, even with an infinite timeout on an empty queue
     * (the watchdog catches a hang). */
    ASSERT_RC(ss_queue_put(q, big, max + 1, SS_WAIT_FOREVER), SS_EMSGSIZE);
    ASSERT_RC(ss_queue_put(q, big, 4 * p, SS_WAIT_FOREVER), SS_EMSGSIZE);
    ASSERT_RC(ss_queue_put(q, big, max + 1, SS_NO_WAIT), SS_EMSGSIZE);
    ASSERT_RC(ss_queue_put(q, big, max + 1, SS_MSEC(10)), SS_EMSGSIZE);

    /* Also when the queue is full. */
    ASSERT_RC(put_seq(q, 1, max, SS_NO_WAIT), 0);
    ASSERT_RC(ss_queue_put(q, big, max + 1, SS_WAIT_FOREVER), SS_EMSGSIZE);
    /* ...whereas a size that could fit once drained is merely "full". */
    ASSERT_RC(ss_queue_put(q, big, max, SS_NO_WAIT), SS_EAGAIN);

    ss_queue_stats s = stats_of(q);
    assert_int_equal(s.msgs, 1);
    assert_int_equal(s.put_total, 1);
    assert_int_equal(s.refused_full, 1); /* only the EAGAIN */
    get_check(q, 1, max);
    free(big);
    ss_queue_destroy(q);
}

/* ---- empty and full ---- */

static void test_eagain_empty_and_full(void **state)
{
    (void)state;
    const size_t p = page_size();
    ss_queue *q = mkq(p, 0);
    unsigned char buf[128];
    size_t len = 999, n = 999;
    ss_msg msgs[4];

    ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT), SS_EAGAIN);
    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, msgs, 4, &n, SS_NO_WAIT),
              SS_EAGAIN);
    ASSERT_RC(ss_queue_read_begin(q, msgs, 4, &n, SS_NO_WAIT), SS_EAGAIN);
    ASSERT_RC(ss_queue_read_end(q, 0), SS_ESTATE); /* failed begin: no read */

    /* 64-byte messages cost 72 ring bytes each. */
    const size_t fit = p / 72;
    for (size_t i = 0; i < fit; i++)
        ASSERT_RC(put_seq(q, (uint32_t)i, 64, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_size(q), fit);
    ASSERT_RC(put_seq(q, 9999, 64, SS_NO_WAIT), SS_EAGAIN);
    assert_int_equal(stats_of(q).refused_full, 1);
    ASSERT_RC(put_seq(q, 9999, 64, SS_NO_WAIT), SS_EAGAIN);
    assert_int_equal(stats_of(q).refused_full, 2);
    assert_int_equal(ss_queue_size(q), fit);

    /* The rest of the ring takes one message of exactly its size. */
    const size_t rest = p - fit * 72;
    size_t extra = 0;
    if (rest >= 16) {
        ASSERT_RC(put_seq(q, 5000, rest - 8, SS_NO_WAIT), 0);
        extra = 1;
        assert_int_equal(stats_of(q).ring_used, p);
        ASSERT_RC(put_seq(q, 9999, 1, SS_NO_WAIT), SS_EAGAIN);
        assert_int_equal(stats_of(q).refused_full, 3);
    }

    /* One get frees room for exactly one more 64-byte message. */
    get_check(q, 0, 64);
    ASSERT_RC(put_seq(q, (uint32_t)fit, 64, SS_NO_WAIT), 0);
    if (extra)
        ASSERT_RC(put_seq(q, 9999, 1, SS_NO_WAIT), SS_EAGAIN);

    /* Everything comes out in order. */
    for (size_t i = 1; i < fit; i++)
        get_check(q, (uint32_t)i, 64);
    if (extra)
        get_check(q, 5000, rest - 8);
    get_check(q, (uint32_t)fit, 64);
    ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT), SS_EAGAIN);
    ss_queue_destroy(q);
}

static void test_etimedout(void **state)
{
    (void)state;
    const size_t p = page_size();
    ss_queue *q = mkq(p, 0);
    unsigned char buf[128];
    size_t len, n;
    ss_msg msgs[4];
    const int64_t to = SS_MSEC(20), min_elapsed = SS_MSEC(19);

    int64_t t0 = tu_now_ns();
    ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, to), SS_ETIMEDOUT);
    assert_true(tu_now_ns() - t0 >= min_elapsed);

    t0 = tu_now_ns();
    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, msgs, 4, &n, to), SS_ETIMEDOUT);
    assert_true(tu_now_ns() - t0 >= min_elapsed);

    t0 = tu_now_ns();
    ASSERT_RC(ss_queue_read_begin(q, msgs, 4, &n, to), SS_ETIMEDOUT);
    assert_true(tu_now_ns() - t0 >= min_elapsed);
    ASSERT_RC(ss_queue_read_end(q, 0), SS_ESTATE);

    ASSERT_RC(put_seq(q, 1, p - 8, SS_NO_WAIT), 0);
    t0 = tu_now_ns();
    ASSERT_RC(put_seq(q, 2, 1, to), SS_ETIMEDOUT);
    assert_true(tu_now_ns() - t0 >= min_elapsed);
    assert_int_equal(stats_of(q).refused_full, 1);

    ss_msg batch[2] = {{buf, 10}, {buf, 20}};
    t0 = tu_now_ns();
    ASSERT_RC(ss_queue_put_many(q, batch, 2, to), SS_ETIMEDOUT);
    assert_true(tu_now_ns() - t0 >= min_elapsed);
    assert_int_equal(stats_of(q).refused_full, 2);
    assert_int_equal(ss_queue_size(q), 1);
    assert_int_equal(stats_of(q).put_total, 1);

    /* A short positive timeout that is satisfied returns at once with the
     * data. */
    get_check(q, 1, p - 8);
    ASSERT_RC(put_seq(q, 3, 50, SS_MSEC(20)), 0);
    len = 0;
    unsigned char out[64];
    ASSERT_RC(ss_queue_get(q, out, sizeof out, &len, SS_MSEC(20)), 0);
    assert_int_equal(len, 50);
    assert_true(check_msg(out, len, 3));
    ss_queue_destroy(q);
}

/* ---- small buffers ---- */

static void test_enobufs_get(void **state)
{
    (void)state;
    ss_queue *q = mkq(page_size(), 0);
    ASSERT_RC(put_seq(q, 42, 100, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 43, 10, SS_NO_WAIT), 0);

    unsigned char buf[200];
    size_t len = 0;
    ASSERT_RC(ss_queue_get(q, buf, 99, &len, SS_NO_WAIT), SS_ENOBUFS);
    assert_int_equal(len, 100);
    len = 0;
    ASSERT_RC(ss_queue_get(q, buf, 1, &len, SS_WAIT_FOREVER), SS_ENOBUFS);
    assert_int_equal(len, 100);
    ss_queue_stats s = stats_of(q);
    assert_int_equal(s.msgs, 2);
    assert_int_equal(s.got_total, 0);
    assert_int_equal(s.bytes, 110);

    ASSERT_RC(ss_queue_get(q, buf, 100, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 100);
    assert_true(check_msg(buf, len, 42));
    get_check(q, 43, 10);
    ss_queue_destroy(q);
}

/* ---- put_many ---- */

static void test_put_many(void **state)
{
    (void)state;
    const size_t p = page_size();
    ss_queue *q = mkq(p, 0);
    unsigned char data[8][128];
    ss_msg batch[40];
    static unsigned char big[40][64];

    /* n == 0: success, nothing happens. */
    ASSERT_RC(ss_queue_put_many(q, batch, 0, SS_NO_WAIT), 0);
    ASSERT_RC(ss_queue_put_many(q, batch, 0, SS_WAIT_FOREVER), 0);
    assert_int_equal(stats_of(q).put_total, 0);

    /* A batch of 5 comes out in order. */
    const size_t lens[5] = {1, 17, 128, 8, 63};
    for (int i = 0; i < 5; i++) {
        fill_msg(data[i], lens[i], (uint32_t)(100 + i));
        batch[i].data = data[i];
        batch[i].len = lens[i];
    }
    ASSERT_RC(ss_queue_put_many(q, batch, 5, SS_NO_WAIT), 0);
    ss_queue_stats s = stats_of(q);
    assert_int_equal(s.msgs, 5);
    assert_int_equal(s.put_total, 5);
    assert_int_equal(s.bytes, 1 + 17 + 128 + 8 + 63);
    assert_int_equal(s.ring_used, rec_size(1) + rec_size(17) + rec_size(128) +
                                      rec_size(8) + rec_size(63));
    for (int i = 0; i < 5; i++)
        get_check(q, (uint32_t)(100 + i), lens[i]);

    /* Fill part of the ring, then a batch bigger than the free space. */
    const size_t fit = p / 72;
    const size_t held = fit / 2;
    for (size_t i = 0; i < held; i++)
        ASSERT_RC(put_seq(q, (uint32_t)i, 64, SS_NO_WAIT), 0);
    const size_t room = fit - held; /* 64-byte messages that still fit */
    assert_true(room + 1 <= 40);
    for (size_t i = 0; i < room + 1; i++) {
        fill_msg(big[i], 64, (uint32_t)(1000 + i));
        batch[i].data = big[i];
        batch[i].len = 64;
    }
    uint64_t refused0 = stats_of(q).refused_full;
    ASSERT_RC(ss_queue_put_many(q, batch, room + 1, SS_NO_WAIT), SS_EAGAIN);
    s = stats_of(q);
    assert_int_equal(s.msgs, held);
    assert_int_equal(s.put_total, 5 + held);
    assert_int_equal(s.ring_used, held * 72);
    assert_int_equal(s.refused_full, refused0 + 1);
    ASSERT_RC(ss_queue_put_many(q, batch, room + 1, SS_MSEC(5)), SS_ETIMEDOUT);
    assert_int_equal(ss_queue_size(q), held);

    /* Exactly the free space: accepted. */
    ASSERT_RC(ss_queue_put_many(q, batch, room, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_size(q), fit);
    for (size_t i = 0; i < held; i++)
        get_check(q, (uint32_t)i, 64);
    for (size_t i = 0; i < room; i++)
        get_check(q, (uint32_t)(1000 + i), 64);
    assert_int_equal(ss_queue_size(q), 0);

    /* A batch that can never fit, even in an empty queue: EMSGSIZE at once,
     * whatever the timeout. */
    static unsigned char half[2][8192];
    const size_t h = p / 2; /* two records of 8 + p/2 > p */
    assert_true(h <= sizeof half[0]);
    batch[0].data = half[0];
    batch[0].len = h;
    batch[1].data = half[1];
    batch[1].len = h;
    ASSERT_RC(ss_queue_put_many(q, batch, 2, SS_WAIT_FOREVER), SS_EMSGSIZE);
    ASSERT_RC(ss_queue_put_many(q, batch, 2, SS_NO_WAIT), SS_EMSGSIZE);
    /* One oversized message in the batch. */
    batch[0].len = 1;
    batch[1].len = p - 7;
    ASSERT_RC(ss_queue_put_many(q, batch, 2, SS_WAIT_FOREVER), SS_EMSGSIZE);
    assert_int_equal(ss_queue_size(q), 0);
    assert_int_equal(stats_of(q).refused_full, refused0 + 2);

    /* Two records that fill the ring exactly: accepted. */
    fill_msg(half[0], h - 8, 7);
    fill_msg(half[1], h - 8, 8);
    batch[0].len = h - 8;
    batch[1].len = h - 8;
    ASSERT_RC(ss_queue_put_many(q, batch, 2, SS_NO_WAIT), 0);
    assert_int_equal(stats_of(q).ring_used, p);
    get_check(q, 7, h - 8);
    get_check(q, 8, h - 8);
    ss_queue_destroy(q);
}

/* ---- max_msgs ---- */

static void test_max_msgs(void **state)
{
    (void)state;
    ss_queue *q = mkq(page_size(), 3);
    ss_queue_stats s = stats_of(q);
    assert_int_equal(s.max_msgs, 3);
    assert_int_equal(s.max_msg_size, page_size() - 8);

    for (uint32_t i = 0; i < 3; i++)
        ASSERT_RC(put_seq(q, i, 5, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 3, 5, SS_NO_WAIT), SS_EAGAIN);
    ASSERT_RC(put_seq(q, 3, 5, SS_MSEC(5)), SS_ETIMEDOUT);
    assert_int_equal(stats_of(q).refused_full, 2);
    assert_int_equal(ss_queue_size(q), 3);

    get_check(q, 0, 5);
    ASSERT_RC(put_seq(q, 3, 5, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 4, 5, SS_NO_WAIT), SS_EAGAIN);

    unsigned char d[4][8];
    ss_msg batch[4];
    for (int i = 0; i < 4; i++) {
        fill_msg(d[i], 8, (uint32_t)(10 + i));
        batch[i].data = d[i];
        batch[i].len = 8;
    }
    /* 3 held: even one more does not fit now. */
    ASSERT_RC(ss_queue_put_many(q, batch, 1, SS_NO_WAIT), SS_EAGAIN);
    get_check(q, 1, 5);
    get_check(q, 2, 5);
    /* 1 held: 2 more fit, 3 do not (now), 4 never. */
    ASSERT_RC(ss_queue_put_many(q, batch, 3, SS_NO_WAIT), SS_EAGAIN);
    ASSERT_RC(ss_queue_put_many(q, batch, 4, SS_NO_WAIT), SS_EMSGSIZE);
    ASSERT_RC(ss_queue_put_many(q, batch, 4, SS_WAIT_FOREVER), SS_EMSGSIZE);
    assert_int_equal(ss_queue_size(q), 1);
    ASSERT_RC(ss_queue_put_many(q, batch, 2, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_size(q), 3);
    get_check(q, 3, 5);
    get_check(q, 10, 8);
    get_check(q, 11, 8);
    /* Empty: 4 still never fit, 3 do. */
    ASSERT_RC(ss_queue_put_many(q, batch, 4, SS_NO_WAIT), SS_EMSGSIZE);
    ASSERT_RC(ss_queue_put_many(q, batch, 3, SS_NO_WAIT), 0);
    s = stats_of(q);
    assert_int_equal(s.msgs, 3);
    assert_int_equal(s.bytes, 24);
    ss_queue_destroy(q);
}

/* ---- get_many ---- */

static void check_many_layout(const unsigned char *buf, size_t buf_size,
                              const ss_msg *msgs, size_t n)
{
    const unsigned char *prev_end = buf;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *d = msgs[i].data;
        assert_true(d >= buf);
        assert_true(d + msgs[i].len <= buf + buf_size);
        assert_int_equal((size_t)(d - buf) % 8, 0);
        assert_true(d >= prev_end); /* one after the other, no overlap */
        prev_end = d + msgs[i].len;
    }
}

static void test_get_many(void **state)
{
    (void)state;
    ss_queue *q = mkq(page_size(), 0);
    const size_t lens[10] = {1, 20, 8, 9, 33, 100, 7, 64, 3, 50};
    for (uint32_t i = 0; i < 10; i++)
        ASSERT_RC(put_seq(q, i, lens[i], SS_NO_WAIT), 0);

    _Alignas(8) unsigned char buf[4096];
    ss_msg msgs[16];
    size_t n = 0;
    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, msgs, 4, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 4);
    check_many_layout(buf, sizeof buf, msgs, n);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(msgs[i].len, lens[i]);
        assert_true(check_msg(msgs[i].data, msgs[i].len, i));
    }
    assert_int_equal(ss_queue_size(q), 6);
    assert_int_equal(stats_of(q).got_total, 4);

    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, msgs, 16, &n, SS_WAIT_FOREVER), 0);
    assert_int_equal(n, 6);
    check_many_layout(buf, sizeof buf, msgs, n);
    for (uint32_t i = 0; i < 6; i++) {
        assert_int_equal(msgs[i].len, lens[4 + i]);
        assert_true(check_msg(msgs[i].data, msgs[i].len, 4 + i));
    }
    assert_int_equal(stats_of(q).got_total, 10);
    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, msgs, 16, &n, SS_NO_WAIT),
              SS_EAGAIN);

    /* Stops when the buffer is full: 20-byte messages take 24-byte slots. */
    for (uint32_t i = 0; i < 10; i++)
        ASSERT_RC(put_seq(q, 200 + i, 20, SS_NO_WAIT), 0);
    ASSERT_RC(ss_queue_get_many(q, buf, 96, msgs, 16, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 4);
    check_many_layout(buf, 96, msgs, n);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(msgs[i].len, 20);
        assert_true(check_msg(msgs[i].data, 20, 200 + i));
    }
    ASSERT_RC(ss_queue_get_many(q, buf, 91, msgs, 16, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 3);
    check_many_layout(buf, 91, msgs, n);
    for (uint32_t i = 0; i < 3; i++)
        assert_true(check_msg(msgs[i].data, 20, 204 + i));
    /* A buffer just big enough for one. */
    ASSERT_RC(ss_queue_get_many(q, buf, 20, msgs, 16, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 1);
    assert_ptr_equal(msgs[0].data, buf);
    assert_true(check_msg(msgs[0].data, 20, 207));
    assert_int_equal(ss_queue_size(q), 2);
    get_check(q, 208, 20);
    get_check(q, 209, 20);

    /* The oldest does not fit: ENOBUFS, size needed, nothing consumed. */
    ASSERT_RC(put_seq(q, 300, 100, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 301, 4, SS_NO_WAIT), 0);
    n = 77;
    msgs[0].len = 0;
    ASSERT_RC(ss_queue_get_many(q, buf, 50, msgs, 16, &n, SS_NO_WAIT), SS_ENOBUFS);
    assert_int_equal(n, 0);
    assert_int_equal(msgs[0].len, 100);
    assert_int_equal(ss_queue_size(q), 2);
    assert_int_equal(stats_of(q).got_total, 20);
    /* Oldest fits, the next one does not: just the first. */
    ASSERT_RC(put_seq(q, 302, 200, SS_NO_WAIT), 0);
    /* 300 fills bytes 0..99; 301 would start at 104: only one fits. */
    ASSERT_RC(ss_queue_get_many(q, buf, 100, msgs, 16, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 1);
    assert_int_equal(msgs[0].len, 100);
    assert_true(check_msg(msgs[0].data, 100, 300));
    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, msgs, 16, &n, SS_NO_WAIT), 0);
    if (n != 2)
        fail_msg("get_many returned %zu of the 2 messages held (room for all)", n);
    check_many_layout(buf, sizeof buf, msgs, n);
    assert_int_equal(msgs[0].len, 4);
    assert_true(check_msg(msgs[0].data, 4, 301));
    assert_int_equal(msgs[1].len, 200);
    assert_true(check_msg(msgs[1].data, 200, 302));
    assert_int_equal(stats_of(q).got_total, 23);
    ss_queue_destroy(q);
}

/* A get_many or read_begin takes every message committed before it was
 * called (up to max_msgs and the buffer), also those committed after an
 * earlier get had looked at the queue. */
static void test_many_sees_later_commits(void **state)
{
    (void)state;
    ss_queue *q = mkq(page_size(), 0);
    _Alignas(8) unsigned char buf[1024];
    ss_msg msgs[16];
    size_t n = 0;

    ASSERT_RC(put_seq(q, 0, 16, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 1, 16, SS_NO_WAIT), 0);
    get_check(q, 0, 16); /* the consumer has now seen 0 and 1 */
    ASSERT_RC(put_seq(q, 2, 16, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 3, 16, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_size(q), 3);
    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, msgs, 16, &n, SS_NO_WAIT), 0);
    if (n != 3)
        fail_msg("get_many returned %zu of the 3 committed messages "
                 "(buffer and max_msgs had room for all)", n);
    for (uint32_t i = 0; i < 3; i++)
        assert_true(check_msg(msgs[i].data, 16, 1 + i));

    ASSERT_RC(put_seq(q, 4, 16, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 5, 16, SS_NO_WAIT), 0);
    get_check(q, 4, 16);
    ASSERT_RC(put_seq(q, 6, 16, SS_NO_WAIT), 0);
    ASSERT_RC(ss_queue_read_begin(q, msgs, 16, &n, SS_NO_WAIT), 0);
    size_t exposed = n;
    ASSERT_RC(ss_queue_read_end(q, n), 0);
    if (exposed != 2)
        fail_msg("read_begin exposed %zu of the 2 committed messages", exposed);
    ss_queue_destroy(q);
}

/* ---- FIFO order and wrap-around ---- */

struct model {
    uint32_t seq[4096];
    size_t len[4096];
    size_t head, count;
    uint64_t bytes;
};

static void model_push(struct model *m, uint32_t seq, size_t len)
{
    assert_true(m->count < 4096);
    size_t i = (m->head + m->count) % 4096;
    m->seq[i] = seq;
    m->len[i] = len;
    m->count++;
    m->bytes += len;
}

static void model_pop(struct model *m, uint32_t *seq, size_t *len)
{
    assert_true(m->count > 0);
    *seq = m->seq[m->head];
    *len = m->len[m->head];
    m->head = (m->head + 1) % 4096;
    m->count--;
    m->bytes -= *len;
}

static void run_fifo_model(size_t capacity, size_t max_len, int ops, uint64_t seed)
{
    ss_queue *q = mkq(capacity, 0);
    const size_t max = ss_queue_max_msg_size(q);
    static struct model m;
    memset(&m, 0, sizeof m);
    uint64_t rng = seed;
    uint32_t next = 0;
    unsigned char *in = malloc(max);
    _Alignas(8) static unsigned char out[1 << 16];
    assert_non_null(in);
    assert_true(max_len <= max && max_len <= sizeof out);
    uint64_t puts = 0, gets = 0;

    for (int op = 0; op < ops; op++) {
        uint64_t r = tu_rand(&rng);
        int producing = (r % 100) < 55;
        if (producing) {
            /* Mostly small messages, sometimes large ones. */
            size_t len = (r >> 8) % 4 == 0 ? 1 + (r >> 16) % max_len
                                           : 1 + (r >> 16) % 48;
            int how = (int)((r >> 40) % 3);
            int rc;
            if (how < 2) {
                fill_msg(in, len, next);
                rc = ss_queue_put(q, in, len, SS_NO_WAIT);
                if (rc == 0) {
                    model_push(&m, next++, len);
                    puts++;
                }
            } else {
                /* A small batch. */
                ss_msg b[3];
                size_t k = 1 + (r >> 50) % 3, off = 0;
                size_t blen[3];
                for (size_t i = 0; i < k; i++) {
                    blen[i] = 1 + (tu_rand(&rng) % (len < 300 ? len : 300));
                    fill_msg(in + off, blen[i], next + (uint32_t)i);
                    b[i].data = in + off;
                    b[i].len = blen[i];
                    off += blen[i];
                }
                rc = ss_queue_put_many(q, b, k, SS_NO_WAIT);
                if (rc == 0) {
                    for (size_t i = 0; i < k; i++) {
                        model_push(&m, next++, blen[i]);
                        puts++;
                    }
                }
            }
            if (rc != 0 && rc != SS_EAGAIN)
                fail_msg("op %d put: %s", op, ss_errname(rc));
            if (rc == SS_EAGAIN && m.count == 0)
                fail_msg("op %d: EAGAIN on an empty queue (len %zu)", op, len);
        } else {
            int how = (int)((r >> 8) % 3);
            if (m.count == 0) {
                size_t l;
                ASSERT_RC(ss_queue_get(q, out, sizeof out, &l, SS_NO_WAIT), SS_EAGAIN);
                continue;
            }
            uint32_t seq;
            size_t len;
            if (how == 0) {
                size_t l = 0;
                ASSERT_RC(ss_queue_get(q, out, sizeof out, &l, SS_NO_WAIT), 0);
                model_pop(&m, &seq, &len);
                gets++;
                if (l != len || !check_msg(out, l, seq))
                    fail_msg("op %d: get seq %u len %zu/%zu bad", op, seq, l, len);
            } else if (how == 1) {
                ss_msg msgs[8];
                size_t n = 0;
                ASSERT_RC(ss_queue_get_many(q, out, sizeof out, msgs, 1 + (r >> 20) % 8,
                                            &n, SS_NO_WAIT), 0);
                assert_true(n >= 1);
                for (size_t i = 0; i < n; i++) {
                    model_pop(&m, &seq, &len);
                    gets++;
                    if (msgs[i].len != len || !check_msg(msgs[i].data, len, seq))
                        fail_msg("op %d: get_many[%zu] seq %u bad", op, i, seq);
                }
            } else {
                ss_msg msgs[8];
                size_t n = 0;
                ASSERT_RC(ss_queue_read_begin(q, msgs, 1 + (r >> 20) % 8, &n,
                                              SS_NO_WAIT), 0);
                assert_true(n >= 1 && n <= m.count);
                size_t consume = (r >> 30) % (n + 1);
                /* Everything exposed matches, consumed or not. */
                for (size_t i = 0; i < n; i++) {
                    size_t idx = (m.head + i) % 4096;
                    if (msgs[i].len != m.len[idx] ||
                        !check_msg(msgs[i].data, m.len[idx], m.seq[idx]))
                        fail_msg("op %d: read_begin[%zu] seq %u bad", op, i,
                                 m.seq[idx]);
                }
                ASSERT_RC(ss_queue_read_end(q, consume), 0);
                for (size_t i = 0; i < consume; i++) {
                    model_pop(&m, &seq, &len);
                    gets++;
                }
            }
        }
        ss_queue_stats s = stats_of(q);
        if (s.msgs != m.count || s.bytes != m.bytes || s.put_total != puts ||
            s.got_total != gets)
            fail_msg("op %d: stats msgs %llu/%zu bytes %llu/%llu", op,
                     (unsigned long long)s.msgs, m.count,
                     (unsigned long long)s.bytes, (unsigned long long)m.bytes);
        assert_true(s.ring_used <= s.capacity);
        if (m.count == 0)
            assert_int_equal(s.ring_used, 0);
    }
    /* Drain. */
    while (m.count > 0) {
        uint32_t seq;
        size_t len;
        model_pop(&m, &seq, &len);
        get_check(q, seq, len);
    }
    free(in);
    ss_queue_destroy(q);
}

static void test_fifo_wraparound_small(void **state)
{
    (void)state;
    run_fifo_model(page_size(), 400, 40000, 0x1234567);
}

static void test_fifo_wraparound_large_msgs(void **state)
{
    (void)state;
    run_fifo_model(4 * page_size(), 3 * page_size(), 20000, 0xDEADBEEF);
}

/* An empty queue takes a message of max_msg_size whatever the position of
 * the ring where the previous message ended. */
static void test_max_msg_at_every_offset(void **state)
{
    (void)state;
    const size_t p = page_size();
    ss_queue *q = mkq(p, 0);
    const size_t max = ss_queue_max_msg_size(q);
    for (uint32_t k = 0; k < 3 * p / 8; k++) {
        size_t small = 1 + 8 * (k % 13); /* advances the ring by various amounts */
        ASSERT_RC(put_seq(q, k, small, SS_NO_WAIT), 0);
        get_check(q, k, small);
        int rc = put_seq(q, k + 100000, max, SS_NO_WAIT);
        if (rc != 0)
            fail_msg("iteration %u: max-size put into empty queue: %s", k,
                     ss_errname(rc));
        get_check(q, k + 100000, max);
    }
    ss_queue_destroy(q);
}

/* ---- zero-copy reads ---- */

static void test_zero_copy(void **state)
{
    (void)state;
    ss_queue *q = mkq(page_size(), 0);
    ss_msg msgs[10];
    size_t n = 0;

    ASSERT_RC(ss_queue_read_end(q, 0), SS_ESTATE);
    ASSERT_RC(ss_queue_read_end(q, 1), SS_ESTATE);
    ASSERT_RC(ss_queue_read_begin(q, msgs, 10, &n, SS_NO_WAIT), SS_EAGAIN);
    ASSERT_RC(ss_queue_read_end(q, 0), SS_ESTATE);

    const size_t lens[5] = {10, 20, 30, 40, 50};
    for (uint32_t i = 0; i < 5; i++)
        ASSERT_RC(put_seq(q, i, lens[i], SS_NO_WAIT), 0);

    ASSERT_RC(ss_queue_read_begin(q, msgs, 3, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(msgs[i].len, lens[i]);
        assert_true(check_msg(msgs[i].data, lens[i], i));
    }
    /* Exposing does not consume. */
    assert_int_equal(ss_queue_size(q), 5);
    ASSERT_RC(ss_queue_read_end(q, 4), SS_EINVAL);
    ASSERT_RC(ss_queue_read_end(q, 100), SS_EINVAL);
    assert_int_equal(ss_queue_size(q), 5);
    /* The read is still in progress: end it consuming one. */
    ASSERT_RC(ss_queue_read_end(q, 1), 0);
    assert_int_equal(ss_queue_size(q), 4);
    assert_int_equal(stats_of(q).got_total, 1);
    assert_int_equal(stats_of(q).bytes, 20 + 30 + 40 + 50);
    ASSERT_RC(ss_queue_read_end(q, 0), SS_ESTATE);

    /* The rest stays, in order. */
    ASSERT_RC(ss_queue_read_begin(q, msgs, 10, &n, SS_WAIT_FOREVER), 0);
    assert_int_equal(n, 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(msgs[i].len, lens[i + 1]);
        assert_true(check_msg(msgs[i].data, msgs[i].len, i + 1));
    }
    ASSERT_RC(ss_queue_read_end(q, 0), 0);
    assert_int_equal(ss_queue_size(q), 4);

    ASSERT_RC(ss_queue_read_begin(q, msgs, 2, &n, SS_MSEC(10)), 0);
    assert_int_equal(n, 2);
    assert_true(check_msg(msgs[0].data, 20, 1));
    assert_true(check_msg(msgs[1].data, 30, 2));
    ASSERT_RC(ss_queue_read_end(q, 2), 0);
    get_check(q, 3, 40);
    ASSERT_RC(ss_queue_read_begin(q, msgs, 10, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 1);
    assert_true(check_msg(msgs[0].data, 50, 4));
    ASSERT_RC(ss_queue_read_end(q, 1), 0);
    assert_int_equal(ss_queue_size(q), 0);
    assert_int_equal(stats_of(q).got_total, 5);
    assert_int_equal(stats_of(q).ring_used, 0);
    ASSERT_RC(ss_queue_read_begin(q, msgs, 10, &n, SS_NO_WAIT), SS_EAGAIN);
    ss_queue_destroy(q);
}

/* The bytes exposed by read_begin stay valid and are not overwritten by
 * puts until read_end releases them. */
static void test_zero_copy_holds_space(void **state)
{
    (void)state;
    const size_t p = page_size();
    ss_queue *q = mkq(p, 0);
    const size_t fit = p / 72;
    for (uint32_t i = 0; i < fit; i++)
        ASSERT_RC(put_seq(q, i, 64, SS_NO_WAIT), 0);
    /* Fill the rest so that the ring is completely full. */
    const size_t rest = p - fit * 72;
    if (rest >= 16)
        ASSERT_RC(put_seq(q, 5000, rest - 8, SS_NO_WAIT), 0);

    ss_msg msgs[2];
    size_t n = 0;
    ASSERT_RC(ss_queue_read_begin(q, msgs, 2, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 2);
    /* Producers keep working while a read is in progress but cannot take
     * the exposed space. */
    ASSERT_RC(put_seq(q, 9999, 64, SS_NO_WAIT), SS_EAGAIN);
    assert_true(check_msg(msgs[0].data, 64, 0));
    assert_true(check_msg(msgs[1].data, 64, 1));
    ASSERT_RC(ss_queue_read_end(q, 1), 0);
    /* One record freed: one put fits, the second exposed one intact. */
    ASSERT_RC(put_seq(q, (uint32_t)fit, 64, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 9999, 64, SS_NO_WAIT), SS_EAGAIN);
    for (uint32_t i = 1; i < fit; i++)
        get_check(q, i, 64);
    if (rest >= 16)
        get_check(q, 5000, rest - 8);
    get_check(q, (uint32_t)fit, 64);
    ss_queue_destroy(q);
}

/* While one thread holds a read, other consumers wait for it. */
static void test_zero_copy_excludes_consumers(void **state)
{
    (void)state;
    ss_queue *q = mkq(page_size(), 0);
    for (uint32_t i = 0; i < 5; i++)
        ASSERT_RC(put_seq(q, i, 16, SS_NO_WAIT), 0);
    ss_msg msgs[3];
    size_t n = 0;
    ASSERT_RC(ss_queue_read_begin(q, msgs, 3, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 3);

    static struct blocker b;
    blocker_start(&b, q, OP_GET, SS_WAIT_FOREVER);
    blocker_wait_asleep(&b);
    /* The other consumer must not have taken anything meanwhile. */
    assert_int_equal(atomic_load(&b.done), 0);
    assert_int_equal(ss_queue_size(q), 5);
    assert_true(check_msg(msgs[0].data, 16, 0));
    ASSERT_RC(ss_queue_read_end(q, 3), 0);
    blocker_join(&b);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.len, 16);
    assert_true(check_msg(b.buf, 16, 3));
    get_check(q, 4, 16);
    ss_queue_destroy(q);
}

/* read_end belongs to the thread that began the read: from another thread
 * it is SS_ESTATE and changes nothing. */
struct other_end {
    ss_queue *q;
    int rc0, rc1;
};

static void *other_thread_read_end(void *arg)
{
    struct other_end *o = arg;
    o->rc0 = ss_queue_read_end(o->q, 0);
    o->rc1 = ss_queue_read_end(o->q, 1);
    return NULL;
}

static void test_zero_copy_other_thread_end(void **state)
{
    (void)state;
    ss_queue *q = mkq(page_size(), 0);
    ASSERT_RC(put_seq(q, 1, 24, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 2, 24, SS_NO_WAIT), 0);
    ss_msg msgs[2];
    size_t n = 0;
    ASSERT_RC(ss_queue_read_begin(q, msgs, 2, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 2);
    struct other_end o = {q, 12345, 12345};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread_read_end, &o), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    ASSERT_RC(o.rc0, SS_ESTATE);
    ASSERT_RC(o.rc1, SS_ESTATE);
    assert_int_equal(ss_queue_size(q), 2);
    assert_true(check_msg(msgs[1].data, 24, 2));
    ASSERT_RC(ss_queue_read_end(q, 1), 0);
    get_check(q, 2, 24);
    ss_queue_destroy(q);
}

/* ---- close ---- */

static void test_close_drains_then_eclosed(void **state)
{
    (void)state;
    const size_t p = page_size();
    ss_queue *q = mkq(p, 0);
    for (uint32_t i = 0; i < 4; i++)
        ASSERT_RC(put_seq(q, i, 10 + i, SS_NO_WAIT), 0);
    assert_false(ss_queue_is_closed(q));
    ASSERT_RC(ss_queue_close(q), 0);
    assert_true(ss_queue_is_closed(q));
    assert_true(stats_of(q).closed);
    ASSERT_RC(ss_queue_close(q), 0);
    assert_true(ss_queue_is_closed(q));

    unsigned char buf[64];
    ss_msg batch[1] = {{buf, 4}};
    ASSERT_RC(ss_queue_put(q, buf, 4, SS_NO_WAIT), SS_ECLOSED);
    ASSERT_RC(ss_queue_put(q, buf, 4, SS_WAIT_FOREVER), SS_ECLOSED);
    ASSERT_RC(ss_queue_put_many(q, batch, 1, SS_WAIT_FOREVER), SS_ECLOSED);
    assert_int_equal(stats_of(q).refused_full, 0);
    assert_int_equal(stats_of(q).put_total, 4);

    /* What was committed before the close is all delivered, in order, by
     * each kind of get. */
    get_check(q, 0, 10);
    ss_msg msgs[4];
    size_t n = 0;
    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, msgs, 1, &n, SS_WAIT_FOREVER), 0);
    assert_int_equal(n, 1);
    assert_true(check_msg(msgs[0].data, 11, 1));
    ASSERT_RC(ss_queue_read_begin(q, msgs, 1, &n, SS_WAIT_FOREVER), 0);
    assert_int_equal(n, 1);
    assert_true(check_msg(msgs[0].data, 12, 2));
    ASSERT_RC(ss_queue_read_end(q, 1), 0);
    size_t len = 0;
    ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, SS_WAIT_FOREVER), 0);
    assert_int_equal(len, 13);
    assert_true(check_msg(buf, len, 3));

    /* Drained: ECLOSED at once whatever the timeout. */
    ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT), SS_ECLOSED);
    ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, SS_MSEC(10)), SS_ECLOSED);
    ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, SS_WAIT_FOREVER), SS_ECLOSED);
    ASSERT_RC(ss_queue_get_many(q, buf, sizeof buf, msgs, 4, &n, SS_WAIT_FOREVER),
              SS_ECLOSED);
    ASSERT_RC(ss_queue_read_begin(q, msgs, 4, &n, SS_WAIT_FOREVER), SS_ECLOSED);
    ASSERT_RC(ss_queue_read_end(q, 0), SS_ESTATE);
    ss_queue_stats s = stats_of(q);
    assert_int_equal(s.msgs, 0);
    assert_int_equal(s.got_total, 4);
    assert_true(s.closed);
    ss_queue_destroy(q);
}

static void test_close_wakes_blocked_threads(void **state)
{
    (void)state;
    const size_t p = page_size();
    ss_queue *qe = mkq(p, 0); /* empty: consumers block */
    ss_queue *qf = mkq(p, 0); /* full: a producer blocks */
    ASSERT_RC(put_seq(qf, 1, p - 8, SS_NO_WAIT), 0);

    static struct blocker b[4];
    blocker_start(&b[0], qe, OP_GET, SS_WAIT_FOREVER);
    blocker_start(&b[1], qe, OP_GET_MANY, SS_WAIT_FOREVER);
    blocker_start(&b[2], qe, OP_READ_BEGIN, SS_SEC(30));
    b[3].put_len = 16;
    b[3].put_seq = 2;
    blocker_start(&b[3], qf, OP_PUT, SS_WAIT_FOREVER);
    for (int i = 0; i < 4; i++)
        blocker_wait_asleep(&b[i]);
    for (int i = 0; i < 4; i++)
        assert_int_equal(atomic_load(&b[i].done), 0);

    ASSERT_RC(ss_queue_close(qe), 0);
    ASSERT_RC(ss_queue_close(qf), 0);
    for (int i = 0; i < 4; i++) {
        blocker_join(&b[i]);
        if (b[i].rc != SS_ECLOSED)
            fail_msg("blocked op %d woke with %d", b[i].op, b[i].rc);
    }
    /* The message held by qf is still delivered after the close. */
    get_check(qf, 1, p - 8);
    ss_queue_destroy(qe);
    ss_queue_destroy(qf);
}

static int child_blocked_get(void *arg)
{
    ss_queue *q = arg;
    unsigned char buf[64];
    size_t len = 0;
    int rc = ss_queue_get(q, buf, sizeof buf, &len, SS_WAIT_FOREVER);
    int rc2 = ss_queue_get(q, buf, sizeof buf, &len, SS_WAIT_FOREVER);
    ss_queue_destroy(q);
    if (rc != 0 || len != 8 || !check_msg(buf, 8, 31))
        return 2;
    return rc2 == SS_ECLOSED ? 0 : 3;
}

static void test_close_wakes_blocked_process(void **state)
{
    (void)state;
    ss_queue *q = mkq(page_size(), 0);
    pid_t pid = tu_fork(child_blocked_get, q);
    assert_true(pid > 0);
    /* Each step waits until the child sleeps in its get (10 s at most). */
    tu_wait_asleep(pid, 10000);
    ASSERT_RC(put_seq(q, 31, 8, SS_NO_WAIT), 0); /* wakes the first get */
    int64_t deadline = tu_now_ns() + SS_SEC(10);
    while (stats_of(q).got_total < 1 && tu_now_ns() < deadline)
        tu_sleep_us(200);
    tu_wait_asleep(pid, 10000);
    ASSERT_RC(ss_queue_close(q), 0); /* wakes the second */
    assert_int_equal(tu_wait(pid, 20000), 0);
    assert_int_equal(stats_of(q).got_total, 1);
    ss_queue_destroy(q);
}

/* ---- statistics ---- */

static void test_stats_exact(void **state)
{
    (void)state;
    const size_t p = page_size();
    ss_queue *q = mkq(p, 0);
    ASSERT_RC(put_seq(q, 0, 1, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 1, 8, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 2, 9, SS_NO_WAIT), 0);
    ASSERT_RC(put_seq(q, 3, 100, SS_NO_WAIT), 0);
    ss_queue_stats s = stats_of(q);
    assert_int_equal(s.msgs, 4);
    assert_int_equal(ss_queue_size(q), 4);
    assert_int_equal(s.bytes, 118);
    assert_int_equal(s.ring_used, 16 + 16 + 24 + 112);
    assert_int_equal(s.capacity, p);
    assert_int_equal(s.max_msgs, 0);
    assert_int_equal(s.max_msg_size, p - 8);
    assert_int_equal(s.put_total, 4);
    assert_int_equal(s.got_total, 0);
    assert_int_equal(s.refused_full, 0);
    assert_int_equal(s.repairs, 0);
    assert_false(s.closed);

    get_check(q, 0, 1);
    s = stats_of(q);
    assert_int_equal(s.msgs, 3);
    assert_int_equal(s.bytes, 117);
    assert_int_equal(s.ring_used, 16 + 24 + 112);
    assert_int_equal(s.got_total, 1);

    /* A refused put counts once per call. */
    ASSERT_RC(put_seq(q, 9, p - 8, SS_NO_WAIT), SS_EAGAIN);
    ASSERT_RC(put_seq(q, 9, p - 8, SS_MSEC(1)), SS_ETIMEDOUT);
    s = stats_of(q);
    assert_int_equal(s.refused_full, 2);
    assert_int_equal(s.put_total, 4);
    assert_int_equal(s.msgs, 3);

    get_check(q, 1, 8);
    get_check(q, 2, 9);
    get_check(q, 3, 100);
    ASSERT_RC(ss_queue_close(q), 0);
    s = stats_of(q);
    assert_int_equal(s.msgs, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(s.ring_used, 0);
    assert_int_equal(s.put_total, 4);
    assert_int_equal(s.got_total, 4);
    assert_int_equal(s.refused_full, 2);
    assert_true(s.closed);
    ss_queue_destroy(q);
}

/* ---- spin ---- */

static void test_spin_zero(void **state)
{
    (void)state;
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = page_size();
    o.spin_ns = 0;
    ss_queue *q = NULL;
    ASSERT_RC(ss_queue_create(&q, &o), 0);

    for (int round = 0; round < 3; round++) {
        ss_queue_set_spin(q, round == 1 ? 1000000u : 0u);
        static struct blocker b;
        blocker_start(&b, q, OP_GET, SS_WAIT_FOREVER);
        blocker_wait_asleep(&b);
        ASSERT_RC(put_seq(q, (uint32_t)(50 + round), 33, SS_NO_WAIT), 0);
        blocker_join(&b);
        assert_int_equal(b.rc, 0);
        assert_int_equal(b.len, 33);
        assert_true(check_msg(b.buf, 33, (uint32_t)(50 + round)));

        /* A blocked put woken by a get. */
        ASSERT_RC(put_seq(q, 70, page_size() - 8, SS_NO_WAIT), 0);
        b.put_len = 12;
        b.put_seq = (uint32_t)(80 + round);
        blocker_start(&b, q, OP_PUT, SS_WAIT_FOREVER);
        blocker_wait_asleep(&b);
        assert_int_equal(atomic_load(&b.done), 0);
        get_check(q, 70, page_size() - 8);
        blocker_join(&b);
        assert_int_equal(b.rc, 0);
        get_check(q, (uint32_t)(80 + round), 12);
    }
    ss_queue_destroy(q);
}

static void test_destroy_null(void **state)
{
    (void)state;
    ss_queue_destroy(NULL);
    /* And a real one, created and destroyed many times: no leak of
     * mappings makes this fail eventually. */
    for (int i = 0; i < 2000; i++) {
        ss_queue *q = mkq(page_size(), 0);
        ASSERT_RC(put_seq(q, (uint32_t)i, 9, SS_NO_WAIT), 0);
        get_check(q, (uint32_t)i, 9);
        ss_queue_destroy(q);
    }
}

/* ---- an anonymous queue shared with a forked child ---- */

#define FORK_MSGS 3000

static size_t fork_len(uint32_t seq)
{
    return 1 + (seq * 2654435761u >> 7) % 700;
}

static int child_producer(void *arg)
{
    ss_queue *q = arg;
    unsigned char m[1024];
    for (uint32_t i = 0; i < FORK_MSGS; i++) {
        size_t len = fork_len(i);
        fill_msg(m, len, i);
        if (ss_queue_put(q, m, len, SS_SEC(20)) != 0)
            return 2;
    }
    ss_queue_destroy(q);
    return 0;
}

static int child_consumer(void *arg)
{
    ss_queue *q = arg;
    unsigned char m[1024];
    for (uint32_t i = 0; i < FORK_MSGS; i++) {
        size_t len = 0;
        if (ss_queue_get(q, m, sizeof m, &len, SS_SEC(20)) != 0)
            return 2;
        if (len != fork_len(i) || !check_msg(m, len, i))
            return 3;
    }
    /* The parent closes after its last put: drained, then ECLOSED. */
    size_t len;
    int rc = ss_queue_get(q, m, sizeof m, &len, SS_SEC(20));
    ss_queue_destroy(q);
    return rc == SS_ECLOSED ? 0 : 4;
}

static void test_fork_shared(void **state)
{
    (void)state;
    ss_queue *q = mkq(2 * page_size(), 0); /* small: both sides block */

    pid_t pid = tu_fork(child_producer, q);
    assert_true(pid > 0);
    unsigned char m[1024];
    for (uint32_t i = 0; i < FORK_MSGS; i++) {
        size_t len = 0;
        ASSERT_RC(ss_queue_get(q, m, sizeof m, &len, SS_SEC(20)), 0);
        if (len != fork_len(i) || !check_msg(m, len, i))
            fail_msg("message %u from the child: len %zu, bad", i, len);
    }
    assert_int_equal(tu_wait(pid, 20000), 0);
    assert_int_equal(ss_queue_size(q), 0);
    ss_queue_stats s = stats_of(q);
    assert_int_equal(s.put_total, FORK_MSGS);
    assert_int_equal(s.got_total, FORK_MSGS);

    pid = tu_fork(child_consumer, q);
    assert_true(pid > 0);
    for (uint32_t i = 0; i < FORK_MSGS; i++) {
        size_t len = fork_len(i);
        fill_msg(m, len, i);
        ASSERT_RC(ss_queue_put(q, m, len, SS_SEC(20)), 0);
    }
    ASSERT_RC(ss_queue_close(q), 0);
    assert_int_equal(tu_wait(pid, 20000), 0);
    s = stats_of(q);
    assert_int_equal(s.put_total, 2 * FORK_MSGS);
    assert_int_equal(s.got_total, 2 * FORK_MSGS);
    ss_queue_destroy(q);
}

/* ---- ss_queue_prefault ---- */

#define PREFAULT_CAP ((size_t)1 << 20)

/* In a forked child: fill the ring once with 4000-byte messages, prefaulted
 * first or not, and report through the exit code whether the fill took
 * page faults on most ring pages (1) or on few (0). */
static int child_fill_ring(void *arg)
{
    ss_queue *q = ((void **)arg)[0];
    bool prefault = ((void **)arg)[1] != NULL;
    if (prefault && ss_queue_prefault(q) != 0)
        return 10;
    static unsigned char m[4000];
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    size_t n = 0;
    while (ss_queue_put(q, m, sizeof m, SS_NO_WAIT) == 0)
        n++;
    getrusage(RUSAGE_SELF, &r1);
    if (n < PREFAULT_CAP / 4096 - 2)
        return 11;
    long faults = r1.ru_minflt - r0.ru_minflt;
    long pages = (long)(PREFAULT_CAP / page_size());
    /* Margins for sanitizer builds, whose shadow memory faults too. */
    return faults >= pages * 3 / 4 ? 1 : faults <= pages * 3 / 8 ? 0 : 12;
}

/* A forked child inherits the mapping, not its page-table entries: without
 * ss_queue_prefault() its first fill faults on each ring page, with it on
 * almost none; the contents are left alone either way. */
static void test_prefault(void **state)
{
    (void)state;
    assert_int_equal(ss_queue_prefault(NULL), SS_EINVAL);
    for (int pre = 0; pre < 2; pre++) {
        ss_queue *q = mkq(PREFAULT_CAP, 0);
        ASSERT_RC(ss_queue_put(q, "kept", 4, SS_NO_WAIT), 0);
        ASSERT_RC(ss_queue_prefault(q), 0);
        void *arg[2] = {q, pre ? q : NULL};
        pid_t pid = tu_fork(child_fill_ring, arg);
        assert_true(pid > 0);
#ifdef __SANITIZE_THREAD__
        /* ThreadSanitizer's shadow of the ring faults on every page the
         * fill writes: only the call and the contents are checked. */
        int rc = tu_wait(pid, 20000);
        assert_true(rc == 0 || rc == 1);
#else
        assert_int_equal(tu_wait(pid, 20000), pre ? 0 : 1);
#endif
        char buf[8];
        size_t len;
        ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT), 0);
        assert_int_equal(len, 4);
        assert_memory_equal(buf, "kept", 4);
        ss_queue_destroy(q);
    }
}

int main(void)
{
    tu_watchdog(55);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_init),
        cmocka_unit_test(test_create_defaults),
        cmocka_unit_test(test_create_invalid),
        cmocka_unit_test(test_capacity_rounding),
        cmocka_unit_test(test_roundtrip_sizes),
        cmocka_unit_test(test_einval),
        cmocka_unit_test(test_emsgsize),
        cmocka_unit_test(test_eagain_empty_and_full),
        cmocka_unit_test(test_etimedout),
        cmocka_unit_test(test_enobufs_get),
        cmocka_unit_test(test_put_many),
        cmocka_unit_test(test_max_msgs),
        cmocka_unit_test(test_get_many),
        cmocka_unit_test(test_many_sees_later_commits),
        cmocka_unit_test(test_fifo_wraparound_small),
        cmocka_unit_test(test_fifo_wraparound_large_msgs),
        cmocka_unit_test(test_max_msg_at_every_offset),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_zero_copy_holds_space),
        cmocka_unit_test(test_zero_copy_excludes_consumers),
        cmocka_unit_test(test_zero_copy_other_thread_end),
        cmocka_unit_test(test_close_drains_then_eclosed),
        cmocka_unit_test(test_close_wakes_blocked_threads),
        cmocka_unit_test(test_close_wakes_blocked_process),
        cmocka_unit_test(test_stats_exact),
        cmocka_unit_test(test_spin_zero),
        cmocka_unit_test(test_destroy_null),
        cmocka_unit_test(test_fork_shared),
        cmocka_unit_test(test_prefault),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

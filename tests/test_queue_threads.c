/*
 * test_queue_threads.c - many threads of one process sharing one handle:
 * no loss, no duplicate, per-producer order, intact content, with every
 * kind of put and get; blocking calls woken by other threads.
 *
 * Runs under ThreadSanitizer in CI: sizes are kept moderate.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "signal_slot/error.h"
#include "signal_slot/queue.h"
#include "testutil.h"

#define NPROD 4
#define MAX_CONS 4
#define PER_PROD 20000
#define HDR 12
#define MAX_LEN 200
#define CALL_TIMEOUT SS_SEC(30) /* a lost wake-up becomes an error, not a hang */

/* ---- messages: header (id, batch info, seq, checksum) + payload ---- */

struct hdr {
    uint16_t id;
    uint8_t blen; /* size of the put_many batch it was sent in (1: alone) */
    uint8_t bidx; /* its index in that batch */
    uint32_t seq;
    uint32_t sum; /* checksum of id, seq and the payload */
};

static size_t msg_len(unsigned id, uint32_t seq)
{
    uint32_t h = (seq + 1) * 2654435761u ^ (id + 1) * 0x85EBCA6Bu;
    h ^= h >> 15;
    return HDR + h % (MAX_LEN - HDR + 1); /* 12..200 */
}

static uint32_t msg_sum(const unsigned char *payload, size_t n, unsigned id,
                        uint32_t seq)
{
    return tu_hash32(payload, n) ^ (seq * 0x9E3779B1u) ^ ((uint32_t)id << 24);
}

static size_t build_msg(unsigned char *out, unsigned id, uint32_t seq,
                        unsigned blen, unsigned bidx)
{
    size_t len = msg_len(id, seq);
    unsigned char *pl = out + HDR;
    for (size_t i = 0; i < len - HDR; i++)
        pl[i] = (unsigned char)(id * 73u + seq * 31u + i * 7u + (seq >> 8));
    struct hdr h = {(uint16_t)id, (uint8_t)blen, (uint8_t)bidx, seq,
                    msg_sum(pl, len - HDR, id, seq)};
    memcpy(out, &h, HDR);
    return len;
}

/* ---- one run ---- */

enum { PUT_ONE, PUT_MANY, PUT_MIXED };
enum { GET_ONE, GET_MANY, GET_ZERO_COPY, GET_MIXED };

struct run {
    ss_queue *q;
    int put_mode;
    int get_mode;
    int ncons;
    uint32_t per_prod;
    int check_batches; /* only meaningful with one consumer */
    _Atomic unsigned char seen[NPROD][PER_PROD];
    atomic_long received;
    atomic_long dups;
    atomic_long order_errors;
    atomic_long content_errors;
    atomic_long batch_errors;
    atomic_long call_errors;
    atomic_int last_bad_rc;
};

struct worker {
    struct run *run;
    unsigned id;
    pthread_t tid;
};

static void note_call_error(struct run *r, int rc)
{
    atomic_fetch_add(&r->call_errors, 1);
    atomic_store(&r->last_bad_rc, rc);
}

static void *producer_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    unsigned char bufs[8][MAX_LEN];
    ss_msg batch[8];
    uint64_t rng = 0x1234567ull + w->id * 7919u;
    uint32_t seq = 0;
    while (seq < r->per_prod) {
        int many = r->put_mode == PUT_MANY ||
                   (r->put_mode == PUT_MIXED && tu_rand(&rng) % 2 == 0);
        if (!many) {
            size_t len = build_msg(bufs[0], w->id, seq, 1, 0);
            int rc = ss_queue_put(r->q, bufs[0], len, CALL_TIMEOUT);
            if (rc != 0) {
                note_call_error(r, rc);
                return NULL;
            }
            seq++;
            continue;
        }
        unsigned k = 1 + (unsigned)(tu_rand(&rng) % 8);
        if (k > r->per_prod - seq)
            k = r->per_prod - seq;
        for (unsigned i = 0; i < k; i++) {
            batch[i].data = bufs[i];
            batch[i].len = build_msg(bufs[i], w->id, seq + i, k, i);
        }
        int rc = ss_queue_put_many(r->q, batch, k, CALL_TIMEOUT);
        if (rc != 0) {
            note_call_error(r, rc);
            return NULL;
        }
        seq += k;
    }
    return NULL;
}

struct cons_state {
    int64_t last_seq[NPROD];
    /* batch tracking (single consumer) */
    unsigned batch_left;
    unsigned batch_id;
    uint32_t batch_next_seq;
    unsigned batch_next_idx;
    long received;
};

static void consume_one(struct run *r, struct cons_state *cs, const void *data,
                        size_t len)
{
    struct hdr h;
    if (len < HDR) {
        atomic_fetch_add(&r->content_errors, 1);
        return;
    }
    memcpy(&h, data, HDR);
    if (h.id >= NPROD || h.seq >= r->per_prod || len != msg_len(h.id, h.seq) ||
        h.sum != msg_sum((const unsigned char *)data + HDR, len - HDR, h.id,
                         h.seq)) {
        atomic_fetch_add(&r->content_errors, 1);
        return;
    }
    const unsigned char *pl = (const unsigned char *)data + HDR;
    for (size_t i = 0; i < len - HDR; i++) {
        if (pl[i] != (unsigned char)(h.id * 73u + h.seq * 31u + i * 7u +
                                     (h.seq >> 8))) {
            atomic_fetch_add(&r->content_errors, 1);
            return;
        }
    }
    cs->received++;
    if ((int64_t)h.seq <= cs->last_seq[h.id])
        atomic_fetch_add(&r->order_errors, 1);
    cs->last_seq[h.id] = h.seq;
    if (atomic_fetch_add(&r->seen[h.id][h.seq], 1) != 0)
        atomic_fetch_add(&r->dups, 1);

    if (r->check_batches) {
        if (cs->batch_left > 0) {
            /* Inside a batch: the very next message must be its next one. */
            if (h.id != cs->batch_id || h.seq != cs->batch_next_seq ||
                h.bidx != cs->batch_next_idx)
                atomic_fetch_add(&r->batch_errors, 1);
            cs->batch_left--;
            cs->batch_next_seq++;
            cs->batch_next_idx++;
        } else {
            if (h.bidx != 0)
                atomic_fetch_add(&r->batch_errors, 1);
            if (h.blen > 1) {
                cs->batch_left = h.blen - 1u;
                cs->batch_id = h.id;
                cs->batch_next_seq = h.seq + 1;
                cs->batch_next_idx = 1;
            }
        }
    }
}

static void *consumer_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    struct cons_state cs;
    memset(&cs, 0, sizeof cs);
    for (int i = 0; i < NPROD; i++)
        cs.last_seq[i] = -1;
    _Alignas(8) unsigned char buf[8 * 208];
    ss_msg msgs[8];
    uint64_t rng = 0xABCDEFull + w->id * 104729u;
    int mode = r->get_mode == GET_MIXED ? (int)(w->id % 3) : r->get_mode;

    for (;;) {
        int rc;
        if (mode == GET_ONE) {
            size_t len = 0;
            rc = ss_queue_get(r->q, buf, MAX_LEN, &len, CALL_TIMEOUT);
            if (rc == 0)
                consume_one(r, &cs, buf, len);
        } else if (mode == GET_MANY) {
            size_t n = 0;
            size_t maxm = 1 + tu_rand(&rng) % 8;
            rc = ss_queue_get_many(r->q, buf, sizeof buf, msgs, maxm, &n,
                                   CALL_TIMEOUT);
            if (rc == 0) {
                if (n < 1 || n > maxm)
                    atomic_fetch_add(&r->content_errors, 1);
                for (size_t i = 0; i < n; i++) {
                    const unsigned char *d = msgs[i].data;
                    if (d < buf || d + msgs[i].len > buf + sizeof buf ||
                        (size_t)(d - buf) % 8 != 0)
                        atomic_fetch_add(&r->content_errors, 1);
                    else
                        consume_one(r, &cs, d, msgs[i].len);
                }
            }
        } else {
            size_t n = 0;
            size_t maxm = 1 + tu_rand(&rng) % 8;
            rc = ss_queue_read_begin(r->q, msgs, maxm, &n, CALL_TIMEOUT);
            if (rc == 0) {
                if (n < 1 || n > maxm)
                    atomic_fetch_add(&r->content_errors, 1);
                /* Consume a prefix; the rest stays for whoever comes next. */
                size_t consumed = 1 + tu_rand(&rng) % n;
                for (size_t i = 0; i < consumed; i++)
                    consume_one(r, &cs, msgs[i].data, msgs[i].len);
                int e = ss_queue_read_end(r->q, consumed);
                if (e != 0) {
                    note_call_error(r, e);
                    break;
                }
            }
        }
        if (rc == SS_ECLOSED)
            break;
        if (rc != 0) {
            note_call_error(r, rc);
            break;
        }
    }
    if (r->check_batches && cs.batch_left != 0)
        atomic_fetch_add(&r->batch_errors, 1);
    atomic_fetch_add(&r->received, cs.received);
    return NULL;
}

static void run_mpmc(int put_mode, int get_mode, int ncons, uint32_t per_prod,
                     size_t capacity, int check_batches)
{
    struct run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = capacity;
    assert_int_equal(ss_queue_create(&r->q, &o), 0);
    r->put_mode = put_mode;
    r->get_mode = get_mode;
    r->ncons = ncons;
    r->per_prod = per_prod;
    r->check_batches = check_batches;

    struct worker prod[NPROD], cons[MAX_CONS];
    for (int i = 0; i < ncons; i++) {
        cons[i].run = r;
        cons[i].id = (unsigned)i;
        assert_int_equal(pthread_create(&cons[i].tid, NULL, consumer_main, &cons[i]), 0);
    }
    for (int i = 0; i < NPROD; i++) {
        prod[i].run = r;
        prod[i].id = (unsigned)i;
        assert_int_equal(pthread_create(&prod[i].tid, NULL, producer_main, &prod[i]), 0);
    }
    for (int i = 0; i < NPROD; i++)
        assert_int_equal(pthread_join(prod[i].tid, NULL), 0);
    /* All puts returned: close, consumers drain what is left and stop. */
    assert_int_equal(ss_queue_close(r->q), 0);
    for (int i = 0; i < ncons; i++)
        assert_int_equal(pthread_join(cons[i].tid, NULL), 0);

    long expected = (long)NPROD * per_prod;
    if (atomic_load(&r->call_errors) != 0)
        fail_msg("%ld calls failed, last %s", atomic_load(&r->call_errors),
                 ss_errname(atomic_load(&r->last_bad_rc)));
    assert_int_equal(atomic_load(&r->content_errors), 0);
    assert_int_equal(atomic_load(&r->dups), 0);
    assert_int_equal(atomic_load(&r->order_errors), 0);
    assert_int_equal(atomic_load(&r->batch_errors), 0);
    assert_int_equal(atomic_load(&r->received), expected);
    long missing = 0;
    for (int p = 0; p < NPROD; p++)
        for (uint32_t s = 0; s < per_prod; s++)
            if (atomic_load(&r->seen[p][s]) != 1)
                missing++;
    assert_int_equal(missing, 0);

    ss_queue_stats st;
    assert_int_equal(ss_queue_get_stats(r->q, &st), 0);
    assert_int_equal(st.msgs, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.put_total, (uint64_t)expected);
    assert_int_equal(st.got_total, (uint64_t)expected);
    assert_true(st.closed);
    ss_queue_destroy(r->q);
    free(r);
}

static void test_put_get(void **state)
{
    (void)state;
    run_mpmc(PUT_ONE, GET_ONE, 4, PER_PROD, 64 * 1024, 0);
}

static void test_put_get_many_small_ring(void **state)
{
    (void)state;
    run_mpmc(PUT_ONE, GET_MANY, 4, PER_PROD, 8 * 1024, 0);
}

static void test_put_zero_copy(void **state)
{
    (void)state;
    run_mpmc(PUT_ONE, GET_ZERO_COPY, 4, PER_PROD, 16 * 1024, 0);
}

static void test_put_many_get(void **state)
{
    (void)state;
    run_mpmc(PUT_MANY, GET_ONE, 4, PER_PROD, 16 * 1024, 0);
}

/* One consumer sees each batch as one contiguous run. */
static void test_put_many_contiguous(void **state)
{
    (void)state;
    run_mpmc(PUT_MANY, GET_ONE, 1, PER_PROD, 8 * 1024, 1);
    run_mpmc(PUT_MIXED, GET_MANY, 1, PER_PROD / 2, 8 * 1024, 1);
    run_mpmc(PUT_MIXED, GET_ZERO_COPY, 1, PER_PROD / 2, 8 * 1024, 1);
}

static void test_mixed(void **state)
{
    (void)state;
    run_mpmc(PUT_MIXED, GET_MIXED, 4, PER_PROD, 32 * 1024, 0);
}

/* ---- blocking calls woken by other threads ---- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

struct waiter {
    ss_queue *q;
    int op; /* 0 get, 1 put */
    int rc;
    size_t len;
    unsigned char buf[256];
    atomic_int done;
    pthread_t tid;
    _Atomic pid_t os_tid; /* for waiter_wait_asleep */
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    atomic_store(&w->os_tid, tu_gettid());
    if (w->op == 0)
        w->rc = ss_queue_get(w->q, w->buf, sizeof w->buf, &w->len, SS_WAIT_FOREVER);
    else
        w->rc = ss_queue_put(w->q, w->buf, w->len, SS_WAIT_FOREVER);
    atomic_store(&w->done, 1);
    return NULL;
}

/* waiter_wait_asleep - wait until w's thread sleeps in its call (or has
 * returned, which the test's own checks then judge), 10 s at most: what
 * comes next is done to a blocked call, as the test means, and not to one
 * that has not started yet (as after a fixed sleep on a loaded machine). */
static void waiter_wait_asleep(struct waiter *w)
{
    int64_t deadline = tu_now_ns() + SS_SEC(10);
    pid_t tid;
    while ((tid = atomic_load(&w->os_tid)) == 0 && tu_now_ns() < deadline)
        tu_sleep_us(200);
    if (tid != 0)
        tu_wait_asleep(tid, 10000);
}

/* An actor acts on the queue once the waiter sleeps in its call. */
struct actor {
    ss_queue *q;
    int action; /* 0 put "wake-up!", 1 close, 2 get one */
    struct waiter *after;
    int rc;
};

static void *actor_main(void *arg)
{
    struct actor *a = arg;
    waiter_wait_asleep(a->after);
    if (a->action == 0) {
        a->rc = ss_queue_put(a->q, "wake-up!", 8, SS_NO_WAIT);
    } else if (a->action == 1) {
        a->rc = ss_queue_close(a->q);
    } else {
        unsigned char b[8192];
        size_t len;
        a->rc = ss_queue_get(a->q, b, sizeof b, &len, SS_NO_WAIT);
    }
    return NULL;
}

static ss_queue *mkq(size_t cap, uint32_t spin)
{
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = cap;
    o.spin_ns = spin;
    ss_queue *q = NULL;
    assert_int_equal(ss_queue_create(&q, &o), 0);
    return q;
}

static void test_blocked_get_woken_by_put(void **state)
{
    (void)state;
    for (int spin = 0; spin < 2; spin++) {
        ss_queue *q = mkq(4096, spin ? SS_QUEUE_DEFAULT_SPIN_NS : 0);
        struct waiter w = {.q = q, .op = 0};
        struct actor a = {.q = q, .action = 0, .after = &w};
        pthread_t at;
        assert_int_equal(pthread_create(&w.tid, NULL, waiter_main, &w), 0);
        assert_int_equal(pthread_create(&at, NULL, actor_main, &a), 0);
        assert_int_equal(pthread_join(at, NULL), 0);
        assert_int_equal(pthread_join(w.tid, NULL), 0);
        assert_int_equal(a.rc, 0);
        assert_int_equal(w.rc, 0);
        assert_int_equal(w.len, 8);
        assert_memory_equal(w.buf, "wake-up!", 8);
        assert_int_equal(ss_queue_size(q), 0);
        ss_queue_destroy(q);
    }
}

static void test_blocked_get_woken_by_close(void **state)
{
    (void)state;
    ss_queue *q = mkq(4096, 0);
    struct waiter w = {.q = q, .op = 0};
    struct actor a = {.q = q, .action = 1, .after = &w};
    pthread_t at;
    assert_int_equal(pthread_create(&w.tid, NULL, waiter_main, &w), 0);
    assert_int_equal(pthread_create(&at, NULL, actor_main, &a), 0);
    assert_int_equal(pthread_join(at, NULL), 0);
    assert_int_equal(pthread_join(w.tid, NULL), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(w.rc, SS_ECLOSED);
    ss_queue_destroy(q);
}

static void test_blocked_put_woken_by_get(void **state)
{
    (void)state;
    ss_queue *q = mkq(4096, 0);
    static unsigned char big[4096 - 8];
    memset(big, 0x3C, sizeof big);
    assert_int_equal(ss_queue_put(q, big, sizeof big, SS_NO_WAIT), 0);
    struct waiter w = {.q = q, .op = 1, .len = 5};
    memcpy(w.buf, "after", 5);
    struct actor a = {.q = q, .action = 2, .after = &w};
    pthread_t at;
    assert_int_equal(pthread_create(&w.tid, NULL, waiter_main, &w), 0);
    assert_int_equal(pthread_create(&at, NULL, actor_main, &a), 0);
    assert_int_equal(pthread_join(at, NULL), 0);
    assert_int_equal(pthread_join(w.tid, NULL), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(w.rc, 0);
    unsigned char out[16];
    size_t len = 0;
    assert_int_equal(ss_queue_get(q, out, sizeof out, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(out, "after", 5);
    ss_queue_destroy(q);
}

/* Several sleeping consumers: each message wakes one, none is lost, and a
 * close wakes the rest. */
static void test_many_sleepers(void **state)
{
    (void)state;
    enum { W = 6 };
    for (int round = 0; round < 5; round++) {
        ss_queue *q = mkq(4096, round % 2 ? 0 : 2000);
        struct waiter w[W];
        for (int i = 0; i < W; i++) {
            memset(&w[i], 0, sizeof w[i]);
            w[i].q = q;
            w[i].op = 0;
            assert_int_equal(pthread_create(&w[i].tid, NULL, waiter_main, &w[i]), 0);
        }
        for (int i = 0; i < W; i++)
            waiter_wait_asleep(&w[i]);
        /* W - 2 messages, one at a time from this thread. */
        for (int i = 0; i < W - 2; i++) {
            unsigned char m[4] = {(unsigned char)i, 0xAA, 0xBB, (unsigned char)round};
            assert_int_equal(ss_queue_put(q, m, sizeof m, SS_NO_WAIT), 0);
        }
        /* Wait until W - 2 waiters are done. */
        int64_t deadline = tu_now_ns() + SS_SEC(20);
        int done;
        do {
            done = 0;
            for (int i = 0; i < W; i++)
                done += atomic_load(&w[i].done);
            if (done < W - 2)
                sleep_ms(1);
        } while (done < W - 2 && tu_now_ns() < deadline);
        assert_int_equal(done, W - 2);
        assert_int_equal(ss_queue_close(q), 0);
        unsigned got_mask = 0;
        int closed = 0;
        for (int i = 0; i < W; i++) {
            assert_int_equal(pthread_join(w[i].tid, NULL), 0);
            if (w[i].rc == SS_ECLOSED) {
                closed++;
                continue;
            }
            assert_int_equal(w[i].rc, 0);
            assert_int_equal(w[i].len, 4);
            assert_int_equal(w[i].buf[1], 0xAA);
            assert_int_equal(w[i].buf[2], 0xBB);
            assert_int_equal(w[i].buf[3], round);
            assert_true(w[i].buf[0] < W - 2);
            assert_false(got_mask & (1u << w[i].buf[0]));
            got_mask |= 1u << w[i].buf[0];
        }
        assert_int_equal(closed, 2);
        assert_int_equal(got_mask, (1u << (W - 2)) - 1);
        ss_queue_destroy(q);
    }
}

int main(void)
{
    tu_watchdog(55);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_get_woken_by_put),
        cmocka_unit_test(test_blocked_get_woken_by_close),
        cmocka_unit_test(test_blocked_put_woken_by_get),
        cmocka_unit_test(test_many_sleepers),
        cmocka_unit_test(test_put_get),
        cmocka_unit_test(test_put_get_many_small_ring),
        cmocka_unit_test(test_put_zero_copy),
        cmocka_unit_test(test_put_many_get),
        cmocka_unit_test(test_put_many_contiguous),
        cmocka_unit_test(test_mixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

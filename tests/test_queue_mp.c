/*
 * test_queue_mp.c - multi-process validators of the queue.
 *
 * Producers and consumers are separate forked processes sharing one
 * anonymous queue. Every message carries a header {producer id, seq, payload
 * length, payload checksum} and a payload derived from (id, seq), so a
 * consumer can check each message exactly. Consumers record what they got in
 * shared memory: a global seen-bitmap (a bit already set means a duplicate)
 * and, per consumer and producer, a count and the next expected seq. The
 * parent then checks: every message seen exactly once, per-producer order
 * per consumer, exact order with one consumer.
 *
 * Also: wrap-around of the ring at every record offset, backpressure on small
 * and max_msgs-bounded queues, and blocking calls woken (or timing out)
 * across processes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "signal_slot/error.h"
#include "signal_slot/queue.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Test messages                                                            */
/* ------------------------------------------------------------------------ */


/* ------------------------------------------------------------------------ */
/* Shared results                                                           */
/* ------------------------------------------------------------------------ */

#define MP_MAXP 8
#define MP_MAXC 8

typedef struct mp_slot {
    uint32_t count; /* messages of this producer seen by this consumer */
    uint32_t next;  /* last seq seen + 1 */
} mp_slot;

typedef struct mp_shared {
    _Atomic uint64_t fails;
    _Atomic int noted;
    char note[512];
    _Atomic uint64_t delivered;
    _Atomic uint64_t enobufs;
    _Atomic uint64_t emsgsize;
    _Atomic uint64_t retries;
    mp_slot slot[MP_MAXC][MP_MAXP];
    _Atomic uint64_t bits[]; /* seen-bitmap, (id * per_prod + seq) */
} mp_shared;

static void sh_fail(mp_shared *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sh_fail(mp_shared *sh, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    uint64_t n = atomic_fetch_add(&sh->fails, 1);
    if (!atomic_exchange(&sh->noted, 1))
        memcpy(sh->note, line, sizeof sh->note);
    if (n < 10)
        fprintf(stderr, "[pid %d] FAILURE: %s\n", (int)getpid(), line);
}

/* ------------------------------------------------------------------------ */
/* P producers x C consumers                                                */
/* ------------------------------------------------------------------------ */

enum { PM_PUT, PM_MANY, PM_MIXED, PM_BYINDEX };
enum { CM_GET, CM_MANY, CM_READ, CM_MIXED, CM_BYINDEX };

typedef struct mp_cfg {
    const char *name;
    int np, nc;
    uint32_t per_prod;
    size_t capacity; /* 0: default */
    size_t max_msgs;
    uint32_t maxpay;
    int prod_mode;
    int cons_mode;
    bool late_consumers; /* start consumers once producers are blocked */
} mp_cfg;

typedef struct mp_child {
    const mp_cfg *cfg;
    ss_queue *q;
    mp_shared *sh;
    uint32_t idx;
    uint64_t seed;
} mp_child;

static size_t slot_size(uint32_t maxpay)
{
    return (TU_MSG_HDR + maxpay + 7) & ~(size_t)7;
}

static int mp_producer(void *arg)
{
    mp_child *c = arg;
    const mp_cfg *cfg = c->cfg;
    mp_shared *sh = c->sh;
    uint64_t rs = c->seed;
    int mode =
        cfg->prod_mode == PM_BYINDEX ? (int)(c->idx % 3) : cfg->prod_mode;
    size_t cap = ss_queue_capacity(c->q);
    size_t slot = slot_size(cfg->maxpay);
    uint8_t *buf = malloc(32 * slot);
    ss_msg msgs[32];
    uint32_t nmax = 32;
    uint64_t fails0 = atomic_load(&sh->fails);
    bool bad = false;

    if (buf == NULL)
        return 2;
    if (tu_rand(&rs) & 1)
        ss_queue_set_spin(c->q, 0);

    uint32_t seq = 0;
    while (seq < cfg->per_prod && !bad) {
        int m = mode == PM_MIXED ? (int)(tu_rand(&rs) % 2) : mode;
        int64_t to = tu_pick_timeout(&rs);
        uint32_t n = 1;
        int rc;
        if (m == PM_PUT) {
            size_t len = tu_msg_build(buf, c->idx, seq, cfg->maxpay);
            rc = ss_queue_put(c->q, buf, len, to);
        } else {
            n = 1 + (uint32_t)(tu_rand(&rs) % nmax);
            if (n > cfg->per_prod - seq)
                n = cfg->per_prod - seq;
            size_t cost = 0;
            for (uint32_t i = 0; i < n; i++) {
                uint8_t *p = buf + i * slot;
                msgs[i].data = p;
                msgs[i].len = tu_msg_build(p, c->idx, seq + i, cfg->maxpay);
                cost += tu_rec_cost(msgs[i].len);
            }
            rc = ss_queue_put_many(c->q, msgs, n, to);
            if (rc == SS_EMSGSIZE) {
                bool legit = n > 1 && ((cfg->max_msgs && n > cfg->max_msgs) ||
                                       cost > cap / 2);
                if (!legit) {
                    sh_fail(sh,
                            "producer %u: put_many of %u msgs (%zu ring "
                            "bytes, capacity %zu) refused with SS_EMSGSIZE",
                            c->idx, n, cost, cap);
                    bad = true;
                }
                atomic_fetch_add(&sh->emsgsize, 1);
                nmax = n / 2 ? n / 2 : 1;
                continue;
            }
        }
        if (rc == 0) {
            seq += n;
        } else if (tu_benign_retry(rc, to)) {
            atomic_fetch_add(&sh->retries, 1);
        } else {
            sh_fail(sh, "producer %u: put of seq %u (n %u, timeout %lld): %s",
                    c->idx, seq, n, (long long)to, ss_errname(rc));
            bad = true;
        }
    }
    free(buf);
    ss_queue_destroy(c->q);
    return bad || atomic_load(&sh->fails) != fails0 ? 1 : 0;
}

/* Validates a message and records it (consumer side). */
static void mp_record(mp_child *c, const void *data, size_t len)
{
    const mp_cfg *cfg = c->cfg;
    mp_shared *sh = c->sh;
    uint32_t id = 0, seq = 0;
    const char *why = tu_msg_check(data, len, cfg->maxpay, (uint32_t)cfg->np,
                                cfg->per_prod, &id, &seq);
    if (why) {
        sh_fail(sh, "consumer %u: corrupt message (len %zu): %s", c->idx, len,
                why);
        return;
    }
    uint64_t bit = (uint64_t)id * cfg->per_prod + seq;
    uint64_t mask = 1ull << (bit % 64);
    uint64_t old = atomic_fetch_or(&sh->bits[bit / 64], mask);
    if (old & mask)
        sh_fail(sh, "consumer %u: duplicate message (%u, %u)", c->idx, id, seq);
    mp_slot *s = &sh->slot[c->idx][id];
    if (seq < s->next)
        sh_fail(sh, "consumer %u: producer %u seq %u after seq %u", c->idx, id,
                seq, s->next - 1);
    else if (cfg->nc == 1 && seq != s->next)
        sh_fail(sh, "single consumer: producer %u seq %u, expected %u", id, seq,
                s->next);
    s->next = seq + 1;
    s->count++;
    atomic_fetch_add(&sh->delivered, 1);
}

static int mp_consumer(void *arg)
{
    mp_child *c = arg;
    const mp_cfg *cfg = c->cfg;
    mp_shared *sh = c->sh;
    uint64_t rs = c->seed;
    int mode =
        cfg->cons_mode == CM_BYINDEX ? (int)(c->idx % 4) : cfg->cons_mode;
    size_t slot = slot_size(cfg->maxpay);
    size_t bufsz = 64 * (slot + 8);
    uint8_t *buf = malloc(bufsz);
    ss_msg msgs[64];
    uint64_t fails0 = atomic_load(&sh->fails);
    bool bad = false;

    if (buf == NULL)
        return 2;
    if (tu_rand(&rs) & 1)
        ss_queue_set_spin(c->q, 0);

    while (!bad) {
        int m = mode == CM_MIXED ? (int)(tu_rand(&rs) % 3) : mode;
        int64_t to = tu_pick_timeout(&rs);
        int rc;
        if (m == CM_GET) {
            /* Sometimes a buffer that may be too small. */
            size_t sz = tu_rand(&rs) % 8 == 0
                            ? 1 + tu_rand(&rs) % (TU_MSG_HDR + cfg->maxpay)
                            : bufsz;
            size_t len = 0;
            rc = ss_queue_get(c->q, buf, sz, &len, to);
            if (rc == 0) {
                if (len > sz)
                    sh_fail(sh, "get: len %zu > buffer %zu", len, sz);
                else
                    mp_record(c, buf, len);
                continue;
            }
            if (rc == SS_ENOBUFS) {
                if (len <= sz)
                    sh_fail(sh, "get: SS_ENOBUFS but needs %zu <= %zu", len,
                            sz);
                atomic_fetch_add(&sh->enobufs, 1);
                continue;
            }
        } else if (m == CM_MANY) {
            size_t max = 1 + tu_rand(&rs) % 64;
            size_t sz =
                tu_rand(&rs) % 4 == 0 ? 1 + tu_rand(&rs) % (2 * slot) : bufsz;
            size_t n = 999;
            rc = ss_queue_get_many(c->q, buf, sz, msgs, max, &n, to);
            if (rc == 0) {
                if (n < 1 || n > max) {
                    sh_fail(sh, "get_many: n %zu (max %zu)", n, max);
                    continue;
                }
                size_t end = 0;
                for (size_t i = 0; i < n; i++) {
                    const uint8_t *p = msgs[i].data;
                    size_t off = (size_t)(p - buf);
                    if (p < buf || off % 8 != 0 || off < end ||
                        off + msgs[i].len > sz) {
                        sh_fail(sh,
                                "get_many: msg %zu/%zu at offset %td len %zu "
                                "(prev end %zu, buffer %zu)",
                                i, n, p - buf, msgs[i].len, end, sz);
                        break;
                    }
                    end = off + msgs[i].len;
                    mp_record(c, p, msgs[i].len);
                }
                continue;
            }
            if (rc == SS_ENOBUFS) {
                if (n != 0 || msgs[0].len <= sz)
                    sh_fail(sh,
                            "get_many: SS_ENOBUFS with n %zu need %zu "
                            "buffer %zu",
                            n, msgs[0].len, sz);
                atomic_fetch_add(&sh->enobufs, 1);
                continue;
            }
        } else {
            size_t max = 1 + tu_rand(&rs) % 64;
            size_t n = 999;
            rc = ss_queue_read_begin(c->q, msgs, max, &n, to);
            if (rc == 0) {
                if (n < 1 || n > max) {
                    sh_fail(sh, "read_begin: n %zu (max %zu)", n, max);
                    ss_queue_read_end(c->q, 0);
                    continue;
                }
                size_t k = tu_rand(&rs) % 4 == 0 ? tu_rand(&rs) % (n + 1) : n;
                /* All exposed messages must be intact; only the consumed
                 * prefix is recorded. */
                for (size_t i = k; i < n; i++) {
                    uint32_t id, seq;
                    const char *why =
                        tu_msg_check(msgs[i].data, msgs[i].len, cfg->maxpay,
                                  (uint32_t)cfg->np, cfg->per_prod, &id, &seq);
                    if (why)
                        sh_fail(sh, "read_begin: corrupt exposed msg: %s", why);
                }
                for (size_t i = 0; i < k; i++)
                    mp_record(c, msgs[i].data, msgs[i].len);
                int r2 = ss_queue_read_end(c->q, k);
                if (r2 != 0) {
                    sh_fail(sh, "read_end(%zu of %zu): %s", k, n,
                            ss_errname(r2));
                    bad = true;
                }
                continue;
            }
        }
        if (rc == SS_ECLOSED)
            break;
        if (tu_benign_retry(rc, to)) {
            atomic_fetch_add(&sh->retries, 1);
            continue;
        }
        sh_fail(sh, "consumer %u mode %d timeout %lld: %s", c->idx, m,
                (long long)to, ss_errname(rc));
        bad = true;
    }
    free(buf);
    ss_queue_destroy(c->q);
    return bad || atomic_load(&sh->fails) != fails0 ? 1 : 0;
}

static void run_mp(const mp_cfg *cfg)
{
    assert_true(cfg->np <= MP_MAXP && cfg->nc <= MP_MAXC);
    assert_true(cfg->maxpay + TU_MSG_HDR <= TU_MSG_MAX_PAYLOAD);
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = cfg->capacity;
    o.max_msgs = cfg->max_msgs;
    ss_queue *q = NULL;
    assert_int_equal(ss_queue_create(&q, &o), 0);

    uint64_t total = (uint64_t)cfg->np * cfg->per_prod;
    size_t words = (size_t)((total + 63) / 64);
    size_t shsize = sizeof(mp_shared) + words * sizeof(uint64_t);
    mp_shared *sh = tu_shared_alloc(shsize);

    mp_child pc[MP_MAXP], cc[MP_MAXC];
    pid_t ppid[MP_MAXP] = {0}, cpid[MP_MAXC] = {0};
    uint64_t seed = 0x1234567ull + (uint64_t)cfg->np * 31 + cfg->nc;
    for (int i = 0; i < cfg->np; i++) {
        pc[i] = (mp_child){cfg, q, sh, (uint32_t)i, tu_rand(&seed)};
    }
    for (int i = 0; i < cfg->nc; i++) {
        cc[i] = (mp_child){cfg, q, sh, (uint32_t)i, tu_rand(&seed)};
    }
    if (!cfg->late_consumers) {
        for (int i = 0; i < cfg->nc; i++) {
            cpid[i] = tu_fork(mp_consumer, &cc[i]);
            assert_true(cpid[i] > 0);
        }
    }
    for (int i = 0; i < cfg->np; i++) {
        ppid[i] = tu_fork(mp_producer, &pc[i]);
        assert_true(ppid[i] > 0);
    }

    if (cfg->late_consumers) {
        /* Nobody consumes: the producers fill the queue and block. Wait
         * until puts stop making progress, then check every producer is
         * still there (blocked, since each has far more to put than fits). */
        ss_queue_stats st;
        uint64_t prev = UINT64_MAX;
        int64_t deadline = tu_now_ns() + SS_SEC(20);
        for (;;) {
            tu_sleep_us(30000);
            assert_int_equal(ss_queue_get_stats(q, &st), 0);
            if (st.put_total == prev && st.put_total > 0)
                break;
            prev = st.put_total;
            assert_true(tu_now_ns() < deadline);
        }
        printf("  %s: queue full with %llu msgs, %llu ring bytes of %llu; "
               "producers blocked\n",
               cfg->name, (unsigned long long)st.msgs,
               (unsigned long long)st.ring_used,
               (unsigned long long)st.capacity);
        assert_true(st.msgs > 0);
        assert_true(st.ring_used <= st.capacity);
        if (cfg->max_msgs)
            assert_true(st.msgs <= cfg->max_msgs);
        for (int i = 0; i < cfg->np; i++)
            assert_false(tu_child_exited(ppid[i]));
        for (int i = 0; i < cfg->nc; i++) {
            cpid[i] = tu_fork(mp_consumer, &cc[i]);
            assert_true(cpid[i] > 0);
        }
    }

    /* Wait for the producers, sampling the level meanwhile. */
    int64_t deadline = tu_now_ns() + SS_SEC(40);
    uint64_t samples = 0, over = 0;
    for (;;) {
        bool all = true;
        for (int i = 0; i < cfg->np; i++)
            all = all && tu_child_exited(ppid[i]);
        if (all || tu_now_ns() > deadline)
            break;
        ss_queue_stats st;
        assert_int_equal(ss_queue_get_stats(q, &st), 0);
        samples++;
        if (st.ring_used > st.capacity ||
            (cfg->max_msgs && st.msgs > cfg->max_msgs))
            over++;
        tu_sleep_us(2000);
    }
    for (int i = 0; i < cfg->np; i++)
        assert_int_equal(tu_wait(ppid[i], 10000), 0);
    assert_int_equal(ss_queue_close(q), 0);
    for (int i = 0; i < cfg->nc; i++)
        assert_int_equal(tu_wait(cpid[i], 30000), 0);

    if (atomic_load(&sh->fails))
        fprintf(stderr, "%s: first failure: %s\n", cfg->name, sh->note);
    assert_int_equal(atomic_load(&sh->fails), 0);
    assert_int_equal(over, 0);

    /* Every (producer, seq) seen exactly once: the bitmap is full and the
     * counts add up (a duplicate would have been flagged). */
    uint64_t missing = 0;
    for (uint64_t b = 0; b < total; b++) {
        if (!(atomic_load(&sh->bits[b / 64]) & (1ull << (b % 64)))) {
            if (missing < 5)
                fprintf(stderr, "%s: lost message (%llu, %llu)\n", cfg->name,
                        (unsigned long long)(b / cfg->per_prod),
                        (unsigned long long)(b % cfg->per_prod));
            missing++;
        }
    }
    assert_int_equal(missing, 0);
    for (int p = 0; p < cfg->np; p++) {
        uint64_t n = 0;
        for (int k = 0; k < cfg->nc; k++)
            n += sh->slot[k][p].count;
        assert_int_equal(n, cfg->per_prod);
        if (cfg->nc == 1)
            assert_int_equal(sh->slot[0][p].next, cfg->per_prod);
    }
    assert_int_equal(atomic_load(&sh->delivered), total);

    ss_queue_stats st;
    assert_int_equal(ss_queue_get_stats(q, &st), 0);
    assert_true(st.closed);
    assert_int_equal(st.msgs, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.ring_used, 0);
    assert_int_equal(st.put_total, total);
    assert_int_equal(st.got_total, total);
    printf("  %s: %llu msgs, %llu ENOBUFS, %llu EMSGSIZE, %llu retries, "
           "%llu level samples\n",
           cfg->name, (unsigned long long)total,
           (unsigned long long)atomic_load(&sh->enobufs),
           (unsigned long long)atomic_load(&sh->emsgsize),
           (unsigned long long)atomic_load(&sh->retries),
           (unsigned long long)samples);

    ss_queue_destroy(q);
    tu_shared_free(sh, shsize);
}

static void test_mp_1x1_get(void **state)
{
    (void)state;
    mp_cfg c = {"1x1 put/get", 1,      1,      50000, 65536, 0,
                300,           PM_PUT, CM_GET, false};
    run_mp(&c);
}

static void test_mp_1x1_many(void **state)
{
    (void)state;
    mp_cfg c = {"1x1 put_many/get_many",
                1,
                1,
                50000,
                65536,
                0,
                300,
                PM_MANY,
                CM_MANY,
                false};
    run_mp(&c);
}

static void test_mp_1x1_read(void **state)
{
    (void)state;
    mp_cfg c = {"1x1 mixed/read", 1,       1,    50000, 65536, 0, 300,
                PM_MIXED,         CM_READ, false};
    run_mp(&c);
}

static void test_mp_4x1_mixed(void **state)
{
    (void)state;
    mp_cfg c = {"4x1 mixed", 4,   1,          50000,    65536,
                0,           300, PM_BYINDEX, CM_MIXED, false};
    run_mp(&c);
}

static void test_mp_4x1_read(void **state)
{
    (void)state;
    mp_cfg c = {"4x1 read", 4,   1,        25000,   16384,
                0,          300, PM_MIXED, CM_READ, false};
    run_mp(&c);
}

static void test_mp_1x4(void **state)
{
    (void)state;
    mp_cfg c = {"1x4", 1, 4, 50000, 0, 0, 300, PM_MIXED, CM_BYINDEX, false};
    run_mp(&c);
}

static void test_mp_4x4(void **state)
{
    (void)state;
    mp_cfg c = {"4x4", 4,   4,          50000,      65536,
                0,     300, PM_BYINDEX, CM_BYINDEX, false};
    run_mp(&c);
}

static void test_mp_8x8(void **state)
{
    (void)state;
    mp_cfg c = {"8x8", 8,   8,          20000,      32768,
                0,     300, PM_BYINDEX, CM_BYINDEX, false};
    run_mp(&c);
}

/* Small queue: producers fill it and block (SS_WAIT_FOREVER mostly), then
 * consumers start and the producers resume as they drain. */
static void test_backpressure_small(void **state)
{
    (void)state;
    mp_cfg c = {"backpressure 4x2 cap 4096",
                4,
                2,
                5000,
                4096,
                0,
                300,
                PM_BYINDEX,
                CM_BYINDEX,
                true};
    run_mp(&c);
}

/* max_msgs = 4: batches of more than 4 can never fit (SS_EMSGSIZE), the
 * level never exceeds 4. */
static void test_backpressure_max_msgs(void **state)
{
    (void)state;
    mp_cfg c = {"max_msgs 4, 4x3", 4,          3,   4000, 65536, 4, 300,
                PM_BYINDEX,        CM_BYINDEX, true};
    run_mp(&c);
}

/* ------------------------------------------------------------------------ */
/* Wrap-around at every offset                                              */
/* ------------------------------------------------------------------------ */

typedef struct wr_plan {
    uint32_t n, cap_n;
    uint32_t *len; /* message lengths */
    uint64_t *pos; /* ring position (bytes since start) of each record */
    uint32_t nsteps, cap_steps;
    uint32_t *step; /* first message of each step; step[nsteps] = n */
    uint32_t ntests;
} wr_plan;

static void wr_add(wr_plan *p, uint32_t len, uint64_t *pos)
{
    if (p->n == p->cap_n) {
        p->cap_n = p->cap_n ? 2 * p->cap_n : 1024;
        p->len = realloc(p->len, p->cap_n * sizeof *p->len);
        p->pos = realloc(p->pos, p->cap_n * sizeof *p->pos);
        assert_non_null(p->len);
        assert_non_null(p->pos);
    }
    p->len[p->n] = len;
    p->pos[p->n] = *pos;
    p->n++;
    *pos += tu_rec_cost(len);
}

static void wr_step(wr_plan *p)
{
    if (p->nsteps + 1 >= p->cap_steps) {
        p->cap_steps = p->cap_steps ? 2 * p->cap_steps : 1024;
        p->step = realloc(p->step, p->cap_steps * sizeof *p->step);
        assert_non_null(p->step);
    }
    p->step[p->nsteps++] = p->n;
}

/* Fillers that bring the next record to ring offset target. */
static void wr_fill_to(wr_plan *p, uint64_t *pos, size_t target, size_t cap,
                       size_t fmax)
{
    size_t d = (target + cap - (size_t)(*pos % cap)) % cap;
    while (d) {
        if (d < 16)
            d += cap; /* a record costs at least 16 */
        size_t chunk = d <= fmax ? d : (d - fmax >= 16 ? fmax : fmax - 16);
        wr_add(p, (uint32_t)(chunk - SS_QUEUE_RECORD_OVERHEAD), pos);
        d -= chunk;
    }
}

static void wr_bytes(uint8_t *buf, uint32_t k, uint32_t len)
{
    tu_msg_pay_fill(buf, 0xABCD0000u + (k >> 24), k, len);
}

typedef struct wr_arg {
    ss_queue *q;
    const wr_plan *plan;
    size_t maxm;
} wr_arg;

static int wr_producer(void *arg)
{
    wr_arg *a = arg;
    const wr_plan *p = a->plan;
    size_t cap = ss_queue_capacity(a->q);
    uint8_t *buf = malloc(cap * 2 + 64);
    ss_msg *msgs = malloc(64 * sizeof *msgs);
    int ret = 0;
    if (!buf || !msgs)
        return 2;
    for (uint32_t s = 0; s < p->nsteps && ret == 0; s++) {
        uint32_t b = p->step[s], e = p->step[s + 1];
        size_t cost = 0;
        for (uint32_t k = b; k < e; k++)
            cost += tu_rec_cost(p->len[k]);
        if (s % 2 == 1 && cost <= cap && e - b <= 64) {
            /* The whole step as one batch. */
            size_t off = 0;
            for (uint32_t k = b; k < e; k++) {
                wr_bytes(buf + off, k, p->len[k]);
                msgs[k - b].data = buf + off;
                msgs[k - b].len = p->len[k];
                off += (p->len[k] + 7) & ~7u;
            }
            int rc = ss_queue_put_many(a->q, msgs, e - b, SS_WAIT_FOREVER);
            if (rc != 0) {
                fprintf(stderr, "wrap: put_many step %u: %s\n", s,
                        ss_errname(rc));
                ret = 1;
            }
            continue;
        }
        for (uint32_t k = b; k < e && ret == 0; k++) {
            wr_bytes(buf, k, p->len[k]);
            int rc = ss_queue_put(a->q, buf, p->len[k], SS_WAIT_FOREVER);
            if (rc != 0) {
                fprintf(stderr, "wrap: put msg %u len %u: %s\n", k, p->len[k],
                        ss_errname(rc));
                ret = 1;
            }
        }
    }
    free(buf);
    free(msgs);
    ss_queue_destroy(a->q);
    return ret;
}

static void test_wraparound_every_offset(void **state)
{
    (void)state;
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = 4096;
    ss_queue *q = NULL;
    assert_int_equal(ss_queue_create(&q, &o), 0);
    size_t cap = ss_queue_capacity(q);
    size_t maxm = ss_queue_max_msg_size(q);
    assert_true(cap >= 4096 && cap % 8 == 0);
    assert_true(maxm >= 64 && maxm <= cap);

    /* The record cost model the offsets rely on: 8 + payload rounded to 8. */
    uint8_t one[32] = {0};
    size_t len = 0;
    ss_queue_stats st;
    uint64_t pos = 0;
    assert_int_equal(ss_queue_put(q, one, 1, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_get_stats(q, &st), 0);
    assert_int_equal(st.ring_used, tu_rec_cost(1));
    assert_int_equal(ss_queue_get(q, one, sizeof one, &len, SS_NO_WAIT), 0);
    pos += tu_rec_cost(1);
    assert_int_equal(ss_queue_put(q, one, 9, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_get_stats(q, &st), 0);
    assert_int_equal(st.ring_used, tu_rec_cost(9));
    assert_int_equal(ss_queue_get(q, one, sizeof one, &len, SS_NO_WAIT), 0);
    pos += tu_rec_cost(9);
    assert_int_equal(ss_queue_get_stats(q, &st), 0);
    assert_int_equal(st.ring_used, 0);

    /* The plan: for every 8-byte offset o of the ring, fillers bring the
     * next record to o, then a test message of a size around the ring end
     * (ending just before, at, just after the end), tiny ones near the end,
     * and the largest message. */
    wr_plan plan;
    memset(&plan, 0, sizeof plan);
    size_t fmax = 8 + (maxm & ~(size_t)7);
    if (fmax > 2048)
        fmax = 2048;
    assert_true(fmax >= 48);
    for (size_t off = 0; off < cap; off += 8) {
        size_t sizes[64];
        int ns = 0;
        if (off + 160 >= cap)
            for (size_t s = 1; s <= 24; s++)
                sizes[ns++] = s;
        long d = (long)cap - (long)off - SS_QUEUE_RECORD_OVERHEAD;
        static const long deltas[] = {-9, -8, -7, -1, 0, 1, 7, 8, 9};
        for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++) {
            long s = d + deltas[i];
            if (s >= 1 && (size_t)s <= maxm)
                sizes[ns++] = (size_t)s;
        }
        sizes[ns++] = maxm;
        sizes[ns++] = 1 + (off * 37) % maxm;
        for (int i = 0; i < ns; i++) {
            wr_step(&plan);
            wr_fill_to(&plan, &pos, off, cap, fmax);
            assert_int_equal(pos % cap, off);
            wr_add(&plan, (uint32_t)sizes[i], &pos);
            plan.ntests++;
        }
    }
    wr_step(&plan);
    plan.nsteps--; /* step[nsteps] == n closes the last step */

    wr_arg a = {q, &plan, maxm};
    pid_t pid = tu_fork(wr_producer, &a);
    assert_true(pid > 0);

    /* Consume in the parent with get, get_many and read_begin in turn;
     * check every byte, and that zero-copy reads see each record where the
     * cost model puts it. */
    size_t bigsz = 8 * (maxm + 16);
    uint8_t *buf = malloc(bigsz);
    uint8_t *exp = malloc(maxm + 8);
    assert_non_null(buf);
    assert_non_null(exp);
    ss_msg msgs[8];
    bool have_delta = false;
    uintptr_t delta = 0;
    uint32_t k = 0, reads = 0;
    while (k < plan.n) {
        size_t n = 0;
        int rc;
        int method = (int)(k % 3);
        switch (method) {
        case 0:
            rc = ss_queue_get(q, buf, bigsz, &len, SS_WAIT_FOREVER);
            assert_int_equal(rc, 0);
            msgs[0].data = buf;
            msgs[0].len = len;
            n = 1;
            break;
        case 1:
            rc = ss_queue_get_many(q, buf, bigsz, msgs, 8, &n, SS_WAIT_FOREVER);
            assert_int_equal(rc, 0);
            break;
        default:
            rc = ss_queue_read_begin(q, msgs, 8, &n, SS_WAIT_FOREVER);
            assert_int_equal(rc, 0);
            break;
        }
        assert_true(n >= 1 && n <= 8 && k + n <= plan.n);
        for (size_t i = 0; i < n; i++, k++) {
            if (msgs[i].len != plan.len[k])
                fprintf(stderr,
                        "wrap: msg %u at ring offset %llu: len %zu, "
                        "expected %u\n",
                        k, (unsigned long long)(plan.pos[k] % cap), msgs[i].len,
                        plan.len[k]);
            assert_int_equal(msgs[i].len, plan.len[k]);
            wr_bytes(exp, k, plan.len[k]);
            if (memcmp(exp, msgs[i].data, plan.len[k]) != 0) {
                fprintf(stderr,
                        "wrap: msg %u (len %u) at ring offset %llu: "
                        "bytes differ\n",
                        k, plan.len[k],
                        (unsigned long long)(plan.pos[k] % cap));
                fail();
            }
            if (method == 2) {
                /* zero-copy: the payload address minus the record position
                 * is the same for every record (mod capacity). */
                uintptr_t dd =
                    ((uintptr_t)msgs[i].data - (uintptr_t)(plan.pos[k] % cap)) %
                    cap;
                if (!have_delta) {
                    delta = dd;
                    have_delta = true;
                }
                if (dd != delta)
                    fprintf(stderr,
                            "wrap: msg %u: record not where expected "
                            "(ring offset %llu)\n",
                            k, (unsigned long long)(plan.pos[k] % cap));
                assert_true(dd == delta);
                reads++;
            }
        }
        if (method == 2)
            assert_int_equal(ss_queue_read_end(q, n), 0);
    }
    assert_int_equal(tu_wait(pid, 60000), 0);
    assert_int_equal(ss_queue_get(q, buf, bigsz, &len, SS_NO_WAIT), SS_EAGAIN);
    assert_int_equal(ss_queue_get_stats(q, &st), 0);
    assert_int_equal(st.ring_used, 0);
    printf("  wrap: capacity %zu, max msg %zu, %u test messages at %zu "
           "offsets, %u messages in all, %u zero-copy placements checked\n",
           cap, maxm, plan.ntests, cap / 8, plan.n, reads);
    free(buf);
    free(exp);
    free(plan.len);
    free(plan.pos);
    free(plan.step);
    ss_queue_destroy(q);
}

/* ------------------------------------------------------------------------ */
/* Blocking calls across processes: timeouts, wake-ups, close              */
/* ------------------------------------------------------------------------ */

enum { OP_GET, OP_MANY, OP_READ, OP_PUT };

typedef struct blk_arg {
    ss_queue *q;
    int op;
    int expect; /* expected return code */
    int64_t timeout;
    uint32_t id, seq; /* OP_PUT: message to put; gets: message expected */
    _Atomic int *ready;
} blk_arg;

#define BLK_LEN 100u
/* Fixed-length messages: a full queue stays full for them. */
#define BLK_PAY (TU_MSG_FIXED_LEN | BLK_LEN)

static int blk_child(void *arg)
{
    blk_arg *a = arg;
    uint8_t buf[4096];
    ss_msg msgs[4];
    size_t n = 0, len = 0;
    int rc, ret = 0;
    ss_queue_set_spin(a->q, 0);
    atomic_store(a->ready, 1);
    int64_t t0 = tu_now_ns();
    switch (a->op) {
    case OP_GET:
        rc = ss_queue_get(a->q, buf, sizeof buf, &len, a->timeout);
        msgs[0].data = buf;
        msgs[0].len = len;
        n = 1;
        break;
    case OP_MANY:
        rc = ss_queue_get_many(a->q, buf, sizeof buf, msgs, 1, &n, a->timeout);
        break;
    case OP_READ:
        rc = ss_queue_read_begin(a->q, msgs, 1, &n, a->timeout);
        break;
    default:
        len = tu_msg_build(buf, a->id, a->seq, BLK_PAY);
        rc = ss_queue_put(a->q, buf, len, a->timeout);
        break;
    }
    int64_t dt = tu_now_ns() - t0;
    if (rc != a->expect) {
        fprintf(stderr, "blk op %d: got %s, expected %s\n", a->op,
                ss_errname(rc), ss_errname(a->expect));
        ret = 3;
    } else if (rc == SS_ETIMEDOUT && dt < a->timeout) {
        fprintf(stderr, "blk op %d: SS_ETIMEDOUT after %lld ns < %lld\n", a->op,
                (long long)dt, (long long)a->timeout);
        ret = 4;
    } else if (rc == 0 && a->op != OP_PUT) {
        uint32_t id = 0, seq = 0;
        const char *why = n == 1 ? tu_msg_check(msgs[0].data, msgs[0].len, BLK_PAY,
                                             1000, 1000, &id, &seq)
                                 : "count";
        if (why || id != a->id || seq != a->seq) {
            fprintf(stderr, "blk op %d: bad message (%u, %u): %s\n", a->op, id,
                    seq, why ? why : "wrong message");
            ret = 5;
        }
        if (a->op == OP_READ && ss_queue_read_end(a->q, 1) != 0)
            ret = 6;
    }
    ss_queue_destroy(a->q);
    return ret;
}

static void wait_ready(_Atomic int *flag, pid_t pid)
{
    int64_t deadline = tu_now_ns() + SS_SEC(10);
    while (!atomic_load(flag)) {
        assert_true(tu_now_ns() < deadline);
        tu_sleep_us(200);
    }
    /* Wait until the child sleeps in its call (10 s at most), rather than
     * a while: correctness does not depend on it (the test passes either
     * way if the queue works), but then the wake-up path is the one
     * tested, also on a loaded machine. */
    tu_wait_asleep(pid, 10000);
}

static ss_queue *small_queue(void)
{
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = 4096;
    ss_queue *q = NULL;
    assert_int_equal(ss_queue_create(&q, &o), 0);
    return q;
}

/* Fills q with messages (id, 0..) until full; returns how many. */
static uint32_t fill_queue(ss_queue *q, uint32_t id)
{
    uint8_t buf[TU_MSG_HDR + BLK_LEN];
    uint32_t seq = 0;
    for (;;) {
        size_t len = tu_msg_build(buf, id, seq, BLK_PAY);
        int rc = ss_queue_put(q, buf, len, SS_NO_WAIT);
        if (rc == SS_EAGAIN)
            break;
        assert_int_equal(rc, 0);
        seq++;
        assert_true(seq < 100000);
    }
    return seq;
}

/* Gets one message from q in the parent and checks it is (id, seq). */
static void expect_msg(ss_queue *q, uint32_t id, uint32_t seq)
{
    uint8_t buf[4096];
    size_t len = 0;
    uint32_t gid = 0, gseq = 0;
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_SEC(10)), 0);
    assert_null(tu_msg_check(buf, len, BLK_PAY, 1000, 1000, &gid, &gseq));
    assert_int_equal(gid, id);
    assert_int_equal(gseq, seq);
}

static void test_timeout_across_processes(void **state)
{
    (void)state;
    _Atomic int *ready = tu_shared_alloc(4096);
    ss_queue *q = small_queue();
    /* Consumers on an empty queue nobody feeds. */
    for (int op = OP_GET; op <= OP_READ; op++) {
        atomic_store(ready, 0);
        blk_arg a = {q, op, SS_ETIMEDOUT, SS_MSEC(50), 0, 0, ready};
        pid_t pid = tu_fork(blk_child, &a);
        assert_true(pid > 0);
        assert_int_equal(tu_wait(pid, 10000), 0);
        a.expect = SS_EAGAIN;
        a.timeout = SS_NO_WAIT;
        pid = tu_fork(blk_child, &a);
        assert_true(pid > 0);
        assert_int_equal(tu_wait(pid, 10000), 0);
    }
    /* A producer on a full queue nobody drains. */
    uint32_t f = fill_queue(q, 1);
    atomic_store(ready, 0);
    blk_arg a = {q, OP_PUT, SS_ETIMEDOUT, SS_MSEC(50), 2, 0, ready};
    pid_t pid = tu_fork(blk_child, &a);
    assert_true(pid > 0);
    assert_int_equal(tu_wait(pid, 10000), 0);
    /* Nothing of the timed-out put made it in. */
    assert_int_equal(ss_queue_size(q), f);
    for (uint32_t s = 0; s < f; s++)
        expect_msg(q, 1, s);
    assert_int_equal(ss_queue_size(q), 0);
    ss_queue_destroy(q);
    tu_shared_free(ready, 4096);
}

static void test_wake_by_put_across_processes(void **state)
{
    (void)state;
    _Atomic int *ready = tu_shared_alloc(4096);
    ss_queue *q = small_queue();
    for (int op = OP_GET; op <= OP_READ; op++) {
        atomic_store(ready, 0);
        blk_arg c = {q, op, 0, SS_WAIT_FOREVER, 7, (uint32_t)op, ready};
        pid_t cp = tu_fork(blk_child, &c);
        assert_true(cp > 0);
        wait_ready(ready, cp);
        assert_false(tu_child_exited(cp));
        blk_arg p = {q, OP_PUT, 0, SS_WAIT_FOREVER, 7, (uint32_t)op, ready + 1};
        pid_t pp = tu_fork(blk_child, &p);
        assert_true(pp > 0);
        assert_int_equal(tu_wait(pp, 10000), 0);
        assert_int_equal(tu_wait(cp, 10000), 0);
        assert_int_equal(ss_queue_size(q), 0);
    }
    /* A producer blocked on a full queue, woken by a get elsewhere. */
    uint32_t f = fill_queue(q, 3);
    atomic_store(ready, 0);
    blk_arg p = {q, OP_PUT, 0, SS_WAIT_FOREVER, 4, 0, ready};
    pid_t pp = tu_fork(blk_child, &p);
    assert_true(pp > 0);
    wait_ready(ready, pp);
    assert_false(tu_child_exited(pp));
    blk_arg c = {q, OP_GET, 0, SS_NO_WAIT, 3, 0, ready + 1};
    pid_t cp = tu_fork(blk_child, &c);
    assert_true(cp > 0);
    assert_int_equal(tu_wait(cp, 10000), 0);
    assert_int_equal(tu_wait(pp, 10000), 0);
    for (uint32_t s = 1; s < f; s++)
        expect_msg(q, 3, s);
    expect_msg(q, 4, 0);
    assert_int_equal(ss_queue_size(q), 0);
    ss_queue_destroy(q);
    tu_shared_free(ready, 4096);
}

static int closer_child(void *arg)
{
    ss_queue **qs = arg;
    int ret = 0;
    for (int i = 0; qs[i]; i++) {
        if (ss_queue_close(qs[i]) != 0)
            ret = 1;
        if (ss_queue_close(qs[i]) != 0) /* idempotent */
            ret = 1;
        if (!ss_queue_is_closed(qs[i]))
            ret = 1;
    }
    for (int i = 0; qs[i]; i++)
        ss_queue_destroy(qs[i]);
    return ret;
}

static void test_wake_by_close_across_processes(void **state)
{
    (void)state;
    _Atomic int *ready = tu_shared_alloc(4096);
    ss_queue *qe = small_queue(); /* empty: consumers block */
    ss_queue *qf = small_queue(); /* full: producers block */
    uint32_t f = fill_queue(qf, 5);
    blk_arg args[6];
    pid_t pids[6];
    int n = 0;
    for (int op = OP_GET; op <= OP_READ; op++, n++)
        args[n] =
            (blk_arg){qe, op, SS_ECLOSED, SS_WAIT_FOREVER, 0, 0, ready + n};
    for (int i = 0; i < 2; i++, n++)
        args[n] = (blk_arg){qf, OP_PUT,      SS_ECLOSED, SS_WAIT_FOREVER,
                            6,  (uint32_t)i, ready + n};
    for (int i = 0; i < n; i++) {
        pids[i] = tu_fork(blk_child, &args[i]);
        assert_true(pids[i] > 0);
    }
    for (int i = 0; i < n; i++)
        wait_ready(ready + i, pids[i]);
    for (int i = 0; i < n; i++)
        assert_false(tu_child_exited(pids[i]));
    ss_queue *qs[3] = {qe, qf, NULL};
    pid_t cl = tu_fork(closer_child, qs);
    assert_true(cl > 0);
    assert_int_equal(tu_wait(cl, 10000), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(tu_wait(pids[i], 10000), 0);
    assert_true(ss_queue_is_closed(qe));
    assert_true(ss_queue_is_closed(qf));
    /* The full queue drains what it held, then reports closed; the blocked
     * puts added nothing. */
    for (uint32_t s = 0; s < f; s++)
        expect_msg(qf, 5, s);
    uint8_t buf[256];
    size_t len;
    assert_int_equal(ss_queue_get(qf, buf, sizeof buf, &len, SS_WAIT_FOREVER),
                     SS_ECLOSED);
    assert_int_equal(ss_queue_put(qe, buf, 8, SS_WAIT_FOREVER), SS_ECLOSED);
    ss_queue_destroy(qe);
    ss_queue_destroy(qf);
    tu_shared_free(ready, 4096);
}

typedef struct drain_arg {
    ss_queue *q;
    uint32_t expect;
} drain_arg;

static int drain_child(void *arg)
{
    drain_arg *a = arg;
    uint8_t buf[4096];
    ss_msg msgs[8];
    size_t len, n;
    uint32_t got = 0;
    int ret = 0;
    for (;;) {
        int rc;
        uint32_t id = 0, seq = 0;
        int method = (int)(got % 3);
        switch (method) {
        case 0:
            rc = ss_queue_get(a->q, buf, sizeof buf, &len, SS_WAIT_FOREVER);
            msgs[0].data = buf;
            msgs[0].len = len;
            n = 1;
            break;
        case 1:
            rc = ss_queue_get_many(a->q, buf, sizeof buf, msgs, 3, &n,
                                   SS_WAIT_FOREVER);
            break;
        default:
            rc = ss_queue_read_begin(a->q, msgs, 2, &n, SS_WAIT_FOREVER);
            break;
        }
        if (rc == SS_ECLOSED)
            break;
        if (rc != 0) {
            ret = 1;
            break;
        }
        for (size_t i = 0; i < n; i++, got++) {
            if (tu_msg_check(msgs[i].data, msgs[i].len, BLK_PAY, 1000, 1000, &id,
                          &seq) != NULL ||
                id != 8 || seq != got)
                ret = 2;
        }
        if (method == 2 && ss_queue_read_end(a->q, n) != 0)
            ret = 3;
    }
    if (got != a->expect)
        ret = 4;
    if (ss_queue_put(a->q, buf, 8, SS_NO_WAIT) != SS_ECLOSED)
        ret = 5;
    if (ss_queue_get_many(a->q, buf, sizeof buf, msgs, 3, &n, SS_NO_WAIT) !=
        SS_ECLOSED)
        ret = 6;
    if (ss_queue_read_begin(a->q, msgs, 3, &n, SS_MSEC(5)) != SS_ECLOSED)
        ret = 7;
    ss_queue_destroy(a->q);
    return ret;
}

/* Close from another process; a get on a closed queue drains first. */
static void test_close_drains_across_processes(void **state)
{
    (void)state;
    ss_queue *q = small_queue();
    uint8_t buf[TU_MSG_HDR + BLK_LEN];
    for (uint32_t s = 0; s < 20; s++) {
        size_t len = tu_msg_build(buf, 8, s, BLK_PAY);
        assert_int_equal(ss_queue_put(q, buf, len, SS_NO_WAIT), 0);
    }
    ss_queue *qs[2] = {q, NULL};
    pid_t cl = tu_fork(closer_child, qs);
    assert_true(cl > 0);
    assert_int_equal(tu_wait(cl, 10000), 0);
    assert_true(ss_queue_is_closed(q));
    drain_arg a = {q, 20};
    pid_t d = tu_fork(drain_child, &a);
    assert_true(d > 0);
    assert_int_equal(tu_wait(d, 10000), 0);
    assert_int_equal(ss_queue_size(q), 0);
    ss_queue_destroy(q);
}

static int teardown(void **state)
{
    (void)state;
    tu_reap_all(); /* children of a failed test must not outlive it */
    return 0;
}

int main(void)
{
    tu_watchdog(110);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_mp_1x1_get, teardown),
        cmocka_unit_test_teardown(test_mp_1x1_many, teardown),
        cmocka_unit_test_teardown(test_mp_1x1_read, teardown),
        cmocka_unit_test_teardown(test_mp_4x1_mixed, teardown),
        cmocka_unit_test_teardown(test_mp_4x1_read, teardown),
        cmocka_unit_test_teardown(test_mp_1x4, teardown),
        cmocka_unit_test_teardown(test_mp_4x4, teardown),
        cmocka_unit_test_teardown(test_mp_8x8, teardown),
        cmocka_unit_test_teardown(test_backpressure_small, teardown),
        cmocka_unit_test_teardown(test_backpressure_max_msgs, teardown),
        cmocka_unit_test_teardown(test_wraparound_every_offset, teardown),
        cmocka_unit_test_teardown(test_timeout_across_processes, teardown),
        cmocka_unit_test_teardown(test_wake_by_put_across_processes, teardown),
        cmocka_unit_test_teardown(test_wake_by_close_across_processes,
                                  teardown),
        cmocka_unit_test_teardown(test_close_drains_across_processes, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

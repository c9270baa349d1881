/*
 * test_queue_fault.c - processes killed with SIGKILL at random instants
 * inside queue calls; the survivors must repair and go on.
 *
 * Rounds of producers and consumers (separate processes) share a queue while
 * the parent repeatedly SIGKILLs one of them at a random moment and starts a
 * replacement. Every party writes down in shared memory what it is doing, so
 * that the parent can tell afterwards exactly what may have been lost:
 *
 *  - a producer incarnation has its own id; before a put it stores
 *    attempt_end (seqs below it may have been handed to put) and after the
 *    put returned 0 it stores committed (seqs below it were committed);
 *  - a consumer stores phase 1 ("taking", with the most messages the call may
 *    take) before get/get_many and clears it once every message is recorded;
 *    a zero-copy reader stores the (id, seq) list it is about to consume and
 *    phase 2 before recording them and calling read_end;
 *  - every received message is checked (length, checksum, bytes) and counted
 *    in a per-(id, seq) counter with an atomic add.
 *
 * At the end of a round (stop the producers, close, let consumers drain):
 * no corrupt message, nothing never attempted, every committed message
 * delivered (at most the messages in the windows of killed takers missing),
 * each delivered once (twice only if it was in the read session of a killed
 * reader), the in-flight batch of a killed producer all or nothing, per-
 * producer order within each consumer incarnation, and no survivor hung.
 */
#include <setjmp.h>
#include <signal.h>
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
#include "signal_slot/log.h"
#include "signal_slot/queue.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Test messages: header {id, seq, len, checksum} + payload from (id, seq)  */
/* ------------------------------------------------------------------------ */


/* ------------------------------------------------------------------------ */
/* Library log lines: counted (repairs are logged), errors shown            */
/* ------------------------------------------------------------------------ */

/* Shared: lines per level, then repair lines that rolled forward, that
 * discarded. */
static _Atomic uint64_t *log_counts;

static void count_log(ss_log_level level, const char *component,
                      const char *message, void *user_data)
{
    (void)user_data;
    unsigned l = (unsigned)level < 4 ? (unsigned)level : 3;
    uint64_t n = atomic_fetch_add(&log_counts[l], 1);
    if (strstr(message, "repaired")) {
        if (strstr(message, "completed"))
            atomic_fetch_add(&log_counts[4], 1);
        else
            atomic_fetch_add(&log_counts[5], 1);
    }
    if (level == SS_LOG_ERROR && n < 20)
        fprintf(stderr, "[pid %d] library error: %s: %s\n", (int)getpid(),
                component, message);
}

/* ------------------------------------------------------------------------ */
/* Shared state of a round                                                  */
/* ------------------------------------------------------------------------ */

#define FT_MAXIDS 2048  /* producer incarnations per round */
#define FT_MAXSEQ 8192  /* messages per producer incarnation */
#define FT_MAXCONS 2048 /* consumer incarnations per round */
#define FT_MAXBATCH 32  /* put_many batch */
#define FT_MAXGET 64    /* get_many / read_begin batch */

enum {
    PH_IDLE,
    PH_TAKING,         /* inside get/get_many */
    PH_RECORDING,      /* get/get_many returned taken messages */
    PH_READ_BEGIN,     /* inside read_begin (consumes nothing) */
    PH_READ_RECORDING, /* read session: recording, then read_end */
};
enum { CM_GET, CM_MANY, CM_READ, CM_MIXED };
static const char *const mode_names[] = {"get", "get_many", "read", "mixed"};

typedef struct ft_prod {
    _Atomic uint32_t attempt_end; /* seqs < this may have been put */
    _Atomic uint32_t committed;   /* seqs < this were committed */
} ft_prod;

typedef struct ft_cons {
    _Atomic uint32_t phase;
    _Atomic uint32_t window;   /* PH_TAKING: most messages the call may take */
    _Atomic uint32_t taken;    /* PH_RECORDING: messages returned */
    _Atomic uint32_t recorded; /* PH_RECORDING: of which recorded */
    _Atomic uint32_t rs_n;     /* PH_READ_RECORDING: messages being consumed */
    uint32_t rs_id[FT_MAXGET];
    uint32_t rs_seq[FT_MAXGET];
} ft_cons;

typedef struct ft_shared {
    _Atomic int stop;
    _Atomic uint64_t fails;
    _Atomic int noted;
    char note[512];
    _Atomic uint64_t corrupt, order, phantom, errs;
    _Atomic uint64_t delivered;
    ft_prod prod[FT_MAXIDS];
    ft_cons cons[FT_MAXCONS];
    _Atomic uint8_t cnt[]; /* deliveries of (id, seq): [id * FT_MAXSEQ + seq] */
} ft_shared;

#define FT_SHSIZE                                                              \
    (sizeof(ft_shared) + (size_t)FT_MAXIDS * FT_MAXSEQ * sizeof(uint8_t))

static void sh_fail(ft_shared *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sh_fail(ft_shared *sh, const char *fmt, ...)
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

typedef struct ft_round {
    size_t capacity;
    size_t max_msgs;
    int np, nc;
    int cons_mode;
    uint32_t maxpay;
    int kills;
} ft_round;

typedef struct ft_child {
    ft_shared *sh;
    ss_queue *q;
    const ft_round *r;
    uint32_t idx; /* producer id or consumer incarnation */
    uint64_t seed;
} ft_child;

static size_t slot_size(uint32_t maxpay)
{
    return (TU_MSG_HDR + maxpay + 7) & ~(size_t)7;
}

/* ------------------------------------------------------------------------ */
/* Producer and consumer processes                                          */
/* ------------------------------------------------------------------------ */

static int ft_producer(void *arg)
{
    ft_child c = *(ft_child *)arg;
    ft_shared *sh = c.sh;
    ft_prod *P = &sh->prod[c.idx];
    uint64_t rs = c.seed;
    size_t cap = ss_queue_capacity(c.q);
    size_t slot = slot_size(c.r->maxpay);
    uint8_t *buf = malloc(FT_MAXBATCH * slot);
    ss_msg msgs[FT_MAXBATCH];
    if (buf == NULL)
        return 2;
    if (tu_rand(&rs) & 1)
        ss_queue_set_spin(c.q, 0);

    uint32_t seq = 0;
    while (!atomic_load(&sh->stop) && seq < FT_MAXSEQ) {
        uint32_t n = 1;
        bool many = tu_rand(&rs) & 1;
        if (many) {
            n = 1 + (uint32_t)(tu_rand(&rs) % FT_MAXBATCH);
            if (c.r->max_msgs && n > c.r->max_msgs)
                n = (uint32_t)c.r->max_msgs;
        }
        if (n > FT_MAXSEQ - seq)
            n = FT_MAXSEQ - seq;
        size_t cost = 0;
        uint32_t k = 0;
        for (; k < n; k++) {
            uint8_t *p = buf + k * slot;
            msgs[k].data = p;
            msgs[k].len = tu_msg_build(p, c.idx, seq + k, c.r->maxpay);
            cost += tu_rec_cost(msgs[k].len);
            if (cost > cap / 4 && k > 0)
                break; /* keep batches well below the capacity */
        }
        n = k;
        atomic_store(&P->attempt_end, seq + n);
        int rc;
        for (;;) {
            int64_t to = tu_pick_timeout(&rs);
            if (many)
                rc = ss_queue_put_many(c.q, msgs, n, to);
            else
                rc = ss_queue_put(c.q, msgs[0].data, msgs[0].len, to);
            if (!tu_benign_retry(rc, to))
                break;
        }
        if (rc != 0) {
            atomic_fetch_add(&sh->errs, 1);
            sh_fail(sh, "producer %u: put of seq %u (n %u): %s", c.idx, seq, n,
                    ss_errname(rc));
            free(buf);
            return 1;
        }
        atomic_store(&P->committed, seq + n);
        seq += n;
    }
    free(buf);
    ss_queue_destroy(c.q);
    return 0;
}

typedef struct ft_cstate {
    ft_child c;
    uint32_t *next; /* per producer id: last seq seen + 1 (this incarnation) */
} ft_cstate;

static void ft_record(ft_cstate *cs, const void *data, size_t len, size_t i)
{
    ft_shared *sh = cs->c.sh;
    uint32_t id = 0, seq = 0;
    const char *why =
        tu_msg_check(data, len, cs->c.r->maxpay, FT_MAXIDS, FT_MAXSEQ, &id, &seq);
    if (why) {
        atomic_fetch_add(&sh->corrupt, 1);
        sh_fail(sh, "consumer %u: corrupt message (len %zu): %s", cs->c.idx,
                len, why);
        atomic_store(&sh->cons[cs->c.idx].recorded, (uint32_t)i + 1);
        return;
    }
    if (seq >= atomic_load(&sh->prod[id].attempt_end)) {
        atomic_fetch_add(&sh->phantom, 1);
        sh_fail(sh, "consumer %u: message (%u, %u) never attempted (end %u)",
                cs->c.idx, id, seq, atomic_load(&sh->prod[id].attempt_end));
    }
    atomic_fetch_add(&sh->cnt[(size_t)id * FT_MAXSEQ + seq], 1);
    atomic_store(&sh->cons[cs->c.idx].recorded, (uint32_t)i + 1);
    if (seq + 1 <= cs->next[id]) {
        atomic_fetch_add(&sh->order, 1);
        sh_fail(sh, "consumer %u: producer %u seq %u after seq %u", cs->c.idx,
                id, seq, cs->next[id] - 1);
    }
    cs->next[id] = seq + 1;
    atomic_fetch_add(&sh->delivered, 1);
}

static int ft_consumer(void *arg)
{
    ft_cstate cs;
    cs.c = *(ft_child *)arg;
    ft_shared *sh = cs.c.sh;
    ft_cons *C = &sh->cons[cs.c.idx];
    ss_queue *q = cs.c.q;
    uint64_t rs = cs.c.seed;
    size_t slot = slot_size(cs.c.r->maxpay);
    size_t bufsz = FT_MAXGET * (slot + 8);
    uint8_t *buf = malloc(bufsz);
    cs.next = calloc(FT_MAXIDS, sizeof *cs.next);
    ss_msg msgs[FT_MAXGET];
    if (buf == NULL || cs.next == NULL)
        return 2;
    if (tu_rand(&rs) & 1)
        ss_queue_set_spin(q, 0);

    for (;;) {
        int mode = cs.c.r->cons_mode == CM_MIXED ? (int)(tu_rand(&rs) % 3)
                                                 : cs.c.r->cons_mode;
        int64_t to = tu_pick_timeout(&rs);
        int rc;
        if (mode == CM_GET) {
            size_t len = 0;
            atomic_store(&C->window, 1);
            atomic_store(&C->phase, PH_TAKING);
            rc = ss_queue_get(q, buf, bufsz, &len, to);
            if (rc == 0) {
                atomic_store(&C->taken, 1);
                atomic_store(&C->recorded, 0);
                atomic_store(&C->phase, PH_RECORDING);
                ft_record(&cs, buf, len, 0);
            }
            atomic_store(&C->phase, PH_IDLE);
        } else if (mode == CM_MANY) {
            size_t max = 1 + tu_rand(&rs) % FT_MAXGET, n = 0;
            atomic_store(&C->window, (uint32_t)max);
            atomic_store(&C->phase, PH_TAKING);
            rc = ss_queue_get_many(q, buf, bufsz, msgs, max, &n, to);
            if (rc == 0) {
                if (n < 1 || n > max) {
                    sh_fail(sh, "get_many: n %zu, max %zu", n, max);
                    n = n > max ? max : n;
                }
                atomic_store(&C->taken, (uint32_t)n);
                atomic_store(&C->recorded, 0);
                atomic_store(&C->phase, PH_RECORDING);
                for (size_t i = 0; i < n; i++)
                    ft_record(&cs, msgs[i].data, msgs[i].len, i);
            }
            atomic_store(&C->phase, PH_IDLE);
        } else {
            size_t max = 1 + tu_rand(&rs) % FT_MAXGET, n = 0;
            atomic_store(&C->phase, PH_READ_BEGIN);
            rc = ss_queue_read_begin(q, msgs, max, &n, to);
            if (rc == 0) {
                if (n < 1 || n > max) {
                    sh_fail(sh, "read_begin: n %zu, max %zu", n, max);
                    n = n > max ? max : n;
                }
                size_t k = tu_rand(&rs) % 4 == 0 ? tu_rand(&rs) % (n + 1) : n;
                /* Announce what is about to be consumed, then record it,
                 * then consume it. */
                for (size_t i = 0; i < k; i++) {
                    tu_msg_hdr h = {UINT32_MAX, UINT32_MAX, 0, 0};
                    if (msgs[i].len >= TU_MSG_HDR)
                        memcpy(&h, msgs[i].data, TU_MSG_HDR);
                    C->rs_id[i] = h.id;
                    C->rs_seq[i] = h.seq;
                }
                atomic_store(&C->rs_n, (uint32_t)k);
                atomic_store(&C->phase, PH_READ_RECORDING);
                for (size_t i = 0; i < k; i++)
                    ft_record(&cs, msgs[i].data, msgs[i].len, i);
                int r2 = ss_queue_read_end(q, k);
                if (r2 != 0) {
                    atomic_fetch_add(&sh->errs, 1);
                    sh_fail(sh, "consumer %u: read_end(%zu of %zu): %s",
                            cs.c.idx, k, n, ss_errname(r2));
                    return 1;
                }
                atomic_store(&C->rs_n, 0);
            }
            atomic_store(&C->phase, PH_IDLE);
        }
        if (rc == 0 || tu_benign_retry(rc, to))
            continue;
        if (rc == SS_ECLOSED)
            break;
        atomic_fetch_add(&sh->errs, 1);
        sh_fail(sh, "consumer %u mode %d timeout %lld: %s", cs.c.idx, mode,
                (long long)to, ss_errname(rc));
        return 1;
    }
    free(buf);
    free(cs.next);
    ss_queue_destroy(q);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Rounds of random kills                                                   */
/* ------------------------------------------------------------------------ */

enum { K_PROD, K_CONS };

typedef struct ft_proc {
    pid_t pid;
    int kind;
    uint32_t idx;
} ft_proc;

typedef struct ft_totals {
    uint64_t kills, kills_prod, kills_cons;
    uint64_t kill_in_put, kill_in_take, kill_in_recording, kill_in_read_begin;
    uint64_t kill_in_read;
    uint64_t committed, delivered, missing, loss_bound, redelivered;
    uint64_t inflight_delivered, inflight_dropped;
    uint64_t repairs, natural_exits, incarnations;
} ft_totals;

typedef struct ft_run {
    const ft_round *r;
    ft_shared *sh;
    ss_queue *q;
    uint64_t rs;
    ft_proc procs[16];
    int nprocs;
    uint32_t next_id, next_cid;
    uint8_t *killed; /* per producer id */
    uint8_t *allow;  /* extra deliveries allowed per (id, seq) */
    uint64_t loss_bound;
    int64_t t0;
    ft_totals t;
} ft_run;

static void ft_spawn(ft_run *run, int slot, int kind)
{
    ft_child c;
    c.sh = run->sh;
    c.q = run->q;
    c.r = run->r;
    c.seed = tu_rand(&run->rs);
    if (kind == K_PROD) {
        c.idx = run->next_id++;
        run->procs[slot].pid = tu_fork(ft_producer, &c);
    } else {
        c.idx = run->next_cid++;
        run->procs[slot].pid = tu_fork(ft_consumer, &c);
    }
    assert_true(run->procs[slot].pid > 0);
    run->procs[slot].kind = kind;
    run->procs[slot].idx = c.idx;
    run->t.incarnations++;
}

/* Book-keeping for a process that is dead (reaped with code rc). */
static void ft_dead(ft_run *run, int slot, int rc)
{
    ft_proc *p = &run->procs[slot];
    ft_shared *sh = run->sh;
    if (rc == 0) {
        /* Only a producer that put its FT_MAXSEQ messages ends by itself. */
        if (p->kind != K_PROD ||
            atomic_load(&sh->prod[p->idx].committed) != FT_MAXSEQ)
            sh_fail(sh, "%s %u exited early", p->kind ? "consumer" : "producer",
                    p->idx);
        run->t.natural_exits++;
        return;
    }
    if (rc != 128 + SIGKILL) {
        sh_fail(sh, "%s %u ended with code %d",
                p->kind ? "consumer" : "producer", p->idx, rc);
        return;
    }
    run->t.kills++;
    if (p->kind == K_PROD) {
        ft_prod *P = &sh->prod[p->idx];
        run->t.kills_prod++;
        run->killed[p->idx] = 1;
        if (atomic_load(&P->attempt_end) != atomic_load(&P->committed))
            run->t.kill_in_put++;
        return;
    }
    ft_cons *C = &sh->cons[p->idx];
    run->t.kills_cons++;
    switch (atomic_load(&C->phase)) {
    case PH_TAKING:
        run->t.kill_in_take++;
        run->loss_bound += atomic_load(&C->window);
        break;
    case PH_RECORDING: {
        uint32_t tk = atomic_load(&C->taken), rec = atomic_load(&C->recorded);
        run->t.kill_in_recording++;
        run->loss_bound += tk > rec ? tk - rec : 0;
        break;
    }
    case PH_READ_BEGIN:
        run->t.kill_in_read_begin++;
        break;
    case PH_READ_RECORDING: {
        run->t.kill_in_read++;
        uint32_t n = atomic_load(&C->rs_n);
        for (uint32_t i = 0; i < n && i < FT_MAXGET; i++) {
            if (C->rs_id[i] < FT_MAXIDS && C->rs_seq[i] < FT_MAXSEQ) {
                size_t at = (size_t)C->rs_id[i] * FT_MAXSEQ + C->rs_seq[i];
                if (run->allow[at] < 255)
                    run->allow[at]++;
            }
        }
        break;
    }
    default:
        break;
    }
}

static void ft_validate(ft_run *run)
{
    ft_shared *sh = run->sh;
    uint64_t missing = 0, dups = 0, redelivered = 0, committed = 0;
    uint64_t delivered = 0, phantom = 0, partial = 0, undelivered_inflight = 0;
    uint32_t miss_id[5], miss_seq[5], miss_com[5];
    for (uint32_t id = 0; id < run->next_id; id++) {
        ft_prod *P = &sh->prod[id];
        uint32_t com = atomic_load(&P->committed);
        uint32_t end = atomic_load(&P->attempt_end);
        const _Atomic uint8_t *cnt = &sh->cnt[(size_t)id * FT_MAXSEQ];
        const uint8_t *allow = &run->allow[(size_t)id * FT_MAXSEQ];
        if (com > end)
            sh_fail(sh, "producer %u: committed %u > attempted %u", id, com,
                    end);
        if (!run->killed[id] && com != end)
            sh_fail(sh, "producer %u (not killed): attempted %u committed %u",
                    id, end, com);
        /* The in-flight batch of a killed producer: all or nothing. */
        uint32_t got = 0;
        for (uint32_t s = com; s < end; s++)
            got += atomic_load(&cnt[s]) ? 1 : 0;
        uint32_t eff = com;
        if (got) {
            eff = end;
            run->t.inflight_delivered++;
            if (got != end - com)
                partial++;
        } else if (end > com) {
            run->t.inflight_dropped++;
            undelivered_inflight += end - com;
        }
        for (uint32_t s = 0; s < eff; s++) {
            unsigned c = atomic_load(&cnt[s]);
            delivered += c;
            if (c == 0) {
                if (missing < 5) {
                    miss_id[missing] = id;
                    miss_seq[missing] = s;
                    miss_com[missing] = com;
                }
                missing++;
            } else if (c > 1u + allow[s]) {
                if (dups < 5)
                    fprintf(stderr,
                            "  (%u, %u) delivered %u times, allowed "
                            "%u\n",
                            id, s, c, 1u + allow[s]);
                dups++;
            }
            if (c > 1)
                redelivered += c - 1;
        }
        uint32_t lim = end + 64 < FT_MAXSEQ ? end + 64 : FT_MAXSEQ;
        for (uint32_t s = eff; s < lim; s++)
            if (atomic_load(&cnt[s]))
                phantom++;
        committed += eff;
    }
    if (missing > run->loss_bound)
        for (uint64_t i = 0; i < missing && i < 5; i++)
            fprintf(stderr, "  missing (%u, %u) (committed %u)\n", miss_id[i],
                    miss_seq[i], miss_com[i]);
    if (partial)
        fprintf(stderr,
                "  %llu in-flight batches of killed producers "
                "partially delivered\n",
                (unsigned long long)partial);
    run->t.committed += committed;
    run->t.delivered += delivered;
    run->t.missing += missing;
    run->t.loss_bound += run->loss_bound;
    run->t.redelivered += redelivered;

    ss_queue_stats st;
    assert_int_equal(ss_queue_get_stats(run->q, &st), 0);
    run->t.repairs += st.repairs;
    printf("  round cap %7zu max_msgs %zu maxpay %4u %dP x %dC %s: %llu "
           "kills (%llu in put, %llu in get, %llu recording, %llu in "
           "read_begin, %llu in read session), %llu committed, %llu "
           "delivered, %llu missing (bound %llu), %llu redelivered, %llu "
           "repairs, %.1f s\n",
           run->r->capacity, run->r->max_msgs, run->r->maxpay, run->r->np,
           run->r->nc, mode_names[run->r->cons_mode],
           (unsigned long long)run->t.kills,
           (unsigned long long)run->t.kill_in_put,
           (unsigned long long)run->t.kill_in_take,
           (unsigned long long)run->t.kill_in_recording,
           (unsigned long long)run->t.kill_in_read_begin,
           (unsigned long long)run->t.kill_in_read,
           (unsigned long long)committed, (unsigned long long)delivered,
           (unsigned long long)missing, (unsigned long long)run->loss_bound,
           (unsigned long long)redelivered, (unsigned long long)st.repairs,
           (double)(tu_now_ns() - run->t0) / 1e9);
    fflush(stdout);

    if (atomic_load(&sh->fails))
        fprintf(stderr, "  first failure: %s\n", sh->note);
    assert_int_equal(atomic_load(&sh->fails), 0);
    assert_int_equal(atomic_load(&sh->corrupt), 0);
    assert_int_equal(atomic_load(&sh->order), 0);
    assert_int_equal(atomic_load(&sh->phantom), 0);
    assert_int_equal(atomic_load(&sh->errs), 0);
    assert_int_equal(phantom, 0);
    assert_int_equal(dups, 0);
    assert_true(missing <= run->loss_bound);
    if (run->loss_bound == 0)
        assert_int_equal(partial, 0);
    /* The queue is drained; the counters agree with what was delivered. */
    assert_true(st.closed);
    assert_int_equal(st.msgs, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.ring_used, 0);
    if (st.put_total < committed ||
        st.put_total > committed + undelivered_inflight ||
        st.got_total != st.put_total)
        fprintf(stderr,
                "  stats: put_total %llu got_total %llu, committed "
                "%llu (+ up to %llu in flight)\n",
                (unsigned long long)st.put_total,
                (unsigned long long)st.got_total, (unsigned long long)committed,
                (unsigned long long)undelivered_inflight);
    assert_true(st.put_total >= committed);
    assert_true(st.put_total <= committed + undelivered_inflight);
    assert_int_equal(st.got_total, st.put_total);
}

static void ft_round_run(const ft_round *r, uint64_t seed, ft_totals *tot)
{
    ft_run run;
    memset(&run, 0, sizeof run);
    run.r = r;
    run.rs = seed;
    run.t0 = tu_now_ns();
    run.sh = tu_shared_alloc(FT_SHSIZE);
    run.killed = calloc(FT_MAXIDS, 1);
    run.allow = calloc((size_t)FT_MAXIDS * FT_MAXSEQ, 1);
    assert_non_null(run.killed);
    assert_non_null(run.allow);
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = r->capacity;
    o.max_msgs = r->max_msgs;
    assert_int_equal(ss_queue_create(&run.q, &o), 0);

    for (int i = 0; i < r->nc; i++)
        ft_spawn(&run, run.nprocs++, K_CONS);
    for (int i = 0; i < r->np; i++)
        ft_spawn(&run, run.nprocs++, K_PROD);

    for (int k = 0; k < r->kills;) {
        tu_sleep_us((long)(tu_rand(&run.rs) % 2001));
        /* Producers that put all they had end by themselves. */
        for (int i = 0; i < run.nprocs; i++) {
            if (tu_child_exited(run.procs[i].pid)) {
                int rc = tu_wait(run.procs[i].pid, 5000);
                ft_dead(&run, i, rc);
                ft_spawn(&run, i, run.procs[i].kind);
            }
        }
        if (run.next_id >= FT_MAXIDS - 2 * (uint32_t)r->np ||
            run.next_cid >= FT_MAXCONS - 2)
            break;
        int v = (int)(tu_rand(&run.rs) % (uint64_t)run.nprocs);
        kill(run.procs[v].pid, SIGKILL);
        int rc = tu_wait(run.procs[v].pid, 5000);
        ft_dead(&run, v, rc);
        if (rc == 128 + SIGKILL)
            k++;
        ft_spawn(&run, v, run.procs[v].kind);
    }

    /* Let the survivors finish: producers stop, then close, then the
     * consumers drain and end on SS_ECLOSED. None may hang. */
    atomic_store(&run.sh->stop, 1);
    for (int i = 0; i < run.nprocs; i++) {
        if (run.procs[i].kind != K_PROD)
            continue;
        int rc = tu_wait(run.procs[i].pid, 20000);
        if (rc != 0)
            sh_fail(run.sh,
                    "producer %u: exit code %d at the end (1000 = hung)",
                    run.procs[i].idx, rc);
    }
    assert_int_equal(ss_queue_close(run.q), 0);
    for (int i = 0; i < run.nprocs; i++) {
        if (run.procs[i].kind != K_CONS)
            continue;
        int rc = tu_wait(run.procs[i].pid, 20000);
        if (rc != 0)
            sh_fail(run.sh,
                    "consumer %u: exit code %d at the end (1000 = hung)",
                    run.procs[i].idx, rc);
    }
    ft_validate(&run);

    tot->kills += run.t.kills;
    tot->kills_prod += run.t.kills_prod;
    tot->kills_cons += run.t.kills_cons;
    tot->kill_in_put += run.t.kill_in_put;
    tot->kill_in_take += run.t.kill_in_take;
    tot->kill_in_recording += run.t.kill_in_recording;
    tot->kill_in_read_begin += run.t.kill_in_read_begin;
    tot->kill_in_read += run.t.kill_in_read;
    tot->committed += run.t.committed;
    tot->delivered += run.t.delivered;
    tot->missing += run.t.missing;
    tot->loss_bound += run.t.loss_bound;
    tot->redelivered += run.t.redelivered;
    tot->inflight_delivered += run.t.inflight_delivered;
    tot->inflight_dropped += run.t.inflight_dropped;
    tot->repairs += run.t.repairs;
    tot->natural_exits += run.t.natural_exits;
    tot->incarnations += run.t.incarnations;

    ss_queue_destroy(run.q);
    free(run.killed);
    free(run.allow);
    tu_shared_free(run.sh, FT_SHSIZE);
}

/* 12 rounds x 200 = 2400 kills by default (the issue asks for >= 1000);
 * SS_FAULT_KILLS=N sets the kills per round for a longer soak. */
static int g_kills_per_round = 200;

static void test_random_kills(void **state)
{
    (void)state;
    const int K = g_kills_per_round;
    const ft_round rounds[] = {
        {4096, 0, 3, 3, CM_GET, 300, K},
        {65536, 0, 3, 3, CM_GET, 900, K},
        {4096, 0, 2, 4, CM_MANY, 300, K},
        {65536, 0, 4, 2, CM_MANY, 900, K},
        {4096, 0, 3, 3, CM_READ, 300, K},
        {65536, 0, 2, 4, CM_READ, 900, K},
        {4096, 0, 4, 2, CM_MIXED, 300, K},
        {65536, 0, 3, 3, CM_MIXED, 900, K},
        {65536, 8, 3, 3, CM_MIXED, 300, K},
        /* Large messages: long copies under the side locks. */
        {1 << 20, 0, 3, 3, CM_MANY, 8000, K},
        {1 << 20, 0, 3, 3, CM_READ, 8000, K},
        {1 << 20, 0, 3, 3, CM_MIXED, 8000, K},
    };
    ft_totals tot;
    memset(&tot, 0, sizeof tot);
    int64_t t0 = tu_now_ns();
    for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++)
        ft_round_run(&rounds[i], 0xF00D0000ull + i * 7919, &tot);
    printf("random kills: %llu SIGKILLs (%llu producers, %llu consumers; "
           "%llu inside a put, %llu inside a get, %llu recording what a get "
           "returned, %llu in read_begin, %llu in a read session), %llu "
           "incarnations, %llu natural exits\n",
           (unsigned long long)tot.kills, (unsigned long long)tot.kills_prod,
           (unsigned long long)tot.kills_cons,
           (unsigned long long)tot.kill_in_put,
           (unsigned long long)tot.kill_in_take,
           (unsigned long long)tot.kill_in_recording,
           (unsigned long long)tot.kill_in_read_begin,
           (unsigned long long)tot.kill_in_read,
           (unsigned long long)tot.incarnations,
           (unsigned long long)tot.natural_exits);
    printf("random kills: %llu messages committed, %llu delivered, %llu lost "
           "in killed consumers (bound %llu), %llu redelivered after killed "
           "read sessions; in-flight batches of killed producers: %llu "
           "delivered, %llu dropped; %llu repairs; %.1f s\n",
           (unsigned long long)tot.committed, (unsigned long long)tot.delivered,
           (unsigned long long)tot.missing, (unsigned long long)tot.loss_bound,
           (unsigned long long)tot.redelivered,
           (unsigned long long)tot.inflight_delivered,
           (unsigned long long)tot.inflight_dropped,
           (unsigned long long)tot.repairs, (double)(tu_now_ns() - t0) / 1e9);
    assert_true(tot.kills >= 1000);
    assert_true(tot.repairs > 0);
}

/* ------------------------------------------------------------------------ */
/* Killing processes that sleep in a blocking call                          */
/* ------------------------------------------------------------------------ */

#define BK_LEN 100u
/* Fixed-length messages: a full queue stays full for them. */
#define BK_PAY (TU_MSG_FIXED_LEN | BK_LEN)
#define BK_IDS 8u
#define BK_SEQS 64u

typedef struct bk_shared {
    _Atomic int ready[8];
    _Atomic uint64_t fails;
    _Atomic uint32_t attempt_end[BK_IDS];
    _Atomic uint32_t committed[BK_IDS];
    _Atomic uint8_t cnt[BK_IDS][BK_SEQS];
} bk_shared;

typedef struct bk_arg {
    bk_shared *sh;
    ss_queue *q;
    int idx;
    int op; /* 0 get, 1 get_many, 2 read_begin / 0 put, 1 put_many */
    uint32_t count;
} bk_arg;

/* Consumer: consumes until SS_ECLOSED, counting messages, checking order. */
static int bk_consumer(void *arg)
{
    bk_arg *a = arg;
    uint8_t buf[8192];
    ss_msg msgs[4];
    uint32_t next[BK_IDS] = {0};
    int ret = 0;
    ss_queue_set_spin(a->q, 0);
    atomic_store(&a->sh->ready[a->idx], 1);
    for (;;) {
        size_t n = 0, len = 0;
        int rc;
        if (a->op == 0) {
            rc = ss_queue_get(a->q, buf, sizeof buf, &len, SS_WAIT_FOREVER);
            msgs[0].data = buf;
            msgs[0].len = len;
            n = 1;
        } else if (a->op == 1) {
            rc = ss_queue_get_many(a->q, buf, sizeof buf, msgs, 4, &n,
                                   SS_WAIT_FOREVER);
        } else {
            rc = ss_queue_read_begin(a->q, msgs, 4, &n, SS_WAIT_FOREVER);
        }
        if (rc == SS_ECLOSED)
            break;
        if (rc != 0) {
            fprintf(stderr, "bk consumer: %s\n", ss_errname(rc));
            ret = 1;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t id, seq;
            const char *why = tu_msg_check(msgs[i].data, msgs[i].len, BK_PAY,
                                        BK_IDS, BK_SEQS, &id, &seq);
            if (why) {
                fprintf(stderr, "bk consumer: corrupt message: %s\n", why);
                ret = 2;
                continue;
            }
            if (seq + 1 <= next[id]) {
                fprintf(stderr, "bk consumer: (%u, %u) after %u\n", id, seq,
                        next[id] - 1);
                ret = 3;
            }
            next[id] = seq + 1;
            atomic_fetch_add(&a->sh->cnt[id][seq], 1);
        }
        if (a->op == 2 && ss_queue_read_end(a->q, n) != 0)
            ret = 4;
    }
    ss_queue_destroy(a->q);
    return ret;
}

/* Producer: puts count messages (id = idx), recording attempts/commits. */
static int bk_producer(void *arg)
{
    bk_arg *a = arg;
    uint8_t buf[4][TU_MSG_HDR + BK_LEN];
    ss_msg msgs[4];
    uint32_t id = (uint32_t)a->idx;
    ss_queue_set_spin(a->q, 0);
    atomic_store(&a->sh->ready[a->idx], 1);
    for (uint32_t seq = 0; seq < a->count;) {
        uint32_t n = a->op == 1 ? 3 : 1;
        if (n > a->count - seq)
            n = a->count - seq;
        for (uint32_t k = 0; k < n; k++) {
            msgs[k].data = buf[k];
            msgs[k].len = tu_msg_build(buf[k], id, seq + k, BK_PAY);
        }
        atomic_store(&a->sh->attempt_end[id], seq + n);
        int rc = a->op == 1 ? ss_queue_put_many(a->q, msgs, n, SS_WAIT_FOREVER)
                            : ss_queue_put(a->q, msgs[0].data, msgs[0].len,
                                           SS_WAIT_FOREVER);
        if (rc != 0) {
            fprintf(stderr, "bk producer: %s\n", ss_errname(rc));
            return 1;
        }
        atomic_store(&a->sh->committed[id], seq + n);
        seq += n;
    }
    ss_queue_destroy(a->q);
    return 0;
}

static void bk_wait_ready(bk_shared *sh, int i)
{
    int64_t deadline = tu_now_ns() + SS_SEC(10);
    while (!atomic_load(&sh->ready[i])) {
        assert_true(tu_now_ns() < deadline);
        tu_sleep_us(100);
    }
}

static ss_queue *bk_queue(void)
{
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = 4096;
    ss_queue *q = NULL;
    assert_int_equal(ss_queue_create(&q, &o), 0);
    return q;
}

static uint32_t bk_fill(ss_queue *q, uint32_t id)
{
    uint8_t buf[TU_MSG_HDR + BK_LEN];
    uint32_t seq = 0;
    for (;;) {
        size_t len = tu_msg_build(buf, id, seq, BK_PAY);
        /* Same length for all: the blocked producers' messages can't fit. */
        assert_true(len == TU_MSG_HDR + BK_LEN);
        int rc = ss_queue_put(q, buf, len, SS_NO_WAIT);
        if (rc == SS_EAGAIN)
            break;
        assert_int_equal(rc, 0);
        seq++;
        assert_true(seq < BK_SEQS);
    }
    return seq;
}

static uint64_t g_blocked_kills;

/* Consumers asleep on an empty queue are killed; the others still get
 * every message, exactly once; a new consumer works too. */
static void test_kill_blocked_get(void **state)
{
    (void)state;
    bk_shared *sh = tu_shared_alloc(sizeof *sh);
    uint64_t rs = 0xB10C;
    uint64_t kills = 0;
    for (int iter = 0; iter < 30; iter++) {
        memset(sh, 0, sizeof *sh);
        ss_queue *q = bk_queue();
        bk_arg a[4];
        pid_t pid[4];
        for (int i = 0; i < 3; i++) {
            a[i] = (bk_arg){sh, q, i, (i + iter) % 3, 0};
            pid[i] = tu_fork(bk_consumer, &a[i]);
            assert_true(pid[i] > 0);
        }
        for (int i = 0; i < 3; i++)
            bk_wait_ready(sh, i);
        tu_sleep_us(1000 + (long)(tu_rand(&rs) % 5000));
        bool dead[3] = {false, false, false};
        int nk = 1 + (int)(tu_rand(&rs) % 2);
        for (int j = 0; j < nk; j++) {
            int v = (int)(tu_rand(&rs) % 3);
            if (dead[v])
                continue;
            assert_false(tu_child_exited(pid[v])); /* still blocked */
            kill(pid[v], SIGKILL);
            assert_int_equal(tu_wait(pid[v], 5000), 128 + SIGKILL);
            dead[v] = true;
            kills++;
        }
        /* Puts from this process reach the survivors. */
        uint8_t buf[TU_MSG_HDR + BK_LEN];
        for (uint32_t s = 0; s < 20; s++) {
            size_t len = tu_msg_build(buf, 1, s, BK_PAY);
            assert_int_equal(ss_queue_put(q, buf, len, SS_SEC(10)), 0);
        }
        /* A newcomer consumes too. */
        a[3] = (bk_arg){sh, q, 3, iter % 3, 0};
        pid[3] = tu_fork(bk_consumer, &a[3]);
        assert_true(pid[3] > 0);
        bk_wait_ready(sh, 3);
        for (uint32_t s = 20; s < 40; s++) {
            size_t len = tu_msg_build(buf, 1, s, BK_PAY);
            assert_int_equal(ss_queue_put(q, buf, len, SS_SEC(10)), 0);
        }
        assert_int_equal(ss_queue_close(q), 0);
        for (int i = 0; i < 4; i++)
            if (i == 3 || !dead[i])
                assert_int_equal(tu_wait(pid[i], 10000), 0);
        for (uint32_t s = 0; s < 40; s++)
            assert_int_equal(atomic_load(&sh->cnt[1][s]), 1);
        assert_int_equal(ss_queue_size(q), 0);
        ss_queue_destroy(q);
    }
    g_blocked_kills += kills;
    printf("  killed %llu consumers asleep in get/get_many/read_begin\n",
           (unsigned long long)kills);
    tu_shared_free(sh, sizeof *sh);
}

/* Producers asleep on a full queue are killed; what they were putting never
 * appears; the others complete once a consumer drains. */
static void test_kill_blocked_put(void **state)
{
    (void)state;
    bk_shared *sh = tu_shared_alloc(sizeof *sh);
    uint64_t rs = 0xB10C2;
    uint64_t kills = 0;
    for (int iter = 0; iter < 30; iter++) {
        memset(sh, 0, sizeof *sh);
        ss_queue *q = bk_queue();
        uint32_t f = bk_fill(q, 0);
        bk_arg a[4];
        pid_t pid[4];
        for (int i = 1; i <= 3; i++) {
            a[i] = (bk_arg){sh, q, i, (i + iter) % 2, 10};
            pid[i] = tu_fork(bk_producer, &a[i]);
            assert_true(pid[i] > 0);
        }
        for (int i = 1; i <= 3; i++)
            bk_wait_ready(sh, i);
        tu_sleep_us(1000 + (long)(tu_rand(&rs) % 5000));
        bool dead[4] = {false, false, false, false};
        int nk = 1 + (int)(tu_rand(&rs) % 2);
        for (int j = 0; j < nk; j++) {
            int v = 1 + (int)(tu_rand(&rs) % 3);
            if (dead[v])
                continue;
            assert_false(tu_child_exited(pid[v])); /* still blocked */
            kill(pid[v], SIGKILL);
            assert_int_equal(tu_wait(pid[v], 5000), 128 + SIGKILL);
            dead[v] = true;
            kills++;
        }
        /* Nothing was consumed yet: the queue is as it was filled. */
        assert_int_equal(ss_queue_size(q), f);
        a[0] = (bk_arg){sh, q, 0, iter % 3, 0};
        pid[0] = tu_fork(bk_consumer, &a[0]);
        assert_true(pid[0] > 0);
        for (int i = 1; i <= 3; i++)
            if (!dead[i])
                assert_int_equal(tu_wait(pid[i], 10000), 0);
        /* This process can still put. */
        uint8_t buf[TU_MSG_HDR + BK_LEN];
        size_t len = tu_msg_build(buf, 4, 0, BK_PAY);
        assert_int_equal(ss_queue_put(q, buf, len, SS_SEC(10)), 0);
        assert_int_equal(ss_queue_close(q), 0);
        assert_int_equal(tu_wait(pid[0], 10000), 0);
        for (uint32_t s = 0; s < f; s++)
            assert_int_equal(atomic_load(&sh->cnt[0][s]), 1);
        assert_int_equal(atomic_load(&sh->cnt[4][0]), 1);
        for (int i = 1; i <= 3; i++) {
            for (uint32_t s = 0; s < BK_SEQS; s++) {
                unsigned c = atomic_load(&sh->cnt[i][s]);
                if (!dead[i])
                    assert_int_equal(c, s < 10 ? 1 : 0);
                else /* killed while the queue was full: nothing got in */
                    assert_int_equal(c, 0);
            }
            if (dead[i])
                assert_int_equal(atomic_load(&sh->committed[i]), 0);
        }
        assert_int_equal(ss_queue_size(q), 0);
        ss_queue_destroy(q);
    }
    g_blocked_kills += kills;
    printf("  killed %llu producers asleep in put/put_many\n",
           (unsigned long long)kills);
    tu_shared_free(sh, sizeof *sh);
}

/* A reader killed between read_begin and read_end holds the consumer side:
 * the consumer waiting behind it takes over and gets every message, the
 * ones exposed to the dead reader included, once and in order. */
static int bk_reader_then_hang(void *arg)
{
    bk_arg *a = arg;
    ss_msg msgs[8];
    size_t n = 0;
    int rc = ss_queue_read_begin(a->q, msgs, 5, &n, SS_SEC(10));
    if (rc != 0 || n != 5)
        return 1;
    atomic_store(&a->sh->ready[a->idx], 1);
    for (;;)
        pause();
}

static void test_kill_in_read_session(void **state)
{
    (void)state;
    bk_shared *sh = tu_shared_alloc(sizeof *sh);
    uint64_t kills = 0, repairs = 0;
    for (int iter = 0; iter < 20; iter++) {
        memset(sh, 0, sizeof *sh);
        ss_queue *q = bk_queue();
        uint8_t buf[TU_MSG_HDR + BK_LEN];
        for (uint32_t s = 0; s < 10; s++) {
            size_t len = tu_msg_build(buf, 2, s, BK_PAY);
            assert_int_equal(ss_queue_put(q, buf, len, SS_NO_WAIT), 0);
        }
        bk_arg r = {sh, q, 0, 0, 0};
        pid_t rp = tu_fork(bk_reader_then_hang, &r);
        assert_true(rp > 0);
        bk_wait_ready(sh, 0);
        bk_arg c = {sh, q, 1, iter % 3, 0};
        pid_t cp = tu_fork(bk_consumer, &c);
        assert_true(cp > 0);
        bk_wait_ready(sh, 1);
        tu_sleep_us(5000);
        /* The consumer waits behind the reader. */
        assert_int_equal(ss_queue_size(q), 10);
        kill(rp, SIGKILL);
        assert_int_equal(tu_wait(rp, 5000), 128 + SIGKILL);
        kills++;
        /* Puts still work, and the consumer gets everything. */
        for (uint32_t s = 10; s < 15; s++) {
            size_t len = tu_msg_build(buf, 2, s, BK_PAY);
            assert_int_equal(ss_queue_put(q, buf, len, SS_SEC(10)), 0);
        }
        assert_int_equal(ss_queue_close(q), 0);
        assert_int_equal(tu_wait(cp, 10000), 0);
        for (uint32_t s = 0; s < 15; s++)
            assert_int_equal(atomic_load(&sh->cnt[2][s]), 1);
        ss_queue_stats st;
        assert_int_equal(ss_queue_get_stats(q, &st), 0);
        assert_int_equal(st.msgs, 0);
        assert_int_equal(st.got_total, 15);
        assert_true(st.repairs >= 1);
        repairs += st.repairs;
        ss_queue_destroy(q);
    }
    g_blocked_kills += kills;
    printf("  killed %llu readers inside a read session, %llu repairs\n",
           (unsigned long long)kills, (unsigned long long)repairs);
    tu_shared_free(sh, sizeof *sh);
}

static int teardown(void **state)
{
    (void)state;
    tu_reap_all();
    return 0;
}

int main(void)
{
    tu_watchdog(280);
    log_counts = tu_shared_alloc(4096);
    ss_log_set_handler(count_log, NULL);
    const char *k = getenv("SS_FAULT_KILLS");
    if (k && atoi(k) > 0)
        g_kills_per_round = atoi(k);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kill_blocked_get, teardown),
        cmocka_unit_test_teardown(test_kill_blocked_put, teardown),
        cmocka_unit_test_teardown(test_kill_in_read_session, teardown),
        cmocka_unit_test_teardown(test_random_kills, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    printf("library log lines: %llu errors, %llu warnings, %llu info "
           "(repair lines: %llu rolled forward, %llu discarded); %llu kills "
           "of blocked processes\n",
           (unsigned long long)atomic_load(&log_counts[0]),
           (unsigned long long)atomic_load(&log_counts[1]),
           (unsigned long long)atomic_load(&log_counts[2]),
           (unsigned long long)atomic_load(&log_counts[4]),
           (unsigned long long)atomic_load(&log_counts[5]),
           (unsigned long long)g_blocked_kills);
    return rc;
}

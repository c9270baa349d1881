/*
 * bench/bench_signal.c - `ss-bench signal`: signals between loops on two
 * threads (processes come with the loop-process issue), against the same
 * traffic through a pthread mutex + condition variable queue.
 *
 *  - throughput: one thread emits (int64 sequence, short string) signals,
 *    a loop on another thread runs the slot, which checks the order; single
 *    emits and emit-many batches of 100 (encoding included);
 *  - ping-pong: a signal, a slot, a reply signal, a slot; round-trip
 *    median and p99.
 */
#include "bench.h"

#include <math.h>
#include <pthread.h>
#include <signal_slot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT "hello, slot"
#define BATCH 100

typedef struct sig_opts {
    double scale;
    bool json;
} sig_opts;

void bench_signal_usage(FILE *f)
{
    fprintf(f,
            "usage: ss-bench signal [--scale F] [--json]\n"
            "\n"
            "Signals of (int64, short string) from one thread to a slot on a\n"
            "loop running on another thread: single emits and emit-many\n"
            "batches of %d, messages per second, and a ping-pong round trip\n"
            "(signal, slot, reply, slot), median and p99; the same traffic\n"
            "through a pthread mutex + condition variable queue as baseline.\n"
            "Every run checks the order and count of what was delivered.\n",
            BATCH);
}

/* Drop lines are expected when the emitter outruns the loop: the bench
 * retries, and counts them itself. */
static void quiet_log(ss_log_level level, const char *component,
                      const char *message, void *user_data)
{
    (void)user_data;
    if (strstr(message, "dropped"))
        return;
    fprintf(stderr, "%s: %s\n", component, message);
    (void)level;
}

/* ---- signals: throughput ---- */

typedef struct sink {
    ss_object obj;
    int64_t next, total;
    bool bad;
    uint64_t done_ns;
} sink;

static void on_item(ss_object *receiver, const ss_args *args, void *ud)
{
    sink *s = (sink *)receiver;
    int64_t seq;
    const char *text;
    (void)ud;
    if (ss_args_unpack(args, "xs", &seq, &text) != 0 || seq != s->next ||
        strcmp(text, TEXT) != 0)
        s->bad = true;
    s->next = seq + 1;
    if (s->next == s->total) {
        s->done_ns = bench_now_ns();
        ss_loop_stop(ss_object_loop(receiver));
    }
}

/* Returns messages per second, or -1 on a failed check. */
static double signal_throughput(int64_t n, int batch, uint64_t *retries)
{
    ss_loop *tx, *rx;
    if (ss_loop_new(&tx, "bench_tx", NULL) || ss_loop_new(&rx, "bench_rx", NULL))
        return -1;
    ss_object src;
    sink dst = {.total = n};
    ss_object_init(&src, tx, "src");
    ss_object_init(&dst.obj, rx, "dst");
    ss_signal_add(&src, "item", "xs");
    ss_connect(&src, "item", &dst.obj, on_item, "xs", NULL);
    ss_loop_start_thread(rx);
    *retries = 0;

    static unsigned char enc[BATCH][64];
    ss_msg payloads[BATCH];
    uint64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < n;) {
        int k = batch;
        if (k > n - i)
            k = (int)(n - i);
        int rc;
        if (batch == 1) {
            rc = ss_emit(&src, "item", i, TEXT);
        } else {
            for (int j = 0; j < k; j++) {
                ss_writer w;
                ss_writer_init(&w, enc[j], sizeof enc[j]);
                ss_pack(&w, "xs", (int64_t)(i + j), TEXT);
                ss_writer_data(&w, &payloads[j].data, &payloads[j].len);
            }
            rc = ss_emit_many(&src, "item", payloads, (size_t)k);
        }
        if (rc == SS_EAGAIN) { /* the loop's queue is full: try again */
            (*retries)++;
            continue;
        }
        if (rc != 0)
            break;
        i += k;
    }
    int status;
    ss_loop_join_thread(rx, &status);
    double secs = (double)(dst.done_ns - t0) / 1e9;
    bool ok = !dst.bad && dst.next == n && status == SS_LOOP_STOPPED;
    ss_object_destroy(&src);
    ss_object_destroy(&dst.obj);
    ss_loop_free(tx);
    ss_loop_free(rx);
    return ok && secs > 0 ? (double)n / secs : -1;
}

/* ---- signals: ping-pong ---- */

typedef struct player {
    ss_object obj;
    int64_t left;
    uint64_t sent_ns;
    double *rtt_us;
    int64_t count;
    bool bad;
} player;

static void on_ping(ss_object *receiver, const ss_args *args, void *ud)
{
    int64_t seq;
    (void)ud;
    if (ss_args_unpack(args, "x", &seq) == 0)
        ss_emit(receiver, "pong", seq);
}

static void on_pong(ss_object *receiver, const ss_args *args, void *ud)
{
    player *p = (player *)receiver;
    int64_t seq;
    (void)ud;
    uint64_t now = bench_now_ns();
    if (ss_args_unpack(args, "x", &seq) != 0 || seq != p->count)
        p->bad = true;
    p->rtt_us[p->count++] = (double)(now - p->sent_ns) / 1e3;
    if (p->count == p->left) {
        ss_loop_stop(ss_object_loop(receiver));
        return;
    }
    p->sent_ns = bench_now_ns();
    ss_emit(receiver, "ping", p->count);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int64_t n, double p)
{
    return v[(int64_t)(p * (double)(n - 1))];
}

static int signal_pingpong(int64_t n, double *p50, double *p99)
{
    ss_loop *a, *b;
    if (ss_loop_new(&a, "bench_a", NULL) || ss_loop_new(&b, "bench_b", NULL))
        return -1;
    player pa = {.left = n, .rtt_us = calloc((size_t)n, sizeof(double))};
    ss_object pb;
    ss_object_init(&pa.obj, a, "pa");
    ss_object_init(&pb, b, "pb");
    ss_signal_add(&pa.obj, "ping", "x");
    ss_signal_add(&pb, "pong", "x");
    ss_connect(&pa.obj, "ping", &pb, on_ping, "x", NULL);
    ss_connect(&pb, "pong", &pa.obj, on_pong, "x", NULL);
    ss_loop_start_thread(b);
    pa.sent_ns = bench_now_ns();
    ss_emit(&pa.obj, "ping", (int64_t)0);
    int st = ss_loop_run(a);
    ss_loop_stop(b);
    ss_loop_join_thread(b, NULL);
    bool ok = st == SS_LOOP_STOPPED && !pa.bad && pa.count == n;
    qsort(pa.rtt_us, (size_t)n, sizeof(double), cmp_double);
    *p50 = pct(pa.rtt_us, n, 0.5);
    *p99 = pct(pa.rtt_us, n, 0.99);
    free(pa.rtt_us);
    ss_object_destroy(&pa.obj);
    ss_object_destroy(&pb);
    ss_loop_free(a);
    ss_loop_free(b);
    return ok ? 0 : -1;
}

/* ---- baseline: a mutex + condition variable queue ---- */

typedef struct item {
    int64_t seq;
    char text[16];
} item;

#define CQ_CAP 65536

typedef struct cvq {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    item *ring;
    size_t head, count;
} cvq;

static void cvq_init(cvq *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->ring = malloc(CQ_CAP * sizeof(item));
    q->head = q->count = 0;
}

static void cvq_free(cvq *q)
{
    free(q->ring);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}

static void cvq_push(cvq *q, const item *items, size_t n)
{
    pthread_mutex_lock(&q->mu);
    while (CQ_CAP - q->count < n)
        pthread_cond_wait(&q->not_full, &q->mu);
    for (size_t i = 0; i < n; i++)
        q->ring[(q->head + q->count + i) % CQ_CAP] = items[i];
    q->count += n;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

static size_t cvq_pop(cvq *q, item *out, size_t max)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0)
        pthread_cond_wait(&q->not_empty, &q->mu);
    size_t n = q->count < max ? q->count : max;
    for (size_t i = 0; i < n; i++)
        out[i] = q->ring[(q->head + i) % CQ_CAP];
    q->head = (q->head + n) % CQ_CAP;
    q->count -= n;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return n;
}

typedef struct cv_run {
    cvq q, back;
    int64_t n;
    bool bad;
    uint64_t done_ns;
} cv_run;

static void *cv_consumer(void *arg)
{
    cv_run *r = arg;
    item buf[BATCH];
    for (int64_t next = 0; next < r->n;) {
        size_t k = cvq_pop(&r->q, buf, BATCH);
        for (size_t i = 0; i < k; i++, next++)
            if (buf[i].seq != next || strcmp(buf[i].text, TEXT) != 0)
                r->bad = true;
    }
    r->done_ns = bench_now_ns();
    return NULL;
}

static double cv_throughput(int64_t n, int batch)
{
    cv_run r = {.n = n};
    cvq_init(&r.q);
    pthread_t t;
    pthread_create(&t, NULL, cv_consumer, &r);
    item items[BATCH];
    uint64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < n;) {
        int k = batch;
        if (k > n - i)
            k = (int)(n - i);
        for (int j = 0; j < k; j++) {
            items[j].seq = i + j;
            snprintf(items[j].text, sizeof items[j].text, "%s", TEXT);
        }
        cvq_push(&r.q, items, (size_t)k);
        i += k;
    }
    pthread_join(t, NULL);
    double secs = (double)(r.done_ns - t0) / 1e9;
    bool ok = !r.bad;
    cvq_free(&r.q);
    return ok && secs > 0 ? (double)n / secs : -1;
}

static void *cv_echo(void *arg)
{
    cv_run *r = arg;
    item it;
    for (int64_t i = 0; i < r->n; i++) {
        cvq_pop(&r->q, &it, 1);
        cvq_push(&r->back, &it, 1);
    }
    return NULL;
}

static int cv_pingpong(int64_t n, double *p50, double *p99)
{
    cv_run r = {.n = n};
    cvq_init(&r.q);
    cvq_init(&r.back);
    double *rtt = calloc((size_t)n, sizeof(double));
    pthread_t t;
    pthread_create(&t, NULL, cv_echo, &r);
    bool bad = false;
    for (int64_t i = 0; i < n; i++) {
        item it = {.seq = i}, back;
        uint64_t t0 = bench_now_ns();
        cvq_push(&r.q, &it, 1);
        cvq_pop(&r.back, &back, 1);
        rtt[i] = (double)(bench_now_ns() - t0) / 1e3;
        bad |= back.seq != i;
    }
    pthread_join(t, NULL);
    qsort(rtt, (size_t)n, sizeof(double), cmp_double);
    *p50 = pct(rtt, n, 0.5);
    *p99 = pct(rtt, n, 0.99);
    free(rtt);
    cvq_free(&r.q);
    cvq_free(&r.back);
    return bad ? -1 : 0;
}

/* ---- main ---- */

static void print_rate(const sig_opts *o, const char *impl, const char *mode,
                       int batch, int64_t n, double rate)
{
    if (o->json)
        printf("{\"bench\":\"signal\",\"impl\":\"%s\",\"mode\":\"%s\","
               "\"transport\":\"threads\",\"msg_size\":%zu,\"batch\":%d,"
               "\"msgs\":%lld,\"seconds\":%.6f,\"msgs_per_s\":%.0f,"
               "\"ok\":%s}\n",
               impl, mode, sizeof(int64_t) + sizeof TEXT, batch, (long long)n,
               rate > 0 ? (double)n / rate : 0, rate > 0 ? rate : 0,
               rate > 0 ? "true" : "false");
}

static void print_rtt(const sig_opts *o, const char *impl, int64_t n,
                      double p50, double p99, bool ok)
{
    if (o->json)
        printf("{\"bench\":\"signal\",\"impl\":\"%s\",\"mode\":\"pingpong\","
               "\"transport\":\"threads\",\"round_trips\":%lld,\"p50_us\":%.3f,"
               "\"p99_us\":%.3f,\"ok\":%s}\n",
               impl, (long long)n, p50, p99, ok ? "true" : "false");
}

int bench_signal_main(int argc, char **argv)
{
    sig_opts o = {.scale = 1.0};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            bench_signal_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if (bench_opt(argc, argv, &i, "--scale", &v)) {
            if (!v || !bench_parse_scale(v, &o.scale)) {
                fprintf(stderr, "ss-bench signal: bad --scale\n");
                return BENCH_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "ss-bench signal: unknown option '%s'\n\n", argv[i]);
            bench_signal_usage(stderr);
            return BENCH_EXIT_USAGE;
        }
    }
    ss_log_set_handler(quiet_log, NULL);
    int64_t n = (int64_t)llround(1000000 * o.scale);
    int64_t rt = (int64_t)llround(100000 * o.scale);
    if (n < 1000)
        n = 1000;
    if (rt < 1000)
        rt = 1000;
    bool failed = false;

    uint64_t retries1, retries100;
    double s1 = signal_throughput(n, 1, &retries1);
    double sb = signal_throughput(n, BATCH, &retries100);
    double c1 = cv_throughput(n, 1);
    double cb = cv_throughput(n, BATCH);
    double sp50 = 0, sp99 = 0, cp50 = 0, cp99 = 0;
    int sp = signal_pingpong(rt, &sp50, &sp99);
    int cp = cv_pingpong(rt, &cp50, &cp99);
    failed = s1 < 0 || sb < 0 || c1 < 0 || cb < 0 || sp != 0 || cp != 0;

    print_rate(&o, "ss_signal", "emit", 1, n, s1);
    print_rate(&o, "ss_signal", "emit_many", BATCH, n, sb);
    print_rate(&o, "mutex_condvar", "push", 1, n, c1);
    print_rate(&o, "mutex_condvar", "push", BATCH, n, cb);
    print_rtt(&o, "ss_signal", rt, sp50, sp99, sp == 0);
    print_rtt(&o, "mutex_condvar", rt, cp50, cp99, cp == 0);
    if (!o.json) {
        printf("ss-bench signal: (int64, %zu-byte string) signals, emitter and "
               "receiving loop on two threads\n\n",
               sizeof TEXT - 1);
        printf("%-22s %14s %14s %8s\n", "throughput (msgs/s)", "ss_signal",
               "mutex+condvar", "ratio");
        printf("%-22s %13.2fM %13.2fM %7.2fx\n", "single emits", s1 / 1e6,
               c1 / 1e6, s1 / c1);
        printf("%-22s %13.2fM %13.2fM %7.2fx\n", "batches of 100", sb / 1e6,
               cb / 1e6, sb / cb);
        printf("\n%-22s %14s %14s %8s\n", "ping-pong (us)", "ss_signal",
               "mutex+condvar", "ratio");
        printf("%-22s %14.2f %14.2f %7.2fx\n", "p50", sp50, cp50, cp50 / sp50);
        printf("%-22s %14.2f %14.2f %7.2fx\n", "p99", sp99, cp99, cp99 / sp99);
        printf("\n%lld signals and %lld round trips per row; the emitter "
               "retried %llu single emits and %llu batches when the loop's "
               "queue was full.\nratio > 1: ss_signal is faster.\n",
               (long long)n, (long long)rt, (unsigned long long)retries1,
               (unsigned long long)retries100);
    }
    if (failed)
        fprintf(stderr, "ss-bench signal: a run FAILED its checks\n");
    return failed ? BENCH_EXIT_FAIL : 0;
}

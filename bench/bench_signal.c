/*
 * bench/bench_signal.c - `ss-bench signal`: signals between loops, the
 * receiving loop on another thread or in a loop process, against the same
 * traffic through a pthread mutex + condition variable queue (and, for
 * round trips between processes, a pipe pair).
 *
 *  - throughput: one thread emits (int64 sequence, short string) signals,
 *    the receiving loop runs the slot, which checks the order; single
 *    emits and emit-many batches of 100 (encoding included), with the
 *    heap allocations the emitting thread made per signal (bench_alloc.c);
 *  - ping-pong: a signal, a slot, a reply signal, a slot; round-trip
 *    median and p99;
 *  - the same throughput to a peer process started apart and reached
 *    through the registry, the raw queue between two processes for
 *    comparison, and the time from a connect call to the first delivery
 *    in the peer (bench_remote.c).
 */
#include "bench.h"

#include <math.h>
#include <pthread.h>
#include <signal_slot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEXT BENCH_SIGNAL_TEXT
#define BATCH 100

typedef struct sig_opts {
    double scale;
    int repeat;
    int connect_cycles;
    bool json;
} sig_opts;

void bench_signal_usage(FILE *f)
{
    fprintf(f,
            "usage: ss-bench signal [--scale F] [--repeat N] "
            "[--connect-cycles N] [--json]\n"
            "\n"
            "Signals of (int64, short string) from one thread to a slot on a\n"
            "loop running on another thread, in a loop process (forked, with\n"
            "the tables it inherits) and in a peer process started apart\n"
            "(this program executed again, in a private domain\n"
            "\"bench<pid>\"), reached through the registry by name\n"
            "(ss_connect_slot): single emits and emit-many batches of %d,\n"
            "messages per second; the raw queue between two processes (1\n"
            "producer x 1 consumer, 40-byte messages, single puts and gets)\n"
            "in the same run, for the ratios. A ping-pong round trip\n"
            "(signal, slot, reply, slot), median and p99; the same traffic\n"
            "through a pthread mutex + condition variable queue as baseline.\n"
            "Every run checks the order and count of what was delivered (the\n"
            "registry peer counts what it lost and what came out of order).\n"
            "Also the heap allocations per signal made by the emitting thread\n"
            "during the emits (JSON: allocs, allocs_per_signal; null in\n"
            "sanitizer builds, which replace malloc).\n"
            "\n"
            "options:\n"
            "  --scale F           multiply the signals and round trips by F\n"
            "  --repeat N          run every row N times (interleaved) and\n"
            "                      report the median (default 3)\n"
            "  --connect-cycles N  connect latency: N cycles of\n"
            "                      ss_connect_slot to a slot of the registry\n"
            "                      peer, one emit, its delivery there,\n"
            "                      ss_disconnect_slot; median and p99 of the\n"
            "                      time from the connect call to the slot's\n"
            "                      first call in the peer (default 200, after\n"
            "                      10 not counted)\n"
            "  --json              one JSON object per line per measurement\n"
            "  --help              this text\n",
            BATCH);
}

/* Drop lines are expected when the emitter outruns the loop: the bench
 * retries, and counts them itself. Information lines (the registry peer's
 * end, noticed here each time one is stopped) are not news either. */
static void quiet_log(ss_log_level level, const char *component,
                      const char *message, void *user_data)
{
    (void)user_data;
    if (level > SS_LOG_WARN || strstr(message, "dropped"))
        return;
    fprintf(stderr, "%s: %s\n", component, message);
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

/* In a loop process the sink reports the end back to the parent. */
typedef struct reporter {
    ss_object obj;
    int64_t got;
    int bad;
    uint64_t done_ns;
} reporter;

static void on_item_proc(ss_object *receiver, const ss_args *args, void *ud)
{
    sink *s = ud;
    int64_t seq;
    const char *text;
    if (ss_args_unpack(args, "xs", &seq, &text) != 0 || seq != s->next ||
        strcmp(text, TEXT) != 0)
        s->bad = true;
    s->next = seq + 1;
    if (s->next == s->total)
        ss_emit(receiver, "done", s->next, (int32_t)s->bad);
}

static void on_done(ss_object *receiver, const ss_args *args, void *ud)
{
    reporter *r = (reporter *)receiver;
    int32_t bad;
    (void)ud;
    r->done_ns = bench_now_ns();
    if (ss_args_unpack(args, "xi", &r->got, &bad) != 0 || bad)
        r->bad = 1;
    ss_loop_stop(ss_object_loop(receiver));
}

/* Returns messages per second, or -1 on a failed check. With procs, the
 * receiving loop is a loop process. *allocs receives the heap allocations
 * the emitting thread made during the emits (retries included). */
static double signal_throughput(int64_t n, int batch, uint64_t *retries,
                                uint64_t *allocs, bool procs)
{
    ss_loop *tx, *rx;
    ss_process *proc = NULL;
    if (ss_loop_new(&tx, "bench_tx", NULL))
        return -1;
    if (procs ? ss_process_new(&proc, "bench_rx", NULL)
              : ss_loop_new(&rx, "bench_rx", NULL))
        return -1;
    if (procs)
        rx = ss_process_loop(proc);
    ss_object src;
    sink dst = {.total = n};
    reporter rep = {0};
    ss_object_init(&src, tx, "src");
    ss_object_init(&dst.obj, rx, "dst");
    ss_signal_add(&src, "item", "xs");
    if (procs) {
        ss_object_init(&rep.obj, tx, "rep");
        ss_signal_add(&dst.obj, "done", "xi");
        ss_connect(&src, "item", &dst.obj, on_item_proc, "xs", &dst);
        ss_connect(&dst.obj, "done", &rep.obj, on_done, "xi", NULL);
        ss_process_start(proc, NULL, NULL);
    } else {
        ss_connect(&src, "item", &dst.obj, on_item, "xs", NULL);
        ss_loop_start_thread(rx);
    }
    *retries = 0;

    bench_alloc_start();
    uint64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < n;) {
        int k = batch;
        if (k > n - i)
            k = (int)(n - i);
        int rc = bench_emit_xs(&src, "item", i, k, batch > 1, TEXT);
        if (rc == SS_EAGAIN) { /* the loop's queue is full: try again */
            (*retries)++;
            continue;
        }
        if (rc != 0)
            break;
        i += k;
    }
    *allocs = bench_alloc_stop();
    int status;
    double secs;
    bool ok;
    if (procs) {
        status = ss_loop_run(tx); /* until the child reports the end */
        secs = (double)(rep.done_ns - t0) / 1e9;
        ok = status == SS_LOOP_STOPPED && !rep.bad && rep.got == n;
        ss_process_stop(proc);
        int exit_status = -1;
        ok = ss_process_join(proc, SS_SEC(30), &exit_status) == 0 && ok &&
             exit_status == 0;
        ss_object_destroy(&rep.obj);
    } else {
        ss_loop_join_thread(rx, &status);
        secs = (double)(dst.done_ns - t0) / 1e9;
        ok = !dst.bad && dst.next == n && status == SS_LOOP_STOPPED;
    }
    ss_object_destroy(&src);
    ss_object_destroy(&dst.obj);
    ss_loop_free(tx);
    if (procs)
        ss_process_free(proc);
    else
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

static int signal_pingpong(int64_t n, double *p50, double *p99, bool procs,
                           uint32_t spin_ns)
{
    ss_loop *a, *b;
    ss_process *proc = NULL;
    ss_loop_options lo;
    ss_loop_options_init(&lo);
    lo.spin_ns = spin_ns;
    if (ss_loop_new(&a, "bench_a", &lo))
        return -1;
    if (procs ? ss_process_new(&proc, "bench_b", &lo)
              : ss_loop_new(&b, "bench_b", &lo))
        return -1;
    if (procs)
        b = ss_process_loop(proc);
    player pa = {.left = n, .rtt_us = calloc((size_t)n, sizeof(double))};
    ss_object pb;
    ss_object_init(&pa.obj, a, "pa");
    ss_object_init(&pb, b, "pb");
    ss_signal_add(&pa.obj, "ping", "x");
    ss_signal_add(&pb, "pong", "x");
    ss_connect(&pa.obj, "ping", &pb, on_ping, "x", NULL);
    ss_connect(&pb, "pong", &pa.obj, on_pong, "x", NULL);
    if (procs)
        ss_process_start(proc, NULL, NULL);
    else
        ss_loop_start_thread(b);
    pa.sent_ns = bench_now_ns();
    ss_emit(&pa.obj, "ping", (int64_t)0);
    int st = ss_loop_run(a);
    ss_loop_stop(b);
    bool ok = st == SS_LOOP_STOPPED && !pa.bad && pa.count == n;
    if (procs) {
        int exit_status = -1;
        ok = ss_process_join(proc, SS_SEC(30), &exit_status) == 0 && ok &&
             exit_status == 0;
    } else {
        ss_loop_join_thread(b, NULL);
    }
    qsort(pa.rtt_us, (size_t)n, sizeof(double), cmp_double);
    *p50 = pct(pa.rtt_us, n, 0.5);
    *p99 = pct(pa.rtt_us, n, 0.99);
    free(pa.rtt_us);
    ss_object_destroy(&pa.obj);
    ss_object_destroy(&pb);
    ss_loop_free(a);
    if (procs)
        ss_process_free(proc);
    else
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

static double cv_throughput(int64_t n, int batch, uint64_t *allocs)
{
    cv_run r = {.n = n};
    cvq_init(&r.q);
    pthread_t t;
    pthread_create(&t, NULL, cv_consumer, &r);
    item items[BATCH];
    bench_alloc_start();
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
    *allocs = bench_alloc_stop();
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

/* ---- baseline: a pipe pair between processes ---- */

static int pipe_pingpong(int64_t n, double *p50, double *p99)
{
    int to_child[2], to_parent[2];
    if (pipe(to_child) != 0 || pipe(to_parent) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int64_t v;
        close(to_child[1]); /* so that the parent's close means EOF */
        close(to_parent[0]);
        for (;;) {
            if (read(to_child[0], &v, sizeof v) != (ssize_t)sizeof v)
                _exit(0);
            if (write(to_parent[1], &v, sizeof v) != (ssize_t)sizeof v)
                _exit(1);
        }
    }
    close(to_child[0]);
    close(to_parent[1]);
    double *rtt = calloc((size_t)n, sizeof(double));
    bool bad = pid < 0 || !rtt;
    for (int64_t i = 0; !bad && i < n; i++) {
        int64_t back = -1;
        uint64_t t0 = bench_now_ns();
        bad = write(to_child[1], &i, sizeof i) != (ssize_t)sizeof i ||
              read(to_parent[0], &back, sizeof back) != (ssize_t)sizeof back ||
              back != i;
        rtt[i] = (double)(bench_now_ns() - t0) / 1e3;
    }
    close(to_child[1]); /* the child reads EOF and exits */
    close(to_parent[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    if (!bad) {
        qsort(rtt, (size_t)n, sizeof(double), cmp_double);
        *p50 = pct(rtt, n, 0.5);
        *p99 = pct(rtt, n, 0.99);
    }
    free(rtt);
    return bad ? -1 : 0;
}

/* ---- main ---- */

static int cmp_double_asc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of n values (sorted in place). */
static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double_asc);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Allocations per emitted signal as text: "n/a" when this build cannot
 * count them. */
static const char *fmt_allocs(char *buf, size_t size, uint64_t allocs,
                              int64_t n)
{
    if (!bench_alloc_available())
        snprintf(buf, size, "n/a");
    else
        snprintf(buf, size, "%.4f", (double)allocs / (double)n);
    return buf;
}

static void print_rate(const sig_opts *o, const char *impl, const char *mode,
                       const char *transport, int batch, int64_t n,
                       double rate, uint64_t allocs)
{
    if (!o->json)
        return;
    printf("{\"bench\":\"signal\",\"impl\":\"%s\",\"mode\":\"%s\","
           "\"transport\":\"%s\",\"msg_size\":%zu,\"batch\":%d,"
           "\"msgs\":%lld,\"seconds\":%.6f,\"msgs_per_s\":%.0f,",
           impl, mode, transport, sizeof(int64_t) + sizeof TEXT, batch,
           (long long)n, rate > 0 ? (double)n / rate : 0,
           rate > 0 ? rate : 0);
    if (bench_alloc_available())
        printf("\"allocs\":%llu,\"allocs_per_signal\":%.6g,",
               (unsigned long long)allocs, (double)allocs / (double)n);
    else
        printf("\"allocs\":null,\"allocs_per_signal\":null,");
    printf("\"ok\":%s}\n", rate > 0 ? "true" : "false");
}

static void print_rtt(const sig_opts *o, const char *impl,
                      const char *transport, long spin_ns, int64_t n,
                      double p50, double p99, bool ok)
{
    if (o->json)
        printf("{\"bench\":\"signal\",\"impl\":\"%s\",\"mode\":\"pingpong\","
               "\"transport\":\"%s\",\"spin_ns\":%ld,\"round_trips\":%lld,"
               "\"p50_us\":%.3f,\"p99_us\":%.3f,\"ok\":%s}\n",
               impl, transport, spin_ns, (long long)n, p50, p99,
               ok ? "true" : "false");
}

static void print_connect(const sig_opts *o, int cycles,
                          const bench_connect_lat *l, bool ok)
{
    if (o->json)
        printf("{\"bench\":\"signal\",\"impl\":\"ss_signal\","
               "\"mode\":\"connect\",\"transport\":\"registry\","
               "\"cycles\":%d,\"call_p50_us\":%.3f,\"call_p99_us\":%.3f,"
               "\"first_delivery_p50_us\":%.3f,"
               "\"first_delivery_p99_us\":%.3f,\"disconnect_p50_us\":%.3f,"
               "\"disconnect_p99_us\":%.3f,\"ok\":%s}\n",
               cycles, l->call_p50, l->call_p99, l->first_p50, l->first_p99,
               l->disc_p50, l->disc_p99, ok ? "true" : "false");
}

/* A ratio between two rows, run by run: the rows it compares ran next to
 * each other in each run, so a slow spell of the machine that lasts a run
 * or more hits both; the median of the runs' ratios, and their range. */
typedef struct ratio {
    bool ok; /* every run of both rows succeeded */
    double med, lo, hi;
} ratio;

static ratio paired_ratio(const double *num, const double *den, int n)
{
    ratio r = {.ok = true};
    double q[99];
    for (int i = 0; i < n; i++) {
        if (num[i] <= 0 || den[i] <= 0) {
            r.ok = false;
            return r;
        }
        q[i] = num[i] / den[i];
    }
    r.med = median_of(q, n); /* sorts q */
    r.lo = q[0];
    r.hi = q[n - 1];
    return r;
}

/* target <= 0: none. */
static void print_ratio_json(const sig_opts *o, const char *name, ratio r,
                             double target)
{
    if (!o->json)
        return;
    printf("{\"bench\":\"signal\",\"ratio\":\"%s\",\"value\":%.4f,"
           "\"min\":%.4f,\"max\":%.4f,",
           name, r.ok ? r.med : 0, r.ok ? r.lo : 0, r.ok ? r.hi : 0);
    if (target > 0)
        printf("\"target\":%.2f,\"met\":%s}\n", target,
               r.ok && r.med >= target ? "true" : "false");
    else
        printf("\"target\":null,\"met\":null}\n");
}

/* "0.83x (runs 0.80-0.90; target >= 0.50: met)"; target <= 0: none. */
static const char *fmt_ratio(char *buf, size_t size, ratio r, double target)
{
    if (!r.ok)
        snprintf(buf, size, "n/a (a run failed)");
    else if (target <= 0)
        snprintf(buf, size, "%.2fx (runs %.2f-%.2f)", r.med, r.lo, r.hi);
    else
        snprintf(buf, size, "%.2fx (runs %.2f-%.2f; target >= %.2f: %s)",
                 r.med, r.lo, r.hi, target,
                 r.med >= target ? "met" : "NOT met");
    return buf;
}

int bench_signal_main(int argc, char **argv)
{
    /* The hidden mode of the registry rows' peer (bench_remote.c). */
    if (argc >= 2 && strcmp(argv[1], "--registry-peer") == 0)
        return bench_remote_peer_main(argc - 1, argv + 1);
    sig_opts o = {.scale = 1.0, .repeat = 3, .connect_cycles = 200};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            bench_signal_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if (bench_opt(argc, argv, &i, "--repeat", &v)) {
            char *end = NULL;
            long r = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || r < 1 || r > 99) {
                fprintf(stderr, "ss-bench signal: bad --repeat\n");
                return BENCH_EXIT_USAGE;
            }
            o.repeat = (int)r;
        } else if (bench_opt(argc, argv, &i, "--connect-cycles", &v)) {
            char *end = NULL;
            long c = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || c < 1 || c > 100000) {
                fprintf(stderr, "ss-bench signal: bad --connect-cycles\n");
                return BENCH_EXIT_USAGE;
            }
            o.connect_cycles = (int)c;
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
    /* A private domain for the registry rows, before any loop exists. */
    if (bench_remote_init() != 0) {
        fprintf(stderr, "ss-bench signal: %s\n", bench_error());
        return BENCH_EXIT_FAIL;
    }
    int64_t n = (int64_t)llround(1000000 * o.scale);
    int64_t rt = (int64_t)llround(100000 * o.scale);
    if (n < 1000)
        n = 1000;
    if (rt < 1000)
        rt = 1000;
    const uint32_t spin = SS_QUEUE_DEFAULT_SPIN_NS;

    /* Every row runs o.repeat times, the rows interleaved so that a slow
     * spell of this shared machine hits them alike; the median is shown.
     * The rows between processes that the ratios compare run next to
     * each other. */
    enum {
        R_THR1, R_THRB, R_PROC1, R_REG1, R_QUEUE1, R_PROCB, R_REGB, R_CV1,
        R_CVB, R_TP50, R_TP99, R_PP50, R_PP99, R_BP50, R_BP99, R_CP50,
        R_CP99, R_QP50, R_QP99, R_CALL50, R_CALL99, R_FIRST50, R_FIRST99,
        R_DISC50, R_DISC99, NV
    };
    static double v[NV][99];
    int fails = 0;
    int tp = 0, pp = 0, bp = 0, cp = 0, qp = 0; /* ping-pong failures */
    int regfail = 0, qfail = 0, confail = 0;
    uint64_t r1t = 0, rbt = 0, r1p = 0, rbp = 0, r1r = 0, rbr = 0;
    uint64_t a1t = 0, abt = 0, a1p = 0, abp = 0, ac1 = 0, acb = 0;
    uint64_t a1r = 0, abr = 0;
    /* What the registry peer received, summed over all runs. */
    int64_t reg_sent = 0, reg_got = 0, reg_ooo = 0, reg_bad = 0;
    for (int r = 0; r < o.repeat; r++) {
        uint64_t x;
        bench_remote_counts rc1, rcb;
        char qerr[256];
        v[R_THR1][r] = signal_throughput(n, 1, &x, &a1t, false);
        r1t += x;
        v[R_THRB][r] = signal_throughput(n, BATCH, &x, &abt, false);
        rbt += x;
        /* The rows between processes that the ratios compare, next to
         * each other, in reverse order every other run (so that neither
         * always runs first, e.g. right after the threads' rows). */
        static const int order[2][5] = {
            {R_PROC1, R_REG1, R_QUEUE1, R_PROCB, R_REGB},
            {R_QUEUE1, R_REG1, R_PROC1, R_REGB, R_PROCB},
        };
        for (int k = 0; k < 5; k++) {
            int row = order[r & 1][k];
            switch (row) {
            case R_PROC1:
                v[row][r] = signal_throughput(n, 1, &x, &a1p, true);
                r1p += x;
                break;
            case R_PROCB:
                v[row][r] = signal_throughput(n, BATCH, &x, &abp, true);
                rbp += x;
                break;
            case R_REG1:
                v[row][r] = bench_remote_throughput(n, 1, &x, &a1r, &rc1);
                r1r += x;
                if (v[row][r] < 0)
                    fprintf(stderr, "ss-bench signal: registry, single: "
                            "%s\n", bench_error());
                break;
            case R_REGB:
                v[row][r] = bench_remote_throughput(n, BATCH, &x, &abr, &rcb);
                rbr += x;
                if (v[row][r] < 0)
                    fprintf(stderr, "ss-bench signal: registry, batches: "
                            "%s\n", bench_error());
                break;
            default: /* R_QUEUE1 */
                v[row][r] = bench_queue_1x1_single((uint64_t)n, qerr,
                                                   sizeof qerr);
                if (v[row][r] < 0) {
                    fprintf(stderr, "ss-bench signal: raw queue 1x1: %s\n",
                            qerr);
                    qfail++;
                }
                break;
            }
        }
        reg_sent += 2 * n;
        reg_got += rc1.got + rcb.got;
        reg_ooo += rc1.out_of_order + rcb.out_of_order;
        reg_bad += rc1.malformed + rcb.malformed;
        regfail += (v[R_REG1][r] < 0) + (v[R_REGB][r] < 0);
        v[R_CV1][r] = cv_throughput(n, 1, &ac1);
        v[R_CVB][r] = cv_throughput(n, BATCH, &acb);
        static const int tput[] = {R_THR1, R_THRB, R_PROC1, R_PROCB, R_CV1,
                                   R_CVB};
        for (int k = 0; k < 6; k++)
            fails += v[tput[k]][r] < 0;
        tp |= signal_pingpong(rt, &v[R_TP50][r], &v[R_TP99][r], false, spin);
        pp |= signal_pingpong(rt, &v[R_PP50][r], &v[R_PP99][r], true, spin);
        bp |= signal_pingpong(rt, &v[R_BP50][r], &v[R_BP99][r], true, 0);
        cp |= cv_pingpong(rt, &v[R_CP50][r], &v[R_CP99][r]);
        qp |= pipe_pingpong(rt, &v[R_QP50][r], &v[R_QP99][r]);
        bench_connect_lat cl = {0};
        if (bench_remote_connect(o.connect_cycles, &cl) != 0) {
            fprintf(stderr, "ss-bench signal: connect latency: %s\n",
                    bench_error());
            confail++;
        }
        v[R_CALL50][r] = cl.call_p50;
        v[R_CALL99][r] = cl.call_p99;
        v[R_FIRST50][r] = cl.first_p50;
        v[R_FIRST99][r] = cl.first_p99;
        v[R_DISC50][r] = cl.disc_p50;
        v[R_DISC99][r] = cl.disc_p99;
    }
    bench_remote_cleanup();
    /* Before the medians, which sort each row's runs. */
    ratio reg_proc1 = paired_ratio(v[R_REG1], v[R_PROC1], o.repeat);
    ratio reg_procb = paired_ratio(v[R_REGB], v[R_PROCB], o.repeat);
    ratio reg_queue1 = paired_ratio(v[R_REG1], v[R_QUEUE1], o.repeat);
    double med[NV];
    for (int k = 0; k < NV; k++)
        med[k] = median_of(v[k], o.repeat);
    double s1t = med[R_THR1], sbt = med[R_THRB], s1p = med[R_PROC1],
           sbp = med[R_PROCB], s1r = med[R_REG1], sbr = med[R_REGB],
           q1 = med[R_QUEUE1];
    double c1 = med[R_CV1], cb = med[R_CVB];
    double t50 = med[R_TP50], t99 = med[R_TP99], p50 = med[R_PP50],
           p99 = med[R_PP99];
    double b50 = med[R_BP50], b99 = med[R_BP99], c50 = med[R_CP50],
           c99 = med[R_CP99];
    double q50 = med[R_QP50], q99 = med[R_QP99];
    bench_connect_lat cl = {med[R_CALL50],  med[R_CALL99], med[R_FIRST50],
                            med[R_FIRST99], med[R_DISC50], med[R_DISC99]};
    /* A failed run reads -1: the median is then no figure. */
    if (regfail)
        s1r = sbr = -1;
    if (qfail)
        q1 = -1;
    bool failed = fails != 0 || tp || pp || bp || cp || qp || regfail ||
                  qfail || confail;

    print_rate(&o, "ss_signal", "emit", "threads", 1, n, s1t, a1t);
    print_rate(&o, "ss_signal", "emit_many", "threads", BATCH, n, sbt, abt);
    print_rate(&o, "ss_signal", "emit", "processes", 1, n, s1p, a1p);
    print_rate(&o, "ss_signal", "emit_many", "processes", BATCH, n, sbp, abp);
    print_rate(&o, "ss_signal", "emit", "registry", 1, n, s1r, a1r);
    print_rate(&o, "ss_signal", "emit_many", "registry", BATCH, n, sbr, abr);
    print_rate(&o, "mutex_condvar", "push", "threads", 1, n, c1, ac1);
    print_rate(&o, "mutex_condvar", "push", "threads", BATCH, n, cb, acb);
    if (o.json)
        printf("{\"bench\":\"signal\",\"impl\":\"ss_queue\",\"mode\":"
               "\"put_get\",\"transport\":\"processes\",\"msg_size\":40,"
               "\"batch\":1,\"msgs\":%lld,\"msgs_per_s\":%.0f,\"ok\":%s}\n",
               (long long)n, q1 > 0 ? q1 : 0, q1 > 0 ? "true" : "false");
    if (o.json)
        printf("{\"bench\":\"signal\",\"check\":\"registry\","
               "\"sent\":%lld,\"lost\":%lld,\"out_of_order\":%lld,"
               "\"malformed\":%lld}\n",
               (long long)reg_sent, (long long)(reg_sent - reg_got),
               (long long)reg_ooo, (long long)reg_bad);
    print_ratio_json(&o, "registry_single_vs_forked_single", reg_proc1, 0);
    print_ratio_json(&o, "registry_batch_vs_forked_batch", reg_procb, 1.0);
    print_ratio_json(&o, "registry_single_vs_queue_1x1_single", reg_queue1,
                     0.5);
    print_rtt(&o, "ss_signal", "threads", spin, rt, t50, t99, tp == 0);
    print_rtt(&o, "ss_signal", "processes", spin, rt, p50, p99, pp == 0);
    print_rtt(&o, "ss_signal", "processes", 0, rt, b50, b99, bp == 0);
    print_rtt(&o, "mutex_condvar", "threads", 0, rt, c50, c99, cp == 0);
    print_rtt(&o, "pipe", "processes", 0, rt, q50, q99, qp == 0);
    print_connect(&o, o.connect_cycles, &cl, confail == 0);
    if (!o.json) {
        printf("ss-bench signal: (int64, %zu-byte string) signals from an "
               "emitting thread to a slot on another loop\n\n",
               sizeof TEXT - 1);
        printf("%-38s %12s %12s\n", "throughput (msgs/s)", "single",
               "batch 100");
        printf("%-38s %11.2fM %11.2fM\n", "ss_signal, loop on a thread",
               s1t / 1e6, sbt / 1e6);
        printf("%-38s %11.2fM %11.2fM\n", "ss_signal, loop in a process",
               s1p / 1e6, sbp / 1e6);
        printf("%-38s %11.2fM %11.2fM\n", "ss_signal, registry peer (exec'd)",
               s1r / 1e6, sbr / 1e6);
        printf("%-38s %11.2fM %12s\n", "ss_queue 1x1, 40 B, processes",
               q1 / 1e6, "");
        printf("%-38s %11.2fM %11.2fM\n", "mutex+condvar queue, threads",
               c1 / 1e6, cb / 1e6);
        char f1[96];
        printf("\nratios (median of the runs' ratios: the rows compared run "
               "next to each other)\n");
        printf("  registry peer / loop process, single  %s\n",
               fmt_ratio(f1, sizeof f1, reg_proc1, 0));
        printf("  registry peer / loop process, batch   %s\n",
               fmt_ratio(f1, sizeof f1, reg_procb, 1.0));
        printf("  registry peer single / ss_queue 1x1   %s\n",
               fmt_ratio(f1, sizeof f1, reg_queue1, 0.5));
        printf("  registry peer: %lld signals sent in all runs, %lld lost, "
               "%lld out of order, %lld malformed\n",
               (long long)reg_sent, (long long)(reg_sent - reg_got),
               (long long)reg_ooo, (long long)reg_bad);
        printf("\n%-38s %12s %12s\n", "ping-pong round trip (us)", "p50",
               "p99");
        printf("%-38s %12.2f %12.2f\n", "ss_signal, threads, spin", t50, t99);
        printf("%-38s %12.2f %12.2f\n", "ss_signal, processes, spin", p50,
               p99);
        printf("%-38s %12.2f %12.2f\n", "ss_signal, processes, no spin", b50,
               b99);
        printf("%-38s %12.2f %12.2f\n", "mutex+condvar, threads", c50, c99);
        printf("%-38s %12.2f %12.2f\n", "pipe pair, processes", q50, q99);
        printf("\n%-38s %12s %12s\n", "connect to the registry peer (us)",
               "p50", "p99");
        printf("%-38s %12.2f %12.2f\n", "ss_connect_slot call", cl.call_p50,
               cl.call_p99);
        printf("%-38s %12.2f %12.2f\n", "connect call to first delivery",
               cl.first_p50, cl.first_p99);
        printf("%-38s %12.2f %12.2f\n", "ss_disconnect_slot call",
               cl.disc_p50, cl.disc_p99);
        printf("(%d cycles per run: connect this process's emitter to a slot "
               "by name in the peer, emit once, wait for its answer, "
               "disconnect)\n",
               o.connect_cycles);
        char f2[16];
        printf("\n%-38s %12s %12s\n", "heap allocations per signal",
               "single", "batch 100");
        printf("%-38s %12s %12s\n", "ss_signal, loop on a thread",
               fmt_allocs(f1, sizeof f1, a1t, n),
               fmt_allocs(f2, sizeof f2, abt, n));
        printf("%-38s %12s %12s\n", "ss_signal, loop in a process",
               fmt_allocs(f1, sizeof f1, a1p, n),
               fmt_allocs(f2, sizeof f2, abp, n));
        printf("%-38s %12s %12s\n", "ss_signal, registry peer",
               fmt_allocs(f1, sizeof f1, a1r, n),
               fmt_allocs(f2, sizeof f2, abr, n));
        printf("%-38s %12s %12s\n", "mutex+condvar queue, threads",
               fmt_allocs(f1, sizeof f1, ac1, n),
               fmt_allocs(f2, sizeof f2, acb, n));
        if (bench_alloc_available()) {
            uint64_t worst = a1t > abt ? a1t : abt;
            worst = a1p > worst ? a1p : worst;
            worst = abp > worst ? abp : worst;
            worst = a1r > worst ? a1r : worst;
            worst = abr > worst ? abr : worst;
            printf("(malloc, calloc, realloc and aligned allocations by the "
                   "emitting thread during the emits, retries included; "
                   "target 0: %s)\n",
                   worst == 0 ? "met" : "NOT met");
        } else {
            printf("(not counted in this build: sanitizers replace "
                   "malloc)\n");
        }
        printf("\n%lld signals and %lld round trips per row, median of %d "
               "runs; emits retried on a full queue, all runs: threads %llu "
               "single, %llu batches; processes %llu single, %llu batches; "
               "registry %llu single, %llu batches.\n",
               (long long)n, (long long)rt, o.repeat, (unsigned long long)r1t,
               (unsigned long long)rbt, (unsigned long long)r1p,
               (unsigned long long)rbp, (unsigned long long)r1r,
               (unsigned long long)rbr);
    }
    if (failed)
        fprintf(stderr, "ss-bench signal: a run FAILED its checks\n");
    return failed ? BENCH_EXIT_FAIL : 0;
}

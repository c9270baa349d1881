/*
 * bench/bench_net.c - "ss-bench net": traffic between two simulated hosts
 * (network namespaces joined by a veth switch, scripts/netns.sh), for loops
 * on other hosts (docs/bridge.md, issue 13).
 *
 * It measures signals over the bridge (ss-bridge, CURVE on, between a
 * loop on each host: single emits and batches of 100 of an (int64, short
 * string) payload, and the round trip of one), and in the same run the
 * raw engine the bridge is built on, ZeroMQ, moving the same bytes: 40-byte
 * messages one per signal (PUSH/PULL), 100 per message (PUSH/PULL), and
 * the round trip of one (PAIR, no encryption).
 *
 * The namespaces are made and removed by the benchmark (root only). The
 * server runs in a child that entered the second namespace; the client in
 * the parent, which entered the first. Every run checks what arrived: the
 * count and the sequence numbers (a loss or a reordering fails the run).
 */
#include "bench.h"

#include <signal_slot.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define NS_PREFIX "ssbn"
#define SERVER_ADDR "10.201.0.2"
#define REC 40 /* bytes per signal: an int64, a short string, names */
#define BATCH 100

#ifndef SS_BRIDGE_BIN
#define SS_BRIDGE_BIN "ss-bridge"
#endif
#define TEXT "short text" /* (int64, this): about 40 bytes on the wire */

#ifndef SS_NETNS_SCRIPT
#define SS_NETNS_SCRIPT "scripts/netns.sh"
#endif

void bench_net_usage(FILE *f)
{
    fprintf(f,
            "usage: ss-bench net [--scale F] [--repeat N]\n\n"
            "Between two network namespaces made for the run (root only, "
            "iproute2):\nZeroMQ PUSH/PULL with one %d-byte message per "
            "signal and with %d per\nmessage, and the PAIR round trip of "
            "one; rates are the median of N runs.\n",
            REC, BATCH);
}

static int enter_ns(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/var/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

static int netns(const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>&1", SS_NETNS_SCRIPT,
             args);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the server, in the second namespace ---- */

static void put_u64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Commands on the PAIR socket: "T" n batch: take n signals from PULL, in
 * messages of batch records, answer count and faults; "P" n: echo n
 * messages; "Q": end. */
static int serve(void *ctx)
{
    void *pull = zmq_socket(ctx, ZMQ_PULL), *pair = zmq_socket(ctx, ZMQ_PAIR);
    int hwm = 100000;
    zmq_setsockopt(pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind(pull, "tcp://" SERVER_ADDR ":5701") != 0 ||
        zmq_bind(pair, "tcp://" SERVER_ADDR ":5702") != 0)
        return 1;
    unsigned char buf[REC * BATCH + 64];
    for (;;) {
        int n = zmq_recv(pair, buf, sizeof buf, 0);
        if (n < 1)
            return 1;
        if (buf[0] == 'Q')
            return 0;
        uint64_t count = n >= 17 ? get_u64(buf + 1) : 0;
        if (buf[0] == 'P') {
            for (uint64_t i = 0; i < count; i++) {
                int m = zmq_recv(pair, buf, sizeof buf, 0);
                if (m < 0 || zmq_send(pair, buf, (size_t)m, 0) != m)
                    return 1;
            }
            continue;
        }
        uint64_t batch = get_u64(buf + 9), got = 0, bad = 0;
        while (got < count) {
            int m = zmq_recv(pull, buf, sizeof buf, 0);
            if (m < 0 || (size_t)m != batch * REC)
                return 1;
            for (uint64_t k = 0; k < batch; k++, got++)
                bad += get_u64(buf + k * REC) != got;
        }
        unsigned char ans[16];
        put_u64(ans, got);
        put_u64(ans + 8, bad);
        if (zmq_send(pair, ans, sizeof ans, 0) != (int)sizeof ans)
            return 1;
    }
}


/* ---- signals over the bridge ---- */

static char g_keys[2][64]; /* key files of the two bridges */
static char g_pubs[2][41];

static pid_t start_bridge(int host)
{
    char name[8], listen[64], peer[160], dom[32];
    int other = host == 1 ? 2 : 1;
    snprintf(name, sizeof name, "h%d", host);
    snprintf(listen, sizeof listen, "tcp://10.201.0.%d:5810", host);
    snprintf(peer, sizeof peer, "h%d=tcp://10.201.0.%d:5810@%s", other, other,
             g_pubs[other - 1]);
    snprintf(dom, sizeof dom, "bn%d_%d", (int)getpid(), host);
    pid_t pid = fork();
    if (pid == 0) {
        char ns[32];
        snprintf(ns, sizeof ns, NS_PREFIX "%d", host);
        if (enter_ns(ns) != 0)
            _exit(126);
        setenv("SS_DOMAIN", dom, 1);
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execl(SS_BRIDGE_BIN, "ss-bridge", "--name", name, "--listen", listen,
              "--key", g_keys[host - 1], "--peer", peer, "--heartbeat-ms",
              "200", (char *)NULL);
        _exit(127);
    }
    return pid;
}

typedef struct sink {
    ss_object obj;
    int64_t next, bad;
} sink;

static void on_data(ss_object *o, const ss_args *args, void *ud)
{
    (void)o;
    sink *s = ud;
    int64_t x = -1;
    const char *t = NULL;
    if (ss_args_unpack(args, "xs", &x, &t) != 0 || x != s->next)
        s->bad++;
    s->next = x + 1;
}

static void on_end(ss_object *o, const ss_args *args, void *ud)
{
    sink *s = ud;
    (void)args;
    ss_emit(o, "done", s->next, s->bad);
    s->next = s->bad = 0;
}

static void on_ping(ss_object *o, const ss_args *args, void *ud)
{
    (void)ud;
    int64_t x = -1;
    const char *t = NULL;
    if (ss_args_unpack(args, "xs", &x, &t) == 0)
        ss_emit(o, "pong", x, t);
}

static void on_quit(ss_object *o, const ss_args *args, void *ud)
{
    (void)args;
    (void)ud;
    ss_loop_stop(ss_object_loop(o));
}

/* The sink, on host 2: counts and checks what comes, answers. */
static int run_sink(void)
{
    char dom[32];
    snprintf(dom, sizeof dom, "bn%d_2", (int)getppid());
    if (enter_ns(NS_PREFIX "2") != 0 || ss_domain_set(dom) != 0)
        return 1;
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    o.queue_capacity = 64 << 20;
    ss_loop *l;
    static sink s;
    if (ss_loop_new(&l, "bsink", &o) != 0 ||
        ss_object_init(&s.obj, l, "obj") != 0 ||
        ss_signal_add(&s.obj, "done", "xx") != 0 ||
        ss_signal_add(&s.obj, "pong", "xs") != 0 ||
        ss_slot_add(&s.obj, "on_data", on_data, "xs", &s) != 0 ||
        ss_slot_add(&s.obj, "on_end", on_end, "", &s) != 0 ||
        ss_slot_add(&s.obj, "on_ping", on_ping, "xs", &s) != 0 ||
        ss_slot_add(&s.obj, "on_quit", on_quit, "", &s) != 0)
        return 1;
    ss_loop_run(l);
    return 0;
}

typedef struct source {
    ss_object obj;
    int64_t got, bad, pongs;
    bool done;
    uint64_t t_done, t_ping;
    uint64_t *rtt;
    int64_t n_rt;
} source;

static void on_done(ss_object *o, const ss_args *args, void *ud)
{
    source *s = ud;
    ss_args_unpack(args, "xx", &s->got, &s->bad);
    s->t_done = bench_now_ns();
    s->done = true;
    ss_loop_stop(ss_object_loop(o));
}

static void on_pong(ss_object *o, const ss_args *args, void *ud)
{
    source *s = ud;
    (void)args;
    uint64_t t = bench_now_ns();
    s->rtt[s->pongs++] = t - s->t_ping;
    if (s->pongs == s->n_rt) {
        ss_loop_stop(ss_object_loop(o));
        return;
    }
    s->t_ping = bench_now_ns();
    ss_emit(o, "ping", s->pongs, TEXT);
}

/* Signals per second from host 1 to host 2 through the bridges (batch 1:
 * ss_emit; else ss_emit_many of batch): a full outbound queue is waited
 * out (the loop runs meanwhile), so that every signal is counted. */
static double bridge_throughput(ss_loop *l, source *s, int64_t n, int batch)
{
    uint64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < n;) {
        int k = batch;
        if (k > n - i)
            k = (int)(n - i);
        int rc = bench_emit_xs(&s->obj, "data", i, k, batch > 1, TEXT);
        if (rc == SS_EAGAIN || rc == SS_EBUSY) {
            ss_loop_run_once(l, SS_NO_WAIT);
            continue;
        }
        if (rc != 0) {
            bench_set_error("emit: %s", ss_strerror(rc));
            return -1;
        }
        i += k;
    }
    s->done = false;
    ss_emit(&s->obj, "end");
    ss_loop_run(l);
    if (!s->done || s->got != n || s->bad) {
        bench_set_error("over the bridge: %lld of %lld arrived, %lld out of "
                        "order", (long long)s->got, (long long)n,
                        (long long)s->bad);
        return -1;
    }
    return (double)n * 1e9 / (double)(s->t_done - t0);
}

typedef struct bridge_rows {
    double single[99], batched[99];
    uint64_t *rtt;
} bridge_rows;

/* The source side, on host 1 (this process, in its namespace already). */
static int run_source(int64_t n, int64_t n_rt, int repeat, bridge_rows *out)
{
    char dom[32];
    snprintf(dom, sizeof dom, "bn%d_1", (int)getpid());
    if (ss_domain_set(dom) != 0)
        return -1;
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    o.queue_capacity = 16 << 20;
    ss_loop *l, *remote;
    static source s;
    ss_object *robj;
    int rc;
    if ((rc = ss_loop_new(&l, "bsrc", &o)) != 0 ||
        (rc = ss_object_init(&s.obj, l, "src")) != 0 ||
        (rc = ss_signal_add(&s.obj, "data", "xs")) != 0 ||
        (rc = ss_signal_add(&s.obj, "end", "")) != 0 ||
        (rc = ss_signal_add(&s.obj, "ping", "xs")) != 0 ||
        (rc = ss_signal_add(&s.obj, "quit", "")) != 0 ||
        (rc = ss_loop_open(&remote, "h2/bsink", SS_SEC(30))) != 0 ||
        (rc = ss_object_open(&robj, remote, "obj")) != 0 ||
        (rc = ss_connect_slot(&s.obj, "data", robj, "on_data")) != 0 ||
        (rc = ss_connect_slot(&s.obj, "end", robj, "on_end")) != 0 ||
        (rc = ss_connect_slot(&s.obj, "ping", robj, "on_ping")) != 0 ||
        (rc = ss_connect_slot(&s.obj, "quit", robj, "on_quit")) != 0 ||
        (rc = ss_connect(robj, "done", &s.obj, on_done, "xx", &s)) != 0 ||
        (rc = ss_connect(robj, "pong", &s.obj, on_pong, "xs", &s)) != 0) {
        bench_set_error("bridge set-up: %s", ss_strerror(rc));
        return -1;
    }
    if (bridge_throughput(l, &s, 10 * BATCH, BATCH) < 0) /* warm up */
        return -1;
    for (int r = 0; r < repeat; r++) {
        out->single[r] = bridge_throughput(l, &s, n / 10, 1);
        out->batched[r] = bridge_throughput(l, &s, n, BATCH);
        if (out->single[r] < 0 || out->batched[r] < 0)
            return -1;
    }
    s.rtt = out->rtt;
    s.n_rt = n_rt;
    s.pongs = 0;
    s.t_ping = bench_now_ns();
    ss_emit(&s.obj, "ping", (int64_t)0, TEXT);
    ss_loop_run(l);
    if (s.pongs != n_rt) {
        bench_set_error("bridge round trips: %lld of %lld",
                        (long long)s.pongs, (long long)n_rt);
        return -1;
    }
    ss_emit(&s.obj, "quit");
    ss_object_free(robj);
    ss_loop_free(remote);
    return 0;
}

static int make_keys(void)
{
    for (int i = 0; i < 2; i++) {
        char sec[41];
        if (zmq_curve_keypair(g_pubs[i], sec) != 0)
            return -1;
        snprintf(g_keys[i], sizeof g_keys[i], "/tmp/ss-bench-net-%d-%d.key",
                 (int)getpid(), i + 1);
        FILE *f = fopen(g_keys[i], "w");
        if (!f)
            return -1;
        fprintf(f, "%s\n%s\n", g_pubs[i], sec);
        fclose(f);
    }
    return 0;
}

/* ---- the client ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double throughput(void *push, void *pair, uint64_t n, uint64_t batch)
{
    unsigned char cmd[17] = {'T'};
    put_u64(cmd + 1, n);
    put_u64(cmd + 9, batch);
    if (zmq_send(pair, cmd, sizeof cmd, 0) != (int)sizeof cmd)
        return -1;
    static unsigned char buf[REC * BATCH];
    memset(buf, 'x', sizeof buf);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i += batch) {
        for (uint64_t k = 0; k < batch; k++)
            put_u64(buf + k * REC, i + k);
        if (zmq_send(push, buf, batch * REC, 0) != (int)(batch * REC))
            return -1;
    }
    unsigned char ans[16];
    if (zmq_recv(pair, ans, sizeof ans, 0) != (int)sizeof ans)
        return -1;
    uint64_t t1 = bench_now_ns();
    if (get_u64(ans) != n || get_u64(ans + 8) != 0) {
        bench_set_error("%llu of %llu arrived, %llu out of order",
                        (unsigned long long)get_u64(ans),
                        (unsigned long long)n,
                        (unsigned long long)get_u64(ans + 8));
        return -1;
    }
    return (double)n * 1e9 / (double)(t1 - t0);
}

static int roundtrips(void *pair, uint64_t n, uint64_t *rtt)
{
    unsigned char cmd[17] = {'P'};
    put_u64(cmd + 1, n);
    if (zmq_send(pair, cmd, sizeof cmd, 0) != (int)sizeof cmd)
        return -1;
    unsigned char buf[REC];
    memset(buf, 'r', sizeof buf);
    for (uint64_t i = 0; i < n; i++) {
        put_u64(buf, i);
        uint64_t t0 = bench_now_ns();
        if (zmq_send(pair, buf, REC, 0) != REC ||
            zmq_recv(pair, buf, REC, 0) != REC || get_u64(buf) != i)
            return -1;
        rtt[i] = bench_now_ns() - t0;
    }
    return 0;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

int bench_net_main(int argc, char **argv)
{
    double scale = 1.0;
    int repeat = 3;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (bench_opt(argc, argv, &i, "--scale", &v)) {
            if (!v || !bench_parse_scale(v, &scale)) {
                fprintf(stderr, "ss-bench net: bad --scale\n");
                return BENCH_EXIT_USAGE;
            }
        } else if (bench_opt(argc, argv, &i, "--repeat", &v)) {
            repeat = v ? atoi(v) : 0;
            if (repeat < 1 || repeat > 99) {
                fprintf(stderr, "ss-bench net: bad --repeat\n");
                return BENCH_EXIT_USAGE;
            }
        } else {
            bench_net_usage(stderr);
            return BENCH_EXIT_USAGE;
        }
    }
    if (geteuid() != 0) {
        fprintf(stderr, "ss-bench net: needs root (network namespaces)\n");
        return BENCH_EXIT_FAIL;
    }
    if (netns("up " NS_PREFIX " 2") != 0) {
        fprintf(stderr, "ss-bench net: %s up failed\n", SS_NETNS_SCRIPT);
        return BENCH_EXIT_FAIL;
    }
    uint64_t n = (uint64_t)(1000000 * scale) / BATCH * BATCH;
    if (n < 10 * BATCH)
        n = 10 * BATCH;
    uint64_t n_rt = (uint64_t)(20000 * scale);
    if (n_rt < 200)
        n_rt = 200;
    int status = BENCH_EXIT_FAIL;
    pid_t bridges[2] = {-1, -1}, sink_pid = -1;
    bridge_rows br;
    memset(&br, 0, sizeof br);
    br.rtt = calloc(n_rt, sizeof *br.rtt);
    if (!br.rtt || make_keys() != 0) {
        fprintf(stderr, "ss-bench net: keys: %s\n", strerror(errno));
        netns("down " NS_PREFIX);
        return BENCH_EXIT_FAIL;
    }
    bridges[0] = start_bridge(1);
    bridges[1] = start_bridge(2);
    sink_pid = fork();
    if (sink_pid == 0)
        _exit(run_sink());
    pid_t pid = fork();
    if (pid == 0) {
        void *ctx = zmq_ctx_new();
        int rc = enter_ns(NS_PREFIX "2") == 0 ? serve(ctx) : 1;
        zmq_ctx_term(ctx);
        _exit(rc);
    }
    void *ctx = NULL, *push = NULL, *pair = NULL;
    uint64_t *rtt = calloc(n_rt, sizeof *rtt);
    double single[99], batched[99];
    if (pid < 0 || !rtt || enter_ns(NS_PREFIX "1") != 0) {
        fprintf(stderr, "ss-bench net: set-up failed: %s\n", strerror(errno));
        goto out;
    }
    ctx = zmq_ctx_new();
    push = zmq_socket(ctx, ZMQ_PUSH);
    pair = zmq_socket(ctx, ZMQ_PAIR);
    int hwm = 100000, linger = 0;
    zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(pair, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(push, "tcp://" SERVER_ADDR ":5701");
    zmq_connect(pair, "tcp://" SERVER_ADDR ":5702");
    /* Warm up: connections made, both sides running. */
    if (throughput(push, pair, 10 * BATCH, BATCH) < 0)
        goto fail;
    for (int r = 0; r < repeat; r++) {
        single[r] = throughput(push, pair, n / 10, 1);
        batched[r] = throughput(push, pair, n, BATCH);
        if (single[r] < 0 || batched[r] < 0)
            goto fail;
    }
    if (roundtrips(pair, n_rt, rtt) != 0)
        goto fail;
    qsort(rtt, n_rt, sizeof *rtt, cmp_u64);
    if (run_source((int64_t)n, (int64_t)n_rt, repeat, &br) != 0)
        goto fail;
    qsort(br.rtt, n_rt, sizeof *br.rtt, cmp_u64);
    double s = median(single, repeat), b = median(batched, repeat);
    double bs = median(br.single, repeat), bb = median(br.batched, repeat);
    printf("ss-bench net: two network namespaces over a veth switch; %llu "
           "signals of %d bytes per batched run (a tenth single), %llu round "
           "trips, median of %d runs\n\n",
           (unsigned long long)n, REC, (unsigned long long)n_rt, repeat);
    printf("%-40s %12s %12s %10s %10s\n", "", "signals/s", "MB/s",
           "rtt p50", "rtt p99");
    printf("%-40s %11.2fM %12.1f %10s %10s\n",
           "zeromq PUSH/PULL, 1 signal/message", s / 1e6, s * REC / 1e6, "",
           "");
    printf("%-40s %11.2fM %12.1f %10s %10s\n",
           "zeromq PUSH/PULL, 100 signals/message", b / 1e6, b * REC / 1e6,
           "", "");
    printf("%-40s %12s %12s %8.1fus %8.1fus\n", "zeromq PAIR round trip", "",
           "", (double)rtt[n_rt / 2] / 1e3,
           (double)rtt[n_rt * 99 / 100] / 1e3);
    printf("%-40s %11.2fM %12.1f %10s %10s\n", "signals over ss-bridge, single",
           bs / 1e6, bs * REC / 1e6, "", "");
    printf("%-40s %11.2fM %12.1f %10s %10s\n",
           "signals over ss-bridge, emit_many(100)", bb / 1e6, bb * REC / 1e6,
           "", "");
    double rb50 = (double)br.rtt[n_rt / 2] / 1e3,
           rb99 = (double)br.rtt[n_rt * 99 / 100] / 1e3,
           rz50 = (double)rtt[n_rt / 2] / 1e3;
    printf("%-40s %12s %12s %8.1fus %8.1fus\n", "ss-bridge round trip", "", "",
           rb50, rb99);
    printf("\ntargets (issue 13): batched signals %.0f%% of the raw batched "
           "rate (>= 80%%: %s); round trip %.2fx the raw one (<= 1.5x: "
           "%s)\n",
           100.0 * bb / b, bb >= 0.8 * b ? "met" : "NOT met", rb50 / rz50,
           rb50 <= 1.5 * rz50 ? "met" : "NOT met");
    status = 0;
    goto out;
fail:
    fprintf(stderr, "ss-bench net: run failed: %s%s\n", bench_error(),
            zmq_errno() ? zmq_strerror(zmq_errno()) : "");
out:
    if (pair) {
        unsigned char q = 'Q';
        zmq_send(pair, &q, 1, ZMQ_DONTWAIT);
    }
    if (push)
        zmq_close(push);
    if (pair)
        zmq_close(pair);
    if (ctx)
        zmq_ctx_term(ctx);
    if (pid > 0) {
        int st;
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        if (waitpid(pid, &st, WNOHANG) == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
    }
    free(rtt);
    free(br.rtt);
    for (int i = 0; i < 2; i++) {
        if (bridges[i] > 0) {
            kill(bridges[i], SIGTERM);
            waitpid(bridges[i], NULL, 0);
        }
        unlink(g_keys[i]);
    }
    if (sink_pid > 0) {
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
        kill(sink_pid, SIGKILL);
        waitpid(sink_pid, NULL, 0);
    }
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -f /dev/shm/ss-%u-bn%d_*",
             (unsigned)geteuid(), (int)getpid());
    if (system(cmd) != 0)
        fprintf(stderr, "ss-bench net: %s failed\n", cmd);
    netns("down " NS_PREFIX);
    return status;
}

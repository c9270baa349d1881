/*
 * bench/bench_net.c - "ss-bench net": traffic between two simulated hosts
 * (network namespaces joined by a veth switch, scripts/netns.sh), for loops
 * on other hosts (docs/bridge.md, issue 13).
 *
 * Today it measures the raw engine the bridge is built on, ZeroMQ, moving
 * the bytes the bridge will move: 40-byte messages one per signal
 * (PUSH/PULL), 100 of them per message (PUSH/PULL), and the round trip of
 * one 40-byte message (PAIR). The bridge's own rows join these when it is
 * built, in the same run.
 *
 * The namespaces are made and removed by the benchmark (root only). The
 * server runs in a child that entered the second namespace; the client in
 * the parent, which entered the first. Every run checks what arrived: the
 * count and the sequence numbers (a loss or a reordering fails the run).
 */
#include "bench.h"

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
    double s = median(single, repeat), b = median(batched, repeat);
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
    printf("\nThe bridge's rows (docs/bridge.md) are not built yet.\n");
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
    netns("down " NS_PREFIX);
    return status;
}

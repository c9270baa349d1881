/*
 * bench/bench_latency.c - "ss-bench latency": round trips between two
 * processes.
 *
 * The parent sends an 8-byte sequence number on a "ping" channel, a forked
 * child echoes it back on a "pong" channel, and the parent times each
 * round trip with CLOCK_MONOTONIC, in rounds where the channels take
 * turns (each round forks a new child and warms up first). Channels: two
 * ss_queues whose blocking calls sleep at once (spin 0), two ss_queues
 * whose calls spin before they sleep, and, as the baseline, a pair of
 * pipes.
 *
 * Every call blocks without a timeout, as an application would use it; a
 * watchdog alarm kills the child and ends ss-bench if a run hangs, so that
 * ss-bench never hangs.
 */
#include "bench.h"

#include "signal_slot/error.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define LAT_MSG_SIZE 8u
#define LAT_ROUND_TRIPS 100000
#define LAT_WARMUP 1000
/* The round trips of each transport are measured in this many rounds,
 * the transports taking turns (in reverse order every other round), so
 * that a change in the machine's speed during the run (it has a fast and
 * a slow mode) weighs on every transport alike. */
#define LAT_ROUNDS 10
#define LAT_SPIN_NS 50000u
/* Generous: a blocking round trip is tens of microseconds at worst. */
#define LAT_TIMEOUT_S 120
/* Sent instead of a sequence number: stop (parent to child), or failed
 * (child to parent, so that the parent does not wait forever). */
#define SEQ_END UINT64_MAX
#define SEQ_CHILD_FAILED (UINT64_MAX - 1)

/*
 * A channel pair. send/recv take `parent` to pick the direction: the
 * parent sends on ping and receives on pong, the child the reverse.
 */
typedef struct lat_ops {
    const char *name; /* JSON "impl" */
    uint32_t spin_ns; /* ss_queue only */
    int (*setup)(void **st, const struct lat_ops *ops);
    /* After fork(), in each process: settle per-process state. */
    void (*after_fork)(void *st, bool parent);
    int (*send)(void *st, bool parent, uint64_t v);
    int (*recv)(void *st, bool parent, uint64_t *v);
    /* In each process, at the end. */
    void (*close)(void *st, bool parent);
} lat_ops;

/* ---- ss_queue ---- */

typedef struct ssq_pair {
    ss_queue *ping;
    ss_queue *pong;
    uint32_t spin_ns;
} ssq_pair;

static int ssq_pair_setup(void **st, const lat_ops *ops)
{
    ssq_pair *s = calloc(1, sizeof *s);
    if (s == NULL) {
        bench_set_error("out of memory");
        return -1;
    }
    ss_queue_options opts;
    ss_queue_options_init(&opts);
    opts.spin_ns = ops->spin_ns;
    int rc = ss_queue_create(&s->ping, &opts);
    if (rc != 0) {
        free(s);
        return bench_ss_fail("ss_queue_create", rc);
    }
    rc = ss_queue_create(&s->pong, &opts);
    if (rc != 0) {
        ss_queue_destroy(s->ping);
        free(s);
        return bench_ss_fail("ss_queue_create", rc);
    }
    s->spin_ns = ops->spin_ns;
    *st = s;
    return 0;
}

static void ssq_pair_after_fork(void *st, bool parent)
{
    (void)parent;
    ssq_pair *s = st;
    /* The spin is a property of the handle: set it on each side, whatever
     * the inherited copy says. */
    ss_queue_set_spin(s->ping, s->spin_ns);
    ss_queue_set_spin(s->pong, s->spin_ns);
}

static int ssq_pair_send(void *st, bool parent, uint64_t v)
{
    ssq_pair *s = st;
    int rc = ss_queue_put(parent ? s->ping : s->pong, &v, sizeof v,
                          SS_WAIT_FOREVER);
    return rc == 0 ? 0 : bench_ss_fail("ss_queue_put", rc);
}

static int ssq_pair_recv(void *st, bool parent, uint64_t *v)
{
    ssq_pair *s = st;
    size_t len = 0;
    int rc = ss_queue_get(parent ? s->pong : s->ping, v, sizeof *v, &len,
                          SS_WAIT_FOREVER);
    if (rc != 0)
        return bench_ss_fail("ss_queue_get", rc);
    if (len != sizeof *v) {
        bench_set_error("ss_queue_get: %zu bytes, expected %zu", len,
                        sizeof *v);
        return -1;
    }
    return 0;
}

static void ssq_pair_close(void *st, bool parent)
{
    (void)parent;
    ssq_pair *s = st;
    ss_queue_destroy(s->ping);
    ss_queue_destroy(s->pong);
    free(s);
}

/* ---- pipe pair ---- */

typedef struct pipe_pair {
    int ping[2];
    int pong[2];
} pipe_pair;

static int pipe_pair_setup(void **st, const lat_ops *ops)
{
    (void)ops;
    pipe_pair *p = calloc(1, sizeof *p);
    if (p == NULL) {
        bench_set_error("out of memory");
        return -1;
    }
    if (pipe2(p->ping, O_CLOEXEC) != 0) {
        bench_set_error("pipe2: %s", strerror(errno));
        free(p);
        return -1;
    }
    if (pipe2(p->pong, O_CLOEXEC) != 0) {
        bench_set_error("pipe2: %s", strerror(errno));
        close(p->ping[0]);
        close(p->ping[1]);
        free(p);
        return -1;
    }
    *st = p;
    return 0;
}

static void pipe_pair_after_fork(void *st, bool parent)
{
    pipe_pair *p = st;
    /* Keep only this side's ends, so that the death of the other process
     * reads as end of file instead of blocking forever. */
    if (parent) {
        close(p->ping[0]);
        close(p->pong[1]);
        p->ping[0] = p->pong[1] = -1;
    } else {
        close(p->ping[1]);
        close(p->pong[0]);
        p->ping[1] = p->pong[0] = -1;
    }
}

static int pipe_pair_send(void *st, bool parent, uint64_t v)
{
    pipe_pair *p = st;
    int fd = parent ? p->ping[1] : p->pong[1];
    for (;;) {
        ssize_t n = write(fd, &v, sizeof v);
        if (n == (ssize_t)sizeof v)
            return 0;
        if (n >= 0 || errno != EINTR) {
            bench_set_error("write: %s", n < 0 ? strerror(errno) : "short");
            return -1;
        }
    }
}

static int pipe_pair_recv(void *st, bool parent, uint64_t *v)
{
    pipe_pair *p = st;
    int fd = parent ? p->pong[0] : p->ping[0];
    for (;;) {
        ssize_t n = read(fd, v, sizeof *v);
        if (n == (ssize_t)sizeof *v)
            return 0;
        if (n == 0) {
            bench_set_error("read: end of file (peer gone)");
            return -1;
        }
        if (n > 0 || errno != EINTR) {
            bench_set_error("read: %s", n < 0 ? strerror(errno) : "short");
            return -1;
        }
    }
}

static void pipe_pair_close(void *st, bool parent)
{
    (void)parent;
    pipe_pair *p = st;
    for (int i = 0; i < 2; i++) {
        if (p->ping[i] >= 0)
            close(p->ping[i]);
        if (p->pong[i] >= 0)
            close(p->pong[i]);
    }
    free(p);
}

static const lat_ops lat_impls[] = {
    {"ss_queue_block", 0, ssq_pair_setup, ssq_pair_after_fork, ssq_pair_send,
     ssq_pair_recv, ssq_pair_close},
    {"ss_queue_spin", LAT_SPIN_NS, ssq_pair_setup, ssq_pair_after_fork,
     ssq_pair_send, ssq_pair_recv, ssq_pair_close},
    {"pipe", 0, pipe_pair_setup, pipe_pair_after_fork, pipe_pair_send,
     pipe_pair_recv, pipe_pair_close},
};
#define N_LAT_IMPLS (sizeof lat_impls / sizeof lat_impls[0])
/* The baseline of the ratio column. */
#define PIPE_INDEX 2

/* ---- watchdog ---- */

static volatile sig_atomic_t watchdog_pid;
static char watchdog_msg[160];
static size_t watchdog_len;

/* Runs when a run exceeded LAT_TIMEOUT_S: the parent may be blocked for
 * good in a call without timeout, so kill the child and leave, with only
 * async-signal-safe calls. */
static void watchdog(int sig)
{
    (void)sig;
    if (watchdog_pid > 0) {
        kill((pid_t)watchdog_pid, SIGKILL);
        waitpid((pid_t)watchdog_pid, NULL, 0);
    }
    ssize_t n = write(STDERR_FILENO, watchdog_msg, watchdog_len);
    (void)n;
    _exit(BENCH_EXIT_FAIL);
}

/* ---- the measurement ---- */

typedef struct lat_result {
    bool ok;
    uint64_t round_trips;
    double p50_us, p99_us, mean_us;
    char error[256];
} lat_result;

static _Noreturn void child_echo(const lat_ops *ops, void *st, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(BENCH_EXIT_FAIL);
    ops->after_fork(st, false);
    for (;;) {
        uint64_t v;
        if (ops->recv(st, false, &v) != 0) {
            /* Best effort: tell the parent rather than let it wait. */
            ops->send(st, false, SEQ_CHILD_FAILED);
            _exit(BENCH_EXIT_FAIL);
        }
        if (v == SEQ_END)
            break;
        if (ops->send(st, false, v) != 0)
            _exit(BENCH_EXIT_FAIL);
    }
    ops->close(st, false);
    _exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static double percentile_us(const uint64_t *sorted, size_t n, double pct)
{
    size_t rank = (size_t)((pct / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted[rank - 1] / 1e3;
}

/* One round: trips round trips over a new channel pair and child, after
 * LAT_WARMUP unmeasured ones, into samples (ns). On failure r->ok is
 * cleared and r->error says why. */
static void run_round(const lat_ops *ops, uint64_t trips, uint64_t *samples,
                      lat_result *r)
{
    void *st = NULL;
    if (ops->setup(&st, ops) != 0) {
        snprintf(r->error, sizeof r->error, "setup: %s", bench_error());
        r->ok = false;
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->error, sizeof r->error, "fork: %s", strerror(errno));
        ops->close(st, true);
        r->ok = false;
        return;
    }
    if (pid == 0)
        child_echo(ops, st, parent);

    ops->after_fork(st, true);
    watchdog_pid = pid;
    watchdog_len = (size_t)snprintf(
        watchdog_msg, sizeof watchdog_msg,
        "ss-bench latency: %s FAILED: not finished after %d s, child killed\n",
        ops->name, LAT_TIMEOUT_S);
    if (watchdog_len >= sizeof watchdog_msg)
        watchdog_len = sizeof watchdog_msg - 1;
    signal(SIGALRM, watchdog);
    alarm(LAT_TIMEOUT_S);

    bool ok = true;
    const uint64_t total = LAT_WARMUP + trips;
    for (uint64_t seq = 0; seq < total; seq++) {
        uint64_t reply = 0;
        uint64_t t0 = bench_now_ns();
        if (ops->send(st, true, seq) != 0 || ops->recv(st, true, &reply) != 0) {
            snprintf(r->error, sizeof r->error, "round trip %llu: %s",
                     (unsigned long long)seq, bench_error());
            ok = false;
            break;
        }
        uint64_t t1 = bench_now_ns();
        if (reply != seq) {
            snprintf(r->error, sizeof r->error,
                     "round trip %llu: reply %llu does not echo the sequence "
                     "number%s",
                     (unsigned long long)seq, (unsigned long long)reply,
                     reply == SEQ_CHILD_FAILED ? " (the child failed)" : "");
            ok = false;
            break;
        }
        if (seq >= LAT_WARMUP)
            samples[seq - LAT_WARMUP] = t1 - t0;
    }
    int status = 0;
    if (ok && ops->send(st, true, SEQ_END) == 0) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            snprintf(r->error, sizeof r->error, "child exited with status "
                     "0x%x", (unsigned)status);
            ok = false;
        }
    } else {
        if (ok)
            snprintf(r->error, sizeof r->error, "end: %s", bench_error());
        ok = false;
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    alarm(0);
    watchdog_pid = 0;
    ops->close(st, true);
    if (!ok)
        r->ok = false;
}

/* Median, p99 and mean of all of a transport's samples. */
static void summarise(uint64_t *samples, uint64_t n, lat_result *r)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum += samples[i];
    qsort(samples, n, sizeof *samples, cmp_u64);
    r->p50_us = percentile_us(samples, n, 50);
    r->p99_us = percentile_us(samples, n, 99);
    r->mean_us = (double)sum / (double)n / 1e3;
}

/* ---- the subcommand ---- */

void bench_latency_usage(FILE *f)
{
    fprintf(f,
        "usage: ss-bench latency [--scale F] [--only IMPLS] [--json]\n"
        "\n"
        "Round trips of an 8-byte message between the parent and a forked\n"
        "child (%d round trips), p50 / p99 / mean in microseconds, measured\n"
        "in %d rounds where the transports take turns, each round with a\n"
        "new child and %d warm-up round trips. Each reply must echo the\n"
        "sequence number sent.\n"
        "\n"
        "options:\n"
        "  --scale F      multiply the round trips by F (at least 100)\n"
        "  --only IMPLS   comma list of: ss_queue_block (spin 0),\n"
        "                 ss_queue_spin (spin %u us), pipe (default: all)\n"
        "  --json         one JSON object per line per measurement\n"
        "  --help         this text\n",
        LAT_ROUND_TRIPS, LAT_ROUNDS, LAT_WARMUP, LAT_SPIN_NS / 1000);
}

int bench_latency_main(int argc, char **argv)
{
    static const char *const names[N_LAT_IMPLS] = {
        "ss_queue_block", "ss_queue_spin", "pipe",
    };
    double scale = 1.0;
    uint32_t only = (1u << N_LAT_IMPLS) - 1;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            bench_latency_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (bench_opt(argc, argv, &i, "--scale", &v)) {
            if (v == NULL || !bench_parse_scale(v, &scale)) {
                fprintf(stderr, "ss-bench latency: --scale needs a number "
                                "> 0 and <= 1000\n\n");
                bench_latency_usage(stderr);
                return BENCH_EXIT_USAGE;
            }
        } else if (bench_opt(argc, argv, &i, "--only", &v)) {
            if (v == NULL || !bench_parse_only(v, names, N_LAT_IMPLS, &only)) {
                fprintf(stderr, "\n");
                bench_latency_usage(stderr);
                return BENCH_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "ss-bench latency: unknown option '%s'\n\n",
                    argv[i]);
            bench_latency_usage(stderr);
            return BENCH_EXIT_USAGE;
        }
    }

    signal(SIGPIPE, SIG_IGN);
    long long scaled = llround(LAT_ROUND_TRIPS * scale);
    const uint64_t trips = scaled < 100 ? 100 : (uint64_t)scaled;
    lat_result res[N_LAT_IMPLS];
    uint64_t *samples[N_LAT_IMPLS] = {NULL};
    bool any_failed = false;

    for (size_t i = 0; i < N_LAT_IMPLS; i++) {
        memset(&res[i], 0, sizeof res[i]);
        res[i].ok = true;
        res[i].round_trips = trips;
        if ((only & (1u << i)) &&
            (samples[i] = malloc(trips * sizeof *samples[i])) == NULL) {
            fprintf(stderr, "ss-bench latency: out of memory\n");
            return BENCH_EXIT_FAIL;
        }
    }
    /* Rounds of at least 100 round trips; the last takes the remainder. */
    uint64_t rounds = trips / 100 < LAT_ROUNDS ? trips / 100 : LAT_ROUNDS;
    uint64_t per_round = trips / rounds;
    for (uint64_t round = 0; round < rounds; round++) {
        uint64_t first = round * per_round;
        uint64_t n = round + 1 == rounds ? trips - first : per_round;
        for (size_t k = 0; k < N_LAT_IMPLS; k++) {
            size_t i = round % 2 ? N_LAT_IMPLS - 1 - k : k;
            if ((only & (1u << i)) && res[i].ok)
                run_round(&lat_impls[i], n, samples[i] + first, &res[i]);
        }
    }

    for (size_t i = 0; i < N_LAT_IMPLS; i++) {
        if (!(only & (1u << i)))
            continue;
        if (res[i].ok)
            summarise(samples[i], trips, &res[i]);
        free(samples[i]);
        if (!res[i].ok) {
            any_failed = true;
            fprintf(stderr, "ss-bench latency: %s FAILED: %s\n",
                    lat_impls[i].name, res[i].error);
        }
        if (json) {
            printf("{\"bench\":\"latency\",\"impl\":\"%s\",\"msg_size\":%u,"
                   "\"round_trips\":%llu,\"warmup\":%d,\"spin_ns\":%u,"
                   "\"p50_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.3f,"
                   "\"ok\":%s",
                   lat_impls[i].name, LAT_MSG_SIZE,
                   (unsigned long long)trips, LAT_WARMUP,
                   lat_impls[i].spin_ns, res[i].p50_us, res[i].p99_us,
                   res[i].mean_us, res[i].ok ? "true" : "false");
            if (!res[i].ok) {
                printf(",\"error\":");
                bench_json_string(stdout, res[i].error);
            }
            printf("}\n");
            fflush(stdout);
        }
    }
    if (json)
        return any_failed ? BENCH_EXIT_FAIL : 0;

    printf("ss-bench latency: round trips of %u-byte messages between two "
           "processes, %llu round trips in %llu rounds where the transports "
           "take turns, each after %d warm-up\n\n",
           LAT_MSG_SIZE, (unsigned long long)trips, (unsigned long long)rounds,
           LAT_WARMUP);
    printf("%-15s %9s %9s %9s %9s %14s\n", "impl", "spin_us", "p50_us",
           "p99_us", "mean_us", "pipe p50 / p50");
    const lat_result *pipe = (only & (1u << PIPE_INDEX)) &&
                                     res[PIPE_INDEX].ok
                                 ? &res[PIPE_INDEX]
                                 : NULL;
    for (size_t i = 0; i < N_LAT_IMPLS; i++) {
        if (!(only & (1u << i)))
            continue;
        const lat_result *r = &res[i];
        char spin[16];
        if (lat_impls[i].setup == ssq_pair_setup)
            snprintf(spin, sizeof spin, "%u", lat_impls[i].spin_ns / 1000);
        else
            snprintf(spin, sizeof spin, "-");
        if (!r->ok) {
            printf("%-15s %9s %9s %9s %9s %14s\n", lat_impls[i].name, spin,
                   "FAIL", "FAIL", "FAIL", "-");
            continue;
        }
        char ratio[16] = "-";
        if (pipe != NULL && r->p50_us > 0)
            snprintf(ratio, sizeof ratio, "%.2fx", pipe->p50_us / r->p50_us);
        printf("%-15s %9s %9.2f %9.2f %9.2f %14s\n", lat_impls[i].name, spin,
               r->p50_us, r->p99_us, r->mean_us, ratio);
    }
    printf("\n\"pipe p50 / p50\" > 1 means faster than the pipe pair.\n");
    return any_failed ? BENCH_EXIT_FAIL : 0;
}

/*
 * bench/bench_remote.c - the rows of "ss-bench signal" between two
 * processes that were started apart and find each other through the
 * registry (signal_slot/registry.h), not a parent and the loop process it
 * forked with its tables.
 *
 * The peer is ss-bench itself, executed again through /proc/self/exe with
 * the hidden arguments "signal --registry-peer DOMAIN PPID SECONDS": a new
 * program image that shares nothing with this one but the domain's name.
 * It dies with this process (PR_SET_PDEATHSIG, set between fork and exec;
 * it checks its parent once it runs, for a parent that died before), and
 * after SECONDS whatever happens (alarm()). This process reaps it on every
 * path, killing it if it does not end within a few seconds of its stop.
 *
 * Both sides run in a private domain, "bench<pid>", set before any loop
 * exists; bench_remote_cleanup() removes its shared memory at the end.
 *
 * The peer publishes loop "bench_rx" with object "dst", which has
 *   slots   "item"  ("xs": sequence, text; counts, checks the order),
 *           "fin"   ("x": the end of a run; answers "done"),
 *           "probe" ("xx": connect start time, cycle; answers "seen");
 *   signals "done"  ("xxx": got, out of order, malformed),
 *           "seen"  ("xx": cycle, ns from the connect call's start to
 *                    this slot's call, on CLOCK_MONOTONIC, which both
 *                    processes share).
 * This process publishes loop "bench_tx" (the peer's answers come back
 * through a route to it), with object "src" (signals "item", "fin",
 * "probe") and a receiver for "done" and "seen", connected with
 * ss_connect() of the peer's emitter to a local slot function.
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <signal_slot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEXT BENCH_SIGNAL_TEXT
#define PEER_LOOP "bench_rx"
#define PEER_OBJ "dst"
/* How long the peer may take to publish its loop. */
#define PEER_START_NS SS_SEC(10)
/* How long it may take to exit once stopped, before it is killed. */
#define PEER_EXIT_NS SS_SEC(5)
/* Connect cycles run before the measured ones. */
#define WARMUP_CYCLES 10

static char g_domain[SS_DOMAIN_MAX + 1];

static void sleep_ns(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* ---- the peer (another program image) ---- */

typedef struct peer_sink {
    ss_object obj;
    int64_t next, got, out_of_order, malformed;
} peer_sink;

static void peer_on_item(ss_object *receiver, const ss_args *args, void *ud)
{
    peer_sink *s = ud;
    int64_t seq;
    const char *text;
    (void)receiver;
    if (ss_args_unpack(args, "xs", &seq, &text) != 0 ||
        strcmp(text, TEXT) != 0) {
        s->malformed++;
        return;
    }
    s->got++;
    if (seq != s->next)
        s->out_of_order++;
    s->next = seq + 1;
}

/* Emit an answer, retrying a while if the queue is full. */
static void peer_answer(ss_object *obj, const char *signal, int64_t a,
                        int64_t b, int64_t c, bool three)
{
    for (int tries = 0; tries < 100000; tries++) {
        int rc = three ? ss_emit(obj, signal, a, b, c)
                       : ss_emit(obj, signal, a, b);
        if (rc != SS_EAGAIN && rc != SS_EBUSY)
            return;
        sleep_ns(10000);
    }
}

static void peer_on_fin(ss_object *receiver, const ss_args *args, void *ud)
{
    peer_sink *s = ud;
    int64_t n;
    (void)receiver;
    if (ss_args_unpack(args, "x", &n) != 0)
        s->malformed++;
    peer_answer(&s->obj, "done", s->got, s->out_of_order, s->malformed, true);
    s->next = s->got = s->out_of_order = s->malformed = 0;
}

static void peer_on_probe(ss_object *receiver, const ss_args *args, void *ud)
{
    peer_sink *s = ud;
    uint64_t now = bench_now_ns();
    int64_t t0, cycle;
    (void)receiver;
    if (ss_args_unpack(args, "xx", &t0, &cycle) != 0) {
        s->malformed++;
        return;
    }
    peer_answer(&s->obj, "seen", cycle, (int64_t)now - t0, 0, false);
}

static void peer_log(ss_log_level level, const char *component,
                     const char *message, void *user_data)
{
    (void)user_data;
    if (level > SS_LOG_WARN)
        return;
    fprintf(stderr, "ss-bench signal peer: %s: %s\n", component, message);
}

int bench_remote_peer_main(int argc, char **argv)
{
    if (argc != 4)
        return BENCH_EXIT_USAGE;
    long ppid = strtol(argv[2], NULL, 10);
    long secs = strtol(argv[3], NULL, 10);
    /* PR_SET_PDEATHSIG was set before the exec: a parent that died before
     * it took effect is noticed here. */
    if (ppid <= 1 || (long)getppid() != ppid || secs < 1)
        return BENCH_EXIT_FAIL;
    alarm((unsigned)secs); /* the watchdog: SIGALRM ends the process */
    ss_log_set_handler(peer_log, NULL);
    if (ss_domain_set(argv[1]) != 0)
        return BENCH_EXIT_FAIL;
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_loop *l;
    static peer_sink s;
    int rc = ss_loop_new(&l, PEER_LOOP, &o);
    if (rc != 0) {
        fprintf(stderr, "ss-bench signal peer: ss_loop_new: %s\n",
                ss_strerror(rc));
        return BENCH_EXIT_FAIL;
    }
    if (ss_object_init(&s.obj, l, PEER_OBJ) != 0 ||
        ss_signal_add(&s.obj, "done", "xxx") != 0 ||
        ss_signal_add(&s.obj, "seen", "xx") != 0 ||
        ss_slot_add(&s.obj, "item", peer_on_item, "xs", &s) != 0 ||
        ss_slot_add(&s.obj, "fin", peer_on_fin, "x", &s) != 0 ||
        ss_slot_add(&s.obj, "probe", peer_on_probe, "xx", &s) != 0) {
        fprintf(stderr, "ss-bench signal peer: setting up failed\n");
        ss_loop_free(l);
        return BENCH_EXIT_FAIL;
    }
    rc = ss_loop_run(l); /* until the parent stops it (ss_loop_stop) */
    ss_object_destroy(&s.obj);
    ss_loop_free(l);
    return rc == SS_LOOP_STOPPED ? 0 : BENCH_EXIT_FAIL;
}

/* ---- this side: the domain ---- */

int bench_remote_init(void)
{
    snprintf(g_domain, sizeof g_domain, "bench%ld", (long)getpid());
    int rc = ss_domain_set(g_domain);
    return rc == 0 ? 0 : bench_ss_fail("ss_domain_set", rc);
}

void bench_remote_cleanup(void)
{
    /* The registry is /dev/shm/ss-<uid>-<domain>; the queues of published
     * loops are /dev/shm/ss-<uid>-<domain>-<loop>-<incarnation>, unlinked
     * when their loop is freed or found ended: remove any left over. */
    char reg[96], prefix[100];
    snprintf(reg, sizeof reg, "ss-%u-%s", (unsigned)geteuid(), g_domain);
    snprintf(prefix, sizeof prefix, "%s-", reg);
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, reg) == 0 ||
            strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* ---- this side: starting and ending the peer ---- */

typedef struct peer {
    pid_t pid;
    ss_loop *rx;    /* handle on its published loop */
    ss_object *dst; /* handle on its object */
} peer;

/* Reap the peer within timeout_ns, killing it if it is still there then.
 * Returns its exit code, 128 + signal, or -1. */
static int peer_reap(peer *p, int64_t timeout_ns)
{
    if (p->pid <= 0)
        return -1;
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ns;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid)
            break;
        if (r < 0 && errno != EINTR) {
            status = -1;
            break;
        }
        if (bench_now_ns() >= deadline) {
            kill(p->pid, SIGKILL);
            while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
                ;
            fprintf(stderr, "ss-bench signal: the registry peer (pid %d) "
                    "did not exit: killed\n", (int)p->pid);
            break;
        }
        sleep_ns(200000);
    }
    p->pid = 0;
    if (status == -1)
        return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Exec the peer and open handles on its loop and object. On a failure
 * everything is undone (the peer reaped) and -1 returned. */
static int peer_start(peer *p, int seconds)
{
    memset(p, 0, sizeof *p);
    char ppid[24], secs[24];
    snprintf(ppid, sizeof ppid, "%ld", (long)getpid());
    snprintf(secs, sizeof secs, "%d", seconds);
    char *argv[] = {(char *)"ss-bench", (char *)"signal",
                    (char *)"--registry-peer", g_domain, ppid, secs, NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    if (pid < 0) {
        bench_set_error("fork: %s", strerror(errno));
        return -1;
    }
    p->pid = pid;
    /* Wait for its loop, as long as the peer lives. */
    uint64_t deadline = bench_now_ns() + (uint64_t)PEER_START_NS;
    int rc;
    for (;;) {
        rc = ss_loop_open(&p->rx, PEER_LOOP, SS_MSEC(20));
        if (rc != SS_ENOENT)
            break;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            p->pid = 0;
            bench_set_error("the registry peer exited before publishing its "
                            "loop (status 0x%x)", (unsigned)status);
            return -1;
        }
        if (bench_now_ns() >= deadline)
            break;
    }
    if (rc == 0)
        rc = ss_object_open(&p->dst, p->rx, PEER_OBJ);
    if (rc != 0) {
        bench_ss_fail("ss_loop_open / ss_object_open (registry peer)", rc);
        if (p->rx)
            ss_loop_free(p->rx);
        p->rx = NULL;
        peer_reap(p, 0); /* killed at once */
        return -1;
    }
    return 0;
}

/* Stop the peer's loop, reap it and release the handles. true if it
 * exited with 0. */
static bool peer_end(peer *p)
{
    if (p->rx)
        ss_loop_stop(p->rx); /* its loop stops, and it exits */
    int code = peer_reap(p, PEER_EXIT_NS);
    if (p->dst)
        ss_object_free(p->dst);
    if (p->rx)
        ss_loop_free(p->rx);
    p->dst = NULL;
    p->rx = NULL;
    if (code != 0)
        fprintf(stderr, "ss-bench signal: the registry peer ended with %s "
                "%d\n", code > 128 ? "signal" : "status",
                code > 128 ? code - 128 : code);
    return code == 0;
}

/* ---- this side: what the peer answers ---- */

typedef struct answers {
    ss_object obj;
    bool done, ended;
    uint64_t done_ns;
    bench_remote_counts counts;
    int64_t want_cycle;
    bool seen;
    int64_t seen_ns;
    int bad;
} answers;

static void on_done(ss_object *receiver, const ss_args *args, void *ud)
{
    answers *a = ud;
    (void)receiver;
    a->done_ns = bench_now_ns();
    if (ss_args_unpack(args, "xxx", &a->counts.got, &a->counts.out_of_order,
                       &a->counts.malformed) != 0)
        a->bad++;
    a->done = true;
}

static void on_seen(ss_object *receiver, const ss_args *args, void *ud)
{
    answers *a = ud;
    int64_t cycle, ns;
    (void)receiver;
    if (ss_args_unpack(args, "xx", &cycle, &ns) != 0 ||
        cycle != a->want_cycle) {
        a->bad++;
        return;
    }
    a->seen_ns = ns;
    a->seen = true;
}

static void on_ended(ss_object *receiver, const ss_args *args, void *ud)
{
    answers *a = ud;
    (void)receiver;
    (void)args;
    a->ended = true;
}

/* Run loop l until *flag, the peer's end, or the deadline. */
static bool wait_for(ss_loop *l, const bool *flag, const answers *a,
                     uint64_t deadline)
{
    while (!*flag && !a->ended && bench_now_ns() < deadline)
        if (ss_loop_run_once(l, SS_MSEC(50)) != 0)
            return false;
    return *flag;
}

/* The common set-up: this process's published loop with src and the
 * answers' receiver, the peer exec'd, its answers connected here. */
typedef struct session {
    ss_loop *tx;
    ss_object src;
    answers ans;
    peer p;
    bool objs, started;
} session;

static void session_end(session *s, bool *ok)
{
    /* Connections go with the objects; then the peer; then the loop. */
    if (s->objs) {
        ss_object_destroy(&s->ans.obj);
        ss_object_destroy(&s->src);
    }
    if (s->started && !peer_end(&s->p))
        *ok = false;
    if (s->tx)
        ss_loop_free(s->tx);
}

#define FAIL(call)                                                        \
    do {                                                                   \
        int rc_ = (call);                                                  \
        if (rc_ != 0) {                                                    \
            bench_ss_fail(#call, rc_);                                     \
            return -1;                                                     \
        }                                                                  \
    } while (0)

static int session_begin(session *s, int peer_seconds)
{
    memset(s, 0, sizeof *s);
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true; /* the peer's answers are routed to it */
    FAIL(ss_loop_new(&s->tx, "bench_tx", &o));
    FAIL(ss_object_init(&s->src, s->tx, "src"));
    if (ss_object_init(&s->ans.obj, s->tx, "ans") != 0) {
        ss_object_destroy(&s->src);
        bench_set_error("ss_object_init(ans) failed");
        return -1;
    }
    s->objs = true;
    FAIL(ss_signal_add(&s->src, "item", "xs"));
    FAIL(ss_signal_add(&s->src, "fin", "x"));
    FAIL(ss_signal_add(&s->src, "probe", "xx"));
    if (peer_start(&s->p, peer_seconds) != 0)
        return -1;
    s->started = true;
    /* The peer's emitters to slot functions here (routes asked of its
     * loop), and its end noticed here. */
    FAIL(ss_connect(s->p.dst, "done", &s->ans.obj, on_done, "xxx", &s->ans));
    FAIL(ss_connect(s->p.dst, "seen", &s->ans.obj, on_seen, "xx", &s->ans));
    FAIL(ss_connect(ss_loop_object(s->p.rx), "ended", &s->ans.obj, on_ended,
                    "ii", &s->ans));
    return 0;
}

/* Seconds a run of n signals may take, at worst. */
static int run_seconds(int64_t n)
{
    return 60 + (int)(n / 100000);
}

/* ---- throughput ---- */

static double throughput(session *s, int64_t n, int batch, uint64_t *retries,
                         uint64_t *allocs, bench_remote_counts *counts)
{
    /* This emitter to the peer's slot by name: a binding asked of the
     * peer's loop, then a route here. */
    FAIL(ss_connect_slot(&s->src, "item", s->p.dst, "item"));
    FAIL(ss_connect_slot(&s->src, "fin", s->p.dst, "fin"));

    int rc = 0;
    bench_alloc_start();
    uint64_t t0 = bench_now_ns();
    uint64_t deadline = t0 + (uint64_t)SS_SEC(run_seconds(n));
    for (int64_t i = 0; i < n;) {
        int k = batch;
        if (k > n - i)
            k = (int)(n - i);
        rc = bench_emit_xs(&s->src, "item", i, k, batch > 1, TEXT);
        if (rc == SS_EAGAIN) { /* the peer's queue is full: try again */
            /* ... unless the peer stopped taking anything (a peer that
             * died is noticed by the library: SS_ECLOSED). */
            if ((++*retries & 0xfff) == 0 && bench_now_ns() > deadline) {
                bench_set_error("the registry peer's queue stayed full: "
                                "%lld of %lld sent in %d s", (long long)i,
                                (long long)n, run_seconds(n));
                *allocs = bench_alloc_stop();
                return -1;
            }
            continue;
        }
        if (rc != 0)
            break;
        i += k;
    }
    *allocs = bench_alloc_stop();
    if (rc != 0) {
        bench_ss_fail(batch == 1 ? "ss_emit" : "ss_emit_many", rc);
        return -1;
    }
    /* The end marker: same emitter, same queue, so after every item. */
    while ((rc = ss_emit(&s->src, "fin", n)) == SS_EAGAIN &&
           bench_now_ns() < deadline)
        ;
    if (rc != 0) {
        bench_ss_fail("ss_emit(fin)", rc);
        return -1;
    }
    if (!wait_for(s->tx, &s->ans.done, &s->ans, deadline)) {
        bench_set_error(s->ans.ended ? "the registry peer ended during the run"
                                     : "no answer from the registry peer");
        return -1;
    }
    *counts = s->ans.counts;
    if (s->ans.bad || counts->got != n || counts->out_of_order ||
        counts->malformed) {
        bench_set_error("the registry peer got %lld of %lld, %lld out of "
                        "order, %lld malformed",
                        (long long)counts->got, (long long)n,
                        (long long)counts->out_of_order,
                        (long long)counts->malformed);
        return -1;
    }
    double secs = (double)(s->ans.done_ns - t0) / 1e9;
    return secs > 0 ? (double)n / secs : -1;
}

double bench_remote_throughput(int64_t n, int batch, uint64_t *retries,
                               uint64_t *allocs, bench_remote_counts *counts)
{
    memset(counts, 0, sizeof *counts);
    *allocs = 0;
    *retries = 0;
    static session s;
    double rate = -1;
    bool ok = true;
    if (session_begin(&s, run_seconds(n)) == 0)
        rate = throughput(&s, n, batch, retries, allocs, counts);
    session_end(&s, &ok);
    if (!ok && rate >= 0)
        bench_set_error("the registry peer did not exit cleanly");
    return ok ? rate : -1;
}

/* ---- connect latency ---- */

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void p50_p99(double *v, int n, double *p50, double *p99)
{
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    *p50 = v[(int)(0.5 * (n - 1))];
    *p99 = v[(int)(0.99 * (n - 1))];
}

static int connect_cycles(session *s, int cycles, bench_connect_lat *out)
{
    double *call = calloc((size_t)cycles, sizeof *call);
    double *first = calloc((size_t)cycles, sizeof *first);
    double *disc = calloc((size_t)cycles, sizeof *disc);
    int result = -1;
    if (!call || !first || !disc) {
        bench_set_error("out of memory");
        goto out;
    }
    for (int i = -WARMUP_CYCLES; i < cycles; i++) {
        s->ans.want_cycle = i;
        s->ans.seen = false;
        uint64_t t0 = bench_now_ns();
        int rc = ss_connect_slot(&s->src, "probe", s->p.dst, "probe");
        uint64_t t1 = bench_now_ns();
        if (rc != 0) {
            bench_ss_fail("ss_connect_slot(probe)", rc);
            goto out;
        }
        /* The first emission after the call returns. */
        uint64_t until = t1 + (uint64_t)SS_SEC(10);
        while ((rc = ss_emit(&s->src, "probe", (int64_t)t0, (int64_t)i)) ==
                   SS_EAGAIN &&
               bench_now_ns() < until)
            ;
        if (rc != 0) {
            bench_ss_fail("ss_emit(probe)", rc);
            goto out;
        }
        if (!wait_for(s->tx, &s->ans.seen, &s->ans,
                      bench_now_ns() + (uint64_t)SS_SEC(10))) {
            bench_set_error(s->ans.ended ? "the registry peer ended"
                                         : "no answer from the registry "
                                           "peer to a probe");
            goto out;
        }
        uint64_t t2 = bench_now_ns();
        rc = ss_disconnect_slot(&s->src, "probe", s->p.dst, "probe");
        uint64_t t3 = bench_now_ns();
        if (rc != 0) {
            bench_ss_fail("ss_disconnect_slot(probe)", rc);
            goto out;
        }
        if (i < 0)
            continue;
        call[i] = (double)(t1 - t0) / 1e3;
        first[i] = (double)s->ans.seen_ns / 1e3;
        disc[i] = (double)(t3 - t2) / 1e3;
    }
    if (s->ans.bad) {
        bench_set_error("%d answers from the registry peer were wrong",
                        s->ans.bad);
        goto out;
    }
    p50_p99(call, cycles, &out->call_p50, &out->call_p99);
    p50_p99(first, cycles, &out->first_p50, &out->first_p99);
    p50_p99(disc, cycles, &out->disc_p50, &out->disc_p99);
    result = 0;
out:
    free(call);
    free(first);
    free(disc);
    return result;
}

int bench_remote_connect(int cycles, bench_connect_lat *out)
{
    static session s;
    int rc = -1;
    bool ok = true;
    if (session_begin(&s, 60 + cycles / 10) == 0)
        rc = connect_cycles(&s, cycles, out);
    session_end(&s, &ok);
    if (!ok && rc == 0)
        bench_set_error("the registry peer did not exit cleanly");
    return ok ? rc : -1;
}

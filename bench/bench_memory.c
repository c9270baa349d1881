/*
 * bench/bench_memory.c - `ss-bench memory`: the private memory an idle loop
 * process costs beyond its queue, against a plain fork of the same parent.
 *
 * The parent sets up a loop process with a few objects and connections in
 * both directions, starts it, waits for its loop's "started" signal, sends
 * one signal to each of its objects and waits for their replies (so that
 * the dispatch path has run once), then leaves it idle and reads
 * /proc/<pid>/smaps. The baseline is a plain fork of the same parent (fork,
 * then pause()), measured the same way: "adds" in the target means beyond
 * what the process image itself costs.
 *
 * Private memory is Private_Clean + Private_Dirty: after fork() a page
 * still shared copy-on-write with another process counts as Shared, a page
 * the child wrote (its own copy) as Private_Dirty. A page the parent writes
 * after the fork would leave the child holding the only copy of the old
 * one, so every measured child has a sibling, a plain fork made at the same
 * instant, that keeps sharing those pages with it: only what the child
 * itself wrote or mapped is charged to it.
 *
 * The queues are MAP_SHARED memfd mappings named "memfd:signal-slot-queue"
 * (src/platform/linux.c); a shared page that only one process has touched
 * is still reported as Private by the kernel, so they are summed apart and
 * left out of the figure the target is about.
 */
#include "bench.h"

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

#define N_WORKERS 3
#define DEFAULT_IDLE_MS 200
#define TARGET_KIB 1024u
#define QUEUE_MAPPING_NAME "memfd:signal-slot-queue"
#define READY_TIMEOUT_S 5

enum { K_QUEUE, K_HEAP, K_STACK, K_ANON, K_FILE, K_OTHER, N_KINDS };

static const char *const kind_json[N_KINDS] = {
    "queue", "heap", "stack", "anon", "file", "other",
};
static const char *const kind_text[N_KINDS] = {
    "queue mappings (memfd)",
    "[heap]",
    "[stack]",
    "other anonymous mappings",
    "file-backed (binaries' data)",
    "other ([vdso], [vvar]...)",
};

/* What smaps says about one process, in KiB. */
typedef struct mem_usage {
    uint64_t rss, pss, shared, private_;
    uint64_t private_by_kind[N_KINDS];
    uint64_t rss_by_kind[N_KINDS];
    int queue_mappings;
} mem_usage;

void bench_memory_usage(FILE *f)
{
    fprintf(f,
            "usage: ss-bench memory [--idle-ms N] [--queue-capacity BYTES] "
            "[--json]\n"
            "\n"
            "Private memory (Private_Clean + Private_Dirty in\n"
            "/proc/<pid>/smaps) of an idle loop process: %d objects on its\n"
            "loop, connected both ways to an object of the parent, one round\n"
            "of signals handled, then N ms idle (default %d). The same\n"
            "figures for a plain fork of the same parent (fork + pause), and\n"
            "the difference beyond the queue mappings, against the target\n"
            "of at most %u KiB (PASS/FAIL).\n"
            "\n"
            "options:\n"
            "  --idle-ms N            idle time before reading smaps\n"
            "  --queue-capacity BYTES the loop's queue ring (default 1 MiB)\n"
            "  --json                 one JSON object per process measured\n"
            "  --help                 this text\n",
            N_WORKERS, DEFAULT_IDLE_MS, TARGET_KIB);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int classify(const char *path)
{
    if (strstr(path, QUEUE_MAPPING_NAME))
        return K_QUEUE;
    if (strcmp(path, "[heap]") == 0)
        return K_HEAP;
    if (strncmp(path, "[stack", 6) == 0)
        return K_STACK;
    if (path[0] == '\0')
        return K_ANON;
    if (path[0] == '/' && !strstr(path, "memfd:"))
        return K_FILE;
    return K_OTHER;
}

static int read_smaps(pid_t pid, mem_usage *u)
{
    char name[64];
    snprintf(name, sizeof name, "/proc/%d/smaps", (int)pid);
    FILE *f = fopen(name, "r");
    if (!f) {
        bench_set_error("%s: %s", name, strerror(errno));
        return -1;
    }
    memset(u, 0, sizeof *u);
    char line[4096];
    int kind = -1;
    bool any = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, inode;
        unsigned maj, min;
        char perms[8];
        int n = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &lo, &hi, perms,
                   &off, &maj, &min, &inode, &n) == 7) {
            char *path = line + n;
            path[strcspn(path, "\n")] = '\0';
            kind = classify(path);
            if (kind == K_QUEUE)
                u->queue_mappings++;
            any = true;
            continue;
        }
        char key[64];
        unsigned long long v;
        if (kind < 0 || sscanf(line, "%63[^:]: %llu kB", key, &v) != 2)
            continue;
        if (strcmp(key, "Rss") == 0) {
            u->rss += v;
            u->rss_by_kind[kind] += v;
        } else if (strcmp(key, "Pss") == 0) {
            u->pss += v;
        } else if (strcmp(key, "Shared_Clean") == 0 ||
                   strcmp(key, "Shared_Dirty") == 0) {
            u->shared += v;
        } else if (strcmp(key, "Private_Clean") == 0 ||
                   strcmp(key, "Private_Dirty") == 0) {
            u->private_ += v;
            u->private_by_kind[kind] += v;
        }
    }
    fclose(f);
    if (!any) {
        bench_set_error("%s: no mapping found", name);
        return -1;
    }
    return 0;
}

static uint64_t beyond_queue(const mem_usage *u)
{
    return u->private_ - u->private_by_kind[K_QUEUE];
}

/* A plain fork that does nothing until killed (and dies with ss-bench). */
static pid_t fork_idle(void)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        for (;;)
            pause();
    }
    if (pid < 0)
        bench_set_error("fork: %s", strerror(errno));
    return pid;
}

static void end_idle(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* ---- the loop process's objects and the parent's controller ---- */

typedef struct ctl {
    ss_object obj;
    int results;
    bool ready;
} ctl;

static void on_ready(ss_object *receiver, const ss_args *args, void *ud)
{
    ctl *c = (ctl *)receiver;
    (void)args;
    (void)ud;
    c->ready = true;
    ss_emit(&c->obj, "job", (int64_t)1);
}

static void on_job(ss_object *receiver, const ss_args *args, void *ud)
{
    int64_t v;
    (void)ud;
    if (ss_args_unpack(args, "x", &v) == 0)
        ss_emit(receiver, "result", v + 1);
}

static void on_result(ss_object *receiver, const ss_args *args, void *ud)
{
    ctl *c = (ctl *)receiver;
    int64_t v;
    (void)ud;
    if (ss_args_unpack(args, "x", &v) == 0 && v == 2 &&
        ++c->results == N_WORKERS)
        ss_loop_stop(ss_object_loop(receiver));
}

/* ---- output ---- */

static void print_json(const char *impl, const mem_usage *u, long idle_ms,
                       size_t capacity, const mem_usage *base, bool ok)
{
    printf("{\"bench\":\"memory\",\"impl\":\"%s\",\"idle_ms\":%ld,"
           "\"queue_capacity\":%zu,\"rss_kib\":%llu,\"pss_kib\":%llu,"
           "\"shared_kib\":%llu,\"private_kib\":%llu,"
           "\"private_beyond_queue_kib\":%llu,\"queue_mappings\":%d,"
           "\"queue_rss_kib\":%llu",
           impl, idle_ms, capacity, (unsigned long long)u->rss,
           (unsigned long long)u->pss, (unsigned long long)u->shared,
           (unsigned long long)u->private_,
           (unsigned long long)beyond_queue(u), u->queue_mappings,
           (unsigned long long)u->rss_by_kind[K_QUEUE]);
    for (int k = 0; k < N_KINDS; k++)
        printf(",\"private_%s_kib\":%llu", kind_json[k],
               (unsigned long long)u->private_by_kind[k]);
    if (base) {
        long long delta = (long long)beyond_queue(u) -
                          (long long)beyond_queue(base);
        printf(",\"delta_private_kib\":%lld,\"target_kib\":%u,\"pass\":%s",
               delta, TARGET_KIB,
               ok && delta <= (long long)TARGET_KIB ? "true" : "false");
    }
    printf(",\"ok\":%s", ok ? "true" : "false");
    if (!ok) {
        printf(",\"error\":");
        bench_json_string(stdout, bench_error());
    }
    printf("}\n");
}

static void print_row(const char *label, uint64_t a, uint64_t b)
{
    printf("%-40s %12llu %12llu %+12lld\n", label, (unsigned long long)a,
           (unsigned long long)b, (long long)a - (long long)b);
}

static void print_table(const mem_usage *lp, const mem_usage *pf,
                        long idle_ms, size_t capacity)
{
    printf("ss-bench memory: an idle loop process (%d objects, %d "
           "connections, one round of signals handled, then %ld ms idle)\n"
           "against a plain fork of the same parent (fork + pause), from "
           "/proc/<pid>/smaps, KiB\n\n",
           N_WORKERS, 2 * N_WORKERS + 1, idle_ms);
    printf("%-40s %12s %12s %12s\n", "", "loop process", "plain fork",
           "difference");
    print_row("Rss", lp->rss, pf->rss);
    print_row("Pss", lp->pss, pf->pss);
    print_row("shared (Shared_Clean + Shared_Dirty)", lp->shared, pf->shared);
    print_row("private (Private_Clean + Private_Dirty)", lp->private_,
              pf->private_);
    print_row("  of which in queue mappings", lp->private_by_kind[K_QUEUE],
              pf->private_by_kind[K_QUEUE]);
    print_row("  beyond the queues", beyond_queue(lp), beyond_queue(pf));
    for (int k = K_HEAP; k < N_KINDS; k++) {
        char label[64];
        snprintf(label, sizeof label, "    %s", kind_text[k]);
        print_row(label, lp->private_by_kind[k], pf->private_by_kind[k]);
    }
    printf("\nqueues: capacity %zu KiB; the loop process maps %d queue "
           "views (its own queue and the parent loop's, each ring mapped "
           "twice), Rss %llu KiB, private %llu KiB\n",
           capacity / 1024, lp->queue_mappings,
           (unsigned long long)lp->rss_by_kind[K_QUEUE],
           (unsigned long long)lp->private_by_kind[K_QUEUE]);
    long long delta = (long long)beyond_queue(lp) - (long long)beyond_queue(pf);
    printf("\ntarget: an idle loop process adds at most %u KiB of private "
           "memory beyond its queue: it adds %lld KiB: %s\n",
           TARGET_KIB, delta,
           delta <= (long long)TARGET_KIB ? "PASS" : "FAIL");
}

/* ---- the subcommand ---- */

int bench_memory_main(int argc, char **argv)
{
    long idle_ms = DEFAULT_IDLE_MS;
    size_t capacity = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        char *end;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            bench_memory_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (bench_opt(argc, argv, &i, "--idle-ms", &v)) {
            errno = 0;
            idle_ms = v ? strtol(v, &end, 10) : -1;
            if (!v || errno || *end || end == v || idle_ms < 0 ||
                idle_ms > 60000) {
                fprintf(stderr, "ss-bench memory: --idle-ms needs 0..60000\n");
                return BENCH_EXIT_USAGE;
            }
        } else if (bench_opt(argc, argv, &i, "--queue-capacity", &v)) {
            errno = 0;
            unsigned long long c = v ? strtoull(v, &end, 10) : 0;
            if (!v || errno || *end || end == v || c == 0 ||
                c > (1ull << 32)) {
                fprintf(stderr, "ss-bench memory: --queue-capacity needs a "
                                "byte count > 0\n");
                return BENCH_EXIT_USAGE;
            }
            capacity = (size_t)c;
        } else {
            fprintf(stderr, "ss-bench memory: unknown option '%s'\n\n",
                    argv[i]);
            bench_memory_usage(stderr);
            return BENCH_EXIT_USAGE;
        }
    }

    ss_loop *main_loop = NULL;
    ss_process *proc = NULL;
    ss_loop_options lo;
    ss_loop_options_init(&lo);
    lo.queue_capacity = capacity;
    int rc;
    if ((rc = ss_loop_new(&main_loop, "bench_main", NULL)) != 0 ||
        (rc = ss_process_new(&proc, "bench_idle", &lo)) != 0) {
        fprintf(stderr, "ss-bench memory: %s\n", ss_strerror(rc));
        if (main_loop)
            ss_loop_free(main_loop);
        return BENCH_EXIT_FAIL;
    }
    ss_loop *child_loop = ss_process_loop(proc);
    size_t cap = ss_queue_capacity(ss_loop_queue(child_loop));
    ctl c = {0};
    ss_object workers[N_WORKERS];
    memset(workers, 0, sizeof workers);
    bool ok = true;
    ok &= ss_object_init(&c.obj, main_loop, "ctl") == 0;
    ok &= ss_signal_add(&c.obj, "job", "x") == 0;
    for (int w = 0; w < N_WORKERS; w++) {
        char id[16];
        snprintf(id, sizeof id, "worker%d", w);
        ok &= ss_object_init(&workers[w], child_loop, id) == 0;
        ok &= ss_signal_add(&workers[w], "result", "x") == 0;
        ok &= ss_connect(&c.obj, "job", &workers[w], on_job, "x", NULL) == 0;
        ok &= ss_connect(&workers[w], "result", &c.obj, on_result, "x",
                         NULL) == 0;
    }
    ok &= ss_connect(ss_loop_object(child_loop), "started", &c.obj, on_ready,
                     "", NULL) == 0;
    if (!ok)
        bench_set_error("setting up the objects failed");

    /* Baseline: a plain fork (and its sibling), idle for the same time. */
    mem_usage pf = {0}, lp = {0};
    pid_t plain = -1, plain_sib = -1, sib = -1;
    if (ok) {
        plain_sib = fork_idle();
        plain = plain_sib > 0 ? fork_idle() : -1;
        ok = plain > 0;
    }
    if (ok) {
        sleep_ms(idle_ms);
        ok = read_smaps(plain, &pf) == 0;
    }
    end_idle(plain);
    end_idle(plain_sib);

    /* The loop process, with its sibling forked just before it. */
    bool started = false;
    int status = -1;
    if (ok) {
        sib = fork_idle();
        ok = sib > 0;
    }
    if (ok) {
        rc = ss_process_start(proc, NULL, NULL);
        ok = started = rc == 0;
        if (!ok)
            bench_ss_fail("ss_process_start", rc);
    }
    if (ok) {
        ss_timer watchdog;
        ss_timer_init(&watchdog, main_loop, SS_SEC(READY_TIMEOUT_S), true,
                      "watchdog");
        ss_connect(&watchdog.object, "timeout", ss_loop_object(main_loop),
                   ss_loop_stop_slot, "", NULL);
        int st = ss_loop_run(main_loop);
        ss_timer_destroy(&watchdog);
        ok = st == SS_LOOP_STOPPED && c.ready && c.results == N_WORKERS;
        if (!ok)
            bench_set_error("the loop process did not answer within %d s "
                            "(ready: %s, replies: %d of %d)",
                            READY_TIMEOUT_S, c.ready ? "yes" : "no",
                            c.results, N_WORKERS);
    }
    if (ok) {
        sleep_ms(idle_ms);
        ok = ss_process_is_alive(proc) &&
             read_smaps(ss_process_pid(proc), &lp) == 0;
    }
    end_idle(sib);
    if (started) {
        ss_process_stop(proc);
        if (ss_process_join(proc, SS_SEC(5), &status) != 0 || status != 0) {
            if (ok)
                bench_set_error("the loop process did not stop cleanly "
                                "(status %d)", status);
            ok = false;
        }
    }
    for (int w = 0; w < N_WORKERS; w++)
        ss_object_destroy(&workers[w]);
    ss_object_destroy(&c.obj);
    ss_process_free(proc);
    ss_loop_free(main_loop);

    if (!ok)
        fprintf(stderr, "ss-bench memory: FAILED: %s\n", bench_error());
    if (json) {
        print_json("loop_process", &lp, idle_ms, cap, &pf, ok);
        print_json("plain_fork", &pf, idle_ms, cap, NULL, ok);
    } else if (ok) {
        print_table(&lp, &pf, idle_ms, cap);
    }
    return ok ? 0 : BENCH_EXIT_FAIL;
}

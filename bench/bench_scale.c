/*
 * bench/bench_scale.c - `ss-bench scale`: what set-up and dispatch cost as
 * a loop holds more objects. For each size N (10, 1,000 and 100,000 by
 * default) one loop holds N objects, each with a signal connected to a
 * slot of a receiver on the same loop; then, at that size:
 *
 *  - create: one more object (ss_object_init with an id), and declare its
 *    signal, averaged over a few hundred extra objects;
 *  - connect: connect one of them; disconnect: undo it;
 *  - destroy: destroy one of them;
 *  - dispatch: signals emitted by N different objects in turn, so that
 *    every message names another emitter than the one before (the
 *    dispatcher's one-entry cache always misses), handled by the loop;
 *    the slot checks the count.
 *
 * The target (issue 11): about the same cost at 10 and at 100,000 objects.
 * The figure each row is compared with is its own cost at the smallest
 * size, measured in the same run ("x smallest").
 */
#include "bench.h"

#include <signal_slot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXTRA 500 /* objects created, connected, destroyed per size */
#define DISPATCH_MSGS 20000

typedef struct scale_opts {
    size_t sizes[8];
    int n_sizes;
    bool json;
} scale_opts;

void bench_scale_usage(FILE *f)
{
    fprintf(f,
            "usage: ss-bench scale [--sizes N,N,...] [--json]\n"
            "\n"
            "Cost of creating, connecting, disconnecting and destroying an\n"
            "object, and of dispatching a signal whose emitter differs from\n"
            "the previous message's, on a loop that holds N objects (each\n"
            "with a connected signal), for each N (default 10,1000,100000).\n"
            "Each row also gives its cost relative to the smallest N.\n"
            "\n"
            "options:\n"
            "  --sizes L   comma list of object counts (at most 8, each\n"
            "              10..1000000)\n"
            "  --json      one JSON object per line per size\n"
            "  --help      this text\n");
}

static void on_s(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)args;
    (*(uint64_t *)ud)++;
}

typedef struct row {
    size_t n;
    double create_ns, connect_ns, disconnect_ns, destroy_ns, dispatch_ns;
} row;

/* Objects live in one array per run: ids "o<k>". */
static int setup(ss_loop *l, ss_object *objs, size_t from, size_t to,
                 ss_object *recv, uint64_t *count, bool connect)
{
    char id[32];
    for (size_t k = from; k < to; k++) {
        snprintf(id, sizeof id, "o%zu", k);
        int rc = ss_object_init(&objs[k], l, id);
        if (rc == 0)
            rc = ss_signal_add(&objs[k], "s", "x");
        if (rc == 0 && connect)
            rc = ss_connect(&objs[k], "s", recv, on_s, "x", count);
        if (rc != 0)
            return bench_ss_fail("set-up", rc);
    }
    return 0;
}

static int measure(size_t n, row *out)
{
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.queue_capacity = 8u << 20;
    ss_loop *l;
    int rc = ss_loop_new(&l, "scale", &o);
    if (rc != 0)
        return bench_ss_fail("ss_loop_new", rc);
    ss_object *objs = calloc(n + EXTRA, sizeof *objs);
    static ss_object recv;
    uint64_t count = 0;
    if (!objs) {
        ss_loop_free(l);
        bench_set_error("out of memory");
        return -1;
    }
    out->n = n;
    rc = ss_object_init(&recv, l, "recv");
    if (rc == 0)
        rc = setup(l, objs, 0, n, &recv, &count, true);
    uint64_t t0 = bench_now_ns();
    if (rc == 0)
        rc = setup(l, objs, n, n + EXTRA, &recv, &count, false);
    uint64_t t1 = bench_now_ns();
    for (size_t k = n; k < n + EXTRA && rc == 0; k++)
        rc = ss_connect(&objs[k], "s", &recv, on_s, "x", &count);
    uint64_t t2 = bench_now_ns();
    for (size_t k = n; k < n + EXTRA && rc == 0; k++)
        rc = ss_disconnect(&objs[k], "s", &recv, on_s, &count);
    uint64_t t3 = bench_now_ns();
    for (size_t k = n; k < n + EXTRA; k++)
        ss_object_destroy(&objs[k]);
    uint64_t t4 = bench_now_ns();
    out->create_ns = (double)(t1 - t0) / EXTRA;
    out->connect_ns = (double)(t2 - t1) / EXTRA;
    out->disconnect_ns = (double)(t3 - t2) / EXTRA;
    out->destroy_ns = (double)(t4 - t3) / EXTRA;

    /* Dispatch: emitters in turn, a stride through all N (the emission
     * encodes and puts; the loop takes batches and dispatches). */
    uint64_t handled = 0, emit_ns = 0, run_ns = 0;
    size_t k = 0;
    for (int batch = 0; rc == 0 && handled < DISPATCH_MSGS; batch++) {
        uint64_t a = bench_now_ns();
        for (int j = 0; j < 1000 && rc == 0; j++) {
            k = (k + 7919) % n;
            rc = ss_emit(&objs[k], "s", (int64_t)k);
        }
        uint64_t b = bench_now_ns();
        while (rc == 0 && ss_queue_size(ss_loop_queue(l)) > 0)
            rc = ss_loop_run_once(l, SS_NO_WAIT);
        uint64_t c = bench_now_ns();
        emit_ns += b - a;
        run_ns += c - b;
        handled += 1000;
    }
    if (rc == 0 && count != handled) {
        bench_set_error("dispatch: %llu signals handled of %llu",
                        (unsigned long long)count,
                        (unsigned long long)handled);
        rc = -1;
    }
    (void)emit_ns;
    out->dispatch_ns = (double)run_ns / (double)handled;
    for (size_t i = 0; i < n; i++)
        ss_object_destroy(&objs[i]);
    ss_object_destroy(&recv);
    ss_loop_free(l);
    free(objs);
    return rc;
}

static bool parse_sizes(const char *s, scale_opts *o)
{
    o->n_sizes = 0;
    while (*s) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || v < 10 || v > 1000000 || o->n_sizes == 8)
            return false;
        o->sizes[o->n_sizes++] = (size_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return false;
    }
    return o->n_sizes > 0;
}

int bench_scale_main(int argc, char **argv)
{
    scale_opts o = {{10, 1000, 100000}, 3, false};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            bench_scale_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if (bench_opt(argc, argv, &i, "--sizes", &v)) {
            if (!parse_sizes(v, &o)) {
                fprintf(stderr, "ss-bench scale: bad --sizes '%s'\n", v);
                return BENCH_EXIT_USAGE;
            }
        } else {
            bench_scale_usage(stderr);
            return BENCH_EXIT_USAGE;
        }
    }
    /* Quiet: nothing here should log; keep errors visible. */
    row rows[8];
    for (int s = 0; s < o.n_sizes; s++) {
        if (measure(o.sizes[s], &rows[s]) != 0) {
            fprintf(stderr, "ss-bench scale: %s\n", bench_error());
            return BENCH_EXIT_FAIL;
        }
    }
    if (!o.json) {
        printf("ss-bench scale: one loop holding N objects, each with a "
               "connected signal; costs in ns per operation\n"
               "(x smallest: the cost relative to the smallest N of this "
               "run; the target is about 1)\n\n");
        printf("%9s %9s %9s %11s %9s %9s   %s\n", "objects", "create",
               "connect", "disconnect", "destroy", "dispatch",
               "x smallest (create connect disconnect destroy dispatch)");
    }
    const row *r0 = &rows[0];
    for (int s = 0; s < o.n_sizes; s++) {
        const row *r = &rows[s];
        if (o.json) {
            printf("{\"bench\":\"scale\",\"objects\":%zu,\"create_ns\":%.1f,"
                   "\"connect_ns\":%.1f,\"disconnect_ns\":%.1f,"
                   "\"destroy_ns\":%.1f,\"dispatch_ns\":%.1f,"
                   "\"x_create\":%.2f,\"x_connect\":%.2f,"
                   "\"x_disconnect\":%.2f,\"x_destroy\":%.2f,"
                   "\"x_dispatch\":%.2f}\n",
                   r->n, r->create_ns, r->connect_ns, r->disconnect_ns,
                   r->destroy_ns, r->dispatch_ns, r->create_ns / r0->create_ns,
                   r->connect_ns / r0->connect_ns,
                   r->disconnect_ns / r0->disconnect_ns,
                   r->destroy_ns / r0->destroy_ns,
                   r->dispatch_ns / r0->dispatch_ns);
        } else {
            printf("%9zu %9.0f %9.0f %11.0f %9.0f %9.0f   %.2f %.2f %.2f "
                   "%.2f %.2f\n",
                   r->n, r->create_ns, r->connect_ns, r->disconnect_ns,
                   r->destroy_ns, r->dispatch_ns, r->create_ns / r0->create_ns,
                   r->connect_ns / r0->connect_ns,
                   r->disconnect_ns / r0->disconnect_ns,
                   r->destroy_ns / r0->destroy_ns,
                   r->dispatch_ns / r0->dispatch_ns);
        }
    }
    return 0;
}

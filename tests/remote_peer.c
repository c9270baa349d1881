/*
 * remote_peer.c - a program of its own (exec'd by test_remote, never
 * forked from it) that publishes a loop in a domain and talks to the test
 * across processes through the registry.
 *
 *   remote_peer <domain> receiver <n>
 *       publishes loop "rx" with object "sink" and its slot "on_data"
 *       ("xs"), which checks that values come as 0, 1, 2...; exits 0 once
 *       n have come in order, 3 if one came out of order.
 *   remote_peer <domain> subscriber <n>
 *       publishes loop "sub" with object "sink" and its slot "on_tick"
 *       ("x"), subscribed to nothing: the test subscribes it by name;
 *       exits 0 once n ticks came as 0, 1, 2..., 3 if one came out of
 *       order.
 *   remote_peer <domain> emitter
 *       publishes loop "ex" with object "src": signals "data" ("xs") and
 *       "tick" ("x"); slots "go" ("x": emit that many "data", numbered on
 *       from the last), "ticks" ("x": emit that many "tick") and "quit"
 *       (""); runs until "quit", then exits 0.
 *
 *   remote_peer <domain> attach <n>
 *       a spawned child: the test published loops "at_main" (object
 *       "src", signal "data" ("xs")) and "at_child" (objects "sink" and
 *       "back", signal "echo" ("x")), connected data to sink and echo to
 *       an object "home" on at_main, and emitted n/2 "data" before this
 *       started. This program rebuilds that graph on loops attached by
 *       name (ss_loop_attach()), adopts at_child and runs it: each data
 *       value (0, 1, 2... in order) is echoed back; exits 0 after n, 3 if
 *       one came out of order.
 *   remote_peer <domain> attachfd <n> <fd of at_main> <fd of at_child>
 *       the same with loops that are not published: attached by the
 *       descriptors of their queues, inherited across exec
 *       (ss_loop_attach_fd()).
 *
 * Prints "ready" on stdout once its loop is published and set up.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal_slot.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t g_next, g_want;
static int g_bad;

static void on_data(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)ud;
    int64_t x = -1;
    const char *s = NULL;
    if (ss_args_unpack(args, "xs", &x, &s) != 0 || x != g_next ||
        strcmp(s, "payload") != 0)
        g_bad++;
    g_next = x + 1;
    if (g_next == g_want)
        ss_loop_stop(ss_object_loop(receiver));
}

static void on_tick_in(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)ud;
    int64_t x = -1;
    if (ss_args_unpack(args, "x", &x) != 0 || x != g_next)
        g_bad++;
    g_next = x + 1;
    if (g_next == g_want)
        ss_loop_stop(ss_object_loop(receiver));
}

static ss_object g_src;
static int64_t g_sent;

/* Emit, retrying while the receiving queue is full (counted drops): the
 * test checks that what arrives is in order and complete. */
static void emit_retry(const char *signal, int64_t x)
{
    int rc;
    for (int tries = 0; tries < 1000000; tries++) {
        rc = strcmp(signal, "data") == 0
                 ? ss_emit(&g_src, signal, x, "payload")
                 : ss_emit(&g_src, signal, x);
        if (rc != SS_EAGAIN)
            return;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

static void on_go(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)ud;
    int64_t n = 0;
    if (ss_args_unpack(args, "x", &n) != 0)
        return;
    for (int64_t k = 0; k < n; k++)
        emit_retry("data", g_sent++);
}

static void on_ticks(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)ud;
    int64_t n = 0;
    if (ss_args_unpack(args, "x", &n) != 0)
        return;
    for (int64_t k = 0; k < n; k++)
        emit_retry("tick", k);
}

static void on_quit(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)args;
    (void)ud;
    ss_loop_stop(ss_object_loop(receiver));
}

/* ---- attach: the graph of a spawned child, rebuilt ---- */

static ss_object g_at_back;

static void at_on_data(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)ud;
    int64_t x = -1;
    const char *s = NULL;
    if (ss_args_unpack(args, "xs", &x, &s) != 0 || x != g_next)
        g_bad++;
    g_next = x + 1;
    ss_emit(&g_at_back, "echo", x);
    if (g_next == g_want)
        ss_loop_stop(ss_object_loop(receiver));
}

static void at_never(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)args;
    (void)ud;
    g_bad++; /* home lives in the test: never called here */
}

static int run_attached(int64_t want, int fdm, int fdc)
{
    static ss_object src, sink, home;
    ss_loop *m, *c;
    g_want = want;
    if ((fdm < 0 ? ss_loop_attach(&m, "at_main")
                 : ss_loop_attach_fd(&m, "at_main", fdm)) != 0 ||
        (fdc < 0 ? ss_loop_attach(&c, "at_child")
                 : ss_loop_attach_fd(&c, "at_child", fdc)) != 0 ||
        ss_object_init(&src, m, "src") != 0 ||
        ss_object_init(&home, m, "home") != 0 ||
        ss_object_init(&sink, c, "sink") != 0 ||
        ss_object_init(&g_at_back, c, "back") != 0 ||
        ss_signal_add(&src, "data", "xs") != 0 ||
        ss_signal_add(&g_at_back, "echo", "x") != 0 ||
        ss_connect(&src, "data", &sink, at_on_data, "xs", NULL) != 0 ||
        ss_connect(&g_at_back, "echo", &home, at_never, "x", NULL) != 0)
        return 1;
    /* Only now: this process runs at_child, its creator at_main. */
    if (ss_loop_adopt(c) != 0)
        return 1;
    printf("ready\n");
    fflush(stdout);
    int rc = ss_loop_run(c);
    return rc != SS_LOOP_STOPPED ? 1 : g_bad ? 3 : 0;
}

/* Publish loop name with object "sink" and its slot by name, say
 * "ready", and run until stopped: want values, checked by the slot. */
static int run_sink(const ss_loop_options *o, const char *name,
                    const char *slot_name, ss_slot_fn slot, const char *sig,
                    int64_t want)
{
    static ss_object sink;
    ss_loop *l;
    g_want = want;
    if (ss_loop_new(&l, name, o) != 0 ||
        ss_object_init(&sink, l, "sink") != 0 ||
        ss_slot_add(&sink, slot_name, slot, sig, NULL) != 0)
        return 1;
    printf("ready\n");
    fflush(stdout);
    int rc = ss_loop_run(l);
    ss_object_destroy(&sink);
    ss_loop_free(l);
    return rc != SS_LOOP_STOPPED ? 1 : g_bad ? 3 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || ss_domain_set(argv[1]) != 0)
        return 2;
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_loop *l;
    if (strcmp(argv[2], "receiver") == 0 && argc == 4)
        return run_sink(&o, "rx", "on_data", on_data, "xs", atoll(argv[3]));
    if (strcmp(argv[2], "attach") == 0 && argc == 4)
        return run_attached(atoll(argv[3]), -1, -1);
    if (strcmp(argv[2], "attachfd") == 0 && argc == 6)
        return run_attached(atoll(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (strcmp(argv[2], "subscriber") == 0 && argc == 4)
        return run_sink(&o, "sub", "on_tick", on_tick_in, "x",
                        atoll(argv[3]));
    if (strcmp(argv[2], "emitter") == 0) {
        if (ss_loop_new(&l, "ex", &o) != 0 ||
            ss_object_init(&g_src, l, "src") != 0 ||
            ss_signal_add(&g_src, "data", "xs") != 0 ||
            ss_signal_add(&g_src, "tick", "x") != 0 ||
            ss_slot_add(&g_src, "go", on_go, "x", NULL) != 0 ||
            ss_slot_add(&g_src, "ticks", on_ticks, "x", NULL) != 0 ||
            ss_slot_add(&g_src, "quit", on_quit, "", NULL) != 0)
            return 1;
        printf("ready\n");
        fflush(stdout);
        int rc = ss_loop_run(l);
        if (rc != SS_LOOP_STOPPED)
            fprintf(stderr, "remote_peer: ss_loop_run: %d\n", rc);
        ss_object_destroy(&g_src);
        ss_loop_free(l);
        return rc != SS_LOOP_STOPPED ? 1 : 0;
    }
    return 2;
}

/*
 * bridge_app.c - the applications of test_bridge.sh, one per simulated
 * host (network namespace), each in its host's registry domain.
 *
 *   bridge_app sink <loop> <n>
 *       publishes <loop> with object "obj": slot "on_data" ("xs") checks
 *       that values come as 0, 1, 2... with the text "v<k>", and answers
 *       each with the signal "echo" ("x") to whoever is connected; exits 0
 *       once n came in order (and a second later: the echoes leave), 3 on
 *       one out of order, 4 if its loop was stopped before.
 *   bridge_app source <loop> <remote loop> <n>
 *       publishes <loop> with object "src" (signal "data", "xs"), waits for
 *       <remote loop> (a mirror "host/loop" of the bridge) to be
 *       published, connects "data" to its object "obj"'s slot "on_data"
 *       and its "echo" to a slot here, emits n values (again after a full
 *       queue), and exits 0 once the n echoes came back in order, 3 on one
 *       out of order, 5 if the remote loop ended first.
 *   bridge_app flood <loop> <remote loop>
 *       as source, but emits without end (dropping when the queue is
 *       full), and exits 0 when the remote loop's handle reports that it
 *       ended, printing how many it emitted and how many were dropped.
 *   bridge_app subsink <loop> <n>
 *       publishes <loop>, whose object "obj" subscribes to the signal
 *       "news" ("x") broadcast on it; exits 0 once n came as 0, 1, 2...,
 *       3 on one out of order.
 *   bridge_app subsink <loop> <n> byname
 *       the same, but subscribed by nobody here: its object has the slot
 *       "on_news" by name, which the broadcaster subscribes from its host.
 *   bridge_app bcast <loop> <remote loop> <n> [subscribe]
 *       broadcasts its signal "news" ("x") on <remote loop> (a mirror)
 *       and emits 0..n-1 (again after a full queue); exits 0. With
 *       "subscribe", it first subscribes the remote object "obj" to "news"
 *       with its slot "on_news", by name (ss_subscribe_slot()).
 *   bridge_app tally <loop>
 *       publishes <loop> with object "obj": slot "on_data" ("xs") takes
 *       values that must grow (gaps allowed: losses are counted
 *       elsewhere; none may come twice or out of order), slot "on_quit"
 *       ("") ends it; prints how many came; exits 0, 3 on one out of
 *       order.
 *   bridge_app steady <loop> <remote loop> <seconds>
 *       emits 0, 1, 2... to <remote loop>'s "on_data" at about 20,000 a
 *       second for that long, never waiting; when the remote loop ends
 *       (its host cut off), it stops emitting, waits for the loop to be
 *       mirrored again and connects again ("reconnected"); at the end it
 *       emits "quit" and prints how many it emitted, how many of those
 *       had a receiver (the others went between the end of the remote
 *       loop and its "ended" notice: to nobody, as in Qt) and how many of
 *       those were refused (counted drops): exits 0.
 *   bridge_app watch <remote loop>
 *       waits for <remote loop> to be published, prints "watching", and
 *       exits 0 when its handle reports that the loop ended (its host cut
 *       off, or the loop gone), printing "ended".
 *
 * Exit code 6: set-up failed (printed).
 */
#define _POSIX_C_SOURCE 200809L
#include <signal_slot.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t g_next, g_want, g_came;
static int g_bad, g_ended;
static ss_timer g_linger;

static void on_linger(ss_object *o, const ss_args *args, void *ud)
{
    (void)args;
    (void)ud;
    ss_loop_stop(ss_object_loop(o));
}

static void on_data(ss_object *obj, const ss_args *args, void *ud)
{
    (void)ud;
    int64_t x = -1;
    const char *s = NULL;
    char want[32];
    snprintf(want, sizeof want, "v%lld", (long long)g_next);
    if (ss_args_unpack(args, "xs", &x, &s) != 0 || x != g_next ||
        strcmp(s, want) != 0)
        g_bad++;
    g_next = x + 1;
    /* A full queue toward the other host drops (counted): this test wants
     * every echo, so it waits for room (a slot may; emitting never does). */
    int rc;
    while ((rc = ss_emit(obj, "echo", x)) == SS_EAGAIN || rc == SS_EBUSY) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    if (g_next == g_want)
        ss_timer_start(&g_linger);
}

/* The slot of "news" and of "echo" ("x"): 0, 1, 2... in order, until
 * g_want came. */
static void on_next(ss_object *obj, const ss_args *args, void *ud)
{
    (void)ud;
    int64_t x = -1;
    if (ss_args_unpack(args, "x", &x) != 0 || x != g_next)
        g_bad++;
    g_next = x + 1;
    if (g_next == g_want)
        ss_loop_stop(ss_object_loop(obj));
}

static void on_tally(ss_object *obj, const ss_args *args, void *ud)
{
    (void)obj;
    (void)ud;
    int64_t x = -1;
    const char *s = NULL;
    if (ss_args_unpack(args, "xs", &x, &s) != 0 || x < g_next)
        g_bad++;
    else
        g_next = x + 1;
    g_came++;
}

static void on_quit(ss_object *obj, const ss_args *args, void *ud)
{
    (void)args;
    (void)ud;
    ss_loop_stop(ss_object_loop(obj));
}

static void on_ended(ss_object *obj, const ss_args *args, void *ud)
{
    (void)args;
    (void)ud;
    g_ended = 1;
    ss_loop_stop(ss_object_loop(obj));
}

static ss_loop *publish(const char *name)
{
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_loop *l;
    int rc = ss_loop_new(&l, name, &o);
    if (rc != 0) {
        fprintf(stderr, "bridge_app: loop %s: %s\n", name, ss_strerror(rc));
        exit(6);
    }
    return l;
}

#define CHECK(call)                                                          \
    do {                                                                     \
        int rc_ = (call);                                                    \
        if (rc_ != 0) {                                                      \
            fprintf(stderr, "bridge_app: %s: %s\n", #call, ss_strerror(rc_)); \
            exit(6);                                                         \
        }                                                                    \
    } while (0)

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "sink") == 0) {
        g_want = atoll(argv[3]);
        ss_loop *l = publish(argv[2]);
        static ss_object obj;
        CHECK(ss_object_init(&obj, l, "obj"));
        CHECK(ss_signal_add(&obj, "echo", "x"));
        CHECK(ss_slot_add(&obj, "on_data", on_data, "xs", NULL));
        CHECK(ss_timer_init(&g_linger, l, SS_SEC(1), true, "linger"));
        ss_timer_stop(&g_linger);
        CHECK(ss_connect(&g_linger.object, "timeout", &obj, on_linger, "",
                         NULL));
        printf("sink ready\n");
        fflush(stdout);
        int rc = ss_loop_run(l);
        printf("sink: %lld received, %d out of order\n", (long long)g_next,
               g_bad);
        return g_bad ? 3 : rc == SS_LOOP_STOPPED && g_next == g_want ? 0 : 4;
    }
    if (argc == 5 && strcmp(argv[1], "source") == 0) {
        g_want = atoll(argv[4]);
        ss_loop *l = publish(argv[2]);
        static ss_object src;
        CHECK(ss_object_init(&src, l, "src"));
        CHECK(ss_signal_add(&src, "data", "xs"));
        ss_loop *remote;
        CHECK(ss_loop_open(&remote, argv[3], SS_SEC(30)));
        ss_object *robj;
        CHECK(ss_object_open(&robj, remote, "obj"));
        CHECK(ss_connect(ss_loop_object(remote), "ended", &src, on_ended,
                         "ii", NULL));
        CHECK(ss_connect(robj, "echo", &src, on_next, "x", NULL));
        CHECK(ss_connect_slot(&src, "data", robj, "on_data"));
        printf("source connected\n");
        fflush(stdout);
        for (int64_t k = 0; k < g_want; k++) {
            char text[32];
            snprintf(text, sizeof text, "v%lld", (long long)k);
            int rc;
            while ((rc = ss_emit(&src, "data", k, text)) == SS_EAGAIN ||
                   rc == SS_EBUSY) {
                /* Full: let the echoes in, then again (none is lost). */
                ss_loop_run_once(l, SS_MSEC(1));
            }
            if (rc != 0) {
                fprintf(stderr, "bridge_app: emit %lld: %s\n", (long long)k,
                        ss_strerror(rc));
                return 6;
            }
        }
        int rc = ss_loop_run(l);
        printf("source: %lld echoes, %d out of order%s\n", (long long)g_next,
               g_bad, g_ended ? ", the remote loop ended" : "");
        (void)rc;
        return g_bad ? 3 : g_ended && g_next < g_want ? 5 : 0;
    }
    if (argc == 4 && strcmp(argv[1], "flood") == 0) {
        ss_loop *l = publish(argv[2]);
        static ss_object src;
        CHECK(ss_object_init(&src, l, "src"));
        CHECK(ss_signal_add(&src, "data", "xs"));
        ss_loop *remote;
        CHECK(ss_loop_open(&remote, argv[3], SS_SEC(30)));
        ss_object *robj;
        CHECK(ss_object_open(&robj, remote, "obj"));
        CHECK(ss_connect(ss_loop_object(remote), "ended", &src, on_ended,
                         "ii", NULL));
        CHECK(ss_connect_slot(&src, "data", robj, "on_data"));
        printf("flooding\n");
        fflush(stdout);
        long long sent = 0, dropped = 0;
        while (!g_ended) {
            for (int k = 0; k < 100; k++) {
                int rc = ss_emit(&src, "data", (int64_t)sent, "flood");
                if (rc == 0)
                    sent++;
                else
                    dropped++;
            }
            ss_loop_run_once(l, SS_NO_WAIT); /* ("ended" comes here) */
        }
        printf("flood: %lld sent, %lld dropped, the remote loop ended\n",
               sent, dropped);
        return 0;
    }
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "subsink") == 0) {
        g_want = atoll(argv[3]);
        ss_loop *l = publish(argv[2]);
        static ss_object obj;
        CHECK(ss_object_init(&obj, l, "obj"));
        if (argc == 5)
            CHECK(ss_slot_add(&obj, "on_news", on_next, "x", NULL));
        else
            CHECK(ss_subscribe(&obj, "news", on_next, "x", NULL));
        printf("subscribed\n");
        fflush(stdout);
        ss_loop_run(l);
        printf("subsink: %lld received, %d out of order\n",
               (long long)g_next, g_bad);
        return g_bad ? 3 : 0;
    }
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "bcast") == 0) {
        int64_t n = atoll(argv[4]);
        ss_loop *l = publish(argv[2]);
        static ss_object src;
        CHECK(ss_object_init(&src, l, "src"));
        CHECK(ss_signal_add(&src, "news", "x"));
        ss_loop *remote;
        CHECK(ss_loop_open(&remote, argv[3], SS_SEC(30)));
        if (argc == 6) {
            ss_object *robj;
            CHECK(ss_object_open(&robj, remote, "obj"));
            CHECK(ss_subscribe_slot(robj, "news", "on_news"));
        }
        CHECK(ss_signal_broadcast_on(&src, "news", remote));
        for (int64_t k = 0; k < n; k++) {
            int rc;
            while ((rc = ss_emit(&src, "news", k)) == SS_EAGAIN ||
                   rc == SS_EBUSY)
                ss_loop_run_once(l, SS_MSEC(1));
            if (rc != 0) {
                fprintf(stderr, "bridge_app: emit: %s\n", ss_strerror(rc));
                return 6;
            }
        }
        printf("bcast: %lld broadcast\n", (long long)n);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "tally") == 0) {
        ss_loop *l = publish(argv[2]);
        static ss_object obj;
        CHECK(ss_object_init(&obj, l, "obj"));
        CHECK(ss_slot_add(&obj, "on_data", on_tally, "xs", NULL));
        CHECK(ss_slot_add(&obj, "on_quit", on_quit, "", NULL));
        printf("tally ready\n");
        fflush(stdout);
        ss_loop_run(l);
        printf("tally: %lld received, %d out of order or twice\n",
               (long long)g_came, g_bad);
        return g_bad ? 3 : 0;
    }
    if (argc == 5 && strcmp(argv[1], "steady") == 0) {
        ss_loop *l = publish(argv[2]);
        static ss_object src;
        CHECK(ss_object_init(&src, l, "src"));
        CHECK(ss_signal_add(&src, "data", "xs"));
        CHECK(ss_signal_add(&src, "quit", ""));
        ss_loop *remote = NULL;
        ss_object *robj = NULL;
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        double secs = atof(argv[4]), el = 0;
        long long sent = 0, dropped = 0, reconnections = -1;
        while (el < secs) {
            if (!remote || g_ended) {
                /* (Re)connect: the old route goes first, so that nothing
                 * is emitted to a loop that ended. */
                if (remote) {
                    ss_disconnect_slot(&src, "data", robj, "on_data");
                    ss_object_free(robj);
                    ss_loop_free(remote);
                    remote = NULL;
                    printf("ended\n");
                    fflush(stdout);
                }
                g_ended = 0;
                if (ss_loop_open(&remote, argv[3], SS_MSEC(100)) != 0) {
                    remote = NULL;
                } else {
                    CHECK(ss_object_open(&robj, remote, "obj"));
                    CHECK(ss_connect(ss_loop_object(remote), "ended", &src,
                                     on_ended, "ii", NULL));
                    CHECK(ss_connect_slot(&src, "data", robj, "on_data"));
                    if (++reconnections)
                        printf("reconnected\n");
                    else
                        printf("steady\n");
                    fflush(stdout);
                }
            } else {
                for (int k = 0; k < 20; k++) {
                    char text[32];
                    snprintf(text, sizeof text, "v%lld", sent);
                    if (ss_emit(&src, "data", (int64_t)sent, text) != 0)
                        dropped++;
                    sent++;
                }
                ss_loop_run_once(l, SS_NO_WAIT); /* ("ended" comes here) */
                struct timespec ms = {0, 1000000};
                nanosleep(&ms, NULL);
            }
            clock_gettime(CLOCK_MONOTONIC, &now);
            el = (double)(now.tv_sec - t0.tv_sec) +
                 (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        }
        if (!remote) {
            fprintf(stderr, "bridge_app: %s never came back\n", argv[3]);
            return 6;
        }
        CHECK(ss_connect_slot(&src, "quit", robj, "on_quit"));
        int rc;
        while ((rc = ss_emit(&src, "quit")) == SS_EAGAIN || rc == SS_EBUSY)
            ss_loop_run_once(l, SS_MSEC(1));
        /* Emits between the end of the remote loop (its connection goes
         * then) and the "ended" notice went to nobody, as in Qt: the
         * registry's count of what this loop emitted to somebody tells
         * them apart (less the "quit"). */
        static ss_loop_info info[1024];
        size_t n = 0;
        long long to_somebody = -1;
        CHECK(ss_registry_list(info, 1024, &n));
        for (size_t i = 0; i < n && i < 1024; i++)
            if (strcmp(info[i].name, argv[2]) == 0)
                to_somebody = (long long)info[i].signals_out - 1;
        printf("steady: %lld emitted, %lld to somebody, %lld dropped, %lld "
               "reconnections\n", sent, to_somebody, dropped, reconnections);
        return rc == 0 && to_somebody >= 0 ? 0 : 6;
    }
    if (argc == 3 && strcmp(argv[1], "watch") == 0) {
        ss_loop *l;
        CHECK(ss_loop_new(&l, "watch", NULL));
        static ss_object w;
        CHECK(ss_object_init(&w, l, "w"));
        ss_loop *remote;
        CHECK(ss_loop_open(&remote, argv[2], SS_SEC(30)));
        CHECK(ss_connect(ss_loop_object(remote), "ended", &w, on_ended, "ii",
                         NULL));
        printf("watching\n");
        fflush(stdout);
        ss_loop_run(l);
        printf("ended\n");
        fflush(stdout);
        return g_ended ? 0 : 4;
    }
    fprintf(stderr, "usage: bridge_app sink <loop> <n> | source <loop> "
                    "<remote loop> <n> | watch <remote loop>\n");
    return 2;
}

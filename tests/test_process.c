/*
 * test_process.c - loops in processes of their own: signals both ways
 * between the main loop and a forked loop process, signals emitted before
 * the start, the init callback, the connect rules across processes, stop,
 * kill, join and reaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <signal_slot.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

typedef struct peer {
    ss_object obj;
    int64_t next;
    int64_t want;
    int bad;
    int64_t child_pid;
} peer;

static void on_ping(ss_object *receiver, const ss_args *args, void *ud)
{
    int64_t seq;
    const char *text;
    (void)ud;
    /* Runs in the child: answer with the same number and our pid. */
    if (ss_args_unpack(args, "xs", &seq, &text) == 0 &&
        strcmp(text, "ping") == 0)
        ss_emit(receiver, "pong", seq, (int64_t)getpid());
}

static void on_pong(ss_object *receiver, const ss_args *args, void *ud)
{
    peer *p = (peer *)receiver;
    int64_t seq, pid;
    (void)ud;
    if (ss_args_unpack(args, "xx", &seq, &pid) != 0 || seq != p->next)
        p->bad++;
    p->child_pid = pid;
    p->next = seq + 1;
    if (p->next == p->want)
        ss_loop_stop(ss_object_loop(receiver));
}

static void on_hello(ss_object *receiver, const ss_args *args, void *ud)
{
    int64_t pid;
    (void)receiver;
    if (ss_args_unpack(args, "x", &pid) == 0)
        *(int64_t *)ud = pid;
}

static void child_init(ss_process *proc, void *user_data)
{
    /* Runs in the child before its loop: say hello from there. */
    ss_object *b = user_data;
    (void)proc;
    ss_emit(b, "hello", (int64_t)getpid());
}

static void test_signals_both_ways(void **state)
{
    (void)state;
    enum { EARLY = 3, N = 2000 };
    ss_loop *main_loop;
    ss_process *proc;
    assert_int_equal(ss_loop_new(&main_loop, "pmain", NULL), 0);
    assert_int_equal(ss_process_new(&proc, "pchild", NULL), 0);
    peer a = {.want = N};
    ss_object b;
    int64_t hello_pid = 0;
    assert_int_equal(ss_object_init(&a.obj, main_loop, "a"), 0);
    assert_int_equal(ss_object_init(&b, ss_process_loop(proc), "b"), 0);
    assert_int_equal(ss_signal_add(&a.obj, "ping", "xs"), 0);
    assert_int_equal(ss_signal_add(&b, "pong", "xx"), 0);
    assert_int_equal(ss_signal_add(&b, "hello", "x"), 0);
    assert_int_equal(ss_connect(&a.obj, "ping", &b, on_ping, "xs", NULL), 0);
    assert_int_equal(ss_connect(&b, "pong", &a.obj, on_pong, "xx", NULL), 0);
    assert_int_equal(ss_connect(&b, "hello", &a.obj, on_hello, "x",
                                &hello_pid),
                     0);
    /* Emitted before the start: held in the child's queue. */
    for (int64_t k = 0; k < EARLY; k++)
        assert_int_equal(ss_emit(&a.obj, "ping", k, "ping"), 0);
    assert_int_equal(ss_process_pid(proc), 0);
    assert_int_equal(ss_process_start(proc, child_init, &b), 0);
    assert_true(ss_process_pid(proc) > 0);
    assert_true(ss_process_is_alive(proc));
    assert_int_equal(ss_process_start(proc, NULL, NULL), SS_ESTATE);
    /* After the start, a connection to its objects cannot be made. */
    assert_int_equal(ss_connect(&a.obj, "ping", &b, on_hello, "xs", NULL),
                     SS_ENOTSUP);
    /* The rest, one at a time, as replies come (on_pong keeps order). */
    for (int64_t k = EARLY; k < N; k++) {
        int rc;
        while ((rc = ss_emit(&a.obj, "ping", k, "ping")) == SS_EAGAIN)
            ss_loop_run_once(main_loop, SS_NO_WAIT);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(ss_loop_run(main_loop), SS_LOOP_STOPPED);
    assert_int_equal(a.bad, 0);
    assert_int_equal(a.next, N);
    assert_int_equal(a.child_pid, ss_process_pid(proc));
    assert_int_equal(hello_pid, ss_process_pid(proc));
    assert_true(a.child_pid != getpid());

    assert_int_equal(ss_process_stop(proc), 0);
    int status = -1;
    assert_int_equal(ss_process_join(proc, SS_SEC(10), &status), 0);
    assert_int_equal(status, 0);
    assert_false(ss_process_is_alive(proc));
    /* Joining again gives the same status at once. */
    status = -1;
    assert_int_equal(ss_process_join(proc, 0, &status), 0);
    assert_int_equal(status, 0);
    ss_object_destroy(&a.obj);
    ss_object_destroy(&b);
    ss_process_free(proc);
    ss_loop_free(main_loop);
}

static void test_pointer_stays_in_process(void **state)
{
    (void)state;
    ss_loop *main_loop;
    ss_process *proc;
    assert_int_equal(ss_loop_new(&main_loop, "pmain2", NULL), 0);
    assert_int_equal(ss_process_new(&proc, "pchild2", NULL), 0);
    ss_object a, a2, b;
    assert_int_equal(ss_object_init(&a, main_loop, "a"), 0);
    assert_int_equal(ss_object_init(&a2, main_loop, "a2"), 0);
    assert_int_equal(ss_object_init(&b, ss_process_loop(proc), "b"), 0);
    assert_int_equal(ss_signal_add(&a, "ptr", "p"), 0);
    assert_int_equal(ss_signal_add(&a, "arr", "ap"), 0);
    /* Within the process a pointer is fine; to another process it is not. */
    assert_int_equal(ss_connect(&a, "ptr", &a2, on_hello, "p", NULL), 0);
    assert_int_equal(ss_connect(&a, "ptr", &b, on_hello, "p", NULL),
                     SS_ENOTSUP);
    assert_int_equal(ss_connect(&a, "arr", &b, on_hello, "ap", NULL),
                     SS_ENOTSUP);
    /* Nor may it be broadcast on a loop that will run elsewhere. */
    assert_int_equal(ss_signal_broadcast_on(&a, "ptr", main_loop), 0);
    assert_int_equal(ss_signal_broadcast_on(&a, "ptr", ss_process_loop(proc)),
                     SS_ENOTSUP);

    /* Between two loop processes, neither started: two processes too (both
     * loops say pid 0; that used to pass for "the same process"). Within
     * one of them, a pointer is fine. */
    ss_process *proc2;
    assert_int_equal(ss_process_new(&proc2, "pchild2b", NULL), 0);
    ss_object c, b2;
    assert_int_equal(ss_object_init(&c, ss_process_loop(proc2), "c"), 0);
    assert_int_equal(ss_object_init(&b2, ss_process_loop(proc), "b2"), 0);
    assert_int_equal(ss_signal_add(&b, "ptr", "p"), 0);
    assert_int_equal(ss_connect(&b, "ptr", &c, on_hello, "p", NULL),
                     SS_ENOTSUP);
    assert_int_equal(ss_connect(&b, "ptr", &b2, on_hello, "p", NULL), 0);
    assert_int_equal(ss_connect(&b, "ptr", &b, on_hello, "p", NULL), 0);
    assert_int_equal(ss_signal_broadcast_on(&b, "ptr",
                                            ss_process_loop(proc2)),
                     SS_ENOTSUP);
    assert_int_equal(
        ss_signal_broadcast_on(&b, "ptr", ss_process_loop(proc)), 0);
    ss_object_destroy(&c);
    ss_object_destroy(&b2);
    ss_process_free(proc2);

    ss_object_destroy(&a);
    ss_object_destroy(&a2);
    ss_object_destroy(&b);
    ss_process_free(proc); /* never started */
    ss_loop_free(main_loop);
}

static void test_kill_and_reap(void **state)
{
    (void)state;
    ss_process *proc;
    assert_int_equal(ss_process_new(&proc, "pkill", NULL), 0);
    assert_int_equal(ss_process_join(proc, 0, NULL), SS_ESTATE);
    assert_int_equal(ss_process_start(proc, NULL, NULL), 0);
    pid_t pid = ss_process_pid(proc);
    /* Still running: a short join times out and does not reap. */
    assert_int_equal(ss_process_join(proc, SS_MSEC(20), NULL), SS_ETIMEDOUT);
    assert_true(ss_process_is_alive(proc));
    assert_int_equal(ss_process_kill(proc, SIGKILL), 0);
    int status = -1;
    assert_int_equal(ss_process_join(proc, SS_SEC(10), &status), 0);
    assert_int_equal(status, 128 + SIGKILL);
    assert_false(ss_process_is_alive(proc));
    ss_process_free(proc);
    /* Reaped: nothing left to wait for. */
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);

    /* Freeing a running process kills and reaps it. */
    assert_int_equal(ss_process_new(&proc, "pfree", NULL), 0);
    assert_int_equal(ss_process_start(proc, NULL, NULL), 0);
    pid = ss_process_pid(proc);
    ss_process_free(proc);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* ---- join with timeouts beyond the clock's range ---- */

typedef struct join_arg {
    ss_process *proc;
    int64_t timeout;
    int rc, status;
    _Atomic int done;
} join_arg;

static void *join_thread(void *arg)
{
    join_arg *j = arg;
    j->rc = ss_process_join(j->proc, j->timeout, &j->status);
    atomic_store(&j->done, 1);
    return NULL;
}

/* In a child of the test, so that a join that never returns shows as a
 * timeout of that child instead of hanging the test: a join with a huge
 * timeout, started while the loop process runs, returns its status once
 * it stops (INT64_MAX used to overflow the deadline: the timed wait failed
 * at once without releasing the mutex, and join spun holding it). */
static int join_huge_child(void *arg)
{
    int64_t timeout = *(int64_t *)arg;
    ss_process *proc;
    if (ss_process_new(&proc, "phuge", NULL) != 0 ||
        ss_process_start(proc, NULL, NULL) != 0)
        return 10;
    join_arg j = {.proc = proc, .timeout = timeout, .rc = -100};
    pthread_t th;
    if (pthread_create(&th, NULL, join_thread, &j) != 0)
        return 11;
    /* Let the join start waiting (not required for the check: it must
     * work either way), then stop the child through its loop. */
    tu_sleep_us(20000);
    if (atomic_load(&j.done))
        return 12; /* returned while the child still ran */
    if (ss_process_stop(proc) != 0)
        return 13;
    pthread_join(th, NULL);
    if (j.rc != 0 || j.status != 0)
        return 14;
    /* Joined already: the same status at once. */
    int status = -1;
    if (ss_process_join(proc, timeout, &status) != 0 || status != 0)
        return 15;
    ss_process_free(proc);
    return 0;
}

static void test_join_huge_timeout(void **state)
{
    (void)state;
    static int64_t timeouts[] = {INT64_MAX, INT64_MAX - 1, INT64_MAX / 2,
                                 SS_SEC(3600)};
    for (size_t k = 0; k < sizeof timeouts / sizeof timeouts[0]; k++) {
        pid_t pid = tu_fork(join_huge_child, &timeouts[k]);
        assert_true(pid > 0);
        int rc = tu_wait(pid, 20000);
        if (rc != 0)
            fail_msg("join with timeout %lld: child ended with %d (1000: "
                     "timed out)",
                     (long long)timeouts[k], rc);
    }
}

/* ---- what is queued behind a loop process's stop ---- */

static void on_count_shared(ss_object *receiver, const ss_args *args,
                            void *ud)
{
    (void)receiver;
    int32_t v = -1;
    int *seen = ud; /* shared memory: [0] count, [1] out of order */
    if (ss_args_unpack(args, "i", &v) != 0 || v != seen[0])
        seen[1]++;
    seen[0]++;
}

/* A loop process handles what was queued before its stop and exits; what
 * was queued behind the stop is never handled, and is counted as dropped
 * in the parent, signal by signal (it used to vanish uncounted, or in part
 * be handled). */
static void test_stop_leaves_rest_counted(void **state)
{
    (void)state;
    enum { BEFORE = 300, AFTER = 200 };
    ss_loop *main_loop;
    ss_process *proc;
    assert_int_equal(ss_loop_new(&main_loop, "rmain", NULL), 0);
    assert_int_equal(ss_process_new(&proc, "rchild", NULL), 0);
    int *seen = tu_shared_alloc(2 * sizeof *seen);
    ss_object a, b;
    assert_int_equal(ss_object_init(&a, main_loop, "a"), 0);
    assert_int_equal(ss_object_init(&b, ss_process_loop(proc), "b"), 0);
    assert_int_equal(ss_signal_add(&a, "n", "i"), 0);
    assert_int_equal(ss_connect(&a, "n", &b, on_count_shared, "i", seen), 0);
    int32_t k = 0;
    for (; k < BEFORE; k++)
        assert_int_equal(ss_emit(&a, "n", k), 0);
    assert_int_equal(ss_process_stop(proc), 0);
    /* Behind the stop: singles, one batch of 50 (one message, 50 signals),
     * another stop (no signal). */
    for (; k < BEFORE + AFTER - 50; k++)
        assert_int_equal(ss_emit(&a, "n", k), 0);
    unsigned char bufs[50][8];
    ss_msg batch[50];
    for (int j = 0; j < 50; j++, k++) {
        ss_writer w;
        ss_writer_init(&w, bufs[j], sizeof bufs[j]);
        assert_int_equal(ss_pack(&w, "i", k), 0);
        assert_int_equal(ss_writer_data(&w, &batch[j].data, &batch[j].len),
                         0);
    }
    assert_int_equal(ss_emit_many(&a, "n", batch, 50), 0);
    assert_int_equal(ss_process_stop(proc), 0);
    assert_int_equal(ss_process_start(proc, NULL, NULL), 0);
    int status = -1;
    assert_int_equal(ss_process_join(proc, SS_SEC(20), &status), 0);
    assert_int_equal(status, 0);
    assert_int_equal(seen[0], BEFORE);
    assert_int_equal(seen[1], 0);
    assert_int_equal(ss_loop_dropped(ss_process_loop(proc)), AFTER);
    ss_object_destroy(&a);
    ss_object_destroy(&b);
    ss_process_free(proc);
    ss_loop_free(main_loop);
    tu_shared_free(seen, 2 * sizeof *seen);
}

/* ---- death and its "exited" signal ---- */

typedef struct watcher {
    ss_object obj;
    int exits, code, sig;
    char who[SS_NAME_MAX + 1];
} watcher;

static void on_exited(ss_object *receiver, const ss_args *args, void *ud)
{
    watcher *w = (watcher *)receiver;
    const char *obj = NULL;
    (void)ud;
    assert_int_equal(ss_args_unpack(args, "ii", &w->code, &w->sig), 0);
    ss_args_sender(args, NULL, &obj, NULL);
    snprintf(w->who, sizeof w->who, "%s", obj ? obj : "?");
    w->exits++;
    ss_loop_stop(ss_object_loop(receiver));
}

static void on_nothing(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver, (void)args, (void)ud;
}

/* Run main_loop until on_exited stops it; returns the run's result. */
static int run_until_exited(ss_loop *main_loop)
{
    return ss_loop_run(main_loop);
}

static void test_exited_signal(void **state)
{
    (void)state;
    ss_loop *main_loop;
    ss_process *proc;
    assert_int_equal(ss_loop_new(&main_loop, "emain", NULL), 0);
    assert_int_equal(ss_process_new(&proc, "victim", NULL), 0);
    assert_null(ss_process_object(NULL));
    assert_ptr_equal(ss_process_object(proc),
                     ss_loop_object(ss_process_loop(proc)));
    watcher w = {.exits = 0};
    ss_object b;
    assert_int_equal(ss_object_init(&w.obj, main_loop, "w"), 0);
    assert_int_equal(ss_object_init(&b, ss_process_loop(proc), "b"), 0);
    assert_int_equal(ss_signal_add(&w.obj, "feed", "x"), 0);
    assert_int_equal(ss_connect(&w.obj, "feed", &b, on_nothing, "x", NULL),
                     0);
    /* A wrong slot signature is still refused. */
    assert_int_equal(ss_connect(ss_process_object(proc), "exited", &w.obj,
                                on_exited, "i", NULL),
                     SS_ESIGNATURE);
    assert_int_equal(ss_process_start(proc, NULL, NULL), 0);
    /* "exited" is emitted in this process: connecting after the start is
     * allowed, unlike a connection to the child's objects. */
    assert_int_equal(ss_connect(ss_process_object(proc), "exited", &w.obj,
                                on_exited, "ii", NULL),
                     0);
    assert_int_equal(ss_connect(&w.obj, "feed", &b, on_ping, "x", NULL),
                     SS_ENOTSUP);
    /* Broadcasting on it or subscribing its objects: not supported either
     * (the child would never know). */
    assert_int_equal(ss_signal_broadcast_on(&w.obj, "feed",
                                            ss_process_loop(proc)),
                     SS_ENOTSUP);
    assert_int_equal(ss_subscribe(&b, "feed", on_nothing, "x", NULL),
                     SS_ENOTSUP);
    int status;
    assert_int_equal(ss_process_exit_status(proc, &status), SS_ESTATE);
    assert_int_equal(ss_process_kill(proc, SIGKILL), 0);
    assert_int_equal(run_until_exited(main_loop), SS_LOOP_STOPPED);
    assert_int_equal(w.exits, 1);
    assert_int_equal(w.code, -1);
    assert_int_equal(w.sig, SIGKILL);
    assert_string_equal(w.who, "victim");
    assert_int_equal(ss_process_exit_status(proc, &status), 0);
    assert_int_equal(status, 128 + SIGKILL);
    assert_false(ss_process_is_alive(proc));
    assert_int_equal(ss_process_kill(proc, SIGKILL), SS_ESTATE);

    /* Emitting to the dead process: never blocks, every one is a drop,
     * counted for the loop and for the signal, and SS_ECLOSED says why. */
    uint64_t before = ss_loop_dropped(ss_process_loop(proc));
    for (int64_t k = 0; k < 1000; k++)
        assert_int_equal(ss_emit(&w.obj, "feed", k), SS_ECLOSED);
    assert_int_equal(ss_loop_dropped(ss_process_loop(proc)) - before, 1000);
    assert_true(ss_signal_dropped(&w.obj, "feed") >= 1000);
    assert_int_equal(ss_process_stop(proc), SS_ESTATE);

    ss_object_destroy(&w.obj);
    ss_object_destroy(&b);
    ss_process_free(proc);
    ss_loop_free(main_loop);
}

/* The parent learns of a child's end even when the loop that listens has
 * a queue full of data (process-end notices are control traffic: data
 * leaves room for them). It used to be dropped like data. */
static void test_exited_into_full_queue(void **state)
{
    (void)state;
    ss_loop_options small;
    ss_loop_options_init(&small);
    small.queue_capacity = 64 * 1024;
    ss_loop *main_loop;
    ss_process *proc;
    assert_int_equal(ss_loop_new(&main_loop, "fmain", &small), 0);
    assert_int_equal(ss_process_new(&proc, "fvictim", NULL), 0);
    /* static: a failed assertion leaves them in the tables */
    static watcher w;
    static ss_object a;
    static ss_timer safety;
    memset(&w, 0, sizeof w);
    assert_int_equal(ss_object_init(&w.obj, main_loop, "w"), 0);
    assert_int_equal(ss_object_init(&a, main_loop, "a"), 0);
    assert_int_equal(ss_signal_add(&a, "n", "x"), 0);
    assert_int_equal(ss_connect(&a, "n", &w.obj, on_nothing, "x", NULL), 0);
    assert_int_equal(ss_connect(ss_process_object(proc), "exited", &w.obj,
                                on_exited, "ii", NULL),
                     0);
    assert_int_equal(ss_timer_init(&safety, main_loop, SS_SEC(20), true,
                                   "safety"),
                     0);
    assert_int_equal(ss_connect(&safety.object, "timeout",
                                ss_loop_object(main_loop), ss_loop_stop_slot,
                                "", NULL),
                     0);
    assert_int_equal(ss_process_start(proc, NULL, NULL), 0);
    int64_t k = 0;
    tu_log_quiet_drops();
    while (ss_emit(&a, "n", k) == 0)
        k++;
    ss_log_set_handler(NULL, NULL);
    assert_true(k > 100);
    assert_int_equal(ss_process_kill(proc, SIGKILL), 0);
    assert_int_equal(ss_process_join(proc, SS_SEC(20), NULL), 0);
    assert_int_equal(ss_loop_run(main_loop), SS_LOOP_STOPPED);
    assert_int_equal(w.exits, 1);
    assert_int_equal(w.sig, SIGKILL);
    assert_int_equal(ss_signal_dropped(ss_process_object(proc), "exited"), 0);
    ss_timer_destroy(&safety);
    ss_object_destroy(&a);
    ss_object_destroy(&w.obj);
    ss_process_free(proc);
    ss_loop_free(main_loop);
}

static void test_exit_statuses(void **state)
{
    (void)state;
    ss_loop *main_loop;
    assert_int_equal(ss_loop_new(&main_loop, "smain", NULL), 0);
    watcher w = {.exits = 0};
    assert_int_equal(ss_object_init(&w.obj, main_loop, "w"), 0);
    static const struct {
        const char *how;
        int code, sig, status;
    } cases[] = {
        {"stop", 0, 0, 0},
        {"terminate", -1, SIGTERM, 128 + SIGTERM},
        {"sigint", 2, 0, 2},
        {"sigint-ignored", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ss_process *proc;
        bool ignore = strcmp(cases[i].how, "sigint-ignored") == 0;
        assert_int_equal(ss_process_new(&proc, cases[i].how, NULL), 0);
        assert_int_equal(ss_process_set_sigint(proc, 7), SS_EINVAL);
        if (ignore)
            assert_int_equal(ss_process_set_sigint(proc, SS_SIGINT_IGNORE),
                             0);
        assert_int_equal(ss_connect(ss_process_object(proc), "exited",
                                    &w.obj, on_exited, "ii", NULL),
                         0);
        assert_int_equal(ss_process_start(proc, NULL, NULL), 0);
        assert_int_equal(ss_process_set_sigint(proc, SS_SIGINT_STOP),
                         SS_ESTATE);
        /* No pause: the child handles SIGINT from its first instant. */
        if (strcmp(cases[i].how, "stop") == 0) {
            assert_int_equal(ss_process_stop(proc), 0);
        } else if (strcmp(cases[i].how, "terminate") == 0) {
            assert_int_equal(ss_process_terminate(proc), 0);
        } else {
            assert_int_equal(ss_process_kill(proc, SIGINT), 0);
            if (ignore) {
                /* Still running after it: stop it the graceful way. */
                assert_int_equal(ss_process_join(proc, SS_MSEC(300), NULL),
                                 SS_ETIMEDOUT);
                assert_true(ss_process_is_alive(proc));
                assert_int_equal(ss_process_stop(proc), 0);
            }
        }
        w.exits = 0;
        assert_int_equal(run_until_exited(main_loop), SS_LOOP_STOPPED);
        assert_int_equal(w.exits, 1);
        assert_string_equal(w.who, cases[i].how);
        assert_int_equal(w.code, cases[i].code);
        assert_int_equal(w.sig, cases[i].sig);
        int status = -1;
        assert_int_equal(ss_process_join(proc, SS_SEC(10), &status), 0);
        assert_int_equal(status, cases[i].status);
        ss_process_free(proc);
    }
    ss_object_destroy(&w.obj);
    ss_loop_free(main_loop);
}

/* A process started from a thread that ends right away outlives it: the
 * child dies with the parent process, not with the starting thread. The
 * thread ends only once the child's loop runs (so that whatever ties the
 * child to a thread is in place): it runs a loop of its own until the
 * child's "started" reaches it, instead of sleeping for a while and hoping
 * so. */
typedef struct starter {
    ss_process *proc;
    ss_loop *loop;  /* run by the starting thread */
    ss_object obj;  /* on loop: receives the child's "started" */
    ss_timer guard; /* on loop: stops it if "started" never comes */
    int rc, run_rc, started, timed_out;
} starter;

static void on_child_started(ss_object *receiver, const ss_args *args, void *ud)
{
    starter *s = ud;
    (void)args;
    s->started++;
    ss_loop_stop(ss_object_loop(receiver));
}

static void on_starter_guard(ss_object *receiver, const ss_args *args, void *ud)
{
    starter *s = ud;
    (void)args;
    s->timed_out++;
    ss_loop_stop(ss_object_loop(receiver));
}

static void *start_and_exit(void *arg)
{
    starter *s = arg;
    s->rc = ss_process_start(s->proc, NULL, NULL);
    if (s->rc == 0)
        s->run_rc = ss_loop_run(s->loop);
    return NULL;
}

static void test_start_from_thread(void **state)
{
    (void)state;
    static starter s; /* static: the loop's tables point into it */
    memset(&s, 0, sizeof s);
    assert_int_equal(ss_process_new(&s.proc, "tstarted", NULL), 0);
    assert_int_equal(ss_loop_new(&s.loop, "tstarter", NULL), 0);
    assert_int_equal(ss_object_init(&s.obj, s.loop, "obj"), 0);
    assert_int_equal(ss_connect(ss_process_object(s.proc), "started", &s.obj,
                                on_child_started, "", &s),
                     0);
    assert_int_equal(ss_timer_init(&s.guard, s.loop, SS_SEC(20), true, "guard"),
                     0);
    assert_int_equal(ss_connect(&s.guard.object, "timeout", &s.obj,
                                on_starter_guard, "", &s),
                     0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, start_and_exit, &s), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.run_rc, SS_LOOP_STOPPED);
    assert_int_equal(s.timed_out, 0);
    assert_int_equal(s.started, 1);
    /* The starter is gone; the child must still run. */
    assert_int_equal(ss_process_join(s.proc, SS_MSEC(300), NULL), SS_ETIMEDOUT);
    assert_true(ss_process_is_alive(s.proc));
    assert_int_equal(ss_process_stop(s.proc), 0);
    int status = -1;
    assert_int_equal(ss_process_join(s.proc, SS_SEC(10), &status), 0);
    assert_int_equal(status, 0);
    ss_timer_destroy(&s.guard);
    ss_object_destroy(&s.obj);
    ss_process_free(s.proc);
    ss_loop_free(s.loop);
}

/* A pointer hidden in a variant does not reach another process: the
 * receiving loop refuses the payload (the connection could not know). */
static void on_var(ss_object *receiver, const ss_args *args, void *ud)
{
    ss_value v;
    (void)ud;
    if (ss_args_unpack(args, "v", &v) == 0)
        /* A variant's encoding: its signature's length, then it. */
        ss_emit(receiver, "seen",
                (int64_t)((const unsigned char *)v.data)[1]);
}

typedef struct seen_box {
    ss_object obj;
    int n;
    int64_t last;
} seen_box;

static void on_seen(ss_object *receiver, const ss_args *args, void *ud)
{
    seen_box *b = (seen_box *)receiver;
    (void)ud;
    assert_int_equal(ss_args_unpack(args, "x", &b->last), 0);
    b->n++;
    ss_loop_stop(ss_object_loop(receiver));
}

static void emit_variant(ss_object *from, const char *sig, ...)
{
    unsigned char buf[64];
    ss_writer w;
    ss_writer_init(&w, buf, sizeof buf);
    assert_int_equal(ss_writer_variant_begin(&w, sig), 0);
    va_list ap;
    va_start(ap, sig);
    assert_int_equal(ss_vpack(&w, sig, ap), 0);
    va_end(ap);
    assert_int_equal(ss_writer_variant_end(&w), 0);
    ss_value v = {"v", NULL, 0};
    assert_int_equal(ss_writer_data(&w, &v.data, &v.len), 0);
    assert_int_equal(ss_emit(from, "var", &v), 0);
}

static void test_no_pointer_in_variant(void **state)
{
    (void)state;
    ss_loop *main_loop;
    ss_process *proc;
    assert_int_equal(ss_loop_new(&main_loop, "vmain", NULL), 0);
    assert_int_equal(ss_process_new(&proc, "vchild", NULL), 0);
    seen_box a = {.n = 0};
    ss_object b;
    assert_int_equal(ss_object_init(&a.obj, main_loop, "a"), 0);
    assert_int_equal(ss_object_init(&b, ss_process_loop(proc), "b"), 0);
    assert_int_equal(ss_signal_add(&a.obj, "var", "v"), 0);
    assert_int_equal(ss_signal_add(&b, "seen", "x"), 0);
    assert_int_equal(ss_connect(&a.obj, "var", &b, on_var, "v", NULL), 0);
    assert_int_equal(ss_connect(&b, "seen", &a.obj, on_seen, "x", NULL), 0);
    int local = 7;
    emit_variant(&a.obj, "p", (void *)&local); /* refused over there */
    emit_variant(&a.obj, "i", (int32_t)5);     /* delivered */
    assert_int_equal(ss_process_start(proc, NULL, NULL), 0);
    assert_int_equal(ss_loop_run(main_loop), SS_LOOP_STOPPED);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.last, 'i');
    assert_int_equal(ss_process_stop(proc), 0);
    int status = -1;
    assert_int_equal(ss_process_join(proc, SS_SEC(10), &status), 0);
    assert_int_equal(status, 0);
    ss_object_destroy(&a.obj);
    ss_object_destroy(&b);
    ss_process_free(proc);
    ss_loop_free(main_loop);
}

int main(void)
{
    tu_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signals_both_ways),
        cmocka_unit_test(test_pointer_stays_in_process),
        cmocka_unit_test(test_kill_and_reap),
        cmocka_unit_test(test_join_huge_timeout),
        cmocka_unit_test(test_stop_leaves_rest_counted),
        cmocka_unit_test(test_exited_signal),
        cmocka_unit_test(test_exited_into_full_queue),
        cmocka_unit_test(test_exit_statuses),
        cmocka_unit_test(test_start_from_thread),
        cmocka_unit_test(test_no_pointer_in_variant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

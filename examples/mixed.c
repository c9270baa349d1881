/*
 * mixed.c - loops on threads and in processes in one program.
 *
 * A small pipeline across three loops, each in a different place:
 *
 *   loop "main_loop",             object "source": a periodic timer
 *   on the main thread            emits the numbers 1..N, 50 per 5 ms
 *       | number (x)
 *   loop "squarer_thread",        object "squarer": n -> n * n
 *   on a thread of its own
 *       | square (xx)
 *   loop "accumulator_process",   object "accumulator": sums the squares;
 *   in a process of its own       a timer of its own, made in the child by
 *                                 the process's init callback, reports
 *       | progress (xx)           the count and the sum every 20 ms
 *   loop "main_loop"              object "source": prints the progress;
 *                                 once all N are in, emits "shutdown"
 *
 * "shutdown" stops the squarer's loop and the accumulator's loop. When the
 * accumulator's process has ended, its process object emits "exited"
 * (exit code, signal) in the parent, which stops the main loop; then the
 * thread and the process are joined. The program checks the sum, the
 * count and how every loop ended, and exits 0 if all is right, else 1.
 *
 *   ./mixed [N]    default 1000, at most 20000
 */
#include <signal_slot.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BURST 50 /* numbers per tick of the source's timer */

/* The source, on the main loop: emits the numbers, checks the outcome. */
typedef struct source {
    ss_object obj; /* first, so that a slot's receiver is the source */
    ss_timer tick;
    int64_t n, next;
    int64_t count, sum; /* the last progress reported */
    bool shutdown_sent;
    int exit_code, exit_signal; /* from "exited"; -1: not yet */
    int errors;
} source;

/* The accumulator, on the process's loop. */
typedef struct accumulator {
    ss_object obj; /* first */
    ss_timer report;
    int64_t count, sum;
} accumulator;

/* Report a failed call made inside a slot (a slot returns nothing). */
static void slot_error(int *errors, const char *what, int rc)
{
    fprintf(stderr, "mixed: %s: %s\n", what, ss_strerror(rc));
    if (errors)
        (*errors)++;
}

/* source, main loop: the timer's "timeout". Emit the next burst of
 * numbers; after the last one, stop the timer (the loop's own thread may). */
static void on_tick(ss_object *receiver, const ss_args *args, void *ud)
{
    source *s = ud; /* receiver is the timer: the source comes as user data */
    (void)receiver;
    (void)args;
    for (int i = 0; i < BURST && s->next <= s->n; i++, s->next++) {
        int rc = ss_emit(&s->obj, "number", s->next);
        if (rc != 0)
            slot_error(&s->errors, "emit number", rc);
    }
    if (s->next > s->n)
        ss_timer_stop(&s->tick);
}

/* squarer, thread loop: "number" -> "square". */
static void on_number(ss_object *receiver, const ss_args *args, void *ud)
{
    int64_t n;
    (void)ud;
    if (ss_args_unpack(args, "x", &n) != 0)
        return; /* cannot happen: the signatures were checked at connect */
    int rc = ss_emit(receiver, "square", n, n * n);
    if (rc != 0)
        slot_error(NULL, "emit square", rc);
}

/* accumulator, process loop: add a square. */
static void on_square(ss_object *receiver, const ss_args *args, void *ud)
{
    accumulator *acc = (accumulator *)receiver;
    int64_t n, sq;
    (void)ud;
    if (ss_args_unpack(args, "xx", &n, &sq) != 0)
        return;
    acc->count++;
    acc->sum += sq;
}

/* accumulator, process loop: its timer's "timeout". Report progress. */
static void on_report(ss_object *receiver, const ss_args *args, void *ud)
{
    accumulator *acc = ud;
    (void)receiver;
    (void)args;
    int rc = ss_emit(&acc->obj, "progress", acc->count, acc->sum);
    if (rc != 0)
        slot_error(NULL, "emit progress", rc);
}

/* The accumulator process's init callback: runs in the child, before its
 * loop. The report timer is made here, in the process that drives it. A
 * failure ends the child with status 1, which "exited" reports. */
static void accumulator_init(ss_process *process, void *user_data)
{
    accumulator *acc = user_data;
    int rc = ss_timer_init(&acc->report, ss_process_loop(process),
                           SS_MSEC(20), false, "report");
    if (rc == 0)
        rc = ss_connect(&acc->report.object, "timeout", &acc->obj, on_report,
                        "", acc);
    if (rc != 0) {
        slot_error(NULL, "accumulator_init", rc);
        _exit(1);
    }
}

/* source, main loop: the accumulator's "progress". When everything has
 * arrived, shut the pipeline down. */
static void on_progress(ss_object *receiver, const ss_args *args, void *ud)
{
    source *s = (source *)receiver;
    (void)ud;
    if (ss_args_unpack(args, "xx", &s->count, &s->sum) != 0)
        return;
    if (s->shutdown_sent)
        return;
    printf("progress: %lld of %lld squares summed, sum %lld\n",
           (long long)s->count, (long long)s->n, (long long)s->sum);
    if (s->count == s->n) {
        s->shutdown_sent = true;
        int rc = ss_emit(&s->obj, "shutdown");
        if (rc != 0) {
            slot_error(&s->errors, "emit shutdown", rc);
            ss_loop_stop(ss_object_loop(&s->obj));
        }
    }
}

/* source, main loop: the accumulator process's "exited" (code, signal). */
static void on_exited(ss_object *receiver, const ss_args *args, void *ud)
{
    source *s = ud; /* receiver is the process object */
    (void)receiver;
    if (ss_args_unpack(args, "ii", &s->exit_code, &s->exit_signal) != 0)
        return;
    printf("accumulator process exited: code %d, signal %d\n", s->exit_code,
           s->exit_signal);
    ss_loop_stop(ss_object_loop(&s->obj));
}

/* Every library call returns 0 or a negative SS_E* code. On an error, say
 * which call failed and why, and go to the clean-up at the end of main(). */
#define CHECK(call)                                                        \
    do {                                                                   \
        int rc_ = (call);                                                  \
        if (rc_ != 0) {                                                    \
            fprintf(stderr, "mixed: %s: %s\n", #call, ss_strerror(rc_));   \
            goto out;                                                      \
        }                                                                  \
    } while (0)

int main(int argc, char **argv)
{
    long n = 1000;
    if (argc > 1) {
        char *end;
        errno = 0;
        n = strtol(argv[1], &end, 10);
        if (argc > 2 || errno || end == argv[1] || *end || n < 1 ||
            n > 20000) {
            fprintf(stderr, "usage: %s [N (1..20000)]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    int result = EXIT_FAILURE;
    ss_loop *main_loop = NULL, *squarer_loop = NULL;
    ss_process *acc_proc = NULL;
    bool thread_started = false;
    source s = {.n = n, .next = 1, .exit_code = -1};
    ss_object squarer;
    accumulator acc = {0};
    ss_timer deadline;

    /* The three loops: the main one, one for a thread, one for a process. */
    CHECK(ss_loop_new(&main_loop, "main_loop", NULL));
    CHECK(ss_loop_new(&squarer_loop, "squarer_thread", NULL));
    CHECK(ss_process_new(&acc_proc, "accumulator_process", NULL));

    /* Their objects and signals. */
    CHECK(ss_object_init(&s.obj, main_loop, "source"));
    CHECK(ss_signal_add(&s.obj, "number", "x"));
    CHECK(ss_signal_add(&s.obj, "shutdown", ""));
    CHECK(ss_timer_init(&s.tick, main_loop, SS_MSEC(5), false, "tick"));
    CHECK(ss_object_init(&squarer, squarer_loop, "squarer"));
    CHECK(ss_signal_add(&squarer, "square", "xx"));
    CHECK(ss_object_init(&acc.obj, ss_process_loop(acc_proc), "accumulator"));
    CHECK(ss_signal_add(&acc.obj, "progress", "xx"));

    /* The connections, all before the process starts. */
    CHECK(ss_connect(&s.tick.object, "timeout", &s.obj, on_tick, "", &s));
    CHECK(ss_connect(&s.obj, "number", &squarer, on_number, "x", NULL));
    CHECK(ss_connect(&squarer, "square", &acc.obj, on_square, "xx", NULL));
    CHECK(ss_connect(&acc.obj, "progress", &s.obj, on_progress, "xx", NULL));
    CHECK(ss_connect(&s.obj, "shutdown", ss_loop_object(squarer_loop),
                     ss_loop_stop_slot, "", NULL));
    CHECK(ss_connect(&s.obj, "shutdown",
                     ss_loop_object(ss_process_loop(acc_proc)),
                     ss_loop_stop_slot, "", NULL));
    CHECK(ss_connect(ss_process_object(acc_proc), "exited", &s.obj, on_exited,
                     "ii", &s));

    /* A safety net: whatever happens, stop the main loop after 10 s. */
    CHECK(ss_timer_init(&deadline, main_loop, SS_SEC(10), true, "deadline"));
    CHECK(ss_connect(&deadline.object, "timeout", ss_loop_object(main_loop),
                     ss_loop_stop_slot, "", NULL));

    /* Start the process before the thread: fork() copies only the thread
     * that calls it, so forking while no other thread runs is simplest. */
    CHECK(ss_process_start(acc_proc, accumulator_init, &acc));
    CHECK(ss_loop_start_thread(squarer_loop));
    thread_started = true;

    int run = ss_loop_run(main_loop);
    if (run != SS_LOOP_STOPPED)
        fprintf(stderr, "mixed: main loop: %s\n",
                run == SS_LOOP_INTERRUPTED ? "interrupted" : ss_strerror(run));
    if (!s.shutdown_sent) { /* deadline or interruption: stop them here */
        fprintf(stderr, "mixed: the squares did not all arrive\n");
        ss_loop_stop(squarer_loop);
        ss_process_stop(acc_proc);
    }

    int thread_status = -1, proc_status = -1;
    CHECK(ss_loop_join_thread(squarer_loop, &thread_status));
    thread_started = false;
    CHECK(ss_process_join(acc_proc, SS_SEC(10), &proc_status));

    int64_t want = (int64_t)n * (n + 1) * (2 * n + 1) / 6; /* sum of squares */
    printf("squarer thread loop: %s; accumulator process: exit status %d\n",
           thread_status == SS_LOOP_STOPPED ? "stopped" : "did not stop",
           proc_status);
    if (run == SS_LOOP_STOPPED && s.errors == 0 && s.count == n &&
        s.sum == want && thread_status == SS_LOOP_STOPPED &&
        proc_status == 0 && s.exit_code == 0 && s.exit_signal == 0) {
        printf("mixed: sum of the squares of 1..%ld = %lld: right\n", n,
               (long long)s.sum);
        result = EXIT_SUCCESS;
    } else {
        fprintf(stderr, "mixed: FAILED: %lld squares summed to %lld (want "
                        "%ld, %lld), %d errors\n", (long long)s.count,
                (long long)s.sum, n, (long long)want, s.errors);
    }

out:
    if (thread_started) { /* only after an error: stop the thread first */
        ss_loop_stop(squarer_loop);
        ss_loop_join_thread(squarer_loop, NULL);
    }
    ss_process_free(acc_proc);
    ss_loop_free(squarer_loop);
    ss_loop_free(main_loop);
    return result;
}

/*
 * worker_pool.c - a pool of worker processes fed by the main loop.
 *
 * The "dispatcher", an object on the main loop, hands out tasks to WORKERS
 * loop processes and collects the results. A task is a number n; its result
 * is the number of steps the Collatz sequence of n takes to reach 1 (halve
 * n if even, else 3n + 1), for n = 1..tasks.
 *
 * Every slot connected to a signal receives every emission of it (there is
 * no load balancing between receivers), so the dispatcher declares one
 * signal per worker, "task_0", "task_1"..., each connected to one worker
 * only. The workers' "result" signals all go to one slot of the dispatcher,
 * which gives the next task to whichever worker answered, keeping at most
 * IN_FLIGHT tasks queued at each: faster workers get more.
 *
 * The program checks that every result arrived once, is right, and was
 * computed in the process of the worker it was sent to; then it stops the
 * workers and exits 0. Otherwise it says what is wrong and exits 1.
 *
 *   ./worker_pool [workers [tasks]]    default 4 workers, 10000 tasks
 */
#include <signal_slot.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_WORKERS 16
#define IN_FLIGHT 4 /* tasks queued at a worker at any time */

/* What a worker computes, and what the dispatcher checks it against. */
static int64_t collatz_steps(int64_t n)
{
    int64_t steps = 0;
    for (; n != 1; steps++)
        n = n % 2 == 0 ? n / 2 : 3 * n + 1;
    return steps;
}

/* A worker: an object on its process's loop. */
typedef struct worker {
    ss_object obj; /* first, so that a slot's receiver is the worker */
    int32_t index;
} worker;

/* The dispatcher: an object on the main loop, with the pool's state. */
typedef struct dispatcher {
    ss_object obj; /* first, as in worker */
    int nworkers;
    int64_t ntasks;
    int64_t next;     /* the next task to hand out (1..ntasks) */
    int64_t received; /* results received */
    int64_t good;     /* results received once, right, from the right place */
    int64_t done_by[MAX_WORKERS];
    pid_t pids[MAX_WORKERS]; /* each worker's process */
    unsigned char *seen;     /* seen[n]: the result of task n arrived */
    int errors;
} dispatcher;

/* Slot of worker k, connected to the dispatcher's "task_<k>" ("x"). It runs
 * in worker k's process: compute, and send the result back. */
static void on_task(ss_object *receiver, const ss_args *args, void *user_data)
{
    worker *w = (worker *)receiver;
    int64_t n;
    (void)user_data;
    if (ss_args_unpack(args, "x", &n) != 0)
        return; /* cannot happen: the signatures were checked at connect */
    int rc = ss_emit(&w->obj, "result", w->index, (int32_t)getpid(), n,
                     collatz_steps(n));
    if (rc != 0)
        fprintf(stderr, "worker %d: emit result: %s\n", (int)w->index,
                ss_strerror(rc));
}

/* Give the next task, if any is left, to worker k. */
static void send_task(dispatcher *d, int k)
{
    if (d->next > d->ntasks)
        return;
    char signal[16];
    snprintf(signal, sizeof signal, "task_%d", k);
    int rc = ss_emit(&d->obj, signal, d->next);
    if (rc != 0) { /* the task is lost: the pool cannot finish */
        fprintf(stderr, "worker_pool: emit %s: %s\n", signal,
                ss_strerror(rc));
        d->errors++;
        ss_loop_stop(ss_object_loop(&d->obj));
        return;
    }
    d->next++;
}

/* Slot of the dispatcher, connected to every worker's "result" ("iixx"):
 * (worker index, worker pid, n, steps). It runs on the main loop. */
static void on_result(ss_object *receiver, const ss_args *args,
                      void *user_data)
{
    dispatcher *d = (dispatcher *)receiver;
    int32_t k, pid;
    int64_t n, steps;
    (void)user_data;
    if (ss_args_unpack(args, "iixx", &k, &pid, &n, &steps) != 0)
        return;

    const char *wrong = NULL;
    if (k < 0 || k >= d->nworkers)
        wrong = "from an unknown worker";
    else if (pid != d->pids[k])
        wrong = "not computed in its worker's process";
    else if (n < 1 || n > d->ntasks)
        wrong = "for a task never sent";
    else if (d->seen[n])
        wrong = "received twice";
    else if (steps != collatz_steps(n))
        wrong = "wrong";
    if (wrong) {
        if (d->errors++ < 10)
            fprintf(stderr, "worker_pool: result of task %lld from worker "
                            "%d: %s\n", (long long)n, (int)k, wrong);
        if (k < 0 || k >= d->nworkers)
            return;
    } else {
        d->seen[n] = 1;
        d->done_by[k]++;
        d->good++;
    }
    if (++d->received == d->ntasks)
        ss_loop_stop(ss_object_loop(&d->obj)); /* all in: stop the pool */
    else
        send_task(d, k); /* k has room for one more */
}

/* A positive integer argument no larger than max. */
static int parse_count(const char *text, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Every library call returns 0 or a negative SS_E* code. On an error, say
 * which call failed and why, and go to the clean-up at the end of main(). */
#define CHECK(call)                                                        \
    do {                                                                   \
        int rc_ = (call);                                                  \
        if (rc_ != 0) {                                                    \
            fprintf(stderr, "worker_pool: %s: %s\n", #call,                \
                    ss_strerror(rc_));                                     \
            goto out;                                                      \
        }                                                                  \
    } while (0)

int main(int argc, char **argv)
{
    long nworkers = 4, ntasks = 10000;
    if (argc > 3 ||
        (argc > 1 && parse_count(argv[1], MAX_WORKERS, &nworkers) != 0) ||
        (argc > 2 && parse_count(argv[2], 10000000, &ntasks) != 0)) {
        fprintf(stderr, "usage: %s [workers (1..%d) [tasks]]\n", argv[0],
                MAX_WORKERS);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    int result = EXIT_FAILURE;
    ss_loop *main_loop = NULL;
    ss_process *procs[MAX_WORKERS] = {0};
    worker workers[MAX_WORKERS];
    dispatcher d = {.nworkers = (int)nworkers, .ntasks = ntasks, .next = 1};
    ss_timer deadline;

    d.seen = calloc((size_t)ntasks + 1, 1);
    if (!d.seen) {
        fprintf(stderr, "worker_pool: out of memory\n");
        return EXIT_FAILURE;
    }

    CHECK(ss_loop_new(&main_loop, "main_loop", NULL));
    CHECK(ss_object_init(&d.obj, main_loop, "dispatcher"));

    /* The workers: a loop process each, with a worker object on its loop,
     * and a signal of the dispatcher for each. Everything is connected
     * before any process starts: the children inherit the connections. */
    for (int k = 0; k < d.nworkers; k++) {
        char name[32], signal[16];
        snprintf(name, sizeof name, "worker_%d", k);
        snprintf(signal, sizeof signal, "task_%d", k);
        CHECK(ss_process_new(&procs[k], name, NULL));
        workers[k].index = k;
        CHECK(ss_object_init(&workers[k].obj, ss_process_loop(procs[k]),
                             "worker"));  /* ids are unique per loop */
        CHECK(ss_signal_add(&workers[k].obj, "result", "iixx"));
        CHECK(ss_signal_add(&d.obj, signal, "x"));
        CHECK(ss_connect(&d.obj, signal, &workers[k].obj, on_task, "x",
                         NULL));
        CHECK(ss_connect(&workers[k].obj, "result", &d.obj, on_result,
                         "iixx", NULL));
    }

    /* A safety net: if the results are not all in after 20 s, stop. */
    CHECK(ss_timer_init(&deadline, main_loop, SS_SEC(20), true, "deadline"));
    CHECK(ss_connect(&deadline.object, "timeout", ss_loop_object(main_loop),
                     ss_loop_stop_slot, "", NULL));

    /* The first tasks, emitted before the workers run: they wait in the
     * workers' queues. */
    for (int i = 0; i < IN_FLIGHT; i++)
        for (int k = 0; k < d.nworkers; k++)
            send_task(&d, k);
    if (d.errors)
        goto out;

    for (int k = 0; k < d.nworkers; k++) {
        CHECK(ss_process_start(procs[k], NULL, NULL));
        d.pids[k] = ss_process_pid(procs[k]);
    }
    printf("worker_pool: %d worker processes, %lld tasks\n", d.nworkers,
           (long long)d.ntasks);

    /* Run until on_result has every result (or the deadline). */
    int run = ss_loop_run(main_loop);
    if (run != SS_LOOP_STOPPED)
        fprintf(stderr, "worker_pool: main loop: %s\n",
                run == SS_LOOP_INTERRUPTED ? "interrupted" : ss_strerror(run));

    /* Stop the workers through their loops, and wait for them. */
    for (int k = 0; k < d.nworkers; k++)
        ss_process_stop(procs[k]); /* fails only if it ended: join says */
    bool workers_ok = true;
    for (int k = 0; k < d.nworkers; k++) {
        int status;
        CHECK(ss_process_join(procs[k], SS_SEC(10), &status));
        printf("worker %d (pid %d): %lld tasks, exit status %d\n", k,
               (int)d.pids[k], (long long)d.done_by[k], status);
        if (status != 0)
            workers_ok = false;
    }

    if (run == SS_LOOP_STOPPED && workers_ok && d.errors == 0 &&
        d.good == d.ntasks) {
        printf("worker_pool: all %lld results correct\n",
               (long long)d.ntasks);
        result = EXIT_SUCCESS;
    } else {
        fprintf(stderr, "worker_pool: FAILED: %lld of %lld results correct, "
                        "%d errors%s\n", (long long)d.good, (long long)d.ntasks,
                d.errors, workers_ok ? "" : ", a worker failed");
    }

out:
    /* Freeing a process kills it if it still runs; freeing a loop destroys
     * the objects still on it. */
    for (int k = 0; k < d.nworkers; k++)
        ss_process_free(procs[k]);
    ss_loop_free(main_loop);
    free(d.seen);
    return result;
}

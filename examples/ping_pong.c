/*
 * ping_pong.c - the usage example of the Python seed (signal-slot-mp), in C.
 *
 * Two objects talk through signals and slots across two processes:
 *
 *   "object: a" lives on the main loop, "main_loop", in this process;
 *   "object: b" lives on the loop of "background_process", a forked child.
 *
 * a's signal "signal_a" (a string and an int) is connected to b's slot
 * on_signal_a, and b's signal "signal_b" (a string) to a's slot on_signal_b.
 * Each slot prints what it received, sleeps one second and answers, so the
 * two objects play ping-pong until a single-shot timer stops both loops.
 *
 *   ./ping_pong [seconds]    run time, default 10 (fractions accepted)
 *
 * Prints one timestamped line per signal received, then "Done!".
 */
#define _POSIX_C_SOURCE 200809L /* localtime_r, nanosleep, clock_gettime */
#include <signal_slot.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* The local time as the seed prints it: "2022-11-30 01:51:58.943425". */
static const char *now(char *buf, size_t size)
{
    struct timespec t;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &t);
    localtime_r(&t.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%06ld", t.tv_nsec / 1000);
    return buf;
}

/* Sleep, as the seed's slots do with time.sleep(); an interrupting signal
 * (Ctrl-C) does not cut it short: the loop sees it once the slot returns. */
static void sleep_seconds(double seconds)
{
    time_t whole = (time_t)seconds;
    struct timespec left = {whole, (long)((seconds - (double)whole) * 1e9)};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

/*
 * A slot cannot return an error. The calls in these slots fail only on a
 * programming error (a wrong signature), so a failure is reported and ends
 * the process at once: in the background process, ss_process_join() then
 * sees exit status 1; in the main process, the background process dies
 * with it (a loop process never outlives its parent).
 */
static void slot_failed(const char *what, int rc)
{
    fprintf(stderr, "ping_pong: %s: %s\n", what, ss_strerror(rc));
    _exit(EXIT_FAILURE);
}

/* Emitting never blocks: if the receiving loop's queue is full
 * (SS_EAGAIN), or its process has ended (SS_ECLOSED: the last answer of a
 * run may find it gone), the message is dropped and counted. That is no
 * error here; any other code is. */
static void check_emit(const char *what, int rc)
{
    if (rc != 0 && rc != SS_EAGAIN && rc != SS_ECLOSED)
        slot_failed(what, rc);
}

/* b's slot, connected to a's "signal_a" (signature "si"). It runs in the
 * background process, on its loop; receiver is b. */
static void on_signal_a(ss_object *receiver, const ss_args *args,
                        void *user_data)
{
    const char *msg; /* points into the message: valid during this call */
    int32_t other_data;
    char ts[40];
    (void)user_data;

    int rc = ss_args_unpack(args, "si", &msg, &other_data);
    if (rc != 0)
        slot_failed("on_signal_a: unpack", rc);
    printf("%s %s received signal_a: %s %d\n", now(ts, sizeof ts),
           ss_object_id(receiver), msg, (int)other_data);
    sleep_seconds(1.0);
    check_emit("emit signal_b", ss_emit(receiver, "signal_b", "hello from B"));
}

/* a's slot, connected to b's "signal_b" (signature "s"). It runs in this
 * process, on the main loop; receiver is a. */
static void on_signal_b(ss_object *receiver, const ss_args *args,
                        void *user_data)
{
    const char *msg;
    char ts[40];
    (void)user_data;

    int rc = ss_args_unpack(args, "s", &msg);
    if (rc != 0)
        slot_failed("on_signal_b: unpack", rc);
    printf("%s %s received signal_b: %s\n", now(ts, sizeof ts),
           ss_object_id(receiver), msg);
    sleep_seconds(1.0);
    check_emit("emit signal_a",
               ss_emit(receiver, "signal_a", "hello from A", (int32_t)42));
}

/* The run time: a positive number of seconds, fractions accepted. */
static int parse_seconds(const char *text, double *out)
{
    char *end;
    errno = 0;
    double s = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(s) ||
        s <= 0 || s > 1e6)
        return -1;
    *out = s;
    return 0;
}

/* Every library call returns 0 or a negative SS_E* code. On an error, say
 * which call failed and why, and go to the clean-up at the end of main(). */
#define CHECK(call)                                                        \
    do {                                                                   \
        int rc_ = (call);                                                  \
        if (rc_ != 0) {                                                    \
            fprintf(stderr, "ping_pong: %s: %s\n", #call,                  \
                    ss_strerror(rc_));                                     \
            goto out;                                                      \
        }                                                                  \
    } while (0)

int main(int argc, char **argv)
{
    double seconds = 10.0;
    if (argc > 2 || (argc == 2 && parse_seconds(argv[1], &seconds) != 0)) {
        fprintf(stderr, "usage: %s [seconds]  (run time, default 10)\n",
                argv[0]);
        return 2;
    }
    /* One line at a time, also into a pipe, so that the lines of both
     * processes come out in the order they were printed (the child
     * inherits this setting at fork). */
    setvbuf(stdout, NULL, _IOLBF, 0);

    int result = EXIT_FAILURE;
    ss_loop *main_loop = NULL;
    ss_process *bg_process = NULL;
    ss_object a, b; /* plain objects: a and b need no state of their own */
    ss_timer stop_timer;
    char ts[40];

    /* The main event loop, and object a on it. */
    CHECK(ss_loop_new(&main_loop, "main_loop", NULL));
    CHECK(ss_object_init(&a, main_loop, "object: a"));
    CHECK(ss_signal_add(&a, "signal_a", "si"));

    /* A background process with a loop of its own, and object b on that
     * loop. Nothing is forked yet: b is set up here, in the parent, and the
     * child inherits it at ss_process_start(). */
    CHECK(ss_process_new(&bg_process, "background_process", NULL));
    CHECK(ss_object_init(&b, ss_process_loop(bg_process), "object: b"));
    CHECK(ss_signal_add(&b, "signal_b", "s"));

    /* Connect signals and slots; the slot's signature must match the
     * signal's. Connections to a loop process are made before it starts. */
    CHECK(ss_connect(&a, "signal_a", &b, on_signal_a, "si", NULL));
    CHECK(ss_connect(&b, "signal_b", &a, on_signal_b, "s", NULL));

    /* Kick off the communication. The background process does not run
     * yet: the signal waits in its loop's queue until it does. */
    CHECK(ss_emit(&a, "signal_a", "Initial hello from A", (int32_t)1337));

    /* A single-shot timer on the main loop that stops the system after the
     * run time. It starts at once. Its "timeout" signal stops the main loop
     * and the background process's loop: ss_loop_stop_slot stops the loop
     * its receiver lives on, and a loop is an object on itself. */
    CHECK(ss_timer_init(&stop_timer, main_loop, (int64_t)(seconds * 1e9),
                        true, "stop_timer"));
    CHECK(ss_connect(&stop_timer.object, "timeout", ss_loop_object(main_loop),
                     ss_loop_stop_slot, "", NULL));
    CHECK(ss_connect(&stop_timer.object, "timeout",
                     ss_loop_object(ss_process_loop(bg_process)),
                     ss_loop_stop_slot, "", NULL));

    /* Fork the background process: it runs its loop until stopped. */
    CHECK(ss_process_start(bg_process, NULL, NULL));

    /* Run the main loop on this thread until the timer stops it. */
    int run = ss_loop_run(main_loop);
    if (run == SS_LOOP_INTERRUPTED) {
        /* Ctrl-C: the terminal sent SIGINT to both processes, and both
         * loops stop. Stop the child anyway, in case only we got it. */
        printf("%s Interrupted\n", now(ts, sizeof ts));
        if (ss_process_is_alive(bg_process))
            ss_process_stop(bg_process);
    } else {
        CHECK(run);
    }

    /* The main loop has stopped: wait for the background process to end
     * (b may be in the middle of its one-second sleep). */
    int status;
    CHECK(ss_process_join(bg_process, SS_SEC(10), &status));
    if (run == SS_LOOP_INTERRUPTED) {
        result = 130; /* the shell's code for "ended by SIGINT" */
        goto out;
    }
    if (status != 0) {
        fprintf(stderr, "ping_pong: background_process exited with status "
                        "%d\n", status);
        goto out;
    }

    printf("%s Done!\n", now(ts, sizeof ts));
    result = EXIT_SUCCESS;

out:
    /* Freeing a loop destroys the objects still on it (a, b, the timer);
     * ss_process_free() also kills and reaps a child still running. */
    ss_process_free(bg_process);
    ss_loop_free(main_loop);
    return result;
}

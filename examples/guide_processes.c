/* guide_processes.c - the process program of docs/guide.md, built so that it stays true. */
#include <signal_slot.h>
#include <stdio.h>
#include <unistd.h>

static void on_job(ss_object *receiver, const ss_args *args, void *ud)
{
    int64_t n;
    (void)ud;
    if (ss_args_unpack(args, "x", &n) == 0)     /* runs in the child */
        ss_emit(receiver, "done", n, n * n, (int32_t)getpid());
}

static void on_done(ss_object *receiver, const ss_args *args, void *ud)
{
    long *left = ud;
    int64_t n, square;
    int32_t pid;
    if (ss_args_unpack(args, "xxi", &n, &square, &pid) == 0)
        printf("%lld squared is %lld (process %d)\n", (long long)n,
               (long long)square, (int)pid);
    if (--*left == 0)
        ss_loop_stop(ss_object_loop(receiver));
}

static void child_init(ss_process *proc, void *ud)
{
    (void)ud;                                   /* runs in the child too */
    printf("%s: process %d starts its loop\n", ss_process_name(proc),
           (int)getpid());
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);   /* whole lines, also into a pipe */
    ss_loop *main_loop;
    ss_process *proc;
    if (ss_loop_new(&main_loop, "main", NULL) != 0 ||
        ss_process_new(&proc, "squarer", NULL) != 0)
        return 1;

    /* Objects on the process's loop are made here, in the parent. */
    ss_object boss, sq;
    ss_object_init(&boss, main_loop, "boss");
    ss_object_init(&sq, ss_process_loop(proc), "sq");
    ss_signal_add(&boss, "job", "x");
    ss_signal_add(&sq, "done", "xxi");

    /* Connections too, before the start: the child inherits them. */
    long left = 3;
    ss_connect(&boss, "job", &sq, on_job, "x", NULL);
    ss_connect(&sq, "done", &boss, on_done, "xxi", &left);

    /* Emitted before the start: held in the process loop's queue. */
    for (int64_t n = 1; n <= 3; n++)
        ss_emit(&boss, "job", n);

    if (ss_process_start(proc, child_init, NULL) != 0)      /* fork */
        return 1;
    ss_loop_run(main_loop);                  /* until the third answer */

    ss_process_stop(proc);                   /* graceful, through its loop */
    int status = -1;
    ss_process_join(proc, SS_SEC(5), &status);
    printf("squarer ended with status %d\n", status);      /* 0: stopped */

    ss_process_free(proc);
    ss_loop_free(main_loop);
    return status == 0 ? 0 : 1;
}

/* guide_threads.c - the program of docs/guide.md, built so that it stays true. */
#include <signal_slot.h>
#include <stdio.h>

typedef struct worker {
    ss_object obj;     /* first, so that a slot's receiver is the worker */
    long handled;
} worker;

static void on_job(ss_object *receiver, const ss_args *args, void *ud)
{
    worker *w = (worker *)receiver;
    int64_t id;
    const char *what;
    if (ss_args_unpack(args, "xs", &id, &what) == 0) {
        w->handled++;
        ss_emit(receiver, "done", id);       /* reply */
    }
    (void)ud;
}

static void on_done(ss_object *receiver, const ss_args *args, void *ud)
{
    long *left = ud;
    int64_t id;
    ss_args_unpack(args, "x", &id);
    if (--*left == 0)
        ss_loop_stop(ss_object_loop(receiver));
}

int main(void)
{
    ss_loop *main_loop, *work_loop;
    ss_loop_new(&main_loop, "main", NULL);
    ss_loop_new(&work_loop, "worker", NULL);

    ss_object boss;
    worker w = {0};
    ss_object_init(&boss, main_loop, "boss");
    ss_object_init(&w.obj, work_loop, "w1");
    ss_signal_add(&boss, "job", "xs");
    ss_signal_add(&w.obj, "done", "x");

    long left = 1000;
    ss_connect(&boss, "job", &w.obj, on_job, "xs", NULL);
    ss_connect(&w.obj, "done", &boss, on_done, "x", &left);

    ss_loop_start_thread(work_loop);
    for (int64_t i = 0; i < 1000; i++)
        ss_emit(&boss, "job", i, "resize");
    ss_loop_run(main_loop);                  /* until the 1000th reply */

    ss_loop_stop(work_loop);
    ss_loop_join_thread(work_loop, NULL);
    printf("worker handled %ld jobs\n", w.handled);

    ss_object_destroy(&boss);
    ss_object_destroy(&w.obj);
    ss_loop_free(work_loop);
    ss_loop_free(main_loop);
    return 0;
}

/* guide_timers.c - the timer program of docs/guide.md, built so that it stays true. */
#include <signal_slot.h>
#include <stdio.h>

typedef struct ticker {
    ss_object obj;     /* first: the slot's receiver is the ticker */
    ss_timer tick;     /* periodic */
    ss_timer bye;      /* single-shot */
    int count;
} ticker;

/* Connected to tick's "timeout". It runs on the loop's thread, so it may
 * stop and start the loop's timers. */
static void on_tick(ss_object *receiver, const ss_args *args, void *ud)
{
    ticker *t = (ticker *)receiver;
    (void)args;
    (void)ud;
    printf("tick %d\n", ++t->count);
    if (t->count == 3) {
        ss_timer_stop(&t->tick);     /* no more ticks */
        ss_timer_start(&t->bye);     /* stop the loop 50 ms from now */
    }
}

int main(void)
{
    ss_loop *loop;
    ticker t = {0};
    if (ss_loop_new(&loop, "main", NULL) != 0 ||
        ss_object_init(&t.obj, loop, "ticker") != 0)
        return 1;

    /* Every 100 ms, from now on: a timer starts as soon as it is made. */
    if (ss_timer_init(&t.tick, loop, SS_MSEC(100), false, "tick") != 0 ||
        ss_connect(&t.tick.object, "timeout", &t.obj, on_tick, "", NULL) != 0)
        return 1;

    /* Once, 50 ms after it is started. Its "timeout" stops the loop:
     * ss_loop_stop_slot stops the loop its receiver lives on, here the
     * loop's own object. Stopped until on_tick starts it. */
    if (ss_timer_init(&t.bye, loop, SS_MSEC(50), true, "bye") != 0 ||
        ss_connect(&t.bye.object, "timeout", ss_loop_object(loop),
                   ss_loop_stop_slot, "", NULL) != 0)
        return 1;
    ss_timer_stop(&t.bye);           /* allowed: the loop does not run yet */

    ss_loop_run(loop);               /* drives both timers, on this thread */
    printf("stopped after %d ticks\n", t.count);

    ss_timer_destroy(&t.tick);
    ss_timer_destroy(&t.bye);
    ss_object_destroy(&t.obj);
    ss_loop_free(loop);
    return 0;
}

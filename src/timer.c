/*
 * timer.c - timers: a heap of deadlines per loop, fired by the loop.
 */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- timers ---- */

#define TIMER_OF(node) ((ss_timer *)((char *)(node)-offsetof(ss_timer, node_)))

_Static_assert(sizeof(((ss_timer *)0)->node_) == sizeof(ss__heap_node),
               "timer node layout");

/* Deadline order; equal deadlines in scheduling order (a heap alone is not
 * stable). */
static bool timer_less(const ss__heap_node *a, const ss__heap_node *b)
{
    const ss_timer *x = TIMER_OF(a), *y = TIMER_OF(b);
    return x->deadline_ns_ < y->deadline_ns_ ||
           (x->deadline_ns_ == y->deadline_ns_ && x->seq_ < y->seq_);
}

void ss__timers_init(ss_loop *loop)
{
    ss__heap_init(&loop->timers, timer_less);
}

void ss__timer_unschedule(ss_timer *t)
{
    ss_loop *loop = t->object.loop_;
    if (t->active_ && loop)
        ss__heap_remove(&loop->timers, (ss__heap_node *)&t->node_);
    t->active_ = false;
}

static void timer_schedule(ss_timer *t, int64_t deadline)
{
    ss_loop *loop = t->object.loop_;
    if (!loop)
        return;
    ss__timer_unschedule(t);
    t->deadline_ns_ = deadline;
    t->seq_ = loop->timer_seq++;
    t->active_ = true;
    ss__heap_insert(&loop->timers, (ss__heap_node *)&t->node_);
}

SS_API int ss_timer_init(ss_timer *timer, ss_loop *loop, int64_t interval_ns,
                         bool single_shot, const char *id)
{
    if (!timer || !loop || interval_ns < 0)
        return SS_EINVAL;
    char gen[SS_NAME_MAX + 1];
    if (!id) {
        static _Atomic uint64_t timer_ids;
        snprintf(gen, sizeof gen, "Timer_%llu",
                 (unsigned long long)atomic_fetch_add(&timer_ids, 1) + 1);
        id = gen;
    }
    int rc = ss_object_init(&timer->object, loop, id);
    if (rc != 0)
        return rc;
    timer->object.flags_ |= OBJ_TIMER;
    if ((rc = ss_signal_add(&timer->object, "timeout", "")) != 0) {
        ss_object_destroy(&timer->object);
        return rc;
    }
    timer->interval_ns_ = interval_ns;
    timer->single_shot_ = single_shot;
    timer->catch_up_ = false;
    timer->active_ = false;
    ss_timer_start(timer);
    return 0;
}

SS_API void ss_timer_start(ss_timer *timer)
{
    if (timer)
        timer_schedule(timer, ss__add_sat(ss__now_ns(), timer->interval_ns_));
}

SS_API void ss_timer_stop(ss_timer *timer)
{
    if (timer)
        ss__timer_unschedule(timer);
}

SS_API int ss_timer_set_interval(ss_timer *timer, int64_t interval_ns)
{
    if (!timer)
        return SS_EINVAL;
    if (interval_ns < 0) {
        SS_LOG_ERR("loop", "timer %s: negative interval %lld refused",
                   timer->object.id_, (long long)interval_ns);
        return SS_EINVAL;
    }
    timer->interval_ns_ = interval_ns;
    if (timer->active_) {
        int64_t latest = ss__add_sat(ss__now_ns(), interval_ns);
        if (timer->deadline_ns_ > latest)
            timer_schedule(timer, latest);
    }
    return 0;
}

SS_API void ss_timer_destroy(ss_timer *timer)
{
    if (timer)
        ss_object_destroy(&timer->object);
}

/* Fire every timer due at now, in deadline order: each emits "timeout"
 * once; periodic ones move to their next deadline after now (keeping their
 * phase). */
void ss__fire_timers(ss_loop *loop, int64_t now)
{
    /* Popped in order, chained through parent, oldest first. */
    ss__heap_node *due = NULL, **last = &due;
    ss__local_batch lb;
    lb.n = 0;
    ss__heap_node *min;
    while ((min = ss__heap_min(&loop->timers)) &&
           TIMER_OF(min)->deadline_ns_ <= now) {
        ss__heap_pop(&loop->timers);
        TIMER_OF(min)->active_ = false;
        min->parent = NULL;
        *last = min;
        last = &min->parent;
    }
    /* Reschedule before emitting, so a slot may stop or restart them. */
    for (ss__heap_node *n = due; n;) {
        ss__heap_node *next = n->parent;
        ss_timer *t = TIMER_OF(n);
        if (!t->single_shot_) {
            int64_t d = ss__add_sat(t->deadline_ns_, t->interval_ns_);
            if (d <= now && t->interval_ns_ > 0 && !t->catch_up_)
                d = ss__add_sat(d, ((now - d) / t->interval_ns_ + 1) *
                                       t->interval_ns_);
            if (t->interval_ns_ == 0)
                d = now + 1; /* every iteration, not twice in one */
            timer_schedule(t, d);
        }
        ss__emit_local(loop, &t->object, "timeout", &lb, false);
        n = next;
    }
    ss__local_flush(loop, &lb);
}

SS_API void ss_timer_set_catch_up(ss_timer *timer, bool catch_up)
{
    if (timer)
        timer->catch_up_ = catch_up;
}

SS_API int64_t ss_timer_deadline(const ss_timer *timer)
{
    return timer && timer->active_ ? timer->deadline_ns_ : -1;
}

SS_API int64_t ss_loop_next_timeout(ss_loop *loop)
{
    if (!loop)
        return SS_EINVAL;
    ss__heap_node *min = ss__heap_min(&loop->timers);
    if (!min)
        return -1;
    int64_t until = TIMER_OF(min)->deadline_ns_ - ss__now_ns();
    return until > 0 ? until : 0;
}

/*
 * loop.c - loops: creation and freeing, running, stopping, threads,
 * embedding (signal_slot/loop.h). The design of the whole runtime is in
 * docs/runtime.md; runtime.h lists its files.
 */
#include "runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

SS_API void ss_loop_options_init(ss_loop_options *opts)
{
    if (opts) {
        opts->queue_capacity = 0;
        opts->spin_ns = SS_QUEUE_DEFAULT_SPIN_NS;
        opts->emit_wait_ns = SS_EMIT_WAIT_DEFAULT_NS;
        opts->publish = false;
    }
}

/* The room a loop's queue of ring bytes keeps for control messages: a
 * sixteenth, at least 512 bytes (a few stops and notices in a one-page
 * queue), at most 64 KiB (about 2,000 of them), never over a quarter. */
size_t ss__control_reserve(size_t ring)
{
    size_t r = ring / 16;
    if (r < 512)
        r = 512;
    if (r > (64u << 10))
        r = 64u << 10;
    return r > ring / 4 ? ring / 4 : r;
}

/* Take loop's name in the domain's registry and create its queue under
 * the name the registry gives it (removing a stale one a crash left). It
 * goes live (others find it) once the loop is complete. */
static int publish(ss_loop *loop, const ss_queue_options *qo)
{
    ss__rt_read_lock();
    bool taken = ss__find_loop(loop->name, strlen(loop->name)) != NULL;
    ss__rt_unlock();
    if (taken) {
        SS_LOG_ERR("loop", "a loop named %s exists already", loop->name);
        return SS_EEXIST;
    }
    int rc = ss__reg_publish(loop->name, &loop->reg);
    if (rc != 0)
        return rc;
    char qn[SS__REG_QNAME_MAX];
    ss__reg_queue_name(loop->name, loop->reg.incarnation, qn, sizeof qn);
    rc = ss_queue_create_named(&loop->q, qn, qo);
    if (rc == SS_EEXIST) {
        ss_queue_unlink(qn);
        rc = ss_queue_create_named(&loop->q, qn, qo);
    }
    if (rc != 0) {
        ss__reg_unpublish(loop->reg);
        return rc;
    }
    loop->published = true;
    loop->reg_pid = ss__getpid();
    loop->counters = ss__reg_counters_of(loop->reg);
    loop->top = ss__reg_top_of(loop->reg);
    return 0;
}

/* A loop struct named name, its queue not made yet. */
static ss_loop *loop_alloc(const char *name)
{
    ss_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    snprintf(loop->name, sizeof loop->name, "%s", name);
    atomic_init(&loop->efd, -1);
    loop->ops = &ss__dest_shm;
    loop->pid = ss__getpid();
    loop->emit_wait_ns = SS_EMIT_WAIT_DEFAULT_NS;
    ss__timers_init(loop);
    return loop;
}

/* The rest of a loop whose queue is there: scratch buffers, its place in
 * the table of loops, its registry entry live (a new published loop), its
 * own object. Frees the loop on failure. */
static int loop_finish(ss_loop *loop, bool go_live, ss_loop **out)
{
    loop->reserve = ss__control_reserve(ss_queue_capacity(loop->q));
    loop->buf_size = LOOP_BUF_INITIAL;
    loop->buf = malloc(loop->buf_size);
    loop->pend = malloc(LOOP_BATCH * sizeof *loop->pend);
    int rc = loop->buf && loop->pend ? 0 : SS_ENOMEM;
    if (rc == 0) {
        ss__rt_write_lock();
        rc = ss__loop_table_add(loop);
        ss__rt_unlock();
        if (rc == SS_EEXIST)
            SS_LOG_ERR("loop", "a loop named %s exists already", loop->name);
    }
    if (rc == 0 && go_live)
        rc = ss__reg_go_live(loop->reg, ss_queue_capacity(loop->q));
    if (rc != 0) {
        if (go_live) {
            ss__rt_write_lock();
            ss__loop_table_remove(loop);
            ss__rt_unlock();
            ss__reg_unpublish(loop->reg);
        }
        free(loop->buf);
        free(loop->pend);
        ss_queue_destroy(loop->q);
        free(loop);
        return rc;
    }
    if ((rc = ss_object_init(&loop->self, loop, loop->name)) != 0 ||
        (rc = ss__signal_add(&loop->self, "started", "", false, true)) != 0 ||
        (rc = ss__signal_add(&loop->self, "terminated", "", false, true)) !=
            0) {
        ss_loop_free(loop);
        return rc;
    }
    *out = loop;
    return 0;
}

SS_API int ss_loop_new(ss_loop **out, const char *name,
                       const ss_loop_options *opts)
{
    if (!out)
        return SS_EINVAL;
    int rc = ss__check_name(name);
    if (rc != 0)
        return rc;
    ss_loop_options o;
    ss_loop_options_init(&o);
    if (opts)
        o = *opts;
    if (o.emit_wait_ns < 0) {
        SS_LOG_ERR("loop", "loop %s: negative emit_wait_ns", name);
        return SS_EINVAL;
    }
    ss_loop *loop = loop_alloc(name);
    if (!loop)
        return SS_ENOMEM;
    ss_queue_options qo;
    ss_queue_options_init(&qo);
    qo.capacity = o.queue_capacity;
    qo.spin_ns = o.spin_ns;
    if (o.emit_wait_ns)
        loop->emit_wait_ns = o.emit_wait_ns;
    char label[SS_NAME_MAX + 16];
    snprintf(label, sizeof label, "ss-loop-%s", name);
    qo.label = label;
    qo.keep_fd = true; /* for ss_loop_attach_fd() in a spawned child */
    rc = o.publish ? publish(loop, &qo) : ss_queue_create(&loop->q, &qo);
    if (rc != 0) {
        free(loop);
        return rc;
    }
    return loop_finish(loop, loop->published, out);
}

SS_API int ss_loop_attach_fd(ss_loop **out, const char *name, int fd)
{
    if (!out || !name || fd < 0)
        return SS_EINVAL;
    int rc = ss__check_name(name);
    if (rc != 0)
        return rc;
    ss_loop *loop = loop_alloc(name);
    if (!loop)
        return SS_ENOMEM;
    if ((rc = ss_queue_open_fd(&loop->q, fd)) != 0) {
        SS_LOG_ERR("loop", "attach to loop %s: its queue: %s", name,
                   ss_strerror(rc));
        free(loop);
        return rc;
    }
    loop->pid = 0; /* runs nowhere here until adopted */
    return loop_finish(loop, false, out);
}

SS_API int ss_loop_attach(ss_loop **out, const char *name)
{
    if (!out || !name)
        return SS_EINVAL;
    int rc = ss__check_name(name);
    if (rc != 0)
        return rc;
    if ((rc = ss__reg_attach()) != 0)
        return rc;
    ss__reg_view v;
    if ((rc = ss__reg_find(name, &v)) != 0) {
        SS_LOG_ERR("loop", "attach to loop %s: %s", name,
                   rc == SS_ENOENT ? "not published in this domain"
                                   : ss_strerror(rc));
        return rc;
    }
    ss_loop *loop = loop_alloc(name);
    if (!loop)
        return SS_ENOMEM;
    char qn[SS__REG_QNAME_MAX];
    ss__reg_queue_name(name, v.ref.incarnation, qn, sizeof qn);
    if ((rc = ss_queue_open(&loop->q, qn)) != 0) {
        SS_LOG_ERR("loop", "attach to loop %s: its queue: %s", name,
                   ss_strerror(rc));
        free(loop);
        return rc;
    }
    /* Published by its owner; not run here until adopted. */
    loop->published = true;
    loop->reg = v.ref;
    loop->reg_pid = v.pid;
    loop->pid = 0;
    loop->counters = ss__reg_counters_of(loop->reg);
    loop->top = ss__reg_top_of(loop->reg);
    return loop_finish(loop, false, out);
}

SS_API void ss_loop_free(ss_loop *loop)
{
    if (!loop)
        return;
    if (loop->remote) {
        ss__proxy_free(loop);
        return;
    }
    if (atomic_load(&loop->running)) {
        SS_LOG_ERR("loop", "ss_loop_free(%s) while it runs: refused",
                   loop->name);
        return;
    }
    ss__rt_write_lock();
    /* Its objects, under the lock (other threads may be adding some or
     * connecting to them); timers leave the loop's heap first. */
    for (ss_object *o; (o = ss__loop_any_object(loop)) != NULL;) {
        if (o->flags_ & OBJ_TIMER)
            ss__timer_unschedule((ss_timer *)o);
        ss__object_destroy_locked(o);
    }
    ss__loop_objects_free(loop);
    ss__loop_table_remove(loop);
    ss__remote_loop_free(loop);
    ss__rt_unlock();
    /* Its owner takes its name back (and retires its queue: emitters
     * elsewhere then drop). A copy in another process does not. */
    if (loop->published && loop->reg_pid == ss__getpid())
        ss__reg_unpublish(loop->reg);
    ss_queue_destroy(loop->q);
    int efd = atomic_load(&loop->efd);
    if (efd >= 0)
        ss__close_fd(efd);
    free(loop->buf);
    free(loop->pend);
    free(loop->calls);
    free(loop->hot);
    free(loop);
}

SS_API const char *ss_loop_name(const ss_loop *loop)
{
    return loop ? loop->name : NULL;
}

SS_API ss_object *ss_loop_object(ss_loop *loop)
{
    return loop ? &loop->self : NULL;
}

SS_API ss_queue *ss_loop_queue(ss_loop *loop)
{
    return loop ? loop->q : NULL;
}

SS_API size_t ss_loop_max_msg_size(const ss_loop *loop)
{
    if (!loop)
        return 0;
    size_t ring = ss_queue_capacity(loop->q);
    size_t max = ss_queue_max_msg_size(loop->q);
    size_t data = ring - loop->reserve - SS_QUEUE_RECORD_OVERHEAD;
    return data < max ? data & ~(size_t)7 : max;
}

SS_API uint64_t ss_loop_dropped(const ss_loop *loop)
{
    return loop ? atomic_load(&loop->dropped) : 0;
}

SS_API int ss_loop_stop(ss_loop *loop)
{
    if (!loop)
        return SS_EINVAL;
    unsigned char m[MSG_HDR_MAX];
    size_t len = ss__put_header(m, MSG_STOP, loop->name, strlen(loop->name), "",
                                "");
    /* Control: it may use the room data leaves free, so that a queue full
     * of data does not keep it out. From the loop's own thread the queue
     * is not being drained while we wait: never wait for room there. */
    bool own = ss__rt_tl_loop == loop;
    ss__put how = {.timeout_ns = own ? SS_NO_WAIT : LOOP_STOP_WAIT_NS,
                   .patience_ns = loop->emit_wait_ns};
    ss_msg msg = {m, len};
    int rc = loop->ops->put(loop, &msg, 1, &how);
    if (rc == SS_ECLOSED) /* it ended already: nothing to stop */
        SS_LOG_DBG("loop", "stop %s: it has ended", loop->name);
    else if (rc != 0)
        SS_LOG_ERR("loop", "stop %s: %s", loop->name, ss_strerror(rc));
    else
        ss__loop_notify(loop);
    return rc;
}

SS_API void ss_loop_stop_slot(ss_object *receiver, const ss_args *args,
                              void *user_data)
{
    (void)args;
    (void)user_data;
    if (receiver && receiver->loop_)
        ss_loop_stop(receiver->loop_);
}

static int run_once(ss_loop *loop, int64_t timeout_ns);

SS_API int ss_loop_run_once(ss_loop *loop, int64_t timeout_ns)
{
    if (!loop)
        return SS_EINVAL;
    if (loop->remote)
        return SS_ENOTSUP;
    ss_loop *outer = ss__rt_tl_loop;
    ss__rt_tl_loop = loop;
    int rc = run_once(loop, timeout_ns);
    ss__rt_tl_loop = outer;
    return rc;
}

static int run_once_(ss_loop *loop, int64_t timeout_ns);

/* One iteration. A slot may run one more (ss_loop_run_once() from a
 * slot): that one takes messages into buffers of its own, since the outer
 * one still dispatches from its buffer, pending list and calls. */
static int run_once(ss_loop *loop, int64_t timeout_ns)
{
    if (loop->run_depth == 0) {
        loop->run_depth++;
        int rc = run_once_(loop, timeout_ns);
        loop->run_depth--;
        return rc;
    }
    unsigned char *buf = loop->buf;
    size_t buf_size = loop->buf_size, calls_cap = loop->calls_cap;
    struct pending *pend = loop->pend;
    ss__conn **calls = loop->calls;
    loop->buf_size = LOOP_BUF_INITIAL;
    loop->buf = malloc(loop->buf_size);
    loop->pend = malloc(LOOP_BATCH * sizeof *loop->pend);
    loop->calls = NULL;
    loop->calls_cap = 0;
    int rc = SS_ENOMEM;
    if (loop->buf && loop->pend) {
        loop->run_depth++;
        rc = run_once_(loop, timeout_ns);
        loop->run_depth--;
    }
    free(loop->buf);
    free(loop->pend);
    free(loop->calls);
    loop->buf = buf;
    loop->buf_size = buf_size;
    loop->pend = pend;
    loop->calls = calls;
    loop->calls_cap = calls_cap;
    return rc;
}

static int run_once_(ss_loop *loop, int64_t timeout_ns)
{
    if (loop->stopped)
        return SS_LOOP_STOPPED;
    /* Clear the descriptor before draining: a delivery after the drain
     * makes it readable again, so none is missed. */
    int efd = atomic_load_explicit(&loop->efd, memory_order_acquire);
    if (efd >= 0)
        ss__event_clear(efd);
    int64_t now = ss__now_ns();
    ss__fire_timers(loop, now);

    /* Wait no later than the next timer (and, while we catch SIGINT, no
     * longer than the SIGINT poll). */
    int64_t until = ss_loop_next_timeout(loop);
    if (until >= 0 && (timeout_ns < 0 || until < timeout_ns))
        timeout_ns = until;
    if (atomic_load(&ss__sigint_users) &&
        (timeout_ns < 0 || timeout_ns > LOOP_SIGINT_POLL_NS))
        timeout_ns = LOOP_SIGINT_POLL_NS;

    /* Nothing past a stop is taken: what follows it stays in the queue
     * for the next run (docs/guide.md, "Delivery guarantees"). */
    ss_msg msgs[LOOP_BATCH];
    size_t n = 0;
    int rc = ss__queue_get_many_until(loop->q, loop->buf, loop->buf_size, msgs,
                                      LOOP_BATCH, &n, timeout_ns, MSG_STOP);
    if (rc == SS_ENOBUFS) {
        size_t need = msgs[0].len + 8;
        unsigned char *bigger = realloc(loop->buf, need);
        if (!bigger)
            return SS_ENOMEM;
        loop->buf = bigger;
        loop->buf_size = need;
        rc = ss__queue_get_many_until(loop->q, loop->buf, loop->buf_size, msgs,
                                      LOOP_BATCH, &n, SS_NO_WAIT, MSG_STOP);
    }
    if (rc == SS_EAGAIN || rc == SS_ETIMEDOUT)
        return 0;
    if (rc != 0)
        return rc;
    if (loop->counters) /* its thread is the only writer */
        atomic_store_explicit(
            &loop->counters->msgs_in,
            atomic_load_explicit(&loop->counters->msgs_in,
                                 memory_order_relaxed) + n,
            memory_order_relaxed);
    if (ss__dispatch_batch(loop, msgs, n)) {
        /* Everything queued before the stop was handled; what follows it
         * waits in the queue. */
        loop->stopped = true;
        return SS_LOOP_STOPPED;
    }
    if (loop->top)
        ss__hot_publish(loop, n < LOOP_BATCH, false);
    /* One iteration takes at most LOOP_BATCH messages: if more wait, the
     * descriptor must stay readable for the poller to come back. */
    if (efd >= 0 && ss_queue_size(loop->q) > 0)
        ss__event_signal(efd);
    return 0;
}

SS_API int ss_loop_run(ss_loop *loop)
{
    if (!loop)
        return SS_EINVAL;
    if (loop->remote) {
        SS_LOG_ERR("loop", "ss_loop_run(%s): a loop of another process",
                   loop->name);
        return SS_ENOTSUP;
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&loop->running, &expected, 1))
        return SS_ESTATE;
    loop->stopped = false;
    ss_loop *outer = ss__rt_tl_loop;
    ss__rt_tl_loop = loop;
    ss__log_set_context(loop->name);
    ss__sigint_acquire();
    ss__local_batch lb;
    lb.n = 0;
    ss__emit_local(loop, &loop->self, "started", &lb, true);
    ss__local_flush(loop, &lb);
    int rc;
    for (;;) {
        rc = run_once(loop, SS_WAIT_FOREVER);
        if (rc != 0 || loop->stopped) /* SS_LOOP_STOPPED is 0 */
            break;
        if (atomic_load(&ss__sigint_flag)) {
            rc = SS_LOOP_INTERRUPTED;
            break;
        }
    }
    ss__emit_local(loop, &loop->self, "terminated", &lb, false);
    ss__local_flush(loop, &lb);
    ss__hot_publish(loop, true, true);
    ss__sigint_release();
    ss__rt_tl_loop = outer;
    ss__log_set_context(outer ? outer->name : NULL);
    atomic_store(&loop->running, 0);
    return rc;
}

static void *loop_thread_main(void *arg)
{
    ss_loop *loop = arg;
    loop->thread_status = ss_loop_run(loop);
    return NULL;
}

SS_API void ss_loop_clear_stop(ss_loop *loop)
{
    if (loop)
        loop->stopped = false;
}

SS_API void ss_loop_set_data(ss_loop *loop, void *data)
{
    if (loop)
        atomic_store(&loop->user_data, data);
}

SS_API void *ss_loop_get_data(const ss_loop *loop)
{
    return loop ? atomic_load(&((ss_loop *)loop)->user_data) : NULL;
}

SS_API int ss_loop_set_dispatch_hooks(ss_loop *loop, ss_dispatch_hook begin,
                                      ss_dispatch_hook end, void *user_data)
{
    if (!loop || loop->remote)
        return SS_EINVAL;
    if (atomic_load(&loop->running) && ss__rt_tl_loop != loop)
        return SS_ESTATE;
    loop->hook_begin = begin;
    loop->hook_end = end;
    loop->hook_ud = user_data;
    return 0;
}

SS_API int ss_loop_set_slot_resolver(ss_loop *loop, ss_slot_resolver resolver,
                                     void *user_data)
{
    if (!loop || loop->remote)
        return SS_EINVAL;
    if (atomic_load(&loop->running) && ss__rt_tl_loop != loop)
        return SS_ESTATE;
    ss__rt_write_lock();
    loop->resolver = resolver;
    loop->resolver_ud = user_data;
    ss__rt_unlock();
    return 0;
}

SS_API int ss_loop_start_thread(ss_loop *loop)
{
    if (!loop)
        return SS_EINVAL;
    if (loop->thread_started || atomic_load(&loop->running))
        return SS_ESTATE;
    loop->thread_started = true;
    int rc = pthread_create(&loop->thread, NULL, loop_thread_main, loop);
    if (rc != 0) {
        loop->thread_started = false;
        SS_LOG_ERR("loop", "pthread_create: %s", strerror(rc));
        return SS_ESYS;
    }
    return 0;
}

SS_API int ss_loop_join_thread(ss_loop *loop, int *status)
{
    if (!loop)
        return SS_EINVAL;
    if (!loop->thread_started)
        return SS_ESTATE;
    pthread_join(loop->thread, NULL);
    loop->thread_started = false;
    if (status)
        *status = loop->thread_status;
    return 0;
}

SS_API bool ss_loop_stopped(const ss_loop *loop)
{
    return loop && loop->stopped;
}

SS_API int ss_loop_fd(ss_loop *loop)
{
    if (!loop)
        return SS_EINVAL;
    int fd = atomic_load(&loop->efd);
    if (fd >= 0)
        return fd;
    fd = ss__event_new();
    if (fd < 0)
        return fd;
    int expected = -1;
    if (!atomic_compare_exchange_strong(&loop->efd, &expected, fd)) {
        ss__close_fd(fd); /* another thread won */
        return expected;
    }
    /* Messages already queued must be seen too. */
    ss__event_signal(fd);
    return fd;
}

void ss__loop_ended(ss_loop *loop, int code, int sig)
{
    if (loop->published)
        ss__reg_mark_ended(loop->reg, code, sig);
}

void ss__loop_set_pid(ss_loop *loop, pid_t pid)
{
    /* A published loop process: its child owns the registry entry from
     * now on (set in the child; the parent's copy follows). */
    if (loop->published && pid > 0) {
        loop->reg_pid = pid;
        if (pid == ss__getpid())
            ss__reg_set_owner(loop->reg, pid, ss__process_start());
    }
    ss__rt_write_lock();
    loop->pid = pid;
    ss__rt_unlock();
}

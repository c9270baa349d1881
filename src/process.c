/*
 * process.c - loops in processes of their own (signal_slot/process.h).
 *
 * The child is a fork of the parent: it inherits the loop (whose queue is
 * shared memory), the objects and the connections, so nothing is sent to
 * it at start. It dies with its parent (PR_SET_PDEATHSIG). A thread of the
 * parent forks it and then watches it, asleep in waitpid(): that watcher
 * reaps it the moment it ends, closes its queue, counts what was left in
 * it and emits "exited"; ss_process_join() waits for the watcher to have
 * seen the end, ss_process_free() kills a child still running and joins
 * the watcher.
 */
#include "ss_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "signal_slot/process.h"

/* How long the watcher waits for a producer that is putting into the
 * ended child's queue before it closes it anyway. */
#define PROC_CLOSE_PATIENCE_NS SS_SEC(1)

struct ss_process {
    ss_loop *loop;
    pid_t pid;
    pid_t parent; /* the process that started it (handles do not fork) */
    bool started;
    ss_sigint_mode sigint;
    pthread_t watcher;
    pthread_mutex_t mu; /* ended, status */
    pthread_cond_t cv;  /* ended became true */
    bool ended;
    bool signalled; /* the parent sent it a signal (kill, terminate) */
    int status; /* as ss_process_join() reports it */
};

SS_API int ss_process_new(ss_process **out, const char *name,
                          const ss_loop_options *opts)
{
    if (!out)
        return SS_EINVAL;
    ss_process *p = calloc(1, sizeof *p);
    if (!p)
        return SS_ENOMEM;
    int rc = ss_loop_new(&p->loop, name, opts);
    if (rc != 0) {
        free(p);
        return rc;
    }
    rc = ss__signal_add_here(ss_loop_object(p->loop), "exited", "ii");
    if (rc != 0) {
        ss_loop_free(p->loop);
        free(p);
        return rc;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    /* Its loop will run elsewhere: objects on it are in another process. */
    ss__loop_set_pid(p->loop, 0);
    *out = p;
    return 0;
}

SS_API ss_loop *ss_process_loop(ss_process *process)
{
    return process ? process->loop : NULL;
}

SS_API ss_object *ss_process_object(ss_process *process)
{
    return process ? ss_loop_object(process->loop) : NULL;
}

SS_API int ss_process_set_sigint(ss_process *process, ss_sigint_mode mode)
{
    if (!process || (mode != SS_SIGINT_STOP && mode != SS_SIGINT_IGNORE))
        return SS_EINVAL;
    if (process->started)
        return SS_ESTATE;
    process->sigint = mode;
    return 0;
}

SS_API const char *ss_process_name(const ss_process *process)
{
    return process ? ss_loop_name(process->loop) : NULL;
}

SS_API pid_t ss_process_pid(const ss_process *process)
{
    return process ? process->pid : 0;
}

SS_API int ss_loop_adopt(ss_loop *loop)
{
    if (!loop || ss_loop_is_remote(loop))
        return SS_EINVAL;
    ss__loop_set_pid(loop, ss__getpid());
    return 0;
}

SS_API int ss_loop_set_process(ss_loop *loop, pid_t pid)
{
    if (!loop || ss_loop_is_remote(loop) || pid <= 0)
        return SS_EINVAL;
    ss__loop_set_pid(loop, pid);
    return 0;
}

SS_API uint64_t ss_loop_process_ended(ss_loop *loop, int code, int sig)
{
    if (!loop || ss_loop_is_remote(loop))
        return 0;
    ss__loop_close(loop, PROC_CLOSE_PATIENCE_NS);
    uint64_t left = ss__loop_drop_queued(loop);
    ss__loop_ended(loop, code, sig);
    return left;
}

static _Noreturn void child_main(ss_process *p, pid_t parent,
                                 ss_process_init_fn init, void *user_data,
                                 const sigset_t *mask)
{
    /* No orphans: die with the parent, also if it died before this line. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    ss__loop_set_pid(p->loop, ss__getpid());
    ss__sigint_after_fork(p->sigint == SS_SIGINT_IGNORE);
    pthread_sigmask(SIG_SETMASK, mask, NULL);
    if (init)
        init(p, user_data);
    int rc = ss_loop_run(p->loop);
    fflush(NULL);
    _exit(rc == SS_LOOP_STOPPED ? 0 : rc == SS_LOOP_INTERRUPTED ? 2 : 1);
}

/* Split a wait status into the "exited" arguments and join's status. */
static int decode_status(int st, int *code, int *sig)
{
    *code = -1;
    *sig = 0;
    if (WIFEXITED(st)) {
        *code = WEXITSTATUS(st);
        return *code;
    }
    if (WIFSIGNALED(st)) {
        *sig = WTERMSIG(st);
        return 128 + *sig;
    }
    return 255;
}

static void *watcher_main(void *arg)
{
    ss_process *p = arg;
    int st = 0, code = -1, sig = 0, status;
    pid_t r;
    do
        r = waitpid(p->pid, &st, 0);
    while (r < 0 && errno == EINTR);
    if (r == p->pid) {
        status = decode_status(st, &code, &sig);
    } else {
        /* Someone else reaped it (waitpid(-1) elsewhere in the program). */
        SS_LOG_ERR("process", "%s (pid %d): cannot wait for it: %s; its "
                   "status is lost", ss_process_name(p), (int)p->pid,
                   strerror(errno));
        status = 255;
    }
    pthread_mutex_lock(&p->mu);
    bool expected = p->signalled;
    pthread_mutex_unlock(&p->mu);
    /* Worth a warning: an error exit, or a signal nobody here sent.
     * Stopped (0) or interrupted by SIGINT (2) is a normal end. */
    if ((sig != 0 && !expected) || code == 1 || code > 2)
        SS_LOG_WARNING("process", "%s (pid %d) ended: %s %d",
                       ss_process_name(p), (int)p->pid,
                       sig ? "killed by signal" : "exit code",
                       sig ? sig : code);
    /* Nobody reads its queue any more: make emitters drop (and count)
     * instead of filling it, and wake anyone blocked on it. What it holds
     * then (queued behind its stop, or not read before it died) will never
     * be handled: counted as dropped, here, before join returns. */
    ss__loop_close(p->loop, PROC_CLOSE_PATIENCE_NS);
    uint64_t left = ss__loop_drop_queued(p->loop);
    if (left)
        SS_LOG_WARNING("process", "%s (pid %d) ended with %llu signals "
                       "not handled in its queue; counted as dropped",
                       ss_process_name(p), (int)p->pid,
                       (unsigned long long)left);
    /* Published: the registry says so, with how it ended. */
    ss__loop_ended(p->loop, code, sig);
    pthread_mutex_lock(&p->mu);
    p->status = status;
    p->ended = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    ss_emit(ss_loop_object(p->loop), "exited", code, sig);
    return NULL;
}

/* What the starting thread hands to the watcher, which forks the child:
 * the child's "die with my parent" (PR_SET_PDEATHSIG) follows the thread
 * that forked it, so that thread must live exactly as long as the child,
 * whichever thread of the parent called ss_process_start(). */
typedef struct start_req {
    ss_process *p;
    ss_process_init_fn init;
    void *user_data;
    sigset_t mask; /* the caller's, for the child */
    pid_t parent;
    bool done;
    int err; /* fork's errno, 0 if it worked */
} start_req;

static void *forker_main(void *arg)
{
    start_req *rq = arg;
    ss_process *p = rq->p;
    ss__tables_fork_held(true); /* by the starter, for this fork */
    pid_t pid = fork();
    ss__tables_fork_held(false);
    if (pid == 0) {
        /* The tables' lock starts free here (its atfork handler): the
         * thread holding it stayed in the parent. */
        child_main(p, rq->parent, rq->init, rq->user_data, &rq->mask);
    }
    pthread_mutex_lock(&p->mu);
    p->pid = pid > 0 ? pid : 0;
    rq->err = pid < 0 ? errno : 0;
    rq->done = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    /* rq is gone from here on (it lives on the starter's stack). */
    if (pid < 0)
        return NULL;
    return watcher_main(p);
}

SS_API int ss_process_start(ss_process *p, ss_process_init_fn init,
                            void *user_data)
{
    if (!p)
        return SS_EINVAL;
    if (p->started)
        return SS_ESTATE;
    start_req rq = {.p = p, .init = init, .user_data = user_data,
                    .parent = ss__getpid()};
    fflush(NULL);
    /* Hold the tables across fork(): the child must not inherit them
     * half-changed by another thread. */
    ss__tables_write_lock();
    /* SIGINT stays blocked until the child has chosen what to do with it,
     * so that a Ctrl-C right at the fork cannot kill it by default; the
     * watcher thread inherits the block and keeps it (it never handles
     * SIGINT). */
    sigset_t intr;
    sigemptyset(&intr);
    sigaddset(&intr, SIGINT);
    pthread_sigmask(SIG_BLOCK, &intr, &rq.mask);
    int e = pthread_create(&p->watcher, NULL, forker_main, &rq);
    if (e == 0) {
        pthread_mutex_lock(&p->mu);
        while (!rq.done)
            pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_sigmask(SIG_SETMASK, &rq.mask, NULL);
    /* Marked as running elsewhere before anyone can connect to it. */
    if (e == 0 && rq.err == 0)
        ss__loop_set_pid(p->loop, p->pid);
    ss__tables_unlock();
    if (e != 0) {
        SS_LOG_ERR("process", "%s: no thread to start it from: %s",
                   ss_process_name(p), strerror(e));
        return SS_ESYS;
    }
    if (rq.err != 0) {
        pthread_join(p->watcher, NULL);
        SS_LOG_ERR("process", "fork %s: %s", ss_process_name(p),
                   strerror(rq.err));
        return SS_ESYS;
    }
    p->parent = rq.parent;
    p->started = true;
    return 0;
}

/* Whether this handle's child can be acted on from the calling process. */
static bool owned_here(const ss_process *p)
{
    return p->started && p->parent == ss__getpid();
}

/* Whether the watcher has seen the child end. */
static bool has_ended(ss_process *p)
{
    pthread_mutex_lock(&p->mu);
    bool ended = p->ended;
    pthread_mutex_unlock(&p->mu);
    return ended;
}

SS_API int ss_process_stop(ss_process *p)
{
    if (!p)
        return SS_EINVAL;
    if (owned_here(p) && has_ended(p))
        return SS_ESTATE; /* nothing to stop: not an error worth a log */
    return ss_loop_stop(p->loop);
}

SS_API int ss_process_kill(ss_process *p, int sig)
{
    if (!p)
        return SS_EINVAL;
    if (!owned_here(p))
        return SS_ESTATE;
    pthread_mutex_lock(&p->mu);
    /* Under the lock: once ended, the pid may be reused by a stranger. */
    int rc = p->ended ? SS_ESTATE : kill(p->pid, sig) == 0 ? 0 : SS_ESYS;
    if (rc == 0 && sig != 0)
        p->signalled = true;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

SS_API int ss_process_terminate(ss_process *p)
{
    return ss_process_kill(p, SIGTERM);
}

SS_API int ss_process_join(ss_process *p, int64_t timeout_ns, int *status)
{
    if (!p)
        return SS_EINVAL;
    if (!owned_here(p))
        return SS_ESTATE;
    /* The condition variable runs on CLOCK_MONOTONIC, as ss__now_ns(). A
     * timeout too large for the clock waits forever (-1). */
    int64_t until = ss__deadline_ns(timeout_ns);
    struct timespec dl = {(time_t)(until / 1000000000),
                          (long)(until % 1000000000)};
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->ended && rc == 0) {
        int e = until < 0 ? pthread_cond_wait(&p->cv, &p->mu)
                          : pthread_cond_timedwait(&p->cv, &p->mu, &dl);
        if (e == ETIMEDOUT && !p->ended)
            rc = SS_ETIMEDOUT;
    }
    if (rc == 0 && status)
        *status = p->status;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

SS_API bool ss_process_is_alive(ss_process *p)
{
    return p && owned_here(p) && !has_ended(p);
}

SS_API int ss_process_exit_status(const ss_process *p, int *status)
{
    if (!p || !status)
        return SS_EINVAL;
    if (!owned_here(p))
        return SS_ESTATE;
    ss_process *mp = (ss_process *)p; /* the lock only */
    pthread_mutex_lock(&mp->mu);
    int rc = p->ended ? 0 : SS_ESTATE;
    if (rc == 0)
        *status = p->status;
    pthread_mutex_unlock(&mp->mu);
    return rc;
}

SS_API void ss_process_free(ss_process *p)
{
    if (!p)
        return;
    if (owned_here(p)) {
        ss_process_kill(p, SIGKILL); /* SS_ESTATE if it ended: fine */
        pthread_join(p->watcher, NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    ss_loop_free(p->loop);
    free(p);
}

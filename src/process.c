/*
 * process.c - loops in processes of their own (signal_slot/process.h).
 *
 * The child is a fork of the parent: it inherits the loop (whose queue is
 * shared memory), the objects and the connections, so nothing is sent to
 * it at start. It dies with its parent (PR_SET_PDEATHSIG), and the parent
 * reaps it in ss_process_join() or ss_process_free().
 */
#include "ss_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "signal_slot/process.h"

struct ss_process {
    ss_loop *loop;
    pid_t pid;
    bool started, reaped;
    int status;
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
    /* Its loop will run elsewhere: objects on it are in another process. */
    ss__loop_set_pid(p->loop, 0);
    *out = p;
    return 0;
}

SS_API ss_loop *ss_process_loop(ss_process *process)
{
    return process ? process->loop : NULL;
}

SS_API const char *ss_process_name(const ss_process *process)
{
    return process ? ss_loop_name(process->loop) : NULL;
}

SS_API pid_t ss_process_pid(const ss_process *process)
{
    return process ? process->pid : 0;
}

static _Noreturn void child_main(ss_process *p, pid_t parent,
                                 ss_process_init_fn init, void *user_data)
{
    /* No orphans: die with the parent, also if it died before this line. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    ss__loop_set_pid(p->loop, getpid());
    if (init)
        init(p, user_data);
    int rc = ss_loop_run(p->loop);
    fflush(NULL);
    _exit(rc == SS_LOOP_STOPPED ? 0 : rc == SS_LOOP_INTERRUPTED ? 2 : 1);
}

SS_API int ss_process_start(ss_process *p, ss_process_init_fn init,
                            void *user_data)
{
    if (!p)
        return SS_EINVAL;
    if (p->started)
        return SS_ESTATE;
    pid_t parent = getpid();
    fflush(NULL);
    /* Hold the tables across fork(): the child must not inherit them
     * half-changed by another thread. */
    ss__tables_lock();
    pid_t pid = fork();
    if (pid == 0) {
        /* The child is single-threaded and its thread is not the lock's
         * owner: start the tables' lock afresh instead of unlocking it. */
        ss__tables_reset_after_fork();
        child_main(p, parent, init, user_data);
    }
    ss__tables_unlock();
    if (pid < 0) {
        SS_LOG_ERR("process", "fork %s: %s", ss_process_name(p),
                   strerror(errno));
        return SS_ESYS;
    }
    p->pid = pid;
    p->started = true;
    ss__loop_set_pid(p->loop, pid);
    return 0;
}

SS_API int ss_process_stop(ss_process *p)
{
    if (!p)
        return SS_EINVAL;
    return ss_loop_stop(p->loop);
}

SS_API int ss_process_kill(ss_process *p, int sig)
{
    if (!p)
        return SS_EINVAL;
    if (!p->started || p->reaped)
        return SS_ESTATE;
    if (kill(p->pid, sig) != 0)
        return ss__errno_to_ss(errno);
    return 0;
}

/* Reap the child if it has ended; true if it is gone. */
static bool try_reap(ss_process *p)
{
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        p->reaped = true;
        p->status = WIFEXITED(st)     ? WEXITSTATUS(st)
                    : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
                                      : 255;
        return true;
    }
    return false;
}

SS_API int ss_process_join(ss_process *p, int64_t timeout_ns, int *status)
{
    if (!p)
        return SS_EINVAL;
    if (!p->started || p->reaped)
        return SS_ESTATE;
    int64_t deadline = timeout_ns < 0 ? -1 : ss__now_ns() + timeout_ns;
    while (!try_reap(p)) {
        if (deadline >= 0 && ss__now_ns() >= deadline)
            return SS_ETIMEDOUT;
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
    }
    if (status)
        *status = p->status;
    return 0;
}

SS_API bool ss_process_is_alive(ss_process *p)
{
    if (!p || !p->started || p->reaped)
        return false;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return false;
    return si.si_pid == 0; /* no state change: still running */
}

SS_API void ss_process_free(ss_process *p)
{
    if (!p)
        return;
    if (p->started && !p->reaped) {
        kill(p->pid, SIGKILL);
        int st;
        while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    ss_loop_free(p->loop);
    free(p);
}

/*
 * sigint.c - SIGINT while loops run: caught (unless the program has a
 * handler) to stop them; what a forked loop process does with it.
 */
#include "runtime.h"

#include <signal.h>
#include <string.h>
#include <pthread.h>

_Atomic int ss__sigint_flag;
_Atomic int ss__sigint_users;
static struct sigaction g_old_sigint;
static pthread_mutex_t g_sigint_lock = PTHREAD_MUTEX_INITIALIZER;
static bool g_sigint_ours;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&ss__sigint_flag, 1);
}

/* Catch SIGINT while loops run, unless the program handles it itself. */
void ss__sigint_acquire(void)
{
    pthread_mutex_lock(&g_sigint_lock);
    if (atomic_fetch_add(&ss__sigint_users, 1) == 0) {
        struct sigaction cur;
        sigaction(SIGINT, NULL, &cur);
        g_sigint_ours = cur.sa_handler == SIG_DFL;
        if (g_sigint_ours) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_sigint;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGINT, &sa, &g_old_sigint);
        }
        atomic_store(&ss__sigint_flag, 0);
    }
    pthread_mutex_unlock(&g_sigint_lock);
}

void ss__sigint_release(void)
{
    pthread_mutex_lock(&g_sigint_lock);
    if (atomic_fetch_sub(&ss__sigint_users, 1) == 1 && g_sigint_ours) {
        sigaction(SIGINT, &g_old_sigint, NULL);
        g_sigint_ours = false;
    }
    pthread_mutex_unlock(&g_sigint_lock);
}

void ss__sigint_after_fork(bool ignore)
{
    /* The parent's loops do not run here: forget their hold on SIGINT and
     * give back the disposition the program had before them. */
    pthread_mutex_init(&g_sigint_lock, NULL);
    if (atomic_load(&ss__sigint_users) && g_sigint_ours)
        sigaction(SIGINT, &g_old_sigint, NULL);
    atomic_store(&ss__sigint_users, 0);
    atomic_store(&ss__sigint_flag, 0);
    g_sigint_ours = false;
    if (ignore)
        signal(SIGINT, SIG_IGN);
    else
        ss__sigint_acquire(); /* held for the child's life: a SIGINT before
                             its loop runs stops the loop at once */
}

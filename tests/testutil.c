#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TU_MAX_CHILDREN 4096

static pid_t tu_children[TU_MAX_CHILDREN];
static int tu_nchildren;
static pid_t tu_parent;

static void tu_forget(pid_t pid)
{
    for (int i = 0; i < tu_nchildren; i++) {
        if (tu_children[i] == pid) {
            tu_children[i] = tu_children[--tu_nchildren];
            return;
        }
    }
}

pid_t tu_fork(tu_child_fn fn, void *arg)
{
    if (tu_nchildren >= TU_MAX_CHILDREN)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        tu_nchildren = 0; /* the child owns no siblings */
        alarm(0);
        _exit(fn(arg) & 0xff);
    }
    tu_children[tu_nchildren++] = pid;
    return pid;
}

static int tu_status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int tu_wait(pid_t pid, int timeout_ms)
{
    int64_t deadline = tu_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            tu_forget(pid);
            return tu_status_code(status);
        }
        if (r < 0 && errno != EINTR) {
            tu_forget(pid);
            return -1;
        }
        if (tu_now_ns() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            tu_forget(pid);
            fprintf(stderr, "tu_wait: child %d timed out, killed\n", (int)pid);
            return 1000;
        }
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

void tu_reap_all(void)
{
    if (getpid() != tu_parent)
        return;
    for (int i = 0; i < tu_nchildren; i++)
        kill(tu_children[i], SIGKILL);
    for (int i = 0; i < tu_nchildren; i++) {
        int status;
        while (waitpid(tu_children[i], &status, 0) < 0 && errno == EINTR)
            ;
    }
    tu_nchildren = 0;
}

static void tu_on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "watchdog: test took too long, aborting\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    for (int i = 0; i < tu_nchildren; i++)
        kill(tu_children[i], SIGKILL);
    abort();
}

void tu_watchdog(unsigned seconds)
{
    tu_parent = getpid();
    signal(SIGALRM, tu_on_alarm);
    alarm(seconds);
    atexit(tu_reap_all);
}

void *tu_shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) {
        perror("tu_shared_alloc");
        abort();
    }
    return p;
}

void tu_shared_free(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

uint32_t tu_hash32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

int64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t tu_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

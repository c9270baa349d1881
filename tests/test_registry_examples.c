/*
 * test_registry_examples.c - examples/registry_sender.c and
 * examples/registry_receiver.c run as a user runs them from two
 * terminals: two programs started apart, in either order, in a domain of
 * the test's own (SS_DOMAIN). Their standard output is read as it comes.
 *
 * Checked: they find each other whichever starts first; pings and pongs
 * carry consecutive numbers, in order, none twice; SIGKILL of the
 * receiver is reported by the sender, and a receiver started again gets
 * the pings that follow (the exchange resumes); Ctrl-C (SIGINT) of the
 * sender is reported by the receiver with exit code 0; both exit 0 and
 * print nothing on standard error at the "warn" log level. No timing is
 * asserted: every wait is for a line, with a generous limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#ifndef SS_REGISTRY_SENDER
#error "SS_REGISTRY_SENDER and SS_REGISTRY_RECEIVER must be defined"
#endif

#define WAIT_MS 20000
#define OUT_MAX 65536

/* A running example: its pid, its stdout and stderr (pipes), what they
 * printed so far. */
typedef struct prog {
    const char *name;
    pid_t pid;
    int out, err;
    char buf[OUT_MAX], ebuf[OUT_MAX];
    size_t len, elen;
    size_t seen; /* how far wait_line() has looked */
} prog;

typedef struct start_args {
    char **argv;
    int out[2], err[2];
} start_args;

static int exec_prog(void *arg)
{
    start_args *a = arg;
    if (dup2(a->out[1], STDOUT_FILENO) < 0 ||
        dup2(a->err[1], STDERR_FILENO) < 0)
        return 126;
    close(a->out[0]);
    close(a->err[0]);
    execv(a->argv[0], a->argv);
    return 127;
}

static void start(prog *p, const char *path, const char *count)
{
    char *argv[4] = {(char *)path, NULL, NULL, NULL};
    if (count) {
        argv[1] = (char *)"--count";
        argv[2] = (char *)count;
    }
    start_args a = {.argv = argv};
    assert_int_equal(pipe(a.out), 0);
    assert_int_equal(pipe(a.err), 0);
    memset(p, 0, sizeof *p);
    p->name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    p->pid = tu_fork(exec_prog, &a);
    assert_true(p->pid > 0);
    close(a.out[1]);
    close(a.err[1]);
    p->out = a.out[0];
    p->err = a.err[0];
    fcntl(p->out, F_SETFL, O_NONBLOCK);
    fcntl(p->err, F_SETFL, O_NONBLOCK);
}

static void drain_fd(int fd, char *buf, size_t *len)
{
    for (;;) {
        if (*len + 1 >= OUT_MAX)
            return;
        ssize_t n = read(fd, buf + *len, OUT_MAX - 1 - *len);
        if (n <= 0)
            return;
        *len += (size_t)n;
        buf[*len] = '\0';
    }
}

static void dump(const prog *p)
{
    print_message("--- %s stdout:\n%s--- %s stderr:\n%s---\n", p->name,
                  p->buf, p->name, p->ebuf);
}

/* Wait for a line of p that contains text, after those seen already;
 * returns it (up to its newline, in p's buffer) and moves past it. */
static const char *wait_line(prog *p, const char *text)
{
    int64_t deadline = tu_now_ns() + (int64_t)WAIT_MS * 1000000;
    for (;;) {
        drain_fd(p->out, p->buf, &p->len);
        drain_fd(p->err, p->ebuf, &p->elen);
        /* Whole lines only. */
        while (p->seen < p->len) {
            char *nl = memchr(p->buf + p->seen, '\n', p->len - p->seen);
            if (!nl)
                break;
            char *line = p->buf + p->seen;
            *nl = '\0';
            bool hit = strstr(line, text) != NULL;
            *nl = '\n';
            p->seen = (size_t)(nl - p->buf) + 1;
            if (hit)
                return line;
        }
        if (tu_now_ns() > deadline) {
            dump(p);
            fail_msg("%s did not print \"%s\"", p->name, text);
        }
        struct pollfd f = {p->out, POLLIN, 0};
        poll(&f, 1, 50);
    }
}

/* The number in a line "<word> <n>..." (pong 3, ping 3 from ...). */
static long number_of(const char *line)
{
    const char *sp = strchr(line, ' ');
    assert_non_null(sp);
    return strtol(sp + 1, NULL, 10);
}

/* Wait for p to exit; its exit code; stderr must be empty. */
static int finish(prog *p)
{
    int status = tu_wait(p->pid, WAIT_MS);
    drain_fd(p->out, p->buf, &p->len);
    drain_fd(p->err, p->ebuf, &p->elen);
    if (p->elen > 0 && status != 128 + SIGKILL) {
        dump(p);
        fail_msg("%s printed on standard error", p->name);
    }
    close(p->out);
    close(p->err);
    return status;
}

/* Sender first; the receiver killed, then started again; the exchange
 * resumes with the next numbers. */
static void test_kill_and_restart(void **state)
{
    (void)state;
    static prog tx, rx, rx2;
    start(&tx, SS_REGISTRY_SENDER, NULL);
    wait_line(&tx, "looking for the receiver");
    start(&rx, SS_REGISTRY_RECEIVER, NULL);
    wait_line(&tx, "found the receiver");
    /* Pongs 0, 1, 2 in order. */
    for (long k = 0; k < 3; k++)
        assert_int_equal(number_of(wait_line(&tx, "pong ")), k);
    for (long k = 0; k < 3; k++)
        assert_int_equal(number_of(wait_line(&rx, "ping ")), k);
    kill(rx.pid, SIGKILL);
    assert_int_equal(finish(&rx), 128 + SIGKILL);
    wait_line(&tx, "receiver ended (killed?)");

    /* Started again: found again, and it gets the next pings. */
    start(&rx2, SS_REGISTRY_RECEIVER, "3");
    wait_line(&tx, "found the receiver");
    long first = number_of(wait_line(&rx2, "ping "));
    assert_true(first >= 3); /* pings to the dead one are not replayed */
    for (long k = 1; k < 3; k++)
        assert_int_equal(number_of(wait_line(&rx2, "ping ")), first + k);
    wait_line(&rx2, "done");
    assert_int_equal(finish(&rx2), 0);
    /* The sender got each pong once, in order, through the restart. */
    long prev = 2;
    for (long k = 0; k < 3; k++) {
        long n = number_of(wait_line(&tx, "pong "));
        assert_true(n > prev);
        prev = n;
    }
    assert_int_equal(prev, first + 2);
    wait_line(&tx, "receiver ended (exit code 0)");
    kill(tx.pid, SIGINT);
    wait_line(&tx, "interrupted");
    assert_int_equal(finish(&tx), 0);
}

/* Receiver first; the sender stops after its pongs; the receiver sees it
 * end with exit code 0, then Ctrl-C ends the receiver. */
static void test_receiver_first(void **state)
{
    (void)state;
    static prog tx, rx;
    start(&rx, SS_REGISTRY_RECEIVER, NULL);
    wait_line(&rx, "waiting for pings");
    start(&tx, SS_REGISTRY_SENDER, "4");
    wait_line(&rx, "a sender runs");
    for (long k = 0; k < 4; k++)
        assert_int_equal(number_of(wait_line(&rx, "ping ")), k);
    for (long k = 0; k < 4; k++)
        assert_int_equal(number_of(wait_line(&tx, "pong ")), k);
    wait_line(&tx, "done");
    assert_int_equal(finish(&tx), 0);
    wait_line(&rx, "sender ended (exit code 0)");
    kill(rx.pid, SIGINT);
    wait_line(&rx, "interrupted");
    assert_int_equal(finish(&rx), 0);
}

static int teardown(void **state)
{
    (void)state;
    tu_reap_all();
    return 0;
}

int main(void)
{
    tu_watchdog(120);
    char domain[32];
    snprintf(domain, sizeof domain, "tex%d", (int)getpid());
    setenv("SS_DOMAIN", domain, 1);
    setenv("SS_LOG_LEVEL", "warn", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kill_and_restart, teardown),
        cmocka_unit_test_teardown(test_receiver_first, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* The domain's registry, and any queue a killed loop left. */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -f /dev/shm/ss-%u-%s /dev/shm/ss-%u-%s-*",
             (unsigned)geteuid(), domain, (unsigned)geteuid(), domain);
    if (system(cmd) != 0)
        print_message("could not remove the domain's files\n");
    return rc;
}

/*
 * test_examples.c - the README's example, run as a user runs it: the
 * ping_pong program is executed with a short run time, its standard output
 * read through a pipe, and checked line by line against the shape of the
 * seed's usage example (alternating timestamped lines, then "Done!").
 * And the code quoted in README.md and docs/guide.md is checked to be the
 * code of the examples, which are built and run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#ifndef SS_PING_PONG
#error "SS_PING_PONG (the path of the ping_pong example) must be defined"
#endif
#ifndef SS_SOURCE_DIR
#error "SS_SOURCE_DIR (the source tree, for the docs) must be defined"
#endif

#define OUT_MAX 16384

typedef struct run {
    char out[OUT_MAX]; /* standard output, NUL-terminated */
    size_t out_len;
    char err[OUT_MAX]; /* standard error */
    size_t err_len;
    int status; /* as tu_wait(): exit code, 128 + signal, 1000 on timeout */
} run;

typedef struct exec_args {
    char **argv;
    int out[2], err[2];
} exec_args;

static int exec_child(void *arg)
{
    exec_args *a = arg;
    if (dup2(a->out[1], STDOUT_FILENO) < 0 ||
        dup2(a->err[1], STDERR_FILENO) < 0)
        return 126;
    close(a->out[0]);
    close(a->out[1]);
    close(a->err[0]);
    close(a->err[1]);
    /* Library warnings and errors only: a clean run prints none. */
    setenv("SS_LOG_LEVEL", "warn", 1);
    execv(a->argv[0], a->argv);
    perror("execv");
    return 127;
}

/* Read from fd into buf (keeping room for a NUL); false at EOF. */
static bool drain(int fd, char *buf, size_t *len)
{
    char scratch[512];
    char *dst = *len + 1 < OUT_MAX ? buf + *len : scratch;
    size_t room = *len + 1 < OUT_MAX ? OUT_MAX - 1 - *len : sizeof scratch;
    ssize_t n = read(fd, dst, room);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    if (dst == buf + *len)
        *len += (size_t)n;
    buf[*len] = '\0';
    return true;
}

/* Run argv (argv[0] a path), capturing its output, for at most
 * timeout_ms; then it is killed. */
static void run_program(char **argv, int timeout_ms, run *r)
{
    exec_args a = {.argv = argv};
    memset(r, 0, sizeof *r);
    assert_int_equal(pipe(a.out), 0);
    assert_int_equal(pipe(a.err), 0);
    int64_t deadline = tu_now_ns() + (int64_t)timeout_ms * 1000000;
    pid_t pid = tu_fork(exec_child, &a);
    assert_true(pid > 0);
    close(a.out[1]);
    close(a.err[1]);

    /* Until both pipes reach EOF (the program and its child processes
     * have all closed them) or the deadline. */
    struct pollfd fds[2] = {{a.out[0], POLLIN, 0}, {a.err[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        int64_t left = (deadline - tu_now_ns()) / 1000000;
        if (left <= 0)
            break;
        int n = poll(fds, 2, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            bool more = i == 0 ? drain(fds[i].fd, r->out, &r->out_len)
                               : drain(fds[i].fd, r->err, &r->err_len);
            if (!more) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    int64_t left = (deadline - tu_now_ns()) / 1000000;
    r->status = tu_wait(pid, left > 0 ? (int)left : 1);
}

/* Show what a run printed (when it is not what the test expects). */
static void dump(const run *r)
{
    print_message("--- exit status %d; stdout:\n%s--- stderr:\n%s---\n",
                  r->status, r->out, r->err);
}

/* "2022-11-30 01:51:58.943425 <text>": the time in seconds and the text;
 * false if the line does not start with such a timestamp. */
static bool parse_line(const char *line, double *t, const char **text)
{
    static regex_t re;
    static bool compiled;
    if (!compiled) {
        assert_int_equal(
            regcomp(&re,
                    "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
                    "\\.[0-9]{6} ",
                    REG_EXTENDED | REG_NOSUB),
            0);
        compiled = true;
    }
    if (regexec(&re, line, 0, NULL, 0) != 0)
        return false;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(line, "%Y-%m-%d %H:%M:%S", &tm);
    if (!rest || *rest != '.')
        return false;
    tm.tm_isdst = -1;
    *t = (double)mktime(&tm) + strtol(rest + 1, NULL, 10) / 1e6;
    *text = line + 27; /* 26 characters of timestamp and a space */
    return true;
}

/* ping_pong 2.5: b answers at 0 s, a at 1 s, b at 2 s; the timer stops
 * both loops at 2.5 s; b's last answer is not handled; then "Done!". */
static void test_ping_pong_output(void **state)
{
    (void)state;
    char *argv[] = {SS_PING_PONG, "2.5", NULL};
    run *r = malloc(sizeof *r);
    assert_non_null(r);
    run_program(argv, 15000, r);
    if (r->status != 0 || r->err_len > 0)
        dump(r);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->err_len, 0);
    assert_true(r->out_len > 0);
    assert_int_equal(r->out[r->out_len - 1], '\n');

    char *lines[16];
    int n = 0;
    for (char *save = NULL, *l = strtok_r(r->out, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        assert_true(n < 16);
        lines[n++] = l;
    }
    /* At least two received signals (b's and a's), then "Done!"; no more
     * than the run time allows. */
    assert_in_range(n, 3, 5);

    double prev = 0;
    for (int i = 0; i < n; i++) {
        double t = 0;
        const char *text = "";
        if (!parse_line(lines[i], &t, &text))
            fail_msg("line %d has no timestamp like the seed's: \"%s\"", i + 1,
                     lines[i]);
        const char *want =
            i == n - 1     ? "Done!"
            : i == 0       ? "object: b received signal_a: Initial hello from A 1337"
            : i % 2 == 1   ? "object: a received signal_b: hello from B"
                           : "object: b received signal_a: hello from A 42";
        assert_string_equal(text, want);
        /* Each slot sleeps one second before it answers. */
        if (i > 0 && i < n - 1 && t - prev < 0.9)
            fail_msg("line %d came %.3f s after the previous one (want ~1 s)",
                     i + 1, t - prev);
        if (i > 0 && t < prev)
            fail_msg("line %d goes back in time", i + 1);
        prev = t;
    }
    free(r);
}

/* A bad run time is refused with a usage line and exit code 2. */
static void test_ping_pong_usage(void **state)
{
    (void)state;
    char *bad[] = {"abc", "0", "-1", "2s", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {SS_PING_PONG, bad[i], NULL};
        run *r = malloc(sizeof *r);
        assert_non_null(r);
        run_program(argv, 10000, r);
        if (r->status != 2 || r->out_len > 0)
            dump(r);
        assert_int_equal(r->status, 2);
        assert_int_equal(r->out_len, 0);
        assert_non_null(strstr(r->err, "usage:"));
        free(r);
    }
}

/* The whole of a file of the source tree, NUL-terminated (free it). */
static char *slurp(const char *relpath)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", SS_SOURCE_DIR, relpath);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Whether doc quotes, as a ```c block, the example file minus its first
 * line (a comment saying where it is quoted). */
static bool quotes_whole(const char *doc, const char *example)
{
    const char *body = strchr(example, '\n');
    assert_non_null(body);
    body++;
    size_t n = strlen(body);
    for (const char *b = strstr(doc, "```c\n"); b; b = strstr(b + 1, "```c\n"))
        if (strncmp(b + 5, body, n) == 0 && strncmp(b + 5 + n, "```", 3) == 0)
            return true;
    return false;
}

/* The code in the docs is the code that is built and run. */
static void test_docs_quote_examples(void **state)
{
    (void)state;
    char *readme = slurp("README.md");
    char *guide = slurp("docs/guide.md");
    char *ping_pong = slurp("examples/ping_pong.c");

    /* The README starts with its two commands. */
    const char *cmds = strstr(readme, "```bash\n");
    assert_non_null(cmds);
    assert_true(strncmp(cmds, "```bash\nmake demo", 17) == 0);
    assert_non_null(strstr(cmds, "\nmake test"));

    /* The README's ping-pong: a block that is a piece of ping_pong.c, with
     * its main(), copied exactly. */
    bool found = false;
    for (const char *b = strstr(readme, "```c\n"); b && !found;
         b = strstr(b + 1, "```c\n")) {
        const char *end = strstr(b + 5, "```");
        assert_non_null(end);
        size_t n = (size_t)(end - (b + 5));
        char *block = strndup(b + 5, n);
        assert_non_null(block);
        if (strstr(block, "ss_process_start")) {
            found = true;
            if (!strstr(ping_pong, block))
                fail_msg("README.md's ping-pong code differs from "
                         "examples/ping_pong.c");
            assert_non_null(strstr(block, "int main(int argc, char **argv)"));
        }
        free(block);
    }
    if (!found)
        fail_msg("README.md quotes no ping-pong code");

    static const struct {
        const char *doc, *example;
    } quotes[] = {
        {"README.md", "examples/queue_hello.c"},
        {"docs/guide.md", "examples/guide_threads.c"},
        {"docs/guide.md", "examples/guide_processes.c"},
        {"docs/guide.md", "examples/guide_timers.c"},
    };
    for (size_t i = 0; i < sizeof quotes / sizeof quotes[0]; i++) {
        char *ex = slurp(quotes[i].example);
        if (!quotes_whole(quotes[i].doc[0] == 'R' ? readme : guide, ex))
            fail_msg("%s does not quote %s as it is", quotes[i].doc,
                     quotes[i].example);
        free(ex);
    }
    free(ping_pong);
    free(guide);
    free(readme);
}

int main(void)
{
    tu_watchdog(40);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_quote_examples),
        cmocka_unit_test(test_ping_pong_usage),
        cmocka_unit_test(test_ping_pong_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_log.c - ss_log_set_handler(), ss_log_set_level(), ss_log_get_level(),
 * the SS_LOG_LEVEL environment variable and the default stderr handler.
 *
 * A log line is provoked by a failing call that reports what went wrong:
 * ss_queue_open() on a shared-memory object that is not a queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "signal_slot/error.h"
#include "signal_slot/log.h"
#include "signal_slot/queue.h"
#include "testutil.h"

/* ---- capture handler ---- */

#define MAX_LINES 512

struct line {
    int level;
    char component[64];
    char message[512];
    size_t message_len;
    void *user_data;
};

static pthread_mutex_t cap_mu = PTHREAD_MUTEX_INITIALIZER;
static struct line cap_lines[MAX_LINES];
static int cap_n;        /* lines stored */
static int cap_total;    /* lines received */
static int cap_bad;      /* malformed calls (NULL component / message) */

static void cap_reset(void)
{
    pthread_mutex_lock(&cap_mu);
    cap_n = 0;
    cap_total = 0;
    cap_bad = 0;
    pthread_mutex_unlock(&cap_mu);
}

static void capture(ss_log_level level, const char *component,
                    const char *message, void *user_data)
{
    pthread_mutex_lock(&cap_mu);
    cap_total++;
    if (!component || !message) {
        cap_bad++;
    } else if (cap_n < MAX_LINES) {
        struct line *l = &cap_lines[cap_n++];
        l->level = (int)level;
        snprintf(l->component, sizeof l->component, "%s", component);
        snprintf(l->message, sizeof l->message, "%s", message);
        l->message_len = strlen(message);
        l->user_data = user_data;
    }
    pthread_mutex_unlock(&cap_mu);
}

static int cap_count_level(int level)
{
    int c = 0;
    pthread_mutex_lock(&cap_mu);
    for (int i = 0; i < cap_n; i++)
        if (cap_lines[i].level == level)
            c++;
    pthread_mutex_unlock(&cap_mu);
    return c;
}

/* ---- a foreign shared-memory object to provoke a logged failure ---- */

static char foreign_name[64];

static int make_foreign(void)
{
    snprintf(foreign_name, sizeof foreign_name, "/ss-testlog-%d", (int)getpid());
    shm_unlink(foreign_name);
    int fd = shm_open(foreign_name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0)
        return -1;
    unsigned char garbage[4096];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (unsigned char)(0xA5 ^ (i * 7));
    memcpy(garbage, "NOT A QUEUE, JUST GARBAGE", 25);
    int ok = ftruncate(fd, 4096) == 0 &&
             pwrite(fd, garbage, sizeof garbage, 0) == (ssize_t)sizeof garbage;
    close(fd);
    return ok ? 0 : -1;
}

/* One failing call; returns its result (expected SS_EFOREIGN). */
static int provoke(void)
{
    ss_queue *q = (ss_queue *)(uintptr_t)0x1234;
    int rc = ss_queue_open(&q, foreign_name);
    if (rc == 0) {
        ss_queue_destroy(q);
        return 1000;
    }
    if (q != (ss_queue *)(uintptr_t)0x1234)
        return 1001; /* *out must be untouched on failure */
    return rc;
}

static int group_setup(void **state)
{
    (void)state;
    return make_foreign();
}

static int group_teardown(void **state)
{
    (void)state;
    shm_unlink(foreign_name);
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    ss_log_set_handler(NULL, NULL);
    ss_log_set_level(SS_LOG_INFO);
    return 0;
}

/* ---- tests ---- */

/* Must run first, before anything sets the level. */
static void test_default_level(void **state)
{
    (void)state;
    const char *env = getenv("SS_LOG_LEVEL");
    if (env != NULL)
        skip();
    assert_int_equal(ss_log_get_level(), SS_LOG_INFO);
}

static void test_set_get_level(void **state)
{
    (void)state;
    const ss_log_level levels[] = {SS_LOG_DEBUG, SS_LOG_ERROR, SS_LOG_WARN,
                                   SS_LOG_INFO, SS_LOG_ERROR, SS_LOG_DEBUG};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        ss_log_set_level(levels[i]);
        assert_int_equal(ss_log_get_level(), levels[i]);
    }
}

static int marker;

static void test_handler_receives_lines(void **state)
{
    (void)state;
    cap_reset();
    ss_log_set_level(SS_LOG_DEBUG);
    ss_log_set_handler(capture, &marker);
    assert_int_equal(provoke(), SS_EFOREIGN);

    pthread_mutex_lock(&cap_mu);
    int n = cap_n, total = cap_total, bad = cap_bad;
    pthread_mutex_unlock(&cap_mu);
    assert_int_equal(bad, 0);
    assert_int_equal(n, total);
    assert_true(n >= 1);
    int severe = 0;
    for (int i = 0; i < n; i++) {
        const struct line *l = &cap_lines[i];
        assert_true(l->level >= SS_LOG_ERROR && l->level <= SS_LOG_DEBUG);
        assert_true(strlen(l->component) > 0);
        assert_true(l->message_len > 0);
        assert_true(l->message[l->message_len - 1] != '\n');
        assert_ptr_equal(l->user_data, &marker);
        if (l->level <= SS_LOG_WARN)
            severe++;
    }
    /* Failing to open a foreign object is reported as an error or warning. */
    assert_true(severe >= 1);
}

/* Lines less severe than the threshold never reach the handler; lines at
 * or above it all do. */
static void test_level_filtering(void **state)
{
    (void)state;
    int per_level[4];

    cap_reset();
    ss_log_set_handler(capture, NULL);
    ss_log_set_level(SS_LOG_DEBUG);
    assert_int_equal(provoke(), SS_EFOREIGN);
    for (int l = 0; l < 4; l++)
        per_level[l] = cap_count_level(l);
    assert_true(per_level[SS_LOG_ERROR] + per_level[SS_LOG_WARN] >= 1);

    for (int t = SS_LOG_ERROR; t <= SS_LOG_DEBUG; t++) {
        cap_reset();
        ss_log_set_level((ss_log_level)t);
        assert_int_equal(provoke(), SS_EFOREIGN);
        for (int l = 0; l < 4; l++) {
            int got = cap_count_level(l);
            if (l <= t)
                assert_int_equal(got, per_level[l]);
            else
                assert_int_equal(got, 0);
        }
    }
}

/* Replacing the handler routes lines to the new one only. */
static int other_count;
static void other_handler(ss_log_level level, const char *component,
                          const char *message, void *user_data)
{
    (void)level;
    (void)component;
    (void)message;
    if (user_data == &other_count)
        __atomic_fetch_add(&other_count, 1, __ATOMIC_RELAXED);
}

static void test_replace_handler(void **state)
{
    (void)state;
    ss_log_set_level(SS_LOG_DEBUG);
    cap_reset();
    other_count = 0;
    ss_log_set_handler(capture, NULL);
    assert_int_equal(provoke(), SS_EFOREIGN);
    pthread_mutex_lock(&cap_mu);
    int first = cap_total;
    pthread_mutex_unlock(&cap_mu);
    assert_true(first >= 1);

    ss_log_set_handler(other_handler, &other_count);
    assert_int_equal(provoke(), SS_EFOREIGN);
    pthread_mutex_lock(&cap_mu);
    int after = cap_total;
    pthread_mutex_unlock(&cap_mu);
    assert_int_equal(after, first);
    assert_int_equal(__atomic_load_n(&other_count, __ATOMIC_RELAXED), first);
}

/* NULL restores the default handler, which writes to stderr: the message
 * and the pid appear there, one line each, and the old handler sees
 * nothing more. */
static void test_restore_default_stderr(void **state)
{
    (void)state;
    ss_log_set_level(SS_LOG_DEBUG);
    cap_reset();
    ss_log_set_handler(capture, NULL);
    assert_int_equal(provoke(), SS_EFOREIGN);
    pthread_mutex_lock(&cap_mu);
    int first = cap_total;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", cap_n > 0 ? cap_lines[0].message : "");
    pthread_mutex_unlock(&cap_mu);
    assert_true(first >= 1);
    assert_true(strlen(msg) > 0);

    ss_log_set_handler(NULL, NULL);

    char path[] = "/tmp/ss-testlog-stderr-XXXXXX";
    int tmp = mkstemp(path);
    assert_true(tmp >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(tmp, 2) == 2);
    int rc = provoke();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(rc, SS_EFOREIGN);

    pthread_mutex_lock(&cap_mu);
    int after = cap_total;
    pthread_mutex_unlock(&cap_mu);
    assert_int_equal(after, first);

    char out[16384];
    ssize_t len = pread(tmp, out, sizeof out - 1, 0);
    close(tmp);
    assert_true(len > 0);
    out[len] = '\0';
    assert_non_null(strstr(out, msg));
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    assert_non_null(strstr(out, pid));
    /* Each line is terminated by a newline, as many lines as before. */
    assert_int_equal(out[len - 1], '\n');
    int newlines = 0;
    for (ssize_t i = 0; i < len; i++)
        if (out[i] == '\n')
            newlines++;
    assert_int_equal(newlines, first);
}

/* The handler is inherited by a forked child. */
static int child_provoke(void *arg)
{
    (void)arg;
    cap_reset();
    if (provoke() != SS_EFOREIGN)
        return 2;
    pthread_mutex_lock(&cap_mu);
    int n = cap_total;
    pthread_mutex_unlock(&cap_mu);
    return n >= 1 ? 0 : 3;
}

static void test_handler_inherited_by_fork(void **state)
{
    (void)state;
    ss_log_set_level(SS_LOG_DEBUG);
    ss_log_set_handler(capture, NULL);
    cap_reset();
    pid_t pid = tu_fork(child_provoke, NULL);
    assert_true(pid > 0);
    assert_int_equal(tu_wait(pid, 20000), 0);
    /* The child's lines went to the child's copy, not to us. */
    pthread_mutex_lock(&cap_mu);
    int n = cap_total;
    pthread_mutex_unlock(&cap_mu);
    assert_int_equal(n, 0);
}

/* The handler may be called concurrently from many threads: every line
 * reaches it exactly once. */
#define LOG_THREADS 4
#define LOG_ROUNDS 25

static void *provoke_thread(void *arg)
{
    (void)arg;
    uintptr_t bad = 0;
    for (int i = 0; i < LOG_ROUNDS; i++)
        if (provoke() != SS_EFOREIGN)
            bad++;
    return (void *)bad;
}

static void test_concurrent_logging(void **state)
{
    (void)state;
    ss_log_set_level(SS_LOG_DEBUG);
    ss_log_set_handler(capture, NULL);
    cap_reset();
    assert_int_equal(provoke(), SS_EFOREIGN);
    pthread_mutex_lock(&cap_mu);
    int per_call = cap_total;
    pthread_mutex_unlock(&cap_mu);
    assert_true(per_call >= 1);

    cap_reset();
    pthread_t t[LOG_THREADS];
    for (int i = 0; i < LOG_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, provoke_thread, NULL), 0);
    for (int i = 0; i < LOG_THREADS; i++) {
        void *r;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_int_equal((uintptr_t)r, 0);
    }
    pthread_mutex_lock(&cap_mu);
    int total = cap_total, bad = cap_bad;
    pthread_mutex_unlock(&cap_mu);
    assert_int_equal(bad, 0);
    assert_int_equal(total, per_call * LOG_THREADS * LOG_ROUNDS);
}

/* SS_LOG_LEVEL read on first use: checked in a fresh exec of this program. */
struct env_case {
    const char *value;
    int expected;
};

static int exec_env_child(void *arg)
{
    const struct env_case *c = arg;
    char expected[16];
    snprintf(expected, sizeof expected, "%d", c->expected);
    if (setenv("SS_LOG_LEVEL", c->value, 1) != 0)
        return 126;
    char *argv[] = {(char *)"test_log", (char *)"--env-child", expected,
                    foreign_name, NULL};
    execv("/proc/self/exe", argv);
    return 127;
}

static int env_child_main(int expected, const char *name)
{
    snprintf(foreign_name, sizeof foreign_name, "%s", name);
    if ((int)ss_log_get_level() != expected)
        return 10 + (int)ss_log_get_level();
    /* The threshold from the environment really filters. */
    ss_log_set_handler(capture, NULL);
    if (provoke() != SS_EFOREIGN)
        return 20;
    pthread_mutex_lock(&cap_mu);
    for (int i = 0; i < cap_n; i++) {
        if (cap_lines[i].level > expected) {
            pthread_mutex_unlock(&cap_mu);
            return 30;
        }
    }
    pthread_mutex_unlock(&cap_mu);
    return 0;
}

static void test_env_level(void **state)
{
    (void)state;
    static const struct env_case cases[] = {
        {"error", SS_LOG_ERROR},
        {"warn", SS_LOG_WARN},
        {"info", SS_LOG_INFO},
        {"debug", SS_LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pid_t pid = tu_fork(exec_env_child, (void *)&cases[i]);
        assert_true(pid > 0);
        int code = tu_wait(pid, 20000);
        if (code != 0)
            fail_msg("SS_LOG_LEVEL=%s: child exit %d", cases[i].value, code);
    }
}

int main(int argc, char **argv)
{
    tu_watchdog(55);
    if (argc >= 4 && strcmp(argv[1], "--env-child") == 0)
        return env_child_main(atoi(argv[2]), argv[3]);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_level),
        cmocka_unit_test_teardown(test_set_get_level, test_teardown),
        cmocka_unit_test_teardown(test_handler_receives_lines, test_teardown),
        cmocka_unit_test_teardown(test_level_filtering, test_teardown),
        cmocka_unit_test_teardown(test_replace_handler, test_teardown),
        cmocka_unit_test_teardown(test_restore_default_stderr, test_teardown),
        cmocka_unit_test_teardown(test_handler_inherited_by_fork, test_teardown),
        cmocka_unit_test_teardown(test_concurrent_logging, test_teardown),
        cmocka_unit_test_teardown(test_env_level, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

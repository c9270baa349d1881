/*
 * log.c - the library's one logging path: level filter, user handler, and a
 * default stderr handler that prints time, pid, thread and context name.
 */
#include "ss_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static ss_log_fn log_fn;       /* guarded by log_mu; NULL = default */
static void *log_user_data;    /* guarded by log_mu */
static atomic_int log_level = -1; /* -1: not yet read from SS_LOG_LEVEL */
static _Thread_local char log_context[48];

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

static int level_from_env(void)
{
    const char *s = getenv("SS_LOG_LEVEL");
    if (s) {
        for (int i = 0; i < 4; i++)
            if (strcasecmp(s, level_names[i]) == 0)
                return i;
        if (strcasecmp(s, "warning") == 0)
            return SS_LOG_WARN;
    }
    return SS_LOG_INFO;
}

SS_API ss_log_level ss_log_get_level(void)
{
    int l = atomic_load_explicit(&log_level, memory_order_relaxed);
    if (l < 0) {
        int env = level_from_env();
        atomic_compare_exchange_strong(&log_level, &l, env);
        l = atomic_load_explicit(&log_level, memory_order_relaxed);
    }
    return (ss_log_level)l;
}

SS_API void ss_log_set_level(ss_log_level level)
{
    if ((int)level < SS_LOG_ERROR)
        level = SS_LOG_ERROR;
    if (level > SS_LOG_DEBUG)
        level = SS_LOG_DEBUG;
    atomic_store(&log_level, (int)level);
}

SS_API void ss_log_set_handler(ss_log_fn fn, void *user_data)
{
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_user_data = user_data;
    pthread_mutex_unlock(&log_mu);
}

void ss__log_set_context(const char *name)
{
    if (!name)
        name = "";
    snprintf(log_context, sizeof log_context, "%s", name);
}

static void default_handler(ss_log_level level, const char *component,
                            const char *message)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    /* One fprintf per line: stdio locks the stream, so lines from threads
     * do not interleave. */
    fprintf(stderr, "%s.%06ld [%d:%ld%s%s] %s %s: %s\n", when,
            ts.tv_nsec / 1000, (int)ss__getpid(), (long)syscall(SYS_gettid),
            log_context[0] ? " " : "", log_context, level_names[level],
            component, message);
}

void ss__log(ss_log_level level, const char *component, const char *fmt, ...)
{
    if ((int)level > (int)ss_log_get_level())
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&log_mu);
    ss_log_fn fn = log_fn;
    void *ud = log_user_data;
    pthread_mutex_unlock(&log_mu);
    if (fn)
        fn(level, component, msg, ud);
    else
        default_handler(level, component, msg);
}

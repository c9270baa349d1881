/*
 * signal_slot/log.h - library logging.
 *
 * Everything the library reports goes through one function. By default a
 * line goes to stderr carrying the wall-clock time, the pid, the thread id,
 * the level and the message. ss_log_set_handler() routes every line to the
 * caller instead (the seed's configure_logger).
 */
#ifndef SIGNAL_SLOT_LOG_H
#define SIGNAL_SLOT_LOG_H

#include "signal_slot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Severity of a log line, most severe first. */
typedef enum ss_log_level {
    SS_LOG_ERROR = 0,
    SS_LOG_WARN = 1,
    SS_LOG_INFO = 2,
    SS_LOG_DEBUG = 3,
} ss_log_level;

/*
 * ss_log_fn - a log handler. Receives the level, a short component name
 * ("queue", "loop", ...), the formatted message (NUL-terminated, no trailing
 * newline; valid only during the call) and the user_data given to
 * ss_log_set_handler(). It may be called from any thread of any process that
 * uses the library, concurrently: it must be thread-safe and must not call
 * back into the library.
 */
typedef void (*ss_log_fn)(ss_log_level level, const char *component,
                          const char *message, void *user_data);

/*
 * ss_log_set_handler - route all library logging to fn (NULL restores the
 * default stderr handler). The setting is per process and is inherited by
 * forked children. Thread-safe, but lines being logged concurrently may still
 * reach the previous handler.
 */
SS_API void ss_log_set_handler(ss_log_fn fn, void *user_data);

/*
 * ss_log_set_level - lines less severe than level are dropped before
 * formatting. Default SS_LOG_INFO, or the value of the environment variable
 * SS_LOG_LEVEL (error, warn, info, debug) read on first use. Thread-safe.
 */
SS_API void ss_log_set_level(ss_log_level level);

/* ss_log_get_level - the current threshold. Thread-safe. */
SS_API ss_log_level ss_log_get_level(void);

#ifdef __cplusplus
}
#endif
#endif /* SIGNAL_SLOT_LOG_H */

/*
 * signal_slot/process.h - loops in processes of their own.
 *
 * A loop process is created in the parent with its loop; objects are placed
 * on ss_process_loop() and connected, in every direction, before
 * ss_process_start() forks the child, which inherits them (as in the seed)
 * and runs the loop. Signals emitted to the loop before the start wait in
 * its queue and are delivered once it runs. Connecting to an object of a
 * process that already runs returns SS_ENOTSUP.
 *
 * The handle belongs to the parent; call its functions from the parent's
 * threads (start, stop, kill and join from one thread at a time).
 */
#ifndef SIGNAL_SLOT_PROCESS_H
#define SIGNAL_SLOT_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "signal_slot/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ss_process ss_process;

/* ss_process_init_fn - runs in the child, before its loop, with the
 * user_data given to ss_process_start(). */
typedef void (*ss_process_init_fn)(ss_process *process, void *user_data);

/*
 * ss_process_new - a loop process named name (also its loop's name), not
 * started. opts as for ss_loop_new(). *out is the caller's: free it with
 * ss_process_free() once joined (or never started).
 */
SS_API int ss_process_new(ss_process **out, const char *name,
                          const ss_loop_options *opts);

/* ss_process_loop - the process's loop, to place objects on. */
SS_API ss_loop *ss_process_loop(ss_process *process);

/*
 * ss_process_start - fork the child: it dies with its parent (no orphans),
 * runs init (may be NULL) and then its loop until stopped, and exits with
 * 0 if the loop stopped normally, 2 if interrupted by SIGINT, 1 otherwise.
 * Errors: SS_ESTATE (started already), SS_ESYS.
 */
SS_API int ss_process_start(ss_process *process, ss_process_init_fn init,
                            void *user_data);

/* ss_process_stop - graceful stop through the loop (ss_loop_stop()). */
SS_API int ss_process_stop(ss_process *process);

/* ss_process_kill - send sig (SIGTERM, SIGKILL...) to the child. */
SS_API int ss_process_kill(ss_process *process, int sig);

/*
 * ss_process_join - wait at most timeout_ns (SS_WAIT_FOREVER: no limit) for
 * the child to end, and reap it. *status (may be NULL) receives its exit
 * code (0..255), or 128 + the signal that killed it. Errors: SS_ETIMEDOUT
 * (still running; not reaped), SS_ESTATE (not started or joined already).
 */
SS_API int ss_process_join(ss_process *process, int64_t timeout_ns,
                           int *status);

/* ss_process_is_alive - started and not yet ended. Does not reap. */
SS_API bool ss_process_is_alive(ss_process *process);

/* ss_process_pid - the child's pid, 0 before the start. */
SS_API pid_t ss_process_pid(const ss_process *process);

/* ss_process_name - the process's (and its loop's) name. */
SS_API const char *ss_process_name(const ss_process *process);

/*
 * ss_process_free - release the handle and the parent's copy of the loop.
 * A child still running is killed (SIGKILL) and reaped first.
 */
SS_API void ss_process_free(ss_process *process);

#ifdef __cplusplus
}
#endif
#endif /* SIGNAL_SLOT_PROCESS_H */

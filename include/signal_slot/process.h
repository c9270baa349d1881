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
 *
 * A thread of the parent forks the child, so the child is a copy of the
 * program made from that thread: its loop runs on that thread's stack (of
 * the default size), and it dies with the parent process whichever thread
 * started it. That thread then watches the child, asleep in waitpid(): it
 * reaps it the moment it ends, closes its queue (so that emitters anywhere
 * count their messages to it as drops instead of filling a queue nobody
 * reads), and emits the signal "exited" of the process object
 * (ss_process_object()). The program must therefore not reap the child
 * itself (waitpid(-1, ...) would race with the watcher).
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

/* What a loop process does on SIGINT (Ctrl-C in a terminal sends it to
 * the parent and every child of its process group). */
typedef enum ss_sigint_mode {
    /* Its loop stops, as the parent's loops do (the run returns
     * SS_LOOP_INTERRUPTED; the child exits with 2). The default. */
    SS_SIGINT_STOP = 0,
    /* The child ignores SIGINT and keeps running until the parent stops it
     * (ss_process_stop()), so that the parent can shut it down in order. */
    SS_SIGINT_IGNORE = 1,
} ss_sigint_mode;

/* ss_process_init_fn - runs in the child, before its loop, with the
 * user_data given to ss_process_start(). */
typedef void (*ss_process_init_fn)(ss_process *process, void *user_data);

/*
 * ss_process_new - a loop process named name (also its loop's name), not
 * started. opts as for ss_loop_new(). *out is the caller's: free it with
 * ss_process_free() once joined (or never started). Errors: as
 * ss_loop_new() (SS_EINVAL, SS_ENAMETOOLONG, SS_EEXIST, SS_ENOMEM...).
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

/*
 * ss_process_set_sigint - choose what the child does on SIGINT. Before
 * ss_process_start() only (else SS_ESTATE). Errors: SS_EINVAL.
 */
SS_API int ss_process_set_sigint(ss_process *process, ss_sigint_mode mode);

/*
 * ss_process_object - the process as an object in the parent: its loop's
 * object (its id is the process name), which has, besides "started" and
 * "terminated", the signal "exited" with signature "ii": (exit code, or -1
 * if a signal killed it; that signal's number, or 0). The parent emits it
 * from its watcher thread once the child has ended, for whatever reason, so
 * connect it (before or after the start) to a slot on a loop of the parent
 * to learn which process died and how.
 */
SS_API ss_object *ss_process_object(ss_process *process);

/* ss_process_stop - graceful stop through the loop (ss_loop_stop()); also
 * before the start (the child then stops once it has handled what was
 * queued before). Errors: SS_ESTATE (it has ended), queue errors. */
SS_API int ss_process_stop(ss_process *process);

/* ss_process_kill - send sig (SIGKILL, SIGUSR1...) to the child.
 * Errors: SS_ESTATE (not started, or ended and reaped), SS_ESYS. */
SS_API int ss_process_kill(ss_process *process, int sig);

/* ss_process_terminate - send SIGTERM, which ends the child (as the
 * seed's terminate()); errors as ss_process_kill(). */
SS_API int ss_process_terminate(ss_process *process);

/*
 * ss_process_join - wait at most timeout_ns (SS_WAIT_FOREVER: no limit) for
 * the child to end. *status (may be NULL) receives its exit code (0..255),
 * or 128 + the signal that killed it. Joining again returns the same
 * status at once. A timeout beyond the clock's range (INT64_MAX) waits
 * forever. Errors: SS_EINVAL (NULL), SS_ETIMEDOUT (still running),
 * SS_ESTATE (not started).
 */
SS_API int ss_process_join(ss_process *process, int64_t timeout_ns,
                           int *status);

/* ss_process_is_alive - started and not yet ended. Does not block. */
SS_API bool ss_process_is_alive(ss_process *process);

/*
 * ss_process_exit_status - the child's status once it has ended (as
 * ss_process_join() gives it), without waiting. Errors: SS_ESTATE (not
 * started, or still running), SS_EINVAL.
 */
SS_API int ss_process_exit_status(const ss_process *process, int *status);

/* ss_process_pid - the child's pid, 0 before the start. */
SS_API pid_t ss_process_pid(const ss_process *process);

/* ss_process_name - the process's (and its loop's) name. */
SS_API const char *ss_process_name(const ss_process *process);

/*
 * ss_process_free - release the handle and the parent's copy of the loop.
 * A child still running is killed (SIGKILL) and reaped first, and the
 * watcher thread joined. Not from a slot of the "exited" signal.
 */
SS_API void ss_process_free(ss_process *process);

/*
 * Loops run by processes that something else started: a language
 * runtime's (Python's multiprocessing, which must fork on its own
 * thread, or start a fresh interpreter), or a supervisor. The loop is
 * created (and published, if another program must open it) in the
 * parent, objects placed on it and connected as for ss_process_new();
 * the child, which inherited the loop by fork or attached to it, calls
 * ss_loop_adopt() before it runs it; the parent calls
 * ss_loop_set_process() once the child runs, and ss_loop_process_ended()
 * once it has reaped it. Between the two, the loop behaves in both
 * processes as a started loop process's does.
 */

/*
 * ss_loop_attach - in a process started apart from the loop's creator (a
 * fresh interpreter: Python's spawn), a loop of this process standing for
 * the published loop name of the domain (signal_slot/registry.h), on the
 * same queue: what was emitted to it waits there. Not a handle
 * (ss_loop_open()): it has objects, signals and connections of this
 * process like any loop, and the messages of its objects carry their
 * names, so that a process holding the same graph (its creator)
 * resolves them as it resolves a forked child's. It runs nowhere here
 * until ss_loop_adopt() (this process runs it) or ss_loop_set_process()
 * (another does); until then connections to and from it can be made, as
 * before a fork. Free it with ss_loop_free(). Errors: SS_EINVAL,
 * SS_ENAMETOOLONG, SS_ENOENT (not published in the domain), SS_EEXIST (a
 * loop of that name exists in this process), the errors of
 * ss_queue_open(), SS_EREGISTRY, SS_ENOMEM.
 */
SS_API int ss_loop_attach(ss_loop **out, const char *name);

/*
 * ss_loop_attach_fd - ss_loop_attach() for a loop that is not published:
 * its queue's memory is the descriptor fd (ss_queue_fd() of
 * ss_loop_queue() in its creator, whose loops keep theirs; passed to this
 * process across exec or over a Unix socket). fd stays the caller's.
 * Errors: SS_EINVAL, SS_ENAMETOOLONG, SS_EEXIST, the errors of
 * ss_queue_open_fd(), SS_ENOMEM.
 */
SS_API int ss_loop_attach_fd(ss_loop **out, const char *name, int fd);

/*
 * ss_loop_adopt - in the child: this process runs loop from now on
 * (connections to it are made here; a published loop's registry entry
 * names this process as its owner, so that its death is noticed).
 * Errors: SS_EINVAL (NULL, a handle from ss_loop_open()).
 */
SS_API int ss_loop_adopt(ss_loop *loop);

/*
 * ss_loop_set_process - in the parent: loop runs in process pid from now
 * on (connecting to its objects returns SS_ENOTSUP, as for a started loop
 * process). Errors: SS_EINVAL (NULL, a handle, pid <= 0).
 */
SS_API int ss_loop_set_process(ss_loop *loop, pid_t pid);

/*
 * ss_loop_process_ended - in the parent, once the process running loop
 * has ended (code: its exit code or -1; sig: the signal that killed it or
 * 0): its queue is closed (emissions to it become counted drops at once),
 * what it still held is counted as dropped, and a published loop's entry
 * says it ended, as ss_process's watcher does. Returns the number of
 * messages dropped from its queue, or 0. NULL: 0.
 */
SS_API uint64_t ss_loop_process_ended(ss_loop *loop, int code, int sig);

#ifdef __cplusplus
}
#endif
#endif /* SIGNAL_SLOT_PROCESS_H */

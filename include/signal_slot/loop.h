/*
 * signal_slot/loop.h - event loops, objects, typed signals, slots, timers.
 *
 * An application is a set of event loops. Each loop runs on one thread (the
 * caller's, or a thread of its own) and owns one inbound queue
 * (signal_slot/queue.h): every signal delivered to a loop is a message in
 * that queue, also between loops of one process, so that a loop can later
 * live in another process unchanged.
 *
 * Objects live on one loop each and have an id unique on that loop. An
 * object declares named signals with a type signature (signal_slot/payload.h)
 * and any function (object, arguments, user_data) can be a slot. Emitting a
 * signal encodes its arguments once and puts one message into the queue of
 * every distinct loop that has a slot connected to it; that loop then calls
 * each connected slot living on it, in its own thread, in emission order.
 *
 * Threads: objects, signals and connections are set up from any thread, and
 * a process-wide lock keeps the tables consistent; emitting is allowed from
 * any thread; a slot runs on its receiver's loop thread. Timers are driven by
 * their loop and must be started, stopped and changed from that loop's
 * thread (or before it runs).
 */
#ifndef SIGNAL_SLOT_LOOP_H
#define SIGNAL_SLOT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signal_slot/error.h"
#include "signal_slot/payload.h"
#include "signal_slot/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest object id, loop name or signal name, in bytes (without NUL). */
#define SS_NAME_MAX 63

typedef struct ss_loop ss_loop;
typedef struct ss_args ss_args;
typedef struct ss__signal ss__signal;

/*
 * An object living on a loop. Embed it in your own struct (container_of
 * style) and initialise it with ss_object_init(); its fields are private.
 */
typedef struct ss_object {
    ss_loop *loop_;
    char id_[SS_NAME_MAX + 1];
    ss__signal *signals_;
    struct ss_object *next_;
    uint32_t flags_;
} ss_object;

/*
 * ss_slot_fn - a slot: called on the receiver's loop thread with the
 * receiver, the signal's arguments (valid only during the call) and the
 * user_data given to ss_connect().
 */
typedef void (*ss_slot_fn)(ss_object *receiver, const ss_args *args,
                           void *user_data);

/*
 * ss_destroy_fn - releases the user_data of a connection or subscription
 * made with ss_connect_data() or ss_subscribe_data(), once the library is
 * done with it.
 */
typedef void (*ss_destroy_fn)(void *user_data);

/* Default of ss_loop_options.emit_wait_ns. */
#define SS_EMIT_WAIT_DEFAULT_NS SS_MSEC(50)

/* Loop creation options. Initialise with ss_loop_options_init(). */
typedef struct ss_loop_options {
    /* Inbound queue ring bytes; 0: 1 MiB. A sixteenth of it (at least
     * 512 bytes, at most 64 KiB, never over a quarter) is kept for
     * control messages: a signal larger than the rest can never be
     * delivered (SS_EMSGSIZE). */
    size_t queue_capacity;
    uint32_t spin_ns;      /* spin before sleeping; default 20 us */
    /* The longest an emission to this loop waits for another thread or
     * process that is putting into its queue (holding its producer side,
     * for a copy): beyond it, the emission drops its message for this loop
     * (counted, SS_EBUSY). A holder that is stopped (SIGSTOP, a debugger)
     * or asleep (frozen) is not waited for: found so within about a
     * millisecond, then given up on at once (where /proc can tell; where
     * it cannot, or a freezer shows it running, after emit_wait_ns).
     * 0: SS_EMIT_WAIT_DEFAULT_NS. */
    int64_t emit_wait_ns;
    /* Publish the loop in this process's domain (signal_slot/registry.h)
     * under its name, which must then be unique in the domain and made of
     * [A-Za-z0-9._-]: any process of this user can then find it
     * (ss_loop_open()), ss-ls lists it, and its queue is a named one. */
    bool publish;
} ss_loop_options;

/* What ss_loop_run() returns when it did not fail. */
enum ss_loop_status {
    SS_LOOP_STOPPED = 0,     /* ss_loop_stop() was handled */
    SS_LOOP_INTERRUPTED = 1, /* SIGINT arrived */
};

/* ss_loop_options_init - the defaults: 1 MiB queue, 20 us spin,
 * SS_EMIT_WAIT_DEFAULT_NS. */
SS_API void ss_loop_options_init(ss_loop_options *opts);

/*
 * ss_loop_new - create a loop named name (1..SS_NAME_MAX bytes; unique in
 * the process) with its inbound queue. The loop is also an object on itself
 * (ss_loop_object()), whose id is its name and which has the signals
 * "started" and "terminated" (signature ""). *out is owned by the caller:
 * ss_loop_free(). Errors: SS_EINVAL (NULL out, empty name, negative
 * emit_wait_ns), SS_ENAMETOOLONG (name over SS_NAME_MAX), SS_EEXIST (name
 * taken), SS_ENOMEM, the errors of ss_queue_create().
 */
SS_API int ss_loop_new(ss_loop **out, const char *name,
                       const ss_loop_options *opts);

/*
 * ss_loop_free - destroy a loop that is not running: its objects are
 * detached (not freed: they belong to their owners) and its queue released.
 */
SS_API void ss_loop_free(ss_loop *loop);

/* ss_loop_name - the loop's name. */
SS_API const char *ss_loop_name(const ss_loop *loop);

/*
 * ss_loop_set_data, ss_loop_get_data - a pointer of the caller's kept with
 * the loop (NULL at first), for a binding to find its own state from a
 * loop; the library never uses it. Any thread; a loop process's child
 * inherits it.
 */
SS_API void ss_loop_set_data(ss_loop *loop, void *data);
SS_API void *ss_loop_get_data(const ss_loop *loop);

/* ss_loop_object - the loop as an object on itself. */
SS_API ss_object *ss_loop_object(ss_loop *loop);

/* ss_loop_queue - the loop's inbound queue (for introspection). */
SS_API ss_queue *ss_loop_queue(ss_loop *loop);

/*
 * ss_loop_pending - how many messages, and payload bytes, wait in loop's
 * queue (any loop: of this process, a loop process, a handle from
 * ss_loop_open()); msgs or bytes may be NULL. A snapshot: others put and
 * take meanwhile. Never blocks; any thread. 0, SS_EINVAL, or
 * SS_ECORRUPT (the queue is damaged; the figures are filled all the same).
 */
SS_API int ss_loop_pending(ss_loop *loop, size_t *msgs, size_t *bytes);

/*
 * ss_loop_max_msg_size - the largest signal message this loop's queue
 * takes: its ring minus the room kept for control (ss_loop_options) and
 * the record header. A message holds the emitter's loop, object and
 * signal names (3 bytes plus their lengths, plus 1) and the encoded
 * arguments; ss_emit() of a larger one is dropped with SS_EMSGSIZE. 0 for
 * NULL. Never blocks; any thread.
 */
SS_API size_t ss_loop_max_msg_size(const ss_loop *loop);

/*
 * ss_loop_run - run the loop on the calling thread until it is stopped.
 * Emits "started" first. Each iteration fires the timers that are due,
 * dispatches every message received, in order, then waits for the next
 * timer deadline or message. Returns SS_LOOP_STOPPED, SS_LOOP_INTERRUPTED
 * (SIGINT, when the process had no SIGINT handler of its own) or an SS_E*
 * error. Emits "terminated" on the way out.
 */
SS_API int ss_loop_run(ss_loop *loop);

/*
 * ss_loop_run_once - one iteration, waiting at most timeout_ns for work
 * (SS_NO_WAIT: none), for embedding the loop in another. Returns 0 (also
 * once a stop was handled: ask ss_loop_stopped()) or an SS_E* error.
 */
SS_API int ss_loop_run_once(ss_loop *loop, int64_t timeout_ns);

/*
 * ss_dispatch_hook - called by a loop's thread around a run of slot calls
 * (ss_loop_set_dispatch_hooks()).
 */
typedef void (*ss_dispatch_hook)(ss_loop *loop, void *user_data);

/*
 * ss_loop_set_dispatch_hooks - have loop's thread call begin(loop,
 * user_data) before it calls the slots of a run of messages it took from
 * its queue, and end(loop, user_data) after the last of them returned
 * (and the destroy callbacks of connections dropped meanwhile ran), so
 * that a language binding takes its interpreter's lock once per run
 * instead of once per slot. A run holds up to a whole batch (hundreds of
 * signals); the hooks are not called for a run with no slot to call.
 * Runs nest when a slot runs the loop again (ss_loop_run_once()): begin
 * and end then pair up on each level. Either may be NULL; NULL for both
 * removes them. Before the loop runs, or from its own thread; a loop
 * process inherits them. Errors: SS_EINVAL, SS_ESTATE (the loop runs on
 * another thread).
 */
SS_API int ss_loop_set_dispatch_hooks(ss_loop *loop, ss_dispatch_hook begin,
                                      ss_dispatch_hook end, void *user_data);

/*
 * ss_loop_clear_stop - forget a stop the loop handled, so that
 * ss_loop_run_once() runs iterations again (as ss_loop_run() does when
 * it starts): for a caller that runs the loop with ss_loop_run_once()
 * only. Loop thread, or while the loop does not run.
 */
SS_API void ss_loop_clear_stop(ss_loop *loop);

/* ss_loop_stopped - whether the loop handled a stop (it runs no more
 * iterations until ss_loop_run() starts it again). */
SS_API bool ss_loop_stopped(const ss_loop *loop);

/*
 * ss_loop_fd - a descriptor that polls readable (POLLIN) whenever the loop
 * has messages to handle, so that the loop can live inside epoll, libuv or
 * GLib: when it is readable, call ss_loop_run_once(loop, SS_NO_WAIT); wake
 * up for timers after ss_loop_next_timeout(). Created on the first call
 * (from then on every delivery to this loop also writes to it), closed by
 * ss_loop_free(); the caller must not close it. Returns the fd or an SS_E*
 * code. Any thread.
 */
SS_API int ss_loop_fd(ss_loop *loop);

/*
 * ss_loop_next_timeout - nanoseconds until the loop's next timer is due
 * (0 if one is due now), or -1 if it has no active timer. A timer whose
 * deadline saturated (ss_timer_init()) gives about INT64_MAX: treat any
 * value beyond your wait's range as "no timer". Loop thread.
 */
SS_API int64_t ss_loop_next_timeout(ss_loop *loop);

/*
 * ss_loop_stop - ask the loop to stop: a stop message is queued, so every
 * message queued before it is handled first; the loop then returns. Every
 * message queued after it stays in the queue: the next ss_loop_run()
 * handles it first, in order (Qt's rule); a loop process, which exits
 * after its stop, counts them as dropped (ss_loop_dropped()). The stop is
 * control traffic: a queue full of data still takes it (data leaves a
 * part of the ring free for it), as it takes the timeouts of the loop's
 * own timers, its "started" and "terminated", and process "exited"
 * notices. Callable from any thread, also before the loop runs; from
 * another thread it waits up to a second for room, and for a busy
 * producer side as an emission does. Errors: SS_EAGAIN / SS_ETIMEDOUT
 * (no room even for control), SS_EBUSY (its queue held by a process that
 * is stopped or frozen in the middle of a put: try again once it goes
 * on), SS_ECLOSED (a loop process, or the loop behind a handle, that has
 * ended: logged at debug level only), SS_ECORRUPT, SS_ESTATE
 * (this thread holds a zero-copy read on the loop's queue), SS_EINVAL.
 */
SS_API int ss_loop_stop(ss_loop *loop);

/*
 * ss_loop_stop_slot - a slot that stops the loop its receiver lives on, so
 * that a signal can stop a loop: connect any signal to it with the loop's
 * object (ss_loop_object()) as receiver. Accepts any signature.
 */
SS_API void ss_loop_stop_slot(ss_object *receiver, const ss_args *args,
                              void *user_data);

/*
 * ss_loop_start_thread - run the loop (ss_loop_run) on a new thread.
 * Errors: SS_ESTATE (already running), SS_ESYS.
 */
SS_API int ss_loop_start_thread(ss_loop *loop);

/*
 * ss_loop_join_thread - wait for the loop's thread to end; *status (may be
 * NULL) receives what ss_loop_run() returned. Errors: SS_ESTATE (no thread).
 */
SS_API int ss_loop_join_thread(ss_loop *loop, int *status);

/*
 * ss_loop_dropped - messages for this loop lost, ever, as this process
 * counts them: emissions from this process that its queue refused (full,
 * too large, ended: emission never blocks) and, for a loop process, what
 * its queue still held when it ended (queued behind its stop, or not read
 * before it died), counted in the parent once it has ended (before
 * ss_process_join() returns). Never blocks; any thread.
 */
SS_API uint64_t ss_loop_dropped(const ss_loop *loop);

/*
 * ss_object_init - place obj on loop with id (1..SS_NAME_MAX bytes), or a
 * generated unique id if id is NULL. obj's memory stays the caller's; it
 * must stay valid until ss_object_destroy(). A destroyed object may be
 * initialised again. Takes the tables' lock; any thread. Errors: SS_EINVAL
 * (NULL obj or loop, empty id), SS_ENAMETOOLONG (id over SS_NAME_MAX),
 * SS_EEXIST (another object has that id on this loop), SS_EBUSY (obj is
 * live already, on this loop or another: nothing changes).
 */
SS_API int ss_object_init(ss_object *obj, ss_loop *loop, const char *id);

/*
 * ss_object_destroy - detach obj from its loop and remove its signals and
 * every connection from or to it. Safe at any time, also from inside a slot
 * (of obj or of another object) and while signals for it are still queued:
 * those are dropped. Afterwards obj's memory may be freed. Any thread:
 * called on another thread than its loop's, it waits for a slot of obj
 * that the loop's thread is running to return (no slot of obj starts
 * after it returns), so a slot that waits for the destroying thread
 * deadlocks; from the loop's own thread (inside one of obj's slots
 * included) it never waits. A binding that holds an interpreter lock must
 * release it around this call (docs/runtime.md, "Language bindings").
 */
SS_API void ss_object_destroy(ss_object *obj);

/*
 * ss_object_new - an object allocated by the library (for callers that do
 * not embed one), placed on loop as by ss_object_init(). Free it with
 * ss_object_free(), which destroys it first; the same rules apply.
 */
SS_API int ss_object_new(ss_object **out, ss_loop *loop, const char *id);

/* ss_object_free - destroy and free an object from ss_object_new(). */
SS_API void ss_object_free(ss_object *obj);

/* ss_object_id - the object's id. */
SS_API const char *ss_object_id(const ss_object *obj);

/* ss_object_loop - the loop the object lives on (NULL once destroyed). */
SS_API ss_loop *ss_object_loop(const ss_object *obj);

/*
 * ss_signal_add - declare signal name (1..SS_NAME_MAX bytes) on obj with a
 * type signature (signal_slot/payload.h; "" for none). Takes the tables'
 * lock; any thread. Errors: SS_EINVAL (NULL, empty name, obj not live),
 * SS_ENAMETOOLONG (name over SS_NAME_MAX), SS_ESIGNATURE, SS_EEXIST
 * (declared already), SS_ENOMEM.
 */
SS_API int ss_signal_add(ss_object *obj, const char *name,
                         const char *signature);

/*
 * ss_connect - from now on, every emission of emitter's signal calls
 * slot(receiver, args, user_data) on receiver's loop. slot_signature must
 * equal the signal's signature (else SS_ESIGNATURE and a log line naming
 * both). Connecting the same (emitter, signal, receiver, slot, user_data)
 * twice delivers once. Errors: SS_EINVAL (NULL, receiver not live),
 * SS_ENOENT (no such signal), SS_ESIGNATURE, SS_ENOTSUP (one of the two
 * lives in a process that runs already, or the signal carries a pointer
 * ("p") to another process), SS_ENOMEM.
 */
SS_API int ss_connect(ss_object *emitter, const char *signal,
                      ss_object *receiver, ss_slot_fn slot,
                      const char *slot_signature, void *user_data);

/*
 * ss_connect_data - ss_connect() that hands user_data over to the
 * library: destroy(user_data) (if destroy is not NULL) is called exactly
 * once, when the library is done with it: when the connection goes
 * (ss_disconnect(), the destruction of either object, ss_loop_free()) and
 * no slot call that uses it is still running, or before the call returns
 * if no connection was made (an error, or the same five values connected
 * already: the first user_data stays). It runs on the thread that drops
 * the connection last (a disconnecting thread, or the receiver's loop
 * thread after a slot call), never while that thread holds the tables'
 * lock, so it may call into the library (a language binding releases its
 * callable there, taking its interpreter's lock). Returns as ss_connect().
 */
SS_API int ss_connect_data(ss_object *emitter, const char *signal,
                           ss_object *receiver, ss_slot_fn slot,
                           const char *slot_signature, void *user_data,
                           ss_destroy_fn destroy);

/*
 * ss_disconnect - undo ss_connect() for the same five values. Messages
 * already queued are not delivered to it any more. Disconnecting what is not
 * connected returns SS_ENOENT and logs a warning.
 */
SS_API int ss_disconnect(ss_object *emitter, const char *signal,
                         ss_object *receiver, ss_slot_fn slot,
                         void *user_data);

/*
 * ss_emit - emit emitter's signal with arguments following its signature
 * (as ss_pack(): b int, i int32_t, u uint32_t, x int64_t, t uint64_t,
 * d double, s const char *, y const void * + size_t, p void *, containers
 * and variants const ss_value *; docs/guide.md has the table). In C11
 * ss_emit is a macro that also checks each argument's C type against the
 * signature (signal_slot/argcheck.h): the int literal 7 where 'x' wants
 * an int64_t is SS_ETYPE, logged, nothing sent. Never waits
 * for room: a receiving loop whose queue is full misses it (counted by
 * ss_loop_dropped() and ss_signal_dropped(), logged at most once a second
 * per signal) and the call goes on with the others. It waits for another
 * thread or process that is putting into the same queue only while that
 * one makes progress, and at most the receiving loop's emit_wait_ns
 * (SS_EMIT_WAIT_DEFAULT_NS, 50 ms): whatever other processes do, ss_emit
 * returns within the sum of its receiving loops' emit_wait_ns, plus the
 * copies. Returns 0 when every receiving loop got it. When some loop
 * dropped it, the most telling reason among the drops: SS_EMSGSIZE
 * (larger than that loop's queue can ever hold: a retry cannot help),
 * SS_ECORRUPT (its queue is damaged), SS_EAGAIN (its queue was full: a
 * later emission may fit), SS_EBUSY (another process held its queue too
 * long, or is stopped while holding it), SS_ECLOSED (that loop has ended:
 * a loop process that exited). Or an encoding error (SS_ETYPE,
 * SS_ESIGNATURE...) with nothing sent; or SS_ENOENT (no such signal),
 * SS_EINVAL, SS_ENOMEM (more than 16 receiving loops, and no memory for
 * the list). Holds the tables' lock for reading meanwhile. Any thread.
 */
SS_API int ss_emit(ss_object *emitter, const char *signal, ...);

/*
 * ss_emit_many - n emissions of emitter's signal at once: payloads[i] holds
 * the encoded arguments of emission i (written with ss_pack() or an
 * ss_writer under the signal's signature; each is validated, and nothing is
 * sent if one is not). Every receiving loop gets the n messages with one
 * queue operation, all or none: a loop without room for all of them drops
 * all of them (counted). Returns as ss_emit(). Any thread.
 */
SS_API int ss_emit_many(ss_object *emitter, const char *signal,
                        const ss_msg *payloads, size_t n);

/*
 * ss_signal_broadcast_on - deliver every emission of emitter's signal to
 * loop as well, where any object can subscribe to it by name
 * (ss_subscribe()), without a connection per emitter. At most 8 loops per
 * signal. Errors: SS_EINVAL, SS_ENOENT (no such signal), SS_ENOTSUP (as
 * for ss_connect()), SS_ENOMEM (out of memory, or 8 loops already).
 */
SS_API int ss_signal_broadcast_on(ss_object *emitter, const char *signal,
                                  ss_loop *loop);

/*
 * ss_subscribe - call slot(receiver, args, user_data) for every signal
 * named signal that is broadcast on receiver's loop, whoever emits it
 * (ss_args_sender() tells who). A broadcast whose signature differs from
 * slot_signature is not delivered to this slot (logged). Subscribing twice
 * calls once. Errors: SS_EINVAL (NULL, empty signal name, receiver not
 * live), SS_ENAMETOOLONG (signal name over SS_NAME_MAX), SS_ESIGNATURE,
 * SS_ENOTSUP (receiver's loop runs in another process already), SS_ENOMEM.
 */
SS_API int ss_subscribe(ss_object *receiver, const char *signal,
                        ss_slot_fn slot, const char *slot_signature,
                        void *user_data);

/* ss_subscribe_data - ss_subscribe() that hands user_data over to the
 * library, with destroy called as for ss_connect_data(). */
SS_API int ss_subscribe_data(ss_object *receiver, const char *signal,
                             ss_slot_fn slot, const char *slot_signature,
                             void *user_data, ss_destroy_fn destroy);

/* ss_unsubscribe - undo ss_subscribe(); SS_ENOENT (and a warning) if it
 * was not subscribed. */
SS_API int ss_unsubscribe(ss_object *receiver, const char *signal,
                          ss_slot_fn slot, void *user_data);

/*
 * ss_signal_signature - copy the signature of emitter's signal into out
 * (SS_SIGNATURE_MAX_LEN + 1 bytes). Any thread. Errors: SS_EINVAL,
 * SS_ENOENT (no such signal).
 */
SS_API int ss_signal_signature(ss_object *emitter, const char *signal,
                               char *out);

/* ss_signal_dropped - messages of this signal dropped for full queues. */
SS_API uint64_t ss_signal_dropped(ss_object *emitter, const char *signal);

/*
 * ss_args_unpack - read the arguments of the signal being delivered, like
 * ss_unpack(): sig must equal the signal's signature (else SS_ETYPE and a
 * log line); strings and blobs point into the message, valid during the
 * slot call. In C11 a macro also checks the pointers' types
 * (signal_slot/argcheck.h): SS_ETYPE, nothing written, if one does not
 * point to the letter's type.
 */
SS_API int ss_args_unpack(const ss_args *args, const char *sig, ...);

/* ss_args_reader - a reader positioned on the first argument. */
SS_API int ss_args_reader(const ss_args *args, ss_reader *r);

/* ss_args_signature - the signature of the signal being delivered. */
SS_API const char *ss_args_signature(const ss_args *args);

/* ss_args_sender - who emitted it: the emitter's loop name, object id and
 * signal name (each may be NULL; valid during the slot call). */
SS_API void ss_args_sender(const ss_args *args, const char **loop,
                           const char **object, const char **signal);

/* A timer: an object with the signal "timeout" (signature ""). */
typedef struct ss_timer {
    ss_object object; /* first: a timer is an object */
    /* private */
    struct {
        void *left_, *right_, *parent_;
    } node_;
    int64_t interval_ns_;
    int64_t deadline_ns_;
    uint64_t seq_; /* when it was scheduled: orders equal deadlines */
    bool single_shot_;
    bool active_;
    bool catch_up_; /* ss_timer_set_catch_up() */
} ss_timer;

/*
 * ss_timer_init - a timer on loop that emits "timeout" every interval_ns
 * (0: on every loop iteration, the seed's TightLoop), or once if
 * single_shot. It starts at once, as in the seed. id as for
 * ss_object_init(). Periodic deadlines keep their phase: each is the
 * previous one plus the interval (deadlines missed while the loop was busy
 * are skipped, not fired in a burst).
 *
 * Timers due in the same loop iteration fire in deadline order, equal
 * deadlines in the order the timers were (re)scheduled. A deadline beyond
 * the monotonic clock's range (an interval near INT64_MAX: about 292
 * years) saturates: such a timer never fires. Its "timeout" reaches the
 * slots on its own loop even when that loop's queue is full of data
 * (docs/guide.md, "Delivery guarantees").
 * Errors: SS_EINVAL (NULL, interval_ns < 0), as ss_object_init(),
 * SS_ENOMEM.
 */
SS_API int ss_timer_init(ss_timer *timer, ss_loop *loop, int64_t interval_ns,
                         bool single_shot, const char *id);

/* ss_timer_start - (re)start: the next timeout is one interval from now. */
SS_API void ss_timer_start(ss_timer *timer);

/* ss_timer_stop - no more timeouts until started again. */
SS_API void ss_timer_stop(ss_timer *timer);

/* ss_timer_set_interval - change the period; the next timeout comes no
 * later than the new interval from now (saturated as in ss_timer_init()).
 * Errors: SS_EINVAL (NULL, interval_ns < 0: nothing changes, logged). */
SS_API int ss_timer_set_interval(ss_timer *timer, int64_t interval_ns);

/*
 * ss_timer_set_catch_up - a periodic timer that missed deadlines (its loop
 * was busy) fires once per loop iteration until it has caught up, each
 * deadline being the previous one plus the interval (the Python seed's
 * timers), instead of skipping them (the default). Loop thread, or
 * before the loop runs. NULL: nothing.
 */
SS_API void ss_timer_set_catch_up(ss_timer *timer, bool catch_up);

/*
 * ss_timer_deadline - when the timer fires next, in ns of CLOCK_MONOTONIC
 * (clock_gettime()); -1 if it is stopped or NULL. Loop thread, or while
 * the loop does not run.
 */
SS_API int64_t ss_timer_deadline(const ss_timer *timer);

/* ss_timer_destroy - stop the timer and destroy its object. */
SS_API void ss_timer_destroy(ss_timer *timer);

/*
 * ss__emit_checked, ss__args_unpack_checked - ss_emit() and
 * ss_args_unpack() after checking the types of their arguments against
 * the signature (signal_slot/argcheck.h): kinds describes them. On a
 * mismatch: SS_ETYPE and a log line naming the argument, nothing sent or
 * written. Called by the ss_emit and ss_args_unpack macros; not meant to
 * be called directly.
 */
SS_API int ss__emit_checked(ss_object *emitter, const char *kinds,
                            const char *signal, ...);
SS_API int ss__args_unpack_checked(const ss_args *args, const char *kinds,
                                   const char *sig, ...);

#ifdef SS_ARG_CHECK
#define ss_emit(emitter, ...)                                                  \
    ss__emit_checked((emitter), SS__KINDS(__VA_ARGS__), __VA_ARGS__)
#define ss_args_unpack(args, ...)                                              \
    ss__args_unpack_checked((args), SS__KINDS(__VA_ARGS__), __VA_ARGS__)
#endif

#ifdef __cplusplus
}
#endif
#endif /* SIGNAL_SLOT_LOOP_H */

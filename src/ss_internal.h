/*
 * ss_internal.h - the one internal header: what the components of the
 * library share and do not export. ss__ names are internal non-static.
 */
#ifndef SS_INTERNAL_H
#define SS_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>

#include "signal_slot.h"
#include "platform/platform.h"


#if defined(__GNUC__)
#define SS_LIKELY(x) __builtin_expect(!!(x), 1)
#define SS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SS_LIKELY(x) (x)
#define SS_UNLIKELY(x) (x)
#define SS_PRINTF(a, b)
#endif

#define SS_CACHE_LINE 64

/* ss__log_set_context - name shown in this thread's default log lines
 * (a loop sets its name). NULL clears it. */
void ss__log_set_context(const char *name);

/* ss__log - format and emit one line through the configured handler.
 * Cheap when the level is filtered out. */
void ss__log(ss_log_level level, const char *component, const char *fmt, ...)
    SS_PRINTF(3, 4);

#define SS_LOG_ERR(comp, ...) ss__log(SS_LOG_ERROR, comp, __VA_ARGS__)
#define SS_LOG_WARNING(comp, ...) ss__log(SS_LOG_WARN, comp, __VA_ARGS__)
#define SS_LOG_INF(comp, ...) ss__log(SS_LOG_INFO, comp, __VA_ARGS__)
#define SS_LOG_DBG(comp, ...) ss__log(SS_LOG_DEBUG, comp, __VA_ARGS__)

/* Fault-injection points of the queue's commit (SS_FAULT_INJECTION builds
 * only): set ss__fault_point to ss__fault_code(consumer_side, point) and
 * the next commit on that side kills its process at that instant. */
enum ss__fault_at {
    SS__FAULT_COPIED = 1,    /* records written or copied, journal not armed */
    SS__FAULT_ARMED = 2,     /* journal armed, nothing published */
    SS__FAULT_COMMITTED = 3, /* position published, journal still armed */
};
static inline int ss__fault_code(int consumer_side, int at)
{
    return consumer_side ? 10 + at : at;
}
extern int ss__fault_point;
/* What happens there: 0 SIGKILL, another signal number that signal (the
 * commit goes on if the process survives it: SIGSTOP then SIGCONT), -1 a
 * sleep that never ends. Once: the point is cleared when it fires. */
extern int ss__fault_signal;

/* Fault-injection points of the domain's registry (registry.c), values of
 * ss__fault_point: the next pass through the point (by any thread) fires
 * as above. "Torn": in the middle of an entry's write (its sequence number
 * odd, the registry's lock held). */
enum ss__fault_reg {
    SS__FAULT_REG_PUBLISH_LOCKED = 101, /* publish: locked, nothing written */
    SS__FAULT_REG_PUBLISH_TORN = 102,   /* publish: state, incarnation and
                                           name written, not the owner */
    SS__FAULT_REG_PUBLISH_DONE = 103,   /* publish: written, still locked */
    SS__FAULT_REG_TAKEOVER = 104,   /* publish: a dead owner's entry of the
                                       name just ended, still locked */
    SS__FAULT_REG_RETIRE = 105,     /* an entry ended and unlocked, its
                                       queue not retired yet */
    SS__FAULT_REG_STATE_TORN = 106, /* go live / unpublish: state written,
                                       not the exit code */
    SS__FAULT_REG_END_TORN = 107,   /* marked ended: state written, not the
                                       exit code and signal */
    SS__FAULT_REG_OWNER_TORN = 108, /* owner taken over by a loop process:
                                       pid written, not its start time */
    SS__FAULT_REG_REPLY_TAKEN = 109, /* reply slot taken, its holder not
                                        written down */
    SS__FAULT_REG_REPLY_FREE = 110,  /* reply slot answered (or timed out),
                                        not freed yet */
    SS__FAULT_REG_REPLY_SEND = 111,  /* answer stored, its waiter not woken */
};

/* ss__add_sat - a + b for b >= 0, saturated at INT64_MAX: deadlines from
 * a caller's timeout or interval never wrap around into the past. */
static inline int64_t ss__add_sat(int64_t a, int64_t b)
{
    return b > 0 && a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* ss__deadline_ns - the CLOCK_MONOTONIC instant (ss__now_ns()) a timeout
 * ends at: -1 ("never") for a negative timeout (SS_WAIT_FOREVER) and for
 * one beyond the clock's range, which only a wait forever can honour. */
static inline int64_t ss__deadline_ns(int64_t timeout_ns)
{
    if (timeout_ns < 0)
        return -1;
    int64_t d = ss__add_sat(ss__now_ns(), timeout_ns);
    return d == INT64_MAX ? -1 : d;
}

/* Little-endian access, whatever the host: the payload encoding and the
 * framing of batch messages. */
static inline uint32_t ss__ld_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t ss__ld_le64(const unsigned char *p)
{
    return (uint64_t)ss__ld_le32(p) | (uint64_t)ss__ld_le32(p + 4) << 32;
}

static inline void ss__st_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline void ss__st_le64(unsigned char *p, uint64_t v)
{
    ss__st_le32(p, (uint32_t)v);
    ss__st_le32(p + 4, (uint32_t)(v >> 32));
}

/* How the runtime puts (ss__queue_put_rt()): what each message is made
 * of, how much room must stay free, and how long it may wait. */
typedef struct ss__put {
    /* Each message is prefix (none if prefix_len is 0) then msgs[i] (which
     * may be empty), written without assembling. */
    const void *prefix;
    size_t prefix_len;
    /* Instead: one message made of prefix, the count n (u32 little-endian),
     * then each msgs[i] as a u32 length and its bytes. SS_EMSGSIZE if that
     * is larger than the queue's largest message. */
    bool framed;
    /* Ring bytes that must stay free after the put: a loop's data leaves
     * room for its control messages (stop, its timers, notices). 0 for
     * control messages. A put that could never fit with it: SS_EMSGSIZE. */
    size_t reserve;
    /* How long to wait for room, as a public put's timeout. */
    int64_t timeout_ns;
    /* How long a busy producer side is waited for, whatever timeout_ns
     * says; a holder found stopped or asleep ends the wait at once. Both
     * give SS_EBUSY. Contention among running producers is only this
     * long when a holder is preempted for that long. */
    int64_t patience_ns;
} ss__put;

/* ss__queue_put_rt - ss_queue_put_many() as the runtime needs it (see
 * ss__put). Errors as ss_queue_put_many(), and SS_EBUSY. */
int ss__queue_put_rt(ss_queue *q, const ss_msg *msgs, size_t n,
                     const ss__put *how);
/* ss__queue_close_within - ss_queue_close() that waits for a busy
 * producer side at most patience_ns, and not at all for a holder that is
 * stopped or asleep: the watcher of a dead loop process must go on. Such a
 * holder's put, if it is past its last check of the flag, commits after
 * the close. */
int ss__queue_close_within(ss_queue *q, int64_t patience_ns);

/* ss__queue_open_within - ss_queue_open() that gives a creator between
 * creating the object and writing its header wait_ns (ss_queue_open(): a
 * second) before SS_EFOREIGN; 0 when the creator is known to be gone (an
 * ended loop's queue, being retired): then at once, and not logged. */
int ss__queue_open_within(ss_queue **out, const char *name, int64_t wait_ns);

/* ss__queue_get_many_until - ss_queue_get_many() that also stops after a
 * message whose first byte is until (-1: never), leaving what follows it
 * in the queue: a loop takes nothing past its stop message. */
int ss__queue_get_many_until(ss_queue *q, void *buf, size_t buf_size,
                             ss_msg *msgs, size_t max_msgs, size_t *n,
                             int64_t timeout_ns, int until);

/* Loops and processes (the runtime, for process.c). */
#include <sys/types.h>
void ss__loop_set_pid(ss_loop *loop, pid_t pid);
/* ss__msg_signals - how many signals a loop's queue message carries: 1, a
 * batch's count, 0 for a stop or anything else (a malformed message,
 * which dispatch would drop too). Local or remote header. */
uint64_t ss__msg_signals(const unsigned char *m, size_t len);
/* ss__loop_drop_queued - take what loop's queue still holds and count
 * the signals in it (a batch counts its signals, a stop none) in this
 * process's ss_loop_dropped(): a loop process ended with them unhandled.
 * Returns that count. */
uint64_t ss__loop_drop_queued(ss_loop *loop);
/* ss__loop_close - no more puts into loop's queue (its destination's
 * close, waiting at most patience_ns for a putter in the middle). */
int ss__loop_close(ss_loop *loop, int64_t patience_ns);
/* ss__loop_ended - a loop process's loop has ended (code, sig as its
 * "exited" says): if published, its registry entry says so. */
void ss__loop_ended(ss_loop *loop, int code, int sig);
/* The runtime tables' lock (tables_lock.c): shared reads without atomic
 * read-modify-writes, exclusive writes; holds nest, and a forked child
 * starts with it free (unless its own thread held it). */
void ss__tables_read_lock(void);
void ss__tables_write_lock(void);
void ss__tables_unlock(void);
/* Whether this thread holds the tables' lock (reading or writing). */
bool ss__tables_held(void);
/* Tell the fork handlers that another thread holds the tables' lock for
 * this one across its next fork (ss_process_start()'s forking thread),
 * so they do not take it. */
void ss__tables_fork_held(bool held);
/* A user's release callback that must not run under the tables' lock
 * (it may take the lock, or wait for a thread that does): destroy(ud)
 * then free(block), when this thread drops its last hold. */
typedef struct ss__deferred {
    struct ss__deferred *next;
    void (*destroy)(void *);
    void *ud;
    void *block;
} ss__deferred;
/* What this thread deferred until it drops the lock (objects.c: freed
 * connections and named slots), and what runs it, called by the unlock
 * that ends the thread's last hold. */
extern _Thread_local ss__deferred *ss__tl_deferred;
void ss__tables_after_unlock(void);
/* Call destroy(ud) and free(block) now, or once this thread drops the
 * tables' lock if it holds it (d: storage inside block). */
void ss__release_later(ss__deferred *d, void (*destroy)(void *), void *ud,
                       void *block);

/* ss__signal_add_here - ss_signal_add() for a signal that this process
 * emits whichever loop its object lives on (may be connected to local
 * slots even once that loop runs in another process). */
int ss__signal_add_here(ss_object *obj, const char *name,
                        const char *signature);
/* In a forked child: drop the parent's SIGINT state; ignore it if asked. */
void ss__sigint_after_fork(bool ignore);

/* ss__payload_validate_n - ss_payload_validate() for a signature known to
 * be valid (a declared signal's), which is not checked again; also gives
 * the number of values. */
int ss__payload_validate_n(const char *sig, const void *data, size_t len,
                           unsigned flags, size_t *n_types);
/* ss__reader_init_valid - ss_reader_init() for a payload known to be
 * valid for sig (it has n_types values): no second validation. */
void ss__reader_init_valid(ss_reader *r, const char *sig, size_t n_types,
                           const void *data, size_t len);

/* ss__unpack_valid - ss_vunpack() of a payload known to be valid for sig
 * (n_types values), the fast way. */
int ss__unpack_valid(const char *sig, size_t n_types, const void *data,
                     size_t len, va_list ap);

/* ss__args_check - whether the variadic arguments described by kinds
 * (SS__KINDS(): kinds[0] is the signature's own) fit sig, as values
 * (ss_pack, ss_emit) or as outputs (out: ss_unpack, ss_args_unpack). 0,
 * or SS_ETYPE with why, a sentence for the log. An invalid sig passes:
 * the call reports it. */
int ss__args_check(const char *sig, const char *kinds, bool out, char *why,
                   size_t why_size);

/* ss__errno_to_ss - map an errno value to the closest SS_E* code. */
int ss__errno_to_ss(int e);

#endif

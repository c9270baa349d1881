/*
 * signal_slot/queue.h - a multi-producer, multi-consumer message queue in
 * shared memory, usable across threads and processes.
 *
 * Messages are byte strings of 1 byte up to ss_queue_max_msg_size(). They are
 * stored as records in a ring in shared memory: no allocation per message.
 * Order is FIFO per producer (and globally, in the order puts committed).
 *
 * A queue is created either anonymous (inherited by children across fork())
 * or under a name, so that unrelated processes open the same queue.
 *
 * A process killed (even with SIGKILL) at any instant inside any queue call
 * neither hangs nor corrupts the queue for the others: a put that returned 0
 * is delivered exactly once and intact; a put cut off before it committed is
 * never delivered, not even in part. See docs/queue.md for the protocol.
 *
 * Handles (ss_queue *) are process-local. One handle may be used by any
 * number of threads at once. After fork() the child uses the handle it
 * inherited (same pointer) and must call ss_queue_destroy() on it when done.
 *
 * Timeouts are in nanoseconds: SS_NO_WAIT (0) never blocks, SS_WAIT_FOREVER
 * (any negative value) blocks until the call can complete or the queue is
 * closed, a positive value blocks at most that long (CLOCK_MONOTONIC).
 */
#ifndef SIGNAL_SLOT_QUEUE_H
#define SIGNAL_SLOT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signal_slot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Timeout values, in nanoseconds. */
#define SS_NO_WAIT ((int64_t)0)
#define SS_WAIT_FOREVER ((int64_t)-1)
#define SS_MSEC(ms) ((int64_t)(ms) * 1000000LL)
#define SS_USEC(us) ((int64_t)(us) * 1000LL)
#define SS_SEC(s) ((int64_t)(s) * 1000000000LL)

/* Default ring capacity in bytes when ss_queue_options.capacity is 0: large
 * enough for bursts, small enough that the ring stays in a core's cache and
 * that each process mapping it takes few page faults (docs/queue.md). */
#define SS_QUEUE_DEFAULT_CAPACITY ((size_t)1 << 20)
/* Bytes each message costs on top of its payload (before 8-byte rounding). */
#define SS_QUEUE_RECORD_OVERHEAD 8u
/* Default spin before sleeping, in nanoseconds (see ss_queue_set_spin()). */
#define SS_QUEUE_DEFAULT_SPIN_NS 20000u

/* An opaque, process-local handle on a queue. */
typedef struct ss_queue ss_queue;

/* A message: a pointer and a length. Used both to pass messages in and to
 * describe messages handed out. */
typedef struct ss_msg {
    const void *data;
    size_t len;
} ss_msg;

/* Creation options. Initialise with ss_queue_options_init(). */
typedef struct ss_queue_options {
    /* Ring size in bytes, counting each record (payload rounded up to 8,
     * plus SS_QUEUE_RECORD_OVERHEAD). Rounded up to the page size; at least
     * one page. 0 selects SS_QUEUE_DEFAULT_CAPACITY. */
    size_t capacity;
    /* Most messages held at once; 0 means bounded by bytes only. */
    size_t max_msgs;
    /* Permission bits of a named queue; 0 selects 0600. */
    unsigned mode;
    /* Initial spin of this handle, nanoseconds; see ss_queue_set_spin(). */
    uint32_t spin_ns;
    /* What /proc/<pid>/maps and lsof call an anonymous queue's memory
     * ("memfd:<label>"); NULL: "signal-slot-queue". Not used by named
     * queues, whose name shows. Loops label theirs "ss-loop-<name>". */
    const char *label;
    /* An anonymous queue: keep its memory's descriptor in the handle, for
     * ss_queue_fd() (to pass it to a process that is not a fork of this
     * one). */
    bool keep_fd;
} ss_queue_options;

/* Counters and levels of a queue, as returned by ss_queue_get_stats(). All
 * counters are shared by every process using the queue. */
typedef struct ss_queue_stats {
    uint64_t msgs;          /* messages held now */
    uint64_t bytes;         /* payload bytes held now */
    uint64_t ring_used;     /* ring bytes held now, record overhead included */
    uint64_t capacity;      /* ring size in bytes */
    uint64_t max_msgs;      /* bound on messages held, 0 if none */
    uint64_t max_msg_size;  /* largest message a put can ever accept */
    uint64_t put_total;     /* messages ever committed by puts */
    uint64_t got_total;     /* messages ever consumed by gets */
    uint64_t refused_full;  /* put calls that failed because the queue was full */
    uint64_t repairs;       /* times a survivor repaired after a dead process */
    bool closed;            /* ss_queue_close() was called */
} ss_queue_stats;

/*
 * ss_queue_options_init - fill opts with the defaults (everything 0 but
 * spin_ns = SS_QUEUE_DEFAULT_SPIN_NS). Never fails.
 */
SS_API void ss_queue_options_init(ss_queue_options *opts);

/*
 * ss_queue_create - create an anonymous queue in shared memory. Children
 * forked after this call share it through the handle they inherit; no other
 * process can open it. opts may be NULL for the defaults.
 * On success *out receives a handle owned by the caller (free it with
 * ss_queue_destroy()); on failure *out is untouched.
 * Errors: SS_EINVAL, SS_ENOMEM, SS_ESYS.
 */
SS_API int ss_queue_create(ss_queue **out, const ss_queue_options *opts);

/*
 * ss_queue_create_named - create a queue under name ("/name" or "name",
 * at most 200 characters, no other '/'), readable by any process that has
 * the permission to open it. Fails with SS_EEXIST if the name is taken: the
 * caller owns the name and removes it with ss_queue_unlink().
 * Errors: SS_EINVAL, SS_ENAMETOOLONG, SS_EEXIST, SS_EACCES, SS_ENOMEM, SS_ESYS.
 */
SS_API int ss_queue_create_named(ss_queue **out, const char *name,
                          const ss_queue_options *opts);

/*
 * ss_queue_open - open an existing named queue. The header's magic, layout
 * version and sizes are checked before anything else is read. spin_ns of the
 * new handle is SS_QUEUE_DEFAULT_SPIN_NS.
 * Errors: SS_ENOENT (no such name), SS_EFOREIGN (not a queue: another kind
 * of file under that name (a directory, a symbolic link, a FIFO...), no
 * magic, or still being created after 1 s), SS_EVERSION (queue of another
 * layout version), SS_ECORRUPT (inconsistent sizes), SS_EACCES,
 * SS_ENAMETOOLONG (bad name), SS_EINVAL (NULL out), SS_ENOMEM, SS_ESYS.
 */
SS_API int ss_queue_open(ss_queue **out, const char *name);

/*
 * ss_queue_open_fd - open the queue whose shared memory fd refers to (a
 * descriptor from ss_queue_fd() in another process, passed over a Unix
 * socket or inherited across exec, as Python's spawn start method
 * does). The header is validated as by ss_queue_open(). fd stays the
 * caller's: the handle keeps a duplicate (its ss_queue_fd()). Errors:
 * SS_EINVAL, SS_EFOREIGN, SS_ECORRUPT, SS_ENOMEM, SS_ESYS.
 */
SS_API int ss_queue_open_fd(ss_queue **out, int fd);

/*
 * ss_queue_fd - the descriptor of q's shared memory, owned by the handle
 * (closed by ss_queue_destroy(); do not close it): for an anonymous queue
 * created with keep_fd, or one opened with ss_queue_open_fd(). Errors:
 * SS_EINVAL, SS_ENOTSUP (no descriptor kept: a named queue is passed by
 * its name).
 */
SS_API int ss_queue_fd(const ss_queue *q);

/*
 * ss_queue_unlink - remove a queue's name. Processes that have it open keep
 * using it; the memory is freed when the last one unmaps it. Another kind
 * of file under the name (a directory, a symbolic link...) is left alone.
 * Errors: SS_ENOENT, SS_EFOREIGN (not a regular file), SS_EACCES,
 * SS_ENAMETOOLONG, SS_ESYS.
 */
SS_API int ss_queue_unlink(const char *name);

/*
 * ss_queue_destroy - release this process's handle and mapping. Other
 * processes are not affected (use ss_queue_close() to tell them to stop).
 * A zero-copy read the calling thread left open is ended first, consuming
 * nothing. No other thread of this process may be inside a call on q, or
 * in a zero-copy read on it. NULL is ignored.
 */
SS_API void ss_queue_destroy(ss_queue *q);

/*
 * ss_queue_put - append one message of len bytes (1..max_msg_size), copied
 * from msg. Waits for space according to timeout_ns.
 * Errors: SS_EINVAL (NULL or len 0), SS_EMSGSIZE (can never fit, returned at
 * once), SS_EAGAIN (full, or the producer side still busy after 64 yielding
 * retries, with SS_NO_WAIT),
 * SS_ETIMEDOUT (still full at the deadline), SS_ECLOSED, SS_ECORRUPT,
 * SS_ESTATE (the queue is full and this thread holds a zero-copy read on
 * it: waiting would deadlock). refused_full counts SS_EAGAIN and
 * SS_ETIMEDOUT caused by a full queue.
 * Thread-safe and process-safe.
 */
SS_API int ss_queue_put(ss_queue *q, const void *msg, size_t len, int64_t timeout_ns);

/*
 * ss_queue_put_many - append n messages at once, all or nothing, under one
 * synchronisation: either all n are committed, contiguously and in order,
 * or none is. Same errors as ss_queue_put() (SS_EMSGSIZE if the batch as a
 * whole can never fit). n == 0 succeeds at once.
 */
SS_API int ss_queue_put_many(ss_queue *q, const ss_msg *msgs, size_t n,
                      int64_t timeout_ns);

/*
 * ss_queue_get - take the oldest message, copying it into buf. On success
 * *len receives its length. If buf_size is too small, SS_ENOBUFS is returned,
 * *len receives the size needed and the message stays in the queue.
 * Errors: SS_EINVAL, SS_EAGAIN (empty, or the consumer side still busy
 * after 64 yielding retries, with SS_NO_WAIT), SS_ETIMEDOUT, SS_ENOBUFS, SS_ECLOSED (closed and drained),
 * SS_ECORRUPT, SS_ESTATE (this thread holds a zero-copy read on q).
 * Thread-safe and process-safe.
 */
SS_API int ss_queue_get(ss_queue *q, void *buf, size_t buf_size, size_t *len,
                 int64_t timeout_ns);

/*
 * ss_queue_get_many - take up to max_msgs messages, as many as fit in buf
 * (buf_size bytes), in one synchronisation. Messages are copied to buf one
 * after the other, each starting at an 8-byte aligned offset; msgs[i]
 * receives where message i starts in buf and its length; *n receives the
 * count (>= 1 on success). Waits only while the queue is empty.
 * If the oldest message alone does not fit in buf: SS_ENOBUFS, *n = 0 and
 * msgs[0].len = the size needed; nothing is consumed.
 * Errors: as ss_queue_get().
 */
SS_API int ss_queue_get_many(ss_queue *q, void *buf, size_t buf_size, ss_msg *msgs,
                      size_t max_msgs, size_t *n, int64_t timeout_ns);

/*
 * ss_queue_read_begin - zero-copy read. Waits (per timeout_ns) for at least
 * one message, then exposes up to max_msgs of the oldest messages in place:
 * msgs[i].data points into the shared ring, valid until ss_queue_read_end().
 * *n receives the count. Between begin and end this thread holds the
 * consumer side of the queue: other consumers in every process wait, so keep
 * it short and never call another get or read_begin on q in between.
 * If the process dies before ss_queue_read_end(), nothing is consumed.
 * Errors: as ss_queue_get() (no SS_ENOBUFS).
 */
SS_API int ss_queue_read_begin(ss_queue *q, ss_msg *msgs, size_t max_msgs, size_t *n,
                        int64_t timeout_ns);

/*
 * ss_queue_read_end - finish a zero-copy read: the first consumed (0..n) of
 * the messages exposed by ss_queue_read_begin() are removed from the queue,
 * the others stay for the next reader. Must be called by the thread that
 * called ss_queue_read_begin().
 * Errors: SS_ESTATE (no read in progress on this thread), SS_EINVAL
 * (consumed > n); in both cases nothing changes. SS_ECORRUPT (the records
 * or the consumer's position were changed meanwhile: nothing consumed,
 * the read ended, the queue marked corrupt).
 */
SS_API int ss_queue_read_end(ss_queue *q, size_t consumed);

/*
 * ss_queue_close - close the queue for every process: every waiter wakes,
 * later puts fail with SS_ECLOSED, gets drain what is left and then fail
 * with SS_ECLOSED. A put that committed before the close is never lost.
 * Takes the producer side, so that every put either commits before the
 * close or sees it: waits for a put in progress, however long its thread
 * takes (stopped in a debugger, say; one that died is taken over).
 * Idempotent: closing a closed queue returns 0. Thread- and process-safe.
 * Errors: SS_EINVAL (NULL), SS_ECORRUPT (closed all the same).
 */
SS_API int ss_queue_close(ss_queue *q);

/* ss_queue_is_closed - whether ss_queue_close() was called (by anyone). */
SS_API bool ss_queue_is_closed(const ss_queue *q);

/*
 * ss_queue_get_stats - a snapshot of q's levels and counters into *out. The
 * fields are read without locking: each is exact, but the set may mix
 * instants while other processes run. Never blocks. Errors: SS_EINVAL,
 * SS_ECORRUPT (the queue is marked corrupt; *out is filled all the same).
 */
SS_API int ss_queue_get_stats(const ss_queue *q, ss_queue_stats *out);

/* ss_queue_size - messages held now (a snapshot, never blocks). */
SS_API size_t ss_queue_size(const ss_queue *q);

/* ss_queue_capacity - ring size in bytes (after rounding to pages). */
SS_API size_t ss_queue_capacity(const ss_queue *q);

/* ss_queue_max_msg_size - the largest message a put can ever accept. */
SS_API size_t ss_queue_max_msg_size(const ss_queue *q);

/*
 * ss_queue_prefault - enter every page of q's mapping into this process's
 * page tables now, so that its first puts and gets take no page faults.
 * Each process that maps a queue, a child after fork() included (it
 * inherits the mapping, not the page-table entries), otherwise takes a
 * minor fault, about a microsecond, on the first touch of each ring page:
 * with many short-lived processes or a first message that must be fast,
 * call this once per process at start-up. Does not change the queue's
 * contents and never waits for its locks; costs about 0.1 ms per MiB of
 * capacity. Thread-safe. 0, SS_EINVAL, or the SS_E* code of a failed
 * system call (logged).
 */
SS_API int ss_queue_prefault(ss_queue *q);

/*
 * ss_queue_set_spin - how long a blocking call of this handle spins,
 * watching the queue, before it sleeps in the kernel: 0 sleeps at once.
 * Spinning turns a ~45 us sleep/wake-up into a sub-microsecond hand-over
 * when the peer runs on another core, at the price of CPU time. A spinner
 * yields its core (sched_yield) every ~1.5 us, so that with more processes
 * than cores it does not keep the one it waits for off the core. Process-
 * local; affects calls that start after it. Thread-safe.
 */
SS_API void ss_queue_set_spin(ss_queue *q, uint32_t spin_ns);

#ifdef __cplusplus
}
#endif
#endif /* SIGNAL_SLOT_QUEUE_H */

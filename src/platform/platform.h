/*
 * platform.h - what the library needs from the operating system. One file
 * per platform implements it (platform/linux.c); nothing else in src/ calls
 * futexes, shared-memory or mapping system calls directly.
 */
#ifndef SS_PLATFORM_H
#define SS_PLATFORM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ss__getpid - the calling process's id, without a system call after the
 * first (cached, and forgotten in a child made by fork()). */
#include <sys/types.h>
pid_t ss__getpid(void);

/* ss__now_ns - CLOCK_MONOTONIC in nanoseconds. */
int64_t ss__now_ns(void);

/* ss__cpu_relax - a pause hint inside a spin loop. */
static inline void ss__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ss__yield - give the core to another runnable thread, if any. */
void ss__yield(void);

/* ss__page_size - the system page size. */
size_t ss__page_size(void);

/*
 * ss__futex_wait - sleep while *addr == expected, at most timeout_ns
 * (< 0: no limit). Works across processes (the word is in shared memory).
 * Returns 0 when woken, when *addr differed, or on a signal; SS_ETIMEDOUT
 * when the time ran out.
 */
int ss__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns);

/* ss__futex_wake - wake at most n sleepers on addr (INT32_MAX: all). */
void ss__futex_wake(_Atomic uint32_t *addr, int n);

/* ss__shm_create_anon - an unnamed shared-memory file of size bytes,
 * close-on-exec, labelled label (what /proc/<pid>/maps and lsof show; NULL:
 * "signal-slot-queue"). Returns an fd or a negative SS_E* code. */
int ss__shm_create_anon(size_t size, const char *label);

/* ss__shm_create_named - create (exclusively) the named object with mode,
 * sized size bytes. Returns an fd or a negative SS_E* code. */
int ss__shm_create_named(const char *name, unsigned mode, size_t size);

/* ss__shm_open_named - open an existing named object read-write; *size
 * receives its current size. Returns an fd or a negative SS_E* code. */
int ss__shm_open_named(const char *name, size_t *size);

/* ss__fd_private - whether the file behind fd belongs to this process's
 * effective user and no one else may read or write it (mode & 077 == 0):
 * 0, SS_EACCES (logged, naming what), or an SS_E* code. */
int ss__fd_private(int fd, const char *what);

/* ss__shm_size - current size of an shm fd, or a negative SS_E* code. */
int64_t ss__shm_size(int fd);

/* ss__shm_unlink - remove a name. 0 or a negative SS_E* code. */
int ss__shm_unlink(const char *name);

/*
 * ss__map_mirror - map fd so that its first head bytes are followed by its
 * next ring bytes twice in a row (the "mirror"): a record that runs past the
 * end of the ring continues, contiguous in memory, at its start. head and
 * ring must be multiples of the page size. *base receives the mapping
 * (head + 2 * ring bytes). 0 or a negative SS_E* code.
 */
int ss__map_mirror(int fd, size_t head, size_t ring, void **base);

/* ss__map_plain - map the first size bytes of fd read-write, shared. */
int ss__map_plain(int fd, size_t size, void **base);

/* ss__map_prefault - enter the pages of [base, base + size) of a shared
 * mapping into this process's page tables, writable, without changing their
 * contents. 0 or a negative SS_E* code. */
int ss__map_prefault(void *base, size_t size);

/* ss__unmap - undo ss__map_mirror / ss__map_plain (size = bytes mapped). */
void ss__unmap(void *base, size_t size);

/* ss__event_new - a non-blocking, close-on-exec descriptor that polls
 * readable once signalled until cleared (an eventfd). fd or SS_E* code. */
int ss__event_new(void);

/* ss__event_signal - make it readable. Async-signal-safe. */
void ss__event_signal(int fd);

/* ss__event_clear - make it not readable (until signalled again). */
void ss__event_clear(int fd);

/* Scope of ss__membarrier(): the calling process, or every process that
 * registered for SS_MB_SYSTEM (the processes sharing a queue). */
enum ss_mb_scope { SS_MB_PROCESS, SS_MB_SYSTEM };

/*
 * ss__membarrier_register - prepare ss__membarrier(scope): for
 * SS_MB_PROCESS, let this process issue it; for SS_MB_SYSTEM, make this
 * process one that other processes' barriers reach. Inherited across
 * fork(). 0 if the system has the expedited barrier, else a negative SS_E*
 * code (callers then use ordinary fences or locks).
 */
int ss__membarrier_register(enum ss_mb_scope scope);

/* ss__membarrier - a full memory barrier on every running thread of the
 * process (SS_MB_PROCESS, after registering) or of every registered process
 * (SS_MB_SYSTEM). Costs a few microseconds. 0 or a negative SS_E* code. */
int ss__membarrier(enum ss_mb_scope scope);

/*
 * ss__thread_ident - who the calling thread is, in a form that another
 * process can check with ss__thread_probe(): its kernel thread id, and the
 * low 32 bits of its start time in clock ticks since boot (0 if /proc
 * cannot tell). Call again in a child after fork(): both change.
 */
void ss__thread_ident(uint32_t *tid, uint32_t *start);

/* ss__process_start - the calling process's start time, in clock ticks
 * since boot (what ss__thread_probe() compares, for a process's main
 * thread, whose id is the pid); 0 if /proc cannot tell. */
uint64_t ss__process_start(void);

/* ss__thread_tid - the calling thread's kernel thread id (a system call). */
uint32_t ss__thread_tid(void);

/* Identity of a file as mappings show it: device and inode. */
typedef struct ss_file_id {
    uint64_t dev, ino;
} ss_file_id;

/* ss__fd_file_id - the identity of the file behind fd. 0 or SS_E*. */
int ss__fd_file_id(int fd, ss_file_id *id);

/* What ss__thread_probe() found a thread doing. */
typedef enum ss_thread_state {
    SS_THREAD_GONE,    /* ended, a zombie, its id now names another thread,
                          or (file given) its process no longer maps file
                          (it called exec()) */
    SS_THREAD_RUNS,    /* running, runnable, or in a short kernel wait (D) */
    SS_THREAD_STOPPED, /* stopped by a signal (SIGSTOP) or a tracer */
    SS_THREAD_ASLEEP,  /* asleep, frozen (cgroup freezer) or parked */
    SS_THREAD_UNKNOWN, /* alive as far as the system tells (no /proc,
                          hidden entries: logged once) */
} ss_thread_state;

/*
 * ss__thread_probe - whether the thread (tid, start) from
 * ss__thread_ident() still exists and what it is doing: whether it can
 * still hold something in file (file may be NULL: not checked, which
 * saves reading its process's mappings), and whether it is making
 * progress. Reads /proc, tens of microseconds (more with file): for slow
 * paths only.
 */
ss_thread_state ss__thread_probe(uint32_t tid, uint32_t start,
                                 const ss_file_id *file);

/* ss__close_fd - close a descriptor, retrying on EINTR semantics. */
void ss__close_fd(int fd);

#endif

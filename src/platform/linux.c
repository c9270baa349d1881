/*
 * platform/linux.c - the Linux implementation of platform.h: futexes,
 * memfd and POSIX shared memory, and the mirrored ring mapping.
 */
#include "ss_internal.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* 0 until first asked; a forked child forgets its parent's. */
static _Atomic pid_t g_pid;
static pthread_once_t g_pid_once = PTHREAD_ONCE_INIT;

static void pid_forget(void)
{
    atomic_store_explicit(&g_pid, 0, memory_order_relaxed);
}

static void pid_once(void)
{
    pthread_atfork(NULL, NULL, pid_forget);
}

pid_t ss__getpid(void)
{
    pid_t p = atomic_load_explicit(&g_pid, memory_order_relaxed);
    if (SS_LIKELY(p != 0))
        return p;
    pthread_once(&g_pid_once, pid_once);
    p = getpid();
    atomic_store_explicit(&g_pid, p, memory_order_relaxed);
    return p;
}

int64_t ss__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void ss__yield(void)
{
    sched_yield();
}

size_t ss__page_size(void)
{
    static size_t page;
    if (!page) {
        long p = sysconf(_SC_PAGESIZE);
        page = p > 0 ? (size_t)p : 4096;
    }
    return page;
}

int ss__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tsp = &ts;
    }
    /* Not FUTEX_PRIVATE_FLAG: the word lives in memory shared between
     * processes. */
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, expected, tsp,
                     NULL, 0);
    if (r == -1 && errno == ETIMEDOUT)
        return SS_ETIMEDOUT;
    return 0; /* woken, value changed (EAGAIN) or interrupted (EINTR) */
}

void ss__futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

static int sys_err(const char *what, const char *name)
{
    int e = errno;
    SS_LOG_ERR("platform", "%s(%s): %s", what, name ? name : "", strerror(e));
    return ss__errno_to_ss(e);
}

int ss__shm_create_anon(size_t size, const char *label)
{
    /* The kernel keeps 249 bytes of it (after "memfd:"). */
    char name[250];
    snprintf(name, sizeof name, "%s", label ? label : "signal-slot-queue");
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        return sys_err("memfd_create", NULL);
    if (ftruncate(fd, (off_t)size) != 0) {
        int rc = sys_err("ftruncate", NULL);
        close(fd);
        return rc;
    }
    return fd;
}

int ss__shm_create_named(const char *name, unsigned mode, size_t size)
{
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return SS_EEXIST; /* an expected outcome, not worth an error line */
        return sys_err("shm_open", name);
    }
    /* shm_open applies the umask: set the mode the caller asked for. */
    if (fchmod(fd, (mode_t)mode) != 0 || ftruncate(fd, (off_t)size) != 0) {
        int rc = sys_err("ftruncate", name);
        close(fd);
        shm_unlink(name);
        return rc;
    }
    return fd;
}

int ss__fd_private(int fd, const char *what)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sys_err("fstat", what);
    if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        SS_LOG_ERR("platform",
                   "%s belongs to uid %u with mode %03o: refused (it must be "
                   "this user's, uid %u, and private to it)",
                   what, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777),
                   (unsigned)geteuid());
        return SS_EACCES;
    }
    return 0;
}

int64_t ss__shm_size(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sys_err("fstat", NULL);
    return (int64_t)st.st_size;
}

/* Where glibc keeps POSIX shared-memory objects. */
#define SHM_DIR "/dev/shm"

/* What kind of file a name holds that is not a queue, for the log. */
static const char *file_kind(mode_t mode)
{
    return S_ISDIR(mode)    ? "a directory"
           : S_ISLNK(mode)  ? "a symbolic link"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISSOCK(mode) ? "a socket"
           : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
                                            : "not a regular file";
}

static int not_a_queue(const char *name, const char *kind)
{
    SS_LOG_ERR("platform", "%s is not a signal-slot queue: %s", name, kind);
    return SS_EFOREIGN;
}

int ss__shm_open_named(const char *name, size_t *size)
{
    /* Non-blocking: a FIFO or a device under the name must not hang the
     * open; glibc adds O_NOFOLLOW (a symbolic link fails with ELOOP) and
     * reports a directory as EINVAL (the name itself was checked). */
    int fd = shm_open(name, O_RDWR | O_CLOEXEC | O_NONBLOCK, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return SS_ENOENT;
        if (errno == ELOOP)
            return not_a_queue(name, "a symbolic link");
        if (errno == EINVAL || errno == EISDIR)
            return not_a_queue(name, "a directory");
        if (errno == ENXIO)
            return not_a_queue(name, "a device or socket");
        return sys_err("shm_open", name);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = sys_err("fstat", name);
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return not_a_queue(name, file_kind(st.st_mode));
    }
    *size = (size_t)st.st_size;
    return fd;
}

int ss__shm_unlink(const char *name)
{
    /* Only a regular file can be a queue: a directory, a symbolic link
     * (which unlink would remove, not its target)... are left alone. */
    char path[sizeof SHM_DIR + NAME_MAX + 1];
    struct stat st;
    snprintf(path, sizeof path, SHM_DIR "%s", name);
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return not_a_queue(name, file_kind(st.st_mode));
    if (shm_unlink(name) != 0) {
        if (errno == ENOENT)
            return SS_ENOENT;
        if (errno == EISDIR)
            return not_a_queue(name, "a directory");
        return sys_err("shm_unlink", name);
    }
    return 0;
}

int ss__map_mirror(int fd, size_t head, size_t ring, void **base)
{
    size_t total = head + 2 * ring;
    /* Reserve the whole range first so that the two views land next to each
     * other, then map the file over it with MAP_FIXED. */
    char *p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return sys_err("mmap", NULL);
    void *a = mmap(p, head + ring, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                   fd, 0);
    if (a == MAP_FAILED) {
        int rc = sys_err("mmap", NULL);
        munmap(p, total);
        return rc;
    }
    void *b = mmap(p + head + ring, ring, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_FIXED, fd, (off_t)head);
    if (b == MAP_FAILED) {
        int rc = sys_err("mmap", NULL);
        munmap(p, total);
        return rc;
    }
    *base = p;
    return 0;
}

int ss__map_plain(int fd, size_t size, void **base)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return sys_err("mmap", NULL);
    *base = p;
    return 0;
}

int ss__map_prefault(void *base, size_t size)
{
#ifdef MADV_POPULATE_WRITE
    if (madvise(base, size, MADV_POPULATE_WRITE) == 0)
        return 0;
    if (errno != EINVAL)
        return sys_err("madvise(MADV_POPULATE_WRITE)", NULL);
#endif
    /* Before Linux 5.14: a read of each page maps it; shared memory pages
     * are mapped writable at once (no dirty tracking on shmem). */
    size_t page = ss__page_size();
    for (size_t off = 0; off < size; off += page)
        (void)*(volatile const char *)((const char *)base + off);
    return 0;
}

void ss__unmap(void *base, size_t size)
{
    if (base)
        munmap(base, size);
}

void ss__close_fd(int fd)
{
    if (fd >= 0)
        close(fd);
}

int ss__event_new(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return sys_err("eventfd", NULL);
    return fd;
}

void ss__event_signal(int fd)
{
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is saturated, readable anyway */
}

void ss__event_clear(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r; /* EAGAIN: it was not readable */
}

/* The membarrier command that runs a barrier of scope. */
static int mb_cmd(enum ss_mb_scope scope)
{
    return scope == SS_MB_PROCESS ? MEMBARRIER_CMD_PRIVATE_EXPEDITED
                                  : MEMBARRIER_CMD_GLOBAL_EXPEDITED;
}

int ss__membarrier_register(enum ss_mb_scope scope)
{
    int run = mb_cmd(scope);
    int reg = scope == SS_MB_PROCESS
                  ? MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
                  : MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
    long q = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (q < 0 || !(q & run))
        return SS_ENOTSUP;
    if (syscall(__NR_membarrier, reg, 0, 0) != 0)
        return ss__errno_to_ss(errno);
    return 0;
}

int ss__membarrier(enum ss_mb_scope scope)
{
    if (syscall(__NR_membarrier, mb_cmd(scope), 0, 0) != 0)
        return ss__errno_to_ss(errno);
    return 0;
}

/* Read a /proc stat file at path: the state letter (field 3) and the
 * start time (field 22). false if it cannot be read; *missing tells whether because
 * the thread does not exist. */
static bool read_stat(const char *path, char *state, uint64_t *start,
                      bool *missing)
{
    *missing = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *missing = errno == ENOENT || errno == ESRCH;
        return false;
    }
    char buf[1024];
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0) {
        /* A thread that ends while we read gives ESRCH. */
        *missing = n < 0 && errno == ESRCH;
        return false;
    }
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: fields 3
     * and on start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return false;
    p += 2;
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return false;
        p++;
    }
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p)
        return false;
    *start = v;
    return true;
}

void ss__thread_ident(uint32_t *tid, uint32_t *start)
{
    char state;
    uint64_t st;
    bool missing;
    *tid = ss__thread_tid();
    *start = read_stat("/proc/thread-self/stat", &state, &st, &missing)
                 ? (uint32_t)st
                 : 0;
}

uint64_t ss__process_start(void)
{
    char state;
    uint64_t st;
    bool missing;
    return read_stat("/proc/self/stat", &state, &st, &missing) ? st : 0;
}

uint32_t ss__thread_tid(void)
{
    return (uint32_t)gettid();
}

int ss__fd_file_id(int fd, ss_file_id *id)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sys_err("fstat", NULL);
    id->dev = (uint64_t)st.st_dev;
    id->ino = (uint64_t)st.st_ino;
    return 0;
}

/* Whether /proc/<tid>/maps lists a mapping of file: 1 yes, 0 no, -1 when
 * it cannot be read (no permission, the thread just ended, no /proc). */
static int maps_file(uint32_t tid, const ss_file_id *file)
{
    char path[48], line[256];
    snprintf(path, sizeof path, "/proc/%u/maps", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int found = 0;
    bool at_start = true;
    while (!found && fgets(line, sizeof line, f)) {
        /* "start-end perms offset major:minor inode path": the device and
         * inode come before the path; a long path's continuation chunks
         * are not lines. */
        unsigned maj, min;
        unsigned long long ino;
        if (at_start &&
            sscanf(line, "%*x-%*x %*s %*x %x:%x %llu", &maj, &min, &ino) == 3 &&
            ino == file->ino && maj == major((dev_t)file->dev) &&
            min == minor((dev_t)file->dev))
            found = 1;
        at_start = strchr(line, '\n') != NULL;
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    return failed && !found ? -1 : found;
}

ss_thread_state ss__thread_probe(uint32_t tid, uint32_t start,
                                 const ss_file_id *file)
{
    static _Atomic int warned;
    char path[48], state;
    uint64_t st;
    bool missing;
    if (tid == 0 || tid > INT_MAX)
        return SS_THREAD_GONE; /* not a thread id at all */
    snprintf(path, sizeof path, "/proc/%u/stat", tid);
    if (read_stat(path, &state, &st, &missing)) {
        if (state == 'Z' || state == 'X' || state == 'x' ||
            (start != 0 && (uint32_t)st != start))
            return SS_THREAD_GONE;
        /* Alive, but a thread that exec()ed keeps its id and start time
         * (and a thread that execs in a process takes the main thread's):
         * one whose process no longer maps the file holds nothing. */
        if (file && maps_file(tid, file) == 0)
            return SS_THREAD_GONE;
        switch (state) {
        case 'R': /* running or runnable */
        case 'D': /* a page fault being served, an I/O */
        case 'W': /* paging (old kernels) */
            return SS_THREAD_RUNS;
        case 'T': /* stopped by a signal (SIGSTOP, Ctrl-Z) */
        case 't': /* stopped by a tracer (a debugger) */
            return SS_THREAD_STOPPED;
        default: /* S, I, P...: asleep, frozen, parked */
            return SS_THREAD_ASLEEP;
        }
    }
    /* Missing, or hidden from us (hidepid): the kernel knows. */
    if (kill((pid_t)tid, 0) != 0 && errno == ESRCH)
        return SS_THREAD_GONE;
    if (atomic_exchange(&warned, 1) == 0)
        SS_LOG_WARNING("platform", "cannot read %s: whether a lock holder "
                       "that stays is alive cannot be checked, it is "
                       "assumed alive", path);
    return SS_THREAD_UNKNOWN;
}

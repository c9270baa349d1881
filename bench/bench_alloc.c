/*
 * bench/bench_alloc.c - counting the heap allocations of one thread.
 *
 * ss-bench defines malloc, calloc, realloc, free and the aligned
 * allocators itself. Every call goes straight to glibc's allocator (its
 * exported __libc_* entry points), so the heap is the same as without this
 * file; the executable's definitions interpose for the whole process,
 * libsignal_slot and libc included. A call made by a thread that called
 * bench_alloc_start() and not yet bench_alloc_stop() is counted (frees are
 * not: the question is whether a path allocates at all).
 *
 * Sanitizers (ASan, TSan, MSan) bring their own malloc: with them, or with
 * SS_BENCH_NO_ALLOC_COUNT defined (bench/CMakeLists.txt does it for any
 * SS_SANITIZE build), this file defines nothing and
 * bench_alloc_available() returns false, so that the figures read "n/a".
 */
#include "bench.h"

#include <stdatomic.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define BENCH_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BENCH_SANITIZED 1
#endif

#if !defined(BENCH_SANITIZED) && !defined(SS_BENCH_NO_ALLOC_COUNT) && \
    defined(__GLIBC__)
#define BENCH_COUNT_ALLOCS 1
#endif

#ifdef BENCH_COUNT_ALLOCS

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* glibc's allocator under its own names (exported by libc.so.6). */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);

/* The executable's own TLS: no allocation, no lazy set-up on access. */
static __thread bool tl_counting __attribute__((tls_model("initial-exec")));
static __thread uint64_t tl_count __attribute__((tls_model("initial-exec")));

static inline void count_one(void)
{
    if (__builtin_expect(tl_counting, 0))
        tl_count++;
}

void *malloc(size_t size)
{
    count_one();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    count_one();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    count_one();
    return __libc_realloc(p, size);
}

void free(void *p)
{
    __libc_free(p);
}

void *memalign(size_t align, size_t size)
{
    count_one();
    return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
    count_one();
    return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    count_one();
    void *p = __libc_memalign(align, size);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t size)
{
    count_one();
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

void *pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = (size + page - 1) & ~(page - 1);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    count_one();
    return __libc_memalign(page, rounded ? rounded : page);
}

void bench_alloc_start(void)
{
    tl_count = 0;
    atomic_signal_fence(memory_order_seq_cst);
    tl_counting = true;
    atomic_signal_fence(memory_order_seq_cst);
}

uint64_t bench_alloc_stop(void)
{
    atomic_signal_fence(memory_order_seq_cst);
    tl_counting = false;
    atomic_signal_fence(memory_order_seq_cst);
    return tl_count;
}

/* Whether the definitions above are the ones the process uses: a call
 * that libc makes to malloc internally (strdup) must be counted. Checked
 * once. */
bool bench_alloc_available(void)
{
    static int state; /* 0 not checked, 1 works, -1 does not */
    if (state == 0) {
        char *(*volatile dup)(const char *) = strdup;
        bench_alloc_start();
        char *p = dup("x");
        uint64_t n = bench_alloc_stop();
        free(p);
        state = n == 1 ? 1 : -1;
    }
    return state == 1;
}

#else /* no counting */

bool bench_alloc_available(void)
{
    return false;
}

void bench_alloc_start(void)
{
}

uint64_t bench_alloc_stop(void)
{
    return 0;
}

#endif

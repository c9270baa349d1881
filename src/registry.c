/*
 * registry.c - the domain's registry of published loops
 * (signal_slot/registry.h, registry.h; docs/registry.md).
 *
 * Layout of /dev/shm/ss-<uid>-<domain>: a header page, then the entries,
 * then the reply slots of cross-process requests, then a block of each
 * entry's busiest signals. Nothing in it is a
 * pointer. The header's immutable fields are hashed (check): an object of
 * another layout, or a damaged header, is refused with SS_EREGISTRY.
 *
 * Writers change entries under a robust, process-shared mutex: a process
 * killed holding it leaves EOWNERDEAD to the next taker, which repairs
 * (an entry caught in the middle of a write is checked, and freed if it
 * does not hold together) and goes on. Every write of an entry is framed
 * by its sequence number (odd meanwhile): readers copy an entry without
 * the mutex and retry if the number moved. Every value read is checked
 * before use: a bad one is SS_EREGISTRY, never followed.
 */
#include "registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "signal_slot/registry.h"

#define SSR_MAGIC 0x3147455252535353ull /* "SSSRREG1" little-endian */
#define SSR_VERSION 2u
#define SSR_HEADER 4096u
#define SSR_ENTRIES SS_DOMAIN_LOOPS
#define SSR_REPLIES 256u
#define SSR_LOCK_WAIT_NS SS_SEC(2)
#define SSR_OPEN_WAIT_NS SS_SEC(1)

enum { ENT_FREE = 0, ENT_STARTING = 1, ENT_LIVE = 2, ENT_ENDED = 3 };

/* Fault injection, compiled in only for the tests (SS_FAULT_INJECTION):
 * the process kills itself at a chosen instant of a registry update
 * (ss_internal.h, enum ss__fault_reg), as the queue's points do. */
#ifdef SS_FAULT_INJECTION
#include <signal.h>
static void ssr_fault(void)
{
    ss__fault_point = 0; /* once */
    if (ss__fault_signal < 0)
        for (;;)
            pause();
    raise(ss__fault_signal ? ss__fault_signal : SIGKILL);
}
#define SSR_FAULT(at)                                                          \
    do {                                                                       \
        if (ss__fault_point == (at))                                           \
            ssr_fault();                                                       \
    } while (0)
#else
#define SSR_FAULT(at) ((void)0)
#endif

typedef struct ssr_entry {
    _Atomic uint32_t seq; /* odd while written (mutex held) */
    _Atomic uint32_t state;
    uint32_t incarnation; /* unique in the domain: taken from the header */
    uint32_t name_hash;
    char name[64];
    int32_t pid;
    int32_t exit_code, exit_sig;
    uint32_t pad_;
    uint64_t start; /* owner's start time, ticks since boot */
    uint64_t capacity;
    ss__reg_counters counters; /* owner, without the mutex */
    char spare_[256 - 4 * 4 - 64 - 4 * 4 - 8 - 8 - 3 * 8];
} ssr_entry;

_Static_assert(sizeof(ssr_entry) == 256, "registry entry layout");

/* A reply slot of a cross-process request (control messages): the
 * answer carries the request's nonce, so that a late answer to an earlier
 * holder of the slot is never taken for this one's. The slot is taken by
 * writing the requester's pid into it, in one step, so that a requester
 * killed at any instant leaves a slot that the others can reclaim. */
typedef struct ssr_reply {
    _Atomic uint32_t holder;  /* the requester's pid while taken, 0 free */
    _Atomic uint32_t bell;    /* futex word: bumped by every answer */
    _Atomic uint64_t answer;  /* nonce << 32 | status */
    char spare_[64 - 4 * 2 - 8];
} ssr_reply;

_Static_assert(sizeof(ssr_reply) == 64, "registry reply layout");

typedef struct ssr_header {
    _Atomic uint64_t magic; /* stored last by the creator */
    uint32_t version;
    uint32_t header_size;
    uint32_t n_entries, entry_size;
    uint32_t n_replies, reply_size;
    uint32_t uid, pad_;
    uint64_t check; /* hash of the fields above */
    pthread_mutex_t mutex;
    _Atomic uint32_t gen; /* bumped at every change (a futex word) */
    _Atomic uint32_t repairs;
    _Atomic uint32_t next_incarnation;
} ssr_header;

_Static_assert(sizeof(ssr_header) <= SSR_HEADER, "registry header size");
_Static_assert(sizeof(ss__reg_top) == 512, "registry top block layout");

/* The process's view of its domain. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_domain[SS_DOMAIN_MAX + 1];
static bool g_domain_fixed; /* chosen (set, or read from the environment) */
static _Atomic(ssr_header *) g_reg;
static ssr_entry *g_entries;
static ss__reg_top *tops(void);

static size_t layout_size(void)
{
    return SSR_HEADER + (size_t)SSR_ENTRIES * sizeof(ssr_entry) +
           (size_t)SSR_REPLIES * sizeof(ssr_reply) +
           (size_t)SSR_ENTRIES * sizeof(ss__reg_top);
}

static uint64_t header_hash(const ssr_header *h)
{
    uint64_t v[6] = {SSR_MAGIC,
                     (uint64_t)h->version << 32 | h->header_size,
                     (uint64_t)h->n_entries << 32 | h->entry_size,
                     (uint64_t)h->n_replies << 32 | h->reply_size,
                     h->uid,
                     sizeof(pthread_mutex_t)};
    uint64_t x = 0xcbf29ce484222325ull;
    for (int i = 0; i < 6; i++) {
        x ^= v[i];
        x *= 0x100000001b3ull;
        x ^= x >> 29;
    }
    return x;
}

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* A name that can be part of a shared-memory object's name. */
static bool name_chars_ok(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok || n >= max)
            return false;
    }
    return n > 0 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* A published loop's name: of those characters, or "host/loop" (two such
 * names: the mirror of a loop of another host, docs/bridge.md). */
static bool loop_name_ok(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash)
        return name_chars_ok(s, 63);
    char host[64];
    size_t hn = (size_t)(slash - s);
    if (hn == 0 || hn > 63 || strlen(s) > 63)
        return false;
    memcpy(host, s, hn);
    host[hn] = 0;
    return name_chars_ok(host, 63) && name_chars_ok(slash + 1, 63);
}

/* ---- the domain ---- */

static void domain_fix_locked(void)
{
    if (g_domain_fixed)
        return;
    const char *env = getenv("SS_DOMAIN");
    if (env && name_chars_ok(env, SS_DOMAIN_MAX)) {
        snprintf(g_domain, sizeof g_domain, "%s", env);
    } else {
        if (env)
            SS_LOG_WARNING("registry", "SS_DOMAIN=\"%.40s\" is not a domain "
                           "name (1..%d of [A-Za-z0-9._-]): using \"default\"",
                           env, SS_DOMAIN_MAX);
        snprintf(g_domain, sizeof g_domain, "default");
    }
    g_domain_fixed = true;
}

SS_API int ss_domain_set(const char *domain)
{
    if (!domain)
        return SS_EINVAL;
    if (!name_chars_ok(domain, SS_DOMAIN_MAX))
        return SS_ENAMETOOLONG;
    pthread_mutex_lock(&g_mu);
    int rc = 0;
    if (atomic_load(&g_reg) && strcmp(domain, g_domain) != 0)
        rc = SS_ESTATE;
    else {
        snprintf(g_domain, sizeof g_domain, "%s", domain);
        g_domain_fixed = true;
    }
    pthread_mutex_unlock(&g_mu);
    if (rc == SS_ESTATE)
        SS_LOG_ERR("registry", "ss_domain_set(%s): this process uses domain "
                   "%s already", domain, g_domain);
    return rc;
}

SS_API const char *ss_domain_name(void)
{
    pthread_mutex_lock(&g_mu);
    domain_fix_locked();
    pthread_mutex_unlock(&g_mu);
    return g_domain;
}

/* ---- attaching ---- */

static int init_header(ssr_header *h)
{
    h->version = SSR_VERSION;
    h->header_size = SSR_HEADER;
    h->n_entries = SSR_ENTRIES;
    h->entry_size = sizeof(ssr_entry);
    h->n_replies = SSR_REPLIES;
    h->reply_size = sizeof(ssr_reply);
    h->uid = (uint32_t)geteuid();
    h->check = header_hash(h);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int e = pthread_mutex_init(&h->mutex, &a);
    pthread_mutexattr_destroy(&a);
    if (e != 0)
        return SS_ESYS;
    atomic_store(&h->next_incarnation, 1);
    atomic_store_explicit(&h->magic, SSR_MAGIC, memory_order_release);
    return 0;
}

static int validate_header(const ssr_header *h)
{
    if (atomic_load_explicit(&h->magic, memory_order_acquire) != SSR_MAGIC ||
        h->version != SSR_VERSION || h->header_size != SSR_HEADER ||
        h->n_entries != SSR_ENTRIES || h->entry_size != sizeof(ssr_entry) ||
        h->n_replies != SSR_REPLIES || h->reply_size != sizeof(ssr_reply) ||
        h->uid != (uint32_t)geteuid() || h->check != header_hash(h))
        return SS_EREGISTRY;
    return 0;
}

/* Attach; create the domain's registry if create, else SS_ENOENT. */
static int attach_locked(bool create)
{
    if (atomic_load(&g_reg))
        return 0;
    domain_fix_locked();
    char nm[64];
    snprintf(nm, sizeof nm, "/ss-%u-%s", (unsigned)geteuid(), g_domain);
    size_t size = layout_size();
    void *base = NULL;
    int fd = create ? ss__shm_create_named(nm, 0600, size) : SS_EEXIST;
    int rc = 0;
    if (fd >= 0) {
        if ((rc = ss__map_plain(fd, size, &base)) == 0 &&
            (rc = init_header(base)) != 0)
            ss__unmap(base, size);
        ss__close_fd(fd);
        if (rc != 0) {
            ss__shm_unlink(nm);
            return rc;
        }
    } else if (fd == SS_EEXIST) {
        size_t have = 0;
        if ((fd = ss__shm_open_named(nm, &have)) < 0)
            return fd;
        if ((rc = ss__fd_private(fd, nm)) != 0) {
            ss__close_fd(fd);
            return rc;
        }
        /* Its creator may be between creating and writing the header
         * (its size is 0 until then). Another size is another layout: a
         * registry of another version of the library, or not one at all;
         * not waited for. */
        int64_t give_up = ss__now_ns() + SSR_OPEN_WAIT_NS, other = 0;
        for (;;) {
            int64_t sz = ss__shm_size(fd);
            if (sz > 0 && sz != (int64_t)size) {
                other = sz;
                rc = SS_EREGISTRY;
                break;
            }
            if (sz == (int64_t)size) {
                if (!base && (rc = ss__map_plain(fd, size, &base)) != 0)
                    break;
                if (atomic_load_explicit(&((ssr_header *)base)->magic,
                                         memory_order_acquire) != 0)
                    break;
            }
            if (sz < 0 || ss__now_ns() >= give_up) {
                rc = SS_EREGISTRY;
                break;
            }
            usleep(1000);
        }
        ss__close_fd(fd);
        if (rc == 0 && (rc = validate_header(base)) != 0)
            SS_LOG_ERR("registry", "%s is not a registry of this version, or "
                       "it is damaged: refused", nm);
        if (rc != 0) {
            if (base)
                ss__unmap(base, size);
            /* (Once per process: every call that needs the registry
             * fails the same way until the file is removed.) */
            static _Atomic bool told;
            if (rc == SS_EREGISTRY && other) {
                if (!atomic_exchange(&told, true))
                    SS_LOG_ERR("registry",
                               "/dev/shm%s is %lld bytes, not the %zu of this "
                               "version's registry (layout %u): a registry of "
                               "another version of signal-slot, or not a "
                               "registry; refused. Once no program of the "
                               "other version uses it, remove it (rm "
                               "/dev/shm%s) or use another domain (SS_DOMAIN)",
                               nm, (long long)other, size, SSR_VERSION, nm);
            } else if (rc == SS_EREGISTRY && !base) {
                SS_LOG_ERR("registry", "%s: no registry header (%zu bytes "
                           "expected)", nm, size);
            }
            return rc;
        }
    } else {
        return fd;
    }
    g_entries = (ssr_entry *)((char *)base + SSR_HEADER);
    atomic_store(&g_reg, (ssr_header *)base);
    return 0;
}

static int attach(bool create)
{
    if (SS_LIKELY(atomic_load_explicit(&g_reg, memory_order_acquire)))
        return 0;
    pthread_mutex_lock(&g_mu);
    int rc = attach_locked(create);
    pthread_mutex_unlock(&g_mu);
    return rc;
}

int ss__reg_attach(void)
{
    return attach(true);
}

/* ---- reading entries ---- */

typedef struct entry_copy {
    uint32_t state, incarnation;
    char name[64];
    pid_t pid;
    int exit_code, exit_sig;
    uint64_t start, capacity;
} entry_copy;

static int reg_lock(ssr_header *h);
static void reg_unlock(ssr_header *h);

/* A consistent copy of entry i; false if it does not hold together (then
 * the registry is damaged: logged once). A write that does not end may be
 * a writer's killed in the middle: unless the caller holds the registry's
 * lock (locked), the lock is taken, which repairs the entry if its holder
 * died (or waits for a live one), and the entry read again. */
static bool entry_read(uint32_t i, entry_copy *c, bool locked)
{
    const ssr_entry *e = &g_entries[i];
    int relocks = 0;
    for (int tries = 0;; tries++) {
        uint32_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
        if (s1 & 1) {
            if (tries > 1000) {
                ssr_header *h = atomic_load(&g_reg);
                if (locked || relocks++ == 3 || reg_lock(h) != 0)
                    return false; /* a writer stuck (or damage) */
                reg_unlock(h);
                tries = 0;
            }
            ss__yield();
            continue;
        }
        c->state = atomic_load_explicit(&e->state, memory_order_relaxed);
        c->incarnation = e->incarnation;
        memcpy(c->name, e->name, sizeof c->name);
        c->pid = e->pid;
        c->exit_code = e->exit_code;
        c->exit_sig = e->exit_sig;
        c->start = e->start;
        c->capacity = e->capacity;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->seq, memory_order_relaxed) == s1)
            break;
    }
    c->name[sizeof c->name - 1] = '\0';
    if (c->state > ENT_ENDED)
        return false;
    if (c->state != ENT_FREE && (c->pid <= 0 || c->name[0] == '\0'))
        return false;
    return true;
}

static void damaged(uint32_t i, const char *what)
{
    static _Atomic int logged;
    if (!atomic_exchange(&logged, 1))
        SS_LOG_ERR("registry", "registry of domain %s damaged: entry %u %s",
                   g_domain, (unsigned)i, what);
}

/* ---- the mutex ---- */

static void entry_write_begin(ssr_entry *e)
{
    atomic_fetch_add_explicit(&e->seq, 1, memory_order_acq_rel);
    atomic_thread_fence(memory_order_release);
}

static void entry_write_end(ssr_entry *e)
{
    atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
}

/* The previous holder died holding the mutex: an entry it was writing
 * (odd sequence number) is kept if it holds together, freed if not. One
 * caught STARTING was being published (no other write leaves that state):
 * its owner may still be the previous loop's, a live process, which would
 * hold the name for ever; nobody knows that loop yet, so it is freed. */
static void repair(ssr_header *h)
{
    for (uint32_t i = 0; i < SSR_ENTRIES; i++) {
        ssr_entry *e = &g_entries[i];
        if ((atomic_load(&e->seq) & 1) == 0)
            continue;
        uint32_t st = atomic_load(&e->state);
        bool ok = st <= ENT_ENDED && st != ENT_STARTING &&
                  memchr(e->name, 0, sizeof e->name) &&
                  (st == ENT_FREE || (e->pid > 0 && e->name[0]));
        if (!ok)
            atomic_store(&e->state, ENT_FREE);
        atomic_fetch_add(&e->seq, 1); /* even again */
    }
    atomic_fetch_add(&h->repairs, 1);
    atomic_fetch_add(&h->gen, 1);
    SS_LOG_WARNING("registry", "a process died holding the registry of "
                   "domain %s; repaired", g_domain);
}

/* ThreadSanitizer (gcc 12's) does not see pthread_mutex_clocklock(): it
 * gets the wall-clock wait it knows. */
#if defined(__SANITIZE_THREAD__)
#define REG_LOCK_CLOCK CLOCK_REALTIME
#define reg_timedlock(m, c, ts) pthread_mutex_timedlock(m, ts)
#else
#define REG_LOCK_CLOCK CLOCK_MONOTONIC
#define reg_timedlock(m, c, ts) pthread_mutex_clocklock(m, c, ts)
#endif

static int reg_lock(ssr_header *h)
{
    struct timespec ts;
    clock_gettime(REG_LOCK_CLOCK, &ts);
    int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + SSR_LOCK_WAIT_NS;
    ts.tv_sec = (time_t)(t / 1000000000);
    ts.tv_nsec = (long)(t % 1000000000);
    int e = reg_timedlock(&h->mutex, REG_LOCK_CLOCK, &ts);
    if (e == 0)
        return 0;
    if (e == EOWNERDEAD) {
        repair(h);
        pthread_mutex_consistent(&h->mutex);
        return 0;
    }
    if (e == ETIMEDOUT) {
        SS_LOG_ERR("registry", "the registry of domain %s stays locked (its "
                   "holder is stopped?)", g_domain);
        return SS_EBUSY;
    }
    SS_LOG_ERR("registry", "the registry's lock of domain %s fails: %s",
               g_domain, strerror(e));
    return SS_EREGISTRY;
}

static void reg_unlock(ssr_header *h)
{
    pthread_mutex_unlock(&h->mutex);
}

static void changed(ssr_header *h)
{
    atomic_fetch_add_explicit(&h->gen, 1, memory_order_release);
    ss__futex_wake(&h->gen, INT32_MAX);
}

/* Whether the owner (pid, start) of a copy is gone. */
static bool owner_gone(const entry_copy *c)
{
    return ss__thread_probe((uint32_t)c->pid, (uint32_t)c->start, NULL) ==
           SS_THREAD_GONE;
}

/* ---- queues of published loops ---- */

void ss__reg_queue_name(const char *name, uint32_t inc, char *buf, size_t size)
{
    /* ('/' of a host's mirror becomes '+', which no name has.) */
    char n[64];
    size_t i = 0;
    for (; name[i] && i < sizeof n - 1; i++)
        n[i] = name[i] == '/' ? '+' : name[i];
    n[i] = 0;
    snprintf(buf, size, "/ss-%u-%s-%s-%u", (unsigned)geteuid(), g_domain, n,
             (unsigned)inc);
}

/* Close and unlink an ended loop's queue, so that emitters everywhere
 * count their messages to it as drops and its memory goes with the last
 * mapping; what it held is counted in the drops of entry index (if it is
 * still that loop's: < SSR_ENTRIES). Done again by whoever comes next when
 * the process that ended the entry died before it was done: a queue
 * already retired costs a failed open. */
static void retire_queue(const char *name, uint32_t inc, uint32_t index)
{
    SSR_FAULT(SS__FAULT_REG_RETIRE);
    char qn[SS__REG_QNAME_MAX];
    ss__reg_queue_name(name, inc, qn, sizeof qn);
    ss_queue *q;
    /* Its creator (the loop's owner) is gone or done: a queue it did not
     * finish creating is not waited for. SS_ENOENT (not logged): gone. */
    if (ss__queue_open_within(&q, qn, 0) == 0) {
        ss__queue_close_within(q, SS_MSEC(100));
        size_t left = ss_queue_size(q);
        if (left && index < SSR_ENTRIES)
            atomic_fetch_add(&g_entries[index].counters.drops, left);
        ss_queue_destroy(q);
    }
    ss__shm_unlink(qn);
}

/* Mark entry i (copy c, locked) ended. */
static void end_locked(ssr_header *h, uint32_t i, int code, int sig)
{
    ssr_entry *e = &g_entries[i];
    entry_write_begin(e);
    atomic_store_explicit(&e->state, ENT_ENDED, memory_order_relaxed);
    SSR_FAULT(SS__FAULT_REG_END_TORN);
    e->exit_code = code;
    e->exit_sig = sig;
    entry_write_end(e);
    changed(h);
}

/* ---- publishing ---- */

/* Whether the queue of loop name, incarnation inc, is in /dev/shm. */
static bool queue_there(const char *name, uint32_t inc)
{
    char qn[SS__REG_QNAME_MAX];
    ss__reg_queue_name(name, inc, qn, sizeof qn);
    size_t size;
    int fd = ss__shm_open_named(qn, &size);
    if (fd >= 0)
        ss__close_fd(fd);
    return fd != SS_ENOENT;
}

/* One attempt of ss__reg_publish(). SS_EAGAIN: the entry to take held an
 * ended loop whose queue was still there; it was retired, try again
 * (unless retire_first is false: then it is retired after the entry is
 * taken). */
static int publish_try(ssr_header *h, const char *name, uint32_t hash,
                       bool retire_first, ss__reg_ref *out)
{
    int rc;
    if ((rc = reg_lock(h)) != 0)
        return rc;
    SSR_FAULT(SS__FAULT_REG_PUBLISH_LOCKED);
    int64_t free_i = -1, ended_i = -1, same_i = -1;
    entry_copy same_c, ended_c;
    for (uint32_t i = 0; i < SSR_ENTRIES; i++) {
        entry_copy c;
        if (!entry_read(i, &c, true)) {
            damaged(i, "does not hold together");
            reg_unlock(h);
            return SS_EREGISTRY;
        }
        bool same = c.state != ENT_FREE && g_entries[i].name_hash == hash &&
                    strcmp(c.name, name) == 0;
        if (same && (c.state == ENT_LIVE || c.state == ENT_STARTING)) {
            if (!owner_gone(&c)) {
                reg_unlock(h);
                SS_LOG_ERR("registry", "loop name %s is taken in domain %s "
                           "(by pid %d)", name, g_domain, (int)c.pid);
                return SS_EEXIST;
            }
            /* Its owner died without saying so: it ends, and its queue is
             * retired once the lock is released (below). */
            end_locked(h, i, -1, 0);
            SSR_FAULT(SS__FAULT_REG_TAKEOVER);
            c.state = ENT_ENDED;
        }
        if (same) {
            same_i = i;
            same_c = c;
        } else if (c.state == ENT_FREE && free_i < 0) {
            free_i = i;
        } else if (c.state == ENT_ENDED && ended_i < 0) {
            ended_i = i;
            ended_c = c;
        }
    }
    if (same_i < 0 && free_i < 0 && ended_i < 0) {
        /* Full: entries whose owners died without a word (killed while
         * publishing, or never looked at since) end now, and the first
         * is taken. Reads /proc for each: only when the domain is full. */
        for (uint32_t i = 0; i < SSR_ENTRIES && ended_i < 0; i++) {
            entry_copy c;
            if (!entry_read(i, &c, true) ||
                (c.state != ENT_LIVE && c.state != ENT_STARTING) ||
                !owner_gone(&c))
                continue;
            end_locked(h, i, -1, 0);
            c.state = ENT_ENDED;
            ended_i = i;
            ended_c = c;
        }
    }
    int64_t pick = same_i >= 0 ? same_i : free_i >= 0 ? free_i : ended_i;
    if (pick < 0) {
        reg_unlock(h);
        SS_LOG_ERR("registry", "domain %s is full (%d loops)", g_domain,
                   SSR_ENTRIES);
        return SS_ENOMEM;
    }
    /* The loop that had the entry ended (just now, or the process that
     * ended it was killed before it retired its queue): its queue is
     * retired before the entry forgets which it was, with the lock
     * released meanwhile, and everything is looked at again. */
    const entry_copy *old = pick == same_i    ? &same_c
                            : pick == ended_i ? &ended_c
                                              : NULL;
    struct {
        char name[64];
        uint32_t inc;
    } retire = {{0}, 0};
    if (old && old->state == ENT_ENDED &&
        queue_there(old->name, old->incarnation)) {
        memcpy(retire.name, old->name, sizeof retire.name);
        retire.inc = old->incarnation;
        if (retire_first) {
            reg_unlock(h);
            retire_queue(retire.name, retire.inc, (uint32_t)pick);
            return SS_EAGAIN;
        }
    }
    ssr_entry *e = &g_entries[pick];
    uint32_t inc = atomic_fetch_add(&h->next_incarnation, 1);
    if (inc == 0)
        inc = atomic_fetch_add(&h->next_incarnation, 1);
    entry_write_begin(e);
    atomic_store_explicit(&e->state, ENT_STARTING, memory_order_relaxed);
    e->incarnation = inc;
    e->name_hash = hash;
    memset(e->name, 0, sizeof e->name);
    memcpy(e->name, name, strlen(name));
    SSR_FAULT(SS__FAULT_REG_PUBLISH_TORN);
    e->pid = (int32_t)ss__getpid();
    e->start = ss__process_start();
    e->exit_code = -1;
    e->exit_sig = 0;
    e->capacity = 0;
    atomic_store(&e->counters.msgs_in, 0);
    atomic_store(&e->counters.signals_out, 0);
    atomic_store(&e->counters.drops, 0);
    ss__reg_top *t = &tops()[pick];
    atomic_store(&t->seq, 0);
    t->n = 0;
    entry_write_end(e);
    changed(h);
    SSR_FAULT(SS__FAULT_REG_PUBLISH_DONE);
    reg_unlock(h);
    if (retire.inc)
        retire_queue(retire.name, retire.inc, SSR_ENTRIES);
    out->index = (uint32_t)pick;
    out->incarnation = inc;
    return 0;
}

int ss__reg_publish(const char *name, ss__reg_ref *out)
{
    if (!loop_name_ok(name)) {
        SS_LOG_ERR("registry", "loop name \"%.63s\" cannot be published: 1 to "
                   "63 of [A-Za-z0-9._-], or host/loop", name);
        return SS_ENAMETOOLONG;
    }
    int rc = ss__reg_attach();
    if (rc != 0)
        return rc;
    ssr_header *h = atomic_load(&g_reg);
    uint32_t hash = name_hash(name);
    for (int tries = 0;; tries++) {
        rc = publish_try(h, name, hash, tries < 3, out);
        if (rc != SS_EAGAIN)
            return rc;
    }
}

/* Lock the registry for a change of ref's entry, if it still is that
 * incarnation: 0 (locked), or an error (not locked). */
static int lock_entry(ss__reg_ref ref, ssr_header **hp, ssr_entry **ep)
{
    ssr_header *h = atomic_load(&g_reg);
    if (!h || ref.index >= SSR_ENTRIES)
        return SS_EINVAL;
    int rc = reg_lock(h);
    if (rc != 0)
        return rc;
    ssr_entry *e = &g_entries[ref.index];
    if (e->incarnation != ref.incarnation) {
        reg_unlock(h);
        return SS_ESTATE;
    }
    *hp = h;
    *ep = e;
    return 0;
}

/* Change ref's entry's state from one of (from_a, from_b) to to. */
static int set_state(ss__reg_ref ref, uint32_t from_a, uint32_t from_b,
                     uint32_t to, int code)
{
    ssr_header *h;
    ssr_entry *e;
    int rc = lock_entry(ref, &h, &e);
    if (rc != 0)
        return rc;
    uint32_t st = atomic_load(&e->state);
    if (st != from_a && st != from_b) {
        reg_unlock(h);
        return SS_ESTATE;
    }
    entry_write_begin(e);
    atomic_store_explicit(&e->state, to, memory_order_relaxed);
    SSR_FAULT(SS__FAULT_REG_STATE_TORN);
    if (to == ENT_ENDED || to == ENT_FREE) {
        e->exit_code = code;
        e->exit_sig = 0;
    }
    entry_write_end(e);
    changed(h);
    reg_unlock(h);
    return 0;
}

int ss__reg_go_live(ss__reg_ref ref, uint64_t capacity)
{
    if (atomic_load(&g_reg) && ref.index < SSR_ENTRIES)
        g_entries[ref.index].capacity = capacity; /* not yet visible */
    return set_state(ref, ENT_STARTING, ENT_STARTING, ENT_LIVE, 0);
}

int ss__reg_set_owner(ss__reg_ref ref, pid_t pid, uint64_t start)
{
    ssr_header *h;
    ssr_entry *e;
    int rc = lock_entry(ref, &h, &e);
    if (rc != 0)
        return rc;
    entry_write_begin(e);
    e->pid = (int32_t)pid;
    SSR_FAULT(SS__FAULT_REG_OWNER_TORN);
    e->start = start;
    entry_write_end(e);
    changed(h);
    reg_unlock(h);
    return 0;
}

void ss__reg_unpublish(ss__reg_ref ref)
{
    ssr_header *h = atomic_load(&g_reg);
    if (!h || ref.index >= SSR_ENTRIES)
        return;
    char name[64];
    memcpy(name, g_entries[ref.index].name, sizeof name);
    name[sizeof name - 1] = '\0';
    /* Ended, exit code 0: its name is free, and whoever holds a handle on
     * it learns that it ended normally. */
    if (set_state(ref, ENT_LIVE, ENT_STARTING, ENT_ENDED, 0) == 0)
        retire_queue(name, ref.incarnation, ref.index);
}

void ss__reg_mark_ended(ss__reg_ref ref, int code, int sig)
{
    ssr_header *h = atomic_load(&g_reg);
    if (!h || ref.index >= SSR_ENTRIES || reg_lock(h) != 0)
        return;
    ssr_entry *e = &g_entries[ref.index];
    uint32_t st = atomic_load(&e->state);
    bool same = e->incarnation == ref.incarnation;
    bool now = same && (st == ENT_LIVE || st == ENT_STARTING);
    char name[64];
    memcpy(name, e->name, sizeof name);
    name[sizeof name - 1] = '\0';
    if (now)
        end_locked(h, ref.index, code, sig);
    reg_unlock(h);
    /* Ended by another process, which may have been killed before it
     * retired the queue: retired here too. */
    if (same && (now || st == ENT_ENDED))
        retire_queue(name, ref.incarnation, ref.index);
}

/* ---- finding ---- */

int ss__reg_find(const char *name, ss__reg_view *out)
{
    int rc = ss__reg_attach();
    if (rc != 0)
        return rc;
    uint32_t hash = name_hash(name);
    for (uint32_t i = 0; i < SSR_ENTRIES; i++) {
        if (g_entries[i].name_hash != hash)
            continue;
        entry_copy c;
        if (!entry_read(i, &c, false)) {
            damaged(i, "does not hold together");
            return SS_EREGISTRY;
        }
        if (c.state != ENT_LIVE || strcmp(c.name, name) != 0)
            continue;
        if (owner_gone(&c)) {
            ss__reg_mark_ended((ss__reg_ref){i, c.incarnation}, -1, 0);
            continue;
        }
        out->ref.index = i;
        out->ref.incarnation = c.incarnation;
        out->pid = c.pid;
        out->start = c.start;
        return 0;
    }
    return SS_ENOENT;
}

bool ss__reg_alive(ss__reg_ref ref)
{
    if (!atomic_load(&g_reg) || ref.index >= SSR_ENTRIES)
        return false;
    entry_copy c;
    return entry_read(ref.index, &c, false) && c.state == ENT_LIVE &&
           c.incarnation == ref.incarnation;
}

void ss__reg_exit_info(ss__reg_ref ref, int *code, int *sig)
{
    *code = -1;
    *sig = 0;
    entry_copy c;
    if (!atomic_load(&g_reg) || ref.index >= SSR_ENTRIES ||
        !entry_read(ref.index, &c, false) || c.incarnation != ref.incarnation ||
        c.state != ENT_ENDED)
        return;
    *code = c.exit_code;
    *sig = c.exit_sig;
}

uint32_t ss__reg_gen(void)
{
    ssr_header *h = atomic_load(&g_reg);
    return h ? atomic_load_explicit(&h->gen, memory_order_acquire) : 0;
}

void ss__reg_wait(uint32_t gen, int64_t timeout_ns)
{
    ssr_header *h = atomic_load(&g_reg);
    if (h)
        ss__futex_wait(&h->gen, gen, timeout_ns);
}

ss__reg_counters *ss__reg_counters_of(ss__reg_ref ref)
{
    if (!atomic_load(&g_reg) || ref.index >= SSR_ENTRIES)
        return NULL;
    return &g_entries[ref.index].counters;
}

int ss__reg_find_ref(const char *name, uint32_t incarnation,
                     ss__reg_view *out)
{
    int rc = ss__reg_find(name, out);
    if (rc == 0 && out->ref.incarnation != incarnation)
        rc = SS_ENOENT;
    return rc;
}

/* ---- reply slots ---- */

static ssr_reply *replies(void)
{
    return (ssr_reply *)((char *)g_entries +
                         (size_t)SSR_ENTRIES * sizeof(ssr_entry));
}

static ss__reg_top *tops(void)
{
    return (ss__reg_top *)((char *)replies() +
                           (size_t)SSR_REPLIES * sizeof(ssr_reply));
}

ss__reg_top *ss__reg_top_of(ss__reg_ref ref)
{
    if (!atomic_load(&g_reg) || ref.index >= SSR_ENTRIES)
        return NULL;
    return &tops()[ref.index];
}

/* Copy entry i's busiest signals into li (as far as they hold together:
 * a block being written, or damaged, gives none). */
static void top_read(uint32_t i, ss_loop_info *li)
{
    const ss__reg_top *t = &tops()[i];
    for (int tries = 0; tries < 1000; tries++) {
        uint32_t s1 = atomic_load_explicit(&t->seq, memory_order_acquire);
        if (s1 & 1) {
            ss__yield();
            continue;
        }
        uint32_t n = t->n;
        if (n > SS__REG_TOP || n > SS_LOOP_INFO_TOP)
            n = 0; /* damaged: nothing to show */
        for (uint32_t k = 0; k < n; k++) {
            memcpy(li->busiest[k].name, t->top[k].name,
                   sizeof li->busiest[k].name);
            li->busiest[k].name[sizeof li->busiest[k].name - 1] = '\0';
            li->busiest[k].count = t->top[k].count;
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->seq, memory_order_relaxed) == s1) {
            li->n_busiest = n;
            return;
        }
    }
    li->n_busiest = 0;
}

int ss__reg_reply_take(uint32_t *slot, uint32_t *nonce)
{
    int rc = ss__reg_attach();
    if (rc != 0)
        return rc;
    ssr_reply *r = replies();
    static _Atomic uint32_t next;
    uint32_t first = atomic_fetch_add(&next, 1);
    uint32_t me = (uint32_t)ss__getpid();
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t k = 0; k < SSR_REPLIES; k++) {
            uint32_t i = (first + k) % SSR_REPLIES;
            uint32_t t = 0;
            if (!atomic_compare_exchange_strong(&r[i].holder, &t, me)) {
                /* Taken: by a requester that died (second pass)? Then it
                 * is taken over from it, unless another process was
                 * quicker. (A pid reused meanwhile only delays this.) */
                if (pass == 0 ||
                    ss__thread_probe(t, 0, NULL) != SS_THREAD_GONE ||
                    !atomic_compare_exchange_strong(&r[i].holder, &t, me))
                    continue;
            }
            SSR_FAULT(SS__FAULT_REG_REPLY_TAKEN);
            uint32_t n;
            do
                n = (uint32_t)(ss__now_ns() ^ (int64_t)ss__getpid() << 20 ^
                               (int64_t)i << 8) | 1u;
            while (n == (uint32_t)(atomic_load(&r[i].answer) >> 32));
            *nonce = n;
            *slot = i;
            return 0;
        }
    }
    SS_LOG_ERR("registry", "domain %s: all %u reply slots are taken", g_domain,
               SSR_REPLIES);
    return SS_EBUSY;
}

/* How often a wait for an answer checks that the one asked still lives. */
#define REPLY_CHECK_NS SS_MSEC(20)
/* How long a wait for an answer watches for it before sleeping. */
#define REPLY_SPIN_NS SS_USEC(50)

int ss__reg_reply_wait(uint32_t slot, uint32_t nonce, int64_t timeout_ns,
                       bool (*alive)(const void *), const void *arg)
{
    ssr_reply *r = &replies()[slot % SSR_REPLIES];
    int64_t deadline = ss__deadline_ns(timeout_ns);
    int rc = SS_ETIMEDOUT;
    /* A running loop answers within tens of microseconds: watch for it a
     * while before sleeping (a wake-up costs about as much again), giving
     * the core away now and then in case the answerer waits for it. */
    int64_t spin_end = timeout_ns > 0 ? ss__now_ns() + REPLY_SPIN_NS : 0;
    for (unsigned i = 1; spin_end; i++) {
        uint64_t a = atomic_load_explicit(&r->answer, memory_order_acquire);
        if ((uint32_t)(a >> 32) == nonce)
            break;
        ss__cpu_relax();
        if ((i & 63) == 0) {
            if (ss__now_ns() >= spin_end)
                break;
            ss__yield();
        }
    }
    for (;;) {
        uint32_t bell = atomic_load_explicit(&r->bell, memory_order_acquire);
        uint64_t a = atomic_load_explicit(&r->answer, memory_order_acquire);
        if ((uint32_t)(a >> 32) == nonce) {
            rc = (int32_t)(uint32_t)a;
            break;
        }
        int64_t left = deadline < 0 ? REPLY_CHECK_NS : deadline - ss__now_ns();
        if (left <= 0)
            break;
        if (alive && !alive(arg)) {
            rc = SS_ECLOSED; /* it ended: no answer will come */
            break;
        }
        ss__futex_wait(&r->bell, bell,
                       left < REPLY_CHECK_NS ? left : REPLY_CHECK_NS);
    }
    SSR_FAULT(SS__FAULT_REG_REPLY_FREE);
    atomic_store_explicit(&r->holder, 0, memory_order_release);
    return rc;
}

void ss__reg_reply_send(uint32_t slot, uint32_t nonce, int status)
{
    if (!atomic_load(&g_reg) || slot >= SSR_REPLIES)
        return;
    ssr_reply *r = &replies()[slot];
    atomic_store_explicit(&r->answer,
                          (uint64_t)nonce << 32 | (uint32_t)status,
                          memory_order_release);
    SSR_FAULT(SS__FAULT_REG_REPLY_SEND);
    atomic_fetch_add_explicit(&r->bell, 1, memory_order_release);
    ss__futex_wake(&r->bell, INT32_MAX);
}

/* ---- listing ---- */

SS_API int ss_registry_list(ss_loop_info *out, size_t max, size_t *n)
{
    if (!n || (max && !out))
        return SS_EINVAL;
    *n = 0;
    int rc = attach(false); /* looking does not create the domain */
    if (rc != 0)
        return rc;
    size_t k = 0;
    for (uint32_t i = 0; i < SSR_ENTRIES; i++) {
        entry_copy c;
        if (!entry_read(i, &c, false)) {
            damaged(i, "does not hold together");
            return SS_EREGISTRY;
        }
        if (c.state == ENT_FREE || c.state == ENT_STARTING)
            continue;
        if (c.state == ENT_LIVE && owner_gone(&c)) {
            ss__reg_mark_ended((ss__reg_ref){i, c.incarnation}, -1, 0);
            c.state = ENT_ENDED;
        }
        if (k < max) {
            ss_loop_info *li = &out[k];
            memset(li, 0, sizeof *li);
            memcpy(li->name, c.name, sizeof li->name);
            li->state = c.state == ENT_LIVE ? SS_LOOP_STATE_LIVE
                                            : SS_LOOP_STATE_ENDED;
            li->pid = c.pid;
            li->incarnation = c.incarnation;
            li->exit_code = c.exit_code;
            li->exit_sig = c.exit_sig;
            li->queue_capacity = c.capacity;
            const ss__reg_counters *ct = &g_entries[i].counters;
            li->msgs_in = atomic_load_explicit(&ct->msgs_in,
                                               memory_order_relaxed);
            li->signals_out = atomic_load_explicit(&ct->signals_out,
                                                   memory_order_relaxed);
            li->drops = atomic_load_explicit(&ct->drops, memory_order_relaxed);
            top_read(i, li);
            if (li->state == SS_LOOP_STATE_LIVE) {
                char qn[SS__REG_QNAME_MAX];
                ss__reg_queue_name(c.name, c.incarnation, qn, sizeof qn);
                ss_queue *q;
                if (ss_queue_open(&q, qn) == 0) {
                    ss_queue_stats st;
                    if (ss_queue_get_stats(q, &st) == 0) {
                        li->queue_msgs = st.msgs;
                        li->queue_bytes = st.bytes;
                    }
                    ss_queue_destroy(q);
                }
            }
        }
        k++;
    }
    *n = k;
    return 0;
}

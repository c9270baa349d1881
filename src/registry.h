/*
 * registry.h - the domain's registry of published loops, for the runtime
 * (registry.c; docs/registry.md). Not exported.
 *
 * One shared memory object per domain lists every published loop: a fixed
 * table of entries, each with its loop's name, state, owner process and
 * counters, changed under a robust process-shared mutex and read without
 * it (a sequence number per entry). A loop is referred to by its entry's
 * index and the incarnation the entry had when the loop took it: an
 * entry reused by another loop has another incarnation.
 */
#ifndef SS_REGISTRY_H
#define SS_REGISTRY_H

#include "ss_internal.h"

#include <stdatomic.h>

/* A published loop, as another process refers to it. */
typedef struct ss__reg_ref {
    uint32_t index;
    uint32_t incarnation;
} ss__reg_ref;

/* What a lookup tells of a live loop. */
typedef struct ss__reg_view {
    ss__reg_ref ref;
    pid_t pid;      /* owner process */
    uint64_t start; /* its start time (ticks since boot) */
} ss__reg_view;

/* Counters an owner updates without the lock (shared memory). */
typedef struct ss__reg_counters {
    _Atomic uint64_t msgs_in;     /* messages its loop handled */
    _Atomic uint64_t signals_out; /* signals emitted by its objects */
    _Atomic uint64_t drops;       /* messages for it dropped */
} ss__reg_counters;

/* The signals a loop handles most, as its owner last published them:
 * "loop.object.signal" of the emitter (truncated), and how many. Written
 * by the owner's loop thread only, under its sequence number (odd while
 * written); read by anyone without a lock. */
#define SS__REG_TOP 7
typedef struct ss__reg_top {
    _Atomic uint32_t seq;
    uint32_t n; /* slots in use */
    char pad_[56];
    struct {
        char name[56];
        uint64_t count;
    } top[SS__REG_TOP];
} ss__reg_top;

/* ss__reg_top_of - the block of ref's entry (NULL if not attached). */
ss__reg_top *ss__reg_top_of(ss__reg_ref ref);

/* ss__reg_attach - map this process's domain (creating it if needed);
 * once per process, later calls return at once. 0, SS_EACCES (another
 * user's), SS_EREGISTRY (damaged, or another layout), SS_ESYS. */
int ss__reg_attach(void);

/* ss__reg_publish - take name (validated for a queue name) for a loop
 * of this process: its entry is filled, then its queue must be created
 * under ss__reg_queue_name() and ss__reg_go_live() called with its ring
 * size (others do not find it before). A name held by
 * a live loop: SS_EEXIST; by a dead owner's: taken over (marked ended
 * first). Errors also SS_ENOMEM (domain full), SS_EBUSY (the registry
 * lock held by a stuck process), SS_EREGISTRY, SS_ENAMETOOLONG. */
int ss__reg_publish(const char *name, ss__reg_ref *out);
int ss__reg_go_live(ss__reg_ref ref, uint64_t capacity);

/* ss__reg_set_owner - a loop process takes its loop's entry over from the
 * parent that published it (its pid and start time). */
int ss__reg_set_owner(ss__reg_ref ref, pid_t pid, uint64_t start);

/* ss__reg_unpublish - the loop is freed by its owner: the entry ends
 * (exit code 0) and its name is free. */
void ss__reg_unpublish(ss__reg_ref ref);

/* ss__reg_mark_ended - the loop's owner died (code, sig as "exited"
 * says): the entry ends, if it still is that incarnation. */
void ss__reg_mark_ended(ss__reg_ref ref, int code, int sig);

/* ss__reg_find - the live loop named name: 0, SS_ENOENT (none; an entry
 * whose owner is dead is marked ended on the way), SS_EREGISTRY. */
int ss__reg_find(const char *name, ss__reg_view *out);

/* ss__reg_alive - whether ref is still that live loop (its incarnation,
 * LIVE). Checks the entry only; its owner's life is the monitor's. */
bool ss__reg_alive(ss__reg_ref ref);

/* ss__reg_exit_info - how ref's loop ended, as the registry knows it
 * (code -1, sig 0 if it does not). */
void ss__reg_exit_info(ss__reg_ref ref, int *code, int *sig);

/* ss__reg_gen / ss__reg_wait - the registry's change counter, and a wait
 * (at most timeout_ns) until it differs from gen. */
uint32_t ss__reg_gen(void);
void ss__reg_wait(uint32_t gen, int64_t timeout_ns);

/* ss__reg_counters - the counters of ref's entry (NULL if not attached). */
ss__reg_counters *ss__reg_counters_of(ss__reg_ref ref);

/* Reply slots of cross-process requests: take one (0, SS_EBUSY if all
 * are taken by live requesters), wait for its answer (the status,
 * SS_ETIMEDOUT, or SS_ECLOSED once alive(arg), if given, checked every
 * 20 ms, says that the one asked ended; the slot is freed either way),
 * answer one (ignored if the slot no longer waits for that nonce). */
int ss__reg_reply_take(uint32_t *slot, uint32_t *nonce);
int ss__reg_reply_wait(uint32_t slot, uint32_t nonce, int64_t timeout_ns,
                       bool (*alive)(const void *), const void *arg);
void ss__reg_reply_send(uint32_t slot, uint32_t nonce, int status);

/* ss__reg_find_ref - like ss__reg_find(), for one incarnation: the loop
 * named name, if it is still ref's incarnation and live. */
int ss__reg_find_ref(const char *name, uint32_t incarnation,
                     ss__reg_view *out);

/* ss__reg_queue_name - the name of the queue of loop name, incarnation
 * inc, in this domain, into buf (at least SS__REG_QNAME_MAX bytes). */
#define SS__REG_QNAME_MAX 160
void ss__reg_queue_name(const char *name, uint32_t inc, char *buf,
                        size_t size);

#endif /* SS_REGISTRY_H */

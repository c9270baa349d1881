/*
 * emit.c - emission: a signal's target loops, encoding, delivery into
 * their queues, drop accounting; and a loop's signals to itself.
 */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- emission ---- */

/* Per-thread encoding buffer: emission allocates nothing unless a message
 * is larger than this. */
static _Thread_local unsigned char tl_msg[16u << 10];

/* The loops a signal must reach: one entry per distinct loop of its
 * connected receivers. */
typedef struct targets {
    ss_loop *fixed[16];
    ss_loop **loops;
    size_t n;
    ss__signal *s; /* valid while the read lock is held */
    /* Its routes to other processes' loops (s->routes). */
    ss__route *routes;
    size_t n_routes;
    /* The first drop of this emission, logged once the lock is released. */
    int drop_rc;
    bool drop_log; /* this emission writes the signal's drop line */
    uint64_t drop_total, drop_since;
    char drop_loop[SS_NAME_MAX + 1];
} targets;

static void targets_free(targets *t)
{
    if (t->loops != t->fixed)
        free(t->loops);
}

/* Add loop to t unless it is there already (or NULL). */
static int targets_add(targets *t, ss_loop *loop, size_t *cap)
{
    if (!loop)
        return 0;
    for (size_t k = 0; k < t->n; k++)
        if (t->loops[k] == loop)
            return 0;
    if (t->n == *cap) {
        ss_loop **bigger = malloc(2 * *cap * sizeof *bigger);
        if (!bigger)
            return SS_ENOMEM;
        memcpy(bigger, t->loops, t->n * sizeof *bigger);
        targets_free(t);
        t->loops = bigger;
        *cap *= 2;
    }
    t->loops[t->n++] = loop;
    return 0;
}

/* Find emitter's signal and its target loops: 0 with the tables
 * read-locked (the loops cannot be freed until targets_done()), or
 * SS_ENOENT / SS_ENOMEM with nothing held. */
static int find_targets(ss_object *emitter, const char *signal, targets *t)
{
    size_t cap = 16;
    t->loops = t->fixed;
    t->n = 0;
    t->drop_rc = 0;
    ss__rt_read_lock();
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? ss__find_signal(emitter, signal, strlen(signal))
                        : NULL;
    if (!s) {
        ss__rt_unlock();
        SS_LOG_ERR("loop", "emit %s.%s: no such signal", emitter->id_, signal);
        return SS_ENOENT;
    }
    int rc = 0;
    for (ss__conn *c = s->conns; c && rc == 0; c = c->next)
        rc = targets_add(t, c->receiver->loop_, &cap);
    for (size_t b = 0; b < s->n_bcast && rc == 0; b++)
        rc = targets_add(t, s->bcast[b], &cap);
    if (rc != 0) {
        ss__rt_unlock();
        targets_free(t);
        return rc;
    }
    t->s = s;
    t->routes = s->routes;
    t->n_routes = s->n_routes;
    return 0;
}

/* Whether anybody listens (a local loop or a route). */
static inline bool targets_any(const targets *t)
{
    return t->n != 0 || t->n_routes != 0;
}

/* Release what find_targets() took, then log the emission's first drop
 * (outside the lock: a log handler may do anything). */
static void targets_done(const char *emitter_id, const char *signal, targets *t)
{
    ss__rt_unlock();
    targets_free(t);
    int rc = t->drop_rc;
    /* A closed queue is a loop process that has ended, which was logged
     * and signalled ("exited") already: only counted. */
    if (rc != 0 && t->drop_log)
        ss__log(rc == SS_ECLOSED ? SS_LOG_DEBUG : SS_LOG_ERROR, "loop",
                "%s.%s to loop %s: %s, dropped (%llu drops of this signal "
                "so far, %llu since the last such line)",
                emitter_id, signal, t->drop_loop,
                rc == SS_ECLOSED ? "it has ended" : ss_strerror(rc),
                (unsigned long long)t->drop_total,
                (unsigned long long)t->drop_since);
}

/* Whether the drop that brought signal s's count from d - n to d is to be
 * logged (tables read-locked: s lives): its first, then once every
 * DROP_LOG_EVERY, and no more than once every DROP_LOG_PERIOD_NS. Exactly
 * one emitter wins a line, whichever thread it runs on. */
static bool drop_log_due(ss__signal *s, uint64_t d, uint64_t n, uint64_t *since)
{
    if (d != n && (d - n) / DROP_LOG_EVERY == d / DROP_LOG_EVERY)
        return false;
    int64_t now = ss__now_ns();
    int64_t last =
        atomic_load_explicit(&s->drop_logged_ns, memory_order_relaxed);
    if (last != 0 && now - last < DROP_LOG_PERIOD_NS)
        return false;
    if (!atomic_compare_exchange_strong(&s->drop_logged_ns, &last, now))
        return false;
    *since = d - atomic_exchange(&s->drop_logged_at, d);
    return true;
}

/* ---- delivery to loops of this host: their shared-memory queues ---- */

static int shm_put(ss_loop *to, const ss_msg *msgs, size_t n,
                   const ss__put *how)
{
    return ss__queue_put_rt(to->q, msgs, n, how);
}

/* Make the loop's pollable descriptor readable, if it has one. */
static void shm_notify(ss_loop *loop)
{
    int fd = atomic_load_explicit(&loop->efd, memory_order_acquire);
    if (SS_UNLIKELY(fd >= 0))
        ss__event_signal(fd);
}

static int shm_close(ss_loop *to, int64_t patience_ns)
{
    return ss__queue_close_within(to->q, patience_ns);
}

static int shm_stats(ss_loop *to, ss_queue_stats *st)
{
    return ss_queue_get_stats(to->q, st);
}

const ss__dest_ops ss__dest_shm = {shm_put, shm_notify, shm_close,
                                   shm_stats};

void ss__loop_notify(ss_loop *loop)
{
    loop->ops->notify(loop);
}

int ss__loop_close(ss_loop *loop, int64_t patience_ns)
{
    return loop->ops->close(loop, patience_ns);
}

SS_API int ss_loop_pending(ss_loop *loop, size_t *msgs, size_t *bytes)
{
    if (!loop || !loop->ops)
        return SS_EINVAL;
    ss_queue_stats st;
    int rc = loop->ops->stats(loop, &st);
    if (rc != 0 && rc != SS_ECORRUPT)
        return rc;
    if (msgs)
        *msgs = (size_t)st.msgs;
    if (bytes)
        *bytes = (size_t)st.bytes;
    return rc;
}

/* How much a drop's reason says, for the code an emission returns when
 * loops dropped it for different reasons: a message that can never fit
 * first, then a damaged queue, a full (or stuck) one, an ended loop. */
static int drop_rank(int rc)
{
    switch (rc) {
    case SS_EMSGSIZE:
        return 4;
    case SS_EAGAIN:
    case SS_EBUSY:
        return 2;
    case SS_ECLOSED:
        return 1;
    default: /* SS_ECORRUPT and anything unexpected */
        return 3;
    }
}

/* Put into one loop's queue: n payloads, each after the header prefix,
 * or (batch) one message of them all framed after the batch header; a
 * batch too large for one message goes as n. */
static int put_one(ss_loop *to, const ss__signal *s, const unsigned char *hdr,
                   size_t hlen, const ss_msg *msgs, size_t n, bool batch)
{
    /* Never waits for room; waits for a busy producer side only while its
     * holder makes progress, and at most the loop's emit_wait_ns. */
    ss__put how = {.reserve = s->ctrl ? 0 : to->reserve,
                   .timeout_ns = SS_NO_WAIT,
                   .patience_ns = to->emit_wait_ns};
    int prc = SS_EMSGSIZE;
    if (batch) {
        unsigned char bhdr[ANY_HDR_MAX];
        memcpy(bhdr, hdr, hlen);
        bhdr[0] = (unsigned char)((hdr[0] & ~MSG_KIND(0xff)) | MSG_BATCH);
        how.prefix = bhdr;
        how.prefix_len = hlen;
        how.framed = true;
        prc = to->ops->put(to, msgs, n, &how);
    }
    if (prc == SS_EMSGSIZE) {
        how.prefix = hdr;
        how.prefix_len = hlen;
        how.framed = false;
        prc = to->ops->put(to, msgs, n, &how);
    }
    return prc;
}

/* Count (and note, to log) a drop of n messages for loop to. */
static void dropped(targets *t, ss_loop *to, size_t n, int prc, int *result)
{
    atomic_fetch_add(&to->dropped, n);
    if (to->counters)
        atomic_fetch_add_explicit(&to->counters->drops, n,
                                  memory_order_relaxed);
    uint64_t d = atomic_fetch_add(&t->s->dropped, n) + n;
    if (t->drop_rc == 0) {
        t->drop_rc = prc;
        t->drop_total = d;
        t->drop_log = drop_log_due(t->s, d, n, &t->drop_since);
        memcpy(t->drop_loop, to->name, strlen(to->name) + 1);
    }
    if (*result == 0 || drop_rank(prc) > drop_rank(*result))
        *result = prc;
}

/* Put n payloads (or, batch, one message of them) into every target loop,
 * one queue operation per loop, after the signal's header (the remote one
 * for loops of other processes); a loop whose queue has no room drops
 * them all, counted here and logged by targets_done(). Returns 0, or the
 * most telling reason of a drop (drop_rank()). */
static int deliver(targets *t, const ss_msg *msgs, size_t n, bool batch)
{
    int result = 0;
    const ss__signal *s = t->s;
    ss_loop *from = s->owner->loop_;
    if (from && from->counters) {
        /* A plain load and store, not a read-modify-write: a locked
         * instruction would wait for the ring writes in the store buffer.
         * Emitters on several threads at once may lose an increment: a
         * statistic, documented as such. */
        _Atomic uint64_t *c = &from->counters->signals_out;
        atomic_store_explicit(
            c, atomic_load_explicit(c, memory_order_relaxed) + n,
            memory_order_relaxed);
    }
    for (size_t k = 0; k < t->n; k++) {
        ss_loop *to = t->loops[k];
        int prc = put_one(to, s, s->hdr, s->hlen, msgs, n, batch);
        if (prc == 0)
            ss__loop_notify(to);
        else
            dropped(t, to, n, prc, &result);
    }
    for (size_t k = 0; k < t->n_routes; k++) {
        const ss__route *r = &t->routes[k];
        unsigned char rh[RMSG_HDR_MAX];
        memcpy(rh, s->rhdr, s->rhlen);
        if (r->bcasts)
            rh[0] |= MSG_BCAST;
        int prc = put_one(r->to, s, rh, s->rhlen, msgs, n, batch);
        if (prc != 0)
            dropped(t, r->to, n, prc, &result);
    }
    return result;
}

/* kinds: the types of the arguments (signal_slot/argcheck.h), checked
 * against the signature before anything is read; NULL: not known. */
static int emit_v(ss_object *emitter, const char *kinds, const char *signal,
                  va_list ap)
{
    if (!emitter || !signal)
        return SS_EINVAL;
    targets t;
    int rc = find_targets(emitter, signal, &t);
    if (rc != 0)
        return rc;
    char why[256];
    if (kinds && ss__args_check(t.s->sig, kinds, false, why, sizeof why)) {
        targets_done(emitter->id_, signal, &t);
        SS_LOG_ERR("loop", "emit %s.%s: %s; nothing sent", emitter->id_, signal,
                   why);
        return SS_ETYPE;
    }
    if (!targets_any(&t)) {
        targets_done(emitter->id_, signal, &t);
        return 0; /* nobody listens: nothing encoded, nothing sent */
    }
    ss__signal *s = t.s;
    ss_writer w;
    ss_writer_init(&w, tl_msg, sizeof tl_msg);
    rc = ss_vpack(&w, s->sig, ap);
    const void *payload = NULL;
    size_t plen = 0;
    if (rc == 0)
        rc = ss_writer_data(&w, &payload, &plen);
    if (rc != 0) {
        char sig[SS_SIGNATURE_MAX_LEN + 1];
        memcpy(sig, s->sig, strlen(s->sig) + 1);
        ss_writer_free(&w);
        targets_done(emitter->id_, signal, &t);
        SS_LOG_ERR("loop", "emit %s.%s: arguments do not follow \"%s\": %s",
                   emitter->id_, signal, sig, ss_strerror(rc));
        return rc;
    }
    /* The queue writes the header before the payload while copying it in
     * (the payload may have outgrown the thread's buffer: then it is on
     * the heap). */
    ss_msg m = {payload, plen};
    rc = deliver(&t, &m, 1, false);
    targets_done(emitter->id_, signal, &t);
    ss_writer_free(&w);
    return rc;
}

SS_API int ss_emit_many(ss_object *emitter, const char *signal,
                        const ss_msg *payloads, size_t n)
{
    if (!emitter || !signal || (n && !payloads))
        return SS_EINVAL;
    targets t;
    int rc = find_targets(emitter, signal, &t);
    if (rc != 0)
        return rc;
    if (!targets_any(&t) || n == 0) {
        targets_done(emitter->id_, signal, &t);
        return 0;
    }
    ss__signal *s = t.s;
    for (size_t i = 0; i < n; i++) {
        size_t nt;
        rc = ss__payload_validate_n(s->sig, payloads[i].data, payloads[i].len,
                                    0, &nt);
        if (rc != 0) {
            char sig[SS_SIGNATURE_MAX_LEN + 1];
            memcpy(sig, s->sig, strlen(s->sig) + 1);
            targets_done(emitter->id_, signal, &t);
            SS_LOG_ERR("loop",
                       "emit_many %s.%s: payload %zu is not \"%s\": "
                       "%s; nothing sent",
                       emitter->id_, signal, i, sig, ss_strerror(rc));
            return rc;
        }
    }
    /* The queue writes the header (once for a batch message, or before
     * each payload) while copying the payloads in: no copy here. */
    rc = deliver(&t, payloads, n, n > 1);
    targets_done(emitter->id_, signal, &t);
    return rc;
}

SS_API int(ss_emit)(ss_object *emitter, const char *signal, ...)
{
    va_list ap;
    va_start(ap, signal);
    int rc = emit_v(emitter, NULL, signal, ap);
    va_end(ap);
    return rc;
}

SS_API int ss__emit_checked(ss_object *emitter, const char *kinds,
                            const char *signal, ...)
{
    va_list ap;
    va_start(ap, signal);
    int rc = emit_v(emitter, kinds, signal, ap);
    va_end(ap);
    return rc;
}

/* ---- a loop's signals to itself ---- */

/* A loop's own timers and its "terminated" do not travel through its
 * queue to reach the slots on the loop itself: the loop calls those slots
 * directly (ss__dispatch_batch() on the message it would have queued), so that
 * a queue full of data, or held by a process stopped in the middle of a
 * put, neither delays nor drops them. Its "started" is queued, so that
 * what was queued before the run is handled before it (as in the seed),
 * and called directly only if the queue cannot take it. Other loops get
 * the signal through their queues, as any emission. */

/* Call what lb holds on loop's slots. A stop cannot be among them. */
void ss__local_flush(ss_loop *loop, ss__local_batch *lb)
{
    if (lb->n)
        ss__dispatch_batch(loop, lb->msgs, lb->n);
    lb->n = 0;
}

/* Emit obj's signal (of signature "") from loop's thread: to other loops
 * through their queues, to loop itself into lb (flushed when full), or,
 * with queue_own, into loop's queue if it takes it. */
void ss__emit_local(ss_loop *loop, ss_object *obj, const char *signal,
                    ss__local_batch *lb, bool queue_own)
{
    targets t;
    if (find_targets(obj, signal, &t) != 0)
        return;
    bool here = false;
    for (size_t k = 0; k < t.n; k++) {
        if (t.loops[k] == loop) {
            t.loops[k] = t.loops[--t.n];
            here = true;
            break;
        }
    }
    ss_msg none = {"", 0};
    if (targets_any(&t))
        deliver(&t, &none, 1, false);
    ss_msg m = {t.s->hdr, t.s->hlen};
    if (here && queue_own) {
        ss__put how = {.reserve = t.s->ctrl ? 0 : loop->reserve,
                       .timeout_ns = SS_NO_WAIT,
                       .patience_ns = loop->emit_wait_ns};
        if (loop->ops->put(loop, &m, 1, &how) == 0) {
            ss__loop_notify(loop);
            here = false;
        }
    }
    if (here) {
        memcpy(lb->hdr[lb->n], t.s->hdr, t.s->hlen);
        lb->msgs[lb->n].data = lb->hdr[lb->n];
        lb->msgs[lb->n].len = t.s->hlen;
        lb->n++;
    }
    targets_done(obj->id_, signal, &t);
    if (lb->n == SS__LOCAL_BATCH)
        ss__local_flush(loop, lb);
}

/*
 * dispatch.c - a slot's view of its arguments, and dispatch: resolving
 * the messages a loop takes from its queue and calling their slots.
 */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arguments ---- */

/* NUL-terminated copies of the emitter's names, made on first request
 * (args is the dispatcher's, on its stack: writable). */
static void args_names(const ss_args *cargs)
{
    ss_args *args = (ss_args *)cargs;
    if (args->names_ready)
        return;
    const unsigned char *p = args->names;
    char *dst[3] = {args->loop, args->object, args->signal};
    for (int i = 0; i < 3; i++) {
        /* (A proxy's loop field holds more after a NUL: not copied.) */
        size_t n = strnlen((const char *)p, args->nl[i]);
        n = n > SS_NAME_MAX ? SS_NAME_MAX : n;
        memcpy(dst[i], p, n);
        dst[i][n] = 0;
        p += args->nl[i];
    }
    args->names_ready = true;
}

SS_API int ss_args_reader(const ss_args *args, ss_reader *r)
{
    if (!args || !r)
        return SS_EINVAL;
    ss__reader_init_valid(r, args->sig, args->n_types, args->data, args->len);
    return 0;
}

static int args_vunpack(const ss_args *args, const char *kinds, const char *sig,
                        va_list ap);

SS_API int(ss_args_unpack)(const ss_args *args, const char *sig, ...)
{
    va_list ap;
    va_start(ap, sig);
    int rc = args_vunpack(args, NULL, sig, ap);
    va_end(ap);
    return rc;
}

SS_API int ss__args_unpack_checked(const ss_args *args, const char *kinds,
                                   const char *sig, ...)
{
    va_list ap;
    va_start(ap, sig);
    int rc = args_vunpack(args, kinds, sig, ap);
    va_end(ap);
    return rc;
}

static int args_vunpack(const ss_args *args, const char *kinds, const char *sig,
                        va_list ap)
{
    if (!args || !sig)
        return SS_EINVAL;
    /* args->sig is valid: equal strings are equal signatures. */
    if (strcmp(sig, args->sig) != 0) {
        args_names(args);
        SS_LOG_ERR("loop", "slot reads %s.%s as \"%s\", but it carries \"%s\"",
                   args->object, args->signal, sig, args->sig);
        return SS_ETYPE;
    }
    char why[256];
    if (kinds && ss__args_check(sig, kinds, true, why, sizeof why)) {
        args_names(args);
        SS_LOG_ERR("loop", "slot reads %s.%s: %s; nothing read", args->object,
                   args->signal, why);
        return SS_ETYPE;
    }
    return ss__unpack_valid(args->sig, args->n_types, args->data, args->len,
                            ap);
}

SS_API const char *ss_args_signature(const ss_args *args)
{
    return args ? args->sig : NULL;
}

SS_API void ss_args_sender(const ss_args *args, const char **loop,
                           const char **object, const char **signal)
{
    if (args)
        args_names(args);
    if (loop)
        *loop = args ? args->loop : NULL;
    if (object)
        *object = args ? args->object : NULL;
    if (signal)
        *signal = args ? args->signal : NULL;
}

/* ---- dispatch ---- */

/* Take a reference on cn for this dispatch; false if out of memory. */
static bool add_call(ss_loop *loop, ss__conn *cn, size_t *n)
{
    if (*n == loop->calls_cap) {
        size_t nc = loop->calls_cap ? 2 * loop->calls_cap : 16;
        ss__conn **bigger = realloc(loop->calls, nc * sizeof *bigger);
        if (!bigger)
            return false;
        loop->calls = bigger;
        loop->calls_cap = nc;
    }
    atomic_fetch_add(&cn->refs, 1);
    loop->calls[(*n)++] = cn;
    return true;
}

/* Find the signal a header names (tables locked), through the loop's cache
 * of the last header when the tables have not changed since. */
static ss__signal *resolve_signal(ss_loop *loop, const unsigned char *m,
                                  size_t hlen)
{
    /* From byte 1: a batch and a single emission share their names. */
    if (loop->cache_gen == ss__rt_gen && loop->cache_len == hlen &&
        memcmp(loop->cache_hdr + 1, m + 1, hlen - 1) == 0)
        return loop->cache_sig;
    size_t a = m[1], b = m[2], c = m[3];
    const char *names = (const char *)m + MSG_HDR;
    ss_loop *el = ss__find_emitter_loop(names, a);
    ss_object *eo = el ? ss__find_object(el, names + a, b) : NULL;
    ss__signal *s = eo ? ss__find_signal(eo, names + a + b, c) : NULL;
    memcpy(loop->cache_hdr, m, hlen);
    loop->cache_len = hlen;
    loop->cache_sig = s;
    loop->cache_gen = ss__rt_gen;
    return s;
}

/* Take a reference on each subscription of loop to signal name whose
 * slot takes a signature of hash sig_hash (or exactly sig, if given);
 * a mismatch is logged once per subscription. */
static void add_subscribers(ss_loop *loop, const char *name, size_t name_len,
                            const char *sig, uint32_t sig_hash,
                            const char *from, size_t *n)
{
    for (ss__conn *cn = loop->subs; cn; cn = cn->next) {
        if (strlen(cn->name) != name_len ||
            memcmp(cn->name, name, name_len) != 0)
            continue;
        bool same = sig ? strcmp(cn->sig, sig) == 0
                        : ss__sig_hash(cn->sig) == sig_hash;
        if (!same) {
            if (!atomic_exchange(&cn->warned, true))
                SS_LOG_ERR("loop",
                           "loop %s: %s subscribed to %.*s as \"%s\", but "
                           "%s's carries %s%s%s; not called (logged once)",
                           loop->name, cn->receiver->id_, (int)name_len, name,
                           cn->sig, from, sig ? "\"" : "another signature",
                           sig ? sig : "", sig ? "\"" : "");
            continue;
        }
        if (!add_call(loop, cn, n))
            break;
    }
}

/* Resolve a message of another process (remote header): through the
 * loop's bindings, and its subscriptions for a broadcast. */
static bool resolve_remote(ss_loop *loop, const unsigned char *m, size_t len,
                           pending *p, const pending *prev,
                           const void **prev_key, size_t *n)
{
    if (len < RMSG_HDR || m[1] != MSG_VERSION) {
        SS_LOG_ERR("loop", "loop %s: message of format version %u (this "
                   "library reads %u) dropped",
                   loop->name, len > 1 ? m[1] : 0, MSG_VERSION);
        return false;
    }
    const unsigned char *nl = m + RMSG_KEY + 4;
    size_t a = nl[0], b = nl[1], c = nl[2];
    if (a > SS_NAME_MAX || b > SS_NAME_MAX || c > SS_NAME_MAX ||
        len < RMSG_HDR + a + b + c)
        return false;
    uint32_t sig_hash = ss__ld_le32(m + 2);
    p->hlen = RMSG_HDR + a + b + c;
    p->names = m + RMSG_HDR;
    memcpy(p->nl, nl, 3);
    p->foreign = true;
    ss__binding *bd =
        ss__binding_find(loop, m + RMSG_KEY, RMSG_HDR - RMSG_KEY + a + b + c);
    p->found = bd != NULL || (m[0] & MSG_BCAST);
    if (prev && *prev_key == bd && bd && !(m[0] & MSG_BCAST) &&
        prev->found) {
        p->first = prev->first;
        p->last = prev->last;
        return true;
    }
    *prev_key = (m[0] & MSG_BCAST) ? NULL : bd;
    if (bd && bd->sig_hash != sig_hash) {
        static _Atomic int logged;
        if (!atomic_exchange(&logged, 1))
            SS_LOG_ERR("loop", "loop %s: %.*s.%.*s.%.*s comes with another "
                       "signature than it was connected with (built from "
                       "other code?); dropped (logged once)",
                       loop->name, (int)a, (const char *)p->names, (int)b,
                       (const char *)p->names + a, (int)c,
                       (const char *)p->names + a + b);
        atomic_fetch_add(&loop->dropped, 1);
        p->first = p->last = *n;
        return true;
    }
    for (ss__conn *cn = bd ? bd->conns : NULL; cn; cn = cn->next)
        if (!add_call(loop, cn, n))
            break;
    if (m[0] & MSG_BCAST) {
        char from[2 * SS_NAME_MAX + 2];
        snprintf(from, sizeof from, "%.*s.%.*s", (int)a,
                 (const char *)p->names, (int)b, (const char *)p->names + a);
        add_subscribers(loop, (const char *)p->names + a + b, c, NULL,
                        sig_hash, from, n);
    }
    p->last = *n;
    return true;
}

/* Resolve message m (tables locked): find the emitter by its names and take a
 * reference on each live connection or subscription on this loop; a
 * message of the same signal as the one before it (prev) shares its
 * references. False if the header is malformed. */
static bool resolve(ss_loop *loop, const unsigned char *m, size_t len,
                    pending *p, const pending *prev, const void **prev_key,
                    size_t *n)
{
    p->hdr = m;
    p->len = len;
    p->first = p->last = *n;
    p->batch = MSG_KIND(m[0]) == MSG_BATCH;
    if (m[0] & MSG_REMOTE)
        return resolve_remote(loop, m, len, p, prev, prev_key, n);
    size_t a = m[1], b = m[2], c = m[3];
    /* (A proxy's loop field is longer: ss__loop_field().) */
    if (a > SS_NAME_MAX + 5 || b > SS_NAME_MAX || c > SS_NAME_MAX ||
        len < MSG_HDR + a + b + c)
        return false;
    p->hlen = MSG_HDR + a + b + c;
    p->names = m + MSG_HDR;
    memcpy(p->nl, m + 1, 3);
    ss__signal *s = resolve_signal(loop, m, p->hlen);
    p->found = s != NULL;
    if (!s) {
        *prev_key = NULL; /* p has no calls to share */
        return true;
    }
    p->foreign = !s->here && s->owner->loop_->pid != loop->pid;
    if (prev && *prev_key == s) {
        p->first = prev->first;
        p->last = prev->last;
        return true;
    }
    *prev_key = s;
    for (ss__conn *cn = s->conns; cn; cn = cn->next)
        if (cn->receiver->loop_ == loop && !add_call(loop, cn, n))
            break;
    /* Broadcast on this loop: every subscriber to the name. */
    bool bcast = false;
    for (size_t k = 0; k < s->n_bcast; k++)
        bcast |= s->bcast[k] == loop;
    if (bcast) {
        char from[2 * SS_NAME_MAX + 2];
        snprintf(from, sizeof from, "%.*s.%.*s", (int)a, (const char *)m + 4,
                 (int)b, (const char *)m + 4 + a);
        add_subscribers(loop, s->name, s->name_len, s->sig, 0, from, n);
    }
    p->last = *n;
    return true;
}

/* ---- the busiest signals of a published loop ---- */

/* A table of HOT_SLOTS signals by the emitter's names (the three lengths,
 * then the names), counted as in the space-saving algorithm: a signal
 * not in the table takes the place of the least counted one, and its
 * count on top. The HOT_PUBLISH_NS-old table is published to the
 * registry's block of the loop's entry, busiest first. */
#define HOT_SLOTS 8
#define HOT_PUBLISH_NS SS_MSEC(100)
/* (Sooner when the loop caught up with its queue: what it shows then is
 * what it has done.) */
#define HOT_PUBLISH_IDLE_NS SS_MSEC(10)

struct ss__hot {
    uint64_t count;
    uint8_t klen;
    unsigned char key[3 + 3 * SS_NAME_MAX + 5];
};

static void hot_count(ss_loop *loop, const pending *p, uint64_t n)
{
    if (!loop->hot && !(loop->hot = calloc(HOT_SLOTS, sizeof *loop->hot)))
        return;
    loop->hot_dirty = true;
    size_t klen = 3 + (size_t)p->nl[0] + p->nl[1] + p->nl[2];
    struct ss__hot *h = &loop->hot[loop->hot_last];
    /* Keys: the lengths, then the names (the message's, in one piece). */
    if (h->klen == klen && memcmp(h->key, p->nl, 3) == 0 &&
        memcmp(h->key + 3, p->names, klen - 3) == 0) {
        h->count += n;
        return;
    }
    unsigned least = 0;
    for (unsigned k = 0; k < HOT_SLOTS; k++) {
        h = &loop->hot[k];
        if (h->klen == klen && memcmp(h->key, p->nl, 3) == 0 &&
            memcmp(h->key + 3, p->names, klen - 3) == 0) {
            h->count += n;
            loop->hot_last = k;
            return;
        }
        if (h->count < loop->hot[least].count)
            least = k;
    }
    h = &loop->hot[least];
    h->count += n;
    h->klen = (uint8_t)klen;
    memcpy(h->key, p->nl, 3);
    memcpy(h->key + 3, p->names, klen - 3);
    loop->hot_last = least;
}

static void hot_publish(ss_loop *loop)
{
    struct ss__hot *order[HOT_SLOTS];
    unsigned n = 0;
    for (unsigned k = 0; k < HOT_SLOTS; k++) {
        struct ss__hot *h = &loop->hot[k];
        if (!h->klen)
            continue;
        unsigned at = n++;
        while (at > 0 && order[at - 1]->count < h->count) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = h;
    }
    ss__reg_top *t = loop->top;
    if (n > SS__REG_TOP)
        n = SS__REG_TOP;
    /* Odd while written (whatever the number was: it may be damaged). */
    uint32_t seq = atomic_load_explicit(&t->seq, memory_order_relaxed) | 1u;
    atomic_store_explicit(&t->seq, seq, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (unsigned k = 0; k < n; k++) {
        const unsigned char *key = order[k]->key;
        /* "loop.object.signal" (a proxy's loop field ends at its NUL). */
        int a = (int)strnlen((const char *)key + 3, key[0]);
        snprintf(t->top[k].name, sizeof t->top[k].name, "%.*s.%.*s.%.*s", a,
                 (const char *)key + 3, (int)key[1],
                 (const char *)key + 3 + key[0], (int)key[2],
                 (const char *)key + 3 + key[0] + key[1]);
        t->top[k].count = order[k]->count;
    }
    t->n = n;
    atomic_store_explicit(&t->seq, seq + 1, memory_order_release);
}

/* Validate one payload of resolved message p and call its slots. */
static void deliver_one(ss_loop *loop, const pending *p, ss_args *args,
                        const unsigned char *data, size_t len)
{
    args->data = data;
    args->len = len;
    int rc = ss__payload_validate_n(args->sig, data, len,
                                    p->foreign ? SS_PAYLOAD_NO_POINTER : 0,
                                    &args->n_types);
    if (rc != 0) {
        args_names(args);
        SS_LOG_ERR("loop",
                   "loop %s: %s.%s with a payload that is not "
                   "\"%s\": %s; dropped",
                   loop->name, args->object, args->signal, args->sig,
                   ss_strerror(rc));
        return;
    }
    /* (Nested: a slot that runs the loop once more, whose own receiver
     * is called again after.) */
    ss_object *outer = atomic_load_explicit(&loop->calling,
                                            memory_order_relaxed);
    for (size_t i = p->first; i < p->last; i++) {
        ss__conn *cn = loop->calls[i];
        /* Disconnected or destroyed (by a slot called before it, or on
         * another thread)? The receiver is announced first: a destroyer
         * on another thread either sees it and waits for the call to
         * end, or has marked the connection dead before this reads it
         * (both sequentially consistent: see ss_object_destroy()). */
        atomic_store(&loop->calling, cn->receiver);
        if (!atomic_load(&cn->dead))
            cn->slot(cn->receiver, args, cn->user_data);
    }
    atomic_store_explicit(&loop->calling, outer, memory_order_release);
}

/* Dispatch a run of signal messages: resolve them all under one hold of
 * the lock, call their slots without it, in order, then release the
 * references. */
static void dispatch_run(ss_loop *loop, const ss_msg *msgs, size_t n_msgs)
{
    pending *pend = loop->pend;
    size_t np = 0, n = 0;
    const void *prev_key = NULL;

    ss__rt_read_lock();
    for (size_t i = 0; i < n_msgs; i++) {
        const unsigned char *m = msgs[i].data;
        unsigned kind = MSG_KIND(m[0]);
        if (kind != MSG_SIGNAL && kind != MSG_BATCH) {
            SS_LOG_ERR("loop", "loop %s: message of unknown kind %u dropped",
                       loop->name, m[0]);
            continue;
        }
        if (resolve(loop, m, msgs[i].len, &pend[np], np ? &pend[np - 1] : NULL,
                    &prev_key, &n))
            np++;
        else
            SS_LOG_ERR("loop", "loop %s: malformed message header dropped",
                       loop->name);
    }
    ss__rt_unlock();

    if (n && loop->hook_begin)
        loop->hook_begin(loop, loop->hook_ud);
    for (size_t k = 0; k < np; k++) {
        pending *p = &pend[k];
        ss_args args;
        args.names = p->names;
        memcpy(args.nl, p->nl, 3);
        args.names_ready = false;
        if (!p->found) {
            args_names(&args);
            SS_LOG_DBG("loop",
                       "loop %s: %s.%s from loop %s: nobody here takes it "
                       "(it no longer exists, or is not connected); dropped",
                       loop->name, args.object, args.signal, args.loop);
            continue;
        }
        if (p->first == p->last)
            continue; /* nobody here takes it (any more) */
        if (loop->top)
            hot_count(loop, p,
                      p->batch && p->len >= p->hlen + 4
                          ? ss__ld_le32(p->hdr + p->hlen)
                          : 1);
        /* Each call holds a reference: its signature stays valid. */
        args.sig = loop->calls[p->first]->sig;
        const unsigned char *body = p->hdr + p->hlen;
        size_t left = p->len - p->hlen;
        if (!p->batch) {
            deliver_one(loop, p, &args, body, left);
            continue;
        }
        /* A batch: a u32 count, then length-prefixed payloads. */
        if (left < 4) {
            args_names(&args);
            SS_LOG_ERR("loop",
                       "loop %s: batch of %s.%s without its count; "
                       "dropped",
                       loop->name, args.object, args.signal);
            continue;
        }
        uint64_t count = ss__ld_le32(body);
        body += 4;
        left -= 4;
        for (uint64_t e = 0; e < count; e++) {
            size_t plen = left >= 4 ? ss__ld_le32(body) : 0;
            if (left < 4 || plen > left - 4) {
                args_names(&args);
                SS_LOG_ERR("loop",
                           "loop %s: batch of %s.%s with a broken "
                           "frame at payload %llu of %llu; the rest dropped",
                           loop->name, args.object, args.signal,
                           (unsigned long long)e, (unsigned long long)count);
                break;
            }
            deliver_one(loop, p, &args, body + 4, plen);
            body += 4 + plen;
            left -= 4 + plen;
        }
    }

    for (size_t i = 0; i < n; i++)
        ss__conn_release(loop->calls[i]);
    if (n && loop->hook_end)
        loop->hook_end(loop, loop->hook_ud);
}

void ss__hot_publish(ss_loop *loop, bool drained, bool now)
{
    if (!loop->top || !loop->hot || !loop->hot_dirty)
        return;
    int64_t t = ss__now_ns(), since = t - loop->hot_pub_ns;
    if (now || since >= HOT_PUBLISH_NS ||
        (drained && since >= HOT_PUBLISH_IDLE_NS)) {
        loop->hot_pub_ns = t;
        loop->hot_dirty = false;
        hot_publish(loop);
    }
}

/* Dispatch a batch: runs of signal messages, each control message in its
 * place (what it changes applies to the messages after it), up to a stop
 * (what follows it is not handled). Returns whether a stop was seen. */
bool ss__dispatch_batch(ss_loop *loop, const ss_msg *msgs, size_t n_msgs)
{
    size_t run = 0; /* start of the current run of signal messages */
    for (size_t i = 0; i < n_msgs; i++) {
        const unsigned char *m = msgs[i].data;
        size_t len = msgs[i].len;
        unsigned kind = len ? MSG_KIND(m[0]) : 0;
        if (len >= MSG_HDR && (kind == MSG_SIGNAL || kind == MSG_BATCH))
            continue;
        if (i > run)
            dispatch_run(loop, msgs + run, i - run);
        run = i + 1;
        if (len >= MSG_HDR && kind == MSG_STOP && !(m[0] & MSG_REMOTE))
            return true;
        if (len >= 1 && kind == MSG_CTRL)
            ss__handle_ctrl(loop, m, len);
        else
            SS_LOG_ERR("loop", "loop %s: message of %zu bytes, kind %u, "
                       "dropped", loop->name, len, len ? m[0] : 0);
    }
    if (n_msgs > run)
        dispatch_run(loop, msgs + run, n_msgs - run);
    return false;
}

uint64_t ss__msg_signals(const unsigned char *m, size_t len)
{
    if (len < MSG_HDR)
        return 0;
    bool remote = m[0] & MSG_REMOTE;
    if (remote && len < RMSG_HDR)
        return 0;
    const unsigned char *nl = remote ? m + RMSG_KEY + 4 : m + 1;
    size_t hlen = (remote ? RMSG_HDR : MSG_HDR) + (size_t)nl[0] + nl[1] +
                  nl[2];
    if (MSG_KIND(m[0]) == MSG_SIGNAL)
        return len >= hlen;
    if (MSG_KIND(m[0]) == MSG_BATCH && len >= hlen + 4)
        return ss__ld_le32(m + hlen);
    return 0;
}

uint64_t ss__loop_drop_queued(ss_loop *loop)
{
    size_t size = LOOP_BUF_INITIAL;
    unsigned char *buf = malloc(size);
    ss_msg msgs[LOOP_BATCH];
    uint64_t n_signals = 0;
    while (buf) {
        size_t n = 0;
        int rc = ss_queue_get_many(loop->q, buf, size, msgs, LOOP_BATCH, &n,
                                   SS_NO_WAIT);
        if (rc == SS_ENOBUFS) {
            size = msgs[0].len + 8;
            unsigned char *bigger = realloc(buf, size);
            if (!bigger)
                break;
            buf = bigger;
            continue;
        }
        if (rc != 0)
            break; /* drained (SS_ECLOSED), or damaged */
        for (size_t k = 0; k < n; k++)
            n_signals += ss__msg_signals(msgs[k].data, msgs[k].len);
    }
    free(buf);
    atomic_fetch_add(&loop->dropped, n_signals);
    return n_signals;
}

/*
 * remote.c - loops of other processes: handles on published loops
 * (proxies), slots by name, and connections made at any time, from any
 * process, as data (docs/registry.md, "Connections across processes").
 *
 * A connection across processes is two halves, each kept by the process
 * that uses it:
 *  - a route, on the emitter's side: the signal's messages go to a loop
 *    of another process (a proxy, whose queue is opened by name), with
 *    the remote header, which names the emitter and hashes the signature;
 *  - a binding, on the receiver's side: messages with those names go to
 *    these slots of the receiving loop's objects.
 * A process installs the half that is its own directly, and asks for the
 * other with a control message to the loop concerned, whose thread applies
 * it in the order of its queue and answers through a reply slot of the
 * registry. The binding is always in place before the route: a message
 * emitted after the connection was made finds it.
 */
#include "runtime.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How long a request waits for its answer: the loop concerned must be
 * running to handle it. */
#define REQUEST_WAIT_NS SS_SEC(5)
/* How long ss_loop_open() waits for room in a loop's queue (control). */
#define CTRL_ROOM_NS SS_SEC(1)

enum ctrl_op {
    CTRL_ROUTE_ADD = 1,
    CTRL_ROUTE_DEL = 2,
    CTRL_BIND_ADD = 3,
    CTRL_BIND_DEL = 4,
    CTRL_SUB_ADD = 5,
    CTRL_SUB_DEL = 6,
};

#define CTRL_BCAST 0x1u /* a route: for a broadcast, not a connection */
#define CTRL_HDR 16u
#define CTRL_NO_REPLY 0xffffffffu

uint32_t ss__sig_hash(const char *sig)
{
    uint32_t h = 2166136261u;
    for (; *sig; sig++)
        h = (h ^ (unsigned char)*sig) * 16777619u;
    return h ^ 0x5167u;
}

/* ---- bindings ---- */

/* Eight bytes at a time: it runs for every message a binding takes. */
static uint32_t key_hash(const unsigned char *key, size_t klen)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ klen;
    size_t i = 0;
    for (; i + 8 <= klen; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    if (i < klen) {
        unsigned char tail[8] = {0};
        for (size_t k = 0; i + k < klen; k++)
            tail[k] = key[i + k];
        uint64_t w;
        memcpy(&w, tail, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
    }
    h ^= h >> 29;
    return (uint32_t)h;
}

ss__binding *ss__binding_find(ss_loop *loop, const unsigned char *key,
                              size_t klen)
{
    if (!loop->bind_nb)
        return NULL;
    uint32_t h = key_hash(key, klen);
    for (ss__binding *b = loop->bind_buckets[h & (loop->bind_nb - 1)]; b;
         b = b->hnext)
        if (b->hash == h && b->klen == klen && memcmp(b->key, key, klen) == 0)
            return b;
    return NULL;
}

/* The key of an emitter: its loop's incarnation, the three lengths, then
 * the names (as its messages' remote header has them from RMSG_KEY). */
#define KEY_MAX (RMSG_HDR - RMSG_KEY + 3 * SS_NAME_MAX)
#define KEY_NAMES (RMSG_HDR - RMSG_KEY)


/* Drop loop's bindings of emitters on the loop named name whose
 * incarnation is not inc: when a loop of that name binds again, those of
 * its former incarnations (write-locked). */
static void bindings_purge(ss_loop *loop, const char *name, size_t len,
                           uint32_t inc)
{
    for (size_t i = 0; i < loop->bind_nb; i++) {
        for (ss__binding **pp = &loop->bind_buckets[i]; *pp;) {
            ss__binding *b = *pp;
            if (b->key[4] != len ||
                memcmp(b->key + KEY_NAMES, name, len) != 0 ||
                ss__ld_le32(b->key) == inc) {
                pp = &b->hnext;
                continue;
            }
            *pp = b->hnext;
            while (b->conns)
                ss__conn_unlink(b->conns);
            free(b);
            loop->bind_count--;
        }
    }
}

/* The binding of key on loop, made if needed (write-locked). */
static ss__binding *binding_get(ss_loop *loop, const unsigned char *key,
                                size_t klen, uint32_t sig_hash)
{
    ss__binding *b = ss__binding_find(loop, key, klen);
    if (b)
        return b;
    if (loop->bind_count >= loop->bind_nb) {
        size_t nb = loop->bind_nb ? 2 * loop->bind_nb : 16;
        ss__binding **t = calloc(nb, sizeof *t);
        if (!t)
            return NULL;
        for (size_t i = 0; i < loop->bind_nb; i++) {
            for (ss__binding *x = loop->bind_buckets[i], *next; x; x = next) {
                next = x->hnext;
                x->hnext = t[x->hash & (nb - 1)];
                t[x->hash & (nb - 1)] = x;
            }
        }
        free(loop->bind_buckets);
        loop->bind_buckets = t;
        loop->bind_nb = nb;
    }
    b = calloc(1, sizeof *b + klen);
    if (!b)
        return NULL;
    b->hash = key_hash(key, klen);
    b->sig_hash = sig_hash;
    b->klen = klen;
    memcpy(b->key, key, klen);
    b->hnext = loop->bind_buckets[b->hash & (loop->bind_nb - 1)];
    loop->bind_buckets[b->hash & (loop->bind_nb - 1)] = b;
    loop->bind_count++;
    return b;
}

/* ---- routes ---- */

/* Note (or forget) that s has a route to proxy to. */
static int rsig_add(ss_loop *to, ss__signal *s)
{
    if (to->n_rsigs == to->cap_rsigs) {
        size_t nc = to->cap_rsigs ? 2 * to->cap_rsigs : 4;
        ss__signal **r = realloc(to->rsigs, nc * sizeof *r);
        if (!r)
            return SS_ENOMEM;
        to->rsigs = r;
        to->cap_rsigs = nc;
    }
    to->rsigs[to->n_rsigs++] = s;
    return 0;
}

static void rsig_del(ss_loop *to, const ss__signal *s)
{
    for (size_t k = 0; k < to->n_rsigs; k++) {
        if (to->rsigs[k] == s) {
            to->rsigs[k] = to->rsigs[--to->n_rsigs];
            return;
        }
    }
}

/* Add a route of s to proxy to (write-locked): 0, or SS_ENOMEM. The route
 * holds a reference on the proxy. */
static int route_add(ss__signal *s, ss_loop *to, bool bcast)
{
    for (size_t k = 0; k < s->n_routes; k++) {
        if (s->routes[k].to == to) {
            if (bcast)
                s->routes[k].bcasts++;
            else
                s->routes[k].conns++;
            return 0;
        }
    }
    if (s->n_routes == s->cap_routes) {
        size_t nc = s->cap_routes ? 2 * s->cap_routes : 2;
        ss__route *r = realloc(s->routes, nc * sizeof *r);
        if (!r)
            return SS_ENOMEM;
        s->routes = r;
        s->cap_routes = nc;
    }
    if (rsig_add(to, s) != 0)
        return SS_ENOMEM;
    s->routes[s->n_routes++] = (ss__route){to, bcast ? 0 : 1, bcast ? 1 : 0};
    to->refs++;
    return 0;
}

static void proxy_release_locked(ss_loop *p);

/* Take route k of s out (write-locked). */
static void route_remove(ss__signal *s, size_t k)
{
    ss_loop *to = s->routes[k].to;
    s->routes[k] = s->routes[--s->n_routes];
    rsig_del(to, s);
    proxy_release_locked(to);
}

/* Drop one use of the route of s to the loop named name (write-locked). */
static int route_del(ss__signal *s, const char *name, bool bcast)
{
    for (size_t k = 0; k < s->n_routes; k++) {
        ss__route *r = &s->routes[k];
        if (strcmp(r->to->name, name) != 0)
            continue;
        uint32_t *count = bcast ? &r->bcasts : &r->conns;
        if (*count == 0)
            return SS_ENOENT;
        (*count)--;
        if (r->conns == 0 && r->bcasts == 0)
            route_remove(s, k);
        return 0;
    }
    return SS_ENOENT;
}

void ss__routes_free(ss__signal *s)
{
    while (s->n_routes)
        route_remove(s, s->n_routes - 1);
    free(s->routes);
    s->routes = NULL;
    s->cap_routes = 0;
}

/* Proxy p's loop ended (write-locked, a reference held): take out the
 * routes of this process's signals to it. (The bindings of this process's
 * loops to its emitters stay: what it emitted before it ended may still
 * wait in their queues, and is delivered. They go when a loop of that
 * name binds again, under its new incarnation.) */
static void proxy_ended_locked(ss_loop *p)
{
    while (p->n_rsigs) {
        ss__signal *s = p->rsigs[p->n_rsigs - 1];
        size_t k = 0;
        while (k < s->n_routes && s->routes[k].to != p)
            k++;
        if (k == s->n_routes) {
            p->n_rsigs--; /* (not there: cannot happen) */
            continue;
        }
        route_remove(s, k);
    }
}

/* ---- proxies ---- */

static ss_loop *g_proxies; /* tables lock */
static void monitor_watch(ss_loop *p);

static void proxy_free(ss_loop *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    free(p->rsigs);
    ss_queue_destroy(p->q);
    ss__loop_objects_free(p);
    free(p);
}

/* One reference fewer (write-locked): the last one takes the proxy out
 * of the list and destroys its own object; its memory goes after. */
static void proxy_release_locked(ss_loop *p)
{
    if (--p->refs > 0)
        return;
    for (ss_loop **pp = &g_proxies; *pp; pp = &(*pp)->pnext) {
        if (*pp == p) {
            *pp = p->pnext;
            break;
        }
    }
    ss__object_destroy_locked(&p->self);
    /* Freed at once: nothing else points at it (routes held references,
     * emissions hold the read lock). */
    proxy_free(p);
}

/* A proxy of the live loop v named name: an existing one (one more
 * reference), or a new one. */
static int proxy_get(const char *name, const ss__reg_view *v, ss_loop **out)
{
    ss__rt_write_lock();
    for (ss_loop *p = g_proxies; p; p = p->pnext) {
        if (p->reg.index == v->ref.index &&
            p->reg.incarnation == v->ref.incarnation) {
            p->refs++;
            ss__rt_unlock();
            *out = p;
            return 0;
        }
    }
    ss__rt_unlock();
    ss_loop *p = calloc(1, sizeof *p);
    if (!p)
        return SS_ENOMEM;
    snprintf(p->name, sizeof p->name, "%s", name);
    char qn[SS__REG_QNAME_MAX];
    ss__reg_queue_name(name, v->ref.incarnation, qn, sizeof qn);
    int rc = ss_queue_open(&p->q, qn);
    if (rc != 0) {
        free(p);
        return rc == SS_ENOENT ? SS_ENOENT : rc;
    }
    p->remote = true;
    p->ops = &ss__dest_shm;
    /* Its drops count in its entry too, whoever drops. */
    p->counters = ss__reg_counters_of(v->ref);
    p->refs = 1;
    p->reg = v->ref;
    p->pid = v->pid;
    p->pidfd = -1;
    atomic_init(&p->efd, -1);
    p->reserve = ss__control_reserve(ss_queue_capacity(p->q));
    p->emit_wait_ns = SS_EMIT_WAIT_DEFAULT_NS;
    /* Its own object: the loop as seen from here. Emitting its "ended"
     * is this process's doing (the registry's monitor). */
    if ((rc = ss_object_init(&p->self, p, name)) != 0 ||
        (rc = ss__signal_add(&p->self, "ended", "ii", true, true)) != 0) {
        ss_object_destroy(&p->self);
        proxy_free(p);
        return rc;
    }
    ss__rt_write_lock();
    /* Another thread may have made one meanwhile: use it. */
    for (ss_loop *q = g_proxies; q; q = q->pnext) {
        if (q->reg.index == v->ref.index &&
            q->reg.incarnation == v->ref.incarnation) {
            q->refs++;
            ss__object_destroy_locked(&p->self);
            ss__rt_unlock();
            proxy_free(p);
            *out = q;
            return 0;
        }
    }
    p->pnext = g_proxies;
    g_proxies = p;
    ss__rt_unlock();
    monitor_watch(p);
    *out = p;
    return 0;
}

/* ---- noticing that a loop of another process ended ---- */

/* A thread per process that holds proxies watches their owners: a pidfd
 * per owner (readable when the process ends), and the registry every
 * 100 ms (a loop freed by a live owner, an owner without a pidfd). When a
 * proxy's loop has ended, it makes sure the registry says so (which
 * retires the loop's queue: emissions to it become counted drops), then
 * emits the proxy's "ended" (exit code or -1, signal or 0) here. */
#define MONITOR_POLL_MS 100

static pthread_mutex_t g_mon_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_mon_started;
static pthread_once_t g_mon_once = PTHREAD_ONCE_INIT;

static void monitor_forget(void)
{
    /* A forked child has no monitor thread: it starts its own if needed. */
    pthread_mutex_init(&g_mon_mu, NULL);
    g_mon_started = false;
}

static void monitor_atfork(void)
{
    pthread_atfork(NULL, NULL, monitor_forget);
}

/* The pollable descriptors of the live proxies' owners, and how many. */
static size_t monitor_fds(struct pollfd *fds, size_t max)
{
    size_t n = 0;
    ss__rt_read_lock();
    for (ss_loop *p = g_proxies; p && n < max; p = p->pnext)
        if (p->pidfd >= 0 && !p->ended_noticed)
            fds[n++] = (struct pollfd){.fd = p->pidfd, .events = POLLIN};
    ss__rt_unlock();
    return n;
}

/* Whether the loop of proxy p has ended: unpublished, marked ended, or
 * its owner gone (its pidfd readable; without one, /proc tells). */
static bool proxy_gone(const ss_loop *p)
{
    if (!ss__reg_alive(p->reg))
        return true;
    if (p->pidfd >= 0) {
        struct pollfd f = {.fd = p->pidfd, .events = POLLIN};
        return poll(&f, 1, 0) == 1;
    }
    return ss__thread_probe((uint32_t)p->pid, 0, NULL) == SS_THREAD_GONE;
}

/* Handle every proxy whose loop has ended and was not noticed yet. The
 * scan takes the tables' read lock only: most calls find nothing. */
static void monitor_check(void)
{
    for (;;) {
        ss_loop *ended = NULL;
        ss__rt_read_lock();
        for (ss_loop *p = g_proxies; p && !ended; p = p->pnext)
            if (!p->ended_noticed && proxy_gone(p))
                ended = p;
        ss__rt_unlock();
        if (!ended)
            return;
        ss__rt_write_lock();
        bool mine = false;
        for (ss_loop *p = g_proxies; p; p = p->pnext) {
            if (p == ended && !p->ended_noticed) {
                p->ended_noticed = true;
                p->refs++; /* held while it is announced */
                mine = true;
            }
        }
        ss__rt_unlock();
        if (!mine)
            continue; /* released meanwhile */
        /* The registry marks it ended (if nobody did), which retires its
         * queue; then it says how. */
        ss__reg_mark_ended(ended->reg, -1, 0);
        int code = -1, sig = 0;
        ss__reg_exit_info(ended->reg, &code, &sig);
        SS_LOG_DBG("loop", "loop %s (pid %d) of another process ended%s",
                   ended->name, (int)ended->pid, sig ? " (killed)" : "");
        ss_emit(&ended->self, "ended", code, sig);
        ss__rt_write_lock();
        proxy_ended_locked(ended);
        proxy_release_locked(ended);
        ss__rt_unlock();
    }
}

static void *monitor_main(void *arg)
{
    (void)arg;
    struct pollfd fds[64];
    for (;;) {
        size_t n = monitor_fds(fds, 64);
        poll(fds, n, MONITOR_POLL_MS);
        monitor_check();
        ss__rt_read_lock();
        bool any = g_proxies != NULL;
        ss__rt_unlock();
        if (!any) {
            pthread_mutex_lock(&g_mon_mu);
            ss__rt_read_lock();
            any = g_proxies != NULL;
            ss__rt_unlock();
            if (!any)
                g_mon_started = false;
            pthread_mutex_unlock(&g_mon_mu);
            if (!any)
                return NULL;
        }
    }
}

static void monitor_watch(ss_loop *p)
{
    pthread_once(&g_mon_once, monitor_atfork);
    /* A pidfd of the owner (Linux 5.3): readable when it ends. Without
     * one, the 100 ms poll of the registry notices. */
    int fd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    ss__rt_write_lock();
    if (p->pidfd < 0 && fd >= 0)
        p->pidfd = fd;
    else if (fd >= 0)
        close(fd);
    ss__rt_unlock();
    pthread_mutex_lock(&g_mon_mu);
    if (!g_mon_started) {
        pthread_t th;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        /* Not signals' business: they go to the program's threads. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        if (pthread_create(&th, &a, monitor_main, NULL) == 0)
            g_mon_started = true;
        else
            SS_LOG_ERR("loop", "no thread to watch the loops of other "
                       "processes: their end will not be noticed");
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&a);
    }
    pthread_mutex_unlock(&g_mon_mu);
}

SS_API int ss_loop_open(ss_loop **out, const char *name, int64_t timeout_ns)
{
    if (!out || !name)
        return SS_EINVAL;
    int rc = ss__check_name(name);
    if (rc != 0)
        return rc;
    if ((rc = ss__reg_attach()) != 0)
        return rc;
    int64_t deadline = ss__deadline_ns(timeout_ns);
    for (;;) {
        uint32_t gen = ss__reg_gen();
        ss__reg_view v;
        rc = ss__reg_find(name, &v);
        if (rc == 0) {
            rc = proxy_get(name, &v, out);
            if (rc != SS_ENOENT)
                return rc;
        }
        if (rc != SS_ENOENT)
            return rc;
        int64_t left = deadline < 0 ? SS_MSEC(100) : deadline - ss__now_ns();
        if (timeout_ns == 0 || left <= 0)
            return SS_ENOENT;
        ss__reg_wait(gen, left < SS_MSEC(100) ? left : SS_MSEC(100));
    }
}

SS_API bool ss_loop_is_remote(const ss_loop *loop)
{
    return loop && loop->remote;
}

ss_loop *ss__find_emitter_loop(const char *field, size_t len)
{
    const char *nul = memchr(field, '\0', len);
    if (!nul)
        return ss__find_loop(field, len);
    size_t n = (size_t)(nul - field);
    if (len != n + 5)
        return NULL;
    uint32_t inc = ss__ld_le32((const unsigned char *)nul + 1);
    for (ss_loop *p = g_proxies; p; p = p->pnext)
        if (p->reg.incarnation == inc && strlen(p->name) == n &&
            memcmp(p->name, field, n) == 0)
            return p;
    return NULL;
}

/* ss_loop_free() of a proxy: one user reference fewer. */
void ss__proxy_free(ss_loop *p)
{
    ss__rt_write_lock();
    proxy_release_locked(p);
    ss__rt_unlock();
}

SS_API int ss_object_open(ss_object **out, ss_loop *loop, const char *id)
{
    if (!out || !loop || !loop->remote)
        return SS_EINVAL;
    return ss_object_new(out, loop, id);
}

/* ---- slots by name ---- */

static bool sig_any(const char *sig)
{
    return strcmp(sig, SS_SIGNATURE_ANY) == 0;
}

static int slot_give_up(int rc, ss_destroy_fn destroy, void *user_data)
{
    if (destroy)
        destroy(user_data);
    return rc;
}

SS_API int ss_slot_add(ss_object *obj, const char *name, ss_slot_fn slot,
                       const char *signature, void *user_data)
{
    return ss_slot_add_data(obj, name, slot, signature, user_data, NULL);
}

SS_API int ss_slot_add_data(ss_object *obj, const char *name, ss_slot_fn slot,
                            const char *signature, void *user_data,
                            ss_destroy_fn destroy)
{
    if (!obj || !slot || !signature)
        return slot_give_up(SS_EINVAL, destroy, user_data);
    int rc = ss__check_name(name);
    if (rc != 0)
        return slot_give_up(rc, destroy, user_data);
    if (!sig_any(signature) &&
        (rc = ss_signature_validate(signature, NULL)) != 0)
        return slot_give_up(rc, destroy, user_data);
    size_t nl = strlen(name), sl = strlen(signature);
    ss__nslot *n = calloc(1, sizeof *n + nl + 1 + sl + 1);
    if (!n)
        return slot_give_up(SS_ENOMEM, destroy, user_data);
    memcpy(n->data, name, nl + 1);
    memcpy(n->data + nl + 1, signature, sl + 1);
    n->sig = n->data + nl + 1;
    n->fn = slot;
    n->user_data = user_data;
    ss__rt_write_lock();
    ss__nslot **head = (obj->flags_ & OBJ_LIVE) && obj->loop_ &&
                               !obj->loop_->remote
                           ? ss__nslots_head(obj)
                           : NULL;
    for (ss__nslot *o = head ? *head : NULL; o; o = o->next) {
        if (strcmp(o->data, name) == 0) {
            ss__rt_unlock();
            free(n);
            return slot_give_up(SS_EEXIST, destroy, user_data);
        }
    }
    if (head) {
        n->destroy = destroy;
        n->next = *head;
        *head = n;
    }
    ss__rt_unlock();
    if (!head) {
        free(n);
        return slot_give_up(SS_EINVAL, destroy, user_data);
    }
    return 0;
}

static ss__nslot *nslot_find(const ss_object *obj, const char *name)
{
    for (ss__nslot *n = ss__nslots(obj); n; n = n->next)
        if (strcmp(n->data, name) == 0)
            return n;
    return NULL;
}

/* ---- control messages ---- */

typedef struct ctrl_msg {
    unsigned char buf[CTRL_HDR + 6 * (1 + SS_SIGNATURE_MAX_LEN)];
    size_t len;
} ctrl_msg;

static void ctrl_begin(ctrl_msg *c, enum ctrl_op op, unsigned flags,
                       uint32_t slot, uint32_t nonce, uint32_t inc)
{
    memset(c->buf, 0, CTRL_HDR);
    c->buf[0] = MSG_CTRL;
    c->buf[1] = (unsigned char)op;
    c->buf[2] = (unsigned char)flags;
    ss__st_le32(c->buf + 4, slot);
    ss__st_le32(c->buf + 8, nonce);
    ss__st_le32(c->buf + 12, inc);
    c->len = CTRL_HDR;
}

static void ctrl_str(ctrl_msg *c, const char *s)
{
    size_t n = strlen(s);
    if (n > SS_SIGNATURE_MAX_LEN)
        n = SS_SIGNATURE_MAX_LEN;
    c->buf[c->len] = (unsigned char)n;
    memcpy(c->buf + c->len + 1, s, n);
    c->len += 1 + n;
}

/* Read the next string of a control message into out (NUL-terminated);
 * false if the message ends first. */
static bool ctrl_get(const unsigned char *m, size_t len, size_t *at, char *out,
                     size_t size)
{
    if (*at >= len)
        return false;
    size_t n = m[*at];
    if (len - *at - 1 < n || n >= size)
        return false;
    memcpy(out, m + *at + 1, n);
    out[n] = '\0';
    *at += 1 + n;
    return true;
}

/* Whether loop l (elsewhere) may still answer: its owner lives. */
static bool loop_alive(const void *arg)
{
    const ss_loop *l = arg;
    if (l->remote)
        return !proxy_gone(l);
    return l->pid <= 0 ||
           ss__thread_probe((uint32_t)l->pid, 0, NULL) != SS_THREAD_GONE;
}

/* Send c to loop to and wait for its answer. From to's own thread, it is
 * handled here at once (the loop cannot answer while we wait). */
/* The loop of this process that proxy p stands for (a handle on one of
 * our own published loops), or NULL. */
static ss_loop *own_loop_of(const ss_loop *p)
{
    if (!p->remote || p->pid != ss__getpid())
        return NULL;
    ss__rt_read_lock();
    ss_loop *l = ss__find_loop(p->name, strlen(p->name));
    if (l && (!l->published || l->reg.index != p->reg.index ||
              l->reg.incarnation != p->reg.incarnation))
        l = NULL;
    ss__rt_unlock();
    return l;
}

static int request(ss_loop *to, ctrl_msg *c)
{
    /* Asked of the caller's own loop (directly, or through a handle on
     * one of this process's loops that is not running): applied here at
     * once; that loop could not answer while we wait. */
    ss_loop *own = own_loop_of(to);
    ss_loop *at = own ? own : to;
    if (ss__rt_tl_loop == at || (own && !atomic_load(&own->running))) {
        ss__st_le32(c->buf + 4, CTRL_NO_REPLY);
        return ss__ctrl_apply(at, c->buf, c->len);
    }
    uint32_t slot, nonce;
    int rc = ss__reg_reply_take(&slot, &nonce);
    if (rc != 0)
        return rc;
    ss__st_le32(c->buf + 4, slot);
    ss__st_le32(c->buf + 8, nonce);
    ss_msg m = {c->buf, c->len};
    ss__put how = {.timeout_ns = CTRL_ROOM_NS,
                   .patience_ns = to->emit_wait_ns};
    rc = to->ops->put(to, &m, 1, &how);
    if (rc != 0) {
        ss__reg_reply_wait(slot, nonce, 0, NULL, NULL); /* frees it */
        SS_LOG_ERR("loop", "request to loop %s: %s", to->name,
                   ss_strerror(rc));
        return rc;
    }
    ss__loop_notify(to);
    rc = ss__reg_reply_wait(slot, nonce, REQUEST_WAIT_NS, loop_alive, to);
    if (rc == SS_ETIMEDOUT)
        SS_LOG_ERR("loop", "request to loop %s: no answer in %lld ms (is it "
                   "running?)", to->name,
                   (long long)(REQUEST_WAIT_NS / 1000000));
    return rc;
}

static int subscribe_here(ss_object *receiver, const char *signal,
                          const char *slot, bool add);
static int bind_named(ss_loop *loop, uint32_t einc, const char *eloop,
                      const char *eobj, const char *esig, const char *robj,
                      const char *slot, const char *sig, bool add);

/* Apply a control message on loop (its thread, or the requester's when
 * it is that thread); returns the status to answer. */
int ss__ctrl_apply(ss_loop *loop, const unsigned char *m, size_t len)
{
    if (len < CTRL_HDR)
        return SS_EMALFORMED;
    unsigned op = m[1], flags = m[2];
    uint32_t inc = ss__ld_le32(m + 12);
    size_t at = CTRL_HDR;
    char a[SS_SIGNATURE_MAX_LEN + 1], b[SS_SIGNATURE_MAX_LEN + 1],
        c[SS_SIGNATURE_MAX_LEN + 1], d[SS_SIGNATURE_MAX_LEN + 1],
        e[SS_SIGNATURE_MAX_LEN + 1], f[SS_SIGNATURE_MAX_LEN + 1];
    if (op == CTRL_ROUTE_ADD || op == CTRL_ROUTE_DEL) {
        /* a: object id on this loop, b: signal, c: destination loop,
         * d: the signature the destination's slots take */
        if (!ctrl_get(m, len, &at, a, SS_NAME_MAX + 1) ||
            !ctrl_get(m, len, &at, b, SS_NAME_MAX + 1) ||
            !ctrl_get(m, len, &at, c, SS_NAME_MAX + 1) ||
            !ctrl_get(m, len, &at, d, sizeof d))
            return SS_EMALFORMED;
        bool bcast = flags & CTRL_BCAST;
        ss_loop *to = NULL;
        if (op == CTRL_ROUTE_ADD) {
            ss__reg_view v;
            int rc = ss__reg_find_ref(c, inc, &v);
            if (rc == 0)
                rc = proxy_get(c, &v, &to);
            if (rc != 0) {
                SS_LOG_ERR("loop", "loop %s: route %s.%s to loop %s: %s",
                           loop->name, a, b, c, ss_strerror(rc));
                return rc;
            }
        }
        ss__rt_write_lock();
        ss_object *o = ss__find_object(loop, a, strlen(a));
        ss__signal *s = o ? ss__find_signal(o, b, strlen(b)) : NULL;
        int rc = 0;
        if (!s)
            rc = SS_ENOENT;
        else if (op == CTRL_ROUTE_ADD && !bcast && strcmp(s->sig, d) != 0)
            rc = SS_ESIGNATURE;
        else if (op == CTRL_ROUTE_ADD && strchr(s->sig, 'p'))
            rc = SS_ENOTSUP;
        else if (op == CTRL_ROUTE_ADD)
            rc = route_add(s, to, bcast);
        else
            rc = route_del(s, c, bcast);
        if (to)
            proxy_release_locked(to); /* the route holds its own */
        ss__rt_unlock();
        if (rc != 0 && op == CTRL_ROUTE_ADD)
            SS_LOG_ERR("loop", "loop %s: route %s.%s to loop %s: %s%s%s%s",
                       loop->name, a, b, c,
                       rc == SS_ENOENT ? (o ? "no such signal"
                                            : "no such object")
                                       : ss_strerror(rc),
                       rc == SS_ESIGNATURE ? " (it carries \"" : "",
                       rc == SS_ESIGNATURE ? s->sig : "",
                       rc == SS_ESIGNATURE ? "\")" : "");
        return rc;
    }
    if (op == CTRL_BIND_ADD || op == CTRL_BIND_DEL) {
        /* a, b, c: the emitter (loop, object, signal); d: receiver object
         * id on this loop; e: its slot's name; f: the signal's signature */
        if (!ctrl_get(m, len, &at, a, SS_NAME_MAX + 1) ||
            !ctrl_get(m, len, &at, b, SS_NAME_MAX + 1) ||
            !ctrl_get(m, len, &at, c, SS_NAME_MAX + 1) ||
            !ctrl_get(m, len, &at, d, SS_NAME_MAX + 1) ||
            !ctrl_get(m, len, &at, e, SS_NAME_MAX + 1) ||
            !ctrl_get(m, len, &at, f, sizeof f))
            return SS_EMALFORMED;
        return bind_named(loop, inc, a, b, c, d, e, f, op == CTRL_BIND_ADD);
    }
    if (op == CTRL_SUB_ADD || op == CTRL_SUB_DEL) {
        /* a: object id on this loop, b: signal name, c: its slot's name */
        if (!ctrl_get(m, len, &at, a, SS_NAME_MAX + 1) ||
            !ctrl_get(m, len, &at, b, SS_NAME_MAX + 1) ||
            !ctrl_get(m, len, &at, c, SS_NAME_MAX + 1))
            return SS_EMALFORMED;
        ss__rt_read_lock();
        ss_object *o = ss__find_object(loop, a, strlen(a));
        ss__rt_unlock();
        return o ? subscribe_here(o, b, c, op == CTRL_SUB_ADD) : SS_ENOENT;
    }
    return SS_EMALFORMED;
}

void ss__handle_ctrl(ss_loop *loop, const unsigned char *m, size_t len)
{
    int status = ss__ctrl_apply(loop, m, len);
    if (len >= CTRL_HDR) {
        uint32_t slot = ss__ld_le32(m + 4);
        if (slot != CTRL_NO_REPLY)
            ss__reg_reply_send(slot, ss__ld_le32(m + 8), status);
    }
    if (status == SS_EMALFORMED)
        SS_LOG_ERR("loop", "loop %s: malformed control message of %zu bytes "
                   "dropped", loop->name, len);
}

/* ---- bindings by name, and connections across processes ---- */

/* Bind (or unbind) the emitter's signal, key, to slot fn of receiver on
 * its loop, for signature sig (write-locked). A binding with no
 * connections left takes the signature of the next one. SS_EEXIST: a
 * published emitter's loop bound to that slot already. */
static int bind_locked(const unsigned char *key, size_t klen,
                       ss_object *receiver, ss_slot_fn fn, void *ud,
                       ss_destroy_fn destroy, const char *sig, bool add)
{
    ss_loop *loop = receiver->loop_;
    if (!add) {
        ss__binding *bd = ss__binding_find(loop, key, klen);
        for (ss__conn *o = bd ? bd->conns : NULL; o; o = o->next) {
            if (o->receiver == receiver && o->slot == fn &&
                o->user_data == ud) {
                ss__conn_unlink(o);
                return 0;
            }
        }
        return SS_ENOENT;
    }
    uint32_t h = ss__sig_hash(sig), inc = ss__ld_le32(key);
    if (inc != 0 && !ss__binding_find(loop, key, klen))
        bindings_purge(loop, (const char *)key + KEY_NAMES, key[4], inc);
    ss__binding *bd = binding_get(loop, key, klen, h);
    if (!bd)
        return SS_ENOMEM;
    if (!bd->conns)
        bd->sig_hash = h;
    else if (bd->sig_hash != h)
        return SS_ESIGNATURE; /* bound with another signature already */
    /* Bound to that slot already. An emitter whose loop is published is
     * known by its incarnation: this is its second connect, which adds
     * nothing (SS_EEXIST). One that is not (incarnation 0) is known by
     * names only, which loops of other processes may share (a killed one
     * among them): each connect counts as a new user of the binding, and
     * adds its route. */
    for (ss__conn *o = bd->conns; o; o = o->next)
        if (o->receiver == receiver && o->slot == fn && o->user_data == ud)
            return inc != 0 ? SS_EEXIST : 0;
    ss__conn *c = ss__conn_new(receiver, fn, ud, sig, NULL);
    if (!c)
        return SS_ENOMEM;
    c->destroy = destroy;
    ss__conn_link(c, &bd->conns);
    return 0;
}

/* Ask loop's resolver for the slot of robj (an object id of loop) if it
 * lacks it: on loop's thread, inside its dispatch hooks, the object
 * announced as the one called (ss_object_destroy() on another thread
 * waits for it). */
static void resolve_on_loop(ss_loop *loop, const char *robj, const char *slot)
{
    if (!loop->resolver)
        return;
    if (loop->hook_begin)
        loop->hook_begin(loop, loop->hook_ud);
    ss__rt_read_lock();
    ss_object *r = ss__find_object(loop, robj, strlen(robj));
    ss_slot_resolver fn = loop->resolver;
    void *ud = loop->resolver_ud;
    bool missing = r && fn && !nslot_find(r, slot);
    ss_object *outer = atomic_load(&loop->calling);
    if (missing)
        atomic_store(&loop->calling, r);
    ss__rt_unlock();
    if (missing) {
        fn(r, slot, ud);
        atomic_store(&loop->calling, outer);
    }
    if (loop->hook_end)
        loop->hook_end(loop, loop->hook_ud);
}

/* Bind (or unbind) the emitter's signal (its loop of incarnation einc) to
 * a slot by name of an object of loop, for signature sig (a control
 * message); a slot of any signature takes sig. */
static int bind_named(ss_loop *loop, uint32_t einc, const char *eloop,
                      const char *eobj, const char *esig, const char *robj,
                      const char *slot, const char *sig, bool add)
{
    unsigned char key[KEY_MAX];
    size_t klen = ss__put_key(key, einc, eloop, eobj, esig);
    if (add)
        resolve_on_loop(loop, robj, slot);
    ss__rt_write_lock();
    ss_object *r = ss__find_object(loop, robj, strlen(robj));
    ss__nslot *n = r ? nslot_find(r, slot) : NULL;
    int rc;
    if (!n)
        rc = SS_ENOENT;
    else if (!sig_any(n->sig) && strcmp(n->sig, sig) != 0)
        rc = SS_ESIGNATURE;
    else
        rc = bind_locked(key, klen, r, n->fn, n->user_data, NULL, sig, add);
    ss__rt_unlock();
    /* (SS_EEXIST, connected already, goes back to the requester: it then
     * adds no second route, and one disconnect undoes it.) */
    if (rc != 0 && rc != SS_EEXIST && add)
        SS_LOG_ERR("loop", "loop %s: bind %s.%s.%s to %s's slot %s: %s",
                   loop->name, eloop, eobj, esig, robj, slot,
                   rc == SS_ENOENT ? "no such object or slot"
                                   : ss_strerror(rc));
    return rc;
}

void ss__remote_loop_free(ss_loop *loop)
{
    for (size_t i = 0; i < loop->bind_nb; i++) {
        for (ss__binding *b = loop->bind_buckets[i], *next; b; b = next) {
            next = b->hnext;
            while (b->conns)
                ss__conn_unlink(b->conns);
            free(b);
        }
    }
    free(loop->bind_buckets);
    loop->bind_buckets = NULL;
    loop->bind_nb = loop->bind_count = 0;
}

/* ---- connecting across processes ---- */

/* Whether loop runs in this process (its objects' slots can be called
 * here), runs in another one (a proxy, a started loop process), or is a
 * loop process not started yet (its child will inherit what is set up). */
enum where { HERE, ELSEWHERE, UNSTARTED };

static enum where where_of(const ss_loop *l)
{
    if (l->remote)
        return ELSEWHERE;
    if (l->pid == 0)
        return UNSTARTED;
    return l->pid == ss__getpid() ? HERE : ELSEWHERE;
}

bool ss__elsewhere(const ss_loop *l)
{
    return where_of(l) == ELSEWHERE;
}

/* The name and incarnation by which another process reaches loop l; its
 * queue must be a published one. */
static int reachable(const ss_loop *l, const char *why)
{
    if (l->remote || l->published)
        return 0;
    SS_LOG_ERR("loop", "%s: loop %s is not published: a loop of another "
               "process cannot reach it (create it with "
               "ss_loop_options.publish)", why, l->name);
    return SS_ENOTSUP;
}

static uint32_t incarnation_of(const ss_loop *l)
{
    return l->reg.incarnation;
}

/* Ask emitter's loop (elsewhere) to route signal to loop dest. */
static int ask_route(ss_object *emitter, const char *signal, ss_loop *dest,
                     const char *sig, bool bcast, bool add)
{
    ctrl_msg c;
    ctrl_begin(&c, add ? CTRL_ROUTE_ADD : CTRL_ROUTE_DEL,
               bcast ? CTRL_BCAST : 0, 0, 0, incarnation_of(dest));
    ctrl_str(&c, emitter->id_);
    ctrl_str(&c, signal);
    ctrl_str(&c, dest->name);
    ctrl_str(&c, sig ? sig : "");
    return request(emitter->loop_, &c);
}

/* Ask receiver's loop (elsewhere) to bind the emitter's signal to its
 * slot by name. */
static int ask_bind(ss_object *emitter, const char *signal,
                    ss_object *receiver, const char *slot, const char *sig,
                    bool add)
{
    ctrl_msg c;
    ctrl_begin(&c, add ? CTRL_BIND_ADD : CTRL_BIND_DEL, 0, 0, 0,
               incarnation_of(emitter->loop_));
    ctrl_str(&c, emitter->loop_->name);
    ctrl_str(&c, emitter->id_);
    ctrl_str(&c, signal);
    ctrl_str(&c, receiver->id_);
    ctrl_str(&c, slot);
    ctrl_str(&c, sig);
    return request(receiver->loop_, &c);
}

/* A binding here, on receiver's loop, to a slot function. */
static int bind_fn(ss_object *emitter, const char *signal, ss_object *receiver,
                   ss_slot_fn fn, const char *sig, void *ud,
                   ss_destroy_fn destroy, bool add)
{
    unsigned char key[KEY_MAX];
    size_t klen = ss__put_key(key, incarnation_of(emitter->loop_),
                           emitter->loop_->name, emitter->id_, signal);
    ss__rt_write_lock();
    int rc = (receiver->flags_ & OBJ_LIVE)
                 ? bind_locked(key, klen, receiver, fn, ud, destroy, sig, add)
                 : SS_EINVAL;
    ss__rt_unlock();
    return rc;
}

int ss__connect_remote(ss_object *emitter, const char *signal,
                       ss_object *receiver, ss_slot_fn slot, const char *sig,
                       void *ud, ss_destroy_fn destroy, bool add)
{
    int rc = reachable(receiver->loop_, "connect");
    if (rc != 0) {
        if (destroy) /* (a disconnect passes none) */
            destroy(ud);
        return rc;
    }
    if (add) {
        rc = bind_fn(emitter, signal, receiver, slot, sig, ud, destroy, true);
        if (rc != 0 && destroy)
            destroy(ud); /* not bound (SS_EEXIST: the first one stays) */
        if (rc == SS_EEXIST)
            return 0; /* connected already: delivered once */
        if (rc != 0)
            return rc;
        rc = ask_route(emitter, signal, receiver->loop_, sig, false, true);
        if (rc != 0) /* (the unbinding releases ud) */
            bind_fn(emitter, signal, receiver, slot, sig, ud, NULL, false);
        return rc;
    }
    /* The route first, so that what is already on the way still finds the
     * binding (the queue keeps its order). */
    rc = ask_route(emitter, signal, receiver->loop_, sig, false, false);
    int brc = bind_fn(emitter, signal, receiver, slot, sig, ud, NULL, false);
    return rc != 0 ? rc : brc;
}

/* Route (or unroute) a signal of a local emitter to dest (elsewhere),
 * write-locking the tables. */
static int route_here(ss_object *emitter, const char *signal, ss_loop *dest,
                      const char *sig, bool bcast, bool add)
{
    ss_loop *to = dest;
    int rc = 0;
    if (add && !dest->remote) {
        /* A started loop process: reach it through the registry. */
        ss__reg_view v;
        rc = ss__reg_find_ref(dest->name, incarnation_of(dest), &v);
        if (rc == 0)
            rc = proxy_get(dest->name, &v, &to);
        if (rc != 0)
            return rc;
    } else if (add) {
        ss__rt_write_lock();
        to->refs++;
        ss__rt_unlock();
    }
    ss__rt_write_lock();
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? ss__find_signal(emitter, signal, strlen(signal))
                        : NULL;
    if (!s)
        rc = SS_ENOENT;
    else if (add && !bcast && sig && strcmp(s->sig, sig) != 0)
        rc = SS_ESIGNATURE;
    else if (add && strchr(s->sig, 'p'))
        rc = SS_ENOTSUP;
    else if (add)
        rc = route_add(s, to, bcast);
    else
        rc = route_del(s, dest->name, bcast);
    if (add)
        proxy_release_locked(to); /* the route holds its own */
    ss__rt_unlock();
    return rc;
}

int ss__broadcast_remote(ss_object *emitter, const char *signal, ss_loop *loop)
{
    int rc = reachable(loop, "broadcast");
    if (rc != 0)
        return rc;
    if (where_of(emitter->loop_) == ELSEWHERE)
        return ask_route(emitter, signal, loop, "", true, true);
    return route_here(emitter, signal, loop, NULL, true, true);
}

/* The function, user data and signature of obj's slot by name (read
 * under the tables' lock); false if it has none of that name. */
static bool named_slot(ss_object *obj, const char *slot, ss_slot_fn *fn,
                       void **ud, char sig[SS_SIGNATURE_MAX_LEN + 1])
{
    ss__rt_read_lock();
    ss__nslot *n = nslot_find(obj, slot);
    ss_slot_resolver res = !n && (obj->flags_ & OBJ_LIVE) && obj->loop_
                               ? obj->loop_->resolver
                               : NULL;
    void *res_ud = res ? obj->loop_->resolver_ud : NULL;
    if (res) {
        /* Asked on the caller's thread, which holds obj. */
        ss__rt_unlock();
        res(obj, slot, res_ud);
        ss__rt_read_lock();
        n = nslot_find(obj, slot);
    }
    *fn = n ? n->fn : NULL;
    *ud = n ? n->user_data : NULL;
    sig[0] = 0;
    if (n)
        memcpy(sig, n->sig, strlen(n->sig) + 1);
    ss__rt_unlock();
    return *fn != NULL;
}

static int connect_slot(ss_object *emitter, const char *signal,
                        ss_object *receiver, const char *slot, bool add)
{
    if (!emitter || !signal || !receiver || !slot)
        return SS_EINVAL;
    enum where we = where_of(emitter->loop_ ? emitter->loop_ : NULL),
               wr = where_of(receiver->loop_);
    if (wr != ELSEWHERE) {
        /* The slot is here (or in an unstarted child): by its function. */
        ss_slot_fn fn;
        void *ud;
        char sig[SS_SIGNATURE_MAX_LEN + 1];
        if (!named_slot(receiver, slot, &fn, &ud, sig)) {
            SS_LOG_ERR("loop", "connect %s.%s to %s: no slot named %s",
                       emitter->id_, signal, receiver->id_, slot);
            return SS_ENOENT;
        }
        if (sig_any(sig)) {
            /* It takes the signal's signature, which must be known. */
            int src = we == ELSEWHERE
                          ? SS_ENOTSUP
                          : ss_signal_signature(emitter, signal, sig);
            if (src != 0) {
                SS_LOG_ERR("loop", "connect %s.%s to %s's slot %s of any "
                           "signature: %s", emitter->id_, signal,
                           receiver->id_, slot,
                           src == SS_ENOTSUP
                               ? "the signal's is not known here (connect "
                                 "with ss_connect() and a signature)"
                               : "no such signal");
                return src;
            }
        }
        if (we == ELSEWHERE)
            return ss__connect_remote(emitter, signal, receiver, fn, sig, ud,
                                      NULL, add);
        return add ? ss_connect(emitter, signal, receiver, fn, sig, ud)
                   : ss_disconnect(emitter, signal, receiver, fn, ud);
    }
    /* The slot is in another process: bound there, by name. */
    int rc = reachable(receiver->loop_, "connect");
    if (rc != 0)
        return rc;
    /* The signal's signature, as this process knows it (an emitter of
     * another loop process may have it declared here, from before its
     * start; a handle of another program's has none: its loop checks). */
    char sig[SS_SIGNATURE_MAX_LEN + 1] = "";
    ss__rt_read_lock();
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? ss__find_signal(emitter, signal, strlen(signal))
                        : NULL;
    if (s)
        memcpy(sig, s->sig, strlen(s->sig) + 1);
    ss__rt_unlock();
    if (!s && we != ELSEWHERE) {
        SS_LOG_ERR("loop", "connect %s.%s: no such signal", emitter->id_,
                   signal);
        return SS_ENOENT;
    }
    if (add) {
        rc = ask_bind(emitter, signal, receiver, slot, sig, true);
        if (rc == SS_EEXIST)
            return 0; /* connected already: delivered once */
        if (rc != 0)
            return rc;
        rc = we == ELSEWHERE
                 ? ask_route(emitter, signal, receiver->loop_, sig, false, true)
                 : route_here(emitter, signal, receiver->loop_, sig, false,
                              true);
        if (rc != 0)
            ask_bind(emitter, signal, receiver, slot, sig, false);
        return rc;
    }
    rc = we == ELSEWHERE
             ? ask_route(emitter, signal, receiver->loop_, sig, false, false)
             : route_here(emitter, signal, receiver->loop_, sig, false, false);
    int brc = ask_bind(emitter, signal, receiver, slot, sig, false);
    return rc != 0 ? rc : brc;
}

SS_API int ss_connect_slot(ss_object *emitter, const char *signal,
                           ss_object *receiver, const char *slot)
{
    return connect_slot(emitter, signal, receiver, slot, true);
}

SS_API int ss_disconnect_slot(ss_object *emitter, const char *signal,
                              ss_object *receiver, const char *slot)
{
    return connect_slot(emitter, signal, receiver, slot, false);
}

/* ---- subscriptions by name ---- */

/* Subscribe (or not) receiver, an object of a loop of this process (or of
 * a loop process not started yet), with its slot by name. */
static int subscribe_here(ss_object *receiver, const char *signal,
                          const char *slot, bool add)
{
    ss_slot_fn fn;
    void *ud;
    char sig[SS_SIGNATURE_MAX_LEN + 1];
    if (!named_slot(receiver, slot, &fn, &ud, sig)) {
        SS_LOG_ERR("loop", "subscribe %s to %s: no slot named %s",
                   receiver->id_, signal, slot);
        return SS_ENOENT;
    }
    if (sig_any(sig)) {
        SS_LOG_ERR("loop", "subscribe %s to %s: its slot %s takes any "
                   "signature, which broadcasts do not tell (subscribe "
                   "with ss_subscribe() and a signature)",
                   receiver->id_, signal, slot);
        return SS_ENOTSUP;
    }
    return add ? ss_subscribe(receiver, signal, fn, sig, ud)
               : ss_unsubscribe(receiver, signal, fn, ud);
}

static int subscribe_slot(ss_object *receiver, const char *signal,
                          const char *slot, bool add)
{
    if (!receiver || !receiver->loop_ || !slot)
        return SS_EINVAL;
    int rc = ss__check_name(signal);
    if (rc != 0)
        return rc;
    if (where_of(receiver->loop_) != ELSEWHERE)
        return subscribe_here(receiver, signal, slot, add);
    ctrl_msg c;
    ctrl_begin(&c, add ? CTRL_SUB_ADD : CTRL_SUB_DEL, 0, 0, 0, 0);
    ctrl_str(&c, receiver->id_);
    ctrl_str(&c, signal);
    ctrl_str(&c, slot);
    return request(receiver->loop_, &c);
}

SS_API int ss_subscribe_slot(ss_object *receiver, const char *signal,
                             const char *slot)
{
    return subscribe_slot(receiver, signal, slot, true);
}

SS_API int ss_unsubscribe_slot(ss_object *receiver, const char *signal,
                               const char *slot)
{
    return subscribe_slot(receiver, signal, slot, false);
}

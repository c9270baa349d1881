/*
 * loop.c - event loops, objects, signals, connections, emission, dispatch
 * and timers (signal_slot/loop.h; the message format is in
 * docs/wire-format.md, "Signal messages").
 *
 * Tables: every loop, object, signal and connection of the process hangs
 * off one list of loops, guarded by the tables' lock (tables_lock.c:
 * shared reads, exclusive writes; "tables locked" below). Slots
 * are never called with it held: dispatch takes a counted reference on each
 * connection it is about to call, drops the lock, calls, and takes the lock
 * again to release the references. Disconnecting or destroying marks a
 * connection dead and unlinks it at once; its memory goes with the last
 * reference (deferred removal), so a slot may disconnect or destroy anything.
 *
 * A signal travels as a message in the receiving loop's queue that names
 * its emitter (loop name, object id, signal name), never as a pointer, so
 * that the receiving loop may live in another process.
 */
#include "ss_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"

#define LOOP_BATCH 64
#define LOOP_BUF_INITIAL (64u << 10)
#define LOOP_SIGINT_POLL_NS SS_MSEC(50)
/* Drops of a signal are logged once every DROP_LOG_EVERY, and at most
 * once every DROP_LOG_PERIOD_NS (an overloaded receiver must not flood
 * the log: one line per 100 drops was 180,000 lines in 5 s). */
#define DROP_LOG_EVERY 100
#define DROP_LOG_PERIOD_NS SS_SEC(1)
/* How long ss_loop_stop() from another thread waits for room. */
#define LOOP_STOP_WAIT_NS SS_SEC(1)
#define OBJ_LIVE 1u
#define OBJ_TIMER 2u

enum msg_kind { MSG_SIGNAL = 1, MSG_STOP = 2, MSG_BATCH = 3 };

/* Message header: kind, then the lengths of the three names, then the
 * names (no NUL), then the payload; for a batch (one emit_many for one
 * loop), a u32 count, then each payload as a u32 length and its bytes. */
#define MSG_HDR 4u

/* A connection (on a signal's list) or a subscription (on a loop's list,
 * with the signal name and signature it takes). */
typedef struct ss__conn {
    struct ss__conn *next;
    ss_object *receiver;
    ss_slot_fn slot;
    void *user_data;
    _Atomic int dead;
    _Atomic int refs; /* 1 while linked + 1 per dispatch holding it */
    char name[SS_NAME_MAX + 1];         /* subscriptions only */
    char sig[SS_SIGNATURE_MAX_LEN + 1]; /* what the slot takes */
    _Atomic bool warned; /* a signature mismatch was logged once */
} ss__conn;

#define BCAST_MAX 8

struct ss__signal {
    struct ss__signal *next;
    char name[SS_NAME_MAX + 1];
    char sig[SS_SIGNATURE_MAX_LEN + 1];
    ss__conn *conns;
    _Atomic uint64_t dropped;
    /* The last drop line: when, and the drop count it gave. */
    _Atomic int64_t drop_logged_ns;
    _Atomic uint64_t drop_logged_at;
    ss_loop *bcast[BCAST_MAX]; /* loops it is broadcast on */
    size_t n_bcast;
    /* Emitted by the process that declared it, whichever loop its object
     * lives on (a loop process's "exited", emitted by the parent). */
    bool here;
    /* Control traffic (loop and process notices), which may use the room
     * a queue keeps free for it (ss__put.reserve). */
    bool ctrl;
    ss_object *owner; /* the emitter */
    size_t name_len;
    /* The header of its messages (kind, names), built once. */
    size_t hlen;
    unsigned char hdr[MSG_HDR + 3 * SS_NAME_MAX];
};

struct ss_loop {
    struct ss_loop *next; /* g_loops */
    char name[SS_NAME_MAX + 1];
    ss_queue *q;
    /* Ring bytes data messages leave free for control ones (its stop, the
     * timeouts of its own timers, loop and process notices), and the
     * longest an emitter waits for a busy producer side (options). */
    size_t reserve;
    int64_t emit_wait_ns;
    ss_object self;
    ss_object *objects; /* tables lock */
    ss__conn *subs;     /* tables lock: subscriptions of its objects */
    ss__heap timers;    /* loop thread only */
    uint64_t timer_seq; /* loop thread only: scheduling order of timers */
    uint64_t next_id;   /* tables lock */
    _Atomic uint64_t dropped;
    _Atomic int running;
    _Atomic bool stopped;
    bool thread_started;
    pthread_t thread;
    int thread_status;
    unsigned char *buf;
    size_t buf_size;
    _Atomic int efd;  /* eventfd made readable by deliveries, or -1 */
    /* The process the loop runs in: getpid() of its creator for an
     * ordinary loop; for a loop process, 0 until it starts, then its pid. */
    pid_t pid;
    struct pending *pend; /* dispatch scratch: LOOP_BATCH entries */
    /* The last message header resolved (tables lock): names -> signal. */
    uint64_t cache_gen;
    ss__signal *cache_sig;
    size_t cache_len;
    unsigned char cache_hdr[MSG_HDR + 3 * SS_NAME_MAX];
    ss__conn **calls;     /* dispatch scratch */
    size_t calls_cap;
};

/* The signal being delivered. The emitter's names stay in the message (not
 * NUL-terminated) until a slot asks for them. */
struct ss_args {
    const char *sig;
    const unsigned char *data;
    size_t len;
    size_t n_types; /* data was validated against sig: this many values */
    const unsigned char *names; /* loop, object, signal names, back to back */
    unsigned char nl[3];        /* their lengths */
    bool names_ready;
    char loop[SS_NAME_MAX + 1], object[SS_NAME_MAX + 1],
        signal[SS_NAME_MAX + 1];
};

/* Bumped by every writer: a loop's cached name resolution is valid while
 * the generation it was made in lasts (tables lock). */
static uint64_t g_gen = 1;

/* The tables' lock (tables_lock.c): emission and dispatch read, set-up
 * and tear-down write. */
static void lock_write(void)
{
    ss__tables_write_lock();
    g_gen++;
}

static void lock_read(void)
{
    ss__tables_read_lock();
}

static void unlock_tables(void)
{
    ss__tables_unlock();
}

static ss_loop *g_loops;
/* The loop running on this thread, if any. */
static _Thread_local ss_loop *tl_loop;

/* ---- names ---- */

static int check_name(const char *name)
{
    if (!name || !name[0])
        return SS_EINVAL;
    if (strlen(name) > SS_NAME_MAX)
        return SS_ENAMETOOLONG;
    return 0;
}

static ss_loop *find_loop(const char *name, size_t len)
{
    for (ss_loop *l = g_loops; l; l = l->next)
        if (strlen(l->name) == len && memcmp(l->name, name, len) == 0)
            return l;
    return NULL;
}

static ss_object *find_object(ss_loop *loop, const char *id, size_t len)
{
    for (ss_object *o = loop->objects; o; o = o->next_)
        if (strlen(o->id_) == len && memcmp(o->id_, id, len) == 0)
            return o;
    return NULL;
}

static ss__signal *find_signal(ss_object *obj, const char *name, size_t len)
{
    for (ss__signal *s = obj->signals_; s; s = s->next)
        if (s->name_len == len && memcmp(s->name, name, len) == 0)
            return s;
    return NULL;
}

/* ---- connections ---- */

/* Drop a reference. Only an unlinked entry can lose its last one (the
 * list holds one), so nobody can find it any more when it is freed. */
static void conn_release(ss__conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1)
        free(c);
}

static void unlink_list(ss__conn **head, const ss_object *receiver);

static void unlink_conns(ss__signal *s, const ss_object *receiver)
{
    unlink_list(&s->conns, receiver);
}

/* Unlink every entry of a list whose receiver is receiver (NULL: all);
 * tables locked. */
static void unlink_list(ss__conn **head, const ss_object *receiver)
{
    ss__conn **pp = head;
    while (*pp) {
        ss__conn *c = *pp;
        if (!receiver || c->receiver == receiver) {
            *pp = c->next;
            atomic_store(&c->dead, 1);
            conn_release(c);
        } else {
            pp = &c->next;
        }
    }
}

/* ---- objects ---- */

/* The loop obj is linked on, or NULL (tables locked). Compares addresses
 * only: obj's own fields may be uninitialised. */
static ss_loop *object_home(const ss_object *obj)
{
    for (ss_loop *l = g_loops; l; l = l->next)
        for (ss_object *o = l->objects; o; o = o->next_)
            if (o == obj)
                return l;
    return NULL;
}

SS_API int ss_object_init(ss_object *obj, ss_loop *loop, const char *id)
{
    if (!obj || !loop)
        return SS_EINVAL;
    if (id) {
        int rc = check_name(id);
        if (rc != 0)
            return rc;
    }
    lock_write();
    /* Live already (initialised, not destroyed)? Its memory cannot tell
     * (the caller's, maybe never written): the tables can. Re-linking it
     * would make a loop's object list a cycle. */
    ss_loop *home = object_home(obj);
    if (home) {
        unlock_tables();
        SS_LOG_ERR("loop", "ss_object_init: object \"%s\" lives on loop %s "
                   "already; destroy it first",
                   obj->id_, home->name);
        return SS_EBUSY;
    }
    memset(obj, 0, sizeof *obj);
    if (id) {
        if (find_object(loop, id, strlen(id))) {
            unlock_tables();
            SS_LOG_ERR("loop", "object id \"%s\" is taken on loop %s", id,
                       loop->name);
            return SS_EEXIST;
        }
        snprintf(obj->id_, sizeof obj->id_, "%s", id);
    } else {
        do {
            snprintf(obj->id_, sizeof obj->id_, "obj_%llu",
                     (unsigned long long)++loop->next_id);
        } while (find_object(loop, obj->id_, strlen(obj->id_)));
    }
    obj->loop_ = loop;
    obj->flags_ = OBJ_LIVE;
    obj->next_ = loop->objects;
    loop->objects = obj;
    unlock_tables();
    return 0;
}

static void timer_unschedule(ss_timer *t);

/* Destroy with tables locked. */
static void object_destroy_locked(ss_object *obj)
{
    ss_loop *loop = obj->loop_;
    if (!loop || !(obj->flags_ & OBJ_LIVE))
        return;
    for (ss_object **pp = &loop->objects; *pp; pp = &(*pp)->next_) {
        if (*pp == obj) {
            *pp = obj->next_;
            break;
        }
    }
    /* Its signals, with their connections. */
    while (obj->signals_) {
        ss__signal *s = obj->signals_;
        obj->signals_ = s->next;
        unlink_conns(s, NULL);
        free(s);
    }
    /* Connections to it, on every signal of the process; broadcasts on its
     * loop, if it is a loop's own object, and its subscriptions. */
    for (ss_loop *l = g_loops; l; l = l->next)
        for (ss_object *o = l->objects; o; o = o->next_)
            for (ss__signal *s = o->signals_; s; s = s->next) {
                unlink_conns(s, obj);
                for (size_t k = 0; obj == &loop->self && k < s->n_bcast; k++)
                    if (s->bcast[k] == loop)
                        s->bcast[k--] = s->bcast[--s->n_bcast];
            }
    unlink_list(&loop->subs, obj);
    obj->flags_ &= ~OBJ_LIVE;
    obj->loop_ = NULL;
}

SS_API void ss_object_destroy(ss_object *obj)
{
    if (!obj)
        return;
    /* Its flags are read under the lock: ss_loop_free() on another thread
     * may be destroying it at the same time. */
    lock_write();
    if ((obj->flags_ & (OBJ_TIMER | OBJ_LIVE)) == (OBJ_TIMER | OBJ_LIVE))
        timer_unschedule((ss_timer *)obj);
    object_destroy_locked(obj);
    unlock_tables();
}

SS_API int ss_object_new(ss_object **out, ss_loop *loop, const char *id)
{
    if (!out)
        return SS_EINVAL;
    ss_object *obj = malloc(sizeof *obj);
    if (!obj)
        return SS_ENOMEM;
    int rc = ss_object_init(obj, loop, id);
    if (rc != 0) {
        free(obj);
        return rc;
    }
    *out = obj;
    return 0;
}

SS_API void ss_object_free(ss_object *obj)
{
    if (!obj)
        return;
    ss_object_destroy(obj);
    free(obj);
}

SS_API const char *ss_object_id(const ss_object *obj)
{
    return obj ? obj->id_ : NULL;
}

SS_API ss_loop *ss_object_loop(const ss_object *obj)
{
    return obj ? obj->loop_ : NULL;
}

/* ---- signals and connections ---- */

/* Write the message header for emitter's signal into buf (at least
 * MSG_HDR + 3 * SS_NAME_MAX bytes); returns its length. */
static size_t put_header(unsigned char *buf, enum msg_kind kind,
                         const char *loop, const char *obj, const char *sig)
{
    size_t a = strlen(loop), b = strlen(obj), c = strlen(sig);
    buf[0] = (unsigned char)kind;
    buf[1] = (unsigned char)a;
    buf[2] = (unsigned char)b;
    buf[3] = (unsigned char)c;
    memcpy(buf + MSG_HDR, loop, a);
    memcpy(buf + MSG_HDR + a, obj, b);
    memcpy(buf + MSG_HDR + a + b, sig, c);
    return MSG_HDR + a + b + c;
}

static int signal_add(ss_object *obj, const char *name,
                      const char *signature, bool here, bool ctrl)
{
    if (!obj || !signature)
        return SS_EINVAL;
    int rc = check_name(name);
    if (rc != 0)
        return rc;
    if ((rc = ss_signature_validate(signature, NULL)) != 0) {
        SS_LOG_ERR("loop", "signal %s of %s: invalid signature \"%s\"", name,
                   obj->id_, signature);
        return rc;
    }
    ss__signal *s = calloc(1, sizeof *s);
    if (!s)
        return SS_ENOMEM;
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->sig, sizeof s->sig, "%s", signature);
    s->here = here;
    s->ctrl = ctrl;
    s->owner = obj;
    s->name_len = strlen(s->name);
    lock_write();
    if (!(obj->flags_ & OBJ_LIVE) || find_signal(obj, name, strlen(name))) {
        bool live = obj->flags_ & OBJ_LIVE;
        unlock_tables();
        free(s);
        return live ? SS_EEXIST : SS_EINVAL;
    }
    s->hlen = put_header(s->hdr, MSG_SIGNAL, obj->loop_->name, obj->id_,
                         s->name);
    s->next = obj->signals_;
    obj->signals_ = s;
    unlock_tables();
    return 0;
}

SS_API int ss_signal_add(ss_object *obj, const char *name,
                         const char *signature)
{
    return signal_add(obj, name, signature, false, false);
}

int ss__signal_add_here(ss_object *obj, const char *name,
                        const char *signature)
{
    return signal_add(obj, name, signature, true, true);
}

/* Whether a connection between two loops may be made here (tables locked):
 * both must be loops of this process that run here, or loop processes not
 * started yet (their children inherit the connection at start); and an
 * in-process pointer (p) cannot travel to another process. */
static int cross_check(const ss_object *emitter, const ss__signal *s,
                       const ss_object *receiver)
{
    const char *signal = s->name, *sig = s->sig;
    pid_t me = getpid(), pr = receiver->loop_->pid;
    pid_t pe = s->here ? me : emitter->loop_->pid;
    bool e_here = pe == me, r_here = pr == me;
    if ((!e_here && pe != 0) || (!r_here && pr != 0)) {
        SS_LOG_ERR("loop", "connect %s.%s to %s: %s runs in another process "
                   "already; connect before starting it (connecting to a "
                   "running process is not supported yet)",
                   emitter->id_, signal, receiver->id_,
                   !e_here && pe != 0 ? emitter->id_ : receiver->id_);
        return SS_ENOTSUP;
    }
    /* One process: the same loop, or loops whose process is known and
     * equal. Each loop process not started yet (pid 0) is a process of
     * its own, whatever other unstarted ones say. */
    bool same = (pe == pr && pe != 0) ||
                (!s->here && emitter->loop_ == receiver->loop_);
    if (!same && strchr(sig, 'p')) {
        SS_LOG_ERR("loop", "connect %s.%s to %s: the signal carries a pointer "
                   "(\"%s\"), which means nothing in another process",
                   emitter->id_, signal, receiver->id_, sig);
        return SS_ENOTSUP;
    }
    return 0;
}

SS_API int ss_connect(ss_object *emitter, const char *signal,
                      ss_object *receiver, ss_slot_fn slot,
                      const char *slot_signature, void *user_data)
{
    if (!emitter || !signal || !receiver || !slot || !slot_signature)
        return SS_EINVAL;
    ss__conn *c = calloc(1, sizeof *c);
    if (!c)
        return SS_ENOMEM;
    c->receiver = receiver;
    c->slot = slot;
    c->user_data = user_data;
    atomic_init(&c->refs, 1);
    lock_write();
    int rc = 0;
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? find_signal(emitter, signal, strlen(signal))
                        : NULL;
    if (!s || !(receiver->flags_ & OBJ_LIVE)) {
        rc = s ? SS_EINVAL : SS_ENOENT;
        SS_LOG_ERR("loop", "connect %s.%s: %s", emitter->id_, signal,
                   s ? "receiver is not a live object" : "no such signal");
    } else if ((rc = cross_check(emitter, s, receiver)) != 0) {
        /* logged by cross_check */
    } else if (!ss_signature_equal(s->sig, slot_signature)) {
        rc = SS_ESIGNATURE;
        SS_LOG_ERR("loop", "connect %s.%s to %s: the signal carries \"%s\", "
                   "the slot takes \"%s\"",
                   emitter->id_, signal, receiver->id_, s->sig, slot_signature);
    } else {
        for (ss__conn *o = s->conns; o; o = o->next) {
            if (o->receiver == receiver && o->slot == slot &&
                o->user_data == user_data) {
                unlock_tables();
                free(c);
                return 0; /* connected already: delivered once */
            }
        }
        memcpy(c->sig, s->sig, strlen(s->sig) + 1);
        /* Appended, so that slots run in the order they were connected. */
        ss__conn **pp = &s->conns;
        while (*pp)
            pp = &(*pp)->next;
        *pp = c;
        c = NULL;
    }
    unlock_tables();
    free(c);
    return rc;
}

SS_API int ss_disconnect(ss_object *emitter, const char *signal,
                         ss_object *receiver, ss_slot_fn slot,
                         void *user_data)
{
    if (!emitter || !signal || !receiver || !slot)
        return SS_EINVAL;
    lock_write();
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? find_signal(emitter, signal, strlen(signal))
                        : NULL;
    for (ss__conn **pp = s ? &s->conns : NULL; pp && *pp; pp = &(*pp)->next) {
        ss__conn *c = *pp;
        if (c->receiver == receiver && c->slot == slot &&
            c->user_data == user_data) {
            *pp = c->next;
            atomic_store(&c->dead, 1);
            conn_release(c);
            unlock_tables();
            return 0;
        }
    }
    unlock_tables();
    SS_LOG_WARNING("loop", "disconnect %s.%s from %s: not connected",
                   emitter->id_, signal, receiver->id_);
    return SS_ENOENT;
}

SS_API uint64_t ss_signal_dropped(ss_object *emitter, const char *signal)
{
    if (!emitter || !signal)
        return 0;
    lock_read();
    ss__signal *s = find_signal(emitter, signal, strlen(signal));
    uint64_t d = s ? atomic_load(&s->dropped) : 0;
    unlock_tables();
    return d;
}

SS_API int ss_signal_broadcast_on(ss_object *emitter, const char *signal,
                                  ss_loop *loop)
{
    if (!emitter || !signal || !loop)
        return SS_EINVAL;
    int rc = 0;
    lock_write();
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? find_signal(emitter, signal, strlen(signal))
                        : NULL;
    if (!s) {
        rc = SS_ENOENT;
    } else if ((rc = cross_check(emitter, s, &loop->self)) != 0) {
        unlock_tables();
        return rc; /* logged by cross_check */
    } else {
        bool there = false;
        for (size_t k = 0; k < s->n_bcast; k++)
            there |= s->bcast[k] == loop;
        if (!there) {
            if (s->n_bcast == BCAST_MAX)
                rc = SS_ENOMEM;
            else
                s->bcast[s->n_bcast++] = loop;
        }
    }
    unlock_tables();
    if (rc != 0)
        SS_LOG_ERR("loop", "broadcast %s.%s on %s: %s", emitter->id_, signal,
                   loop->name, rc == SS_ENOENT ? "no such signal"
                                               : "too many loops");
    return rc;
}

SS_API int ss_subscribe(ss_object *receiver, const char *signal,
                        ss_slot_fn slot, const char *slot_signature,
                        void *user_data)
{
    if (!receiver || !slot || !slot_signature)
        return SS_EINVAL;
    int rc = check_name(signal);
    if (rc != 0)
        return rc;
    if ((rc = ss_signature_validate(slot_signature, NULL)) != 0)
        return rc;
    ss__conn *c = calloc(1, sizeof *c);
    if (!c)
        return SS_ENOMEM;
    c->receiver = receiver;
    c->slot = slot;
    c->user_data = user_data;
    atomic_init(&c->refs, 1);
    snprintf(c->name, sizeof c->name, "%s", signal);
    snprintf(c->sig, sizeof c->sig, "%s", slot_signature);
    lock_write();
    ss_loop *loop = receiver->loop_;
    if (!loop || !(receiver->flags_ & OBJ_LIVE)) {
        unlock_tables();
        free(c);
        return SS_EINVAL;
    }
    if (loop->pid != 0 && loop->pid != getpid()) {
        unlock_tables();
        free(c);
        SS_LOG_ERR("loop", "subscribe %s to %s: its loop %s runs in another "
                   "process already; subscribe before starting it "
                   "(not supported yet)",
                   receiver->id_, signal, loop->name);
        return SS_ENOTSUP;
    }
    for (ss__conn *o = loop->subs; o; o = o->next) {
        if (o->receiver == receiver && o->slot == slot &&
            o->user_data == user_data && strcmp(o->name, signal) == 0) {
            unlock_tables();
            free(c);
            return 0; /* subscribed already: called once */
        }
    }
    ss__conn **pp = &loop->subs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    unlock_tables();
    return 0;
}

SS_API int ss_unsubscribe(ss_object *receiver, const char *signal,
                          ss_slot_fn slot, void *user_data)
{
    if (!receiver || !signal || !slot)
        return SS_EINVAL;
    lock_write();
    ss_loop *loop = receiver->loop_;
    for (ss__conn **pp = loop ? &loop->subs : NULL; pp && *pp;
         pp = &(*pp)->next) {
        ss__conn *c = *pp;
        if (c->receiver == receiver && c->slot == slot &&
            c->user_data == user_data && strcmp(c->name, signal) == 0) {
            *pp = c->next;
            atomic_store(&c->dead, 1);
            conn_release(c);
            unlock_tables();
            return 0;
        }
    }
    unlock_tables();
    SS_LOG_WARNING("loop", "unsubscribe %s from %s: not subscribed",
                   receiver->id_, signal);
    return SS_ENOENT;
}

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
    lock_read();
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? find_signal(emitter, signal, strlen(signal))
                        : NULL;
    if (!s) {
        unlock_tables();
        SS_LOG_ERR("loop", "emit %s.%s: no such signal", emitter->id_, signal);
        return SS_ENOENT;
    }
    int rc = 0;
    for (ss__conn *c = s->conns; c && rc == 0; c = c->next)
        rc = targets_add(t, c->receiver->loop_, &cap);
    for (size_t b = 0; b < s->n_bcast && rc == 0; b++)
        rc = targets_add(t, s->bcast[b], &cap);
    if (rc != 0) {
        unlock_tables();
        targets_free(t);
        return rc;
    }
    t->s = s;
    return 0;
}

/* Release what find_targets() took, then log the emission's first drop
 * (outside the lock: a log handler may do anything). */
static void targets_done(const char *emitter_id, const char *signal,
                         targets *t)
{
    unlock_tables();
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
static bool drop_log_due(ss__signal *s, uint64_t d, uint64_t n,
                         uint64_t *since)
{
    if (d != n && (d - n) / DROP_LOG_EVERY == d / DROP_LOG_EVERY)
        return false;
    int64_t now = ss__now_ns();
    int64_t last = atomic_load_explicit(&s->drop_logged_ns,
                                        memory_order_relaxed);
    if (last != 0 && now - last < DROP_LOG_PERIOD_NS)
        return false;
    if (!atomic_compare_exchange_strong(&s->drop_logged_ns, &last, now))
        return false;
    *since = d - atomic_exchange(&s->drop_logged_at, d);
    return true;
}

/* Make the loop's pollable descriptor readable, if it has one. */
static inline void notify(ss_loop *loop)
{
    int fd = atomic_load_explicit(&loop->efd, memory_order_acquire);
    if (SS_UNLIKELY(fd >= 0))
        ss__event_signal(fd);
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

/* Put n messages into every target loop, one queue operation per loop;
 * a loop whose queue has no room drops them all, counted here and logged
 * by targets_done(). Returns 0, or the most telling reason of a drop
 * (drop_rank()). */
static int deliver(targets *t, const void *prefix, size_t prefix_len,
                   const ss_msg *msgs, size_t n,
                   const unsigned char *batch_hdr)
{
    int result = 0;
    for (size_t k = 0; k < t->n; k++) {
        ss_loop *to = t->loops[k];
        int prc = SS_EMSGSIZE;
        /* Never waits for room; waits for a busy producer side only while
         * its holder makes progress, and at most the loop's emit_wait_ns. */
        ss__put how = {.reserve = t->s->ctrl ? 0 : to->reserve,
                       .timeout_ns = SS_NO_WAIT,
                       .patience_ns = to->emit_wait_ns};
        /* A batch travels as one message when it fits in one. */
        if (batch_hdr) {
            how.prefix = batch_hdr;
            how.prefix_len = t->s->hlen;
            how.framed = true;
            prc = ss__queue_put_rt(to->q, msgs, n, &how);
        }
        if (prc == SS_EMSGSIZE) {
            how.prefix = prefix;
            how.prefix_len = prefix_len;
            how.framed = false;
            prc = ss__queue_put_rt(to->q, msgs, n, &how);
        }
        if (prc == 0) {
            notify(t->loops[k]);
            continue;
        }
        atomic_fetch_add(&t->loops[k]->dropped, n);
        uint64_t d = atomic_fetch_add(&t->s->dropped, n) + n;
        if (t->drop_rc == 0) {
            t->drop_rc = prc;
            t->drop_total = d;
            t->drop_log = drop_log_due(t->s, d, n, &t->drop_since);
            memcpy(t->drop_loop, t->loops[k]->name,
                   strlen(t->loops[k]->name) + 1);
        }
        if (result == 0 || drop_rank(prc) > drop_rank(result))
            result = prc;
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
        SS_LOG_ERR("loop", "emit %s.%s: %s; nothing sent", emitter->id_,
                   signal, why);
        return SS_ETYPE;
    }
    if (t.n == 0) {
        targets_done(emitter->id_, signal, &t);
        return 0; /* nobody listens: nothing encoded, nothing sent */
    }
    ss__signal *s = t.s;
    size_t hl = s->hlen;
    memcpy(tl_msg, s->hdr, hl);
    ss_writer w;
    ss_writer_init(&w, tl_msg + hl, sizeof tl_msg - hl);
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
    if (payload == tl_msg + hl) {
        ss_msg m = {tl_msg, hl + plen};
        rc = deliver(&t, NULL, 0, &m, 1, NULL);
    } else {
        /* The payload outgrew the thread's buffer (the writer moved to the
         * heap): the queue writes the header before it. */
        ss_msg m = {payload, plen};
        rc = deliver(&t, s->hdr, hl, &m, 1, NULL);
    }
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
    if (t.n == 0 || n == 0) {
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
            SS_LOG_ERR("loop", "emit_many %s.%s: payload %zu is not \"%s\": "
                       "%s; nothing sent",
                       emitter->id_, signal, i, sig, ss_strerror(rc));
            return rc;
        }
    }
    /* The queue writes the header (once for a batch message, or before
     * each payload) while copying the payloads in: no copy here. */
    unsigned char bhdr[sizeof s->hdr];
    if (n > 1) {
        memcpy(bhdr, s->hdr, s->hlen);
        bhdr[0] = MSG_BATCH;
    }
    rc = deliver(&t, s->hdr, s->hlen, payloads, n, n > 1 ? bhdr : NULL);
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
 * directly (dispatch_batch() on the message it would have queued), so that
 * a queue full of data, or held by a process stopped in the middle of a
 * put, neither delays nor drops them. Its "started" is queued, so that
 * what was queued before the run is handled before it (as in the seed),
 * and called directly only if the queue cannot take it. Other loops get
 * the signal through their queues, as any emission. */
#define LOCAL_BATCH 16

typedef struct local_batch {
    ss_msg msgs[LOCAL_BATCH];
    unsigned char hdr[LOCAL_BATCH][MSG_HDR + 3 * SS_NAME_MAX];
    size_t n;
} local_batch;

static bool dispatch_batch(ss_loop *loop, const ss_msg *msgs, size_t n_msgs);

/* Call what lb holds on loop's slots. A stop cannot be among them. */
static void local_flush(ss_loop *loop, local_batch *lb)
{
    if (lb->n)
        dispatch_batch(loop, lb->msgs, lb->n);
    lb->n = 0;
}

/* Emit obj's signal (of signature "") from loop's thread: to other loops
 * through their queues, to loop itself into lb (flushed when full), or,
 * with queue_own, into loop's queue if it takes it. */
static void emit_local(ss_loop *loop, ss_object *obj, const char *signal,
                       local_batch *lb, bool queue_own)
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
    ss_msg m = {t.s->hdr, t.s->hlen};
    if (t.n)
        deliver(&t, NULL, 0, &m, 1, NULL);
    if (here && queue_own) {
        ss__put how = {.reserve = t.s->ctrl ? 0 : loop->reserve,
                       .timeout_ns = SS_NO_WAIT,
                       .patience_ns = loop->emit_wait_ns};
        if (ss__queue_put_rt(loop->q, &m, 1, &how) == 0) {
            notify(loop);
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
    if (lb->n == LOCAL_BATCH)
        local_flush(loop, lb);
}

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
        memcpy(dst[i], p, args->nl[i]);
        dst[i][args->nl[i]] = 0;
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

static int args_vunpack(const ss_args *args, const char *kinds,
                        const char *sig, va_list ap);

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

static int args_vunpack(const ss_args *args, const char *kinds,
                        const char *sig, va_list ap)
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
        SS_LOG_ERR("loop", "slot reads %s.%s: %s; nothing read",
                   args->object, args->signal, why);
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

/* A signal message of the batch being dispatched, resolved. */
typedef struct pending {
    const unsigned char *hdr; /* the message: header, names, payload */
    size_t hlen;              /* header and names */
    size_t len;
    size_t first, last; /* its calls in loop->calls; none: nothing to do */
    bool found;         /* the emitter's signal exists */
    bool foreign;       /* emitted in another process: no pointers */
} pending;

/* Find the signal a header names (tables locked), through the loop's cache
 * of the last header when the tables have not changed since. */
static ss__signal *resolve_signal(ss_loop *loop, const unsigned char *m,
                                  size_t hlen)
{
    /* From byte 1: a batch and a single emission share their names. */
    if (loop->cache_gen == g_gen && loop->cache_len == hlen &&
        memcmp(loop->cache_hdr + 1, m + 1, hlen - 1) == 0)
        return loop->cache_sig;
    size_t a = m[1], b = m[2], c = m[3];
    const char *names = (const char *)m + MSG_HDR;
    ss_loop *el = find_loop(names, a);
    ss_object *eo = el ? find_object(el, names + a, b) : NULL;
    ss__signal *s = eo ? find_signal(eo, names + a + b, c) : NULL;
    memcpy(loop->cache_hdr, m, hlen);
    loop->cache_len = hlen;
    loop->cache_sig = s;
    loop->cache_gen = g_gen;
    return s;
}

/* Resolve message m (tables locked): find the emitter by its names and take a
 * reference on each live connection or subscription on this loop; a
 * message of the same signal as the one before it (prev) shares its
 * references. False if the header is malformed. */
static bool resolve(ss_loop *loop, const unsigned char *m, size_t len,
                    pending *p, const pending *prev, ss__signal **prev_sig,
                    size_t *n)
{
    size_t a = m[1], b = m[2], c = m[3];
    if (a > SS_NAME_MAX || b > SS_NAME_MAX || c > SS_NAME_MAX ||
        len < MSG_HDR + a + b + c)
        return false;
    p->hdr = m;
    p->hlen = MSG_HDR + a + b + c;
    p->len = len;
    p->first = p->last = *n;
    ss__signal *s = resolve_signal(loop, m, p->hlen);
    p->found = s != NULL;
    if (!s) {
        *prev_sig = NULL; /* p has no calls to share */
        return true;
    }
    p->foreign = !s->here && s->owner->loop_->pid != loop->pid;
    if (prev && *prev_sig == s) {
        p->first = prev->first;
        p->last = prev->last;
        return true;
    }
    *prev_sig = s;
    for (ss__conn *cn = s->conns; cn; cn = cn->next)
        if (cn->receiver->loop_ == loop && !add_call(loop, cn, n))
            break;
    /* Broadcast on this loop: every subscriber to the name. */
    bool bcast = false;
    for (size_t k = 0; k < s->n_bcast; k++)
        bcast |= s->bcast[k] == loop;
    for (ss__conn *cn = bcast ? loop->subs : NULL; cn; cn = cn->next) {
        if (strcmp(cn->name, s->name) != 0)
            continue;
        if (strcmp(cn->sig, s->sig) != 0) {
            if (!atomic_exchange(&cn->warned, true))
                SS_LOG_ERR("loop", "loop %s: %s subscribed to %s as \"%s\", "
                           "but %.*s.%s carries \"%s\"; not called (logged "
                           "once)",
                           loop->name, cn->receiver->id_, s->name, cn->sig,
                           (int)b, (const char *)m + MSG_HDR + a, s->name,
                           s->sig);
            continue;
        }
        if (!add_call(loop, cn, n))
            break;
    }
    p->last = *n;
    return true;
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
        SS_LOG_ERR("loop", "loop %s: %s.%s with a payload that is not "
                   "\"%s\": %s; dropped",
                   loop->name, args->object, args->signal, args->sig,
                   ss_strerror(rc));
        return;
    }
    for (size_t i = p->first; i < p->last; i++) {
        ss__conn *cn = loop->calls[i];
        /* Disconnected or destroyed by a slot called before it? */
        if (!atomic_load_explicit(&cn->dead, memory_order_acquire))
            cn->slot(cn->receiver, args, cn->user_data);
    }
}

/* Dispatch a batch of messages: resolve them all under one hold of the
 * lock, call their slots without it, in order, then release the
 * references. Stops at a stop message (what follows it is not handled).
 * Returns whether a stop was seen. */
static bool dispatch_batch(ss_loop *loop, const ss_msg *msgs, size_t n_msgs)
{
    pending *pend = loop->pend;
    size_t np = 0, n = 0;
    bool stop = false;
    ss__signal *prev_sig = NULL;

    lock_read();
    for (size_t i = 0; i < n_msgs; i++) {
        const unsigned char *m = msgs[i].data;
        if (msgs[i].len < MSG_HDR) {
            SS_LOG_ERR("loop", "loop %s: message of %zu bytes dropped",
                       loop->name, msgs[i].len);
            continue;
        }
        if (m[0] == MSG_STOP) {
            stop = true;
            break;
        }
        if (m[0] != MSG_SIGNAL && m[0] != MSG_BATCH) {
            SS_LOG_ERR("loop", "loop %s: message of unknown kind %u dropped",
                       loop->name, m[0]);
            continue;
        }
        if (resolve(loop, m, msgs[i].len, &pend[np], np ? &pend[np - 1] : NULL,
                    &prev_sig, &n))
            np++;
        else
            SS_LOG_ERR("loop", "loop %s: malformed message header dropped",
                       loop->name);
    }
    unlock_tables();

    for (size_t k = 0; k < np; k++) {
        pending *p = &pend[k];
        ss_args args;
        args.names = p->hdr + MSG_HDR;
        memcpy(args.nl, p->hdr + 1, 3);
        args.names_ready = false;
        if (!p->found) {
            args_names(&args);
            SS_LOG_DBG("loop", "loop %s: %s.%s from loop %s no longer exists; "
                       "dropped",
                       loop->name, args.object, args.signal, args.loop);
            continue;
        }
        if (p->first == p->last)
            continue; /* nobody here takes it (any more) */
        /* Each call holds a reference: its signature stays valid. */
        args.sig = loop->calls[p->first]->sig;
        const unsigned char *body = p->hdr + p->hlen;
        size_t left = p->len - p->hlen;
        if (p->hdr[0] == MSG_SIGNAL) {
            deliver_one(loop, p, &args, body, left);
            continue;
        }
        /* A batch: a u32 count, then length-prefixed payloads. */
        if (left < 4) {
            args_names(&args);
            SS_LOG_ERR("loop", "loop %s: batch of %s.%s without its count; "
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
                SS_LOG_ERR("loop", "loop %s: batch of %s.%s with a broken "
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
        conn_release(loop->calls[i]);
    return stop;
}

/* ---- timers ---- */

#define TIMER_OF(node) ((ss_timer *)((char *)(node) - offsetof(ss_timer, node_)))

_Static_assert(sizeof(((ss_timer *)0)->node_) == sizeof(ss__heap_node),
               "timer node layout");

/* Deadline order; equal deadlines in scheduling order (a heap alone is not
 * stable). */
static bool timer_less(const ss__heap_node *a, const ss__heap_node *b)
{
    const ss_timer *x = TIMER_OF(a), *y = TIMER_OF(b);
    return x->deadline_ns_ < y->deadline_ns_ ||
           (x->deadline_ns_ == y->deadline_ns_ && x->seq_ < y->seq_);
}

static void timer_unschedule(ss_timer *t)
{
    ss_loop *loop = t->object.loop_;
    if (t->active_ && loop)
        ss__heap_remove(&loop->timers, (ss__heap_node *)&t->node_);
    t->active_ = false;
}

static void timer_schedule(ss_timer *t, int64_t deadline)
{
    ss_loop *loop = t->object.loop_;
    if (!loop)
        return;
    timer_unschedule(t);
    t->deadline_ns_ = deadline;
    t->seq_ = loop->timer_seq++;
    t->active_ = true;
    ss__heap_insert(&loop->timers, (ss__heap_node *)&t->node_);
}

SS_API int ss_timer_init(ss_timer *timer, ss_loop *loop, int64_t interval_ns,
                         bool single_shot, const char *id)
{
    if (!timer || !loop || interval_ns < 0)
        return SS_EINVAL;
    char gen[SS_NAME_MAX + 1];
    if (!id) {
        static _Atomic uint64_t timer_ids;
        snprintf(gen, sizeof gen, "Timer_%llu",
                 (unsigned long long)atomic_fetch_add(&timer_ids, 1) + 1);
        id = gen;
    }
    int rc = ss_object_init(&timer->object, loop, id);
    if (rc != 0)
        return rc;
    timer->object.flags_ |= OBJ_TIMER;
    if ((rc = ss_signal_add(&timer->object, "timeout", "")) != 0) {
        ss_object_destroy(&timer->object);
        return rc;
    }
    timer->interval_ns_ = interval_ns;
    timer->single_shot_ = single_shot;
    timer->active_ = false;
    ss_timer_start(timer);
    return 0;
}

SS_API void ss_timer_start(ss_timer *timer)
{
    if (timer)
        timer_schedule(timer, ss__add_sat(ss__now_ns(), timer->interval_ns_));
}

SS_API void ss_timer_stop(ss_timer *timer)
{
    if (timer)
        timer_unschedule(timer);
}

SS_API int ss_timer_set_interval(ss_timer *timer, int64_t interval_ns)
{
    if (!timer)
        return SS_EINVAL;
    if (interval_ns < 0) {
        SS_LOG_ERR("loop", "timer %s: negative interval %lld refused",
                   timer->object.id_, (long long)interval_ns);
        return SS_EINVAL;
    }
    timer->interval_ns_ = interval_ns;
    if (timer->active_) {
        int64_t latest = ss__add_sat(ss__now_ns(), interval_ns);
        if (timer->deadline_ns_ > latest)
            timer_schedule(timer, latest);
    }
    return 0;
}

SS_API void ss_timer_destroy(ss_timer *timer)
{
    if (timer)
        ss_object_destroy(&timer->object);
}

/* Fire every timer due at now, in deadline order: each emits "timeout"
 * once; periodic ones move to their next deadline after now (keeping their
 * phase). */
static void fire_timers(ss_loop *loop, int64_t now)
{
    /* Popped in order, chained through parent, oldest first. */
    ss__heap_node *due = NULL, **last = &due;
    local_batch lb;
    lb.n = 0;
    ss__heap_node *min;
    while ((min = ss__heap_min(&loop->timers)) &&
           TIMER_OF(min)->deadline_ns_ <= now) {
        ss__heap_pop(&loop->timers);
        TIMER_OF(min)->active_ = false;
        min->parent = NULL;
        *last = min;
        last = &min->parent;
    }
    /* Reschedule before emitting, so a slot may stop or restart them. */
    for (ss__heap_node *n = due; n;) {
        ss__heap_node *next = n->parent;
        ss_timer *t = TIMER_OF(n);
        if (!t->single_shot_) {
            int64_t d = ss__add_sat(t->deadline_ns_, t->interval_ns_);
            if (d <= now && t->interval_ns_ > 0)
                d = ss__add_sat(d, ((now - d) / t->interval_ns_ + 1) *
                                       t->interval_ns_);
            if (t->interval_ns_ == 0)
                d = now + 1; /* every iteration, not twice in one */
            timer_schedule(t, d);
        }
        emit_local(loop, &t->object, "timeout", &lb, false);
        n = next;
    }
    local_flush(loop, &lb);
}

/* ---- loops ---- */

static _Atomic int g_sigint;
static _Atomic int g_sigint_users;
static struct sigaction g_old_sigint;
static pthread_mutex_t g_sigint_lock = PTHREAD_MUTEX_INITIALIZER;
static bool g_sigint_ours;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&g_sigint, 1);
}

/* Catch SIGINT while loops run, unless the program handles it itself. */
static void sigint_acquire(void)
{
    pthread_mutex_lock(&g_sigint_lock);
    if (atomic_fetch_add(&g_sigint_users, 1) == 0) {
        struct sigaction cur;
        sigaction(SIGINT, NULL, &cur);
        g_sigint_ours = cur.sa_handler == SIG_DFL;
        if (g_sigint_ours) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_sigint;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGINT, &sa, &g_old_sigint);
        }
        atomic_store(&g_sigint, 0);
    }
    pthread_mutex_unlock(&g_sigint_lock);
}

static void sigint_release(void)
{
    pthread_mutex_lock(&g_sigint_lock);
    if (atomic_fetch_sub(&g_sigint_users, 1) == 1 && g_sigint_ours) {
        sigaction(SIGINT, &g_old_sigint, NULL);
        g_sigint_ours = false;
    }
    pthread_mutex_unlock(&g_sigint_lock);
}

SS_API void ss_loop_options_init(ss_loop_options *opts)
{
    if (opts) {
        opts->queue_capacity = 0;
        opts->spin_ns = SS_QUEUE_DEFAULT_SPIN_NS;
        opts->emit_wait_ns = SS_EMIT_WAIT_DEFAULT_NS;
    }
}

/* The room a loop's queue of ring bytes keeps for control messages: a
 * sixteenth, at least 512 bytes (a few stops and notices in a one-page
 * queue), at most 64 KiB (about 2,000 of them), never over a quarter. */
static size_t control_reserve(size_t ring)
{
    size_t r = ring / 16;
    if (r < 512)
        r = 512;
    if (r > (64u << 10))
        r = 64u << 10;
    return r > ring / 4 ? ring / 4 : r;
}

SS_API int ss_loop_new(ss_loop **out, const char *name,
                       const ss_loop_options *opts)
{
    if (!out)
        return SS_EINVAL;
    int rc = check_name(name);
    if (rc != 0)
        return rc;
    ss_loop_options o;
    ss_loop_options_init(&o);
    if (opts)
        o = *opts;
    ss_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return SS_ENOMEM;
    snprintf(loop->name, sizeof loop->name, "%s", name);
    atomic_init(&loop->efd, -1);
    loop->pid = getpid();
    ss__heap_init(&loop->timers, timer_less);
    ss_queue_options qo;
    ss_queue_options_init(&qo);
    qo.capacity = o.queue_capacity;
    qo.spin_ns = o.spin_ns;
    if (o.emit_wait_ns < 0) {
        free(loop);
        SS_LOG_ERR("loop", "loop %s: negative emit_wait_ns", name);
        return SS_EINVAL;
    }
    loop->emit_wait_ns = o.emit_wait_ns ? o.emit_wait_ns
                                        : SS_EMIT_WAIT_DEFAULT_NS;
    if ((rc = ss_queue_create(&loop->q, &qo)) != 0) {
        free(loop);
        return rc;
    }
    loop->reserve = control_reserve(ss_queue_capacity(loop->q));
    loop->buf_size = LOOP_BUF_INITIAL;
    loop->buf = malloc(loop->buf_size);
    loop->pend = malloc(LOOP_BATCH * sizeof *loop->pend);
    if (!loop->buf || !loop->pend) {
        free(loop->buf);
        free(loop->pend);
        ss_queue_destroy(loop->q);
        free(loop);
        return SS_ENOMEM;
    }
    lock_write();
    if (find_loop(name, strlen(name))) {
        unlock_tables();
        free(loop->buf);
        free(loop->pend);
        ss_queue_destroy(loop->q);
        free(loop);
        SS_LOG_ERR("loop", "a loop named %s exists already", name);
        return SS_EEXIST;
    }
    loop->next = g_loops;
    g_loops = loop;
    unlock_tables();
    if ((rc = ss_object_init(&loop->self, loop, name)) != 0 ||
        (rc = signal_add(&loop->self, "started", "", false, true)) != 0 ||
        (rc = signal_add(&loop->self, "terminated", "", false, true)) != 0) {
        ss_loop_free(loop);
        return rc;
    }
    *out = loop;
    return 0;
}

SS_API void ss_loop_free(ss_loop *loop)
{
    if (!loop)
        return;
    if (atomic_load(&loop->running)) {
        SS_LOG_ERR("loop", "ss_loop_free(%s) while it runs: refused",
                   loop->name);
        return;
    }
    lock_write();
    /* Its objects, under the lock (other threads may be adding some or
     * connecting to them); timers leave the loop's heap first. */
    while (loop->objects) {
        ss_object *o = loop->objects;
        if (o->flags_ & OBJ_TIMER)
            timer_unschedule((ss_timer *)o);
        object_destroy_locked(o);
    }
    for (ss_loop **pp = &g_loops; *pp; pp = &(*pp)->next) {
        if (*pp == loop) {
            *pp = loop->next;
            break;
        }
    }
    unlock_tables();
    ss_queue_destroy(loop->q);
    int efd = atomic_load(&loop->efd);
    if (efd >= 0)
        ss__close_fd(efd);
    free(loop->buf);
    free(loop->pend);
    free(loop->calls);
    free(loop);
}

SS_API const char *ss_loop_name(const ss_loop *loop)
{
    return loop ? loop->name : NULL;
}

SS_API ss_object *ss_loop_object(ss_loop *loop)
{
    return loop ? &loop->self : NULL;
}

SS_API ss_queue *ss_loop_queue(ss_loop *loop)
{
    return loop ? loop->q : NULL;
}

SS_API size_t ss_loop_max_msg_size(const ss_loop *loop)
{
    if (!loop)
        return 0;
    size_t ring = ss_queue_capacity(loop->q);
    size_t max = ss_queue_max_msg_size(loop->q);
    size_t data = ring - loop->reserve - SS_QUEUE_RECORD_OVERHEAD;
    return data < max ? data & ~(size_t)7 : max;
}

SS_API uint64_t ss_loop_dropped(const ss_loop *loop)
{
    return loop ? atomic_load(&loop->dropped) : 0;
}

SS_API int ss_loop_stop(ss_loop *loop)
{
    if (!loop)
        return SS_EINVAL;
    unsigned char m[MSG_HDR + 3 * SS_NAME_MAX];
    size_t len = put_header(m, MSG_STOP, loop->name, "", "");
    /* Control: it may use the room data leaves free, so that a queue full
     * of data does not keep it out. From the loop's own thread the queue
     * is not being drained while we wait: never wait for room there. */
    bool own = tl_loop == loop;
    ss__put how = {.timeout_ns = own ? SS_NO_WAIT : LOOP_STOP_WAIT_NS,
                   .patience_ns = loop->emit_wait_ns};
    ss_msg msg = {m, len};
    int rc = ss__queue_put_rt(loop->q, &msg, 1, &how);
    if (rc != 0)
        SS_LOG_ERR("loop", "stop %s: %s", loop->name, ss_strerror(rc));
    else
        notify(loop);
    return rc;
}

SS_API void ss_loop_stop_slot(ss_object *receiver, const ss_args *args,
                              void *user_data)
{
    (void)args;
    (void)user_data;
    if (receiver && receiver->loop_)
        ss_loop_stop(receiver->loop_);
}

static int run_once(ss_loop *loop, int64_t timeout_ns);

SS_API int ss_loop_run_once(ss_loop *loop, int64_t timeout_ns)
{
    if (!loop)
        return SS_EINVAL;
    ss_loop *outer = tl_loop;
    tl_loop = loop;
    int rc = run_once(loop, timeout_ns);
    tl_loop = outer;
    return rc;
}

static int run_once(ss_loop *loop, int64_t timeout_ns)
{
    if (loop->stopped)
        return SS_LOOP_STOPPED;
    /* Clear the descriptor before draining: a delivery after the drain
     * makes it readable again, so none is missed. */
    int efd = atomic_load_explicit(&loop->efd, memory_order_acquire);
    if (efd >= 0)
        ss__event_clear(efd);
    int64_t now = ss__now_ns();
    fire_timers(loop, now);

    /* Wait no later than the next timer (and, while we catch SIGINT, no
     * longer than the SIGINT poll). */
    ss__heap_node *min = ss__heap_min(&loop->timers);
    if (min) {
        int64_t until = TIMER_OF(min)->deadline_ns_ - ss__now_ns();
        if (until < 0)
            until = 0;
        if (timeout_ns < 0 || until < timeout_ns)
            timeout_ns = until;
    }
    if (atomic_load(&g_sigint_users) &&
        (timeout_ns < 0 || timeout_ns > LOOP_SIGINT_POLL_NS))
        timeout_ns = LOOP_SIGINT_POLL_NS;

    /* Nothing past a stop is taken: what follows it stays in the queue
     * for the next run (docs/guide.md, "Delivery guarantees"). */
    ss_msg msgs[LOOP_BATCH];
    size_t n = 0;
    int rc = ss__queue_get_many_until(loop->q, loop->buf, loop->buf_size,
                                      msgs, LOOP_BATCH, &n, timeout_ns,
                                      MSG_STOP);
    if (rc == SS_ENOBUFS) {
        size_t need = msgs[0].len + 8;
        unsigned char *bigger = realloc(loop->buf, need);
        if (!bigger)
            return SS_ENOMEM;
        loop->buf = bigger;
        loop->buf_size = need;
        rc = ss__queue_get_many_until(loop->q, loop->buf, loop->buf_size,
                                      msgs, LOOP_BATCH, &n, SS_NO_WAIT,
                                      MSG_STOP);
    }
    if (rc == SS_EAGAIN || rc == SS_ETIMEDOUT)
        return 0;
    if (rc != 0)
        return rc;
    if (dispatch_batch(loop, msgs, n)) {
        /* Everything queued before the stop was handled; what follows it
         * waits in the queue. */
        loop->stopped = true;
        return SS_LOOP_STOPPED;
    }
    /* One iteration takes at most LOOP_BATCH messages: if more wait, the
     * descriptor must stay readable for the poller to come back. */
    if (efd >= 0 && ss_queue_size(loop->q) > 0)
        ss__event_signal(efd);
    return 0;
}

SS_API int ss_loop_run(ss_loop *loop)
{
    if (!loop)
        return SS_EINVAL;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&loop->running, &expected, 1))
        return SS_ESTATE;
    loop->stopped = false;
    ss_loop *outer = tl_loop;
    tl_loop = loop;
    ss__log_set_context(loop->name);
    sigint_acquire();
    local_batch lb;
    lb.n = 0;
    emit_local(loop, &loop->self, "started", &lb, true);
    local_flush(loop, &lb);
    int rc;
    for (;;) {
        rc = run_once(loop, SS_WAIT_FOREVER);
        if (rc != 0 || loop->stopped) /* SS_LOOP_STOPPED is 0 */
            break;
        if (atomic_load(&g_sigint)) {
            rc = SS_LOOP_INTERRUPTED;
            break;
        }
    }
    emit_local(loop, &loop->self, "terminated", &lb, false);
    local_flush(loop, &lb);
    sigint_release();
    tl_loop = outer;
    ss__log_set_context(outer ? outer->name : NULL);
    atomic_store(&loop->running, 0);
    return rc;
}

static void *loop_thread_main(void *arg)
{
    ss_loop *loop = arg;
    loop->thread_status = ss_loop_run(loop);
    return NULL;
}

SS_API int ss_loop_start_thread(ss_loop *loop)
{
    if (!loop)
        return SS_EINVAL;
    if (loop->thread_started || atomic_load(&loop->running))
        return SS_ESTATE;
    loop->thread_started = true;
    int rc = pthread_create(&loop->thread, NULL, loop_thread_main, loop);
    if (rc != 0) {
        loop->thread_started = false;
        SS_LOG_ERR("loop", "pthread_create: %s", strerror(rc));
        return SS_ESYS;
    }
    return 0;
}

SS_API int ss_loop_join_thread(ss_loop *loop, int *status)
{
    if (!loop)
        return SS_EINVAL;
    if (!loop->thread_started)
        return SS_ESTATE;
    pthread_join(loop->thread, NULL);
    loop->thread_started = false;
    if (status)
        *status = loop->thread_status;
    return 0;
}

SS_API bool ss_loop_stopped(const ss_loop *loop)
{
    return loop && loop->stopped;
}

SS_API int ss_loop_fd(ss_loop *loop)
{
    if (!loop)
        return SS_EINVAL;
    int fd = atomic_load(&loop->efd);
    if (fd >= 0)
        return fd;
    fd = ss__event_new();
    if (fd < 0)
        return fd;
    int expected = -1;
    if (!atomic_compare_exchange_strong(&loop->efd, &expected, fd)) {
        ss__close_fd(fd); /* another thread won */
        return expected;
    }
    /* Messages already queued must be seen too. */
    ss__event_signal(fd);
    return fd;
}

SS_API int64_t ss_loop_next_timeout(ss_loop *loop)
{
    if (!loop)
        return SS_EINVAL;
    ss__heap_node *min = ss__heap_min(&loop->timers);
    if (!min)
        return -1;
    int64_t until = TIMER_OF(min)->deadline_ns_ - ss__now_ns();
    return until > 0 ? until : 0;
}

/* Signals a message carries: 1, a batch's count, 0 for a stop (or a
 * malformed message, which dispatch would drop too). */
static uint64_t signals_in(const unsigned char *m, size_t len)
{
    if (len < MSG_HDR)
        return 0;
    size_t hlen = MSG_HDR + (size_t)m[1] + m[2] + m[3];
    if (m[0] == MSG_SIGNAL)
        return len >= hlen;
    if (m[0] == MSG_BATCH && len >= hlen + 4)
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
            n_signals += signals_in(msgs[k].data, msgs[k].len);
    }
    free(buf);
    atomic_fetch_add(&loop->dropped, n_signals);
    return n_signals;
}

void ss__loop_set_pid(ss_loop *loop, pid_t pid)
{
    lock_write();
    loop->pid = pid;
    unlock_tables();
}

void ss__sigint_after_fork(bool ignore)
{
    /* The parent's loops do not run here: forget their hold on SIGINT and
     * give back the disposition the program had before them. */
    pthread_mutex_init(&g_sigint_lock, NULL);
    if (atomic_load(&g_sigint_users) && g_sigint_ours)
        sigaction(SIGINT, &g_old_sigint, NULL);
    atomic_store(&g_sigint_users, 0);
    atomic_store(&g_sigint, 0);
    g_sigint_ours = false;
    if (ignore)
        signal(SIGINT, SIG_IGN);
    else
        sigint_acquire(); /* held for the child's life: a SIGINT before
                             its loop runs stops the loop at once */
}

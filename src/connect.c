/*
 * connect.c - connections, broadcast and subscriptions: who gets a
 * signal (signal_slot/loop.h).
 */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether a connection between two loops may be made here (tables locked):
 * both must be loops of this process that run here, or loop processes not
 * started yet (their children inherit the connection at start); and an
 * in-process pointer (p) cannot travel to another process. */
static int cross_check(const ss_object *emitter, const ss__signal *s,
                       const ss_object *receiver)
{
    const char *signal = s->name, *sig = s->sig;
    pid_t me = ss__getpid(), pr = receiver->loop_->pid;
    pid_t pe = s->here ? me : emitter->loop_->pid;
    bool e_here = pe == me, r_here = pr == me;
    if ((!e_here && pe != 0) || (!r_here && pr != 0)) {
        /* (An emitter elsewhere went through ss__connect_remote().) */
        SS_LOG_ERR("loop",
                   "connect %s.%s to %s: %s runs in another process "
                   "already: connect to its slots by name "
                   "(ss_slot_add(), ss_connect_slot()), or connect before "
                   "starting it",
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
        SS_LOG_ERR("loop",
                   "connect %s.%s to %s: the signal carries a pointer "
                   "(\"%s\"), which means nothing in another process",
                   emitter->id_, signal, receiver->id_, sig);
        return SS_ENOTSUP;
    }
    return 0;
}

/* Whether emitter's signal is emitted in another process (then its half
 * of a connection is asked of that process): an emitter on a loop that
 * runs elsewhere, unless the signal is one this process emits for it (a
 * loop process's "exited", a proxy's "ended"). */
static bool emitted_elsewhere(ss_object *emitter, const char *signal)
{
    if (!emitter->loop_ || !ss__elsewhere(emitter->loop_))
        return false;
    ss__rt_read_lock();
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? ss__find_signal(emitter, signal, strlen(signal))
                        : NULL;
    bool here = s && s->here;
    ss__rt_unlock();
    return !here;
}

/* user_data given up: released at once (not with the tables locked). */
static int give_up(int rc, ss_destroy_fn destroy, void *user_data)
{
    if (destroy)
        destroy(user_data);
    return rc;
}

/* An entry not linked: freed with its user_data (tables not locked). */
static void conn_drop(ss__conn *c)
{
    if (c)
        ss__conn_release(c);
}

static int connect_(ss_object *emitter, const char *signal,
                    ss_object *receiver, ss_slot_fn slot,
                    const char *slot_signature, void *user_data,
                    ss_destroy_fn destroy)
{
    if (!emitter || !signal || !receiver || !slot || !slot_signature)
        return give_up(SS_EINVAL, destroy, user_data);
    if (emitted_elsewhere(emitter, signal) && receiver->loop_ &&
        !ss__elsewhere(receiver->loop_)) {
        if (ss_signature_validate(slot_signature, NULL) != 0)
            return give_up(SS_ESIGNATURE, destroy, user_data);
        return ss__connect_remote(emitter, signal, receiver, slot,
                                  slot_signature, user_data, destroy, true);
    }
    /* With the slot's signature; equal to the signal's once connected. */
    ss__conn *c = ss__conn_new(receiver, slot, user_data, slot_signature, NULL);
    if (!c)
        return give_up(SS_ENOMEM, destroy, user_data);
    c->destroy = destroy;
    ss__rt_write_lock();
    int rc = 0;
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? ss__find_signal(emitter, signal, strlen(signal))
                        : NULL;
    if (!s || !(receiver->flags_ & OBJ_LIVE)) {
        rc = s ? SS_EINVAL : SS_ENOENT;
        SS_LOG_ERR("loop", "connect %s.%s: %s", emitter->id_, signal,
                   s ? "receiver is not a live object" : "no such signal");
    } else if ((rc = cross_check(emitter, s, receiver)) != 0) {
        /* logged by cross_check */
    } else if (!ss_signature_equal(s->sig, slot_signature)) {
        rc = SS_ESIGNATURE;
        SS_LOG_ERR("loop",
                   "connect %s.%s to %s: the signal carries \"%s\", "
                   "the slot takes \"%s\"",
                   emitter->id_, signal, receiver->id_, s->sig, slot_signature);
    } else {
        for (ss__conn *o = s->conns; o; o = o->next) {
            if (o->receiver == receiver && o->slot == slot &&
                o->user_data == user_data) {
                ss__rt_unlock();
                conn_drop(c);
                return 0; /* connected already: delivered once */
            }
        }
        /* Appended, so that slots run in the order they were connected. */
        ss__conn_link(c, &s->conns);
        c = NULL;
    }
    ss__rt_unlock();
    conn_drop(c);
    return rc;
}

SS_API int ss_connect(ss_object *emitter, const char *signal,
                      ss_object *receiver, ss_slot_fn slot,
                      const char *slot_signature, void *user_data)
{
    return connect_(emitter, signal, receiver, slot, slot_signature,
                    user_data, NULL);
}

SS_API int ss_connect_data(ss_object *emitter, const char *signal,
                           ss_object *receiver, ss_slot_fn slot,
                           const char *slot_signature, void *user_data,
                           ss_destroy_fn destroy)
{
    return connect_(emitter, signal, receiver, slot, slot_signature,
                    user_data, destroy);
}

SS_API int ss_disconnect(ss_object *emitter, const char *signal,
                         ss_object *receiver, ss_slot_fn slot, void *user_data)
{
    if (!emitter || !signal || !receiver || !slot)
        return SS_EINVAL;
    if (emitted_elsewhere(emitter, signal) && receiver->loop_ &&
        !ss__elsewhere(receiver->loop_)) {
        /* The signature the binding was made with: its connection's. */
        return ss__connect_remote(emitter, signal, receiver, slot, NULL,
                                  user_data, NULL, false);
    }
    ss__rt_write_lock();
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? ss__find_signal(emitter, signal, strlen(signal))
                        : NULL;
    for (ss__conn *c = s ? s->conns : NULL; c; c = c->next) {
        if (c->receiver == receiver && c->slot == slot &&
            c->user_data == user_data) {
            ss__conn_unlink(c);
            ss__rt_unlock();
            return 0;
        }
    }
    ss__rt_unlock();
    SS_LOG_WARNING("loop", "disconnect %s.%s from %s: not connected",
                   emitter->id_, signal, receiver->id_);
    return SS_ENOENT;
}

SS_API int ss_signal_signature(ss_object *emitter, const char *signal,
                               char *out)
{
    if (!emitter || !signal || !out)
        return SS_EINVAL;
    ss__rt_read_lock();
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? ss__find_signal(emitter, signal, strlen(signal))
                        : NULL;
    if (s)
        memcpy(out, s->sig, strlen(s->sig) + 1);
    ss__rt_unlock();
    return s ? 0 : SS_ENOENT;
}

SS_API uint64_t ss_signal_dropped(ss_object *emitter, const char *signal)
{
    if (!emitter || !signal)
        return 0;
    ss__rt_read_lock();
    ss__signal *s = ss__find_signal(emitter, signal, strlen(signal));
    uint64_t d = s ? atomic_load(&s->dropped) : 0;
    ss__rt_unlock();
    return d;
}

SS_API int ss_signal_broadcast_on(ss_object *emitter, const char *signal,
                                  ss_loop *loop)
{
    if (!emitter || !signal || !loop)
        return SS_EINVAL;
    if (ss__elsewhere(loop) || emitted_elsewhere(emitter, signal))
        return ss__broadcast_remote(emitter, signal, loop);
    int rc = 0;
    ss__rt_write_lock();
    ss__signal *s = (emitter->flags_ & OBJ_LIVE)
                        ? ss__find_signal(emitter, signal, strlen(signal))
                        : NULL;
    if (!s) {
        rc = SS_ENOENT;
    } else if ((rc = cross_check(emitter, s, &loop->self)) != 0) {
        ss__rt_unlock();
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
    ss__rt_unlock();
    if (rc != 0)
        SS_LOG_ERR("loop", "broadcast %s.%s on %s: %s", emitter->id_, signal,
                   loop->name,
                   rc == SS_ENOENT ? "no such signal" : "too many loops");
    return rc;
}

static int subscribe_(ss_object *receiver, const char *signal,
                      ss_slot_fn slot, const char *slot_signature,
                      void *user_data, ss_destroy_fn destroy)
{
    if (!receiver || !slot || !slot_signature)
        return give_up(SS_EINVAL, destroy, user_data);
    int rc = ss__check_name(signal);
    if (rc != 0)
        return give_up(rc, destroy, user_data);
    if ((rc = ss_signature_validate(slot_signature, NULL)) != 0)
        return give_up(rc, destroy, user_data);
    ss__conn *c = ss__conn_new(receiver, slot, user_data, slot_signature,
                               signal);
    if (!c)
        return give_up(SS_ENOMEM, destroy, user_data);
    c->destroy = destroy;
    ss__rt_write_lock();
    ss_loop *loop = receiver->loop_;
    if (!loop || !(receiver->flags_ & OBJ_LIVE)) {
        ss__rt_unlock();
        conn_drop(c);
        return SS_EINVAL;
    }
    if (loop->pid != 0 && loop->pid != ss__getpid()) {
        ss__rt_unlock();
        conn_drop(c);
        SS_LOG_ERR("loop",
                   "subscribe %s to %s: its loop %s runs in another "
                   "process already: subscribe its slot by name "
                   "(ss_slot_add(), ss_subscribe_slot()), or before "
                   "starting it",
                   receiver->id_, signal, loop->name);
        return SS_ENOTSUP;
    }
    for (ss__conn *o = loop->subs; o; o = o->next) {
        if (o->receiver == receiver && o->slot == slot &&
            o->user_data == user_data && strcmp(o->name, signal) == 0) {
            ss__rt_unlock();
            conn_drop(c);
            return 0; /* subscribed already: called once */
        }
    }
    ss__conn_link(c, &loop->subs);
    ss__rt_unlock();
    return 0;
}

SS_API int ss_subscribe(ss_object *receiver, const char *signal,
                        ss_slot_fn slot, const char *slot_signature,
                        void *user_data)
{
    return subscribe_(receiver, signal, slot, slot_signature, user_data,
                      NULL);
}

SS_API int ss_subscribe_data(ss_object *receiver, const char *signal,
                             ss_slot_fn slot, const char *slot_signature,
                             void *user_data, ss_destroy_fn destroy)
{
    return subscribe_(receiver, signal, slot, slot_signature, user_data,
                      destroy);
}

SS_API int ss_unsubscribe(ss_object *receiver, const char *signal,
                          ss_slot_fn slot, void *user_data)
{
    if (!receiver || !signal || !slot)
        return SS_EINVAL;
    ss__rt_write_lock();
    ss_loop *loop = receiver->loop_;
    for (ss__conn *c = loop ? loop->subs : NULL; c; c = c->next) {
        if (c->receiver == receiver && c->slot == slot &&
            c->user_data == user_data && strcmp(c->name, signal) == 0) {
            ss__conn_unlink(c);
            ss__rt_unlock();
            return 0;
        }
    }
    ss__rt_unlock();
    SS_LOG_WARNING("loop", "unsubscribe %s from %s: not subscribed",
                   receiver->id_, signal);
    return SS_ENOENT;
}

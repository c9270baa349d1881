/*
 * objects.c - names, lookups, objects and the declaration of their signals
 * (signal_slot/loop.h).
 */
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t ss__rt_gen = 1;
ss_loop *ss__rt_loops;
_Thread_local ss_loop *ss__rt_tl_loop;

/* ---- names ---- */

int ss__check_name(const char *name)
{
    if (!name || !name[0])
        return SS_EINVAL;
    if (strlen(name) > SS_NAME_MAX)
        return SS_ENAMETOOLONG;
    return 0;
}

ss_loop *ss__find_loop(const char *name, size_t len)
{
    for (ss_loop *l = ss__rt_loops; l; l = l->next)
        if (strlen(l->name) == len && memcmp(l->name, name, len) == 0)
            return l;
    return NULL;
}

ss_object *ss__find_object(ss_loop *loop, const char *id, size_t len)
{
    for (ss_object *o = loop->objects; o; o = o->next_)
        if (strlen(o->id_) == len && memcmp(o->id_, id, len) == 0)
            return o;
    return NULL;
}

ss__signal *ss__find_signal(ss_object *obj, const char *name, size_t len)
{
    for (ss__signal *s = obj->signals_; s; s = s->next)
        if (s->name_len == len && memcmp(s->name, name, len) == 0)
            return s;
    return NULL;
}

/* ---- connections ---- */

/* Drop a reference. Only an unlinked entry can lose its last one (the
 * list holds one), so nobody can find it any more when it is freed. */
void ss__conn_release(ss__conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1)
        free(c);
}

static void unlink_conns(ss__signal *s, const ss_object *receiver)
{
    ss__unlink_list(&s->conns, receiver);
}

/* Unlink every entry of a list whose receiver is receiver (NULL: all);
 * tables locked. */
void ss__unlink_list(ss__conn **head, const ss_object *receiver)
{
    ss__conn **pp = head;
    while (*pp) {
        ss__conn *c = *pp;
        if (!receiver || c->receiver == receiver) {
            *pp = c->next;
            atomic_store(&c->dead, 1);
            ss__conn_release(c);
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
    for (ss_loop *l = ss__rt_loops; l; l = l->next)
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
        int rc = ss__check_name(id);
        if (rc != 0)
            return rc;
    }
    ss__rt_write_lock();
    /* Live already (initialised, not destroyed)? Its memory cannot tell
     * (the caller's, maybe never written): the tables can. Re-linking it
     * would make a loop's object list a cycle. */
    ss_loop *home = object_home(obj);
    if (home) {
        ss__rt_unlock();
        SS_LOG_ERR("loop",
                   "ss_object_init: object \"%s\" lives on loop %s "
                   "already; destroy it first",
                   obj->id_, home->name);
        return SS_EBUSY;
    }
    memset(obj, 0, sizeof *obj);
    if (id) {
        if (ss__find_object(loop, id, strlen(id))) {
            ss__rt_unlock();
            SS_LOG_ERR("loop", "object id \"%s\" is taken on loop %s", id,
                       loop->name);
            return SS_EEXIST;
        }
        snprintf(obj->id_, sizeof obj->id_, "%s", id);
    } else {
        do {
            snprintf(obj->id_, sizeof obj->id_, "obj_%llu",
                     (unsigned long long)++loop->next_id);
        } while (ss__find_object(loop, obj->id_, strlen(obj->id_)));
    }
    obj->loop_ = loop;
    obj->flags_ = OBJ_LIVE;
    obj->next_ = loop->objects;
    loop->objects = obj;
    ss__rt_unlock();
    return 0;
}

/* Destroy with tables locked. */
void ss__object_destroy_locked(ss_object *obj)
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
    for (ss_loop *l = ss__rt_loops; l; l = l->next)
        for (ss_object *o = l->objects; o; o = o->next_)
            for (ss__signal *s = o->signals_; s; s = s->next) {
                unlink_conns(s, obj);
                for (size_t k = 0; obj == &loop->self && k < s->n_bcast; k++)
                    if (s->bcast[k] == loop)
                        s->bcast[k--] = s->bcast[--s->n_bcast];
            }
    ss__unlink_list(&loop->subs, obj);
    obj->flags_ &= ~OBJ_LIVE;
    obj->loop_ = NULL;
}

SS_API void ss_object_destroy(ss_object *obj)
{
    if (!obj)
        return;
    /* Its flags are read under the lock: ss_loop_free() on another thread
     * may be destroying it at the same time. */
    ss__rt_write_lock();
    if ((obj->flags_ & (OBJ_TIMER | OBJ_LIVE)) == (OBJ_TIMER | OBJ_LIVE))
        ss__timer_unschedule((ss_timer *)obj);
    ss__object_destroy_locked(obj);
    ss__rt_unlock();
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
size_t ss__put_header(unsigned char *buf, enum msg_kind kind, const char *loop,
                      const char *obj, const char *sig)
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

int ss__signal_add(ss_object *obj, const char *name, const char *signature,
                   bool here, bool ctrl)
{
    if (!obj || !signature)
        return SS_EINVAL;
    int rc = ss__check_name(name);
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
    ss__rt_write_lock();
    if (!(obj->flags_ & OBJ_LIVE) || ss__find_signal(obj, name, strlen(name))) {
        bool live = obj->flags_ & OBJ_LIVE;
        ss__rt_unlock();
        free(s);
        return live ? SS_EEXIST : SS_EINVAL;
    }
    s->hlen =
        ss__put_header(s->hdr, MSG_SIGNAL, obj->loop_->name, obj->id_, s->name);
    s->next = obj->signals_;
    obj->signals_ = s;
    ss__rt_unlock();
    return 0;
}

SS_API int ss_signal_add(ss_object *obj, const char *name,
                         const char *signature)
{
    return ss__signal_add(obj, name, signature, false, false);
}

int ss__signal_add_here(ss_object *obj, const char *name, const char *signature)
{
    return ss__signal_add(obj, name, signature, true, true);
}

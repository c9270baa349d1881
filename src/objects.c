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

/* ---- hash tables ---- */

/* FNV-1a of a name, whatever its length. */
static inline uint32_t name_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* ---- loops by name ---- */

static ss_loop **g_loop_buckets;
static size_t g_loop_nb, g_loop_count;

ss_loop *ss__find_loop(const char *name, size_t len)
{
    if (!g_loop_nb)
        return NULL;
    ss_loop *l = g_loop_buckets[name_hash(name, len) & (g_loop_nb - 1)];
    for (; l; l = l->hnext)
        if (strlen(l->name) == len && memcmp(l->name, name, len) == 0)
            return l;
    return NULL;
}

/* Rehash a chained table into nb buckets (a power of two); false if out
 * of memory (the table stays as it was). */
static bool loops_grow(size_t nb)
{
    ss_loop **b = calloc(nb, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < g_loop_nb; i++) {
        for (ss_loop *l = g_loop_buckets[i], *next; l; l = next) {
            next = l->hnext;
            ss_loop **head = &b[name_hash(l->name, strlen(l->name)) & (nb - 1)];
            l->hnext = *head;
            *head = l;
        }
    }
    free(g_loop_buckets);
    g_loop_buckets = b;
    g_loop_nb = nb;
    return true;
}

int ss__loop_table_add(ss_loop *loop)
{
    size_t len = strlen(loop->name);
    if (ss__find_loop(loop->name, len))
        return SS_EEXIST;
    if (g_loop_count >= g_loop_nb && !loops_grow(g_loop_nb ? 2 * g_loop_nb : 16))
        return SS_ENOMEM;
    ss_loop **head = &g_loop_buckets[name_hash(loop->name, len) & (g_loop_nb - 1)];
    loop->hnext = *head;
    *head = loop;
    g_loop_count++;
    loop->next = ss__rt_loops;
    ss__rt_loops = loop;
    return 0;
}

void ss__loop_table_remove(ss_loop *loop)
{
    size_t len = strlen(loop->name);
    for (ss_loop **pp = g_loop_nb ? &g_loop_buckets[name_hash(loop->name, len) &
                                                     (g_loop_nb - 1)]
                                  : NULL;
         pp && *pp; pp = &(*pp)->hnext) {
        if (*pp == loop) {
            *pp = loop->hnext;
            g_loop_count--;
            break;
        }
    }
    for (ss_loop **pp = &ss__rt_loops; *pp; pp = &(*pp)->next) {
        if (*pp == loop) {
            *pp = loop->next;
            break;
        }
    }
}

/* ---- each loop's objects by id ---- */

ss_object *ss__find_object(ss_loop *loop, const char *id, size_t len)
{
    if (!loop->obj_nb)
        return NULL;
    ss_object *o = loop->obj_buckets[name_hash(id, len) & (loop->obj_nb - 1)];
    for (; o; o = o->next_)
        if (memcmp(o->id_, id, len) == 0 && o->id_[len] == '\0')
            return o;
    return NULL;
}

static bool objects_grow(ss_loop *loop, size_t nb)
{
    ss_object **b = calloc(nb, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < loop->obj_nb; i++) {
        for (ss_object *o = loop->obj_buckets[i], *next; o; o = next) {
            next = o->next_;
            ss_object **head = &b[name_hash(o->id_, strlen(o->id_)) & (nb - 1)];
            o->next_ = *head;
            *head = o;
        }
    }
    free(loop->obj_buckets);
    loop->obj_buckets = b;
    loop->obj_nb = nb;
    return true;
}

static bool objects_add(ss_loop *loop, ss_object *obj)
{
    if (loop->obj_count >= loop->obj_nb &&
        !objects_grow(loop, loop->obj_nb ? 2 * loop->obj_nb : 16))
        return false;
    ss_object **head = &loop->obj_buckets[name_hash(obj->id_, strlen(obj->id_)) &
                                          (loop->obj_nb - 1)];
    obj->next_ = *head;
    *head = obj;
    loop->obj_count++;
    return true;
}

static void objects_remove(ss_loop *loop, ss_object *obj)
{
    if (!loop->obj_nb)
        return;
    ss_object **pp = &loop->obj_buckets[name_hash(obj->id_, strlen(obj->id_)) &
                                        (loop->obj_nb - 1)];
    for (; *pp; pp = &(*pp)->next_) {
        if (*pp == obj) {
            *pp = obj->next_;
            loop->obj_count--;
            return;
        }
    }
}

ss_object *ss__loop_any_object(ss_loop *loop)
{
    for (size_t i = 0; loop->obj_count && i < loop->obj_nb; i++)
        if (loop->obj_buckets[i])
            return loop->obj_buckets[i];
    return NULL;
}

void ss__loop_objects_free(ss_loop *loop)
{
    free(loop->obj_buckets);
    loop->obj_buckets = NULL;
    loop->obj_nb = loop->obj_count = 0;
}

ss__signal *ss__find_signal(ss_object *obj, const char *name, size_t len)
{
    for (ss__signal *s = obj->signals_; s; s = s->next)
        if (s->name_len == len && memcmp(s->name, name, len) == 0)
            return s;
    return NULL;
}

/* ---- live objects by address ---- */

/* Open addressing with linear probing: key NULL is empty, TOMB a removed
 * entry. Each live object has its entry, which holds the head of the list
 * of what reaches it (connections to it, its subscriptions). */
typedef struct objent {
    const ss_object *key;
    ss__conn *incoming;
    ss__nslot *slots; /* its named slots (ss_slot_add()) */
} objent;

#define TOMB ((const ss_object *)1)

static objent *g_objs;
static size_t g_objs_cap, g_objs_live, g_objs_used; /* used: live + tombs */

static inline size_t addr_hash(const ss_object *o)
{
    uint64_t x = (uint64_t)(uintptr_t)o;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 32;
    return (size_t)x;
}

static objent *objs_find(const ss_object *o)
{
    if (!g_objs_cap)
        return NULL;
    for (size_t i = addr_hash(o) & (g_objs_cap - 1);; i = (i + 1) & (g_objs_cap - 1)) {
        if (g_objs[i].key == o)
            return &g_objs[i];
        if (!g_objs[i].key)
            return NULL;
    }
}

static bool objs_rehash(size_t cap)
{
    objent *t = calloc(cap, sizeof *t);
    if (!t)
        return false;
    for (size_t j = 0; j < g_objs_cap; j++) {
        const ss_object *k = g_objs[j].key;
        if (!k || k == TOMB)
            continue;
        size_t i = addr_hash(k) & (cap - 1);
        while (t[i].key)
            i = (i + 1) & (cap - 1);
        t[i] = g_objs[j];
    }
    free(g_objs);
    g_objs = t;
    g_objs_cap = cap;
    g_objs_used = g_objs_live;
    return true;
}

static bool objs_add(const ss_object *o)
{
    if ((g_objs_used + 1) * 2 > g_objs_cap) {
        /* At most a quarter full after the rehash, tombs gone. */
        size_t cap = g_objs_cap ? g_objs_cap : 64;
        while ((g_objs_live + 1) * 4 > cap)
            cap *= 2;
        if (!objs_rehash(cap))
            return false;
    }
    size_t i = addr_hash(o) & (g_objs_cap - 1);
    while (g_objs[i].key && g_objs[i].key != TOMB)
        i = (i + 1) & (g_objs_cap - 1);
    if (!g_objs[i].key)
        g_objs_used++;
    g_objs[i].key = o;
    g_objs[i].incoming = NULL;
    g_objs[i].slots = NULL;
    g_objs_live++;
    return true;
}

static void objs_remove(objent *e)
{
    while (e->slots) {
        ss__nslot *n = e->slots;
        e->slots = n->next;
        ss__release_later(&n->dnode, n->destroy, n->user_data, n);
    }
    e->key = TOMB;
    e->incoming = NULL;
    g_objs_live--;
}

ss__nslot *ss__nslots(const ss_object *obj)
{
    objent *e = objs_find(obj);
    return e ? e->slots : NULL;
}

ss__nslot **ss__nslots_head(const ss_object *obj)
{
    objent *e = objs_find(obj);
    return e ? &e->slots : NULL;
}

/* ---- connections ---- */

/* Entries freed while this thread held the tables' lock: their destroy
 * callbacks waited for it to drop (a user's callback may take the lock,
 * or wait for a thread that does). */
void ss__tables_after_unlock(void)
{
    while (ss__tl_deferred) {
        ss__deferred *d = ss__tl_deferred;
        ss__tl_deferred = d->next;
        d->destroy(d->ud);
        free(d->block);
    }
}

void ss__release_later(ss__deferred *d, void (*destroy)(void *), void *ud,
                       void *block)
{
    if (!destroy) {
        free(block);
    } else if (ss__tables_held()) {
        d->destroy = destroy;
        d->ud = ud;
        d->block = block;
        d->next = ss__tl_deferred;
        ss__tl_deferred = d;
    } else {
        destroy(ud);
        free(block);
    }
}

/* Drop a reference. Only an unlinked entry can lose its last one (the
 * list holds one), so nobody can find it any more when it is freed. */
void ss__conn_release(ss__conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    ss__release_later(&c->dnode, c->destroy, c->user_data, c);
}

ss__conn *ss__conn_new(ss_object *receiver, ss_slot_fn slot, void *user_data,
                       const char *sig, const char *name)
{
    size_t sl = strlen(sig), nl = name ? strlen(name) + 1 : 0;
    ss__conn *c = calloc(1, sizeof *c + sl + 1 + nl);
    if (!c)
        return NULL;
    c->receiver = receiver;
    c->slot = slot;
    c->user_data = user_data;
    memcpy(c->data, sig, sl + 1);
    c->sig = c->data;
    if (name) {
        memcpy(c->data + sl + 1, name, nl);
        c->name = c->data + sl + 1;
    }
    atomic_init(&c->refs, 1);
    return c;
}

/* The head's prev is the tail: appending is O(1), and the list keeps the
 * order of connection (slots run in that order). */
void ss__conn_link(ss__conn *c, ss__conn **head)
{
    c->headp = head;
    c->next = NULL;
    if (*head) {
        ss__conn *tail = (*head)->prev;
        tail->next = c;
        c->prev = tail;
        (*head)->prev = c;
    } else {
        c->prev = c;
        *head = c;
    }
    objent *e = objs_find(c->receiver);
    c->rprev = NULL;
    c->rnext = e ? e->incoming : NULL;
    if (c->rnext)
        c->rnext->rprev = c;
    if (e)
        e->incoming = c;
}

void ss__conn_unlink(ss__conn *c)
{
    ss__conn **head = c->headp;
    if (*head == c) {
        *head = c->next;
        if (c->next)
            c->next->prev = c->prev;
    } else {
        c->prev->next = c->next;
        if (c->next)
            c->next->prev = c->prev;
        else
            (*head)->prev = c->prev; /* c was the tail */
    }
    if (c->rprev) {
        c->rprev->rnext = c->rnext;
    } else {
        objent *e = objs_find(c->receiver);
        if (e && e->incoming == c)
            e->incoming = c->rnext;
    }
    if (c->rnext)
        c->rnext->rprev = c->rprev;
    atomic_store(&c->dead, 1);
    ss__conn_release(c);
}

/* ---- objects ---- */

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
     * (the caller's, maybe never written): the table of live objects,
     * by address, can. Re-linking it would corrupt a loop's table. */
    if (objs_find(obj)) {
        ss__rt_unlock();
        SS_LOG_ERR("loop",
                   "ss_object_init: object \"%s\" lives on loop %s "
                   "already; destroy it first",
                   obj->id_, obj->loop_ ? obj->loop_->name : "?");
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
    if (!objs_add(obj)) {
        ss__rt_unlock();
        return SS_ENOMEM;
    }
    if (!objects_add(loop, obj)) {
        objs_remove(objs_find(obj));
        ss__rt_unlock();
        return SS_ENOMEM;
    }
    obj->loop_ = loop;
    obj->flags_ = OBJ_LIVE;
    ss__rt_unlock();
    return 0;
}

/* Destroy with tables locked. */
void ss__object_destroy_locked(ss_object *obj)
{
    ss_loop *loop = obj->loop_;
    objent *e = objs_find(obj);
    if (!loop || !(obj->flags_ & OBJ_LIVE) || !e)
        return;
    objects_remove(loop, obj);
    /* Its signals, with their connections. */
    while (obj->signals_) {
        ss__signal *s = obj->signals_;
        obj->signals_ = s->next;
        while (s->conns)
            ss__conn_unlink(s->conns);
        ss__routes_free(s);
        free(s);
    }
    /* What reaches it: connections to it, its subscriptions. The entry
     * does not move meanwhile (nothing is added to the table). */
    while (e->incoming)
        ss__conn_unlink(e->incoming);
    /* A loop's own object: the broadcasts on that loop. */
    if (obj == &loop->self)
        for (ss_loop *l = ss__rt_loops; l; l = l->next)
            for (size_t i = 0; i < l->obj_nb; i++)
                for (ss_object *o = l->obj_buckets[i]; o; o = o->next_)
                    for (ss__signal *s = o->signals_; s; s = s->next)
                        for (size_t k = 0; k < s->n_bcast; k++)
                            if (s->bcast[k] == loop)
                                s->bcast[k--] = s->bcast[--s->n_bcast];
    objs_remove(e);
    obj->flags_ &= ~OBJ_LIVE;
    obj->loop_ = NULL;
}

/* Whether loop's thread calls a slot of obj: read under the tables' lock,
 * since another thread may free the loop meanwhile (it is then no longer
 * among the loops, and calls nothing). */
static bool calling(ss_loop *loop, ss_object *obj)
{
    ss__rt_read_lock();
    bool yes = false;
    for (ss_loop *l = ss__rt_loops; l && !yes; l = l->next)
        yes = l == loop && atomic_load(&l->calling) == obj;
    ss__rt_unlock();
    return yes;
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
    ss_loop *loop = (obj->flags_ & OBJ_LIVE) ? obj->loop_ : NULL;
    ss__object_destroy_locked(obj); /* its connections marked dead */
    ss__rt_unlock();
    /* On another thread than its loop's, a slot of obj may be running, or
     * about to run (its connection read alive just before): wait for it
     * to return. The loop's thread announces the receiver before it reads
     * whether the connection is dead, and this reads the announcement
     * after marking it dead (both sequentially consistent): one of the
     * two sees the other. */
    if (!loop || ss__rt_tl_loop == loop)
        return;
    for (unsigned k = 0; calling(loop, obj); k++) {
        if (k < 64)
            ss__cpu_relax();
        else if (k < 128)
            ss__yield();
        else
            usleep(50);
    }
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
 * MSG_HDR_MAX bytes); returns its length. */
size_t ss__loop_field(const ss_loop *loop, char *buf)
{
    size_t n = strlen(loop->name);
    memcpy(buf, loop->name, n);
    if (!loop->remote)
        return n;
    buf[n] = '\0';
    ss__st_le32((unsigned char *)buf + n + 1, loop->reg.incarnation);
    return n + 5;
}

size_t ss__put_header(unsigned char *buf, enum msg_kind kind, const char *loop,
                      size_t loop_len, const char *obj, const char *sig)
{
    size_t a = loop_len, b = strlen(obj), c = strlen(sig);
    buf[0] = (unsigned char)kind;
    buf[1] = (unsigned char)a;
    buf[2] = (unsigned char)b;
    buf[3] = (unsigned char)c;
    memcpy(buf + MSG_HDR, loop, a);
    memcpy(buf + MSG_HDR + a, obj, b);
    memcpy(buf + MSG_HDR + a + b, sig, c);
    return MSG_HDR + a + b + c;
}

/* The remote header of a signal's messages (RMSG_HDR): into buf, at least
 * RMSG_HDR_MAX bytes; returns its length. */
size_t ss__put_key(unsigned char *key, uint32_t inc, const char *loop,
                   const char *obj, const char *sig)
{
    size_t a = strlen(loop), b = strlen(obj), c = strlen(sig);
    ss__st_le32(key, inc);
    key[4] = (unsigned char)a;
    key[5] = (unsigned char)b;
    key[6] = (unsigned char)c;
    memcpy(key + RMSG_HDR - RMSG_KEY, loop, a);
    memcpy(key + RMSG_HDR - RMSG_KEY + a, obj, b);
    memcpy(key + RMSG_HDR - RMSG_KEY + a + b, sig, c);
    return RMSG_HDR - RMSG_KEY + a + b + c;
}

static size_t put_rheader(unsigned char *buf, const ss_loop *l,
                          const char *obj, const char *sig, uint32_t sig_hash)
{
    buf[0] = MSG_SIGNAL | MSG_REMOTE;
    buf[1] = MSG_VERSION;
    ss__st_le32(buf + 2, sig_hash);
    return RMSG_KEY +
           ss__put_key(buf + RMSG_KEY, l->reg.incarnation, l->name, obj, sig);
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
    /* One allocation: the structure, then its name, signature and the
     * header of its messages. */
    size_t nl = strlen(name), sl = strlen(signature);
    ss__signal *s =
        calloc(1, sizeof *s + nl + 1 + sl + 1 + MSG_HDR_MAX + RMSG_HDR_MAX);
    if (!s)
        return SS_ENOMEM;
    char *d = s->data;
    memcpy(d, name, nl + 1);
    s->name = d;
    memcpy(d + nl + 1, signature, sl + 1);
    s->sig = d + nl + 1;
    unsigned char *hdr = (unsigned char *)d + nl + 1 + sl + 1;
    s->hdr = hdr;
    s->here = here;
    s->ctrl = ctrl;
    s->owner = obj;
    s->name_len = nl;
    ss__rt_write_lock();
    if (!(obj->flags_ & OBJ_LIVE) || ss__find_signal(obj, name, nl)) {
        bool live = obj->flags_ & OBJ_LIVE;
        ss__rt_unlock();
        free(s);
        return live ? SS_EEXIST : SS_EINVAL;
    }
    char field[SS_NAME_MAX + 5];
    size_t flen = ss__loop_field(obj->loop_, field);
    s->hlen = ss__put_header(hdr, MSG_SIGNAL, field, flen, obj->id_, name);
    unsigned char *rhdr = hdr + MSG_HDR_MAX;
    s->sig_hash = ss__sig_hash(signature);
    s->rhdr = rhdr;
    s->rhlen = put_rheader(rhdr, obj->loop_, obj->id_, name, s->sig_hash);
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

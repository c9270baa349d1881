/*
 * runtime.h - what the runtime's files share (not exported): the tables'
 * structures (loops, objects' signals, connections), the message header,
 * the tables' lock, and the functions one component offers the others.
 * docs/runtime.md describes the design.
 *
 *   objects.c   names, lookups, objects, declaring signals
 *   connect.c   connections, broadcast, subscriptions
 *   emit.c      emission and delivery into queues; a loop's own signals
 *   dispatch.c  a slot's arguments; resolving and dispatching messages
 *   timer.c     timers
 *   sigint.c    SIGINT while loops run
 *   loop.c      loops: creation, running, stopping, embedding
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
#ifndef SS_RUNTIME_H
#define SS_RUNTIME_H

#include "ss_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "heap.h"
#include "registry.h"

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

enum msg_kind { MSG_SIGNAL = 1, MSG_STOP = 2, MSG_BATCH = 3, MSG_CTRL = 4 };

/* Bits of the kind byte of a message from another process that reached a
 * published loop through the registry (a route): it has the remote header
 * (RMSG_HDR: kind, format version, the hash of the signal's signature (u32
 * little-endian), the incarnation of the emitter's loop (u32, 0 if not
 * published), the three lengths, then the names), and is resolved
 * through the receiving loop's bindings; MSG_BCAST also for the
 * subscribers of its signal's name on that loop. */
#define MSG_REMOTE 0x80u
#define MSG_BCAST 0x40u
#define MSG_KIND(b) ((b) & 0x3fu)
#define MSG_VERSION 1u
#define RMSG_HDR 13u
#define RMSG_KEY 6u /* where a binding's key starts in it */

/* Message header: kind, then the lengths of the three names, then the
 * names (no NUL), then the payload; for a batch (one emit_many for one
 * loop), a u32 count, then each payload as a u32 length and its bytes. */
#define MSG_HDR 4u

/* A connection (on a signal's list) or a subscription (on a loop's list,
 * with the signal name and signature it takes). */
typedef struct ss__conn {
    /* What dispatch reads, on the first cache line. */
    struct ss__conn *next; /* on its list, in order */
    ss_object *receiver;
    ss_slot_fn slot;
    void *user_data;
    const char *sig;  /* what the slot takes (in data) */
    _Atomic int dead;
    _Atomic int refs; /* 1 while linked + 1 per dispatch holding it */
    _Atomic bool warned; /* a signature mismatch was logged once */
    /* The rest of its list (a signal's connections, or a loop's
     * subscriptions), whose head *headp is: doubly linked, the head's
     * prev being the tail. */
    struct ss__conn *prev, **headp;
    /* On its receiver's list of what reaches it (rprev NULL: the head,
     * kept in the table of live objects). */
    struct ss__conn *rnext, *rprev;
    const char *name; /* subscriptions: the signal's name (in data) */
    /* Called with user_data once the entry is freed, never with the
     * tables locked (ss_connect_data()); dnode: on the list of this
     * thread's entries waiting for the lock to drop. */
    ss_destroy_fn destroy;
    ss__deferred dnode;
    char data[];      /* sig, then name */
} ss__conn;

#define BCAST_MAX 8

/* A signal's route to a loop of another process (a proxy loop): how many
 * connections to that loop's objects, and broadcasts on it, use it. */
typedef struct ss__route {
    ss_loop *to;
    uint32_t conns, bcasts;
} ss__route;

struct ss__signal {
    /* What lookups and dispatch read first. */
    struct ss__signal *next;
    size_t name_len;
    const char *name; /* in data */
    ss__conn *conns;
    const char *sig; /* in data */
    ss_object *owner; /* the emitter */
    /* The header of its messages (kind, names), built once (in data). */
    const unsigned char *hdr;
    size_t hlen;
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
    /* Its routes to loops of other processes, and the remote header of its
     * messages (in data), with the hash of its signature. */
    ss__route *routes;
    size_t n_routes, cap_routes;
    const unsigned char *rhdr;
    size_t rhlen;
    uint32_t sig_hash;
    char data[]; /* name, sig, hdr, rhdr */
};

/* The longest message headers: kind, three lengths, three names. */
/* (+5: a proxy's own signals name their loop as name, NUL, incarnation:
 * ss__loop_field().) */
#define MSG_HDR_MAX (MSG_HDR + 3 * SS_NAME_MAX + 5)
#define RMSG_HDR_MAX (RMSG_HDR + 3 * SS_NAME_MAX)
#define ANY_HDR_MAX (MSG_HDR_MAX > RMSG_HDR_MAX ? MSG_HDR_MAX : RMSG_HDR_MAX)

/* Calls of a slot by name (ss_slot_add()), that other processes connect
 * to: on the table of live objects, per object. */
typedef struct ss__nslot {
    struct ss__nslot *next;
    ss_slot_fn fn;
    void *user_data;
    ss_destroy_fn destroy; /* (ss_slot_add_data()) */
    ss__deferred dnode;
    const char *sig; /* in data */
    char data[];     /* name, sig */
} ss__nslot;

/* What reaches a published loop from one signal of another process:
 * the connections to its objects (on conns, as for a local signal). Found
 * by the emitter in the message's header (key: its loop's incarnation, the
 * three lengths, then the names: the header from RMSG_KEY on). */
typedef struct ss__binding {
    struct ss__binding *hnext;
    uint32_t hash;
    uint32_t sig_hash; /* of the signature the connections take */
    ss__conn *conns;
    size_t klen;
    unsigned char key[];
} ss__binding;

/* Delivery to a destination loop: how messages get to it. Every loop of
 * this host, wherever it runs, is reached through its shared-memory queue
 * (ss__dest_shm); a transport to other hosts plugs in with its own table,
 * and emission, control requests and stops go through it unchanged. */
typedef struct ss__dest_ops {
    /* Put msgs as ss__queue_put_rt() does: 0, or why they were dropped
     * (never waits longer than how says). */
    int (*put)(ss_loop *to, const ss_msg *msgs, size_t n,
               const ss__put *how);
    /* Wake to's poller (its descriptor), after a put. */
    void (*notify)(ss_loop *to);
    /* No more puts: emitters drop and get SS_ECLOSED (waits at most
     * patience_ns for a putter in the middle of a put). */
    int (*close)(ss_loop *to, int64_t patience_ns);
    /* Messages and bytes waiting for it. */
    int (*stats)(ss_loop *to, ss_queue_stats *st);
} ss__dest_ops;

extern const ss__dest_ops ss__dest_shm;

struct ss_loop {
    struct ss_loop *next;  /* ss__rt_loops */
    struct ss_loop *hnext; /* its bucket of the table of loops by name */
    char name[SS_NAME_MAX + 1];
    const ss__dest_ops *ops; /* how messages reach it */
    ss_queue *q;
    /* Ring bytes data messages leave free for control ones (its stop, the
     * timeouts of its own timers, loop and process notices), and the
     * longest an emitter waits for a busy producer side (options). */
    size_t reserve;
    int64_t emit_wait_ns;
    /* Published in the domain's registry: its entry, the process that owns
     * the entry, and the entry's counters (NULL if not published). */
    bool published;
    ss__reg_ref reg;
    pid_t reg_pid;
    ss__reg_counters *counters;
    /* ... and the signals it handles most (dispatch.c, loop thread): a
     * table of a few, by the emitter's names, published to top. */
    struct ss__hot *hot;
    unsigned hot_last;
    bool hot_dirty;
    int64_t hot_pub_ns;
    struct ss__reg_top *top;
    /* A handle on a published loop of another process (ss_loop_open()):
     * no objects of its own, not in the table of loops, kept while user
     * handles or routes refer to it (refs, tables lock). */
    bool remote;
    uint32_t refs;
    struct ss_loop *pnext; /* the process's proxies */
    int pidfd;             /* its owner's (monitor), or -1 */
    bool ended_noticed;    /* its "ended" was emitted here */
    /* The signals of this process with a route to it (to take them out
     * when it ends). */
    struct ss__signal **rsigs;
    size_t n_rsigs, cap_rsigs;
    /* Bindings of this loop (published), by the emitter's names. */
    ss__binding **bind_buckets;
    size_t bind_nb, bind_count;
    ss_object self;
    /* Its objects by id (tables lock): buckets chained through next_. */
    ss_object **obj_buckets;
    size_t obj_nb, obj_count;
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
    _Atomic int efd; /* eventfd made readable by deliveries, or -1 */
    /* The process the loop runs in: getpid() of its creator for an
     * ordinary loop; for a loop process, 0 until it starts, then its pid. */
    pid_t pid;
    struct pending *pend; /* dispatch scratch: LOOP_BATCH entries */
    /* The last message header resolved (tables lock): names -> signal. */
    uint64_t cache_gen;
    ss__signal *cache_sig;
    size_t cache_len;
    unsigned char cache_hdr[MSG_HDR_MAX];
    ss__conn **calls; /* dispatch scratch */
    size_t calls_cap;
    /* The receiver whose slot its thread is calling (NULL: none), for
     * ss_object_destroy() on another thread to wait for; and the hooks
     * around each run of slot calls (ss_loop_set_dispatch_hooks()). */
    _Atomic(ss_object *) calling;
    ss_dispatch_hook hook_begin, hook_end;
    void *hook_ud;
    ss_slot_resolver resolver; /* ss_loop_set_slot_resolver() */
    void *resolver_ud;
    _Atomic(void *) user_data; /* ss_loop_set_data() */
    unsigned run_depth; /* loop thread: iterations in progress (nested) */
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

/* A signal message of the batch being dispatched, resolved. */
typedef struct pending {
    const unsigned char *hdr; /* the message: header, names, payload */
    size_t hlen;              /* header and names */
    size_t len;
    const unsigned char *names; /* the emitter's names, and lengths */
    unsigned char nl[3];
    size_t first, last; /* its calls in loop->calls; none: nothing to do */
    bool found;         /* the emitter's signal (or a binding) exists */
    bool foreign;       /* emitted in another process: no pointers */
    bool batch;
} pending;

/* ---- the tables ---- */

/* Bumped by every writer: a loop's cached name resolution is valid while
 * the generation it was made in lasts (tables lock). */
extern uint64_t ss__rt_gen;
/* Every loop of the process (tables lock). */
extern ss_loop *ss__rt_loops;
/* The loop running on this thread, if any. */
extern _Thread_local ss_loop *ss__rt_tl_loop;

/* The tables' lock (tables_lock.c): emission and dispatch read, set-up
 * and tear-down write (which bumps the generation). */
static inline void ss__rt_write_lock(void)
{
    ss__tables_write_lock();
    ss__rt_gen++;
}

static inline void ss__rt_read_lock(void)
{
    ss__tables_read_lock();
}

static inline void ss__rt_unlock(void)
{
    ss__tables_unlock();
}

/* objects.c: the tables are hash tables (loops by name, each loop's
 * objects by id, live objects by address), so that lookups, creation and
 * destruction cost the same at 10 objects and at 100,000. All under the
 * tables' lock (reads or writes, as the name says). */
int ss__check_name(const char *name);
ss_loop *ss__find_loop(const char *name, size_t len);
ss_object *ss__find_object(ss_loop *loop, const char *id, size_t len);
ss__signal *ss__find_signal(ss_object *obj, const char *name, size_t len);
/* Add loop to the table of loops (SS_EEXIST: its name is taken,
 * SS_ENOMEM), or take it out. Write-locked. */
int ss__loop_table_add(ss_loop *loop);
void ss__loop_table_remove(ss_loop *loop);
/* One object of loop, NULL if none (to destroy them all); the loop's
 * table's memory. */
ss_object *ss__loop_any_object(ss_loop *loop);
void ss__loop_objects_free(ss_loop *loop);
/* A connection or subscription: link it last on the list *head and on
 * its receiver's list (which must be live); unlink it from both, mark it
 * dead and drop the lists' reference. O(1). Write-locked. */
/* The named slots of a live object (NULL: none or not live), and where
 * their list's head is (to add one). */
ss__nslot *ss__nslots(const ss_object *obj);
ss__nslot **ss__nslots_head(const ss_object *obj);
/* A new connection (name NULL) or subscription to signal name, for slot
 * of signature sig; one reference. NULL if out of memory. */
ss__conn *ss__conn_new(ss_object *receiver, ss_slot_fn slot, void *user_data,
                       const char *sig, const char *name);
void ss__conn_link(ss__conn *c, ss__conn **head);
void ss__conn_unlink(ss__conn *c);
void ss__conn_release(ss__conn *c);
void ss__object_destroy_locked(ss_object *obj);
/* How a local message header names loop: its name, or for a proxy (whose
 * own signals, "ended", are emitted here), its name, a NUL and its
 * incarnation (4 bytes, little-endian), which no loop of this process
 * matches and which tells incarnations apart. Into buf (SS_NAME_MAX + 5
 * bytes); returns the length. */
size_t ss__loop_field(const ss_loop *loop, char *buf);
/* The key of an emitter in a remote header and in bindings: its loop's
 * incarnation (u32 LE), the three lengths, the names (the remote header
 * from RMSG_KEY on). Into key; returns its length. */
size_t ss__put_key(unsigned char *key, uint32_t inc, const char *loop,
                   const char *obj, const char *sig);
/* The loop a local header's loop field names (tables locked), or NULL. */
ss_loop *ss__find_emitter_loop(const char *field, size_t len);
size_t ss__put_header(unsigned char *buf, enum msg_kind kind, const char *loop,
                      size_t loop_len, const char *obj, const char *sig);
int ss__signal_add(ss_object *obj, const char *name, const char *signature,
                   bool here, bool ctrl);

/* emit.c: a loop's signals to itself (see there). */
#define SS__LOCAL_BATCH 16

typedef struct ss__local_batch {
    ss_msg msgs[SS__LOCAL_BATCH];
    unsigned char hdr[SS__LOCAL_BATCH][MSG_HDR_MAX];
    size_t n;
} ss__local_batch;

void ss__loop_notify(ss_loop *loop);
void ss__emit_local(ss_loop *loop, ss_object *obj, const char *signal,
                    ss__local_batch *lb, bool queue_own);
void ss__local_flush(ss_loop *loop, ss__local_batch *lb);

/* dispatch.c: handle a batch of messages; whether a stop was among them
 * (it is the last one: nothing past a stop is taken). */
/* Publish a published loop's busiest signals if they changed: now, or
 * when due (sooner if it has drained its queue). */
void ss__hot_publish(ss_loop *loop, bool drained, bool now);
bool ss__dispatch_batch(ss_loop *loop, const ss_msg *msgs, size_t n_msgs);

/* remote.c: other processes' loops (proxies), bindings, control requests.
 * A control message asks a loop to change its routes or bindings; its
 * loop thread handles it in the order of its queue. */
void ss__handle_ctrl(ss_loop *loop, const unsigned char *m, size_t len);
int ss__ctrl_apply(ss_loop *loop, const unsigned char *m, size_t len);
/* Whether loop runs in another process (a proxy, a started loop
 * process); connecting to it then goes through remote.c. */
bool ss__elsewhere(const ss_loop *l);
/* ss_connect()/ss_disconnect() whose emitter lives elsewhere. */
int ss__connect_remote(ss_object *emitter, const char *signal,
                       ss_object *receiver, ss_slot_fn slot, const char *sig,
                       void *ud, ss_destroy_fn destroy, bool add);
/* ss_signal_broadcast_on() to a loop elsewhere, or from an emitter
 * elsewhere. */
int ss__broadcast_remote(ss_object *emitter, const char *signal,
                         ss_loop *loop);
/* ss_loop_free() of a proxy. */
void ss__proxy_free(ss_loop *p);
ss__binding *ss__binding_find(ss_loop *loop, const unsigned char *key,
                              size_t klen);
uint32_t ss__sig_hash(const char *sig);
/* Free a loop's bindings and drop its routes' proxies (loop freed). */
void ss__remote_loop_free(ss_loop *loop);
void ss__routes_free(ss__signal *s);
size_t ss__control_reserve(size_t ring);

/* timer.c */
void ss__timers_init(ss_loop *loop);
void ss__timer_unschedule(ss_timer *t);
void ss__fire_timers(ss_loop *loop, int64_t now);

/* sigint.c: loops catch SIGINT while they run, unless the program handles
 * it; ss__sigint_flag says it came. */
extern _Atomic int ss__sigint_flag;
extern _Atomic int ss__sigint_users;
void ss__sigint_acquire(void);
void ss__sigint_release(void);

#endif /* SS_RUNTIME_H */

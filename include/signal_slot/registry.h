/*
 * signal_slot/registry.h - loops that any process of the host can reach by
 * name: domains, published loops, and the registry that lists them.
 *
 * A domain is a per-user namespace of loop names, held in one shared
 * memory object (/dev/shm/ss-<uid>-<domain>, mode 0600): unrelated
 * applications, or test runs, that use different domains never see each
 * other, and another user cannot attach to it. A loop created with
 * ss_loop_options.publish registers its name there (unique in the domain),
 * with its owner process (pid and start time, so that a reused pid is not
 * mistaken for it), its state and counters, and gets a named queue that
 * other processes open. ss_loop_open() gives any process a handle on it.
 * The registry survives any process being killed at any instant: a dead
 * owner's loops are marked ended by whoever notices, and their names can
 * be taken again.
 *
 * docs/registry.md describes the layout and the protocol.
 */
#ifndef SIGNAL_SLOT_REGISTRY_H
#define SIGNAL_SLOT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "signal_slot/error.h"
#include "signal_slot/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest domain name, in bytes: letters, digits, '.', '_' and '-'. */
#define SS_DOMAIN_MAX 32
/* Loops a domain holds at once (published and not yet reclaimed). */
#define SS_DOMAIN_LOOPS 1024

/*
 * ss_domain_set - the domain this process publishes and finds loops in,
 * from now on (domain: 1..SS_DOMAIN_MAX of [A-Za-z0-9._-]). Without a
 * call, the environment variable SS_DOMAIN, else "default". Set it before
 * the first loop is published or opened: once the process has attached to
 * a domain, changing it returns SS_ESTATE. Thread-safe.
 * Errors: SS_EINVAL (NULL), SS_ENAMETOOLONG (too long or other
 * characters), SS_ESTATE.
 */
SS_API int ss_domain_set(const char *domain);

/* ss_domain_name - the domain in use (or that will be), never NULL. */
SS_API const char *ss_domain_name(void);

/* The state of a registered loop. */
typedef enum ss_loop_state {
    SS_LOOP_STATE_LIVE = 1,  /* its owner process lives */
    SS_LOOP_STATE_ENDED = 2, /* its owner ended (or freed the loop) */
} ss_loop_state;

/* Busiest signals ss_loop_info holds, at most. */
#define SS_LOOP_INFO_TOP 7

/* What the registry says of one loop (ss_registry_list()). */
typedef struct ss_loop_info {
    char name[64];
    ss_loop_state state;
    pid_t pid;               /* owner process */
    uint32_t incarnation;    /* bumped each time the name is taken */
    int exit_code, exit_sig; /* ENDED: how, if known (-1, 0 if not) */
    uint64_t queue_msgs;     /* messages in its queue now */
    uint64_t queue_bytes;    /* their bytes */
    uint64_t queue_capacity; /* ring bytes */
    uint64_t msgs_in;        /* messages its loop handled */
    uint64_t signals_out;    /* signals its process emitted from it (may
                                miss a few when several threads emit
                                from its objects at the same instant) */
    uint64_t drops;          /* messages for it that were dropped */
    /* The signals it handled most, busiest first: the emitter's
     * "loop.object.signal" (cut at 55 bytes) and about how many (counted
     * by the loop in a table of a few signals: exact while it handles no
     * more distinct signals than that, an upper bound beyond). Published
     * by the loop every 100 ms or so while it handles messages. */
    size_t n_busiest;
    struct {
        char name[56];
        uint64_t count;
    } busiest[SS_LOOP_INFO_TOP];
} ss_loop_info;

/*
 * ss_registry_list - what the domain's registry holds: up to max entries
 * into out (may be NULL with max 0), *n receives how many there are.
 * Reads without stopping anything (counters are snapshots). Owners found
 * dead are marked ended on the way. Any thread.
 * Errors: SS_EINVAL, SS_ENOENT (no such domain yet), SS_EACCES (another
 * user's), SS_EREGISTRY (the registry's memory is damaged), SS_ESYS.
 */
SS_API int ss_registry_list(ss_loop_info *out, size_t max, size_t *n);

/* ---- reaching loops of other processes ---- */

/*
 * ss_loop_open - a handle on the published loop named name, whichever
 * process of the domain owns it (also this one): waits at most timeout_ns
 * for it to be published (SS_NO_WAIT: not at all). Emit to it through
 * connections (below) and broadcasts (ss_signal_broadcast_on()); stop it
 * with ss_loop_stop(); its object (ss_loop_object()) has the signal
 * "ended" ("ii": exit code or -1, signal or 0), emitted in this process
 * when it learns that the loop's owner ended. It cannot run here
 * (ss_loop_run(): SS_ENOTSUP). Release it with ss_loop_free(). Handles on
 * the same loop share one queue mapping. Any thread.
 * Errors: SS_EINVAL, SS_ENAMETOOLONG, SS_ENOENT (not published in time),
 * SS_EACCES, SS_EREGISTRY, the errors of ss_queue_open().
 */
SS_API int ss_loop_open(ss_loop **out, const char *name, int64_t timeout_ns);

/* ss_loop_is_remote - whether loop is a handle from ss_loop_open(). */
SS_API bool ss_loop_is_remote(const ss_loop *loop);

/*
 * ss_object_open - a handle on the object id of the loop behind remote (a
 * handle from ss_loop_open()), to connect its signals or slots; whether
 * the object exists is checked when connecting. One handle per id and
 * loop in a process (SS_EEXIST). Release it with ss_object_free().
 * Errors: SS_EINVAL, SS_ENAMETOOLONG, SS_EEXIST, SS_ENOMEM.
 */
SS_API int ss_object_open(ss_object **out, ss_loop *remote, const char *id);

/*
 * ss_slot_add - give obj (a live object of a loop of this process) a slot
 * by name, which other processes connect to (ss_connect_slot()): slot is
 * called with user_data, on obj's loop, with arguments of signature.
 * Any thread. Errors: SS_EINVAL, SS_ENAMETOOLONG, SS_ESIGNATURE,
 * SS_EEXIST (obj has a slot of that name), SS_ENOMEM.
 */
SS_API int ss_slot_add(ss_object *obj, const char *name, ss_slot_fn slot,
                       const char *signature, void *user_data);

/* The signature of a slot that takes whatever signature the signal
 * connected to it carries (ss_slot_add_data()), for bindings of dynamic
 * languages whose slot reads ss_args_signature(). */
#define SS_SIGNATURE_ANY "*"

/*
 * ss_slot_add_data - ss_slot_add() whose user_data is released with
 * destroy (may be NULL) exactly once: when obj is destroyed, or at once
 * if the slot is not added (any error). Never called with the library's
 * tables locked. signature may be SS_SIGNATURE_ANY: each connection then
 * takes the signature of its emitter's signal (which must be known in
 * this process, or be in the process of the slot's loop when that one
 * is another: an emitter of a third process is SS_ENOTSUP, connect it
 * with ss_connect() and a signature); a subscription by name to such a
 * slot is SS_ENOTSUP. Any thread.
 * Errors: as ss_slot_add().
 */
SS_API int ss_slot_add_data(ss_object *obj, const char *name, ss_slot_fn slot,
                            const char *signature, void *user_data,
                            ss_destroy_fn destroy);

/*
 * ss_slot_resolver - asked for a slot by name that obj, an object of the
 * loop it was set on, does not have, when a connection by name needs it
 * (ss_connect_slot(), from this process or from another): it may add the
 * slot (ss_slot_add(), ss_slot_add_data()) and return 0, and the slot is
 * looked up again; any other return leaves it missing (SS_ENOENT). Runs
 * on the thread that looks the slot up (the loop's own thread for a
 * request of another process, inside its dispatch hooks; the caller's
 * thread for a connection made in this process), without the library's
 * locks held; obj is not destroyed while it runs.
 */
typedef int (*ss_slot_resolver)(ss_object *obj, const char *slot,
                                void *user_data);

/*
 * ss_loop_set_slot_resolver - set (resolver NULL: remove) the slot
 * resolver of loop's objects: slots by name made on demand, for bindings
 * of dynamic languages, whose objects' slots are their methods. Set it
 * before the loop runs or on its own thread; a child of a loop process
 * inherits it. Errors: SS_EINVAL (NULL, a handle of another process's
 * loop), SS_ESTATE (the loop runs on another thread).
 */
SS_API int ss_loop_set_slot_resolver(ss_loop *loop, ss_slot_resolver resolver,
                                     void *user_data);

/*
 * ss_connect_slot - connect emitter's signal to receiver's slot by name,
 * wherever each lives: in this process, in a started loop process, in any
 * process of the domain (handles from ss_object_open()). A loop of
 * another process that must reach a loop of this one needs this one
 * published. The half of the connection that another process keeps is
 * asked of its loop, which must be running: the call waits for its
 * answer (at most 5 s). Messages emitted after it returns are delivered;
 * each emitter's order is kept. Connecting the same pair again adds
 * nothing when the emitter's loop is published; one that is not is known
 * to the receiver by its names only (loops of several processes may share
 * them), so each connect then counts, and needs its disconnect.
 * ss_connect() with a function takes an
 * emitter of another process too (the receiver must then be here).
 * Errors: SS_EINVAL, SS_ENOENT (no such object, signal or slot),
 * SS_ESIGNATURE, SS_ENOTSUP (a loop not published, a signal with a
 * pointer), SS_ETIMEDOUT (the loop asked did not answer), SS_ECLOSED (it
 * ended, or its process did), SS_ENOMEM.
 */
SS_API int ss_connect_slot(ss_object *emitter, const char *signal,
                           ss_object *receiver, const char *slot);

/* ss_disconnect_slot - undo ss_connect_slot(). Nothing emitted after it
 * returns is delivered. A slot in another process still gets what was
 * already on its way to it; a slot of this process is not called once
 * this returns (as with ss_disconnect()). Errors: as ss_connect_slot(). */
SS_API int ss_disconnect_slot(ss_object *emitter, const char *signal,
                              ss_object *receiver, const char *slot);

/*
 * ss_subscribe_slot - subscribe receiver, with its slot by name
 * (ss_slot_add()), to the signals named signal broadcast on its loop
 * (ss_subscribe()), wherever it lives: in this process, in a started loop
 * process, in any process of the domain (a handle from ss_object_open()).
 * Asked of its loop, which must be running, as ss_connect_slot() does.
 * Errors: SS_EINVAL, SS_ENAMETOOLONG, SS_ENOENT (no such object or slot),
 * SS_ETIMEDOUT, SS_ECLOSED, SS_ENOMEM.
 */
SS_API int ss_subscribe_slot(ss_object *receiver, const char *signal,
                             const char *slot);

/* ss_unsubscribe_slot - undo ss_subscribe_slot(). Errors: as it, and
 * SS_ENOENT if it was not subscribed. */
SS_API int ss_unsubscribe_slot(ss_object *receiver, const char *signal,
                               const char *slot);

#ifdef __cplusplus
}
#endif
#endif /* SIGNAL_SLOT_REGISTRY_H */

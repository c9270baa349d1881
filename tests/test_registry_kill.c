/*
 * test_registry_kill.c - processes that own entries of the domain's
 * registry, killed with SIGKILL at random instants, many of them inside
 * the registry's updates; the processes that survive must find the
 * registry whole and go on.
 *
 * Two survivors (forked once, they live through every round) publish a
 * loop each ("s0", "s1"). Each round:
 *
 *  - three "served" victims publish loops "v0".."v2" and run them; the
 *    survivors open handles on them (ss_loop_open), connect a signal each
 *    to their slot by name, connect the handles' "ended", and emit to them
 *    while the round lasts;
 *  - the served victims (from a second thread) and three more victims do
 *    registry operations in a tight loop: publish and free loops of a
 *    shared pool of names ("c0".."c7", so that names held by a victim just
 *    killed are taken over), list the registry, cross-process requests
 *    (connect and disconnect a signal to a slot by name of a survivor's or
 *    a victim's loop: reply slots taken and answered), loop processes
 *    ("p<n>", whose child takes its entry over as it starts);
 *  - every victim is killed: most by the parent, with SIGKILL after a
 *    random delay; two per round by a fault-injection point of the
 *    registry (signal_slot_fi: the process kills itself in the middle of
 *    an entry's write, with the lock held, between ending an entry and
 *    retiring its queue, right after taking a reply slot, ...; the point
 *    of an owner's takeover kills the loop process as it starts, the one
 *    of a dead owner's name taken over needs a helper, published and
 *    killed, whose name the victim then takes);
 *  - then the survivors check, each on its own: every handle got its
 *    "ended" (-1, 0 or SIGKILL); the loop's queue is retired; what they
 *    emitted to it came back as 0, counted drops or SS_ECLOSED, and is
 *    counted in ss_signal_dropped(); ss_registry_list() succeeds, LIVE
 *    entries are survivors'; every name of the round can be published
 *    again; a request (reply slot) to the other survivor gets its answer;
 *  - and the parent, from the registry's memory itself: no entry caught
 *    in the middle of a write, no LIVE or STARTING entry but the
 *    survivors', no queue left in /dev/shm but the survivors'.
 *
 * A first test kills more requesters right after they took a reply slot
 * than there are reply slots (256): requests must still get one. A second
 * kills writers in the middle of an entry's write, then a reader is the
 * first to look: it must repair the registry (taking its lock), not call
 * it damaged.
 *
 * No survivor may hang: every wait has a deadline; the parent waits for
 * every child with a timeout and reaps them all, also the loop processes
 * of killed victims (it is their subreaper). No timing is asserted.
 * SS_REGKILL_ROUNDS=n sets the number of rounds (default 90: 540 kills;
 * 301 more in the first test, 20 in the second); SS_REGKILL_VERBOSE=1
 * prints the library's log lines. The parent reads the registry's layout
 * (REG_* below) as registry.c defines it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <signal_slot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ss_internal.h" /* the fault-injection points */
#include "testutil.h"

#define NS 2              /* survivors */
#define NV 3              /* served victims a round: loops v0..v2 */
#define NCH 3             /* victims that only do registry operations */
#define NVIC (NV + NCH)   /* victims a round */
#define NPOOL_C 8         /* shared names c0..c7 */
#define MAX_ROUNDS 1000
#define QCAP 16384        /* queues of the loops of the test */

/* The registry's layout, as read by the parent's raw check (registry.c):
 * a 4096-byte header, then 1024 entries of 256 bytes: sequence number,
 * state, incarnation, name hash, name[64], pid. */
#define REG_HEADER 4096u
#define REG_ENTRIES 1024u
#define REG_ENTRY 256u

/* What a victim is doing (for the count of where kills landed). */
enum {
    OP_IDLE,
    OP_SETUP,
    OP_PUBLISH, /* ss_loop_new, published */
    OP_FREE,    /* ss_loop_free of a published loop */
    OP_LIST,
    OP_REQUEST, /* open a handle, connect and disconnect by name */
    OP_PROCESS, /* a published loop process: new, start, stop, join */
    OP_N
};
static const char *const op_names[OP_N] = {
    "idle", "setting up", "publish", "free (unpublish)", "list",
    "request", "loop process"};

/* The parent's commands to the survivors: round * 8 + phase. */
enum { PH_NONE, PH_OPEN, PH_RUN, PH_CHECK, PH_QUIT };

typedef struct rk_victim {
    _Atomic int ready;
    _Atomic int op;
    _Atomic int fi_done; /* its loop process met the point (OWNER_TORN) */
    _Atomic int lp_killed;
} rk_victim;

typedef struct rk_shared {
    tu_errs errs;
    _Atomic int cmd;
    _Atomic int go; /* the round whose served victims may start */
    _Atomic int ack[NS];
    _Atomic int surv_ready[NS];
    _Atomic int surv_pid[NS];
    int fi[NVIC]; /* this round's fault point of each victim (0: none) */
    rk_victim v[NVIC];
    /* log lines of every process */
    _Atomic uint64_t log_err, log_warn, repairs, damaged;
    /* survivors */
    _Atomic uint64_t emits, emit_ok, emit_drop, emit_closed;
    _Atomic uint64_t ended, takeovers, lists, probes;
    /* victims */
    _Atomic uint64_t ops[OP_N];
    _Atomic uint64_t lp_runs, helper_kills;
} rk_shared;

static rk_shared *sh;
static char g_domain[40];
static int g_rounds = 90;

static void note(int line, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(int line, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tu_errs_note(&sh->errs, line, msg);
    if (sh->errs.count <= 5)
        fprintf(stderr, "[pid %d] line %d: %s\n", (int)getpid(), line, msg);
}
#define NOTE(...) note(__LINE__, __VA_ARGS__)

/* ---- library log lines: counted in every process ---- */

static void count_log(ss_log_level level, const char *component,
                      const char *message, void *user_data)
{
    (void)component;
    (void)user_data;
    if (level == SS_LOG_ERROR)
        atomic_fetch_add(&sh->log_err, 1);
    else if (level == SS_LOG_WARN)
        atomic_fetch_add(&sh->log_warn, 1);
    if (strstr(message, "died holding the registry"))
        atomic_fetch_add(&sh->repairs, 1);
    if (strstr(message, "damaged")) {
        atomic_fetch_add(&sh->damaged, 1);
        fprintf(stderr, "[pid %d] %s\n", (int)getpid(), message);
    }
    if (getenv("SS_REGKILL_VERBOSE"))
        fprintf(stderr, "[pid %d] %s: %s\n", (int)getpid(), component,
                message);
}

/* ---- helpers ---- */

static void queue_path(char *buf, size_t size, const char *name, uint32_t inc)
{
    snprintf(buf, size, "/dev/shm/ss-%u-%s-%s-%u", (unsigned)geteuid(),
             g_domain, name, (unsigned)inc);
}

static bool is_survivor(pid_t pid)
{
    for (int j = 0; j < NS; j++)
        if (atomic_load(&sh->surv_pid[j]) == pid)
            return true;
    return false;
}

/* Alive and not a zombie. */
static bool alive(pid_t pid)
{
    char st;
    uint64_t start;
    return pid > 0 && tu_proc_stat(pid, &st, &start) && st != 'Z' &&
           st != 'X';
}

static ss_loop *new_loop(const char *name, bool publish, int *rc)
{
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = publish;
    o.queue_capacity = QCAP;
    ss_loop *l = NULL;
    *rc = ss_loop_new(&l, name, &o);
    return *rc == 0 ? l : NULL;
}

/* The names every round uses: loops of victims, taken again by the
 * survivors once the round's victims are dead. */
#define POOL (NV + NPOOL_C + 2 * NVIC)
static void pool_name(int k, char *buf, size_t size)
{
    if (k < NV)
        snprintf(buf, size, "v%d", k);
    else if (k < NV + NPOOL_C)
        snprintf(buf, size, "c%d", k - NV);
    else if (k < NV + NPOOL_C + NVIC)
        snprintf(buf, size, "p%d", k - NV - NPOOL_C);
    else
        snprintf(buf, size, "t%d", k - NV - NPOOL_C - NVIC);
}

static void on_nothing(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    (void)args;
    (void)ud;
}

/* A loop's object "sink" with the slots "sink" and "ping" ("x"). */
static int sink_init(ss_object *sink, ss_loop *l)
{
    int rc;
    if ((rc = ss_object_init(sink, l, "sink")) != 0 ||
        (rc = ss_slot_add(sink, "sink", on_nothing, "x", NULL)) != 0 ||
        (rc = ss_slot_add(sink, "ping", on_nothing, "x", NULL)) != 0)
        return rc;
    return 0;
}

/* A request to loop name's sink: connect emitter's "probe" to its slot
 * "ping", then disconnect (two requests, each with a reply slot). rc of
 * the first that failed, or 0; SS_ENOENT if the loop is not there. */
static int request_to(ss_object *emitter, const char *name, int64_t wait)
{
    ss_loop *h;
    int rc = ss_loop_open(&h, name, wait);
    if (rc != 0)
        return rc;
    ss_object *o;
    rc = ss_object_open(&o, h, "sink");
    if (rc == 0) {
        rc = ss_connect_slot(emitter, "probe", o, "ping");
        if (rc == 0)
            rc = ss_disconnect_slot(emitter, "probe", o, "ping");
        ss_object_free(o);
    }
    ss_loop_free(h);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Victims                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct vctx {
    int slot, round;
    ss_object *emitter; /* with signal "probe" ("x") */
} vctx;

static bool fi_wants(int fi, int op)
{
    switch (fi) {
    case SS__FAULT_REG_PUBLISH_LOCKED:
    case SS__FAULT_REG_PUBLISH_TORN:
    case SS__FAULT_REG_PUBLISH_DONE:
    case SS__FAULT_REG_TAKEOVER:
    case SS__FAULT_REG_RETIRE:
    case SS__FAULT_REG_STATE_TORN:
        return op == OP_PUBLISH;
    case SS__FAULT_REG_END_TORN:
        return op == OP_LIST || op == OP_PUBLISH;
    case SS__FAULT_REG_OWNER_TORN:
        return op == OP_PROCESS;
    default: /* the reply slots' points */
        return op == OP_REQUEST;
    }
}

static void do_publish(vctx *c, uint64_t *rs)
{
    char name[16];
    snprintf(name, sizeof name, "c%d", (int)(tu_rand(rs) % NPOOL_C));
    rk_victim *v = &sh->v[c->slot];
    atomic_store(&v->op, OP_PUBLISH);
    int rc;
    ss_loop *l = new_loop(name, true, &rc);
    if (rc != 0 && rc != SS_EEXIST)
        NOTE("victim %d: publish %s: %s", c->slot, name, ss_errname(rc));
    if (l) {
        atomic_store(&v->op, OP_FREE);
        ss_loop_free(l);
    }
}

static void do_request(vctx *c, uint64_t *rs, int fi)
{
    char name[16];
    int t = (int)(tu_rand(rs) % (NS + NV));
    if (fi == SS__FAULT_REG_REPLY_SEND && c->slot < NV)
        t = NS + c->slot; /* its own loop answers */
    else if (fi && t >= NS)
        t %= NS; /* not a victim's loop, killed meanwhile: no answer for
                  * 5 s, and the point would wait */
    if (t < NS)
        snprintf(name, sizeof name, "s%d", t);
    else
        snprintf(name, sizeof name, "v%d", t - NS);
    atomic_store(&sh->v[c->slot].op, OP_REQUEST);
    int rc = request_to(c->emitter, name, SS_NO_WAIT);
    /* A victim's loop may be dead or dying: its queue retired (closed),
     * gone from the registry, or it never answers. */
    if (rc != 0 && rc != SS_ENOENT && rc != SS_ECLOSED &&
        rc != SS_ETIMEDOUT)
        NOTE("victim %d: request to %s: %s", c->slot, name, ss_errname(rc));
}

static void do_process(vctx *c, int fi)
{
    rk_victim *v = &sh->v[c->slot];
    atomic_store(&v->op, OP_PROCESS);
    char name[16];
    snprintf(name, sizeof name, "p%d", c->slot);
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    o.queue_capacity = QCAP;
    ss_process *p;
    int rc = ss_process_new(&p, name, &o);
    if (rc != 0) {
        NOTE("victim %d: ss_process_new %s: %s", c->slot, name,
             ss_errname(rc));
        return;
    }
    atomic_fetch_add(&sh->lp_runs, 1);
    rc = ss_process_start(p, NULL, NULL);
    if (fi == SS__FAULT_REG_OWNER_TORN)
        ss__fault_point = 0; /* the child has it: not this process */
    int st = -1;
    if (rc == 0) {
        rc = ss_process_stop(p);
        if (rc != 0 && rc != SS_ESTATE && rc != SS_ECLOSED)
            NOTE("victim %d: ss_process_stop: %s", c->slot, ss_errname(rc));
        rc = ss_process_join(p, SS_SEC(10), &st);
        if (rc != 0)
            NOTE("victim %d: ss_process_join: %s", c->slot, ss_errname(rc));
    } else {
        NOTE("victim %d: ss_process_start: %s", c->slot, ss_errname(rc));
    }
    if (fi == SS__FAULT_REG_OWNER_TORN && st == 128 + SIGKILL)
        atomic_store(&v->lp_killed, 1);
    else if (rc == 0 && st != 0)
        NOTE("victim %d: loop process status %d", c->slot, st);
    ss_process_free(p);
    if (fi == SS__FAULT_REG_OWNER_TORN)
        atomic_store(&v->fi_done, 1);
}

/* A name whose owner died without anybody noticing yet, taken over: a
 * child publishes loop t<slot> and is killed; then this process publishes
 * it (which ends the dead owner's entry first, the point TAKEOVER). */
static void do_takeover(vctx *c)
{
    char name[16];
    snprintf(name, sizeof name, "t%d", c->slot);
    int fds[2];
    if (pipe(fds) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int rc;
        char ok = new_loop(name, true, &rc) != NULL;
        if (write(fds[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(fds[1]);
    char ok = 0;
    if (pid > 0 && read(fds[0], &ok, 1) == 1 && !ok)
        NOTE("victim %d: helper could not publish %s", c->slot, name);
    close(fds[0]);
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    atomic_fetch_add(&sh->helper_kills, 1);
    atomic_store(&sh->v[c->slot].op, OP_PUBLISH);
    int rc;
    ss_loop *l = new_loop(name, true, &rc);
    if (!l)
        NOTE("victim %d: take %s over: %s", c->slot, name, ss_errname(rc));
    else
        ss_loop_free(l);
}

/* Registry operations until killed. */
static void churn(vctx *c)
{
    rk_victim *v = &sh->v[c->slot];
    int fi = sh->fi[c->slot];
    uint64_t rs = 0x5eed0000ull ^ (uint64_t)getpid() << 16 ^
                  (uint64_t)c->round;
    int arm_at = fi ? (int)(tu_rand(&rs) % 6) : -1;
    for (int n = 0;; n++) {
        int op;
        uint64_t r = tu_rand(&rs) % 100;
        if (n == arm_at && fi == SS__FAULT_REG_OWNER_TORN)
            op = OP_PROCESS;
        else if (r < 45)
            op = OP_PUBLISH;
        else if (r < 60)
            op = OP_LIST;
        else if (r < 97)
            op = OP_REQUEST;
        else
            op = OP_PROCESS;
        if (n >= arm_at && arm_at >= 0 && tu_rand(&rs) % 4 != 0) {
            /* Armed: mostly the operation that meets the point. */
            for (int k = OP_PUBLISH; k < OP_N && !fi_wants(fi, op); k++)
                op = k;
        }
        if (n == arm_at)
            ss__fault_point = fi;
        if (n == arm_at && fi == SS__FAULT_REG_TAKEOVER) {
            do_takeover(c);
            continue;
        }
        atomic_fetch_add(&sh->ops[op], 1);
        switch (op) {
        case OP_PUBLISH:
            do_publish(c, &rs);
            break;
        case OP_LIST: {
            atomic_store(&v->op, OP_LIST);
            size_t nl;
            int rc = ss_registry_list(NULL, 0, &nl);
            if (rc != 0)
                NOTE("victim %d: ss_registry_list: %s", c->slot,
                     ss_errname(rc));
            break;
        }
        case OP_REQUEST:
            do_request(c, &rs, fi);
            break;
        default:
            do_process(c, n == arm_at ? fi : 0);
            break;
        }
        atomic_store(&v->op, OP_IDLE);
    }
}

static void *churn_main(void *arg)
{
    vctx *c = arg;
    int64_t end = tu_now_ns() + SS_SEC(20);
    while (atomic_load(&sh->go) != c->round) {
        if (tu_now_ns() > end) {
            NOTE("victim %d: never told to go", c->slot);
            return NULL;
        }
        tu_sleep_us(100);
    }
    churn(c);
    return NULL;
}

static int victim_main(void *arg)
{
    vctx c = {.slot = (int)(intptr_t)arg,
              .round = atomic_load(&sh->cmd) / 8};
    rk_victim *v = &sh->v[c.slot];
    atomic_store(&v->op, OP_SETUP);
    char name[16];
    int rc;
    static ss_object sink, emitter;
    if (c.slot < NV) {
        /* Its loop v<slot>, run on this thread; registry operations on
         * another. The name was held by the last round's victim, killed. */
        snprintf(name, sizeof name, "v%d", c.slot);
        ss_loop *l = new_loop(name, true, &rc);
        if (!l) {
            NOTE("victim %d: publish %s again: %s", c.slot, name,
                 ss_errname(rc));
            return 2;
        }
        if ((rc = sink_init(&sink, l)) != 0 ||
            (rc = ss_object_init(&emitter, l, "e")) != 0 ||
            (rc = ss_signal_add(&emitter, "probe", "x")) != 0) {
            NOTE("victim %d: set-up: %s", c.slot, ss_errname(rc));
            return 2;
        }
        c.emitter = &emitter;
        pthread_t th;
        if (pthread_create(&th, NULL, churn_main, &c) != 0)
            return 2;
        atomic_store(&v->op, OP_IDLE);
        atomic_store(&v->ready, 1);
        rc = ss_loop_run(l);
        NOTE("victim %d: its loop returned %d", c.slot, rc);
        return 2;
    }
    snprintf(name, sizeof name, "x%d", c.slot);
    ss_loop *l = new_loop(name, false, &rc);
    if (!l || (rc = ss_object_init(&emitter, l, "e")) != 0 ||
        (rc = ss_signal_add(&emitter, "probe", "x")) != 0) {
        NOTE("victim %d: set-up: %s", c.slot, ss_errname(rc));
        return 2;
    }
    c.emitter = &emitter;
    atomic_store(&v->op, OP_IDLE);
    atomic_store(&v->ready, 1);
    churn(&c);
    return 2;
}

/* ------------------------------------------------------------------------ */
/* Survivors                                                                */
/* ------------------------------------------------------------------------ */

typedef struct sv_end {
    _Atomic int got;
    int code, sig;
} sv_end;

static sv_end g_end[MAX_ROUNDS][NV];

static void on_ended(ss_object *receiver, const ss_args *args, void *ud)
{
    (void)receiver;
    sv_end *e = ud;
    int32_t code = 0, sig = 0;
    if (ss_args_unpack(args, "ii", &code, &sig) != 0)
        NOTE("ended: arguments");
    e->code = code;
    e->sig = sig;
    atomic_fetch_add(&e->got, 1);
}

typedef struct survivor {
    int j;
    ss_loop *loop;
    ss_object sink, src, watch;
    ss_object *peer_sink;
    ss_loop *peer;
    ss_loop *h[NV];
    ss_object *hs[NV];
    uint32_t inc[NV];
    uint64_t nz[NV];    /* emissions to v<i> that returned a drop */
    uint64_t drop0[NV]; /* ss_signal_dropped() of d<i> at the open */
} survivor;

static const char *const dsig[NV] = {"d0", "d1", "d2"};

static ss_loop_info g_li[REG_ENTRIES];

/* The registry as ss_registry_list() gives it: it works, no LIVE entry
 * but a survivor's (no victim lives while a survivor looks, in the check
 * phase: live says whether that is so). n: how many. */
static size_t sv_list(bool live_only_survivors)
{
    size_t n = 0;
    int rc = ss_registry_list(g_li, REG_ENTRIES, &n);
    atomic_fetch_add(&sh->lists, 1);
    if (rc != 0) {
        NOTE("ss_registry_list: %s", ss_errname(rc));
        return 0;
    }
    if (n > REG_ENTRIES)
        n = REG_ENTRIES;
    for (size_t k = 0; k < n; k++) {
        const ss_loop_info *li = &g_li[k];
        if (li->name[0] == '\0' || memchr(li->name, 0, 64) == NULL ||
            (li->state != SS_LOOP_STATE_LIVE &&
             li->state != SS_LOOP_STATE_ENDED) ||
            li->incarnation == 0 || li->pid <= 0)
            NOTE("listed entry %zu does not hold together", k);
        if (li->state == SS_LOOP_STATE_LIVE && live_only_survivors &&
            (!is_survivor(li->pid) || !alive(li->pid)))
            NOTE("loop %s LIVE for pid %d, not a live survivor", li->name,
                 (int)li->pid);
    }
    return n;
}

static const ss_loop_info *sv_find(size_t n, const char *name, uint32_t inc)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(g_li[k].name, name) == 0 &&
            (inc == 0 || g_li[k].incarnation == inc))
            return &g_li[k];
    return NULL;
}

static void sv_open(survivor *s, int r)
{
    size_t n = sv_list(false);
    for (int i = 0; i < NV; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%d", i);
        s->h[i] = NULL;
        s->hs[i] = NULL;
        int rc = ss_loop_open(&s->h[i], name, SS_SEC(10));
        if (rc != 0) {
            NOTE("survivor %d: open %s: %s", s->j, name, ss_errname(rc));
            continue;
        }
        const ss_loop_info *li = sv_find(n, name, 0);
        s->inc[i] = li && li->state == SS_LOOP_STATE_LIVE ? li->incarnation
                                                            : 0;
        if (!s->inc[i])
            NOTE("survivor %d: %s not listed LIVE", s->j, name);
        atomic_store(&g_end[r][i].got, 0);
        if ((rc = ss_object_open(&s->hs[i], s->h[i], "sink")) != 0 ||
            (rc = ss_connect_slot(&s->src, dsig[i], s->hs[i], "sink")) != 0 ||
            (rc = ss_connect(ss_loop_object(s->h[i]), "ended", &s->watch,
                             on_ended, "ii", &g_end[r][i])) != 0)
            NOTE("survivor %d: connect to %s: %s", s->j, name,
                 ss_errname(rc));
        s->drop0[i] = ss_signal_dropped(&s->src, dsig[i]);
        s->nz[i] = 0;
    }
}

/* Emit to v<i>: 0 (queued, or no route once its end was noticed), or a
 * counted drop (full, busy, SS_ECLOSED once its queue is retired). */
static void sv_emit(survivor *s, int i, int64_t x)
{
    int rc = ss_emit(&s->src, dsig[i], x);
    atomic_fetch_add(&sh->emits, 1);
    if (rc == 0) {
        atomic_fetch_add(&sh->emit_ok, 1);
        return;
    }
    s->nz[i]++;
    if (rc == SS_ECLOSED)
        atomic_fetch_add(&sh->emit_closed, 1);
    else if (rc == SS_EAGAIN || rc == SS_EBUSY)
        atomic_fetch_add(&sh->emit_drop, 1);
    else
        NOTE("survivor %d: emit to v%d: %s", s->j, i, ss_errname(rc));
}

static void sv_check(survivor *s, int r)
{
    /* Every handle learns that its loop ended. */
    int64_t deadline = tu_now_ns() + SS_SEC(10);
    for (int i = 0; i < NV; i++) {
        if (!s->h[i])
            continue;
        while (!atomic_load(&g_end[r][i].got) && tu_now_ns() < deadline)
            tu_sleep_us(1000);
        if (!atomic_load(&g_end[r][i].got)) {
            NOTE("survivor %d: no \"ended\" for v%d (incarnation %u)", s->j,
                 i, s->inc[i]);
            continue;
        }
        atomic_fetch_add(&sh->ended, 1);
        if (g_end[r][i].code != -1 ||
            (g_end[r][i].sig != 0 && g_end[r][i].sig != SIGKILL))
            NOTE("survivor %d: v%d ended (%d, %d)", s->j, i,
                 g_end[r][i].code, g_end[r][i].sig);
        /* Its queue was retired before "ended" was emitted. */
        char q[160], name[16];
        snprintf(name, sizeof name, "v%d", i);
        queue_path(q, sizeof q, name, s->inc[i]);
        if (s->inc[i] && access(q, F_OK) == 0)
            NOTE("survivor %d: the queue of ended %s (incarnation %u) is "
                 "still there", s->j, name, s->inc[i]);
        /* Emitting to it now: no route left, or its queue closed. */
        sv_emit(s, i, -1);
        uint64_t d = ss_signal_dropped(&s->src, dsig[i]) - s->drop0[i];
        if (d != s->nz[i])
            NOTE("survivor %d: %llu emissions to v%d dropped, %llu counted",
                 s->j, (unsigned long long)s->nz[i], i,
                 (unsigned long long)d);
    }
    /* The registry, as listed: whole, LIVE entries the survivors'; the
     * handles' incarnations ended. */
    size_t n = sv_list(true);
    for (int i = 0; i < NV; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%d", i);
        const ss_loop_info *li = s->inc[i] ? sv_find(n, name, s->inc[i])
                                           : NULL;
        if (li && li->state != SS_LOOP_STATE_ENDED)
            NOTE("survivor %d: dead %s (incarnation %u) listed LIVE", s->j,
                 name, s->inc[i]);
    }
    /* Every name of the round can be taken again (this survivor's share
     * of them): published, listed LIVE as ours, freed, ENDED with 0, its
     * queue retired. */
    for (int k = s->j; k < POOL; k += NS) {
        char name[16];
        pool_name(k, name, sizeof name);
        int rc;
        ss_loop *l = new_loop(name, true, &rc);
        if (!l) {
            NOTE("survivor %d: publish %s after its owner died: %s", s->j,
                 name, ss_errname(rc));
            continue;
        }
        atomic_fetch_add(&sh->takeovers, 1);
        n = sv_list(false);
        const ss_loop_info *li = sv_find(n, name, 0);
        uint32_t inc = li ? li->incarnation : 0;
        if (!li || li->state != SS_LOOP_STATE_LIVE || li->pid != getpid())
            NOTE("survivor %d: %s published but not listed LIVE as ours",
                 s->j, name);
        ss_loop_free(l);
        n = sv_list(false);
        li = sv_find(n, name, inc);
        if (!li || li->state != SS_LOOP_STATE_ENDED || li->exit_code != 0)
            NOTE("survivor %d: %s freed but not listed ENDED (0)", s->j,
                 name);
        char q[160];
        queue_path(q, sizeof q, name, inc);
        if (access(q, F_OK) == 0)
            NOTE("survivor %d: the queue of freed %s is still there", s->j,
                 name);
    }
    /* Reply slots: a request to the other survivor gets its answer. */
    int rc = ss_connect_slot(&s->src, "probe", s->peer_sink, "ping");
    if (rc == 0)
        rc = ss_disconnect_slot(&s->src, "probe", s->peer_sink, "ping");
    if (rc != 0)
        NOTE("survivor %d: request to the other survivor: %s", s->j,
             ss_errname(rc));
    atomic_fetch_add(&sh->probes, 1);
    for (int i = 0; i < NV; i++) {
        if (s->hs[i])
            ss_object_free(s->hs[i]);
        if (s->h[i])
            ss_loop_free(s->h[i]);
        s->h[i] = NULL;
        s->hs[i] = NULL;
    }
}

static void *sv_worker(void *arg)
{
    survivor *s = arg;
    char other[16];
    snprintf(other, sizeof other, "s%d", 1 - s->j);
    int rc = ss_loop_open(&s->peer, other, SS_SEC(20));
    if (rc == 0)
        rc = ss_object_open(&s->peer_sink, s->peer, "sink");
    if (rc != 0) {
        NOTE("survivor %d: open %s: %s", s->j, other, ss_errname(rc));
        ss_loop_stop(s->loop);
        return NULL;
    }
    atomic_store(&sh->surv_ready[s->j], 1);
    int seen = 0;
    int64_t x = 0;
    for (;;) {
        int cmd = atomic_load(&sh->cmd);
        int ph = cmd % 8, r = cmd / 8;
        if (cmd == seen) {
            if (ph == PH_RUN) {
                for (int i = 0; i < NV; i++)
                    if (s->h[i])
                        sv_emit(s, i, x++);
                if (x % 64 == 0)
                    sv_list(false); /* while victims die */
                tu_sleep_us(300);
            } else {
                tu_sleep_us(200);
            }
            continue;
        }
        if (ph == PH_QUIT)
            break;
        if (ph == PH_OPEN)
            sv_open(s, r);
        else if (ph == PH_CHECK)
            sv_check(s, r);
        seen = cmd;
        atomic_store(&sh->ack[s->j], cmd);
    }
    ss_object_free(s->peer_sink);
    ss_loop_free(s->peer);
    ss_loop_stop(s->loop);
    return NULL;
}

static int survivor_main(void *arg)
{
    static survivor s;
    s.j = (int)(intptr_t)arg;
    char name[16];
    snprintf(name, sizeof name, "s%d", s.j);
    int rc;
    s.loop = new_loop(name, true, &rc);
    if (!s.loop) {
        NOTE("survivor %d: publish: %s", s.j, ss_errname(rc));
        return 2;
    }
    if ((rc = sink_init(&s.sink, s.loop)) != 0 ||
        (rc = ss_object_init(&s.src, s.loop, "src")) != 0 ||
        (rc = ss_object_init(&s.watch, s.loop, "watch")) != 0 ||
        (rc = ss_signal_add(&s.src, "probe", "x")) != 0)
        return 2;
    for (int i = 0; i < NV; i++)
        if (ss_signal_add(&s.src, dsig[i], "x") != 0)
            return 2;
    atomic_store(&sh->surv_pid[s.j], getpid());
    pthread_t th;
    if (pthread_create(&th, NULL, sv_worker, &s) != 0)
        return 2;
    rc = ss_loop_run(s.loop);
    pthread_join(th, NULL);
    ss_object_destroy(&s.sink);
    ss_object_destroy(&s.src);
    ss_object_destroy(&s.watch);
    ss_loop_free(s.loop);
    return rc == SS_LOOP_STOPPED ? 0 : 3;
}

/* ------------------------------------------------------------------------ */
/* The parent                                                               */
/* ------------------------------------------------------------------------ */

static pid_t g_surv[NS];

/* Reap the children this process inherited (it is the subreaper of the
 * loop processes of killed victims, which die with them): none may stay. */
static void reap_orphans(void)
{
    int64_t deadline = tu_now_ns() + SS_SEC(10);
    for (;;) {
        char path[64], buf[4096];
        snprintf(path, sizeof path, "/proc/%d/task/%d/children",
                 (int)getpid(), (int)getpid());
        FILE *f = fopen(path, "re");
        size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[len] = '\0';
        int others = 0;
        for (char *p = buf, *end; *p; p = end) {
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            bool known = false;
            for (int j = 0; j < NS; j++)
                known |= pid == g_surv[j];
            if (known)
                continue;
            others++;
            int st;
            if (waitpid((pid_t)pid, &st, WNOHANG) == 0 &&
                tu_now_ns() > deadline) {
                NOTE("pid %ld, orphaned, does not end", pid);
                kill((pid_t)pid, SIGKILL);
                waitpid((pid_t)pid, &st, 0);
            }
        }
        if (others == 0)
            return;
        tu_sleep_us(500);
    }
}

/* Wait until both survivors acknowledged cmd. */
static void wait_acks(int cmd, int timeout_s)
{
    int64_t deadline = tu_now_ns() + SS_SEC(timeout_s);
    for (int j = 0; j < NS; j++) {
        while (atomic_load(&sh->ack[j]) != cmd && tu_now_ns() < deadline) {
            if (tu_child_exited(g_surv[j]))
                break;
            tu_sleep_us(200);
        }
        if (atomic_load(&sh->ack[j]) != cmd)
            fail_msg("survivor %d did not get through phase %d of round %d "
                     "(%s); first failure: %s", j, cmd % 8, cmd / 8,
                     tu_child_exited(g_surv[j]) ? "it ended" : "hung",
                     sh->errs.first);
    }
}

/* The registry's memory, read directly: no entry in the middle of a
 * write, none out of range, LIVE and STARTING entries only the live
 * survivors'; and no queue in /dev/shm but those of LIVE entries. */
static void raw_check(int r)
{
    char path[96];
    snprintf(path, sizeof path, "/dev/shm/ss-%u-%s", (unsigned)geteuid(),
             g_domain);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    size_t size = REG_HEADER + REG_ENTRIES * REG_ENTRY;
    unsigned char *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(p != MAP_FAILED);
    struct live {
        char name[64];
        uint32_t inc;
    } live[REG_ENTRIES];
    int nlive = 0;
    for (uint32_t i = 0; i < REG_ENTRIES; i++) {
        const unsigned char *e = p + REG_HEADER + i * REG_ENTRY;
        uint32_t seq, state, inc;
        int32_t pid;
        char name[64];
        memcpy(&seq, e, 4);
        memcpy(&state, e + 4, 4);
        memcpy(&inc, e + 8, 4);
        memcpy(name, e + 16, 64);
        memcpy(&pid, e + 80, 4);
        name[63] = '\0';
        if (seq & 1)
            NOTE("round %d: entry %u (%s) left in the middle of a write", r,
                 i, name);
        if (state > 3)
            NOTE("round %d: entry %u: state %u", r, i, state);
        if (state == 1 || state == 2) {
            if (!is_survivor(pid) || !alive(pid))
                NOTE("round %d: entry %u (%s, incarnation %u) %s for pid "
                     "%d, not a live survivor", r, i, name, inc,
                     state == 1 ? "STARTING" : "LIVE", (int)pid);
            memcpy(live[nlive].name, name, 64);
            live[nlive++].inc = inc;
        }
    }
    munmap(p, size);
    char prefix[96];
    snprintf(prefix, sizeof prefix, "ss-%u-%s-", (unsigned)geteuid(),
             g_domain);
    DIR *d = opendir("/dev/shm");
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        const char *rest = de->d_name + strlen(prefix);
        const char *dash = strrchr(rest, '-');
        bool ok = false;
        for (int k = 0; dash && k < nlive; k++)
            ok |= strlen(live[k].name) == (size_t)(dash - rest) &&
                  memcmp(live[k].name, rest, (size_t)(dash - rest)) == 0 &&
                  strtoul(dash + 1, NULL, 10) == live[k].inc;
        if (!ok)
            NOTE("round %d: queue %s left behind (its loop is not LIVE)", r,
                 de->d_name);
    }
    closedir(d);
}

/* The fault points the rounds go through, in turn. */
static const int fi_points[] = {
    SS__FAULT_REG_PUBLISH_LOCKED, SS__FAULT_REG_PUBLISH_TORN,
    SS__FAULT_REG_PUBLISH_DONE,   SS__FAULT_REG_TAKEOVER,
    SS__FAULT_REG_RETIRE,         SS__FAULT_REG_STATE_TORN,
    SS__FAULT_REG_END_TORN,       SS__FAULT_REG_OWNER_TORN,
    SS__FAULT_REG_REPLY_TAKEN,    SS__FAULT_REG_REPLY_FREE,
    SS__FAULT_REG_REPLY_SEND,
};
#define N_FI (int)(sizeof fi_points / sizeof fi_points[0])

typedef struct totals {
    uint64_t kills, random_kills, fi_kills, lp_fi_kills;
    uint64_t fi_fired[N_FI], fi_missed[N_FI];
    uint64_t at_op[OP_N];
} totals;

static int fi_index(int point)
{
    for (int k = 0; k < N_FI; k++)
        if (fi_points[k] == point)
            return k;
    return -1;
}

static void round_run(int r, uint64_t *rs, totals *t)
{
    /* Two victims a round meet a fault point, the others die by the
     * parent's hand. Which point: in turn; REPLY_SEND only for a served
     * victim (its loop answers). */
    memset(sh->fi, 0, sizeof sh->fi);
    for (int k = 0; k < 2; k++) {
        int point = fi_points[(2 * r + k) % N_FI];
        int slot = point == SS__FAULT_REG_REPLY_SEND
                       ? (int)(tu_rand(rs) % NV)
                       : (int)(tu_rand(rs) % NVIC);
        if (sh->fi[slot])
            slot = (slot + 1) % NV;
        sh->fi[slot] = point;
    }
    for (int i = 0; i < NVIC; i++) {
        atomic_store(&sh->v[i].ready, 0);
        atomic_store(&sh->v[i].op, OP_IDLE);
        atomic_store(&sh->v[i].fi_done, 0);
        atomic_store(&sh->v[i].lp_killed, 0);
    }
    atomic_store(&sh->cmd, r * 8 + PH_NONE);
    pid_t pid[NVIC];
    for (int i = 0; i < NV; i++) {
        pid[i] = tu_fork(victim_main, (void *)(intptr_t)i);
        assert_true(pid[i] > 0);
    }
    for (int i = 0; i < NV; i++) {
        int64_t deadline = tu_now_ns() + SS_SEC(10);
        while (!atomic_load(&sh->v[i].ready) && !tu_child_exited(pid[i]) &&
               tu_now_ns() < deadline)
            tu_sleep_us(200);
        if (!atomic_load(&sh->v[i].ready))
            fail_msg("round %d: victim %d not ready; first failure: %s", r, i,
                     sh->errs.first);
    }
    atomic_store(&sh->cmd, r * 8 + PH_OPEN);
    wait_acks(r * 8 + PH_OPEN, 30);
    atomic_store(&sh->cmd, r * 8 + PH_RUN);
    atomic_store(&sh->go, r);
    for (int i = NV; i < NVIC; i++) {
        pid[i] = tu_fork(victim_main, (void *)(intptr_t)i);
        assert_true(pid[i] > 0);
    }
    /* Kill them in a random order, at random instants. */
    int order[NVIC];
    for (int i = 0; i < NVIC; i++)
        order[i] = i;
    for (int i = NVIC - 1; i > 0; i--) {
        int k = (int)(tu_rand(rs) % (uint64_t)(i + 1));
        int x = order[i];
        order[i] = order[k];
        order[k] = x;
    }
    for (int n = 0; n < NVIC; n++) {
        int i = order[n];
        tu_sleep_us((long)(tu_rand(rs) % 3000));
        int fi = sh->fi[i];
        bool self = false;
        if (fi) {
            /* Its point kills it (or its loop process) soon. */
            int64_t deadline = tu_now_ns() + SS_MSEC(300);
            while (!(self = tu_child_exited(pid[i])) &&
                   !atomic_load(&sh->v[i].fi_done) && tu_now_ns() < deadline)
                tu_sleep_us(200);
        }
        int op = atomic_load(&sh->v[i].op);
        if (!self)
            kill(pid[i], SIGKILL);
        int rc = tu_wait(pid[i], 10000);
        if (rc != 128 + SIGKILL)
            fail_msg("round %d: victim %d ended with %d (not killed); first "
                     "failure: %s", r, i, rc, sh->errs.first);
        t->kills++;
        if (self) {
            t->fi_kills++;
            t->fi_fired[fi_index(fi)]++;
        } else {
            t->random_kills++;
            t->at_op[op]++;
            if (fi == SS__FAULT_REG_OWNER_TORN &&
                atomic_load(&sh->v[i].lp_killed)) {
                t->lp_fi_kills++;
                t->fi_fired[fi_index(fi)]++;
            } else if (fi) {
                t->fi_missed[fi_index(fi)]++;
            }
        }
    }
    reap_orphans();
    atomic_store(&sh->cmd, r * 8 + PH_CHECK);
    wait_acks(r * 8 + PH_CHECK, 60);
    raw_check(r);
    if (sh->errs.count)
        fail_msg("round %d: %d failure(s), first at line %d: %s", r,
                 sh->errs.count, sh->errs.first_line, sh->errs.first);
}

static void test_random_kills(void **state)
{
    (void)state;
    int64_t t0 = tu_now_ns();
    uint64_t before = atomic_load(&sh->repairs);
    for (int j = 0; j < NS; j++) {
        g_surv[j] = tu_fork(survivor_main, (void *)(intptr_t)j);
        assert_true(g_surv[j] > 0);
    }
    int64_t deadline = tu_now_ns() + SS_SEC(20);
    for (int j = 0; j < NS; j++)
        while (!atomic_load(&sh->surv_ready[j]) && tu_now_ns() < deadline &&
               !tu_child_exited(g_surv[j]))
            tu_sleep_us(500);
    for (int j = 0; j < NS; j++)
        if (!atomic_load(&sh->surv_ready[j]))
            fail_msg("survivor %d not ready: %s", j, sh->errs.first);
    totals t;
    memset(&t, 0, sizeof t);
    uint64_t rs = 0x4b494c4cull;
    for (int r = 1; r <= g_rounds; r++)
        round_run(r, &rs, &t);
    atomic_store(&sh->cmd, (g_rounds + 1) * 8 + PH_QUIT);
    for (int j = 0; j < NS; j++)
        assert_int_equal(tu_wait(g_surv[j], 20000), 0);
    uint64_t repairs = atomic_load(&sh->repairs) - before;
    /* Where the fault points are: with the lock held (a repair each), in
     * the middle of an entry's write among them; in the reply slots; after
     * an entry ended, before its queue was retired. */
    uint64_t locked = 0, torn = 0, reply = 0, retire = 0;
    for (int k = 0; k < N_FI; k++) {
        switch (fi_points[k]) {
        case SS__FAULT_REG_PUBLISH_TORN:
        case SS__FAULT_REG_STATE_TORN:
        case SS__FAULT_REG_END_TORN:
        case SS__FAULT_REG_OWNER_TORN:
            torn += t.fi_fired[k];
            locked += t.fi_fired[k];
            break;
        case SS__FAULT_REG_PUBLISH_LOCKED:
        case SS__FAULT_REG_PUBLISH_DONE:
        case SS__FAULT_REG_TAKEOVER:
            locked += t.fi_fired[k];
            break;
        case SS__FAULT_REG_RETIRE:
            retire += t.fi_fired[k];
            break;
        default:
            reply += t.fi_fired[k];
            break;
        }
    }
    printf("random kills: %llu SIGKILLs in %d rounds (%llu by the parent, "
           "%llu at a fault point of the registry, and %llu loop processes "
           "at theirs); %llu repairs of the registry after a holder of its "
           "lock died; %.1f s\n",
           (unsigned long long)t.kills, g_rounds,
           (unsigned long long)t.random_kills,
           (unsigned long long)t.fi_kills,
           (unsigned long long)t.lp_fi_kills, (unsigned long long)repairs,
           (double)(tu_now_ns() - t0) / 1e9);
    printf("  inside registry updates: %llu at fault points (%llu with the "
           "lock held, %llu of them in the middle of an entry's write; %llu "
           "taking, answering or freeing a reply slot; %llu between ending "
           "an entry and retiring its queue); %lld more repairs than fault "
           "points with the lock held: the parent's kills that landed "
           "there\n",
           (unsigned long long)(t.fi_kills + t.lp_fi_kills),
           (unsigned long long)locked, (unsigned long long)torn,
           (unsigned long long)reply, (unsigned long long)retire,
           (long long)repairs - (long long)locked);
    printf("  the parent's kills, by what the victim was doing:");
    for (int k = 0; k < OP_N; k++)
        printf(" %s %llu%s", op_names[k], (unsigned long long)t.at_op[k],
               k + 1 < OP_N ? "," : "\n");
    printf("  fault points fired (missed):");
    for (int k = 0; k < N_FI; k++)
        printf(" %d: %llu (%llu)%s", fi_points[k],
               (unsigned long long)t.fi_fired[k],
               (unsigned long long)t.fi_missed[k], k + 1 < N_FI ? "," : "\n");
    printf("  victims' operations: %llu publish, %llu list, %llu request, "
           "%llu loop process (%llu run); %llu helpers killed to be taken "
           "over\n",
           (unsigned long long)atomic_load(&sh->ops[OP_PUBLISH]),
           (unsigned long long)atomic_load(&sh->ops[OP_LIST]),
           (unsigned long long)atomic_load(&sh->ops[OP_REQUEST]),
           (unsigned long long)atomic_load(&sh->ops[OP_PROCESS]),
           (unsigned long long)atomic_load(&sh->lp_runs),
           (unsigned long long)atomic_load(&sh->helper_kills));
    printf("  survivors: %llu emissions (%llu queued or unrouted, %llu "
           "dropped full or busy, %llu SS_ECLOSED), %llu \"ended\", %llu "
           "names taken again, %llu lists, %llu probe requests\n",
           (unsigned long long)atomic_load(&sh->emits),
           (unsigned long long)atomic_load(&sh->emit_ok),
           (unsigned long long)atomic_load(&sh->emit_drop),
           (unsigned long long)atomic_load(&sh->emit_closed),
           (unsigned long long)atomic_load(&sh->ended),
           (unsigned long long)atomic_load(&sh->takeovers),
           (unsigned long long)atomic_load(&sh->lists),
           (unsigned long long)atomic_load(&sh->probes));
    assert_int_equal(sh->errs.count, 0);
    assert_int_equal(atomic_load(&sh->damaged), 0);
    if (g_rounds >= 90)
        assert_true(t.kills >= 500);
    assert_true(repairs > 0);
}

/* ---- more requesters killed holding a fresh reply slot than there are
 * reply slots ---- */

static int server_main(void *arg)
{
    (void)arg;
    static ss_object sink;
    int rc;
    ss_loop *l = new_loop("srv", true, &rc);
    if (!l || sink_init(&sink, l) != 0)
        return 2;
    atomic_store(&sh->v[0].ready, 1);
    ss_loop_run(l);
    return 3;
}

static int requester_main(void *arg)
{
    int point = (int)(intptr_t)arg;
    int rc;
    static ss_object e;
    ss_loop *l = new_loop("rq", false, &rc);
    if (!l || ss_object_init(&e, l, "e") != 0 ||
        ss_signal_add(&e, "probe", "x") != 0)
        return 2;
    ss__fault_point = point;
    rc = request_to(&e, "srv", SS_SEC(10));
    ss__fault_point = 0;
    if (rc != 0) {
        NOTE("request to srv: %s", ss_errname(rc));
        return 4;
    }
    return point ? 3 : 0; /* 3: the point was not met */
}

static void test_reply_slot_kills(void **state)
{
    (void)state;
    enum { N = 300, TAKEN = 270 };
    int64_t t0 = tu_now_ns();
    atomic_store(&sh->v[0].ready, 0);
    pid_t srv = tu_fork(server_main, NULL);
    assert_true(srv > 0);
    int64_t deadline = tu_now_ns() + SS_SEC(10);
    while (!atomic_load(&sh->v[0].ready) && tu_now_ns() < deadline &&
           !tu_child_exited(srv))
        tu_sleep_us(200);
    assert_true(atomic_load(&sh->v[0].ready));
    int kills = 0;
    for (int k = 0; k < N; k++) {
        int point = k < TAKEN ? SS__FAULT_REG_REPLY_TAKEN
                              : SS__FAULT_REG_REPLY_FREE;
        pid_t pid = tu_fork(requester_main, (void *)(intptr_t)point);
        assert_true(pid > 0);
        int rc = tu_wait(pid, 20000);
        if (rc != 128 + SIGKILL)
            fail_msg("requester %d (point %d): exit %d; %s", k, point, rc,
                     sh->errs.first);
        kills++;
    }
    /* Requests still get a reply slot, and their answer. */
    for (int k = 0; k < 3; k++) {
        pid_t pid = tu_fork(requester_main, NULL);
        assert_true(pid > 0);
        int rc = tu_wait(pid, 30000);
        if (rc != 0)
            fail_msg("request after %d killed requesters: exit %d; %s", kills,
                     rc, sh->errs.first);
    }
    kill(srv, SIGKILL);
    assert_int_equal(tu_wait(srv, 10000), 128 + SIGKILL);
    kills++;
    printf("reply slots: %d requesters killed holding one (%d right after "
           "taking it, %d answered, before freeing it), and the server; "
           "%.1f s\n",
           kills - 1, TAKEN, N - TAKEN, (double)(tu_now_ns() - t0) / 1e9);
    assert_int_equal(sh->errs.count, 0);
}

/* ---- the first process to look after a writer was killed in the middle
 * of an entry's write ---- */

static int torn_writer_main(void *arg)
{
    ss__fault_point = (int)(intptr_t)arg;
    int rc;
    ss_loop *l = new_loop("torn", true, &rc); /* publish, then go live */
    ss_loop_free(l);
    return 3; /* the point was not met */
}

static int torn_reader_main(void *arg)
{
    (void)arg;
    size_t n;
    int rc = ss_registry_list(g_li, REG_ENTRIES, &n);
    if (rc != 0) {
        NOTE("list after a torn write: %s", ss_errname(rc));
        return 4;
    }
    ss_loop *h;
    if ((rc = ss_loop_open(&h, "torn", SS_NO_WAIT)) != SS_ENOENT) {
        NOTE("open after a torn write: %s", ss_errname(rc));
        return 5;
    }
    ss_loop *l = new_loop("torn", true, &rc);
    if (!l) {
        NOTE("publish after a torn write: %s", ss_errname(rc));
        return 6;
    }
    ss_loop_free(l);
    return 0;
}

static void test_torn_write_then_read(void **state)
{
    (void)state;
    enum { N = 20 };
    uint64_t before = atomic_load(&sh->repairs);
    for (int k = 0; k < N; k++) {
        int point = k % 2 ? SS__FAULT_REG_STATE_TORN
                          : SS__FAULT_REG_PUBLISH_TORN;
        pid_t pid = tu_fork(torn_writer_main, (void *)(intptr_t)point);
        assert_true(pid > 0);
        assert_int_equal(tu_wait(pid, 20000), 128 + SIGKILL);
        /* Nobody has taken the lock since: the reader is the first. */
        pid = tu_fork(torn_reader_main, NULL);
        assert_true(pid > 0);
        int rc = tu_wait(pid, 30000);
        if (rc != 0)
            fail_msg("reader after torn write %d (point %d): exit %d; %s", k,
                     point, rc, sh->errs.first);
    }
    printf("torn writes: %d writers killed in the middle of an entry's "
           "write, each repaired by the next reader (%llu repairs)\n",
           N, (unsigned long long)(atomic_load(&sh->repairs) - before));
    assert_int_equal(atomic_load(&sh->repairs) - before, N);
    assert_int_equal(atomic_load(&sh->damaged), 0);
    assert_int_equal(sh->errs.count, 0);
}

static int setup(void **state)
{
    (void)state;
    memset(&sh->errs, 0, sizeof sh->errs);
    atomic_store(&sh->damaged, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_reap_all();
    reap_orphans();
    return 0;
}

/* Remove the domain's files: the registry and any queue left. */
static void remove_domain(void)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "ss-%u-%s", (unsigned)geteuid(),
             g_domain);
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t n = strlen(prefix);
        if (strncmp(de->d_name, prefix, n) == 0 &&
            (de->d_name[n] == '\0' || de->d_name[n] == '-')) {
            char path[512];
            snprintf(path, sizeof path, "/dev/shm/%s", de->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

int main(void)
{
    tu_watchdog(160);
    /* The loop processes of killed victims are reparented here, to be
     * reaped. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    sh = tu_shared_alloc(sizeof *sh);
    const char *r = getenv("SS_REGKILL_ROUNDS");
    if (r && atoi(r) > 0)
        g_rounds = atoi(r) < MAX_ROUNDS ? atoi(r) : MAX_ROUNDS - 1;
    snprintf(g_domain, sizeof g_domain, "rk%d", (int)getpid());
    if (ss_domain_set(g_domain) != 0)
        return 1;
    ss_log_set_handler(count_log, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reply_slot_kills, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_write_then_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_random_kills, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    printf("library log lines: %llu errors, %llu warnings\n",
           (unsigned long long)atomic_load(&sh->log_err),
           (unsigned long long)atomic_load(&sh->log_warn));
    remove_domain();
    return rc;
}

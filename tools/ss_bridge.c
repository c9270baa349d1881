/*
 * ss-bridge - loops on other hosts (docs/bridge.md): one bridge per host
 * and registry domain connects it to the bridges of other hosts over
 * ZeroMQ.
 *
 * For every published loop L of a peer host P, the bridge keeps a mirror:
 * a published loop of this host's registry named "P/L", which applications
 * open, connect to and emit to as to any loop of the host (the emit path
 * does not change: it is a put into the mirror's queue). A drainer thread
 * per mirror takes what its queue receives, in order, and hands it to the
 * main thread as frames (a batch of records for "L", or a connect request),
 * which go to P's bridge. There, records are checked, the emitter's names
 * are made the ones this host knows ("E" of P becomes "P/E", with the
 * incarnation of the local mirror of it) and put into L's queue. Requests
 * are asked of L with a reply slot of P's host; the answer comes back and
 * is handed to the waiting requester.
 *
 *   ss-bridge --name HOST --listen tcp://ADDR:PORT [--key FILE]
 *             [--peer NAME=tcp://ADDR:PORT[@PUBLIC-KEY]]... [--heartbeat-ms N]
 *             [--cpu auto|any|LIST]  where its threads run (bridge_cpu.h):
 *                                    one CPU, revisited (auto, default),
 *                                    the scheduler's choice, or these
 *   ss-bridge --config FILE       the same options, one per line
 *                                 ("name h1", "peer h2=...", "# comment")
 *   ss-bridge --keygen            print a new key pair (for --key FILE)
 *
 * Security: without --key the bridge listens on loopback addresses only
 * (it refuses others). With --key (a file holding this host's CURVE key
 * pair, public then secret, Z85), every link is encrypted and
 * authenticated with ZeroMQ's CURVE: a peer is accepted only with the
 * public key its --peer gives, and only under its own name; others are
 * refused (logged) and can neither emit, connect nor read.
 *
 * The domain is SS_DOMAIN's. Peers are lost when nothing came from them
 * for three heartbeats: their mirrors are freed (handles get "ended"),
 * and made again, with new incarnations, when they come back. What was
 * queued for a lost peer is not sent later (never replayed), and every
 * signal lost on the way is counted by one of the two bridges (sessions
 * and acknowledgements: docs/bridge.md, "Loss"); SIGUSR1 logs the
 * counters.
 */
#define _GNU_SOURCE
#include "runtime.h"
#include "bridge_cpu.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_PEERS 16
#define MAX_MIRRORS 256
#define FRAME_HDR 24 /* magic, version, kind, 3 spare, seq, epoch, ack,
                       ack_seq */
#define FRAME_MAGIC "SSB"
#define FRAME_VERSION 2
#define FRAME_MAX (32u << 10) /* a batch frame's bytes (one record more
                                 at most) */
#define RING_MAX 65536 /* batch frames awaiting acknowledgement, per peer,
                          and their bytes: the window (drainers wait) */
#define WINDOW_BYTES (16u << 20)
#define ACK_EVERY 256  /* data frames received between two acknowledgements */
#define DRAIN_MAX 256
#define CTRL_HDR_LEN 16

enum frame_kind {
    F_LOOPS = 1, /* names of this host's published loops (also a ping) */
    F_BATCH = 2, /* u8 len, destination loop, u32 n, n x (u32 len, record) */
    F_REQ = 3,   /* u32 slot, u32 nonce, u8 len, destination, record */
    F_REP = 4,   /* u32 slot, u32 nonce, i32 status */
    F_ACK = 5,   /* (the header only: its ack_seq) */
};

typedef struct mirror mirror;

/* A batch frame sent and not acknowledged yet: its seq, its signals. */
typedef struct flight {
    uint32_t seq, nsig, bytes;
} flight;

typedef struct peer {
    char name[SS_NAME_MAX + 1];
    char addr[256];
    char key[41]; /* its CURVE public key (Z85), "" if none given */
    /* The sending side, shared by the main thread (lists, heartbeats),
     * the drainers of p's mirrors and the requesters: each sends itself,
     * under mu (a signal crosses no thread of the bridge on its way out).
     * mu guards dealer, up, seq_out, epoch_out and epoch_in/known_epoch
     * (written by the main thread only, under mu; it reads them without). */
    pthread_mutex_t mu;
    void *dealer;          /* to its ROUTER */
    int64_t last_heard_ns; /* 0: never */
    bool up;
    uint32_t seq_out;
    _Atomic uint32_t seq_in; /* last delivered of the peer's session */
    /* Sessions: frames carry the sender's epoch and the receiver's epoch
     * as the sender last saw it (ack). A bridge moves its epoch on when it
     * loses a peer (and at start: epochs come from the clock, so they
     * grow across restarts), and takes from the peer only frames that
     * acknowledge its current epoch: what was on its way before a loss is
     * never delivered after. A bridge that sees a peer's epoch move on
     * ends the session too (its mirrors of that peer go), without moving
     * its own. */
    uint32_t epoch_out, epoch_in;
    bool known_epoch;
    _Atomic uint64_t lost_frames;
    /* What is lost is counted, in signals (docs/bridge.md, "Loss"). The
     * sending side (under mu) keeps the batch frames of its session that
     * the peer has not acknowledged (every frame carries the last seq its
     * sender delivered of the other's session: ack_seq), and, when its
     * session ends, those of the ended one (doubt): the peer says how
     * far it delivered that session when it closes it on its side (the
     * closed report of its lists), and the rest is counted lost. The
     * receiving side (main thread) closes a session of the peer when it
     * loses the peer, when the peer moves to a new one, or when a data
     * frame of it no longer acknowledges this side's epoch: nothing of a
     * closed session is delivered after. */
    flight *ring;
    uint32_t ring_head, ring_len;
    uint64_t ring_bytes;
    bool ring_full_told;
    pthread_cond_t room; /* the ring has room again (or the session ended) */
    flight *doubt;
    uint32_t ndoubt, doubt_epoch;
    uint32_t closed_epoch, closed_seq; /* receiving side; 0: none */
    uint32_t unacked_in;               /* data frames since our last ack */
    uint64_t unacked_in_bytes;         /* and their bytes */
    _Atomic uint64_t lost_signals;     /* to or from it, lost here */
} peer;

struct mirror {
    peer *p;
    char remote_name[SS_NAME_MAX + 1]; /* L on p's host */
    ss_loop *loop;                     /* "P/L" here */
    pthread_t thread;
    _Atomic bool stop;
    bool seen; /* in the peer's last list */
};

/* A destination loop of this host, by name (handles are cached). */
typedef struct dest {
    char name[SS_NAME_MAX + 1];
    ss_loop *h;
    uint64_t drops;
} dest;

static char g_host[SS_NAME_MAX + 1];
static peer g_peers[MAX_PEERS];
static int g_npeers;
static mirror *g_mirrors[MAX_MIRRORS];
static int g_nmirrors;
static dest g_dests[MAX_MIRRORS];
static int g_ndests;
static void *g_ctx, *g_router;
static int64_t g_heartbeat_ns = SS_MSEC(500);
static _Atomic int g_quit, g_stats; /* (set by signal handlers: lock-free) */
static uint64_t g_bad_frames, g_bad_records, g_drops_untracked;
static _Atomic uint64_t g_refused; /* (counted by the ZAP thread) */
static char g_pub[41], g_sec[41]; /* this host's CURVE keys ("": none) */
static void *g_zap;

static void logf_(ss_log_level lv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(ss_log_level lv, const char *fmt, ...)
{
    (void)lv;
    va_list ap;
    va_start(ap, fmt);
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ss-bridge %s: %s\n", g_host, line);
}
#define INFO(...) logf_(SS_LOG_INFO, __VA_ARGS__)
#define ERR(...) logf_(SS_LOG_ERROR, __VA_ARGS__)

/* getpid(), remembered. libzmq asks it on nearly every send and receive
 * (to notice a fork), and glibc has not cached it since 2.25: a system
 * call each time, about 1 us on a virtual machine, several per signal
 * hand-off. This executable's definition is the one libzmq binds to; it
 * is exact in a process that never forks, as this one, and a child of a
 * fork (none here) would ask again. */
static _Atomic pid_t g_pid;

static void pid_forget(void)
{
    g_pid = 0;
}

static void pid_once(void)
{
    pthread_atfork(NULL, NULL, pid_forget);
}

pid_t getpid(void)
{
    pid_t p = g_pid;
    if (p == 0) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, pid_once);
        p = (pid_t)syscall(SYS_getpid);
        g_pid = p;
    }
    return p;
}

/* ---- frames ---- */

typedef struct fbuf {
    unsigned char *b;
    size_t len, cap;
} fbuf;

static int fb_put(fbuf *f, const void *p, size_t n)
{
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4096;
        while (cap < f->len + n)
            cap *= 2;
        unsigned char *nb = realloc(f->b, cap);
        if (!nb)
            return -1;
        f->b = nb;
        f->cap = cap;
    }
    memcpy(f->b + f->len, p, n);
    f->len += n;
    return 0;
}

static int fb_u32(fbuf *f, uint32_t v)
{
    unsigned char b[4];
    ss__st_le32(b, v);
    return fb_put(f, b, 4);
}

static int fb_str(fbuf *f, const char *s)
{
    size_t n = strlen(s);
    unsigned char l = (unsigned char)n;
    return n > 255 ? -1 : (fb_put(f, &l, 1) || fb_put(f, s, n));
}

/* A frame's header (seq, epoch and acks filled in by send_locked()). */
static void fb_header(fbuf *f, enum frame_kind k)
{
    unsigned char h[FRAME_HDR] = {'S', 'S', 'B', FRAME_VERSION,
                                  (unsigned char)k};
    fb_put(f, h, sizeof h);
}

static void fb_begin(fbuf *f, enum frame_kind k)
{
    f->len = 0;
    fb_header(f, k);
}

/* A reader over a frame's body: every take is bounds-checked. */
typedef struct rd {
    const unsigned char *p, *end;
    bool bad;
} rd;

static const unsigned char *rd_take(rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const unsigned char *at = r->p;
    r->p += n;
    return at;
}

static uint32_t rd_u32(rd *r)
{
    const unsigned char *p = rd_take(r, 4);
    return p ? ss__ld_le32(p) : 0;
}

/* A u8-length string into out (NUL-terminated; names: 1..63 bytes,
 * no NUL inside). */
static bool rd_name(rd *r, char out[SS_NAME_MAX + 1])
{
    const unsigned char *l = rd_take(r, 1);
    if (!l || *l == 0 || *l > SS_NAME_MAX) {
        r->bad = true;
        return false;
    }
    const unsigned char *s = rd_take(r, *l);
    if (!s || memchr(s, 0, *l)) {
        r->bad = true;
        return false;
    }
    memcpy(out, s, *l);
    out[*l] = 0;
    return true;
}

/* ---- loss accounting (sending side, under p->mu) ---- */

static bool seq_after(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

/* (The only sender of data frames, a drainer, has waited for room under
 * the same lock: wait_room(), so the ring is never full here.) */
static void ring_push(peer *p, uint32_t seq, uint32_t nsig, uint32_t bytes)
{
    if (!p->ring && !(p->ring = calloc(RING_MAX, sizeof *p->ring)))
        return;
    p->ring[(p->ring_head + p->ring_len) % RING_MAX] =
        (flight){seq, nsig, bytes};
    p->ring_len++;
    p->ring_bytes += bytes;
}

/* Whether p's window is full (drainers wait: wait_room()). */
static bool window_full(const peer *p)
{
    return p->ring_len >= RING_MAX || p->ring_bytes >= WINDOW_BYTES;
}

/* The peer delivered our session's frames up to seq ack. */
static void ring_ack(peer *p, uint32_t ack)
{
    bool full = window_full(p);
    while (p->ring_len && !seq_after(p->ring[p->ring_head].seq, ack)) {
        p->ring_bytes -= p->ring[p->ring_head].bytes;
        p->ring_head = (p->ring_head + 1) % RING_MAX;
        p->ring_len--;
    }
    if (full && !window_full(p))
        pthread_cond_broadcast(&p->room);
}

/* A drainer's batch frame waits for room in p's window: RING_MAX frames
 * or WINDOW_BYTES unacknowledged (the peer, or the link, is slower than
 * this side) hold it back, and with it its mirror's queue, which fills: emits to the
 * mirror become drops counted by their emitters, rather than frames
 * counted lost that may yet arrive. Ends when the peer acknowledges,
 * when it is lost (the ring empties), or when m stops. Under p->mu. */
static void wait_room(peer *p, const _Atomic bool *stop)
{
    while (p->up && window_full(p) && !atomic_load(stop)) {
        if (!p->ring_full_told) {
            p->ring_full_told = true;
            INFO("peer %s: %u frames (%llu bytes) sent and not "
                 "acknowledged: sending waits for it (emits to its mirrors "
                 "drop meanwhile, counted)", p->name, p->ring_len,
                 (unsigned long long)p->ring_bytes);
        }
        /* (The condition variable runs on CLOCK_MONOTONIC.) */
        int64_t until = ss__now_ns() + SS_MSEC(50);
        struct timespec ts = {(time_t)(until / 1000000000),
                              (long)(until % 1000000000)};
        pthread_cond_timedwait(&p->room, &p->mu, &ts);
    }
    if (p->ring_len < RING_MAX / 2 && p->ring_bytes < WINDOW_BYTES / 2)
        p->ring_full_told = false;
}

static uint64_t doubt_after(const peer *p, uint32_t seq, bool all)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < p->ndoubt; i++)
        if (all || seq_after(p->doubt[i].seq, seq))
            n += p->doubt[i].nsig;
    return n;
}

/* Our session toward p ends (its epoch is about to move on): what the
 * peer has not acknowledged is in doubt until it says how far it got. */
static void session_out_ends(peer *p)
{
    if (p->ndoubt) {
        uint64_t n = doubt_after(p, 0, true);
        p->lost_signals += n;
        INFO("peer %s: %llu signals of an older session never confirmed: "
             "counted lost", p->name, (unsigned long long)n);
        p->ndoubt = 0;
    }
    if (p->ring_len && (p->doubt || (p->doubt = calloc(RING_MAX,
                                                       sizeof *p->doubt)))) {
        for (uint32_t i = 0; i < p->ring_len; i++)
            p->doubt[i] = p->ring[(p->ring_head + i) % RING_MAX];
        p->ndoubt = p->ring_len;
        p->doubt_epoch = p->epoch_out;
    }
    p->ring_head = p->ring_len = 0;
    p->ring_bytes = 0;
    pthread_cond_broadcast(&p->room);
}

/* The peer closed our session epoch after delivering its frames up to
 * seq: the rest of it is lost. */
static void session_out_resolved(peer *p, uint32_t epoch, uint32_t seq)
{
    if (!p->ndoubt || epoch != p->doubt_epoch)
        return;
    uint64_t n = doubt_after(p, seq, false);
    p->ndoubt = 0;
    if (n) {
        p->lost_signals += n;
        INFO("peer %s: %llu signals sent before the link was lost never "
             "arrived: counted lost", p->name, (unsigned long long)n);
    }
}

/* ---- mirrors ---- */

static peer *peer_named(const char *name)
{
    for (int i = 0; i < g_npeers; i++)
        if (strcmp(g_peers[i].name, name) == 0)
            return &g_peers[i];
    return NULL;
}

static mirror *mirror_of(const peer *p, const char *remote)
{
    for (int i = 0; i < g_nmirrors; i++)
        if (g_mirrors[i]->p == p &&
            strcmp(g_mirrors[i]->remote_name, remote) == 0)
            return g_mirrors[i];
    return NULL;
}

static void mirror_new(peer *p, const char *remote);

/* The incarnation of the mirror here of loop `remote` of peer p, made now
 * if the peer's list has not told of it yet (a request may come before
 * the next list: it is kept if the list names it, freed if not); 0 if it
 * cannot be made (as for a loop that is not published). */
static uint32_t mirror_inc(peer *p, const char *remote)
{
    mirror *m = mirror_of(p, remote);
    if (!m) {
        mirror_new(p, remote);
        m = mirror_of(p, remote);
    }
    return m ? m->loop->reg.incarnation : 0;
}

static bool send_locked(peer *p, fbuf *f, bool session, uint32_t nsig);

/* Whether a message of a mirror's queue is a request (a control record,
 * which travels alone as F_REQ) rather than signals. */
static bool is_request(const ss_msg *m)
{
    return m->len >= CTRL_HDR_LEN &&
           ((const unsigned char *)m->data)[0] == 4;
}

/* A drainer: takes what the mirror's queue receives and sends it to the
 * peer as frames, in order. */
static void *drain(void *arg)
{
    mirror *m = arg;
    ss_queue *q = ss_loop_queue(m->loop);
    ss_msg msgs[DRAIN_MAX];
    fbuf f = {0};
    while (!atomic_load(&m->stop)) {
        size_t n = 0;
        int rc = ss_queue_read_begin(q, msgs, DRAIN_MAX, &n, SS_MSEC(100));
        if (rc == SS_ETIMEDOUT || (rc == 0 && n == 0))
            continue;
        if (rc != 0) {
            if (rc == SS_ECLOSED)
                break;
            ERR("mirror %s/%s: read: %s", m->p->name, m->remote_name,
                ss_strerror(rc));
            break;
        }
        /* Data in batches, each request alone, in queue order. */
        size_t i = 0;
        uint32_t nsig = 0;
        while (i < n) {
            const unsigned char *r = msgs[i].data;
            if (is_request(&msgs[i])) {
                fb_begin(&f, F_REQ);
                fb_u32(&f, ss__ld_le32(r + 4)); /* reply slot */
                fb_u32(&f, ss__ld_le32(r + 8)); /* nonce */
                fb_str(&f, m->remote_name);
                fb_put(&f, r, msgs[i].len);
                i++;
                nsig = 0;
            } else {
                fb_begin(&f, F_BATCH);
                fb_str(&f, m->remote_name);
                size_t count_at = f.len;
                fb_u32(&f, 0);
                uint32_t k = 0;
                nsig = 0;
                while (i < n && (k == 0 || f.len < FRAME_MAX) &&
                       !is_request(&msgs[i])) {
                    fb_u32(&f, (uint32_t)msgs[i].len);
                    fb_put(&f, msgs[i].data, msgs[i].len);
                    nsig += (uint32_t)ss__msg_signals(msgs[i].data,
                                                      msgs[i].len);
                    k++;
                    i++;
                }
                ss__st_le32(f.b + count_at, k);
            }
            pthread_mutex_lock(&m->p->mu);
            if (nsig)
                wait_room(m->p, &m->stop);
            if (nsig && m->p->up && window_full(m->p)) {
                /* (Stopped while waiting: never sent, counted here.) */
                m->p->lost_frames++;
                m->p->lost_signals += nsig;
            } else {
                send_locked(m->p, &f, true, nsig);
            }
            pthread_mutex_unlock(&m->p->mu);
        }
        ss_queue_read_end(q, n);
    }
    free(f.b);
    return NULL;
}

static void mirror_free(mirror *m, const char *why)
{
    /* (A drainer waiting for room in the window is woken to stop.) */
    pthread_mutex_lock(&m->p->mu);
    atomic_store(&m->stop, true);
    pthread_cond_broadcast(&m->p->room);
    pthread_mutex_unlock(&m->p->mu);
    pthread_join(m->thread, NULL);
    /* Closed first (emits to it fail from now on, counted by their
     * emitters), then what it still holds is counted lost here. */
    ss__loop_close(m->loop, SS_MSEC(100));
    uint64_t left = ss__loop_drop_queued(m->loop);
    if (left) {
        m->p->lost_signals += left;
        INFO("mirror %s/%s: %llu signals still queued for it: counted lost",
             m->p->name, m->remote_name, (unsigned long long)left);
    }
    INFO("mirror %s/%s freed (%s)", m->p->name, m->remote_name, why);
    ss_loop_free(m->loop);
    for (int i = 0; i < g_nmirrors; i++) {
        if (g_mirrors[i] == m) {
            g_mirrors[i] = g_mirrors[--g_nmirrors];
            break;
        }
    }
    free(m);
}

static void mirror_new(peer *p, const char *remote)
{
    char name[2 * SS_NAME_MAX + 2];
    snprintf(name, sizeof name, "%s/%s", p->name, remote);
    if (strlen(name) > SS_NAME_MAX || g_nmirrors == MAX_MIRRORS) {
        ERR("loop %s of %s: no mirror (name too long or too many)", remote,
            p->name);
        return;
    }
    mirror *m = calloc(1, sizeof *m);
    if (!m)
        return;
    m->p = p;
    snprintf(m->remote_name, sizeof m->remote_name, "%s", remote);
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    int rc = ss_loop_new(&m->loop, name, &o);
    if (rc != 0) {
        ERR("mirror %s: %s", name, ss_strerror(rc));
        free(m);
        return;
    }
    if (pthread_create(&m->thread, NULL, drain, m) != 0) {
        ss_loop_free(m->loop);
        free(m);
        return;
    }
    m->seen = true;
    g_mirrors[g_nmirrors++] = m;
    INFO("mirror %s made", name);
}

static char g_keyed; /* CURVE keys loaded */

/* The DEALER toward p, made again after a loss: what it still queued for
 * the lost session goes with the old one (LINGER 0). */
static void dealer_open(peer *p)
{
    if (p->dealer)
        zmq_close(p->dealer);
    p->dealer = zmq_socket(g_ctx, ZMQ_DEALER);
    /* Reconnection backs off from 100 ms up to a heartbeat interval: a
     * link that is back is used again within about one heartbeat. */
    int linger = 0, hwm = 100000, ivl = 100,
        max = (int)(g_heartbeat_ns / 1000000);
    if (max < ivl)
        max = ivl;
    zmq_setsockopt(p->dealer, ZMQ_ROUTING_ID, g_host, strlen(g_host));
    zmq_setsockopt(p->dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(p->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(p->dealer, ZMQ_RECONNECT_IVL_MAX, &max, sizeof max);
    int hb = (int)(g_heartbeat_ns / 1000000), hb_to = 3 * hb;
    zmq_setsockopt(p->dealer, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
    zmq_setsockopt(p->dealer, ZMQ_HEARTBEAT_TIMEOUT, &hb_to, sizeof hb_to);
    if (g_keyed) {
        zmq_setsockopt(p->dealer, ZMQ_CURVE_SERVERKEY, p->key, 40);
        zmq_setsockopt(p->dealer, ZMQ_CURVE_PUBLICKEY, g_pub, 40);
        zmq_setsockopt(p->dealer, ZMQ_CURVE_SECRETKEY, g_sec, 40);
    }
    zmq_connect(p->dealer, p->addr);
}

/* A new epoch: the clock's milliseconds, past the last one. */
static uint32_t next_epoch(uint32_t last)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint32_t e = (uint32_t)((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    if (last == 0)
        return e ? e : 1;
    return (int32_t)(e - last) > 0 ? e : last + 1;
}

/* The peer's current session closes here: nothing more of it is
 * delivered, and our lists tell the peer how far it got. */
static void session_in_closes(peer *p)
{
    if (p->known_epoch && p->closed_epoch != p->epoch_in) {
        p->closed_epoch = p->epoch_in;
        p->closed_seq = p->seq_in;
    }
}

/* p is gone: its mirrors are freed (handles get "ended"). Detected here
 * (mine): a new epoch, and what was queued for it goes. */
static void peer_lost(peer *p, const char *why, bool mine)
{
    pthread_mutex_lock(&p->mu);
    if (mine) {
        session_out_ends(p);
        p->epoch_out = next_epoch(p->epoch_out);
        p->seq_out = 0;
        dealer_open(p);
    }
    bool was_up = p->up;
    p->up = false;
    pthread_cond_broadcast(&p->room);
    pthread_mutex_unlock(&p->mu);
    if (mine)
        session_in_closes(p); /* (nothing more of its session either) */
    if (!was_up)
        return;
    INFO("peer %s lost (%s)", p->name, why);
    for (int i = g_nmirrors - 1; i >= 0; i--)
        if (g_mirrors[i]->p == p)
            mirror_free(g_mirrors[i], "peer lost");
}

/* Whether epoch a comes after b (serial numbers: they wrap). */
static bool newer(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

/* ---- to peers ---- */

/* Send frame f to p, from any thread (under p->mu). A frame of the
 * session (data, requests, answers) goes only while p is up: what is
 * meant for a peer that is lost is counted, never sent later. */
static bool send_locked(peer *p, fbuf *f, bool session, uint32_t nsig)
{
    if (session && !p->up) {
        p->lost_frames++; /* never replayed */
        p->lost_signals += nsig;
        return false;
    }
    uint32_t seq = ++p->seq_out;
    ss__st_le32(f->b + 8, seq);
    ss__st_le32(f->b + 12, p->epoch_out);
    ss__st_le32(f->b + 16, p->known_epoch ? p->epoch_in : 0);
    ss__st_le32(f->b + 20, p->seq_in);
    int rc = zmq_send(p->dealer, f->b, f->len, ZMQ_DONTWAIT);
    if (rc >= 0 && nsig)
        ring_push(p, seq, nsig, (uint32_t)f->len);
    if (rc < 0) {
        p->lost_frames++; /* a slow link: counted, never waited for */
        p->lost_signals += nsig;
    }
    return rc >= 0;
}

static bool send_to(peer *p, fbuf *f, bool session, uint32_t nsig)
{
    pthread_mutex_lock(&p->mu);
    bool sent = send_locked(p, f, session, nsig);
    pthread_mutex_unlock(&p->mu);
    return sent;
}

/* This host's published loops (not mirrors), to every peer, with the
 * peer's closed report. The list is taken under the peer's lock and sent
 * before it is let go: a request that a drainer sent before it came from
 * a loop published before it, which the list names (else the peer would
 * take the loop for ended, and free the mirror the request made). */
static void announce(void)
{
    static ss_loop_info info[1024];
    fbuf f = {0};
    for (int i = 0; i < g_npeers; i++) {
        peer *p = &g_peers[i];
        pthread_mutex_lock(&p->mu);
        size_t n = 0;
        if (ss_registry_list(info, 1024, &n) != 0)
            n = 0;
        if (n > 1024)
            n = 1024;
        fb_begin(&f, F_LOOPS);
        fb_str(&f, g_host);
        size_t count_at = f.len;
        fb_u32(&f, 0);
        uint32_t k = 0;
        for (size_t j = 0; j < n; j++) {
            if (info[j].state != SS_LOOP_STATE_LIVE ||
                strchr(info[j].name, '/'))
                continue;
            fb_str(&f, info[j].name);
            k++;
        }
        ss__st_le32(f.b + count_at, k);
        /* Its last session closed here, and the last frame of it
         * delivered. */
        fb_u32(&f, p->closed_epoch);
        fb_u32(&f, p->closed_seq);
        p->unacked_in = 0;
        p->unacked_in_bytes = 0;
        send_locked(p, &f, false, 0);
        pthread_mutex_unlock(&p->mu);
    }
    free(f.b);
}

/* ---- from peers ---- */

static dest *dest_get(const char *name)
{
    for (int i = 0; i < g_ndests; i++)
        if (strcmp(g_dests[i].name, name) == 0)
            return &g_dests[i];
    if (g_ndests == MAX_MIRRORS)
        return NULL;
    dest *d = &g_dests[g_ndests];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    g_ndests++;
    return d;
}

/* The handle on loop name of this host, opened on first use; NULL if it
 * is not published (or ended: opened again next time). */
static ss_loop *dest_handle(dest *d)
{
    if (!d->h && ss_loop_open(&d->h, d->name, SS_NO_WAIT) != 0)
        d->h = NULL;
    return d->h;
}

/* Rewrite a signal record of peer p for this host: the emitter's loop
 * E becomes "P/E", with the incarnation of the mirror of it here. */
static size_t rewrite_signal(peer *p, const unsigned char *r,
                             size_t len, unsigned char *out, size_t cap)
{
    if (len < RMSG_HDR || !(r[0] & MSG_REMOTE) || r[1] != MSG_VERSION)
        return 0;
    unsigned kind = MSG_KIND(r[0]);
    if (kind != MSG_SIGNAL && kind != MSG_BATCH)
        return 0;
    size_t ln = r[10], on = r[11], sn = r[12];
    if (ln == 0 || ln > SS_NAME_MAX || RMSG_HDR + ln + on + sn > len)
        return 0;
    char e[SS_NAME_MAX + 1];
    memcpy(e, r + RMSG_HDR, ln);
    e[ln] = 0;
    if (memchr(e, 0, ln))
        return 0;
    char q[SS_NAME_MAX * 2 + 2];
    int qn = snprintf(q, sizeof q, "%s/%s", p->name, e);
    if (qn <= 0 || qn > SS_NAME_MAX)
        return 0;
    size_t rest = len - RMSG_HDR - ln;
    if (RMSG_HDR + (size_t)qn + rest > cap)
        return 0;
    memcpy(out, r, RMSG_HDR);
    ss__st_le32(out + 6, mirror_inc(p, e));
    out[10] = (unsigned char)qn;
    memcpy(out + RMSG_HDR, q, (size_t)qn);
    memcpy(out + RMSG_HDR + qn, r + RMSG_HDR + ln, rest);
    return RMSG_HDR + (size_t)qn + rest;
}

/* Put the k records of msgs into d's loop (h: its handle, NULL if it is
 * not there): never waiting; what does not go in is counted as dropped.
 * A loop that ended is opened again next time. */
static void deliver(dest *d, ss_loop *h, const ss_msg *msgs, size_t k)
{
    if (!k)
        return;
    int rc = SS_ENOENT;
    if (h) {
        ss__put how = {.reserve = h->reserve,
                       .timeout_ns = 0,
                       .patience_ns = h->emit_wait_ns};
        rc = h->ops->put(h, msgs, k, &how);
    }
    if (rc != 0) {
        uint64_t n = 0;
        for (size_t i = 0; i < k; i++)
            n += ss__msg_signals(msgs[i].data, msgs[i].len);
        if (d)
            d->drops += n;
        else
            g_drops_untracked += n; /* (more destinations than tracked) */
        if (h && h->counters) /* (what ss-ls shows for that loop) */
            atomic_fetch_add_explicit(&h->counters->drops, n,
                                      memory_order_relaxed);
    }
    if (rc == SS_ECLOSED && h && d && d->h == h) {
        ss_loop_free(h);
        d->h = NULL;
    }
}

static void on_batch(peer *p, rd *r)
{
    char dname[SS_NAME_MAX + 1];
    if (!rd_name(r, dname))
        return;
    uint32_t n = rd_u32(r);
    dest *d = dest_get(dname);
    ss_loop *h = d ? dest_handle(d) : NULL;
    static unsigned char *buf;
    static size_t buf_cap;
    static ss_msg msgs[4096];
    size_t used = 0, k = 0;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint32_t len = rd_u32(r);
        const unsigned char *rec = rd_take(r, len);
        if (!rec)
            break;
        size_t need = len + SS_NAME_MAX + 2;
        if (used + need > buf_cap) {
            /* (Records point into buf: put what is ready first.) */
            deliver(d, h, msgs, k);
            h = d ? d->h : NULL;
            k = used = 0;
            if (need > buf_cap) {
                free(buf);
                buf_cap = need * 2 > 65536 ? need * 2 : 65536;
                buf = malloc(buf_cap);
                if (!buf) {
                    buf_cap = 0;
                    return;
                }
            }
        }
        if (rec[0] == MSG_STOP && len >= 1) {
            msgs[k].data = rec;
            msgs[k].len = len;
            k++;
        } else {
            size_t w = rewrite_signal(p, rec, len, buf + used, buf_cap - used);
            if (w == 0) {
                g_bad_records++;
                continue;
            }
            msgs[k].data = buf + used;
            msgs[k].len = w;
            used += w;
            k++;
        }
        if (k == sizeof msgs / sizeof msgs[0]) {
            deliver(d, h, msgs, k);
            h = d ? d->h : NULL;
            k = used = 0;
        }
    }
    if (r->bad)
        g_bad_frames++;
    deliver(d, h, msgs, k);
}

/* A request of peer p, asked of a loop here by a thread of its own
 * (waiting for the answer must not stop the bridge). */
typedef struct req {
    peer *p;
    uint32_t slot, nonce;
    char dname[SS_NAME_MAX + 1];
    size_t len;
    unsigned char rec[];
} req;

static void *ask(void *arg)
{
    req *q = arg;
    int status = SS_ENOENT;
    ss_loop *h = NULL;
    if (ss_loop_open(&h, q->dname, SS_NO_WAIT) == 0) {
        uint32_t slot, nonce;
        status = ss__reg_reply_take(&slot, &nonce);
        if (status == 0) {
            ss__st_le32(q->rec + 4, slot);
            ss__st_le32(q->rec + 8, nonce);
            ss_msg m = {q->rec, q->len};
            ss__put how = {.timeout_ns = SS_SEC(1),
                           .patience_ns = h->emit_wait_ns};
            status = h->ops->put(h, &m, 1, &how);
            if (status != 0)
                ss__reg_reply_wait(slot, nonce, 0, NULL, NULL);
            else
                status = ss__reg_reply_wait(slot, nonce, SS_SEC(5), NULL,
                                            NULL);
        }
        ss_loop_free(h);
    }
    /* The answer, to the peer. */
    fbuf f = {0};
    fb_begin(&f, F_REP);
    fb_u32(&f, q->slot);
    fb_u32(&f, q->nonce);
    fb_u32(&f, (uint32_t)status);
    send_to(q->p, &f, true, 0);
    free(f.b);
    free(q);
    return NULL;
}

/* Rewrite a control record of peer p: the names of loops of p's host in
 * it become "P/..." with the incarnations of the mirrors here. Returns
 * the new length, 0 if malformed. */
static size_t rewrite_ctrl(peer *p, const unsigned char *r, size_t len,
                           unsigned char *out, size_t cap)
{
    if (len < CTRL_HDR_LEN || r[0] != 4 || len > cap)
        return 0;
    unsigned op = r[1];
    int which = op == 1 || op == 2 ? 2 : op == 3 || op == 4 ? 0 : -1;
    if (op < 1 || op > 6)
        return 0;
    memcpy(out, r, CTRL_HDR_LEN);
    size_t at = CTRL_HDR_LEN, w = CTRL_HDR_LEN;
    for (int i = 0; at < len; i++) {
        size_t n = r[at];
        if (at + 1 + n > len)
            return 0;
        const unsigned char *s = r + at + 1;
        if (i == which) {
            char name[SS_NAME_MAX + 1], q[2 * SS_NAME_MAX + 2];
            if (n == 0 || n > SS_NAME_MAX)
                return 0;
            memcpy(name, s, n);
            name[n] = 0;
            int qn = snprintf(q, sizeof q, "%s/%s", p->name, name);
            if (qn <= 0 || qn > SS_NAME_MAX || w + 1 + (size_t)qn > cap)
                return 0;
            out[w] = (unsigned char)qn;
            memcpy(out + w + 1, q, (size_t)qn);
            w += 1 + (size_t)qn;
            ss__st_le32(out + 12, mirror_inc(p, name));
        } else {
            if (w + 1 + n > cap)
                return 0;
            memcpy(out + w, r + at, 1 + n);
            w += 1 + n;
        }
        at += 1 + n;
    }
    return w;
}

static void on_req(peer *p, rd *r)
{
    uint32_t slot = rd_u32(r), nonce = rd_u32(r);
    char dname[SS_NAME_MAX + 1];
    if (!rd_name(r, dname))
        return;
    size_t len = (size_t)(r->end - r->p);
    const unsigned char *rec = rd_take(r, len);
    if (!rec)
        return;
    size_t cap = len + 2 * SS_NAME_MAX + 2;
    req *q = calloc(1, sizeof *q + cap);
    if (!q)
        return;
    q->len = rewrite_ctrl(p, rec, len, q->rec, cap);
    if (q->len == 0) {
        g_bad_records++;
        free(q);
        return;
    }
    q->p = p;
    q->slot = slot;
    q->nonce = nonce;
    snprintf(q->dname, sizeof q->dname, "%s", dname);
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, ask, q) != 0)
        free(q);
    pthread_attr_destroy(&a);
}

static void on_loops(peer *p, rd *r)
{
    char host[SS_NAME_MAX + 1];
    if (!rd_name(r, host))
        return;
    uint32_t n = rd_u32(r);
    for (int i = 0; i < g_nmirrors; i++)
        if (g_mirrors[i]->p == p)
            g_mirrors[i]->seen = false;
    /* (Names first, checked; made mirrors only once the frame parsed.) */
    const unsigned char *names = r->p;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        char name[SS_NAME_MAX + 1];
        rd_name(r, name);
    }
    uint32_t closed_epoch = rd_u32(r), closed_seq = rd_u32(r);
    if (r->bad) {
        g_bad_frames++;
        return;
    }
    if (closed_epoch) {
        pthread_mutex_lock(&p->mu);
        bool ours = closed_epoch == p->epoch_out;
        if (!ours)
            session_out_resolved(p, closed_epoch, closed_seq);
        pthread_mutex_unlock(&p->mu);
        if (ours) {
            /* It closed our current session (it lost us): a new one. */
            peer_lost(p, "it closed our session", true);
            pthread_mutex_lock(&p->mu);
            session_out_resolved(p, closed_epoch, closed_seq);
            pthread_mutex_unlock(&p->mu);
            return;
        }
    }
    rd names_r = {names, r->end, false};
    for (uint32_t i = 0; i < n; i++) {
        char name[SS_NAME_MAX + 1];
        rd_name(&names_r, name);
        mirror *m = mirror_of(p, name);
        if (m)
            m->seen = true;
        else
            mirror_new(p, name);
    }
    for (int i = g_nmirrors - 1; i >= 0; i--)
        if (g_mirrors[i]->p == p && !g_mirrors[i]->seen)
            mirror_free(g_mirrors[i], "it ended there");
}

/* A frame from a peer's bridge (its DEALER's identity is its name). */
static void on_frame(const char *from, const unsigned char *b, size_t len)
{
    peer *p = peer_named(from);
    if (!p) {
        g_bad_frames++;
        ERR("a frame from unknown peer %s: dropped", from);
        return;
    }
    if (len < FRAME_HDR || memcmp(b, FRAME_MAGIC, 3) != 0) {
        g_bad_frames++;
        ERR("a malformed frame from %s: dropped", from);
        return;
    }
    if (b[3] != FRAME_VERSION) {
        g_bad_frames++;
        ERR("peer %s speaks version %u, this bridge %u: refused", from, b[3],
            FRAME_VERSION);
        return;
    }
    uint32_t seq = ss__ld_le32(b + 8), epoch = ss__ld_le32(b + 12),
             ack = ss__ld_le32(b + 16), ack_seq = ss__ld_le32(b + 20);
    if (p->known_epoch && epoch != p->epoch_in && !newer(epoch, p->epoch_in)) {
        /* Of a session that ended: never delivered (its sender counts
         * what it held of it). */
        p->lost_frames++;
        return;
    }
    if (p->known_epoch && epoch != p->epoch_in) {
        /* It started a new session (it lost us, or restarted): the old
         * one ends here too. */
        session_in_closes(p);
        peer_lost(p, "it started a new session", false);
    }
    if (!p->known_epoch || epoch != p->epoch_in) {
        pthread_mutex_lock(&p->mu);
        p->epoch_in = epoch;
        p->known_epoch = true;
        p->seq_in = seq - 1;
        pthread_mutex_unlock(&p->mu);
    }
    if (epoch == p->closed_epoch) {
        p->lost_frames++; /* closed here: never delivered after */
        return;
    }
    if (ack != p->epoch_out) {
        /* Sent before it saw our current session: queued before a loss,
         * or before it learnt of us. Not delivered. A data frame means
         * its session was going on across our loss: it is closed here,
         * and our lists tell the peer so (it starts another). */
        if (b[4] == F_BATCH || b[4] == F_REQ || b[4] == F_REP)
            session_in_closes(p);
        p->lost_frames++;
        return;
    }
    if (p->up && (!seq_after(seq, p->seq_in) ||
                  seq - p->seq_in > (1u << 24))) {
        /* Old or repeated: never delivered twice; or a jump no bridge
         * makes. */
        g_bad_frames++;
        return;
    }
    if (p->up && seq != p->seq_in + 1)
        p->lost_frames += seq - p->seq_in - 1;
    p->seq_in = seq;
    pthread_mutex_lock(&p->mu);
    ring_ack(p, ack_seq);
    pthread_mutex_unlock(&p->mu);
    p->last_heard_ns = ss__now_ns();
    if (!p->up) {
        pthread_mutex_lock(&p->mu);
        p->up = true;
        pthread_mutex_unlock(&p->mu);
        INFO("peer %s up", p->name);
    }
    rd r = {b + FRAME_HDR, b + len, false};
    switch (b[4]) {
    case F_LOOPS:
        on_loops(p, &r);
        break;
    case F_BATCH:
        on_batch(p, &r);
        p->unacked_in_bytes += len;
        if (++p->unacked_in >= ACK_EVERY ||
            p->unacked_in_bytes >= WINDOW_BYTES / 4) {
            /* (A stream one way: the sender's frames are confirmed
             * without waiting for a heartbeat, well before its window,
             * in frames or in bytes, is full.) */
            fbuf f = {0};
            fb_begin(&f, F_ACK);
            send_to(p, &f, false, 0);
            free(f.b);
            p->unacked_in = 0;
            p->unacked_in_bytes = 0;
        }
        break;
    case F_REQ:
        on_req(p, &r);
        break;
    case F_ACK:
        break; /* (its ack_seq is taken above) */
    case F_REP: {
        uint32_t slot = rd_u32(&r), nonce = rd_u32(&r);
        int32_t status = (int32_t)rd_u32(&r);
        if (!r.bad)
            ss__reg_reply_send(slot, nonce, status);
        else
            g_bad_frames++;
        break;
    }
    default:
        g_bad_frames++;
    }
}

/* ---- authentication (CURVE, ZAP) ---- */

/* One ZAP request (RFC 27), waited for (up to the socket's receive
 * timeout): a peer is accepted if its public key is one the --peer
 * options give; its User-Id is then that peer's name, which its frames
 * must carry as their routing id. */
static void on_zap(void)
{
    zmq_msg_t part[8];
    int n = 0;
    for (; n < 8; n++) {
        zmq_msg_init(&part[n]);
        if (zmq_msg_recv(&part[n], g_zap, n ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&part[n]);
            break;
        }
        if (!zmq_msg_more(&part[n])) {
            n++;
            break;
        }
    }
    if (n == 0)
        return; /* (nothing asked: the wait timed out) */
    const char *status = "400", *text = "refused", *user = "";
    char addr[64] = "?";
    if (n >= 6) {
        size_t al = zmq_msg_size(&part[3]);
        snprintf(addr, sizeof addr, "%.*s", (int)(al < 63 ? al : 63),
                 (const char *)zmq_msg_data(&part[3]));
        bool curve = zmq_msg_size(&part[5]) == 5 &&
                     memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0;
        if (curve && n >= 7 && zmq_msg_size(&part[6]) == 32) {
            char z85[41];
            zmq_z85_encode(z85, zmq_msg_data(&part[6]), 32);
            for (int i = 0; i < g_npeers; i++) {
                if (g_peers[i].key[0] && strcmp(g_peers[i].key, z85) == 0) {
                    status = "200";
                    text = "OK";
                    user = g_peers[i].name;
                    break;
                }
            }
            if (!user[0])
                text = "unknown key";
        } else {
            text = "not CURVE";
        }
    }
    if (strcmp(status, "200") != 0) {
        g_refused++;
        ERR("refused a peer at %s: %s", addr, text);
    }
    if (n >= 2) {
        zmq_send(g_zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(g_zap, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]),
                 ZMQ_SNDMORE);
        zmq_send(g_zap, status, 3, ZMQ_SNDMORE);
        zmq_send(g_zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(g_zap, user, strlen(user), ZMQ_SNDMORE);
        zmq_send(g_zap, "", 0, 0);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&part[i]);
}

/* The ZAP handler's thread: ZeroMQ asks it about every CURVE connection
 * (so that the main thread waits on its ROUTER alone). */
static void *zap_main(void *arg)
{
    (void)arg;
    int ms = 100;
    zmq_setsockopt(g_zap, ZMQ_RCVTIMEO, &ms, sizeof ms);
    while (!g_quit)
        on_zap();
    return NULL;
}

static bool loopback(const char *addr)
{
    return strncmp(addr, "tcp://127.", 10) == 0 ||
           strncmp(addr, "tcp://localhost:", 16) == 0 ||
           strncmp(addr, "tcp://[::1]:", 12) == 0 ||
           strncmp(addr, "ipc://", 6) == 0 ||
           strncmp(addr, "inproc://", 9) == 0;
}

static int load_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        ERR("key file %s: %s", path, strerror(errno));
        return -1;
    }
    int n = fscanf(f, "%40s %40s", g_pub, g_sec);
    fclose(f);
    uint8_t raw[32];
    if (n != 2 || strlen(g_pub) != 40 || strlen(g_sec) != 40 ||
        !zmq_z85_decode(raw, g_pub) || !zmq_z85_decode(raw, g_sec)) {
        ERR("key file %s: two Z85 keys expected (ss-bridge --keygen)", path);
        return -1;
    }
    return 0;
}

/* ---- main ---- */

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        g_stats = 1;
    else
        g_quit = 1;
}

/* The counters, on one line (SIGUSR1, and at the stop): signals lost
 * here in all (to peers or from them, and for loops of this host that
 * were not there or full), then per peer. */
static void log_stats(const char *when)
{
    uint64_t local = g_drops_untracked, all;
    for (int i = 0; i < g_ndests; i++)
        local += g_dests[i].drops;
    all = local;
    char per[1024] = "";
    size_t at = 0;
    for (int i = 0; i < g_npeers; i++) {
        peer *p = &g_peers[i];
        uint64_t l = p->lost_signals;
        all += l;
        if (at < sizeof per)
            at += (size_t)snprintf(per + at, sizeof per - at,
                                   "; peer %s %s: %llu lost, %llu frames",
                                   p->name, p->up ? "up" : "down",
                                   (unsigned long long)l,
                                   (unsigned long long)p->lost_frames);
    }
    INFO("stats (%s): %llu signals lost here (%llu of them for loops of this "
         "host), %llu bad frames, %llu bad records, %llu peers refused%s",
         when, (unsigned long long)all, (unsigned long long)local,
         (unsigned long long)g_bad_frames, (unsigned long long)g_bad_records,
         (unsigned long long)g_refused, per);
}

static void usage_to(FILE *f)
{
    fprintf(f,
            "usage: ss-bridge [--config FILE] --name HOST --listen "
            "tcp://ADDR:PORT [--key FILE]\n"
            "                 [--peer NAME=tcp://ADDR:PORT[@PUBLIC-KEY]]... "
            "[--heartbeat-ms N]\n"
            "                 [--cpu auto|any|LIST]\n"
            "       ss-bridge --keygen\n");
}

static void usage(void)
{
    usage_to(stderr);
}

static void help(void)
{
    usage_to(stdout);
    printf(
        "\nConnects this host's registry domain (SS_DOMAIN) to those of "
        "other hosts:\na loop L published on host P is the loop \"P/L\" "
        "here (docs/bridge.md).\n\n"
        "  --name HOST        this host's name (no '/')\n"
        "  --listen ADDR      where peers connect; without --key, loopback "
        "only\n"
        "  --key FILE         this host's CURVE key pair (ss-bridge "
        "--keygen > FILE):\n"
        "                     every link encrypted and authenticated\n"
        "  --peer NAME=ADDR[@KEY]\n"
        "                     a peer bridge and its public key (needed "
        "with --key);\n"
        "                     up to %d\n"
        "  --heartbeat-ms N   lists and pings every N ms (500); a peer "
        "silent for 3 is lost\n"
        "  --cpu auto|any|LIST\n"
        "                     auto (default): all threads on the least "
        "busy CPU, moved\n"
        "                     when it gets busy; any: the scheduler's "
        "choice; LIST: these\n"
        "                     CPUs only (\"1\", \"0,2\", \"2-3\")\n"
        "  --config FILE      the same options, one per line (\"peer "
        "h2=tcp://...\")\n"
        "  --keygen           print a new key pair (public, then secret)\n"
        "\nSIGUSR1 logs the counters (signals lost, bad frames, peers); "
        "SIGTERM stops.\n",
        MAX_PEERS);
}

/* --config FILE: its lines ("name h1", "peer h2=tcp://...@KEY", "# ...")
 * are options, spliced where --config stands. Kept in static storage for
 * the process's life. */
static char *g_args[512];
static char g_argtext[32768];

static int expand_config(int *argc, char ***argv)
{
    int n = 0;
    size_t used = 0;
    for (int i = 0; i < *argc; i++) {
        if (strcmp((*argv)[i], "--config") != 0 || i + 1 >= *argc) {
            if (n == 511)
                return -1;
            g_args[n++] = (*argv)[i];
            continue;
        }
        const char *path = (*argv)[++i];
        FILE *f = fopen(path, "r");
        if (!f) {
            fprintf(stderr, "ss-bridge: config %s: %s\n", path,
                    strerror(errno));
            return -1;
        }
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            char *k = line + strspn(line, " \t");
            k[strcspn(k, "\r\n")] = 0;
            if (!*k || *k == '#')
                continue;
            char *v = k + strcspn(k, " \t");
            if (*v) {
                *v++ = 0;
                v += strspn(v, " \t");
            }
            size_t kl = strlen(k) + 3, vl = strlen(v) + 1;
            if (n > 509 || used + kl + vl > sizeof g_argtext) {
                fclose(f);
                return -1;
            }
            g_args[n++] = g_argtext + used;
            snprintf(g_argtext + used, kl, "--%s", k);
            used += kl;
            if (*v) {
                g_args[n++] = g_argtext + used;
                memcpy(g_argtext + used, v, vl);
                used += vl;
            }
        }
        fclose(f);
    }
    g_args[n] = NULL;
    *argc = n;
    *argv = g_args;
    return 0;
}

int main(int argc, char **argv)
{
    getpid(); /* (remembered now, never first in a signal handler) */
    const char *listen = NULL, *keyfile = NULL, *cpus = NULL;
    if (expand_config(&argc, &argv) != 0) {
        usage();
        return 2;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
                      strcmp(argv[1], "-h") == 0)) {
        help();
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--keygen") == 0) {
        char pub[41], sec[41];
        if (zmq_curve_keypair(pub, sec) != 0) {
            fprintf(stderr, "ss-bridge: no CURVE in this libzmq\n");
            return 1;
        }
        printf("%s\n%s\n", pub, sec);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--name") == 0 && v) {
            snprintf(g_host, sizeof g_host, "%s", v);
            i++;
        } else if (strcmp(a, "--listen") == 0 && v) {
            listen = v;
            i++;
        } else if (strcmp(a, "--key") == 0 && v) {
            keyfile = v;
            i++;
        } else if (strcmp(a, "--cpu") == 0 && v) {
            cpus = v;
            i++;
        } else if (strcmp(a, "--heartbeat-ms") == 0 && v) {
            g_heartbeat_ns = SS_MSEC(atoi(v) > 0 ? atoi(v) : 500);
            i++;
        } else if (strcmp(a, "--peer") == 0 && v && g_npeers == MAX_PEERS) {
            fprintf(stderr, "ss-bridge: at most %d peers\n", MAX_PEERS);
            return 2;
        } else if (strcmp(a, "--peer") == 0 && v) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || eq - v > SS_NAME_MAX) {
                usage();
                return 2;
            }
            peer *p = &g_peers[g_npeers++];
            memcpy(p->name, v, (size_t)(eq - v));
            p->name[eq - v] = 0;
            snprintf(p->addr, sizeof p->addr, "%s", eq + 1);
            /* (A key is the last 40 characters: Z85 has '@' too.) */
            size_t al = strlen(p->addr);
            char *at = al > 41 && p->addr[al - 41] == '@' ? p->addr + al - 41
                                                          : NULL;
            if (!at && strchr(p->addr, '@')) {
                fprintf(stderr, "ss-bridge: peer %s: bad public key\n",
                        p->name);
                return 2;
            }
            if (at) {
                *at = 0;
                uint8_t raw[32];
                if (strlen(at + 1) != 40 || !zmq_z85_decode(raw, at + 1)) {
                    fprintf(stderr, "ss-bridge: peer %s: bad public key\n",
                            p->name);
                    return 2;
                }
                memcpy(p->key, at + 1, 41);
            }
            i++;
        } else {
            usage();
            return 2;
        }
    }
    if (!g_host[0] || !listen || strchr(g_host, '/')) {
        usage();
        return 2;
    }
    for (int i = 0; i < g_npeers; i++) {
        const char *why = strcmp(g_peers[i].name, g_host) == 0 ? "is this host"
                          : strchr(g_peers[i].name, '/')      ? "has a '/'"
                                                              : NULL;
        for (int j = 0; !why && j < i; j++)
            if (strcmp(g_peers[i].name, g_peers[j].name) == 0)
                why = "is given twice";
        if (why) {
            fprintf(stderr, "ss-bridge: peer %s %s\n", g_peers[i].name, why);
            return 2;
        }
    }
    if (keyfile && load_key(keyfile) != 0)
        return 2;
    bcpu_mode cpu_mode = BCPU_AUTO;
    cpu_set_t cpu_set;
    if (cpus && bcpu_parse(cpus, &cpu_mode, &cpu_set) != 0) {
        fprintf(stderr, "ss-bridge: --cpu %s: auto, any, or a list such as "
                        "1, 0,2 or 2-3 expected\n", cpus);
        return 2;
    }
    if (!keyfile && !loopback(listen)) {
        ERR("refusing to listen on %s without authentication: give --key "
            "(and each peer's public key), or listen on loopback",
            listen);
        return 2;
    }
    for (int i = 0; keyfile && i < g_npeers; i++) {
        if (!g_peers[i].key[0]) {
            ERR("peer %s: its public key is needed with --key "
                "(--peer NAME=ADDR@KEY)", g_peers[i].name);
            return 2;
        }
    }
    /* (Before any thread: they inherit it.) */
    int cpu = bcpu_start(cpu_mode, &cpu_set);
    if (cpu == -2) {
        ERR("--cpu %s: %s", cpus, strerror(errno));
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_signal);
    signal(SIGPIPE, SIG_IGN);
    g_ctx = zmq_ctx_new();
    if (keyfile) {
        /* The handler ZeroMQ asks about every CURVE connection. */
        g_zap = zmq_socket(g_ctx, ZMQ_REP);
        if (zmq_bind(g_zap, "inproc://zeromq.zap.01") != 0) {
            ERR("ZAP: %s", zmq_strerror(zmq_errno()));
            return 1;
        }
    }
    g_router = zmq_socket(g_ctx, ZMQ_ROUTER);
    if (keyfile) {
        int one = 1;
        zmq_setsockopt(g_router, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(g_router, ZMQ_CURVE_SECRETKEY, g_sec, 40);
        zmq_setsockopt(g_router, ZMQ_ZAP_DOMAIN, "ss-bridge", 9);
    }
    int linger = 0, hwm = 100000;
    zmq_setsockopt(g_router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(g_router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    /* A peer that comes back while its old connection still seems open
     * here (the cable was out when it closed it) takes its name over;
     * dead connections are closed by ZMTP heartbeats. */
    int one = 1, hb = (int)(g_heartbeat_ns / 1000000), hb_to = 3 * hb;
    zmq_setsockopt(g_router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt(g_router, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
    zmq_setsockopt(g_router, ZMQ_HEARTBEAT_TIMEOUT, &hb_to, sizeof hb_to);
    if (zmq_bind(g_router, listen) != 0) {
        ERR("bind %s: %s", listen, zmq_strerror(zmq_errno()));
        return 1;
    }
    g_keyed = keyfile != NULL;
    /* (A restarted bridge starts a newer session for its peers.) */
    uint32_t start = next_epoch(0);
    for (int i = 0; i < g_npeers; i++) {
        pthread_mutex_init(&g_peers[i].mu, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&g_peers[i].room, &ca);
        pthread_condattr_destroy(&ca);
        g_peers[i].epoch_out = start;
        dealer_open(&g_peers[i]);
    }
    INFO("host %s, domain %s, listening on %s (%s), %d peer(s)", g_host,
         ss_domain_name(), listen, keyfile ? "CURVE" : "loopback, no keys",
         g_npeers);
    if (cpu >= 0)
        INFO("threads on CPU %d, the least busy (--cpu auto; --cpu any "
             "leaves them to the scheduler)", cpu);
    int64_t next_beat = 0;
    pthread_t zap_thread;
    if (g_zap && pthread_create(&zap_thread, NULL, zap_main, NULL) != 0) {
        ERR("ZAP thread: %s", strerror(errno));
        return 1;
    }
    /* The main thread waits in a receive on its ROUTER (a quarter of a
     * heartbeat at most): fewer system calls per frame than a poll and a
     * receive that would block. */
    int rcv_ms = (int)(g_heartbeat_ns / 4000000);
    if (rcv_ms < 5)
        rcv_ms = 5;
    zmq_setsockopt(g_router, ZMQ_RCVTIMEO, &rcv_ms, sizeof rcv_ms);
    static unsigned char id[256];
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (!g_quit) {
        if (g_stats) {
            g_stats = 0;
            log_stats("now");
        }
        int64_t now = ss__now_ns();
        int from, to, pct;
        switch (bcpu_tick(now, &from, &to, &pct)) {
        case BCPU_MOVED:
            if (pct < 0)
                INFO("CPU %d gave no figures (offline?): threads moved to "
                     "CPU %d", from, to);
            else
                INFO("CPU %d was %d%% busy with other work: threads moved "
                     "to CPU %d", from, pct, to);
            break;
        case BCPU_SPREAD:
            INFO("the bridge used %d%% of CPU %d: its threads may now use "
                 "every CPU", pct, from);
            break;
        case BCPU_GATHERED:
            INFO("the bridge uses %d%% of a CPU: threads gathered on CPU %d",
                 pct, to);
            break;
        }
        if (now >= next_beat) {
            announce();
            for (int i = 0; i < g_npeers; i++) {
                peer *p = &g_peers[i];
                if (p->up && now - p->last_heard_ns > 3 * g_heartbeat_ns)
                    peer_lost(p, "no heartbeat", true);
            }
            next_beat = now + g_heartbeat_ns;
        }
        /* From peers: [identity][frame]. (A timeout or a signal: -1.) */
        int n = zmq_recv(g_router, id, sizeof id - 1, 0);
        if (n < 0) {
            int e = zmq_errno();
            if (e == EAGAIN || e == EINTR)
                continue;
            ERR("receive: %s", zmq_strerror(e));
            break;
        }
        id[n < (int)sizeof id - 1 ? n : (int)sizeof id - 1] = 0;
        if (zmq_msg_recv(&msg, g_router, 0) < 0)
            continue;
        /* With CURVE, the name it claims must be the one its key is. */
        const char *uid = g_zap ? zmq_msg_gets(&msg, "User-Id") : NULL;
        if (g_zap && (!uid || strcmp(uid, (const char *)id) != 0)) {
            g_bad_frames++;
            ERR("a frame claiming to be %s from key of %s: dropped",
                (const char *)id, uid ? uid : "?");
            continue;
        }
        on_frame((const char *)id, zmq_msg_data(&msg), zmq_msg_size(&msg));
    }
    zmq_msg_close(&msg);
    g_quit = 1;
    if (g_zap)
        pthread_join(zap_thread, NULL);
    INFO("stopping: %llu bad frames, %llu bad records, %llu peers refused",
         (unsigned long long)g_bad_frames, (unsigned long long)g_bad_records,
         (unsigned long long)g_refused);
    for (int i = 0; i < g_ndests; i++)
        if (g_dests[i].drops)
            INFO("%llu dropped for %s", (unsigned long long)g_dests[i].drops,
                 g_dests[i].name);
    if (g_drops_untracked)
        INFO("%llu dropped for other loops",
             (unsigned long long)g_drops_untracked);
    while (g_nmirrors)
        mirror_free(g_mirrors[g_nmirrors - 1], "stopping");
    for (int i = 0; i < g_npeers; i++) {
        /* What was sent and never confirmed is counted lost (an upper
         * bound: some of it may have arrived). */
        peer *p = &g_peers[i];
        pthread_mutex_lock(&p->mu);
        uint64_t open = doubt_after(p, 0, true);
        for (uint32_t k = 0; k < p->ring_len; k++)
            open += p->ring[(p->ring_head + k) % RING_MAX].nsig;
        p->lost_signals += open;
        pthread_mutex_unlock(&p->mu);
        if (open)
            INFO("peer %s: %llu signals sent and not confirmed at the stop: "
                 "counted lost (some may have arrived)", p->name,
                 (unsigned long long)open);
    }
    log_stats("at the stop");
    for (int i = 0; i < g_npeers; i++) {
        zmq_close(g_peers[i].dealer);
        free(g_peers[i].ring);
        free(g_peers[i].doubt);
    }
    zmq_close(g_router);
    if (g_zap)
        zmq_close(g_zap);
    zmq_ctx_term(g_ctx);
    return 0;
}

/*
 * bench/baselines.c - the transports ss_queue is compared with, as
 * bench_ops tables for the harness of bench_queue.c:
 *
 *   pipe        one pipe shared by every process. All writes are one
 *               message of msg_size <= PIPE_BUF bytes, hence atomic, and
 *               a read of up to batch * msg_size bytes returns whole
 *               messages only (the pipe hands out what it holds, which is
 *               always a whole number of messages).
 *   socketpair  one AF_UNIX SOCK_SEQPACKET pair: record boundaries hold,
 *               and unlike SOCK_DGRAM the queue is bounded by the socket
 *               buffer rather than by net.unix.max_dgram_qlen (10).
 *               Batched receive is recvmmsg().
 *   posix_mq    one POSIX message queue, as deep as the system allows.
 *               There is no batch receive: one mq_receive() per message.
 *   zmq_ipc     ZeroMQ PUSH/PULL over ipc://: each consumer binds its own
 *               PULL socket, each producer's PUSH connects to all of them
 *               and ZeroMQ spreads the messages. No batch receive.
 *
 * Kernel buffers keep their default sizes; only the POSIX mq depth is
 * raised, because its default (10 messages) would measure little else.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* ---- helpers shared by the fd-based transports ---- */

static int sys_fail(const char *call)
{
    bench_set_error("%s: %s", call, strerror(errno));
    return -1;
}

/* Wait until fd is ready for events, at most timeout_ms (< 0: forever).
 * Returns 1 ready, 0 timed out, -1 error. */
static int fd_wait(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    for (;;) {
        int n = poll(&pfd, 1, timeout_ms);
        if (n >= 0)
            return n > 0 ? 1 : 0;
        if (errno != EINTR)
            return sys_fail("poll");
    }
}

/* State of the pipe and the socketpair: fds[0] is the consumers' end,
 * fds[1] the producers' (and the parent's, for end markers). */
typedef struct fd_impl {
    int fds[2];
    size_t msg_size;
    size_t batch;
} fd_impl;

/* A child's end: its fd and, for a consumer, the receive buffers. */
typedef struct fd_endpoint {
    int fd;
    size_t msg_size;
    unsigned char *buf; /* batch * msg_size bytes */
    struct mmsghdr *mm; /* socketpair consumers: one per batch slot */
    struct iovec *iov;
} fd_endpoint;

static fd_impl *fd_impl_new(const bench_params *p)
{
    fd_impl *f = calloc(1, sizeof *f);
    if (f == NULL) {
        bench_set_error("out of memory");
        return NULL;
    }
    f->fds[0] = f->fds[1] = -1;
    f->msg_size = p->msg_size;
    f->batch = p->batch;
    return f;
}

static int fd_open(fd_impl *f, void **ep, bool consumer, bool mmsg)
{
    fd_endpoint *e = calloc(1, sizeof *e);
    if (e == NULL)
        goto oom;
    e->msg_size = f->msg_size;
    /* Close the end this process does not use, so that a dead peer shows
     * up as EOF / EPIPE rather than as silence. */
    e->fd = f->fds[consumer ? 0 : 1];
    close(f->fds[consumer ? 1 : 0]);
    if (consumer) {
        e->buf = malloc(f->batch * f->msg_size);
        if (e->buf == NULL)
            goto oom;
        if (mmsg) {
            e->mm = calloc(f->batch, sizeof *e->mm);
            e->iov = calloc(f->batch, sizeof *e->iov);
            if (e->mm == NULL || e->iov == NULL)
                goto oom;
            for (size_t i = 0; i < f->batch; i++) {
                e->iov[i].iov_base = e->buf + i * f->msg_size;
                e->iov[i].iov_len = f->msg_size;
                e->mm[i].msg_hdr.msg_iov = &e->iov[i];
                e->mm[i].msg_hdr.msg_iovlen = 1;
            }
        }
    }
    *ep = e;
    return 0;
oom:
    if (e != NULL) {
        free(e->buf);
        free(e->mm);
        free(e->iov);
        free(e);
    }
    bench_set_error("out of memory");
    return -1;
}

static void fd_endpoint_close(void *ep)
{
    fd_endpoint *e = ep;
    close(e->fd);
    free(e->buf);
    free(e->mm);
    free(e->iov);
    free(e);
}

static void fd_teardown(void *impl)
{
    fd_impl *f = impl;
    for (int i = 0; i < 2; i++) {
        if (f->fds[i] >= 0)
            close(f->fds[i]);
    }
    free(f);
}

static int fd_producer_open(void *impl, int index, void **ep)
{
    (void)index;
    return fd_open(impl, ep, false, false);
}

/* Write one whole message; len <= PIPE_BUF, so a pipe never writes part
 * of it, and a SEQPACKET socket sends it as one record. */
static int fd_write_msg(int fd, const void *msg, size_t len)
{
    for (;;) {
        ssize_t n = write(fd, msg, len);
        if (n == (ssize_t)len)
            return 0;
        if (n >= 0) {
            bench_set_error("write: %zd of %zu bytes", n, len);
            return -1;
        }
        if (errno != EINTR)
            return sys_fail("write");
    }
}

static int fd_send(void *ep, const void *msg, size_t len)
{
    fd_endpoint *e = ep;
    return fd_write_msg(e->fd, msg, len);
}

/* Parent side: never blocks past the timeout, even if every consumer is
 * stuck and the buffer is full (POLLOUT on a pipe means PIPE_BUF bytes
 * free, enough for one message). */
static int fd_send_end(void *impl, int consumer, const void *msg, size_t len,
                       int timeout_ms)
{
    (void)consumer;
    fd_impl *f = impl;
    int ready = fd_wait(f->fds[1], POLLOUT, timeout_ms);
    if (ready <= 0) {
        if (ready == 0)
            bench_set_error("end marker: still full after %d ms",
                            timeout_ms);
        return -1;
    }
    return fd_write_msg(f->fds[1], msg, len);
}

/* ---- pipe ---- */

static int pipe_setup(void **impl, const bench_params *p)
{
    fd_impl *f = fd_impl_new(p);
    if (f == NULL)
        return -1;
    if (pipe2(f->fds, O_CLOEXEC) != 0) {
        free(f);
        return sys_fail("pipe2");
    }
    *impl = f;
    return 0;
}

static int pipe_consumer_open(void *impl, int index, void **ep)
{
    (void)index;
    return fd_open(impl, ep, true, false);
}

static int pipe_recv(void *ep, size_t max, ss_msg *msgs, int timeout_ms)
{
    fd_endpoint *e = ep;
    if (timeout_ms >= 0) {
        int ready = fd_wait(e->fd, POLLIN, timeout_ms);
        if (ready <= 0)
            return ready;
    }
    ssize_t n;
    do {
        n = read(e->fd, e->buf, max * e->msg_size);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return sys_fail("read");
    if (n == 0) {
        bench_set_error("read: unexpected end of file");
        return -1;
    }
    if ((size_t)n % e->msg_size != 0) {
        bench_set_error("read returned %zd bytes, not whole %zu-byte "
                        "messages", n, e->msg_size);
        return -1;
    }
    size_t count = (size_t)n / e->msg_size;
    for (size_t i = 0; i < count; i++) {
        msgs[i].data = e->buf + i * e->msg_size;
        msgs[i].len = e->msg_size;
    }
    return (int)count;
}

const bench_ops bench_pipe_ops = {
    .name = "pipe",
    .native_batch = true,
    .end_may_overtake = false,
    .setup = pipe_setup,
    .producer_open = fd_producer_open,
    .producer_send = fd_send,
    .consumer_open = pipe_consumer_open,
    .consumer_recv = pipe_recv,
    .endpoint_close = fd_endpoint_close,
    .send_end = fd_send_end,
    .teardown = fd_teardown,
    .describe = NULL,
};

/* ---- socketpair ---- */

static int sp_setup(void **impl, const bench_params *p)
{
    fd_impl *f = fd_impl_new(p);
    if (f == NULL)
        return -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f->fds) != 0) {
        free(f);
        return sys_fail("socketpair");
    }
    *impl = f;
    return 0;
}

static int sp_consumer_open(void *impl, int index, void **ep)
{
    (void)index;
    return fd_open(impl, ep, true, true);
}

static int sp_recv(void *ep, size_t max, ss_msg *msgs, int timeout_ms)
{
    fd_endpoint *e = ep;
    if (timeout_ms >= 0) {
        int ready = fd_wait(e->fd, POLLIN, timeout_ms);
        if (ready <= 0)
            return ready;
    }
    if (max == 1) {
        /* batch 1 is a plain recv(), as an application would do it. */
        ssize_t n;
        do {
            n = recv(e->fd, e->buf, e->msg_size, MSG_TRUNC);
        } while (n < 0 && errno == EINTR);
        if (n < 0)
            return sys_fail("recv");
        if (n == 0) {
            bench_set_error("recv: peer closed");
            return -1;
        }
        msgs[0].data = e->buf;
        msgs[0].len = (size_t)n; /* MSG_TRUNC: the real length */
        return 1;
    }
    int n;
    /* MSG_WAITFORONE: block for the first record only, then take what is
     * already there, up to max. */
    do {
        n = recvmmsg(e->fd, e->mm, (unsigned)max, MSG_WAITFORONE, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return sys_fail("recvmmsg");
    for (int i = 0; i < n; i++) {
        if (e->mm[i].msg_len == 0) {
            bench_set_error("recvmmsg: peer closed");
            return -1;
        }
        if (e->mm[i].msg_hdr.msg_flags & MSG_TRUNC) {
            bench_set_error("recvmmsg: record larger than %zu bytes",
                            e->msg_size);
            return -1;
        }
        msgs[i].data = e->iov[i].iov_base;
        msgs[i].len = e->mm[i].msg_len;
    }
    return n;
}

const bench_ops bench_socketpair_ops = {
    .name = "socketpair",
    .native_batch = true,
    .end_may_overtake = false,
    .setup = sp_setup,
    .producer_open = fd_producer_open,
    .producer_send = fd_send,
    .consumer_open = sp_consumer_open,
    .consumer_recv = sp_recv,
    .endpoint_close = fd_endpoint_close,
    .send_end = fd_send_end,
    .teardown = fd_teardown,
    .describe = NULL,
};

/* ---- POSIX message queue ---- */

typedef struct mq_impl {
    mqd_t mq;
    size_t msg_size;
} mq_impl;

typedef struct mq_endpoint {
    mqd_t mq;
    size_t msg_size;
    unsigned char *buf;
} mq_endpoint;

static char mq_note[160];

static long read_proc_long(const char *path, long fallback)
{
    FILE *f = fopen(path, "r");
    long v = fallback;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = fallback;
        fclose(f);
    }
    return v;
}

/* The absolute CLOCK_REALTIME deadline mq_timed*() want. */
static struct timespec realtime_in(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

static int mq_setup(void **impl, const bench_params *p)
{
    static unsigned serial;
    const long msg_max = read_proc_long("/proc/sys/fs/mqueue/msg_max", 10);
    /* Deepest first. Above msg_max only a privileged process may go
     * (CAP_SYS_RESOURCE), and RLIMIT_MSGQUEUE caps the bytes: fall back
     * until the kernel accepts. */
    const long depths[] = {4096, 1024, msg_max, 10};
    mq_impl *m = calloc(1, sizeof *m);
    if (m == NULL) {
        bench_set_error("out of memory");
        return -1;
    }
    char name[64];
    snprintf(name, sizeof name, "/ss-bench-%ld-%u", (long)getpid(),
             serial++);
    m->mq = (mqd_t)-1;
    long depth = 0;
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        struct mq_attr attr = {.mq_maxmsg = depths[i],
                               .mq_msgsize = (long)p->msg_size};
        m->mq = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600,
                        &attr);
        if (m->mq != (mqd_t)-1) {
            depth = depths[i];
            break;
        }
        if (errno != EINVAL && errno != EMFILE && errno != ENOMEM &&
            errno != EPERM)
            break;
    }
    if (m->mq == (mqd_t)-1) {
        free(m);
        return sys_fail("mq_open");
    }
    /* The children inherit the descriptor: the name is not needed any
     * more, and removing it now means nothing is left behind whatever
     * happens next. */
    mq_unlink(name);
    snprintf(mq_note, sizeof mq_note,
             "queue depth %ld messages (fs.mqueue.msg_max = %ld%s); no "
             "batch receive, one mq_receive() per message",
             depth, msg_max,
             depth < depths[0] ? ", more needs CAP_SYS_RESOURCE" : "");
    m->msg_size = p->msg_size;
    *impl = m;
    return 0;
}

static int mq_open_ep(void *impl, void **ep, bool consumer)
{
    mq_impl *m = impl;
    mq_endpoint *e = calloc(1, sizeof *e);
    if (e != NULL && consumer)
        e->buf = malloc(m->msg_size);
    if (e == NULL || (consumer && e->buf == NULL)) {
        free(e);
        bench_set_error("out of memory");
        return -1;
    }
    e->mq = m->mq;
    e->msg_size = m->msg_size;
    *ep = e;
    return 0;
}

static int mq_producer_open(void *impl, int index, void **ep)
{
    (void)index;
    return mq_open_ep(impl, ep, false);
}

static int mq_consumer_open(void *impl, int index, void **ep)
{
    (void)index;
    return mq_open_ep(impl, ep, true);
}

static int mq_send_msg(void *ep, const void *msg, size_t len)
{
    mq_endpoint *e = ep;
    while (mq_send(e->mq, msg, len, 0) != 0) {
        if (errno != EINTR)
            return sys_fail("mq_send");
    }
    return 0;
}

static int mq_recv(void *ep, size_t max, ss_msg *msgs, int timeout_ms)
{
    (void)max; /* no batch receive */
    mq_endpoint *e = ep;
    ssize_t n;
    for (;;) {
        if (timeout_ms < 0) {
            n = mq_receive(e->mq, (char *)e->buf, e->msg_size, NULL);
        } else {
            struct timespec ts = realtime_in(timeout_ms);
            n = mq_timedreceive(e->mq, (char *)e->buf, e->msg_size, NULL,
                                &ts);
            if (n < 0 && errno == ETIMEDOUT)
                return 0;
        }
        if (n >= 0)
            break;
        if (errno != EINTR)
            return sys_fail("mq_receive");
    }
    msgs[0].data = e->buf;
    msgs[0].len = (size_t)n;
    return 1;
}

static void mq_endpoint_close(void *ep)
{
    mq_endpoint *e = ep;
    mq_close(e->mq);
    free(e->buf);
    free(e);
}

static int mq_send_end(void *impl, int consumer, const void *msg, size_t len,
                       int timeout_ms)
{
    (void)consumer;
    mq_impl *m = impl;
    struct timespec ts = realtime_in(timeout_ms);
    while (mq_timedsend(m->mq, msg, len, 0, &ts) != 0) {
        if (errno != EINTR)
            return sys_fail("mq_timedsend");
    }
    return 0;
}

static void mq_teardown(void *impl)
{
    mq_impl *m = impl;
    mq_close(m->mq);
    free(m);
}

static const char *mq_describe(void)
{
    return mq_note[0] ? mq_note : NULL;
}

const bench_ops bench_posix_mq_ops = {
    .name = "posix_mq",
    .native_batch = false,
    .end_may_overtake = false,
    .setup = mq_setup,
    .producer_open = mq_producer_open,
    .producer_send = mq_send_msg,
    .consumer_open = mq_consumer_open,
    .consumer_recv = mq_recv,
    .endpoint_close = mq_endpoint_close,
    .send_end = mq_send_end,
    .teardown = mq_teardown,
    .describe = mq_describe,
};

/* ---- ZeroMQ PUSH/PULL over ipc:// ----
 *
 * ZeroMQ contexts must not cross fork(): every child makes its own after
 * the fork, and the parent only makes one to send end markers, after the
 * last fork of the run, and ends it in teardown. */

typedef struct zmq_impl {
    char dir[80]; /* private directory of the ipc socket files */
    int consumers;
    size_t msg_size;
    void *parent_ctx;
} zmq_impl;

typedef struct zmq_endpoint {
    void *ctx;
    void *sock;
    unsigned char *buf;
    size_t buf_size;
} zmq_endpoint;

static int zmq_fail(const char *call)
{
    bench_set_error("%s: %s", call, zmq_strerror(zmq_errno()));
    return -1;
}

static void zmq_endpoint_path(const zmq_impl *z, int consumer, char *buf,
                              size_t size)
{
    snprintf(buf, size, "%s/c%d", z->dir, consumer);
}

static int zmq_setup(void **impl, const bench_params *p)
{
    zmq_impl *z = calloc(1, sizeof *z);
    if (z == NULL) {
        bench_set_error("out of memory");
        return -1;
    }
    /* A socket path must fit sockaddr_un (108 bytes): a long $TMPDIR is
     * not worth the trouble. */
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 40)
        tmp = "/tmp";
    snprintf(z->dir, sizeof z->dir, "%s/ss-bench-zmq-XXXXXX", tmp);
    if (mkdtemp(z->dir) == NULL) {
        free(z);
        return sys_fail("mkdtemp");
    }
    z->consumers = p->consumers;
    z->msg_size = p->msg_size;
    *impl = z;
    return 0;
}

static void zmq_endpoint_free(zmq_endpoint *e)
{
    if (e->sock != NULL)
        zmq_close(e->sock);
    if (e->ctx != NULL) {
        while (zmq_ctx_term(e->ctx) != 0 && zmq_errno() == EINTR)
            ;
    }
    free(e->buf);
    free(e);
}

static zmq_endpoint *zmq_endpoint_new(int type)
{
    zmq_endpoint *e = calloc(1, sizeof *e);
    if (e == NULL) {
        bench_set_error("out of memory");
        return NULL;
    }
    e->ctx = zmq_ctx_new();
    if (e->ctx == NULL) {
        zmq_fail("zmq_ctx_new");
        free(e);
        return NULL;
    }
    e->sock = zmq_socket(e->ctx, type);
    if (e->sock == NULL) {
        zmq_fail("zmq_socket");
        zmq_endpoint_free(e);
        return NULL;
    }
    return e;
}

static int zmq_producer_open(void *impl, int index, void **ep)
{
    (void)index;
    zmq_impl *z = impl;
    zmq_endpoint *e = zmq_endpoint_new(ZMQ_PUSH);
    if (e == NULL)
        return -1;
    for (int c = 0; c < z->consumers; c++) {
        char path[128], url[160];
        zmq_endpoint_path(z, c, path, sizeof path);
        snprintf(url, sizeof url, "ipc://%s", path);
        if (zmq_connect(e->sock, url) != 0) {
            zmq_fail("zmq_connect");
            zmq_endpoint_free(e);
            return -1;
        }
    }
    *ep = e;
    return 0;
}

static int zmq_consumer_open(void *impl, int index, void **ep)
{
    zmq_impl *z = impl;
    zmq_endpoint *e = zmq_endpoint_new(ZMQ_PULL);
    if (e == NULL)
        return -1;
    char path[128], url[160];
    zmq_endpoint_path(z, index, path, sizeof path);
    snprintf(url, sizeof url, "ipc://%s", path);
    e->buf_size = z->msg_size;
    e->buf = malloc(e->buf_size);
    if (e->buf == NULL) {
        bench_set_error("out of memory");
        zmq_endpoint_free(e);
        return -1;
    }
    if (zmq_bind(e->sock, url) != 0) {
        zmq_fail("zmq_bind");
        zmq_endpoint_free(e);
        return -1;
    }
    *ep = e;
    return 0;
}

static int zmq_send_msg(void *ep, const void *msg, size_t len)
{
    zmq_endpoint *e = ep;
    while (zmq_send(e->sock, msg, len, 0) < 0) {
        if (zmq_errno() != EINTR)
            return zmq_fail("zmq_send");
    }
    return 0;
}

static int zmq_recv_msg(void *ep, size_t max, ss_msg *msgs, int timeout_ms)
{
    (void)max; /* no batch receive */
    zmq_endpoint *e = ep;
    if (timeout_ms >= 0) {
        zmq_pollitem_t item = {.socket = e->sock, .events = ZMQ_POLLIN};
        int n = zmq_poll(&item, 1, timeout_ms);
        if (n < 0 && zmq_errno() != EINTR)
            return zmq_fail("zmq_poll");
        if (n <= 0)
            return 0;
    }
    int n;
    while ((n = zmq_recv(e->sock, e->buf, e->buf_size, 0)) < 0) {
        if (zmq_errno() != EINTR)
            return zmq_fail("zmq_recv");
    }
    if ((size_t)n > e->buf_size) {
        bench_set_error("zmq_recv: message of %d bytes, buffer %zu", n,
                        e->buf_size);
        return -1;
    }
    msgs[0].data = e->buf;
    msgs[0].len = (size_t)n;
    return 1;
}

static void zmq_endpoint_close(void *ep)
{
    /* A PUSH socket's default linger is infinite: zmq_ctx_term() returns
     * once every message it queued is handed to the consumers' side. */
    zmq_endpoint_free(ep);
}

/* End markers travel on a connection of their own, one PUSH socket
 * connected to just the consumer meant to stop. */
static int zmq_send_end(void *impl, int consumer, const void *msg,
                        size_t len, int timeout_ms)
{
    zmq_impl *z = impl;
    if (z->parent_ctx == NULL) {
        z->parent_ctx = zmq_ctx_new();
        if (z->parent_ctx == NULL)
            return zmq_fail("zmq_ctx_new");
    }
    void *sock = zmq_socket(z->parent_ctx, ZMQ_PUSH);
    if (sock == NULL)
        return zmq_fail("zmq_socket");
    char path[128], url[160];
    zmq_endpoint_path(z, consumer, path, sizeof path);
    snprintf(url, sizeof url, "ipc://%s", path);
    /* Bounded: a dead consumer must not hold the parent in zmq_close()
     * or zmq_ctx_term(). */
    int rc = zmq_setsockopt(sock, ZMQ_LINGER, &timeout_ms, sizeof timeout_ms);
    if (rc == 0)
        rc = zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout_ms,
                            sizeof timeout_ms);
    if (rc == 0)
        rc = zmq_connect(sock, url);
    if (rc != 0) {
        zmq_fail("zmq_connect (end marker)");
        zmq_close(sock);
        return -1;
    }
    while ((rc = zmq_send(sock, msg, len, 0)) < 0 && zmq_errno() == EINTR)
        ;
    if (rc < 0)
        zmq_fail("zmq_send (end marker)");
    zmq_close(sock);
    return rc < 0 ? -1 : 0;
}

static void zmq_teardown(void *impl)
{
    zmq_impl *z = impl;
    if (z->parent_ctx != NULL) {
        while (zmq_ctx_term(z->parent_ctx) != 0 && zmq_errno() == EINTR)
            ;
    }
    /* A bound socket removes its file on a clean close; a killed consumer
     * leaves it behind. */
    for (int c = 0; c < z->consumers; c++) {
        char path[128];
        zmq_endpoint_path(z, c, path, sizeof path);
        unlink(path);
    }
    if (rmdir(z->dir) != 0)
        fprintf(stderr, "ss-bench: rmdir %s: %s\n", z->dir, strerror(errno));
    free(z);
}

const bench_ops bench_zmq_ops = {
    .name = "zmq_ipc",
    .native_batch = false,
    .end_may_overtake = true,
    .setup = zmq_setup,
    .producer_open = zmq_producer_open,
    .producer_send = zmq_send_msg,
    .consumer_open = zmq_consumer_open,
    .consumer_recv = zmq_recv_msg,
    .endpoint_close = zmq_endpoint_close,
    .send_end = zmq_send_end,
    .teardown = zmq_teardown,
    .describe = NULL,
};

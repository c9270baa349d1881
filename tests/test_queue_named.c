/*
 * test_queue_named.c - named queues: a separately exec'd program (queue_peer)
 * opens them by name and talks to us; every error of create_named, open and
 * unlink; permissions.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "signal_slot/error.h"
#include "signal_slot/queue.h"
#include "testutil.h"

#ifndef SS_QUEUE_PEER
#error "SS_QUEUE_PEER (path of the queue_peer program) must be defined"
#endif

#define ASSERT_RC(expr, expected)                                              \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ != (expected))                                                 \
            fail_msg("%s: got %d (%s), expected %d (%s)", #expr, rc_,          \
                     ss_errname(rc_), (int)(expected), ss_errname(expected));  \
    } while (0)

/* ---- per-test state: names and handles to clean up, even on failure ---- */

#define MAX_NAMES 16

struct nstate {
    char names[MAX_NAMES][256];
    int nnames;
    ss_queue *qs[MAX_NAMES];
    int nqs;
};

static int name_counter;

static int setup(void **state)
{
    struct nstate *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct nstate *s = *state;
    tu_reap_all(); /* peers first: they may hold the queues */
    for (int i = 0; i < s->nqs; i++)
        ss_queue_destroy(s->qs[i]);
    for (int i = 0; i < s->nnames; i++) {
        ss_queue_unlink(s->names[i]);
        shm_unlink(s->names[i]);
    }
    free(s);
    return 0;
}

/* A fresh unique name, registered for removal. */
static const char *new_name(struct nstate *s)
{
    assert_true(s->nnames < MAX_NAMES);
    char *n = s->names[s->nnames++];
    snprintf(n, sizeof s->names[0], "/ss-test-%d-%d", (int)getpid(), ++name_counter);
    return n;
}

static ss_queue *track(struct nstate *s, ss_queue *q)
{
    assert_true(s->nqs < MAX_NAMES);
    s->qs[s->nqs++] = q;
    return q;
}

/* Forget (and destroy) a handle before the teardown. */
static void untrack_destroy(struct nstate *s, ss_queue *q)
{
    for (int i = 0; i < s->nqs; i++) {
        if (s->qs[i] == q) {
            s->qs[i] = s->qs[--s->nqs];
            break;
        }
    }
    ss_queue_destroy(q);
}

static ss_queue *create_named(struct nstate *s, const char *name, size_t capacity,
                              size_t max_msgs, unsigned mode)
{
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = capacity;
    o.max_msgs = max_msgs;
    o.mode = mode;
    ss_queue *q = NULL;
    ASSERT_RC(ss_queue_create_named(&q, name, &o), 0);
    assert_non_null(q);
    return track(s, q);
}

/* ---- running the peer ---- */

static int exec_peer(void *arg)
{
    char **argv = arg;
    execv(SS_QUEUE_PEER, argv);
    return 127;
}

static pid_t spawn_peer(char **argv)
{
    pid_t pid = tu_fork(exec_peer, argv);
    assert_true(pid > 0);
    return pid;
}

static void expect_peer_exit(pid_t pid, int expected)
{
    int code = tu_wait(pid, 30000);
    if (code != expected)
        fail_msg("queue_peer exited with %d, expected %d", code, expected);
}

/* ---- a foreign shared-memory object ---- */

static void make_foreign(const char *name, size_t size, int garbage)
{
    shm_unlink(name);
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    assert_true(fd >= 0);
    if (size > 0) {
        assert_int_equal(ftruncate(fd, (off_t)size), 0);
        if (garbage) {
            unsigned char *b = malloc(size);
            assert_non_null(b);
            uint64_t rng = 0xFEEDFACEull;
            for (size_t i = 0; i < size; i++)
                b[i] = (unsigned char)tu_rand(&rng);
            if (size >= 16)
                memcpy(b, "garbage-garbage!", 16);
            assert_int_equal(pwrite(fd, b, size, 0), (ssize_t)size);
            free(b);
        }
    }
    close(fd);
}

/* ---- echo through an exec'd peer ---- */

static size_t echo_len(uint32_t i)
{
    return 1 + (i * 7919u) % 1500;
}

static void echo_fill(unsigned char *p, size_t len, uint32_t i)
{
    for (size_t k = 0; k < len; k++)
        p[k] = (unsigned char)(i * 13u + k * 101u + (k >> 7));
}

/* Send n requests with at most 16 outstanding, check every reply. */
static void echo_exchange(ss_queue *req, ss_queue *rep, uint32_t n)
{
    static unsigned char out[2048], in[2048], expect[2048];
    uint32_t sent = 0, got = 0;
    while (got < n) {
        while (sent < n && sent - got < 16) {
            size_t len = echo_len(sent);
            echo_fill(out, len, sent);
            ASSERT_RC(ss_queue_put(req, out, len, SS_SEC(20)), 0);
            sent++;
        }
        size_t len = 0;
        ASSERT_RC(ss_queue_get(rep, in, sizeof in, &len, SS_SEC(20)), 0);
        size_t want = echo_len(got);
        if (len != want)
            fail_msg("reply %u: length %zu, expected %zu", got, len, want);
        echo_fill(expect, want, got);
        for (size_t k = 0; k < want; k++)
            if (in[k] != (unsigned char)(expect[want - 1 - k] ^ 0x5A))
                fail_msg("reply %u: byte %zu wrong", got, k);
        got++;
    }
}

static void test_echo_peer_count(void **state)
{
    struct nstate *s = *state;
    const char *req_name = new_name(s), *rep_name = new_name(s);
    ss_queue *req = create_named(s, req_name, 64 * 1024, 0, 0);
    ss_queue *rep = create_named(s, rep_name, 64 * 1024, 0, 0);
    char *argv[] = {(char *)"queue_peer", (char *)"echo", (char *)req_name,
                    (char *)rep_name, (char *)"3000", NULL};
    pid_t pid = spawn_peer(argv);
    echo_exchange(req, rep, 3000);
    expect_peer_exit(pid, 0);
    ss_queue_stats st;
    ASSERT_RC(ss_queue_get_stats(req, &st), 0);
    assert_int_equal(st.put_total, 3000);
    assert_int_equal(st.got_total, 3000); /* counted by the peer's gets */
    ASSERT_RC(ss_queue_get_stats(rep, &st), 0);
    assert_int_equal(st.put_total, 3000);
    assert_int_equal(st.msgs, 0);
}

/* The peer echoes until we close the requests; it then closes the replies
 * and we see ECLOSED after the last reply. */
static void test_echo_peer_until_closed(void **state)
{
    struct nstate *s = *state;
    const char *req_name = new_name(s), *rep_name = new_name(s);
    ss_queue *req = create_named(s, req_name, 32 * 1024, 0, 0);
    ss_queue *rep = create_named(s, rep_name, 32 * 1024, 0, 0);
    char *argv[] = {(char *)"queue_peer", (char *)"echo", (char *)req_name,
                    (char *)rep_name, (char *)"-1", NULL};
    pid_t pid = spawn_peer(argv);
    echo_exchange(req, rep, 1000);
    /* Some more requests, then close while they may still be queued. */
    unsigned char m[2048], in[2048];
    for (uint32_t i = 1000; i < 1010; i++) {
        size_t len = echo_len(i);
        echo_fill(m, len, i);
        ASSERT_RC(ss_queue_put(req, m, len, SS_SEC(20)), 0);
    }
    ASSERT_RC(ss_queue_close(req), 0);
    for (uint32_t i = 1000; i < 1010; i++) {
        size_t len = 0;
        ASSERT_RC(ss_queue_get(rep, in, sizeof in, &len, SS_SEC(20)), 0);
        assert_int_equal(len, echo_len(i));
        echo_fill(m, len, i);
        for (size_t k = 0; k < len; k++)
            assert_int_equal(in[k], (unsigned char)(m[len - 1 - k] ^ 0x5A));
    }
    size_t len;
    ASSERT_RC(ss_queue_get(rep, in, sizeof in, &len, SS_SEC(20)), SS_ECLOSED);
    assert_true(ss_queue_is_closed(rep));
    expect_peer_exit(pid, 0);
}

/* The peer sees the sizes this process chose. */
static void test_peer_sees_sizes(void **state)
{
    struct nstate *s = *state;
    const char *name = new_name(s);
    const size_t p = (size_t)sysconf(_SC_PAGESIZE);
    ss_queue *q = create_named(s, name, 3 * p - 5, 7, 0);
    assert_int_equal(ss_queue_capacity(q), 3 * p);
    char cap[32], maxm[32], maxs[32];
    snprintf(cap, sizeof cap, "%zu", 3 * p);
    snprintf(maxm, sizeof maxm, "%d", 7);
    snprintf(maxs, sizeof maxs, "%zu", 3 * p - 8);
    char *argv[] = {(char *)"queue_peer", (char *)"info", (char *)name, cap, maxm,
                    maxs, NULL};
    expect_peer_exit(spawn_peer(argv), 0);
}

/* Two handles in one process on one name: the same queue. "name" and
 * "/name" are the same name. */
static void test_open_same_process(void **state)
{
    struct nstate *s = *state;
    const char *name = new_name(s);
    const size_t p = (size_t)sysconf(_SC_PAGESIZE);
    ss_queue *a = create_named(s, name, 2 * p, 5, 0);
    ss_queue *b = NULL, *c = NULL;
    ASSERT_RC(ss_queue_open(&b, name), 0);
    track(s, b);
    ASSERT_RC(ss_queue_open(&c, name + 1), 0); /* without the slash */
    track(s, c);
    assert_ptr_not_equal(a, b);
    assert_int_equal(ss_queue_capacity(b), 2 * p);
    assert_int_equal(ss_queue_max_msg_size(b), 2 * p - 8);
    ss_queue_stats st;
    ASSERT_RC(ss_queue_get_stats(b, &st), 0);
    assert_int_equal(st.max_msgs, 5);

    ASSERT_RC(ss_queue_put(a, "first", 5, SS_NO_WAIT), 0);
    ASSERT_RC(ss_queue_put(c, "second!", 7, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_size(b), 2);
    char buf[16];
    size_t len = 0;
    ASSERT_RC(ss_queue_get(b, buf, sizeof buf, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "first", 5);
    ASSERT_RC(ss_queue_get(a, buf, sizeof buf, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "second!", 7);
    ASSERT_RC(ss_queue_get_stats(c, &st), 0);
    assert_int_equal(st.put_total, 2);
    assert_int_equal(st.got_total, 2);

    /* max_msgs applies across handles. */
    for (int i = 0; i < 5; i++)
        ASSERT_RC(ss_queue_put(i % 2 ? a : b, "x", 1, SS_NO_WAIT), 0);
    ASSERT_RC(ss_queue_put(c, "x", 1, SS_NO_WAIT), SS_EAGAIN);

    /* Destroying one handle leaves the others working. */
    untrack_destroy(s, b);
    ASSERT_RC(ss_queue_get(c, buf, sizeof buf, &len, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_size(a), 4);

    ASSERT_RC(ss_queue_close(c), 0);
    assert_true(ss_queue_is_closed(a));
    ASSERT_RC(ss_queue_put(a, "y", 1, SS_NO_WAIT), SS_ECLOSED);
}

/* After unlink the name is gone but open handles (here in another process)
 * keep working. */
static void test_peer_keeps_queue_after_unlink(void **state)
{
    struct nstate *s = *state;
    const char *name = new_name(s);
    ss_queue *q = create_named(s, name, 16 * 1024, 0, 0);
    char *argv[] = {(char *)"queue_peer", (char *)"produce", (char *)name,
                    (char *)"500", NULL};
    pid_t pid = spawn_peer(argv);
    unsigned char buf[512];
    size_t len = 0;
    /* The first message proves the peer has opened the queue. */
    ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, SS_SEC(20)), 0);
    assert_int_equal(len, 4);
    ASSERT_RC(ss_queue_unlink(name), 0);
    ss_queue *again = (ss_queue *)(uintptr_t)0x77;
    ASSERT_RC(ss_queue_open(&again, name), SS_ENOENT);
    assert_ptr_equal(again, (ss_queue *)(uintptr_t)0x77);
    for (uint32_t i = 1; i < 500; i++) {
        ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, SS_SEC(20)), 0);
        assert_int_equal(len, 4 + i % 300);
        uint32_t seq;
        memcpy(&seq, buf, 4);
        assert_int_equal(seq, i);
        for (size_t k = 4; k < len; k++)
            assert_int_equal(buf[k], i & 0xff);
    }
    expect_peer_exit(pid, 0);
}

/* ---- open errors ---- */

static void test_open_enoent(void **state)
{
    struct nstate *s = *state;
    const char *name = new_name(s);
    ss_queue *q = (ss_queue *)(uintptr_t)0x99;
    ASSERT_RC(ss_queue_open(&q, name), SS_ENOENT);
    assert_ptr_equal(q, (ss_queue *)(uintptr_t)0x99);
    ASSERT_RC(ss_queue_unlink(name), SS_ENOENT);
    /* Also seen from another process. */
    char *argv[] = {(char *)"queue_peer", (char *)"open", (char *)name, NULL};
    expect_peer_exit(spawn_peer(argv), -SS_ENOENT);
}

static void expect_foreign(const char *name)
{
    ss_queue *q = (ss_queue *)(uintptr_t)0x99;
    ASSERT_RC(ss_queue_open(&q, name), SS_EFOREIGN);
    assert_ptr_equal(q, (ss_queue *)(uintptr_t)0x99);
}

static void test_open_foreign_garbage(void **state)
{
    struct nstate *s = *state;
    const char *name = new_name(s);
    make_foreign(name, 4096, 1);
    expect_foreign(name);
    shm_unlink(name);
    make_foreign(name, 1 << 20, 1);
    expect_foreign(name);
    shm_unlink(name);
    make_foreign(name, 24, 1); /* smaller than any header */
    expect_foreign(name);
    /* The peer agrees. */
    char *argv[] = {(char *)"queue_peer", (char *)"open", (char *)name, NULL};
    expect_peer_exit(spawn_peer(argv), -SS_EFOREIGN);
    /* And creating over it is refused: the name is taken. */
    ss_queue *q = (ss_queue *)(uintptr_t)0x99;
    ASSERT_RC(ss_queue_create_named(&q, name, NULL), SS_EEXIST);
    assert_ptr_equal(q, (ss_queue *)(uintptr_t)0x99);
}

/* Other kinds of file under a queue's name: a directory, symbolic links
 * (to a directory, to a regular file, dangling), a FIFO. Open says
 * SS_EFOREIGN without opening them as queues (it said SS_EINVAL or
 * SS_ESYS, and waited a second for a FIFO to show a header), unlink leaves them alone with SS_EFOREIGN, create says the
 * name is taken. */
static void test_open_other_kinds_of_file(void **state)
{
    struct nstate *s = *state;
    char path[300], target[300];
    const char *dir = new_name(s), *ldir = new_name(s), *lreg = new_name(s),
               *ldang = new_name(s), *fifo = new_name(s), *reg = new_name(s);
    snprintf(path, sizeof path, "/dev/shm%s", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(target, sizeof target, "/dev/shm%s", dir);
    snprintf(path, sizeof path, "/dev/shm%s", ldir);
    assert_int_equal(symlink(target, path), 0);
    make_foreign(reg, 4096, 1);
    snprintf(target, sizeof target, "/dev/shm%s", reg);
    snprintf(path, sizeof path, "/dev/shm%s", lreg);
    assert_int_equal(symlink(target, path), 0);
    snprintf(path, sizeof path, "/dev/shm%s", ldang);
    assert_int_equal(symlink("/dev/shm/ss-test-nothing-here", path), 0);
    snprintf(path, sizeof path, "/dev/shm%s", fifo);
    assert_int_equal(mkfifo(path, 0600), 0);

    const char *names[] = {dir, ldir, lreg, ldang, fifo};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        ss_queue *q = (ss_queue *)(uintptr_t)0x99;
        ASSERT_RC(ss_queue_open(&q, names[k]), SS_EFOREIGN);
        assert_ptr_equal(q, (ss_queue *)(uintptr_t)0x99);
        ASSERT_RC(ss_queue_create_named(&q, names[k], NULL), SS_EEXIST);
        ASSERT_RC(ss_queue_unlink(names[k]), SS_EFOREIGN);
        struct stat st;
        snprintf(path, sizeof path, "/dev/shm%s", names[k]);
        assert_int_equal(lstat(path, &st), 0); /* still there */
    }
    snprintf(path, sizeof path, "/dev/shm%s", reg);
    assert_int_equal(access(path, F_OK), 0); /* the link's target too */
    for (size_t k = 1; k < sizeof names / sizeof names[0]; k++) {
        snprintf(path, sizeof path, "/dev/shm%s", names[k]);
        unlink(path);
    }
    snprintf(path, sizeof path, "/dev/shm%s", dir);
    rmdir(path);
}

/* An empty object looks like a queue being created: open gives up after
 * about a second. */
static void test_open_foreign_empty(void **state)
{
    struct nstate *s = *state;
    const char *name = new_name(s);
    make_foreign(name, 0, 0);
    expect_foreign(name);
    shm_unlink(name);
    make_foreign(name, 4096, 0); /* all zero */
    expect_foreign(name);
}

/* Altering header bytes one at a time: the magic makes it foreign, the
 * layout version makes it SS_EVERSION, sizes make it corrupt, nothing
 * crashes, and restoring the byte restores the queue. The header layout is
 * private, so every byte of the first 64 is probed. */
static void test_open_altered_header(void **state)
{
    struct nstate *s = *state;
    const char *name = new_name(s);
    ss_queue *q = create_named(s, name, 0, 0, 0);
    ASSERT_RC(ss_queue_put(q, "kept", 4, SS_NO_WAIT), 0);
    int fd = shm_open(name, O_RDWR, 0);
    assert_true(fd >= 0);
    unsigned char *h = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(h != MAP_FAILED);

    int n_foreign = 0, n_version = 0, n_corrupt = 0, n_ok = 0;
    for (int off = 0; off < 64; off++) {
        unsigned char orig = h[off];
        h[off] = (unsigned char)(orig ^ 0x10);
        ss_queue *o = NULL;
        int rc = ss_queue_open(&o, name);
        h[off] = orig;
        switch (rc) {
        case 0:
            n_ok++;
            ss_queue_destroy(o);
            break;
        case SS_EFOREIGN:
            n_foreign++;
            break;
        case SS_EVERSION:
            n_version++;
            break;
        case SS_ECORRUPT:
            n_corrupt++;
            break;
        default:
            munmap(h, 4096);
            fail_msg("byte %d altered: open gave %s", off, ss_errname(rc));
        }
    }
    munmap(h, 4096);
    print_message("altered header bytes: %d foreign, %d version, %d corrupt, %d ok\n",
                  n_foreign, n_version, n_corrupt, n_ok);
    assert_true(n_foreign >= 1); /* the magic */
    assert_true(n_version >= 1); /* the layout version */

    /* Restored: opens, and the message is still there. */
    ss_queue *o = NULL;
    ASSERT_RC(ss_queue_open(&o, name), 0);
    track(s, o);
    char buf[8];
    size_t len = 0;
    ASSERT_RC(ss_queue_get(o, buf, sizeof buf, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "kept", 4);
}

/* ---- create errors ---- */

static void test_create_twice_eexist(void **state)
{
    struct nstate *s = *state;
    const char *name = new_name(s);
    ss_queue *a = create_named(s, name, 0, 0, 0);
    ss_queue *q = (ss_queue *)(uintptr_t)0x99;
    ASSERT_RC(ss_queue_create_named(&q, name, NULL), SS_EEXIST);
    assert_ptr_equal(q, (ss_queue *)(uintptr_t)0x99);
    ASSERT_RC(ss_queue_create_named(&q, name + 1, NULL), SS_EEXIST); /* "name" */
    assert_ptr_equal(q, (ss_queue *)(uintptr_t)0x99);
    /* The first queue is unharmed. */
    ASSERT_RC(ss_queue_put(a, "abc", 3, SS_NO_WAIT), 0);
    ss_queue *b = NULL;
    ASSERT_RC(ss_queue_open(&b, name), 0);
    track(s, b);
    char buf[4];
    size_t len;
    ASSERT_RC(ss_queue_get(b, buf, sizeof buf, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "abc", 3);
}

static void expect_bad_name(const char *name)
{
    ss_queue *q = (ss_queue *)(uintptr_t)0x99;
    int rc = ss_queue_create_named(&q, name, NULL);
    if (rc == 0) {
        ss_queue_unlink(name);
        ss_queue_destroy(q);
        fail_msg("create_named accepted \"%s\"", name);
    }
    if (rc != SS_ENAMETOOLONG && rc != SS_EINVAL)
        fail_msg("create_named(\"%s\"): %s", name, ss_errname(rc));
    assert_ptr_equal(q, (ss_queue *)(uintptr_t)0x99);
    rc = ss_queue_open(&q, name);
    if (rc != SS_ENAMETOOLONG && rc != SS_EINVAL)
        fail_msg("open(\"%s\"): %s", name, ss_errname(rc));
    rc = ss_queue_unlink(name);
    if (rc != SS_ENAMETOOLONG && rc != SS_EINVAL)
        fail_msg("unlink(\"%s\"): %s", name, ss_errname(rc));
}

static void test_bad_names(void **state)
{
    struct nstate *s = *state;
    char name[512];

    /* Too long: 201 characters, with or without the slash. */
    memset(name, 'a', 201);
    name[201] = '\0';
    ss_queue *q = (ss_queue *)(uintptr_t)0x99;
    int rc = ss_queue_create_named(&q, name, NULL);
    if (rc == 0) {
        ss_queue_unlink(name);
        ss_queue_destroy(q);
    }
    ASSERT_RC(rc, SS_ENAMETOOLONG);
    ASSERT_RC(ss_queue_open(&q, name), SS_ENAMETOOLONG);
    ASSERT_RC(ss_queue_unlink(name), SS_ENAMETOOLONG);
    name[0] = '/';
    memset(name + 1, 'b', 300);
    name[301] = '\0';
    ASSERT_RC(ss_queue_create_named(&q, name, NULL), SS_ENAMETOOLONG);
    ASSERT_RC(ss_queue_open(&q, name), SS_ENAMETOOLONG);
    assert_ptr_equal(q, (ss_queue *)(uintptr_t)0x99);

    /* A '/' anywhere but first: malformed. */
    expect_bad_name("a/b");
    expect_bad_name("/ss-test/x");
    expect_bad_name("/ss-test-x/");
    expect_bad_name("//ss-test-x");
    /* Nothing but the slash, or nothing. */
    expect_bad_name("/");
    expect_bad_name("");

    /* NULLs. */
    ASSERT_RC(ss_queue_create_named(NULL, "/ss-test-null", NULL), SS_EINVAL);
    ASSERT_RC(ss_queue_create_named(&q, NULL, NULL), SS_EINVAL);
    ASSERT_RC(ss_queue_open(NULL, "/ss-test-null"), SS_EINVAL);
    ASSERT_RC(ss_queue_open(&q, NULL), SS_EINVAL);
    ASSERT_RC(ss_queue_unlink(NULL), SS_EINVAL);
    assert_ptr_equal(q, (ss_queue *)(uintptr_t)0x99);

    /* 200 characters in all ("/" + 199) is allowed, and so is 199 without
     * the slash. */
    const char *base = new_name(s);
    size_t bl = strlen(base);
    char *ok200 = s->names[s->nnames - 1]; /* registered for the teardown */
    memset(ok200 + bl, 'z', 200 - bl);
    ok200[200] = '\0';
    assert_int_equal(strlen(ok200), 200);
    ss_queue *a = NULL;
    rc = ss_queue_create_named(&a, ok200, NULL);
    if (rc != 0)
        fail_msg("200-character name refused: %s", ss_errname(rc));
    ss_queue *b = NULL;
    rc = ss_queue_open(&b, ok200);
    ss_queue_destroy(b);
    ss_queue_destroy(a);
    int urc = ss_queue_unlink(ok200);
    ASSERT_RC(rc, 0);
    ASSERT_RC(urc, 0);
    rc = ss_queue_create_named(&a, ok200 + 1, NULL); /* 199, no slash */
    if (rc == 0) {
        ss_queue_destroy(a);
        ASSERT_RC(ss_queue_unlink(ok200 + 1), 0);
    }
    ASSERT_RC(rc, 0);
}

static void test_unlink_then_open(void **state)
{
    struct nstate *s = *state;
    const char *name = new_name(s);
    ss_queue *q = create_named(s, name, 0, 0, 0);
    ASSERT_RC(ss_queue_put(q, "before", 6, SS_NO_WAIT), 0);
    ASSERT_RC(ss_queue_unlink(name), 0);
    ss_queue *o = (ss_queue *)(uintptr_t)0x99;
    ASSERT_RC(ss_queue_open(&o, name), SS_ENOENT);
    ASSERT_RC(ss_queue_unlink(name), SS_ENOENT);
    struct stat stbuf;
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/%s", name + 1);
    assert_int_equal(stat(path, &stbuf), -1);

    /* The handle still works. */
    ASSERT_RC(ss_queue_put(q, "after", 5, SS_NO_WAIT), 0);
    char buf[8];
    size_t len;
    ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, "before", 6);
    ASSERT_RC(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "after", 5);

    /* The name can be reused for a new, empty queue. */
    ss_queue *n = create_named(s, name, 0, 0, 0);
    assert_int_equal(ss_queue_size(n), 0);
    ASSERT_RC(ss_queue_put(n, "new", 3, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_size(q), 0); /* a different queue */
    ASSERT_RC(ss_queue_open(&o, name), 0);
    track(s, o);
    assert_int_equal(ss_queue_size(o), 1);
}

static void check_mode(const char *name, unsigned expected)
{
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/%s", name[0] == '/' ? name + 1 : name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    if ((st.st_mode & 07777) != expected)
        fail_msg("%s: mode %o, expected %o", path, (unsigned)(st.st_mode & 07777),
                 expected);
    assert_int_equal(st.st_uid, geteuid());
}

static void test_mode(void **state)
{
    struct nstate *s = *state;
    mode_t old = umask(022); /* does not affect the modes below */
    const char *n1 = new_name(s);
    create_named(s, n1, 0, 0, 0);
    check_mode(n1, 0600);
    const char *n2 = new_name(s);
    create_named(s, n2, 0, 0, 0640);
    check_mode(n2, 0640);
    const char *n3 = new_name(s);
    create_named(s, n3 + 1, 0, 0, 0); /* without the slash */
    check_mode(n3, 0600);
    umask(old);
}

/* Another user cannot open a 0600 queue. */
static int child_other_user_open(void *arg)
{
    const char *name = arg;
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
        return 200;
    ss_queue *q = NULL;
    int rc = ss_queue_open(&q, name);
    if (rc == 0)
        ss_queue_destroy(q);
    return -rc;
}

static void test_eacces(void **state)
{
    struct nstate *s = *state;
    const char *name = new_name(s);
    if (geteuid() == 0) {
        mode_t old = umask(0); /* so that 0666 below is not masked */
        create_named(s, name, 0, 0, 0600);
        pid_t pid = tu_fork(child_other_user_open, (void *)name);
        assert_true(pid > 0);
        assert_int_equal(tu_wait(pid, 20000), -SS_EACCES);
        /* With 0666 the other user may open it. */
        const char *name2 = new_name(s);
        create_named(s, name2, 0, 0, 0666);
        check_mode(name2, 0666);
        umask(old);
        pid = tu_fork(child_other_user_open, (void *)name2);
        assert_true(pid > 0);
        assert_int_equal(tu_wait(pid, 20000), 0);
    } else {
        /* Read-only for its owner: opening read-write is refused. */
        create_named(s, name, 0, 0, 0400);
        ss_queue *q = NULL;
        ASSERT_RC(ss_queue_open(&q, name), SS_EACCES);
    }
}

int main(void)
{
    tu_watchdog(55);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_peer_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_peer_until_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_sees_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_same_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_keeps_queue_after_unlink, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_enoent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_foreign_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_foreign_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_other_kinds_of_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_altered_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_twice_eexist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink_then_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eacces, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_queue_corrupt.c - damaged shared memory is detected and reported with
 * SS_ECORRUPT, never followed out of bounds. The test maps a named queue's
 * object a second time and scribbles over the records in its ring.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal_slot.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "testutil.h"

static char qname[64];
static uint64_t proc_start(pid_t pid);
static int errors_logged;

static void count_errors(ss_log_level level, const char *component,
                         const char *message, void *user_data)
{
    (void)component;
    (void)message;
    (void)user_data;
    if (level == SS_LOG_ERROR)
        errors_logged++;
}

/* Map the whole object behind the queue's name; *ring points past the
 * header (file size - capacity). */
static unsigned char *map_object(ss_queue *q, size_t *size, unsigned char **ring)
{
    char path[128];
    snprintf(path, sizeof path, "/dev/shm%s", qname);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    *size = (size_t)st.st_size;
    unsigned char *p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(p != MAP_FAILED);
    *ring = p + (*size - ss_queue_capacity(q));
    return p;
}

static ss_queue *make_queue(void)
{
    static int n;
    snprintf(qname, sizeof qname, "/ss-test-corrupt-%d-%d", (int)getpid(), n++);
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = 4096;
    ss_queue *q;
    assert_int_equal(ss_queue_create_named(&q, qname, &o), 0);
    return q;
}

/* Each way of damaging the first record: a length beyond the message limit,
 * a length beyond what was committed, a zero length, a wrong check word. */
static void damage(unsigned char *rec, int how)
{
    uint32_t len, check;
    memcpy(&len, rec, 4);
    memcpy(&check, rec + 4, 4);
    switch (how) {
    case 0:
        len = 0x7fffffffu;
        break;
    case 1:
        len = 3000; /* below max_msg_size, above the bytes committed */
        break;
    case 2:
        len = 0;
        break;
    default:
        check ^= 0x100;
        break;
    }
    memcpy(rec, &len, 4);
    memcpy(rec + 4, &check, 4);
}

static void test_damaged_record(void **state)
{
    (void)state;
    for (int how = 0; how < 4; how++) {
        ss_queue *q = make_queue();
        assert_int_equal(ss_queue_put(q, "hello", 5, SS_NO_WAIT), 0);
        assert_int_equal(ss_queue_put(q, "world", 5, SS_NO_WAIT), 0);
        size_t size;
        unsigned char *ring;
        unsigned char *obj = map_object(q, &size, &ring);
        damage(ring, how);

        errors_logged = 0;
        char buf[64];
        size_t len = 0;
        ss_msg msgs[4];
        size_t n = 99;
        assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT),
                         SS_ECORRUPT);
        assert_true(errors_logged >= 1);
        /* Sticky: every later call on any handle refuses. */
        assert_int_equal(ss_queue_get_many(q, buf, sizeof buf, msgs, 4, &n,
                                           SS_NO_WAIT),
                         SS_ECORRUPT);
        assert_int_equal(ss_queue_read_begin(q, msgs, 4, &n, SS_NO_WAIT),
                         SS_ECORRUPT);
        assert_int_equal(ss_queue_put(q, "x", 1, SS_NO_WAIT), SS_ECORRUPT);
        ss_queue *other;
        assert_int_equal(ss_queue_open(&other, qname), 0);
        assert_int_equal(ss_queue_get(other, buf, sizeof buf, &len, SS_NO_WAIT),
                         SS_ECORRUPT);
        ss_queue_stats st;
        assert_int_equal(ss_queue_get_stats(other, &st), SS_ECORRUPT);
        ss_queue_destroy(other);
        munmap(obj, size);
        ss_queue_destroy(q);
        ss_queue_unlink(qname);
    }
}

/* A damaged record in the middle of a batch: the records before it are not
 * handed out as if all were well. */
static void test_damage_after_valid_records(void **state)
{
    (void)state;
    ss_queue *q = make_queue();
    assert_int_equal(ss_queue_put(q, "first", 5, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_put(q, "second", 6, SS_NO_WAIT), 0);
    size_t size;
    unsigned char *ring;
    unsigned char *obj = map_object(q, &size, &ring);
    damage(ring + 16, 0); /* "first": 8-byte header + 5 bytes -> 16 */
    char buf[64];
    size_t len;
    /* A single get takes the intact first record... */
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "first", 5);
    /* ...and the next one is refused. */
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT),
                     SS_ECORRUPT);
    munmap(obj, size);
    ss_queue_destroy(q);
    ss_queue_unlink(qname);
}


/* A put blocked forever on a full queue learns that the queue went corrupt
 * (nothing will ever move again) instead of waiting forever. */
static ss_queue *blocked_q;
static int blocked_rc;
static _Atomic pid_t blocked_tid;

static void *blocked_put(void *arg)
{
    (void)arg;
    atomic_store(&blocked_tid, tu_gettid());
    blocked_rc = ss_queue_put(blocked_q, "late", 4, SS_WAIT_FOREVER);
    return NULL;
}

static void test_corruption_wakes_waiters(void **state)
{
    (void)state;
    static int n;
    snprintf(qname, sizeof qname, "/ss-test-corrupt-w-%d-%d", (int)getpid(), n++);
    ss_queue_options o;
    ss_queue_options_init(&o);
    o.capacity = 4096;
    o.max_msgs = 1;
    o.spin_ns = 0;
    assert_int_equal(ss_queue_create_named(&blocked_q, qname, &o), 0);
    assert_int_equal(ss_queue_put(blocked_q, "first", 5, SS_NO_WAIT), 0);
    pthread_t t;
    blocked_rc = 1;
    atomic_store(&blocked_tid, 0);
    assert_int_equal(pthread_create(&t, NULL, blocked_put, NULL), 0);
    /* Let it go to sleep on the full queue (10 s at most): the damage
     * must find it asleep, not yet to come. */
    int64_t end = tu_now_ns() + SS_SEC(10);
    while (atomic_load(&blocked_tid) == 0 && tu_now_ns() < end)
        tu_sleep_us(200);
    assert_true(tu_wait_asleep(atomic_load(&blocked_tid), 10000));
    size_t size;
    unsigned char *ring;
    unsigned char *obj = map_object(blocked_q, &size, &ring);
    damage(ring, 3);
    char buf[16];
    size_t len;
    assert_int_equal(ss_queue_get(blocked_q, buf, sizeof buf, &len, SS_NO_WAIT),
                     SS_ECORRUPT);
    pthread_join(t, NULL); /* the watchdog fails the test if it hangs */
    assert_int_equal(blocked_rc, SS_ECORRUPT);
    munmap(obj, size);
    ss_queue_destroy(blocked_q);
    ss_queue_unlink(qname);
}

/* A record damaged between read_begin and read_end (anyone with the memory
 * can write it, the reader too) is caught by read_end, not followed. */
/* A new queue with "one" and "two", both exposed by a zero-copy read
 * into msgs (4 entries). */
static ss_queue *queue_in_read(ss_msg *msgs)
{
    ss_queue *q = make_queue();
    assert_int_equal(ss_queue_put(q, "one", 3, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_put(q, "two", 3, SS_NO_WAIT), 0);
    size_t n;
    assert_int_equal(ss_queue_read_begin(q, msgs, 4, &n, SS_NO_WAIT), 0);
    assert_int_equal(n, 2);
    return q;
}

static void test_damage_during_zero_copy_read(void **state)
{
    (void)state;
    ss_msg msgs[4];
    ss_queue *q = queue_in_read(msgs);
    /* The header sits right before the payload the reader was given. */
    uint32_t bad = 0x7fffffffu;
    memcpy((unsigned char *)msgs[0].data - 8, &bad, 4);
    errors_logged = 0;
    assert_int_equal(ss_queue_read_end(q, 2), SS_ECORRUPT);
    assert_true(errors_logged >= 1);
    /* The consumer side was released: a get answers at once. */
    char buf[16];
    size_t len;
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT),
                     SS_ECORRUPT);
    ss_queue_destroy(q);
    ss_queue_unlink(qname);
}

/* The consumer side's ring offset, which sits next to its lock word
 * (docs/queue.md, "Layout": lock u64, waiters u32, pad, off u64): found
 * as the one word of the header that names the calling thread, which
 * holds the consumer lock in a zero-copy read. */
static _Atomic uint64_t *consumer_offset(unsigned char *obj, unsigned char *ring)
{
    uint64_t me = (uint64_t)(uint32_t)proc_start(getpid()) << 32 |
                  (uint32_t)getpid();
    _Atomic uint64_t *word = NULL;
    for (unsigned char *p = obj; p + 24 <= ring; p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v == me) {
            assert_null(word);
            word = (_Atomic uint64_t *)(void *)(p + 16);
        }
    }
    assert_non_null(word);
    return word;
}

/* Another process rewrites the consumer offset while a zero-copy read is
 * open: read_end reports SS_ECORRUPT and reads nothing through the bad
 * offset (it used to read the record there to log its length: a wild
 * read, SIGSEGV in a release build). */
static void test_offset_changed_during_zero_copy_read(void **state)
{
    (void)state;
    static const uint64_t bad[] = {(uint64_t)1 << 40, (uint64_t)-8,
                                   (uint64_t)1 << 62};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ss_msg msgs[4];
        ss_queue *q = queue_in_read(msgs);
        size_t size;
        unsigned char *ring, *obj = map_object(q, &size, &ring);
        _Atomic uint64_t *off = consumer_offset(obj, ring);
        assert_int_equal(atomic_load(off), 0); /* nothing consumed yet */
        atomic_store(off, bad[k]);
        errors_logged = 0;
        assert_int_equal(ss_queue_read_end(q, 2), SS_ECORRUPT);
        assert_true(errors_logged >= 1);
        char buf[16];
        size_t len;
        assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT),
                         SS_ECORRUPT);
        munmap(obj, size);
        ss_queue_destroy(q);
        ss_queue_unlink(qname);
    }
}

/* ---- the side locks: a holder that lives, one that died, a stale word ---- */

typedef struct holder_ctl {
    _Atomic int ready;
    /* 1: keep the lock until killed; 0: exit holding it; 2: exec a
     * program holding it; 3: exit holding it after 50 ms */
    int stay;
} holder_ctl;

static ss_queue *held_q;

/* Open a zero-copy read, which holds the consumer lock, say so, then stay
 * or exit without closing it. */
static int hold_consumer_lock(void *arg)
{
    holder_ctl *c = arg;
    ss_msg m[1];
    size_t n;
    if (ss_queue_read_begin(held_q, m, 1, &n, SS_NO_WAIT) != 0 || n != 1)
        return 1;
    atomic_store(&c->ready, 1);
    if (c->stay == 2) {
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        return 2;
    }
    if (c->stay == 3) {
        tu_sleep_us(50000);
        return 0;
    }
    while (c->stay)
        pause();
    return 0;
}

static char proc_state(pid_t pid)
{
    char state;
    uint64_t start;
    return tu_proc_stat(pid, &state, &start) ? state : 0;
}

static uint64_t proc_start(pid_t pid)
{
    char state;
    uint64_t start;
    return tu_proc_stat(pid, &state, &start) ? start : 0;
}

static pid_t start_holder(holder_ctl *ctl, int stay)
{
    atomic_store(&ctl->ready, 0);
    ctl->stay = stay;
    pid_t pid = tu_fork(hold_consumer_lock, ctl);
    assert_true(pid > 0);
    int64_t end = tu_now_ns() + SS_SEC(10);
    while (!atomic_load(&ctl->ready) && tu_now_ns() < end)
        tu_sleep_us(200);
    assert_true(atomic_load(&ctl->ready));
    return pid;
}

/* A get within timeout_ns returns the message want, and the queue has
 * counted repairs take-overs in all. */
static void expect_get_after_repair(ss_queue *q, int64_t timeout_ns,
                                    const char *want, uint64_t repairs)
{
    char buf[16];
    size_t len;
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, timeout_ns), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
    ss_queue_stats st;
    assert_int_equal(ss_queue_get_stats(q, &st), 0);
    assert_int_equal(st.repairs, repairs);
}

/* A lock names its holder thread. A live holder is waited for, never
 * robbed; a holder that exited (a zombie, not yet reaped) is taken over
 * and the side repaired; and a lock word naming a live thread id with
 * another start time (the id was reused) counts as a dead holder. */
static void test_lock_holder_identity(void **state)
{
    (void)state;
    ss_queue *q = make_queue();
    held_q = q;
    assert_int_equal(ss_queue_put(q, "one", 3, SS_NO_WAIT), 0);
    assert_int_equal(ss_queue_put(q, "two", 3, SS_NO_WAIT), 0);
    holder_ctl *ctl = tu_shared_alloc(sizeof *ctl);
    char buf[16];
    size_t len;
    ss_queue_stats st;

    /* A live holder: waited for until the timeout, nothing repaired. */
    pid_t live = start_holder(ctl, 1);
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_MSEC(50)),
                     SS_ETIMEDOUT);
    assert_int_equal(ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT),
                     SS_EAGAIN);
    assert_int_equal(ss_queue_get_stats(q, &st), 0);
    assert_int_equal(st.repairs, 0);

    /* The same lock word, with the holder's start time changed: as if the
     * holder had died and its thread id now named another thread. */
    size_t size;
    unsigned char *ring, *obj = map_object(q, &size, &ring);
    _Atomic uint64_t *word = NULL;
    uint64_t ident = (uint64_t)(uint32_t)proc_start(live) << 32 | (uint32_t)live;
    for (unsigned char *p = obj; p + 8 <= ring; p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v == ident) {
            assert_null(word); /* exactly one word names the holder */
            word = (_Atomic uint64_t *)(void *)p;
        }
    }
    assert_non_null(word);
    uint64_t v = atomic_load(word);
    atomic_store(word, v ^ ((uint64_t)1 << 32));
    expect_get_after_repair(q, SS_NO_WAIT, "one", 1);
    kill(live, SIGKILL);
    assert_int_equal(tu_wait(live, 5000), 128 + SIGKILL);

    /* A holder that exited with the lock: a zombie until reaped. */
    pid_t dead = start_holder(ctl, 0);
    int64_t end = tu_now_ns() + SS_SEC(10);
    while (proc_state(dead) != 'Z' && tu_now_ns() < end)
        tu_sleep_us(200);
    assert_int_equal(proc_state(dead), 'Z');
    expect_get_after_repair(q, SS_SEC(10), "two", 2);
    assert_int_equal(tu_wait(dead, 5000), 0);

    /* A holder that exec()ed another program: same id, same start time,
     * but its process no longer maps the queue. */
    assert_int_equal(ss_queue_put(q, "three", 5, SS_NO_WAIT), 0);
    pid_t execd = start_holder(ctl, 2);
    end = tu_now_ns() + SS_SEC(10);
    char path[64], exe[64] = "";
    snprintf(path, sizeof path, "/proc/%d/exe", (int)execd);
    while (!strstr(exe, "sleep") && tu_now_ns() < end) {
        ssize_t n = readlink(path, exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        tu_sleep_us(200);
    }
    assert_non_null(strstr(exe, "sleep"));
    expect_get_after_repair(q, SS_SEC(10), "three", 3);
    kill(execd, SIGKILL);
    assert_int_equal(tu_wait(execd, 5000), 128 + SIGKILL);

    munmap(obj, size);
    tu_shared_free(ctl, sizeof *ctl);
    ss_queue_destroy(q);
    ss_queue_unlink(qname);
}

static void on_alarm(int sig)
{
    (void)sig;
}

/* A waiter asleep on a lock whose holder dies while signals keep
 * interrupting its sleep (a 1 ms interval timer, no SA_RESTART) still
 * checks the holder on time and takes the lock over. */
static void test_lock_holder_dies_under_signals(void **state)
{
    (void)state;
    ss_queue *q = make_queue();
    held_q = q;
    assert_int_equal(ss_queue_put(q, "one", 3, SS_NO_WAIT), 0);
    holder_ctl *ctl = tu_shared_alloc(sizeof *ctl);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    pid_t pid = start_holder(ctl, 3); /* exits holding it after 50 ms */
    struct itimerval it = {{0, 1000}, {0, 1000}}, off = {{0, 0}, {0, 0}};
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    expect_get_after_repair(q, SS_SEC(5), "one", 1);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    assert_int_equal(tu_wait(pid, 5000), 0);
    tu_shared_free(ctl, sizeof *ctl);
    ss_queue_destroy(q);
    ss_queue_unlink(qname);
}

static int teardown(void **state)
{
    (void)state;
    ss_queue_unlink(qname);
    return 0;
}

int main(void)
{
    tu_watchdog(60);
    ss_log_set_handler(count_errors, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_damaged_record, teardown),
        cmocka_unit_test_teardown(test_damage_after_valid_records, teardown),
        cmocka_unit_test_teardown(test_corruption_wakes_waiters, teardown),
        cmocka_unit_test_teardown(test_damage_during_zero_copy_read, teardown),
        cmocka_unit_test_teardown(test_offset_changed_during_zero_copy_read,
                                  teardown),
        cmocka_unit_test_teardown(test_lock_holder_identity, teardown),
        cmocka_unit_test_teardown(test_lock_holder_dies_under_signals,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

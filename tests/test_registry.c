/*
 * test_registry.c - the domain's registry of published loops
 * (signal_slot/registry.h): publishing, names unique in a domain across
 * processes, owners that die (noticed by whoever looks, their names taken
 * again), loop processes (the child owns the entry, the watcher records
 * how it ended), domains that never see each other, another user refused,
 * and damaged registry memory reported with SS_EREGISTRY, never followed.
 *
 * Each test runs in a domain of its own ("t<pid>-<n>"), removed at the
 * end, so that parallel test runs never meet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <signal_slot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char g_domain[40];

/* The registry's file of the current domain. */
static void reg_path(char *buf, size_t size)
{
    snprintf(buf, size, "/dev/shm/ss-%u-%s", (unsigned)geteuid(), g_domain);
}

/* Find name in the registry's list: its copy, or false. */
static bool listed(const char *name, ss_loop_info *out)
{
    ss_loop_info li[64];
    size_t n = 0;
    if (ss_registry_list(li, 64, &n) != 0)
        return false;
    for (size_t i = 0; i < n && i < 64; i++) {
        if (strcmp(li[i].name, name) == 0) {
            if (out)
                *out = li[i];
            return true;
        }
    }
    return false;
}

static ss_loop *publish(const char *name, int expect)
{
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    o.queue_capacity = 64 * 1024;
    ss_loop *l = NULL;
    int rc = ss_loop_new(&l, name, &o);
    if (rc != expect)
        fail_msg("publish %s: %s, expected %s", name, ss_errname(rc),
                 ss_errname(expect));
    return l;
}

/* ---- children ---- */

/* Publish argument name and report: 0 done, 10 + -rc otherwise. */
static int child_publish(void *arg)
{
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_loop *l;
    int rc = ss_loop_new(&l, arg, &o);
    if (rc != 0)
        return 10 - rc;
    ss_loop_free(l);
    return 0;
}

/* Publish, say so, then wait to be killed. */
typedef struct holder {
    _Atomic int ready;
    char name[32];
} holder;

static int child_publish_and_wait(void *arg)
{
    holder *h = arg;
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_loop *l;
    if (ss_loop_new(&l, h->name, &o) != 0)
        return 1;
    atomic_store(&h->ready, 1);
    for (;;)
        pause();
}

/* The registry's memory, mapped here to damage it; *size its length. */
static unsigned char *map_registry(size_t *size)
{
    char path[96];
    reg_path(path, sizeof path);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    unsigned char *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
                            MAP_SHARED, fd, 0);
    close(fd);
    assert_true(p != MAP_FAILED);
    *size = (size_t)st.st_size;
    return p;
}

/* ---- tests ---- */

static void test_publish_and_list(void **state)
{
    (void)state;
    size_t n = 99;
    /* Nothing published yet: the domain does not exist. */
    assert_int_equal(ss_registry_list(NULL, 0, &n), SS_ENOENT);
    ss_loop *a = publish("alpha", 0);
    ss_loop *b = publish("beta-2.x_y", 0);
    assert_int_equal(ss_registry_list(NULL, 0, &n), 0);
    assert_int_equal(n, 2);
    ss_loop_info li;
    assert_true(listed("alpha", &li));
    assert_int_equal(li.state, SS_LOOP_STATE_LIVE);
    assert_int_equal(li.pid, getpid());
    assert_int_equal(li.queue_capacity, 64 * 1024);
    assert_true(li.incarnation > 0);
    /* Names: unique in the domain, and fit for a queue's name. */
    publish("alpha", SS_EEXIST);
    publish("has space", SS_ENAMETOOLONG);
    ss_loop_free(publish("slash/name", 0)); /* a host's mirror (bridge.md) */
    publish("a/b/c", SS_ENAMETOOLONG);
    publish("/x", SS_ENAMETOOLONG);
    publish("x/", SS_ENAMETOOLONG);
    /* Unique across processes too. */
    pid_t pid = tu_fork(child_publish, (void *)"alpha");
    assert_int_equal(tu_wait(pid, 20000), 10 - SS_EEXIST);
    pid = tu_fork(child_publish, (void *)"gamma");
    assert_int_equal(tu_wait(pid, 20000), 0);
    /* Freed: ended normally (exit code 0), its name free. */
    ss_loop_info gi;
    assert_true(listed("gamma", &gi));
    assert_int_equal(gi.state, SS_LOOP_STATE_ENDED);
    assert_int_equal(gi.exit_code, 0);
    /* Freed by its owner: gone, and its queue with it. */
    uint32_t inc = li.incarnation;
    ss_loop_free(a);
    assert_true(listed("alpha", &li));
    assert_int_equal(li.state, SS_LOOP_STATE_ENDED);
    char qpath[128];
    snprintf(qpath, sizeof qpath, "/dev/shm/ss-%u-%s-alpha-%u",
             (unsigned)geteuid(), g_domain, (unsigned)inc);
    assert_int_equal(access(qpath, F_OK), -1);
    a = publish("alpha", 0); /* taken again */
    assert_true(listed("alpha", &li));
    assert_true(li.incarnation != inc);
    ss_loop_free(a);
    ss_loop_free(b);
    /* The domain can no longer be changed once attached. */
    assert_int_equal(ss_domain_set("another"), SS_ESTATE);
    assert_int_equal(ss_domain_set(g_domain), 0);
    assert_string_equal(ss_domain_name(), g_domain);
}

/* An owner killed with SIGKILL: whoever looks next finds it dead, marks
 * its loop ended, retires its queue, and its name can be taken again. */
static void test_dead_owner(void **state)
{
    (void)state;
    holder *h = tu_shared_alloc(sizeof *h);
    snprintf(h->name, sizeof h->name, "victim");
    pid_t pid = tu_fork(child_publish_and_wait, h);
    int64_t end = tu_now_ns() + SS_SEC(20);
    while (!atomic_load(&h->ready) && tu_now_ns() < end)
        tu_sleep_us(1000);
    assert_true(atomic_load(&h->ready));
    ss_loop_info li;
    assert_true(listed("victim", &li));
    assert_int_equal(li.state, SS_LOOP_STATE_LIVE);
    assert_int_equal(li.pid, pid);
    publish("victim", SS_EEXIST); /* it lives */
    kill(pid, SIGKILL);
    assert_int_equal(tu_wait(pid, 20000), 128 + SIGKILL);
    assert_true(listed("victim", &li));
    assert_int_equal(li.state, SS_LOOP_STATE_ENDED);
    char qpath[128];
    snprintf(qpath, sizeof qpath, "/dev/shm/ss-%u-%s-victim-%u",
             (unsigned)geteuid(), g_domain, (unsigned)li.incarnation);
    assert_int_equal(access(qpath, F_OK), -1);
    ss_loop *l = publish("victim", 0);
    assert_true(listed("victim", &li));
    assert_int_equal(li.state, SS_LOOP_STATE_LIVE);
    assert_int_equal(li.pid, getpid());
    ss_loop_free(l);
    tu_shared_free(h, sizeof *h);
}

/* A published loop process: its child owns the entry once started; when
 * it is killed, the parent's watcher records how it ended. */
static void test_loop_process(void **state)
{
    (void)state;
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_process *p;
    assert_int_equal(tu_process_new(&p, "worker", &o), 0);
    ss_loop_info li;
    assert_true(listed("worker", &li));
    assert_int_equal(li.pid, getpid()); /* not started: the parent's */
    assert_int_equal(ss_process_start(p, NULL, NULL), 0);
    /* The child takes the entry over as it starts. */
    int64_t end = tu_now_ns() + SS_SEC(20);
    while (listed("worker", &li) && li.pid != ss_process_pid(p) &&
           tu_now_ns() < end)
        tu_sleep_us(1000);
    assert_int_equal(li.pid, ss_process_pid(p));
    assert_int_equal(li.state, SS_LOOP_STATE_LIVE);
    assert_int_equal(ss_process_kill(p, SIGKILL), 0);
    int status;
    assert_int_equal(ss_process_join(p, SS_SEC(20), &status), 0);
    assert_true(listed("worker", &li));
    assert_int_equal(li.state, SS_LOOP_STATE_ENDED);
    assert_int_equal(li.exit_code, -1);
    assert_int_equal(li.exit_sig, SIGKILL);
    tu_process_free(p);
    /* Ended, its name can be taken again. */
    ss_loop *l = publish("worker", 0);
    ss_loop_free(l);
}

/* ---- checks run in a fresh program (this one, exec'd again): a forked
 * child would share the parent's attachment to the registry ---- */

static const char *g_self;

/* Run this program again with mode and arguments; its exit code. */
static int run_self(const char *mode, const char *a1, const char *a2)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl(g_self, g_self, mode, a1 ? a1 : "", a2 ? a2 : "", (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In another domain: nothing there; a name taken in ours is free there. */
static int mode_other_domain(const char *domain)
{
    char other[48];
    snprintf(other, sizeof other, "%s-other", domain);
    if (ss_domain_set(other) != 0)
        return 1;
    size_t n = 99;
    if (ss_registry_list(NULL, 0, &n) != SS_ENOENT)
        return 2; /* never created */
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_loop *l;
    if (ss_loop_new(&l, "shared-name", &o) != 0)
        return 3;
    ss_loop_info li;
    if (ss_registry_list(&li, 1, &n) != 0 || n != 1 || li.pid != getpid())
        return 4;
    ss_loop_free(l);
    char path[96];
    snprintf(path, sizeof path, "/dev/shm/ss-%u-%s", (unsigned)geteuid(),
             other);
    unlink(path);
    return 0;
}

/* As nobody: this user's queue is refused; so is a registry under
 * nobody's name that another user made. */
static int mode_nobody(const char *domain, const char *qname)
{
    if (setgid(65534) != 0 || setuid(65534) != 0)
        return 1;
    if (ss_domain_set(domain) != 0)
        return 2;
    size_t n = 99;
    if (ss_registry_list(NULL, 0, &n) != SS_EACCES)
        return 3;
    ss_queue *q;
    if (ss_queue_open(&q, qname) != SS_EACCES)
        return 4;
    return 0;
}

/* Listing a damaged registry: SS_EREGISTRY. */
static int mode_list(const char *domain)
{
    if (ss_domain_set(domain) != 0)
        return 1;
    size_t n;
    int rc = ss_registry_list(NULL, 0, &n);
    return rc == SS_EREGISTRY ? 0 : 10 - rc;
}

/* Listing a registry of another layout, twice: SS_EREGISTRY both times,
 * and one log line that says what the file is and what to do. */
static int g_lines, g_told;

static void count_line(ss_log_level level, const char *component,
                       const char *message, void *user_data)
{
    (void)level;
    (void)component;
    (void)user_data;
    g_lines++;
    g_told += strstr(message, "another version") && strstr(message, "rm ");
}

static int mode_list_other(const char *domain)
{
    if (ss_domain_set(domain) != 0)
        return 1;
    ss_log_set_handler(count_line, NULL);
    size_t n;
    for (int i = 0; i < 2; i++)
        if (ss_registry_list(NULL, 0, &n) != SS_EREGISTRY)
            return 2;
    return g_lines == 1 && g_told == 1 ? 0 : 3;
}

static void test_domains(void **state)
{
    (void)state;
    ss_loop *l = publish("shared-name", 0);
    assert_int_equal(run_self("--other-domain", g_domain, NULL), 0);
    ss_loop_info li;
    assert_true(listed("shared-name", &li));
    assert_int_equal(li.pid, getpid());
    ss_loop_free(l);
    /* Bad names. */
    assert_int_equal(ss_domain_set(NULL), SS_EINVAL);
    assert_int_equal(ss_domain_set(""), SS_ENAMETOOLONG);
    assert_int_equal(ss_domain_set("a/b"), SS_ENAMETOOLONG);
    assert_int_equal(
        ss_domain_set("0123456789012345678901234567890123456789"),
        SS_ENAMETOOLONG);
}

/* Another user cannot use this user's domain or loops: as nobody, a
 * probe cannot open this user's queues, and refuses a registry file
 * planted under its own name by someone else. Needs root (to become
 * nobody). */
static void test_other_user(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    ss_loop *l = publish("private", 0);
    ss_loop_info li;
    assert_true(listed("private", &li));
    char qname[128];
    snprintf(qname, sizeof qname, "/ss-%u-%s-private-%u", (unsigned)geteuid(),
             g_domain, (unsigned)li.incarnation);
    /* Planted: a file under nobody's registry name that root owns, which
     * anyone may write (so that the kernel lets nobody open it: the
     * library must refuse it itself, for its owner). */
    char planted[128];
    snprintf(planted, sizeof planted, "/dev/shm/ss-65534-%s", g_domain);
    int fd = open(planted, O_CREAT | O_EXCL | O_RDWR, 0666);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0666), 0);
    close(fd);
    int rc = run_self("--nobody", g_domain, qname);
    unlink(planted);
    assert_int_equal(rc, 0);
    ss_loop_free(l);
}

/* Damaged registry memory: a clear error, nothing followed. */
static void test_damaged(void **state)
{
    (void)state;
    ss_loop *l = publish("intact", 0);
    size_t size;
    unsigned char *p = map_registry(&size);
    /* An entry's state out of range (entries start at 4096, 256 bytes
     * each; state is their second word): this process's list refuses. */
    uint32_t saved;
    unsigned char *first = p + 4096;
    size_t which = 0;
    while (which < 1024 && memcmp(first + 256 * which + 16, "intact", 7) != 0)
        which++;
    assert_true(which < 1024);
    unsigned char *ent = first + 256 * which;
    memcpy(&saved, ent + 4, 4);
    uint32_t bad = 77;
    memcpy(ent + 4, &bad, 4);
    size_t n;
    assert_int_equal(ss_registry_list(NULL, 0, &n), SS_EREGISTRY);
    ss_loop_info li[4];
    assert_int_equal(ss_registry_list(li, 4, &n), SS_EREGISTRY);
    publish("more", SS_EREGISTRY);
    memcpy(ent + 4, &saved, 4);
    assert_int_equal(ss_registry_list(NULL, 0, &n), 0);
    /* The header's magic, then its hash: a fresh process refuses to
     * attach. */
    uint64_t magic;
    memcpy(&magic, p, 8);
    p[0] ^= 1;
    assert_int_equal(run_self("--list", g_domain, NULL), 0);
    p[0] ^= 1;
    p[8] ^= 0x10; /* the version */
    assert_int_equal(run_self("--list", g_domain, NULL), 0);
    p[8] ^= 0x10;
    p[40] ^= 0x01; /* in the hashed header fields */
    assert_int_equal(run_self("--list", g_domain, NULL), 0);
    p[40] ^= 0x01;
    munmap(p, size);
    ss_loop_free(l);
}

/* A registry file of another layout (another version of the library, or
 * not a registry): refused with SS_EREGISTRY, left as it is. */
static void test_other_layout(void **state)
{
    (void)state;
    char dom[48], path[128];
    snprintf(dom, sizeof dom, "%so", g_domain);
    snprintf(path, sizeof path, "/dev/shm/ss-%u-%s", (unsigned)geteuid(), dom);
    int fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 282624), 0); /* (layout 1's size) */
    close(fd);
    int rc = run_self("--list-other", dom, NULL);
    struct stat st;
    int src = stat(path, &st);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(src, 0);
    assert_int_equal(st.st_size, 282624);
}

/* The signals a published loop handles most, as its entry shows them:
 * exact counts, busiest first; a damaged block shows none. */
static void on_any(ss_object *r, const ss_args *args, void *ud)
{
    (void)r;
    (void)args;
    (*(int *)ud)++;
}

static void test_busiest(void **state)
{
    (void)state;
    ss_loop *l = publish("busy", 0);
    static ss_object a, b, c, rx;
    static int calls;
    calls = 0;
    assert_int_equal(ss_object_init(&a, l, "a"), 0);
    assert_int_equal(ss_object_init(&b, l, "b"), 0);
    assert_int_equal(ss_object_init(&c, l, "c"), 0);
    assert_int_equal(ss_object_init(&rx, l, "rx"), 0);
    assert_int_equal(ss_signal_add(&a, "x", "i"), 0);
    assert_int_equal(ss_signal_add(&b, "y", ""), 0);
    assert_int_equal(ss_signal_add(&c, "z", ""), 0);
    assert_int_equal(ss_connect(&a, "x", &rx, on_any, "i", &calls), 0);
    assert_int_equal(ss_connect(&b, "y", &rx, on_any, "", &calls), 0);
    assert_int_equal(ss_connect(&c, "z", &rx, on_any, "", &calls), 0);
    for (int k = 0; k < 300; k++) {
        assert_int_equal(ss_emit(&a, "x", (int32_t)k), 0);
        if (k % 3 == 0)
            assert_int_equal(ss_emit(&b, "y"), 0);
    }
    assert_int_equal(ss_emit(&c, "z"), 0);
    assert_int_equal(ss_loop_stop(l), 0);
    /* What waits: the 401 signals and the stop. */
    size_t pm = 0, pb = 0;
    assert_int_equal(ss_loop_pending(l, &pm, &pb), 0);
    assert_int_equal(pm, 402);
    assert_true(pb > 402 * 4);
    assert_int_equal(ss_loop_pending(NULL, &pm, NULL), SS_EINVAL);
    assert_int_equal(ss_loop_run(l), SS_LOOP_STOPPED);
    assert_int_equal(calls, 401);
    assert_int_equal(ss_loop_pending(l, &pm, NULL), 0);
    assert_int_equal(pm, 0);
    /* Published when the loop stopped. */
    ss_loop_info li;
    assert_true(listed("busy", &li));
    assert_true(li.n_busiest >= 3);
    assert_string_equal(li.busiest[0].name, "busy.a.x");
    assert_int_equal(li.busiest[0].count, 300);
    assert_string_equal(li.busiest[1].name, "busy.b.y");
    assert_int_equal(li.busiest[1].count, 100);
    assert_string_equal(li.busiest[2].name, "busy.c.z");
    assert_int_equal(li.busiest[2].count, 1);

    /* Damage the block: a count of slots out of range, names without
     * their NUL. The list still works and shows none, or cut names. */
    size_t size;
    unsigned char *p = map_registry(&size);
    size_t which = 0;
    while (which < 1024 &&
           memcmp(p + 4096 + 256 * which + 16, "busy", 5) != 0)
        which++;
    assert_true(which < 1024);
    /* Blocks of 512 bytes after the entries and the 256 reply slots. */
    unsigned char *top = p + 4096 + 1024 * 256 + 256 * 64 + 512 * which;
    assert_true(top + 512 <= p + size);
    uint32_t saved, bad = 0xffffff;
    memcpy(&saved, top + 4, 4);
    memcpy(top + 4, &bad, 4);
    assert_true(listed("busy", &li));
    assert_int_equal(li.n_busiest, 0);
    memcpy(top + 4, &saved, 4);
    memset(top + 64, 'q', 56); /* the first name, all 56 bytes */
    assert_true(listed("busy", &li));
    assert_int_equal(li.n_busiest, saved);
    assert_int_equal(strlen(li.busiest[0].name), 55);
    /* An odd sequence number (a writer that died writing): none shown,
     * after a bounded wait. */
    uint32_t odd = 7;
    memcpy(top, &odd, 4);
    assert_true(listed("busy", &li));
    assert_int_equal(li.n_busiest, 0);
    munmap(p, size);
    ss_object_destroy(&a);
    ss_object_destroy(&b);
    ss_object_destroy(&c);
    ss_object_destroy(&rx);
    ss_loop_free(l);
}

/* Whether this process maps a file whose name in /proc/self/maps holds
 * text. */
static bool maps_name(const char *text)
{
    FILE *f = fopen("/proc/self/maps", "re");
    assert_non_null(f);
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

/* /proc and lsof tell whose a queue is: a loop's anonymous queue is
 * labelled with its name, a published loop's named queue carries it. */
static void test_queue_names(void **state)
{
    (void)state;
    ss_loop *a, *b;
    assert_int_equal(ss_loop_new(&a, "plain-loop", NULL), 0);
    assert_true(maps_name("memfd:ss-loop-plain-loop"));
    b = publish("shown", 0);
    char want[96];
    snprintf(want, sizeof want, "/dev/shm/ss-%u-%s-shown-",
             (unsigned)geteuid(), g_domain);
    assert_true(maps_name(want));
    ss_loop_free(b);
    ss_loop_free(a);
}

/* A domain full of the loops of a process that ended without a word:
 * a new loop takes the entry of one of them. */
static int child_fill(void *arg)
{
    (void)arg;
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    o.queue_capacity = 4096;
    for (int i = 0; i < SS_DOMAIN_LOOPS; i++) {
        char name[32];
        snprintf(name, sizeof name, "filler%d", i);
        ss_loop *l;
        int rc = ss_loop_new(&l, name, &o);
        if (rc == SS_ENOMEM)
            return 0; /* full (the other tests' loops count too) */
        if (rc != 0)
            return 1;
    }
    return 0; /* ends without freeing any: their entries stay live */
}

static void test_full_domain(void **state)
{
    (void)state;
    pid_t pid = tu_fork(child_fill, NULL);
    assert_true(pid > 0);
    assert_int_equal(tu_wait(pid, 60000), 0);
    ss_loop *l = publish("after-full", 0);
    ss_loop_info li;
    assert_true(listed("after-full", &li));
    assert_int_equal(li.state, SS_LOOP_STATE_LIVE);
    ss_loop_free(l);
}

static int teardown(void **state)
{
    tu_reap_all();
    tu_process_teardown(state);
    return 0;
}

int main(int argc, char **argv)
{
    g_self = "/proc/self/exe";
    if (argc == 4 && strcmp(argv[1], "--other-domain") == 0)
        return mode_other_domain(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--nobody") == 0)
        return mode_nobody(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "--list") == 0)
        return mode_list(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--list-other") == 0)
        return mode_list_other(argv[2]);
    tu_watchdog(120);
    /* One domain for the whole program (a process attaches once). */
    snprintf(g_domain, sizeof g_domain, "t%d", (int)getpid());
    if (ss_domain_set(g_domain) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_publish_and_list, teardown),
        cmocka_unit_test_teardown(test_dead_owner, teardown),
        cmocka_unit_test_teardown(test_loop_process, teardown),
        cmocka_unit_test_teardown(test_domains, teardown),
        cmocka_unit_test_teardown(test_other_user, teardown),
        cmocka_unit_test_teardown(test_damaged, teardown),
        cmocka_unit_test_teardown(test_other_layout, teardown),
        cmocka_unit_test_teardown(test_busiest, teardown),
        cmocka_unit_test_teardown(test_queue_names, teardown),
        cmocka_unit_test_teardown(test_full_domain, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* The registry, and the queues of loops left for dead. */
    char cmd[192];
    snprintf(cmd, sizeof cmd, "rm -f /dev/shm/ss-%u-%s /dev/shm/ss-%u-%s-*",
             (unsigned)geteuid(), g_domain, (unsigned)geteuid(), g_domain);
    if (system(cmd) != 0)
        print_message("could not remove the domain's files\n");
    return rc;
}

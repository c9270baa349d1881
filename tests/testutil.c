#include "testutil.h"

#include <errno.h>
#include <signal_slot.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TU_MAX_CHILDREN 4096

static pid_t tu_children[TU_MAX_CHILDREN];
static int tu_nchildren;
static pid_t tu_parent;

static void tu_forget(pid_t pid)
{
    for (int i = 0; i < tu_nchildren; i++) {
        if (tu_children[i] == pid) {
            tu_children[i] = tu_children[--tu_nchildren];
            return;
        }
    }
}

pid_t tu_fork(tu_child_fn fn, void *arg)
{
    if (tu_nchildren >= TU_MAX_CHILDREN)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        tu_nchildren = 0; /* the child owns no siblings */
        alarm(0);
        _exit(fn(arg) & 0xff);
    }
    tu_children[tu_nchildren++] = pid;
    return pid;
}

static int tu_status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int tu_wait(pid_t pid, int timeout_ms)
{
    int64_t deadline = tu_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            tu_forget(pid);
            return tu_status_code(status);
        }
        if (r < 0 && errno != EINTR) {
            tu_forget(pid);
            return -1;
        }
        if (tu_now_ns() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            tu_forget(pid);
            fprintf(stderr, "tu_wait: child %d timed out, killed\n", (int)pid);
            return 1000;
        }
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

void tu_reap_all(void)
{
    if (getpid() != tu_parent)
        return;
    for (int i = 0; i < tu_nchildren; i++)
        kill(tu_children[i], SIGKILL);
    for (int i = 0; i < tu_nchildren; i++) {
        int status;
        while (waitpid(tu_children[i], &status, 0) < 0 && errno == EINTR)
            ;
    }
    tu_nchildren = 0;
}

static void tu_on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "watchdog: test took too long, aborting\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    for (int i = 0; i < tu_nchildren; i++)
        kill(tu_children[i], SIGKILL);
    abort();
}

void tu_watchdog(unsigned seconds)
{
    tu_parent = getpid();
    signal(SIGALRM, tu_on_alarm);
    alarm(seconds);
    atexit(tu_reap_all);
}

void *tu_shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) {
        perror("tu_shared_alloc");
        abort();
    }
    return p;
}

void tu_shared_free(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

uint32_t tu_hash32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

int64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t tu_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- test messages and helpers shared by the multi-process tests ---- */


static uint64_t seed_of(uint32_t id, uint32_t seq)
{
    uint64_t s = ((uint64_t)id + 1) * 0x9E3779B97F4A7C15ull;
    s ^= ((uint64_t)seq + 1) * 0xC2B2AE3D27D4EB4Full;
    return s ? s : 1;
}

/* Payload length of message (id, seq): 0..maxpay, deterministic. */
uint32_t tu_msg_pay_len(uint32_t id, uint32_t seq, uint32_t maxpay)
{
    if (maxpay & TU_MSG_FIXED_LEN)
        return maxpay & ~TU_MSG_FIXED_LEN;
    uint64_t s = seed_of(id, seq) ^ 0x5555555555555555ull;
    return (uint32_t)(tu_rand(&s) % ((uint64_t)maxpay + 1));
}

void tu_msg_pay_fill(uint8_t *p, uint32_t id, uint32_t seq, uint32_t len)
{
    uint64_t s = seed_of(id, seq);
    for (uint32_t i = 0; i < len; i += 8) {
        uint64_t r = tu_rand(&s);
        uint32_t k = len - i < 8 ? len - i : 8;
        memcpy(p + i, &r, k);
    }
}

/* Writes message (id, seq) to buf; returns its total length. */
size_t tu_msg_build(uint8_t *buf, uint32_t id, uint32_t seq,
                        uint32_t maxpay)
{
    tu_msg_hdr h;
    h.id = id;
    h.seq = seq;
    h.len = tu_msg_pay_len(id, seq, maxpay);
    tu_msg_pay_fill(buf + TU_MSG_HDR, id, seq, h.len);
    h.sum = tu_hash32(buf + TU_MSG_HDR, h.len);
    memcpy(buf, &h, TU_MSG_HDR);
    return TU_MSG_HDR + h.len;
}

/* Checks a received message. Returns NULL if intact (and sets *id, *seq),
 * else a description of what is wrong. */
const char *tu_msg_check(const void *data, size_t len, uint32_t maxpay,
                             uint32_t nid, uint32_t nseq, uint32_t *id,
                             uint32_t *seq)
{
    uint8_t expect[TU_MSG_MAX_PAYLOAD];
    tu_msg_hdr h;
    if (data == NULL)
        return "NULL data";
    if (len < TU_MSG_HDR)
        return "message shorter than its header";
    memcpy(&h, data, TU_MSG_HDR);
    if (h.id >= nid || h.seq >= nseq)
        return "producer id or seq out of range";
    if (h.len != len - TU_MSG_HDR)
        return "length in header differs from delivered length";
    if (h.len != tu_msg_pay_len(h.id, h.seq, maxpay))
        return "length differs from the length put";
    const uint8_t *p = (const uint8_t *)data + TU_MSG_HDR;
    if (tu_hash32(p, h.len) != h.sum)
        return "payload checksum mismatch";
    tu_msg_pay_fill(expect, h.id, h.seq, h.len);
    if (memcmp(expect, p, h.len) != 0)
        return "payload bytes differ from the bytes put";
    *id = h.id;
    *seq = h.seq;
    return NULL;
}

size_t tu_rec_cost(size_t len)
{
    return SS_QUEUE_RECORD_OVERHEAD + ((len + 7) & ~(size_t)7);
}

void tu_sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Whether child pid has exited, without reaping it (tu_wait reaps). */
bool tu_child_exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return true;
    return si.si_pid == pid;
}

pid_t tu_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

bool tu_wait_asleep(pid_t id, int timeout_ms)
{
    return tu_wait_proc_state(id, 'S', timeout_ms);
}

/* Timeout for one call: mostly forever, sometimes no wait or 1 ms. */
int64_t tu_pick_timeout(uint64_t *rs)
{
    uint64_t r = tu_rand(rs) % 10;
    if (r == 0)
        return SS_NO_WAIT;
    if (r == 1)
        return SS_MSEC(1);
    return SS_WAIT_FOREVER;
}

/* Whether rc is an acceptable "not now" answer for timeout to. */
bool tu_benign_retry(int rc, int64_t to)
{
    if (rc == SS_EAGAIN)
        return to == SS_NO_WAIT;
    if (rc == SS_ETIMEDOUT)
        return to > 0;
    return false;
}


/* ---- loop processes in tests ---- */

#include <pthread.h>

void tu_errs_note(tu_errs *e, int line, const char *what)
{
    if (__atomic_fetch_add(&e->count, 1, __ATOMIC_SEQ_CST) == 0) {
        snprintf(e->first, sizeof e->first, "%s (pid %d)", what,
                 (int)getpid());
        __atomic_store_n(&e->first_line, line, __ATOMIC_SEQ_CST);
    }
}

int tu_check_(tu_errs *e, int ok, int line, const char *what)
{
    if (!ok)
        tu_errs_note(e, line, what);
    return ok;
}

int tu_errs_report(const tu_errs *e, const char *where)
{
    int n = __atomic_load_n(&e->count, __ATOMIC_SEQ_CST);
    if (n)
        fprintf(stderr, "%s: %d failed check(s); first at line %d: %s\n",
                where, n, __atomic_load_n(&e->first_line, __ATOMIC_SEQ_CST),
                e->first);
    return n;
}

#define TU_MAX_PROCS 64
static ss_process *tu_procs[TU_MAX_PROCS];

int tu_process_new(ss_process **out, const char *name,
                   const ss_loop_options *opts)
{
    int rc = ss_process_new(out, name, opts);
    if (rc != 0)
        return rc;
    for (int i = 0; i < TU_MAX_PROCS; i++) {
        if (!tu_procs[i]) {
            tu_procs[i] = *out;
            return 0;
        }
    }
    return 0; /* not remembered: teardown cannot help, the test still runs */
}

void tu_process_free(ss_process *p)
{
    for (int i = 0; i < TU_MAX_PROCS; i++)
        if (tu_procs[i] == p)
            tu_procs[i] = NULL;
    ss_process_free(p);
}

int tu_process_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < TU_MAX_PROCS; i++) {
        ss_process *p = tu_procs[i];
        if (!p)
            continue;
        tu_procs[i] = NULL;
        if (ss_process_kill(p, SIGKILL) == 0 || ss_process_is_alive(p))
            ss_process_join(p, SS_SEC(10), NULL);
    }
    return 0;
}

#define TU_MAX_EXITS 64

struct tu_exits {
    ss_loop *loop;
    ss_object obj;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    struct {
        char name[SS_NAME_MAX + 1];
        int code, sig, count;
    } e[TU_MAX_EXITS];
};

static void tu_exits_on_exited(ss_object *receiver, const ss_args *args,
                               void *ud)
{
    tu_exits *x = ud;
    const char *loop = NULL;
    int32_t code = 0, sig = 0;
    (void)receiver;
    ss_args_sender(args, &loop, NULL, NULL);
    if (!loop || ss_args_unpack(args, "ii", &code, &sig) != 0)
        return;
    pthread_mutex_lock(&x->mu);
    int k;
    for (k = 0; k < x->n; k++)
        if (strcmp(x->e[k].name, loop) == 0)
            break;
    if (k < TU_MAX_EXITS) {
        if (k == x->n) {
            snprintf(x->e[k].name, sizeof x->e[k].name, "%s", loop);
            x->n++;
        }
        x->e[k].code = code;
        x->e[k].sig = sig;
        x->e[k].count++;
    }
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

tu_exits *tu_exits_new(const char *loop_name)
{
    tu_exits *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    if (ss_loop_new(&x->loop, loop_name, NULL) != 0) {
        free(x);
        return NULL;
    }
    if (ss_object_init(&x->obj, x->loop, "exits") != 0 ||
        ss_loop_start_thread(x->loop) != 0) {
        ss_loop_free(x->loop);
        free(x);
        return NULL;
    }
    return x;
}

int tu_exits_watch(tu_exits *x, ss_process *p)
{
    return ss_connect(ss_process_object(p), "exited", &x->obj,
                      tu_exits_on_exited, "ii", x);
}

int tu_exits_wait(tu_exits *x, const char *name, int64_t timeout_ns,
                  int *code, int *sig, int *count)
{
    int64_t deadline = tu_now_ns() + timeout_ns;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        for (int k = 0; k < x->n; k++) {
            if (strcmp(x->e[k].name, name) == 0) {
                if (code)
                    *code = x->e[k].code;
                if (sig)
                    *sig = x->e[k].sig;
                if (count)
                    *count = x->e[k].count;
                pthread_mutex_unlock(&x->mu);
                return 0;
            }
        }
        int64_t left = deadline - tu_now_ns();
        if (left <= 0)
            break;
        /* The condition variable uses CLOCK_REALTIME: wait in short steps. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t step = left < 10000000 ? left : 10000000;
        ts.tv_nsec += (long)step;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&x->cv, &x->mu, &ts);
    }
    pthread_mutex_unlock(&x->mu);
    return SS_ETIMEDOUT;
}

void tu_exits_free(tu_exits *x)
{
    if (!x)
        return;
    ss_loop_stop(x->loop);
    ss_loop_join_thread(x->loop, NULL);
    ss_object_destroy(&x->obj);
    ss_loop_free(x->loop);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

static long tu_drop_line_count;

static void tu_quiet_drops_fn(ss_log_level level, const char *component,
                              const char *message, void *ud)
{
    (void)ud;
    if (strstr(message, "drops of this signal so far")) {
        __atomic_fetch_add(&tu_drop_line_count, 1, __ATOMIC_RELAXED);
        return;
    }
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    fprintf(stderr, "[%d] %s %s: %s\n", (int)getpid(),
            (unsigned)level < 4 ? names[level] : "?", component, message);
}

void tu_log_quiet_drops(void)
{
    ss_log_set_handler(tu_quiet_drops_fn, NULL);
}

long tu_drop_lines(void)
{
    return __atomic_load_n(&tu_drop_line_count, __ATOMIC_RELAXED);
}

bool tu_proc_stat(pid_t pid, char *state, uint64_t *start)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: the fields that
     * follow start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return false;
    *state = p[2];
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (!p)
        return false;
    *start = strtoull(p + 1, NULL, 10);
    return true;
}

bool tu_wait_proc_state(pid_t pid, char state, int timeout_ms)
{
    int64_t end = tu_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        char st = 0;
        uint64_t start;
        bool known = tu_proc_stat(pid, &st, &start);
        if (known && st == state)
            return true;
        /* gone: it will never get there */
        if (!known || st == 'Z' || st == 'X' || tu_now_ns() >= end)
            return false;
        tu_sleep_us(200);
    }
}

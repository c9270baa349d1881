/*
 * tools/ss_ls.c - ss-ls: the loops published in a domain of this user
 * (signal_slot/registry.h), with their process, state, queue and
 * counters. Reads the registry without stopping anything.
 *
 *   ss-ls [--domain D] [--all] [--json] [--watch [SECONDS]]
 */
#define _POSIX_C_SOURCE 200809L
#include <signal_slot.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ss-ls [--domain D] [--all] [--json] [--watch [SECONDS]]\n"
            "\n"
            "The loops published in a domain of this user: name, owner\n"
            "process, state, messages and bytes in its queue, messages its\n"
            "loop handled (in), signals its objects emitted (out), messages\n"
            "for it that were dropped; under each, the signals it handled\n"
            "most (the emitter's loop.object.signal, and how many).\n"
            "\n"
            "  --domain D   the domain (default: SS_DOMAIN, else \"default\")\n"
            "  --all        also the loops that ended (and how)\n"
            "  --json       one JSON object per loop\n"
            "  --watch [S]  refresh every S seconds (default 1), like top;\n"
            "               with rates per second\n"
            "  --help       this text\n"
            "\n"
            "Exit status: 0, 1 if the registry cannot be read, 2 usage.\n");
}

static volatile sig_atomic_t g_stop;

static void on_int(int sig)
{
    (void)sig;
    g_stop = 1;
}

static const char *state_name(const ss_loop_info *li)
{
    return li->state == SS_LOOP_STATE_LIVE ? "live" : "ended";
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

/* The previous snapshot, for rates (watch mode). */
static ss_loop_info *g_prev;
static size_t g_nprev;
static double g_prev_t;

static const ss_loop_info *previous(const ss_loop_info *li)
{
    for (size_t i = 0; i < g_nprev; i++)
        if (g_prev[i].incarnation == li->incarnation &&
            strcmp(g_prev[i].name, li->name) == 0)
            return &g_prev[i];
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int show(bool all, bool json, bool watch)
{
    size_t n = 0;
    int rc = ss_registry_list(NULL, 0, &n);
    if (rc == SS_ENOENT) {
        n = 0;
    } else if (rc != 0) {
        fprintf(stderr, "ss-ls: domain %s: %s\n", ss_domain_name(),
                ss_strerror(rc));
        return 1;
    }
    ss_loop_info *li = calloc(n + 1, sizeof *li);
    if (!li)
        return 1;
    size_t got = n;
    if (n && (rc = ss_registry_list(li, n, &got)) != 0) {
        fprintf(stderr, "ss-ls: domain %s: %s\n", ss_domain_name(),
                ss_strerror(rc));
        free(li);
        return 1;
    }
    if (got > n)
        got = n;
    double t = now_s(), dt = t - g_prev_t;
    if (!json) {
        if (watch)
            printf("\033[H\033[J");
        printf("domain %s: %zu loop(s)\n", ss_domain_name(), got);
        printf("%-24s %-6s %8s %9s %10s %10s %12s %12s %10s%s\n", "NAME",
               "STATE", "PID", "QUEUED", "BYTES", "CAPACITY", "IN", "OUT",
               "DROPS", watch ? "     IN/s    OUT/s" : "");
    }
    for (size_t i = 0; i < got; i++) {
        const ss_loop_info *l = &li[i];
        if (!all && l->state != SS_LOOP_STATE_LIVE)
            continue;
        if (json) {
            printf("{\"domain\":");
            json_string(ss_domain_name());
            printf(",\"name\":");
            json_string(l->name);
            printf(",\"state\":\"%s\",\"pid\":%d,\"incarnation\":%u,"
                   "\"queue_msgs\":%llu,\"queue_bytes\":%llu,"
                   "\"queue_capacity\":%llu,\"msgs_in\":%llu,"
                   "\"signals_out\":%llu,\"drops\":%llu",
                   state_name(l), (int)l->pid, (unsigned)l->incarnation,
                   (unsigned long long)l->queue_msgs,
                   (unsigned long long)l->queue_bytes,
                   (unsigned long long)l->queue_capacity,
                   (unsigned long long)l->msgs_in,
                   (unsigned long long)l->signals_out,
                   (unsigned long long)l->drops);
            if (l->state != SS_LOOP_STATE_LIVE)
                printf(",\"exit_code\":%d,\"exit_signal\":%d", l->exit_code,
                       l->exit_sig);
            printf(",\"busiest\":[");
            for (size_t k = 0; k < l->n_busiest; k++) {
                printf("%s{\"signal\":", k ? "," : "");
                json_string(l->busiest[k].name);
                printf(",\"count\":%llu}",
                       (unsigned long long)l->busiest[k].count);
            }
            printf("]}\n");
            continue;
        }
        char how[32] = "";
        if (l->state != SS_LOOP_STATE_LIVE)
            snprintf(how, sizeof how, l->exit_sig ? " (signal %d)"
                                     : l->exit_code >= 0 ? " (exit %d)"
                                                         : "",
                     l->exit_sig ? l->exit_sig : l->exit_code);
        printf("%-24s %-6s %8d %9llu %10llu %10llu %12llu %12llu %10llu",
               l->name, state_name(l), (int)l->pid,
               (unsigned long long)l->queue_msgs,
               (unsigned long long)l->queue_bytes,
               (unsigned long long)l->queue_capacity,
               (unsigned long long)l->msgs_in,
               (unsigned long long)l->signals_out,
               (unsigned long long)l->drops);
        const ss_loop_info *p = watch ? previous(l) : NULL;
        if (p && dt > 0)
            printf(" %8.0f %8.0f", (double)(l->msgs_in - p->msgs_in) / dt,
                   (double)(l->signals_out - p->signals_out) / dt);
        printf("%s\n", how);
        /* The three busiest signals, on a line of their own. */
        for (size_t k = 0; k < l->n_busiest && k < 3; k++)
            printf("%s%s %llu", k ? ", " : "    busiest: ",
                   l->busiest[k].name,
                   (unsigned long long)l->busiest[k].count);
        if (l->n_busiest)
            printf("\n");
    }
    fflush(stdout);
    free(g_prev);
    g_prev = li;
    g_nprev = got;
    g_prev_t = t;
    return 0;
}

int main(int argc, char **argv)
{
    bool all = false, json = false, watch = false;
    double every = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--all") == 0) {
            all = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--watch") == 0) {
            watch = true;
            if (i + 1 < argc && argv[i + 1][0] != '-') {
                char *end;
                every = strtod(argv[++i], &end);
                if (*end || every < 0.05 || every > 3600) {
                    fprintf(stderr, "ss-ls: bad --watch interval '%s'\n",
                            argv[i]);
                    return 2;
                }
            }
        } else if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc) {
            int rc = ss_domain_set(argv[++i]);
            if (rc != 0) {
                fprintf(stderr, "ss-ls: bad domain '%s': %s\n", argv[i],
                        ss_strerror(rc));
                return 2;
            }
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!watch)
        return show(all, json, false);
    signal(SIGINT, on_int);
    while (!g_stop) {
        int rc = show(all, json, true);
        if (rc != 0)
            return rc;
        struct timespec ts = {(time_t)every,
                              (long)((every - (time_t)every) * 1e9)};
        nanosleep(&ts, NULL);
    }
    return 0;
}

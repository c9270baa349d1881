/*
 * bench/ss_bench.c - entry point of ss-bench: a table of subcommands and
 * the small helpers every subcommand shares.
 *
 * A subcommand is one row of the table below; adding one (the signal
 * benchmark of a later issue) means adding a file with its main and usage
 * functions and one row here.
 */
#include "bench.h"

#include <signal_slot.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct subcommand {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *f);
} subcommand;

static const subcommand subcommands[] = {
    {"queue", "throughput of ss_queue vs pipe, socketpair, POSIX mq, ZeroMQ",
     bench_queue_main, bench_queue_usage},
    {"latency", "round-trip latency of ss_queue (block, spin) vs a pipe pair",
     bench_latency_main, bench_latency_usage},
    {"signal", "signals across threads, processes, the registry; connect time",
     bench_signal_main, bench_signal_usage},
    {"memory", "private memory of an idle loop process vs a plain fork",
     bench_memory_main, bench_memory_usage},
    {"scale", "set-up and dispatch cost at 10 to 100,000 objects on a loop",
     bench_scale_main, bench_scale_usage},
    {"net", "between two network namespaces: raw ZeroMQ (root only)",
     bench_net_main, bench_net_usage},
};

#define N_SUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: ss-bench <subcommand> [options]\n"
               "       ss-bench <subcommand> --help\n\nsubcommands:\n");
    for (size_t i = 0; i < N_SUBCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", subcommands[i].name,
                subcommands[i].summary);
    fprintf(f, "\nExit status: 0 every run validated, 1 a run failed, "
               "2 usage error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < N_SUBCOMMANDS; i++) {
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "ss-bench: unknown subcommand '%s'\n\n", argv[1]);
    usage(stderr);
    return BENCH_EXIT_USAGE;
}

/* ---- shared helpers ---- */

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One buffer per process is enough: every process of ss-bench runs a
 * single thread, and a child only ever reports its first failure. */
static char error_text[256];

void bench_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_text, sizeof error_text, fmt, ap);
    va_end(ap);
}

const char *bench_error(void)
{
    return error_text[0] ? error_text : "unknown error";
}

bool bench_opt(int argc, char **argv, int *i, const char *name,
               const char **value)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0)
        return false;
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return true;
    }
    if (arg[len] != '\0')
        return false;
    if (*i + 1 < argc) {
        *i += 1;
        *value = argv[*i];
    } else {
        *value = NULL;
    }
    return true;
}

int bench_emit_xs(ss_object *src, const char *signal, int64_t first, int k,
                  bool batched, const char *text)
{
    if (!batched)
        return ss_emit(src, signal, first, text);
    static unsigned char enc[BENCH_MAX_BATCH][64];
    ss_msg payloads[BENCH_MAX_BATCH];
    for (int j = 0; j < k; j++) {
        ss_writer w;
        ss_writer_init(&w, enc[j], sizeof enc[j]);
        ss_pack(&w, "xs", (int64_t)(first + j), text);
        ss_writer_data(&w, &payloads[j].data, &payloads[j].len);
    }
    return ss_emit_many(src, signal, payloads, (size_t)k);
}

bool bench_parse_scale(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v <= 0 ||
        v > 1000)
        return false;
    *out = v;
    return true;
}

bool bench_parse_only(const char *list, const char *const *names,
                      size_t count, uint32_t *mask)
{
    uint32_t m = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        size_t i;
        for (i = 0; i < count; i++) {
            if (strlen(names[i]) == len && strncmp(p, names[i], len) == 0)
                break;
        }
        if (i == count) {
            fprintf(stderr, "ss-bench: unknown implementation '%.*s' in "
                            "--only; valid:", (int)len, p);
            for (i = 0; i < count; i++)
                fprintf(stderr, " %s", names[i]);
            fprintf(stderr, "\n");
            return false;
        }
        m |= 1u << i;
        p += len;
        if (*p == ',')
            p++;
    }
    if (m == 0) {
        fprintf(stderr, "ss-bench: --only needs at least one name\n");
        return false;
    }
    *mask = m;
    return true;
}

void bench_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

const char *bench_fmt_rate(char *buf, size_t size, double per_s)
{
    if (per_s >= 1e6)
        snprintf(buf, size, "%.2fM", per_s / 1e6);
    else if (per_s >= 1e3)
        snprintf(buf, size, "%.1fK", per_s / 1e3);
    else
        snprintf(buf, size, "%.0f", per_s);
    return buf;
}

int bench_ss_fail(const char *call, int rc)
{
    bench_set_error("%s: %s (%s)", call, ss_errname(rc), ss_strerror(rc));
    return -1;
}

/*
 * bench/bench.h - shared declarations of ss-bench.
 *
 * ss-bench is split in these files:
 *   ss_bench.c      main(), the subcommand table and small shared helpers
 *                   (clock, option parsing, error text, JSON strings);
 *   bench_queue.c   "ss-bench queue": the generic multi-process harness
 *                   (fork, start barrier, validation, timing) and the
 *                   ss_queue implementation of the transport ops;
 *   baselines.c     the same ops for pipe, socketpair, POSIX mq and ZeroMQ;
 *   bench_latency.c "ss-bench latency": ping-pong round trips;
 *   bench_signal.c  "ss-bench signal": signals between loops (threads,
 *                   processes), with heap allocations per emitted signal;
 *   bench_remote.c  its rows between two independently started processes
 *                   that find each other through the registry (ss-bench
 *                   re-executes itself as the peer), and the time from a
 *                   connect call to the first delivery;
 *   bench_memory.c  "ss-bench memory": private memory of an idle loop
 *                   process against a plain fork;
 *   bench_net.c     "ss-bench net": between two network namespaces (raw
 *                   ZeroMQ today; the bridge of docs/bridge.md later);
 *   bench_alloc.c   malloc & co. forwarding to glibc, counting the calls
 *                   of one thread (for bench_signal.c).
 *
 * The harness knows nothing about any transport: each one is a bench_ops
 * table, so that every implementation runs exactly the same traffic, the
 * same checks and the same clock.
 */
#ifndef SS_BENCH_H
#define SS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "signal_slot/queue.h"

/* Exit codes: 0 all ran and validated, 1 a run failed, 2 usage error. */
#define BENCH_EXIT_FAIL 1
#define BENCH_EXIT_USAGE 2

/* Upper bounds of a --config PxC, so that results fit a fixed shared
 * block sized before the fork. */
#define BENCH_MAX_PRODUCERS 64
#define BENCH_MAX_CONSUMERS 64
#define BENCH_MAX_BATCH 1000

/* ---- helpers from ss_bench.c ---- */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Record an error message for the current operation (printf-style). The
 * text is process-local; bench_error() returns the last one. Transports
 * report failures this way so that the harness can show the cause. */
void bench_set_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* bench_ss_fail - record "call: SS_EXXX (message)" for a failed ss_* call
 * rc via bench_set_error(); returns -1. */
int bench_ss_fail(const char *call, int rc);
const char *bench_error(void);

/* Match argv[*i] against option name, in both "--name value" and
 * "--name=value" forms. Returns false if it is another option. On a match
 * *value is the value (NULL if it is missing) and *i is advanced past a
 * separate value argument. */
bool bench_opt(int argc, char **argv, int *i, const char *name,
               const char **value);

/* Parse "--scale" values: a finite number > 0 and <= 1000. */
bool bench_parse_scale(const char *s, double *out);

/* Parse a comma list of names into a bit mask over names[0..count). An
 * unknown name prints an error naming the valid ones and returns false. */
bool bench_parse_only(const char *list, const char *const *names,
                      size_t count, uint32_t *mask);

/* Write s as a JSON string literal (quotes included) to f. */
void bench_json_string(FILE *f, const char *s);

/* Format a rate as "5.12M" / "812.3K" into buf. */
const char *bench_fmt_rate(char *buf, size_t size, double per_s);

/* ---- allocation counting (bench_alloc.c) ---- */

/* Whether allocations can be counted in this build (false under
 * sanitizers, which replace malloc: report "n/a" then). */
bool bench_alloc_available(void);
/* Start counting malloc/calloc/realloc/aligned allocations made by the
 * calling thread, from zero. */
void bench_alloc_start(void);
/* Stop counting on the calling thread; returns the count since start. */
uint64_t bench_alloc_stop(void);

/* ---- transport ops (bench_queue.c drives them) ---- */

/* Parameters of one run, fixed before the fork and inherited by every
 * child. */
typedef struct bench_params {
    int producers;
    int consumers;
    size_t msg_size;      /* every message, end markers included */
    size_t batch;         /* most messages a consumer takes per receive */
    uint64_t per_producer; /* data messages each producer sends */
} bench_params;

/*
 * A transport under test. Every function returns 0 (or a count) on success
 * and -1 on failure after bench_set_error().
 *
 * Life cycle of one run:
 *   parent: setup()                       before any fork
 *   child:  consumer_open() / producer_open()  after its fork, before the
 *           start barrier; then only recv / send; then endpoint_close()
 *   parent: send_end() once per consumer after all producers exited
 *   parent: teardown()                    always, even after a failure
 *
 * The implementation state made by setup() lives in the parent's memory
 * and is inherited by the children through fork(); endpoints are
 * per-process.
 */
typedef struct bench_ops {
    const char *name;  /* "ss_queue", "pipe", ... (JSON "impl") */
    /* false: there is no batch receive, consumer_recv() returns one
     * message whatever max is (the human table marks those rows). */
    bool native_batch;
    /* true: an end marker may be delivered before data that was sent
     * earlier by another process (ZeroMQ fair-queues its connections), so
     * a consumer that takes one must keep draining until every message of
     * the run is accounted for. false: the transport is one FIFO, data
     * always precedes the markers. */
    bool end_may_overtake;

    int (*setup)(void **impl, const bench_params *p);
    int (*producer_open)(void *impl, int index, void **ep);
    /* Send one message, blocking while the transport is full. */
    int (*producer_send)(void *ep, const void *msg, size_t len);
    int (*consumer_open)(void *impl, int index, void **ep);
    /*
     * Take up to max (1..batch) messages. msgs[i] point into a buffer the
     * endpoint owns, valid until the next call. timeout_ms < 0 blocks until
     * a message arrives. Returns the count (>= 1), 0 if timeout_ms >= 0
     * elapsed with nothing, -1 on error.
     */
    int (*consumer_recv)(void *ep, size_t max, ss_msg *msgs, int timeout_ms);
    /* Release a child's endpoint (the child exits right after). */
    void (*endpoint_close)(void *ep);
    /* Parent: deliver one end marker (msg, len) so that one consumer (for
     * a shared FIFO: any; for per-consumer sockets: consumer) stops. Must
     * not block longer than timeout_ms. */
    int (*send_end)(void *impl, int consumer, const void *msg, size_t len,
                    int timeout_ms);
    /* Parent: release everything setup() made (names, files too). */
    void (*teardown)(void *impl);
    /* Optional: a note for the human table about the settings the last
     * setup() could get (e.g. the POSIX mq depth), NULL if none. */
    const char *(*describe)(void);
} bench_ops;

/* The baselines of baselines.c. */
extern const bench_ops bench_pipe_ops;
extern const bench_ops bench_socketpair_ops;
extern const bench_ops bench_posix_mq_ops;
extern const bench_ops bench_zmq_ops;

/* For "ss-bench signal" (bench_queue.c): one run of ss_queue between two
 * processes, 1 producer x 1 consumer, 40-byte messages, single puts and
 * single gets (the 1x1 batch-1 cell of "ss-bench queue"), msgs messages.
 * Messages per second, or -1 with the reason in err. */
double bench_queue_1x1_single(uint64_t msgs, char *err, size_t err_size);

/* ---- "ss-bench signal" across the registry (bench_remote.c) ---- */

/* The string every throughput signal carries (with an int64 sequence). */
#define BENCH_SIGNAL_TEXT "hello, slot"

/* bench_emit_xs - emit signal of src with the payloads (first + j, text)
 * for j in 0..k-1 (signature "xs"): one ss_emit() if !batched (k is then
 * 1), else one ss_emit_many() (k <= BENCH_MAX_BATCH, encoded into static
 * buffers: no allocation; one thread at a time). Returns as they do. */
struct ss_object;
int bench_emit_xs(struct ss_object *src, const char *signal, int64_t first,
                  int k, bool batched, const char *text);

/* What the exec'd peer received in one throughput run. */
typedef struct bench_remote_counts {
    int64_t got;          /* "item" messages delivered to its slot */
    int64_t out_of_order; /* deliveries whose sequence number was not the
                             previous one + 1 (the first must be 0) */
    int64_t malformed;    /* deliveries that did not unpack as expected */
} bench_remote_counts;

/* Connect latency figures of one run, in microseconds. */
typedef struct bench_connect_lat {
    double call_p50, call_p99;   /* ss_connect_slot() call */
    double first_p50, first_p99; /* its start to the slot's first call in
                                    the peer */
    double disc_p50, disc_p99;   /* ss_disconnect_slot() call */
} bench_connect_lat;

/* Set the private domain "bench<pid>" (before any loop exists). */
int bench_remote_init(void);
/* Remove the domain's shared memory (registry and leftover queues). */
void bench_remote_cleanup(void);
/* The hidden peer mode: argv[0] is "--registry-peer". */
int bench_remote_peer_main(int argc, char **argv);
/* n (int64, string) signals from a published loop of this process to a
 * slot by name of a freshly exec'd peer, single emits (batch 1) or
 * ss_emit_many batches; retried while its queue is full. Messages per
 * second, or -1 on a failure (bench_error()); *counts what the peer got
 * (also after a failure, as far as known). */
double bench_remote_throughput(int64_t n, int batch, uint64_t *retries,
                               uint64_t *allocs, bench_remote_counts *counts);
/* cycles connect / emit / wait / disconnect cycles against a freshly
 * exec'd peer (after warm-up cycles). 0, or -1 (bench_error()). */
int bench_remote_connect(int cycles, bench_connect_lat *out);

/* Subcommands (argv[0] is the subcommand name). Return the exit code. */
int bench_queue_main(int argc, char **argv);
int bench_latency_main(int argc, char **argv);
void bench_queue_usage(FILE *f);
void bench_latency_usage(FILE *f);
int bench_signal_main(int argc, char **argv);
void bench_signal_usage(FILE *f);
int bench_memory_main(int argc, char **argv);
void bench_memory_usage(FILE *f);
int bench_scale_main(int argc, char **argv);
void bench_scale_usage(FILE *f);
int bench_net_main(int argc, char **argv);
void bench_net_usage(FILE *f);

#endif /* SS_BENCH_H */

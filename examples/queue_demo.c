/*
 * queue_demo.c - the shared-memory queue across processes.
 *
 * The main process creates an anonymous queue and forks three producer
 * processes. Each sends 100000 small messages, then the main process reads
 * them all in batches, checks that every producer's messages arrived in
 * order, and prints what the queue counted.
 *
 *   ./queue_demo [messages_per_producer]
 */
#include <signal_slot.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PRODUCERS 3

struct message {
    int producer;
    int seq;
    char text[32];
};

static int produce(ss_queue *q, int id, int count)
{
    for (int i = 0; i < count; i++) {
        struct message m = {id, i, ""};
        snprintf(m.text, sizeof m.text, "hello %d from %d", i, id);
        int rc = ss_queue_put(q, &m, sizeof m, SS_WAIT_FOREVER);
        if (rc != 0) {
            fprintf(stderr, "producer %d: put: %s\n", id, ss_strerror(rc));
            return 1;
        }
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 100000;
    if (count <= 0) {
        fprintf(stderr, "usage: %s [messages_per_producer]\n", argv[0]);
        return 2;
    }

    ss_queue_options opts;
    ss_queue_options_init(&opts);
    opts.capacity = 1 << 20; /* 1 MiB ring */
    ss_queue *q;
    int rc = ss_queue_create(&q, &opts);
    if (rc != 0) {
        fprintf(stderr, "ss_queue_create: %s\n", ss_strerror(rc));
        return 1;
    }
    printf("queue: %zu bytes of ring, messages up to %zu bytes\n",
           ss_queue_capacity(q), ss_queue_max_msg_size(q));

    double t0 = now_s();
    pid_t pids[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            int code = produce(q, p, count);
            ss_queue_destroy(q); /* the child's own handle */
            _exit(code);
        }
    }

    /* Read in batches of up to 256 messages with one synchronisation each. */
    int next[PRODUCERS] = {0};
    long received = 0, total = (long)count * PRODUCERS;
    static char buf[256 * 64];
    ss_msg msgs[256];
    while (received < total) {
        size_t n;
        rc = ss_queue_get_many(q, buf, sizeof buf, msgs, 256, &n, SS_SEC(10));
        if (rc != 0) {
            fprintf(stderr, "get_many: %s\n", ss_strerror(rc));
            break;
        }
        for (size_t i = 0; i < n; i++) {
            struct message m;
            memcpy(&m, msgs[i].data, sizeof m);
            if (m.producer < 0 || m.producer >= PRODUCERS ||
                m.seq != next[m.producer]) {
                fprintf(stderr, "out of order: producer %d seq %d\n",
                        m.producer, m.seq);
                return 1;
            }
            next[m.producer]++;
            if (m.seq % (count / 2 > 0 ? count / 2 : 1) == 0)
                printf("received \"%s\"\n", m.text);
        }
        received += (long)n;
    }
    double secs = now_s() - t0;

    int failed = 0;
    for (int p = 0; p < PRODUCERS; p++) {
        int status;
        waitpid(pids[p], &status, 0);
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }

    ss_queue_stats st;
    ss_queue_get_stats(q, &st);
    printf("received %ld messages from %d processes in %.3f s (%.2f M msgs/s), "
           "all in order\n",
           received, PRODUCERS, secs, (double)received / secs / 1e6);
    printf("queue counters: put %llu, got %llu, held %llu, refused %llu\n",
           (unsigned long long)st.put_total, (unsigned long long)st.got_total,
           (unsigned long long)st.msgs, (unsigned long long)st.refused_full);
    ss_queue_destroy(q);
    if (failed || received != total) {
        fprintf(stderr, "FAILED\n");
        return 1;
    }
    printf("Done!\n");
    return 0;
}

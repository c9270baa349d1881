/*
 * queue_peer.c - a separate program that opens named queues by name, run
 * by test_queue_named through fork + exec. Its exit code is its verdict
 * (0 = success); it never waits forever (alarm).
 *
 *   queue_peer echo REQ REP COUNT
 *       Open REQ and REP; take COUNT messages from REQ (COUNT < 0: until REQ
 *       is closed and drained, then close REP) and put each one, transformed
 *       (bytes reversed, each XOR 0x5A), into REP.
 *   queue_peer produce NAME COUNT
 *       Open NAME and put COUNT messages: message i is 4 bytes of i followed
 *       by (i % 300) bytes of value (i & 0xff).
 *   queue_peer info NAME CAPACITY MAX_MSGS MAX_MSG_SIZE
 *       Open NAME and check its sizes, as a creator in another process set
 *       them.
 *   queue_peer open NAME
 *       Open NAME; the exit code is -rc (0 on success).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "signal_slot/error.h"
#include "signal_slot/queue.h"

#define PEER_TIMEOUT SS_SEC(30)
#define PEER_BUF (1u << 20)

static int open_or_report(ss_queue **q, const char *name)
{
    int rc = ss_queue_open(q, name);
    if (rc != 0)
        fprintf(stderr, "queue_peer: open %s: %s\n", name, ss_errname(rc));
    return rc;
}

static int do_echo(const char *req_name, const char *rep_name, long count)
{
    ss_queue *req = NULL, *rep = NULL;
    if (open_or_report(&req, req_name) != 0)
        return 2;
    if (open_or_report(&rep, rep_name) != 0) {
        ss_queue_destroy(req);
        return 3;
    }
    unsigned char *in = malloc(PEER_BUF), *out = malloc(PEER_BUF);
    if (!in || !out)
        return 4;
    int result = 0;
    for (long i = 0; count < 0 || i < count; i++) {
        size_t len = 0;
        int rc = ss_queue_get(req, in, PEER_BUF, &len, PEER_TIMEOUT);
        if (rc == SS_ECLOSED && count < 0)
            break;
        if (rc != 0) {
            fprintf(stderr, "queue_peer: get #%ld: %s\n", i, ss_errname(rc));
            result = 5;
            break;
        }
        for (size_t k = 0; k < len; k++)
            out[k] = (unsigned char)(in[len - 1 - k] ^ 0x5A);
        rc = ss_queue_put(rep, out, len, PEER_TIMEOUT);
        if (rc != 0) {
            fprintf(stderr, "queue_peer: put #%ld: %s\n", i, ss_errname(rc));
            result = 6;
            break;
        }
    }
    if (result == 0 && count < 0 && ss_queue_close(rep) != 0)
        result = 7;
    free(in);
    free(out);
    ss_queue_destroy(req);
    ss_queue_destroy(rep);
    return result;
}

static int do_produce(const char *name, long count)
{
    ss_queue *q = NULL;
    if (open_or_report(&q, name) != 0)
        return 2;
    unsigned char m[4 + 300];
    int result = 0;
    for (long i = 0; i < count; i++) {
        uint32_t s = (uint32_t)i;
        size_t extra = (size_t)(i % 300);
        memcpy(m, &s, 4);
        memset(m + 4, (int)(i & 0xff), extra);
        int rc = ss_queue_put(q, m, 4 + extra, PEER_TIMEOUT);
        if (rc != 0) {
            fprintf(stderr, "queue_peer: put #%ld: %s\n", i, ss_errname(rc));
            result = 5;
            break;
        }
    }
    ss_queue_destroy(q);
    return result;
}

static int do_info(const char *name, unsigned long long cap,
                   unsigned long long max_msgs, unsigned long long max_msg)
{
    ss_queue *q = NULL;
    if (open_or_report(&q, name) != 0)
        return 2;
    int result = 0;
    ss_queue_stats st;
    if (ss_queue_get_stats(q, &st) != 0)
        result = 3;
    else if (ss_queue_capacity(q) != cap || st.capacity != cap)
        result = 4;
    else if (st.max_msgs != max_msgs)
        result = 5;
    else if (ss_queue_max_msg_size(q) != max_msg || st.max_msg_size != max_msg)
        result = 6;
    ss_queue_destroy(q);
    return result;
}

static int do_open(const char *name)
{
    ss_queue *q = NULL;
    int rc = ss_queue_open(&q, name);
    if (rc == 0)
        ss_queue_destroy(q);
    return -rc;
}

int main(int argc, char **argv)
{
    alarm(60); /* never outlive a broken test */
    if (argc == 5 && strcmp(argv[1], "echo") == 0)
        return do_echo(argv[2], argv[3], strtol(argv[4], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "produce") == 0)
        return do_produce(argv[2], strtol(argv[3], NULL, 10));
    if (argc == 6 && strcmp(argv[1], "info") == 0)
        return do_info(argv[2], strtoull(argv[3], NULL, 10),
                       strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "open") == 0)
        return do_open(argv[2]);
    fprintf(stderr, "usage: queue_peer echo REQ REP COUNT | produce NAME COUNT |"
                    " info NAME CAP MAX_MSGS MAX_MSG_SIZE | open NAME\n");
    return 100;
}

/*
 * bridge_fuzz.c - a hostile peer for test_bridge.sh: an authenticated
 * bridge (its key is one the attacked bridge knows) that sends malformed
 * and random frames: random bytes; good headers with random kinds and
 * bodies; lists, batches, requests and replies whose counts and lengths
 * run past their ends, with names of 0 or 255 bytes, NULs inside, records
 * of wrong kinds, versions and lengths, control records with bad
 * operations and strings. The attacked bridge must drop and count them
 * all, and go on serving (the test checks both).
 *
 *   bridge_fuzz <name> <key file> <tcp://address of the attacked bridge>
 *               <its public key> <frames> <seed> <tcp://address to listen>
 *
 * It listens where the attacked bridge expects it (the address of its
 * --peer), as a bridge does, to learn the bridge's session (epoch) from
 * the frames it receives: most of its frames acknowledge it, so that they
 * reach the decoders past the session check.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static uint64_t g_rng;
static uint32_t g_ack;

static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* One frame into b; returns its length. */
static size_t make(unsigned char *b, size_t cap, uint32_t seq)
{
    size_t n = 0;
    unsigned shape = rnd() % 8;
    if (shape == 0) { /* random bytes */
        n = rnd() % 300;
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)rnd();
        return n;
    }
    memcpy(b, "SSB", 3);
    b[3] = shape == 1 ? (unsigned char)rnd() : 2; /* a wrong version */
    b[4] = (unsigned char)(shape == 2 ? rnd() % 8 : 1 + rnd() % 5);
    b[5] = b[6] = b[7] = 0;
    put32(b + 8, shape == 3 ? rnd() : seq);
    put32(b + 12, shape == 4 ? rnd() : 7);
    put32(b + 16, shape == 5 ? rnd() : g_ack);
    put32(b + 20, shape == 6 ? rnd() : 0); /* the seq it acknowledges */
    n = 24;
    size_t body = rnd() % 600;
    if (n + body > cap)
        body = cap - n;
    for (size_t i = 0; i < body; i++) {
        unsigned char c = (unsigned char)rnd();
        /* Lengths of 0, 255 or near the truth, NULs, plausible kinds. */
        switch (rnd() % 8) {
        case 0: c = 0; break;
        case 1: c = 255; break;
        case 2: c = (unsigned char)(4 + rnd() % 12); break;
        case 3: c = (unsigned char)('a' + rnd() % 26); break;
        case 4: c = (unsigned char)(0x80 | (1 + rnd() % 3)); break;
        default: break;
        }
        b[n + i] = c;
    }
    /* Sometimes a well-formed start: a destination and a count. */
    if (body > 12 && rnd() % 2) {
        b[24] = 4;
        memcpy(b + 25, "keep", 4);
        put32(b + 29, rnd() % 3 ? 1 + rnd() % 4 : rnd());
    }
    return n + body;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: bridge_fuzz <name> <key file> <address> "
                        "<public key> <frames> <seed> <listen address>\n");
        return 2;
    }
    char pub[41], sec[41];
    FILE *f = fopen(argv[2], "r");
    if (!f || fscanf(f, "%40s %40s", pub, sec) != 2)
        return 2;
    fclose(f);
    long frames = atol(argv[5]);
    g_rng = (uint64_t)atoll(argv[6]) * 2654435761u + 1;
    void *ctx = zmq_ctx_new();
    /* Learn the attacked bridge's epoch from a frame it sends us. */
    void *r = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, wait_ms = 10000;
    zmq_setsockopt(r, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(r, ZMQ_CURVE_SECRETKEY, sec, 40);
    zmq_setsockopt(r, ZMQ_RCVTIMEO, &wait_ms, sizeof wait_ms);
    if (zmq_bind(r, argv[7]) != 0)
        return 1;
    unsigned char id[256], fr[2048];
    if (zmq_recv(r, id, sizeof id, 0) < 0) {
        fprintf(stderr, "bridge_fuzz: nothing from the bridge\n");
        return 1;
    }
    int fl = zmq_recv(r, fr, sizeof fr, 0);
    if (fl >= 16)
        memcpy(&g_ack, fr + 12, 4);
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 2000, hwm = 0;
    zmq_setsockopt(d, ZMQ_ROUTING_ID, argv[1], strlen(argv[1]));
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, argv[4], 40);
    zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, pub, 40);
    zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, sec, 40);
    if (zmq_connect(d, argv[3]) != 0)
        return 1;
    static unsigned char b[1024];
    for (long i = 0; i < frames; i++) {
        size_t n = make(b, sizeof b, (uint32_t)i + 1);
        zmq_send(d, b, n, 0);
    }
    zmq_close(d);
    int linger0 = 0;
    zmq_setsockopt(r, ZMQ_LINGER, &linger0, sizeof linger0);
    zmq_close(r);
    zmq_ctx_term(ctx);
    printf("bridge_fuzz: %ld frames sent\n", frames);
    return 0;
}

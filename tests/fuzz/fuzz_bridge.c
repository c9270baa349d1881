/*
 * fuzz_bridge.c - libFuzzer target of ss-bridge's frame decoder: every
 * input is a frame from an authenticated peer "h9", handed to the bridge's
 * own on_frame() (lists, batches, requests, replies; the records in them
 * are rewritten and put into this host's loops, the requests asked of
 * them). Most inputs get the acknowledgement of the current session, so
 * that they pass the session check and reach the decoders.
 *
 *   bash scripts/fuzz-bridge.sh [seconds]     builds with clang and runs
 */
#define main ss_bridge_main
#include "../../tools/ss_bridge.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static peer *p;
    static unsigned char buf[1 << 16];
    if (!p) {
        char dom[32];
        snprintf(dom, sizeof dom, "fz%d", (int)getpid());
        ss_domain_set(dom);
        ss_log_set_level(SS_LOG_ERROR);
        snprintf(g_host, sizeof g_host, "h1");
        g_ctx = zmq_ctx_new();
        g_npeers = 1;
        p = &g_peers[0];
        snprintf(p->name, sizeof p->name, "h9");
        pthread_mutex_init(&p->mu, NULL);
        /* (Connected to nothing: what the bridge sends to the peer is
         * refused at once, and counted.) */
        p->dealer = zmq_socket(g_ctx, ZMQ_DEALER);
        p->epoch_out = 7;
    }
    if (size > sizeof buf)
        size = sizeof buf;
    memcpy(buf, data, size);
    if (size >= FRAME_HDR && (size & 7) != 0) {
        buf[3] = FRAME_VERSION;
        memcpy(buf, "SSB", 3);
        ss__st_le32(buf + 16, p->epoch_out); /* the session's ack */
    }
    on_frame("h9", buf, size);
    return 0;
}

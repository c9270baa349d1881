/*
 * registry_receiver.c - the other of the two programs of
 * registry_sender.c: started apart, in either order.
 *
 * It publishes its loop "receiver", whose object "inbox" has a slot named
 * "ping" (registered by name, for other programs to connect to: they
 * cannot name a function of this one) and the signal "pong". Each ping is
 * printed and answered with a pong of the same number, to whoever is
 * connected. Every 200 ms it also looks for the loop "sender", only to
 * watch it: when the sender ends (Ctrl-C, kill -9), this program says so;
 * when a sender starts again, it connects to this one by itself.
 *
 *   ./registry_receiver [--count N]   stop after N pings (default: never)
 *
 * Both programs use the domain named by SS_DOMAIN (default "default").
 */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include <signal_slot.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct receiver {
    ss_object inbox; /* slot "ping" ("xs"), signal "pong" ("x") */
    ss_timer look;   /* looks for a sender to watch */
    ss_loop *tx;     /* the sender's loop (a handle), or NULL */
    bool tx_ended;
    long pings, count;
} receiver;

/* The slot "ping": other programs connect their signals to it by name. */
static void on_ping(ss_object *self, const ss_args *args, void *ud)
{
    receiver *r = ud;
    int64_t n = -1;
    const char *text = NULL;
    if (ss_args_unpack(args, "xs", &n, &text) != 0)
        return;
    const char *from_loop = NULL;
    ss_args_sender(args, &from_loop, NULL, NULL);
    printf("ping %lld from %s: %s\n", (long long)n, from_loop, text);
    fflush(stdout);
    ss_emit(self, "pong", n); /* dropped if the sender is gone: fine */
    if (r->count > 0 && ++r->pings == r->count)
        ss_loop_stop(ss_object_loop(self));
}

static void on_sender_ended(ss_object *self, const ss_args *args, void *ud)
{
    receiver *r = ud;
    int32_t code = -1, sig = 0;
    (void)self;
    ss_args_unpack(args, "ii", &code, &sig);
    if (code >= 0)
        printf("sender ended (exit code %d)\n", (int)code);
    else
        printf("sender ended (killed?)\n");
    fflush(stdout);
    r->tx_ended = true;
}

/* Every 200 ms: watch the sender, if one runs. */
static void on_look(ss_object *self, const ss_args *args, void *ud)
{
    receiver *r = ud;
    (void)args;
    if (r->tx_ended) {
        ss_loop_free(r->tx);
        r->tx = NULL;
        r->tx_ended = false;
    }
    if (r->tx || ss_loop_open(&r->tx, "sender", SS_NO_WAIT) != 0)
        return;
    if (ss_connect(ss_loop_object(r->tx), "ended", self, on_sender_ended,
                   "ii", r) != 0) {
        ss_loop_free(r->tx);
        r->tx = NULL;
        return;
    }
    printf("a sender runs\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static receiver r;
    if (argc == 3 && strcmp(argv[1], "--count") == 0) {
        r.count = strtol(argv[2], NULL, 10);
    } else if (argc != 1) {
        fprintf(stderr, "usage: %s [--count N]\n", argv[0]);
        return 2;
    }
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_loop *loop;
    int rc = ss_loop_new(&loop, "receiver", &o);
    if (rc != 0) {
        fprintf(stderr, "registry_receiver: loop \"receiver\": %s%s\n",
                ss_strerror(rc),
                rc == SS_EEXIST ? " (another receiver runs in this domain)"
                                : "");
        return 1;
    }
    if ((rc = ss_object_init(&r.inbox, loop, "inbox")) != 0 ||
        (rc = ss_signal_add(&r.inbox, "pong", "x")) != 0 ||
        (rc = ss_slot_add(&r.inbox, "ping", on_ping, "xs", &r)) != 0 ||
        (rc = ss_timer_init(&r.look, loop, SS_MSEC(200), false, "look")) !=
            0 ||
        (rc = ss_connect(&r.look.object, "timeout", &r.inbox, on_look, "",
                         &r)) != 0) {
        fprintf(stderr, "registry_receiver: setup: %s\n", ss_strerror(rc));
        return 1;
    }
    printf("receiver (pid %d) in domain %s; waiting for pings\n",
           (int)getpid(), ss_domain_name());
    fflush(stdout);
    rc = ss_loop_run(loop);
    printf("%s\n", rc == SS_LOOP_INTERRUPTED ? "interrupted" : "done");
    if (r.tx)
        ss_loop_free(r.tx);
    ss_timer_destroy(&r.look);
    ss_object_destroy(&r.inbox);
    ss_loop_free(loop);
    return rc < 0 ? 1 : 0;
}

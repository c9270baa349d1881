/*
 * registry_sender.c - one of two programs started apart (two terminals,
 * in either order) that find each other by loop name through the
 * registry; the other is registry_receiver.c.
 *
 * This one publishes its loop "sender", whose object "out" has the signal
 * "ping" (a sequence number and a text). Every 200 ms it looks for the
 * loop "receiver"; once found, it connects "ping" to the receiver's slot
 * "ping" (by name: a function of another program cannot be named here),
 * the receiver's signal "pong" to its own slot on_pong (a function: the
 * slot is in this program), and the receiver's end to on_receiver_ended.
 * Then it pings every 500 ms and prints each pong. Kill the receiver
 * (Ctrl-C, or kill -9) and this program says so and looks again; start
 * it again and the exchange resumes.
 *
 *   ./registry_sender [--count N]   stop after N pongs (default: never)
 *
 * Both programs use the domain named by the environment variable
 * SS_DOMAIN (default "default"): set the same one in both terminals, or
 * none. ss-ls lists them while they run.
 */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include <signal_slot.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct sender {
    ss_object out;      /* signal "ping" ("xs") */
    ss_timer look;      /* looks for the receiver while it is not there */
    ss_timer tick;      /* pings while it is */
    ss_loop *rx;        /* the receiver's loop (a handle), or NULL */
    ss_object *inbox;   /* its object "inbox" (a handle) */
    bool rx_ended;      /* its "ended" came: let the handles go */
    int64_t seq;        /* the next ping's number */
    long pongs, count;  /* pongs received; stop at count (0: never) */
} sender;

/* Let the receiver's handles go (its end was seen, or on the way out). */
static void forget_receiver(sender *s)
{
    if (s->inbox)
        ss_object_free(s->inbox);
    if (s->rx)
        ss_loop_free(s->rx);
    s->inbox = NULL;
    s->rx = NULL;
    s->rx_ended = false;
}

/* The receiver's loop ended: its exit code (-1 if killed or not known)
 * and signal (0 if none or not known). Emitted by this program when it
 * notices, on the handle's object. */
static void on_receiver_ended(ss_object *self, const ss_args *args, void *ud)
{
    sender *s = ud;
    int32_t code = -1, sig = 0;
    (void)self;
    ss_args_unpack(args, "ii", &code, &sig);
    if (code >= 0)
        printf("receiver ended (exit code %d); looking for it again\n",
               (int)code);
    else
        printf("receiver ended (killed?); looking for it again\n");
    fflush(stdout);
    s->rx_ended = true; /* the handles go on the next look */
}

/* A pong: the number of the ping it answers. */
static void on_pong(ss_object *self, const ss_args *args, void *ud)
{
    sender *s = ud;
    int64_t n = -1;
    if (ss_args_unpack(args, "x", &n) != 0)
        return;
    printf("pong %lld\n", (long long)n);
    fflush(stdout);
    if (s->count > 0 && ++s->pongs == s->count)
        ss_loop_stop(ss_object_loop(self));
}

/* Connect to the receiver just found: our ping to its slot by name, its
 * pong to our slot, its end to us. 0, or why not (then try again). */
static int connect_receiver(sender *s)
{
    int rc = ss_object_open(&s->inbox, s->rx, "inbox");
    if (rc == 0)
        rc = ss_connect(ss_loop_object(s->rx), "ended", &s->out,
                        on_receiver_ended, "ii", s);
    if (rc == 0)
        rc = ss_connect_slot(&s->out, "ping", s->inbox, "ping");
    if (rc == 0)
        rc = ss_connect(s->inbox, "pong", &s->out, on_pong, "x", s);
    return rc;
}

/* Every 200 ms: let the handles of an ended receiver go, and look for
 * one (it may have been started again). */
static void on_look(ss_object *self, const ss_args *args, void *ud)
{
    sender *s = ud;
    (void)self;
    (void)args;
    if (s->rx_ended)
        forget_receiver(s);
    if (s->rx)
        return;
    if (ss_loop_open(&s->rx, "receiver", SS_NO_WAIT) != 0)
        return; /* not there (yet) */
    int rc = connect_receiver(s);
    if (rc != 0) {
        /* It may be going away (SS_ECLOSED), or not run its loop yet
         * (SS_ETIMEDOUT): next time. */
        printf("receiver not ready (%s); trying again\n", ss_strerror(rc));
        fflush(stdout);
        forget_receiver(s);
        return;
    }
    printf("found the receiver\n");
    fflush(stdout);
}

/* Every 500 ms: a ping, while connected. */
static void on_tick(ss_object *self, const ss_args *args, void *ud)
{
    sender *s = ud;
    (void)self;
    (void)args;
    if (!s->rx || s->rx_ended)
        return;
    /* Dropped if the receiver is gone or its queue full: no error here. */
    int rc = ss_emit(&s->out, "ping", s->seq, "hello");
    if (rc == 0)
        s->seq++;
}

int main(int argc, char **argv)
{
    static sender s;
    if (argc == 3 && strcmp(argv[1], "--count") == 0) {
        s.count = strtol(argv[2], NULL, 10);
    } else if (argc != 1) {
        fprintf(stderr, "usage: %s [--count N]\n", argv[0]);
        return 2;
    }
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true; /* other programs find it by name */
    ss_loop *loop;
    int rc = ss_loop_new(&loop, "sender", &o);
    if (rc != 0) {
        fprintf(stderr, "registry_sender: loop \"sender\": %s%s\n",
                ss_strerror(rc),
                rc == SS_EEXIST ? " (another sender runs in this domain)"
                                : "");
        return 1;
    }
    if ((rc = ss_object_init(&s.out, loop, "out")) != 0 ||
        (rc = ss_signal_add(&s.out, "ping", "xs")) != 0 ||
        (rc = ss_timer_init(&s.look, loop, SS_MSEC(200), false, "look")) !=
            0 ||
        (rc = ss_connect(&s.look.object, "timeout", &s.out, on_look, "",
                         &s)) != 0 ||
        (rc = ss_timer_init(&s.tick, loop, SS_MSEC(500), false, "tick")) !=
            0 ||
        (rc = ss_connect(&s.tick.object, "timeout", &s.out, on_tick, "",
                         &s)) != 0) {
        fprintf(stderr, "registry_sender: setup: %s\n", ss_strerror(rc));
        return 1;
    }
    printf("sender (pid %d) in domain %s; looking for the receiver\n",
           (int)getpid(), ss_domain_name());
    fflush(stdout);
    /* Until --count pongs, or Ctrl-C. */
    rc = ss_loop_run(loop);
    printf("%s\n", rc == SS_LOOP_INTERRUPTED ? "interrupted" : "done");
    forget_receiver(&s);
    ss_timer_destroy(&s.tick);
    ss_timer_destroy(&s.look);
    ss_object_destroy(&s.out);
    ss_loop_free(loop); /* unpublished: the receiver sees it end */
    return rc < 0 ? 1 : 0;
}

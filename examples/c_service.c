/*
 * c_service.c - a C program that a Python program talks to with typed
 * signals, both ways (python/examples/c_service_client.py is the other
 * side; started apart, in either order).
 *
 * It publishes its loop "c_service" (or the name given), whose object
 * "calc" has two slots by name, for other programs to connect to:
 *
 *   "square" ("xs"): n and a tag; answered by the signal "squared",
 *   "quit"   (""):   stops the loop; the program exits with code 0,
 *
 * and the signal "squared" ("xsad{v}"): n * n, the tag, [n / 2, n * 1.5],
 * and a map {"n": n, "even": n % 2 == 0, "tag": tag} of variants. A Python
 * program declares the same signatures (@signal("xs"), @slot("xsad{v}"))
 * and gets ints, str, a list of floats and a dict back.
 *
 *   ./c_service [loop-name]
 *
 * The domain is SS_DOMAIN's (default "default"), as for every program.
 */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include <signal_slot.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static long g_answered;

static void on_square(ss_object *calc, const ss_args *args, void *ud)
{
    (void)ud;
    int64_t n = 0;
    const char *tag = NULL;
    if (ss_args_unpack(args, "xs", &n, &tag) != 0)
        return; /* (logged by the library) */
    /* The reply, written value by value: an array and a map of variants
     * cannot be given to ss_emit() as plain arguments. */
    unsigned char buf[256];
    ss_writer w;
    ss_writer_init(&w, buf, sizeof buf);
    ss_writer_put_int64(&w, n * n);
    ss_writer_put_string(&w, tag);
    ss_writer_array_begin(&w, "d");
    ss_writer_put_double(&w, (double)n / 2);
    ss_writer_put_double(&w, (double)n * 1.5);
    ss_writer_array_end(&w);
    ss_writer_map_begin(&w, "v");
    ss_writer_put_string(&w, "n");
    ss_writer_variant_begin(&w, "x");
    ss_writer_put_int64(&w, n);
    ss_writer_variant_end(&w);
    ss_writer_put_string(&w, "even");
    ss_writer_variant_begin(&w, "b");
    ss_writer_put_bool(&w, n % 2 == 0);
    ss_writer_variant_end(&w);
    ss_writer_put_string(&w, "tag");
    ss_writer_variant_begin(&w, "s");
    ss_writer_put_string(&w, tag);
    ss_writer_variant_end(&w);
    ss_writer_map_end(&w);
    const void *data;
    size_t len;
    if (ss_writer_data(&w, &data, &len) == 0) {
        ss_msg m = {data, len};
        ss_emit_many(calc, "squared", &m, 1); /* a full queue: counted */
    }
    ss_writer_free(&w);
    g_answered++;
}

static void on_quit(ss_object *calc, const ss_args *args, void *ud)
{
    (void)args;
    (void)ud;
    ss_loop_stop(ss_object_loop(calc));
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "c_service";
    if (argc > 2) {
        fprintf(stderr, "usage: %s [loop-name]\n", argv[0]);
        return 2;
    }
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true;
    ss_loop *loop;
    int rc = ss_loop_new(&loop, name, &o);
    if (rc != 0) {
        fprintf(stderr, "c_service: loop \"%s\": %s\n", name,
                ss_strerror(rc));
        return 1;
    }
    static ss_object calc;
    if ((rc = ss_object_init(&calc, loop, "calc")) != 0 ||
        (rc = ss_signal_add(&calc, "squared", "xsad{v}")) != 0 ||
        (rc = ss_slot_add(&calc, "square", on_square, "xs", NULL)) != 0 ||
        (rc = ss_slot_add(&calc, "quit", on_quit, "", NULL)) != 0) {
        fprintf(stderr, "c_service: setup: %s\n", ss_strerror(rc));
        return 1;
    }
    printf("c_service: loop %s (pid %d) in domain %s\n", name, (int)getpid(),
           ss_domain_name());
    fflush(stdout);
    rc = ss_loop_run(loop);
    printf("c_service: answered %ld; %s\n", g_answered,
           rc == SS_LOOP_STOPPED ? "asked to quit" : "interrupted");
    ss_object_destroy(&calc);
    ss_loop_free(loop);
    return rc == SS_LOOP_STOPPED ? 0 : 1;
}

/*
 * across_hosts.c - a main loop on one host feeding worker loops on two
 * others, through ss-bridge (docs/bridge.md). The same program plays both
 * roles; python/examples/across_hosts.py plays them too, and the two mix.
 *
 *   across_hosts worker             publishes loop "worker", object "w":
 *                                   slot "job" ("xs": id, text) answers
 *                                   "done" ("xx": id, the text's length
 *                                   times the id), until Ctrl-C
 *   across_hosts main N HOST...     opens "HOST/worker" for each host,
 *                                   sends N jobs round-robin, checks every
 *                                   answer, exits 0 (3 if one was wrong)
 *
 * Each host runs its bridge in its own registry domain (SS_DOMAIN):
 * examples/across_hosts.sh makes three hosts as network namespaces of one
 * machine and runs the lot.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal_slot.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HOSTS 8

static int64_t g_n, g_answers, g_bad;

static void on_job(ss_object *w, const ss_args *args, void *ud)
{
    (void)ud;
    int64_t id = 0;
    const char *text = NULL;
    if (ss_args_unpack(args, "xs", &id, &text) == 0)
        ss_emit(w, "done", id, (int64_t)strlen(text) * id);
}

static void on_done(ss_object *m, const ss_args *args, void *ud)
{
    (void)ud;
    int64_t id = -1, result = -1;
    char text[32];
    ss_args_unpack(args, "xx", &id, &result);
    snprintf(text, sizeof text, "job %lld", (long long)id);
    if (result != (int64_t)strlen(text) * id)
        g_bad++;
    if (++g_answers == g_n)
        ss_loop_stop(ss_object_loop(m));
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "across_hosts: %s: %s\n", what, ss_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    ss_loop_options o;
    ss_loop_options_init(&o);
    o.publish = true; /* the other hosts reach it through their bridge */
    int rc;
    if (argc == 2 && strcmp(argv[1], "worker") == 0) {
        ss_loop *l;
        static ss_object w;
        if ((rc = ss_loop_new(&l, "worker", &o)) != 0)
            return fail("loop", rc);
        if ((rc = ss_object_init(&w, l, "w")) != 0 ||
            (rc = ss_signal_add(&w, "done", "xx")) != 0 ||
            (rc = ss_slot_add(&w, "job", on_job, "xs", NULL)) != 0)
            return fail("set-up", rc);
        printf("worker ready in domain %s\n", ss_domain_name());
        fflush(stdout);
        rc = ss_loop_run(l);
        printf("worker stopped\n");
        return 0;
    }
    if (argc < 4 || strcmp(argv[1], "main") != 0 || argc - 3 > MAX_HOSTS) {
        fprintf(stderr, "usage: across_hosts worker | main N HOST...\n");
        return 2;
    }
    g_n = atoll(argv[2]);
    int hosts = argc - 3;
    ss_loop *l;
    static ss_object m;
    if ((rc = ss_loop_new(&l, "main", &o)) != 0)
        return fail("loop", rc);
    if ((rc = ss_object_init(&m, l, "m")) != 0)
        return fail("object", rc);
    char sig[MAX_HOSTS][16];
    for (int h = 0; h < hosts; h++) {
        /* One signal per worker: "job0" goes to the first host... */
        char name[80];
        snprintf(sig[h], sizeof sig[h], "job%d", h);
        snprintf(name, sizeof name, "%s/worker", argv[3 + h]);
        ss_loop *remote;
        ss_object *w;
        if ((rc = ss_loop_open(&remote, name, SS_SEC(30))) != 0)
            return fail(name, rc);
        if ((rc = ss_object_open(&w, remote, "w")) != 0 ||
            (rc = ss_signal_add(&m, sig[h], "xs")) != 0 ||
            (rc = ss_connect_slot(&m, sig[h], w, "job")) != 0 ||
            (rc = ss_connect(w, "done", &m, on_done, "xx", NULL)) != 0)
            return fail("connect", rc);
        printf("connected to %s\n", name);
    }
    for (int64_t id = 0; id < g_n; id++) {
        char text[32];
        snprintf(text, sizeof text, "job %lld", (long long)id);
        while ((rc = ss_emit(&m, sig[id % hosts], id, text)) == SS_EAGAIN)
            ss_loop_run_once(l, SS_MSEC(1)); /* full: answers first */
        if (rc != 0)
            return fail("emit", rc);
    }
    ss_loop_run(l);
    printf("main: %lld answers from %d hosts, %lld wrong\n",
           (long long)g_answers, hosts, (long long)g_bad);
    return g_bad ? 3 : 0;
}

/* queue_hello.c - the README's queue example, built so that it stays true. */
#include <signal_slot.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>

int main(void)
{
    ss_queue *q;
    ss_queue_create(&q, NULL);                 /* 1 MiB ring, defaults */

    if (fork() == 0) {                         /* child: producer */
        for (int i = 0; i < 3; i++) {
            char msg[32];
            int len = snprintf(msg, sizeof msg, "hello %d", i);
            ss_queue_put(q, msg, (size_t)len, SS_WAIT_FOREVER);
        }
        _exit(0);
    }

    for (int i = 0; i < 3; i++) {              /* parent: consumer */
        char buf[64];
        size_t len;
        if (ss_queue_get(q, buf, sizeof buf, &len, SS_SEC(5)) == 0)
            printf("%.*s\n", (int)len, buf);
    }
    wait(NULL);
    ss_queue_destroy(q);
    return 0;
}

/* Uses the installed library: one message through a queue. */
#include <signal_slot.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    ss_queue *q;
    if (ss_queue_create(&q, NULL) != 0)
        return 1;
    char buf[16];
    size_t len;
    if (ss_queue_put(q, "installed", 9, SS_NO_WAIT) != 0 ||
        ss_queue_get(q, buf, sizeof buf, &len, SS_NO_WAIT) != 0 || len != 9 ||
        memcmp(buf, "installed", 9) != 0)
        return 1;
    ss_queue_destroy(q);
    printf("signal-slot %s found and working\n", SS_VERSION_STRING);
    return 0;
}

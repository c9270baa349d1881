/*
 * test_argcheck_off.c - a translation unit that opts out of the argument
 * checks (SS_NO_ARG_CHECK): ss_pack and friends are the plain functions,
 * not macros, and a program built so still works. Part of test_payload.
 */
#define SS_NO_ARG_CHECK
#include <signal_slot.h>

#if defined(ss_pack) || defined(ss_unpack) || defined(ss_emit) ||              \
    defined(ss_args_unpack) || defined(SS_ARG_CHECK)
#error "SS_NO_ARG_CHECK left a checking macro defined"
#endif

int argcheck_off_pack(void);

int argcheck_off_pack(void)
{
    unsigned char buf[64];
    ss_writer w;
    ss_writer_init(&w, buf, sizeof buf);
    int rc = ss_pack(&w, "xs", (int64_t)-5, "five");
    if (rc != 0)
        return rc;
    const void *data;
    size_t len;
    if ((rc = ss_writer_data(&w, &data, &len)) != 0)
        return rc;
    ss_reader r;
    if ((rc = ss_reader_init(&r, "xs", data, len)) != 0)
        return rc;
    int64_t x = 0;
    const char *s = NULL;
    if ((rc = ss_unpack(&r, "xs", &x, &s)) != 0)
        return rc;
    return x == -5 && s && s[0] == 'f' ? 0 : SS_EMALFORMED;
}

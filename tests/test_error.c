/*
 * test_error.c - error codes, ss_strerror() and ss_errname().
 */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "signal_slot/error.h"
#include "testutil.h"

struct err_entry {
    int code;
    const char *name; /* "SS_<NAME>" */
    const char *msg;  /* message of the table */
};

#define ENTRY(name, value, msg) {value, "SS_" #name, msg},
static const struct err_entry all_errors[] = {SS_ERRNO_MAP(ENTRY)};
#undef ENTRY
#define N_ERRORS (sizeof all_errors / sizeof all_errors[0])

/* The values are part of the ABI: check the enum matches them. */
static void test_enum_values_stable(void **state)
{
    (void)state;
    assert_int_equal(SS_OK, 0);
    assert_int_equal(SS_EINVAL, -1);
    assert_int_equal(SS_ENOMEM, -2);
    assert_int_equal(SS_EAGAIN, -3);
    assert_int_equal(SS_ETIMEDOUT, -4);
    assert_int_equal(SS_ECLOSED, -5);
    assert_int_equal(SS_EMSGSIZE, -6);
    assert_int_equal(SS_ENOBUFS, -7);
    assert_int_equal(SS_ECORRUPT, -8);
    assert_int_equal(SS_ENOENT, -9);
    assert_int_equal(SS_EEXIST, -10);
    assert_int_equal(SS_EFOREIGN, -11);
    assert_int_equal(SS_EVERSION, -12);
    assert_int_equal(SS_EACCES, -13);
    assert_int_equal(SS_ESYS, -14);
    assert_int_equal(SS_EBUSY, -15);
    assert_int_equal(SS_ENAMETOOLONG, -16);
    assert_int_equal(SS_ESTATE, -17);
    assert_int_equal(SS_ETYPE, -18);
    assert_int_equal(SS_EMALFORMED, -19);
    assert_int_equal(SS_ESIGNATURE, -20);
    assert_int_equal(SS_ENOTSUP, -21);
    assert_int_equal(SS_EREGISTRY, -22);
    assert_int_equal(N_ERRORS, 22);
    /* Values are dense and negative: -1 .. -N. */
    for (size_t i = 0; i < N_ERRORS; i++)
        assert_int_equal(all_errors[i].code, -(int)(i + 1));
}

static void test_strerror_matches_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ERRORS; i++) {
        const char *s = ss_strerror(all_errors[i].code);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_equal(s, all_errors[i].msg);
        assert_string_not_equal(s, "unknown error");
        /* A static string: the same one each time. */
        assert_ptr_equal(s, ss_strerror(all_errors[i].code));
    }
}

static void test_strerror_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ERRORS; i++) {
        for (size_t j = i + 1; j < N_ERRORS; j++) {
            const char *a = ss_strerror(all_errors[i].code);
            const char *b = ss_strerror(all_errors[j].code);
            if (strcmp(a, b) == 0)
                fail_msg("codes %d and %d share message \"%s\"",
                         all_errors[i].code, all_errors[j].code, a);
        }
    }
}

static void test_errname_matches_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ERRORS; i++) {
        const char *s = ss_errname(all_errors[i].code);
        assert_non_null(s);
        assert_string_equal(s, all_errors[i].name);
        assert_ptr_equal(s, ss_errname(all_errors[i].code));
    }
    /* Spot checks written out by hand, independent of the X-macro. */
    assert_string_equal(ss_errname(SS_EINVAL), "SS_EINVAL");
    assert_string_equal(ss_errname(SS_ECLOSED), "SS_ECLOSED");
    assert_string_equal(ss_errname(SS_ENAMETOOLONG), "SS_ENAMETOOLONG");
    assert_string_equal(ss_errname(SS_ESTATE), "SS_ESTATE");
    assert_string_equal(ss_errname(SS_ETYPE), "SS_ETYPE");
    assert_string_equal(ss_errname(SS_EMALFORMED), "SS_EMALFORMED");
    assert_string_equal(ss_errname(SS_ESIGNATURE), "SS_ESIGNATURE");
    assert_string_equal(ss_errname(SS_ENOTSUP), "SS_ENOTSUP");
    assert_string_equal(ss_errname(SS_EREGISTRY), "SS_EREGISTRY");
    assert_string_equal(ss_strerror(SS_ETIMEDOUT), "timed out");
    assert_string_equal(ss_strerror(SS_ECLOSED), "queue closed");
}

static void test_errname_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ERRORS; i++)
        for (size_t j = i + 1; j < N_ERRORS; j++)
            assert_string_not_equal(ss_errname(all_errors[i].code),
                                    ss_errname(all_errors[j].code));
}

static void test_ok(void **state)
{
    (void)state;
    const char *s = ss_strerror(SS_OK);
    assert_non_null(s);
    assert_true(strlen(s) > 0);
    assert_string_not_equal(s, "unknown error");
    for (size_t i = 0; i < N_ERRORS; i++)
        assert_string_not_equal(s, all_errors[i].msg);
    assert_string_equal(ss_errname(SS_OK), "SS_OK");
}

static void test_unknown_codes(void **state)
{
    (void)state;
    const int unknown[] = {1, 2, 17, -23, -24, -100, -1000, 12345,
                           INT_MIN, INT_MAX, INT_MIN + 1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = ss_strerror(unknown[i]);
        assert_non_null(s);
        assert_string_equal(s, "unknown error");
        const char *n = ss_errname(unknown[i]);
        assert_non_null(n);
        assert_true(strlen(n) > 0);
        /* It must not pretend to be one of the real codes. */
        for (size_t j = 0; j < N_ERRORS; j++)
            assert_string_not_equal(n, all_errors[j].name);
        assert_string_not_equal(n, "SS_OK");
    }
}

/* Callable from many threads at once: results stay right. */
static void *strerror_thread(void *arg)
{
    uintptr_t bad = 0;
    (void)arg;
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < N_ERRORS; i++) {
            if (strcmp(ss_strerror(all_errors[i].code), all_errors[i].msg) != 0)
                bad++;
            if (strcmp(ss_errname(all_errors[i].code), all_errors[i].name) != 0)
                bad++;
        }
        if (strcmp(ss_strerror(-1000 - round), "unknown error") != 0)
            bad++;
    }
    return (void *)bad;
}

static void test_thread_safe(void **state)
{
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, strerror_thread, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_int_equal((uintptr_t)r, 0);
    }
}

int main(void)
{
    tu_watchdog(30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enum_values_stable),
        cmocka_unit_test(test_strerror_matches_table),
        cmocka_unit_test(test_strerror_distinct),
        cmocka_unit_test(test_errname_matches_table),
        cmocka_unit_test(test_errname_distinct),
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_unknown_codes),
        cmocka_unit_test(test_thread_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

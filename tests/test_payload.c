/*
 * test_payload.c - typed payloads: signatures, the writer (checks, growth,
 * sticky errors), the reader (getters, iteration, views), ss_pack and
 * ss_unpack, the exact wire bytes, hostile inputs (truncation at every
 * offset, byte flips, huge lengths, depth bombs, random fuzz), the text
 * rendering, and a measurement of encode + decode.
 *
 * Inputs that must be refused are copied into heap blocks of exactly their
 * size, so that under AddressSanitizer any read past the end is caught.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "signal_slot/error.h"
#include "signal_slot/payload.h"
#include "testutil.h"

/* ---- helpers ---- */

#define ASSERT_RC(expr, expected)                                              \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ != (expected))                                                 \
            fail_msg("%s: got %d (%s), expected %d (%s)", #expr, rc_,          \
                     ss_errname(rc_), (int)(expected), ss_errname(expected));  \
    } while (0)

static uint64_t dbits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static double bitsd(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* A heap copy of exactly len bytes (at least 1 allocated, so that an
 * empty input is a valid pointer to a zero-size region for ASan). */
static unsigned char *exact_copy(const void *data, size_t len)
{
    unsigned char *p = malloc(len ? len : 1);
    assert_non_null(p);
    if (len)
        memcpy(p, data, len);
    return p;
}

/* Copy the next value of r into w, whatever its type, through the typed
 * API: decode then encode. Used to check that every valid payload
 * re-encodes to the same bytes (the encoding is canonical). */
static int copy_value(ss_reader *r, ss_writer *w)
{
    const char *t;
    size_t tl;
    int rc = ss_reader_peek(r, &t, &tl);
    if (rc != 0)
        return rc;
    switch (*t) {
    case 'b': {
        bool v;
        if ((rc = ss_reader_get_bool(r, &v)) == 0)
            rc = ss_writer_put_bool(w, v);
        return rc;
    }
    case 'i': {
        int32_t v;
        if ((rc = ss_reader_get_int32(r, &v)) == 0)
            rc = ss_writer_put_int32(w, v);
        return rc;
    }
    case 'u': {
        uint32_t v;
        if ((rc = ss_reader_get_uint32(r, &v)) == 0)
            rc = ss_writer_put_uint32(w, v);
        return rc;
    }
    case 'x': {
        int64_t v;
        if ((rc = ss_reader_get_int64(r, &v)) == 0)
            rc = ss_writer_put_int64(w, v);
        return rc;
    }
    case 't': {
        uint64_t v;
        if ((rc = ss_reader_get_uint64(r, &v)) == 0)
            rc = ss_writer_put_uint64(w, v);
        return rc;
    }
    case 'd': {
        double v;
        if ((rc = ss_reader_get_double(r, &v)) == 0)
            rc = ss_writer_put_double(w, v);
        return rc;
    }
    case 'p': {
        void *v;
        if ((rc = ss_reader_get_pointer(r, &v)) == 0)
            rc = ss_writer_put_pointer(w, v);
        return rc;
    }
    case 's': {
        const char *s;
        size_t n;
        if ((rc = ss_reader_get_string(r, &s, &n)) == 0)
            rc = ss_writer_put_stringn(w, s, n);
        return rc;
    }
    case 'y': {
        const void *p;
        size_t n;
        if ((rc = ss_reader_get_blob(r, &p, &n)) == 0)
            rc = ss_writer_put_blob(w, p, n);
        return rc;
    }
    case 'a': {
        char elem[SS_SIGNATURE_MAX_LEN + 1];
        size_t n;
        memcpy(elem, t + 1, tl - 1);
        elem[tl - 1] = '\0';
        if ((rc = ss_reader_array_begin(r, &n)) != 0 ||
            (rc = ss_writer_array_begin(w, elem)) != 0)
            return rc;
        for (size_t i = 0; i < n; i++)
            if ((rc = copy_value(r, w)) != 0)
                return rc;
        if (!ss_reader_at_end(r))
            return -1000;
        if ((rc = ss_reader_array_end(r)) != 0)
            return rc;
        return ss_writer_array_end(w);
    }
    case '{': {
        char elem[SS_SIGNATURE_MAX_LEN + 1];
        size_t n, k = 0;
        const char *key;
        size_t key_len;
        memcpy(elem, t + 1, tl - 2);
        elem[tl - 2] = '\0';
        if ((rc = ss_reader_map_begin(r, &n)) != 0 ||
            (rc = ss_writer_map_begin(w, elem)) != 0)
            return rc;
        while ((rc = ss_reader_map_next(r, &key, &key_len)) == 0) {
            if ((rc = ss_writer_put_stringn(w, key, key_len)) != 0 ||
                (rc = copy_value(r, w)) != 0)
                return rc;
            k++;
        }
        if (rc != SS_ENOENT || k != n)
            return -1001;
        if ((rc = ss_reader_map_end(r)) != 0)
            return rc;
        return ss_writer_map_end(w);
    }
    case 'v': {
        char vs[SS_SIGNATURE_MAX_LEN + 1];
        const char *sig;
        size_t sl;
        if ((rc = ss_reader_variant_begin(r, &sig, &sl)) != 0)
            return rc;
        memcpy(vs, sig, sl);
        vs[sl] = '\0';
        if ((rc = ss_writer_variant_begin(w, vs)) != 0 ||
            (rc = copy_value(r, w)) != 0)
            return rc;
        if ((rc = ss_reader_variant_end(r)) != 0)
            return rc;
        return ss_writer_variant_end(w);
    }
    default:
        return -1002;
    }
}

/* Decode data with sig and re-encode it; assert the bytes are the same. */
static void assert_reencodes(const char *sig, const void *data, size_t len)
{
    ss_reader r;
    ss_writer w;
    const void *out;
    size_t out_len;

    ASSERT_RC(ss_reader_init(&r, sig, data, len), 0);
    ss_writer_init(&w, NULL, 0);
    while (!ss_reader_at_end(&r))
        ASSERT_RC(copy_value(&r, &w), 0);
    ASSERT_RC(ss_writer_data(&w, &out, &out_len), 0);
    assert_int_equal(out_len, len);
    if (len)
        assert_memory_equal(out, data, len);
    ss_writer_free(&w);
}

/* Format into a buffer and compare with expected. */
static void assert_format(const char *sig, const void *data, size_t len,
                          const char *expected)
{
    char out[1024];
    ASSERT_RC(ss_payload_format(sig, data, len, out, sizeof out), 0);
    assert_string_equal(out, expected);
}

/* ---- a nested payload with every type, used by several tests ---- */

#define NESTED_SIG "biuxtdspyaaia{{d}}{v}vab"
#define NESTED_TEXT                                                            \
    "(true, -5, 7, -9223372036854775808, 18446744073709551615, 2.5, "          \
    "\"str\", ptr(0x1234), x'000102', [[], [1], [2, 12]], "                    \
    "[{\"outer\": {\"x\": 1.0, \"y\": -0.5}}, {}], "                           \
    "{\"int\": <7>, \"str\": <\"hello\">, \"arr\": <[0.25, 4.0]>, "            \
    "\"map\": <{\"k\": \"v\"}>, \"nested\": <<true>>, \"blob\": <x'ff00'>}, "  \
    "<[[1, 2]]>, [true, false, true])"

static void build_nested(ss_writer *w)
{
    ASSERT_RC(ss_pack(w, "biuxtdspy", 1, (int32_t)-5, (uint32_t)7,
                      (int64_t)INT64_MIN, (uint64_t)UINT64_MAX, 2.5, "str",
                      (void *)(uintptr_t)0x1234, "\x00\x01\x02", (size_t)3),
              0);
    /* aai: [[], [1], [2, 12]] */
    ASSERT_RC(ss_writer_array_begin(w, "ai"), 0);
    for (int k = 0; k < 3; k++) {
        ASSERT_RC(ss_writer_array_begin(w, "i"), 0);
        for (int j = 0; j < k; j++)
            ASSERT_RC(ss_writer_put_int32(w, j * 10 + k), 0);
        ASSERT_RC(ss_writer_array_end(w), 0);
    }
    ASSERT_RC(ss_writer_array_end(w), 0);
    /* a{{d}}: an array of maps of maps */
    ASSERT_RC(ss_writer_array_begin(w, "{{d}}"), 0);
    ASSERT_RC(ss_writer_map_begin(w, "{d}"), 0);
    ASSERT_RC(ss_writer_put_string(w, "outer"), 0);
    ASSERT_RC(ss_writer_map_begin(w, "d"), 0);
    ASSERT_RC(ss_pack(w, "sdsd", "x", 1.0, "y", -0.5), 0);
    ASSERT_RC(ss_writer_map_end(w), 0);
    ASSERT_RC(ss_writer_map_end(w), 0);
    ASSERT_RC(ss_writer_map_begin(w, "{d}"), 0);
    ASSERT_RC(ss_writer_map_end(w), 0);
    ASSERT_RC(ss_writer_array_end(w), 0);
    /* {v} with variants of every shape */
    ASSERT_RC(ss_writer_map_begin(w, "v"), 0);
    ASSERT_RC(ss_writer_put_string(w, "int"), 0);
    ASSERT_RC(ss_writer_variant_begin(w, "i"), 0);
    ASSERT_RC(ss_writer_put_int32(w, 7), 0);
    ASSERT_RC(ss_writer_variant_end(w), 0);
    ASSERT_RC(ss_writer_put_string(w, "str"), 0);
    ASSERT_RC(ss_writer_variant_begin(w, "s"), 0);
    ASSERT_RC(ss_writer_put_string(w, "hello"), 0);
    ASSERT_RC(ss_writer_variant_end(w), 0);
    ASSERT_RC(ss_writer_put_string(w, "arr"), 0);
    ASSERT_RC(ss_writer_variant_begin(w, "ad"), 0);
    ASSERT_RC(ss_writer_array_begin(w, "d"), 0);
    ASSERT_RC(ss_pack(w, "dd", 0.25, 4.0), 0);
    ASSERT_RC(ss_writer_array_end(w), 0);
    ASSERT_RC(ss_writer_variant_end(w), 0);
    ASSERT_RC(ss_writer_put_string(w, "map"), 0);
    ASSERT_RC(ss_writer_variant_begin(w, "{s}"), 0);
    ASSERT_RC(ss_writer_map_begin(w, "s"), 0);
    ASSERT_RC(ss_pack(w, "ss", "k", "v"), 0);
    ASSERT_RC(ss_writer_map_end(w), 0);
    ASSERT_RC(ss_writer_variant_end(w), 0);
    ASSERT_RC(ss_writer_put_string(w, "nested"), 0);
    ASSERT_RC(ss_writer_variant_begin(w, "v"), 0);
    ASSERT_RC(ss_writer_variant_begin(w, "b"), 0);
    ASSERT_RC(ss_writer_put_bool(w, true), 0);
    ASSERT_RC(ss_writer_variant_end(w), 0);
    ASSERT_RC(ss_writer_variant_end(w), 0);
    ASSERT_RC(ss_writer_put_string(w, "blob"), 0);
    ASSERT_RC(ss_writer_variant_begin(w, "y"), 0);
    ASSERT_RC(ss_writer_put_blob(w, "\xff\x00", 2), 0);
    ASSERT_RC(ss_writer_variant_end(w), 0);
    ASSERT_RC(ss_writer_map_end(w), 0);
    /* v holding an aai */
    ASSERT_RC(ss_writer_variant_begin(w, "aai"), 0);
    ASSERT_RC(ss_writer_array_begin(w, "ai"), 0);
    ASSERT_RC(ss_writer_array_begin(w, "i"), 0);
    ASSERT_RC(ss_pack(w, "ii", (int32_t)1, (int32_t)2), 0);
    ASSERT_RC(ss_writer_array_end(w), 0);
    ASSERT_RC(ss_writer_array_end(w), 0);
    ASSERT_RC(ss_writer_variant_end(w), 0);
    /* ab */
    ASSERT_RC(ss_writer_array_begin(w, "b"), 0);
    ASSERT_RC(ss_pack(w, "bbb", 1, 0, 1), 0);
    ASSERT_RC(ss_writer_array_end(w), 0);
}

/* The nested payload as a heap copy: *len receives its length. */
static unsigned char *nested_payload(size_t *len)
{
    ss_writer w;
    const void *data;
    ss_writer_init(&w, NULL, 0);
    build_nested(&w);
    ASSERT_RC(ss_writer_data(&w, &data, len), 0);
    unsigned char *p = exact_copy(data, *len);
    ss_writer_free(&w);
    return p;
}

/* ---- signatures ---- */

static void test_signature_validate(void **state)
{
    (void)state;
    static const struct {
        const char *sig;
        size_t n;
    } good[] = {
        {"", 0},          {"b", 1},       {"i", 1},
        {"u", 1},         {"x", 1},       {"t", 1},
        {"d", 1},         {"s", 1},       {"y", 1},
        {"p", 1},         {"v", 1},       {"ai", 1},
        {"aai", 1},       {"{i}", 1},     {"{v}i", 2},
        {"a{ad}", 1},     {"a{{d}}", 1},  {"{{d}}", 1},
        {"xs", 2},        {"av", 1},      {"biuxtdsypv", 10},
        {"a{v}a{s}y", 3}, {"{a{ay}}", 1},
    };
    static const char *bad[] = {
        "a",  "{",   "}",   "{}", "{sd}",  "a{sa{sd}}", "a{sv}", "z",
        "i ", " i",  "(i)", "{i", "i}",    "a}",        "{i}}",  "{{i}",
        "aa", "{a}", "A",   "I",  "a{i}}", "{ii}",      "\x01",  "i\xff",
    };
    size_t n;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        n = 999;
        if (ss_signature_validate(good[i].sig, &n) != 0)
            fail_msg("\"%s\" refused", good[i].sig);
        assert_int_equal(n, good[i].n);
        assert_true(ss_signature_equal(good[i].sig, good[i].sig));
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 999;
        if (ss_signature_validate(bad[i], &n) != SS_ESIGNATURE)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(n, 999); /* untouched on error */
        assert_false(ss_signature_equal(bad[i], bad[i]));
    }
    ASSERT_RC(ss_signature_validate(NULL, &n), SS_EINVAL);
    ASSERT_RC(ss_signature_validate("i", NULL), 0);

    /* Length: 255 characters pass, 256 do not. */
    char longsig[300];
    memset(longsig, 'i', 255);
    longsig[255] = '\0';
    ASSERT_RC(ss_signature_validate(longsig, &n), 0);
    assert_int_equal(n, 255);
    longsig[255] = 'i';
    longsig[256] = '\0';
    ASSERT_RC(ss_signature_validate(longsig, &n), SS_ESIGNATURE);
    /* A type that would straddle the limit is refused too. */
    memset(longsig, 'i', 253);
    strcpy(longsig + 253, "ai");
    ASSERT_RC(ss_signature_validate(longsig, &n), 0);
    strcpy(longsig + 253, "aai");
    ASSERT_RC(ss_signature_validate(longsig, &n), SS_ESIGNATURE);

    /* Depth: 32 levels pass, 33 are a bomb. */
    char deep[128];
    memset(deep, 'a', 32);
    strcpy(deep + 32, "i");
    ASSERT_RC(ss_signature_validate(deep, &n), 0);
    memset(deep, 'a', 33);
    strcpy(deep + 33, "i");
    ASSERT_RC(ss_signature_validate(deep, &n), SS_ESIGNATURE);
    /* A variant opens a level for its content, so it counts too. */
    memset(deep, 'a', 31);
    strcpy(deep + 31, "v");
    ASSERT_RC(ss_signature_validate(deep, &n), 0);
    memset(deep, 'a', 32);
    strcpy(deep + 32, "v");
    ASSERT_RC(ss_signature_validate(deep, &n), SS_ESIGNATURE);
    /* Maps nest the same way. */
    memset(deep, '{', 32);
    deep[32] = 'i';
    memset(deep + 33, '}', 32);
    deep[65] = '\0';
    ASSERT_RC(ss_signature_validate(deep, &n), 0);
    memset(deep, '{', 33);
    deep[33] = 'i';
    memset(deep + 34, '}', 33);
    deep[67] = '\0';
    ASSERT_RC(ss_signature_validate(deep, &n), SS_ESIGNATURE);

    /* Equality and type lengths. */
    assert_true(ss_signature_equal("xs", "xs"));
    assert_false(ss_signature_equal("xs", "sx"));
    assert_false(ss_signature_equal("xs", "x"));
    assert_false(ss_signature_equal(NULL, "x"));
    assert_false(ss_signature_equal("x", NULL));
    assert_true(ss_signature_equal("", ""));
    assert_int_equal(ss_signature_type_len("a{i}x"), 4);
    assert_int_equal(ss_signature_type_len("xs"), 1);
    assert_int_equal(ss_signature_type_len("{a{v}}"), 6);
    assert_int_equal(ss_signature_type_len(""), 0);
    assert_int_equal(ss_signature_type_len("{"), 0);
    assert_int_equal(ss_signature_type_len("a{sd}"), 0);
    assert_int_equal(ss_signature_type_len(NULL), 0);
}

/* ---- exact bytes ---- */

/* The worked example of docs/wire-format.md. */
static void test_wire_bytes(void **state)
{
    (void)state;
    static const unsigned char expected[] = {
        0x2a, 0x00, 0x00, 0x00,                         /* i 42 */
        0x02, 0x00, 0x00, 0x00, 'h',  'i',  0x00,       /* s "hi" */
        0x01, 0x00, 0x00, 0x00,                         /* {v}: 1 entry */
        0x10, 0x00, 0x00, 0x00,                         /*      16 bytes */
        0x01, 0x00, 0x00, 0x00, 'a',  0x00,             /* key "a" */
        0x01, 'd',                                      /* variant of sig "d" */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f, /* 1.5 */
        0x02, 0x00, 0x00, 0x00,                         /* ai: 2 elements */
        0x08, 0x00, 0x00, 0x00,                         /*     8 bytes */
        0x01, 0x00, 0x00, 0x00, 0xfe, 0xff, 0xff, 0xff, /* 1, -2 */
    };
    unsigned char buf[256];
    ss_writer w;
    const void *data;
    size_t len;

    ss_writer_init(&w, buf, sizeof buf);
    ASSERT_RC(ss_pack(&w, "is", (int32_t)42, "hi"), 0);
    ASSERT_RC(ss_writer_map_begin(&w, "v"), 0);
    ASSERT_RC(ss_writer_put_string(&w, "a"), 0);
    ASSERT_RC(ss_writer_variant_begin(&w, "d"), 0);
    ASSERT_RC(ss_writer_put_double(&w, 1.5), 0);
    ASSERT_RC(ss_writer_variant_end(&w), 0);
    ASSERT_RC(ss_writer_map_end(&w), 0);
    ASSERT_RC(ss_writer_array_begin(&w, "i"), 0);
    ASSERT_RC(ss_pack(&w, "ii", (int32_t)1, (int32_t)-2), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_int_equal(len, sizeof expected);
    assert_memory_equal(data, expected, sizeof expected);
    assert_ptr_equal(data, buf);
    assert_false(ss_writer_allocated(&w));
    assert_format("is{v}ai", expected, sizeof expected,
                  "(42, \"hi\", {\"a\": <1.5>}, [1, -2])");

    /* Each remaining basic type, little-endian, no padding. */
    static const unsigned char basics[] = {
        0x01,                                           /* b true */
        0xff, 0xff, 0xff, 0xff,                         /* u UINT32_MAX */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, /* x INT64_MIN */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* t */
        0x44, 0x33, 0x22, 0x11, 0x00, 0x00, 0x00, 0x00, /* p */
        0x03, 0x00, 0x00, 0x00, 0x00, 0xab, 0x00,       /* y 00 ab 00 */
        0x00, 0x00, 0x00, 0x00, 0x00,                   /* s "" */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* a{i}: empty */
    };
    ss_writer_reset(&w);
    ASSERT_RC(ss_pack(&w, "buxtpys", 1, (uint32_t)UINT32_MAX,
                      (int64_t)INT64_MIN, (uint64_t)0x0102030405060708ull,
                      (void *)(uintptr_t)0x11223344u, "\x00\xab\x00", (size_t)3,
                      ""),
              0);
    ASSERT_RC(ss_writer_array_begin(&w, "{i}"), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_int_equal(len, sizeof basics);
    assert_memory_equal(data, basics, sizeof basics);
    ASSERT_RC(ss_payload_validate("buxtpysa{i}", basics, sizeof basics), 0);
}

/* ---- round trips ---- */

static void test_roundtrip_basic(void **state)
{
    (void)state;
    static const int32_t i32[] = {0, 1, -1, INT32_MIN, INT32_MAX};
    static const uint32_t u32[] = {0, 1, UINT32_MAX, 0x80000000u};
    static const int64_t i64[] = {0, -1, INT64_MIN, INT64_MAX, INT32_MIN};
    static const uint64_t u64[] = {0, UINT64_MAX, 0x8000000000000000ull};
    /* NaNs with payloads (quiet, signalling, negative), infinities, zeros
     * of both signs, extremes and a subnormal: bits must survive. */
    static const uint64_t dbl[] = {
        0x7ff8000000000123ull, 0x7ff0000000000001ull, 0xfff8000000000000ull,
        0x7ff0000000000000ull, 0xfff0000000000000ull, 0x0000000000000000ull,
        0x8000000000000000ull, 0x7fefffffffffffffull, 0x0010000000000000ull,
        0x0000000000000001ull, 0x3ff0000000000000ull,
    };
    static const char *strs[] = {"", "hello", "h\xc3\xa9llo \xe2\x82\xac",
                                 "\x7f\x01 control"};
    int local;
    void *ptrs[] = {NULL, &local, (void *)UINTPTR_MAX};
    const size_t big_len = (size_t)1 << 20;
    unsigned char *big = malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (unsigned char)(i * 131 + (i >> 11));

    char sig[256];
    size_t sl = 0;
    ss_writer w;
    ss_writer_init(&w, NULL, 0);
#define ADD(code, call)                                                        \
    do {                                                                       \
        ASSERT_RC(call, 0);                                                    \
        sig[sl++] = (code);                                                    \
    } while (0)
    ADD('b', ss_writer_put_bool(&w, true));
    ADD('b', ss_writer_put_bool(&w, false));
    for (size_t i = 0; i < sizeof i32 / sizeof i32[0]; i++)
        ADD('i', ss_writer_put_int32(&w, i32[i]));
    for (size_t i = 0; i < sizeof u32 / sizeof u32[0]; i++)
        ADD('u', ss_writer_put_uint32(&w, u32[i]));
    for (size_t i = 0; i < sizeof i64 / sizeof i64[0]; i++)
        ADD('x', ss_writer_put_int64(&w, i64[i]));
    for (size_t i = 0; i < sizeof u64 / sizeof u64[0]; i++)
        ADD('t', ss_writer_put_uint64(&w, u64[i]));
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++)
        ADD('d', ss_writer_put_double(&w, bitsd(dbl[i])));
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        ADD('s', ss_writer_put_string(&w, strs[i]));
    ADD('s', ss_writer_put_stringn(&w, "abcdef", 3));
    ADD('s', ss_writer_put_stringn(&w, NULL, 0));
    ADD('y', ss_writer_put_blob(&w, NULL, 0));
    ADD('y', ss_writer_put_blob(&w, "\0\0\0", 3));
    ADD('y', ss_writer_put_blob(&w, big, big_len));
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
        ADD('p', ss_writer_put_pointer(&w, ptrs[i]));
#undef ADD
    sig[sl] = '\0';

    const void *data;
    size_t len;
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_true(ss_writer_allocated(&w));
    assert_true(len > big_len);

    ss_reader r;
    ASSERT_RC(ss_reader_init(&r, sig, data, len), 0);
    bool b;
    ASSERT_RC(ss_reader_get_bool(&r, &b), 0);
    assert_true(b);
    ASSERT_RC(ss_reader_get_bool(&r, &b), 0);
    assert_false(b);
    for (size_t i = 0; i < sizeof i32 / sizeof i32[0]; i++) {
        int32_t v;
        ASSERT_RC(ss_reader_get_int32(&r, &v), 0);
        assert_int_equal(v, i32[i]);
    }
    for (size_t i = 0; i < sizeof u32 / sizeof u32[0]; i++) {
        uint32_t v;
        ASSERT_RC(ss_reader_get_uint32(&r, &v), 0);
        assert_int_equal(v, u32[i]);
    }
    for (size_t i = 0; i < sizeof i64 / sizeof i64[0]; i++) {
        int64_t v;
        ASSERT_RC(ss_reader_get_int64(&r, &v), 0);
        assert_true(v == i64[i]);
    }
    for (size_t i = 0; i < sizeof u64 / sizeof u64[0]; i++) {
        uint64_t v;
        ASSERT_RC(ss_reader_get_uint64(&r, &v), 0);
        assert_true(v == u64[i]);
    }
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++) {
        double v;
        ASSERT_RC(ss_reader_get_double(&r, &v), 0);
        if (dbits(v) != dbl[i])
            fail_msg("double %zu: bits %016" PRIx64 ", expected %016" PRIx64, i,
                     dbits(v), dbl[i]);
    }
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *s;
        size_t n;
        ASSERT_RC(ss_reader_get_string(&r, &s, &n), 0);
        assert_string_equal(s, strs[i]);
        assert_int_equal(n, strlen(strs[i]));
        /* No copy: the string lives in the payload. */
        assert_true((const char *)s > (const char *)data &&
                    (const char *)s < (const char *)data + len);
    }
    const char *s;
    size_t n;
    ASSERT_RC(ss_reader_get_string(&r, &s, &n), 0);
    assert_string_equal(s, "abc");
    assert_int_equal(n, 3);
    ASSERT_RC(ss_reader_get_string(&r, &s, NULL), 0);
    assert_string_equal(s, "");
    const void *p;
    ASSERT_RC(ss_reader_get_blob(&r, &p, &n), 0);
    assert_int_equal(n, 0);
    assert_non_null(p);
    ASSERT_RC(ss_reader_get_blob(&r, &p, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "\0\0\0", 3);
    ASSERT_RC(ss_reader_get_blob(&r, &p, &n), 0);
    assert_int_equal(n, big_len);
    assert_memory_equal(p, big, big_len);
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) {
        void *v;
        ASSERT_RC(ss_reader_get_pointer(&r, &v), 0);
        assert_ptr_equal(v, ptrs[i]);
    }
    assert_true(ss_reader_at_end(&r));
    ASSERT_RC(ss_reader_get_int32(&r, NULL), SS_ENOENT);
    ASSERT_RC(ss_reader_peek(&r, NULL, NULL), SS_ENOENT);

    assert_reencodes(sig, data, len);
    ss_writer_free(&w);
    assert_false(ss_writer_allocated(&w));
    free(big);
}

static void test_roundtrip_nested(void **state)
{
    (void)state;
    size_t len, n;
    unsigned char *data = nested_payload(&len);
    ss_reader r;
    const char *s, *t;
    size_t tl;

    ASSERT_RC(ss_reader_init(&r, NESTED_SIG, data, len), 0);
    ASSERT_RC(ss_reader_skip(&r), 0); /* b */
    ASSERT_RC(ss_unpack(&r, "iuxtdspy", NULL, NULL, NULL, NULL, NULL, NULL,
                        NULL, NULL, NULL),
              0);

    /* aai: [[], [1], [2, 12]] */
    ASSERT_RC(ss_reader_peek(&r, &t, &tl), 0);
    assert_int_equal(tl, 3);
    assert_memory_equal(t, "aai", 3);
    ASSERT_RC(ss_reader_array_begin(&r, &n), 0);
    assert_int_equal(n, 3);
    for (int k = 0; k < 3; k++) {
        size_t m;
        ASSERT_RC(ss_reader_array_begin(&r, &m), 0);
        assert_int_equal(m, (size_t)k);
        for (int j = 0; j < k; j++) {
            int32_t v;
            ASSERT_RC(ss_reader_get_int32(&r, &v), 0);
            assert_int_equal(v, j * 10 + k);
        }
        ASSERT_RC(ss_reader_get_int32(&r, NULL), SS_ENOENT);
        ASSERT_RC(ss_reader_array_end(&r), 0);
    }
    ASSERT_RC(ss_reader_array_begin(&r, NULL), SS_ENOENT);
    ASSERT_RC(ss_reader_array_end(&r), 0);

    /* a{{d}} */
    ASSERT_RC(ss_reader_array_begin(&r, &n), 0);
    assert_int_equal(n, 2);
    ASSERT_RC(ss_reader_map_begin(&r, &n), 0);
    assert_int_equal(n, 1);
    ASSERT_RC(ss_reader_map_next(&r, &s, &tl), 0);
    assert_string_equal(s, "outer");
    assert_int_equal(tl, 5);
    ASSERT_RC(ss_reader_map_begin(&r, &n), 0);
    assert_int_equal(n, 2);
    double d;
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), 0);
    assert_string_equal(s, "x");
    ASSERT_RC(ss_reader_get_double(&r, &d), 0);
    assert_true(d == 1.0);
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), 0);
    assert_string_equal(s, "y");
    ASSERT_RC(ss_reader_get_double(&r, &d), 0);
    assert_true(d == -0.5);
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), SS_ENOENT);
    ASSERT_RC(ss_reader_map_end(&r), 0);
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), SS_ENOENT);
    ASSERT_RC(ss_reader_map_end(&r), 0);
    ASSERT_RC(ss_reader_map_begin(&r, &n), 0);
    assert_int_equal(n, 0);
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), SS_ENOENT);
    ASSERT_RC(ss_reader_map_end(&r), 0);
    ASSERT_RC(ss_reader_array_end(&r), 0);

    /* {v}: read some values, skip others (map_next skips them). */
    ASSERT_RC(ss_reader_map_begin(&r, &n), 0);
    assert_int_equal(n, 6);
    const char *vs;
    size_t vl;
    int32_t i32;
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), 0);
    assert_string_equal(s, "int");
    ASSERT_RC(ss_reader_get_int32(&r, &i32), SS_ETYPE); /* a variant */
    ASSERT_RC(ss_reader_variant_begin(&r, &vs, &vl), 0);
    assert_int_equal(vl, 1);
    assert_memory_equal(vs, "i", 1);
    ASSERT_RC(ss_reader_get_int32(&r, &i32), 0);
    assert_int_equal(i32, 7);
    ASSERT_RC(ss_reader_get_int32(&r, &i32), SS_ENOENT);
    ASSERT_RC(ss_reader_array_end(&r), SS_ESTATE);
    ASSERT_RC(ss_reader_variant_end(&r), 0);
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), 0);
    assert_string_equal(s, "str"); /* value left unread: skipped */
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), 0);
    assert_string_equal(s, "arr");
    ASSERT_RC(ss_reader_variant_begin(&r, &vs, &vl), 0);
    assert_int_equal(vl, 2);
    assert_memory_equal(vs, "ad", 2);
    ASSERT_RC(ss_reader_array_begin(&r, &n), 0);
    assert_int_equal(n, 2);
    ASSERT_RC(ss_reader_get_double(&r, &d), 0);
    assert_true(d == 0.25);
    ASSERT_RC(ss_reader_array_end(&r), 0); /* 4.0 skipped */
    ASSERT_RC(ss_reader_variant_end(&r), 0);
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), 0);
    assert_string_equal(s, "map");
    ss_value view;
    ASSERT_RC(ss_reader_get_value(&r, &view), 0);
    assert_int_equal(ss_signature_type_len(view.sig), 1);
    assert_int_equal(view.sig[0], 'v');
    assert_format("v", view.data, view.len, "(<{\"k\": \"v\"}>)");
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), 0);
    assert_string_equal(s, "nested");
    ASSERT_RC(ss_reader_variant_begin(&r, &vs, &vl), 0);
    assert_memory_equal(vs, "v", 1);
    ASSERT_RC(ss_reader_variant_begin(&r, &vs, &vl), 0);
    assert_memory_equal(vs, "b", 1);
    bool b = false;
    ASSERT_RC(ss_reader_get_bool(&r, &b), 0);
    assert_true(b);
    ASSERT_RC(ss_reader_variant_end(&r), 0);
    ASSERT_RC(ss_reader_variant_end(&r), 0);
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), 0);
    assert_string_equal(s, "blob");
    ASSERT_RC(ss_reader_map_end(&r), 0); /* blob left: skipped */

    /* v holding aai: forward the variant's content as a view, then read
     * it with a reader of its own. */
    ASSERT_RC(ss_reader_variant_begin(&r, &vs, &vl), 0);
    assert_int_equal(vl, 3);
    ASSERT_RC(ss_reader_get_value(&r, &view), 0);
    assert_int_equal(ss_signature_type_len(view.sig), 3);
    assert_memory_equal(view.sig, "aai", 3);
    ASSERT_RC(ss_reader_variant_end(&r), 0);
    ss_reader r2;
    ASSERT_RC(ss_reader_init_value(&r2, &view), 0);
    ASSERT_RC(ss_reader_array_begin(&r2, &n), 0);
    assert_int_equal(n, 1);
    ASSERT_RC(ss_reader_array_begin(&r2, &n), 0);
    assert_int_equal(n, 2);
    ASSERT_RC(ss_unpack(&r2, "ii", &i32, NULL), 0);
    assert_int_equal(i32, 1);
    ASSERT_RC(ss_reader_array_end(&r2), 0);
    ASSERT_RC(ss_reader_array_end(&r2), 0);
    assert_true(ss_reader_at_end(&r2));
    /* The view re-encodes into another writer, inside a variant too. */
    ss_writer w;
    const void *out;
    size_t out_len;
    ss_writer_init(&w, NULL, 0);
    ASSERT_RC(ss_writer_put_value(&w, &view), 0);
    ASSERT_RC(ss_writer_data(&w, &out, &out_len), 0);
    assert_int_equal(out_len, view.len);
    assert_memory_equal(out, view.data, view.len);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_variant_begin(&w, "aai"), 0);
    ASSERT_RC(ss_writer_put_value(&w, &view), 0);
    ASSERT_RC(ss_writer_variant_end(&w), 0);
    ASSERT_RC(ss_writer_data(&w, &out, &out_len), 0);
    assert_format("v", out, out_len, "(<[[1, 2]]>)");
    ss_writer_free(&w);

    /* ab */
    ASSERT_RC(ss_reader_array_begin(&r, &n), 0);
    assert_int_equal(n, 3);
    bool bs[3];
    ASSERT_RC(ss_unpack(&r, "bbb", &bs[0], &bs[1], &bs[2]), 0);
    assert_true(bs[0] && !bs[1] && bs[2]);
    ASSERT_RC(ss_reader_array_end(&r), 0);
    assert_true(ss_reader_at_end(&r));

    assert_format(NESTED_SIG, data, len, NESTED_TEXT);
    assert_reencodes(NESTED_SIG, data, len);
    free(data);
}

/* Arrays of maps, maps of arrays, variants of arrays, deep but legal. */
static void test_nested_shapes(void **state)
{
    (void)state;
    ss_writer w;
    const void *data;
    size_t len;
    ss_writer_init(&w, NULL, 0);

    /* a{ai}: [{"a": [1], "b": []}, {}] */
    ASSERT_RC(ss_writer_array_begin(&w, "{ai}"), 0);
    ASSERT_RC(ss_writer_map_begin(&w, "ai"), 0);
    ASSERT_RC(ss_writer_put_string(&w, "a"), 0);
    ASSERT_RC(ss_writer_array_begin(&w, "i"), 0);
    ASSERT_RC(ss_writer_put_int32(&w, 1), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_put_string(&w, "b"), 0);
    ASSERT_RC(ss_writer_array_begin(&w, "i"), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_map_end(&w), 0);
    ASSERT_RC(ss_writer_map_begin(&w, "ai"), 0);
    ASSERT_RC(ss_writer_map_end(&w), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    /* av: variants of arrays and of maps */
    ASSERT_RC(ss_writer_array_begin(&w, "v"), 0);
    ASSERT_RC(ss_writer_variant_begin(&w, "as"), 0);
    ASSERT_RC(ss_writer_array_begin(&w, "s"), 0);
    ASSERT_RC(ss_pack(&w, "ss", "p", "q"), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_variant_end(&w), 0);
    ASSERT_RC(ss_writer_variant_begin(&w, "a{y}"), 0);
    ASSERT_RC(ss_writer_array_begin(&w, "{y}"), 0);
    ASSERT_RC(ss_writer_map_begin(&w, "y"), 0);
    ASSERT_RC(ss_pack(&w, "sy", "k", "\x01", (size_t)1), 0);
    ASSERT_RC(ss_writer_map_end(&w), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_variant_end(&w), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_format("a{ai}av", data, len,
                  "([{\"a\": [1], \"b\": []}, {}], "
                  "[<[\"p\", \"q\"]>, <[{\"k\": x'01'}]>])");
    assert_reencodes("a{ai}av", data, len);

    /* 32 nested arrays, the deepest legal, each holding one element. */
    char sig[64];
    memset(sig, 'a', 32);
    strcpy(sig + 32, "i");
    ss_writer_reset(&w);
    for (int k = 0; k < 32; k++)
        ASSERT_RC(ss_writer_array_begin(&w, sig + k + 1), 0);
    ASSERT_RC(ss_writer_put_int32(&w, 77), 0);
    /* No deeper: an array would put its elements at level 33. */
    ASSERT_RC(ss_writer_array_begin(&w, "i"), SS_ESIGNATURE);
    ASSERT_RC(ss_writer_error(&w), SS_ESIGNATURE);
    ss_writer_reset(&w);
    for (int k = 0; k < 32; k++)
        ASSERT_RC(ss_writer_array_begin(&w, sig + k + 1), 0);
    ASSERT_RC(ss_writer_put_int32(&w, 77), 0);
    for (int k = 0; k < 32; k++)
        ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_int_equal(len, 32 * 8 + 4);
    ss_reader r;
    ASSERT_RC(ss_reader_init(&r, sig, data, len), 0);
    for (int k = 0; k < 32; k++) {
        size_t n;
        ASSERT_RC(ss_reader_array_begin(&r, &n), 0);
        assert_int_equal(n, 1);
    }
    int32_t v;
    ASSERT_RC(ss_reader_get_int32(&r, &v), 0);
    assert_int_equal(v, 77);
    assert_reencodes(sig, data, len);

    /* Top-level arrays whose type is too deep are refused at begin. */
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_array_begin(&w, sig), SS_ESIGNATURE);
    ss_writer_free(&w);
}

/* Nested variants: 32 levels are legal, 33 are refused, by the writer
 * (at begin) and by the reader (a hand-made payload). */
static void test_variant_depth(void **state)
{
    (void)state;
    ss_writer w;
    const void *data;
    size_t len;
    ss_writer_init(&w, NULL, 0);
    for (int k = 0; k < 31; k++)
        ASSERT_RC(ss_writer_variant_begin(&w, "v"), 0);
    ASSERT_RC(ss_writer_variant_begin(&w, "i"), 0);
    ASSERT_RC(ss_writer_put_int32(&w, 5), 0);
    for (int k = 0; k < 32; k++)
        ASSERT_RC(ss_writer_variant_end(&w), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_int_equal(len, 32 * 2 + 4);
    ASSERT_RC(ss_payload_validate("v", data, len), 0);
    assert_reencodes("v", data, len);
    ss_reader r;
    ASSERT_RC(ss_reader_init(&r, "v", data, len), 0);
    for (int k = 0; k < 32; k++)
        ASSERT_RC(ss_reader_variant_begin(&r, NULL, NULL), 0);
    int32_t v;
    ASSERT_RC(ss_reader_get_int32(&r, &v), 0);
    assert_int_equal(v, 5);

    /* A 32nd "v" would hold a variant at level 32, whose content would be
     * at level 33. */
    ss_writer_reset(&w);
    for (int k = 0; k < 31; k++)
        ASSERT_RC(ss_writer_variant_begin(&w, "v"), 0);
    ASSERT_RC(ss_writer_variant_begin(&w, "v"), SS_ESIGNATURE);
    ss_writer_reset(&w);
    for (int k = 0; k < 31; k++)
        ASSERT_RC(ss_writer_variant_begin(&w, "v"), 0);
    ASSERT_RC(ss_writer_variant_begin(&w, "ai"), SS_ESIGNATURE);
    ss_writer_free(&w);

    /* Hand-made bombs: k nested variants around an int32. 32 levels are
     * legal, 33 and a 4000-deep bomb are not (and do not blow the stack). */
    static const int ks[] = {1, 31, 32, 33, 34, 4000};
    for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
        int k = ks[j];
        size_t blen = 2 * (size_t)k + 4;
        unsigned char *bomb = malloc(blen);
        assert_non_null(bomb);
        for (int i = 0; i < k; i++) {
            bomb[2 * i] = 1;
            bomb[2 * i + 1] = i == k - 1 ? 'i' : 'v';
        }
        memset(bomb + 2 * k, 0x11, 4);
        ASSERT_RC(ss_payload_validate("v", bomb, blen),
                  k <= 32 ? 0 : SS_EMALFORMED);
        ASSERT_RC(ss_reader_init(&r, "v", bomb, blen),
                  k <= 32 ? 0 : SS_EMALFORMED);
        free(bomb);
    }
    /* A variant whose own signature nests 32 arrays: its content is at
     * level 1, so the ints would be at level 33. Refused even though the
     * array is empty; with 31 arrays it passes. */
    unsigned char deepsig[1 + 33 + 8];
    deepsig[0] = 33;
    memset(deepsig + 1, 'a', 32);
    deepsig[33] = 'i';
    memset(deepsig + 34, 0, 8);
    ASSERT_RC(ss_payload_validate("v", deepsig, sizeof deepsig), SS_EMALFORMED);
    deepsig[1] = 32;
    ASSERT_RC(ss_payload_validate("v", deepsig + 1, sizeof deepsig - 1), 0);
    assert_format("v", deepsig + 1, sizeof deepsig - 1, "(<[]>)");
}

/* ---- writer buffers and errors ---- */

static void test_writer_growth(void **state)
{
    (void)state;
    unsigned char small[16];
    ss_writer w;
    const void *data;
    size_t len;

    /* Fits: stays in the caller's buffer, no allocation. */
    ss_writer_init(&w, small, sizeof small);
    ASSERT_RC(ss_pack(&w, "xi", (int64_t)-1, (int32_t)2), 0);
    ASSERT_RC(ss_writer_put_int32(&w, 3), 0); /* exactly 16 bytes */
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_int_equal(len, 16);
    assert_ptr_equal(data, small);
    assert_false(ss_writer_allocated(&w));
    ss_writer_free(&w); /* nothing to free: harmless */
    assert_false(ss_writer_allocated(&w));

    /* One byte more moves it to the heap, keeping what was written. */
    ASSERT_RC(ss_pack(&w, "xii", (int64_t)-1, (int32_t)2, (int32_t)3), 0);
    assert_false(ss_writer_allocated(&w));
    ASSERT_RC(ss_writer_put_bool(&w, true), 0);
    assert_true(ss_writer_allocated(&w));
    /* Then grows on: 4 KiB of strings inside an array. */
    ASSERT_RC(ss_writer_array_begin(&w, "s"), 0);
    for (int i = 0; i < 400; i++)
        ASSERT_RC(ss_writer_put_string(&w, "0123456789"), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_int_equal(len, 17 + 8 + 400 * 15);
    assert_ptr_not_equal(data, small);
    ss_reader r;
    int64_t x;
    int32_t a, b;
    bool t;
    size_t n;
    ASSERT_RC(ss_reader_init(&r, "xiibas", data, len), 0);
    ASSERT_RC(ss_unpack(&r, "xiib", &x, &a, &b, &t), 0);
    assert_true(x == -1 && a == 2 && b == 3 && t);
    ASSERT_RC(ss_reader_array_begin(&r, &n), 0);
    assert_int_equal(n, 400);
    for (int i = 0; i < 400; i++) {
        const char *s;
        ASSERT_RC(ss_reader_get_string(&r, &s, NULL), 0);
        assert_string_equal(s, "0123456789");
    }

    /* Reset keeps the heap buffer: the same memory is reused. */
    const void *heap = data;
    ss_writer_reset(&w);
    assert_true(ss_writer_allocated(&w));
    ASSERT_RC(ss_writer_put_blob(&w, "abc", 3), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_ptr_equal(data, heap);
    assert_int_equal(len, 7);
    /* Free goes back to the caller's buffer. */
    ss_writer_free(&w);
    assert_false(ss_writer_allocated(&w));
    ASSERT_RC(ss_writer_put_int32(&w, 9), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_ptr_equal(data, small);
    assert_int_equal(len, 4);

    /* No buffer at all: allocates on the first write. */
    ss_writer_init(&w, NULL, 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_int_equal(len, 0);
    assert_non_null(data);
    assert_false(ss_writer_allocated(&w));
    ASSERT_RC(ss_writer_put_bool(&w, false), 0);
    assert_true(ss_writer_allocated(&w));
    ss_writer_free(&w);
    ss_writer_free(&w); /* idempotent */
    assert_false(ss_writer_allocated(&w));

    /* A big enough buffer never allocates, even for a nested payload. */
    unsigned char big[2048];
    ss_writer_init(&w, big, sizeof big);
    build_nested(&w);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_ptr_equal(data, big);
    assert_false(ss_writer_allocated(&w));
    assert_format(NESTED_SIG, data, len, NESTED_TEXT);
}

static void test_writer_errors(void **state)
{
    (void)state;
    unsigned char buf[256];
    ss_writer w;
    const void *data;
    size_t len;

    /* Wrong element type: SS_ETYPE, sticky, nothing more written. */
    ss_writer_init(&w, buf, sizeof buf);
    ASSERT_RC(ss_writer_array_begin(&w, "s"), 0);
    ASSERT_RC(ss_writer_put_string(&w, "ok"), 0);
    ASSERT_RC(ss_writer_put_int32(&w, 1), SS_ETYPE);
    ASSERT_RC(ss_writer_put_string(&w, "later"), SS_ETYPE);
    ASSERT_RC(ss_writer_array_end(&w), SS_ETYPE);
    ASSERT_RC(ss_writer_error(&w), SS_ETYPE);
    ASSERT_RC(ss_writer_data(&w, &data, &len), SS_ETYPE);
    assert_int_equal(len, 8 + 7);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_error(&w), 0);

    /* Every kind of mismatch inside containers. */
    ASSERT_RC(ss_writer_array_begin(&w, "ai"), 0);
    ASSERT_RC(ss_writer_array_begin(&w, "s"), SS_ETYPE);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_array_begin(&w, "ai"), 0);
    ASSERT_RC(ss_writer_map_begin(&w, "i"), SS_ETYPE);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_array_begin(&w, "v"), 0);
    ASSERT_RC(ss_writer_put_int32(&w, 1), SS_ETYPE); /* needs a variant */
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_array_begin(&w, "v"), 0);
    ASSERT_RC(ss_writer_variant_begin(&w, "s"), 0);
    ASSERT_RC(ss_writer_put_int32(&w, 1), SS_ETYPE); /* variant of s */
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_map_begin(&w, "i"), 0);
    ASSERT_RC(ss_writer_put_int32(&w, 1), SS_ETYPE); /* key first */
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_map_begin(&w, "i"), 0);
    ASSERT_RC(ss_writer_put_string(&w, "k"), 0);
    ASSERT_RC(ss_writer_put_string(&w, "v"), SS_ETYPE); /* value is i */
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_map_begin(&w, "i"), 0);
    ASSERT_RC(ss_writer_put_string(&w, "k"), 0);
    ASSERT_RC(ss_writer_map_end(&w), SS_ESTATE); /* key without value */
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_variant_begin(&w, "i"), 0);
    ASSERT_RC(ss_writer_variant_end(&w), SS_ESTATE); /* no value */
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_variant_begin(&w, "i"), 0);
    ASSERT_RC(ss_writer_put_int32(&w, 1), 0);
    ASSERT_RC(ss_writer_put_int32(&w, 2), SS_ESTATE); /* only one */
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_array_end(&w), SS_ESTATE); /* nothing open */
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_array_begin(&w, "i"), 0);
    ASSERT_RC(ss_writer_map_end(&w), SS_ESTATE); /* not a map */
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_array_begin(&w, "i"), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), SS_ESTATE); /* still open */
    ss_writer_reset(&w);

    /* Bad signatures and arguments. */
    ASSERT_RC(ss_writer_array_begin(&w, "ii"), SS_ESIGNATURE);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_map_begin(&w, ""), SS_ESIGNATURE);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_variant_begin(&w, "a"), SS_ESIGNATURE);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_array_begin(&w, NULL), SS_EINVAL);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_put_string(&w, NULL), SS_EINVAL);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_put_stringn(&w, "a\0b", 3), SS_EINVAL);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_put_blob(&w, NULL, 1), SS_EINVAL);
    ss_writer_reset(&w);
    ASSERT_RC(ss_pack(&w, "a", NULL), SS_ESIGNATURE);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_put_value(&w, NULL), SS_EINVAL);
    ss_writer_reset(&w);

    /* Values: wrong type for the container, malformed bytes. */
    static const unsigned char ai_12[] = {2, 0, 0, 0, 8, 0, 0, 0,
                                          1, 0, 0, 0, 2, 0, 0, 0};
    ss_value ai = {"ai", ai_12, sizeof ai_12};
    ss_value as = {"as", ai_12, sizeof ai_12};
    ss_value bad = {"ai", ai_12, sizeof ai_12 - 1};
    ss_value badsig = {"a", ai_12, sizeof ai_12};
    ASSERT_RC(ss_writer_array_begin(&w, "ai"), 0);
    ASSERT_RC(ss_writer_put_value(&w, &ai), 0);
    ASSERT_RC(ss_writer_put_value(&w, &as), SS_ESIGNATURE);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_put_value(&w, &bad), SS_EMALFORMED);
    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_put_value(&w, &badsig), SS_ESIGNATURE);
    ss_writer_reset(&w);
    /* ss_pack: the view must be of the signature's type. */
    ASSERT_RC(ss_pack(&w, "ai", &ai), 0);
    ASSERT_RC(ss_pack(&w, "i{i}", (int32_t)1, &ai), SS_ESIGNATURE);
    ASSERT_RC(ss_writer_data(&w, &data, &len), SS_ESIGNATURE);
    assert_int_equal(len, sizeof ai_12 + 4); /* the i before it is kept */
    ss_writer_reset(&w);
    ASSERT_RC(ss_pack(&w, "v", &ai), SS_ESIGNATURE);
    ss_writer_reset(&w);
    ASSERT_RC(ss_pack(&w, "ai", NULL), SS_EINVAL);
    ss_writer_free(&w);
}

/* ---- ss_pack / ss_unpack ---- */

static void test_pack_unpack_all(void **state)
{
    (void)state;
    unsigned char vb[256], mb[256], ab[256], buf[1024];
    ss_writer vw, mw, aw, w;
    ss_value var, map, arr;
    int local;

    /* Pre-encoded values for the container and variant types. */
    ss_writer_init(&vw, vb, sizeof vb);
    ASSERT_RC(ss_writer_variant_begin(&vw, "s"), 0);
    ASSERT_RC(ss_writer_put_string(&vw, "in variant"), 0);
    ASSERT_RC(ss_writer_variant_end(&vw), 0);
    var.sig = "v";
    ASSERT_RC(ss_writer_data(&vw, &var.data, &var.len), 0);
    ss_writer_init(&mw, mb, sizeof mb);
    ASSERT_RC(ss_writer_map_begin(&mw, "d"), 0);
    ASSERT_RC(ss_pack(&mw, "sdsd", "a", 1.5, "b", -2.0), 0);
    ASSERT_RC(ss_writer_map_end(&mw), 0);
    map.sig = "{d}";
    ASSERT_RC(ss_writer_data(&mw, &map.data, &map.len), 0);
    ss_writer_init(&aw, ab, sizeof ab);
    ASSERT_RC(ss_writer_array_begin(&aw, "x"), 0);
    ASSERT_RC(ss_pack(&aw, "xx", (int64_t)1, (int64_t)-1), 0);
    ASSERT_RC(ss_writer_array_end(&aw), 0);
    arr.sig = "ax";
    ASSERT_RC(ss_writer_data(&aw, &arr.data, &arr.len), 0);

    const char *sig = "biuxtdsypaxv{d}";
    ss_writer_init(&w, buf, sizeof buf);
    ASSERT_RC(ss_pack(&w, sig, 1, (int32_t)INT32_MIN, (uint32_t)UINT32_MAX,
                      (int64_t)INT64_MIN, (uint64_t)UINT64_MAX,
                      bitsd(0x7ff8000000000abcull), "text", "\x00\xff",
                      (size_t)2, (void *)&local, &arr, &var, &map),
              0);
    const void *data;
    size_t len;
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_false(ss_writer_allocated(&w));

    bool b = false;
    int32_t i = 0;
    uint32_t u = 0;
    int64_t x = 0;
    uint64_t t = 0;
    double d = 0;
    const char *s = NULL;
    const void *y = NULL;
    size_t ylen = 0;
    void *p = NULL;
    ss_value va, vv, vm;
    ss_reader r;
    ASSERT_RC(ss_reader_init(&r, sig, data, len), 0);
    ASSERT_RC(ss_unpack(&r, sig, &b, &i, &u, &x, &t, &d, &s, &y, &ylen, &p, &va,
                        &vv, &vm),
              0);
    assert_true(b);
    assert_int_equal(i, INT32_MIN);
    assert_int_equal(u, UINT32_MAX);
    assert_true(x == INT64_MIN);
    assert_true(t == UINT64_MAX);
    assert_true(dbits(d) == 0x7ff8000000000abcull);
    assert_string_equal(s, "text");
    assert_int_equal(ylen, 2);
    assert_memory_equal(y, "\x00\xff", 2);
    assert_ptr_equal(p, &local);
    assert_int_equal(va.len, arr.len);
    assert_memory_equal(va.data, arr.data, arr.len);
    assert_int_equal(ss_signature_type_len(va.sig), 2);
    assert_memory_equal(va.sig, "ax", 2);
    assert_int_equal(vv.len, var.len);
    assert_memory_equal(vv.data, var.data, var.len);
    assert_int_equal(vv.sig[0], 'v');
    assert_int_equal(vm.len, map.len);
    assert_memory_equal(vm.data, map.data, map.len);
    assert_memory_equal(vm.sig, "{d}", 3);
    assert_true(ss_reader_at_end(&r));
    char expected[256];
    snprintf(expected, sizeof expected,
             "(true, -2147483648, 4294967295, -9223372036854775808, "
             "18446744073709551615, nan, \"text\", x'00ff', ptr(0x%" PRIxPTR
             "), [1, -1], <\"in variant\">, {\"a\": 1.5, \"b\": -2.0})",
             (uintptr_t)&local);
    assert_format(sig, data, len, expected);

    /* In pieces, inside containers, with NULL to skip values. */
    ASSERT_RC(ss_reader_init(&r, sig, data, len), 0);
    ASSERT_RC(ss_unpack(&r, "biu", NULL, &i, NULL), 0);
    assert_int_equal(i, INT32_MIN);
    ASSERT_RC(ss_unpack(&r, "xtdsyp", NULL, NULL, NULL, &s, NULL, NULL, NULL),
              0);
    assert_string_equal(s, "text");
    ASSERT_RC(ss_reader_array_begin(&r, NULL), 0);
    ASSERT_RC(ss_unpack(&r, "xx", &x, NULL), 0);
    assert_true(x == 1);
    ASSERT_RC(ss_unpack(&r, "x", &x), SS_ENOENT);
    ASSERT_RC(ss_reader_array_end(&r), 0);
    ASSERT_RC(ss_reader_variant_begin(&r, NULL, NULL), 0);
    ASSERT_RC(ss_unpack(&r, "s", &s), 0);
    assert_string_equal(s, "in variant");
    ASSERT_RC(ss_reader_variant_end(&r), 0);
    ASSERT_RC(ss_reader_map_begin(&r, NULL), 0);
    ASSERT_RC(ss_unpack(&r, "sdsd", &s, NULL, NULL, &d), 0);
    assert_string_equal(s, "a");
    assert_true(d == -2.0);
    ASSERT_RC(ss_reader_map_end(&r), 0);
    assert_true(ss_reader_at_end(&r));

    /* Round trip of the packed values through ss_pack again, from the
     * views: the same bytes. */
    unsigned char buf2[1024];
    ss_writer w2;
    ss_writer_init(&w2, buf2, sizeof buf2);
    ASSERT_RC(ss_pack(&w2, sig, 1, (int32_t)INT32_MIN, (uint32_t)UINT32_MAX,
                      (int64_t)INT64_MIN, (uint64_t)UINT64_MAX,
                      bitsd(0x7ff8000000000abcull), "text", "\x00\xff",
                      (size_t)2, (void *)&local, &va, &vv, &vm),
              0);
    const void *data2;
    size_t len2;
    ASSERT_RC(ss_writer_data(&w2, &data2, &len2), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(data2, data, len);
}

/* Reader type errors: nothing consumed, the right code. */
static void test_reader_type_errors(void **state)
{
    (void)state;
    unsigned char buf[256];
    ss_writer w;
    const void *data;
    size_t len;
    ss_reader r;
    int64_t x;
    const char *s;
    int32_t i;

    ss_writer_init(&w, buf, sizeof buf);
    ASSERT_RC(ss_pack(&w, "xsi", (int64_t)-3, "abc", (int32_t)9), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    ASSERT_RC(ss_reader_init(&r, "xsi", data, len), 0);

    /* Wrong signatures for ss_unpack: SS_ETYPE, nothing consumed. The
     * function itself, (ss_unpack): the macro would refuse these argument
     * types before the reader sees the signature (test_arg_check). */
    static const char *wrong[] = {"s",  "i", "xi",  "xsx", "xss",
                                  "ax", "v", "xsv", "t",   "{x}"};
    for (size_t k = 0; k < sizeof wrong / sizeof wrong[0]; k++) {
        x = 1;
        if ((ss_unpack)(&r, wrong[k], &x, &s, &i) != SS_ETYPE)
            fail_msg("unpack \"%s\" did not give SS_ETYPE", wrong[k]);
        assert_true(x == 1); /* nothing stored */
    }
    ASSERT_RC(ss_unpack(&r, "xsii", &x, &s, &i, &i), SS_ENOENT);
    ASSERT_RC(ss_unpack(&r, "x{", &x), SS_ESIGNATURE);
    /* Wrong getters: SS_ETYPE, nothing consumed. */
    ASSERT_RC(ss_reader_get_int32(&r, &i), SS_ETYPE);
    ASSERT_RC(ss_reader_get_uint64(&r, NULL), SS_ETYPE);
    ASSERT_RC(ss_reader_get_double(&r, NULL), SS_ETYPE);
    ASSERT_RC(ss_reader_get_string(&r, &s, NULL), SS_ETYPE);
    ASSERT_RC(ss_reader_get_blob(&r, NULL, NULL), SS_ETYPE);
    ASSERT_RC(ss_reader_get_bool(&r, NULL), SS_ETYPE);
    ASSERT_RC(ss_reader_get_pointer(&r, NULL), SS_ETYPE);
    ASSERT_RC(ss_reader_get_uint32(&r, NULL), SS_ETYPE);
    ASSERT_RC(ss_reader_array_begin(&r, NULL), SS_ETYPE);
    ASSERT_RC(ss_reader_map_begin(&r, NULL), SS_ETYPE);
    ASSERT_RC(ss_reader_variant_begin(&r, NULL, NULL), SS_ETYPE);
    ASSERT_RC(ss_reader_array_end(&r), SS_ESTATE);
    ASSERT_RC(ss_reader_map_end(&r), SS_ESTATE);
    ASSERT_RC(ss_reader_variant_end(&r), SS_ESTATE);
    ASSERT_RC(ss_reader_map_next(&r, &s, NULL), SS_ESTATE);
    /* The right calls still see every value. */
    ASSERT_RC(ss_unpack(&r, "x", &x), 0);
    assert_true(x == -3);
    ASSERT_RC(ss_unpack(&r, "si", &s, &i), 0);
    assert_string_equal(s, "abc");
    assert_int_equal(i, 9);
    ASSERT_RC(ss_unpack(&r, ""), 0);
    ASSERT_RC(ss_unpack(&r, "i", &i), SS_ENOENT);
    ASSERT_RC(ss_reader_skip(&r), SS_ENOENT);

    /* A reader whose init failed returns that error everywhere. */
    ASSERT_RC(ss_reader_init(&r, "xsi", data, len - 1), SS_EMALFORMED);
    assert_true(ss_reader_at_end(&r));
    ASSERT_RC(ss_reader_get_int64(&r, &x), SS_EMALFORMED);
    ASSERT_RC(ss_unpack(&r, "x", &x), SS_EMALFORMED);
    ASSERT_RC(ss_reader_init(&r, "q", data, len), SS_ESIGNATURE);
    ASSERT_RC(ss_reader_get_int64(&r, &x), SS_ESIGNATURE);
    ASSERT_RC(ss_reader_init(&r, NULL, data, len), SS_EINVAL);
    ASSERT_RC(ss_reader_init(&r, "i", NULL, 4), SS_EINVAL);
    /* An empty payload of an empty signature is fine. */
    ASSERT_RC(ss_reader_init(&r, "", NULL, 0), 0);
    assert_true(ss_reader_at_end(&r));
    ASSERT_RC(ss_reader_init(&r, "", data, len), SS_EMALFORMED);
    ss_value bad = {"q", data, len};
    ASSERT_RC(ss_reader_init_value(&r, &bad), SS_ESIGNATURE);
    ASSERT_RC(ss_reader_init_value(&r, NULL), SS_EINVAL);
}

/* ---- hostile inputs ---- */

/* Validate a copy of exactly len bytes of data with sig: the result. A
 * valid input must also read back completely and re-encode identically. */
static int check_input(const char *sig, const void *data, size_t len)
{
    unsigned char *copy = exact_copy(data, len);
    int rc = ss_payload_validate(sig, copy, len);
    ss_reader r;
    int rc2 = ss_reader_init(&r, sig, copy, len);
    if (rc != rc2)
        fail_msg("validate %d, reader %d", rc, rc2);
    if (rc == 0) {
        char text[256];
        int frc = ss_payload_format(sig, copy, len, text, sizeof text);
        if (frc != 0 && frc != SS_ENOBUFS)
            fail_msg("format of a valid payload: %s", ss_errname(frc));
        assert_reencodes(sig, copy, len);
    }
    free(copy);
    return rc;
}

static void test_truncated(void **state)
{
    (void)state;
    size_t len;
    unsigned char *data = nested_payload(&len);
    ASSERT_RC(check_input(NESTED_SIG, data, len), 0);
    for (size_t cut = 0; cut < len; cut++) {
        int rc = check_input(NESTED_SIG, data, cut);
        if (rc != SS_EMALFORMED)
            fail_msg("cut at %zu of %zu: %s", cut, len, ss_errname(rc));
        char text[64];
        ASSERT_RC(ss_payload_format(NESTED_SIG, data, cut, text, sizeof text),
                  SS_EMALFORMED);
        assert_string_equal(text,
                            "<invalid payload: malformed encoded payload>");
    }
    /* One byte too many is malformed too. */
    unsigned char *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, data, len);
    longer[len] = 0;
    ASSERT_RC(check_input(NESTED_SIG, longer, len + 1), SS_EMALFORMED);
    free(longer);

    /* Each top-level type truncated, from the same payload. */
    ss_reader r;
    ASSERT_RC(ss_reader_init(&r, NESTED_SIG, data, len), 0);
    while (!ss_reader_at_end(&r)) {
        ss_value v;
        ASSERT_RC(ss_reader_get_value(&r, &v), 0);
        char one[SS_SIGNATURE_MAX_LEN + 1];
        size_t n = ss_signature_type_len(v.sig);
        memcpy(one, v.sig, n);
        one[n] = '\0';
        ASSERT_RC(check_input(one, v.data, v.len), 0);
        for (size_t cut = 0; cut < v.len; cut++)
            ASSERT_RC(check_input(one, v.data, cut), SS_EMALFORMED);
    }
    free(data);
}

static void test_byte_flips(void **state)
{
    (void)state;
    size_t len, valid = 0, malformed = 0;
    unsigned char *data = nested_payload(&len);
    unsigned char *mut = malloc(len);
    assert_non_null(mut);
    for (size_t off = 0; off < len; off++) {
        const unsigned char o = data[off];
        const unsigned char vals[] = {0x00,
                                      0x01,
                                      0x02,
                                      0x7f,
                                      0x80,
                                      0xff,
                                      (unsigned char)(o ^ 1),
                                      (unsigned char)(o + 1),
                                      (unsigned char)(o - 1),
                                      (unsigned char)(o ^ 0x80)};
        for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
            if (vals[k] == o)
                continue;
            memcpy(mut, data, len);
            mut[off] = vals[k];
            int rc = check_input(NESTED_SIG, mut, len);
            if (rc == 0)
                valid++;
            else if (rc == SS_EMALFORMED)
                malformed++;
            else
                fail_msg("offset %zu value %02x: %s", off, vals[k],
                         ss_errname(rc));
        }
    }
    /* Both outcomes happen: numbers and string bytes can take any value,
     * lengths and bools cannot. */
    assert_true(valid > 0);
    assert_true(malformed > 0);
    print_message("byte flips over %zu bytes: %zu still valid, %zu "
                  "malformed\n",
                  len, valid, malformed);

    /* Specific damage, each malformed. */
    static const struct {
        const char *sig;
        const char *bytes;
        size_t len;
    } bad[] = {
        {"b", "\x02", 1},                             /* bool 2 */
        {"ab", "\x01\0\0\0\x01\0\0\0\x02", 9},        /* bool 2 in an array */
        {"s", "\x01\0\0\0a\x01", 6},                  /* no NUL at the end */
        {"s", "\x02\0\0\0a\0\0", 7},                  /* NUL inside */
        {"s", "\x01\0\0\0a", 5},                      /* terminator missing */
        {"ai", "\x01\0\0\0\x05\0\0\0\0\0\0\0\0", 13}, /* 1 x 4 != 5 */
        {"ai", "\x02\0\0\0\x04\0\0\0\0\0\0\0", 12},   /* count too big */
        {"as", "\x02\0\0\0\x05\0\0\0\0\0\0\0\0", 13}, /* 2 strings in 5 */
        {"as", "\x00\0\0\0\x05\0\0\0\0\0\0\0\0", 13}, /* 0 in 5 bytes */
        {"{i}", "\x01\0\0\0\x08\0\0\0\0\0\0\0\0\0\0\0", 16}, /* 1 short */
        {"v", "\x00", 1},                    /* empty signature */
        {"v", "\x02ii\0\0\0\0\0\0\0\0", 11}, /* two types */
        {"v", "\x01q\0\0\0\0", 6},           /* unknown type */
        {"v",
         "\x01"
         "a\0\0\0\0",
         6},                         /* incomplete type */
        {"v", "\x02{i\0\0\0\0", 7},  /* unclosed map */
        {"v", "\x02i\0\0\0\0\0", 7}, /* NUL in signature */
        {"v", "\x05i", 2},           /* sig past the end */
        {"i", "\0\0\0\0\0", 5},      /* trailing byte */
        {"", "\0", 1},               /* trailing byte */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        if (check_input(bad[k].sig, bad[k].bytes, bad[k].len) != SS_EMALFORMED)
            fail_msg("bad input %zu (\"%s\") accepted", k, bad[k].sig);
    free(mut);
    free(data);
}

static void test_huge_lengths(void **state)
{
    (void)state;
    static const uint32_t lens[] = {UINT32_MAX,
                                    UINT32_MAX - 1,
                                    UINT32_MAX - 4,
                                    UINT32_MAX - 5,
                                    0x80000000u,
                                    0x7fffffffu,
                                    64,
                                    5};
    unsigned char b[64];
    memset(b, 0, sizeof b);
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        uint32_t L = lens[k];
        memcpy(b, &L, 4); /* the tests run on little-endian hosts */
        /* Strings and blobs claiming L bytes in a 16-byte payload. */
        ASSERT_RC(check_input("s", b, 16), SS_EMALFORMED);
        if (L != 12)
            ASSERT_RC(check_input("y", b, 16), SS_EMALFORMED);
        /* Arrays and maps: a huge count, then a huge byte length. */
        uint32_t small = 8;
        memcpy(b + 4, &small, 4);
        ASSERT_RC(check_input("ai", b, 16), SS_EMALFORMED);
        ASSERT_RC(check_input("{i}", b, 16), SS_EMALFORMED);
        uint32_t one = 1;
        memcpy(b, &one, 4);
        memcpy(b + 4, &L, 4);
        ASSERT_RC(check_input("ai", b, 16), SS_EMALFORMED);
        ASSERT_RC(check_input("as", b, 16), SS_EMALFORMED);
        ASSERT_RC(check_input("{v}", b, 16), SS_EMALFORMED);
        memcpy(b, &L, 4);
        ASSERT_RC(check_input("ay", b, 16), SS_EMALFORMED);
        /* Inside a variant, inside an array. */
        unsigned char v[24] = {1, 's'};
        memcpy(v + 2, &L, 4);
        ASSERT_RC(check_input("v", v, sizeof v), SS_EMALFORMED);
        memset(b, 0, sizeof b);
    }
    /* An empty array with a count (zero-size elements do not exist). */
    static const unsigned char zero_len[8] = {0xff, 0xff, 0xff, 0xff,
                                              0,    0,    0,    0};
    ASSERT_RC(check_input("ab", zero_len, 8), SS_EMALFORMED);
    ASSERT_RC(check_input("aai", zero_len, 8), SS_EMALFORMED);
    /* The writer refuses what it cannot encode (without allocating it). */
    ss_writer w;
    ss_writer_init(&w, NULL, 0);
    static const char c = 'x';
    ASSERT_RC(ss_writer_put_blob(&w, &c, (size_t)UINT32_MAX + 1), SS_EMSGSIZE);
    ss_writer_free(&w);
}

/* Random byte strings against several signatures: never a crash, only 0
 * or SS_EMALFORMED, and every accepted one re-encodes identically. */
static void test_fuzz_random(void **state)
{
    (void)state;
    static const char *sigs[] = {"b",  "i",    "s",  "y",     "v",
                                 "ai", "ab",   "as", "{v}",   "a{ay}",
                                 "av", "bixs", "vv", "{{s}}", "aav"};
    const size_t nsig = sizeof sigs / sizeof sigs[0];
    const int rounds = 200000;
    uint64_t seed = 0x5eed5eed12345678ull;
    unsigned char buf[48];
    size_t valid[sizeof sigs / sizeof sigs[0]] = {0};
    int64_t t0 = tu_now_ns();

    for (int n = 0; n < rounds; n++) {
        uint64_t rnd = tu_rand(&seed);
        size_t len = (size_t)(rnd % sizeof buf);
        /* Bias towards small numbers, so that lengths and counts are
         * sometimes right: random bytes masked to 0..15. */
        bool small = (rnd >> 8) & 1;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)tu_rand(&seed);
            if (small && (c & 0x80))
                c &= 0x0f;
            buf[i] = c;
        }
        /* Sometimes plant a plausible variant signature. */
        if (len >= 3 && ((rnd >> 9) & 3) == 0) {
            buf[0] = 1;
            buf[1] = "bixsyv"[(rnd >> 12) % 6];
        }
        for (size_t k = 0; k < nsig; k++) {
            unsigned char *copy = exact_copy(buf, len);
            int rc = ss_payload_validate(sigs[k], copy, len);
            if (rc == 0) {
                valid[k]++;
                ss_reader r;
                ASSERT_RC(ss_reader_init(&r, sigs[k], copy, len), 0);
                if (valid[k] <= 200) /* the slow, thorough check */
                    assert_reencodes(sigs[k], copy, len);
                char text[128];
                int frc =
                    ss_payload_format(sigs[k], copy, len, text, sizeof text);
                assert_true(frc == 0 || frc == SS_ENOBUFS);
            } else if (rc != SS_EMALFORMED) {
                fail_msg("sig %s: %s", sigs[k], ss_errname(rc));
            }
            free(copy);
        }
    }
    int64_t t1 = tu_now_ns();
    print_message("fuzz: %d random inputs x %zu signatures in %.0f ms; "
                  "valid:",
                  rounds, nsig, (double)(t1 - t0) / 1e6);
    for (size_t k = 0; k < nsig; k++)
        print_message(" %s=%zu", sigs[k], valid[k]);
    print_message("\n");
    /* Inputs of fixed size are accepted at the expected rate. */
    assert_true(valid[1] > 0); /* "i": any 4 bytes */
    assert_true(valid[0] > 0); /* "b": one byte 0 or 1 */
}

/* Random valid payloads: a random signature, random values for it, then
 * random damage. */

/* Append one random complete type at out[*pos]; containers only while
 * depth < 3. */
static void gen_type(uint64_t *rng, char *out, size_t *pos, int depth)
{
    static const char basic[] = "biuxtdsypv";
    unsigned r = (unsigned)(tu_rand(rng) % (depth < 3 ? 14 : 10));
    if (r < 10) {
        out[(*pos)++] = basic[r];
    } else if (r < 12) {
        out[(*pos)++] = 'a';
        gen_type(rng, out, pos, depth + 1);
    } else {
        out[(*pos)++] = '{';
        gen_type(rng, out, pos, depth + 1);
        out[(*pos)++] = '}';
    }
}

static void gen_bytes(uint64_t *rng, char *out, size_t n, bool no_nul)
{
    for (size_t i = 0; i < n; i++) {
        char c = (char)tu_rand(rng);
        out[i] = (no_nul && c == 0) ? 'z' : c;
    }
    out[n] = '\0';
}

/* Write one random value of the type at t. */
static void gen_value(uint64_t *rng, ss_writer *w, const char *t, int depth)
{
    uint64_t r = tu_rand(rng);
    char tmp[SS_SIGNATURE_MAX_LEN + 1];
    size_t tl = ss_signature_type_len(t);
    switch (*t) {
    case 'b':
        ASSERT_RC(ss_writer_put_bool(w, r & 1), 0);
        break;
    case 'i':
        ASSERT_RC(ss_writer_put_int32(w, (int32_t)r), 0);
        break;
    case 'u':
        ASSERT_RC(ss_writer_put_uint32(w, (uint32_t)r), 0);
        break;
    case 'x':
        ASSERT_RC(ss_writer_put_int64(w, (int64_t)r), 0);
        break;
    case 't':
        ASSERT_RC(ss_writer_put_uint64(w, r), 0);
        break;
    case 'd':
        ASSERT_RC(ss_writer_put_double(w, bitsd(r)), 0);
        break;
    case 'p':
        ASSERT_RC(ss_writer_put_pointer(w, (void *)(uintptr_t)r), 0);
        break;
    case 's':
        gen_bytes(rng, tmp, r % 9, true);
        ASSERT_RC(ss_writer_put_string(w, tmp), 0);
        break;
    case 'y':
        gen_bytes(rng, tmp, r % 9, false);
        ASSERT_RC(ss_writer_put_blob(w, tmp, r % 9), 0);
        break;
    case 'a':
    case '{': {
        size_t el = *t == 'a' ? tl - 1 : tl - 2;
        memcpy(tmp, t + 1, el);
        tmp[el] = '\0';
        if (*t == 'a')
            ASSERT_RC(ss_writer_array_begin(w, tmp), 0);
        else
            ASSERT_RC(ss_writer_map_begin(w, tmp), 0);
        for (uint64_t k = r % 4; k > 0; k--) {
            if (*t == '{') {
                char key[12];
                gen_bytes(rng, key, tu_rand(rng) % 6, true);
                ASSERT_RC(ss_writer_put_string(w, key), 0);
            }
            gen_value(rng, w, t + 1, depth + 1);
        }
        if (*t == 'a')
            ASSERT_RC(ss_writer_array_end(w), 0);
        else
            ASSERT_RC(ss_writer_map_end(w), 0);
        break;
    }
    case 'v': {
        size_t pos = 0;
        if (depth < 4)
            gen_type(rng, tmp, &pos, 1);
        else
            tmp[pos++] = 'i';
        tmp[pos] = '\0';
        ASSERT_RC(ss_writer_variant_begin(w, tmp), 0);
        gen_value(rng, w, tmp, depth + 1);
        ASSERT_RC(ss_writer_variant_end(w), 0);
        break;
    }
    default:
        fail_msg("bad type %c", *t);
    }
}

static void test_fuzz_structured(void **state)
{
    (void)state;
    const int rounds = 100000;
    uint64_t rng = 0xfeedfacecafef00dull;
    size_t mutated_valid = 0, mutated_malformed = 0, max_len = 0;
    ss_writer w;
    ss_writer_init(&w, NULL, 0);
    int64_t t0 = tu_now_ns();

    for (int iter = 0; iter < rounds; iter++) {
        char sig[128];
        size_t pos = 0, ntypes = 1 + tu_rand(&rng) % 3, n;
        for (size_t k = 0; k < ntypes; k++)
            gen_type(&rng, sig, &pos, 0);
        sig[pos] = '\0';
        ASSERT_RC(ss_signature_validate(sig, &n), 0);
        assert_int_equal(n, ntypes);

        ss_writer_reset(&w);
        for (const char *t = sig; *t; t += ss_signature_type_len(t))
            gen_value(&rng, &w, t, 0);
        const void *data;
        size_t len;
        ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
        if (len > max_len)
            max_len = len;
        ASSERT_RC(check_input(sig, data, len), 0);
        if (len == 0)
            continue;

        /* Damage: 1 to 3 of set, flip, truncate, insert, delete. */
        unsigned char mut[4096];
        if (len + 8 > sizeof mut)
            continue;
        size_t mlen = len;
        memcpy(mut, data, len);
        for (uint64_t m = 1 + tu_rand(&rng) % 3; m > 0 && mlen > 0; m--) {
            uint64_t r = tu_rand(&rng);
            size_t at = (size_t)((r >> 8) % mlen);
            switch (r % 5) {
            case 0:
                mut[at] = (unsigned char)(r >> 40);
                break;
            case 1:
                mut[at] ^= (unsigned char)(1u << ((r >> 40) % 8));
                break;
            case 2:
                mlen = at;
                break;
            case 3:
                memmove(mut + at + 1, mut + at, mlen - at);
                mut[at] = (unsigned char)(r >> 40);
                mlen++;
                break;
            default:
                memmove(mut + at, mut + at + 1, mlen - at - 1);
                mlen--;
                break;
            }
        }
        int rc = check_input(sig, mut, mlen);
        if (rc == 0)
            mutated_valid++;
        else if (rc == SS_EMALFORMED)
            mutated_malformed++;
        else
            fail_msg("sig %s, damaged: %s", sig, ss_errname(rc));
    }
    ss_writer_free(&w);
    int64_t t1 = tu_now_ns();
    print_message("structured fuzz: %d random payloads (up to %zu bytes) in "
                  "%.0f ms; damaged: %zu valid, %zu malformed\n",
                  rounds, max_len, (double)(t1 - t0) / 1e6, mutated_valid,
                  mutated_malformed);
    assert_true(mutated_malformed > (size_t)rounds / 4);

    /* Random strings over the signature alphabet: a signature accepted
     * must split into exactly n_types complete types. */
    static const char alphabet[] = "biuxtdsypva{}a{}z";
    size_t accepted = 0;
    for (int iter = 0; iter < 100000; iter++) {
        char sig[16];
        size_t len = tu_rand(&rng) % sizeof sig, n;
        for (size_t i = 0; i < len; i++)
            sig[i] = alphabet[tu_rand(&rng) % (sizeof alphabet - 1)];
        sig[len] = '\0';
        if (ss_signature_validate(sig, &n) != 0)
            continue;
        accepted++;
        size_t k = 0, pos = 0;
        while (sig[pos]) {
            size_t tl = ss_signature_type_len(sig + pos);
            assert_true(tl > 0);
            pos += tl;
            k++;
        }
        assert_int_equal(k, n);
    }
    assert_true(accepted > 0);
}

/* ---- text ---- */

static void test_format(void **state)
{
    (void)state;
    unsigned char buf[512];
    ss_writer w;
    const void *data;
    size_t len;
    char out[256];

    ss_writer_init(&w, buf, sizeof buf);
    ASSERT_RC(ss_pack(&w, "bbiuxt", 1, 0, (int32_t)-2147483647 - 1,
                      (uint32_t)UINT32_MAX, (int64_t)INT64_MAX, (uint64_t)0),
              0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_format("bbiuxt", data, len,
                  "(true, false, -2147483648, 4294967295, "
                  "9223372036854775807, 0)");

    ss_writer_reset(&w);
    ASSERT_RC(ss_pack(&w, "dddddddd", 0.1, 1.0, -0.0, 1e300, 1.0 / 3,
                      bitsd(0x7ff8000000000000ull), -INFINITY, 123456789.0),
              0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_format("dddddddd", data, len,
                  "(0.1, 1.0, -0.0, 1e+300, 0.3333333333333333, nan, -inf, "
                  "123456789.0)");

    ss_writer_reset(&w);
    ASSERT_RC(ss_pack(&w, "ssyyp", "a\"b\\c\n\t\x01\x7f\xc3\xa9", "",
                      "\x00\xab", (size_t)2, NULL, (size_t)0, NULL),
              0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_format("ssyyp", data, len,
                  "(\"a\\\"b\\\\c\\n\\t\\x01\\x7f\xc3\xa9\", \"\", x'00ab', "
                  "x'', ptr(0x0))");

    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_array_begin(&w, "s"), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_map_begin(&w, "ai"), 0);
    ASSERT_RC(ss_writer_map_end(&w), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    assert_format("as{ai}", data, len, "([], {})");
    assert_format("", NULL, 0, "()");

    /* The brief's example. */
    ss_writer_reset(&w);
    ASSERT_RC(ss_pack(&w, "is", (int32_t)42, "hello"), 0);
    ASSERT_RC(ss_writer_map_begin(&w, "d"), 0);
    ASSERT_RC(ss_pack(&w, "sd", "a", 1.5), 0);
    ASSERT_RC(ss_writer_map_end(&w), 0);
    ASSERT_RC(ss_writer_array_begin(&w, "i"), 0);
    ASSERT_RC(ss_pack(&w, "ii", (int32_t)1, (int32_t)2), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    const char *full = "(42, \"hello\", {\"a\": 1.5}, [1, 2])";
    assert_format("is{d}ai", data, len, full);

    /* Truncation: the beginning, "...", always terminated. */
    for (size_t size = 1; size <= strlen(full) + 1; size++) {
        memset(out, 'Z', sizeof out);
        int rc = ss_payload_format("is{d}ai", data, len, out, size);
        if (size == strlen(full) + 1) {
            ASSERT_RC(rc, 0);
            assert_string_equal(out, full);
            continue;
        }
        ASSERT_RC(rc, SS_ENOBUFS);
        assert_int_equal(strlen(out), size - 1);
        assert_int_equal(out[size], 'Z'); /* nothing written past size */
        if (size >= 4) {
            assert_memory_equal(out, full, size - 4);
            assert_string_equal(out + size - 4, "...");
        }
    }
    ASSERT_RC(ss_payload_format("is{d}ai", data, len, NULL, 0), SS_ENOBUFS);
    /* Invalid payloads say so instead. */
    ASSERT_RC(ss_payload_format("is{d}ai", data, len - 1, out, sizeof out),
              SS_EMALFORMED);
    assert_string_equal(out, "<invalid payload: malformed encoded payload>");
    ASSERT_RC(ss_payload_format("is{", data, len, out, sizeof out),
              SS_ESIGNATURE);
    assert_string_equal(out, "<invalid payload: invalid or mismatched type "
                             "signature>");
    ASSERT_RC(ss_payload_format("is{", data, len, out, 10), SS_ESIGNATURE);
    assert_string_equal(out, "<invalid ");
}

/* Pointers refused on request, even hidden in a variant. */
static void test_no_pointer_flag(void **state)
{
    (void)state;
    unsigned char buf[128];
    ss_writer w;
    const void *data;
    size_t len;
    int x;

    ss_writer_init(&w, buf, sizeof buf);
    ASSERT_RC(ss_pack(&w, "ip", (int32_t)1, (void *)&x), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    ASSERT_RC(ss_payload_validate_flags("ip", data, len, 0), 0);
    ASSERT_RC(ss_payload_validate_flags("ip", data, len, SS_PAYLOAD_NO_POINTER),
              SS_ETYPE);

    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_variant_begin(&w, "p"), 0);
    ASSERT_RC(ss_writer_put_pointer(&w, &x), 0);
    ASSERT_RC(ss_writer_variant_end(&w), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    ASSERT_RC(ss_payload_validate_flags("v", data, len, 0), 0);
    ASSERT_RC(ss_payload_validate_flags("v", data, len, SS_PAYLOAD_NO_POINTER),
              SS_ETYPE);

    ss_writer_reset(&w);
    ASSERT_RC(ss_writer_array_begin(&w, "p"), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_array_begin(&w, "p"), 0);
    ASSERT_RC(ss_writer_put_pointer(&w, NULL), 0);
    ASSERT_RC(ss_writer_array_end(&w), 0);
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);
    ASSERT_RC(ss_payload_validate_flags("ap", data, 8, SS_PAYLOAD_NO_POINTER),
              0); /* an empty array holds no pointer */
    ASSERT_RC(
        ss_payload_validate_flags("apap", data, len, SS_PAYLOAD_NO_POINTER),
        SS_ETYPE);
    ASSERT_RC(ss_payload_validate_flags("apap", data, len, 0), 0);
}

/* ---- measurement ---- */

static void test_measure(void **state)
{
    (void)state;
    const int n = 1000000;
    unsigned char buf[128];
    ss_writer w;
    ss_reader r;
    const void *data = NULL;
    size_t len = 0;
    uint64_t sum = 0;

    ss_writer_init(&w, buf, sizeof buf);
    int64_t t0 = tu_now_ns();
    for (int k = 0; k < n; k++) {
        ss_writer_reset(&w);
        if (ss_pack(&w, "xs", (int64_t)k, "hello, world") != 0 ||
            ss_writer_data(&w, &data, &len) != 0)
            fail();
        sum += len;
    }
    int64_t t1 = tu_now_ns();
    for (int k = 0; k < n; k++) {
        int64_t x;
        const char *s;
        if (ss_reader_init(&r, "xs", data, len) != 0 ||
            ss_unpack(&r, "xs", &x, &s) != 0)
            fail();
        sum += (uint64_t)x + (unsigned char)s[0];
    }
    int64_t t2 = tu_now_ns();
    for (int k = 0; k < n; k++) {
        int64_t x;
        const char *s;
        ss_writer_reset(&w);
        if (ss_pack(&w, "xs", (int64_t)k, "hello, world") != 0 ||
            ss_writer_data(&w, &data, &len) != 0 ||
            ss_reader_init(&r, "xs", data, len) != 0 ||
            ss_unpack(&r, "xs", &x, &s) != 0 || x != k)
            fail();
        sum += (unsigned char)s[0];
    }
    int64_t t3 = tu_now_ns();
    /* The same with the typed calls instead of ss_pack/ss_unpack. */
    for (int k = 0; k < n; k++) {
        int64_t x;
        const char *s;
        ss_writer_reset(&w);
        if (ss_writer_put_int64(&w, k) != 0 ||
            ss_writer_put_string(&w, "hello, world") != 0 ||
            ss_writer_data(&w, &data, &len) != 0 ||
            ss_reader_init(&r, "xs", data, len) != 0 ||
            ss_reader_get_int64(&r, &x) != 0 ||
            ss_reader_get_string(&r, &s, NULL) != 0 || x != k)
            fail();
        sum += (unsigned char)s[0];
    }
    int64_t t4 = tu_now_ns();
    assert_false(ss_writer_allocated(&w));
    assert_int_equal(len, 8 + 4 + 12 + 1);
    print_message("payload (int64, 12-char string), %zu bytes, %d ops each:\n"
                  "  encode (ss_pack)                    %6.1f ns/op\n"
                  "  decode (reader_init + ss_unpack)    %6.1f ns/op\n"
                  "  encode + decode (pack/unpack)       %6.1f ns/op\n"
                  "  encode + decode (typed calls)       %6.1f ns/op\n"
                  "  (checksum %" PRIu64 ")\n",
                  len, n, (double)(t1 - t0) / n, (double)(t2 - t1) / n,
                  (double)(t3 - t2) / n, (double)(t4 - t3) / n, sum);
}

/* Log lines of the argument checks, counted (and kept quiet). */
static int arg_lines;
static char arg_last[300];

static void count_arg_lines(ss_log_level level, const char *component,
                            const char *message, void *ud)
{
    (void)level;
    (void)component;
    (void)ud;
    arg_lines++;
    snprintf(arg_last, sizeof arg_last, "%s", message);
}

/* A mistyped argument is refused with SS_ETYPE and a line naming it,
 * before anything is read or written (signal_slot/argcheck.h): without the
 * check, the literal 7 for an 'x' sent garbage, and an int32_t * for an
 * 'x' output got 8 bytes. */
static void test_arg_check(void **state)
{
    (void)state;
    unsigned char buf[256], blob[4] = {1, 2, 3, 4};
    ss_writer w;
    ss_log_set_handler(count_arg_lines, NULL);
#define REFUSED(call, what)                                                    \
    do {                                                                       \
        ss_writer_init(&w, buf, sizeof buf);                                   \
        arg_lines = 0;                                                         \
        ASSERT_RC(call, SS_ETYPE);                                             \
        ASSERT_RC(ss_writer_error(&w), SS_ETYPE);                              \
        size_t n_ = 99;                                                        \
        ASSERT_RC(ss_writer_data(&w, NULL, &n_), SS_ETYPE);                    \
        assert_int_equal(arg_lines, 1);                                        \
        if (!strstr(arg_last, what))                                           \
            fail_msg("%s: the line \"%s\" does not say \"%s\"", #call,        \
                     arg_last, what);                                          \
    } while (0)
    REFUSED(ss_pack(&w, "x", 7), "argument 1 (for 'x' of \"x\") is an int");
    REFUSED(ss_pack(&w, "t", 7u), "must be a uint64_t");
    REFUSED(ss_pack(&w, "d", 7), "must be a double");
    REFUSED(ss_pack(&w, "i", (int64_t)7), "is a 64-bit integer");
    REFUSED(ss_pack(&w, "b", 1.0), "is a double");
    REFUSED(ss_pack(&w, "s", 0), "must be a const char *");
    REFUSED(ss_pack(&w, "y", (const void *)blob, 4), "the length");
    REFUSED(ss_pack(&w, "v", blob), "must be an ss_value *");
    REFUSED(ss_pack(&w, "ai", 3), "must be an ss_value *");
    REFUSED(ss_pack(&w, "xs", (int64_t)1), "needs more arguments");
    REFUSED(ss_pack(&w, "x", (int64_t)1, 2), "2 arguments given");
    /* The right types, each letter; smaller integers and a float promote. */
    ss_writer_init(&w, buf, sizeof buf);
    arg_lines = 0;
    ASSERT_RC(ss_pack(&w, "biuxtdsypd", true, (int32_t)-1, (uint32_t)2,
                      (int64_t)-3, (uint64_t)4, 5.5, "six", blob, sizeof blob,
                      (void *)buf, 1.5f),
              0);
    ASSERT_RC(ss_pack(&w, "iiu", 'c', (short)-7, (unsigned char)200), 0);
    assert_int_equal(arg_lines, 0);
    const void *data;
    size_t len;
    ASSERT_RC(ss_writer_data(&w, &data, &len), 0);

    /* Outputs: pointers to exactly the type; NULL skips. */
    ss_reader r;
    ASSERT_RC(ss_reader_init(&r, "biuxtdsypdiiu", data, len), 0);
    int32_t i = 77;
    int64_t x = 0;
    arg_lines = 0;
    ASSERT_RC(ss_unpack(&r, "b", &i), SS_ETYPE);
    ASSERT_RC(ss_unpack(&r, "bi", NULL, &x), SS_ETYPE);
    assert_int_equal(arg_lines, 2);
    assert_true(strstr(arg_last, "must be an int32_t *") != NULL);
    bool b = false;
    uint32_t u = 0;
    uint64_t t = 0;
    double d = 0, d2 = 0;
    const char *str = NULL;
    const void *y = NULL, *p = NULL;
    size_t ylen = 0;
    ASSERT_RC(ss_unpack(&r, "biuxtdsypd", &b, &i, &u, &x, &t, &d, &str, &y,
                        &ylen, (void **)&p, &d2),
              0);
    assert_true(b && i == -1 && u == 2 && x == -3 && t == 4 && d == 5.5);
    assert_string_equal(str, "six");
    assert_int_equal(ylen, sizeof blob);
    assert_memory_equal(y, blob, sizeof blob);
    assert_ptr_equal(p, buf);
    assert_true(d2 == 1.5);
    ASSERT_RC(ss_unpack(&r, "ii", &i, NULL), 0);
    assert_int_equal(i, 'c');
    x = 5;
    ASSERT_RC(ss_unpack(&r, "x", &x), SS_ETYPE); /* the payload has a 'u' */
    assert_true(x == 5);
    ASSERT_RC(ss_unpack(&r, "u", &u), 0);
    assert_int_equal(u, 200);
    /* The functions themselves are not checked: (ss_pack)(...). */
    ss_writer_init(&w, buf, sizeof buf);
    arg_lines = 0;
    ASSERT_RC((ss_pack)(&w, "x", (int64_t)9), 0);
    assert_int_equal(arg_lines, 0);
    ss_log_set_handler(NULL, NULL);
#undef REFUSED
}

/* Built without the check (test_argcheck_off.c, SS_NO_ARG_CHECK). */
int argcheck_off_pack(void);

static void test_arg_check_opt_out(void **state)
{
    (void)state;
    ASSERT_RC(argcheck_off_pack(), 0);
}

int main(void)
{
    tu_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_validate),
        cmocka_unit_test(test_wire_bytes),
        cmocka_unit_test(test_roundtrip_basic),
        cmocka_unit_test(test_roundtrip_nested),
        cmocka_unit_test(test_nested_shapes),
        cmocka_unit_test(test_variant_depth),
        cmocka_unit_test(test_writer_growth),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_pack_unpack_all),
        cmocka_unit_test(test_reader_type_errors),
        cmocka_unit_test(test_arg_check),
        cmocka_unit_test(test_arg_check_opt_out),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_huge_lengths),
        cmocka_unit_test(test_fuzz_random),
        cmocka_unit_test(test_fuzz_structured),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_no_pointer_flag),
        cmocka_unit_test(test_measure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

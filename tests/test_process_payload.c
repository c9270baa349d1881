/*
 * test_process_payload.c - payloads of every type across processes.
 *
 * The main loop emits, to a loop process, one signal per kind of payload:
 * every scalar type with edge values, arrays of each, maps of variants,
 * variants in variants, the deepest nesting allowed, empty containers,
 * several values at once, no value at all, and 1 MiB blobs and arrays.
 * Each is emitted twice: with ss_emit() and its arguments (containers as
 * views), and with ss_emit_many() and a payload written beforehand. The
 * child checks every payload byte for byte against the expected encoding
 * (the encoding is canonical), decodes some value by value, checks the
 * big blob's pattern and checksum, and echoes each payload back; the main
 * loop checks the echoes the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <signal.h>
#include <signal_slot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define JOIN_TIMEOUT SS_SEC(20)
#define BIG_BLOB (1u << 20)      /* bytes */
#define BIG_ARRAY (128u * 1024u) /* int64 elements: 1 MiB */
#define DEEP 32                  /* the deepest array nesting allowed */

/* ---- the payloads, built the same way in both processes ---- */

static const char *const k_strings[] = {
    "", "a", "hello", "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93",
    "quote \" backslash \\ newline \n tab \t", "\x01\x02\x7f\xff",
};
#define N_STRINGS (sizeof k_strings / sizeof k_strings[0])

static double nan_with_payload(void)
{
    uint64_t bits = 0x7ff8000000abcdefull;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static const unsigned char k_small_blob[] = {0, 1, 2, 0, 255, 128, 0};

/* The 1 MiB pattern: byte i of blob "seed". */
static void big_fill(unsigned char *p, size_t n, uint32_t seed)
{
    uint64_t s = 0x9E3779B97F4A7C15ull ^ seed;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = tu_rand(&s);
        size_t k = n - i < 8 ? n - i : 8;
        memcpy(p + i, &r, k);
    }
}

static unsigned char *g_big;     /* the pattern of the big blob */
static uint32_t g_big_sum;       /* its checksum */

static void b_scalars(ss_writer *w)
{
    ss_pack(w, "biuxtdsy", 1, (int32_t)INT32_MIN, (uint32_t)UINT32_MAX,
            (int64_t)INT64_MIN, (uint64_t)UINT64_MAX, nan_with_payload(),
            k_strings[3], (const void *)k_small_blob, sizeof k_small_blob);
}

static void b_ints(ss_writer *w)
{
    ss_writer_array_begin(w, "i");
    for (int32_t i = 0; i < 1000; i++)
        ss_writer_put_int32(w, i * 7919 - 500000);
    ss_writer_put_int32(w, INT32_MAX);
    ss_writer_put_int32(w, INT32_MIN);
    ss_writer_array_end(w);
}

static void b_uints(ss_writer *w)
{
    ss_writer_array_begin(w, "u");
    for (uint32_t i = 0; i < 100; i++)
        ss_writer_put_uint32(w, i * 2654435761u);
    ss_writer_array_end(w);
}

static void b_int64s(ss_writer *w)
{
    ss_writer_array_begin(w, "x");
    ss_writer_put_int64(w, INT64_MIN);
    ss_writer_put_int64(w, -1);
    ss_writer_put_int64(w, INT64_MAX);
    ss_writer_array_end(w);
}

static void b_uint64s(ss_writer *w)
{
    ss_writer_array_begin(w, "t");
    ss_writer_put_uint64(w, 0);
    ss_writer_put_uint64(w, UINT64_MAX);
    ss_writer_put_uint64(w, 1ull << 63);
    ss_writer_array_end(w);
}

static void b_doubles(ss_writer *w)
{
    const double v[] = {0.0,      -0.0,    1.5,      -2.25,   DBL_MIN,
                        DBL_MAX,  DBL_TRUE_MIN, INFINITY, -INFINITY,
                        nan_with_payload(), 0.1};
    ss_writer_array_begin(w, "d");
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        ss_writer_put_double(w, v[i]);
    ss_writer_array_end(w);
}

static void b_bools(ss_writer *w)
{
    ss_writer_array_begin(w, "b");
    for (int i = 0; i < 17; i++)
        ss_writer_put_bool(w, i % 3 == 0);
    ss_writer_array_end(w);
}

static void b_strings(ss_writer *w)
{
    ss_writer_array_begin(w, "s");
    for (size_t i = 0; i < N_STRINGS; i++)
        ss_writer_put_string(w, k_strings[i]);
    char longs[3001];
    memset(longs, 'z', 3000);
    longs[3000] = 0;
    ss_writer_put_string(w, longs);
    ss_writer_array_end(w);
}

static void b_blobs(ss_writer *w)
{
    unsigned char b[64];
    ss_writer_array_begin(w, "y");
    for (size_t n = 0; n < sizeof b; n += 7) {
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)(n * 31 + i);
        ss_writer_put_blob(w, b, n);
    }
    ss_writer_array_end(w);
}

/* A map with a variant of every type, a variant in a variant, and
 * containers in variants. */
static void b_map(ss_writer *w)
{
    ss_writer_map_begin(w, "v");
    ss_writer_put_string(w, "b");
    ss_writer_variant_begin(w, "b");
    ss_writer_put_bool(w, true);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "i");
    ss_writer_variant_begin(w, "i");
    ss_writer_put_int32(w, -7);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "u");
    ss_writer_variant_begin(w, "u");
    ss_writer_put_uint32(w, 7);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "x");
    ss_writer_variant_begin(w, "x");
    ss_writer_put_int64(w, -(1ll << 40));
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "t");
    ss_writer_variant_begin(w, "t");
    ss_writer_put_uint64(w, 1ull << 50);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "d");
    ss_writer_variant_begin(w, "d");
    ss_writer_put_double(w, -0.0);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "s");
    ss_writer_variant_begin(w, "s");
    ss_writer_put_string(w, k_strings[4]);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "y");
    ss_writer_variant_begin(w, "y");
    ss_writer_put_blob(w, k_small_blob, sizeof k_small_blob);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "vv");
    ss_writer_variant_begin(w, "v");
    ss_writer_variant_begin(w, "v");
    ss_writer_variant_begin(w, "s");
    ss_writer_put_string(w, "three variants deep");
    ss_writer_variant_end(w);
    ss_writer_variant_end(w);
    ss_writer_variant_end(w);
    ss_writer_put_string(w, "a{ad}");
    ss_writer_variant_begin(w, "a{ad}");
    ss_writer_array_begin(w, "{ad}");
    for (int m = 0; m < 3; m++) {
        ss_writer_map_begin(w, "ad");
        for (int k = 0; k < m; k++) {
            char key[8];
            snprintf(key, sizeof key, "k%d", k);
            ss_writer_put_string(w, key);
            ss_writer_array_begin(w, "d");
            for (int j = 0; j <= k; j++)
                ss_writer_put_double(w, m + k / 10.0 + j / 100.0);
            ss_writer_array_end(w);
        }
        ss_writer_map_end(w);
    }
    ss_writer_array_end(w);
    ss_writer_variant_end(w);
    /* Keys are not unique: both entries travel, in order. */
    ss_writer_put_string(w, "i");
    ss_writer_variant_begin(w, "ai");
    ss_writer_array_begin(w, "i");
    ss_writer_array_end(w);
    ss_writer_variant_end(w);
    ss_writer_map_end(w);
}

/* An array of maps of arrays of doubles. */
static void b_nested(ss_writer *w)
{
    ss_writer_array_begin(w, "{ad}");
    for (int m = 0; m < 20; m++) {
        ss_writer_map_begin(w, "ad");
        for (int k = 0; k < m % 5; k++) {
            char key[16];
            snprintf(key, sizeof key, "m%dk%d", m, k);
            ss_writer_put_string(w, key);
            ss_writer_array_begin(w, "d");
            for (int j = 0; j < k * 3; j++)
                ss_writer_put_double(w, m * 1000 + k * 10 + j);
            ss_writer_array_end(w);
        }
        ss_writer_map_end(w);
    }
    ss_writer_array_end(w);
}

/* A variant holding a map of arrays of ints. */
static void b_variant(ss_writer *w)
{
    ss_writer_variant_begin(w, "{ai}");
    ss_writer_map_begin(w, "ai");
    for (int k = 0; k < 4; k++) {
        char key[8];
        snprintf(key, sizeof key, "%d", k);
        ss_writer_put_string(w, key);
        ss_writer_array_begin(w, "i");
        for (int j = 0; j < k; j++)
            ss_writer_put_int32(w, k * 100 + j);
        ss_writer_array_end(w);
    }
    ss_writer_map_end(w);
    ss_writer_variant_end(w);
}

/* 32 nested arrays, one element each, the innermost holding 42. */
static void b_deep(ss_writer *w)
{
    char sig[DEEP + 2];
    for (int d = 0; d < DEEP; d++) {
        memset(sig, 'a', (size_t)(DEEP - 1 - d));
        sig[DEEP - 1 - d] = 'i';
        sig[DEEP - d] = 0;
        ss_writer_array_begin(w, sig);
    }
    ss_writer_put_int32(w, 42);
    for (int d = 0; d < DEEP; d++)
        ss_writer_array_end(w);
}

/* Empty things: an array, a string, a map, a blob. */
static void b_empty(ss_writer *w)
{
    ss_writer_array_begin(w, "i");
    ss_writer_array_end(w);
    ss_writer_put_string(w, "");
    ss_writer_map_begin(w, "i");
    ss_writer_map_end(w);
    ss_writer_put_blob(w, NULL, 0);
}

/* Several values at once. */
static void b_mixed(ss_writer *w)
{
    ss_pack(w, "x", (int64_t)-42);
    ss_writer_map_begin(w, "s");
    ss_writer_put_string(w, "name");
    ss_writer_put_string(w, "value");
    ss_writer_map_end(w);
    ss_writer_variant_begin(w, "v");
    ss_writer_variant_begin(w, "ax");
    ss_writer_array_begin(w, "x");
    ss_writer_put_int64(w, 1);
    ss_writer_put_int64(w, 2);
    ss_writer_array_end(w);
    ss_writer_variant_end(w);
    ss_writer_variant_end(w);
    ss_pack(w, "tsdy", (uint64_t)99, "mixed", 2.5, (const void *)"xyz",
            (size_t)3);
}

static void b_none(ss_writer *w)
{
    (void)w;
}

static void b_big(ss_writer *w)
{
    ss_writer_put_blob(w, g_big, BIG_BLOB);
}

static void b_bigarr(ss_writer *w)
{
    ss_writer_array_begin(w, "x");
    for (uint32_t i = 0; i < BIG_ARRAY; i++)
        ss_writer_put_int64(w, (int64_t)i * 0x100000001ll - 12345);
    ss_writer_array_end(w);
}

typedef struct kind {
    const char *name; /* the signal */
    const char *sig;
    void (*build)(ss_writer *w);
} kind;

static char g_deep_sig[DEEP + 2];

static kind k_kinds[] = {
    {"scalars", "biuxtdsy", b_scalars},
    {"ints", "ai", b_ints},
    {"uints", "au", b_uints},
    {"int64s", "ax", b_int64s},
    {"uint64s", "at", b_uint64s},
    {"doubles", "ad", b_doubles},
    {"bools", "ab", b_bools},
    {"strings", "as", b_strings},
    {"blobs", "ay", b_blobs},
    {"map", "{v}", b_map},
    {"nested", "a{ad}", b_nested},
    {"variant", "v", b_variant},
    {"deep", g_deep_sig, b_deep},
    {"empty", "ais{i}y", b_empty},
    {"mixed", "x{s}vtsdy", b_mixed},
    {"none", "", b_none},
    {"big", "y", b_big},
    {"bigarr", "ax", b_bigarr},
};
#define N_KINDS (sizeof k_kinds / sizeof k_kinds[0])
#define K_BIG 16 /* index of "big" */

/* The expected encodings, built once before the fork. */
static ss_writer g_expect[N_KINDS];

static void build_expected(void)
{
    memset(g_deep_sig, 'a', DEEP);
    g_deep_sig[DEEP] = 'i';
    g_deep_sig[DEEP + 1] = 0;
    g_big = malloc(BIG_BLOB);
    assert_non_null(g_big);
    big_fill(g_big, BIG_BLOB, 7);
    g_big_sum = tu_hash32(g_big, BIG_BLOB);
    assert_string_equal(k_kinds[K_BIG].name, "big");
    for (size_t k = 0; k < N_KINDS; k++) {
        ss_writer_init(&g_expect[k], NULL, 0);
        k_kinds[k].build(&g_expect[k]);
        const void *d;
        size_t len;
        assert_int_equal(ss_writer_data(&g_expect[k], &d, &len), 0);
        assert_int_equal(ss_payload_validate(k_kinds[k].sig, d, len), 0);
    }
}

static void free_expected(void)
{
    for (size_t k = 0; k < N_KINDS; k++)
        ss_writer_free(&g_expect[k]);
    free(g_big);
    g_big = NULL;
}

/* ---- both processes ---- */

typedef struct payload_shm {
    tu_errs err;
    int child_got[N_KINDS];  /* payloads equal to the expected ones */
    int child_bad[N_KINDS];
    int scalars_decoded;     /* value by value, in the child */
    int map_decoded;
    int big_checked;         /* pattern and checksum */
} payload_shm;

static payload_shm *PS;

/* Re-encode the delivered arguments value by value (ss_reader_get_value,
 * ss_writer_put_value) and compare with the expected bytes. On success,
 * *out holds the copy (to echo). */
static bool same_as_expected(const ss_args *args, size_t k, ss_writer *out)
{
    ss_reader r;
    if (ss_args_reader(args, &r) != 0)
        return false;
    ss_writer_init(out, NULL, 0);
    while (!ss_reader_at_end(&r)) {
        ss_value v;
        if (ss_reader_get_value(&r, &v) != 0 ||
            ss_writer_put_value(out, &v) != 0)
            return false;
    }
    const void *got, *want;
    size_t got_len = 0, want_len = 0;
    if (ss_writer_data(out, &got, &got_len) != 0 ||
        ss_writer_data(&g_expect[k], &want, &want_len) != 0)
        return false;
    return got_len == want_len && (got_len == 0 ||
                                   memcmp(got, want, got_len) == 0);
}

static bool check_scalars(const ss_args *args)
{
    bool bb = false;
    int32_t i;
    uint32_t u;
    int64_t x;
    uint64_t t;
    double d, nanp = nan_with_payload();
    const char *s;
    const void *y;
    size_t ylen;
    if (ss_args_unpack(args, "biuxtdsy", &bb, &i, &u, &x, &t, &d, &s, &y,
                       &ylen) != 0)
        return false;
    return bb && i == INT32_MIN && u == UINT32_MAX && x == INT64_MIN &&
           t == UINT64_MAX && memcmp(&d, &nanp, sizeof d) == 0 &&
           strcmp(s, k_strings[3]) == 0 && ylen == sizeof k_small_blob &&
           memcmp(y, k_small_blob, ylen) == 0;
}

/* Walk the map of b_map() in the child. */
static bool check_map(const ss_args *args)
{
    ss_value map;
    ss_reader r;
    size_t count = 0;
    const char *key, *vs;
    size_t vl;
    if (ss_args_unpack(args, "{v}", &map) != 0 ||
        ss_reader_init_value(&r, &map) != 0 ||
        ss_reader_map_begin(&r, &count) != 0 || count != 11)
        return false;
    int32_t i;
    if (ss_reader_map_next(&r, &key, NULL) != 0 || strcmp(key, "b") != 0 ||
        ss_reader_map_next(&r, &key, NULL) != 0 || strcmp(key, "i") != 0 ||
        ss_reader_variant_begin(&r, &vs, &vl) != 0 || vl != 1 ||
        vs[0] != 'i' || ss_reader_get_int32(&r, &i) != 0 || i != -7 ||
        ss_reader_variant_end(&r) != 0)
        return false;
    /* Skip to "vv": three variants deep. */
    for (int e = 0; e < 6; e++)
        if (ss_reader_map_next(&r, &key, NULL) != 0)
            return false;
    if (strcmp(key, "y") != 0 || ss_reader_map_next(&r, &key, NULL) != 0 ||
        strcmp(key, "vv") != 0)
        return false;
    const char *s;
    for (int lvl = 0; lvl < 3; lvl++)
        if (ss_reader_variant_begin(&r, &vs, &vl) != 0 ||
            vl != 1 || vs[0] != (lvl < 2 ? 'v' : 's'))
            return false;
    if (ss_reader_get_string(&r, &s, NULL) != 0 ||
        strcmp(s, "three variants deep") != 0)
        return false;
    for (int lvl = 0; lvl < 3; lvl++)
        if (ss_reader_variant_end(&r) != 0)
            return false;
    /* The last entry: a second "i", an empty array. */
    if (ss_reader_map_next(&r, &key, NULL) != 0 ||
        strcmp(key, "a{ad}") != 0 || ss_reader_map_next(&r, &key, NULL) != 0 ||
        strcmp(key, "i") != 0 ||
        ss_reader_variant_begin(&r, &vs, &vl) != 0 || vl != 2 ||
        memcmp(vs, "ai", 2) != 0 || ss_reader_array_begin(&r, &count) != 0 ||
        count != 0)
        return false;
    return ss_reader_array_end(&r) == 0 && ss_reader_variant_end(&r) == 0 &&
           ss_reader_map_next(&r, &key, NULL) == SS_ENOENT &&
           ss_reader_map_end(&r) == 0;
}

static bool check_big(const ss_args *args)
{
    const void *y;
    size_t len;
    if (ss_args_unpack(args, "y", &y, &len) != 0 || len != BIG_BLOB)
        return false;
    return tu_hash32(y, len) == g_big_sum && memcmp(y, g_big, len) == 0;
}

/* In the child: check, then echo the payload back under the same name. */
static void child_on_any(ss_object *receiver, const ss_args *args, void *ud)
{
    size_t k = (size_t)(uintptr_t)ud;
    ss_writer copy;
    TU_CHECK(&PS->err, strcmp(ss_args_signature(args), k_kinds[k].sig) == 0);
    if (same_as_expected(args, k, &copy))
        PS->child_got[k]++;
    else
        PS->child_bad[k]++;
    if (k == 0)
        PS->scalars_decoded += check_scalars(args);
    if (strcmp(k_kinds[k].name, "map") == 0)
        PS->map_decoded += check_map(args);
    if (k == K_BIG)
        PS->big_checked += check_big(args);
    ss_msg m;
    if (TU_CHECK(&PS->err, ss_writer_data(&copy, &m.data, &m.len) == 0))
        TU_CHECK(&PS->err,
                 ss_emit_many(receiver, k_kinds[k].name, &m, 1) == 0);
    ss_writer_free(&copy);
}

typedef struct pl_main {
    ss_object obj;
    int got[N_KINDS], bad[N_KINDS];
    int total;
    int big_checked;
} pl_main;

static void main_on_back(ss_object *receiver, const ss_args *args, void *ud)
{
    pl_main *m = (pl_main *)receiver;
    size_t k = (size_t)(uintptr_t)ud;
    ss_writer copy;
    if (same_as_expected(args, k, &copy))
        m->got[k]++;
    else
        m->bad[k]++;
    if (k == K_BIG)
        m->big_checked += check_big(args);
    ss_writer_free(&copy);
    if (++m->total == 2 * (int)N_KINDS)
        ss_loop_stop(ss_object_loop(receiver));
}

/* Emit kind k with ss_emit() and its arguments. */
static int emit_args(ss_object *o, size_t k)
{
    const kind *kd = &k_kinds[k];
    const void *d;
    size_t len;
    ss_writer_data(&g_expect[k], &d, &len);
    if (strcmp(kd->name, "scalars") == 0)
        return ss_emit(o, kd->name, 1, (int32_t)INT32_MIN,
                       (uint32_t)UINT32_MAX, (int64_t)INT64_MIN,
                       (uint64_t)UINT64_MAX, nan_with_payload(), k_strings[3],
                       (const void *)k_small_blob, sizeof k_small_blob);
    if (strcmp(kd->name, "empty") == 0) {
        unsigned char eb[16];
        ss_writer w;
        ss_writer_init(&w, eb, sizeof eb);
        ss_writer_array_begin(&w, "i");
        ss_writer_array_end(&w);
        ss_value ea = {"ai", NULL, 0};
        ss_writer_data(&w, &ea.data, &ea.len);
        unsigned char mb[16];
        ss_writer wm;
        ss_writer_init(&wm, mb, sizeof mb);
        ss_writer_map_begin(&wm, "i");
        ss_writer_map_end(&wm);
        ss_value em = {"{i}", NULL, 0};
        ss_writer_data(&wm, &em.data, &em.len);
        return ss_emit(o, kd->name, &ea, "", &em, (const void *)NULL,
                       (size_t)0);
    }
    if (strcmp(kd->name, "mixed") == 0) {
        /* Split the expected payload into its values, pass them as such. */
        ss_reader r;
        ss_value map, var;
        int64_t x;
        uint64_t t;
        const char *s;
        double dd;
        const void *y;
        size_t ylen;
        if (ss_reader_init(&r, kd->sig, d, len) != 0 ||
            ss_unpack(&r, kd->sig, &x, &map, &var, &t, &s, &dd, &y, &ylen) !=
                0)
            return SS_EINVAL;
        return ss_emit(o, kd->name, x, &map, &var, t, s, dd, y, ylen);
    }
    if (strcmp(kd->name, "none") == 0)
        return ss_emit(o, kd->name);
    if (strcmp(kd->name, "big") == 0)
        return ss_emit(o, kd->name, (const void *)g_big, (size_t)BIG_BLOB);
    /* One container or variant: its view. */
    ss_value v = {kd->sig, d, len};
    return ss_emit(o, kd->name, &v);
}

static void test_payloads(void **state)
{
    (void)state;
    build_expected();
    PS = tu_shared_alloc(sizeof *PS);
    ss_loop_options big;
    ss_loop_options_init(&big);
    big.queue_capacity = 8u << 20; /* room for the 1 MiB payloads */
    ss_loop *main_loop;
    ss_process *p;
    assert_int_equal(ss_loop_new(&main_loop, "pl_main", &big), 0);
    assert_int_equal(tu_process_new(&p, "pl_child", &big), 0);
    static pl_main m; /* static: stays valid if the test fails */
    static ss_object c;
    memset(&m, 0, sizeof m);
    assert_int_equal(ss_object_init(&m.obj, main_loop, "m"), 0);
    assert_int_equal(ss_object_init(&c, ss_process_loop(p), "c"), 0);
    for (size_t k = 0; k < N_KINDS; k++) {
        const kind *kd = &k_kinds[k];
        assert_int_equal(ss_signal_add(&m.obj, kd->name, kd->sig), 0);
        assert_int_equal(ss_signal_add(&c, kd->name, kd->sig), 0);
        void *ud = (void *)(uintptr_t)k;
        assert_int_equal(
            ss_connect(&m.obj, kd->name, &c, child_on_any, kd->sig, ud), 0);
        assert_int_equal(
            ss_connect(&c, kd->name, &m.obj, main_on_back, kd->sig, ud), 0);
    }
    /* One level deeper than allowed: refused. */
    char too_deep[DEEP + 3];
    memset(too_deep, 'a', DEEP + 1);
    too_deep[DEEP + 1] = 'i';
    too_deep[DEEP + 2] = 0;
    assert_int_equal(ss_signal_add(&m.obj, "too_deep", too_deep),
                     SS_ESIGNATURE);
    /* A pointer does not cross processes. */
    assert_int_equal(ss_signal_add(&m.obj, "ptr", "a{p}"), 0);
    assert_int_equal(
        ss_connect(&m.obj, "ptr", &c, child_on_any, "a{p}", NULL),
        SS_ENOTSUP);

    assert_int_equal(ss_process_start(p, NULL, NULL), 0);
    for (size_t k = 0; k < N_KINDS; k++) {
        const void *d;
        size_t len;
        assert_int_equal(ss_writer_data(&g_expect[k], &d, &len), 0);
        ss_msg msg = {d, len};
        assert_int_equal(emit_args(&m.obj, k), 0);
        assert_int_equal(ss_emit_many(&m.obj, k_kinds[k].name, &msg, 1), 0);
    }
    assert_int_equal(ss_loop_run(main_loop), SS_LOOP_STOPPED);
    assert_int_equal(ss_process_stop(p), 0);
    int status = -1;
    assert_int_equal(ss_process_join(p, JOIN_TIMEOUT, &status), 0);
    assert_int_equal(status, 0);

    assert_int_equal(tu_errs_report(&PS->err, "payloads"), 0);
    for (size_t k = 0; k < N_KINDS; k++) {
        if (PS->child_got[k] != 2 || m.got[k] != 2)
            print_error("kind %s: child %d ok %d bad, echo %d ok %d bad\n",
                        k_kinds[k].name, PS->child_got[k], PS->child_bad[k],
                        m.got[k], m.bad[k]);
        assert_int_equal(PS->child_got[k], 2);
        assert_int_equal(PS->child_bad[k], 0);
        assert_int_equal(m.got[k], 2);
        assert_int_equal(m.bad[k], 0);
    }
    assert_int_equal(PS->scalars_decoded, 2);
    assert_int_equal(PS->map_decoded, 2);
    assert_int_equal(PS->big_checked, 2);
    assert_int_equal(m.big_checked, 2);

    ss_object_destroy(&m.obj);
    ss_object_destroy(&c);
    tu_process_free(p);
    ss_loop_free(main_loop);
    tu_shared_free(PS, sizeof *PS);
    PS = NULL;
    free_expected();
}

int main(void)
{
    tu_watchdog(90);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_payloads, tu_process_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

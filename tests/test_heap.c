/*
 * test_heap.c - the intrusive min-heap of the timers against a reference:
 * random inserts, removals of arbitrary nodes and pops, checking the minimum
 * after every step, the links of the whole tree, and the pop order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "heap.h"
#include "testutil.h"

typedef struct item {
    ss__heap_node node;
    uint64_t key;
    int in_heap;
} item;

#define ITEM(n) ((item *)((char *)(n) - offsetof(item, node)))

static bool item_less(const ss__heap_node *a, const ss__heap_node *b)
{
    return ITEM(a)->key < ITEM(b)->key;
}

/* Every child orders after its parent and points back at it; returns the
 * number of nodes below (and including) n. */
static size_t check_tree(const ss__heap_node *n, const ss__heap_node *parent)
{
    if (!n)
        return 0;
    assert_ptr_equal(n->parent, parent);
    if (parent)
        assert_false(item_less(n, parent));
    return 1 + check_tree(n->left, n) + check_tree(n->right, n);
}

static uint64_t ref_min(const item *items, size_t count)
{
    uint64_t m = UINT64_MAX;
    for (size_t i = 0; i < count; i++)
        if (items[i].in_heap && items[i].key < m)
            m = items[i].key;
    return m;
}

static void test_random_operations(void **state)
{
    (void)state;
    enum { N = 600 };
    static item items[N];
    ss__heap h;
    ss__heap_init(&h, item_less);
    uint64_t rs = 12345;
    size_t in = 0;
    for (int step = 0; step < 20000; step++) {
        size_t i = (size_t)(tu_rand(&rs) % N);
        unsigned op = (unsigned)(tu_rand(&rs) % 3);
        if (!items[i].in_heap && op != 2) {
            items[i].key = tu_rand(&rs) % 1000; /* many equal keys */
            items[i].in_heap = 1;
            ss__heap_insert(&h, &items[i].node);
            in++;
        } else if (items[i].in_heap && op == 1) {
            ss__heap_remove(&h, &items[i].node);
            items[i].in_heap = 0;
            in--;
        } else if (op == 2 && in > 0) {
            ss__heap_node *m = ss__heap_pop(&h);
            assert_non_null(m);
            assert_int_equal(ITEM(m)->key, ref_min(items, N));
            ITEM(m)->in_heap = 0;
            in--;
        }
        assert_int_equal(h.n, in);
        assert_int_equal(check_tree(h.min, NULL), in);
        if (in)
            assert_int_equal(ITEM(ss__heap_min(&h))->key, ref_min(items, N));
        else
            assert_null(ss__heap_min(&h));
    }
    /* Drain: keys come out in order. */
    uint64_t last = 0;
    while (in > 0) {
        ss__heap_node *m = ss__heap_pop(&h);
        assert_true(ITEM(m)->key >= last);
        last = ITEM(m)->key;
        in--;
    }
    assert_null(ss__heap_pop(&h));
}

static void test_remove_every_position(void **state)
{
    (void)state;
    /* For heaps of 1..40 nodes, remove the node at each position. */
    for (int size = 1; size <= 40; size++) {
        for (int victim = 0; victim < size; victim++) {
            item items[40];
            ss__heap h;
            ss__heap_init(&h, item_less);
            for (int i = 0; i < size; i++) {
                items[i].key = (uint64_t)((i * 7919) % 41);
                ss__heap_insert(&h, &items[i].node);
            }
            ss__heap_remove(&h, &items[victim].node);
            assert_int_equal(check_tree(h.min, NULL), (size_t)size - 1);
            uint64_t last = 0;
            for (int i = 0; i < size - 1; i++) {
                ss__heap_node *m = ss__heap_pop(&h);
                assert_ptr_not_equal(m, &items[victim].node);
                assert_true(ITEM(m)->key >= last);
                last = ITEM(m)->key;
            }
            assert_null(ss__heap_pop(&h));
        }
    }
}

int main(void)
{
    tu_watchdog(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_operations),
        cmocka_unit_test(test_remove_every_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

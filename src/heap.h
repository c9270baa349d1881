/*
 * heap.h - an intrusive binary min-heap, header-only (the timers' queue).
 *
 * Nodes are embedded in the caller's structs (no allocation), linked by
 * parent/left/right pointers; the tree is kept complete, so insert, remove
 * of any node and pop are O(log n). Ordering comes from a "less" function.
 * Not thread-safe: a heap belongs to one loop.
 */
#ifndef SS_HEAP_H
#define SS_HEAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ss__heap_node {
    struct ss__heap_node *left, *right, *parent;
} ss__heap_node;

/* Whether a orders before b. Must be a strict weak order. */
typedef bool (*ss__heap_less)(const ss__heap_node *a, const ss__heap_node *b);

typedef struct ss__heap {
    ss__heap_node *min;
    size_t n;
    ss__heap_less less;
} ss__heap;

static inline void ss__heap_init(ss__heap *h, ss__heap_less less)
{
    h->min = NULL;
    h->n = 0;
    h->less = less;
}

static inline ss__heap_node *ss__heap_min(const ss__heap *h)
{
    return h->min;
}

/* Swap a node with its parent, fixing every link around both. */
static inline void ss__heap_swap_up(ss__heap *h, ss__heap_node *parent,
                                    ss__heap_node *child)
{
    ss__heap_node *sibling, tmp = *parent;
    *parent = *child;
    *child = tmp;
    parent->parent = child;
    if (child->left == child) {
        child->left = parent;
        sibling = child->right;
    } else {
        child->right = parent;
        sibling = child->left;
    }
    if (sibling)
        sibling->parent = child;
    if (parent->left)
        parent->left->parent = parent;
    if (parent->right)
        parent->right->parent = parent;
    if (!child->parent)
        h->min = child;
    else if (child->parent->left == parent)
        child->parent->left = child;
    else
        child->parent->right = child;
}

/* The link that leads to position k (1-based, breadth first) from the root,
 * and the parent there: the bits of k below its top bit say left (0) or
 * right (1) from the root down. */
static inline ss__heap_node **ss__heap_path(ss__heap *h, size_t k,
                                            ss__heap_node **parent)
{
    size_t path = 0, depth = 0;
    for (; k >= 2; k >>= 1, depth++)
        path = (path << 1) | (k & 1);
    ss__heap_node **link = &h->min;
    *parent = NULL;
    while (depth-- > 0) {
        *parent = *link;
        link = (path & 1) ? &(*link)->right : &(*link)->left;
        path >>= 1;
    }
    return link;
}

static inline void ss__heap_insert(ss__heap *h, ss__heap_node *node)
{
    node->left = node->right = node->parent = NULL;
    ss__heap_node *parent;
    ss__heap_node **link = ss__heap_path(h, h->n + 1, &parent);
    node->parent = parent;
    *link = node;
    h->n++;
    while (node->parent && h->less(node, node->parent))
        ss__heap_swap_up(h, node->parent, node);
}

static inline void ss__heap_remove(ss__heap *h, ss__heap_node *node)
{
    if (h->n == 0)
        return;
    /* Detach the last node and put it where node was. */
    ss__heap_node *parent;
    ss__heap_node **link = ss__heap_path(h, h->n, &parent);
    ss__heap_node *last = *link;
    *link = NULL;
    h->n--;
    if (last == node) {
        if (last == h->min)
            h->min = NULL;
        return;
    }
    last->left = node->left;
    last->right = node->right;
    last->parent = node->parent;
    if (last->left)
        last->left->parent = last;
    if (last->right)
        last->right->parent = last;
    if (!node->parent)
        h->min = last;
    else if (node->parent->left == node)
        node->parent->left = last;
    else
        node->parent->right = last;
    /* Then sift it down, or up, to its place. */
    for (;;) {
        ss__heap_node *smallest = last;
        if (last->left && h->less(last->left, smallest))
            smallest = last->left;
        if (last->right && h->less(last->right, smallest))
            smallest = last->right;
        if (smallest == last)
            break;
        ss__heap_swap_up(h, last, smallest);
    }
    while (last->parent && h->less(last, last->parent))
        ss__heap_swap_up(h, last->parent, last);
}

static inline ss__heap_node *ss__heap_pop(ss__heap *h)
{
    ss__heap_node *m = h->min;
    if (m)
        ss__heap_remove(h, m);
    return m;
}

#endif /* SS_HEAP_H */

/*
 * eviction.c - S3-FIFO (see eviction.h for the why and the locking).
 *
 * Lists are circular with a sentinel; the newest node is at head.next and
 * the tail (next to evict) at head.prev.  The ghost is a ring of ids with a
 * chained hash index over ring slots, so insert, lookup and expiry are all
 * O(1) expected with no allocation after init.
 */
#include "cache/eviction.h"

#include <stdlib.h>

#include "base/check.h"
#include "base/util.h"

#define SLOT_NONE UINT32_MAX
#define SLOT_DEAD (UINT32_MAX - 1) /* ring slot not in any chain */

static void list_init(struct mpfs_evict_list *l)
{
    l->head.prev = l->head.next = &l->head;
    l->bytes = 0;
    l->count = 0;
}

static void list_push_head(struct mpfs_evict_list *l, struct mpfs_evict_node *n)
{
    n->next = l->head.next;
    n->prev = &l->head;
    l->head.next->prev = n;
    l->head.next = n;
    l->bytes += n->bytes;
    l->count++;
}

static void list_unlink(struct mpfs_evict_list *l, struct mpfs_evict_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
    MPFS_ASSERT(l->bytes >= n->bytes && l->count > 0);
    l->bytes -= n->bytes;
    l->count--;
}

static struct mpfs_evict_node *list_tail(struct mpfs_evict_list *l)
{
    return l->head.prev == &l->head ? NULL : l->head.prev;
}

/* ---- ghost ---------------------------------------------------------- */

static size_t ghost_bucket(const struct mpfs_evict_ghost *g, uint64_t id)
{
    /* ids are already hashes; fold the high bits in anyway */
    return (size_t)((id ^ (id >> 29)) & (g->nbuckets - 1));
}

static void ghost_init(struct mpfs_evict_ghost *g, size_t cap)
{
    if (cap < 16) {
        cap = 16;
    }
    if (cap > (size_t)SLOT_DEAD - 1) {
        cap = (size_t)SLOT_DEAD - 1;
    }
    size_t nb = 16;
    while (nb < cap) {
        nb <<= 1;
    }
    g->cap = cap;
    g->nbuckets = nb;
    g->head = 0;
    g->count = 0;
    g->ids = mpfs_xcalloc(cap, sizeof(*g->ids));
    g->chain = mpfs_xmalloc(cap * sizeof(*g->chain));
    g->buckets = mpfs_xmalloc(nb * sizeof(*g->buckets));
    for (size_t i = 0; i < cap; i++) {
        g->chain[i] = SLOT_DEAD;
    }
    for (size_t i = 0; i < nb; i++) {
        g->buckets[i] = SLOT_NONE;
    }
}

static void ghost_destroy(struct mpfs_evict_ghost *g)
{
    free(g->ids);
    free(g->chain);
    free(g->buckets);
    g->ids = NULL;
    g->chain = g->buckets = NULL;
}

static void ghost_unlink_slot(struct mpfs_evict_ghost *g, uint32_t slot)
{
    uint32_t *pp = &g->buckets[ghost_bucket(g, g->ids[slot])];
    while (*pp != SLOT_NONE) {
        if (*pp == slot) {
            *pp = g->chain[slot];
            g->chain[slot] = SLOT_DEAD;
            return;
        }
        pp = &g->chain[*pp];
    }
    MPFS_ASSERT(!"ghost slot not in its chain");
}

static int64_t ghost_find(const struct mpfs_evict_ghost *g, uint64_t id)
{
    for (uint32_t s = g->buckets[ghost_bucket(g, id)]; s != SLOT_NONE; s = g->chain[s]) {
        if (g->ids[s] == id) {
            return s;
        }
    }
    return -1;
}

static void ghost_add(struct mpfs_evict_ghost *g, uint64_t id)
{
    uint32_t slot = (uint32_t)g->head;
    if (g->chain[slot] != SLOT_DEAD) {
        ghost_unlink_slot(g, slot); /* the oldest id expires */
    }
    g->ids[slot] = id;
    size_t b = ghost_bucket(g, id);
    g->chain[slot] = g->buckets[b];
    g->buckets[b] = slot;
    g->head = (g->head + 1) % g->cap;
    if (g->count < g->cap) {
        g->count++;
    }
}

/* ---- policy --------------------------------------------------------- */

void mpfs_evict_init(struct mpfs_evict *e, uint64_t capacity, size_t ghost_entries)
{
    list_init(&e->small);
    list_init(&e->main);
    ghost_init(&e->ghost, ghost_entries);
    e->promotions = 0;
    e->ghost_hits = 0;
    mpfs_evict_set_capacity(e, capacity);
}

void mpfs_evict_destroy(struct mpfs_evict *e)
{
    ghost_destroy(&e->ghost);
}

void mpfs_evict_set_capacity(struct mpfs_evict *e, uint64_t capacity)
{
    e->capacity = capacity;
    e->small_target = capacity / 10;
}

void mpfs_evict_insert(struct mpfs_evict *e, struct mpfs_evict_node *n)
{
    atomic_store_explicit(&n->freq, 0, memory_order_relaxed);
    int64_t slot = ghost_find(&e->ghost, n->id);
    if (slot >= 0) {
        /* Seen recently and evicted from S: the reuse distance is longer
         * than S but it was reused, so it belongs in M. */
        ghost_unlink_slot(&e->ghost, (uint32_t)slot);
        e->ghost_hits++;
        atomic_store_explicit(&n->queue, MPFS_EVQ_MAIN, memory_order_relaxed);
        list_push_head(&e->main, n);
    } else {
        atomic_store_explicit(&n->queue, MPFS_EVQ_SMALL, memory_order_relaxed);
        list_push_head(&e->small, n);
    }
}

void mpfs_evict_insert_main(struct mpfs_evict *e, struct mpfs_evict_node *n)
{
    atomic_store_explicit(&n->freq, 0, memory_order_relaxed);
    atomic_store_explicit(&n->queue, MPFS_EVQ_MAIN, memory_order_relaxed);
    list_push_head(&e->main, n);
}

void mpfs_evict_remove(struct mpfs_evict *e, struct mpfs_evict_node *n)
{
    uint8_t q = atomic_load_explicit(&n->queue, memory_order_relaxed);
    MPFS_ASSERT(q == MPFS_EVQ_SMALL || q == MPFS_EVQ_MAIN);
    list_unlink(q == MPFS_EVQ_SMALL ? &e->small : &e->main, n);
    atomic_store_explicit(&n->queue, MPFS_EVQ_NONE, memory_order_relaxed);
}

struct mpfs_evict_node *mpfs_evict_victim(struct mpfs_evict *e)
{
    /* Terminates: each S step shrinks S, each M rotation decrements a
     * bounded counter. */
    for (;;) {
        struct mpfs_evict_node *t;
        if (e->small.count > 0 && (e->small.bytes >= e->small_target || e->main.count == 0)) {
            t = list_tail(&e->small);
            list_unlink(&e->small, t);
            if (atomic_load_explicit(&t->freq, memory_order_relaxed) > 0) {
                /* Reused while in S: admit to M with a fresh count, so it
                 * must be hit again in M to survive M's clock. */
                atomic_store_explicit(&t->freq, 0, memory_order_relaxed);
                atomic_store_explicit(&t->queue, MPFS_EVQ_MAIN, memory_order_relaxed);
                list_push_head(&e->main, t);
                e->promotions++;
                continue;
            }
            ghost_add(&e->ghost, t->id);
            atomic_store_explicit(&t->queue, MPFS_EVQ_NONE, memory_order_relaxed);
            return t;
        }
        t = list_tail(&e->main);
        if (!t) {
            return NULL;
        }
        list_unlink(&e->main, t);
        uint8_t f = atomic_load_explicit(&t->freq, memory_order_relaxed);
        if (f > 0) {
            atomic_store_explicit(&t->freq, (uint8_t)(f - 1), memory_order_relaxed);
            list_push_head(&e->main, t);
            continue;
        }
        atomic_store_explicit(&t->queue, MPFS_EVQ_NONE, memory_order_relaxed);
        return t;
    }
}

int mpfs_evict_ghost_contains(const struct mpfs_evict *e, uint64_t id)
{
    return ghost_find(&e->ghost, id) >= 0;
}

/*
 * eviction.h - S3-FIFO, the scan-resistant eviction policy of both cache
 * tiers (RAM and disk).
 *
 * Why S3-FIFO (Yang et al., "FIFO queues are all you need for cache
 * eviction", SOSP 2023) and not LRU, 2Q or ARC:
 *   - Scan resistance.  A block enters the small FIFO S (10% of the bytes).
 *     Most blocks of a scan are read once: they leave S with frequency 0
 *     and are forgotten (only their id goes to the ghost queue G).  Only a
 *     block hit again while in S, or re-inserted while its id is still in
 *     G, reaches the main FIFO M (90%).  A hot working set therefore lives
 *     in M and survives a sequential scan of any length, where LRU flushes
 *     it completely (the scan of a dataset larger than the cache gives LRU
 *     ~0% hits).
 *   - Hits are lock-free.  A hit only bumps a 2-bit saturating counter in
 *     the node (a relaxed atomic); there is no list to reorder, so the
 *     policy lock is taken only on insert/evict, not on the hot read path.
 *     LRU/2Q/ARC all move a node on every hit under a global lock.
 *   - M is a CLOCK: a node at the tail of M with freq > 0 is moved back to
 *     the head with freq - 1 instead of being evicted.
 * ARC would adapt the S/M split but needs list moves on hits and patent-
 * era complexity for a gain the S3-FIFO paper measures as small.
 *
 * Sizes are in bytes (nodes may differ in size); the ghost queue holds
 * node ids (64-bit key hashes) only, bounded in number of entries.
 *
 * Locking: none inside.  The owner (RAM tier, disk tier) serialises every
 * call except mpfs_evict_touch(), which may run concurrently with anything
 * as long as the node is alive (the owner guarantees that by holding the
 * lock that protects its lookup structure).
 */
#ifndef MPFS_CACHE_EVICTION_H
#define MPFS_CACHE_EVICTION_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum mpfs_evict_queue {
    MPFS_EVQ_NONE = 0,
    MPFS_EVQ_SMALL = 1,
    MPFS_EVQ_MAIN = 2,
};

#define MPFS_EVICT_FREQ_MAX 3

/* Embedded in the owner's entry. */
struct mpfs_evict_node {
    struct mpfs_evict_node *prev, *next;
    uint64_t id;    /* key hash: what the ghost queue remembers */
    uint64_t bytes; /* what the node costs against the capacity */
    _Atomic uint8_t freq;
    _Atomic uint8_t queue; /* enum mpfs_evict_queue; read racily by owners */
};

struct mpfs_evict_list {
    struct mpfs_evict_node head; /* sentinel: head.next = newest */
    uint64_t bytes;
    size_t count;
};

/* Ghost: a FIFO of ids with a chained hash index, fixed capacity. */
struct mpfs_evict_ghost {
    uint64_t *ids;
    uint32_t *chain;   /* per slot: next slot in the same bucket, or UINT32_MAX */
    uint32_t *buckets; /* first slot, or UINT32_MAX */
    size_t cap, nbuckets, head, count;
};

struct mpfs_evict {
    uint64_t capacity;
    uint64_t small_target; /* 10% of capacity */
    struct mpfs_evict_list small, main;
    struct mpfs_evict_ghost ghost;
    uint64_t promotions; /* S -> M moves, for stats and tests */
    uint64_t ghost_hits;
};

/* ghost_entries: how many evicted ids to remember (the paper uses as many
 * as M holds objects). */
void mpfs_evict_init(struct mpfs_evict *e, uint64_t capacity, size_t ghost_entries);
void mpfs_evict_destroy(struct mpfs_evict *e);
void mpfs_evict_set_capacity(struct mpfs_evict *e, uint64_t capacity);

/* Insert a new node (id and bytes set by the caller): into M if its id is
 * in the ghost queue, else into S.  Does not evict: the caller loops on
 * mpfs_evict_over()/mpfs_evict_victim(). */
void mpfs_evict_insert(struct mpfs_evict *e, struct mpfs_evict_node *n);
/* Insert straight into M as its newest node: for entries restored from
 * disk at start, which were admitted once already (insert oldest first). */
void mpfs_evict_insert_main(struct mpfs_evict *e, struct mpfs_evict_node *n);
/* Take a node out without remembering it in the ghost (invalidation). */
void mpfs_evict_remove(struct mpfs_evict *e, struct mpfs_evict_node *n);
/* Choose a victim, unlink it and return it (NULL if empty). */
struct mpfs_evict_node *mpfs_evict_victim(struct mpfs_evict *e);

static inline uint64_t mpfs_evict_bytes(const struct mpfs_evict *e)
{
    return e->small.bytes + e->main.bytes;
}

static inline int mpfs_evict_over(const struct mpfs_evict *e)
{
    return mpfs_evict_bytes(e) > e->capacity;
}

/* A hit.  Racy saturating increment: a lost update costs one count. */
static inline void mpfs_evict_touch(struct mpfs_evict_node *n)
{
    uint8_t f = atomic_load_explicit(&n->freq, memory_order_relaxed);
    if (f < MPFS_EVICT_FREQ_MAX) {
        atomic_store_explicit(&n->freq, (uint8_t)(f + 1), memory_order_relaxed);
    }
}

/* Exposed for tests. */
int mpfs_evict_ghost_contains(const struct mpfs_evict *e, uint64_t id);

#endif

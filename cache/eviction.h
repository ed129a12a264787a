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
 * Scan groups and the held queue H (training epochs).  S3-FIFO alone hits
 * about (C/D)^2 on the usual training pattern: a fresh permutation of a
 * dataset of D bytes > the cache C every epoch.  The best any policy can
 * do is C/D, and a policy that keeps whatever C bytes it has reaches it.
 * So every node carries a group (a dataset prefix, chosen by the owner).
 * A group whose blocks come back after they were evicted (ghost hits:
 * reuse distance longer than the cache) MPFS_EVICT_RECOGNISE times, and
 * for at least MPFS_EVICT_HISTORY_MIN of its last 64 inserts (the group is
 * being re-read as a whole, not a hot part of it among one-off reads), is
 * recognised as a scan larger than the cache; its resident nodes move to
 * H, which is never evicted to make room for the group's own new blocks.
 * A new block of a scan group enters H only if it is being re-read (a
 * ghost hit, or a hit while in S) and only while there is room (H may
 * grow to capacity - reserve - |M|, so a hot set in M of another group
 * keeps its place); otherwise it passes through S as a transient and is
 * the next victim.  Each epoch then hits |H| / D ~ C/D.  A hot set under
 * one-off scans is unaffected: a never-repeated scan has no ghost hits,
 * and its blocks never enter H.  H is swept per group every 2 reuse
 * distances (the longest ghost age seen plus what is resident, i.e. two
 * epochs): held nodes not hit since the last sweep go back to S, so
 * blocks of a one-off scan caught in H at recognition make room for
 * blocks that are re-read.
 * Decay: every `capacity` bytes of inserts ends a period; a scan group
 * whose held nodes got no hit for longer than its reuse distance plus
 * what the cache holds (the job moved to another dataset) is released: its nodes go to the old end of S with
 * frequency 0 and are evicted first.  Groups that are not scans have
 * their ghost-hit count halved each period, so rare ghost hits spread
 * over a long time do not add up to a false recognition.
 *
 * Owners that must decide before doing work (the disk tier, before
 * writing a block) ask mpfs_evict_is_transient().
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
    MPFS_EVQ_HELD = 3,
};

#define MPFS_EVICT_FREQ_MAX 3
#define MPFS_EVICT_GROUPS 64     /* group slots; slot 0 = ungrouped, never a scan */
#define MPFS_EVICT_RECOGNISE 16  /* ghost hits (decayed) that make a group a scan */
#define MPFS_EVICT_HISTORY_MIN 40 /* ... if that many of its last 64 inserts were */

struct mpfs_evict_group {
    uint64_t id;         /* 0 = free slot */
    size_t nodes;        /* resident nodes, any queue */
    uint64_t held_bytes; /* bytes of it in H */
    uint64_t ghost_hits; /* halved every period */
    uint64_t history;    /* last 64 inserts: bit set = ghost hit */
    uint64_t last_hit;   /* e->inserts at the end of its last period with a hit */
    int scan;            /* recognised as a scan larger than the cache */
    uint64_t dist;       /* longest reuse distance seen (nodes), decayed */
    uint64_t inserts;    /* nodes inserted since H's last sweep of it */
    atomic_uint_fast64_t hits; /* hits on its held nodes this period */
};

/* Embedded in the owner's entry. */
struct mpfs_evict_node {
    struct mpfs_evict_node *prev, *next;
    uint64_t id;    /* key hash: what the ghost queue remembers */
    uint64_t bytes; /* what the node costs against the capacity */
    uint64_t group; /* dataset group id chosen by the owner (0 = none) */
    struct mpfs_evict_group *grp; /* set by insert */
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
    uint64_t reserve; /* kept out of H for transients: capacity / 64 */
    struct mpfs_evict_list small, main, held;
    struct mpfs_evict_ghost ghost;
    struct mpfs_evict_group groups[MPFS_EVICT_GROUPS];
    uint64_t period_bytes; /* inserted since the current period began */
    uint64_t inserts;      /* nodes ever inserted: the policy's clock */
    uint64_t promotions;   /* S -> M moves, for stats and tests */
    uint64_t ghost_hits;
    uint64_t recognised, released; /* scan groups, for stats and tests */
    /* Called (under the owner's lock) for each node that enters H, so the
     * RAM tier can drop the disk copy of what RAM now holds (tiers
     * exclusive for scans).  NULL = nothing. */
    void (*on_hold)(void *ctx, struct mpfs_evict_node *n);
    void *on_hold_ctx;
};

/* ghost_entries: how many evicted ids to remember (the paper uses as many
 * as M holds objects). */
void mpfs_evict_init(struct mpfs_evict *e, uint64_t capacity, size_t ghost_entries);
void mpfs_evict_destroy(struct mpfs_evict *e);
void mpfs_evict_set_capacity(struct mpfs_evict *e, uint64_t capacity);

/* Insert a new node (id, bytes and group set by the caller): for a scan
 * group into H if there is room, else S; otherwise into M if its id is in
 * the ghost queue, else into S.  Does not evict: the caller loops on
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
    return e->small.bytes + e->main.bytes + e->held.bytes;
}

/* Would a new node of `group` of `bytes` be a transient (a scan group
 * with no room left in H)?  The disk tier does not write such blocks. */
int mpfs_evict_is_transient(struct mpfs_evict *e, uint64_t group, uint64_t bytes);

static inline int mpfs_evict_over(const struct mpfs_evict *e)
{
    return mpfs_evict_bytes(e) > e->capacity;
}

/* A hit.  Racy saturating increment: a lost update costs one count.  A
 * hit on a held node also counts for its group's decay. */
static inline void mpfs_evict_touch(struct mpfs_evict_node *n)
{
    if (atomic_load_explicit(&n->queue, memory_order_relaxed) == MPFS_EVQ_HELD && n->grp) {
        atomic_fetch_add_explicit(&n->grp->hits, 1, memory_order_relaxed);
    }
    uint8_t f = atomic_load_explicit(&n->freq, memory_order_relaxed);
    if (f < MPFS_EVICT_FREQ_MAX) {
        atomic_store_explicit(&n->freq, (uint8_t)(f + 1), memory_order_relaxed);
    }
}

/* Exposed for tests. */
int mpfs_evict_ghost_contains(const struct mpfs_evict *e, uint64_t id);

#endif

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

static void list_push_tail(struct mpfs_evict_list *l, struct mpfs_evict_node *n)
{
    n->prev = l->head.prev;
    n->next = &l->head;
    l->head.prev->next = n;
    l->head.prev = n;
    l->bytes += n->bytes;
    l->count++;
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

/* ---- groups --------------------------------------------------------- */

/* The slot of group id (allocating a free one); slot 0 (ungrouped) when
 * id is 0 or every slot is in use. */
static struct mpfs_evict_group *group_of(struct mpfs_evict *e, uint64_t id)
{
    if (id == 0) {
        return &e->groups[0];
    }
    struct mpfs_evict_group *free_slot = NULL;
    for (size_t i = 1; i < MPFS_EVICT_GROUPS; i++) {
        struct mpfs_evict_group *g = &e->groups[i];
        if (g->id == id) {
            return g;
        }
        if (!free_slot && (g->id == 0 || (g->nodes == 0 && !g->scan))) {
            free_slot = g;
        }
    }
    if (!free_slot) {
        return &e->groups[0];
    }
    free_slot->id = id;
    free_slot->nodes = 0;
    free_slot->held_bytes = 0;
    free_slot->ghost_hits = 0;
    free_slot->scan = 0;
    free_slot->dist = 0;
    free_slot->history = 0;
    free_slot->last_hit = 0;
    free_slot->inserts = 0;
    atomic_store_explicit(&free_slot->hits, 0, memory_order_relaxed);
    return free_slot;
}

/* Room in H for bytes more: H may grow to capacity - reserve - |M| (a hot
 * set in M keeps its place; the reserve is the transients' window). */
static int held_room(const struct mpfs_evict *e, uint64_t bytes)
{
    uint64_t used = e->held.bytes + e->main.bytes + e->reserve;
    return used <= e->capacity && bytes <= e->capacity - used;
}

static void hold(struct mpfs_evict *e, struct mpfs_evict_node *n)
{
    atomic_store_explicit(&n->queue, MPFS_EVQ_HELD, memory_order_relaxed);
    list_push_head(&e->held, n);
    n->grp->held_bytes += n->bytes;
    if (e->on_hold) {
        e->on_hold(e->on_hold_ctx, n);
    }
}

/* The job no longer reads this scan group: its held nodes become the
 * oldest of S with frequency 0, so they are evicted first (in M they
 * would outlive the next dataset's blocks, which enter S). */
static void release(struct mpfs_evict *e, struct mpfs_evict_group *g)
{
    struct mpfs_evict_node *n = e->held.head.next;
    while (n != &e->held.head) {
        struct mpfs_evict_node *next = n->next;
        if (n->grp == g) {
            list_unlink(&e->held, n);
            atomic_store_explicit(&n->freq, 0, memory_order_relaxed);
            atomic_store_explicit(&n->queue, MPFS_EVQ_SMALL, memory_order_relaxed);
            list_push_tail(&e->small, n);
        }
        n = next;
    }
    g->held_bytes = 0;
    g->scan = 0;
    g->ghost_hits = 0;
    e->released++;
}

/* The group's blocks come back after eviction: it is a scan larger than
 * the cache.  Keep what of it is resident (newest first) up to H's room. */
static void recognise(struct mpfs_evict *e, struct mpfs_evict_group *g)
{
    /* The job moved on from a scan group whose held nodes had no hit in
     * the last period: make its room available to this one now. */
    uint64_t resident = e->small.count + e->main.count + e->held.count;
    for (size_t i = 1; i < MPFS_EVICT_GROUPS; i++) {
        struct mpfs_evict_group *o = &e->groups[i];
        if (o != g && o->scan && o->last_hit + resident < e->inserts &&
            atomic_load_explicit(&o->hits, memory_order_relaxed) == 0) {
            release(e, o);
        }
    }
    g->scan = 1;
    g->last_hit = e->inserts;
    e->recognised++;
    struct mpfs_evict_list *lists[2] = {&e->main, &e->small};
    for (int l = 0; l < 2; l++) {
        struct mpfs_evict_node *n = lists[l]->head.next;
        while (n != &lists[l]->head) {
            struct mpfs_evict_node *next = n->next;
            if (n->grp == g) {
                list_unlink(lists[l], n);
                if (held_room(e, n->bytes)) {
                    hold(e, n);
                } else {
                    /* no room: leave it in S, where it is evicted first */
                    atomic_store_explicit(&n->queue, MPFS_EVQ_SMALL, memory_order_relaxed);
                    list_push_head(&e->small, n);
                }
            }
            n = next;
        }
    }
}

/* Every two reuse distances: held nodes of g not hit since the last sweep
 * go back to the old end of S (evicted first); the others start over. */
static void sweep(struct mpfs_evict *e, struct mpfs_evict_group *g)
{
    g->inserts = 0;
    struct mpfs_evict_node *n = e->held.head.next;
    while (n != &e->held.head) {
        struct mpfs_evict_node *next = n->next;
        if (n->grp == g) {
            if (atomic_load_explicit(&n->freq, memory_order_relaxed) == 0) {
                list_unlink(&e->held, n);
                g->held_bytes -= n->bytes;
                atomic_store_explicit(&n->queue, MPFS_EVQ_SMALL, memory_order_relaxed);
                list_push_tail(&e->small, n);
            } else {
                atomic_store_explicit(&n->freq, 0, memory_order_relaxed);
            }
        }
        n = next;
    }
}

/* A period (capacity bytes of inserts) ended: decay. */
static void period_end(struct mpfs_evict *e)
{
    e->period_bytes = 0;
    for (size_t i = 1; i < MPFS_EVICT_GROUPS; i++) {
        struct mpfs_evict_group *g = &e->groups[i];
        if (g->id == 0) {
            continue;
        }
        uint64_t hits = atomic_exchange_explicit(&g->hits, 0, memory_order_relaxed);
        uint64_t resident = e->small.count + e->main.count + e->held.count;
        if (hits > 0) {
            g->last_hit = e->inserts;
        } else if (g->scan && e->inserts - g->last_hit > g->dist + resident) {
            /* no hit for longer than its reuse distance: not read now */
            release(e, g);
        } else if (!g->scan) {
            g->ghost_hits /= 2;
        }
        g->dist -= g->dist / 8;
    }
}

/* ---- policy --------------------------------------------------------- */

void mpfs_evict_init(struct mpfs_evict *e, uint64_t capacity, size_t ghost_entries)
{
    list_init(&e->small);
    list_init(&e->main);
    list_init(&e->held);
    ghost_init(&e->ghost, ghost_entries);
    for (size_t i = 0; i < MPFS_EVICT_GROUPS; i++) {
        e->groups[i].id = 0;
        e->groups[i].nodes = 0;
        e->groups[i].held_bytes = 0;
        e->groups[i].ghost_hits = 0;
        e->groups[i].scan = 0;
        e->groups[i].dist = 0;
        e->groups[i].history = 0;
        e->groups[i].last_hit = 0;
        e->groups[i].inserts = 0;
        atomic_init(&e->groups[i].hits, 0);
    }
    e->period_bytes = 0;
    e->inserts = 0;
    e->promotions = 0;
    e->ghost_hits = 0;
    e->recognised = e->released = 0;
    e->on_hold = NULL;
    e->on_hold_ctx = NULL;
    mpfs_evict_set_capacity(e, capacity);
}

void mpfs_evict_destroy(struct mpfs_evict *e)
{
    ghost_destroy(&e->ghost);
}

void mpfs_evict_set_capacity(struct mpfs_evict *e, uint64_t capacity)
{
    e->capacity = capacity;
    e->reserve = capacity / 64;
}

/* S's share: 10% of what H leaves to S and M. */
static uint64_t small_target(const struct mpfs_evict *e)
{
    uint64_t rest = e->capacity > e->held.bytes ? e->capacity - e->held.bytes : 0;
    return rest / 10;
}

int mpfs_evict_is_transient(struct mpfs_evict *e, uint64_t group, uint64_t bytes)
{
    struct mpfs_evict_group *g = group_of(e, group);
    return g->scan && !held_room(e, bytes);
}

void mpfs_evict_insert(struct mpfs_evict *e, struct mpfs_evict_node *n)
{
    atomic_store_explicit(&n->freq, 0, memory_order_relaxed);
    struct mpfs_evict_group *g = group_of(e, n->group);
    n->grp = g;
    g->nodes++;
    e->inserts++;
    e->period_bytes += n->bytes;
    if (e->period_bytes >= e->capacity) {
        period_end(e);
    }
    int ghost = 0;
    int64_t slot = ghost_find(&e->ghost, n->id);
    if (slot >= 0) {
        /* evicted `age` evictions ago: reuse distance ~ age + resident */
        uint64_t age = (uint64_t)((e->ghost.head + e->ghost.cap - (size_t)slot - 1) % e->ghost.cap);
        uint64_t resident = e->small.count + e->main.count + e->held.count;
        if (age + resident > g->dist) {
            g->dist = age + resident;
        }
        ghost_unlink_slot(&e->ghost, (uint32_t)slot);
        e->ghost_hits++;
        ghost = 1;
        g->ghost_hits++;
    }
    g->history = (g->history << 1) | (uint64_t)ghost;
    if (ghost && g != &e->groups[0] && !g->scan && g->ghost_hits >= MPFS_EVICT_RECOGNISE &&
        __builtin_popcountll(g->history) >= MPFS_EVICT_HISTORY_MIN) {
        recognise(e, g);
    }
    if (g->scan && ++g->inserts >= 2 * g->dist) {
        sweep(e, g);
    }
    if (g->scan) {
        if (ghost && held_room(e, n->bytes)) {
            hold(e, n);
            return;
        }
        /* a transient: through S, evicted before anything held */
        atomic_store_explicit(&n->queue, MPFS_EVQ_SMALL, memory_order_relaxed);
        list_push_head(&e->small, n);
        return;
    }
    if (ghost) {
        /* Seen recently and evicted from S: the reuse distance is longer
         * than S but it was reused, so it belongs in M. */
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
    n->grp = group_of(e, n->group);
    n->grp->nodes++;
    atomic_store_explicit(&n->queue, MPFS_EVQ_MAIN, memory_order_relaxed);
    list_push_head(&e->main, n);
}

static void forget(struct mpfs_evict_node *n)
{
    MPFS_ASSERT(n->grp && n->grp->nodes > 0);
    n->grp->nodes--;
    atomic_store_explicit(&n->queue, MPFS_EVQ_NONE, memory_order_relaxed);
}

void mpfs_evict_remove(struct mpfs_evict *e, struct mpfs_evict_node *n)
{
    uint8_t q = atomic_load_explicit(&n->queue, memory_order_relaxed);
    MPFS_ASSERT(q == MPFS_EVQ_SMALL || q == MPFS_EVQ_MAIN || q == MPFS_EVQ_HELD);
    if (q == MPFS_EVQ_HELD) {
        list_unlink(&e->held, n);
        n->grp->held_bytes -= n->bytes;
    } else {
        list_unlink(q == MPFS_EVQ_SMALL ? &e->small : &e->main, n);
    }
    forget(n);
}

struct mpfs_evict_node *mpfs_evict_victim(struct mpfs_evict *e)
{
    /* Terminates: each S step shrinks S, each M rotation decrements a
     * bounded counter, H is only a last resort. */
    for (;;) {
        struct mpfs_evict_node *t;
        if (e->small.count > 0 && (e->small.bytes >= small_target(e) || e->main.count == 0)) {
            t = list_tail(&e->small);
            list_unlink(&e->small, t);
            if (atomic_load_explicit(&t->freq, memory_order_relaxed) > 0) {
                if (t->grp->scan) {
                    /* a scan group's block reused while transient: keep it
                     * if H has room, else it goes like any transient */
                    if (held_room(e, t->bytes)) {
                        hold(e, t);
                        continue;
                    }
                } else {
                    /* Reused while in S: admit to M with a fresh count, so
                     * it must be hit again in M to survive M's clock. */
                    atomic_store_explicit(&t->freq, 0, memory_order_relaxed);
                    atomic_store_explicit(&t->queue, MPFS_EVQ_MAIN, memory_order_relaxed);
                    list_push_head(&e->main, t);
                    e->promotions++;
                    continue;
                }
            }
            ghost_add(&e->ghost, t->id);
            forget(t);
            return t;
        }
        t = list_tail(&e->main);
        if (t) {
            list_unlink(&e->main, t);
            uint8_t f = atomic_load_explicit(&t->freq, memory_order_relaxed);
            if (f > 0) {
                atomic_store_explicit(&t->freq, (uint8_t)(f - 1), memory_order_relaxed);
                list_push_head(&e->main, t);
                continue;
            }
            forget(t);
            return t;
        }
        /* only H is left (the capacity shrank): oldest first */
        t = list_tail(&e->held);
        if (!t) {
            return NULL;
        }
        list_unlink(&e->held, t);
        t->grp->held_bytes -= t->bytes;
        forget(t);
        return t;
    }
}

int mpfs_evict_ghost_contains(const struct mpfs_evict *e, uint64_t id)
{
    return ghost_find(&e->ghost, id) >= 0;
}

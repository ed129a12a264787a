/*
 * blockcache.c - the RAM tier and the public cache API (blockcache.h).
 *
 * Structure: 16 shards, each a chained hash table of entries under its
 * own mutex, chosen by the top bits of the 128-bit key hash; one S3-FIFO
 * policy (eviction.h) over all RAM entries under `policy_lock`.  An entry
 * holds the full key (checked on lookup, so a hash collision is a miss,
 * not wrong data) and a slice of a refcounted buffer.
 *
 * Hit path (no allocation): hash the key, lock the shard, find the entry,
 * take a buffer reference, bump the entry's frequency (a relaxed atomic;
 * no list moves), unlock, copy, drop the reference.  Eviction can unlink
 * and free the entry meanwhile; the buffer lives until the last reference.
 *
 * Shared buffers: the reader fetches up to 8 MiB in one request into one
 * buffer and inserts each 1 MiB slice as its own entry (no copy).  A slice
 * that is promoted to M (it is hot) would keep its whole 8 MiB buffer
 * alive while its cold neighbours are evicted, so a hit on a promoted
 * slice whose buffer is more than half evicted copies it into a buffer of
 * its own ("compaction").  Bytes are charged per entry
 * (the slice length); the dead weight of shared buffers is thus bounded to
 * cold slices still in S plus at most 2x for compacted-on-next-hit ones.
 *
 * Lock order: policy_lock -> shard lock.  Never held across disk I/O or
 * across a memcpy of block data, except the one-shard compaction swap.
 */
#include "cache/blockcache.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack: no malloc per lookup */
#include <xxhash.h>

#include "base/log.h"
#include "base/util.h"
#include "cache/cache_internal.h"
#include "cache/disk_tier.h"
#include "cache/eviction.h"

#define NSHARDS 16

struct ram_entry {
    struct mpfs_evict_node node; /* first */
    struct ram_entry *hnext;
    uint64_t lo, hi, file_hash, block;
    struct mpfs_cache_buf *buf;
    const unsigned char *data;
    size_t len;
    atomic_uchar prefetched; /* inserted by readahead, not used yet */
    uint32_t file_len, version_len;
    char key[]; /* file bytes then version bytes */
};

struct shard {
    pthread_mutex_t lock;
    struct ram_entry **buckets;
    size_t nbuckets, count;
} __attribute__((aligned(64)));

struct mpfs_cache {
    size_t block_size;
    struct shard shards[NSHARDS];

    pthread_mutex_t policy_lock;
    struct mpfs_evict policy;
    uint64_t ram_evictions; /* under policy_lock */
    /* blocks that entered RAM's held queue: their disk copies are dropped
     * after policy_lock is released (tiers exclusive for scans) */
    uint64_t (*held_new)[2];
    size_t held_new_n, held_new_cap;
    atomic_uint_fast64_t dedup_drops;

    struct mpfs_disk_tier *disk;

    atomic_uint_fast64_t hits, misses, disk_hits, compactions;
};

/* ---- keys and buffers ----------------------------------------------- */

uint64_t mpfs_cache_file_hash(const char *file, size_t file_len)
{
    return XXH3_64bits(file, file_len);
}

void mpfs_cache_hkey_make(const struct mpfs_block_key *k, struct mpfs_cache_hkey *out)
{
    XXH3_state_t st;
    uint64_t flen = k->file_len, vlen = strlen(k->version), block = k->block;
    XXH3_128bits_reset(&st);
    XXH3_128bits_update(&st, &flen, sizeof(flen));
    XXH3_128bits_update(&st, k->file, k->file_len);
    XXH3_128bits_update(&st, &vlen, sizeof(vlen));
    XXH3_128bits_update(&st, k->version, vlen);
    XXH3_128bits_update(&st, &block, sizeof(block));
    XXH128_hash_t h = XXH3_128bits_digest(&st);
    out->lo = h.low64;
    out->hi = h.high64;
    out->file_hash = mpfs_cache_file_hash(k->file, k->file_len);
    /* A dataset is a top-level directory of the mount (or its top level):
     * ImageNet's train/<class>/<file> is one group, not a thousand. */
    const char *slash = memchr(k->file, '/', k->file_len);
    size_t glen = slash ? (size_t)(slash - k->file) : 0;
    out->group = XXH3_64bits_withSeed(k->file, glen, 0x6d706673) | 1;
}

void mpfs_cache_key_hash(const struct mpfs_block_key *k, uint64_t out[2])
{
    struct mpfs_cache_hkey h;
    mpfs_cache_hkey_make(k, &h);
    out[0] = h.lo;
    out[1] = h.hi;
}

/* ---- shards --------------------------------------------------------- */

static struct shard *shard_of(struct mpfs_cache *c, const struct mpfs_cache_hkey *h)
{
    return &c->shards[h->hi >> 60];
}

static int entry_matches(const struct ram_entry *e, const struct mpfs_cache_hkey *h,
                         const struct mpfs_block_key *k, size_t vlen)
{
    return e->lo == h->lo && e->hi == h->hi && e->block == k->block && e->file_len == k->file_len &&
           e->version_len == vlen && memcmp(e->key, k->file, k->file_len) == 0 &&
           memcmp(e->key + k->file_len, k->version, vlen) == 0;
}

static struct ram_entry *shard_find(struct shard *s, const struct mpfs_cache_hkey *h,
                                    const struct mpfs_block_key *k, size_t vlen)
{
    for (struct ram_entry *e = s->buckets[h->lo & (s->nbuckets - 1)]; e; e = e->hnext) {
        if (entry_matches(e, h, k, vlen)) {
            return e;
        }
    }
    return NULL;
}

static void shard_insert(struct shard *s, struct ram_entry *e)
{
    if (s->count >= s->nbuckets) {
        size_t nb = s->nbuckets * 2;
        struct ram_entry **b = mpfs_xcalloc(nb, sizeof(*b));
        for (size_t i = 0; i < s->nbuckets; i++) {
            struct ram_entry *x = s->buckets[i];
            while (x) {
                struct ram_entry *next = x->hnext;
                size_t j = (size_t)(x->lo & (nb - 1));
                x->hnext = b[j];
                b[j] = x;
                x = next;
            }
        }
        free(s->buckets);
        s->buckets = b;
        s->nbuckets = nb;
    }
    size_t i = (size_t)(e->lo & (s->nbuckets - 1));
    e->hnext = s->buckets[i];
    s->buckets[i] = e;
    s->count++;
}

static void shard_unlink(struct shard *s, struct ram_entry *e)
{
    struct ram_entry **pp = &s->buckets[e->lo & (s->nbuckets - 1)];
    while (*pp && *pp != e) {
        pp = &(*pp)->hnext;
    }
    if (*pp) {
        *pp = e->hnext;
        s->count--;
    }
    e->hnext = NULL;
}

static void free_entries(struct ram_entry *list)
{
    while (list) {
        struct ram_entry *next = list->hnext;
        atomic_fetch_add_explicit(&list->buf->dead, list->len, memory_order_relaxed);
        mpfs_cache_buf_put(list->buf);
        free(list);
        list = next;
    }
}

/* ---- tiers exclusive for scans --------------------------------------- */

/* eviction.h on_hold, policy_lock held: remember the key hash. */
static void note_held(void *ctx, struct mpfs_evict_node *n)
{
    struct mpfs_cache *c = ctx;
    if (!c->disk) {
        return;
    }
    struct ram_entry *e = (struct ram_entry *)n;
    if (c->held_new_n == c->held_new_cap) {
        c->held_new_cap = c->held_new_cap ? c->held_new_cap * 2 : 64;
        c->held_new = mpfs_xrealloc(c->held_new, c->held_new_cap * sizeof(*c->held_new));
    }
    c->held_new[c->held_new_n][0] = e->lo;
    c->held_new[c->held_new_n][1] = e->hi;
    c->held_new_n++;
}

/* RAM holds these blocks for the whole scan: their disk copies would only
 * duplicate it, so the disk's room goes to other blocks of the dataset.
 * Called without policy_lock. */
static void drop_held_from_disk(struct mpfs_cache *c)
{
    if (!c->disk) {
        return;
    }
    pthread_mutex_lock(&c->policy_lock);
    uint64_t(*list)[2] = c->held_new;
    size_t n = c->held_new_n;
    c->held_new = NULL;
    c->held_new_n = c->held_new_cap = 0;
    pthread_mutex_unlock(&c->policy_lock);
    for (size_t i = 0; i < n; i++) {
        mpfs_disk_tier_drop(c->disk, list[i][0], list[i][1]);
    }
    atomic_fetch_add_explicit(&c->dedup_drops, n, memory_order_relaxed);
    free(list);
}

/* ---- lifecycle ------------------------------------------------------ */

struct mpfs_cache *mpfs_cache_new(const struct mpfs_cache_config *cfg, char *err, size_t errlen)
{
    struct mpfs_cache_config def = {0};
    if (!cfg) {
        cfg = &def;
    }
    size_t bs = cfg->block_size ? cfg->block_size : MPFS_CACHE_DEFAULT_BLOCK;
    size_t ram = cfg->ram_bytes ? cfg->ram_bytes : MPFS_CACHE_DEFAULT_RAM;
    uint64_t disk = cfg->disk_bytes ? cfg->disk_bytes : MPFS_CACHE_DEFAULT_DISK;
    if (bs < 4096 || (bs & (bs - 1)) != 0 || bs > (64u << 20)) {
        snprintf(err, errlen, "cache block size %zu must be a power of two in [4 KiB, 64 MiB]", bs);
        return NULL;
    }

    struct mpfs_cache *c = mpfs_xcalloc(1, sizeof(*c));
    c->block_size = bs;
    for (int i = 0; i < NSHARDS; i++) {
        pthread_mutex_init(&c->shards[i].lock, NULL);
        c->shards[i].nbuckets = 64;
        c->shards[i].buckets = mpfs_xcalloc(64, sizeof(struct ram_entry *));
    }
    pthread_mutex_init(&c->policy_lock, NULL);
    /* Ghost: remember 16 caches' worth of ids, so a dataset of up to 16x
     * the cache is recognised as a scan on its second epoch (eviction.h),
     * counting random-mode sub-blocks (1/8 block, at most 64 KiB). */
    size_t unit = MPFS_MIN(bs / 8, (size_t)65536);
    mpfs_evict_init(&c->policy, ram, MPFS_MAX((size_t)256, ram / unit * 2));
    c->policy.on_hold = note_held;
    c->policy.on_hold_ctx = c;
    atomic_init(&c->dedup_drops, 0);
    atomic_init(&c->hits, 0);
    atomic_init(&c->misses, 0);
    atomic_init(&c->disk_hits, 0);
    atomic_init(&c->compactions, 0);

    if (cfg->disk_dir && cfg->disk_dir[0]) {
        if (mpfs_disk_tier_open(cfg->disk_dir, disk, bs, cfg->disk_queue_bytes, &c->disk, err,
                                errlen) != 0) {
            mpfs_cache_free(c);
            return NULL;
        }
    }
    if (c->disk) {
        mpfs_info("block cache: block %zu KiB, RAM %zu MiB, disk %s (%" PRIu64 " MiB)", bs >> 10,
                  ram >> 20, cfg->disk_dir, disk >> 20);
    } else {
        mpfs_info("block cache: block %zu KiB, RAM %zu MiB, no disk tier", bs >> 10, ram >> 20);
    }
    return c;
}

void mpfs_cache_free(struct mpfs_cache *c)
{
    if (!c) {
        return;
    }
    mpfs_disk_tier_close(c->disk); /* drains queued writes first */
    for (int i = 0; i < NSHARDS; i++) {
        struct shard *s = &c->shards[i];
        for (size_t b = 0; b < s->nbuckets; b++) {
            struct ram_entry *e = s->buckets[b];
            while (e) {
                struct ram_entry *next = e->hnext;
                mpfs_cache_buf_put(e->buf);
                free(e);
                e = next;
            }
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->lock);
    }
    mpfs_evict_destroy(&c->policy);
    pthread_mutex_destroy(&c->policy_lock);
    free(c->held_new);
    free(c);
}

size_t mpfs_cache_block_size(const struct mpfs_cache *c)
{
    return c->block_size;
}

/* ---- insert --------------------------------------------------------- */

static void insert(struct mpfs_cache *c, const struct mpfs_block_key *k,
                   const struct mpfs_cache_hkey *h, struct mpfs_cache_buf *b, size_t boff,
                   size_t len, unsigned flags)
{
    size_t vlen = strlen(k->version);
    struct ram_entry *e = mpfs_xmalloc(sizeof(*e) + k->file_len + vlen);
    memset(e, 0, sizeof(*e));
    e->lo = h->lo;
    e->hi = h->hi;
    e->file_hash = h->file_hash;
    e->block = k->block;
    mpfs_cache_buf_get(b);
    e->buf = b;
    e->data = b->data + boff;
    e->len = len;
    atomic_init(&e->prefetched, (flags & MPFS_CACHE_PREFETCHED) ? 1 : 0);
    e->file_len = (uint32_t)k->file_len;
    e->version_len = (uint32_t)vlen;
    memcpy(e->key, k->file, k->file_len);
    memcpy(e->key + k->file_len, k->version, vlen);
    e->node.id = h->lo;
    e->node.bytes = len;
    e->node.group = h->group;

    struct ram_entry *victims = NULL;
    struct shard *s = shard_of(c, h);
    pthread_mutex_lock(&c->policy_lock);
    pthread_mutex_lock(&s->lock);
    if (shard_find(s, h, k, vlen)) {
        /* same key = same version = same bytes: keep the one we have */
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_unlock(&c->policy_lock);
        mpfs_cache_buf_put(b);
        free(e);
        return;
    }
    shard_insert(s, e);
    /* before the shard unlock: a hit must see the node's group set */
    mpfs_evict_insert(&c->policy, &e->node);
    pthread_mutex_unlock(&s->lock);
    int held = atomic_load_explicit(&e->node.queue, memory_order_relaxed) == MPFS_EVQ_HELD;
    while (mpfs_evict_over(&c->policy)) {
        struct ram_entry *v = (struct ram_entry *)mpfs_evict_victim(&c->policy);
        if (!v) {
            break;
        }
        struct shard *vs = &c->shards[v->hi >> 60];
        pthread_mutex_lock(&vs->lock);
        shard_unlink(vs, v);
        pthread_mutex_unlock(&vs->lock);
        v->hnext = victims;
        victims = v;
        c->ram_evictions++;
    }
    int dedup = c->held_new_n > 0;
    pthread_mutex_unlock(&c->policy_lock);
    free_entries(victims);
    if (dedup) {
        drop_held_from_disk(c);
    }

    /* a block RAM holds for a scan is not written to disk (see above) */
    if (c->disk && !held && !(flags & MPFS_CACHE_FROM_DISK)) {
        mpfs_disk_tier_submit(c->disk, k, h, b, boff, len);
    }
}

void mpfs_cache_put_buf(struct mpfs_cache *c, const struct mpfs_block_key *k,
                        struct mpfs_cache_buf *b, size_t boff, size_t len, unsigned flags)
{
    if (len > c->block_size || boff + len > b->len) {
        mpfs_error("block cache: put of %zu bytes at %zu of a %zu-byte buffer (block %zu): "
                   "ignored",
                   len, boff, b->len, c->block_size);
        return;
    }
    struct mpfs_cache_hkey h;
    mpfs_cache_hkey_make(k, &h);
    insert(c, k, &h, b, boff, len, flags);
}

void mpfs_cache_put(struct mpfs_cache *c, const struct mpfs_block_key *k, const void *data,
                    size_t len)
{
    if (len > c->block_size) {
        mpfs_error("block cache: put of %zu bytes exceeds the block size %zu: ignored", len,
                   c->block_size);
        return;
    }
    struct mpfs_cache_buf *b = mpfs_cache_buf_new(len);
    memcpy(b->data, data, len);
    struct mpfs_cache_hkey h;
    mpfs_cache_hkey_make(k, &h);
    insert(c, k, &h, b, 0, len, 0);
    mpfs_cache_buf_put(b);
}

/* ---- lookup --------------------------------------------------------- */

/* Give a hot slice of a shared buffer a buffer of its own (see top). */
static void compact(struct mpfs_cache *c, const struct mpfs_block_key *k,
                    const struct mpfs_cache_hkey *h, struct mpfs_cache_buf *old,
                    const unsigned char *data, size_t len)
{
    struct mpfs_cache_buf *nb = mpfs_cache_buf_new(len);
    memcpy(nb->data, data, len); /* the caller's reference keeps data alive */
    struct shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->lock);
    struct ram_entry *e = shard_find(s, h, k, strlen(k->version));
    if (e && e->buf == old) {
        e->buf = nb;
        e->data = nb->data;
        atomic_fetch_add_explicit(&old->dead, len, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->compactions, 1, memory_order_relaxed);
        nb = old; /* drop the entry's reference to the old buffer below */
    }
    pthread_mutex_unlock(&s->lock);
    mpfs_cache_buf_put(nb);
}

/* RAM lookup; on a hit copies and returns bytes, else -ENOENT. */
static ssize_t ram_get(struct mpfs_cache *c, const struct mpfs_block_key *k,
                       const struct mpfs_cache_hkey *h, void *buf, size_t off, size_t len,
                       unsigned flags)
{
    size_t vlen = strlen(k->version);
    struct shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->lock);
    struct ram_entry *e = shard_find(s, h, k, vlen);
    if (!e) {
        pthread_mutex_unlock(&s->lock);
        return -ENOENT;
    }
    struct mpfs_cache_buf *b = e->buf;
    const unsigned char *data = e->data;
    size_t elen = e->len;
    mpfs_cache_buf_get(b);
    if (atomic_load_explicit(&e->prefetched, memory_order_relaxed)) {
        atomic_store_explicit(&e->prefetched, 0, memory_order_relaxed); /* first use */
    } else if (!(flags & MPFS_CACHE_NOTOUCH)) {
        mpfs_evict_touch(&e->node);
    }
    /* compact a reused block whose buffer is mostly dead weight (its
     * neighbours were evicted; ones still being read ahead are not dead) */
    int shared = b->len != elen &&
                 atomic_load_explicit(&b->dead, memory_order_relaxed) * 2 > b->len &&
                 atomic_load_explicit(&e->node.queue, memory_order_relaxed) == MPFS_EVQ_MAIN;
    pthread_mutex_unlock(&s->lock);

    size_t n = off >= elen ? 0 : MPFS_MIN(len, elen - off);
    if (n) {
        memcpy(buf, data + off, n);
    }
    if (shared) {
        compact(c, k, h, b, data, elen);
    }
    mpfs_cache_buf_put(b);
    return (ssize_t)n;
}

ssize_t mpfs_cache_get_ex(struct mpfs_cache *c, const struct mpfs_block_key *k, void *buf,
                          size_t off, size_t len, unsigned flags)
{
    struct mpfs_cache_hkey h;
    mpfs_cache_hkey_make(k, &h);
    ssize_t n = ram_get(c, k, &h, buf, off, len, flags);
    if (n >= 0) {
        atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
        return n;
    }
    if (flags & MPFS_CACHE_RAM_ONLY) {
        return -ENOENT;
    }
    if (c->disk) {
        struct mpfs_cache_buf *b;
        size_t blen;
        if (mpfs_disk_tier_read(c->disk, k, &h, &b, &blen) == 0) {
            size_t m = off >= blen ? 0 : MPFS_MIN(len, blen - off);
            if (m) {
                memcpy(buf, b->data + off, m);
            }
            insert(c, k, &h, b, 0, blen, MPFS_CACHE_FROM_DISK);
            mpfs_cache_buf_put(b);
            atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&c->disk_hits, 1, memory_order_relaxed);
            return (ssize_t)m;
        }
    }
    atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
    return -ENOENT;
}

ssize_t mpfs_cache_get(struct mpfs_cache *c, const struct mpfs_block_key *k, void *buf, size_t off,
                       size_t len)
{
    return mpfs_cache_get_ex(c, k, buf, off, len, 0);
}

int mpfs_cache_contains(struct mpfs_cache *c, const struct mpfs_block_key *k)
{
    struct mpfs_cache_hkey h;
    mpfs_cache_hkey_make(k, &h);
    struct shard *s = shard_of(c, &h);
    pthread_mutex_lock(&s->lock);
    int found = shard_find(s, &h, k, strlen(k->version)) != NULL;
    pthread_mutex_unlock(&s->lock);
    if (found) {
        return MPFS_CACHE_IN_RAM;
    }
    if (c->disk && mpfs_disk_tier_contains(c->disk, &h)) {
        return MPFS_CACHE_ON_DISK;
    }
    return MPFS_CACHE_ABSENT;
}

int mpfs_cache_load(struct mpfs_cache *c, const struct mpfs_block_key *k)
{
    struct mpfs_cache_hkey h;
    mpfs_cache_hkey_make(k, &h);
    struct shard *s = shard_of(c, &h);
    pthread_mutex_lock(&s->lock);
    int found = shard_find(s, &h, k, strlen(k->version)) != NULL;
    pthread_mutex_unlock(&s->lock);
    if (found) {
        return 0;
    }
    if (!c->disk) {
        return -ENOENT;
    }
    struct mpfs_cache_buf *b;
    size_t blen;
    int rc = mpfs_disk_tier_read(c->disk, k, &h, &b, &blen);
    if (rc != 0) {
        return rc;
    }
    /* loaded ahead of use: the coming read is its first use */
    insert(c, k, &h, b, 0, blen, MPFS_CACHE_FROM_DISK | MPFS_CACHE_PREFETCHED);
    mpfs_cache_buf_put(b);
    return 0;
}

int mpfs_cache_read_disk(struct mpfs_cache *c, const struct mpfs_block_key *k,
                         struct mpfs_cache_buf **out, size_t *len)
{
    if (!c->disk) {
        return -ENOENT;
    }
    struct mpfs_cache_hkey h;
    mpfs_cache_hkey_make(k, &h);
    int rc = mpfs_disk_tier_read(c->disk, k, &h, out, len);
    if (rc == 0) {
        atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->disk_hits, 1, memory_order_relaxed);
    }
    return rc;
}

/* ---- invalidate, stats, flush, faults -------------------------------- */

void mpfs_cache_invalidate(struct mpfs_cache *c, const char *file, size_t file_len)
{
    uint64_t fh = mpfs_cache_file_hash(file, file_len);
    struct ram_entry *victims = NULL;
    pthread_mutex_lock(&c->policy_lock);
    for (int i = 0; i < NSHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->lock);
        for (size_t b = 0; b < s->nbuckets; b++) {
            struct ram_entry **pp = &s->buckets[b];
            while (*pp) {
                struct ram_entry *e = *pp;
                if (e->file_hash == fh && e->file_len == file_len &&
                    memcmp(e->key, file, file_len) == 0) {
                    *pp = e->hnext;
                    s->count--;
                    mpfs_evict_remove(&c->policy, &e->node);
                    e->hnext = victims;
                    victims = e;
                } else {
                    pp = &e->hnext;
                }
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&c->policy_lock);
    free_entries(victims);
    if (c->disk) {
        /* by file hash only: a 64-bit collision drops another file's
         * blocks too, which costs refetches, never correctness */
        mpfs_disk_tier_invalidate(c->disk, fh);
    }
}

void mpfs_cache_get_stats(struct mpfs_cache *c, struct mpfs_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->hits = atomic_load(&c->hits);
    out->misses = atomic_load(&c->misses);
    out->disk_hits = atomic_load(&c->disk_hits);
    out->compactions = atomic_load(&c->compactions);
    pthread_mutex_lock(&c->policy_lock);
    out->ram_bytes = mpfs_evict_bytes(&c->policy);
    out->ram_evictions = c->ram_evictions;
    out->promotions = c->policy.promotions;
    out->ram_held_bytes = c->policy.held.bytes;
    out->scan_groups = c->policy.recognised;
    pthread_mutex_unlock(&c->policy_lock);
    out->disk_dedup_drops = atomic_load(&c->dedup_drops);
    if (c->disk) {
        struct mpfs_disk_stats ds;
        mpfs_disk_tier_stats(c->disk, &ds);
        out->disk_bytes = ds.bytes;
        out->disk_evictions = ds.evictions;
        out->disk_errors = ds.errors;
        out->checksum_failures = ds.checksum_failures;
        out->disk_writes = ds.writes;
        out->disk_write_drops = ds.write_drops;
        out->disk_held_bytes = ds.held_bytes;
        out->disk_admission_skips = ds.admission_skips;
        out->disk_direct_bytes = ds.direct_bytes;
    }
    out->evictions = out->ram_evictions + out->disk_evictions;
}

void mpfs_cache_flush(struct mpfs_cache *c)
{
    if (c->disk) {
        mpfs_disk_tier_flush(c->disk);
    }
}

void mpfs_cache_set_disk_fault(struct mpfs_cache *c, int write_errno, int read_errno)
{
    if (c->disk) {
        mpfs_disk_tier_set_fault(c->disk, write_errno, read_errno);
    }
}

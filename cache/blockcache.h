/*
 * blockcache.h - the node-local block cache: a RAM tier and an optional
 * disk tier (tier-0 NVMe), both bounded in bytes, both evicting with
 * S3-FIFO (eviction.h), blocks checksummed with XXH3 on disk.
 *
 * A block is identified by (file identity, version token, block number).
 * The version is part of the key, so a block of an old version can never
 * be served for a new one; old versions simply stop being asked for and
 * age out (or are dropped at once with mpfs_cache_invalidate()).  The
 * cache does not interpret block numbers: the reader (reader.h) uses
 * offset / block_size for full blocks and a separate number space for the
 * small sub-blocks of random mode.  A block may be shorter than
 * block_size (the end of a file).
 *
 * Write policy: a put goes into RAM and, if the disk tier is enabled, is
 * queued for an asynchronous write-through to disk (a background writer
 * behind a bounded queue; blocks are dropped, not waited for, when it is
 * full).  Eviction from RAM is then a plain drop, never I/O under a lock,
 * and the disk copy exists soon after the fetch, so it survives a crash or
 * a remount.  A disk hit is promoted into RAM.  Details: docs/CACHE.md.
 *
 * Thread safety: every function may be called from many threads at once.
 * The RAM index is split into 16 shards by key hash, each with its own
 * mutex; a hit takes one shard mutex, pins the block's buffer by a
 * reference count, copies outside the lock, and does not allocate.
 */
#ifndef MPFS_CACHE_BLOCKCACHE_H
#define MPFS_CACHE_BLOCKCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MPFS_CACHE_DEFAULT_BLOCK (1u << 20)
#define MPFS_CACHE_DEFAULT_RAM (256ull << 20)
#define MPFS_CACHE_DEFAULT_DISK (4ull << 30)

struct mpfs_cache_config {
    size_t block_size;    /* default 1 MiB; the unit of caching and of readahead */
    size_t ram_bytes;     /* RAM tier budget, default 256 MiB */
    const char *disk_dir; /* disk tier directory (created 0700), NULL = no disk tier */
    uint64_t disk_bytes;  /* disk tier budget, default 4 GiB */
    uint64_t disk_queue_bytes; /* blocks queued for the disk writer, default 128 MiB */
};

struct mpfs_block_key {
    const char *file; /* stable identity, e.g. backend kind + path, not NUL-terminated */
    size_t file_len;
    const char *version; /* version token, NUL-terminated ("" if unknown) */
    uint64_t block;
};

struct mpfs_cache_stats {
    uint64_t hits, misses;
    uint64_t ram_bytes, disk_bytes; /* bytes held now */
    uint64_t evictions;             /* RAM + disk */
    uint64_t disk_errors, checksum_failures;
    /* added beyond the original brief: */
    uint64_t disk_hits;        /* hits served by the disk tier (part of hits) */
    uint64_t disk_writes;      /* blocks written to disk */
    uint64_t disk_write_drops; /* write-throughs dropped (queue full, tier backing off) */
    uint64_t ram_evictions, disk_evictions;
    uint64_t promotions;  /* RAM S -> M moves (re-used blocks) */
    uint64_t compactions; /* hot slices copied out of a mostly evicted shared buffer */
    /* the training policy (eviction.h: scan groups, held queue) */
    uint64_t ram_held_bytes, disk_held_bytes; /* in each tier's held queue */
    uint64_t scan_groups;          /* RAM groups recognised as scans (cumulative) */
    uint64_t disk_admission_skips; /* scan transients not written to disk */
    uint64_t disk_dedup_drops;     /* disk copies dropped because RAM holds the block */
    uint64_t disk_direct_bytes;    /* block data written with O_DIRECT (disk_tier.c) */
};

struct mpfs_cache;

/* NULL + message in err if the disk dir is unusable (cannot be created,
 * not a directory, not writable, locked by another process) or a
 * parameter is invalid.  Zero fields take their defaults. */
struct mpfs_cache *mpfs_cache_new(const struct mpfs_cache_config *cfg, char *err, size_t errlen);
/* Waits for queued disk writes, then frees everything.  NULL is a no-op. */
void mpfs_cache_free(struct mpfs_cache *c);

/* Copy block bytes [off, off+len) into buf if the block is cached (RAM or
 * disk); returns bytes copied (fewer than len if the block is shorter, 0
 * if off is past its end) or -ENOENT. */
ssize_t mpfs_cache_get(struct mpfs_cache *c, const struct mpfs_block_key *k, void *buf, size_t off,
                       size_t len);
/* Insert a block (copied).  A block already cached under the same key is
 * kept (same key = same version = same bytes).  len <= block_size. */
void mpfs_cache_put(struct mpfs_cache *c, const struct mpfs_block_key *k, const void *data,
                    size_t len);
/* Drop every block of every version of file, in RAM and on disk. */
void mpfs_cache_invalidate(struct mpfs_cache *c, const char *file, size_t file_len);
void mpfs_cache_get_stats(struct mpfs_cache *c, struct mpfs_cache_stats *out);

/* ---- for the reader (zero-copy inserts, flags) ---------------------- */

/* A refcounted byte buffer.  The reader fetches straight into one and
 * hands slices of it to the cache, so a block is copied once: from the
 * buffer to the caller. */
struct mpfs_cache_buf;
struct mpfs_cache_buf *mpfs_cache_buf_new(size_t len);
void *mpfs_cache_buf_data(struct mpfs_cache_buf *b);
size_t mpfs_cache_buf_len(const struct mpfs_cache_buf *b);
void mpfs_cache_buf_get(struct mpfs_cache_buf *b);
void mpfs_cache_buf_put(struct mpfs_cache_buf *b); /* NULL is a no-op */
/* Free large buffers kept for reuse, process-wide (default 96 MiB; 0
 * restores it): part of the memory budget (budget.h). */
void mpfs_cache_buf_pool_limit(uint64_t bytes);

enum mpfs_cache_flags {
    /* get: do not count this access as a reuse (the same reader reading
     * the next piece of the block it just read: one logical access). */
    MPFS_CACHE_NOTOUCH = 1u << 0,
    /* put: the block was read ahead and not used yet; its first hit is
     * its first use, not a reuse. */
    MPFS_CACHE_PREFETCHED = 1u << 1,
    /* put: came from the disk tier; do not write it back. */
    MPFS_CACHE_FROM_DISK = 1u << 2,
    /* get: look in RAM only, and do not count a miss (the caller looks
     * elsewhere, then asks again without the flag). */
    MPFS_CACHE_RAM_ONLY = 1u << 3,
};

ssize_t mpfs_cache_get_ex(struct mpfs_cache *c, const struct mpfs_block_key *k, void *buf,
                          size_t off, size_t len, unsigned flags);
/* Insert bytes [boff, boff+len) of b without copying; the cache takes its
 * own reference on b. */
void mpfs_cache_put_buf(struct mpfs_cache *c, const struct mpfs_block_key *k,
                        struct mpfs_cache_buf *b, size_t boff, size_t len, unsigned flags);

enum mpfs_cache_where {
    MPFS_CACHE_ABSENT = 0,
    MPFS_CACHE_IN_RAM = 1,
    MPFS_CACHE_ON_DISK = 2,
};
/* Where the block is, without touching it or counting a hit or miss. */
int mpfs_cache_contains(struct mpfs_cache *c, const struct mpfs_block_key *k);
/* Bring a disk-tier block into RAM.  0, -ENOENT, or -EIO on a bad block
 * (counted, deleted). */
int mpfs_cache_load(struct mpfs_cache *c, const struct mpfs_block_key *k);
/* Read a block from the disk tier only, without inserting it into RAM
 * (the reader holds it until used, then inserts it with
 * MPFS_CACHE_FROM_DISK).  0 with *out (one reference) and *len, -ENOENT,
 * or -EIO (bad block: counted, deleted).  Counts a (disk) hit. */
int mpfs_cache_read_disk(struct mpfs_cache *c, const struct mpfs_block_key *k,
                         struct mpfs_cache_buf **out, size_t *len);

size_t mpfs_cache_block_size(const struct mpfs_cache *c);

/* The 128-bit key hash (XXH3-128 over the whole key), for callers that
 * index blocks of their own (the reader's in-flight table). */
void mpfs_cache_key_hash(const struct mpfs_block_key *k, uint64_t out[2]);

/* Wait until every queued disk write is done (tests, clean shutdown). */
void mpfs_cache_flush(struct mpfs_cache *c);

/* Fault injection for tests: make disk writes and/or reads fail with the
 * given errno (0 = off), exactly as a real ENOSPC/EIO would. */
void mpfs_cache_set_disk_fault(struct mpfs_cache *c, int write_errno, int read_errno);

#endif

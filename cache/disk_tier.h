/*
 * disk_tier.h - the disk tier of the block cache (internal to cache/).
 *
 * One file per block under <dir>/v1/<hh>/<32 hex digits of the key hash>.blk
 * with a checksummed header (format in disk_tier.c and docs/CACHE.md), an
 * in-memory index rebuilt by scanning the directory in the background
 * (the writer thread, before its first write) after open, S3-FIFO
 * eviction in bytes, and one background writer behind a bounded queue.
 * Reads happen in the caller's thread and verify the data checksum.
 *
 * Failure behaviour: a disk problem never fails a read.  A bad block
 * (checksum, short file, EIO) is deleted and reported as a miss; a write
 * error (ENOSPC, EIO, EDQUOT, ...) is counted, logged at most once a
 * minute, and writes pause for 30 s, after which the budget is re-fitted
 * to the free space.
 */
#ifndef MPFS_CACHE_DISK_TIER_H
#define MPFS_CACHE_DISK_TIER_H

#include <stddef.h>
#include <stdint.h>

#include "cache/cache_internal.h"

struct mpfs_disk_tier;

struct mpfs_disk_stats {
    uint64_t bytes; /* on disk now (file sizes, rounded to 4 KiB) */
    uint64_t hits, writes, write_drops, errors, checksum_failures, evictions;
    uint64_t admission_skips; /* transients of a scan group, not written */
    uint64_t held_bytes;      /* in the policy's held queue */
    uint64_t direct_bytes;    /* block data written with O_DIRECT (no page-cache copy) */
};

/* Opens (creating 0700) and locks dir, scans it, starts the writer.
 * queue_bytes bounds the write queue (0: 128 MiB).
 * 0, or -errno with a message in err. */
int mpfs_disk_tier_open(const char *dir, uint64_t budget, size_t block_size,
                        uint64_t queue_bytes, struct mpfs_disk_tier **out, char *err,
                        size_t errlen);
/* Writes what is queued, stops the writer, frees.  NULL is a no-op. */
void mpfs_disk_tier_close(struct mpfs_disk_tier *d);

int mpfs_disk_tier_contains(struct mpfs_disk_tier *d, const struct mpfs_cache_hkey *h);
/* Read and verify a whole block into a new buffer (*out, one reference for
 * the caller).  0, -ENOENT (absent), or -EIO (bad block; deleted). */
int mpfs_disk_tier_read(struct mpfs_disk_tier *d, const struct mpfs_block_key *k,
                        const struct mpfs_cache_hkey *h, struct mpfs_cache_buf **out, size_t *len);
/* Queue bytes [off, off+len) of b for writing (takes its own reference);
 * dropped if the queue is full or the tier is backing off. */
void mpfs_disk_tier_submit(struct mpfs_disk_tier *d, const struct mpfs_block_key *k,
                           const struct mpfs_cache_hkey *h, struct mpfs_cache_buf *b, size_t off,
                           size_t len);
/* Drop one block (index entry and file) if present. */
void mpfs_disk_tier_drop(struct mpfs_disk_tier *d, uint64_t lo, uint64_t hi);
/* Drop every block whose file hash is file_hash (queued ones too). */
void mpfs_disk_tier_invalidate(struct mpfs_disk_tier *d, uint64_t file_hash);
void mpfs_disk_tier_flush(struct mpfs_disk_tier *d);
void mpfs_disk_tier_stats(struct mpfs_disk_tier *d, struct mpfs_disk_stats *out);
void mpfs_disk_tier_set_fault(struct mpfs_disk_tier *d, int write_errno, int read_errno);

#endif

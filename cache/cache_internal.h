/*
 * cache_internal.h - what the RAM tier (blockcache.c) and the disk tier
 * (disk_tier.c) share: hashed keys and the refcounted buffer.  Not for use
 * outside cache/.
 */
#ifndef MPFS_CACHE_INTERNAL_H
#define MPFS_CACHE_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/blockcache.h"

/* A block key reduced to hashes.  (lo, hi) is XXH3-128 over the whole
 * key, length-prefixed so ("ab","c") and ("a","bc") differ; file_hash is
 * XXH3-64 of the file identity alone, so every version of a file can be
 * found for invalidation.  group is the eviction policy's dataset group
 * (eviction.h): a hash of the identity's first path component ("train" of
 * "train/n01/x.jpg"), or of "" for files at the top of the mount, never 0. */
struct mpfs_cache_hkey {
    uint64_t lo, hi;
    uint64_t file_hash;
    uint64_t group;
};

void mpfs_cache_hkey_make(const struct mpfs_block_key *k, struct mpfs_cache_hkey *out);
uint64_t mpfs_cache_file_hash(const char *file, size_t file_len);

struct mpfs_cache_buf {
    atomic_uint refs;
    atomic_size_t dead; /* bytes of it whose cache entries were evicted */
    size_t len;
    unsigned char *data; /* separate allocation: see buffer.c */
    size_t map_len;      /* data is an mmap() of this many bytes, or 0: malloc()ed */
};

#endif

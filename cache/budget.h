/*
 * budget.h - one memory budget for the data path (-o memory_limit=).
 *
 * Splits a process-wide limit L into the bounds of everything the data
 * path allocates, so that the daemon's RSS stays near L however many files
 * are open and read at once (docs/CACHE.md, "Memory budget"):
 *
 *   fixed    per FUSE worker a read buffer (1 MiB) and a one-block demand
 *            fetch, + 16 MiB for the rest of the process (index,
 *            listings, libraries)
 *   ram      the RAM cache: min(cache_ram, (L - fixed) / 2)
 *   rest     L - fixed - ram, of which
 *     1/4    demand fetches beyond one block: max_request = one block +
 *            rest / 4 / threads (at most 8 MiB)
 *     1/2    readahead held until read (max_prefetch_memory)
 *     1/8    free large buffers kept for reuse (the buffer pool)
 *     1/8    blocks queued for the disk-tier writer
 *
 * Each share is also capped at the value mpfs used before the budget
 * existed (512 MiB readahead, 96 MiB pool, 128 MiB queue, 8 MiB requests),
 * so a large limit never makes mpfs use more than it did.
 *
 * Pure arithmetic, no locking.
 */
#ifndef MPFS_CACHE_BUDGET_H
#define MPFS_CACHE_BUDGET_H

#include <stddef.h>
#include <stdint.h>

struct mpfs_mem_budget {
    uint64_t ram_cache;       /* RAM tier bytes */
    uint64_t prefetch;        /* readahead bytes held until read */
    uint64_t buffer_pool;     /* free large buffers kept */
    uint64_t disk_queue;      /* bytes queued for the disk writer */
    size_t max_request;       /* largest single fetch (demand and readahead) */
    uint64_t fixed;           /* read buffers, one-block fetches, the rest of the process */
};

/* The default limit: a quarter of physical memory, at most 1 GiB, at
 * least 256 MiB. */
uint64_t mpfs_mem_budget_default(uint64_t physical);

/* 0, or -EINVAL with a message if limit is too small for threads FUSE
 * workers, blocks of block_size and a RAM cache of at least 4 blocks. */
int mpfs_mem_budget_split(uint64_t limit, uint64_t cache_ram, int threads, size_t block_size,
                          struct mpfs_mem_budget *out, char *err, size_t errlen);

#endif

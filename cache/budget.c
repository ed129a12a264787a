/*
 * budget.c - the memory budget split (see budget.h for the shares and
 * why).  Pure arithmetic.
 */
#include "cache/budget.h"

#include <errno.h>
#include <stdio.h>

#include "base/util.h"

#define MiB (1ull << 20)
#define READ_BUF MiB  /* one FUSE read buffer (fs/fuse_ll.c MAX_IO) */
#define PROCESS_REST (16 * MiB)

uint64_t mpfs_mem_budget_default(uint64_t physical)
{
    uint64_t l = physical / 4;
    return MPFS_MAX(256 * MiB, MPFS_MIN(l, 1024 * MiB));
}

int mpfs_mem_budget_split(uint64_t limit, uint64_t cache_ram, int threads, size_t block_size,
                          struct mpfs_mem_budget *out, char *err, size_t errlen)
{
    uint64_t nthreads = threads > 0 ? (uint64_t)threads : 1;
    /* every worker may hold a read buffer and a one-block demand fetch */
    uint64_t fixed = nthreads * (READ_BUF + block_size) + PROCESS_REST;
    uint64_t need = fixed + 8 * (uint64_t)block_size; /* RAM cache and readahead: 4 blocks each */
    if (limit < need) {
        snprintf(err, errlen,
                 "memory_limit %llu MiB is too small for %llu threads and %zu KiB blocks "
                 "(at least %llu MiB)",
                 (unsigned long long)(limit / MiB), (unsigned long long)nthreads,
                 block_size >> 10, (unsigned long long)((need + MiB - 1) / MiB));
        return -EINVAL;
    }
    uint64_t ram = MPFS_MIN(cache_ram, (limit - fixed) / 2);
    uint64_t rest = limit - fixed - ram;
    /* demand fetches grow past one block by a quarter of the rest */
    uint64_t extra = rest / 4 / nthreads / block_size * block_size;
    out->max_request = (size_t)MPFS_MIN(block_size + extra, 8 * MiB);
    out->prefetch = MPFS_MIN(rest / 2, 512 * MiB);
    out->buffer_pool = MPFS_MIN(rest / 8, 96 * MiB);
    out->disk_queue = MPFS_MIN(rest / 8, 128 * MiB);
    out->ram_cache = ram;
    out->fixed = fixed;
    return 0;
}

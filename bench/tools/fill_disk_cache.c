/*
 * fill_disk_cache.c - fill a cache directory's disk tier with N blocks, to
 * measure what a large disk cache costs a mount's start (issue 8: mount
 * time with a 10 GiB disk cache).  Not a test; run by
 * bench/bench_mount_time.sh.
 *
 *   fill_disk_cache CACHE_DIR GIB
 *
 * Writes GIB x 1024 blocks of 1 MiB (distinct keys, random bytes) into
 * CACHE_DIR/blocks through the real block cache, so the files have the
 * format a mount scans.  The disk writer drops blocks when its queue is
 * full; the tool waits for it to drain between batches (so none should
 * be) and exits 1 if any was dropped anyway.
 */
#include "cache/blockcache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (1u << 20)
#define BATCH 64

int main(int argc, char **argv)
{
    if (argc != 3 || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: fill_disk_cache CACHE_DIR GIB\n");
        return 2;
    }
    uint64_t blocks = (uint64_t)atoi(argv[2]) << 10;
    char dir[4096], err[256];
    snprintf(dir, sizeof(dir), "%s/blocks", argv[1]);
    struct mpfs_cache_config cc = {
        .block_size = BLOCK,
        .ram_bytes = 16u << 20,
        .disk_dir = dir,
        .disk_bytes = blocks * BLOCK + (256ull << 20),
        .disk_queue_bytes = (BATCH + 8ull) * BLOCK,
    };
    struct mpfs_cache *c = mpfs_cache_new(&cc, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "fill_disk_cache: %s\n", err);
        return 1;
    }
    char *data = malloc(BLOCK);
    if (!data)
        return 1;
    srand((unsigned)time(NULL));
    for (size_t i = 0; i < BLOCK; i++)
        data[i] = (char)rand();
    for (uint64_t b = 0; b < blocks; b++) {
        char file[64];
        int n = snprintf(file, sizeof(file), "fill/%llu", (unsigned long long)b);
        struct mpfs_block_key k = {.file = file, .file_len = (size_t)n, .version = "v1", .block = 0};
        memcpy(data, &b, sizeof(b)); /* distinct content per block */
        mpfs_cache_put(c, &k, data, BLOCK);
        if ((b + 1) % BATCH == 0) {
            /* let the writer drain the queue: every block must land */
            struct mpfs_cache_stats st;
            for (int tries = 0; tries < 6000; tries++) {
                mpfs_cache_get_stats(c, &st);
                if (st.disk_writes + st.disk_write_drops >= b + 1)
                    break;
                usleep(5000);
            }
        }
    }
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    mpfs_cache_free(c);
    free(data);
    printf("filled %s with %llu blocks (%llu dropped by the writer)\n", dir,
           (unsigned long long)st.disk_writes, (unsigned long long)st.disk_write_drops);
    return st.disk_write_drops ? 1 : 0;
}

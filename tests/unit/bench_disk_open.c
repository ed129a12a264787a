/*
 * bench_disk_open.c - how long opening the cache takes with a populated
 * disk tier, and how long the background index scan then runs (before
 * the scan ran inside mpfs_cache_new, so the mount waited for both).
 * Not a test: prints the times.  Fills <dir> with <n> blocks of <kib> KiB
 * first if it holds none.
 *
 *   bench_disk_open <dir> <n> [kib]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/blockcache.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s dir nblocks [kib]\n", argv[0]);
        return 2;
    }
    size_t n = strtoull(argv[2], NULL, 10);
    size_t blk = (argc > 3 ? strtoull(argv[3], NULL, 10) : 64) << 10;
    char err[256];
    struct mpfs_cache_config cfg = {
        .block_size = blk, .ram_bytes = 64 * blk, .disk_dir = argv[1],
        .disk_bytes = (uint64_t)n * (blk + 4096) * 2};
    struct mpfs_cache *c = mpfs_cache_new(&cfg, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    mpfs_cache_flush(c);
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    if (st.disk_bytes == 0) {
        unsigned char *buf = calloc(1, blk);
        for (size_t i = 0; i < n; i++) {
            struct mpfs_block_key k = {"bench/file", 10, "v1", i};
            memcpy(buf, &i, sizeof(i));
            mpfs_cache_put(c, &k, buf, blk);
            if (i % 128 == 127) {
                mpfs_cache_flush(c);
            }
        }
        free(buf);
    }
    mpfs_cache_free(c);

    double t0 = now();
    c = mpfs_cache_new(&cfg, err, sizeof(err));
    double t1 = now();
    mpfs_cache_flush(c);
    double t2 = now();
    mpfs_cache_get_stats(c, &st);
    printf("disk tier %llu MiB: mpfs_cache_new %.1f ms, background index scan %.1f ms\n",
           (unsigned long long)(st.disk_bytes >> 20), (t1 - t0) * 1e3, (t2 - t1) * 1e3);
    mpfs_cache_free(c);
    return 0;
}

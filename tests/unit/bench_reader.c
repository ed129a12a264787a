/*
 * bench_reader.c - throughput of the reader's data path (not a registered
 * test).  Streams an in-memory "file" sequentially through
 * mpfs_reader_read() in fixed-size requests, with a fetch that memcpy's,
 * so the number is the overhead of the cache path itself (detector,
 * in-flight table, cache inserts/evictions, the one copy to the caller).
 *
 * Optionally the fetch simulates a network stream: a fixed latency per
 * request plus a per-connection bandwidth, to show how much parallel
 * readahead recovers compared with one GET of the whole file under the
 * same model.
 *
 *   bench_reader [--size MiB] [--req KiB] [--ram MiB] [--passes N]
 *                [--latency-us US] [--conn-mbps MB/s] [--threads N]
 *                [--random-kib KiB]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/blockcache.h"
#include "cache/reader.h"

struct src {
    unsigned char *data;
    uint64_t size;
    long latency_us;
    double conn_bytes_per_us; /* 0 = memcpy speed */
    atomic_uint_fast64_t calls, bytes;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_us(double us)
{
    if (us <= 0) {
        return;
    }
    struct timespec ts = {(time_t)(us / 1e6),
                          (long)((us - (double)(time_t)(us / 1e6) * 1e6) * 1e3)};
    nanosleep(&ts, NULL);
}

static ssize_t fetch(void *ctx, void *buf, size_t len, uint64_t off)
{
    struct src *s = ctx;
    double t0 = now_s();
    if (off >= s->size) {
        return 0;
    }
    if (off + len > s->size) {
        len = (size_t)(s->size - off);
    }
    memcpy(buf, s->data + off, len);
    atomic_fetch_add(&s->calls, 1);
    atomic_fetch_add(&s->bytes, len);
    if (s->latency_us || s->conn_bytes_per_us > 0) {
        double want = (double)s->latency_us +
                      (s->conn_bytes_per_us > 0 ? (double)len / s->conn_bytes_per_us : 0);
        sleep_us(want - (now_s() - t0) * 1e6);
    }
    return (ssize_t)len;
}

int main(int argc, char **argv)
{
    uint64_t size_mib = 512, req_kib = 1024, ram_mib = 256, random_kib = 0;
    int passes = 2, threads = 4;
    struct src s = {0};
    double conn_mbps = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--size")) {
            size_mib = strtoull(argv[i + 1], NULL, 0);
        } else if (!strcmp(argv[i], "--req")) {
            req_kib = strtoull(argv[i + 1], NULL, 0);
        } else if (!strcmp(argv[i], "--ram")) {
            ram_mib = strtoull(argv[i + 1], NULL, 0);
        } else if (!strcmp(argv[i], "--passes")) {
            passes = atoi(argv[i + 1]);
        } else if (!strcmp(argv[i], "--latency-us")) {
            s.latency_us = atol(argv[i + 1]);
        } else if (!strcmp(argv[i], "--conn-mbps")) {
            conn_mbps = atof(argv[i + 1]);
        } else if (!strcmp(argv[i], "--threads")) {
            threads = atoi(argv[i + 1]);
        } else if (!strcmp(argv[i], "--random-kib")) {
            random_kib = strtoull(argv[i + 1], NULL, 0);
        } else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    s.size = size_mib << 20;
    s.conn_bytes_per_us = conn_mbps; /* MB/s == bytes/us */
    s.data = malloc(s.size);
    for (uint64_t i = 0; i < s.size; i += 8) {
        uint64_t v = i * 0x9E3779B97F4A7C15ull;
        memcpy(s.data + i, &v, 8);
    }
    size_t req = (size_t)(req_kib << 10);
    unsigned char *buf = malloc(req);

    /* baseline: memcpy of the same requests */
    double t0 = now_s();
    for (uint64_t off = 0; off < s.size; off += req) {
        memcpy(buf, s.data + off, req);
    }
    double base = now_s() - t0;
    printf("memcpy baseline: %.2f GB/s\n", (double)s.size / base / 1e9);
    if (s.latency_us || conn_mbps > 0) {
        double get =
            (double)s.latency_us / 1e6 + (conn_mbps > 0 ? (double)s.size / (conn_mbps * 1e6) : 0);
        printf("model of one GET of the whole file: %.2f GB/s\n", (double)s.size / get / 1e9);
    }

    char err[256];
    struct mpfs_cache_config cc = {.ram_bytes = (size_t)(ram_mib << 20)};
    struct mpfs_cache *c = mpfs_cache_new(&cc, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct mpfs_reader_config rc = {.prefetch_threads = threads};
    struct mpfs_prefetcher *p = mpfs_prefetcher_new(c, &rc);

    for (int pass = 0; pass < passes; pass++) {
        struct mpfs_reader *r = mpfs_reader_new(p, "bench:file", "v1", s.size, fetch, &s);
        uint64_t calls0 = atomic_load(&s.calls);
        t0 = now_s();
        uint64_t total = 0;
        if (random_kib) {
            size_t rl = (size_t)(random_kib << 10);
            uint64_t x = 42, n = s.size / rl;
            for (uint64_t i = 0; i < n; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                ssize_t got = mpfs_reader_read(r, buf, rl, (x >> 16) % (s.size - rl));
                if (got != (ssize_t)rl) {
                    fprintf(stderr, "short read\n");
                    return 1;
                }
                total += rl;
            }
        } else {
            for (uint64_t off = 0; off < s.size; off += req) {
                ssize_t got = mpfs_reader_read(r, buf, req, off);
                if (got <= 0 || memcmp(buf, s.data + off, (size_t)got) != 0) {
                    fprintf(stderr, "bad read at %llu: %zd\n", (unsigned long long)off, got);
                    return 1;
                }
                total += (uint64_t)got;
            }
        }
        double dt = now_s() - t0;
        struct mpfs_reader_stats st;
        mpfs_reader_get_stats(r, &st);
        printf("pass %d: %.2f GB/s (%llu MiB in %.3f s, %llu fetch calls, %llu prefetched "
               "units, %llu from cache MiB)\n",
               pass + 1, (double)total / dt / 1e9, (unsigned long long)(total >> 20), dt,
               (unsigned long long)(atomic_load(&s.calls) - calls0),
               (unsigned long long)st.prefetch_issued,
               (unsigned long long)(st.bytes_from_cache >> 20));
        mpfs_reader_free(r);
    }
    mpfs_prefetcher_free(p);
    mpfs_cache_free(c);
    free(buf);
    free(s.data);
    return 0;
}

/*
 * stats.c - `mpfs stats MOUNTPOINT [--watch] [--interval S] [--count N]
 * [--raw]`: the daemon's counters (fs/stats.c, over the control socket) as
 * a table, or with --watch refreshed every interval as per-second rates,
 * as `juicefs stats` does.  --raw prints the "name value" lines for scripts.
 */
#include "tools/stats.h"

#include "base/util.h"
#include "tools/ctl.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct kv {
    char **name;
    uint64_t *val;
    size_t n;
};

static void kv_free(struct kv *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->name[i]);
    free(k->name);
    free(k->val);
    memset(k, 0, sizeof(*k));
}

static void kv_parse(struct kv *k, char *text)
{
    size_t cap = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *sp = strrchr(l, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        if (k->n == cap) {
            cap = cap ? cap * 2 : 128;
            k->name = mpfs_xrealloc(k->name, cap * sizeof(*k->name));
            k->val = mpfs_xrealloc(k->val, cap * sizeof(*k->val));
        }
        k->name[k->n] = mpfs_xstrdup(l);
        k->val[k->n] = strtoull(sp + 1, NULL, 10);
        k->n++;
    }
}

static uint64_t get(const struct kv *k, const char *fmt, const char *a, const char *b)
{
    char name[256];
    snprintf(name, sizeof(name), fmt, a, b);
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->name[i], name) == 0)
            return k->val[i];
    return 0;
}


/* Latency quantile q of FUSE op from its histogram, in ms (bucket upper
 * bound: the table says "<="). */
static double quantile_ms(const struct kv *k, const char *op, double q)
{
    uint64_t total = get(k, "fuse.%s.count", op, "");
    if (!total)
        return 0;
    uint64_t seen = 0;
    for (int b = 0; b < 19; b++) {
        char bound[32];
        snprintf(bound, sizeof(bound), "%llu", 16ull << b);
        seen += get(k, "fuse.%s.le_us.%s", op, bound);
        if ((double)seen >= q * (double)total)
            return (double)(16ull << b) / 1000.0;
    }
    return (double)(16ull << 19) / 1000.0;
}

static const char *const fops[] = {"lookup", "getattr", "setattr", "readlink", "mknod", "mkdir",
                                   "unlink", "rmdir", "symlink", "rename", "link", "open",
                                   "create", "read", "write", "flush", "release", "fsync",
                                   "opendir", "readdir", "releasedir", "statfs", "xattr"};
static const char *const bops[] = {"stat", "list", "read", "put", "pwrite", "remove", "rename",
                                   "mkdir", "rmdir", "link", "setattr", "xattr", "other"};
static const char *const sides[] = {"s3", "nfs"};

static void table(const struct kv *k)
{
    char a[32], b[32];
    printf("%-12s %10s %7s %9s %9s %9s\n", "FUSE op", "count", "errors", "avg ms", "p50 <=ms",
           "p99 <=ms");
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(fops); i++) {
        uint64_t n = get(k, "fuse.%s.count", fops[i], "");
        if (!n)
            continue;
        printf("%-12s %10llu %7llu %9.3f %9.3f %9.3f\n", fops[i], (unsigned long long)n,
               (unsigned long long)get(k, "fuse.%s.errors", fops[i], ""),
               (double)get(k, "fuse.%s.ns", fops[i], "") / (double)n / 1e6,
               quantile_ms(k, fops[i], 0.5), quantile_ms(k, fops[i], 0.99));
    }
    mpfs_fmt_bytes(a, sizeof(a), (double)get(k, "fuse.bytes_read", "", ""));
    mpfs_fmt_bytes(b, sizeof(b), (double)get(k, "fuse.bytes_written", "", ""));
    printf("FUSE bytes   read %s, written %s\n\n", a, b);

    printf("%-12s %10s %7s %9s\n", "backend", "requests", "errors", "avg ms");
    for (size_t s = 0; s < MPFS_ARRAY_SIZE(sides); s++) {
        for (size_t i = 0; i < MPFS_ARRAY_SIZE(bops); i++) {
            uint64_t n = get(k, "backend.%s.%s.count", sides[s], bops[i]);
            if (!n)
                continue;
            char name[32];
            snprintf(name, sizeof(name), "%s %s", sides[s], bops[i]);
            printf("%-12s %10llu %7llu %9.3f\n", name, (unsigned long long)n,
                   (unsigned long long)get(k, "backend.%s.%s.errors", sides[s], bops[i]),
                   (double)get(k, "backend.%s.%s.ns", sides[s], bops[i]) / (double)n / 1e6);
        }
        uint64_t br = get(k, "backend.%s.bytes_read", sides[s], "");
        uint64_t bw = get(k, "backend.%s.bytes_written", sides[s], "");
        if (br || bw) {
            mpfs_fmt_bytes(a, sizeof(a), (double)br);
            mpfs_fmt_bytes(b, sizeof(b), (double)bw);
            printf("%-12s read %s, written %s\n", sides[s], a, b);
        }
    }

    uint64_t hits = get(k, "cache.hits", "", ""), miss = get(k, "cache.misses", "", "");
    printf("\ncache        hits %llu (ram %llu, disk %llu), misses %llu, hit rate %.1f%%\n",
           (unsigned long long)hits, (unsigned long long)get(k, "cache.ram_hits", "", ""),
           (unsigned long long)get(k, "cache.disk_hits", "", ""), (unsigned long long)miss,
           hits + miss ? 100.0 * (double)hits / (double)(hits + miss) : 0.0);
    mpfs_fmt_bytes(a, sizeof(a), (double)get(k, "cache.ram_bytes", "", ""));
    mpfs_fmt_bytes(b, sizeof(b), (double)get(k, "cache.ram_budget", "", ""));
    printf("cache ram    %s of %s\n", a, b);
    mpfs_fmt_bytes(a, sizeof(a), (double)get(k, "cache.disk_bytes", "", ""));
    mpfs_fmt_bytes(b, sizeof(b), (double)get(k, "cache.disk_budget", "", ""));
    printf("cache disk   %s of %s\n", a, b);
    mpfs_fmt_bytes(a, sizeof(a), (double)get(k, "staging.bytes", "", ""));
    mpfs_fmt_bytes(b, sizeof(b), (double)get(k, "staging.budget", "", ""));
    printf("staging      %s of %s (written, not committed)\n", a, b);
    uint64_t iss = get(k, "readahead.units_issued", "", "");
    printf("readahead    %llu units issued, %llu used, %llu wasted (closed files)\n",
           (unsigned long long)iss, (unsigned long long)get(k, "readahead.units_used", "", ""),
           (unsigned long long)get(k, "readahead.units_wasted", "", ""));
    printf("files        %llu reading now; closed: %llu sequential, %llu random\n",
           (unsigned long long)get(k, "files.reading", "", ""),
           (unsigned long long)get(k, "files.closed_sequential", "", ""),
           (unsigned long long)get(k, "files.closed_random", "", ""));
    printf("index        %llu gets, %llu hits, %llu puts\n",
           (unsigned long long)get(k, "index.gets", "", ""),
           (unsigned long long)get(k, "index.hits", "", ""),
           (unsigned long long)get(k, "index.puts", "", ""));
    mpfs_fmt_bytes(a, sizeof(a), (double)get(k, "memory.rss_bytes", "", ""));
    printf("inodes       %llu, invalidations %llu, memory (RSS) %s\n",
           (unsigned long long)get(k, "inodes", "", ""),
           (unsigned long long)get(k, "invalidations", "", ""), a);
    printf("reconciler   %llu directories watched; %llu listings, %llu getattrs, %llu failed\n",
           (unsigned long long)get(k, "reconciler.watched", "", ""),
           (unsigned long long)get(k, "reconciler.lists", "", ""),
           (unsigned long long)get(k, "reconciler.getattrs", "", ""),
           (unsigned long long)get(k, "reconciler.errors", "", ""));
}

static uint64_t delta(const struct kv *now, const struct kv *was, const char *fmt, const char *a,
                      const char *b)
{
    uint64_t x = get(now, fmt, a, b), y = get(was, fmt, a, b);
    return x > y ? x - y : 0;
}

static void rates(const struct kv *now, const struct kv *was, double secs, int header)
{
    char rb[32], wb[32], s3[32], nfs[32];
    if (header)
        printf("%8s %8s %8s %8s %11s %11s %11s %11s %6s\n", "lookup/s", "getattr/s", "open/s",
               "read/s", "read B/s", "write B/s", "s3 in B/s", "nfs in B/s", "hit%");
    uint64_t h = delta(now, was, "cache.hits", "", ""), m = delta(now, was, "cache.misses", "", "");
    mpfs_fmt_bytes(rb, sizeof(rb), (double)delta(now, was, "fuse.bytes_read", "", "") / secs);
    mpfs_fmt_bytes(wb, sizeof(wb), (double)delta(now, was, "fuse.bytes_written", "", "") / secs);
    mpfs_fmt_bytes(s3, sizeof(s3), (double)delta(now, was, "backend.%s.bytes_read", "s3", "") / secs);
    mpfs_fmt_bytes(nfs, sizeof(nfs), (double)delta(now, was, "backend.%s.bytes_read", "nfs", "") / secs);
    printf("%8.0f %8.0f %8.0f %8.0f %9s/s %9s/s %9s/s %9s/s %5.1f%%\n",
           (double)delta(now, was, "fuse.%s.count", "lookup", "") / secs,
           (double)delta(now, was, "fuse.%s.count", "getattr", "") / secs,
           (double)delta(now, was, "fuse.%s.count", "open", "") / secs,
           (double)delta(now, was, "fuse.%s.count", "read", "") / secs, rb, wb, s3, nfs,
           h + m ? 100.0 * (double)h / (double)(h + m) : 0.0);
    fflush(stdout);
}

static int fetch(const char *mp, struct kv *k, char **raw)
{
    char err[1024];
    char *out = NULL;
    int rc = mpfs_ctl_request(mp, "stats", &out, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "mpfs stats: %s\n", err);
        free(out);
        return rc;
    }
    if (raw)
        *raw = mpfs_xstrdup(out);
    kv_parse(k, out);
    free(out);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: mpfs stats MOUNTPOINT [--watch] [--interval SECONDS] [--count N] "
                    "[--raw]\n");
    return 2;
}

int mpfs_stats_main(int argc, char **argv)
{
    const char *mp = NULL;
    int watch = 0, raw = 0;
    long count = -1;
    double interval = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--watch") || !strcmp(argv[i], "-w"))
            watch = 1;
        else if (!strcmp(argv[i], "--raw"))
            raw = 1;
        else if (!strcmp(argv[i], "--interval") && i + 1 < argc)
            interval = atof(argv[++i]);
        else if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count = atol(argv[++i]);
        else if (argv[i][0] != '-' && !mp)
            mp = argv[i];
        else
            return usage();
    }
    if (!mp || interval <= 0)
        return usage();
    struct kv was = {0}, now = {0};
    char *text = NULL;
    if (fetch(mp, &was, raw ? &text : NULL) < 0)
        return 1;
    if (!watch) {
        if (raw)
            printf("%s\n", text);
        else
            table(&was);
        free(text);
        kv_free(&was);
        return 0;
    }
    free(text);
    int64_t t_was = mpfs_now_ns();
    for (long n = 0; count < 0 || n < count; n++) {
        struct timespec ts = {.tv_sec = (time_t)interval,
                              .tv_nsec = (long)((interval - (double)(time_t)interval) * 1e9)};
        nanosleep(&ts, NULL);
        if (fetch(mp, &now, NULL) < 0) {
            kv_free(&was);
            return 1;
        }
        int64_t t_now = mpfs_now_ns();
        rates(&now, &was, (double)(t_now - t_was) / 1e9, n % 20 == 0);
        kv_free(&was);
        was = now;
        memset(&now, 0, sizeof(now));
        t_was = t_now;
    }
    kv_free(&was);
    return 0;
}

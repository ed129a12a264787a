/*
 * bench_index.c - how fast the metadata index is on this machine.
 *
 *   bench_index [-d DIR] [-n ENTRIES] [-s DIRSIZE]
 *
 * Defaults: 100,000 entries in directories of 10,000, in a scratch
 * directory under $TMPDIR that is removed afterwards (with -d, DIR is
 * used and kept).  Phases, each timed with the monotonic clock:
 *   put       ENTRIES single puts (as lookups of new names would do)
 *   batch     one listing replacement of DIRSIZE entries (a readdir
 *             refresh), new and then again over the same names
 *   reopen    close (flush) and open again, as a remount does
 *   list      one DIRSIZE directory, the first time after reopen (cold
 *             block cache) and then 10 more times (min and median)
 *   get       ENTRIES point gets of random existing names, then of absent
 *             names (bloom filters answer those)
 *   where     10,000 reverse lookups of random inodes
 *   alloc     1,000,000 inode numbers
 * Not a test: it asserts nothing beyond the results being right.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "index/index.h"
#include "test_index_util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_index: %s: %s\n", what, strerror(-rc));
    exit(1);
}

static double ms_since(int64_t t0)
{
    return (double)(mpfs_now_ns() - t0) / 1e6;
}

static void name_of(char *buf, size_t len, uint64_t i)
{
    snprintf(buf, len, "train_%08llu.jpg", (unsigned long long)i);
}

struct list_count {
    size_t n;
    uint64_t size_sum;
};

static int count_cb(void *arg, const char *name,
                    const struct mpfs_index_entry *e)
{
    struct list_count *c = arg;
    (void)name;
    c->n++;
    c->size_sum += e->size;
    return 0;
}

static double time_list(struct mpfs_index *idx, uint64_t dir, size_t want)
{
    struct list_count c = {0};
    int64_t t0 = mpfs_now_ns();
    int rc = mpfs_index_list(idx, dir, count_cb, &c);
    double ms = ms_since(t0);
    if (rc != 0) {
        die("list", rc);
    }
    if (c.n != want) {
        fprintf(stderr, "bench_index: listed %zu entries, want %zu\n", c.n,
                want);
        exit(1);
    }
    return ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *phase, double ms, uint64_t ops)
{
    printf("%-34s %10.1f ms  %9.2f us/op  %10.0f ops/s\n", phase, ms,
           ms * 1000.0 / (double)ops, (double)ops / (ms / 1000.0));
}

int main(int argc, char **argv)
{
    const char *dir_arg = NULL;
    uint64_t n = 100000, dirsize = 10000;
    int opt;

    while ((opt = getopt(argc, argv, "d:n:s:")) != -1) {
        switch (opt) {
        case 'd':
            dir_arg = optarg;
            break;
        case 'n':
            n = strtoull(optarg, NULL, 10);
            break;
        case 's':
            dirsize = strtoull(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: %s [-d DIR] [-n ENTRIES] [-s DIRSIZE]\n",
                    argv[0]);
            return 2;
        }
    }
    if (dirsize == 0 || n < dirsize) {
        fprintf(stderr, "bench_index: need ENTRIES >= DIRSIZE > 0\n");
        return 2;
    }
    char *dir = dir_arg ? mpfs_xstrdup(dir_arg) : tix_mkdtemp();
    struct mpfs_index *idx;
    char err[512], name[64];
    int rebuilt, rc;
    const uint64_t dir0 = 1000, ino0 = 1000000;
    uint64_t ndirs = n / dirsize;
    n = ndirs * dirsize;

    printf("index in %s: %llu entries, %llu directories of %llu\n", dir,
           (unsigned long long)n, (unsigned long long)ndirs,
           (unsigned long long)dirsize);
    rc = mpfs_index_open(dir, &idx, &rebuilt, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "bench_index: open: %s\n", err);
        return 1;
    }

    /* put */
    int64_t t0 = mpfs_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        struct mpfs_index_entry e = tix_entry(ino0 + i, i, 0);
        name_of(name, sizeof(name), i);
        rc = mpfs_index_put(idx, dir0 + i / dirsize, name, &e);
        if (rc != 0) {
            die("put", rc);
        }
    }
    report("put (single)", ms_since(t0), n);

    /* batch: a readdir refresh of a new directory, then of the same one */
    const uint64_t bdir = dir0 + ndirs + 1;
    for (int round = 0; round < 2; round++) {
        t0 = mpfs_now_ns();
        struct mpfs_index_batch *b = mpfs_index_batch_new(idx);
        for (uint64_t i = 0; i < dirsize; i++) {
            struct mpfs_index_entry e = tix_entry(ino0 + n + i, i + round, 0);
            name_of(name, sizeof(name), i);
            mpfs_index_batch_put(b, bdir, name, &e);
        }
        mpfs_index_batch_dir_put(b, bdir, &(struct mpfs_index_dir){1, dirsize});
        rc = mpfs_index_batch_commit(b);
        if (rc != 0) {
            die("batch commit", rc);
        }
        report(round == 0 ? "batch replace (new dir)"
                          : "batch replace (same names again)",
               ms_since(t0), dirsize);
    }

    /* reopen */
    t0 = mpfs_now_ns();
    mpfs_index_close(idx);
    double close_ms = ms_since(t0);
    t0 = mpfs_now_ns();
    rc = mpfs_index_open(dir, &idx, &rebuilt, err, sizeof(err));
    if (rc != 0 || rebuilt) {
        fprintf(stderr, "bench_index: reopen: %d %s\n", rc, err);
        return 1;
    }
    printf("%-34s %10.1f ms\n", "close (flush)", close_ms);
    printf("%-34s %10.1f ms\n", "open (remount)", ms_since(t0));

    /* list */
    double cold = time_list(idx, dir0 + ndirs / 2, dirsize);
    report("list one dir, cold", cold, dirsize);
    double warm[10];
    for (int i = 0; i < 10; i++) {
        warm[i] = time_list(idx, dir0 + ndirs / 2, dirsize);
    }
    qsort(warm, 10, sizeof(warm[0]), cmp_double);
    report("list one dir, warm (min)", warm[0], dirsize);
    report("list one dir, warm (median)", warm[5], dirsize);

    /* get */
    struct mpfs_index_entry out;
    t0 = mpfs_now_ns();
    for (uint64_t k = 0; k < n; k++) {
        uint64_t i = next_rand() % n;
        name_of(name, sizeof(name), i);
        rc = mpfs_index_get(idx, dir0 + i / dirsize, name, &out);
        if (rc != 0 || out.ino != ino0 + i) {
            die("get", rc != 0 ? rc : -EIO);
        }
    }
    report("get (hit, random)", ms_since(t0), n);
    t0 = mpfs_now_ns();
    for (uint64_t k = 0; k < n; k++) {
        uint64_t i = next_rand() % n;
        snprintf(name, sizeof(name), "absent_%08llu", (unsigned long long)i);
        rc = mpfs_index_get(idx, dir0 + i / dirsize, name, &out);
        if (rc != -ENOENT) {
            die("get absent", rc != 0 ? rc : -EIO);
        }
    }
    report("get (miss, random)", ms_since(t0), n);

    /* where */
    t0 = mpfs_now_ns();
    for (int k = 0; k < 10000; k++) {
        uint64_t i = next_rand() % n, parent;
        char got[MPFS_INDEX_NAME_MAX + 1];
        rc = mpfs_index_where(idx, ino0 + i, &parent, got, sizeof(got));
        name_of(name, sizeof(name), i);
        if (rc != 0 || parent != dir0 + i / dirsize || strcmp(got, name) != 0) {
            die("where", rc != 0 ? rc : -EIO);
        }
    }
    report("where (reverse, random)", ms_since(t0), 10000);

    /* alloc */
    uint64_t prev = 0;
    t0 = mpfs_now_ns();
    for (int k = 0; k < 1000000; k++) {
        uint64_t ino = mpfs_index_alloc_ino(idx);
        if (ino <= prev) {
            die("alloc", -EIO);
        }
        prev = ino;
    }
    report("alloc_ino", ms_since(t0), 1000000);

    struct mpfs_index_stats st;
    mpfs_index_get_stats(idx, &st);
    printf("stats since reopen: gets %llu hits %llu puts %llu\n",
           (unsigned long long)st.gets, (unsigned long long)st.hits,
           (unsigned long long)st.puts);
    mpfs_index_close(idx);

    fflush(stdout);
    char *cmd = mpfs_xasprintf("du -sh %s/db", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_index: du failed\n");
    }
    free(cmd);
    if (dir_arg == NULL) {
        tix_rm_rf(dir);
    }
    free(dir);
    return 0;
}

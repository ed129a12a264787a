/*
 * nfs_bench.c - read throughput of the NFS backend against libnfs' own
 * nfs-cat, in the same run (not a ctest test; run by hand inside the
 * stack's network namespace):
 *
 *   nfs_bench URL [--file NAME] [--size MIB] [--threads N] [--rounds R]
 *             [--write] [--verify] [--no-cat]
 *
 * URL is a directory (nfs://host/export[/dir]); the file NAME (default
 * "mpfs-bench-<size>m.bin") is written there with the backend's put if it
 * is missing, has another size, or --write is given.  Then, R rounds each:
 *   seq     one thread, 1 MiB reads from 0 to the end (backend read)
 *   seq8    one thread, 8 MiB reads: one call = 8 READs in flight on one
 *           connection (nfs_read.c pipelining)
 *   par     N threads (pool of N), 1 MiB reads handed out in order
 *   cat     nfs-cat URL/NAME > /dev/null (libnfs, one context, sequential)
 * and the best and median of each, in MiB/s.  --verify checks every byte
 * of the seq pass against the written pattern (only meaningful for files
 * this tool wrote).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/nfs/nfs.h"
#include "base/log.h"
#include "base/util.h"

#define MIB (1024 * 1024)
#define MAX_ROUNDS 16

static struct mpfs_backend *g_b;
static const char *g_name;
static uint64_t g_size;
static atomic_uint_fast64_t g_next;
static atomic_int g_errors;

static void pattern(char *buf, size_t len, uint64_t off)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t x = off + i;
        buf[i] = (char)((x * 2654435761u + (x >> 13)) & 0xff);
    }
}

static double now_s(void)
{
    return (double)mpfs_now_ns() / 1e9;
}

static int write_file(void)
{
    char tmpl[] = "/tmp/mpfs-bench-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        perror("mkstemp");
        return -1;
    }
    unlink(tmpl);
    char *buf = mpfs_xmalloc(MIB);
    for (uint64_t off = 0; off < g_size; off += MIB) {
        size_t n = (size_t)MPFS_MIN((uint64_t)MIB, g_size - off);
        pattern(buf, n, off);
        if (mpfs_write_all(fd, buf, n, (off_t)off) != 0) {
            perror("write");
            close(fd);
            free(buf);
            return -1;
        }
    }
    free(buf);
    double t0 = now_s();
    struct mpfs_attr out;
    int rc = mpfs_backend_put(g_b, g_name, fd, g_size, NULL, &out);
    double s = now_s() - t0;
    close(fd);
    if (rc != 0) {
        fprintf(stderr, "put %s: %s\n", g_name, strerror(-rc));
        return -1;
    }
    printf("put   %8.1f MiB/s  (%llu MiB in %.2f s)\n", (double)g_size / MIB / s,
           (unsigned long long)(g_size / MIB), s);
    return 0;
}

static double run_seq(int verify, size_t req)
{
    char *buf = mpfs_xmalloc(req);
    char *want = verify ? mpfs_xmalloc(req) : NULL;
    double t0 = now_s();
    for (uint64_t off = 0; off < g_size; off += req) {
        ssize_t n = mpfs_backend_read(g_b, g_name, NULL, buf, req, off);
        size_t expect = (size_t)MPFS_MIN((uint64_t)req, g_size - off);
        if (n != (ssize_t)expect) {
            fprintf(stderr, "seq read at %llu: %zd\n", (unsigned long long)off, n);
            atomic_fetch_add(&g_errors, 1);
            break;
        }
        if (want) {
            pattern(want, expect, off);
            if (memcmp(buf, want, expect) != 0) {
                fprintf(stderr, "seq read at %llu: wrong bytes\n",
                        (unsigned long long)off);
                atomic_fetch_add(&g_errors, 1);
                break;
            }
        }
    }
    double s = now_s() - t0;
    free(buf);
    free(want);
    return (double)g_size / MIB / s;
}

static void *par_worker(void *arg)
{
    char *buf = mpfs_xmalloc(MIB);
    for (;;) {
        uint64_t off = atomic_fetch_add(&g_next, MIB);
        if (off >= g_size) {
            break;
        }
        size_t expect = (size_t)MPFS_MIN((uint64_t)MIB, g_size - off);
        ssize_t n = mpfs_backend_read(g_b, g_name, NULL, buf, MIB, off);
        if (n != (ssize_t)expect) {
            fprintf(stderr, "par read at %llu: %zd\n", (unsigned long long)off, n);
            atomic_fetch_add(&g_errors, 1);
        }
    }
    free(buf);
    return NULL;
}

static double run_par(int threads)
{
    pthread_t th[64];
    atomic_store(&g_next, 0);
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        pthread_create(&th[i], NULL, par_worker, NULL);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
    }
    return (double)g_size / MIB / (now_s() - t0);
}

static double run_cat(const char *url)
{
    char *cmd = mpfs_xasprintf("nfs-cat '%s/%s' > /dev/null", url, g_name);
    double t0 = now_s();
    int st = system(cmd);
    double s = now_s() - t0;
    free(cmd);
    if (st != 0) {
        fprintf(stderr, "nfs-cat failed (status %d)\n", st);
        return 0;
    }
    return (double)g_size / MIB / s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n, double ref)
{
    double sorted[MAX_ROUNDS];
    memcpy(sorted, v, sizeof(double) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(double), cmp_double);
    double best = sorted[n - 1], median = sorted[n / 2];
    printf("%-5s best %8.1f MiB/s  median %8.1f MiB/s", what, best, median);
    if (ref > 0) {
        printf("  (%.2fx nfs-cat median)", median / ref);
    }
    printf("   rounds:");
    for (int i = 0; i < n; i++) {
        printf(" %.0f", v[i]);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: nfs_bench URL [--file NAME] [--size MIB] [--threads N] "
                        "[--rounds R] [--write] [--verify] [--no-cat]\n");
        return 2;
    }
    const char *url = argv[1];
    int threads = 4, rounds = 3, force_write = 0, verify = 0, cat = 1;
    unsigned long size_mib = 512;
    char defname[64];
    g_name = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--file") == 0 && i + 1 < argc) {
            g_name = argv[++i];
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            size_mib = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--write") == 0) {
            force_write = 1;
        } else if (strcmp(argv[i], "--verify") == 0) {
            verify = 1;
        } else if (strcmp(argv[i], "--no-cat") == 0) {
            cat = 0;
        } else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || rounds < 1 || rounds > MAX_ROUNDS ||
        size_mib == 0) {
        fprintf(stderr, "bad --threads/--rounds/--size\n");
        return 2;
    }
    snprintf(defname, sizeof(defname), "mpfs-bench-%lum.bin", size_mib);
    if (!g_name) {
        g_name = defname;
    }
    g_size = (uint64_t)size_mib * MIB;
    const char *log = getenv("MPFS_LOG");
    mpfs_log_set_level_name(log ? log : "info");

    struct mpfs_nfs_config cfg;
    mpfs_nfs_config_defaults(&cfg);
    cfg.url = url;
    cfg.pool_size = threads;
    cfg.probe = 0; /* reading only: no need to measure write caps */
    char err[512];
    int rc = mpfs_nfs_open(&cfg, &g_b, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "open %s: %s\n", url, err);
        return 1;
    }
    struct mpfs_attr st;
    rc = mpfs_backend_stat(g_b, g_name, &st);
    if (force_write || rc != 0 || st.size != g_size) {
        if (write_file() != 0) {
            mpfs_backend_free(g_b);
            return 1;
        }
    }
    /* An object view (RGW) shows an NFS write only after it commits it:
     * wait until the last byte reads back (-EAGAIN until then). */
    char probe[16];
    double w0 = now_s();
    for (;;) {
        ssize_t n = mpfs_backend_read(g_b, g_name, NULL, probe, 1, g_size - 1);
        if (n == 1) {
            break;
        }
        if (now_s() - w0 > 300) {
            fprintf(stderr, "%s: not readable after 300 s (%zd)\n", g_name, n);
            mpfs_backend_free(g_b);
            return 1;
        }
        sleep(2);
    }
    if (now_s() - w0 > 1) {
        printf("wait  %.0f s until the file was readable\n", now_s() - w0);
    }
    printf("file  %s/%s  %llu MiB, io_size %zu, %d threads, %d rounds\n", url, g_name,
           (unsigned long long)(g_size / MIB), g_b->io_size, threads, rounds);

    double seq[MAX_ROUNDS], seq8[MAX_ROUNDS], par[MAX_ROUNDS], ref[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        ref[r] = cat ? run_cat(url) : 0;
        seq[r] = run_seq(verify && r == 0, MIB);
        seq8[r] = run_seq(0, 8 * MIB);
        par[r] = run_par(threads);
    }
    double ref_median = 0;
    if (cat) {
        report("cat", ref, rounds, 0);
        double sorted[MAX_ROUNDS];
        memcpy(sorted, ref, sizeof(double) * (size_t)rounds);
        qsort(sorted, (size_t)rounds, sizeof(double), cmp_double);
        ref_median = sorted[rounds / 2];
    }
    report("seq", seq, rounds, ref_median);
    report("seq8", seq8, rounds, ref_median);
    report("par", par, rounds, ref_median);
    int errors = atomic_load(&g_errors);
    if (errors) {
        printf("%d read errors\n", errors);
    }
    mpfs_backend_free(g_b);
    return errors ? 1 : 0;
}

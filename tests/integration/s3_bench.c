/*
 * s3_bench.c - read throughput of the S3 backend against curl, on one
 * object (not a registered test; run it by hand inside the stack's netns):
 *
 *   s3_bench rgw|moto [SIZE_MIB=512] [THREADS=4] [CHUNK_MIB=8] [ROUNDS=3]
 *
 * Puts a SIZE_MIB object (multipart, from a temp file) under a scratch
 * prefix, then per round: THREADS threads read it in CHUNK_MIB ranged
 * reads (an atomic cursor hands out chunks), and one thread reads it
 * sequentially in CHUNK_MIB reads; then `curl -o /dev/null` of the same
 * object (SigV4 via --aws-sigv4, credentials in a 0600 config file, not
 * on the command line).  Prints MiB/s for each and deletes the object.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/s3/internal.h"
#include "backends/s3/s3.h"
#include "base/util.h"

static struct mpfs_backend *B;
static uint64_t size, chunk;
static atomic_uint_fast64_t cursor;
static atomic_int failed;

/* One buffer per reader, allocated and touched before any timing: a real
 * caller (the block cache) reads into memory it already has, and page
 * faults on fresh buffers would be charged to the transfer. */
static char *bufs[64];

static void *reader(void *arg)
{
    char *buf = arg;
    for (;;) {
        uint64_t off = atomic_fetch_add(&cursor, chunk);
        if (off >= size) {
            break;
        }
        ssize_t n = mpfs_backend_read(B, "obj", NULL, buf, chunk, off);
        uint64_t want = size - off < chunk ? size - off : chunk;
        if (n != (ssize_t)want) {
            fprintf(stderr, "read at %llu: %zd\n", (unsigned long long)off, n);
            atomic_store(&failed, 1);
            break;
        }
    }
    return NULL;
}

static double cpu_secs(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double cpu_used; /* CPU seconds of the last run */

static double run_readers(int threads)
{
    double c0 = cpu_secs(RUSAGE_SELF);
    pthread_t t[64];
    atomic_store(&cursor, 0);
    int64_t t0 = mpfs_now_ns();
    for (int i = 0; i < threads; i++) {
        pthread_create(&t[i], NULL, reader, bufs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
    }
    double secs = (double)(mpfs_now_ns() - t0) / 1e9;
    cpu_used = cpu_secs(RUSAGE_SELF) - c0;
    return (double)size / 1048576.0 / secs;
}

/* curl -o /dev/null of the object; with parts > 1, that many curl
 * processes at once, each GETting one contiguous range of it. */
static double run_curl(const char *url, const char *cfgpath, int parts)
{
    char cmd[8192];
    int n = 0;
    int64_t t0 = mpfs_now_ns();
    if (parts > 1) {
        n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, "(");
        for (int i = 0; i < parts; i++) {
            uint64_t a = size / (uint64_t)parts * (uint64_t)i;
            uint64_t b = i == parts - 1 ? size - 1 : size / (uint64_t)parts * (uint64_t)(i + 1) - 1;
            n += snprintf(cmd + n, sizeof(cmd) - (size_t)n,
                          "curl -s -o /dev/null -K %s --aws-sigv4 'aws:amz:%s:s3' -H "
                          "'x-amz-content-sha256: UNSIGNED-PAYLOAD' -r %llu-%llu '%s' & ",
                          cfgpath, mpfs_s3_of(B)->region, (unsigned long long)a,
                          (unsigned long long)b, url);
        }
        snprintf(cmd + n, sizeof(cmd) - (size_t)n, "wait) && echo 0");
    } else {
        snprintf(cmd, sizeof(cmd),
                 "curl -s -o /dev/null -w '%%{speed_download}' -K %s --aws-sigv4 "
                 "'aws:amz:%s:s3' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' '%s'",
                 cfgpath, mpfs_s3_of(B)->region, url);
    }
    double c0 = cpu_secs(RUSAGE_CHILDREN);
    FILE *p = popen(cmd, "r");
    double bps = 0;
    if (!p || fscanf(p, "%lf", &bps) != 1) {
        bps = 0;
    }
    if (p) {
        pclose(p);
    }
    cpu_used = cpu_secs(RUSAGE_CHILDREN) - c0;
    if (parts > 1) {
        bps = (double)size / ((double)(mpfs_now_ns() - t0) / 1e9);
    }
    return bps / 1048576.0;
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "rgw";
    int moto = strcmp(which, "moto") == 0;
    const char *ep = getenv(moto ? "MPFS_MOTO_ENDPOINT" : "MPFS_S3_ENDPOINT");
    const char *bk = getenv(moto ? "MPFS_MOTO_BUCKET" : "MPFS_S3_BUCKET");
    size = (uint64_t)(argc > 2 ? atoi(argv[2]) : 512) << 20;
    int threads = argc > 3 ? atoi(argv[3]) : 4;
    chunk = (uint64_t)(argc > 4 ? atoi(argv[4]) : 8) << 20;
    int rounds = argc > 5 ? atoi(argv[5]) : 3;
    if (!ep || !bk || threads < 1 || threads > 64 || !chunk || !size) {
        fprintf(stderr, "usage: s3_bench rgw|moto [SIZE_MIB] [THREADS] [CHUNK_MIB] [ROUNDS] "
                        "(with the stack.sh env)\n");
        return 2;
    }

    char prefix[64], err[512];
    snprintf(prefix, sizeof(prefix), "mpfs-s3bench-%d", (int)getpid());
    struct mpfs_s3_config cfg;
    mpfs_s3_config_defaults(&cfg);
    cfg.endpoint = ep;
    cfg.bucket = bk;
    cfg.prefix = prefix;
    int rc = mpfs_s3_open(&cfg, &B, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }

    for (int i = 0; i < threads; i++) {
        bufs[i] = malloc(chunk);
        memset(bufs[i], 1, chunk);
    }
    char tmpl[] = "/tmp/mpfs-s3bench-XXXXXX";
    int fd = mkstemp(tmpl);
    unlink(tmpl);
    char *buf = malloc(1 << 20);
    for (uint64_t off = 0; off < size; off += 1 << 20) {
        for (int i = 0; i < (1 << 20); i++) {
            buf[i] = (char)(off / 4096 + i * 7);
        }
        mpfs_write_all(fd, buf, 1 << 20, (off_t)off);
    }
    free(buf);
    int64_t t0 = mpfs_now_ns();
    rc = mpfs_backend_put(B, "obj", fd, size, NULL, NULL);
    double put_s = (double)(mpfs_now_ns() - t0) / 1e9;
    close(fd);
    if (rc < 0) {
        fprintf(stderr, "put: %s\n", strerror(-rc));
        mpfs_backend_free(B);
        return 1;
    }
    printf("%s: object %llu MiB put in %.2f s (%.0f MiB/s, multipart %d parallel)\n", which,
           (unsigned long long)(size >> 20), put_s, (double)size / 1048576 / put_s, cfg.parallel);

    /* curl's credentials go through a 0600 config file, not argv */
    char cfgpath[] = "/tmp/mpfs-s3bench-curl-XXXXXX";
    int cfd = mkstemp(cfgpath);
    dprintf(cfd, "user = \"%s:%s\"\n", getenv("AWS_ACCESS_KEY_ID"),
            getenv("AWS_SECRET_ACCESS_KEY"));
    close(cfd);
    char url[1024];
    snprintf(url, sizeof(url), "%s/%s/%s/obj", ep, bk, prefix);

    for (int r = 0; r < rounds && !atomic_load(&failed); r++) {
        double par = run_readers(threads);
        double par_cpu = cpu_used;
        double seq = run_readers(1);
        double seq_cpu = cpu_used;
        double cu = run_curl(url, cfgpath, 1);
        double cu_cpu = cpu_used;
        double cup = run_curl(url, cfgpath, threads);
        double gib = (double)size / (1 << 30);
        printf("round %d: mpfs %d x %llu MiB ranged reads %.0f MiB/s (%.2f cpu-s/GiB) | mpfs 1 "
               "thread %.0f MiB/s (%.2f) | curl GET %.0f MiB/s (%.2f) | %d curl ranges %.0f "
               "MiB/s | mpfs parallel / curl GET %.2f\n",
               r + 1, threads, (unsigned long long)(chunk >> 20), par, par_cpu / gib, seq,
               seq_cpu / gib, cu, cu_cpu / gib, threads, cup, cu > 0 ? par / cu : 0);
        fflush(stdout);
    }
    unlink(cfgpath);
    mpfs_backend_remove(B, "obj");
    mpfs_backend_free(B);
    for (int i = 0; i < threads; i++) {
        free(bufs[i]);
    }
    return atomic_load(&failed);
}

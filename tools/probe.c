/*
 * probe.c - see probe.h.
 *
 * Measurements need data: the probe writes a 1 MiB object and a directory
 * of 1,000 empty entries under a scratch name (".mpfs-probe-<pid>") through
 * one side (S3 when configured), measures both sides reading the same data,
 * and removes it.  If nothing can be written it says so.  Each number is the
 * median of several tries.
 */
#include "tools/probe.h"

#include "backends/backend.h"
#include "base/log.h"
#include "base/util.h"
#include "fs/router.h"
#include "fs/sides.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1u << 20)
#define LIST_ENTRIES 1000
#define TRIES 5

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static int count_entry(void *arg, const char *name, size_t len, const struct mpfs_attr *a,
                       int full)
{
    (void)name;
    (void)len;
    (void)a;
    (void)full;
    (*(size_t *)arg)++;
    return 0;
}

struct probe_result {
    double ttfb_s, read_1m_s, list_1000_s;
};

/* Measure b.  The data is written through b (a scratch directory
 * ".mpfs-probe-<pid>": a 1 MiB object and 1,000 empty entries) unless
 * `shared` is set: then it was written through the other side of the same
 * dataset and b only reads it (in dual mode the NFS view of a bucket is not
 * written to: it commits lazily and would keep the scratch files busy). */
static void measure(struct mpfs_backend *b, const char *dir, struct probe_result *r)
{
    char *obj = mpfs_xasprintf("%s/object", dir);
    char *ldir = mpfs_xasprintf("%s/list", dir);
    char *data = mpfs_xmalloc(MIB);
    double t[TRIES];
    char one;
    for (int i = 0; i < TRIES; i++) {
        int64_t t0 = mpfs_now_ns();
        ssize_t n = mpfs_backend_read(b, obj, NULL, &one, 1, 0);
        t[i] = n == 1 ? (double)(mpfs_now_ns() - t0) / 1e9 : 1e9;
    }
    r->ttfb_s = median(t, TRIES);
    for (int i = 0; i < TRIES; i++) {
        int64_t t0 = mpfs_now_ns();
        ssize_t n = mpfs_backend_read(b, obj, NULL, data, MIB, 0);
        t[i] = n == (ssize_t)MIB ? (double)(mpfs_now_ns() - t0) / 1e9 : 1e9;
    }
    r->read_1m_s = median(t, TRIES);
    size_t seen = 0;
    for (int i = 0; i < 3; i++) {
        seen = 0;
        int64_t t0 = mpfs_now_ns();
        mpfs_backend_list(b, ldir, count_entry, &seen);
        t[i] = (double)(mpfs_now_ns() - t0) / 1e9;
    }
    r->list_1000_s = median(t, 3);
    if (r->ttfb_s >= 1e9 || r->read_1m_s >= 1e9)
        printf("  reads of the probe object failed\n");
    else
        printf("  time to first byte: %.2f ms\n  1 MiB read: %.2f ms (%.0f MB/s)\n",
               r->ttfb_s * 1e3, r->read_1m_s * 1e3, (double)MIB / r->read_1m_s / 1e6);
    printf("  %zu-entry listing: %.1f ms\n", seen, r->list_1000_s * 1e3);
    free(data);
    free(obj);
    free(ldir);
}

static void describe(struct mpfs_backend *b)
{
    char caps[512];
    mpfs_backend_caps_str(b->caps, caps, sizeof(caps));
    printf("%s: %s\n  capabilities: %s\n  io size: %zu\n", b->kind, b->desc, caps, b->io_size);
}

/* Write the scratch data through b; returns 0 or -errno. */
static int make_scratch(struct mpfs_backend *b, const char *dir)
{
    char *obj = mpfs_xasprintf("%s/object", dir);
    char *ldir = mpfs_xasprintf("%s/list", dir);
    char *data = mpfs_xmalloc(MIB);
    for (size_t i = 0; i < MIB; i++)
        data[i] = (char)(i * 31 + 7);
    int rc = mpfs_backend_mkdir(b, dir, 040755);
    if (rc == 0 || rc == -EEXIST)
        rc = mpfs_backend_put_buf(b, obj, data, MIB, NULL, NULL);
    if (rc == 0) {
        mpfs_backend_mkdir(b, ldir, 040755);
        for (int i = 0; i < LIST_ENTRIES && rc == 0; i++) {
            char *p = mpfs_xasprintf("%s/f%04d", ldir, i);
            rc = mpfs_backend_put_buf(b, p, "", 0, NULL, NULL);
            free(p);
        }
    }
    free(data);
    free(obj);
    free(ldir);
    return rc;
}

static void remove_scratch(struct mpfs_backend *b, const char *dir)
{
    char *ldir = mpfs_xasprintf("%s/list", dir);
    for (int i = 0; i < LIST_ENTRIES; i++) {
        char *p = mpfs_xasprintf("%s/f%04d", ldir, i);
        mpfs_backend_remove(b, p);
        free(p);
    }
    mpfs_backend_rmdir(b, ldir);
    char *obj = mpfs_xasprintf("%s/object", dir);
    mpfs_backend_remove(b, obj);
    mpfs_backend_rmdir(b, dir);
    free(obj);
    free(ldir);
}

int mpfs_probe_run(const struct mpfs_config *cfg)
{
    struct mpfs_backend *s3 = NULL, *nfs = NULL;
    char err[512];
    if (mpfs_sides_open(cfg, &s3, &nfs, err, sizeof(err)) < 0) {
        fprintf(stderr, "mpfs probe: %s\n", err);
        return 1;
    }
    struct probe_result rs = {0}, rn = {0};
    char *dir = mpfs_xasprintf(".mpfs-probe-%d", (int)getpid());
    /* the writable side that holds the data: S3 when there is one */
    struct mpfs_backend *writer = s3 ? s3 : nfs;
    int rc = make_scratch(writer, dir);
    if (rc < 0) {
        printf("cannot write probe data through %s (%s): costs not measured\n", writer->kind,
               strerror(-rc));
    }
    if (s3) {
        describe(s3);
        if (rc == 0)
            measure(s3, dir, &rs);
    }
    if (nfs) {
        describe(nfs);
        if (rc == 0)
            measure(nfs, dir, &rn);
    }
    if (rc == 0)
        remove_scratch(writer, dir);
    free(dir);
    struct mpfs_route_costs costs = {.s3_small_read_s = rs.ttfb_s,
                                     .nfs_small_read_s = rn.ttfb_s};
    struct mpfs_router r;
    mpfs_router_build(&r, s3, nfs, &costs);
    char desc[2048];
    mpfs_router_describe(&r, desc, sizeof(desc));
    printf("routes (mode %s):\n%s", cfg->mode, desc);
    mpfs_backend_free(s3);
    mpfs_backend_free(nfs);
    return 0;
}

/*
 * probe.c - see probe.h.
 *
 * Measurements need data: the probe writes a 1 MiB object and a directory
 * of 1,000 empty entries under a scratch name (".mpfs-probe-<pid>") on
 * each writable side, measures, and removes them.  On a read-only side it
 * measures what it can and says what it skipped.  Each number is the median
 * of several tries.
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
    int wrote;
};

static void probe_side(struct mpfs_backend *b, struct probe_result *r)
{
    char caps[512];
    mpfs_backend_caps_str(b->caps, caps, sizeof(caps));
    printf("%s: %s\n  capabilities: %s\n  io size: %zu\n", b->kind, b->desc, caps, b->io_size);
    memset(r, 0, sizeof(*r));

    char *dir = mpfs_xasprintf(".mpfs-probe-%d", (int)getpid());
    char *obj = mpfs_xasprintf("%s/object", dir);
    char *data = mpfs_xmalloc(MIB);
    for (size_t i = 0; i < MIB; i++)
        data[i] = (char)(i * 31 + 7);
    int rc = mpfs_backend_mkdir(b, dir, 040755);
    if (rc == 0 || rc == -EEXIST)
        rc = mpfs_backend_put_buf(b, obj, data, MIB, NULL, NULL);
    if (rc < 0) {
        printf("  read-only or not writable here (%s): read and listing costs skipped\n",
               strerror(-rc));
        goto out;
    }
    r->wrote = 1;
    double t[TRIES];
    char one;
    for (int i = 0; i < TRIES; i++) {
        int64_t t0 = mpfs_now_ns();
        mpfs_backend_read(b, obj, NULL, &one, 1, 0);
        t[i] = (double)(mpfs_now_ns() - t0) / 1e9;
    }
    r->ttfb_s = median(t, TRIES);
    for (int i = 0; i < TRIES; i++) {
        int64_t t0 = mpfs_now_ns();
        ssize_t n = mpfs_backend_read(b, obj, NULL, data, MIB, 0);
        t[i] = n == (ssize_t)MIB ? (double)(mpfs_now_ns() - t0) / 1e9 : 1e9;
    }
    r->read_1m_s = median(t, TRIES);

    char *ldir = mpfs_xasprintf("%s/list", dir);
    mpfs_backend_mkdir(b, ldir, 040755);
    int made = 0;
    for (int i = 0; i < LIST_ENTRIES; i++) {
        char *p = mpfs_xasprintf("%s/f%04d", ldir, i);
        if (mpfs_backend_put_buf(b, p, "", 0, NULL, NULL) == 0)
            made++;
        free(p);
    }
    for (int i = 0; i < 3; i++) {
        size_t n = 0;
        int64_t t0 = mpfs_now_ns();
        mpfs_backend_list(b, ldir, count_entry, &n);
        t[i] = (double)(mpfs_now_ns() - t0) / 1e9;
        if (n < (size_t)made)
            printf("  note: listing returned %zu of %d entries\n", n, made);
    }
    r->list_1000_s = median(t, 3);
    printf("  time to first byte: %.2f ms\n  1 MiB read: %.2f ms (%.0f MB/s)\n"
           "  %d-entry listing: %.1f ms\n",
           r->ttfb_s * 1e3, r->read_1m_s * 1e3, (double)MIB / r->read_1m_s / 1e6,
           LIST_ENTRIES, r->list_1000_s * 1e3);
    for (int i = 0; i < LIST_ENTRIES; i++) {
        char *p = mpfs_xasprintf("%s/f%04d", ldir, i);
        mpfs_backend_remove(b, p);
        free(p);
    }
    mpfs_backend_rmdir(b, ldir);
    free(ldir);
    mpfs_backend_remove(b, obj);
out:
    mpfs_backend_rmdir(b, dir);
    free(data);
    free(obj);
    free(dir);
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
    if (s3)
        probe_side(s3, &rs);
    if (nfs)
        probe_side(nfs, &rn);
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

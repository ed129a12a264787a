/*
 * stats.h - live counters of the mount for `mpfs stats`: FUSE operations
 * (counts, errors, latency histograms, bytes) kept here, plus a report that
 * gathers what the other layers count (backend requests per side and type,
 * cache tiers, staging, invalidations, memory).
 *
 * The FUSE counters are process-wide (one mount per process, as the FUSE
 * adapter already assumes) and lock-free: relaxed atomic adds, so the hot
 * path pays a few uncontended atomics and a clock read per request.
 */
#ifndef MPFS_FS_STATS_H
#define MPFS_FS_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum mpfs_fop {
    MPFS_FOP_LOOKUP, MPFS_FOP_GETATTR, MPFS_FOP_SETATTR, MPFS_FOP_READLINK, MPFS_FOP_MKNOD,
    MPFS_FOP_MKDIR, MPFS_FOP_UNLINK, MPFS_FOP_RMDIR, MPFS_FOP_SYMLINK, MPFS_FOP_RENAME,
    MPFS_FOP_LINK, MPFS_FOP_OPEN, MPFS_FOP_CREATE, MPFS_FOP_READ, MPFS_FOP_WRITE,
    MPFS_FOP_FLUSH, MPFS_FOP_RELEASE, MPFS_FOP_FSYNC, MPFS_FOP_OPENDIR, MPFS_FOP_READDIR,
    MPFS_FOP_RELEASEDIR, MPFS_FOP_STATFS, MPFS_FOP_XATTR, MPFS_FOP_N
};

/* Latency buckets: bucket k counts requests that took < 2^(k+4) us
 * (16 us, 32 us, ... ~8.6 s); the last one counts everything slower. */
#define MPFS_STATS_BUCKETS 20

/* Record one FUSE request of type op that took ns and failed or not. */
void mpfs_stats_fuse(int op, int64_t ns, int failed);
/* Bytes moved by FUSE reads and writes. */
void mpfs_stats_fuse_bytes(int write, uint64_t n);

struct mpfs_fs;
/* Every counter as "name value" lines (the wire format of the control
 * channel's `stats` command; `mpfs stats` turns it into a table). */
void mpfs_stats_report(struct mpfs_fs *fs, FILE *out);
/* The same counters in the Prometheus text format (version 0.0.4). */
void mpfs_stats_prometheus(struct mpfs_fs *fs, FILE *out);

/* -o metrics_port=N: serve mpfs_stats_prometheus() over HTTP on
 * 127.0.0.1:N (loopback only) from a background thread (fs/metrics.c). */
struct mpfs_metrics;
int mpfs_metrics_start(struct mpfs_fs *fs, int port, struct mpfs_metrics **out, char *err,
                       size_t errlen);
void mpfs_metrics_stop(struct mpfs_metrics *m); /* NULL is a no-op */

#endif

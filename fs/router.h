/*
 * router.h - which backend serves which operation.
 *
 * A small table, built once at mount from the configured sides, their
 * probed capability bits and measured costs, decides per operation class
 * where a request goes.  Code above asks mpfs_route(); nothing else in fs/
 * decides between S3 and NFS.  A NULL route means no side can do it: the
 * caller returns the errno recorded for that op (see docs/SEMANTICS.md).
 *
 * The rules (docs/ROUTER.md has the table with reasons):
 *  - the "metadata authority" (stat, list, create, remove, mkdir) is the
 *    NFS side when it is fully POSIX (in-place writes work there), else S3:
 *    an NFS view of a bucket (Ceph FSAL_RGW) caches attributes and lags
 *    namespace changes, while S3 LIST/HEAD carry the ETag that pins data;
 *  - large sequential reads go to S3 (parallel range GETs, pinned by ETag);
 *  - small random reads go to whichever side measured lower latency;
 *  - in-place writes and appends go to NFS when it can write in place,
 *    else the file is rewritten through the metadata side;
 *  - rename, link, symlink, chmod go to NFS when it can do them natively
 *    and is the metadata authority; else S3 emulation; else unsupported.
 */
#ifndef MPFS_FS_ROUTER_H
#define MPFS_FS_ROUTER_H

#include "backends/backend.h"

enum mpfs_route_op {
    MPFS_R_META,       /* stat, list, create, remove, mkdir, rmdir, statfs */
    MPFS_R_READ_SEQ,   /* sequential / large reads */
    MPFS_R_READ_RAND,  /* small random reads */
    MPFS_R_PUT,        /* whole-file commit */
    MPFS_R_PWRITE,     /* in-place partial commit */
    MPFS_R_RENAME,     /* file rename */
    MPFS_R_RENAME_DIR, /* directory rename */
    MPFS_R_LINK,
    MPFS_R_SYMLINK,
    MPFS_R_SETATTR,    /* chmod, chown, utimens */
    MPFS_R_TRUNCATE,   /* in-place size change */
    MPFS_R_XATTR,      /* user.* xattrs */
    MPFS_R_NOPS
};

/* Measured at mount by probing each side (tools/probe does the same). */
struct mpfs_route_costs {
    double s3_small_read_s;  /* time to first byte of a small ranged read */
    double nfs_small_read_s;
};

struct mpfs_router {
    struct mpfs_backend *route[MPFS_R_NOPS];
    const char *why[MPFS_R_NOPS];
    int unsupported_errno[MPFS_R_NOPS]; /* positive errno when route is NULL */
};

void mpfs_router_build(struct mpfs_router *r, struct mpfs_backend *s3,
                       struct mpfs_backend *nfs, const struct mpfs_route_costs *costs);
static inline struct mpfs_backend *mpfs_route(const struct mpfs_router *r,
                                              enum mpfs_route_op op)
{
    return r->route[op];
}
const char *mpfs_route_op_name(enum mpfs_route_op op);
/* Print the table ("op -> backend (why)"), for logs and `mpfs probe`. */
void mpfs_router_describe(const struct mpfs_router *r, char *buf, size_t size);

#endif

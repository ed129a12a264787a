/*
 * router.c - see router.h.
 */
#include "fs/router.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void set(struct mpfs_router *r, enum mpfs_route_op op, struct mpfs_backend *b,
                const char *why)
{
    r->route[op] = b;
    r->why[op] = why;
}

static void unsupported(struct mpfs_router *r, enum mpfs_route_op op, int err,
                        const char *why)
{
    r->route[op] = NULL;
    r->why[op] = why;
    r->unsupported_errno[op] = err;
}

static int can(const struct mpfs_backend *b, uint32_t cap)
{
    return b && (b->caps & cap) == cap;
}

void mpfs_router_build(struct mpfs_router *r, struct mpfs_backend *s3,
                       struct mpfs_backend *nfs, const struct mpfs_route_costs *costs)
{
    memset(r, 0, sizeof(*r));
    /* A fully POSIX NFS side is one that writes in place. */
    int nfs_posix = can(nfs, MPFS_CAP_PWRITE);
    struct mpfs_backend *meta = (nfs_posix || !s3) ? nfs : s3;

    set(r, MPFS_R_META, meta,
        meta == s3 ? (nfs ? "NFS side is an object view (no in-place write): S3 is authoritative"
                          : "S3-only")
                   : (s3 ? "NFS side is fully POSIX" : "NFS-only"));

    set(r, MPFS_R_READ_SEQ, s3 ? s3 : nfs,
        s3 ? "parallel ranged GETs pinned to the ETag" : "NFS-only");

    struct mpfs_backend *rand = s3 ? s3 : nfs;
    const char *rand_why = s3 ? (!nfs                               ? "S3-only"
                                 : can(nfs, MPFS_CAP_LAZY_COMMIT) ? "NFS side commits lazily: "
                                                                    "may serve stale bytes"
                                                                  : "S3 measured no slower")
                              : "NFS-only";
    /* An NFS side that commits lazily (Ceph's bucket view) can serve the
     * old bytes of a same-size overwrite under the new attributes for
     * seconds: it never serves data while S3 can. */
    if (s3 && nfs && !can(nfs, MPFS_CAP_LAZY_COMMIT) && costs &&
        costs->nfs_small_read_s > 0 && costs->nfs_small_read_s < costs->s3_small_read_s) {
        rand = nfs;
        rand_why = "NFS measured lower latency (validated against S3 at open)";
    }
    set(r, MPFS_R_READ_RAND, rand, rand_why);

    set(r, MPFS_R_PUT, meta, "whole-file commit to the metadata authority");
    if (can(nfs, MPFS_CAP_PWRITE) && meta == nfs)
        set(r, MPFS_R_PWRITE, nfs, "NFS writes in place: only dirty ranges go up");
    else
        unsupported(r, MPFS_R_PWRITE, EOPNOTSUPP, "no in-place writes: files are rewritten");

    if (can(meta, MPFS_CAP_RENAME_ATOMIC) || (meta && meta->ops->rename))
        set(r, MPFS_R_RENAME, meta,
            can(meta, MPFS_CAP_RENAME_EMULATED) ? "S3 copy+delete (not atomic)" : "native");
    else
        unsupported(r, MPFS_R_RENAME, EXDEV, "no rename on the metadata side");

    if (can(meta, MPFS_CAP_RENAME_DIR))
        set(r, MPFS_R_RENAME_DIR, meta,
            can(meta, MPFS_CAP_RENAME_EMULATED) ? "S3 copy+delete of every key (not atomic)"
                                                : "native");
    else
        unsupported(r, MPFS_R_RENAME_DIR, EXDEV, "directory rename unsupported");

    if (can(meta, MPFS_CAP_HARDLINK))
        set(r, MPFS_R_LINK, meta, "native");
    else
        unsupported(r, MPFS_R_LINK, EPERM, "hard links need a POSIX NFS side");

    if (can(meta, MPFS_CAP_SYMLINK))
        set(r, MPFS_R_SYMLINK, meta,
            meta == s3 ? "s3fs-style link object" : "native");
    else
        unsupported(r, MPFS_R_SYMLINK, EPERM, "symlinks unsupported");

    if (can(meta, MPFS_CAP_SETATTR))
        set(r, MPFS_R_SETATTR, meta, meta == s3 ? "s3fs metadata headers" : "native");
    else
        unsupported(r, MPFS_R_SETATTR, EPERM, "ownership/mode not storable");

    if (can(meta, MPFS_CAP_TRUNCATE))
        set(r, MPFS_R_TRUNCATE, meta, "native");
    else
        unsupported(r, MPFS_R_TRUNCATE, EOPNOTSUPP, "truncate rewrites the file");

    if (can(meta, MPFS_CAP_USER_XATTR))
        set(r, MPFS_R_XATTR, meta, "object user metadata");
    else
        unsupported(r, MPFS_R_XATTR, ENOTSUP, "no user xattrs on this side");
}

const char *mpfs_route_op_name(enum mpfs_route_op op)
{
    static const char *const names[MPFS_R_NOPS] = {
        "metadata", "read-sequential", "read-random", "write-whole", "write-in-place",
        "rename", "rename-dir", "link", "symlink", "setattr", "truncate", "xattr",
    };
    return (unsigned)op < MPFS_R_NOPS ? names[op] : "?";
}

void mpfs_router_describe(const struct mpfs_router *r, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int op = 0; op < MPFS_R_NOPS; op++) {
        int n = snprintf(buf + used, size - used, "  %-16s -> %-5s (%s)\n",
                         mpfs_route_op_name(op),
                         r->route[op] ? r->route[op]->kind : "none", r->why[op]);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

/*
 * nfs.h - the NFS backend: an NFSv3 export (or a directory inside one)
 * served through libnfs 4.0, behind the ops table of backends/backend.h.
 *
 * What it does and does not promise (the details are in the .c files):
 *   - NFSv3 only.  libnfs 4.0 reports a write max of 0 after an NFSv4
 *     mount and fails WRITEs above ~2 KB, so version 4 is refused at open.
 *   - A bounded pool of libnfs contexts (a context is not thread-safe);
 *     each context keeps a small cache of open file handles so a large
 *     file read in 1 MiB pieces costs one READ per piece, not a LOOKUP
 *     walk per piece.
 *   - A context whose connection broke (server restart, reset, timeout)
 *     is thrown away and the call retried on a freshly mounted one, with
 *     backoff, until timeout_ms after the call began (a server restart of
 *     a few seconds is ridden out); then -ETIMEDOUT, never -ENOTCONN.
 *     Non-idempotent calls read "already done" (-ENOENT/-EEXIST) after a
 *     lost reply as success only when an earlier attempt reached the
 *     server (nfs_pool.c, nfs_ops.c).
 *   - pwrite_if: a GETATTR check, then FILE_SYNC WRITEs whose replies'
 *     before-attributes are checked (MPFS_CAP_COND_PWRITE, probed: only if
 *     the server sends them; NFS-Ganesha 4.3 does not).
 *   - Capabilities are measured, not assumed: mpfs_nfs_open() runs
 *     mpfs_nfs_probe_caps() when the export is writable, because the same
 *     protocol fronts fully POSIX exports (FSAL_VFS, ONTAP) and object-store
 *     views (FSAL_RGW) that cannot write in place, rename directories or
 *     link.  Operations an export was measured unable to do fail up front
 *     with -EOPNOTSUPP.
 *   - Pinned reads (MPFS_CAP_PINNED_READ): every READ reply carries the
 *     file's attributes, so read(version) is checked at no extra cost, and
 *     a reply that says "end of file" before the size it reports is an
 *     error (-EAGAIN), never a short file.
 *   - Object views report their transient states as -EAGAIN (read of a
 *     file whose NFS write is not committed yet) and -EBUSY (replace or
 *     rename of such a file); see nfs_ops.c.  The probe declares such an
 *     export MPFS_CAP_LAZY_COMMIT.
 *   - No conditional puts in the protocol: put's if_match is a GETATTR
 *     before the write (racy), if_none_match an exclusive CREATE (atomic);
 *     RENAME_NOREPLACE checks first (racy).  No xattrs, no RENAME_EXCHANGE.
 *
 * Test hooks and internals are in nfs_int.h.
 */
#ifndef MPFS_BACKENDS_NFS_NFS_H
#define MPFS_BACKENDS_NFS_NFS_H

#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"

struct mpfs_nfs_config {
    /* "nfs://host[:port]/export[/path/inside]" with optional query
     * arguments version=, nfsport=, mountport=, uid=, gid= (they override
     * the fields below).  A ":port" sets both the NFS and the MOUNT port
     * and skips the portmapper. */
    const char *url;
    int pool_size;  /* contexts in the pool (default 4, 1..64) */
    int timeout_ms; /* per-RPC timeout (default 10000; libnfs rounds to s) */
    int uid, gid;   /* AUTH_SYS credentials (default: the caller's euid/egid) */
    int version;    /* 3 (default); 4 is refused (see above) */
    /* Added beyond the first draft of this struct (additive): */
    int probe;         /* 1 (default): measure caps at open; 0: declare a
                        * fully POSIX export without touching it */
    int handle_ttl_ms; /* how long an open file handle is trusted for a
                        * path before it is looked up again (default 3000,
                        * like the kernel client's attribute cache) */
};

void mpfs_nfs_config_defaults(struct mpfs_nfs_config *c);

/* Mounts the export with the first context and checks that the path inside
 * it is a directory; then probes the capabilities (cfg->probe).  On failure
 * returns -errno and writes a one-line reason into err ("cannot reach NFS
 * server 127.0.0.1: connection refused", "NFS export /x not found on
 * 127.0.0.1 (exports: /a, /b)", ...).  err may be NULL. */
int mpfs_nfs_open(const struct mpfs_nfs_config *cfg, struct mpfs_backend **out, char *err,
                  size_t errlen);

/* Measure what the export can do in a scratch directory
 * ".mpfs-probe-<pid>-<rand>" inside the base path: write in place,
 * truncate, setattr, file rename, directory rename, hard link, symlink,
 * persistent empty directories, and whether a file just written reads back
 * at once (MPFS_CAP_LAZY_COMMIT if not: one read, no polling)
 * (MPFS_CAP_PINNED_READ depends on the client only and is set whenever
 * available).  A failing step turns its bit off and never
 * fails the probe; the whole probe is bounded in time.  Sets b->caps and
 * *caps (if non-NULL); removes the scratch directory.  Returns 0, or -errno
 * if b is not an NFS backend or the scratch directory cannot be created
 * (read-only export: caps are then 0). */
int mpfs_nfs_probe_caps(struct mpfs_backend *b, uint32_t *caps);

#endif

/*
 * nfs_ops.c - the ops table of the NFS backend (backend.h is the contract).
 *
 * Every op has the same shape: build the path inside the export
 * (base + "/" + path, on the stack), then run a small closure on a pooled
 * connection through mpfs_nfs_pool_run(), which retries it on a new
 * connection, with backoff within the request timeout, if the transport
 * broke (nfs_pool.c).  Inside the closure every libnfs
 * failure goes through op_fail(): the single mapping (nfs_err.c), and the
 * verdict "this connection is broken" that the pool reads back.
 *
 * Retried non-idempotent calls: when an earlier attempt died with the
 * connection after reaching it, the server may have executed it.  A later
 * attempt (attempt > 0 counts only attempts that ran on a connection, not
 * refused reconnects) that then reports "already done" (-ENOENT for
 * remove/rmdir, and for rename when the target now exists; -EEXIST for
 * mkdir/symlink/link) reports success: the end state asked for holds,
 * whoever made it -- the duplicate-request problem every NFSv3 client
 * has.  A first attempt's -ENOENT/-EEXIST is always reported as is.  put
 * with if_none_match cannot tell its own earlier attempt from someone
 * else's file and reports -EEXIST (conservative); pwrite_if reports a
 * conflict (-ESTALE) for the same reason.  Idempotent calls (stat, list,
 * read, put, pwrite, setattr) are simply run again.
 *
 * Reads use a per-connection cache of open handles (nfs_fhcache.c): one
 * READ per piece instead of a LOOKUP per path component plus the READ
 * (measured on this store: nfs_open of a 5-deep path 0.56 ms vs a 1 MiB
 * READ 0.66 ms).  A cached handle the server refuses (stale: replaced by
 * another client) is dropped and the path looked up again within the same
 * call.  The READs themselves go through nfs_read.c (pipelined, with the
 * reply's EOF flag and attributes): pinned reads, and no short file is
 * ever returned where the server's own size says there is more.
 *
 * Object views (measured: no in-place writes, i.e. the RGW view) have
 * transient states that NFS reports as hard errors; measured here:
 *   - for ~10 s after an NFS write, until librgw commits it: READ returns
 *     "0 bytes, EOF" with the new size (-> -EAGAIN, nfs_read.c), CREATE
 *     over it and RENAME of it fail NFS3ERR_PERM (-> -EBUSY);
 *   - for ~100 s after an overwrite that shrinks a file, the cached
 *     attributes keep the old size and READs fail NFS3ERR_IO (-> -EAGAIN).
 * -EAGAIN/-EBUSY tell the layer above to retry later or use S3; the probe
 * declares the first window as MPFS_CAP_LAZY_COMMIT (nfs_probe.c).
 *
 * Writes (put, pwrite) are UNSTABLE WRITEs split at the server's wsize
 * and committed by the close (libnfs sends COMMIT when a handle was
 * written).  The commit verifier is not checked by libnfs 4.0: a server
 * that reboots between WRITE and COMMIT can lose the data without an
 * error (gap, see the report/docs).
 *
 * Preconditions are not atomic on NFSv3: put's if_match compares the
 * version of a GETATTR before the write, and RENAME_NOREPLACE checks the
 * target before the RENAME; a concurrent writer can slip in between.
 * if_none_match uses an exclusive CREATE and is atomic.
 *
 * Exports that cannot do something (measured caps, nfs_probe.c) fail it
 * up front with -EOPNOTSUPP: the RGW view answers an in-place WRITE with
 * an error libnfs reports as -EFAULT and 'failed with ""', acknowledges a
 * truncate it then ignores, and refuses a directory rename with
 * NFS3ERR_PERM -- none of which should reach a user as such.
 *
 * Not done: xattrs (NFSv3 has none); RENAME_EXCHANGE; nanosecond mtime in
 * setattr (libnfs 4.0's utimes takes microseconds).
 */
#include "backends/nfs/nfs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <nfsc/libnfs.h>

#include "base/log.h"
#include "base/util.h"

static struct mpfs_nfs_backend *NB(struct mpfs_backend *b)
{
    return (struct mpfs_nfs_backend *)b;
}

/* The one exit for a failed libnfs call: map it, and flag the connection
 * if the transport (or the export's root handle) failed. */
static int op_fail(struct mpfs_nfs_conn *c, int rc, const char *what, const char *path)
{
    const char *msg = mpfs_nfs_conn_error(c);
    int err = mpfs_nfs_err_map(rc, msg);
    if (mpfs_nfs_err_is_transport(rc, msg)) {
        c->broken = 1;
        mpfs_info("nfs: %s %s: connection failed (%s); reconnecting", what, path, msg);
    } else if (err == -ESTALE) {
        /* A path walk starts at the mount's root handle: stale there means
         * the export was re-created under us; a fresh mount fixes it. */
        c->broken = 1;
        mpfs_info("nfs: %s %s: stale file handle; remounting", what, path);
    } else {
        mpfs_debug("nfs: %s %s: %s (%s)", what, path, strerror(-err), msg);
    }
    return err;
}

static void attr_from_stat(const struct nfs_stat_64 *st, struct mpfs_attr *out)
{
    struct mpfs_nfs_rawattr r = {
        .type = 0,
        .mode = (uint32_t)st->nfs_mode,
        .uid = (uint32_t)st->nfs_uid,
        .gid = (uint32_t)st->nfs_gid,
        .nlink = (uint32_t)st->nfs_nlink,
        .size = st->nfs_size,
        .fileid = st->nfs_ino,
        .atime_ns = (int64_t)st->nfs_atime * 1000000000 + (int64_t)st->nfs_atime_nsec,
        .mtime_ns = (int64_t)st->nfs_mtime * 1000000000 + (int64_t)st->nfs_mtime_nsec,
        .ctime_ns = (int64_t)st->nfs_ctime * 1000000000 + (int64_t)st->nfs_ctime_nsec,
        .rdev = st->nfs_rdev,
    };
    mpfs_nfs_attr_fill(&r, out);
}

static void attr_from_dirent(const struct nfsdirent *e, struct mpfs_nfs_rawattr *r)
{
    r->type = e->type;
    r->mode = e->mode;
    r->uid = e->uid;
    r->gid = e->gid;
    r->nlink = e->nlink;
    r->size = e->size;
    r->fileid = e->inode;
    r->atime_ns = (int64_t)e->atime.tv_sec * 1000000000 + e->atime_nsec;
    r->mtime_ns = (int64_t)e->mtime.tv_sec * 1000000000 + e->mtime_nsec;
    r->ctime_ns = (int64_t)e->ctime.tv_sec * 1000000000 + e->ctime_nsec;
    r->rdev = e->rdev;
}

#define FULL_PATH(nb, path, buf)                                                         \
    do {                                                                                 \
        int fp_rc_ = mpfs_nfs_path_full((nb)->target.base, (path), (buf), sizeof(buf));  \
        if (fp_rc_ != 0) {                                                               \
            return fp_rc_;                                                               \
        }                                                                                \
    } while (0)

/* lstat on c, through op_fail(). */
static int conn_lstat(struct mpfs_nfs_conn *c, const char *full, struct nfs_stat_64 *st)
{
    int rc = nfs_lstat64(c->nfs, full, st);
    return rc < 0 ? op_fail(c, rc, "stat", full) : 0;
}

/* ---- stat ------------------------------------------------------------- */

struct stat_args {
    const char *full;
    struct mpfs_attr *out;
};

static int do_stat(void *conn, void *arg, int attempt)
{
    struct stat_args *a = arg;
    struct nfs_stat_64 st;
    int rc = conn_lstat(conn, a->full, &st);
    if (rc == 0) {
        attr_from_stat(&st, a->out);
    }
    return rc;
}

static int nfs_op_stat(struct mpfs_backend *b, const char *path, struct mpfs_attr *out)
{
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), path, full);
    struct stat_args a = {full, out};
    return mpfs_nfs_pool_run(NB(b)->pool, do_stat, &a);
}

/* ---- list ------------------------------------------------------------- */

/* Entries are copied out of libnfs' directory (which READDIRPLUS filled
 * completely at opendir) so the callbacks run with the connection back in
 * the pool: a callback may call into the backend, and a slow consumer does
 * not hold a connection. */
struct list_ent {
    struct mpfs_nfs_rawattr ra;
    size_t name_off, name_len;
};

struct list_args {
    const char *full;
    struct list_ent *ents;
    size_t n, cap;
    char *names;
    size_t names_len, names_cap;
};

static void list_push(struct list_args *a, const struct nfsdirent *e)
{
    size_t len = strlen(e->name);
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->ents = mpfs_xrealloc(a->ents, a->cap * sizeof(*a->ents));
    }
    if (a->names_len + len + 1 > a->names_cap) {
        while (a->names_len + len + 1 > a->names_cap) {
            a->names_cap = a->names_cap ? a->names_cap * 2 : 8192;
        }
        a->names = mpfs_xrealloc(a->names, a->names_cap);
    }
    struct list_ent *le = &a->ents[a->n++];
    attr_from_dirent(e, &le->ra);
    le->name_off = a->names_len;
    le->name_len = len;
    memcpy(a->names + a->names_len, e->name, len + 1);
    a->names_len += len + 1;
}

static int do_list(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct list_args *a = arg;
    a->n = 0;
    a->names_len = 0;
    struct nfsdir *dir = NULL;
    int rc = nfs_opendir(c->nfs, a->full, &dir);
    if (rc < 0) {
        return op_fail(c, rc, "readdir", a->full);
    }
    struct nfsdirent *e;
    while ((e = nfs_readdir(c->nfs, dir)) != NULL) {
        if (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0) {
            continue;
        }
        list_push(a, e);
    }
    nfs_closedir(c->nfs, dir);
    return 0;
}

static int nfs_op_list(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn,
                       void *arg)
{
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), dir, full);
    struct list_args a = {.full = full};
    int rc = mpfs_nfs_pool_run(NB(b)->pool, do_list, &a);
    for (size_t i = 0; rc == 0 && i < a.n; i++) {
        struct mpfs_attr attr;
        mpfs_nfs_attr_fill(&a.ents[i].ra, &attr);
        /* A READDIRPLUS entry without attributes has no type (libnfs
         * normally looks those up itself). */
        int full_attrs = a.ents[i].ra.type != 0;
        rc = fn(arg, a.names + a.ents[i].name_off, a.ents[i].name_len, &attr, full_attrs);
    }
    free(a.ents);
    free(a.names);
    return rc;
}

/* ---- read ------------------------------------------------------------- */

/* A read handle for full on c: cached, or opened and cached. */
static int read_handle(struct mpfs_nfs_backend *nb, struct mpfs_nfs_conn *c,
                       const char *full, struct nfsfh **fh, int *cached)
{
    uint64_t gen = mpfs_nfs_gen(nb, full);
    int64_t now = mpfs_now_ns();
    *fh = mpfs_nfs_fhcache_get(c->fhc, full, gen, now);
    if (*fh) {
        *cached = 1;
        return 0;
    }
    *cached = 0;
    int rc = nfs_open(c->nfs, full, O_RDONLY, fh);
    if (rc < 0) {
        return op_fail(c, rc, "open", full);
    }
    mpfs_nfs_fhcache_add(c->fhc, full, *fh, gen, now);
    return 0;
}

struct read_args {
    struct mpfs_nfs_backend *nb;
    const char *full;
    const char *version;
    char *buf;
    size_t len;
    uint64_t off;
    size_t done; /* kept across a retry: those bytes are already in buf */
};

/* libnfs 4.0 reports a READ or WRITE the server refused as -EFAULT with the
 * text 'pread call failed with ""': the NFS status is lost.  Ask the handle itself what
 * is wrong (one GETATTR) so the caller gets a meaningful errno. */
static int io_error(struct mpfs_nfs_conn *c, struct nfsfh *fh, int rc, const char *what,
                    const char *full)
{
    const char *msg = mpfs_nfs_conn_error(c);
    if (mpfs_nfs_err_is_transport(rc, msg) || rc != -EFAULT ||
        strstr(msg, "3ERR_") != NULL) {
        int err = op_fail(c, rc, what, full);
        return err == -EFAULT ? -EIO : err;
    }
    struct nfs_stat_64 st;
    int src = nfs_fstat64(c->nfs, fh, &st);
    if (src < 0) {
        int err = mpfs_nfs_err_map(src, mpfs_nfs_conn_error(c));
        if (mpfs_nfs_err_is_transport(src, mpfs_nfs_conn_error(c))) {
            return op_fail(c, src, what, full);
        }
        /* The path resolved a moment ago: a stale handle now means the
         * file was removed in between. */
        return err == -ESTALE ? -ENOENT : err;
    }
    if ((st.nfs_mode & S_IFMT) == S_IFDIR) {
        return -EISDIR;
    }
    mpfs_debug("nfs: %s %s: refused by the server (status not reported)", what, full);
    return -EIO;
}

/* The plain path (nfs_pread), for when the raw READ path is unavailable:
 * no EOF flag (a short READ is confirmed by one more READ), no attributes. */
static int read_plain(struct mpfs_nfs_conn *c, struct read_args *a, struct nfsfh *fh,
                      int cached)
{
    while (a->done < a->len) {
        size_t chunk = MPFS_MIN(a->len - a->done, (size_t)c->readmax);
        int rc = nfs_pread(c->nfs, fh, a->off + a->done, chunk, a->buf + a->done);
        if (rc < 0) {
            if (cached && !mpfs_nfs_err_is_transport(rc, mpfs_nfs_conn_error(c))) {
                /* Probably stale (replaced or removed by another client;
                 * libnfs 4.0 does not even say so): look it up again. */
                mpfs_nfs_fhcache_drop(c->fhc, a->full);
                rc = read_handle(a->nb, c, a->full, &fh, &cached);
                if (rc != 0) {
                    return rc;
                }
                cached = 0;
                continue;
            }
            if (!mpfs_nfs_err_is_transport(rc, mpfs_nfs_conn_error(c))) {
                /* The RGW view fails a READ at or past the end of the file
                 * instead of returning 0 bytes: check the size. */
                struct nfs_stat_64 st;
                if (nfs_fstat64(c->nfs, fh, &st) == 0 &&
                    (st.nfs_mode & S_IFMT) != S_IFDIR &&
                    st.nfs_size <= a->off + a->done) {
                    break;
                }
            }
            rc = io_error(c, fh, rc, "read", a->full);
            mpfs_nfs_fhcache_drop(c->fhc, a->full); /* closes fh */
            return rc;
        }
        if (rc == 0) {
            break; /* end of file */
        }
        a->done += (size_t)rc;
    }
    return 0;
}

/* Does the version of attr match the pinned one? */
static int version_matches(const struct mpfs_nfs_rawattr *r, const char *want)
{
    char v[MPFS_VERSION_MAX];
    mpfs_nfs_version_format(v, sizeof(v), r->mtime_ns, r->ctime_ns, r->size);
    return strcmp(v, want) == 0;
}

static int do_read(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct read_args *a = arg;
    struct nfsfh *fh;
    int cached;
    int rc = read_handle(a->nb, c, a->full, &fh, &cached);
    if (rc != 0) {
        return rc;
    }
    if (!a->nb->raw_read) {
        return read_plain(c, a, fh, cached);
    }
    int reopened = 0, torn_retry = 0, mixed_retry = 0;
    size_t start_done = a->done;
    while (a->done < a->len) {
        struct mpfs_nfs_read_result r;
        rc = mpfs_nfs_raw_read(c, fh, a->buf + a->done, a->len - a->done,
                               a->off + a->done, a->nb->target.timeout_ms, &r);
        if (rc < 0) {
            if (c->broken) {
                mpfs_info("nfs: read %s: connection failed (%s); reconnecting", a->full,
                          r.msg);
                return rc;
            }
            if (cached && !reopened) {
                /* Stale or otherwise refused on a cached handle: the file
                 * may have been replaced behind our back.  Look it up. */
                mpfs_nfs_fhcache_drop(c->fhc, a->full);
                rc = read_handle(a->nb, c, a->full, &fh, &cached);
                if (rc != 0) {
                    return rc;
                }
                cached = 0;
                reopened = 1;
                continue;
            }
            mpfs_nfs_fhcache_drop(c->fhc, a->full);
            mpfs_debug("nfs: read %s: %s", a->full, strerror(-rc));
            if (rc == -EIO && a->nb->caps_probed &&
                !(a->nb->base.caps & MPFS_CAP_PWRITE)) {
                /* Measured on the RGW view: after an overwrite that
                 * shrinks a file, its cached attributes keep the old size
                 * for ~100 s and every READ fails NFS3ERR_IO.  That is a
                 * state that passes, not a broken disk. */
                mpfs_info("nfs: read %s: the object view failed the READ "
                          "(attributes older than the object?): try again "
                          "later",
                          a->full);
                return -EAGAIN;
            }
            /* Stale right after the lookup: removed in between. */
            return rc == -ESTALE ? -ENOENT : rc;
        }
        if (r.mixed) {
            /* The file changed while the pieces were read: these bytes
             * may mix two versions.  Read them again, once. */
            if (mixed_retry++ == 0) {
                a->done = start_done;
                continue;
            }
            mpfs_info("nfs: read %s: file keeps changing during the read", a->full);
            return -EAGAIN;
        }
        if (a->version && a->version[0]) {
            struct mpfs_nfs_rawattr now;
            if (r.has_attr) {
                now = r.attr;
            } else {
                /* The server sent no post-op attributes: ask. */
                struct nfs_stat_64 st;
                int src = nfs_fstat64(c->nfs, fh, &st);
                if (src < 0) {
                    return op_fail(c, src, "fstat", a->full);
                }
                now = (struct mpfs_nfs_rawattr){
                    .size = st.nfs_size,
                    .mtime_ns =
                        (int64_t)st.nfs_mtime * 1000000000 + (int64_t)st.nfs_mtime_nsec,
                    .ctime_ns =
                        (int64_t)st.nfs_ctime * 1000000000 + (int64_t)st.nfs_ctime_nsec,
                };
            }
            if (!version_matches(&now, a->version)) {
                return -ESTALE;
            }
        }
        a->done += r.done;
        if (r.eof) {
            uint64_t end = a->off + a->done;
            if (r.has_attr && r.attr.size > end) {
                /* "End of file" before the size the same reply reports.
                 * An append racing the READ looks like this once; the RGW
                 * view before librgw commits an NFS write looks like this
                 * for seconds.  Never hand out the short file. */
                if (torn_retry++ == 0) {
                    continue;
                }
                mpfs_info("nfs: read %s: server reports end of file at %llu but "
                          "size %llu (object not yet committed?)",
                          a->full, (unsigned long long)end,
                          (unsigned long long)r.attr.size);
                return -EAGAIN;
            }
            break;
        }
        if (r.done == 0) {
            mpfs_warn("nfs: read %s: server returned no data and no end of file "
                      "at %llu",
                      a->full, (unsigned long long)(a->off + a->done));
            return -EIO;
        }
        /* full, or short without EOF: read on */
    }
    return 0;
}

static ssize_t nfs_op_read(struct mpfs_backend *b, const char *path, const char *version,
                           void *buf, size_t len, uint64_t off)
{
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), path, full);
    if (len == 0) {
        return 0;
    }
    if (len > SSIZE_MAX) {
        len = SSIZE_MAX;
    }
    struct read_args a = {NB(b), full, version, buf, len, off, 0};
    int rc = mpfs_nfs_pool_run(NB(b)->pool, do_read, &a);
    return rc < 0 ? rc : (ssize_t)a.done;
}

/* ---- write helpers ---------------------------------------------------- */

/* Write [buf, buf+len) at off on fh, split at wsize; 0 or -errno. */
static int write_all(struct mpfs_nfs_conn *c, struct nfsfh *fh, const char *full,
                     const char *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        size_t chunk = MPFS_MIN(len - done, (size_t)c->writemax);
        int rc = nfs_pwrite(c->nfs, fh, off + done, chunk, buf + done);
        if (rc < 0) {
            /* e.g. the RGW view refusing a non-sequential WRITE */
            return io_error(c, fh, rc, "write", full);
        }
        if (rc == 0) {
            mpfs_warn("nfs: write %s: server accepted 0 bytes at %llu", full,
                      (unsigned long long)(off + done));
            return -EIO;
        }
        done += (size_t)rc;
    }
    return 0;
}

/* Close a written handle: this is where libnfs sends COMMIT. */
static int close_written(struct mpfs_nfs_conn *c, struct nfsfh *fh, const char *full)
{
    int rc = nfs_close(c->nfs, fh);
    return rc < 0 ? op_fail(c, rc, "commit", full) : 0;
}

static void timeval_from_ns(struct timeval *tv, int64_t ns)
{
    int64_t sec = ns / 1000000000;
    int64_t rem = ns % 1000000000;
    if (rem < 0) {
        sec--;
        rem += 1000000000;
    }
    tv->tv_sec = (time_t)sec;
    tv->tv_usec = (suseconds_t)(rem / 1000);
}

/* The RGW view refuses to replace or rename a file for the ~10 s until
 * librgw has committed its last NFS write, with NFS3ERR_PERM.  On an
 * export measured as such an object view (no in-place writes) that is a
 * transient state, not a permission problem: say -EBUSY so callers retry
 * later instead of reporting "Operation not permitted". */
static int object_view_busy(struct mpfs_nfs_backend *nb, int err, const char *full)
{
    if (err == -EPERM && nb->caps_probed && !(nb->base.caps & MPFS_CAP_PWRITE)) {
        mpfs_info("nfs: %s: refused by the object view (still committing an "
                  "earlier write?): busy",
                  full);
        return -EBUSY;
    }
    return err;
}

/* ---- put -------------------------------------------------------------- */

struct put_args {
    struct mpfs_nfs_backend *nb;
    const char *full;
    int fd;
    uint64_t size;
    const struct mpfs_put_opts *opts;
    struct mpfs_attr *out;
    char *buf; /* wsize bytes */
};

static int put_check_match(struct mpfs_nfs_conn *c, const char *full, const char *want)
{
    struct nfs_stat_64 st;
    int rc = conn_lstat(c, full, &st);
    if (rc == -ENOENT) {
        return -ESTALE; /* nothing there has the expected version */
    }
    if (rc != 0) {
        return rc;
    }
    struct mpfs_attr cur;
    attr_from_stat(&st, &cur);
    return strcmp(cur.version, want) == 0 ? 0 : -ESTALE;
}

static int do_put(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct put_args *a = arg;
    const struct mpfs_put_opts *o = a->opts;
    int rc;

    if (o->if_match && o->if_match[0]) {
        rc = put_check_match(c, a->full, o->if_match);
        if (rc != 0) {
            return rc;
        }
    }
    int flags = O_WRONLY | O_CREAT | (o->if_none_match ? O_EXCL : O_TRUNC);
    int mode = (o->attr_set & MPFS_SET_MODE) ? (int)(o->attr.mode & 07777) : 0644;
    struct nfsfh *fh = NULL;
    rc = nfs_open2(c->nfs, a->full, flags, mode, &fh);
    if (rc == -EEXIST && !o->if_none_match) {
        /* A non-exclusive create over an existing name: a directory there
         * is EISDIR; a file the server refuses to truncate (the RGW view
         * answers NFS3ERR_EXIST for files older than a delete in the same
         * directory) is replaced by remove + create, as a whole-object put
         * on that view is anyway. */
        struct nfs_stat_64 st;
        if (conn_lstat(c, a->full, &st) == 0 && S_ISDIR(st.nfs_mode))
            return -EISDIR;
        if (nfs_unlink(c->nfs, a->full) == 0)
            rc = nfs_open2(c->nfs, a->full, flags, mode, &fh);
    }
    if (rc < 0) {
        return object_view_busy(a->nb, op_fail(c, rc, "create", a->full), a->full);
    }

    /* Sequential from 0 in wsize pieces: the only pattern an object-store
     * view (FSAL_RGW) accepts. */
    for (uint64_t off = 0; off < a->size;) {
        size_t n = (size_t)MPFS_MIN(a->size - off, (uint64_t)c->writemax);
        ssize_t got = mpfs_read_full(a->fd, a->buf, n, (off_t)off);
        if (got < 0 || (size_t)got != n) {
            rc = got < 0 ? (int)got : -EIO;
            mpfs_warn("nfs: put %s: source ended at %llu of %llu bytes", a->full,
                      (unsigned long long)(off + (got > 0 ? (size_t)got : 0)),
                      (unsigned long long)a->size);
            goto out_close;
        }
        rc = write_all(c, fh, a->full, a->buf, n, off);
        if (rc != 0) {
            goto out_close;
        }
        off += n;
    }

    /* Metadata on the open handle (no LOOKUP); fstat fills what a partial
     * request leaves out. */
    struct nfs_stat_64 st;
    uint32_t set = o->attr_set;
    if (set & (MPFS_SET_UID | MPFS_SET_GID | MPFS_SET_MTIME | MPFS_SET_ATIME)) {
        rc = nfs_fstat64(c->nfs, fh, &st);
        if (rc < 0) {
            rc = op_fail(c, rc, "fstat", a->full);
            goto out_close;
        }
    }
    if (set & MPFS_SET_MODE) {
        rc = nfs_fchmod(c->nfs, fh, (int)(o->attr.mode & 07777));
        if (rc < 0) {
            rc = op_fail(c, rc, "chmod", a->full);
            goto out_close;
        }
    }
    if (set & (MPFS_SET_UID | MPFS_SET_GID)) {
        int uid = (set & MPFS_SET_UID) ? (int)o->attr.uid : (int)st.nfs_uid;
        int gid = (set & MPFS_SET_GID) ? (int)o->attr.gid : (int)st.nfs_gid;
        rc = nfs_fchown(c->nfs, fh, uid, gid);
        if (rc < 0) {
            rc = op_fail(c, rc, "chown", a->full);
            goto out_close;
        }
    }
    if (set & (MPFS_SET_MTIME | MPFS_SET_ATIME)) {
        struct timeval tv[2];
        timeval_from_ns(&tv[0], (set & MPFS_SET_ATIME)
                                    ? o->attr.atime_ns
                                    : (int64_t)st.nfs_atime * 1000000000 +
                                          (int64_t)st.nfs_atime_nsec);
        timeval_from_ns(&tv[1], (set & MPFS_SET_MTIME)
                                    ? o->attr.mtime_ns
                                    : (int64_t)st.nfs_mtime * 1000000000 +
                                          (int64_t)st.nfs_mtime_nsec);
        rc = nfs_utimes(c->nfs, a->full, tv);
        if (rc < 0) {
            rc = op_fail(c, rc, "utimes", a->full);
            goto out_close;
        }
    }
    if (a->out) {
        rc = nfs_fstat64(c->nfs, fh, &st);
        if (rc < 0) {
            rc = op_fail(c, rc, "fstat", a->full);
            goto out_close;
        }
        attr_from_stat(&st, a->out);
    }
    return close_written(c, fh, a->full);

out_close:
    if (c->broken) {
        /* The context goes away with its handles; a COMMIT now would only
         * wait for the timeout. */
        return rc;
    }
    nfs_close(c->nfs, fh);
    return rc;
}

static int nfs_op_put(struct mpfs_backend *b, const char *path, int fd, uint64_t size,
                      const struct mpfs_put_opts *opts, struct mpfs_attr *out)
{
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), path, full);
    struct put_args a = {NB(b), full, fd, size, opts, out, NULL};
    a.buf = mpfs_xmalloc(NB(b)->writemax);
    int rc = mpfs_nfs_pool_run(NB(b)->pool, do_put, &a);
    free(a.buf);
    return rc;
}

/* ---- pwrite ----------------------------------------------------------- */

struct pwrite_args {
    const char *full;
    const char *buf;
    size_t len;
    uint64_t off;
};

static int do_pwrite(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct pwrite_args *a = arg;
    struct nfsfh *fh = NULL;
    int rc = nfs_open(c->nfs, a->full, O_WRONLY, &fh);
    if (rc < 0) {
        return op_fail(c, rc, "open", a->full);
    }
    rc = write_all(c, fh, a->full, a->buf, a->len, a->off);
    if (rc != 0) {
        if (!c->broken) {
            nfs_close(c->nfs, fh);
        }
        return rc;
    }
    return close_written(c, fh, a->full);
}

static ssize_t nfs_op_pwrite(struct mpfs_backend *b, const char *path, const void *buf,
                             size_t len, uint64_t off)
{
    struct mpfs_nfs_backend *nb = NB(b);
    if (nb->caps_probed && !(b->caps & MPFS_CAP_PWRITE)) {
        return -EOPNOTSUPP;
    }
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(nb, path, full);
    if (len > SSIZE_MAX) {
        len = SSIZE_MAX;
    }
    struct pwrite_args a = {full, buf, len, off};
    int rc = mpfs_nfs_pool_run(nb->pool, do_pwrite, &a);
    return rc < 0 ? rc : (ssize_t)len;
}

/* ---- pwrite_if ---------------------------------------------------------- */

/* pwrite with an expected version (backend.h).  A GETATTR of the open
 * handle first: a file already changed is a conflict with nothing written.
 * Then FILE_SYNC WRITEs whose replies carry the file's attributes from just
 * before each WRITE (NFSv3 weak cache consistency data, nfs_read.c): a
 * change that slipped in between is reported -ESTALE too, though the bytes
 * have landed -- the caller keeps both versions.
 *
 * Retried after a lost reply (attempt > 0): the earlier WRITE may have
 * executed and moved the version, and ours cannot be told from another
 * writer's, so a file no longer at the expected version is reported as a
 * conflict (-ESTALE): conservative, a conflict copy rather than a lost
 * write. */
struct pwrite_if_args {
    struct mpfs_nfs_backend *nb;
    const char *full;
    const char *buf;
    size_t len;
    uint64_t off;
    const char *expect;
    struct mpfs_attr *out;
};

static int do_pwrite_if(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct pwrite_if_args *a = arg;
    struct nfsfh *fh = NULL;
    struct nfs_stat_64 st;
    struct mpfs_attr cur;
    int rc = nfs_open(c->nfs, a->full, O_WRONLY, &fh);
    if (rc < 0) {
        return op_fail(c, rc, "open", a->full);
    }
    rc = nfs_fstat64(c->nfs, fh, &st);
    if (rc < 0) {
        rc = op_fail(c, rc, "stat", a->full);
        goto out_close;
    }
    attr_from_stat(&st, &cur);
    if (strcmp(cur.version, a->expect) != 0) {
        mpfs_debug("nfs: pwrite_if %s: file is %s, expected %s%s", a->full, cur.version,
                   a->expect, attempt ? " (after a retry)" : "");
        rc = -ESTALE;
        goto out_close;
    }
    struct mpfs_nfs_write_result res;
    rc = mpfs_nfs_raw_write_if(c, fh, a->buf, a->len, a->off, a->expect,
                               a->nb->target.timeout_ms, &res);
    if (c->broken) {
        mpfs_info("nfs: pwrite_if %s: connection failed (%s); reconnecting", a->full, res.msg);
        return rc; /* the handle goes with the connection */
    }
    if (rc == 0 && res.no_pre) {
        /* Without before-attributes (NFS-Ganesha 4.3) only what the reply's
         * after-attributes show: the size our write alone would leave. */
        atomic_fetch_add(&a->nb->wcc_pre_missing, 1);
        uint64_t want = MPFS_MAX(cur.size, a->off + a->len);
        if (res.has_attr && res.attr.size != want) {
            res.conflict = 1;
            snprintf(res.msg, sizeof(res.msg), "size %llu after the WRITE, %llu expected",
                     (unsigned long long)res.attr.size, (unsigned long long)want);
            rc = -ESTALE;
        }
    }
    if (res.conflict) {
        mpfs_warn("nfs: pwrite_if %s: conflict: %s", a->full, res.msg);
    }
    if (rc == 0 && a->out) {
        if (res.has_attr) {
            mpfs_nfs_attr_fill(&res.attr, a->out);
        } else if (nfs_fstat64(c->nfs, fh, &st) == 0) {
            attr_from_stat(&st, a->out);
        }
    }
out_close:
    if (!c->broken) {
        nfs_close(c->nfs, fh);
    }
    return rc;
}

static ssize_t nfs_op_pwrite_if(struct mpfs_backend *b, const char *path, const void *buf,
                                size_t len, uint64_t off, const char *expect,
                                struct mpfs_attr *out)
{
    struct mpfs_nfs_backend *nb = NB(b);
    if (nb->caps_probed && !(b->caps & MPFS_CAP_PWRITE)) {
        return -EOPNOTSUPP;
    }
    if (!nb->raw_read) {
        /* no raw RPC path (unknown libnfs handle layout): check, then
         * write, and no MPFS_CAP_COND_PWRITE */
        return mpfs_backend_pwrite_if_racy(b, path, buf, len, off, expect, out);
    }
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(nb, path, full);
    if (len > SSIZE_MAX) {
        len = SSIZE_MAX;
    }
    struct pwrite_if_args a = {nb, full, buf, len, off, expect, out};
    int rc = mpfs_nfs_pool_run(nb->pool, do_pwrite_if, &a);
    return rc < 0 ? rc : (ssize_t)len;
}

/* ---- remove / rmdir / mkdir ------------------------------------------ */

struct path_args {
    struct mpfs_nfs_backend *nb;
    const char *full;
    uint32_t mode;
};

static int do_remove(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct path_args *a = arg;
    mpfs_nfs_fhcache_drop(c->fhc, a->full);
    int rc = nfs_unlink(c->nfs, a->full);
    if (rc < 0) {
        rc = op_fail(c, rc, "remove", a->full);
        if (rc == -ENOENT && attempt > 0) {
            return 0; /* the first attempt went through */
        }
        return rc;
    }
    return 0;
}

static int nfs_op_remove(struct mpfs_backend *b, const char *path)
{
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), path, full);
    if (path[0] == '\0') {
        return -EISDIR;
    }
    struct path_args a = {NB(b), full, 0};
    int rc = mpfs_nfs_pool_run(NB(b)->pool, do_remove, &a);
    mpfs_nfs_gen_bump_path(NB(b), full);
    return rc;
}

static int do_rmdir(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct path_args *a = arg;
    int rc = nfs_rmdir(c->nfs, a->full);
    if (rc < 0) {
        rc = op_fail(c, rc, "rmdir", a->full);
        if (rc == -ENOENT && attempt > 0) {
            return 0;
        }
        /* Some servers say EEXIST for a non-empty directory (POSIX allows
         * both); backend.h promises ENOTEMPTY. */
        return rc == -EEXIST ? -ENOTEMPTY : rc;
    }
    return 0;
}

static int nfs_op_rmdir(struct mpfs_backend *b, const char *path)
{
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), path, full);
    if (path[0] == '\0') {
        return -EBUSY; /* the root of the dataset */
    }
    struct path_args a = {NB(b), full, 0};
    int rc = mpfs_nfs_pool_run(NB(b)->pool, do_rmdir, &a);
    mpfs_nfs_gen_bump_all(NB(b));
    return rc;
}

static int do_mkdir(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct path_args *a = arg;
    int rc = nfs_mkdir2(c->nfs, a->full, (int)(a->mode & 07777));
    if (rc < 0) {
        rc = op_fail(c, rc, "mkdir", a->full);
        if (rc == -EEXIST && attempt > 0) {
            struct nfs_stat_64 st;
            if (conn_lstat(c, a->full, &st) == 0 && (st.nfs_mode & S_IFMT) == S_IFDIR) {
                return 0;
            }
        }
        return rc;
    }
    return 0;
}

static int nfs_op_mkdir(struct mpfs_backend *b, const char *path, uint32_t mode)
{
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), path, full);
    if (path[0] == '\0') {
        return -EEXIST;
    }
    struct path_args a = {NB(b), full, mode};
    return mpfs_nfs_pool_run(NB(b)->pool, do_mkdir, &a);
}

/* ---- rename ----------------------------------------------------------- */

struct rename_args {
    struct mpfs_nfs_backend *nb;
    const char *from, *to;
    unsigned flags;
};

static int do_rename(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct rename_args *a = arg;
    struct nfs_stat_64 st;
    int rc;

    if (a->nb->caps_probed && !(a->nb->base.caps & MPFS_CAP_RENAME_DIR)) {
        /* Say "cannot" before the server says EPERM (RGW view). */
        rc = conn_lstat(c, a->from, &st);
        if (rc != 0) {
            return rc;
        }
        if ((st.nfs_mode & S_IFMT) == S_IFDIR) {
            return -EOPNOTSUPP;
        }
    }
    if ((a->flags & MPFS_RENAME_NOREPLACE) && attempt == 0) {
        /* Not atomic: NFSv3 RENAME always replaces. */
        rc = conn_lstat(c, a->to, &st);
        if (rc == 0) {
            return -EEXIST;
        }
        if (rc != -ENOENT) {
            return rc;
        }
    }
    rc = nfs_rename(c->nfs, a->from, a->to);
    if (rc < 0) {
        rc = object_view_busy(a->nb, op_fail(c, rc, "rename", a->from), a->from);
        if (rc == -ENOENT && attempt > 0 && conn_lstat(c, a->to, &st) == 0) {
            return 0; /* the first attempt moved it */
        }
        return rc;
    }
    return 0;
}

static int nfs_op_rename(struct mpfs_backend *b, const char *from, const char *to,
                         unsigned flags)
{
    if (flags & MPFS_RENAME_EXCHANGE) {
        return -EOPNOTSUPP; /* NFSv3 has no exchange */
    }
    if (flags & ~(unsigned)MPFS_RENAME_NOREPLACE) {
        return -EINVAL;
    }
    if (from[0] == '\0' || to[0] == '\0') {
        return -EBUSY;
    }
    char ffrom[MPFS_NFS_PATH_MAX], fto[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), from, ffrom);
    FULL_PATH(NB(b), to, fto);
    struct rename_args a = {NB(b), ffrom, fto, flags};
    int rc = mpfs_nfs_pool_run(NB(b)->pool, do_rename, &a);
    mpfs_nfs_gen_bump_all(NB(b));
    return rc;
}

/* ---- symlink / readlink / link ---------------------------------------- */

struct link_args {
    const char *target; /* symlink: the link text; link: the existing path */
    const char *full;
    char *buf;
    size_t size;
    ssize_t len;
};

static int do_symlink(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct link_args *a = arg;
    int rc = nfs_symlink(c->nfs, a->target, a->full);
    if (rc < 0) {
        rc = op_fail(c, rc, "symlink", a->full);
        if (rc == -EEXIST && attempt > 0) {
            char *got = NULL;
            if (nfs_readlink2(c->nfs, a->full, &got) == 0 && got &&
                strcmp(got, a->target) == 0) {
                rc = 0;
            }
            free(got);
        }
        return rc;
    }
    return 0;
}

/* libnfs 4.0 encodes each call into a 4 KiB buffer and fails a larger one
 * with ENOMEM after nothing was sent.  SYMLINK carries the directory's
 * handle (up to 64 bytes), the credentials, the new name and the target:
 * measured against NFS-Ganesha, a 5-byte name left room for a 3952-byte
 * target.  Name and target together stay below this, with a margin for
 * longer handles and host names; longer is ENAMETOOLONG up front. */
#define NFS_SYMLINK_ROOM 3800

static int nfs_op_symlink(struct mpfs_backend *b, const char *target, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (strlen(target) + strlen(slash ? slash + 1 : path) > NFS_SYMLINK_ROOM) {
        return -ENAMETOOLONG;
    }
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), path, full);
    struct link_args a = {.target = target, .full = full};
    return mpfs_nfs_pool_run(NB(b)->pool, do_symlink, &a);
}

static int do_readlink(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct link_args *a = arg;
    char *got = NULL;
    int rc = nfs_readlink2(c->nfs, a->full, &got);
    if (rc < 0) {
        free(got);
        return op_fail(c, rc, "readlink", a->full);
    }
    size_t len = got ? strlen(got) : 0;
    size_t n = MPFS_MIN(len, a->size);
    if (n) {
        memcpy(a->buf, got, n);
    }
    a->len = (ssize_t)n;
    free(got);
    return 0;
}

/* POSIX readlink(2): up to size bytes, no terminating NUL. */
static ssize_t nfs_op_readlink(struct mpfs_backend *b, const char *path, char *buf,
                               size_t size)
{
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), path, full);
    struct link_args a = {.full = full, .buf = buf, .size = size};
    int rc = mpfs_nfs_pool_run(NB(b)->pool, do_readlink, &a);
    return rc < 0 ? rc : a.len;
}

static int do_link(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct link_args *a = arg;
    int rc = nfs_link(c->nfs, a->target, a->full);
    if (rc < 0) {
        rc = op_fail(c, rc, "link", a->full);
        if (rc == -EEXIST && attempt > 0) {
            struct nfs_stat_64 s1, s2;
            if (conn_lstat(c, a->target, &s1) == 0 && conn_lstat(c, a->full, &s2) == 0 &&
                s1.nfs_ino == s2.nfs_ino) {
                rc = 0;
            }
        }
        return rc;
    }
    return 0;
}

static int nfs_op_link(struct mpfs_backend *b, const char *existing, const char *newpath)
{
    char fold[MPFS_NFS_PATH_MAX], fnew[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), existing, fold);
    FULL_PATH(NB(b), newpath, fnew);
    struct link_args a = {.target = fold, .full = fnew};
    return mpfs_nfs_pool_run(NB(b)->pool, do_link, &a);
}

/* ---- mknod ------------------------------------------------------------ */

struct mknod_args {
    const char *full;
    uint32_t mode;
    uint64_t rdev;
};

static int do_mknod(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct mknod_args *a = arg;
    int rc = nfs_mknod(c->nfs, a->full, (int)a->mode, (int)a->rdev);
    if (rc < 0) {
        rc = op_fail(c, rc, "mknod", a->full);
        /* a retried MKNOD whose first attempt landed */
        if (rc == -EEXIST && attempt > 0) {
            struct nfs_stat_64 st;
            if (conn_lstat(c, a->full, &st) == 0 &&
                (st.nfs_mode & S_IFMT) == (a->mode & S_IFMT)) {
                return 0;
            }
        }
        return rc;
    }
    return 0;
}

static int nfs_op_mknod(struct mpfs_backend *b, const char *path, uint32_t mode, uint64_t rdev)
{
    uint32_t type = mode & S_IFMT;
    if (type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR && type != S_IFBLK) {
        return -EINVAL;
    }
    /* An object store's NFS view (no in-place writes, e.g. Ceph's bucket
     * export) has no object that could be a FIFO or a device: not asked. */
    if (NB(b)->caps_probed && !(b->caps & MPFS_CAP_PWRITE)) {
        return -EOPNOTSUPP;
    }
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), path, full);
    if (path[0] == '\0') {
        return -EEXIST;
    }
    struct mknod_args a = {full, mode, rdev};
    return mpfs_nfs_pool_run(NB(b)->pool, do_mknod, &a);
}

/* ---- setattr ---------------------------------------------------------- */

struct setattr_args {
    const char *full;
    const struct mpfs_attr *attr;
    uint32_t to_set;
    struct mpfs_attr *out;
};

/* Path-based SETATTRs, one per libnfs call (libnfs 4.0 has no combined
 * setattr; utimes carries microseconds).  Symlinks are changed themselves,
 * not their targets (the l* calls). */
static int do_setattr(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct setattr_args *a = arg;
    uint32_t set = a->to_set;
    struct nfs_stat_64 st;
    int rc;

    int need_cur =
        ((set & (MPFS_SET_UID | MPFS_SET_GID)) &&
         (set & (MPFS_SET_UID | MPFS_SET_GID)) != (MPFS_SET_UID | MPFS_SET_GID)) ||
        ((set & (MPFS_SET_MTIME | MPFS_SET_ATIME)) &&
         (set & (MPFS_SET_MTIME | MPFS_SET_ATIME)) != (MPFS_SET_MTIME | MPFS_SET_ATIME));
    if (need_cur) {
        rc = conn_lstat(c, a->full, &st);
        if (rc != 0) {
            return rc;
        }
    }
    if (set & MPFS_SET_SIZE) {
        rc = nfs_truncate(c->nfs, a->full, a->attr->size);
        if (rc < 0) {
            return op_fail(c, rc, "truncate", a->full);
        }
    }
    if (set & MPFS_SET_MODE) {
        rc = nfs_lchmod(c->nfs, a->full, (int)(a->attr->mode & 07777));
        if (rc < 0) {
            return op_fail(c, rc, "chmod", a->full);
        }
    }
    if (set & (MPFS_SET_UID | MPFS_SET_GID)) {
        int uid = (set & MPFS_SET_UID) ? (int)a->attr->uid : (int)st.nfs_uid;
        int gid = (set & MPFS_SET_GID) ? (int)a->attr->gid : (int)st.nfs_gid;
        rc = nfs_lchown(c->nfs, a->full, uid, gid);
        if (rc < 0) {
            return op_fail(c, rc, "chown", a->full);
        }
    }
    if (set & (MPFS_SET_MTIME | MPFS_SET_ATIME)) {
        struct timeval tv[2];
        timeval_from_ns(&tv[0], (set & MPFS_SET_ATIME)
                                    ? a->attr->atime_ns
                                    : (int64_t)st.nfs_atime * 1000000000 +
                                          (int64_t)st.nfs_atime_nsec);
        timeval_from_ns(&tv[1], (set & MPFS_SET_MTIME)
                                    ? a->attr->mtime_ns
                                    : (int64_t)st.nfs_mtime * 1000000000 +
                                          (int64_t)st.nfs_mtime_nsec);
        rc = nfs_lutimes(c->nfs, a->full, tv);
        if (rc < 0) {
            return op_fail(c, rc, "utimes", a->full);
        }
    }
    if (a->out) {
        rc = conn_lstat(c, a->full, &st);
        if (rc != 0) {
            return rc;
        }
        attr_from_stat(&st, a->out);
    }
    return 0;
}

static int nfs_op_setattr(struct mpfs_backend *b, const char *path,
                          const struct mpfs_attr *attr, uint32_t to_set,
                          struct mpfs_attr *out)
{
    struct mpfs_nfs_backend *nb = NB(b);
    if (to_set & ~(uint32_t)(MPFS_SET_MODE | MPFS_SET_UID | MPFS_SET_GID | MPFS_SET_SIZE |
                             MPFS_SET_MTIME | MPFS_SET_ATIME)) {
        return -EINVAL;
    }
    if (nb->caps_probed) {
        if ((to_set & MPFS_SET_SIZE) && !(b->caps & MPFS_CAP_TRUNCATE)) {
            return -EOPNOTSUPP;
        }
        if ((to_set & ~(uint32_t)MPFS_SET_SIZE) && !(b->caps & MPFS_CAP_SETATTR)) {
            return -EOPNOTSUPP;
        }
    }
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(nb, path, full);
    struct setattr_args a = {full, attr, to_set, out};
    return mpfs_nfs_pool_run(nb->pool, do_setattr, &a);
}

/* ---- statfs ----------------------------------------------------------- */

struct statfs_args {
    const char *full;
    struct statvfs *out;
};

static int do_statfs(void *conn, void *arg, int attempt)
{
    struct mpfs_nfs_conn *c = conn;
    struct statfs_args *a = arg;
    struct nfs_statvfs_64 sv;
    int rc = nfs_statvfs64(c->nfs, a->full, &sv);
    if (rc < 0) {
        return op_fail(c, rc, "statfs", a->full);
    }
    struct statvfs *o = a->out;
    memset(o, 0, sizeof(*o));
    o->f_bsize = sv.f_bsize;
    o->f_frsize = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
    o->f_blocks = sv.f_blocks;
    o->f_bfree = sv.f_bfree;
    o->f_bavail = sv.f_bavail;
    o->f_files = sv.f_files;
    o->f_ffree = sv.f_ffree;
    o->f_favail = sv.f_favail;
    o->f_fsid = sv.f_fsid;
    o->f_namemax = sv.f_namemax ? sv.f_namemax : 255;
    if (o->f_blocks == 0) {
        /* Object-store views (FSAL_RGW) report no capacity: give the same
         * large synthetic totals as backends without statfs, so df and
         * free-space checks pass. */
        o->f_bsize = o->f_frsize = 4096;
        o->f_blocks = o->f_bfree = o->f_bavail = (1ull << 50) / 4096;
        o->f_files = o->f_ffree = o->f_favail = 1ull << 32;
    }
    return 0;
}

static int nfs_op_statfs(struct mpfs_backend *b, struct statvfs *out)
{
    char full[MPFS_NFS_PATH_MAX];
    FULL_PATH(NB(b), "", full);
    struct statfs_args a = {full, out};
    return mpfs_nfs_pool_run(NB(b)->pool, do_statfs, &a);
}

const struct mpfs_backend_ops mpfs_nfs_ops = {
    .version = MPFS_BACKEND_OPS_VERSION,
    .stat = nfs_op_stat,
    .list = nfs_op_list,
    .read = nfs_op_read,
    .put = nfs_op_put,
    .pwrite = nfs_op_pwrite,
    .remove = nfs_op_remove,
    .rename = nfs_op_rename,
    .mkdir = nfs_op_mkdir,
    .rmdir = nfs_op_rmdir,
    .symlink = nfs_op_symlink,
    .readlink = nfs_op_readlink,
    .link = nfs_op_link,
    .setattr = nfs_op_setattr,
    .statfs = nfs_op_statfs,
    /* NFSv3 has no extended attributes: the xattr slots stay NULL. */
    .destroy = mpfs_nfs_destroy,
    .pwrite_if = nfs_op_pwrite_if,
    .mknod = nfs_op_mknod,
};

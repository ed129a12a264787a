/*
 * nfs_int.h - pieces of the NFS backend shared between its files; not for
 * use outside backends/nfs/ (and its unit tests).
 *
 * The split, one concept per file:
 *   nfs_url.c      URL parsing, export/base-path splitting (pure)
 *   nfs_err.c      libnfs status + error string -> errno (pure, the one map)
 *   nfs_attr.c     attribute conversion, version tokens (pure)
 *   nfs_pool.c     bounded pool of connections + retry-once runner (generic)
 *   nfs_fhcache.c  per-connection LRU of open file handles (generic)
 *   nfs_conn.c     one libnfs context: create, mount, export discovery
 *   nfs_backend.c  open/destroy, the backend struct, namespace generations
 *   nfs_ops.c      the ops table
 *   nfs_read.c     pipelined READ with EOF flag and post-op attributes
 *   nfs_probe.c    capability probing
 * Only nfs_conn.c, nfs_backend.c, nfs_ops.c, nfs_read.c and nfs_probe.c
 * see libnfs;
 * the pure and generic parts are unit-tested without a server.
 */
#ifndef MPFS_BACKENDS_NFS_NFS_INT_H
#define MPFS_BACKENDS_NFS_NFS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/nfs/nfs.h"

#define MPFS_NFS_PATH_MAX 4096
#define MPFS_NFS_HOST_MAX 256

/* ---- nfs_url.c ---------------------------------------------------- */

struct mpfs_nfs_url {
    char host[MPFS_NFS_HOST_MAX]; /* without brackets for IPv6 */
    char path[MPFS_NFS_PATH_MAX]; /* absolute, normalized: "/", "/a/b" */
    int nfsport;                  /* 0: ask the portmapper */
    int mountport;                /* 0: ask the portmapper */
    int version, uid, gid;        /* -1 when the URL does not set them */
};

/* Parse "nfs://host[:port]/path[?arg=val&...]".  The path is percent-
 * decoded and normalized ("//" and trailing "/" collapse; "." and ".."
 * components are refused).  -EINVAL with a reason in err. */
int mpfs_nfs_url_parse(const char *url, struct mpfs_nfs_url *out, char *err,
                       size_t errlen);

/* Index of the longest export that is a whole-component prefix of path
 * ("/a" matches "/a" and "/a/b", not "/ab"; "/" matches everything), or -1. */
int mpfs_nfs_export_match(const char *path, const char *const *exports, size_t n);

/* The part of path below export, without a leading '/': ("/a/b/c", "/a")
 * -> "b/c"; ("/a", "/a") -> ""; ("/x", "/") -> "x".  export must match. */
const char *mpfs_nfs_path_below(const char *path, const char *export);

/* Cut the last component of an absolute normalized path in place:
 * "/a/b" -> "/a", "/a" -> "/".  -ENOENT if path is already "/". */
int mpfs_nfs_path_parent(char *path);

/* Join the base path inside the export and a dataset path into out:
 * ("", "") -> "/" (the export root), ("sub", "") -> "sub", ("sub", "x")
 * -> "sub/x", ("", "x") -> "x".  -ENAMETOOLONG if it does not fit. */
int mpfs_nfs_path_full(const char *base, const char *path, char *out, size_t size);

/* ---- nfs_err.c ---------------------------------------------------- */

/* libnfs returns -errno for NFS status codes, but -EIO stands both for
 * NFS3ERR_IO and for "the connection is gone", some statuses collapse
 * (NFS3ERR_NOTSUPP -> -EINVAL, NFS3ERR_BADHANDLE -> -EIO) and timeouts come
 * back as -EINTR; the error string says which.  Returns a negative errno
 * following backend.h. */
int mpfs_nfs_err_map(int rc, const char *msg);
/* True if rc/msg mean the connection (not the file system) failed, so the
 * context must be thrown away and the call may be retried on a new one. */
int mpfs_nfs_err_is_transport(int rc, const char *msg);
/* True if the errno alone says "no usable connection" (what err_map makes
 * of every transport failure): the failures worth waiting out. */
int mpfs_nfs_errno_is_conn(int rc);

/* ---- nfs_attr.c --------------------------------------------------- */

/* Attributes as libnfs reports them (GETATTR or a READDIRPLUS entry),
 * flattened so the conversion is testable without libnfs. */
struct mpfs_nfs_rawattr {
    uint32_t type; /* NF3REG=1, NF3DIR=2, ..., NF3LNK=5; 0: use mode */
    uint32_t mode; /* permission bits, possibly with S_IFMT bits */
    uint32_t uid, gid, nlink;
    uint64_t size, fileid;
    int64_t atime_ns, mtime_ns, ctime_ns;
    uint64_t rdev; /* as libnfs reports it */
};

/* "m<mtime_ns>.c<ctime_ns>.s<size>" (NFSv3 has no change attribute). */
void mpfs_nfs_version_format(char *buf, size_t size, int64_t mtime_ns, int64_t ctime_ns,
                             uint64_t fsize);
void mpfs_nfs_attr_fill(const struct mpfs_nfs_rawattr *r, struct mpfs_attr *out);

/* ---- nfs_pool.c --------------------------------------------------- */

struct mpfs_nfs_pool_ops {
    /* Make a new connection (may take a round trip or a timeout). */
    int (*create)(void *arg, void **conn);
    void (*destroy)(void *arg, void *conn);
    /* Did a call that returned rc < 0 on conn break the connection? */
    int (*is_broken)(void *arg, void *conn, int rc);
    /* [Optional] Is an idle connection already dead (peer closed it)?
     * Called at checkout, so it must be cheap (a poll with no wait). */
    int (*is_dead)(void *arg, void *conn);
};

/* One call on a connection.  attempt is how many earlier attempts of this
 * call ran on a connection that then broke: 0 the first time; > 0 means
 * an earlier one may have executed on the server (non-idempotent calls use
 * it to read -ENOENT/-EEXIST as "my earlier attempt got through").  Failed
 * reconnects do not count: nothing was sent. */
typedef int (*mpfs_nfs_pool_fn)(void *conn, void *arg, int attempt);

struct mpfs_nfs_pool;

/* size connections at most, created lazily.  Ownership of first (may be
 * NULL) passes to the pool as its first idle connection. */
struct mpfs_nfs_pool *mpfs_nfs_pool_new(unsigned size,
                                        const struct mpfs_nfs_pool_ops *ops, void *arg,
                                        void *first);
/* Destroys the idle connections; all must have been returned. */
void mpfs_nfs_pool_free(struct mpfs_nfs_pool *p);

/* Check a connection out (blocking while all are busy); 0 or the error of
 * create().  Idle connections are reused most-recent first so their handle
 * caches stay warm. */
int mpfs_nfs_pool_get(struct mpfs_nfs_pool *p, void **conn);
/* Check it back in; broken != 0 destroys it (outside the lock). */
void mpfs_nfs_pool_put(struct mpfs_nfs_pool *p, void *conn, int broken);

/* get + fn + put; if fn fails and is_broken() says the connection broke,
 * destroy it and run fn once more on a newly created one (bounded:
 * max_retries, default 1).  Returns fn's result, or create()'s error when
 * no connection could be made. */
int mpfs_nfs_pool_run(struct mpfs_nfs_pool *p, mpfs_nfs_pool_fn fn, void *arg);
void mpfs_nfs_pool_set_retries(struct mpfs_nfs_pool *p, int max_retries);
/* budget_ms > 0: retry broken calls and failed reconnects with backoff
 * until budget_ms after the call began (max_retries is then unused), and
 * fail -ETIMEDOUT when it is spent; 0: back to counting retries. */
void mpfs_nfs_pool_set_budget(struct mpfs_nfs_pool *p, int budget_ms);

/* Counters, for tests and the log line at destroy. */
struct mpfs_nfs_pool_stats {
    uint64_t created, destroyed, broken, retries, waits;
    unsigned live, idle;
};
void mpfs_nfs_pool_get_stats(struct mpfs_nfs_pool *p, struct mpfs_nfs_pool_stats *out);
/* Call fn on every idle connection (under the pool lock: fn must be quick
 * and must not call back into the pool). */
void mpfs_nfs_pool_for_idle(struct mpfs_nfs_pool *p, void (*fn)(void *arg, void *conn),
                            void *arg);

/* ---- nfs_fhcache.c ------------------------------------------------ */

/* A tiny LRU of open read handles, keyed by path, for one connection (so
 * no lock: only the thread holding the connection touches it).  An entry
 * is valid while its namespace generation matches and it is younger than
 * ttl; otherwise get() closes and drops it. */
struct mpfs_nfs_fhcache;

struct mpfs_nfs_fhcache *mpfs_nfs_fhcache_new(unsigned cap, int64_t ttl_ns,
                                              void (*close_fn)(void *ctx, void *fh),
                                              void *ctx);
/* Closes every handle.  free(NULL) is a no-op. */
void mpfs_nfs_fhcache_free(struct mpfs_nfs_fhcache *c);
void *mpfs_nfs_fhcache_get(struct mpfs_nfs_fhcache *c, const char *path, uint64_t gen,
                           int64_t now_ns);
/* Takes ownership of fh (closing the least recently used entry if full). */
void mpfs_nfs_fhcache_add(struct mpfs_nfs_fhcache *c, const char *path, void *fh,
                          uint64_t gen, int64_t now_ns);
/* Close and forget the handle of path, if any. */
void mpfs_nfs_fhcache_drop(struct mpfs_nfs_fhcache *c, const char *path);
unsigned mpfs_nfs_fhcache_count(const struct mpfs_nfs_fhcache *c);

/* ---- nfs_conn.c --------------------------------------------------- */

/* Where to connect, resolved once at open. */
struct mpfs_nfs_target {
    char host[MPFS_NFS_HOST_MAX];
    char export[MPFS_NFS_PATH_MAX]; /* as the server names it: "/testbucket" */
    char base[MPFS_NFS_PATH_MAX];   /* inside the export: "" or "sub/dir" */
    int nfsport, mountport;
    int uid, gid;
    int timeout_ms;
    int64_t handle_ttl_ns;
};

struct nfs_context;
struct mpfs_nfs_conn {
    struct nfs_context *nfs;
    struct mpfs_nfs_fhcache *fhc;
    uint64_t readmax, writemax;
    int broken; /* set by the op that saw the transport fail */
};

/* A new context, mounted.  On failure -errno and a one-line reason. */
int mpfs_nfs_conn_new(const struct mpfs_nfs_target *t, struct mpfs_nfs_conn **out,
                      char *err, size_t errlen);
void mpfs_nfs_conn_free(struct mpfs_nfs_conn *c);
/* The context's last error string (never NULL). */
const char *mpfs_nfs_conn_error(const struct mpfs_nfs_conn *c);

/* Resolve url (export discovery) and mount the first connection. */
int mpfs_nfs_connect(const struct mpfs_nfs_url *u, const struct mpfs_nfs_config *cfg,
                     struct mpfs_nfs_target *t, struct mpfs_nfs_conn **first, char *err,
                     size_t errlen);

/* ---- nfs_read.c --------------------------------------------------- */

struct nfsfh;
struct mpfs_nfs_read_result {
    size_t done;     /* contiguous bytes from the start of the request */
    int eof;         /* the server said end of file where they end */
    int short_piece; /* a piece came back short without EOF: read on */
    int has_attr;    /* attr holds post-op attributes of the last piece */
    struct mpfs_nfs_rawattr attr;
    int mixed;     /* pieces saw different (mtime, ctime, size) */
    char msg[160]; /* on transport failure: what happened */
};

/* Read [off, off+len) of fh with pipelined READ3 calls (at most rsize
 * each).  0 (see res) or -errno; on a transport failure the connection is
 * marked broken. */
int mpfs_nfs_raw_read(struct mpfs_nfs_conn *c, struct nfsfh *fh, char *buf, size_t len,
                      uint64_t off, int timeout_ms, struct mpfs_nfs_read_result *res);
struct mpfs_nfs_write_result {
    size_t done;    /* bytes written */
    int conflict;   /* a WRITE found the file at another version than expected */
    int no_pre;     /* a reply lacked the before-attributes: unchecked */
    int has_attr;   /* attr: the file after the last WRITE */
    struct mpfs_nfs_rawattr attr;
    char msg[256];
};

/* Write [off, off+len) of fh in FILE_SYNC WRITE3 calls (at most wsize
 * each), one at a time, checking each reply's pre-op attributes against
 * the version expected ("m<mtime>.c<ctime>.s<size>": expect for the first,
 * the previous reply's post-op attributes for the next).  0, -ESTALE when
 * a WRITE landed on another version (res->conflict; the bytes ARE
 * written), or -errno; on a transport failure the connection is marked
 * broken. */
int mpfs_nfs_raw_write_if(struct mpfs_nfs_conn *c, struct nfsfh *fh, const char *buf, size_t len,
                          uint64_t off, const char *expect, int timeout_ms,
                          struct mpfs_nfs_write_result *res);
/* Check that nfs_get_fh()'s private layout is what nfs_read.c assumes, with
 * a raw GETATTR of directory dir.  0 if raw reads can be used. */
int mpfs_nfs_raw_selftest(struct mpfs_nfs_conn *c, const char *dir, int timeout_ms);

/* ---- nfs_backend.c / nfs_ops.c ------------------------------------ */

#define MPFS_NFS_GEN_BUCKETS 256

struct mpfs_nfs_backend {
    struct mpfs_backend base; /* first */
    struct mpfs_nfs_target target;
    struct mpfs_nfs_pool *pool;
    size_t readmax, writemax;
    /* Namespace generations: remove bumps the bucket of the path, rename
     * and rmdir bump the global one (whole subtrees move).  A cached
     * handle remembers global + bucket at open; any change invalidates
     * it in every connection without touching them. */
    _Atomic uint64_t gen_global;
    _Atomic uint64_t gen_bucket[MPFS_NFS_GEN_BUCKETS];
    /* Set once caps were measured: ops the export cannot do then fail
     * -EOPNOTSUPP up front instead of half-succeeding (the RGW view
     * acknowledges a truncate and ignores it). */
    _Atomic int caps_probed;
    /* READ through nfs_read.c (EOF flag, post-op attributes, pipelining);
     * off if the handle-layout self-test failed: plain nfs_pread(). */
    int raw_read;
    _Atomic int64_t last_reconnect_log_ns;
    _Atomic int debug_no_idle_check; /* tests: let a cut connection be used */
    /* WRITE replies to pwrite_if without pre-op attributes (the probe's
     * MPFS_CAP_COND_PWRITE test reads it) */
    _Atomic uint64_t wcc_pre_missing;
};

extern const struct mpfs_backend_ops mpfs_nfs_ops;
/* The destroy slot (nfs_backend.c, next to open). */
void mpfs_nfs_destroy(struct mpfs_backend *b);

uint64_t mpfs_nfs_gen(struct mpfs_nfs_backend *nb, const char *full);
void mpfs_nfs_gen_bump_path(struct mpfs_nfs_backend *nb, const char *full);
void mpfs_nfs_gen_bump_all(struct mpfs_nfs_backend *nb);

/* Test hook: shut down the socket of every idle connection, as a server
 * restart would, so the reconnect path can be exercised against a live
 * server without restarting it.  check_at_checkout = 0 also disables the
 * idle-connection health check, so the next call really sends into the
 * dead socket and goes through the retry path.  Returns how many were cut. */
int mpfs_nfs_debug_cut_idle(struct mpfs_backend *b, int check_at_checkout);
/* Test hook: the pool's counters. */
void mpfs_nfs_debug_pool_stats(struct mpfs_backend *b, struct mpfs_nfs_pool_stats *out);

#endif

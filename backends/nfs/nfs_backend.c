/*
 * nfs_backend.c - open and destroy the NFS backend; namespace generations;
 * the glue between the connection pool and libnfs contexts.
 *
 * Lifecycle: mpfs_nfs_open() parses the URL, finds and mounts the export
 * with the first context (nfs_conn.c), hands that context to the pool,
 * then measures the capabilities (nfs_probe.c).  Further contexts are
 * mounted lazily by the pool when calls run in parallel, and re-mounted
 * when one breaks.
 *
 * Namespace generations (for the per-connection handle caches): a handle
 * cached for path P stays valid while global + bucket[hash(P)] has not
 * moved.  remove(P) bumps P's bucket; rename and rmdir bump the global
 * counter because they move or drop whole subtrees.  Counters only grow,
 * so a sum that is unchanged means neither moved.  Atomics, no lock: a
 * reader racing a bump either sees the old value (and its handle is
 * checked again at the next call) or the new one.
 *
 * Locking: the pool's mutex (nfs_pool.c) is the only lock; connections
 * are owned by one thread between checkout and return.
 */
#include "backends/nfs/nfs_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <nfsc/libnfs.h>

#include "base/log.h"
#include "base/util.h"

#define POOL_MAX 64

/* What a fully POSIX export can do; used when probing is turned off. */
#define NFS_CAPS_POSIX                                                                   \
    (MPFS_CAP_PWRITE | MPFS_CAP_RENAME_ATOMIC | MPFS_CAP_RENAME_DIR |                    \
     MPFS_CAP_HARDLINK | MPFS_CAP_SYMLINK | MPFS_CAP_SETATTR | MPFS_CAP_TRUNCATE |       \
     MPFS_CAP_EMPTY_DIRS)

void mpfs_nfs_config_defaults(struct mpfs_nfs_config *c)
{
    memset(c, 0, sizeof(*c));
    c->pool_size = 4;
    c->timeout_ms = 10000;
    c->uid = (int)geteuid();
    c->gid = (int)getegid();
    c->version = 3;
    c->probe = 1;
    c->handle_ttl_ms = 3000;
}

/* ---- namespace generations ------------------------------------------- */

static unsigned bucket_of(const char *full)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)full; *p; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return h % MPFS_NFS_GEN_BUCKETS;
}

uint64_t mpfs_nfs_gen(struct mpfs_nfs_backend *nb, const char *full)
{
    return atomic_load(&nb->gen_global) + atomic_load(&nb->gen_bucket[bucket_of(full)]);
}

void mpfs_nfs_gen_bump_path(struct mpfs_nfs_backend *nb, const char *full)
{
    atomic_fetch_add(&nb->gen_bucket[bucket_of(full)], 1);
}

void mpfs_nfs_gen_bump_all(struct mpfs_nfs_backend *nb)
{
    atomic_fetch_add(&nb->gen_global, 1);
}

/* ---- pool glue -------------------------------------------------------- */

static int pool_create(void *arg, void **conn)
{
    struct mpfs_nfs_backend *nb = arg;
    char err[512];
    struct mpfs_nfs_conn *c = NULL;
    int rc = mpfs_nfs_conn_new(&nb->target, &c, err, sizeof(err));
    if (rc != 0) {
        /* At most one line per second: every caller hits this while the
         * server is down. */
        int64_t now = mpfs_now_ns();
        int64_t last = atomic_load(&nb->last_reconnect_log_ns);
        if (now - last > 1000000000 &&
            atomic_compare_exchange_strong(&nb->last_reconnect_log_ns, &last, now)) {
            mpfs_warn("nfs: cannot open a connection to %s: %s", nb->base.desc, err);
        }
        return rc;
    }
    *conn = c;
    return 0;
}

static void pool_destroy(void *arg, void *conn)
{
    mpfs_nfs_conn_free(conn);
}

static int pool_is_broken(void *arg, void *conn, int rc)
{
    struct mpfs_nfs_conn *c = conn;
    return c->broken;
}

/* An idle NFSv3 connection has nothing to read: readable or hung up means
 * the server closed it (restart, idle timeout). */
static int pool_is_dead(void *arg, void *conn)
{
    struct mpfs_nfs_backend *nb = arg;
    struct mpfs_nfs_conn *c = conn;
    if (nb->debug_no_idle_check) {
        return 0;
    }
    struct pollfd pfd = {.fd = nfs_get_fd(c->nfs), .events = POLLIN};
    if (pfd.fd < 0) {
        return 1;
    }
    return poll(&pfd, 1, 0) > 0;
}

static const struct mpfs_nfs_pool_ops pool_ops = {
    .create = pool_create,
    .destroy = pool_destroy,
    .is_broken = pool_is_broken,
    .is_dead = pool_is_dead,
};

/* ---- open / destroy --------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) {
        snprintf(err, errlen, "%s", msg);
    }
}

int mpfs_nfs_open(const struct mpfs_nfs_config *cfg, struct mpfs_backend **out, char *err,
                  size_t errlen)
{
    char why[1024];
    *out = NULL;
    if (!cfg || !cfg->url) {
        set_err(err, errlen, "no NFS URL given");
        return -EINVAL;
    }
    if (cfg->pool_size < 1 || cfg->pool_size > POOL_MAX) {
        snprintf(why, sizeof(why), "NFS pool size %d out of range 1..%d", cfg->pool_size,
                 POOL_MAX);
        set_err(err, errlen, why);
        return -EINVAL;
    }

    struct mpfs_nfs_url u;
    int rc = mpfs_nfs_url_parse(cfg->url, &u, why, sizeof(why));
    if (rc != 0) {
        set_err(err, errlen, why);
        return rc;
    }
    int version = u.version >= 0 ? u.version : cfg->version;
    if (version == 4) {
        set_err(err, errlen,
                "NFSv4 is not supported: libnfs 4.0 fails NFSv4 writes larger "
                "than about 2 KB (write max 0 after a v4 mount); use NFSv3");
        return -EOPNOTSUPP;
    }
    if (version != 3) {
        snprintf(why, sizeof(why), "NFS version %d is not supported (use 3)", version);
        set_err(err, errlen, why);
        return -EINVAL;
    }

    struct mpfs_nfs_backend *nb = mpfs_xcalloc(1, sizeof(*nb));
    struct mpfs_nfs_conn *first = NULL;
    rc = mpfs_nfs_connect(&u, cfg, &nb->target, &first, why, sizeof(why));
    if (rc != 0) {
        set_err(err, errlen, why);
        free(nb);
        return rc;
    }

    /* The raw READ path needs libnfs' private handle layout: check it. */
    rc = mpfs_nfs_raw_selftest(first, nb->target.base[0] ? nb->target.base : "/",
                               nb->target.timeout_ms);
    if (rc == -ETIMEDOUT) {
        snprintf(why, sizeof(why), "NFS server %s did not answer within %d ms", u.host,
                 nb->target.timeout_ms);
        set_err(err, errlen, why);
        mpfs_nfs_conn_free(first);
        free(nb);
        return rc;
    }
    nb->raw_read = rc == 0;
    if (!nb->raw_read) {
        mpfs_warn("nfs: libnfs file handle layout not as expected (libnfs other "
                  "than 4.0?): reading through nfs_pread(), no pinned reads");
    }

    nb->base.ops = &mpfs_nfs_ops;
    nb->base.kind = "nfs";
    nb->readmax = (size_t)first->readmax;
    nb->writemax = (size_t)first->writemax;
    nb->base.io_size = nb->readmax;
    /* libnfs resolves base + "/" + path from a buffer of this size (FULL_PATH) */
    size_t blen = strlen(nb->target.base);
    nb->base.path_max = MPFS_NFS_PATH_MAX - 2 - blen;
    char *desc = mpfs_xasprintf("nfs://%s%s%s%s", u.host, nb->target.export,
                                nb->target.base[0] ? "/" : "", nb->target.base);
    size_t dlen = MPFS_MIN(strlen(desc), sizeof(nb->base.desc) - 1);
    memcpy(nb->base.desc, desc, dlen); /* long paths: truncated, for logs */
    nb->base.desc[dlen] = '\0';
    free(desc);
    nb->pool = mpfs_nfs_pool_new((unsigned)cfg->pool_size, &pool_ops, nb, first);
    /* Ride out a server restart: retry within the request timeout. */
    mpfs_nfs_pool_set_budget(nb->pool, nb->target.timeout_ms);

    if (cfg->probe) {
        uint32_t caps = 0;
        rc = mpfs_nfs_probe_caps(&nb->base, &caps);
        if (rc != 0) {
            mpfs_warn("nfs: %s: capability probe failed (%s): treating the "
                      "export as read-only",
                      nb->base.desc, strerror(-rc));
        }
    } else {
        /* (MPFS_CAP_COND_PWRITE needs the server's help: probed only) */
        nb->base.caps = NFS_CAPS_POSIX | (nb->raw_read ? MPFS_CAP_PINNED_READ : 0);
    }
    char caps[256];
    mpfs_backend_caps_str(nb->base.caps, caps, sizeof(caps));
    mpfs_info("nfs: mounted %s (export %s, base '%s', NFSv3, pool %d, rsize %zu, "
              "wsize %zu, timeout %d ms, uid %d gid %d) caps %s%s",
              nb->base.desc, nb->target.export, nb->target.base, cfg->pool_size,
              nb->readmax, nb->writemax, nb->target.timeout_ms, nb->target.uid,
              nb->target.gid, caps[0] ? caps : "none",
              cfg->probe ? " (probed)" : " (declared)");
    *out = &nb->base;
    return 0;
}

void mpfs_nfs_destroy(struct mpfs_backend *b)
{
    struct mpfs_nfs_backend *nb = (struct mpfs_nfs_backend *)b;
    struct mpfs_nfs_pool_stats st;
    mpfs_nfs_pool_get_stats(nb->pool, &st);
    mpfs_debug("nfs: closing %s: %llu connections made, %llu broken, %llu "
               "retries, %llu waits",
               b->desc, (unsigned long long)st.created, (unsigned long long)st.broken,
               (unsigned long long)st.retries, (unsigned long long)st.waits);
    mpfs_nfs_pool_free(nb->pool);
    free(nb);
}

/* ---- test hooks ------------------------------------------------------- */

static void cut_one(void *arg, void *conn)
{
    struct mpfs_nfs_conn *c = conn;
    int *n = arg;
    int fd = nfs_get_fd(c->nfs);
    if (fd >= 0 && shutdown(fd, SHUT_RDWR) == 0) {
        (*n)++;
    }
}

int mpfs_nfs_debug_cut_idle(struct mpfs_backend *b, int check_at_checkout)
{
    struct mpfs_nfs_backend *nb = (struct mpfs_nfs_backend *)b;
    int n = 0;
    nb->debug_no_idle_check = !check_at_checkout;
    mpfs_nfs_pool_for_idle(nb->pool, cut_one, &n);
    return n;
}

void mpfs_nfs_debug_pool_stats(struct mpfs_backend *b, struct mpfs_nfs_pool_stats *out)
{
    struct mpfs_nfs_backend *nb = (struct mpfs_nfs_backend *)b;
    mpfs_nfs_pool_get_stats(nb->pool, out);
}

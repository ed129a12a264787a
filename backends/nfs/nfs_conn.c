/*
 * nfs_conn.c - one libnfs context ("connection"): create, mount, free; and
 * the one-time discovery of which prefix of the URL path is the export.
 *
 * Every context of a backend mounts the same export with the same
 * settings: RPC timeout (so no call can hang), AUTH_SYS uid/gid, umask 0
 * (modes we pass are the modes we get), directory cache off (libnfs would
 * otherwise answer lookups from READDIRPLUS results of unknown age: the
 * index above us is the cache, this layer reports the server), libnfs'
 * own auto-reconnect off (a dead connection must fail fast so the pool
 * can replace it and retry the call once, instead of libnfs retrying
 * inside a call while the caller waits).
 *
 * Export discovery: a URL may name a directory below an export
 * (nfs://h/testbucket/sub).  MOUNT of the full path is tried first; if the
 * server refuses it, the export list (MOUNT EXPORT, bounded by the
 * timeout) gives the longest export that is a prefix of the path, and the
 * rest becomes the base path inside it.  Servers that hide their export
 * list are handled by walking up the path one component at a time.
 *
 * Failures become one line a person can act on: "cannot reach NFS server
 * H (port 111): Connection refused", "NFS export /x not found on H
 * (exports: /a, /b)", "path 'sub' not found in NFS export /a on H".  For
 * transport failures a plain TCP connect to the port libnfs would have
 * used tells refused from unreachable from timed out, which libnfs' own
 * text ("nfs_service failed") does not.
 *
 * No shared state: a connection is used by one thread at a time (the
 * pool's job); discovery runs once, in open.
 */
#include "backends/nfs/nfs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* libnfs.h first: the raw headers use its definitions. */
#include <nfsc/libnfs.h>

#include <nfsc/libnfs-raw.h>

#include <nfsc/libnfs-raw-mount.h>

#include "base/log.h"
#include "base/util.h"

#define PORTMAPPER_PORT 111
#define FHCACHE_ENTRIES 8

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *ctx_error(struct nfs_context *nfs)
{
    const char *e = nfs ? nfs_get_error(nfs) : NULL;
    return e ? e : "";
}

const char *mpfs_nfs_conn_error(const struct mpfs_nfs_conn *c)
{
    return ctx_error(c->nfs);
}

/* libnfs takes whole seconds (it documents "units of 1000"). */
static int timeout_rounded(int ms)
{
    if (ms <= 0) {
        return 1000;
    }
    return (ms + 999) / 1000 * 1000;
}

/* ---- diagnostics ---------------------------------------------------- */

/* A plain TCP connect to host:port within timeout_ms: 0 or -errno.  Used
 * only to explain a failure libnfs reported vaguely. */
static int tcp_probe(const char *host, int port, int timeout_ms)
{
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        return -EHOSTUNREACH;
    }
    int rc = -EHOSTUNREACH;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        a->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            rc = 0;
        } else if (errno != EINPROGRESS) {
            rc = -errno;
        } else {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int n = poll(&pfd, 1, timeout_ms);
            if (n == 0) {
                rc = -ETIMEDOUT;
            } else if (n < 0) {
                rc = -errno;
            } else {
                int soerr = 0;
                socklen_t len = sizeof(soerr);
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
                rc = soerr ? -soerr : 0;
            }
        }
        close(fd);
        if (rc == 0) {
            break;
        }
    }
    freeaddrinfo(ai);
    return rc;
}

/* Turn a failed mount into (errno, one line).  Transport-level failures
 * are re-diagnosed with a TCP probe of the port libnfs would talk to. */
static int explain_mount_failure(const struct mpfs_nfs_target *t, const char *export,
                                 int rc, const char *msg, char *err, size_t errlen)
{
    int mapped = mpfs_nfs_err_map(rc, msg);
    if (mapped == -ETIMEDOUT) {
        set_err(err, errlen,
                "NFS server %s did not answer within %d s while mounting %s "
                "(%s)",
                t->host, timeout_rounded(t->timeout_ms) / 1000, export, msg);
        return -ETIMEDOUT;
    }
    if (mpfs_nfs_err_is_transport(rc, msg) || rc == -1) {
        int port = t->mountport ? t->mountport : PORTMAPPER_PORT;
        const char *what = t->mountport ? "MOUNT port" : "portmapper port";
        int prc = tcp_probe(t->host, port, MPFS_MIN(t->timeout_ms, 3000));
        if (prc == 0 && t->nfsport && t->nfsport != port) {
            port = t->nfsport;
            what = "NFS port";
            prc = tcp_probe(t->host, port, MPFS_MIN(t->timeout_ms, 3000));
        }
        if (prc != 0) {
            set_err(err, errlen, "cannot reach NFS server %s (%s %d): %s", t->host, what,
                    port, strerror(-prc));
            return prc == -ETIMEDOUT ? -ETIMEDOUT : prc;
        }
        set_err(err, errlen, "cannot reach NFS server %s: %s", t->host,
                msg[0] ? msg : strerror(-mapped));
        return mapped == -EIO ? -ENOTCONN : mapped;
    }
    set_err(err, errlen, "NFS server %s refused to mount %s: %s (%s)", t->host, export,
            strerror(-mapped), msg);
    return mapped;
}

/* ---- one connection --------------------------------------------------- */

static void close_handle(void *ctx, void *fh)
{
    /* Read handles only: nfs_close() sends nothing (no COMMIT). */
    nfs_close(ctx, fh);
}

/* Ports without the portmapper: libnfs 4.0 exposes no setter, only the
 * URL arguments, so feed it a URL that carries nothing else. */
static int apply_ports(struct nfs_context *nfs, const struct mpfs_nfs_target *t)
{
    if (!t->nfsport && !t->mountport) {
        return 0;
    }
    char url[512];
    int n;
    if (t->nfsport && t->mountport) {
        n = snprintf(url, sizeof(url), "nfs://localhost/?nfsport=%d&mountport=%d",
                     t->nfsport, t->mountport);
    } else if (t->nfsport) {
        n = snprintf(url, sizeof(url), "nfs://localhost/?nfsport=%d", t->nfsport);
    } else {
        n = snprintf(url, sizeof(url), "nfs://localhost/?mountport=%d", t->mountport);
    }
    if (n < 0 || (size_t)n >= sizeof(url)) {
        return -EINVAL;
    }
    struct nfs_url *u = nfs_parse_url_dir(nfs, url);
    if (!u) {
        return -EINVAL;
    }
    nfs_destroy_url(u);
    return 0;
}

/* A context configured per the target, mounted on export. */
static int conn_mount(const struct mpfs_nfs_target *t, const char *export,
                      struct mpfs_nfs_conn **out, char *err, size_t errlen)
{
    struct nfs_context *nfs = nfs_init_context();
    if (!nfs) {
        set_err(err, errlen, "cannot create an NFS context (out of memory)");
        return -ENOMEM;
    }
    if (apply_ports(nfs, t) != 0) {
        nfs_destroy_context(nfs);
        set_err(err, errlen, "cannot set NFS ports %d/%d", t->nfsport, t->mountport);
        return -EINVAL;
    }
    nfs_set_version(nfs, 3);
    nfs_set_timeout(nfs, timeout_rounded(t->timeout_ms));
    /* A SYN to a black-holed host is retried for minutes by default. */
    nfs_set_tcp_syncnt(nfs, t->timeout_ms <= 8000 ? 2 : 3);
    nfs_set_uid(nfs, t->uid);
    nfs_set_gid(nfs, t->gid);
    nfs_set_dircache(nfs, 0);
    nfs_set_autoreconnect(nfs, 0);
    nfs_umask(nfs, 0);

    int rc = nfs_mount(nfs, t->host, export);
    if (rc != 0) {
        rc = explain_mount_failure(t, export, rc, ctx_error(nfs), err, errlen);
        nfs_destroy_context(nfs);
        return rc;
    }
    /* Mounting re-enables what it disabled for itself; make sure a broken
     * session fails back to us instead of retrying inside a call. */
    nfs_set_autoreconnect(nfs, 0);

    struct mpfs_nfs_conn *c = mpfs_xcalloc(1, sizeof(*c));
    c->nfs = nfs;
    c->readmax = nfs_get_readmax(nfs);
    c->writemax = nfs_get_writemax(nfs);
    if (c->readmax == 0 || c->writemax == 0) {
        /* libnfs 4.0 after a v4 mount; never expected for v3. */
        set_err(err, errlen,
                "NFS server %s reports a transfer size of 0 (read %llu, write "
                "%llu)",
                t->host, (unsigned long long)c->readmax, (unsigned long long)c->writemax);
        nfs_destroy_context(nfs);
        free(c);
        return -EPROTO;
    }
    c->fhc = mpfs_nfs_fhcache_new(FHCACHE_ENTRIES, t->handle_ttl_ns, close_handle, nfs);
    *out = c;
    return 0;
}

int mpfs_nfs_conn_new(const struct mpfs_nfs_target *t, struct mpfs_nfs_conn **out,
                      char *err, size_t errlen)
{
    return conn_mount(t, t->export, out, err, errlen);
}

void mpfs_nfs_conn_free(struct mpfs_nfs_conn *c)
{
    if (!c) {
        return;
    }
    mpfs_nfs_fhcache_free(c->fhc);
    /* No UMNT: it costs a round trip per context (or a timeout when the
     * server is gone) and servers do not depend on it. */
    nfs_destroy_context(c->nfs);
    free(c);
}

/* ---- export discovery ------------------------------------------------- */

struct export_req {
    int done;
    int status;
    char **dirs;
    size_t n;
    char msg[256];
};

static void export_connect_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
    struct export_req *r = priv;
    r->done = 1;
    r->status = status;
    if (status != RPC_STATUS_SUCCESS) {
        snprintf(r->msg, sizeof(r->msg), "%s",
                 data ? (const char *)data : "connect failed");
    }
}

static void export_list_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
    struct export_req *r = priv;
    r->done = 1;
    r->status = status;
    if (status != RPC_STATUS_SUCCESS) {
        snprintf(r->msg, sizeof(r->msg), "%s",
                 data ? (const char *)data : "EXPORT call failed");
        return;
    }
    /* The list lives in the reply buffer: copy it out now.  libnfs' decoder
     * packs the nodes without alignment, so each is copied before use. */
    exports e = NULL;
    if (data) {
        memcpy(&e, data, sizeof(e));
    }
    while (e) {
        struct exportnode node;
        memcpy(&node, e, sizeof(node));
        r->dirs = mpfs_xrealloc(r->dirs, (r->n + 1) * sizeof(char *));
        r->dirs[r->n++] = mpfs_xstrdup(node.ex_dir ? node.ex_dir : "");
        e = node.ex_next;
    }
}

/* Drive rpc until *done or the deadline; 0 or -ETIMEDOUT / -ENOTCONN. */
static int rpc_wait(struct rpc_context *rpc, const int *done, int64_t deadline)
{
    while (!*done) {
        int64_t left_ms = (deadline - mpfs_now_ns()) / 1000000;
        if (left_ms <= 0) {
            return -ETIMEDOUT;
        }
        struct pollfd pfd = {.fd = rpc_get_fd(rpc),
                             .events = (short)rpc_which_events(rpc)};
        if (pfd.fd < 0) {
            return -ENOTCONN;
        }
        int n = poll(&pfd, 1, (int)MPFS_MIN(left_ms, 100));
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        if (rpc_service(rpc, n > 0 ? pfd.revents : 0) < 0) {
            return -ENOTCONN;
        }
    }
    return 0;
}

static void free_dirs(char **dirs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(dirs[i]);
    }
    free(dirs);
}

/* The server's export list (MOUNT EXPORT), bounded by timeout_ms. */
static int list_exports(const struct mpfs_nfs_target *t, char ***dirs, size_t *n)
{
    struct rpc_context *rpc = rpc_init_context();
    if (!rpc) {
        return -ENOMEM;
    }
    int64_t deadline = mpfs_now_ns() + (int64_t)timeout_rounded(t->timeout_ms) * 1000000;
    struct export_req r = {0};
    int rc;
    if (t->mountport) {
        rc = rpc_connect_port_async(rpc, t->host, t->mountport, MOUNT_PROGRAM, MOUNT_V3,
                                    export_connect_cb, &r);
    } else {
        rc = rpc_connect_program_async(rpc, t->host, MOUNT_PROGRAM, MOUNT_V3,
                                       export_connect_cb, &r);
    }
    if (rc != 0) {
        rc = -ENOTCONN;
        goto out_destroy;
    }
    rc = rpc_wait(rpc, &r.done, deadline);
    if (rc == 0 && r.status != RPC_STATUS_SUCCESS) {
        rc = -ENOTCONN;
    }
    if (rc != 0) {
        goto out_destroy;
    }
    r.done = 0;
    if (rpc_mount3_export_async(rpc, export_list_cb, &r) != 0) {
        rc = -EIO;
        goto out_destroy;
    }
    rc = rpc_wait(rpc, &r.done, deadline);
    if (rc == 0 && r.status != RPC_STATUS_SUCCESS) {
        rc = -EIO;
    }
out_destroy:
    rpc_destroy_context(rpc);
    if (rc != 0) {
        mpfs_debug("nfs: export list of %s unavailable: %s", t->host,
                   r.msg[0] ? r.msg : strerror(-rc));
        free_dirs(r.dirs, r.n);
        return rc;
    }
    *dirs = r.dirs;
    *n = r.n;
    return 0;
}

static void join_dirs(char **dirs, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int k = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", dirs[i]);
        if (k < 0) {
            break;
        }
        used += (size_t)k;
    }
    if (n == 0) {
        snprintf(buf, size, "none");
    }
}

/* Mount the export that holds u->path; fills t->export and t->base. */
static int discover_and_mount(const struct mpfs_nfs_url *u, struct mpfs_nfs_target *t,
                              struct mpfs_nfs_conn **first, char *err, size_t errlen)
{
    /* 1. The whole path is an export (the common case). */
    char why[512];
    int rc = conn_mount(t, u->path, first, why, sizeof(why));
    if (rc == 0) {
        snprintf(t->export, sizeof(t->export), "%s", u->path);
        t->base[0] = '\0';
        return 0;
    }
    if (rc != -EACCES && rc != -ENOENT && rc != -EPERM && rc != -ENOTDIR &&
        rc != -EINVAL) {
        /* The server is not there (or not answering): no use asking for
         * its export list. */
        set_err(err, errlen, "%s", why);
        return rc;
    }

    /* 2. The export list names the export holding the path. */
    char **dirs = NULL;
    size_t n = 0;
    if (list_exports(t, &dirs, &n) == 0) {
        int idx = mpfs_nfs_export_match(u->path, (const char *const *)dirs, n);
        char all[1024];
        join_dirs(dirs, n, all, sizeof(all));
        if (idx < 0) {
            set_err(err, errlen, "NFS export %s not found on %s (exports: %s)", u->path,
                    t->host, all);
            free_dirs(dirs, n);
            return -ENOENT;
        }
        snprintf(t->export, sizeof(t->export), "%s", dirs[idx]);
        free_dirs(dirs, n);
        size_t el = strlen(t->export);
        while (el > 1 && t->export[el - 1] == '/') {
            t->export[--el] = '\0';
        }
        if (strcmp(t->export, u->path) == 0) {
            /* Listed, yet refused: a real permission problem. */
            set_err(err, errlen, "%s", why);
            return rc;
        }
        snprintf(t->base, sizeof(t->base), "%s", mpfs_nfs_path_below(u->path, t->export));
        return conn_mount(t, t->export, first, err, errlen);
    }

    /* 3. No list: walk up until a prefix mounts. */
    char path[MPFS_NFS_PATH_MAX];
    snprintf(path, sizeof(path), "%s", u->path);
    while (mpfs_nfs_path_parent(path) == 0) {
        char why2[512];
        int rc2 = conn_mount(t, path, first, why2, sizeof(why2));
        if (rc2 == 0) {
            snprintf(t->export, sizeof(t->export), "%s", path);
            snprintf(t->base, sizeof(t->base), "%s", mpfs_nfs_path_below(u->path, path));
            return 0;
        }
        if (rc2 != -EACCES && rc2 != -ENOENT && rc2 != -EPERM && rc2 != -ENOTDIR &&
            rc2 != -EINVAL) {
            set_err(err, errlen, "%s", why2);
            return rc2;
        }
    }
    set_err(err, errlen, "NFS export %s not found on %s (%s)", u->path, t->host, why);
    return -ENOENT;
}

int mpfs_nfs_connect(const struct mpfs_nfs_url *u, const struct mpfs_nfs_config *cfg,
                     struct mpfs_nfs_target *t, struct mpfs_nfs_conn **first, char *err,
                     size_t errlen)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->host, sizeof(t->host), "%s", u->host);
    t->nfsport = u->nfsport;
    t->mountport = u->mountport;
    t->uid = u->uid >= 0 ? u->uid : cfg->uid;
    t->gid = u->gid >= 0 ? u->gid : cfg->gid;
    t->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
    t->handle_ttl_ns =
        (int64_t)(cfg->handle_ttl_ms >= 0 ? cfg->handle_ttl_ms : 3000) * 1000000;

    int rc = discover_and_mount(u, t, first, err, errlen);
    if (rc != 0) {
        return rc;
    }

    /* The base path must be a directory inside the export. */
    if (t->base[0] != '\0') {
        struct nfs_stat_64 st;
        rc = nfs_stat64((*first)->nfs, t->base, &st);
        if (rc != 0) {
            rc = mpfs_nfs_err_map(rc, ctx_error((*first)->nfs));
            if (rc == -ENOENT && strcmp(t->export, "/") == 0) {
                /* Only the server's root export matched: to the user the
                 * export they named does not exist. */
                set_err(err, errlen,
                        "NFS export %s not found on %s (its root export / has "
                        "no '%s')",
                        u->path, t->host, t->base);
            } else if (rc == -ENOENT) {
                set_err(err, errlen, "path '%s' not found in NFS export %s on %s: %s",
                        t->base, t->export, t->host, strerror(-rc));
            } else {
                set_err(err, errlen,
                        "cannot look up path '%s' in NFS export %s on %s: %s", t->base,
                        t->export, t->host, strerror(-rc));
            }
        } else if ((st.nfs_mode & S_IFMT) != S_IFDIR) {
            rc = -ENOTDIR;
            set_err(err, errlen, "path '%s' in NFS export %s on %s is not a directory",
                    t->base, t->export, t->host);
        }
        if (rc != 0) {
            mpfs_nfs_conn_free(*first);
            *first = NULL;
            return rc;
        }
    }
    return 0;
}

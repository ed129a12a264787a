/*
 * backend.c - the call wrappers of backend.h: one place that turns a
 * missing [Optional] slot into -EOPNOTSUPP, so callers never test slots.
 */
#include "backends/backend.h"

#include "base/log.h"
#include "base/logfile.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CALL_OPT(slot, ...)                                                    \
    (b->ops->slot ? b->ops->slot(b, __VA_ARGS__) : -EOPNOTSUPP)

/* Answers that are part of normal operation, not failures worth a line:
 * the store said "no such name", "exists", "not empty", "changed since",
 * "cannot do that", "past the end". */
static int expected(long long rc)
{
    return rc == -ENOENT || rc == -EEXIST || rc == -ENOTEMPTY || rc == -ESTALE ||
           rc == -EOPNOTSUPP || rc == -ERANGE || rc == -ENODATA || rc == -ENOTDIR ||
           rc == -EISDIR;
}

/* Count one call of type op on object path that returned rc after t0 (a
 * negative rc is an error), and log one line per unexpected failure: the
 * operation, the object and the errno, never contents or credentials
 * (rate limited per call site by log.c). */
static long long count(struct mpfs_backend *b, int op, const char *path, int64_t t0,
                       long long rc)
{
    struct mpfs_backend_counters *c = &b->counters;
    atomic_fetch_add_explicit(&c->calls[op], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->ns[op], (uint64_t)(mpfs_now_ns() - t0), memory_order_relaxed);
    if (rc < 0) {
        atomic_fetch_add_explicit(&c->errors[op], 1, memory_order_relaxed);
        if (!expected(rc) && mpfs_log_level >= MPFS_LOG_WARN) {
            char p[160];
            mpfs_warn("%s %s '%s' failed: %s", b->kind, mpfs_bop_name(op),
                      mpfs_log_short(p, sizeof(p), path ? path : ""), strerror((int)-rc));
        }
    }
    return rc;
}

#define COUNTED(op, path, expr)                                                \
    do {                                                                       \
        int64_t t0_ = mpfs_now_ns();                                           \
        return count(b, (op), (path), t0_, (long long)(expr));                 \
    } while (0)

const char *mpfs_bop_name(int op)
{
    static const char *const names[MPFS_BOP_N] = {
        "stat", "list", "read", "put", "pwrite", "remove", "rename",
        "mkdir", "rmdir", "link", "setattr", "xattr", "other"};
    return op >= 0 && op < MPFS_BOP_N ? names[op] : "?";
}

int mpfs_backend_stat(struct mpfs_backend *b, const char *path, struct mpfs_attr *out)
{
    memset(out, 0, sizeof(*out));
    COUNTED(MPFS_BOP_STAT, path, b->ops->stat(b, path, out));
}

int mpfs_backend_stat_read(struct mpfs_backend *b, const char *path, struct mpfs_attr *out,
                           void *buf, size_t len, size_t *got)
{
    *got = 0;
    /* a table written before version 3 has no such slot at all */
    if (b->ops->version < 3 || !b->ops->stat_read || len == 0)
        return mpfs_backend_stat(b, path, out);
    memset(out, 0, sizeof(*out));
    int64_t t0 = mpfs_now_ns();
    int rc = b->ops->stat_read(b, path, out, buf, len, got);
    if (rc < 0)
        *got = 0;
    else if (*got > 0)
        atomic_fetch_add_explicit(&b->counters.bytes_read, (uint64_t)*got, memory_order_relaxed);
    return (int)count(b, MPFS_BOP_STAT, path, t0, rc);
}

int mpfs_backend_list(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn, void *arg)
{
    COUNTED(MPFS_BOP_LIST, dir, b->ops->list(b, dir, fn, arg));
}

ssize_t mpfs_backend_read(struct mpfs_backend *b, const char *path, const char *version,
                          void *buf, size_t len, uint64_t off)
{
    int64_t t0 = mpfs_now_ns();
    ssize_t n = b->ops->read(b, path, version, buf, len, off);
    if (n > 0)
        atomic_fetch_add_explicit(&b->counters.bytes_read, (uint64_t)n, memory_order_relaxed);
    return (ssize_t)count(b, MPFS_BOP_READ, path, t0, n);
}

int mpfs_backend_put(struct mpfs_backend *b, const char *path, int fd, uint64_t size,
                     const struct mpfs_put_opts *opts, struct mpfs_attr *out)
{
    static const struct mpfs_put_opts none;
    if (out)
        memset(out, 0, sizeof(*out));
    int64_t t0 = mpfs_now_ns();
    int rc = b->ops->put(b, path, fd, size, opts ? opts : &none, out);
    if (rc == 0)
        atomic_fetch_add_explicit(&b->counters.bytes_written, size, memory_order_relaxed);
    return (int)count(b, MPFS_BOP_PUT, path, t0, rc);
}

ssize_t mpfs_backend_pwrite(struct mpfs_backend *b, const char *path, const void *buf,
                            size_t len, uint64_t off)
{
    int64_t t0 = mpfs_now_ns();
    ssize_t n = CALL_OPT(pwrite, path, buf, len, off);
    if (n > 0)
        atomic_fetch_add_explicit(&b->counters.bytes_written, (uint64_t)n, memory_order_relaxed);
    return (ssize_t)count(b, MPFS_BOP_PWRITE, path, t0, n);
}

int mpfs_backend_remove(struct mpfs_backend *b, const char *path)
{
    COUNTED(MPFS_BOP_REMOVE, path, b->ops->remove(b, path));
}

int mpfs_backend_rename(struct mpfs_backend *b, const char *from, const char *to,
                        unsigned flags)
{
    COUNTED(MPFS_BOP_RENAME, from, CALL_OPT(rename, from, to, flags));
}

int mpfs_backend_mkdir(struct mpfs_backend *b, const char *path, uint32_t mode)
{
    COUNTED(MPFS_BOP_MKDIR, path, b->ops->mkdir(b, path, mode));
}

int mpfs_backend_rmdir(struct mpfs_backend *b, const char *path)
{
    COUNTED(MPFS_BOP_RMDIR, path, b->ops->rmdir(b, path));
}

int mpfs_backend_symlink(struct mpfs_backend *b, const char *target, const char *path)
{
    COUNTED(MPFS_BOP_LINK, path, CALL_OPT(symlink, target, path));
}

ssize_t mpfs_backend_readlink(struct mpfs_backend *b, const char *path, char *buf,
                              size_t size)
{
    COUNTED(MPFS_BOP_LINK, path, CALL_OPT(readlink, path, buf, size));
}

int mpfs_backend_link(struct mpfs_backend *b, const char *existing, const char *newpath)
{
    COUNTED(MPFS_BOP_LINK, newpath, CALL_OPT(link, existing, newpath));
}

int mpfs_backend_setattr(struct mpfs_backend *b, const char *path,
                         const struct mpfs_attr *attr, uint32_t to_set,
                         struct mpfs_attr *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    COUNTED(MPFS_BOP_SETATTR, path, CALL_OPT(setattr, path, attr, to_set, out));
}

int mpfs_backend_statfs(struct mpfs_backend *b, struct statvfs *out)
{
    memset(out, 0, sizeof(*out));
    if (b->ops->statfs)
        COUNTED(MPFS_BOP_OTHER, "", b->ops->statfs(b, out));
    /* Object stores have no capacity to report: a large synthetic total,
     * as s3fs and mountpoint-s3 do, so df and free-space checks pass. */
    out->f_bsize = 4096;
    out->f_frsize = 4096;
    out->f_blocks = (1ull << 50) / 4096;
    out->f_bfree = out->f_blocks;
    out->f_bavail = out->f_blocks;
    out->f_files = 1ull << 32;
    out->f_ffree = 1ull << 32;
    out->f_favail = 1ull << 32;
    out->f_namemax = 255;
    return 0;
}

ssize_t mpfs_backend_getxattr(struct mpfs_backend *b, const char *path, const char *name,
                              void *buf, size_t size)
{
    COUNTED(MPFS_BOP_XATTR, path, CALL_OPT(getxattr, path, name, buf, size));
}

int mpfs_backend_setxattr(struct mpfs_backend *b, const char *path, const char *name,
                          const void *value, size_t size)
{
    COUNTED(MPFS_BOP_XATTR, path, CALL_OPT(setxattr, path, name, value, size));
}

ssize_t mpfs_backend_listxattr(struct mpfs_backend *b, const char *path, char *buf,
                               size_t size)
{
    COUNTED(MPFS_BOP_XATTR, path, CALL_OPT(listxattr, path, buf, size));
}

int mpfs_backend_removexattr(struct mpfs_backend *b, const char *path, const char *name)
{
    COUNTED(MPFS_BOP_XATTR, path, CALL_OPT(removexattr, path, name));
}

int mpfs_backend_list_tree(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn,
                           void *arg)
{
    COUNTED(MPFS_BOP_LIST, dir, CALL_OPT(list_tree, dir, fn, arg));
}

ssize_t mpfs_backend_pwrite_if(struct mpfs_backend *b, const char *path, const void *buf,
                               size_t len, uint64_t off, const char *expect,
                               struct mpfs_attr *out)
{
    if (!expect || !expect[0] || strlen(expect) >= MPFS_VERSION_MAX) {
        return -EINVAL;
    }
    /* expect may live in *out (chained writes): copy it before clearing */
    char want[MPFS_VERSION_MAX];
    snprintf(want, sizeof(want), "%s", expect);
    expect = want;
    if (out) {
        memset(out, 0, sizeof(*out));
    }
    if (b->ops->pwrite_if) {
        return b->ops->pwrite_if(b, path, buf, len, off, expect, out);
    }
    /* A table written before the slot: check, then write (racy; such a
     * backend has no MPFS_CAP_COND_PWRITE, so callers know). */
    return mpfs_backend_pwrite_if_racy(b, path, buf, len, off, expect, out);
}

ssize_t mpfs_backend_pwrite_if_racy(struct mpfs_backend *b, const char *path, const void *buf,
                                    size_t len, uint64_t off, const char *expect,
                                    struct mpfs_attr *out)
{
    if (!b->ops->pwrite) {
        return -EOPNOTSUPP;
    }
    struct mpfs_attr cur;
    int rc = mpfs_backend_stat(b, path, &cur);
    if (rc < 0) {
        return rc;
    }
    if (strcmp(cur.version, expect) != 0) {
        return -ESTALE;
    }
    ssize_t n = b->ops->pwrite(b, path, buf, len, off);
    if (n >= 0 && out) {
        rc = mpfs_backend_stat(b, path, out);
        if (rc < 0) {
            return rc;
        }
    }
    return n;
}

int mpfs_backend_overwritten(struct mpfs_backend *b, const char *path, const char *ours,
                             const char *base, char *victim, size_t victim_len)
{
    if (victim_len) {
        victim[0] = '\0';
    }
    if (!ours || !ours[0]) {
        return -EINVAL;
    }
    return CALL_OPT(overwritten, path, ours, base && base[0] ? base : NULL, victim, victim_len);
}

int mpfs_backend_copy_version(struct mpfs_backend *b, const char *path, const char *version_id,
                              const char *to)
{
    if (!version_id || !version_id[0]) {
        return -EINVAL;
    }
    return CALL_OPT(copy_version, path, version_id, to);
}

int mpfs_backend_mknod(struct mpfs_backend *b, const char *path, uint32_t mode, uint64_t rdev)
{
    /* a table written before version 2 has no such slot at all */
    if (b->ops->version < 2)
        return -EOPNOTSUPP;
    return CALL_OPT(mknod, path, mode, rdev);
}

void mpfs_backend_free(struct mpfs_backend *b)
{
    if (b)
        b->ops->destroy(b);
}

void mpfs_backend_caps_str(uint32_t caps, char *buf, size_t size)
{
    static const char *const names[] = {
        "pwrite",      "rename-atomic", "rename-dir",  "hardlink",
        "symlink",     "setattr",       "truncate",    "cond-put",
        "multipart",   "user-xattr",    "pinned-read", "rename-emulated",
        "empty-dirs",  "server-copy",   "lazy-commit", "cond-pwrite",
        "cond-multipart", "version-chain",
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(caps & (1u << i)))
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", names[i]);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

int mpfs_backend_put_buf(struct mpfs_backend *b, const char *path, const void *buf,
                         size_t len, const struct mpfs_put_opts *opts,
                         struct mpfs_attr *out)
{
    char tmpl[] = "/tmp/mpfs-put-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return -errno;
    unlink(tmpl);
    const char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int err = -errno;
            close(fd);
            return err;
        }
        done += (size_t)n;
    }
    int rc = mpfs_backend_put(b, path, fd, len, opts, out);
    close(fd);
    return rc;
}

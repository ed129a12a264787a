/*
 * xattr.c - extended attributes: user.* names go to the backend (s3fs
 * metadata on S3, xattrs on NFS where supported), user.mpfs.* are the
 * mount's own read-only attributes (version, source, cache counters),
 * every other namespace is EOPNOTSUPP (so `ls -l` stops asking).
 *
 * Locking: as meta.c.
 */
#include "base/log.h"
#include "base/util.h"
#include "cache/blockcache.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/meta_int.h"
#include "fs/node.h"
#include "index/index.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

/* ------------------------------------------------------------- xattrs */

#define XA_ETAG "user.mpfs.etag"
#define XA_SOURCE "user.mpfs.source"
/* the block cache's counters (any inode; not listed): for benchmarks and
 * for watching the training policy (docs/CACHE.md, "Statistics") */
#define XA_CACHE_STATS "user.mpfs.cache_stats"

static const char *source_name(uint8_t s)
{
    switch (s) {
    case MPFS_INDEX_SRC_S3: return "s3";
    case MPFS_INDEX_SRC_NFS: return "nfs";
    case MPFS_INDEX_SRC_LOCAL: return "local";
    default: return "unknown";
    }
}

static ssize_t copy_out(const char *val, size_t len, void *buf, size_t size)
{
    if (size == 0)
        return (ssize_t)len;
    if (len > size)
        return -ERANGE;
    memcpy(buf, val, len);
    return (ssize_t)len;
}

static ssize_t cache_stats(struct mpfs_fs *fs, void *buf, size_t size)
{
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(fs->cache, &st);
    char val[512];
    int n = snprintf(val, sizeof(val),
                     "hits=%llu misses=%llu disk_hits=%llu ram_bytes=%llu disk_bytes=%llu "
                     "ram_held_bytes=%llu disk_held_bytes=%llu scan_groups=%llu "
                     "disk_writes=%llu disk_admission_skips=%llu",
                     (unsigned long long)st.hits, (unsigned long long)st.misses,
                     (unsigned long long)st.disk_hits, (unsigned long long)st.ram_bytes,
                     (unsigned long long)st.disk_bytes, (unsigned long long)st.ram_held_bytes,
                     (unsigned long long)st.disk_held_bytes, (unsigned long long)st.scan_groups,
                     (unsigned long long)st.disk_writes,
                     (unsigned long long)st.disk_admission_skips);
    return copy_out(val, (size_t)n, buf, size);
}

ssize_t mpfs_vfs_getxattr(struct mpfs_fs *fs, uint64_t ino, const char *name, void *buf,
                          size_t size)
{
    if (strcmp(name, XA_CACHE_STATS) == 0)
        return cache_stats(fs, buf, size);
    if (strcmp(name, XA_ETAG) == 0 || strcmp(name, XA_SOURCE) == 0) {
        pthread_mutex_lock(&fs->lock);
        struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
        char val[MPFS_VERSION_MAX];
        if (n)
            snprintf(val, sizeof(val), "%s",
                     strcmp(name, XA_ETAG) == 0 ? n->attr.version : source_name(n->source));
        pthread_mutex_unlock(&fs->lock);
        if (!n)
            return -ESTALE;
        if (!val[0])
            return -ENODATA;
        return copy_out(val, strlen(val), buf, size);
    }
    /* mpfs stores no security./system./trusted. attributes: say the
     * namespace is unsupported (as s3fs does), not "no such attribute",
     * so `ls -l` (coreutils) stops asking for every entry: it caches
     * ENOTSUP per device, but asks again after ENODATA. */
    if (strncmp(name, "user.", 5) != 0)
        return -EOPNOTSUPP;
    struct mpfs_backend *b = fs->router.route[MPFS_R_XATTR];
    if (!b)
        return -ENODATA;
    char *path = mpfs_node_path(fs, ino);
    if (!path)
        return -ESTALE;
    ssize_t rc = mpfs_backend_getxattr(b, path, name + 5, buf, size);
    free(path);
    return rc;
}

int mpfs_vfs_setxattr(struct mpfs_fs *fs, uint64_t ino, const char *name, const void *value,
                      size_t size, int flags)
{
    if (strcmp(name, XA_ETAG) == 0 || strcmp(name, XA_SOURCE) == 0 ||
        strcmp(name, XA_CACHE_STATS) == 0)
        return -EPERM;
    if (strncmp(name, "user.", 5) != 0)
        return -ENOTSUP;
    if (fs->cfg.read_only)
        return -EROFS;
    struct mpfs_backend *b = fs->router.route[MPFS_R_XATTR];
    if (!b)
        return -fs->router.unsupported_errno[MPFS_R_XATTR];
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n)
        n->nopen++;
    char *path = n ? mpfs_node_path_locked(fs, ino) : NULL;
    pthread_mutex_unlock(&fs->lock);
    if (!n)
        return -ESTALE;
    /* the object must exist before metadata can be attached to it */
    int rc = mpfs_file_commit(fs, n);
    if (rc == 0 && (flags & (XATTR_CREATE | XATTR_REPLACE))) {
        ssize_t have = mpfs_backend_getxattr(b, path, name + 5, NULL, 0);
        if ((flags & XATTR_CREATE) && have >= 0)
            rc = -EEXIST;
        else if ((flags & XATTR_REPLACE) && have == -ENODATA)
            rc = -ENODATA;
    }
    if (rc == 0)
        rc = mpfs_backend_setxattr(b, path, name + 5, value, size);
    if (rc == 0) {
        /* metadata rewrite changes the S3 ETag: re-read attrs next time */
        pthread_mutex_lock(&fs->lock);
        n->seen_wall = 0;
        pthread_mutex_unlock(&fs->lock);
    }
    pthread_mutex_lock(&fs->lock);
    n->nopen--;
    mpfs_node_maybe_drop_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
    free(path);
    return rc;
}

ssize_t mpfs_vfs_listxattr(struct mpfs_fs *fs, uint64_t ino, char *buf, size_t size)
{
    static const char fixed[] = XA_ETAG "\0" XA_SOURCE;
    size_t fixed_len = sizeof(fixed);
    struct mpfs_backend *b = fs->router.route[MPFS_R_XATTR];
    char *names = NULL;
    ssize_t nlen = 0;
    if (b) {
        char *path = mpfs_node_path(fs, ino);
        if (!path)
            return -ESTALE;
        nlen = mpfs_backend_listxattr(b, path, NULL, 0);
        if (nlen > 0) {
            names = mpfs_xmalloc((size_t)nlen);
            nlen = mpfs_backend_listxattr(b, path, names, (size_t)nlen);
        }
        free(path);
        if (nlen < 0)
            nlen = 0;
    }
    /* backend names come without "user." */
    size_t total = fixed_len;
    for (ssize_t i = 0; i < nlen; i += (ssize_t)strlen(names + i) + 1)
        total += 5 + strlen(names + i) + 1;
    if (size == 0) {
        free(names);
        return (ssize_t)total;
    }
    if (total > size) {
        free(names);
        return -ERANGE;
    }
    memcpy(buf, fixed, fixed_len);
    size_t off = fixed_len;
    for (ssize_t i = 0; i < nlen; i += (ssize_t)strlen(names + i) + 1) {
        off += (size_t)sprintf(buf + off, "user.%s", names + i) + 1;
    }
    free(names);
    return (ssize_t)total;
}

int mpfs_vfs_removexattr(struct mpfs_fs *fs, uint64_t ino, const char *name)
{
    if (strcmp(name, XA_ETAG) == 0 || strcmp(name, XA_SOURCE) == 0)
        return -EPERM;
    if (strncmp(name, "user.", 5) != 0)
        return -ENOTSUP;
    if (fs->cfg.read_only)
        return -EROFS;
    struct mpfs_backend *b = fs->router.route[MPFS_R_XATTR];
    if (!b)
        return -ENODATA;
    char *path = mpfs_node_path(fs, ino);
    if (!path)
        return -ESTALE;
    int rc = mpfs_backend_removexattr(b, path, name + 5);
    free(path);
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n)
        n->seen_wall = 0;
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

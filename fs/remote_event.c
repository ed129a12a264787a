/*
 * remote_event.c - see remote_event.h for the rules.
 *
 * The path is resolved through the index only (never the store).  What an
 * applied change does mirrors what a revalidating getattr would have done
 * on finding it (fs/meta.c, dir_merge.c): record the new attributes, drop the cached
 * blocks of the file (its old versions can never be read again: blocks
 * are keyed by version, dropping them frees the space now) and tell the
 * kernel; a removal goes through the same "gone remotely" path a listing
 * or a lookup takes (mpfs_fs_forget_remote).
 *
 * Locking: see remote_event.h.
 */
#include "fs/remote_event.h"

#include "base/log.h"
#include "base/util.h"
#include "cache/blockcache.h"
#include "fs/entry.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Does node ino hold local data the store does not have?  Pins the node
 * while it looks, as fs/invalidate.c does (wlock ranks above fs->lock). */
static int has_local_data(struct mpfs_fs *fs, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n)
        n->nopen++;
    pthread_mutex_unlock(&fs->lock);
    if (!n)
        return 0;
    pthread_mutex_lock(&n->wlock);
    int local = n->wb_pinned ||
                (n->wf && (n->wf->dirty || n->wf->committing || n->wf->journaled ||
                           n->wf->is_new));
    pthread_mutex_unlock(&n->wlock);
    pthread_mutex_lock(&fs->lock);
    n->nopen--;
    mpfs_node_maybe_drop_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
    return local;
}

static void expire_listing(struct mpfs_fs *fs, uint64_t dir)
{
    struct mpfs_index_dir d;
    if (mpfs_index_dir_get(fs->index, dir, &d) == 0 && d.listed_ns != 0) {
        d.listed_ns = 0;
        mpfs_index_dir_put(fs->index, dir, &d);
    }
}

static void kernel_entry(struct mpfs_fs *fs, uint64_t parent, const char *name)
{
    if (fs->notify.inval_entry)
        fs->notify.inval_entry(fs->notify.ctx, parent, name);
}

static void kernel_inode(struct mpfs_fs *fs, uint64_t ino)
{
    if (fs->notify.inval_inode)
        fs->notify.inval_inode(fs->notify.ctx, ino);
}

/* Mark an entry unconfirmed: the next access asks the store. */
static int doubt(struct mpfs_fs *fs, uint64_t parent, const char *name,
                 struct mpfs_index_entry *ie)
{
    ie->seen_ns = 0;
    mpfs_index_put(fs->index, parent, name, ie);
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ie->ino);
    if (n)
        n->seen_wall = 0;
    pthread_mutex_unlock(&fs->lock);
    kernel_inode(fs, ie->ino);
    kernel_entry(fs, parent, name);
    return MPFS_REMOTE_DOUBT;
}

/* The new attributes of a regular file: the store's size, version and
 * change time; type, mode and owner stay (same name, same kind of file;
 * an event carries none of them).  A stored s3fs mtime belonged to the
 * old version: the change time replaces it. */
static void new_attr(const struct mpfs_index_entry *ie, const struct mpfs_remote_change *c,
                     struct mpfs_attr *a)
{
    mpfs_entry_from_index(ie, a);
    a->size = c->size;
    a->mtime_ns = c->mtime_ns ? c->mtime_ns : c->when_ns;
    a->ctime_ns = a->mtime_ns;
    a->valid &= ~(uint32_t)MPFS_ATTR_MTIME;
    snprintf(a->version, sizeof(a->version), "%s", c->version);
}

static int apply(struct mpfs_fs *fs, uint64_t parent, const char *name, const char *path,
                 const struct mpfs_remote_change *c, int is_dir)
{
    struct mpfs_index_entry ie;
    if (mpfs_index_get(fs->index, parent, name, &ie) < 0) {
        if (c->gone) {
            kernel_entry(fs, parent, name);
            return MPFS_REMOTE_SAME;
        }
        /* a new name: the listing and negative entries of parent are stale */
        expire_listing(fs, parent);
        kernel_entry(fs, parent, name);
        return MPFS_REMOTE_EXPIRED;
    }
    if (ie.source == MPFS_INDEX_SRC_LOCAL || has_local_data(fs, ie.ino))
        return MPFS_REMOTE_BUSY;
    if (is_dir || S_ISDIR(ie.mode)) {
        /* a marker object came or went: what the directory holds did not */
        expire_listing(fs, parent);
        return doubt(fs, parent, name, &ie);
    }
    int have_version = c->version && c->version[0];
    if (!c->gone && have_version && mpfs_version_same(c->version, ie.version))
        return MPFS_REMOTE_SAME;
    /* Believed as is only when it happened clearly after the entry was
     * confirmed, and the entry's version token is one the change can be
     * compared with (an S3 ETag: not an NFS-issued token in dual mode). */
    int newer = c->when_ns > 0 && ie.seen_ns > 0 && c->when_ns > ie.seen_ns + MPFS_REMOTE_SKEW_NS;
    if (c->gone) {
        if (!newer)
            return doubt(fs, parent, name, &ie);
        mpfs_fs_forget_remote(fs, parent, name, &ie);
        mpfs_cache_invalidate(fs->cache, path, strlen(path));
        kernel_inode(fs, ie.ino);
        kernel_entry(fs, parent, name);
        return MPFS_REMOTE_APPLIED;
    }
    if (!newer || !have_version || !S_ISREG(ie.mode) || ie.source != MPFS_INDEX_SRC_S3)
        return doubt(fs, parent, name, &ie);
    struct mpfs_attr a;
    new_attr(&ie, c, &a);
    mpfs_fs_record(fs, ie.ino, parent, name, &a, ie.source);
    mpfs_cache_invalidate(fs->cache, path, strlen(path));
    kernel_inode(fs, ie.ino);
    return MPFS_REMOTE_APPLIED;
}

int mpfs_fs_remote_change(struct mpfs_fs *fs, const struct mpfs_remote_change *c)
{
    const char *p = c->path;
    while (*p == '/')
        p++;
    char *path = mpfs_xstrdup(p);
    size_t len = strlen(path);
    int is_dir = 0;
    while (len > 0 && path[len - 1] == '/') {
        path[--len] = '\0';
        is_dir = 1;
    }
    if (len == 0) {
        free(path);
        return MPFS_REMOTE_OUTSIDE; /* the dataset root's own marker */
    }
    /* Walk down the index; stop at the first component it does not hold
     * (the change is then a new name in that directory). */
    uint64_t dir = MPFS_ROOT_INO;
    char *comp = path;
    int rc;
    for (;;) {
        char *slash = strchr(comp, '/');
        size_t cl = slash ? (size_t)(slash - comp) : strlen(comp);
        if (cl == 0 || cl > MPFS_INDEX_NAME_MAX) {
            rc = -EINVAL;
            break;
        }
        if (!slash) {
            rc = apply(fs, dir, comp, path, c, is_dir);
            break;
        }
        *slash = '\0';
        struct mpfs_index_entry ie;
        if (mpfs_index_get(fs->index, dir, comp, &ie) < 0) {
            /* a directory this node never saw: if the change makes it
             * appear, the listing of dir and its negative entry go */
            if (!c->gone) {
                expire_listing(fs, dir);
                kernel_entry(fs, dir, comp);
                rc = MPFS_REMOTE_EXPIRED;
            } else {
                rc = MPFS_REMOTE_OUTSIDE;
            }
            break;
        }
        if (!S_ISDIR(ie.mode)) {
            /* a file became (or hides) a directory: let a lookup sort it */
            rc = ie.source == MPFS_INDEX_SRC_LOCAL ? MPFS_REMOTE_BUSY : doubt(fs, dir, comp, &ie);
            break;
        }
        dir = ie.ino;
        comp = slash + 1;
    }
    free(path);
    return rc;
}

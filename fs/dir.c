/*
 * dir.c - directory handles: opendir takes a snapshot of the directory's
 * index entries (listing it first when the policy says the stored listing
 * is too old, or serving it and queueing a refresh within dir_stale), and
 * readdir serves entries from that snapshot.
 *
 * Locking: as meta.c.
 */
#include "base/log.h"
#include "base/util.h"
#include "fs/dir_merge.h"
#include "fs/entry.h"
#include "fs/fs_state.h"
#include "fs/meta_int.h"
#include "fs/node.h"
#include "fs/reconciler.h"
#include "fs/refresher.h"
#include "fs/tree.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* An open directory: a snapshot of its listing taken at opendir, served
 * by readdir at any offset. */
struct mpfs_dirhandle {
    struct mpfs_listing_snapshot {
        char *name;
        uint64_t ino;
        struct mpfs_attr attr;
        uint8_t source;
        int64_t seen;
    } *v;
    size_t n;
    uint64_t ino;
    uint64_t parent; /* for ".." */
};

struct snap_builder {
    struct mpfs_dirhandle *d;
    size_t cap;
};

static int snap_add(void *arg, const char *name, const struct mpfs_index_entry *e)
{
    struct snap_builder *sb = arg;
    struct mpfs_dirhandle *d = sb->d;
    if (d->n == sb->cap) {
        sb->cap = sb->cap ? sb->cap * 2 : 64;
        d->v = mpfs_xrealloc(d->v, sb->cap * sizeof(*d->v));
    }
    d->v[d->n].name = mpfs_xstrdup(name);
    d->v[d->n].ino = e->ino;
    d->v[d->n].source = e->source;
    d->v[d->n].seen = e->seen_ns;
    mpfs_entry_from_index(e, &d->v[d->n].attr);
    d->n++;
    return 0;
}

int mpfs_vfs_opendir(struct mpfs_fs *fs, uint64_t ino, struct mpfs_dirhandle **out)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n && !S_ISDIR(n->attr.mode)) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOTDIR;
    }
    char *path = n ? mpfs_node_path_locked(fs, ino) : NULL;
    uint64_t parent = ino == MPFS_ROOT_INO || !n ? MPFS_ROOT_INO : n->parent;
    pthread_mutex_unlock(&fs->lock);
    if (!path)
        return -ESTALE;

    mpfs_reconciler_touch(fs, ino);
    struct mpfs_index_dir ds = {0};
    mpfs_index_dir_get(fs->index, ino, &ds);
    enum mpfs_dir_freshness f =
        mpfs_policy_dir_state(mpfs_fs_policy(fs, path), ds.listed_ns, mpfs_wall_ns());
    if (f == MPFS_DIR_EXPIRED) {
        /* A directory never listed: its whole subtree, if small enough,
         * costs a few flat LISTs now instead of one per directory later. */
        int rc = -EOPNOTSUPP;
        if (ds.listed_ns == 0 && fs->cfg.tree_walk_keys > 0)
            rc = mpfs_fs_refresh_tree(fs, ino, path, (size_t)fs->cfg.tree_walk_keys);
        if (rc == -EOPNOTSUPP || rc == -E2BIG)
            rc = mpfs_fs_refresh_dir(fs, ino, path);
        if (rc == -ENOENT) {
            free(path);
            return -ENOENT;
        }
        if (rc < 0) {
            if (ds.listed_ns == 0) {
                mpfs_warn("listing '%s': %s", path, strerror(-rc));
                free(path);
                return rc;
            }
            mpfs_warn("listing '%s': %s; serving the cached listing", path, strerror(-rc));
        }
    } else if (f == MPFS_DIR_STALE_OK) {
        mpfs_refresher_enqueue(fs, ino);
    }
    free(path);

    struct mpfs_dirhandle *d = mpfs_xcalloc(1, sizeof(*d));
    d->ino = ino;
    d->parent = parent;
    struct snap_builder sb = {.d = d};
    mpfs_index_list(fs->index, ino, snap_add, &sb);
    *out = d;
    return 0;
}

int mpfs_vfs_dir_entry(struct mpfs_fs *fs, struct mpfs_dirhandle *d, size_t idx, int plus,
                       const char **name, struct mpfs_entry *e)
{
    if (idx >= d->n)
        return 0;
    *name = d->v[idx].name;
    if (plus) {
        struct mpfs_attr a = d->v[idx].attr;
        int64_t seen = d->v[idx].seen;
        pthread_mutex_lock(&fs->lock);
        /* what the index keeps per name (see lookup) is older than a live node's */
        struct mpfs_node *cur = mpfs_node_find_locked(fs, d->v[idx].ino);
        if (cur && !S_ISDIR(a.mode) && (a.nlink > 1 || S_ISCHR(a.mode) || S_ISBLK(a.mode)) &&
            (cur->attr.mode & S_IFMT) == (a.mode & S_IFMT)) {
            a = cur->attr;
            seen = cur->seen_wall;
        }
        int no_rdev = !cur && (S_ISCHR(a.mode) || S_ISBLK(a.mode));
        pthread_mutex_unlock(&fs->lock);
        /* The index keeps no device numbers, and the kernel takes a device
         * inode's number from its first reply only: ask the store now. */
        if (no_rdev) {
            char *path = mpfs_meta_child_path(fs, d->ino, d->v[idx].name);
            struct mpfs_attr st;
            if (path && mpfs_backend_stat(mpfs_meta_side(fs), path, &st) == 0 &&
                (st.mode & S_IFMT) == (a.mode & S_IFMT))
                a.rdev = st.rdev;
            free(path);
        }
        pthread_mutex_lock(&fs->lock);
        mpfs_node_upsert_locked(fs, d->v[idx].ino, d->ino, d->v[idx].name, &a,
                                d->v[idx].source, seen, 1);
        pthread_mutex_unlock(&fs->lock);
        mpfs_fill_entry(fs, d->v[idx].ino, &a, e);
    } else {
        memset(e, 0, sizeof(*e));
        e->ino = d->v[idx].ino;
        e->st.st_ino = d->v[idx].ino;
        e->st.st_mode = d->v[idx].attr.mode & S_IFMT;
    }
    return 1;
}

void mpfs_vfs_dir_unref(struct mpfs_fs *fs, uint64_t ino)
{
    mpfs_vfs_forget(fs, ino, 1);
}

uint64_t mpfs_vfs_dir_parent(const struct mpfs_dirhandle *d)
{
    return d->parent;
}

void mpfs_vfs_releasedir(struct mpfs_fs *fs, struct mpfs_dirhandle *d)
{
    (void)fs;
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].name);
    free(d->v);
    free(d);
}

/*
 * invalidate.c - forget what this node knows about a path or a subtree, so
 * the next access revalidates it with the backends.
 *
 * One function does the whole job for every caller (`mpfs ctl invalidate`,
 * drop-cache, and later change notifications): for each entry it
 *   - marks the index entry unconfirmed (seen = 0) and a directory's
 *     listing expired (listed = 0): the next lookup asks the backend, the
 *     next readdir lists again.  Entries are not deleted, so inode numbers
 *     stay stable (open handles, the kernel's dentries, hard links);
 *   - drops the cache blocks of every version of a file (RAM and disk);
 *   - asks the kernel to drop its cached pages, attributes and dentry.
 * Entries created here and not uploaded yet (source LOCAL) and nodes with
 * staged writes are left alone: the index and the staging file are the only
 * copy of that data, and revalidating would hide it.
 *
 * Locking: no lock is held across an index call or a notification; fs->lock
 * only for the in-memory node fields (seen_wall), as everywhere in fs/.
 * The walk is depth-first with an explicit stack, so a deep tree cannot
 * overflow the C stack.
 */
#include "base/log.h"
#include "base/util.h"
#include "cache/blockcache.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/node.h"
#include "index/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct item {
    uint64_t parent;
    char *name;
    char *path;
};

struct walk {
    struct mpfs_fs *fs;
    unsigned what;
    struct item *v;
    size_t n, cap;
    uint64_t count;
    int busy;
};

enum { W_INDEX = 1, W_CACHE = 2, W_KERNEL = 4 };

static void push(struct walk *w, uint64_t parent, const char *name, const char *path)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->v = mpfs_xrealloc(w->v, w->cap * sizeof(*w->v));
    }
    w->v[w->n].parent = parent;
    w->v[w->n].name = mpfs_xstrdup(name);
    w->v[w->n].path = mpfs_xstrdup(path);
    w->n++;
}

/* Clear the in-memory node's seen time too (getattr and open revalidate
 * from it); returns 1 if the node holds staged, uncommitted data. */
static int node_forget(struct mpfs_fs *fs, uint64_t ino, unsigned what)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n)
        n->nopen++; /* pin: wlock ranks above fs->lock, so drop it first */
    pthread_mutex_unlock(&fs->lock);
    if (!n)
        return 0;
    pthread_mutex_lock(&n->wlock);
    int staged = n->wf != NULL && n->wf->dirty;
    pthread_mutex_unlock(&n->wlock);
    pthread_mutex_lock(&fs->lock);
    if (!staged && (what & W_INDEX))
        n->seen_wall = 0;
    n->nopen--;
    mpfs_node_maybe_drop_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
    return staged;
}

static void forget_entry(struct walk *w, uint64_t parent, const char *name, const char *path,
                         struct mpfs_index_entry *ie)
{
    struct mpfs_fs *fs = w->fs;
    if (ie->source == MPFS_INDEX_SRC_LOCAL || node_forget(fs, ie->ino, w->what)) {
        w->busy++;
        return;
    }
    if (w->what & W_INDEX) {
        ie->seen_ns = 0;
        mpfs_index_put(fs->index, parent, name, ie);
        if (S_ISDIR(ie->mode)) {
            struct mpfs_index_dir d;
            if (mpfs_index_dir_get(fs->index, ie->ino, &d) == 0) {
                d.listed_ns = 0;
                mpfs_index_dir_put(fs->index, ie->ino, &d);
            }
        }
    }
    if ((w->what & W_CACHE) && S_ISREG(ie->mode))
        mpfs_cache_invalidate(fs->cache, path, strlen(path));
    if ((w->what & W_KERNEL) && fs->notify.inval_inode) {
        fs->notify.inval_inode(fs->notify.ctx, ie->ino);
        if ((w->what & W_INDEX) && fs->notify.inval_entry)
            fs->notify.inval_entry(fs->notify.ctx, parent, name);
    }
    w->count++;
}

struct child_ctx {
    struct walk *w;
    uint64_t dir;
    const char *dirpath;
};

static int collect_child(void *arg, const char *name, const struct mpfs_index_entry *e)
{
    struct child_ctx *c = arg;
    (void)e;
    char *path = mpfs_path_join(c->dirpath, name);
    push(c->w, c->dir, name, path);
    free(path);
    return 0;
}

static void push_children(struct walk *w, uint64_t dir, const char *dirpath)
{
    struct child_ctx c = {.w = w, .dir = dir, .dirpath = dirpath};
    mpfs_index_list(w->fs->index, dir, collect_child, &c);
}

/* Pop and forget entries until the stack is empty; with recursive, a
 * directory's children are pushed before it is forgotten. */
static void drain(struct walk *w, int recursive)
{
    while (w->n > 0) {
        struct item it = w->v[--w->n];
        struct mpfs_index_entry ie;
        if (mpfs_index_get(w->fs->index, it.parent, it.name, &ie) == 0) {
            if (recursive && S_ISDIR(ie.mode))
                push_children(w, ie.ino, it.path);
            forget_entry(w, it.parent, it.name, it.path, &ie);
        } else if ((w->what & W_KERNEL) && w->fs->notify.inval_entry) {
            /* not indexed: the kernel may still hold a (negative) dentry */
            w->fs->notify.inval_entry(w->fs->notify.ctx, it.parent, it.name);
        }
        free(it.name);
        free(it.path);
    }
}

/* Resolve the parent directory of path through the index. */
static int resolve_parent(struct mpfs_fs *fs, const char *path, uint64_t *parent,
                          const char **name)
{
    uint64_t cur = MPFS_ROOT_INO;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash) {
            *parent = cur;
            *name = p;
            return 0;
        }
        size_t len = (size_t)(slash - p);
        if (len == 0 || len > 255)
            return -EINVAL;
        char comp[256];
        memcpy(comp, p, len);
        comp[len] = '\0';
        struct mpfs_index_entry ie;
        int rc = mpfs_index_get(fs->index, cur, comp, &ie);
        if (rc < 0)
            return rc;
        if (!S_ISDIR(ie.mode))
            return -ENOTDIR;
        cur = ie.ino;
        p = slash + 1;
    }
}

static int invalidate(struct mpfs_fs *fs, const char *path, int recursive, unsigned what,
                      uint64_t *count)
{
    while (*path == '/')
        path++;
    char *clean = mpfs_xstrdup(path);
    size_t len = strlen(clean);
    while (len > 0 && clean[len - 1] == '/')
        clean[--len] = '\0';
    struct walk w = {.fs = fs, .what = what};
    int rc = 0;
    if (len == 0) {
        /* the root: its listing, then (recursive) everything below */
        struct mpfs_index_dir d;
        if ((what & W_INDEX) && mpfs_index_dir_get(fs->index, MPFS_ROOT_INO, &d) == 0) {
            d.listed_ns = 0;
            mpfs_index_dir_put(fs->index, MPFS_ROOT_INO, &d);
        }
        if ((what & W_KERNEL) && fs->notify.inval_inode)
            fs->notify.inval_inode(fs->notify.ctx, MPFS_ROOT_INO);
        w.count++;
        if (recursive) {
            push_children(&w, MPFS_ROOT_INO, "");
            drain(&w, 1);
        }
    } else {
        uint64_t parent;
        const char *name;
        rc = resolve_parent(fs, clean, &parent, &name);
        if (rc == 0) {
            push(&w, parent, name, clean);
            drain(&w, recursive);
            if ((what & W_INDEX) && parent != MPFS_ROOT_INO) {
                /* the parent's listing names this entry: list it again too */
                struct mpfs_index_dir d;
                if (mpfs_index_dir_get(fs->index, parent, &d) == 0) {
                    d.listed_ns = 0;
                    mpfs_index_dir_put(fs->index, parent, &d);
                }
            }
        }
    }
    free(w.v);
    free(clean);
    if (count)
        *count = w.count;
    atomic_fetch_add(&fs->invalidations, w.count);
    if (rc == 0 && w.busy)
        mpfs_info("invalidate '%s': %d entr%s with uncommitted writes left as they are", path,
                  w.busy, w.busy == 1 ? "y" : "ies");
    return rc;
}

int mpfs_vfs_invalidate(struct mpfs_fs *fs, const char *path, int recursive)
{
    return invalidate(fs, path, recursive, W_INDEX | W_CACHE | W_KERNEL, NULL);
}

int mpfs_vfs_drop_cache(struct mpfs_fs *fs, uint64_t *files)
{
    return invalidate(fs, "", 1, W_CACHE | W_KERNEL, files);
}

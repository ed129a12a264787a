/*
 * node.c - the in-memory inode table: the nodes the kernel references.
 *
 * A hash table from inode number to node, under fs->lock.  Nodes carry
 * their parent inode and name, so a node's dataset path is rebuilt by
 * walking parents: the kernel keeps a parent referenced while a child is,
 * so the walk always finds them.  Renames update (parent, name) in place
 * and every descendant's path follows without touching it.
 */
#include "fs/node.h"

#include "base/check.h"
#include "base/log.h"
#include "base/util.h"
#include "fs/file.h"
#include "fs/fs_state.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static size_t slot(const struct mpfs_fs *fs, uint64_t ino)
{
    return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 20) & (fs->nbuckets - 1);
}

int mpfs_nodes_init(struct mpfs_fs *fs)
{
    fs->nbuckets = 4096;
    fs->buckets = mpfs_xcalloc(fs->nbuckets, sizeof(*fs->buckets));
    fs->nnodes = 0;
    return 0;
}

static void node_free(struct mpfs_fs *fs, struct mpfs_node *n)
{
    if (n->wf) {
        int drop = !n->wf->dirty ||
                   (n->unlinked && !n->gone_remote && !n->wf->conflict_path);
        mpfs_wfile_free(fs, n->ino, n->wf, drop ? MPFS_WF_DISCARD : MPFS_WF_KEEP);
    }
    pthread_mutex_destroy(&n->wlock);
    pthread_cond_destroy(&n->wcond);
    free(n->name);
    free(n->link_target);
    free(n);
}

void mpfs_nodes_free(struct mpfs_fs *fs)
{
    for (size_t i = 0; i < fs->nbuckets; i++) {
        struct mpfs_node *n = fs->buckets[i];
        while (n) {
            struct mpfs_node *next = n->hnext;
            node_free(fs, n);
            n = next;
        }
    }
    free(fs->buckets);
    fs->buckets = NULL;
}

struct mpfs_node *mpfs_node_find_locked(struct mpfs_fs *fs, uint64_t ino)
{
    for (struct mpfs_node *n = fs->buckets[slot(fs, ino)]; n; n = n->hnext)
        if (n->ino == ino)
            return n;
    return NULL;
}

static void grow(struct mpfs_fs *fs)
{
    size_t old = fs->nbuckets;
    struct mpfs_node **ob = fs->buckets;
    fs->nbuckets = old * 2;
    fs->buckets = mpfs_xcalloc(fs->nbuckets, sizeof(*fs->buckets));
    for (size_t i = 0; i < old; i++) {
        struct mpfs_node *n = ob[i];
        while (n) {
            struct mpfs_node *next = n->hnext;
            size_t s = slot(fs, n->ino);
            n->hnext = fs->buckets[s];
            fs->buckets[s] = n;
            n = next;
        }
    }
    free(ob);
}

struct mpfs_node *mpfs_node_upsert_locked(struct mpfs_fs *fs, uint64_t ino, uint64_t parent,
                                          const char *name, const struct mpfs_attr *attr,
                                          uint8_t source, int64_t seen,
                                          uint64_t nlookup_add)
{
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (!n) {
        if (fs->nnodes >= fs->nbuckets)
            grow(fs);
        n = mpfs_xcalloc(1, sizeof(*n));
        n->ino = ino;
        pthread_mutex_init(&n->wlock, NULL);
        pthread_cond_init(&n->wcond, NULL);
        size_t s = slot(fs, ino);
        n->hnext = fs->buckets[s];
        fs->buckets[s] = n;
        fs->nnodes++;
    }
    if (ino != MPFS_ROOT_INO && (n->parent != parent || !n->name || strcmp(n->name, name))) {
        free(n->name);
        n->name = mpfs_xstrdup(name);
        n->parent = parent;
    } else if (!n->name) {
        n->name = mpfs_xstrdup(name);
        n->parent = parent;
    }
    if (attr) {
        int same = n->attr.version[0] && strcmp(n->attr.version, attr->version) == 0;
        if (n->attr.version[0] && !same) {
            free(n->link_target);
            n->link_target = NULL;
        }
        n->attr = *attr;
        n->source = source;
        /* an older record of the same version (the index's, at a lookup)
         * does not undo a later confirmation of it (a prefetch's pinned
         * GET, mpfs_file_fetch_confirmed) */
        if (!same || seen > n->seen_wall)
            n->seen_wall = seen;
    }
    n->nlookup += nlookup_add;
    n->unlinked = 0;
    n->gone_remote = 0;
    return n;
}

void mpfs_node_maybe_drop_locked(struct mpfs_fs *fs, struct mpfs_node *n)
{
    /* A node whose staged data could not be committed stays until the
     * background retry commits or rescues it (wb_pinned). */
    if (n->nlookup > 0 || n->nopen > 0 || n->wb_pinned || n->ino == MPFS_ROOT_INO)
        return;
    struct mpfs_node **pp = &fs->buckets[slot(fs, n->ino)];
    while (*pp && *pp != n)
        pp = &(*pp)->hnext;
    MPFS_ASSERT(*pp == n);
    *pp = n->hnext;
    fs->nnodes--;
    node_free(fs, n);
}

char *mpfs_node_path_locked(struct mpfs_fs *fs, uint64_t ino)
{
    /* Collect names leaf to root, then join in reverse. */
    const char *names[256];
    int depth = 0;
    size_t total = 0;
    uint64_t cur = ino;
    while (cur != MPFS_ROOT_INO) {
        struct mpfs_node *n = mpfs_node_find_locked(fs, cur);
        if (!n || !n->name || depth == (int)MPFS_ARRAY_SIZE(names))
            return NULL;
        names[depth++] = n->name;
        total += strlen(n->name) + 1;
        cur = n->parent;
    }
    char *path = mpfs_xmalloc(total + 1);
    size_t off = 0;
    for (int i = depth - 1; i >= 0; i--) {
        size_t len = strlen(names[i]);
        memcpy(path + off, names[i], len);
        off += len;
        if (i > 0)
            path[off++] = '/';
    }
    path[off] = '\0';
    return path;
}

char *mpfs_node_path(struct mpfs_fs *fs, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    char *p = mpfs_node_path_locked(fs, ino);
    pthread_mutex_unlock(&fs->lock);
    return p;
}

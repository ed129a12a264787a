/*
 * flush.c - commit every file with staged (written, not yet uploaded) data
 * now, for `mpfs ctl flush` ("wait until my writes are safe").
 *
 * Each commit goes through mpfs_file_commit(), the same path close and
 * unmount use, so the freshness and conflict rules stay in file.c.  Nodes
 * are pinned (nopen) while fs->lock is dropped, because node->wlock ranks
 * above fs->lock and a commit is a backend call (fs_state.h).
 */
#include "base/util.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/node.h"

#include <stdlib.h>

int mpfs_vfs_flush_all(struct mpfs_fs *fs, mpfs_flush_failed_fn failed, void *arg,
                       uint64_t *committed)
{
    pthread_mutex_lock(&fs->lock);
    size_t n = 0;
    struct mpfs_node **v = mpfs_xcalloc(fs->nnodes + 1, sizeof(*v));
    for (size_t i = 0; i < fs->nbuckets; i++) {
        for (struct mpfs_node *nd = fs->buckets[i]; nd; nd = nd->hnext) {
            if (n < fs->nnodes) {
                nd->nopen++;
                v[n++] = nd;
            }
        }
    }
    pthread_mutex_unlock(&fs->lock);

    int first = 0;
    uint64_t done = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&v[i]->wlock);
        int dirty = v[i]->wf && v[i]->wf->dirty;
        pthread_mutex_unlock(&v[i]->wlock);
        if (!dirty)
            continue;
        int rc = mpfs_file_commit(fs, v[i]);
        if (rc == 0) {
            done++;
            continue;
        }
        if (!first)
            first = rc;
        if (failed) {
            char *path = mpfs_node_path(fs, v[i]->ino);
            failed(arg, path ? path : "(unlinked)", rc);
            free(path);
        }
    }

    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < n; i++) {
        v[i]->nopen--;
        mpfs_node_maybe_drop_locked(fs, v[i]);
    }
    pthread_mutex_unlock(&fs->lock);
    free(v);
    if (committed)
        *committed = done;
    return first;
}

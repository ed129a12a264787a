/*
 * node.h - the inode table (node.c): one node per inode the kernel knows,
 * with its name, parent and last known attributes, found by inode number.
 * Locking: fs->lock guards the table and every field but wf (fs_state.h).
 */
#ifndef MPFS_FS_NODE_H
#define MPFS_FS_NODE_H

#include "backends/backend.h"
#include "consistency/version.h"

#include <pthread.h>
#include <stdint.h>

struct mpfs_fs;
struct mpfs_wfile;

struct mpfs_node {
    uint64_t ino;
    uint64_t parent;
    char *name;
    struct mpfs_attr attr;   /* last known attributes, version included */
    uint8_t source;          /* enum mpfs_index_source */
    int64_t seen_wall;       /* when attr was confirmed by a backend */
    uint64_t nlookup;
    int nopen;
    int unlinked;            /* removed while still referenced */
    int gone_remote;         /* ... by someone else (a listing or stat lost it) */
    int wb_pinned;           /* kept for the background retry of a failed commit */
    char open_version[MPFS_VERSION_MAX]; /* version the kernel's pages belong to */
    char *link_target;       /* cached readlink */
    pthread_mutex_t wlock;
    pthread_cond_t wcond;    /* signalled when a commit ends (with wlock) */
    struct mpfs_wfile *wf;   /* under wlock */
    struct mpfs_node *hnext;
};

int mpfs_nodes_init(struct mpfs_fs *fs);
void mpfs_nodes_free(struct mpfs_fs *fs);
/* Find a live node; caller holds fs->lock. */
struct mpfs_node *mpfs_node_find_locked(struct mpfs_fs *fs, uint64_t ino);
/* Get or create the node for (ino, parent, name) and refresh its attrs;
 * adds nlookup_add references.  Caller holds fs->lock. */
struct mpfs_node *mpfs_node_upsert_locked(struct mpfs_fs *fs, uint64_t ino, uint64_t parent,
                                          const char *name, const struct mpfs_attr *attr,
                                          uint8_t source, int64_t seen,
                                          uint64_t nlookup_add);
/* Drop a node if nothing references it.  Caller holds fs->lock. */
void mpfs_node_maybe_drop_locked(struct mpfs_fs *fs, struct mpfs_node *n);
/* Dataset-relative path of ino (caller frees); NULL if unknown.  Takes
 * fs->lock itself. */
char *mpfs_node_path(struct mpfs_fs *fs, uint64_t ino);
char *mpfs_node_path_locked(struct mpfs_fs *fs, uint64_t ino);

#endif

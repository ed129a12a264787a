/*
 * fs_state.h - struct mpfs_fs: the state one mount shares across the files
 * of fs/ (the inode table, the backends, the index and cache, the
 * background workers' queues).  Not for use outside fs/ (and its tests).
 * Each piece of the fs core has its own header for what it offers the
 * others, and a file includes only the pieces it calls:
 *   node.h       the inode table                       (node.c)
 *   entry.h      attributes, index entries, records    (meta.c)
 *   dir_merge.h  a listing merged into the index       (dir_merge.c)
 *   tree.h       a subtree listed in one walk          (tree.c)
 *   file.h       open files: write state, handles      (file.c)
 *   commit.h     one staged file onto the store        (commit.c)
 *   lostfound.h  data that cannot be committed         (lostfound.c)
 *   writeback.h  retry of failed commits, replay       (writeback.c)
 *   refresher.h, reconciler.h  background re-listing
 *   meta_int.h   helpers of the namespace files only
 * Calls go from the operations (lookup, dir, namespace, xattr, file) down
 * to entries, listings and nodes.  Four pairs still call each other, each
 * for a duty the lower piece has toward the upper one: node.c ends a
 * dropped node's write state (file.c); meta.c keeps an open file readable
 * when its last name goes (file.c), which records entries through meta.c;
 * file.c wakes the retry thread (writeback.c), which commits through
 * file.c; and open claims an announced read (announce.c), which pins its
 * version through file.c.
 *
 * Locking (ranked; take in this order, never the reverse):
 *   0. handle->confirm_lock  a handle's close-to-open confirmation by its
 *                    first fetch (file.c), held across that fetch; and
 *      fs->walk_lock the one walk of a never-listed directory a lookup
 *                    makes (lookup.c), held across it.  Neither is taken
 *                    while holding any lock below, nor together.
 *   1. node->wlock   per-file write state (staging file).  Held across the
 *                    staging file I/O, not across an upload: a commit marks
 *                    wf->committing, drops wlock while it uploads, and
 *                    writers (and other commits) wait on node->wcond, while
 *                    stat, open and reads of the staged copy go on.
 *   2. fs->lock      the inode table, node names/parents, node attributes.
 *                    Short sections only: never held across a backend call,
 *                    an index call that could be slow, or a notification.
 * Node lifetime: a node lives while the kernel holds lookup references
 * (nlookup) or open handles (nopen) on it; both are counted under fs->lock.
 */
#ifndef MPFS_FS_FS_STATE_H
#define MPFS_FS_FS_STATE_H

#include "backends/backend.h"
#include "consistency/policy.h"
#include "fs/config.h"
#include "fs/router.h"
#include "fs/vfs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct mpfs_announce;
struct mpfs_cache;
struct mpfs_index;
struct mpfs_node;
struct mpfs_notify;
struct mpfs_prefetcher;
struct mpfs_reconciler;

struct mpfs_fs {
    struct mpfs_config cfg;       /* a private copy */
    struct mpfs_backend *s3, *nfs;
    struct mpfs_router router;
    struct mpfs_route_costs costs;
    struct mpfs_index *index;
    struct mpfs_cache *cache;
    struct mpfs_prefetcher *prefetch;
    struct mpfs_announce *announce; /* announced reads (announce.h) */
    struct mpfs_policy_set policy;
    struct mpfs_notifier notify;
    /* bucket notifications (notify.c): while the channel is healthy,
     * policy_notified (attr_ttl raised to notify_ttl) replaces policy */
    struct mpfs_notify *notify_ch;
    struct mpfs_policy_set policy_notified;
    int64_t mounted_wall_ns;      /* shown as the time of implied directories */
    char *staging_dir;
    char *lostfound_dir;
    atomic_uint_fast64_t staging_bytes;
    atomic_uint conflict_serial;
    atomic_uint_fast64_t invalidations; /* entries invalidated (invalidate.c) */

    pthread_mutex_t lock;         /* inode table; see the ranking above */
    struct mpfs_node **buckets;
    size_t nbuckets, nnodes;

    /* background directory refresh (refresher.c) */
    pthread_mutex_t rq_lock;
    pthread_cond_t rq_cond;
    uint64_t *rq;                 /* queued directory inodes */
    size_t rq_n, rq_cap;
    int rq_stop;
    int rq_started;
    pthread_t rq_thread;

    /* lookups in a directory never listed walk it once (lookup.c) */
    pthread_mutex_t walk_lock;
    uint64_t walk_failed[8];      /* recent parents whose walk failed: HEAD instead */
    unsigned walk_failed_pos;
    int64_t walk_stamps[16];      /* listed_ns of recent walks made for a lookup */
    unsigned walk_stamps_pos;

    /* background re-checking of recently used directories (reconciler.c) */
    struct mpfs_reconciler *rec;

    /* background commit retry (writeback.c) */
    pthread_mutex_t wb_lock;
    pthread_cond_t wb_cond;
    int wb_stop, wb_started, wb_kicked;
    size_t wb_orphans;            /* journal records with no node, left to retry */
    int abandoned;                /* mpfs_fs_abandon(): leave every file as a crash would */
    pthread_t wb_thread;
};

#endif

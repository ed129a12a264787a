/*
 * reconciler.h - recently used directories re-checked in the background (reconciler.c).
 */
#ifndef MPFS_FS_RECONCILER_H
#define MPFS_FS_RECONCILER_H

#include <stddef.h>
#include <stdint.h>

struct mpfs_fs;

/* Re-check recently used directories in the background so
 * others' changes show within a bounded time (see the file header). */
struct mpfs_reconciler_stats {
    uint64_t passes, lists, getattrs, errors, aged, evicted;
    size_t watched;
};
int mpfs_reconciler_new(struct mpfs_fs *fs);
void mpfs_reconciler_free(struct mpfs_fs *fs);
int mpfs_reconciler_start(struct mpfs_fs *fs); /* no thread if reconcile_rate is 0 */
void mpfs_reconciler_stop(struct mpfs_fs *fs);
/* Directory dir_ino was used (lookup in it, listing, stat of a child). */
void mpfs_reconciler_touch(struct mpfs_fs *fs, uint64_t dir_ino);
/* Wall time the reconciler's last listing of dir_ino began (the listed_ns
 * it stored in the index), if it watches it (used within reconcile_window);
 * else 0. */
int64_t mpfs_reconciler_listed(struct mpfs_fs *fs, uint64_t dir_ino);
/* One walk over the due directories spending at most budget requests;
 * returns the requests spent.  The worker calls it; tests call it directly. */
int mpfs_reconciler_pass(struct mpfs_fs *fs, int budget);
size_t mpfs_reconciler_watched(struct mpfs_fs *fs);
void mpfs_reconciler_get_stats(struct mpfs_fs *fs, struct mpfs_reconciler_stats *out);
/* Tests: a substitute monotonic clock (NULL: the real one). */
void mpfs_reconciler_set_clock(struct mpfs_fs *fs, int64_t (*now)(void));

#endif

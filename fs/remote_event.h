/*
 * remote_event.h - "the store says path P now has version V (size S,
 * mtime T) / is gone": apply a change learnt from outside (a bucket
 * notification, a reconciler's listing) to the index, the block cache and
 * the kernel, without asking the store.
 *
 * The one rule: a change only makes the mount fresher, never wrong.
 *   - An entry with local unuploaded data (created here, staged, being
 *     committed, journaled) is never touched: the conflict rules of the
 *     commit (fs/commit.c) decide what happens to it.
 *   - A change for the version the entry already has is a no-op.
 *   - A change is applied as is only when it is clearly newer than what
 *     the index holds: it happened (when_ns, the store's clock) more than
 *     MPFS_REMOTE_SKEW_NS after the entry was last confirmed.  Otherwise
 *     (no time, or the entry was confirmed around or after it, so it may
 *     already show something later) the entry is only marked unconfirmed,
 *     so the next access asks the store: one HEAD, always right.
 *   - A name the index does not hold is not invented (the event carries no
 *     type or owner): the deepest indexed ancestor's listing and negative
 *     entries are expired instead, so the next lookup or readdir asks.
 * Ordering between changes of the same key (sequencers) is the caller's
 * business (fs/notify.c keeps the last sequencer per key).
 *
 * Locking: as fs/meta.c; no lock across an index call or a notification;
 * node->wlock is taken (with the node pinned) only to read its write state.
 */
#ifndef MPFS_FS_REMOTE_EVENT_H
#define MPFS_FS_REMOTE_EVENT_H

#include <stdint.h>

struct mpfs_fs;

/* How much the store's clock and ours may disagree (and a HEAD may lag
 * the change it overlaps) before a change's time is believed. */
#define MPFS_REMOTE_SKEW_NS 1000000000LL

struct mpfs_remote_change {
    const char *path;    /* dataset-relative, no leading '/'; a trailing '/' names a directory */
    int gone;            /* removed; else created or overwritten */
    const char *version; /* the new version token (S3 ETag), "" or NULL if unknown */
    uint64_t size;
    int64_t mtime_ns;    /* 0: unknown (when_ns is used) */
    int64_t when_ns;     /* when the store made the change (wall ns), 0 if unknown */
};

enum mpfs_remote_outcome {
    MPFS_REMOTE_APPLIED = 0, /* the index (and cache, kernel) now say what the change says */
    MPFS_REMOTE_SAME,        /* the entry already had that version: nothing done */
    MPFS_REMOTE_DOUBT,       /* order unclear: the entry is revalidated at next access */
    MPFS_REMOTE_EXPIRED,     /* not indexed: the listing above it is expired instead */
    MPFS_REMOTE_BUSY,        /* local unuploaded data: left to the commit */
    MPFS_REMOTE_OUTSIDE,     /* nothing of it is indexed: nothing to do */
};

/* Apply c.  Returns an enum mpfs_remote_outcome, or -EINVAL for a path
 * that cannot be a dataset path. */
int mpfs_fs_remote_change(struct mpfs_fs *fs, const struct mpfs_remote_change *c);

#endif

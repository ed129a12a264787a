/*
 * meta_int.h - helpers shared by the files that make up the namespace
 * side of the fs (meta.c, lookup.c, dir_merge.c, dir.c, namespace.c,
 * xattr.c); nothing outside them includes it.
 */
#ifndef MPFS_FS_META_INT_H
#define MPFS_FS_META_INT_H

#include "consistency/policy.h"
#include "fs/fs_state.h"
#include "fs/node.h"
#include "index/index.h"

#define NS 1000000000LL

/* The index entries of a directory, collected (mpfs_index_list callback). */
struct mpfs_old_entries {
    char **names;
    struct mpfs_index_entry *v;
    size_t n, cap;
};

/* The backend the router names for metadata (MPFS_R_META). */
struct mpfs_backend *mpfs_meta_side(struct mpfs_fs *fs);

/* Is an entry of path confirmed at seen still to be trusted?  Bucket
 * notifications (fs/notify.h) stretch meta_ttl to notify_ttl, but only
 * while they flow and only for entries confirmed since they last started
 * flowing: a change made while the channel was down sent no event. */
int mpfs_meta_attr_fresh(struct mpfs_fs *fs, const struct mpfs_policy *pol, const char *path, uint64_t parent, int64_t seen, int64_t now);

/* Listings and HEADs of plain S3 objects do not carry the s3fs metadata
 * a previous HEAD found: when the content is the same version, keep it. */
void mpfs_meta_keep_richer(struct mpfs_attr *fresh, const struct mpfs_attr *old);

/* Tell the kernel to drop its cached attributes and pages of ino / its
 * dentry of (parent, name), where a notifier is installed. */
void mpfs_meta_notify_inode(struct mpfs_fs *fs, uint64_t ino);
void mpfs_meta_notify_entry(struct mpfs_fs *fs, uint64_t parent, const char *name);

/* Path of child `name` of directory `parent`; NULL if parent is unknown. */
char *mpfs_meta_child_path(struct mpfs_fs *fs, uint64_t parent, const char *name);

/* 0 if name can be an entry here, else -EINVAL / -ENAMETOOLONG. */
int mpfs_meta_check_name(const char *name);

/* Did the entry's type change (a file became a directory, ...)? */
int mpfs_meta_type_changed(const struct mpfs_attr *a, uint32_t old_mode);

/* Name (parent, name) of inode ino is gone through this mount.  The kernel
 * may still reference the node: if another hard link remains, the node
 * moves to it; else it is unlinked (its data dies with its last handle). */
void mpfs_meta_mark_unlinked(struct mpfs_fs *fs, uint64_t ino, uint64_t parent, const char *name);

/* Before the last name of an open file goes: keep what its handles read. */
void mpfs_meta_keep_if_open(struct mpfs_fs *fs, uint64_t ino);

/* (parent, name) of inode ino was removed by someone else: an edit in
 * progress here is recreated at its commit, not dropped, and a file made
 * at the name later is another file (file.c). */
void mpfs_meta_mark_gone_remote(struct mpfs_fs *fs, uint64_t parent, const char *name, uint64_t ino);

/* Remove (parent, name) from the index and the nodes: it vanished. */
void mpfs_meta_forget_entry(struct mpfs_fs *fs, uint64_t parent, const char *name, const struct mpfs_index_entry *old);

/* A directory's link count, as its listing showed it. */
void mpfs_meta_set_dir_nlink(struct mpfs_fs *fs, uint64_t ino, uint32_t nlink);

/* Name (parent, name) of ie's inode went away (unlink, rmdir, replaced by
 * rename): the node moves to a remaining name or is unlinked
 * (mark_unlinked); a hard-linked file keeps living with one link less and
 * a new ctime. */
void mpfs_meta_drop_name(struct mpfs_fs *fs, uint64_t parent, const char *name, const struct mpfs_index_entry *ie);

/* The owner the store shows for a new entry is the caller's, or is made
 * so (a setattr: stores take no owner at creation); *a gets the result.
 * Failing that, the entry stays as the store made it and a warning says
 * so: removing it again could lose a race with another client. */
void mpfs_meta_store_owner(struct mpfs_fs *fs, struct mpfs_backend *b, const char *path, const struct mpfs_attr *want, struct mpfs_attr *a);

/* mpfs_index_list callback filling a struct mpfs_old_entries; free it
 * with mpfs_meta_old_entries_free(). */
int mpfs_meta_collect_old(void *arg, const char *name, const struct mpfs_index_entry *e);
void mpfs_meta_old_entries_free(struct mpfs_old_entries *o);

#endif

/*
 * entry.h - entries and attributes (meta.c): between the store's attributes,
 * the index's entries and the kernel's struct stat, and the bookkeeping of
 * an entry made, changed or removed.  Takes fs->lock for short sections.
 */
#ifndef MPFS_FS_ENTRY_H
#define MPFS_FS_ENTRY_H

#include "backends/backend.h"
#include "consistency/policy.h"
#include "fs/vfs.h"
#include "index/index.h"

#include <stdint.h>
#include <sys/stat.h>

struct mpfs_fs;

void mpfs_attr_to_stat(const struct mpfs_fs *fs, uint64_t ino, const struct mpfs_attr *a,
                       struct stat *st);
void mpfs_entry_from_index(const struct mpfs_index_entry *ie, struct mpfs_attr *a);
void mpfs_entry_to_index(const struct mpfs_attr *a, uint64_t ino, uint8_t source,
                         int64_t seen, struct mpfs_index_entry *ie);
uint8_t mpfs_source_of(const struct mpfs_fs *fs, const struct mpfs_backend *b);
const struct mpfs_policy *mpfs_fs_policy(const struct mpfs_fs *fs, const char *path);
/* Record fresh attributes of (parent, name) in the index and the node. */
void mpfs_fs_record(struct mpfs_fs *fs, uint64_t ino, uint64_t parent, const char *name,
                    const struct mpfs_attr *a, uint8_t source);
void mpfs_fill_entry(struct mpfs_fs *fs, uint64_t ino, const struct mpfs_attr *a,
                     struct mpfs_entry *e);
/* Owner of a new entry in parent made by c (POSIX rules, see vfs.h); sets
 * a->uid/gid/valid, and S_ISGID in a->mode for a directory in a setgid one. */
void mpfs_fs_new_owner(struct mpfs_fs *fs, uint64_t parent, const struct mpfs_caller *c,
                       struct mpfs_attr *a);
/* An entry was added to or removed from directory ino: its mtime and ctime
 * become now, its link count moves by dlink (subdirectories). */
void mpfs_fs_touch_dir(struct mpfs_fs *fs, uint64_t ino, int dlink);
/* -ENAMETOOLONG if (parent, name) is a path the metadata side cannot hold,
 * -ESTALE if parent is unknown, else 0. */
int mpfs_fs_check_child(struct mpfs_fs *fs, uint64_t parent, const char *name);
/* (parent, name), indexed as old, was removed by someone else: drop it from
 * the index as a lookup that finds it gone does (remote_event.c). */
void mpfs_fs_forget_remote(struct mpfs_fs *fs, uint64_t parent, const char *name,
                           const struct mpfs_index_entry *old);
/* fresh and old describe the same version: keep old's times where fresh
 * has the same second with less precision (an S3 listing gives
 * milliseconds, a HEAD whole seconds).  Otherwise every HEAD after a
 * listing would move the mtime back and forth, and the kernel, which
 * drops a file's pages when its mtime changes, would re-read it. */
void mpfs_attr_keep_precise_times(struct mpfs_attr *fresh, const struct mpfs_attr *old);

#endif

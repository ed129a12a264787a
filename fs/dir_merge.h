/*
 * dir_merge.h - a directory listing from the metadata side, merged into
 * the index (dir_merge.c): entries added, changed and gone, with the rules
 * that keep a commit made here during the listing from being undone by it.
 */
#ifndef MPFS_FS_DIR_MERGE_H
#define MPFS_FS_DIR_MERGE_H

#include <stdint.h>

struct mpfs_fs;
struct mpfs_listing;

/* Re-list directory ino from the metadata side into the index. */
int mpfs_fs_refresh_dir(struct mpfs_fs *fs, uint64_t ino, const char *path);

/* Merge a complete listing of directory ino into the index (the listing is
 * finished here and stays the caller's to free). */
int mpfs_fs_apply_listing(struct mpfs_fs *fs, uint64_t ino, const char *path,
                          struct mpfs_listing *l);

#endif

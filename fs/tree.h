/*
 * tree.h - a whole subtree listed in one flat walk (tree.c).
 */
#ifndef MPFS_FS_TREE_H
#define MPFS_FS_TREE_H

#include <stddef.h>
#include <stdint.h>

struct mpfs_fs;

/* List the whole subtree below ino in one flat walk and index every
 * directory in it; -E2BIG (nothing applied) past max_keys keys, -EOPNOTSUPP
 * if the metadata side cannot walk flat. */
int mpfs_fs_refresh_tree(struct mpfs_fs *fs, uint64_t ino, const char *path, size_t max_keys);

#endif

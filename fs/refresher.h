/*
 * refresher.h - directories re-listed in the background when a stale listing was
 * served (refresher.c).
 */
#ifndef MPFS_FS_REFRESHER_H
#define MPFS_FS_REFRESHER_H

#include <stdint.h>

struct mpfs_fs;

int mpfs_refresher_start(struct mpfs_fs *fs);
void mpfs_refresher_stop(struct mpfs_fs *fs);
void mpfs_refresher_enqueue(struct mpfs_fs *fs, uint64_t dir_ino);

#endif

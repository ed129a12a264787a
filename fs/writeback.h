/*
 * writeback.h - commits that failed, retried in the background, and the journal of
 * a previous run replayed at mount (writeback.c).
 */
#ifndef MPFS_FS_WRITEBACK_H
#define MPFS_FS_WRITEBACK_H

#include <stddef.h>
#include <stdint.h>

struct mpfs_fs;

/* Retry failed commits in the background; replay the journal
 * of a previous run at mount. */
int mpfs_writeback_start(struct mpfs_fs *fs);
void mpfs_writeback_stop(struct mpfs_fs *fs);
void mpfs_writeback_kick(struct mpfs_fs *fs);
/* Commit (or rescue) every journal record no live node owns.  Returns the
 * number of records left for a later retry. */
size_t mpfs_writeback_replay(struct mpfs_fs *fs);
/* Files whose staged data is not on the store yet (journal records). */
size_t mpfs_writeback_pending(struct mpfs_fs *fs);
#endif

/*
 * lostfound.h - data that cannot be committed, kept by its path
 * (<cache_dir>/lost+found).  A staging file moves there under its path
 * with '/' as '%2F' and the UTC time (<path>.<YYYYMMDDTHHMMSSZ>-<ns>); a
 * long path is shortened in the middle, so the full path is also kept in
 * the file's user.mpfs.path xattr where the cache disk has xattrs.  The log
 * names the original path and the new place; so does `mpfs ctl MOUNT
 * rescued`.  Used by open files (file.c) and the journal replay
 * (writeback.c).  No locks: plain file operations.
 */
#ifndef MPFS_FS_LOSTFOUND_H
#define MPFS_FS_LOSTFOUND_H

#include <stdint.h>

struct mpfs_fs;

/* Move a staging file to lost+found under a name derived from path; logs
 * both.  Returns the new location (caller frees) or NULL. */
char *mpfs_lostfound_rescue(struct mpfs_fs *fs, const char *staging, const char *path,
                            uint64_t size);

/* Call fn for each file in <cache_dir>/lost+found: the path its data
 * belonged to, where it is, its size and when it was rescued.  Returns how
 * many (fn may be NULL to count) or -errno. */
typedef void (*mpfs_rescued_fn)(void *arg, const char *path, const char *file, uint64_t size,
                                int64_t when);
int mpfs_lostfound_list(struct mpfs_fs *fs, mpfs_rescued_fn fn, void *arg);

#endif

/*
 * lookup.h - lookups made by the fs core itself (lookup.c), beside the
 * kernel's (mpfs_vfs_lookup in vfs.h, which is this with read_head set).
 */
#ifndef MPFS_FS_LOOKUP_H
#define MPFS_FS_LOOKUP_H

#include "fs/vfs.h"

#include <stdint.h>

/* mpfs_vfs_lookup; read_head 0 asks the store with a plain stat, never
 * caching the file's first bytes with it (lookup_read): for a caller that
 * fetches and accounts the data itself (announced reads). */
int mpfs_fs_lookup(struct mpfs_fs *fs, uint64_t parent, const char *name, struct mpfs_entry *e,
                   int read_head);

#endif

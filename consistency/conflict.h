/*
 * conflict.h - version tokens and the conflict rule.
 *
 * A write is committed with a precondition (the version the writer started
 * from) where the store supports it.  When the precondition fails, someone
 * else changed the file meanwhile: both versions are kept.  The other
 * writer's version stays at the original name; ours is committed next to
 * it under a conflict name, and a warning is logged.  Nothing is lost.
 */
#ifndef MPFS_CONSISTENCY_CONFLICT_H
#define MPFS_CONSISTENCY_CONFLICT_H

#include <stddef.h>
#include <stdint.h>

#include "consistency/version.h" /* mpfs_version_same() */

/* "dir/name" -> "dir/name.mpfs-conflict-<host>-<UTC time>-<n>" (caller
 * frees).  The name stays within 255 bytes by shortening the original
 * name part. */
char *mpfs_conflict_path(const char *path, int64_t wall_ns, unsigned serial);

#endif

/*
 * mem.h - an in-memory backend that behaves like a real one, for tests.
 *
 * mpfs_mem_new(caps) returns a backend whose namespace model and optional
 * behaviour follow the capability bits it is given, so upper layers can be
 * unit-tested against "an S3 bucket" or "a POSIX NFS export" without a
 * server:
 *
 *   - caps & MPFS_CAP_PWRITE: POSIX-like.  Directories are explicit (a
 *     parent must exist before anything is created in it, -ENOENT /
 *     -ENOTDIR otherwise), files are edited in place, hard links share one
 *     object, every entry has a file id, directory mtimes move when their
 *     entries change, names are limited to 255 bytes.
 *   - otherwise: S3-like.  The store is a flat map of keys; "a/b/c" makes
 *     "a" and "a/b" appear as (implied) directories, mkdir writes a "dir/"
 *     marker (only with MPFS_CAP_EMPTY_DIRS), a key and a marker of the same
 *     name may coexist (listed twice), directories vanish with their last
 *     key, a put replaces the object and its metadata.  Listings show what
 *     an S3 LIST carries: objects with size, mtime and version but no
 *     metadata (mode S_IFREG|0644, valid = MPFS_ATTR_MTIME: a symlink looks
 *     like a file until stat'ed), directories with only their type
 *     (attr_full == 0).
 *
 * Every other optional behaviour is honoured only when its bit is set and
 * fails -EOPNOTSUPP otherwise: rename (MPFS_CAP_RENAME_ATOMIC or
 * MPFS_CAP_RENAME_EMULATED; directories only with MPFS_CAP_RENAME_DIR),
 * symlinks, hard links, setattr of mode/owner/times (MPFS_CAP_SETATTR; put
 * metadata is dropped without it), truncate, user xattrs, pinned reads
 * (MPFS_CAP_PINNED_READ: read(version) fails -ESTALE on mismatch).  Put
 * preconditions (if_match / if_none_match) are always checked, atomically.
 *
 * Version tokens are "v<n>" from one counter per backend: they change on
 * every content change (put, pwrite, truncate, put_raw, bump_version) and,
 * in POSIX mode, when mtime is set; never on mode/owner/xattr changes.
 *
 * Thread-safe: one mutex guards the whole store.  list() copies the
 * entries out and calls the callback without the lock held, so a callback
 * may call back into the backend.
 */
#ifndef MPFS_BACKENDS_MEM_H
#define MPFS_BACKENDS_MEM_H

#include "backends/backend.h"

/* Capability presets that mimic the real backends. */
#define MPFS_MEM_CAPS_POSIX                                                                        \
    (MPFS_CAP_PWRITE | MPFS_CAP_RENAME_ATOMIC | MPFS_CAP_RENAME_DIR | MPFS_CAP_HARDLINK |          \
     MPFS_CAP_SYMLINK | MPFS_CAP_SETATTR | MPFS_CAP_TRUNCATE | MPFS_CAP_USER_XATTR |               \
     MPFS_CAP_EMPTY_DIRS)
#define MPFS_MEM_CAPS_S3                                                                           \
    (MPFS_CAP_RENAME_EMULATED | MPFS_CAP_RENAME_DIR | MPFS_CAP_SYMLINK | MPFS_CAP_SETATTR |        \
     MPFS_CAP_COND_PUT | MPFS_CAP_PINNED_READ | MPFS_CAP_USER_XATTR | MPFS_CAP_EMPTY_DIRS |        \
     MPFS_CAP_SERVER_COPY)

/* Backend calls counted since creation or the last reset (the raw helpers
 * below are "someone else" and are not counted). */
struct mpfs_mem_stats {
    uint64_t stats;
    uint64_t lists;
    uint64_t reads;
    uint64_t puts;
    uint64_t bytes_read;
    uint64_t bytes_written; /* put + pwrite */
    uint64_t pwrites;
    uint64_t removes;
    uint64_t renames;
    uint64_t mkdirs;
    uint64_t rmdirs;
    uint64_t setattrs;
    uint64_t others; /* symlink, readlink, link, statfs, xattrs */
};

/* A new, empty store; never fails.  Free with mpfs_backend_free(). */
struct mpfs_backend *mpfs_mem_new(uint32_t caps);

/* True if b was made by mpfs_mem_new() (the helpers below require it). */
int mpfs_mem_is(const struct mpfs_backend *b);

/*
 * "Someone else wrote this" (another client, through S3 or NFS): store
 * len bytes under key, bypassing every check the ops do and the counters.
 * S3 mode: key is a raw object key and may be anything ("a//b", "../x",
 * "dir/" with content, 2000 bytes...); an existing object is replaced with
 * default metadata.  POSIX mode: key is a path; missing parent directories
 * are created (mkdir -p), -ENOTDIR if a component is a file, -EISDIR if key
 * is a directory, -EINVAL for empty, "." or ".." components.
 */
int mpfs_mem_put_raw(struct mpfs_backend *b, const char *key, const void *data, size_t len);
/* "Someone else deleted this": S3 mode removes exactly that key; POSIX
 * mode removes the file, or the directory with everything under it
 * (rm -rf).  -ENOENT if nothing is there. */
int mpfs_mem_remove_raw(struct mpfs_backend *b, const char *key);
/* Give the object at key a new version token (and mtime) without changing
 * its bytes, as a rewrite by someone else would.  -ENOENT if missing. */
int mpfs_mem_bump_version(struct mpfs_backend *b, const char *key);

void mpfs_mem_get_stats(struct mpfs_backend *b, struct mpfs_mem_stats *out);
void mpfs_mem_reset_stats(struct mpfs_backend *b);

#endif

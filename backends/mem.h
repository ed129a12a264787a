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
 * preconditions (if_match / if_none_match) are checked atomically (unless
 * mpfs_mem_ignore_conditions() says not to, below).
 *
 * Version tokens are "v<n>" from one counter per backend: they change on
 * every content change (put, pwrite, truncate, put_raw, bump_version) and,
 * in POSIX mode, when mtime is set; never on mode/owner/xattr changes.
 *
 * pwrite_if (with MPFS_CAP_PWRITE) checks its expected version and writes
 * in one step: a conflict writes nothing.
 *
 * One dataset, two views (mpfs_mem_dual_new): a POSIX store seen through
 * an S3 handle and an NFS handle, as a multiprotocol appliance (VAST,
 * ONTAP, PowerScale) shows one dataset.  What differs per view:
 *   - version tokens, as the real protocols issue them: the S3 view's are
 *     opaque ETags that are NOT MD5s ("9e3779b97f4a7c15": 16 hex digits,
 *     moving with every content change), the NFS view's are the real NFS
 *     backend's "m<mtime_ns>.c<ctime_ns>.s<size>" (they also move on
 *     chmod, chown and xattr changes, which touch ctime; the store's clock
 *     is strictly increasing, so two changes never share a token).  A
 *     token of one view never matches on the other: a pinned read or an
 *     if_match with the other side's token fails -ESTALE, as a real store
 *     would.
 *   - the S3 view lists like S3 (objects with size, mtime and ETag, no
 *     metadata; subdirectories as prefixes, attr_full 0), has list_tree,
 *     and its creates (put, mkdir, symlink, rename) make missing parents
 *     (mkdir -p), which stay when their last file goes (a tree, not
 *     implied directories).  A put over an existing file replaces its
 *     bytes in place (same file id, hard links see it).  Caps:
 *     MPFS_MEM_CAPS_DUAL_S3 (cond-put, pinned-read; no pwrite, no link).
 *   - the NFS view is the POSIX mode above with MPFS_MEM_CAPS_DUAL_NFS
 *     (pinned reads and cond-pwrite too, as the real NFS backend has).
 *   - each handle has its own counters (mpfs_mem_get_stats).
 *
 * Usage, e.g. the model test: the mount gets the two views, the test
 * writes "behind its back" through two more handles on the same data:
 *
 *     struct mpfs_backend *nfs, *s3 = mpfs_mem_dual_new(&nfs);
 *     struct mpfs_backend *rs3 = mpfs_mem_view_new(s3, MPFS_MEM_VIEW_S3);
 *     struct mpfs_backend *rnfs = mpfs_mem_view_new(s3, MPFS_MEM_VIEW_NFS);
 *     ... hand s3 and nfs to the fs (dual mode) ...
 *     mpfs_backend_put_buf(rs3, "d/f", "remote", 6, NULL, NULL);  // S3 client
 *     mpfs_backend_pwrite(rnfs, "d/f", "X", 1, 0);                // NFS client
 *     ... every handle is freed with mpfs_backend_free(); the data goes
 *     with the last one.  The raw helpers below work on any view (POSIX
 *     rules) and are not counted.
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

/* Caps of the two views of a dual store. */
#define MPFS_MEM_CAPS_DUAL_S3                                                                      \
    (MPFS_CAP_RENAME_EMULATED | MPFS_CAP_RENAME_DIR | MPFS_CAP_SYMLINK | MPFS_CAP_SETATTR |        \
     MPFS_CAP_COND_PUT | MPFS_CAP_PINNED_READ | MPFS_CAP_USER_XATTR | MPFS_CAP_EMPTY_DIRS |        \
     MPFS_CAP_SERVER_COPY | MPFS_CAP_COND_MULTIPART)
#define MPFS_MEM_CAPS_DUAL_NFS                                                                     \
    (MPFS_MEM_CAPS_POSIX | MPFS_CAP_PINNED_READ | MPFS_CAP_COND_PWRITE)

/* How a handle sees its store: PLAIN for mpfs_mem_new(), S3 or NFS for the
 * views of a dual store (see above). */
enum mpfs_mem_view {
    MPFS_MEM_VIEW_PLAIN = 0,
    MPFS_MEM_VIEW_S3 = 1,
    MPFS_MEM_VIEW_NFS = 2,
};

/* A new, empty store; never fails.  Free with mpfs_backend_free(). */
struct mpfs_backend *mpfs_mem_new(uint32_t caps);

/* A new, empty dual store: returns its S3 view and sets *nfs_view to its
 * NFS view.  Never fails.  Free each with mpfs_backend_free(). */
struct mpfs_backend *mpfs_mem_dual_new(struct mpfs_backend **nfs_view);
/* Another handle on the dataset of a dual view b (own counters), or NULL
 * if b is not a view of a dual store or view is PLAIN. */
struct mpfs_backend *mpfs_mem_view_new(struct mpfs_backend *b, enum mpfs_mem_view view);
/* The view of a mem handle (PLAIN for anything else). */
enum mpfs_mem_view mpfs_mem_view_of(const struct mpfs_backend *b);

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

/* Versioned S3 store (mpfs_mem_new with MPFS_CAP_VERSION_CHAIN, S3 mode):
 * every replaced or deleted object leaves a version (or a delete marker)
 * that overwritten() and copy_version() see, with version ids "id<n>".
 * mpfs_mem_ignore_conditions(b, 1) makes puts acknowledge if_match /
 * if_none_match without checking them, as radosgw 16.2 does on a
 * versioned bucket (two racing conditional PUTs both succeed). */
void mpfs_mem_ignore_conditions(struct mpfs_backend *b, int ignore);

void mpfs_mem_get_stats(struct mpfs_backend *b, struct mpfs_mem_stats *out);
void mpfs_mem_reset_stats(struct mpfs_backend *b);

#endif

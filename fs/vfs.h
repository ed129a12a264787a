/*
 * vfs.h - the protocol-neutral filesystem: what the FUSE adapter calls.
 *
 * Every function answers one request synchronously on the calling (FUSE
 * worker) thread and returns 0 or -errno; the adapter flips the sign once.
 * Inode numbers are mpfs's own, stable across remounts (the index keeps
 * them).  Lookup counting follows the FUSE contract: every successful
 * function that fills a struct mpfs_entry adds one lookup reference to
 * that inode, and mpfs_vfs_forget() takes n away.
 *
 * The adapter gives a notifier at creation; the fs calls it (from any
 * thread, never with a lock held) when it learns that the kernel's cached
 * data or dentries are out of date, and the adapter forwards it to the
 * kernel from its own thread.
 */
#ifndef MPFS_FS_VFS_H
#define MPFS_FS_VFS_H

#include "fs/config.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#define MPFS_ROOT_INO 1

struct mpfs_fs;
struct mpfs_handle;
struct mpfs_dirhandle;

struct mpfs_entry {
    uint64_t ino;
    struct stat st;
    double attr_timeout;
    double entry_timeout;
};

/* Who asks, for the calls that create entries: POSIX gives a new entry
 * the caller's uid and its gid (the parent's gid on a setgid directory).
 * NULL means the mount's own uid/gid (tools and tests). */
struct mpfs_caller {
    uid_t uid;
    gid_t gid;
};

struct mpfs_notifier {
    void *ctx;
    /* drop cached pages and attributes of ino */
    void (*inval_inode)(void *ctx, uint64_t ino);
    /* drop the dentry name in directory parent */
    void (*inval_entry)(void *ctx, uint64_t parent, const char *name);
    /* drop the cached attributes (not the pages) of ino before returning:
     * safe while answering a read of ino (no page lock is taken), so the
     * kernel asks for the new size before it takes the old one for EOF.
     * May be NULL. */
    void (*inval_attr)(void *ctx, uint64_t ino);
};

/* Open everything the configuration names: backends (probing their
 * capabilities), the router, the index, the caches.  On failure returns
 * -errno and a one-line message for the user in err. */
int mpfs_fs_new(const struct mpfs_config *cfg, struct mpfs_fs **out, char *err,
                size_t errlen);
/* The same over backends already open (tests, tools); takes ownership of
 * them (either may be NULL, as cfg->mode says). */
struct mpfs_backend;
int mpfs_fs_new_from(const struct mpfs_config *cfg, struct mpfs_backend *s3,
                     struct mpfs_backend *nfs, struct mpfs_fs **out, char *err, size_t errlen);
/* Start background threads; call after daemonizing. */
int mpfs_fs_start(struct mpfs_fs *fs, const struct mpfs_notifier *n);
/* Commit what is dirty, stop threads, close everything.  NULL ok. */
void mpfs_fs_free(struct mpfs_fs *fs);
/* For crash tests: free fs as a kill -9 would leave it: nothing committed,
 * nothing rescued, staging files, journal and index kept for the next
 * mount (which replays the journal). */
void mpfs_fs_abandon(struct mpfs_fs *fs);
/* One line per route, for the log and `mpfs probe`. */
void mpfs_fs_describe(struct mpfs_fs *fs, char *buf, size_t size);

int mpfs_vfs_lookup(struct mpfs_fs *fs, uint64_t parent, const char *name,
                    struct mpfs_entry *e);
void mpfs_vfs_forget(struct mpfs_fs *fs, uint64_t ino, uint64_t nlookup);
int mpfs_vfs_getattr(struct mpfs_fs *fs, uint64_t ino, struct stat *st, double *timeout);

/* to_set: FUSE_SET_ATTR_* compatible bits defined here */
#define MPFS_SETATTR_MODE (1 << 0)
#define MPFS_SETATTR_UID (1 << 1)
#define MPFS_SETATTR_GID (1 << 2)
#define MPFS_SETATTR_SIZE (1 << 3)
#define MPFS_SETATTR_ATIME (1 << 4)
#define MPFS_SETATTR_MTIME (1 << 5)
#define MPFS_SETATTR_ATIME_NOW (1 << 7)
#define MPFS_SETATTR_MTIME_NOW (1 << 8)
int mpfs_vfs_setattr(struct mpfs_fs *fs, uint64_t ino, struct mpfs_handle *h,
                     const struct stat *attr, int to_set, struct stat *st, double *timeout);

int mpfs_vfs_mkdir(struct mpfs_fs *fs, uint64_t parent, const char *name, mode_t mode,
                   const struct mpfs_caller *c, struct mpfs_entry *e);
/* A FIFO, socket or device node (mode carries the type); regular files go
 * through mpfs_vfs_create.  -EPERM where the store cannot hold them. */
int mpfs_vfs_mknod(struct mpfs_fs *fs, uint64_t parent, const char *name, mode_t mode,
                   dev_t rdev, const struct mpfs_caller *c, struct mpfs_entry *e);
int mpfs_vfs_unlink(struct mpfs_fs *fs, uint64_t parent, const char *name);
int mpfs_vfs_rmdir(struct mpfs_fs *fs, uint64_t parent, const char *name);
int mpfs_vfs_rename(struct mpfs_fs *fs, uint64_t parent, const char *name,
                    uint64_t newparent, const char *newname, unsigned flags);
int mpfs_vfs_symlink(struct mpfs_fs *fs, const char *target, uint64_t parent,
                     const char *name, const struct mpfs_caller *c, struct mpfs_entry *e);
/* Returns the target length (NUL-terminated in buf) or -errno. */
ssize_t mpfs_vfs_readlink(struct mpfs_fs *fs, uint64_t ino, char *buf, size_t size);
int mpfs_vfs_link(struct mpfs_fs *fs, uint64_t ino, uint64_t newparent, const char *newname,
                  struct mpfs_entry *e);
int mpfs_vfs_statfs(struct mpfs_fs *fs, struct statvfs *st);

/* Directories: a snapshot taken at opendir, paged by offset. */
int mpfs_vfs_opendir(struct mpfs_fs *fs, uint64_t ino, struct mpfs_dirhandle **out);
/* Entry idx of the snapshot (0-based, "." and ".." are the adapter's):
 * returns 1 and fills name/e, or 0 at the end.  With plus, the entry
 * counts as a lookup (call mpfs_vfs_dir_unref if it was not sent). */
int mpfs_vfs_dir_entry(struct mpfs_fs *fs, struct mpfs_dirhandle *d, size_t idx, int plus,
                       const char **name, struct mpfs_entry *e);
void mpfs_vfs_dir_unref(struct mpfs_fs *fs, uint64_t ino);
/* Inode of the directory's parent (the root's is the root), for "..". */
uint64_t mpfs_vfs_dir_parent(const struct mpfs_dirhandle *d);
void mpfs_vfs_releasedir(struct mpfs_fs *fs, struct mpfs_dirhandle *d);

/* Files.  *keep_cache tells the kernel whether its cached pages of this
 * inode are still the current version. */
int mpfs_vfs_open(struct mpfs_fs *fs, uint64_t ino, int flags, struct mpfs_handle **out,
                  int *keep_cache);
/* Should the kernel bypass its page cache for this handle?  (Set when the
 * file changed on the server since the kernel last cached it.) */
int mpfs_vfs_handle_direct_io(const struct mpfs_handle *h);
int mpfs_vfs_create(struct mpfs_fs *fs, uint64_t parent, const char *name, mode_t mode,
                    int flags, const struct mpfs_caller *c, struct mpfs_entry *e,
                    struct mpfs_handle **out);
ssize_t mpfs_vfs_read(struct mpfs_fs *fs, struct mpfs_handle *h, void *buf, size_t len,
                      off_t off);
ssize_t mpfs_vfs_write(struct mpfs_fs *fs, struct mpfs_handle *h, const void *buf,
                       size_t len, off_t off);
int mpfs_vfs_flush(struct mpfs_fs *fs, struct mpfs_handle *h);
int mpfs_vfs_fsync(struct mpfs_fs *fs, struct mpfs_handle *h);
void mpfs_vfs_release(struct mpfs_fs *fs, struct mpfs_handle *h);

/* xattrs: user.mpfs.etag and user.mpfs.source are read-only views of the
 * version token and the side an entry came from. */
ssize_t mpfs_vfs_getxattr(struct mpfs_fs *fs, uint64_t ino, const char *name, void *buf,
                          size_t size);
int mpfs_vfs_setxattr(struct mpfs_fs *fs, uint64_t ino, const char *name, const void *value,
                      size_t size, int flags);
ssize_t mpfs_vfs_listxattr(struct mpfs_fs *fs, uint64_t ino, char *buf, size_t size);
int mpfs_vfs_removexattr(struct mpfs_fs *fs, uint64_t ino, const char *name);

/* Operations (fs/invalidate.c, fs/flush.c; used by the control channel).
 *
 * Forget what this node knows of dataset path (relative, "" = the root) and,
 * with recursive, of its subtree: index entries are marked unconfirmed and
 * listings expired (inode numbers kept), cache blocks dropped, the kernel's
 * pages, attributes and dentries invalidated; the next access revalidates.
 * Entries with uncommitted writes are left alone.  -ENOENT if a directory on
 * the way is not indexed (nothing of it is cached). */
int mpfs_vfs_invalidate(struct mpfs_fs *fs, const char *path, int recursive);
/* Drop every cached block (RAM and disk tiers) of every indexed file and
 * the kernel's pages; the index stays.  *files: how many entries visited. */
int mpfs_vfs_drop_cache(struct mpfs_fs *fs, uint64_t *files);
/* Commit every file with staged data now; failed(arg, path, -errno) for
 * each one that fails.  Returns 0 or the first failure; *committed counts
 * the successes. */
typedef void (*mpfs_flush_failed_fn)(void *arg, const char *path, int err);
int mpfs_vfs_flush_all(struct mpfs_fs *fs, mpfs_flush_failed_fn failed, void *arg,
                       uint64_t *committed);

#endif

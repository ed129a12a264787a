/*
 * backend.h - the one interface every storage backend implements.
 *
 * Modelled on sqlite3_vfs: a versioned table of function pointers that only
 * grows at the end, a base struct (struct mpfs_backend) embedded first in
 * each backend's handle, and callers always go through the small
 * mpfs_backend_*() wrappers below so a missing [Optional] slot turns into
 * -EOPNOTSUPP in one place and faults can be injected by wrapping a backend
 * (fault.h) rather than by patching callers.
 *
 * Paths are dataset-relative: no leading or trailing '/', the root is "".
 * A backend maps them to its namespace (S3: prefix + path as key, with
 * "path/" for directories; NFS: export path + "/" + path).
 *
 * Names a backend reports in a listing are raw: they may be "", ".", "..",
 * longer than 255 bytes or not UTF-8 (S3 keys can be anything).  Filtering
 * what POSIX can show is the namespace layer's job (fs/), not the backend's.
 *
 * Every slot returns 0 (or a byte count) on success and -errno on failure.
 * Each backend maps its foreign errors (HTTP status + S3 code, NFS status)
 * to errno in exactly one function.  Conventions:
 *   -ENOENT   no such object/file       -EEXIST   exists (create-exclusive)
 *   -ESTALE   version precondition failed (If-Match, pinned read)
 *   -EACCES   credentials/permission    -ETIMEDOUT timeout after retries
 *   -EHOSTUNREACH / -ECONNREFUSED  endpoint unreachable
 *   -ENOTEMPTY, -ENOTDIR, -EISDIR as POSIX
 *   -EOPNOTSUPP  the backend cannot do this (see caps)
 *
 * Thread safety: every slot may be called from many threads at once; a
 * backend that holds non-thread-safe state (a libnfs context) pools it.
 */
#ifndef MPFS_BACKENDS_BACKEND_H
#define MPFS_BACKENDS_BACKEND_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <sys/types.h>

/* 2: mknod (special files) and the rdev attribute; 3: stat_read */
#define MPFS_BACKEND_OPS_VERSION 3
#define MPFS_VERSION_MAX 96

/* Capability bits: what a backend can do natively, probed or declared at
 * open time.  The router (fs/) reads these; the conformance suite asserts
 * behaviour per bit instead of skipping. */
enum mpfs_backend_cap {
    MPFS_CAP_PWRITE = 1u << 0,         /* write at any offset of an existing file */
    MPFS_CAP_RENAME_ATOMIC = 1u << 1,  /* file rename is one atomic server op */
    MPFS_CAP_RENAME_DIR = 1u << 2,     /* directories can be renamed (maybe emulated) */
    MPFS_CAP_HARDLINK = 1u << 3,       /* link() */
    MPFS_CAP_SYMLINK = 1u << 4,        /* symlink()/readlink() (maybe emulated) */
    MPFS_CAP_SETATTR = 1u << 5,        /* mode/uid/gid/mtime are stored */
    MPFS_CAP_TRUNCATE = 1u << 6,       /* setattr(size) works in place */
    MPFS_CAP_COND_PUT = 1u << 7,       /* If-Match/If-None-Match on put honoured (probed) */
    MPFS_CAP_MULTIPART = 1u << 8,      /* large puts go up in parallel parts */
    MPFS_CAP_USER_XATTR = 1u << 9,     /* arbitrary user.* metadata kept */
    MPFS_CAP_PINNED_READ = 1u << 10,   /* read(version) fails -ESTALE on mismatch */
    MPFS_CAP_RENAME_EMULATED = 1u << 11, /* rename is copy+delete: not atomic */
    MPFS_CAP_EMPTY_DIRS = 1u << 12,    /* mkdir leaves a persistent empty dir */
    MPFS_CAP_SERVER_COPY = 1u << 13,   /* copy without moving bytes through us */
    /* Data written through this backend becomes readable, replaceable and
     * renamable only after the store commits it, some seconds later; until
     * then read returns -EAGAIN and put/rename over it -EBUSY. */
    MPFS_CAP_LAZY_COMMIT = 1u << 14,
    /* pwrite_if() refuses (-ESTALE) a write over a file whose version is
     * not the expected one, atomically or by a before-and-after check (NFS:
     * GETATTR before, the WRITE reply's pre-op attributes after).  Without
     * it, pwrite_if() is a GETATTR check before the write only (racy). */
    MPFS_CAP_COND_PWRITE = 1u << 15,
    /* A multipart put honours if_match/if_none_match atomically at its
     * completion (probed: a conditional CompleteMultipartUpload was
     * refused with 412).  Without it, a multipart put checks with a HEAD
     * before the upload and verifies after it (see the backend's docs). */
    MPFS_CAP_COND_MULTIPART = 1u << 16,
    /* The store keeps every version of an object (S3 bucket versioning
     * enabled, probed): overwritten() can tell whether a put replaced a
     * version other than the one it expected, and copy_version() can keep
     * that version. */
    MPFS_CAP_VERSION_CHAIN = 1u << 17,
};

/* Which fields of struct mpfs_attr the backend really stores (as opposed
 * to defaults it made up, e.g. S3 objects without s3fs metadata). */
enum mpfs_attr_valid {
    MPFS_ATTR_MODE = 1u << 0,
    MPFS_ATTR_OWNER = 1u << 1,
    MPFS_ATTR_MTIME = 1u << 2,
};

struct mpfs_attr {
    uint32_t mode; /* S_IFREG/S_IFDIR/S_IFLNK/S_IFIFO/S_IFSOCK/S_IFCHR/S_IFBLK | bits */
    uint32_t uid;
    uint32_t gid;
    uint32_t nlink;
    uint64_t size;
    int64_t mtime_ns; /* wall clock, ns since the epoch */
    int64_t ctime_ns;
    int64_t atime_ns;
    uint64_t fileid;   /* the backend's own file id (NFS fileid); 0 if none */
    uint64_t rdev;     /* device number of a S_IFCHR/S_IFBLK node, else 0 */
    uint32_t valid;    /* enum mpfs_attr_valid */
    /* Opaque version token, "" if unknown: S3 ETag without quotes; NFS
     * "m<mtime_ns>.c<ctime_ns>.s<size>" (NFSv3 has no change attribute). */
    char version[MPFS_VERSION_MAX];
};

/* setattr() selector bits */
enum mpfs_setattr_bits {
    MPFS_SET_MODE = 1u << 0,
    MPFS_SET_UID = 1u << 1,
    MPFS_SET_GID = 1u << 2,
    MPFS_SET_SIZE = 1u << 3,
    MPFS_SET_MTIME = 1u << 4,
    MPFS_SET_ATIME = 1u << 5,
};

/* rename() flags (values match RENAME_NOREPLACE / RENAME_EXCHANGE) */
#define MPFS_RENAME_NOREPLACE (1u << 0)
#define MPFS_RENAME_EXCHANGE (1u << 1)

/* Options of a whole-object put. */
struct mpfs_put_opts {
    /* POSIX metadata to store with the object (S3: x-amz-meta-mode/-uid/
     * -gid/-mtime in s3fs format; NFS: a SETATTR after the write).  Only
     * the fields named by attr_set (MPFS_SET_*) are used. */
    struct mpfs_attr attr;
    uint32_t attr_set;
    /* Preconditions: if_match is a version token the current object must
     * have (-ESTALE if not); if_none_match means the object must not exist
     * (-EEXIST if it does).  Backends without MPFS_CAP_COND_PUT check them
     * with a stat first (racy) and say so in their docs. */
    const char *if_match;
    int if_none_match;
    /* Multipart progress to resume from and to keep up to date, or NULL
     * (see struct mpfs_put_progress).  Backends without multipart ignore
     * it. */
    struct mpfs_put_progress *progress;
};

/* The progress of a multipart put, kept by the caller so that a put cut
 * short by a crash resumes: the next put of the same path and size with
 * this progress reuses the upload and every part whose bytes still match
 * (S3: the part's ETag is the MD5 of the local bytes), instead of sending
 * the whole file again and leaving the first upload's parts orphaned.
 * The backend calls save() (never two at once) once the upload exists and
 * after each part; save persists what it is given.  etags has nparts
 * slots ("" = not uploaded), allocated by whoever fills it, freed with
 * mpfs_put_progress_clear(). */
#define MPFS_UPLOAD_ID_MAX 1024
struct mpfs_put_progress {
    char upload_id[MPFS_UPLOAD_ID_MAX]; /* "" = none started */
    char key[1024];                     /* the object it uploads */
    uint64_t size, part_size;
    uint32_t nparts;
    char (*etags)[MPFS_VERSION_MAX];
    uint32_t reused; /* out: parts found on the store and kept */
    void (*save)(void *arg, const struct mpfs_put_progress *p);
    void *save_arg;
};

static inline void mpfs_put_progress_clear(struct mpfs_put_progress *p)
{
    free(p->etags);
    p->etags = NULL;
    p->upload_id[0] = '\0';
    p->nparts = 0;
}

/* Listing callback: one call per entry.  name is the raw entry name (see
 * above), attr has at least the type bits in mode; attr_full says whether
 * the listing carried full attributes (S3 objects, NFS READDIRPLUS) or only
 * the type (S3 common prefixes).  Return non-zero to stop the listing; that
 * value is returned by list(). */
typedef int (*mpfs_list_fn)(void *arg, const char *name, size_t name_len,
                            const struct mpfs_attr *attr, int attr_full);

struct mpfs_backend;

struct mpfs_backend_ops {
    int version; /* MPFS_BACKEND_OPS_VERSION this table was written for */

    /* [Required] Attributes of path.  Directories implied by S3 prefixes
     * exist (mode S_IFDIR).  -ENOENT if nothing is there. */
    int (*stat)(struct mpfs_backend *b, const char *path, struct mpfs_attr *out);

    /* [Required] List directory dir, paging internally (S3 ListObjectsV2
     * with continuation; NFS READDIRPLUS cookies), calling fn per entry.
     * Entries come in no particular order; "." and ".." are not reported;
     * the same name may come twice (S3 "foo" and "foo/"). */
    int (*list)(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn, void *arg);

    /* [Required] Read up to len bytes at off.  Short only at end of file.
     * If version is non-NULL and non-empty and the backend has
     * MPFS_CAP_PINNED_READ, fails -ESTALE when the object's version differs
     * (so a reader never mixes two versions); otherwise version is ignored. */
    ssize_t (*read)(struct mpfs_backend *b, const char *path, const char *version,
                    void *buf, size_t len, uint64_t off);

    /* [Required] Replace (or create) the whole file with bytes [0, size) of
     * fd, read with pread.  On success fills *out (at least version and
     * size) if out is non-NULL. */
    int (*put)(struct mpfs_backend *b, const char *path, int fd, uint64_t size,
               const struct mpfs_put_opts *opts, struct mpfs_attr *out);

    /* [Optional, MPFS_CAP_PWRITE] Write in place; the file must exist. */
    ssize_t (*pwrite)(struct mpfs_backend *b, const char *path, const void *buf,
                      size_t len, uint64_t off);

    /* [Required] Remove a file or symlink (not a directory: -EISDIR). */
    int (*remove)(struct mpfs_backend *b, const char *path);

    /* [Optional] Rename a file, symlink or (with MPFS_CAP_RENAME_DIR) a
     * directory.  flags: MPFS_RENAME_*; EXCHANGE only where supported. */
    int (*rename)(struct mpfs_backend *b, const char *from, const char *to,
                  unsigned flags);

    /* [Required] Create a directory (S3: a "path/" marker object). */
    int (*mkdir)(struct mpfs_backend *b, const char *path, uint32_t mode);

    /* [Required] Remove an empty directory; -ENOTEMPTY otherwise. */
    int (*rmdir)(struct mpfs_backend *b, const char *path);

    /* [Optional, MPFS_CAP_SYMLINK] */
    int (*symlink)(struct mpfs_backend *b, const char *target, const char *path);
    ssize_t (*readlink)(struct mpfs_backend *b, const char *path, char *buf,
                        size_t size);

    /* [Optional, MPFS_CAP_HARDLINK] */
    int (*link)(struct mpfs_backend *b, const char *existing, const char *newpath);

    /* [Optional, MPFS_CAP_SETATTR / MPFS_CAP_TRUNCATE] Apply the fields of
     * attr named by to_set (MPFS_SET_*); fills *out if non-NULL. */
    int (*setattr)(struct mpfs_backend *b, const char *path,
                   const struct mpfs_attr *attr, uint32_t to_set,
                   struct mpfs_attr *out);

    /* [Optional] Filesystem totals; backends without them leave it unset
     * and the wrapper reports a large synthetic size. */
    int (*statfs)(struct mpfs_backend *b, struct statvfs *out);

    /* [Optional, MPFS_CAP_USER_XATTR] User metadata (name without the
     * "user." prefix).  getxattr returns the value length, or -ENODATA. */
    ssize_t (*getxattr)(struct mpfs_backend *b, const char *path,
                        const char *name, void *buf, size_t size);
    int (*setxattr)(struct mpfs_backend *b, const char *path, const char *name,
                    const void *value, size_t size);
    /* names as "a\0b\0"; returns total length (or needed size if size==0) */
    ssize_t (*listxattr)(struct mpfs_backend *b, const char *path, char *buf,
                         size_t size);
    int (*removexattr)(struct mpfs_backend *b, const char *path, const char *name);

    /* [Required] Free the backend and everything it holds. */
    void (*destroy)(struct mpfs_backend *b);

    /* [Optional] Everything below dir in one flat walk (S3: LIST without a
     * delimiter), in key order: fn gets each object's path relative to dir
     * ("a/b/c"; a directory marker ends in '/') with the attributes the
     * listing carries (attr_full = 1).  Lets the fs layer fill a subtree's
     * index with a few requests instead of one per directory.  Returning
     * non-zero from fn stops the walk and is returned. */
    int (*list_tree)(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn, void *arg);

    /* ---- version 2 ---- */

    /* [Optional, MPFS_CAP_PWRITE] pwrite() with a precondition: expect (a
     * non-empty version token of this backend, as stat returns it) is the
     * version the file must have when the write lands.  Returns the count
     * written, or -ESTALE if the file was at another version: a conflict.
     * With MPFS_CAP_COND_PWRITE the check covers the write itself; a
     * store that cannot make a write conditional (NFS) may have written the
     * bytes when it reports -ESTALE (it learns of the other change from the
     * write's reply), so the caller must treat the file as conflicted either
     * way.  On success fills *out (version after the write) if non-NULL, so
     * a series of writes can chain their expectations.  Without the slot,
     * the wrapper stats, compares, then calls pwrite (racy). */
    ssize_t (*pwrite_if)(struct mpfs_backend *b, const char *path, const void *buf, size_t len,
                         uint64_t off, const char *expect, struct mpfs_attr *out);

    /* [Optional, MPFS_CAP_VERSION_CHAIN] After a put of path that returned
     * version ours (the ETag put reported) and was meant to replace version
     * base (the put's if_match; NULL or "" for a create): look at the
     * object's version chain.  Returns 0 if the version directly before
     * ours is base (or, for a create, there was none, or a delete), 1 if
     * it is another writer's version that our put overwrote -- victim gets
     * its version id ("" if it was a delete marker: nothing to keep) --
     * and -ENOENT if ours is not in the chain (overwritten or deleted
     * since).  Ours is found as the newest version with that ETag, so a
     * later write of identical bytes by someone else is taken for ours. */
    int (*overwritten)(struct mpfs_backend *b, const char *path, const char *ours,
                       const char *base, char *victim, size_t victim_len);

    /* [Optional, MPFS_CAP_VERSION_CHAIN] Copy version version_id of path to
     * the new object to (server-side), e.g. to keep an overwritten version
     * as a conflict copy.  -ENOENT if that version is gone. */
    int (*copy_version)(struct mpfs_backend *b, const char *path, const char *version_id,
                        const char *to);

    /* [Optional] Create a special file: mode carries the type (S_IFIFO,
     * S_IFSOCK, S_IFCHR, S_IFBLK) and the permission bits, rdev the device
     * number of a device node (0 otherwise).  -EEXIST if path exists.  NFS:
     * MKNOD; S3: an empty object whose x-amz-meta-mode carries the type and
     * x-amz-meta-rdev the device, as s3fs writes them, so stat() and a
     * listing followed by stat() report the type. */
    int (*mknod)(struct mpfs_backend *b, const char *path, uint32_t mode, uint64_t rdev);

    /* ---- version 3 ---- */

    /* [Optional] stat() and the first bytes of a regular file in one
     * request: *out as stat fills it, and up to len bytes from offset 0 of
     * that version into buf (*got: how many; 0 for anything but a regular
     * file, or when the bytes could not be had with the attributes).  S3:
     * a ranged GET answers with every header a HEAD gives and the bytes, so
     * a lookup that is followed by a read (a loader opening files by its
     * own list) costs one round trip, not two.  Without the slot the
     * wrapper calls stat (*got = 0). */
    int (*stat_read)(struct mpfs_backend *b, const char *path, struct mpfs_attr *out, void *buf,
                     size_t len, size_t *got);
};

/* Base of every backend handle; embedded first. */
/* Requests by type, counted by the wrappers below (the one place every
 * call passes), for `mpfs stats`. */
enum mpfs_bop {
    MPFS_BOP_STAT, MPFS_BOP_LIST, MPFS_BOP_READ, MPFS_BOP_PUT, MPFS_BOP_PWRITE,
    MPFS_BOP_REMOVE, MPFS_BOP_RENAME, MPFS_BOP_MKDIR, MPFS_BOP_RMDIR, MPFS_BOP_LINK,
    MPFS_BOP_SETATTR, MPFS_BOP_XATTR, MPFS_BOP_OTHER, MPFS_BOP_N
};
const char *mpfs_bop_name(int op);

struct mpfs_backend_counters {
    atomic_uint_fast64_t calls[MPFS_BOP_N];
    atomic_uint_fast64_t errors[MPFS_BOP_N];
    atomic_uint_fast64_t ns[MPFS_BOP_N]; /* total time in the call */
    atomic_uint_fast64_t bytes_read, bytes_written;
};

struct mpfs_backend {
    const struct mpfs_backend_ops *ops;
    const char *kind;   /* "s3", "nfs", "mem", "fault" */
    uint32_t caps;      /* enum mpfs_backend_cap */
    size_t io_size;     /* preferred request size (NFS rtmax/wtmax; S3 part size) */
    char desc[256];     /* human description without secrets, for logs */
    /* Longest dataset-relative path (bytes, without the NUL) whose entry
     * the backend can hold, directories included (S3: 1024-byte keys less
     * the prefix and the marker's '/'); 0 = no limit known.  The fs layer
     * refuses longer paths with -ENAMETOOLONG before creating anything. */
    size_t path_max;
    struct mpfs_backend_counters counters; /* zeroed with the handle */
};

/* Wrappers: callers use these, never b->ops directly. */
int mpfs_backend_stat(struct mpfs_backend *b, const char *path, struct mpfs_attr *out);
/* stat_read (above), counted as a stat; its bytes count as bytes read. */
int mpfs_backend_stat_read(struct mpfs_backend *b, const char *path, struct mpfs_attr *out,
                           void *buf, size_t len, size_t *got);
int mpfs_backend_list(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn, void *arg);
ssize_t mpfs_backend_read(struct mpfs_backend *b, const char *path, const char *version,
                          void *buf, size_t len, uint64_t off);
int mpfs_backend_put(struct mpfs_backend *b, const char *path, int fd, uint64_t size,
                     const struct mpfs_put_opts *opts, struct mpfs_attr *out);
ssize_t mpfs_backend_pwrite(struct mpfs_backend *b, const char *path, const void *buf,
                            size_t len, uint64_t off);
int mpfs_backend_remove(struct mpfs_backend *b, const char *path);
int mpfs_backend_rename(struct mpfs_backend *b, const char *from, const char *to,
                        unsigned flags);
int mpfs_backend_mkdir(struct mpfs_backend *b, const char *path, uint32_t mode);
int mpfs_backend_rmdir(struct mpfs_backend *b, const char *path);
int mpfs_backend_symlink(struct mpfs_backend *b, const char *target, const char *path);
ssize_t mpfs_backend_readlink(struct mpfs_backend *b, const char *path, char *buf,
                              size_t size);
int mpfs_backend_link(struct mpfs_backend *b, const char *existing, const char *newpath);
int mpfs_backend_setattr(struct mpfs_backend *b, const char *path,
                         const struct mpfs_attr *attr, uint32_t to_set,
                         struct mpfs_attr *out);
int mpfs_backend_statfs(struct mpfs_backend *b, struct statvfs *out);
ssize_t mpfs_backend_getxattr(struct mpfs_backend *b, const char *path, const char *name,
                              void *buf, size_t size);
int mpfs_backend_setxattr(struct mpfs_backend *b, const char *path, const char *name,
                          const void *value, size_t size);
ssize_t mpfs_backend_listxattr(struct mpfs_backend *b, const char *path, char *buf,
                               size_t size);
int mpfs_backend_removexattr(struct mpfs_backend *b, const char *path, const char *name);
int mpfs_backend_list_tree(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn,
                           void *arg);
ssize_t mpfs_backend_pwrite_if(struct mpfs_backend *b, const char *path, const void *buf,
                               size_t len, uint64_t off, const char *expect,
                               struct mpfs_attr *out);
int mpfs_backend_overwritten(struct mpfs_backend *b, const char *path, const char *ours,
                             const char *base, char *victim, size_t victim_len);
int mpfs_backend_copy_version(struct mpfs_backend *b, const char *path, const char *version_id,
                              const char *to);
/* pwrite_if as a stat, a compare and a pwrite: what the wrapper does for a
 * backend without the slot, for backends whose slot has no better way. */
ssize_t mpfs_backend_pwrite_if_racy(struct mpfs_backend *b, const char *path, const void *buf,
                                    size_t len, uint64_t off, const char *expect,
                                    struct mpfs_attr *out);
int mpfs_backend_mknod(struct mpfs_backend *b, const char *path, uint32_t mode, uint64_t rdev);
/* mpfs_backend_free(NULL) is a no-op. */
void mpfs_backend_free(struct mpfs_backend *b);

/* Capability bits as "pwrite,rename-atomic,..." into buf. */
void mpfs_backend_caps_str(uint32_t caps, char *buf, size_t size);

/* Put the contents of a memory buffer (a small helper over put(): writes
 * it to an unlinked temp file first).  For symlink emulation, tests and
 * tools. */
int mpfs_backend_put_buf(struct mpfs_backend *b, const char *path, const void *buf,
                         size_t len, const struct mpfs_put_opts *opts,
                         struct mpfs_attr *out);

#endif

/*
 * index.h - the persistent metadata index (RocksDB underneath).
 *
 * The index remembers, per directory inode, the entries seen in it (with
 * attributes, the backend each was seen on and its version token), a
 * reverse map from inode to (parent, name) for path reconstruction, the
 * per-directory listing state, and a persistent inode allocator.  It lets
 * `ls -l`, `stat` and `find` over millions of files be answered without
 * the network, and survives a remount with stable inode numbers.
 *
 * It is a cache of remote truth plus the node's own not-yet-uploaded state
 * (whose durability is tracked elsewhere): a missing, corrupt or
 * other-schema index is rebuilt empty at open, never fatal, and writes are
 * not fsynced (a power cut may lose the last few; a process crash loses
 * nothing).  The on-disk layout is documented in docs/INDEX.md.
 *
 * This layer knows nothing of backends: struct mpfs_index_entry is its own
 * record; the fs layer converts from struct mpfs_attr.
 *
 * RocksDB starts background threads at open: open the index after
 * fuse_daemonize(), never before a fork.
 *
 * Every function returns 0 or -errno (-ENOENT when absent) unless stated.
 * Thread safety: every function may be called from many threads at once on
 * one struct mpfs_index, except that mpfs_index_close() must not race with
 * any other call on the same handle.  A batch belongs to one thread until
 * it is committed or freed.
 */
#ifndef MPFS_INDEX_INDEX_H
#define MPFS_INDEX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define MPFS_INDEX_VERSION_MAX 96 /* bytes, including the NUL */
#define MPFS_INDEX_NAME_MAX 255   /* bytes of one entry name */
#define MPFS_INDEX_ROOT_INO 1

/* struct mpfs_index_entry.source */
enum mpfs_index_source {
    MPFS_INDEX_SRC_NONE = 0,
    MPFS_INDEX_SRC_S3 = 1,
    MPFS_INDEX_SRC_NFS = 2,
    MPFS_INDEX_SRC_LOCAL = 3, /* created here, not yet uploaded */
};

struct mpfs_index_entry {
    uint64_t ino; /* mpfs inode number, stable across remounts; never 0 */
    uint32_t mode, uid, gid, nlink;
    uint64_t size;
    int64_t mtime_ns, ctime_ns, atime_ns;
    uint64_t fileid;     /* backend file id (NFS) */
    uint32_t attr_valid; /* opaque to the index */
    uint8_t source;      /* enum mpfs_index_source */
    uint8_t flags;       /* opaque bits for the fs layer (e.g. dirty) */
    int64_t seen_ns;     /* wall ns when last confirmed from a backend */
    char version[MPFS_INDEX_VERSION_MAX]; /* token: S3 ETag / NFS
                                             mtime+ctime+size; "" if none */
};

struct mpfs_index_dir { /* per-directory state */
    int64_t listed_ns;  /* wall ns of the last complete listing, 0 = never */
    uint64_t entries;   /* number of entries at that listing */
};

struct mpfs_index_stats { /* since this handle was opened */
    uint64_t gets;        /* mpfs_index_get() calls */
    uint64_t puts;        /* entries written (put, batch put) */
    uint64_t hits;        /* gets that found an entry */
};

struct mpfs_index;
struct mpfs_index_batch;

/*
 * Open or create the index in directory `dir` (created 0700 if missing,
 * parents too).  A missing DB is created; a corrupt one (RocksDB reports
 * Corruption, or a record or meta key cannot be read) is moved aside to
 * dir/index.corrupt-<unix time> (only the newest such copy is kept); one of
 * another schema version is wiped.  Either way a warning is logged, `err`
 * holds the reason and the open succeeds on a fresh empty index.
 *
 * *rebuilt (may be NULL) is set to 1 if the index started empty (new,
 * rebuilt or wiped), else 0.  `err` (may be NULL) receives a one-line
 * message on failure or rebuild, "" otherwise.
 *
 * Fails only when the directory is unusable: -ENOTDIR, -EACCES, -EROFS,
 * -ENOSPC, ... (from creating it or RocksDB), or -EBUSY when another
 * handle (this process or another) holds the index open.
 */
int mpfs_index_open(const char *dir, struct mpfs_index **out, int *rebuilt,
                    char *err, size_t errlen);
/* Flush memtables to disk and close.  NULL is a no-op. */
void mpfs_index_close(struct mpfs_index *idx);
/*
 * Close as a crash would leave it: no inode mark saved, no memtable
 * flushed, so the next open replays the WAL and restarts the allocator at
 * the persisted mark.  What kill -9 of the daemon leaves on disk (the
 * WAL's writes are in the OS, not fsynced); for tests that simulate a
 * crash in-process.  NULL is a no-op.
 */
void mpfs_index_abandon(struct mpfs_index *idx);

/*
 * A fresh inode number, never returned before by this index, even across
 * a crash (the high-water mark is persisted, fsynced, once per 1024
 * numbers; a crash skips at most the rest of a batch).  Returns 0 (never a
 * valid inode) only if persisting the high-water mark failed (logged).
 */
uint64_t mpfs_index_alloc_ino(struct mpfs_index *idx);

/* The root entry (ino 1).  Created as a 0755 directory if absent. */
int mpfs_index_root(struct mpfs_index *idx, struct mpfs_index_entry *out);
/* Replace the root entry; e->ino is ignored (always 1). */
int mpfs_index_put_root(struct mpfs_index *idx,
                        const struct mpfs_index_entry *e);

/*
 * Entries.  `parent` is a directory inode (non-zero), `name` 1 to 255
 * bytes (-EINVAL / -ENAMETOOLONG otherwise).  put overwrites; it also
 * keeps the reverse map right (the old entry's inode, if different, loses
 * this name).  del is -ENOENT if the entry was absent.
 */
int mpfs_index_get(struct mpfs_index *idx, uint64_t parent, const char *name,
                   struct mpfs_index_entry *out);
int mpfs_index_put(struct mpfs_index *idx, uint64_t parent, const char *name,
                   const struct mpfs_index_entry *e);
int mpfs_index_del(struct mpfs_index *idx, uint64_t parent, const char *name);

/*
 * Reverse map: one (parent, name) under which inode `ino` is entered.
 * With hard links several exist; the one with the smallest (parent, name)
 * is returned.  -ENOENT if none, -ERANGE if `namelen` is too small (it
 * needs strlen(name) + 1).  The root has no entry: use the inode number.
 */
int mpfs_index_where(struct mpfs_index *idx, uint64_t ino, uint64_t *parent,
                     char *name, size_t namelen);

/*
 * Call fn for each entry of directory `parent` in name order (bytewise,
 * as memcmp).  fn returning non-zero stops the walk, and that value is
 * returned; otherwise 0 (also for an empty or unknown directory).  `name`
 * and `e` are valid only during the call.  The walk reads a consistent
 * snapshot; fn may call other index functions.
 */
typedef int (*mpfs_index_list_fn)(void *arg, const char *name,
                                  const struct mpfs_index_entry *e);
int mpfs_index_list(struct mpfs_index *idx, uint64_t parent,
                    mpfs_index_list_fn fn, void *arg);

/* Directory state; get is -ENOENT if never stored. */
int mpfs_index_dir_get(struct mpfs_index *idx, uint64_t ino,
                       struct mpfs_index_dir *out);
int mpfs_index_dir_put(struct mpfs_index *idx, uint64_t ino,
                       const struct mpfs_index_dir *d);

/*
 * Batches: many changes applied atomically (one RocksDB WriteBatch).
 * Operations are recorded and applied at commit in the order given, so a
 * later one on the same name wins.
 *
 * Listing replacement: mpfs_index_batch_dir_put(b, ino, d) marks directory
 * `ino` as completely listed by this batch.  At commit every entry of
 * `ino` already in the index that this batch does not put is deleted (the
 * dirent and its reverse key; subtrees are left for the fs layer to drop
 * lazily), except entries whose source is MPFS_INDEX_SRC_LOCAL: those were
 * created here and not uploaded yet, so a remote listing cannot know them
 * (delete them with an explicit batch_del), and entries whose seen_ns is
 * later than d->listed_ns (confirmed after the listing was taken, so the
 * listing cannot know them).  Then `d` is stored.  Use
 * mpfs_index_dir_put() to update the state without replacing.
 *
 * Argument errors in put/del (bad name, ino 0) are remembered and make
 * commit fail with that error, writing nothing.
 */
struct mpfs_index_batch *mpfs_index_batch_new(struct mpfs_index *idx);
void mpfs_index_batch_put(struct mpfs_index_batch *b, uint64_t parent,
                          const char *name, const struct mpfs_index_entry *e);
void mpfs_index_batch_del(struct mpfs_index_batch *b, uint64_t parent,
                          const char *name);
void mpfs_index_batch_dir_put(struct mpfs_index_batch *b, uint64_t ino,
                              const struct mpfs_index_dir *d);
/* Apply and free b (also on failure). */
int mpfs_index_batch_commit(struct mpfs_index_batch *b);
/* Abandon b.  NULL is a no-op. */
void mpfs_index_batch_free(struct mpfs_index_batch *b);

/*
 * Forget directory `ino`: all its entries (and their reverse keys) and its
 * state, atomically.  Entries of its subdirectories are not touched.
 * 0 also if there was nothing.
 */
int mpfs_index_drop_dir(struct mpfs_index *idx, uint64_t ino);

/*
 * The write-back journal's records (consistency/journal.c encodes them;
 * the index stores bytes).  Keyed by a non-zero id; every put and delete
 * is synced before it returns.  list calls fn for each record in id order;
 * fn returning non-zero stops the walk and that value is returned.  fn
 * may put and delete journal records.
 */
int mpfs_index_journal_put(struct mpfs_index *idx, uint64_t id, const void *rec, size_t len);
int mpfs_index_journal_del(struct mpfs_index *idx, uint64_t id);
typedef int (*mpfs_index_journal_fn)(void *arg, uint64_t id, const void *rec, size_t len);
int mpfs_index_journal_list(struct mpfs_index *idx, mpfs_index_journal_fn fn, void *arg);

/*
 * The progress of a journaled file's multipart upload (consistency/
 * upload.c encodes it), by the same id, synced like the journal but kept
 * apart from it: the commit's upload threads write it while the file's
 * owner may rewrite the journal record.  get returns a rocksdb-allocated
 * copy (free with free()) or -ENOENT.
 */
int mpfs_index_upload_put(struct mpfs_index *idx, uint64_t id, const void *rec, size_t len);
int mpfs_index_upload_get(struct mpfs_index *idx, uint64_t id, char **rec, size_t *len);
int mpfs_index_upload_del(struct mpfs_index *idx, uint64_t id);

void mpfs_index_get_stats(struct mpfs_index *idx, struct mpfs_index_stats *out);

#endif

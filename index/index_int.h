/*
 * index_int.h - internals shared by the index's files (not for other
 * layers: only index/ includes rocksdb/c.h).
 *
 * Locking, outermost first:
 *   wlock     serializes every change to 'E' and 'R' keys (put, del, batch
 *             commit, drop_dir): they read the old entry to keep the
 *             reverse map right, and that read-modify-write must not
 *             interleave.  Readers never take it: RocksDB gets and
 *             iterators are thread-safe and see consistent snapshots.
 *   ino_lock  the slow path of the inode allocator (persisting a new
 *             high-water mark); the fast path is one atomic add.
 * No lock is held across a callback of mpfs_index_list().
 */
#ifndef MPFS_INDEX_INDEX_INT_H
#define MPFS_INDEX_INDEX_INT_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdint.h>

#include "index/codec.h"
#include "index/error.h"
#include "index/index.h"

/* Inode numbers reserved per persisted high-water mark. */
#define MPFS_INDEX_INO_BATCH 1024

/* Files inside the index directory (docs/INDEX.md). */
#define MPFS_INDEX_DB_SUBDIR "db"
#define MPFS_INDEX_LOCK_FILE "index.lock"
#define MPFS_INDEX_REBUILD_FILE "REBUILD"
#define MPFS_INDEX_CORRUPT_PREFIX "index.corrupt-"

struct mpfs_index {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *topts;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;      /* sync = 0: see docs/INDEX.md */
    rocksdb_writeoptions_t *wopts_sync; /* the ino high-water mark only */
    rocksdb_flushoptions_t *fopts;

    char *dir;    /* the index directory */
    char *dbpath; /* dir/db */
    int lock_fd;  /* flock()ed dir/index.lock, held while open */

    pthread_mutex_t wlock;
    pthread_mutex_t ino_lock;
    _Atomic uint64_t ino_next;     /* next number to hand out */
    _Atomic uint64_t ino_reserved; /* persisted high-water mark */

    _Atomic uint64_t n_gets, n_puts, n_hits;
    atomic_int corrupt_flagged; /* REBUILD marker written already */
};

/* Map and free a RocksDB error from an operation `what` on a live index:
 * logs it, and on Corruption writes the REBUILD marker so the next open
 * starts over.  Returns -errno (0 if rerr is NULL). */
int mpfs_index_fail(struct mpfs_index *idx, char *rerr, const char *what);

/* Point get of `key` from the DB, or through the batch and then the DB if
 * wbwi is not NULL.  Copies at most cap bytes into buf, sets *len to the
 * full value length.  0, -ENOENT or -errno. */
int mpfs_index_raw_get(struct mpfs_index *idx, rocksdb_writebatch_wi_t *wbwi,
                       const char *key, size_t klen, char *buf, size_t cap,
                       size_t *len);

/* Read the entry at `key` (through wbwi if not NULL) and tell its inode;
 * 0, -ENOENT, -EUCLEAN or -errno. */
int mpfs_index_old_entry(struct mpfs_index *idx, rocksdb_writebatch_wi_t *wbwi,
                         const char *key, size_t klen,
                         struct mpfs_index_entry *old);

/* Allocator state after open (ino.c). */
int mpfs_index_ino_load(struct mpfs_index *idx);
int mpfs_index_ino_save(struct mpfs_index *idx);

#endif

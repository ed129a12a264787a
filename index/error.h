/*
 * error.h - RocksDB error strings to errno (internal; see error.c).
 * Kept free of rocksdb/c.h so its table can be unit-tested alone.
 */
#ifndef MPFS_INDEX_ERROR_H
#define MPFS_INDEX_ERROR_H

/* Map a RocksDB error string (Status::ToString()) to -errno; NULL is 0.
 * The one place that knows RocksDB's messages:
 *   Corruption -> -EUCLEAN, lock held -> -EBUSY, NotFound -> -ENOENT,
 *   IO error: <strerror text> -> that errno (-ENOSPC, -EACCES, ...),
 *   any other IO error -> -EIO, unknown -> -EIO. */
int mpfs_index_errno(const char *msg);

#endif

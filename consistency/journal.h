/*
 * journal.h - the write-back journal: staged data is never anonymous.
 *
 * Every file with staged (not yet committed) data has one journal record,
 * stored synced in the index under the file's inode number: the
 * dataset-relative path it belongs to, the version the edit started from
 * (the commit's precondition), whether it is new (If-None-Match), the
 * staging file that holds the complete new content, the metadata to store
 * with it, and, after a conflict, the conflict name that now receives this
 * file's data.  The record is written when a file first becomes dirty
 * (create, first write, truncate) and again when its path, base version or
 * conflict name changes; it is deleted once the data is on the store.
 *
 * After a crash (kill -9, power cut once the staging file reached the
 * disk) the next mount replays every record (fs/writeback.c): it commits
 * the staged file with the precondition it started from; on a conflict the
 * other version keeps the name and ours goes beside it; if the data cannot
 * be committed at all, it is moved to lost+found under a name derived from
 * its path and the log names both.  See docs/JOURNAL.md.
 *
 * The encoding is versioned (first byte) and private to this file.
 * Thread safety: the functions are stateless; the caller serializes the
 * records of one inode (the node's write lock).
 */
#ifndef MPFS_CONSISTENCY_JOURNAL_H
#define MPFS_CONSISTENCY_JOURNAL_H

#include "backends/backend.h"
#include "index/index.h"

#include <stddef.h>
#include <stdint.h>

struct mpfs_journal_rec {
    uint64_t ino;
    uint64_t parent;                     /* directory inode at record time */
    char *path;                          /* dataset-relative; owned */
    char *staging;                       /* staging file name (no directory); owned */
    char *conflict_path;                 /* "" or NULL: none; owned */
    char base_version[MPFS_VERSION_MAX]; /* precondition ("" = none known) */
    int base_side;                       /* side that issued it (enum mpfs_side) */
    int is_new;                          /* commit with If-None-Match */
    struct mpfs_attr attr;               /* metadata stored with the content */
    uint32_t attr_set;                   /* MPFS_SET_* valid in attr */
    int64_t created_ns;                  /* wall time of the first record */
};

/* Store (replace) the record of rec->ino.  0 or -errno. */
int mpfs_journal_put(struct mpfs_index *idx, const struct mpfs_journal_rec *rec);
int mpfs_journal_del(struct mpfs_index *idx, uint64_t ino);
/* Call fn for every record (decoded; valid during the call).  Unreadable
 * records are logged and skipped.  fn returning non-zero stops the walk. */
typedef int (*mpfs_journal_fn)(void *arg, const struct mpfs_journal_rec *rec);
int mpfs_journal_each(struct mpfs_index *idx, mpfs_journal_fn fn, void *arg);
/* Encoding, exposed for unit tests.  enc returns the length needed (the
 * record is written only if it fits cap); dec returns 0 or -EINVAL and
 * fills rec with owned strings (free with mpfs_journal_rec_clear). */
size_t mpfs_journal_encode(const struct mpfs_journal_rec *rec, char *buf, size_t cap);
int mpfs_journal_decode(const char *buf, size_t len, struct mpfs_journal_rec *rec);
void mpfs_journal_rec_clear(struct mpfs_journal_rec *rec);

#endif

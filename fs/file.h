/*
 * file.h - open files (file.c): the write state of a file being edited (its
 * staging file and the version the edit started from), open handles
 * pinned to a version, and what the rest of the fs core asks of them:
 * commit before an operation that needs the store's copy, keep an
 * open-unlinked file readable, end a file's write state.  Locking: see
 * fs_state.h (node->wlock, handle->confirm_lock).
 */
#ifndef MPFS_FS_FILE_H
#define MPFS_FS_FILE_H

#include "backends/backend.h"
#include "consistency/version.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

struct mpfs_fs;
struct mpfs_node;
struct mpfs_reader;

/* Per-file write state: the staging file holding the whole new content. */
struct mpfs_wfile {
    int fd;
    char *spath;             /* staging file path (kept for lost+found) */
    uint64_t size;           /* current size of the new content */
    int populated;           /* staging holds the full old content (or trunc) */
    int dirty;               /* differs from what the backend has */
    int is_new;              /* created here; backend has nothing yet */
    uint64_t dirty_lo, dirty_hi; /* byte range written since the last commit */
    int shrunk;              /* truncated below the committed size */
    char base_version[MPFS_VERSION_MAX]; /* version the edit started from */
    int base_side;           /* the side (enum mpfs_side) that issued base_version */
    uint32_t pending_set;    /* MPFS_SET_* to store at commit (new files) */
    struct mpfs_attr pending;
    int writers;             /* open handles that may write */
    int committing;          /* an upload of this content is in flight (node->wcond) */
    int journaled;           /* a journal record names this staged data */
    char *jpath;             /* the path that record names */
    char *conflict_path;     /* after a conflict: where this data lives now */
};

struct mpfs_handle {
    struct mpfs_node *node;
    int flags;
    int writable;
    char version[MPFS_VERSION_MAX]; /* pinned at open */
    uint64_t size;
    struct mpfs_reader *reader;     /* lazily made on first read */
    pthread_mutex_t rlock;          /* guards reader creation and pin */
    struct mpfs_pin pin;            /* the version reads are pinned to, per side */
    int direct_io;                  /* bypass the kernel page cache (set at open) */
    struct mpfs_fs *fs;
    /* close-to-open left to the first fetch (MPFS_OPEN_BY_FETCH): set at
     * open, cleared by the first read that fetched; reads wait on
     * confirm_lock while it is set */
    atomic_int confirm;
    pthread_mutex_t confirm_lock;
};

/* Commit a node's staged writes.  Caller holds node->wlock; it is
 * released during the upload and held again on return. */
int mpfs_file_commit_locked(struct mpfs_fs *fs, struct mpfs_node *n);
/* Commit before an operation that moves or reads the backend copy. */
int mpfs_file_commit(struct mpfs_fs *fs, struct mpfs_node *n);
/* Wait until no commit of n is uploading.  Caller holds node->wlock. */
void mpfs_file_wait_commit_locked(struct mpfs_node *n);
/* Keep a local copy of an open file about to lose its last name, so its
 * open handles can still read it (POSIX open-unlinked files). */
void mpfs_file_keep_local(struct mpfs_fs *fs, struct mpfs_node *n);
/* n lost its last name through this mount: its staged data must never be
 * committed (or replayed after a crash). */
void mpfs_file_unlinked(struct mpfs_fs *fs, struct mpfs_node *n);
enum mpfs_wfile_end {
    MPFS_WF_DISCARD,   /* committed or unlinked: delete staging and record */
    MPFS_WF_KEEP,      /* uncommitted: leave staging + record for the replay */
    MPFS_WF_RESCUE,    /* cannot be committed: lost+found by path, drop record */
};
void mpfs_wfile_free(struct mpfs_fs *fs, uint64_t ino, struct mpfs_wfile *wf,
                     enum mpfs_wfile_end how);

/* For announced reads (announce.c): pin the version node ino shows now (version
 * and size filled), and read bytes of a pinned version. */
int mpfs_file_pin_ino(struct mpfs_fs *fs, uint64_t ino, struct mpfs_pin *pin, char *version,
                      size_t vlen, uint64_t *size);
ssize_t mpfs_file_fetch_pinned(struct mpfs_fs *fs, struct mpfs_pin *pin, pthread_mutex_t *lock,
                               const char *path, void *buf, size_t len, uint64_t off);
/* For the announced prefetcher: a fetch pinned to node ino's version,
 * asked at asked_wall (wall clock), succeeded.  Where a pinned read
 * confirms the version (the side that issued it fails pinned reads of
 * another), that is the close-to-open confirmation an open's first fetch
 * gives (MPFS_OPEN_BY_FETCH), made before the open: the node counts as
 * confirmed then, so an open within the close-to-open grace trusts it as
 * it would a lookup's (consistency/policy.h). */
void mpfs_file_fetch_confirmed(struct mpfs_fs *fs, uint64_t ino, const char *version,
                               int64_t asked_wall);
/* For the announced prefetcher, files whose data is cached: was node
 * ino's version confirmed within the last ns?  And confirm it now, as an
 * open would (a HEAD; a new version is recorded), so that an open within
 * the close-to-open grace trusts it.  The caller holds a lookup
 * reference on ino. */
int mpfs_file_confirmed_within(struct mpfs_fs *fs, uint64_t ino, int64_t ns);
void mpfs_file_confirm_ahead(struct mpfs_fs *fs, uint64_t ino);

#endif

/*
 * fs_int.h - the fs core's internal state, shared by the files of fs/
 * (node.c, meta.c and the namespace files around it, file.c, commit.c,
 * writeback.c, refresher.c, reconciler.c, mount.c, ...).  Not for use
 * outside fs/.  Helpers only the namespace files share are in meta_int.h.
 *
 * Locking (ranked; take in this order, never the reverse):
 *   0. handle->confirm_lock  a handle's close-to-open confirmation by its
 *                    first fetch (file.c), held across that fetch; and
 *      fs->walk_lock the one walk of a never-listed directory a lookup
 *                    makes (lookup.c), held across it.  Neither is taken
 *                    while holding any lock below, nor together.
 *   1. node->wlock   per-file write state (staging file).  Held across the
 *                    staging file I/O, not across an upload: a commit marks
 *                    wf->committing, drops wlock while it uploads, and
 *                    writers (and other commits) wait on node->wcond, while
 *                    stat, open and reads of the staged copy go on.
 *   2. fs->lock      the inode table, node names/parents, node attributes.
 *                    Short sections only: never held across a backend call,
 *                    an index call that could be slow, or a notification.
 * Node lifetime: a node lives while the kernel holds lookup references
 * (nlookup) or open handles (nopen) on it; both are counted under fs->lock.
 */
#ifndef MPFS_FS_FS_INT_H
#define MPFS_FS_FS_INT_H

#include "backends/backend.h"
#include "cache/blockcache.h"
#include "cache/reader.h"
#include "consistency/policy.h"
#include "consistency/version.h"
#include "fs/config.h"
#include "fs/router.h"
#include "fs/vfs.h"
#include "index/index.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

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

struct mpfs_node {
    uint64_t ino;
    uint64_t parent;
    char *name;
    struct mpfs_attr attr;   /* last known attributes, version included */
    uint8_t source;          /* enum mpfs_index_source */
    int64_t seen_wall;       /* when attr was confirmed by a backend */
    uint64_t nlookup;
    int nopen;
    int unlinked;            /* removed while still referenced */
    int gone_remote;         /* ... by someone else (a listing or stat lost it) */
    int wb_pinned;           /* kept for the background retry of a failed commit */
    char open_version[MPFS_VERSION_MAX]; /* version the kernel's pages belong to */
    char *link_target;       /* cached readlink */
    pthread_mutex_t wlock;
    pthread_cond_t wcond;    /* signalled when a commit ends (with wlock) */
    struct mpfs_wfile *wf;   /* under wlock */
    struct mpfs_node *hnext;
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

struct mpfs_dirhandle {
    struct mpfs_listing_snapshot {
        char *name;
        uint64_t ino;
        struct mpfs_attr attr;
        uint8_t source;
        int64_t seen;
    } *v;
    size_t n;
    uint64_t ino;
    uint64_t parent; /* for ".." */
};

struct mpfs_fs {
    struct mpfs_config cfg;       /* a private copy */
    struct mpfs_backend *s3, *nfs;
    struct mpfs_router router;
    struct mpfs_route_costs costs;
    struct mpfs_index *index;
    struct mpfs_cache *cache;
    struct mpfs_prefetcher *prefetch;
    struct mpfs_announce *announce; /* announced reads (announce.h) */
    struct mpfs_policy_set policy;
    struct mpfs_notifier notify;
    /* bucket notifications (notify.c): while the channel is healthy,
     * policy_notified (attr_ttl raised to notify_ttl) replaces policy */
    struct mpfs_notify *notify_ch;
    struct mpfs_policy_set policy_notified;
    int64_t mounted_wall_ns;      /* shown as the time of implied directories */
    char *staging_dir;
    char *lostfound_dir;
    atomic_uint_fast64_t staging_bytes;
    atomic_uint conflict_serial;
    atomic_uint_fast64_t invalidations; /* entries invalidated (invalidate.c) */

    pthread_mutex_t lock;         /* inode table; see the ranking above */
    struct mpfs_node **buckets;
    size_t nbuckets, nnodes;

    /* background directory refresh (refresher.c) */
    pthread_mutex_t rq_lock;
    pthread_cond_t rq_cond;
    uint64_t *rq;                 /* queued directory inodes */
    size_t rq_n, rq_cap;
    int rq_stop;
    int rq_started;
    pthread_t rq_thread;

    /* lookups in a directory never listed walk it once (lookup.c) */
    pthread_mutex_t walk_lock;
    uint64_t walk_failed[8];      /* recent parents whose walk failed: HEAD instead */
    unsigned walk_failed_pos;
    int64_t walk_stamps[16];      /* listed_ns of recent walks made for a lookup */
    unsigned walk_stamps_pos;

    /* background re-checking of recently used directories (reconciler.c) */
    struct mpfs_reconciler *rec;

    /* background commit retry (writeback.c) */
    pthread_mutex_t wb_lock;
    pthread_cond_t wb_cond;
    int wb_stop, wb_started, wb_kicked;
    size_t wb_orphans;            /* journal records with no node, left to retry */
    int abandoned;                /* mpfs_fs_abandon(): leave every file as a crash would */
    pthread_t wb_thread;
};

/* node.c */
int mpfs_nodes_init(struct mpfs_fs *fs);
void mpfs_nodes_free(struct mpfs_fs *fs);
/* Find a live node; caller holds fs->lock. */
struct mpfs_node *mpfs_node_find_locked(struct mpfs_fs *fs, uint64_t ino);
/* Get or create the node for (ino, parent, name) and refresh its attrs;
 * adds nlookup_add references.  Caller holds fs->lock. */
struct mpfs_node *mpfs_node_upsert_locked(struct mpfs_fs *fs, uint64_t ino, uint64_t parent,
                                          const char *name, const struct mpfs_attr *attr,
                                          uint8_t source, int64_t seen,
                                          uint64_t nlookup_add);
/* Drop a node if nothing references it.  Caller holds fs->lock. */
void mpfs_node_maybe_drop_locked(struct mpfs_fs *fs, struct mpfs_node *n);
/* Dataset-relative path of ino (caller frees); NULL if unknown.  Takes
 * fs->lock itself. */
char *mpfs_node_path(struct mpfs_fs *fs, uint64_t ino);
char *mpfs_node_path_locked(struct mpfs_fs *fs, uint64_t ino);

/* meta.c: entries and attributes, shared with file.c and the rest */
void mpfs_attr_to_stat(const struct mpfs_fs *fs, uint64_t ino, const struct mpfs_attr *a,
                       struct stat *st);
void mpfs_entry_from_index(const struct mpfs_index_entry *ie, struct mpfs_attr *a);
void mpfs_entry_to_index(const struct mpfs_attr *a, uint64_t ino, uint8_t source,
                         int64_t seen, struct mpfs_index_entry *ie);
uint8_t mpfs_source_of(const struct mpfs_fs *fs, const struct mpfs_backend *b);
const struct mpfs_policy *mpfs_fs_policy(const struct mpfs_fs *fs, const char *path);
/* Record fresh attributes of (parent, name) in the index and the node. */
void mpfs_fs_record(struct mpfs_fs *fs, uint64_t ino, uint64_t parent, const char *name,
                    const struct mpfs_attr *a, uint8_t source);
void mpfs_fill_entry(struct mpfs_fs *fs, uint64_t ino, const struct mpfs_attr *a,
                     struct mpfs_entry *e);
/* Owner of a new entry in parent made by c (POSIX rules, see vfs.h); sets
 * a->uid/gid/valid, and S_ISGID in a->mode for a directory in a setgid one. */
void mpfs_fs_new_owner(struct mpfs_fs *fs, uint64_t parent, const struct mpfs_caller *c,
                       struct mpfs_attr *a);
/* An entry was added to or removed from directory ino: its mtime and ctime
 * become now, its link count moves by dlink (subdirectories). */
void mpfs_fs_touch_dir(struct mpfs_fs *fs, uint64_t ino, int dlink);
/* -ENAMETOOLONG if (parent, name) is a path the metadata side cannot hold,
 * -ESTALE if parent is unknown, else 0. */
int mpfs_fs_check_child(struct mpfs_fs *fs, uint64_t parent, const char *name);
/* (parent, name), indexed as old, was removed by someone else: drop it from
 * the index as a lookup that finds it gone does (remote_event.c). */
void mpfs_fs_forget_remote(struct mpfs_fs *fs, uint64_t parent, const char *name,
                           const struct mpfs_index_entry *old);
/* Re-list directory ino from the metadata side into the index. */
int mpfs_fs_refresh_dir(struct mpfs_fs *fs, uint64_t ino, const char *path);

/* fresh and old describe the same version: keep old's times where fresh
 * has the same second with less precision (an S3 listing gives
 * milliseconds, a HEAD whole seconds).  Otherwise every HEAD after a
 * listing would move the mtime back and forth, and the kernel, which
 * drops a file's pages when its mtime changes, would re-read it. */
void mpfs_attr_keep_precise_times(struct mpfs_attr *fresh, const struct mpfs_attr *old);
/* Merge a complete listing of directory ino into the index (the listing is
 * finished here and stays the caller's to free). */
struct mpfs_listing;
int mpfs_fs_apply_listing(struct mpfs_fs *fs, uint64_t ino, const char *path,
                          struct mpfs_listing *l);
/* tree.c: list the whole subtree below ino in one flat walk and index every
 * directory in it; -E2BIG (nothing applied) past max_keys keys, -EOPNOTSUPP
 * if the metadata side cannot walk flat. */
int mpfs_fs_refresh_tree(struct mpfs_fs *fs, uint64_t ino, const char *path, size_t max_keys);

/* file.c: commit a node's staged writes.  Caller holds node->wlock; it is
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

/* writeback.c: retry failed commits in the background; replay the journal
 * of a previous run at mount. */
int mpfs_writeback_start(struct mpfs_fs *fs);
void mpfs_writeback_stop(struct mpfs_fs *fs);
void mpfs_writeback_kick(struct mpfs_fs *fs);
/* Commit (or rescue) every journal record no live node owns.  Returns the
 * number of records left for a later retry. */
size_t mpfs_writeback_replay(struct mpfs_fs *fs);
/* Files whose staged data is not on the store yet (journal records). */
size_t mpfs_writeback_pending(struct mpfs_fs *fs);
/* Move a staging file to lost+found under a name derived from path; logs
 * both.  Returns the new location (caller frees) or NULL. */
/* Call fn for each file in <cache_dir>/lost+found: the path its data
 * belonged to, where it is, its size and when it was rescued.  Returns how
 * many (fn may be NULL to count) or -errno. */
typedef void (*mpfs_rescued_fn)(void *arg, const char *path, const char *file, uint64_t size,
                                int64_t when);
int mpfs_writeback_list_rescued(struct mpfs_fs *fs, mpfs_rescued_fn fn, void *arg);
char *mpfs_writeback_rescue(struct mpfs_fs *fs, const char *staging, const char *path,
                            uint64_t size);

/* refresher.c */
int mpfs_refresher_start(struct mpfs_fs *fs);
void mpfs_refresher_stop(struct mpfs_fs *fs);
void mpfs_refresher_enqueue(struct mpfs_fs *fs, uint64_t dir_ino);

/* reconciler.c: re-check recently used directories in the background so
 * others' changes show within a bounded time (see the file header). */
struct mpfs_reconciler_stats {
    uint64_t passes, lists, getattrs, errors, aged, evicted;
    size_t watched;
};
int mpfs_reconciler_new(struct mpfs_fs *fs);
void mpfs_reconciler_free(struct mpfs_fs *fs);
int mpfs_reconciler_start(struct mpfs_fs *fs); /* no thread if reconcile_rate is 0 */
void mpfs_reconciler_stop(struct mpfs_fs *fs);
/* Directory dir_ino was used (lookup in it, listing, stat of a child). */
void mpfs_reconciler_touch(struct mpfs_fs *fs, uint64_t dir_ino);
/* Wall time the reconciler's last listing of dir_ino began (the listed_ns
 * it stored in the index), if it watches it (used within reconcile_window);
 * else 0. */
int64_t mpfs_reconciler_listed(struct mpfs_fs *fs, uint64_t dir_ino);
/* One walk over the due directories spending at most budget requests;
 * returns the requests spent.  The worker calls it; tests call it directly. */
int mpfs_reconciler_pass(struct mpfs_fs *fs, int budget);
size_t mpfs_reconciler_watched(struct mpfs_fs *fs);
void mpfs_reconciler_get_stats(struct mpfs_fs *fs, struct mpfs_reconciler_stats *out);
/* Tests: a substitute monotonic clock (NULL: the real one). */
void mpfs_reconciler_set_clock(struct mpfs_fs *fs, int64_t (*now)(void));
/* file.c, for announce.c: pin the version node ino shows now (version
 * and size filled), and read bytes of a pinned version. */
int mpfs_file_pin_ino(struct mpfs_fs *fs, uint64_t ino, struct mpfs_pin *pin, char *version,
                      size_t vlen, uint64_t *size);
ssize_t mpfs_file_fetch_pinned(struct mpfs_fs *fs, struct mpfs_pin *pin, pthread_mutex_t *lock,
                               const char *path, void *buf, size_t len, uint64_t off);

#endif

/*
 * announce.h - training-aware prefetch: callers announce the files they
 * will read next, in order, and a worker pool fetches them ahead of the
 * reader (docs/PREFETCH.md).
 *
 * Streams.  Each caller has its own stream (an ordered queue of upcoming
 * reads): one per open handle of MOUNT/.mpfs/prefetch, or a named one
 * through the control channel (`mpfs ctl MOUNT prefetch NAME ...`), so
 * jobs and DataLoader workers never mix their orders.  A stream takes
 * lines "PATH" or "PATH<TAB>OFFSET<TAB>LENGTH" (PATH dataset-relative, or
 * absolute under the mount point) and the command "#reset" (a new epoch, a
 * loader restart: everything queued or held for that stream is dropped,
 * fetches in flight are abandoned).  Closing the handle ends the stream.
 *
 * Bad input costs nothing else: a write is validated as a whole before any
 * of it is queued (syntax, a path outside the mount: EXDEV, "..": EINVAL,
 * a line longer than PATH_MAX: ENAMETOOLONG, a path that names no file:
 * ENOENT, a directory: EISDIR); a stream holds at most queue_max entries
 * and all streams together total_max entries and 16 MiB of path text
 * (beyond: ENOBUFS, nothing of that write queued); at most 256 streams
 * (beyond: ENFILE).
 *
 * One lookup per announced path.  The write's validation looks the path
 * up (as the kernel would: index, TTLs) and the entry keeps that inode
 * with its lookup reference until the entry is freed; the fetch pins the
 * version that node shows then, without walking the path again.  A file
 * whose blocks are all in the cache already (an earlier epoch) under the
 * version that lookup found is not queued at all (counted `cached`): no
 * entry, no worker, no request; its open is an ordinary cache hit.  Only
 * queued entries count against the bounds above.
 *
 * Prefetch.  Workers take, over all streams, the queued entry needed
 * soonest (lowest position in its stream's queue), pin the version its
 * node shows now (consistency/version.h), fetch its whole blocks (of a
 * whole file its first 2 blocks: the reader's readahead streams the rest)
 * into one buffer held here (not in the cache: announced-but-unread data never
 * evicts anything there, pinned share included), and mark it ready.  The
 * held bytes (fetched + in flight) stay within `memory`; when a fetch
 * needs room, held entries needed later than it are dropped first (the
 * block needed last goes first) and refetched when their turn comes.
 * At most `target` fetches run at once: the measured consumption rate
 * (announced opens per second) times the measured fetch-time floor (the
 * least fetch time of the last 2 to 4 s: the store's latency without the
 * queueing that more fetches add) times 2, plus one, clamped to
 * [1, threads]; before enough is measured, min(threads, 8).
 *
 * Consumption.  mpfs_vfs_open of a file calls mpfs_announce_claim() with
 * the version the handle is pinned to: a ready entry of that path and the
 * same version gives its blocks to the block cache, keyed (path, version,
 * block) exactly as the reader looks them up, so the reads that follow are
 * cache hits; a different version is dropped (counted stale): a handle
 * never sees bytes of two versions.  An entry still in flight is waited
 * for (its fetch was issued first; a second GET would not be faster); one
 * not started yet is dropped (the reader got ahead of the prefetch: it
 * reads the file itself, counted late).
 * Entries of the same stream more than SKIP_SLACK positions before the
 * claimed one were skipped by the reader: they are cancelled.
 *
 * Without hints nothing changes: claim returns at once while no entry is
 * queued anywhere (one relaxed atomic load), and the worker threads start
 * with the first stream.
 *
 * Locking: one mutex a->lock over streams, entries, the path table and
 * the counters; never held across a backend call, a vfs call or a cache
 * call.  Lock order: fs locks are never held when calling into this
 * module (claim is called from open with no lock held).  An entry freed
 * under a->lock goes on a dead list; its lookup reference is forgotten
 * (mpfs_vfs_forget, which takes fs->lock) after a->lock is released.
 */
#ifndef MPFS_FS_ANNOUNCE_H
#define MPFS_FS_ANNOUNCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mpfs_fs;
struct mpfs_announce;
struct mpfs_announce_stream;

struct mpfs_announce_config {
    int threads;       /* most fetches at once (hint_threads) */
    size_t queue_max;  /* entries per stream (hint_queue) */
    size_t total_max;  /* entries over all streams */
    uint64_t memory;   /* bytes fetched or in flight and not yet claimed */
    size_t block_size; /* the cache's block size */
};

#define MPFS_ANNOUNCE_MAX_STREAMS 256
#define MPFS_ANNOUNCE_PATH_BYTES (16u << 20)

/* fs is borrowed and must outlive the module.  No thread starts here. */
struct mpfs_announce *mpfs_announce_new(struct mpfs_fs *fs,
                                        const struct mpfs_announce_config *cfg);
/* Stops the workers, drops every stream.  NULL is a no-op. */
void mpfs_announce_free(struct mpfs_announce *a);
/* The mount point, for announced absolute paths (NULL: only relative). */
void mpfs_announce_set_mountpoint(struct mpfs_announce *a, const char *mountpoint);

/* Open a stream: name NULL makes an anonymous one (one per handle of
 * .mpfs/prefetch); a name finds or makes that named stream (ctl), which
 * lives until mpfs_announce_close_named().  0, -ENFILE (too many streams)
 * or -EAGAIN (cannot start the workers). */
int mpfs_announce_open(struct mpfs_announce *a, const char *name, int pid,
                       struct mpfs_announce_stream **out);
/* The handle is closed: an anonymous stream ends (its entries dropped);
 * a named one stays.  NULL is a no-op. */
void mpfs_announce_close(struct mpfs_announce_stream *s);
/* End a named stream.  0 or -ENOENT. */
int mpfs_announce_close_named(struct mpfs_announce *a, const char *name);

/* Bytes written by the caller: every complete line is validated, then all
 * are queued (or none, with -errno; see the header comment).  A partial
 * last line is kept for the next write.  Returns 0 or -errno; *lineno (if
 * not NULL) gets the 1-based number of the first bad line of this write. */
int mpfs_announce_write(struct mpfs_announce_stream *s, const char *buf, size_t len,
                        size_t *lineno);
/* Drop everything queued or held for the stream (a new epoch). */
void mpfs_announce_reset(struct mpfs_announce_stream *s);
/* "name value" lines about one stream. */
void mpfs_announce_stream_report(struct mpfs_announce_stream *s, FILE *out);

/* Is path announced (queued, being fetched or fetched) by any stream?
 * Cheap; lets an open confirm its version before it claims. */
int mpfs_announce_has(struct mpfs_announce *a, const char *path);
/* A file is opened for reading, pinned to version with size bytes (see
 * the header comment).  Returns the bytes handed to the cache (0 if none). */
uint64_t mpfs_announce_claim(struct mpfs_announce *a, const char *path, const char *version,
                             uint64_t size);

struct mpfs_announce_stats {
    uint64_t streams;        /* open now */
    uint64_t queued;         /* entries queued, in flight or held now */
    uint64_t held_bytes;     /* fetched or in flight, not yet claimed */
    uint64_t in_flight;      /* fetches running now */
    uint64_t announced;      /* entries accepted (cumulative) */
    uint64_t rejected;       /* writes refused for bad input or a flood */
    uint64_t fetched;        /* entries fetched */
    uint64_t fetched_bytes;
    uint64_t cached;         /* entries found already in the cache (not fetched) */
    uint64_t hits;           /* claims served from a prefetched entry */
    uint64_t hit_bytes;      /* bytes handed to the cache by those claims */
    uint64_t stale;          /* fetched, but the open saw another version */
    uint64_t skipped;        /* cancelled: the reader went past them */
    uint64_t cancelled;      /* cancelled by a reset or the end of a stream */
    uint64_t dropped;        /* held data dropped to make room for an earlier need */
    uint64_t errors;         /* fetches that failed (the reader fetches itself) */
    uint64_t gone;           /* announced paths gone by the time of the fetch */
    uint64_t waits;          /* claims that waited for an entry in flight */
    uint64_t late;           /* opened before their prefetch started (dropped) */
    uint64_t target;         /* fetches allowed at once now */
    uint64_t fetch_us;       /* measured fetch time of one entry, EWMA */
    uint64_t fetch_floor_us; /* least fetch time lately: the latency the target hides */
    uint64_t claim_rate;     /* measured announced opens per second, EWMA */
};
void mpfs_announce_get_stats(struct mpfs_announce *a, struct mpfs_announce_stats *out);

#endif

/*
 * file.c - open files: reads through the block cache, writes staged in
 * the cache directory, commits to the backend on close and fsync.
 *
 * Reads.  A handle is pinned to the version it saw at open (close-to-open
 * revalidation).  Its reads go through a cache/reader (pattern detection,
 * readahead, block cache keyed by version), whose fetches carry the pinned
 * version to the backend: S3 ranged GETs with If-Match, so a file
 * overwritten while open fails with ESTALE instead of returning a mix of
 * two versions.
 *
 * Writes.  All handles of one inode share one struct mpfs_wfile: a staging
 * file under <cache_dir>/staging holding the complete new content (the
 * old content is downloaded at the first write unless the file was
 * truncated or is new).  flush (every close) and fsync commit it: to the
 * in-place route the dirty byte range only (NFS on a POSIX export), else
 * the whole file as one put (multipart for large files), with a
 * precondition on the version the edit started from.  A failed
 * precondition means someone else changed the file meanwhile: the other
 * version keeps the name and ours is committed beside it under a conflict
 * name (consistency/conflict.h).  A commit that fails for any other reason
 * keeps the data staged, returns the error to close/fsync, and retries at
 * the next flush; if the last handle goes while it is still uncommitted,
 * the staging file is moved to <cache_dir>/lost+found and logged.
 *
 * A read-only open of a version the kernel has not cached confirms it by
 * its first fetch instead of a HEAD (consistency/policy.h,
 * MPFS_OPEN_BY_FETCH): until that read succeeds the handle's reads run one
 * at a time, and one that finds another version re-pins the handle.
 *
 * Locking: node->wlock guards node->wf and is held across staging I/O and
 * commits (see fs_state.h for the rank order).  handle->confirm_lock is
 * held across the confirming read (its fetch, and the stat that re-pins):
 * the handle's other reads must wait for its outcome anyway; it ranks
 * above every other lock and is never taken once the confirmation is done.
 */
#include "fs/file.h"

#include "base/log.h"
#include "base/util.h"
#include "cache/blockcache.h"
#include "cache/reader.h"
#include "consistency/conflict.h"
#include "consistency/journal.h"
#include "fs/announce.h"
#include "fs/commit.h"
#include "fs/entry.h"
#include "fs/fs_state.h"
#include "fs/lostfound.h"
#include "fs/node.h"
#include "fs/refresher.h"
#include "fs/writeback.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define POPULATE_CHUNK (8u << 20)
#define SMALL_READ (256u << 10)

/* ------------------------------------------------------------ staging */

static struct mpfs_wfile *wfile_new(struct mpfs_fs *fs, uint64_t ino, int *err)
{
    char *spath = mpfs_xasprintf("%s/%llu-%lld", fs->staging_dir, (unsigned long long)ino,
                                 (long long)mpfs_now_ns());
    int fd = open(spath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = -errno;
        mpfs_error("cannot create staging file %s: %s", spath, strerror(errno));
        free(spath);
        return NULL;
    }
    struct mpfs_wfile *wf = mpfs_xcalloc(1, sizeof(*wf));
    wf->fd = fd;
    wf->spath = spath;
    return wf;
}

void mpfs_wfile_free(struct mpfs_fs *fs, uint64_t ino, struct mpfs_wfile *wf,
                     enum mpfs_wfile_end how)
{
    if (!wf)
        return;
    close(wf->fd);
    if (fs->abandoned) {
        /* a crash test: staging files and records stay as a kill left them */
    } else if (how == MPFS_WF_KEEP && wf->journaled) {
        mpfs_warn("'%s': %llu bytes not committed yet; they stay staged in %s and are "
                  "committed at the next mount", wf->jpath ? wf->jpath : "?",
                  (unsigned long long)wf->size, wf->spath);
    } else {
        char *where = NULL;
        if (how != MPFS_WF_DISCARD)
            where = mpfs_lostfound_rescue(fs, wf->spath, wf->jpath ? wf->jpath : "unknown",
                                          wf->size);
        if (!where)
            unlink(wf->spath);
        free(where);
        if (wf->journaled)
            mpfs_journal_del(fs->index, ino);
    }
    atomic_fetch_sub(&fs->staging_bytes, wf->size);
    free(wf->spath);
    free(wf->jpath);
    free(wf->conflict_path);
    free(wf);
}

static void set_staged_size(struct mpfs_fs *fs, struct mpfs_wfile *wf, uint64_t size)
{
    if (size > wf->size)
        atomic_fetch_add(&fs->staging_bytes, size - wf->size);
    else
        atomic_fetch_sub(&fs->staging_bytes, wf->size - size);
    wf->size = size;
}

static struct mpfs_backend *side_backend(struct mpfs_fs *fs, int side)
{
    return side == MPFS_SIDE_S3 ? fs->s3 : side == MPFS_SIDE_NFS ? fs->nfs : NULL;
}

/* Read bytes of the pinned version from `prefer` if the pin can be
 * translated to that side (consistency/version.h), else from the side that
 * issued it.  `lock` serializes the pin's one-time translation. */
static ssize_t pinned_read(struct mpfs_fs *fs, struct mpfs_pin *pin, pthread_mutex_t *lock,
                           const char *path, struct mpfs_backend *prefer, void *buf,
                           size_t len, uint64_t off)
{
    int side = mpfs_source_of(fs, prefer);
    pthread_mutex_lock(lock);
    int untried = !mpfs_pin_token_for(pin, side) && pin->other == 0;
    pthread_mutex_unlock(lock);
    if (untried) {
        struct mpfs_attr a;
        int rc = mpfs_backend_stat(prefer, path, &a);
        pthread_mutex_lock(lock);
        if (rc == 0)
            mpfs_pin_learn(pin, &a);
        else
            pin->other = -1;
        pthread_mutex_unlock(lock);
    }
    char tok[MPFS_VERSION_MAX];
    struct mpfs_backend *b = prefer;
    pthread_mutex_lock(lock);
    const char *t = mpfs_pin_token_for(pin, side);
    if (!t) {
        struct mpfs_backend *issuer = side_backend(fs, pin->side);
        b = issuer ? issuer : prefer;
        t = pin->token;
    }
    snprintf(tok, sizeof(tok), "%s", t);
    pthread_mutex_unlock(lock);
    return mpfs_backend_read(b, path, tok[0] ? tok : NULL, buf, len, off);
}

/* Does the metadata side still show version `version` at path? */
static int still_current(struct mpfs_fs *fs, const char *path, const char *version)
{
    struct mpfs_attr now;
    int rc = mpfs_backend_stat(fs->router.route[MPFS_R_META], path, &now);
    if (rc < 0)
        return rc;
    return mpfs_version_same(now.version, version) ? 0 : -ESTALE;
}

/* The side that issued n's version (fs->lock held). */
static int issuer_side_locked(struct mpfs_fs *fs, const struct mpfs_node *n)
{
    return n->source == MPFS_INDEX_SRC_S3 || n->source == MPFS_INDEX_SRC_NFS
               ? n->source
               : mpfs_source_of(fs, fs->router.route[MPFS_R_META]);
}

/* The version a node's attributes describe, as a pin. */
static void node_pin(struct mpfs_fs *fs, struct mpfs_node *n, struct mpfs_pin *pin)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_attr a = n->attr;
    int side = issuer_side_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
    mpfs_pin_init(pin, side, &a);
}

/* Does a read pinned to n's version, when it succeeds, confirm that the
 * version is still the current one?  Only if the side that issued it
 * fails pinned reads of another version (fs->lock held). */
static int pinned_read_confirms_locked(struct mpfs_fs *fs, const struct mpfs_node *n)
{
    struct mpfs_backend *issuer = side_backend(fs, issuer_side_locked(fs, n));
    return issuer && (issuer->caps & MPFS_CAP_PINNED_READ);
}

void mpfs_file_fetch_confirmed(struct mpfs_fs *fs, uint64_t ino, const char *version,
                               int64_t asked_wall)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n && n->seen_wall < asked_wall && mpfs_version_same(n->attr.version, version) &&
        pinned_read_confirms_locked(fs, n))
        n->seen_wall = asked_wall;
    pthread_mutex_unlock(&fs->lock);
}

/* For the announced prefetcher (announce.c): the version node ino shows
 * now, as a pin, with its token and size.  -EBUSY if the node has staged
 * data of its own (the bytes a read sees are local, nothing to fetch),
 * -ESTALE if the node is gone. */
int mpfs_file_pin_ino(struct mpfs_fs *fs, uint64_t ino, struct mpfs_pin *pin, char *version,
                      size_t vlen, uint64_t *size)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    int local = n && n->source == MPFS_INDEX_SRC_LOCAL;
    if (n) {
        snprintf(version, vlen, "%s", n->attr.version);
        *size = n->attr.size;
    }
    pthread_mutex_unlock(&fs->lock);
    if (!n)
        return -ESTALE;
    pthread_mutex_lock(&n->wlock);
    int staged = n->wf != NULL;
    pthread_mutex_unlock(&n->wlock);
    if (staged || local)
        return -EBUSY;
    node_pin(fs, n, pin);
    return 0;
}

ssize_t mpfs_file_fetch_pinned(struct mpfs_fs *fs, struct mpfs_pin *pin, pthread_mutex_t *lock,
                               const char *path, void *buf, size_t len, uint64_t off)
{
    return pinned_read(fs, pin, lock, path, fs->router.route[MPFS_R_READ_SEQ], buf, len, off);
}

/* Make the staging file hold the current backend content (first write to
 * an existing file that was not truncated).  Caller holds n->wlock. */
static int populate_once(struct mpfs_fs *fs, struct mpfs_node *n, struct mpfs_wfile *wf);

/* If the file changed on the server since it was opened and before the
 * first write, the edit applies to the current content (as a write to a
 * shared local file would): re-read the attributes and fetch that. */
static int populate(struct mpfs_fs *fs, struct mpfs_node *n, struct mpfs_wfile *wf)
{
    int rc = populate_once(fs, n, wf);
    pthread_mutex_lock(&fs->lock);
    int gone = n->gone_remote;
    pthread_mutex_unlock(&fs->lock);
    /* a file deleted by someone else has no current content to edit (a
     * file now at its name is another file) */
    if (rc != -ESTALE || gone)
        return rc == 0 || !gone ? rc : -ESTALE;
    pthread_mutex_lock(&fs->lock);
    char *path = mpfs_node_path_locked(fs, n->ino);
    uint64_t parent = n->parent;
    char *name = mpfs_xstrdup(n->name ? n->name : "");
    pthread_mutex_unlock(&fs->lock);
    struct mpfs_attr a;
    struct mpfs_backend *meta = fs->router.route[MPFS_R_META];
    rc = path ? mpfs_backend_stat(meta, path, &a) : -ESTALE;
    if (rc == 0) {
        mpfs_fs_record(fs, n->ino, parent, name, &a, mpfs_source_of(fs, meta));
        if (ftruncate(wf->fd, 0) < 0)
            rc = -errno;
        else
            rc = populate_once(fs, n, wf);
    }
    free(path);
    free(name);
    return rc;
}

static int populate_once(struct mpfs_fs *fs, struct mpfs_node *n, struct mpfs_wfile *wf)
{
    pthread_mutex_lock(&fs->lock);
    char *path = mpfs_node_path_locked(fs, n->ino);
    struct mpfs_attr a = n->attr;
    pthread_mutex_unlock(&fs->lock);
    if (!path)
        return -ESTALE;
    struct mpfs_backend *b = fs->router.route[MPFS_R_READ_SEQ];
    if ((uint64_t)atomic_load(&fs->staging_bytes) + a.size > fs->cfg.staging_max) {
        free(path);
        return -ENOSPC;
    }
    struct mpfs_pin pin;
    node_pin(fs, n, &pin);
    /* Where no pinned read can tell that the file changed (nothing to read,
     * or a side that does not check versions on read), the version is
     * confirmed before and after the copy: the edit's base must be the
     * version of the bytes it starts from. */
    struct mpfs_backend *issuer = side_backend(fs, pin.side);
    int confirm = a.version[0] &&
                  (a.size == 0 || !issuer || !(issuer->caps & MPFS_CAP_PINNED_READ));
    int rc = confirm ? still_current(fs, path, a.version) : 0;
    if (rc < 0) {
        free(path);
        return rc;
    }
    pthread_mutex_t pin_lock = PTHREAD_MUTEX_INITIALIZER;
    char *buf = mpfs_xmalloc(POPULATE_CHUNK);
    uint64_t off = 0;
    while (off < a.size) {
        size_t want = (size_t)MPFS_MIN((uint64_t)POPULATE_CHUNK, a.size - off);
        ssize_t got = pinned_read(fs, &pin, &pin_lock, path, b, buf, want, off);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        if (got == 0) {
            rc = -ESTALE; /* shorter than the version said: it changed */
            break;
        }
        rc = mpfs_write_all(wf->fd, buf, (size_t)got, (off_t)off);
        if (rc < 0)
            break;
        off += (uint64_t)got;
    }
    free(buf);
    if (rc == 0 && confirm)
        rc = still_current(fs, path, a.version);
    free(path);
    if (rc < 0)
        return rc;
    set_staged_size(fs, wf, off);
    wf->populated = 1;
    snprintf(wf->base_version, sizeof(wf->base_version), "%s", a.version);
    wf->base_side = pin.side;
    return 0;
}

/* ------------------------------------------------------------ journal */

/* Write (or rewrite) the journal record of n's staged data.  Caller holds
 * n->wlock.  A failure is logged and returned: the write that made the
 * data dirty fails with it rather than leave data no record names. */
static int journal_write(struct mpfs_fs *fs, uint64_t ino, uint64_t parent, char *path,
                         struct mpfs_wfile *wf)
{
    struct mpfs_journal_rec rec;
    memset(&rec, 0, sizeof(rec));
    rec.ino = ino;
    rec.parent = parent;
    rec.path = path;
    rec.staging = (char *)mpfs_path_base(wf->spath);
    rec.conflict_path = wf->conflict_path;
    snprintf(rec.base_version, sizeof(rec.base_version), "%s", wf->base_version);
    rec.base_side = wf->base_side;
    rec.is_new = wf->is_new;
    rec.attr = wf->pending;
    rec.attr_set = wf->pending_set;
    rec.created_ns = mpfs_wall_ns();
    int rc = mpfs_journal_put(fs->index, &rec);
    if (rc < 0) {
        mpfs_error("journal: cannot record staged data of '%s': %s", path, strerror(-rc));
        free(path);
        return rc;
    }
    free(wf->jpath);
    wf->jpath = path;
    wf->journaled = 1;
    return 0;
}

static int journal_record(struct mpfs_fs *fs, struct mpfs_node *n, struct mpfs_wfile *wf)
{
    pthread_mutex_lock(&fs->lock);
    char *path = mpfs_node_path_locked(fs, n->ino);
    uint64_t parent = n->parent;
    pthread_mutex_unlock(&fs->lock);
    if (!path)
        path = mpfs_xstrdup(wf->jpath ? wf->jpath : "");
    return journal_write(fs, n->ino, parent, path, wf);
}

/* Does n's staged data die with its last handle?  Yes for a file unlinked
 * through this mount (POSIX); not for one deleted by someone else (the
 * edit recreates it) nor once it belongs to a conflict copy.  Caller
 * holds n->wlock. */
static int data_dies(struct mpfs_fs *fs, struct mpfs_node *n, struct mpfs_wfile *wf)
{
    pthread_mutex_lock(&fs->lock);
    int dies = n->unlinked && !n->gone_remote && !wf->conflict_path;
    pthread_mutex_unlock(&fs->lock);
    return dies;
}

/* The staged data is about to change: make sure a record names it. */
static int make_dirty(struct mpfs_fs *fs, struct mpfs_node *n, struct mpfs_wfile *wf)
{
    if (!wf->journaled && !data_dies(fs, n, wf)) {
        int rc = journal_record(fs, n, wf);
        if (rc < 0)
            return rc;
    }
    wf->dirty = 1;
    return 0;
}

static void journal_forget(struct mpfs_fs *fs, struct mpfs_node *n, struct mpfs_wfile *wf)
{
    if (!wf->journaled)
        return;
    int rc = mpfs_journal_del(fs->index, n->ino);
    if (rc < 0)
        mpfs_warn("journal: cannot delete the record of '%s': %s (replayed harmlessly at "
                  "the next mount)", wf->jpath ? wf->jpath : "?", strerror(-rc));
    wf->journaled = 0;
}

/* ------------------------------------------------------------- commit */

void mpfs_file_wait_commit_locked(struct mpfs_node *n)
{
    while (n->wf && n->wf->committing)
        pthread_cond_wait(&n->wcond, &n->wlock);
}

/* The metadata a whole-object put stores: what the file had, with this
 * node's pending changes (s3fs-compatible headers stay whole). */
static void commit_attrs(struct mpfs_fs *fs, struct mpfs_node *n, struct mpfs_wfile *wf,
                         struct mpfs_commit_req *r)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_attr a = n->attr;
    pthread_mutex_unlock(&fs->lock);
    a.mode = S_IFREG | (a.mode & 07777);
    if (!(a.valid & MPFS_ATTR_MODE))
        a.mode = S_IFREG | (uint32_t)fs->cfg.file_mode;
    if (!(a.valid & MPFS_ATTR_OWNER)) {
        a.uid = (uint32_t)fs->cfg.uid;
        a.gid = (uint32_t)fs->cfg.gid;
    }
    a.mtime_ns = mpfs_wall_ns();
    if (wf->pending_set & MPFS_SET_MODE)
        a.mode = S_IFREG | (wf->pending.mode & 07777);
    if (wf->pending_set & MPFS_SET_UID)
        a.uid = wf->pending.uid;
    if (wf->pending_set & MPFS_SET_GID)
        a.gid = wf->pending.gid;
    if (wf->pending_set & MPFS_SET_MTIME)
        a.mtime_ns = wf->pending.mtime_ns;
    r->attr = a;
    r->attr_set = MPFS_SET_MODE | MPFS_SET_UID | MPFS_SET_GID | MPFS_SET_MTIME;
    r->changed_set = wf->pending_set;
}

/* What close/fsync report: the store's reason where it means something to
 * the caller (and, for the background retry, whether retrying can help),
 * EIO for the rest. */
static int commit_errno(int rc)
{
    return rc == -ENOSPC || rc == -EDQUOT || mpfs_commit_error_is_permanent(rc) ? rc : -EIO;
}

int mpfs_file_commit_locked(struct mpfs_fs *fs, struct mpfs_node *n)
{
    mpfs_file_wait_commit_locked(n);
    struct mpfs_wfile *wf = n->wf;
    if (!wf || !wf->dirty)
        return 0;
    int unlinked = data_dies(fs, n, wf);
    pthread_mutex_lock(&fs->lock);
    char *path = mpfs_node_path_locked(fs, n->ino);
    uint64_t parent = n->parent;
    char *name = n->name ? mpfs_xstrdup(n->name) : NULL;
    pthread_mutex_unlock(&fs->lock);
    if (unlinked) {
        /* unlinked through this mount: POSIX drops the data with the name */
        wf->dirty = 0;
        journal_forget(fs, n, wf);
        free(path);
        free(name);
        return 0;
    }
    if (!path && wf->jpath)
        path = mpfs_xstrdup(wf->jpath);
    if (!path || !name) {
        free(path);
        free(name);
        return -EIO;
    }

    struct mpfs_commit_req req;
    memset(&req, 0, sizeof(req));
    req.path = path;
    req.fd = wf->fd;
    req.size = wf->size;
    req.base_version = wf->base_version;
    req.base_side = wf->base_side;
    req.is_new = wf->is_new;
    req.conflict_path = wf->conflict_path;
    req.in_place_ok = wf->populated;
    req.dirty_lo = wf->dirty_lo;
    req.dirty_hi = wf->dirty_hi;
    req.shrunk = wf->shrunk;
    req.journal_id = n->ino;
    commit_attrs(fs, n, wf, &req);

    /* Upload without the node's lock: stat, open and reads (from staging)
     * go on; writers and other commits wait on `committing`. */
    wf->committing = 1;
    pthread_mutex_unlock(&n->wlock);
    int64_t t0 = mpfs_now_ns();
    struct mpfs_commit_result res;
    int rc = mpfs_commit_run(fs, &req, &res);
    pthread_mutex_lock(&n->wlock);
    wf->committing = 0;
    pthread_cond_broadcast(&n->wcond);

    if (rc < 0) {
        mpfs_error("commit of '%s' (%llu bytes) to %s failed: %s; the data stays staged in %s "
                   "(journaled under this path) and is retried in the background",
                   path, (unsigned long long)wf->size,
                   res.backend ? res.backend->kind : "the store", strerror(-rc), wf->spath);
        free(res.conflict_path);
        free(path);
        free(name);
        return commit_errno(rc);
    }
    mpfs_debug("committed '%s': %llu bytes in %.1f ms", res.path, (unsigned long long)wf->size,
               (double)(mpfs_now_ns() - t0) / 1e6);
    uint8_t src = mpfs_source_of(fs, res.backend);
    if (res.conflict_path || wf->conflict_path) {
        /* the name holds the other writer's version: re-read it */
        pthread_mutex_lock(&fs->lock);
        n->seen_wall = 0;
        n->source = src;
        n->attr.version[0] = '\0';
        pthread_mutex_unlock(&fs->lock);
        struct mpfs_index_entry ie;
        if (mpfs_index_get(fs->index, parent, name, &ie) == 0) {
            ie.seen_ns = 0;
            ie.source = src;
            mpfs_index_put(fs->index, parent, name, &ie);
        }
        mpfs_refresher_enqueue(fs, parent);
        if (res.conflict_path) {
            free(wf->conflict_path);
            wf->conflict_path = res.conflict_path; /* ours from now on */
        }
    } else {
        res.attr.mode = S_IFREG | (res.attr.mode & 07777);
        mpfs_fs_record(fs, n->ino, parent, name, &res.attr, src);
        pthread_mutex_lock(&fs->lock);
        snprintf(n->open_version, sizeof(n->open_version), "%s", res.attr.version);
        if (n->gone_remote) {
            /* the edit recreated the name deleted by someone else: this
             * node has it again (later commits go there, not nowhere) */
            n->gone_remote = 0;
            n->unlinked = 0;
        }
        pthread_mutex_unlock(&fs->lock);
    }
    wf->dirty = 0;
    wf->is_new = 0;
    wf->shrunk = 0;
    wf->pending_set = 0;
    wf->dirty_lo = wf->dirty_hi = 0;
    snprintf(wf->base_version, sizeof(wf->base_version), "%s", res.attr.version);
    wf->base_side = src;
    journal_forget(fs, n, wf);
    free(path);
    free(name);
    return 0;
}

int mpfs_file_commit(struct mpfs_fs *fs, struct mpfs_node *n)
{
    pthread_mutex_lock(&n->wlock);
    int rc = mpfs_file_commit_locked(fs, n);
    pthread_mutex_unlock(&n->wlock);
    return rc;
}

/* --------------------------------------------------------- open/close */

static struct mpfs_handle *handle_new(struct mpfs_fs *fs, struct mpfs_node *n, int flags)
{
    struct mpfs_handle *h = mpfs_xcalloc(1, sizeof(*h));
    h->fs = fs;
    h->node = n;
    h->flags = flags;
    h->writable = (flags & O_ACCMODE) != O_RDONLY;
    pthread_mutex_init(&h->rlock, NULL);
    pthread_mutex_init(&h->confirm_lock, NULL);
    return h;
}

static void handle_free(struct mpfs_handle *h)
{
    pthread_mutex_destroy(&h->rlock);
    pthread_mutex_destroy(&h->confirm_lock);
    free(h);
}

/* Can the first read of a read-only handle on n confirm its version
 * (consistency/policy.h, MPFS_OPEN_BY_FETCH)?  Only if every read reaches
 * mpfs (the kernel keeps no pages across this open: it never opened this
 * version), there is something to read (a size-0 file makes no read) and
 * the side that issued the version fails a pinned read of another one.
 * fs->lock held. */
static int fetch_confirms_locked(struct mpfs_fs *fs, const struct mpfs_node *n, int flags)
{
    if ((flags & O_ACCMODE) != O_RDONLY || !S_ISREG(n->attr.mode) || n->attr.size == 0 ||
        !n->attr.version[0] || mpfs_version_same(n->open_version, n->attr.version))
        return 0;
    return pinned_read_confirms_locked(fs, n);
}

/* Close-to-open: confirm node n's version with the metadata side (a HEAD
 * or GETATTR) and record what it says.  0 (also when the store cannot be
 * asked: the cached version is used, with a warning), -ENOENT if the file
 * is gone, -EISDIR if a directory took its name. */
static int confirm_version(struct mpfs_fs *fs, struct mpfs_node *n, uint64_t ino, uint64_t parent,
                           const char *name, const char *path)
{
    int rc;
    struct mpfs_attr a;
    rc = mpfs_backend_stat(fs->router.route[MPFS_R_META], path, &a);
    if (rc == 0) {
        pthread_mutex_lock(&fs->lock);
        struct mpfs_attr old = n->attr;
        pthread_mutex_unlock(&fs->lock);
        mpfs_attr_keep_precise_times(&a, &old);
        if (mpfs_version_same(a.version, old.version) || !(a.valid & MPFS_ATTR_MODE)) {
            if ((old.valid & MPFS_ATTR_MODE) && !(a.valid & MPFS_ATTR_MODE) &&
                mpfs_version_same(a.version, old.version)) {
                a.mode = old.mode;
                a.uid = old.uid;
                a.gid = old.gid;
                a.valid |= old.valid & (MPFS_ATTR_MODE | MPFS_ATTR_OWNER);
            }
        }
        if (S_ISDIR(a.mode)) {
            rc = -EISDIR;
        } else {
            mpfs_fs_record(fs, ino, parent, name ? name : "", &a,
                           mpfs_source_of(fs, fs->router.route[MPFS_R_META]));
        }
    } else if (rc != -ENOENT) {
        mpfs_warn("%s: cannot revalidate (%s); using the cached version", path, strerror(-rc));
        rc = 0;
    }
    return rc;
}

int mpfs_file_confirmed_within(struct mpfs_fs *fs, uint64_t ino, int64_t ns)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    int64_t age = n ? mpfs_wall_ns() - n->seen_wall : -1;
    int fresh = n && n->seen_wall && age >= 0 && age < ns;
    pthread_mutex_unlock(&fs->lock);
    return fresh;
}

void mpfs_file_confirm_ahead(struct mpfs_fs *fs, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    char *path = n ? mpfs_node_path_locked(fs, ino) : NULL;
    char *name = n && n->name ? mpfs_xstrdup(n->name) : NULL;
    uint64_t parent = n ? n->parent : 0;
    pthread_mutex_unlock(&fs->lock);
    if (path)
        (void)confirm_version(fs, n, ino, parent, name, path);
    free(path);
    free(name);
}

/* Attach (or create) the shared write state for a writable handle.
 * Caller holds n->wlock. */
static int attach_writer(struct mpfs_fs *fs, struct mpfs_node *n, int trunc)
{
    if (!n->wf) {
        int err = 0;
        n->wf = wfile_new(fs, n->ino, &err);
        if (!n->wf)
            return err;
    }
    if (trunc) {
        mpfs_file_wait_commit_locked(n);
        pthread_mutex_lock(&fs->lock);
        snprintf(n->wf->base_version, sizeof(n->wf->base_version), "%s", n->attr.version);
        n->wf->base_side = n->source == MPFS_INDEX_SRC_LOCAL ? 0 : n->source;
        pthread_mutex_unlock(&fs->lock);
        int rc = make_dirty(fs, n, n->wf);
        if (rc < 0)
            return rc;
        if (ftruncate(n->wf->fd, 0) < 0)
            return -errno;
        if (n->wf->size > 0 || !n->wf->populated)
            n->wf->shrunk = 1;
        set_staged_size(fs, n->wf, 0);
        n->wf->populated = 1;
        n->wf->dirty_lo = n->wf->dirty_hi = 0;
    }
    n->wf->writers++; /* only once nothing can fail: release undoes it */
    return 0;
}

static int repin_if_changed(struct mpfs_fs *fs, struct mpfs_handle *h);

int mpfs_vfs_open(struct mpfs_fs *fs, uint64_t ino, int flags, struct mpfs_handle **out,
                  int *keep_cache)
{
    int writable = (flags & O_ACCMODE) != O_RDONLY;
    if (writable && fs->cfg.read_only)
        return -EROFS;
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (!n) {
        pthread_mutex_unlock(&fs->lock);
        return -ESTALE;
    }
    if (S_ISDIR(n->attr.mode)) {
        pthread_mutex_unlock(&fs->lock);
        return -EISDIR;
    }
    n->nopen++;
    char *path = mpfs_node_path_locked(fs, ino);
    uint64_t parent = n->parent;
    char *name = n->name ? mpfs_xstrdup(n->name) : NULL;
    uint8_t source = n->source;
    int64_t seen = n->seen_wall;
    int fetch_confirms = fetch_confirms_locked(fs, n, flags);
    char version[MPFS_VERSION_MAX];
    snprintf(version, sizeof(version), "%s", n->attr.version);
    pthread_mutex_unlock(&fs->lock);
    /* Data already in the block cache (read before, or fetched ahead for
     * an announced read) is served without a fetch: confirm with a HEAD
     * rather than fetch it again. */
    if (fetch_confirms && path) {
        struct mpfs_block_key k = {.file = path, .file_len = strlen(path), .version = version};
        fetch_confirms = mpfs_cache_contains(fs->cache, &k) == MPFS_CACHE_ABSENT;
    }

    pthread_mutex_lock(&n->wlock);
    int staged = n->wf != NULL;
    pthread_mutex_unlock(&n->wlock);

    int rc = 0;
    const struct mpfs_policy *pol = path ? mpfs_fs_policy(fs, path) : NULL;
    /* Close-to-open, unless this node's own staged data is the truth; a
     * cold read-only open leaves it to its first fetch (no HEAD). */
    enum mpfs_open_check check = MPFS_OPEN_TRUST;
    if (path && !staged && source != MPFS_INDEX_SRC_LOCAL)
        check = mpfs_policy_open_check(pol, seen, mpfs_wall_ns(), fetch_confirms);
    if (check == MPFS_OPEN_CONFIRM)
        rc = confirm_version(fs, n, ino, parent, name, path);
    if (!path)
        rc = -ESTALE;
    struct mpfs_handle *h = NULL;
    int changed = 0;
    if (rc == 0) {
        h = handle_new(fs, n, flags);
        pthread_mutex_lock(&fs->lock);
        snprintf(h->version, sizeof(h->version), "%s", n->attr.version);
        h->size = n->attr.size;
        pthread_mutex_unlock(&fs->lock);
        node_pin(fs, n, &h->pin);
        pthread_mutex_lock(&fs->lock);
        *keep_cache = staged || mpfs_version_same(n->open_version, n->attr.version);
        if (check == MPFS_OPEN_BY_FETCH) {
            *keep_cache = 0; /* every read must reach the confirming fetch */
            atomic_store(&h->confirm, 1);
        }
        /* the kernel holds the old size if an earlier open showed another
         * version, or if this open's confirmation found a new one (the
         * lookup that gave the kernel its attributes saw the old) */
        changed = (!*keep_cache && n->open_version[0]) ||
                  !mpfs_version_same(n->attr.version, version);
        snprintf(n->open_version, sizeof(n->open_version), "%s", n->attr.version);
        pthread_mutex_unlock(&fs->lock);
        if (h->writable) {
            pthread_mutex_lock(&n->wlock);
            rc = attach_writer(fs, n, (flags & O_TRUNC) != 0);
            pthread_mutex_unlock(&n->wlock);
        }
    }
    if (rc < 0) {
        if (h)
            handle_free(h);
        pthread_mutex_lock(&fs->lock);
        n->nopen--;
        mpfs_node_maybe_drop_locked(fs, n);
        pthread_mutex_unlock(&fs->lock);
    } else {
        *out = h;
        /* announced (announce.h): its prefetched blocks of this very
         * version go to the cache now, before the first read.  Fetched
         * ahead, its reads will not fetch, so they cannot confirm the
         * version: a HEAD does, first, so that a version changed since the
         * prefetch is seen (the claim then drops the old bytes as stale);
         * no other thread has h yet: no confirm_lock needed. */
        if (!h->writable && !staged && mpfs_announce_has(fs->announce, path)) {
            if (atomic_load(&h->confirm) && repin_if_changed(fs, h) == 0)
                atomic_store(&h->confirm, 0);
            mpfs_announce_claim(fs->announce, path, h->version, h->size);
        }
        if (changed && fs->notify.inval_inode) {
            /* The kernel may still hold the old size; until its attributes
             * are refreshed, this handle bypasses the page cache so reads
             * are bounded by the new version's size, not the old one. */
            h->direct_io = 1;
            fs->notify.inval_inode(fs->notify.ctx, ino);
        }
    }
    free(path);
    free(name);
    return rc;
}

int mpfs_vfs_handle_direct_io(const struct mpfs_handle *h)
{
    return h->direct_io;
}

int mpfs_vfs_create(struct mpfs_fs *fs, uint64_t parent, const char *name, mode_t mode,
                    int flags, const struct mpfs_caller *c, struct mpfs_entry *e,
                    struct mpfs_handle **out)
{
    if (fs->cfg.read_only)
        return -EROFS;
    size_t len = strlen(name);
    if (len > 255)
        return -ENAMETOOLONG;
    if (!mpfs_name_is_valid(name, len))
        return -EINVAL;
    /* refused now, not at the commit after close (that would strand it) */
    int prc = mpfs_fs_check_child(fs, parent, name);
    if (prc < 0)
        return prc;
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *pn = mpfs_node_find_locked(fs, parent);
    pthread_mutex_unlock(&fs->lock);
    if (!pn)
        return -ESTALE;
    if ((uint64_t)atomic_load(&fs->staging_bytes) >= fs->cfg.staging_max)
        return -ENOSPC;

    uint64_t ino = mpfs_index_alloc_ino(fs->index);
    if (!ino)
        return -EIO;
    struct mpfs_attr a;
    memset(&a, 0, sizeof(a));
    a.mode = S_IFREG | (mode & 07777);
    a.uid = (uint32_t)fs->cfg.uid;
    a.gid = (uint32_t)fs->cfg.gid;
    a.nlink = 1;
    a.mtime_ns = a.ctime_ns = a.atime_ns = mpfs_wall_ns();
    a.valid = MPFS_ATTR_MODE | MPFS_ATTR_MTIME;
    mpfs_fs_new_owner(fs, parent, c, &a);

    int err = 0;
    struct mpfs_wfile *wf = wfile_new(fs, ino, &err);
    if (!wf)
        return err;
    wf->populated = 1;
    wf->dirty = 1;
    wf->is_new = 1;
    wf->writers = 1;
    wf->pending = a;
    wf->pending_set = MPFS_SET_MODE | MPFS_SET_UID | MPFS_SET_GID;

    /* the journal names the new file before the index shows it, so a
     * crash never leaves an entry that nothing will commit or clean up */
    char *dir = mpfs_node_path(fs, parent);
    int rc = dir ? journal_write(fs, ino, parent, mpfs_path_join(dir, name), wf) : -ESTALE;
    free(dir);
    struct mpfs_index_entry ie;
    int64_t now = mpfs_wall_ns();
    mpfs_entry_to_index(&a, ino, MPFS_INDEX_SRC_LOCAL, now, &ie);
    if (rc == 0)
        rc = mpfs_index_put(fs->index, parent, name, &ie);
    if (rc < 0) {
        if (wf->journaled)
            mpfs_journal_del(fs->index, ino);
        wf->dirty = 0;
        mpfs_wfile_free(fs, ino, wf, MPFS_WF_DISCARD);
        return rc;
    }
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n =
        mpfs_node_upsert_locked(fs, ino, parent, name, &a, MPFS_INDEX_SRC_LOCAL, now, 1);
    n->nopen++;
    n->open_version[0] = '\0';
    pthread_mutex_unlock(&fs->lock);
    pthread_mutex_lock(&n->wlock);
    n->wf = wf;
    pthread_mutex_unlock(&n->wlock);

    struct mpfs_handle *h = handle_new(fs, n, flags | O_RDWR);
    h->writable = 1;
    mpfs_fill_entry(fs, ino, &a, e);
    mpfs_fs_touch_dir(fs, parent, 0);
    *out = h;
    return 0;
}

void mpfs_file_unlinked(struct mpfs_fs *fs, struct mpfs_node *n)
{
    pthread_mutex_lock(&n->wlock);
    if (n->wf && !n->wf->conflict_path)
        journal_forget(fs, n, n->wf);
    pthread_mutex_unlock(&n->wlock);
}

void mpfs_file_keep_local(struct mpfs_fs *fs, struct mpfs_node *n)
{
    pthread_mutex_lock(&n->wlock);
    if (!n->wf) {
        int err = 0;
        n->wf = wfile_new(fs, n->ino, &err);
    }
    if (n->wf && !n->wf->populated) {
        int rc = populate(fs, n, n->wf);
        if (rc < 0)
            mpfs_warn("unlink of an open file: cannot keep a local copy (%s); its open "
                      "handles will fail to read", strerror(-rc));
    }
    pthread_mutex_unlock(&n->wlock);
}

/* ---------------------------------------------------------------- read */

static ssize_t fetch(void *ctx, void *buf, size_t len, uint64_t off)
{
    struct mpfs_handle *h = ctx;
    struct mpfs_fs *fs = h->fs;
    char *path = mpfs_node_path(fs, h->node->ino);
    if (!path)
        return -ESTALE;
    struct mpfs_backend *b = fs->router.route[MPFS_R_READ_SEQ];
    struct mpfs_backend *rb = fs->router.route[MPFS_R_READ_RAND];
    /* Small reads go to the other side only once the pin translates
     * there (the same content seen on both sides). */
    if (len <= SMALL_READ && rb != b) {
        pthread_mutex_lock(&h->rlock);
        int other = h->pin.other;
        pthread_mutex_unlock(&h->rlock);
        if (other >= 0)
            b = rb;
    }
    ssize_t rc = pinned_read(fs, &h->pin, &h->rlock, path, b, buf, len, off);
    if (rc == -ESTALE)
        mpfs_warn("'%s' changed on the server while open; this handle stays on the old "
                  "version and fails its reads with ESTALE (reopen for the new one)", path);
    free(path);
    return rc;
}

static struct mpfs_reader *handle_reader(struct mpfs_fs *fs, struct mpfs_handle *h)
{
    pthread_mutex_lock(&h->rlock);
    if (!h->reader) {
        char *path = mpfs_node_path(fs, h->node->ino);
        h->reader = mpfs_reader_new(fs->prefetch, path ? path : "", h->version, h->size,
                                    fetch, h);
        free(path);
        if (h->reader && atomic_load(&h->confirm))
            mpfs_reader_fetch_first(h->reader);
    }
    struct mpfs_reader *r = h->reader;
    pthread_mutex_unlock(&h->rlock);
    return r;
}

/* A read of the handle's pinned version through its reader. */
static ssize_t handle_read(struct mpfs_fs *fs, struct mpfs_handle *h, void *buf, size_t len,
                           off_t off)
{
    if ((uint64_t)off >= h->size)
        return 0;
    struct mpfs_reader *r = handle_reader(fs, h);
    if (!r)
        return -ENOMEM;
    size_t want = (size_t)MPFS_MIN((uint64_t)len, h->size - (uint64_t)off);
    return mpfs_reader_read(r, buf, want, (uint64_t)off);
}

/* The version the handle was opened on is no longer current (its
 * confirming fetch failed its pin): what open would have done had it
 * asked, now.  Re-read the attributes, record them, pin the handle to
 * the new version with a new reader, and have the kernel drop what it
 * knows of the old one (size, pages).  Caller holds h->confirm_lock, so
 * no other read of h runs (they all wait for the confirmation). */
static int repin(struct mpfs_fs *fs, struct mpfs_handle *h)
{
    struct mpfs_node *n = h->node;
    pthread_mutex_lock(&fs->lock);
    char *path = mpfs_node_path_locked(fs, n->ino);
    uint64_t parent = n->parent;
    char *name = mpfs_xstrdup(n->name ? n->name : "");
    pthread_mutex_unlock(&fs->lock);
    struct mpfs_backend *meta = fs->router.route[MPFS_R_META];
    struct mpfs_attr a;
    int rc = path ? mpfs_backend_stat(meta, path, &a) : -ESTALE;
    if (rc == 0 && S_ISDIR(a.mode))
        rc = -EISDIR;
    if (rc == 0) {
        mpfs_fs_record(fs, n->ino, parent, name, &a, mpfs_source_of(fs, meta));
        mpfs_reader_free(h->reader);
        pthread_mutex_lock(&h->rlock);
        h->reader = NULL;
        pthread_mutex_unlock(&h->rlock);
        uint64_t old_size = h->size;
        pthread_mutex_lock(&fs->lock);
        snprintf(h->version, sizeof(h->version), "%s", n->attr.version);
        h->size = n->attr.size;
        snprintf(n->open_version, sizeof(n->open_version), "%s", n->attr.version);
        pthread_mutex_unlock(&fs->lock);
        struct mpfs_pin pin;
        node_pin(fs, n, &pin);
        pthread_mutex_lock(&h->rlock);
        h->pin = pin;
        pthread_mutex_unlock(&h->rlock);
        /* The kernel took the old size with the lookup: a longer new
         * version would end there unless the size is asked again before
         * the read that reaches it, so its attributes go now.  A shorter
         * one the kernel learns from the short read itself, and only if
         * nothing invalidated the attributes while that read ran. */
        if (h->size > old_size) {
            if (fs->notify.inval_attr)
                fs->notify.inval_attr(fs->notify.ctx, n->ino);
            else if (fs->notify.inval_inode)
                fs->notify.inval_inode(fs->notify.ctx, n->ino);
        }
    }
    free(path);
    free(name);
    return rc;
}

/* Confirm the handle's version with a stat; re-pin if it changed. */
static int repin_if_changed(struct mpfs_fs *fs, struct mpfs_handle *h)
{
    char *path = mpfs_node_path(fs, h->node->ino);
    if (!path)
        return -ESTALE;
    int rc = still_current(fs, path, h->version);
    free(path);
    return rc == -ESTALE ? repin(fs, h) : rc;
}

/* The first read of a handle opened with MPFS_OPEN_BY_FETCH: its fetch,
 * pinned to the version the open saw, confirms that version (or finds
 * that it changed: then re-pin and read the new one).  A read the fetch
 * cannot confirm (at or past the size the open saw: the file may have
 * grown) confirms the way open would have, with a stat. */
static ssize_t confirming_read(struct mpfs_fs *fs, struct mpfs_handle *h, void *buf,
                               size_t len, off_t off)
{
    ssize_t rc;
    if ((uint64_t)off >= h->size || len == 0) {
        rc = repin_if_changed(fs, h);
        if (rc < 0)
            return rc;
    } else {
        rc = handle_read(fs, h, buf, len, off);
        if (rc != -ESTALE) {
            if (rc >= 0)
                atomic_store(&h->confirm, 0);
            return rc;
        }
        rc = repin(fs, h);
        if (rc < 0)
            return rc;
    }
    atomic_store(&h->confirm, 0);
    return handle_read(fs, h, buf, len, off);
}

ssize_t mpfs_vfs_read(struct mpfs_fs *fs, struct mpfs_handle *h, void *buf, size_t len,
                      off_t off)
{
    struct mpfs_node *n = h->node;
    pthread_mutex_lock(&n->wlock);
    if (n->wf && n->wf->populated) {
        ssize_t rc = 0;
        if ((uint64_t)off < n->wf->size) {
            size_t want = (size_t)MPFS_MIN((uint64_t)len, n->wf->size - (uint64_t)off);
            rc = mpfs_read_full(n->wf->fd, buf, want, off);
        }
        pthread_mutex_unlock(&n->wlock);
        return rc;
    }
    pthread_mutex_unlock(&n->wlock);

    if (atomic_load(&h->confirm)) {
        /* one confirming read at a time; the others wait for its outcome */
        pthread_mutex_lock(&h->confirm_lock);
        if (atomic_load(&h->confirm)) {
            ssize_t rc = confirming_read(fs, h, buf, len, off);
            pthread_mutex_unlock(&h->confirm_lock);
            return rc;
        }
        pthread_mutex_unlock(&h->confirm_lock);
    }
    return handle_read(fs, h, buf, len, off);
}

/* --------------------------------------------------------------- write */

ssize_t mpfs_vfs_write(struct mpfs_fs *fs, struct mpfs_handle *h, const void *buf,
                       size_t len, off_t off)
{
    if (!h->writable)
        return -EBADF;
    struct mpfs_node *n = h->node;
    pthread_mutex_lock(&n->wlock);
    struct mpfs_wfile *wf = n->wf;
    ssize_t rc = 0;
    if (!wf) {
        rc = -EIO;
        goto out;
    }
    mpfs_file_wait_commit_locked(n);
    if (!wf->populated) {
        rc = populate(fs, n, wf);
        if (rc < 0) {
            mpfs_warn("write: cannot fetch the current content to edit: %s",
                      strerror((int)-rc));
            goto out;
        }
    }
    uint64_t end = (uint64_t)off + len;
    if (end > wf->size &&
        (uint64_t)atomic_load(&fs->staging_bytes) + (end - wf->size) > fs->cfg.staging_max) {
        rc = -ENOSPC;
        goto out;
    }
    rc = make_dirty(fs, n, wf);
    if (rc < 0)
        goto out;
    rc = mpfs_write_all(wf->fd, buf, len, off);
    if (rc < 0)
        goto out;
    if (end > wf->size)
        set_staged_size(fs, wf, end);
    if (wf->dirty_hi == wf->dirty_lo) {
        wf->dirty_lo = (uint64_t)off;
        wf->dirty_hi = end;
    } else {
        wf->dirty_lo = MPFS_MIN(wf->dirty_lo, (uint64_t)off);
        wf->dirty_hi = MPFS_MAX(wf->dirty_hi, end);
    }
    wf->pending.mtime_ns = mpfs_wall_ns();
    wf->pending_set |= MPFS_SET_MTIME;
    rc = (ssize_t)len;
out:
    pthread_mutex_unlock(&n->wlock);
    return rc;
}

int mpfs_vfs_flush(struct mpfs_fs *fs, struct mpfs_handle *h)
{
    if (!h->writable)
        return 0;
    return mpfs_file_commit(fs, h->node);
}

int mpfs_vfs_fsync(struct mpfs_fs *fs, struct mpfs_handle *h)
{
    int rc = mpfs_file_commit(fs, h->node);
    if (rc == 0) {
        pthread_mutex_lock(&h->node->wlock);
        if (h->node->wf)
            fdatasync(h->node->wf->fd);
        pthread_mutex_unlock(&h->node->wlock);
    }
    return rc;
}

void mpfs_vfs_release(struct mpfs_fs *fs, struct mpfs_handle *h)
{
    struct mpfs_node *n = h->node;
    pthread_mutex_lock(&n->wlock);
    mpfs_file_wait_commit_locked(n); /* e.g. the background retry's */
    if (h->writable && n->wf) {
        n->wf->writers--;
        if (n->wf->dirty)
            mpfs_file_commit_locked(fs, n);
    }
    pthread_mutex_lock(&fs->lock);
    int last = n->nopen == 1;
    pthread_mutex_unlock(&fs->lock);
    /* Other handles keep reading the staged copy until the last one goes;
     * data whose commit failed stays with the node, journaled, and the
     * background retry commits it (the node is kept until then). */
    if (n->wf && n->wf->writers == 0 && last) {
        if (n->wf->dirty) {
            pthread_mutex_lock(&fs->lock);
            n->wb_pinned = 1;
            pthread_mutex_unlock(&fs->lock);
            mpfs_writeback_kick(fs);
        } else {
            mpfs_wfile_free(fs, n->ino, n->wf, MPFS_WF_DISCARD);
            n->wf = NULL;
        }
    }
    pthread_mutex_unlock(&n->wlock);

    mpfs_reader_free(h->reader);
    pthread_mutex_lock(&fs->lock);
    n->nopen--;
    mpfs_node_maybe_drop_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
    handle_free(h);
}

/* ------------------------------------------------------------- setattr */

static int truncate_node(struct mpfs_fs *fs, struct mpfs_node *n, uint64_t size, int have_handle)
{
    struct mpfs_backend *native = fs->router.route[MPFS_R_TRUNCATE];
    pthread_mutex_lock(&n->wlock);
    int rc = 0;
    int temp = 0;
    if (!n->wf && native) {
        pthread_mutex_unlock(&n->wlock);
        char *path = mpfs_node_path(fs, n->ino);
        if (!path)
            return -ESTALE;
        struct mpfs_attr a = {.size = size}, out;
        rc = mpfs_backend_setattr(native, path, &a, MPFS_SET_SIZE, &out);
        if (rc == 0) {
            pthread_mutex_lock(&fs->lock);
            uint64_t parent = n->parent;
            char *name = mpfs_xstrdup(n->name ? n->name : "");
            pthread_mutex_unlock(&fs->lock);
            mpfs_fs_record(fs, n->ino, parent, name, &out, mpfs_source_of(fs, native));
            free(name);
        }
        free(path);
        return rc;
    }
    if (!n->wf) {
        rc = attach_writer(fs, n, 0);
        if (rc < 0)
            goto out;
        temp = 1;
    }
    struct mpfs_wfile *wf = n->wf;
    mpfs_file_wait_commit_locked(n);
    if (!wf->populated && size > 0) {
        rc = populate(fs, n, wf);
        if (rc < 0)
            goto out;
    }
    rc = make_dirty(fs, n, wf);
    if (rc < 0)
        goto out;
    if (ftruncate(wf->fd, (off_t)size) < 0) {
        rc = -errno;
        goto out;
    }
    if (size < wf->size || !wf->populated)
        wf->shrunk = 1;
    if (size > wf->size) {
        wf->dirty_lo = wf->dirty_hi == wf->dirty_lo ? wf->size : MPFS_MIN(wf->dirty_lo, wf->size);
        wf->dirty_hi = MPFS_MAX(wf->dirty_hi, size);
    }
    set_staged_size(fs, wf, size);
    wf->populated = 1;
    /* the reply to ftruncate shows the change now, not at the commit */
    pthread_mutex_lock(&fs->lock);
    n->attr.mtime_ns = n->attr.ctime_ns = mpfs_wall_ns();
    pthread_mutex_unlock(&fs->lock);
    /* truncate(2) on a path takes effect now; ftruncate at the next flush */
    if (!have_handle)
        rc = mpfs_file_commit_locked(fs, n);
out:
    if (temp && n->wf) {
        n->wf->writers--;
        /* the only open reference is setattr's own pin: no handle will
         * read this staging state, so it must not outlive the call (it
         * would short-circuit revalidation of the file for good) */
        pthread_mutex_lock(&fs->lock);
        int idle = n->nopen <= 1;
        pthread_mutex_unlock(&fs->lock);
        if (idle && !n->wf->dirty) {
            mpfs_wfile_free(fs, n->ino, n->wf, MPFS_WF_DISCARD);
            n->wf = NULL;
        } else if (idle) {
            pthread_mutex_lock(&fs->lock);
            n->wb_pinned = 1;
            pthread_mutex_unlock(&fs->lock);
            mpfs_writeback_kick(fs);
        }
    }
    pthread_mutex_unlock(&n->wlock);
    return rc;
}

int mpfs_vfs_setattr(struct mpfs_fs *fs, uint64_t ino, struct mpfs_handle *h,
                     const struct stat *attr, int to_set, struct stat *st, double *timeout)
{
    if (fs->cfg.read_only)
        return -EROFS;
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n)
        n->nopen++; /* pin */
    pthread_mutex_unlock(&fs->lock);
    if (!n)
        return -ESTALE;
    int rc = 0;
    if (to_set & MPFS_SETATTR_SIZE) {
        if (S_ISDIR(n->attr.mode))
            rc = -EISDIR;
        else
            rc = truncate_node(fs, n, (uint64_t)attr->st_size, h != NULL);
    }

    uint32_t set = 0;
    struct mpfs_attr want;
    memset(&want, 0, sizeof(want));
    if (to_set & MPFS_SETATTR_MODE) {
        set |= MPFS_SET_MODE;
        want.mode = (n->attr.mode & S_IFMT) | (attr->st_mode & 07777);
    }
    if (to_set & MPFS_SETATTR_UID) {
        set |= MPFS_SET_UID;
        want.uid = attr->st_uid;
    }
    if (to_set & MPFS_SETATTR_GID) {
        set |= MPFS_SET_GID;
        want.gid = attr->st_gid;
    }
    if (to_set & (MPFS_SETATTR_MTIME | MPFS_SETATTR_MTIME_NOW)) {
        set |= MPFS_SET_MTIME;
        want.mtime_ns = (to_set & MPFS_SETATTR_MTIME_NOW)
                            ? mpfs_wall_ns()
                            : attr->st_mtim.tv_sec * 1000000000LL + attr->st_mtim.tv_nsec;
    }
    if (to_set & (MPFS_SETATTR_ATIME | MPFS_SETATTR_ATIME_NOW)) {
        set |= MPFS_SET_ATIME;
        want.atime_ns = (to_set & MPFS_SETATTR_ATIME_NOW)
                            ? mpfs_wall_ns()
                            : attr->st_atim.tv_sec * 1000000000LL + attr->st_atim.tv_nsec;
    }
    if (rc == 0 && set) {
        pthread_mutex_lock(&n->wlock);
        mpfs_file_wait_commit_locked(n); /* its end would clear pending changes */
        if (n->wf && n->wf->dirty && n->wf->is_new) {
            /* not on the backend yet: goes up with the content */
            struct mpfs_wfile *wf = n->wf;
            if (set & MPFS_SET_MODE)
                wf->pending.mode = want.mode;
            if (set & MPFS_SET_UID)
                wf->pending.uid = want.uid;
            if (set & MPFS_SET_GID)
                wf->pending.gid = want.gid;
            if (set & MPFS_SET_MTIME)
                wf->pending.mtime_ns = want.mtime_ns;
            wf->pending_set |= set & (MPFS_SET_MODE | MPFS_SET_UID | MPFS_SET_GID | MPFS_SET_MTIME);
            if (wf->journaled)
                journal_record(fs, n, wf); /* a replay stores them too */
            pthread_mutex_lock(&fs->lock);
            if (set & MPFS_SET_MODE)
                n->attr.mode = want.mode;
            if (set & MPFS_SET_UID)
                n->attr.uid = want.uid;
            if (set & MPFS_SET_GID)
                n->attr.gid = want.gid;
            if (set & (MPFS_SET_UID | MPFS_SET_GID))
                n->attr.valid |= MPFS_ATTR_OWNER;
            pthread_mutex_unlock(&fs->lock);
            pthread_mutex_unlock(&n->wlock);
        } else {
            /* a pending edit must be on the backend before its metadata changes */
            int crc = mpfs_file_commit_locked(fs, n);
            pthread_mutex_unlock(&n->wlock);
            struct mpfs_backend *b = fs->router.route[MPFS_R_SETATTR];
            char *path = mpfs_node_path(fs, ino);
            if (crc < 0) {
                rc = crc;
            } else if (!path) {
                rc = -ESTALE;
            } else if (ino == MPFS_ROOT_INO) {
                rc = 0; /* the root's attributes are the mount's */
            } else if (!b) {
                /* only times are harmless to drop where nothing stores them */
                rc = (set & ~(uint32_t)(MPFS_SET_MTIME | MPFS_SET_ATIME))
                         ? -fs->router.unsupported_errno[MPFS_R_SETATTR]
                         : 0;
            } else {
                /* fill in the fields not being set so s3fs metadata stays whole */
                pthread_mutex_lock(&fs->lock);
                struct mpfs_attr cur = n->attr;
                pthread_mutex_unlock(&fs->lock);
                if (!(set & MPFS_SET_MODE)) {
                    want.mode = cur.valid & MPFS_ATTR_MODE
                                    ? cur.mode
                                    : (cur.mode & S_IFMT) |
                                          (uint32_t)(S_ISDIR(cur.mode) ? fs->cfg.dir_mode
                                                                       : fs->cfg.file_mode);
                }
                if (!(set & MPFS_SET_UID))
                    want.uid = cur.valid & MPFS_ATTR_OWNER ? cur.uid : (uint32_t)fs->cfg.uid;
                if (!(set & MPFS_SET_GID))
                    want.gid = cur.valid & MPFS_ATTR_OWNER ? cur.gid : (uint32_t)fs->cfg.gid;
                if (!(set & MPFS_SET_MTIME))
                    want.mtime_ns = cur.mtime_ns;
                uint32_t all = set;
                if (b == fs->s3 && b != fs->nfs)
                    all |= MPFS_SET_MODE | MPFS_SET_UID | MPFS_SET_GID | MPFS_SET_MTIME;
                struct mpfs_attr out;
                rc = mpfs_backend_setattr(b, path, &want, all, &out);
                if (rc == 0) {
                    if (!(out.mode & S_IFMT))
                        out = cur;
                    out.mode = (cur.mode & S_IFMT) | (want.mode & 07777);
                    out.uid = want.uid;
                    out.gid = want.gid;
                    out.valid |= MPFS_ATTR_MODE | MPFS_ATTR_OWNER;
                    if (set & MPFS_SET_MTIME) {
                        out.mtime_ns = want.mtime_ns;
                        out.valid |= MPFS_ATTR_MTIME;
                    }
                    /* what was asked, not what a server that reads a
                     * symlink on GETATTR (and so touches its atime) says */
                    if (set & MPFS_SET_ATIME)
                        out.atime_ns = want.atime_ns;
                    if (!out.version[0])
                        snprintf(out.version, sizeof(out.version), "%s", cur.version);
                    pthread_mutex_lock(&fs->lock);
                    uint64_t parent = n->parent;
                    char *name = mpfs_xstrdup(n->name ? n->name : "");
                    /* our own metadata rewrite: the kernel's pages stay valid */
                    snprintf(n->open_version, sizeof(n->open_version), "%s", out.version);
                    pthread_mutex_unlock(&fs->lock);
                    mpfs_fs_record(fs, ino, parent, name, &out, mpfs_source_of(fs, b));
                    free(name);
                }
            }
            free(path);
        }
    }
    if (rc == 0)
        rc = mpfs_vfs_getattr(fs, ino, st, timeout);
    pthread_mutex_lock(&fs->lock);
    n->nopen--;
    mpfs_node_maybe_drop_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

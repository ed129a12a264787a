/*
 * commit.c - see commit.h.
 */
#include "fs/commit.h"

#include "base/log.h"
#include "base/util.h"
#include "consistency/conflict.h"
#include "consistency/upload.h"
#include "fs/entry.h"
#include "fs/fs_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COMPARE_CHUNK (1u << 20)
#define CONFLICT_NAME_TRIES 100

/* Write the dirty range in place, each write conditional on the version
 * the previous one left (the first on the edit's base): -ESTALE means
 * someone else wrote the file meanwhile (NFS may have applied some of our
 * bytes by then: the caller keeps our whole content as a conflict copy). */
static int commit_in_place(struct mpfs_backend *b, const struct mpfs_commit_req *r,
                           struct mpfs_attr *out)
{
    int rc = 0;
    char expect[MPFS_VERSION_MAX];
    snprintf(expect, sizeof(expect), "%s", r->base_version ? r->base_version : "");
    if (r->dirty_hi > r->dirty_lo) {
        size_t chunk = b->io_size ? b->io_size : (1u << 20);
        char *buf = mpfs_xmalloc(chunk);
        for (uint64_t off = r->dirty_lo; off < r->dirty_hi && rc == 0;) {
            size_t want = (size_t)MPFS_MIN((uint64_t)chunk, r->dirty_hi - off);
            ssize_t got = mpfs_read_full(r->fd, buf, want, (off_t)off);
            if (got <= 0) {
                rc = got < 0 ? (int)got : -EIO;
                break;
            }
            struct mpfs_attr after;
            ssize_t w = expect[0] ? mpfs_backend_pwrite_if(b, r->path, buf, (size_t)got, off,
                                                           expect, &after)
                                  : mpfs_backend_pwrite(b, r->path, buf, (size_t)got, off);
            if (w < 0)
                rc = (int)w;
            else if (expect[0])
                snprintf(expect, sizeof(expect), "%s", after.version);
            off += (uint64_t)got;
        }
        free(buf);
    }
    if (rc == 0 && r->shrunk) {
        struct mpfs_attr a = {.size = r->size};
        rc = mpfs_backend_setattr(b, r->path, &a, MPFS_SET_SIZE, NULL);
    }
    uint32_t meta =
        r->changed_set & (MPFS_SET_MODE | MPFS_SET_UID | MPFS_SET_GID | MPFS_SET_MTIME);
    if (rc == 0 && meta)
        rc = mpfs_backend_setattr(b, r->path, &r->attr, meta, NULL);
    if (rc == 0)
        rc = mpfs_backend_stat(b, r->path, out);
    return rc;
}

/* Does the object at path hold exactly the staged bytes? */
static int same_content(struct mpfs_backend *b, const char *path, int fd, uint64_t size)
{
    struct mpfs_attr a;
    if (mpfs_backend_stat(b, path, &a) < 0 || a.size != size)
        return 0;
    char *x = mpfs_xmalloc(COMPARE_CHUNK), *y = mpfs_xmalloc(COMPARE_CHUNK);
    int same = 1;
    for (uint64_t off = 0; off < size && same;) {
        size_t want = (size_t)MPFS_MIN((uint64_t)COMPARE_CHUNK, size - off);
        ssize_t gx = mpfs_backend_read(b, path, a.version, x, want, off);
        ssize_t gy = mpfs_read_full(fd, y, want, (off_t)off);
        same = gx == (ssize_t)want && gy == (ssize_t)want && memcmp(x, y, want) == 0;
        off += want;
    }
    free(x);
    free(y);
    return same;
}

/* Someone else wrote the name: our content goes to a conflict name. */
static int put_conflict_copy(struct mpfs_fs *fs, struct mpfs_backend *b,
                             const struct mpfs_commit_req *r, struct mpfs_commit_result *res)
{
    struct mpfs_put_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.attr = r->attr;
    opts.attr_set = r->attr_set;
    opts.if_none_match = 1; /* a conflict name is ours alone */
    char *cpath = NULL;
    int rc = -EEXIST;
    /* the name may be taken (another node, or this one before a remount
     * within the same second): take the next serial */
    for (int tries = 0; rc == -EEXIST && tries < CONFLICT_NAME_TRIES; tries++) {
        free(cpath);
        unsigned serial = atomic_fetch_add(&fs->conflict_serial, 1);
        cpath = mpfs_conflict_path(r->path, mpfs_wall_ns(), serial);
        rc = mpfs_backend_put(b, cpath, r->fd, r->size, &opts, &res->attr);
    }
    if (rc == 0)
        mpfs_warn("conflict: '%s' was changed on the server while being written here; the "
                  "server's version keeps the name, this node's version was saved as '%s' "
                  "(and further writes through this open file go there)", r->path, cpath);
    res->conflict_path = cpath;
    res->path = cpath;
    return rc;
}

/* The base version as the side `target` names it.  A token only goes to
 * the side that issued it; for the other side, the issuer confirms that
 * the base is still current and the target's current token stands in for
 * it (the moment between the two requests is not covered).  0, -ESTALE
 * (someone changed it), -ENOENT (someone deleted it) or another -errno. */
static int base_for(struct mpfs_fs *fs, const struct mpfs_commit_req *r,
                    struct mpfs_backend *target, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", r->base_version ? r->base_version : "");
    if (!out[0] || !r->base_side || r->base_side == mpfs_source_of(fs, target))
        return 0;
    struct mpfs_backend *issuer = r->base_side == MPFS_SIDE_S3 ? fs->s3 : fs->nfs;
    if (!issuer)
        return 0;
    struct mpfs_attr a;
    int rc = mpfs_backend_stat(issuer, r->path, &a);
    if (rc < 0)
        return rc;
    if (!mpfs_version_same(a.version, out))
        return -ESTALE;
    rc = mpfs_backend_stat(target, r->path, &a);
    if (rc < 0)
        return rc;
    snprintf(out, outlen, "%s", a.version);
    return 0;
}

/* A store that keeps every version may still acknowledge a conditional
 * put it did not check (radosgw 16.2 on a versioned bucket) or race a
 * HEAD-then-PUT check: after our put, the version chain tells whether it
 * replaced a version other than its base.  That version is another
 * writer's acknowledged write: it is kept under a conflict name (ours
 * keeps the name: it is the newest).  Best effort: a failure is logged
 * with the version id, which stays in the bucket's history. */
static void keep_overwritten(struct mpfs_fs *fs, struct mpfs_backend *b, const char *path,
                             const char *base, const char *ours)
{
    char victim[MPFS_VERSION_MAX] = "";
    if (!(b->caps & MPFS_CAP_VERSION_CHAIN) || !ours || !ours[0] ||
        mpfs_backend_overwritten(b, path, ours, base, victim, sizeof(victim)) != 1 ||
        !victim[0])
        return;
    /* a server-side copy has no if_none_match: skip names already taken
     * (another node, or this one before a remount within the second) */
    char *cpath = NULL;
    struct mpfs_attr taken;
    for (int tries = 0; tries < CONFLICT_NAME_TRIES; tries++) {
        free(cpath);
        unsigned serial = atomic_fetch_add(&fs->conflict_serial, 1);
        cpath = mpfs_conflict_path(path, mpfs_wall_ns(), serial);
        if (mpfs_backend_stat(b, cpath, &taken) == -ENOENT)
            break;
    }
    int rc = mpfs_backend_copy_version(b, path, victim, cpath);
    if (rc == 0)
        mpfs_warn("conflict: another writer's version of '%s' was overwritten by this node's "
                  "commit (the store acknowledged both writes); it was kept as '%s'",
                  path, cpath);
    else
        mpfs_error("conflict: another writer's version of '%s' (version id %s) was overwritten "
                   "by this node's commit and could not be kept (%s); it remains in the "
                   "bucket's version history", path, victim, strerror(-rc));
    free(cpath);
}

static int put_whole(struct mpfs_fs *fs, struct mpfs_backend *b, const struct mpfs_commit_req *r,
                     struct mpfs_commit_result *res, struct mpfs_put_progress *progress)
{
    char base[MPFS_VERSION_MAX] = "";
    int pre = r->conflict_path || r->is_new ? 0 : base_for(fs, r, b, base, sizeof(base));
    if (pre < 0 && pre != -ESTALE && pre != -ENOENT)
        return pre;
    struct mpfs_put_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.attr = r->attr;
    opts.attr_set = r->attr_set;
    const char *target = r->conflict_path ? r->conflict_path : r->path;
    /* Preconditions always go along: a store without MPFS_CAP_COND_PUT
     * checks them itself with a stat first (racy, but never blind). */
    if (r->is_new && !r->conflict_path)
        opts.if_none_match = 1;
    else if (!r->conflict_path && base[0])
        opts.if_match = base;
    else if (r->conflict_path && r->base_version && r->base_version[0])
        opts.if_match = r->base_version;
    opts.progress = progress;

    res->path = target;
    /* A replay whose upload reached the store before the crash is done: a
     * store that acknowledges conditional puts unchecked would otherwise
     * take the second upload over the first for another writer's version
     * (keep_overwritten) and keep our own bytes as a conflict copy. */
    if (r->replay && same_content(b, target, r->fd, r->size))
        return mpfs_backend_stat(b, target, &res->attr);
    /* a precondition already known to fail is not sent */
    int rc = pre < 0 ? -ESTALE : mpfs_backend_put(b, target, r->fd, r->size, &opts, &res->attr);
    if (rc == -ESTALE && !r->conflict_path) {
        /* deleted by someone else since the edit began: the edit
         * recreates the name, unless someone recreated it meanwhile */
        struct mpfs_attr now;
        if (mpfs_backend_stat(b, target, &now) == -ENOENT) {
            mpfs_warn("'%s' was deleted on the server while being edited here; recreating "
                      "it with this node's data", target);
            opts.if_match = NULL;
            opts.if_none_match = 1;
            rc = mpfs_backend_put(b, target, r->fd, r->size, &opts, &res->attr);
        }
    }
    if (rc == -ESTALE || (rc == -EEXIST && opts.if_none_match))
        rc = put_conflict_copy(fs, b, r, res);
    else if (rc == 0 && !r->conflict_path)
        keep_overwritten(fs, b, target, opts.if_match, res->attr.version);
    return rc;
}

/* put_whole with the multipart progress journaled under the file's
 * journal id (consistency/upload.h): an upload a crash cut short is
 * resumed by the replay, and forgotten once the commit ends either way
 * (a failed upload was aborted by the backend). */
static int put_whole_resumable(struct mpfs_fs *fs, struct mpfs_backend *b,
                               const struct mpfs_commit_req *r, struct mpfs_commit_result *res)
{
    if (!r->journal_id || !fs->index)
        return put_whole(fs, b, r, res, NULL);
    struct mpfs_put_progress progress;
    memset(&progress, 0, sizeof(progress));
    struct mpfs_upload_keeper keeper = {.idx = fs->index, .id = r->journal_id};
    /* only a replay can find one: a commit that fails in a live process
     * aborts its upload, and its progress is forgotten below */
    int had = r->replay && mpfs_upload_load(fs->index, r->journal_id, &progress) == 0;
    mpfs_upload_track(&progress, &keeper);
    int rc = put_whole(fs, b, r, res, &progress);
    if (had || keeper.saved)
        mpfs_upload_forget(fs->index, r->journal_id);
    mpfs_put_progress_clear(&progress);
    return rc;
}

int mpfs_commit_run(struct mpfs_fs *fs, const struct mpfs_commit_req *req,
                    struct mpfs_commit_result *res)
{
    memset(res, 0, sizeof(*res));
    struct mpfs_backend *inplace = fs->router.route[MPFS_R_PWRITE];
    int rc;
    if (inplace && req->in_place_ok && !req->is_new && !req->conflict_path) {
        res->backend = inplace;
        res->path = req->path;
        char base[MPFS_VERSION_MAX];
        struct mpfs_commit_req here = *req;
        rc = base_for(fs, req, inplace, base, sizeof(base));
        here.base_version = base;
        if (rc == 0)
            rc = commit_in_place(inplace, &here, &res->attr);
        if (rc == -ESTALE) {
            res->backend = fs->router.route[MPFS_R_PUT];
            rc = put_conflict_copy(fs, res->backend, req, res);
        } else if (rc == -ENOENT) {
            /* deleted by someone else: the edit recreates it (whole) */
            struct mpfs_commit_req whole = *req;
            whole.is_new = 1;
            res->backend = fs->router.route[MPFS_R_PUT];
            rc = put_whole(fs, res->backend, &whole, res, NULL);
        }
    } else {
        res->backend = fs->router.route[MPFS_R_PUT];
        rc = put_whole_resumable(fs, res->backend, req, res);
    }
    if (rc == 0) {
        struct mpfs_attr *o = &res->attr;
        if (req->attr_set & MPFS_SET_MODE)
            o->mode = S_IFREG | (req->attr.mode & 07777);
        if (req->attr_set & MPFS_SET_UID)
            o->uid = req->attr.uid;
        if (req->attr_set & MPFS_SET_GID)
            o->gid = req->attr.gid;
        if ((req->attr_set & MPFS_SET_MTIME) && !o->mtime_ns)
            o->mtime_ns = req->attr.mtime_ns;
        o->valid |= req->attr_set & MPFS_SET_MODE ? MPFS_ATTR_MODE : 0;
        o->valid |= req->attr_set & (MPFS_SET_UID | MPFS_SET_GID) ? MPFS_ATTR_OWNER : 0;
        o->valid |= o->mtime_ns ? MPFS_ATTR_MTIME : 0;
        if (!o->size)
            o->size = req->size;
    }
    return rc;
}

int mpfs_commit_error_is_permanent(int rc)
{
    return rc == -EINVAL || rc == -ENAMETOOLONG || rc == -EFBIG || rc == -EPERM ||
           rc == -EACCES || rc == -EROFS || rc == -EISDIR || rc == -ENOTDIR;
}

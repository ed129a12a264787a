/*
 * meta.c - namespace operations: lookup, attributes, directories, rename,
 * links, xattrs, statfs.
 *
 * The index is consulted first and the metadata side of the router only
 * when the consistency policy says what the index holds is too old (see
 * consistency/policy.h).  Everything learned from a backend is written
 * back to the index with the time it was confirmed, so the next mount
 * starts warm.  If the backend cannot be reached and the index has an
 * answer, the stale answer is served and a warning logged: a mount that
 * keeps working through a blip is what training jobs need.
 */
#include "fs/fs_int.h"
#include "fs/notify.h"
#include "fs/listing.h"

#include "base/log.h"
#include "base/util.h"
#include "consistency/conflict.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#define NS 1000000000LL

static struct mpfs_backend *meta(struct mpfs_fs *fs)
{
    return fs->router.route[MPFS_R_META];
}

uint8_t mpfs_source_of(const struct mpfs_fs *fs, const struct mpfs_backend *b)
{
    if (b && b == fs->nfs)
        return MPFS_INDEX_SRC_NFS;
    return b ? MPFS_INDEX_SRC_S3 : MPFS_INDEX_SRC_NONE;
}

const struct mpfs_policy *mpfs_fs_policy(const struct mpfs_fs *fs, const char *path)
{
    return mpfs_policy_for(&fs->policy, path);
}

/* Is an entry of path confirmed at seen still to be trusted?  Bucket
 * notifications (fs/notify.h) stretch meta_ttl to notify_ttl, but only
 * while they flow and only for entries confirmed since they last started
 * flowing: a change made while the channel was down sent no event. */
static int attr_fresh(const struct mpfs_fs *fs, const struct mpfs_policy *pol, const char *path,
                      int64_t seen, int64_t now)
{
    if (mpfs_policy_attr_fresh(pol, seen, now))
        return 1;
    int64_t since = mpfs_notify_up_since(fs->notify_ch);
    return since > 0 && seen >= since &&
           mpfs_policy_attr_fresh(mpfs_policy_for(&fs->policy_notified, path), seen, now);
}

void mpfs_attr_to_stat(const struct mpfs_fs *fs, uint64_t ino, const struct mpfs_attr *a,
                       struct stat *st)
{
    memset(st, 0, sizeof(*st));
    uint32_t type = a->mode & S_IFMT;
    if (!type)
        type = S_IFREG;
    uint32_t perm;
    if (a->valid & MPFS_ATTR_MODE)
        perm = a->mode & 07777;
    else if (type == S_IFDIR)
        perm = (uint32_t)fs->cfg.dir_mode;
    else if (type == S_IFLNK)
        perm = 0777;
    else
        perm = (uint32_t)fs->cfg.file_mode;
    if (fs->cfg.read_only)
        perm &= ~0222u;
    st->st_ino = ino;
    st->st_mode = type | perm;
    st->st_nlink = a->nlink ? a->nlink : (type == S_IFDIR ? 2 : 1);
    st->st_uid = (a->valid & MPFS_ATTR_OWNER) ? a->uid : (uid_t)fs->cfg.uid;
    st->st_gid = (a->valid & MPFS_ATTR_OWNER) ? a->gid : (gid_t)fs->cfg.gid;
    st->st_size = (off_t)a->size;
    st->st_rdev = (dev_t)a->rdev;
    st->st_blksize = 1 << 20;
    st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
    /* a directory implied by S3 keys has no time of its own: show the
     * mount's, not 1970 */
    int64_t m = a->mtime_ns ? a->mtime_ns : fs->mounted_wall_ns;
    st->st_mtim.tv_sec = m / NS;
    st->st_mtim.tv_nsec = m % NS;
    int64_t c = a->ctime_ns ? a->ctime_ns : m;
    st->st_ctim.tv_sec = c / NS;
    st->st_ctim.tv_nsec = c % NS;
    int64_t at = a->atime_ns ? a->atime_ns : m;
    st->st_atim.tv_sec = at / NS;
    st->st_atim.tv_nsec = at % NS;
}

void mpfs_entry_from_index(const struct mpfs_index_entry *ie, struct mpfs_attr *a)
{
    memset(a, 0, sizeof(*a));
    a->mode = ie->mode;
    a->uid = ie->uid;
    a->gid = ie->gid;
    a->nlink = ie->nlink;
    a->size = ie->size;
    a->mtime_ns = ie->mtime_ns;
    a->ctime_ns = ie->ctime_ns;
    a->atime_ns = ie->atime_ns;
    a->fileid = ie->fileid;
    a->valid = ie->attr_valid;
    snprintf(a->version, sizeof(a->version), "%s", ie->version);
}

void mpfs_entry_to_index(const struct mpfs_attr *a, uint64_t ino, uint8_t source,
                         int64_t seen, struct mpfs_index_entry *ie)
{
    memset(ie, 0, sizeof(*ie));
    ie->ino = ino;
    ie->mode = a->mode;
    ie->uid = a->uid;
    ie->gid = a->gid;
    ie->nlink = a->nlink;
    ie->size = a->size;
    ie->mtime_ns = a->mtime_ns;
    ie->ctime_ns = a->ctime_ns;
    ie->atime_ns = a->atime_ns;
    ie->fileid = a->fileid;
    ie->attr_valid = a->valid;
    ie->source = source;
    ie->seen_ns = seen;
    snprintf(ie->version, sizeof(ie->version), "%s", a->version);
}

void mpfs_fill_entry(struct mpfs_fs *fs, uint64_t ino, const struct mpfs_attr *a,
                     struct mpfs_entry *e)
{
    e->ino = ino;
    mpfs_attr_to_stat(fs, ino, a, &e->st);
    e->attr_timeout = fs->cfg.attr_timeout;
    e->entry_timeout = fs->cfg.attr_timeout;
}

/* Listings and HEADs of plain S3 objects do not carry the s3fs metadata
 * a previous HEAD found: when the content is the same version, keep it. */
static void keep_richer(struct mpfs_attr *fresh, const struct mpfs_attr *old)
{
    /* A directory's times only move forward: the local update made when an
     * entry came or went here (mpfs_fs_touch_dir) is newer than what a store
     * without directory times (S3) reports and no older than the server's
     * own.  A store without inode numbers (S3) makes a directory's link
     * count up: the one counted here stays. */
    if (S_ISDIR(fresh->mode) && S_ISDIR(old->mode)) {
        fresh->mtime_ns = MPFS_MAX(fresh->mtime_ns, old->mtime_ns);
        fresh->ctime_ns = MPFS_MAX(fresh->ctime_ns, old->ctime_ns);
        if (!fresh->fileid && old->nlink)
            fresh->nlink = old->nlink;
    }
    if (!mpfs_version_same(fresh->version, old->version))
        return;
    /* a listing shows an s3fs symlink or special file as a plain file */
    uint32_t ot = old->mode & S_IFMT;
    int same_kind = (fresh->mode & S_IFMT) == ot ||
                    (S_ISREG(fresh->mode) && ot != S_IFDIR && ot != S_IFREG && ot != 0);
    if (same_kind && !fresh->rdev)
        fresh->rdev = old->rdev;
    if (!(fresh->valid & MPFS_ATTR_MODE) && (old->valid & MPFS_ATTR_MODE) && same_kind) {
        fresh->mode = old->mode;
        fresh->valid |= MPFS_ATTR_MODE;
    }
    if (!(fresh->valid & MPFS_ATTR_OWNER) && (old->valid & MPFS_ATTR_OWNER)) {
        fresh->uid = old->uid;
        fresh->gid = old->gid;
        fresh->valid |= MPFS_ATTR_OWNER;
    }
    if (!(fresh->valid & MPFS_ATTR_MTIME) && (old->valid & MPFS_ATTR_MTIME)) {
        fresh->mtime_ns = old->mtime_ns;
        fresh->valid |= MPFS_ATTR_MTIME;
    }
}

static void notify_inode(struct mpfs_fs *fs, uint64_t ino)
{
    if (fs->notify.inval_inode)
        fs->notify.inval_inode(fs->notify.ctx, ino);
}

static void notify_entry(struct mpfs_fs *fs, uint64_t parent, const char *name)
{
    if (fs->notify.inval_entry)
        fs->notify.inval_entry(fs->notify.ctx, parent, name);
}

void mpfs_fs_record(struct mpfs_fs *fs, uint64_t ino, uint64_t parent, const char *name,
                    const struct mpfs_attr *a, uint8_t source)
{
    int64_t now = mpfs_wall_ns();
    struct mpfs_index_entry ie;
    mpfs_entry_to_index(a, ino, source, now, &ie);
    int rc = ino == MPFS_ROOT_INO ? mpfs_index_put_root(fs->index, &ie)
                                  : mpfs_index_put(fs->index, parent, name, &ie);
    if (rc < 0)
        mpfs_warn("index: cannot record %s: %s", name, strerror(-rc));
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n) {
        n->attr = *a;
        n->source = source;
        n->seen_wall = now;
    }
    pthread_mutex_unlock(&fs->lock);
}

/* Path of child `name` of directory `parent`; NULL if parent is unknown. */
static char *child_path(struct mpfs_fs *fs, uint64_t parent, const char *name)
{
    char *dir = mpfs_node_path(fs, parent);
    if (!dir)
        return NULL;
    char *p = mpfs_path_join(dir, name);
    free(dir);
    return p;
}

static int check_name(const char *name)
{
    size_t len = strlen(name);
    if (len > 255)
        return -ENAMETOOLONG;
    if (!mpfs_name_is_valid(name, len))
        return -EINVAL;
    return 0;
}

static int type_changed(const struct mpfs_attr *a, uint32_t old_mode)
{
    return (a->mode & S_IFMT) != (old_mode & S_IFMT);
}

/* Name (parent, name) of inode ino is gone through this mount.  The kernel
 * may still reference the node: if another hard link remains, the node
 * moves to it; else it is unlinked (its data dies with its last handle). */
static void mark_unlinked(struct mpfs_fs *fs, uint64_t ino, uint64_t parent, const char *name)
{
    uint64_t other_parent = 0;
    char other[MPFS_INDEX_NAME_MAX + 1];
    int has_other = mpfs_index_where(fs->index, ino, &other_parent, other, sizeof(other)) == 0;
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    int gone = 0;
    if (n && n->parent == parent && n->name && strcmp(n->name, name) == 0) {
        if (has_other) {
            free(n->name);
            n->name = mpfs_xstrdup(other);
            n->parent = other_parent;
        } else {
            n->unlinked = 1;
            n->gone_remote = 0;
            gone = 1;
            n->nopen++; /* pin across the call below */
        }
    }
    pthread_mutex_unlock(&fs->lock);
    if (gone) {
        mpfs_file_unlinked(fs, n);
        pthread_mutex_lock(&fs->lock);
        n->nopen--;
        mpfs_node_maybe_drop_locked(fs, n);
        pthread_mutex_unlock(&fs->lock);
    }
}

/* Before the last name of an open file goes: keep what its handles read. */
static void keep_if_open(struct mpfs_fs *fs, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    int open = n && n->nopen > 0 && S_ISREG(n->attr.mode) && n->attr.nlink <= 1;
    if (open)
        n->nopen++; /* pin while copying */
    pthread_mutex_unlock(&fs->lock);
    if (!open)
        return;
    mpfs_file_keep_local(fs, n);
    pthread_mutex_lock(&fs->lock);
    n->nopen--;
    mpfs_node_maybe_drop_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
}

/* Forget a vanished entry; drop the subtree state of a vanished dir. */
/* (parent, name) of inode ino was removed by someone else: an edit in
 * progress here is recreated at its commit, not dropped, and a file made
 * at the name later is another file (file.c). */
static void mark_gone_remote(struct mpfs_fs *fs, uint64_t parent, const char *name, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n && n->parent == parent && n->name && strcmp(n->name, name) == 0) {
        n->unlinked = 1;
        n->gone_remote = 1;
    }
    pthread_mutex_unlock(&fs->lock);
}

static void forget_entry(struct mpfs_fs *fs, uint64_t parent, const char *name,
                         const struct mpfs_index_entry *old)
{
    mpfs_index_del(fs->index, parent, name);
    if (S_ISDIR(old->mode))
        mpfs_index_drop_dir(fs->index, old->ino);
    mark_gone_remote(fs, parent, name, old->ino);
}

void mpfs_fs_forget_remote(struct mpfs_fs *fs, uint64_t parent, const char *name,
                           const struct mpfs_index_entry *old)
{
    forget_entry(fs, parent, name, old);
}


/* Edit the attributes of inode ino in its node and in its index entry
 * (keeping when and where they were confirmed): times to `when` (0: keep),
 * link count moved by dlink or, if nlink is non-zero, set to it. */
static void edit_attr(struct mpfs_fs *fs, uint64_t ino, int64_t when, int dlink, uint32_t nlink)
{
    struct mpfs_attr *a;
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    uint64_t parent = n ? n->parent : 0;
    char *name = n && n->name ? mpfs_xstrdup(n->name) : NULL;
    if (n) {
        a = &n->attr;
        /* a file's version token (NFS: its ctime) changed with it: the
         * next open or getattr asks the store */
        if (!S_ISDIR(a->mode))
            n->seen_wall = 0;
        if (when) {
            a->mtime_ns = S_ISDIR(a->mode) ? when : a->mtime_ns;
            a->ctime_ns = when;
        }
        uint32_t cur = a->nlink ? a->nlink : (S_ISDIR(a->mode) ? 2 : 1);
        if (nlink)
            a->nlink = nlink;
        else if (dlink)
            a->nlink = (uint32_t)MPFS_MAX((int64_t)cur + dlink, S_ISDIR(a->mode) ? 2 : 1);
    }
    pthread_mutex_unlock(&fs->lock);

    struct mpfs_index_entry ie;
    char where[256];
    int rc;
    if (ino == MPFS_ROOT_INO) {
        rc = mpfs_index_root(fs->index, &ie);
    } else {
        if (!name && mpfs_index_where(fs->index, ino, &parent, where, sizeof(where)) == 0)
            name = mpfs_xstrdup(where);
        rc = name ? mpfs_index_get(fs->index, parent, name, &ie) : -ENOENT;
        if (rc == 0 && ie.ino != ino)
            rc = -ENOENT;
    }
    if (rc == 0) {
        if (!S_ISDIR(ie.mode))
            ie.seen_ns = 0;
        if (when) {
            ie.mtime_ns = S_ISDIR(ie.mode) ? when : ie.mtime_ns;
            ie.ctime_ns = when;
        }
        uint32_t cur = ie.nlink ? ie.nlink : (S_ISDIR(ie.mode) ? 2 : 1);
        if (nlink)
            ie.nlink = nlink;
        else if (dlink)
            ie.nlink = (uint32_t)MPFS_MAX((int64_t)cur + dlink, S_ISDIR(ie.mode) ? 2 : 1);
        if (ino == MPFS_ROOT_INO)
            mpfs_index_put_root(fs->index, &ie);
        else
            mpfs_index_put(fs->index, parent, name, &ie);
    }
    free(name);
}

void mpfs_fs_touch_dir(struct mpfs_fs *fs, uint64_t ino, int dlink)
{
    edit_attr(fs, ino, mpfs_wall_ns(), dlink, 0);
}

static void set_dir_nlink(struct mpfs_fs *fs, uint64_t ino, uint32_t nlink)
{
    edit_attr(fs, ino, 0, 0, nlink);
}

/* Name (parent, name) of ie's inode went away (unlink, rmdir, replaced by
 * rename): the node moves to a remaining name or is unlinked
 * (mark_unlinked); a hard-linked file keeps living with one link less and
 * a new ctime. */
static void drop_name(struct mpfs_fs *fs, uint64_t parent, const char *name,
                      const struct mpfs_index_entry *ie)
{
    mark_unlinked(fs, ie->ino, parent, name);
    if (!S_ISDIR(ie->mode) && ie->nlink > 1)
        edit_attr(fs, ie->ino, mpfs_wall_ns(), -1, 0);
}

void mpfs_fs_new_owner(struct mpfs_fs *fs, uint64_t parent, const struct mpfs_caller *c,
                       struct mpfs_attr *a)
{
    a->uid = c ? (uint32_t)c->uid : (uint32_t)fs->cfg.uid;
    a->gid = c ? (uint32_t)c->gid : (uint32_t)fs->cfg.gid;
    a->valid |= MPFS_ATTR_OWNER;
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *pn = mpfs_node_find_locked(fs, parent);
    if (pn && (pn->attr.valid & MPFS_ATTR_MODE) && (pn->attr.mode & S_ISGID)) {
        a->gid = (pn->attr.valid & MPFS_ATTR_OWNER) ? pn->attr.gid : (uint32_t)fs->cfg.gid;
        if (S_ISDIR(a->mode))
            a->mode |= S_ISGID;
    }
    pthread_mutex_unlock(&fs->lock);
}

int mpfs_fs_check_child(struct mpfs_fs *fs, uint64_t parent, const char *name)
{
    char *path = child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    size_t max = meta(fs)->path_max;
    int rc = max && strlen(path) > max ? -ENAMETOOLONG : 0;
    free(path);
    return rc;
}

/* The owner the store shows for a new entry is the caller's, or is made
 * so (a setattr: stores take no owner at creation); *a gets the result.
 * Failing that, the entry stays as the store made it and a warning says
 * so: removing it again could lose a race with another client. */
static void store_owner(struct mpfs_fs *fs, struct mpfs_backend *b, const char *path,
                        const struct mpfs_attr *want, struct mpfs_attr *a)
{
    uint32_t uid = (a->valid & MPFS_ATTR_OWNER) ? a->uid : (uint32_t)fs->cfg.uid;
    uint32_t gid = (a->valid & MPFS_ATTR_OWNER) ? a->gid : (uint32_t)fs->cfg.gid;
    uint32_t mode = (a->valid & MPFS_ATTR_MODE) ? a->mode & 07777 : want->mode & 07777;
    if (uid == want->uid && gid == want->gid && mode == (want->mode & 07777))
        return;
    struct mpfs_attr set = *want;
    set.mtime_ns = a->mtime_ns ? a->mtime_ns : mpfs_wall_ns();
    uint32_t bits = MPFS_SET_UID | MPFS_SET_GID;
    /* S3 replaces all metadata at once; a setgid bit the store dropped too */
    if (b == fs->s3 || mode != (want->mode & 07777))
        bits |= MPFS_SET_MODE;
    if (b == fs->s3)
        bits |= MPFS_SET_MTIME;
    struct mpfs_attr out;
    int rc = mpfs_backend_setattr(b, path, &set, bits, &out);
    if (rc < 0) {
        mpfs_warn("'%s' created, but its owner %u:%u could not be stored: %s", path,
                  want->uid, want->gid, strerror(-rc));
        return;
    }
    if (out.mode & S_IFMT) {
        keep_richer(&out, a);
        *a = out;
    }
    a->uid = want->uid;
    a->gid = want->gid;
    a->mode = (a->mode & S_IFMT) | (want->mode & 07777);
    a->valid |= MPFS_ATTR_OWNER | MPFS_ATTR_MODE;
}

int mpfs_vfs_lookup(struct mpfs_fs *fs, uint64_t parent, const char *name,
                    struct mpfs_entry *e)
{
    int rc = check_name(name);
    if (rc == -EINVAL)
        return -ENOENT;
    if (rc)
        return rc;
    char *path = child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    /* nothing the store can hold is there; asking it would be an error of
     * its own (radosgw: HTTP 400) */
    if (meta(fs)->path_max && strlen(path) > meta(fs)->path_max) {
        free(path);
        return -ENAMETOOLONG;
    }
    const struct mpfs_policy *pol = mpfs_fs_policy(fs, path);
    int64_t now = mpfs_wall_ns();
    struct mpfs_index_entry ie;
    int irc = mpfs_index_get(fs->index, parent, name, &ie);
    struct mpfs_attr a;

    /* The index keeps one copy of a hard-linked file's attributes per name
     * (a link count changed through another name is not in this one) and no
     * device numbers: those are read from the store. */
    int per_name = irc == 0 && !S_ISDIR(ie.mode) &&
                   (ie.nlink > 1 || S_ISCHR(ie.mode) || S_ISBLK(ie.mode));
    if (irc == 0 && (ie.source == MPFS_INDEX_SRC_LOCAL ||
                     (!per_name && attr_fresh(fs, pol, path, ie.seen_ns, now)))) {
        mpfs_entry_from_index(&ie, &a);
        goto found;
    }
    if (irc == -ENOENT) {
        struct mpfs_index_dir d;
        if (mpfs_index_dir_get(fs->index, parent, &d) == 0 &&
            mpfs_policy_negative_fresh(pol, d.listed_ns, now)) {
            free(path);
            return -ENOENT;
        }
    }
    rc = mpfs_backend_stat(meta(fs), path, &a);
    if (rc == -ENOENT) {
        if (irc == 0)
            forget_entry(fs, parent, name, &ie);
        free(path);
        return -ENOENT;
    }
    if (rc < 0) {
        if (irc == 0) {
            mpfs_warn("lookup %s: %s; serving the cached entry", path, strerror(-rc));
            mpfs_entry_from_index(&ie, &a);
            goto found;
        }
        free(path);
        return rc;
    }
    uint64_t ino;
    if (irc == 0 && !type_changed(&a, ie.mode)) {
        struct mpfs_attr old;
        mpfs_entry_from_index(&ie, &old);
        keep_richer(&a, &old);
        ino = ie.ino;
        if (!mpfs_version_same(a.version, old.version) && old.version[0])
            notify_inode(fs, ino);
    } else {
        ino = mpfs_index_alloc_ino(fs->index);
        if (!ino) {
            free(path);
            return -EIO;
        }
    }
    mpfs_fs_record(fs, ino, parent, name, &a, mpfs_source_of(fs, meta(fs)));
    ie.ino = ino;
    ie.source = mpfs_source_of(fs, meta(fs));
    ie.seen_ns = mpfs_wall_ns();
found:
    pthread_mutex_lock(&fs->lock);
    mpfs_node_upsert_locked(fs, ie.ino, parent, name, &a, ie.source, ie.seen_ns, 1);
    pthread_mutex_unlock(&fs->lock);
    mpfs_fill_entry(fs, ie.ino, &a, e);
    free(path);
    return 0;
}

void mpfs_vfs_forget(struct mpfs_fs *fs, uint64_t ino, uint64_t nlookup)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n) {
        if (n->nlookup < nlookup) {
            mpfs_error("forget(%llu): lookup count underflow (%llu < %llu)",
                       (unsigned long long)ino, (unsigned long long)n->nlookup,
                       (unsigned long long)nlookup);
            abort();
        }
        n->nlookup -= nlookup;
        mpfs_node_maybe_drop_locked(fs, n);
    }
    pthread_mutex_unlock(&fs->lock);
}

int mpfs_vfs_getattr(struct mpfs_fs *fs, uint64_t ino, struct stat *st, double *timeout)
{
    *timeout = fs->cfg.attr_timeout;
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (!n) {
        pthread_mutex_unlock(&fs->lock);
        return -ESTALE;
    }
    struct mpfs_attr a = n->attr;
    int64_t seen = n->seen_wall;
    uint8_t source = n->source;
    int open = n->nopen > 0;
    int unlinked = n->unlinked;
    uint64_t parent = n->parent;
    char *name = n->name ? mpfs_xstrdup(n->name) : NULL;
    char *path = ino == MPFS_ROOT_INO ? mpfs_xstrdup("") : mpfs_node_path_locked(fs, ino);
    pthread_mutex_unlock(&fs->lock);

    /* Staged (uncommitted) writes define the size the writer sees. */
    pthread_mutex_lock(&n->wlock);
    /* a writer that has not written yet has no staged content */
    int staged = n->wf != NULL && n->wf->populated;
    if (staged) {
        a.size = n->wf->size;
        if (n->wf->pending_set & MPFS_SET_MTIME)
            a.mtime_ns = n->wf->pending.mtime_ns;
    }
    pthread_mutex_unlock(&n->wlock);

    int rc = 0;
    if (ino == MPFS_ROOT_INO || staged || unlinked || !path ||
        source == MPFS_INDEX_SRC_LOCAL ||
        attr_fresh(fs, mpfs_fs_policy(fs, path), path, seen, mpfs_wall_ns()))
        goto out;

    struct mpfs_attr fresh;
    rc = mpfs_backend_stat(meta(fs), path, &fresh);
    if (rc == -ENOENT && open) {
        rc = 0; /* deleted behind our back while open: keep serving the handle */
        goto out;
    }
    if (rc == -ENOENT) {
        struct mpfs_index_entry ie;
        if (name && mpfs_index_get(fs->index, parent, name, &ie) == 0)
            forget_entry(fs, parent, name, &ie);
        goto out;
    }
    if (rc < 0) {
        mpfs_warn("getattr %s: %s; serving cached attributes", path, strerror(-rc));
        rc = 0;
        goto out;
    }
    if (type_changed(&fresh, a.mode)) {
        /* the name now holds another kind of object: this inode is gone */
        rc = -ENOENT;
        goto out;
    }
    keep_richer(&fresh, &a);
    if (!mpfs_version_same(fresh.version, a.version) && a.version[0])
        notify_inode(fs, ino);
    mpfs_fs_record(fs, ino, parent, name ? name : "", &fresh, mpfs_source_of(fs, meta(fs)));
    a = fresh;
out:
    if (rc == 0) {
        mpfs_attr_to_stat(fs, ino, &a, st);
        if (unlinked && !S_ISDIR(a.mode))
            st->st_nlink = 0; /* open but no name left (fstat after unlink) */
    }
    free(name);
    free(path);
    return rc;
}

/* ------------------------------------------------------------ listing */

struct old_entries {
    char **names;
    struct mpfs_index_entry *v;
    size_t n, cap;
};

static int collect_old(void *arg, const char *name, const struct mpfs_index_entry *e)
{
    struct old_entries *o = arg;
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->names = mpfs_xrealloc(o->names, o->cap * sizeof(*o->names));
        o->v = mpfs_xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    o->names[o->n] = mpfs_xstrdup(name);
    o->v[o->n] = *e;
    o->n++;
    return 0;
}

static void old_entries_free(struct old_entries *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->names[i]);
    free(o->names);
    free(o->v);
}

struct changed {
    uint64_t ino;
    char *name; /* non-NULL: a vanished dentry */
};

int mpfs_fs_refresh_dir(struct mpfs_fs *fs, uint64_t ino, const char *path)
{
    struct mpfs_listing l;
    mpfs_listing_init(&l);
    int rc = mpfs_backend_list(meta(fs), path, mpfs_listing_add, &l);
    if (rc == 0)
        rc = mpfs_fs_apply_listing(fs, ino, path, &l);
    mpfs_listing_free(&l);
    return rc;
}

int mpfs_fs_apply_listing(struct mpfs_fs *fs, uint64_t ino, const char *path,
                          struct mpfs_listing *lp)
{
    struct mpfs_listing l = *lp; /* borrowed: the caller frees */
    int64_t t0 = mpfs_now_ns();
    int rc = 0;
    mpfs_listing_finish(&l);
    *lp = l;
    if (l.hidden_invalid || l.hidden_shadowed)
        mpfs_info("listing '%s': hid %zu name(s) POSIX cannot show and %zu file(s) "
                  "shadowed by a same-named directory (e.g. '%s')",
                  path, l.hidden_invalid, l.hidden_shadowed, l.example);

    struct old_entries old = {0};
    mpfs_index_list(fs->index, ino, collect_old, &old);

    struct mpfs_index_batch *b = mpfs_index_batch_new(fs->index);
    int64_t now = mpfs_wall_ns();
    uint8_t src = mpfs_source_of(fs, meta(fs));
    struct changed *chg = NULL;
    size_t nchg = 0, capchg = 0;
    size_t i = 0, j = 0;
    /* Both lists are in bytewise name order: merge them. */
    while (i < l.n || j < old.n) {
        int c = i >= l.n ? 1 : j >= old.n ? -1 : strcmp(l.v[i].name, old.names[j]);
        struct mpfs_index_entry ie;
        if (c > 0) {
            /* gone remotely (LOCAL entries, and entries a commit confirmed
             * after the listing began, are kept by the batch itself) */
            if (old.v[j].source != MPFS_INDEX_SRC_LOCAL && old.v[j].seen_ns <= l.started_ns) {
                if (S_ISDIR(old.v[j].mode))
                    mpfs_index_drop_dir(fs->index, old.v[j].ino);
                mark_gone_remote(fs, ino, old.names[j], old.v[j].ino);
                if (nchg == capchg) {
                    capchg = capchg ? capchg * 2 : 16;
                    chg = mpfs_xrealloc(chg, capchg * sizeof(*chg));
                }
                chg[nchg].ino = old.v[j].ino;
                chg[nchg].name = mpfs_xstrdup(old.names[j]);
                nchg++;
            }
            j++;
            continue;
        }
        struct mpfs_attr a = l.v[i].attr;
        uint64_t eino;
        struct mpfs_attr prev;
        /* An s3fs special file (FIFO, socket, device) is an empty object
         * whose type only a HEAD shows: look once at each new one. */
        if (l.v[i].attr_full && S_ISREG(a.mode) && a.size == 0 &&
            !(a.valid & MPFS_ATTR_MODE) &&
            (c != 0 || !mpfs_version_same(a.version, old.v[j].version))) {
            char *cp = mpfs_path_join(path, l.v[i].name);
            struct mpfs_attr h;
            if (mpfs_backend_stat(meta(fs), cp, &h) == 0 &&
                mpfs_version_same(h.version, a.version) && (h.valid & MPFS_ATTR_MODE))
                a = h;
            free(cp);
        }
        if (c == 0) {
            mpfs_entry_from_index(&old.v[j], &prev);
            if (!l.v[i].attr_full && S_ISDIR(prev.mode))
                a = prev; /* a bare prefix tells nothing new about the dir */
            else if (l.v[i].attr_full)
                keep_richer(&a, &prev);
        }
        if (c == 0 && !type_changed(&a, old.v[j].mode)) {
            if (l.v[i].attr_full) {
                if (!mpfs_version_same(a.version, prev.version) && prev.version[0]) {
                    if (nchg == capchg) {
                        capchg = capchg ? capchg * 2 : 16;
                        chg = mpfs_xrealloc(chg, capchg * sizeof(*chg));
                    }
                    chg[nchg].ino = old.v[j].ino;
                    chg[nchg].name = NULL;
                    nchg++;
                }
            }
            eino = old.v[j].ino;
        } else {
            eino = mpfs_index_alloc_ino(fs->index);
            if (!eino) {
                rc = -EIO;
                break;
            }
        }
        /* An entry created here and still being written keeps its local
         * state until its commit records the backend's answer; one a commit
         * recorded after the listing began is newer than the listing. */
        if (c == 0 && (old.v[j].source == MPFS_INDEX_SRC_LOCAL ||
                       old.v[j].seen_ns > l.started_ns)) {
            i++;
            j++;
            continue;
        }
        mpfs_entry_to_index(&a, eino, src, now, &ie);
        mpfs_index_batch_put(b, ino, l.v[i].name, &ie);
        i++;
        if (c == 0)
            j++;
    }
    if (rc == 0 && meta(fs) != fs->nfs) {
        size_t ndirs = 0;
        for (size_t k = 0; k < l.n; k++)
            ndirs += S_ISDIR(l.v[k].attr.mode) ? 1 : 0;
        set_dir_nlink(fs, ino, (uint32_t)(2 + ndirs));
    }
    if (rc == 0) {
        struct mpfs_index_dir d = {.listed_ns = l.started_ns, .entries = l.n};
        mpfs_index_batch_dir_put(b, ino, &d);
        rc = mpfs_index_batch_commit(b);
    } else {
        mpfs_index_batch_free(b);
    }
    mpfs_debug("refreshed '%s': %zu entries in %.1f ms", path, l.n,
               (double)(mpfs_now_ns() - t0) / 1e6);
    for (size_t k = 0; k < nchg; k++) {
        if (chg[k].name) {
            notify_entry(fs, ino, chg[k].name);
            free(chg[k].name);
        } else {
            notify_inode(fs, chg[k].ino);
        }
    }
    free(chg);
    old_entries_free(&old);
    return rc;
}

struct snap_builder {
    struct mpfs_dirhandle *d;
    size_t cap;
};

static int snap_add(void *arg, const char *name, const struct mpfs_index_entry *e)
{
    struct snap_builder *sb = arg;
    struct mpfs_dirhandle *d = sb->d;
    if (d->n == sb->cap) {
        sb->cap = sb->cap ? sb->cap * 2 : 64;
        d->v = mpfs_xrealloc(d->v, sb->cap * sizeof(*d->v));
    }
    d->v[d->n].name = mpfs_xstrdup(name);
    d->v[d->n].ino = e->ino;
    d->v[d->n].source = e->source;
    d->v[d->n].seen = e->seen_ns;
    mpfs_entry_from_index(e, &d->v[d->n].attr);
    d->n++;
    return 0;
}

int mpfs_vfs_opendir(struct mpfs_fs *fs, uint64_t ino, struct mpfs_dirhandle **out)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n && !S_ISDIR(n->attr.mode)) {
        pthread_mutex_unlock(&fs->lock);
        return -ENOTDIR;
    }
    char *path = n ? mpfs_node_path_locked(fs, ino) : NULL;
    uint64_t parent = ino == MPFS_ROOT_INO || !n ? MPFS_ROOT_INO : n->parent;
    pthread_mutex_unlock(&fs->lock);
    if (!path)
        return -ESTALE;

    struct mpfs_index_dir ds = {0};
    mpfs_index_dir_get(fs->index, ino, &ds);
    enum mpfs_dir_freshness f =
        mpfs_policy_dir_state(mpfs_fs_policy(fs, path), ds.listed_ns, mpfs_wall_ns());
    if (f == MPFS_DIR_EXPIRED) {
        /* A directory never listed: its whole subtree, if small enough,
         * costs a few flat LISTs now instead of one per directory later. */
        int rc = -EOPNOTSUPP;
        if (ds.listed_ns == 0 && fs->cfg.tree_walk_keys > 0)
            rc = mpfs_fs_refresh_tree(fs, ino, path, (size_t)fs->cfg.tree_walk_keys);
        if (rc == -EOPNOTSUPP || rc == -E2BIG)
            rc = mpfs_fs_refresh_dir(fs, ino, path);
        if (rc == -ENOENT) {
            free(path);
            return -ENOENT;
        }
        if (rc < 0) {
            if (ds.listed_ns == 0) {
                mpfs_warn("listing '%s': %s", path, strerror(-rc));
                free(path);
                return rc;
            }
            mpfs_warn("listing '%s': %s; serving the cached listing", path, strerror(-rc));
        }
    } else if (f == MPFS_DIR_STALE_OK) {
        mpfs_refresher_enqueue(fs, ino);
    }
    free(path);

    struct mpfs_dirhandle *d = mpfs_xcalloc(1, sizeof(*d));
    d->ino = ino;
    d->parent = parent;
    struct snap_builder sb = {.d = d};
    mpfs_index_list(fs->index, ino, snap_add, &sb);
    *out = d;
    return 0;
}

int mpfs_vfs_dir_entry(struct mpfs_fs *fs, struct mpfs_dirhandle *d, size_t idx, int plus,
                       const char **name, struct mpfs_entry *e)
{
    if (idx >= d->n)
        return 0;
    *name = d->v[idx].name;
    if (plus) {
        struct mpfs_attr a = d->v[idx].attr;
        int64_t seen = d->v[idx].seen;
        pthread_mutex_lock(&fs->lock);
        /* what the index keeps per name (see lookup) is older than a live node's */
        struct mpfs_node *cur = mpfs_node_find_locked(fs, d->v[idx].ino);
        if (cur && !S_ISDIR(a.mode) && (a.nlink > 1 || S_ISCHR(a.mode) || S_ISBLK(a.mode)) &&
            (cur->attr.mode & S_IFMT) == (a.mode & S_IFMT)) {
            a = cur->attr;
            seen = cur->seen_wall;
        }
        int no_rdev = !cur && (S_ISCHR(a.mode) || S_ISBLK(a.mode));
        pthread_mutex_unlock(&fs->lock);
        /* The index keeps no device numbers, and the kernel takes a device
         * inode's number from its first reply only: ask the store now. */
        if (no_rdev) {
            char *path = child_path(fs, d->ino, d->v[idx].name);
            struct mpfs_attr st;
            if (path && mpfs_backend_stat(meta(fs), path, &st) == 0 &&
                (st.mode & S_IFMT) == (a.mode & S_IFMT))
                a.rdev = st.rdev;
            free(path);
        }
        pthread_mutex_lock(&fs->lock);
        mpfs_node_upsert_locked(fs, d->v[idx].ino, d->ino, d->v[idx].name, &a,
                                d->v[idx].source, seen, 1);
        pthread_mutex_unlock(&fs->lock);
        mpfs_fill_entry(fs, d->v[idx].ino, &a, e);
    } else {
        memset(e, 0, sizeof(*e));
        e->ino = d->v[idx].ino;
        e->st.st_ino = d->v[idx].ino;
        e->st.st_mode = d->v[idx].attr.mode & S_IFMT;
    }
    return 1;
}

void mpfs_vfs_dir_unref(struct mpfs_fs *fs, uint64_t ino)
{
    mpfs_vfs_forget(fs, ino, 1);
}

uint64_t mpfs_vfs_dir_parent(const struct mpfs_dirhandle *d)
{
    return d->parent;
}

void mpfs_vfs_releasedir(struct mpfs_fs *fs, struct mpfs_dirhandle *d)
{
    (void)fs;
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].name);
    free(d->v);
    free(d);
}

/* ------------------------------------------------------ namespace ops */

/* A new entry made here: record it (fresh) and return it to the kernel. */
static void new_entry(struct mpfs_fs *fs, uint64_t parent, const char *name, uint64_t ino,
                      const struct mpfs_attr *a, uint8_t source, struct mpfs_entry *e)
{
    struct mpfs_index_entry ie;
    int64_t now = mpfs_wall_ns();
    mpfs_entry_to_index(a, ino, source, now, &ie);
    mpfs_index_put(fs->index, parent, name, &ie);
    pthread_mutex_lock(&fs->lock);
    mpfs_node_upsert_locked(fs, ino, parent, name, a, source, now, 1);
    pthread_mutex_unlock(&fs->lock);
    mpfs_fill_entry(fs, ino, a, e);
}

static void local_attr(struct mpfs_fs *fs, uint32_t mode, uint64_t size, struct mpfs_attr *a)
{
    memset(a, 0, sizeof(*a));
    a->mode = mode;
    a->size = size;
    a->uid = (uint32_t)fs->cfg.uid;
    a->gid = (uint32_t)fs->cfg.gid;
    a->mtime_ns = a->ctime_ns = a->atime_ns = mpfs_wall_ns();
    a->valid = MPFS_ATTR_MODE | MPFS_ATTR_MTIME;
    a->nlink = S_ISDIR(mode) ? 2 : 1;
}

static int read_only(struct mpfs_fs *fs)
{
    return fs->cfg.read_only;
}

/* Checks before name is made in parent: writable, a name POSIX can show,
 * a path the store can hold. */
static int may_create(struct mpfs_fs *fs, uint64_t parent, const char *name)
{
    if (read_only(fs))
        return -EROFS;
    int rc = check_name(name);
    return rc ? rc : mpfs_fs_check_child(fs, parent, name);
}

int mpfs_vfs_mkdir(struct mpfs_fs *fs, uint64_t parent, const char *name, mode_t mode,
                   const struct mpfs_caller *c, struct mpfs_entry *e)
{
    int rc = may_create(fs, parent, name);
    if (rc)
        return rc;
    struct mpfs_attr want;
    local_attr(fs, S_IFDIR | (mode & 07777), 0, &want);
    mpfs_fs_new_owner(fs, parent, c, &want);
    char *path = child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    struct mpfs_index_entry ie;
    if (mpfs_index_get(fs->index, parent, name, &ie) == 0 &&
        mpfs_backend_stat(meta(fs), path, &(struct mpfs_attr){0}) == 0) {
        free(path);
        return -EEXIST;
    }
    rc = mpfs_backend_mkdir(meta(fs), path, want.mode);
    if (rc == 0) {
        struct mpfs_attr a = want;
        a.valid &= ~(uint32_t)MPFS_ATTR_OWNER; /* until the store says */
        struct mpfs_attr st;
        if (mpfs_backend_stat(meta(fs), path, &st) == 0 && S_ISDIR(st.mode)) {
            keep_richer(&st, &a);
            if (!(st.valid & MPFS_ATTR_MODE)) {
                st.mode = a.mode;
                st.valid |= MPFS_ATTR_MODE;
            }
            a = st;
        }
        store_owner(fs, meta(fs), path, &want, &a);
        uint64_t ino = mpfs_index_alloc_ino(fs->index);
        if (!ino) {
            free(path);
            return -EIO;
        }
        new_entry(fs, parent, name, ino, &a, mpfs_source_of(fs, meta(fs)), e);
        /* it is empty: no need to list it */
        struct mpfs_index_dir d = {.listed_ns = mpfs_wall_ns(), .entries = 0};
        mpfs_index_dir_put(fs->index, ino, &d);
        mpfs_fs_touch_dir(fs, parent, 1);
    }
    free(path);
    return rc;
}

int mpfs_vfs_unlink(struct mpfs_fs *fs, uint64_t parent, const char *name)
{
    if (read_only(fs))
        return -EROFS;
    char *path = child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    struct mpfs_index_entry ie;
    int irc = mpfs_index_get(fs->index, parent, name, &ie);
    if (irc == 0 && S_ISDIR(ie.mode)) {
        free(path);
        return -EISDIR;
    }
    if (irc == 0)
        keep_if_open(fs, ie.ino);
    int rc = mpfs_backend_remove(meta(fs), path);
    if (rc == -ENOENT && irc == 0 && ie.source == MPFS_INDEX_SRC_LOCAL)
        rc = 0; /* created here, never committed */
    if (rc == 0 || rc == -ENOENT) {
        if (irc == 0) {
            mpfs_index_del(fs->index, parent, name);
            drop_name(fs, parent, name, &ie);
        }
        mpfs_fs_touch_dir(fs, parent, 0);
    }
    free(path);
    return rc;
}

int mpfs_vfs_rmdir(struct mpfs_fs *fs, uint64_t parent, const char *name)
{
    if (read_only(fs))
        return -EROFS;
    char *path = child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    struct mpfs_index_entry ie;
    int irc = mpfs_index_get(fs->index, parent, name, &ie);
    if (irc == 0 && !S_ISDIR(ie.mode)) {
        free(path);
        return -ENOTDIR;
    }
    /* Entries created here but not yet committed make it non-empty too. */
    if (irc == 0) {
        struct old_entries kids = {0};
        mpfs_index_list(fs->index, ie.ino, collect_old, &kids);
        int local = 0;
        for (size_t i = 0; i < kids.n; i++)
            local |= kids.v[i].source == MPFS_INDEX_SRC_LOCAL;
        old_entries_free(&kids);
        if (local) {
            free(path);
            return -ENOTEMPTY;
        }
    }
    int rc = mpfs_backend_rmdir(meta(fs), path);
    if ((rc == 0 || rc == -ENOENT) && irc == 0) {
        mpfs_index_del(fs->index, parent, name);
        mpfs_index_drop_dir(fs->index, ie.ino);
        mark_unlinked(fs, ie.ino, parent, name);
    }
    if (rc == 0 || rc == -ENOENT)
        mpfs_fs_touch_dir(fs, parent, -1);
    free(path);
    return rc;
}

/* Current entry of (parent, name), from the index or the backend. */
static int entry_of(struct mpfs_fs *fs, uint64_t parent, const char *name, const char *path,
                    struct mpfs_index_entry *ie)
{
    if (mpfs_index_get(fs->index, parent, name, ie) == 0)
        return 0;
    struct mpfs_attr a;
    int rc = mpfs_backend_stat(meta(fs), path, &a);
    if (rc < 0)
        return rc;
    uint64_t ino = mpfs_index_alloc_ino(fs->index);
    if (!ino)
        return -EIO;
    mpfs_entry_to_index(&a, ino, mpfs_source_of(fs, meta(fs)), mpfs_wall_ns(), ie);
    mpfs_index_put(fs->index, parent, name, ie);
    return 0;
}

struct nonempty {
    int any;
};

static int note_any(void *arg, const char *name, size_t len, const struct mpfs_attr *a,
                    int full)
{
    (void)a;
    (void)full;
    if (!mpfs_name_is_valid(name, len))
        return 0;
    ((struct nonempty *)arg)->any = 1;
    return 1;
}

int mpfs_vfs_rename(struct mpfs_fs *fs, uint64_t parent, const char *name,
                    uint64_t newparent, const char *newname, unsigned flags)
{
    if (read_only(fs))
        return -EROFS;
    int rc = check_name(newname);
    if (rc == 0)
        rc = mpfs_fs_check_child(fs, newparent, newname);
    if (rc)
        return rc;
    char *from = child_path(fs, parent, name);
    char *to = child_path(fs, newparent, newname);
    struct mpfs_index_entry src, dst;
    int have_dst = 0;
    if (!from || !to) {
        rc = -ESTALE;
        goto out;
    }
    rc = entry_of(fs, parent, name, from, &src);
    if (rc < 0)
        goto out;
    int is_dir = S_ISDIR(src.mode);
    if (is_dir && strncmp(to, from, strlen(from)) == 0 && to[strlen(from)] == '/') {
        rc = -EINVAL; /* into its own subtree */
        goto out;
    }
    enum mpfs_route_op op = is_dir ? MPFS_R_RENAME_DIR : MPFS_R_RENAME;
    struct mpfs_backend *b = fs->router.route[op];
    if (!b) {
        rc = -fs->router.unsupported_errno[op];
        goto out;
    }
    if ((flags & MPFS_RENAME_EXCHANGE)) {
        rc = -EINVAL; /* no backend here exchanges atomically */
        goto out;
    }
    /* Staged writes must reach the backend before the object moves. */
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *sn = mpfs_node_find_locked(fs, src.ino);
    if (sn)
        sn->nopen++; /* pin it across the commit */
    pthread_mutex_unlock(&fs->lock);
    if (sn) {
        rc = mpfs_file_commit(fs, sn);
        pthread_mutex_lock(&fs->lock);
        sn->nopen--;
        pthread_mutex_unlock(&fs->lock);
        if (rc < 0)
            goto out;
        mpfs_index_get(fs->index, parent, name, &src);
    }

    struct mpfs_attr dst_attr;
    int drc = mpfs_backend_stat(meta(fs), to, &dst_attr);
    if (drc == 0) {
        have_dst = mpfs_index_get(fs->index, newparent, newname, &dst) == 0;
        if (flags & MPFS_RENAME_NOREPLACE) {
            rc = -EEXIST;
            goto out;
        }
        if (S_ISDIR(dst_attr.mode) && !is_dir) {
            rc = -EISDIR;
            goto out;
        }
        if (!S_ISDIR(dst_attr.mode) && is_dir) {
            rc = -ENOTDIR;
            goto out;
        }
        if (is_dir) {
            struct nonempty ne = {0};
            mpfs_backend_list(meta(fs), to, note_any, &ne);
            if (ne.any) {
                rc = -ENOTEMPTY;
                goto out;
            }
            /* S3 would merge the trees: remove the empty target first */
            if (b->caps & MPFS_CAP_RENAME_EMULATED)
                mpfs_backend_rmdir(meta(fs), to);
        }
    }
    if (have_dst && dst.ino != src.ino && !S_ISDIR(dst.mode))
        keep_if_open(fs, dst.ino);
    rc = mpfs_backend_rename(b, from, to, flags & MPFS_RENAME_NOREPLACE);
    if (rc < 0)
        goto out;

    mpfs_index_del(fs->index, parent, name);
    int replaced_dir = have_dst && dst.ino != src.ino && S_ISDIR(dst.mode);
    if (replaced_dir)
        mpfs_index_drop_dir(fs->index, dst.ino);
    /* Same inode under the new name; its attributes are re-read on next
     * use since a copy-based rename changes the mtime. */
    src.seen_ns = 0;
    mpfs_index_put(fs->index, newparent, newname, &src);
    /* the replaced entry loses this name (a hard-linked file one link) */
    if (have_dst && dst.ino != src.ino)
        drop_name(fs, newparent, newname, &dst);
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, src.ino);
    if (n) {
        free(n->name);
        n->name = mpfs_xstrdup(newname);
        n->parent = newparent;
        n->seen_wall = 0;
    }
    pthread_mutex_unlock(&fs->lock);
    /* a directory moving between parents moves its ".." link */
    int moved_dir = is_dir && parent != newparent;
    mpfs_fs_touch_dir(fs, parent, moved_dir ? -1 : 0);
    if (newparent != parent || replaced_dir)
        mpfs_fs_touch_dir(fs, newparent, (moved_dir ? 1 : 0) - replaced_dir);
out:
    free(from);
    free(to);
    return rc;
}

int mpfs_vfs_symlink(struct mpfs_fs *fs, const char *target, uint64_t parent,
                     const char *name, const struct mpfs_caller *c, struct mpfs_entry *e)
{
    if (read_only(fs))
        return -EROFS;
    int rc = check_name(name);
    if (rc == 0)
        rc = mpfs_fs_check_child(fs, parent, name);
    if (rc == 0 && strlen(target) >= PATH_MAX)
        rc = -ENAMETOOLONG;
    if (rc)
        return rc;
    struct mpfs_backend *b = fs->router.route[MPFS_R_SYMLINK];
    if (!b)
        return -fs->router.unsupported_errno[MPFS_R_SYMLINK];
    char *path = child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    struct mpfs_attr a;
    if (mpfs_backend_stat(b, path, &a) == 0) {
        free(path);
        return -EEXIST;
    }
    rc = mpfs_backend_symlink(b, target, path);
    if (rc == 0) {
        struct mpfs_attr want;
        local_attr(fs, S_IFLNK | 0777, strlen(target), &want);
        mpfs_fs_new_owner(fs, parent, c, &want);
        a = want;
        a.valid &= ~(uint32_t)MPFS_ATTR_OWNER; /* until the store says */
        struct mpfs_attr st;
        if (mpfs_backend_stat(b, path, &st) == 0) {
            keep_richer(&st, &a);
            st.mode = S_IFLNK | 0777;
            st.valid |= MPFS_ATTR_MODE;
            a = st;
        }
        store_owner(fs, b, path, &want, &a);
        uint64_t ino = mpfs_index_alloc_ino(fs->index);
        if (!ino) {
            free(path);
            return -EIO;
        }
        new_entry(fs, parent, name, ino, &a, mpfs_source_of(fs, b), e);
        pthread_mutex_lock(&fs->lock);
        struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
        if (n) {
            free(n->link_target);
            n->link_target = mpfs_xstrdup(target);
        }
        pthread_mutex_unlock(&fs->lock);
        mpfs_fs_touch_dir(fs, parent, 0);
    }
    free(path);
    return rc;
}

int mpfs_vfs_mknod(struct mpfs_fs *fs, uint64_t parent, const char *name, mode_t mode,
                   dev_t rdev, const struct mpfs_caller *c, struct mpfs_entry *e)
{
    int rc = may_create(fs, parent, name);
    if (rc)
        return rc;
    uint32_t type = mode & S_IFMT;
    if (type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR && type != S_IFBLK)
        return -EINVAL;
    char *path = child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    struct mpfs_attr want;
    local_attr(fs, type | (mode & 07777), 0, &want);
    mpfs_fs_new_owner(fs, parent, c, &want);
    want.rdev = (type == S_IFCHR || type == S_IFBLK) ? (uint64_t)rdev : 0;
    struct mpfs_backend *b = meta(fs);
    struct mpfs_attr a;
    if (mpfs_backend_stat(b, path, &a) == 0) {
        free(path);
        return -EEXIST;
    }
    rc = mpfs_backend_mknod(b, path, want.mode, want.rdev);
    if (rc == -EOPNOTSUPP)
        rc = -EPERM; /* what mknod(2) says where a filesystem cannot */
    if (rc == 0) {
        a = want;
        a.valid &= ~(uint32_t)MPFS_ATTR_OWNER;
        struct mpfs_attr st;
        if (mpfs_backend_stat(b, path, &st) == 0 && (st.mode & S_IFMT) == type) {
            keep_richer(&st, &a);
            a = st;
        }
        store_owner(fs, b, path, &want, &a);
        if (!a.rdev)
            a.rdev = want.rdev;
        uint64_t ino = mpfs_index_alloc_ino(fs->index);
        if (!ino) {
            free(path);
            return -EIO;
        }
        new_entry(fs, parent, name, ino, &a, mpfs_source_of(fs, b), e);
        mpfs_fs_touch_dir(fs, parent, 0);
    }
    free(path);
    return rc;
}

ssize_t mpfs_vfs_readlink(struct mpfs_fs *fs, uint64_t ino, char *buf, size_t size)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n && n->link_target) {
        size_t len = strlen(n->link_target);
        if (len >= size)
            len = size - 1;
        memcpy(buf, n->link_target, len);
        buf[len] = '\0';
        pthread_mutex_unlock(&fs->lock);
        return (ssize_t)len;
    }
    char *path = n ? mpfs_node_path_locked(fs, ino) : NULL;
    pthread_mutex_unlock(&fs->lock);
    if (!path)
        return -ESTALE;
    struct mpfs_backend *b = fs->router.route[MPFS_R_SYMLINK] ? fs->router.route[MPFS_R_SYMLINK]
                                                              : meta(fs);
    ssize_t rc = mpfs_backend_readlink(b, path, buf, size - 1);
    free(path);
    if (rc < 0)
        return rc == -EOPNOTSUPP ? -EINVAL : rc;
    buf[rc] = '\0';
    pthread_mutex_lock(&fs->lock);
    n = mpfs_node_find_locked(fs, ino);
    if (n && !n->link_target)
        n->link_target = mpfs_xstrdup(buf);
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

int mpfs_vfs_link(struct mpfs_fs *fs, uint64_t ino, uint64_t newparent, const char *newname,
                  struct mpfs_entry *e)
{
    if (read_only(fs))
        return -EROFS;
    struct mpfs_backend *b = fs->router.route[MPFS_R_LINK];
    if (!b)
        return -fs->router.unsupported_errno[MPFS_R_LINK];
    int rc = check_name(newname);
    if (rc == 0)
        rc = mpfs_fs_check_child(fs, newparent, newname);
    if (rc)
        return rc;
    char *from = mpfs_node_path(fs, ino);
    char *to = child_path(fs, newparent, newname);
    if (!from || !to) {
        rc = -ESTALE;
        goto out;
    }
    rc = mpfs_backend_link(b, from, to);
    if (rc < 0)
        goto out;
    struct mpfs_attr a;
    rc = mpfs_backend_stat(b, to, &a);
    if (rc < 0)
        goto out;
    /* Both names are one file: they share the inode number. */
    new_entry(fs, newparent, newname, ino, &a, mpfs_source_of(fs, b), e);
    mpfs_fs_record(fs, ino, newparent, newname, &a, mpfs_source_of(fs, b));
    mpfs_fs_touch_dir(fs, newparent, 0);
out:
    free(from);
    free(to);
    return rc;
}

int mpfs_vfs_statfs(struct mpfs_fs *fs, struct statvfs *st)
{
    int rc = mpfs_backend_statfs(meta(fs), st);
    if (rc == 0)
        st->f_namemax = 255;
    return rc;
}

/* ------------------------------------------------------------- xattrs */

#define XA_ETAG "user.mpfs.etag"
#define XA_SOURCE "user.mpfs.source"
/* the block cache's counters (any inode; not listed): for benchmarks and
 * for watching the training policy (docs/CACHE.md, "Statistics") */
#define XA_CACHE_STATS "user.mpfs.cache_stats"

static const char *source_name(uint8_t s)
{
    switch (s) {
    case MPFS_INDEX_SRC_S3: return "s3";
    case MPFS_INDEX_SRC_NFS: return "nfs";
    case MPFS_INDEX_SRC_LOCAL: return "local";
    default: return "unknown";
    }
}

static ssize_t copy_out(const char *val, size_t len, void *buf, size_t size)
{
    if (size == 0)
        return (ssize_t)len;
    if (len > size)
        return -ERANGE;
    memcpy(buf, val, len);
    return (ssize_t)len;
}

static ssize_t cache_stats(struct mpfs_fs *fs, void *buf, size_t size)
{
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(fs->cache, &st);
    char val[512];
    int n = snprintf(val, sizeof(val),
                     "hits=%llu misses=%llu disk_hits=%llu ram_bytes=%llu disk_bytes=%llu "
                     "ram_held_bytes=%llu disk_held_bytes=%llu scan_groups=%llu "
                     "disk_writes=%llu disk_admission_skips=%llu",
                     (unsigned long long)st.hits, (unsigned long long)st.misses,
                     (unsigned long long)st.disk_hits, (unsigned long long)st.ram_bytes,
                     (unsigned long long)st.disk_bytes, (unsigned long long)st.ram_held_bytes,
                     (unsigned long long)st.disk_held_bytes, (unsigned long long)st.scan_groups,
                     (unsigned long long)st.disk_writes,
                     (unsigned long long)st.disk_admission_skips);
    return copy_out(val, (size_t)n, buf, size);
}

ssize_t mpfs_vfs_getxattr(struct mpfs_fs *fs, uint64_t ino, const char *name, void *buf,
                          size_t size)
{
    if (strcmp(name, XA_CACHE_STATS) == 0)
        return cache_stats(fs, buf, size);
    if (strcmp(name, XA_ETAG) == 0 || strcmp(name, XA_SOURCE) == 0) {
        pthread_mutex_lock(&fs->lock);
        struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
        char val[MPFS_VERSION_MAX];
        if (n)
            snprintf(val, sizeof(val), "%s",
                     strcmp(name, XA_ETAG) == 0 ? n->attr.version : source_name(n->source));
        pthread_mutex_unlock(&fs->lock);
        if (!n)
            return -ESTALE;
        if (!val[0])
            return -ENODATA;
        return copy_out(val, strlen(val), buf, size);
    }
    /* mpfs stores no security./system./trusted. attributes: say the
     * namespace is unsupported (as s3fs does), not "no such attribute",
     * so `ls -l` (coreutils) stops asking for every entry: it caches
     * ENOTSUP per device, but asks again after ENODATA. */
    if (strncmp(name, "user.", 5) != 0)
        return -EOPNOTSUPP;
    struct mpfs_backend *b = fs->router.route[MPFS_R_XATTR];
    if (!b)
        return -ENODATA;
    char *path = mpfs_node_path(fs, ino);
    if (!path)
        return -ESTALE;
    ssize_t rc = mpfs_backend_getxattr(b, path, name + 5, buf, size);
    free(path);
    return rc;
}

int mpfs_vfs_setxattr(struct mpfs_fs *fs, uint64_t ino, const char *name, const void *value,
                      size_t size, int flags)
{
    if (strcmp(name, XA_ETAG) == 0 || strcmp(name, XA_SOURCE) == 0 ||
        strcmp(name, XA_CACHE_STATS) == 0)
        return -EPERM;
    if (strncmp(name, "user.", 5) != 0)
        return -ENOTSUP;
    if (read_only(fs))
        return -EROFS;
    struct mpfs_backend *b = fs->router.route[MPFS_R_XATTR];
    if (!b)
        return -fs->router.unsupported_errno[MPFS_R_XATTR];
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n)
        n->nopen++;
    char *path = n ? mpfs_node_path_locked(fs, ino) : NULL;
    pthread_mutex_unlock(&fs->lock);
    if (!n)
        return -ESTALE;
    /* the object must exist before metadata can be attached to it */
    int rc = mpfs_file_commit(fs, n);
    if (rc == 0 && (flags & (XATTR_CREATE | XATTR_REPLACE))) {
        ssize_t have = mpfs_backend_getxattr(b, path, name + 5, NULL, 0);
        if ((flags & XATTR_CREATE) && have >= 0)
            rc = -EEXIST;
        else if ((flags & XATTR_REPLACE) && have == -ENODATA)
            rc = -ENODATA;
    }
    if (rc == 0)
        rc = mpfs_backend_setxattr(b, path, name + 5, value, size);
    if (rc == 0) {
        /* metadata rewrite changes the S3 ETag: re-read attrs next time */
        pthread_mutex_lock(&fs->lock);
        n->seen_wall = 0;
        pthread_mutex_unlock(&fs->lock);
    }
    pthread_mutex_lock(&fs->lock);
    n->nopen--;
    mpfs_node_maybe_drop_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
    free(path);
    return rc;
}

ssize_t mpfs_vfs_listxattr(struct mpfs_fs *fs, uint64_t ino, char *buf, size_t size)
{
    static const char fixed[] = XA_ETAG "\0" XA_SOURCE;
    size_t fixed_len = sizeof(fixed);
    struct mpfs_backend *b = fs->router.route[MPFS_R_XATTR];
    char *names = NULL;
    ssize_t nlen = 0;
    if (b) {
        char *path = mpfs_node_path(fs, ino);
        if (!path)
            return -ESTALE;
        nlen = mpfs_backend_listxattr(b, path, NULL, 0);
        if (nlen > 0) {
            names = mpfs_xmalloc((size_t)nlen);
            nlen = mpfs_backend_listxattr(b, path, names, (size_t)nlen);
        }
        free(path);
        if (nlen < 0)
            nlen = 0;
    }
    /* backend names come without "user." */
    size_t total = fixed_len;
    for (ssize_t i = 0; i < nlen; i += (ssize_t)strlen(names + i) + 1)
        total += 5 + strlen(names + i) + 1;
    if (size == 0) {
        free(names);
        return (ssize_t)total;
    }
    if (total > size) {
        free(names);
        return -ERANGE;
    }
    memcpy(buf, fixed, fixed_len);
    size_t off = fixed_len;
    for (ssize_t i = 0; i < nlen; i += (ssize_t)strlen(names + i) + 1) {
        off += (size_t)sprintf(buf + off, "user.%s", names + i) + 1;
    }
    free(names);
    return (ssize_t)total;
}

int mpfs_vfs_removexattr(struct mpfs_fs *fs, uint64_t ino, const char *name)
{
    if (strcmp(name, XA_ETAG) == 0 || strcmp(name, XA_SOURCE) == 0)
        return -EPERM;
    if (strncmp(name, "user.", 5) != 0)
        return -ENOTSUP;
    if (read_only(fs))
        return -EROFS;
    struct mpfs_backend *b = fs->router.route[MPFS_R_XATTR];
    if (!b)
        return -ENODATA;
    char *path = mpfs_node_path(fs, ino);
    if (!path)
        return -ESTALE;
    int rc = mpfs_backend_removexattr(b, path, name + 5);
    free(path);
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n)
        n->seen_wall = 0;
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

/*
 * meta.c - what the fs knows about one entry: attributes as the index and
 * the backends give them, their conversion to struct stat, and the
 * bookkeeping when an entry is recorded, changes, is unlinked here or
 * vanishes remotely.  The operations are in lookup.c (lookup, getattr),
 * dir_merge.c (applying a backend listing), dir.c (directory snapshots for
 * readdir), namespace.c (create, remove, rename, links) and xattr.c.
 *
 * The index is consulted first and the metadata side of the router only
 * when the consistency policy says what the index holds is too old (see
 * consistency/policy.h).  Everything learned from a backend is written
 * back to the index with the time it was confirmed, so the next mount
 * starts warm.
 *
 * Locking: fs->lock for the in-memory node fields only, never across an
 * index or backend call (fs_state.h has the ranking).
 */
#include "base/log.h"
#include "base/util.h"
#include "fs/entry.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/meta_int.h"
#include "fs/node.h"
#include "fs/notify.h"
#include "fs/reconciler.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct mpfs_backend *mpfs_meta_side(struct mpfs_fs *fs)
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
int mpfs_meta_attr_fresh(struct mpfs_fs *fs, const struct mpfs_policy *pol, const char *path,
                      uint64_t parent, int64_t seen, int64_t now)
{
    if (mpfs_policy_attr_fresh_in(pol, seen, mpfs_reconciler_listed(fs, parent), now))
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
void mpfs_meta_keep_richer(struct mpfs_attr *fresh, const struct mpfs_attr *old)
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
    mpfs_attr_keep_precise_times(fresh, old);
}

static void keep_precise(int64_t *fresh, int64_t old)
{
    const int64_t sec = 1000000000LL;
    if (*fresh % sec == 0 && old / sec == *fresh / sec)
        *fresh = old;
}

void mpfs_attr_keep_precise_times(struct mpfs_attr *fresh, const struct mpfs_attr *old)
{
    if (!mpfs_version_same(fresh->version, old->version))
        return;
    keep_precise(&fresh->mtime_ns, old->mtime_ns);
    keep_precise(&fresh->ctime_ns, old->ctime_ns);
}

void mpfs_meta_notify_inode(struct mpfs_fs *fs, uint64_t ino)
{
    if (fs->notify.inval_inode)
        fs->notify.inval_inode(fs->notify.ctx, ino);
}

void mpfs_meta_notify_entry(struct mpfs_fs *fs, uint64_t parent, const char *name)
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
char *mpfs_meta_child_path(struct mpfs_fs *fs, uint64_t parent, const char *name)
{
    char *dir = mpfs_node_path(fs, parent);
    if (!dir)
        return NULL;
    char *p = mpfs_path_join(dir, name);
    free(dir);
    return p;
}

int mpfs_meta_check_name(const char *name)
{
    size_t len = strlen(name);
    if (len > 255)
        return -ENAMETOOLONG;
    if (!mpfs_name_is_valid(name, len))
        return -EINVAL;
    return 0;
}

int mpfs_meta_type_changed(const struct mpfs_attr *a, uint32_t old_mode)
{
    return (a->mode & S_IFMT) != (old_mode & S_IFMT);
}

/* Name (parent, name) of inode ino is gone through this mount.  The kernel
 * may still reference the node: if another hard link remains, the node
 * moves to it; else it is unlinked (its data dies with its last handle). */
void mpfs_meta_mark_unlinked(struct mpfs_fs *fs, uint64_t ino, uint64_t parent, const char *name)
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
void mpfs_meta_keep_if_open(struct mpfs_fs *fs, uint64_t ino)
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
void mpfs_meta_mark_gone_remote(struct mpfs_fs *fs, uint64_t parent, const char *name, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n && n->parent == parent && n->name && strcmp(n->name, name) == 0) {
        n->unlinked = 1;
        n->gone_remote = 1;
    }
    pthread_mutex_unlock(&fs->lock);
}

void mpfs_meta_forget_entry(struct mpfs_fs *fs, uint64_t parent, const char *name,
                         const struct mpfs_index_entry *old)
{
    mpfs_index_del(fs->index, parent, name);
    if (S_ISDIR(old->mode))
        mpfs_index_drop_dir(fs->index, old->ino);
    mpfs_meta_mark_gone_remote(fs, parent, name, old->ino);
}

void mpfs_fs_forget_remote(struct mpfs_fs *fs, uint64_t parent, const char *name,
                           const struct mpfs_index_entry *old)
{
    mpfs_meta_forget_entry(fs, parent, name, old);
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

void mpfs_meta_set_dir_nlink(struct mpfs_fs *fs, uint64_t ino, uint32_t nlink)
{
    edit_attr(fs, ino, 0, 0, nlink);
}

/* Name (parent, name) of ie's inode went away (unlink, rmdir, replaced by
 * rename): the node moves to a remaining name or is unlinked
 * (mark_unlinked); a hard-linked file keeps living with one link less and
 * a new ctime. */
void mpfs_meta_drop_name(struct mpfs_fs *fs, uint64_t parent, const char *name,
                      const struct mpfs_index_entry *ie)
{
    mpfs_meta_mark_unlinked(fs, ie->ino, parent, name);
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
    char *path = mpfs_meta_child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    size_t max = mpfs_meta_side(fs)->path_max;
    int rc = max && strlen(path) > max ? -ENAMETOOLONG : 0;
    free(path);
    return rc;
}

/* The owner the store shows for a new entry is the caller's, or is made
 * so (a setattr: stores take no owner at creation); *a gets the result.
 * Failing that, the entry stays as the store made it and a warning says
 * so: removing it again could lose a race with another client. */
void mpfs_meta_store_owner(struct mpfs_fs *fs, struct mpfs_backend *b, const char *path,
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
        mpfs_meta_keep_richer(&out, a);
        *a = out;
    }
    a->uid = want->uid;
    a->gid = want->gid;
    a->mode = (a->mode & S_IFMT) | (want->mode & 07777);
    a->valid |= MPFS_ATTR_OWNER | MPFS_ATTR_MODE;
}

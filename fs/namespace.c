/*
 * namespace.c - operations that change names: mkdir, unlink, rmdir,
 * rename, symlink, mknod, link; and readlink, statfs.  Each goes to the
 * side the router names for it, then records the result in the index and
 * the nodes (meta.c) so the mount's view follows at once.
 *
 * Locking: as meta.c.
 */
#include "base/log.h"
#include "base/util.h"
#include "consistency/conflict.h"
#include "fs/entry.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/meta_int.h"
#include "fs/node.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    int rc = mpfs_meta_check_name(name);
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
    char *path = mpfs_meta_child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    struct mpfs_index_entry ie;
    if (mpfs_index_get(fs->index, parent, name, &ie) == 0 &&
        mpfs_backend_stat(mpfs_meta_side(fs), path, &(struct mpfs_attr){0}) == 0) {
        free(path);
        return -EEXIST;
    }
    rc = mpfs_backend_mkdir(mpfs_meta_side(fs), path, want.mode);
    if (rc == 0) {
        struct mpfs_attr a = want;
        a.valid &= ~(uint32_t)MPFS_ATTR_OWNER; /* until the store says */
        struct mpfs_attr st;
        if (mpfs_backend_stat(mpfs_meta_side(fs), path, &st) == 0 && S_ISDIR(st.mode)) {
            mpfs_meta_keep_richer(&st, &a);
            if (!(st.valid & MPFS_ATTR_MODE)) {
                st.mode = a.mode;
                st.valid |= MPFS_ATTR_MODE;
            }
            a = st;
        }
        mpfs_meta_store_owner(fs, mpfs_meta_side(fs), path, &want, &a);
        uint64_t ino = mpfs_index_alloc_ino(fs->index);
        if (!ino) {
            free(path);
            return -EIO;
        }
        new_entry(fs, parent, name, ino, &a, mpfs_source_of(fs, mpfs_meta_side(fs)), e);
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
    char *path = mpfs_meta_child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    struct mpfs_index_entry ie;
    int irc = mpfs_index_get(fs->index, parent, name, &ie);
    if (irc == 0 && S_ISDIR(ie.mode)) {
        free(path);
        return -EISDIR;
    }
    if (irc == 0)
        mpfs_meta_keep_if_open(fs, ie.ino);
    int rc = mpfs_backend_remove(mpfs_meta_side(fs), path);
    if (rc == -ENOENT && irc == 0 && ie.source == MPFS_INDEX_SRC_LOCAL)
        rc = 0; /* created here, never committed */
    if (rc == 0 || rc == -ENOENT) {
        if (irc == 0) {
            mpfs_index_del(fs->index, parent, name);
            mpfs_meta_drop_name(fs, parent, name, &ie);
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
    char *path = mpfs_meta_child_path(fs, parent, name);
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
        struct mpfs_old_entries kids = {0};
        mpfs_index_list(fs->index, ie.ino, mpfs_meta_collect_old, &kids);
        int local = 0;
        for (size_t i = 0; i < kids.n; i++)
            local |= kids.v[i].source == MPFS_INDEX_SRC_LOCAL;
        mpfs_meta_old_entries_free(&kids);
        if (local) {
            free(path);
            return -ENOTEMPTY;
        }
    }
    int rc = mpfs_backend_rmdir(mpfs_meta_side(fs), path);
    if ((rc == 0 || rc == -ENOENT) && irc == 0) {
        mpfs_index_del(fs->index, parent, name);
        mpfs_index_drop_dir(fs->index, ie.ino);
        mpfs_meta_mark_unlinked(fs, ie.ino, parent, name);
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
    int rc = mpfs_backend_stat(mpfs_meta_side(fs), path, &a);
    if (rc < 0)
        return rc;
    uint64_t ino = mpfs_index_alloc_ino(fs->index);
    if (!ino)
        return -EIO;
    mpfs_entry_to_index(&a, ino, mpfs_source_of(fs, mpfs_meta_side(fs)), mpfs_wall_ns(), ie);
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
    int rc = mpfs_meta_check_name(newname);
    if (rc == 0)
        rc = mpfs_fs_check_child(fs, newparent, newname);
    if (rc)
        return rc;
    char *from = mpfs_meta_child_path(fs, parent, name);
    char *to = mpfs_meta_child_path(fs, newparent, newname);
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
    int drc = mpfs_backend_stat(mpfs_meta_side(fs), to, &dst_attr);
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
            mpfs_backend_list(mpfs_meta_side(fs), to, note_any, &ne);
            if (ne.any) {
                rc = -ENOTEMPTY;
                goto out;
            }
            /* S3 would merge the trees: remove the empty target first */
            if (b->caps & MPFS_CAP_RENAME_EMULATED)
                mpfs_backend_rmdir(mpfs_meta_side(fs), to);
        }
    }
    if (have_dst && dst.ino != src.ino && !S_ISDIR(dst.mode))
        mpfs_meta_keep_if_open(fs, dst.ino);
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
        mpfs_meta_drop_name(fs, newparent, newname, &dst);
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
    int rc = mpfs_meta_check_name(name);
    if (rc == 0)
        rc = mpfs_fs_check_child(fs, parent, name);
    if (rc == 0 && strlen(target) >= PATH_MAX)
        rc = -ENAMETOOLONG;
    if (rc)
        return rc;
    struct mpfs_backend *b = fs->router.route[MPFS_R_SYMLINK];
    if (!b)
        return -fs->router.unsupported_errno[MPFS_R_SYMLINK];
    char *path = mpfs_meta_child_path(fs, parent, name);
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
            mpfs_meta_keep_richer(&st, &a);
            st.mode = S_IFLNK | 0777;
            st.valid |= MPFS_ATTR_MODE;
            a = st;
        }
        mpfs_meta_store_owner(fs, b, path, &want, &a);
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
    char *path = mpfs_meta_child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    struct mpfs_attr want;
    local_attr(fs, type | (mode & 07777), 0, &want);
    mpfs_fs_new_owner(fs, parent, c, &want);
    want.rdev = (type == S_IFCHR || type == S_IFBLK) ? (uint64_t)rdev : 0;
    struct mpfs_backend *b = mpfs_meta_side(fs);
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
            mpfs_meta_keep_richer(&st, &a);
            a = st;
        }
        mpfs_meta_store_owner(fs, b, path, &want, &a);
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
                                                              : mpfs_meta_side(fs);
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
    int rc = mpfs_meta_check_name(newname);
    if (rc == 0)
        rc = mpfs_fs_check_child(fs, newparent, newname);
    if (rc)
        return rc;
    char *from = mpfs_node_path(fs, ino);
    char *to = mpfs_meta_child_path(fs, newparent, newname);
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
    int rc = mpfs_backend_statfs(mpfs_meta_side(fs), st);
    if (rc == 0)
        st->f_namemax = 255;
    return rc;
}

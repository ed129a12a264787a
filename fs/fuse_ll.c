/*
 * fuse_ll.c - the FUSE low-level adapter.
 *
 * A thin translator in the manner of libfuse's passthrough_ll.c: one
 * static fuse_lowlevel_ops table, every request answered exactly once,
 * errno sign flipped here and nowhere else, no lock held across a
 * fuse_reply_*.  Kernel invalidations requested by the fs core go through
 * a bounded queue to a separate thread, because notifying from inside a
 * request handler can deadlock against the kernel.
 *
 * Locks (flock, fcntl) are not implemented here on purpose: the kernel
 * then keeps them itself, local to this node (docs/SEMANTICS.md).
 */
#define FUSE_USE_VERSION 312
#include "fs/fuse_ll.h"

#include "base/log.h"
#include "base/util.h"
#include "fs/ctl.h"
#include "fs/stats.h"
#include "fs/virt.h"
#include "fs/vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_IO (1u << 20)

/* One mount per process: the ops table has no per-session user data
 * worth threading through every call. */
static struct mpfs_fs *g_fs;
static double g_neg_ttl;
/* The control socket (fs/ctl.c); its path is the root's "user.mpfs.ctl"
 * xattr, so clients find it from the mount point. */
static struct mpfs_ctl *g_ctl;
static struct mpfs_metrics *g_metrics;
#define CTL_XATTR "user.mpfs.ctl"

/* ------------------------------------------------------- invalidations */

struct inval {
    uint64_t ino;    /* inode, or parent when name is set */
    char *name;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct inval q[4096];
    size_t head, n;
    int stop;
    struct fuse_session *se;
    pthread_t thread;
    int started;
} inv = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void inval_push(uint64_t ino, const char *name)
{
    pthread_mutex_lock(&inv.lock);
    if (inv.n < MPFS_ARRAY_SIZE(inv.q) && !inv.stop) {
        struct inval *it = &inv.q[(inv.head + inv.n) % MPFS_ARRAY_SIZE(inv.q)];
        it->ino = ino;
        it->name = name ? mpfs_xstrdup(name) : NULL;
        inv.n++;
        pthread_cond_signal(&inv.cond);
    }
    pthread_mutex_unlock(&inv.lock);
}

static void notify_inode(void *ctx, uint64_t ino)
{
    (void)ctx;
    inval_push(ino, NULL);
}

static void notify_entry(void *ctx, uint64_t parent, const char *name)
{
    (void)ctx;
    inval_push(parent, name);
}

/* Attributes only (offset -1): no page is locked, so unlike a page
 * invalidation this is done at once, from the thread answering a read. */
static void notify_attr(void *ctx, uint64_t ino)
{
    (void)ctx;
    int rc = fuse_lowlevel_notify_inval_inode(inv.se, ino, -1, 0);
    if (rc < 0 && rc != -ENOENT)
        mpfs_debug("kernel invalidation of the attributes of %llu failed: %s",
                   (unsigned long long)ino, strerror(-rc));
}

static void *inval_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&inv.lock);
    for (;;) {
        while (inv.n == 0 && !inv.stop)
            pthread_cond_wait(&inv.cond, &inv.lock);
        if (inv.stop)
            break;
        struct inval it = inv.q[inv.head];
        inv.head = (inv.head + 1) % MPFS_ARRAY_SIZE(inv.q);
        inv.n--;
        pthread_mutex_unlock(&inv.lock);
        int rc;
        if (it.name)
            rc = fuse_lowlevel_notify_inval_entry(inv.se, it.ino, it.name, strlen(it.name));
        else
            rc = fuse_lowlevel_notify_inval_inode(inv.se, it.ino, 0, 0);
        if (rc < 0 && rc != -ENOENT)
            mpfs_debug("kernel invalidation of %llu failed: %s", (unsigned long long)it.ino,
                       strerror(-rc));
        free(it.name);
        pthread_mutex_lock(&inv.lock);
    }
    while (inv.n > 0) {
        free(inv.q[inv.head].name);
        inv.head = (inv.head + 1) % MPFS_ARRAY_SIZE(inv.q);
        inv.n--;
    }
    pthread_mutex_unlock(&inv.lock);
    return NULL;
}

/* ------------------------------------------------------------ replies */

/* Set by reply_err when a request fails, read by the timing wrappers
 * (one request per worker thread at a time). */
static __thread int t_failed;

static void reply_err(fuse_req_t req, int rc)
{
    if (rc != 0)
        t_failed = 1;
    fuse_reply_err(req, rc < 0 ? -rc : rc);
}

static void to_fuse_entry(const struct mpfs_entry *e, struct fuse_entry_param *fe)
{
    memset(fe, 0, sizeof(*fe));
    fe->ino = e->ino;
    fe->generation = 1;
    fe->attr = e->st;
    fe->attr_timeout = e->attr_timeout;
    fe->entry_timeout = e->entry_timeout;
}

static void reply_entry_or_err(fuse_req_t req, int rc, const struct mpfs_entry *e)
{
    if (rc < 0) {
        reply_err(req, rc);
        return;
    }
    struct fuse_entry_param fe;
    to_fuse_entry(e, &fe);
    if (fuse_reply_entry(req, &fe) != 0)
        mpfs_vfs_forget(g_fs, e->ino, 1); /* the kernel never got it */
}

/* The credentials of the process behind req (new entries are its own). */
static struct mpfs_caller caller_of(fuse_req_t req)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct mpfs_caller c = {.uid = ctx->uid, .gid = ctx->gid};
    return c;
}

static struct mpfs_handle *H(struct fuse_file_info *fi)
{
    return (struct mpfs_handle *)(uintptr_t)fi->fh;
}

/* ------------------------------------------------------------- ops */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    conn->max_write = MAX_IO;
    conn->max_readahead = MAX_IO;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    /* ls -l wants attributes: always use readdirplus */
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
        conn->want |= FUSE_CAP_PARALLEL_DIROPS;
    if (conn->capable & FUSE_CAP_ASYNC_READ)
        conn->want |= FUSE_CAP_ASYNC_READ;
    /* locks stay in the kernel: local to this node */
    conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

/* ------------------------------------------------ the .mpfs directory */

/* Requests for the virtual inodes of fs/virt.c.  An open virtual file's
 * fh points to its rendered content, so every ino-taking handler below
 * that would use H(fi) checks mpfs_virt_is() first. */
struct vopen {
    char *data;
    size_t len;
    void *state; /* a write-only file's per-handle state */
};

static void virt_reply_entry(fuse_req_t req, uint64_t ino)
{
    struct fuse_entry_param fe;
    memset(&fe, 0, sizeof(fe));
    fe.ino = ino;
    mpfs_virt_stat(ino, getuid(), getgid(), &fe.attr);
    fe.attr_timeout = 1;
    fe.entry_timeout = 1;
    fuse_reply_entry(req, &fe);
}

static void virt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    const struct mpfs_virt_file *f = mpfs_virt_by_ino(ino);
    int acc = fi->flags & O_ACCMODE;
    if (!f) {
        reply_err(req, -EISDIR);
        return;
    }
    if ((acc != O_RDONLY && !f->write) || (acc != O_WRONLY && !f->render)) {
        reply_err(req, -EACCES);
        return;
    }
    struct vopen *v = mpfs_xcalloc(1, sizeof(*v));
    if (acc == O_RDONLY)
        v->data = mpfs_virt_render(g_fs, ino, &v->len);
    if (acc == O_WRONLY && f->open) {
        int rc = f->open(g_fs, (int)fuse_req_ctx(req)->pid, &v->state);
        if (rc < 0) {
            free(v);
            reply_err(req, rc);
            return;
        }
    }
    fi->fh = (uint64_t)(uintptr_t)v;
    fi->direct_io = 1; /* the size is not known before the content is */
    if (fuse_reply_open(req, fi) != 0) {
        if (v->state && f->release)
            f->release(g_fs, v->state);
        free(v->data);
        free(v);
    }
}

static void virt_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct vopen *v = (struct vopen *)(uintptr_t)fi->fh;
    if (!v->data || (uint64_t)off >= v->len) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    /* Reply from a copy: once the kernel has the reply, the reader may
     * close and another worker's virt_release frees v->data while this
     * thread is still returning from writev (AddressSanitizer checks the
     * iovec after the syscall and reported exactly that as a
     * use-after-free, killing a sanitized daemon in CI). */
    size_t n = MPFS_MIN(size, v->len - (size_t)off);
    char *copy = mpfs_xmalloc(n);
    memcpy(copy, v->data + off, n);
    fuse_reply_buf(req, copy, n);
    free(copy);
}

static void virt_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
                       struct fuse_file_info *fi)
{
    const struct mpfs_virt_file *f = mpfs_virt_by_ino(ino);
    struct vopen *v = (struct vopen *)(uintptr_t)fi->fh;
    int rc = f && f->write ? f->write(g_fs, v->state, buf, size) : -EBADF;
    if (rc < 0)
        reply_err(req, rc);
    else
        fuse_reply_write(req, size);
}

static void virt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    const struct mpfs_virt_file *f = mpfs_virt_by_ino(ino);
    struct vopen *v = (struct vopen *)(uintptr_t)fi->fh;
    if (v) {
        if (v->state && f && f->release)
            f->release(g_fs, v->state);
        free(v->data);
        free(v);
    }
    reply_err(req, 0);
}

static void virt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
    char *buf = mpfs_xmalloc(size);
    size_t used = 0;
    for (;; off++) {
        const struct mpfs_virt_file *f = off >= 2 ? mpfs_virt_at((size_t)(off - 2)) : NULL;
        if (off >= 2 && !f)
            break;
        const char *name = off == 0 ? "." : off == 1 ? ".." : f->name;
        uint64_t vino = off == 0 ? ino : off == 1 ? FUSE_ROOT_ID : mpfs_virt_ino((size_t)(off - 2));
        struct fuse_entry_param fe;
        memset(&fe, 0, sizeof(fe));
        if (off >= 2) {
            mpfs_virt_stat(vino, getuid(), getgid(), &fe.attr);
            fe.ino = vino;
            fe.attr_timeout = fe.entry_timeout = 1;
        } else {
            fe.attr.st_ino = vino;
            fe.attr.st_mode = S_IFDIR;
        }
        size_t need;
        if (plus && off >= 2)
            need = fuse_add_direntry_plus(req, buf + used, size - used, name, &fe, off + 1);
        else if (plus)
            need = fuse_add_direntry_plus(req, buf + used, size - used, name,
                                          &(struct fuse_entry_param){.attr = fe.attr}, off + 1);
        else
            need = fuse_add_direntry(req, buf + used, size - used, name, &fe.attr, off + 1);
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (parent == FUSE_ROOT_ID && strcmp(name, MPFS_VIRT_DIR_NAME) == 0) {
        virt_reply_entry(req, MPFS_VIRT_DIR_INO);
        return;
    }
    if (parent == MPFS_VIRT_DIR_INO) {
        uint64_t vino = mpfs_virt_lookup(name);
        if (vino)
            virt_reply_entry(req, vino);
        else
            reply_err(req, -ENOENT);
        return;
    }
    struct mpfs_entry e;
    int rc = mpfs_vfs_lookup(g_fs, parent, name, &e);
    if (rc == -ENOENT) {
        /* a negative entry, cached by the kernel for neg_ttl */
        struct fuse_entry_param fe;
        memset(&fe, 0, sizeof(fe));
        fe.entry_timeout = g_neg_ttl;
        fuse_reply_entry(req, &fe);
        return;
    }
    reply_entry_or_err(req, rc, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    if (mpfs_virt_is(ino)) {
        fuse_reply_none(req); /* constant inodes: nothing to count */
        return;
    }
    mpfs_vfs_forget(g_fs, ino, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        if (!mpfs_virt_is(forgets[i].ino))
            mpfs_vfs_forget(g_fs, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (mpfs_virt_is(ino)) {
        struct stat vst;
        mpfs_virt_stat(ino, getuid(), getgid(), &vst);
        fuse_reply_attr(req, &vst, 1);
        return;
    }
    (void)fi;
    struct stat st;
    double timeout;
    int rc = mpfs_vfs_getattr(g_fs, ino, &st, &timeout);
    if (rc < 0)
        reply_err(req, rc);
    else
        fuse_reply_attr(req, &st, timeout);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    if (mpfs_virt_is(ino)) {
        /* O_TRUNC on a write-only control file (`>` in a shell): it is
         * always empty, so truncating it to 0 is a no-op */
        const struct mpfs_virt_file *vf = mpfs_virt_by_ino(ino);
        int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                    FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
        if (vf && vf->write && (to_set & ~times) == FUSE_SET_ATTR_SIZE && attr->st_size == 0) {
            struct stat vst;
            mpfs_virt_stat(ino, getuid(), getgid(), &vst);
            fuse_reply_attr(req, &vst, 1);
            return;
        }
        reply_err(req, -EPERM);
        return;
    }
    int set = 0;
    if (to_set & FUSE_SET_ATTR_MODE)
        set |= MPFS_SETATTR_MODE;
    if (to_set & FUSE_SET_ATTR_UID)
        set |= MPFS_SETATTR_UID;
    if (to_set & FUSE_SET_ATTR_GID)
        set |= MPFS_SETATTR_GID;
    if (to_set & FUSE_SET_ATTR_SIZE)
        set |= MPFS_SETATTR_SIZE;
    if (to_set & FUSE_SET_ATTR_ATIME)
        set |= MPFS_SETATTR_ATIME;
    if (to_set & FUSE_SET_ATTR_MTIME)
        set |= MPFS_SETATTR_MTIME;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
        set |= MPFS_SETATTR_ATIME_NOW;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        set |= MPFS_SETATTR_MTIME_NOW;
    struct stat st;
    double timeout;
    int rc = mpfs_vfs_setattr(g_fs, ino, fi ? H(fi) : NULL, attr, set, &st, &timeout);
    if (rc < 0)
        reply_err(req, rc);
    else
        fuse_reply_attr(req, &st, timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    char buf[4096];
    ssize_t rc = mpfs_vfs_readlink(g_fs, ino, buf, sizeof(buf));
    if (rc < 0)
        reply_err(req, (int)rc);
    else
        fuse_reply_readlink(req, buf);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     dev_t rdev)
{
    struct mpfs_caller c = caller_of(req);
    struct mpfs_entry e;
    if (!S_ISREG(mode)) {
        int rc = mpfs_vfs_mknod(g_fs, parent, name, mode, rdev, &c, &e);
        reply_entry_or_err(req, rc, &e);
        return;
    }
    struct mpfs_handle *h = NULL;
    int rc = mpfs_vfs_create(g_fs, parent, name, mode, O_WRONLY, &c, &e, &h);
    if (rc == 0) {
        rc = mpfs_vfs_flush(g_fs, h);
        mpfs_vfs_release(g_fs, h);
        if (rc < 0)
            mpfs_vfs_forget(g_fs, e.ino, 1);
    }
    reply_entry_or_err(req, rc, &e);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct mpfs_caller c = caller_of(req);
    struct mpfs_entry e;
    int rc = mpfs_vfs_mkdir(g_fs, parent, name, mode, &c, &e);
    reply_entry_or_err(req, rc, &e);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    reply_err(req, mpfs_vfs_unlink(g_fs, parent, name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    reply_err(req, mpfs_vfs_rmdir(g_fs, parent, name));
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    struct mpfs_caller c = caller_of(req);
    struct mpfs_entry e;
    int rc = mpfs_vfs_symlink(g_fs, link, parent, name, &c, &e);
    reply_entry_or_err(req, rc, &e);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
    unsigned f = 0;
    if (flags & RENAME_NOREPLACE)
        f |= 1u << 0;
    if (flags & RENAME_EXCHANGE)
        f |= 1u << 1;
    if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
        reply_err(req, -EINVAL);
        return;
    }
    reply_err(req, mpfs_vfs_rename(g_fs, parent, name, newparent, newname, f));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    struct mpfs_entry e;
    int rc = mpfs_vfs_link(g_fs, ino, newparent, newname, &e);
    reply_entry_or_err(req, rc, &e);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (mpfs_virt_is(ino)) {
        virt_open(req, ino, fi);
        return;
    }
    struct mpfs_handle *h = NULL;
    int keep = 0;
    int rc = mpfs_vfs_open(g_fs, ino, fi->flags, &h, &keep);
    if (rc < 0) {
        reply_err(req, rc);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->keep_cache = keep && !(fi->flags & O_TRUNC);
    fi->direct_io = mpfs_vfs_handle_direct_io(h);
    if (fuse_reply_open(req, fi) != 0)
        mpfs_vfs_release(g_fs, h);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct mpfs_caller c = caller_of(req);
    struct mpfs_entry e;
    struct mpfs_handle *h = NULL;
    int rc = mpfs_vfs_create(g_fs, parent, name, mode, fi->flags, &c, &e, &h);
    if (rc < 0) {
        reply_err(req, rc);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    struct fuse_entry_param fe;
    to_fuse_entry(&e, &fe);
    if (fuse_reply_create(req, &fe, fi) != 0) {
        mpfs_vfs_release(g_fs, h);
        mpfs_vfs_forget(g_fs, e.ino, 1);
    }
}

/* Read buffers: a shared pool, not one per worker thread.  libfuse
 * starts and reaps worker threads as load comes and goes, and a
 * thread-local buffer leaked 1 MiB at every reap (RSS 873 -> 1,997 MiB
 * over 90 bursts of 24 readers).  The pool keeps at most as many free
 * buffers as there can be workers, so the read path still does not
 * allocate once warm, and its memory is the budget's `fixed` share. */
#define READ_POOL_MAX 64
static pthread_mutex_t rpool_lock = PTHREAD_MUTEX_INITIALIZER;
static char *rpool[READ_POOL_MAX];
static int rpool_n, rpool_cap = 16;

static char *rbuf_get(void)
{
    char *b = NULL;
    pthread_mutex_lock(&rpool_lock);
    if (rpool_n > 0)
        b = rpool[--rpool_n];
    pthread_mutex_unlock(&rpool_lock);
    return b ? b : mpfs_xmalloc(MAX_IO);
}

static void rbuf_put(char *b)
{
    pthread_mutex_lock(&rpool_lock);
    if (rpool_n < rpool_cap) {
        rpool[rpool_n++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&rpool_lock);
    free(b);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    if (mpfs_virt_is(ino)) {
        virt_read(req, size, off, fi);
        return;
    }
    char *buf = rbuf_get();
    if (size > MAX_IO)
        size = MAX_IO;
    ssize_t rc = mpfs_vfs_read(g_fs, H(fi), buf, size, off);
    if (rc < 0) {
        reply_err(req, (int)rc);
    } else {
        mpfs_stats_fuse_bytes(0, (uint64_t)rc);
        fuse_reply_buf(req, buf, (size_t)rc);
    }
    rbuf_put(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    if (mpfs_virt_is(ino)) {
        virt_write(req, ino, buf, size, fi);
        return;
    }
    ssize_t rc = mpfs_vfs_write(g_fs, H(fi), buf, size, off);
    if (rc < 0) {
        reply_err(req, (int)rc);
    } else {
        mpfs_stats_fuse_bytes(1, (uint64_t)rc);
        fuse_reply_write(req, (size_t)rc);
    }
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (mpfs_virt_is(ino)) {
        reply_err(req, 0);
        return;
    }
    reply_err(req, mpfs_vfs_flush(g_fs, H(fi)));
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (mpfs_virt_is(ino)) {
        virt_release(req, ino, fi);
        return;
    }
    mpfs_vfs_release(g_fs, H(fi));
    reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    if (mpfs_virt_is(ino)) {
        reply_err(req, 0);
        return;
    }
    (void)datasync;
    reply_err(req, mpfs_vfs_fsync(g_fs, H(fi)));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (mpfs_virt_is(ino)) {
        fi->fh = 0;
        fuse_reply_open(req, fi);
        return;
    }
    struct mpfs_dirhandle *d = NULL;
    int rc = mpfs_vfs_opendir(g_fs, ino, &d);
    if (rc < 0) {
        reply_err(req, rc);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    if (fuse_reply_open(req, fi) != 0)
        mpfs_vfs_releasedir(g_fs, d);
}

/* Offsets: 0 = start, 1 = after ".", 2 = after "..", 2+k = after entry k-1. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi, int plus)
{
    if (mpfs_virt_is(ino)) {
        virt_readdir(req, ino, size, off, plus);
        return;
    }
    struct mpfs_dirhandle *d = (struct mpfs_dirhandle *)(uintptr_t)fi->fh;
    char *buf = mpfs_xmalloc(size);
    size_t used = 0;
    for (;;) {
        struct mpfs_entry e;
        const char *name;
        struct stat st;
        memset(&st, 0, sizeof(st));
        size_t need;
        if (off < 2) {
            name = off == 0 ? "." : "..";
            /* glibc drops entries with inode 0: ".." needs its real one */
            st.st_ino = off == 0 ? ino : mpfs_vfs_dir_parent(d);
            st.st_mode = S_IFDIR;
            if (plus) {
                struct fuse_entry_param fe;
                memset(&fe, 0, sizeof(fe));
                fe.attr = st;
                need = fuse_add_direntry_plus(req, buf + used, size - used, name, &fe, off + 1);
            } else {
                need = fuse_add_direntry(req, buf + used, size - used, name, &st, off + 1);
            }
        } else {
            if (!mpfs_vfs_dir_entry(g_fs, d, (size_t)(off - 2), plus, &name, &e))
                break;
            if (plus) {
                struct fuse_entry_param fe;
                to_fuse_entry(&e, &fe);
                need = fuse_add_direntry_plus(req, buf + used, size - used, name, &fe, off + 1);
            } else {
                need = fuse_add_direntry(req, buf + used, size - used, name, &e.st, off + 1);
            }
            if (need > size - used && plus)
                mpfs_vfs_dir_unref(g_fs, e.ino);
        }
        if (need > size - used)
            break;
        used += need;
        off++;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (mpfs_virt_is(ino)) {
        reply_err(req, 0);
        return;
    }
    mpfs_vfs_releasedir(g_fs, (struct mpfs_dirhandle *)(uintptr_t)fi->fh);
    reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino;
    (void)datasync;
    (void)fi;
    reply_err(req, 0); /* directory changes are applied synchronously */
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    struct statvfs st;
    int rc = mpfs_vfs_statfs(g_fs, &st);
    if (rc < 0)
        reply_err(req, rc);
    else
        fuse_reply_statfs(req, &st);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    reply_err(req, mpfs_vfs_setxattr(g_fs, ino, name, value, size, flags));
}

static void reply_xattr(fuse_req_t req, ssize_t rc, const char *buf, size_t size)
{
    if (rc < 0)
        reply_err(req, (int)rc);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)rc);
    else
        fuse_reply_buf(req, buf, (size_t)rc);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    char *buf = size ? mpfs_xmalloc(size) : NULL;
    ssize_t rc;
    const char *ctl = mpfs_ctl_path(g_ctl);
    if (ino == FUSE_ROOT_ID && ctl && strcmp(name, CTL_XATTR) == 0) {
        rc = (ssize_t)strlen(ctl);
        if (size && (size_t)rc > size)
            rc = -ERANGE;
        else if (size)
            memcpy(buf, ctl, (size_t)rc);
    } else {
        rc = mpfs_vfs_getxattr(g_fs, ino, name, buf, size);
    }
    reply_xattr(req, rc, buf, size);
    free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    char *buf = size ? mpfs_xmalloc(size) : NULL;
    ssize_t rc = mpfs_vfs_listxattr(g_fs, ino, buf, size);
    reply_xattr(req, rc, buf, size);
    free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    reply_err(req, mpfs_vfs_removexattr(g_fs, ino, name));
}

/* ------------------------------------------------------------ timing */

/* Each handler answers its request before it returns (the vfs is
 * synchronous), so timing the call times the request. */
#define TIMED(op, fop, params, ...)                                            \
    static void t_##op params                                                  \
    {                                                                          \
        int64_t t0 = mpfs_now_ns();                                            \
        t_failed = 0;                                                          \
        op_##op(__VA_ARGS__);                                                  \
        mpfs_stats_fuse(fop, mpfs_now_ns() - t0, t_failed);                    \
    }

typedef struct fuse_file_info ffi;
TIMED(lookup, MPFS_FOP_LOOKUP, (fuse_req_t r, fuse_ino_t p, const char *n), r, p, n)
TIMED(getattr, MPFS_FOP_GETATTR, (fuse_req_t r, fuse_ino_t i, ffi *fi), r, i, fi)
TIMED(setattr, MPFS_FOP_SETATTR, (fuse_req_t r, fuse_ino_t i, struct stat *a, int t, ffi *fi),
      r, i, a, t, fi)
TIMED(readlink, MPFS_FOP_READLINK, (fuse_req_t r, fuse_ino_t i), r, i)
TIMED(mknod, MPFS_FOP_MKNOD, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, dev_t d),
      r, p, n, m, d)
TIMED(mkdir, MPFS_FOP_MKDIR, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m), r, p, n, m)
TIMED(unlink, MPFS_FOP_UNLINK, (fuse_req_t r, fuse_ino_t p, const char *n), r, p, n)
TIMED(rmdir, MPFS_FOP_RMDIR, (fuse_req_t r, fuse_ino_t p, const char *n), r, p, n)
TIMED(symlink, MPFS_FOP_SYMLINK, (fuse_req_t r, const char *l, fuse_ino_t p, const char *n),
      r, l, p, n)
TIMED(rename, MPFS_FOP_RENAME,
      (fuse_req_t r, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn, unsigned f),
      r, p, n, np, nn, f)
TIMED(link, MPFS_FOP_LINK, (fuse_req_t r, fuse_ino_t i, fuse_ino_t np, const char *nn),
      r, i, np, nn)
TIMED(open, MPFS_FOP_OPEN, (fuse_req_t r, fuse_ino_t i, ffi *fi), r, i, fi)
TIMED(create, MPFS_FOP_CREATE, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, ffi *fi),
      r, p, n, m, fi)
TIMED(read, MPFS_FOP_READ, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, ffi *fi),
      r, i, s, o, fi)
TIMED(write, MPFS_FOP_WRITE,
      (fuse_req_t r, fuse_ino_t i, const char *b, size_t s, off_t o, ffi *fi), r, i, b, s, o, fi)
TIMED(flush, MPFS_FOP_FLUSH, (fuse_req_t r, fuse_ino_t i, ffi *fi), r, i, fi)
TIMED(release, MPFS_FOP_RELEASE, (fuse_req_t r, fuse_ino_t i, ffi *fi), r, i, fi)
TIMED(fsync, MPFS_FOP_FSYNC, (fuse_req_t r, fuse_ino_t i, int d, ffi *fi), r, i, d, fi)
TIMED(opendir, MPFS_FOP_OPENDIR, (fuse_req_t r, fuse_ino_t i, ffi *fi), r, i, fi)
TIMED(readdir, MPFS_FOP_READDIR, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, ffi *fi),
      r, i, s, o, fi)
TIMED(readdirplus, MPFS_FOP_READDIR, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, ffi *fi),
      r, i, s, o, fi)
TIMED(releasedir, MPFS_FOP_RELEASEDIR, (fuse_req_t r, fuse_ino_t i, ffi *fi), r, i, fi)
TIMED(statfs, MPFS_FOP_STATFS, (fuse_req_t r, fuse_ino_t i), r, i)
TIMED(setxattr, MPFS_FOP_XATTR,
      (fuse_req_t r, fuse_ino_t i, const char *n, const char *v, size_t s, int f),
      r, i, n, v, s, f)
TIMED(getxattr, MPFS_FOP_XATTR, (fuse_req_t r, fuse_ino_t i, const char *n, size_t s), r, i, n, s)
TIMED(listxattr, MPFS_FOP_XATTR, (fuse_req_t r, fuse_ino_t i, size_t s), r, i, s)
TIMED(removexattr, MPFS_FOP_XATTR, (fuse_req_t r, fuse_ino_t i, const char *n), r, i, n)

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = t_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = t_getattr,
    .setattr = t_setattr,
    .readlink = t_readlink,
    .mknod = t_mknod,
    .mkdir = t_mkdir,
    .unlink = t_unlink,
    .rmdir = t_rmdir,
    .symlink = t_symlink,
    .rename = t_rename,
    .link = t_link,
    .open = t_open,
    .create = t_create,
    .read = t_read,
    .write = t_write,
    .flush = t_flush,
    .release = t_release,
    .fsync = t_fsync,
    .opendir = t_opendir,
    .readdir = t_readdir,
    .readdirplus = t_readdirplus,
    .releasedir = t_releasedir,
    .fsyncdir = op_fsyncdir,
    .statfs = t_statfs,
    .setxattr = t_setxattr,
    .getxattr = t_getxattr,
    .listxattr = t_listxattr,
    .removexattr = t_removexattr,
};

/* ------------------------------------------------------------- running */

static void report(int fd, const char *msg)
{
    if (fd < 0)
        return;
    size_t len = strlen(msg);
    if (write(fd, msg, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        return;
}

/* Is path already a mount point?  (FUSE would happily stack on it.) */
static int is_mounted(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return 0;
    char line[8192];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        char mp[4096];
        /* field 5 is the mount point, with spaces escaped as \040 */
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1) {
            char unesc[4096];
            size_t j = 0;
            for (size_t i = 0; mp[i] && j < sizeof(unesc) - 1; i++) {
                if (mp[i] == '\\' && mp[i + 1] && mp[i + 2] && mp[i + 3]) {
                    unesc[j++] = (char)strtol((char[]){mp[i + 1], mp[i + 2], mp[i + 3], 0}, NULL, 8);
                    i += 3;
                } else {
                    unesc[j++] = mp[i];
                }
            }
            unesc[j] = '\0';
            found = strcmp(unesc, path) == 0;
        }
    }
    fclose(f);
    return found;
}

int mpfs_fuse_run(const struct mpfs_config *cfg, const char *mountpoint, int status_fd,
                  void (*after_mount)(const struct mpfs_config *cfg))
{
    char err[1024] = "";
    char *mp = realpath(mountpoint, NULL);
    struct stat st;
    if (!mp || stat(mp, &st) < 0) {
        snprintf(err, sizeof(err), "mount point %s: %s", mountpoint, strerror(errno));
        goto fail_msg;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, sizeof(err), "mount point %s is not a directory", mountpoint);
        goto fail_msg;
    }
    if (is_mounted(mp)) {
        snprintf(err, sizeof(err), "mount point %s is busy: something is already mounted "
                 "there (umount it first)", mp);
        goto fail_msg;
    }

    struct mpfs_fs *fs = NULL;
    int rc = mpfs_fs_new(cfg, &fs, err, sizeof(err));
    if (rc < 0)
        goto fail_msg;
    g_fs = fs;
    g_neg_ttl = cfg->neg_ttl;

    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    fuse_opt_add_arg(&args, "mpfs");
    char *fsname = mpfs_xasprintf("-ofsname=%s,subtype=mpfs,default_permissions", cfg->fsname);
    /* fsname must not contain commas (option syntax) */
    for (char *p = fsname + 9; *p && strncmp(p, ",subtype", 8); p++)
        if (*p == ',')
            *p = '_';
    fuse_opt_add_arg(&args, fsname);
    free(fsname);
    if (cfg->allow_other)
        fuse_opt_add_arg(&args, "-oallow_other");
    if (cfg->read_only)
        fuse_opt_add_arg(&args, "-oro");
    if (cfg->debug_fuse)
        fuse_opt_add_arg(&args, "-d");

    struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
    fuse_opt_free_args(&args);
    if (!se) {
        snprintf(err, sizeof(err), "cannot create the FUSE session (is /dev/fuse usable?)");
        mpfs_fs_free(fs);
        goto fail_msg;
    }
    if (fuse_set_signal_handlers(se) != 0) {
        snprintf(err, sizeof(err), "cannot install signal handlers");
        fuse_session_destroy(se);
        mpfs_fs_free(fs);
        goto fail_msg;
    }
    if (fuse_session_mount(se, mp) != 0) {
        snprintf(err, sizeof(err), "cannot mount at %s (see the message above; is the "
                 "directory in use or are FUSE mounts allowed?)", mp);
        fuse_remove_signal_handlers(se);
        fuse_session_destroy(se);
        mpfs_fs_free(fs);
        goto fail_msg;
    }

    inv.se = se;
    pthread_create(&inv.thread, NULL, inval_thread, NULL);
    inv.started = 1;
    struct mpfs_notifier n = {.ctx = NULL, .inval_inode = notify_inode,
                              .inval_entry = notify_entry, .inval_attr = notify_attr};
    mpfs_fs_start(fs, &n);
    char cerr[512];
    if (mpfs_ctl_start(fs, mp, &g_ctl, cerr, sizeof(cerr)) < 0)
        mpfs_warn("%s; mpfs ctl/stats will not work for this mount", cerr);
    if (cfg->metrics_port > 0 &&
        mpfs_metrics_start(fs, cfg->metrics_port, &g_metrics, cerr, sizeof(cerr)) < 0)
        mpfs_warn("%s; no Prometheus metrics for this mount", cerr);
    mpfs_info("mounted %s at %s (mode %s)", cfg->fsname, mp, cfg->mode);
    report(status_fd, "OK");
    if (status_fd >= 0)
        close(status_fd);
    if (after_mount)
        after_mount(cfg);

    struct fuse_loop_config *lc = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(lc, (unsigned)cfg->threads);
    rpool_cap = MPFS_MIN(cfg->threads, READ_POOL_MAX);
    fuse_loop_cfg_set_idle_threads(lc, (unsigned)MPFS_MIN(cfg->threads, 8));
    int lrc = fuse_session_loop_mt(se, lc);
    fuse_loop_cfg_destroy(lc);

    mpfs_info("unmounting %s", mp);
    mpfs_ctl_stop(g_ctl);
    g_ctl = NULL;
    mpfs_metrics_stop(g_metrics);
    g_metrics = NULL;
    pthread_mutex_lock(&inv.lock);
    inv.stop = 1;
    pthread_cond_signal(&inv.cond);
    pthread_mutex_unlock(&inv.lock);
    pthread_join(inv.thread, NULL);
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    mpfs_fs_free(fs);
    g_fs = NULL;
    free(mp);
    return lrc < 0 ? 1 : 0;

fail_msg:
    fprintf(stderr, "mpfs: %s\n", err);
    report(status_fd, err);
    free(mp);
    return 1;
}

/*
 * fs_fixture.c - see fs_fixture.h.
 */
#include "tests/fs/fs_fixture.h"

#include "backends/fault.h"

#include "backends/mem.h"
#include "base/check.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The fs takes ownership of its backends and frees them on unmount; a
 * "remount" must find the same data.  So the fs gets a thin wrapper that
 * forwards every slot to the fixture's in-memory store and frees only
 * itself: the store lives as long as the fixture. */
struct nofree {
    struct mpfs_backend base;
    struct mpfs_backend *inner;
};

#define INNER(b) (((struct nofree *)(b))->inner)
static int nf_stat(struct mpfs_backend *b, const char *p, struct mpfs_attr *o) { return INNER(b)->ops->stat(INNER(b), p, o); }
static int nf_list(struct mpfs_backend *b, const char *d, mpfs_list_fn fn, void *a) { return INNER(b)->ops->list(INNER(b), d, fn, a); }
static ssize_t nf_read(struct mpfs_backend *b, const char *p, const char *v, void *buf, size_t l, uint64_t o) { return INNER(b)->ops->read(INNER(b), p, v, buf, l, o); }
static int nf_put(struct mpfs_backend *b, const char *p, int fd, uint64_t s, const struct mpfs_put_opts *op, struct mpfs_attr *o) { return INNER(b)->ops->put(INNER(b), p, fd, s, op, o); }
static ssize_t nf_pwrite(struct mpfs_backend *b, const char *p, const void *buf, size_t l, uint64_t o) { return mpfs_backend_pwrite(INNER(b), p, buf, l, o); }
static int nf_remove(struct mpfs_backend *b, const char *p) { return INNER(b)->ops->remove(INNER(b), p); }
static int nf_rename(struct mpfs_backend *b, const char *f, const char *t, unsigned fl) { return mpfs_backend_rename(INNER(b), f, t, fl); }
static int nf_mkdir(struct mpfs_backend *b, const char *p, uint32_t m) { return INNER(b)->ops->mkdir(INNER(b), p, m); }
static int nf_rmdir(struct mpfs_backend *b, const char *p) { return INNER(b)->ops->rmdir(INNER(b), p); }
static int nf_symlink(struct mpfs_backend *b, const char *t, const char *p) { return mpfs_backend_symlink(INNER(b), t, p); }
static ssize_t nf_readlink(struct mpfs_backend *b, const char *p, char *buf, size_t s) { return mpfs_backend_readlink(INNER(b), p, buf, s); }
static int nf_link(struct mpfs_backend *b, const char *e, const char *n) { return mpfs_backend_link(INNER(b), e, n); }
static int nf_setattr(struct mpfs_backend *b, const char *p, const struct mpfs_attr *a, uint32_t s, struct mpfs_attr *o) { return mpfs_backend_setattr(INNER(b), p, a, s, o); }
static ssize_t nf_getx(struct mpfs_backend *b, const char *p, const char *n, void *buf, size_t s) { return mpfs_backend_getxattr(INNER(b), p, n, buf, s); }
static int nf_setx(struct mpfs_backend *b, const char *p, const char *n, const void *v, size_t s) { return mpfs_backend_setxattr(INNER(b), p, n, v, s); }
static ssize_t nf_listx(struct mpfs_backend *b, const char *p, char *buf, size_t s) { return mpfs_backend_listxattr(INNER(b), p, buf, s); }
static int nf_rmx(struct mpfs_backend *b, const char *p, const char *n) { return mpfs_backend_removexattr(INNER(b), p, n); }
static int nf_statfs(struct mpfs_backend *b, struct statvfs *o) { return mpfs_backend_statfs(INNER(b), o); }
static int nf_list_tree(struct mpfs_backend *b, const char *d, mpfs_list_fn fn, void *a) { return mpfs_backend_list_tree(INNER(b), d, fn, a); }
static ssize_t nf_pwrite_if(struct mpfs_backend *b, const char *p, const void *buf, size_t l, uint64_t o, const char *e, struct mpfs_attr *out) { return mpfs_backend_pwrite_if(INNER(b), p, buf, l, o, e, out); }
static int nf_overwritten(struct mpfs_backend *b, const char *p, const char *ours, const char *base, char *v, size_t vl) { return mpfs_backend_overwritten(INNER(b), p, ours, base, v, vl); }
static int nf_copy_version(struct mpfs_backend *b, const char *p, const char *id, const char *to) { return mpfs_backend_copy_version(INNER(b), p, id, to); }
static int nf_mknod(struct mpfs_backend *b, const char *p, uint32_t m, uint64_t r) { return mpfs_backend_mknod(INNER(b), p, m, r); }
static int nf_stat_read(struct mpfs_backend *b, const char *p, struct mpfs_attr *o, void *buf, size_t l, size_t *g) { return mpfs_backend_stat_read(INNER(b), p, o, buf, l, g); }
static void nf_destroy(struct mpfs_backend *b) { free(b); }

static const struct mpfs_backend_ops nofree_ops = {
    .version = MPFS_BACKEND_OPS_VERSION,
    .stat = nf_stat, .list = nf_list, .read = nf_read, .put = nf_put, .pwrite = nf_pwrite,
    .remove = nf_remove, .rename = nf_rename, .mkdir = nf_mkdir, .rmdir = nf_rmdir,
    .symlink = nf_symlink, .readlink = nf_readlink, .link = nf_link, .setattr = nf_setattr,
    .getxattr = nf_getx, .setxattr = nf_setx, .listxattr = nf_listx, .removexattr = nf_rmx,
    .statfs = nf_statfs, .destroy = nf_destroy, .list_tree = nf_list_tree,
    .pwrite_if = nf_pwrite_if, .overwritten = nf_overwritten, .copy_version = nf_copy_version,
    .mknod = nf_mknod, .stat_read = nf_stat_read,
};

static struct mpfs_backend *keep(struct mpfs_backend *inner)
{
    if (!inner)
        return NULL;
    struct nofree *w = mpfs_xcalloc(1, sizeof(*w));
    w->base = *inner;
    w->base.ops = &nofree_ops;
    w->inner = inner;
    return &w->base;
}

static struct mpfs_fs *build(struct fixture *f)
{
    struct mpfs_fs *fs = NULL;
    char err[512];
    int rc = mpfs_fs_new_from(&f->cfg, keep(f->s3f), keep(f->nfsf), &fs, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "fixture: %s\n", err);
        abort();
    }
    return fs;
}

struct fixture *fixture_new(const char *mode, const char *extra_opts)
{
    struct fixture *f = mpfs_xcalloc(1, sizeof(*f));
    /* tmpfs where there is one: the journal's synced writes stay cheap */
    struct stat shm;
    const char *tmp = stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(f->dir, sizeof(f->dir), "%s/mpfs-fx-XXXXXX", tmp);
    char *dir = mkdtemp(f->dir);
    MPFS_ASSERT(dir != NULL);
    mpfs_config_init(&f->cfg);
    char err[256];
    int versioned = strcmp(mode, "s3versioned") == 0;
    const char *fs_mode = strcmp(mode, "dualview") == 0 ? "dual" : versioned ? "s3" : mode;
    char *opts = mpfs_xasprintf("mode=%s,s3=s3://mem,nfs=nfs://mem/x,cache_dir=%s,"
                                "cache_disk=0,cache_ram=16M%s%s",
                                fs_mode, f->dir, extra_opts ? "," : "", extra_opts ? extra_opts : "");
    int rc = mpfs_config_apply_opts(&f->cfg, opts, err, sizeof(err));
    MPFS_ASSERT(rc == 0);
    free(opts);
    rc = mpfs_config_finish(&f->cfg, err, sizeof(err));
    MPFS_ASSERT(rc == 0);
    if (strcmp(mode, "dualview") == 0) {
        f->s3 = mpfs_mem_dual_new(&f->nfs);
    } else {
        uint32_t s3caps = MPFS_MEM_CAPS_S3 | (versioned ? MPFS_CAP_VERSION_CHAIN : 0);
        f->s3 = strcmp(fs_mode, "nfs") ? mpfs_mem_new(s3caps) : NULL;
        f->nfs = strcmp(fs_mode, "s3") ? mpfs_mem_new(MPFS_MEM_CAPS_POSIX) : NULL;
    }
    f->s3f = f->s3 ? mpfs_fault_new(f->s3, 0) : NULL;
    f->nfsf = f->nfs ? mpfs_fault_new(f->nfs, 0) : NULL;
    f->fs = build(f);
    return f;
}

void fixture_remount(struct fixture *f)
{
    mpfs_fs_free(f->fs);
    f->fs = build(f);
}

void fixture_crash_remount(struct fixture *f)
{
    mpfs_fs_abandon(f->fs);
    f->fs = build(f);
}

void fixture_free(struct fixture *f)
{
    mpfs_fs_free(f->fs);
    mpfs_backend_free(f->s3f);
    mpfs_backend_free(f->nfsf);
    mpfs_backend_free(f->s3);
    mpfs_backend_free(f->nfs);
    if (mpfs_remove_tree(f->dir) < 0)
        fprintf(stderr, "fixture: cannot remove %s\n", f->dir);
    mpfs_config_free(&f->cfg);
    free(f);
}

/* Walk path component by component from the root (adds lookups; tests do
 * not care about forgetting them). */
int fx_lookup_path(struct fixture *f, const char *path, struct mpfs_entry *e)
{
    uint64_t ino = MPFS_ROOT_INO;
    memset(e, 0, sizeof(*e));
    e->ino = ino;
    e->st.st_mode = S_IFDIR;
    char *copy = mpfs_xstrdup(path);
    char *save = NULL;
    int rc = 0;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        rc = mpfs_vfs_lookup(f->fs, ino, c, e);
        if (rc < 0)
            break;
        ino = e->ino;
    }
    free(copy);
    return rc;
}

static int split(struct fixture *f, const char *path, uint64_t *parent, const char **name)
{
    const char *slash = strrchr(path, '/');
    *name = slash ? slash + 1 : path;
    if (!slash) {
        *parent = MPFS_ROOT_INO;
        return 0;
    }
    char *dir = mpfs_xstrdup(path);
    dir[slash - path] = '\0';
    struct mpfs_entry e;
    int rc = fx_lookup_path(f, dir, &e);
    free(dir);
    *parent = e.ino;
    return rc;
}

int fx_write_file(struct fixture *f, const char *path, const void *data, size_t len)
{
    uint64_t parent;
    const char *name;
    int rc = split(f, path, &parent, &name);
    if (rc < 0)
        return rc;
    struct mpfs_entry e;
    struct mpfs_handle *h;
    rc = mpfs_vfs_lookup(f->fs, parent, name, &e);
    if (rc == 0) {
        int keep_cache;
        rc = mpfs_vfs_open(f->fs, e.ino, O_WRONLY | O_TRUNC, &h, &keep_cache);
    } else if (rc == -ENOENT) {
        rc = mpfs_vfs_create(f->fs, parent, name, 0644, O_WRONLY | O_CREAT, NULL, &e, &h);
    }
    if (rc < 0)
        return rc;
    ssize_t n = len ? mpfs_vfs_write(f->fs, h, data, len, 0) : 0;
    int frc = mpfs_vfs_flush(f->fs, h);
    mpfs_vfs_release(f->fs, h);
    if (n < 0)
        return (int)n;
    return frc;
}

ssize_t fx_read_file(struct fixture *f, const char *path, void *buf, size_t size)
{
    struct mpfs_entry e;
    int rc = fx_lookup_path(f, path, &e);
    if (rc < 0)
        return rc;
    struct mpfs_handle *h;
    int keep_cache;
    rc = mpfs_vfs_open(f->fs, e.ino, O_RDONLY, &h, &keep_cache);
    if (rc < 0)
        return rc;
    size_t done = 0;
    ssize_t n = 0;
    while (done < size) {
        n = mpfs_vfs_read(f->fs, h, (char *)buf + done, size - done, (off_t)done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    mpfs_vfs_release(f->fs, h);
    return n < 0 ? n : (ssize_t)done;
}

char *fx_list(struct fixture *f, const char *path)
{
    struct mpfs_entry e;
    if (fx_lookup_path(f, path, &e) < 0)
        return NULL;
    struct mpfs_dirhandle *d;
    if (mpfs_vfs_opendir(f->fs, e.ino, &d) < 0)
        return NULL;
    size_t cap = 256, used = 0;
    char *out = mpfs_xmalloc(cap);
    out[0] = '\0';
    const char *name;
    struct mpfs_entry de;
    for (size_t i = 0; mpfs_vfs_dir_entry(f->fs, d, i, 0, &name, &de); i++) {
        size_t need = strlen(name) + 3;
        if (used + need >= cap) {
            cap = (cap + need) * 2;
            out = mpfs_xrealloc(out, cap);
        }
        used += (size_t)sprintf(out + used, "%s%s%s", used ? "\n" : "", name,
                                S_ISDIR(de.st.st_mode) ? "/" : "");
    }
    mpfs_vfs_releasedir(f->fs, d);
    return out;
}

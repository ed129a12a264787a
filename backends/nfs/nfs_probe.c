/*
 * nfs_probe.c - measure what an NFS export can do.
 *
 * The same NFSv3 protocol fronts fully POSIX file systems (Ganesha
 * FSAL_VFS, ONTAP, a Linux knfsd) and object-store views (Ganesha
 * FSAL_RGW over a Ceph bucket) that refuse in-place writes, directory
 * renames, links and symlinks -- and sometimes accept a call and ignore it
 * (the RGW view acknowledges a truncate and keeps the size).  So every bit
 * is set only after the operation was done AND its effect was read back,
 * in a scratch directory ".mpfs-probe-<pid>-<rand>" inside the base path.
 *
 * Observed on the RGW view of this store (Ganesha 4.3, Ceph): a file
 * written over NFS cannot be renamed until librgw commits it (~10 s,
 * NFS3ERR_PERM meanwhile), so a quick probe finds no file rename there;
 * RGW implements a committed file's rename as copy + delete anyway, which
 * is not what MPFS_CAP_RENAME_ATOMIC promises.  MPFS_CAP_RENAME_EMULATED is
 * never set by the probe (it cannot be measured in bounded time); a router
 * that wants it for an RGW view declares it.
 *
 * MPFS_CAP_LAZY_COMMIT is measured with ONE read of the probe file right
 * after it was written: an export that commits lazily (the RGW view: "0
 * bytes, end of file" with the new size for ~10 s, -EAGAIN from nfs_ops.c)
 * cannot hand back what was just written.  The bit says only that the
 * window exists; how long it lasts is not measured (that would take
 * polling a committing store, which has hung Ganesha's RGW layer once when
 * done every 50 ms: the probe never polls it).
 *
 * Robustness: a failing step clears its bit and the probe goes on; the
 * whole probe has a time budget (each step is also bounded by the RPC
 * timeout); read-backs that may be eventually consistent are polled for a
 * short while.  The scratch directory is removed at the end (with a few
 * retries: an object-store view may list a just-removed entry).
 *
 * Runs in the opener's thread through the ops table; caps gating in
 * nfs_ops.c is off while it runs (caps_probed = 0).
 */
#include "backends/nfs/nfs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

#define PROBE_BUDGET_NS (20ll * 1000000000)
#define READBACK_WAIT_NS (3ll * 1000000000)
#define POLL_STEP_US 200000

struct probe {
    struct mpfs_backend *b;
    int64_t deadline;
    char dir[64];
    char path[128];
};

static const char *in(struct probe *p, const char *name)
{
    snprintf(p->path, sizeof(p->path), "%s/%s", p->dir, name);
    return p->path;
}

static int out_of_time(struct probe *p, const char *step)
{
    if (mpfs_now_ns() < p->deadline) {
        return 0;
    }
    mpfs_warn("nfs: %s: capability probe out of time before '%s': leaving it "
              "off",
              p->b->desc, step);
    return 1;
}

static void sleep_step(void)
{
    struct timespec ts = {0, POLL_STEP_US * 1000};
    nanosleep(&ts, NULL);
}

/* Read name until it holds want (or the wait ends). */
static int reads_back(struct probe *p, const char *name, const char *want)
{
    size_t len = strlen(want);
    int64_t until = mpfs_now_ns() + READBACK_WAIT_NS;
    char got[64];
    for (;;) {
        ssize_t n = mpfs_backend_read(p->b, in(p, name), NULL, got, sizeof(got), 0);
        if (n == (ssize_t)len && memcmp(got, want, len) == 0) {
            return 1;
        }
        if (n < 0 && n != -ENOENT && n != -EAGAIN) {
            return 0;
        }
        if (mpfs_now_ns() >= until || mpfs_now_ns() >= p->deadline) {
            return 0;
        }
        if (n == -EAGAIN) {
            /* committing: ask no more than once a second (see above) */
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
        } else {
            sleep_step();
        }
    }
}

/* Does a file just written read back at once?  f holds "ABCDEFGH". */
static int probe_lazy_commit(struct probe *p)
{
    char got[16];
    ssize_t n = mpfs_backend_read(p->b, in(p, "f"), NULL, got, sizeof(got), 0);
    if (n == -EAGAIN) {
        return 1;
    }
    if (n == 0) {
        /* Without raw reads (nfs_read.c) there is no EOF-before-size
         * check: an empty answer for a file with a size is the window. */
        struct mpfs_attr a;
        return mpfs_backend_stat(p->b, in(p, "f"), &a) == 0 && a.size > 0;
    }
    if (n != 8 || memcmp(got, "ABCDEFGH", 8) != 0) {
        mpfs_warn("nfs: %s: probe file read back as %zd bytes%s right after the "
                  "write",
                  p->b->desc, n, n == 8 ? " with other content" : "");
    }
    return 0;
}

static int probe_pwrite(struct probe *p)
{
    if (mpfs_backend_pwrite(p->b, in(p, "f"), "wxyz", 4, 2) != 4) {
        return 0;
    }
    return reads_back(p, "f", "ABwxyzGH");
}

static int probe_truncate(struct probe *p)
{
    struct mpfs_attr a = {.size = 4}, out;
    if (mpfs_backend_setattr(p->b, in(p, "f"), &a, MPFS_SET_SIZE, NULL) != 0) {
        return 0;
    }
    /* The RGW view says yes and keeps the size: check. */
    return mpfs_backend_stat(p->b, in(p, "f"), &out) == 0 && out.size == 4;
}

static int probe_setattr(struct probe *p)
{
    const int64_t mtime = 1234567890123456000ll; /* whole microseconds */
    struct mpfs_attr a = {.mode = 0600, .mtime_ns = mtime}, out;
    if (mpfs_backend_setattr(p->b, in(p, "f"), &a, MPFS_SET_MODE | MPFS_SET_MTIME,
                             NULL) != 0) {
        return 0;
    }
    return mpfs_backend_stat(p->b, in(p, "f"), &out) == 0 && (out.mode & 07777) == 0600 &&
           out.mtime_ns == mtime;
}

static int probe_rename_file(struct probe *p)
{
    char to[128];
    snprintf(to, sizeof(to), "%s/g", p->dir);
    if (mpfs_backend_rename(p->b, in(p, "f"), to, 0) != 0) {
        return 0;
    }
    struct mpfs_attr a;
    return mpfs_backend_stat(p->b, to, &a) == 0 &&
           mpfs_backend_stat(p->b, in(p, "f"), &a) == -ENOENT;
}

static int probe_hardlink(struct probe *p, const char *existing)
{
    char from[128];
    snprintf(from, sizeof(from), "%s/%s", p->dir, existing);
    if (mpfs_backend_link(p->b, from, in(p, "h")) != 0) {
        return 0;
    }
    struct mpfs_attr a, b;
    return mpfs_backend_stat(p->b, from, &a) == 0 &&
           mpfs_backend_stat(p->b, in(p, "h"), &b) == 0 && a.fileid == b.fileid &&
           b.nlink >= 2;
}

static int probe_symlink(struct probe *p)
{
    static const char target[] = "mpfs-probe-target";
    if (mpfs_backend_symlink(p->b, target, in(p, "s")) != 0) {
        return 0;
    }
    char got[64];
    ssize_t n = mpfs_backend_readlink(p->b, in(p, "s"), got, sizeof(got));
    struct mpfs_attr a;
    return n == (ssize_t)strlen(target) && memcmp(got, target, (size_t)n) == 0 &&
           mpfs_backend_stat(p->b, in(p, "s"), &a) == 0 && (a.mode & S_IFMT) == S_IFLNK;
}

static int probe_rename_dir(struct probe *p)
{
    char to[128];
    snprintf(to, sizeof(to), "%s/d2", p->dir);
    if (mpfs_backend_mkdir(p->b, in(p, "d1"), 0755) != 0) {
        return 0;
    }
    if (mpfs_backend_rename(p->b, in(p, "d1"), to, 0) != 0) {
        return 0;
    }
    struct mpfs_attr a;
    return mpfs_backend_stat(p->b, to, &a) == 0 && (a.mode & S_IFMT) == S_IFDIR &&
           mpfs_backend_stat(p->b, in(p, "d1"), &a) == -ENOENT;
}

struct clean_ctx {
    char names[16][32];
    int dir[16];
    int n;
};

static int collect(void *arg, const char *name, size_t len, const struct mpfs_attr *attr,
                   int attr_full)
{
    struct clean_ctx *c = arg;
    if (c->n < 16 && len < sizeof(c->names[0])) {
        memcpy(c->names[c->n], name, len);
        c->names[c->n][len] = '\0';
        c->dir[c->n] = (attr->mode & S_IFMT) == S_IFDIR;
        c->n++;
    }
    return 0;
}

static void cleanup(struct probe *p)
{
    int64_t until = mpfs_now_ns() + 3ll * 1000000000;
    int rc;
    for (;;) {
        struct clean_ctx c = {.n = 0};
        mpfs_backend_list(p->b, p->dir, collect, &c);
        for (int i = 0; i < c.n; i++) {
            if (c.dir[i]) {
                mpfs_backend_rmdir(p->b, in(p, c.names[i]));
            } else {
                mpfs_backend_remove(p->b, in(p, c.names[i]));
            }
        }
        rc = mpfs_backend_rmdir(p->b, p->dir);
        if (rc == 0 || rc == -ENOENT || mpfs_now_ns() >= until) {
            break;
        }
        sleep_step();
    }
    if (rc != 0 && rc != -ENOENT) {
        mpfs_warn("nfs: %s: could not remove probe directory %s: %s", p->b->desc, p->dir,
                  strerror(-rc));
    }
}

static uint32_t random32(void)
{
    uint32_t r = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
            r = 0;
        }
        close(fd);
    }
    return r ^ (uint32_t)mpfs_now_ns();
}

/* MPFS_CAP_COND_PWRITE: does a WRITE reply carry the file's attributes
 * from before the write (NFSv3 weak cache consistency data)?  Only then
 * can pwrite_if tell that someone else wrote between its check and its
 * write.  Measured: NFS-Ganesha 4.3 (FSAL_VFS) sends none. */
static int probe_cond_pwrite(struct probe *p)
{
    struct mpfs_nfs_backend *nb = (struct mpfs_nfs_backend *)p->b;
    struct mpfs_attr a;
    if (mpfs_backend_stat(p->b, in(p, "f"), &a) != 0) {
        return 0;
    }
    uint64_t missing = atomic_load(&nb->wcc_pre_missing);
    ssize_t n = mpfs_backend_pwrite_if(p->b, in(p, "f"), "C", 1, 2, a.version, NULL);
    return n == 1 && atomic_load(&nb->wcc_pre_missing) == missing;
}

int mpfs_nfs_probe_caps(struct mpfs_backend *b, uint32_t *caps_out)
{
    if (!b || b->ops != &mpfs_nfs_ops) {
        return -EINVAL;
    }
    struct mpfs_nfs_backend *nb = (struct mpfs_nfs_backend *)b;
    struct probe p = {.b = b, .deadline = mpfs_now_ns() + PROBE_BUDGET_NS};
    snprintf(p.dir, sizeof(p.dir), ".mpfs-probe-%d-%08x", (int)getpid(), random32());
    int64_t t0 = mpfs_now_ns();
    uint32_t caps = 0;

    nb->caps_probed = 0; /* no up-front refusals while measuring */
    int rc = mpfs_backend_mkdir(b, p.dir, 0700);
    if (rc != 0) {
        mpfs_info("nfs: %s: cannot create probe directory (%s): no write "
                  "capabilities",
                  b->desc, strerror(-rc));
        goto out_done;
    }
    struct mpfs_attr a;
    if (mpfs_backend_stat(b, p.dir, &a) == 0 && (a.mode & S_IFMT) == S_IFDIR) {
        caps |= MPFS_CAP_EMPTY_DIRS;
    }
    rc = mpfs_backend_put_buf(b, in(&p, "f"), "ABCDEFGH", 8, NULL, NULL);
    if (rc != 0) {
        mpfs_info("nfs: %s: cannot write a probe file (%s): no write "
                  "capabilities",
                  b->desc, strerror(-rc));
        caps = 0;
        goto out_clean;
    }
    /* First, before anything else touches f: the window opens with the
     * write. */
    if (probe_lazy_commit(&p)) {
        caps |= MPFS_CAP_LAZY_COMMIT;
    }
    if (!out_of_time(&p, "pwrite") && probe_pwrite(&p)) {
        caps |= MPFS_CAP_PWRITE;
    }
    if ((caps & MPFS_CAP_PWRITE) && nb->raw_read && !out_of_time(&p, "cond-pwrite") &&
        probe_cond_pwrite(&p)) {
        caps |= MPFS_CAP_COND_PWRITE;
    }
    if (!out_of_time(&p, "truncate") && probe_truncate(&p)) {
        caps |= MPFS_CAP_TRUNCATE;
    }
    if (!out_of_time(&p, "setattr") && probe_setattr(&p)) {
        caps |= MPFS_CAP_SETATTR;
    }
    int renamed = 0;
    if (!out_of_time(&p, "rename") && probe_rename_file(&p)) {
        caps |= MPFS_CAP_RENAME_ATOMIC;
        renamed = 1;
    }
    if (!out_of_time(&p, "link") && probe_hardlink(&p, renamed ? "g" : "f")) {
        caps |= MPFS_CAP_HARDLINK;
    }
    if (!out_of_time(&p, "symlink") && probe_symlink(&p)) {
        caps |= MPFS_CAP_SYMLINK;
    }
    if (!out_of_time(&p, "rename-dir") && probe_rename_dir(&p)) {
        caps |= MPFS_CAP_RENAME_DIR;
    }
    rc = 0;

out_clean:
    cleanup(&p);
out_done:
    /* Every READ reply carries the file's attributes: verified reads need
     * no write access (nfs_read.c). */
    if (nb->raw_read) {
        caps |= MPFS_CAP_PINNED_READ;
    }
    char str[256];
    mpfs_backend_caps_str(caps, str, sizeof(str));
    mpfs_info("nfs: %s: probed caps in %lld ms: %s", b->desc,
              (long long)((mpfs_now_ns() - t0) / 1000000), str[0] ? str : "none");
    b->caps = caps;
    nb->caps_probed = 1;
    if (caps_out) {
        *caps_out = caps;
    }
    return rc;
}

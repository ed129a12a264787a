/*
 * fault.c - the fault-injecting wrapper backend (behaviour: see fault.h).
 *
 * Design: every slot runs the same three steps.  plan() matches the rules
 * against (operation, path) under the lock, advances their counters and
 * merges what fired into a struct fault_plan; apply_before() then does the
 * slow or side-effecting part (sleep, rewrite the object, early error)
 * without the lock; the slot calls inner through the mpfs_backend_*()
 * wrappers (so a missing optional slot of inner is -EOPNOTSUPP here too);
 * finish() applies ERROR_AFTER and frees the plan.
 *
 * Locking: f->lock guards the rule list and all counters.  It is held only
 * inside plan(), the rule management functions and the counter getters;
 * never across a call into inner, a sleep or the list callback.
 */
#include "backends/fault.h"

#include "backends/mem.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const FAULT_KIND = "fault";

struct fault_rule {
    struct fault_rule *next;
    int id;
    struct mpfs_fault_rule r; /* path and data point at our own copies */
    uint64_t seen;            /* matching calls */
    uint64_t fired;
};

struct fault_backend {
    struct mpfs_backend base; /* first */
    struct mpfs_backend *inner;
    int own_inner;
    pthread_mutex_t lock;
    struct fault_rule *rules; /* in the order added */
    int next_id;
    uint64_t calls[MPFS_FAULT_OP_COUNT];
};

/* What fired for one call. */
struct fault_plan {
    unsigned delay_ms;
    int error;       /* ERROR: negative errno, 0 if none */
    int error_after; /* ERROR_AFTER: negative errno, 0 if none */
    int has_short;
    size_t short_len;
    int short_error; /* SHORT on list: negative errno or 0 */
    int change;
    void *data; /* CHANGE_VERSION content (our copy), NULL for a bump */
    size_t data_len;
};

static struct fault_backend *fault_of(struct mpfs_backend *b)
{
    return (struct fault_backend *)b;
}

static int op_index(uint32_t op)
{
    return __builtin_ctz(op);
}

static int neg_errno(int e)
{
    return e > 0 ? -e : e;
}

static int path_matches(const struct fault_rule *fr, const char *p1, const char *p2)
{
    const char *want = fr->r.path;
    if (!want || !want[0]) {
        return 1;
    }
    return (p1 && strstr(p1, want)) || (p2 && strstr(p2, want));
}

static void plan(struct fault_backend *f, uint32_t op, const char *p1, const char *p2,
                 struct fault_plan *p)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_lock(&f->lock);
    f->calls[op_index(op)]++;
    for (struct fault_rule *fr = f->rules; fr; fr = fr->next) {
        const struct mpfs_fault_rule *r = &fr->r;
        if (!(r->ops & op) || !path_matches(fr, p1, p2)) {
            continue;
        }
        fr->seen++;
        if (fr->seen <= (uint64_t)r->after) {
            continue;
        }
        if (r->count >= 0 && fr->fired >= (uint64_t)r->count) {
            continue;
        }
        fr->fired++;
        if (r->action & MPFS_FAULT_DELAY) {
            p->delay_ms += r->delay_ms;
        }
        if ((r->action & MPFS_FAULT_CHANGE_VERSION) && !p->change) {
            p->change = 1;
            if (r->data) {
                p->data = mpfs_xmalloc(r->data_len);
                memcpy(p->data, r->data, r->data_len);
                p->data_len = r->data_len;
            }
        }
        if ((r->action & MPFS_FAULT_ERROR) && !p->error) {
            p->error = neg_errno(r->error);
        }
        if ((r->action & MPFS_FAULT_ERROR_AFTER) && !p->error_after) {
            p->error_after = neg_errno(r->error);
        }
        if ((r->action & MPFS_FAULT_SHORT) && (!p->has_short || r->short_len < p->short_len)) {
            p->has_short = 1;
            p->short_len = r->short_len;
            p->short_error = neg_errno(r->error);
        }
    }
    pthread_mutex_unlock(&f->lock);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Someone else rewrites path under the inner backend's feet. */
static void change_version(struct fault_backend *f, const char *path, const struct fault_plan *p)
{
    struct mpfs_backend *in = f->inner;
    int rc;

    while (mpfs_fault_is(in)) {
        in = fault_of(in)->inner; /* rewrite the store, not another wrapper */
    }
    if (mpfs_mem_is(in)) {
        rc = p->data ? mpfs_mem_put_raw(in, path, p->data, p->data_len)
                     : mpfs_mem_bump_version(in, path);
    } else if (p->data) {
        rc = mpfs_backend_put_buf(in, path, p->data, p->data_len, NULL, NULL);
    } else {
        struct mpfs_attr a;
        rc = mpfs_backend_stat(in, path, &a);
        if (rc == 0 && a.size > (64u << 20)) {
            rc = -EFBIG; /* a test fault, not a bulk copy */
        }
        if (rc == 0) {
            char *buf = mpfs_xmalloc((size_t)a.size);
            ssize_t n = mpfs_backend_read(in, path, NULL, buf, (size_t)a.size, 0);
            rc = n < 0 ? (int)n : mpfs_backend_put_buf(in, path, buf, (size_t)n, NULL, NULL);
            free(buf);
        }
    }
    if (rc < 0) {
        mpfs_warn("fault: change-version of %s failed: %s", path, strerror(-rc));
    }
}

/* Returns the early error (ERROR) or 0 to go on and call inner. */
static int apply_before(struct fault_backend *f, const char *path, struct fault_plan *p)
{
    if (p->delay_ms) {
        sleep_ms(p->delay_ms);
    }
    if (p->change && path) {
        change_version(f, path, p);
    }
    return p->error;
}

static ssize_t finish(struct fault_plan *p, ssize_t rc)
{
    free(p->data);
    p->data = NULL;
    return p->error_after ? p->error_after : rc;
}

/* The common prologue: plan, then the early part; on an early error the
 * slot returns it at once. */
#define FAULT_BEGIN(op, p1, p2)                                                                    \
    struct fault_backend *f = fault_of(b);                                                         \
    struct fault_plan p;                                                                           \
    plan(f, (op), (p1), (p2), &p);                                                                 \
    {                                                                                              \
        int early_ = apply_before(f, (p1), &p);                                                    \
        if (early_) {                                                                              \
            free(p.data);                                                                          \
            return early_;                                                                         \
        }                                                                                          \
    }

static int f_stat(struct mpfs_backend *b, const char *path, struct mpfs_attr *out)
{
    FAULT_BEGIN(MPFS_FAULT_OP_STAT, path, NULL);
    return (int)finish(&p, mpfs_backend_stat(f->inner, path, out));
}

static int f_stat_read(struct mpfs_backend *b, const char *path, struct mpfs_attr *out, void *buf,
                       size_t len, size_t *got)
{
    *got = 0;
    FAULT_BEGIN(MPFS_FAULT_OP_STAT, path, NULL);
    return (int)finish(&p, mpfs_backend_stat_read(f->inner, path, out, buf, len, got));
}

struct short_list {
    mpfs_list_fn fn;
    void *arg;
    size_t left;
    int cut;
};

static int short_list_cb(void *arg, const char *name, size_t name_len, const struct mpfs_attr *attr,
                         int attr_full)
{
    struct short_list *s = arg;
    if (s->left == 0) {
        s->cut = 1;
        return 1;
    }
    s->left--;
    return s->fn(s->arg, name, name_len, attr, attr_full);
}

static int f_list(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn, void *arg)
{
    FAULT_BEGIN(MPFS_FAULT_OP_LIST, dir, NULL);
    if (!p.has_short) {
        return (int)finish(&p, mpfs_backend_list(f->inner, dir, fn, arg));
    }
    struct short_list s = {.fn = fn, .arg = arg, .left = p.short_len};
    int rc = mpfs_backend_list(f->inner, dir, short_list_cb, &s);
    if (s.cut) {
        rc = p.short_error;
    }
    return (int)finish(&p, rc);
}

static ssize_t f_read(struct mpfs_backend *b, const char *path, const char *version, void *buf,
                      size_t len, uint64_t off)
{
    FAULT_BEGIN(MPFS_FAULT_OP_READ, path, NULL);
    if (p.has_short) {
        len = MPFS_MIN(len, p.short_len);
    }
    return finish(&p, mpfs_backend_read(f->inner, path, version, buf, len, off));
}

static int f_put(struct mpfs_backend *b, const char *path, int fd, uint64_t size,
                 const struct mpfs_put_opts *opts, struct mpfs_attr *out)
{
    FAULT_BEGIN(MPFS_FAULT_OP_PUT, path, NULL);
    return (int)finish(&p, mpfs_backend_put(f->inner, path, fd, size, opts, out));
}

static ssize_t f_pwrite(struct mpfs_backend *b, const char *path, const void *buf, size_t len,
                        uint64_t off)
{
    FAULT_BEGIN(MPFS_FAULT_OP_PWRITE, path, NULL);
    return finish(&p, mpfs_backend_pwrite(f->inner, path, buf, len, off));
}

/* Matched by the MPFS_FAULT_OP_PWRITE rules too: the same write, with a
 * precondition (a CHANGE_VERSION rule makes it a conflict). */
static ssize_t f_pwrite_if(struct mpfs_backend *b, const char *path, const void *buf, size_t len,
                           uint64_t off, const char *expect, struct mpfs_attr *out)
{
    FAULT_BEGIN(MPFS_FAULT_OP_PWRITE, path, NULL);
    return finish(&p, mpfs_backend_pwrite_if(f->inner, path, buf, len, off, expect, out));
}

/* The version-chain slots: matched as the requests they are (a LIST of
 * versions: STAT rules; a server-side copy: PUT rules). */
static int f_overwritten(struct mpfs_backend *b, const char *path, const char *ours,
                         const char *base, char *victim, size_t victim_len)
{
    FAULT_BEGIN(MPFS_FAULT_OP_STAT, path, NULL);
    return (int)finish(&p, mpfs_backend_overwritten(f->inner, path, ours, base, victim,
                                                    victim_len));
}

static int f_copy_version(struct mpfs_backend *b, const char *path, const char *version_id,
                          const char *to)
{
    FAULT_BEGIN(MPFS_FAULT_OP_PUT, to, NULL);
    return (int)finish(&p, mpfs_backend_copy_version(f->inner, path, version_id, to));
}

static int f_remove(struct mpfs_backend *b, const char *path)
{
    FAULT_BEGIN(MPFS_FAULT_OP_REMOVE, path, NULL);
    return (int)finish(&p, mpfs_backend_remove(f->inner, path));
}

static int f_rename(struct mpfs_backend *b, const char *from, const char *to, unsigned flags)
{
    FAULT_BEGIN(MPFS_FAULT_OP_RENAME, from, to);
    return (int)finish(&p, mpfs_backend_rename(f->inner, from, to, flags));
}

static int f_mkdir(struct mpfs_backend *b, const char *path, uint32_t mode)
{
    FAULT_BEGIN(MPFS_FAULT_OP_MKDIR, path, NULL);
    return (int)finish(&p, mpfs_backend_mkdir(f->inner, path, mode));
}

static int f_rmdir(struct mpfs_backend *b, const char *path)
{
    FAULT_BEGIN(MPFS_FAULT_OP_RMDIR, path, NULL);
    return (int)finish(&p, mpfs_backend_rmdir(f->inner, path));
}

static int f_symlink(struct mpfs_backend *b, const char *target, const char *path)
{
    FAULT_BEGIN(MPFS_FAULT_OP_SYMLINK, path, NULL);
    return (int)finish(&p, mpfs_backend_symlink(f->inner, target, path));
}

static ssize_t f_readlink(struct mpfs_backend *b, const char *path, char *buf, size_t size)
{
    FAULT_BEGIN(MPFS_FAULT_OP_READLINK, path, NULL);
    return finish(&p, mpfs_backend_readlink(f->inner, path, buf, size));
}

static int f_link(struct mpfs_backend *b, const char *existing, const char *newpath)
{
    FAULT_BEGIN(MPFS_FAULT_OP_LINK, existing, newpath);
    return (int)finish(&p, mpfs_backend_link(f->inner, existing, newpath));
}

static int f_setattr(struct mpfs_backend *b, const char *path, const struct mpfs_attr *attr,
                     uint32_t to_set, struct mpfs_attr *out)
{
    FAULT_BEGIN(MPFS_FAULT_OP_SETATTR, path, NULL);
    return (int)finish(&p, mpfs_backend_setattr(f->inner, path, attr, to_set, out));
}

/* A flat walk is a listing too: the LIST rules apply (no short listing). */
static int f_list_tree(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn, void *arg)
{
    FAULT_BEGIN(MPFS_FAULT_OP_LIST, dir, NULL);
    return (int)finish(&p, mpfs_backend_list_tree(f->inner, dir, fn, arg));
}

static int f_statfs(struct mpfs_backend *b, struct statvfs *out)
{
    FAULT_BEGIN(MPFS_FAULT_OP_STATFS, NULL, NULL);
    return (int)finish(&p, mpfs_backend_statfs(f->inner, out));
}

static ssize_t f_getxattr(struct mpfs_backend *b, const char *path, const char *name, void *buf,
                          size_t size)
{
    FAULT_BEGIN(MPFS_FAULT_OP_GETXATTR, path, NULL);
    return finish(&p, mpfs_backend_getxattr(f->inner, path, name, buf, size));
}

static int f_setxattr(struct mpfs_backend *b, const char *path, const char *name, const void *value,
                      size_t size)
{
    FAULT_BEGIN(MPFS_FAULT_OP_SETXATTR, path, NULL);
    return (int)finish(&p, mpfs_backend_setxattr(f->inner, path, name, value, size));
}

static ssize_t f_listxattr(struct mpfs_backend *b, const char *path, char *buf, size_t size)
{
    FAULT_BEGIN(MPFS_FAULT_OP_LISTXATTR, path, NULL);
    return finish(&p, mpfs_backend_listxattr(f->inner, path, buf, size));
}

static int f_removexattr(struct mpfs_backend *b, const char *path, const char *name)
{
    FAULT_BEGIN(MPFS_FAULT_OP_REMOVEXATTR, path, NULL);
    return (int)finish(&p, mpfs_backend_removexattr(f->inner, path, name));
}

static int f_mknod(struct mpfs_backend *b, const char *path, uint32_t mode, uint64_t rdev)
{
    FAULT_BEGIN(MPFS_FAULT_OP_MKNOD, path, NULL);
    return (int)finish(&p, mpfs_backend_mknod(f->inner, path, mode, rdev));
}

static void free_rule(struct fault_rule *fr)
{
    free((char *)fr->r.path);
    free((void *)fr->r.data);
    free(fr);
}

static void f_destroy(struct mpfs_backend *b)
{
    struct fault_backend *f = fault_of(b);
    mpfs_fault_clear(b);
    if (f->own_inner) {
        mpfs_backend_free(f->inner);
    }
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static const struct mpfs_backend_ops fault_ops = {
    .version = MPFS_BACKEND_OPS_VERSION,
    .stat = f_stat,
    .list = f_list,
    .read = f_read,
    .put = f_put,
    .pwrite = f_pwrite,
    .remove = f_remove,
    .rename = f_rename,
    .mkdir = f_mkdir,
    .rmdir = f_rmdir,
    .symlink = f_symlink,
    .readlink = f_readlink,
    .link = f_link,
    .setattr = f_setattr,
    .statfs = f_statfs,
    .list_tree = f_list_tree,
    .getxattr = f_getxattr,
    .setxattr = f_setxattr,
    .listxattr = f_listxattr,
    .removexattr = f_removexattr,
    .destroy = f_destroy,
    .pwrite_if = f_pwrite_if,
    .overwritten = f_overwritten,
    .copy_version = f_copy_version,
    .mknod = f_mknod,
    .stat_read = f_stat_read,
};

struct mpfs_backend *mpfs_fault_new(struct mpfs_backend *inner, int own_inner)
{
    struct fault_backend *f = mpfs_xcalloc(1, sizeof(*f));
    f->base.ops = &fault_ops;
    f->base.kind = FAULT_KIND;
    f->base.caps = inner->caps;
    f->base.io_size = inner->io_size;
    f->base.path_max = inner->path_max;
    snprintf(f->base.desc, sizeof(f->base.desc), "fault(%.240s)", inner->desc);
    f->inner = inner;
    f->own_inner = own_inner;
    f->next_id = 1;
    pthread_mutex_init(&f->lock, NULL);
    return &f->base;
}

int mpfs_fault_is(const struct mpfs_backend *b)
{
    return b && b->ops == &fault_ops;
}

struct mpfs_backend *mpfs_fault_inner(struct mpfs_backend *f)
{
    return fault_of(f)->inner;
}

int mpfs_fault_add(struct mpfs_backend *b, const struct mpfs_fault_rule *r)
{
    struct fault_backend *f = fault_of(b);

    if (!(r->ops & MPFS_FAULT_OP_ALL) || (r->ops & ~MPFS_FAULT_OP_ALL) || !r->action ||
        r->count == 0 || r->count < -1 || r->after < 0) {
        return -EINVAL;
    }
    if ((r->action & (MPFS_FAULT_ERROR | MPFS_FAULT_ERROR_AFTER)) && r->error == 0) {
        return -EINVAL;
    }
    if (r->data_len && !r->data) {
        return -EINVAL;
    }
    struct fault_rule *fr = mpfs_xcalloc(1, sizeof(*fr));
    fr->r = *r;
    fr->r.path = r->path ? mpfs_xstrdup(r->path) : NULL;
    if (r->data) {
        void *copy = mpfs_xmalloc(r->data_len);
        memcpy(copy, r->data, r->data_len);
        fr->r.data = copy;
    }
    pthread_mutex_lock(&f->lock);
    fr->id = f->next_id++;
    struct fault_rule **pp = &f->rules;
    while (*pp) {
        pp = &(*pp)->next;
    }
    *pp = fr;
    int id = fr->id;
    pthread_mutex_unlock(&f->lock);
    return id;
}

int mpfs_fault_remove(struct mpfs_backend *b, int id)
{
    struct fault_backend *f = fault_of(b);
    struct fault_rule *gone = NULL;

    pthread_mutex_lock(&f->lock);
    for (struct fault_rule **pp = &f->rules; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            gone = *pp;
            *pp = gone->next;
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
    if (!gone) {
        return -ENOENT;
    }
    free_rule(gone);
    return 0;
}

void mpfs_fault_clear(struct mpfs_backend *b)
{
    struct fault_backend *f = fault_of(b);

    pthread_mutex_lock(&f->lock);
    struct fault_rule *fr = f->rules;
    f->rules = NULL;
    pthread_mutex_unlock(&f->lock);
    while (fr) {
        struct fault_rule *next = fr->next;
        free_rule(fr);
        fr = next;
    }
}

uint64_t mpfs_fault_calls(struct mpfs_backend *b, uint32_t ops)
{
    struct fault_backend *f = fault_of(b);
    uint64_t sum = 0;

    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < MPFS_FAULT_OP_COUNT; i++) {
        if (ops & (1u << i)) {
            sum += f->calls[i];
        }
    }
    pthread_mutex_unlock(&f->lock);
    return sum;
}

void mpfs_fault_reset_calls(struct mpfs_backend *b)
{
    struct fault_backend *f = fault_of(b);
    pthread_mutex_lock(&f->lock);
    memset(f->calls, 0, sizeof(f->calls));
    pthread_mutex_unlock(&f->lock);
}

uint64_t mpfs_fault_fired(struct mpfs_backend *b, int id)
{
    struct fault_backend *f = fault_of(b);
    uint64_t n = 0;

    pthread_mutex_lock(&f->lock);
    for (struct fault_rule *fr = f->rules; fr; fr = fr->next) {
        if (fr->id == id) {
            n = fr->fired;
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return n;
}

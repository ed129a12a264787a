/*
 * test_fault.c - the fault-injecting wrapper: forwarding, rule matching
 * (op mask, path substring, after/count), each action, counters, thread
 * safety.  Transparency with no rules is also checked by running the
 * conformance suite over it (conformance_fault_mem_*).
 */
#include "backends/fault.h"

#include "backends/mem.h"
#include "base/util.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

struct fix {
    struct mpfs_backend *mem;
    struct mpfs_backend *f;
};

static int setup(void **state)
{
    struct fix *x = mpfs_xcalloc(1, sizeof(*x));
    x->mem = mpfs_mem_new(MPFS_MEM_CAPS_S3);
    x->f = mpfs_fault_new(x->mem, 1);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fix *x = *state;
    mpfs_backend_free(x->f); /* owns mem */
    free(x);
    return 0;
}

static int put(struct mpfs_backend *b, const char *path, const char *s)
{
    return mpfs_backend_put_buf(b, path, s, strlen(s), NULL, NULL);
}

static int stat_rc(struct mpfs_backend *b, const char *path)
{
    struct mpfs_attr a;
    return mpfs_backend_stat(b, path, &a);
}

static void test_forwards_everything(void **state)
{
    struct fix *x = *state;
    struct mpfs_backend *f = x->f;
    char buf[32];
    struct mpfs_attr a;
    struct statvfs sv;

    assert_string_equal(f->kind, "fault");
    assert_int_equal(f->caps, x->mem->caps);
    assert_int_equal(f->io_size, x->mem->io_size);
    assert_non_null(strstr(f->desc, x->mem->desc));
    assert_true(mpfs_fault_is(f));
    assert_false(mpfs_fault_is(x->mem));
    assert_ptr_equal(mpfs_fault_inner(f), x->mem);

    assert_int_equal(put(f, "d/f", "hello"), 0);
    assert_int_equal(mpfs_backend_stat(f, "d/f", &a), 0);
    assert_int_equal(a.size, 5);
    assert_int_equal(mpfs_backend_read(f, "d/f", NULL, buf, sizeof(buf), 0), 5);
    assert_int_equal(mpfs_backend_mkdir(f, "e", 0755), 0);
    assert_int_equal(mpfs_backend_rename(f, "d/f", "e/f", 0), 0);
    assert_int_equal(mpfs_backend_symlink(f, "t", "ln"), 0);
    assert_int_equal(mpfs_backend_readlink(f, "ln", buf, sizeof(buf)), 1);
    struct mpfs_attr in = {.mode = 0600};
    assert_int_equal(mpfs_backend_setattr(f, "e/f", &in, MPFS_SET_MODE, NULL), 0);
    assert_int_equal(mpfs_backend_setxattr(f, "e/f", "k", "v", 1), 0);
    assert_int_equal(mpfs_backend_getxattr(f, "e/f", "k", buf, sizeof(buf)), 1);
    assert_int_equal(mpfs_backend_listxattr(f, "e/f", buf, sizeof(buf)), 2);
    assert_int_equal(mpfs_backend_removexattr(f, "e/f", "k"), 0);
    assert_int_equal(mpfs_backend_statfs(f, &sv), 0);
    assert_int_equal(mpfs_backend_remove(f, "e/f"), 0);
    assert_int_equal(mpfs_backend_rmdir(f, "e"), 0);
    /* the inner's refusals come through unchanged */
    assert_int_equal(mpfs_backend_pwrite(f, "ln", "x", 1, 0), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_link(f, "ln", "ln2"), -EOPNOTSUPP);

    assert_int_equal(mpfs_fault_calls(f, MPFS_FAULT_OP_PUT), 1);
    assert_int_equal(mpfs_fault_calls(f, MPFS_FAULT_OP_STAT), 1);
    assert_int_equal(mpfs_fault_calls(f, MPFS_FAULT_OP_READ | MPFS_FAULT_OP_READLINK), 2);
    assert_int_equal(mpfs_fault_calls(f, MPFS_FAULT_OP_ALL), 17);
    mpfs_fault_reset_calls(f);
    assert_int_equal(mpfs_fault_calls(f, MPFS_FAULT_OP_ALL), 0);
}

static void test_error_after_and_count(void **state)
{
    struct fix *x = *state;
    struct mpfs_backend *f = x->f;
    assert_int_equal(put(f, "f", "x"), 0);

    struct mpfs_fault_rule r = {.ops = MPFS_FAULT_OP_STAT,
                                .action = MPFS_FAULT_ERROR,
                                .error = EIO,
                                .count = 2,
                                .after = 1};
    int id = mpfs_fault_add(f, &r);
    assert_true(id > 0);
    assert_int_equal(stat_rc(f, "f"), 0);    /* let through (after) */
    assert_int_equal(stat_rc(f, "f"), -EIO); /* fires */
    assert_int_equal(stat_rc(f, "f"), -EIO); /* fires */
    assert_int_equal(stat_rc(f, "f"), 0);    /* spent */
    assert_int_equal(mpfs_fault_fired(f, id), 2);
    assert_int_equal(mpfs_fault_calls(f, MPFS_FAULT_OP_STAT), 4);
    /* other ops are not matched */
    char buf[4];
    assert_int_equal(mpfs_backend_read(f, "f", NULL, buf, sizeof(buf), 0), 1);

    /* forever; a negative errno works as well */
    r = (struct mpfs_fault_rule){
        .ops = MPFS_FAULT_OP_READ, .action = MPFS_FAULT_ERROR, .error = -ETIMEDOUT, .count = -1};
    id = mpfs_fault_add(f, &r);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(mpfs_backend_read(f, "f", NULL, buf, sizeof(buf), 0), -ETIMEDOUT);
    }
    assert_int_equal(mpfs_fault_fired(f, id), 5);
    assert_int_equal(mpfs_fault_remove(f, id), 0);
    assert_int_equal(mpfs_fault_remove(f, id), -ENOENT);
    assert_int_equal(mpfs_fault_fired(f, id), 0);
    assert_int_equal(mpfs_backend_read(f, "f", NULL, buf, sizeof(buf), 0), 1);
}

static void test_path_substring(void **state)
{
    struct fix *x = *state;
    struct mpfs_backend *f = x->f;
    assert_int_equal(put(f, "ckpt/a", "a"), 0);
    assert_int_equal(put(f, "data/b", "b"), 0);

    struct mpfs_fault_rule r = {.ops = MPFS_FAULT_OP_ALL,
                                .path = "ckpt/",
                                .action = MPFS_FAULT_ERROR,
                                .error = EACCES,
                                .count = -1};
    assert_true(mpfs_fault_add(f, &r) > 0);
    assert_int_equal(stat_rc(f, "ckpt/a"), -EACCES);
    assert_int_equal(stat_rc(f, "data/b"), 0);
    /* rename matches on either path, and nothing happened */
    assert_int_equal(mpfs_backend_rename(f, "data/b", "ckpt/b", 0), -EACCES);
    assert_int_equal(stat_rc(x->mem, "data/b"), 0);
    assert_int_equal(mpfs_backend_link(f, "data/b", "ckpt/c"), -EACCES);
    /* statfs has no path: a path rule never matches it */
    struct statvfs sv;
    assert_int_equal(mpfs_backend_statfs(f, &sv), 0);
    mpfs_fault_clear(f);
    assert_int_equal(stat_rc(f, "ckpt/a"), 0);
}

static void test_short_read(void **state)
{
    struct fix *x = *state;
    struct mpfs_backend *f = x->f;
    char buf[32];
    assert_int_equal(put(f, "f", "0123456789"), 0);
    struct mpfs_fault_rule r = {
        .ops = MPFS_FAULT_OP_READ, .action = MPFS_FAULT_SHORT, .short_len = 3, .count = 2};
    assert_true(mpfs_fault_add(f, &r) > 0);
    assert_int_equal(mpfs_backend_read(f, "f", NULL, buf, sizeof(buf), 0), 3);
    assert_memory_equal(buf, "012", 3);
    assert_int_equal(mpfs_backend_read(f, "f", NULL, buf, sizeof(buf), 8), 2);
    assert_int_equal(mpfs_backend_read(f, "f", NULL, buf, sizeof(buf), 0), 10);
    /* two rules: the smallest wins */
    r.short_len = 5;
    r.count = 1;
    assert_true(mpfs_fault_add(f, &r) > 0);
    r.short_len = 1;
    assert_true(mpfs_fault_add(f, &r) > 0);
    assert_int_equal(mpfs_backend_read(f, "f", NULL, buf, sizeof(buf), 0), 1);
}

struct counter {
    int n;
};

static int count_cb(void *arg, const char *name, size_t len, const struct mpfs_attr *attr, int full)
{
    ((struct counter *)arg)->n++;
    return 0;
}

static int stop_cb(void *arg, const char *name, size_t len, const struct mpfs_attr *attr, int full)
{
    return 7;
}

static void test_short_list(void **state)
{
    struct fix *x = *state;
    struct mpfs_backend *f = x->f;
    for (int i = 0; i < 10; i++) {
        char p[16];
        snprintf(p, sizeof(p), "d/%d", i);
        assert_int_equal(put(f, p, "x"), 0);
    }
    /* page 2 fails: 4 entries, then -EIO */
    struct mpfs_fault_rule r = {.ops = MPFS_FAULT_OP_LIST,
                                .action = MPFS_FAULT_SHORT,
                                .short_len = 4,
                                .error = EIO,
                                .count = 1};
    assert_true(mpfs_fault_add(f, &r) > 0);
    struct counter c = {0};
    assert_int_equal(mpfs_backend_list(f, "d", count_cb, &c), -EIO);
    assert_int_equal(c.n, 4);
    /* a silently cut listing */
    r.error = 0;
    assert_true(mpfs_fault_add(f, &r) > 0);
    c.n = 0;
    assert_int_equal(mpfs_backend_list(f, "d", count_cb, &c), 0);
    assert_int_equal(c.n, 4);
    /* no rule: all of them; the caller's own stop value passes through */
    c.n = 0;
    assert_int_equal(mpfs_backend_list(f, "d", count_cb, &c), 0);
    assert_int_equal(c.n, 10);
    r.short_len = 100;
    assert_true(mpfs_fault_add(f, &r) > 0);
    assert_int_equal(mpfs_backend_list(f, "d", stop_cb, NULL), 7);
}

static void test_delay(void **state)
{
    struct fix *x = *state;
    struct mpfs_backend *f = x->f;
    assert_int_equal(put(f, "f", "x"), 0);
    struct mpfs_fault_rule r = {
        .ops = MPFS_FAULT_OP_STAT, .action = MPFS_FAULT_DELAY, .delay_ms = 30, .count = 1};
    assert_true(mpfs_fault_add(f, &r) > 0);
    /* two firing rules: delays add, and a delay can come with an error */
    r.action = MPFS_FAULT_DELAY | MPFS_FAULT_ERROR;
    r.delay_ms = 20;
    r.error = ETIMEDOUT;
    assert_true(mpfs_fault_add(f, &r) > 0);
    int64_t t0 = mpfs_now_ns();
    assert_int_equal(stat_rc(f, "f"), -ETIMEDOUT);
    int64_t took = mpfs_now_ns() - t0;
    assert_true(took >= 50ll * 1000000);
    assert_true(took < 2000ll * 1000000);
    t0 = mpfs_now_ns();
    assert_int_equal(stat_rc(f, "f"), 0);
    assert_true(mpfs_now_ns() - t0 < 20ll * 1000000);
}

static void test_change_version(void **state)
{
    struct fix *x = *state;
    struct mpfs_backend *f = x->f;
    struct mpfs_attr v1;
    struct mpfs_attr v2;
    char buf[32];

    assert_int_equal(mpfs_backend_put_buf(f, "f", "orig", 4, NULL, &v1), 0);
    /* someone rewrites f just before our pinned read: -ESTALE, never a mix */
    struct mpfs_fault_rule r = {
        .ops = MPFS_FAULT_OP_READ, .action = MPFS_FAULT_CHANGE_VERSION, .count = 1};
    assert_true(mpfs_fault_add(f, &r) > 0);
    assert_int_equal(mpfs_backend_read(f, "f", v1.version, buf, sizeof(buf), 0), -ESTALE);
    assert_int_equal(mpfs_backend_stat(f, "f", &v2), 0);
    assert_string_not_equal(v1.version, v2.version);
    assert_int_equal(mpfs_backend_read(f, "f", v2.version, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "orig", 4);

    /* with new content, and a conditional put that then loses */
    r = (struct mpfs_fault_rule){.ops = MPFS_FAULT_OP_PUT,
                                 .action = MPFS_FAULT_CHANGE_VERSION,
                                 .data = "theirs",
                                 .data_len = 6,
                                 .count = 1};
    assert_true(mpfs_fault_add(f, &r) > 0);
    struct mpfs_put_opts o = {.if_match = v2.version};
    assert_int_equal(mpfs_backend_put_buf(f, "f", "mine", 4, &o, NULL), -ESTALE);
    assert_int_equal(mpfs_backend_read(f, "f", NULL, buf, sizeof(buf), 0), 6);
    assert_memory_equal(buf, "theirs", 6);
}

/* A remote write just before an in-place write with a precondition: the
 * conflict is reported and nothing of ours lands (the NFS view of the
 * dual fake; pwrite rules match pwrite_if). */
static void test_change_version_pwrite_if(void **state)
{
    struct mpfs_backend *s3;
    struct mpfs_backend *nfs;
    s3 = mpfs_mem_dual_new(&nfs);
    struct mpfs_backend *f = mpfs_fault_new(nfs, 1);
    struct mpfs_attr v1;
    struct mpfs_attr v2;
    char buf[32];

    assert_int_equal(mpfs_backend_put_buf(f, "f", "orig", 4, NULL, &v1), 0);
    struct mpfs_fault_rule r = {.ops = MPFS_FAULT_OP_PWRITE,
                                .action = MPFS_FAULT_CHANGE_VERSION,
                                .data = "theirs",
                                .data_len = 6,
                                .count = 1};
    int id = mpfs_fault_add(f, &r);
    assert_true(id > 0);
    assert_int_equal(mpfs_backend_pwrite_if(f, "f", "M", 1, 0, v1.version, NULL), -ESTALE);
    assert_int_equal(mpfs_backend_read(s3, "f", NULL, buf, sizeof(buf), 0), 6);
    assert_memory_equal(buf, "theirs", 6);
    /* at the new version it goes through */
    assert_int_equal(mpfs_backend_stat(f, "f", &v2), 0);
    assert_int_equal(mpfs_backend_pwrite_if(f, "f", "M", 1, 0, v2.version, &v1), 1);
    assert_string_not_equal(v1.version, v2.version);
    assert_int_equal(mpfs_fault_fired(f, id), 1);
    mpfs_backend_free(f);
    mpfs_backend_free(s3);
}

/* A backend that is not mem (a plain forwarder to one), to drive the
 * generic change-version path through the ops table. */
struct proxy {
    struct mpfs_backend base;
    struct mpfs_backend *in;
};

static int px_stat(struct mpfs_backend *b, const char *p, struct mpfs_attr *o)
{
    return mpfs_backend_stat(((struct proxy *)b)->in, p, o);
}

static int px_list(struct mpfs_backend *b, const char *d, mpfs_list_fn fn, void *arg)
{
    return mpfs_backend_list(((struct proxy *)b)->in, d, fn, arg);
}

static ssize_t px_read(struct mpfs_backend *b, const char *p, const char *v, void *buf, size_t len,
                       uint64_t off)
{
    return mpfs_backend_read(((struct proxy *)b)->in, p, v, buf, len, off);
}

static int px_put(struct mpfs_backend *b, const char *p, int fd, uint64_t size,
                  const struct mpfs_put_opts *o, struct mpfs_attr *out)
{
    return mpfs_backend_put(((struct proxy *)b)->in, p, fd, size, o, out);
}

static int px_remove(struct mpfs_backend *b, const char *p)
{
    return mpfs_backend_remove(((struct proxy *)b)->in, p);
}

static int px_mkdir(struct mpfs_backend *b, const char *p, uint32_t mode)
{
    return mpfs_backend_mkdir(((struct proxy *)b)->in, p, mode);
}

static int px_rmdir(struct mpfs_backend *b, const char *p)
{
    return mpfs_backend_rmdir(((struct proxy *)b)->in, p);
}

static void px_destroy(struct mpfs_backend *b)
{
    mpfs_backend_free(((struct proxy *)b)->in);
    free(b);
}

static const struct mpfs_backend_ops proxy_ops = {
    .version = MPFS_BACKEND_OPS_VERSION,
    .stat = px_stat,
    .list = px_list,
    .read = px_read,
    .put = px_put,
    .remove = px_remove,
    .mkdir = px_mkdir,
    .rmdir = px_rmdir,
    .destroy = px_destroy,
};

static void test_change_version_generic(void **state)
{
    struct proxy *p = mpfs_xcalloc(1, sizeof(*p));
    p->in = mpfs_mem_new(MPFS_MEM_CAPS_S3);
    p->base.ops = &proxy_ops;
    p->base.kind = "proxy";
    p->base.caps = p->in->caps;
    struct mpfs_backend *f = mpfs_fault_new(&p->base, 1);
    struct mpfs_attr v1;
    struct mpfs_attr v2;
    char buf[16];

    assert_int_equal(mpfs_backend_put_buf(f, "f", "abc", 3, NULL, &v1), 0);
    /* no data: the object is read and put back (a new version on mem) */
    struct mpfs_fault_rule r = {
        .ops = MPFS_FAULT_OP_STAT, .action = MPFS_FAULT_CHANGE_VERSION, .count = 1};
    assert_true(mpfs_fault_add(f, &r) > 0);
    assert_int_equal(mpfs_backend_stat(f, "f", &v2), 0);
    assert_string_not_equal(v1.version, v2.version);
    assert_int_equal(mpfs_backend_read(f, "f", NULL, buf, sizeof(buf), 0), 3);
    assert_memory_equal(buf, "abc", 3);
    /* with data: a put of it */
    r.data = "xyz!";
    r.data_len = 4;
    assert_true(mpfs_fault_add(f, &r) > 0);
    assert_int_equal(mpfs_backend_stat(f, "f", &v2), 0);
    assert_int_equal(v2.size, 4);
    /* optional slots the proxy lacks: -EOPNOTSUPP through both layers */
    assert_int_equal(mpfs_backend_pwrite(f, "f", "x", 1, 0), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_rename(f, "f", "g", 0), -EOPNOTSUPP);
    mpfs_backend_free(f);
}

static void test_error_after_call(void **state)
{
    struct fix *x = *state;
    struct mpfs_backend *f = x->f;
    char buf[8];
    /* the put reaches the store, the reply is lost */
    struct mpfs_fault_rule r = {.ops = MPFS_FAULT_OP_PUT,
                                .action = MPFS_FAULT_ERROR_AFTER,
                                .error = ECONNRESET,
                                .count = 1};
    assert_true(mpfs_fault_add(f, &r) > 0);
    assert_int_equal(put(f, "f", "landed"), -ECONNRESET);
    assert_int_equal(mpfs_backend_read(x->mem, "f", NULL, buf, sizeof(buf), 0), 6);
    assert_memory_equal(buf, "landed", 6);
    /* a plain error never reaches it */
    r.action = MPFS_FAULT_ERROR;
    assert_true(mpfs_fault_add(f, &r) > 0);
    assert_int_equal(put(f, "g", "never"), -ECONNRESET);
    assert_int_equal(stat_rc(x->mem, "g"), -ENOENT);
}

static void test_invalid_rules(void **state)
{
    struct fix *x = *state;
    struct mpfs_backend *f = x->f;
    struct mpfs_fault_rule ok = {
        .ops = MPFS_FAULT_OP_STAT, .action = MPFS_FAULT_ERROR, .error = EIO, .count = 1};
    struct mpfs_fault_rule r;

    r = ok;
    r.count = 0; /* a forgotten count must not be a silent no-op */
    assert_int_equal(mpfs_fault_add(f, &r), -EINVAL);
    r = ok;
    r.count = -2;
    assert_int_equal(mpfs_fault_add(f, &r), -EINVAL);
    r = ok;
    r.ops = 0;
    assert_int_equal(mpfs_fault_add(f, &r), -EINVAL);
    r = ok;
    r.ops = 1u << 30;
    assert_int_equal(mpfs_fault_add(f, &r), -EINVAL);
    r = ok;
    r.action = 0;
    assert_int_equal(mpfs_fault_add(f, &r), -EINVAL);
    r = ok;
    r.error = 0;
    assert_int_equal(mpfs_fault_add(f, &r), -EINVAL);
    r = ok;
    r.after = -1;
    assert_int_equal(mpfs_fault_add(f, &r), -EINVAL);
    r = ok;
    r.action = MPFS_FAULT_CHANGE_VERSION;
    r.data_len = 3;
    assert_int_equal(mpfs_fault_add(f, &r), -EINVAL);
    /* ids are distinct and the path is copied */
    char path[8] = "abc";
    r = ok;
    r.path = path;
    int a = mpfs_fault_add(f, &r);
    int b = mpfs_fault_add(f, &ok);
    assert_true(a > 0 && b > 0 && a != b);
    strcpy(path, "zzz");
    assert_int_equal(put(x->mem, "abc", "x"), 0);
    assert_int_equal(stat_rc(f, "abc"), -EIO);
}

struct racer {
    struct mpfs_backend *f;
    int failures;
};

static void *racer(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < 500; i++) {
        if (stat_rc(r->f, "f") == -EIO) {
            r->failures++;
        }
    }
    return NULL;
}

static void test_threads_exact_counts(void **state)
{
    struct fix *x = *state;
    assert_int_equal(put(x->f, "f", "x"), 0);
    struct mpfs_fault_rule r = {.ops = MPFS_FAULT_OP_STAT,
                                .action = MPFS_FAULT_ERROR,
                                .error = EIO,
                                .count = 100,
                                .after = 50};
    int id = mpfs_fault_add(x->f, &r);
    struct racer rs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        rs[i] = (struct racer){.f = x->f};
        assert_int_equal(pthread_create(&th[i], NULL, racer, &rs[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += rs[i].failures;
    }
    assert_int_equal(total, 100);
    assert_int_equal(mpfs_fault_fired(x->f, id), 100);
    assert_int_equal(mpfs_fault_calls(x->f, MPFS_FAULT_OP_STAT), 2000);
}

static void test_not_owning_inner(void **state)
{
    struct mpfs_backend *mem = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);
    struct mpfs_backend *f = mpfs_fault_new(mem, 0);
    assert_int_equal(put(f, "f", "x"), 0);
    mpfs_backend_free(f);
    assert_int_equal(stat_rc(mem, "f"), 0); /* still alive */
    /* stacked wrappers: change-version reaches the store underneath */
    struct mpfs_backend *f1 = mpfs_fault_new(mem, 0);
    struct mpfs_backend *f2 = mpfs_fault_new(f1, 1);
    struct mpfs_attr v1;
    struct mpfs_attr v2;
    assert_int_equal(mpfs_backend_stat(f2, "f", &v1), 0);
    struct mpfs_fault_rule r = {
        .ops = MPFS_FAULT_OP_STAT, .action = MPFS_FAULT_CHANGE_VERSION, .count = 1};
    assert_true(mpfs_fault_add(f2, &r) > 0);
    assert_int_equal(mpfs_backend_stat(f2, "f", &v2), 0);
    assert_string_not_equal(v1.version, v2.version);
    assert_int_equal(mpfs_fault_calls(f1, MPFS_FAULT_OP_ALL), 2); /* only the stats */
    mpfs_backend_free(f2);
    mpfs_backend_free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forwards_everything, setup, teardown),
        cmocka_unit_test(test_change_version_pwrite_if),
        cmocka_unit_test_setup_teardown(test_error_after_and_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_substring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_version, setup, teardown),
        cmocka_unit_test(test_change_version_generic),
        cmocka_unit_test_setup_teardown(test_error_after_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_exact_counts, setup, teardown),
        cmocka_unit_test(test_not_owning_inner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

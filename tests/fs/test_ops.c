/*
 * test_ops.c - the operations behind `mpfs ctl` on the fs core over the
 * in-memory stores: flush_all commits staged writes of open files and
 * reports none twice; invalidate makes an immutable (trusted forever)
 * entry and listing revalidate, keeps inode numbers, and leaves
 * uncommitted writes alone.
 */
#include "tests/fs/fs_fixture.h"

#include "backends/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void backend_is(struct mpfs_backend *b, const char *path, const char *expect)
{
    char buf[256];
    ssize_t n = mpfs_backend_read(b, path, NULL, buf, sizeof(buf), 0);
    assert_int_equal(n, (ssize_t)strlen(expect));
    assert_memory_equal(buf, expect, (size_t)n);
}

struct failures {
    int n;
};

static void on_failed(void *arg, const char *path, int err)
{
    struct failures *fl = arg;
    fl->n++;
    (void)path;
    (void)err;
}

static void test_flush_all_commits_open_files(void **state)
{
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_entry e;
    struct mpfs_handle *h;
    assert_int_equal(mpfs_vfs_create(f->fs, MPFS_ROOT_INO, "w", 0644, O_WRONLY, NULL, &e, &h), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "staged", 6, 0), 6);
    struct mpfs_attr a;
    assert_int_equal(mpfs_backend_stat(f->s3, "w", &a), -ENOENT);
    struct failures fl = {0};
    uint64_t done = 99;
    assert_int_equal(mpfs_vfs_flush_all(f->fs, on_failed, &fl, &done), 0);
    assert_int_equal(done, 1);
    assert_int_equal(fl.n, 0);
    backend_is(f->s3, "w", "staged");
    assert_int_equal(mpfs_vfs_flush_all(f->fs, on_failed, &fl, &done), 0);
    assert_int_equal(done, 0);
    mpfs_vfs_release(f->fs, h);
    mpfs_vfs_forget(f->fs, e.ino, 1);
    fixture_free(f);
}

static void test_invalidate_immutable(void **state)
{
    struct fixture *f = fixture_new("s3", "policy=data:immutable");
    char buf[64];
    assert_int_equal(mpfs_mem_put_raw(f->s3, "data/f", "AAAA", 4), 0);
    assert_int_equal(fx_read_file(f, "data/f", buf, sizeof(buf)), 4);
    struct mpfs_entry e1, e2;
    assert_int_equal(fx_lookup_path(f, "data/f", &e1), 0);
    char *l = fx_list(f, "data");
    assert_string_equal(l, "f");
    free(l);

    assert_int_equal(mpfs_mem_put_raw(f->s3, "data/f", "BBBBBB", 6), 0);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "data/g", "g", 1), 0);
    /* immutable: trusted as indexed */
    assert_int_equal(fx_read_file(f, "data/f", buf, sizeof(buf)), 4);
    l = fx_list(f, "data");
    assert_string_equal(l, "f");
    free(l);

    assert_int_equal(mpfs_vfs_invalidate(f->fs, "data/f", 0), 0);
    assert_int_equal(fx_read_file(f, "data/f", buf, sizeof(buf)), 6);
    assert_memory_equal(buf, "BBBBBB", 6);
    assert_int_equal(fx_lookup_path(f, "data/f", &e2), 0);
    assert_int_equal(e1.ino, e2.ino); /* inode numbers survive */

    assert_int_equal(mpfs_vfs_invalidate(f->fs, "data", 1), 0);
    l = fx_list(f, "data");
    assert_string_equal(l, "f\ng");
    free(l);
    assert_int_equal(mpfs_vfs_invalidate(f->fs, "nope/x", 0), -ENOENT);
    assert_int_equal(mpfs_vfs_invalidate(f->fs, "", 1), 0);
    mpfs_vfs_forget(f->fs, e1.ino, 2);
    fixture_free(f);
}

static void test_invalidate_keeps_staged_writes(void **state)
{
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_entry e;
    struct mpfs_handle *h;
    assert_int_equal(mpfs_vfs_create(f->fs, MPFS_ROOT_INO, "w", 0644, O_RDWR, NULL, &e, &h), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "mine", 4, 0), 4);
    assert_int_equal(mpfs_vfs_invalidate(f->fs, "", 1), 0);
    struct mpfs_entry e2;
    assert_int_equal(fx_lookup_path(f, "w", &e2), 0);
    assert_int_equal(e2.ino, e.ino);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), 0);
    mpfs_vfs_release(f->fs, h);
    backend_is(f->s3, "w", "mine");
    mpfs_vfs_forget(f->fs, e.ino, 2);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_all_commits_open_files),
        cmocka_unit_test(test_invalidate_immutable),
        cmocka_unit_test(test_invalidate_keeps_staged_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_reconciler.c - the background reconciler (fs/reconciler.c) over
 * in-memory backends: its request budget, the bounded and aging set of
 * recently used directories, changes made behind the mount's back applied
 * without a HEAD per stat, local data never touched, open handles kept on
 * their version.  Passes are driven by hand with a fake clock, so nothing
 * here sleeps except the one test of the worker thread's rate.
 */
#include "tests/fs/fs_fixture.h"

#include "backends/mem.h"
#include "base/util.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/node.h"
#include "fs/reconciler.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define SEC 1000000000LL

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

static struct fixture *setup(const char *mode, const char *opts)
{
    struct fixture *f = fixture_new(mode, opts);
    fake_now = 1000 * SEC;
    mpfs_reconciler_set_clock(f->fs, fake_clock);
    return f;
}

static uint64_t calls(struct fixture *f, int op)
{
    struct mpfs_backend *b = f->fs->router.route[MPFS_R_META];
    return atomic_load(&b->counters.calls[op]);
}

static uint64_t dir_ino(struct fixture *f, const char *path)
{
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, path, &e), 0);
    return e.ino;
}

static off_t stat_size(struct fixture *f, uint64_t ino)
{
    struct stat st;
    double t;
    assert_int_equal(mpfs_vfs_getattr(f->fs, ino, &st, &t), 0);
    return st.st_size;
}

static void mkdirs(struct fixture *f, int n)
{
    for (int i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof(key), "d%02d/x", i);
        assert_int_equal(mpfs_mem_put_raw(f->s3, key, "x", 1), 0);
    }
}

/* A pass spends at most its budget: 30 due directories, 10 requests. */
static void test_budget_per_pass(void **state)
{
    (void)state;
    struct fixture *f = setup("s3", "tree_walk_keys=0");
    mkdirs(f, 30);
    for (int i = 0; i < 30; i++) {
        char d[16];
        snprintf(d, sizeof(d), "d%02d", i);
        mpfs_reconciler_touch(f->fs, dir_ino(f, d));
    }
    fake_now += 2 * SEC;
    uint64_t lists = calls(f, MPFS_BOP_LIST);
    assert_int_equal(mpfs_reconciler_pass(f->fs, 10), 10);
    assert_int_equal(calls(f, MPFS_BOP_LIST) - lists, 10);
    /* the next pass takes the 20 still waiting (and the root, where they
     * were looked up), not the 10 just done */
    assert_int_equal(mpfs_reconciler_pass(f->fs, 100), 21);
    assert_int_equal(calls(f, MPFS_BOP_LIST) - lists, 31);
    /* nothing is due again before an interval has passed */
    assert_int_equal(mpfs_reconciler_pass(f->fs, 100), 0);
    fixture_free(f);
}

/* A listing costs a request per 1,000 names: a directory of 2,500 entries
 * spends 3 of the budget (the pass may overdraw; the worker's bucket then
 * waits to refill). */
static void test_big_directory_costs_pages(void **state)
{
    (void)state;
    struct fixture *f = setup("s3", "tree_walk_keys=0");
    for (int i = 0; i < 2500; i++) {
        char key[64];
        snprintf(key, sizeof(key), "big/f%04d", i);
        assert_int_equal(mpfs_mem_put_raw(f->s3, key, "x", 1), 0);
    }
    uint64_t big = dir_ino(f, "big");
    struct mpfs_dirhandle *dh;
    assert_int_equal(mpfs_vfs_opendir(f->fs, big, &dh), 0);
    mpfs_vfs_releasedir(f->fs, dh);
    fake_now += 2 * SEC;
    /* big: 1 + 2 pages; the root (big was looked up there): 1 */
    int spent = mpfs_reconciler_pass(f->fs, 100);
    assert_int_equal(spent, 3 + 1);
    fixture_free(f);
}

/* A directory under an immutable prefix is never re-listed: its listing
 * is served forever once taken (test_ops.py's policy test found the
 * reconciler showing a new key there). */
static void test_immutable_prefix_not_reconciled(void **state)
{
    (void)state;
    struct fixture *f = setup("s3", "tree_walk_keys=0,policy=data:immutable");
    assert_int_equal(mpfs_mem_put_raw(f->s3, "data/a", "a", 1), 0);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "other/a", "a", 1), 0);
    uint64_t data = dir_ino(f, "data"), other = dir_ino(f, "other");
    mpfs_reconciler_touch(f->fs, data);
    mpfs_reconciler_touch(f->fs, other);
    fake_now += 2 * SEC;
    uint64_t lists = calls(f, MPFS_BOP_LIST);
    /* other and the root are listed; data is dropped from the set, free */
    assert_int_equal(mpfs_reconciler_pass(f->fs, 100), 2);
    assert_int_equal(calls(f, MPFS_BOP_LIST) - lists, 2);
    assert_int_equal(mpfs_reconciler_listed(f->fs, data), 0);
    assert_true(mpfs_reconciler_listed(f->fs, other) > 0);
    fixture_free(f);
}

/* The worker thread keeps to reconcile_rate requests per second. */
static void test_worker_rate(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", "tree_walk_keys=0,reconcile_rate=20,"
                                          "reconcile_interval=0.001");
    mkdirs(f, 40);
    for (int i = 0; i < 40; i++) {
        char d[16];
        snprintf(d, sizeof(d), "d%02d", i);
        mpfs_reconciler_touch(f->fs, dir_ino(f, d));
    }
    uint64_t lists = calls(f, MPFS_BOP_LIST);
    int64_t t0 = mpfs_now_ns();
    assert_int_equal(mpfs_reconciler_start(f->fs), 0);
    usleep(600000);
    mpfs_reconciler_stop(f->fs);
    double secs = (double)(mpfs_now_ns() - t0) / 1e9;
    uint64_t done = calls(f, MPFS_BOP_LIST) - lists;
    /* one token to start with, then 20 per second */
    assert_true(done >= 5);
    assert_true((double)done <= 1 + 20 * secs + 1);
    fixture_free(f);
}

/* The set is bounded (LRU out) and ages out unused directories. */
static void test_set_bounded_and_aging(void **state)
{
    (void)state;
    struct fixture *f = setup("s3", "tree_walk_keys=0,reconcile_dirs=4,reconcile_window=60");
    mkdirs(f, 6);
    uint64_t ino[6];
    for (int i = 0; i < 6; i++) {
        char d[16];
        snprintf(d, sizeof(d), "d%02d", i);
        ino[i] = dir_ino(f, d);
    }
    for (int i = 0; i < 6; i++) {
        mpfs_reconciler_touch(f->fs, ino[i]);
        fake_now += SEC;
    }
    struct mpfs_reconciler_stats st;
    mpfs_reconciler_get_stats(f->fs, &st);
    assert_int_equal(st.watched, 4);
    assert_int_equal(st.evicted, 3); /* the root (the lookups were there), d00, d01 */
    /* d00 and d01, the least recently used, left; the others are listed */
    fake_now += 2 * SEC;
    mpfs_reconciler_pass(f->fs, 100);
    assert_int_equal(mpfs_reconciler_listed(f->fs, ino[0]), 0);
    assert_int_equal(mpfs_reconciler_listed(f->fs, ino[1]), 0);
    assert_true(mpfs_reconciler_listed(f->fs, ino[5]) > 0);
    /* used again: d05 stays, the rest age out after the window */
    fake_now += 30 * SEC;
    mpfs_reconciler_touch(f->fs, ino[5]);
    fake_now += 40 * SEC;
    mpfs_reconciler_pass(f->fs, 100);
    mpfs_reconciler_get_stats(f->fs, &st);
    assert_int_equal(st.watched, 1);
    assert_int_equal(st.aged, 3);
    assert_true(mpfs_reconciler_listed(f->fs, ino[5]) > 0);
    fixture_free(f);
}

/* Remote overwrite, new object, delete: applied by a pass; then stat and
 * lookup answer from the index, without a HEAD, even with meta_ttl=0
 * (the reconciled rule of consistency/policy.c). */
static void test_changes_applied_without_head(void **state)
{
    (void)state;
    struct fixture *f = setup("s3", "tree_walk_keys=0,meta_ttl=0,neg_ttl=0");
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/a", "old", 3), 0);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/gone", "g", 1), 0);
    uint64_t d = dir_ino(f, "d");
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "d/a", &e), 0);
    uint64_t a = e.ino;
    assert_int_equal(stat_size(f, a), 3);
    assert_int_equal(fx_lookup_path(f, "d/gone", &e), 0);

    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/a", "newer!", 6), 0);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/b", "bb", 2), 0);
    assert_int_equal(mpfs_mem_remove_raw(f->s3, "d/gone"), 0);
    fake_now += 2 * SEC;
    assert_true(mpfs_reconciler_pass(f->fs, 100) >= 1);

    assert_int_equal(fx_lookup_path(f, "d/gone", &e), -ENOENT);
    uint64_t heads = calls(f, MPFS_BOP_STAT);
    assert_int_equal(stat_size(f, a), 6);
    assert_int_equal(fx_lookup_path(f, "d/b", &e), 0);
    assert_int_equal(e.st.st_size, 2);
    for (int i = 0; i < 100; i++)
        assert_int_equal(stat_size(f, a), 6);
    assert_int_equal(calls(f, MPFS_BOP_STAT), heads); /* no HEAD per stat */
    assert_true(mpfs_reconciler_listed(f->fs, d) > 0);
    fixture_free(f);
}

/* A name created right after a reconciler pass is found by lookup (a
 * HEAD), not hidden as "absent from a fresh listing" until the next pass
 * (found by test_consistency.py through the mount: mkdir said EEXIST while
 * stat said ENOENT). */
static void test_new_name_after_pass_found(void **state)
{
    (void)state;
    struct fixture *f = setup("s3", "tree_walk_keys=0,neg_ttl=30");
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/a", "a", 1), 0);
    uint64_t d = dir_ino(f, "d");
    mpfs_reconciler_touch(f->fs, d);
    fake_now += 2 * SEC;
    assert_true(mpfs_reconciler_pass(f->fs, 100) >= 1);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/late", "late", 4), 0);
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "d/late", &e), 0);
    assert_int_equal(e.st.st_size, 4);
    fixture_free(f);
}

/* Entries created here and not uploaded, and files with staged writes,
 * are left as they are by a pass. */
static void test_local_and_dirty_untouched(void **state)
{
    (void)state;
    struct fixture *f = setup("s3", "tree_walk_keys=0,meta_ttl=0");
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/edit", "base", 4), 0);
    uint64_t d = dir_ino(f, "d");
    struct mpfs_entry e;
    /* a new local file, written, not flushed */
    struct mpfs_handle *hn;
    assert_int_equal(mpfs_vfs_create(f->fs, d, "fresh", 0644, O_WRONLY | O_CREAT, NULL, &e, &hn),
                     0);
    uint64_t fresh = e.ino;
    assert_int_equal(mpfs_vfs_write(f->fs, hn, "local data", 10, 0), 10);
    /* an existing file with a staged edit, then overwritten remotely */
    assert_int_equal(fx_lookup_path(f, "d/edit", &e), 0);
    uint64_t edit = e.ino;
    struct mpfs_handle *he;
    int keep;
    assert_int_equal(mpfs_vfs_open(f->fs, edit, O_RDWR, &he, &keep), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, he, "mine: longer", 12, 0), 12);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/edit", "theirs", 6), 0);

    mpfs_reconciler_touch(f->fs, d);
    fake_now += 2 * SEC;
    assert_true(mpfs_reconciler_pass(f->fs, 100) >= 1);

    assert_int_equal(stat_size(f, fresh), 10);
    assert_int_equal(fx_lookup_path(f, "d/fresh", &e), 0);
    assert_int_equal(stat_size(f, edit), 12);
    char buf[32];
    assert_int_equal(mpfs_vfs_read(f->fs, he, buf, sizeof(buf), 0), 12);
    assert_memory_equal(buf, "mine: longer", 12);
    /* both still reach the store (the edit as a conflict copy or over theirs,
     * per the conflict rule: nothing is lost) */
    assert_int_equal(mpfs_vfs_flush(f->fs, hn), 0);
    mpfs_vfs_release(f->fs, hn);
    mpfs_vfs_flush(f->fs, he);
    mpfs_vfs_release(f->fs, he);
    char got[32];
    assert_int_equal(mpfs_backend_read(f->s3, "d/fresh", NULL, got, sizeof(got), 0), 10);
    assert_memory_equal(got, "local data", 10);
    fixture_free(f);
}

/* A file deleted remotely while open stays readable through its handle
 * (its cached blocks are not dropped), and an overwrite never mixes
 * versions inside one handle: bytes of the pinned version or an error. */
static void test_open_handle_pinned(void **state)
{
    (void)state;
    struct fixture *f = setup("s3", "tree_walk_keys=0,meta_ttl=0,block_size=4K");
    char v1[3 * 4096], v2[3 * 4096], buf[3 * 4096];
    memset(v1, '1', sizeof(v1));
    memset(v2, '2', sizeof(v2));
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/gone", v1, sizeof(v1)), 0);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/over", v1, sizeof(v1)), 0);
    uint64_t d = dir_ino(f, "d");
    struct mpfs_entry e;
    int keep;
    struct mpfs_handle *hg, *ho;
    assert_int_equal(fx_lookup_path(f, "d/gone", &e), 0);
    assert_int_equal(mpfs_vfs_open(f->fs, e.ino, O_RDONLY, &hg, &keep), 0);
    assert_int_equal(mpfs_vfs_read(f->fs, hg, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
    assert_int_equal(fx_lookup_path(f, "d/over", &e), 0);
    assert_int_equal(mpfs_vfs_open(f->fs, e.ino, O_RDONLY, &ho, &keep), 0);
    assert_int_equal(mpfs_vfs_read(f->fs, ho, buf, 4096, 0), 4096);

    assert_int_equal(mpfs_mem_remove_raw(f->s3, "d/gone"), 0);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/over", v2, sizeof(v2)), 0);
    mpfs_reconciler_touch(f->fs, d);
    fake_now += 2 * SEC;
    assert_true(mpfs_reconciler_pass(f->fs, 100) >= 1);
    assert_int_equal(fx_lookup_path(f, "d/gone", &e), -ENOENT);

    memset(buf, 0, sizeof(buf));
    assert_int_equal(mpfs_vfs_read(f->fs, hg, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
    assert_memory_equal(buf, v1, sizeof(v1));
    ssize_t got = mpfs_vfs_read(f->fs, ho, buf, sizeof(buf), 0);
    if (got > 0) {
        for (ssize_t i = 0; i < got; i++)
            assert_int_equal(buf[i], '1');
    }
    /* the open file's attributes stay its handles' version (the kernel
     * sizes reads by them: found by test_consistency.py's flip test) */
    assert_int_equal(stat_size(f, ho->node->ino), (off_t)sizeof(v1));
    uint64_t over = ho->node->ino;
    mpfs_vfs_release(f->fs, hg);
    mpfs_vfs_release(f->fs, ho);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/over", v2, 5), 0);
    fake_now += 2 * SEC;
    assert_true(mpfs_reconciler_pass(f->fs, 100) >= 1);
    assert_int_equal(stat_size(f, over), 5); /* closed: up to date at the next pass */
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/over", v2, sizeof(v2)), 0);
    fake_now += 2 * SEC;
    assert_true(mpfs_reconciler_pass(f->fs, 100) >= 1);
    /* a new open sees the new version whole */
    assert_int_equal(fx_read_file(f, "d/over", buf, sizeof(buf)), (ssize_t)sizeof(buf));
    assert_memory_equal(buf, v2, sizeof(v2));
    fixture_free(f);
}

/* NFS metadata side: a GETATTR of the directory per pass; a READDIRPLUS
 * only when its change attribute moved (or reconcile_full passed). */
static void test_nfs_getattr_then_list(void **state)
{
    (void)state;
    struct fixture *f = setup("nfs", "tree_walk_keys=0,reconcile_full=3600");
    assert_int_equal(mpfs_mem_put_raw(f->nfs, "d/a", "a", 1), 0);
    uint64_t d = dir_ino(f, "d");
    struct mpfs_dirhandle *dh;
    assert_int_equal(mpfs_vfs_opendir(f->fs, d, &dh), 0);
    mpfs_vfs_releasedir(f->fs, dh);
    fake_now += 2 * SEC;
    uint64_t lists = calls(f, MPFS_BOP_LIST), stats = calls(f, MPFS_BOP_STAT);
    /* d and the root (d was looked up there) are watched */
    mpfs_reconciler_pass(f->fs, 100); /* first check: learns the tokens, lists */
    assert_int_equal(calls(f, MPFS_BOP_LIST) - lists, 2);
    assert_int_equal(calls(f, MPFS_BOP_STAT) - stats, 2);
    fake_now += 2 * SEC;
    mpfs_reconciler_pass(f->fs, 100); /* unchanged: GETATTRs only */
    assert_int_equal(calls(f, MPFS_BOP_LIST) - lists, 2);
    assert_int_equal(calls(f, MPFS_BOP_STAT) - stats, 4);
    sleep(1); /* the in-memory POSIX view's mtime has ns, but be safe */
    assert_int_equal(mpfs_mem_put_raw(f->nfs, "d/b", "b", 1), 0);
    fake_now += 2 * SEC;
    mpfs_reconciler_pass(f->fs, 100); /* d moved: listed; the root did not */
    assert_int_equal(calls(f, MPFS_BOP_LIST) - lists, 3);
    struct mpfs_entry e;
    uint64_t heads = calls(f, MPFS_BOP_STAT);
    assert_int_equal(fx_lookup_path(f, "d/b", &e), 0);
    assert_int_equal(calls(f, MPFS_BOP_STAT), heads);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_per_pass),
        cmocka_unit_test(test_big_directory_costs_pages),
        cmocka_unit_test(test_immutable_prefix_not_reconciled),
        cmocka_unit_test(test_worker_rate),
        cmocka_unit_test(test_set_bounded_and_aging),
        cmocka_unit_test(test_changes_applied_without_head),
        cmocka_unit_test(test_new_name_after_pass_found),
        cmocka_unit_test(test_local_and_dirty_untouched),
        cmocka_unit_test(test_open_handle_pinned),
        cmocka_unit_test(test_nfs_getattr_then_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

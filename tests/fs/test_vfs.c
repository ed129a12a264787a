/*
 * test_vfs.c - the fs core over in-memory backends: write path, commits,
 * conflicts, pinned reads, remount from the index, routing per mode.
 */
#include "tests/fs/fs_fixture.h"

#include "backends/mem.h"
#include "base/util.h"
#include "fs/fs_state.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

static void backend_content(struct mpfs_backend *b, const char *path, const char *expect)
{
    char buf[256];
    ssize_t n = mpfs_backend_read(b, path, NULL, buf, sizeof(buf), 0);
    assert_int_equal(n, (ssize_t)strlen(expect));
    assert_memory_equal(buf, expect, (size_t)n);
}

static void test_write_read_s3(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    assert_int_equal(fx_write_file(f, "hello.txt", "hello world", 11), 0);
    backend_content(f->s3, "hello.txt", "hello world");
    char buf[64];
    assert_int_equal(fx_read_file(f, "hello.txt", buf, sizeof(buf)), 11);
    assert_memory_equal(buf, "hello world", 11);
    /* s3fs-compatible metadata went up with it */
    struct mpfs_attr a;
    assert_int_equal(mpfs_backend_stat(f->s3, "hello.txt", &a), 0);
    assert_true(a.valid & MPFS_ATTR_MODE);
    assert_int_equal(a.mode & 07777, 0644);
    fixture_free(f);
}

static void test_overwrite_and_append(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    assert_int_equal(fx_write_file(f, "f", "0123456789", 10), 0);
    /* partial overwrite in the middle: the rest must survive (rewrite) */
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "f", &e), 0);
    struct mpfs_handle *h;
    int keep;
    assert_int_equal(mpfs_vfs_open(f->fs, e.ino, O_WRONLY, &h, &keep), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "ab", 2, 3), 2);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "XY", 2, 10), 2);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), 0);
    mpfs_vfs_release(f->fs, h);
    backend_content(f->s3, "f", "012ab56789XY");
    fixture_free(f);
}

static void test_external_change_seen(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", "dir_ttl=0,dir_stale=0,meta_ttl=0,neg_ttl=0");
    char *l = fx_list(f, "");
    assert_string_equal(l, "");
    free(l);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "new/obj", "abc", 3), 0);
    l = fx_list(f, "");
    assert_string_equal(l, "new/");
    free(l);
    char buf[8];
    assert_int_equal(fx_read_file(f, "new/obj", buf, sizeof(buf)), 3);
    /* overwrite behind our back: the next open sees the new content */
    assert_int_equal(mpfs_mem_put_raw(f->s3, "new/obj", "wxyz", 4), 0);
    assert_int_equal(fx_read_file(f, "new/obj", buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "wxyz", 4);
    /* deleted behind our back */
    assert_int_equal(mpfs_mem_remove_raw(f->s3, "new/obj"), 0);
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "new/obj", &e), -ENOENT);
    fixture_free(f);
}

static void test_pinned_read_never_mixes(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", "cache_ram=1M,block_size=4K,readahead_max=4K");
    static char v1[64 * 1024];
    memset(v1, 'a', sizeof(v1));
    assert_int_equal(mpfs_mem_put_raw(f->s3, "big", v1, sizeof(v1)), 0);
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "big", &e), 0);
    struct mpfs_handle *h;
    int keep;
    assert_int_equal(mpfs_vfs_open(f->fs, e.ino, O_RDONLY, &h, &keep), 0);
    char buf[4096];
    assert_int_equal(mpfs_vfs_read(f->fs, h, buf, sizeof(buf), 0), 4096);
    assert_int_equal(buf[0], 'a');
    static char v2[64 * 1024];
    memset(v2, 'b', sizeof(v2));
    assert_int_equal(mpfs_mem_put_raw(f->s3, "big", v2, sizeof(v2)), 0);
    /* a block not read yet: must not come from the new version */
    ssize_t n = mpfs_vfs_read(f->fs, h, buf, sizeof(buf), 60 * 1024);
    if (n >= 0) {
        /* served from readahead of the old version: still version 1 */
        assert_int_equal(buf[0], 'a');
    } else {
        assert_int_equal(n, -ESTALE);
    }
    mpfs_vfs_release(f->fs, h);
    fixture_free(f);
}

struct found {
    int n;
    char name[300];
};

static int find_conflict(void *arg, const char *name, size_t len, const struct mpfs_attr *a,
                         int full)
{
    (void)a;
    (void)full;
    struct found *fo = arg;
    if (len > 18 && strncmp(name, "doc.mpfs-conflict-", 18) == 0) {
        fo->n++;
        snprintf(fo->name, sizeof(fo->name), "%.*s", (int)len, name);
    }
    return 0;
}

static void test_conflict_keeps_both(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    assert_int_equal(fx_write_file(f, "doc", "base", 4), 0);
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "doc", &e), 0);
    struct mpfs_handle *h;
    int keep;
    assert_int_equal(mpfs_vfs_open(f->fs, e.ino, O_WRONLY, &h, &keep), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "mine", 4, 0), 4);
    /* someone else commits first */
    assert_int_equal(mpfs_mem_put_raw(f->s3, "doc", "theirs", 6), 0);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), 0);
    mpfs_vfs_release(f->fs, h);
    backend_content(f->s3, "doc", "theirs");
    /* ours is kept beside it */
    struct found found = {0};
    assert_int_equal(mpfs_backend_list(f->s3, "", find_conflict, &found), 0);
    assert_int_equal(found.n, 1);
    backend_content(f->s3, found.name, "mine");
    fixture_free(f);
}

/* Close-to-open on a cold file costs one GET, no HEAD: the GET, pinned to
 * the version the listing showed, is the confirmation (issue 8).  The
 * listing is older than the grace after a lookup, so open must confirm. */
static void test_cold_open_one_get(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    size_t len = 128 << 10;
    char *data = malloc(len), *buf = malloc(2 * len);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)(i * 7 + 3);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/s", data, len), 0);
    char *l = fx_list(f, "d");
    free(l);
    usleep(300 * 1000); /* past MPFS_POLICY_CTO_GRACE_NS */
    mpfs_mem_reset_stats(f->s3);
    assert_int_equal(fx_read_file(f, "d/s", buf, 2 * len), (ssize_t)len);
    assert_memory_equal(buf, data, len);
    struct mpfs_mem_stats st;
    mpfs_mem_get_stats(f->s3, &st);
    assert_int_equal(st.stats, 0);
    assert_int_equal(st.reads, 1);
    assert_int_equal(st.bytes_read, len);
    free(data);
    free(buf);
    fixture_free(f);
}

/* ... and keeps close-to-open: a file replaced by someone else after the
 * listing is read in its new version (content and size) by the next open,
 * although the open itself asked nothing. */
static void test_cold_open_sees_new_version(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/s", "old content", 11), 0);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "e/t", "tt", 2), 0);
    char *l = fx_list(f, "d");
    free(l);
    usleep(300 * 1000);
    const char *v2 = "the new, longer content";
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/s", v2, strlen(v2)), 0);
    mpfs_mem_reset_stats(f->s3);
    char buf[64];
    assert_int_equal(fx_read_file(f, "d/s", buf, sizeof(buf)), (ssize_t)strlen(v2));
    assert_memory_equal(buf, v2, strlen(v2));
    struct mpfs_mem_stats st;
    mpfs_mem_get_stats(f->s3, &st);
    assert_int_equal(st.stats, 1); /* the pinned GET failed: then a stat */
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "d/s", &e), 0);
    assert_int_equal(e.st.st_size, strlen(v2));
    /* the same, the new version shorter, read one byte at a time */
    usleep(300 * 1000);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/s", "v3", 2), 0);
    assert_int_equal(fx_lookup_path(f, "d/s", &e), 0);
    struct mpfs_handle *h;
    int keep = 1;
    assert_int_equal(mpfs_vfs_open(f->fs, e.ino, O_RDONLY, &h, &keep), 0);
    assert_int_equal(mpfs_vfs_read(f->fs, h, buf, 1, 0), 1);
    assert_int_equal(buf[0], 'v');
    assert_int_equal(mpfs_vfs_read(f->fs, h, buf, sizeof(buf), 1), 1);
    assert_int_equal(buf[0], '3');
    assert_int_equal(mpfs_vfs_read(f->fs, h, buf, sizeof(buf), 2), 0);
    mpfs_vfs_release(f->fs, h);
    /* deleted by someone else after the listing: the open asks nothing,
     * its first read finds nothing */
    free(fx_list(f, "e"));
    assert_int_equal(fx_lookup_path(f, "e/t", &e), 0);
    usleep(300 * 1000);
    assert_int_equal(mpfs_mem_remove_raw(f->s3, "e/t"), 0);
    mpfs_mem_reset_stats(f->s3);
    assert_int_equal(mpfs_vfs_open(f->fs, e.ino, O_RDONLY, &h, &keep), 0);
    assert_int_equal(mpfs_vfs_read(f->fs, h, buf, sizeof(buf), 0), -ENOENT);
    mpfs_vfs_release(f->fs, h);
    mpfs_mem_get_stats(f->s3, &st);
    assert_int_equal(st.stats, 0);
    fixture_free(f);
}

/* Files opened by name in a directory never listed (a loader with its
 * own file list), with lookup_walk: the first lookup walks the directory
 * once; no HEAD per name, one GET per file (issue 8). */
static void test_unlisted_dir_lookups_walk_once(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", "lookup_walk=1");
    for (int i = 0; i < 50; i++) {
        char key[32];
        snprintf(key, sizeof(key), "d/f%02d", i);
        assert_int_equal(mpfs_mem_put_raw(f->s3, key, key, strlen(key)), 0);
    }
    mpfs_mem_reset_stats(f->s3);
    for (int i = 0; i < 50; i += 5) {
        char key[32], buf[32];
        snprintf(key, sizeof(key), "d/f%02d", i);
        assert_int_equal(fx_read_file(f, key, buf, sizeof(buf)), (ssize_t)strlen(key));
        assert_memory_equal(buf, key, strlen(key));
    }
    struct mpfs_entry e;
    struct mpfs_mem_stats st;
    mpfs_mem_get_stats(f->s3, &st);
    assert_int_equal(st.stats, 0); /* "d" too came from the walk (of the root) */
    assert_int_equal(st.lists, 1);
    assert_int_equal(st.reads, 10);
    /* a name the walk did not see is asked of the store, as before: the
     * walk does not make a file someone creates just after it absent */
    assert_int_equal(fx_lookup_path(f, "d/nothere", &e), -ENOENT);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/new", "n", 1), 0);
    assert_int_equal(fx_lookup_path(f, "d/new", &e), 0);
    mpfs_mem_get_stats(f->s3, &st);
    assert_int_equal(st.stats, 2);
    assert_int_equal(st.lists, 1);
    fixture_free(f);
}

/* ... and without lookup_walk (the default): a HEAD per name, no LIST,
 * so each entry carries what the store keeps (s3fs owner, mode, type). */
static void test_unlisted_dir_lookups_head_by_default(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof(key), "d/f%02d", i);
        assert_int_equal(mpfs_mem_put_raw(f->s3, key, key, strlen(key)), 0);
    }
    mpfs_mem_reset_stats(f->s3);
    struct mpfs_entry e;
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof(key), "d/f%02d", i);
        assert_int_equal(fx_lookup_path(f, key, &e), 0);
    }
    struct mpfs_mem_stats st;
    mpfs_mem_get_stats(f->s3, &st);
    assert_int_equal(st.lists, 0);
    assert_int_equal(st.stats, 11); /* "d", then one per file */
    fixture_free(f);
}

/* A lookup that asks the store (a name in a directory never listed) reads
 * the first lookup_read bytes with the attributes: a file that small is
 * cached by it, and its open and read right after ask nothing more (one
 * request per file for a loader opening files by name).  A larger file's
 * read still fetches; lookup_read=0 is a plain stat. */
static void test_lookup_caches_small_file(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", "lookup_read=64K");
    size_t big = 100 << 10;
    char *data = malloc(big), *buf = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 13 + 1);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/small", data, 5000), 0);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/big", data, big), 0);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/empty", "", 0), 0);
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "d/small", &e), 0);
    assert_int_equal(e.st.st_size, 5000);
    struct mpfs_mem_stats st;
    mpfs_mem_reset_stats(f->s3);
    assert_int_equal(fx_read_file(f, "d/small", buf, big), 5000);
    assert_memory_equal(buf, data, 5000);
    mpfs_mem_get_stats(f->s3, &st);
    assert_int_equal(st.stats + st.reads + st.lists, 0);

    assert_int_equal(fx_lookup_path(f, "d/big", &e), 0);
    assert_int_equal(e.st.st_size, big);
    mpfs_mem_reset_stats(f->s3);
    assert_int_equal(fx_read_file(f, "d/big", buf, big), (ssize_t)big);
    assert_memory_equal(buf, data, big);
    mpfs_mem_get_stats(f->s3, &st);
    assert_true(st.reads >= 1);

    assert_int_equal(fx_lookup_path(f, "d/empty", &e), 0);
    assert_int_equal(e.st.st_size, 0);
    assert_int_equal(fx_read_file(f, "d/empty", buf, big), 0);
    fixture_free(f);

    f = fixture_new("s3", "lookup_read=0");
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/small", data, 5000), 0);
    mpfs_mem_reset_stats(f->s3);
    assert_int_equal(fx_lookup_path(f, "d/small", &e), 0);
    mpfs_mem_get_stats(f->s3, &st);
    assert_int_equal(st.reads, 0);
    mpfs_mem_reset_stats(f->s3);
    assert_int_equal(fx_read_file(f, "d/small", buf, big), 5000);
    mpfs_mem_get_stats(f->s3, &st);
    assert_int_equal(st.reads, 1);
    free(data);
    free(buf);
    fixture_free(f);
}

static int kernel_inval;
static void count_inval(void *ctx, uint64_t ino)
{
    (void)ctx;
    (void)ino;
    kernel_inval++;
}

/* What a lookup cached never stands in for close-to-open: past the grace,
 * an open confirms the version, so a file replaced or deleted since the
 * lookup is read in its new version, or not at all; and the kernel, which
 * took the old size with the lookup, is told to drop it while the handle
 * reads around its page cache (else a longer new version reads short). */
static void test_lookup_cache_keeps_close_to_open(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    f->fs->notify = (struct mpfs_notifier){.inval_inode = count_inval};
    kernel_inval = 0;
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/s", "old", 3), 0);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/t", "gone", 4), 0);
    struct mpfs_entry es, et;
    assert_int_equal(fx_lookup_path(f, "d/s", &es), 0);
    assert_int_equal(fx_lookup_path(f, "d/t", &et), 0);
    usleep(300 * 1000); /* past MPFS_POLICY_CTO_GRACE_NS */
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/s", "newer", 5), 0);
    assert_int_equal(mpfs_mem_remove_raw(f->s3, "d/t"), 0);
    struct mpfs_handle *h;
    int keep = 1;
    char buf[16];
    assert_int_equal(mpfs_vfs_open(f->fs, es.ino, O_RDONLY, &h, &keep), 0);
    assert_int_equal(mpfs_vfs_read(f->fs, h, buf, sizeof(buf), 0), 5);
    assert_memory_equal(buf, "newer", 5);
    assert_true(mpfs_vfs_handle_direct_io(h));
    assert_int_equal(kernel_inval, 1);
    mpfs_vfs_release(f->fs, h);
    int rc = mpfs_vfs_open(f->fs, et.ino, O_RDONLY, &h, &keep);
    if (rc == 0) {
        assert_int_equal(mpfs_vfs_read(f->fs, h, buf, sizeof(buf), 0), -ENOENT);
        mpfs_vfs_release(f->fs, h);
    } else {
        assert_int_equal(rc, -ENOENT);
    }
    fixture_free(f);
}

static void test_remount_served_from_index(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", "dir_ttl=60");
    for (int i = 0; i < 50; i++) {
        char key[32];
        snprintf(key, sizeof(key), "d/f%02d", i);
        assert_int_equal(mpfs_mem_put_raw(f->s3, key, "x", 1), 0);
    }
    char *l1 = fx_list(f, "d");
    assert_non_null(l1);
    struct mpfs_entry e1;
    assert_int_equal(fx_lookup_path(f, "d/f07", &e1), 0);
    fixture_remount(f);
    mpfs_mem_reset_stats(f->s3);
    char *l2 = fx_list(f, "d");
    assert_string_equal(l1, l2);
    struct mpfs_mem_stats st;
    mpfs_mem_get_stats(f->s3, &st);
    assert_int_equal(st.lists, 0); /* from the index, no backend listing */
    struct mpfs_entry e2;
    assert_int_equal(fx_lookup_path(f, "d/f07", &e2), 0);
    assert_int_equal(e1.ino, e2.ino); /* inode numbers survive a remount */
    free(l1);
    free(l2);
    fixture_free(f);
}

/* The first listing of a never-listed directory indexes its subtree in
 * one flat walk; without it, every directory costs a listing. */
static void test_subtree_walk(void **state)
{
    const char *opts = *state;
    struct fixture *f = fixture_new("s3", opts);
    const char *keys[] = {"t/a/1", "t/b/2", "t/c/3", "t/c/d/4"};
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(keys); i++)
        assert_int_equal(mpfs_mem_put_raw(f->s3, keys[i], "x", 1), 0);
    mpfs_mem_reset_stats(f->s3);
    const char *dirs[] = {"t", "t/a", "t/b", "t/c", "t/c/d"};
    const char *want[] = {"a/\nb/\nc/", "1", "2", "3\nd/", "4"};
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(dirs); i++) {
        char *l = fx_list(f, dirs[i]);
        assert_string_equal(l, want[i]);
        free(l);
    }
    struct mpfs_mem_stats st;
    mpfs_mem_get_stats(f->s3, &st);
    assert_int_equal(st.lists, strstr(opts, "=0") ? 5 : 1);
    fixture_free(f);
}

static void test_rename_unlink_rmdir(void **state)
{
    const char *mode = *state;
    struct fixture *f = fixture_new(mode, NULL);
    struct mpfs_entry d, e;
    assert_int_equal(mpfs_vfs_mkdir(f->fs, MPFS_ROOT_INO, "dir", 0755, NULL, &d), 0);
    assert_int_equal(fx_write_file(f, "dir/a", "A", 1), 0);
    assert_int_equal(mpfs_vfs_rmdir(f->fs, MPFS_ROOT_INO, "dir"), -ENOTEMPTY);
    assert_int_equal(mpfs_vfs_rename(f->fs, d.ino, "a", d.ino, "b", 0), 0);
    char *l = fx_list(f, "dir");
    assert_string_equal(l, "b");
    free(l);
    assert_int_equal(fx_write_file(f, "dir/c", "C", 1), 0);
    assert_int_equal(mpfs_vfs_rename(f->fs, d.ino, "b", d.ino, "c", 1 /* NOREPLACE */),
                     -EEXIST);
    assert_int_equal(mpfs_vfs_rename(f->fs, MPFS_ROOT_INO, "dir", MPFS_ROOT_INO, "dir2", 0), 0);
    char buf[4];
    assert_int_equal(fx_read_file(f, "dir2/b", buf, sizeof(buf)), 1);
    assert_int_equal(buf[0], 'A');
    assert_int_equal(fx_lookup_path(f, "dir2", &e), 0);
    assert_int_equal(mpfs_vfs_unlink(f->fs, e.ino, "b"), 0);
    assert_int_equal(mpfs_vfs_unlink(f->fs, e.ino, "c"), 0);
    assert_int_equal(mpfs_vfs_rmdir(f->fs, MPFS_ROOT_INO, "dir2"), 0);
    l = fx_list(f, "");
    assert_string_equal(l, "");
    free(l);
    fixture_free(f);
}

static void test_links_per_mode(void **state)
{
    (void)state;
    struct fixture *s3 = fixture_new("s3", NULL);
    struct mpfs_entry e, l;
    assert_int_equal(fx_write_file(s3, "t", "T", 1), 0);
    assert_int_equal(fx_lookup_path(s3, "t", &e), 0);
    assert_int_equal(mpfs_vfs_link(s3->fs, e.ino, MPFS_ROOT_INO, "hard", &l), -EPERM);
    assert_int_equal(mpfs_vfs_symlink(s3->fs, "t", MPFS_ROOT_INO, "sym", NULL, &l), 0);
    char buf[64];
    assert_int_equal(mpfs_vfs_readlink(s3->fs, l.ino, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "t");
    fixture_free(s3);

    struct fixture *nfs = fixture_new("nfs", NULL);
    assert_int_equal(fx_write_file(nfs, "t", "T", 1), 0);
    assert_int_equal(fx_lookup_path(nfs, "t", &e), 0);
    assert_int_equal(mpfs_vfs_link(nfs->fs, e.ino, MPFS_ROOT_INO, "hard", &l), 0);
    assert_int_equal(fx_read_file(nfs, "hard", buf, sizeof(buf)), 1);
    fixture_free(nfs);
}

static void test_symlink_survives_listing(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", "dir_ttl=0,dir_stale=0");
    struct mpfs_entry l, e;
    assert_int_equal(mpfs_vfs_symlink(f->fs, "target", MPFS_ROOT_INO, "sym", NULL, &l), 0);
    /* an S3 listing carries no metadata: the link must stay a link */
    char *ls = fx_list(f, "");
    free(ls);
    ls = fx_list(f, "");
    free(ls);
    assert_int_equal(fx_lookup_path(f, "sym", &e), 0);
    assert_true(S_ISLNK(e.st.st_mode));
    assert_int_equal(e.ino, l.ino);
    fixture_free(f);
}

static void test_nfs_in_place_commit(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("nfs", NULL);
    static char big[256 * 1024];
    memset(big, 'z', sizeof(big));
    assert_int_equal(fx_write_file(f, "log", big, sizeof(big)), 0);
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "log", &e), 0);
    struct mpfs_handle *h;
    int keep;
    assert_int_equal(mpfs_vfs_open(f->fs, e.ino, O_WRONLY | O_APPEND, &h, &keep), 0);
    mpfs_mem_reset_stats(f->nfs);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "tail", 4, sizeof(big)), 4);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), 0);
    mpfs_vfs_release(f->fs, h);
    struct mpfs_mem_stats st;
    mpfs_mem_get_stats(f->nfs, &st);
    /* an append went up as an in-place write of 4 bytes, not a rewrite */
    assert_int_equal(st.puts, 0);
    assert_true(st.pwrites >= 1);
    assert_int_equal(st.bytes_written, 4);
    fixture_free(f);
}

static void test_setattr_chmod_truncate(void **state)
{
    const char *mode = *state;
    struct fixture *f = fixture_new(mode, "meta_ttl=0");
    assert_int_equal(fx_write_file(f, "x", "abcdef", 6), 0);
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "x", &e), 0);
    struct stat want, got;
    memset(&want, 0, sizeof(want));
    want.st_mode = 0600;
    double t;
    assert_int_equal(mpfs_vfs_setattr(f->fs, e.ino, NULL, &want, MPFS_SETATTR_MODE, &got, &t), 0);
    assert_int_equal(got.st_mode & 07777, 0600);
    want.st_size = 3;
    assert_int_equal(mpfs_vfs_setattr(f->fs, e.ino, NULL, &want, MPFS_SETATTR_SIZE, &got, &t), 0);
    assert_int_equal(got.st_size, 3);
    char buf[16];
    assert_int_equal(fx_read_file(f, "x", buf, sizeof(buf)), 3);
    fixture_remount(f);
    assert_int_equal(fx_lookup_path(f, "x", &e), 0);
    assert_int_equal(e.st.st_mode & 07777, 0600);
    assert_int_equal(e.st.st_size, 3);
    fixture_free(f);
}

static void test_staging_full_enospc(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", "staging_max=64K");
    static char big[128 * 1024];
    memset(big, 'q', sizeof(big));
    assert_int_equal(fx_write_file(f, "ok", big, 32 * 1024), 0);
    assert_int_equal(fx_write_file(f, "toobig", big, sizeof(big)), -ENOSPC);
    /* what was written before is intact */
    char buf[64 * 1024];
    assert_int_equal(fx_read_file(f, "ok", buf, sizeof(buf)), 32 * 1024);
    fixture_free(f);
}

static void test_xattrs(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    assert_int_equal(fx_write_file(f, "x", "1", 1), 0);
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "x", &e), 0);
    char buf[512];
    ssize_t n = mpfs_vfs_getxattr(f->fs, e.ino, "user.mpfs.etag", buf, sizeof(buf));
    assert_true(n > 0);
    n = mpfs_vfs_getxattr(f->fs, e.ino, "user.mpfs.source", buf, sizeof(buf));
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "s3", 2);
    assert_int_equal(mpfs_vfs_setxattr(f->fs, e.ino, "user.mpfs.etag", "x", 1, 0), -EPERM);
    assert_int_equal(mpfs_vfs_setxattr(f->fs, e.ino, "user.color", "blue", 4, 0), 0);
    n = mpfs_vfs_getxattr(f->fs, e.ino, "user.color", buf, sizeof(buf));
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "blue", 4);
    assert_int_equal(mpfs_vfs_setxattr(f->fs, e.ino, "user.color", "red", 3, XATTR_CREATE),
                     -EEXIST);
    /* namespaces mpfs does not store: unsupported, not "no such
     * attribute" (so ls -l stops asking; test_datapath.py checks ls) */
    assert_int_equal(mpfs_vfs_getxattr(f->fs, e.ino, "security.selinux", buf, sizeof(buf)),
                     -EOPNOTSUPP);
    assert_int_equal(mpfs_vfs_getxattr(f->fs, e.ino, "system.posix_acl_access", buf, 0),
                     -EOPNOTSUPP);
    /* the cache counters, read-only */
    n = mpfs_vfs_getxattr(f->fs, e.ino, "user.mpfs.cache_stats", buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    buf[n] = '\0';
    assert_non_null(strstr(buf, "hits="));
    assert_int_equal(mpfs_vfs_setxattr(f->fs, e.ino, "user.mpfs.cache_stats", "x", 1, 0), -EPERM);
    fixture_free(f);
}

int main(void)
{
    static const char *s3 = "s3", *nfs = "nfs";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_s3),
        cmocka_unit_test(test_overwrite_and_append),
        cmocka_unit_test(test_external_change_seen),
        cmocka_unit_test(test_pinned_read_never_mixes),
        cmocka_unit_test(test_conflict_keeps_both),
        cmocka_unit_test(test_remount_served_from_index),
        cmocka_unit_test_prestate(test_subtree_walk, (void *)"tree_walk_keys=100"),
        cmocka_unit_test_prestate(test_subtree_walk, (void *)"tree_walk_keys=0"),
        cmocka_unit_test_prestate(test_rename_unlink_rmdir, (void *)s3),
        cmocka_unit_test_prestate(test_rename_unlink_rmdir, (void *)nfs),
        cmocka_unit_test(test_links_per_mode),
        cmocka_unit_test(test_symlink_survives_listing),
        cmocka_unit_test(test_nfs_in_place_commit),
        cmocka_unit_test_prestate(test_setattr_chmod_truncate, (void *)s3),
        cmocka_unit_test_prestate(test_setattr_chmod_truncate, (void *)nfs),
        cmocka_unit_test(test_staging_full_enospc),
        cmocka_unit_test(test_xattrs),
        cmocka_unit_test(test_cold_open_one_get),
        cmocka_unit_test(test_unlisted_dir_lookups_walk_once),
        cmocka_unit_test(test_unlisted_dir_lookups_head_by_default),
        cmocka_unit_test(test_cold_open_sees_new_version),
        cmocka_unit_test(test_lookup_caches_small_file),
        cmocka_unit_test(test_lookup_cache_keeps_close_to_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

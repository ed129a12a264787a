/*
 * test_consistency.c - the consistency defects of issue 6, one test each,
 * over in-memory backends: each failed before its fix.
 */
#include "tests/fs/fs_fixture.h"

#include "backends/fault.h"
#include "backends/mem.h"
#include "base/util.h"
#include "consistency/journal.h"
#include "consistency/upload.h"
#include "fs/dir_merge.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/lostfound.h"
#include "fs/listing.h"
#include "fs/node.h"
#include "fs/writeback.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
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

static ssize_t backend_get(struct mpfs_backend *b, const char *path, char *buf, size_t size)
{
    return mpfs_backend_read(b, path, NULL, buf, size, 0);
}

static struct mpfs_handle *open_path(struct fixture *f, const char *path, int flags)
{
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, path, &e), 0);
    struct mpfs_handle *h = NULL;
    int keep;
    assert_int_equal(mpfs_vfs_open(f->fs, e.ino, flags, &h, &keep), 0);
    return h;
}

struct names {
    int n;
    char last[512];
    const char *prefix;
};

static int collect(void *arg, const char *name, size_t len, const struct mpfs_attr *a, int full)
{
    (void)a;
    (void)full;
    struct names *nm = arg;
    if (strncmp(name, nm->prefix, strlen(nm->prefix)) == 0) {
        nm->n++;
        snprintf(nm->last, sizeof(nm->last), "%.*s", (int)len, name);
    }
    return 0;
}

/* The name holds `at`, and exactly one conflict copy of it holds `kept`. */
static void expect_one_conflict(struct fixture *f, const char *name, const char *at,
                                const char *kept)
{
    char buf[64], prefix[64];
    assert_int_equal(backend_get(f->s3, name, buf, sizeof(buf)), (ssize_t)strlen(at));
    assert_memory_equal(buf, at, strlen(at));
    snprintf(prefix, sizeof(prefix), "%s.mpfs-conflict-", name);
    struct names nm = {.prefix = prefix};
    assert_int_equal(mpfs_backend_list(f->s3, "", collect, &nm), 0);
    assert_int_equal(nm.n, 1);
    assert_int_equal(backend_get(f->s3, nm.last, buf, sizeof(buf)), (ssize_t)strlen(kept));
    assert_memory_equal(buf, kept, strlen(kept));
}

/* Defect 2: after one conflict copy, a later flush on the same handle
 * must not overwrite the other writer's version. */
static void test_conflict_protection_is_sticky(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    assert_int_equal(fx_write_file(f, "doc", "base", 4), 0);
    struct mpfs_handle *h = open_path(f, "doc", O_RDWR);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "mine1", 5, 0), 5);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "doc", "theirs", 6), 0);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), 0); /* conflict copy */
    assert_int_equal(mpfs_vfs_write(f->fs, h, "mine2", 5, 0), 5);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), 0);
    mpfs_vfs_release(f->fs, h);
    expect_one_conflict(f, "doc", "theirs", "mine2");
    fixture_free(f);
}

/* Defect 11: a store that acknowledges both of two racing conditional
 * writes (radosgw 16.2 on a versioned bucket) must not make one of them
 * vanish: the version chain shows the overwritten write, which is kept
 * under a conflict name. */
static void test_acknowledged_race_kept_from_version_chain(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3versioned", NULL);
    assert_int_equal(fx_write_file(f, "ckpt", "base", 4), 0);
    struct mpfs_handle *h = open_path(f, "ckpt", O_RDWR);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "mine", 4, 0), 4);
    mpfs_mem_ignore_conditions(f->s3, 1);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "ckpt", "theirs", 6), 0); /* acknowledged */
    assert_int_equal(mpfs_vfs_flush(f->fs, h), 0);
    mpfs_vfs_release(f->fs, h);
    expect_one_conflict(f, "ckpt", "mine", "theirs");

    /* an edit that replaced exactly its base keeps nothing extra */
    h = open_path(f, "ckpt", O_RDWR);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "MINE", 4, 0), 4);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), 0);
    mpfs_vfs_release(f->fs, h);
    expect_one_conflict(f, "ckpt", "MINE", "theirs");
    fixture_free(f);
}

/* Defect 3: an edit of a file deleted remotely meanwhile is not dropped. */
static void test_edit_survives_remote_delete(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", "meta_ttl=0,neg_ttl=0,dir_ttl=0,dir_stale=0");
    assert_int_equal(fx_write_file(f, "e", "old", 3), 0);
    struct mpfs_handle *h = open_path(f, "e", O_RDWR);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "new!", 4, 0), 4);
    assert_int_equal(mpfs_mem_remove_raw(f->s3, "e"), 0);
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "e", &e), -ENOENT); /* the mount saw the delete */
    assert_int_equal(mpfs_vfs_flush(f->fs, h), 0);
    mpfs_vfs_release(f->fs, h);
    char buf[16];
    assert_int_equal(backend_get(f->s3, "e", buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "new!", 4);
    fixture_free(f);
}

/* Defect 3 (NFS): unlinking one hard link must not drop an edit made
 * through the other name. */
static void test_edit_survives_other_link_unlink(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("nfs", NULL);
    assert_int_equal(fx_write_file(f, "a", "aaaa", 4), 0);
    struct mpfs_entry ea, root = {.ino = MPFS_ROOT_INO}, el;
    assert_int_equal(fx_lookup_path(f, "a", &ea), 0);
    assert_int_equal(mpfs_vfs_link(f->fs, ea.ino, root.ino, "b", &el), 0);
    struct mpfs_handle *h = open_path(f, "a", O_RDWR);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "zz", 2, 0), 2);
    assert_int_equal(mpfs_vfs_unlink(f->fs, MPFS_ROOT_INO, "a"), 0);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), 0);
    mpfs_vfs_release(f->fs, h);
    char buf[16];
    assert_int_equal(backend_get(f->nfs, "b", buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "zzaa", 4);
    fixture_free(f);
}

/* Defect 4: truncate(path) must not freeze the file on this node. */
static void test_truncate_path_does_not_freeze(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", "meta_ttl=0");
    assert_int_equal(fx_write_file(f, "t", "0123456789", 10), 0);
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "t", &e), 0);
    struct stat want, st;
    memset(&want, 0, sizeof(want));
    want.st_size = 4;
    double to;
    assert_int_equal(mpfs_vfs_setattr(f->fs, e.ino, NULL, &want, MPFS_SETATTR_SIZE, &st, &to), 0);
    assert_int_equal(st.st_size, 4);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "t", "remote-overwrite", 16), 0);
    assert_int_equal(mpfs_vfs_getattr(f->fs, e.ino, &st, &to), 0);
    assert_int_equal(st.st_size, 16);
    fixture_free(f);
}

/* Defect 6: a listing taken before a local commit and applied after it
 * must not delete the committed entry or change its inode. */
static void test_listing_does_not_undo_commit(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_listing l;
    mpfs_listing_init(&l);
    assert_int_equal(mpfs_backend_list(f->s3, "", mpfs_listing_add, &l), 0);
    usleep(1000);
    assert_int_equal(fx_write_file(f, "fresh", "x", 1), 0);
    struct mpfs_entry before, after;
    assert_int_equal(fx_lookup_path(f, "fresh", &before), 0);
    assert_int_equal(mpfs_fs_apply_listing(f->fs, MPFS_ROOT_INO, "", &l), 0);
    mpfs_listing_free(&l);
    assert_int_equal(fx_lookup_path(f, "fresh", &after), 0);
    assert_int_equal(after.ino, before.ino);
    char *names = fx_list(f, "");
    assert_string_equal(names, "fresh");
    free(names);
    fixture_free(f);
}

/* Defect 12: a file opened before unlink stays readable; fstat says nlink 0. */
static void test_open_unlinked_stays_readable(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    assert_int_equal(fx_write_file(f, "tmp", "keep me", 7), 0);
    struct mpfs_handle *h = open_path(f, "tmp", O_RDONLY);
    uint64_t ino = h->node->ino;
    assert_int_equal(mpfs_vfs_unlink(f->fs, MPFS_ROOT_INO, "tmp"), 0);
    char buf[16];
    assert_int_equal(mpfs_vfs_read(f->fs, h, buf, sizeof(buf), 0), 7);
    assert_memory_equal(buf, "keep me", 7);
    struct stat st;
    double to;
    assert_int_equal(mpfs_vfs_getattr(f->fs, ino, &st, &to), 0);
    assert_int_equal(st.st_nlink, 0);
    mpfs_vfs_release(f->fs, h);
    struct mpfs_attr a;
    assert_int_equal(mpfs_backend_stat(f->s3, "tmp", &a), -ENOENT);
    fixture_free(f);
}

static int count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Defects 5 and 9: a crash with staged data: the next mount commits it
 * from the journal, leaves no ghost and nothing in lost+found. */
static void test_crash_replays_journal(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_entry e;
    struct mpfs_handle *h;
    assert_int_equal(mpfs_vfs_create(f->fs, MPFS_ROOT_INO, "new", 0600, O_WRONLY, NULL, &e, &h), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "unsynced", 8, 0), 8);
    assert_int_equal(fx_write_file(f, "old", "v1", 2), 0);
    struct mpfs_handle *h2 = open_path(f, "old", O_RDWR);
    assert_int_equal(mpfs_vfs_write(f->fs, h2, "v2", 2, 0), 2);
    (void)h2;
    free(h); /* the crash: handles die with the process */
    free(h2);
    fixture_crash_remount(f);
    char buf[16];
    assert_int_equal(backend_get(f->s3, "new", buf, sizeof(buf)), 8);
    assert_memory_equal(buf, "unsynced", 8);
    assert_int_equal(backend_get(f->s3, "old", buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "v2", 2);
    struct mpfs_attr a;
    assert_int_equal(mpfs_backend_stat(f->s3, "new", &a), 0);
    assert_int_equal(a.mode & 07777, 0600);
    assert_int_equal(fx_lookup_path(f, "new", &e), 0);
    assert_int_equal(e.st.st_size, 8);
    char *lf = mpfs_xasprintf("%s/lost+found", f->dir);
    assert_int_equal(count_dir(lf), 0);
    free(lf);
    fixture_free(f);
}

/* A crash after an fsync, with the file still open: its staging file
 * holds committed data only, so the next mount deletes it instead of
 * "rescuing" it to lost+found (seen through the real mount). */
static void test_crash_after_fsync_leaves_no_rescue(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_entry e;
    struct mpfs_handle *h;
    assert_int_equal(mpfs_vfs_create(f->fs, MPFS_ROOT_INO, "synced", 0644, O_WRONLY, NULL, &e,
                                     &h), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "durable", 7, 0), 7);
    assert_int_equal(mpfs_vfs_fsync(f->fs, h), 0);
    free(h);
    fixture_crash_remount(f);
    char buf[16];
    assert_int_equal(backend_get(f->s3, "synced", buf, sizeof(buf)), 7);
    char *lf = mpfs_xasprintf("%s/lost+found", f->dir);
    char *st = mpfs_xasprintf("%s/staging", f->dir);
    assert_int_equal(count_dir(lf), 0);
    assert_int_equal(count_dir(st), 0);
    free(lf);
    free(st);
    fixture_free(f);
}

/* A crash right after the commit reached the store but before the journal
 * knew: the replay recognises its own bytes (no conflict copy). */
static void test_crash_after_upload_is_not_a_conflict(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_entry e;
    struct mpfs_handle *h;
    assert_int_equal(mpfs_vfs_create(f->fs, MPFS_ROOT_INO, "up", 0644, O_WRONLY, NULL, &e, &h), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "payload", 7, 0), 7);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "up", "payload", 7), 0); /* our upload landed */
    free(h);
    fixture_crash_remount(f);
    struct names nm = {.prefix = "up.mpfs-conflict-"};
    assert_int_equal(mpfs_backend_list(f->s3, "", collect, &nm), 0);
    assert_int_equal(nm.n, 0);
    fixture_free(f);
}

/* Defects 5 and 9: data the store refuses for good goes to lost+found
 * under a name that says its path, and leaves no ghost entry. */
struct rescued {
    char path[256];
    uint64_t size;
};

static void note_rescued(void *arg, const char *path, const char *file, uint64_t size,
                         int64_t when)
{
    (void)file;
    (void)when;
    struct rescued *r = arg;
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->size = size;
}

static void test_rejected_commit_rescued_by_path(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_fault_rule r = {.ops = MPFS_FAULT_OP_PUT, .path = "bad", .action = MPFS_FAULT_ERROR,
                                .error = EINVAL, .count = -1};
    assert_true(mpfs_fault_add(f->s3f, &r) > 0);
    assert_int_equal(mpfs_fs_start(f->fs, NULL), 0);
    struct mpfs_entry e;
    struct mpfs_handle *h;
    assert_int_equal(mpfs_vfs_create(f->fs, MPFS_ROOT_INO, "bad", 0644, O_WRONLY, NULL, &e, &h), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "rejected", 8, 0), 8);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), -EINVAL); /* close reports it */
    mpfs_vfs_release(f->fs, h);
    mpfs_vfs_forget(f->fs, e.ino, 1);
    char *lf = mpfs_xasprintf("%s/lost+found", f->dir);
    for (int i = 0; i < 100 && count_dir(lf) < 1; i++)
        usleep(20000);
    assert_int_equal(count_dir(lf), 1);
    DIR *d = opendir(lf);
    struct dirent *de;
    while ((de = readdir(d)) && de->d_name[0] == '.')
        ;
    assert_non_null(de);
    assert_int_equal(strncmp(de->d_name, "bad.", 4), 0);
    closedir(d);
    free(lf);
    /* `mpfs ctl rescued` names the path the data belonged to */
    struct rescued seen = {0};
    assert_int_equal(mpfs_lostfound_list(f->fs, note_rescued, &seen), 1);
    assert_string_equal(seen.path, "bad");
    assert_int_equal(seen.size, 8);
    assert_int_equal(fx_lookup_path(f, "bad", &e), -ENOENT);
    fixture_free(f);
}

/* A commit that fails for a transient reason is retried in the background
 * after close, and the file reads as written meanwhile. */
static void test_failed_commit_retried(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_fault_rule r = {.ops = MPFS_FAULT_OP_PUT, .action = MPFS_FAULT_ERROR,
                                .error = EIO, .count = 1};
    assert_true(mpfs_fault_add(f->s3f, &r) > 0);
    assert_int_equal(mpfs_fs_start(f->fs, NULL), 0);
    struct mpfs_entry e;
    struct mpfs_handle *h;
    assert_int_equal(mpfs_vfs_create(f->fs, MPFS_ROOT_INO, "later", 0644, O_WRONLY, NULL, &e, &h), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "eventually", 10, 0), 10);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), -EIO);
    assert_int_equal(mpfs_writeback_pending(f->fs), 1);
    mpfs_vfs_release(f->fs, h);
    char buf[16];
    assert_int_equal(fx_read_file(f, "later", buf, sizeof(buf)), 10);
    struct mpfs_attr a;
    for (int i = 0; i < 150 && mpfs_backend_stat(f->s3, "later", &a) != 0; i++)
        usleep(20000);
    assert_int_equal(backend_get(f->s3, "later", buf, sizeof(buf)), 10);
    assert_memory_equal(buf, "eventually", 10);
    for (int i = 0; i < 150 && mpfs_writeback_pending(f->fs) != 0; i++)
        usleep(20000);
    assert_int_equal(mpfs_writeback_pending(f->fs), 0);
    fixture_free(f);
}

/* Uncommitted data at unmount stays staged and journaled: the next mount
 * commits it (before, it went to lost+found under an inode number). */
static void test_unmount_keeps_uncommitted(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_entry e;
    struct mpfs_handle *h;
    assert_int_equal(mpfs_vfs_create(f->fs, MPFS_ROOT_INO, "u", 0644, O_WRONLY, NULL, &e, &h), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "pending", 7, 0), 7);
    struct mpfs_fault_rule r = {.ops = MPFS_FAULT_OP_PUT, .action = MPFS_FAULT_ERROR,
                                .error = EIO, .count = 2};
    assert_true(mpfs_fault_add(f->s3f, &r) > 0);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), -EIO);
    mpfs_vfs_release(f->fs, h);
    fixture_remount(f); /* its final commit fails too */
    char buf[16];
    assert_int_equal(backend_get(f->s3, "u", buf, sizeof(buf)), 7);
    assert_memory_equal(buf, "pending", 7);
    fixture_free(f);
}

struct bg_flush {
    struct fixture *f;
    struct mpfs_handle *h;
    int rc;
    atomic_int done;
};

static void *bg_flush_main(void *arg)
{
    struct bg_flush *b = arg;
    b->rc = mpfs_vfs_flush(b->f->fs, b->h);
    atomic_store(&b->done, 1);
    return NULL;
}

/* Defect 8: an upload in flight does not block stat or reads of the file. */
static void test_commit_does_not_block_readers(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    assert_int_equal(fx_write_file(f, "slow", "old", 3), 0);
    struct mpfs_fault_rule r = {.ops = MPFS_FAULT_OP_PUT, .action = MPFS_FAULT_DELAY,
                                .delay_ms = 3000, .count = 1};
    int id = mpfs_fault_add(f->s3f, &r);
    assert_true(id > 0);
    struct mpfs_handle *h = open_path(f, "slow", O_RDWR);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "newer", 5, 0), 5);
    struct bg_flush b = {.f = f, .h = h};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bg_flush_main, &b), 0);
    while (mpfs_fault_fired(f->s3f, id) == 0)
        usleep(1000);
    /* the upload sleeps in the store: these must not wait for it */
    struct stat st;
    double to;
    assert_int_equal(mpfs_vfs_getattr(f->fs, h->node->ino, &st, &to), 0);
    assert_int_equal(st.st_size, 5);
    char buf[8];
    assert_int_equal(mpfs_vfs_read(f->fs, h, buf, sizeof(buf), 0), 5);
    assert_memory_equal(buf, "newer", 5);
    assert_int_equal(atomic_load(&b.done), 0);
    pthread_join(t, NULL);
    assert_int_equal(b.rc, 0);
    mpfs_vfs_release(f->fs, h);
    fixture_free(f);
}

/* Version tokens only go to the side that issued them (defect 1). */
static void test_pin_translation(void **state)
{
    (void)state;
    struct mpfs_attr nfs = {.size = 100, .mtime_ns = 5000000000LL};
    snprintf(nfs.version, sizeof(nfs.version), "m5000000000.c5000000000.s100");
    struct mpfs_pin p;
    mpfs_pin_init(&p, MPFS_SIDE_NFS, &nfs);
    assert_string_equal(mpfs_pin_token_for(&p, MPFS_SIDE_NFS), nfs.version);
    assert_null(mpfs_pin_token_for(&p, MPFS_SIDE_S3));
    struct mpfs_attr s3 = {.size = 100, .mtime_ns = 6000000000LL};
    snprintf(s3.version, sizeof(s3.version), "opaque-etag-1");
    mpfs_pin_learn(&p, &s3);
    assert_string_equal(mpfs_pin_token_for(&p, MPFS_SIDE_S3), "opaque-etag-1");
    struct mpfs_pin q;
    mpfs_pin_init(&q, MPFS_SIDE_NFS, &nfs);
    s3.size = 101; /* another version on the other side: never pinned there */
    mpfs_pin_learn(&q, &s3);
    assert_null(mpfs_pin_token_for(&q, MPFS_SIDE_S3));
    s3.size = 100;
    s3.mtime_ns = 9000000000LL;
    struct mpfs_pin r;
    mpfs_pin_init(&r, MPFS_SIDE_NFS, &nfs);
    mpfs_pin_learn(&r, &s3);
    assert_null(mpfs_pin_token_for(&r, MPFS_SIDE_S3));
}

/* The journal record format round-trips and rejects damage. */
static void test_journal_codec(void **state)
{
    (void)state;
    struct mpfs_journal_rec r, d;
    memset(&r, 0, sizeof(r));
    r.ino = 42;
    r.parent = 7;
    r.path = "dir/file name";
    r.staging = "42-123";
    r.conflict_path = "dir/file name.mpfs-conflict-x";
    snprintf(r.base_version, sizeof(r.base_version), "etag-1");
    r.is_new = 1;
    r.base_side = MPFS_SIDE_NFS;
    r.attr.mode = 0100640;
    r.attr_set = MPFS_SET_MODE;
    char buf[512];
    size_t n = mpfs_journal_encode(&r, buf, sizeof(buf));
    assert_true(n <= sizeof(buf));
    assert_int_equal(mpfs_journal_decode(buf, n, &d), 0);
    assert_int_equal(d.ino, 42);
    assert_int_equal(d.parent, 7);
    assert_string_equal(d.path, "dir/file name");
    assert_string_equal(d.staging, "42-123");
    assert_string_equal(d.conflict_path, "dir/file name.mpfs-conflict-x");
    assert_string_equal(d.base_version, "etag-1");
    assert_int_equal(d.is_new, 1);
    assert_int_equal(d.base_side, MPFS_SIDE_NFS);
    assert_int_equal(d.attr.mode, 0100640);
    mpfs_journal_rec_clear(&d);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(mpfs_journal_decode(buf, cut, &d), -EINVAL);
}

/* The journaled progress of a multipart commit: round trip, every
 * truncation refused, and kept in / forgotten from the index. */
static void test_upload_progress_codec(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_put_progress p, d;
    memset(&p, 0, sizeof(p));
    memset(&d, 0, sizeof(d));
    snprintf(p.upload_id, sizeof(p.upload_id), "2~abc-upload");
    snprintf(p.key, sizeof(p.key), "ckpt/model.pt");
    p.size = 40u << 20;
    p.part_size = 16u << 20;
    p.nparts = 3;
    p.etags = calloc(3, MPFS_VERSION_MAX);
    snprintf(p.etags[0], MPFS_VERSION_MAX, "0123456789abcdef0123456789abcdef");
    snprintf(p.etags[2], MPFS_VERSION_MAX, "fedcba9876543210fedcba9876543210");
    char buf[1024];
    size_t n = mpfs_upload_encode(&p, buf, sizeof(buf));
    assert_true(n <= sizeof(buf));
    assert_int_equal(mpfs_upload_decode(buf, n, &d), 0);
    assert_string_equal(d.upload_id, p.upload_id);
    assert_string_equal(d.key, p.key);
    assert_int_equal(d.size, p.size);
    assert_int_equal(d.part_size, p.part_size);
    assert_int_equal(d.nparts, 3);
    assert_string_equal(d.etags[0], p.etags[0]);
    assert_string_equal(d.etags[1], "");
    assert_string_equal(d.etags[2], p.etags[2]);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(mpfs_upload_decode(buf, cut, &d), -EINVAL);
    assert_null(d.etags);

    /* kept by save() under the journal id, loaded back, forgotten */
    struct mpfs_index *idx = f->fs->index;
    struct mpfs_upload_keeper k = {.idx = idx, .id = 77};
    mpfs_upload_track(&p, &k);
    assert_int_equal(mpfs_upload_load(idx, 77, &d), -ENOENT);
    p.save(p.save_arg, &p);
    assert_int_equal(k.saved, 1);
    assert_int_equal(mpfs_upload_load(idx, 77, &d), 0);
    assert_string_equal(d.etags[2], p.etags[2]);
    mpfs_put_progress_clear(&d);
    assert_int_equal(mpfs_upload_forget(idx, 77), 0);
    assert_int_equal(mpfs_upload_load(idx, 77, &d), -ENOENT);
    mpfs_put_progress_clear(&p);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conflict_protection_is_sticky),
        cmocka_unit_test(test_acknowledged_race_kept_from_version_chain),
        cmocka_unit_test(test_edit_survives_remote_delete),
        cmocka_unit_test(test_edit_survives_other_link_unlink),
        cmocka_unit_test(test_truncate_path_does_not_freeze),
        cmocka_unit_test(test_listing_does_not_undo_commit),
        cmocka_unit_test(test_open_unlinked_stays_readable),
        cmocka_unit_test(test_crash_replays_journal),
        cmocka_unit_test(test_crash_after_upload_is_not_a_conflict),
        cmocka_unit_test(test_crash_after_fsync_leaves_no_rescue),
        cmocka_unit_test(test_rejected_commit_rescued_by_path),
        cmocka_unit_test(test_failed_commit_retried),
        cmocka_unit_test(test_unmount_keeps_uncommitted),
        cmocka_unit_test(test_commit_does_not_block_readers),
        cmocka_unit_test(test_pin_translation),
        cmocka_unit_test(test_journal_codec),
        cmocka_unit_test(test_upload_progress_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

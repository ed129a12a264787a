/*
 * test_posix_vfs.c - POSIX semantics of the fs core over the in-memory
 * backends (issue 7): owners of new entries, directory times and link
 * counts, hard-link counts, "..", paths the store cannot hold, special
 * files.  The same cases run through a real mount in
 * tests/integration/test_posix_conformance.py.
 */
#include "fs_fixture.h"

#include "backends/backend.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <cmocka.h>

static const char *const modes[] = {"s3", "nfs", "dual"};

static struct stat st_of(struct fixture *f, uint64_t ino)
{
    struct stat st;
    double t;
    assert_int_equal(mpfs_vfs_getattr(f->fs, ino, &st, &t), 0);
    return st;
}

/* The metadata side: the POSIX store where there is one (the fixture's
 * dual mode pairs S3 with a POSIX store that writes in place). */
static struct mpfs_backend *store(struct fixture *f)
{
    return f->nfs ? f->nfs : f->s3;
}

/* The fault wrapper the fs talks through copies the store's base fields
 * once: change both, then remount. */
static void set_path_max(struct fixture *f, size_t max)
{
    store(f)->path_max = max;
    (f->nfsf ? f->nfsf : f->s3f)->path_max = max;
    fixture_remount(f);
}

static void pause_a_little(void)
{
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
}

static void test_owner_is_caller(void **state)
{
    struct fixture *f = fixture_new(*state, NULL);
    const struct mpfs_caller c = {.uid = 1000, .gid = 2000};
    struct mpfs_entry d, e, l, p;
    struct mpfs_handle *h;
    assert_int_equal(mpfs_vfs_mkdir(f->fs, MPFS_ROOT_INO, "d", 0755, &c, &d), 0);
    assert_int_equal(mpfs_vfs_create(f->fs, d.ino, "f", 0644, O_WRONLY, &c, &e, &h), 0);
    assert_int_equal(mpfs_vfs_write(f->fs, h, "x", 1, 0), 1);
    assert_int_equal(mpfs_vfs_flush(f->fs, h), 0);
    mpfs_vfs_release(f->fs, h);
    assert_int_equal(mpfs_vfs_symlink(f->fs, "f", d.ino, "l", &c, &l), 0);
    assert_int_equal(mpfs_vfs_mknod(f->fs, d.ino, "p", S_IFIFO | 0640, 0, &c, &p), 0);
    const struct mpfs_entry *all[] = {&d, &e, &l, &p};
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(all); i++) {
        assert_int_equal(all[i]->st.st_uid, 1000);
        assert_int_equal(all[i]->st.st_gid, 2000);
    }
    /* the store keeps them */
    const char *paths[] = {"d", "d/f", "d/l", "d/p"};
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(paths); i++) {
        struct mpfs_attr a;
        assert_int_equal(mpfs_backend_stat(store(f), paths[i], &a), 0);
        assert_true(a.valid & MPFS_ATTR_OWNER);
        assert_int_equal(a.uid, 1000);
        assert_int_equal(a.gid, 2000);
    }
    fixture_free(f);
}

static void test_setgid_dir_group(void **state)
{
    struct fixture *f = fixture_new(*state, NULL);
    struct mpfs_entry d, e, s;
    struct mpfs_handle *h;
    assert_int_equal(mpfs_vfs_mkdir(f->fs, MPFS_ROOT_INO, "sg", 0755, NULL, &d), 0);
    struct stat want = {.st_mode = 02777, .st_gid = 1234}, st;
    double t;
    assert_int_equal(mpfs_vfs_setattr(f->fs, d.ino, NULL, &want,
                                      MPFS_SETATTR_MODE | MPFS_SETATTR_GID, &st, &t),
                     0);
    const struct mpfs_caller c = {.uid = 1000, .gid = 2000};
    assert_int_equal(mpfs_vfs_create(f->fs, d.ino, "f", 0644, O_WRONLY, &c, &e, &h), 0);
    mpfs_vfs_release(f->fs, h);
    assert_int_equal(e.st.st_gid, 1234);
    assert_int_equal(mpfs_vfs_mkdir(f->fs, d.ino, "sub", 0755, &c, &s), 0);
    assert_int_equal(s.st.st_uid, 1000);
    assert_int_equal(s.st.st_gid, 1234);
    assert_true(s.st.st_mode & S_ISGID);
    fixture_free(f);
}

static void test_dir_times_and_nlink(void **state)
{
    struct fixture *f = fixture_new(*state, NULL);
    struct mpfs_entry d, x, y, l;
    assert_int_equal(mpfs_vfs_mkdir(f->fs, MPFS_ROOT_INO, "d", 0755, NULL, &d), 0);
    assert_int_equal(mpfs_vfs_mkdir(f->fs, MPFS_ROOT_INO, "o", 0755, NULL, &y), 0);
    struct stat before = st_of(f, d.ino);
    assert_int_equal(before.st_nlink, 2);
    struct {
        const char *what;
        int dlink;
    } steps[] = {{"file", 0}, {"mkdir", 1}, {"symlink", 0}, {"fifo", 0}, {"rename", 0},
                 {"move-dir-out", -1}, {"unlink", 0}, {"rmdir", 0}};
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(steps); i++) {
        pause_a_little();
        int rc = 0;
        switch (i) {
        case 0: rc = fx_write_file(f, "d/f", "F", 1); break;
        case 1: rc = mpfs_vfs_mkdir(f->fs, d.ino, "sub", 0755, NULL, &x); break;
        case 2: rc = mpfs_vfs_symlink(f->fs, "f", d.ino, "l", NULL, &l); break;
        case 3: rc = mpfs_vfs_mknod(f->fs, d.ino, "p", S_IFIFO | 0644, 0, NULL, &l); break;
        case 4: {
            struct mpfs_entry fe, ge;
            assert_int_equal(fx_lookup_path(f, "d/f", &fe), 0);
            rc = mpfs_vfs_rename(f->fs, d.ino, "f", d.ino, "g", 0);
            assert_int_equal(fx_lookup_path(f, "d/g", &ge), 0);
            assert_true(ge.st.st_ctim.tv_sec * 1000000000LL + ge.st.st_ctim.tv_nsec >
                        fe.st.st_ctim.tv_sec * 1000000000LL + fe.st.st_ctim.tv_nsec);
            break;
        }
        case 5: rc = mpfs_vfs_rename(f->fs, d.ino, "sub", y.ino, "sub", 0); break;
        case 6: rc = mpfs_vfs_unlink(f->fs, d.ino, "g"); break;
        case 7:
            rc = mpfs_vfs_mkdir(f->fs, d.ino, "gone", 0755, NULL, &x);
            before = st_of(f, d.ino);
            pause_a_little();
            if (rc == 0)
                rc = mpfs_vfs_rmdir(f->fs, d.ino, "gone");
            steps[i].dlink = -1;
            break;
        }
        assert_int_equal(rc, 0);
        struct stat after = st_of(f, d.ino);
        if (after.st_mtim.tv_sec == before.st_mtim.tv_sec)
            assert_true(after.st_mtim.tv_nsec > before.st_mtim.tv_nsec);
        assert_true(after.st_mtim.tv_sec >= before.st_mtim.tv_sec);
        assert_true(after.st_ctim.tv_sec * 1000000000LL + after.st_ctim.tv_nsec >
                    before.st_ctim.tv_sec * 1000000000LL + before.st_ctim.tv_nsec);
        assert_int_equal((int)after.st_nlink, (int)before.st_nlink + steps[i].dlink);
        before = after;
    }
    assert_int_equal(st_of(f, y.ino).st_nlink, 3);
    fixture_free(f);
}

static void test_hard_link_counts(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("nfs", NULL);
    struct mpfs_entry e, g, h;
    assert_int_equal(fx_write_file(f, "f", "F", 1), 0);
    assert_int_equal(fx_lookup_path(f, "f", &e), 0);
    struct stat before = st_of(f, e.ino);
    pause_a_little();
    assert_int_equal(mpfs_vfs_link(f->fs, e.ino, MPFS_ROOT_INO, "g", &g), 0);
    assert_true(g.st.st_ctim.tv_sec * 1000000000LL + g.st.st_ctim.tv_nsec >
                before.st_ctim.tv_sec * 1000000000LL + before.st_ctim.tv_nsec);
    assert_int_equal(mpfs_vfs_link(f->fs, e.ino, MPFS_ROOT_INO, "h", &h), 0);
    assert_int_equal(st_of(f, e.ino).st_nlink, 3);
    assert_int_equal(mpfs_vfs_unlink(f->fs, MPFS_ROOT_INO, "h"), 0);
    assert_int_equal(st_of(f, e.ino).st_nlink, 2);
    assert_int_equal(fx_lookup_path(f, "g", &g), 0);
    assert_int_equal(g.st.st_nlink, 2);
    assert_int_equal(fx_write_file(f, "new", "N", 1), 0);
    assert_int_equal(mpfs_vfs_rename(f->fs, MPFS_ROOT_INO, "new", MPFS_ROOT_INO, "g", 0), 0);
    assert_int_equal(st_of(f, e.ino).st_nlink, 1);
    char buf[4];
    assert_int_equal(fx_read_file(f, "f", buf, sizeof(buf)), 1);
    fixture_free(f);
}

static void test_dotdot_parent(void **state)
{
    struct fixture *f = fixture_new(*state, NULL);
    struct mpfs_entry d;
    struct mpfs_dirhandle *dh;
    assert_int_equal(mpfs_vfs_mkdir(f->fs, MPFS_ROOT_INO, "d", 0755, NULL, &d), 0);
    assert_int_equal(mpfs_vfs_opendir(f->fs, d.ino, &dh), 0);
    assert_int_equal(mpfs_vfs_dir_parent(dh), MPFS_ROOT_INO);
    mpfs_vfs_releasedir(f->fs, dh);
    struct mpfs_entry s;
    assert_int_equal(mpfs_vfs_mkdir(f->fs, d.ino, "s", 0755, NULL, &s), 0);
    assert_int_equal(mpfs_vfs_opendir(f->fs, s.ino, &dh), 0);
    assert_int_equal(mpfs_vfs_dir_parent(dh), d.ino);
    mpfs_vfs_releasedir(f->fs, dh);
    fixture_free(f);
}

static void test_path_longer_than_store(void **state)
{
    struct fixture *f = fixture_new(*state, NULL);
    set_path_max(f, 12); /* "d/" + 10 bytes */
    struct mpfs_entry d, e;
    struct mpfs_handle *h = NULL;
    assert_int_equal(mpfs_vfs_mkdir(f->fs, MPFS_ROOT_INO, "d", 0755, NULL, &d), 0);
    assert_int_equal(mpfs_vfs_create(f->fs, d.ino, "0123456789", 0644, O_WRONLY, NULL, &e, &h),
                     0);
    mpfs_vfs_release(f->fs, h);
    const char *over = "0123456789a";
    assert_int_equal(mpfs_vfs_create(f->fs, d.ino, over, 0644, O_WRONLY, NULL, &e, &h),
                     -ENAMETOOLONG);
    assert_int_equal(mpfs_vfs_mkdir(f->fs, d.ino, over, 0755, NULL, &e), -ENAMETOOLONG);
    assert_int_equal(mpfs_vfs_symlink(f->fs, "t", d.ino, over, NULL, &e), -ENAMETOOLONG);
    assert_int_equal(mpfs_vfs_mknod(f->fs, d.ino, over, S_IFIFO | 0644, 0, NULL, &e),
                     -ENAMETOOLONG);
    assert_int_equal(mpfs_vfs_rename(f->fs, d.ino, "0123456789", d.ino, over, 0),
                     -ENAMETOOLONG);
    assert_int_equal(mpfs_vfs_lookup(f->fs, d.ino, over, &e), -ENAMETOOLONG);
    char *l = fx_list(f, "d");
    assert_string_equal(l, "0123456789");
    free(l);
    fixture_free(f);
}

static void test_special_files(void **state)
{
    struct fixture *f = fixture_new(*state, "dir_ttl=0,dir_stale=0");
    struct mpfs_entry e;
    const struct {
        const char *name;
        mode_t mode;
        dev_t rdev;
    } k[] = {{"fifo", S_IFIFO | 0640, 0},
             {"sock", S_IFSOCK | 0755, 0},
             {"chr", S_IFCHR | 0600, makedev(1, 7)},
             {"blk", S_IFBLK | 0600, makedev(8, 1)}};
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(k); i++) {
        assert_int_equal(mpfs_vfs_mknod(f->fs, MPFS_ROOT_INO, k[i].name, k[i].mode, k[i].rdev,
                                        NULL, &e),
                         0);
        assert_int_equal(e.st.st_mode, k[i].mode);
        assert_int_equal(e.st.st_rdev, k[i].rdev);
    }
    assert_int_equal(mpfs_vfs_mknod(f->fs, MPFS_ROOT_INO, "fifo", S_IFIFO | 0644, 0, NULL, &e),
                     -EEXIST);
    assert_int_equal(mpfs_vfs_mknod(f->fs, MPFS_ROOT_INO, "reg", S_IFREG | 0644, 0, NULL, &e),
                     -EINVAL);
    /* listed back, and found again by a mount with an empty index */
    for (int pass = 0; pass < 2; pass++) {
        /* readdirplus before any lookup: the kernel takes a device
         * inode's number from this first reply and never updates it */
        struct mpfs_dirhandle *dh;
        assert_int_equal(mpfs_vfs_opendir(f->fs, MPFS_ROOT_INO, &dh), 0);
        const char *name;
        for (size_t idx = 0; mpfs_vfs_dir_entry(f->fs, dh, idx, 1, &name, &e) == 1; idx++) {
            for (size_t i = 0; i < MPFS_ARRAY_SIZE(k); i++) {
                if (strcmp(name, k[i].name) != 0)
                    continue;
                assert_int_equal(e.st.st_mode & S_IFMT, k[i].mode & S_IFMT);
                assert_int_equal(e.st.st_rdev, k[i].rdev);
                struct stat st = st_of(f, e.ino);
                assert_int_equal(st.st_rdev, k[i].rdev);
            }
        }
        mpfs_vfs_releasedir(f->fs, dh);
        char *l = fx_list(f, "");
        assert_string_equal(l, "blk\nchr\nfifo\nsock");
        free(l);
        for (size_t i = 0; i < MPFS_ARRAY_SIZE(k); i++) {
            char p[16];
            snprintf(p, sizeof(p), "%s", k[i].name);
            assert_int_equal(fx_lookup_path(f, p, &e), 0);
            assert_int_equal(e.st.st_mode, k[i].mode);
            assert_int_equal(e.st.st_rdev, k[i].rdev);
        }
        /* unmount, drop the index, mount again (remount frees NULL) */
        mpfs_fs_free(f->fs);
        f->fs = NULL;
        char *cmd = mpfs_xasprintf("rm -rf '%s'/index", f->dir);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        fixture_remount(f);
    }
    fixture_free(f);
}

/* A store with no way to keep the type refuses: mknod(2)'s EPERM. */
static void test_mknod_refused(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    f->s3->caps &= ~(uint32_t)MPFS_CAP_SETATTR; /* no metadata kept */
    f->s3f->caps = f->s3->caps;
    fixture_remount(f);
    struct mpfs_entry e;
    assert_int_equal(mpfs_vfs_mknod(f->fs, MPFS_ROOT_INO, "p", S_IFIFO | 0644, 0, NULL, &e),
                     -EPERM);
    assert_int_equal(fx_lookup_path(f, "p", &e), -ENOENT);
    fixture_free(f);
}

int main(void)
{
    struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_owner_is_caller, (void *)modes[0]),
        cmocka_unit_test_prestate(test_owner_is_caller, (void *)modes[1]),
        cmocka_unit_test_prestate(test_owner_is_caller, (void *)modes[2]),
        cmocka_unit_test_prestate(test_setgid_dir_group, (void *)modes[0]),
        cmocka_unit_test_prestate(test_setgid_dir_group, (void *)modes[1]),
        cmocka_unit_test_prestate(test_dir_times_and_nlink, (void *)modes[0]),
        cmocka_unit_test_prestate(test_dir_times_and_nlink, (void *)modes[1]),
        cmocka_unit_test_prestate(test_dir_times_and_nlink, (void *)modes[2]),
        cmocka_unit_test(test_hard_link_counts),
        cmocka_unit_test_prestate(test_dotdot_parent, (void *)modes[0]),
        cmocka_unit_test_prestate(test_dotdot_parent, (void *)modes[1]),
        cmocka_unit_test_prestate(test_path_longer_than_store, (void *)modes[0]),
        cmocka_unit_test_prestate(test_path_longer_than_store, (void *)modes[1]),
        cmocka_unit_test_prestate(test_special_files, (void *)modes[0]),
        cmocka_unit_test_prestate(test_special_files, (void *)modes[1]),
        cmocka_unit_test_prestate(test_special_files, (void *)modes[2]),
        cmocka_unit_test(test_mknod_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

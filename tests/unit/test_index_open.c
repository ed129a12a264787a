/*
 * test_index_open.c - the index across opens: persistence, the inode
 * allocator across a clean close and a crash, a deleted database, unusable
 * directories, and the one-mount lock.  Damaged databases are in
 * test_index_recover.c.
 *
 * Crashes are simulated by a forked child that opens the index, works and
 * _exit()s without closing it.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/util.h"
#include "index/index.h"
#include "index/testing.h"
#include "test_index_disk.h"
#include "test_index_util.h"

static void reopen_keeps_everything(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct mpfs_index_entry r, out;
    struct mpfs_index_dir d = {.listed_ns = 123456789, .entries = NFILL}, dout;
    uint64_t parent, last = 0;
    char name[64];

    struct mpfs_index *idx = tix_open_ok(f->dir, 1, err, sizeof(err));
    assert_string_equal(err, "");
    tix_fill(idx);
    assert_int_equal(mpfs_index_dir_put(idx, 1, &d), 0);
    assert_int_equal(mpfs_index_root(idx, &r), 0);
    strcpy(r.version, "root-etag");
    assert_int_equal(mpfs_index_put_root(idx, &r), 0);
    for (int i = 0; i < 10; i++) {
        last = mpfs_index_alloc_ino(idx);
    }
    mpfs_index_close(idx);

    idx = tix_open_ok(f->dir, 0, err, sizeof(err));
    assert_string_equal(err, "");
    assert_int_equal(tix_count(idx, 1), NFILL);
    assert_int_equal(mpfs_index_get(idx, 1, "f00123", &out), 0);
    assert_int_equal(out.ino, 10 + 123);
    assert_int_equal(
        mpfs_index_where(idx, 10 + 499, &parent, name, sizeof(name)), 0);
    assert_string_equal(name, "f00499");
    assert_int_equal(mpfs_index_dir_get(idx, 1, &dout), 0);
    assert_int_equal(dout.listed_ns, 123456789);
    assert_int_equal(mpfs_index_root(idx, &r), 0);
    assert_string_equal(r.version, "root-etag");
    /* A clean close saved the exact next number: nothing skipped. */
    assert_int_equal(mpfs_index_alloc_ino(idx), last + 1);
    mpfs_index_close(idx);
    mpfs_index_close(NULL);
}

static void new_dir_is_created_private(void **state)
{
    struct fixture *f = *state;
    char err[256];
    char *sub = mpfs_xasprintf("%s/a/b/index", f->dir);
    struct stat st;

    struct mpfs_index *idx = tix_open_ok(sub, 1, err, sizeof(err));
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    mpfs_index_close(idx);
    free(sub);
}

static void crash_keeps_writes_and_numbers(void **state)
{
    struct fixture *f = *state;
    char err[256];
    int pfd[2];
    uint64_t child_max = 0;

    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mpfs_index *idx = NULL;
        uint64_t max = 0;
        if (mpfs_index_open(f->dir, &idx, NULL, err, sizeof(err)) != 0) {
            _exit(2);
        }
        for (int i = 0; i < 1500; i++) { /* crosses a 1024 batch */
            uint64_t n = mpfs_index_alloc_ino(idx);
            max = n > max ? n : max;
        }
        struct mpfs_index_entry e = tix_entry(max, 1, 0);
        if (mpfs_index_put(idx, 1, "survivor", &e) != 0) {
            _exit(3);
        }
        if (write(pfd[1], &max, sizeof(max)) != sizeof(max)) {
            _exit(4);
        }
        _exit(0); /* no close, no flush: a crash */
    }
    close(pfd[1]);
    assert_int_equal(read(pfd[0], &child_max, sizeof(child_max)),
                     sizeof(child_max));
    close(pfd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(child_max >= 1500);

    struct mpfs_index *idx = tix_open_ok(f->dir, 0, err, sizeof(err));
    struct mpfs_index_entry out;
    assert_int_equal(mpfs_index_get(idx, 1, "survivor", &out), 0);
    assert_int_equal(out.ino, child_max);
    uint64_t n = mpfs_index_alloc_ino(idx);
    assert_true(n > child_max);
    /* At most one batch skipped. */
    assert_true(n - child_max <= 1024 + 1);
    mpfs_index_close(idx);
}

static void ino_numbers_grow_across_reopens(void **state)
{
    struct fixture *f = *state;
    char err[256];
    uint64_t prev = 0;

    for (int round = 0; round < 3; round++) {
        struct mpfs_index *idx =
            tix_open_ok(f->dir, round == 0, err, sizeof(err));
        for (int i = 0; i < 1100; i++) {
            uint64_t n = mpfs_index_alloc_ino(idx);
            assert_true(n > prev);
            prev = n;
        }
        mpfs_index_close(idx);
    }
}

static void missing_database_is_recreated(void **state)
{
    struct fixture *f = *state;
    char err[256];
    tix_make_index(f->dir);
    char *db = mpfs_xasprintf("%s/db", f->dir);
    tix_rm_rf(db);
    free(db);
    struct mpfs_index *idx = tix_open_ok(f->dir, 1, err, sizeof(err));
    assert_int_equal(tix_count(idx, 1), 0);
    mpfs_index_close(idx);
}

static void unusable_directory(void **state)
{
    (void)state;
    struct mpfs_index *idx = (struct mpfs_index *)&idx;
    char err[256];
    int rebuilt = -1;

    /* Under a regular file: root cannot get around that. */
    assert_int_equal(
        mpfs_index_open("/etc/passwd/x", &idx, &rebuilt, err, sizeof(err)),
        -ENOTDIR);
    assert_null(idx);
    assert_non_null(strstr(err, "/etc/passwd/x"));
    assert_int_equal(rebuilt, 0);
    /* A regular file as the directory. */
    assert_int_equal(
        mpfs_index_open("/etc/passwd", &idx, NULL, err, sizeof(err)), -ENOTDIR);
    assert_non_null(strstr(err, "not a directory"));
    /* procfs takes no new directories. */
    int rc =
        mpfs_index_open("/proc/mpfs-index-test", &idx, NULL, err, sizeof(err));
    assert_true(rc < 0);
    assert_non_null(strstr(err, "/proc/mpfs-index-test"));
    assert_int_equal(mpfs_index_open("", &idx, NULL, err, sizeof(err)),
                     -EINVAL);
    /* NULL err is allowed. */
    assert_int_equal(mpfs_index_open("/etc/passwd/x", &idx, NULL, NULL, 0),
                     -ENOTDIR);
}

static void not_writable_directory(void **state)
{
    struct fixture *f = *state;
    int pfd[2];
    char err[256] = "";

    /* root's child becomes nobody: 0755 keeps it out; anyone else's own
     * directory must lose its write bit. */
    assert_int_equal(chmod(f->dir, geteuid() == 0 ? 0755 : 0500), 0);
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mpfs_index *idx = NULL;
        close(pfd[0]);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
            _exit(100);
        }
        int rc = mpfs_index_open(f->dir, &idx, NULL, err, sizeof(err));
        if (write(pfd[1], err, sizeof(err)) != sizeof(err)) {
            _exit(101);
        }
        _exit(-rc);
    }
    close(pfd[1]);
    assert_int_equal(read(pfd[0], err, sizeof(err)), sizeof(err));
    close(pfd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(chmod(f->dir, 0700), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), EACCES);
    if (strstr(err, "not writable") == NULL) {
        fail_msg("unclear message: \"%s\"", err);
    }
}

static void second_open_is_busy(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct mpfs_index *idx2 = NULL;

    struct mpfs_index *idx = tix_open_ok(f->dir, 1, err, sizeof(err));
    assert_int_equal(mpfs_index_open(f->dir, &idx2, NULL, err, sizeof(err)),
                     -EBUSY);
    assert_null(idx2);
    assert_non_null(strstr(err, "in use"));
    char pid[32];
    snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
    assert_non_null(strstr(err, pid));
    /* The failed open did not disturb the first handle. */
    struct mpfs_index_entry e = tix_entry(3, 3, 0), out;
    assert_int_equal(mpfs_index_put(idx, 1, "x", &e), 0);
    mpfs_index_close(idx);

    idx = tix_open_ok(f->dir, 0, err, sizeof(err));
    assert_int_equal(mpfs_index_get(idx, 1, "x", &out), 0);
    mpfs_index_close(idx);
}

static void other_process_is_busy(void **state)
{
    struct fixture *f = *state;
    char err[256];
    int ready[2], done[2];
    char c;

    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct mpfs_index *idx;
        close(ready[0]);
        close(done[1]);
        if (mpfs_index_open(f->dir, &idx, NULL, err, sizeof(err)) != 0) {
            _exit(2);
        }
        if (write(ready[1], "r", 1) != 1 || read(done[0], &c, 1) != 1) {
            _exit(3);
        }
        /* No close: the child inherited RocksDB's thread pool state but
         * not its threads, so a flush would wait forever.  Exiting
         * releases the lock like a crash would. */
        (void)idx;
        _exit(0);
    }
    close(ready[1]);
    close(done[0]);
    assert_int_equal(read(ready[0], &c, 1), 1);

    struct mpfs_index *idx = NULL;
    assert_int_equal(mpfs_index_open(f->dir, &idx, NULL, err, sizeof(err)),
                     -EBUSY);
    char want[32];
    snprintf(want, sizeof(want), "pid %ld", (long)pid);
    if (strstr(err, want) == NULL) {
        fail_msg("\"%s\" does not name %s", err, want);
    }

    assert_int_equal(write(done[1], "d", 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]);
    close(done[1]);
    idx = tix_open_ok(f->dir, 0, err, sizeof(err));
    mpfs_index_close(idx);
}

/* The index's write-ahead log is preallocated small: on a tmpfs cache_dir
 * its preallocated size is RAM outside the memory budget (36 MiB per
 * mount before the cap). */
static void wal_preallocation_is_small(void **state)
{
    struct fixture *f = *state;
    char err[256], pattern[512];
    struct mpfs_index *idx = tix_open_ok(f->dir, 1, err, sizeof(err));
    struct mpfs_index_entry e = tix_entry(3, 3, 0);
    assert_int_equal(mpfs_index_put(idx, 1, "x", &e), 0);
    uint64_t allocated = 0;
    int logs = 0, manifests = 0;
    static const char *const names[] = {"*.log", "MANIFEST-*"};
    for (int depth = 0; depth < 2; depth++) {
        for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
            snprintf(pattern, sizeof(pattern), depth ? "%s/*/%s" : "%s/%s", f->dir, names[n]);
            glob_t g;
            if (glob(pattern, 0, NULL, &g) != 0)
                continue;
            for (size_t i = 0; i < g.gl_pathc; i++) {
                struct stat st;
                assert_int_equal(stat(g.gl_pathv[i], &st), 0);
                allocated += (uint64_t)st.st_blocks * 512;
                *(n ? &manifests : &logs) += 1;
            }
            globfree(&g);
        }
    }
    mpfs_index_close(idx);
    assert_true(logs > 0);
    assert_true(manifests > 0);
    /* 1 MiB of WAL and 64 KiB of MANIFEST preallocated (RocksDB's defaults
     * take 35 MiB and 4 MiB: RAM on a tmpfs cache_dir) */
    if (allocated > (2u << 20))
        fail_msg("the WAL and MANIFEST hold %llu bytes for one entry",
                 (unsigned long long)allocated);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reopen_keeps_everything, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(new_dir_is_created_private, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(crash_keeps_writes_and_numbers,
                                        tix_setup, tix_teardown),
        cmocka_unit_test_setup_teardown(ino_numbers_grow_across_reopens,
                                        tix_setup, tix_teardown),
        cmocka_unit_test_setup_teardown(missing_database_is_recreated,
                                        tix_setup, tix_teardown),
        cmocka_unit_test_setup_teardown(unusable_directory, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(not_writable_directory, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(second_open_is_busy, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(other_process_is_busy, tix_setup,
                                        tix_teardown),
        cmocka_unit_test_setup_teardown(wal_preallocation_is_small, tix_setup,
                                        tix_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

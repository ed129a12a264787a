/*
 * test_index_disk.c - see test_index_disk.h.
 */
#include "test_index_disk.h"

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
#include <unistd.h>

#include <cmocka.h>

#include "base/util.h"
#include "test_index_util.h"

int tix_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = tix_mkdtemp();
    *state = f;
    return 0;
}

int tix_teardown(void **state)
{
    struct fixture *f = *state;
    tix_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

struct mpfs_index *tix_open_ok(const char *dir, int want_rebuilt, char *err,
                               size_t errlen)
{
    struct mpfs_index *idx = NULL;
    int rebuilt = -1;
    int rc = mpfs_index_open(dir, &idx, &rebuilt, err, errlen);
    if (rc != 0) {
        fail_msg("open %s: %d (%s)", dir, rc, err);
    }
    assert_non_null(idx);
    assert_int_equal(rebuilt, want_rebuilt);
    return idx;
}

void tix_fill(struct mpfs_index *idx)
{
    char name[32];
    for (int i = 0; i < NFILL; i++) {
        struct mpfs_index_entry e = tix_entry(10 + (uint64_t)i, (uint64_t)i, 0);
        snprintf(name, sizeof(name), "f%05d", i);
        assert_int_equal(mpfs_index_put(idx, 1, name, &e), 0);
    }
}

static int count_cb(void *arg, const char *name,
                    const struct mpfs_index_entry *e)
{
    (void)name;
    (void)e;
    (*(int *)arg)++;
    return 0;
}

int tix_count(struct mpfs_index *idx, uint64_t dir)
{
    int n = 0;
    int rc = mpfs_index_list(idx, dir, count_cb, &n);
    return rc != 0 ? rc : n;
}

/* Write an index with NFILL entries and close it (flushed to a table). */
void tix_make_index(const char *dir)
{
    char err[256];
    struct mpfs_index *idx = tix_open_ok(dir, 1, err, sizeof(err));
    tix_fill(idx);
    mpfs_index_close(idx);
}

/* Overwrite (len bytes of 'Z' at off; off < 0 from the end) or truncate
 * (len == 0, to half) every file matching dir/db/<pattern>. */
int tix_damage(const char *dir, const char *pattern, long off, size_t len)
{
    char *pat = mpfs_xasprintf("%s/db/%s", dir, pattern);
    glob_t g;
    int n = 0;

    if (glob(pat, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            int fd = open(g.gl_pathv[i], O_WRONLY);
            struct stat st;
            assert_true(fd >= 0);
            assert_int_equal(fstat(fd, &st), 0);
            if (len == 0) {
                assert_int_equal(ftruncate(fd, st.st_size / 2), 0);
            } else {
                char junk[256];
                memset(junk, 'Z', sizeof(junk));
                assert_true(len <= sizeof(junk));
                off_t at = off < 0 ? st.st_size + off : off;
                assert_int_equal(pwrite(fd, junk, len, at), (ssize_t)len);
            }
            close(fd);
            n++;
        }
        globfree(&g);
    }
    free(pat);
    return n;
}

/* Reopen after damage: must come back empty, usable, having said why. */
void tix_assert_rebuilt_after_damage(const char *dir, const char *why)
{
    char err[512];
    struct mpfs_index *idx = NULL;
    int rebuilt = -1;
    /* Nothing may fail the test while stderr is captured. */
    tix_capture_begin();
    int rc = mpfs_index_open(dir, &idx, &rebuilt, err, sizeof(err));
    char *log = tix_capture_end();

    if (rc != 0) {
        fail_msg("open after damage: %d (%s)", rc, err);
    }
    assert_int_equal(rebuilt, 1);
    if (strstr(err, why) == NULL) {
        fail_msg("err \"%s\" lacks \"%s\"", err, why);
    }
    assert_non_null(strstr(log, "warn"));
    assert_non_null(strstr(log, "starting empty"));
    free(log);
    /* Empty, and a working index again. */
    assert_int_equal(tix_count(idx, 1), 0);
    struct mpfs_index_entry e = tix_entry(5, 5, 0), out;
    assert_int_equal(mpfs_index_put(idx, 1, "after", &e), 0);
    assert_int_equal(mpfs_index_get(idx, 1, "after", &out), 0);
    assert_true(mpfs_index_alloc_ino(idx) > MPFS_INDEX_ROOT_INO);
    mpfs_index_close(idx);

    /* And it stays: the next open is a plain one. */
    idx = tix_open_ok(dir, 0, err, sizeof(err));
    assert_string_equal(err, "");
    assert_int_equal(mpfs_index_get(idx, 1, "after", &out), 0);
    mpfs_index_close(idx);
}

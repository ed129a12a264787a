/*
 * test_mem.c - the in-memory backend's own behaviour: what the conformance
 * suite cannot see from outside (raw "someone else" keys, counters,
 * version bumps, POSIX-only and S3-only corners, re-entrant listings).
 * The common contract is covered by tests/conformance against mem.
 */
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
#include <unistd.h>

#include <cmocka.h>

struct ent {
    char name[300];
    size_t len;
    struct mpfs_attr attr;
    int full;
};

struct ents {
    struct ent v[64];
    size_t n;
};

static int collect(void *arg, const char *name, size_t len, const struct mpfs_attr *attr, int full)
{
    struct ents *e = arg;
    assert_true(e->n < 64 && len < sizeof(e->v[0].name));
    memcpy(e->v[e->n].name, name, len);
    e->v[e->n].name[len] = '\0';
    e->v[e->n].len = len;
    e->v[e->n].attr = *attr;
    e->v[e->n].full = full;
    e->n++;
    return 0;
}

static void list(struct mpfs_backend *b, const char *dir, struct ents *e)
{
    memset(e, 0, sizeof(*e));
    assert_int_equal(mpfs_backend_list(b, dir, collect, e), 0);
}

/* How many entries called name of type type (0: any). */
static int count(const struct ents *e, const char *name, uint32_t type)
{
    int n = 0;
    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->v[i].name, name) == 0 && (!type || (e->v[i].attr.mode & S_IFMT) == type)) {
            n++;
        }
    }
    return n;
}

static int put(struct mpfs_backend *b, const char *path, const char *s)
{
    return mpfs_backend_put_buf(b, path, s, strlen(s), NULL, NULL);
}

static void expect_str(struct mpfs_backend *b, const char *path, const char *s)
{
    char buf[256];
    ssize_t n = mpfs_backend_read(b, path, NULL, buf, sizeof(buf), 0);
    assert_int_equal(n, (ssize_t)strlen(s));
    assert_memory_equal(buf, s, strlen(s));
}

static uint32_t stat_mode(struct mpfs_backend *b, const char *path)
{
    struct mpfs_attr a;
    int rc = mpfs_backend_stat(b, path, &a);
    return rc == 0 ? a.mode : 0;
}

/* ------------------------------------------------------------ S3 mode */

static void test_s3_raw_keys(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_S3);
    struct ents e;

    /* what another S3 client may legally write */
    assert_int_equal(mpfs_mem_put_raw(b, "a/b/c", "c", 1), 0);
    assert_int_equal(mpfs_mem_put_raw(b, "a//x", "x", 1), 0);
    assert_int_equal(mpfs_mem_put_raw(b, "../up", "u", 1), 0);
    assert_int_equal(mpfs_mem_put_raw(b, "dir/", "marker with bytes", 17), 0);
    assert_int_equal(mpfs_mem_put_raw(b, "/abs", "abs", 3), 0);
    assert_int_equal(mpfs_mem_put_raw(b, "", "x", 1), -EINVAL);

    list(b, "", &e);
    assert_int_equal(e.n, 4);
    assert_int_equal(count(&e, "a", S_IFDIR), 1);
    assert_int_equal(count(&e, "..", S_IFDIR), 1);
    assert_int_equal(count(&e, "dir", S_IFDIR), 1);
    assert_int_equal(count(&e, "", S_IFDIR), 1); /* from "/abs" */
    for (size_t i = 0; i < e.n; i++) {
        assert_int_equal(e.v[i].full, 0); /* S3 common prefixes */
    }

    list(b, "a", &e);
    assert_int_equal(e.n, 2);
    assert_int_equal(count(&e, "b", S_IFDIR), 1);
    assert_int_equal(count(&e, "", S_IFDIR), 1); /* "a//x" */

    list(b, "dir", &e);
    assert_int_equal(e.n, 0); /* the marker is the dir itself */

    /* implied directories have no metadata and no version */
    struct mpfs_attr a;
    assert_int_equal(mpfs_backend_stat(b, "a/b", &a), 0);
    assert_true(S_ISDIR(a.mode));
    assert_string_equal(a.version, "");
    assert_int_equal(a.valid, 0);
    /* a marker is an object: it has one */
    assert_int_equal(mpfs_backend_stat(b, "dir", &a), 0);
    assert_true(S_ISDIR(a.mode));
    assert_true(a.version[0] != '\0');

    /* the ops refuse what is not a dataset path */
    assert_int_equal(mpfs_backend_stat(b, "/abs", &a), -EINVAL);
    assert_int_equal(put(b, "dir/", "x"), -EINVAL);
    mpfs_backend_free(b);
}

static void test_s3_file_and_dir_same_name(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_S3);
    struct ents e;

    assert_int_equal(put(b, "foo", "file"), 0);
    assert_int_equal(mpfs_mem_put_raw(b, "foo/bar", "bar", 3), 0);
    list(b, "", &e);
    assert_int_equal(e.n, 2);
    assert_int_equal(count(&e, "foo", S_IFREG), 1);
    assert_int_equal(count(&e, "foo", S_IFDIR), 1);

    /* stat prefers the object; remove takes the object, then the dir shows */
    assert_true(S_ISREG(stat_mode(b, "foo")));
    assert_int_equal(mpfs_backend_mkdir(b, "foo", 0755), -EEXIST);
    assert_int_equal(mpfs_backend_remove(b, "foo"), 0);
    assert_true(S_ISDIR(stat_mode(b, "foo")));
    assert_int_equal(mpfs_backend_remove(b, "foo"), -EISDIR);
    expect_str(b, "foo/bar", "bar");
    mpfs_backend_free(b);
}

static void test_s3_listing_has_no_metadata(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_S3);
    struct mpfs_put_opts o = {.attr = {.mode = 0600, .uid = 7},
                              .attr_set = MPFS_SET_MODE | MPFS_SET_UID};
    struct ents e;
    struct mpfs_attr a;

    assert_int_equal(mpfs_backend_put_buf(b, "f", "x", 1, &o, NULL), 0);
    assert_int_equal(mpfs_backend_symlink(b, "target", "ln"), 0);
    assert_int_equal(mpfs_backend_stat(b, "f", &a), 0);
    assert_int_equal(a.mode, S_IFREG | 0600);
    assert_int_equal(a.uid, 7);
    assert_int_equal(a.valid, MPFS_ATTR_MODE | MPFS_ATTR_OWNER | MPFS_ATTR_MTIME);
    assert_int_equal(stat_mode(b, "ln"), S_IFLNK | 0777);

    list(b, "", &e);
    assert_int_equal(e.n, 2);
    for (size_t i = 0; i < e.n; i++) {
        assert_int_equal(e.v[i].full, 1);
        assert_int_equal(e.v[i].attr.mode, S_IFREG | 0644);
        assert_int_equal(e.v[i].attr.uid, 0);
        assert_int_equal(e.v[i].attr.valid, MPFS_ATTR_MTIME);
        assert_true(e.v[i].attr.version[0] != '\0');
    }
    /* an S3 put replaces the metadata too */
    assert_int_equal(put(b, "f", "y"), 0);
    assert_int_equal(mpfs_backend_stat(b, "f", &a), 0);
    assert_int_equal(a.mode, S_IFREG | 0644);
    assert_int_equal(a.valid, MPFS_ATTR_MTIME);
    mpfs_backend_free(b);
}

static void test_s3_implied_dir_setattr_writes_marker(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_S3);
    struct mpfs_attr in = {.mode = 0700};
    struct mpfs_attr a;

    assert_int_equal(put(b, "d/f", "x"), 0);
    assert_int_equal(mpfs_backend_setattr(b, "d", &in, MPFS_SET_MODE, &a), 0);
    assert_int_equal(a.mode, S_IFDIR | 0700);
    /* the marker keeps the directory once its last file is gone */
    assert_int_equal(mpfs_backend_remove(b, "d/f"), 0);
    assert_int_equal(stat_mode(b, "d"), S_IFDIR | 0700);
    assert_int_equal(mpfs_backend_rmdir(b, "d"), 0);
    assert_int_equal(stat_mode(b, "d"), 0);
    mpfs_backend_free(b);
}

static void test_s3_rename_implied_dir(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_S3);

    assert_int_equal(put(b, "src/a", "a"), 0);
    assert_int_equal(put(b, "src/sub/b", "b"), 0);
    assert_int_equal(put(b, "srcx", "not under src/"), 0);
    assert_int_equal(mpfs_backend_rename(b, "src", "dst", 0), 0);
    expect_str(b, "dst/a", "a");
    expect_str(b, "dst/sub/b", "b");
    expect_str(b, "srcx", "not under src/");
    assert_int_equal(stat_mode(b, "src"), 0);
    /* into itself */
    assert_int_equal(mpfs_backend_rename(b, "dst", "dst/sub/x", 0), -EINVAL);
    mpfs_backend_free(b);
}

static void test_s3_no_empty_dirs(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(0);
    struct mpfs_attr a;

    /* no marker: mkdir succeeds but leaves nothing, as declared by caps */
    assert_int_equal(mpfs_backend_mkdir(b, "d", 0755), 0);
    assert_int_equal(mpfs_backend_stat(b, "d", &a), -ENOENT);
    assert_int_equal(put(b, "d/f", "x"), 0);
    assert_int_equal(mpfs_backend_mkdir(b, "d", 0755), -EEXIST);
    assert_int_equal(mpfs_backend_rmdir(b, "d"), -ENOTEMPTY);
    mpfs_backend_free(b);
}

/* ---------------------------------------------------------- POSIX mode */

static void test_posix_parents(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);
    struct mpfs_attr a;
    struct ents e;

    assert_int_equal(put(b, "a/b", "x"), -ENOENT);
    assert_int_equal(mpfs_backend_mkdir(b, "a/b", 0755), -ENOENT);
    assert_int_equal(mpfs_backend_mkdir(b, "a", 0750), 0);
    assert_int_equal(stat_mode(b, "a"), S_IFDIR | 0750);
    assert_int_equal(put(b, "a/b", "x"), 0);
    assert_int_equal(put(b, "a/b/c", "x"), -ENOTDIR);
    assert_int_equal(mpfs_backend_stat(b, "a/b/c", &a), -ENOTDIR);
    assert_int_equal(mpfs_backend_mkdir(b, "a/b", 0755), -EEXIST);
    assert_int_equal(put(b, "a", "x"), -EISDIR);
    assert_int_equal(mpfs_backend_list(b, "a/b", collect, &e), -ENOTDIR);
    assert_int_equal(mpfs_backend_list(b, "nope", collect, &e), -ENOENT);

    /* listings carry full attributes for directories too */
    assert_int_equal(mpfs_backend_mkdir(b, "a/sub", 0700), 0);
    list(b, "a", &e);
    assert_int_equal(e.n, 2);
    for (size_t i = 0; i < e.n; i++) {
        assert_int_equal(e.v[i].full, 1);
        assert_true(e.v[i].attr.fileid > 1);
    }
    assert_int_equal(count(&e, "sub", S_IFDIR), 1);

    /* names POSIX cannot have */
    assert_int_equal(put(b, "a/../x", "x"), -EINVAL);
    assert_int_equal(put(b, "a//x", "x"), -EINVAL);
    assert_int_equal(put(b, "/a/x", "x"), -EINVAL);
    char longname[300];
    memset(longname, 'n', 256);
    longname[256] = '\0';
    assert_int_equal(put(b, longname, "x"), -ENAMETOOLONG);
    longname[255] = '\0';
    assert_int_equal(put(b, longname, "x"), 0);
    mpfs_backend_free(b);
}

static void test_posix_hardlinks(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);
    struct mpfs_attr a1;
    struct mpfs_attr a2;

    assert_int_equal(put(b, "a", "one"), 0);
    assert_int_equal(mpfs_backend_link(b, "a", "b"), 0);
    /* a put is O_TRUNC + write on the same inode: both names see it */
    assert_int_equal(put(b, "a", "two"), 0);
    expect_str(b, "b", "two");
    assert_int_equal(mpfs_backend_pwrite(b, "b", "T", 1, 0), 1);
    expect_str(b, "a", "Two");
    assert_int_equal(mpfs_backend_stat(b, "a", &a1), 0);
    assert_int_equal(mpfs_backend_stat(b, "b", &a2), 0);
    assert_int_equal(a1.nlink, 2);
    assert_int_equal(a1.fileid, a2.fileid);
    assert_string_equal(a1.version, a2.version);

    /* rename of one link onto the other does nothing (rename(2)) */
    assert_int_equal(mpfs_backend_rename(b, "a", "b", 0), 0);
    expect_str(b, "a", "Two");
    expect_str(b, "b", "Two");

    assert_int_equal(mpfs_backend_mkdir(b, "d", 0755), 0);
    assert_int_equal(mpfs_backend_link(b, "d", "d2"), -EPERM);
    assert_int_equal(mpfs_backend_link(b, "nope", "x"), -ENOENT);
    assert_int_equal(mpfs_backend_remove(b, "a"), 0);
    assert_int_equal(mpfs_backend_stat(b, "b", &a2), 0);
    assert_int_equal(a2.nlink, 1);
    mpfs_backend_free(b);
}

static void test_posix_dir_version_moves(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);
    struct mpfs_attr d1;
    struct mpfs_attr d2;
    struct mpfs_attr r1;
    struct mpfs_attr r2;

    assert_int_equal(mpfs_backend_stat(b, "", &r1), 0);
    assert_int_equal(r1.fileid, 1);
    assert_int_equal(mpfs_backend_mkdir(b, "d", 0755), 0);
    assert_int_equal(mpfs_backend_stat(b, "", &r2), 0);
    assert_string_not_equal(r1.version, r2.version);

    assert_int_equal(mpfs_backend_stat(b, "d", &d1), 0);
    assert_int_equal(put(b, "d/f", "x"), 0);
    assert_int_equal(mpfs_backend_stat(b, "d", &d2), 0);
    assert_string_not_equal(d1.version, d2.version);
    assert_true(d2.mtime_ns >= d1.mtime_ns);
    /* rewriting an existing file is not a directory change */
    assert_int_equal(put(b, "d/f", "y"), 0);
    assert_int_equal(mpfs_backend_stat(b, "d", &d1), 0);
    assert_string_equal(d1.version, d2.version);
    assert_int_equal(mpfs_backend_remove(b, "d/f"), 0);
    assert_int_equal(mpfs_backend_stat(b, "d", &d1), 0);
    assert_string_not_equal(d1.version, d2.version);
    mpfs_backend_free(b);
}

static void test_posix_rename_rules(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);

    assert_int_equal(mpfs_backend_mkdir(b, "d", 0755), 0);
    assert_int_equal(mpfs_backend_mkdir(b, "d/sub", 0755), 0);
    assert_int_equal(mpfs_backend_mkdir(b, "full", 0755), 0);
    assert_int_equal(put(b, "full/x", "x"), 0);
    assert_int_equal(mpfs_backend_mkdir(b, "empty", 0755), 0);
    assert_int_equal(put(b, "f", "f"), 0);

    assert_int_equal(mpfs_backend_rename(b, "d", "d/sub/x", 0), -EINVAL);
    assert_int_equal(mpfs_backend_rename(b, "d", "full", 0), -ENOTEMPTY);
    assert_int_equal(mpfs_backend_rename(b, "d", "f", 0), -ENOTDIR);
    assert_int_equal(mpfs_backend_rename(b, "f", "d", 0), -EISDIR);
    assert_int_equal(mpfs_backend_rename(b, "f", "nope/f", 0), -ENOENT);
    assert_int_equal(mpfs_backend_rename(b, "f", "g", MPFS_RENAME_EXCHANGE), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_rename(b, "f", "g", 0x80), -EINVAL);
    assert_int_equal(mpfs_backend_rename(b, "", "g", 0), -EBUSY);
    /* onto an empty directory: replaces it */
    assert_int_equal(mpfs_backend_rename(b, "d", "empty", 0), 0);
    assert_int_equal(stat_mode(b, "empty/sub"), S_IFDIR | 0755);
    assert_int_equal(stat_mode(b, "d"), 0);
    assert_int_equal(stat_mode(b, "d/sub"), 0);
    mpfs_backend_free(b);
}

static void test_remove_raw(void **state)
{
    struct mpfs_backend *s3 = mpfs_mem_new(MPFS_MEM_CAPS_S3);
    struct mpfs_backend *px = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);

    /* S3: exactly that key */
    assert_int_equal(mpfs_mem_put_raw(s3, "a/", "", 0), 0);
    assert_int_equal(mpfs_mem_put_raw(s3, "a/b", "b", 1), 0);
    assert_int_equal(mpfs_mem_remove_raw(s3, "a/"), 0);
    assert_true(S_ISDIR(stat_mode(s3, "a"))); /* still implied by a/b */
    assert_int_equal(mpfs_mem_remove_raw(s3, "a/"), -ENOENT);
    assert_int_equal(mpfs_mem_remove_raw(s3, "a/b"), 0);
    assert_int_equal(stat_mode(s3, "a"), 0);

    /* POSIX: put_raw is mkdir -p, remove_raw of a dir is rm -rf */
    assert_int_equal(mpfs_mem_put_raw(px, "x/y/z", "z", 1), 0);
    assert_int_equal(stat_mode(px, "x/y"), S_IFDIR | 0755);
    assert_int_equal(mpfs_mem_put_raw(px, "x/y/z/w", "w", 1), -ENOTDIR);
    assert_int_equal(mpfs_mem_put_raw(px, "x/y", "w", 1), -EISDIR);
    assert_int_equal(mpfs_mem_put_raw(px, "x/../y", "w", 1), -EINVAL);
    assert_int_equal(mpfs_mem_put_raw(px, "xx", "w", 1), 0);
    assert_int_equal(mpfs_mem_remove_raw(px, "x"), 0);
    assert_int_equal(stat_mode(px, "x/y/z"), 0);
    assert_int_equal(stat_mode(px, "x"), 0);
    assert_true(S_ISREG(stat_mode(px, "xx")));
    assert_int_equal(mpfs_mem_remove_raw(px, "x"), -ENOENT);
    assert_int_equal(mpfs_mem_remove_raw(px, ""), -ENOENT);
    mpfs_backend_free(s3);
    mpfs_backend_free(px);
}

/* ------------------------------------------------------- both / common */

static void test_versions_and_bump(void **state)
{
    uint32_t modes[] = {MPFS_MEM_CAPS_S3, MPFS_MEM_CAPS_POSIX};
    for (size_t i = 0; i < 2; i++) {
        struct mpfs_backend *b = mpfs_mem_new(modes[i]);
        struct mpfs_attr v1;
        struct mpfs_attr v2;
        struct mpfs_attr v3;
        struct mpfs_attr in = {.mode = 0600};

        assert_int_equal(put(b, "f", "same"), 0);
        assert_int_equal(mpfs_backend_stat(b, "f", &v1), 0);
        assert_int_equal(mpfs_mem_bump_version(b, "f"), 0);
        assert_int_equal(mpfs_backend_stat(b, "f", &v2), 0);
        assert_string_not_equal(v1.version, v2.version);
        expect_str(b, "f", "same");
        /* metadata changes keep the version */
        assert_int_equal(mpfs_backend_setattr(b, "f", &in, MPFS_SET_MODE, &v3), 0);
        assert_string_equal(v2.version, v3.version);
        assert_int_equal(mpfs_backend_setxattr(b, "f", "k", "v", 1), 0);
        assert_int_equal(mpfs_backend_stat(b, "f", &v3), 0);
        assert_string_equal(v2.version, v3.version);
        /* someone else's write moves it too */
        assert_int_equal(mpfs_mem_put_raw(b, "f", "other", 5), 0);
        assert_int_equal(mpfs_backend_stat(b, "f", &v3), 0);
        assert_string_not_equal(v2.version, v3.version);
        assert_int_equal(v3.size, 5);
        assert_int_equal(mpfs_mem_bump_version(b, "nope"), -ENOENT);
        mpfs_backend_free(b);
    }
}

static void test_caps_off(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(0);
    struct mpfs_attr in = {.mode = 0600, .size = 1};
    struct mpfs_put_opts o = {.attr = {.mode = 0600}, .attr_set = MPFS_SET_MODE};
    struct mpfs_attr a;
    char buf[16];

    assert_int_equal(mpfs_backend_put_buf(b, "f", "abc", 3, &o, NULL), 0);
    assert_int_equal(mpfs_backend_stat(b, "f", &a), 0);
    assert_int_equal(a.mode, S_IFREG | 0644); /* nowhere to keep it */
    assert_false(a.valid & MPFS_ATTR_MODE);
    assert_int_equal(mpfs_backend_pwrite(b, "f", "x", 1, 0), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_rename(b, "f", "g", 0), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_symlink(b, "t", "l"), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_readlink(b, "f", buf, sizeof(buf)), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_link(b, "f", "g"), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_setattr(b, "f", &in, MPFS_SET_MODE, NULL), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_setattr(b, "f", &in, MPFS_SET_SIZE, NULL), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_setxattr(b, "f", "k", "v", 1), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_getxattr(b, "f", "k", buf, sizeof(buf)), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_listxattr(b, "f", buf, sizeof(buf)), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_removexattr(b, "f", "k"), -EOPNOTSUPP);
    expect_str(b, "f", "abc");

    /* setattr with one bit present and one absent changes nothing */
    struct mpfs_backend *t = mpfs_mem_new(MPFS_CAP_SETATTR);
    assert_int_equal(put(t, "f", "abc"), 0);
    assert_int_equal(mpfs_backend_setattr(t, "f", &in, MPFS_SET_MODE | MPFS_SET_SIZE, NULL),
                     -EOPNOTSUPP);
    assert_int_equal(stat_mode(t, "f"), S_IFREG | 0644);
    expect_str(t, "f", "abc");
    mpfs_backend_free(t);
    mpfs_backend_free(b);
}

static void test_pinned_and_conditional(void **state)
{
    struct mpfs_backend *pin = mpfs_mem_new(MPFS_CAP_PINNED_READ);
    struct mpfs_backend *nopin = mpfs_mem_new(0);
    struct mpfs_attr v1;
    char buf[8];

    for (int i = 0; i < 2; i++) {
        struct mpfs_backend *b = i ? nopin : pin;
        assert_int_equal(mpfs_backend_put_buf(b, "f", "one", 3, NULL, &v1), 0);
        assert_int_equal(put(b, "f", "two"), 0);
        assert_int_equal(mpfs_backend_read(b, "f", v1.version, buf, sizeof(buf), 0),
                         i ? 3 : -ESTALE);
        /* preconditions are checked whatever the caps (atomically here) */
        struct mpfs_put_opts o = {.if_match = v1.version};
        assert_int_equal(mpfs_backend_put_buf(b, "f", "3", 1, &o, NULL), -ESTALE);
        o.if_match = "v999999";
        assert_int_equal(mpfs_backend_put_buf(b, "new", "3", 1, &o, NULL), -ESTALE);
        o = (struct mpfs_put_opts){.if_none_match = 1};
        assert_int_equal(mpfs_backend_put_buf(b, "f", "3", 1, &o, NULL), -EEXIST);
        expect_str(b, "f", "two");
    }
    mpfs_backend_free(pin);
    mpfs_backend_free(nopin);
}

static void test_stats(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_S3);
    struct mpfs_mem_stats s;
    struct mpfs_attr a;
    struct ents e;
    char buf[16];

    assert_int_equal(mpfs_mem_put_raw(b, "raw", "0123456789", 10), 0);
    mpfs_mem_get_stats(b, &s);
    assert_int_equal(s.puts, 0); /* "someone else" is not counted */

    assert_int_equal(put(b, "f", "hello"), 0);
    assert_int_equal(mpfs_backend_stat(b, "f", &a), 0);
    assert_int_equal(mpfs_backend_stat(b, "nope", &a), -ENOENT);
    list(b, "", &e);
    assert_int_equal(mpfs_backend_read(b, "raw", NULL, buf, 4, 0), 4);
    assert_int_equal(mpfs_backend_read(b, "raw", NULL, buf, 16, 8), 2);
    assert_int_equal(mpfs_backend_read(b, "raw", NULL, buf, 16, 10), 0);
    mpfs_mem_get_stats(b, &s);
    assert_int_equal(s.puts, 1);
    assert_int_equal(s.bytes_written, 5);
    assert_int_equal(s.stats, 2);
    assert_int_equal(s.lists, 1);
    assert_int_equal(s.reads, 3);
    assert_int_equal(s.bytes_read, 6);

    mpfs_mem_reset_stats(b);
    mpfs_mem_get_stats(b, &s);
    assert_int_equal(s.stats + s.lists + s.reads + s.puts + s.bytes_read, 0);
    assert_int_equal(mpfs_backend_remove(b, "f"), 0);
    assert_int_equal(mpfs_backend_mkdir(b, "d", 0755), 0);
    assert_int_equal(mpfs_backend_rmdir(b, "d"), 0);
    assert_int_equal(mpfs_backend_rename(b, "raw", "raw2", 0), 0);
    mpfs_mem_get_stats(b, &s);
    assert_int_equal(s.removes, 1);
    assert_int_equal(s.mkdirs, 1);
    assert_int_equal(s.rmdirs, 1);
    assert_int_equal(s.renames, 1);

    /* statfs reflects what is stored */
    struct statvfs before;
    struct statvfs after;
    assert_int_equal(mpfs_backend_statfs(b, &before), 0);
    char big[3 * 4096];
    memset(big, 'b', sizeof(big));
    assert_int_equal(mpfs_backend_put_buf(b, "big", big, sizeof(big), NULL, NULL), 0);
    assert_int_equal(mpfs_backend_statfs(b, &after), 0);
    assert_int_equal(before.f_bfree - after.f_bfree, 3);
    assert_int_equal(before.f_ffree - after.f_ffree, 1);
    mpfs_backend_free(b);
}

static void test_xattrs(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);
    char buf[64];

    assert_int_equal(put(b, "f", "x"), 0);
    assert_int_equal(mpfs_backend_setxattr(b, "f", "a", "1", 1), 0);
    assert_int_equal(mpfs_backend_setxattr(b, "f", "bb", "", 0), 0);
    assert_int_equal(mpfs_backend_setxattr(b, "f", "a", "22", 2), 0); /* replace */
    assert_int_equal(mpfs_backend_getxattr(b, "f", "a", buf, 1), -ERANGE);
    assert_int_equal(mpfs_backend_getxattr(b, "f", "a", buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "22", 2);
    assert_int_equal(mpfs_backend_getxattr(b, "f", "bb", buf, sizeof(buf)), 0);
    assert_int_equal(mpfs_backend_listxattr(b, "f", NULL, 0), 5);
    assert_int_equal(mpfs_backend_listxattr(b, "f", buf, 4), -ERANGE);
    assert_int_equal(mpfs_backend_listxattr(b, "f", buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "a\0bb\0", 5);
    assert_int_equal(mpfs_backend_removexattr(b, "f", "a"), 0);
    assert_int_equal(mpfs_backend_removexattr(b, "f", "a"), -ENODATA);
    assert_int_equal(mpfs_backend_setxattr(b, "nope", "a", "1", 1), -ENOENT);
    assert_int_equal(mpfs_backend_setxattr(b, "f", "", "1", 1), -EINVAL);
    /* on the root and on a directory */
    assert_int_equal(mpfs_backend_setxattr(b, "", "r", "1", 1), 0);
    assert_int_equal(mpfs_backend_getxattr(b, "", "r", buf, sizeof(buf)), 1);
    assert_int_equal(mpfs_backend_mkdir(b, "d", 0755), 0);
    assert_int_equal(mpfs_backend_setxattr(b, "d", "k", "v", 1), 0);
    assert_int_equal(mpfs_backend_listxattr(b, "d", buf, sizeof(buf)), 2);
    mpfs_backend_free(b);
}

struct reentry {
    struct mpfs_backend *b;
    int stats_ok;
};

static int reenter_cb(void *arg, const char *name, size_t len, const struct mpfs_attr *attr,
                      int full)
{
    struct reentry *r = arg;
    struct mpfs_attr a;
    char path[64];
    snprintf(path, sizeof(path), "d/%.*s", (int)len, name);
    /* would deadlock if the listing held the backend's lock */
    if (mpfs_backend_stat(r->b, path, &a) == 0) {
        r->stats_ok++;
    }
    mpfs_backend_remove(r->b, path);
    return 0;
}

static void test_list_callback_may_reenter(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);
    assert_int_equal(mpfs_backend_mkdir(b, "d", 0755), 0);
    assert_int_equal(put(b, "d/1", "1"), 0);
    assert_int_equal(put(b, "d/2", "2"), 0);
    struct reentry r = {.b = b};
    assert_int_equal(mpfs_backend_list(b, "d", reenter_cb, &r), 0);
    assert_int_equal(r.stats_ok, 2);
    assert_int_equal(mpfs_backend_rmdir(b, "d"), 0);
    mpfs_backend_free(b);
}

static void test_put_short_source(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);
    char tmpl[] = "/tmp/test-mem-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    unlink(tmpl);
    assert_int_equal(write(fd, "abc", 3), 3);
    /* the caller promised 10 bytes, the fd has 3: an error, nothing stored */
    assert_int_equal(mpfs_backend_put(b, "f", fd, 10, NULL, NULL), -EIO);
    assert_int_equal(stat_mode(b, "f"), 0);
    assert_int_equal(mpfs_backend_put(b, "f", fd, 3, NULL, NULL), 0);
    expect_str(b, "f", "abc");
    assert_int_equal(mpfs_backend_put(b, "g", -1, 3, NULL, NULL), -EBADF);
    close(fd);
    mpfs_backend_free(b);
}

/* Many threads on one store: data stays whole, nothing crashes (run under
 * the sanitizer builds, and TSan with -DMPFS_TSAN=ON). */
struct hammer {
    struct mpfs_backend *b;
    int id;
    int bad;
};

static int count_cb(void *arg, const char *name, size_t len, const struct mpfs_attr *attr, int full)
{
    return 0;
}

static void *hammer_worker(void *arg)
{
    struct hammer *h = arg;
    char path[32];
    char path2[32];
    char data[512];
    char back[600];
    for (int i = 0; i < 300; i++) {
        size_t len = 1 + (size_t)(i * 37 + h->id) % sizeof(data);
        memset(data, 'a' + h->id, len);
        snprintf(path, sizeof(path), "d%d/f%d", h->id % 2, h->id);
        snprintf(path2, sizeof(path2), "d%d/g%d", h->id % 2, h->id);
        if (mpfs_backend_put_buf(h->b, path, data, len, NULL, NULL) != 0) {
            h->bad++;
        }
        ssize_t n = mpfs_backend_read(h->b, path, NULL, back, sizeof(back), 0);
        if (n != (ssize_t)len || memcmp(back, data, len) != 0) {
            h->bad++;
        }
        mpfs_backend_list(h->b, "d0", count_cb, NULL);
        if (mpfs_backend_rename(h->b, path, path2, 0) != 0 ||
            mpfs_backend_remove(h->b, path2) != 0) {
            h->bad++;
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);
    assert_int_equal(mpfs_backend_mkdir(b, "d0", 0755), 0);
    assert_int_equal(mpfs_backend_mkdir(b, "d1", 0755), 0);
    struct hammer h[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        h[i] = (struct hammer){.b = b, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, hammer_worker, &h[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(h[i].bad, 0);
    }
    struct statvfs s;
    assert_int_equal(mpfs_backend_statfs(b, &s), 0);
    assert_int_equal(s.f_files - s.f_ffree, 2); /* only d0 and d1 remain */
    mpfs_backend_free(b);
}

struct order {
    int n;
    char last[32];
    int sorted;
};

static int order_cb(void *arg, const char *name, size_t len, const struct mpfs_attr *attr, int full)
{
    struct order *o = arg;
    char cur[32];
    snprintf(cur, sizeof(cur), "%.*s", (int)len, name);
    if (o->n > 0 && strcmp(o->last, cur) >= 0) {
        o->sorted = 0;
    }
    memcpy(o->last, cur, sizeof(cur));
    o->n++;
    return 0;
}

static void test_many_keys_sorted(void **state)
{
    /* enough keys for a tall skip list; a listing comes in byte order */
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_S3);
    for (int i = 0; i < 5000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "k/%05d", (i * 7919) % 5000);
        assert_int_equal(mpfs_mem_put_raw(b, key, "", 0), 0);
    }
    for (int i = 0; i < 5000; i += 997) {
        char key[32];
        snprintf(key, sizeof(key), "k/%05d", i);
        assert_true(S_ISREG(stat_mode(b, key)));
        assert_int_equal(mpfs_mem_remove_raw(b, key), 0);
        assert_int_equal(stat_mode(b, key), 0);
    }
    struct order o = {.sorted = 1};
    assert_int_equal(mpfs_backend_list(b, "k", order_cb, &o), 0);
    assert_int_equal(o.n, 5000 - 6);
    assert_true(o.sorted);
    mpfs_backend_free(b);
}

/* ---------------------------------------------- one dataset, two views */

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!strchr("0123456789abcdef", s[i])) {
            return 0;
        }
    }
    return s[n] == '\0';
}

static void test_dual_same_data_differing_tokens(void **state)
{
    struct mpfs_backend *nfs;
    struct mpfs_backend *s3 = mpfs_mem_dual_new(&nfs);
    struct mpfs_attr sa;
    struct mpfs_attr na;
    char buf[16];

    assert_int_equal(mpfs_mem_view_of(s3), MPFS_MEM_VIEW_S3);
    assert_int_equal(mpfs_mem_view_of(nfs), MPFS_MEM_VIEW_NFS);
    assert_int_equal(s3->caps, MPFS_MEM_CAPS_DUAL_S3);
    assert_int_equal(nfs->caps, MPFS_MEM_CAPS_DUAL_NFS);
    /* an S3 PUT makes its parents; NFS sees them as directories */
    assert_int_equal(put(s3, "d/e/f", "from s3"), 0);
    assert_int_equal(stat_mode(nfs, "d/e"), S_IFDIR | 0755);
    expect_str(nfs, "d/e/f", "from s3");
    assert_int_equal(mpfs_backend_stat(s3, "d/e/f", &sa), 0);
    assert_int_equal(mpfs_backend_stat(nfs, "d/e/f", &na), 0);
    /* an opaque ETag (16 hex digits: not an MD5), an NFS change token */
    assert_int_equal(strlen(sa.version), 16);
    assert_true(is_hex(sa.version, 16));
    char want[MPFS_VERSION_MAX];
    snprintf(want, sizeof(want), "m%lld.c%lld.s%llu", (long long)na.mtime_ns,
             (long long)na.ctime_ns, (unsigned long long)na.size);
    assert_string_equal(na.version, want);
    assert_int_equal(sa.fileid, na.fileid);

    /* a token of one side never pins the other */
    assert_int_equal(mpfs_backend_read(s3, "d/e/f", na.version, buf, sizeof(buf), 0), -ESTALE);
    assert_int_equal(mpfs_backend_read(nfs, "d/e/f", sa.version, buf, sizeof(buf), 0), -ESTALE);
    assert_int_equal(mpfs_backend_read(s3, "d/e/f", sa.version, buf, sizeof(buf), 0), 7);
    assert_int_equal(mpfs_backend_read(nfs, "d/e/f", na.version, buf, sizeof(buf), 0), 7);
    struct mpfs_put_opts o = {.if_match = na.version};
    assert_int_equal(mpfs_backend_put_buf(s3, "d/e/f", "x", 1, &o, NULL), -ESTALE);
    assert_int_equal(mpfs_backend_pwrite_if(nfs, "d/e/f", "x", 1, 0, sa.version, NULL), -ESTALE);
    expect_str(nfs, "d/e/f", "from s3");

    /* an NFS write moves both tokens; a pinned S3 reader sees -ESTALE */
    struct mpfs_attr na2;
    assert_int_equal(mpfs_backend_pwrite_if(nfs, "d/e/f", "F", 1, 0, na.version, &na2), 1);
    assert_string_not_equal(na2.version, na.version);
    assert_int_equal(mpfs_backend_read(s3, "d/e/f", sa.version, buf, sizeof(buf), 0), -ESTALE);
    struct mpfs_attr sa2;
    assert_int_equal(mpfs_backend_stat(s3, "d/e/f", &sa2), 0);
    assert_string_not_equal(sa2.version, sa.version);
    expect_str(s3, "d/e/f", "From s3");

    /* chmod through NFS: ctime, so the NFS token moves; the ETag does not */
    struct mpfs_attr in = {.mode = 0600};
    struct mpfs_attr na3;
    assert_int_equal(mpfs_backend_setattr(nfs, "d/e/f", &in, MPFS_SET_MODE, &na3), 0);
    assert_string_not_equal(na3.version, na2.version);
    assert_int_equal(mpfs_backend_stat(s3, "d/e/f", &sa), 0);
    assert_string_equal(sa.version, sa2.version);

    /* an S3 overwrite moves the NFS token; same file, same id */
    assert_int_equal(put(s3, "d/e/f", "v3"), 0);
    assert_int_equal(mpfs_backend_stat(nfs, "d/e/f", &na), 0);
    assert_string_not_equal(na.version, na3.version);
    assert_int_equal(na.fileid, sa2.fileid);
    assert_int_equal(na.size, 2);

    /* the S3 view removes files, its directories stay (a POSIX store) */
    assert_int_equal(mpfs_backend_remove(s3, "d/e/f"), 0);
    assert_int_equal(stat_mode(s3, "d/e") & S_IFMT, S_IFDIR);
    mpfs_backend_free(s3);
    /* the other view keeps the data alive */
    assert_int_equal(stat_mode(nfs, "d/e") & S_IFMT, S_IFDIR);
    mpfs_backend_free(nfs);
}

static int tree_collect(void *arg, const char *name, size_t len, const struct mpfs_attr *attr,
                        int full)
{
    return collect(arg, name, len, attr, full);
}

static void test_dual_listing_shapes(void **state)
{
    struct mpfs_backend *nfs;
    struct mpfs_backend *s3 = mpfs_mem_dual_new(&nfs);
    struct ents e;

    assert_int_equal(mpfs_backend_mkdir(nfs, "d", 0700), 0);
    assert_int_equal(put(nfs, "d/f", "abc"), 0);
    assert_int_equal(mpfs_backend_mkdir(nfs, "d/sub", 0755), 0);
    struct mpfs_attr in = {.mode = 0600};
    assert_int_equal(mpfs_backend_setattr(nfs, "d/f", &in, MPFS_SET_MODE, NULL), 0);
    /* NFS: READDIRPLUS, full attributes */
    list(nfs, "d", &e);
    assert_int_equal(e.n, 2);
    for (size_t i = 0; i < e.n; i++) {
        assert_true(e.v[i].full);
        assert_true(e.v[i].attr.version[0] == 'm');
    }
    assert_int_equal(count(&e, "f", S_IFREG), 1);
    /* S3: objects without metadata, prefixes with only their type */
    list(s3, "d", &e);
    assert_int_equal(e.n, 2);
    for (size_t i = 0; i < e.n; i++) {
        if (strcmp(e.v[i].name, "f") == 0) {
            assert_true(e.v[i].full);
            assert_int_equal(e.v[i].attr.mode, S_IFREG | 0644);
            assert_int_equal(strlen(e.v[i].attr.version), 16);
        } else {
            assert_string_equal(e.v[i].name, "sub");
            assert_false(e.v[i].full);
            assert_int_equal(e.v[i].attr.mode & S_IFMT, S_IFDIR);
        }
    }
    /* a flat walk on the S3 side only */
    memset(&e, 0, sizeof(e));
    assert_int_equal(mpfs_backend_list_tree(s3, "d", tree_collect, &e), 0);
    assert_int_equal(e.n, 2);
    assert_string_equal(e.v[0].name, "f");
    assert_string_equal(e.v[1].name, "sub/");
    assert_int_equal(mpfs_backend_list_tree(nfs, "d", tree_collect, &e), -EOPNOTSUPP);
    /* S3 has no pwrite or hard links; NFS has both */
    assert_int_equal(mpfs_backend_pwrite(s3, "d/f", "x", 1, 0), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_link(s3, "d/f", "d/g"), -EOPNOTSUPP);
    assert_int_equal(mpfs_backend_link(nfs, "d/f", "d/g"), 0);
    mpfs_backend_free(nfs);
    mpfs_backend_free(s3);
}

static void test_dual_remote_writer_handles(void **state)
{
    struct mpfs_backend *nfs;
    struct mpfs_backend *s3 = mpfs_mem_dual_new(&nfs);
    struct mpfs_backend *rs3 = mpfs_mem_view_new(nfs, MPFS_MEM_VIEW_S3);
    struct mpfs_backend *rnfs = mpfs_mem_view_new(s3, MPFS_MEM_VIEW_NFS);
    struct mpfs_mem_stats st;
    struct mpfs_attr a;
    struct mpfs_attr b;

    assert_non_null(rs3);
    assert_non_null(rnfs);
    assert_null(mpfs_mem_view_new(s3, MPFS_MEM_VIEW_PLAIN));
    struct mpfs_backend *plain = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);
    assert_null(mpfs_mem_view_new(plain, MPFS_MEM_VIEW_S3));
    mpfs_backend_free(plain);

    assert_int_equal(put(rs3, "f", "remote"), 0);
    assert_int_equal(mpfs_backend_stat(s3, "f", &a), 0);
    assert_int_equal(mpfs_backend_stat(rs3, "f", &b), 0);
    assert_string_equal(a.version, b.version); /* same protocol, same token */
    expect_str(nfs, "f", "remote");
    /* counters are per handle: the mount's handles saw only their calls */
    mpfs_mem_get_stats(s3, &st);
    assert_int_equal(st.puts, 0);
    assert_int_equal(st.stats, 1);
    mpfs_mem_get_stats(rs3, &st);
    assert_int_equal(st.puts, 1);
    /* raw helpers work on a view too (POSIX rules) */
    assert_int_equal(mpfs_mem_put_raw(rnfs, "g/h", "raw", 3), 0);
    expect_str(s3, "g/h", "raw");
    assert_int_equal(mpfs_mem_bump_version(s3, "g/h"), 0);
    mpfs_backend_free(s3);
    mpfs_backend_free(nfs);
    expect_str(rnfs, "f", "remote");
    mpfs_backend_free(rnfs);
    mpfs_backend_free(rs3);
}

static void test_pwrite_if_plain(void **state)
{
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_POSIX);
    struct mpfs_attr v;
    assert_int_equal(mpfs_backend_put_buf(b, "f", "abc", 3, NULL, &v), 0);
    assert_int_equal(mpfs_backend_pwrite_if(b, "f", "x", 1, 0, "", NULL), -EINVAL);
    assert_int_equal(mpfs_backend_pwrite_if(b, "f", "x", 1, 0, NULL, NULL), -EINVAL);
    /* expect may live in out: chained writes */
    assert_int_equal(mpfs_backend_pwrite_if(b, "f", "x", 1, 0, v.version, &v), 1);
    assert_int_equal(mpfs_backend_pwrite_if(b, "f", "y", 1, 1, v.version, &v), 1);
    expect_str(b, "f", "xyc");
    struct mpfs_backend *s3 = mpfs_mem_new(MPFS_MEM_CAPS_S3);
    assert_int_equal(mpfs_backend_put_buf(s3, "f", "abc", 3, NULL, &v), 0);
    assert_int_equal(mpfs_backend_pwrite_if(s3, "f", "x", 1, 0, v.version, NULL), -EOPNOTSUPP);
    mpfs_backend_free(s3);
    mpfs_backend_free(b);
}

/* A versioned bucket: the chain says whether a put replaced its base, and
 * an overwritten version can be copied back out. */
static void test_version_chain(void **state)
{
    (void)state;
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_S3 | MPFS_CAP_VERSION_CHAIN);
    struct mpfs_attr a1, a2, a3;
    char victim[64];
    assert_int_equal(mpfs_backend_put_buf(b, "k", "one", 3, NULL, &a1), 0);
    assert_int_equal(mpfs_backend_overwritten(b, "k", a1.version, "", victim, sizeof(victim)), 0);
    assert_int_equal(mpfs_backend_put_buf(b, "k", "two", 3, NULL, &a2), 0);
    assert_int_equal(mpfs_backend_overwritten(b, "k", a2.version, a1.version, victim,
                                              sizeof(victim)), 0);
    /* someone wrote between our base (a1) and our put (a3) */
    assert_int_equal(mpfs_backend_put_buf(b, "k", "three", 5, NULL, &a3), 0);
    assert_int_equal(mpfs_backend_overwritten(b, "k", a3.version, a1.version, victim,
                                              sizeof(victim)), 1);
    assert_int_equal(mpfs_backend_copy_version(b, "k", victim, "kept"), 0);
    char buf[16];
    assert_int_equal(mpfs_backend_read(b, "kept", NULL, buf, sizeof(buf), 0), 3);
    assert_memory_equal(buf, "two", 3);
    /* a delete in between leaves nothing to keep */
    assert_int_equal(mpfs_backend_remove(b, "k"), 0);
    assert_int_equal(mpfs_backend_put_buf(b, "k", "four", 4, NULL, &a1), 0);
    assert_int_equal(mpfs_backend_overwritten(b, "k", a1.version, a3.version, victim,
                                              sizeof(victim)), 1);
    assert_string_equal(victim, "");
    /* a version that is no longer in the chain */
    assert_int_equal(mpfs_backend_overwritten(b, "k", "v999", "", victim, sizeof(victim)),
                     -ENOENT);
    assert_int_equal(mpfs_backend_copy_version(b, "k", "id999", "x"), -ENOENT);
    mpfs_backend_free(b);
}

/* A store told to ignore preconditions acknowledges both racing writes. */
static void test_ignore_conditions(void **state)
{
    (void)state;
    struct mpfs_backend *b = mpfs_mem_new(MPFS_MEM_CAPS_S3 | MPFS_CAP_VERSION_CHAIN);
    struct mpfs_put_opts o = {.if_match = "v12345"};
    assert_int_equal(mpfs_backend_put_buf(b, "k", "x", 1, NULL, NULL), 0);
    assert_int_equal(mpfs_backend_put_buf(b, "k", "y", 1, &o, NULL), -ESTALE);
    mpfs_mem_ignore_conditions(b, 1);
    assert_int_equal(mpfs_backend_put_buf(b, "k", "y", 1, &o, NULL), 0);
    mpfs_backend_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_raw_keys),
        cmocka_unit_test(test_dual_same_data_differing_tokens),
        cmocka_unit_test(test_dual_listing_shapes),
        cmocka_unit_test(test_dual_remote_writer_handles),
        cmocka_unit_test(test_pwrite_if_plain),
        cmocka_unit_test(test_s3_file_and_dir_same_name),
        cmocka_unit_test(test_s3_listing_has_no_metadata),
        cmocka_unit_test(test_s3_implied_dir_setattr_writes_marker),
        cmocka_unit_test(test_s3_rename_implied_dir),
        cmocka_unit_test(test_s3_no_empty_dirs),
        cmocka_unit_test(test_posix_parents),
        cmocka_unit_test(test_posix_hardlinks),
        cmocka_unit_test(test_posix_dir_version_moves),
        cmocka_unit_test(test_posix_rename_rules),
        cmocka_unit_test(test_remove_raw),
        cmocka_unit_test(test_versions_and_bump),
        cmocka_unit_test(test_caps_off),
        cmocka_unit_test(test_pinned_and_conditional),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_xattrs),
        cmocka_unit_test(test_list_callback_may_reenter),
        cmocka_unit_test(test_put_short_source),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_many_keys_sorted),
        cmocka_unit_test(test_version_chain),
        cmocka_unit_test(test_ignore_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

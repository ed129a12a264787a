/*
 * test_nfs_attr.c - fattr3 -> struct mpfs_attr and the version token.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "backends/nfs/nfs_int.h"

static void test_version_token(void **state)
{
    char buf[MPFS_VERSION_MAX];
    mpfs_nfs_version_format(buf, sizeof(buf), 1100000000654321000ll,
                            1700000000000000001ll, 8);
    assert_string_equal(buf, "m1100000000654321000.c1700000000000000001.s8");
    mpfs_nfs_version_format(buf, sizeof(buf), 0, 0, 0);
    assert_string_equal(buf, "m0.c0.s0");
    /* pre-epoch times stay readable and distinct */
    mpfs_nfs_version_format(buf, sizeof(buf), -1, 5, UINT64_MAX);
    assert_string_equal(buf, "m-1.c5.s18446744073709551615");
    /* the longest token fits the field */
    mpfs_nfs_version_format(buf, sizeof(buf), INT64_MIN, INT64_MIN, UINT64_MAX);
    assert_true(strlen(buf) < MPFS_VERSION_MAX - 1);
    assert_string_equal(
        buf, "m-9223372036854775808.c-9223372036854775808.s18446744073709551615");
}

static void test_fill(void **state)
{
    struct mpfs_nfs_rawattr r = {
        .type = 1,
        .mode = 0100640,
        .uid = 1234,
        .gid = 5678,
        .nlink = 2,
        .size = 4096,
        .fileid = 5308866,
        .atime_ns = 1,
        .mtime_ns = 2000000003,
        .ctime_ns = 4000000005,
    };
    struct mpfs_attr a;
    memset(&a, 0xff, sizeof(a));
    mpfs_nfs_attr_fill(&r, &a);
    assert_int_equal(a.mode, S_IFREG | 0640);
    assert_int_equal(a.uid, 1234);
    assert_int_equal(a.gid, 5678);
    assert_int_equal(a.nlink, 2);
    assert_int_equal(a.size, 4096);
    assert_int_equal(a.fileid, 5308866);
    assert_int_equal(a.atime_ns, 1);
    assert_int_equal(a.mtime_ns, 2000000003);
    assert_int_equal(a.ctime_ns, 4000000005);
    assert_int_equal(a.valid, MPFS_ATTR_MODE | MPFS_ATTR_OWNER | MPFS_ATTR_MTIME);
    assert_string_equal(a.version, "m2000000003.c4000000005.s4096");
}

static void test_types(void **state)
{
    static const struct {
        uint32_t type, mode, want;
    } cases[] = {
        {2, 0755, S_IFDIR | 0755},
        {5, 0777, S_IFLNK | 0777},
        {3, 0600, S_IFBLK | 0600},
        {4, 0600, S_IFCHR | 0600},
        {6, 0600, S_IFSOCK | 0600},
        {7, 0600, S_IFIFO | 0600},
        /* the type wins over stray S_IFMT bits */
        {2, 0100755, S_IFDIR | 0755},
        /* no type (GETATTR via libnfs): the mode's own S_IFMT bits */
        {0, 040750, S_IFDIR | 0750},
        {0, 0120777, S_IFLNK | 0777},
        /* nothing known: a file, never an invented directory */
        {0, 0644, S_IFREG | 0644},
        {99, 0644, S_IFREG | 0644},
        /* setuid/setgid/sticky survive */
        {1, 04755, S_IFREG | 04755},
        {2, 01777, S_IFDIR | 01777},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mpfs_nfs_rawattr r = {.type = cases[i].type, .mode = cases[i].mode};
        struct mpfs_attr a;
        mpfs_nfs_attr_fill(&r, &a);
        if (a.mode != cases[i].want) {
            fail_msg("case %zu: type %u mode %o -> %o, want %o", i, cases[i].type,
                     cases[i].mode, a.mode, cases[i].want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_token),
        cmocka_unit_test(test_fill),
        cmocka_unit_test(test_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_nfs_url.c - NFS URL parsing and the export / base-path split.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backends/nfs/nfs_int.h"

static struct mpfs_nfs_url parse_ok(const char *url)
{
    struct mpfs_nfs_url u;
    char err[256] = "";
    int rc = mpfs_nfs_url_parse(url, &u, err, sizeof(err));
    if (rc != 0) {
        fail_msg("parse '%s' failed: %s", url, err);
    }
    return u;
}

static void parse_bad(const char *url, const char *want_in_err)
{
    struct mpfs_nfs_url u;
    char err[256] = "";
    assert_int_equal(mpfs_nfs_url_parse(url, &u, err, sizeof(err)), -EINVAL);
    if (!strstr(err, want_in_err)) {
        fail_msg("'%s': error '%s' does not mention '%s'", url, err, want_in_err);
    }
}

static void test_basic(void **state)
{
    struct mpfs_nfs_url u = parse_ok("nfs://127.0.0.1/testbucket");
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.path, "/testbucket");
    assert_int_equal(u.nfsport, 0);
    assert_int_equal(u.mountport, 0);
    assert_int_equal(u.version, -1);
    assert_int_equal(u.uid, -1);
    assert_int_equal(u.gid, -1);

    u = parse_ok("NFS://server.example/export/sub/dir/");
    assert_string_equal(u.host, "server.example");
    assert_string_equal(u.path, "/export/sub/dir");

    u = parse_ok("nfs://h");
    assert_string_equal(u.path, "/");
    u = parse_ok("nfs://h/");
    assert_string_equal(u.path, "/");
    u = parse_ok("nfs://h//a///b//");
    assert_string_equal(u.path, "/a/b");
}

static void test_ports_and_args(void **state)
{
    struct mpfs_nfs_url u = parse_ok("nfs://127.0.0.1:2049/x");
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.nfsport, 2049);
    assert_int_equal(u.mountport, 2049);

    u = parse_ok(
        "nfs://127.0.0.1/x?nfsport=2049&mountport=20048&version=3&uid=1000&gid=100");
    assert_int_equal(u.nfsport, 2049);
    assert_int_equal(u.mountport, 20048);
    assert_int_equal(u.version, 3);
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 100);
    assert_string_equal(u.path, "/x");

    /* the query overrides the authority's port */
    u = parse_ok("nfs://h:1000/x?mountport=20048");
    assert_int_equal(u.nfsport, 1000);
    assert_int_equal(u.mountport, 20048);

    u = parse_ok("nfs://[::1]:2049/e");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.nfsport, 2049);
    u = parse_ok("nfs://[fe80::1]/e?");
    assert_string_equal(u.host, "fe80::1");
    assert_int_equal(u.nfsport, 0);
}

static void test_percent(void **state)
{
    struct mpfs_nfs_url u = parse_ok("nfs://h/my%20export/a%2Bb");
    assert_string_equal(u.path, "/my export/a+b");
    parse_bad("nfs://h/a%2", "percent");
    parse_bad("nfs://h/a%zz", "percent");
    parse_bad("nfs://h/a%00b", "NUL");
}

static void test_bad(void **state)
{
    parse_bad("http://h/x", "nfs://");
    parse_bad("nfs:/h/x", "nfs://");
    parse_bad("nfs:///x", "no server");
    parse_bad("nfs://h:0/x", "bad port");
    parse_bad("nfs://h:65536/x", "bad port");
    parse_bad("nfs://h:abc/x", "bad port");
    parse_bad("nfs://h:/x", "bad port");
    parse_bad("nfs://user@h/x", "user");
    parse_bad("nfs://[::1/x", "unterminated");
    parse_bad("nfs://h/a/../b", "'..'");
    parse_bad("nfs://h/a/./b", "'.'");
    parse_bad("nfs://h/x?vers=3", "unknown NFS URL argument 'vers'");
    parse_bad("nfs://h/x?version", "no value");
    parse_bad("nfs://h/x?version=abc", "integer");
    parse_bad("nfs://h/x?nfsport=70000", "integer");
    parse_bad("nfs://h/x?uid=-1", "integer");
    struct mpfs_nfs_url u;
    assert_int_equal(mpfs_nfs_url_parse(NULL, &u, NULL, 0), -EINVAL);
}

static void test_export_match(void **state)
{
    const char *ex[] = {"/work/main/.stack/posix", "/testbucket", "/", "/test"};
    assert_int_equal(mpfs_nfs_export_match("/testbucket", ex, 4), 1);
    assert_int_equal(mpfs_nfs_export_match("/testbucket/sub/dir", ex, 4), 1);
    assert_int_equal(mpfs_nfs_export_match("/testbucketx", ex, 4), 2);
    assert_int_equal(mpfs_nfs_export_match("/test", ex, 4), 3);
    assert_int_equal(mpfs_nfs_export_match("/test/a", ex, 4), 3);
    assert_int_equal(mpfs_nfs_export_match("/work/main/.stack/posix/a", ex, 4), 0);
    assert_int_equal(mpfs_nfs_export_match("/work/main", ex, 4), 2);
    /* without "/" nothing else matches */
    assert_int_equal(mpfs_nfs_export_match("/nope", ex, 2), -1);
    /* servers may list a trailing slash */
    const char *ex2[] = {"/data/", "bogus", NULL};
    assert_int_equal(mpfs_nfs_export_match("/data/x", ex2, 3), 0);
    assert_int_equal(mpfs_nfs_export_match("/datax", ex2, 3), -1);
}

static void test_below_parent_full(void **state)
{
    assert_string_equal(mpfs_nfs_path_below("/a/b/c", "/a"), "b/c");
    assert_string_equal(mpfs_nfs_path_below("/a", "/a"), "");
    assert_string_equal(mpfs_nfs_path_below("/x/y", "/"), "x/y");
    assert_string_equal(mpfs_nfs_path_below("/data/x", "/data/"), "x");

    char p[64];
    strcpy(p, "/a/b/c");
    assert_int_equal(mpfs_nfs_path_parent(p), 0);
    assert_string_equal(p, "/a/b");
    assert_int_equal(mpfs_nfs_path_parent(p), 0);
    assert_string_equal(p, "/a");
    assert_int_equal(mpfs_nfs_path_parent(p), 0);
    assert_string_equal(p, "/");
    assert_int_equal(mpfs_nfs_path_parent(p), -ENOENT);

    char out[16];
    assert_int_equal(mpfs_nfs_path_full("", "", out, sizeof(out)), 0);
    assert_string_equal(out, "/");
    assert_int_equal(mpfs_nfs_path_full("sub", "", out, sizeof(out)), 0);
    assert_string_equal(out, "sub");
    assert_int_equal(mpfs_nfs_path_full("sub", "x/y", out, sizeof(out)), 0);
    assert_string_equal(out, "sub/x/y");
    assert_int_equal(mpfs_nfs_path_full("", "x", out, sizeof(out)), 0);
    assert_string_equal(out, "x");
    assert_int_equal(mpfs_nfs_path_full("0123456789", "abcde", out, sizeof(out)),
                     -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),        cmocka_unit_test(test_ports_and_args),
        cmocka_unit_test(test_percent),      cmocka_unit_test(test_bad),
        cmocka_unit_test(test_export_match), cmocka_unit_test(test_below_parent_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

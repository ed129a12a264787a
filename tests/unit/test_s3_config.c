/*
 * test_s3_config.c - where requests go and how objects are cut: endpoint
 * parsing (path-style and virtual-hosted, ports, base paths), dataset path
 * to key mapping with prefixes, and multipart part sizing past 5 GiB.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/s3/internal.h"

static void endpoint(const char *ep, int vh, const char *url, const char *host, const char *path,
                     const char *shown)
{
    struct mpfs_s3 s = {.bucket = "bkt"};
    char err[256];
    assert_int_equal(mpfs_s3_setup_endpoint(&s, ep, vh, err, sizeof(err)), 0);
    assert_string_equal(s.url_base, url);
    assert_string_equal(s.host_hdr, host);
    assert_string_equal(s.path_base, path);
    assert_string_equal(s.endpoint, shown);
    free(s.url_base);
    free(s.host_hdr);
    free(s.path_base);
    free(s.endpoint);
}

static void test_endpoints(void **state)
{
    endpoint("http://127.0.0.1:7480", 0, "http://127.0.0.1:7480", "127.0.0.1:7480", "/bkt",
             "http://127.0.0.1:7480");
    endpoint("http://127.0.0.1:7480/", 0, "http://127.0.0.1:7480", "127.0.0.1:7480", "/bkt",
             "http://127.0.0.1:7480");
    endpoint("https://s3.eu-west-1.amazonaws.com", 1, "https://bkt.s3.eu-west-1.amazonaws.com",
             "bkt.s3.eu-west-1.amazonaws.com", "", "https://s3.eu-west-1.amazonaws.com");
    endpoint("http://gw:8080/s3/", 0, "http://gw:8080", "gw:8080", "/s3/bkt", "http://gw:8080/s3");
    endpoint("http://gw:8080/s3", 1, "http://bkt.gw:8080", "bkt.gw:8080", "/s3",
             "http://gw:8080/s3");

    struct mpfs_s3 s = {.bucket = "bkt"};
    char err[256];
    const char *bad[] = {"127.0.0.1:7480", "ftp://x", "http://", "http:/x", "httpss://x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(mpfs_s3_setup_endpoint(&s, bad[i], 0, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, bad[i]));
    }
}

static void test_keys(void **state)
{
    struct mpfs_s3 s = {.prefix = ""};
    char key[16];
    assert_int_equal(mpfs_s3_key(&s, "a/b", 0, key, sizeof(key)), 0);
    assert_string_equal(key, "a/b");
    assert_int_equal(mpfs_s3_key(&s, "a/b", 1, key, sizeof(key)), 0);
    assert_string_equal(key, "a/b/");
    assert_int_equal(mpfs_s3_key(&s, "", 1, key, sizeof(key)), 0);
    assert_string_equal(key, ""); /* the bucket root lists with no prefix */
    s.prefix = "data/set1/";
    assert_int_equal(mpfs_s3_key(&s, "x", 0, key, sizeof(key)), 0);
    assert_string_equal(key, "data/set1/x");
    assert_int_equal(mpfs_s3_key(&s, "", 1, key, sizeof(key)), 0);
    assert_string_equal(key, "data/set1/");
    assert_int_equal(mpfs_s3_key(&s, "abcdef", 1, key, sizeof(key)), -ENAMETOOLONG);
}

static void test_part_sizes(void **state)
{
    const uint64_t MiB = 1ull << 20, GiB = 1ull << 30;
    assert_int_equal(mpfs_s3_part_size_for(16 * MiB, 40 * MiB), 16 * MiB);
    assert_int_equal(mpfs_s3_part_size_for(16 * MiB, 100 * GiB), 16 * MiB); /* 6400 parts */
    /* 200 GiB in 16 MiB parts would be 12800 parts: grown, MiB-aligned */
    uint64_t ps = mpfs_s3_part_size_for(16 * MiB, 200 * GiB);
    assert_true(ps > 16 * MiB);
    assert_int_equal(ps % MiB, 0);
    assert_true((200 * GiB + ps - 1) / ps <= 10000);
    /* the largest S3 object, 5 TiB: fits, parts under the 5 GiB part limit */
    uint64_t big = 5ull << 40;
    ps = mpfs_s3_part_size_for(5 * MiB, big);
    assert_true((big + ps - 1) / ps <= 10000);
    assert_true(ps <= 5 * GiB);
    /* 6 GiB (past the single-PUT limit) with the default part size */
    ps = mpfs_s3_part_size_for(16 * MiB, 6 * GiB);
    assert_int_equal(ps, 16 * MiB);
    assert_int_equal((6 * GiB + ps - 1) / ps, 384);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_part_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

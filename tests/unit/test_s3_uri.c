/*
 * test_s3_uri.c - key and query encoding: what is signed is what is sent,
 * for the keys S3 allows and POSIX names produce (spaces, '+', '%', UTF-8,
 * "//", dot segments).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backends/s3/uri.h"

static void enc(const char *in, int keep_slash, const char *want)
{
    char out[512];
    ssize_t n = mpfs_s3_uri_encode(in, strlen(in), keep_slash, out, sizeof(out));
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_string_equal(out, want);
}

static void test_key_encoding(void **state)
{
    enc("plain/key-1_2.3~x", 1, "plain/key-1_2.3~x");
    enc("with space", 1, "with%20space");
    enc("a+b", 1, "a%2Bb");
    enc("100%", 1, "100%25");
    enc("dir//file", 1, "dir//file");
    enc("a/./b/../c", 1, "a/./b/../c");
    enc("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac", 1, "caf%C3%A9/%E6%97%A5%E6%9C%AC");
    enc("q?x=1&y#z", 1, "q%3Fx%3D1%26y%23z");
    enc("a/b", 0, "a%2Fb");
    enc("", 1, "");
    /* raw bytes, including a NUL inside the given length */
    char out[16];
    assert_int_equal(mpfs_s3_uri_encode("a\0b", 3, 1, out, sizeof(out)), 5);
    assert_string_equal(out, "a%00b");
}

static void test_encoding_overflow(void **state)
{
    char out[6];
    assert_int_equal(mpfs_s3_uri_encode("abcde", 5, 1, out, sizeof(out)), 5);
    assert_int_equal(mpfs_s3_uri_encode("abcdef", 6, 1, out, sizeof(out)), -ENAMETOOLONG);
    assert_int_equal(mpfs_s3_uri_encode("ab c", 4, 1, out, sizeof(out)), -ENAMETOOLONG);
}

static void test_decode(void **state)
{
    char s[64];
    strcpy(s, "with%20space+plus%2Bsign%");
    size_t n = mpfs_s3_uri_decode(s, strlen(s), 1);
    assert_string_equal(s, "with space plus+sign%");
    assert_int_equal(n, strlen(s));
    strcpy(s, "a+b%2fc%zz");
    mpfs_s3_uri_decode(s, strlen(s), 0);
    assert_string_equal(s, "a+b/c%zz");
    strcpy(s, "caf%C3%A9");
    mpfs_s3_uri_decode(s, strlen(s), 1);
    assert_string_equal(s, "caf\xc3\xa9");
}

static void test_query_sorted_encoded(void **state)
{
    /* the radosgw-verified form: sorted, encoded, '=' on empty values */
    struct mpfs_s3_qparam qp[] = {
        {"prefix", "a/b/"},
        {"list-type", "2"},
        {"delimiter", "/"},
    };
    char q[256];
    assert_true(mpfs_s3_query_build(qp, 3, q, sizeof(q)) > 0);
    assert_string_equal(q, "delimiter=%2F&list-type=2&prefix=a%2Fb%2F");

    struct mpfs_s3_qparam up[] = {{"uploads", ""}};
    assert_int_equal(mpfs_s3_query_build(up, 1, q, sizeof(q)), 8);
    assert_string_equal(q, "uploads=");

    /* a continuation token RGW hands back raw (a key) is encoded */
    struct mpfs_s3_qparam ct[] = {{"list-type", "2"},
                                  {"continuation-token", "dir/a b+c%d\xc3\xa9"}};
    assert_true(mpfs_s3_query_build(ct, 2, q, sizeof(q)) > 0);
    assert_string_equal(q, "continuation-token=dir%2Fa%20b%2Bc%25d%C3%A9&list-type=2");

    struct mpfs_s3_qparam pn[] = {{"uploadId", "2~abc"}, {"partNumber", "10"}};
    assert_true(mpfs_s3_query_build(pn, 2, q, sizeof(q)) > 0);
    assert_string_equal(q, "partNumber=10&uploadId=2~abc");

    assert_int_equal(mpfs_s3_query_build(qp, 3, q, 12), -ENAMETOOLONG);
    assert_int_equal(mpfs_s3_query_build(qp, 0, q, sizeof(q)), 0);
    assert_string_equal(q, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_encoding),
        cmocka_unit_test(test_encoding_overflow),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_query_sorted_encoded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_s3_sigv4.c - the SigV4 signer against AWS's published examples:
 * the four worked S3 examples of the "Signature Calculations for the
 * Authorization Header" page (GET object with Range, PUT object, GET
 * ?lifecycle, GET ?max-keys=2&prefix=J; secret
 * wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, 20130524T000000Z) and the
 * get-vanilla / get-vanilla-query-order-key-case vectors of the
 * aws-sig-v4-test-suite (service "service", 20150830T123600Z).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>

#include "backends/s3/sigv4.h"
#include "backends/s3/uri.h"

#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_AK "AKIAIOSFODNN7EXAMPLE"
#define S3_DATE "20130524T000000Z"

static void sign(const struct mpfs_s3_sigv4 *r, const char *secret, char sig[65])
{
    unsigned char key[32];
    mpfs_s3_sigv4_key(secret, r->amz_date, r->region, r->service, key);
    assert_int_equal(mpfs_s3_sigv4_sign(r, key, NULL, sig), 0);
}

static void test_get_object_range(void **state)
{
    /* headers deliberately unsorted, with the example's stray spaces */
    struct mpfs_s3_sig_hdr h[] = {
        {"x-amz-date", S3_DATE},
        {"range", "bytes=0-9 "},
        {"host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-content-sha256", MPFS_S3_EMPTY_SHA256},
    };
    struct mpfs_s3_sigv4 r = {.method = "GET",
                              .uri = "/test.txt",
                              .query = "",
                              .hdrs = h,
                              .nhdrs = 4,
                              .payload_hash = MPFS_S3_EMPTY_SHA256,
                              .amz_date = S3_DATE,
                              .region = "us-east-1",
                              .service = "s3"};
    char canon[1024], sig[65], auth[512];

    assert_true(mpfs_s3_sigv4_canonical(&r, canon, sizeof(canon)) > 0);
    assert_string_equal(canon, "GET\n/test.txt\n\n"
                               "host:examplebucket.s3.amazonaws.com\n"
                               "range:bytes=0-9\n"
                               "x-amz-content-sha256:" MPFS_S3_EMPTY_SHA256 "\n"
                               "x-amz-date:20130524T000000Z\n\n"
                               "host;range;x-amz-content-sha256;x-amz-date\n" MPFS_S3_EMPTY_SHA256);
    sign(&r, S3_SECRET, sig);
    assert_string_equal(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

    unsigned char key[32];
    mpfs_s3_sigv4_key(S3_SECRET, S3_DATE, "us-east-1", "s3", key);
    assert_true(mpfs_s3_sigv4_authorization(&r, S3_AK, key, NULL, auth, sizeof(auth)) > 0);
    assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
                              "us-east-1/s3/aws4_request,SignedHeaders=host;range;"
                              "x-amz-content-sha256;x-amz-date,Signature="
                              "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void test_put_object(void **state)
{
    char uri[64], sha[65];
    const char *body = "Welcome to Amazon S3.";
    assert_int_equal(mpfs_s3_sha256_hex(body, strlen(body), NULL, sha), 0);
    assert_string_equal(sha, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    /* '$' must be percent-encoded in the canonical URI */
    assert_int_equal(mpfs_s3_uri_encode("/test$file.text", 15, 1, uri, sizeof(uri)), 17);
    assert_string_equal(uri, "/test%24file.text");
    struct mpfs_s3_sig_hdr h[] = {
        {"date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-date", S3_DATE},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"x-amz-content-sha256", sha},
    };
    struct mpfs_s3_sigv4 r = {.method = "PUT",
                              .uri = uri,
                              .query = "",
                              .hdrs = h,
                              .nhdrs = 5,
                              .payload_hash = sha,
                              .amz_date = S3_DATE,
                              .region = "us-east-1",
                              .service = "s3"};
    char sig[65];
    sign(&r, S3_SECRET, sig);
    assert_string_equal(sig, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

static void test_get_lifecycle(void **state)
{
    /* a value-less parameter is signed (and sent) as "lifecycle=" */
    struct mpfs_s3_qparam qp[] = {{"lifecycle", ""}};
    char query[64];
    assert_int_equal(mpfs_s3_query_build(qp, 1, query, sizeof(query)), 10);
    assert_string_equal(query, "lifecycle=");
    struct mpfs_s3_sig_hdr h[] = {
        {"host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-date", S3_DATE},
        {"x-amz-content-sha256", MPFS_S3_EMPTY_SHA256},
    };
    struct mpfs_s3_sigv4 r = {.method = "GET",
                              .uri = "/",
                              .query = query,
                              .hdrs = h,
                              .nhdrs = 3,
                              .payload_hash = MPFS_S3_EMPTY_SHA256,
                              .amz_date = S3_DATE,
                              .region = "us-east-1",
                              .service = "s3"};
    char sig[65];
    sign(&r, S3_SECRET, sig);
    assert_string_equal(sig, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

static void test_list_objects(void **state)
{
    /* given out of order: the builder sorts */
    struct mpfs_s3_qparam qp[] = {{"prefix", "J"}, {"max-keys", "2"}};
    char query[64];
    assert_true(mpfs_s3_query_build(qp, 2, query, sizeof(query)) > 0);
    assert_string_equal(query, "max-keys=2&prefix=J");
    struct mpfs_s3_sig_hdr h[] = {
        {"host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-date", S3_DATE},
        {"x-amz-content-sha256", MPFS_S3_EMPTY_SHA256},
    };
    struct mpfs_s3_sigv4 r = {.method = "GET",
                              .uri = "/",
                              .query = query,
                              .hdrs = h,
                              .nhdrs = 3,
                              .payload_hash = MPFS_S3_EMPTY_SHA256,
                              .amz_date = S3_DATE,
                              .region = "us-east-1",
                              .service = "s3"};
    char sig[65];
    sign(&r, S3_SECRET, sig);
    assert_string_equal(sig, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static void test_suite_vanilla(void **state)
{
    struct mpfs_s3_sig_hdr h[] = {
        {"host", "example.amazonaws.com"},
        {"x-amz-date", "20150830T123600Z"},
    };
    struct mpfs_s3_sigv4 r = {.method = "GET",
                              .uri = "/",
                              .query = "",
                              .hdrs = h,
                              .nhdrs = 2,
                              .payload_hash = MPFS_S3_EMPTY_SHA256,
                              .amz_date = "20150830T123600Z",
                              .region = "us-east-1",
                              .service = "service"};
    char sig[65];
    sign(&r, SUITE_SECRET, sig);
    assert_string_equal(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

static void test_suite_query_order_key_case(void **state)
{
    struct mpfs_s3_qparam qp[] = {{"Param2", "value2"}, {"Param1", "value1"}};
    char query[64];
    assert_true(mpfs_s3_query_build(qp, 2, query, sizeof(query)) > 0);
    assert_string_equal(query, "Param1=value1&Param2=value2");
    struct mpfs_s3_sig_hdr h[] = {
        {"host", "example.amazonaws.com"},
        {"x-amz-date", "20150830T123600Z"},
    };
    struct mpfs_s3_sigv4 r = {.method = "GET",
                              .uri = "/",
                              .query = query,
                              .hdrs = h,
                              .nhdrs = 2,
                              .payload_hash = MPFS_S3_EMPTY_SHA256,
                              .amz_date = "20150830T123600Z",
                              .region = "us-east-1",
                              .service = "service"};
    char sig[65];
    sign(&r, SUITE_SECRET, sig);
    assert_string_equal(sig, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

static void test_header_value_spaces(void **state)
{
    /* inner runs collapse, ends trim */
    struct mpfs_s3_sig_hdr h[] = {{"my-header1", "  value1   with  spaces  "}};
    struct mpfs_s3_sigv4 r = {.method = "GET",
                              .uri = "/",
                              .query = "",
                              .hdrs = h,
                              .nhdrs = 1,
                              .payload_hash = "UNSIGNED-PAYLOAD",
                              .amz_date = S3_DATE,
                              .region = "r",
                              .service = "s3"};
    char canon[256];
    assert_true(mpfs_s3_sigv4_canonical(&r, canon, sizeof(canon)) > 0);
    assert_string_equal(canon, "GET\n/\n\nmy-header1:value1 with spaces\n\nmy-header1\n"
                               "UNSIGNED-PAYLOAD");
    assert_int_equal(mpfs_s3_sigv4_canonical(&r, canon, 10), -ENAMETOOLONG);
}

static void test_reused_md_ctx(void **state)
{
    /* the pooled-context path gives the same answer, twice in a row */
    struct mpfs_s3_sig_hdr h[] = {
        {"host", "examplebucket.s3.amazonaws.com"},
        {"x-amz-date", S3_DATE},
        {"x-amz-content-sha256", MPFS_S3_EMPTY_SHA256},
    };
    struct mpfs_s3_sigv4 r = {.method = "GET",
                              .uri = "/",
                              .query = "max-keys=2&prefix=J",
                              .hdrs = h,
                              .nhdrs = 3,
                              .payload_hash = MPFS_S3_EMPTY_SHA256,
                              .amz_date = S3_DATE,
                              .region = "us-east-1",
                              .service = "s3"};
    unsigned char key[32];
    char sig[65];
    void *md = EVP_MD_CTX_new();
    mpfs_s3_sigv4_key(S3_SECRET, S3_DATE, "us-east-1", "s3", key);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mpfs_s3_sigv4_sign(&r, key, md, sig), 0);
        assert_string_equal(sig,
                            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    }
    EVP_MD_CTX_free(md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_object_range),
        cmocka_unit_test(test_put_object),
        cmocka_unit_test(test_get_lifecycle),
        cmocka_unit_test(test_list_objects),
        cmocka_unit_test(test_suite_vanilla),
        cmocka_unit_test(test_suite_query_order_key_case),
        cmocka_unit_test(test_header_value_spaces),
        cmocka_unit_test(test_reused_md_ctx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_s3_meta.c - s3fs metadata in and out, dates, xattr name and value
 * codecs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "backends/s3/meta.h"

static void test_s3fs_headers(void **state)
{
    struct mpfs_attr a = {0};
    mpfs_s3_meta_apply(&a, "mode", "33188"); /* S_IFREG|0644, as s3fs writes */
    assert_int_equal(a.mode, S_IFREG | 0644);
    mpfs_s3_meta_apply(&a, "Uid", "1000");
    mpfs_s3_meta_apply(&a, "gid", "100");
    mpfs_s3_meta_apply(&a, "mtime", "1700000000");
    assert_int_equal(a.uid, 1000);
    assert_int_equal(a.gid, 100);
    assert_int_equal(a.mtime_ns, 1700000000LL * 1000000000);
    assert_int_equal(a.valid, MPFS_ATTR_MODE | MPFS_ATTR_OWNER | MPFS_ATTR_MTIME);

    mpfs_s3_meta_apply(&a, "mtime", "1700000000.5");
    assert_int_equal(a.mtime_ns, 1700000000LL * 1000000000 + 500000000);
    mpfs_s3_meta_apply(&a, "mtime", "1700000000.123456789");
    assert_int_equal(a.mtime_ns, 1700000000123456789LL);
    mpfs_s3_meta_apply(&a, "ctime", "1600000000");
    assert_int_equal(a.ctime_ns, 1600000000LL * 1000000000);

    /* symlink and directory modes (type bits kept) */
    mpfs_s3_meta_apply(&a, "mode", "41471"); /* S_IFLNK|0777 */
    assert_true(S_ISLNK(a.mode));
    assert_int_equal(a.mode & 07777, 0777);
    mpfs_s3_meta_apply(&a, "mode", "16877"); /* S_IFDIR|0755 */
    assert_true(S_ISDIR(a.mode));

    /* rclone's octal with leading zero; bare permission bits keep the type */
    struct mpfs_attr r = {.mode = S_IFREG | 0600};
    mpfs_s3_meta_apply(&r, "mode", "0100664");
    assert_int_equal(r.mode, S_IFREG | 0664);
    mpfs_s3_meta_apply(&r, "mode", "420"); /* 0644 without type */
    assert_int_equal(r.mode, S_IFREG | 0644);

    /* garbage is ignored, not half-applied */
    struct mpfs_attr g = {0};
    mpfs_s3_meta_apply(&g, "mode", "abc");
    mpfs_s3_meta_apply(&g, "uid", "-1");
    mpfs_s3_meta_apply(&g, "gid", "12x");
    mpfs_s3_meta_apply(&g, "mtime", "soon");
    mpfs_s3_meta_apply(&g, "uid", "99999999999");
    mpfs_s3_meta_apply(&g, "other", "1");
    assert_int_equal(g.valid, 0);
    assert_int_equal(g.mode, 0);
}

static void test_collected_list(void **state)
{
    struct mpfs_s3_buf m = {0};
    mpfs_s3_meta_add(&m, "Mode", 4, "33261", 5);
    mpfs_s3_meta_add(&m, "uid", 3, "7", 1);
    mpfs_s3_meta_add(&m, ":content-type", 13, "text/plain", 10);
    mpfs_s3_meta_add(&m, "xattr", 5, "", 0);
    assert_string_equal(mpfs_s3_meta_find(&m, "mode"), "33261");
    assert_string_equal(mpfs_s3_meta_find(&m, ":content-type"), "text/plain");
    assert_string_equal(mpfs_s3_meta_find(&m, "xattr"), "");
    assert_null(mpfs_s3_meta_find(&m, "gid"));
    struct mpfs_attr a = {0};
    mpfs_s3_meta_apply_all(&a, &m);
    assert_int_equal(a.mode, S_IFREG | 0755);
    assert_int_equal(a.uid, 7);
    size_t pos = 0, n = 0;
    const char *k, *v;
    while (mpfs_s3_meta_next(&m, &pos, &k, &v)) {
        n++;
    }
    assert_int_equal(n, 4);
    mpfs_s3_buf_free(&m);
    pos = 0;
    assert_int_equal(mpfs_s3_meta_next(&m, &pos, &k, &v), 0);
}

static void test_format(void **state)
{
    struct mpfs_attr a = {.mode = 0640, .uid = 1, .gid = 2, .mtime_ns = 1700000000000000000LL};
    struct mpfs_s3_meta_hdrs h;
    mpfs_s3_meta_format(&a, MPFS_SET_MODE | MPFS_SET_UID | MPFS_SET_MTIME, &h);
    assert_string_equal(h.mode, "33184"); /* type S_IFREG added */
    assert_string_equal(h.uid, "1");
    assert_string_equal(h.gid, "");
    assert_string_equal(h.mtime, "1700000000");
    a.mtime_ns = 1700000000000000001LL;
    mpfs_s3_meta_format(&a, MPFS_SET_MTIME, &h);
    assert_string_equal(h.mtime, "1700000000.000000001");
    assert_string_equal(h.mode, "");
    /* and it parses back */
    struct mpfs_attr b = {0};
    mpfs_s3_meta_apply(&b, "mtime", h.mtime);
    assert_int_equal(b.mtime_ns, a.mtime_ns);
    a.mtime_ns = -1500000000LL; /* before the epoch */
    mpfs_s3_meta_format(&a, MPFS_SET_MTIME, &h);
    assert_string_equal(h.mtime, "-2.500000000");
}

static void test_dates(void **state)
{
    assert_int_equal(mpfs_s3_parse_http_date("Wed, 12 Oct 2009 17:50:00 GMT"),
                     1255369800LL * 1000000000);
    assert_int_equal(mpfs_s3_parse_http_date("Fri, 24 May 2013 00:00:00 GMT"),
                     1369353600LL * 1000000000);
    assert_int_equal(mpfs_s3_parse_http_date("garbage"), -1);
    assert_int_equal(mpfs_s3_parse_iso8601("2009-10-12T17:50:30.000Z"), 1255369830LL * 1000000000);
    assert_int_equal(mpfs_s3_parse_iso8601("2009-10-12T17:50:30.25Z"),
                     1255369830LL * 1000000000 + 250000000);
    assert_int_equal(mpfs_s3_parse_iso8601("2009-10-12T17:50:30Z"), 1255369830LL * 1000000000);
    assert_int_equal(mpfs_s3_parse_iso8601("yesterday"), -1);
    int64_t ns;
    assert_int_equal(mpfs_s3_parse_seconds(" 12 ", &ns), 0);
    assert_int_equal(ns, 12000000000LL);
    assert_int_equal(mpfs_s3_parse_seconds("1.5x", &ns), -EINVAL);
    assert_int_equal(mpfs_s3_parse_seconds("", &ns), -EINVAL);
}

static void test_xattr_document(void **state)
{
    /* what s3fs writes for user.foo=bar, user.empty="" */
    const char *s3fs = "%7B%22user.foo%22%3A%22YmFy%22%2C%22user.empty%22%3A%22%22%7D";
    struct mpfs_s3_xattrs x;
    assert_int_equal(mpfs_s3_xattrs_parse(s3fs, &x), 2);
    struct mpfs_s3_xattr *a = mpfs_s3_xattrs_find(&x, "user.foo");
    assert_non_null(a);
    assert_int_equal(a->len, 3);
    assert_memory_equal(a->value, "bar", 3);
    assert_int_equal(mpfs_s3_xattrs_find(&x, "user.empty")->len, 0);
    assert_null(mpfs_s3_xattrs_find(&x, "user.nope"));

    /* and we write the same bytes back */
    struct mpfs_s3_buf out = {0};
    mpfs_s3_xattrs_build(&x, &out);
    assert_string_equal(out.p, s3fs);

    /* binary values, awkward names, other namespaces kept */
    const char bin[] = {0, (char)0xff, ',', '"', '}', '\n'};
    mpfs_s3_xattrs_set(&x, "user.a,b:c\"d%e", bin, sizeof(bin));
    mpfs_s3_xattrs_set(&x, "security.selinux", "ctx", 3);
    mpfs_s3_xattrs_set(&x, "user.foo", "new", 3); /* replace */
    assert_int_equal(x.n, 4);
    mpfs_s3_xattrs_build(&x, &out);
    assert_null(strpbrk(out.p, "{}\",:")); /* header-safe */
    struct mpfs_s3_xattrs y;
    assert_int_equal(mpfs_s3_xattrs_parse(out.p, &y), 4);
    a = mpfs_s3_xattrs_find(&y, "user.a,b:c\"d%e");
    assert_non_null(a);
    assert_int_equal(a->len, sizeof(bin));
    assert_memory_equal(a->value, bin, sizeof(bin));
    assert_memory_equal(mpfs_s3_xattrs_find(&y, "user.foo")->value, "new", 3);
    assert_memory_equal(mpfs_s3_xattrs_find(&y, "security.selinux")->value, "ctx", 3);

    assert_int_equal(mpfs_s3_xattrs_remove(&y, "user.foo"), 0);
    assert_int_equal(mpfs_s3_xattrs_remove(&y, "user.foo"), -ENODATA);
    assert_int_equal(y.n, 3);
    mpfs_s3_xattrs_free(&y);
    mpfs_s3_xattrs_build(&y, &out);
    assert_string_equal(out.p, "");

    /* garbage and half-broken documents: skipped, never a crash */
    const char *bad[] = {NULL,        "",         "not json",        "%7B",           "{\"k\"}",
                         "{\"k\":v}", "{:\"v\"}", "{\"\":\"dg==\"}", "{\"k\":\"!!\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mpfs_s3_xattrs_parse(bad[i], &y), 0);
        mpfs_s3_xattrs_free(&y);
    }
    /* one bad pair does not spoil the good ones */
    assert_int_equal(mpfs_s3_xattrs_parse("{\"user.a\":\"YQ==\",junk,\"user.b\":\"Yg==\"}", &y), 2);
    mpfs_s3_xattrs_free(&y);
    mpfs_s3_xattrs_free(&x);
    mpfs_s3_buf_free(&out);
}

static void test_base64(void **state)
{
    /* base64 round trip over every length mod 3 and all byte values */
    unsigned char bin[256], dec[256];
    char b64[400];
    for (int i = 0; i < 256; i++) {
        bin[i] = (unsigned char)i;
    }
    for (size_t len = 0; len <= 256; len += (len < 8 ? 1 : 61)) {
        ssize_t el = mpfs_s3_b64_encode(bin, len, b64, sizeof(b64));
        assert_int_equal(el, (ssize_t)(4 * ((len + 2) / 3)));
        assert_int_equal(mpfs_s3_b64_decode(b64, dec, sizeof(dec)), (ssize_t)len);
        assert_memory_equal(dec, bin, len);
    }
    assert_int_equal(mpfs_s3_b64_encode("foobar", 6, b64, sizeof(b64)), 8);
    assert_string_equal(b64, "Zm9vYmFy");
    assert_int_equal(mpfs_s3_b64_encode("fo", 2, b64, sizeof(b64)), 4);
    assert_string_equal(b64, "Zm8=");
    assert_int_equal(mpfs_s3_b64_decode("Zm9v!", dec, sizeof(dec)), -EINVAL);
    assert_int_equal(mpfs_s3_b64_decode("Zm9vYmFy", dec, 3), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3fs_headers),   cmocka_unit_test(test_collected_list),
        cmocka_unit_test(test_format),         cmocka_unit_test(test_dates),
        cmocka_unit_test(test_xattr_document), cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

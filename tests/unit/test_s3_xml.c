/*
 * test_s3_xml.c - ListObjectsV2 pages (tokens, common prefixes, markers,
 * encoded keys, truncation without token), error documents, and the
 * multipart documents.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "backends/s3/xml.h"

struct seen {
    char objs[16][256];
    uint64_t sizes[16];
    int64_t mtimes[16];
    char etags[16][96];
    int nobj;
    char pfx[16][256];
    int npfx;
    int stop_after;
};

static int on_obj(void *arg, const char *key, size_t klen, uint64_t size, int64_t mt,
                  const char *etag)
{
    struct seen *s = arg;
    snprintf(s->objs[s->nobj], 256, "%.*s", (int)klen, key);
    s->sizes[s->nobj] = size;
    s->mtimes[s->nobj] = mt;
    snprintf(s->etags[s->nobj], 96, "%s", etag);
    s->nobj++;
    return s->stop_after && s->nobj == s->stop_after ? 42 : 0;
}

static int on_pfx(void *arg, const char *p, size_t plen)
{
    struct seen *s = arg;
    snprintf(s->pfx[s->npfx++], 256, "%.*s", (int)plen, p);
    return 0;
}

static const char page1[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>testbucket</Name><Prefix>a/</Prefix><KeyCount>4</KeyCount><MaxKeys>4</MaxKeys>"
    "<Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
    "<Contents><Key>a/</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>"
    "<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>a/file one+two%.txt</Key><LastModified>2024-01-02T03:04:06.500Z"
    "</LastModified><ETag>\"0123456789abcdef0123456789abcdef-3\"</ETag><Size>12345678901"
    "</Size></Contents>"
    "<Contents><Key>a/caf\xc3\xa9 &amp; &lt;x&gt;</Key><LastModified>2024-01-02T03:04:05Z"
    "</LastModified><ETag>\"e\"</ETag><Size>1</Size></Contents>"
    "<CommonPrefixes><Prefix>a/b/</Prefix></CommonPrefixes>"
    "<CommonPrefixes><Prefix>a//</Prefix></CommonPrefixes>"
    "<NextContinuationToken>a/file one+two%.txt</NextContinuationToken>"
    "</ListBucketResult>";

static void test_page_with_token(void **state)
{
    struct seen s = {0};
    struct mpfs_s3_list_page page;
    assert_int_equal(mpfs_s3_xml_parse_list(page1, strlen(page1), on_obj, on_pfx, &s, &page), 0);
    assert_true(page.is_truncated);
    /* RGW returns the token as a raw key: kept verbatim (encoded later) */
    assert_string_equal(page.next_token, "a/file one+two%.txt");
    assert_int_equal(s.nobj, 3);
    assert_string_equal(s.objs[0], "a/"); /* the marker: the caller skips it */
    assert_string_equal(s.objs[1], "a/file one+two%.txt");
    assert_int_equal(s.sizes[1], 12345678901ULL);
    assert_string_equal(s.etags[1], "0123456789abcdef0123456789abcdef-3");
    assert_string_equal(s.etags[0], "d41d8cd98f00b204e9800998ecf8427e");
    assert_int_equal(s.mtimes[1], 1704164646LL * 1000000000 + 500000000);
    assert_string_equal(s.objs[2], "a/caf\xc3\xa9 & <x>");
    assert_int_equal(s.npfx, 2);
    assert_string_equal(s.pfx[0], "a/b/");
    assert_string_equal(s.pfx[1], "a//");
    assert_int_equal(page.nkeys, 3);
    assert_int_equal(page.nprefixes, 2);
}

static void test_truncated_without_token(void **state)
{
    /* some servers say IsTruncated and give no token: the caller resumes
     * with start-after = the greatest key, a prefix past all its keys */
    const char doc[] = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                       "<Contents><Key>d/x1</Key><Size>1</Size></Contents>"
                       "<Contents><Key>d/x2</Key><Size>1</Size></Contents>"
                       "<CommonPrefixes><Prefix>d/y/</Prefix></CommonPrefixes>"
                       "</ListBucketResult>";
    struct seen s = {0};
    struct mpfs_s3_list_page page;
    assert_int_equal(mpfs_s3_xml_parse_list(doc, strlen(doc), on_obj, on_pfx, &s, &page), 0);
    assert_true(page.is_truncated);
    assert_string_equal(page.next_token, "");
    assert_string_equal(page.last_key, "d/y/\xf4\x8f\xbf\xbf");
    assert_true(strcmp(page.last_key, "d/y/zzzz") > 0);
    assert_true(strcmp(page.last_key, "d/z") < 0);

    const char doc2[] = "<ListBucketResult><IsTruncated>true</IsTruncated>"
                        "<CommonPrefixes><Prefix>d/a/</Prefix></CommonPrefixes>"
                        "<Contents><Key>d/b</Key><Size>1</Size></Contents>"
                        "</ListBucketResult>";
    assert_int_equal(mpfs_s3_xml_parse_list(doc2, strlen(doc2), NULL, NULL, NULL, &page), 0);
    assert_string_equal(page.last_key, "d/b");
}

static void test_url_encoded_keys(void **state)
{
    const char doc[] = "<ListBucketResult><EncodingType>url</EncodingType>"
                       "<IsTruncated>false</IsTruncated>"
                       "<Contents><Key>d/with+space%2Bplus%25pct%C3%A9</Key><Size>3</Size>"
                       "</Contents>"
                       "<CommonPrefixes><Prefix>d/sub+dir%2F</Prefix></CommonPrefixes>"
                       "</ListBucketResult>";
    struct seen s = {0};
    struct mpfs_s3_list_page page;
    assert_int_equal(mpfs_s3_xml_parse_list(doc, strlen(doc), on_obj, on_pfx, &s, &page), 0);
    assert_false(page.is_truncated);
    assert_string_equal(s.objs[0], "d/with space+plus%pct\xc3\xa9");
    assert_string_equal(s.pfx[0], "d/sub dir/");
}

static void test_callback_stops(void **state)
{
    struct seen s = {.stop_after = 2};
    struct mpfs_s3_list_page page;
    assert_int_equal(mpfs_s3_xml_parse_list(page1, strlen(page1), on_obj, on_pfx, &s, &page), 42);
    assert_int_equal(s.nobj, 2);
    assert_int_equal(s.npfx, 0);
}

static void test_malformed(void **state)
{
    struct mpfs_s3_list_page page;
    const char *bad[] = {"", "<ListBucketResult>", "not xml", "<Error><Code>x</Code></Error>"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(mpfs_s3_xml_parse_list(bad[i], strlen(bad[i]), NULL, NULL, NULL, &page),
                         -EIO);
    }
    /* an empty page */
    const char empty[] = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    assert_int_equal(mpfs_s3_xml_parse_list(empty, strlen(empty), NULL, NULL, NULL, &page), 0);
    assert_int_equal(page.nkeys + page.nprefixes, 0);
}

static void test_error_doc(void **state)
{
    const char doc[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code>"
        "<Message>The specified bucket does not exist</Message>"
        "<BucketName>x</BucketName><RequestId>tx1</RequestId></Error>";
    char code[64], msg[256];
    assert_int_equal(
        mpfs_s3_xml_parse_error(doc, strlen(doc), code, sizeof(code), msg, sizeof(msg)), 1);
    assert_string_equal(code, "NoSuchBucket");
    assert_string_equal(msg, "The specified bucket does not exist");
    assert_int_equal(mpfs_s3_xml_parse_error(page1, strlen(page1), code, sizeof(code), NULL, 0), 0);
    assert_int_equal(mpfs_s3_xml_parse_error("", 0, code, sizeof(code), NULL, 0), 0);
    assert_int_equal(mpfs_s3_xml_parse_error("<Error>", 7, code, sizeof(code), NULL, 0), 0);
}

static void test_multipart_docs(void **state)
{
    const char init[] = "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/"
                        "2006-03-01/\"><Bucket>b</Bucket><Key>k</Key>"
                        "<UploadId>2~abc.DEF_ghi</UploadId></InitiateMultipartUploadResult>";
    char id[64];
    assert_int_equal(mpfs_s3_xml_find_text(init, strlen(init), "UploadId", id, sizeof(id)), 13);
    assert_string_equal(id, "2~abc.DEF_ghi");
    assert_int_equal(mpfs_s3_xml_find_text(init, strlen(init), "ETag", id, sizeof(id)), -ENOENT);
    assert_int_equal(mpfs_s3_xml_find_text(init, strlen(init), "UploadId", id, 5), -ENAMETOOLONG);
    const char copy[] = "<CopyObjectResult><LastModified>2024-01-01T00:00:00Z</LastModified>"
                        "<ETag>&quot;abc&quot;</ETag></CopyObjectResult>";
    assert_int_equal(mpfs_s3_xml_find_text(copy, strlen(copy), "ETag", id, sizeof(id)), 5);
    assert_string_equal(id, "\"abc\"");

    char etags[3][MPFS_VERSION_MAX] = {"aa", "bb", "cc"};
    struct mpfs_s3_buf b = {0};
    mpfs_s3_xml_build_complete(&b, etags, 3);
    assert_non_null(strstr(b.p, "<Part><PartNumber>1</PartNumber><ETag>\"aa\"</ETag></Part>"
                                "<Part><PartNumber>2</PartNumber><ETag>\"bb\"</ETag></Part>"
                                "<Part><PartNumber>3</PartNumber><ETag>\"cc\"</ETag></Part>"
                                "</CompleteMultipartUpload>"));
    assert_int_equal(strncmp(b.p, "<CompleteMultipartUpload", 24), 0);
    mpfs_s3_buf_free(&b);
}

/* ListObjectVersions as radosgw 16.2 answers it (trimmed): versions of a
 * key newest first, a delete marker between them, then the next key. */
static const char versions_doc[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListVersionsResult "
    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>vtest</Name><Prefix>k</Prefix>"
    "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><KeyMarker></KeyMarker>"
    "<Version><Key>k</Key><VersionId>bUf.JwvLol9Oc0TdRmlKziXGdmitGfd</VersionId>"
    "<IsLatest>true</IsLatest><LastModified>2026-12-06T07:07:59.257Z</LastModified>"
    "<ETag>&quot;bfcc9da4f2e1d313c63cd0a4ee7604e9&quot;</ETag><Size>3</Size></Version>"
    "<DeleteMarker><Key>k</Key><VersionId>pVzeSixwBzkkhgy0OkGMPBZSnzKGBjl</VersionId>"
    "<IsLatest>false</IsLatest><LastModified>2026-12-06T07:07:59.130Z</LastModified>"
    "</DeleteMarker>"
    "<Version><Key>k</Key><VersionId>-9OehHWILzeh1dSb3Bxp49auGo92VtF</VersionId>"
    "<IsLatest>false</IsLatest><LastModified>2026-12-06T07:07:58.948Z</LastModified>"
    "<ETag>&quot;60b725f10c9c85c70d97880dfe8191b3&quot;</ETag><Size>2</Size></Version>"
    "<Version><Key>k2</Key><VersionId>k6JHNELqml5oisiqyVa8vWfBl6C-iBV</VersionId>"
    "<IsLatest>true</IsLatest><LastModified>2026-12-06T07:07:59.347Z</LastModified>"
    "<ETag>&quot;bfcc9da4f2e1d313c63cd0a4ee7604e9&quot;</ETag><Size>3</Size></Version>"
    "</ListVersionsResult>";

struct vlog {
    int n;
    char keys[8][8];
    struct mpfs_s3_version v[8];
};

static int collect_version(void *arg, const char *key, size_t klen,
                           const struct mpfs_s3_version *v)
{
    struct vlog *l = arg;
    assert_true(l->n < 8 && klen < 8);
    memcpy(l->keys[l->n], key, klen);
    l->keys[l->n][klen] = '\0';
    l->v[l->n++] = *v;
    return l->n == 3 && strcmp(key, "stop") == 0 ? 9 : 0;
}

static void test_versions_doc(void **state)
{
    struct vlog l = {0};
    int truncated = -1;
    assert_int_equal(mpfs_s3_xml_parse_versions(versions_doc, strlen(versions_doc),
                                                collect_version, &l, &truncated),
                     0);
    assert_int_equal(truncated, 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.keys[0], "k");
    assert_string_equal(l.v[0].version_id, "bUf.JwvLol9Oc0TdRmlKziXGdmitGfd");
    assert_string_equal(l.v[0].etag, "bfcc9da4f2e1d313c63cd0a4ee7604e9");
    assert_true(l.v[0].is_latest);
    assert_false(l.v[0].delete_marker);
    assert_int_equal(l.v[0].size, 3);
    assert_true(l.v[0].mtime_ns > 0);
    assert_true(l.v[1].delete_marker);
    assert_string_equal(l.v[1].etag, "");
    assert_false(l.v[1].is_latest);
    assert_string_equal(l.v[2].version_id, "-9OehHWILzeh1dSb3Bxp49auGo92VtF");
    assert_string_equal(l.keys[3], "k2");
    assert_int_equal(mpfs_s3_xml_parse_versions("<x/>", 4, collect_version, &l, NULL), -EIO);
    assert_int_equal(mpfs_s3_xml_parse_versions("<ListBucketResult/>", 19, collect_version, &l,
                                                NULL),
                     -EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_with_token),  cmocka_unit_test(test_truncated_without_token),
        cmocka_unit_test(test_url_encoded_keys), cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_malformed),        cmocka_unit_test(test_error_doc),
        cmocka_unit_test(test_multipart_docs),   cmocka_unit_test(test_versions_doc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

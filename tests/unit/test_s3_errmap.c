/*
 * test_s3_errmap.c - the HTTP status + S3 code + transport -> errno table,
 * and which outcomes are retried.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "backends/s3/errmap.h"

struct row {
    int curl_rc;
    int os_errno;
    long status;
    const char *code;
    int err;
    int retry;
};

static const struct row rows[] = {
    {CURLE_OK, 0, 200, NULL, 0, 0},
    {CURLE_OK, 0, 204, NULL, 0, 0},
    {CURLE_OK, 0, 206, NULL, 0, 0},
    /* credentials and permission */
    {CURLE_OK, 0, 403, "InvalidAccessKeyId", -EACCES, 0},
    {CURLE_OK, 0, 403, "SignatureDoesNotMatch", -EACCES, 0},
    {CURLE_OK, 0, 403, "AccessDenied", -EACCES, 0},
    {CURLE_OK, 0, 403, "RequestTimeTooSkewed", -EACCES, 0},
    {CURLE_OK, 0, 403, NULL, -EACCES, 0}, /* HEAD: no body, no code */
    {CURLE_OK, 0, 401, NULL, -EACCES, 0},
    /* missing things */
    {CURLE_OK, 0, 404, "NoSuchKey", -ENOENT, 0},
    {CURLE_OK, 0, 404, "NoSuchBucket", -ENOENT, 0},
    {CURLE_OK, 0, 404, "NoSuchUpload", -ENOENT, 0},
    {CURLE_OK, 0, 404, NULL, -ENOENT, 0},
    /* preconditions, conflicts, ranges */
    {CURLE_OK, 0, 412, "PreconditionFailed", -ESTALE, 0},
    {CURLE_OK, 0, 412, NULL, -ESTALE, 0},
    {CURLE_OK, 0, 409, "ConditionalRequestConflict", -ESTALE, 0},
    {CURLE_OK, 0, 409, "OperationAborted", -EBUSY, 0},
    {CURLE_OK, 0, 409, NULL, -EBUSY, 0},
    {CURLE_OK, 0, 416, "InvalidRange", -ERANGE, 0},
    /* limits */
    {CURLE_OK, 0, 400, "EntityTooLarge", -EFBIG, 0},
    {CURLE_OK, 0, 400, "KeyTooLongError", -ENAMETOOLONG, 0},
    {CURLE_OK, 0, 400, "MetadataTooLarge", -ENOSPC, 0},
    {CURLE_OK, 0, 403, "QuotaExceeded", -EDQUOT, 0},
    {CURLE_OK, 0, 400, "InvalidArgument", -EINVAL, 0},
    {CURLE_OK, 0, 501, "NotImplemented", -EOPNOTSUPP, 0},
    {CURLE_OK, 0, 405, "MethodNotAllowed", -EOPNOTSUPP, 0},
    /* retried: throttling, server errors, timeouts */
    {CURLE_OK, 0, 503, "SlowDown", -EAGAIN, 1},
    {CURLE_OK, 0, 503, NULL, -EAGAIN, 1},
    {CURLE_OK, 0, 500, "InternalError", -EIO, 1},
    {CURLE_OK, 0, 500, NULL, -EIO, 1},
    {CURLE_OK, 0, 502, NULL, -EIO, 1},
    {CURLE_OK, 0, 504, NULL, -ETIMEDOUT, 1},
    {CURLE_OK, 0, 429, NULL, -EAGAIN, 1},
    {CURLE_OK, 0, 408, NULL, -ETIMEDOUT, 1},
    {CURLE_OK, 0, 400, "RequestTimeout", -ETIMEDOUT, 1},
    /* never retried: other 4xx */
    {CURLE_OK, 0, 400, NULL, -EINVAL, 0},
    {CURLE_OK, 0, 411, NULL, -EINVAL, 0},
    /* transport */
    {CURLE_COULDNT_CONNECT, ECONNREFUSED, 0, NULL, -ECONNREFUSED, 1},
    {CURLE_COULDNT_CONNECT, EHOSTUNREACH, 0, NULL, -EHOSTUNREACH, 1},
    {CURLE_COULDNT_CONNECT, ENETUNREACH, 0, NULL, -EHOSTUNREACH, 1},
    {CURLE_COULDNT_RESOLVE_HOST, 0, 0, NULL, -EHOSTUNREACH, 1},
    {CURLE_OPERATION_TIMEDOUT, 0, 0, NULL, -ETIMEDOUT, 1},
    {CURLE_RECV_ERROR, ECONNRESET, 0, NULL, -ECONNRESET, 1},
    {CURLE_SEND_ERROR, EPIPE, 0, NULL, -ECONNRESET, 1},
    {CURLE_GOT_NOTHING, 0, 0, NULL, -ECONNRESET, 1},
    {CURLE_PARTIAL_FILE, 0, 200, NULL, -ECONNRESET, 1},
    {CURLE_PEER_FAILED_VERIFICATION, 0, 0, NULL, -EACCES, 0},
    {CURLE_URL_MALFORMAT, 0, 0, NULL, -EINVAL, 0},
};

static void test_table(void **state)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        int retry = -1;
        int err = mpfs_s3_map_error(r->curl_rc, r->os_errno, r->status, r->code, &retry);
        if (err != r->err || retry != r->retry) {
            fail_msg("row %zu (curl %d, HTTP %ld %s): got %d retry %d, want %d retry %d", i,
                     r->curl_rc, r->status, r->code ? r->code : "-", err, retry, r->err, r->retry);
        }
    }
    /* retry may be NULL */
    assert_int_equal(mpfs_s3_map_error(CURLE_OK, 0, 404, NULL, NULL), -ENOENT);
}

static void test_auth_codes(void **state)
{
    assert_true(mpfs_s3_code_is_auth("InvalidAccessKeyId"));
    assert_true(mpfs_s3_code_is_auth("SignatureDoesNotMatch"));
    assert_false(mpfs_s3_code_is_auth("AccessDenied"));
    assert_false(mpfs_s3_code_is_auth(""));
    assert_false(mpfs_s3_code_is_auth(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_auth_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

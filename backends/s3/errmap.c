/*
 * errmap.c - see errmap.h.
 */
#include "backends/s3/errmap.h"

#include <errno.h>
#include <string.h>

#include <curl/curl.h>

struct code_map {
    const char *code;
    int err;
    int retry;
};

/* S3 codes whose errno differs from what their status alone gives. */
static const struct code_map codes[] = {
    {"NoSuchKey", -ENOENT, 0},
    {"NoSuchBucket", -ENOENT, 0},
    {"NoSuchUpload", -ENOENT, 0},
    {"InvalidAccessKeyId", -EACCES, 0},
    {"SignatureDoesNotMatch", -EACCES, 0},
    {"AccessDenied", -EACCES, 0},
    {"ExpiredToken", -EACCES, 0},
    {"InvalidToken", -EACCES, 0},
    {"RequestTimeTooSkewed", -EACCES, 0},
    {"AllAccessDisabled", -EACCES, 0},
    {"QuotaExceeded", -EDQUOT, 0},
    {"PreconditionFailed", -ESTALE, 0},
    {"ConditionalRequestConflict", -ESTALE, 0},
    {"OperationAborted", -EBUSY, 0},
    {"KeyTooLongError", -ENAMETOOLONG, 0},
    {"MetadataTooLarge", -ENOSPC, 0},
    {"EntityTooLarge", -EFBIG, 0},
    {"EntityTooSmall", -EINVAL, 0},
    {"InvalidRange", -ERANGE, 0},
    {"InvalidPart", -EIO, 0},
    {"InvalidPartOrder", -EIO, 0},
    {"NotImplemented", -EOPNOTSUPP, 0},
    {"MethodNotAllowed", -EOPNOTSUPP, 0},
    {"RequestTimeout", -ETIMEDOUT, 1},
    {"SlowDown", -EAGAIN, 1},
    {"ServiceUnavailable", -EAGAIN, 1},
    {"InternalError", -EIO, 1},
};

int mpfs_s3_code_is_auth(const char *code)
{
    return code &&
           (strcmp(code, "InvalidAccessKeyId") == 0 || strcmp(code, "SignatureDoesNotMatch") == 0 ||
            strcmp(code, "ExpiredToken") == 0 || strcmp(code, "InvalidToken") == 0 ||
            strcmp(code, "RequestTimeTooSkewed") == 0);
}

static int map_transport(int curl_rc, int os_errno, int *retry)
{
    *retry = 0;
    switch (curl_rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        *retry = 1;
        return -EHOSTUNREACH;
    case CURLE_COULDNT_CONNECT:
        *retry = 1;
        if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH || os_errno == EHOSTDOWN ||
            os_errno == ENETDOWN) {
            return -EHOSTUNREACH;
        }
        if (os_errno == ETIMEDOUT) {
            return -ETIMEDOUT;
        }
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        *retry = 1;
        return -ETIMEDOUT;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        *retry = 1;
        return -ECONNRESET;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        return -EACCES;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return -EINVAL;
    default:
        return -EIO;
    }
}

int mpfs_s3_map_error(int curl_rc, int os_errno, long status, const char *code, int *retry)
{
    int dummy;
    if (!retry) {
        retry = &dummy;
    }
    if (curl_rc != CURLE_OK) {
        return map_transport(curl_rc, os_errno, retry);
    }
    *retry = 0;
    if (status >= 200 && status < 300) {
        return 0;
    }
    if (code && *code) {
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
            if (strcmp(codes[i].code, code) == 0) {
                *retry = codes[i].retry;
                return codes[i].err;
            }
        }
    }
    switch (status) {
    case 301:
    case 307:
    case 400:
        return -EINVAL; /* wrong region / endpoint, or a request we got wrong */
    case 304:
    case 412:
        return -ESTALE;
    case 401:
    case 403:
        return -EACCES;
    case 404:
        return -ENOENT;
    case 405:
    case 501:
        return -EOPNOTSUPP;
    case 408:
        *retry = 1;
        return -ETIMEDOUT;
    case 409:
        return -EBUSY;
    case 411:
        return -EINVAL;
    case 413:
        return -EFBIG;
    case 416:
        return -ERANGE;
    case 429:
        *retry = 1;
        return -EAGAIN;
    case 503:
        *retry = 1;
        return -EAGAIN;
    case 504:
        *retry = 1;
        return -ETIMEDOUT;
    case 507:
        return -ENOSPC;
    default:
        if (status >= 500) {
            *retry = 1;
            return -EIO;
        }
        return -EIO;
    }
}

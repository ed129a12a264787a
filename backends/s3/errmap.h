/*
 * errmap.h - the one place S3 failures become errno values.
 *
 * Inputs are everything a failed request can tell: the libcurl result
 * (transport), the socket errno curl saw, the HTTP status and the S3
 * <Code> from the error body (HEAD responses have none).  The output is
 * the -errno the backend contract (backend.h) documents plus whether a
 * retry may help.  Retried: transport resets and timeouts, 5xx, throttling
 * (429, 503 SlowDown), 408 and S3's 400 RequestTimeout (an idle upload
 * socket; every AWS SDK retries it).  Never retried: other 4xx.
 * Pure and thread-safe.
 */
#ifndef MPFS_BACKENDS_S3_ERRMAP_H
#define MPFS_BACKENDS_S3_ERRMAP_H

/* curl_rc is a CURLcode (0 = transfer completed, then status decides).
 * Returns 0 for 2xx, else -errno; *retry (may be NULL) says whether the
 * request is worth repeating. */
int mpfs_s3_map_error(int curl_rc, int os_errno, long status, const char *code, int *retry);

/* Is this S3 code a credentials problem (as opposed to a policy denial)?
 * Used to word the message. */
int mpfs_s3_code_is_auth(const char *code);

#endif

/*
 * s3.h - the S3 backend: a dataset kept as objects of one bucket (under an
 * optional key prefix), spoken to over HTTP with SigV4.
 *
 * Mapping (s3fs-compatible, so buckets written by s3fs, rclone or boto3
 * mount as expected):
 *   file "a/b"       object prefix+"a/b"
 *   directory "a"    implied by any key under prefix+"a/", or a marker
 *                    object prefix+"a/" (mkdir creates one)
 *   symlink          object with x-amz-meta-mode S_IFLNK, body = target
 *   mode/uid/gid/mtime   x-amz-meta-mode/-uid/-gid/-mtime (meta.h)
 *   user xattrs      x-amz-meta-xattr, s3fs format (meta.h)
 *   version token    the ETag without quotes
 *
 * Capabilities: SYMLINK, SETATTR (metadata rewrite by copy-to-self),
 * MULTIPART, PINNED_READ (If-Match on GET), USER_XATTR, RENAME_DIR +
 * RENAME_EMULATED + SERVER_COPY (copy+delete, not atomic), EMPTY_DIRS
 * (markers), and COND_PUT only when probed at open: the store must answer
 * 412 to a second If-None-Match: * PUT and to a wrong If-Match.  No
 * PWRITE, no TRUNCATE, no HARDLINK.
 *
 * Thread safety: every op may run from many threads; each request takes
 * its own pooled curl handle.
 */
#ifndef MPFS_BACKENDS_S3_S3_H
#define MPFS_BACKENDS_S3_S3_H

#include <stddef.h>

#include "backends/backend.h"

struct mpfs_s3_config {
    const char *endpoint; /* "http://127.0.0.1:7480"; NULL -> AWS_ENDPOINT_URL_S3,
                             AWS_ENDPOINT_URL env, else https://s3.<region>.amazonaws.com */
    const char *bucket;
    const char *prefix;           /* "" or "data/set1" (no leading/trailing slash) */
    const char *region;           /* NULL -> AWS_REGION / AWS_DEFAULT_REGION env, else us-east-1 */
    int virtual_hosted;           /* 0 path-style (default), 1 bucket.host */
    const char *profile;          /* credentials-file profile; NULL -> AWS_PROFILE or "default" */
    const char *credentials_file; /* NULL -> AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials */
    int connect_timeout_ms;       /* default 3000 */
    int request_timeout_ms;       /* default 30000: a stall limit for big transfers, a total
                                     cap for metadata requests */
    int max_retries;              /* default 4 */
    size_t part_size;             /* multipart part size, default 16 MiB; grown so parts <= 10000 */
    int parallel;                 /* parallel parts per multipart upload, default 4 */
    int no_probe; /* 1: write nothing at open (read-only mounts): COND_PUT then stays
                     off and put preconditions are checked with HEAD */
};

void mpfs_s3_config_defaults(struct mpfs_s3_config *c);

/* Connects (ListObjectsV2 max-keys=1 on the prefix: needs only list
 * permission), checks the credentials, and probes conditional PUT support
 * with a small probe object (skipped if the bucket is read-only).  On
 * failure returns -errno and writes a one-line human message into err,
 * e.g. "S3 bucket 'x' not found at http://...", "S3 credentials rejected
 * (InvalidAccessKeyId) by http://...", "cannot reach S3 endpoint
 * http://...: Connection refused". */
int mpfs_s3_open(const struct mpfs_s3_config *cfg, struct mpfs_backend **out, char *err,
                 size_t errlen);

#endif

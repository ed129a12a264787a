/*
 * internal.h - the S3 backend handle and the helpers its files share
 * (s3.c: open, probe, namespace ops; put.c: uploads; copy.c: server-side
 * copy, rename, metadata rewrites; http.c: requests).  Not for use outside
 * backends/s3/ (tests of this directory excepted).
 *
 * Locking: the handle is immutable after open except the atomics below
 * (clock skew, one-shot log flags, the probed capability bits set before
 * open returns) and the connection pool, which has its own mutex.
 */
#ifndef MPFS_BACKENDS_S3_INTERNAL_H
#define MPFS_BACKENDS_S3_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/s3/creds.h"
#include "backends/s3/http.h"
#include "backends/s3/s3.h"

/* S3 limits. */
#define MPFS_S3_KEY_MAX 4096 /* buffer size; keys are checked against the limit below */
#define MPFS_S3_KEY_LIMIT 1024 /* bytes of a key: AWS and radosgw (HTTP 400 beyond) */
#define MPFS_S3_MIN_PART (5ull << 20)
#define MPFS_S3_MAX_PART (5ull << 30)
#define MPFS_S3_MAX_PARTS 10000u
#define MPFS_S3_MAX_PUT (5ull << 30) /* single PUT / CopyObject limit */

struct mpfs_s3_pool;

struct mpfs_s3 {
    struct mpfs_backend base; /* first */

    /* Where requests go. */
    char *url_base;  /* "http://127.0.0.1:7480" or "http://bucket.host:port" */
    char *host_hdr;  /* Host header value, as signed */
    char *path_base; /* "/bucket" (path-style) or "" (virtual-hosted) */
    char *endpoint;  /* for messages: "http://127.0.0.1:7480" */
    char *bucket;
    char *prefix; /* "" or "data/set1/" (with the trailing slash) */
    char *region;

    struct mpfs_s3_creds creds;

    int connect_timeout_ms;
    int request_timeout_ms;
    int max_retries;
    int parallel;
    uint64_t part_size;
    uint64_t single_put_max; /* above this, multipart */
    uint64_t copy_max;       /* above this, UploadPartCopy (5 GiB; tests lower it) */

    struct mpfs_s3_pool *pool;
    int trace; /* MPFS_S3_TRACE: log header lines (credentials redacted) */

    _Atomic int64_t skew_ns;  /* server clock - ours, learnt from RequestTimeTooSkewed */
    atomic_int auth_logged;   /* the credentials-rejected line is logged once */
    atomic_int complete_cond; /* 1: CompleteMultipartUpload honours If-*-Match */
    /* If-Match on PUT wants the ETag quoted (RFC 7232, AWS) or bare
     * (radosgw 16.x compares the raw header with the bare ETag): probed. */
    int put_if_match_quoted;
};

static inline struct mpfs_s3 *mpfs_s3_of(struct mpfs_backend *b)
{
    return (struct mpfs_s3 *)b;
}

/* A set of request headers whose strings live in one arena (offsets, so
 * the arena may grow); mpfs_s3_hdrs_apply() resolves them into a request.
 * Used for metadata headers that outlive one request (multipart Create,
 * copy REPLACE). */
struct mpfs_s3_hdrset {
    struct mpfs_s3_buf arena;
    size_t off[MPFS_S3_MAX_HDRS][2];
    size_t n;
};
/* Add "<prefix><name>: value" (name lower-cased).  -E2BIG when full. */
int mpfs_s3_hdrs_add(struct mpfs_s3_hdrset *h, const char *prefix, const char *name,
                     const char *value);
/* Add the collected metadata list (see meta.h) except the names for which
 * skip(name, arg) is true: x-amz-meta-* and the standard headers. */
int mpfs_s3_hdrs_add_meta(struct mpfs_s3_hdrset *h, const struct mpfs_s3_buf *meta,
                          int (*skip)(const char *name, void *arg), void *arg);
/* Add x-amz-meta-mode/uid/gid/mtime/atime for the fields named by set. */
int mpfs_s3_hdrs_add_attr(struct mpfs_s3_hdrset *h, const struct mpfs_attr *a, uint32_t set);
/* Find a header's value by name, or NULL. */
const char *mpfs_s3_hdrs_get(const struct mpfs_s3_hdrset *h, const char *name);
/* Append the set's headers to rq (pointers into the arena: the set must
 * outlive the request).  -E2BIG if rq is full. */
int mpfs_s3_hdrs_apply(const struct mpfs_s3_hdrset *h, struct mpfs_s3_req *rq);
void mpfs_s3_hdrs_fini(struct mpfs_s3_hdrset *h);

/* Split "scheme://host[:port][/path]" into url_base, host_hdr, path_base
 * and endpoint of s (s->bucket must be set).  -EINVAL with a message. */
int mpfs_s3_setup_endpoint(struct mpfs_s3 *s, const char *ep, int virtual_hosted, char *err,
                           size_t errlen);

/* Object key of a dataset path: prefix + path (+ "/" if dir).  The root
 * with dir=1 gives the prefix itself.  0 or -ENAMETOOLONG. */
int mpfs_s3_key(const struct mpfs_s3 *s, const char *path, int dir, char *out, size_t outlen);

/* HEAD an object key; fills attr from its headers (type from the s3fs mode,
 * else S_IFREG, or S_IFDIR when the key ends in '/').  meta (may be NULL)
 * receives the collected metadata list for rewrites. */
int mpfs_s3_head(struct mpfs_s3 *s, const char *key, struct mpfs_attr *attr,
                 struct mpfs_s3_buf *meta);

/* What is under "key/" (a directory prefix): *any set if some key is
 * there, *marker if the first key is the marker "key/" itself and
 * *other if another key is there too.  Lists at most 2 keys. */
int mpfs_s3_probe_dir(struct mpfs_s3 *s, const char *dirkey, int *any, int *marker, int *other);

/* The If-Match header value for a conditional PUT of version etag, in the
 * form the store was probed to understand. */
void mpfs_s3_put_if_match(const struct mpfs_s3 *s, const char *etag, char *out, size_t outlen);

/* DELETE a key (no existence check). */
int mpfs_s3_delete_key(struct mpfs_s3 *s, const char *key);

/* Parallel multipart machinery shared by put (parts from an fd) and copy
 * (UploadPartCopy).  See put.c. */
struct mpfs_s3_mp_src {
    int fd;              /* >= 0: upload bytes from this fd */
    const char *src_key; /* else: copy from this key (UploadPartCopy) */
    const char *src_etag;
};
/* Part size for an object of size bytes: the configured one, grown in
 * MiB steps until the object fits in 10000 parts (so objects past 5 GiB,
 * up to S3's 5 TiB, work). */
uint64_t mpfs_s3_part_size_for(uint64_t configured, uint64_t size);
/* Create, upload all parts in parallel, complete; abort on any failure.
 * hdrs/nhdrs: metadata headers for CreateMultipartUpload.  cond: 0, or
 * the If-Match etag / "*" for If-None-Match to send on Complete.  Fills
 * etag_out (without quotes).  progress: NULL, or the state to resume from
 * and to keep up to date (backend.h; cleared when the upload is aborted). */
int mpfs_s3_multipart(struct mpfs_s3 *s, const char *key, uint64_t size,
                      const struct mpfs_s3_mp_src *src, const struct mpfs_s3_hdrset *hdrs,
                      const char *if_match, int if_none_match,
                      struct mpfs_put_progress *progress, char *etag_out, size_t etag_len);

/* Does CompleteMultipartUpload honour If-None-Match: * on existing_key
 * (a key that exists)?  Uploads one 1-byte part and aborts; 1 or 0. */
int mpfs_s3_probe_complete_cond(struct mpfs_s3 *s, const char *existing_key);

/* Server-side copy src_key -> dst_key of an object of size bytes whose
 * ETag is src_etag (copied only if it still is: -ESTALE otherwise).
 * replace: x-amz-metadata-directive REPLACE with the headers of hdrs;
 * else the metadata is copied by the server.  Above copy_max the copy
 * goes through UploadPartCopy, which has no COPY directive: hdrs must
 * then hold the full metadata either way (callers pass the source's). */
int mpfs_s3_copy(struct mpfs_s3 *s, const char *src_key, const char *dst_key, uint64_t size,
                 const char *src_etag, const struct mpfs_s3_hdrset *hdrs, int replace,
                 char *etag_out, size_t etag_len);

/* ops implemented in put.c / copy.c, wired into the table in s3.c */
/* versions.c: the version chain of a versioned bucket */
int mpfs_s3_op_overwritten(struct mpfs_backend *b, const char *path, const char *ours,
                           const char *base, char *victim, size_t victim_len);
int mpfs_s3_op_copy_version(struct mpfs_backend *b, const char *path, const char *version_id,
                            const char *to);
/* 1 if the bucket's versioning is Enabled (GetBucketVersioning). */
int mpfs_s3_probe_versioning(struct mpfs_s3 *s);

int mpfs_s3_op_put(struct mpfs_backend *b, const char *path, int fd, uint64_t size,
                   const struct mpfs_put_opts *opts, struct mpfs_attr *out);
int mpfs_s3_op_rename(struct mpfs_backend *b, const char *from, const char *to, unsigned flags);
int mpfs_s3_op_setattr(struct mpfs_backend *b, const char *path, const struct mpfs_attr *attr,
                       uint32_t to_set, struct mpfs_attr *out);
ssize_t mpfs_s3_op_getxattr(struct mpfs_backend *b, const char *path, const char *name, void *buf,
                            size_t size);
int mpfs_s3_op_setxattr(struct mpfs_backend *b, const char *path, const char *name,
                        const void *value, size_t size);
ssize_t mpfs_s3_op_listxattr(struct mpfs_backend *b, const char *path, char *buf, size_t size);
int mpfs_s3_op_removexattr(struct mpfs_backend *b, const char *path, const char *name);

/* Test hook: lower the CopyObject limit so UploadPartCopy runs on small
 * objects. */
void mpfs_s3_set_copy_max(struct mpfs_backend *b, uint64_t bytes);

#endif

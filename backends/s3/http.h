/*
 * http.h - one signed S3 request over a pooled libcurl handle, with retries.
 *
 * A pool of easy handles (struct mpfs_s3_pool) gives each concurrent
 * request its own handle and keeps their keep-alive connections warm:
 * checkout pops an idle handle (or makes one), return pushes it back; one
 * mutex guards the free list only, never a transfer.  Each pooled handle
 * also owns the buffers a request needs (URL, header arena, curl_slist
 * nodes, a digest context, the day's signing key), so the steady state of
 * the read path allocates nothing of its own.
 *
 * mpfs_s3_http_do() signs (SigV4, own signer), performs, maps the outcome
 * to errno in errmap.c, and retries what errmap calls retryable with
 * exponential backoff and full jitter (100 ms base, 5 s cap, max_retries).
 * A 403 RequestTimeTooSkewed is retried once with the clock offset taken
 * from the server's Date header.  Bodies come from memory or from an fd
 * (pread, restartable on retry); responses go to a caller buffer (ranged
 * GET straight into the reader's memory), a growable buffer (XML), or
 * nowhere (HEAD).  Error bodies never land in a caller buffer.
 *
 * Secrets: the Authorization header and the security token never reach a
 * log line; debug logs show method, URL, status and time.
 */
#ifndef MPFS_BACKENDS_S3_HTTP_H
#define MPFS_BACKENDS_S3_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/s3/buf.h"

struct mpfs_s3;

#define MPFS_S3_MAX_HDRS 120

/* A request header; name lower-case.  Signed unless unsigned_ is set. */
struct mpfs_s3_hdr {
    const char *name;
    const char *value;
};

struct mpfs_s3_req {
    const char *method; /* GET HEAD PUT POST DELETE */
    const char *key;    /* object key (prefix applied); NULL: the bucket */
    int service_root;   /* with key NULL: the endpoint's "/", not the bucket
                           (radosgw's topic API; path-style addressing only) */
    const char *query;  /* canonical query string (uri.h) or NULL */
    struct mpfs_s3_hdr hdrs[MPFS_S3_MAX_HDRS];
    size_t nhdrs;

    /* Request body: memory, or bytes [body_off, body_off+body_size) of
     * body_fd.  Neither: empty. */
    const void *body;
    size_t body_len;
    int body_fd;
    uint64_t body_off, body_size;

    /* Response body sinks (2xx only; error bodies go to the response's
     * own buffer).  dst: up to dst_cap bytes; a 200 answer to a ranged
     * request (server ignored Range) skips dst_skip bytes first.  xml:
     * the whole body. */
    void *dst;
    size_t dst_cap;
    uint64_t dst_skip;
    struct mpfs_s3_buf *xml;

    int want_meta; /* collect x-amz-meta-* and standard headers */
    int bulk;      /* large transfer: low-speed limit, not a total timeout */
    int no_retry;  /* fail on the first error (probes) */
    /* An attempt that connected and then timed out waiting for the answer
     * ends the request: the mount-time check, so an endpoint that accepts
     * connections and never answers fails the mount within connect_timeout
     * + one request_timeout instead of (retries + 1) times that. */
    int hang_is_final;
    int quiet;     /* expected failures: do not log them */
};

struct mpfs_s3_resp {
    long status; /* HTTP status of the last attempt, 0 if none */
    int err;     /* 0 or -errno (errmap.c) */
    int curl_rc;
    int attempts;
    int local;     /* the failure is ours (the upload source), not the store's */
    int hung;      /* the last attempt was sent, then timed out with no answer */
    char code[64]; /* S3 <Code>, "" if none */
    char message[256];
    char detail[256];            /* transport error text (curl's), "" if none */
    char etag[MPFS_VERSION_MAX]; /* without quotes */
    int64_t last_modified_ns;    /* -1 if absent */
    uint64_t content_length;
    int has_length;
    uint64_t total_size; /* from Content-Range "bytes a-b/total" */
    int has_total;
    char date[64];           /* Date header */
    char bucket_region[64];  /* x-amz-bucket-region */
    size_t nread;            /* bytes stored into dst */
    struct mpfs_s3_buf meta; /* when want_meta (meta.h format) */
    struct mpfs_s3_buf errbody;
};

void mpfs_s3_req_init(struct mpfs_s3_req *rq, const char *method, const char *key);
/* Add a header; pointers are borrowed until the request is done.
 * Returns -E2BIG when the table is full. */
int mpfs_s3_req_hdr(struct mpfs_s3_req *rq, const char *name, const char *value);

void mpfs_s3_resp_init(struct mpfs_s3_resp *rs);
void mpfs_s3_resp_fini(struct mpfs_s3_resp *rs);

/* Perform rq with retries; returns rs->err.  rs must be initialised; it
 * is reset per attempt. */
int mpfs_s3_http_do(struct mpfs_s3 *s, struct mpfs_s3_req *rq, struct mpfs_s3_resp *rs);

/* Pool lifetime (curl_global_init is done once by mpfs_s3_http_global()). */
int mpfs_s3_http_global(void);
struct mpfs_s3_pool *mpfs_s3_pool_new(void);
void mpfs_s3_pool_free(struct mpfs_s3_pool *p);

/* A one-line description of a failed response for messages:
 * "403 InvalidAccessKeyId: The AWS Access Key Id you provided does not
 * exist" or "Connection refused". */
void mpfs_s3_resp_describe(const struct mpfs_s3_resp *rs, char *out, size_t outlen);

#endif

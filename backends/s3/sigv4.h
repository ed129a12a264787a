/*
 * sigv4.h - AWS Signature Version 4 over libcrypto.
 *
 * An own signer rather than CURLOPT_AWS_SIGV4: curl 7.88's signer mangles
 * query strings (order, value-less parameters) in ways radosgw rejects, and
 * an own one is testable against AWS's published examples (see
 * tests/unit/test_s3_sigv4.c).  The canonical request is streamed into
 * SHA-256, never materialised, so signing needs no allocation when the
 * caller passes a reusable digest context (the HTTP layer keeps one per
 * pooled connection).
 *
 *   canonical request = METHOD \n URI \n QUERY \n (name:value\n)* \n
 *                       signed;header;names \n payload-hash
 *   string to sign    = AWS4-HMAC-SHA256 \n date \n scope \n hex(sha256(CR))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, yyyymmdd),
 *                       region), service), "aws4_request")
 *
 * Thread-safe as long as each thread passes its own md context (or NULL).
 */
#ifndef MPFS_BACKENDS_S3_SIGV4_H
#define MPFS_BACKENDS_S3_SIGV4_H

#include <stddef.h>
#include <sys/types.h>

#define MPFS_S3_SHA256_HEX_LEN 64
/* sha256("") - the payload hash of a request without body */
#define MPFS_S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MPFS_S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* A header to sign: name lower-case; the value is trimmed and inner runs
 * of spaces collapsed by the signer, as SigV4 requires. */
struct mpfs_s3_sig_hdr {
    const char *name;
    const char *value;
};

struct mpfs_s3_sigv4 {
    const char *method;
    const char *uri;                    /* canonical URI, already percent-encoded */
    const char *query;                  /* canonical query string (sorted, encoded) or "" */
    const struct mpfs_s3_sig_hdr *hdrs; /* any order; at most 128 */
    size_t nhdrs;
    const char *payload_hash; /* hex sha256 or "UNSIGNED-PAYLOAD" */
    const char *amz_date;     /* "20130524T000000Z" */
    const char *region;
    const char *service; /* "s3" */
};

/* Derive the signing key for the date part (first 8 chars) of amz_date.
 * It changes once a day, so callers cache it. */
void mpfs_s3_sigv4_key(const char *secret, const char *amz_date, const char *region,
                       const char *service, unsigned char key[32]);

/* The hex signature (65 bytes with NUL).  md is an EVP_MD_CTX * to reuse,
 * or NULL to use a temporary one.  -EINVAL on too many headers, -ENOMEM
 * if libcrypto fails. */
int mpfs_s3_sigv4_sign(const struct mpfs_s3_sigv4 *r, const unsigned char key[32], void *md,
                       char sig[MPFS_S3_SHA256_HEX_LEN + 1]);

/* The complete Authorization header value:
 * "AWS4-HMAC-SHA256 Credential=AK/date/region/s3/aws4_request,
 *  SignedHeaders=a;b,Signature=hex".  Returns its length or -errno. */
ssize_t mpfs_s3_sigv4_authorization(const struct mpfs_s3_sigv4 *r, const char *access_key,
                                    const unsigned char key[32], void *md, char *out,
                                    size_t outlen);

/* For tests and debugging: the canonical request as text into out.
 * Returns its length or -ENAMETOOLONG. */
ssize_t mpfs_s3_sigv4_canonical(const struct mpfs_s3_sigv4 *r, char *out, size_t outlen);

/* hex(sha256(data)) into hex[65]; md as above. */
int mpfs_s3_sha256_hex(const void *data, size_t len, void *md,
                       char hex[MPFS_S3_SHA256_HEX_LEN + 1]);

#endif

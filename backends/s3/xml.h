/*
 * xml.h - the S3 XML documents the backend reads and writes.
 *
 * Reading uses libxml2's DOM parser on one response at a time (a listing
 * page is at most 1000 entries, ~300 KiB): simple, and elements are
 * matched by local name so namespaced and un-namespaced documents (RGW,
 * moto, AWS) all parse.  Entity handling is off (XML_PARSE_NONET, no
 * DTD loading).  Pure functions over a buffer: thread-safe.
 */
#ifndef MPFS_BACKENDS_S3_XML_H
#define MPFS_BACKENDS_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/s3/buf.h"

/* One ListObjectsV2 page.  Keys arrive decoded (EncodingType=url handled
 * here).  Callbacks return non-zero to stop; that value is returned. */
struct mpfs_s3_list_page {
    int is_truncated;
    char next_token[2048]; /* NextContinuationToken, "" if none */
    int token_too_long;    /* the token did not fit: use start_after */
    /* Byte-wise greatest key this page covers: the last Contents key, or
     * a CommonPrefix followed by U+10FFFF so start-after skips everything
     * under it.  For servers that say IsTruncated without a token. */
    char last_key[4200];
    size_t nkeys, nprefixes;
};

typedef int (*mpfs_s3_xml_obj_fn)(void *arg, const char *key, size_t klen, uint64_t size,
                                  int64_t mtime_ns, const char *etag);
typedef int (*mpfs_s3_xml_prefix_fn)(void *arg, const char *prefix, size_t plen);

/* Returns 0, a callback's non-zero value, or -EIO (malformed document). */
int mpfs_s3_xml_parse_list(const char *xml, size_t len, mpfs_s3_xml_obj_fn obj,
                           mpfs_s3_xml_prefix_fn pfx, void *arg, struct mpfs_s3_list_page *page);

/* One entry of a ListObjectVersions page (ListVersionsResult): a Version
 * or a DeleteMarker, in the store's order (by key, newest first). */
struct mpfs_s3_version {
    char version_id[256];
    char etag[MPFS_VERSION_MAX]; /* without quotes; "" for a delete marker */
    int delete_marker;
    int is_latest;
    uint64_t size;
    int64_t mtime_ns;
};
typedef int (*mpfs_s3_xml_version_fn)(void *arg, const char *key, size_t klen,
                                      const struct mpfs_s3_version *v);

/* Returns 0, a callback's non-zero value, or -EIO (malformed document);
 * *truncated (if non-NULL) gets IsTruncated. */
int mpfs_s3_xml_parse_versions(const char *xml, size_t len, mpfs_s3_xml_version_fn fn, void *arg,
                               int *truncated);

/* If the document is an <Error>, copy Code and Message (either may be
 * NULL) and return 1; else 0. */
int mpfs_s3_xml_parse_error(const char *xml, size_t len, char *code, size_t codelen, char *msg,
                            size_t msglen);

/* Text of the first element named name anywhere in the document (UploadId
 * of InitiateMultipartUploadResult, ETag of CopyObjectResult ...).
 * Returns the length, -ENOENT if absent, -ENAMETOOLONG if it does not
 * fit, -EIO if malformed. */
int mpfs_s3_xml_find_text(const char *xml, size_t len, const char *name, char *out, size_t outlen);

/* Append "<CompleteMultipartUpload>...</...>" for n parts whose ETags
 * (without quotes) are etags[i], part numbers i+1. */
void mpfs_s3_xml_build_complete(struct mpfs_s3_buf *out, const char (*etags)[MPFS_VERSION_MAX],
                                uint32_t n);

#endif

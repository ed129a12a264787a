/*
 * meta.h - POSIX attributes and user xattrs as S3 object metadata, and the
 * date formats S3 speaks.
 *
 * Attributes use s3fs-fuse's headers so a bucket written by s3fs mounts
 * with the right modes and vice versa:
 *   x-amz-meta-mode   decimal st_mode including the type bits (33188 =
 *                     S_IFREG|0644); a leading '0' means octal (rclone)
 *   x-amz-meta-uid / -gid   decimal
 *   x-amz-meta-mtime / -ctime / -atime   decimal seconds, optional
 *                     ".fraction" (s3fs writes "sec.nsec" in new versions)
 * A symlink is an object whose mode has S_IFLNK; its body is the target.
 *
 * User xattrs: all in one header, in s3fs's format, so xattrs set through
 * s3fs and through mpfs are the same thing:
 *   x-amz-meta-xattr: urlencode({"user.name":"<base64 value>",...})
 * Names are stored with their namespace ("user." + the name backend.h
 * passes); other namespaces s3fs may have stored are kept untouched.  A
 * name's '%', '"', ',', ':' and control bytes are %XX-escaped inside the
 * document (s3fs cannot represent them at all).  One header and not one
 * per attribute because radosgw refuses metadata names longer than 80
 * bytes (osd_max_attr_name_len 100 minus its own prefix), and refuses
 * header lines beyond about 8 KiB: MPFS_S3_XATTR_HDR_MAX.
 *
 * Collected response metadata is a list "name\0value\0..." in a
 * mpfs_s3_buf: x-amz-meta-* headers under their name after the prefix
 * (lower-cased), and the standard headers a metadata REPLACE must carry
 * over under ":content-type", ":cache-control", ... (a ':' cannot start a
 * header name, so the two sets cannot collide).
 *
 * Pure functions, thread-safe.
 */
#ifndef MPFS_BACKENDS_S3_META_H
#define MPFS_BACKENDS_S3_META_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backends/backend.h"
#include "backends/s3/buf.h"

/* Largest user xattr value we store, and largest encoded xattr header
 * (radosgw answers 400 to longer header lines; AWS caps all user
 * metadata at 2 KiB anyway). */
#define MPFS_S3_XATTR_MAX 4096
#define MPFS_S3_XATTR_HDR_MAX 8000

/* Apply one metadata header (name after "x-amz-meta-", any case) to *a,
 * setting a->valid bits.  Unknown names are ignored. */
void mpfs_s3_meta_apply(struct mpfs_attr *a, const char *name, const char *value);
/* Apply every entry of a collected list. */
void mpfs_s3_meta_apply_all(struct mpfs_attr *a, const struct mpfs_s3_buf *meta);
/* Value of name in a collected list, or NULL. */
const char *mpfs_s3_meta_find(const struct mpfs_s3_buf *meta, const char *name);
/* Append name/value to a collected list. */
void mpfs_s3_meta_add(struct mpfs_s3_buf *meta, const char *name, size_t nlen, const char *value,
                      size_t vlen);
/* Iterate: *pos starts at 0; returns 0 at the end. */
int mpfs_s3_meta_next(const struct mpfs_s3_buf *meta, size_t *pos, const char **name,
                      const char **value);

/* Decimal strings of the s3fs headers for the fields named by set
 * (MPFS_SET_*).  Empty string = do not send. */
struct mpfs_s3_meta_hdrs {
    char mode[24], uid[24], gid[24], mtime[48], atime[48];
};
void mpfs_s3_meta_format(const struct mpfs_attr *a, uint32_t set, struct mpfs_s3_meta_hdrs *out);

/* "1700000000", "1700000000.5", "1700000000.123456789" -> ns.  0 or -EINVAL. */
int mpfs_s3_parse_seconds(const char *s, int64_t *ns);
/* "Wed, 12 Oct 2009 17:50:00 GMT" -> ns since the epoch, or -1. */
int64_t mpfs_s3_parse_http_date(const char *s);
/* "2009-10-12T17:50:30.000Z" -> ns since the epoch, or -1. */
int64_t mpfs_s3_parse_iso8601(const char *s);

/* The decoded x-amz-meta-xattr document: full names ("user.a"), values. */
struct mpfs_s3_xattr {
    char *name;
    unsigned char *value;
    size_t len;
};
struct mpfs_s3_xattrs {
    struct mpfs_s3_xattr *v;
    size_t n;
};
/* Parse a header value (NULL or "" = none).  Malformed pairs are skipped,
 * as s3fs does; returns the number of attributes. */
size_t mpfs_s3_xattrs_parse(const char *hdr, struct mpfs_s3_xattrs *out);
/* Encode into out (reset first); "" when there are none. */
void mpfs_s3_xattrs_build(const struct mpfs_s3_xattrs *x, struct mpfs_s3_buf *out);
struct mpfs_s3_xattr *mpfs_s3_xattrs_find(const struct mpfs_s3_xattrs *x, const char *name);
/* Add or replace (copies). */
void mpfs_s3_xattrs_set(struct mpfs_s3_xattrs *x, const char *name, const void *value, size_t len);
/* 0, or -ENODATA if absent. */
int mpfs_s3_xattrs_remove(struct mpfs_s3_xattrs *x, const char *name);
void mpfs_s3_xattrs_free(struct mpfs_s3_xattrs *x);

/* base64 (RFC 4648, padded).  encode returns the length or -ENAMETOOLONG;
 * decode returns the length or -EINVAL. */
ssize_t mpfs_s3_b64_encode(const void *p, size_t len, char *out, size_t outlen);
ssize_t mpfs_s3_b64_decode(const char *s, void *out, size_t outlen);

#endif

/*
 * uri.h - percent-encoding of S3 keys and query strings (SigV4 rules).
 *
 * S3 signs the URI exactly as sent, so the same encoder produces both the
 * request URL and the canonical URI / canonical query string: unreserved
 * characters (A-Z a-z 0-9 - _ . ~) stay, '/' stays in paths, every other
 * byte becomes %XX with upper-case hex.  Keys are raw bytes: spaces, '+',
 * '%', "//", "." segments and UTF-8 all round-trip (the HTTP layer sets
 * CURLOPT_PATH_AS_IS so curl does not squash "/./" or "/../").
 *
 * Pure functions, no allocation, thread-safe.
 */
#ifndef MPFS_BACKENDS_S3_URI_H
#define MPFS_BACKENDS_S3_URI_H

#include <stddef.h>
#include <sys/types.h>

/* Encode len bytes of s into out (NUL-terminated).  keep_slash keeps '/'
 * (paths); query names and values encode it.  Returns the encoded length
 * or -ENAMETOOLONG if out is too small. */
ssize_t mpfs_s3_uri_encode(const char *s, size_t len, int keep_slash, char *out, size_t outlen);

/* Decode %XX escapes in place (for keys of an encoding-type=url listing);
 * plus_is_space also turns '+' into ' ' (form encoding).  Returns the new
 * length; the result is NUL-terminated.  Malformed escapes are kept. */
size_t mpfs_s3_uri_decode(char *s, size_t len, int plus_is_space);

/* One query parameter, raw (not encoded).  value "" writes "name=". */
struct mpfs_s3_qparam {
    const char *name;
    const char *value;
};

/* Build the canonical query string of n parameters: each name and value
 * encoded, sorted by encoded name (then value), joined as a=b&c=d.  The
 * same string is used in the URL, so what is signed is what is sent.
 * Returns its length or -ENAMETOOLONG. */
ssize_t mpfs_s3_query_build(const struct mpfs_s3_qparam *p, size_t n, char *out, size_t outlen);

#endif

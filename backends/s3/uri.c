/*
 * uri.c - see uri.h.
 */
#include "backends/s3/uri.h"

#include <errno.h>
#include <string.h>

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

ssize_t mpfs_s3_uri_encode(const char *s, size_t len, int keep_slash, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            if (o + 1 >= outlen) {
                return -ENAMETOOLONG;
            }
            out[o++] = (char)c;
        } else {
            if (o + 3 >= outlen) {
                return -ENAMETOOLONG;
            }
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= outlen) {
        return -ENAMETOOLONG;
    }
    out[o] = '\0';
    return (ssize_t)o;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

size_t mpfs_s3_uri_decode(char *s, size_t len, int plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            s[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (plus_is_space && s[i] == '+') {
            s[o++] = ' ';
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

/* Encoded parameters are sorted by pointers into one scratch area; the
 * parameter count of an S3 request is tiny (<= 8), so insertion sort. */
#define QMAX 16

ssize_t mpfs_s3_query_build(const struct mpfs_s3_qparam *p, size_t n, char *out, size_t outlen)
{
    char names[QMAX][64];
    size_t order[QMAX];

    if (n > QMAX) {
        return -E2BIG;
    }
    for (size_t i = 0; i < n; i++) {
        if (mpfs_s3_uri_encode(p[i].name, strlen(p[i].name), 0, names[i], sizeof(names[i])) < 0) {
            return -ENAMETOOLONG;
        }
        size_t j = i;
        while (j > 0) {
            size_t prev = order[j - 1];
            int c = strcmp(names[prev], names[i]);
            if (c == 0) {
                c = strcmp(p[prev].value ? p[prev].value : "", p[i].value ? p[i].value : "");
            }
            if (c <= 0) {
                break;
            }
            order[j] = prev;
            j--;
        }
        order[j] = i;
    }

    size_t o = 0;
    if (outlen == 0) {
        return -ENAMETOOLONG;
    }
    out[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        size_t nl = strlen(names[i]);
        if (o + nl + 2 >= outlen) {
            return -ENAMETOOLONG;
        }
        if (k > 0) {
            out[o++] = '&';
        }
        memcpy(out + o, names[i], nl);
        o += nl;
        out[o++] = '=';
        const char *v = p[i].value ? p[i].value : "";
        ssize_t vl = mpfs_s3_uri_encode(v, strlen(v), 0, out + o, outlen - o);
        if (vl < 0) {
            return vl;
        }
        o += (size_t)vl;
    }
    out[o] = '\0';
    return (ssize_t)o;
}

/*
 * nfs_url.c - NFS URLs and the paths inside them.
 *
 * "nfs://host[:port]/export[/path/inside][?arg=val&...]" (RFC 2224 style,
 * as libnfs spells them).  The path may name a directory below an export;
 * which prefix is the export is only known by asking the server
 * (nfs_conn.c), so this file gives the pure helpers for that split:
 * longest-export matching by whole components, and walking up a path.
 *
 * We parse the URL ourselves instead of with nfs_parse_url_*(): libnfs 4.0
 * does not understand "host:port" (it tries to resolve "127.0.0.1:1" as a
 * name), does not percent-decode, and silently ignores unknown arguments;
 * a typo in a mount option should be an error, not a default.
 *
 * No state, no locking.
 */
#include "backends/nfs/nfs_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* A decimal integer in [lo, hi] spanning exactly [s, s+len). */
static int parse_int(const char *s, size_t len, long lo, long hi, int *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof(buf)) {
        return -EINVAL;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)buf[i])) {
            return -EINVAL;
        }
    }
    errno = 0;
    long v = strtol(buf, NULL, 10);
    if (errno != 0 || v < lo || v > hi) {
        return -EINVAL;
    }
    *out = (int)v;
    return 0;
}

/* Percent-decode and normalize [s, s+len) into out (absolute). */
static int parse_path(const char *s, size_t len, char *out, size_t size, char *err,
                      size_t errlen)
{
    char dec[MPFS_NFS_PATH_MAX];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return fail(err, errlen, "bad percent escape in NFS URL path");
            }
            c = hi * 16 + lo;
            if (c == 0) {
                return fail(err, errlen, "NUL byte in NFS URL path");
            }
            i += 2;
        }
        if (n + 1 >= sizeof(dec)) {
            return fail(err, errlen, "NFS URL path too long");
        }
        dec[n++] = (char)c;
    }
    dec[n] = '\0';

    /* Rebuild component by component: "//" and trailing '/' collapse. */
    size_t o = 0;
    const char *p = dec;
    while (*p) {
        while (*p == '/') {
            p++;
        }
        if (!*p) {
            break;
        }
        const char *e = strchr(p, '/');
        size_t clen = e ? (size_t)(e - p) : strlen(p);
        if ((clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.')) {
            return fail(err, errlen,
                        "NFS URL path may not contain '.' or '..' components");
        }
        if (o + 1 + clen + 1 > size) {
            return fail(err, errlen, "NFS URL path too long");
        }
        out[o++] = '/';
        memcpy(out + o, p, clen);
        o += clen;
        p += clen;
    }
    if (o == 0) {
        out[o++] = '/';
    }
    out[o] = '\0';
    return 0;
}

static int parse_query(const char *q, struct mpfs_nfs_url *u, char *err, size_t errlen)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        if (len == 0) {
            q += amp ? 1 : 0;
            if (!amp) {
                break;
            }
            continue;
        }
        if (!eq) {
            return fail(err, errlen, "NFS URL argument '%.*s' has no value", (int)len, q);
        }
        size_t klen = (size_t)(eq - q);
        const char *v = eq + 1;
        size_t vlen = len - klen - 1;
        int *dst = NULL;
        long lo = 0, hi = 0;
        if (klen == 7 && strncmp(q, "version", 7) == 0) {
            dst = &u->version, lo = 2, hi = 4;
        } else if (klen == 7 && strncmp(q, "nfsport", 7) == 0) {
            dst = &u->nfsport, lo = 1, hi = 65535;
        } else if (klen == 9 && strncmp(q, "mountport", 9) == 0) {
            dst = &u->mountport, lo = 1, hi = 65535;
        } else if (klen == 3 && strncmp(q, "uid", 3) == 0) {
            dst = &u->uid, lo = 0, hi = INT_MAX;
        } else if (klen == 3 && strncmp(q, "gid", 3) == 0) {
            dst = &u->gid, lo = 0, hi = INT_MAX;
        } else {
            return fail(err, errlen,
                        "unknown NFS URL argument '%.*s' (known: version, "
                        "nfsport, mountport, uid, gid)",
                        (int)klen, q);
        }
        if (parse_int(v, vlen, lo, hi, dst) != 0) {
            return fail(err, errlen,
                        "NFS URL argument %.*s=%.*s: expected an integer in "
                        "[%ld, %ld]",
                        (int)klen, q, (int)vlen, v, lo, hi);
        }
        if (!amp) {
            break;
        }
        q = amp + 1;
    }
    return 0;
}

int mpfs_nfs_url_parse(const char *url, struct mpfs_nfs_url *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->version = out->uid = out->gid = -1;
    if (!url || strncasecmp(url, "nfs://", 6) != 0) {
        return fail(err, errlen, "NFS URL must start with nfs:// (got '%s')",
                    url ? url : "(null)");
    }
    const char *a = url + 6;
    size_t alen = strcspn(a, "/?");
    const char *rest = a + alen;
    if (memchr(a, '@', alen)) {
        return fail(err, errlen, "NFS URL may not carry user information");
    }

    const char *host = a;
    size_t hlen = alen;
    const char *port = NULL;
    size_t plen = 0;
    if (alen > 0 && a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb) {
            return fail(err, errlen, "NFS URL: unterminated '[' in host");
        }
        host = a + 1;
        hlen = (size_t)(rb - a) - 1;
        if (rb + 1 < a + alen) {
            if (rb[1] != ':') {
                return fail(err, errlen, "NFS URL: junk after ']' in host");
            }
            port = rb + 2;
            plen = (size_t)(a + alen - port);
        }
    } else {
        const char *colon = memchr(a, ':', alen);
        if (colon) {
            hlen = (size_t)(colon - a);
            port = colon + 1;
            plen = (size_t)(a + alen - port);
        }
    }
    if (hlen == 0) {
        return fail(err, errlen, "NFS URL has no server: '%s'", url);
    }
    if (hlen >= sizeof(out->host)) {
        return fail(err, errlen, "NFS URL server name too long");
    }
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    if (port) {
        int p;
        if (parse_int(port, plen, 1, 65535, &p) != 0) {
            return fail(err, errlen, "NFS URL: bad port '%.*s'", (int)plen, port);
        }
        out->nfsport = out->mountport = p;
    }

    size_t pathlen = strcspn(rest, "?");
    int rc = parse_path(rest, pathlen, out->path, sizeof(out->path), err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (rest[pathlen] == '?') {
        rc = parse_query(rest + pathlen + 1, out, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Does export name path or an ancestor of it, by whole components? */
static int is_prefix(const char *path, const char *export)
{
    size_t el = strlen(export);
    while (el > 1 && export[el - 1] == '/') {
        el--; /* servers may list "/x/" */
    }
    if (el == 1 && export[0] == '/') {
        return 1;
    }
    if (strncmp(path, export, el) != 0) {
        return 0;
    }
    return path[el] == '\0' || path[el] == '/';
}

int mpfs_nfs_export_match(const char *path, const char *const *exports, size_t n)
{
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!exports[i] || exports[i][0] != '/') {
            continue;
        }
        size_t len = strlen(exports[i]);
        if (is_prefix(path, exports[i]) && (best < 0 || len > best_len)) {
            best = (int)i;
            best_len = len;
        }
    }
    return best;
}

const char *mpfs_nfs_path_below(const char *path, const char *export)
{
    size_t el = strlen(export);
    while (el > 0 && export[el - 1] == '/') {
        el--;
    }
    const char *r = path + el;
    while (*r == '/') {
        r++;
    }
    return r;
}

int mpfs_nfs_path_parent(char *path)
{
    if (strcmp(path, "/") == 0) {
        return -ENOENT;
    }
    char *slash = strrchr(path, '/');
    if (slash == path) {
        path[1] = '\0';
    } else {
        *slash = '\0';
    }
    return 0;
}

int mpfs_nfs_path_full(const char *base, const char *path, char *out, size_t size)
{
    int n;
    if (base[0] == '\0' && path[0] == '\0') {
        n = snprintf(out, size, "/");
    } else if (base[0] == '\0') {
        n = snprintf(out, size, "%s", path);
    } else if (path[0] == '\0') {
        n = snprintf(out, size, "%s", base);
    } else {
        n = snprintf(out, size, "%s/%s", base, path);
    }
    if (n < 0 || (size_t)n >= size) {
        return -ENAMETOOLONG;
    }
    return 0;
}

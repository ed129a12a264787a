/*
 * meta.c - see meta.h.
 */
#include "backends/s3/meta.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "backends/s3/uri.h"
#include "base/util.h"

static int parse_u64(const char *s, int base, uint64_t *out)
{
    char *end;
    while (*s == ' ') {
        s++;
    }
    if (!isdigit((unsigned char)*s)) {
        return -EINVAL;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    while (*end == ' ') {
        end++;
    }
    if (errno || *end) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int mpfs_s3_parse_seconds(const char *s, int64_t *ns)
{
    char *end;
    while (*s == ' ') {
        s++;
    }
    int neg = *s == '-';
    if (!isdigit((unsigned char)s[neg])) {
        return -EINVAL;
    }
    errno = 0;
    long long sec = strtoll(s, &end, 10);
    if (errno || sec > INT64_MAX / 1000000000 || sec < INT64_MIN / 1000000000) {
        return -EINVAL;
    }
    int64_t frac = 0;
    if (*end == '.') {
        end++;
        int64_t scale = 100000000;
        while (isdigit((unsigned char)*end)) {
            frac += (*end - '0') * scale;
            scale /= 10;
            end++;
        }
    }
    while (*end == ' ') {
        end++;
    }
    if (*end) {
        return -EINVAL;
    }
    *ns = (int64_t)sec * 1000000000 + (neg ? -frac : frac);
    return 0;
}

void mpfs_s3_meta_apply(struct mpfs_attr *a, const char *name, const char *value)
{
    uint64_t v;
    int64_t t;

    if (strcasecmp(name, "mode") == 0) {
        /* s3fs writes decimal; a leading zero means octal (rclone). */
        int base = (value[0] == '0' && value[1]) ? 8 : 10;
        if (parse_u64(value, base, &v) == 0 && v <= 0xffffffffu) {
            uint32_t m = (uint32_t)v;
            if ((m & S_IFMT) == 0) {
                m |= (a->mode & S_IFMT) ? (a->mode & S_IFMT) : S_IFREG;
            }
            a->mode = m;
            a->valid |= MPFS_ATTR_MODE;
        }
    } else if (strcasecmp(name, "uid") == 0) {
        if (parse_u64(value, 10, &v) == 0 && v <= 0xffffffffu) {
            a->uid = (uint32_t)v;
            a->valid |= MPFS_ATTR_OWNER;
        }
    } else if (strcasecmp(name, "gid") == 0) {
        if (parse_u64(value, 10, &v) == 0 && v <= 0xffffffffu) {
            a->gid = (uint32_t)v;
            a->valid |= MPFS_ATTR_OWNER;
        }
    } else if (strcasecmp(name, "rdev") == 0) {
        if (parse_u64(value, 10, &v) == 0) {
            a->rdev = v;
        }
    } else if (strcasecmp(name, "mtime") == 0) {
        if (mpfs_s3_parse_seconds(value, &t) == 0) {
            a->mtime_ns = t;
            a->valid |= MPFS_ATTR_MTIME;
        }
    } else if (strcasecmp(name, "ctime") == 0) {
        if (mpfs_s3_parse_seconds(value, &t) == 0) {
            a->ctime_ns = t;
        }
    } else if (strcasecmp(name, "atime") == 0) {
        if (mpfs_s3_parse_seconds(value, &t) == 0) {
            a->atime_ns = t;
        }
    }
}

int mpfs_s3_meta_next(const struct mpfs_s3_buf *meta, size_t *pos, const char **name,
                      const char **value)
{
    if (!meta->p || *pos >= meta->len) {
        return 0;
    }
    *name = meta->p + *pos;
    *pos += strlen(*name) + 1;
    *value = meta->p + *pos;
    *pos += strlen(*value) + 1;
    return 1;
}

void mpfs_s3_meta_apply_all(struct mpfs_attr *a, const struct mpfs_s3_buf *meta)
{
    size_t pos = 0;
    const char *n, *v;
    while (mpfs_s3_meta_next(meta, &pos, &n, &v)) {
        mpfs_s3_meta_apply(a, n, v);
    }
}

const char *mpfs_s3_meta_find(const struct mpfs_s3_buf *meta, const char *name)
{
    size_t pos = 0;
    const char *n, *v;
    while (mpfs_s3_meta_next(meta, &pos, &n, &v)) {
        if (strcasecmp(n, name) == 0) {
            return v;
        }
    }
    return NULL;
}

void mpfs_s3_meta_add(struct mpfs_s3_buf *meta, const char *name, size_t nlen, const char *value,
                      size_t vlen)
{
    mpfs_s3_buf_reserve(meta, nlen + vlen + 2);
    for (size_t i = 0; i < nlen; i++) {
        meta->p[meta->len++] = (char)tolower((unsigned char)name[i]);
    }
    meta->p[meta->len++] = '\0';
    memcpy(meta->p + meta->len, value, vlen);
    meta->len += vlen;
    meta->p[meta->len++] = '\0';
    meta->p[meta->len] = '\0';
}

static void fmt_time(char *out, size_t outlen, int64_t ns)
{
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec -= 1;
    }
    if (frac) {
        snprintf(out, outlen, "%lld.%09lld", (long long)sec, (long long)frac);
    } else {
        snprintf(out, outlen, "%lld", (long long)sec);
    }
}

void mpfs_s3_meta_format(const struct mpfs_attr *a, uint32_t set, struct mpfs_s3_meta_hdrs *out)
{
    memset(out, 0, sizeof(*out));
    if (set & MPFS_SET_MODE) {
        uint32_t m = a->mode;
        if ((m & S_IFMT) == 0) {
            m |= S_IFREG;
        }
        snprintf(out->mode, sizeof(out->mode), "%u", m);
    }
    if (set & MPFS_SET_UID) {
        snprintf(out->uid, sizeof(out->uid), "%u", a->uid);
    }
    if (set & MPFS_SET_GID) {
        snprintf(out->gid, sizeof(out->gid), "%u", a->gid);
    }
    if (set & MPFS_SET_MTIME) {
        fmt_time(out->mtime, sizeof(out->mtime), a->mtime_ns);
    }
    if (set & MPFS_SET_ATIME) {
        fmt_time(out->atime, sizeof(out->atime), a->atime_ns);
    }
}

static int month_of(const char *m)
{
    static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++) {
        if (strncasecmp(m, names[i], 3) == 0) {
            return i;
        }
    }
    return -1;
}

int64_t mpfs_s3_parse_http_date(const char *s)
{
    struct tm tm = {0};
    char mon[4] = {0};
    int day, year, h, mi, sec;

    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    const char *comma = strchr(s, ',');
    if (comma) {
        s = comma + 1;
    }
    if (sscanf(s, " %d %3s %d %d:%d:%d", &day, mon, &year, &h, &mi, &sec) != 6) {
        return -1;
    }
    int m = month_of(mon);
    if (m < 0) {
        return -1;
    }
    tm.tm_mday = day;
    tm.tm_mon = m;
    tm.tm_year = year - 1900;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t * 1000000000;
}

int64_t mpfs_s3_parse_iso8601(const char *s)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, used = 0;

    if (sscanf(s, "%d-%d-%dT%d:%d:%d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6) {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) {
        return -1;
    }
    int64_t frac = 0;
    const char *p = s + used;
    if (*p == '.') {
        int64_t scale = 100000000;
        for (p++; isdigit((unsigned char)*p); p++) {
            frac += (*p - '0') * scale;
            scale /= 10;
        }
    }
    return (int64_t)t * 1000000000 + frac;
}

/* --- s3fs xattr document ------------------------------------------------- */

static int name_byte_escaped(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == '%' || c == '"' || c == ',' || c == ':';
}

void mpfs_s3_xattrs_build(const struct mpfs_s3_xattrs *x, struct mpfs_s3_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    struct mpfs_s3_buf doc = {0};

    mpfs_s3_buf_reset(out);
    if (x->n == 0) {
        mpfs_s3_buf_add(out, "", 0);
        return;
    }
    mpfs_s3_buf_add(&doc, "{", 1);
    for (size_t i = 0; i < x->n; i++) {
        const struct mpfs_s3_xattr *a = &x->v[i];
        if (i > 0) {
            mpfs_s3_buf_add(&doc, ",", 1);
        }
        mpfs_s3_buf_add(&doc, "\"", 1);
        for (const unsigned char *p = (const unsigned char *)a->name; *p; p++) {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            if (name_byte_escaped(*p)) {
                mpfs_s3_buf_add(&doc, esc, 3);
            } else {
                mpfs_s3_buf_add(&doc, (const char *)p, 1);
            }
        }
        mpfs_s3_buf_add(&doc, "\":\"", 3);
        size_t need = 4 * ((a->len + 2) / 3) + 1;
        mpfs_s3_buf_reserve(&doc, need);
        ssize_t n = mpfs_s3_b64_encode(a->value, a->len, doc.p + doc.len, need);
        doc.len += n > 0 ? (size_t)n : 0;
        mpfs_s3_buf_add(&doc, "\"", 1);
    }
    mpfs_s3_buf_add(&doc, "}", 1);
    /* then the whole document URL-encoded, as s3fs's urlEncode() */
    mpfs_s3_buf_reserve(out, 3 * doc.len + 1);
    ssize_t n = mpfs_s3_uri_encode(doc.p, doc.len, 0, out->p, out->cap);
    out->len = n > 0 ? (size_t)n : 0;
    mpfs_s3_buf_free(&doc);
}

/* Strip surrounding double quotes (and spaces) of [*s, *e). */
static int unquote(char **s, char **e)
{
    while (*s < *e && isspace((unsigned char)**s)) {
        (*s)++;
    }
    while (*e > *s && isspace((unsigned char)(*e)[-1])) {
        (*e)--;
    }
    if (*e - *s < 2 || **s != '"' || (*e)[-1] != '"') {
        return -EINVAL;
    }
    (*s)++;
    (*e)--;
    return 0;
}

size_t mpfs_s3_xattrs_parse(const char *hdr, struct mpfs_s3_xattrs *out)
{
    memset(out, 0, sizeof(*out));
    if (!hdr || !*hdr) {
        return 0;
    }
    char *doc = mpfs_xstrdup(hdr);
    size_t dl = mpfs_s3_uri_decode(doc, strlen(doc), 0);
    char *open = memchr(doc, '{', dl);
    char *close = strrchr(doc, '}');
    if (!open || !close || close < open) {
        free(doc);
        return 0;
    }
    *close = '\0';
    char *pair = open + 1;
    while (pair && *pair) {
        /* base64 has no ',' and escaped names have none either */
        char *next = strchr(pair, ',');
        char *end = next ? next : pair + strlen(pair);
        char *colon = memchr(pair, ':', (size_t)(end - pair));
        char *ks = pair, *ke = colon, *vs = colon ? colon + 1 : NULL, *ve = end;
        pair = next ? next + 1 : NULL;
        if (!colon || unquote(&ks, &ke) < 0 || unquote(&vs, &ve) < 0 || ke == ks) {
            continue;
        }
        *ke = '\0';
        *ve = '\0';
        size_t nl = mpfs_s3_uri_decode(ks, (size_t)(ke - ks), 0);
        if (memchr(ks, '\0', nl)) {
            continue;
        }
        size_t cap = (size_t)(ve - vs) / 4 * 3 + 3;
        unsigned char *val = mpfs_xmalloc(cap);
        ssize_t vl = mpfs_s3_b64_decode(vs, val, cap);
        if (vl >= 0) {
            mpfs_s3_xattrs_set(out, ks, val, (size_t)vl);
        }
        free(val);
    }
    free(doc);
    return out->n;
}

struct mpfs_s3_xattr *mpfs_s3_xattrs_find(const struct mpfs_s3_xattrs *x, const char *name)
{
    for (size_t i = 0; i < x->n; i++) {
        if (strcmp(x->v[i].name, name) == 0) {
            return &x->v[i];
        }
    }
    return NULL;
}

void mpfs_s3_xattrs_set(struct mpfs_s3_xattrs *x, const char *name, const void *value, size_t len)
{
    struct mpfs_s3_xattr *a = mpfs_s3_xattrs_find(x, name);
    if (!a) {
        x->v = mpfs_xrealloc(x->v, (x->n + 1) * sizeof(*x->v));
        a = &x->v[x->n++];
        a->name = mpfs_xstrdup(name);
    } else {
        free(a->value);
    }
    a->value = mpfs_xmalloc(len);
    memcpy(a->value, value, len);
    a->len = len;
}

int mpfs_s3_xattrs_remove(struct mpfs_s3_xattrs *x, const char *name)
{
    struct mpfs_s3_xattr *a = mpfs_s3_xattrs_find(x, name);
    if (!a) {
        return -ENODATA;
    }
    free(a->name);
    free(a->value);
    *a = x->v[--x->n];
    return 0;
}

void mpfs_s3_xattrs_free(struct mpfs_s3_xattrs *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->v[i].name);
        free(x->v[i].value);
    }
    free(x->v);
    memset(x, 0, sizeof(*x));
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

ssize_t mpfs_s3_b64_encode(const void *p, size_t len, char *out, size_t outlen)
{
    const unsigned char *in = p;
    size_t need = 4 * ((len + 2) / 3) + 1, o = 0;
    if (need > outlen) {
        return -ENAMETOOLONG;
    }
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) {
            v |= (uint32_t)in[i + 1] << 8;
        }
        if (i + 2 < len) {
            v |= in[i + 2];
        }
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return (ssize_t)o;
}

ssize_t mpfs_s3_b64_decode(const char *s, void *outp, size_t outlen)
{
    unsigned char *out = outp;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (; *s && *s != '='; s++) {
        const char *q = strchr(b64, *s);
        if (!q || !*s) {
            if (isspace((unsigned char)*s)) {
                continue;
            }
            return -EINVAL;
        }
        acc = (acc << 6) | (uint32_t)(q - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outlen) {
                return -EINVAL;
            }
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (ssize_t)o;
}

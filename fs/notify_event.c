/*
 * notify_event.c - see notify_event.h.
 *
 * A recursive-descent JSON reader that knows where it is in the S3 event
 * schema: each value is parsed with a "place" (the top object, the Records
 * array, a record, its s3, s3.object, s3.bucket, one of the fields we use,
 * or somewhere we ignore).  Ignored values are still parsed and checked,
 * so a malformed message is rejected whatever part of it is broken.
 * Records go into an array first and are delivered only once the whole
 * message has parsed.
 */
#include "fs/notify_event.h"

#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEPTH_MAX 32

enum place {
    P_IGNORE, P_TOP, P_RECORDS, P_RECORD, P_S3, P_OBJECT, P_BUCKET,
    F_NAME, F_TIME, F_SOURCE, F_KEY, F_SIZE, F_ETAG, F_SEQ, F_BUCKET,
};

struct rec {
    struct mpfs_s3_event ev;
    char name[64];
    char source[32];
    char time[64];
    char seq[64];
    int bad; /* a field we need did not fit or had the wrong type */
    int has_key;
};

struct parser {
    const char *p, *end;
    int depth;
    struct rec *recs;
    size_t n, cap;
};

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return -EINVAL;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

/* Append one byte to out if there is room (keeping a NUL); note overflow. */
static void put(char *out, size_t cap, size_t *len, int *overflow, char c)
{
    if (!out)
        return;
    if (*len + 1 < cap)
        out[(*len)++] = c;
    else
        *overflow = 1;
}

/* Parse a string at ps->p (on the opening quote) into out (NULL: check
 * only).  *overflow is set if it did not fit, *has_nul if it held \u0000. */
static int parse_string(struct parser *ps, char *out, size_t cap, int *overflow, int *has_nul)
{
    size_t len = 0;
    ps->p++; /* the quote */
    while (ps->p < ps->end) {
        unsigned char c = (unsigned char)*ps->p++;
        if (c == '"') {
            if (out)
                out[len] = '\0';
            return 0;
        }
        if (c < 0x20)
            return -EINVAL;
        if (c != '\\') {
            put(out, cap, &len, overflow, (char)c);
            continue;
        }
        if (ps->p >= ps->end)
            return -EINVAL;
        char e = *ps->p++;
        switch (e) {
        case '"': case '\\': case '/': put(out, cap, &len, overflow, e); break;
        case 'b': put(out, cap, &len, overflow, '\b'); break;
        case 'f': put(out, cap, &len, overflow, '\f'); break;
        case 'n': put(out, cap, &len, overflow, '\n'); break;
        case 'r': put(out, cap, &len, overflow, '\r'); break;
        case 't': put(out, cap, &len, overflow, '\t'); break;
        case 'u': {
            unsigned cp;
            if (ps->end - ps->p < 4 || hex4(ps->p, &cp) < 0)
                return -EINVAL;
            ps->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                    hex4(ps->p + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return -EINVAL; /* a lone high surrogate */
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -EINVAL; /* a lone low surrogate */
            }
            if (cp == 0 && has_nul)
                *has_nul = 1;
            if (cp < 0x80) {
                put(out, cap, &len, overflow, (char)cp);
            } else if (cp < 0x800) {
                put(out, cap, &len, overflow, (char)(0xC0 | cp >> 6));
                put(out, cap, &len, overflow, (char)(0x80 | (cp & 0x3F)));
            } else if (cp < 0x10000) {
                put(out, cap, &len, overflow, (char)(0xE0 | cp >> 12));
                put(out, cap, &len, overflow, (char)(0x80 | ((cp >> 6) & 0x3F)));
                put(out, cap, &len, overflow, (char)(0x80 | (cp & 0x3F)));
            } else {
                put(out, cap, &len, overflow, (char)(0xF0 | cp >> 18));
                put(out, cap, &len, overflow, (char)(0x80 | ((cp >> 12) & 0x3F)));
                put(out, cap, &len, overflow, (char)(0x80 | ((cp >> 6) & 0x3F)));
                put(out, cap, &len, overflow, (char)(0x80 | (cp & 0x3F)));
            }
            break;
        }
        default:
            return -EINVAL;
        }
    }
    return -EINVAL; /* unterminated */
}

/* JSON number grammar; *uval gets a non-negative integer's value (else
 * *is_uint = 0). */
static int parse_number(struct parser *ps, uint64_t *uval, int *is_uint)
{
    const char *s = ps->p;
    int neg = 0, frac = 0;
    if (s < ps->end && *s == '-') {
        neg = 1;
        s++;
    }
    if (s >= ps->end || !isdigit((unsigned char)*s))
        return -EINVAL;
    uint64_t v = 0;
    int ovf = 0;
    if (*s == '0') {
        s++;
    } else {
        while (s < ps->end && isdigit((unsigned char)*s)) {
            unsigned d = (unsigned)(*s++ - '0');
            if (v > (UINT64_MAX - d) / 10)
                ovf = 1;
            else
                v = v * 10 + d;
        }
    }
    if (s < ps->end && *s == '.') {
        frac = 1;
        s++;
        if (s >= ps->end || !isdigit((unsigned char)*s))
            return -EINVAL;
        while (s < ps->end && isdigit((unsigned char)*s))
            s++;
    }
    if (s < ps->end && (*s == 'e' || *s == 'E')) {
        frac = 1;
        s++;
        if (s < ps->end && (*s == '+' || *s == '-'))
            s++;
        if (s >= ps->end || !isdigit((unsigned char)*s))
            return -EINVAL;
        while (s < ps->end && isdigit((unsigned char)*s))
            s++;
    }
    ps->p = s;
    *is_uint = !neg && !frac && !ovf;
    *uval = v;
    return 0;
}

static int literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return -EINVAL;
    ps->p += n;
    return 0;
}

static enum place child_of(enum place at, const char *key)
{
    switch (at) {
    case P_TOP: return strcmp(key, "Records") == 0 ? P_RECORDS : P_IGNORE;
    case P_RECORD:
        if (!strcmp(key, "eventName")) return F_NAME;
        if (!strcmp(key, "eventTime")) return F_TIME;
        if (!strcmp(key, "eventSource")) return F_SOURCE;
        if (!strcmp(key, "s3")) return P_S3;
        return P_IGNORE;
    case P_S3:
        if (!strcmp(key, "object")) return P_OBJECT;
        if (!strcmp(key, "bucket")) return P_BUCKET;
        return P_IGNORE;
    case P_OBJECT:
        if (!strcmp(key, "key")) return F_KEY;
        if (!strcmp(key, "size")) return F_SIZE;
        if (!strcmp(key, "eTag")) return F_ETAG;
        if (!strcmp(key, "sequencer")) return F_SEQ;
        return P_IGNORE;
    case P_BUCKET: return strcmp(key, "name") == 0 ? F_BUCKET : P_IGNORE;
    default: return P_IGNORE;
    }
}

static int parse_value(struct parser *ps, enum place at);

static struct rec *cur(struct parser *ps)
{
    return ps->n ? &ps->recs[ps->n - 1] : NULL;
}

/* A string value at a field place: where it goes. */
static int string_field(struct parser *ps, enum place at)
{
    struct rec *r = cur(ps);
    char *out = NULL;
    size_t cap = 0;
    if (r) {
        switch (at) {
        case F_NAME: out = r->name; cap = sizeof(r->name); break;
        case F_TIME: out = r->time; cap = sizeof(r->time); break;
        case F_SOURCE: out = r->source; cap = sizeof(r->source); break;
        case F_KEY: out = r->ev.key; cap = sizeof(r->ev.key); break;
        case F_ETAG: out = r->ev.etag; cap = sizeof(r->ev.etag); break;
        case F_SEQ: out = r->seq; cap = sizeof(r->seq); break;
        case F_BUCKET: out = r->ev.bucket; cap = sizeof(r->ev.bucket); break;
        default: break;
        }
    }
    int overflow = 0, has_nul = 0;
    int rc = parse_string(ps, out, cap, &overflow, &has_nul);
    if (rc < 0 || !r)
        return rc;
    if (at == F_SIZE || overflow || has_nul)
        r->bad = 1; /* a size must be a number; a cut or NUL-holding key is no key */
    if (at == F_KEY)
        r->has_key = 1;
    return 0;
}

static int parse_object(struct parser *ps, enum place at)
{
    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"')
            return -EINVAL;
        char key[64];
        int overflow = 0;
        int rc = parse_string(ps, key, sizeof(key), &overflow, NULL);
        if (rc < 0)
            return rc;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':')
            return -EINVAL;
        ps->p++;
        rc = parse_value(ps, overflow ? P_IGNORE : child_of(at, key));
        if (rc < 0)
            return rc;
        skip_ws(ps);
        if (ps->p >= ps->end)
            return -EINVAL;
        if (*ps->p == '}') {
            ps->p++;
            return 0;
        }
        if (*ps->p != ',')
            return -EINVAL;
        ps->p++;
    }
}

static int parse_array(struct parser *ps, enum place at)
{
    ps->p++; /* '[' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        enum place el = P_IGNORE;
        if (at == P_RECORDS && ps->p < ps->end && *ps->p == '{') {
            if (ps->n >= MPFS_EVENT_RECORDS_MAX)
                return -E2BIG;
            if (ps->n == ps->cap) {
                ps->cap = ps->cap ? ps->cap * 2 : 4;
                ps->recs = mpfs_xrealloc(ps->recs, ps->cap * sizeof(*ps->recs));
            }
            memset(&ps->recs[ps->n++], 0, sizeof(*ps->recs));
            el = P_RECORD;
        }
        int rc = parse_value(ps, el);
        if (rc < 0)
            return rc;
        skip_ws(ps);
        if (ps->p >= ps->end)
            return -EINVAL;
        if (*ps->p == ']') {
            ps->p++;
            return 0;
        }
        if (*ps->p != ',')
            return -EINVAL;
        ps->p++;
    }
}

static int parse_value(struct parser *ps, enum place at)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return -EINVAL;
    int rc;
    struct rec *r = cur(ps);
    int field = at >= F_NAME;
    switch (*ps->p) {
    case '{':
    case '[':
        if (++ps->depth > DEPTH_MAX)
            return -EINVAL;
        if (field && r)
            r->bad = 1;
        rc = *ps->p == '{' ? parse_object(ps, field ? P_IGNORE : at)
                           : parse_array(ps, field ? P_IGNORE : at);
        ps->depth--;
        return rc;
    case '"':
        return string_field(ps, at);
    case 't':
        rc = literal(ps, "true");
        break;
    case 'f':
        rc = literal(ps, "false");
        break;
    case 'n':
        return literal(ps, "null"); /* a null field is as good as absent */
    default: {
        uint64_t v = 0;
        int is_uint = 0;
        rc = parse_number(ps, &v, &is_uint);
        if (rc == 0 && at == F_SIZE && r) {
            if (is_uint)
                r->ev.size = v;
            else
                r->bad = 1;
            return 0;
        }
        break;
    }
    }
    if (rc == 0 && field && r)
        r->bad = 1; /* a number or boolean where we want a string */
    return rc;
}

int64_t mpfs_event_time_parse(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || t < 0)
        return 0;
    int64_t ns = (int64_t)t * 1000000000LL;
    const char *p = s + used;
    if (*p == '.') {
        int64_t scale = 100000000LL;
        for (p++; isdigit((unsigned char)*p); p++) {
            ns += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (*p != 'Z' && *p != '\0')
        return 0; /* offsets other than UTC are not what S3 sends */
    return ns;
}

/* radosgw: 16 hex digits dumping a utime_t (u32 sec, u32 nsec, both
 * little-endian).  Others: hex compared by value.  Both become 32 digits,
 * big-endian, so strcmp orders them. */
static void normalise_seq(const char *raw, int ceph, char *out)
{
    size_t n = strlen(raw);
    out[0] = '\0';
    if (n == 0 || n > MPFS_EVENT_SEQ_LEN)
        return;
    for (size_t i = 0; i < n; i++)
        if (hexval(raw[i]) < 0)
            return;
    if (ceph && n == 16) {
        unsigned char b[8];
        for (int i = 0; i < 8; i++)
            b[i] = (unsigned char)(hexval(raw[2 * i]) << 4 | hexval(raw[2 * i + 1]));
        uint64_t sec = (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 |
                       (uint64_t)b[3] << 24;
        uint64_t nsec = (uint64_t)b[4] | (uint64_t)b[5] << 8 | (uint64_t)b[6] << 16 |
                        (uint64_t)b[7] << 24;
        snprintf(out, MPFS_EVENT_SEQ_LEN + 1, "%016llX%016llX", (unsigned long long)sec,
                 (unsigned long long)nsec);
        return;
    }
    size_t pad = MPFS_EVENT_SEQ_LEN - n;
    memset(out, '0', pad);
    for (size_t i = 0; i < n; i++)
        out[pad + i] = (char)toupper((unsigned char)raw[i]);
    out[MPFS_EVENT_SEQ_LEN] = '\0';
}

/* Finish a parsed record: 1 if usable. */
static int finish(struct rec *r)
{
    if (r->bad || !r->has_key || !r->ev.key[0])
        return 0;
    if (strncmp(r->name, "ObjectCreated:", 14) == 0)
        r->ev.kind = MPFS_EVENT_CREATED;
    else if (strncmp(r->name, "ObjectRemoved:", 14) == 0)
        r->ev.kind = MPFS_EVENT_REMOVED;
    else
        return 0;
    int ceph = strncmp(r->source, "ceph:", 5) == 0;
    if (!ceph) {
        size_t kl = strlen(r->ev.key);
        /* form decoding, in place: the result is never longer */
        char *k = r->ev.key;
        size_t o = 0;
        for (size_t i = 0; i < kl; i++) {
            if (k[i] == '+') {
                k[o++] = ' ';
            } else if (k[i] == '%' && i + 2 < kl && hexval(k[i + 1]) >= 0 &&
                       hexval(k[i + 2]) >= 0) {
                k[o++] = (char)(hexval(k[i + 1]) << 4 | hexval(k[i + 2]));
                i += 2;
            } else {
                k[o++] = k[i];
            }
        }
        k[o] = '\0';
        if (o == 0 || memchr(k, '\0', o) != NULL)
            return 0;
    }
    /* ETags arrive bare from both, but a quoted one is the same token */
    size_t el = strlen(r->ev.etag);
    if (el >= 2 && r->ev.etag[0] == '"' && r->ev.etag[el - 1] == '"') {
        memmove(r->ev.etag, r->ev.etag + 1, el - 2);
        r->ev.etag[el - 2] = '\0';
    }
    r->ev.time_ns = r->time[0] ? mpfs_event_time_parse(r->time) : 0;
    normalise_seq(r->seq, ceph, r->ev.seq);
    return 1;
}

int mpfs_s3_events_parse(const char *json, size_t len, mpfs_s3_event_fn fn, void *arg,
                         size_t *skipped)
{
    if (skipped)
        *skipped = 0;
    if (len > MPFS_EVENT_DOC_MAX)
        return -E2BIG;
    struct parser ps = {.p = json, .end = json + len};
    skip_ws(&ps);
    int rc = ps.p < ps.end && *ps.p == '{' ? parse_value(&ps, P_TOP) : -EINVAL;
    if (rc == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            rc = -EINVAL; /* trailing garbage */
    }
    size_t bad = 0;
    for (size_t i = 0; rc == 0 && i < ps.n; i++) {
        if (!finish(&ps.recs[i])) {
            bad++;
            continue;
        }
        rc = fn(arg, &ps.recs[i].ev);
    }
    if (skipped)
        *skipped = bad;
    free(ps.recs);
    return rc;
}

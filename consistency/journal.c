/*
 * journal.c - see journal.h.
 *
 * Record format 1, little-endian: u8 format, u64 ino, u64 parent, u8 is_new,
 * i64 created_ns, u32 attr_set, u32 mode, u32 uid, u32 gid, i64 mtime_ns,
 * then four strings each as u32 length + bytes: path, staging,
 * conflict_path, base_version; then u8 base_side.
 */
#include "consistency/journal.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOURNAL_FMT 1

struct wbuf {
    char *p;
    size_t len, cap;
};

static void put_bytes(struct wbuf *w, const void *v, size_t n)
{
    if (w->len + n <= w->cap)
        memcpy(w->p + w->len, v, n);
    w->len += n;
}

static void put_u64(struct wbuf *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put_bytes(w, b, 8);
}

static void put_u32(struct wbuf *w, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put_bytes(w, b, 4);
}

static void put_str(struct wbuf *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_u32(w, (uint32_t)n);
    put_bytes(w, s ? s : "", n);
}

size_t mpfs_journal_encode(const struct mpfs_journal_rec *r, char *buf, size_t cap)
{
    struct wbuf w = {.p = buf, .cap = cap};
    unsigned char fmt = JOURNAL_FMT, is_new = r->is_new ? 1 : 0;
    put_bytes(&w, &fmt, 1);
    put_u64(&w, r->ino);
    put_u64(&w, r->parent);
    put_bytes(&w, &is_new, 1);
    put_u64(&w, (uint64_t)r->created_ns);
    put_u32(&w, r->attr_set);
    put_u32(&w, r->attr.mode);
    put_u32(&w, r->attr.uid);
    put_u32(&w, r->attr.gid);
    put_u64(&w, (uint64_t)r->attr.mtime_ns);
    put_str(&w, r->path);
    put_str(&w, r->staging);
    put_str(&w, r->conflict_path);
    put_str(&w, r->base_version);
    unsigned char side = (unsigned char)r->base_side;
    put_bytes(&w, &side, 1);
    return w.len;
}

struct rbuf {
    const unsigned char *p;
    size_t len, off;
    int bad;
};

static const unsigned char *take(struct rbuf *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t get_u64(struct rbuf *r)
{
    const unsigned char *p = take(r, 8);
    uint64_t v = 0;
    for (int i = 7; p && i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t get_u32(struct rbuf *r)
{
    const unsigned char *p = take(r, 4);
    uint32_t v = 0;
    for (int i = 3; p && i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static char *get_str(struct rbuf *r)
{
    uint32_t n = get_u32(r);
    const unsigned char *p = take(r, n);
    if (!p)
        return NULL;
    char *s = mpfs_xmalloc((size_t)n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

int mpfs_journal_decode(const char *buf, size_t len, struct mpfs_journal_rec *rec)
{
    struct rbuf r = {.p = (const unsigned char *)buf, .len = len};
    memset(rec, 0, sizeof(*rec));
    const unsigned char *fmt = take(&r, 1);
    if (!fmt || *fmt != JOURNAL_FMT)
        return -EINVAL;
    rec->ino = get_u64(&r);
    rec->parent = get_u64(&r);
    const unsigned char *is_new = take(&r, 1);
    rec->is_new = is_new && *is_new;
    rec->created_ns = (int64_t)get_u64(&r);
    rec->attr_set = get_u32(&r);
    rec->attr.mode = get_u32(&r);
    rec->attr.uid = get_u32(&r);
    rec->attr.gid = get_u32(&r);
    rec->attr.mtime_ns = (int64_t)get_u64(&r);
    rec->path = get_str(&r);
    rec->staging = get_str(&r);
    rec->conflict_path = get_str(&r);
    char *base = get_str(&r);
    if (base) {
        if (strlen(base) >= sizeof(rec->base_version))
            r.bad = 1;
        else
            snprintf(rec->base_version, sizeof(rec->base_version), "%s", base);
        free(base);
    }
    const unsigned char *side = take(&r, 1);
    rec->base_side = side ? *side : 0;
    if (r.bad || !rec->ino || !rec->path || !rec->staging || !rec->staging[0] ||
        strchr(rec->staging, '/')) {
        mpfs_journal_rec_clear(rec);
        return -EINVAL;
    }
    return 0;
}

void mpfs_journal_rec_clear(struct mpfs_journal_rec *rec)
{
    free(rec->path);
    free(rec->staging);
    free(rec->conflict_path);
    memset(rec, 0, sizeof(*rec));
}

int mpfs_journal_put(struct mpfs_index *idx, const struct mpfs_journal_rec *rec)
{
    char small[1024];
    size_t need = mpfs_journal_encode(rec, small, sizeof(small));
    if (need <= sizeof(small))
        return mpfs_index_journal_put(idx, rec->ino, small, need);
    char *big = mpfs_xmalloc(need);
    mpfs_journal_encode(rec, big, need);
    int rc = mpfs_index_journal_put(idx, rec->ino, big, need);
    free(big);
    return rc;
}

int mpfs_journal_del(struct mpfs_index *idx, uint64_t ino)
{
    return mpfs_index_journal_del(idx, ino);
}

struct each_ctx {
    mpfs_journal_fn fn;
    void *arg;
};

static int each_one(void *arg, uint64_t id, const void *v, size_t len)
{
    struct each_ctx *c = arg;
    struct mpfs_journal_rec rec;
    if (mpfs_journal_decode(v, len, &rec) < 0 || rec.ino != id) {
        mpfs_error("journal: record %llu is unreadable; skipped (its staging file, if any, "
                   "is rescued to lost+found)", (unsigned long long)id);
        mpfs_journal_rec_clear(&rec);
        return 0;
    }
    int rc = c->fn(c->arg, &rec);
    mpfs_journal_rec_clear(&rec);
    return rc;
}

int mpfs_journal_each(struct mpfs_index *idx, mpfs_journal_fn fn, void *arg)
{
    struct each_ctx c = {fn, arg};
    return mpfs_index_journal_list(idx, each_one, &c);
}

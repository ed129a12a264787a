/*
 * record_codec.c - see record_codec.h.
 */
#include "consistency/record_codec.h"

#include "base/util.h"

#include <stdlib.h>
#include <string.h>

void mpfs_wbuf_bytes(struct mpfs_wbuf *w, const void *v, size_t n)
{
    if (w->len + n <= w->cap)
        memcpy(w->p + w->len, v, n);
    w->len += n;
}

/* n little-endian bytes of v */
static void put_le(struct mpfs_wbuf *w, uint64_t v, int n)
{
    unsigned char b[8];
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    mpfs_wbuf_bytes(w, b, (size_t)n);
}

void mpfs_wbuf_u64(struct mpfs_wbuf *w, uint64_t v)
{
    put_le(w, v, 8);
}

void mpfs_wbuf_u32(struct mpfs_wbuf *w, uint32_t v)
{
    put_le(w, v, 4);
}

void mpfs_wbuf_str(struct mpfs_wbuf *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    mpfs_wbuf_u32(w, (uint32_t)n);
    mpfs_wbuf_bytes(w, s ? s : "", n);
}

const unsigned char *mpfs_rbuf_take(struct mpfs_rbuf *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->p + r->off;
    r->off += n;
    return p;
}

/* n little-endian bytes; 0 past the end */
static uint64_t get_le(struct mpfs_rbuf *r, int n)
{
    const unsigned char *p = mpfs_rbuf_take(r, (size_t)n);
    uint64_t v = 0;
    for (int i = n - 1; p && i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t mpfs_rbuf_u64(struct mpfs_rbuf *r)
{
    return get_le(r, 8);
}

uint32_t mpfs_rbuf_u32(struct mpfs_rbuf *r)
{
    return (uint32_t)get_le(r, 4);
}

char *mpfs_rbuf_str(struct mpfs_rbuf *r)
{
    uint32_t n = mpfs_rbuf_u32(r);
    const unsigned char *p = mpfs_rbuf_take(r, n);
    if (!p)
        return NULL;
    char *s = mpfs_xmalloc((size_t)n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

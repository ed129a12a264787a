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

void mpfs_wbuf_u64(struct mpfs_wbuf *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    mpfs_wbuf_bytes(w, b, 8);
}

void mpfs_wbuf_u32(struct mpfs_wbuf *w, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    mpfs_wbuf_bytes(w, b, 4);
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

uint64_t mpfs_rbuf_u64(struct mpfs_rbuf *r)
{
    const unsigned char *p = mpfs_rbuf_take(r, 8);
    uint64_t v = 0;
    for (int i = 7; p && i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint32_t mpfs_rbuf_u32(struct mpfs_rbuf *r)
{
    const unsigned char *p = mpfs_rbuf_take(r, 4);
    uint32_t v = 0;
    for (int i = 3; p && i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
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

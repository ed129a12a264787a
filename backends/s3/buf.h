/*
 * buf.h - a growable byte buffer for response bodies and header arenas.
 *
 * Reused across requests (reset keeps the allocation), so the steady state
 * allocates nothing.  Single-owner: no locking.
 */
#ifndef MPFS_BACKENDS_S3_BUF_H
#define MPFS_BACKENDS_S3_BUF_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct mpfs_s3_buf {
    char *p;
    size_t len, cap;
};

/* Make room for n more bytes (plus a NUL the users rely on). */
static inline void mpfs_s3_buf_reserve(struct mpfs_s3_buf *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        b->p = mpfs_xrealloc(b->p, cap);
        b->cap = cap;
    }
}

static inline void mpfs_s3_buf_add(struct mpfs_s3_buf *b, const void *p, size_t n)
{
    mpfs_s3_buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void mpfs_s3_buf_adds(struct mpfs_s3_buf *b, const char *s)
{
    mpfs_s3_buf_add(b, s, strlen(s));
}

static inline void mpfs_s3_buf_reset(struct mpfs_s3_buf *b)
{
    b->len = 0;
    if (b->p) {
        b->p[0] = '\0';
    }
}

static inline void mpfs_s3_buf_free(struct mpfs_s3_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

#endif

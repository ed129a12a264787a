/*
 * record_codec.h - the byte encoding of the records the consistency layer
 * keeps synced in the index (journal.c, upload.c): little-endian integers
 * and length-prefixed strings, written into a caller's buffer that may be
 * too small (the length needed is counted anyway, so the caller can retry
 * with a buffer of that size), read with a sticky "bad" flag instead of a
 * check after every field.
 *
 * Stateless; no locking.
 */
#ifndef MPFS_CONSISTENCY_RECORD_CODEC_H
#define MPFS_CONSISTENCY_RECORD_CODEC_H

#include <stddef.h>
#include <stdint.h>

struct mpfs_wbuf {
    char *p;
    size_t len, cap; /* len counts past cap: the size needed */
};

void mpfs_wbuf_bytes(struct mpfs_wbuf *w, const void *v, size_t n);
void mpfs_wbuf_u64(struct mpfs_wbuf *w, uint64_t v);
void mpfs_wbuf_u32(struct mpfs_wbuf *w, uint32_t v);
/* u32 length + bytes; NULL is written as "". */
void mpfs_wbuf_str(struct mpfs_wbuf *w, const char *s);

struct mpfs_rbuf {
    const unsigned char *p;
    size_t len, off;
    int bad; /* set by the first read past the end; later reads return 0/NULL */
};

const unsigned char *mpfs_rbuf_take(struct mpfs_rbuf *r, size_t n);
uint64_t mpfs_rbuf_u64(struct mpfs_rbuf *r);
uint32_t mpfs_rbuf_u32(struct mpfs_rbuf *r);
/* A malloc'd NUL-terminated copy, or NULL (and bad) past the end. */
char *mpfs_rbuf_str(struct mpfs_rbuf *r);

#endif

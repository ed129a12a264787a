/*
 * codec.h - the on-disk key and value encodings of the index (internal).
 *
 * Pure functions, no RocksDB: they are unit-tested on their own and are the
 * single place where the layout documented in docs/INDEX.md lives.
 *
 * Keys start with a one-byte table tag and carry integers big-endian and
 * fixed width, so RocksDB's bytewise order groups a directory's entries
 * together in name order:
 *   'M' + ascii name                    meta (schema, ino mark, root)
 *   'E' + parent(8 BE) + name           entry record
 *   'R' + ino(8 BE) + parent(8 BE) + name   reverse map, one key per link
 *   'D' + ino(8 BE)                     directory state
 *   'J' + id(8 BE)                      write-back journal record (opaque)
 * Values start with a format byte, then little-endian fixed-width fields.
 */
#ifndef MPFS_INDEX_CODEC_H
#define MPFS_INDEX_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "index/index.h"

/* Bump when keys or the meaning of a record change incompatibly: an index
 * of another schema is wiped at open.  Appending fields to a record does
 * not need a bump (see MPFS_INDEX_ENTRY_FIXED). */
#define MPFS_INDEX_SCHEMA 1

#define MPFS_INDEX_TAG_META 'M'
#define MPFS_INDEX_TAG_ENTRY 'E'
#define MPFS_INDEX_TAG_REV 'R'
#define MPFS_INDEX_TAG_DIR 'D'
#define MPFS_INDEX_TAG_JOURNAL 'J'
#define MPFS_INDEX_TAG_UPLOAD 'U'

#define MPFS_INDEX_META_SCHEMA "Mschema"
#define MPFS_INDEX_META_HWM "Mino_hwm"
#define MPFS_INDEX_META_ROOT "Mroot"

#define MPFS_INDEX_FMT_ENTRY_V1 1
#define MPFS_INDEX_FMT_REV_V1 1
#define MPFS_INDEX_FMT_DIR_V1 1

/* Encoded entry record: fixed part, then version_len bytes of token. */
#define MPFS_INDEX_ENTRY_FIXED 80
#define MPFS_INDEX_ENTRY_MAX (MPFS_INDEX_ENTRY_FIXED + MPFS_INDEX_VERSION_MAX)
#define MPFS_INDEX_DIR_LEN 17
#define MPFS_INDEX_REV_LEN 1

/* Key buffers big enough for any key. */
#define MPFS_INDEX_PREFIX_LEN 9 /* tag + one u64 */
#define MPFS_INDEX_KEY_MAX (1 + 8 + 8 + MPFS_INDEX_NAME_MAX)

static inline void mpfs_index_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static inline uint64_t mpfs_index_get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* 0, -EINVAL (empty) or -ENAMETOOLONG; *len set on success. */
int mpfs_index_name_check(const char *name, size_t *len);

/* Key builders; each returns the key length.  buf holds
 * MPFS_INDEX_KEY_MAX bytes. */
size_t mpfs_index_key_prefix(char *buf, char tag, uint64_t id);
size_t mpfs_index_key_entry(char *buf, uint64_t parent, const char *name,
                            size_t namelen);
size_t mpfs_index_key_rev(char *buf, uint64_t ino, uint64_t parent,
                          const char *name, size_t namelen);

/* Values.  enc returns the length written (buf holds
 * MPFS_INDEX_ENTRY_MAX); dec returns 0 or -EUCLEAN for a record it cannot
 * read (unknown format, short, bad length). */
size_t mpfs_index_enc_entry(char *buf, const struct mpfs_index_entry *e);
int mpfs_index_dec_entry(const char *buf, size_t len,
                         struct mpfs_index_entry *e);
size_t mpfs_index_enc_dir(char *buf, const struct mpfs_index_dir *d);
int mpfs_index_dec_dir(const char *buf, size_t len, struct mpfs_index_dir *d);
/* Meta integers: little-endian, exact width. */
void mpfs_index_enc_u64(char *buf, uint64_t v);
int mpfs_index_dec_u64(const char *buf, size_t len, uint64_t *v);
void mpfs_index_enc_u32(char *buf, uint32_t v);
int mpfs_index_dec_u32(const char *buf, size_t len, uint32_t *v);

#endif

/*
 * codec.c - see codec.h.  Little-endian value fields are written byte by
 * byte so the layout does not depend on the host.
 */
#include "index/codec.h"

#include <errno.h>
#include <string.h>

static void put_le(unsigned char *p, uint64_t v, int width)
{
    for (int i = 0; i < width; i++) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_le(const unsigned char *p, int width)
{
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

int mpfs_index_name_check(const char *name, size_t *len)
{
    if (name == NULL || name[0] == '\0') {
        return -EINVAL;
    }
    size_t n = strnlen(name, MPFS_INDEX_NAME_MAX + 1);
    if (n > MPFS_INDEX_NAME_MAX) {
        return -ENAMETOOLONG;
    }
    *len = n;
    return 0;
}

size_t mpfs_index_key_prefix(char *buf, char tag, uint64_t id)
{
    buf[0] = tag;
    mpfs_index_be64((unsigned char *)buf + 1, id);
    return MPFS_INDEX_PREFIX_LEN;
}

size_t mpfs_index_key_entry(char *buf, uint64_t parent, const char *name,
                            size_t namelen)
{
    size_t n = mpfs_index_key_prefix(buf, MPFS_INDEX_TAG_ENTRY, parent);
    memcpy(buf + n, name, namelen);
    return n + namelen;
}

size_t mpfs_index_key_rev(char *buf, uint64_t ino, uint64_t parent,
                          const char *name, size_t namelen)
{
    size_t n = mpfs_index_key_prefix(buf, MPFS_INDEX_TAG_REV, ino);
    mpfs_index_be64((unsigned char *)buf + n, parent);
    n += 8;
    memcpy(buf + n, name, namelen);
    return n + namelen;
}

/* Field offsets of the entry record, format 1 (docs/INDEX.md). */
enum {
    OFF_FMT = 0,
    OFF_INO = 1,
    OFF_MODE = 9,
    OFF_UID = 13,
    OFF_GID = 17,
    OFF_NLINK = 21,
    OFF_SIZE = 25,
    OFF_MTIME = 33,
    OFF_CTIME = 41,
    OFF_ATIME = 49,
    OFF_FILEID = 57,
    OFF_VALID = 65,
    OFF_SOURCE = 69,
    OFF_FLAGS = 70,
    OFF_SEEN = 71,
    OFF_VLEN = 79,
    OFF_VERSION = 80,
};
_Static_assert(OFF_VERSION == MPFS_INDEX_ENTRY_FIXED, "entry layout");

size_t mpfs_index_enc_entry(char *buf, const struct mpfs_index_entry *e)
{
    unsigned char *p = (unsigned char *)buf;
    size_t vlen = strnlen(e->version, MPFS_INDEX_VERSION_MAX - 1);

    p[OFF_FMT] = MPFS_INDEX_FMT_ENTRY_V1;
    put_le(p + OFF_INO, e->ino, 8);
    put_le(p + OFF_MODE, e->mode, 4);
    put_le(p + OFF_UID, e->uid, 4);
    put_le(p + OFF_GID, e->gid, 4);
    put_le(p + OFF_NLINK, e->nlink, 4);
    put_le(p + OFF_SIZE, e->size, 8);
    put_le(p + OFF_MTIME, (uint64_t)e->mtime_ns, 8);
    put_le(p + OFF_CTIME, (uint64_t)e->ctime_ns, 8);
    put_le(p + OFF_ATIME, (uint64_t)e->atime_ns, 8);
    put_le(p + OFF_FILEID, e->fileid, 8);
    put_le(p + OFF_VALID, e->attr_valid, 4);
    p[OFF_SOURCE] = e->source;
    p[OFF_FLAGS] = e->flags;
    put_le(p + OFF_SEEN, (uint64_t)e->seen_ns, 8);
    p[OFF_VLEN] = (unsigned char)vlen;
    memcpy(p + OFF_VERSION, e->version, vlen);
    return OFF_VERSION + vlen;
}

int mpfs_index_dec_entry(const char *buf, size_t len,
                         struct mpfs_index_entry *e)
{
    const unsigned char *p = (const unsigned char *)buf;

    if (len < MPFS_INDEX_ENTRY_FIXED || p[OFF_FMT] != MPFS_INDEX_FMT_ENTRY_V1) {
        return -EUCLEAN;
    }
    size_t vlen = p[OFF_VLEN];
    /* Bytes past the token are fields a newer writer appended: ignored. */
    if (vlen >= MPFS_INDEX_VERSION_MAX || OFF_VERSION + vlen > len) {
        return -EUCLEAN;
    }
    e->ino = get_le(p + OFF_INO, 8);
    e->mode = (uint32_t)get_le(p + OFF_MODE, 4);
    e->uid = (uint32_t)get_le(p + OFF_UID, 4);
    e->gid = (uint32_t)get_le(p + OFF_GID, 4);
    e->nlink = (uint32_t)get_le(p + OFF_NLINK, 4);
    e->size = get_le(p + OFF_SIZE, 8);
    e->mtime_ns = (int64_t)get_le(p + OFF_MTIME, 8);
    e->ctime_ns = (int64_t)get_le(p + OFF_CTIME, 8);
    e->atime_ns = (int64_t)get_le(p + OFF_ATIME, 8);
    e->fileid = get_le(p + OFF_FILEID, 8);
    e->attr_valid = (uint32_t)get_le(p + OFF_VALID, 4);
    e->source = p[OFF_SOURCE];
    e->flags = p[OFF_FLAGS];
    e->seen_ns = (int64_t)get_le(p + OFF_SEEN, 8);
    memcpy(e->version, p + OFF_VERSION, vlen);
    e->version[vlen] = '\0';
    return 0;
}

size_t mpfs_index_enc_dir(char *buf, const struct mpfs_index_dir *d)
{
    unsigned char *p = (unsigned char *)buf;
    p[0] = MPFS_INDEX_FMT_DIR_V1;
    put_le(p + 1, (uint64_t)d->listed_ns, 8);
    put_le(p + 9, d->entries, 8);
    return MPFS_INDEX_DIR_LEN;
}

int mpfs_index_dec_dir(const char *buf, size_t len, struct mpfs_index_dir *d)
{
    const unsigned char *p = (const unsigned char *)buf;
    if (len < MPFS_INDEX_DIR_LEN || p[0] != MPFS_INDEX_FMT_DIR_V1) {
        return -EUCLEAN;
    }
    d->listed_ns = (int64_t)get_le(p + 1, 8);
    d->entries = get_le(p + 9, 8);
    return 0;
}

void mpfs_index_enc_u64(char *buf, uint64_t v)
{
    put_le((unsigned char *)buf, v, 8);
}

int mpfs_index_dec_u64(const char *buf, size_t len, uint64_t *v)
{
    if (len != 8) {
        return -EUCLEAN;
    }
    *v = get_le((const unsigned char *)buf, 8);
    return 0;
}

void mpfs_index_enc_u32(char *buf, uint32_t v)
{
    put_le((unsigned char *)buf, v, 4);
}

int mpfs_index_dec_u32(const char *buf, size_t len, uint32_t *v)
{
    if (len != 4) {
        return -EUCLEAN;
    }
    *v = (uint32_t)get_le((const unsigned char *)buf, 4);
    return 0;
}

/*
 * nfs_attr.c - NFSv3 attributes (fattr3 as libnfs flattens them) to
 * struct mpfs_attr, and the version token.
 *
 * NFSv3 has no change attribute, so the token is (mtime, ctime, size) in
 * nanoseconds: a rewrite moves mtime and ctime, a SETATTR moves ctime, a
 * truncate moves size; two versions with equal tokens are the same bytes
 * unless a writer set mtime back and the server's ctime granularity hid
 * the change (the same trade-off the kernel client makes).
 *
 * Pure functions; no state.
 */
#include "backends/nfs/nfs_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ftype3 (RFC 1813 2.5) */
enum {
    NF3_REG = 1,
    NF3_DIR = 2,
    NF3_BLK = 3,
    NF3_CHR = 4,
    NF3_LNK = 5,
    NF3_SOCK = 6,
    NF3_FIFO = 7,
};

void mpfs_nfs_version_format(char *buf, size_t size, int64_t mtime_ns, int64_t ctime_ns,
                             uint64_t fsize)
{
    snprintf(buf, size, "m%" PRId64 ".c%" PRId64 ".s%" PRIu64, mtime_ns, ctime_ns, fsize);
}

static uint32_t type_bits(uint32_t type, uint32_t mode)
{
    switch (type) {
    case NF3_REG:
        return S_IFREG;
    case NF3_DIR:
        return S_IFDIR;
    case NF3_BLK:
        return S_IFBLK;
    case NF3_CHR:
        return S_IFCHR;
    case NF3_LNK:
        return S_IFLNK;
    case NF3_SOCK:
        return S_IFSOCK;
    case NF3_FIFO:
        return S_IFIFO;
    default:
        /* No (or an unknown) type: trust the S_IFMT bits if any, else
         * call it a file rather than invent a directory. */
        return (mode & S_IFMT) ? (mode & S_IFMT) : S_IFREG;
    }
}

void mpfs_nfs_attr_fill(const struct mpfs_nfs_rawattr *r, struct mpfs_attr *out)
{
    memset(out, 0, sizeof(*out));
    out->mode = type_bits(r->type, r->mode) | (r->mode & 07777);
    out->uid = r->uid;
    out->gid = r->gid;
    out->nlink = r->nlink;
    out->size = r->size;
    out->mtime_ns = r->mtime_ns;
    out->ctime_ns = r->ctime_ns;
    out->atime_ns = r->atime_ns;
    out->fileid = r->fileid;
    out->rdev = (S_ISCHR(out->mode) || S_ISBLK(out->mode)) ? r->rdev : 0;
    out->valid = MPFS_ATTR_MODE | MPFS_ATTR_OWNER | MPFS_ATTR_MTIME;
    mpfs_nfs_version_format(out->version, sizeof(out->version), r->mtime_ns, r->ctime_ns,
                            r->size);
}

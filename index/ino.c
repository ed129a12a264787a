/*
 * ino.c - the persistent inode allocator and the root entry.
 *
 * Inode numbers must stay unique for the life of the index, also across a
 * crash, or the kernel and the fs layer could confuse two files.  Handing
 * out a number is one atomic add on ino_next; every MPFS_INDEX_INO_BATCH
 * numbers the slow path (under ino_lock) raises the high-water mark
 * M/ino_hwm with a synced write *before* any number of the new range is
 * returned.  After a crash the allocator restarts at the persisted mark,
 * above everything handed out; at most one batch of numbers is skipped.  A
 * clean close persists the exact next number, so remounts skip nothing.
 *
 * Locking: ino_lock only around the slow path and the close-time save;
 * ino_reserved is read without it (it only grows, and is stored after the
 * mark that covers it is durable).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "index/index_int.h"

static int hwm_write(struct mpfs_index *idx, uint64_t v)
{
    char buf[8];
    char *rerr = NULL;

    mpfs_index_enc_u64(buf, v);
    rocksdb_put(idx->db, idx->wopts_sync, MPFS_INDEX_META_HWM,
                strlen(MPFS_INDEX_META_HWM), buf, sizeof(buf), &rerr);
    return mpfs_index_fail(idx, rerr, "persist inode high-water mark");
}

int mpfs_index_ino_load(struct mpfs_index *idx)
{
    char buf[16];
    size_t len = 0;
    uint64_t v;
    int rc =
        mpfs_index_raw_get(idx, NULL, MPFS_INDEX_META_HWM,
                           strlen(MPFS_INDEX_META_HWM), buf, sizeof(buf), &len);
    if (rc != 0) {
        return rc;
    }
    if (mpfs_index_dec_u64(buf, len, &v) != 0 || v <= MPFS_INDEX_ROOT_INO) {
        return -EUCLEAN;
    }
    atomic_store(&idx->ino_next, v);
    atomic_store(&idx->ino_reserved, v);
    return 0;
}

int mpfs_index_ino_save(struct mpfs_index *idx)
{
    pthread_mutex_lock(&idx->ino_lock);
    /* Every number handed out is below ino_next. */
    int rc = hwm_write(idx, atomic_load(&idx->ino_next));
    if (rc == 0) {
        atomic_store(&idx->ino_reserved, atomic_load(&idx->ino_next));
    }
    pthread_mutex_unlock(&idx->ino_lock);
    return rc;
}

uint64_t mpfs_index_alloc_ino(struct mpfs_index *idx)
{
    uint64_t n = atomic_fetch_add(&idx->ino_next, 1);

    if (n < atomic_load(&idx->ino_reserved)) {
        return n;
    }
    pthread_mutex_lock(&idx->ino_lock);
    uint64_t reserved = atomic_load(&idx->ino_reserved);
    if (n >= reserved) {
        /* Cover n and the numbers racing threads took beyond it. */
        uint64_t want =
            MPFS_MAX(n + 1, atomic_load(&idx->ino_next)) + MPFS_INDEX_INO_BATCH;
        if (hwm_write(idx, want) != 0) {
            pthread_mutex_unlock(&idx->ino_lock);
            /* n is burnt, never handed out: still no reuse. */
            return 0;
        }
        atomic_store(&idx->ino_reserved, want);
    }
    pthread_mutex_unlock(&idx->ino_lock);
    return n;
}

static const char root_key[] = MPFS_INDEX_META_ROOT;

static int root_write(struct mpfs_index *idx, const struct mpfs_index_entry *e)
{
    char buf[MPFS_INDEX_ENTRY_MAX];
    struct mpfs_index_entry r = *e;
    char *rerr = NULL;

    r.ino = MPFS_INDEX_ROOT_INO;
    size_t len = mpfs_index_enc_entry(buf, &r);
    rocksdb_put(idx->db, idx->wopts, root_key, strlen(root_key), buf, len,
                &rerr);
    return mpfs_index_fail(idx, rerr, "put root");
}

int mpfs_index_root(struct mpfs_index *idx, struct mpfs_index_entry *out)
{
    char buf[MPFS_INDEX_ENTRY_MAX];
    size_t len = 0;
    int rc = mpfs_index_raw_get(idx, NULL, root_key, strlen(root_key), buf,
                                sizeof(buf), &len);
    if (rc == 0) {
        rc = mpfs_index_dec_entry(buf, MPFS_MIN(len, sizeof(buf)), out);
        if (rc == 0) {
            return 0;
        }
        mpfs_warn("index %s: unreadable root record: recreating it", idx->dir);
    } else if (rc != -ENOENT) {
        return rc;
    }

    int64_t now = mpfs_wall_ns();
    memset(out, 0, sizeof(*out));
    out->ino = MPFS_INDEX_ROOT_INO;
    out->mode = S_IFDIR | 0755;
    out->uid = (uint32_t)getuid();
    out->gid = (uint32_t)getgid();
    out->nlink = 2;
    out->mtime_ns = out->ctime_ns = out->atime_ns = now;
    return root_write(idx, out);
}

int mpfs_index_put_root(struct mpfs_index *idx,
                        const struct mpfs_index_entry *e)
{
    return root_write(idx, e);
}

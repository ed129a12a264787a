/*
 * journal.c - the write-back journal's table in the index ('J' keys), and
 * the progress of its multipart uploads ('U' keys).
 *
 * The index stores journal records as opaque byte strings keyed by a
 * 64-bit id (the inode of the staged file): consistency/journal.c owns
 * their meaning.  Unlike the rest of the index, which is a cache of remote
 * truth and may lose its last writes in a power cut, a journal record is
 * the only thing that names a staged file's path and base version, so
 * every journal write is synced to the WAL before it returns.
 *
 * Locking: none of our own.  Puts and deletes of one id come from one
 * owner (the node's write lock serializes them), and RocksDB's point
 * writes and iterators are thread-safe.
 */
#include "index/index_int.h"

#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The journal ('J') and upload ('U') tables store opaque records by id,
 * synced. */
static int record_put(struct mpfs_index *idx, char tag, uint64_t id, const void *rec, size_t len)
{
    char key[MPFS_INDEX_PREFIX_LEN];
    char *rerr = NULL;
    if (id == 0 || len == 0)
        return -EINVAL;
    size_t klen = mpfs_index_key_prefix(key, tag, id);
    rocksdb_put(idx->db, idx->wopts_sync, key, klen, rec, len, &rerr);
    return mpfs_index_fail(idx, rerr, tag == MPFS_INDEX_TAG_JOURNAL ? "put journal record"
                                                                    : "put upload record");
}

static int record_del(struct mpfs_index *idx, char tag, uint64_t id)
{
    char key[MPFS_INDEX_PREFIX_LEN];
    char *rerr = NULL;
    size_t klen = mpfs_index_key_prefix(key, tag, id);
    rocksdb_delete(idx->db, idx->wopts_sync, key, klen, &rerr);
    return mpfs_index_fail(idx, rerr, tag == MPFS_INDEX_TAG_JOURNAL ? "delete journal record"
                                                                    : "delete upload record");
}

int mpfs_index_journal_put(struct mpfs_index *idx, uint64_t id, const void *rec, size_t len)
{
    return record_put(idx, MPFS_INDEX_TAG_JOURNAL, id, rec, len);
}

int mpfs_index_journal_del(struct mpfs_index *idx, uint64_t id)
{
    return record_del(idx, MPFS_INDEX_TAG_JOURNAL, id);
}

int mpfs_index_upload_put(struct mpfs_index *idx, uint64_t id, const void *rec, size_t len)
{
    return record_put(idx, MPFS_INDEX_TAG_UPLOAD, id, rec, len);
}

int mpfs_index_upload_del(struct mpfs_index *idx, uint64_t id)
{
    return record_del(idx, MPFS_INDEX_TAG_UPLOAD, id);
}

int mpfs_index_upload_get(struct mpfs_index *idx, uint64_t id, char **rec, size_t *len)
{
    char key[MPFS_INDEX_PREFIX_LEN];
    char *rerr = NULL;
    size_t klen = mpfs_index_key_prefix(key, MPFS_INDEX_TAG_UPLOAD, id);
    char *v = rocksdb_get(idx->db, idx->ropts, key, klen, len, &rerr);
    int rc = mpfs_index_fail(idx, rerr, "get upload record");
    *rec = NULL;
    if (rc == 0 && !v)
        rc = -ENOENT;
    if (rc == 0) {
        *rec = mpfs_xmalloc(*len ? *len : 1);
        memcpy(*rec, v, *len);
    }
    rocksdb_free(v);
    return rc;
}

int mpfs_index_journal_list(struct mpfs_index *idx, mpfs_index_journal_fn fn, void *arg)
{
    char lower[1] = {MPFS_INDEX_TAG_JOURNAL};
    char upper[1] = {MPFS_INDEX_TAG_JOURNAL + 1};
    char *rerr = NULL;
    int rc = 0;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, upper, sizeof(upper));
    rocksdb_iterator_t *it = rocksdb_create_iterator(idx->db, ro);
    for (rocksdb_iter_seek(it, lower, sizeof(lower)); rocksdb_iter_valid(it) && rc == 0;
         rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        if (klen != MPFS_INDEX_PREFIX_LEN)
            continue;
        rc = fn(arg, mpfs_index_get_be64((const unsigned char *)k + 1), v, vlen);
    }
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    int erc = mpfs_index_fail(idx, rerr, "list journal");
    return erc ? erc : rc;
}

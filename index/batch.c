/*
 * batch.c - many index changes applied atomically, and listing replacement.
 *
 * Operations are only recorded by put/del/dir_put (in an array, names in
 * one arena) and applied at commit, under wlock, into a RocksDB
 * WriteBatchWithIndex.  Reading the old value of a key "through the batch
 * and then the DB" makes a later operation on the same name see an earlier
 * one of the same batch, so the reverse keys stay right whatever the order.
 *
 * Replacement (batch_dir_put): after the recorded operations, the
 * directory's current entries are scanned from the DB; each one the batch
 * does not put is deleted with its reverse key, except entries created
 * locally and not uploaded yet (source MPFS_INDEX_SRC_LOCAL), which no
 * remote listing can contain, and entries confirmed (seen_ns) after the
 * listing's listed_ns: a local commit that raced the listing.  The whole result is one write: a crash
 * leaves either the old listing or the new one.
 *
 * A batch belongs to one thread; wlock is held only inside commit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "index/index_int.h"

enum op_kind {
    OP_PUT,
    OP_DEL,
    OP_DIR,
};

struct batch_op {
    enum op_kind kind;
    uint64_t id; /* parent (put, del) or directory inode (dir) */
    size_t name_off;
    size_t name_len;
    union {
        struct mpfs_index_entry e;
        struct mpfs_index_dir d;
    } u;
};

struct mpfs_index_batch {
    struct mpfs_index *idx;
    struct batch_op *ops;
    size_t nops, cap;
    char *names; /* arena of the ops' names, not NUL-terminated */
    size_t names_len, names_cap;
    int err; /* first argument error: commit fails with it */
};

static const char rev_value[MPFS_INDEX_REV_LEN] = {MPFS_INDEX_FMT_REV_V1};

struct mpfs_index_batch *mpfs_index_batch_new(struct mpfs_index *idx)
{
    struct mpfs_index_batch *b = mpfs_xcalloc(1, sizeof(*b));
    b->idx = idx;
    return b;
}

void mpfs_index_batch_free(struct mpfs_index_batch *b)
{
    if (b == NULL) {
        return;
    }
    free(b->ops);
    free(b->names);
    free(b);
}

static struct batch_op *add_op(struct mpfs_index_batch *b, enum op_kind kind,
                               uint64_t id, const char *name, size_t namelen)
{
    if (b->nops == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->ops = mpfs_xrealloc(b->ops, b->cap * sizeof(*b->ops));
    }
    if (b->names_len + namelen > b->names_cap) {
        b->names_cap =
            MPFS_MAX(b->names_cap * 2, b->names_len + namelen + 4096);
        b->names = mpfs_xrealloc(b->names, b->names_cap);
    }
    struct batch_op *op = &b->ops[b->nops++];
    op->kind = kind;
    op->id = id;
    op->name_off = b->names_len;
    op->name_len = namelen;
    if (namelen > 0) {
        memcpy(b->names + b->names_len, name, namelen);
    }
    b->names_len += namelen;
    return op;
}

static int check_entry_args(uint64_t parent, const char *name, size_t *len)
{
    if (parent == 0) {
        return -EINVAL;
    }
    return mpfs_index_name_check(name, len);
}

void mpfs_index_batch_put(struct mpfs_index_batch *b, uint64_t parent,
                          const char *name, const struct mpfs_index_entry *e)
{
    size_t len;
    int rc = check_entry_args(parent, name, &len);

    if (rc == 0 && e->ino == 0) {
        rc = -EINVAL;
    }
    if (rc != 0) {
        if (b->err == 0) {
            b->err = rc;
        }
        return;
    }
    add_op(b, OP_PUT, parent, name, len)->u.e = *e;
}

void mpfs_index_batch_del(struct mpfs_index_batch *b, uint64_t parent,
                          const char *name)
{
    size_t len;
    int rc = check_entry_args(parent, name, &len);

    if (rc != 0) {
        if (b->err == 0) {
            b->err = rc;
        }
        return;
    }
    add_op(b, OP_DEL, parent, name, len);
}

void mpfs_index_batch_dir_put(struct mpfs_index_batch *b, uint64_t ino,
                              const struct mpfs_index_dir *d)
{
    if (ino == 0) {
        if (b->err == 0) {
            b->err = -EINVAL;
        }
        return;
    }
    add_op(b, OP_DIR, ino, NULL, 0)->u.d = *d;
}

/* Record one put or del in wbwi, fixing reverse keys. */
static int apply_entry_op(struct mpfs_index *idx, rocksdb_writebatch_wi_t *wbwi,
                          const struct batch_op *op, const char *name)
{
    char key[MPFS_INDEX_KEY_MAX], rkey[MPFS_INDEX_KEY_MAX];
    char val[MPFS_INDEX_ENTRY_MAX];
    struct mpfs_index_entry old;
    size_t klen = mpfs_index_key_entry(key, op->id, name, op->name_len);
    int rc = mpfs_index_old_entry(idx, wbwi, key, klen, &old);

    if (rc != 0 && rc != -ENOENT && rc != -EUCLEAN) {
        return rc;
    }
    int had_old = rc == 0;
    if (op->kind == OP_PUT) {
        if (had_old && old.ino != op->u.e.ino) {
            size_t rlen =
                mpfs_index_key_rev(rkey, old.ino, op->id, name, op->name_len);
            rocksdb_writebatch_wi_delete(wbwi, rkey, rlen);
        }
        size_t vlen = mpfs_index_enc_entry(val, &op->u.e);
        rocksdb_writebatch_wi_put(wbwi, key, klen, val, vlen);
        size_t rlen =
            mpfs_index_key_rev(rkey, op->u.e.ino, op->id, name, op->name_len);
        rocksdb_writebatch_wi_put(wbwi, rkey, rlen, rev_value,
                                  sizeof(rev_value));
        return 0;
    }
    if (had_old) {
        size_t rlen =
            mpfs_index_key_rev(rkey, old.ino, op->id, name, op->name_len);
        rocksdb_writebatch_wi_delete(wbwi, rkey, rlen);
    }
    if (rc != -ENOENT) {
        rocksdb_writebatch_wi_delete(wbwi, key, klen);
    }
    return 0;
}

/* Delete every entry of directory `dir` in the DB that wbwi does not put,
 * keeping local-only ones (see the header comment). */
static int replace_listing(struct mpfs_index *idx,
                           rocksdb_writebatch_wi_t *wbwi, uint64_t dir,
                           int64_t listed_ns)
{
    char lower[MPFS_INDEX_PREFIX_LEN], upper[MPFS_INDEX_PREFIX_LEN + 1];
    char rkey[MPFS_INDEX_KEY_MAX];
    struct mpfs_index_entry old;
    size_t upper_len;
    char *rerr = NULL;
    int rc = 0;

    mpfs_index_key_prefix(lower, MPFS_INDEX_TAG_ENTRY, dir);
    if (dir == UINT64_MAX) {
        upper[0] = MPFS_INDEX_TAG_ENTRY + 1;
        upper_len = 1;
    } else {
        upper_len = mpfs_index_key_prefix(upper, MPFS_INDEX_TAG_ENTRY, dir + 1);
    }
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, upper, upper_len);
    rocksdb_iterator_t *it = rocksdb_create_iterator(idx->db, ro);

    for (rocksdb_iter_seek(it, lower, sizeof(lower)); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t klen, vlen, blen;
        const char *k = rocksdb_iter_key(it, &klen);
        char *inbatch = rocksdb_writebatch_wi_get_from_batch(
            wbwi, idx->opts, k, klen, &blen, &rerr);
        if (rerr != NULL) {
            break;
        }
        if (inbatch != NULL) {
            rocksdb_free(inbatch);
            continue;
        }
        const char *v = rocksdb_iter_value(it, &vlen);
        int readable = mpfs_index_dec_entry(v, vlen, &old) == 0;
        /* Local-only entries, and entries confirmed after the listing was
         * taken (a commit that raced the listing), are newer than it. */
        if (readable && (old.source == MPFS_INDEX_SRC_LOCAL ||
                         old.seen_ns > listed_ns)) {
            continue;
        }
        rocksdb_writebatch_wi_delete(wbwi, k, klen);
        size_t nlen = klen - MPFS_INDEX_PREFIX_LEN;
        if (readable && klen > MPFS_INDEX_PREFIX_LEN &&
            nlen <= MPFS_INDEX_NAME_MAX) {
            size_t rlen = mpfs_index_key_rev(rkey, old.ino, dir,
                                             k + MPFS_INDEX_PREFIX_LEN, nlen);
            rocksdb_writebatch_wi_delete(wbwi, rkey, rlen);
        }
    }
    if (rerr != NULL) {
        rc = mpfs_index_fail(idx, rerr, "replace listing (batch read)");
    } else {
        rocksdb_iter_get_error(it, &rerr);
        rc = mpfs_index_fail(idx, rerr, "replace listing (scan)");
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

static int already_replaced(const struct mpfs_index_batch *b, size_t i)
{
    for (size_t j = 0; j < i; j++) {
        if (b->ops[j].kind == OP_DIR && b->ops[j].id == b->ops[i].id) {
            return 1;
        }
    }
    return 0;
}

int mpfs_index_batch_commit(struct mpfs_index_batch *b)
{
    struct mpfs_index *idx = b->idx;
    char key[MPFS_INDEX_PREFIX_LEN], val[MPFS_INDEX_DIR_LEN];
    char *rerr = NULL;
    uint64_t puts = 0;
    int rc = b->err;

    if (rc != 0 || b->nops == 0) {
        goto out_free_batch;
    }
    rocksdb_writebatch_wi_t *wbwi = rocksdb_writebatch_wi_create(0, 1);
    pthread_mutex_lock(&idx->wlock);
    for (size_t i = 0; i < b->nops && rc == 0; i++) {
        struct batch_op *op = &b->ops[i];
        if (op->kind == OP_DIR) {
            size_t klen =
                mpfs_index_key_prefix(key, MPFS_INDEX_TAG_DIR, op->id);
            size_t vlen = mpfs_index_enc_dir(val, &op->u.d);
            rocksdb_writebatch_wi_put(wbwi, key, klen, val, vlen);
            continue;
        }
        rc = apply_entry_op(idx, wbwi, op, b->names + op->name_off);
        puts += op->kind == OP_PUT;
    }
    for (size_t i = 0; i < b->nops && rc == 0; i++) {
        if (b->ops[i].kind == OP_DIR && !already_replaced(b, i)) {
            rc = replace_listing(idx, wbwi, b->ops[i].id,
                                 b->ops[i].u.d.listed_ns);
        }
    }
    if (rc == 0) {
        rocksdb_write_writebatch_wi(idx->db, idx->wopts, wbwi, &rerr);
        rc = mpfs_index_fail(idx, rerr, "commit batch");
    }
    pthread_mutex_unlock(&idx->wlock);
    rocksdb_writebatch_wi_destroy(wbwi);
    if (rc == 0) {
        atomic_fetch_add_explicit(&idx->n_puts, puts, memory_order_relaxed);
    }
out_free_batch:
    mpfs_index_batch_free(b);
    return rc;
}

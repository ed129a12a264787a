/*
 * entry.c - directory entries, the reverse map, directory state.
 *
 * An entry lives at 'E' + parent + name; for each one a reverse key
 * 'R' + ino + parent + name (value: a format byte) lets the fs layer
 * rebuild a path from an inode after a remount.  Keeping the reverse key
 * in the key (not in a value per inode) gives hard links one key each, so
 * removing one link never loses the others, and deleting a link needs no
 * read of the reverse map.  put/del read the old entry to learn the inode
 * whose reverse key to drop: that read-modify-write runs under wlock.
 *
 * Listing is a prefix scan bounded above with iterate_upper_bound, so
 * RocksDB stops at the directory's last key instead of probing the next
 * one; entries come back in bytewise name order.
 *
 * Locking: see index_int.h.  Reads take no lock of ours.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "index/index_int.h"

static const char rev_value[MPFS_INDEX_REV_LEN] = {MPFS_INDEX_FMT_REV_V1};

int mpfs_index_raw_get(struct mpfs_index *idx, rocksdb_writebatch_wi_t *wbwi,
                       const char *key, size_t klen, char *buf, size_t cap,
                       size_t *len)
{
    char *rerr = NULL;
    size_t vlen = 0;

    if (wbwi != NULL) {
        char *v = rocksdb_writebatch_wi_get_from_batch_and_db(
            wbwi, idx->db, idx->ropts, key, klen, &vlen, &rerr);
        if (rerr != NULL) {
            return mpfs_index_fail(idx, rerr, "get");
        }
        if (v == NULL) {
            return -ENOENT;
        }
        memcpy(buf, v, MPFS_MIN(vlen, cap));
        rocksdb_free(v);
        *len = vlen;
        return 0;
    }

    rocksdb_pinnableslice_t *ps =
        rocksdb_get_pinned(idx->db, idx->ropts, key, klen, &rerr);
    if (rerr != NULL) {
        return mpfs_index_fail(idx, rerr, "get");
    }
    if (ps == NULL) {
        return -ENOENT;
    }
    const char *v = rocksdb_pinnableslice_value(ps, &vlen);
    memcpy(buf, v, MPFS_MIN(vlen, cap));
    rocksdb_pinnableslice_destroy(ps);
    *len = vlen;
    return 0;
}

int mpfs_index_old_entry(struct mpfs_index *idx, rocksdb_writebatch_wi_t *wbwi,
                         const char *key, size_t klen,
                         struct mpfs_index_entry *old)
{
    char buf[MPFS_INDEX_ENTRY_MAX];
    size_t len = 0;
    int rc = mpfs_index_raw_get(idx, wbwi, key, klen, buf, sizeof(buf), &len);

    if (rc != 0) {
        return rc;
    }
    return mpfs_index_dec_entry(buf, MPFS_MIN(len, sizeof(buf)), old);
}

static int check_args(uint64_t parent, const char *name, size_t *namelen)
{
    if (parent == 0) {
        return -EINVAL;
    }
    return mpfs_index_name_check(name, namelen);
}

int mpfs_index_get(struct mpfs_index *idx, uint64_t parent, const char *name,
                   struct mpfs_index_entry *out)
{
    char key[MPFS_INDEX_KEY_MAX];
    size_t namelen;
    int rc = check_args(parent, name, &namelen);

    if (rc != 0) {
        return rc;
    }
    atomic_fetch_add_explicit(&idx->n_gets, 1, memory_order_relaxed);
    size_t klen = mpfs_index_key_entry(key, parent, name, namelen);
    rc = mpfs_index_old_entry(idx, NULL, key, klen, out);
    if (rc == 0) {
        atomic_fetch_add_explicit(&idx->n_hits, 1, memory_order_relaxed);
    } else if (rc == -EUCLEAN) {
        mpfs_warn("index %s: unreadable entry %llu/%s: treating as absent",
                  idx->dir, (unsigned long long)parent, name);
        rc = -ENOENT;
    }
    return rc;
}

int mpfs_index_put(struct mpfs_index *idx, uint64_t parent, const char *name,
                   const struct mpfs_index_entry *e)
{
    char key[MPFS_INDEX_KEY_MAX], rkey[MPFS_INDEX_KEY_MAX];
    char val[MPFS_INDEX_ENTRY_MAX];
    struct mpfs_index_entry old;
    size_t namelen;
    char *rerr = NULL;
    int rc = check_args(parent, name, &namelen);

    if (rc != 0) {
        return rc;
    }
    if (e->ino == 0) {
        return -EINVAL;
    }
    size_t klen = mpfs_index_key_entry(key, parent, name, namelen);
    size_t vlen = mpfs_index_enc_entry(val, e);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();

    pthread_mutex_lock(&idx->wlock);
    rc = mpfs_index_old_entry(idx, NULL, key, klen, &old);
    if (rc == 0 && old.ino != e->ino) {
        size_t rlen = mpfs_index_key_rev(rkey, old.ino, parent, name, namelen);
        rocksdb_writebatch_delete(wb, rkey, rlen);
    } else if (rc != 0 && rc != -ENOENT && rc != -EUCLEAN) {
        goto out_unlock;
    }
    rocksdb_writebatch_put(wb, key, klen, val, vlen);
    size_t rlen = mpfs_index_key_rev(rkey, e->ino, parent, name, namelen);
    rocksdb_writebatch_put(wb, rkey, rlen, rev_value, sizeof(rev_value));
    rocksdb_write(idx->db, idx->wopts, wb, &rerr);
    rc = mpfs_index_fail(idx, rerr, "put");
    if (rc == 0) {
        atomic_fetch_add_explicit(&idx->n_puts, 1, memory_order_relaxed);
    }
out_unlock:
    pthread_mutex_unlock(&idx->wlock);
    rocksdb_writebatch_destroy(wb);
    return rc;
}

int mpfs_index_del(struct mpfs_index *idx, uint64_t parent, const char *name)
{
    char key[MPFS_INDEX_KEY_MAX], rkey[MPFS_INDEX_KEY_MAX];
    struct mpfs_index_entry old;
    size_t namelen;
    char *rerr = NULL;
    int rc = check_args(parent, name, &namelen);

    if (rc != 0) {
        return rc;
    }
    size_t klen = mpfs_index_key_entry(key, parent, name, namelen);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();

    pthread_mutex_lock(&idx->wlock);
    rc = mpfs_index_old_entry(idx, NULL, key, klen, &old);
    if (rc == 0) {
        size_t rlen = mpfs_index_key_rev(rkey, old.ino, parent, name, namelen);
        rocksdb_writebatch_delete(wb, rkey, rlen);
    } else if (rc != -EUCLEAN) {
        /* -ENOENT: nothing to delete; else a read error. */
        goto out_unlock;
    }
    rocksdb_writebatch_delete(wb, key, klen);
    rocksdb_write(idx->db, idx->wopts, wb, &rerr);
    rc = mpfs_index_fail(idx, rerr, "delete");
out_unlock:
    pthread_mutex_unlock(&idx->wlock);
    rocksdb_writebatch_destroy(wb);
    return rc;
}

/* A scan of every key starting with tag + id (9 bytes).  The bounds live
 * in the struct: RocksDB keeps a pointer to the upper bound. */
struct scan {
    char lower[MPFS_INDEX_PREFIX_LEN];
    char upper[MPFS_INDEX_PREFIX_LEN];
    size_t upper_len;
    rocksdb_readoptions_t *ropts;
    rocksdb_iterator_t *it;
};

static void scan_start(struct mpfs_index *idx, struct scan *s, char tag,
                       uint64_t id)
{
    mpfs_index_key_prefix(s->lower, tag, id);
    if (id == UINT64_MAX) {
        s->upper[0] = (char)(tag + 1);
        s->upper_len = 1;
    } else {
        s->upper_len = mpfs_index_key_prefix(s->upper, tag, id + 1);
    }
    s->ropts = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(s->ropts, s->upper,
                                                s->upper_len);
    s->it = rocksdb_create_iterator(idx->db, s->ropts);
    rocksdb_iter_seek(s->it, s->lower, sizeof(s->lower));
}

static int scan_end(struct mpfs_index *idx, struct scan *s, const char *what)
{
    char *rerr = NULL;
    rocksdb_iter_get_error(s->it, &rerr);
    rocksdb_iter_destroy(s->it);
    rocksdb_readoptions_destroy(s->ropts);
    return mpfs_index_fail(idx, rerr, what);
}

int mpfs_index_where(struct mpfs_index *idx, uint64_t ino, uint64_t *parent,
                     char *name, size_t namelen)
{
    struct scan s;
    int rc = -ENOENT;

    scan_start(idx, &s, MPFS_INDEX_TAG_REV, ino);
    for (; rocksdb_iter_valid(s.it); rocksdb_iter_next(s.it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(s.it, &klen);
        if (klen <= MPFS_INDEX_PREFIX_LEN + 8 || klen > MPFS_INDEX_KEY_MAX) {
            continue;
        }
        uint64_t p = mpfs_index_get_be64((const unsigned char *)k +
                                         MPFS_INDEX_PREFIX_LEN);
        const char *nm = k + MPFS_INDEX_PREFIX_LEN + 8;
        size_t nlen = klen - MPFS_INDEX_PREFIX_LEN - 8;

        /* Trust the entry, not the reverse key: a crash cannot split the
         * two (one batch), but a bug or old data might have. */
        char ekey[MPFS_INDEX_KEY_MAX];
        struct mpfs_index_entry e;
        size_t elen = mpfs_index_key_entry(ekey, p, nm, nlen);
        if (mpfs_index_old_entry(idx, NULL, ekey, elen, &e) != 0 ||
            e.ino != ino) {
            mpfs_debug("index %s: stale reverse key for inode %llu", idx->dir,
                       (unsigned long long)ino);
            continue;
        }
        if (nlen + 1 > namelen) {
            rc = -ERANGE;
            break;
        }
        memcpy(name, nm, nlen);
        name[nlen] = '\0';
        *parent = p;
        rc = 0;
        break;
    }
    int src = scan_end(idx, &s, "reverse lookup");
    return src != 0 ? src : rc;
}

int mpfs_index_list(struct mpfs_index *idx, uint64_t parent,
                    mpfs_index_list_fn fn, void *arg)
{
    struct scan s;
    char name[MPFS_INDEX_NAME_MAX + 1];
    struct mpfs_index_entry e;
    int rc = 0;

    scan_start(idx, &s, MPFS_INDEX_TAG_ENTRY, parent);
    for (; rocksdb_iter_valid(s.it); rocksdb_iter_next(s.it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(s.it, &klen);
        const char *v = rocksdb_iter_value(s.it, &vlen);
        size_t nlen = klen - MPFS_INDEX_PREFIX_LEN;

        if (klen <= MPFS_INDEX_PREFIX_LEN || nlen > MPFS_INDEX_NAME_MAX ||
            mpfs_index_dec_entry(v, vlen, &e) != 0) {
            /* The fs layer falls back to the backend and its listing
             * replaces this directory, bad record included. */
            mpfs_warn("index %s: unreadable entry in directory %llu", idx->dir,
                      (unsigned long long)parent);
            rc = -EUCLEAN;
            break;
        }
        memcpy(name, k + MPFS_INDEX_PREFIX_LEN, nlen);
        name[nlen] = '\0';
        rc = fn(arg, name, &e);
        if (rc != 0) {
            break;
        }
    }
    int src = scan_end(idx, &s, "list");
    return src != 0 ? src : rc;
}

int mpfs_index_dir_get(struct mpfs_index *idx, uint64_t ino,
                       struct mpfs_index_dir *out)
{
    char key[MPFS_INDEX_PREFIX_LEN], buf[MPFS_INDEX_DIR_LEN + 32];
    size_t len = 0;
    size_t klen = mpfs_index_key_prefix(key, MPFS_INDEX_TAG_DIR, ino);
    int rc = mpfs_index_raw_get(idx, NULL, key, klen, buf, sizeof(buf), &len);

    if (rc != 0) {
        return rc;
    }
    if (mpfs_index_dec_dir(buf, MPFS_MIN(len, sizeof(buf)), out) != 0) {
        mpfs_warn("index %s: unreadable state of directory %llu: ignoring it",
                  idx->dir, (unsigned long long)ino);
        return -ENOENT;
    }
    return 0;
}

int mpfs_index_dir_put(struct mpfs_index *idx, uint64_t ino,
                       const struct mpfs_index_dir *d)
{
    char key[MPFS_INDEX_PREFIX_LEN], buf[MPFS_INDEX_DIR_LEN];
    char *rerr = NULL;

    if (ino == 0) {
        return -EINVAL;
    }
    size_t klen = mpfs_index_key_prefix(key, MPFS_INDEX_TAG_DIR, ino);
    size_t vlen = mpfs_index_enc_dir(buf, d);
    rocksdb_put(idx->db, idx->wopts, key, klen, buf, vlen, &rerr);
    return mpfs_index_fail(idx, rerr, "put directory state");
}

int mpfs_index_drop_dir(struct mpfs_index *idx, uint64_t ino)
{
    char key[MPFS_INDEX_KEY_MAX];
    struct mpfs_index_entry e;
    struct scan s;
    char *rerr = NULL;
    int rc;

    if (ino == 0) {
        return -EINVAL;
    }
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    pthread_mutex_lock(&idx->wlock);
    scan_start(idx, &s, MPFS_INDEX_TAG_ENTRY, ino);
    for (; rocksdb_iter_valid(s.it); rocksdb_iter_next(s.it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(s.it, &klen);
        const char *v = rocksdb_iter_value(s.it, &vlen);
        rocksdb_writebatch_delete(wb, k, klen);
        if (klen > MPFS_INDEX_PREFIX_LEN &&
            klen - MPFS_INDEX_PREFIX_LEN <= MPFS_INDEX_NAME_MAX &&
            mpfs_index_dec_entry(v, vlen, &e) == 0) {
            size_t rlen =
                mpfs_index_key_rev(key, e.ino, ino, k + MPFS_INDEX_PREFIX_LEN,
                                   klen - MPFS_INDEX_PREFIX_LEN);
            rocksdb_writebatch_delete(wb, key, rlen);
        }
    }
    rc = scan_end(idx, &s, "scan directory to drop");
    if (rc == 0) {
        size_t klen = mpfs_index_key_prefix(key, MPFS_INDEX_TAG_DIR, ino);
        rocksdb_writebatch_delete(wb, key, klen);
        rocksdb_write(idx->db, idx->wopts, wb, &rerr);
        rc = mpfs_index_fail(idx, rerr, "drop directory");
    }
    pthread_mutex_unlock(&idx->wlock);
    rocksdb_writebatch_destroy(wb);
    return rc;
}

void mpfs_index_get_stats(struct mpfs_index *idx, struct mpfs_index_stats *out)
{
    out->gets = atomic_load_explicit(&idx->n_gets, memory_order_relaxed);
    out->puts = atomic_load_explicit(&idx->n_puts, memory_order_relaxed);
    out->hits = atomic_load_explicit(&idx->n_hits, memory_order_relaxed);
}

/*
 * lookup.c - lookup, forget and getattr: answer from the index while the
 * consistency policy says its answer is fresh, else ask the metadata side
 * and record what it said.  If the backend cannot be reached and the index
 * has an answer, the stale answer is served and a warning logged: a mount
 * that keeps working through a blip is what training jobs need.
 *
 * Locking: as meta.c.
 */
#include "base/log.h"
#include "base/util.h"
#include "cache/blockcache.h"
#include "cache/reader.h"
#include "fs/entry.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/listing.h"
#include "fs/lookup.h"
#include "fs/meta_int.h"
#include "fs/node.h"
#include "fs/reconciler.h"
#include "fs/tree.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A name looked up in a directory never listed (a loader opening sample
 * files by names it got elsewhere): index the directory's subtree with the
 * flat walk, once (one LIST per 1,000 keys, at most tree_walk_keys keys),
 * instead of a HEAD per name.  One walk at a time (concurrent lookups in
 * the same directory wait for it and then find it listed); a walk that
 * failed (too big, no flat listing) is not retried for that directory
 * while it is among the last few that failed.  Returns 1 if the
 * directory is listed now.
 *
 * Such a walk answers for the names it found, never for the names it did
 * not: a name missing from it is still asked of the store (as before),
 * because a lookup must not start the neg_ttl during which a file someone
 * just created is reported absent (only a listing the user asked for
 * does).  Its directories are recognised by their listing stamp.
 *
 * Off unless -o lookup_walk: a LIST carries no s3fs metadata, so on a
 * bucket written with it (by s3fs or by mpfs) owners, modes and symlink
 * types found by a walk would show as defaults, where a HEAD per name shows
 * them (a second mount must show the same owners: posix_conformance). */
static int walk_unlisted_parent(struct mpfs_fs *fs, uint64_t parent)
{
    if (fs->cfg.tree_walk_keys <= 0 || !fs->cfg.lookup_walk)
        return 0;
    pthread_mutex_lock(&fs->walk_lock);
    struct mpfs_index_dir d;
    int listed = mpfs_index_dir_get(fs->index, parent, &d) == 0 && d.listed_ns != 0;
    int failed = 0;
    for (size_t i = 0; i < sizeof(fs->walk_failed) / sizeof(fs->walk_failed[0]); i++)
        failed |= fs->walk_failed[i] == parent;
    if (!listed && !failed) {
        char *dpath = mpfs_node_path(fs, parent);
        int rc = dpath ? mpfs_fs_refresh_tree(fs, parent, dpath, (size_t)fs->cfg.tree_walk_keys)
                       : -ESTALE;
        free(dpath);
        listed = rc == 0 && mpfs_index_dir_get(fs->index, parent, &d) == 0 && d.listed_ns;
        if (listed)
            fs->walk_stamps[fs->walk_stamps_pos++ % 16] = d.listed_ns;
        else
            fs->walk_failed[fs->walk_failed_pos++ % 8] = parent;
    }
    pthread_mutex_unlock(&fs->walk_lock);
    return listed;
}

/* Was a listing stamped listed_ns made by walk_unlisted_parent()? */
static int walked_for_lookup(struct mpfs_fs *fs, int64_t listed_ns)
{
    int found = 0;
    pthread_mutex_lock(&fs->walk_lock);
    for (size_t i = 0; i < sizeof(fs->walk_stamps) / sizeof(fs->walk_stamps[0]); i++)
        found |= fs->walk_stamps[i] == listed_ns;
    pthread_mutex_unlock(&fs->walk_lock);
    return found;
}

/* Ask the metadata side about path for a lookup.  Where the side answers a
 * stat with the first bytes in the same request (S3: a ranged GET in place
 * of the HEAD), those bytes go to the cache as the reader of the version
 * the lookup saw looks for them (mpfs_prefetcher_put_head): a file no
 * larger than lookup_read and block_size whole, so its open, within the
 * close-to-open grace, and its read cost nothing more (a loader opening
 * files by name makes one request per file); a larger file's first
 * sub-blocks, which answer its first small read while the block is
 * fetched. */
static int stat_for_lookup(struct mpfs_fs *fs, const char *path, struct mpfs_attr *a)
{
    struct mpfs_backend *meta = mpfs_meta_side(fs);
    size_t want = (size_t)MPFS_MIN(fs->cfg.lookup_read, fs->cfg.block_size);
    if (want == 0)
        return mpfs_backend_stat(meta, path, a);
    struct mpfs_cache_buf *b = mpfs_cache_buf_new(want);
    size_t got = 0;
    int rc = mpfs_backend_stat_read(meta, path, a, mpfs_cache_buf_data(b), want, &got);
    if (rc == 0 && S_ISREG(a->mode) && got > 0)
        mpfs_prefetcher_put_head(fs->prefetch, path, a->version, a->size, b, got);
    mpfs_cache_buf_put(b);
    return rc;
}

int mpfs_vfs_lookup(struct mpfs_fs *fs, uint64_t parent, const char *name,
                    struct mpfs_entry *e)
{
    return mpfs_fs_lookup(fs, parent, name, e, 1);
}

int mpfs_fs_lookup(struct mpfs_fs *fs, uint64_t parent, const char *name, struct mpfs_entry *e,
                   int read_head)
{
    int rc = mpfs_meta_check_name(name);
    if (rc == -EINVAL)
        return -ENOENT;
    if (rc)
        return rc;
    char *path = mpfs_meta_child_path(fs, parent, name);
    if (!path)
        return -ESTALE;
    /* nothing the store can hold is there; asking it would be an error of
     * its own (radosgw: HTTP 400) */
    if (mpfs_meta_side(fs)->path_max && strlen(path) > mpfs_meta_side(fs)->path_max) {
        free(path);
        return -ENAMETOOLONG;
    }
    const struct mpfs_policy *pol = mpfs_fs_policy(fs, path);
    int64_t now = mpfs_wall_ns();
    struct mpfs_index_entry ie;
    int walked = 0;
    struct mpfs_attr a;
again:;
    int irc = mpfs_index_get(fs->index, parent, name, &ie);

    /* The index keeps one copy of a hard-linked file's attributes per name
     * (a link count changed through another name is not in this one) and no
     * device numbers: those are read from the store. */
    int per_name = irc == 0 && !S_ISDIR(ie.mode) &&
                   (ie.nlink > 1 || S_ISCHR(ie.mode) || S_ISBLK(ie.mode));
    mpfs_reconciler_touch(fs, parent);
    if (irc == 0 && (ie.source == MPFS_INDEX_SRC_LOCAL ||
                     (!per_name && mpfs_meta_attr_fresh(fs, pol, path, parent, ie.seen_ns, now)))) {
        mpfs_entry_from_index(&ie, &a);
        goto found;
    }
    if (irc == -ENOENT) {
        /* A listing the reader asked for answers "absent" for neg_ttl; the
         * reconciler's own listings do not: with them a watched directory's
         * listing is always that young, and a name created since would stay
         * hidden until the next pass (the kernel still caches the negative
         * entry for neg_ttl, so a missing name costs at most a HEAD per
         * neg_ttl, as before the reconciler). */
        struct mpfs_index_dir d;
        int have = mpfs_index_dir_get(fs->index, parent, &d) == 0;
        if (have && d.listed_ns != mpfs_reconciler_listed(fs, parent) &&
            mpfs_policy_negative_fresh(pol, d.listed_ns, now) &&
            !walked_for_lookup(fs, d.listed_ns)) {
            free(path);
            return -ENOENT;
        }
        if (!walked && (!have || d.listed_ns == 0) && walk_unlisted_parent(fs, parent)) {
            walked = 1;
            now = mpfs_wall_ns();
            goto again;
        }
    }
    rc = read_head ? stat_for_lookup(fs, path, &a) : mpfs_backend_stat(mpfs_meta_side(fs), path, &a);
    if (rc == -ENOENT) {
        if (irc == 0)
            mpfs_meta_forget_entry(fs, parent, name, &ie);
        free(path);
        return -ENOENT;
    }
    if (rc < 0) {
        if (irc == 0) {
            mpfs_warn("lookup %s: %s; serving the cached entry", path, strerror(-rc));
            mpfs_entry_from_index(&ie, &a);
            goto found;
        }
        free(path);
        return rc;
    }
    uint64_t ino;
    if (irc == 0 && !mpfs_meta_type_changed(&a, ie.mode)) {
        struct mpfs_attr old;
        mpfs_entry_from_index(&ie, &old);
        mpfs_meta_keep_richer(&a, &old);
        ino = ie.ino;
        if (!mpfs_version_same(a.version, old.version) && old.version[0])
            mpfs_meta_notify_inode(fs, ino);
    } else {
        ino = mpfs_index_alloc_ino(fs->index);
        if (!ino) {
            free(path);
            return -EIO;
        }
    }
    mpfs_fs_record(fs, ino, parent, name, &a, mpfs_source_of(fs, mpfs_meta_side(fs)));
    ie.ino = ino;
    ie.source = mpfs_source_of(fs, mpfs_meta_side(fs));
    ie.seen_ns = mpfs_wall_ns();
found:
    pthread_mutex_lock(&fs->lock);
    mpfs_node_upsert_locked(fs, ie.ino, parent, name, &a, ie.source, ie.seen_ns, 1);
    pthread_mutex_unlock(&fs->lock);
    mpfs_fill_entry(fs, ie.ino, &a, e);
    free(path);
    return 0;
}

void mpfs_vfs_forget(struct mpfs_fs *fs, uint64_t ino, uint64_t nlookup)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n) {
        if (n->nlookup < nlookup) {
            mpfs_error("forget(%llu): lookup count underflow (%llu < %llu)",
                       (unsigned long long)ino, (unsigned long long)n->nlookup,
                       (unsigned long long)nlookup);
            abort();
        }
        n->nlookup -= nlookup;
        mpfs_node_maybe_drop_locked(fs, n);
    }
    pthread_mutex_unlock(&fs->lock);
}

int mpfs_vfs_getattr(struct mpfs_fs *fs, uint64_t ino, struct stat *st, double *timeout)
{
    *timeout = fs->cfg.attr_timeout;
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (!n) {
        pthread_mutex_unlock(&fs->lock);
        return -ESTALE;
    }
    struct mpfs_attr a = n->attr;
    int64_t seen = n->seen_wall;
    uint8_t source = n->source;
    int open = n->nopen > 0;
    int unlinked = n->unlinked;
    uint64_t parent = n->parent;
    char *name = n->name ? mpfs_xstrdup(n->name) : NULL;
    char *path = ino == MPFS_ROOT_INO ? mpfs_xstrdup("") : mpfs_node_path_locked(fs, ino);
    pthread_mutex_unlock(&fs->lock);

    /* Staged (uncommitted) writes define the size the writer sees. */
    pthread_mutex_lock(&n->wlock);
    /* a writer that has not written yet has no staged content */
    int staged = n->wf != NULL && n->wf->populated;
    if (staged) {
        a.size = n->wf->size;
        if (n->wf->pending_set & MPFS_SET_MTIME)
            a.mtime_ns = n->wf->pending.mtime_ns;
    }
    pthread_mutex_unlock(&n->wlock);

    int rc = 0;
    if (ino != MPFS_ROOT_INO)
        mpfs_reconciler_touch(fs, parent);
    if (ino == MPFS_ROOT_INO || staged || unlinked || !path ||
        source == MPFS_INDEX_SRC_LOCAL ||
        mpfs_meta_attr_fresh(fs, mpfs_fs_policy(fs, path), path, parent, seen, mpfs_wall_ns()))
        goto out;

    struct mpfs_attr fresh;
    rc = mpfs_backend_stat(mpfs_meta_side(fs), path, &fresh);
    if (rc == -ENOENT && open) {
        rc = 0; /* deleted behind our back while open: keep serving the handle */
        goto out;
    }
    if (rc == -ENOENT) {
        struct mpfs_index_entry ie;
        if (name && mpfs_index_get(fs->index, parent, name, &ie) == 0)
            mpfs_meta_forget_entry(fs, parent, name, &ie);
        goto out;
    }
    if (rc < 0) {
        mpfs_warn("getattr %s: %s; serving cached attributes", path, strerror(-rc));
        rc = 0;
        goto out;
    }
    if (mpfs_meta_type_changed(&fresh, a.mode)) {
        /* the name now holds another kind of object: this inode is gone */
        rc = -ENOENT;
        goto out;
    }
    mpfs_meta_keep_richer(&fresh, &a);
    if (!mpfs_version_same(fresh.version, a.version) && a.version[0])
        mpfs_meta_notify_inode(fs, ino);
    mpfs_fs_record(fs, ino, parent, name ? name : "", &fresh, mpfs_source_of(fs, mpfs_meta_side(fs)));
    a = fresh;
out:
    if (rc == 0) {
        mpfs_attr_to_stat(fs, ino, &a, st);
        if (unlinked && !S_ISDIR(a.mode))
            st->st_nlink = 0; /* open but no name left (fstat after unlink) */
    }
    free(name);
    free(path);
    return rc;
}

/*
 * dir_merge.c - apply a backend listing of one directory to the index and
 * the in-memory nodes: new, changed and vanished entries, never touching
 * entries with local data, and telling the kernel what changed.  Used by
 * readdir's refresh, the refresher, the reconciler and lookup walks.
 *
 * Locking: as meta.c; the kernel is notified with no lock held.
 */
#include "fs/dir_merge.h"

#include "base/log.h"
#include "base/util.h"
#include "cache/blockcache.h"
#include "fs/entry.h"
#include "fs/fs_state.h"
#include "fs/listing.h"
#include "fs/meta_int.h"
#include "fs/node.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ listing */

int mpfs_meta_collect_old(void *arg, const char *name, const struct mpfs_index_entry *e)
{
    struct mpfs_old_entries *o = arg;
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->names = mpfs_xrealloc(o->names, o->cap * sizeof(*o->names));
        o->v = mpfs_xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    o->names[o->n] = mpfs_xstrdup(name);
    o->v[o->n] = *e;
    o->n++;
    return 0;
}

void mpfs_meta_old_entries_free(struct mpfs_old_entries *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->names[i]);
    free(o->names);
    free(o->v);
}

struct changed {
    uint64_t ino;
    char *name; /* non-NULL: a vanished (or, new: 1) dentry */
    int is_new;
};

/* An entry a listing confirmed: its node (if the kernel holds one) takes
 * the listed attributes. */
struct confirmed {
    uint64_t ino;
    const char *name;     /* the listing's, valid until it is freed */
    struct mpfs_attr attr;
    int changed;          /* another version than the index had */
    struct mpfs_node *node;
};

static void push_change(struct changed **chg, size_t *n, size_t *cap, uint64_t ino,
                        const char *name, int is_new)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *chg = mpfs_xrealloc(*chg, *cap * sizeof(**chg));
    }
    (*chg)[*n].ino = ino;
    (*chg)[*n].name = name ? mpfs_xstrdup(name) : NULL;
    (*chg)[*n].is_new = is_new;
    (*n)++;
}

/* After a listing of directory dir (at dirpath) is committed to the index:
 * the live nodes of its entries take the listed attributes and the time they
 * were confirmed, so getattr serves what the listing saw (a node keeps its
 * own attributes for up to meta_ttl otherwise).  A node with a staging file
 * (writes of this mount, committed or not) or open handles is left alone:
 * its commit records what the store has, its handles are pinned to their
 * version.  The cache blocks of a changed file with no open
 * handle are dropped (blocks are keyed by version, so the old ones could
 * never be served for the new version; an open handle stays pinned to its
 * version and may still read them). */
static void sync_nodes(struct mpfs_fs *fs, uint64_t dir, const char *dirpath, uint8_t src,
                       int64_t seen, struct confirmed *v, size_t n)
{
    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < n; i++) {
        struct mpfs_node *nd = mpfs_node_find_locked(fs, v[i].ino);
        v[i].node = NULL;
        if (nd && nd->parent == dir && nd->name && strcmp(nd->name, v[i].name) == 0 &&
            !nd->unlinked) {
            nd->nopen++; /* pin: wlock ranks above fs->lock */
            v[i].node = nd;
        }
    }
    pthread_mutex_unlock(&fs->lock);
    for (size_t i = 0; i < n; i++) {
        struct mpfs_node *nd = v[i].node;
        int staged = 0;
        if (nd) {
            pthread_mutex_lock(&nd->wlock);
            staged = nd->wf != NULL;
            pthread_mutex_unlock(&nd->wlock);
        }
        int open = 0, moved = v[i].changed;
        pthread_mutex_lock(&fs->lock);
        if (nd) {
            open = nd->nopen > 1 || staged;
            /* An open file keeps the attributes its handles' version has:
             * the kernel sizes its reads by them, and a new size under a
             * handle pinned to the old version would cut its reads short
             * (bytes of one version, the length of another).  The first
             * pass after its last close brings the node up to date. */
            if (!open && nd->source != MPFS_INDEX_SRC_LOCAL &&
                (nd->attr.mode & S_IFMT) == (v[i].attr.mode & S_IFMT)) {
                moved |= !mpfs_version_same(nd->attr.version, v[i].attr.version);
                if (moved)
                    nd->attr = v[i].attr;
                nd->source = src;
                nd->seen_wall = seen;
            }
            nd->nopen--;
            mpfs_node_maybe_drop_locked(fs, nd);
        }
        pthread_mutex_unlock(&fs->lock);
        if (moved && !open && S_ISREG(v[i].attr.mode)) {
            char *p = mpfs_path_join(dirpath, v[i].name);
            mpfs_cache_invalidate(fs->cache, p, strlen(p));
            free(p);
        }
    }
}

int mpfs_fs_refresh_dir(struct mpfs_fs *fs, uint64_t ino, const char *path)
{
    struct mpfs_listing l;
    mpfs_listing_init(&l);
    int rc = mpfs_backend_list(mpfs_meta_side(fs), path, mpfs_listing_add, &l);
    if (rc == 0)
        rc = mpfs_fs_apply_listing(fs, ino, path, &l);
    mpfs_listing_free(&l);
    return rc;
}

int mpfs_fs_apply_listing(struct mpfs_fs *fs, uint64_t ino, const char *path,
                          struct mpfs_listing *lp)
{
    struct mpfs_listing l = *lp; /* borrowed: the caller frees */
    int64_t t0 = mpfs_now_ns();
    int rc = 0;
    mpfs_listing_finish(&l);
    *lp = l;
    if (l.hidden_invalid || l.hidden_shadowed)
        mpfs_info("listing '%s': hid %zu name(s) POSIX cannot show and %zu file(s) "
                  "shadowed by a same-named directory (e.g. '%s')",
                  path, l.hidden_invalid, l.hidden_shadowed, l.example);

    struct mpfs_old_entries old = {0};
    mpfs_index_list(fs->index, ino, mpfs_meta_collect_old, &old);

    struct mpfs_index_batch *b = mpfs_index_batch_new(fs->index);
    int64_t now = mpfs_wall_ns();
    /* A listing confirms attributes, not the version an open is about to
     * pin: stamped as older than the close-to-open grace, so the next open
     * still asks (the reconciler lists every watched directory each second;
     * it must not make opens skip their check). */
    int64_t seen = now - MPFS_POLICY_CTO_GRACE_NS - 1;
    uint8_t src = mpfs_source_of(fs, mpfs_meta_side(fs));
    struct changed *chg = NULL;
    size_t nchg = 0, capchg = 0;
    struct confirmed *conf = NULL;
    size_t nconf = 0, capconf = 0;
    struct mpfs_index_dir was;
    int was_listed = mpfs_index_dir_get(fs->index, ino, &was) == 0 && was.listed_ns != 0;
    size_t i = 0, j = 0;
    /* Both lists are in bytewise name order: merge them. */
    while (i < l.n || j < old.n) {
        int c = i >= l.n ? 1 : j >= old.n ? -1 : strcmp(l.v[i].name, old.names[j]);
        struct mpfs_index_entry ie;
        if (c > 0) {
            /* gone remotely (LOCAL entries, and entries a commit confirmed
             * after the listing began, are kept by the batch itself) */
            if (old.v[j].source != MPFS_INDEX_SRC_LOCAL && old.v[j].seen_ns <= l.started_ns) {
                if (S_ISDIR(old.v[j].mode))
                    mpfs_index_drop_dir(fs->index, old.v[j].ino);
                mpfs_meta_mark_gone_remote(fs, ino, old.names[j], old.v[j].ino);
                push_change(&chg, &nchg, &capchg, old.v[j].ino, old.names[j], 0);
            }
            j++;
            continue;
        }
        struct mpfs_attr a = l.v[i].attr;
        uint64_t eino;
        struct mpfs_attr prev;
        int changed = 0;
        /* An s3fs special file (FIFO, socket, device) is an empty object
         * whose type only a HEAD shows: look once at each new one. */
        if (l.v[i].attr_full && S_ISREG(a.mode) && a.size == 0 &&
            !(a.valid & MPFS_ATTR_MODE) &&
            (c != 0 || !mpfs_version_same(a.version, old.v[j].version))) {
            char *cp = mpfs_path_join(path, l.v[i].name);
            struct mpfs_attr h;
            if (mpfs_backend_stat(mpfs_meta_side(fs), cp, &h) == 0 &&
                mpfs_version_same(h.version, a.version) && (h.valid & MPFS_ATTR_MODE))
                a = h;
            free(cp);
        }
        if (c == 0) {
            mpfs_entry_from_index(&old.v[j], &prev);
            if (!l.v[i].attr_full && S_ISDIR(prev.mode))
                a = prev; /* a bare prefix tells nothing new about the dir */
            else if (l.v[i].attr_full)
                mpfs_meta_keep_richer(&a, &prev);
        }
        if (c == 0 && !mpfs_meta_type_changed(&a, old.v[j].mode)) {
            if (l.v[i].attr_full) {
                if (!mpfs_version_same(a.version, prev.version) && prev.version[0]) {
                    push_change(&chg, &nchg, &capchg, old.v[j].ino, NULL, 0);
                    changed = 1;
                }
            }
            eino = old.v[j].ino;
        } else {
            eino = mpfs_index_alloc_ino(fs->index);
            if (!eino) {
                rc = -EIO;
                break;
            }
        }
        /* An entry created here and still being written keeps its local
         * state until its commit records the backend's answer; one a commit
         * recorded after the listing began is newer than the listing. */
        if (c == 0 && (old.v[j].source == MPFS_INDEX_SRC_LOCAL ||
                       old.v[j].seen_ns > l.started_ns)) {
            i++;
            j++;
            continue;
        }
        mpfs_entry_to_index(&a, eino, src, seen, &ie);
        mpfs_index_batch_put(b, ino, l.v[i].name, &ie);
        if (c == 0) {
            if (nconf == capconf) {
                capconf = capconf ? capconf * 2 : 64;
                conf = mpfs_xrealloc(conf, capconf * sizeof(*conf));
            }
            conf[nconf++] = (struct confirmed){
                .ino = eino, .name = l.v[i].name, .attr = a, .changed = changed};
        } else if (was_listed) {
            /* the kernel may hold a negative dentry for the new name */
            push_change(&chg, &nchg, &capchg, eino, l.v[i].name, 1);
        }
        i++;
        if (c == 0)
            j++;
    }
    if (rc == 0 && mpfs_meta_side(fs) != fs->nfs) {
        size_t ndirs = 0;
        for (size_t k = 0; k < l.n; k++)
            ndirs += S_ISDIR(l.v[k].attr.mode) ? 1 : 0;
        mpfs_meta_set_dir_nlink(fs, ino, (uint32_t)(2 + ndirs));
    }
    if (rc == 0) {
        struct mpfs_index_dir d = {.listed_ns = l.started_ns, .entries = l.n};
        mpfs_index_batch_dir_put(b, ino, &d);
        rc = mpfs_index_batch_commit(b);
    } else {
        mpfs_index_batch_free(b);
    }
    mpfs_debug("refreshed '%s': %zu entries in %.1f ms", path, l.n,
               (double)(mpfs_now_ns() - t0) / 1e6);
    if (rc == 0)
        sync_nodes(fs, ino, path, src, seen, conf, nconf);
    free(conf);
    for (size_t k = 0; k < nchg; k++) {
        if (chg[k].name) {
            mpfs_meta_notify_entry(fs, ino, chg[k].name);
            free(chg[k].name);
        } else {
            mpfs_meta_notify_inode(fs, chg[k].ino);
        }
    }
    free(chg);
    mpfs_meta_old_entries_free(&old);
    return rc;
}

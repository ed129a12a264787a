/*
 * tree.c - indexing a whole subtree from one flat listing.
 *
 * `find`, `du` and `ls -R` visit every directory; on S3 each first visit
 * would cost a delimited LIST round trip.  When a directory that was never
 * listed is opened, the metadata side is asked (if it can) for everything
 * below it in one flat walk - S3 returns 1,000 keys per request whatever
 * the directory structure - and the keys are split into one listing per
 * directory, applied parents first.  A subtree bigger than max_keys is not
 * worth walking eagerly: the walk stops, nothing is applied, and the caller
 * lists just the one directory.
 */
#include "fs/tree.h"

#include "base/log.h"
#include "base/util.h"
#include "fs/dir_merge.h"
#include "fs/fs_state.h"
#include "fs/listing.h"
#include "index/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct group {
    char *dir; /* relative to the walked directory; "" is the directory itself */
    struct mpfs_listing l;
};

struct walk {
    struct group *g;
    size_t n, cap;
    size_t keys, max_keys;
};

static struct group *group_of(struct walk *w, const char *dir, size_t len)
{
    /* keys arrive in order, so the group wanted is nearly always recent */
    for (size_t i = w->n; i-- > 0;) {
        if (strlen(w->g[i].dir) == len && memcmp(w->g[i].dir, dir, len) == 0)
            return &w->g[i];
        if (w->n - i > 64)
            break;
    }
    for (size_t i = 0; i < w->n; i++)
        if (strlen(w->g[i].dir) == len && memcmp(w->g[i].dir, dir, len) == 0)
            return &w->g[i];
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->g = mpfs_xrealloc(w->g, w->cap * sizeof(*w->g));
    }
    struct group *g = &w->g[w->n++];
    g->dir = mpfs_xmalloc(len + 1);
    memcpy(g->dir, dir, len);
    g->dir[len] = '\0';
    mpfs_listing_init(&g->l);
    return g;
}

static int add_key(void *arg, const char *key, size_t len, const struct mpfs_attr *attr,
                   int full)
{
    struct walk *w = arg;
    if (++w->keys > w->max_keys)
        return -E2BIG;
    int marker = len > 0 && key[len - 1] == '/';
    size_t end = marker ? len - 1 : len;
    /* every directory on the way gets a group and an entry in its parent */
    size_t start = 0;
    for (;;) {
        const char *slash = memchr(key + start, '/', end - start);
        size_t clen = slash ? (size_t)(slash - (key + start)) : end - start;
        int last = slash == NULL;
        struct group *parent = group_of(w, key, start ? start - 1 : 0);
        if (!mpfs_name_is_valid(key + start, clen)) {
            /* hidden, and nothing below it is reachable */
            mpfs_listing_add(&parent->l, key + start, clen, attr, full);
            return 0;
        }
        if (last && !marker) {
            mpfs_listing_add(&parent->l, key + start, clen, attr, full);
            return 0;
        }
        struct mpfs_attr d;
        memset(&d, 0, sizeof(d));
        d.mode = S_IFDIR | 0755;
        if (last && marker) {
            /* the marker object carries the directory's own attributes */
            d = *attr;
            d.mode = S_IFDIR | (attr->mode & 07777 ? attr->mode & 07777 : 0755);
        }
        mpfs_listing_add(&parent->l, key + start, clen, &d, last && marker);
        group_of(w, key, start + clen);
        if (last)
            return 0;
        start += clen + 1;
    }
}

static int by_dir(const void *a, const void *b)
{
    return strcmp(((const struct group *)a)->dir, ((const struct group *)b)->dir);
}

int mpfs_fs_refresh_tree(struct mpfs_fs *fs, uint64_t ino, const char *path, size_t max_keys)
{
    struct mpfs_backend *b = fs->router.route[MPFS_R_META];
    if (!b->ops->list_tree)
        return -EOPNOTSUPP;
    struct walk w = {.max_keys = max_keys};
    group_of(&w, "", 0);
    int64_t t0 = mpfs_now_ns();
    int64_t started = mpfs_wall_ns();
    int rc = mpfs_backend_list_tree(b, path, add_key, &w);
    if (rc == 0) {
        /* parents sort before their children ("a" < "a/b") */
        qsort(w.g, w.n, sizeof(*w.g), by_dir);
        struct resolved {
            const char *dir;
            uint64_t ino;
        } *res = mpfs_xcalloc(w.n, sizeof(*res));
        size_t nres = 0;
        for (size_t i = 0; i < w.n && rc == 0; i++) {
            struct group *g = &w.g[i];
            uint64_t gino = 0;
            if (g->dir[0] == '\0') {
                gino = ino;
            } else {
                const char *slash = strrchr(g->dir, '/');
                size_t plen = slash ? (size_t)(slash - g->dir) : 0;
                const char *name = slash ? slash + 1 : g->dir;
                for (size_t k = nres; k-- > 0;) {
                    if (strlen(res[k].dir) == plen && strncmp(res[k].dir, g->dir, plen) == 0) {
                        struct mpfs_index_entry ie;
                        if (mpfs_index_get(fs->index, res[k].ino, name, &ie) == 0 &&
                            S_ISDIR(ie.mode))
                            gino = ie.ino;
                        break;
                    }
                }
            }
            if (!gino)
                continue; /* under a hidden or shadowed name */
            char *gpath = g->dir[0] ? (path[0] ? mpfs_xasprintf("%s/%s", path, g->dir)
                                               : mpfs_xstrdup(g->dir))
                                    : mpfs_xstrdup(path);
            g->l.started_ns = started; /* the walk began before any group */
            rc = mpfs_fs_apply_listing(fs, gino, gpath, &g->l);
            free(gpath);
            res[nres].dir = g->dir;
            res[nres].ino = gino;
            nres++;
        }
        free(res);
        mpfs_debug("indexed the subtree '%s': %zu keys, %zu directories in %.1f ms", path,
                   w.keys, w.n, (double)(mpfs_now_ns() - t0) / 1e6);
    }
    for (size_t i = 0; i < w.n; i++) {
        free(w.g[i].dir);
        mpfs_listing_free(&w.g[i].l);
    }
    free(w.g);
    return rc;
}

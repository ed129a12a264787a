/*
 * nfs_fhcache.c - a per-connection LRU of open read handles.
 *
 * Why: libnfs resolves a path with one LOOKUP per component on every
 * nfs_open(), so reading a file in 1 MiB pieces through path-based calls
 * would pay (depth) extra round trips per piece.  Keeping the handle of
 * the last few paths read on this connection makes a piece one READ.
 *
 * Validity: an entry carries the namespace generation of its path at open
 * (nfs_backend.c: remove/rename/rmdir by us bump it, in every connection
 * at once) and its age.  Changes made by other clients are only noticed
 * through the TTL (or -ESTALE, which the caller turns into drop + reopen),
 * the same bound the kernel client's lookup cache gives.
 *
 * Only read handles are kept: closing one is local (no COMMIT), so a
 * broken connection can drop its cache without any network traffic.
 *
 * Size is small (a handful of entries), so a linear scan beats hashing and
 * the hot path does no allocation.  No locking: a cache belongs to one
 * connection and only the thread holding the connection touches it.
 */
#include "backends/nfs/nfs_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct fh_entry {
    char *path; /* NULL: free slot */
    void *fh;
    uint64_t gen;
    int64_t opened_ns;
    uint64_t used; /* LRU clock */
};

struct mpfs_nfs_fhcache {
    unsigned cap;
    unsigned count;
    int64_t ttl_ns;
    uint64_t clock;
    void (*close_fn)(void *ctx, void *fh);
    void *ctx;
    struct fh_entry *e;
};

struct mpfs_nfs_fhcache *mpfs_nfs_fhcache_new(unsigned cap, int64_t ttl_ns,
                                              void (*close_fn)(void *ctx, void *fh),
                                              void *ctx)
{
    struct mpfs_nfs_fhcache *c = mpfs_xcalloc(1, sizeof(*c));
    c->cap = cap ? cap : 1;
    c->ttl_ns = ttl_ns;
    c->close_fn = close_fn;
    c->ctx = ctx;
    c->e = mpfs_xcalloc(c->cap, sizeof(*c->e));
    return c;
}

static void evict(struct mpfs_nfs_fhcache *c, struct fh_entry *e)
{
    c->close_fn(c->ctx, e->fh);
    free(e->path);
    memset(e, 0, sizeof(*e));
    c->count--;
}

void mpfs_nfs_fhcache_free(struct mpfs_nfs_fhcache *c)
{
    if (!c) {
        return;
    }
    for (unsigned i = 0; i < c->cap; i++) {
        if (c->e[i].path) {
            evict(c, &c->e[i]);
        }
    }
    free(c->e);
    free(c);
}

static struct fh_entry *find(struct mpfs_nfs_fhcache *c, const char *path)
{
    for (unsigned i = 0; i < c->cap; i++) {
        if (c->e[i].path && strcmp(c->e[i].path, path) == 0) {
            return &c->e[i];
        }
    }
    return NULL;
}

void *mpfs_nfs_fhcache_get(struct mpfs_nfs_fhcache *c, const char *path, uint64_t gen,
                           int64_t now_ns)
{
    struct fh_entry *e = find(c, path);
    if (!e) {
        return NULL;
    }
    if (e->gen != gen || now_ns - e->opened_ns >= c->ttl_ns || now_ns < e->opened_ns) {
        evict(c, e);
        return NULL;
    }
    e->used = ++c->clock;
    return e->fh;
}

void mpfs_nfs_fhcache_add(struct mpfs_nfs_fhcache *c, const char *path, void *fh,
                          uint64_t gen, int64_t now_ns)
{
    struct fh_entry *e = find(c, path);
    if (e) {
        evict(c, e); /* a newer handle for the same path replaces it */
    }
    struct fh_entry *slot = NULL;
    for (unsigned i = 0; i < c->cap; i++) {
        if (!c->e[i].path) {
            slot = &c->e[i];
            break;
        }
        if (!slot || c->e[i].used < slot->used) {
            slot = &c->e[i];
        }
    }
    if (slot->path) {
        evict(c, slot);
    }
    slot->path = mpfs_xstrdup(path);
    slot->fh = fh;
    slot->gen = gen;
    slot->opened_ns = now_ns;
    slot->used = ++c->clock;
    c->count++;
}

void mpfs_nfs_fhcache_drop(struct mpfs_nfs_fhcache *c, const char *path)
{
    struct fh_entry *e = find(c, path);
    if (e) {
        evict(c, e);
    }
}

unsigned mpfs_nfs_fhcache_count(const struct mpfs_nfs_fhcache *c)
{
    return c->count;
}

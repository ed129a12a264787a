/*
 * mem.c - the in-memory backend (behaviour: see mem.h).
 *
 * Design: one sorted map from key to object, a skip list ordered by
 * byte-wise key comparison (the order S3 lists in), so a directory
 * listing is a range scan from "dir/" that jumps over each subdirectory's
 * keys in O(log n), and implied-directory checks are one lower_bound.
 *
 * Both modes share the storage format: a file is the key "a/b", a
 * directory is the marker key "a/b/" (S3's convention).  POSIX mode only
 * adds rules on top: every directory has a marker (parents must exist),
 * a file and a directory never share a name, hard links are two keys
 * pointing at one refcounted object.  The root has no key: it is m->s->root.
 *
 * Locking: m->s->lock (one mutex) guards the map, every object and the
 * counters.  It is never held while calling out of this file: list()
 * copies entries and runs the callback after unlocking, and put() reads
 * the caller's fd before taking it.
 */
#include "backends/mem.h"

#include "base/check.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SL_MAX_LEVEL 24
/* Far beyond what a unit test writes, and small enough that a buggy
 * caller's 2^63-byte pwrite fails -EFBIG instead of aborting in malloc. */
#define MEM_FILE_MAX (16ull << 30)
#define S3_KEY_MAX 1024
#define MEM_TOTAL_BYTES (1ull << 40)

static const char *const MEM_KIND = "mem";

struct mem_xattr {
    struct mem_xattr *next;
    char *name;
    void *value;
    size_t size;
};

struct mem_obj {
    unsigned refs; /* keys pointing here: > 1 only for hard links */
    uint32_t mode;
    uint32_t uid;
    uint32_t gid;
    uint32_t valid; /* MPFS_ATTR_* really stored */
    int64_t mtime_ns;
    int64_t ctime_ns;
    int64_t atime_ns;
    uint64_t fileid;
    uint64_t rdev; /* device nodes */
    uint64_t ver;
    uint64_t vseq; /* when it was stored at its key (version chains) */
    char *data;
    size_t size;
    size_t cap;
    struct mem_xattr *xattrs;
};

/* A version an S3 store with versioning keeps after it was replaced or
 * deleted (MPFS_CAP_VERSION_CHAIN): its bytes, or a delete marker. */
struct mem_hist {
    struct mem_hist *next;
    char *key;
    uint64_t seq; /* order in the key's chain; the version id is "id<seq>" */
    uint64_t ver; /* its token */
    int deleted;
    char *data;
    size_t size;
};

struct mem_node {
    char *key;
    struct mem_obj *obj;
    int height;
    struct mem_node *next[];
};

/* The dataset: one per mpfs_mem_new() or mpfs_mem_dual_new(), shared by
 * the handles (views) on it. */
struct mem_store {
    pthread_mutex_t lock;
    unsigned refs; /* handles on this store; guarded by lock */
    int posix;
    struct mem_node *head; /* sentinel, SL_MAX_LEVEL links */
    int level;
    uint64_t rng;
    uint64_t next_ver;
    uint64_t next_vseq;
    uint64_t next_fileid;
    uint64_t bytes_used;
    uint64_t nobjs;
    int64_t clock_ns; /* last time handed out: times only move forward */
    struct mem_obj root;
    int versioned;          /* keep replaced versions (MPFS_CAP_VERSION_CHAIN) */
    int ignore_conditions;  /* acknowledge conditional puts unchecked */
    struct mem_hist *hist;  /* newest first */
};

/* A handle: how one client sees the store (its tokens, its listing shape,
 * its caps) and what it has called (its counters, guarded by s->lock). */
struct mem_backend {
    struct mpfs_backend base; /* first: the ops see a struct mpfs_backend */
    struct mem_store *s;
    enum mpfs_mem_view view;
    struct mpfs_mem_stats stats;
};

static struct mem_backend *mem_of(struct mpfs_backend *b)
{
    return (struct mem_backend *)b;
}

static int has_cap(const struct mem_backend *m, uint32_t cap)
{
    return (m->base.caps & cap) == cap;
}

/* S3 view of a POSIX store (dual mode): S3-shaped listings and tokens,
 * creates make their parents, as a PUT on a multiprotocol appliance does. */
static int s3_view(const struct mem_backend *m)
{
    return m->view == MPFS_MEM_VIEW_S3;
}

/* Listings carry what an S3 LIST carries (no metadata, prefixes only). */
static int s3_shaped(const struct mem_backend *m)
{
    return !m->s->posix || s3_view(m);
}

/* Wall clock, but strictly increasing per store: two changes never share
 * an mtime, so a token built from times (the NFS view) always moves. */
static int64_t store_now(struct mem_backend *m)
{
    int64_t now = mpfs_wall_ns();
    if (now <= m->s->clock_ns) {
        now = m->s->clock_ns + 1;
    }
    m->s->clock_ns = now;
    return now;
}

/* ------------------------------------------------------------ skip list */

static int sl_random_level(struct mem_backend *m)
{
    int lvl = 1;
    for (;;) {
        /* xorshift64: deterministic, good enough for level coin flips */
        m->s->rng ^= m->s->rng << 13;
        m->s->rng ^= m->s->rng >> 7;
        m->s->rng ^= m->s->rng << 17;
        if ((m->s->rng & 3) != 0 || lvl == SL_MAX_LEVEL) {
            return lvl;
        }
        lvl++;
    }
}

/* First node whose key is >= key; update[i] gets the last node before it
 * at level i (if update is non-NULL). */
static struct mem_node *sl_seek(struct mem_backend *m, const char *key, struct mem_node **update)
{
    struct mem_node *x = m->s->head;
    for (int i = m->s->level - 1; i >= 0; i--) {
        while (x->next[i] && strcmp(x->next[i]->key, key) < 0) {
            x = x->next[i];
        }
        if (update) {
            update[i] = x;
        }
    }
    return x->next[0];
}

static struct mem_node *sl_find(struct mem_backend *m, const char *key)
{
    struct mem_node *n = sl_seek(m, key, NULL);
    return n && strcmp(n->key, key) == 0 ? n : NULL;
}

static struct mem_obj *find_obj(struct mem_backend *m, const char *key)
{
    struct mem_node *n = sl_find(m, key);
    return n ? n->obj : NULL;
}

/* Adds key -> obj (taking a reference); key must not be present. */
static void sl_insert(struct mem_backend *m, const char *key, struct mem_obj *obj)
{
    obj->vseq = ++m->s->next_vseq;
    struct mem_node *update[SL_MAX_LEVEL];
    sl_seek(m, key, update);
    int h = sl_random_level(m);
    if (h > m->s->level) {
        for (int i = m->s->level; i < h; i++) {
            update[i] = m->s->head;
        }
        m->s->level = h;
    }
    struct mem_node *n = mpfs_xmalloc(sizeof(*n) + (size_t)h * sizeof(n->next[0]));
    n->key = mpfs_xstrdup(key);
    n->obj = obj;
    n->height = h;
    for (int i = 0; i < h; i++) {
        n->next[i] = update[i]->next[i];
        update[i]->next[i] = n;
    }
    obj->refs++;
}

/* Removes key and returns its object (reference now the caller's), or
 * NULL if absent. */
static struct mem_obj *sl_erase(struct mem_backend *m, const char *key)
{
    struct mem_node *update[SL_MAX_LEVEL];
    struct mem_node *x = sl_seek(m, key, update);
    if (!x || strcmp(x->key, key) != 0) {
        return NULL;
    }
    for (int i = 0; i < x->height; i++) {
        update[i]->next[i] = x->next[i];
    }
    while (m->s->level > 1 && !m->s->head->next[m->s->level - 1]) {
        m->s->level--;
    }
    struct mem_obj *o = x->obj;
    free(x->key);
    free(x);
    return o;
}

static int key_has_prefix(const char *key, const char *prefix, size_t plen)
{
    return strncmp(key, prefix, plen) == 0;
}

/* ------------------------------------------------------------- objects */

static struct mem_obj *obj_new(struct mem_backend *m, uint32_t mode)
{
    struct mem_obj *o = mpfs_xcalloc(1, sizeof(*o));
    int64_t now = store_now(m);
    o->mode = mode;
    o->mtime_ns = o->ctime_ns = o->atime_ns = now;
    o->fileid = m->s->posix ? m->s->next_fileid++ : 0;
    o->ver = ++m->s->next_ver;
    /* S3 keeps no owner or mode unless s3fs-style metadata is written;
     * LastModified is always real. */
    o->valid = m->s->posix ? (MPFS_ATTR_MODE | MPFS_ATTR_OWNER | MPFS_ATTR_MTIME) : MPFS_ATTR_MTIME;
    m->s->nobjs++;
    return o;
}

static void obj_free_xattrs(struct mem_obj *o)
{
    while (o->xattrs) {
        struct mem_xattr *x = o->xattrs;
        o->xattrs = x->next;
        free(x->name);
        free(x->value);
        free(x);
    }
}

static void obj_unref(struct mem_backend *m, struct mem_obj *o)
{
    if (!o || --o->refs > 0) {
        return;
    }
    m->s->bytes_used -= o->size;
    m->s->nobjs--;
    obj_free_xattrs(o);
    free(o->data);
    free(o);
}

static void hist_add(struct mem_backend *m, const char *key, uint64_t seq, uint64_t ver,
                     int deleted, const struct mem_obj *o)
{
    struct mem_hist *h = mpfs_xcalloc(1, sizeof(*h));
    h->key = mpfs_xstrdup(key);
    h->seq = seq;
    h->ver = ver;
    h->deleted = deleted;
    if (o && o->size) {
        h->data = mpfs_xmalloc(o->size);
        memcpy(h->data, o->data, o->size);
        h->size = o->size;
    }
    h->next = m->s->hist;
    m->s->hist = h;
}

static void unlink_key(struct mem_backend *m, const char *key)
{
    struct mem_obj *o = sl_erase(m, key);
    if (o && m->s->versioned && !m->s->posix && S_ISREG(o->mode)) {
        hist_add(m, key, o->vseq, o->ver, 0, o);
    }
    obj_unref(m, o);
}

/* A delete on a versioned store leaves a delete marker. */
static void mark_deleted(struct mem_backend *m, const char *key)
{
    if (m->s->versioned && !m->s->posix) {
        hist_add(m, key, ++m->s->next_vseq, 0, 1, NULL);
    }
}

static int obj_resize(struct mem_backend *m, struct mem_obj *o, uint64_t size)
{
    if (size > MEM_FILE_MAX) {
        return -EFBIG;
    }
    if (size > o->cap) {
        size_t cap = MPFS_MAX((size_t)size, o->cap * 2);
        o->data = mpfs_xrealloc(o->data, cap);
        o->cap = cap;
    }
    if (size > o->size) {
        memset(o->data + o->size, 0, (size_t)size - o->size);
    }
    m->s->bytes_used = m->s->bytes_used - o->size + size;
    o->size = (size_t)size;
    return 0;
}

/* Content changed: new version token and mtime. */
static void obj_changed(struct mem_backend *m, struct mem_obj *o)
{
    o->ver = ++m->s->next_ver;
    o->mtime_ns = o->ctime_ns = store_now(m);
}

static void obj_set_data(struct mem_backend *m, struct mem_obj *o, const void *data, size_t len)
{
    m->s->bytes_used -= o->size;
    free(o->data);
    o->data = len ? mpfs_xmalloc(len) : NULL;
    if (len) {
        memcpy(o->data, data, len);
    }
    o->size = o->cap = len;
    m->s->bytes_used += len;
    obj_changed(m, o);
}

/* The version token of o as this handle's protocol would report it:
 *   plain  "v<n>" from the store's change counter;
 *   S3     an opaque ETag that is not an MD5 (16 hex digits of the counter
 *          scrambled by an odd multiplier: a bijection, so it changes
 *          exactly when the counter does), like VAST's or PowerScale's;
 *   NFS    "m<mtime>.c<ctime>.s<size>", the real NFS backend's format,
 *          so it also moves on chmod/chown/xattr changes (ctime). */
static void obj_token(const struct mem_backend *m, const struct mem_obj *o, char *buf,
                      size_t size)
{
    switch (m->view) {
    case MPFS_MEM_VIEW_S3:
        snprintf(buf, size, "%016" PRIx64, (uint64_t)(o->ver * 0x9e3779b97f4a7c15ull));
        break;
    case MPFS_MEM_VIEW_NFS:
        snprintf(buf, size, "m%" PRId64 ".c%" PRId64 ".s%" PRIu64, o->mtime_ns, o->ctime_ns,
                 (uint64_t)(S_ISDIR(o->mode) ? 4096 : o->size));
        break;
    default:
        snprintf(buf, size, "v%" PRIu64, o->ver);
        break;
    }
}

static int token_matches(const struct mem_backend *m, const struct mem_obj *o, const char *want)
{
    char cur[MPFS_VERSION_MAX];
    obj_token(m, o, cur, sizeof(cur));
    return strcmp(cur, want) == 0;
}

static void fill_attr(const struct mem_backend *m, const struct mem_obj *o, struct mpfs_attr *out)
{
    memset(out, 0, sizeof(*out));
    int dir = S_ISDIR(o->mode);
    out->mode = o->mode;
    out->uid = o->uid;
    out->gid = o->gid;
    out->nlink = dir ? 2 : MPFS_MAX(o->refs, 1u);
    out->size = dir ? (s3_shaped(m) ? 0 : 4096) : o->size;
    out->mtime_ns = o->mtime_ns;
    out->ctime_ns = o->ctime_ns;
    out->atime_ns = o->atime_ns;
    out->fileid = o->fileid;
    out->rdev = o->rdev;
    out->valid = o->valid;
    obj_token(m, o, out->version, sizeof(out->version));
}

/* A directory S3 implies from its keys: no object, no metadata. */
static void fill_implied_dir(struct mpfs_attr *out)
{
    memset(out, 0, sizeof(*out));
    out->mode = S_IFDIR | 0755;
    out->nlink = 2;
}

/* --------------------------------------------------------------- paths */

static char *marker_key(const char *path)
{
    return path[0] ? mpfs_xasprintf("%s/", path) : mpfs_xstrdup("");
}

static int check_path(const struct mem_backend *m, const char *path)
{
    size_t n = strlen(path);
    if (n == 0) {
        return 0;
    }
    if (path[0] == '/' || path[n - 1] == '/') {
        return -EINVAL;
    }
    if (!m->s->posix) {
        return n > S3_KEY_MAX ? -ENAMETOOLONG : 0;
    }
    for (const char *p = path;;) {
        const char *s = strchr(p, '/');
        size_t len = s ? (size_t)(s - p) : strlen(p);
        if (len > 255) {
            return -ENAMETOOLONG;
        }
        if (!mpfs_name_is_valid(p, len)) {
            return -EINVAL;
        }
        if (!s) {
            return 0;
        }
        p = s + 1;
    }
}

/* What is at path. */
struct mem_look {
    struct mem_obj *file;   /* object under key == path (file or symlink) */
    struct mem_obj *marker; /* "path/" marker (or the root) */
    int is_dir;             /* marker, root, or (S3) keys under "path/" */
};

static int has_children(struct mem_backend *m, const char *path)
{
    char *prefix = marker_key(path);
    size_t plen = strlen(prefix);
    struct mem_node *n = sl_seek(m, prefix, NULL);
    if (n && strcmp(n->key, prefix) == 0) {
        n = n->next[0]; /* the marker itself is not a child */
    }
    int yes = n && key_has_prefix(n->key, prefix, plen);
    free(prefix);
    return yes;
}

static void look(struct mem_backend *m, const char *path, struct mem_look *l)
{
    memset(l, 0, sizeof(*l));
    if (path[0] == '\0') {
        l->marker = &m->s->root;
        l->is_dir = 1;
        return;
    }
    l->file = find_obj(m, path);
    char *mk = marker_key(path);
    l->marker = find_obj(m, mk);
    free(mk);
    l->is_dir = l->marker != NULL || (!m->s->posix && has_children(m, path));
}

static int exists(const struct mem_look *l)
{
    return l->file || l->is_dir;
}

/* The directory object path lives in (root, or its parent's marker). */
static struct mem_obj *parent_obj(struct mem_backend *m, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        return &m->s->root;
    }
    char *mk = mpfs_xasprintf("%.*s/", (int)(slash - path), path);
    struct mem_obj *o = find_obj(m, mk);
    free(mk);
    return o;
}

/* POSIX mode: every ancestor of path must be an existing directory. */
static int posix_parent_ok(struct mem_backend *m, const char *path)
{
    if (!m->s->posix) {
        return 0;
    }
    int rc = 0;
    char *buf = mpfs_xmalloc(strlen(path) + 2);
    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
        size_t len = (size_t)(s - path);
        memcpy(buf, path, len);
        buf[len] = '\0';
        if (find_obj(m, buf)) {
            rc = -ENOTDIR;
            break;
        }
        buf[len] = '/';
        buf[len + 1] = '\0';
        if (!find_obj(m, buf)) {
            rc = -ENOENT;
            break;
        }
    }
    free(buf);
    return rc;
}

static int posix_mkdirs(struct mem_backend *m, const char *key);

/* Before creating path: its parents must exist (POSIX), or are made (the
 * S3 view: a PUT of "a/b/c" on a multiprotocol store makes a and a/b, and
 * they stay after the last file in them is removed). */
static int create_parents(struct mem_backend *m, const char *path)
{
    return s3_view(m) ? posix_mkdirs(m, path) : posix_parent_ok(m, path);
}

/* The errno for "nothing at path": POSIX says -ENOTDIR when a component
 * of the way is a file. */
static int missing(struct mem_backend *m, const char *path)
{
    int rc = posix_parent_ok(m, path);
    return rc < 0 ? rc : -ENOENT;
}

/* POSIX directories change mtime (and so version) when entries change. */
static void touch_parent(struct mem_backend *m, const char *path)
{
    if (!m->s->posix) {
        return;
    }
    struct mem_obj *p = parent_obj(m, path);
    if (p) {
        obj_changed(m, p);
    }
}

/* Object that carries path's metadata; for an S3 implied directory a
 * marker is written first when create is set (as s3fs does on chmod). */
static struct mem_obj *meta_obj(struct mem_backend *m, const char *path, const struct mem_look *l,
                                int create)
{
    if (l->file) {
        return l->file;
    }
    if (l->marker || !l->is_dir || !create) {
        return l->marker;
    }
    struct mem_obj *o = obj_new(m, S_IFDIR | 0755);
    char *mk = marker_key(path);
    sl_insert(m, mk, o);
    free(mk);
    return o;
}

/* Keys under prefix (a snapshot, so the caller can edit the map). */
static char **keys_with_prefix(struct mem_backend *m, const char *prefix, size_t *count)
{
    size_t plen = strlen(prefix);
    size_t n = 0;
    size_t cap = 16;
    char **keys = mpfs_xmalloc(cap * sizeof(*keys));
    for (struct mem_node *x = sl_seek(m, prefix, NULL); x && key_has_prefix(x->key, prefix, plen);
         x = x->next[0]) {
        if (n == cap) {
            cap *= 2;
            keys = mpfs_xrealloc(keys, cap * sizeof(*keys));
        }
        keys[n++] = mpfs_xstrdup(x->key);
    }
    *count = n;
    return keys;
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
    }
    free(keys);
}

/* ----------------------------------------------------------------- ops */

static int mem_stat(struct mpfs_backend *b, const char *path, struct mpfs_attr *out)
{
    struct mem_backend *m = mem_of(b);
    struct mem_look l;
    int rc = 0;

    pthread_mutex_lock(&m->s->lock);
    m->stats.stats++;
    rc = check_path(m, path);
    if (rc < 0) {
        goto out_unlock;
    }
    look(m, path, &l);
    if (l.file) {
        fill_attr(m, l.file, out);
    } else if (l.marker) {
        fill_attr(m, l.marker, out);
    } else if (l.is_dir) {
        fill_implied_dir(out);
    } else {
        rc = missing(m, path);
    }
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

struct mem_entry {
    char *name;
    size_t len;
    struct mpfs_attr attr;
    int full;
};

static void add_entry(struct mem_entry **v, size_t *n, size_t *cap, const char *name, size_t len,
                      const struct mpfs_attr *attr, int full)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *v = mpfs_xrealloc(*v, *cap * sizeof(**v));
    }
    struct mem_entry *e = &(*v)[(*n)++];
    e->name = mpfs_xmalloc(len + 1);
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    e->len = len;
    e->attr = *attr;
    e->full = full;
}

static int mem_list(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn, void *arg)
{
    struct mem_backend *m = mem_of(b);
    struct mem_entry *ents = NULL;
    size_t n = 0;
    size_t cap = 0;
    struct mem_look l;
    char *prefix = NULL;
    int rc;

    pthread_mutex_lock(&m->s->lock);
    m->stats.lists++;
    rc = check_path(m, dir);
    if (rc < 0) {
        goto out_unlock;
    }
    look(m, dir, &l);
    if (!l.is_dir) {
        rc = l.file ? -ENOTDIR : missing(m, dir);
        goto out_unlock;
    }
    prefix = marker_key(dir);
    size_t plen = strlen(prefix);
    struct mem_node *x = sl_seek(m, prefix, NULL);
    while (x && key_has_prefix(x->key, prefix, plen)) {
        const char *name = x->key + plen;
        const char *slash = strchr(name, '/');
        struct mpfs_attr attr;
        if (*name == '\0') {
            x = x->next[0]; /* the directory's own marker */
            continue;
        }
        if (!slash) {
            fill_attr(m, x->obj, &attr);
            if (s3_shaped(m)) {
                /* an S3 LIST has size, LastModified and ETag, no metadata:
                 * even a symlink object looks like a plain file here */
                attr.mode = S_IFREG | 0644;
                attr.uid = attr.gid = 0;
                attr.valid &= MPFS_ATTR_MTIME;
            }
            add_entry(&ents, &n, &cap, name, strlen(name), &attr, 1);
            x = x->next[0];
            continue;
        }
        /* A subdirectory (S3: a common prefix).  POSIX listings carry its
         * attributes (READDIRPLUS); S3 ones only the type. */
        size_t len = (size_t)(slash - name);
        char *skip = mpfs_xasprintf("%.*s0", (int)(plen + len), x->key);
        struct mem_obj *mk = NULL;
        if (!s3_shaped(m)) {
            skip[plen + len] = '/';
            mk = find_obj(m, skip);
            skip[plen + len] = '0';
        }
        if (mk) {
            fill_attr(m, mk, &attr);
        } else {
            fill_implied_dir(&attr);
        }
        add_entry(&ents, &n, &cap, name, len, &attr, mk != NULL);
        /* '0' follows '/': this jumps over every key under the subdir */
        x = sl_seek(m, skip, NULL);
        free(skip);
    }
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    free(prefix);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            rc = fn(arg, ents[i].name, ents[i].len, &ents[i].attr, ents[i].full);
        }
        free(ents[i].name);
    }
    free(ents);
    return rc;
}

/* S3 mode only (a flat LIST without delimiter): every key below dir, in
 * key order, named relative to dir; markers keep their trailing '/'. */
static int mem_list_tree(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn, void *arg)
{
    struct mem_backend *m = mem_of(b);
    struct mem_entry *ents = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!s3_shaped(m))
        return -EOPNOTSUPP;
    pthread_mutex_lock(&m->s->lock);
    m->stats.lists++;
    char *prefix = marker_key(dir);
    size_t plen = strlen(prefix);
    for (struct mem_node *x = sl_seek(m, prefix, NULL); x && key_has_prefix(x->key, prefix, plen);
         x = x->next[0]) {
        const char *name = x->key + plen;
        if (*name == '\0')
            continue;
        struct mpfs_attr attr;
        fill_attr(m, x->obj, &attr);
        attr.mode = S_IFREG | 0644;
        attr.uid = attr.gid = 0;
        attr.valid &= MPFS_ATTR_MTIME;
        add_entry(&ents, &n, &cap, name, strlen(name), &attr, 1);
    }
    if (n == 0 && dir[0]) {
        struct mem_look l;
        look(m, dir, &l);
        if (!l.is_dir)
            rc = l.file ? -ENOTDIR : missing(m, dir);
    }
    pthread_mutex_unlock(&m->s->lock);
    free(prefix);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = fn(arg, ents[i].name, ents[i].len, &ents[i].attr, ents[i].full);
        free(ents[i].name);
    }
    free(ents);
    return rc;
}

static ssize_t mem_read(struct mpfs_backend *b, const char *path, const char *version, void *buf,
                        size_t len, uint64_t off)
{
    struct mem_backend *m = mem_of(b);
    struct mem_look l;
    ssize_t rc;

    pthread_mutex_lock(&m->s->lock);
    m->stats.reads++;
    rc = check_path(m, path);
    if (rc < 0) {
        goto out_unlock;
    }
    look(m, path, &l);
    if (!l.file) {
        rc = l.is_dir ? -EISDIR : missing(m, path);
        goto out_unlock;
    }
    if (m->s->posix && S_ISLNK(l.file->mode)) {
        rc = -EINVAL;
        goto out_unlock;
    }
    if (version && version[0] && has_cap(m, MPFS_CAP_PINNED_READ) &&
        !token_matches(m, l.file, version)) {
        rc = -ESTALE;
        goto out_unlock;
    }
    if (off >= l.file->size) {
        rc = 0;
        goto out_unlock;
    }
    size_t n = MPFS_MIN(len, l.file->size - (size_t)off);
    if (n > SSIZE_MAX) {
        n = SSIZE_MAX;
    }
    memcpy(buf, l.file->data + off, n);
    m->stats.bytes_read += n;
    rc = (ssize_t)n;
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static void apply_put_meta(struct mem_backend *m, struct mem_obj *o,
                           const struct mpfs_put_opts *opts)
{
    if (!opts->attr_set) {
        return;
    }
    if (!has_cap(m, MPFS_CAP_SETATTR)) {
        mpfs_debug("mem: put metadata dropped (no setattr capability)");
        return;
    }
    if (opts->attr_set & MPFS_SET_MODE) {
        o->mode = (o->mode & S_IFMT) | (opts->attr.mode & 07777);
        o->valid |= MPFS_ATTR_MODE;
    }
    if (opts->attr_set & MPFS_SET_UID) {
        o->uid = opts->attr.uid;
        o->valid |= MPFS_ATTR_OWNER;
    }
    if (opts->attr_set & MPFS_SET_GID) {
        o->gid = opts->attr.gid;
        o->valid |= MPFS_ATTR_OWNER;
    }
    if (opts->attr_set & MPFS_SET_MTIME) {
        o->mtime_ns = opts->attr.mtime_ns;
        o->valid |= MPFS_ATTR_MTIME;
    }
    if (opts->attr_set & MPFS_SET_ATIME) {
        o->atime_ns = opts->attr.atime_ns;
    }
}

static int mem_put(struct mpfs_backend *b, const char *path, int fd, uint64_t size,
                   const struct mpfs_put_opts *opts, struct mpfs_attr *out)
{
    struct mem_backend *m = mem_of(b);
    struct mem_look l;
    char *data = NULL;
    int rc;

    if (size > MEM_FILE_MAX) {
        return -EFBIG;
    }
    /* The fd is the caller's: read it before taking the lock. */
    if (size > 0) {
        data = mpfs_xmalloc((size_t)size);
        ssize_t got = mpfs_read_full(fd, data, (size_t)size, 0);
        if (got < 0 || (uint64_t)got != size) {
            mpfs_error("mem: put %s: source fd gave %zd of %" PRIu64 " bytes", path, got, size);
            free(data);
            return got < 0 ? (int)got : -EIO;
        }
    }

    pthread_mutex_lock(&m->s->lock);
    m->stats.puts++;
    rc = check_path(m, path);
    if (rc == 0 && path[0] == '\0') {
        rc = -EISDIR;
    }
    if (rc < 0) {
        goto out_unlock;
    }
    look(m, path, &l);
    /* S3 lets "foo" and "foo/" coexist; POSIX does not. */
    if (m->s->posix && l.is_dir) {
        rc = -EISDIR;
        goto out_unlock;
    }
    if (!s3_view(m)) {
        /* (the S3 view creates parents: only after the preconditions) */
        rc = posix_parent_ok(m, path);
        if (rc < 0) {
            goto out_unlock;
        }
    }
    if (opts->if_none_match && l.file && !m->s->ignore_conditions) {
        rc = -EEXIST;
        goto out_unlock;
    }
    if (opts->if_match && !m->s->ignore_conditions &&
        (!l.file || !token_matches(m, l.file, opts->if_match))) {
        rc = -ESTALE;
        goto out_unlock;
    }
    rc = create_parents(m, path);
    if (rc < 0) {
        goto out_unlock;
    }

    struct mem_obj *o = l.file;
    if (o && m->s->posix && S_ISREG(o->mode)) {
        /* POSIX: O_TRUNC + write on the same inode; links see it too. */
        obj_set_data(m, o, data, (size_t)size);
    } else {
        /* S3: a new object, metadata and all. */
        if (o) {
            unlink_key(m, path);
        } else {
            touch_parent(m, path);
        }
        o = obj_new(m, S_IFREG | 0644);
        obj_set_data(m, o, data, (size_t)size);
        sl_insert(m, path, o);
    }
    apply_put_meta(m, o, opts);
    m->stats.bytes_written += size;
    if (out) {
        fill_attr(m, o, out);
    }
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    free(data);
    return rc;
}

/* pwrite, and pwrite_if when expect is non-NULL: the check and the write
 * are one step under the lock, so a conflict writes nothing. */
static ssize_t pwrite_common(struct mpfs_backend *b, const char *path, const void *buf,
                             size_t len, uint64_t off, const char *expect, struct mpfs_attr *out)
{
    struct mem_backend *m = mem_of(b);
    struct mem_look l;
    ssize_t rc;

    if (!has_cap(m, MPFS_CAP_PWRITE)) {
        return -EOPNOTSUPP;
    }
    if (len > SSIZE_MAX || off > MEM_FILE_MAX || len > MEM_FILE_MAX - off) {
        return -EFBIG;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.pwrites++;
    rc = check_path(m, path);
    if (rc < 0) {
        goto out_unlock;
    }
    look(m, path, &l);
    if (!l.file) {
        rc = l.is_dir ? -EISDIR : missing(m, path);
        goto out_unlock;
    }
    if (!S_ISREG(l.file->mode)) {
        rc = -EINVAL;
        goto out_unlock;
    }
    if (expect && !token_matches(m, l.file, expect)) {
        rc = -ESTALE;
        goto out_unlock;
    }
    if (off + len > l.file->size) {
        rc = obj_resize(m, l.file, off + len);
        if (rc < 0) {
            goto out_unlock;
        }
    }
    if (len) {
        memcpy(l.file->data + off, buf, len);
    }
    obj_changed(m, l.file);
    m->stats.bytes_written += len;
    rc = (ssize_t)len;
    if (out) {
        fill_attr(m, l.file, out);
    }
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static ssize_t mem_pwrite(struct mpfs_backend *b, const char *path, const void *buf, size_t len,
                          uint64_t off)
{
    return pwrite_common(b, path, buf, len, off, NULL, NULL);
}

static ssize_t mem_pwrite_if(struct mpfs_backend *b, const char *path, const void *buf,
                             size_t len, uint64_t off, const char *expect, struct mpfs_attr *out)
{
    return pwrite_common(b, path, buf, len, off, expect, out);
}

static int mem_remove(struct mpfs_backend *b, const char *path)
{
    struct mem_backend *m = mem_of(b);
    struct mem_look l;
    int rc;

    pthread_mutex_lock(&m->s->lock);
    m->stats.removes++;
    rc = check_path(m, path);
    if (rc < 0) {
        goto out_unlock;
    }
    look(m, path, &l);
    if (!l.file) {
        rc = l.is_dir ? -EISDIR : missing(m, path);
        goto out_unlock;
    }
    unlink_key(m, path);
    mark_deleted(m, path);
    touch_parent(m, path);
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

/* Moves every key under from/ (marker included) to to/. */
static void move_tree(struct mem_backend *m, const char *from, const char *to)
{
    char *prefix = marker_key(from);
    size_t plen = strlen(prefix);
    size_t n;
    char **keys = keys_with_prefix(m, prefix, &n);
    for (size_t i = 0; i < n; i++) {
        struct mem_obj *o = sl_erase(m, keys[i]);
        mark_deleted(m, keys[i]);
        char *nk = mpfs_xasprintf("%s/%s", to, keys[i] + plen);
        sl_insert(m, nk, o);
        o->refs--; /* sl_insert took one; the erased key's moves over */
        free(nk);
    }
    free_keys(keys, n);
    free(prefix);
}

static int rename_locked(struct mem_backend *m, const char *from, const char *to, unsigned flags)
{
    struct mem_look lf;
    struct mem_look lt;
    int rc;

    if ((rc = check_path(m, from)) < 0 || (rc = check_path(m, to)) < 0) {
        return rc;
    }
    if (from[0] == '\0' || to[0] == '\0') {
        return -EBUSY;
    }
    look(m, from, &lf);
    if (!exists(&lf)) {
        return missing(m, from);
    }
    int dir = lf.file == NULL;
    if (dir && !has_cap(m, MPFS_CAP_RENAME_DIR)) {
        return -EOPNOTSUPP;
    }
    if (strcmp(from, to) == 0) {
        return 0;
    }
    size_t flen = strlen(from);
    if (dir && strncmp(to, from, flen) == 0 && to[flen] == '/') {
        return -EINVAL; /* into its own subtree */
    }
    rc = create_parents(m, to);
    if (rc < 0) {
        return rc;
    }
    look(m, to, &lt);
    if (exists(&lt) && (flags & MPFS_RENAME_NOREPLACE)) {
        return -EEXIST;
    }
    if (lf.file && lf.file == lt.file) {
        return 0; /* two links to one file: rename(2) does nothing */
    }
    if (!dir) {
        /* S3 keys "to" and "to/" are independent; POSIX names are not. */
        if (m->s->posix && lt.is_dir) {
            return -EISDIR;
        }
        if (lt.file) {
            unlink_key(m, to);
        } else {
            touch_parent(m, to);
        }
        struct mem_obj *o = sl_erase(m, from);
        mark_deleted(m, from); /* S3: a copy, then a delete */
        sl_insert(m, to, o);
        o->refs--;
        o->ctime_ns = store_now(m);
        touch_parent(m, from);
        return 0;
    }
    if (lt.file) {
        return -ENOTDIR;
    }
    if (lt.is_dir) {
        if (has_children(m, to)) {
            return -ENOTEMPTY;
        }
        char *mk = marker_key(to);
        unlink_key(m, mk);
        free(mk);
    } else {
        touch_parent(m, to);
    }
    move_tree(m, from, to);
    touch_parent(m, from);
    return 0;
}

static int mem_rename(struct mpfs_backend *b, const char *from, const char *to, unsigned flags)
{
    struct mem_backend *m = mem_of(b);
    int rc;

    if (!(m->base.caps & (MPFS_CAP_RENAME_ATOMIC | MPFS_CAP_RENAME_EMULATED))) {
        return -EOPNOTSUPP;
    }
    if (flags & ~(MPFS_RENAME_NOREPLACE | MPFS_RENAME_EXCHANGE)) {
        return -EINVAL;
    }
    if (flags & MPFS_RENAME_EXCHANGE) {
        return -EOPNOTSUPP;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.renames++;
    rc = rename_locked(m, from, to, flags);
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static int mem_mkdir(struct mpfs_backend *b, const char *path, uint32_t mode)
{
    struct mem_backend *m = mem_of(b);
    struct mem_look l;
    int rc;

    pthread_mutex_lock(&m->s->lock);
    m->stats.mkdirs++;
    rc = check_path(m, path);
    if (rc < 0) {
        goto out_unlock;
    }
    look(m, path, &l);
    if (exists(&l)) {
        rc = -EEXIST;
        goto out_unlock;
    }
    rc = create_parents(m, path);
    if (rc < 0) {
        goto out_unlock;
    }
    if (!m->s->posix && !has_cap(m, MPFS_CAP_EMPTY_DIRS)) {
        /* A store that cannot keep an empty directory: nothing to write;
         * the directory appears with its first key. */
        goto out_unlock;
    }
    struct mem_obj *o = obj_new(m, S_IFDIR | (mode & 07777));
    if (!m->s->posix) {
        if (has_cap(m, MPFS_CAP_SETATTR)) {
            o->valid |= MPFS_ATTR_MODE;
        } else {
            o->mode = S_IFDIR | 0755;
        }
    }
    char *mk = marker_key(path);
    sl_insert(m, mk, o);
    free(mk);
    touch_parent(m, path);
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static int mem_rmdir(struct mpfs_backend *b, const char *path)
{
    struct mem_backend *m = mem_of(b);
    struct mem_look l;
    int rc;

    pthread_mutex_lock(&m->s->lock);
    m->stats.rmdirs++;
    rc = check_path(m, path);
    if (rc < 0) {
        goto out_unlock;
    }
    if (path[0] == '\0') {
        rc = -EBUSY;
        goto out_unlock;
    }
    look(m, path, &l);
    if (!l.is_dir) {
        rc = l.file ? -ENOTDIR : missing(m, path);
        goto out_unlock;
    }
    if (has_children(m, path)) {
        rc = -ENOTEMPTY;
        goto out_unlock;
    }
    char *mk = marker_key(path);
    unlink_key(m, mk);
    free(mk);
    touch_parent(m, path);
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

/* May a symlink or special file be made at path?  Caller holds m->lock. */
static int check_new_leaf(struct mem_backend *m, const char *path)
{
    struct mem_look l;
    int rc = check_path(m, path);
    if (rc == 0 && path[0] == '\0') {
        rc = -EEXIST;
    }
    if (rc < 0) {
        return rc;
    }
    look(m, path, &l);
    if (l.file || (m->s->posix && l.is_dir)) {
        return -EEXIST;
    }
    return create_parents(m, path);
}

static int mem_symlink(struct mpfs_backend *b, const char *target, const char *path)
{
    struct mem_backend *m = mem_of(b);
    int rc;

    if (!has_cap(m, MPFS_CAP_SYMLINK)) {
        return -EOPNOTSUPP;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.others++;
    rc = check_new_leaf(m, path);
    if (rc < 0) {
        goto out_unlock;
    }
    /* S3 emulation is s3fs's: the target as content, mode in metadata. */
    struct mem_obj *o = obj_new(m, S_IFLNK | 0777);
    o->valid |= MPFS_ATTR_MODE;
    obj_set_data(m, o, target, strlen(target));
    sl_insert(m, path, o);
    touch_parent(m, path);
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

/* POSIX: a real special file.  S3: s3fs's emulation, an empty object
 * whose stored mode carries the type (so it needs stored metadata). */
static int mem_mknod(struct mpfs_backend *b, const char *path, uint32_t mode, uint64_t rdev)
{
    struct mem_backend *m = mem_of(b);
    int rc;

    uint32_t type = mode & S_IFMT;
    if (type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR && type != S_IFBLK) {
        return -EINVAL;
    }
    if (!m->s->posix && !has_cap(m, MPFS_CAP_SETATTR)) {
        return -EOPNOTSUPP;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.others++;
    rc = check_new_leaf(m, path);
    if (rc < 0) {
        goto out_unlock;
    }
    struct mem_obj *o = obj_new(m, type | (mode & 07777));
    o->valid |= MPFS_ATTR_MODE;
    o->rdev = (type == S_IFCHR || type == S_IFBLK) ? rdev : 0;
    sl_insert(m, path, o);
    touch_parent(m, path);
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static ssize_t mem_readlink(struct mpfs_backend *b, const char *path, char *buf, size_t size)
{
    struct mem_backend *m = mem_of(b);
    struct mem_look l;
    ssize_t rc;

    if (!has_cap(m, MPFS_CAP_SYMLINK)) {
        return -EOPNOTSUPP;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.others++;
    rc = check_path(m, path);
    if (rc < 0) {
        goto out_unlock;
    }
    look(m, path, &l);
    if (!l.file) {
        rc = l.is_dir ? -EINVAL : missing(m, path);
        goto out_unlock;
    }
    if (!S_ISLNK(l.file->mode)) {
        rc = -EINVAL;
        goto out_unlock;
    }
    /* readlink(2): no NUL, silently truncated to size. */
    size_t n = MPFS_MIN(size, l.file->size);
    if (n) {
        memcpy(buf, l.file->data, n);
    }
    rc = (ssize_t)n;
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static int mem_link(struct mpfs_backend *b, const char *existing, const char *newpath)
{
    struct mem_backend *m = mem_of(b);
    struct mem_look le;
    struct mem_look ln;
    int rc;

    if (!has_cap(m, MPFS_CAP_HARDLINK)) {
        return -EOPNOTSUPP;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.others++;
    if ((rc = check_path(m, existing)) < 0 || (rc = check_path(m, newpath)) < 0) {
        goto out_unlock;
    }
    look(m, existing, &le);
    if (!le.file) {
        rc = le.is_dir ? -EPERM : missing(m, existing);
        goto out_unlock;
    }
    look(m, newpath, &ln);
    if (newpath[0] == '\0' || ln.file || (m->s->posix && ln.is_dir)) {
        rc = -EEXIST;
        goto out_unlock;
    }
    rc = posix_parent_ok(m, newpath);
    if (rc < 0) {
        goto out_unlock;
    }
    sl_insert(m, newpath, le.file);
    le.file->ctime_ns = store_now(m);
    touch_parent(m, newpath);
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static int mem_setattr(struct mpfs_backend *b, const char *path, const struct mpfs_attr *attr,
                       uint32_t to_set, struct mpfs_attr *out)
{
    struct mem_backend *m = mem_of(b);
    struct mem_look l;
    uint32_t need = 0;
    int rc;

    if (to_set & (MPFS_SET_MODE | MPFS_SET_UID | MPFS_SET_GID | MPFS_SET_MTIME | MPFS_SET_ATIME)) {
        need |= MPFS_CAP_SETATTR;
    }
    if (to_set & MPFS_SET_SIZE) {
        need |= MPFS_CAP_TRUNCATE;
    }
    if (!has_cap(m, need)) {
        return -EOPNOTSUPP;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.setattrs++;
    rc = check_path(m, path);
    if (rc < 0) {
        goto out_unlock;
    }
    look(m, path, &l);
    if ((to_set & MPFS_SET_SIZE) && !l.file && l.is_dir) {
        rc = -EISDIR;
        goto out_unlock;
    }
    if ((to_set & MPFS_SET_SIZE) && l.file && !S_ISREG(l.file->mode)) {
        rc = -EINVAL;
        goto out_unlock;
    }
    struct mem_obj *o = meta_obj(m, path, &l, 1);
    if (!o) {
        rc = missing(m, path);
        goto out_unlock;
    }
    if (to_set & MPFS_SET_SIZE) {
        rc = obj_resize(m, o, attr->size);
        if (rc < 0) {
            goto out_unlock;
        }
        obj_changed(m, o);
    }
    if (to_set & MPFS_SET_MODE) {
        o->mode = (o->mode & S_IFMT) | (attr->mode & 07777);
        o->valid |= MPFS_ATTR_MODE;
    }
    if (to_set & MPFS_SET_UID) {
        o->uid = attr->uid;
        o->valid |= MPFS_ATTR_OWNER;
    }
    if (to_set & MPFS_SET_GID) {
        o->gid = attr->gid;
        o->valid |= MPFS_ATTR_OWNER;
    }
    if (to_set & MPFS_SET_MTIME) {
        o->mtime_ns = attr->mtime_ns;
        o->valid |= MPFS_ATTR_MTIME;
        if (m->s->posix) {
            /* an NFS version token includes mtime */
            o->ver = ++m->s->next_ver;
        }
    }
    if (to_set & MPFS_SET_ATIME) {
        o->atime_ns = attr->atime_ns;
    }
    o->ctime_ns = store_now(m);
    if (out) {
        fill_attr(m, o, out);
    }
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

/* A stat and a read of that version: what a store's ranged GET answers in
 * one request (the fake has no round trips to save; it gives the fs layer
 * the same answer).  A version replaced between the two leaves *got 0. */
static int mem_stat_read(struct mpfs_backend *b, const char *path, struct mpfs_attr *out,
                         void *buf, size_t len, size_t *got)
{
    *got = 0;
    int rc = mem_stat(b, path, out);
    if (rc < 0 || !S_ISREG(out->mode) || out->size == 0)
        return rc;
    ssize_t n = mem_read(b, path, out->version, buf, (size_t)MPFS_MIN((uint64_t)len, out->size), 0);
    *got = n > 0 ? (size_t)n : 0;
    return 0;
}

static int mem_statfs(struct mpfs_backend *b, struct statvfs *out)
{
    struct mem_backend *m = mem_of(b);

    pthread_mutex_lock(&m->s->lock);
    m->stats.others++;
    uint64_t used = (m->s->bytes_used + 4095) / 4096;
    out->f_bsize = 4096;
    out->f_frsize = 4096;
    out->f_blocks = MEM_TOTAL_BYTES / 4096;
    out->f_bfree = used < out->f_blocks ? out->f_blocks - used : 0;
    out->f_bavail = out->f_bfree;
    out->f_files = 1ull << 32;
    out->f_ffree = out->f_files - m->s->nobjs;
    out->f_favail = out->f_ffree;
    out->f_namemax = m->s->posix ? 255 : S3_KEY_MAX;
    pthread_mutex_unlock(&m->s->lock);
    return 0;
}

static struct mem_xattr **xattr_find(struct mem_obj *o, const char *name)
{
    struct mem_xattr **pp = &o->xattrs;
    while (*pp && strcmp((*pp)->name, name) != 0) {
        pp = &(*pp)->next;
    }
    return pp;
}

/* Common prologue of the xattr ops: the object carrying path's metadata. */
static int xattr_obj(struct mem_backend *m, const char *path, int create, struct mem_obj **o)
{
    struct mem_look l;
    int rc = check_path(m, path);
    if (rc < 0) {
        return rc;
    }
    look(m, path, &l);
    if (!exists(&l)) {
        return missing(m, path);
    }
    *o = meta_obj(m, path, &l, create);
    return 0;
}

static ssize_t mem_getxattr(struct mpfs_backend *b, const char *path, const char *name, void *buf,
                            size_t size)
{
    struct mem_backend *m = mem_of(b);
    struct mem_obj *o = NULL;
    ssize_t rc;

    if (!has_cap(m, MPFS_CAP_USER_XATTR)) {
        return -EOPNOTSUPP;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.others++;
    rc = xattr_obj(m, path, 0, &o);
    if (rc < 0) {
        goto out_unlock;
    }
    struct mem_xattr *x = o ? *xattr_find(o, name) : NULL;
    if (!x) {
        rc = -ENODATA;
    } else if (size == 0) {
        rc = (ssize_t)x->size;
    } else if (size < x->size) {
        rc = -ERANGE;
    } else {
        if (x->size) {
            memcpy(buf, x->value, x->size);
        }
        rc = (ssize_t)x->size;
    }
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static int mem_setxattr(struct mpfs_backend *b, const char *path, const char *name,
                        const void *value, size_t size)
{
    struct mem_backend *m = mem_of(b);
    struct mem_obj *o = NULL;
    int rc;

    if (!has_cap(m, MPFS_CAP_USER_XATTR)) {
        return -EOPNOTSUPP;
    }
    if (name[0] == '\0' || strlen(name) > 255) {
        return -EINVAL;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.others++;
    rc = xattr_obj(m, path, 1, &o);
    if (rc < 0) {
        goto out_unlock;
    }
    struct mem_xattr **pp = xattr_find(o, name);
    struct mem_xattr *x = *pp;
    if (!x) {
        x = mpfs_xcalloc(1, sizeof(*x));
        x->name = mpfs_xstrdup(name);
        *pp = x;
    }
    free(x->value);
    x->value = mpfs_xmalloc(size);
    if (size) {
        memcpy(x->value, value, size);
    }
    x->size = size;
    o->ctime_ns = store_now(m);
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static ssize_t mem_listxattr(struct mpfs_backend *b, const char *path, char *buf, size_t size)
{
    struct mem_backend *m = mem_of(b);
    struct mem_obj *o = NULL;
    ssize_t rc;

    if (!has_cap(m, MPFS_CAP_USER_XATTR)) {
        return -EOPNOTSUPP;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.others++;
    rc = xattr_obj(m, path, 0, &o);
    if (rc < 0) {
        goto out_unlock;
    }
    size_t need = 0;
    for (struct mem_xattr *x = o ? o->xattrs : NULL; x; x = x->next) {
        need += strlen(x->name) + 1;
    }
    if (size == 0) {
        rc = (ssize_t)need;
        goto out_unlock;
    }
    if (size < need) {
        rc = -ERANGE;
        goto out_unlock;
    }
    size_t used = 0;
    for (struct mem_xattr *x = o ? o->xattrs : NULL; x; x = x->next) {
        size_t len = strlen(x->name) + 1;
        memcpy(buf + used, x->name, len);
        used += len;
    }
    rc = (ssize_t)used;
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static int mem_removexattr(struct mpfs_backend *b, const char *path, const char *name)
{
    struct mem_backend *m = mem_of(b);
    struct mem_obj *o = NULL;
    int rc;

    if (!has_cap(m, MPFS_CAP_USER_XATTR)) {
        return -EOPNOTSUPP;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.others++;
    rc = xattr_obj(m, path, 0, &o);
    if (rc < 0) {
        goto out_unlock;
    }
    struct mem_xattr **pp = o ? xattr_find(o, name) : NULL;
    if (!pp || !*pp) {
        rc = -ENODATA;
        goto out_unlock;
    }
    struct mem_xattr *x = *pp;
    *pp = x->next;
    free(x->name);
    free(x->value);
    free(x);
    o->ctime_ns = store_now(m);
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

/* One version of key in a versioned store: the current object or a kept
 * one.  Version ids are "id<n>" (the store's change counter). */
struct mem_version {
    uint64_t seq;
    uint64_t ver;
    int deleted;
    const char *data;
    size_t size;
};

/* The newest version of key older than `below` (UINT64_MAX: the newest of
 * all); 0 if there is none. */
static int version_before(struct mem_backend *m, const char *key, uint64_t below,
                          struct mem_version *out)
{
    memset(out, 0, sizeof(*out));
    struct mem_obj *cur = find_obj(m, key);
    if (cur && S_ISREG(cur->mode) && cur->vseq < below) {
        *out = (struct mem_version){cur->vseq, cur->ver, 0, cur->data, cur->size};
    }
    for (struct mem_hist *h = m->s->hist; h; h = h->next) {
        if (strcmp(h->key, key) == 0 && h->seq < below && h->seq > out->seq) {
            *out = (struct mem_version){h->seq, h->ver, h->deleted, h->data, h->size};
        }
    }
    return out->seq != 0;
}

static int mem_overwritten(struct mpfs_backend *b, const char *path, const char *ours,
                           const char *base, char *victim, size_t victim_len)
{
    struct mem_backend *m = mem_of(b);
    int rc = -ENOENT;
    pthread_mutex_lock(&m->s->lock);
    m->stats.others++;
    /* ours: the newest non-deleted version with that token */
    struct mem_version v, prev;
    for (uint64_t below = UINT64_MAX; version_before(m, path, below, &v); below = v.seq) {
        struct mem_obj probe = {.ver = v.ver, .size = v.size, .mode = S_IFREG};
        if (!v.deleted && token_matches(m, &probe, ours)) {
            rc = 0;
            break;
        }
    }
    if (rc == 0 && version_before(m, path, v.seq, &prev)) {
        struct mem_obj probe = {.ver = prev.ver, .size = prev.size, .mode = S_IFREG};
        if (prev.deleted) {
            rc = base && base[0] ? 1 : 0;
            snprintf(victim, victim_len, "%s", "");
        } else if (!base || !base[0] || !token_matches(m, &probe, base)) {
            rc = 1;
            snprintf(victim, victim_len, "id%" PRIu64, prev.seq);
        }
    }
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static int mem_copy_version(struct mpfs_backend *b, const char *path, const char *version_id,
                            const char *to)
{
    struct mem_backend *m = mem_of(b);
    uint64_t want = 0;
    int rc = -ENOENT;
    if (sscanf(version_id, "id%" SCNu64, &want) != 1) {
        return -EINVAL;
    }
    pthread_mutex_lock(&m->s->lock);
    m->stats.others++;
    struct mem_version v;
    if (version_before(m, path, want + 1, &v) && v.seq == want && !v.deleted) {
        struct mem_obj *o = obj_new(m, S_IFREG | 0644);
        obj_set_data(m, o, v.data, v.size);
        unlink_key(m, to);
        sl_insert(m, to, o);
        rc = 0;
    }
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

static void mem_destroy(struct mpfs_backend *b)
{
    struct mem_backend *m = mem_of(b);
    struct mem_store *st = m->s;

    pthread_mutex_lock(&st->lock);
    unsigned left = --st->refs;
    pthread_mutex_unlock(&st->lock);
    if (left > 0) {
        free(m); /* another view still uses the store */
        return;
    }
    struct mem_node *x = st->head->next[0];
    while (x) {
        struct mem_node *next = x->next[0];
        obj_unref(m, x->obj);
        free(x->key);
        free(x);
        x = next;
    }
    while (st->hist) {
        struct mem_hist *h = st->hist;
        st->hist = h->next;
        free(h->key);
        free(h->data);
        free(h);
    }
    obj_free_xattrs(&st->root);
    free(st->head);
    pthread_mutex_destroy(&st->lock);
    free(st);
    free(m);
}

static const struct mpfs_backend_ops mem_ops = {
    .version = MPFS_BACKEND_OPS_VERSION,
    .stat = mem_stat,
    .list = mem_list,
    .read = mem_read,
    .put = mem_put,
    .pwrite = mem_pwrite,
    .remove = mem_remove,
    .rename = mem_rename,
    .mkdir = mem_mkdir,
    .rmdir = mem_rmdir,
    .symlink = mem_symlink,
    .readlink = mem_readlink,
    .link = mem_link,
    .setattr = mem_setattr,
    .statfs = mem_statfs,
    .getxattr = mem_getxattr,
    .setxattr = mem_setxattr,
    .listxattr = mem_listxattr,
    .removexattr = mem_removexattr,
    .destroy = mem_destroy,
    .list_tree = mem_list_tree,
    .pwrite_if = mem_pwrite_if,
    .mknod = mem_mknod,
    .stat_read = mem_stat_read,
    .overwritten = mem_overwritten,
    .copy_version = mem_copy_version,
};

static struct mem_store *store_new(int posix)
{
    struct mem_store *st = mpfs_xcalloc(1, sizeof(*st));
    pthread_mutex_init(&st->lock, NULL);
    st->posix = posix;
    st->head = mpfs_xcalloc(1, sizeof(*st->head) + SL_MAX_LEVEL * sizeof(st->head->next[0]));
    st->head->key = NULL;
    st->head->height = SL_MAX_LEVEL;
    st->level = 1;
    st->rng = 0x9e3779b97f4a7c15ull;
    st->next_fileid = 2; /* 1 is the root, as on most filesystems */
    st->root.refs = 1;
    st->root.mode = S_IFDIR | 0755;
    st->root.fileid = posix ? 1 : 0;
    st->clock_ns = mpfs_wall_ns();
    st->root.mtime_ns = st->root.ctime_ns = st->root.atime_ns = st->clock_ns;
    st->root.ver = ++st->next_ver;
    st->root.valid = posix ? (MPFS_ATTR_MODE | MPFS_ATTR_OWNER | MPFS_ATTR_MTIME) : 0;
    return st;
}

/* A new handle on st (taking a reference). */
static struct mem_backend *handle_new(struct mem_store *st, enum mpfs_mem_view view,
                                      uint32_t caps)
{
    static const char *const view_names[] = {"", "s3 view", "nfs view"};
    struct mem_backend *m = mpfs_xcalloc(1, sizeof(*m));
    char capstr[200];

    m->base.ops = &mem_ops;
    m->base.kind = MEM_KIND;
    m->base.caps = caps;
    m->base.io_size = 1u << 20;
    m->s = st;
    m->view = view;
    mpfs_backend_caps_str(caps, capstr, sizeof(capstr));
    snprintf(m->base.desc, sizeof(m->base.desc), "mem(%s%s%s; %s)", st->posix ? "posix" : "s3",
             view ? ", " : "", view_names[view], capstr);
    pthread_mutex_lock(&st->lock);
    st->refs++;
    pthread_mutex_unlock(&st->lock);
    return m;
}

struct mpfs_backend *mpfs_mem_new(uint32_t caps)
{
    struct mem_store *st = store_new((caps & MPFS_CAP_PWRITE) != 0);
    st->versioned = (caps & MPFS_CAP_VERSION_CHAIN) != 0;
    return &handle_new(st, MPFS_MEM_VIEW_PLAIN, caps)->base;
}

void mpfs_mem_ignore_conditions(struct mpfs_backend *b, int ignore)
{
    struct mem_backend *m = mem_of(b);
    MPFS_ASSERT(mpfs_mem_is(b));
    pthread_mutex_lock(&m->s->lock);
    m->s->ignore_conditions = ignore;
    pthread_mutex_unlock(&m->s->lock);
}

struct mpfs_backend *mpfs_mem_dual_new(struct mpfs_backend **nfs_view)
{
    struct mem_store *st = store_new(1);
    struct mem_backend *s3 = handle_new(st, MPFS_MEM_VIEW_S3, MPFS_MEM_CAPS_DUAL_S3);
    *nfs_view = &handle_new(st, MPFS_MEM_VIEW_NFS, MPFS_MEM_CAPS_DUAL_NFS)->base;
    return &s3->base;
}

struct mpfs_backend *mpfs_mem_view_new(struct mpfs_backend *b, enum mpfs_mem_view view)
{
    if (!mpfs_mem_is(b) || view == MPFS_MEM_VIEW_PLAIN || !mem_of(b)->s->posix ||
        mem_of(b)->view == MPFS_MEM_VIEW_PLAIN) {
        return NULL;
    }
    uint32_t caps = view == MPFS_MEM_VIEW_S3 ? MPFS_MEM_CAPS_DUAL_S3 : MPFS_MEM_CAPS_DUAL_NFS;
    return &handle_new(mem_of(b)->s, view, caps)->base;
}

enum mpfs_mem_view mpfs_mem_view_of(const struct mpfs_backend *b)
{
    return mpfs_mem_is(b) ? ((const struct mem_backend *)b)->view : MPFS_MEM_VIEW_PLAIN;
}

int mpfs_mem_is(const struct mpfs_backend *b)
{
    return b && b->ops == &mem_ops;
}

/* POSIX put_raw: mkdir -p of key's parents. */
static int posix_mkdirs(struct mem_backend *m, const char *key)
{
    char *buf = mpfs_xmalloc(strlen(key) + 2);
    int rc = 0;
    for (const char *s = strchr(key, '/'); s; s = strchr(s + 1, '/')) {
        size_t len = (size_t)(s - key);
        memcpy(buf, key, len);
        buf[len] = '\0';
        if (find_obj(m, buf)) {
            rc = -ENOTDIR;
            break;
        }
        buf[len] = '/';
        buf[len + 1] = '\0';
        if (!find_obj(m, buf)) {
            buf[len] = '\0';
            touch_parent(m, buf);
            buf[len] = '/';
            sl_insert(m, buf, obj_new(m, S_IFDIR | 0755));
        }
    }
    free(buf);
    return rc;
}

int mpfs_mem_put_raw(struct mpfs_backend *b, const char *key, const void *data, size_t len)
{
    struct mem_backend *m = mem_of(b);
    int rc = 0;

    if (!mpfs_mem_is(b)) {
        return -EINVAL;
    }
    pthread_mutex_lock(&m->s->lock);
    if (key[0] == '\0') {
        rc = -EINVAL;
        goto out_unlock;
    }
    if (!m->s->posix) {
        size_t klen = strlen(key);
        struct mem_obj *o = obj_new(m, key[klen - 1] == '/' ? S_IFDIR | 0755 : S_IFREG | 0644);
        obj_set_data(m, o, data, len);
        unlink_key(m, key);
        sl_insert(m, key, o);
        goto out_unlock;
    }
    rc = check_path(m, key);
    if (rc < 0) {
        goto out_unlock;
    }
    rc = posix_mkdirs(m, key);
    if (rc < 0) {
        goto out_unlock;
    }
    struct mem_look l;
    look(m, key, &l);
    if (l.is_dir) {
        rc = -EISDIR;
        goto out_unlock;
    }
    if (l.file && S_ISREG(l.file->mode)) {
        obj_set_data(m, l.file, data, len);
        goto out_unlock;
    }
    if (l.file) {
        unlink_key(m, key);
    } else {
        touch_parent(m, key);
    }
    struct mem_obj *o = obj_new(m, S_IFREG | 0644);
    obj_set_data(m, o, data, len);
    sl_insert(m, key, o);
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

int mpfs_mem_remove_raw(struct mpfs_backend *b, const char *key)
{
    struct mem_backend *m = mem_of(b);
    int rc = 0;

    if (!mpfs_mem_is(b)) {
        return -EINVAL;
    }
    pthread_mutex_lock(&m->s->lock);
    if (!m->s->posix || sl_find(m, key)) {
        if (!sl_find(m, key)) {
            rc = -ENOENT;
            goto out_unlock;
        }
        unlink_key(m, key);
        mark_deleted(m, key);
        touch_parent(m, key);
        goto out_unlock;
    }
    char *prefix = marker_key(key);
    size_t n;
    char **keys = keys_with_prefix(m, prefix, &n);
    /* keys_with_prefix("") would be everything: never for a missing key */
    if (key[0] == '\0' || n == 0 || strcmp(keys[0], prefix) != 0) {
        rc = -ENOENT;
    } else {
        for (size_t i = 0; i < n; i++) {
            unlink_key(m, keys[i]);
        }
        touch_parent(m, key);
    }
    free_keys(keys, n);
    free(prefix);
out_unlock:
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

int mpfs_mem_bump_version(struct mpfs_backend *b, const char *key)
{
    struct mem_backend *m = mem_of(b);
    int rc = 0;

    if (!mpfs_mem_is(b)) {
        return -EINVAL;
    }
    pthread_mutex_lock(&m->s->lock);
    struct mem_obj *o = find_obj(m, key);
    if (!o && m->s->posix && key[0]) {
        char *mk = marker_key(key);
        o = find_obj(m, mk);
        free(mk);
    }
    if (o) {
        obj_changed(m, o);
    } else {
        rc = -ENOENT;
    }
    pthread_mutex_unlock(&m->s->lock);
    return rc;
}

void mpfs_mem_get_stats(struct mpfs_backend *b, struct mpfs_mem_stats *out)
{
    struct mem_backend *m = mem_of(b);
    pthread_mutex_lock(&m->s->lock);
    *out = m->stats;
    pthread_mutex_unlock(&m->s->lock);
}

void mpfs_mem_reset_stats(struct mpfs_backend *b)
{
    struct mem_backend *m = mem_of(b);
    pthread_mutex_lock(&m->s->lock);
    memset(&m->stats, 0, sizeof(m->stats));
    pthread_mutex_unlock(&m->s->lock);
}

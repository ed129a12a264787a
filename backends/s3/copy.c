/*
 * copy.c - everything built on server-side copy: rename (files and whole
 * directories, copy+delete), setattr and user xattrs (a metadata REPLACE
 * copy of the object onto itself), and the header sets they send.
 *
 * Copies carry x-amz-copy-source-if-match with the ETag the HEAD saw, so
 * an object overwritten between our HEAD and our copy is never half-
 * renamed or has its new content's metadata clobbered: the copy fails 412
 * and the metadata edits retry (up to 3 times) from a fresh HEAD.
 * Objects above 5 GiB (copy_max) go through UploadPartCopy in parallel
 * (put.c's multipart engine), re-sending the metadata themselves.
 *
 * Directory rename lists the source prefix recursively (no delimiter),
 * copies every key in parallel, then deletes the sources.  If a copy
 * fails the copies made so far are deleted and the source is untouched;
 * if a delete fails afterwards both trees exist and the error is returned
 * (nothing is lost).  Not atomic: MPFS_CAP_RENAME_EMULATED.
 *
 * Directory metadata lives on the marker "dir/"; a directory that is only
 * implied by its children gets a marker on its first setattr/setxattr.
 *
 * Locking: none; the parallel copy workers share an atomic index and an
 * atomic first error.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "backends/s3/http.h"
#include "backends/s3/internal.h"
#include "backends/s3/meta.h"
#include "backends/s3/uri.h"
#include "backends/s3/xml.h"
#include "base/log.h"
#include "base/util.h"

#define REWRITE_TRIES 3

/* --- header sets --------------------------------------------------------- */

int mpfs_s3_hdrs_add(struct mpfs_s3_hdrset *h, const char *prefix, const char *name,
                     const char *value)
{
    if (h->n >= MPFS_S3_MAX_HDRS - 16) { /* room for the request's own headers */
        return -E2BIG;
    }
    h->off[h->n][0] = h->arena.len;
    mpfs_s3_buf_adds(&h->arena, prefix);
    size_t start = h->arena.len;
    mpfs_s3_buf_adds(&h->arena, name);
    for (size_t i = start; i < h->arena.len; i++) {
        h->arena.p[i] = (char)tolower((unsigned char)h->arena.p[i]);
    }
    mpfs_s3_buf_add(&h->arena, "", 1);
    h->off[h->n][1] = h->arena.len;
    mpfs_s3_buf_adds(&h->arena, value);
    mpfs_s3_buf_add(&h->arena, "", 1);
    h->n++;
    return 0;
}

int mpfs_s3_hdrs_add_meta(struct mpfs_s3_hdrset *h, const struct mpfs_s3_buf *meta,
                          int (*skip)(const char *name, void *arg), void *arg)
{
    size_t pos = 0;
    const char *n, *v;
    while (mpfs_s3_meta_next(meta, &pos, &n, &v)) {
        if (skip && skip(n, arg)) {
            continue;
        }
        int rc = n[0] == ':' ? mpfs_s3_hdrs_add(h, "", n + 1, v)
                             : mpfs_s3_hdrs_add(h, "x-amz-meta-", n, v);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

int mpfs_s3_hdrs_add_attr(struct mpfs_s3_hdrset *h, const struct mpfs_attr *a, uint32_t set)
{
    struct mpfs_s3_meta_hdrs m;
    int rc = 0;
    mpfs_s3_meta_format(a, set, &m);
    if (m.mode[0]) {
        rc = rc ? rc : mpfs_s3_hdrs_add(h, "x-amz-meta-", "mode", m.mode);
    }
    if (m.uid[0]) {
        rc = rc ? rc : mpfs_s3_hdrs_add(h, "x-amz-meta-", "uid", m.uid);
    }
    if (m.gid[0]) {
        rc = rc ? rc : mpfs_s3_hdrs_add(h, "x-amz-meta-", "gid", m.gid);
    }
    if (m.mtime[0]) {
        rc = rc ? rc : mpfs_s3_hdrs_add(h, "x-amz-meta-", "mtime", m.mtime);
    }
    if (m.atime[0]) {
        rc = rc ? rc : mpfs_s3_hdrs_add(h, "x-amz-meta-", "atime", m.atime);
    }
    return rc;
}

const char *mpfs_s3_hdrs_get(const struct mpfs_s3_hdrset *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->arena.p + h->off[i][0], name) == 0) {
            return h->arena.p + h->off[i][1];
        }
    }
    return NULL;
}

int mpfs_s3_hdrs_apply(const struct mpfs_s3_hdrset *h, struct mpfs_s3_req *rq)
{
    for (size_t i = 0; i < h->n; i++) {
        int rc = mpfs_s3_req_hdr(rq, h->arena.p + h->off[i][0], h->arena.p + h->off[i][1]);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

void mpfs_s3_hdrs_fini(struct mpfs_s3_hdrset *h)
{
    mpfs_s3_buf_free(&h->arena);
    h->n = 0;
}

/* --- copy ---------------------------------------------------------------- */

static int copy_source(const struct mpfs_s3 *s, const char *key, char *out, size_t outlen)
{
    char enc[3 * MPFS_S3_KEY_MAX + 1];
    if (mpfs_s3_uri_encode(key, strlen(key), 1, enc, sizeof(enc)) < 0) {
        return -ENAMETOOLONG;
    }
    int n = snprintf(out, outlen, "/%s/%s", s->bucket, enc);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int mpfs_s3_copy(struct mpfs_s3 *s, const char *src_key, const char *dst_key, uint64_t size,
                 const char *src_etag, const struct mpfs_s3_hdrset *hdrs, int replace,
                 char *etag_out, size_t etag_len)
{
    if (size > s->copy_max) {
        struct mpfs_s3_mp_src src = {.fd = -1, .src_key = src_key, .src_etag = src_etag};
        return mpfs_s3_multipart(s, dst_key, size, &src, hdrs, NULL, 0, NULL, etag_out,
                                     etag_len);
    }

    char cs[3 * MPFS_S3_KEY_MAX + 300], ifm[MPFS_VERSION_MAX + 4];
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    struct mpfs_s3_buf xml = {0};
    int rc = copy_source(s, src_key, cs, sizeof(cs));
    if (rc < 0) {
        return rc;
    }
    mpfs_s3_req_init(&rq, "PUT", dst_key);
    rq.xml = &xml;
    rq.bulk = 1; /* a large copy takes a while before the answer */
    mpfs_s3_req_hdr(&rq, "x-amz-copy-source", cs);
    if (src_etag && src_etag[0]) {
        snprintf(ifm, sizeof(ifm), "\"%s\"", src_etag);
        mpfs_s3_req_hdr(&rq, "x-amz-copy-source-if-match", ifm);
    }
    if (replace) {
        mpfs_s3_req_hdr(&rq, "x-amz-metadata-directive", "REPLACE");
        rc = mpfs_s3_hdrs_apply(hdrs, &rq);
    }
    mpfs_s3_resp_init(&rs);
    if (rc == 0) {
        rc = mpfs_s3_http_do(s, &rq, &rs);
    }
    if (rc == 0 && etag_out) {
        etag_out[0] = '\0';
        if (mpfs_s3_xml_find_text(xml.p, xml.len, "ETag", etag_out, etag_len) > 0) {
            size_t n = strlen(etag_out);
            if (n >= 2 && etag_out[0] == '"') {
                memmove(etag_out, etag_out + 1, n - 2);
                etag_out[n - 2] = '\0';
            }
        }
    }
    mpfs_s3_resp_fini(&rs);
    mpfs_s3_buf_free(&xml);
    return rc;
}

/* Copy one object with its metadata (HEAD for the ETag and, when the copy
 * must go multipart, the metadata). */
static int copy_object(struct mpfs_s3 *s, const char *src, const char *dst,
                       const struct mpfs_attr *known)
{
    struct mpfs_attr a;
    struct mpfs_s3_buf meta = {0};
    struct mpfs_s3_hdrset hs = {0};
    int rc = 0;

    if (known && known->size <= s->copy_max) {
        a = *known;
    } else {
        rc = mpfs_s3_head(s, src, &a, &meta);
    }
    if (rc == 0) {
        rc = mpfs_s3_hdrs_add_meta(&hs, &meta, NULL, NULL);
    }
    if (rc == 0) {
        rc = mpfs_s3_copy(s, src, dst, a.size, a.version, &hs, 0, NULL, 0);
    }
    mpfs_s3_hdrs_fini(&hs);
    mpfs_s3_buf_free(&meta);
    return rc;
}

/* --- rename -------------------------------------------------------------- */

struct keyent {
    char *key;
    uint64_t size;
    char etag[MPFS_VERSION_MAX];
};

struct keylist {
    struct keyent *v;
    size_t n, cap;
};

static int collect(void *arg, const char *key, size_t klen, uint64_t size, int64_t mt,
                   const char *etag)
{
    struct keylist *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = mpfs_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    struct keyent *e = &l->v[l->n++];
    e->key = mpfs_xmalloc(klen + 1);
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    e->size = size;
    snprintf(e->etag, sizeof(e->etag), "%s", etag);
    return 0;
}

static void keylist_free(struct keylist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Every key under prefix, recursively (no delimiter). */
static int list_all(struct mpfs_s3 *s, const char *prefix, struct keylist *out)
{
    struct mpfs_s3_buf xml = {0};
    struct mpfs_s3_list_page *page = mpfs_xmalloc(sizeof(*page));
    size_t qcap = 3 * (2 * MPFS_S3_KEY_MAX + sizeof(page->next_token)) + 128;
    char *query = mpfs_xmalloc(qcap);
    char *token = NULL;
    int rc;

    for (;;) {
        struct mpfs_s3_qparam qp[4] = {
            {"list-type", "2"}, {"encoding-type", "url"}, {"prefix", prefix}};
        size_t nq = 3;
        struct mpfs_s3_req rq;
        struct mpfs_s3_resp rs;
        if (token) {
            qp[nq++] = (struct mpfs_s3_qparam){"continuation-token", token};
        } else if (out->n) {
            qp[nq++] = (struct mpfs_s3_qparam){"start-after", out->v[out->n - 1].key};
        }
        ssize_t ql = mpfs_s3_query_build(qp, nq, query, qcap);
        if (ql < 0) {
            rc = (int)ql;
            break;
        }
        size_t before = out->n;
        mpfs_s3_req_init(&rq, "GET", NULL);
        rq.query = query;
        rq.xml = &xml;
        mpfs_s3_resp_init(&rs);
        rc = mpfs_s3_http_do(s, &rq, &rs);
        mpfs_s3_resp_fini(&rs);
        if (rc == 0) {
            rc = mpfs_s3_xml_parse_list(xml.p, xml.len, collect, NULL, out, page);
        }
        if (rc != 0 || !page->is_truncated) {
            break;
        }
        free(token);
        token = page->next_token[0] ? mpfs_xstrdup(page->next_token) : NULL;
        if (!token && out->n == before) {
            rc = -EIO; /* truncated, no token, no progress */
            break;
        }
    }
    free(token);
    free(query);
    free(page);
    mpfs_s3_buf_free(&xml);
    return rc;
}

struct par {
    struct mpfs_s3 *s;
    struct keylist *keys;
    const char *from, *to; /* prefixes: key = from + rest -> to + rest */
    int del;               /* 0: copy src->dst, 1: delete src, 2: delete dst */
    atomic_size_t next;
    atomic_int err;
    atomic_size_t done;
};

static void *par_worker(void *arg)
{
    struct par *p = arg;
    size_t fl = strlen(p->from);
    char dst[MPFS_S3_KEY_MAX];

    while (!atomic_load(&p->err)) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->keys->n) {
            break;
        }
        struct keyent *e = &p->keys->v[i];
        int n = snprintf(dst, sizeof(dst), "%s%s", p->to, e->key + fl);
        int rc = n < 0 || (size_t)n >= sizeof(dst) ? -ENAMETOOLONG : 0;
        if (rc == 0 && p->del == 0) {
            struct mpfs_attr a = {.size = e->size};
            snprintf(a.version, sizeof(a.version), "%s", e->etag);
            rc = copy_object(p->s, e->key, dst, &a);
        } else if (rc == 0) {
            rc = mpfs_s3_delete_key(p->s, p->del == 1 ? e->key : dst);
            rc = rc == -ENOENT ? 0 : rc;
        }
        if (rc < 0 && p->del != 2) {
            int zero = 0;
            atomic_compare_exchange_strong(&p->err, &zero, rc);
        }
        if (rc == 0) {
            atomic_fetch_add(&p->done, 1);
        }
    }
    return NULL;
}

/* Run one phase over keys [0, limit) with s->parallel workers. */
static int par_run(struct mpfs_s3 *s, struct keylist *keys, const char *from, const char *to,
                   int del)
{
    struct par p = {.s = s, .keys = keys, .from = from, .to = to, .del = del};
    pthread_t tids[64];
    int n = 0;
    int want = s->parallel < (int)keys->n ? s->parallel : (int)keys->n;
    for (int i = 1; i < want && i < 64; i++) {
        if (pthread_create(&tids[n], NULL, par_worker, &p) == 0) {
            n++;
        }
    }
    par_worker(&p);
    for (int i = 0; i < n; i++) {
        pthread_join(tids[i], NULL);
    }
    return atomic_load(&p.err);
}

static int rename_dir(struct mpfs_s3 *s, const char *from_dir, const char *to_dir, unsigned flags)
{
    struct keylist keys = {0};
    struct mpfs_attr a;
    int any, marker, other;
    char to_file[MPFS_S3_KEY_MAX];

    /* the target: nothing, or an empty directory (POSIX replaces it) */
    snprintf(to_file, sizeof(to_file), "%.*s", (int)strlen(to_dir) - 1, to_dir);
    int rc = mpfs_s3_head(s, to_file, &a, NULL);
    if (rc == 0) {
        return flags & MPFS_RENAME_NOREPLACE ? -EEXIST : -ENOTDIR;
    }
    if (rc != -ENOENT) {
        return rc;
    }
    rc = mpfs_s3_probe_dir(s, to_dir, &any, &marker, &other);
    if (rc < 0) {
        return rc;
    }
    if (any && (flags & MPFS_RENAME_NOREPLACE)) {
        return -EEXIST;
    }
    if (other) {
        return -ENOTEMPTY;
    }

    rc = list_all(s, from_dir, &keys);
    if (rc == 0 && keys.n == 0) {
        rc = -ENOENT;
    }
    if (rc == 0) {
        rc = par_run(s, &keys, from_dir, to_dir, 0);
        if (rc < 0) {
            mpfs_warn("s3: rename of directory %s to %s failed while copying (%s); removing "
                      "the partial copy, the source is intact",
                      from_dir, to_dir, strerror(-rc));
            par_run(s, &keys, from_dir, to_dir, 2);
        }
    }
    if (rc == 0) {
        rc = par_run(s, &keys, from_dir, to_dir, 1);
        if (rc < 0) {
            mpfs_warn("s3: rename of directory %s to %s: copied, but deleting the source "
                      "failed (%s): both exist now",
                      from_dir, to_dir, strerror(-rc));
        }
    }
    if (keys.n) {
        mpfs_info("s3: renamed directory %s -> %s (%zu objects)%s", from_dir, to_dir, keys.n,
                  rc ? " with errors" : "");
    }
    keylist_free(&keys);
    return rc;
}

int mpfs_s3_op_rename(struct mpfs_backend *b, const char *from, const char *to, unsigned flags)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char fk[MPFS_S3_KEY_MAX], tk[MPFS_S3_KEY_MAX];
    struct mpfs_attr a, t;
    int any, marker, other;

    if (flags & ~MPFS_RENAME_NOREPLACE) {
        return -EINVAL; /* EXCHANGE: no way to do it on S3 */
    }
    if (from[0] == '\0' || to[0] == '\0') {
        return -EBUSY;
    }
    size_t fl = strlen(from);
    if (strncmp(to, from, fl) == 0 && to[fl] == '/') {
        return -EINVAL; /* into itself */
    }
    int rc = mpfs_s3_key(s, from, 0, fk, sizeof(fk) - 1);
    if (rc == 0) {
        rc = mpfs_s3_key(s, to, 0, tk, sizeof(tk) - 1);
    }
    if (rc < 0) {
        return rc;
    }
    rc = mpfs_s3_head(s, fk, &a, NULL);
    if (rc == -ENOENT) {
        strcat(fk, "/");
        strcat(tk, "/");
        if (strcmp(from, to) == 0) {
            rc = mpfs_s3_probe_dir(s, fk, &any, &marker, &other);
            return rc < 0 ? rc : any ? 0 : -ENOENT;
        }
        return rename_dir(s, fk, tk, flags);
    }
    if (rc < 0) {
        return rc;
    }
    if (strcmp(from, to) == 0) {
        return 0;
    }
    /* the target must not be a directory; with NOREPLACE, nothing at all */
    rc = mpfs_s3_head(s, tk, &t, NULL);
    if (rc == 0 && (flags & MPFS_RENAME_NOREPLACE)) {
        return -EEXIST;
    }
    if (rc == 0 && S_ISDIR(t.mode)) {
        return -EISDIR;
    }
    if (rc == -ENOENT) {
        char dk[MPFS_S3_KEY_MAX + 1];
        snprintf(dk, sizeof(dk), "%s/", tk);
        rc = mpfs_s3_probe_dir(s, dk, &any, &marker, &other);
        if (rc == 0 && any) {
            return flags & MPFS_RENAME_NOREPLACE ? -EEXIST : -EISDIR;
        }
    }
    if (rc < 0) {
        return rc;
    }
    rc = copy_object(s, fk, tk, a.size <= s->copy_max ? &a : NULL);
    if (rc < 0) {
        return rc;
    }
    rc = mpfs_s3_delete_key(s, fk);
    if (rc < 0 && rc != -ENOENT) {
        mpfs_warn("s3: renamed %s to %s but could not delete the source: %s", fk, tk,
                  strerror(-rc));
        return rc;
    }
    return 0;
}

/* --- metadata rewrites (setattr, xattrs) --------------------------------- */

/* An edit turns the current metadata (list of meta.h) into the new header
 * set, or fails (-ENODATA for a missing xattr). */
typedef int (*edit_fn)(void *arg, const struct mpfs_s3_buf *old, struct mpfs_s3_hdrset *hs);

/* Locate path's metadata-carrying object: the object itself, or for a
 * directory its marker.  *implied is set for a directory without marker. */
static int locate(struct mpfs_s3 *s, const char *path, char *key, size_t keylen,
                  struct mpfs_attr *a, struct mpfs_s3_buf *meta, int *implied)
{
    int any, marker, other;
    *implied = 0;
    if (path[0] == '\0') {
        return -EPERM; /* the root has no object to carry metadata */
    }
    int rc = mpfs_s3_key(s, path, 0, key, keylen - 1);
    if (rc < 0) {
        return rc;
    }
    rc = mpfs_s3_head(s, key, a, meta);
    if (rc != -ENOENT) {
        return rc;
    }
    strcat(key, "/");
    rc = mpfs_s3_head(s, key, a, meta);
    if (rc != -ENOENT) {
        return rc;
    }
    rc = mpfs_s3_probe_dir(s, key, &any, &marker, &other);
    if (rc < 0) {
        return rc;
    }
    if (!any) {
        return -ENOENT;
    }
    *implied = 1;
    memset(a, 0, sizeof(*a));
    a->mode = S_IFDIR | 0755;
    a->nlink = 2;
    mpfs_s3_buf_reset(meta);
    return 0;
}

static int rewrite(struct mpfs_s3 *s, const char *path, edit_fn edit, void *arg,
                   struct mpfs_attr *out)
{
    char key[MPFS_S3_KEY_MAX];
    char etag[MPFS_VERSION_MAX];
    struct mpfs_attr a;
    struct mpfs_s3_buf meta = {0};
    int rc = -ESTALE;

    for (int tries = 0; tries < REWRITE_TRIES && rc == -ESTALE; tries++) {
        struct mpfs_s3_hdrset hs = {0};
        int implied;
        rc = locate(s, path, key, sizeof(key), &a, &meta, &implied);
        if (rc == 0) {
            rc = edit(arg, &meta, &hs);
        }
        if (rc == 0 && implied) {
            /* a directory without marker gets one carrying the metadata */
            struct mpfs_s3_req rq;
            struct mpfs_s3_resp rs;
            mpfs_s3_req_init(&rq, "PUT", key);
            if (!mpfs_s3_hdrs_get(&hs, "content-type")) {
                mpfs_s3_req_hdr(&rq, "content-type", "application/x-directory");
            }
            rc = mpfs_s3_hdrs_apply(&hs, &rq);
            if (rc == 0 && (s->base.caps & MPFS_CAP_COND_PUT)) {
                mpfs_s3_req_hdr(&rq, "if-none-match", "*");
            }
            mpfs_s3_resp_init(&rs);
            if (rc == 0) {
                rc = mpfs_s3_http_do(s, &rq, &rs); /* 412: made meanwhile, retry */
            }
            snprintf(etag, sizeof(etag), "%s", rs.etag);
            mpfs_s3_resp_fini(&rs);
        } else if (rc == 0) {
            rc = mpfs_s3_copy(s, key, key, a.size, a.version, &hs, 1, etag, sizeof(etag));
        }
        if (rc == 0 && out) {
            /* the new attributes: what the HEAD saw, with the new metadata */
            struct mpfs_s3_buf nm = {0};
            for (size_t i = 0; i < hs.n; i++) {
                const char *n = hs.arena.p + hs.off[i][0];
                if (strncmp(n, "x-amz-meta-", 11) == 0) {
                    const char *v = hs.arena.p + hs.off[i][1];
                    mpfs_s3_meta_add(&nm, n + 11, strlen(n + 11), v, strlen(v));
                }
            }
            uint32_t type = a.mode & S_IFMT;
            a.valid = 0;
            mpfs_s3_meta_apply_all(&a, &nm);
            a.mode = type | (a.mode & 07777);
            if (etag[0]) {
                snprintf(a.version, sizeof(a.version), "%s", etag);
            }
            *out = a;
            mpfs_s3_buf_free(&nm);
        }
        mpfs_s3_hdrs_fini(&hs);
    }
    mpfs_s3_buf_free(&meta);
    return rc;
}

struct attr_edit {
    const struct mpfs_attr *attr;
    uint32_t set;
};

static int skip_attr_names(const char *name, void *arg)
{
    const struct attr_edit *e = arg;
    return ((e->set & MPFS_SET_MODE) && strcmp(name, "mode") == 0) ||
           ((e->set & MPFS_SET_UID) && strcmp(name, "uid") == 0) ||
           ((e->set & MPFS_SET_GID) && strcmp(name, "gid") == 0) ||
           ((e->set & MPFS_SET_MTIME) && strcmp(name, "mtime") == 0) ||
           ((e->set & MPFS_SET_ATIME) && strcmp(name, "atime") == 0) || strcmp(name, "ctime") == 0;
}

static int edit_attr(void *arg, const struct mpfs_s3_buf *old, struct mpfs_s3_hdrset *hs)
{
    const struct attr_edit *e = arg;
    int rc = mpfs_s3_hdrs_add_meta(hs, old, skip_attr_names, arg);
    if (rc == 0) {
        rc = mpfs_s3_hdrs_add_attr(hs, e->attr, e->set);
    }
    if (rc == 0) {
        /* s3fs keeps ctime: any metadata change is a change */
        struct mpfs_attr now = {.mtime_ns = mpfs_wall_ns()};
        struct mpfs_s3_meta_hdrs m;
        mpfs_s3_meta_format(&now, MPFS_SET_MTIME, &m);
        rc = mpfs_s3_hdrs_add(hs, "x-amz-meta-", "ctime", m.mtime);
    }
    return rc;
}

int mpfs_s3_op_setattr(struct mpfs_backend *b, const char *path, const struct mpfs_attr *attr,
                       uint32_t to_set, struct mpfs_attr *out)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    struct mpfs_attr want = *attr;
    struct mpfs_attr res;

    if (to_set & MPFS_SET_SIZE) {
        return -EOPNOTSUPP; /* fs/ rewrites the object from its staging file */
    }
    to_set &= MPFS_SET_MODE | MPFS_SET_UID | MPFS_SET_GID | MPFS_SET_MTIME | MPFS_SET_ATIME;
    if (!to_set) {
        return out ? mpfs_backend_stat(b, path, out) : 0;
    }
    struct attr_edit e = {.attr = &want, .set = to_set};
    int rc = rewrite(s, path, edit_attr, &e, &res);
    if (rc == 0 && out) {
        *out = res;
    }
    return rc;
}

/* --- xattrs -------------------------------------------------------------- */

/* setxattr/removexattr: the edit of the s3fs xattr document (meta.h). */
struct xattr_edit {
    char name[300];    /* "user." + name */
    const void *value; /* NULL: remove */
    size_t size;
};

static int skip_xattr_hdr(const char *name, void *arg)
{
    /* the document is rewritten; the edit stamps a new ctime */
    return strcmp(name, "xattr") == 0 || strcmp(name, "ctime") == 0;
}

static int edit_xattr(void *arg, const struct mpfs_s3_buf *old, struct mpfs_s3_hdrset *hs)
{
    struct xattr_edit *e = arg;
    struct mpfs_s3_xattrs x;
    struct mpfs_s3_buf doc = {0};
    int rc = 0;

    mpfs_s3_xattrs_parse(mpfs_s3_meta_find(old, "xattr"), &x);
    if (e->value) {
        mpfs_s3_xattrs_set(&x, e->name, e->value, e->size);
    } else {
        rc = mpfs_s3_xattrs_remove(&x, e->name);
    }
    if (rc == 0) {
        mpfs_s3_xattrs_build(&x, &doc);
        rc = doc.len > MPFS_S3_XATTR_HDR_MAX ? -ENOSPC : 0;
    }
    if (rc == 0) {
        rc = mpfs_s3_hdrs_add_meta(hs, old, skip_xattr_hdr, NULL);
    }
    if (rc == 0 && doc.len) {
        rc = mpfs_s3_hdrs_add(hs, "x-amz-meta-", "xattr", doc.p);
    }
    if (rc == 0) {
        struct mpfs_attr now = {.mtime_ns = mpfs_wall_ns()};
        struct mpfs_s3_meta_hdrs m;
        mpfs_s3_meta_format(&now, MPFS_SET_MTIME, &m);
        rc = mpfs_s3_hdrs_add(hs, "x-amz-meta-", "ctime", m.mtime);
    }
    mpfs_s3_buf_free(&doc);
    mpfs_s3_xattrs_free(&x);
    return rc;
}

static int xattr_name(const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (nl == 0) {
        return -EINVAL;
    }
    if (nl > 255 - 5) {
        return -ERANGE; /* "user." + name must fit XATTR_NAME_MAX */
    }
    snprintf(out, outlen, "user.%s", name);
    return 0;
}

int mpfs_s3_op_setxattr(struct mpfs_backend *b, const char *path, const char *name,
                        const void *value, size_t size)
{
    struct xattr_edit e = {.value = value ? value : "", .size = size};
    if (size > MPFS_S3_XATTR_MAX) {
        return -E2BIG;
    }
    int rc = xattr_name(name, e.name, sizeof(e.name));
    return rc < 0 ? rc : rewrite(mpfs_s3_of(b), path, edit_xattr, &e, NULL);
}

int mpfs_s3_op_removexattr(struct mpfs_backend *b, const char *path, const char *name)
{
    struct xattr_edit e = {.value = NULL};
    int rc = xattr_name(name, e.name, sizeof(e.name));
    return rc < 0 ? (rc == -ERANGE ? -ENODATA : rc)
                  : rewrite(mpfs_s3_of(b), path, edit_xattr, &e, NULL);
}

/* The xattr document of path's object or directory marker. */
static int read_xattrs(struct mpfs_s3 *s, const char *path, struct mpfs_s3_xattrs *x)
{
    char key[MPFS_S3_KEY_MAX];
    struct mpfs_attr a;
    struct mpfs_s3_buf meta = {0};
    int implied;
    memset(x, 0, sizeof(*x));
    int rc = locate(s, path, key, sizeof(key), &a, &meta, &implied);
    if (rc == 0) {
        mpfs_s3_xattrs_parse(mpfs_s3_meta_find(&meta, "xattr"), x);
    }
    mpfs_s3_buf_free(&meta);
    return rc;
}

ssize_t mpfs_s3_op_getxattr(struct mpfs_backend *b, const char *path, const char *name, void *buf,
                            size_t size)
{
    char full[300];
    struct mpfs_s3_xattrs x;

    int rc = xattr_name(name, full, sizeof(full));
    if (rc < 0) {
        return rc == -ERANGE ? -ENODATA : rc;
    }
    rc = read_xattrs(mpfs_s3_of(b), path, &x);
    if (rc < 0) {
        return rc;
    }
    const struct mpfs_s3_xattr *a = mpfs_s3_xattrs_find(&x, full);
    ssize_t n = a ? (ssize_t)a->len : -ENODATA;
    if (a && size > 0) {
        if (a->len > size) {
            n = -ERANGE;
        } else {
            memcpy(buf, a->value, a->len);
        }
    }
    mpfs_s3_xattrs_free(&x);
    return n;
}

ssize_t mpfs_s3_op_listxattr(struct mpfs_backend *b, const char *path, char *buf, size_t size)
{
    struct mpfs_s3_xattrs x;
    size_t total = 0;

    int rc = read_xattrs(mpfs_s3_of(b), path, &x);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < x.n; i++) {
        /* only the user namespace: backend.h names carry no prefix */
        if (strncmp(x.v[i].name, "user.", 5) != 0 || !x.v[i].name[5]) {
            continue;
        }
        const char *n = x.v[i].name + 5;
        size_t l = strlen(n) + 1;
        if (size > 0) {
            if (total + l > size) {
                mpfs_s3_xattrs_free(&x);
                return -ERANGE;
            }
            memcpy(buf + total, n, l);
        }
        total += l;
    }
    mpfs_s3_xattrs_free(&x);
    return (ssize_t)total;
}

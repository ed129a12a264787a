/*
 * s3.c - the S3 backend's handle, open (endpoint, credentials, reachability,
 * capability probe) and the namespace operations: stat, list, read,
 * remove, mkdir, rmdir, symlink, readlink.  Uploads are in put.c; copy,
 * rename, setattr and xattrs in copy.c; requests in http.c.
 *
 * Directory semantics over a flat key space (s3fs-compatible):
 *   stat "a"   HEAD "a"; if absent, list "a/" (max-keys=2): anything there
 *              makes "a" a directory; a marker "a/" supplies its metadata.
 *   list "a"   ListObjectsV2 prefix "a/", delimiter "/": objects are files,
 *              common prefixes directories, the marker "a/" itself skipped.
 *              An empty answer for a directory without marker means it does
 *              not exist (-ENOENT, or -ENOTDIR if "a" is a file).
 *   remove     HEAD first: S3 answers a DELETE of a missing key with 204,
 *              and the fs layer needs -ENOENT / -EISDIR to be true.  One
 *              extra round trip per unlink, which is rare next to reads.
 *   mkdir      exists-check (HEAD + list), then PUT "a/" (If-None-Match: *
 *              when the store honours it).
 *   rmdir      list "a/" max-keys=2: -ENOTEMPTY if anything but the marker.
 *
 * Locking: none here; see internal.h and http.h.
 */
#include "backends/s3/s3.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "backends/s3/errmap.h"
#include "backends/s3/http.h"
#include "backends/s3/internal.h"
#include "backends/s3/meta.h"
#include "backends/s3/uri.h"
#include "backends/s3/xml.h"
#include "base/log.h"
#include "base/util.h"

#define DEFAULT_PART (16ull << 20)

void mpfs_s3_config_defaults(struct mpfs_s3_config *c)
{
    memset(c, 0, sizeof(*c));
    c->prefix = "";
    c->connect_timeout_ms = 3000;
    c->request_timeout_ms = 30000;
    c->max_retries = 4;
    c->part_size = DEFAULT_PART;
    c->parallel = 4;
}

/* --- shared helpers ------------------------------------------------------ */

int mpfs_s3_key(const struct mpfs_s3 *s, const char *path, int dir, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s%s%s", s->prefix, path, dir && path[0] ? "/" : "");
    if (n < 0 || (size_t)n >= outlen) {
        return -ENAMETOOLONG;
    }
    return 0;
}

static void attr_defaults(struct mpfs_attr *a, int dir)
{
    memset(a, 0, sizeof(*a));
    a->mode = dir ? (S_IFDIR | 0755) : (S_IFREG | 0644);
    a->nlink = dir ? 2 : 1;
}

static void attr_times_fill(struct mpfs_attr *a)
{
    if (a->ctime_ns == 0) {
        a->ctime_ns = a->mtime_ns;
    }
    if (a->atime_ns == 0) {
        a->atime_ns = a->mtime_ns;
    }
}

/* The attributes a HEAD (or a GET) of key answered with. */
static void attr_from_resp(struct mpfs_attr *attr, const char *key, struct mpfs_s3_resp *rs,
                           uint64_t size)
{
    size_t kl = strlen(key);
    int dir = kl > 0 && key[kl - 1] == '/';
    attr_defaults(attr, dir);
    attr->size = size;
    attr->mtime_ns = rs->last_modified_ns > 0 ? rs->last_modified_ns : 0;
    snprintf(attr->version, sizeof(attr->version), "%s", rs->etag);
    mpfs_s3_meta_apply_all(attr, &rs->meta);
    if (dir) {
        /* a marker is a directory whatever its mode says */
        attr->mode = S_IFDIR | (attr->mode & 07777);
        attr->size = 0;
    }
    if (S_ISDIR(attr->mode)) {
        attr->nlink = 2;
    }
    attr_times_fill(attr);
}

int mpfs_s3_head(struct mpfs_s3 *s, const char *key, struct mpfs_attr *attr,
                 struct mpfs_s3_buf *meta)
{
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;

    mpfs_s3_req_init(&rq, "HEAD", key);
    rq.want_meta = 1;
    mpfs_s3_resp_init(&rs);
    int rc = mpfs_s3_http_do(s, &rq, &rs);
    if (rc == 0) {
        attr_from_resp(attr, key, &rs, rs.content_length);
        if (meta) {
            mpfs_s3_buf_free(meta);
            *meta = rs.meta;
            rs.meta = (struct mpfs_s3_buf){0};
        }
    }
    mpfs_s3_resp_fini(&rs);
    return rc;
}

struct probe_ctx {
    const char *dirkey;
    size_t dklen;
    int n;
    int marker, other;
};

static int probe_obj(void *arg, const char *key, size_t klen, uint64_t size, int64_t mt,
                     const char *etag)
{
    struct probe_ctx *p = arg;
    if (p->n++ == 0 && klen == p->dklen && memcmp(key, p->dirkey, klen) == 0) {
        p->marker = 1;
    } else {
        p->other = 1;
    }
    return 0;
}

int mpfs_s3_probe_dir(struct mpfs_s3 *s, const char *dirkey, int *any, int *marker, int *other)
{
    struct mpfs_s3_qparam qp[] = {{"list-type", "2"}, {"max-keys", "2"}, {"prefix", dirkey}};
    char query[3 * MPFS_S3_KEY_MAX + 64];
    struct mpfs_s3_buf xml = {0};
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    struct mpfs_s3_list_page page;
    struct probe_ctx p = {.dirkey = dirkey, .dklen = strlen(dirkey)};

    *any = *marker = *other = 0;
    ssize_t ql = mpfs_s3_query_build(qp, 3, query, sizeof(query));
    if (ql < 0) {
        return (int)ql;
    }
    mpfs_s3_req_init(&rq, "GET", NULL);
    rq.query = query;
    rq.xml = &xml;
    mpfs_s3_resp_init(&rs);
    int rc = mpfs_s3_http_do(s, &rq, &rs);
    if (rc == 0) {
        rc = mpfs_s3_xml_parse_list(xml.p, xml.len, probe_obj, NULL, &p, &page);
        if (rc < 0) {
            mpfs_warn("s3: unparsable listing of '%s' from %s", dirkey, s->endpoint);
        }
    }
    mpfs_s3_resp_fini(&rs);
    mpfs_s3_buf_free(&xml);
    if (rc == 0) {
        *any = p.n > 0;
        *marker = p.marker;
        *other = p.other;
    }
    return rc;
}

int mpfs_s3_delete_key(struct mpfs_s3 *s, const char *key)
{
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    mpfs_s3_req_init(&rq, "DELETE", key);
    mpfs_s3_resp_init(&rs);
    int rc = mpfs_s3_http_do(s, &rq, &rs);
    mpfs_s3_resp_fini(&rs);
    return rc;
}

void mpfs_s3_set_copy_max(struct mpfs_backend *b, uint64_t bytes)
{
    mpfs_s3_of(b)->copy_max = bytes;
}

/* --- stat ---------------------------------------------------------------- */

/* No object at key (a file's key, with room for one more byte): a
 * directory, by its marker or by keys below it, or nothing. */
static int stat_as_dir(struct mpfs_s3 *s, char *key, struct mpfs_attr *out)
{
    int any, marker, other;
    strcat(key, "/");
    int rc = mpfs_s3_probe_dir(s, key, &any, &marker, &other);
    if (rc < 0) {
        return rc;
    }
    if (!any) {
        return -ENOENT;
    }
    if (marker) {
        rc = mpfs_s3_head(s, key, out, NULL);
        if (rc != -ENOENT) {
            return rc;
        }
        /* deleted between the list and the HEAD: still implied if other */
        if (!other) {
            return -ENOENT;
        }
    }
    attr_defaults(out, 1);
    return 0;
}

static int s3_stat(struct mpfs_backend *b, const char *path, struct mpfs_attr *out)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX];

    if (path[0] == '\0') {
        attr_defaults(out, 1);
        return 0;
    }
    int rc = mpfs_s3_key(s, path, 0, key, sizeof(key) - 1);
    if (rc < 0) {
        return rc;
    }
    rc = mpfs_s3_head(s, key, out, NULL);
    return rc == -ENOENT ? stat_as_dir(s, key, out) : rc;
}

/* A ranged GET of [0, len) in place of the HEAD: its headers are the
 * HEAD's (ETag, Last-Modified, x-amz-meta-*), Content-Range gives the
 * size, and the body is the first bytes.  An empty object has no byte 0
 * (416): a HEAD answers for it. */
static int s3_stat_read(struct mpfs_backend *b, const char *path, struct mpfs_attr *out, void *buf,
                        size_t len, size_t *got)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX];
    char range[64];
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;

    *got = 0;
    if (path[0] == '\0') {
        return s3_stat(b, path, out);
    }
    int rc = mpfs_s3_key(s, path, 0, key, sizeof(key) - 1);
    if (rc < 0) {
        return rc;
    }
    mpfs_s3_req_init(&rq, "GET", key);
    snprintf(range, sizeof(range), "bytes=0-%llu", (unsigned long long)(len - 1));
    mpfs_s3_req_hdr(&rq, "range", range);
    rq.want_meta = 1;
    rq.dst = buf;
    rq.dst_cap = len;
    mpfs_s3_resp_init(&rs);
    rc = mpfs_s3_http_do(s, &rq, &rs);
    if (rc == 0) {
        attr_from_resp(out, key, &rs, rs.has_total ? rs.total_size : rs.content_length);
        if (S_ISREG(out->mode)) {
            *got = (size_t)MPFS_MIN((uint64_t)rs.nread, out->size);
        }
    }
    mpfs_s3_resp_fini(&rs);
    if (rc == -ERANGE) {
        rc = mpfs_s3_head(s, key, out, NULL);
    }
    return rc == -ENOENT ? stat_as_dir(s, key, out) : rc;
}

/* --- list ---------------------------------------------------------------- */

struct list_ctx {
    const char *dirkey;
    size_t dklen;
    mpfs_list_fn fn;
    void *arg;
    int marker_seen;
    size_t entries;
};

static int list_obj(void *arg, const char *key, size_t klen, uint64_t size, int64_t mt,
                    const char *etag)
{
    struct list_ctx *l = arg;
    struct mpfs_attr a;

    if (klen < l->dklen || memcmp(key, l->dirkey, l->dklen) != 0) {
        return 0; /* not under the prefix: a server bug, ignore */
    }
    if (klen == l->dklen) {
        l->marker_seen = 1; /* the directory's own marker is not an entry */
        return 0;
    }
    attr_defaults(&a, 0);
    a.size = size;
    a.mtime_ns = mt;
    attr_times_fill(&a);
    snprintf(a.version, sizeof(a.version), "%s", etag);
    l->entries++;
    return l->fn(l->arg, key + l->dklen, klen - l->dklen, &a, 1);
}

static int list_prefix(void *arg, const char *pfx, size_t plen)
{
    struct list_ctx *l = arg;
    struct mpfs_attr a;

    if (plen < l->dklen + 1 || memcmp(pfx, l->dirkey, l->dklen) != 0) {
        return 0;
    }
    attr_defaults(&a, 1);
    l->entries++;
    /* "a//" under "a/" is the entry "": passed through, fs/ filters */
    return l->fn(l->arg, pfx + l->dklen, plen - l->dklen - 1, &a, 0);
}

/* One walk for list (delimiter "/": direct entries) and list_tree (no
 * delimiter: every key below, names relative to dir). */
static int s3_list_walk(struct mpfs_backend *b, const char *dir, int recursive, mpfs_list_fn fn,
                        void *arg);

static int s3_list(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn, void *arg)
{
    return s3_list_walk(b, dir, 0, fn, arg);
}

static int s3_list_tree(struct mpfs_backend *b, const char *dir, mpfs_list_fn fn, void *arg)
{
    return s3_list_walk(b, dir, 1, fn, arg);
}

static int s3_list_walk(struct mpfs_backend *b, const char *dir, int recursive, mpfs_list_fn fn,
                        void *arg)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char dirkey[MPFS_S3_KEY_MAX];
    char *query = NULL;
    char *start_after = NULL;
    struct mpfs_s3_buf xml = {0};
    struct mpfs_s3_list_page *page = mpfs_xmalloc(sizeof(*page));
    struct mpfs_s3_resp rs;
    struct list_ctx l = {.fn = fn, .arg = arg};
    size_t qcap = 3 * (2 * MPFS_S3_KEY_MAX + sizeof(page->next_token)) + 128;
    int rc = mpfs_s3_key(s, dir, 1, dirkey, sizeof(dirkey));
    if (rc < 0) {
        goto out_free;
    }
    l.dirkey = dirkey;
    l.dklen = strlen(dirkey);
    query = mpfs_xmalloc(qcap);
    mpfs_s3_resp_init(&rs);

    const char *token = NULL;
    for (int pages = 0;; pages++) {
        struct mpfs_s3_qparam qp[6];
        size_t nq = 0;
        struct mpfs_s3_req rq;
        qp[nq++] = (struct mpfs_s3_qparam){"list-type", "2"};
        if (!recursive) {
            qp[nq++] = (struct mpfs_s3_qparam){"delimiter", "/"};
        }
        qp[nq++] = (struct mpfs_s3_qparam){"encoding-type", "url"};
        if (l.dklen) {
            qp[nq++] = (struct mpfs_s3_qparam){"prefix", dirkey};
        }
        if (token) {
            qp[nq++] = (struct mpfs_s3_qparam){"continuation-token", token};
        } else if (start_after) {
            qp[nq++] = (struct mpfs_s3_qparam){"start-after", start_after};
        }
        ssize_t ql = mpfs_s3_query_build(qp, nq, query, qcap);
        if (ql < 0) {
            rc = (int)ql;
            break;
        }
        mpfs_s3_req_init(&rq, "GET", NULL);
        rq.query = query;
        rq.xml = &xml;
        rc = mpfs_s3_http_do(s, &rq, &rs);
        if (rc < 0) {
            break;
        }
        rc = mpfs_s3_xml_parse_list(xml.p, xml.len, list_obj, list_prefix, &l, page);
        if (rc != 0) {
            if (rc == -EIO) {
                mpfs_warn("s3: unparsable listing of '%s' (page %d) from %s", dirkey, pages + 1,
                          s->endpoint);
            }
            break;
        }
        if (!page->is_truncated) {
            break;
        }
        if (page->next_token[0]) {
            token = page->next_token;
            continue;
        }
        /* Truncated without a token: continue after the last key seen,
         * and make sure that moves forward. */
        token = NULL;
        if (!page->last_key[0] || (start_after && strcmp(page->last_key, start_after) <= 0)) {
            mpfs_warn("s3: listing of '%s' from %s is truncated but does not advance", dirkey,
                      s->endpoint);
            rc = -EIO;
            break;
        }
        free(start_after);
        start_after = mpfs_xstrdup(page->last_key);
    }
    mpfs_s3_resp_fini(&rs);

    if (rc == 0 && l.entries == 0 && !l.marker_seen && dir[0]) {
        /* nothing under "dir/" and no marker: no such directory */
        struct mpfs_attr a;
        char key[MPFS_S3_KEY_MAX];
        rc = mpfs_s3_key(s, dir, 0, key, sizeof(key));
        if (rc == 0) {
            rc = mpfs_s3_head(s, key, &a, NULL);
            rc = rc == 0 ? (S_ISDIR(a.mode) ? 0 : -ENOTDIR) : rc;
        }
    }
out_free:
    free(start_after);
    free(query);
    free(page);
    mpfs_s3_buf_free(&xml);
    return rc;
}

/* --- read ---------------------------------------------------------------- */

static ssize_t s3_read(struct mpfs_backend *b, const char *path, const char *version, void *buf,
                       size_t len, uint64_t off)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX];
    char range[64], ifm[MPFS_VERSION_MAX + 4];
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;

    if (len == 0) {
        return 0;
    }
    int rc = mpfs_s3_key(s, path, 0, key, sizeof(key));
    if (rc < 0) {
        return rc;
    }
    mpfs_s3_req_init(&rq, "GET", key);
    snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    mpfs_s3_req_hdr(&rq, "range", range);
    if (version && version[0]) {
        snprintf(ifm, sizeof(ifm), "\"%s\"", version);
        mpfs_s3_req_hdr(&rq, "if-match", ifm);
    }
    rq.dst = buf;
    rq.dst_cap = len;
    rq.dst_skip = off;
    rq.bulk = 1;
    mpfs_s3_resp_init(&rs);
    rc = mpfs_s3_http_do(s, &rq, &rs);
    ssize_t n = rc == 0 ? (ssize_t)rs.nread : rc == -ERANGE ? 0 : rc;
    mpfs_s3_resp_fini(&rs);
    return n;
}

/* --- remove, mkdir, rmdir ------------------------------------------------ */

static int s3_remove(struct mpfs_backend *b, const char *path)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX];
    struct mpfs_attr a;
    int any, marker, other;

    if (path[0] == '\0') {
        return -EISDIR;
    }
    int rc = mpfs_s3_key(s, path, 0, key, sizeof(key) - 1);
    if (rc < 0) {
        return rc;
    }
    rc = mpfs_s3_head(s, key, &a, NULL);
    if (rc == 0) {
        return S_ISDIR(a.mode) ? -EISDIR : mpfs_s3_delete_key(s, key);
    }
    if (rc != -ENOENT) {
        return rc;
    }
    strcat(key, "/");
    rc = mpfs_s3_probe_dir(s, key, &any, &marker, &other);
    return rc < 0 ? rc : any ? -EISDIR : -ENOENT;
}

/* Does anything exist at path (file or directory)?  1, 0 or -errno. */
static int exists(struct mpfs_s3 *s, const char *key)
{
    struct mpfs_attr a;
    char dirkey[MPFS_S3_KEY_MAX + 1];
    int any, marker, other;

    int rc = mpfs_s3_head(s, key, &a, NULL);
    if (rc == 0) {
        return 1;
    }
    if (rc != -ENOENT) {
        return rc;
    }
    snprintf(dirkey, sizeof(dirkey), "%s/", key);
    rc = mpfs_s3_probe_dir(s, dirkey, &any, &marker, &other);
    return rc < 0 ? rc : any;
}

static void now_str(char *out, size_t outlen)
{
    struct mpfs_attr a = {.mtime_ns = mpfs_wall_ns()};
    struct mpfs_s3_meta_hdrs h;
    mpfs_s3_meta_format(&a, MPFS_SET_MTIME, &h);
    snprintf(out, outlen, "%s", h.mtime);
}

/* PUT a small object from memory, If-None-Match: * when the store honours
 * it (412 -> -EEXIST). */
static int put_small(struct mpfs_s3 *s, const char *key, const void *body, size_t len,
                     const char *ctype, const char *mode, const char *rdev,
                     struct mpfs_attr *out)
{
    char mtime[48];
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;

    now_str(mtime, sizeof(mtime));
    mpfs_s3_req_init(&rq, "PUT", key);
    rq.body = body;
    rq.body_len = len;
    mpfs_s3_req_hdr(&rq, "content-type", ctype);
    mpfs_s3_req_hdr(&rq, "x-amz-meta-mode", mode);
    mpfs_s3_req_hdr(&rq, "x-amz-meta-mtime", mtime);
    if (rdev) {
        mpfs_s3_req_hdr(&rq, "x-amz-meta-rdev", rdev);
    }
    if (s->base.caps & MPFS_CAP_COND_PUT) {
        mpfs_s3_req_hdr(&rq, "if-none-match", "*");
    }
    mpfs_s3_resp_init(&rs);
    int rc = mpfs_s3_http_do(s, &rq, &rs);
    if (rc == -ESTALE) {
        rc = -EEXIST;
    }
    if (rc == 0 && out) {
        snprintf(out->version, sizeof(out->version), "%s", rs.etag);
    }
    mpfs_s3_resp_fini(&rs);
    return rc;
}

static int s3_mkdir(struct mpfs_backend *b, const char *path, uint32_t mode)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX], mstr[24];

    if (path[0] == '\0') {
        return -EEXIST;
    }
    int rc = mpfs_s3_key(s, path, 0, key, sizeof(key) - 1);
    if (rc < 0) {
        return rc;
    }
    rc = exists(s, key);
    if (rc != 0) {
        return rc < 0 ? rc : -EEXIST;
    }
    strcat(key, "/");
    snprintf(mstr, sizeof(mstr), "%u", (unsigned)(S_IFDIR | (mode & 07777)));
    return put_small(s, key, NULL, 0, "application/x-directory", mstr, NULL, NULL);
}

static int s3_rmdir(struct mpfs_backend *b, const char *path)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX];
    struct mpfs_attr a;
    int any, marker, other;

    if (path[0] == '\0') {
        return -EBUSY;
    }
    int rc = mpfs_s3_key(s, path, 1, key, sizeof(key));
    if (rc < 0) {
        return rc;
    }
    rc = mpfs_s3_probe_dir(s, key, &any, &marker, &other);
    if (rc < 0) {
        return rc;
    }
    if (other) {
        return -ENOTEMPTY;
    }
    if (!any) {
        key[strlen(key) - 1] = '\0';
        rc = mpfs_s3_head(s, key, &a, NULL);
        return rc == 0 ? -ENOTDIR : rc;
    }
    rc = mpfs_s3_delete_key(s, key);
    return rc == -ENOENT ? 0 : rc;
}

/* --- symlinks ------------------------------------------------------------ */

/* The key of a new symlink or special file; -EEXIST if taken. */
static int new_leaf_key(struct mpfs_s3 *s, const char *path, char *key, size_t keylen)
{
    int rc = mpfs_s3_key(s, path, 0, key, keylen);
    if (rc < 0) {
        return rc;
    }
    rc = exists(s, key);
    if (rc != 0) {
        return rc < 0 ? rc : -EEXIST;
    }
    return 0;
}

static int s3_symlink(struct mpfs_backend *b, const char *target, const char *path)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX], mstr[24];
    size_t tl = strlen(target);

    if (path[0] == '\0') {
        return -EEXIST;
    }
    if (tl == 0 || tl >= PATH_MAX) {
        return tl ? -ENAMETOOLONG : -ENOENT;
    }
    int rc = new_leaf_key(s, path, key, sizeof(key));
    if (rc < 0) {
        return rc;
    }
    snprintf(mstr, sizeof(mstr), "%u", (unsigned)(S_IFLNK | 0777));
    return put_small(s, key, target, tl, "application/octet-stream", mstr, NULL, NULL);
}

/* s3fs's special files: an empty object, the type in x-amz-meta-mode and
 * the device number in x-amz-meta-rdev (decimal, the kernel's encoding). */
static int s3_mknod(struct mpfs_backend *b, const char *path, uint32_t mode, uint64_t rdev)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX], mstr[24], rstr[24];
    uint32_t type = mode & S_IFMT;

    if (type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR && type != S_IFBLK) {
        return -EINVAL;
    }
    if (path[0] == '\0') {
        return -EEXIST;
    }
    int rc = new_leaf_key(s, path, key, sizeof(key));
    if (rc < 0) {
        return rc;
    }
    snprintf(mstr, sizeof(mstr), "%u", (unsigned)(type | (mode & 07777)));
    snprintf(rstr, sizeof(rstr), "%llu", (unsigned long long)rdev);
    return put_small(s, key, NULL, 0, "application/octet-stream", mstr,
                     (type == S_IFCHR || type == S_IFBLK) ? rstr : NULL, NULL);
}

static ssize_t s3_readlink(struct mpfs_backend *b, const char *path, char *buf, size_t size)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX];
    char target[PATH_MAX];
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    struct mpfs_attr a;

    int rc = mpfs_s3_key(s, path, 0, key, sizeof(key));
    if (rc < 0) {
        return rc;
    }
    mpfs_s3_req_init(&rq, "GET", key);
    rq.dst = target;
    rq.dst_cap = sizeof(target);
    rq.want_meta = 1;
    mpfs_s3_resp_init(&rs);
    rc = mpfs_s3_http_do(s, &rq, &rs);
    if (rc == 0) {
        attr_defaults(&a, 0);
        mpfs_s3_meta_apply_all(&a, &rs.meta);
        if (!S_ISLNK(a.mode)) {
            rc = -EINVAL;
        } else if (rs.has_length && rs.content_length > sizeof(target)) {
            rc = -ENAMETOOLONG;
        }
    }
    ssize_t n = rc;
    if (rc == 0) {
        n = (ssize_t)(rs.nread < size ? rs.nread : size);
        memcpy(buf, target, (size_t)n);
        if ((size_t)n < size) {
            buf[n] = '\0';
        }
    }
    mpfs_s3_resp_fini(&rs);
    return n;
}

/* --- lifetime ------------------------------------------------------------ */

static void s3_destroy(struct mpfs_backend *b)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    mpfs_s3_pool_free(s->pool);
    mpfs_s3_creds_clear(&s->creds);
    free(s->url_base);
    free(s->host_hdr);
    free(s->path_base);
    free(s->endpoint);
    free(s->bucket);
    free(s->prefix);
    free(s->region);
    free(s);
}

static const struct mpfs_backend_ops s3_ops = {
    .version = MPFS_BACKEND_OPS_VERSION,
    .stat = s3_stat,
    .list = s3_list,
    .read = s3_read,
    .put = mpfs_s3_op_put,
    .remove = s3_remove,
    .rename = mpfs_s3_op_rename,
    .mkdir = s3_mkdir,
    .rmdir = s3_rmdir,
    .symlink = s3_symlink,
    .readlink = s3_readlink,
    .stat_read = s3_stat_read,
    .setattr = mpfs_s3_op_setattr,
    .getxattr = mpfs_s3_op_getxattr,
    .setxattr = mpfs_s3_op_setxattr,
    .listxattr = mpfs_s3_op_listxattr,
    .removexattr = mpfs_s3_op_removexattr,
    .destroy = s3_destroy,
    .list_tree = s3_list_tree,
    .overwritten = mpfs_s3_op_overwritten,
    .copy_version = mpfs_s3_op_copy_version,
    .mknod = s3_mknod,
};

/* --- open ---------------------------------------------------------------- */

static const char *env_first(const char *a, const char *b)
{
    const char *v = getenv(a);
    if ((!v || !*v) && b) {
        v = getenv(b);
    }
    return v && *v ? v : NULL;
}

int mpfs_s3_setup_endpoint(struct mpfs_s3 *s, const char *ep, int virtual_hosted, char *err,
                           size_t errlen)
{
    const char *sep = strstr(ep, "://");
    int http = sep && sep - ep == 4 && strncmp(ep, "http", 4) == 0;
    int https = sep && sep - ep == 5 && strncmp(ep, "https", 5) == 0;
    if (!http && !https) {
        snprintf(err, errlen, "S3 endpoint '%s' must start with http:// or https://", ep);
        return -EINVAL;
    }
    const char *host = sep + 3;
    const char *slash = strchr(host, '/');
    size_t hl = slash ? (size_t)(slash - host) : strlen(host);
    if (hl == 0) {
        snprintf(err, errlen, "S3 endpoint '%s' has no host", ep);
        return -EINVAL;
    }
    char *path = mpfs_xstrdup(slash ? slash : "");
    size_t pl = strlen(path);
    while (pl && path[pl - 1] == '/') {
        path[--pl] = '\0';
    }
    int scheme_len = (int)(sep - ep) + 3;
    if (virtual_hosted) {
        s->host_hdr = mpfs_xasprintf("%s.%.*s", s->bucket, (int)hl, host);
        s->path_base = mpfs_xstrdup(path);
    } else {
        s->host_hdr = mpfs_xasprintf("%.*s", (int)hl, host);
        s->path_base = mpfs_xasprintf("%s/%s", path, s->bucket);
    }
    s->url_base = mpfs_xasprintf("%.*s%s", scheme_len, ep, s->host_hdr);
    s->endpoint = mpfs_xasprintf("%.*s%.*s%s", scheme_len, ep, (int)hl, host, path);
    free(path);
    return 0;
}

static int bucket_name_ok(const char *b)
{
    if (!b || !*b || strlen(b) > 255) {
        return 0;
    }
    for (const char *p = b; *p; p++) {
        if (*p == '/' || *p == '?' || *p == '#' || (unsigned char)*p <= ' ') {
            return 0;
        }
    }
    return 1;
}

/* ListObjectsV2 max-keys=1 on the prefix: proves endpoint, bucket and
 * credentials with the least permission a read-only mount has. */
static int check_bucket(struct mpfs_s3 *s, char *err, size_t errlen)
{
    struct mpfs_s3_qparam qp[] = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", s->prefix}};
    char query[3 * MPFS_S3_KEY_MAX + 64];
    struct mpfs_s3_buf xml = {0};
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    char why[512];

    ssize_t ql = mpfs_s3_query_build(qp, s->prefix[0] ? 3 : 2, query, sizeof(query));
    if (ql < 0) {
        snprintf(err, errlen, "S3 prefix too long");
        return (int)ql;
    }
    mpfs_s3_req_init(&rq, "GET", NULL);
    rq.query = query;
    rq.xml = &xml;
    rq.quiet = 1;
    rq.hang_is_final = 1;
    mpfs_s3_resp_init(&rs);
    int rc = mpfs_s3_http_do(s, &rq, &rs);
    mpfs_s3_resp_describe(&rs, why, sizeof(why));
    if (rc == 0) {
        struct mpfs_s3_list_page page;
        if (mpfs_s3_xml_parse_list(xml.p, xml.len, NULL, NULL, NULL, &page) < 0) {
            snprintf(err, errlen,
                     "S3 endpoint %s answered the listing of bucket '%s' with "
                     "something that is not a ListBucketResult",
                     s->endpoint, s->bucket);
            rc = -EPROTO;
        }
    } else if (rs.hung) {
        snprintf(err, errlen,
                 "S3 endpoint %s accepted the connection but sent no answer to the listing of "
                 "bucket '%s' within %d ms (connect_timeout %d + request_timeout %d ms): "
                 "is an S3 server listening there, and is it up?",
                 s->endpoint, s->bucket, s->connect_timeout_ms + s->request_timeout_ms,
                 s->connect_timeout_ms, s->request_timeout_ms);
    } else if (rs.curl_rc != 0) {
        snprintf(err, errlen, "cannot reach S3 endpoint %s: %s (%s, %d attempt%s)", s->endpoint,
                 strerror(-rc), why, rs.attempts, rs.attempts == 1 ? "" : "s");
    } else if (strcmp(rs.code, "NoSuchBucket") == 0 || (rc == -ENOENT && !rs.code[0])) {
        snprintf(err, errlen, "S3 bucket '%s' not found at %s", s->bucket, s->endpoint);
    } else if (mpfs_s3_code_is_auth(rs.code) || (rc == -EACCES && !s->creds.access_key)) {
        snprintf(err, errlen, "S3 credentials rejected (%s) by %s (credentials from %s)",
                 rs.code[0] ? rs.code : "HTTP 403", s->endpoint, s->creds.source);
    } else if (rc == -EACCES) {
        snprintf(err, errlen,
                 "S3 access denied listing bucket '%s' prefix '%s' at %s "
                 "(%s; credentials from %s)",
                 s->bucket, s->prefix, s->endpoint, why, s->creds.source);
    } else {
        snprintf(err, errlen, "S3 endpoint %s: listing bucket '%s' failed: %s", s->endpoint,
                 s->bucket, why);
    }
    if (rc < 0 && rs.bucket_region[0] && strcmp(rs.bucket_region, s->region) != 0) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (the bucket is in region '%s', not '%s')", rs.bucket_region,
                 s->region);
    }
    mpfs_s3_resp_fini(&rs);
    mpfs_s3_buf_free(&xml);
    return rc;
}

void mpfs_s3_put_if_match(const struct mpfs_s3 *s, const char *etag, char *out, size_t outlen)
{
    snprintf(out, outlen, s->put_if_match_quoted ? "\"%s\"" : "%s", etag);
}

/* One probe PUT; returns the mapped result and the new ETag. */
static int probe_put(struct mpfs_s3 *s, const char *key, const char *hname, const char *hval,
                     char *etag)
{
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    mpfs_s3_req_init(&rq, "PUT", key);
    rq.body = "mpfs conditional-put probe\n";
    rq.body_len = strlen(rq.body);
    rq.quiet = 1;
    mpfs_s3_req_hdr(&rq, "content-type", "text/plain");
    if (hname) {
        mpfs_s3_req_hdr(&rq, hname, hval);
    }
    mpfs_s3_resp_init(&rs);
    int rc = mpfs_s3_http_do(s, &rq, &rs);
    if (rc == 0 && etag) {
        snprintf(etag, MPFS_VERSION_MAX, "%s", rs.etag);
    }
    mpfs_s3_resp_fini(&rs);
    return rc;
}

/* COND_PUT is detected, not assumed: a store that ignores If-None-Match
 * would let two writers both "create" a file, one that rejects a matching
 * If-Match would fail every guarded write.  Five small PUTs at open:
 * create (If-None-Match: *), create again (must be 412), If-Match with a
 * wrong ETag (must be 412), with the right ETag quoted (must pass; if not,
 * bare); then whether CompleteMultipartUpload honours If-None-Match (a
 * one-part upload of 1 byte onto the probe key, aborted); then DELETE. */
static void probe_cond_put(struct mpfs_s3 *s)
{
    unsigned char rnd[8];
    char key[MPFS_S3_KEY_MAX], etag[MPFS_VERSION_MAX] = "", val[MPFS_VERSION_MAX + 4];
    const char *why = NULL;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        uint64_t t = (uint64_t)mpfs_now_ns();
        memcpy(rnd, &t, sizeof(rnd));
    }
    snprintf(key, sizeof(key), "%s.mpfs-probe-%02x%02x%02x%02x%02x%02x%02x%02x", s->prefix, rnd[0],
             rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    int rc = probe_put(s, key, "if-none-match", "*", etag);
    if (rc < 0) {
        mpfs_info("s3: conditional put not probed (cannot write %s: %s): cap off", s->endpoint,
                  strerror(-rc));
        return;
    }
    int quoted = -1;
    if (probe_put(s, key, "if-none-match", "*", NULL) != -ESTALE) {
        why = "If-None-Match: * on an existing key";
    } else if (probe_put(s, key, "if-match", "\"00000000000000000000000000000000\"", NULL) !=
               -ESTALE) {
        why = "If-Match with a wrong ETag";
    } else {
        snprintf(val, sizeof(val), "\"%s\"", etag);
        if (probe_put(s, key, "if-match", val, NULL) == 0) {
            quoted = 1;
        } else if (probe_put(s, key, "if-match", etag, NULL) == 0) {
            quoted = 0;
        } else {
            why = "If-Match with the right ETag";
        }
    }
    int complete = !why && mpfs_s3_probe_complete_cond(s, key);
    int del = mpfs_s3_delete_key(s, key);
    if (del < 0 && del != -ENOENT) {
        mpfs_warn("s3: could not delete probe object %s: %s", key, strerror(-del));
    }
    if (why) {
        mpfs_info("s3: %s mishandles %s on PUT: conditional put emulated with HEAD (racy)",
                  s->endpoint, why);
        return;
    }
    s->put_if_match_quoted = quoted;
    s->base.caps |= MPFS_CAP_COND_PUT;
    atomic_store(&s->complete_cond, complete);
    if (complete) {
        s->base.caps |= MPFS_CAP_COND_MULTIPART;
    } else {
        mpfs_info("s3: %s ignores If-None-Match on CompleteMultipartUpload: large "
                  "conditional writes re-check with HEAD before completing",
                  s->endpoint);
    }
    if (!quoted) {
        mpfs_info("s3: %s wants If-Match ETags unquoted on PUT", s->endpoint);
    }
}

int mpfs_s3_open(const struct mpfs_s3_config *cfg, struct mpfs_backend **out, char *err,
                 size_t errlen)
{
    struct mpfs_s3_config dflt;
    char msg[512];

    *out = NULL;
    if (errlen) {
        err[0] = '\0';
    }
    mpfs_s3_config_defaults(&dflt);
    if (!bucket_name_ok(cfg->bucket)) {
        snprintf(err, errlen, "S3 bucket name '%s' is empty or invalid",
                 cfg->bucket ? cfg->bucket : "");
        return -EINVAL;
    }
    int rc = mpfs_s3_http_global();
    if (rc < 0) {
        snprintf(err, errlen, "S3: libcurl initialisation failed");
        return rc;
    }

    struct mpfs_s3 *s = mpfs_xcalloc(1, sizeof(*s));
    s->base.ops = &s3_ops;
    s->base.kind = "s3";
    s->bucket = mpfs_xstrdup(cfg->bucket);
    const char *region = cfg->region ? cfg->region : env_first("AWS_REGION", "AWS_DEFAULT_REGION");
    s->region = mpfs_xstrdup(region ? region : "us-east-1");

    const char *pfx = cfg->prefix ? cfg->prefix : "";
    while (*pfx == '/') {
        pfx++;
    }
    size_t pl = strlen(pfx);
    while (pl && pfx[pl - 1] == '/') {
        pl--;
    }
    s->prefix = pl ? mpfs_xasprintf("%.*s/", (int)pl, pfx) : mpfs_xstrdup("");

    s->connect_timeout_ms =
        cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : dflt.connect_timeout_ms;
    s->request_timeout_ms =
        cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : dflt.request_timeout_ms;
    s->max_retries = cfg->max_retries >= 0 ? cfg->max_retries : dflt.max_retries;
    s->parallel = cfg->parallel > 0 ? (cfg->parallel > 64 ? 64 : cfg->parallel) : dflt.parallel;
    s->part_size = cfg->part_size ? cfg->part_size : DEFAULT_PART;
    if (s->part_size < MPFS_S3_MIN_PART) {
        s->part_size = MPFS_S3_MIN_PART;
    }
    if (s->part_size > MPFS_S3_MAX_PART) {
        s->part_size = MPFS_S3_MAX_PART;
    }
    s->single_put_max = 2 * s->part_size < MPFS_S3_MAX_PUT ? 2 * s->part_size : MPFS_S3_MAX_PUT;
    s->copy_max = MPFS_S3_MAX_PUT;
    s->base.io_size = s->part_size;
    /* S3 keys hold 1024 bytes; a directory's marker adds its '/' */
    size_t pfx_len = strlen(s->prefix);
    s->base.path_max = pfx_len + 1 < MPFS_S3_KEY_LIMIT ? MPFS_S3_KEY_LIMIT - pfx_len - 1 : 1;

    char *ep_default = NULL;
    const char *ep =
        cfg->endpoint ? cfg->endpoint : env_first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
    if (!ep) {
        ep = ep_default = mpfs_xasprintf("https://s3.%s.amazonaws.com", s->region);
    }
    rc = mpfs_s3_setup_endpoint(s, ep, cfg->virtual_hosted, err, errlen);
    free(ep_default);
    if (rc < 0) {
        goto out_destroy;
    }
    rc = mpfs_s3_creds_load(cfg->profile, cfg->credentials_file, &s->creds, msg, sizeof(msg));
    if (rc < 0) {
        snprintf(err, errlen, "%s", msg);
        goto out_destroy;
    }
    if (!s->creds.access_key) {
        mpfs_warn("s3: no credentials found (environment, %s): sending unsigned requests",
                  cfg->credentials_file ? cfg->credentials_file : "~/.aws/credentials");
    }
    s->pool = mpfs_s3_pool_new();
    s->trace = env_first("MPFS_S3_TRACE", NULL) != NULL;
    s->base.caps = MPFS_CAP_SYMLINK | MPFS_CAP_SETATTR | MPFS_CAP_MULTIPART | MPFS_CAP_PINNED_READ |
                   MPFS_CAP_USER_XATTR | MPFS_CAP_RENAME_DIR | MPFS_CAP_RENAME_EMULATED |
                   MPFS_CAP_SERVER_COPY | MPFS_CAP_EMPTY_DIRS;
    snprintf(s->base.desc, sizeof(s->base.desc), "s3 %s bucket %s%s%s (%s, %s)", s->endpoint,
             s->bucket, s->prefix[0] ? " prefix " : "", s->prefix,
             cfg->virtual_hosted ? "virtual-hosted" : "path-style", s->region);

    rc = check_bucket(s, err, errlen);
    if (rc < 0) {
        goto out_destroy;
    }
    if (!cfg->no_probe) {
        probe_cond_put(s);
        if (mpfs_s3_probe_versioning(s)) {
            s->base.caps |= MPFS_CAP_VERSION_CHAIN;
        }
    }

    char caps[256];
    mpfs_backend_caps_str(s->base.caps, caps, sizeof(caps));
    mpfs_info("s3: opened %s; credentials from %s; caps %s; part size %llu MiB x %d", s->base.desc,
              s->creds.source, caps, (unsigned long long)(s->part_size >> 20), s->parallel);
    *out = &s->base;
    return 0;

out_destroy:
    s3_destroy(&s->base);
    return rc;
}

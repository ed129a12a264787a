/*
 * versions.c - the object's version chain on a versioned bucket: was an
 * acknowledged version overwritten by our put, and keeping it if so.
 *
 * Why: a conditional PUT is only as good as the store makes it.  radosgw
 * 16.2 checks If-Match and then writes, not atomically: two PUTs with the
 * same If-Match racing each other can both be acknowledged, and the first
 * writer's version is silently replaced (issue 6, defect 11; measured in
 * docs/BACKENDS.md).  It also ignores If-Match / If-None-Match on
 * CompleteMultipartUpload and on CopyObject.  With bucket versioning on,
 * the replaced version still exists, so after a commit the chain tells:
 * the version directly before ours must be the one we expected (base).
 * If it is another one, ours overwrote it, and the fs keeps it as a
 * conflict copy (copy_version), so no acknowledged write is lost.
 *
 * How: one ListObjectVersions request, prefix = the key.  The store lists
 * versions by key, newest first, and the key itself sorts before every
 * longer key with that prefix, so the first page starts with its chain.
 * Ours is the newest version carrying the ETag our put returned (S3 gives
 * no version id to a caller that only kept the ETag); a later write of the
 * very same bytes by someone else is therefore taken for ours: then the
 * "victim" is our own version, a false alarm that costs a redundant
 * conflict copy, never a lost write.
 *
 * The versioning state is probed once at open (GetBucketVersioning,
 * MPFS_CAP_VERSION_CHAIN).  No state, no locks: every call is one or two
 * requests on the shared curl pool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/s3/http.h"
#include "backends/s3/internal.h"
#include "backends/s3/uri.h"
#include "backends/s3/xml.h"
#include "base/log.h"
#include "base/util.h"

struct chain {
    const char *key;
    size_t klen;
    const char *ours;
    const char *base;
    int found;    /* ours seen */
    int decided;  /* the entry before ours seen */
    int result;   /* 0 or 1 (see backend.h) */
    int unversioned;
    char *victim;
    size_t victim_len;
};

static int chain_cb(void *arg, const char *key, size_t klen, const struct mpfs_s3_version *v)
{
    struct chain *c = arg;
    if (klen != c->klen || memcmp(key, c->key, klen) != 0) {
        return 1; /* past the key's own versions */
    }
    if (!c->found) {
        if (!v->delete_marker && strcmp(v->etag, c->ours) == 0) {
            c->found = 1;
            /* an unversioned bucket lists one "null" version */
            c->unversioned = strcmp(v->version_id, "null") == 0;
        }
        return 0;
    }
    c->decided = 1;
    if (v->delete_marker) {
        /* deleted before our put: a create expected that; a replace of
         * base finds its base deleted, and there is nothing to keep */
        c->result = c->base ? 1 : 0;
    } else if (c->base && strcmp(v->etag, c->base) == 0) {
        c->result = 0;
    } else {
        c->result = 1;
        snprintf(c->victim, c->victim_len, "%s", v->version_id);
    }
    return 1;
}

/* GET on the bucket with query (versions=, versioning=) into xml. */
static int get_bucket_xml(struct mpfs_s3 *s, const char *query, struct mpfs_s3_buf *xml,
                          int probe)
{
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    mpfs_s3_req_init(&rq, "GET", NULL);
    rq.query = query;
    rq.xml = xml;
    rq.quiet = probe;
    rq.no_retry = probe;
    mpfs_s3_resp_init(&rs);
    int rc = mpfs_s3_http_do(s, &rq, &rs);
    mpfs_s3_resp_fini(&rs);
    return rc;
}

int mpfs_s3_op_overwritten(struct mpfs_backend *b, const char *path, const char *ours,
                           const char *base, char *victim, size_t victim_len)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX], query[3 * MPFS_S3_KEY_MAX + 64];
    struct mpfs_s3_buf xml = {0};

    if (!(b->caps & MPFS_CAP_VERSION_CHAIN)) {
        return -EOPNOTSUPP;
    }
    int rc = mpfs_s3_key(s, path, 0, key, sizeof(key));
    if (rc < 0) {
        return rc;
    }
    struct mpfs_s3_qparam qp[] = {{"prefix", key}, {"versions", ""}};
    if (mpfs_s3_query_build(qp, 2, query, sizeof(query)) < 0) {
        return -ENAMETOOLONG;
    }
    rc = get_bucket_xml(s, query, &xml, 0);
    if (rc == 0) {
        struct chain c = {.key = key,
                          .klen = strlen(key),
                          .ours = ours,
                          .base = base,
                          .victim = victim,
                          .victim_len = victim_len};
        rc = mpfs_s3_xml_parse_versions(xml.p, xml.len, chain_cb, &c, NULL);
        if (rc >= 0) {
            rc = !c.found ? -ENOENT : c.unversioned ? -EOPNOTSUPP : c.result;
        }
        if (rc == 1) {
            mpfs_warn("s3: %s: our version %s replaced %s%s, not the expected %s", key, ours,
                      victim[0] ? "version " : "a delete", victim, base ? base : "(none)");
        }
    }
    mpfs_s3_buf_free(&xml);
    return rc;
}

int mpfs_s3_op_copy_version(struct mpfs_backend *b, const char *path, const char *version_id,
                            const char *to)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX], dst[MPFS_S3_KEY_MAX];
    char enc[3 * MPFS_S3_KEY_MAX + 1], vid[3 * 256 + 1], cs[sizeof(enc) + sizeof(vid) + 300];
    struct mpfs_s3_buf xml = {0};
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;

    if (!(b->caps & MPFS_CAP_VERSION_CHAIN)) {
        return -EOPNOTSUPP;
    }
    int rc = mpfs_s3_key(s, path, 0, key, sizeof(key));
    if (rc == 0) {
        rc = mpfs_s3_key(s, to, 0, dst, sizeof(dst));
    }
    if (rc < 0) {
        return rc;
    }
    if (mpfs_s3_uri_encode(key, strlen(key), 1, enc, sizeof(enc)) < 0 ||
        mpfs_s3_uri_encode(version_id, strlen(version_id), 1, vid, sizeof(vid)) < 0) {
        return -ENAMETOOLONG;
    }
    snprintf(cs, sizeof(cs), "/%s/%s?versionId=%s", s->bucket, enc, vid);
    /* one CopyObject: versions above 5 GiB would need UploadPartCopy */
    mpfs_s3_req_init(&rq, "PUT", dst);
    rq.xml = &xml;
    rq.bulk = 1;
    mpfs_s3_req_hdr(&rq, "x-amz-copy-source", cs);
    mpfs_s3_resp_init(&rs);
    rc = mpfs_s3_http_do(s, &rq, &rs);
    mpfs_s3_resp_fini(&rs);
    mpfs_s3_buf_free(&xml);
    return rc;
}

int mpfs_s3_probe_versioning(struct mpfs_s3 *s)
{
    struct mpfs_s3_buf xml = {0};
    char status[32] = "";
    int rc = get_bucket_xml(s, "versioning=", &xml, 1);
    if (rc == 0 && mpfs_s3_xml_find_text(xml.p, xml.len, "Status", status, sizeof(status)) < 0) {
        status[0] = '\0'; /* never enabled: no Status element */
    }
    mpfs_s3_buf_free(&xml);
    return rc == 0 && strcmp(status, "Enabled") == 0;
}

/*
 * put.c - whole-object uploads: a single PUT up to single_put_max (2 part
 * sizes), multipart above, and the parallel multipart engine that copy.c
 * also drives for UploadPartCopy.
 *
 * Multipart: CreateMultipartUpload (?uploads=), then `parallel` workers
 * (the caller's thread plus parallel-1 pthreads) take part numbers from an
 * atomic counter; each part is one request on its own pooled curl handle,
 * its body pread from the caller's fd (or, for a copy, a byte range of the
 * source object).  The first failure stops the others; then
 * AbortMultipartUpload, so no invisible parts are left billed.  Part size
 * grows (in MiB steps) until the object fits in 10000 parts, so objects
 * past 5 GiB (up to 5 TiB) work.
 *
 * Preconditions: with MPFS_CAP_COND_PUT a single PUT sends If-Match /
 * If-None-Match: * and the store decides atomically (412 -> -ESTALE or
 * -EEXIST).  Multipart checks with a HEAD before Create, and on Complete
 * sends the same header where the store was probed to honour it there
 * (moto does; radosgw 16 ignores it silently), else checks with a second
 * HEAD just before Complete: racy by one round trip.  Without the
 * capability the HEAD check is all there is: racy, as backend.h says.
 *
 * Retries: each request retries inside http.c.  A Complete whose answer
 * was lost and whose retry then finds NoSuchUpload is checked with a HEAD
 * (the object carrying a multipart ETag "...-<nparts>" of the right size
 * means the first Complete won).
 *
 * Resume (struct mpfs_put_progress, backend.h): the upload id is handed
 * to the caller's save() once the upload exists, and each part's ETag once
 * it is on the store.  A put given the progress of the same key, size and
 * part size reuses that upload: a part whose saved ETag is the MD5 of the
 * local bytes is not sent again (a part ETag is its MD5 on S3 and radosgw
 * without SSE-KMS; any other ETag just means the part is sent again).  An
 * upload the store no longer knows (aborted, expired) is started afresh;
 * one for another key or size is aborted first, so a crash leaves no orphans
 * behind once the journal is replayed.
 *
 * Locking: the workers share the atomic counter, the atomic error and
 * their own slots of the ETag array; plock serializes save() calls.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/s3/http.h"
#include "backends/s3/internal.h"
#include "backends/s3/meta.h"
#include "backends/s3/uri.h"
#include "backends/s3/xml.h"
#include "base/log.h"
#include "base/util.h"

#include <openssl/evp.h>
#include <unistd.h>

struct mp {
    struct mpfs_s3 *s;
    const char *key;
    const char *upload_id;
    const struct mpfs_s3_mp_src *src;
    char copy_source[3 * MPFS_S3_KEY_MAX + 300];
    char src_ifm[MPFS_VERSION_MAX + 4];
    uint64_t size, part_size;
    uint32_t nparts;
    char (*etags)[MPFS_VERSION_MAX];
    atomic_uint next;
    atomic_int err;
    struct mpfs_put_progress *progress; /* NULL: nobody keeps it */
    pthread_mutex_t plock;
};

uint64_t mpfs_s3_part_size_for(uint64_t configured, uint64_t size)
{
    uint64_t ps = configured;
    uint64_t min = (size + MPFS_S3_MAX_PARTS - 1) / MPFS_S3_MAX_PARTS;
    if (ps < min) {
        ps = (min + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
    }
    return ps;
}

static int upload_part(struct mp *m, uint32_t i)
{
    struct mpfs_s3 *s = m->s;
    struct mpfs_s3_qparam qp[2];
    char pn[16], query[512], range[64];
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    struct mpfs_s3_buf xml = {0};
    uint64_t off = (uint64_t)i * m->part_size;
    uint64_t len = m->size - off < m->part_size ? m->size - off : m->part_size;

    snprintf(pn, sizeof(pn), "%u", i + 1);
    qp[0] = (struct mpfs_s3_qparam){"partNumber", pn};
    qp[1] = (struct mpfs_s3_qparam){"uploadId", m->upload_id};
    if (mpfs_s3_query_build(qp, 2, query, sizeof(query)) < 0) {
        return -ENAMETOOLONG;
    }
    mpfs_s3_req_init(&rq, "PUT", m->key);
    rq.query = query;
    rq.bulk = 1;
    if (m->src->fd >= 0) {
        rq.body_fd = m->src->fd;
        rq.body_off = off;
        rq.body_size = len;
    } else {
        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
        mpfs_s3_req_hdr(&rq, "x-amz-copy-source", m->copy_source);
        mpfs_s3_req_hdr(&rq, "x-amz-copy-source-range", range);
        if (m->src_ifm[0]) {
            mpfs_s3_req_hdr(&rq, "x-amz-copy-source-if-match", m->src_ifm);
        }
        rq.xml = &xml;
    }
    mpfs_s3_resp_init(&rs);
    int rc = mpfs_s3_http_do(s, &rq, &rs);
    if (rc == 0) {
        if (m->src->fd >= 0) {
            snprintf(m->etags[i], MPFS_VERSION_MAX, "%s", rs.etag);
        } else if (mpfs_s3_xml_find_text(xml.p, xml.len, "ETag", m->etags[i], MPFS_VERSION_MAX) <
                   0) {
            rc = -EIO;
        } else {
            size_t n = strlen(m->etags[i]);
            if (n >= 2 && m->etags[i][0] == '"') {
                memmove(m->etags[i], m->etags[i] + 1, n - 2);
                m->etags[i][n - 2] = '\0';
            }
        }
        if (rc == 0 && !m->etags[i][0]) {
            mpfs_warn("s3: part %u of %s came back without an ETag", i + 1, m->key);
            rc = -EIO;
        }
    }
    mpfs_s3_resp_fini(&rs);
    mpfs_s3_buf_free(&xml);
    return rc;
}

/* Hand the progress to its keeper: the upload id, and the parts done. */
static void save_progress(struct mp *m, int part)
{
    struct mpfs_put_progress *p = m->progress;
    if (!p)
        return;
    pthread_mutex_lock(&m->plock);
    if (part >= 0)
        memcpy(p->etags[part], m->etags[part], MPFS_VERSION_MAX);
    if (p->save)
        p->save(p->save_arg, p);
    pthread_mutex_unlock(&m->plock);
}

static void *part_worker(void *arg)
{
    struct mp *m = arg;
    for (;;) {
        if (atomic_load(&m->err)) {
            break;
        }
        unsigned i = atomic_fetch_add(&m->next, 1);
        if (i >= m->nparts) {
            break;
        }
        if (m->etags[i][0]) {
            continue; /* on the store already (a resumed upload) */
        }
        int rc = upload_part(m, i);
        if (rc < 0) {
            int zero = 0;
            atomic_compare_exchange_strong(&m->err, &zero, rc);
            break;
        }
        mpfs_debug("s3: multipart %s: part %u of %u done", m->key, i + 1, m->nparts);
        save_progress(m, (int)i);
    }
    return NULL;
}

/* Is etag the MD5 of bytes [off, off + len) of fd? */
static int part_matches(int fd, uint64_t off, uint64_t len, const char *etag)
{
    if (strlen(etag) != 32)
        return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char *buf = mpfs_xmalloc(1u << 20);
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1;
    while (ok && len > 0) {
        size_t want = (size_t)MPFS_MIN((uint64_t)(1u << 20), len);
        ssize_t got = mpfs_read_full(fd, buf, want, (off_t)off);
        ok = got == (ssize_t)want && EVP_DigestUpdate(ctx, buf, want) == 1;
        off += want;
        len -= want;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
    for (unsigned i = 0; ok && i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    ok = ok && strcasecmp(hex, etag) == 0;
    EVP_MD_CTX_free(ctx);
    free(buf);
    return ok;
}

static void abort_upload(struct mpfs_s3 *s, const char *key, const char *upload_id);

/* Take over the upload of a put cut short, if it is this one: copy the
 * parts whose bytes still match into m->etags and return 1.  An upload of
 * another key, size or part size is aborted.  0: start a new one. */
static int resume_upload(struct mp *m, char *upload_id, size_t idlen)
{
    struct mpfs_put_progress *p = m->progress;
    if (!p || !p->upload_id[0] || m->src->fd < 0)
        return 0;
    if (strcmp(p->key, m->key) != 0 || p->size != m->size || p->part_size != m->part_size ||
        p->nparts != m->nparts || !p->etags) {
        /* ours, and of no use now: abort it rather than leave its parts */
        mpfs_info("s3: aborting the earlier multipart upload of %s (another object or size)",
                  p->key);
        abort_upload(m->s, p->key, p->upload_id);
        mpfs_put_progress_clear(p);
        return 0;
    }
    snprintf(upload_id, idlen, "%s", p->upload_id);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < m->nparts; i++) {
        uint64_t off = (uint64_t)i * m->part_size;
        uint64_t len = MPFS_MIN(m->part_size, m->size - off);
        if (p->etags[i][0] && part_matches(m->src->fd, off, len, p->etags[i])) {
            memcpy(m->etags[i], p->etags[i], MPFS_VERSION_MAX);
            kept++;
        } else {
            p->etags[i][0] = '\0';
        }
    }
    p->reused = kept;
    mpfs_info("s3: resuming multipart upload of %s: %u of %u parts already on the store",
              m->key, kept, m->nparts);
    return 1;
}

/* A new upload: the progress starts over with it. */
static void progress_start(struct mp *m, const char *upload_id)
{
    struct mpfs_put_progress *p = m->progress;
    if (!p)
        return;
    mpfs_put_progress_clear(p);
    snprintf(p->upload_id, sizeof(p->upload_id), "%s", upload_id);
    snprintf(p->key, sizeof(p->key), "%s", m->key);
    p->size = m->size;
    p->part_size = m->part_size;
    p->nparts = m->nparts;
    p->etags = mpfs_xcalloc(m->nparts, MPFS_VERSION_MAX);
    save_progress(m, -1);
}

static int create_upload(struct mpfs_s3 *s, const char *key, const struct mpfs_s3_hdrset *hdrs,
                         char *upload_id, size_t idlen)
{
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    struct mpfs_s3_buf xml = {0};

    mpfs_s3_req_init(&rq, "POST", key);
    rq.query = "uploads=";
    rq.xml = &xml;
    int rc = hdrs ? mpfs_s3_hdrs_apply(hdrs, &rq) : 0;
    if (rc == 0 && !(hdrs && mpfs_s3_hdrs_get(hdrs, "content-type"))) {
        rc = mpfs_s3_req_hdr(&rq, "content-type", "application/octet-stream");
    }
    mpfs_s3_resp_init(&rs);
    if (rc == 0) {
        rc = mpfs_s3_http_do(s, &rq, &rs);
    }
    if (rc == 0 && mpfs_s3_xml_find_text(xml.p, xml.len, "UploadId", upload_id, idlen) <= 0) {
        mpfs_warn("s3: CreateMultipartUpload of %s at %s returned no UploadId", key, s->endpoint);
        rc = -EIO;
    }
    mpfs_s3_resp_fini(&rs);
    mpfs_s3_buf_free(&xml);
    return rc;
}

static void abort_upload(struct mpfs_s3 *s, const char *key, const char *upload_id)
{
    struct mpfs_s3_qparam qp[] = {{"uploadId", upload_id}};
    char query[512];
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;

    if (mpfs_s3_query_build(qp, 1, query, sizeof(query)) < 0) {
        return;
    }
    mpfs_s3_req_init(&rq, "DELETE", key);
    rq.query = query;
    mpfs_s3_resp_init(&rs);
    int rc = mpfs_s3_http_do(s, &rq, &rs);
    if (rc < 0 && rc != -ENOENT) {
        mpfs_warn("s3: could not abort multipart upload %s of %s: %s (the parts stay until "
                  "a lifecycle rule removes them)",
                  upload_id, key, strerror(-rc));
    }
    mpfs_s3_resp_fini(&rs);
}

/* Did a Complete whose answer got lost succeed? */
static int completed_anyway(struct mpfs_s3 *s, struct mp *m, char *etag_out, size_t etag_len)
{
    struct mpfs_attr a;
    char suffix[16];
    if (mpfs_s3_head(s, m->key, &a, NULL) < 0 || a.size != m->size) {
        return 0;
    }
    snprintf(suffix, sizeof(suffix), "-%u", m->nparts);
    size_t vl = strlen(a.version), sl = strlen(suffix);
    if (vl <= sl || strcmp(a.version + vl - sl, suffix) != 0) {
        return 0;
    }
    snprintf(etag_out, etag_len, "%s", a.version);
    return 1;
}

static int complete_upload(struct mpfs_s3 *s, struct mp *m, const char *if_match, int if_none_match,
                           char *etag_out, size_t etag_len)
{
    struct mpfs_s3_qparam qp[] = {{"uploadId", m->upload_id}};
    char query[512], ifm[MPFS_VERSION_MAX + 4];
    struct mpfs_s3_buf body = {0}, xml = {0};
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    int rc;

    if (mpfs_s3_query_build(qp, 1, query, sizeof(query)) < 0) {
        return -ENAMETOOLONG;
    }
    mpfs_s3_xml_build_complete(&body, m->etags, m->nparts);
    mpfs_s3_resp_init(&rs);
    for (int with_cond = atomic_load(&s->complete_cond) && (if_match || if_none_match);;
         with_cond = 0) {
        mpfs_s3_req_init(&rq, "POST", m->key);
        rq.query = query;
        rq.body = body.p;
        rq.body_len = body.len;
        rq.xml = &xml;
        rq.bulk = 1; /* the store may take a while to stitch large objects */
        mpfs_s3_req_hdr(&rq, "content-type", "application/xml");
        if (with_cond && if_none_match) {
            mpfs_s3_req_hdr(&rq, "if-none-match", "*");
        } else if (with_cond) {
            mpfs_s3_put_if_match(s, if_match, ifm, sizeof(ifm));
            mpfs_s3_req_hdr(&rq, "if-match", ifm);
        }
        rc = mpfs_s3_http_do(s, &rq, &rs);
        if (with_cond && (rc == -EOPNOTSUPP || (rc == -EINVAL && rs.status == 400 &&
                                                strcmp(rs.code, "InvalidPart") != 0))) {
            /* The store refuses conditions on Complete: the HEAD check
             * made before Create is all we can do there. */
            mpfs_info("s3: %s rejects conditional CompleteMultipartUpload (%s); not sending it "
                      "again",
                      s->endpoint, rs.code[0] ? rs.code : "HTTP 400");
            atomic_store(&s->complete_cond, 0);
            s->base.caps &= ~(uint32_t)MPFS_CAP_COND_MULTIPART;
            continue;
        }
        break;
    }
    if (rc == 0) {
        if (mpfs_s3_xml_find_text(xml.p, xml.len, "ETag", etag_out, etag_len) < 0) {
            etag_out[0] = '\0';
        }
        size_t n = strlen(etag_out);
        if (n >= 2 && etag_out[0] == '"') {
            memmove(etag_out, etag_out + 1, n - 2);
            etag_out[n - 2] = '\0';
        }
        if (!etag_out[0]) {
            /* radosgw (17.x) answers <ETag></ETag>: ask the object */
            struct mpfs_attr a;
            if (mpfs_s3_head(s, m->key, &a, NULL) == 0) {
                snprintf(etag_out, etag_len, "%s", a.version);
            }
        }
    } else if (rc == -ENOENT && rs.attempts > 1 && completed_anyway(s, m, etag_out, etag_len)) {
        rc = 0;
    }
    mpfs_s3_resp_fini(&rs);
    mpfs_s3_buf_free(&body);
    mpfs_s3_buf_free(&xml);
    return rc;
}

static int check_precondition(struct mpfs_s3 *s, const char *key, const char *if_match,
                              int if_none_match);

int mpfs_s3_multipart(struct mpfs_s3 *s, const char *key, uint64_t size,
                      const struct mpfs_s3_mp_src *src, const struct mpfs_s3_hdrset *hdrs,
                      const char *if_match, int if_none_match, struct mpfs_put_progress *progress,
                      char *etag_out, size_t etag_len)
{
    char upload_id[1024];
    char etag_local[MPFS_VERSION_MAX];
    struct mp *m = mpfs_xcalloc(1, sizeof(*m));

    if (!etag_out) {
        etag_out = etag_local;
        etag_len = sizeof(etag_local);
    }
    pthread_t tids[64];
    int nthreads = 0;

    m->s = s;
    m->key = key;
    m->src = src;
    m->size = size;
    m->part_size = mpfs_s3_part_size_for(s->part_size, size);
    m->nparts = (uint32_t)((size + m->part_size - 1) / m->part_size);
    if (m->nparts == 0) {
        m->nparts = 1; /* an empty multipart object still has one part */
    }
    if (src->fd < 0 && !src->src_key) {
        free(m);
        return -EINVAL;
    }
    if (src->fd < 0) {
        char enc[3 * MPFS_S3_KEY_MAX + 1];
        if (mpfs_s3_uri_encode(src->src_key, strlen(src->src_key), 1, enc, sizeof(enc)) < 0) {
            free(m);
            return -ENAMETOOLONG;
        }
        snprintf(m->copy_source, sizeof(m->copy_source), "/%s/%s", s->bucket, enc);
        if (src->src_etag && src->src_etag[0]) {
            snprintf(m->src_ifm, sizeof(m->src_ifm), "\"%s\"", src->src_etag);
        }
    }
    m->etags = mpfs_xcalloc(m->nparts, MPFS_VERSION_MAX);
    m->progress = progress;
    pthread_mutex_init(&m->plock, NULL);

    int rc = 0, resumed = resume_upload(m, upload_id, sizeof(upload_id));
    for (;;) {
        if (!resumed) {
            rc = create_upload(s, key, hdrs, upload_id, sizeof(upload_id));
            if (rc < 0) {
                goto out_free;
            }
            progress_start(m, upload_id);
        }
        m->upload_id = upload_id;
        atomic_store(&m->next, 0);
        int want = s->parallel < (int)m->nparts ? s->parallel : (int)m->nparts;
        for (int i = 1; i < want && i < (int)MPFS_ARRAY_SIZE(tids); i++) {
            if (pthread_create(&tids[nthreads], NULL, part_worker, m) == 0) {
                nthreads++;
            }
        }
        part_worker(m); /* the caller's thread works too */
        for (int i = 0; i < nthreads; i++) {
            pthread_join(tids[i], NULL);
        }
        nthreads = 0;
        rc = atomic_load(&m->err);
        int checked = 0;
        if (rc == 0 && (if_match || if_none_match) && !atomic_load(&s->complete_cond)) {
            /* The store ignores conditions on Complete: check again now, so
             * the race window is one round trip, not the whole upload. */
            rc = check_precondition(s, key, if_match, if_none_match);
            checked = rc < 0; /* its ENOENT is the object's, not the upload's */
        }
        if (rc == 0) {
            rc = complete_upload(s, m, if_match, if_none_match, etag_out, etag_len);
        }
        if (!(resumed && (rc == -ENOENT || rc == -EIO) && !checked)) {
            break;
        }
        /* The store no longer knows the resumed upload (aborted, expired):
         * S3 and radosgw answer NoSuchUpload, moto a 500.  Start over once
         * with a new upload. */
        mpfs_info("s3: the earlier multipart upload of %s failed (%s); uploading it whole", key,
                  strerror(-rc));
        resumed = 0;
        atomic_store(&m->err, 0);
        memset(m->etags, 0, (size_t)m->nparts * MPFS_VERSION_MAX);
    }
    if (rc < 0) {
        mpfs_warn("s3: multipart upload of %s (%u parts) failed: %s; aborting it", key, m->nparts,
                  strerror(-rc));
        abort_upload(s, key, upload_id);
        if (progress) {
            mpfs_put_progress_clear(progress); /* nothing left to resume */
        }
    } else {
        mpfs_debug("s3: multipart %s: %u parts of %llu MiB, %d workers", key, m->nparts,
                   (unsigned long long)(m->part_size >> 20), nthreads + 1);
    }
out_free:
    pthread_mutex_destroy(&m->plock);
    free(m->etags);
    free(m);
    return rc;
}

int mpfs_s3_probe_complete_cond(struct mpfs_s3 *s, const char *existing_key)
{
    char upload_id[1024], query[1200];
    char etags[1][MPFS_VERSION_MAX];
    struct mpfs_s3_buf body = {0}, xml = {0};
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    int honoured = 0;

    if (create_upload(s, existing_key, NULL, upload_id, sizeof(upload_id)) < 0) {
        return 0;
    }
    struct mpfs_s3_qparam qp[] = {{"partNumber", "1"}, {"uploadId", upload_id}};
    mpfs_s3_resp_init(&rs);
    if (mpfs_s3_query_build(qp, 2, query, sizeof(query)) < 0) {
        goto out_abort;
    }
    /* a single part may be smaller than 5 MiB: it is the last one */
    mpfs_s3_req_init(&rq, "PUT", existing_key);
    rq.query = query;
    rq.body = "p";
    rq.body_len = 1;
    rq.quiet = 1;
    if (mpfs_s3_http_do(s, &rq, &rs) < 0 || !rs.etag[0]) {
        goto out_abort;
    }
    snprintf(etags[0], sizeof(etags[0]), "%s", rs.etag);
    mpfs_s3_xml_build_complete(&body, etags, 1);
    if (mpfs_s3_query_build(qp + 1, 1, query, sizeof(query)) < 0) {
        goto out_abort;
    }
    mpfs_s3_req_init(&rq, "POST", existing_key);
    rq.query = query;
    rq.body = body.p;
    rq.body_len = body.len;
    rq.xml = &xml;
    rq.quiet = 1;
    mpfs_s3_req_hdr(&rq, "content-type", "application/xml");
    mpfs_s3_req_hdr(&rq, "if-none-match", "*");
    honoured = mpfs_s3_http_do(s, &rq, &rs) == -ESTALE;
out_abort:
    abort_upload(s, existing_key, upload_id); /* a no-op if it completed */
    mpfs_s3_resp_fini(&rs);
    mpfs_s3_buf_free(&body);
    mpfs_s3_buf_free(&xml);
    return honoured;
}

/* The HEAD-based precondition check: the only one a store without
 * conditional PUT has, and the pre-check of a multipart upload. */
static int check_precondition(struct mpfs_s3 *s, const char *key, const char *if_match,
                              int if_none_match)
{
    struct mpfs_attr a;
    int rc = mpfs_s3_head(s, key, &a, NULL);
    if (rc == -ENOENT) {
        return if_match ? -ESTALE : 0;
    }
    if (rc < 0) {
        return rc;
    }
    if (if_none_match) {
        return -EEXIST;
    }
    if (if_match && strcmp(a.version, if_match) != 0) {
        return -ESTALE;
    }
    return 0;
}

int mpfs_s3_op_put(struct mpfs_backend *b, const char *path, int fd, uint64_t size,
                   const struct mpfs_put_opts *opts, struct mpfs_attr *out)
{
    struct mpfs_s3 *s = mpfs_s3_of(b);
    char key[MPFS_S3_KEY_MAX], ifm[MPFS_VERSION_MAX + 4];
    char etag[MPFS_VERSION_MAX] = "";
    struct mpfs_s3_hdrset hs = {0};
    const char *if_match = opts->if_match && opts->if_match[0] ? opts->if_match : NULL;
    int if_none_match = opts->if_none_match;
    int cond = s->base.caps & MPFS_CAP_COND_PUT;

    if (path[0] == '\0') {
        return -EISDIR;
    }
    int rc = mpfs_s3_key(s, path, 0, key, sizeof(key));
    if (rc < 0) {
        return rc;
    }
    rc = mpfs_s3_hdrs_add(&hs, "", "content-type", "application/octet-stream");
    if (rc == 0) {
        rc = mpfs_s3_hdrs_add_attr(&hs, &opts->attr, opts->attr_set);
    }
    if (rc < 0) {
        goto out_fini;
    }
    if ((if_match || if_none_match) && (!cond || size > s->single_put_max)) {
        rc = check_precondition(s, key, if_match, if_none_match);
        if (rc < 0) {
            goto out_fini;
        }
    }

    if (size <= s->single_put_max) {
        struct mpfs_s3_req rq;
        struct mpfs_s3_resp rs;
        mpfs_s3_req_init(&rq, "PUT", key);
        rq.body_fd = fd;
        rq.body_off = 0;
        rq.body_size = size;
        rq.bulk = 1;
        mpfs_s3_hdrs_apply(&hs, &rq);
        if (cond && if_none_match) {
            mpfs_s3_req_hdr(&rq, "if-none-match", "*");
        } else if (cond && if_match) {
            mpfs_s3_put_if_match(s, if_match, ifm, sizeof(ifm));
            mpfs_s3_req_hdr(&rq, "if-match", ifm);
        }
        mpfs_s3_resp_init(&rs);
        rc = mpfs_s3_http_do(s, &rq, &rs);
        snprintf(etag, sizeof(etag), "%s", rs.etag);
        mpfs_s3_resp_fini(&rs);
    } else {
        struct mpfs_s3_mp_src src = {.fd = fd};
        rc =
            mpfs_s3_multipart(s, key, size, &src, &hs, if_match, if_none_match, opts->progress,
                              etag, sizeof(etag));
    }
    if (rc == -ESTALE || (rc == -ENOENT && if_match)) {
        rc = if_none_match ? -EEXIST : -ESTALE;
    }
    if (rc < 0) {
        goto out_fini;
    }
    if (out) {
        memset(out, 0, sizeof(*out));
        out->mode = S_IFREG | 0644;
        out->nlink = 1;
        out->size = size;
        out->mtime_ns = mpfs_wall_ns();
        if (opts->attr_set & MPFS_SET_MODE) {
            out->mode = (opts->attr.mode & S_IFMT ? opts->attr.mode & S_IFMT : S_IFREG) |
                        (opts->attr.mode & 07777);
            out->valid |= MPFS_ATTR_MODE;
        }
        if (opts->attr_set & MPFS_SET_UID) {
            out->uid = opts->attr.uid;
            out->valid |= MPFS_ATTR_OWNER;
        }
        if (opts->attr_set & MPFS_SET_GID) {
            out->gid = opts->attr.gid;
            out->valid |= MPFS_ATTR_OWNER;
        }
        if (opts->attr_set & MPFS_SET_MTIME) {
            out->mtime_ns = opts->attr.mtime_ns;
            out->valid |= MPFS_ATTR_MTIME;
        }
        out->ctime_ns = out->mtime_ns;
        out->atime_ns = opts->attr_set & MPFS_SET_ATIME ? opts->attr.atime_ns : out->mtime_ns;
        snprintf(out->version, sizeof(out->version), "%s", etag);
    }
out_fini:
    mpfs_s3_hdrs_fini(&hs);
    return rc;
}

/*
 * http.c - see http.h.
 */
#include "backends/s3/http.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <openssl/evp.h>

#include "backends/s3/errmap.h"
#include "backends/s3/internal.h"
#include "backends/s3/meta.h"
#include "backends/s3/sigv4.h"
#include "backends/s3/uri.h"
#include "backends/s3/xml.h"
#include "base/log.h"
#include "base/util.h"

#define RECV_BUFFER (512 * 1024)
#define SEND_BUFFER (512 * 1024)
#define ERRBODY_MAX (64 * 1024)
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 5000
#define POOL_IDLE_MAX 64
#define EXTRA_HDRS 10 /* host, date, sha, token, auth, Expect, Content-Type ... */

struct conn {
    CURL *easy;
    EVP_MD_CTX *md;
    char sk_date[9]; /* the day the cached signing key is for, "" if none */
    unsigned char sk[32];
    struct mpfs_s3_buf uri, url, arena, auth;
    size_t line_off[MPFS_S3_MAX_HDRS + EXTRA_HDRS];
    struct curl_slist nodes[MPFS_S3_MAX_HDRS + EXTRA_HDRS];
    char errbuf[CURL_ERROR_SIZE];
    struct conn *next;
};

struct mpfs_s3_pool {
    pthread_mutex_t lock; /* guards idle/nidle only */
    struct conn *idle;
    int nidle;
    CURLSH *share; /* DNS cache and TLS sessions shared by all handles */
    pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
};

/* --- global init --------------------------------------------------------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;

static void global_init(void)
{
    /* Both must run before any thread uses them; neither is undone
     * (curl_global_cleanup at exit would race with other users). */
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
    xmlInitParser();
}

int mpfs_s3_http_global(void)
{
    pthread_once(&global_once, global_init);
    return global_rc;
}

/* --- pool ---------------------------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
    struct mpfs_s3_pool *p = u;
    pthread_mutex_lock(&p->share_lock[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
    struct mpfs_s3_pool *p = u;
    pthread_mutex_unlock(&p->share_lock[d]);
}

struct mpfs_s3_pool *mpfs_s3_pool_new(void)
{
    struct mpfs_s3_pool *p = mpfs_xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_init(&p->share_lock[i], NULL);
    }
    p->share = curl_share_init();
    if (p->share) {
        curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(p->share, CURLSHOPT_USERDATA, p);
        curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
    return p;
}

static void conn_free(struct conn *c)
{
    if (!c) {
        return;
    }
    curl_easy_cleanup(c->easy);
    EVP_MD_CTX_free(c->md);
    mpfs_s3_buf_free(&c->uri);
    mpfs_s3_buf_free(&c->url);
    mpfs_s3_buf_free(&c->arena);
    mpfs_s3_buf_free(&c->auth);
    memset(c->sk, 0, sizeof(c->sk));
    free(c);
}

void mpfs_s3_pool_free(struct mpfs_s3_pool *p)
{
    if (!p) {
        return;
    }
    while (p->idle) {
        struct conn *c = p->idle;
        p->idle = c->next;
        conn_free(c);
    }
    if (p->share) {
        curl_share_cleanup(p->share);
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_destroy(&p->share_lock[i]);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud);
static size_t on_body(char *p, size_t sz, size_t n, void *ud);
static size_t on_upload(char *buf, size_t sz, size_t n, void *ud);
static int on_seek(void *ud, curl_off_t off, int origin);
static int on_trace(CURL *e, curl_infotype type, char *data, size_t size, void *ud);

/* The options every request of this backend shares, set once per handle. */
static void conn_setup(struct mpfs_s3 *s, struct conn *c)
{
    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L); /* keys may hold "/./" or "//" */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "mpfs/0.1");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)RECV_BUFFER);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)SEND_BUFFER);
    if (s->pool->share) {
        curl_easy_setopt(e, CURLOPT_SHARE, s->pool->share);
    }
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
    if (s->trace) {
        curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_trace);
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    }
}

static struct conn *checkout(struct mpfs_s3 *s)
{
    struct mpfs_s3_pool *p = s->pool;
    pthread_mutex_lock(&p->lock);
    struct conn *c = p->idle;
    if (c) {
        p->idle = c->next;
        p->nidle--;
    }
    pthread_mutex_unlock(&p->lock);
    if (c) {
        return c;
    }
    c = mpfs_xcalloc(1, sizeof(*c));
    c->easy = curl_easy_init();
    c->md = EVP_MD_CTX_new();
    if (!c->easy || !c->md) {
        conn_free(c);
        return NULL;
    }
    conn_setup(s, c);
    return c;
}

static void checkin(struct mpfs_s3_pool *p, struct conn *c)
{
    pthread_mutex_lock(&p->lock);
    if (p->nidle < POOL_IDLE_MAX) {
        c->next = p->idle;
        p->idle = c;
        p->nidle++;
        c = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    conn_free(c); /* beyond the idle cap: close */
}

/* --- requests and responses ---------------------------------------------- */

void mpfs_s3_req_init(struct mpfs_s3_req *rq, const char *method, const char *key)
{
    memset(rq, 0, offsetof(struct mpfs_s3_req, hdrs));
    rq->nhdrs = 0;
    memset(&rq->body, 0, sizeof(*rq) - offsetof(struct mpfs_s3_req, body));
    rq->method = method;
    rq->key = key;
    rq->body_fd = -1;
}

int mpfs_s3_req_hdr(struct mpfs_s3_req *rq, const char *name, const char *value)
{
    if (rq->nhdrs >= MPFS_S3_MAX_HDRS) {
        return -E2BIG;
    }
    rq->hdrs[rq->nhdrs].name = name;
    rq->hdrs[rq->nhdrs].value = value;
    rq->nhdrs++;
    return 0;
}

void mpfs_s3_resp_init(struct mpfs_s3_resp *rs)
{
    memset(rs, 0, sizeof(*rs));
    rs->last_modified_ns = -1;
}

void mpfs_s3_resp_fini(struct mpfs_s3_resp *rs)
{
    mpfs_s3_buf_free(&rs->meta);
    mpfs_s3_buf_free(&rs->errbody);
}

/* Forget what an earlier attempt (or header block, e.g. a 100 Continue)
 * captured; keep the buffers' memory. */
static void resp_reset_headers(struct mpfs_s3_resp *rs)
{
    rs->etag[0] = '\0';
    rs->last_modified_ns = -1;
    rs->content_length = 0;
    rs->has_length = 0;
    rs->total_size = 0;
    rs->has_total = 0;
    rs->date[0] = '\0';
    rs->bucket_region[0] = '\0';
    mpfs_s3_buf_reset(&rs->meta);
}

static void resp_reset(struct mpfs_s3_resp *rs)
{
    resp_reset_headers(rs);
    rs->status = 0;
    rs->err = 0;
    rs->curl_rc = 0;
    rs->hung = 0;
    rs->code[0] = '\0';
    rs->message[0] = '\0';
    rs->detail[0] = '\0';
    rs->nread = 0;
    rs->local = 0;
    mpfs_s3_buf_reset(&rs->errbody);
}

void mpfs_s3_resp_describe(const struct mpfs_s3_resp *rs, char *out, size_t outlen)
{
    if (rs->curl_rc != CURLE_OK) {
        snprintf(out, outlen, "%s", rs->detail[0] ? rs->detail : curl_easy_strerror(rs->curl_rc));
    } else if (rs->code[0]) {
        snprintf(out, outlen, "HTTP %ld %s%s%s", rs->status, rs->code, rs->message[0] ? ": " : "",
                 rs->message);
    } else {
        snprintf(out, outlen, "HTTP %ld", rs->status);
    }
}

/* --- transfer callbacks -------------------------------------------------- */

struct xfer {
    CURL *easy;
    struct mpfs_s3_req *rq;
    struct mpfs_s3_resp *rs;
    long status;
    uint64_t skipped; /* of dst_skip */
    uint64_t up_pos;  /* upload position within the body */
    int up_err;       /* -errno from the body source */
    int overflow;     /* the server sent more than dst_cap */
};

static void copy_trimmed(char *dst, size_t dstlen, const char *v, size_t vlen)
{
    if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
        v++;
        vlen -= 2;
    }
    if (vlen >= dstlen) {
        vlen = dstlen - 1;
    }
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
}

static int hdr_is(const char *name, size_t nlen, const char *lit)
{
    return nlen == strlen(lit) && strncasecmp(name, lit, nlen) == 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    struct mpfs_s3_resp *rs = x->rs;
    size_t len = sz * n;

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new header block (after a 100 Continue or a retry) */
        resp_reset_headers(rs);
        const char *sp = memchr(p, ' ', len);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon) {
        return len;
    }
    size_t nlen = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vlen = len - nlen - 1;
    while (vlen && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ')) {
        vlen--;
    }

    char tmp[64];
    if (hdr_is(p, nlen, "etag")) {
        copy_trimmed(rs->etag, sizeof(rs->etag), v, vlen);
    } else if (hdr_is(p, nlen, "last-modified")) {
        copy_trimmed(tmp, sizeof(tmp), v, vlen);
        rs->last_modified_ns = mpfs_s3_parse_http_date(tmp);
    } else if (hdr_is(p, nlen, "content-length")) {
        copy_trimmed(tmp, sizeof(tmp), v, vlen);
        rs->content_length = strtoull(tmp, NULL, 10);
        rs->has_length = 1;
    } else if (hdr_is(p, nlen, "content-range")) {
        const char *slash = memchr(v, '/', vlen);
        if (slash && slash + 1 < v + vlen && slash[1] != '*') {
            copy_trimmed(tmp, sizeof(tmp), slash + 1, (size_t)(v + vlen - slash - 1));
            rs->total_size = strtoull(tmp, NULL, 10);
            rs->has_total = 1;
        }
    } else if (hdr_is(p, nlen, "date")) {
        copy_trimmed(rs->date, sizeof(rs->date), v, vlen);
    } else if (hdr_is(p, nlen, "x-amz-bucket-region")) {
        copy_trimmed(rs->bucket_region, sizeof(rs->bucket_region), v, vlen);
    }
    if (!x->rq->want_meta) {
        return len;
    }
    if (nlen > 11 && strncasecmp(p, "x-amz-meta-", 11) == 0) {
        mpfs_s3_meta_add(&rs->meta, p + 11, nlen - 11, v, vlen);
    } else if (hdr_is(p, nlen, "content-type") || hdr_is(p, nlen, "cache-control") ||
               hdr_is(p, nlen, "content-encoding") || hdr_is(p, nlen, "content-disposition") ||
               hdr_is(p, nlen, "content-language") || hdr_is(p, nlen, "expires")) {
        char name[32];
        snprintf(name, sizeof(name), ":%.*s", (int)nlen, p);
        mpfs_s3_meta_add(&rs->meta, name, nlen + 1, v, vlen);
    }
    return len;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    struct mpfs_s3_req *rq = x->rq;
    struct mpfs_s3_resp *rs = x->rs;
    size_t len = sz * n;

    if (x->status == 0) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    }
    if (x->status < 200 || x->status >= 300) {
        if (rs->errbody.len + len <= ERRBODY_MAX) {
            mpfs_s3_buf_add(&rs->errbody, p, len);
        }
        return len;
    }
    if (rq->dst) {
        size_t off = 0;
        if (x->status == 200 && x->skipped < rq->dst_skip) {
            uint64_t skip = rq->dst_skip - x->skipped;
            off = skip < len ? (size_t)skip : len;
            x->skipped += off;
        }
        size_t room = rq->dst_cap - rs->nread;
        size_t c = len - off < room ? len - off : room;
        memcpy((char *)rq->dst + rs->nread, p + off, c);
        rs->nread += c;
        if (off + c < len) {
            /* Only a server that ignored Range gets here: we have what we
             * asked for, stop the transfer. */
            x->overflow = 1;
            return 0;
        }
        return len;
    }
    if (rq->xml) {
        mpfs_s3_buf_add(rq->xml, p, len);
    }
    return len;
}

static size_t on_upload(char *buf, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    struct mpfs_s3_req *rq = x->rq;
    size_t want = sz * n;

    if (rq->body_fd < 0) {
        size_t left = rq->body_len - (size_t)x->up_pos;
        if (want > left) {
            want = left;
        }
        memcpy(buf, (const char *)rq->body + x->up_pos, want);
        x->up_pos += want;
        return want;
    }
    uint64_t left = rq->body_size - x->up_pos;
    if (want > left) {
        want = (size_t)left;
    }
    if (want == 0) {
        return 0;
    }
    for (;;) {
        ssize_t r = pread(rq->body_fd, buf, want, (off_t)(rq->body_off + x->up_pos));
        if (r > 0) {
            x->up_pos += (uint64_t)r;
            return (size_t)r;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        /* the file is unreadable or shorter than the size we announced */
        x->up_err = r < 0 ? -errno : -EIO;
        return CURL_READFUNC_ABORT;
    }
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    struct xfer *x = ud;
    if (origin != SEEK_SET || off < 0) {
        return CURL_SEEKFUNC_CANTSEEK;
    }
    x->up_pos = (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

/* MPFS_S3_TRACE=1: every header line in and out, for debugging a store's
 * signature or protocol quirks.  Credentials are redacted here, the one
 * place the Authorization line passes by. */
static int on_trace(CURL *e, curl_infotype type, char *data, size_t size, void *ud)
{
    if (type != CURLINFO_HEADER_OUT && type != CURLINFO_HEADER_IN) {
        return 0;
    }
    const char *dir = type == CURLINFO_HEADER_OUT ? ">" : "<";
    while (size > 0) {
        const char *nl = memchr(data, '\n', size);
        size_t len = nl ? (size_t)(nl - data) + 1 : size;
        size_t show = len;
        while (show && (data[show - 1] == '\n' || data[show - 1] == '\r')) {
            show--;
        }
        if (show && (strncasecmp(data, "authorization:", 14) == 0 ||
                     strncasecmp(data, "x-amz-security-token:", 21) == 0)) {
            const char *colon = memchr(data, ':', show);
            mpfs_info("s3 trace %s %.*s: <redacted>", dir, (int)(colon - data), data);
        } else if (show) {
            mpfs_info("s3 trace %s %.*s", dir, (int)show, data);
        }
        data += len;
        size -= len;
    }
    return 0;
}

/* --- one attempt --------------------------------------------------------- */

static uint64_t body_size(const struct mpfs_s3_req *rq)
{
    return rq->body_fd >= 0 ? rq->body_size : rq->body_len;
}

/* Append "name: value" to the arena, remembering its offset (the arena may
 * move while it grows, so nodes are linked only at the end). */
static void add_line(struct conn *c, size_t *nl, const char *name, const char *value)
{
    c->line_off[(*nl)++] = c->arena.len;
    mpfs_s3_buf_adds(&c->arena, name);
    if (value && value[0]) {
        mpfs_s3_buf_add(&c->arena, ": ", 2);
        mpfs_s3_buf_adds(&c->arena, value);
    } else if (value) {
        /* curl drops "name:" lines; "name;" sends an empty value */
        mpfs_s3_buf_add(&c->arena, ";", 1);
    } else {
        mpfs_s3_buf_add(&c->arena, ":", 1); /* remove curl's own header */
    }
    mpfs_s3_buf_add(&c->arena, "", 1); /* the NUL stays in the arena */
}

static int build_url(struct mpfs_s3 *s, struct conn *c, const struct mpfs_s3_req *rq)
{
    mpfs_s3_buf_reset(&c->uri);
    if (!rq->service_root)
        mpfs_s3_buf_adds(&c->uri, s->path_base);
    if (rq->key) {
        size_t kl = strlen(rq->key);
        mpfs_s3_buf_add(&c->uri, "/", 1);
        mpfs_s3_buf_reserve(&c->uri, 3 * kl + 1);
        ssize_t n =
            mpfs_s3_uri_encode(rq->key, kl, 1, c->uri.p + c->uri.len, c->uri.cap - c->uri.len);
        if (n < 0) {
            return (int)n;
        }
        c->uri.len += (size_t)n;
    } else if (c->uri.len == 0) {
        mpfs_s3_buf_add(&c->uri, "/", 1);
    }
    mpfs_s3_buf_reset(&c->url);
    mpfs_s3_buf_adds(&c->url, s->url_base);
    mpfs_s3_buf_add(&c->url, c->uri.p, c->uri.len);
    if (rq->query && rq->query[0]) {
        mpfs_s3_buf_add(&c->url, "?", 1);
        mpfs_s3_buf_adds(&c->url, rq->query);
    }
    return 0;
}

static void amz_now(struct mpfs_s3 *s, char out[17])
{
    int64_t ns = mpfs_wall_ns() + atomic_load(&s->skew_ns);
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Sign and set the headers; 0 or -errno. */
static int build_headers(struct mpfs_s3 *s, struct conn *c, const struct mpfs_s3_req *rq,
                         size_t *nlines)
{
    struct mpfs_s3_sig_hdr sh[MPFS_S3_MAX_HDRS + EXTRA_HDRS];
    size_t ns = 0, nl = 0;
    char date[17], sha[MPFS_S3_SHA256_HEX_LEN + 1];
    const char *payload;
    int has_ctype = 0;

    amz_now(s, date);
    if (rq->body_fd >= 0) {
        payload = MPFS_S3_UNSIGNED_PAYLOAD; /* hashing GiBs twice is not worth it */
    } else if (rq->body && rq->body_len) {
        if (mpfs_s3_sha256_hex(rq->body, rq->body_len, c->md, sha) < 0) {
            return -ENOMEM;
        }
        payload = sha;
    } else {
        payload = MPFS_S3_EMPTY_SHA256;
    }

    sh[ns++] = (struct mpfs_s3_sig_hdr){"host", s->host_hdr};
    sh[ns++] = (struct mpfs_s3_sig_hdr){"x-amz-content-sha256", payload};
    sh[ns++] = (struct mpfs_s3_sig_hdr){"x-amz-date", date};
    if (s->creds.session_token) {
        sh[ns++] = (struct mpfs_s3_sig_hdr){"x-amz-security-token", s->creds.session_token};
    }
    for (size_t i = 0; i < rq->nhdrs; i++) {
        sh[ns++] = (struct mpfs_s3_sig_hdr){rq->hdrs[i].name, rq->hdrs[i].value};
        has_ctype |= strcmp(rq->hdrs[i].name, "content-type") == 0;
    }

    mpfs_s3_buf_reset(&c->arena);
    for (size_t i = 0; i < ns; i++) {
        add_line(c, &nl, sh[i].name, sh[i].value);
    }
    if (s->creds.access_key) {
        if (memcmp(c->sk_date, date, 8) != 0) {
            mpfs_s3_sigv4_key(s->creds.secret_key, date, s->region, "s3", c->sk);
            memcpy(c->sk_date, date, 8);
            c->sk_date[8] = '\0';
        }
        struct mpfs_s3_sigv4 r = {
            .method = rq->method,
            .uri = c->uri.p,
            .query = rq->query ? rq->query : "",
            .hdrs = sh,
            .nhdrs = ns,
            .payload_hash = payload,
            .amz_date = date,
            .region = s->region,
            .service = "s3",
        };
        /* SignedHeaders lists every name: long with many xattrs */
        size_t need = 256 + strlen(s->creds.access_key) + strlen(s->region);
        for (size_t i = 0; i < ns; i++) {
            need += strlen(sh[i].name) + 1;
        }
        mpfs_s3_buf_reset(&c->auth);
        mpfs_s3_buf_reserve(&c->auth, need);
        ssize_t n = mpfs_s3_sigv4_authorization(&r, s->creds.access_key, c->sk, c->md, c->auth.p,
                                                c->auth.cap);
        if (n < 0) {
            return (int)n;
        }
        add_line(c, &nl, "authorization", c->auth.p);
    }
    add_line(c, &nl, "Expect", NULL); /* no 100-continue round trip */
    if (!has_ctype) {
        add_line(c, &nl, "Content-Type", NULL); /* nor curl's form type on POST */
    }
    for (size_t i = 0; i < nl; i++) {
        c->nodes[i].data = c->arena.p + c->line_off[i];
        c->nodes[i].next = i + 1 < nl ? &c->nodes[i + 1] : NULL;
    }
    *nlines = nl;
    return 0;
}

/* Every request states its method in full: HTTPGET resets NOBODY, UPLOAD
 * and POST (documented), CUSTOMREQUEST is cleared by hand. */
static void set_method(CURL *e, const struct mpfs_s3_req *rq)
{
    uint64_t size = body_size(rq);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->method, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    } else if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    } else if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
    }
}

/* One attempt; returns whether a retry may help.  rs->err holds the outcome. */
static int attempt(struct mpfs_s3 *s, struct conn *c, struct mpfs_s3_req *rq,
                   struct mpfs_s3_resp *rs)
{
    CURL *e = c->easy;
    struct xfer x = {.easy = e, .rq = rq, .rs = rs};
    size_t nlines;
    int retry = 0;

    resp_reset(rs);
    int rc = build_url(s, c, rq);
    if (rc == 0) {
        rc = build_headers(s, c, rq, &nlines);
    }
    if (rc < 0) {
        rs->err = rc;
        return 0;
    }

    /* The handle keeps its fixed options (conn_setup) and its receive
     * buffer across requests; only what varies is set here.  No
     * curl_easy_reset(): it would free the 512 KiB buffer every time. */
    curl_easy_setopt(e, CURLOPT_URL, c->url.p);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, &c->nodes[0]);
    if (rq->bulk) {
        /* a stalled transfer fails, a slow but moving one does not */
        long secs = s->request_timeout_ms / 1000;
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 0L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, secs > 0 ? secs : 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 0L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 0L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                         (long)(s->request_timeout_ms + s->connect_timeout_ms));
    }
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(e, CURLOPT_READDATA, &x);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, &x);
    set_method(e, rq);
    if (rq->xml) {
        mpfs_s3_buf_reset(rq->xml);
    }

    c->errbuf[0] = '\0';
    CURLcode cc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &rs->status);
    /* pretransfer > 0: connected (or reused) and the request went out, so
     * a timeout means the server sat on it, not that it was unreachable */
    curl_off_t pre = 0;
    curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &pre);
    rs->hung = cc == CURLE_OPERATION_TIMEDOUT && pre > 0 && rs->status == 0;
    if (cc == CURLE_WRITE_ERROR && x.overflow) {
        cc = CURLE_OK;
    }
    if (cc == CURLE_ABORTED_BY_CALLBACK && x.up_err) {
        rs->curl_rc = cc;
        rs->err = x.up_err;
        snprintf(rs->detail, sizeof(rs->detail), "reading the upload source: %s",
                 strerror(-x.up_err));
        rs->local = 1;
        return 0;
    }
    rs->curl_rc = cc;
    long os_errno = 0;
    if (cc != CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
        snprintf(rs->detail, sizeof(rs->detail), "%s",
                 c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
        size_t dl = strlen(rs->detail);
        while (dl && rs->detail[dl - 1] == '\n') {
            rs->detail[--dl] = '\0';
        }
        rs->err = mpfs_s3_map_error(cc, (int)os_errno, rs->status, NULL, &retry);
        return retry;
    }

    long status = rs->status;
    if (status < 200 || status >= 300) {
        mpfs_s3_xml_parse_error(rs->errbody.p, rs->errbody.len, rs->code, sizeof(rs->code),
                                rs->message, sizeof(rs->message));
    } else if (rq->xml &&
               mpfs_s3_xml_parse_error(rq->xml->p, rq->xml->len, rs->code, sizeof(rs->code),
                                       rs->message, sizeof(rs->message))) {
        /* CompleteMultipartUpload and CopyObject can fail after sending
         * 200: the error is in the body. */
        status = 400;
    }
    rs->err = mpfs_s3_map_error(CURLE_OK, 0, status, rs->code, &retry);
    return retry;
}

static uint64_t rnd_next(uint64_t *st)
{
    /* xorshift64*: jitter needs spread, not quality */
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void backoff(int attempt_no, uint64_t *rnd)
{
    uint64_t cap = (uint64_t)BACKOFF_BASE_MS << (attempt_no < 10 ? attempt_no : 10);
    if (cap > BACKOFF_CAP_MS) {
        cap = BACKOFF_CAP_MS;
    }
    uint64_t ms = rnd_next(rnd) % (cap + 1); /* full jitter */
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Failures worth a line: credentials (once per backend: every request
 * would fail the same way) and anything that is not an ordinary answer
 * (missing key, failed precondition, past-EOF range). */
static void log_outcome(struct mpfs_s3 *s, const struct mpfs_s3_req *rq,
                        const struct mpfs_s3_resp *rs, const char *url)
{
    char why[512];
    if (rs->err == 0 || rq->quiet || rs->local || rs->err == -ENOENT || rs->err == -ESTALE ||
        rs->err == -ERANGE) {
        return;
    }
    mpfs_s3_resp_describe(rs, why, sizeof(why));
    if (rs->err == -EACCES) {
        if (atomic_exchange(&s->auth_logged, 1) == 0) {
            mpfs_error("s3: %s by %s: %s (%s %s; credentials from %s)",
                       mpfs_s3_code_is_auth(rs->code) ? "credentials rejected" : "access denied",
                       s->endpoint, why, rq->method, url, s->creds.source);
        }
        return;
    }
    mpfs_warn("s3: %s %s failed after %d attempt%s: %s", rq->method, url, rs->attempts,
              rs->attempts == 1 ? "" : "s", why);
}

int mpfs_s3_http_do(struct mpfs_s3 *s, struct mpfs_s3_req *rq, struct mpfs_s3_resp *rs)
{
    struct conn *c = checkout(s);
    if (!c) {
        rs->err = -ENOMEM;
        return rs->err;
    }
    uint64_t rnd =
        (uint64_t)mpfs_now_ns() ^ ((uint64_t)(uintptr_t)rq << 17) ^ 0x9e3779b97f4a7c15ull;
    int skew_fixed = 0;
    int64_t t0 = mpfs_now_ns();

    for (int n = 0;; n++) {
        int retry = attempt(s, c, rq, rs);
        rs->attempts = n + 1;
        if (rs->err == 0) {
            break;
        }
        if (!skew_fixed && strcmp(rs->code, "RequestTimeTooSkewed") == 0 && rs->date[0]) {
            int64_t server = mpfs_s3_parse_http_date(rs->date);
            if (server > 0) {
                int64_t skew = server - mpfs_wall_ns();
                atomic_store(&s->skew_ns, skew);
                mpfs_warn("s3: local clock is %+.1f s off %s; signing with its time",
                          (double)-skew / 1e9, s->endpoint);
                skew_fixed = 1;
                n--;
                continue;
            }
        }
        if (!retry || rq->no_retry || n >= s->max_retries || (rq->hang_is_final && rs->hung)) {
            break;
        }
        char why[512];
        mpfs_s3_resp_describe(rs, why, sizeof(why));
        mpfs_debug("s3: %s %s: %s; retry %d/%d", rq->method, c->url.p, why, n + 1, s->max_retries);
        backoff(n, &rnd);
    }
    log_outcome(s, rq, rs, c->url.p);
    if (mpfs_log_level >= MPFS_LOG_DEBUG) {
        mpfs_debug("s3: %s %s -> %ld%s%s (%.1f ms, %d attempt%s)", rq->method, c->url.p, rs->status,
                   rs->code[0] ? " " : "", rs->code, (double)(mpfs_now_ns() - t0) / 1e6,
                   rs->attempts, rs->attempts == 1 ? "" : "s");
    }
    checkin(s->pool, c);
    return rs->err;
}

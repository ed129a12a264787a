/*
 * sigv4.c - see sigv4.h.
 *
 * HMAC is written out over the streaming digest (H((K^opad) || H((K^ipad)
 * || m))) so the reusable EVP_MD_CTX serves both hashing and HMAC: with
 * OpenSSL 3 the one-shot HMAC() allocates a MAC context per call.
 */
#include "backends/s3/sigv4.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#define MAX_SIGNED_HDRS 128

/* Where the canonical request goes: into a digest or into a text buffer. */
struct sink {
    EVP_MD_CTX *md;
    char *buf;
    size_t len, cap;
    int overflow;
};

static void put(struct sink *k, const char *p, size_t n)
{
    if (k->md) {
        EVP_DigestUpdate(k->md, p, n);
        return;
    }
    if (k->len + n >= k->cap) {
        k->overflow = 1;
        return;
    }
    memcpy(k->buf + k->len, p, n);
    k->len += n;
}

static void puts_(struct sink *k, const char *s)
{
    put(k, s, strlen(s));
}

/* SigV4 header value canonicalisation: trim, collapse inner space runs. */
static void put_trimmed(struct sink *k, const char *v)
{
    while (*v == ' ' || *v == '\t') {
        v++;
    }
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
        n--;
    }
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == ' ' || v[i] == '\t') {
            if (run++ == 0) {
                put(k, " ", 1);
            }
            continue;
        }
        run = 0;
        put(k, v + i, 1);
    }
}

/* Sort header indices by name; returns the count or -EINVAL. */
static int sort_hdrs(const struct mpfs_s3_sigv4 *r, size_t order[MAX_SIGNED_HDRS])
{
    if (r->nhdrs > MAX_SIGNED_HDRS) {
        return -EINVAL;
    }
    for (size_t i = 0; i < r->nhdrs; i++) {
        size_t j = i;
        while (j > 0 && strcmp(r->hdrs[order[j - 1]].name, r->hdrs[i].name) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    return (int)r->nhdrs;
}

static void put_signed_names(struct sink *k, const struct mpfs_s3_sigv4 *r, const size_t *order)
{
    for (size_t i = 0; i < r->nhdrs; i++) {
        if (i > 0) {
            put(k, ";", 1);
        }
        puts_(k, r->hdrs[order[i]].name);
    }
}

static int emit_canonical(struct sink *k, const struct mpfs_s3_sigv4 *r)
{
    size_t order[MAX_SIGNED_HDRS];
    if (sort_hdrs(r, order) < 0) {
        return -EINVAL;
    }
    puts_(k, r->method);
    put(k, "\n", 1);
    puts_(k, r->uri);
    put(k, "\n", 1);
    puts_(k, r->query ? r->query : "");
    put(k, "\n", 1);
    for (size_t i = 0; i < r->nhdrs; i++) {
        puts_(k, r->hdrs[order[i]].name);
        put(k, ":", 1);
        put_trimmed(k, r->hdrs[order[i]].value);
        put(k, "\n", 1);
    }
    put(k, "\n", 1);
    put_signed_names(k, r, order);
    put(k, "\n", 1);
    puts_(k, r->payload_hash);
    return 0;
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static int digest(EVP_MD_CTX *md, const void *a, size_t an, const void *b, size_t bn,
                  unsigned char out[32])
{
    unsigned int olen = 0;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(md, a, an) != 1 ||
        (bn && EVP_DigestUpdate(md, b, bn) != 1) || EVP_DigestFinal_ex(md, out, &olen) != 1) {
        return -ENOMEM;
    }
    return 0;
}

static int hmac(EVP_MD_CTX *md, const void *key, size_t keylen, const void *msg, size_t msglen,
                unsigned char out[32])
{
    unsigned char k[64] = {0};
    unsigned char pad[64];
    unsigned char inner[32];

    if (keylen > sizeof(k)) {
        if (digest(md, key, keylen, NULL, 0, k) < 0) {
            return -ENOMEM;
        }
    } else {
        memcpy(k, key, keylen);
    }
    for (int i = 0; i < 64; i++) {
        pad[i] = k[i] ^ 0x36;
    }
    if (digest(md, pad, sizeof(pad), msg, msglen, inner) < 0) {
        return -ENOMEM;
    }
    for (int i = 0; i < 64; i++) {
        pad[i] = k[i] ^ 0x5c;
    }
    int rc = digest(md, pad, sizeof(pad), inner, sizeof(inner), out);
    memset(k, 0, sizeof(k));
    memset(pad, 0, sizeof(pad));
    return rc;
}

void mpfs_s3_sigv4_key(const char *secret, const char *amz_date, const char *region,
                       const char *service, unsigned char key[32])
{
    char k0[256];
    unsigned char a[32], b[32];
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    int n = snprintf(k0, sizeof(k0), "AWS4%s", secret);
    if (!md || n < 0 || (size_t)n >= sizeof(k0)) {
        /* An unusable key signs nothing valid; the server answers 403,
         * which maps to a clear credentials error. */
        memset(key, 0, 32);
        EVP_MD_CTX_free(md);
        return;
    }
    hmac(md, k0, (size_t)n, amz_date, 8, a);
    hmac(md, a, 32, region, strlen(region), b);
    hmac(md, b, 32, service, strlen(service), a);
    hmac(md, a, 32, "aws4_request", 12, key);
    memset(k0, 0, sizeof(k0));
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    EVP_MD_CTX_free(md);
}

int mpfs_s3_sha256_hex(const void *data, size_t len, void *mdp,
                       char hex[MPFS_S3_SHA256_HEX_LEN + 1])
{
    EVP_MD_CTX *md = mdp ? mdp : EVP_MD_CTX_new();
    unsigned char d[32];
    int rc = md ? digest(md, data, len, NULL, 0, d) : -ENOMEM;
    if (!mdp) {
        EVP_MD_CTX_free(md);
    }
    if (rc == 0) {
        to_hex(d, 32, hex);
    }
    return rc;
}

int mpfs_s3_sigv4_sign(const struct mpfs_s3_sigv4 *r, const unsigned char key[32], void *mdp,
                       char sig[MPFS_S3_SHA256_HEX_LEN + 1])
{
    EVP_MD_CTX *md = mdp ? mdp : EVP_MD_CTX_new();
    unsigned char d[32];
    unsigned int dlen = 0;
    char crhex[MPFS_S3_SHA256_HEX_LEN + 1];
    char sts[512];
    int rc = -ENOMEM;

    if (!md) {
        return -ENOMEM;
    }
    struct sink k = {.md = md};
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        goto out_free_md;
    }
    rc = emit_canonical(&k, r);
    if (rc < 0) {
        goto out_free_md;
    }
    if (EVP_DigestFinal_ex(md, d, &dlen) != 1) {
        rc = -ENOMEM;
        goto out_free_md;
    }
    to_hex(d, 32, crhex);
    int n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s",
                     r->amz_date, r->amz_date, r->region, r->service, crhex);
    if (n < 0 || (size_t)n >= sizeof(sts)) {
        rc = -EINVAL;
        goto out_free_md;
    }
    rc = hmac(md, key, 32, sts, (size_t)n, d);
    if (rc == 0) {
        to_hex(d, 32, sig);
    }
out_free_md:
    if (!mdp) {
        EVP_MD_CTX_free(md);
    }
    return rc;
}

ssize_t mpfs_s3_sigv4_authorization(const struct mpfs_s3_sigv4 *r, const char *access_key,
                                    const unsigned char key[32], void *md, char *out, size_t outlen)
{
    char sig[MPFS_S3_SHA256_HEX_LEN + 1];
    size_t order[MAX_SIGNED_HDRS];

    int rc = mpfs_s3_sigv4_sign(r, key, md, sig);
    if (rc < 0) {
        return rc;
    }
    sort_hdrs(r, order);
    int n = snprintf(out, outlen,
                     "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request,"
                     "SignedHeaders=",
                     access_key, r->amz_date, r->region, r->service);
    if (n < 0 || (size_t)n >= outlen) {
        return -ENAMETOOLONG;
    }
    struct sink k = {.buf = out, .len = (size_t)n, .cap = outlen};
    put_signed_names(&k, r, order);
    puts_(&k, ",Signature=");
    puts_(&k, sig);
    if (k.overflow) {
        return -ENAMETOOLONG;
    }
    out[k.len] = '\0';
    return (ssize_t)k.len;
}

ssize_t mpfs_s3_sigv4_canonical(const struct mpfs_s3_sigv4 *r, char *out, size_t outlen)
{
    struct sink k = {.buf = out, .cap = outlen};
    int rc = emit_canonical(&k, r);
    if (rc < 0) {
        return rc;
    }
    if (k.overflow || outlen == 0) {
        return -ENAMETOOLONG;
    }
    out[k.len] = '\0';
    return (ssize_t)k.len;
}

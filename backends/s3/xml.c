/*
 * xml.c - see xml.h.
 */
#include "backends/s3/xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "backends/s3/meta.h"
#include "backends/s3/uri.h"

#define PARSE_OPTS (XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_HUGE)

static xmlDocPtr parse(const char *xml, size_t len)
{
    if (len == 0 || len > INT32_MAX) {
        return NULL;
    }
    return xmlReadMemory(xml, (int)len, NULL, NULL,
                         PARSE_OPTS | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static int is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* Text of an element's children, or "" (caller frees with xmlFree if non-NULL
 * and returned by xmlNodeGetContent). */
static xmlChar *text_of(const xmlNode *n)
{
    return xmlNodeGetContent((xmlNodePtr)n);
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (is(c, name)) {
            return c;
        }
    }
    return NULL;
}

static void copy_text(const xmlNode *n, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!n) {
        return;
    }
    xmlChar *t = text_of(n);
    if (t) {
        snprintf(out, outlen, "%s", (const char *)t);
        xmlFree(t);
    }
}

static void strip_quotes(char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        memmove(s, s + 1, n - 2);
        s[n - 2] = '\0';
    }
}

/* Copy key into page->last_key if it sorts after it (byte-wise). */
static void note_last(struct mpfs_s3_list_page *page, const char *key, size_t klen, int is_prefix)
{
    char tmp[sizeof(page->last_key)];
    size_t extra = is_prefix ? 4 : 0;
    if (klen + extra + 1 > sizeof(tmp)) {
        return;
    }
    memcpy(tmp, key, klen);
    if (is_prefix) {
        memcpy(tmp + klen, "\xf4\x8f\xbf\xbf", 4); /* U+10FFFF */
    }
    tmp[klen + extra] = '\0';
    if (strcmp(tmp, page->last_key) > 0) {
        memcpy(page->last_key, tmp, klen + extra + 1);
    }
}

int mpfs_s3_xml_parse_list(const char *xml, size_t len, mpfs_s3_xml_obj_fn obj,
                           mpfs_s3_xml_prefix_fn pfx, void *arg, struct mpfs_s3_list_page *page)
{
    memset(page, 0, sizeof(*page));
    xmlDocPtr doc = parse(xml, len);
    if (!doc) {
        return -EIO;
    }
    int rc = 0;
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || !is(root, "ListBucketResult")) {
        rc = -EIO;
        goto out_free_doc;
    }

    char tmp[64];
    int url = 0;
    copy_text(child(root, "EncodingType"), tmp, sizeof(tmp));
    url = strcmp(tmp, "url") == 0;
    copy_text(child(root, "IsTruncated"), tmp, sizeof(tmp));
    page->is_truncated = strcmp(tmp, "true") == 0;
    const xmlNode *tok = child(root, "NextContinuationToken");
    if (tok) {
        xmlChar *t = text_of(tok);
        if (t && strlen((const char *)t) < sizeof(page->next_token)) {
            strcpy(page->next_token, (const char *)t);
        } else if (t) {
            page->token_too_long = 1;
        }
        xmlFree(t);
    }

    for (const xmlNode *c = root->children; c && rc == 0; c = c->next) {
        if (is(c, "Contents")) {
            const xmlNode *k = child(c, "Key");
            if (!k) {
                continue;
            }
            xmlChar *key = text_of(k);
            if (!key) {
                continue;
            }
            size_t klen = strlen((const char *)key);
            if (url) {
                /* S3 form-encodes (space as '+', '+' as %2B) */
                klen = mpfs_s3_uri_decode((char *)key, klen, 1);
            }
            char etag[96], sz[32], lm[64];
            copy_text(child(c, "ETag"), etag, sizeof(etag));
            strip_quotes(etag);
            copy_text(child(c, "Size"), sz, sizeof(sz));
            copy_text(child(c, "LastModified"), lm, sizeof(lm));
            int64_t mt = mpfs_s3_parse_iso8601(lm);
            page->nkeys++;
            note_last(page, (const char *)key, klen, 0);
            if (obj) {
                rc = obj(arg, (const char *)key, klen, strtoull(sz, NULL, 10), mt < 0 ? 0 : mt,
                         etag);
            }
            xmlFree(key);
        } else if (is(c, "CommonPrefixes")) {
            const xmlNode *p = child(c, "Prefix");
            if (!p) {
                continue;
            }
            xmlChar *pre = text_of(p);
            if (!pre) {
                continue;
            }
            size_t plen = strlen((const char *)pre);
            if (url) {
                plen = mpfs_s3_uri_decode((char *)pre, plen, 1);
            }
            page->nprefixes++;
            note_last(page, (const char *)pre, plen, 1);
            if (pfx) {
                rc = pfx(arg, (const char *)pre, plen);
            }
            xmlFree(pre);
        }
    }
out_free_doc:
    xmlFreeDoc(doc);
    return rc;
}

int mpfs_s3_xml_parse_versions(const char *xml, size_t len, mpfs_s3_xml_version_fn fn, void *arg,
                               int *truncated)
{
    xmlDocPtr doc = parse(xml, len);
    if (!doc) {
        return -EIO;
    }
    int rc = 0;
    char tmp[64];
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || !is(root, "ListVersionsResult")) {
        rc = -EIO;
        goto out_free_doc;
    }
    copy_text(child(root, "EncodingType"), tmp, sizeof(tmp));
    int url = strcmp(tmp, "url") == 0;
    if (truncated) {
        copy_text(child(root, "IsTruncated"), tmp, sizeof(tmp));
        *truncated = strcmp(tmp, "true") == 0;
    }
    for (const xmlNode *c = root->children; c && rc == 0; c = c->next) {
        int marker = is(c, "DeleteMarker");
        if (!marker && !is(c, "Version")) {
            continue;
        }
        const xmlNode *k = child(c, "Key");
        xmlChar *key = k ? text_of(k) : NULL;
        if (!key) {
            continue;
        }
        size_t klen = strlen((const char *)key);
        if (url) {
            klen = mpfs_s3_uri_decode((char *)key, klen, 1);
        }
        struct mpfs_s3_version v = {.delete_marker = marker};
        char sz[32], lm[64];
        copy_text(child(c, "VersionId"), v.version_id, sizeof(v.version_id));
        copy_text(child(c, "ETag"), v.etag, sizeof(v.etag));
        strip_quotes(v.etag);
        copy_text(child(c, "IsLatest"), tmp, sizeof(tmp));
        v.is_latest = strcmp(tmp, "true") == 0;
        copy_text(child(c, "Size"), sz, sizeof(sz));
        v.size = strtoull(sz, NULL, 10);
        copy_text(child(c, "LastModified"), lm, sizeof(lm));
        int64_t mt = mpfs_s3_parse_iso8601(lm);
        v.mtime_ns = mt < 0 ? 0 : mt;
        rc = fn(arg, (const char *)key, klen, &v);
        xmlFree(key);
    }
out_free_doc:
    xmlFreeDoc(doc);
    return rc;
}

int mpfs_s3_xml_parse_error(const char *xml, size_t len, char *code, size_t codelen, char *msg,
                            size_t msglen)
{
    /* Cheap test first: this runs on every error response. */
    if (len == 0 || !memmem(xml, len < 512 ? len : 512, "<Error", 6)) {
        return 0;
    }
    xmlDocPtr doc = parse(xml, len);
    if (!doc) {
        return 0;
    }
    int found = 0;
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (root && is(root, "Error")) {
        found = 1;
        if (code) {
            copy_text(child(root, "Code"), code, codelen);
        }
        if (msg) {
            copy_text(child(root, "Message"), msg, msglen);
        }
    }
    xmlFreeDoc(doc);
    return found;
}

static const xmlNode *find(const xmlNode *n, const char *name)
{
    for (; n; n = n->next) {
        if (is(n, name)) {
            return n;
        }
        const xmlNode *r = find(n->children, name);
        if (r) {
            return r;
        }
    }
    return NULL;
}

int mpfs_s3_xml_find_text(const char *xml, size_t len, const char *name, char *out, size_t outlen)
{
    xmlDocPtr doc = parse(xml, len);
    if (!doc) {
        return -EIO;
    }
    int rc = -ENOENT;
    const xmlNode *n = find(xmlDocGetRootElement(doc), name);
    if (n) {
        xmlChar *t = text_of(n);
        size_t tl = t ? strlen((const char *)t) : 0;
        if (tl + 1 > outlen) {
            rc = -ENAMETOOLONG;
        } else {
            memcpy(out, t ? (const char *)t : "", tl + 1);
            rc = (int)tl;
        }
        xmlFree(t);
    }
    xmlFreeDoc(doc);
    return rc;
}

void mpfs_s3_xml_build_complete(struct mpfs_s3_buf *out, const char (*etags)[MPFS_VERSION_MAX],
                                uint32_t n)
{
    char line[256];
    mpfs_s3_buf_adds(out, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/"
                          "2006-03-01/\">");
    for (uint32_t i = 0; i < n; i++) {
        /* ETags are hex (plus "-N"): nothing to escape. */
        snprintf(line, sizeof(line), "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>",
                 i + 1, etags[i]);
        mpfs_s3_buf_adds(out, line);
    }
    mpfs_s3_buf_adds(out, "</CompleteMultipartUpload>");
}

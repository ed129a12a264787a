/*
 * topic.c - see topic.h.  Every call is one signed request on the shared
 * pool; the topic API takes its parameters in the query string of a POST
 * (radosgw accepts them there or in a form body; the query keeps the
 * request like every other one: sorted, encoded, signed as sent).
 */
#include "backends/s3/topic.h"

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

static struct mpfs_s3 *s3_of(struct mpfs_backend *b)
{
    return b && b->kind && strcmp(b->kind, "s3") == 0 ? mpfs_s3_of(b) : NULL;
}

const char *mpfs_s3_bucket_of(struct mpfs_backend *b)
{
    struct mpfs_s3 *s = s3_of(b);
    return s ? s->bucket : NULL;
}

const char *mpfs_s3_prefix_of(struct mpfs_backend *b)
{
    struct mpfs_s3 *s = s3_of(b);
    return s ? s->prefix : NULL;
}

static int run(struct mpfs_s3 *s, struct mpfs_s3_req *rq, struct mpfs_s3_buf *xml,
               const char *what)
{
    struct mpfs_s3_resp rs;
    mpfs_s3_resp_init(&rs);
    rq->xml = xml;
    int rc = mpfs_s3_http_do(s, rq, &rs);
    if (rc < 0) {
        char d[512];
        mpfs_s3_resp_describe(&rs, d, sizeof(d));
        mpfs_warn("%s on %s: %s", what, s->endpoint, d);
        /* a store without the API answers 400/404/405 */
        if (rs.status == 400 || rs.status == 404 || rs.status == 405 || rs.status == 501)
            rc = -EOPNOTSUPP;
    }
    mpfs_s3_resp_fini(&rs);
    return rc;
}

/* A look-up whose "not there" is an answer, not a failure: not logged,
 * and -ENOENT only for a 404 whose error code is missing (NULL: any 404);
 * any other failure (another 404 too: a proxy, a store without the API)
 * is "could not say", never -ENOENT. */
static int look_up(struct mpfs_s3 *s, struct mpfs_s3_req *rq, struct mpfs_s3_buf *xml,
                   const char *missing)
{
    struct mpfs_s3_resp rs;
    mpfs_s3_resp_init(&rs);
    rq->xml = xml;
    rq->quiet = 1;
    int rc = mpfs_s3_http_do(s, rq, &rs);
    if (rc < 0 && rs.status == 404)
        rc = !missing || strcmp(rs.code, missing) == 0 ? -ENOENT : -EIO;
    else if (rc == -ENOENT)
        rc = -EIO;
    mpfs_s3_resp_fini(&rs);
    return rc;
}

/* POST / with the SNS-style parameters p[0..n), the query in the
 * caller's buffer. */
static int topic_req(const struct mpfs_s3_qparam *p, size_t n, char *query, size_t size,
                     struct mpfs_s3_req *rq)
{
    ssize_t ql = mpfs_s3_query_build(p, n, query, size);
    if (ql < 0)
        return (int)ql;
    mpfs_s3_req_init(rq, "POST", NULL);
    rq->service_root = 1;
    rq->query = query;
    return 0;
}

static int topic_call(struct mpfs_s3 *s, const struct mpfs_s3_qparam *p, size_t n,
                      struct mpfs_s3_buf *xml, const char *what)
{
    char query[4096];
    struct mpfs_s3_req rq;
    int rc = topic_req(p, n, query, sizeof(query), &rq);
    return rc < 0 ? rc : run(s, &rq, xml, what);
}

int mpfs_s3_topic_create(struct mpfs_backend *b, const char *name,
                         const struct mpfs_s3_topic_attrs *a, char *arn, size_t arnlen)
{
    struct mpfs_s3 *s = s3_of(b);
    if (!s)
        return -EOPNOTSUPP;
    /* radosgw reads the attributes as plain parameters when they come in
     * the query (Attributes.entry.N.* only from a form body) */
    struct mpfs_s3_qparam p[8];
    size_t n = 0;
    p[n++] = (struct mpfs_s3_qparam){"Action", "CreateTopic"};
    p[n++] = (struct mpfs_s3_qparam){"Name", name};
    if (a->push_endpoint)
        p[n++] = (struct mpfs_s3_qparam){"push-endpoint", a->push_endpoint};
    if (a->amqp_exchange)
        p[n++] = (struct mpfs_s3_qparam){"amqp-exchange", a->amqp_exchange};
    if (a->amqp_ack_level)
        p[n++] = (struct mpfs_s3_qparam){"amqp-ack-level", a->amqp_ack_level};
    p[n++] = (struct mpfs_s3_qparam){"persistent", a->persistent ? "true" : "false"};
    struct mpfs_s3_buf xml = {0};
    int rc = topic_call(s, p, n, &xml, "CreateTopic");
    if (rc == 0) {
        int l = mpfs_s3_xml_find_text(xml.p ? xml.p : "", xml.len, "TopicArn", arn, arnlen);
        rc = l > 0 ? 0 : -EPROTO;
    }
    mpfs_s3_buf_free(&xml);
    return rc;
}

int mpfs_s3_topic_delete(struct mpfs_backend *b, const char *arn)
{
    struct mpfs_s3 *s = s3_of(b);
    if (!s)
        return -EOPNOTSUPP;
    struct mpfs_s3_qparam p[] = {{"Action", "DeleteTopic"}, {"TopicArn", arn}};
    struct mpfs_s3_buf xml = {0};
    int rc = topic_call(s, p, 2, &xml, "DeleteTopic");
    mpfs_s3_buf_free(&xml);
    return rc;
}

int mpfs_s3_topic_parse_endpoint(const char *xml, size_t xlen, char *endpoint, size_t len)
{
    int l = mpfs_s3_xml_find_text(xml, xlen, "EndpointAddress", endpoint, len);
    if (l != -ENOENT)
        return l < 0 ? l : 0;
    /* a topic made without push-endpoint: pushes nowhere */
    char arn[512];
    l = mpfs_s3_xml_find_text(xml, xlen, "TopicArn", arn, sizeof(arn));
    if (l < 0 && l != -ENAMETOOLONG)
        return -EIO;
    if (len)
        endpoint[0] = '\0';
    return 0;
}

int mpfs_s3_topic_endpoint(struct mpfs_backend *b, const char *arn, char *endpoint, size_t len)
{
    struct mpfs_s3 *s = s3_of(b);
    if (!s)
        return -EOPNOTSUPP;
    struct mpfs_s3_qparam p[] = {{"Action", "GetTopic"}, {"TopicArn", arn}};
    char query[1024];
    struct mpfs_s3_req rq;
    int rc = topic_req(p, 2, query, sizeof(query), &rq);
    if (rc < 0)
        return rc;
    struct mpfs_s3_buf xml = {0};
    /* radosgw's code for a topic it does not have (16.2.15, checked) */
    rc = look_up(s, &rq, &xml, "NoSuchEntity");
    if (rc == 0)
        rc = mpfs_s3_topic_parse_endpoint(xml.p ? xml.p : "", xml.len, endpoint, len);
    mpfs_s3_buf_free(&xml);
    return rc;
}

/* A push endpoint's scheme ("http://", its length) and where the rest
 * starts once any user information ("user:pass@" before the first '/')
 * is skipped. */
static void endpoint_parts(const char *a, const char **host, size_t *scheme_len)
{
    const char *sep = strstr(a, "://");
    const char *rest = sep ? sep + 3 : a;
    *scheme_len = (size_t)(rest - a);
    const char *at = strchr(rest, '@');
    const char *slash = strchr(rest, '/');
    *host = at && (!slash || at < slash) ? at + 1 : rest;
}

int mpfs_s3_push_endpoint_same(const char *a, const char *b)
{
    const char *ha, *hb;
    size_t sa, sb;
    endpoint_parts(a, &ha, &sa);
    endpoint_parts(b, &hb, &sb);
    return sa == sb && strncmp(a, b, sa) == 0 && strcmp(ha, hb) == 0;
}

static void xml_escaped(struct mpfs_s3_buf *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': mpfs_s3_buf_adds(out, "&amp;"); break;
        case '<': mpfs_s3_buf_adds(out, "&lt;"); break;
        case '>': mpfs_s3_buf_adds(out, "&gt;"); break;
        case '"': mpfs_s3_buf_adds(out, "&quot;"); break;
        case '\'': mpfs_s3_buf_adds(out, "&apos;"); break;
        default: mpfs_s3_buf_add(out, s, 1);
        }
    }
}

int mpfs_s3_notification_put(struct mpfs_backend *b, const char *id, const char *arn)
{
    struct mpfs_s3 *s = s3_of(b);
    if (!s)
        return -EOPNOTSUPP;
    struct mpfs_s3_buf body = {0};
    mpfs_s3_buf_adds(&body, "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
                            "2006-03-01/\"><TopicConfiguration><Id>");
    xml_escaped(&body, id);
    mpfs_s3_buf_adds(&body, "</Id><Topic>");
    xml_escaped(&body, arn);
    mpfs_s3_buf_adds(&body, "</Topic><Event>s3:ObjectCreated:*</Event>"
                            "<Event>s3:ObjectRemoved:*</Event>");
    if (s->prefix[0]) {
        mpfs_s3_buf_adds(&body, "<Filter><S3Key><FilterRule><Name>prefix</Name><Value>");
        xml_escaped(&body, s->prefix);
        mpfs_s3_buf_adds(&body, "</Value></FilterRule></S3Key></Filter>");
    }
    mpfs_s3_buf_adds(&body, "</TopicConfiguration></NotificationConfiguration>");
    struct mpfs_s3_req rq;
    mpfs_s3_req_init(&rq, "PUT", NULL);
    rq.query = "notification=";
    rq.body = body.p;
    rq.body_len = body.len;
    mpfs_s3_req_hdr(&rq, "content-type", "application/xml");
    struct mpfs_s3_buf xml = {0};
    int rc = run(s, &rq, &xml, "PutBucketNotificationConfiguration");
    mpfs_s3_buf_free(&xml);
    mpfs_s3_buf_free(&body);
    return rc;
}

/* A request on the bucket's notification configuration `id` (radosgw's
 * ?notification=ID extension), its query in the caller's buffer. */
static int notification_req(struct mpfs_backend *b, const char *method, const char *id,
                            char *query, size_t size, struct mpfs_s3_req *rq,
                            struct mpfs_s3 **s)
{
    *s = s3_of(b);
    if (!*s)
        return -EOPNOTSUPP;
    struct mpfs_s3_qparam p[] = {{"notification", id}};
    ssize_t ql = mpfs_s3_query_build(p, 1, query, size);
    if (ql < 0)
        return (int)ql;
    mpfs_s3_req_init(rq, method, NULL);
    rq->query = query;
    return 0;
}

int mpfs_s3_notification_delete(struct mpfs_backend *b, const char *id)
{
    struct mpfs_s3 *s;
    struct mpfs_s3_req rq;
    char query[512];
    int rc = notification_req(b, "DELETE", id, query, sizeof(query), &rq, &s);
    if (rc < 0)
        return rc;
    struct mpfs_s3_buf xml = {0};
    rc = run(s, &rq, &xml, "DeleteBucketNotification");
    mpfs_s3_buf_free(&xml);
    return rc;
}

int mpfs_s3_notification_exists(struct mpfs_backend *b, const char *id)
{
    struct mpfs_s3 *s;
    struct mpfs_s3_req rq;
    char query[512];
    int rc = notification_req(b, "GET", id, query, sizeof(query), &rq, &s);
    if (rc < 0)
        return rc;
    struct mpfs_s3_buf xml = {0};
    /* radosgw answers 404 NoSuchKey for an id it does not have; a store
     * that ignores the id lists every configuration: look for ours */
    rc = look_up(s, &rq, &xml, NULL);
    if (rc == 0) {
        char want[256];
        snprintf(want, sizeof(want), "<Id>%s</Id>", id);
        if (!xml.p || !memmem(xml.p, xml.len, want, strlen(want)))
            rc = -ENOENT;
    }
    mpfs_s3_buf_free(&xml);
    return rc;
}

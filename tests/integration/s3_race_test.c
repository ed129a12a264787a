/*
 * s3_race_test.c - racing conditional PUTs on a versioned bucket (issue 6,
 * defect 11): does the store let two If-Match PUTs of the same base both
 * win, and does the version-chain check (overwritten()) find every
 * acknowledged version that got replaced?
 *
 *   s3_race_test [TRIALS [BYTES]] (default 200 trials of 64-byte PUTs;
 *                                 MPFS_S3_ENDPOINT and AWS_*
 *                                 from `scripts/stack.sh env`, inside the
 *                                 stack's netns)
 *
 * It makes its own bucket "mpfs-race-<pid>-<time>" with versioning on
 * (never touching the shared test bucket's settings) and removes every
 * version and the bucket at the end.  Each trial: PUT a base version, then
 * two threads PUT different bytes with If-Match: base at the same moment.
 * An atomic store lets one win and answers 412 to the other; radosgw 16.2
 * sometimes acknowledges both (the later one replaced the earlier, which
 * its writer believes committed).  Every acknowledged writer then asks
 * overwritten(); the test requires:
 *   - in every trial with two acknowledged PUTs, one of them reports the
 *     other's version as overwritten (and copy_version() keeps its bytes);
 *   - no false alarm where only one PUT was acknowledged.
 * The counts are printed for docs/BACKENDS.md.  Exit 77 without a store.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/s3/http.h"
#include "backends/s3/internal.h"
#include "backends/s3/s3.h"
#include "backends/s3/uri.h"
#include "backends/s3/xml.h"
#include "base/log.h"
#include "base/util.h"
#include "tests/integration/itest.h"

static int g_failed;
/* PUT body size (argv[2], default 64 bytes): a larger body keeps the
 * store busier between its If-Match check and its write */
static size_t g_body_size = 64;

/* Bucket-level requests the backend does not make: with curl, signed the
 * same way (SigV4, UNSIGNED-PAYLOAD), inside the same netns. */
static int curl_bucket(const char *endpoint, const char *bucket, const char *method,
                       const char *query, const char *body)
{
    char bodyfile[] = "/tmp/mpfs-race-XXXXXX";
    int fd = -1;
    if (body) {
        fd = mkstemp(bodyfile);
        if (fd < 0 || write(fd, body, strlen(body)) != (ssize_t)strlen(body)) {
            return -1;
        }
        close(fd);
    }
    const char *region = getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-east-1";
    char *cmd = mpfs_xasprintf(
        "curl -sf -o /dev/null --max-time 30 --aws-sigv4 'aws:amz:%s:s3' --user \"$AWS_ACCESS_KEY_ID:"
        "$AWS_SECRET_ACCESS_KEY\" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X %s %s%s%s "
        "'%s/%s%s%s'",
        region, method, body ? "-T '" : "", body ? bodyfile : "", body ? "'" : "", endpoint,
        bucket, query ? "?" : "", query ? query : "");
    int rc = system(cmd);
    free(cmd);
    if (body) {
        unlink(bodyfile);
    }
    return rc == 0 ? 0 : -1;
}

struct racer {
    struct mpfs_backend *b;
    pthread_barrier_t *go;
    const char *path;
    const char *base;
    char *body; /* g_body_size bytes, distinct per writer */
    int rc;
    struct mpfs_attr out;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct mpfs_put_opts o = {.if_match = r->base};
    pthread_barrier_wait(r->go);
    r->rc = mpfs_backend_put_buf(r->b, r->path, r->body, g_body_size, &o, &r->out);
    return NULL;
}

/* Delete every version and delete marker, page by page. */
struct purge {
    struct mpfs_s3 *s;
    int n;
};

static int purge_one(void *arg, const char *key, size_t klen, const struct mpfs_s3_version *v)
{
    struct purge *p = arg;
    char k[MPFS_S3_KEY_MAX], query[600];
    struct mpfs_s3_qparam qp[] = {{"versionId", v->version_id}};
    snprintf(k, sizeof(k), "%.*s", (int)klen, key);
    if (mpfs_s3_query_build(qp, 1, query, sizeof(query)) < 0) {
        return 0;
    }
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    mpfs_s3_req_init(&rq, "DELETE", k);
    rq.query = query;
    mpfs_s3_resp_init(&rs);
    if (mpfs_s3_http_do(p->s, &rq, &rs) == 0) {
        p->n++;
    }
    mpfs_s3_resp_fini(&rs);
    return 0;
}

static int purge_bucket(struct mpfs_s3 *s)
{
    struct purge p = {s, 0};
    for (int round = 0; round < 50; round++) {
        struct mpfs_s3_buf xml = {0};
        struct mpfs_s3_req rq;
        struct mpfs_s3_resp rs;
        mpfs_s3_req_init(&rq, "GET", NULL);
        rq.query = "versions=";
        rq.xml = &xml;
        mpfs_s3_resp_init(&rs);
        int rc = mpfs_s3_http_do(s, &rq, &rs);
        mpfs_s3_resp_fini(&rs);
        int before = p.n, truncated = 0;
        if (rc == 0) {
            rc = mpfs_s3_xml_parse_versions(xml.p, xml.len, purge_one, &p, &truncated);
        }
        mpfs_s3_buf_free(&xml);
        if (rc < 0) {
            return rc;
        }
        if (p.n == before) {
            return 0; /* nothing left */
        }
    }
    return -EAGAIN;
}

struct tally {
    int one, both, none, detected, kept, undetected, false_alarms, errors, unsupported;
};

static void run_trials(struct mpfs_backend *b, int trials, struct tally *t)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < trials; i++) {
        char path[64], base_body[64];
        struct mpfs_attr base;
        snprintf(path, sizeof(path), "race/%d", i);
        snprintf(base_body, sizeof(base_body), "base %d", i);
        if (mpfs_backend_put_buf(b, path, base_body, strlen(base_body), NULL, &base) != 0) {
            t->errors++;
            continue;
        }
        /* the base was a create with nothing before it: no alarm */
        char none[256];
        int o0 = mpfs_backend_overwritten(b, path, base.version, NULL, none, sizeof(none));
        if (o0 == 1) {
            t->false_alarms++;
        }
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        struct racer r[2];
        pthread_t th[2];
        for (int k = 0; k < 2; k++) {
            r[k] = (struct racer){.b = b, .go = &go, .path = path, .base = base.version};
            r[k].body = mpfs_xmalloc(g_body_size);
            memset(r[k].body, 'a' + k, g_body_size);
            snprintf(r[k].body, g_body_size, "writer %c of trial %d", 'A' + k, i);
            pthread_create(&th[k], NULL, race, &r[k]);
        }
        for (int k = 0; k < 2; k++) {
            pthread_join(th[k], NULL);
        }
        pthread_barrier_destroy(&go);
        int ok = (r[0].rc == 0) + (r[1].rc == 0);
        for (int k = 0; k < 2; k++) {
            if (r[k].rc != 0 && r[k].rc != -ESTALE) {
                t->errors++;
                fprintf(stderr, "  trial %d writer %c: %s\n", i, 'A' + k, strerror(-r[k].rc));
            }
        }
        int flagged = 0;
        for (int k = 0; k < 2; k++) {
            if (r[k].rc != 0) {
                continue;
            }
            char victim[256];
            int o = mpfs_backend_overwritten(b, path, r[k].out.version, base.version, victim,
                                             sizeof(victim));
            if (o == -EOPNOTSUPP) {
                t->unsupported++;
                continue;
            }
            if (o < 0) {
                t->errors++;
                fprintf(stderr, "  trial %d overwritten(): %s\n", i, strerror(-o));
                continue;
            }
            if (o == 1) {
                flagged++;
                /* keep the victim: it must hold the other writer's bytes */
                char cpath[80];
                char *buf = mpfs_xmalloc(g_body_size + 1);
                snprintf(cpath, sizeof(cpath), "%s.conflict", path);
                if (mpfs_backend_copy_version(b, path, victim, cpath) == 0) {
                    ssize_t n = mpfs_backend_read(b, cpath, NULL, buf, g_body_size + 1, 0);
                    if (n == (ssize_t)g_body_size && memcmp(buf, r[1 - k].body, g_body_size) == 0) {
                        t->kept++;
                    }
                }
                free(buf);
            }
        }
        free(r[0].body);
        free(r[1].body);
        if (ok == 2) {
            t->both++;
            if (flagged >= 1) {
                t->detected++;
                t->false_alarms += flagged - 1; /* only the later one was replaced */
            } else {
                t->undetected++;
            }
        } else if (ok == 1) {
            t->one++;
            t->false_alarms += flagged;
        } else {
            t->none++;
        }
    }
}

/* Does CopyObject honour If-None-Match: * for its destination?  (If it
 * did, a multipart upload to a scratch key plus a conditional copy would
 * be an atomic multipart commit.)  Prints and returns 1 if honoured. */
static int copy_honours_if_none_match(struct mpfs_backend *b)
{
    struct mpfs_s3 *s = (struct mpfs_s3 *)b;
    char cs[200];
    if (mpfs_backend_put_buf(b, "copy/src", "s", 1, NULL, NULL) != 0 ||
        mpfs_backend_put_buf(b, "copy/dst", "d", 1, NULL, NULL) != 0) {
        return -1;
    }
    snprintf(cs, sizeof(cs), "/%s/copy/src", s->bucket);
    struct mpfs_s3_buf xml = {0};
    struct mpfs_s3_req rq;
    struct mpfs_s3_resp rs;
    mpfs_s3_req_init(&rq, "PUT", "copy/dst");
    rq.xml = &xml;
    rq.quiet = 1;
    rq.no_retry = 1;
    mpfs_s3_req_hdr(&rq, "x-amz-copy-source", cs);
    mpfs_s3_req_hdr(&rq, "if-none-match", "*");
    mpfs_s3_resp_init(&rs);
    int rc = mpfs_s3_http_do(s, &rq, &rs);
    long status = rs.status;
    mpfs_s3_resp_fini(&rs);
    mpfs_s3_buf_free(&xml);
    printf("s3_race_test: CopyObject onto an existing key with If-None-Match: * -> HTTP %ld "
           "(%s)\n",
           status, rc == -ESTALE ? "honoured" : "ignored");
    return rc == -ESTALE;
}

/* A bucket of our own, versioned or not; NULL on failure. */
static struct mpfs_backend *make_bucket(const char *endpoint, const char *bucket, int versioned)
{
    if (curl_bucket(endpoint, bucket, "PUT", NULL, NULL) != 0 ||
        (versioned &&
         curl_bucket(endpoint, bucket, "PUT", "versioning=",
                     "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                     "<Status>Enabled</Status></VersioningConfiguration>") != 0)) {
        fprintf(stderr, "s3_race_test: cannot create bucket %s\n", bucket);
        return NULL;
    }
    struct mpfs_s3_config cfg;
    struct mpfs_backend *b = NULL;
    char err[512];
    mpfs_s3_config_defaults(&cfg);
    cfg.endpoint = endpoint;
    cfg.bucket = bucket;
    if (mpfs_s3_open(&cfg, &b, err, sizeof(err)) < 0) {
        fprintf(stderr, "s3_race_test: open %s: %s\n", bucket, err);
        return NULL;
    }
    return b;
}

static void drop_bucket(struct mpfs_backend *b, const char *endpoint, const char *bucket)
{
    int rc = purge_bucket((struct mpfs_s3 *)b);
    CHECK(rc == 0, "purge: %s", strerror(-rc));
    mpfs_backend_free(b);
    CHECK(curl_bucket(endpoint, bucket, "DELETE", NULL, NULL) == 0, "delete bucket %s", bucket);
}

static void report(const char *what, struct mpfs_backend *b, int trials, const struct tally *t)
{
    char caps[256];
    mpfs_backend_caps_str(b->caps, caps, sizeof(caps));
    printf("s3_race_test: %s bucket (probed caps %s): %d trials of two If-Match PUTs of %zu "
           "bytes on one base: %d one winner, %d both acknowledged, %d none; of the double wins %d detected "
           "by the version chain (%d kept as conflict copies), %d undetected; %d false alarms; "
           "%d errors\n",
           what, caps, trials, g_body_size, t->one, t->both, t->none, t->detected, t->kept, t->undetected,
           t->false_alarms, t->errors);
}

int main(int argc, char **argv)
{
    const char *endpoint = getenv("MPFS_S3_ENDPOINT");
    if (!endpoint || !getenv("AWS_ACCESS_KEY_ID")) {
        fprintf(stderr, "s3_race_test: store variables not set; skipped\n");
        return 77;
    }
    int trials = argc > 1 ? atoi(argv[1]) : 200;
    if (argc > 2 && atol(argv[2]) >= 32) {
        g_body_size = (size_t)atol(argv[2]);
    }
    if (getenv("MPFS_LOG")) {
        mpfs_log_set_level_name(getenv("MPFS_LOG"));
    } else {
        mpfs_log_set_level_name("error"); /* the warnings are what we count */
    }
    char plain[64], versioned[80];
    snprintf(plain, sizeof(plain), "mpfs-race-%d-%lld", (int)getpid(), (long long)time(NULL));
    snprintf(versioned, sizeof(versioned), "%s-v", plain);
    struct tally t;

    /* Without versioning: the store's own If-Match decides; a double win
     * is a lost write nothing can detect afterwards. */
    struct mpfs_backend *b = make_bucket(endpoint, plain, 0);
    if (!b) {
        return 1;
    }
    copy_honours_if_none_match(b);
    run_trials(b, trials, &t);
    report("unversioned", b, trials, &t);
    CHECK(!(b->caps & MPFS_CAP_VERSION_CHAIN), "version chain claimed without versioning");
    CHECK(t.detected == 0 && t.false_alarms == 0, "detections without versioning");
    drop_bucket(b, endpoint, plain);

    /* With versioning: every double win must be found and its victim kept. */
    b = make_bucket(endpoint, versioned, 1);
    if (!b) {
        return 1;
    }
    CHECK(b->caps & MPFS_CAP_VERSION_CHAIN, "versioning not probed on");
    run_trials(b, trials, &t);
    report("versioned", b, trials, &t);
    CHECK(t.undetected == 0, "%d overwritten acknowledged versions went undetected",
          t.undetected);
    CHECK(t.kept == t.detected, "%d of %d overwritten versions not kept", t.detected - t.kept,
          t.detected);
    CHECK(t.false_alarms == 0, "%d false alarms", t.false_alarms);
    CHECK(t.unsupported == 0, "overwritten() unsupported %d times", t.unsupported);
    drop_bucket(b, endpoint, versioned);
    return g_failed ? 1 : 0;
}

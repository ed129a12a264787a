/*
 * test_s3_http.c - the request layer against a scripted HTTP server on
 * 127.0.0.1 (a thread in this process answering from a list of canned
 * responses): what is retried and what is not, transport failures, the
 * clock-skew correction, a server that ignores Range, error bodies that
 * arrive with status 200, and that requests are signed; and how the
 * notification watchdog's look-ups (topic.c) tell "missing" from "the
 * store could not say".  No S3 semantics here; tests/integration/
 * s3_backend_test.c covers those on real stores.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/s3/http.h"
#include "backends/s3/internal.h"
#include "backends/s3/s3.h"
#include "backends/s3/topic.h"
#include "base/log.h"
#include "base/util.h"

/* the scripts below list only the fields a step needs */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct step {
    int status;
    const char *headers; /* extra header lines, each ending in \r\n */
    const char *body;
    int cut_after; /* > 0: announce the whole body, send this many bytes, close */
    int hang;      /* accept the request, never answer */
};

#define MAX_STEPS 32

static struct {
    int lfd, port;
    pthread_t thread;
    struct step steps[MAX_STEPS];
    int nsteps, next;
    char reqs[MAX_STEPS][4096]; /* request heads as received */
    atomic_int stop;
} srv;

static const char list_ok[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                              "</ListBucketResult>";

static pthread_mutex_t srv_lock = PTHREAD_MUTEX_INITIALIZER; /* script state */

static int read_request(int fd, char *head, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) == 0) {
            if (srv.stop) {
                return -1;
            }
            continue;
        }
        ssize_t r = read(fd, head + n, 1);
        if (r <= 0) {
            return -1;
        }
        n++;
        head[n] = '\0';
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0) {
            break;
        }
    }
    /* swallow a request body */
    const char *cl = strcasestr(head, "content-length:");
    long len = cl ? strtol(cl + 15, NULL, 10) : 0;
    char tmp[4096];
    while (len > 0) {
        ssize_t r = read(fd, tmp, len < (long)sizeof(tmp) ? (size_t)len : sizeof(tmp));
        if (r <= 0) {
            return -1;
        }
        len -= r;
    }
    return 0;
}

/* One connection: answer requests from the script until it closes.
 * Connections get their own thread, so a client that keeps an idle
 * keep-alive connection (or a failed test that leaked one) blocks nobody. */

static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char head[4096];
    while (!srv.stop && read_request(fd, head, sizeof(head)) == 0) {
        pthread_mutex_lock(&srv_lock);
        int i = srv.next < srv.nsteps ? srv.next : -1;
        if (i >= 0) {
            snprintf(srv.reqs[i], sizeof(srv.reqs[i]), "%s", head);
            srv.next++;
        }
        struct step st = i >= 0 ? srv.steps[i] : (struct step){.status = 599};
        pthread_mutex_unlock(&srv_lock);
        if (st.hang) {
            while (!srv.stop) {
                usleep(20000);
            }
            break;
        }
        const char *body = st.body ? st.body : "";
        int is_head = strncmp(head, "HEAD ", 5) == 0;
        char out[8192];
        int n =
            snprintf(out, sizeof(out), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n%s",
                     st.status, strlen(body), st.headers ? st.headers : "", is_head ? "" : body);
        if (st.cut_after > 0) {
            n -= (int)strlen(body) - st.cut_after;
        }
        if (write(fd, out, (size_t)n) != n || st.cut_after > 0) {
            break;
        }
    }
    close(fd);
    return NULL;
}

static void *serve(void *arg)
{
    while (!srv.stop) {
        struct pollfd p = {.fd = srv.lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        int fd = accept(srv.lfd, NULL, NULL);
        pthread_t t;
        if (fd >= 0 && pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd) == 0) {
            pthread_detach(t);
        } else if (fd >= 0) {
            close(fd);
        }
    }
    return NULL;
}

static void script(const struct step *steps, int n)
{
    pthread_mutex_lock(&srv_lock);
    memcpy(srv.steps, steps, sizeof(*steps) * (size_t)n);
    srv.nsteps = n;
    srv.next = 0;
    memset(srv.reqs, 0, sizeof(srv.reqs));
    pthread_mutex_unlock(&srv_lock);
}

/* How many scripted answers were given. */
static int served(void)
{
    pthread_mutex_lock(&srv_lock);
    int n = srv.next;
    pthread_mutex_unlock(&srv_lock);
    return n;
}

/* A copy of the head of the i-th scripted request. */
static const char *req(int i)
{
    static char copy[4096];
    pthread_mutex_lock(&srv_lock);
    memcpy(copy, srv.reqs[i], sizeof(copy));
    pthread_mutex_unlock(&srv_lock);
    return copy;
}

static int setup(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(srv.lfd, 16) < 0) {
        return -1;
    }
    getsockname(srv.lfd, (struct sockaddr *)&a, &al);
    srv.port = ntohs(a.sin_port);
    srv.stop = 0;
    pthread_create(&srv.thread, NULL, serve, NULL);
    setenv("AWS_ACCESS_KEY_ID", "AKTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-never-logged", 1);
    unsetenv("AWS_SESSION_TOKEN");
    return 0;
}

static int teardown(void **state)
{
    srv.stop = 1;
    pthread_join(srv.thread, NULL);
    close(srv.lfd);
    return 0;
}

/* Open against the scripted server: the first step must answer the
 * bucket check. */
static struct mpfs_backend *open_srv(int retries, int timeout_ms)
{
    struct mpfs_s3_config c;
    struct mpfs_backend *b = NULL;
    char ep[64], err[256];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", srv.port);
    mpfs_s3_config_defaults(&c);
    c.endpoint = ep;
    c.bucket = "bkt";
    c.max_retries = retries;
    c.request_timeout_ms = timeout_ms;
    c.connect_timeout_ms = timeout_ms;
    c.no_probe = 1;
    int rc = mpfs_s3_open(&c, &b, err, sizeof(err));
    if (rc < 0) {
        fail_msg("open: %s", err);
    }
    return b;
}

static void test_signed_and_ranged(void **state)
{
    struct step s[] = {
        {200, NULL, list_ok},
        {206, "Content-Range: bytes 2-5/10\r\nETag: \"e1\"\r\n", "cdef"},
    };
    script(s, 2);
    struct mpfs_backend *b = open_srv(0, 2000);
    char buf[8];
    assert_int_equal(mpfs_backend_read(b, "dir/a b", "e1", buf, 4, 2), 4);
    assert_memory_equal(buf, "cdef", 4);
    const char *r = req(1);
    assert_non_null(strstr(r, "GET /bkt/dir/a%20b HTTP/1.1"));
    assert_non_null(strstr(r, "range: bytes=2-5"));
    assert_non_null(strstr(r, "if-match: \"e1\""));
    assert_non_null(strstr(r, "authorization: AWS4-HMAC-SHA256 Credential=AKTEST/"));
    assert_non_null(strstr(r, "SignedHeaders=host;if-match;range;x-amz-content-sha256;"
                              "x-amz-date"));
    assert_non_null(strstr(r, "x-amz-content-sha256: e3b0c442"));
    assert_null(strstr(r, "Expect:"));
    assert_null(strstr(r, "secret-never-logged"));
    /* the bucket check is a ListObjectsV2 with a sorted, encoded query */
    assert_non_null(strstr(req(0), "GET /bkt?list-type=2&max-keys=1 HTTP/1.1"));
    mpfs_backend_free(b);
}

static void test_range_ignored(void **state)
{
    /* a server that answers 200 with the whole object */
    struct step s[] = {{200, NULL, list_ok}, {200, NULL, "0123456789"}};
    script(s, 2);
    struct mpfs_backend *b = open_srv(0, 2000);
    char buf[4];
    assert_int_equal(mpfs_backend_read(b, "k", NULL, buf, 3, 4), 3);
    assert_memory_equal(buf, "456", 3);
    mpfs_backend_free(b);
}

static void test_retry_then_success(void **state)
{
    const char *slow = "<Error><Code>SlowDown</Code><Message>x</Message></Error>";
    struct step s[] = {
        {200, NULL, list_ok},
        {503, NULL, slow},
        {500, NULL, "<Error><Code>InternalError</Code></Error>"},
        {206, "Content-Range: bytes 0-2/3\r\n", "abc", 0},
    };
    script(s, 4);
    struct mpfs_backend *b = open_srv(4, 2000);
    char buf[4];
    assert_int_equal(mpfs_backend_read(b, "k", NULL, buf, 3, 0), 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(served(), 4);
    mpfs_backend_free(b);
}

static void test_retries_bounded(void **state)
{
    struct step s[] = {{200, NULL, list_ok}, {500}, {502}, {503}, {200, NULL, "never"}};
    script(s, 5);
    struct mpfs_backend *b = open_srv(2, 2000);
    char buf[8];
    assert_int_equal(mpfs_backend_read(b, "k", NULL, buf, 5, 0), -EAGAIN); /* the last: 503 */
    assert_int_equal(served(), 4); /* 1 + max_retries attempts */
    mpfs_backend_free(b);
}

static void test_no_retry_on_4xx(void **state)
{
    struct step s[] = {
        {200, NULL, list_ok},
        {404, NULL, "<Error><Code>NoSuchKey</Code></Error>"},
        {403, NULL, "<Error><Code>AccessDenied</Code></Error>"},
        {412},
        {400, NULL, "<Error><Code>InvalidArgument</Code></Error>"},
        {429},
        {206, "Content-Range: bytes 0-0/1\r\n", "z"},
    };
    script(s, 7);
    struct mpfs_backend *b = open_srv(4, 2000);
    char buf[4];
    assert_int_equal(mpfs_backend_read(b, "k", NULL, buf, 1, 0), -ENOENT);
    assert_int_equal(mpfs_backend_read(b, "k", NULL, buf, 1, 0), -EACCES);
    assert_int_equal(mpfs_backend_read(b, "k", "v", buf, 1, 0), -ESTALE);
    assert_int_equal(mpfs_backend_read(b, "k", NULL, buf, 1, 0), -EINVAL);
    assert_int_equal(served(), 5); /* one attempt each */
    /* 429 is throttling: retried */
    assert_int_equal(mpfs_backend_read(b, "k", NULL, buf, 1, 0), 1);
    assert_int_equal(served(), 7);
    mpfs_backend_free(b);
}

static void test_cut_connection(void **state)
{
    struct step s[] = {
        {200, NULL, list_ok},
        {206, "Content-Range: bytes 0-9/10\r\n", "0123456789", 4},
        {206, "Content-Range: bytes 0-9/10\r\n", "0123456789"},
    };
    script(s, 3);
    struct mpfs_backend *b = open_srv(2, 2000);
    char buf[10];
    assert_int_equal(mpfs_backend_read(b, "k", NULL, buf, 10, 0), 10);
    assert_memory_equal(buf, "0123456789", 10);
    assert_int_equal(served(), 3);
    mpfs_backend_free(b);
}

static void test_timeout(void **state)
{
    struct step s[] = {{200, NULL, list_ok}, {0, NULL, NULL, 0, 1}};
    script(s, 2);
    struct mpfs_backend *b = open_srv(0, 1000);
    struct mpfs_attr a;
    int64_t t0 = mpfs_now_ns();
    assert_int_equal(mpfs_backend_stat(b, "k", &a), -ETIMEDOUT);
    double ms = (double)(mpfs_now_ns() - t0) / 1e6;
    assert_true(ms >= 900 && ms < 4000);
    mpfs_backend_free(b);
}

static void test_clock_skew(void **state)
{
    /* The server's clock is a day ahead.  The first request of a mount is
     * a listing, whose error body names the problem: one retry signed
     * with the server's time, and every later request (a HEAD, whose 403
     * has no body) is signed with it too. */
    char date_hdr[128];
    time_t later = time(NULL) + 86400;
    struct tm tm;
    gmtime_r(&later, &tm);
    strftime(date_hdr, sizeof(date_hdr), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    struct step s[] = {
        {403, date_hdr, "<Error><Code>RequestTimeTooSkewed</Code></Error>"},
        {200, NULL, list_ok},
        {200, "ETag: \"e\"\r\n", NULL},
    };
    script(s, 3);
    struct mpfs_backend *b = open_srv(0, 2000);
    struct mpfs_attr a;
    assert_int_equal(mpfs_backend_stat(b, "k", &a), 0);
    char want[32];
    strftime(want, sizeof(want), "x-amz-date: %Y%m%d", &tm);
    assert_non_null(strstr(req(1), want));
    assert_non_null(strstr(req(2), want));
    mpfs_backend_free(b);
}

static void test_error_in_200(void **state)
{
    /* CopyObject may fail after sending 200: the error is in the body */
    struct step s[] = {
        {200, NULL, list_ok},
        {200, NULL, "<Error><Code>AccessDenied</Code><Message>no</Message></Error>"},
        {200, NULL, "<CopyObjectResult><ETag>&quot;n&quot;</ETag></CopyObjectResult>"},
    };
    script(s, 3);
    struct mpfs_backend *b = open_srv(0, 2000);
    struct mpfs_s3 *s3 = mpfs_s3_of(b);
    char etag[MPFS_VERSION_MAX];
    assert_int_equal(mpfs_s3_copy(s3, "a", "b", 1, "e", NULL, 0, etag, sizeof(etag)), -EACCES);
    assert_non_null(strstr(req(1), "x-amz-copy-source: /bkt/a"));
    assert_non_null(strstr(req(1), "x-amz-copy-source-if-match: \"e\""));
    assert_int_equal(mpfs_s3_copy(s3, "a", "b", 1, "e", NULL, 0, etag, sizeof(etag)), 0);
    assert_string_equal(etag, "n");
    mpfs_backend_free(b);
}

static void test_refused(void **state)
{
    /* a port nobody listens on: refused at once, retried, bounded */
    struct mpfs_s3_config c;
    struct mpfs_backend *b = NULL;
    char err[256];
    mpfs_s3_config_defaults(&c);
    c.endpoint = "http://127.0.0.1:1";
    c.bucket = "bkt";
    c.max_retries = 1;
    int64_t t0 = mpfs_now_ns();
    assert_int_equal(mpfs_s3_open(&c, &b, err, sizeof(err)), -ECONNREFUSED);
    assert_true(mpfs_now_ns() - t0 < 2000000000LL);
    assert_non_null(strstr(err, "cannot reach S3 endpoint http://127.0.0.1:1"));
    assert_non_null(strstr(err, "Connection refused"));
    assert_null(b);
}

/* Only radosgw's answer for a missing topic or configuration is "gone";
 * an error, another 404 or a document that is not a topic is "could not
 * say" (the watchdog then keeps trusting the channel). */
static void test_watchdog_lookups(void **state)
{
    static const char topic_doc[] =
        "<GetTopicResponse><GetTopicResult><Topic><Name>t</Name><EndPoint>"
        "<EndpointAddress>http://127.0.0.1:4242</EndpointAddress></EndPoint>"
        "<TopicArn>arn:aws:sns:default::t</TopicArn></Topic></GetTopicResult>"
        "</GetTopicResponse>";
    struct step s[] = {
        {200, NULL, list_ok},
        {200, NULL, topic_doc},
        {404, NULL, "<Error><Code>NoSuchEntity</Code></Error>"},
        {404, NULL, "<Error><Code>NoSuchBucket</Code></Error>"},
        {503, NULL, "<Error><Code>ServiceUnavailable</Code></Error>"},
        {403, NULL, "<Error><Code>AccessDenied</Code></Error>"},
        {200, NULL, "<ListBucketResult></ListBucketResult>"},
        {200, NULL, "<NotificationConfiguration><TopicConfiguration><Id>t</Id>"
                    "</TopicConfiguration></NotificationConfiguration>"},
        {404, NULL, "<Error><Code>NoSuchKey</Code></Error>"},
        {200, NULL, "<NotificationConfiguration><TopicConfiguration><Id>other</Id>"
                    "</TopicConfiguration></NotificationConfiguration>"},
        {503, NULL, "<Error><Code>ServiceUnavailable</Code></Error>"},
    };
    script(s, 11);
    struct mpfs_backend *b = open_srv(0, 2000);
    char ep[64];
    assert_int_equal(mpfs_s3_topic_endpoint(b, "arn:aws:sns:default::t", ep, sizeof(ep)), 0);
    assert_string_equal(ep, "http://127.0.0.1:4242");
    /* POST / with the parameters in the query, sorted and encoded, and the
     * empty body's hash signed (radosgw refuses UNSIGNED-PAYLOAD there) */
    assert_non_null(strstr(req(1), "POST /?Action=GetTopic&TopicArn=arn%3Aaws%3Asns%3Adefault"
                                   "%3A%3At HTTP/1.1"));
    assert_non_null(strstr(req(1), "x-amz-content-sha256: e3b0c442"));
    assert_int_equal(mpfs_s3_topic_endpoint(b, "a", ep, sizeof(ep)), -ENOENT);
    for (int i = 0; i < 4; i++) {
        int rc = mpfs_s3_topic_endpoint(b, "a", ep, sizeof(ep));
        assert_true(rc < 0 && rc != -ENOENT);
    }
    assert_int_equal(mpfs_s3_notification_exists(b, "t"), 0);
    assert_non_null(strstr(req(7), "GET /bkt?notification=t HTTP/1.1"));
    assert_int_equal(mpfs_s3_notification_exists(b, "t"), -ENOENT);
    assert_int_equal(mpfs_s3_notification_exists(b, "t"), -ENOENT); /* not listed */
    int rc = mpfs_s3_notification_exists(b, "t");
    assert_true(rc < 0 && rc != -ENOENT);
    assert_int_equal(served(), 11);
    mpfs_backend_free(b);
}

int main(void)
{
    mpfs_log_level = -1; /* the expected failures need no log lines */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_and_ranged),
        cmocka_unit_test(test_range_ignored),
        cmocka_unit_test(test_retry_then_success),
        cmocka_unit_test(test_retries_bounded),
        cmocka_unit_test(test_no_retry_on_4xx),
        cmocka_unit_test(test_cut_connection),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_clock_skew),
        cmocka_unit_test(test_error_in_200),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_watchdog_lookups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

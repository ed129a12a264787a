/*
 * test_notify.c - bucket notifications consumed (fs/notify_event.c,
 * fs/remote_event.c, fs/notify.c) over the in-memory backends: parsing
 * (malformed messages, encoded and odd keys), ordering (duplicates,
 * reordering, stale events, delete then create), entries with local data
 * left alone, the index, cache and kernel told, the policy while the
 * channel is healthy, and the HTTP listener's answers.
 */
#include "tests/fs/fs_fixture.h"

#include "backends/mem.h"
#include "base/util.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/notify.h"
#include "fs/notify_event.h"
#include "fs/remote_event.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* ------------------------------------------------------------ parsing */

struct got {
    int n;
    struct mpfs_s3_event ev[8];
};

static int collect(void *arg, const struct mpfs_s3_event *ev)
{
    struct got *g = arg;
    if (g->n < 8)
        g->ev[g->n] = *ev;
    g->n++;
    return 0;
}

/* A record as radosgw 16.2 sends it (captured from the test store). */
#define RGW_REC(name, key, etag, size, seq)                                                   \
    "{\"eventVersion\":\"2.2\",\"eventSource\":\"ceph:s3\",\"awsRegion\":\"\","              \
    "\"eventTime\":\"2026-12-06T09:31:04.486843Z\",\"eventName\":\"" name "\","              \
    "\"userIdentity\":{\"principalId\":\"test\"},\"s3\":{\"s3SchemaVersion\":\"1.0\","       \
    "\"configurationId\":\"probe\",\"bucket\":{\"name\":\"testbucket\",\"ownerIdentity\":"   \
    "{\"principalId\":\"test\"},\"arn\":\"arn:aws:s3:::testbucket\",\"id\":\"x.1\"},"         \
    "\"object\":{\"key\":\"" key "\",\"size\":" size ",\"eTag\":\"" etag "\","                \
    "\"versionId\":\"\",\"sequencer\":\"" seq "\",\"metadata\":[{\"key\":\"x-amz-date\","     \
    "\"val\":\"20261206T093104Z\"}],\"tags\":[]}},\"eventId\":\"1.2.3\",\"opaqueData\":\"\"}"

static void test_parse_rgw(void **state)
{
    (void)state;
    const char *msg = "{\"Records\":[" RGW_REC("ObjectCreated:Put", "probe-nt/a b+c%.txt",
                                                "5d41402abc4b2a76b9719d911017c592", "5",
                                                "582B156BFE43301D") "," RGW_REC("ObjectRemoved:Delete",
                                                "probe-nt/a b+c%.txt", "5d41402abc4b2a76b9719d911017c592",
                                                "5", "582B156B40F9C71D") "]}";
    struct got g = {0};
    size_t skipped = 9;
    assert_int_equal(mpfs_s3_events_parse(msg, strlen(msg), collect, &g, &skipped), 0);
    assert_int_equal(skipped, 0);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.ev[0].kind, MPFS_EVENT_CREATED);
    assert_int_equal(g.ev[1].kind, MPFS_EVENT_REMOVED);
    /* radosgw sends keys raw: '+' and '%' are themselves */
    assert_string_equal(g.ev[0].key, "probe-nt/a b+c%.txt");
    assert_string_equal(g.ev[0].bucket, "testbucket");
    assert_string_equal(g.ev[0].etag, "5d41402abc4b2a76b9719d911017c592");
    assert_int_equal(g.ev[0].size, 5);
    assert_true(g.ev[0].time_ns > 1796549464LL * 1000000000LL);
    /* the second was sent later: its sequencer must order after the first
     * although its raw hex sorts before it (utime_t little-endian dump) */
    assert_true(strcmp(g.ev[1].seq, g.ev[0].seq) > 0);
    assert_string_equal(g.ev[0].seq, "000000006B152B58000000001D3043FE");
}

static void test_parse_aws_encoded_key(void **state)
{
    (void)state;
    const char *msg =
        "{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectCreated:Put\","
        "\"eventTime\":\"1970-01-01T00:00:01.5Z\",\"s3\":{\"object\":{\"key\":"
        "\"dir/a+b%2Bc%25d%E2%82%AC\",\"size\":12,\"eTag\":\"\\\"abc\\\"\",\"sequencer\":"
        "\"0055AED6DCD90281E5\"}}}]}";
    struct got g = {0};
    assert_int_equal(mpfs_s3_events_parse(msg, strlen(msg), collect, &g, NULL), 0);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.ev[0].key, "dir/a b+c%d\xE2\x82\xAC");
    assert_string_equal(g.ev[0].etag, "abc"); /* quotes are not part of the token */
    assert_int_equal(g.ev[0].time_ns, 1500000000LL);
    assert_string_equal(g.ev[0].seq, "000000000000000055AED6DCD90281E5");
}

static void test_parse_escapes_and_odd_keys(void **state)
{
    (void)state;
    /* \u escapes (a surrogate pair too), a key with a newline; a record
     * whose key holds NUL, one without key, one of another kind, one
     * with a string size, and the AWS test event: all skipped */
    const char *msg =
        "{\"Records\":["
        "{\"eventSource\":\"ceph:s3\",\"eventName\":\"ObjectCreated:Copy\",\"s3\":{\"object\":"
        "{\"key\":\"\\u00e9t\\u00e9/\\ud83d\\ude00\\nx\\\\y\\/z\",\"size\":0}}},"
        "{\"eventSource\":\"ceph:s3\",\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"object\":"
        "{\"key\":\"a\\u0000b\",\"size\":1}}},"
        "{\"eventSource\":\"ceph:s3\",\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"object\":"
        "{\"size\":1}}},"
        "{\"eventSource\":\"ceph:s3\",\"eventName\":\"ObjectTagging:Put\",\"s3\":{\"object\":"
        "{\"key\":\"t\"}}},"
        "{\"eventSource\":\"ceph:s3\",\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"object\":"
        "{\"key\":\"s\",\"size\":\"12\"}}},"
        "7, null, [true, false]"
        "], \"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\"}";
    struct got g = {0};
    size_t skipped = 0;
    assert_int_equal(mpfs_s3_events_parse(msg, strlen(msg), collect, &g, &skipped), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(skipped, 4);
    assert_string_equal(g.ev[0].key, "\xC3\xA9t\xC3\xA9/\xF0\x9F\x98\x80\nx\\y/z");
    assert_int_equal(g.ev[0].time_ns, 0);
    assert_string_equal(g.ev[0].seq, "");
}

static void test_parse_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "[]",
        "{",
        "{\"Records\":[}",
        "{\"Records\":[{\"s3\":{\"object\":{\"key\":\"a\"}}}]} x",
        "{\"Records\":[{\"s3\":{\"object\":{\"key\":\"a\tb\"}}}]}",   /* raw control char */
        "{\"Records\":[{\"s3\":{\"object\":{\"key\":\"\\x\"}}}]}",    /* bad escape */
        "{\"Records\":[{\"s3\":{\"object\":{\"key\":\"\\ud83d\"}}}]}", /* lone surrogate */
        "{\"Records\":[{\"s3\":{\"object\":{\"key\":\"\\u12\"}}}]}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":-}",
        "{\"a\":tru}",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "{\"Records\":[{\"s3\":{\"object\":{\"key\":\"abc",
    };
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(bad); i++) {
        struct got g = {0};
        assert_int_equal(mpfs_s3_events_parse(bad[i], strlen(bad[i]), collect, &g, NULL),
                         -EINVAL);
        assert_int_equal(g.n, 0);
    }
    /* nesting past the limit */
    char deep[200];
    size_t o = 0;
    deep[o++] = '{';
    memcpy(deep + o, "\"a\":", 4);
    o += 4;
    for (int i = 0; i < 40; i++)
        deep[o++] = '[';
    for (int i = 0; i < 40; i++)
        deep[o++] = ']';
    deep[o++] = '}';
    assert_int_equal(mpfs_s3_events_parse(deep, o, collect, NULL, NULL), -EINVAL);
    /* a key longer than S3 allows is no key */
    char *longk = mpfs_xasprintf("{\"Records\":[{\"eventSource\":\"ceph:s3\",\"eventName\":"
                                 "\"ObjectCreated:Put\",\"s3\":{\"object\":{\"key\":\"%01100d\"}}}]}",
                                 0);
    struct got g = {0};
    size_t skipped = 0;
    assert_int_equal(mpfs_s3_events_parse(longk, strlen(longk), collect, &g, &skipped), 0);
    assert_int_equal(g.n, 0);
    assert_int_equal(skipped, 1);
    free(longk);
    assert_int_equal(mpfs_s3_events_parse("{}", MPFS_EVENT_DOC_MAX + 1, collect, NULL, NULL),
                     -E2BIG);
}

/* ------------------------------------------------------------ applying */

struct kern {
    int inodes, entries;
};

static void k_inode(void *ctx, uint64_t ino)
{
    (void)ino;
    ((struct kern *)ctx)->inodes++;
}

static void k_entry(void *ctx, uint64_t parent, const char *name)
{
    (void)parent;
    (void)name;
    ((struct kern *)ctx)->entries++;
}

struct env {
    struct fixture *f;
    struct mpfs_notify *n;
    struct kern k;
};

static struct env *env_new(const char *opts)
{
    struct env *e = mpfs_xcalloc(1, sizeof(*e));
    e->f = fixture_new("s3", opts);
    e->f->fs->notify = (struct mpfs_notifier){.ctx = &e->k, .inval_inode = k_inode,
                                             .inval_entry = k_entry};
    char err[256];
    assert_int_equal(mpfs_notify_new(e->f->fs, "http://127.0.0.1:0", &e->n, err, sizeof(err)),
                     0);
    e->f->fs->notify_ch = e->n; /* freed with the fs */
    return e;
}

static void env_free(struct env *e)
{
    fixture_free(e->f);
    free(e);
}

static uint64_t stats_of(struct env *e)
{
    return atomic_load(&e->f->fs->s3->counters.calls[MPFS_BOP_STAT]);
}

static void backend_version(struct env *e, const char *path, char *v, size_t vl, uint64_t *size)
{
    struct mpfs_attr a;
    assert_int_equal(mpfs_backend_stat(e->f->s3, path, &a), 0);
    snprintf(v, vl, "%s", a.version);
    *size = a.size;
}

/* One ceph-style record; seq "" for none.  when: event time (ns). */
static void deliver(struct env *e, const char *kind, const char *key, const char *etag,
                    uint64_t size, int64_t when, const char *seq)
{
    time_t t = (time_t)(when / 1000000000LL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[64];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    char *msg = mpfs_xasprintf(
        "{\"Records\":[{\"eventSource\":\"ceph:s3\",\"eventName\":\"%s\",\"eventTime\":"
        "\"%s.%09lldZ\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"%s\","
        "\"size\":%llu,\"eTag\":\"%s\",\"sequencer\":\"%s\"}}}]}",
        kind, ts, (long long)(when % 1000000000LL), key, (unsigned long long)size, etag, seq);
    assert_int_equal(mpfs_notify_deliver(e->n, msg, strlen(msg)), 0);
    free(msg);
}

static struct mpfs_notify_stats st(struct env *e)
{
    struct mpfs_notify_stats s;
    mpfs_notify_get_stats(e->n, &s);
    return s;
}

static int64_t later(void)
{
    return mpfs_wall_ns() + 5 * MPFS_REMOTE_SKEW_NS;
}

/* An overwrite by another client: after the event, stat shows the new
 * size and reads the new bytes, without a HEAD, and the kernel is told. */
static void test_overwrite_applied(void **state)
{
    (void)state;
    struct env *e = env_new(NULL);
    assert_int_equal(mpfs_mem_put_raw(e->f->s3, "d/f", "old", 3), 0);
    struct mpfs_entry en;
    assert_int_equal(fx_lookup_path(e->f, "d/f", &en), 0);
    char buf[32];
    assert_int_equal(fx_read_file(e->f, "d/f", buf, sizeof(buf)), 3); /* cached: old */
    assert_int_equal(mpfs_mem_put_raw(e->f->s3, "d/f", "newer!", 6), 0);
    char v[MPFS_VERSION_MAX];
    uint64_t size;
    backend_version(e, "d/f", v, sizeof(v), &size);
    uint64_t heads = stats_of(e);
    deliver(e, "ObjectCreated:Put", "d/f", v, size, later(), "");
    assert_int_equal(st(e).applied, 1);
    assert_true(e->k.inodes >= 1);
    struct stat sb;
    double to;
    assert_int_equal(mpfs_vfs_getattr(e->f->fs, en.ino, &sb, &to), 0);
    assert_int_equal(sb.st_size, 6);
    assert_int_equal(stats_of(e), heads); /* no HEAD: the event said it */
    assert_int_equal(fx_read_file(e->f, "d/f", buf, sizeof(buf)), 6);
    assert_memory_equal(buf, "newer!", 6);
    env_free(e);
}

/* The same event twice, an older one after a newer one, one for the
 * version the index has: ignored (sequencer) or a no-op. */
static void test_duplicate_and_reordered(void **state)
{
    (void)state;
    struct env *e = env_new(NULL);
    assert_int_equal(fx_write_file(e->f, "f", "v1", 2), 0);
    struct mpfs_entry en;
    assert_int_equal(fx_lookup_path(e->f, "f", &en), 0);
    char v1[MPFS_VERSION_MAX], v2[MPFS_VERSION_MAX];
    uint64_t s1, s2;
    backend_version(e, "f", v1, sizeof(v1), &s1);
    assert_int_equal(mpfs_mem_put_raw(e->f->s3, "f", "v2-longer", 9), 0);
    backend_version(e, "f", v2, sizeof(v2), &s2);
    int64_t t = later();
    /* v1's event (seq 1) arrives after v2's (seq 2), then v2's again */
    deliver(e, "ObjectCreated:Put", "f", v2, s2, t + 1000, "0000000000000002");
    deliver(e, "ObjectCreated:Put", "f", v1, s1, t, "0000000000000001");
    deliver(e, "ObjectCreated:Put", "f", v2, s2, t + 1000, "0000000000000002");
    struct mpfs_notify_stats s = st(e);
    assert_int_equal(s.applied, 1);
    assert_int_equal(s.stale, 2);
    /* without sequencers: an event for the version the entry has is a no-op */
    deliver(e, "ObjectCreated:Put", "f", v2, s2, t + 2000, "");
    assert_int_equal(st(e).same, 1);
    struct stat sb;
    double to;
    assert_int_equal(mpfs_vfs_getattr(e->f->fs, en.ino, &sb, &to), 0);
    assert_int_equal(sb.st_size, 9);
    env_free(e);
}

/* An event older than the entry's confirmation, without a sequencer,
 * cannot be ordered: it is not applied, the entry is revalidated. */
static void test_stale_event_revalidates(void **state)
{
    (void)state;
    struct env *e = env_new(NULL);
    assert_int_equal(fx_write_file(e->f, "g", "current", 7), 0);
    struct mpfs_entry en;
    assert_int_equal(fx_lookup_path(e->f, "g", &en), 0);
    int64_t old = mpfs_wall_ns() - 60LL * 1000000000LL;
    deliver(e, "ObjectCreated:Put", "g", "0123456789abcdef0123456789abcdef", 2, old, "");
    assert_int_equal(st(e).applied, 0);
    assert_int_equal(st(e).doubted, 1);
    uint64_t heads = stats_of(e);
    struct stat sb;
    double to;
    assert_int_equal(mpfs_vfs_getattr(e->f->fs, en.ino, &sb, &to), 0);
    assert_int_equal(sb.st_size, 7); /* the store's truth, asked again */
    assert_int_equal(stats_of(e), heads + 1);
    /* a stale delete is not believed either */
    deliver(e, "ObjectRemoved:Delete", "g", "", 0, old, "");
    assert_int_equal(fx_lookup_path(e->f, "g", &en), 0);
    env_free(e);
}

/* A delete then a re-create by another client: the name goes, then
 * comes back; neither needs a listing of the directory. */
static void test_delete_then_create(void **state)
{
    (void)state;
    struct env *e = env_new("neg_ttl=60,dir_ttl=60,dir_stale=3600");
    assert_int_equal(mpfs_mem_put_raw(e->f->s3, "x/h", "data", 4), 0);
    struct mpfs_entry en;
    assert_int_equal(fx_lookup_path(e->f, "x/h", &en), 0);
    char *l = fx_list(e->f, "x");
    free(l);
    assert_int_equal(mpfs_mem_remove_raw(e->f->s3, "x/h"), 0);
    int64_t t = later();
    deliver(e, "ObjectRemoved:Delete", "x/h", "", 0, t, "00000001");
    assert_int_equal(st(e).applied, 1);
    uint64_t heads = stats_of(e);
    assert_int_equal(fx_lookup_path(e->f, "x/h", &en), -ENOENT);
    char *ls = fx_list(e->f, "x");
    assert_string_equal(ls, "");
    free(ls);
    (void)heads;
    assert_int_equal(mpfs_mem_put_raw(e->f->s3, "x/h", "again!", 6), 0);
    char v[MPFS_VERSION_MAX];
    uint64_t size;
    backend_version(e, "x/h", v, sizeof(v), &size);
    deliver(e, "ObjectCreated:Put", "x/h", v, size, t + 1000, "00000002");
    assert_int_equal(st(e).expired, 1); /* a new name: the listing above it expired */
    assert_int_equal(fx_lookup_path(e->f, "x/h", &en), 0);
    assert_int_equal(en.st.st_size, 6);
    ls = fx_list(e->f, "x");
    assert_string_equal(ls, "h");
    free(ls);
    /* a new name in a directory this node never saw: its parent's listing */
    deliver(e, "ObjectCreated:Put", "never/seen/k", "e", 1, t + 2000, "");
    assert_int_equal(st(e).expired, 2);
    env_free(e);
}

/* Local unuploaded data is never touched by an event. */
static void test_dirty_entry_untouched(void **state)
{
    (void)state;
    struct env *e = env_new(NULL);
    assert_int_equal(fx_write_file(e->f, "w", "base", 4), 0);
    struct mpfs_entry en;
    assert_int_equal(fx_lookup_path(e->f, "w", &en), 0);
    struct mpfs_handle *h = NULL;
    int keep;
    assert_int_equal(mpfs_vfs_open(e->f->fs, en.ino, O_RDWR, &h, &keep), 0);
    assert_int_equal(mpfs_vfs_write(e->f->fs, h, "mine, longer", 12, 0), 12);
    assert_int_equal(mpfs_mem_put_raw(e->f->s3, "w", "theirs", 6), 0);
    char v[MPFS_VERSION_MAX];
    uint64_t size;
    backend_version(e, "w", v, sizeof(v), &size);
    deliver(e, "ObjectCreated:Put", "w", v, size, later(), "");
    deliver(e, "ObjectRemoved:Delete", "w", v, size, later() + 1, "");
    assert_int_equal(st(e).busy, 2);
    assert_int_equal(st(e).applied, 0);
    struct stat sb;
    double to;
    assert_int_equal(mpfs_vfs_getattr(e->f->fs, en.ino, &sb, &to), 0);
    assert_int_equal(sb.st_size, 12); /* still the local edit */
    /* a file created here and not uploaded yet either */
    struct mpfs_entry ce;
    struct mpfs_handle *ch = NULL;
    struct mpfs_caller c = {0};
    assert_int_equal(mpfs_vfs_create(e->f->fs, MPFS_ROOT_INO, "fresh", 0644, O_RDWR, &c, &ce, &ch),
                     0);
    deliver(e, "ObjectRemoved:Delete", "fresh", "", 0, later(), "");
    assert_int_equal(st(e).busy, 3);
    mpfs_vfs_release(e->f->fs, ch);
    assert_int_equal(mpfs_vfs_flush(e->f->fs, h), 0);
    mpfs_vfs_release(e->f->fs, h);
    env_free(e);
}

/* A malformed message changes nothing and is counted; keys outside the
 * mount and messages for nothing indexed are harmless. */
static void test_malformed_message_counted(void **state)
{
    (void)state;
    struct env *e = env_new(NULL);
    assert_int_equal(fx_write_file(e->f, "m", "m", 1), 0);
    const char *bad = "{\"Records\":[{\"eventName\":\"ObjectRemoved:Delete\",\"s3\":{\"object\":"
                      "{\"key\":\"m\"}}}";
    assert_int_equal(mpfs_notify_deliver(e->n, bad, strlen(bad)), -EINVAL);
    assert_int_equal(st(e).malformed, 1);
    assert_int_equal(st(e).events, 0);
    struct mpfs_entry en;
    assert_int_equal(fx_lookup_path(e->f, "m", &en), 0);
    deliver(e, "ObjectRemoved:Delete", "not/here", "", 0, later(), "");
    assert_int_equal(st(e).outside, 1);
    env_free(e);
}

/* Healthy channel: entries are trusted for notify_ttl instead of
 * meta_ttl; down: the mount polls as before. */
static void test_policy_follows_health(void **state)
{
    (void)state;
    struct env *e = env_new("meta_ttl=0.05,notify_ttl=300,notify_setup=none");
    assert_int_equal(fx_write_file(e->f, "p", "p", 1), 0);
    struct mpfs_entry en;
    assert_int_equal(fx_lookup_path(e->f, "p", &en), 0);
    usleep(100000);
    struct stat sb;
    double to;
    uint64_t heads = stats_of(e);
    assert_int_equal(mpfs_vfs_getattr(e->f->fs, en.ino, &sb, &to), 0);
    assert_int_equal(stats_of(e), heads + 1); /* down: polled */
    mpfs_notify_set_state(e->n, 1, "test");
    assert_true(mpfs_notify_healthy(e->n));
    usleep(100000);
    /* confirmed before the channel came up: a change meanwhile sent no
     * event we got, so it is not trusted longer */
    heads = stats_of(e);
    assert_int_equal(mpfs_vfs_getattr(e->f->fs, en.ino, &sb, &to), 0);
    assert_int_equal(stats_of(e), heads + 1);
    usleep(100000);
    heads = stats_of(e);
    assert_int_equal(mpfs_vfs_getattr(e->f->fs, en.ino, &sb, &to), 0);
    assert_int_equal(stats_of(e), heads); /* confirmed while up: trusted */
    /* down and up again: the outage may have lost events */
    mpfs_notify_set_state(e->n, 0, "test");
    mpfs_notify_set_state(e->n, 1, "test");
    usleep(100000);
    assert_int_equal(mpfs_vfs_getattr(e->f->fs, en.ino, &sb, &to), 0);
    assert_int_equal(stats_of(e), heads + 1);
    heads = stats_of(e);
    mpfs_notify_set_state(e->n, 0, "test");
    usleep(100000);
    assert_int_equal(mpfs_vfs_getattr(e->f->fs, en.ino, &sb, &to), 0);
    assert_int_equal(stats_of(e), heads + 1);
    env_free(e);
}

/* ---------------------------------------------------------- HTTP wire */

static int http_post(int port, const char *req, size_t len, char *resp, size_t rlen)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(mpfs_send_all(fd, req, len), 0);
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    ssize_t r;
    while (got < rlen - 1 && (r = recv(fd, resp + got, rlen - 1 - got, 0)) > 0)
        got += (size_t)r;
    resp[got] = '\0';
    close(fd);
    return atoi(resp + 9); /* "HTTP/1.1 200" */
}

static void test_http_listener(void **state)
{
    (void)state;
    struct env *e = env_new("notify_setup=none");
    mpfs_notify_start(e->n);
    int port = mpfs_notify_http_port(e->n);
    assert_true(port > 0);
    assert_true(mpfs_notify_healthy(e->n));
    char resp[512];
    const char *body = "{\"Records\":[]}";
    char *ok = mpfs_xasprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    assert_int_equal(http_post(port, ok, strlen(ok), resp, sizeof(resp)), 200);
    free(ok);
    const char *get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(http_post(port, get, strlen(get), resp, sizeof(resp)), 400);
    const char *nolen = "POST / HTTP/1.1\r\nHost: x\r\n\r\n{}";
    assert_int_equal(http_post(port, nolen, strlen(nolen), resp, sizeof(resp)), 400);
    const char *huge = "POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n";
    assert_int_equal(http_post(port, huge, strlen(huge), resp, sizeof(resp)), 413);
    const char *junk = "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n{x}";
    assert_int_equal(http_post(port, junk, strlen(junk), resp, sizeof(resp)), 400);
    /* headers without an end */
    char *big = mpfs_xcalloc(1, 9000);
    memset(big, 'a', 8999);
    memcpy(big, "POST / HTTP/1.1\r\nX: ", 20);
    assert_int_equal(http_post(port, big, 8999, resp, sizeof(resp)), 400);
    free(big);
    struct mpfs_notify_stats s = st(e);
    assert_int_equal(s.messages, 2);
    assert_int_equal(s.malformed, 1);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_rgw),
        cmocka_unit_test(test_parse_aws_encoded_key),
        cmocka_unit_test(test_parse_escapes_and_odd_keys),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_overwrite_applied),
        cmocka_unit_test(test_duplicate_and_reordered),
        cmocka_unit_test(test_stale_event_revalidates),
        cmocka_unit_test(test_delete_then_create),
        cmocka_unit_test(test_dirty_entry_untouched),
        cmocka_unit_test(test_malformed_message_counted),
        cmocka_unit_test(test_policy_follows_health),
        cmocka_unit_test(test_http_listener),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * notify.c - see notify.h.  The channel's common part (matching, ordering,
 * applying, health, counters, the store's setup) and the HTTP transport;
 * the AMQP transport is fs/notify_amqp.c, the only file that sees
 * librabbitmq.
 *
 * HTTP: one thread accepts on the configured address (loopback in the
 * intended use: radosgw on the same host or network namespace) and serves
 * one request per connection (HTTP/1.0 style, "Connection: close"): a POST
 * whose body is one S3 event message.  Headers are bounded (8 KiB), the
 * body by MPFS_EVENT_DOC_MAX and a Content-Length is required; a client
 * that stalls for 2 s, or has not sent its whole request within 5 s, is
 * dropped.  Anything else is answered 400 (413 for
 * an oversized body) before any work is done.  The answer is sent after
 * the events are applied: radosgw's non-persistent topics wait for it,
 * which keeps "the writer's PUT returned" and "the mount knows" close.
 *
 * Setup (notify_setup=auto): a topic named after this mount (a hash of
 * host, cache directory, bucket and prefix: stable, so a daemon that died
 * without cleaning up is replaced by its next mount rather than leaving a
 * second topic) pushing to the URL, and a notification configuration of
 * the same name on the bucket for the mount's prefix.  Removed at unmount
 * for HTTP; for AMQP the topic is named after the exchange and bucket and
 * shared by every mount of the fleet, so it is left in place.
 *
 * Watchdog (notify_setup=auto, notify_check > 0): radosgw simply stops
 * sending when the bucket notification is removed (an operator, a script
 * resetting the bucket), and a silent channel looks like a quiet bucket.
 * Every notify_check seconds a thread looks the configuration up, then the
 * topic (GetTopic) and its push endpoint.  A missing configuration, a
 * missing topic or a topic that pushes elsewhere is "setup gone": the
 * channel is unhealthy (entries fall back to meta_ttl) until both are
 * created again, and entries confirmed before are not trusted afterwards
 * (up_since moves).  An answer that says nothing (a network error, a 5xx)
 * keeps the channel trusted: no flapping.  A setup that failed at mount is
 * retried the same way.  On radosgw 16.2 the configuration holds its own
 * copy of the topic, so a deleted non-persistent topic still gets events
 * pushed (re-created anyway: cheap, and what a store that looks topics up
 * per event needs); a deleted persistent topic takes its queue along and
 * every write under the prefix fails until the topic is back.  The
 * watchdog thread alone touches the store's setup after the start; arn and
 * push are written only by setup_store(), on that thread or before it
 * starts.
 *
 * Ordering: a table of the last sequencer seen per key (4096 slots,
 * direct-mapped by key hash; a collision forgets the older key, which then
 * relies on remote_event.c's time rule alone).  An event whose sequencer is
 * not above the key's last one is a duplicate or came late: ignored.
 */
#include "fs/notify.h"

#include "backends/s3/topic.h"
#include "base/log.h"
#include "base/util.h"
#include "fs/fs_state.h"
#include "fs/notify_event.h"
#include "fs/notify_int.h"
#include "fs/remote_event.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SEQ_SLOTS 4096
#define HDR_MAX 8192

enum { T_HTTP = 1, T_AMQP = 2 };

struct seq_slot {
    uint64_t h;
    char seq[MPFS_EVENT_SEQ_LEN + 1];
};

struct mpfs_notify {
    struct mpfs_fs *fs;
    int transport;
    char *url;
    int setup_auto;
    const char *bucket; /* NULL: any (not an S3 side) */
    const char *prefix; /* "" or "data/set1/" */
    size_t plen;

    /* HTTP */
    struct sockaddr_in addr;
    int lfd;
    int stop_pipe[2];
    pthread_t thread;
    int started;

    /* AMQP (notify_amqp.c) */
    struct mpfs_notify_amqp *amqp;

    char topic[80];
    char arn[512];
    char push[256];         /* what setup_store() was given, for the watchdog */
    char exchange[256];
    atomic_int setup_done;

    /* watchdog */
    pthread_t watch;
    int watching;
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_cond;
    int watch_stop;
    atomic_int state;

    atomic_uint_fast64_t messages, malformed, events, applied, same, stale, doubted, expired,
        busy, outside, reconnects;
    _Atomic int64_t last_msg_ns; /* monotonic */
    _Atomic int64_t up_since;    /* wall ns of the last transition to up */

    pthread_mutex_t seq_lock;
    struct seq_slot *seq;
};

static uint64_t fnv1a(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* 1 if seq is not newer than the last one seen for key (then ignore). */
static int seq_stale(struct mpfs_notify *n, const char *key, const char *seq)
{
    if (!seq[0])
        return 0;
    uint64_t h = fnv1a(key, strlen(key), 0xcbf29ce484222325ULL);
    if (h == 0)
        h = 1; /* 0 marks an empty slot */
    pthread_mutex_lock(&n->seq_lock);
    struct seq_slot *s = &n->seq[h % SEQ_SLOTS];
    int stale = s->h == h && strcmp(seq, s->seq) <= 0;
    if (!stale) {
        s->h = h;
        memcpy(s->seq, seq, sizeof(s->seq));
    }
    pthread_mutex_unlock(&n->seq_lock);
    return stale;
}

static void count(struct mpfs_notify *n, int outcome)
{
    switch (outcome) {
    case MPFS_REMOTE_APPLIED: atomic_fetch_add(&n->applied, 1); break;
    case MPFS_REMOTE_SAME: atomic_fetch_add(&n->same, 1); break;
    case MPFS_REMOTE_DOUBT: atomic_fetch_add(&n->doubted, 1); break;
    case MPFS_REMOTE_EXPIRED: atomic_fetch_add(&n->expired, 1); break;
    case MPFS_REMOTE_BUSY: atomic_fetch_add(&n->busy, 1); break;
    default: atomic_fetch_add(&n->outside, 1); break;
    }
}

static int on_event(void *arg, const struct mpfs_s3_event *ev)
{
    struct mpfs_notify *n = arg;
    atomic_fetch_add(&n->events, 1);
    if ((n->bucket && ev->bucket[0] && strcmp(ev->bucket, n->bucket) != 0) ||
        strncmp(ev->key, n->prefix, n->plen) != 0 || !ev->key[n->plen]) {
        atomic_fetch_add(&n->outside, 1);
        return 0;
    }
    if (seq_stale(n, ev->key, ev->seq)) {
        atomic_fetch_add(&n->stale, 1);
        return 0;
    }
    struct mpfs_remote_change c = {
        .path = ev->key + n->plen,
        .gone = ev->kind == MPFS_EVENT_REMOVED,
        .version = ev->etag,
        .size = ev->size,
        .mtime_ns = ev->time_ns,
        .when_ns = ev->time_ns,
    };
    int rc = mpfs_fs_remote_change(n->fs, &c);
    if (rc < 0)
        atomic_fetch_add(&n->outside, 1);
    else
        count(n, rc);
    mpfs_debug("notify: %s %s -> %d", c.gone ? "removed" : "created", ev->key, rc);
    return 0;
}

int mpfs_notify_deliver(struct mpfs_notify *n, const char *body, size_t len)
{
    atomic_fetch_add(&n->messages, 1);
    atomic_store(&n->last_msg_ns, mpfs_now_ns());
    size_t skipped = 0;
    int rc = mpfs_s3_events_parse(body, len, on_event, n, &skipped);
    if (rc < 0)
        atomic_fetch_add(&n->malformed, 1);
    atomic_fetch_add(&n->outside, skipped);
    return rc;
}

void mpfs_notify_set_state(struct mpfs_notify *n, int up, const char *why)
{
    int want = up ? MPFS_NOTIFY_UP : MPFS_NOTIFY_DOWN;
    /* stamp before the state flips: a reader that sees "up" never pairs it
     * with an older up time */
    if (up)
        atomic_store(&n->up_since, mpfs_wall_ns());
    int was = atomic_exchange(&n->state, want);
    if (was == want)
        return;
    if (up)
        mpfs_info("notify: event channel up (%s); entries trusted for notify_ttl", why);
    else
        mpfs_warn("notify: event channel down (%s); polling with meta_ttl", why);
}

int mpfs_notify_healthy(const struct mpfs_notify *n)
{
    if (!n || atomic_load(&((struct mpfs_notify *)n)->state) != MPFS_NOTIFY_UP)
        return 0;
    return !n->setup_auto || atomic_load(&((struct mpfs_notify *)n)->setup_done);
}

int64_t mpfs_notify_up_since(const struct mpfs_notify *n)
{
    return mpfs_notify_healthy(n) ? atomic_load(&((struct mpfs_notify *)n)->up_since) : 0;
}

/* ------------------------------------------------------------------ HTTP */

int mpfs_notify_http_port(const struct mpfs_notify *n)
{
    return n && n->started ? ntohs(n->addr.sin_port) : 0;
}

static void reply(int fd, int code, const char *text)
{
    char buf[160];
    int l = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code,
                     text);
    mpfs_send_all(fd, buf, (size_t)l);
}

/* Value of header name (case-insensitive) in the header block, or NULL. */
static const char *header(const char *hdrs, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(hdrs, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t l = strcspn(v, "\r\n");
            if (l >= outlen)
                return NULL;
            memcpy(out, v, l);
            out[l] = '\0';
            return out;
        }
    }
    return NULL;
}

/* A request must arrive whole within this long, however it trickles in. */
#define REQUEST_DEADLINE_NS (5 * 1000000000LL)

static void serve_one(struct mpfs_notify *n, int fd)
{
    int64_t deadline = mpfs_now_ns() + REQUEST_DEADLINE_NS;
    char hdr[HDR_MAX + 1];
    size_t used = 0;
    char *end = NULL;
    while (!end) {
        if (used == HDR_MAX) {
            reply(fd, 400, "Bad Request");
            return;
        }
        ssize_t r = recv(fd, hdr + used, HDR_MAX - used, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || mpfs_now_ns() > deadline)
            return;
        used += (size_t)r;
        hdr[used] = '\0';
        if (memchr(hdr, '\0', used)) {
            reply(fd, 400, "Bad Request");
            return;
        }
        end = strstr(hdr, "\r\n\r\n");
    }
    end[2] = '\0'; /* headers end with their last CRLF */
    char *body0 = end + 4;
    size_t have = used - (size_t)(body0 - hdr);
    char cl[32];
    char *e = NULL;
    if (strncmp(hdr, "POST ", 5) != 0 || !header(hdr, "Content-Length", cl, sizeof(cl)) ||
        !isdigit((unsigned char)cl[0])) {
        reply(fd, 400, "Bad Request");
        return;
    }
    errno = 0;
    unsigned long long len = strtoull(cl, &e, 10);
    if (errno || *e) {
        reply(fd, 400, "Bad Request");
        return;
    }
    if (len > MPFS_EVENT_DOC_MAX) {
        reply(fd, 413, "Payload Too Large");
        return;
    }
    if (have > len) {
        reply(fd, 400, "Bad Request"); /* pipelining is not for us */
        return;
    }
    char *body = mpfs_xmalloc((size_t)len + 1);
    memcpy(body, body0, have);
    while (have < len) {
        ssize_t r = recv(fd, body + have, (size_t)len - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || mpfs_now_ns() > deadline) {
            free(body);
            return; /* stalled or gone: nothing was applied */
        }
        have += (size_t)r;
    }
    body[len] = '\0';
    int rc = mpfs_notify_deliver(n, body, (size_t)len);
    free(body);
    if (rc == 0)
        reply(fd, 200, "OK");
    else
        reply(fd, rc == -E2BIG ? 413 : 400, rc == -E2BIG ? "Payload Too Large" : "Bad Request");
}

static void *http_thread(void *arg)
{
    struct mpfs_notify *n = arg;
    for (;;) {
        int fd = mpfs_accept_until(n->lfd, n->stop_pipe[0], 2);
        if (fd == -ECANCELED)
            break;
        if (fd < 0) {
            mpfs_notify_set_state(n, 0, "the HTTP listener failed");
            break;
        }
        serve_one(n, fd);
        close(fd);
    }
    return NULL;
}

/* "http://A.B.C.D:PORT[/...]" */
static int parse_http(struct mpfs_notify *n, const char *url, char *err, size_t errlen)
{
    const char *hp = url + 7;
    const char *colon = strchr(hp, ':');
    char host[64];
    if (!colon || (size_t)(colon - hp) >= sizeof(host)) {
        snprintf(err, errlen, "notify URL '%s': want http://ADDRESS:PORT", url);
        return -EINVAL;
    }
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    char *e;
    long port = strtol(colon + 1, &e, 10);
    if (e == colon + 1 || (*e && *e != '/') || port < 0 || port > 65535) {
        snprintf(err, errlen, "notify URL '%s': bad port", url);
        return -EINVAL;
    }
    n->addr.sin_family = AF_INET;
    n->addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
                  &n->addr.sin_addr) != 1) {
        snprintf(err, errlen, "notify URL '%s': the address must be an IPv4 address", url);
        return -EINVAL;
    }
    return 0;
}

static int http_listen(struct mpfs_notify *n, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "notify: socket: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&n->addr, sizeof(n->addr)) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        snprintf(err, errlen, "notify: cannot listen on %s: %s", n->url, strerror(e));
        close(fd);
        return -e;
    }
    socklen_t sl = sizeof(n->addr);
    getsockname(fd, (struct sockaddr *)&n->addr, &sl); /* port 0: the one we got */
    n->lfd = fd;
    return 0;
}

/* ------------------------------------------------------------- lifetime */

int mpfs_notify_new(struct mpfs_fs *fs, const char *url, struct mpfs_notify **out, char *err,
                    size_t errlen)
{
    struct mpfs_notify *n = mpfs_xcalloc(1, sizeof(*n));
    n->fs = fs;
    n->url = mpfs_xstrdup(url);
    n->lfd = -1;
    n->stop_pipe[0] = n->stop_pipe[1] = -1;
    n->setup_auto = fs->cfg.notify_setup && strcmp(fs->cfg.notify_setup, "auto") == 0;
    n->bucket = mpfs_s3_bucket_of(fs->s3);
    n->prefix = mpfs_s3_prefix_of(fs->s3);
    if (!n->prefix)
        n->prefix = "";
    n->plen = strlen(n->prefix);
    pthread_mutex_init(&n->seq_lock, NULL);
    n->seq = mpfs_xcalloc(SEQ_SLOTS, sizeof(*n->seq));
    atomic_init(&n->state, MPFS_NOTIFY_DOWN);

    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    uint64_t h = fnv1a(host, strlen(host), 0xcbf29ce484222325ULL);
    const char *cd = fs->cfg.cache_dir ? fs->cfg.cache_dir : "";
    h = fnv1a(cd, strlen(cd), h);
    h = fnv1a(n->bucket ? n->bucket : "", n->bucket ? strlen(n->bucket) : 0, h);
    h = fnv1a(n->prefix, n->plen, h);
    int rc = 0;
    if (strncmp(url, "http://", 7) == 0) {
        n->transport = T_HTTP;
        snprintf(n->topic, sizeof(n->topic), "mpfs-%016llx", (unsigned long long)h);
        rc = parse_http(n, url, err, errlen);
    } else if (strncmp(url, "amqp://", 7) == 0) {
        n->transport = T_AMQP;
        /* one topic per (bucket, prefix): the fleet shares it */
        uint64_t hb = fnv1a(n->bucket ? n->bucket : "", n->bucket ? strlen(n->bucket) : 0,
                            0xcbf29ce484222325ULL);
        hb = fnv1a(n->prefix, n->plen, hb);
        snprintf(n->topic, sizeof(n->topic), "mpfs-fleet-%016llx", (unsigned long long)hb);
        rc = mpfs_notify_amqp_new(n, url, n->topic, &n->amqp, err, errlen);
    } else {
        snprintf(err, errlen, "notify URL '%s': want http:// or amqp://", url);
        rc = -EINVAL;
    }
    if (rc < 0) {
        mpfs_notify_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

static void setup_store(struct mpfs_notify *n, const char *push, const char *exchange)
{
    if (push != n->push)
        snprintf(n->push, sizeof(n->push), "%s", push ? push : "");
    if (exchange != n->exchange)
        snprintf(n->exchange, sizeof(n->exchange), "%s", exchange ? exchange : "");
    exchange = n->exchange[0] ? n->exchange : NULL;
    struct mpfs_s3_topic_attrs ta = {
        .push_endpoint = push,
        .amqp_exchange = exchange,
        /* "broker" would make radosgw wait for the broker's confirm inside the
         * writer's request (+170 ms per PUT measured here); an event is a hint */
        .amqp_ack_level = exchange ? "none" : NULL,
        .persistent = n->fs->cfg.notify_persistent,
    };
    int rc = mpfs_s3_topic_create(n->fs->s3, n->topic, &ta, n->arn, sizeof(n->arn));
    if (rc == 0)
        rc = mpfs_s3_notification_put(n->fs->s3, n->topic, n->arn);
    if (rc < 0) {
        mpfs_warn("notify: cannot set up the bucket notification (topic %s): %s; polling with "
                  "meta_ttl (set it up by hand and use notify_setup=none, see docs/NOTIFY.md)",
                  n->topic, strerror(-rc));
        return;
    }
    atomic_store(&n->setup_done, 1);
    mpfs_info("notify: topic %s (%s) pushes %s/%s* events to %s", n->topic, n->arn,
              n->bucket ? n->bucket : "?", n->prefix, push);
}

/* 1 if the store's setup is gone (logged), 0 if it is there or the store
 * could not say (an error, a 5xx: keep trusting it rather than flap). */
static int setup_gone(struct mpfs_notify *n)
{
    int rc = mpfs_s3_notification_exists(n->fs->s3, n->topic);
    if (rc == -ENOENT) {
        mpfs_warn("notify: the bucket notification %s is gone (removed on the store); no events "
                  "arrive: polling with meta_ttl, re-creating it", n->topic);
        return 1;
    }
    if (rc < 0)
        return 0;
    char ep[512];
    rc = mpfs_s3_topic_endpoint(n->fs->s3, n->arn, ep, sizeof(ep));
    if (rc == -ENOENT) {
        mpfs_warn("notify: the topic %s is gone (deleted on the store); events may not arrive: "
                  "polling with meta_ttl, re-creating it", n->topic);
        return 1;
    }
    if (rc == 0 && !mpfs_s3_push_endpoint_same(ep, n->push)) {
        /* not named: an AMQP endpoint may carry a password */
        mpfs_warn("notify: the topic %s no longer pushes to this mount's endpoint (changed on "
                  "the store): polling with meta_ttl, re-creating it", n->topic);
        return 1;
    }
    return 0;
}

/* One look at the store's setup: re-create what is missing. */
static void watch_once(struct mpfs_notify *n)
{
    if (atomic_load(&n->setup_done)) {
        if (!setup_gone(n))
            return;
        atomic_store(&n->setup_done, 0);
    }
    setup_store(n, n->push, n->exchange);
    if (atomic_load(&n->setup_done)) {
        /* events sent meanwhile were lost: what was confirmed before is
         * not trusted for notify_ttl any more */
        atomic_store(&n->up_since, mpfs_wall_ns());
        mpfs_info("notify: bucket notification %s in place again", n->topic);
    }
}

static void *watch_thread(void *arg)
{
    struct mpfs_notify *n = arg;
    int64_t period_ns = (int64_t)(n->fs->cfg.notify_check * 1e9);
    pthread_mutex_lock(&n->watch_lock);
    while (!n->watch_stop) {
        struct timespec until = mpfs_deadline_in(period_ns);
        while (!n->watch_stop &&
               pthread_cond_timedwait(&n->watch_cond, &n->watch_lock, &until) != ETIMEDOUT)
            ;
        if (n->watch_stop)
            break;
        pthread_mutex_unlock(&n->watch_lock);
        watch_once(n);
        pthread_mutex_lock(&n->watch_lock);
    }
    pthread_mutex_unlock(&n->watch_lock);
    return NULL;
}

static void start_watch(struct mpfs_notify *n)
{
    if (!n->setup_auto || n->fs->cfg.notify_check <= 0)
        return;
    pthread_cond_init(&n->watch_cond, NULL);
    pthread_mutex_init(&n->watch_lock, NULL);
    if (pthread_create(&n->watch, NULL, watch_thread, n) == 0)
        n->watching = 1;
    else
        mpfs_warn("notify: cannot start the watchdog; a removed bucket notification goes "
                  "unnoticed");
}

static void stop_watch(struct mpfs_notify *n)
{
    if (!n->watching)
        return;
    pthread_mutex_lock(&n->watch_lock);
    n->watch_stop = 1;
    pthread_cond_signal(&n->watch_cond);
    pthread_mutex_unlock(&n->watch_lock);
    pthread_join(n->watch, NULL);
    pthread_cond_destroy(&n->watch_cond);
    pthread_mutex_destroy(&n->watch_lock);
    n->watching = 0;
}

void mpfs_notify_start(struct mpfs_notify *n)
{
    char err[512] = "";
    if (n->transport == T_HTTP) {
        if (http_listen(n, err, sizeof(err)) < 0) {
            mpfs_warn("%s; polling with meta_ttl", err);
            return;
        }
        if (pipe2(n->stop_pipe, O_CLOEXEC) < 0 ||
            pthread_create(&n->thread, NULL, http_thread, n) != 0) {
            mpfs_warn("notify: cannot start the listener thread; polling with meta_ttl");
            return;
        }
        n->started = 1;
        char push[64], ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &n->addr.sin_addr, ip, sizeof(ip));
        snprintf(push, sizeof(push), "http://%s:%u", ip, ntohs(n->addr.sin_port));
        if (n->setup_auto)
            setup_store(n, push, NULL);
        mpfs_notify_set_state(n, 1, push);
        start_watch(n);
        return;
    }
    /* the consumer declares the exchange: let it connect first (briefly),
     * so radosgw's first publish finds it */
    mpfs_notify_amqp_start(n->amqp);
    for (int i = 0; i < 60 && atomic_load(&n->state) != MPFS_NOTIFY_UP; i++)
        usleep(50000);
    if (n->setup_auto)
        setup_store(n, mpfs_notify_amqp_push_endpoint(n->amqp),
                    mpfs_notify_amqp_exchange(n->amqp));
    start_watch(n);
}

void mpfs_notify_free(struct mpfs_notify *n)
{
    if (!n)
        return;
    stop_watch(n);
    if (n->started) {
        ssize_t w = write(n->stop_pipe[1], "x", 1);
        (void)w;
        pthread_join(n->thread, NULL);
    }
    mpfs_notify_amqp_free(n->amqp);
    /* the fleet's AMQP topic stays: other mounts consume it */
    if (n->transport == T_HTTP && atomic_load(&n->setup_done)) {
        int rc = mpfs_s3_notification_delete(n->fs->s3, n->topic);
        int rc2 = mpfs_s3_topic_delete(n->fs->s3, n->arn);
        if (rc < 0 || rc2 < 0)
            mpfs_warn("notify: could not remove topic %s from the store: %s", n->topic,
                      strerror(-(rc < 0 ? rc : rc2)));
        else
            mpfs_info("notify: removed topic %s and its bucket notification", n->topic);
    }
    if (n->lfd >= 0)
        close(n->lfd);
    if (n->stop_pipe[0] >= 0) {
        close(n->stop_pipe[0]);
        close(n->stop_pipe[1]);
    }
    pthread_mutex_destroy(&n->seq_lock);
    free(n->seq);
    free(n->url);
    free(n);
}

/* --------------------------------------------------------------- stats */

void mpfs_notify_get_stats(struct mpfs_notify *n, struct mpfs_notify_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->last_event_age_s = -1;
    if (!n)
        return;
    st->state = mpfs_notify_healthy(n) ? MPFS_NOTIFY_UP : MPFS_NOTIFY_DOWN;
    st->setup = atomic_load(&n->setup_done);
    st->messages = atomic_load(&n->messages);
    st->malformed = atomic_load(&n->malformed);
    st->events = atomic_load(&n->events);
    st->applied = atomic_load(&n->applied);
    st->same = atomic_load(&n->same);
    st->stale = atomic_load(&n->stale);
    st->doubted = atomic_load(&n->doubted);
    st->expired = atomic_load(&n->expired);
    st->busy = atomic_load(&n->busy);
    st->outside = atomic_load(&n->outside);
    st->reconnects = atomic_load(&n->reconnects);
    int64_t last = atomic_load(&n->last_msg_ns);
    if (last)
        st->last_event_age_s = (double)(mpfs_now_ns() - last) / 1e9;
    snprintf(st->transport, sizeof(st->transport), "%s", n->transport == T_HTTP ? "http" : "amqp");
}

void mpfs_notify_count_reconnect(struct mpfs_notify *n)
{
    atomic_fetch_add(&n->reconnects, 1);
}

void mpfs_notify_report(struct mpfs_notify *n, FILE *out)
{
    if (!n)
        return;
    struct mpfs_notify_stats st;
    mpfs_notify_get_stats(n, &st);
    fprintf(out, "notify.up %d\n", st.state == MPFS_NOTIFY_UP);
    fprintf(out, "notify.setup %d\n", st.setup);
    fprintf(out, "notify.messages %llu\n", (unsigned long long)st.messages);
    fprintf(out, "notify.malformed %llu\n", (unsigned long long)st.malformed);
    fprintf(out, "notify.events %llu\n", (unsigned long long)st.events);
    fprintf(out, "notify.applied %llu\n", (unsigned long long)st.applied);
    fprintf(out, "notify.same %llu\n", (unsigned long long)st.same);
    fprintf(out, "notify.stale %llu\n", (unsigned long long)st.stale);
    fprintf(out, "notify.doubted %llu\n", (unsigned long long)st.doubted);
    fprintf(out, "notify.expired %llu\n", (unsigned long long)st.expired);
    fprintf(out, "notify.busy %llu\n", (unsigned long long)st.busy);
    fprintf(out, "notify.outside %llu\n", (unsigned long long)st.outside);
    fprintf(out, "notify.reconnects %llu\n", (unsigned long long)st.reconnects);
    fprintf(out, "notify.last_event_age_s %.3f\n", st.last_event_age_s);
}

void mpfs_notify_prometheus(struct mpfs_notify *n, FILE *out)
{
    if (!n)
        return;
    struct mpfs_notify_stats st;
    mpfs_notify_get_stats(n, &st);
    fprintf(out, "# TYPE mpfs_notify_up gauge\nmpfs_notify_up{transport=\"%s\"} %d\n",
            st.transport, st.state == MPFS_NOTIFY_UP);
    fprintf(out, "# TYPE mpfs_notify_messages_total counter\nmpfs_notify_messages_total %llu\n",
            (unsigned long long)st.messages);
    fprintf(out, "# TYPE mpfs_notify_malformed_total counter\n"
                 "mpfs_notify_malformed_total %llu\n",
            (unsigned long long)st.malformed);
    fputs("# TYPE mpfs_notify_events_total counter\n", out);
    const struct {
        const char *name;
        uint64_t v;
    } o[] = {{"applied", st.applied}, {"same", st.same},       {"stale", st.stale},
             {"doubted", st.doubted}, {"expired", st.expired}, {"busy", st.busy},
             {"outside", st.outside}};
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(o); i++)
        fprintf(out, "mpfs_notify_events_total{outcome=\"%s\"} %llu\n", o[i].name,
                (unsigned long long)o[i].v);
    fprintf(out, "# TYPE mpfs_notify_reconnects_total counter\n"
                 "mpfs_notify_reconnects_total %llu\n",
            (unsigned long long)st.reconnects);
    fprintf(out, "# TYPE mpfs_notify_last_event_age_seconds gauge\n"
                 "mpfs_notify_last_event_age_seconds %.3f\n",
            st.last_event_age_s);
}

/*
 * ctl.c - the control channel's server; see ctl.h for the protocol.
 *
 * Design: one accept thread polls the listening socket and a stop pipe;
 * each accepted connection is served by its own detached thread (at most
 * MAX_CONN at once, beyond that the request is refused with EBUSY), so a
 * long `flush` does not block `stats --watch`.  A request line must arrive
 * within REQ_TIMEOUT_S.
 *
 * Locking: c->lock guards only the count of connection threads (stop waits
 * for it to reach zero).  Commands call the vfs operations, which take the
 * fs locks themselves; nothing here is held across them.
 */
#include "fs/ctl.h"

#include "base/log.h"
#include "base/util.h"
#include "cache/blockcache.h"
#include "fs/announce.h"
#include "fs/fs_state.h"
#include "fs/lostfound.h"
#include "fs/notify.h"
#include "fs/stats.h"
#include "fs/writeback.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONN 8
#define REQ_TIMEOUT_S 10
#define REQ_MAX 4096

struct mpfs_ctl {
    struct mpfs_fs *fs;
    char *path;
    char *mountpoint;
    int lfd;
    int stop_pipe[2];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int nconn;
};

struct conn {
    struct mpfs_ctl *c;
    int fd;
};

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static void cmd_status(struct mpfs_ctl *c, FILE *out)
{
    struct mpfs_fs *fs = c->fs;
    const struct mpfs_config *cfg = &fs->cfg;
    struct mpfs_cache_stats cs;
    mpfs_cache_get_stats(fs->cache, &cs);
    char a[32], b[32];
    fprintf(out, "mountpoint     %s\n", c->mountpoint);
    fprintf(out, "pid            %d\n", (int)getpid());
    fprintf(out, "mode           %s%s\n", cfg->mode, cfg->read_only ? " (read-only)" : "");
    if (cfg->s3)
        fprintf(out, "s3             %s at %s\n", cfg->s3,
                cfg->s3_endpoint ? cfg->s3_endpoint : "(AWS_ENDPOINT_URL / AWS)");
    if (cfg->nfs)
        fprintf(out, "nfs            %s\n", cfg->nfs);
    char caps[512];
    if (fs->s3) {
        mpfs_backend_caps_str(fs->s3->caps, caps, sizeof(caps));
        fprintf(out, "s3_caps        %s\n", caps);
    }
    if (fs->nfs) {
        mpfs_backend_caps_str(fs->nfs->caps, caps, sizeof(caps));
        fprintf(out, "nfs_caps       %s\n", caps);
    }
    fprintf(out, "cache_dir      %s\n", cfg->cache_dir);
    mpfs_fmt_bytes(a, sizeof(a), (double)cs.ram_bytes);
    mpfs_fmt_bytes(b, sizeof(b), (double)cfg->cache_ram);
    fprintf(out, "cache_ram      %s of %s\n", a, b);
    mpfs_fmt_bytes(a, sizeof(a), (double)cs.disk_bytes);
    mpfs_fmt_bytes(b, sizeof(b), (double)cfg->cache_disk);
    fprintf(out, "cache_disk     %s of %s\n", a, b);
    mpfs_fmt_bytes(a, sizeof(a), (double)(uint64_t)atomic_load(&fs->staging_bytes));
    mpfs_fmt_bytes(b, sizeof(b), (double)cfg->staging_max);
    fprintf(out, "staging        %s of %s (written, not yet committed)\n", a, b);
    fprintf(out, "journal        %zu file(s) staged, not yet on the store\n",
            mpfs_writeback_pending(fs));
    int rescued = mpfs_lostfound_list(fs, NULL, NULL);
    fprintf(out, "lost+found     %d file(s)%s\n", rescued > 0 ? rescued : 0,
            rescued > 0 ? " not committed: `mpfs ctl MOUNTPOINT rescued` names them" : "");
    pthread_mutex_lock(&fs->lock);
    size_t nodes = fs->nnodes;
    pthread_mutex_unlock(&fs->lock);
    fprintf(out, "inodes         %zu in memory\n", nodes);
    fprintf(out, "invalidations  %llu\n",
            (unsigned long long)atomic_load(&fs->invalidations));
    if (fs->notify_ch) {
        struct mpfs_notify_stats ns;
        mpfs_notify_get_stats(fs->notify_ch, &ns);
        fprintf(out, "notify         %s %s: %s; %llu message(s), %llu applied, %llu stale, "
                     "last %.1f s ago\n",
                ns.transport, cfg->notify_setup, ns.state == MPFS_NOTIFY_UP
                    ? "up (entries trusted for notify_ttl)"
                    : "DOWN (polling with meta_ttl)",
                (unsigned long long)ns.messages, (unsigned long long)ns.applied,
                (unsigned long long)ns.stale, ns.last_event_age_s);
    } else if (cfg->notify) {
        fprintf(out, "notify         DOWN (could not start; polling with meta_ttl)\n");
    }
    fprintf(out, "log_level      %s\n", level_names[mpfs_log_level & 3]);
    char routes[4096];
    mpfs_fs_describe(fs, routes, sizeof(routes));
    fprintf(out, "routes (probed at mount):\n%s", routes);
}

static void print_rescued(void *arg, const char *path, const char *file, uint64_t size,
                          int64_t when)
{
    char t[32];
    struct tm tm;
    time_t tt = (time_t)when;
    strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
    fprintf(arg, "%s\t%llu\t%s\t%s\n", t, (unsigned long long)size, path, file);
}

struct flush_out {
    FILE *out;
    int failed;
};

static void flush_failed(void *arg, const char *path, int err)
{
    struct flush_out *fo = arg;
    fprintf(fo->out, "failed %s: %s\n", path, strerror(-err));
    fo->failed++;
}

#define BODY_MAX (4u << 20)

static int stream_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 64)
        return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._:-", *p)))
            return 0;
    return 1;
}

/* prefetch NAME add|reset|status|close; add's lines are the body. */
static int cmd_prefetch(struct mpfs_ctl *c, char *arg, const char *body, size_t blen, FILE *out,
                        char *msg, size_t msglen)
{
    char *verb = arg ? strchr(arg, ' ') : NULL;
    if (verb)
        *verb++ = '\0';
    if (!arg || !verb || !stream_name_ok(arg)) {
        snprintf(msg, msglen, "usage: prefetch NAME add|reset|status|close (NAME: 1-64 of "
                              "[A-Za-z0-9._:-]; add takes the paths as following lines, "
                              "ended by a line '.')");
        return -EINVAL;
    }
    if (strcmp(verb, "close") == 0) {
        int rc = mpfs_announce_close_named(c->fs->announce, arg);
        if (rc < 0)
            snprintf(msg, msglen, "no prefetch stream '%s'", arg);
        return rc;
    }
    if (strcmp(verb, "add") && strcmp(verb, "reset") && strcmp(verb, "status")) {
        snprintf(msg, msglen, "prefetch: unknown verb '%.32s' (add, reset, status, close)", verb);
        return -EINVAL;
    }
    struct mpfs_announce_stream *s;
    int rc = mpfs_announce_open(c->fs->announce, arg, 0, &s);
    if (rc < 0) {
        snprintf(msg, msglen, "prefetch: cannot open stream '%s': %s", arg, strerror(-rc));
        return rc;
    }
    if (strcmp(verb, "reset") == 0) {
        mpfs_announce_reset(s);
    } else if (strcmp(verb, "add") == 0) {
        size_t line = 0;
        rc = mpfs_announce_write(s, body, blen, &line);
        if (rc < 0) {
            snprintf(msg, msglen, "prefetch %s: line %zu: %s (nothing of this request queued)",
                     arg, line, strerror(-rc));
            return rc;
        }
        /* a last line without its newline is complete here */
        if (blen && body[blen - 1] != '\n') {
            rc = mpfs_announce_write(s, "\n", 1, &line);
            if (rc < 0) {
                snprintf(msg, msglen, "prefetch %s: last line: %s", arg, strerror(-rc));
                return rc;
            }
        }
    }
    mpfs_announce_stream_report(s, out);
    return 0;
}

/* Run one request; writes output lines to out, returns 0 or -errno with a
 * message in msg. */
static int run(struct mpfs_ctl *c, char *line, const char *body, size_t blen, FILE *out,
               char *msg, size_t msglen)
{
    char *arg = strchr(line, ' ');
    if (arg)
        *arg++ = '\0';
    if (strcmp(line, "prefetch") == 0)
        return cmd_prefetch(c, arg, body, blen, out, msg, msglen);
    if (strcmp(line, "status") == 0) {
        cmd_status(c, out);
        return 0;
    }
    if (strcmp(line, "invalidate") == 0) {
        int recursive = 0;
        if (arg && strncmp(arg, "-r ", 3) == 0) {
            recursive = 1;
            arg += 3;
        } else if (arg && strcmp(arg, "-r") == 0) {
            recursive = 1;
            arg = "";
        }
        if (!arg) {
            snprintf(msg, msglen, "usage: invalidate [-r] PATH");
            return -EINVAL;
        }
        int rc = mpfs_vfs_invalidate(c->fs, arg, recursive);
        if (rc < 0) {
            snprintf(msg, msglen, "invalidate '%.300s': %s", arg, strerror(-rc));
            return rc;
        }
        mpfs_info("ctl: invalidated '%s'%s", arg, recursive ? " and below" : "");
        fprintf(out, "invalidated %s%s\n", *arg ? arg : "/", recursive ? " (recursive)" : "");
        return 0;
    }
    if (strcmp(line, "rescued") == 0) {
        int rc = mpfs_lostfound_list(c->fs, print_rescued, out);
        if (rc < 0)
            snprintf(msg, msglen, "rescued: cannot read %s: %s", c->fs->lostfound_dir,
                     strerror(-rc));
        return rc < 0 ? rc : 0;
    }
    if (strcmp(line, "stats") == 0) {
        mpfs_stats_report(c->fs, out);
        return 0;
    }
    if (strcmp(line, "flush") == 0) {
        struct flush_out fo = {.out = out};
        uint64_t done = 0;
        int rc = mpfs_vfs_flush_all(c->fs, flush_failed, &fo, &done);
        fprintf(out, "committed %llu file%s\n", (unsigned long long)done, done == 1 ? "" : "s");
        if (rc < 0) {
            snprintf(msg, msglen, "%d file%s could not be committed", fo.failed,
                     fo.failed == 1 ? "" : "s");
            return rc;
        }
        return 0;
    }
    if (strcmp(line, "drop-cache") == 0) {
        struct mpfs_cache_stats before, after;
        mpfs_cache_get_stats(c->fs->cache, &before);
        uint64_t files = 0;
        int rc = mpfs_vfs_drop_cache(c->fs, &files);
        mpfs_cache_get_stats(c->fs->cache, &after);
        char a[32], b[32];
        mpfs_fmt_bytes(a, sizeof(a), (double)before.ram_bytes + before.disk_bytes);
        mpfs_fmt_bytes(b, sizeof(b), (double)after.ram_bytes + after.disk_bytes);
        fprintf(out, "cache %s -> %s (%llu entries visited)\n", a, b, (unsigned long long)files);
        if (rc < 0)
            snprintf(msg, msglen, "drop-cache: %s", strerror(-rc));
        return rc;
    }
    if (strcmp(line, "log-level") == 0) {
        if (!arg || mpfs_log_set_level_name(arg) < 0) {
            snprintf(msg, msglen, "log-level needs one of error, warn, info, debug");
            return -EINVAL;
        }
        mpfs_warn("ctl: log level set to %s", arg);
        fprintf(out, "log_level %s\n", arg);
        return 0;
    }
    snprintf(msg, msglen,
             "unknown command '%.64s' (status, invalidate, flush, drop-cache, rescued, "
             "log-level, prefetch)",
             line);
    return -EINVAL;
}

static int peer_allowed(int fd, uid_t *uid)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return 0;
    *uid = cr.uid;
    return cr.uid == 0 || cr.uid == geteuid();
}

/* The body of a request: the bytes after its first line (have, already
 * received) and what follows, up to a line "." (not included). */
static int read_body(int fd, const char *have, size_t hlen, char **out, size_t *outlen)
{
    size_t cap = MPFS_MAX(hlen + 1, (size_t)65536), used = hlen;
    char *b = mpfs_xmalloc(cap);
    memcpy(b, have, hlen);
    for (;;) {
        b[used] = '\0';
        char *end = NULL;
        if (used >= 2 && strcmp(b + used - 2, ".\n") == 0 && (used == 2 || b[used - 3] == '\n'))
            end = b + used - 2;
        if (end) {
            *end = '\0';
            *out = b;
            *outlen = (size_t)(end - b);
            return 0;
        }
        if (used >= BODY_MAX) {
            free(b);
            return -EMSGSIZE;
        }
        if (used + 1 >= cap) {
            cap = MPFS_MIN(cap * 2, (size_t)BODY_MAX + 1);
            b = mpfs_xrealloc(b, cap);
        }
        ssize_t n = recv(fd, b + used, cap - 1 - used, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(b);
            return -EPROTO;
        }
        used += (size_t)n;
    }
}

static void serve(struct mpfs_ctl *c, int fd)
{
    char req[REQ_MAX];
    char msg[512] = "";
    uid_t uid = (uid_t)-1;
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    int rc;
    if (!f)
        return;
    size_t used = 0;
    char *nl = NULL;
    while (!nl && used < sizeof(req) - 1) {
        ssize_t n = recv(fd, req + used, sizeof(req) - 1 - used, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        req[used] = '\0';
        nl = strchr(req, '\n');
    }
    /* the request is read first even from a refused peer: closing with
     * unread data would reset the connection before it sees the answer */
    if (!peer_allowed(fd, &uid)) {
        mpfs_warn("ctl: refused a request from uid %d (only root and uid %d may use %s)", (int)uid,
                  (int)geteuid(), c->path);
        snprintf(msg, sizeof(msg), "permission denied: uid %d is neither root nor the mount's owner",
                 (int)uid);
        rc = -EPERM;
        goto reply;
    }
    if (!nl) {
        snprintf(msg, sizeof(msg), "no request line within %d s", REQ_TIMEOUT_S);
        rc = -EPROTO;
        goto reply;
    }
    *nl = '\0';
    /* `prefetch NAME add` is followed by lines up to a line "." */
    char *body = NULL;
    size_t blen = 0;
    if (strncmp(req, "prefetch ", 9) == 0 && strlen(req) > 4 &&
        strcmp(req + strlen(req) - 4, " add") == 0) {
        rc = read_body(fd, nl + 1, used - (size_t)(nl + 1 - req), &body, &blen);
        if (rc < 0) {
            snprintf(msg, sizeof(msg), "prefetch add: %s", rc == -EMSGSIZE
                     ? "more than 4 MiB of paths in one request (split it)"
                     : "the paths must end with a line '.'");
            goto reply;
        }
    }
    rc = run(c, req, body, blen, f, msg, sizeof(msg));
    free(body);
reply:
    if (rc < 0)
        fprintf(f, "ERR %d %s\n", -rc, msg);
    else
        fputs("OK\n", f);
    fclose(f);
    mpfs_send_all(fd, out, outlen);
    free(out);
}

static void *conn_thread(void *arg)
{
    struct conn *k = arg;
    struct mpfs_ctl *c = k->c;
    serve(c, k->fd);
    close(k->fd);
    free(k);
    pthread_mutex_lock(&c->lock);
    c->nconn--;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static void *accept_thread(void *arg)
{
    struct mpfs_ctl *c = arg;
    for (;;) {
        int fd = mpfs_accept_until(c->lfd, c->stop_pipe[0], REQ_TIMEOUT_S);
        if (fd < 0)
            break; /* stopped (or poll failed: nothing to serve with) */
        pthread_mutex_lock(&c->lock);
        int full = c->nconn >= MAX_CONN;
        if (!full)
            c->nconn++;
        pthread_mutex_unlock(&c->lock);
        if (full) {
            static const char busy[] = "ERR 16 too many control requests at once\n";
            mpfs_send_all(fd, busy, sizeof(busy) - 1);
            close(fd);
            continue;
        }
        struct conn *k = mpfs_xcalloc(1, sizeof(*k));
        k->c = c;
        k->fd = fd;
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, conn_thread, k) != 0) {
            close(fd);
            free(k);
            pthread_mutex_lock(&c->lock);
            c->nconn--;
            pthread_mutex_unlock(&c->lock);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

int mpfs_ctl_start(struct mpfs_fs *fs, const char *mountpoint, struct mpfs_ctl **out, char *err,
                   size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char *path = mpfs_xasprintf("%s/ctl.sock", fs->cfg.cache_dir);
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "control socket path %s is longer than %zu bytes (use a shorter "
                 "cache_dir)", path, sizeof(sa.sun_path) - 1);
        free(path);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "control socket: %s", strerror(e));
        free(path);
        return -e;
    }
    unlink(path); /* a stale socket of a previous daemon (the index lock
                     proves no other daemon uses this cache_dir now) */
    mode_t old = umask(0177); /* created 0600, never briefly wider */
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc == 0)
        rc = chmod(path, 0600);
    if (rc == 0)
        rc = listen(fd, 16);
    if (rc < 0) {
        int e = errno;
        snprintf(err, errlen, "control socket %s: %s", path, strerror(e));
        close(fd);
        unlink(path);
        free(path);
        return -e;
    }
    struct mpfs_ctl *c = mpfs_xcalloc(1, sizeof(*c));
    c->fs = fs;
    c->path = path;
    c->mountpoint = mpfs_xstrdup(mountpoint);
    c->lfd = fd;
    /* announced absolute paths are checked against the mount point */
    mpfs_announce_set_mountpoint(fs->announce, mountpoint);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pipe2(c->stop_pipe, O_CLOEXEC) < 0 || pthread_create(&c->thread, NULL, accept_thread, c)) {
        snprintf(err, errlen, "control socket: cannot start its thread");
        close(fd);
        unlink(path);
        free(c->mountpoint);
        free(path);
        free(c);
        return -EAGAIN;
    }
    *out = c;
    return 0;
}

const char *mpfs_ctl_path(const struct mpfs_ctl *c)
{
    return c ? c->path : NULL;
}

void mpfs_ctl_stop(struct mpfs_ctl *c)
{
    if (!c)
        return;
    ssize_t w = write(c->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(c->thread, NULL);
    close(c->lfd);
    unlink(c->path);
    pthread_mutex_lock(&c->lock);
    while (c->nconn > 0)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    close(c->stop_pipe[0]);
    close(c->stop_pipe[1]);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c->mountpoint);
    free(c->path);
    free(c);
}

/*
 * util.c - see util.h.
 */
#include "base/util.h"

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t mpfs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct timespec mpfs_deadline_in(int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t at = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + ns;
    ts.tv_sec = (time_t)(at / 1000000000LL);
    ts.tv_nsec = (long)(at % 1000000000LL);
    return ts;
}

int64_t mpfs_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *oom(void)
{
    fputs("mpfs: out of memory\n", stderr);
    abort();
}

void *mpfs_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : oom();
}

void *mpfs_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    return p ? p : oom();
}

void *mpfs_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    return p ? p : oom();
}

char *mpfs_xstrdup(const char *s)
{
    char *p = strdup(s);
    return p ? p : oom();
}

char *mpfs_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? oom() : s;
}

char *mpfs_path_join(const char *dir, const char *name)
{
    if (dir[0] == '\0')
        return mpfs_xstrdup(name);
    return mpfs_xasprintf("%s/%s", dir, name);
}

const char *mpfs_path_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int mpfs_name_is_valid(const char *name, size_t len)
{
    if (len == 0 || len > 255)
        return 0;
    if (len == 1 && name[0] == '.')
        return 0;
    if (len == 2 && name[0] == '.' && name[1] == '.')
        return 0;
    return memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL;
}

/* nftw() passes no user pointer: the first failure of the walk in progress
 * is kept per thread. */
static __thread int remove_tree_err;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT && remove_tree_err == 0)
        remove_tree_err = -errno;
    return 0;
}

int mpfs_remove_tree(const char *path)
{
    remove_tree_err = 0;
    if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT &&
        remove_tree_err == 0)
        remove_tree_err = -errno;
    return remove_tree_err;
}

int mpfs_write_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

ssize_t mpfs_read_full(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done, off + (off_t)done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

void mpfs_fputs_roff(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

int mpfs_send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EPIPE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int mpfs_accept_until(int lfd, int stopfd, int timeout_s)
{
    struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = stopfd, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (p[1].revents)
            return -ECANCELED;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        struct timeval tv = {.tv_sec = timeout_s};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        return fd;
    }
}

const char *mpfs_fmt_bytes(char *buf, size_t len, double v)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

/*
 * metrics.c - `-o metrics_port=N`: the counters of fs/stats.c in the
 * Prometheus text format, over plain HTTP/1.0 on 127.0.0.1:N.
 *
 * Loopback only on purpose: the counters name paths' shapes and request
 * rates, which are nobody else's business; a node exporter or a local agent
 * scrapes them.  One thread accepts and answers each request itself (a
 * scrape every few seconds needs no pool); a client that sends nothing
 * within 2 s is dropped.  Any path answers with the metrics.
 *
 * Locking: none of its own; the report reads atomics and takes fs->lock
 * briefly like `mpfs stats`.
 */
#include "fs/stats.h"

#include "base/log.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct mpfs_metrics {
    struct mpfs_fs *fs;
    int lfd;
    int stop_pipe[2];
    pthread_t thread;
};

static void answer(struct mpfs_metrics *m, int fd)
{
    char req[2048];
    size_t used = 0;
    while (used < sizeof(req) - 1) {
        ssize_t n = recv(fd, req + used, sizeof(req) - 1 - used, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        used += (size_t)n;
        req[used] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
    }
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (!f)
        return;
    mpfs_stats_prometheus(m->fs, f);
    fclose(f);
    char head[160];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
    if (mpfs_send_all(fd, head, (size_t)hl) == 0)
        mpfs_send_all(fd, body, len);
    free(body);
}

static void *serve(void *arg)
{
    struct mpfs_metrics *m = arg;
    for (;;) {
        int fd = mpfs_accept_until(m->lfd, m->stop_pipe[0], 2);
        if (fd < 0)
            break; /* stopped (or poll failed: nothing to serve with) */
        answer(m, fd);
        close(fd);
    }
    return NULL;
}

int mpfs_metrics_start(struct mpfs_fs *fs, int port, struct mpfs_metrics **out, char *err,
                       size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "metrics port: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        snprintf(err, errlen, "metrics port 127.0.0.1:%d: %s", port, strerror(e));
        close(fd);
        return -e;
    }
    struct mpfs_metrics *m = mpfs_xcalloc(1, sizeof(*m));
    m->fs = fs;
    m->lfd = fd;
    if (pipe2(m->stop_pipe, O_CLOEXEC) < 0 || pthread_create(&m->thread, NULL, serve, m) != 0) {
        snprintf(err, errlen, "metrics port: cannot start its thread");
        close(fd);
        free(m);
        return -EAGAIN;
    }
    *out = m;
    return 0;
}

void mpfs_metrics_stop(struct mpfs_metrics *m)
{
    if (!m)
        return;
    ssize_t w = write(m->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(m->thread, NULL);
    close(m->lfd);
    close(m->stop_pipe[0]);
    close(m->stop_pipe[1]);
    free(m);
}

/*
 * log_syslog.c - see log_syslog.h.
 */
#include "base/log_syslog.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* addr is written before max_level turns sending on (release), and read
 * only by senders, which log.c serializes; fd and last_connect_ns belong
 * to the senders. */
static struct sockaddr_un addr;
static _Atomic int max_level = -1; /* -1: off */
static int fd = -1;
static int64_t last_connect_ns;

void mpfs_log_syslog_open(const char *path, int level)
{
    atomic_store(&max_level, -1);
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    atomic_store(&max_level, level);
}

int mpfs_log_syslog_wants(int level)
{
    return level <= atomic_load(&max_level);
}

int mpfs_log_syslog_level(const char *name, int *level)
{
    if (strcmp(name, "off") == 0) {
        *level = -1;
        return 0;
    }
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *level = i;
            return 0;
        }
    }
    return -EINVAL;
}

/* A connected socket, or -1.  Reconnects at most once a second, so a
 * missing syslog daemon costs one failed connect a second, not one per
 * line. */
static int connected(void)
{
    if (fd >= 0)
        return fd;
    int64_t now = mpfs_now_ns();
    if (last_connect_ns && now - last_connect_ns < 1000000000ll)
        return -1;
    last_connect_ns = now;
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return -1;
    if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(s);
        return -1;
    }
    fd = s;
    return fd;
}

void mpfs_log_syslog_send(int level, const char *line)
{
    static const int severity[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    if (!mpfs_log_syslog_wants(level) || connected() < 0)
        return;
    char msg[2200];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
    int n = snprintf(msg, sizeof(msg), "<%d>%s mpfs[%d]: %s", LOG_DAEMON | severity[level & 3],
                     stamp, (int)getpid(), line);
    if (n < 0)
        return;
    size_t len = MPFS_MIN((size_t)n, sizeof(msg) - 1);
    if (send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN &&
        errno != EWOULDBLOCK) {
        /* the daemon restarted (ECONNREFUSED) or the socket went: reconnect
         * on a later line */
        close(fd);
        fd = -1;
    }
}

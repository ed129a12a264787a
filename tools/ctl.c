/*
 * ctl.c - `mpfs ctl MOUNTPOINT status|invalidate PATH [-r]|flush|drop-cache|
 * rescued|log-level LEVEL|prefetch NAME add|reset|status|close`: one request to
 * the mount daemon's control socket.
 *
 * The socket is found from the mount point: the root's "user.mpfs.ctl"
 * xattr names it (fs/fuse_ll.c), so no registry of mounts is needed and
 * the answer always comes from the daemon that serves that mount.
 */
#include "tools/ctl.h"

#include "base/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

static int find_socket(const char *mountpoint, char *path, size_t len, char *err, size_t errlen)
{
    ssize_t n = getxattr(mountpoint, "user.mpfs.ctl", path, len - 1);
    if (n < 0) {
        int e = errno;
        if (e == ENODATA || e == ENOTSUP)
            snprintf(err, errlen, "%s is not an mpfs mount point (no control socket)", mountpoint);
        else
            snprintf(err, errlen, "%s: %s", mountpoint, strerror(e));
        return -e;
    }
    path[n] = '\0';
    return 0;
}

int mpfs_ctl_request(const char *mountpoint, const char *request, char **out, char *err,
                     size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int rc = find_socket(mountpoint, sa.sun_path, sizeof(sa.sun_path), err, errlen);
    if (rc < 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot connect to %s: %s%s", sa.sun_path, strerror(e),
                 e == EACCES ? " (only root and the user who mounted it may)" : "");
        if (fd >= 0)
            close(fd);
        return -e;
    }
    char *req = mpfs_xasprintf("%s\n", request);
    mpfs_send_all(fd, req, strlen(req));
    free(req);
    size_t cap = 4096, used = 0;
    char *buf = mpfs_xmalloc(cap);
    for (;;) {
        if (used + 1 >= cap) {
            cap *= 2;
            buf = mpfs_xrealloc(buf, cap);
        }
        ssize_t n = recv(fd, buf + used, cap - used - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    /* the last line is the verdict */
    while (used > 0 && buf[used - 1] == '\n')
        buf[--used] = '\0';
    char *last = strrchr(buf, '\n');
    char verdict[1024];
    snprintf(verdict, sizeof(verdict), "%s", last ? last + 1 : buf);
    if (last)
        *last = '\0'; /* output lines end before the verdict's line */
    else
        buf[0] = '\0';
    *out = buf;
    if (strcmp(verdict, "OK") == 0)
        return 0;
    int code = EPROTO;
    const char *msg = "the daemon closed the connection without an answer";
    if (strncmp(verdict, "ERR ", 4) == 0) {
        char *end;
        code = (int)strtol(verdict + 4, &end, 10);
        msg = *end == ' ' ? end + 1 : end;
    }
    snprintf(err, errlen, "%s", msg);
    /* *out keeps the lines before the error (flush's failed paths) */
    return -(code > 0 ? code : EPROTO);
}

/* PATH as the daemon wants it: relative to the dataset root.  An absolute
 * path must lie under the mount point; a relative one is taken as relative
 * to the mount point (not the current directory). */
static int dataset_path(const char *mountpoint, const char *path, char **out, char *err,
                        size_t errlen)
{
    if (path[0] != '/') {
        *out = mpfs_xstrdup(path);
        return 0;
    }
    char *mp = realpath(mountpoint, NULL);
    if (!mp) {
        snprintf(err, errlen, "%s: %s", mountpoint, strerror(errno));
        return -errno;
    }
    size_t n = strlen(mp);
    int under = strncmp(path, mp, n) == 0 && (path[n] == '\0' || path[n] == '/');
    if (!under) {
        snprintf(err, errlen, "%s is not under the mount point %s", path, mp);
        free(mp);
        return -EINVAL;
    }
    *out = mpfs_xstrdup(path + n + (path[n] == '/'));
    free(mp);
    return 0;
}

/* "prefetch NAME add\n" + one dataset path per line + ".": the paths from
 * args, or from stdin when there are none.  A line may carry
 * "<TAB>OFFSET<TAB>LENGTH" after its path. */
static int prefetch_request(const char *mp, const char *name, int n, char **paths, char **out,
                            char *err, size_t errlen)
{
    char *body = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&body, &blen);
    if (!f)
        return -ENOMEM;
    fprintf(f, "prefetch %s add\n", name);
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int i = 0; rc == 0; i++) {
        const char *p;
        if (n > 0) {
            if (i >= n)
                break;
            p = paths[i];
        } else {
            ssize_t len = getline(&line, &cap, stdin);
            if (len < 0)
                break;
            if (len > 0 && line[len - 1] == '\n')
                line[len - 1] = '\0';
            if (!line[0])
                continue;
            p = line;
        }
        char *rel = NULL;
        rc = dataset_path(mp, p, &rel, err, errlen);
        if (rc == 0)
            fprintf(f, "%s\n", rel);
        free(rel);
    }
    free(line);
    fputs(".", f); /* mpfs_ctl_request adds the newline */
    fclose(f);
    if (rc < 0) {
        free(body);
        return rc;
    }
    *out = body;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: mpfs ctl MOUNTPOINT status | invalidate PATH [-r] | flush | "
                    "drop-cache | rescued | log-level error|warn|info|debug |\n"
                    "       prefetch NAME add [PATH...] (no PATH: one per line on stdin) | "
                    "prefetch NAME reset|status|close\n");
    return 2;
}

int mpfs_ctl_main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    const char *mp = argv[1];
    const char *cmd = argv[2];
    char err[1024] = "";
    char *req = NULL;
    if (!strcmp(cmd, "status") || !strcmp(cmd, "flush") || !strcmp(cmd, "drop-cache") ||
        !strcmp(cmd, "rescued")) {
        if (argc != 3)
            return usage();
        req = mpfs_xstrdup(cmd);
    } else if (!strcmp(cmd, "log-level")) {
        if (argc != 4)
            return usage();
        req = mpfs_xasprintf("log-level %s", argv[3]);
    } else if (!strcmp(cmd, "invalidate")) {
        const char *path = NULL;
        int recursive = 0;
        for (int i = 3; i < argc; i++) {
            if (!strcmp(argv[i], "-r") || !strcmp(argv[i], "--recursive"))
                recursive = 1;
            else if (!path)
                path = argv[i];
            else
                return usage();
        }
        if (!path)
            return usage();
        char *rel = NULL;
        if (dataset_path(mp, path, &rel, err, sizeof(err)) < 0) {
            fprintf(stderr, "mpfs ctl: %s\n", err);
            return 2;
        }
        req = mpfs_xasprintf("invalidate %s%s", recursive ? "-r " : "", rel);
        free(rel);
    } else if (!strcmp(cmd, "prefetch")) {
        if (argc < 5)
            return usage();
        if (strcmp(argv[4], "add") != 0) {
            if (argc != 5)
                return usage();
            req = mpfs_xasprintf("prefetch %s %s", argv[3], argv[4]);
        } else if (prefetch_request(mp, argv[3], argc - 5, argv + 5, &req, err,
                                    sizeof(err)) < 0) {
            fprintf(stderr, "mpfs ctl: %s\n", err);
            return 2;
        }
    } else {
        return usage();
    }
    char *out = NULL;
    int rc = mpfs_ctl_request(mp, req, &out, err, sizeof(err));
    free(req);
    if (out && *out)
        printf("%s\n", out);
    free(out);
    if (rc < 0) {
        fprintf(stderr, "mpfs ctl: %s\n", err);
        return 1;
    }
    return 0;
}

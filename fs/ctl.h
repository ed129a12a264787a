/*
 * ctl.h - the control channel: a private Unix socket in the cache
 * directory, served by a background thread of the mount daemon.
 *
 * The socket is <cache_dir>/ctl.sock, mode 0600, owned by the mounting
 * user; every connection is also checked with SO_PEERCRED (root or that
 * user only), so a socket made reachable by mistake still refuses others.
 * Clients (`mpfs ctl`, `mpfs stats`, `mpfs warmup`) find it from the mount
 * point through the root's xattr "user.mpfs.ctl" (answered by the FUSE
 * adapter).
 *
 * Protocol, one request per connection, text lines:
 *   request:  COMMAND [ARGS]\n
 *   response: zero or more output lines, then "OK\n" or
 *             "ERR <errno> <message>\n".
 * Commands: status | stats | invalidate [-r] PATH | flush | drop-cache |
 *           log-level error|warn|info|debug |
 *           prefetch NAME add|reset|status|close (announced reads of the
 *           named stream, fs/announce.h; `add` is followed by the lines
 *           "PATH[<TAB>OFFSET<TAB>LENGTH]" and a line "." ending them)
 * PATH is dataset-relative (the client strips the mount point).
 */
#ifndef MPFS_FS_CTL_H
#define MPFS_FS_CTL_H

#include <stddef.h>

struct mpfs_fs;
struct mpfs_ctl;

/* Bind the socket and start the server thread.  On failure returns -errno
 * with a message (the mount goes on without a control channel). */
int mpfs_ctl_start(struct mpfs_fs *fs, const char *mountpoint, struct mpfs_ctl **out, char *err,
                   size_t errlen);
/* The socket path (for the adapter's xattr). */
const char *mpfs_ctl_path(const struct mpfs_ctl *c);
/* Stop accepting, wait for requests in progress, remove the socket.
 * NULL is a no-op. */
void mpfs_ctl_stop(struct mpfs_ctl *c);

#endif

/*
 * fuse_ll.h - the FUSE adapter: the only code that sees libfuse.
 */
#ifndef MPFS_FS_FUSE_LL_H
#define MPFS_FS_FUSE_LL_H

#include "fs/config.h"

/* Mount cfg at mountpoint and serve until unmounted or signalled
 * (SIGTERM, SIGINT, SIGHUP unmount cleanly).  status_fd >= 0: write "OK\n"
 * or one error line to it once mounted or failed (the daemonizing parent
 * waits for it).  after_mount, if set, runs once mounted, before serving
 * (the daemon redirects its output there).  Returns the exit code. */
int mpfs_fuse_run(const struct mpfs_config *cfg, const char *mountpoint, int status_fd,
                  void (*after_mount)(const struct mpfs_config *cfg));

#endif

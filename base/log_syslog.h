/*
 * log_syslog.h - the daemon's log lines, also sent to syslog (the journal).
 *
 * A daemonized mpfs writes its full log to <cache_dir>/mpfs.log, where an
 * operator debugging a mount looks; lines at or above a level (warn by
 * default) also go to the node's syslog socket, where a fleet's log
 * collection looks.  The sender is ours, not glibc's syslog(3), for two
 * reasons: the socket path can be set (a container gets the host's
 * /dev/log mounted elsewhere, and the tests listen on their own socket),
 * and a send never blocks: a stalled or absent syslog daemon costs a
 * dropped line, never a stalled FUSE worker.
 *
 * Locking: none of its own; log.c sends under its mutex.  open() may run
 * while other threads log (the level is atomic), but a second open() of
 * another path while lines are being sent is not supported: mpfs opens it
 * once, when the daemon starts logging to its file.
 */
#ifndef MPFS_BASE_LOG_SYSLOG_H
#define MPFS_BASE_LOG_SYSLOG_H

/* Send lines of level <= max_level (enum mpfs_log_level) to the datagram
 * socket at path (RFC 3164 format, facility daemon, tag "mpfs[PID]").  The
 * socket need not exist yet: sends reconnect, at most once a second. */
void mpfs_log_syslog_open(const char *path, int max_level);

/* Is a line of this level sent? */
int mpfs_log_syslog_wants(int level);

/* Send one line; drops it if the socket is missing or full. */
void mpfs_log_syslog_send(int level, const char *line);

/* Name of a syslog level setting: a log level name or "off".  0 or -EINVAL;
 * *max_level is -1 for off. */
int mpfs_log_syslog_level(const char *name, int *max_level);

#endif

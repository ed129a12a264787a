/*
 * log.h - leveled logging to stderr: the terminal in the foreground, the
 * rotated <cache_dir>/mpfs.log once daemonized (logfile.h), and, as a
 * daemon, the lines at or above the syslog level also to syslog
 * (log_syslog.h).  Each call site may log a burst of lines per window; the
 * next line it logs after that carries the count of the ones dropped.
 *
 * The level is checked before any formatting, so debug calls on hot paths
 * cost one load and a branch.  Secrets (keys, signatures) are never passed
 * to these functions: callers redact first.  Thread-safe: one fprintf per
 * line, which stdio locks.
 */
#ifndef MPFS_BASE_LOG_H
#define MPFS_BASE_LOG_H

#include <stdarg.h>

enum mpfs_log_level {
    MPFS_LOG_ERROR = 0,
    MPFS_LOG_WARN = 1,
    MPFS_LOG_INFO = 2,
    MPFS_LOG_DEBUG = 3,
};

extern int mpfs_log_level;

/* Parse "error|warn|info|debug"; returns 0 or -EINVAL. */
int mpfs_log_set_level_name(const char *name);
/* Is name a level name?  0 or -EINVAL; changes nothing. */
int mpfs_log_level_name_ok(const char *name);

void mpfs_log_emit(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define mpfs_log(level, ...)                                                   \
    do {                                                                       \
        if ((level) <= mpfs_log_level)                                         \
            mpfs_log_emit((level), __VA_ARGS__);                               \
    } while (0)

#define mpfs_error(...) mpfs_log(MPFS_LOG_ERROR, __VA_ARGS__)
#define mpfs_warn(...) mpfs_log(MPFS_LOG_WARN, __VA_ARGS__)
#define mpfs_info(...) mpfs_log(MPFS_LOG_INFO, __VA_ARGS__)
#define mpfs_debug(...) mpfs_log(MPFS_LOG_DEBUG, __VA_ARGS__)

#endif

/*
 * logfile.h - where the daemon's log goes and how it is kept small
 * (log.c): a size-capped, rotated file, rate limiting of repeated lines,
 * and shortening of long paths for log lines.
 *
 * Kept apart from log.h so that the few callers that set these up
 * (tools/mpfs.c) or use them (backend wrappers) do not make every file
 * depend on it.
 */
#ifndef MPFS_BASE_LOGFILE_H
#define MPFS_BASE_LOGFILE_H

#include <stddef.h>
#include <stdint.h>

/* Log to path (created 0600, appended), which is also made the process's
 * stderr so library messages land there too.  When it grows past
 * max_bytes it is renamed path.1 (path.1 -> path.2 ... up to keep files)
 * and a new one is started.  Returns 0 or -errno. */
int mpfs_log_to_file(const char *path, uint64_t max_bytes, int keep);

/* Rate limit: a call site (its format string) may log at most `burst`
 * lines per window_ms; the next line it may log says how many were
 * suppressed.  Defaults 10 per 10 s; burst 0 = unlimited.  Debug lines
 * are never limited (they are asked for). */
void mpfs_log_set_rate_limit(int burst, int window_ms);

/* Copy path into buf (size >= 16) shortened in the middle with "..." when
 * it is longer than size - 1, so both its start and its name survive.
 * Returns buf. */
const char *mpfs_log_short(char *buf, size_t size, const char *path);

#endif

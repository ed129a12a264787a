/*
 * util.h - small helpers every layer uses: clocks, dataset-relative paths,
 * checked allocation.
 *
 * Paths inside mpfs are relative to the dataset root, with no leading or
 * trailing slash; the root itself is "".  Backends map them to keys or NFS
 * paths.
 */
#ifndef MPFS_BASE_UTIL_H
#define MPFS_BASE_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define MPFS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MPFS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MPFS_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Monotonic and wall-clock time in nanoseconds. */
int64_t mpfs_now_ns(void);
int64_t mpfs_wall_ns(void);
/* The CLOCK_REALTIME instant ns from now, for pthread_cond_timedwait on a
 * condition variable with the default clock. */
struct timespec mpfs_deadline_in(int64_t ns);

/* Allocation that aborts on failure: out of memory is not an I/O outcome
 * a storage client can recover from meaningfully. */
void *mpfs_xmalloc(size_t n);
void *mpfs_xcalloc(size_t n, size_t size);
void *mpfs_xrealloc(void *p, size_t n);
char *mpfs_xstrdup(const char *s);
char *mpfs_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "a/b" + "c" -> "a/b/c"; "" + "c" -> "c".  Caller frees. */
char *mpfs_path_join(const char *dir, const char *name);
/* Last component of a dataset path ("a/b/c" -> "c", "" -> ""). */
const char *mpfs_path_base(const char *path);
/* A single path component POSIX can show: non-empty, not "." or "..", no
 * '/', no NUL, at most 255 bytes. */
int mpfs_name_is_valid(const char *name, size_t len);

/* Full write/read of a file descriptor; return 0 or -errno. */
int mpfs_write_all(int fd, const void *buf, size_t len, off_t off);
ssize_t mpfs_read_full(int fd, void *buf, size_t len, off_t off);

/* Remove a directory tree (or a file) without following symlinks, going
 * on past failures.  Returns 0, or -errno of the first entry that could
 * not be removed (a missing path is not a failure). */
int mpfs_remove_tree(const char *path);

/* "12.0 MiB": bytes in binary units for people.  Returns buf. */
const char *mpfs_fmt_bytes(char *buf, size_t len, double v);

/* Send all of buf on a socket (no SIGPIPE); 0 or -errno. */
int mpfs_send_all(int fd, const void *buf, size_t len);
/* The loop of a small server thread: wait for a connection on lfd or for
 * stopfd to become readable.  Returns the accepted fd (close-on-exec, with
 * timeout_s receive and send timeouts), or -ECANCELED once stopfd fires. */
int mpfs_accept_until(int lfd, int stopfd, int timeout_s);

/* Write text for a man page: '-' and '\\' escaped, and a leading '.' or
 * '\'' guarded so roff does not take the line for a request. */
void mpfs_fputs_roff(FILE *out, const char *s);

#endif

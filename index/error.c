/*
 * error.c - RocksDB error strings to errno, in one place.
 *
 * The C API reports failures only as the text of rocksdb::Status::ToString():
 * "<code>: <detail>", e.g. "Corruption: CURRENT file does not end with
 * newline" or "IO error: While lock file: /x/LOCK: Resource temporarily
 * unavailable".  For IO errors of the POSIX environment the detail ends in
 * strerror() text, which we match against a fixed table (not strerror(),
 * whose text depends on the locale).
 *
 * Runtime corruption (a checksum failure on a read, long after open) cannot
 * be repaired in place while other threads use the DB, so it is logged once
 * and a REBUILD marker file is written: the next open discards the index.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "index/error.h"
#include "index/index_int.h"

static const struct {
    const char *prefix;
    int err;
} codes[] = {
    {"NotFound", ENOENT},
    {"Corruption", EUCLEAN},
    {"Not implemented", EOPNOTSUPP},
    {"Invalid argument", EINVAL},
    {"Merge in progress", EAGAIN},
    {"Result incomplete", EAGAIN},
    {"Shutdown in progress", ESHUTDOWN},
    {"Operation timed out", ETIMEDOUT},
    {"Operation aborted", ECANCELED},
    {"Resource busy", EBUSY},
    {"Operation expired", ETIMEDOUT},
    {"Operation failed. Try again.", EAGAIN},
};

/* glibc's strerror() texts in the C locale, which RocksDB's posix Env
 * appends to IO errors. */
static const struct {
    const char *text;
    int err;
} io_texts[] = {
    {"No space left on device", ENOSPC},
    {"Disk quota exceeded", EDQUOT},
    {"Permission denied", EACCES},
    {"Operation not permitted", EPERM},
    {"Read-only file system", EROFS},
    {"Not a directory", ENOTDIR},
    {"Is a directory", EISDIR},
    {"No such file or directory", ENOENT},
    {"Too many open files in system", ENFILE}, /* before its prefix */
    {"Too many open files", EMFILE},
    {"Cannot allocate memory", ENOMEM},
    {"File name too long", ENAMETOOLONG},
    {"Too many levels of symbolic links", ELOOP},
    {"File too large", EFBIG},
    {"Input/output error", EIO},
    {"Stale file handle", ESTALE},
};

static int io_errno(const char *msg)
{
    /* The DB's LOCK file is held: by another process ("While lock file:
     * ... Resource temporarily unavailable") or by another handle in this
     * process ("lock hold by current process"). */
    if (strstr(msg, "While lock file") != NULL ||
        strstr(msg, "lock hold by current process") != NULL) {
        return -EBUSY;
    }
    /* IOStatus::NoSpace() words it without a path. */
    if (strstr(msg, "No space") != NULL) {
        return -ENOSPC;
    }
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(io_texts); i++) {
        if (strstr(msg, io_texts[i].text) != NULL) {
            return -io_texts[i].err;
        }
    }
    return -EIO;
}

int mpfs_index_errno(const char *msg)
{
    if (msg == NULL) {
        return 0;
    }
    if (strncmp(msg, "IO error", 8) == 0) {
        return io_errno(msg);
    }
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(codes); i++) {
        size_t n = strlen(codes[i].prefix);
        if (strncmp(msg, codes[i].prefix, n) == 0) {
            return -codes[i].err;
        }
    }
    return -EIO;
}

static void flag_rebuild(struct mpfs_index *idx)
{
    if (atomic_exchange(&idx->corrupt_flagged, 1)) {
        return;
    }
    char *path = mpfs_xasprintf("%s/%s", idx->dir, MPFS_INDEX_REBUILD_FILE);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        mpfs_error("index %s: cannot write %s (%s): it will not be rebuilt "
                   "automatically; remove the directory to rebuild it",
                   idx->dir, path, strerror(errno));
    } else {
        close(fd);
        mpfs_error("index %s: corruption detected; the index will be "
                   "rebuilt at the next mount",
                   idx->dir);
    }
    free(path);
}

int mpfs_index_fail(struct mpfs_index *idx, char *rerr, const char *what)
{
    if (rerr == NULL) {
        return 0;
    }
    int rc = mpfs_index_errno(rerr);
    mpfs_error("index %s: %s failed: %s", idx->dir, what, rerr);
    if (rc == -EUCLEAN) {
        flag_rebuild(idx);
    }
    rocksdb_free(rerr);
    return rc;
}

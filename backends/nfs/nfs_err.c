/*
 * nfs_err.c - the one place libnfs errors become errno.
 *
 * libnfs 4.0 returns a negative errno derived from the NFS status, plus a
 * text (nfs_get_error()) such as
 *   "NFS: LOOKUP of /x failed with NFS3ERR_NOENT(-2)"
 *   "mount_cb: RPC error: Mount failed with error MNT3ERR_ACCES(13) ..."
 *   "nfs_service failed"              (socket closed or reset)
 *   "... command timed out"           (rc -EINTR)
 * The number alone is ambiguous (-EIO is both NFS3ERR_IO and a dead
 * socket; STALE and BADHANDLE collapse to -EIO in some paths; NOTSUPP
 * becomes -EINVAL; a timeout is -EINTR), so the status name in the text
 * wins when present, then the transport patterns, then the number.
 *
 * Pure functions; no state.
 */
#include "backends/nfs/nfs_int.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

struct status_map {
    const char *name;
    int err;
};

/* NFSv3 (RFC 1813 2.6) and MOUNTv3 status names -> errno per backend.h. */
static const struct status_map statuses[] = {
    {"NFS3ERR_PERM", EPERM},
    {"NFS3ERR_NOENT", ENOENT},
    {"NFS3ERR_IO", EIO},
    {"NFS3ERR_NXIO", ENXIO},
    {"NFS3ERR_ACCES", EACCES},
    {"NFS3ERR_EXIST", EEXIST},
    {"NFS3ERR_XDEV", EXDEV},
    {"NFS3ERR_NODEV", ENODEV},
    {"NFS3ERR_NOTDIR", ENOTDIR},
    {"NFS3ERR_ISDIR", EISDIR},
    {"NFS3ERR_INVAL", EINVAL},
    {"NFS3ERR_FBIG", EFBIG},
    {"NFS3ERR_NOSPC", ENOSPC},
    {"NFS3ERR_ROFS", EROFS},
    {"NFS3ERR_MLINK", EMLINK},
    {"NFS3ERR_NAMETOOLONG", ENAMETOOLONG},
    {"NFS3ERR_NOTEMPTY", ENOTEMPTY},
    {"NFS3ERR_DQUOT", EDQUOT},
    {"NFS3ERR_STALE", ESTALE},
    {"NFS3ERR_REMOTE", EREMOTE},
    {"NFS3ERR_BADHANDLE", ESTALE},
    {"NFS3ERR_NOT_SYNC", EIO},
    {"NFS3ERR_BAD_COOKIE", EAGAIN}, /* directory changed under a listing */
    {"NFS3ERR_NOTSUPP", EOPNOTSUPP},
    {"NFS3ERR_TOOSMALL", EIO},
    {"NFS3ERR_SERVERFAULT", EIO},
    {"NFS3ERR_BADTYPE", EOPNOTSUPP},
    {"NFS3ERR_JUKEBOX", EAGAIN},
    {"MNT3ERR_PERM", EPERM},
    {"MNT3ERR_NOENT", ENOENT},
    {"MNT3ERR_IO", EIO},
    {"MNT3ERR_ACCES", EACCES},
    {"MNT3ERR_NOTDIR", ENOTDIR},
    {"MNT3ERR_INVAL", EINVAL},
    {"MNT3ERR_NAMETOOLONG", ENAMETOOLONG},
    {"MNT3ERR_NOTSUPP", EOPNOTSUPP},
    {"MNT3ERR_SERVERFAULT", EIO},
};

/* Text that means the connection, not the file system, failed. */
static const char *const transport_text[] = {
    "nfs_service failed", "rpc_service failed",
    "Socket closed",      "socket closed",
    "Poll failed",        "Connection refused",
    "Connection reset",   "Broken pipe",
    "Failed to connect",  "Failed to start connection",
    "connection lost",    "reconnect",
    "No route to host",   "Network is unreachable",
};

static int is_word_char(int c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* The errno of the first NFS3ERR_ / MNT3ERR_ name in msg, or 0. */
static int status_from_text(const char *msg)
{
    for (const char *p = msg; (p = strstr(p, "3ERR_")) != NULL; p++) {
        if (p - msg < 3) {
            continue;
        }
        const char *w = p - 3; /* "NFS" or "MNT" */
        size_t len = 0;
        while (is_word_char(w[len])) {
            len++;
        }
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
            if (strlen(statuses[i].name) == len &&
                strncmp(statuses[i].name, w, len) == 0) {
                return -statuses[i].err;
            }
        }
    }
    return 0;
}

static int is_timeout_text(const char *msg)
{
    return strstr(msg, "timed out") != NULL || strstr(msg, "timeout") != NULL;
}

int mpfs_nfs_err_is_transport(int rc, const char *msg)
{
    if (rc >= 0) {
        return 0;
    }
    if (!msg) {
        msg = "";
    }
    if (status_from_text(msg) != 0) {
        return 0; /* the server answered with a status */
    }
    if (is_timeout_text(msg)) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(transport_text) / sizeof(transport_text[0]); i++) {
        if (strstr(msg, transport_text[i])) {
            return 1;
        }
    }
    return mpfs_nfs_errno_is_conn(rc);
}

int mpfs_nfs_errno_is_conn(int rc)
{
    switch (-rc) {
    case ENOTCONN:
    case ECONNRESET:
    case ECONNREFUSED:
    case ECONNABORTED:
    case EPIPE:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
        return 1;
    default:
        return 0;
    }
}

int mpfs_nfs_err_map(int rc, const char *msg)
{
    if (rc >= 0) {
        return 0;
    }
    if (!msg) {
        msg = "";
    }
    int st = status_from_text(msg);
    if (st != 0) {
        return st;
    }
    if (is_timeout_text(msg)) {
        return -ETIMEDOUT;
    }
    if (strstr(msg, "Connection refused")) {
        return -ECONNREFUSED;
    }
    if (strstr(msg, "No route to host")) {
        return -EHOSTUNREACH;
    }
    if (strstr(msg, "Network is unreachable")) {
        return -ENETUNREACH;
    }
    if (mpfs_nfs_err_is_transport(rc, msg)) {
        return -ENOTCONN;
    }
    if (rc == -1 || rc < -4095) {
        /* libnfs returns a bare -1 when it could not even queue a call
         * (out of memory, bad arguments, no socket). */
        return -EIO;
    }
    if (rc == -EINTR) {
        /* libnfs 4.0 reports RPC timeouts as -EINTR; nothing else in a
         * synchronous call is interrupted. */
        return -ETIMEDOUT;
    }
    return rc;
}

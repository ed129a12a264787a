/*
 * test_nfs_err.c - libnfs status + text -> errno, and the transport
 * verdict that decides reconnect-and-retry.  The strings are the ones
 * libnfs 4.0 produced against this store (ganesha 4.3).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backends/nfs/nfs_int.h"

static void test_status_names(void **state)
{
    assert_int_equal(mpfs_nfs_err_map(-2, "stat call failed with \"NFS: Lookup of /ee/f "
                                          "failed with NFS3ERR_NOENT(-2)\""),
                     -ENOENT);
    assert_int_equal(
        mpfs_nfs_err_map(-17, "NFS: MKDIR of /ee failed with NFS3ERR_EXIST(-17)"),
        -EEXIST);
    assert_int_equal(
        mpfs_nfs_err_map(-39, "NFS: RMDIR of /ee failed with NFS3ERR_NOTEMPTY(-39)"),
        -ENOTEMPTY);
    assert_int_equal(
        mpfs_nfs_err_map(-21, "NFS: REMOVE of /d failed with NFS3ERR_ISDIR(-21)"),
        -EISDIR);
    assert_int_equal(
        mpfs_nfs_err_map(-20, "NFS: READDIRPLUS of /g failed with NFS3ERR_NOTDIR(-20)"),
        -ENOTDIR);
    assert_int_equal(
        mpfs_nfs_err_map(-1, "NFS: RENAME a -> b failed with NFS3ERR_PERM(-1)"), -EPERM);
    /* libnfs collapses these; the text keeps them apart */
    assert_int_equal(
        mpfs_nfs_err_map(-22, "NFS: SYMLINK s -> t failed with NFS3ERR_NOTSUPP(-22)"),
        -EOPNOTSUPP);
    assert_int_equal(mpfs_nfs_err_map(-5, "NFS: READ failed with NFS3ERR_STALE(-70)"),
                     -ESTALE);
    assert_int_equal(mpfs_nfs_err_map(-5, "NFS: GETATTR failed with NFS3ERR_BADHANDLE"),
                     -ESTALE);
    assert_int_equal(mpfs_nfs_err_map(-5, "NFS3ERR_SERVERFAULT"), -EIO);
    assert_int_equal(mpfs_nfs_err_map(-11, "NFS3ERR_JUKEBOX"), -EAGAIN);
    assert_int_equal(mpfs_nfs_err_map(-69, "NFS3ERR_DQUOT"), -EDQUOT);
    assert_int_equal(mpfs_nfs_err_map(-30, "NFS3ERR_ROFS"), -EROFS);
    assert_int_equal(mpfs_nfs_err_map(-5, "NFS3ERR_IO"), -EIO);
    /* a longer name that shares a prefix is not confused with a shorter */
    assert_int_equal(mpfs_nfs_err_map(-5, "NFS3ERR_NOT_SYNC"), -EIO);
    assert_int_equal(mpfs_nfs_err_map(-5, "NFS3ERR_NOTSUPP"), -EOPNOTSUPP);
    /* mount status */
    assert_int_equal(mpfs_nfs_err_map(-13, "mount_cb: RPC error: Mount failed with error "
                                           "MNT3ERR_ACCES(13) Permission denied(13)"),
                     -EACCES);
    assert_int_equal(mpfs_nfs_err_map(-2, "MNT3ERR_NOENT"), -ENOENT);
}

static void test_transport(void **state)
{
    assert_int_equal(mpfs_nfs_err_map(-5, "nfs_service failed"), -ENOTCONN);
    assert_true(mpfs_nfs_err_is_transport(-5, "nfs_service failed"));
    assert_int_equal(mpfs_nfs_err_map(-4, "mount_cb: command timed out"), -ETIMEDOUT);
    assert_true(mpfs_nfs_err_is_transport(-4, "mount_cb: command timed out"));
    /* libnfs reports a timeout as -EINTR even without text */
    assert_int_equal(mpfs_nfs_err_map(-EINTR, ""), -ETIMEDOUT);
    assert_int_equal(mpfs_nfs_err_map(-5, "Socket closed"), -ENOTCONN);
    assert_true(
        mpfs_nfs_err_is_transport(-1, "Failed to start connection. Connection refused"));
    assert_int_equal(mpfs_nfs_err_map(-1, "connect: Connection refused"), -ECONNREFUSED);
    assert_int_equal(mpfs_nfs_err_map(-1, "No route to host"), -EHOSTUNREACH);
    assert_true(mpfs_nfs_err_is_transport(-ECONNRESET, ""));
    assert_true(mpfs_nfs_err_is_transport(-EPIPE, NULL));

    /* an answered status is never a transport failure */
    assert_false(mpfs_nfs_err_is_transport(-5, "NFS3ERR_IO"));
    assert_false(mpfs_nfs_err_is_transport(-2, "NFS3ERR_NOENT"));
    assert_false(mpfs_nfs_err_is_transport(-13, "MNT3ERR_ACCES"));
    assert_false(mpfs_nfs_err_is_transport(0, "nfs_service failed"));
    /* the RGW view's refusal of an in-place write: -EFAULT and no text */
    assert_false(mpfs_nfs_err_is_transport(-EFAULT, ""));
}

static void test_numbers(void **state)
{
    assert_int_equal(mpfs_nfs_err_map(0, "anything"), 0);
    assert_int_equal(mpfs_nfs_err_map(-ENOENT, NULL), -ENOENT);
    assert_int_equal(mpfs_nfs_err_map(-EACCES, ""), -EACCES);
    /* a bare -1 (could not queue) is an I/O error, not EPERM */
    assert_int_equal(mpfs_nfs_err_map(-1, "nfs_pwrite_async failed"), -EIO);
    assert_int_equal(mpfs_nfs_err_map(-100000, ""), -EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

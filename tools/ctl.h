/*
 * ctl.h - the client side of the control channel (fs/ctl.h): `mpfs ctl`.
 */
#ifndef MPFS_TOOLS_CTL_H
#define MPFS_TOOLS_CTL_H

#include <stddef.h>

/* `mpfs ctl MOUNTPOINT COMMAND [ARGS]`: argv[0] is "ctl".  Returns the
 * exit status. */
int mpfs_ctl_main(int argc, char **argv);

/* Send one request line to the daemon serving mountpoint.  On success the
 * output lines (without the final OK) are returned in *out (caller frees)
 * and 0; on an ERR answer or a transport failure, -errno and the message
 * in err. */
int mpfs_ctl_request(const char *mountpoint, const char *request, char **out, char *err,
                     size_t errlen);

#endif

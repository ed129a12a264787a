/*
 * sides.h - opening the configured S3 and NFS sides (used by the mount
 * and by `mpfs probe`, so both report the same errors the same way).
 */
#ifndef MPFS_FS_SIDES_H
#define MPFS_FS_SIDES_H

#include "backends/backend.h"
#include "fs/config.h"

/* Opens the sides cfg->mode asks for; the other pointer stays NULL.
 * On failure closes what it opened, returns -errno and a message. */
int mpfs_sides_open(const struct mpfs_config *cfg, struct mpfs_backend **s3,
                    struct mpfs_backend **nfs, char *err, size_t errlen);

#endif

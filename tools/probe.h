/*
 * probe.h - `mpfs probe`: connect to the configured sides and print each
 * backend's capabilities and measured costs (time to first byte, 1 MiB
 * read, 1,000-entry listing) and the routing table they lead to.
 */
#ifndef MPFS_TOOLS_PROBE_H
#define MPFS_TOOLS_PROBE_H

#include "fs/config.h"

int mpfs_probe_run(const struct mpfs_config *cfg);

#endif

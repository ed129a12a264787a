/*
 * stats.h - `mpfs stats`: the client of the control channel's "stats".
 */
#ifndef MPFS_TOOLS_STATS_H
#define MPFS_TOOLS_STATS_H

/* argv[0] is "stats".  Returns the exit status. */
int mpfs_stats_main(int argc, char **argv);

#endif

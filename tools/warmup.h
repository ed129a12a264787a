/*
 * warmup.h - `mpfs warmup`: prefetch files or trees into the block cache.
 */
#ifndef MPFS_TOOLS_WARMUP_H
#define MPFS_TOOLS_WARMUP_H

/* argv[0] is "warmup".  Returns the exit status (3: does not fit). */
int mpfs_warmup_main(int argc, char **argv);

#endif

/*
 * test_index_util.h - helpers shared by the index tests and benchmark:
 * scratch directories, entry builders, capturing the log.
 */
#ifndef MPFS_TEST_INDEX_UTIL_H
#define MPFS_TEST_INDEX_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "index/index.h"

/* A fresh directory under $TMPDIR (or /tmp); caller frees the string and
 * removes the tree with tix_rm_rf(). */
char *tix_mkdtemp(void);
void tix_rm_rf(const char *path);

/* A plausible regular-file entry (or directory if dir) with ino and a
 * version token derived from `seed`. */
struct mpfs_index_entry tix_entry(uint64_t ino, uint64_t seed, int dir);

/* Send stderr (the log) to a temp file until tix_capture_end(), which
 * returns what was written (caller frees). */
void tix_capture_begin(void);
char *tix_capture_end(void);

/* Count directory entries of `dir` whose name starts with prefix. */
int tix_count_prefix(const char *dir, const char *prefix);

#endif

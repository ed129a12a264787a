/*
 * test_index_disk.h - cmocka helpers for the index tests that work on the
 * files of an index: a scratch-directory fixture, opening with an expected
 * outcome, filling, damaging files under dir/db, and checking a rebuild.
 */
#ifndef MPFS_TEST_INDEX_DISK_H
#define MPFS_TEST_INDEX_DISK_H

#include <stddef.h>
#include <stdint.h>

#include "index/index.h"

#define NFILL 500 /* entries tix_fill() puts under directory 1 */

struct fixture {
    char *dir; /* a fresh scratch directory, removed by teardown */
};

int tix_setup(void **state);
int tix_teardown(void **state);

/* Open dir, failing the test unless it opens with *rebuilt == want. */
struct mpfs_index *tix_open_ok(const char *dir, int want_rebuilt, char *err,
                               size_t errlen);
/* NFILL entries f00000.. under directory 1, inodes 10... */
void tix_fill(struct mpfs_index *idx);
/* Number of entries listed in dir, or the listing's -errno. */
int tix_count(struct mpfs_index *idx, uint64_t dir);
/* A closed (so flushed to a table file) index of NFILL entries. */
void tix_make_index(const char *dir);
/* Overwrite len bytes at off (off < 0: from the end) of every file
 * matching dir/db/<pattern>, or truncate it to half if len == 0.
 * Returns how many files. */
int tix_damage(const char *dir, const char *pattern, long off, size_t len);
/* The next open must rebuild, say `why` in err, warn in the log, and
 * give a usable index that the open after keeps. */
void tix_assert_rebuilt_after_damage(const char *dir, const char *why);

#endif

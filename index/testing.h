/*
 * testing.h - hooks for the index's own tests (internal).  They poke at
 * the database below the API to simulate states a real deployment meets:
 * an index written by another schema version, a record from the future.
 */
#ifndef MPFS_INDEX_TESTING_H
#define MPFS_INDEX_TESTING_H

#include <stddef.h>

#include "index/index.h"

/* Write raw bytes at raw key `key` (synced).  0 or -errno. */
int mpfs_index_testing_put_raw(struct mpfs_index *idx, const void *key,
                               size_t klen, const void *val, size_t vlen);

#endif

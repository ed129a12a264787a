/*
 * testing.c - see testing.h.  Never called by product code.
 */
#include "index/testing.h"

#include "index/index_int.h"

int mpfs_index_testing_put_raw(struct mpfs_index *idx, const void *key,
                               size_t klen, const void *val, size_t vlen)
{
    char *rerr = NULL;
    rocksdb_put(idx->db, idx->wopts_sync, key, klen, val, vlen, &rerr);
    return mpfs_index_fail(idx, rerr, "testing put");
}

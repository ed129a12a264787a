/*
 * upload.h - the journaled progress of a multipart commit.
 *
 * A large file is committed as a multipart upload (every checkpoint over
 * 32 MiB on radosgw).  Its progress (struct mpfs_put_progress: the upload
 * id, the object, and the ETag of each part on the store) is kept synced
 * in the index under the file's journal id, beside its journal record
 * (journal.h), from the moment the upload exists until the commit ends.
 * After a crash the replay of the journal record hands the progress back
 * to the backend, which reuses the parts still valid instead of sending
 * the whole file again, and aborts an upload it cannot reuse: nothing is
 * uploaded twice, no orphaned parts stay billed.
 *
 * Thread safety: save() is called by the backend one call at a time per
 * upload; the functions are otherwise stateless.
 */
#ifndef MPFS_CONSISTENCY_UPLOAD_H
#define MPFS_CONSISTENCY_UPLOAD_H

#include "backends/backend.h"
#include "index/index.h"

#include <stddef.h>
#include <stdint.h>

/* Set p up to be kept under id: p->save writes every update to the index. */
struct mpfs_upload_keeper {
    struct mpfs_index *idx;
    uint64_t id;
    int saved; /* out: something was written under id */
};
void mpfs_upload_track(struct mpfs_put_progress *p, struct mpfs_upload_keeper *k);

/* Fill p with the progress kept under id: 0, -ENOENT (none) or -EINVAL
 * (unreadable: logged, and forgotten). */
int mpfs_upload_load(struct mpfs_index *idx, uint64_t id, struct mpfs_put_progress *p);

/* The commit ended (done, or given up and aborted): forget its progress. */
int mpfs_upload_forget(struct mpfs_index *idx, uint64_t id);

/* Encoding, exposed for unit tests: encode returns the length needed
 * (written only if it fits cap); decode returns 0 or -EINVAL and
 * allocates p->etags. */
size_t mpfs_upload_encode(const struct mpfs_put_progress *p, char *buf, size_t cap);
int mpfs_upload_decode(const char *buf, size_t len, struct mpfs_put_progress *p);

#endif

/*
 * fs_fixture.h - a struct mpfs_fs over in-memory backends, for unit tests
 * of the fs core without a mount or a server.
 */
#ifndef MPFS_TESTS_FS_FIXTURE_H
#define MPFS_TESTS_FS_FIXTURE_H

#include "backends/backend.h"
#include "fs/config.h"
#include "fs/vfs.h"

struct fixture {
    struct mpfs_config cfg;
    struct mpfs_fs *fs;
    struct mpfs_backend *s3;  /* the in-memory stores; the fs gets wrappers */
    struct mpfs_backend *nfs;
    /* fault wrappers around s3 / nfs: what the fs really talks to, so a
     * test can inject errors with mpfs_fault_add() */
    struct mpfs_backend *s3f, *nfsf;
    char dir[64];
};

/* mode: "s3" (mem S3-like), "nfs" (mem POSIX-like), "dual" (both, the
 * POSIX side then being a separate store: only routing is exercised) or
 * "dualview" (dual mode over one in-memory dataset seen as an S3 view and a
 * POSIX NFS view with their own version tokens: the ONTAP/VAST case) or
 * "s3versioned" (s3 over a bucket with versioning: MPFS_CAP_VERSION_CHAIN;
 * see mpfs_mem_ignore_conditions()). */
struct fixture *fixture_new(const char *mode, const char *extra_opts);
void fixture_free(struct fixture *f);
/* Remount: close the fs (keeping the cache dir and backends' data) and
 * build a new one over the same backends. */
void fixture_remount(struct fixture *f);
/* A crash (kill -9) and a new mount over the same cache dir: nothing is
 * committed or rescued on the way down; staging files, journal and index
 * stay as they are. */
void fixture_crash_remount(struct fixture *f);

/* Helpers over the vfs: path-based, for brevity in tests. */
int fx_lookup_path(struct fixture *f, const char *path, struct mpfs_entry *e);
int fx_write_file(struct fixture *f, const char *path, const void *data, size_t len);
ssize_t fx_read_file(struct fixture *f, const char *path, void *buf, size_t size);
/* Sorted "name/" (dir) or "name" (other) entries of a directory, joined
 * by '\n'; caller frees. */
char *fx_list(struct fixture *f, const char *path);

#endif

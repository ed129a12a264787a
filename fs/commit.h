/*
 * commit.h - put one file's staged content on the store, with the
 * conflict rule.  Knows nothing of nodes, handles or locks: the open-file
 * path (file.c) and the journal replay (writeback.c) both call it.
 *
 * The rule (consistency/conflict.h): the content goes up with a
 * precondition, If-None-Match for a file new here (or recreated after a
 * remote delete), If-Match on the version the edit started from otherwise.
 * A failed precondition means someone else wrote the name meanwhile: their
 * version keeps the name, ours is put beside it under a conflict name, and
 * from then on this staged file belongs to that conflict name (the caller
 * keeps req->conflict_path and passes it back), so a later flush never
 * overwrites the other writer's version.
 */
#ifndef MPFS_FS_COMMIT_H
#define MPFS_FS_COMMIT_H

#include "backends/backend.h"

#include <stdint.h>

struct mpfs_fs;

struct mpfs_commit_req {
    const char *path;         /* the file's name on the store */
    int fd;                   /* staging file: the complete new content */
    uint64_t size;
    const char *base_version; /* precondition; "" or NULL = none known */
    int base_side;            /* enum mpfs_side that issued base_version (0 = the target's) */
    int is_new;               /* the name must not exist */
    const char *conflict_path; /* non-NULL: our data already lives there */
    /* in-place commit (NFS on a POSIX export): only this range changed */
    int in_place_ok;
    uint64_t dirty_lo, dirty_hi;
    int shrunk;
    /* metadata: a whole-object put stores attr_set of attr (the complete
     * s3fs set); an in-place commit sets only changed_set */
    struct mpfs_attr attr;
    uint32_t attr_set;
    uint32_t changed_set;
    /* replaying a journal after a crash: an object that already holds
     * exactly our bytes is our own earlier commit, not a conflict */
    int replay;
    /* the file's journal id (its inode): a multipart upload's progress is
     * kept under it, so a commit cut short by a crash resumes (0: none) */
    uint64_t journal_id;
};

struct mpfs_commit_result {
    struct mpfs_attr attr;         /* of the object written */
    struct mpfs_backend *backend;  /* the side that took it */
    char *conflict_path;           /* set (caller frees) when ours went there */
    const char *path;              /* where the data went (req path or conflict) */
};

/* 0 or -errno (the backend's error; nothing is retried here). */
int mpfs_commit_run(struct mpfs_fs *fs, const struct mpfs_commit_req *req,
                    struct mpfs_commit_result *res);

/* Errors no retry can fix: the data must be rescued instead. */
int mpfs_commit_error_is_permanent(int rc);

#endif

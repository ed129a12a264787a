/*
 * conformance.h - the backend conformance suite: one set of cmocka tests
 * that any struct mpfs_backend must pass, run through the
 * mpfs_backend_*() wrappers only.
 *
 * Where backends legitimately differ, the suite reads the capability bits
 * (and the namespace model, below) and asserts the behaviour each one
 * declares: a backend without MPFS_CAP_PWRITE must refuse pwrite and leave
 * the file alone, one with it must write in place.  Nothing is skipped.
 *
 * The backend handed in must be rooted in an empty scratch area the suite
 * may fill (each test works in its own subdirectory named after the test);
 * the caller removes it afterwards (mpfs_conformance_rm_rf()).
 */
#ifndef MPFS_TESTS_CONFORMANCE_H
#define MPFS_TESTS_CONFORMANCE_H

#include "backends/backend.h"

struct mpfs_conformance_target {
    const char *name;       /* for messages: "mem-s3", "s3", "nfs" ... */
    struct mpfs_backend *b; /* the backend under test, rooted in scratch */
    /* Key namespace (S3 and S3-like): objects may be created under missing
     * parents, directories are implied by keys and vanish with the last
     * one, an empty directory needs a marker.  Otherwise a tree: parents
     * must exist.  No capability bit says this; the backend kind does. */
    int flat;
    /* A tree (flat == 0) whose creates make missing parents, which then
     * stay: the S3 side of a POSIX multiprotocol store (VAST, ONTAP NAS
     * buckets), and the in-memory dual store's S3 view. */
    int auto_parents;
    /* Lazy-commit retry pace in ms (0: 1000, what a real committing store
     * can take); faster only for fakes that simulate the window. */
    int settle_step_ms;
    /* cmocka pattern of tests not to run at all, or NULL: only for a store
     * a test is known to crash (say why where it is set). */
    const char *skip;
};

/* Is b's namespace flat?  (kind "s3", or "mem" without MPFS_CAP_PWRITE;
 * fault wrappers are looked through.) */
int mpfs_conformance_is_flat(struct mpfs_backend *b);

/* Does b make missing parents on create?  (The mem dual store's S3 view;
 * fault wrappers are looked through.) */
int mpfs_conformance_auto_parents(struct mpfs_backend *b);

/* Runs the suite; filter is a cmocka test-name pattern or NULL.  Returns
 * the number of failed tests. */
int mpfs_conformance_run(const struct mpfs_conformance_target *t, const char *filter);

/* Removes everything under dir ("" = the whole backend), depth first.
 * Returns 0 or the first error (and keeps going). */
int mpfs_conformance_rm_rf(struct mpfs_backend *b, const char *dir);

#endif

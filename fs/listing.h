/*
 * listing.h - namespace mapping: a backend's raw listing -> POSIX entries.
 *
 * S3 keys can be anything; a POSIX directory cannot.  The rules (also in
 * docs/SEMANTICS.md, and checked against a reference model in
 * tests/unit/test_namespace.c):
 *  - a name that is empty (key "a//b" seen from "a"), "." or "..", longer
 *    than 255 bytes, or holds a NUL is hidden and counted; the mount never
 *    reaches outside its root because such names are never looked up;
 *  - non-UTF-8 names are shown as their bytes (Linux names are bytes);
 *  - when a file "foo" and a directory "foo/" (prefix or marker) both
 *    exist, the directory wins and the file is hidden and counted;
 *  - the same name reported twice with the same type is one entry.
 * Hidden names are logged once per listing with a count and an example.
 */
#ifndef MPFS_FS_LISTING_H
#define MPFS_FS_LISTING_H

#include "backends/backend.h"

#include <stddef.h>
#include <stdint.h>

struct mpfs_listing_entry {
    char *name;
    struct mpfs_attr attr;
    int attr_full;
};

struct mpfs_listing {
    struct mpfs_listing_entry *v;
    size_t n, cap;
    size_t hidden_invalid;  /* names POSIX cannot show */
    size_t hidden_shadowed; /* files shadowed by a same-named directory */
    char example[64];       /* one hidden name, escaped, for the log */
    int64_t started_ns;     /* wall time the backend listing began (set by
                               init; a listing knows nothing confirmed later) */
};

void mpfs_listing_init(struct mpfs_listing *l);
void mpfs_listing_free(struct mpfs_listing *l);
/* An mpfs_list_fn: arg is the struct mpfs_listing. */
int mpfs_listing_add(void *arg, const char *name, size_t len, const struct mpfs_attr *attr,
                     int attr_full);
/* Sort by name and apply the dedupe rules.  Afterwards v[0..n) are the
 * visible entries, unique and sorted. */
void mpfs_listing_finish(struct mpfs_listing *l);
/* Binary search in a finished listing; NULL if absent. */
const struct mpfs_listing_entry *mpfs_listing_find(const struct mpfs_listing *l,
                                                   const char *name);

#endif

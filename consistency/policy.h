/*
 * policy.h - how long mpfs may trust what it has seen, per path prefix.
 *
 * The consistency rules in one place: attribute, directory-listing and
 * negative-entry lifetimes, close-to-open revalidation, and per-prefix
 * overrides ("an immutable dataset prefix can be cached forever; a
 * checkpoint prefix stays fresh").  Everything above asks this module
 * "is this still fresh?" instead of comparing clocks itself.
 *
 * Times are nanoseconds.  Ages are measured on the wall clock because the
 * index persists "last confirmed" stamps across remounts.
 *
 * Directory listings use stale-while-revalidate: a listing younger than
 * dir_ttl is served as is; one younger than dir_stale is served and
 * refreshed in the background; an older one is refreshed before it is
 * served.  This keeps `ls` fast after a remount while a changed directory
 * converges within one extra listing.
 *
 * Thread safety: a policy set is built once at mount and read-only after.
 */
#ifndef MPFS_CONSISTENCY_POLICY_H
#define MPFS_CONSISTENCY_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct mpfs_policy {
    int64_t attr_ttl;   /* trust cached attributes of an entry this long */
    int64_t dir_ttl;    /* a listing younger than this is served as is */
    int64_t dir_stale;  /* ... younger than this is served + refreshed in background */
    int64_t neg_ttl;    /* a name missing from a listing this young is absent */
    int64_t reconciled_ttl; /* trust entries of a directory re-listed by the reconciler
                               this recently (0: never; see mpfs_policy_attr_fresh_in) */
    int cto;            /* close-to-open: revalidate the version on open */
    int immutable;      /* never revalidate (dataset prefix known not to change) */
};

#define MPFS_POLICY_MAX_RULES 32

struct mpfs_policy_set {
    struct mpfs_policy base;
    int nrules;
    struct {
        char *prefix;             /* dataset-relative, no trailing '/' */
        struct mpfs_policy policy;
    } rules[MPFS_POLICY_MAX_RULES];
};

void mpfs_policy_defaults(struct mpfs_policy *p);
/* Add rules from a spec like "datasets/imagenet:immutable;ckpt:fresh".
 * Kinds: immutable (cached forever), fresh (every TTL 0: always revalidate).
 * Returns 0 or -EINVAL (message in err). */
int mpfs_policy_parse_rules(struct mpfs_policy_set *set, const char *spec, char *err,
                            size_t errlen);
void mpfs_policy_set_free(struct mpfs_policy_set *set);
/* The policy for a dataset path: the longest matching rule prefix wins. */
const struct mpfs_policy *mpfs_policy_for(const struct mpfs_policy_set *set,
                                          const char *path);

enum mpfs_dir_freshness {
    MPFS_DIR_FRESH = 0,    /* serve the stored listing */
    MPFS_DIR_STALE_OK = 1, /* serve it and refresh in the background */
    MPFS_DIR_EXPIRED = 2,  /* refresh before serving */
};
/* listed_ns: wall time of the last complete listing, 0 = never. */
enum mpfs_dir_freshness mpfs_policy_dir_state(const struct mpfs_policy *p,
                                              int64_t listed_ns, int64_t now_wall);
/* Is an entry confirmed at seen_ns still trustworthy? */
int mpfs_policy_attr_fresh(const struct mpfs_policy *p, int64_t seen_ns, int64_t now_wall);
/* The getattr/lookup rule: is an entry confirmed at seen_ns, in a directory
 * the reconciler last re-listed at reconciled_ns (0 = not watched), still
 * trustworthy?  Either the entry itself is young (attr_ttl), or the
 * reconciler watches its directory and has re-listed it within
 * reconciled_ttl: a listing confirms every entry in it, and the reconciler
 * re-lists a recently used directory every reconcile_interval, so the
 * entry's staleness is bounded by that walk, not by attr_ttl, and a stat
 * costs no HEAD.  Should the reconciler fall behind (budget, store errors)
 * past reconciled_ttl, the attr_ttl rule alone applies again. */
int mpfs_policy_attr_fresh_in(const struct mpfs_policy *p, int64_t seen_ns,
                              int64_t reconciled_ns, int64_t now_wall);
/* May a name absent from a listing taken at listed_ns be reported absent
 * without asking the backend? */
int mpfs_policy_negative_fresh(const struct mpfs_policy *p, int64_t listed_ns,
                               int64_t now_wall);

/* Close-to-open: must open() confirm the version of a file whose
 * attributes were confirmed at seen_ns?  Not under an immutable prefix or
 * with cto off, nor within MPFS_POLICY_CTO_GRACE_NS of a confirmation (the
 * kernel sends a lookup right before the open).  The caller skips it for
 * a file whose own staged data is the truth. */
#define MPFS_POLICY_CTO_GRACE_NS 200000000LL
int mpfs_policy_open_revalidate(const struct mpfs_policy *p, int64_t seen_ns, int64_t now_wall);

/* How open() keeps close-to-open.  A version must be confirmed by a store
 * request made after the open began; it need not be a HEAD of its own.
 * When the handle's first read is bound to be a fetch from the store,
 * pinned to the version (S3 If-Match: 412 if it changed), that fetch is
 * the confirmation: a cold file then costs one GET, not a HEAD and a GET.
 * The caller says whether that holds (fetch_confirms): the kernel keeps
 * no pages of the file across this open (so every read reaches mpfs), the
 * side that issued the version fails pinned reads of another version, and
 * the handle's first read will be made to fetch (cache/reader.h
 * mpfs_reader_fetch_first).  A first fetch that finds another version
 * re-reads the attributes and re-pins the handle before serving. */
enum mpfs_open_check {
    MPFS_OPEN_TRUST = 0,    /* no confirmation (immutable, cto off, just confirmed) */
    MPFS_OPEN_CONFIRM = 1,  /* confirm the version before open returns (HEAD/GETATTR) */
    MPFS_OPEN_BY_FETCH = 2, /* the handle's first fetch, pinned, confirms it */
};
enum mpfs_open_check mpfs_policy_open_check(const struct mpfs_policy *p, int64_t seen_ns,
                                            int64_t now_wall, int fetch_confirms);

#endif

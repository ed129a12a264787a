/*
 * version.h - version tokens per side, and what a pinned read may send where.
 *
 * Each side names a version its own way: S3 an ETag (an MD5 on radosgw and
 * AWS for single PUTs, an opaque string on VAST, PowerScale and for
 * multipart uploads); NFSv3 "m<mtime>.c<ctime>.s<size>" from its
 * attributes.  A token is only meaningful to the side that issued it: an
 * NFS token sent to S3 as If-Match is a guaranteed 412.
 *
 * An open handle is pinned to one version (struct mpfs_pin): the token of
 * the side that told us about it (the metadata authority, or the side that
 * took our commit), plus the size and mtime learned with it.  When the data
 * path goes to the other side, the pin is translated once: that side's
 * attributes are read and, if they describe the same content (same size,
 * mtimes within MPFS_PIN_MTIME_SLACK where both sides report one), its
 * token is remembered and sent from then on; if not (the other side lags
 * or leads), reads stay on the issuing side.  So a read never carries a
 * token to a side that did not issue it, and never returns bytes of a
 * version other than the pinned one.
 *
 * Thread safety: a pin is owned by one handle; mpfs_pin_token_for() may
 * learn (write) the other side's token, so callers serialize on the pin
 * (the handle's lock).
 */
#ifndef MPFS_CONSISTENCY_VERSION_H
#define MPFS_CONSISTENCY_VERSION_H

#include "backends/backend.h"

#include <stdint.h>

/* Two version tokens name the same content: both known and equal. */
int mpfs_version_same(const char *a, const char *b);

/* S3 LastModified and NFS mtime of one file can differ by clock rounding. */
#define MPFS_PIN_MTIME_SLACK_NS (2LL * 1000000000LL)

/* The sides (same numbering as the index's entry source). */
enum mpfs_side { MPFS_SIDE_NONE = 0, MPFS_SIDE_S3 = 1, MPFS_SIDE_NFS = 2 };

struct mpfs_pin {
    int side;                      /* enum mpfs_side that issued token */
    char token[MPFS_VERSION_MAX];  /* "" = nothing to pin to (new file) */
    uint64_t size;
    int64_t mtime_ns;              /* 0 = unknown */
    int other;                     /* 0 not tried, 1 learned, -1 not the same content */
    char other_token[MPFS_VERSION_MAX];
};

void mpfs_pin_init(struct mpfs_pin *p, int side, const struct mpfs_attr *a);
/* Do the other side's attributes `seen` describe the pinned content? */
int mpfs_pin_matches(const struct mpfs_pin *p, const struct mpfs_attr *seen);
/* Remember the other side's view (its attributes from a stat). */
void mpfs_pin_learn(struct mpfs_pin *p, const struct mpfs_attr *seen);
/* The token to send to `side`: the pin's own, the learned one, or NULL if
 * that side has not been (successfully) translated yet. */
const char *mpfs_pin_token_for(const struct mpfs_pin *p, int side);

#endif

/*
 * fault.h - a backend that wraps another and injects faults on demand.
 *
 * mpfs_fault_new(inner) forwards every slot to inner (kind "fault", caps
 * and io_size are inner's) and consults a list of rules before each call.
 * A rule matches calls by operation (a mask of MPFS_FAULT_OP_*) and an
 * optional path substring, lets the first `after` matching calls through,
 * then fires on the next `count` (or all, with -1).  What it does when it
 * fires is a mask of actions, applied in this order:
 *
 *   MPFS_FAULT_DELAY           sleep delay_ms (a slow server)
 *   MPFS_FAULT_CHANGE_VERSION  someone else rewrites the object first: on a
 *                              mem inner, mpfs_mem_put_raw(data) or, with no
 *                              data, mpfs_mem_bump_version(); on any other
 *                              inner a put of data (or of the object's own
 *                              bytes: note an S3 ETag then stays the same)
 *   MPFS_FAULT_ERROR           fail with -error without calling inner
 *   MPFS_FAULT_SHORT           read: ask inner for at most short_len bytes;
 *                              list: deliver at most short_len entries, then
 *                              return -error (0 if error is 0: a silently
 *                              cut listing); other ops: ignored
 *   MPFS_FAULT_ERROR_AFTER     call inner, then fail with -error whatever
 *                              happened (the reply was lost: the server did
 *                              the work, the client saw a failure)
 *
 * When several rules fire on one call their actions combine: delays add,
 * the first rule's error wins, the smallest short_len wins.
 *
 * Counters: calls per operation (every call, fired or not) and, per rule,
 * how often it fired, so tests can assert "exactly one retry happened".
 *
 * Thread-safe: one mutex guards the rules and counters; it is never held
 * across a call into inner or a sleep.
 */
#ifndef MPFS_BACKENDS_FAULT_H
#define MPFS_BACKENDS_FAULT_H

#include "backends/backend.h"

enum mpfs_fault_op {
    MPFS_FAULT_OP_STAT = 1u << 0,
    MPFS_FAULT_OP_LIST = 1u << 1,
    MPFS_FAULT_OP_READ = 1u << 2,
    MPFS_FAULT_OP_PUT = 1u << 3,
    MPFS_FAULT_OP_PWRITE = 1u << 4,
    MPFS_FAULT_OP_REMOVE = 1u << 5,
    MPFS_FAULT_OP_RENAME = 1u << 6,
    MPFS_FAULT_OP_MKDIR = 1u << 7,
    MPFS_FAULT_OP_RMDIR = 1u << 8,
    MPFS_FAULT_OP_SYMLINK = 1u << 9,
    MPFS_FAULT_OP_READLINK = 1u << 10,
    MPFS_FAULT_OP_LINK = 1u << 11,
    MPFS_FAULT_OP_SETATTR = 1u << 12,
    MPFS_FAULT_OP_STATFS = 1u << 13,
    MPFS_FAULT_OP_GETXATTR = 1u << 14,
    MPFS_FAULT_OP_SETXATTR = 1u << 15,
    MPFS_FAULT_OP_LISTXATTR = 1u << 16,
    MPFS_FAULT_OP_REMOVEXATTR = 1u << 17,
    MPFS_FAULT_OP_MKNOD = 1u << 18,
};
#define MPFS_FAULT_OP_COUNT 19
#define MPFS_FAULT_OP_ALL ((1u << MPFS_FAULT_OP_COUNT) - 1)

enum mpfs_fault_action {
    MPFS_FAULT_ERROR = 1u << 0,
    MPFS_FAULT_SHORT = 1u << 1,
    MPFS_FAULT_DELAY = 1u << 2,
    MPFS_FAULT_CHANGE_VERSION = 1u << 3,
    MPFS_FAULT_ERROR_AFTER = 1u << 4,
};

struct mpfs_fault_rule {
    uint32_t ops;      /* MPFS_FAULT_OP_* mask; must be non-zero */
    const char *path;  /* substring of the call's path (rename/link: either
                        * path), NULL or "" for any; copied */
    uint32_t action;   /* MPFS_FAULT_* mask; must be non-zero */
    int error;         /* ERROR, ERROR_AFTER, SHORT on list: an errno (EIO or
                        * -EIO alike); must be non-zero for ERROR(_AFTER) */
    size_t short_len;  /* SHORT */
    unsigned delay_ms; /* DELAY */
    const void *data;  /* CHANGE_VERSION: new content (copied), or NULL */
    size_t data_len;
    int count; /* fire on the next count matching calls, -1 = forever; 0 is
                * rejected so a forgotten field never makes a silent no-op */
    int after; /* let the first `after` matching calls through first */
};

/* Wraps inner; with own_inner the wrapper frees inner when it is freed.
 * Never fails.  Free with mpfs_backend_free(). */
struct mpfs_backend *mpfs_fault_new(struct mpfs_backend *inner, int own_inner);

/* True if b was made by mpfs_fault_new(). */
int mpfs_fault_is(const struct mpfs_backend *b);
struct mpfs_backend *mpfs_fault_inner(struct mpfs_backend *f);

/* Adds a rule (the rule struct is copied); returns its id (> 0) or
 * -EINVAL for a rule that could never do anything. */
int mpfs_fault_add(struct mpfs_backend *f, const struct mpfs_fault_rule *r);
/* Removes one rule; -ENOENT if there is no such id. */
int mpfs_fault_remove(struct mpfs_backend *f, int id);
/* Removes every rule (counters are kept). */
void mpfs_fault_clear(struct mpfs_backend *f);

/* Calls of the operations in ops (a mask: the sum) since creation or the
 * last mpfs_fault_reset_calls(). */
uint64_t mpfs_fault_calls(struct mpfs_backend *f, uint32_t ops);
void mpfs_fault_reset_calls(struct mpfs_backend *f);
/* How many times rule id fired (0 for an unknown id). */
uint64_t mpfs_fault_fired(struct mpfs_backend *f, int id);

#endif

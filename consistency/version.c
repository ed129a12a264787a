/*
 * version.c - see version.h.
 */
#include "consistency/version.h"

#include <stdio.h>
#include <string.h>

int mpfs_version_same(const char *a, const char *b)
{
    return a && b && a[0] && strcmp(a, b) == 0;
}

void mpfs_pin_init(struct mpfs_pin *p, int side, const struct mpfs_attr *a)
{
    memset(p, 0, sizeof(*p));
    p->side = side;
    snprintf(p->token, sizeof(p->token), "%s", a->version);
    p->size = a->size;
    p->mtime_ns = a->mtime_ns;
}

int mpfs_pin_matches(const struct mpfs_pin *p, const struct mpfs_attr *seen)
{
    if (seen->size != p->size || !seen->version[0])
        return 0;
    if (p->mtime_ns && seen->mtime_ns) {
        int64_t d = p->mtime_ns - seen->mtime_ns;
        if (d > MPFS_PIN_MTIME_SLACK_NS || d < -MPFS_PIN_MTIME_SLACK_NS)
            return 0;
    }
    return 1;
}

void mpfs_pin_learn(struct mpfs_pin *p, const struct mpfs_attr *seen)
{
    if (mpfs_pin_matches(p, seen)) {
        p->other = 1;
        snprintf(p->other_token, sizeof(p->other_token), "%s", seen->version);
    } else {
        p->other = -1;
    }
}

const char *mpfs_pin_token_for(const struct mpfs_pin *p, int side)
{
    if (side == p->side || p->side == MPFS_SIDE_NONE)
        return p->token;
    return p->other == 1 ? p->other_token : NULL;
}

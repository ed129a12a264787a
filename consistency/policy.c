/*
 * policy.c - see policy.h.
 */
#include "consistency/policy.h"

#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000000LL

void mpfs_policy_defaults(struct mpfs_policy *p)
{
    p->attr_ttl = 1 * SEC;
    p->dir_ttl = 2 * SEC;
    p->dir_stale = 3600 * SEC;
    p->neg_ttl = 1 * SEC;
    p->reconciled_ttl = 10 * SEC;
    p->cto = 1;
    p->immutable = 0;
}

static void strip_slashes(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
    size_t lead = strspn(s, "/");
    memmove(s, s + lead, strlen(s + lead) + 1);
}

int mpfs_policy_parse_rules(struct mpfs_policy_set *set, const char *spec, char *err,
                            size_t errlen)
{
    if (!spec || !*spec)
        return 0;
    char *copy = mpfs_xstrdup(spec);
    char *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        char *colon = strrchr(tok, ':');
        if (!colon) {
            snprintf(err, errlen, "policy rule '%s' has no ':kind' (immutable|fresh)", tok);
            rc = -EINVAL;
            break;
        }
        *colon = '\0';
        const char *kind = colon + 1;
        if (set->nrules == MPFS_POLICY_MAX_RULES) {
            snprintf(err, errlen, "more than %d policy rules", MPFS_POLICY_MAX_RULES);
            rc = -EINVAL;
            break;
        }
        struct mpfs_policy p = set->base;
        if (strcmp(kind, "immutable") == 0) {
            p.immutable = 1;
            p.cto = 0;
        } else if (strcmp(kind, "fresh") == 0) {
            p.attr_ttl = 0;
            p.dir_ttl = 0;
            p.dir_stale = 0;
            p.neg_ttl = 0;
            p.reconciled_ttl = 0;
            p.cto = 1;
        } else {
            snprintf(err, errlen, "policy rule kind '%s' unknown (immutable|fresh)", kind);
            rc = -EINVAL;
            break;
        }
        char *prefix = mpfs_xstrdup(tok);
        strip_slashes(prefix);
        set->rules[set->nrules].prefix = prefix;
        set->rules[set->nrules].policy = p;
        set->nrules++;
    }
    free(copy);
    return rc;
}

void mpfs_policy_set_free(struct mpfs_policy_set *set)
{
    for (int i = 0; i < set->nrules; i++)
        free(set->rules[i].prefix);
    set->nrules = 0;
}

const struct mpfs_policy *mpfs_policy_for(const struct mpfs_policy_set *set,
                                          const char *path)
{
    const struct mpfs_policy *best = &set->base;
    size_t best_len = 0;
    for (int i = 0; i < set->nrules; i++) {
        const char *pre = set->rules[i].prefix;
        size_t n = strlen(pre);
        int match = n == 0 || (strncmp(path, pre, n) == 0 &&
                               (path[n] == '\0' || path[n] == '/'));
        if (match && (n >= best_len)) {
            best = &set->rules[i].policy;
            best_len = n;
        }
    }
    return best;
}

enum mpfs_dir_freshness mpfs_policy_dir_state(const struct mpfs_policy *p,
                                              int64_t listed_ns, int64_t now_wall)
{
    if (listed_ns == 0)
        return MPFS_DIR_EXPIRED;
    if (p->immutable)
        return MPFS_DIR_FRESH;
    int64_t age = now_wall - listed_ns;
    if (age < 0)
        age = 0; /* clock stepped back: treat as just listed */
    if (age < p->dir_ttl)
        return MPFS_DIR_FRESH;
    if (age < p->dir_stale)
        return MPFS_DIR_STALE_OK;
    return MPFS_DIR_EXPIRED;
}

int mpfs_policy_attr_fresh(const struct mpfs_policy *p, int64_t seen_ns, int64_t now_wall)
{
    if (p->immutable && seen_ns != 0)
        return 1;
    int64_t age = now_wall - seen_ns;
    return seen_ns != 0 && age >= 0 && age < p->attr_ttl;
}

int mpfs_policy_attr_fresh_in(const struct mpfs_policy *p, int64_t seen_ns,
                              int64_t reconciled_ns, int64_t now_wall)
{
    if (mpfs_policy_attr_fresh(p, seen_ns, now_wall))
        return 1;
    if (seen_ns == 0 || reconciled_ns == 0 || p->reconciled_ttl <= 0)
        return 0; /* unconfirmed (invalidated) or not watched */
    int64_t age = now_wall - reconciled_ns;
    return age >= 0 && age < p->reconciled_ttl;
}

int mpfs_policy_negative_fresh(const struct mpfs_policy *p, int64_t listed_ns,
                               int64_t now_wall)
{
    if (listed_ns == 0)
        return 0;
    if (p->immutable)
        return 1;
    int64_t age = now_wall - listed_ns;
    return age >= 0 && age < p->neg_ttl;
}

int mpfs_policy_open_revalidate(const struct mpfs_policy *p, int64_t seen_ns, int64_t now_wall)
{
    if (!p->cto || p->immutable)
        return 0;
    int64_t age = now_wall - seen_ns;
    return seen_ns == 0 || age < 0 || age > MPFS_POLICY_CTO_GRACE_NS;
}

enum mpfs_open_check mpfs_policy_open_check(const struct mpfs_policy *p, int64_t seen_ns,
                                            int64_t now_wall, int fetch_confirms)
{
    if (!mpfs_policy_open_revalidate(p, seen_ns, now_wall))
        return MPFS_OPEN_TRUST;
    /* a name never confirmed (seen_ns 0) has no version to pin a fetch to */
    return fetch_confirms && seen_ns != 0 ? MPFS_OPEN_BY_FETCH : MPFS_OPEN_CONFIRM;
}

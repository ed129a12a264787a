/*
 * test_policy.c - consistency rules: freshness per prefix, conflict names.
 */
#include "consistency/conflict.h"
#include "consistency/policy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S 1000000000LL

static void test_dir_states(void **state)
{
    (void)state;
    struct mpfs_policy p;
    mpfs_policy_defaults(&p);
    p.dir_ttl = 2 * S;
    p.dir_stale = 60 * S;
    int64_t now = 1000 * S;
    assert_int_equal(mpfs_policy_dir_state(&p, 0, now), MPFS_DIR_EXPIRED);
    assert_int_equal(mpfs_policy_dir_state(&p, now - 1 * S, now), MPFS_DIR_FRESH);
    assert_int_equal(mpfs_policy_dir_state(&p, now - 10 * S, now), MPFS_DIR_STALE_OK);
    assert_int_equal(mpfs_policy_dir_state(&p, now - 100 * S, now), MPFS_DIR_EXPIRED);
    /* a clock stepped back counts as just listed, not as ancient */
    assert_int_equal(mpfs_policy_dir_state(&p, now + 50 * S, now), MPFS_DIR_FRESH);
}

/* An entry of a directory the reconciler re-listed recently is fresh even
 * past attr_ttl; not once the reconciler falls behind, not when it never
 * listed the directory, not for an invalidated entry, not under "fresh". */
static void test_attr_fresh_in_reconciled_dir(void **state)
{
    (void)state;
    struct mpfs_policy p;
    mpfs_policy_defaults(&p);
    p.attr_ttl = 1 * S;
    p.reconciled_ttl = 10 * S;
    int64_t now = 1000 * S;
    assert_true(mpfs_policy_attr_fresh_in(&p, now - S / 2, 0, now));
    assert_false(mpfs_policy_attr_fresh_in(&p, now - 5 * S, 0, now));
    assert_true(mpfs_policy_attr_fresh_in(&p, now - 5 * S, now - 3 * S, now));
    assert_false(mpfs_policy_attr_fresh_in(&p, now - 50 * S, now - 11 * S, now));
    assert_false(mpfs_policy_attr_fresh_in(&p, 0, now - 1 * S, now));
    struct mpfs_policy_set set = {.base = p};
    char err[128];
    assert_int_equal(mpfs_policy_parse_rules(&set, "ckpt:fresh", err, sizeof(err)), 0);
    const struct mpfs_policy *fresh = mpfs_policy_for(&set, "ckpt/x");
    assert_false(mpfs_policy_attr_fresh_in(fresh, now - 1, now - 1, now));
    mpfs_policy_set_free(&set);
}

static void test_open_revalidate(void **state)
{
    (void)state;
    struct mpfs_policy p;
    mpfs_policy_defaults(&p);
    p.cto = 1;
    int64_t now = 1000 * S;
    assert_true(mpfs_policy_open_revalidate(&p, 0, now));
    assert_true(mpfs_policy_open_revalidate(&p, now - S, now));
    assert_false(mpfs_policy_open_revalidate(&p, now - S / 10, now)); /* lookup just before */
    assert_true(mpfs_policy_open_revalidate(&p, now + S, now));       /* clock stepped back */
    p.immutable = 1;
    assert_false(mpfs_policy_open_revalidate(&p, now - 100 * S, now));
    p.immutable = 0;
    p.cto = 0;
    assert_false(mpfs_policy_open_revalidate(&p, now - 100 * S, now));
}

static void test_prefix_rules(void **state)
{
    (void)state;
    struct mpfs_policy_set set = {0};
    mpfs_policy_defaults(&set.base);
    char err[128];
    assert_int_equal(mpfs_policy_parse_rules(&set, "/train/:immutable;train/ckpt:fresh", err,
                                             sizeof(err)),
                     0);
    const struct mpfs_policy *p = mpfs_policy_for(&set, "train/x/y.jpg");
    assert_true(p->immutable);
    assert_true(mpfs_policy_attr_fresh(p, 1, 1000000 * S));
    p = mpfs_policy_for(&set, "train/ckpt/step1");
    assert_false(p->immutable);
    assert_false(mpfs_policy_attr_fresh(p, 999 * S, 1000 * S));
    p = mpfs_policy_for(&set, "trainer/x"); /* not under train/ */
    assert_false(p->immutable);
    assert_int_equal(mpfs_policy_parse_rules(&set, "x:sometimes", err, sizeof(err)), -22);
    assert_non_null(strstr(err, "sometimes"));
    mpfs_policy_set_free(&set);
}

static void test_conflict_name(void **state)
{
    (void)state;
    char *p = mpfs_conflict_path("dir/file.txt", 1700000000LL * S, 3);
    assert_non_null(strstr(p, "dir/file.txt.mpfs-conflict-"));
    assert_non_null(strstr(p, "20231114T221320Z-3"));
    free(p);
    char longname[300];
    memset(longname, 'n', 255);
    longname[255] = '\0';
    p = mpfs_conflict_path(longname, 0, 0);
    assert_true(strlen(p) <= 255);
    free(p);
    assert_true(mpfs_version_same("abc", "abc"));
    assert_false(mpfs_version_same("", ""));
    assert_false(mpfs_version_same("abc", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir_states),
        cmocka_unit_test(test_open_revalidate),
        cmocka_unit_test(test_attr_fresh_in_reconciled_dir),
        cmocka_unit_test(test_prefix_rules),
        cmocka_unit_test(test_conflict_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

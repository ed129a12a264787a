/*
 * test_nfs_fhcache.c - the per-connection LRU of open read handles:
 * hits, LRU eviction, invalidation by namespace generation and by age,
 * explicit drop; every handle closed exactly once.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/nfs/nfs_int.h"

struct closed {
    int n;
    void *last;
};

static void close_fn(void *ctx, void *fh)
{
    struct closed *c = ctx;
    c->n++;
    c->last = fh;
}

#define H(x) ((void *)(uintptr_t)(x))
#define SEC 1000000000ll

static void test_hit_and_lru(void **state)
{
    struct closed cl = {0};
    struct mpfs_nfs_fhcache *c = mpfs_nfs_fhcache_new(3, 10 * SEC, close_fn, &cl);
    assert_null(mpfs_nfs_fhcache_get(c, "a", 0, 0));
    mpfs_nfs_fhcache_add(c, "a", H(1), 0, 0);
    mpfs_nfs_fhcache_add(c, "b", H(2), 0, 0);
    mpfs_nfs_fhcache_add(c, "c", H(3), 0, 0);
    assert_ptr_equal(mpfs_nfs_fhcache_get(c, "a", 0, 1), H(1));
    assert_int_equal(mpfs_nfs_fhcache_count(c), 3);
    /* full: "b" is the least recently used ("a" was just hit) */
    mpfs_nfs_fhcache_add(c, "d", H(4), 0, 2);
    assert_int_equal(cl.n, 1);
    assert_ptr_equal(cl.last, H(2));
    assert_null(mpfs_nfs_fhcache_get(c, "b", 0, 3));
    assert_ptr_equal(mpfs_nfs_fhcache_get(c, "c", 0, 3), H(3));
    assert_ptr_equal(mpfs_nfs_fhcache_get(c, "d", 0, 3), H(4));
    /* a new handle for a cached path replaces (and closes) the old one */
    mpfs_nfs_fhcache_add(c, "c", H(5), 0, 4);
    assert_ptr_equal(cl.last, H(3));
    assert_ptr_equal(mpfs_nfs_fhcache_get(c, "c", 0, 4), H(5));
    assert_int_equal(mpfs_nfs_fhcache_count(c), 3);
    mpfs_nfs_fhcache_free(c);
    assert_int_equal(cl.n, 5); /* 2, 3 evicted; 1, 4, 5 at free */
    mpfs_nfs_fhcache_free(NULL);
}

static void test_generation(void **state)
{
    struct closed cl = {0};
    struct mpfs_nfs_fhcache *c = mpfs_nfs_fhcache_new(4, 10 * SEC, close_fn, &cl);
    mpfs_nfs_fhcache_add(c, "x", H(1), 7, 0);
    assert_ptr_equal(mpfs_nfs_fhcache_get(c, "x", 7, 1), H(1));
    /* the path was removed or renamed: generation moved */
    assert_null(mpfs_nfs_fhcache_get(c, "x", 8, 2));
    assert_int_equal(cl.n, 1);
    assert_int_equal(mpfs_nfs_fhcache_count(c), 0);
    mpfs_nfs_fhcache_free(c);
    assert_int_equal(cl.n, 1);
}

static void test_ttl(void **state)
{
    struct closed cl = {0};
    struct mpfs_nfs_fhcache *c = mpfs_nfs_fhcache_new(4, 3 * SEC, close_fn, &cl);
    mpfs_nfs_fhcache_add(c, "x", H(1), 0, 10 * SEC);
    assert_ptr_equal(mpfs_nfs_fhcache_get(c, "x", 0, 12 * SEC), H(1));
    /* use does not extend trust: the lookup is redone after ttl */
    assert_null(mpfs_nfs_fhcache_get(c, "x", 0, 13 * SEC));
    assert_int_equal(cl.n, 1);
    /* a clock that went backwards is not trusted either */
    mpfs_nfs_fhcache_add(c, "y", H(2), 0, 20 * SEC);
    assert_null(mpfs_nfs_fhcache_get(c, "y", 0, 19 * SEC));
    /* ttl 0: nothing is kept */
    struct mpfs_nfs_fhcache *z = mpfs_nfs_fhcache_new(4, 0, close_fn, &cl);
    mpfs_nfs_fhcache_add(z, "x", H(3), 0, 5);
    assert_null(mpfs_nfs_fhcache_get(z, "x", 0, 5));
    mpfs_nfs_fhcache_free(z);
    mpfs_nfs_fhcache_free(c);
    assert_int_equal(cl.n, 3);
}

static void test_drop(void **state)
{
    struct closed cl = {0};
    struct mpfs_nfs_fhcache *c = mpfs_nfs_fhcache_new(2, 10 * SEC, close_fn, &cl);
    mpfs_nfs_fhcache_add(c, "a/b", H(1), 0, 0);
    mpfs_nfs_fhcache_drop(c, "a"); /* not a prefix match */
    assert_int_equal(cl.n, 0);
    mpfs_nfs_fhcache_drop(c, "a/b");
    assert_int_equal(cl.n, 1);
    assert_null(mpfs_nfs_fhcache_get(c, "a/b", 0, 0));
    mpfs_nfs_fhcache_drop(c, "nothing");
    assert_int_equal(cl.n, 1);
    /* slots are reused after a drop */
    mpfs_nfs_fhcache_add(c, "p", H(2), 0, 0);
    mpfs_nfs_fhcache_add(c, "q", H(3), 0, 0);
    assert_int_equal(cl.n, 1);
    mpfs_nfs_fhcache_free(c);
    assert_int_equal(cl.n, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_lru),
        cmocka_unit_test(test_generation),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

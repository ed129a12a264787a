/*
 * test_cache_budget.c - the memory budget split (cache/budget.c): the
 * shares never add up to more than the limit, each is capped at what mpfs
 * used before the budget, the RAM cache yields to the limit, a limit too
 * small is refused, and the default follows physical memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cache/budget.h"

#define MiB (1ull << 20)

static uint64_t total(const struct mpfs_mem_budget *b, int threads)
{
    /* fixed already holds one block per thread of the demand fetches */
    return b->fixed + b->ram_cache + b->prefetch + b->buffer_pool + b->disk_queue +
           (uint64_t)threads * (b->max_request - MiB);
}

static void test_fits_limit(void **state)
{
    (void)state;
    char err[256];
    uint64_t limits[] = {128 * MiB, 256 * MiB, 512 * MiB, 1024 * MiB, 8192 * MiB};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        struct mpfs_mem_budget b;
        assert_int_equal(mpfs_mem_budget_split(limits[i], 256 * MiB, 16, MiB, &b, err, sizeof(err)),
                         0);
        assert_true(total(&b, 16) <= limits[i]);
        assert_true(b.ram_cache <= 256 * MiB);
        assert_true(b.max_request >= MiB && b.max_request % MiB == 0);
        assert_true(b.max_request <= 8 * MiB);
        assert_true(b.prefetch <= 512 * MiB && b.prefetch >= b.max_request);
        assert_true(b.buffer_pool <= 96 * MiB && b.disk_queue <= 128 * MiB);
    }
}

static void test_ram_cache_yields(void **state)
{
    (void)state;
    char err[256];
    struct mpfs_mem_budget b;
    assert_int_equal(mpfs_mem_budget_split(256 * MiB, 256 * MiB, 16, MiB, &b, err, sizeof(err)), 0);
    assert_int_equal(b.ram_cache, (256 * MiB - b.fixed) / 2);
    /* a large limit leaves the asked-for cache alone and caps the rest */
    assert_int_equal(mpfs_mem_budget_split(8192 * MiB, 256 * MiB, 16, MiB, &b, err, sizeof(err)),
                     0);
    assert_int_equal(b.ram_cache, 256 * MiB);
    assert_int_equal(b.prefetch, 512 * MiB);
    assert_int_equal(b.max_request, 8 * MiB);
}

static void test_too_small(void **state)
{
    (void)state;
    char err[256] = "";
    struct mpfs_mem_budget b;
    assert_int_equal(mpfs_mem_budget_split(32 * MiB, 256 * MiB, 16, MiB, &b, err, sizeof(err)),
                     -EINVAL);
    assert_true(err[0] != '\0');
}

static void test_default(void **state)
{
    (void)state;
    assert_int_equal(mpfs_mem_budget_default(24000 * MiB), 1024 * MiB);
    assert_int_equal(mpfs_mem_budget_default(2048 * MiB), 512 * MiB);
    assert_int_equal(mpfs_mem_budget_default(512 * MiB), 256 * MiB);
    assert_int_equal(mpfs_mem_budget_default(0), 256 * MiB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits_limit),
        cmocka_unit_test(test_ram_cache_yields),
        cmocka_unit_test(test_too_small),
        cmocka_unit_test(test_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

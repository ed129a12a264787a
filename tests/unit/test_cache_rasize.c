/*
 * test_cache_rasize.c - the readahead window from the measured
 * bandwidth-delay product (cache/rasize.c): unknown measures leave the
 * ramp alone, the window grows with latency and with the demand rate,
 * stays within [2 blocks, max_window], blocked time is not demand, a
 * pause is not counted as slowness, and a read stamped out of order is
 * ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cache/rasize.h"

#define MiB (1ull << 20)
#define MS 1000000ll

/* A reader of 1 MiB reads every `gap_ms` (of which blocked_ms waiting),
 * 20 reads. */
static void demand(struct mpfs_ra_demand *d, double gap_ms, double blocked_ms)
{
    int64_t t = 1000 * MS;
    for (int i = 0; i < 20; i++) {
        mpfs_ra_demand_sample(d, t, (uint64_t)(blocked_ms * MS), MiB);
        t += (int64_t)(gap_ms * MS);
    }
}

static void fetches(struct mpfs_ra_fetch *f, double ms)
{
    for (int i = 0; i < 20; i++) {
        mpfs_ra_fetch_sample(f, 8 * MiB, (uint64_t)(ms * MS));
    }
}

static void test_unknown_is_max(void **state)
{
    (void)state;
    struct mpfs_ra_fetch f = {0};
    struct mpfs_ra_demand d = {0};
    assert_int_equal(mpfs_ra_window(&f, &d, 8 * MiB, MiB, 64 * MiB), 64 * MiB);
    demand(&d, 1, 0);
    assert_int_equal(mpfs_ra_window(&f, &d, 8 * MiB, MiB, 64 * MiB), 64 * MiB);
    fetches(&f, 10);
    assert_true(mpfs_ra_window(&f, &d, 8 * MiB, MiB, 64 * MiB) < 64 * MiB);
}

static void test_window_is_bdp(void **state)
{
    (void)state;
    struct mpfs_ra_demand d = {0};
    demand(&d, 1, 0); /* 1 MiB per ms: ~1 GB/s */
    assert_true(mpfs_ra_demand_rate(&d) > 1.04e9 && mpfs_ra_demand_rate(&d) < 1.06e9);
    uint64_t prev = 0;
    for (double ms = 1; ms <= 16; ms *= 2) {
        struct mpfs_ra_fetch f = {0};
        fetches(&f, ms);
        uint64_t w = mpfs_ra_window(&f, &d, 8 * MiB, MiB, 1024 * MiB);
        /* 2 x D x T + 2 requests */
        double want = 2 * 1.048576e9 * ms / 1000 + 16.0 * MiB;
        assert_true(w > want * 0.99 && w < want * 1.01);
        assert_true(w > prev);
        prev = w;
    }
    /* a request half the size takes (at most) half the time */
    struct mpfs_ra_fetch f = {0};
    fetches(&f, 10);
    assert_true(mpfs_ra_fetch_time(&f, 4 * MiB) > 0.00499 && mpfs_ra_fetch_time(&f, 4 * MiB) < 0.00501);
}

static void test_bounds(void **state)
{
    (void)state;
    struct mpfs_ra_demand d = {0};
    struct mpfs_ra_fetch f = {0};
    demand(&d, 1, 0);
    fetches(&f, 1000); /* a second per request */
    assert_int_equal(mpfs_ra_window(&f, &d, 8 * MiB, MiB, 64 * MiB), 64 * MiB);
    struct mpfs_ra_demand slow = {0};
    struct mpfs_ra_fetch fast = {0};
    demand(&slow, 1000, 0);
    fetches(&fast, 0.001);
    /* a tiny BDP: still two blocks (the one read and the next) */
    assert_int_equal(mpfs_ra_window(&fast, &slow, MiB / 2, MiB, 64 * MiB), 2 * MiB);
    /* max_window below two blocks wins */
    assert_int_equal(mpfs_ra_window(&fast, &slow, MiB / 2, MiB, MiB), MiB);
}

static void test_blocked_time_is_not_demand(void **state)
{
    (void)state;
    struct mpfs_ra_demand free_run = {0}, stalled = {0};
    demand(&free_run, 1, 0);
    demand(&stalled, 10, 9); /* reads every 10 ms, 9 of them waiting on the store */
    double a = mpfs_ra_demand_rate(&free_run), b = mpfs_ra_demand_rate(&stalled);
    assert_true(b > a * 0.99 && b < a * 1.01);
    /* blocked time beyond the gap (threads of one handle overlapping)
     * counts as no own time, not negative */
    struct mpfs_ra_demand over = {0};
    demand(&over, 1, 5);
    assert_true(mpfs_ra_demand_rate(&over) > a);
}

static void test_pause_is_skipped(void **state)
{
    (void)state;
    struct mpfs_ra_demand d = {0};
    demand(&d, 1, 0);
    double r = mpfs_ra_demand_rate(&d);
    /* 10 s between two reads (the next epoch): not a 10 s read cycle */
    mpfs_ra_demand_sample(&d, d.last_ns + 10000 * MS, 0, MiB);
    assert_true(mpfs_ra_demand_rate(&d) == r);
    /* a read stamped before the previous one (two threads of one handle)
     * neither counts nor moves the clock back */
    int64_t last = d.last_ns;
    mpfs_ra_demand_sample(&d, last - MS, 0, MiB);
    assert_true(d.last_ns == last);
    assert_true(mpfs_ra_demand_rate(&d) == r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_is_max),
        cmocka_unit_test(test_window_is_bdp),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_blocked_time_is_not_demand),
        cmocka_unit_test(test_pause_is_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

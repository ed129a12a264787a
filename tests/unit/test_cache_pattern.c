/*
 * test_cache_pattern.c - the access-pattern detector on synthetic traces:
 * sequential (large and small reads), strided (dense and sparse), random,
 * two interleaved streams, backwards, slightly reordered, a stray read in
 * a stream, more streams than slots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cache/pattern.h"

#define MiB (1ull << 20)
#define KiB (1ull << 10)

static void init(struct mpfs_pattern *p)
{
    struct mpfs_pattern_config cfg = {.block_size = MiB, .max_window = 64 * MiB};
    mpfs_pattern_init(p, &cfg);
}

static void test_sequential_window_doubles(void **state)
{
    (void)state;
    struct mpfs_pattern p;
    init(&p);
    struct mpfs_pattern_decision d;
    mpfs_pattern_observe(&p, 0, MiB, &d);
    assert_false(d.sequential); /* one read says nothing yet */
    assert_int_equal(d.window, 0);
    uint64_t expect[] = {1, 2, 4, 8, 16, 32, 64, 64, 64};
    for (int i = 0; i < 9; i++) {
        mpfs_pattern_observe(&p, (uint64_t)(i + 1) * MiB, MiB, &d);
        assert_true(d.sequential);
        assert_int_equal(d.window, expect[i] * MiB);
    }
    assert_int_equal(p.mode_switches, 1);
}

static void test_sequential_small_reads(void **state)
{
    (void)state;
    struct mpfs_pattern p;
    init(&p);
    struct mpfs_pattern_decision d;
    for (uint64_t off = 0; off < 4 * MiB; off += 4 * KiB) {
        mpfs_pattern_observe(&p, off, 4 * KiB, &d);
        if (off > 0) {
            assert_true(d.sequential);
        }
    }
    assert_int_equal(d.window, 64 * MiB);
}

static void test_strided(void **state)
{
    (void)state;
    struct mpfs_pattern p;
    struct mpfs_pattern_decision d;
    /* 4 KiB every 64 KiB: the holes are cheaper to read than to skip */
    init(&p);
    for (int i = 0; i < 20; i++) {
        mpfs_pattern_observe(&p, (uint64_t)i * 64 * KiB, 4 * KiB, &d);
    }
    assert_true(d.sequential);
    assert_true(d.window > 0);
    /* 4 KiB every 4 MiB: random */
    init(&p);
    for (int i = 0; i < 20; i++) {
        mpfs_pattern_observe(&p, (uint64_t)i * 4 * MiB, 4 * KiB, &d);
        assert_false(d.sequential);
        assert_int_equal(d.window, 0);
    }
}

static void test_random(void **state)
{
    (void)state;
    struct mpfs_pattern p;
    init(&p);
    struct mpfs_pattern_decision d;
    uint64_t x = 12345;
    int seq = 0;
    for (int i = 0; i < 1000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t off = (x >> 20) % (10ull << 30); /* a 10 GiB file */
        mpfs_pattern_observe(&p, off & ~4095ull, 16 * KiB, &d);
        seq += d.sequential;
    }
    assert_true(seq <= 2); /* an accidental neighbour at most */
}

static void test_two_interleaved_streams(void **state)
{
    (void)state;
    struct mpfs_pattern p;
    init(&p);
    struct mpfs_pattern_decision d;
    uint64_t a = 0, b = 10ull << 30;
    int seq = 0;
    for (int i = 0; i < 40; i++) {
        mpfs_pattern_observe(&p, a, 256 * KiB, &d);
        int sa = d.stream;
        seq += d.sequential;
        a += 256 * KiB;
        mpfs_pattern_observe(&p, b, 256 * KiB, &d);
        seq += d.sequential;
        assert_int_not_equal(d.stream, sa);
        b += 256 * KiB;
    }
    assert_int_equal(seq, 78); /* all but the first read of each */
    assert_int_equal(d.window, 64 * MiB);
}

static void test_backwards(void **state)
{
    (void)state;
    struct mpfs_pattern p;
    init(&p);
    struct mpfs_pattern_decision d;
    for (int i = 100; i > 0; i--) {
        mpfs_pattern_observe(&p, (uint64_t)i * 64 * KiB, 64 * KiB, &d);
        assert_false(d.sequential);
        assert_int_equal(d.window, 0);
    }
}

static void test_reordered_stays_sequential(void **state)
{
    (void)state;
    struct mpfs_pattern p;
    init(&p);
    struct mpfs_pattern_decision d;
    /* FUSE readahead from several threads: 128 KiB pieces, pairs swapped */
    uint64_t order[] = {0, 2, 1, 3, 5, 4, 6, 7, 9, 8, 10, 11, 13, 12, 14, 15};
    int seq = 0;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        mpfs_pattern_observe(&p, order[i] * 128 * KiB, 128 * KiB, &d);
        seq += d.sequential;
    }
    assert_true(seq >= 14);
    assert_true(d.window >= 8 * MiB);
    /* re-reading the last piece (kernel retry) is not a new stream */
    mpfs_pattern_observe(&p, 15 * 128 * KiB, 128 * KiB, &d);
    assert_true(d.sequential);
    assert_int_equal(d.new_stream, 0);
}

static void test_stray_read_keeps_stream(void **state)
{
    (void)state;
    struct mpfs_pattern p;
    init(&p);
    struct mpfs_pattern_decision d;
    for (int i = 0; i < 10; i++) {
        mpfs_pattern_observe(&p, (uint64_t)i * MiB, MiB, &d);
    }
    uint64_t w = d.window;
    assert_true(w >= 32 * MiB);
    mpfs_pattern_observe(&p, 900 * MiB, 4 * KiB, &d); /* a footer / index read */
    assert_false(d.sequential);
    assert_int_equal(d.window, 0);
    assert_true(d.new_stream);
    mpfs_pattern_observe(&p, 10 * MiB, MiB, &d); /* the stream goes on */
    assert_true(d.sequential);
    assert_true(d.window >= w);
    assert_int_equal(p.mode_switches, 3); /* random->seq, seq->random, random->seq */
}

static void test_more_streams_than_slots(void **state)
{
    (void)state;
    struct mpfs_pattern p;
    init(&p);
    struct mpfs_pattern_decision d;
    /* 4 interleaved streams fit; all become sequential */
    uint64_t pos[6];
    for (int s = 0; s < 6; s++) {
        pos[s] = (uint64_t)s << 32;
    }
    int seq = 0;
    for (int round = 0; round < 10; round++) {
        for (int s = 0; s < 4; s++) {
            mpfs_pattern_observe(&p, pos[s], MiB, &d);
            pos[s] += MiB;
            seq += d.sequential;
        }
    }
    assert_int_equal(seq, 36);
    /* 6 round-robin streams thrash 4 LRU slots: treated as random, which
     * costs readahead but never correctness */
    init(&p);
    seq = 0;
    for (int round = 0; round < 10; round++) {
        for (int s = 0; s < 6; s++) {
            mpfs_pattern_observe(&p, pos[s], MiB, &d);
            pos[s] += MiB;
            seq += d.sequential;
        }
    }
    assert_int_equal(seq, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential_window_doubles),
        cmocka_unit_test(test_sequential_small_reads),
        cmocka_unit_test(test_strided),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_two_interleaved_streams),
        cmocka_unit_test(test_backwards),
        cmocka_unit_test(test_reordered_stays_sequential),
        cmocka_unit_test(test_stray_read_keeps_stream),
        cmocka_unit_test(test_more_streams_than_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

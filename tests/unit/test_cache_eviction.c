/*
 * test_cache_eviction.c - S3-FIFO policy (cache/eviction.c) on its own, and
 * scan resistance of the real RAM tier against an LRU model run on the same
 * trace.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache/blockcache.h"
#include "cache/eviction.h"

/* ---- policy unit tests ---------------------------------------------- */

struct node {
    struct mpfs_evict_node n;
    int id;
};

static void test_fifo_order_and_ghost(void **state)
{
    (void)state;
    struct mpfs_evict e;
    mpfs_evict_init(&e, 10, 64);
    struct node nodes[12];
    for (int i = 0; i < 12; i++) {
        memset(&nodes[i], 0, sizeof(nodes[i]));
        nodes[i].id = i;
        nodes[i].n.id = 1000 + (uint64_t)i;
        nodes[i].n.bytes = 1;
        mpfs_evict_insert(&e, &nodes[i].n);
    }
    assert_int_equal(mpfs_evict_bytes(&e), 12);
    assert_true(mpfs_evict_over(&e));
    /* Nothing reused: S evicts in FIFO order and remembers ids. */
    struct node *v = (struct node *)mpfs_evict_victim(&e);
    assert_int_equal(v->id, 0);
    v = (struct node *)mpfs_evict_victim(&e);
    assert_int_equal(v->id, 1);
    assert_false(mpfs_evict_over(&e));
    assert_true(mpfs_evict_ghost_contains(&e, 1000));
    assert_true(mpfs_evict_ghost_contains(&e, 1001));
    assert_false(mpfs_evict_ghost_contains(&e, 1002));

    /* Re-inserting a ghost goes straight to M. */
    nodes[0].n.bytes = 1;
    mpfs_evict_insert(&e, &nodes[0].n);
    assert_int_equal(atomic_load(&nodes[0].n.queue), MPFS_EVQ_MAIN);
    assert_false(mpfs_evict_ghost_contains(&e, 1000));
    assert_int_equal(e.ghost_hits, 1);
    mpfs_evict_destroy(&e);
}

static void test_reused_promoted(void **state)
{
    (void)state;
    struct mpfs_evict e;
    mpfs_evict_init(&e, 4, 64);
    struct node nodes[6];
    for (int i = 0; i < 6; i++) {
        memset(&nodes[i], 0, sizeof(nodes[i]));
        nodes[i].id = i;
        nodes[i].n.id = (uint64_t)i + 1;
        nodes[i].n.bytes = 1;
    }
    for (int i = 0; i < 4; i++) {
        mpfs_evict_insert(&e, &nodes[i].n);
    }
    mpfs_evict_touch(&nodes[0].n); /* reused while in S */
    mpfs_evict_insert(&e, &nodes[4].n);
    struct node *v = (struct node *)mpfs_evict_victim(&e);
    /* node 0 (oldest) was reused: promoted to M; node 1 goes */
    assert_int_equal(v->id, 1);
    assert_int_equal(atomic_load(&nodes[0].n.queue), MPFS_EVQ_MAIN);
    assert_int_equal(e.promotions, 1);
    /* remove() takes a node out without a ghost entry */
    mpfs_evict_remove(&e, &nodes[2].n);
    assert_false(mpfs_evict_ghost_contains(&e, 3));
    assert_int_equal(mpfs_evict_bytes(&e), 3);
    /* drain: everything comes out exactly once, then NULL */
    int out = 0;
    while (mpfs_evict_victim(&e)) {
        out++;
    }
    assert_int_equal(out, 3);
    assert_int_equal(mpfs_evict_bytes(&e), 0);
    mpfs_evict_destroy(&e);
}

static void test_main_is_clock(void **state)
{
    (void)state;
    struct mpfs_evict e;
    mpfs_evict_init(&e, 3, 64);
    struct node nodes[3];
    for (int i = 0; i < 3; i++) {
        memset(&nodes[i], 0, sizeof(nodes[i]));
        nodes[i].id = i;
        nodes[i].n.id = (uint64_t)i + 1;
        nodes[i].n.bytes = 1;
        mpfs_evict_insert_main(&e, &nodes[i].n);
    }
    mpfs_evict_touch(&nodes[0].n); /* oldest, but hit once */
    struct node *v = (struct node *)mpfs_evict_victim(&e);
    assert_int_equal(v->id, 1); /* 0 got a second chance */
    v = (struct node *)mpfs_evict_victim(&e);
    assert_int_equal(v->id, 2);
    v = (struct node *)mpfs_evict_victim(&e);
    assert_int_equal(v->id, 0);
    assert_null(mpfs_evict_victim(&e));
    mpfs_evict_destroy(&e);
}

static void test_ghost_bounded(void **state)
{
    (void)state;
    struct mpfs_evict e;
    mpfs_evict_init(&e, 1, 16);
    struct node *nodes = calloc(1000, sizeof(*nodes));
    for (int i = 0; i < 1000; i++) {
        nodes[i].n.id = (uint64_t)i + 1;
        nodes[i].n.bytes = 1;
        mpfs_evict_insert(&e, &nodes[i].n);
        while (mpfs_evict_over(&e)) {
            assert_non_null(mpfs_evict_victim(&e));
        }
    }
    int remembered = 0;
    for (int i = 0; i < 1000; i++) {
        remembered += mpfs_evict_ghost_contains(&e, (uint64_t)i + 1);
    }
    assert_int_equal(remembered, 16); /* only the newest 16 ids */
    assert_true(mpfs_evict_ghost_contains(&e, 999));
    assert_false(mpfs_evict_ghost_contains(&e, 1));
    free(nodes);
    mpfs_evict_destroy(&e);
}

/* ---- scan resistance of the RAM tier vs an LRU model ---------------- */

#define BLK 4096
#define CAP_BLOCKS 64

/* Tiny exact LRU over block ids, for comparison. */
struct lru {
    uint64_t ids[CAP_BLOCKS];
    int n;
};

static int lru_access(struct lru *l, uint64_t id)
{
    for (int i = 0; i < l->n; i++) {
        if (l->ids[i] == id) {
            memmove(&l->ids[1], &l->ids[0], (size_t)i * sizeof(uint64_t));
            l->ids[0] = id;
            return 1;
        }
    }
    if (l->n < CAP_BLOCKS) {
        l->n++;
    }
    memmove(&l->ids[1], &l->ids[0], (size_t)(l->n - 1) * sizeof(uint64_t));
    l->ids[0] = id;
    return 0;
}

static int cache_access(struct mpfs_cache *c, const char *file, uint64_t block)
{
    unsigned char buf[BLK];
    struct mpfs_block_key k = {file, strlen(file), "v1", block};
    ssize_t n = mpfs_cache_get(c, &k, buf, 0, BLK);
    if (n == BLK) {
        assert_int_equal(buf[0], (unsigned char)block);
        return 1;
    }
    assert_int_equal(n, -ENOENT);
    memset(buf, (int)(unsigned char)block, BLK);
    mpfs_cache_put(c, &k, buf, BLK);
    return 0;
}

static void test_scan_resistance(void **state)
{
    (void)state;
    char err[256];
    struct mpfs_cache_config cfg = {.block_size = BLK, .ram_bytes = CAP_BLOCKS * BLK};
    struct mpfs_cache *c = mpfs_cache_new(&cfg, err, sizeof(err));
    assert_non_null(c);
    struct lru lru = {.n = 0};

    /* A hot set of half the cache, re-read every round; between rounds a
     * scan of a full cache worth of never-again blocks; 10 rounds = a scan
     * of 10x the cache. */
    const int hot = CAP_BLOCKS / 2, scan_per_round = CAP_BLOCKS, rounds = 10;
    int hot_hits = 0, hot_reads = 0, lru_hits = 0;
    uint64_t scan_next = 1000000;
    for (int r = 0; r < rounds; r++) {
        for (int h = 0; h < hot; h++) {
            int hit = cache_access(c, "hot", (uint64_t)h);
            int lhit = lru_access(&lru, (uint64_t)h);
            if (r > 0) {
                hot_reads++;
                hot_hits += hit;
                lru_hits += lhit;
            }
        }
        for (int s = 0; s < scan_per_round; s++) {
            cache_access(c, "scan", scan_next);
            lru_access(&lru, scan_next);
            scan_next++;
        }
    }
    double rate = (double)hot_hits / hot_reads;
    double lru_rate = (double)lru_hits / hot_reads;
    print_message("hot-set hit rate across a 10x scan: S3-FIFO %.2f, LRU %.2f\n", rate, lru_rate);
    assert_true(lru_rate < 0.05); /* the trace really defeats LRU */
    assert_true(rate >= 0.85);
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_true(st.ram_bytes <= CAP_BLOCKS * BLK);
    mpfs_cache_free(c);
}

/* A multi-epoch cyclic scan of 1.5x the cache: report (LRU is 0 here). */
static void test_cyclic_epochs(void **state)
{
    (void)state;
    char err[256];
    struct mpfs_cache_config cfg = {.block_size = BLK, .ram_bytes = CAP_BLOCKS * BLK};
    struct mpfs_cache *c = mpfs_cache_new(&cfg, err, sizeof(err));
    assert_non_null(c);
    struct lru lru = {.n = 0};
    int hits = 0, lru_hits = 0, reads = 0;
    for (int epoch = 0; epoch < 6; epoch++) {
        for (uint64_t b = 0; b < CAP_BLOCKS * 3 / 2; b++) {
            int hit = cache_access(c, "ds", b);
            int lhit = lru_access(&lru, b);
            if (epoch > 0) {
                reads++;
                hits += hit;
                lru_hits += lhit;
            }
        }
    }
    print_message("cyclic 1.5x epochs hit rate: S3-FIFO %.2f, LRU %.2f\n", (double)hits / reads,
                  (double)lru_hits / reads);
    assert_int_equal(lru_hits, 0);
    assert_true(hits >= lru_hits);
    mpfs_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_order_and_ghost), cmocka_unit_test(test_reused_promoted),
        cmocka_unit_test(test_main_is_clock),        cmocka_unit_test(test_ghost_bounded),
        cmocka_unit_test(test_scan_resistance),      cmocka_unit_test(test_cyclic_epochs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

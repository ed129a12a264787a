/*
 * test_cache_ram.c - the block cache's RAM tier and public API: hits and
 * misses, partial and short blocks, the byte budget, version separation,
 * invalidation, zero-copy slices and their compaction, concurrency.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache/blockcache.h"

#define BLK 4096

static struct mpfs_cache *new_cache(size_t ram)
{
    char err[256];
    struct mpfs_cache_config cfg = {.block_size = BLK, .ram_bytes = ram};
    struct mpfs_cache *c = mpfs_cache_new(&cfg, err, sizeof(err));
    assert_non_null(c);
    return c;
}

static struct mpfs_block_key key(const char *file, const char *version, uint64_t block)
{
    struct mpfs_block_key k = {file, strlen(file), version, block};
    return k;
}

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        b[i] = (unsigned char)(seed * 31 + i * 7);
    }
}

static void test_hit_miss_partial(void **state)
{
    (void)state;
    struct mpfs_cache *c = new_cache(1 << 20);
    unsigned char in[BLK], out[BLK];
    fill(in, BLK, 1);
    struct mpfs_block_key k = key("s3:a/b", "etag1", 3);
    assert_int_equal(mpfs_cache_get(c, &k, out, 0, BLK), -ENOENT);
    mpfs_cache_put(c, &k, in, BLK);
    assert_int_equal(mpfs_cache_get(c, &k, out, 0, BLK), BLK);
    assert_memory_equal(in, out, BLK);
    /* a sub-range */
    memset(out, 0, BLK);
    assert_int_equal(mpfs_cache_get(c, &k, out, 100, 50), 50);
    assert_memory_equal(in + 100, out, 50);
    /* a short block (end of file): copies what there is, 0 past its end */
    struct mpfs_block_key ke = key("s3:a/b", "etag1", 4);
    mpfs_cache_put(c, &ke, in, 1000);
    assert_int_equal(mpfs_cache_get(c, &ke, out, 900, 500), 100);
    assert_memory_equal(in + 900, out, 100);
    assert_int_equal(mpfs_cache_get(c, &ke, out, 1000, 10), 0);
    assert_int_equal(mpfs_cache_contains(c, &ke), MPFS_CACHE_IN_RAM);

    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.ram_bytes, BLK + 1000);
    /* a block larger than the block size is refused, not truncated */
    unsigned char big[2 * BLK];
    struct mpfs_block_key kb = key("s3:a/b", "etag1", 5);
    mpfs_cache_put(c, &kb, big, sizeof(big));
    assert_int_equal(mpfs_cache_get(c, &kb, out, 0, 1), -ENOENT);
    mpfs_cache_free(c);
    mpfs_cache_free(NULL);
}

static void test_budget(void **state)
{
    (void)state;
    struct mpfs_cache *c = new_cache(16 * BLK);
    unsigned char in[BLK], out[BLK];
    for (uint64_t b = 0; b < 200; b++) {
        fill(in, BLK, (unsigned)b);
        struct mpfs_block_key k = key("f", "v", b);
        mpfs_cache_put(c, &k, in, BLK);
        struct mpfs_cache_stats st;
        mpfs_cache_get_stats(c, &st);
        assert_true(st.ram_bytes <= 16 * BLK);
    }
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.ram_evictions, 200 - 16);
    assert_int_equal(st.ram_bytes, 16 * BLK);
    /* the newest blocks are there and intact */
    for (uint64_t b = 190; b < 200; b++) {
        struct mpfs_block_key k = key("f", "v", b);
        assert_int_equal(mpfs_cache_get(c, &k, out, 0, BLK), BLK);
        fill(in, BLK, (unsigned)b);
        assert_memory_equal(in, out, BLK);
    }
    mpfs_cache_free(c);
}

static void test_versions_and_keys(void **state)
{
    (void)state;
    struct mpfs_cache *c = new_cache(1 << 20);
    unsigned char a[BLK], b[BLK], out[BLK];
    memset(a, 'A', BLK);
    memset(b, 'B', BLK);
    struct mpfs_block_key k1 = key("nfs:x", "m1.c1.s4096", 0);
    struct mpfs_block_key k2 = key("nfs:x", "m2.c2.s4096", 0);
    mpfs_cache_put(c, &k1, a, BLK);
    assert_int_equal(mpfs_cache_get(c, &k2, out, 0, BLK), -ENOENT); /* never the old version */
    mpfs_cache_put(c, &k2, b, BLK);
    assert_int_equal(mpfs_cache_get(c, &k1, out, 0, BLK), BLK);
    assert_int_equal(out[0], 'A');
    assert_int_equal(mpfs_cache_get(c, &k2, out, 0, BLK), BLK);
    assert_int_equal(out[0], 'B');
    /* a second put of the same key keeps the first (same version = same bytes) */
    mpfs_cache_put(c, &k1, b, BLK);
    assert_int_equal(mpfs_cache_get(c, &k1, out, 0, BLK), BLK);
    assert_int_equal(out[0], 'A');
    /* file identity is (pointer, length), not NUL-terminated; boundaries matter */
    struct mpfs_block_key kx = {"nfs:xy", 5, "m1.c1.s4096", 0}; /* = "nfs:x" */
    assert_int_equal(mpfs_cache_get(c, &kx, out, 0, 1), 1);
    struct mpfs_block_key ky = {"nfs:", 4, "xm1.c1.s4096", 0};
    assert_int_equal(mpfs_cache_get(c, &ky, out, 0, 1), -ENOENT);
    struct mpfs_block_key kblk = key("nfs:x", "m1.c1.s4096", 1);
    assert_int_equal(mpfs_cache_get(c, &kblk, out, 0, 1), -ENOENT);
    mpfs_cache_free(c);
}

static void test_invalidate(void **state)
{
    (void)state;
    struct mpfs_cache *c = new_cache(1 << 20);
    unsigned char in[BLK], out[BLK];
    fill(in, BLK, 9);
    for (uint64_t b = 0; b < 5; b++) {
        struct mpfs_block_key k1 = key("f1", "v1", b), k2 = key("f1", "v2", b),
                              k3 = key("f2", "v1", b);
        mpfs_cache_put(c, &k1, in, BLK);
        mpfs_cache_put(c, &k2, in, BLK);
        mpfs_cache_put(c, &k3, in, BLK);
    }
    mpfs_cache_invalidate(c, "f1", 2);
    for (uint64_t b = 0; b < 5; b++) {
        struct mpfs_block_key k1 = key("f1", "v1", b), k2 = key("f1", "v2", b),
                              k3 = key("f2", "v1", b);
        assert_int_equal(mpfs_cache_get(c, &k1, out, 0, BLK), -ENOENT);
        assert_int_equal(mpfs_cache_get(c, &k2, out, 0, BLK), -ENOENT);
        assert_int_equal(mpfs_cache_get(c, &k3, out, 0, BLK), BLK);
    }
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_int_equal(st.ram_bytes, 5 * BLK);
    mpfs_cache_free(c);
}

/* Slices of one shared buffer, one of which becomes hot: it must stay
 * correct when its neighbours go and it gets a buffer of its own. */
static void test_shared_slices(void **state)
{
    (void)state;
    struct mpfs_cache *c = new_cache(40 * BLK);
    struct mpfs_cache_buf *b = mpfs_cache_buf_new(8 * BLK);
    fill(mpfs_cache_buf_data(b), 8 * BLK, 77);
    unsigned char expect[BLK];
    memcpy(expect, (unsigned char *)mpfs_cache_buf_data(b) + 2 * BLK, BLK);
    for (uint64_t i = 0; i < 8; i++) {
        struct mpfs_block_key k = key("chunk", "v", i);
        mpfs_cache_put_buf(c, &k, b, (size_t)i * BLK, BLK, 0);
    }
    mpfs_cache_buf_put(b); /* the cache holds the only references now */
    unsigned char out[BLK], in[BLK];
    struct mpfs_block_key hot = key("chunk", "v", 2);
    assert_int_equal(mpfs_cache_get(c, &hot, out, 0, BLK), BLK); /* reuse -> promoted later */
    /* push everything else out */
    for (uint64_t i = 0; i < 100; i++) {
        fill(in, BLK, (unsigned)i);
        struct mpfs_block_key k = key("other", "v", i);
        mpfs_cache_put(c, &k, in, BLK);
        if (i % 8 == 0) {
            assert_int_equal(mpfs_cache_get(c, &hot, out, 0, BLK), BLK);
            assert_memory_equal(out, expect, BLK);
        }
    }
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_true(st.promotions >= 1);
    assert_int_equal(st.compactions, 1); /* the hot slice left its dead buffer once */
    assert_int_equal(mpfs_cache_get(c, &hot, out, 0, BLK), BLK);
    assert_memory_equal(out, expect, BLK);
    struct mpfs_block_key cold = key("chunk", "v", 5);
    assert_int_equal(mpfs_cache_get(c, &cold, out, 0, BLK), -ENOENT);
    mpfs_cache_free(c);
}

/* Prefetched-and-unused blocks: the first hit is a use, not a reuse. */
static void test_prefetched_flag(void **state)
{
    (void)state;
    struct mpfs_cache *c = new_cache(20 * BLK);
    unsigned char in[BLK], out[BLK];
    fill(in, BLK, 3);
    struct mpfs_cache_buf *b = mpfs_cache_buf_new(BLK);
    memcpy(mpfs_cache_buf_data(b), in, BLK);
    struct mpfs_block_key kp = key("p", "v", 0), kn = key("n", "v", 0);
    mpfs_cache_put_buf(c, &kp, b, 0, BLK, MPFS_CACHE_PREFETCHED);
    mpfs_cache_put_buf(c, &kn, b, 0, BLK, 0);
    mpfs_cache_buf_put(b);
    assert_int_equal(mpfs_cache_get(c, &kp, out, 0, BLK), BLK); /* first use */
    assert_int_equal(mpfs_cache_get(c, &kn, out, 0, BLK), BLK); /* a reuse */
    assert_int_equal(mpfs_cache_get_ex(c, &kn, out, 0, BLK, MPFS_CACHE_NOTOUCH), BLK);
    for (uint64_t i = 0; i < 40; i++) {
        struct mpfs_block_key k = key("x", "v", i);
        mpfs_cache_put(c, &k, in, BLK);
    }
    /* n was reused and survives the churn in M; p was used once and is gone */
    assert_int_equal(mpfs_cache_contains(c, &kn), MPFS_CACHE_IN_RAM);
    assert_int_equal(mpfs_cache_contains(c, &kp), MPFS_CACHE_ABSENT);
    mpfs_cache_free(c);
}

struct worker_arg {
    struct mpfs_cache *c;
    unsigned seed;
    int bad;
};

static void *worker(void *argp)
{
    struct worker_arg *a = argp;
    unsigned s = a->seed;
    unsigned char in[BLK], out[BLK];
    for (int i = 0; i < 4000; i++) {
        s = s * 1103515245 + 12345;
        uint64_t b = (s >> 8) % 300;
        struct mpfs_block_key k = key("shared", "v", b);
        ssize_t n = mpfs_cache_get(a->c, &k, out, 0, BLK);
        fill(in, BLK, (unsigned)b);
        if (n == BLK) {
            if (memcmp(in, out, BLK) != 0) {
                a->bad++;
            }
        } else if (n == -ENOENT) {
            mpfs_cache_put(a->c, &k, in, BLK);
        } else {
            a->bad++;
        }
        if (i % 1000 == 999) {
            mpfs_cache_invalidate(a->c, "nothing", 7);
        }
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    struct mpfs_cache *c = new_cache(100 * BLK);
    pthread_t t[6];
    struct worker_arg a[6];
    for (int i = 0; i < 6; i++) {
        a[i] = (struct worker_arg){c, (unsigned)i * 7919 + 1, 0};
        pthread_create(&t[i], NULL, worker, &a[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].bad, 0);
    }
    struct mpfs_cache_stats st;
    mpfs_cache_get_stats(c, &st);
    assert_true(st.ram_bytes <= 100 * BLK);
    assert_int_equal(st.hits + st.misses, 6 * 4000);
    assert_true(st.hits > 0);
    mpfs_cache_free(c);
}

static void test_bad_config(void **state)
{
    (void)state;
    char err[256] = "";
    struct mpfs_cache_config cfg = {.block_size = 3000};
    assert_null(mpfs_cache_new(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "power of two"));
    /* defaults */
    struct mpfs_cache *c = mpfs_cache_new(NULL, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(mpfs_cache_block_size(c), 1 << 20);
    mpfs_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss_partial),  cmocka_unit_test(test_budget),
        cmocka_unit_test(test_versions_and_keys), cmocka_unit_test(test_invalidate),
        cmocka_unit_test(test_shared_slices),     cmocka_unit_test(test_prefetched_flag),
        cmocka_unit_test(test_concurrent),        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

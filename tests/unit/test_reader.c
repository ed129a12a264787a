/*
 * test_reader.c - the reader (cache/reader.c) over a fake fetch: content
 * byte for byte (sequential, random, mixed, concurrent), EOF, readahead
 * issued in sequential mode and not in random mode (by fetch counts and
 * sizes), no duplicate fetches, error propagation (demand, prefetch not
 * sticky, -ESTALE, short fetch), free with fetches in flight, a second
 * pass from the RAM cache and from the disk tier; readahead sized to the
 * bandwidth-delay product (fetches in flight grow with injected latency,
 * within prefetch_threads and the readahead memory budget).
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/blockcache.h"
#include "cache/reader.h"
#include "test_reader_fake.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)

struct env {
    struct mpfs_cache *cache;
    struct mpfs_prefetcher *pf;
};

static void env_open(struct env *e, size_t ram, const char *disk_dir)
{
    char err[256];
    struct mpfs_cache_config cc = {.block_size = MiB, .ram_bytes = ram, .disk_dir = disk_dir};
    e->cache = mpfs_cache_new(&cc, err, sizeof(err));
    assert_non_null(e->cache);
    struct mpfs_reader_config rc = {0}; /* defaults: 64 MiB window, 4 threads, 8 MiB */
    e->pf = mpfs_prefetcher_new(e->cache, &rc);
    assert_non_null(e->pf);
}

static void env_close(struct env *e)
{
    mpfs_prefetcher_free(e->pf);
    mpfs_cache_free(e->cache);
}

/* Read [off, off+len) and compare with the fake's bytes. */
static void read_check(struct mpfs_reader *r, struct fake_file *f, uint64_t off, size_t len)
{
    unsigned char *buf = malloc(len ? len : 1);
    ssize_t n = mpfs_reader_read(r, buf, len, off);
    uint64_t expect = off >= f->size ? 0 : (off + len > f->size ? f->size - off : len);
    if (n != (ssize_t)expect) {
        fail_msg("read %zu at %llu: got %zd, expected %llu", len, (unsigned long long)off, n,
                 (unsigned long long)expect);
    }
    if (expect && memcmp(buf, f->data + off, expect) != 0) {
        fail_msg("read %zu at %llu: wrong bytes", len, (unsigned long long)off);
    }
    free(buf);
}

static void test_sequential_readahead(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 128 * MiB, NULL);
    uint64_t size = 32 * MiB + 12345;
    struct fake_file *f = fake_new(size, 1);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:seq", "v1", size, fake_fetch, f);
    for (uint64_t off = 0; off < size; off += MiB) {
        read_check(r, f, off, MiB);
    }
    struct mpfs_reader_stats st;
    mpfs_reader_get_stats(r, &st);
    print_message("sequential: calls=%llu max_len=%llu issued=%llu used=%llu demand=%llu\n",
                  (unsigned long long)atomic_load(&f->calls),
                  (unsigned long long)atomic_load(&f->max_len),
                  (unsigned long long)st.prefetch_issued, (unsigned long long)st.prefetch_used,
                  (unsigned long long)st.demand_fetches);
    assert_true(st.sequential);
    assert_true(st.prefetch_issued >= 28); /* nearly all via readahead */
    assert_true(st.prefetch_used >= st.prefetch_issued - 1);
    assert_int_equal(atomic_load(&f->max_len), 8 * MiB); /* large requests */
    assert_true(st.demand_fetches <= 3);
    assert_int_equal(atomic_load(&f->bytes), size); /* every byte fetched once */
    assert_int_equal(st.bytes_fetched, size);
    assert_true(st.bytes_from_cache >= size - 4 * MiB);
    mpfs_reader_free(r);

    /* a second open of the same version is served from the cache */
    uint64_t calls = atomic_load(&f->calls);
    r = mpfs_reader_new(e.pf, "mem:seq", "v1", size, fake_fetch, f);
    for (uint64_t off = 0; off < size; off += MiB) {
        read_check(r, f, off, MiB);
    }
    mpfs_reader_get_stats(r, &st);
    assert_int_equal(atomic_load(&f->calls), calls);
    assert_int_equal(st.bytes_from_cache, size);
    mpfs_reader_free(r);
    fake_free(f);
    env_close(&e);
}

static void test_random_no_amplification(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 128 * MiB, NULL);
    uint64_t size = 64 * MiB;
    struct fake_file *f = fake_new(size, 2);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:rand", "v1", size, fake_fetch, f);
    uint64_t x = 99;
    uint64_t offs[300];
    size_t lens[300];
    for (int i = 0; i < 300; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        lens[i] = (size_t)(4 * KiB + ((x >> 40) % 61) * KiB); /* 4..64 KiB */
        offs[i] = (x >> 17) % (size - lens[i]);
        read_check(r, f, offs[i], lens[i]);
    }
    struct mpfs_reader_stats st;
    mpfs_reader_get_stats(r, &st);
    uint64_t calls = atomic_load(&f->calls);
    print_message("random: calls=%llu bytes=%llu max_len=%llu seq=%d\n", (unsigned long long)calls,
                  (unsigned long long)atomic_load(&f->bytes),
                  (unsigned long long)atomic_load(&f->max_len), st.sequential);
    assert_int_equal(st.prefetch_issued, 0);
    assert_false(st.sequential);
    /* 128 KiB sub-blocks: a read spanning two costs 256 KiB, never 1 MiB+ */
    assert_true(atomic_load(&f->max_len) <= 256 * KiB);
    assert_true(atomic_load(&f->bytes) <= 300 * 256 * KiB);
    assert_true(calls <= 300);
    /* the same reads again: all from the cache */
    for (int i = 0; i < 300; i++) {
        read_check(r, f, offs[i], lens[i]);
    }
    assert_int_equal(atomic_load(&f->calls), calls);
    mpfs_reader_free(r);
    fake_free(f);
    env_close(&e);
}

/* Whole blocks read out of order (parallel O_DIRECT reads of one file
 * arrive so, and look random) are cached as blocks: the next sequential
 * pass, through another handle, fetches nothing again. */
static void test_whole_blocks_out_of_order_cached(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 128 * MiB, NULL);
    uint64_t size = 3 * MiB;
    struct fake_file *f = fake_new(size, 7);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:ooo", "v1", size, fake_fetch, f);
    read_check(r, f, 2 * MiB, 1 * MiB);
    read_check(r, f, 1 * MiB, 1 * MiB);
    read_check(r, f, 0, 1 * MiB);
    mpfs_reader_free(r);
    r = mpfs_reader_new(e.pf, "mem:ooo", "v1", size, fake_fetch, f);
    for (uint64_t off = 0; off < size; off += MiB)
        read_check(r, f, off, 1 * MiB);
    for (uint64_t off = 0; off < size; off += MiB)
        assert_int_equal(fake_times_fetched(f, off + 4096), 1);
    mpfs_reader_free(r);
    fake_free(f);
    env_close(&e);
}

static void test_mixed_byte_for_byte(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64 * MiB, NULL);
    uint64_t size = 40 * MiB + 777;
    struct fake_file *f = fake_new(size, 3);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:mixed", "v1", size, fake_fetch, f);
    uint64_t x = 7;
    for (int seg = 0; seg < 30; seg++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t off = (x >> 13) % size;
        if (seg % 3 == 0) {
            /* a sequential run of odd-sized reads */
            for (int i = 0; i < 20; i++) {
                size_t len = 100 * KiB + (size_t)i * 3001;
                read_check(r, f, off, len);
                off += len;
            }
        } else {
            for (int i = 0; i < 10; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                read_check(r, f, (x >> 11) % size, (size_t)((x >> 50) % (300 * KiB)) + 1);
            }
        }
    }
    /* reads across the end */
    read_check(r, f, size - 1000, 5000);
    read_check(r, f, size - MiB - 5, 2 * MiB);
    mpfs_reader_free(r);
    fake_free(f);
    env_close(&e);
}

static void test_eof(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64 * MiB, NULL);
    uint64_t size = 3 * MiB + 100;
    struct fake_file *f = fake_new(size, 4);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:eof", "v1", size, fake_fetch, f);
    unsigned char buf[2 * MiB];
    assert_int_equal(mpfs_reader_read(r, buf, MiB, 3 * MiB), 100);
    assert_memory_equal(buf, f->data + 3 * MiB, 100);
    assert_int_equal(mpfs_reader_read(r, buf, MiB, size), 0);
    assert_int_equal(mpfs_reader_read(r, buf, MiB, 10 * MiB), 0);
    assert_int_equal(mpfs_reader_read(r, buf, 0, 0), 0);
    uint64_t total = 0;
    for (uint64_t off = 0;; off += MiB) {
        ssize_t n = mpfs_reader_read(r, buf, MiB, off);
        assert_true(n >= 0);
        if (n == 0) {
            break;
        }
        assert_memory_equal(buf, f->data + off, (size_t)n);
        total += (uint64_t)n;
    }
    assert_int_equal(total, size);
    /* no fetch ever asked past the end */
    for (size_t i = 0; i < f->nlog; i++) {
        assert_true(f->log[i].off + f->log[i].len <= size);
    }
    mpfs_reader_free(r);

    struct fake_file *empty = fake_new(0, 5);
    r = mpfs_reader_new(e.pf, "mem:empty", "v1", 0, fake_fetch, empty);
    assert_int_equal(mpfs_reader_read(r, buf, MiB, 0), 0);
    assert_int_equal(atomic_load(&empty->calls), 0);
    mpfs_reader_free(r);
    fake_free(empty);
    fake_free(f);
    env_close(&e);
}

static void test_errors(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64 * MiB, NULL);
    uint64_t size = 8 * MiB;
    struct fake_file *f = fake_new(size, 6);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:err", "v1", size, fake_fetch, f);
    unsigned char buf[64 * KiB];
    atomic_store(&f->fail_all, EIO);
    assert_int_equal(mpfs_reader_read(r, buf, sizeof(buf), 0), -EIO);
    atomic_store(&f->fail_all, 0);
    read_check(r, f, 0, sizeof(buf)); /* not sticky */

    atomic_store(&f->stale, 1);
    assert_int_equal(mpfs_reader_read(r, buf, sizeof(buf), 5 * MiB), -ESTALE);
    atomic_store(&f->stale, 0);

    atomic_store(&f->short_by, 10); /* the object shrank under a pinned size */
    assert_int_equal(mpfs_reader_read(r, buf, sizeof(buf), 3 * MiB), -ESTALE);
    atomic_store(&f->short_by, 0);
    read_check(r, f, 3 * MiB, sizeof(buf)); /* nothing bad was cached */
    mpfs_reader_free(r);
    fake_free(f);
    env_close(&e);
}

static void test_prefetch_error_not_sticky(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 128 * MiB, NULL);
    uint64_t size = 40 * MiB;
    struct fake_file *f = fake_new(size, 7);
    f->fail_err = EIO;
    f->fail_at = 30 * MiB + 5;
    atomic_store(&f->fail_at_count, 1);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:pferr", "v1", size, fake_fetch, f);
    for (uint64_t off = 0; off < size; off += MiB) {
        read_check(r, f, off, MiB);
    }
    /* fetched twice: the failed readahead, then the read's own retry */
    assert_int_equal(fake_times_fetched(f, 30 * MiB + 5), 2);
    struct mpfs_prefetcher_stats ps;
    mpfs_prefetcher_get_stats(e.pf, &ps);
    assert_int_equal(ps.jobs_failed, 1);
    mpfs_reader_free(r);
    fake_free(f);
    env_close(&e);
}

struct same_block_arg {
    struct env *e;
    struct fake_file *f;
    pthread_barrier_t *bar;
    uint64_t off;
    int ok;
};

static void *same_block_reader(void *p)
{
    struct same_block_arg *a = p;
    struct mpfs_reader *r =
        mpfs_reader_new(a->e->pf, "mem:same", "v1", a->f->size, fake_fetch, a->f);
    unsigned char buf[4096];
    pthread_barrier_wait(a->bar);
    ssize_t n = mpfs_reader_read(r, buf, sizeof(buf), a->off);
    a->ok = n == (ssize_t)sizeof(buf) && memcmp(buf, a->f->data + a->off, sizeof(buf)) == 0;
    mpfs_reader_free(r);
    return NULL;
}

static void test_no_duplicate_fetch(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64 * MiB, NULL);
    struct fake_file *f = fake_new(16 * MiB, 8);
    f->delay_us = 30000; /* a slow backend: everyone arrives during the fetch */
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 4);
    pthread_t t[4];
    struct same_block_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct same_block_arg){&e, f, &bar, 5 * MiB + 1000 + (uint64_t)i * 8192, 0};
        pthread_create(&t[i], NULL, same_block_reader, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_true(a[i].ok);
    }
    assert_int_equal(atomic_load(&f->calls), 1);
    struct mpfs_prefetcher_stats ps;
    mpfs_prefetcher_get_stats(e.pf, &ps);
    print_message("same block, 4 readers: fetch calls=%llu waits=%llu\n",
                  (unsigned long long)atomic_load(&f->calls), (unsigned long long)ps.waits);
    pthread_barrier_destroy(&bar);
    fake_free(f);
    env_close(&e);
}

struct seq_arg {
    struct env *e;
    struct fake_file *f;
    int ok;
};

static void *seq_reader(void *p)
{
    struct seq_arg *a = p;
    struct mpfs_reader *r =
        mpfs_reader_new(a->e->pf, "mem:conc", "v1", a->f->size, fake_fetch, a->f);
    unsigned char *buf = malloc(MiB);
    a->ok = 1;
    for (uint64_t off = 0; off < a->f->size; off += MiB) {
        ssize_t n = mpfs_reader_read(r, buf, MiB, off);
        size_t want = (size_t)MPFS_TEST_MIN(MiB, a->f->size - off);
        if (n != (ssize_t)want || memcmp(buf, a->f->data + off, want) != 0) {
            a->ok = 0;
        }
    }
    free(buf);
    mpfs_reader_free(r);
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 128 * MiB, NULL);
    uint64_t size = 32 * MiB + 4321;
    struct fake_file *f = fake_new(size, 9);
    f->delay_us = 500;
    pthread_t t[4];
    struct seq_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct seq_arg){&e, f, 0};
        pthread_create(&t[i], NULL, seq_reader, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_true(a[i].ok);
    }
    print_message("4 concurrent sequential readers: bytes fetched %llu for a %llu-byte file\n",
                  (unsigned long long)atomic_load(&f->bytes), (unsigned long long)size);
    assert_int_equal(atomic_load(&f->bytes), size); /* one fetch per byte, 4 readers */
    fake_free(f);
    env_close(&e);
}

struct shared_arg {
    struct mpfs_reader *r;
    struct fake_file *f;
    unsigned seed;
    int ok;
};

static void *shared_handle_reader(void *p)
{
    struct shared_arg *a = p;
    unsigned char *buf = malloc(256 * KiB);
    uint64_t x = a->seed;
    a->ok = 1;
    for (int i = 0; i < 200; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t off = (x >> 12) % a->f->size;
        size_t len = (size_t)((x >> 45) % (256 * KiB)) + 1;
        if (i % 50 < 20) {
            off = (uint64_t)a->seed * 4 * MiB + (uint64_t)(i % 50) * 200 * KiB; /* runs */
        }
        ssize_t n = mpfs_reader_read(a->r, buf, len, off);
        size_t want = off >= a->f->size ? 0 : (size_t)MPFS_TEST_MIN(len, a->f->size - off);
        if (n != (ssize_t)want || memcmp(buf, a->f->data + off, want) != 0) {
            a->ok = 0;
        }
    }
    free(buf);
    return NULL;
}

static void test_shared_handle_threads(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 16 * MiB, NULL); /* small: eviction while reading */
    uint64_t size = 24 * MiB + 3;
    struct fake_file *f = fake_new(size, 10);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:shared", "v1", size, fake_fetch, f);
    pthread_t t[4];
    struct shared_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct shared_arg){r, f, (unsigned)i + 1, 0};
        pthread_create(&t[i], NULL, shared_handle_reader, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_true(a[i].ok);
    }
    mpfs_reader_free(r);
    struct mpfs_cache_stats cs;
    mpfs_cache_get_stats(e.cache, &cs);
    assert_true(cs.ram_bytes <= 16 * MiB);
    fake_free(f);
    env_close(&e);
}

static void test_version_separation(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64 * MiB, NULL);
    struct fake_file *a = fake_new(4 * MiB, 11), *b = fake_new(4 * MiB, 12);
    struct mpfs_reader *ra = mpfs_reader_new(e.pf, "mem:ver", "etag-a", a->size, fake_fetch, a);
    for (uint64_t off = 0; off < a->size; off += 512 * KiB) {
        read_check(ra, a, off, 512 * KiB);
    }
    mpfs_reader_free(ra);
    /* the file changed: same identity, new version; nothing of the old one shows */
    struct mpfs_reader *rb = mpfs_reader_new(e.pf, "mem:ver", "etag-b", b->size, fake_fetch, b);
    for (uint64_t off = 0; off < b->size; off += 512 * KiB) {
        read_check(rb, b, off, 512 * KiB);
    }
    assert_int_equal(atomic_load(&b->bytes), b->size);
    mpfs_reader_free(rb);

    /* unknown version: never shared between opens */
    uint64_t calls = atomic_load(&a->calls);
    struct mpfs_reader *u1 = mpfs_reader_new(e.pf, "mem:ver", "", a->size, fake_fetch, a);
    read_check(u1, a, 0, 64 * KiB); /* etag-a's blocks are not used */
    assert_true(atomic_load(&a->calls) > calls);
    /* (a first range and its block in the background: wait for the block) */
    mpfs_reader_free(u1);
    u1 = mpfs_reader_new(e.pf, "mem:ver", "", a->size, fake_fetch, a);
    calls = atomic_load(&a->calls);
    read_check(u1, a, 0, 1 * MiB);
    read_check(u1, a, 0, 64 * KiB); /* cached within the open */
    assert_int_equal(atomic_load(&a->calls), calls + 1);
    mpfs_reader_free(u1);
    struct mpfs_reader *u2 = mpfs_reader_new(e.pf, "mem:ver", NULL, b->size, fake_fetch, b);
    read_check(u2, b, 0, 64 * KiB);
    mpfs_reader_free(u2);
    fake_free(a);
    fake_free(b);
    env_close(&e);
}

/* Time to first byte (issue 8): a 1-byte read of a cold 1 MiB object
 * fetches at most 64 KiB first; the block follows in the background and
 * serves the rest of the object with no further fetch. */
static void test_first_byte_small_fetch(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64 * MiB, NULL);
    struct fake_file *f = fake_new(1 * MiB, 21);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:ttfb", "v1", f->size, fake_fetch, f);
    read_check(r, f, 0, 1);
    assert_true(f->nlog >= 1);
    /* the first call to complete answered the read; the log is in call
     * order, and the small range is the one the read waits for */
    int small = 0;
    for (size_t i = 0; i < f->nlog; i++) {
        small += f->log[i].off == 0 && f->log[i].len <= 64 * KiB;
    }
    assert_int_equal(small, 1);
    for (uint64_t off = 0; off < f->size; off += 128 * KiB) {
        read_check(r, f, off, 128 * KiB);
    }
    assert_int_equal(atomic_load(&f->calls), 2); /* the first range + the block */
    assert_int_equal(atomic_load(&f->bytes), 64 * KiB + 1 * MiB);
    struct mpfs_reader_stats st;
    mpfs_reader_get_stats(r, &st);
    assert_int_equal(st.first_fetches, 1);
    mpfs_reader_free(r);
    fake_free(f);
    env_close(&e);
}

/* A file's first bytes learned elsewhere (mpfs_prefetcher_put_head: a
 * lookup's GET) answer the first small read: no first-range fetch, only
 * the block behind it.  A whole small file put that way needs no fetch at
 * all; another version's head is never used. */
static void test_put_head_answers_first_read(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64 * MiB, NULL);
    struct fake_file *f = fake_new(1 * MiB, 23);
    struct mpfs_cache_buf *b = mpfs_cache_buf_new(256 * KiB);
    memcpy(mpfs_cache_buf_data(b), f->data, 256 * KiB);
    mpfs_prefetcher_put_head(e.pf, "mem:head", "v1", f->size, b, 256 * KiB);
    mpfs_cache_buf_put(b);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:head", "v1", f->size, fake_fetch, f);
    read_check(r, f, 0, 1);
    read_check(r, f, 100, 4096);
    for (uint64_t off = 0; off < f->size; off += 128 * KiB) {
        read_check(r, f, off, 128 * KiB);
    }
    assert_int_equal(atomic_load(&f->calls), 1); /* the block, no first range */
    assert_int_equal(atomic_load(&f->bytes), 1 * MiB);
    struct mpfs_reader_stats st;
    mpfs_reader_get_stats(r, &st);
    assert_int_equal(st.first_fetches, 0);
    mpfs_reader_free(r);
    /* another version: the head put for v1 does not answer it */
    atomic_store(&f->calls, 0);
    r = mpfs_reader_new(e.pf, "mem:head", "v2", f->size, fake_fetch, f);
    read_check(r, f, 0, 1);
    mpfs_reader_get_stats(r, &st);
    assert_int_equal(st.first_fetches, 1);
    mpfs_reader_free(r);
    fake_free(f);

    f = fake_new(200 * KiB, 24);
    b = mpfs_cache_buf_new(256 * KiB); /* a lookup's buffer, larger than the file */
    memcpy(mpfs_cache_buf_data(b), f->data, f->size);
    mpfs_prefetcher_put_head(e.pf, "mem:whole", "v1", f->size, b, f->size);
    void *lookup_buf = mpfs_cache_buf_data(b);
    mpfs_cache_buf_put(b);
    /* the cache kept a copy, not the 256 KiB buffer (it charges the entry
     * 200 KiB): the buffer went back to the pool, the next one is it */
    b = mpfs_cache_buf_new(256 * KiB);
    assert_ptr_equal(mpfs_cache_buf_data(b), lookup_buf);
    mpfs_cache_buf_put(b);
    r = mpfs_reader_new(e.pf, "mem:whole", "v1", f->size, fake_fetch, f);
    read_check(r, f, 0, 1);
    read_check(r, f, 0, 200 * KiB);
    assert_int_equal(atomic_load(&f->calls), 0);
    mpfs_reader_free(r);
    fake_free(f);
    env_close(&e);
}

/* A small file (<= 256 KiB) is fetched whole by its first read, however
 * small: one request per sample file. */
static void test_small_file_one_fetch(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64 * MiB, NULL);
    struct fake_file *f = fake_new(200 * KiB, 22);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:small", "v1", f->size, fake_fetch, f);
    read_check(r, f, 0, 1);
    read_check(r, f, 4096, 128 * KiB);
    read_check(r, f, 132 * KiB, 128 * KiB);
    assert_int_equal(atomic_load(&f->calls), 1);
    assert_int_equal(f->log[0].len, 200 * KiB);
    mpfs_reader_free(r);
    fake_free(f);
    env_close(&e);
}

/* mpfs_reader_fetch_first: the next read fetches although the cache
 * holds the block (its success confirms the version); a failed fetch
 * keeps the mode; after the first success the cache serves again. */
static void test_fetch_first(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64 * MiB, NULL);
    struct fake_file *f = fake_new(128 * KiB, 23);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:ff", "v1", f->size, fake_fetch, f);
    read_check(r, f, 0, 128 * KiB);
    mpfs_reader_free(r);
    assert_int_equal(atomic_load(&f->calls), 1);
    r = mpfs_reader_new(e.pf, "mem:ff", "v1", f->size, fake_fetch, f);
    read_check(r, f, 0, 128 * KiB); /* cached */
    assert_int_equal(atomic_load(&f->calls), 1);
    mpfs_reader_fetch_first(r);
    atomic_store(&f->stale, 1);
    char buf[16];
    assert_int_equal(mpfs_reader_read(r, buf, sizeof(buf), 0), -ESTALE);
    atomic_store(&f->stale, 0);
    read_check(r, f, 64 * KiB, 1); /* still fetches */
    assert_int_equal(atomic_load(&f->calls), 3);
    read_check(r, f, 0, 128 * KiB); /* the mode ended */
    assert_int_equal(atomic_load(&f->calls), 3);
    mpfs_reader_free(r);
    fake_free(f);
    env_close(&e);
}

static void test_free_with_fetches_in_flight(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, 64 * MiB, NULL);
    struct fake_file *f = fake_new(64 * MiB, 13);
    f->delay_us = 20000;
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:inflight", "v1", f->size, fake_fetch, f);
    for (uint64_t off = 0; off < 8 * MiB; off += MiB) {
        read_check(r, f, off, MiB);
    }
    struct mpfs_reader_stats st;
    mpfs_reader_get_stats(r, &st);
    assert_true(st.prefetch_issued > 0);
    mpfs_reader_free(r); /* waits for running jobs, cancels queued ones */
    struct mpfs_prefetcher_stats ps;
    mpfs_prefetcher_get_stats(e.pf, &ps);
    assert_int_equal(ps.memory, 0);
    uint64_t calls = atomic_load(&f->calls);
    usleep(50000);
    assert_int_equal(atomic_load(&f->calls), calls); /* nothing runs after free */
    fake_free(f);
    env_close(&e);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void test_second_epoch_from_disk(void **state)
{
    (void)state;
    char dir[] = "/tmp/mpfs-reader-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct env e;
    env_open(&e, 8 * MiB, dir); /* RAM holds a third of the file */
    uint64_t size = 24 * MiB + 99;
    struct fake_file *f = fake_new(size, 14);
    struct mpfs_reader *r = mpfs_reader_new(e.pf, "mem:epochs", "v1", size, fake_fetch, f);
    for (uint64_t off = 0; off < size; off += MiB) {
        read_check(r, f, off, MiB);
    }
    mpfs_reader_free(r);
    mpfs_cache_flush(e.cache);
    struct mpfs_cache_stats cs;
    mpfs_cache_get_stats(e.cache, &cs);
    print_message("epoch 1: disk writes %llu drops %llu\n", (unsigned long long)cs.disk_writes,
                  (unsigned long long)cs.disk_write_drops);
    assert_int_equal(cs.disk_writes + cs.disk_write_drops, 25);
    uint64_t calls = atomic_load(&f->calls);
    r = mpfs_reader_new(e.pf, "mem:epochs", "v1", size, fake_fetch, f);
    for (uint64_t off = 0; off < size; off += MiB) {
        read_check(r, f, off, MiB);
    }
    mpfs_reader_free(r);
    mpfs_cache_get_stats(e.cache, &cs);
    print_message("epoch 2: fetch calls %llu, disk hits %llu\n",
                  (unsigned long long)(atomic_load(&f->calls) - calls),
                  (unsigned long long)cs.disk_hits);
    /* everything that reached the disk came back from it, not the backend */
    assert_true(cs.disk_hits >= 25 - 8); /* RAM (8 MiB) may still hold a few */
    if (cs.disk_write_drops == 0) {
        assert_int_equal(atomic_load(&f->calls), calls);
    }
    fake_free(f);
    env_close(&e);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A sequential reader paced by 500 us of "compute" after each 1 MiB read
 * over a fetch with delay_us of latency: what the readahead put in flight
 * (max_in_flight: over the second half of the file, in steady state). */
struct paced {
    int max_in_flight;
    uint64_t mem_peak, window, threads, fetch_ns;
};

static void paced_read(int delay_us, int threads, uint64_t mem_limit, struct paced *out)
{
    char err[256];
    struct mpfs_cache_config cc = {.block_size = MiB, .ram_bytes = 16 * MiB};
    struct mpfs_cache *c = mpfs_cache_new(&cc, err, sizeof(err));
    assert_non_null(c);
    struct mpfs_reader_config rc = {.max_readahead = 64 * MiB,
                                    .prefetch_threads = threads,
                                    .max_request = 2 * MiB,
                                    .max_prefetch_memory = mem_limit};
    struct mpfs_prefetcher *pf = mpfs_prefetcher_new(c, &rc);
    uint64_t size = 96 * MiB;
    struct fake_file *f = fake_new(size, 21);
    f->delay_us = delay_us;
    struct mpfs_reader *r = mpfs_reader_new(pf, "mem:bdp", "v1", size, fake_fetch, f);
    memset(out, 0, sizeof(*out));
    unsigned char *buf = malloc(MiB);
    for (uint64_t off = 0; off < size; off += MiB) {
        if (off == size / 2) {
            /* from here on, steady state: both measures have samples,
             * the window is the BDP (not the first ramp) */
            atomic_store(&f->max_in_flight, atomic_load(&f->in_flight));
        }
        /* one buffer, not read_check()'s malloc per read: the loop's own
         * time is the demand rate the reader measures */
        assert_int_equal(mpfs_reader_read(r, buf, MiB, off), MiB);
        assert_memory_equal(buf, f->data + off, MiB);
        struct mpfs_prefetcher_stats ps;
        mpfs_prefetcher_get_stats(pf, &ps);
        out->mem_peak = ps.memory > out->mem_peak ? ps.memory : out->mem_peak;
        usleep(500);
    }
    struct mpfs_reader_stats st;
    mpfs_reader_get_stats(r, &st);
    struct mpfs_prefetcher_stats ps;
    mpfs_prefetcher_get_stats(pf, &ps);
    out->max_in_flight = atomic_load(&f->max_in_flight);
    out->window = st.window;
    out->threads = ps.threads;
    out->fetch_ns = ps.fetch_ns;
    print_message("latency %d us, %d threads at most, readahead memory %llu MiB: %d fetches in "
                  "flight at most, %llu threads, window %llu MiB, demand %.0f MB/s, fetch %.1f "
                  "ms, peak memory %.1f MiB\n",
                  delay_us, threads, (unsigned long long)(mem_limit / MiB), out->max_in_flight,
                  (unsigned long long)ps.threads, (unsigned long long)(st.window / MiB),
                  st.demand_bps / 1e6, ps.fetch_ns / 1e6, out->mem_peak / (double)MiB);
    assert_int_equal(atomic_load(&f->bytes), size); /* nothing fetched twice */
    free(buf);
    mpfs_reader_free(r);
    mpfs_prefetcher_free(pf);
    mpfs_cache_free(c);
    fake_free(f);
}

static void test_inflight_follows_latency(void **state)
{
    (void)state;
    struct paced fast, slow;
    paced_read(1000, 16, 512 * MiB, &fast);
    paced_read(100000, 16, 512 * MiB, &slow);
    /* the fast store needs a small window: the BDP, not readahead_max */
    assert_true(fast.window < 64 * MiB);
    assert_true(fast.fetch_ns > 0 && fast.fetch_ns < slow.fetch_ns);
    /* 100x the latency: a larger window and more fetches at once, more
     * than the old fixed pool of 4, but never more than the bound */
    assert_true(slow.window > fast.window);
    assert_true(slow.max_in_flight > fast.max_in_flight);
    assert_true(slow.max_in_flight > 4);
    assert_true(slow.max_in_flight <= 16);
    assert_true(slow.threads <= 16);
}

static void test_inflight_within_budget(void **state)
{
    (void)state;
    struct paced p;
    /* the slow store asks for 64 MiB, the budget allows 8 MiB: 4
     * requests of 2 MiB at most, whatever the latency */
    paced_read(20000, 16, 8 * MiB, &p);
    assert_true(p.mem_peak <= 8 * MiB);
    assert_true(p.max_in_flight <= 4);
    /* and prefetch_threads bounds the pool when memory does not */
    paced_read(20000, 6, 512 * MiB, &p);
    assert_true(p.max_in_flight <= 6);
    assert_int_equal(p.threads, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential_readahead),
        cmocka_unit_test(test_random_no_amplification),
        cmocka_unit_test(test_whole_blocks_out_of_order_cached),
        cmocka_unit_test(test_mixed_byte_for_byte),
        cmocka_unit_test(test_eof),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_prefetch_error_not_sticky),
        cmocka_unit_test(test_no_duplicate_fetch),
        cmocka_unit_test(test_concurrent_readers),
        cmocka_unit_test(test_shared_handle_threads),
        cmocka_unit_test(test_version_separation),
        cmocka_unit_test(test_free_with_fetches_in_flight),
        cmocka_unit_test(test_second_epoch_from_disk),
        cmocka_unit_test(test_first_byte_small_fetch),
        cmocka_unit_test(test_small_file_one_fetch),
        cmocka_unit_test(test_put_head_answers_first_read),
        cmocka_unit_test(test_fetch_first),
        cmocka_unit_test(test_inflight_follows_latency),
        cmocka_unit_test(test_inflight_within_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

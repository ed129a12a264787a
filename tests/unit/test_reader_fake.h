/*
 * test_reader_fake.h - a fake fetch callback over an in-memory "file" for
 * the reader tests and the reader benchmark: call and byte counters, a log
 * of every (offset, length) fetched, the most calls running at once,
 * optional per-call delay (injected latency), injected
 * errors (all calls, the next N calls, or calls covering one offset), a
 * "version changed" mode returning -ESTALE, and a short-read mode.
 * Header-only (static functions) so each test binary gets its own copy.
 */
#ifndef MPFS_TEST_READER_FAKE_H
#define MPFS_TEST_READER_FAKE_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#define FAKE_LOG_MAX 65536
#define MPFS_TEST_MIN(a, b) ((a) < (b) ? (a) : (b))

struct fake_call {
    uint64_t off;
    size_t len;
};

struct fake_file {
    unsigned char *data;
    uint64_t size;
    int delay_us;             /* sleep per call */
    atomic_int fail_all;      /* -errno returned by every call, 0 = off */
    atomic_int fail_next;     /* the next N calls fail with fail_err */
    int fail_err;             /* errno for fail_next / fail_at */
    uint64_t fail_at;         /* calls covering this offset fail ... */
    atomic_int fail_at_count; /* ... this many times */
    atomic_int stale;         /* version changed: -ESTALE */
    atomic_int short_by;      /* return this many bytes less than asked */
    atomic_uint_fast64_t calls, bytes, max_len;
    atomic_int in_flight, max_in_flight; /* calls running at once, and the most */
    pthread_mutex_t lock;
    struct fake_call log[FAKE_LOG_MAX];
    size_t nlog;
};

/* Deterministic content: 8-byte words of a multiplicative hash of the index. */
static inline struct fake_file *fake_new(uint64_t size, unsigned seed)
{
    struct fake_file *f = calloc(1, sizeof(*f));
    f->data = malloc(size ? size : 1);
    for (uint64_t i = 0; i < size; i += 8) {
        uint64_t x = (i >> 3) * 0x9E3779B97F4A7C15ull + seed;
        x ^= x >> 29;
        memcpy(f->data + i, &x, size - i < 8 ? size - i : 8);
    }
    f->size = size;
    pthread_mutex_init(&f->lock, NULL);
    return f;
}

static inline void fake_free(struct fake_file *f)
{
    if (!f) {
        return;
    }
    pthread_mutex_destroy(&f->lock);
    free(f->data);
    free(f);
}

static inline ssize_t fake_fetch_body(struct fake_file *f, void *buf, size_t len, uint64_t off)
{
    atomic_fetch_add(&f->calls, 1);
    uint_fast64_t m = atomic_load(&f->max_len);
    while (len > m && !atomic_compare_exchange_weak(&f->max_len, &m, len)) {
    }
    pthread_mutex_lock(&f->lock);
    if (f->nlog < FAKE_LOG_MAX) {
        f->log[f->nlog].off = off;
        f->log[f->nlog].len = len;
        f->nlog++;
    }
    pthread_mutex_unlock(&f->lock);
    if (f->delay_us) {
        struct timespec ts = {f->delay_us / 1000000, (long)(f->delay_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    int e = atomic_load(&f->fail_all);
    if (e) {
        return -e;
    }
    if (atomic_load(&f->stale)) {
        return -ESTALE;
    }
    if (atomic_load(&f->fail_next) > 0 && atomic_fetch_sub(&f->fail_next, 1) > 0) {
        return -f->fail_err;
    }
    if (f->fail_at >= off && f->fail_at < off + len && atomic_load(&f->fail_at_count) > 0 &&
        atomic_fetch_sub(&f->fail_at_count, 1) > 0) {
        return -f->fail_err;
    }
    if (off >= f->size) {
        return 0;
    }
    size_t n = len;
    if (off + n > f->size) {
        n = (size_t)(f->size - off);
    }
    int sb = atomic_load(&f->short_by);
    if (sb > 0) {
        n = n > (size_t)sb ? n - (size_t)sb : 0;
    }
    memcpy(buf, f->data + off, n);
    atomic_fetch_add(&f->bytes, n);
    return (ssize_t)n;
}

static inline ssize_t fake_fetch(void *ctx, void *buf, size_t len, uint64_t off)
{
    struct fake_file *f = ctx;
    int now = atomic_fetch_add(&f->in_flight, 1) + 1;
    int m = atomic_load(&f->max_in_flight);
    while (now > m && !atomic_compare_exchange_weak(&f->max_in_flight, &m, now)) {
    }
    ssize_t n = fake_fetch_body(f, buf, len, off);
    atomic_fetch_sub(&f->in_flight, 1);
    return n;
}

/* How many logged calls fetched byte `off`. */
static inline int fake_times_fetched(struct fake_file *f, uint64_t off)
{
    int n = 0;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nlog; i++) {
        if (off >= f->log[i].off && off < f->log[i].off + f->log[i].len) {
            n++;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return n;
}

#endif

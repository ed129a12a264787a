/*
 * buffer.c - refcounted block buffers (struct mpfs_cache_buf) and a small
 * pool that recycles the large ones.
 *
 * Why a pool: the reader fetches into fresh 8 MiB / 1 MiB buffers and the
 * cache frees them on eviction, at up to ~1000 buffers a second when
 * streaming.  glibc serves sizes this large with mmap (or trims them back
 * to the kernel), so every buffer costs 2048 page faults, a page clearing
 * and a TLB shootdown on free: measured at over half of the CPU time of a
 * streaming read.  Buffers whose capacity is a power of two in
 * [64 KiB, 64 MiB] go back to a per-size LIFO instead (the warm one is
 * reused first), bounded to POOL_MAX_BYTES in total; everything else is
 * malloc/free.
 *
 * Huge pages (MADV_HUGEPAGE) were tried for the large buffers and made a
 * cold streaming pass 2-3x slower here (with THP defrag in "madvise" mode
 * every fault may compact memory synchronously), so data is plain 64-byte
 * aligned memory; the header is a separate small allocation.
 *
 * A buffer the pool cannot supply is new memory, and on the virtual
 * machines here a page fault is expensive: a cold 512 MiB pass took ~89k
 * faults, a fifth of the daemon's CPU time (perf: exc_page_fault under
 * the fetch's memcpy; the RAM cache filling up is new memory whatever the
 * pool does).  Buffers of 1 MiB and more are therefore mmap()ed with
 * MAP_POPULATE: the kernel fills the whole range in one call, without a
 * trap per page.
 *
 * Locking: one mutex around the pool's lists, taken only on allocation and
 * on the free of a pooled size; reference counts are atomics.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "base/log.h"
#include "cache/cache_internal.h"

#define POOL_MIN_SHIFT 16 /* 64 KiB */
#define POOL_MAX_SHIFT 26 /* 64 MiB */
#define POOL_MAX_BYTES (96ull << 20) /* default; mpfs_cache_buf_pool_limit() */
#define MAP_MIN (1u << 20)           /* buffers this large are mmap()ed, populated */
#define POPULATE_MIN (64u << 10)     /* smaller ones this large are populated too */

struct pool_node {
    struct pool_node *next;
    struct mpfs_cache_buf *buf;
};

static struct {
    pthread_mutex_t lock;
    struct pool_node *bins[POOL_MAX_SHIFT + 1];
    uint64_t bytes;
    uint64_t max; /* 0 = POOL_MAX_BYTES */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

void mpfs_cache_buf_pool_limit(uint64_t bytes)
{
    pthread_mutex_lock(&pool.lock);
    pool.max = bytes ? bytes : POOL_MAX_BYTES;
    pthread_mutex_unlock(&pool.lock);
}

/* log2 of len if it is a pooled size, else -1 */
static int pool_class(size_t len)
{
    if (len < (1u << POOL_MIN_SHIFT) || len > (1u << POOL_MAX_SHIFT) || (len & (len - 1))) {
        return -1;
    }
    return __builtin_ctzll(len);
}

static void oom(size_t n)
{
    mpfs_error("block cache: out of memory allocating %zu bytes", n);
    abort(); /* as mpfs_xmalloc: not an I/O outcome to recover from */
}

static struct mpfs_cache_buf *buf_alloc(size_t len)
{
    struct mpfs_cache_buf *b = malloc(sizeof(*b));
    if (!b) {
        oom(sizeof(*b));
    }
    b->map_len = 0;
    if (len >= MAP_MIN) {
        /* Populated at once: one call instead of a fault per page (see
         * the top); on a kernel without it the pages fault in as before. */
        size_t n = (len + 4095) & ~(size_t)4095;
        void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                       -1, 0);
        if (p != MAP_FAILED) {
            b->data = p;
            b->map_len = n;
            return b;
        }
    }
    size_t cap = (len + 63) & ~(size_t)63;
    b->data = aligned_alloc(64, cap ? cap : 64);
    if (!b->data) {
        oom(cap);
    }
    if (len >= POPULATE_MIN) {
        /* Most likely new heap pages (the pool had none): fault them in
         * with one call, as MAP_POPULATE does above.  Only whole pages
         * inside the buffer; an older kernel refuses and the pages fault
         * in as they are written. */
        uintptr_t lo = ((uintptr_t)b->data + 4095) & ~(uintptr_t)4095;
        uintptr_t hi = ((uintptr_t)b->data + len) & ~(uintptr_t)4095;
        if (hi > lo) {
            (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
        }
    }
    return b;
}

static void buf_free(struct mpfs_cache_buf *b)
{
    if (b) {
        if (b->map_len) {
            munmap(b->data, b->map_len);
        } else {
            free(b->data);
        }
        free(b);
    }
}

struct mpfs_cache_buf *mpfs_cache_buf_new(size_t len)
{
    int cls = pool_class(len);
    struct mpfs_cache_buf *b = NULL;
    if (cls >= 0) {
        pthread_mutex_lock(&pool.lock);
        struct pool_node *n = pool.bins[cls];
        if (n) {
            pool.bins[cls] = n->next;
            pool.bytes -= len;
            b = n->buf;
            free(n);
        }
        pthread_mutex_unlock(&pool.lock);
    }
    if (!b) {
        b = buf_alloc(len);
    }
    atomic_init(&b->refs, 1);
    atomic_init(&b->dead, 0);
    b->len = len;
    return b;
}

void *mpfs_cache_buf_data(struct mpfs_cache_buf *b)
{
    return b->data;
}

size_t mpfs_cache_buf_len(const struct mpfs_cache_buf *b)
{
    return b->len;
}

void mpfs_cache_buf_get(struct mpfs_cache_buf *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void mpfs_cache_buf_put(struct mpfs_cache_buf *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    int cls = pool_class(b->len);
    if (cls >= 0) {
        struct pool_node *n = malloc(sizeof(*n)); /* small: the data is what we keep */
        pthread_mutex_lock(&pool.lock);
        if (n && pool.bytes + b->len <= (pool.max ? pool.max : POOL_MAX_BYTES)) {
            n->buf = b;
            n->next = pool.bins[cls];
            pool.bins[cls] = n;
            pool.bytes += b->len;
            b = NULL;
            n = NULL;
        }
        pthread_mutex_unlock(&pool.lock);
        free(n);
    }
    buf_free(b);
}

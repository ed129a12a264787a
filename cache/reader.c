/*
 * reader.c - readers, the shared prefetch pool and the in-flight table
 * (see reader.h for the data path).
 *
 * In-flight table: one record per unit being fetched or prefetched-and-
 * unread, keyed by the unit's 128-bit cache key hash (a collision of two
 * 128-bit hashes is not a case we guard against).  States:
 *   FETCHING -> READY (data in rec->buf)     -> removed when used/freed
 *            -> FAILED (error in rec->err)   -> removed at once
 * A demand record is removed as soon as its data is in the cache (the
 * fetcher inserts first and removes second, and a miss re-checks the RAM
 * cache under the table lock, so no unit is ever fetched twice because of
 * that window).  A prefetch record stays READY, owned by the reader that
 * issued it, until a read uses it (then it is inserted into the cache) or
 * it falls outside every readahead window of its reader, or the reader is
 * freed (then it is inserted into the cache marked "prefetched").
 *
 * Records are refcounted (table, job, each waiter) under p->lock; waiters
 * sleep on one condition variable, broadcast on every state change: with
 * a handful of FUSE threads a shared condvar costs less than per-record
 * ones and cannot lose a wakeup.
 *
 * Locks: r->lock (detector, readahead cursor) -> p->lock (table, queue,
 * records, per-reader job counts and lists) -> cache locks.  Fetches and
 * memcpy of block data run with no lock held.
 */
#include "cache/reader.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/log.h"
#include "base/util.h"
#include "cache/pattern.h"
#include "cache/rasize.h"

#define SUB_FLAG (1ull << 63) /* key space of random-mode sub-blocks */
#define TABLE_BUCKETS 4096
#define RECENT 4
#define DEFAULT_THREADS 16 /* the pool's bound when the config gives none */
#define MIN_THREADS 4      /* started with the pool; more on demand */

enum rec_state { REC_FETCHING, REC_READY, REC_FAILED };

struct rec {
    struct rec *hnext;
    uint64_t lo, hi;
    uint64_t unit; /* cache block number (with SUB_FLAG for sub-blocks) */
    uint64_t off;  /* file offset of the unit */
    size_t len;
    int state, err;
    int prefetch;
    int from_disk; /* data came from the disk tier: do not write it back */
    int in_table;
    unsigned refs;
    struct mpfs_cache_buf *buf; /* READY: data at buf + boff */
    size_t boff;
    struct mpfs_reader *owner; /* prefetch, until used or released */
    struct rec *onext, *oprev;
};

struct job {
    struct job *next;
    struct mpfs_reader *r;
    int disk; /* read the blocks from the disk tier instead of fetching */
    uint64_t off;
    size_t len;
    size_t nrec;
    struct rec *recs[];
};

struct mpfs_prefetcher {
    struct mpfs_cache *cache;
    size_t bs, small, max_request, max_readahead;
    size_t small_file, first_fetch;
    uint64_t mem_limit;

    pthread_mutex_t lock;
    pthread_cond_t state_cond; /* record state changes, job completions */
    pthread_cond_t work_cond;  /* jobs queued, or stop */
    struct rec *table[TABLE_BUCKETS];
    struct job *qhead, *qtail;
    size_t qlen, qcap;
    uint64_t mem_used;
    int nreaders;
    int stop;
    /* The pool is elastic: it starts with MIN_THREADS and starts another
     * thread when a job is queued and no thread is idle, up to
     * max_threads (prefetch_threads).  The windows (rasize.h) decide how
     * many requests are queued, so the thread count follows the measured
     * bandwidth-delay product; threads never exit before the prefetcher. */
    int nthreads, max_threads, idle, running;
    int has_pool; /* set once at creation: at least one thread started */
    pthread_t *threads;
    struct mpfs_ra_fetch rafetch; /* service time of readahead requests */
    struct mpfs_prefetcher_stats stats;
};

struct mpfs_reader {
    struct mpfs_prefetcher *p;
    char *file;
    size_t file_len;
    char *version;
    uint64_t size;
    mpfs_fetch_fn fetch;
    void *ctx;

    pthread_mutex_t lock; /* pat, recent, demand */
    struct mpfs_pattern pat;
    struct mpfs_ra_demand demand;
    uint64_t window; /* last window asked for (before memory back-pressure), for stats */
    uint64_t recent[RECENT]; /* units read last, for MPFS_CACHE_NOTOUCH */
    unsigned recent_pos;

    /* under p->lock */
    struct rec owned; /* sentinel of prefetch records owned */
    int jobs;         /* queued + running */

    atomic_uint_fast64_t bytes_from_cache, bytes_fetched, prefetch_issued, prefetch_used,
        fetch_calls, demand_fetches, first_fetches;
    atomic_int fetch_first; /* mpfs_reader_fetch_first: the next read must fetch */
    atomic_uint_fast64_t blocked_ns; /* reads waiting on fetches, since the last read began */
};

/* ---- keys, table, records (p->lock held unless said) ----------------- */

static void unit_key(const struct mpfs_reader *r, uint64_t unit, struct mpfs_block_key *k)
{
    k->file = r->file;
    k->file_len = r->file_len;
    k->version = r->version;
    k->block = unit;
}

static void unit_hash(const struct mpfs_reader *r, uint64_t unit, uint64_t h[2])
{
    struct mpfs_block_key k;
    unit_key(r, unit, &k);
    mpfs_cache_key_hash(&k, h);
}

static struct rec *table_find(struct mpfs_prefetcher *p, const uint64_t h[2])
{
    for (struct rec *x = p->table[h[0] % TABLE_BUCKETS]; x; x = x->hnext) {
        if (x->lo == h[0] && x->hi == h[1]) {
            return x;
        }
    }
    return NULL;
}

static void table_insert(struct mpfs_prefetcher *p, struct rec *x)
{
    struct rec **b = &p->table[x->lo % TABLE_BUCKETS];
    x->hnext = *b;
    *b = x;
    x->in_table = 1;
    x->refs++;
}

/* Drop n references at once (the table's and ours together: one call, so
 * the record is provably alive until the last one goes). */
static void rec_release(struct rec *x, unsigned n)
{
    MPFS_ASSERT(x->refs >= n);
    x->refs -= n;
    if (x->refs == 0) {
        mpfs_cache_buf_put(x->buf);
        free(x);
    }
}

static void rec_unref(struct rec *x)
{
    rec_release(x, 1);
}

/* Unlink from the table; returns the number of references that frees
 * (1 if it was in the table, else 0) for the caller to release. */
static unsigned table_unlink(struct mpfs_prefetcher *p, struct rec *x)
{
    if (!x->in_table) {
        return 0;
    }
    struct rec **pp = &p->table[x->lo % TABLE_BUCKETS];
    while (*pp != x) {
        pp = &(*pp)->hnext;
    }
    *pp = x->hnext;
    x->hnext = NULL;
    x->in_table = 0;
    return 1;
}

static void owner_attach(struct mpfs_reader *r, struct rec *x)
{
    x->owner = r;
    x->onext = r->owned.onext;
    x->oprev = &r->owned;
    r->owned.onext->oprev = x;
    r->owned.onext = x;
}

/* Detach a prefetch record from its reader; its memory stops counting. */
static void owner_detach(struct mpfs_prefetcher *p, struct rec *x)
{
    if (!x->owner) {
        return;
    }
    x->oprev->onext = x->onext;
    x->onext->oprev = x->oprev;
    x->onext = x->oprev = NULL;
    x->owner = NULL;
    MPFS_ASSERT(p->mem_used >= x->len);
    p->mem_used -= x->len;
}

static struct rec *rec_new(struct mpfs_reader *r, uint64_t unit, uint64_t off, size_t len,
                           int prefetch)
{
    struct rec *x = mpfs_xcalloc(1, sizeof(*x));
    uint64_t h[2];
    unit_hash(r, unit, h);
    x->lo = h[0];
    x->hi = h[1];
    x->unit = unit;
    x->off = off;
    x->len = len;
    x->state = REC_FETCHING;
    x->prefetch = prefetch;
    return x;
}

/* ---- the pool ------------------------------------------------------- */

static void run_fetch_job(struct mpfs_prefetcher *p, struct job *j)
{
    struct mpfs_reader *r = j->r;
    struct mpfs_cache_buf *b = mpfs_cache_buf_new(j->len);
    int64_t t0 = mpfs_now_ns();
    ssize_t got = r->fetch(r->ctx, mpfs_cache_buf_data(b), j->len, j->off);
    int64_t took = mpfs_now_ns() - t0;
    atomic_fetch_add(&r->fetch_calls, 1);
    if (got > 0) {
        atomic_fetch_add(&r->bytes_fetched, (uint64_t)got);
    }
    int err = 0;
    if (got < 0) {
        err = (int)-got;
    } else if ((size_t)got > j->len) {
        err = EIO; /* a broken fetch callback; never trust its buffer */
    } else if ((size_t)got < j->len) {
        err = ESTALE;
        mpfs_warn("reader %.*s: readahead of %zu bytes at %" PRIu64 " got %zd: file shorter "
                  "than its size %" PRIu64 ", treating as changed",
                  (int)r->file_len, r->file, j->len, j->off, got, r->size);
    }
    pthread_mutex_lock(&p->lock);
    p->stats.jobs_run++;
    if (err) {
        p->stats.jobs_failed++;
    } else {
        mpfs_ra_fetch_sample(&p->rafetch, j->len, (uint64_t)MPFS_MAX(took, 0));
    }
    for (size_t i = 0; i < j->nrec; i++) {
        struct rec *x = j->recs[i];
        unsigned drop = 1; /* the job's reference */
        if (err) {
            x->state = REC_FAILED;
            x->err = -err;
            owner_detach(p, x);
            drop += table_unlink(p, x);
        } else {
            x->state = REC_READY;
            mpfs_cache_buf_get(b);
            x->buf = b;
            x->boff = (size_t)(x->off - j->off);
        }
        rec_release(x, drop);
    }
    pthread_cond_broadcast(&p->state_cond);
    pthread_mutex_unlock(&p->lock);
    mpfs_cache_buf_put(b);
}

/* Blocks on the disk tier: read them (checksum-verified) into records,
 * like a fetch but local.  A block that went away or is bad fails its
 * record, and the read that needs it fetches it from the backend. */
static void run_disk_job(struct mpfs_prefetcher *p, struct job *j)
{
    for (size_t i = 0; i < j->nrec; i++) {
        struct rec *x = j->recs[i];
        struct mpfs_block_key k;
        unit_key(j->r, x->unit, &k);
        struct mpfs_cache_buf *b = NULL;
        size_t len = 0;
        int rc = mpfs_cache_read_disk(p->cache, &k, &b, &len);
        if (rc == 0 && len != x->len) {
            rc = -EIO; /* cannot happen for one version; never serve it */
        }
        pthread_mutex_lock(&p->lock);
        p->stats.jobs_run++;
        unsigned drop = 1; /* the job's reference */
        if (rc != 0) {
            x->state = REC_FAILED;
            x->err = rc;
            owner_detach(p, x);
            drop += table_unlink(p, x);
        } else {
            x->state = REC_READY;
            x->buf = b;
            b = NULL;
            x->boff = 0;
        }
        rec_release(x, drop);
        pthread_cond_broadcast(&p->state_cond);
        pthread_mutex_unlock(&p->lock);
        mpfs_cache_buf_put(b);
    }
}

static void *worker_main(void *arg)
{
    struct mpfs_prefetcher *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->qhead && !p->stop) {
            p->idle++;
            pthread_cond_wait(&p->work_cond, &p->lock);
            p->idle--;
        }
        if (!p->qhead) {
            break;
        }
        struct job *j = p->qhead;
        p->qhead = j->next;
        if (!p->qhead) {
            p->qtail = NULL;
        }
        p->qlen--;
        if (!j->disk) {
            p->running++;
            p->stats.fetches_peak = MPFS_MAX(p->stats.fetches_peak, (uint64_t)p->running);
        }
        pthread_mutex_unlock(&p->lock);

        if (j->disk) {
            run_disk_job(p, j);
        } else {
            run_fetch_job(p, j);
        }

        pthread_mutex_lock(&p->lock);
        if (!j->disk) {
            p->running--;
        }
        j->r->jobs--;
        pthread_cond_broadcast(&p->state_cond);
        free(j);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* One more pool thread.  p->lock held (a new thread blocks on it until
 * the caller lets go).  0 or -errno. */
static int start_thread(struct mpfs_prefetcher *p)
{
    int rc = pthread_create(&p->threads[p->nthreads], NULL, worker_main, p);
    if (rc != 0) {
        mpfs_error("reader: cannot start prefetch thread %d: %s", p->nthreads, strerror(rc));
        return -rc;
    }
    p->nthreads++;
    p->stats.threads = (uint64_t)p->nthreads;
    return 0;
}

struct mpfs_prefetcher *mpfs_prefetcher_new(struct mpfs_cache *c,
                                            const struct mpfs_reader_config *cfg)
{
    struct mpfs_reader_config def = {0};
    if (!cfg) {
        cfg = &def;
    }
    struct mpfs_prefetcher *p = mpfs_xcalloc(1, sizeof(*p));
    p->cache = c;
    p->bs = mpfs_cache_block_size(c);
    p->max_readahead = cfg->max_readahead ? cfg->max_readahead : (64u << 20);
    p->max_request = cfg->max_request ? cfg->max_request : (8u << 20);
    p->small = cfg->small_block ? cfg->small_block : (128u << 10);
    p->mem_limit = cfg->max_prefetch_memory ? cfg->max_prefetch_memory : (512ull << 20);
    p->max_threads = cfg->prefetch_threads > 0 ? cfg->prefetch_threads : DEFAULT_THREADS;
    p->small_file = cfg->small_file ? cfg->small_file : (256u << 10);
    p->first_fetch = cfg->first_fetch ? cfg->first_fetch : (64u << 10);
    /* Units must tile a block, and requests whole blocks.  The default
     * unit shrinks to a smaller block silently; a unit the caller chose is
     * worth a warning. */
    if (p->small > p->bs || p->bs % p->small != 0) {
        if (cfg->small_block)
            mpfs_warn("reader: small_block %zu does not divide the block size %zu; using %zu",
                      p->small, p->bs, p->bs);
        p->small = p->bs;
    }
    p->max_request = MPFS_MAX(p->bs, p->max_request / p->bs * p->bs);
    p->max_readahead = MPFS_MAX(p->bs, p->max_readahead);
    p->qcap = (size_t)p->max_threads * 8;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->state_cond, NULL);
    pthread_cond_init(&p->work_cond, NULL);
    p->threads = mpfs_xcalloc((size_t)p->max_threads, sizeof(*p->threads));
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < MPFS_MIN(MIN_THREADS, p->max_threads); i++) {
        if (start_thread(p) != 0) {
            break;
        }
    }
    p->has_pool = p->nthreads > 0;
    pthread_mutex_unlock(&p->lock);
    if (!p->has_pool) {
        mpfs_error("reader: no prefetch threads; readahead disabled");
    }
    return p;
}

void mpfs_prefetcher_free(struct mpfs_prefetcher *p)
{
    if (!p) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    MPFS_ASSERT(p->nreaders == 0 && "free every reader before its prefetcher");
    p->stop = 1;
    pthread_cond_broadcast(&p->work_cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++) {
        pthread_join(p->threads[i], NULL);
    }
    free(p->threads);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->state_cond);
    pthread_cond_destroy(&p->work_cond);
    free(p);
}

void mpfs_prefetcher_put_head(struct mpfs_prefetcher *p, const char *file, const char *version,
                              uint64_t size, struct mpfs_cache_buf *buf, size_t len)
{
    struct mpfs_block_key k = {file, strlen(file), version, 0};
    if (!version || !version[0] || len == 0 || len > size) {
        return;
    }
    if (len == size && size <= p->bs) {
        /* a buffer of its own: the cache charges an entry its length, so
         * a 5 KiB file must not pin the caller's 256 KiB buffer */
        struct mpfs_cache_buf *own = mpfs_cache_buf_new(len);
        memcpy(mpfs_cache_buf_data(own), mpfs_cache_buf_data(buf), len);
        mpfs_cache_put_buf(p->cache, &k, own, 0, len, MPFS_CACHE_PREFETCHED);
        mpfs_cache_buf_put(own);
        return;
    }
    if (p->small >= p->bs) {
        return;
    }
    for (uint64_t idx = 0; (idx + 1) * p->small <= len; idx++) {
        k.block = SUB_FLAG | idx;
        mpfs_cache_put_buf(p->cache, &k, buf, (size_t)(idx * p->small), p->small,
                           MPFS_CACHE_PREFETCHED);
    }
}

void mpfs_prefetcher_get_stats(struct mpfs_prefetcher *p, struct mpfs_prefetcher_stats *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->stats;
    out->memory = p->mem_used;
    out->fetch_ns = (uint64_t)(mpfs_ra_fetch_time(&p->rafetch, p->max_request) * 1e9);
    out->readers = (uint64_t)p->nreaders;
    pthread_mutex_unlock(&p->lock);
}

/* ---- readers -------------------------------------------------------- */

struct mpfs_reader *mpfs_reader_new(struct mpfs_prefetcher *p, const char *file,
                                    const char *version, uint64_t size, mpfs_fetch_fn fetch,
                                    void *ctx)
{
    struct mpfs_reader *r = mpfs_xcalloc(1, sizeof(*r));
    r->p = p;
    r->file_len = strlen(file);
    r->file = mpfs_xstrdup(file);
    if (version && version[0]) {
        r->version = mpfs_xstrdup(version);
    } else {
        /* No version token: nothing proves two opens see the same bytes,
         * so this handle's blocks get a key nobody else can match (cached
         * for this open only; a NUL-free token no backend produces). */
        static atomic_uint_fast64_t unversioned;
        r->version =
            mpfs_xasprintf("\x01unversioned-%" PRIu64, (uint64_t)atomic_fetch_add(&unversioned, 1));
    }
    r->size = size;
    r->fetch = fetch;
    r->ctx = ctx;
    pthread_mutex_init(&r->lock, NULL);
    struct mpfs_pattern_config pc = {
        .block_size = p->bs,
        .max_window = p->max_readahead,
    };
    mpfs_pattern_init(&r->pat, &pc);
    for (int i = 0; i < RECENT; i++) {
        r->recent[i] = UINT64_MAX;
    }
    r->owned.onext = r->owned.oprev = &r->owned;
    pthread_mutex_lock(&p->lock);
    p->nreaders++;
    pthread_mutex_unlock(&p->lock);
    return r;
}

/* Move READY prefetch records off their reader into the cache (they hold
 * fetched data that may still be useful to someone), drop the rest of the
 * chain's references.  Called without p->lock; list from detach_recs(). */
static void release_recs(struct mpfs_reader *r, struct rec *list)
{
    struct mpfs_prefetcher *p = r->p;
    for (struct rec *x = list; x; x = x->onext) {
        if (x->state == REC_READY) {
            struct mpfs_block_key k;
            unit_key(r, x->unit, &k);
            mpfs_cache_put_buf(p->cache, &k, x->buf, x->boff, x->len,
                               MPFS_CACHE_PREFETCHED | (x->from_disk ? MPFS_CACHE_FROM_DISK : 0));
        }
    }
    pthread_mutex_lock(&p->lock);
    while (list) {
        struct rec *next = list->onext;
        list->onext = NULL;
        rec_unref(list);
        list = next;
    }
    pthread_mutex_unlock(&p->lock);
}

/* Detach READY records of r for which keep() is false; returns them
 * chained by onext, each with one reference.  p->lock held. */
static struct rec *detach_recs(struct mpfs_reader *r,
                               int (*keep)(const struct mpfs_reader *, const struct rec *))
{
    struct mpfs_prefetcher *p = r->p;
    struct rec *out = NULL;
    struct rec *x = r->owned.onext;
    while (x != &r->owned) {
        struct rec *next = x->onext;
        if (x->state == REC_READY && !(keep && keep(r, x))) {
            owner_detach(p, x);
            if (!table_unlink(p, x)) {
                x->refs++; /* else the table's reference becomes ours */
            }
            x->onext = out;
            out = x;
        }
        x = next;
    }
    return out;
}

/* Is x inside the readahead span of one of r's streams?  r->lock held. */
static int in_some_window(const struct mpfs_reader *r, const struct rec *x)
{
    uint64_t bs = r->p->bs;
    for (int i = 0; i < MPFS_PATTERN_STREAMS; i++) {
        const struct mpfs_pattern_stream *s = &r->pat.streams[i];
        if (!s->active || s->window == 0) {
            continue;
        }
        uint64_t lo = s->next > bs ? s->next - bs : 0;
        if (x->off + x->len > lo && x->off < s->ra_next + bs) {
            return 1;
        }
    }
    return 0;
}

void mpfs_reader_free(struct mpfs_reader *r)
{
    if (!r) {
        return;
    }
    struct mpfs_prefetcher *p = r->p;
    pthread_mutex_lock(&p->lock);
    /* Cancel queued jobs of r: their records fail with -ECANCELED, and
     * whoever waits on them retries with a fetch of its own. */
    struct job **pp = &p->qhead;
    p->qtail = NULL;
    while (*pp) {
        struct job *j = *pp;
        if (j->r != r) {
            p->qtail = j;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        p->qlen--;
        for (size_t i = 0; i < j->nrec; i++) {
            struct rec *x = j->recs[i];
            x->state = REC_FAILED;
            x->err = -ECANCELED;
            owner_detach(p, x);
            rec_release(x, 1 + table_unlink(p, x));
        }
        r->jobs--;
        free(j);
    }
    pthread_cond_broadcast(&p->state_cond);
    while (r->jobs > 0) {
        pthread_cond_wait(&p->state_cond, &p->lock);
    }
    struct rec *left = detach_recs(r, NULL);
    MPFS_ASSERT(r->owned.onext == &r->owned);
    p->nreaders--;
    p->stats.ra_issued += atomic_load(&r->prefetch_issued);
    p->stats.ra_used += atomic_load(&r->prefetch_used);
    if (r->pat.sequential)
        p->stats.closed_sequential++;
    else
        p->stats.closed_random++;
    pthread_mutex_unlock(&p->lock);
    release_recs(r, left);

    pthread_mutex_destroy(&r->lock);
    free(r->file);
    free(r->version);
    free(r);
}

void mpfs_reader_get_stats(struct mpfs_reader *r, struct mpfs_reader_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->bytes_from_cache = atomic_load(&r->bytes_from_cache);
    out->bytes_fetched = atomic_load(&r->bytes_fetched);
    out->prefetch_issued = atomic_load(&r->prefetch_issued);
    out->prefetch_used = atomic_load(&r->prefetch_used);
    out->fetch_calls = atomic_load(&r->fetch_calls);
    out->demand_fetches = atomic_load(&r->demand_fetches);
    out->first_fetches = atomic_load(&r->first_fetches);
    pthread_mutex_lock(&r->lock);
    out->mode_switches = r->pat.mode_switches;
    out->window = r->window;
    out->demand_bps = (uint64_t)mpfs_ra_demand_rate(&r->demand);
    out->sequential = r->pat.sequential;
    pthread_mutex_unlock(&r->lock);
}

/* ---- readahead ------------------------------------------------------ */

static void queue_job(struct mpfs_prefetcher *p, struct job *j)
{
    if (p->qtail) {
        p->qtail->next = j;
    } else {
        p->qhead = j;
    }
    p->qtail = j;
    p->qlen++;
    j->r->jobs++;
    /* more queued than idle threads to take them: the windows ask for
     * more requests in flight than the pool runs, so grow it */
    if (p->qlen > (size_t)p->idle && p->nthreads < p->max_threads && !p->stop) {
        (void)start_thread(p); /* failure logged; the queue still drains */
    }
    pthread_cond_signal(&p->work_cond);
}

static void queue_run(struct mpfs_reader *r, uint64_t first, size_t n, int disk)
{
    struct mpfs_prefetcher *p = r->p;
    struct job *j = mpfs_xcalloc(1, sizeof(*j) + n * sizeof(struct rec *));
    j->r = r;
    j->disk = disk;
    j->off = first * p->bs;
    uint64_t end = MPFS_MIN(r->size, (first + n) * p->bs);
    j->len = (size_t)(end - j->off);
    j->nrec = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t off = (first + i) * p->bs;
        struct rec *x =
            rec_new(r, first + i, off, (size_t)(MPFS_MIN(r->size, off + p->bs) - off), 1);
        x->from_disk = disk;
        table_insert(p, x);
        x->refs++; /* the job's */
        owner_attach(r, x);
        p->mem_used += x->len;
        j->recs[i] = x;
    }
    if (!disk) {
        atomic_fetch_add(&r->prefetch_issued, n);
    }
    queue_job(p, j);
}

/* Request blocks [start, start+len) (block-aligned start) unless in RAM
 * or in flight: runs of absent blocks as fetch jobs, runs of blocks on the
 * disk tier as disk jobs.  0, or -EAGAIN if the queue or the memory
 * budget is full (nothing queued; try again on a later read).  r->lock
 * held. */
static int issue_readahead(struct mpfs_reader *r, uint64_t start, uint64_t len)
{
    struct mpfs_prefetcher *p = r->p;
    if (!p->has_pool) {
        return -EAGAIN;
    }
    pthread_mutex_lock(&p->lock);
    if (p->stop || p->qlen >= p->qcap || p->mem_used + len > p->mem_limit) {
        p->stats.readahead_deferred++;
        pthread_mutex_unlock(&p->lock);
        return -EAGAIN;
    }
    uint64_t first = start / p->bs;
    uint64_t last = (start + len + p->bs - 1) / p->bs; /* exclusive */
    uint64_t run = 0;
    size_t n = 0;
    int run_kind = MPFS_CACHE_ABSENT;
    for (uint64_t b = first; b <= last; b++) {
        int where = MPFS_CACHE_IN_RAM; /* sentinel at b == last: ends the run */
        if (b < last) {
            struct mpfs_block_key k;
            uint64_t h[2];
            unit_key(r, b, &k);
            mpfs_cache_key_hash(&k, h);
            where = table_find(p, h) ? MPFS_CACHE_IN_RAM : mpfs_cache_contains(p->cache, &k);
        }
        if (n && (where != run_kind || b == last)) {
            queue_run(r, run, n, run_kind == MPFS_CACHE_ON_DISK);
            n = 0;
        }
        if (where != MPFS_CACHE_IN_RAM) {
            if (n == 0) {
                run = b;
                run_kind = where;
            }
            n++;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* Classify the read, keep the window of its stream requested, and let go
 * of readahead nobody is heading for.  Returns the classification. */
static int plan(struct mpfs_reader *r, uint64_t off, size_t len)
{
    struct mpfs_prefetcher *p = r->p;
    struct mpfs_pattern_decision d;
    int64_t now = mpfs_now_ns();
    pthread_mutex_lock(&r->lock);
    mpfs_pattern_observe(&r->pat, off, len, &d);
    mpfs_ra_demand_sample(&r->demand, now, atomic_exchange(&r->blocked_ns, 0), len);
    if (d.sequential && d.window > 0) {
        struct mpfs_pattern_stream *s = &r->pat.streams[d.stream];
        uint64_t bs = p->bs;
        uint64_t end = off + len;
        /* the demand read fetches the block holding `end`; readahead starts
         * at the next block boundary */
        uint64_t start = MPFS_MAX(s->ra_next, (end + bs - 1) / bs * bs);
        /* Back-pressure: the window shrinks with the readahead memory left
         * (a quarter of it per stream, at least a block); when none is
         * left, issue_readahead() defers and the reads fetch on demand. */
        pthread_mutex_lock(&p->lock);
        uint64_t left = p->mem_limit > p->mem_used ? p->mem_limit - p->mem_used : 0;
        struct mpfs_ra_fetch rf = p->rafetch;
        pthread_mutex_unlock(&p->lock);
        /* The window is what the stream's bandwidth-delay product asks
         * (rasize.h), reached by the detector's doubling ramp. */
        uint64_t bdp = mpfs_ra_window(&rf, &r->demand, p->max_request, bs, p->max_readahead);
        r->window = MPFS_MIN(d.window, bdp);
        d.window = MPFS_MIN(r->window, MPFS_MAX(bs, left / 4));
        uint64_t target = MPFS_MIN(r->size, (end + d.window + bs - 1) / bs * bs);
        /* Requests of max_request once the window holds two of them (the
         * BDP window always does: its 2 S term), so the store sees few,
         * large ranges; while the window ramps, a quarter window (at least
         * a block): always several in flight per window, so the reader
         * never waits for the one request it is consuming to be replaced. */
        uint64_t batch = d.window >= 2 * (uint64_t)p->max_request
                             ? (uint64_t)p->max_request
                             : MPFS_MAX(bs, d.window / 4 / bs * bs);
        while (start < target) {
            uint64_t chunk = MPFS_MIN(batch, target - start);
            if (chunk < batch && target < r->size) {
                break; /* wait until a full request's worth is due */
            }
            if (issue_readahead(r, start, chunk) != 0) {
                break;
            }
            start += chunk;
        }
        s->ra_next = start;
    }
    /* Readahead falls outside every window only when a stream is
     * replaced (or skips ahead), so look for it then and every 64 reads,
     * not on every read: it walks the reader's records under p->lock. */
    struct rec *drop = NULL;
    if (d.new_stream || (r->pat.reads & 63) == 0) {
        pthread_mutex_lock(&p->lock);
        if (r->owned.onext != &r->owned) {
            drop = detach_recs(r, in_some_window);
        }
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&r->lock);
    if (drop) {
        release_recs(r, drop);
    }
    return d.sequential;
}

/* ---- demand path ---------------------------------------------------- */

/* Was unit read by this reader just now?  Then this is the same logical
 * access continuing, not a reuse (keeps a scan from looking hot). */
static unsigned touch_flags(struct mpfs_reader *r, uint64_t unit)
{
    unsigned flags = 0;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < RECENT; i++) {
        if (r->recent[i] == unit) {
            flags = MPFS_CACHE_NOTOUCH;
        }
    }
    if (!flags) {
        r->recent[r->recent_pos++ % RECENT] = unit;
    }
    pthread_mutex_unlock(&r->lock);
    return flags;
}

/* Serve from an in-flight record of unit (waiting for it if needed).
 * Returns bytes copied, -ENOENT if there is no record, -EAGAIN if the
 * record failed (*err set), with p->lock held on entry and released. */
static ssize_t serve_from_rec(struct mpfs_reader *r, struct rec *x, void *dst, size_t inoff,
                              size_t n, int *err)
{
    struct mpfs_prefetcher *p = r->p;
    x->refs++;
    if (x->state == REC_FETCHING) {
        p->stats.waits++;
        int64_t t0 = mpfs_now_ns();
        while (x->state == REC_FETCHING) {
            pthread_cond_wait(&p->state_cond, &p->lock);
        }
        atomic_fetch_add(&r->blocked_ns, (uint64_t)MPFS_MAX(mpfs_now_ns() - t0, 0));
    }
    if (x->state == REC_FAILED) {
        *err = x->err;
        rec_unref(x);
        pthread_mutex_unlock(&p->lock);
        return -EAGAIN;
    }
    /* READY.  The first read to use a prefetched unit moves it into the
     * cache (after copying, outside the lock) and out of the table. */
    int consume = x->owner != NULL;
    if (consume) {
        atomic_fetch_add(&x->owner->prefetch_used, 1);
        owner_detach(p, x);
    }
    struct mpfs_cache_buf *b = x->buf;
    mpfs_cache_buf_get(b);
    size_t boff = x->boff, xlen = x->len;
    pthread_mutex_unlock(&p->lock);

    size_t m = inoff >= xlen ? 0 : MPFS_MIN(n, xlen - inoff);
    memcpy(dst, (unsigned char *)mpfs_cache_buf_data(b) + boff + inoff, m);
    if (consume) {
        struct mpfs_block_key k;
        unit_key(r, x->unit, &k);
        mpfs_cache_put_buf(p->cache, &k, b, boff, xlen, x->from_disk ? MPFS_CACHE_FROM_DISK : 0);
    }
    mpfs_cache_buf_put(b);
    pthread_mutex_lock(&p->lock);
    rec_release(x, 1 + (consume ? table_unlink(p, x) : 0));
    pthread_mutex_unlock(&p->lock);
    return (ssize_t)m;
}

/* One fetch in the caller's thread into b, counted (fetch_calls, *kind,
 * bytes); anything but exactly len bytes is an error: more is a broken
 * callback, less means the file is shorter than its size (changed). */
static ssize_t fetch_exact(struct mpfs_reader *r, struct mpfs_cache_buf *b, size_t len,
                           uint64_t off, atomic_uint_fast64_t *kind)
{
    int64_t t0 = mpfs_now_ns();
    ssize_t got = r->fetch(r->ctx, mpfs_cache_buf_data(b), len, off);
    atomic_fetch_add(&r->blocked_ns, (uint64_t)MPFS_MAX(mpfs_now_ns() - t0, 0));
    atomic_fetch_add(&r->fetch_calls, 1);
    atomic_fetch_add(kind, 1);
    if (got > 0) {
        atomic_fetch_add(&r->bytes_fetched, (uint64_t)got);
    }
    if (got > (ssize_t)len) {
        return -EIO; /* a broken fetch callback; never trust its buffer */
    }
    if (got >= 0 && (size_t)got < len) {
        mpfs_warn("reader %.*s: read of %zu bytes at %" PRIu64 " got %zd: file shorter than "
                  "its size %" PRIu64 ", treating as changed",
                  (int)r->file_len, r->file, len, off, got, r->size);
        return -ESTALE;
    }
    return got;
}

/* Fetch units [first, first+n) of size usize in the caller's thread, with
 * records registered (p->lock held on entry, released).  Inserts them into
 * the cache, wakes waiters, copies [pos, min(end, run end)) to dst.
 * Returns bytes copied or -errno. */
static ssize_t demand_fetch(struct mpfs_reader *r, uint64_t flag, uint64_t first, size_t n,
                            size_t usize, void *dst, uint64_t pos, uint64_t end)
{
    struct mpfs_prefetcher *p = r->p;
    struct rec *stack_recs[16];
    struct rec **recs = n <= 16 ? stack_recs : mpfs_xmalloc(n * sizeof(*recs));
    uint64_t run_off = first * usize;
    uint64_t run_end = MPFS_MIN(r->size, (first + n) * usize);
    for (size_t i = 0; i < n; i++) {
        uint64_t off = (first + i) * usize;
        struct rec *x =
            rec_new(r, flag | (first + i), off, (size_t)(MPFS_MIN(r->size, off + usize) - off), 0);
        table_insert(p, x);
        x->refs++; /* ours */
        recs[i] = x;
    }
    pthread_mutex_unlock(&p->lock);

    size_t len = (size_t)(run_end - run_off);
    struct mpfs_cache_buf *b = mpfs_cache_buf_new(len);
    ssize_t got = fetch_exact(r, b, len, run_off, &r->demand_fetches);
    ssize_t rc;
    if (got < 0) {
        rc = got;
    } else {
        for (size_t i = 0; i < n; i++) {
            struct mpfs_block_key k;
            unit_key(r, recs[i]->unit, &k);
            mpfs_cache_put_buf(p->cache, &k, b, (size_t)(recs[i]->off - run_off), recs[i]->len, 0);
        }
        size_t m = (size_t)(MPFS_MIN(end, run_end) - pos);
        memcpy(dst, (unsigned char *)mpfs_cache_buf_data(b) + (pos - run_off), m);
        rc = (ssize_t)m;
    }

    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < n; i++) {
        struct rec *x = recs[i];
        if (got < 0) {
            x->state = REC_FAILED;
            x->err = (int)got;
        } else {
            x->state = REC_READY;
            mpfs_cache_buf_get(b);
            x->buf = b;
            x->boff = (size_t)(x->off - run_off);
        }
        rec_release(x, 1 + table_unlink(p, x));
    }
    pthread_cond_broadcast(&p->state_cond);
    pthread_mutex_unlock(&p->lock);
    mpfs_cache_buf_put(b);
    if (recs != stack_recs) {
        free(recs);
    }
    return rc;
}

/* [pos, end) from cached sub-blocks (a file's first bytes, put there by
 * mpfs_prefetcher_put_head): all of it, or 0 if one is missing. */
static ssize_t from_sub_blocks(struct mpfs_reader *r, void *dst, uint64_t pos, uint64_t end)
{
    struct mpfs_prefetcher *p = r->p;
    if (p->small >= p->bs) {
        return 0;
    }
    for (uint64_t at = pos; at < end;) {
        uint64_t idx = at / p->small;
        size_t inoff = (size_t)(at - idx * p->small);
        size_t n = (size_t)MPFS_MIN(end - at, (uint64_t)(p->small - inoff));
        struct mpfs_block_key k;
        unit_key(r, SUB_FLAG | idx, &k);
        if (mpfs_cache_get_ex(p->cache, &k, (unsigned char *)dst + (at - pos), inoff, n,
                              MPFS_CACHE_RAM_ONLY) != (ssize_t)n) {
            return 0;
        }
        at += n;
    }
    atomic_fetch_add(&r->bytes_from_cache, end - pos);
    return (ssize_t)(end - pos);
}

/* Answer a small read of a cold block of a larger file: queue the whole
 * block in the background (unless it is cached or in flight by now), then
 * fetch [pos, pos + first_fetch) (4 KiB aligned, at least to end) in the
 * caller's thread and copy [pos, end) from it.  The first range is not a
 * unit and is not cached; only the block is.  -EAGAIN (nothing fetched)
 * if the block could not be queued: a read must never be answered by a
 * small range when nothing will fetch the block it is in, or every
 * following small read would be a small fetch too. */
static ssize_t first_range(struct mpfs_reader *r, void *dst, uint64_t pos, uint64_t end,
                           int must_queue, int use_cached)
{
    struct mpfs_prefetcher *p = r->p;
    uint64_t bstart = pos / p->bs * p->bs;
    pthread_mutex_lock(&r->lock);
    int rc = issue_readahead(r, bstart, p->bs);
    pthread_mutex_unlock(&r->lock);
    if (rc != 0 && must_queue) {
        return rc;
    }
    if (use_cached) {
        ssize_t m = from_sub_blocks(r, dst, pos, end);
        if (m > 0) {
            return m;
        }
    }
    uint64_t lo = pos & ~(uint64_t)4095;
    uint64_t hi = MPFS_MAX(end, lo + p->first_fetch);
    hi = MPFS_MIN(r->size, (hi + 4095) & ~(uint64_t)4095);
    size_t len = (size_t)(hi - lo);
    struct mpfs_cache_buf *b = mpfs_cache_buf_new(len);
    ssize_t got = fetch_exact(r, b, len, lo, &r->first_fetches);
    if (got >= 0) {
        uint64_t m = MPFS_MIN(end, hi) - pos;
        memcpy(dst, (unsigned char *)mpfs_cache_buf_data(b) + (pos - lo), (size_t)m);
        got = (ssize_t)m;
    }
    mpfs_cache_buf_put(b);
    return got;
}

/* Is [pos, end) a small read of a full block of a file that is not
 * small, so that a first range answers it sooner than the block? */
static int wants_first_range(const struct mpfs_reader *r, uint64_t flag, size_t usize,
                             uint64_t pos, uint64_t end)
{
    const struct mpfs_prefetcher *p = r->p;
    uint64_t bstart = pos / p->bs * p->bs;
    uint64_t blen = MPFS_MIN(r->size, bstart + p->bs) - bstart;
    return flag == 0 && usize == p->bs && r->size > p->small_file && end - pos < p->bs / 4 &&
           blen > 2 * p->first_fetch && p->has_pool;
}

/* Serve [pos, end) starting with unit `unit` (key space `flag`, size
 * usize).  Serves at least that unit's part; more if a demand fetch
 * coalesced following units.  Returns bytes or -errno. */
static ssize_t serve_unit(struct mpfs_reader *r, uint64_t flag, size_t usize, void *dst,
                          uint64_t pos, uint64_t end)
{
    struct mpfs_prefetcher *p = r->p;
    uint64_t idx = pos / usize;
    uint64_t ustart = idx * usize;
    size_t ulen = (size_t)(MPFS_MIN(r->size, ustart + usize) - ustart);
    size_t inoff = (size_t)(pos - ustart);
    size_t n = (size_t)MPFS_MIN(end - pos, (uint64_t)(ulen - inoff));
    struct mpfs_block_key k;
    unit_key(r, flag | idx, &k);
    unsigned flags = touch_flags(r, flag | idx);
    int retried = 0, rechecks = 0, disk_checked = 0;

    for (;;) {
        /* RAM, then the in-flight table, then the disk tier: a block being
         * read ahead from disk must not be read from disk twice. */
        ssize_t got = mpfs_cache_get_ex(p->cache, &k, dst, inoff, n,
                                        flags | (disk_checked ? 0 : MPFS_CACHE_RAM_ONLY));
        if (got == (ssize_t)n) {
            atomic_fetch_add(&r->bytes_from_cache, n);
            return got;
        }
        uint64_t h[2];
        mpfs_cache_key_hash(&k, h);
        pthread_mutex_lock(&p->lock);
        struct rec *x = table_find(p, h);
        if (x) {
            int err = 0;
            ssize_t m = serve_from_rec(r, x, dst, inoff, n, &err);
            if (m >= 0) {
                atomic_fetch_add(&r->bytes_from_cache, (uint64_t)m);
                return m;
            }
            /* that fetch failed: retry once with a fetch of our own */
            if (retried++) {
                return err;
            }
            continue;
        }
        if (!disk_checked) {
            pthread_mutex_unlock(&p->lock);
            disk_checked = 1;
            continue;
        }
        /* The unit may have landed in the cache between our lookup and
         * the table lock (inserted, then its record removed). */
        if (mpfs_cache_contains(p->cache, &k) == MPFS_CACHE_IN_RAM && rechecks++ < 3) {
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        /* Coalesce the following missing units of this request. */
        size_t cnt = 1;
        uint64_t max_units = MPFS_MAX((uint64_t)1, p->max_request / usize);
        while (cnt < max_units && (idx + cnt) * usize < end) {
            struct mpfs_block_key k2;
            uint64_t h2[2];
            unit_key(r, flag | (idx + cnt), &k2);
            mpfs_cache_key_hash(&k2, h2);
            if (table_find(p, h2) || mpfs_cache_contains(p->cache, &k2) != MPFS_CACHE_ABSENT) {
                break;
            }
            cnt++;
        }
        if (cnt == 1 && wants_first_range(r, flag, usize, pos, end)) {
            pthread_mutex_unlock(&p->lock);
            ssize_t m = first_range(r, dst, pos, end, 1, 1);
            if (m != -EAGAIN) {
                return m;
            }
            pthread_mutex_lock(&p->lock); /* not queued: fetch the block now */
        }
        return demand_fetch(r, flag, idx, cnt, usize, dst, pos, end);
    }
}

/* Random mode: a full block may already hold the bytes (cached, or being
 * read ahead for another stream); else use sub-blocks. */
static ssize_t serve_random(struct mpfs_reader *r, void *dst, uint64_t pos, uint64_t end)
{
    struct mpfs_prefetcher *p = r->p;
    uint64_t bidx = pos / p->bs;
    uint64_t bstart = bidx * p->bs;
    size_t inoff = (size_t)(pos - bstart);
    uint64_t frame_end = MPFS_MIN(end, bstart + p->bs);
    size_t n = (size_t)(frame_end - pos);
    struct mpfs_block_key k;
    unit_key(r, bidx, &k);
    ssize_t got = mpfs_cache_get_ex(p->cache, &k, dst, inoff, n, touch_flags(r, bidx));
    if (got == (ssize_t)n) {
        atomic_fetch_add(&r->bytes_from_cache, n);
        return got;
    }
    uint64_t h[2];
    mpfs_cache_key_hash(&k, h);
    pthread_mutex_lock(&p->lock);
    struct rec *x = table_find(p, h);
    if (x) {
        int err = 0;
        ssize_t m = serve_from_rec(r, x, dst, inoff, n, &err);
        if (m == (ssize_t)n) {
            atomic_fetch_add(&r->bytes_from_cache, n);
            return m;
        }
    } else {
        pthread_mutex_unlock(&p->lock);
    }
    if (p->small == p->bs) {
        return serve_unit(r, 0, p->bs, dst, pos, frame_end);
    }
    return serve_unit(r, SUB_FLAG, p->small, dst, pos, frame_end);
}

void mpfs_reader_fetch_first(struct mpfs_reader *r)
{
    atomic_store(&r->fetch_first, 1);
}

/* The read after mpfs_reader_fetch_first: fetch what [pos, end) starts
 * with, ignoring the cache and other fetches in flight (their data may
 * predate the open).  Returns bytes served from the start of the read. */
static ssize_t fetch_first(struct mpfs_reader *r, void *dst, uint64_t pos, uint64_t end)
{
    struct mpfs_prefetcher *p = r->p;
    if (wants_first_range(r, 0, p->bs, pos, end)) {
        return first_range(r, dst, pos, end, 0, 0);
    }
    /* the whole file when it is small (one block), else the blocks the
     * read covers, as one request */
    uint64_t idx = pos / p->bs;
    uint64_t last = (end - 1) / p->bs;
    size_t cnt = (size_t)MPFS_MIN(last - idx + 1, MPFS_MAX((uint64_t)1, p->max_request / p->bs));
    pthread_mutex_lock(&p->lock);
    return demand_fetch(r, 0, idx, cnt, p->bs, dst, pos, end);
}

ssize_t mpfs_reader_read(struct mpfs_reader *r, void *buf, size_t len, uint64_t off)
{
    if (off >= r->size || len == 0) {
        return 0;
    }
    uint64_t end = off + MPFS_MIN((uint64_t)len, r->size - off);
    int sequential = plan(r, off, (size_t)(end - off));
    uint64_t pos = off;
    if (atomic_load(&r->fetch_first)) {
        ssize_t n = fetch_first(r, buf, off, end);
        if (n < 0) {
            return n;
        }
        atomic_store(&r->fetch_first, 0);
        pos += (uint64_t)n;
    }
    /* Full blocks also for a read at offset 0 (most reads from the start
     * go on to read the whole file: one request for a sample file instead
     * of several sub-blocks), for files of one block or less (the block is
     * the whole file), and for a read that covers a whole block: it costs
     * the block anyway, and cached as sub-blocks it would be fetched again
     * by the next sequential pass (parallel reads of a file arrive out of
     * order and are taken for random ones). */
    uint64_t bs = r->p->bs;
    int whole_block = off % bs == 0 && (end - off >= bs || end == r->size);
    int full = sequential || off == 0 || r->size <= bs || whole_block;
    while (pos < end) {
        ssize_t n = full ? serve_unit(r, 0, r->p->bs, (char *)buf + (pos - off), pos, end)
                         : serve_random(r, (char *)buf + (pos - off), pos, end);
        if (n < 0) {
            return n;
        }
        if (n == 0) {
            break; /* cannot happen below size; never spin */
        }
        pos += (uint64_t)n;
    }
    return (ssize_t)(pos - off);
}

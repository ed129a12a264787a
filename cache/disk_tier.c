/*
 * disk_tier.c - the disk tier: one checksummed file per block, an
 * in-memory index, S3-FIFO eviction, one background writer.
 *
 * On-disk format (host byte order: the cache is node-local; a foreign
 * byte order fails the magic check and the file is discarded):
 *
 *   <dir>/lock                 flock()ed while a process uses the dir
 *   <dir>/v1/<hh>/<hi><lo>.blk one block; hi/lo = XXH3-128 of the key as
 *                              16+16 hex digits, hh = first two of them
 *   file = header (64 bytes) | file identity | version | zeros | data
 *          data starts at the first 4 KiB boundary after the version
 *   header = magic "MPFB" u32, format u16 (2), header size u16 (64),
 *            file_len u32, version_len u32, block u64, data_len u64,
 *            key_lo u64, key_hi u64, data_xxh3 u64 (XXH3-64 of data),
 *            hdr_xxh3 u64 (XXH3-64 of the key bytes seeded with XXH3-64 of
 *            the header with this field zero)
 *
 * Data is written with O_DIRECT when its buffer is page-aligned (the
 * reader's fetch buffers of 1 MiB and more are: buffer.c), all but its
 * last partial 4 KiB page: the block goes from the fetch buffer to the
 * device without a copy into the page cache.  Writing every block of a
 * cold sequential read through the page cache was the daemon's largest
 * CPU cost (35% of it in copy_folio_from_iter under pwritev, perf, a
 * cold 512 MiB read), on 2 cores shared with the store.  That is why the
 * data sits at a 4 KiB boundary (format 2; format-1 files fail the header
 * check at the start-up scan and are deleted).  A file system without
 * O_DIRECT (EINVAL) is written through the page cache from then on.
 *
 * A block is written to "<name>.tmp" and renamed, so a crash leaves either
 * no file or a complete one (plus a .tmp that the next start deletes); no
 * fsync, because a block lost in a crash is only a miss, and a torn one is
 * caught by its checksum.  The full key is stored and compared on read, so
 * even a 128-bit hash collision cannot serve the wrong block.
 *
 * At open the directory is scanned and the index rebuilt from the headers
 * (data checksums are verified lazily, on read, so a start over a 4 GiB
 * tier reads ~4000 headers, not 4 GiB); entries go into the main queue
 * oldest mtime first.  Invalid files and stale .tmp files are deleted.
 *
 * Locking: `lock` protects the index, the policy and the counters;
 * `qlock` protects the write queue.  They are never held together.  No
 * block I/O happens under `lock` (victims are unlinked after dropping it;
 * the only call made under it is a statvfs() when refitting the budget).  Reads
 * run in the caller's thread with no lock held during I/O; a concurrent
 * eviction unlinking the file is harmless (the open fd keeps the data; a failed
 * open is a miss).
 */
#include "cache/disk_tier.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/check.h"
#include "base/log.h"
#include "base/util.h"
#include "cache/eviction.h"

#define DISK_MAGIC 0x4246504du /* "MPFB" in a little-endian file */
#define DISK_FORMAT 2
#define HDR_SIZE 64
#define KEY_MAX (64u << 10) /* sanity bound on stored key strings */
#define BACKOFF_NS (30ll * 1000000000)
#define LOG_INTERVAL_NS (60ll * 1000000000)
#define QUEUE_MAX_JOBS 256
#define QUEUE_MAX_BYTES (128ull << 20) /* default of queue_bytes */
#define ROUND_4K(x) (((x) + 4095) & ~(uint64_t)4095)
/* where a block's data starts: after header and key, at a 4 KiB boundary */
#define DATA_OFF(klen) ROUND_4K(HDR_SIZE + (uint64_t)(klen))

struct disk_hdr {
    uint32_t magic;
    uint16_t format;
    uint16_t hdr_size;
    uint32_t file_len;
    uint32_t version_len;
    uint64_t block;
    uint64_t data_len;
    uint64_t key_lo, key_hi;
    uint64_t data_xxh3;
    uint64_t hdr_xxh3;
};
_Static_assert(sizeof(struct disk_hdr) == HDR_SIZE, "disk header is 64 bytes");

struct disk_entry {
    struct mpfs_evict_node node; /* first */
    struct disk_entry *hnext;
    uint64_t lo, hi, file_hash, data_len;
    uint32_t file_len, version_len;
    int64_t mtime_ns; /* only used to order the startup scan */
};

struct write_job {
    struct write_job *next;
    struct mpfs_cache_hkey h;
    uint64_t block;
    struct mpfs_cache_buf *buf;
    size_t off, len;
    uint32_t file_len, version_len;
    atomic_int cancelled;
    char key[]; /* file bytes then version bytes */
};

struct mpfs_disk_tier {
    char *dir;
    char *root; /* dir/v1 */
    int lock_fd;
    uint64_t budget_cfg;

    pthread_mutex_t lock;
    struct disk_entry **buckets;
    size_t nbuckets, count;
    struct mpfs_evict policy;
    uint64_t hits, writes, write_drops, errors, checksum_failures, evictions;
    uint64_t admission_skips;
    int64_t last_log_ns;
    uint64_t log_suppressed;
    int refit_pending;

    _Atomic int64_t backoff_until_ns;
    atomic_int fault_write, fault_read;
    atomic_int no_direct;              /* the file system refused O_DIRECT */
    atomic_uint_fast64_t direct_bytes; /* data written with O_DIRECT */

    pthread_mutex_t qlock;
    pthread_cond_t qcond; /* work queued or stop */
    pthread_cond_t qidle; /* queue drained */
    struct write_job *qhead, *qtail, *current;
    size_t qjobs;
    uint64_t qbytes;
    uint64_t qmax; /* bound of qbytes */
    int stop;
    int scanning; /* the start-up scan is still running (writer thread) */
    pthread_t writer;
};

/* ---- helpers -------------------------------------------------------- */

static void block_path(const struct mpfs_disk_tier *d, uint64_t lo, uint64_t hi, char *out,
                       size_t n, const char *suffix)
{
    snprintf(out, n, "%s/%02x/%016" PRIx64 "%016" PRIx64 ".blk%s", d->root, (unsigned)(hi >> 56),
             hi, lo, suffix);
}

/* Log a disk problem at most once a minute; d->lock held. */
static void note_problem_locked(struct mpfs_disk_tier *d, const char *what, const char *path,
                                int err)
{
    int64_t now = mpfs_now_ns();
    if (d->last_log_ns != 0 && now - d->last_log_ns < LOG_INTERVAL_NS) {
        d->log_suppressed++;
        return;
    }
    mpfs_warn("disk cache %s: %s %s: %s (%" PRIu64 " similar messages suppressed; "
              "errors=%" PRIu64 " checksum_failures=%" PRIu64 ")",
              d->dir, what, path ? path : "", strerror(err), d->log_suppressed, d->errors,
              d->checksum_failures);
    d->last_log_ns = now;
    d->log_suppressed = 0;
}

static size_t bucket_of(const struct mpfs_disk_tier *d, uint64_t lo)
{
    return (size_t)(lo & (d->nbuckets - 1));
}

static struct disk_entry *index_find(struct mpfs_disk_tier *d, uint64_t lo, uint64_t hi)
{
    for (struct disk_entry *e = d->buckets[bucket_of(d, lo)]; e; e = e->hnext) {
        if (e->lo == lo && e->hi == hi) {
            return e;
        }
    }
    return NULL;
}

static void index_insert(struct mpfs_disk_tier *d, struct disk_entry *e)
{
    if (d->count >= d->nbuckets) {
        size_t nb = d->nbuckets * 2;
        struct disk_entry **b = mpfs_xcalloc(nb, sizeof(*b));
        for (size_t i = 0; i < d->nbuckets; i++) {
            struct disk_entry *x = d->buckets[i];
            while (x) {
                struct disk_entry *next = x->hnext;
                size_t j = (size_t)(x->lo & (nb - 1));
                x->hnext = b[j];
                b[j] = x;
                x = next;
            }
        }
        free(d->buckets);
        d->buckets = b;
        d->nbuckets = nb;
    }
    size_t i = bucket_of(d, e->lo);
    e->hnext = d->buckets[i];
    d->buckets[i] = e;
    d->count++;
}

static void index_unlink(struct mpfs_disk_tier *d, struct disk_entry *e)
{
    struct disk_entry **pp = &d->buckets[bucket_of(d, e->lo)];
    while (*pp != e) {
        MPFS_ASSERT(*pp);
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    e->hnext = NULL;
    d->count--;
}

/* Evict down to the capacity; victims are chained on *out for unlinking
 * after the lock is dropped.  d->lock held. */
static void evict_locked(struct mpfs_disk_tier *d, struct disk_entry **out)
{
    while (mpfs_evict_over(&d->policy)) {
        struct disk_entry *v = (struct disk_entry *)mpfs_evict_victim(&d->policy);
        if (!v) {
            break;
        }
        index_unlink(d, v);
        d->evictions++;
        v->hnext = *out;
        *out = v;
    }
}

static void unlink_entries(struct mpfs_disk_tier *d, struct disk_entry *list)
{
    char path[PATH_MAX];
    while (list) {
        struct disk_entry *next = list->hnext;
        block_path(d, list->lo, list->hi, path, sizeof(path), "");
        if (unlink(path) != 0 && errno != ENOENT) {
            mpfs_debug("disk cache: unlink %s: %s", path, strerror(errno));
        }
        free(list);
        list = next;
    }
}

/* Drop the index entry (lo, hi) if present and delete its file. */
void mpfs_disk_tier_drop(struct mpfs_disk_tier *d, uint64_t lo, uint64_t hi)
{
    pthread_mutex_lock(&d->lock);
    struct disk_entry *e = index_find(d, lo, hi);
    if (e) {
        index_unlink(d, e);
        mpfs_evict_remove(&d->policy, &e->node);
        e->hnext = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    if (e) {
        unlink_entries(d, e);
    }
}

/* Fit the budget to the file system: never plan to use more than what we
 * hold plus 90% of what is free.  d->lock held; victims go to *out. */
static void refit_budget_locked(struct mpfs_disk_tier *d, struct disk_entry **out)
{
    struct statvfs st;
    uint64_t budget = d->budget_cfg;
    if (statvfs(d->root, &st) == 0) {
        uint64_t avail = (uint64_t)st.f_bavail * st.f_frsize;
        uint64_t fit = mpfs_evict_bytes(&d->policy) + avail / 10 * 9;
        if (fit < budget) {
            if (d->policy.capacity != fit) {
                mpfs_info("disk cache %s: budget %" PRIu64 " MiB exceeds free space; using %" PRIu64
                          " MiB",
                          d->dir, budget >> 20, fit >> 20);
            }
            budget = fit;
        }
    }
    mpfs_evict_set_capacity(&d->policy, budget);
    evict_locked(d, out);
}

static void hdr_checksum(struct disk_hdr *h, const void *keys, size_t klen)
{
    h->hdr_xxh3 = 0;
    uint64_t seed = XXH3_64bits(h, sizeof(*h));
    h->hdr_xxh3 = XXH3_64bits_withSeed(keys, klen, seed);
}

static int hdr_valid(const struct disk_hdr *h, const void *keys)
{
    if (h->magic != DISK_MAGIC || h->format != DISK_FORMAT || h->hdr_size != HDR_SIZE ||
        h->file_len > KEY_MAX || h->version_len > KEY_MAX) {
        return 0;
    }
    struct disk_hdr tmp = *h;
    hdr_checksum(&tmp, keys, (size_t)h->file_len + h->version_len);
    return tmp.hdr_xxh3 == h->hdr_xxh3;
}

/* ---- read ----------------------------------------------------------- */

int mpfs_disk_tier_contains(struct mpfs_disk_tier *d, const struct mpfs_cache_hkey *h)
{
    pthread_mutex_lock(&d->lock);
    int found = index_find(d, h->lo, h->hi) != NULL;
    pthread_mutex_unlock(&d->lock);
    return found;
}

int mpfs_disk_tier_read(struct mpfs_disk_tier *d, const struct mpfs_block_key *k,
                        const struct mpfs_cache_hkey *h, struct mpfs_cache_buf **out, size_t *len)
{
    pthread_mutex_lock(&d->lock);
    struct disk_entry *e = index_find(d, h->lo, h->hi);
    if (!e) {
        pthread_mutex_unlock(&d->lock);
        return -ENOENT;
    }
    mpfs_evict_touch(&e->node);
    uint64_t data_len = e->data_len;
    size_t klen = (size_t)e->file_len + e->version_len;
    pthread_mutex_unlock(&d->lock);

    size_t vlen = strlen(k->version);
    char path[PATH_MAX];
    block_path(d, h->lo, h->hi, path, sizeof(path), "");
    int corrupt = 0, err = 0;
    struct mpfs_cache_buf *b = NULL;
    char kstack[512];
    char *keys = klen <= sizeof(kstack) ? kstack : mpfs_xmalloc(klen);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err = errno;
        if (err == ENOENT) {
            /* evicted or invalidated under us: a plain miss */
            mpfs_disk_tier_drop(d, h->lo, h->hi);
            goto out_free_keys;
        }
        goto out_bad;
    }
    b = mpfs_cache_buf_new(data_len);
    struct disk_hdr hdr;
    char pad[4096];
    struct iovec iov[4] = {
        {.iov_base = &hdr, .iov_len = sizeof(hdr)},
        {.iov_base = keys, .iov_len = klen},
        {.iov_base = pad, .iov_len = (size_t)(DATA_OFF(klen) - sizeof(hdr) - klen)},
        {.iov_base = b->data, .iov_len = data_len},
    };
    size_t want = (size_t)DATA_OFF(klen) + data_len;
    int fault = atomic_load(&d->fault_read);
    ssize_t n = fault ? -1 : preadv(fd, iov, 4, 0);
    if (fault) {
        errno = fault;
    }
    if (n < 0) {
        err = errno;
        close(fd);
        goto out_bad;
    }
    close(fd);
    if ((size_t)n != want || !hdr_valid(&hdr, keys) || hdr.data_len != data_len ||
        hdr.key_lo != h->lo || hdr.key_hi != h->hi || hdr.block != k->block ||
        hdr.file_len != k->file_len || hdr.version_len != vlen ||
        memcmp(keys, k->file, k->file_len) != 0 ||
        memcmp(keys + k->file_len, k->version, vlen) != 0 ||
        XXH3_64bits(b->data, data_len) != hdr.data_xxh3) {
        corrupt = 1;
        err = EIO;
        goto out_bad;
    }
    if (keys != kstack) {
        free(keys);
    }
    pthread_mutex_lock(&d->lock);
    d->hits++;
    pthread_mutex_unlock(&d->lock);
    *out = b;
    *len = data_len;
    return 0;

out_bad:
    mpfs_cache_buf_put(b);
    pthread_mutex_lock(&d->lock);
    if (corrupt) {
        d->checksum_failures++;
        note_problem_locked(d, "corrupt block (checksum/header mismatch), deleted:", path, err);
    } else {
        d->errors++;
        note_problem_locked(d, "read failed, block dropped:", path, err);
    }
    pthread_mutex_unlock(&d->lock);
    mpfs_disk_tier_drop(d, h->lo, h->hi);
    if (keys != kstack) {
        free(keys);
    }
    return -EIO;

out_free_keys:
    if (keys != kstack) {
        free(keys);
    }
    return -ENOENT;
}

/* ---- write ---------------------------------------------------------- */

void mpfs_disk_tier_submit(struct mpfs_disk_tier *d, const struct mpfs_block_key *k,
                           const struct mpfs_cache_hkey *h, struct mpfs_cache_buf *b, size_t off,
                           size_t len)
{
    if (mpfs_now_ns() < atomic_load(&d->backoff_until_ns)) {
        pthread_mutex_lock(&d->lock);
        d->write_drops++;
        pthread_mutex_unlock(&d->lock);
        return;
    }
    /* Admission: a block of a scan group that the disk would only pass
     * through (no room left in its held queue) is not written at all. */
    pthread_mutex_lock(&d->lock);
    int transient = mpfs_evict_is_transient(
        &d->policy, h->group, DATA_OFF(k->file_len + strlen(k->version)) + ROUND_4K(len));
    if (transient) {
        d->admission_skips++;
    }
    pthread_mutex_unlock(&d->lock);
    if (transient) {
        return;
    }
    size_t vlen = strlen(k->version);
    pthread_mutex_lock(&d->qlock);
    int full = d->stop || d->qjobs >= QUEUE_MAX_JOBS || d->qbytes + len > d->qmax;
    if (!full) {
        d->qjobs++;
        d->qbytes += len;
    }
    pthread_mutex_unlock(&d->qlock);
    if (full) {
        pthread_mutex_lock(&d->lock);
        d->write_drops++;
        pthread_mutex_unlock(&d->lock);
        return;
    }
    /* reserve first, allocate outside the queue lock */
    struct write_job *j = mpfs_xmalloc(sizeof(*j) + k->file_len + vlen);
    j->next = NULL;
    j->h = *h;
    j->block = k->block;
    mpfs_cache_buf_get(b);
    j->buf = b;
    j->off = off;
    j->len = len;
    j->file_len = (uint32_t)k->file_len;
    j->version_len = (uint32_t)vlen;
    atomic_init(&j->cancelled, 0);
    memcpy(j->key, k->file, k->file_len);
    memcpy(j->key + k->file_len, k->version, vlen);

    pthread_mutex_lock(&d->qlock);
    if (d->qtail) {
        d->qtail->next = j;
    } else {
        d->qhead = j;
    }
    d->qtail = j;
    pthread_cond_signal(&d->qcond);
    pthread_mutex_unlock(&d->qlock);
}

static void write_failed(struct mpfs_disk_tier *d, const char *path, int err)
{
    struct disk_entry *victims = NULL;
    pthread_mutex_lock(&d->lock);
    d->errors++;
    atomic_store(&d->backoff_until_ns, mpfs_now_ns() + BACKOFF_NS);
    d->refit_pending = 1;
    if (err == ENOSPC || err == EDQUOT) {
        /* Give space back now rather than keep failing at the limit. */
        mpfs_evict_set_capacity(&d->policy, mpfs_evict_bytes(&d->policy) / 10 * 9);
        evict_locked(d, &victims);
    }
    note_problem_locked(d, "write failed; pausing disk writes for 30 s:", path, err);
    pthread_mutex_unlock(&d->lock);
    unlink_entries(d, victims);
}

/* head (header, key, zeros: hlen bytes, a multiple of 4 KiB) then data;
 * the data's whole pages with O_DIRECT when it is page-aligned (top). */
static int write_file(struct mpfs_disk_tier *d, const char *tmp, const void *head, size_t hlen,
                      const unsigned char *data, size_t len, int fault)
{
    if (fault) {
        return -fault;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT) {
        /* first block in this subdirectory: create it (lazily, so a start
         * does not cost 256 mkdirs) */
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", tmp);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                return -errno;
            }
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
        return -errno;
    }
    int rc = mpfs_write_all(fd, head, hlen, 0);
    size_t direct = len & ~(size_t)4095;
    if (rc == 0 && direct > 0 && ((uintptr_t)data & 4095) == 0 && !atomic_load(&d->no_direct)) {
        if (fcntl(fd, F_SETFL, O_DIRECT) != 0) {
            atomic_store(&d->no_direct, 1);
            direct = 0;
        } else {
            rc = mpfs_write_all(fd, data, direct, (off_t)hlen);
            if (rc == -EINVAL) {
                /* no O_DIRECT here after all: all of it through the page cache */
                atomic_store(&d->no_direct, 1);
                rc = 0;
                direct = 0;
            }
            if (fcntl(fd, F_SETFL, 0) != 0 && rc == 0) {
                rc = -errno;
            }
            if (rc == 0 && direct > 0) {
                atomic_fetch_add(&d->direct_bytes, direct);
            }
        }
    } else {
        direct = 0;
    }
    if (rc == 0) {
        rc = mpfs_write_all(fd, data + direct, len - direct, (off_t)(hlen + direct));
    }
    if (close(fd) != 0 && rc == 0) {
        rc = -errno;
    }
    return rc;
}

static void write_one(struct mpfs_disk_tier *d, struct write_job *j)
{
    struct disk_entry *victims = NULL;
    char path[PATH_MAX], tmp[PATH_MAX];
    block_path(d, j->h.lo, j->h.hi, path, sizeof(path), "");
    block_path(d, j->h.lo, j->h.hi, tmp, sizeof(tmp), ".tmp");

    pthread_mutex_lock(&d->lock);
    int exists = index_find(d, j->h.lo, j->h.hi) != NULL;
    if (!exists && mpfs_now_ns() < atomic_load(&d->backoff_until_ns)) {
        d->write_drops++;
        exists = 1;
    }
    if (!exists && d->refit_pending) {
        d->refit_pending = 0;
        refit_budget_locked(d, &victims);
    }
    pthread_mutex_unlock(&d->lock);
    unlink_entries(d, victims);
    victims = NULL;
    if (exists) {
        return;
    }

    size_t klen = (size_t)j->file_len + j->version_len;
    const unsigned char *data = j->buf->data + j->off;
    struct disk_hdr hdr = {
        .magic = DISK_MAGIC,
        .format = DISK_FORMAT,
        .hdr_size = HDR_SIZE,
        .file_len = j->file_len,
        .version_len = j->version_len,
        .block = j->block,
        .data_len = j->len,
        .key_lo = j->h.lo,
        .key_hi = j->h.hi,
        .data_xxh3 = XXH3_64bits(data, j->len),
    };
    hdr_checksum(&hdr, j->key, klen);
    size_t hlen = (size_t)DATA_OFF(klen);
    unsigned char *head = aligned_alloc(4096, hlen);
    if (!head) {
        mpfs_error("disk cache: out of memory for a block header of %zu bytes", hlen);
        abort(); /* as mpfs_xmalloc */
    }
    memcpy(head, &hdr, sizeof(hdr));
    memcpy(head + sizeof(hdr), j->key, klen);
    memset(head + sizeof(hdr) + klen, 0, hlen - sizeof(hdr) - klen);
    size_t total = hlen + j->len;
    int rc = write_file(d, tmp, head, hlen, data, j->len, atomic_load(&d->fault_write));
    free(head);
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -errno;
    }
    if (rc != 0) {
        unlink(tmp);
        write_failed(d, path, -rc);
        return;
    }

    struct disk_entry *e = mpfs_xcalloc(1, sizeof(*e));
    e->lo = j->h.lo;
    e->hi = j->h.hi;
    e->file_hash = j->h.file_hash;
    e->data_len = j->len;
    e->file_len = j->file_len;
    e->version_len = j->version_len;
    e->node.id = j->h.lo;
    e->node.bytes = ROUND_4K(total);
    e->node.group = j->h.group;
    pthread_mutex_lock(&d->lock);
    if (atomic_load(&j->cancelled) || index_find(d, e->lo, e->hi)) {
        pthread_mutex_unlock(&d->lock);
        if (atomic_load(&j->cancelled)) {
            unlink(path);
        }
        free(e);
        return;
    }
    index_insert(d, e);
    mpfs_evict_insert(&d->policy, &e->node);
    d->writes++;
    evict_locked(d, &victims);
    pthread_mutex_unlock(&d->lock);
    unlink_entries(d, victims);
}

static void scan_dir(struct mpfs_disk_tier *d);

static void *writer_main(void *arg)
{
    struct mpfs_disk_tier *d = arg;
    /* The index is rebuilt here, while the mount already serves (reads of
     * blocks not indexed yet are misses; writes wait in the queue or are
     * dropped), so mount time does not grow with the tier. */
    scan_dir(d);
    struct disk_entry *victims = NULL;
    pthread_mutex_lock(&d->lock);
    refit_budget_locked(d, &victims);
    pthread_mutex_unlock(&d->lock);
    unlink_entries(d, victims);
    pthread_mutex_lock(&d->qlock);
    d->scanning = 0;
    pthread_cond_broadcast(&d->qidle);
    for (;;) {
        while (!d->qhead && !d->stop) {
            pthread_cond_wait(&d->qcond, &d->qlock);
        }
        if (!d->qhead) {
            break;
        }
        struct write_job *j = d->qhead;
        d->qhead = j->next;
        if (!d->qhead) {
            d->qtail = NULL;
        }
        d->current = j;
        pthread_mutex_unlock(&d->qlock);

        if (!atomic_load(&j->cancelled)) {
            write_one(d, j);
        }

        pthread_mutex_lock(&d->qlock);
        d->current = NULL;
        d->qjobs--;
        d->qbytes -= j->len;
        if (!d->qhead) {
            pthread_cond_broadcast(&d->qidle);
        }
        pthread_mutex_unlock(&d->qlock);
        mpfs_cache_buf_put(j->buf);
        free(j);
        pthread_mutex_lock(&d->qlock);
    }
    pthread_cond_broadcast(&d->qidle);
    pthread_mutex_unlock(&d->qlock);
    return NULL;
}

void mpfs_disk_tier_flush(struct mpfs_disk_tier *d)
{
    pthread_mutex_lock(&d->qlock);
    while (d->qhead || d->current || d->scanning) {
        pthread_cond_wait(&d->qidle, &d->qlock);
    }
    pthread_mutex_unlock(&d->qlock);
}

/* ---- invalidate, stats ---------------------------------------------- */

void mpfs_disk_tier_invalidate(struct mpfs_disk_tier *d, uint64_t file_hash)
{
    /* Queue first, index second: see write_one() for why this order
     * leaves no window for a cancelled write to land in the index. */
    pthread_mutex_lock(&d->qlock);
    for (struct write_job *j = d->qhead; j; j = j->next) {
        if (j->h.file_hash == file_hash) {
            atomic_store(&j->cancelled, 1);
        }
    }
    if (d->current && d->current->h.file_hash == file_hash) {
        atomic_store(&d->current->cancelled, 1);
    }
    pthread_mutex_unlock(&d->qlock);

    struct disk_entry *victims = NULL;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct disk_entry **pp = &d->buckets[i];
        while (*pp) {
            struct disk_entry *e = *pp;
            if (e->file_hash == file_hash) {
                *pp = e->hnext;
                d->count--;
                mpfs_evict_remove(&d->policy, &e->node);
                e->hnext = victims;
                victims = e;
            } else {
                pp = &e->hnext;
            }
        }
    }
    pthread_mutex_unlock(&d->lock);
    unlink_entries(d, victims);
}

void mpfs_disk_tier_stats(struct mpfs_disk_tier *d, struct mpfs_disk_stats *out)
{
    pthread_mutex_lock(&d->lock);
    out->bytes = mpfs_evict_bytes(&d->policy);
    out->hits = d->hits;
    out->writes = d->writes;
    out->write_drops = d->write_drops;
    out->errors = d->errors;
    out->checksum_failures = d->checksum_failures;
    out->evictions = d->evictions;
    out->admission_skips = d->admission_skips;
    out->held_bytes = d->policy.held.bytes;
    out->direct_bytes = atomic_load(&d->direct_bytes);
    pthread_mutex_unlock(&d->lock);
}

void mpfs_disk_tier_set_fault(struct mpfs_disk_tier *d, int write_errno, int read_errno)
{
    atomic_store(&d->fault_write, write_errno);
    atomic_store(&d->fault_read, read_errno);
    if (write_errno == 0) {
        atomic_store(&d->backoff_until_ns, 0); /* let tests resume at once */
    }
}

/* ---- open / scan / close -------------------------------------------- */

static int mkdir_p(const char *path, char *err, size_t errlen)
{
    char *p = mpfs_xstrdup(path);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                rc = -errno;
                snprintf(err, errlen, "cannot create disk cache directory %s: %s", p,
                         strerror(errno));
                break;
            }
            *s = c;
            if (c == '\0') {
                break;
            }
        }
    }
    free(p);
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static int parse_name(const char *name, uint64_t *hi, uint64_t *lo)
{
    if (strlen(name) != 36 || strcmp(name + 32, ".blk") != 0) {
        return -1;
    }
    uint64_t v[2] = {0, 0};
    for (int i = 0; i < 32; i++) {
        int x = hexval(name[i]);
        if (x < 0) {
            return -1;
        }
        v[i / 16] = (v[i / 16] << 4) | (uint64_t)x;
    }
    *hi = v[0];
    *lo = v[1];
    return 0;
}

/* Validate one block file's header and key; fills e.  0 or -1 (bad). */
static int scan_one(int dirfd, const char *name, struct disk_entry *e)
{
    uint64_t hi, lo;
    if (parse_name(name, &hi, &lo) != 0) {
        return -1;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = -1;
    struct stat st;
    struct disk_hdr hdr;
    char *keys = NULL;
    if (fstat(fd, &st) != 0 || pread(fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
        hdr.magic != DISK_MAGIC || hdr.format != DISK_FORMAT || hdr.hdr_size != HDR_SIZE ||
        hdr.file_len > KEY_MAX || hdr.version_len > KEY_MAX) {
        goto out_close;
    }
    size_t klen = (size_t)hdr.file_len + hdr.version_len;
    keys = mpfs_xmalloc(klen + 1);
    if (pread(fd, keys, klen, sizeof(hdr)) != (ssize_t)klen || !hdr_valid(&hdr, keys) ||
        (uint64_t)st.st_size != DATA_OFF(klen) + hdr.data_len || hdr.key_lo != lo ||
        hdr.key_hi != hi) {
        goto out_close;
    }
    /* the name must be the hash of the stored key */
    keys[klen] = '\0';
    struct mpfs_block_key k = {
        .file = keys,
        .file_len = hdr.file_len,
        .version = keys + hdr.file_len,
        .block = hdr.block,
    };
    struct mpfs_cache_hkey h;
    mpfs_cache_hkey_make(&k, &h);
    if (h.lo != lo || h.hi != hi) {
        goto out_close;
    }
    e->lo = lo;
    e->hi = hi;
    e->file_hash = h.file_hash;
    e->data_len = hdr.data_len;
    e->file_len = hdr.file_len;
    e->version_len = hdr.version_len;
    e->node.id = lo;
    e->node.bytes = ROUND_4K((uint64_t)st.st_size);
    e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    rc = 0;
out_close:
    free(keys);
    close(fd);
    return rc;
}

static int by_mtime(const void *a, const void *b)
{
    const struct disk_entry *x = *(struct disk_entry *const *)a;
    const struct disk_entry *y = *(struct disk_entry *const *)b;
    return (x->mtime_ns > y->mtime_ns) - (x->mtime_ns < y->mtime_ns);
}

static void scan_dir(struct mpfs_disk_tier *d)
{
    struct disk_entry **all = NULL;
    size_t n = 0, cap = 0;
    uint64_t bad = 0;
    char sub[PATH_MAX];
    for (unsigned i = 0; i < 256; i++) {
        pthread_mutex_lock(&d->qlock);
        int stop = d->stop;
        pthread_mutex_unlock(&d->qlock);
        if (stop) {
            break; /* closing: what is not indexed stays on disk for next time */
        }
        snprintf(sub, sizeof(sub), "%s/%02x", d->root, i);
        DIR *dir = opendir(sub);
        if (!dir) {
            if (errno == ENOENT) {
                continue; /* created by the first write into it */
            }
            mpfs_warn("disk cache: cannot scan %s: %s", sub, strerror(errno));
            continue;
        }
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.') {
                continue;
            }
            size_t nl = strlen(de->d_name);
            if (nl > 4 && strcmp(de->d_name + nl - 4, ".tmp") == 0) {
                unlinkat(dirfd(dir), de->d_name, 0); /* torn write of a crash */
                continue;
            }
            struct disk_entry *e = mpfs_xcalloc(1, sizeof(*e));
            if (scan_one(dirfd(dir), de->d_name, e) != 0) {
                free(e);
                if (nl == 36 && strcmp(de->d_name + 32, ".blk") == 0) {
                    unlinkat(dirfd(dir), de->d_name, 0);
                    bad++;
                }
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                all = mpfs_xrealloc(all, cap * sizeof(*all));
            }
            all[n++] = e;
        }
        closedir(dir);
    }
    if (n > 1)
        qsort(all, n, sizeof(*all), by_mtime);
    /* in chunks, so lookups on the serving threads wait little */
    for (size_t i = 0; i < n; i += 4096) {
        pthread_mutex_lock(&d->lock);
        for (size_t j = i; j < n && j < i + 4096; j++) {
            if (index_find(d, all[j]->lo, all[j]->hi)) {
                free(all[j]);
                continue;
            }
            index_insert(d, all[j]);
            mpfs_evict_insert_main(&d->policy, &all[j]->node);
        }
        pthread_mutex_unlock(&d->lock);
    }
    free(all);
    if (n || bad) {
        pthread_mutex_lock(&d->lock);
        uint64_t held = mpfs_evict_bytes(&d->policy);
        pthread_mutex_unlock(&d->lock);
        mpfs_info("disk cache %s: found %zu blocks (%" PRIu64 " MiB), deleted %" PRIu64 " invalid",
                  d->dir, n, held >> 20, bad);
    }
}

int mpfs_disk_tier_open(const char *dir, uint64_t budget, size_t block_size, uint64_t queue_bytes,
                        struct mpfs_disk_tier **out, char *err, size_t errlen)
{
    int rc = mkdir_p(dir, err, errlen);
    if (rc != 0) {
        return rc;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "disk cache directory %s is not a directory", dir);
        return -ENOTDIR;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        rc = -errno;
        snprintf(err, errlen, "disk cache directory %s is not writable: %s", dir, strerror(errno));
        return rc;
    }

    struct mpfs_disk_tier *d = mpfs_xcalloc(1, sizeof(*d));
    d->dir = mpfs_xstrdup(dir);
    d->root = mpfs_xasprintf("%s/v1", dir);
    d->budget_cfg = budget;
    char *lockpath = mpfs_xasprintf("%s/lock", dir);
    d->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", lockpath, strerror(errno));
        free(lockpath);
        goto out_free;
    }
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        snprintf(err, errlen, "disk cache directory %s is in use by another process (%s)", dir,
                 lockpath);
        free(lockpath);
        goto out_close_lock;
    }
    free(lockpath);
    if (mkdir(d->root, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "cannot create %s: %s", d->root, strerror(errno));
        goto out_close_lock;
    }

    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->qlock, NULL);
    d->qmax = queue_bytes ? queue_bytes : QUEUE_MAX_BYTES;
    pthread_cond_init(&d->qcond, NULL);
    pthread_cond_init(&d->qidle, NULL);
    d->nbuckets = 1024;
    d->buckets = mpfs_xcalloc(d->nbuckets, sizeof(*d->buckets));
    /* ghost: as many ids as the budget holds 64 KiB blocks, bounded */
    /* ghost: 16 tiers' worth of ids (eviction.h: a scan of up to 16x the
     * tier is recognised), counting sub-blocks of 1/8 block, <= 64 KiB */
    size_t unit = MPFS_MIN(block_size / 8, (size_t)65536);
    mpfs_evict_init(&d->policy, budget, (size_t)MPFS_MIN(budget / unit * 2 + 64, 1u << 20));
    atomic_init(&d->backoff_until_ns, 0);
    atomic_init(&d->fault_write, 0);
    atomic_init(&d->fault_read, 0);

    d->scanning = 1;
    rc = -pthread_create(&d->writer, NULL, writer_main, d);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the disk cache writer: %s", strerror(-rc));
        goto out_destroy;
    }
    *out = d;
    return 0;

out_destroy:
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct disk_entry *e = d->buckets[i];
        while (e) {
            struct disk_entry *next = e->hnext;
            free(e);
            e = next;
        }
    }
    free(d->buckets);
    mpfs_evict_destroy(&d->policy);
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->qlock);
    pthread_cond_destroy(&d->qcond);
    pthread_cond_destroy(&d->qidle);
out_close_lock:
    close(d->lock_fd);
out_free:
    free(d->root);
    free(d->dir);
    free(d);
    return rc;
}

void mpfs_disk_tier_close(struct mpfs_disk_tier *d)
{
    if (!d) {
        return;
    }
    pthread_mutex_lock(&d->qlock);
    d->stop = 1;
    pthread_cond_broadcast(&d->qcond);
    pthread_mutex_unlock(&d->qlock);
    pthread_join(d->writer, NULL); /* writes what was queued, then exits */

    for (size_t i = 0; i < d->nbuckets; i++) {
        struct disk_entry *e = d->buckets[i];
        while (e) {
            struct disk_entry *next = e->hnext;
            free(e);
            e = next;
        }
    }
    free(d->buckets);
    mpfs_evict_destroy(&d->policy);
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->qlock);
    pthread_cond_destroy(&d->qcond);
    pthread_cond_destroy(&d->qidle);
    close(d->lock_fd); /* releases the flock */
    free(d->root);
    free(d->dir);
    free(d);
}

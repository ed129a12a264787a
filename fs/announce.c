/*
 * announce.c - announced reads and their prefetch; see announce.h for the
 * design and the locking.
 */
#include "fs/announce.h"

#include "base/log.h"
#include "base/util.h"
#include "cache/blockcache.h"
#include "cache/reader.h"
#include "consistency/policy.h"
#include "fs/entry.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/lookup.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PATH_BUCKETS 4096
/* a claim may reorder this many entries of its stream before the earlier
 * ones count as skipped (a worker pool reading one stream is not in
 * lockstep) */
#define SKIP_SLACK 16
/* a claim waits at most this long for an entry in flight */
#define CLAIM_WAIT_NS (10LL * 1000000000LL)
/* largest single fetch call */
#define CHUNK (8u << 20)
/* blocks fetched ahead of a whole-file announcement */
#define HEAD_BLOCKS 2
/* measurements needed before the in-flight target follows them */
#define MIN_SAMPLES 8
/* fetches at once before that */
#define START_TARGET 8
/* the fetch-time floor is the least of the last two windows this long */
#define FLOOR_WINDOW_NS (2LL * 1000000000LL)

enum state { QUEUED, FETCHING, READY };

struct entry {
    struct stream *s; /* NULL once cancelled while in flight (the worker frees it) */
    struct entry *prev, *next; /* stream queue, in announced order */
    struct entry *hnext;       /* path table chain; the dead list once freed */
    uint64_t seq;
    char *path;
    uint64_t ino; /* the file, looked up when announced: one lookup reference */
    uint64_t off, len; /* as announced; len 0 = to the end */
    int revalidates;   /* its open confirms the version (close-to-open) */
    enum state state;
    uint64_t reserved; /* bytes of the budget this entry holds */
    /* when READY: */
    struct mpfs_cache_buf *buf; /* NULL: nothing to hand over (empty, or already cached) */
    uint64_t lo, blen;          /* buf holds [lo, lo + blen), lo block-aligned */
    uint64_t size;
    char version[MPFS_VERSION_MAX];
};

struct stream {
    struct stream *snext;
    char *name; /* NULL: anonymous */
    int pid;
    struct entry *head, *tail;
    size_t n;
    uint64_t next_seq;
    char *partial; /* an incomplete last line */
    size_t partial_len;
    uint64_t announced, hits, skipped;
    struct mpfs_announce *a;
};

struct mpfs_announce {
    struct mpfs_fs *fs;
    struct mpfs_announce_config cfg;
    char *mountpoint;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* room, a finished fetch (claims and reserves wait) */
    pthread_cond_t work; /* idle workers wait: woken one at a time (a worker
                          * that takes work wakes the next), not all 32 per
                          * claim */
    struct stream *streams;
    size_t nstreams;
    struct entry *table[PATH_BUCKETS];
    atomic_size_t nentries; /* read without the lock by claim's fast path */
    struct entry *dead;     /* freed under the lock, reaped (forgotten) after it */
    size_t path_bytes;
    uint64_t held; /* bytes reserved by entries in flight or ready */
    int inflight;
    int unsized;       /* picked, size not known yet (not reserved) */
    double avg_need;   /* bytes a fetch reserved, EWMA */
    int stop;
    pthread_t *threads;
    int nthreads;
    /* measurements */
    int64_t last_claim_ns;
    double claim_interval_ns, fetch_ns;
    double floor_cur_ns, floor_prev_ns; /* least fetch time, this and the last window */
    int64_t floor_start_ns;
    uint64_t nclaims, nfetches;
    struct mpfs_announce_stats st;
};

/* ---- helpers (a->lock held unless said) ----------------------------- */

static uint64_t hash_path(const char *p)
{
    uint64_t h = 1469598103934665603ull;
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static void table_add(struct mpfs_announce *a, struct entry *e)
{
    struct entry **b = &a->table[hash_path(e->path) % PATH_BUCKETS];
    e->hnext = *b;
    *b = e;
}

static void table_del(struct mpfs_announce *a, struct entry *e)
{
    for (struct entry **p = &a->table[hash_path(e->path) % PATH_BUCKETS]; *p; p = &(*p)->hnext)
        if (*p == e) {
            *p = e->hnext;
            return;
        }
}

static uint64_t rank(const struct entry *e)
{
    return e->seq - e->s->head->seq;
}

/* Freeing an entry releases its lookup reference on e->ino: a vfs call,
 * which must not run under a->lock (fs->lock ranks above it).  So under
 * the lock an entry only goes on the dead list; unlock() reaps it. */
static void entry_free(struct mpfs_announce *a, struct entry *e)
{
    e->hnext = a->dead;
    a->dead = e;
}

/* Release a->lock, then forget and free what was freed under it. */
static void unlock(struct mpfs_announce *a)
{
    struct entry *dead = a->dead;
    a->dead = NULL;
    pthread_mutex_unlock(&a->lock);
    while (dead) {
        struct entry *e = dead;
        dead = e->hnext;
        if (e->ino)
            mpfs_vfs_forget(a->fs, e->ino, 1);
        mpfs_cache_buf_put(e->buf);
        free(e->path);
        free(e);
    }
}

static void release_bytes(struct mpfs_announce *a, struct entry *e)
{
    a->held -= e->reserved;
    e->reserved = 0;
}

/* Take e out of its stream and the path table.  An entry in flight stays
 * alive for its worker (which frees it); others are freed here. */
static void entry_remove(struct mpfs_announce *a, struct entry *e)
{
    struct stream *s = e->s;
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    s->n--;
    table_del(a, e);
    atomic_fetch_sub(&a->nentries, 1);
    a->path_bytes -= strlen(e->path) + 1;
    /* the entry's worker polls this without the lock (announce.c fetch_entry) */
    __atomic_store_n(&e->s, NULL, __ATOMIC_RELAXED);
    e->prev = e->next = NULL;
    if (e->state != FETCHING) {
        release_bytes(a, e);
        entry_free(a, e);
    }
}

/* Something changed that waiters and an idle worker may act on. */
static void changed_locked(struct mpfs_announce *a)
{
    pthread_cond_broadcast(&a->cond);
    pthread_cond_signal(&a->work);
}

static void stream_clear(struct mpfs_announce *a, struct stream *s, uint64_t *counter)
{
    while (s->head) {
        (*counter)++;
        entry_remove(a, s->head);
    }
    changed_locked(a);
}

/* ---- input ----------------------------------------------------------- */

struct item {
    char *path;
    uint64_t off, len;
    uint64_t ino;    /* one lookup reference, 0 once released */
    int cached;      /* its blocks are in the cache already: not queued */
    int revalidates; /* its open confirms the version (close-to-open) */
};

/* Drop what a validated item holds (outside a->lock). */
static void item_drop(struct mpfs_announce *a, struct item *it)
{
    if (it->ino)
        mpfs_vfs_forget(a->fs, it->ino, 1);
    it->ino = 0;
    free(it->path);
    it->path = NULL;
}

/* The bytes [*lo, *hi) a fetch of (off, len) of a size-byte file covers:
 * whole blocks; of a whole file its first HEAD_BLOCKS blocks (what a hint
 * hides is the first-byte latency of an open; past the head the reader's
 * sequential readahead streams the rest with parallel range requests,
 * better than one long fetch here: 8 MiB samples took twice as long when
 * fetched whole); of an announced range up to a quarter of the budget. */
static void span(const struct mpfs_announce *a, uint64_t off, uint64_t len, uint64_t size,
                 uint64_t *lo, uint64_t *hi)
{
    size_t bs = a->cfg.block_size;
    *lo = MPFS_MIN(off, size) / bs * bs;
    uint64_t h = len ? MPFS_MIN(size, off + len) : size;
    h = MPFS_MIN(size, (h + bs - 1) / bs * bs);
    uint64_t cap = len ? MPFS_MAX((uint64_t)bs, a->cfg.memory / 4 / bs * bs)
                       : HEAD_BLOCKS * (uint64_t)bs;
    if (h - *lo > cap)
        h = *lo + cap;
    *hi = h;
}

/* Are all blocks of [lo, hi) of (path, version) in the cache (RAM or
 * disk)?  An empty span is: nothing to fetch. */
static int all_cached(struct mpfs_announce *a, const char *path, const char *version,
                      uint64_t lo, uint64_t hi)
{
    size_t bs = a->cfg.block_size;
    for (uint64_t b = lo / bs; b * bs < hi; b++) {
        struct mpfs_block_key k = {path, strlen(path), version, b};
        if (mpfs_cache_contains(a->fs->cache, &k) == MPFS_CACHE_ABSENT)
            return 0;
    }
    return 1;
}

/* Dataset-relative, normalized path of an announced one, or -errno. */
static int normalize(struct mpfs_announce *a, const char *in, char **out)
{
    const char *p = in;
    if (p[0] == '/') {
        size_t n = a->mountpoint ? strlen(a->mountpoint) : 0;
        if (!n || strncmp(p, a->mountpoint, n) != 0 || (p[n] != '/' && p[n] != '\0'))
            return -EXDEV;
        p += n;
    }
    size_t cap = strlen(p) + 1, used = 0;
    char *res = mpfs_xmalloc(cap);
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            break;
        if (!(len == 1 && p[0] == '.')) {
            if (len == 2 && p[0] == '.' && p[1] == '.') {
                free(res);
                return -EINVAL;
            }
            if (!mpfs_name_is_valid(p, len)) {
                free(res);
                return len > 255 ? -ENAMETOOLONG : -EINVAL;
            }
            if (used)
                res[used++] = '/';
            memcpy(res + used, p, len);
            used += len;
        }
        p += len;
    }
    res[used] = '\0';
    if (!used) {
        free(res);
        return -EISDIR; /* the root */
    }
    *out = res;
    return 0;
}

/* Look a dataset path up as the kernel would (index, TTLs); the inode of
 * a regular file, with one lookup reference the caller forgets. */
static int resolve(struct mpfs_fs *fs, const char *path, uint64_t *ino)
{
    uint64_t cur = MPFS_ROOT_INO;
    char *copy = mpfs_xstrdup(path);
    char *save = NULL;
    int rc = 0;
    struct mpfs_entry e;
    memset(&e, 0, sizeof(e));
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        rc = mpfs_fs_lookup(fs, cur, c, &e, 0); /* the data is ours to fetch and count */
        if (cur != MPFS_ROOT_INO)
            mpfs_vfs_forget(fs, cur, 1);
        if (rc < 0)
            break;
        cur = e.ino;
    }
    free(copy);
    if (rc < 0)
        return rc;
    if (!S_ISREG(e.st.st_mode)) {
        mpfs_vfs_forget(fs, cur, 1);
        return S_ISDIR(e.st.st_mode) ? -EISDIR : -EINVAL;
    }
    *ino = cur;
    return 0;
}

static int parse_line(struct mpfs_announce *a, char *line, struct item *it)
{
    if (strlen(line) > PATH_MAX)
        return -ENAMETOOLONG;
    char *tab = strchr(line, '\t');
    it->off = it->len = 0;
    if (tab) {
        *tab++ = '\0';
        char *end;
        errno = 0;
        unsigned long long off = strtoull(tab, &end, 10);
        if (errno || end == tab || *end != '\t' || *tab == '-')
            return -EINVAL;
        char *l = end + 1;
        unsigned long long len = strtoull(l, &end, 10);
        if (errno || end == l || *end != '\0' || *l == '-')
            return -EINVAL;
        it->off = off;
        it->len = len;
    }
    it->ino = 0;
    it->cached = 0;
    int rc = normalize(a, line, &it->path);
    if (rc < 0)
        return rc;
    const struct mpfs_policy *pol = mpfs_fs_policy(a->fs, it->path);
    it->revalidates = pol->cto && !pol->immutable;
    /* The one lookup of this path: the entry keeps the inode (and its
     * reference) for the fetch, which pins the version the node shows then
     * without a second walk. */
    rc = resolve(a->fs, it->path, &it->ino);
    if (rc < 0) {
        free(it->path);
        it->path = NULL;
        return rc;
    }
    /* A file whose blocks are cached (an earlier epoch) is not queued:
     * no entry, no fetch, and its open is an ordinary cache hit.  The
     * version is the one the lookup just confirmed. */
    struct mpfs_pin pin;
    char version[MPFS_VERSION_MAX] = "";
    uint64_t size = 0, lo, hi;
    if (mpfs_file_pin_ino(a->fs, it->ino, &pin, version, sizeof(version), &size) == 0 &&
        version[0]) {
        span(a, it->off, it->len, size, &lo, &hi);
        it->cached = all_cached(a, it->path, version, lo, hi);
    }
    /* ... unless its open will confirm the version and nothing confirmed
     * it a moment ago: then it is queued, and when its turn comes (shortly
     * before its open, too_early_locked) a worker confirms it with a HEAD
     * instead of fetching, so the open trusts it and the reader does not
     * wait a round trip for a file it has. */
    if (it->cached && it->revalidates &&
        !mpfs_file_confirmed_within(a->fs, it->ino, MPFS_POLICY_CTO_GRACE_NS))
        it->cached = 0;
    return 0;
}

int mpfs_announce_write(struct mpfs_announce_stream *ss, const char *buf, size_t len,
                        size_t *lineno)
{
    struct stream *s = (struct stream *)ss;
    struct mpfs_announce *a = s->a;
    /* the partial line from before + this write; only complete lines count */
    size_t total = s->partial_len + len;
    char *text = mpfs_xmalloc(total + 1);
    if (s->partial_len)
        memcpy(text, s->partial, s->partial_len);
    memcpy(text + s->partial_len, buf, len);
    text[total] = '\0';
    if (memchr(buf, '\0', len)) {
        free(text);
        if (lineno)
            *lineno = 1;
        pthread_mutex_lock(&a->lock);
        a->st.rejected++;
        unlock(a);
        return -EINVAL;
    }
    char *last_nl = strrchr(text, '\n');
    size_t complete = last_nl ? (size_t)(last_nl - text) + 1 : 0;
    size_t rest = total - complete;
    int rc = 0;
    size_t nitems = 0, cap = 0, bad = 0;
    struct item *items = NULL;
    int reset_at = -1; /* index in items before which a reset happens (last one wins) */
    if (rest > PATH_MAX + 64) {
        rc = -ENAMETOOLONG; /* a line that never ends */
        bad = 1;
    }
    size_t ln = 0;
    for (char *p = text; rc == 0 && p < text + complete;) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        ln++;
        if (*p == '\0') {
            /* empty lines are allowed (and ignored) */
        } else if (*p == '#') {
            if (strcmp(p, "#reset") == 0) {
                for (size_t i = 0; i < nitems; i++)
                    item_drop(a, &items[i]);
                nitems = 0;
                reset_at = 0;
            } else {
                rc = -EINVAL;
                bad = ln;
            }
        } else {
            if (nitems == cap) {
                cap = cap ? cap * 2 : 64;
                items = mpfs_xrealloc(items, cap * sizeof(*items));
            }
            rc = parse_line(a, p, &items[nitems]);
            if (rc < 0)
                bad = ln;
            else
                nitems++;
        }
        p = nl + 1;
    }
    if (rc == 0) {
        /* only entries not cached are queued (and count against the bounds) */
        size_t bytes = 0, nqueue = 0;
        for (size_t i = 0; i < nitems; i++)
            if (!items[i].cached) {
                bytes += strlen(items[i].path) + 1;
                nqueue++;
            }
        pthread_mutex_lock(&a->lock);
        /* the limits as they will be after this write's reset, if any;
         * a refused write resets nothing either */
        size_t have = reset_at == 0 ? 0 : s->n;
        size_t others = a->nentries - s->n;
        size_t pbytes = a->path_bytes;
        if (reset_at == 0)
            for (struct entry *x = s->head; x; x = x->next)
                pbytes -= strlen(x->path) + 1;
        if (have + nqueue > a->cfg.queue_max || others + have + nqueue > a->cfg.total_max ||
            pbytes + bytes > MPFS_ANNOUNCE_PATH_BYTES) {
            rc = -ENOBUFS;
            bad = 1;
        } else {
            if (reset_at == 0)
                stream_clear(a, s, &a->st.cancelled);
            for (size_t i = 0; i < nitems; i++) {
                if (items[i].cached) {
                    a->st.cached++;
                    continue; /* its reference goes below */
                }
                struct entry *e = mpfs_xcalloc(1, sizeof(*e));
                e->s = s;
                e->seq = s->next_seq++;
                e->path = items[i].path;
                items[i].path = NULL;
                e->ino = items[i].ino; /* the entry owns the reference now */
                items[i].ino = 0;
                e->off = items[i].off;
                e->len = items[i].len;
                e->revalidates = items[i].revalidates;
                e->state = QUEUED;
                e->prev = s->tail;
                if (s->tail)
                    s->tail->next = e;
                else
                    s->head = e;
                s->tail = e;
                s->n++;
                table_add(a, e);
                atomic_fetch_add(&a->nentries, 1);
            }
            a->path_bytes += bytes;
            a->st.announced += nitems;
            s->announced += nitems;
            pthread_cond_signal(&a->work);
        }
        if (rc < 0)
            a->st.rejected++;
        unlock(a);
    } else {
        pthread_mutex_lock(&a->lock);
        a->st.rejected++;
        unlock(a);
    }
    for (size_t i = 0; i < nitems; i++)
        item_drop(a, &items[i]);
    free(items);
    if (rc == 0) {
        /* keep the partial line */
        char *keep = rest ? mpfs_xmalloc(rest) : NULL;
        if (rest)
            memcpy(keep, text + complete, rest);
        free(s->partial);
        s->partial = keep;
        s->partial_len = rest;
    } else {
        /* a bad write is dropped whole, partial line included */
        free(s->partial);
        s->partial = NULL;
        s->partial_len = 0;
    }
    free(text);
    if (lineno)
        *lineno = bad;
    return rc;
}

void mpfs_announce_reset(struct mpfs_announce_stream *ss)
{
    struct stream *s = (struct stream *)ss;
    struct mpfs_announce *a = s->a;
    pthread_mutex_lock(&a->lock);
    stream_clear(a, s, &a->st.cancelled);
    unlock(a);
    free(s->partial);
    s->partial = NULL;
    s->partial_len = 0;
}

void mpfs_announce_stream_report(struct mpfs_announce_stream *ss, FILE *out)
{
    struct stream *s = (struct stream *)ss;
    struct mpfs_announce *a = s->a;
    pthread_mutex_lock(&a->lock);
    size_t ready = 0, fetching = 0;
    for (struct entry *e = s->head; e; e = e->next) {
        ready += e->state == READY;
        fetching += e->state == FETCHING;
    }
    fprintf(out, "stream %s\nqueued %zu\nin_flight %zu\nready %zu\nannounced %llu\nhits %llu\n"
                 "skipped %llu\n",
            s->name ? s->name : "(handle)", s->n - ready - fetching, fetching, ready,
            (unsigned long long)s->announced, (unsigned long long)s->hits,
            (unsigned long long)s->skipped);
    unlock(a);
}

/* ---- workers --------------------------------------------------------- */

/* A fetch's time is the store's latency plus its queueing behind other
 * requests.  More fetches at once hide latency; queueing only grows with
 * them (a store that is saturated, here: radosgw short of CPU, answers
 * each of 8 GETs in 12 ms that alone take 2), and a target sized by the
 * mean fetch time would feed on itself.  So it is sized by the floor: the
 * least fetch time of the last two windows (as TCP BBR takes the minimum
 * RTT), which follows a store that gets slower within two windows. */
static void floor_add_locked(struct mpfs_announce *a, double ns, int64_t now)
{
    if (now - a->floor_start_ns > FLOOR_WINDOW_NS) {
        a->floor_prev_ns = a->floor_cur_ns;
        a->floor_cur_ns = 0;
        a->floor_start_ns = now;
    }
    if (a->floor_cur_ns <= 0 || ns < a->floor_cur_ns)
        a->floor_cur_ns = ns;
}

static double floor_locked(const struct mpfs_announce *a)
{
    if (a->floor_prev_ns > 0 && a->floor_cur_ns > 0)
        return MPFS_MIN(a->floor_prev_ns, a->floor_cur_ns);
    return MPFS_MAX(a->floor_prev_ns, a->floor_cur_ns);
}

static uint64_t target_locked(struct mpfs_announce *a)
{
    uint64_t t = (uint64_t)a->cfg.threads;
    double fl = floor_locked(a);
    if (a->nclaims >= MIN_SAMPLES && a->nfetches >= MIN_SAMPLES && a->claim_interval_ns > 0 &&
        fl > 0) {
        /* in flight = consumption rate x latency, with a margin of 2:
         * while the consumer waits on the prefetch its rate is the
         * prefetch's, in flight / mean fetch time, so the target grows
         * while the mean stays below twice the floor (latency dominates:
         * more at once helps) and shrinks when queueing dominates */
        double want = 2.0 * fl / a->claim_interval_ns + 1.0;
        t = (uint64_t)MPFS_MIN((double)t, MPFS_MAX(1.0, want));
    } else {
        t = MPFS_MIN(t, (uint64_t)START_TARGET);
    }
    return t;
}

/* The budget announced data may use now: the readahead share, less what
 * readahead holds (the two share it; see docs/PREFETCH.md). */
static uint64_t limit_locked(struct mpfs_announce *a)
{
    uint64_t used = 0;
    if (a->fs->prefetch) {
        struct mpfs_prefetcher_stats ps;
        mpfs_prefetcher_get_stats(a->fs->prefetch, &ps);
        used = ps.memory;
    }
    return a->cfg.memory > used ? a->cfg.memory - used : 0;
}

/* Is e, whose open will confirm its version (close-to-open), too far
 * ahead of its reader to fetch now?  The fetch's pinned GET is that
 * confirmation only within MPFS_POLICY_CTO_GRACE_NS of it (fs/file.c
 * mpfs_file_fetch_confirmed); fetched earlier, the open sends a HEAD, a
 * round trip per file the prefetch was to hide.  So such an entry is
 * fetched when its open is expected within half the grace: its place in
 * its stream times the interval between one stream's claims.  No limit
 * when one fetch takes a quarter of the window or more (a far store: the
 * lead the fetches need would pass the grace, and the HEAD is paid
 * whatever the lead), nor before the claims are measured (the first of a
 * reader's files may cost a HEAD). */
static int too_early_locked(const struct mpfs_announce *a, const struct entry *e)
{
    if (!e->revalidates || a->nclaims < MIN_SAMPLES || a->claim_interval_ns <= 0)
        return 0;
    double window = (double)MPFS_POLICY_CTO_GRACE_NS / 2.0;
    double fl = floor_locked(a); /* 0 before any fetch (HEADs only) */
    if (fl > window / 4.0)
        return 0;
    double wait = (double)rank(e) * (double)a->nstreams * a->claim_interval_ns;
    return wait + fl > window;
}

/* The queued entry needed soonest over all streams, if a fetch may start:
 * below the in-flight target, not too early for close-to-open, and with
 * room in the budget or held data needed later than it. */
static struct entry *pick_locked(struct mpfs_announce *a)
{
    if ((uint64_t)a->inflight >= target_locked(a))
        return NULL;
    struct entry *best = NULL;
    for (struct stream *s = a->streams; s; s = s->snext)
        for (struct entry *e = s->head; e; e = e->next)
            if (e->state == QUEUED) {
                if (too_early_locked(a, e))
                    break; /* the rest of the stream is later still */
                if (!best || rank(e) < rank(best))
                    best = e;
                break;
            }
    /* picked entries whose size is not known yet count at the average
     * (before any is known, one at a time): so workers starting together
     * do not fetch more than fits and then drop it again */
    double est = a->avg_need > 0 ? a->avg_need * a->unsized : (a->unsized ? 1e18 : 0);
    if (!best || (double)a->held + est < (double)limit_locked(a))
        return best;
    for (struct stream *s = a->streams; s; s = s->snext)
        for (struct entry *e = s->tail; e; e = e->prev)
            if (e->state == READY && e->reserved && rank(e) > rank(best))
                return best;
    return NULL;
}

/* Make room for need bytes for e (in flight): drop held data of entries
 * needed later than e, the last-needed first; wait for claims otherwise.
 * 0 with the bytes reserved, or -ECANCELED (e was cancelled / stopping). */
static int reserve_locked(struct mpfs_announce *a, struct entry *e, uint64_t need)
{
    while (a->held + need > limit_locked(a)) {
        if (!e->s || a->stop)
            return -ECANCELED;
        struct entry *victim = NULL;
        uint64_t r = rank(e);
        for (struct stream *s = a->streams; s; s = s->snext)
            for (struct entry *x = s->tail; x; x = x->prev)
                if (x->state == READY && x->reserved && rank(x) > r &&
                    (!victim || rank(x) > rank(victim)))
                    victim = x;
        if (victim) {
            release_bytes(a, victim);
            mpfs_cache_buf_put(victim->buf);
            victim->buf = NULL;
            victim->state = QUEUED; /* fetched again when its turn comes */
            a->st.dropped++;
            continue;
        }
        pthread_cond_wait(&a->cond, &a->lock);
    }
    a->held += need;
    e->reserved = need;
    return 0;
}

static void ewma(double *v, double sample);

/* The picked entry's size is known (reserved or not needed). */
static void sized_locked(struct mpfs_announce *a, uint64_t need)
{
    a->unsized--;
    if (need)
        ewma(&a->avg_need, (double)need);
}

static void ewma(double *v, double sample)
{
    *v = *v > 0 ? 0.875 * *v + 0.125 * sample : sample;
}

/* Fetch one entry (picked, state FETCHING, a->lock not held). */
static void fetch_entry(struct mpfs_announce *a, struct entry *e, const char *path,
                        uint64_t ino, uint64_t off, uint64_t len)
{
    struct mpfs_fs *fs = a->fs;
    struct mpfs_pin pin;
    char version[MPFS_VERSION_MAX] = "";
    uint64_t size = 0;
    /* the version the node shows now (no second lookup: the entry holds
     * the inode from the announcement; a version that changed since is
     * caught by the fetch's version check, and by the claim) */
    int rc = mpfs_file_pin_ino(fs, ino, &pin, version, sizeof(version), &size);
    int64_t t0 = mpfs_now_ns();
    uint64_t lo, hi;
    span(a, off, len, size, &lo, &hi);
    struct mpfs_cache_buf *buf = NULL;
    int cached = 0;
    if (rc == 0 && hi > lo && version[0])
        /* cached since it was announced (read meanwhile, announced twice) */
        cached = all_cached(a, path, version, lo, hi);
    int sized = 0;
    int64_t asked = 0; /* wall clock when the fetch was asked */
    if (rc == 0 && hi > lo && version[0] && !cached) {
        sized = 1;
        pthread_mutex_lock(&a->lock);
        sized_locked(a, hi - lo);
        rc = reserve_locked(a, e, hi - lo);
        unlock(a);
        if (rc == 0) {
            t0 = mpfs_now_ns();
            asked = mpfs_wall_ns();
            buf = mpfs_cache_buf_new((size_t)(hi - lo));
            char *dst = mpfs_cache_buf_data(buf);
            pthread_mutex_t plock = PTHREAD_MUTEX_INITIALIZER;
            for (uint64_t pos = lo; rc == 0 && pos < hi;) {
                size_t n = (size_t)MPFS_MIN((uint64_t)CHUNK, hi - pos);
                ssize_t got = mpfs_file_fetch_pinned(fs, &pin, &plock, path, dst + (pos - lo), n,
                                                     pos);
                if (got < 0)
                    rc = (int)got;
                else if ((size_t)got < n)
                    rc = -ESTALE; /* shorter than the version said: it changed */
                else
                    pos += n;
                /* cancelled meanwhile: stop early (read without the lock:
                 * a stale answer only costs one more chunk) */
                if (__atomic_load_n(&e->s, __ATOMIC_RELAXED) == NULL)
                    rc = -ECANCELED;
            }
            pthread_mutex_destroy(&plock);
        }
    }
    if (rc == 0 && cached && e->revalidates) {
        /* no bytes needed: say so before the HEAD, so the next pick does
         * not wait for it (an unsized pick holds the others back) */
        sized = 1;
        pthread_mutex_lock(&a->lock);
        sized_locked(a, 0);
        unlock(a);
        mpfs_file_confirm_ahead(fs, ino); /* see parse_line */
    }
    int64_t dt = mpfs_now_ns() - t0;
    if (rc == 0 && buf)
        /* the pinned GET confirmed the version: an open right after needs
         * no HEAD of its own (before a->lock: fs->lock ranks above it) */
        mpfs_file_fetch_confirmed(fs, ino, version, asked);

    pthread_mutex_lock(&a->lock);
    if (!sized)
        sized_locked(a, 0);
    a->inflight--;
    if (rc == 0 && buf) {
        a->st.fetched++;
        a->st.fetched_bytes += hi - lo;
        ewma(&a->fetch_ns, (double)dt);
        floor_add_locked(a, (double)dt, t0 + dt);
        a->nfetches++;
    } else if (rc == 0 && cached) {
        a->st.cached++;
    } else if (rc == -ENOENT) {
        a->st.gone++;
    } else if (rc < 0 && rc != -ECANCELED) {
        a->st.errors++;
        mpfs_debug("prefetch %s: %s", path, strerror(-rc));
    }
    if (!e->s) {
        /* cancelled while in flight */
        release_bytes(a, e);
        mpfs_cache_buf_put(buf);
        entry_free(a, e);
    } else if (rc < 0) {
        /* the reader fetches it itself */
        release_bytes(a, e);
        mpfs_cache_buf_put(buf);
        e->state = QUEUED; /* so entry_remove frees it */
        entry_remove(a, e);
    } else {
        e->state = READY;
        e->buf = buf;
        e->lo = lo;
        e->blen = buf ? hi - lo : 0;
        e->size = size;
        snprintf(e->version, sizeof(e->version), "%s", version);
        if (!buf)
            release_bytes(a, e);
    }
    changed_locked(a);
    unlock(a);
}

static void *worker(void *arg)
{
    struct mpfs_announce *a = arg;
    pthread_mutex_lock(&a->lock);
    while (!a->stop) {
        struct entry *e = pick_locked(a);
        if (!e) {
            pthread_cond_wait(&a->work, &a->lock);
            continue;
        }
        e->state = FETCHING;
        a->inflight++;
        a->unsized++;
        pthread_cond_signal(&a->work); /* the next one, if there is more */
        char *path = mpfs_xstrdup(e->path);
        uint64_t off = e->off, len = e->len, ino = e->ino;
        unlock(a);
        fetch_entry(a, e, path, ino, off, len);
        free(path);
        pthread_mutex_lock(&a->lock);
    }
    unlock(a);
    return NULL;
}

/* ---- claims ---------------------------------------------------------- */

/* The entry an open of path consumes: a ready one first, then one in
 * flight, then a queued one; among equals the one needed soonest. */
static struct entry *find_locked(struct mpfs_announce *a, const char *path)
{
    static const int pref[] = {[READY] = 0, [FETCHING] = 1, [QUEUED] = 2};
    struct entry *best = NULL;
    for (struct entry *e = a->table[hash_path(path) % PATH_BUCKETS]; e; e = e->hnext) {
        if (strcmp(e->path, path) != 0)
            continue;
        if (!best || pref[e->state] < pref[best->state] ||
            (e->state == best->state && rank(e) < rank(best)))
            best = e;
    }
    return best;
}

int mpfs_announce_has(struct mpfs_announce *a, const char *path)
{
    if (!a || atomic_load_explicit(&a->nentries, memory_order_relaxed) == 0)
        return 0;
    pthread_mutex_lock(&a->lock);
    int has = find_locked(a, path) != NULL;
    unlock(a);
    return has;
}

uint64_t mpfs_announce_claim(struct mpfs_announce *a, const char *path, const char *version,
                             uint64_t size)
{
    if (!a || atomic_load_explicit(&a->nentries, memory_order_relaxed) == 0)
        return 0;
    pthread_mutex_lock(&a->lock);
    struct entry *e = NULL;
    int64_t deadline = mpfs_now_ns() + CLAIM_WAIT_NS;
    int waited = 0;
    for (;;) {
        e = find_locked(a, path);
        if (!e || e->state != FETCHING || a->stop)
            break;
        if (!waited++)
            a->st.waits++;
        int64_t left = deadline - mpfs_now_ns();
        if (left <= 0) {
            e = NULL;
            break;
        }
        struct timespec ts = mpfs_deadline_in(MPFS_MIN(left, 100LL * 1000000LL));
        pthread_cond_timedwait(&a->cond, &a->lock, &ts);
    }
    if (e && e->state == QUEUED) {
        /* the reader got there before the prefetch: it reads the file
         * itself, so the entry goes (no second GET for it later) */
        a->st.late++;
        entry_remove(a, e);
        e = NULL;
    }
    if (!e || e->state != READY) {
        unlock(a);
        return 0;
    }
    struct stream *s = e->s;
    /* the reader went past older entries of this stream: cancel them */
    while (s->head && s->head->seq + SKIP_SLACK < e->seq) {
        a->st.skipped++;
        s->skipped++;
        entry_remove(a, s->head);
    }
    int64_t now = mpfs_now_ns();
    if (a->last_claim_ns)
        ewma(&a->claim_interval_ns, (double)(now - a->last_claim_ns));
    a->last_claim_ns = now;
    a->nclaims++;
    struct mpfs_cache_buf *buf = e->buf;
    e->buf = NULL;
    uint64_t lo = e->lo, blen = e->blen;
    int same = e->size == size && strcmp(e->version, version) == 0 && version[0];
    if (buf && same) {
        a->st.hits++;
        a->st.hit_bytes += blen;
        s->hits++;
    } else if (buf) {
        a->st.stale++;
    }
    entry_remove(a, e); /* releases its bytes */
    changed_locked(a);
    unlock(a);
    if (!buf)
        return 0;
    if (!same) {
        mpfs_cache_buf_put(buf);
        return 0;
    }
    /* hand the blocks to the cache under the reader's keys */
    size_t bs = a->cfg.block_size;
    for (uint64_t b = lo / bs; b * bs < lo + blen; b++) {
        uint64_t start = b * bs;
        size_t n = (size_t)MPFS_MIN((uint64_t)bs, lo + blen - start);
        struct mpfs_block_key k = {path, strlen(path), version, b};
        mpfs_cache_put_buf(a->fs->cache, &k, buf, (size_t)(start - lo), n,
                           MPFS_CACHE_PREFETCHED);
    }
    mpfs_cache_buf_put(buf);
    return blen;
}

/* ---- streams, life cycle ---------------------------------------------- */

static int start_workers_locked(struct mpfs_announce *a)
{
    if (a->threads)
        return 0;
    a->threads = mpfs_xcalloc((size_t)a->cfg.threads, sizeof(*a->threads));
    for (int i = 0; i < a->cfg.threads; i++) {
        if (pthread_create(&a->threads[i], NULL, worker, a) != 0)
            break;
        a->nthreads++;
    }
    return a->nthreads > 0 ? 0 : -EAGAIN;
}

int mpfs_announce_open(struct mpfs_announce *a, const char *name, int pid,
                       struct mpfs_announce_stream **out)
{
    pthread_mutex_lock(&a->lock);
    struct stream *s = NULL;
    if (name)
        for (s = a->streams; s; s = s->snext)
            if (s->name && strcmp(s->name, name) == 0)
                break;
    int rc = 0;
    if (!s) {
        if (a->nstreams >= MPFS_ANNOUNCE_MAX_STREAMS) {
            rc = -ENFILE;
        } else if ((rc = start_workers_locked(a)) == 0) {
            s = mpfs_xcalloc(1, sizeof(*s));
            s->name = name ? mpfs_xstrdup(name) : NULL;
            s->pid = pid;
            s->a = a;
            s->snext = a->streams;
            a->streams = s;
            a->nstreams++;
        }
    }
    unlock(a);
    if (rc == 0)
        *out = (struct mpfs_announce_stream *)s;
    return rc;
}

static void stream_end_locked(struct mpfs_announce *a, struct stream *s)
{
    stream_clear(a, s, &a->st.cancelled);
    for (struct stream **p = &a->streams; *p; p = &(*p)->snext)
        if (*p == s) {
            *p = s->snext;
            break;
        }
    a->nstreams--;
    free(s->partial);
    free(s->name);
    free(s);
}

void mpfs_announce_close(struct mpfs_announce_stream *ss)
{
    struct stream *s = (struct stream *)ss;
    if (!s || s->name)
        return;
    struct mpfs_announce *a = s->a;
    pthread_mutex_lock(&a->lock);
    stream_end_locked(a, s);
    unlock(a);
}

int mpfs_announce_close_named(struct mpfs_announce *a, const char *name)
{
    pthread_mutex_lock(&a->lock);
    struct stream *s = a->streams;
    while (s && !(s->name && strcmp(s->name, name) == 0))
        s = s->snext;
    if (s)
        stream_end_locked(a, s);
    unlock(a);
    return s ? 0 : -ENOENT;
}

struct mpfs_announce *mpfs_announce_new(struct mpfs_fs *fs,
                                        const struct mpfs_announce_config *cfg)
{
    struct mpfs_announce *a = mpfs_xcalloc(1, sizeof(*a));
    a->fs = fs;
    a->cfg = *cfg;
    if (a->cfg.threads <= 0)
        a->cfg.threads = 8;
    if (!a->cfg.queue_max)
        a->cfg.queue_max = 4096;
    if (!a->cfg.total_max)
        a->cfg.total_max = 16 * a->cfg.queue_max;
    if (!a->cfg.block_size)
        a->cfg.block_size = MPFS_CACHE_DEFAULT_BLOCK;
    if (!a->cfg.memory)
        a->cfg.memory = 64ull << 20;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    pthread_cond_init(&a->work, NULL);
    atomic_init(&a->nentries, 0);
    return a;
}

void mpfs_announce_set_mountpoint(struct mpfs_announce *a, const char *mountpoint)
{
    pthread_mutex_lock(&a->lock);
    free(a->mountpoint);
    a->mountpoint = mountpoint ? realpath(mountpoint, NULL) : NULL;
    if (mountpoint && !a->mountpoint)
        a->mountpoint = mpfs_xstrdup(mountpoint);
    unlock(a);
}

void mpfs_announce_free(struct mpfs_announce *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stop = 1;
    while (a->streams)
        stream_end_locked(a, a->streams);
    pthread_cond_broadcast(&a->cond);
    pthread_cond_broadcast(&a->work);
    unlock(a);
    for (int i = 0; i < a->nthreads; i++)
        pthread_join(a->threads[i], NULL);
    free(a->threads);
    free(a->mountpoint);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    pthread_cond_destroy(&a->work);
    free(a);
}

void mpfs_announce_get_stats(struct mpfs_announce *a, struct mpfs_announce_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    *out = a->st;
    out->streams = a->nstreams;
    out->queued = atomic_load(&a->nentries);
    out->held_bytes = a->held;
    out->in_flight = (uint64_t)a->inflight;
    out->target = target_locked(a);
    out->fetch_us = (uint64_t)(a->fetch_ns / 1000.0);
    out->fetch_floor_us = (uint64_t)(floor_locked(a) / 1000.0);
    out->claim_rate = a->claim_interval_ns > 0 ? (uint64_t)(1e9 / a->claim_interval_ns) : 0;
    unlock(a);
}

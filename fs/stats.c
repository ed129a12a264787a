/*
 * stats.c - see stats.h.  The report reads each layer's own counters
 * (backend wrappers, cache, index, staging) at the moment it is asked, so
 * nothing is copied on the hot path.
 */
#include "fs/stats.h"

#include "base/util.h"
#include "cache/blockcache.h"
#include "cache/reader.h"
#include "fs/announce.h"
#include "fs/fs_state.h"
#include "fs/notify.h"
#include "fs/reconciler.h"
#include "fs/writeback.h"
#include "index/index.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fop_counters {
    atomic_uint_fast64_t count, errors, ns;
    atomic_uint_fast64_t hist[MPFS_STATS_BUCKETS];
};

static struct fop_counters fops[MPFS_FOP_N];
static atomic_uint_fast64_t fuse_bytes[2];

static const char *const fop_names[MPFS_FOP_N] = {
    "lookup", "getattr", "setattr", "readlink", "mknod", "mkdir", "unlink", "rmdir",
    "symlink", "rename", "link", "open", "create", "read", "write", "flush", "release",
    "fsync", "opendir", "readdir", "releasedir", "statfs", "xattr"};

void mpfs_stats_fuse(int op, int64_t ns, int failed)
{
    if (op < 0 || op >= MPFS_FOP_N)
        return;
    struct fop_counters *c = &fops[op];
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
    int k = 0;
    while (k < MPFS_STATS_BUCKETS - 1 && us >= (16ull << k))
        k++;
    atomic_fetch_add_explicit(&c->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->ns, ns > 0 ? (uint64_t)ns : 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->hist[k], 1, memory_order_relaxed);
    if (failed)
        atomic_fetch_add_explicit(&c->errors, 1, memory_order_relaxed);
}

void mpfs_stats_fuse_bytes(int write, uint64_t n)
{
    atomic_fetch_add_explicit(&fuse_bytes[write ? 1 : 0], n, memory_order_relaxed);
}

static uint64_t ld(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static void report_backend(FILE *out, const char *side, struct mpfs_backend *b)
{
    if (!b)
        return;
    struct mpfs_backend_counters *c = &b->counters;
    for (int op = 0; op < MPFS_BOP_N; op++) {
        uint64_t n = ld(&c->calls[op]);
        if (!n)
            continue;
        fprintf(out, "backend.%s.%s.count %llu\n", side, mpfs_bop_name(op), (unsigned long long)n);
        fprintf(out, "backend.%s.%s.errors %llu\n", side, mpfs_bop_name(op),
                (unsigned long long)ld(&c->errors[op]));
        fprintf(out, "backend.%s.%s.ns %llu\n", side, mpfs_bop_name(op),
                (unsigned long long)ld(&c->ns[op]));
    }
    fprintf(out, "backend.%s.bytes_read %llu\n", side, (unsigned long long)ld(&c->bytes_read));
    fprintf(out, "backend.%s.bytes_written %llu\n", side,
            (unsigned long long)ld(&c->bytes_written));
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

void mpfs_stats_report(struct mpfs_fs *fs, FILE *out)
{
    for (int op = 0; op < MPFS_FOP_N; op++) {
        struct fop_counters *c = &fops[op];
        uint64_t n = ld(&c->count);
        fprintf(out, "fuse.%s.count %llu\n", fop_names[op], (unsigned long long)n);
        if (!n)
            continue;
        fprintf(out, "fuse.%s.errors %llu\n", fop_names[op], (unsigned long long)ld(&c->errors));
        fprintf(out, "fuse.%s.ns %llu\n", fop_names[op], (unsigned long long)ld(&c->ns));
        for (int k = 0; k < MPFS_STATS_BUCKETS; k++) {
            uint64_t h = ld(&c->hist[k]);
            if (!h)
                continue;
            if (k < MPFS_STATS_BUCKETS - 1)
                fprintf(out, "fuse.%s.le_us.%llu %llu\n", fop_names[op], 16ull << k,
                        (unsigned long long)h);
            else
                fprintf(out, "fuse.%s.le_us.inf %llu\n", fop_names[op], (unsigned long long)h);
        }
    }
    fprintf(out, "fuse.bytes_read %llu\n", (unsigned long long)ld(&fuse_bytes[0]));
    fprintf(out, "fuse.bytes_written %llu\n", (unsigned long long)ld(&fuse_bytes[1]));
    report_backend(out, "s3", fs->s3);
    report_backend(out, "nfs", fs->nfs);

    struct mpfs_cache_stats cs;
    mpfs_cache_get_stats(fs->cache, &cs);
    fprintf(out, "cache.hits %llu\n", (unsigned long long)cs.hits);
    fprintf(out, "cache.ram_hits %llu\n", (unsigned long long)(cs.hits - cs.disk_hits));
    fprintf(out, "cache.disk_hits %llu\n", (unsigned long long)cs.disk_hits);
    fprintf(out, "cache.misses %llu\n", (unsigned long long)cs.misses);
    fprintf(out, "cache.ram_bytes %llu\n", (unsigned long long)cs.ram_bytes);
    fprintf(out, "cache.ram_budget %llu\n", (unsigned long long)fs->cfg.cache_ram);
    fprintf(out, "cache.disk_bytes %llu\n", (unsigned long long)cs.disk_bytes);
    fprintf(out, "cache.disk_budget %llu\n", (unsigned long long)fs->cfg.cache_disk);
    fprintf(out, "cache.ram_evictions %llu\n", (unsigned long long)cs.ram_evictions);
    fprintf(out, "cache.disk_evictions %llu\n", (unsigned long long)cs.disk_evictions);
    fprintf(out, "cache.disk_errors %llu\n", (unsigned long long)cs.disk_errors);
    fprintf(out, "cache.checksum_failures %llu\n", (unsigned long long)cs.checksum_failures);
    fprintf(out, "cache.disk_direct_bytes %llu\n", (unsigned long long)cs.disk_direct_bytes);

    struct mpfs_prefetcher_stats ps;
    mpfs_prefetcher_get_stats(fs->prefetch, &ps);
    fprintf(out, "readahead.units_issued %llu\n", (unsigned long long)ps.ra_issued);
    fprintf(out, "readahead.units_used %llu\n", (unsigned long long)ps.ra_used);
    fprintf(out, "readahead.units_wasted %llu\n",
            (unsigned long long)(ps.ra_issued > ps.ra_used ? ps.ra_issued - ps.ra_used : 0));
    fprintf(out, "readahead.memory_bytes %llu\n", (unsigned long long)ps.memory);
    fprintf(out, "readahead.threads %llu\n", (unsigned long long)ps.threads);
    fprintf(out, "readahead.fetches_peak %llu\n", (unsigned long long)ps.fetches_peak);
    fprintf(out, "readahead.fetch_us %llu\n", (unsigned long long)(ps.fetch_ns / 1000));
    fprintf(out, "files.reading %llu\n", (unsigned long long)ps.readers);
    fprintf(out, "files.closed_sequential %llu\n", (unsigned long long)ps.closed_sequential);
    fprintf(out, "files.closed_random %llu\n", (unsigned long long)ps.closed_random);

    /* announced reads (fs/announce.h) */
    struct mpfs_announce_stats as;
    mpfs_announce_get_stats(fs->announce, &as);
    const struct {
        const char *name;
        uint64_t v;
    } hint[] = {
        {"streams", as.streams},       {"queued", as.queued},
        {"held_bytes", as.held_bytes}, {"in_flight", as.in_flight},
        {"announced", as.announced},
        {"rejected", as.rejected},     {"fetched", as.fetched},
        {"fetched_bytes", as.fetched_bytes}, {"cached", as.cached},
        {"hits", as.hits},             {"hit_bytes", as.hit_bytes},
        {"stale", as.stale},           {"skipped", as.skipped},
        {"cancelled", as.cancelled},   {"dropped", as.dropped},
        {"errors", as.errors},         {"gone", as.gone},
        {"waits", as.waits},           {"late", as.late},
        {"in_flight_target", as.target},
        {"fetch_us", as.fetch_us},     {"fetch_floor_us", as.fetch_floor_us},
        {"claims_per_s", as.claim_rate},
    };
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(hint); i++)
        fprintf(out, "prefetch.%s %llu\n", hint[i].name, (unsigned long long)hint[i].v);

    struct mpfs_index_stats is;
    mpfs_index_get_stats(fs->index, &is);
    fprintf(out, "index.gets %llu\n", (unsigned long long)is.gets);
    fprintf(out, "index.hits %llu\n", (unsigned long long)is.hits);
    fprintf(out, "index.puts %llu\n", (unsigned long long)is.puts);

    fprintf(out, "staging.bytes %llu\n", (unsigned long long)atomic_load(&fs->staging_bytes));
    fprintf(out, "staging.budget %llu\n", (unsigned long long)fs->cfg.staging_max);
    fprintf(out, "journal.files %zu\n", mpfs_writeback_pending(fs));
    fprintf(out, "invalidations %llu\n", (unsigned long long)atomic_load(&fs->invalidations));
    if (fs->rec) {
        struct mpfs_reconciler_stats rs;
        mpfs_reconciler_get_stats(fs, &rs);
        fprintf(out, "reconciler.watched %zu\n", rs.watched);
        fprintf(out, "reconciler.lists %llu\n", (unsigned long long)rs.lists);
        fprintf(out, "reconciler.getattrs %llu\n", (unsigned long long)rs.getattrs);
        fprintf(out, "reconciler.errors %llu\n", (unsigned long long)rs.errors);
        fprintf(out, "reconciler.aged %llu\n", (unsigned long long)rs.aged);
        fprintf(out, "reconciler.evicted %llu\n", (unsigned long long)rs.evicted);
    }
    pthread_mutex_lock(&fs->lock);
    size_t nodes = fs->nnodes;
    pthread_mutex_unlock(&fs->lock);
    fprintf(out, "inodes %zu\n", nodes);
    mpfs_notify_report(fs->notify_ch, out);
    fprintf(out, "memory.rss_bytes %llu\n", (unsigned long long)rss_bytes());
}

/* ---------------------------------------------------------- Prometheus */

static void prom_backend(FILE *out, const char *side, struct mpfs_backend *b)
{
    if (!b)
        return;
    struct mpfs_backend_counters *c = &b->counters;
    for (int op = 0; op < MPFS_BOP_N; op++) {
        const char *n = mpfs_bop_name(op);
        fprintf(out, "mpfs_backend_requests_total{side=\"%s\",op=\"%s\"} %llu\n", side, n,
                (unsigned long long)ld(&c->calls[op]));
        fprintf(out, "mpfs_backend_errors_total{side=\"%s\",op=\"%s\"} %llu\n", side, n,
                (unsigned long long)ld(&c->errors[op]));
        fprintf(out, "mpfs_backend_request_seconds_total{side=\"%s\",op=\"%s\"} %.9f\n", side,
                n, (double)ld(&c->ns[op]) / 1e9);
    }
    fprintf(out, "mpfs_backend_read_bytes_total{side=\"%s\"} %llu\n", side,
            (unsigned long long)ld(&c->bytes_read));
    fprintf(out, "mpfs_backend_written_bytes_total{side=\"%s\"} %llu\n", side,
            (unsigned long long)ld(&c->bytes_written));
}

void mpfs_stats_prometheus(struct mpfs_fs *fs, FILE *out)
{
    fputs("# HELP mpfs_fuse_request_seconds FUSE request latency by operation\n"
          "# TYPE mpfs_fuse_request_seconds histogram\n", out);
    for (int op = 0; op < MPFS_FOP_N; op++) {
        struct fop_counters *c = &fops[op];
        uint64_t cum = 0;
        for (int k = 0; k < MPFS_STATS_BUCKETS - 1; k++) {
            cum += ld(&c->hist[k]);
            fprintf(out, "mpfs_fuse_request_seconds_bucket{op=\"%s\",le=\"%g\"} %llu\n",
                    fop_names[op], (double)(16ull << k) / 1e6, (unsigned long long)cum);
        }
        uint64_t n = ld(&c->count);
        fprintf(out, "mpfs_fuse_request_seconds_bucket{op=\"%s\",le=\"+Inf\"} %llu\n",
                fop_names[op], (unsigned long long)n);
        fprintf(out, "mpfs_fuse_request_seconds_sum{op=\"%s\"} %.9f\n", fop_names[op],
                (double)ld(&c->ns) / 1e9);
        fprintf(out, "mpfs_fuse_request_seconds_count{op=\"%s\"} %llu\n", fop_names[op],
                (unsigned long long)n);
    }
    fputs("# TYPE mpfs_fuse_errors_total counter\n", out);
    for (int op = 0; op < MPFS_FOP_N; op++)
        fprintf(out, "mpfs_fuse_errors_total{op=\"%s\"} %llu\n", fop_names[op],
                (unsigned long long)ld(&fops[op].errors));
    fputs("# TYPE mpfs_fuse_bytes_total counter\n", out);
    fprintf(out, "mpfs_fuse_bytes_total{dir=\"read\"} %llu\n", (unsigned long long)ld(&fuse_bytes[0]));
    fprintf(out, "mpfs_fuse_bytes_total{dir=\"write\"} %llu\n", (unsigned long long)ld(&fuse_bytes[1]));
    fputs("# TYPE mpfs_backend_requests_total counter\n# TYPE mpfs_backend_errors_total counter\n"
          "# TYPE mpfs_backend_request_seconds_total counter\n"
          "# TYPE mpfs_backend_read_bytes_total counter\n"
          "# TYPE mpfs_backend_written_bytes_total counter\n", out);
    prom_backend(out, "s3", fs->s3);
    prom_backend(out, "nfs", fs->nfs);

    struct mpfs_cache_stats cs;
    mpfs_cache_get_stats(fs->cache, &cs);
    fprintf(out, "# TYPE mpfs_cache_hits_total counter\n"
                 "mpfs_cache_hits_total{tier=\"ram\"} %llu\nmpfs_cache_hits_total{tier=\"disk\"} %llu\n",
            (unsigned long long)(cs.hits - cs.disk_hits), (unsigned long long)cs.disk_hits);
    fprintf(out, "# TYPE mpfs_cache_misses_total counter\nmpfs_cache_misses_total %llu\n",
            (unsigned long long)cs.misses);
    fprintf(out, "# TYPE mpfs_cache_bytes gauge\n"
                 "mpfs_cache_bytes{tier=\"ram\"} %llu\nmpfs_cache_bytes{tier=\"disk\"} %llu\n",
            (unsigned long long)cs.ram_bytes, (unsigned long long)cs.disk_bytes);
    fprintf(out, "# TYPE mpfs_cache_budget_bytes gauge\n"
                 "mpfs_cache_budget_bytes{tier=\"ram\"} %llu\n"
                 "mpfs_cache_budget_bytes{tier=\"disk\"} %llu\n",
            (unsigned long long)fs->cfg.cache_ram, (unsigned long long)fs->cfg.cache_disk);
    struct mpfs_prefetcher_stats ps;
    mpfs_prefetcher_get_stats(fs->prefetch, &ps);
    fprintf(out, "# TYPE mpfs_readahead_units_total counter\n"
                 "mpfs_readahead_units_total{state=\"issued\"} %llu\n"
                 "mpfs_readahead_units_total{state=\"used\"} %llu\n",
            (unsigned long long)ps.ra_issued, (unsigned long long)ps.ra_used);
    fprintf(out, "# TYPE mpfs_files_closed_total counter\n"
                 "mpfs_files_closed_total{access=\"sequential\"} %llu\n"
                 "mpfs_files_closed_total{access=\"random\"} %llu\n",
            (unsigned long long)ps.closed_sequential, (unsigned long long)ps.closed_random);
    struct mpfs_announce_stats as;
    mpfs_announce_get_stats(fs->announce, &as);
    fprintf(out, "# TYPE mpfs_prefetch_entries_total counter\n"
                 "mpfs_prefetch_entries_total{state=\"announced\"} %llu\n"
                 "mpfs_prefetch_entries_total{state=\"fetched\"} %llu\n"
                 "mpfs_prefetch_entries_total{state=\"hit\"} %llu\n"
                 "mpfs_prefetch_entries_total{state=\"stale\"} %llu\n"
                 "mpfs_prefetch_entries_total{state=\"skipped\"} %llu\n",
            (unsigned long long)as.announced, (unsigned long long)as.fetched,
            (unsigned long long)as.hits, (unsigned long long)as.stale,
            (unsigned long long)as.skipped);
    fprintf(out, "# TYPE mpfs_prefetch_held_bytes gauge\nmpfs_prefetch_held_bytes %llu\n",
            (unsigned long long)as.held_bytes);
    fprintf(out, "# TYPE mpfs_staging_bytes gauge\nmpfs_staging_bytes %llu\n",
            (unsigned long long)atomic_load(&fs->staging_bytes));
    fprintf(out, "# TYPE mpfs_journal_files gauge\nmpfs_journal_files %zu\n",
            mpfs_writeback_pending(fs));
    fprintf(out, "# TYPE mpfs_invalidations_total counter\nmpfs_invalidations_total %llu\n",
            (unsigned long long)atomic_load(&fs->invalidations));
    mpfs_notify_prometheus(fs->notify_ch, out);
    fprintf(out, "# TYPE mpfs_resident_memory_bytes gauge\nmpfs_resident_memory_bytes %llu\n",
            (unsigned long long)rss_bytes());
}

/*
 * mount.c - building the filesystem from its configuration.
 *
 * Order matters and follows the layers: backends first (so an unreachable
 * server, bad credentials or a missing bucket/export is reported before
 * anything is created on disk), then capability probing and the router,
 * then the cache directory (index, staging, block cache), then threads.
 * Every failure returns -errno with one line for the user.
 *
 * Staging files left by a previous run that died hold data that was never
 * committed: they are moved to lost+found at start and logged, never
 * deleted.
 */
#include "backends/nfs/nfs.h"
#include "backends/s3/s3.h"
#include "base/log.h"
#include "base/util.h"
#include "cache/blockcache.h"
#include "cache/budget.h"
#include "cache/reader.h"
#include "consistency/journal.h"
#include "fs/announce.h"
#include "fs/entry.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/node.h"
#include "fs/notify.h"
#include "fs/reconciler.h"
#include "fs/refresher.h"
#include "fs/sides.h"
#include "fs/writeback.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS 1000000000LL

static int mkdir_p(const char *path, mode_t mode)
{
    char *p = mpfs_xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *s = '/';
    }
    if (rc == 0 && mkdir(p, mode) < 0 && errno != EEXIST)
        rc = -errno;
    free(p);
    return rc;
}

static int open_s3(const struct mpfs_config *cfg, struct mpfs_backend **out, char *err,
                   size_t errlen)
{
    /* s3://bucket[/prefix] */
    char *spec = mpfs_xstrdup(cfg->s3 + 5);
    char *slash = strchr(spec, '/');
    char *prefix = "";
    if (slash) {
        *slash = '\0';
        prefix = slash + 1;
        size_t n = strlen(prefix);
        while (n > 0 && prefix[n - 1] == '/')
            prefix[--n] = '\0';
    }
    struct mpfs_s3_config sc;
    mpfs_s3_config_defaults(&sc);
    sc.endpoint = cfg->s3_endpoint;
    sc.bucket = spec;
    sc.prefix = prefix;
    sc.region = cfg->s3_region;
    sc.profile = cfg->s3_profile;
    sc.virtual_hosted = cfg->s3_virtual_hosted;
    sc.connect_timeout_ms = cfg->connect_timeout_ms;
    sc.request_timeout_ms = cfg->request_timeout_ms;
    sc.max_retries = cfg->retries;
    sc.part_size = (size_t)cfg->part_size;
    sc.parallel = cfg->s3_parallel;
    sc.no_probe = cfg->read_only; /* a read-only mount writes nothing, not even a probe */
    int rc = mpfs_s3_open(&sc, out, err, errlen);
    free(spec);
    return rc;
}

static int open_nfs(const struct mpfs_config *cfg, struct mpfs_backend **out, char *err,
                    size_t errlen)
{
    struct mpfs_nfs_config nc;
    mpfs_nfs_config_defaults(&nc);
    nc.url = cfg->nfs;
    nc.pool_size = cfg->nfs_pool;
    nc.timeout_ms = cfg->request_timeout_ms;
    nc.probe = !cfg->read_only;
    return mpfs_nfs_open(&nc, out, err, errlen);
}

int mpfs_sides_open(const struct mpfs_config *cfg, struct mpfs_backend **s3,
                    struct mpfs_backend **nfs, char *err, size_t errlen)
{
    *s3 = *nfs = NULL;
    int rc = 0;
    if (strcmp(cfg->mode, "nfs") != 0)
        rc = open_s3(cfg, s3, err, errlen);
    if (rc == 0 && strcmp(cfg->mode, "s3") != 0)
        rc = open_nfs(cfg, nfs, err, errlen);
    if (rc < 0) {
        mpfs_backend_free(*s3);
        mpfs_backend_free(*nfs);
        *s3 = *nfs = NULL;
    }
    return rc;
}

/* Median time of three stats of the root: the router's latency estimate. */
static double measure_latency(struct mpfs_backend *b)
{
    double t[3];
    for (int i = 0; i < 3; i++) {
        struct mpfs_attr a;
        int64_t t0 = mpfs_now_ns();
        int rc = mpfs_backend_stat(b, "", &a);
        t[i] = rc == 0 ? (double)(mpfs_now_ns() - t0) / 1e9 : 1e9;
    }
    double lo = MPFS_MIN(t[0], MPFS_MIN(t[1], t[2]));
    double hi = MPFS_MAX(t[0], MPFS_MAX(t[1], t[2]));
    return t[0] + t[1] + t[2] - lo - hi;
}

static int named_by_record(void *arg, const struct mpfs_journal_rec *rec)
{
    return strcmp(rec->staging, (const char *)arg) == 0;
}

/* Staging files of a previous run that no journal record names.  Every
 * uncommitted change is journaled before it is staged, so with the
 * journal intact such a file holds nothing the store lacks (a crash came
 * after its commit, before its cleanup): it is deleted.  If the index (and
 * with it the journal) was rebuilt, nothing vouches for them: they go to
 * lost+found, never lost. */
static void clean_staging(struct mpfs_fs *fs, int journal_lost)
{
    DIR *d = opendir(fs->staging_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (mpfs_journal_each(fs->index, named_by_record, de->d_name) == 1)
            continue; /* pending: the background retry commits it */
        char *from = mpfs_xasprintf("%s/%s", fs->staging_dir, de->d_name);
        char *to = mpfs_xasprintf("%s/%s", fs->lostfound_dir, de->d_name);
        struct stat st;
        if (!journal_lost || (stat(from, &st) == 0 && st.st_size == 0)) {
            unlink(from);
        } else if (rename(from, to) == 0) {
            mpfs_warn("found staged data of a previous run that no journal names (the "
                      "index was rebuilt): saved as %s", to);
        }
        free(from);
        free(to);
    }
    closedir(d);
}

static int setup_cache_dir(struct mpfs_fs *fs, char *err, size_t errlen)
{
    const char *dir = fs->cfg.cache_dir;
    int rc = mkdir_p(dir, 0700);
    if (rc < 0) {
        snprintf(err, errlen, "cache directory %s cannot be created: %s", dir, strerror(-rc));
        return rc;
    }
    char *probe = mpfs_xasprintf("%s/.mpfs-write-test", dir);
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "x", 1) != 1) {
        rc = -errno;
        snprintf(err, errlen, "cache directory %s is not writable: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(probe);
        return rc ? rc : -EIO;
    }
    close(fd);
    unlink(probe);
    free(probe);
    fs->staging_dir = mpfs_xasprintf("%s/staging", dir);
    fs->lostfound_dir = mpfs_xasprintf("%s/lost+found", dir);
    if ((rc = mkdir_p(fs->staging_dir, 0700)) < 0 || (rc = mkdir_p(fs->lostfound_dir, 0700)) < 0) {
        snprintf(err, errlen, "cache directory %s: %s", dir, strerror(-rc));
        return rc;
    }
    return 0;
}

static void init_root(struct mpfs_fs *fs)
{
    struct mpfs_index_entry ie;
    struct mpfs_attr a;
    memset(&a, 0, sizeof(a));
    if (mpfs_index_root(fs->index, &ie) == 0)
        mpfs_entry_from_index(&ie, &a);
    a.mode = S_IFDIR | (uint32_t)fs->cfg.dir_mode;
    a.valid |= MPFS_ATTR_MODE;
    if (!a.mtime_ns)
        a.mtime_ns = a.ctime_ns = mpfs_wall_ns();
    a.nlink = 2;
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *root =
        mpfs_node_upsert_locked(fs, MPFS_ROOT_INO, 0, "", &a, ie.source, mpfs_wall_ns(), 1);
    (void)root;
    pthread_mutex_unlock(&fs->lock);
}

/* The policies in force while bucket notifications flow: what would be
 * trusted for meta_ttl is trusted for notify_ttl (an event tells when it
 * changes).  Fresh and immutable rules keep their meaning.  The rules'
 * prefixes are shared with fs->policy (freed there). */
static void notified_policy(struct mpfs_fs *fs)
{
    fs->policy_notified = fs->policy;
    int64_t ttl = (int64_t)(fs->cfg.notify_ttl * NS);
    for (int i = -1; i < fs->policy_notified.nrules; i++) {
        struct mpfs_policy *p =
            i < 0 ? &fs->policy_notified.base : &fs->policy_notified.rules[i].policy;
        if (p->attr_ttl > 0 && !p->immutable && p->attr_ttl < ttl)
            p->attr_ttl = ttl;
    }
}

int mpfs_fs_new(const struct mpfs_config *cfg, struct mpfs_fs **out, char *err,
                size_t errlen)
{
    struct mpfs_backend *s3, *nfs;
    int rc = mpfs_sides_open(cfg, &s3, &nfs, err, errlen);
    if (rc < 0)
        return rc;
    return mpfs_fs_new_from(cfg, s3, nfs, out, err, errlen);
}

int mpfs_fs_new_from(const struct mpfs_config *cfg, struct mpfs_backend *s3,
                     struct mpfs_backend *nfs, struct mpfs_fs **out, char *err, size_t errlen)
{
    struct mpfs_fs *fs = mpfs_xcalloc(1, sizeof(*fs));
    fs->cfg = *cfg; /* the strings stay owned by the caller's config */
    fs->mounted_wall_ns = mpfs_wall_ns();
    pthread_mutex_init(&fs->lock, NULL);
    pthread_mutex_init(&fs->rq_lock, NULL);
    pthread_cond_init(&fs->rq_cond, NULL);
    pthread_mutex_init(&fs->wb_lock, NULL);
    pthread_cond_init(&fs->wb_cond, NULL);
    pthread_mutex_init(&fs->walk_lock, NULL);
    atomic_init(&fs->staging_bytes, 0);
    atomic_init(&fs->conflict_serial, 0);
    mpfs_nodes_init(fs);
    mpfs_reconciler_new(fs);
    fs->s3 = s3;
    fs->nfs = nfs;
    int rc;

    struct mpfs_policy *base = &fs->policy.base;
    mpfs_policy_defaults(base);
    base->attr_ttl = (int64_t)(cfg->meta_ttl * NS);
    base->dir_ttl = (int64_t)(cfg->dir_ttl * NS);
    base->dir_stale = (int64_t)(cfg->dir_stale * NS);
    base->neg_ttl = (int64_t)(cfg->neg_ttl * NS);
    base->cto = cfg->cto;
    if ((rc = mpfs_policy_parse_rules(&fs->policy, cfg->policy, err, errlen)) < 0)
        goto fail;
    notified_policy(fs);

    if (fs->s3 && fs->nfs) {
        fs->costs.s3_small_read_s = measure_latency(fs->s3);
        fs->costs.nfs_small_read_s = measure_latency(fs->nfs);
    }
    mpfs_router_build(&fs->router, fs->s3, fs->nfs, &fs->costs);
    {
        char desc[2048];
        mpfs_router_describe(&fs->router, desc, sizeof(desc));
        mpfs_info("mode %s; routes:\n%s", cfg->mode, desc);
    }
    /* the dataset root must be there (an empty S3 prefix counts) */
    struct mpfs_attr ra;
    rc = mpfs_backend_stat(fs->router.route[MPFS_R_META], "", &ra);
    if (rc < 0 && rc != -ENOENT) {
        snprintf(err, errlen, "cannot read the dataset root on %s: %s",
                 fs->router.route[MPFS_R_META]->desc, strerror(-rc));
        goto fail;
    }

    if ((rc = setup_cache_dir(fs, err, errlen)) < 0)
        goto fail;
    char *index_dir = mpfs_xasprintf("%s/index", cfg->cache_dir);
    int rebuilt = 0;
    char ierr[256] = "";
    /* `umount && mount` is common: the previous daemon may still be
     * closing this index, so a busy index is waited for, briefly. */
    for (int tries = 0;; tries++) {
        rc = mpfs_index_open(index_dir, &fs->index, &rebuilt, ierr, sizeof(ierr));
        if (rc != -EBUSY || tries >= 100)
            break;
        usleep(100000);
    }
    free(index_dir);
    if (rc < 0) {
        snprintf(err, errlen, "%s", ierr);
        goto fail;
    }
    if (rebuilt)
        mpfs_info("metadata index starts empty%s%s", ierr[0] ? ": " : "", ierr);
    /* staged data of a previous run: commit what the journal names */
    fs->wb_orphans = mpfs_writeback_replay(fs);
    clean_staging(fs, rebuilt);

    /* One memory budget for the data path (cache/budget.h). */
    uint64_t limit = cfg->memory_limit;
    if (limit == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        limit = mpfs_mem_budget_default(pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page
                                                              : 0);
    }
    struct mpfs_mem_budget mb;
    rc = mpfs_mem_budget_split(limit, cfg->cache_ram, cfg->threads, (size_t)cfg->block_size, &mb,
                               err, errlen);
    if (rc != 0)
        goto fail;
    if (mb.ram_cache < cfg->cache_ram)
        mpfs_warn("cache_ram %llu MiB lowered to %llu MiB to fit memory_limit %llu MiB",
                  (unsigned long long)(cfg->cache_ram >> 20),
                  (unsigned long long)(mb.ram_cache >> 20), (unsigned long long)(limit >> 20));
    mpfs_info("memory_limit %llu MiB: RAM cache %llu, readahead %llu, buffer pool %llu, disk "
              "queue %llu MiB, requests of at most %zu KiB",
              (unsigned long long)(limit >> 20), (unsigned long long)(mb.ram_cache >> 20),
              (unsigned long long)(mb.prefetch >> 20), (unsigned long long)(mb.buffer_pool >> 20),
              (unsigned long long)(mb.disk_queue >> 20), mb.max_request >> 10);
    /* Large buffers come and go with every fetch: a fixed mmap threshold
     * returns them to the system at once (glibc's adaptive one would move
     * them into the heap arenas, where freed memory stays resident). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    /* ... and each heap keeps 1 MiB free at its top when it shrinks:
     * libcurl frees its 512 KiB receive buffer after every transfer, which
     * glibc's defaults (trim above 128 KiB, down to 128 KiB) may hand back
     * as fresh pages; a profile of a prefetched epoch of 128 KiB files
     * showed page faults under the receive (docs/CACHE.md says what it
     * was measured to gain: little).  At most 8 arenas (glibc's default is 8 per core), so what the heaps
     * keep is bounded: 8 x 2 MiB. */
    mallopt(M_TRIM_THRESHOLD, 2 << 20);
    mallopt(M_TOP_PAD, 1 << 20);
    mallopt(M_ARENA_MAX, 8);
    mpfs_cache_buf_pool_limit(mb.buffer_pool);
    struct mpfs_cache_config cc = {
        .block_size = (size_t)cfg->block_size,
        .ram_bytes = (size_t)mb.ram_cache,
        .disk_dir = NULL,
        .disk_bytes = cfg->cache_disk,
        .disk_queue_bytes = mb.disk_queue,
    };
    char *blocks = mpfs_xasprintf("%s/blocks", cfg->cache_dir);
    if (cfg->cache_disk > 0)
        cc.disk_dir = blocks;
    fs->cache = mpfs_cache_new(&cc, err, errlen);
    free(blocks);
    if (!fs->cache) {
        rc = -EIO;
        goto fail;
    }
    struct mpfs_reader_config rcfg = {
        .max_readahead = (size_t)cfg->readahead_max,
        .prefetch_threads = cfg->prefetch_threads,
        .max_request = mb.max_request,
        .max_prefetch_memory = mb.prefetch,
    };
    fs->prefetch = mpfs_prefetcher_new(fs->cache, &rcfg);
    if (!fs->prefetch) {
        snprintf(err, errlen, "cannot start the readahead threads");
        rc = -ENOMEM;
        goto fail;
    }
    struct mpfs_announce_config acfg = {
        .threads = cfg->hint_threads,
        .queue_max = cfg->hint_queue > 0 ? (size_t)cfg->hint_queue : 0,
        .memory = mb.prefetch,
        .block_size = (size_t)cfg->block_size,
    };
    fs->announce = mpfs_announce_new(fs, &acfg);
    init_root(fs);
    *out = fs;
    return 0;
fail:
    mpfs_fs_free(fs);
    return rc;
}

int mpfs_fs_start(struct mpfs_fs *fs, const struct mpfs_notifier *n)
{
    if (n)
        fs->notify = *n;
    int rc = mpfs_writeback_start(fs);
    if (rc == 0)
        rc = mpfs_refresher_start(fs);
    if (rc == 0 && fs->cfg.notify) {
        char err[512];
        if (mpfs_notify_new(fs, fs->cfg.notify, &fs->notify_ch, err, sizeof(err)) < 0)
            mpfs_warn("%s; polling with meta_ttl", err);
        else
            mpfs_notify_start(fs->notify_ch);
    }
    return rc < 0 ? rc : mpfs_reconciler_start(fs);
}

void mpfs_fs_describe(struct mpfs_fs *fs, char *buf, size_t size)
{
    mpfs_router_describe(&fs->router, buf, size);
}

/* Commit every node's staged writes (unmount). */
static void commit_all(struct mpfs_fs *fs)
{
    pthread_mutex_lock(&fs->lock);
    size_t n = 0;
    struct mpfs_node **v = mpfs_xcalloc(fs->nnodes + 1, sizeof(*v));
    for (size_t i = 0; i < fs->nbuckets; i++)
        for (struct mpfs_node *nd = fs->buckets[i]; nd; nd = nd->hnext)
            if (n < fs->nnodes)
                v[n++] = nd;
    pthread_mutex_unlock(&fs->lock);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&v[i]->wlock);
        if (v[i]->wf && v[i]->wf->dirty)
            mpfs_file_commit_locked(fs, v[i]);
        pthread_mutex_unlock(&v[i]->wlock);
    }
    free(v);
}

static void fs_free(struct mpfs_fs *fs, int crashed)
{
    if (!fs)
        return;
    /* events stop first: they touch the index and the nodes */
    mpfs_notify_free(fs->notify_ch);
    fs->notify_ch = NULL;
    mpfs_writeback_stop(fs);
    fs->abandoned = crashed;
    if (fs->index && !crashed)
        commit_all(fs);
    mpfs_reconciler_free(fs);
    mpfs_refresher_stop(fs);
    mpfs_announce_free(fs->announce);
    mpfs_prefetcher_free(fs->prefetch);
    mpfs_nodes_free(fs); /* moves still-uncommitted data to lost+found */
    mpfs_cache_free(fs->cache);
    if (crashed)
        mpfs_index_abandon(fs->index);
    else
        mpfs_index_close(fs->index);
    mpfs_backend_free(fs->s3);
    mpfs_backend_free(fs->nfs);
    mpfs_policy_set_free(&fs->policy);
    free(fs->staging_dir);
    free(fs->lostfound_dir);
    pthread_mutex_destroy(&fs->lock);
    pthread_mutex_destroy(&fs->rq_lock);
    pthread_cond_destroy(&fs->rq_cond);
    pthread_mutex_destroy(&fs->wb_lock);
    pthread_cond_destroy(&fs->wb_cond);
    pthread_mutex_destroy(&fs->walk_lock);
    free(fs);
}

void mpfs_fs_free(struct mpfs_fs *fs)
{
    fs_free(fs, 0);
}

void mpfs_fs_abandon(struct mpfs_fs *fs)
{
    fs_free(fs, 1);
}

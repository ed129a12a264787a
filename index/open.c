/*
 * open.c - opening, recovering and closing the index.
 *
 * Layout of the index directory (docs/INDEX.md):
 *   index.lock            flock()ed while a handle is open; holds its pid
 *   db/                   the RocksDB database
 *   index.corrupt-<time>  the last database found corrupt (one is kept)
 *   REBUILD               marker: corruption was seen while mounted
 *
 * Recovery policy: the index is a cache, so anything wrong with the
 * database itself (RocksDB reports Corruption, a missing or garbage
 * CURRENT/MANIFEST/table file, a record we cannot read, another schema)
 * is answered by starting empty, with a warning, at most once per open.
 * Only a directory we cannot use (not creatable, read-only, full, locked
 * by another mount) fails the open, because a fresh database would fail
 * the same way and hiding that would turn a config error into silent
 * slowness.
 *
 * Two mounts must never share one index: besides RocksDB's own LOCK file
 * we hold a flock() on index.lock for the life of the handle.  It is taken
 * before the database is touched, so moving a corrupt database aside can
 * never race with another process opening it, and its holder's pid makes
 * the -EBUSY message actionable.
 *
 * Tuning (measured in docs/INDEX.md): bloom filters for point gets, a
 * 32 MiB LRU block cache, 4 KiB blocks (16 KiB listed no faster and made
 * random gets 1.5x slower once the index outgrew the cache), two
 * background threads, WAL on without fsync per write.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "index/index_int.h"

#define BLOCK_CACHE_BYTES (32u << 20)
#define BLOCK_SIZE (4u << 10)
#define WRITE_BUFFER_BYTES (32u << 20)
/* RocksDB preallocates each new WAL at 1.1 x the write buffer unless the
 * total WAL size is capped lower, and each new MANIFEST at 4 MiB.  On a
 * tmpfs cache_dir (/dev/shm, many containers) a preallocation is RAM
 * outside the memory budget, and every open starts a new WAL and MANIFEST.
 * With one column family the cap only sets the preallocation step (the
 * memtable still flushes at the write buffer size): the WAL grows in 1 MiB
 * steps and the MANIFEST, a few KiB for this index, in 64 KiB steps. */
#define MAX_WAL_BYTES (1u << 20)
#define MANIFEST_PREALLOC_BYTES (64u << 10)
#define BLOOM_BITS_PER_KEY 10.0

/* RocksDB's InfoLogLevel::WARN_LEVEL: its LOG file stays small. */
#define ROCKSDB_LOG_WARN 2

/* Private error for "the database is readable but of another schema or not
 * ours": it is wiped rather than kept as evidence of corruption. */
#define ERR_SCHEMA ESTALE

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int mkdir_p(const char *path, mode_t mode)
{
    char *p = mpfs_xstrdup(path);
    int rc = 0;

    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') {
            continue;
        }
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *s = c;
        if (c == '\0') {
            break;
        }
    }
    free(p);
    return rc;
}

static void rm_rf(const char *path)
{
    int rc = mpfs_remove_tree(path);
    if (rc < 0) {
        mpfs_warn("index: cannot remove all of %s: %s", path, strerror(-rc));
    }
}

static int prepare_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    int rc = mkdir_p(dir, 0700);

    if (rc != 0) {
        set_err(err, errlen, "cannot create index directory %s: %s", dir,
                strerror(-rc));
        return rc;
    }
    if (stat(dir, &st) != 0) {
        rc = -errno;
        set_err(err, errlen, "cannot use index directory %s: %s", dir,
                strerror(errno));
        return rc;
    }
    if (!S_ISDIR(st.st_mode)) {
        set_err(err, errlen, "index path %s is not a directory", dir);
        return -ENOTDIR;
    }
    if (access(dir, R_OK | W_OK | X_OK) != 0) {
        rc = -errno;
        set_err(err, errlen, "index directory %s is not writable: %s", dir,
                strerror(errno));
        return rc;
    }
    return 0;
}

static int take_lock(struct mpfs_index *idx, char *err, size_t errlen)
{
    char *path = mpfs_xasprintf("%s/%s", idx->dir, MPFS_INDEX_LOCK_FILE);
    int rc = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0) {
        rc = -errno;
        set_err(err, errlen, "cannot create index lock file %s: %s", path,
                strerror(errno));
        goto out_free_path;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            rc = -errno;
            set_err(err, errlen, "cannot lock %s: %s", path, strerror(errno));
            goto out_close_fd;
        }
        rc = -EBUSY;
        char pid[32] = "";
        ssize_t n = mpfs_read_full(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        set_err(err, errlen,
                "index %s is in use by another mount (pid %s): each mount "
                "needs its own index directory",
                idx->dir, pid[0] ? pid : "unknown");
        goto out_close_fd;
    }
    char line[32];
    int len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 ||
        mpfs_write_all(fd, line, (size_t)len, 0) != 0) {
        /* Only the message of a later -EBUSY suffers. */
        mpfs_debug("index %s: cannot record pid in %s", idx->dir, path);
    }
    idx->lock_fd = fd;
    goto out_free_path;

out_close_fd:
    close(fd);
out_free_path:
    free(path);
    return rc;
}

static void setup_options(struct mpfs_index *idx)
{
    idx->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(idx->opts, 1);
    rocksdb_options_set_paranoid_checks(idx->opts, 1);
    rocksdb_options_increase_parallelism(idx->opts, 2);
    rocksdb_options_set_write_buffer_size(idx->opts, WRITE_BUFFER_BYTES);
    rocksdb_options_set_max_total_wal_size(idx->opts, MAX_WAL_BYTES);
    rocksdb_options_set_manifest_preallocation_size(idx->opts, MANIFEST_PREALLOC_BYTES);
    /* Table handlers of a few SST files load in the opening thread: the
     * default starts up to 16 threads on every open, which costs more
     * than the handful of footer reads they share. */
    rocksdb_options_set_max_file_opening_threads(idx->opts, 1);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(idx->opts, 1);
    rocksdb_options_set_info_log_level(idx->opts, ROCKSDB_LOG_WARN);
    rocksdb_options_set_keep_log_file_num(idx->opts, 2);
    rocksdb_options_set_max_log_file_size(idx->opts, 1u << 20);

    idx->cache = rocksdb_cache_create_lru(BLOCK_CACHE_BYTES);
    idx->topts = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(idx->topts, idx->cache);
    rocksdb_block_based_options_set_block_size(idx->topts, BLOCK_SIZE);
    /* The table options take ownership of the policy. */
    rocksdb_block_based_options_set_filter_policy(
        idx->topts, rocksdb_filterpolicy_create_bloom_full(BLOOM_BITS_PER_KEY));
    rocksdb_options_set_block_based_table_factory(idx->opts, idx->topts);

    idx->ropts = rocksdb_readoptions_create();
    idx->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(idx->wopts, 0);
    idx->wopts_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(idx->wopts_sync, 1);
    idx->fopts = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(idx->fopts, 1);
}

static void free_options(struct mpfs_index *idx)
{
    if (idx->opts == NULL) {
        return;
    }
    rocksdb_flushoptions_destroy(idx->fopts);
    rocksdb_writeoptions_destroy(idx->wopts_sync);
    rocksdb_writeoptions_destroy(idx->wopts);
    rocksdb_readoptions_destroy(idx->ropts);
    rocksdb_options_destroy(idx->opts);
    rocksdb_block_based_options_destroy(idx->topts);
    rocksdb_cache_destroy(idx->cache);
    idx->opts = NULL;
}

static int db_open(struct mpfs_index *idx, char *msg, size_t msglen)
{
    char *rerr = NULL;

    idx->db = rocksdb_open(idx->opts, idx->dbpath, &rerr);
    if (rerr != NULL) {
        int rc = mpfs_index_errno(rerr);
        snprintf(msg, msglen, "%s", rerr);
        rocksdb_free(rerr);
        idx->db = NULL;
        return rc;
    }
    return 0;
}

static void db_close(struct mpfs_index *idx)
{
    if (idx->db != NULL) {
        rocksdb_close(idx->db);
        idx->db = NULL;
    }
}

static int db_is_empty(struct mpfs_index *idx, int *empty)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator(idx->db, idx->ropts);
    char *rerr = NULL;

    rocksdb_iter_seek_to_first(it);
    *empty = !rocksdb_iter_valid(it);
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    return mpfs_index_fail(idx, rerr, "scan");
}

/* A brand-new database: write the schema and the first inode high-water
 * mark (1 is the root), synced, before anything else uses it. */
static int db_init(struct mpfs_index *idx)
{
    char schema[4], hwm[8];
    char *rerr = NULL;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();

    mpfs_index_enc_u32(schema, MPFS_INDEX_SCHEMA);
    mpfs_index_enc_u64(hwm, MPFS_INDEX_ROOT_INO + 1);
    rocksdb_writebatch_put(wb, MPFS_INDEX_META_SCHEMA,
                           strlen(MPFS_INDEX_META_SCHEMA), schema, 4);
    rocksdb_writebatch_put(wb, MPFS_INDEX_META_HWM, strlen(MPFS_INDEX_META_HWM),
                           hwm, 8);
    rocksdb_write(idx->db, idx->wopts_sync, wb, &rerr);
    rocksdb_writebatch_destroy(wb);
    return mpfs_index_fail(idx, rerr, "initialize");
}

/* 0 if the open database is a usable index of our schema (initializing a
 * new one; *fresh = 1 then); -EUCLEAN if it is damaged, -ERR_SCHEMA if it
 * is another schema or not ours, else -errno.  msg says why. */
static int db_check(struct mpfs_index *idx, int *fresh, char *msg,
                    size_t msglen)
{
    char buf[16];
    size_t len = 0;
    uint32_t schema;
    int rc = mpfs_index_raw_get(idx, NULL, MPFS_INDEX_META_SCHEMA,
                                strlen(MPFS_INDEX_META_SCHEMA), buf,
                                sizeof(buf), &len);
    *fresh = 0;
    if (rc == -ENOENT) {
        int empty;
        rc = db_is_empty(idx, &empty);
        if (rc != 0) {
            snprintf(msg, msglen, "cannot scan the database: %s",
                     strerror(-rc));
            return rc;
        }
        if (!empty) {
            snprintf(msg, msglen, "no schema record in a non-empty database");
            return -ERR_SCHEMA;
        }
        rc = db_init(idx);
        if (rc != 0) {
            snprintf(msg, msglen, "cannot initialize: %s", strerror(-rc));
            return rc;
        }
        *fresh = 1;
    } else if (rc != 0) {
        snprintf(msg, msglen, "cannot read the schema record: %s",
                 strerror(-rc));
        return rc;
    } else if (mpfs_index_dec_u32(buf, len, &schema) != 0) {
        snprintf(msg, msglen, "unreadable schema record");
        return -EUCLEAN;
    } else if (schema != MPFS_INDEX_SCHEMA) {
        snprintf(msg, msglen, "index schema version %u, this build uses %u",
                 schema, MPFS_INDEX_SCHEMA);
        return -ERR_SCHEMA;
    }
    rc = mpfs_index_ino_load(idx);
    if (rc != 0) {
        snprintf(msg, msglen, "cannot read the inode high-water mark: %s",
                 strerror(-rc));
        return rc == -ENOENT ? -EUCLEAN : rc;
    }
    return 0;
}

/* Errors that a fresh database in the same directory would hit again. */
static int is_fatal(int rc)
{
    switch (-rc) {
    case EBUSY:
    case ENOSPC:
    case EDQUOT:
    case EACCES:
    case EPERM:
    case EROFS:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case ENOTDIR:
        return 1;
    default:
        return 0;
    }
}

static void remove_old_copies(struct mpfs_index *idx)
{
    DIR *d = opendir(idx->dir);
    struct dirent *de;
    size_t plen = strlen(MPFS_INDEX_CORRUPT_PREFIX);

    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, MPFS_INDEX_CORRUPT_PREFIX, plen) == 0) {
            char *p = mpfs_xasprintf("%s/%s", idx->dir, de->d_name);
            rm_rf(p);
            free(p);
        }
    }
    closedir(d);
}

/* Move the damaged database out of the way, keeping it (and only it) for
 * a post-mortem.  Falls back to deleting it.  `where` gets the new path. */
static void move_aside(struct mpfs_index *idx, char *where, size_t wlen)
{
    struct stat st;

    snprintf(where, wlen, "(deleted)");
    if (lstat(idx->dbpath, &st) != 0) {
        snprintf(where, wlen, "(nothing to move)");
        return;
    }
    remove_old_copies(idx);
    char *dst = mpfs_xasprintf("%s/%s%lld", idx->dir, MPFS_INDEX_CORRUPT_PREFIX,
                               (long long)time(NULL));
    if (rename(idx->dbpath, dst) == 0) {
        snprintf(where, wlen, "%s", dst);
    } else {
        mpfs_warn("index %s: cannot move %s aside (%s): deleting it", idx->dir,
                  idx->dbpath, strerror(errno));
        rm_rf(idx->dbpath);
    }
    free(dst);
}

/* Whether a database was there before this open (RocksDB's CURRENT). */
static int db_present(struct mpfs_index *idx)
{
    char *p = mpfs_xasprintf("%s/CURRENT", idx->dbpath);
    int present = access(p, F_OK) == 0;
    free(p);
    return present;
}

static int rebuild_marker_present(struct mpfs_index *idx)
{
    char *p = mpfs_xasprintf("%s/%s", idx->dir, MPFS_INDEX_REBUILD_FILE);
    int present = access(p, F_OK) == 0;
    free(p);
    return present;
}

static void rebuild_marker_clear(struct mpfs_index *idx)
{
    char *p = mpfs_xasprintf("%s/%s", idx->dir, MPFS_INDEX_REBUILD_FILE);
    if (unlink(p) != 0 && errno != ENOENT) {
        mpfs_warn("index %s: cannot remove %s: %s", idx->dir, p,
                  strerror(errno));
    }
    free(p);
}

/* Discard the database for `why` (-EUCLEAN and the like: moved aside;
 * -ERR_SCHEMA: wiped) and say so once, loudly. */
static void discard(struct mpfs_index *idx, int why, const char *msg, char *err,
                    size_t errlen)
{
    char where[512];

    db_close(idx);
    if (why == -ERR_SCHEMA) {
        rm_rf(idx->dbpath);
        mpfs_warn("index %s: %s: discarding it and starting empty (entries "
                  "are re-read from the backends)",
                  idx->dir, msg);
        set_err(err, errlen, "%s: index discarded", msg);
        return;
    }
    move_aside(idx, where, sizeof(where));
    mpfs_warn("index %s: database unusable (%s): moved to %s, starting "
              "empty (entries are re-read from the backends)",
              idx->dir, msg, where);
    set_err(err, errlen, "database unusable (%s): rebuilt empty", msg);
}

static void index_free(struct mpfs_index *idx)
{
    db_close(idx);
    free_options(idx);
    if (idx->lock_fd >= 0) {
        close(idx->lock_fd);
    }
    pthread_mutex_destroy(&idx->wlock);
    pthread_mutex_destroy(&idx->ino_lock);
    free(idx->dbpath);
    free(idx->dir);
    free(idx);
}

int mpfs_index_open(const char *dir, struct mpfs_index **out, int *rebuilt,
                    char *err, size_t errlen)
{
    struct mpfs_index *idx;
    char msg[512];
    int fresh = 0, discarded = 0, existed;
    int rc;

    *out = NULL;
    if (rebuilt != NULL) {
        *rebuilt = 0;
    }
    set_err(err, errlen, "%s", "");
    if (dir == NULL || dir[0] == '\0') {
        set_err(err, errlen, "no index directory given");
        return -EINVAL;
    }
    rc = prepare_dir(dir, err, errlen);
    if (rc != 0) {
        return rc;
    }

    idx = mpfs_xcalloc(1, sizeof(*idx));
    idx->lock_fd = -1;
    pthread_mutex_init(&idx->wlock, NULL);
    pthread_mutex_init(&idx->ino_lock, NULL);
    idx->dir = mpfs_xstrdup(dir);
    idx->dbpath = mpfs_xasprintf("%s/%s", dir, MPFS_INDEX_DB_SUBDIR);
    /* open() handles corruption itself: no REBUILD marker from here. */
    atomic_store(&idx->corrupt_flagged, 1);

    rc = take_lock(idx, err, errlen);
    if (rc != 0) {
        goto out_free;
    }
    setup_options(idx);

    if (rebuild_marker_present(idx)) {
        discard(idx, -EUCLEAN, "corruption was detected while mounted", err,
                errlen);
        rebuild_marker_clear(idx);
        discarded = 1;
    }
    existed = db_present(idx);
    for (;;) {
        rc = db_open(idx, msg, sizeof(msg));
        if (rc == 0) {
            rc = db_check(idx, &fresh, msg, sizeof(msg));
            if (rc == 0) {
                break;
            }
        }
        if (is_fatal(rc) || discarded) {
            if (rc == -EBUSY) {
                set_err(err, errlen, "index %s is in use (%s)", dir, msg);
            } else {
                set_err(err, errlen, "cannot open index %s: %s", dir, msg);
            }
            mpfs_error("index %s: cannot open: %s", dir, msg);
            goto out_free;
        }
        discard(idx, rc, msg, err, errlen);
        discarded = 1;
    }
    atomic_store(&idx->corrupt_flagged, 0);

    if (fresh && !discarded && existed) {
        /* RocksDB recovered nothing from files that were there, e.g. a
         * truncated MANIFEST: as good as a rebuild, so say so. */
        mpfs_warn("index %s: the existing database held no data (damaged?): "
                  "starting empty (entries are re-read from the backends)",
                  dir);
        set_err(err, errlen, "existing database held no data: rebuilt empty");
    } else if (fresh && !discarded) {
        mpfs_info("index %s: created a new, empty index", dir);
    }
    if (rebuilt != NULL) {
        *rebuilt = fresh;
    }
    *out = idx;
    return 0;

out_free:
    index_free(idx);
    return rc;
}

void mpfs_index_close(struct mpfs_index *idx)
{
    char *rerr = NULL;

    if (idx == NULL) {
        return;
    }
    if (idx->db != NULL) {
        mpfs_index_ino_save(idx);
        /* Leave nothing for WAL replay: the next open (a remount) is
         * faster and a clean shutdown is durable. */
        rocksdb_flush(idx->db, idx->fopts, &rerr);
        if (rerr != NULL) {
            mpfs_warn("index %s: flush at close failed: %s", idx->dir, rerr);
            rocksdb_free(rerr);
        }
    }
    index_free(idx);
}

void mpfs_index_abandon(struct mpfs_index *idx)
{
    /* rocksdb_close() flushes nothing while the WAL is on: what is not in
     * an SST file is replayed from the WAL by the next open. */
    if (idx != NULL) {
        index_free(idx);
    }
}

/*
 * reconciler.c - background re-checking of recently used directories, so a
 * change made by someone else (through S3 or NFS) shows within a bounded
 * time without an `ls` asking for it and without a HEAD per `stat`.
 *
 * Design.  A bounded set of directories (reconcile_dirs entries) records
 * when each was last used: looked up in, listed, or one of its children
 * stat-ed (mpfs_reconciler_touch, called by the vfs).  One worker thread
 * walks the set: every directory used within reconcile_window and not
 * checked for reconcile_interval is re-checked, the longest-unchecked
 * first, spending at most reconcile_rate store requests per second (a
 * token bucket holding at most one second's worth; a listing costs one
 * request per 1,000 entries, so a huge directory is re-checked less often
 * rather than flooding the store):
 *   - S3 metadata side: one LIST of the directory;
 *   - NFS metadata side: a READDIRPLUS once the last listing is older than
 *     reconcile_full (an in-place write to a file does not move its
 *     directory's attributes, so only a listing shows it); until then a
 *     GETATTR of the directory, and a READDIRPLUS at once if its change
 *     attribute (version token) moved.  With the default reconcile_full
 *     (1 s, the interval) every check is a READDIRPLUS, the same one request
 *     per directory per second as S3; a larger reconcile_full makes an
 *     unchanged directory cost one GETATTR, and in-place writes show within
 *     reconcile_full instead.
 * A listing is applied by mpfs_fs_apply_listing() (dir_merge.c), the one place
 * that merges listings: created, changed and vanished entries, the
 * listing-vs-commit race, local unuploaded entries left alone, kernel
 * notifications, the in-memory nodes and the old version's cache blocks.
 * The set ages: a directory not used for reconcile_window leaves it, and
 * when it is full the least recently used directory makes room.  A
 * directory under an `immutable` policy prefix is dropped from the set
 * unchecked: its listing is served forever once taken (policy.h).
 * (Every other directory, `fresh` ones included, is re-checked.)
 *
 * The freshness rule that relies on this walk lives in consistency/policy.c
 * (mpfs_policy_attr_fresh_in): an entry of a directory re-listed here
 * within reconciled_ttl is trusted without a HEAD.
 *
 * Locking: rec->lock guards the set and the counters; it ranks below
 * fs->lock's users in that it is never held while taking fs->lock, nor
 * across a backend call or mpfs_fs_apply_listing().  The set is a plain
 * array scanned linearly: reconcile_dirs is small (default 1024) and a
 * scan is a few microseconds.
 */
#include "fs/reconciler.h"

#include "base/log.h"
#include "base/util.h"
#include "fs/dir_merge.h"
#include "fs/entry.h"
#include "fs/fs_state.h"
#include "fs/node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NS 1000000000LL
#define TICK_NS (50 * 1000000LL)

struct watched {
    uint64_t ino;
    int64_t used;        /* clock: last use */
    int64_t checked;     /* clock: last check (0 = never) */
    int64_t listed_wall; /* wall: start of the last listing applied here (0 = none) */
    char dir_version[MPFS_VERSION_MAX]; /* NFS: the directory's token at that check */
};

struct mpfs_reconciler {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct watched *v;
    size_t n, cap;
    int64_t (*now)(void); /* monotonic clock; tests substitute one */
    double tokens;
    int64_t refilled;
    int stop, started;
    pthread_t thread;
    struct mpfs_reconciler_stats st;
};

static struct watched *find_locked(struct mpfs_reconciler *r, uint64_t ino)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].ino == ino)
            return &r->v[i];
    return NULL;
}

static void remove_at_locked(struct mpfs_reconciler *r, size_t i)
{
    r->v[i] = r->v[--r->n];
}

int mpfs_reconciler_new(struct mpfs_fs *fs)
{
    struct mpfs_reconciler *r = mpfs_xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->cap = fs->cfg.reconcile_dirs > 0 ? (size_t)fs->cfg.reconcile_dirs : 1;
    r->v = mpfs_xcalloc(r->cap, sizeof(*r->v));
    r->now = mpfs_now_ns;
    fs->rec = r;
    return 0;
}

void mpfs_reconciler_free(struct mpfs_fs *fs)
{
    struct mpfs_reconciler *r = fs->rec;
    if (!r)
        return;
    mpfs_reconciler_stop(fs);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r->v);
    free(r);
    fs->rec = NULL;
}

void mpfs_reconciler_set_clock(struct mpfs_fs *fs, int64_t (*now)(void))
{
    pthread_mutex_lock(&fs->rec->lock);
    fs->rec->now = now ? now : mpfs_now_ns;
    pthread_mutex_unlock(&fs->rec->lock);
}

void mpfs_reconciler_touch(struct mpfs_fs *fs, uint64_t dir_ino)
{
    struct mpfs_reconciler *r = fs->rec;
    if (!r || !dir_ino)
        return;
    pthread_mutex_lock(&r->lock);
    int64_t now = r->now();
    struct watched *w = find_locked(r, dir_ino);
    if (!w) {
        if (r->n == r->cap) {
            /* full: the least recently used directory leaves */
            size_t lru = 0;
            for (size_t i = 1; i < r->n; i++)
                if (r->v[i].used < r->v[lru].used)
                    lru = i;
            remove_at_locked(r, lru);
            r->st.evicted++;
        }
        w = &r->v[r->n++];
        memset(w, 0, sizeof(*w));
        w->ino = dir_ino;
        /* the listing it has now counts as its first check: re-check it
         * one interval from now, not at once */
        w->checked = now;
    }
    w->used = now;
    pthread_mutex_unlock(&r->lock);
}

int64_t mpfs_reconciler_listed(struct mpfs_fs *fs, uint64_t dir_ino)
{
    struct mpfs_reconciler *r = fs->rec;
    if (!r)
        return 0;
    pthread_mutex_lock(&r->lock);
    struct watched *w = find_locked(r, dir_ino);
    int64_t t = 0;
    if (w && r->now() - w->used < (int64_t)(fs->cfg.reconcile_window * NS))
        t = w->listed_wall;
    pthread_mutex_unlock(&r->lock);
    return t;
}

size_t mpfs_reconciler_watched(struct mpfs_fs *fs)
{
    pthread_mutex_lock(&fs->rec->lock);
    size_t n = fs->rec->n;
    pthread_mutex_unlock(&fs->rec->lock);
    return n;
}

void mpfs_reconciler_get_stats(struct mpfs_fs *fs, struct mpfs_reconciler_stats *out)
{
    pthread_mutex_lock(&fs->rec->lock);
    *out = fs->rec->st;
    out->watched = fs->rec->n;
    pthread_mutex_unlock(&fs->rec->lock);
}

static int64_t listing_age_wall(struct mpfs_fs *fs, uint64_t ino)
{
    struct mpfs_index_dir d;
    if (mpfs_index_dir_get(fs->index, ino, &d) < 0 || d.listed_ns == 0)
        return INT64_MAX;
    return mpfs_wall_ns() - d.listed_ns;
}

/* Check one directory; returns the store requests spent (at most budget),
 * or -ENOENT if the directory is gone from the mount. */
static int check_dir(struct mpfs_fs *fs, uint64_t ino, const char *path, char *dir_version,
                     int budget, int64_t *listed_wall)
{
    struct mpfs_backend *meta = fs->router.route[MPFS_R_META];
    struct mpfs_reconciler *r = fs->rec;
    int spent = 0;
    /* checks come every interval, give or take a tick: a listing due within
     * a quarter interval is due now, not one whole interval later */
    int64_t full = (int64_t)((fs->cfg.reconcile_full - fs->cfg.reconcile_interval / 4) * NS);
    if (meta == fs->nfs && fs->cfg.reconcile_full > fs->cfg.reconcile_interval) {
        struct mpfs_attr a;
        int rc = mpfs_backend_stat(meta, path, &a);
        spent++;
        pthread_mutex_lock(&r->lock);
        r->st.getattrs++;
        pthread_mutex_unlock(&r->lock);
        if (rc < 0)
            return rc == -ENOENT ? -ENOENT : spent;
        if (mpfs_version_same(a.version, dir_version) && listing_age_wall(fs, ino) < full) {
            /* nothing came or went; the last listing still vouches for the entries */
            return spent;
        }
        if (spent >= budget)
            return spent; /* listed on the next pass; the token is not updated */
        snprintf(dir_version, MPFS_VERSION_MAX, "%s", a.version);
    }
    int64_t started = mpfs_wall_ns();
    int rc = mpfs_fs_refresh_dir(fs, ino, path);
    struct mpfs_index_dir d;
    /* a listing costs a request per page (1,000 names on S3): a big
     * directory spends its share of the budget, the bucket runs negative
     * and the next passes wait for it to refill */
    spent += 1 + (rc == 0 && mpfs_index_dir_get(fs->index, ino, &d) == 0
                      ? (int)(d.entries / 1000) : 0);
    pthread_mutex_lock(&r->lock);
    r->st.lists++;
    if (rc < 0)
        r->st.errors++;
    pthread_mutex_unlock(&r->lock);
    if (rc == -ENOENT)
        return -ENOENT;
    if (rc == 0)
        *listed_wall = mpfs_index_dir_get(fs->index, ino, &d) == 0 ? d.listed_ns : started;
    else
        mpfs_info("reconcile '%s': %s", path, strerror(-rc));
    return spent;
}

int mpfs_reconciler_pass(struct mpfs_fs *fs, int budget)
{
    struct mpfs_reconciler *r = fs->rec;
    int64_t interval = (int64_t)(fs->cfg.reconcile_interval * NS);
    int64_t window = (int64_t)(fs->cfg.reconcile_window * NS);
    int spent = 0;

    pthread_mutex_lock(&r->lock);
    int64_t now = r->now();
    r->st.passes++;
    /* aging: a directory not used for the window leaves the set */
    for (size_t i = 0; i < r->n;) {
        if (now - r->v[i].used >= window) {
            remove_at_locked(r, i);
            r->st.aged++;
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&r->lock);

    while (spent < budget) {
        /* the directory waiting longest for its check */
        pthread_mutex_lock(&r->lock);
        struct watched *due = NULL;
        for (size_t i = 0; i < r->n; i++)
            if (now - r->v[i].checked >= interval && (!due || r->v[i].checked < due->checked))
                due = &r->v[i];
        if (!due) {
            pthread_mutex_unlock(&r->lock);
            break;
        }
        uint64_t ino = due->ino;
        char version[MPFS_VERSION_MAX];
        snprintf(version, sizeof(version), "%s", due->dir_version);
        due->checked = now; /* taken: a failure waits an interval too */
        pthread_mutex_unlock(&r->lock);

        pthread_mutex_lock(&fs->lock);
        struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
        int is_dir = n && S_ISDIR(n->attr.mode) && !n->unlinked;
        char *path = is_dir ? mpfs_node_path_locked(fs, ino) : NULL;
        pthread_mutex_unlock(&fs->lock);
        int64_t listed = 0;
        int rc = -ENOENT, cost = 0;
        /* an immutable prefix is never revalidated: its listing stays */
        if (path && !mpfs_fs_policy(fs, path)->immutable) {
            rc = check_dir(fs, ino, path, version, budget - spent, &listed);
            cost = rc == -ENOENT ? 1 : rc;
        }
        free(path);

        pthread_mutex_lock(&r->lock);
        struct watched *w = find_locked(r, ino);
        if (rc == -ENOENT) {
            /* the kernel forgot it or it is gone: nothing to keep fresh */
            if (w)
                remove_at_locked(r, (size_t)(w - r->v));
        } else if (w) {
            snprintf(w->dir_version, sizeof(w->dir_version), "%s", version);
            if (listed)
                w->listed_wall = listed;
        }
        spent += cost;
        pthread_mutex_unlock(&r->lock);
    }
    return spent;
}

static void *worker(void *arg)
{
    struct mpfs_fs *fs = arg;
    struct mpfs_reconciler *r = fs->rec;
    double rate = fs->cfg.reconcile_rate;
    pthread_mutex_lock(&r->lock);
    r->refilled = r->now();
    r->tokens = 1;
    while (!r->stop) {
        struct timespec ts = mpfs_deadline_in(TICK_NS);
        pthread_cond_timedwait(&r->cond, &r->lock, &ts);
        if (r->stop)
            break;
        /* token bucket: rate per second, at most one second's burst */
        int64_t now = r->now();
        r->tokens += rate * (double)(now - r->refilled) / (double)NS;
        if (r->tokens > rate)
            r->tokens = rate;
        r->refilled = now;
        int budget = (int)r->tokens;
        if (budget < 1)
            continue;
        pthread_mutex_unlock(&r->lock);
        int spent = mpfs_reconciler_pass(fs, budget);
        pthread_mutex_lock(&r->lock);
        r->tokens -= spent;
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int mpfs_reconciler_start(struct mpfs_fs *fs)
{
    struct mpfs_reconciler *r = fs->rec;
    if (!r || fs->cfg.reconcile_rate <= 0)
        return 0;
    int rc = pthread_create(&r->thread, NULL, worker, fs);
    if (rc)
        return -rc;
    r->started = 1;
    return 0;
}

void mpfs_reconciler_stop(struct mpfs_fs *fs)
{
    struct mpfs_reconciler *r = fs->rec;
    if (!r || !r->started)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    r->started = 0;
}

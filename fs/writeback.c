/*
 * writeback.c - staged data that is not on the store yet: background retry
 * of failed commits, replay of the journal of a previous run, and rescue
 * of what cannot be committed.
 *
 * Two kinds of pending data:
 *  - a live node whose commit failed after its last handle closed: the node
 *    is kept (wb_pinned) with its staging file and journal record, and this
 *    thread commits it through the normal path (file.c), so reads and
 *    stats meanwhile still see the staged content;
 *  - a journal record no node owns: left by a crash or by an unmount whose
 *    final commit failed.  mpfs_writeback_replay() commits it from the
 *    record alone (fs/commit.c, with the record's precondition; replay mode
 *    recognises an object that already holds our bytes as our own commit).
 * A transient error (store down, timeout) is retried with backoff (1 s
 * doubling to 30 s); a permanent one (the store rejects the name, no
 * permission) rescues the data to lost+found (lostfound.h) and the entry
 * leaves the index so no ghost stays listed.
 *
 * Locking: the thread takes node->wlock then fs->lock (the fs_state.h rank);
 * wb_lock only guards the thread's own flags and is never held with them.
 * A pinned node cannot be dropped (node.c checks wb_pinned) and only this
 * thread clears the pin, so it may keep node pointers between sections.
 */
#include "fs/writeback.h"

#include "base/log.h"
#include "base/util.h"
#include "consistency/journal.h"
#include "consistency/upload.h"
#include "fs/commit.h"
#include "fs/entry.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/lostfound.h"
#include "fs/node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WB_MIN_DELAY_NS (1000LL * 1000 * 1000)
#define WB_MAX_DELAY_NS (30LL * 1000 * 1000 * 1000)

/* Forget a name that exists only here (a new file whose data was rescued). */
static void drop_local_entry(struct mpfs_fs *fs, uint64_t parent, const char *path, uint64_t ino)
{
    const char *name = mpfs_path_base(path);
    struct mpfs_index_entry ie;
    if (parent && name[0] && mpfs_index_get(fs->index, parent, name, &ie) == 0 &&
        ie.ino == ino && ie.source == MPFS_INDEX_SRC_LOCAL) {
        mpfs_index_del(fs->index, parent, name);
        if (fs->notify.inval_entry)
            fs->notify.inval_entry(fs->notify.ctx, parent, name);
    }
}

/* ----------------------------------------------------------- live nodes */

/* One retry of a pinned node.  Returns 1 if it is still pending. */
static int retry_node(struct mpfs_fs *fs, struct mpfs_node *n)
{
    pthread_mutex_lock(&n->wlock);
    int rc = mpfs_file_commit_locked(fs, n);
    int pending = 0;
    pthread_mutex_lock(&fs->lock);
    int idle = n->nopen == 0;
    uint64_t parent = n->parent;
    pthread_mutex_unlock(&fs->lock);
    if (rc == 0 || mpfs_commit_error_is_permanent(rc)) {
        struct mpfs_wfile *wf = n->wf;
        if (rc < 0 && wf) {
            int was_new = wf->is_new;
            if (was_new)
                drop_local_entry(fs, parent, wf->jpath ? wf->jpath : "", n->ino);
            mpfs_wfile_free(fs, n->ino, wf, MPFS_WF_RESCUE);
            n->wf = NULL;
            if (was_new) {
                /* the name never reached the store and is gone here too */
                pthread_mutex_lock(&fs->lock);
                n->unlinked = 1;
                pthread_mutex_unlock(&fs->lock);
            }
        } else if (wf && idle && wf->writers == 0) {
            mpfs_wfile_free(fs, n->ino, wf, MPFS_WF_DISCARD);
            n->wf = NULL;
        }
    } else {
        pending = 1;
    }
    pthread_mutex_unlock(&n->wlock);
    if (!pending) {
        pthread_mutex_lock(&fs->lock);
        n->wb_pinned = 0;
        mpfs_node_maybe_drop_locked(fs, n);
        pthread_mutex_unlock(&fs->lock);
    }
    return pending;
}

static size_t retry_pinned(struct mpfs_fs *fs)
{
    pthread_mutex_lock(&fs->lock);
    size_t n = 0, cap = 0;
    struct mpfs_node **v = NULL;
    for (size_t i = 0; i < fs->nbuckets; i++)
        for (struct mpfs_node *nd = fs->buckets[i]; nd; nd = nd->hnext)
            if (nd->wb_pinned) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    v = mpfs_xrealloc(v, cap * sizeof(*v));
                }
                v[n++] = nd;
            }
    pthread_mutex_unlock(&fs->lock);
    size_t pending = 0;
    for (size_t i = 0; i < n; i++)
        pending += (size_t)retry_node(fs, v[i]);
    free(v);
    return pending;
}

/* ------------------------------------------------------ journal replay */

struct replay {
    struct mpfs_fs *fs;
    size_t left;
};

static int owned_by_live_node(struct mpfs_fs *fs, uint64_t ino)
{
    pthread_mutex_lock(&fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(fs, ino);
    if (n)
        n->nopen++; /* pin: a forget may drop it while we wait for wlock */
    pthread_mutex_unlock(&fs->lock);
    if (!n)
        return 0;
    pthread_mutex_lock(&n->wlock);
    int owned = n->wf && n->wf->journaled;
    pthread_mutex_unlock(&n->wlock);
    pthread_mutex_lock(&fs->lock);
    n->nopen--;
    mpfs_node_maybe_drop_locked(fs, n);
    pthread_mutex_unlock(&fs->lock);
    return owned;
}

static int replay_one(void *arg, const struct mpfs_journal_rec *rec)
{
    struct replay *r = arg;
    struct mpfs_fs *fs = r->fs;
    if (owned_by_live_node(fs, rec->ino))
        return 0;
    char *spath = mpfs_xasprintf("%s/%s", fs->staging_dir, rec->staging);
    int fd = open(spath, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        mpfs_error("journal: staged data of '%s' (%s) is missing: %s; nothing to commit",
                   rec->path, spath, strerror(errno));
        if (fd >= 0)
            close(fd);
        if (rec->is_new)
            drop_local_entry(fs, rec->parent, rec->path, rec->ino);
        mpfs_upload_forget(fs->index, rec->ino);
        mpfs_journal_del(fs->index, rec->ino);
        free(spath);
        return 0;
    }
    struct mpfs_commit_req req;
    memset(&req, 0, sizeof(req));
    req.path = rec->path;
    req.fd = fd;
    req.size = (uint64_t)st.st_size;
    req.base_version = rec->base_version;
    req.base_side = rec->base_side;
    req.is_new = rec->is_new;
    req.conflict_path = rec->conflict_path && rec->conflict_path[0] ? rec->conflict_path : NULL;
    req.replay = 1;
    req.journal_id = rec->ino;
    req.attr = rec->attr;
    req.attr.mode = S_IFREG | ((rec->attr_set & MPFS_SET_MODE) ? rec->attr.mode & 07777
                                                                 : (uint32_t)fs->cfg.file_mode);
    if (!(rec->attr_set & MPFS_SET_UID))
        req.attr.uid = (uint32_t)fs->cfg.uid;
    if (!(rec->attr_set & MPFS_SET_GID))
        req.attr.gid = (uint32_t)fs->cfg.gid;
    if (!(rec->attr_set & MPFS_SET_MTIME))
        req.attr.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    req.attr_set = MPFS_SET_MODE | MPFS_SET_UID | MPFS_SET_GID | MPFS_SET_MTIME;
    req.changed_set = rec->attr_set;

    struct mpfs_commit_result res;
    int rc = mpfs_commit_run(fs, &req, &res);
    close(fd);
    if (rc == 0) {
        mpfs_info("journal: committed '%s' (%llu bytes) staged before the last stop%s%s",
                  rec->path, (unsigned long long)req.size,
                  res.conflict_path ? "; it conflicted and was saved as " : "",
                  res.conflict_path ? res.conflict_path : "");
        const char *name = mpfs_path_base(rec->path);
        struct mpfs_index_entry ie;
        if (!res.conflict_path && !req.conflict_path && rec->parent &&
            mpfs_index_get(fs->index, rec->parent, name, &ie) == 0 && ie.ino == rec->ino) {
            res.attr.mode = S_IFREG | (res.attr.mode & 07777);
            mpfs_fs_record(fs, rec->ino, rec->parent, name, &res.attr,
                           mpfs_source_of(fs, res.backend));
        } else if (rec->is_new) {
            drop_local_entry(fs, rec->parent, rec->path, rec->ino);
        }
        unlink(spath);
        mpfs_journal_del(fs->index, rec->ino);
    } else if (mpfs_commit_error_is_permanent(rc)) {
        mpfs_error("journal: '%s' cannot be committed: %s", rec->path, strerror(-rc));
        mpfs_lostfound_rescue(fs, spath, rec->path, req.size);
        if (rec->is_new)
            drop_local_entry(fs, rec->parent, rec->path, rec->ino);
        mpfs_journal_del(fs->index, rec->ino);
    } else {
        mpfs_warn("journal: '%s' not committed yet (%s); retrying in the background",
                  rec->path, strerror(-rc));
        r->left++;
    }
    free(res.conflict_path);
    free(spath);
    return 0;
}

size_t mpfs_writeback_replay(struct mpfs_fs *fs)
{
    struct replay r = {.fs = fs};
    mpfs_journal_each(fs->index, replay_one, &r);
    return r.left;
}

static int count_one(void *arg, const struct mpfs_journal_rec *rec)
{
    (void)rec;
    (*(size_t *)arg)++;
    return 0;
}

size_t mpfs_writeback_pending(struct mpfs_fs *fs)
{
    size_t n = 0;
    mpfs_journal_each(fs->index, count_one, &n);
    return n;
}

/* -------------------------------------------------------------- thread */

static void *wb_main(void *arg)
{
    struct mpfs_fs *fs = arg;
    int64_t delay = WB_MIN_DELAY_NS;
    pthread_mutex_lock(&fs->wb_lock);
    while (!fs->wb_stop) {
        if (!fs->wb_kicked) {
            struct timespec ts = mpfs_deadline_in(delay);
            pthread_cond_timedwait(&fs->wb_cond, &fs->wb_lock, &ts);
        }
        if (fs->wb_stop)
            break;
        int kicked = fs->wb_kicked;
        fs->wb_kicked = 0;
        size_t orphans = fs->wb_orphans;
        pthread_mutex_unlock(&fs->wb_lock);

        size_t pending = retry_pinned(fs);
        if (orphans)
            orphans = mpfs_writeback_replay(fs);

        pthread_mutex_lock(&fs->wb_lock);
        fs->wb_orphans = orphans;
        if (pending + orphans == 0 || kicked)
            delay = WB_MIN_DELAY_NS;
        else
            delay = MPFS_MIN(delay * 2, WB_MAX_DELAY_NS);
    }
    pthread_mutex_unlock(&fs->wb_lock);
    return NULL;
}

int mpfs_writeback_start(struct mpfs_fs *fs)
{
    int rc = pthread_create(&fs->wb_thread, NULL, wb_main, fs);
    if (rc != 0)
        return -rc;
    fs->wb_started = 1;
    return 0;
}

void mpfs_writeback_stop(struct mpfs_fs *fs)
{
    if (!fs->wb_started)
        return;
    pthread_mutex_lock(&fs->wb_lock);
    fs->wb_stop = 1;
    pthread_cond_broadcast(&fs->wb_cond);
    pthread_mutex_unlock(&fs->wb_lock);
    pthread_join(fs->wb_thread, NULL);
    fs->wb_started = 0;
}

void mpfs_writeback_kick(struct mpfs_fs *fs)
{
    pthread_mutex_lock(&fs->wb_lock);
    fs->wb_kicked = 1;
    pthread_cond_broadcast(&fs->wb_cond);
    pthread_mutex_unlock(&fs->wb_lock);
}

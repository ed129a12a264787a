/*
 * refresher.c - background re-listing of directories.
 *
 * opendir serves a listing that is past dir_ttl but within dir_stale from
 * the index at once and queues the directory here; one worker re-lists it
 * so the next listing is current (stale-while-revalidate).  The queue is
 * bounded and deduplicated: a directory queued twice is listed once, and
 * when the queue is full the request is dropped (the next opendir queues
 * it again).
 */
#include "fs/refresher.h"

#include "base/log.h"
#include "base/util.h"
#include "fs/dir_merge.h"
#include "fs/fs_state.h"
#include "fs/node.h"

#include <stdlib.h>
#include <string.h>

#define RQ_MAX 1024

static void *worker(void *arg)
{
    struct mpfs_fs *fs = arg;
    pthread_mutex_lock(&fs->rq_lock);
    for (;;) {
        while (fs->rq_n == 0 && !fs->rq_stop)
            pthread_cond_wait(&fs->rq_cond, &fs->rq_lock);
        if (fs->rq_stop)
            break;
        uint64_t ino = fs->rq[0];
        memmove(fs->rq, fs->rq + 1, (fs->rq_n - 1) * sizeof(*fs->rq));
        fs->rq_n--;
        pthread_mutex_unlock(&fs->rq_lock);

        char *path = mpfs_node_path(fs, ino);
        if (path) {
            int rc = mpfs_fs_refresh_dir(fs, ino, path);
            if (rc < 0)
                mpfs_info("background refresh of '%s': %s", path, strerror(-rc));
            free(path);
        }
        pthread_mutex_lock(&fs->rq_lock);
    }
    pthread_mutex_unlock(&fs->rq_lock);
    return NULL;
}

int mpfs_refresher_start(struct mpfs_fs *fs)
{
    fs->rq_cap = RQ_MAX;
    fs->rq = mpfs_xcalloc(fs->rq_cap, sizeof(*fs->rq));
    int rc = pthread_create(&fs->rq_thread, NULL, worker, fs);
    if (rc)
        return -rc;
    fs->rq_started = 1;
    return 0;
}

void mpfs_refresher_stop(struct mpfs_fs *fs)
{
    if (!fs->rq_started)
        return;
    pthread_mutex_lock(&fs->rq_lock);
    fs->rq_stop = 1;
    pthread_cond_signal(&fs->rq_cond);
    pthread_mutex_unlock(&fs->rq_lock);
    pthread_join(fs->rq_thread, NULL);
    fs->rq_started = 0;
    free(fs->rq);
    fs->rq = NULL;
}

void mpfs_refresher_enqueue(struct mpfs_fs *fs, uint64_t dir_ino)
{
    pthread_mutex_lock(&fs->rq_lock);
    if (fs->rq_started && !fs->rq_stop) {
        int queued = 0;
        for (size_t i = 0; i < fs->rq_n; i++)
            queued |= fs->rq[i] == dir_ino;
        if (!queued && fs->rq_n < fs->rq_cap) {
            fs->rq[fs->rq_n++] = dir_ino;
            pthread_cond_signal(&fs->rq_cond);
        }
    }
    pthread_mutex_unlock(&fs->rq_lock);
}

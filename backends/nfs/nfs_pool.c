/*
 * nfs_pool.c - a bounded pool of connections and the retry-once runner.
 *
 * A libnfs context is not thread-safe, and a synchronous call occupies it
 * for a whole round trip, so parallelism is "one context per concurrent
 * call".  The pool holds at most `size` of them, created lazily (the first
 * comes from open, already mounted), kept on an idle stack so the most
 * recently used one -- with the warmest handle cache -- is reused first.
 * A caller that finds all of them busy waits on a condition variable; every
 * call is bounded by the RPC timeout, so the wait is bounded too.
 *
 * Creation (a mount: several round trips, or a timeout when the server is
 * down) runs outside the lock with a slot reserved, so one slow reconnect
 * does not stall callers that could use an idle connection.
 *
 * The runner: when a call fails and the connection is judged broken (the
 * socket died, the server restarted, an RPC timed out), the connection is
 * destroyed and the call runs once more on a new one.  Only once: a server
 * that stays down must produce an error in bounded time, not a loop.
 *
 * The pool knows nothing about NFS: connections are void *, made and
 * judged by the ops given at creation, so the logic is unit-tested with
 * fakes.  Locking: one mutex guards the idle stack and the counters; it is
 * never held across create/destroy or a call.
 */
#include "backends/nfs/nfs_int.h"

#include <errno.h>
#include <stdlib.h>

#include "base/check.h"
#include "base/util.h"

struct mpfs_nfs_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    const struct mpfs_nfs_pool_ops *ops;
    void *arg;
    unsigned size;
    unsigned live; /* created (idle + busy + being created) */
    unsigned nidle;
    void **idle; /* stack, [nidle-1] is the most recently returned */
    int max_retries;
    struct mpfs_nfs_pool_stats stats;
};

struct mpfs_nfs_pool *mpfs_nfs_pool_new(unsigned size,
                                        const struct mpfs_nfs_pool_ops *ops, void *arg,
                                        void *first)
{
    struct mpfs_nfs_pool *p = mpfs_xcalloc(1, sizeof(*p));
    if (size == 0) {
        size = 1;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->ops = ops;
    p->arg = arg;
    p->size = size;
    p->idle = mpfs_xcalloc(size, sizeof(void *));
    p->max_retries = 1;
    if (first) {
        p->idle[p->nidle++] = first;
        p->live = 1;
        p->stats.created = 1;
    }
    return p;
}

void mpfs_nfs_pool_free(struct mpfs_nfs_pool *p)
{
    if (!p) {
        return;
    }
    /* Every connection must be back: a busy one would be used after free. */
    MPFS_ASSERT(p->live == p->nidle);
    for (unsigned i = 0; i < p->nidle; i++) {
        p->ops->destroy(p->arg, p->idle[i]);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->idle);
    free(p);
}

void mpfs_nfs_pool_set_retries(struct mpfs_nfs_pool *p, int max_retries)
{
    pthread_mutex_lock(&p->lock);
    p->max_retries = max_retries < 0 ? 0 : max_retries;
    pthread_mutex_unlock(&p->lock);
}

/* Create a connection in a slot the caller already reserved (live counts
 * it); on failure the slot is released. */
static int create_reserved(struct mpfs_nfs_pool *p, void **conn)
{
    void *c = NULL;
    int rc = p->ops->create(p->arg, &c);

    pthread_mutex_lock(&p->lock);
    if (rc != 0) {
        p->live--;
        /* A waiter may now create in the freed slot (and get the same
         * error quickly if the server is down). */
        pthread_cond_signal(&p->cond);
    } else {
        p->stats.created++;
    }
    pthread_mutex_unlock(&p->lock);
    *conn = rc == 0 ? c : NULL;
    return rc;
}

/* fresh: the caller just saw a connection break; whatever sits idle may be
 * broken the same way (a server restart cuts them all), so give it a newly
 * made one, recycling the oldest idle slot if the pool is full. */
static int pool_get(struct mpfs_nfs_pool *p, void **conn, int fresh)
{
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (!fresh && p->nidle > 0) {
            void *c = p->idle[--p->nidle];
            if (p->ops->is_dead && p->ops->is_dead(p->arg, c)) {
                /* The server closed it while idle: do not send into it. */
                p->live--;
                p->stats.destroyed++;
                p->stats.broken++;
                pthread_mutex_unlock(&p->lock);
                p->ops->destroy(p->arg, c);
                pthread_mutex_lock(&p->lock);
                continue;
            }
            pthread_mutex_unlock(&p->lock);
            *conn = c;
            return 0;
        }
        if (p->live < p->size) {
            p->live++; /* reserve the slot, create outside the lock */
            pthread_mutex_unlock(&p->lock);
            return create_reserved(p, conn);
        }
        if (fresh && p->nidle > 0) {
            void *victim = p->idle[0];
            for (unsigned i = 1; i < p->nidle; i++) {
                p->idle[i - 1] = p->idle[i];
            }
            p->nidle--;
            p->stats.destroyed++;
            pthread_mutex_unlock(&p->lock);
            p->ops->destroy(p->arg, victim);
            return create_reserved(p, conn); /* reuses the victim's slot */
        }
        p->stats.waits++;
        pthread_cond_wait(&p->cond, &p->lock);
    }
}

int mpfs_nfs_pool_get(struct mpfs_nfs_pool *p, void **conn)
{
    return pool_get(p, conn, 0);
}

void mpfs_nfs_pool_put(struct mpfs_nfs_pool *p, void *conn, int broken)
{
    if (broken) {
        p->ops->destroy(p->arg, conn);
        pthread_mutex_lock(&p->lock);
        p->live--;
        p->stats.destroyed++;
        p->stats.broken++;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return;
    }
    pthread_mutex_lock(&p->lock);
    MPFS_ASSERT(p->nidle < p->size);
    p->idle[p->nidle++] = conn;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

int mpfs_nfs_pool_run(struct mpfs_nfs_pool *p, mpfs_nfs_pool_fn fn, void *arg)
{
    pthread_mutex_lock(&p->lock);
    int max_retries = p->max_retries;
    pthread_mutex_unlock(&p->lock);

    int rc = 0;
    for (int attempt = 0; attempt <= max_retries; attempt++) {
        void *conn;
        rc = pool_get(p, &conn, attempt > 0);
        if (rc != 0) {
            /* Could not (re)connect: that is the answer, no more tries. */
            return rc;
        }
        rc = fn(conn, arg, attempt);
        int broken = rc < 0 && p->ops->is_broken(p->arg, conn, rc);
        mpfs_nfs_pool_put(p, conn, broken);
        if (!broken) {
            return rc;
        }
        if (attempt < max_retries) {
            pthread_mutex_lock(&p->lock);
            p->stats.retries++;
            pthread_mutex_unlock(&p->lock);
        }
    }
    return rc;
}

void mpfs_nfs_pool_get_stats(struct mpfs_nfs_pool *p, struct mpfs_nfs_pool_stats *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->stats;
    out->live = p->live;
    out->idle = p->nidle;
    pthread_mutex_unlock(&p->lock);
}

void mpfs_nfs_pool_for_idle(struct mpfs_nfs_pool *p, void (*fn)(void *arg, void *conn),
                            void *arg)
{
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < p->nidle; i++) {
        fn(arg, p->idle[i]);
    }
    pthread_mutex_unlock(&p->lock);
}

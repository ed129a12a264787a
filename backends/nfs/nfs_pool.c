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
 * destroyed and the call runs again on a new one.  Two policies:
 *   - a retry count (the default: once): a server that stays down gives
 *     an error at once;
 *   - a time budget (mpfs_nfs_pool_set_budget, what the NFS backend uses:
 *     the configured request timeout): broken calls and failed reconnects
 *     are retried with backoff (0, 50, 100, 200 ... 1000 ms) until the
 *     budget since the call began is spent, so a server restart of a few
 *     seconds is ridden out; then the call fails -ETIMEDOUT (never the
 *     -ENOTCONN of a dead socket, which users read as "the FUSE daemon
 *     died").  A call started just before the deadline may still take one
 *     RPC timeout: the total is bounded by budget + one RPC.
 * fn is told how many earlier attempts it made (ran on a connection), not
 * how many reconnects failed: only an attempt that ran may have executed on
 * the server, which is what non-idempotent calls need to know.
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
#include "base/log.h"
#include "base/util.h"

#include <string.h>
#include <time.h>

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
    int64_t budget_ns; /* > 0: retry by time, not by count */
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

void mpfs_nfs_pool_set_budget(struct mpfs_nfs_pool *p, int budget_ms)
{
    pthread_mutex_lock(&p->lock);
    p->budget_ns = budget_ms > 0 ? (int64_t)budget_ms * 1000000 : 0;
    pthread_mutex_unlock(&p->lock);
}

/* Backoff before retry n (1-based): the first at once (a restart cut the
 * connection; the server is often back), then doubling from 50 ms to 1 s. */
static int64_t backoff_ns(int n)
{
    if (n <= 1) {
        return 0;
    }
    int64_t ns = 50000000ll << MPFS_MIN(n - 2, 5);
    return MPFS_MIN(ns, 1000000000ll);
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (ns > 0 && nanosleep(&ts, &ts) != 0) {
    }
}

int mpfs_nfs_pool_run(struct mpfs_nfs_pool *p, mpfs_nfs_pool_fn fn, void *arg)
{
    pthread_mutex_lock(&p->lock);
    int max_retries = p->max_retries;
    int64_t budget_ns = p->budget_ns;
    pthread_mutex_unlock(&p->lock);

    int64_t start = mpfs_now_ns();
    int sent = 0;    /* attempts that ran fn (may have executed) */
    int counted = 0; /* retries charged to max_retries */
    int tries;
    int rc = 0;
    for (tries = 1;; tries++) {
        void *conn;
        int timed; /* retried by the budget (else by the count) */
        rc = pool_get(p, &conn, tries > 1);
        if (rc == 0) {
            rc = fn(conn, arg, sent++);
            int broken = rc < 0 && p->ops->is_broken(p->arg, conn, rc);
            mpfs_nfs_pool_put(p, conn, broken);
            if (!broken) {
                return rc;
            }
            /* A broken connection for another reason (a stale root
             * handle: remount) is retried by count: waiting won't fix it. */
            timed = budget_ns > 0 && mpfs_nfs_errno_is_conn(rc);
        } else {
            /* Could not (re)connect: without a budget that is the answer. */
            if (budget_ns == 0) {
                return rc;
            }
            timed = 1;
        }
        int64_t wait = backoff_ns(tries);
        if (timed) {
            int64_t left = start + budget_ns - mpfs_now_ns();
            if (left <= 0) {
                break;
            }
            wait = MPFS_MIN(wait, left); /* the last try right at the deadline */
        } else if (counted++ >= max_retries) {
            return rc;
        }
        pthread_mutex_lock(&p->lock);
        p->stats.retries++;
        pthread_mutex_unlock(&p->lock);
        sleep_ns(wait);
    }
    mpfs_warn("nfs: giving up after %d tries in %lld ms (%d reached a connection): last error %s",
              tries, (long long)((mpfs_now_ns() - start) / 1000000), sent, strerror(-rc));
    return -ETIMEDOUT;
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

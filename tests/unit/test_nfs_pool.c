/*
 * test_nfs_pool.c - the connection pool and its retry-once runner, on fake
 * connections: bounded size under contention from many threads, lazy
 * creation, most-recent-first reuse, reconnect-and-retry exactly once on a
 * broken connection (on a freshly made one), no retry on file-system
 * errors, dead idle connections skipped, create failures not deadlocking
 * waiters.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "backends/nfs/nfs_int.h"

struct fake_conn {
    int id;
    int broken;
    int dead;
};

struct env {
    atomic_int next_id;
    atomic_int created, destroyed;
    atomic_int fail_create; /* create returns -ECONNREFUSED while set */
    atomic_int in_use, max_in_use;
};

static int fake_create(void *arg, void **conn)
{
    struct env *e = arg;
    if (atomic_load(&e->fail_create)) {
        return -ECONNREFUSED;
    }
    struct fake_conn *c = calloc(1, sizeof(*c));
    c->id = atomic_fetch_add(&e->next_id, 1) + 1;
    atomic_fetch_add(&e->created, 1);
    *conn = c;
    return 0;
}

static void fake_destroy(void *arg, void *conn)
{
    struct env *e = arg;
    atomic_fetch_add(&e->destroyed, 1);
    free(conn);
}

static int fake_is_broken(void *arg, void *conn, int rc)
{
    return ((struct fake_conn *)conn)->broken;
}

static int fake_is_dead(void *arg, void *conn)
{
    return ((struct fake_conn *)conn)->dead;
}

static const struct mpfs_nfs_pool_ops ops = {
    .create = fake_create,
    .destroy = fake_destroy,
    .is_broken = fake_is_broken,
    .is_dead = fake_is_dead,
};

static void test_lazy_and_lifo(void **state)
{
    struct env e = {0};
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(3, &ops, &e, NULL);
    assert_int_equal(atomic_load(&e.created), 0); /* lazy */

    void *a, *b;
    assert_int_equal(mpfs_nfs_pool_get(p, &a), 0);
    assert_int_equal(mpfs_nfs_pool_get(p, &b), 0);
    assert_int_equal(atomic_load(&e.created), 2);
    mpfs_nfs_pool_put(p, a, 0);
    mpfs_nfs_pool_put(p, b, 0);
    void *c;
    assert_int_equal(mpfs_nfs_pool_get(p, &c), 0);
    assert_ptr_equal(c, b); /* most recently returned first */
    mpfs_nfs_pool_put(p, c, 0);
    assert_int_equal(atomic_load(&e.created), 2);

    struct mpfs_nfs_pool_stats st;
    mpfs_nfs_pool_get_stats(p, &st);
    assert_int_equal(st.live, 2);
    assert_int_equal(st.idle, 2);
    mpfs_nfs_pool_free(p);
    assert_int_equal(atomic_load(&e.destroyed), 2);
    mpfs_nfs_pool_free(NULL);
}

static void test_first_connection_adopted(void **state)
{
    struct env e = {0};
    void *first;
    fake_create(&e, &first);
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(2, &ops, &e, first);
    void *c;
    assert_int_equal(mpfs_nfs_pool_get(p, &c), 0);
    assert_ptr_equal(c, first);
    mpfs_nfs_pool_put(p, c, 0);
    mpfs_nfs_pool_free(p);
    assert_int_equal(atomic_load(&e.destroyed), 1);
}

struct call_log {
    int calls;
    int attempts[8];
    int ids[8];
    int fail_attempts; /* attempts that fail "broken" */
    int rc_fs;         /* if non-zero, fail with this (not broken) */
};

static int logging_fn(void *conn, void *arg, int attempt)
{
    struct fake_conn *c = conn;
    struct call_log *l = arg;
    if (l->calls < 8) {
        l->attempts[l->calls] = attempt;
        l->ids[l->calls] = c->id;
    }
    l->calls++;
    if (l->rc_fs) {
        return l->rc_fs;
    }
    if (attempt < l->fail_attempts) {
        c->broken = 1;
        return -ENOTCONN;
    }
    return 42;
}

static void test_retry_on_fresh_connection(void **state)
{
    struct env e = {0};
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(2, &ops, &e, NULL);
    /* Fill the pool with two idle connections. */
    void *a, *b;
    mpfs_nfs_pool_get(p, &a);
    mpfs_nfs_pool_get(p, &b);
    mpfs_nfs_pool_put(p, a, 0);
    mpfs_nfs_pool_put(p, b, 0);
    int idle_a = ((struct fake_conn *)a)->id, idle_b = ((struct fake_conn *)b)->id;

    struct call_log l = {.fail_attempts = 1};
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l), 42);
    assert_int_equal(l.calls, 2);
    assert_int_equal(l.attempts[0], 0);
    assert_int_equal(l.attempts[1], 1);
    /* the retry did not reuse the other idle (maybe equally dead)
     * connection: it got a newly made one */
    assert_int_not_equal(l.ids[1], idle_a);
    assert_int_not_equal(l.ids[1], idle_b);
    assert_int_equal(atomic_load(&e.created), 3);
    struct mpfs_nfs_pool_stats st;
    mpfs_nfs_pool_get_stats(p, &st);
    assert_int_equal(st.retries, 1);
    assert_int_equal(st.broken, 1);
    assert_true(st.live <= 2);
    mpfs_nfs_pool_free(p);
    assert_int_equal(atomic_load(&e.created), atomic_load(&e.destroyed));
}

static void test_retry_is_bounded(void **state)
{
    struct env e = {0};
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(4, &ops, &e, NULL);
    struct call_log l = {.fail_attempts = 100};
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l), -ENOTCONN);
    assert_int_equal(l.calls, 2); /* the call and one retry */

    mpfs_nfs_pool_set_retries(p, 3);
    struct call_log l2 = {.fail_attempts = 100};
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l2), -ENOTCONN);
    assert_int_equal(l2.calls, 4);

    mpfs_nfs_pool_set_retries(p, 0);
    struct call_log l3 = {.fail_attempts = 100};
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l3), -ENOTCONN);
    assert_int_equal(l3.calls, 1);
    mpfs_nfs_pool_free(p);
    assert_int_equal(atomic_load(&e.created), atomic_load(&e.destroyed));
}

static void test_no_retry_on_fs_error(void **state)
{
    struct env e = {0};
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(2, &ops, &e, NULL);
    struct call_log l = {.rc_fs = -ENOENT};
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l), -ENOENT);
    assert_int_equal(l.calls, 1);
    struct mpfs_nfs_pool_stats st;
    mpfs_nfs_pool_get_stats(p, &st);
    assert_int_equal(st.broken, 0);
    assert_int_equal(st.idle, 1); /* the connection went back */
    mpfs_nfs_pool_free(p);
}

static void test_create_failure(void **state)
{
    struct env e = {0};
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(2, &ops, &e, NULL);
    atomic_store(&e.fail_create, 1);
    struct call_log l = {0};
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l), -ECONNREFUSED);
    assert_int_equal(l.calls, 0);
    struct mpfs_nfs_pool_stats st;
    mpfs_nfs_pool_get_stats(p, &st);
    assert_int_equal(st.live, 0); /* the reserved slot was released */

    /* A broken call whose reconnect fails reports the reconnect error. */
    atomic_store(&e.fail_create, 0);
    void *c;
    mpfs_nfs_pool_get(p, &c);
    mpfs_nfs_pool_put(p, c, 0);
    struct call_log l2 = {.fail_attempts = 1};
    /* fail creation only after the first (idle) connection is taken */
    struct fake_conn *fc = c;
    fc->broken = 0;
    atomic_store(&e.fail_create, 1);
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l2), -ECONNREFUSED);
    assert_int_equal(l2.calls, 1);

    /* The server is back: calls work again. */
    atomic_store(&e.fail_create, 0);
    struct call_log l3 = {0};
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l3), 42);
    mpfs_nfs_pool_free(p);
    assert_int_equal(atomic_load(&e.created), atomic_load(&e.destroyed));
}

static void test_dead_idle_skipped(void **state)
{
    struct env e = {0};
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(2, &ops, &e, NULL);
    void *a, *b;
    mpfs_nfs_pool_get(p, &a);
    mpfs_nfs_pool_get(p, &b);
    int id_a = ((struct fake_conn *)a)->id;
    ((struct fake_conn *)b)->dead = 1;
    mpfs_nfs_pool_put(p, a, 0);
    mpfs_nfs_pool_put(p, b, 0); /* b on top, but dead */
    void *c;
    assert_int_equal(mpfs_nfs_pool_get(p, &c), 0);
    assert_int_equal(((struct fake_conn *)c)->id, id_a);
    assert_int_equal(atomic_load(&e.destroyed), 1);
    mpfs_nfs_pool_put(p, c, 0);
    mpfs_nfs_pool_free(p);
}

/* ---- threads ---------------------------------------------------------- */

struct thread_arg {
    struct mpfs_nfs_pool *p;
    struct env *e;
    int iterations;
    int errors;
};

static int busy_fn(void *conn, void *arg, int attempt)
{
    struct env *e = arg;
    int now = atomic_fetch_add(&e->in_use, 1) + 1;
    int max = atomic_load(&e->max_in_use);
    while (now > max && !atomic_compare_exchange_weak(&e->max_in_use, &max, now)) {
    }
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
    atomic_fetch_sub(&e->in_use, 1);
    return 0;
}

static void *worker(void *arg)
{
    struct thread_arg *t = arg;
    for (int i = 0; i < t->iterations; i++) {
        if (mpfs_nfs_pool_run(t->p, busy_fn, t->e) != 0) {
            t->errors++;
        }
    }
    return NULL;
}

static void test_bounded_under_contention(void **state)
{
    struct env e = {0};
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(3, &ops, &e, NULL);
    pthread_t th[16];
    struct thread_arg ta[16];
    for (int i = 0; i < 16; i++) {
        ta[i] = (struct thread_arg){p, &e, 200, 0};
        pthread_create(&th[i], NULL, worker, &ta[i]);
    }
    for (int i = 0; i < 16; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ta[i].errors, 0);
    }
    assert_true(atomic_load(&e.max_in_use) <= 3);
    assert_true(atomic_load(&e.max_in_use) >= 2); /* it did run in parallel */
    assert_true(atomic_load(&e.created) <= 3);
    struct mpfs_nfs_pool_stats st;
    mpfs_nfs_pool_get_stats(p, &st);
    assert_true(st.waits > 0);
    assert_int_equal(st.live, st.idle);
    mpfs_nfs_pool_free(p);
}

static void *failing_worker(void *arg)
{
    struct thread_arg *t = arg;
    for (int i = 0; i < t->iterations; i++) {
        if (mpfs_nfs_pool_run(t->p, busy_fn, t->e) == -ECONNREFUSED) {
            t->errors++;
        }
    }
    return NULL;
}

/* Server down: every caller gets the connect error; none waits forever on
 * a slot that a failed create gave back. */
static void test_waiters_wake_on_create_failure(void **state)
{
    struct env e = {0};
    atomic_store(&e.fail_create, 1);
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(1, &ops, &e, NULL);
    pthread_t th[8];
    struct thread_arg ta[8];
    for (int i = 0; i < 8; i++) {
        ta[i] = (struct thread_arg){p, &e, 50, 0};
        pthread_create(&th[i], NULL, failing_worker, &ta[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ta[i].errors, 50);
    }
    mpfs_nfs_pool_free(p);
}

struct breaker_arg {
    struct mpfs_nfs_pool *p;
    atomic_int *calls;
    int errors;
};

/* Every third call breaks its connection. */
static int sometimes_broken_fn(void *conn, void *arg, int attempt)
{
    atomic_int *calls = arg;
    if (attempt == 0 && atomic_fetch_add(calls, 1) % 3 == 0) {
        ((struct fake_conn *)conn)->broken = 1;
        return -ECONNRESET;
    }
    return 0;
}

static void *breaker_worker(void *arg)
{
    struct breaker_arg *b = arg;
    for (int i = 0; i < 300; i++) {
        if (mpfs_nfs_pool_run(b->p, sometimes_broken_fn, b->calls) != 0) {
            b->errors++;
        }
    }
    return NULL;
}

static void test_reconnect_under_contention(void **state)
{
    struct env e = {0};
    atomic_int calls = 0;
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(3, &ops, &e, NULL);
    pthread_t th[8];
    struct breaker_arg ba[8];
    for (int i = 0; i < 8; i++) {
        ba[i] = (struct breaker_arg){p, &calls, 0};
        pthread_create(&th[i], NULL, breaker_worker, &ba[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ba[i].errors, 0); /* every break was absorbed */
    }
    struct mpfs_nfs_pool_stats st;
    mpfs_nfs_pool_get_stats(p, &st);
    assert_true(st.live <= 3);
    assert_int_equal(st.live, st.idle);
    assert_true(st.retries >= 700);
    mpfs_nfs_pool_free(p);
    assert_int_equal(atomic_load(&e.created), atomic_load(&e.destroyed));
}

/* ---- time budget (server restarts) ------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct restart {
    struct env *e;
    int down_ms;
};

/* The server comes back after down_ms. */
static void *server_back(void *arg)
{
    struct restart *r = arg;
    struct timespec ts = {r->down_ms / 1000, (long)(r->down_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    atomic_store(&r->e->fail_create, 0);
    return NULL;
}

/* The server restarts under a call: the connection breaks, reconnects are
 * refused for a while, then it is back.  With a budget the call rides it
 * out, and the retry knows its first attempt may have executed. */
static void test_budget_rides_out_restart(void **state)
{
    struct env e = {0};
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(2, &ops, &e, NULL);
    mpfs_nfs_pool_set_budget(p, 5000);
    void *c;
    assert_int_equal(mpfs_nfs_pool_get(p, &c), 0);
    mpfs_nfs_pool_put(p, c, 0);

    struct call_log l = {.fail_attempts = 1};
    atomic_store(&e.fail_create, 1); /* down from the moment it breaks */
    struct restart r = {&e, 400};
    pthread_t th;
    pthread_create(&th, NULL, server_back, &r);
    int64_t t0 = mono_ms();
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l), 42);
    int64_t took = mono_ms() - t0;
    pthread_join(th, NULL);
    assert_int_equal(l.calls, 2);
    assert_int_equal(l.attempts[0], 0);
    assert_int_equal(l.attempts[1], 1); /* the first may have executed */
    assert_true(took >= 350 && took < 3000);
    struct mpfs_nfs_pool_stats st;
    mpfs_nfs_pool_get_stats(p, &st);
    assert_true(st.retries >= 3); /* refused reconnects, backing off */
    mpfs_nfs_pool_free(p);
    assert_int_equal(atomic_load(&e.created), atomic_load(&e.destroyed));
}

/* Reconnects that failed sent nothing: a call that never reached a
 * connection before is still attempt 0 (so remove's -ENOENT is not taken
 * for "my earlier attempt did it"). */
static void test_budget_failed_connects_are_not_attempts(void **state)
{
    struct env e = {0};
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(1, &ops, &e, NULL);
    mpfs_nfs_pool_set_budget(p, 5000);
    atomic_store(&e.fail_create, 1);
    struct restart r = {&e, 200};
    pthread_t th;
    pthread_create(&th, NULL, server_back, &r);
    struct call_log l = {0};
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l), 42);
    pthread_join(th, NULL);
    assert_int_equal(l.calls, 1);
    assert_int_equal(l.attempts[0], 0);
    mpfs_nfs_pool_free(p);
}

/* A server that stays down: -ETIMEDOUT once the budget is spent, never
 * the -ENOTCONN of the dead socket; nothing retried past the budget. */
static void test_budget_exhausted_times_out(void **state)
{
    struct env e = {0};
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(2, &ops, &e, NULL);
    mpfs_nfs_pool_set_budget(p, 600);
    struct call_log l = {.fail_attempts = 1000};
    int64_t t0 = mono_ms();
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l), -ETIMEDOUT);
    int64_t took = mono_ms() - t0;
    assert_true(took >= 600 && took <= 1500);
    assert_true(l.calls >= 3);
    /* refused reconnects the same way */
    atomic_store(&e.fail_create, 1);
    struct call_log l2 = {0};
    t0 = mono_ms();
    assert_int_equal(mpfs_nfs_pool_run(p, logging_fn, &l2), -ETIMEDOUT);
    took = mono_ms() - t0;
    assert_true(took >= 600 && took <= 1500);
    assert_int_equal(l2.calls, 0);
    mpfs_nfs_pool_free(p);
}

/* Broken for another reason than the transport (a stale root handle):
 * retried by count, at once, even with a budget. */
static int stale_fn(void *conn, void *arg, int attempt)
{
    struct call_log *l = arg;
    l->calls++;
    ((struct fake_conn *)conn)->broken = 1;
    return -ESTALE;
}

static void test_budget_not_for_stale(void **state)
{
    struct env e = {0};
    struct mpfs_nfs_pool *p = mpfs_nfs_pool_new(2, &ops, &e, NULL);
    mpfs_nfs_pool_set_budget(p, 5000);
    struct call_log l = {0};
    int64_t t0 = mono_ms();
    assert_int_equal(mpfs_nfs_pool_run(p, stale_fn, &l), -ESTALE);
    assert_true(mono_ms() - t0 < 500);
    assert_int_equal(l.calls, 2); /* once more, on a fresh mount */
    mpfs_nfs_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_rides_out_restart),
        cmocka_unit_test(test_budget_failed_connects_are_not_attempts),
        cmocka_unit_test(test_budget_exhausted_times_out),
        cmocka_unit_test(test_budget_not_for_stale),
        cmocka_unit_test(test_lazy_and_lifo),
        cmocka_unit_test(test_first_connection_adopted),
        cmocka_unit_test(test_retry_on_fresh_connection),
        cmocka_unit_test(test_retry_is_bounded),
        cmocka_unit_test(test_no_retry_on_fs_error),
        cmocka_unit_test(test_create_failure),
        cmocka_unit_test(test_dead_idle_skipped),
        cmocka_unit_test(test_bounded_under_contention),
        cmocka_unit_test(test_waiters_wake_on_create_failure),
        cmocka_unit_test(test_reconnect_under_contention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

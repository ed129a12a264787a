/*
 * test_index.c - the index API on a real RocksDB in a scratch directory:
 * entries, listing order, the reverse map, directory state, batches and
 * listing replacement, drop_dir, the root, the inode allocator, threads.
 * Reopen, recovery and locking are in test_index_open.c.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "index/index.h"
#include "test_index_util.h"

struct fixture {
    char *dir;
    struct mpfs_index *idx;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256];
    int rebuilt = -1;

    f->dir = tix_mkdtemp();
    assert_int_equal(
        mpfs_index_open(f->dir, &f->idx, &rebuilt, err, sizeof(err)), 0);
    assert_int_equal(rebuilt, 1); /* a new index starts empty */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mpfs_index_close(f->idx);
    tix_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Field by field: the struct has padding a decoder need not clear. */
static void assert_entry_equal(const struct mpfs_index_entry *a,
                               const struct mpfs_index_entry *b)
{
    assert_int_equal(a->ino, b->ino);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->uid, b->uid);
    assert_int_equal(a->gid, b->gid);
    assert_int_equal(a->nlink, b->nlink);
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->mtime_ns, b->mtime_ns);
    assert_int_equal(a->ctime_ns, b->ctime_ns);
    assert_int_equal(a->atime_ns, b->atime_ns);
    assert_int_equal(a->fileid, b->fileid);
    assert_int_equal(a->attr_valid, b->attr_valid);
    assert_int_equal(a->source, b->source);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->seen_ns, b->seen_ns);
    assert_string_equal(a->version, b->version);
}

/* Collects a listing. */
struct listing {
    size_t n;
    char names[64][MPFS_INDEX_NAME_MAX + 1];
    struct mpfs_index_entry e[64];
    int stop_after; /* 0: never */
};

static int collect(void *arg, const char *name,
                   const struct mpfs_index_entry *e)
{
    struct listing *l = arg;
    assert_true(l->n < 64);
    snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
    l->e[l->n] = *e;
    l->n++;
    if (l->stop_after != 0 && (int)l->n == l->stop_after) {
        return 42;
    }
    return 0;
}

static void put_get_del(void **state)
{
    struct fixture *f = *state;
    struct mpfs_index_entry e = tix_entry(10, 1, 0), out;

    assert_int_equal(mpfs_index_get(f->idx, 1, "a", &out), -ENOENT);
    assert_int_equal(mpfs_index_put(f->idx, 1, "a", &e), 0);
    assert_int_equal(mpfs_index_get(f->idx, 1, "a", &out), 0);
    assert_entry_equal(&out, &e);
    /* Same name in another directory is another entry. */
    assert_int_equal(mpfs_index_get(f->idx, 2, "a", &out), -ENOENT);

    /* Overwrite. */
    e.size = 999;
    strcpy(e.version, "v2");
    e.flags = 0x3;
    assert_int_equal(mpfs_index_put(f->idx, 1, "a", &e), 0);
    assert_int_equal(mpfs_index_get(f->idx, 1, "a", &out), 0);
    assert_entry_equal(&out, &e);

    assert_int_equal(mpfs_index_del(f->idx, 1, "a"), 0);
    assert_int_equal(mpfs_index_get(f->idx, 1, "a", &out), -ENOENT);
    assert_int_equal(mpfs_index_del(f->idx, 1, "a"), -ENOENT);
}

static void bad_arguments(void **state)
{
    struct fixture *f = *state;
    struct mpfs_index_entry e = tix_entry(10, 1, 0), out;
    char longname[300];

    memset(longname, 'n', 256);
    longname[256] = '\0';
    assert_int_equal(mpfs_index_put(f->idx, 1, "", &e), -EINVAL);
    assert_int_equal(mpfs_index_put(f->idx, 0, "a", &e), -EINVAL);
    assert_int_equal(mpfs_index_put(f->idx, 1, longname, &e), -ENAMETOOLONG);
    assert_int_equal(mpfs_index_get(f->idx, 1, longname, &out), -ENAMETOOLONG);
    assert_int_equal(mpfs_index_del(f->idx, 1, ""), -EINVAL);
    e.ino = 0;
    assert_int_equal(mpfs_index_put(f->idx, 1, "a", &e), -EINVAL);
    assert_int_equal(
        mpfs_index_dir_put(f->idx, 0, &(struct mpfs_index_dir){1, 1}), -EINVAL);

    /* 255 bytes is fine, and comes back whole. */
    longname[255] = '\0';
    e.ino = 11;
    assert_int_equal(mpfs_index_put(f->idx, 1, longname, &e), 0);
    assert_int_equal(mpfs_index_get(f->idx, 1, longname, &out), 0);
    uint64_t parent;
    char name[MPFS_INDEX_NAME_MAX + 1];
    assert_int_equal(mpfs_index_where(f->idx, 11, &parent, name, sizeof(name)),
                     0);
    assert_string_equal(name, longname);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void list_in_name_order(void **state)
{
    struct fixture *f = *state;
    /* Bytewise order: upper case before lower, "a" < "a.b" < "ab", UTF-8
     * after ASCII, a name with spaces.  Inserted out of order. */
    const char *names[] = {
        "zeta",       "a.b", "B", "ab", "a", "\xc3\xa9t\xc3\xa9",
        "with space", "0",   "~", "A"};
    const size_t n = sizeof(names) / sizeof(names[0]);
    const char *sorted[sizeof(names) / sizeof(names[0])];
    struct listing l = {0};

    for (size_t i = 0; i < n; i++) {
        struct mpfs_index_entry e = tix_entry(100 + i, i, 0);
        assert_int_equal(mpfs_index_put(f->idx, 7, names[i], &e), 0);
        sorted[i] = names[i];
    }
    /* Neighbours that must not bleed in: parents 6, 8, 7 << 8 and the
     * largest parent (its upper bound is a special case). */
    struct mpfs_index_entry other = tix_entry(500, 0, 0);
    assert_int_equal(mpfs_index_put(f->idx, 6, "zzz", &other), 0);
    assert_int_equal(mpfs_index_put(f->idx, 8, "", &other), -EINVAL);
    assert_int_equal(mpfs_index_put(f->idx, 8, "\x01", &other), 0);
    assert_int_equal(mpfs_index_put(f->idx, 7ull << 8, "a", &other), 0);
    assert_int_equal(mpfs_index_put(f->idx, UINT64_MAX, "last", &other), 0);
    mpfs_index_dir_put(f->idx, 7, &(struct mpfs_index_dir){1, n});

    qsort(sorted, n, sizeof(sorted[0]), cmp_str);
    assert_int_equal(mpfs_index_list(f->idx, 7, collect, &l), 0);
    assert_int_equal(l.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(l.names[i], sorted[i]);
    }
    /* The record comes with its name. */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l.names[i], "zeta") == 0) {
            assert_int_equal(l.e[i].ino, 100);
        }
    }

    memset(&l, 0, sizeof(l));
    assert_int_equal(mpfs_index_list(f->idx, UINT64_MAX, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.names[0], "last");

    memset(&l, 0, sizeof(l));
    assert_int_equal(mpfs_index_list(f->idx, 12345, collect, &l), 0);
    assert_int_equal(l.n, 0);

    /* fn stops the walk and its value comes back. */
    memset(&l, 0, sizeof(l));
    l.stop_after = 3;
    assert_int_equal(mpfs_index_list(f->idx, 7, collect, &l), 42);
    assert_int_equal(l.n, 3);
}

/* The callback may change the directory it walks (the fs layer refreshes
 * entries while listing): the walk sees its snapshot. */
static int delete_while_listing(void *arg, const char *name,
                                const struct mpfs_index_entry *e)
{
    void **a = arg;
    struct mpfs_index *idx = a[0];
    size_t *seen = a[1];
    (*seen)++;
    assert_int_equal(mpfs_index_del(idx, 3, name), 0);
    (void)e;
    return 0;
}

static void list_callback_may_modify(void **state)
{
    struct fixture *f = *state;
    size_t seen = 0;
    void *arg[2] = {f->idx, &seen};
    char name[16];

    for (int i = 0; i < 20; i++) {
        struct mpfs_index_entry e = tix_entry(200 + i, i, 0);
        snprintf(name, sizeof(name), "f%02d", i);
        assert_int_equal(mpfs_index_put(f->idx, 3, name, &e), 0);
    }
    assert_int_equal(mpfs_index_list(f->idx, 3, delete_while_listing, arg), 0);
    assert_int_equal(seen, 20);
    struct listing l = {0};
    assert_int_equal(mpfs_index_list(f->idx, 3, collect, &l), 0);
    assert_int_equal(l.n, 0);
}

static void reverse_map(void **state)
{
    struct fixture *f = *state;
    struct mpfs_index_entry e = tix_entry(42, 1, 0);
    uint64_t parent = 0;
    char name[MPFS_INDEX_NAME_MAX + 1];

    assert_int_equal(mpfs_index_where(f->idx, 42, &parent, name, sizeof(name)),
                     -ENOENT);
    assert_int_equal(mpfs_index_put(f->idx, 5, "file.bin", &e), 0);
    assert_int_equal(mpfs_index_where(f->idx, 42, &parent, name, sizeof(name)),
                     0);
    assert_int_equal(parent, 5);
    assert_string_equal(name, "file.bin");
    /* Too small a buffer: -ERANGE, not a truncated name. */
    assert_int_equal(mpfs_index_where(f->idx, 42, &parent, name, 8), -ERANGE);
    assert_int_equal(mpfs_index_where(f->idx, 42, &parent, name, 9), 0);

    /* Rename: new name put, old one deleted. */
    assert_int_equal(mpfs_index_put(f->idx, 9, "moved.bin", &e), 0);
    assert_int_equal(mpfs_index_del(f->idx, 5, "file.bin"), 0);
    assert_int_equal(mpfs_index_where(f->idx, 42, &parent, name, sizeof(name)),
                     0);
    assert_int_equal(parent, 9);
    assert_string_equal(name, "moved.bin");

    /* Hard link: two names; dropping either keeps the other. */
    assert_int_equal(mpfs_index_put(f->idx, 4, "link", &e), 0);
    assert_int_equal(mpfs_index_where(f->idx, 42, &parent, name, sizeof(name)),
                     0);
    assert_int_equal(parent, 4); /* smallest (parent, name) */
    assert_int_equal(mpfs_index_del(f->idx, 4, "link"), 0);
    assert_int_equal(mpfs_index_where(f->idx, 42, &parent, name, sizeof(name)),
                     0);
    assert_int_equal(parent, 9);

    /* The name now names another inode: 42 lost it. */
    struct mpfs_index_entry other = tix_entry(43, 2, 0);
    assert_int_equal(mpfs_index_put(f->idx, 9, "moved.bin", &other), 0);
    assert_int_equal(mpfs_index_where(f->idx, 42, &parent, name, sizeof(name)),
                     -ENOENT);
    assert_int_equal(mpfs_index_where(f->idx, 43, &parent, name, sizeof(name)),
                     0);
    assert_int_equal(mpfs_index_del(f->idx, 9, "moved.bin"), 0);
    assert_int_equal(mpfs_index_where(f->idx, 43, &parent, name, sizeof(name)),
                     -ENOENT);
}

static void dir_state(void **state)
{
    struct fixture *f = *state;
    struct mpfs_index_dir d = {.listed_ns = 1712345678000000000LL,
                               .entries = 12},
                          out;

    assert_int_equal(mpfs_index_dir_get(f->idx, 77, &out), -ENOENT);
    assert_int_equal(mpfs_index_dir_put(f->idx, 77, &d), 0);
    assert_int_equal(mpfs_index_dir_get(f->idx, 77, &out), 0);
    assert_int_equal(out.listed_ns, d.listed_ns);
    assert_int_equal(out.entries, 12);
    d.listed_ns = 0; /* "listing no longer complete" */
    assert_int_equal(mpfs_index_dir_put(f->idx, 77, &d), 0);
    assert_int_equal(mpfs_index_dir_get(f->idx, 77, &out), 0);
    assert_int_equal(out.listed_ns, 0);
}

static void batch_replaces_listing(void **state)
{
    struct fixture *f = *state;
    struct mpfs_index_entry a = tix_entry(301, 1, 0), b = tix_entry(302, 2, 0),
                            c = tix_entry(303, 3, 0), d = tix_entry(304, 4, 1),
                            e = tix_entry(305, 5, 0), out;
    struct mpfs_index_dir st = {.listed_ns = 1712000000000000000LL,
                                .entries = 3},
                          stout;
    uint64_t parent;
    char name[MPFS_INDEX_NAME_MAX + 1];

    c.source = MPFS_INDEX_SRC_LOCAL; /* created here, not uploaded yet */
    assert_int_equal(mpfs_index_put(f->idx, 20, "a", &a), 0);
    assert_int_equal(mpfs_index_put(f->idx, 20, "b", &b), 0);
    assert_int_equal(mpfs_index_put(f->idx, 20, "c", &c), 0);
    assert_int_equal(mpfs_index_put(f->idx, 20, "d", &d), 0);
    assert_int_equal(mpfs_index_put(f->idx, 21, "a", &a), 0); /* hard link */

    /* The new remote listing of 20: b (changed), e (new) and f. */
    struct mpfs_index_batch *bt = mpfs_index_batch_new(f->idx);
    b.size = 1;
    strcpy(b.version, "new-etag");
    mpfs_index_batch_put(bt, 20, "b", &b);
    mpfs_index_batch_put(bt, 20, "e", &e);
    struct mpfs_index_entry fe = tix_entry(306, 6, 0);
    mpfs_index_batch_put(bt, 20, "f", &fe);
    mpfs_index_batch_dir_put(bt, 20, &st);
    assert_int_equal(mpfs_index_batch_commit(bt), 0);

    struct listing l = {0};
    assert_int_equal(mpfs_index_list(f->idx, 20, collect, &l), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.names[0], "b");
    assert_string_equal(l.e[0].version, "new-etag");
    assert_string_equal(l.names[1], "c"); /* local: kept */
    assert_string_equal(l.names[2], "e");
    assert_string_equal(l.names[3], "f");
    assert_int_equal(mpfs_index_dir_get(f->idx, 20, &stout), 0);
    assert_int_equal(stout.listed_ns, st.listed_ns);
    assert_int_equal(stout.entries, 3);

    /* Reverse keys followed: a keeps its other link, d has none. */
    assert_int_equal(mpfs_index_where(f->idx, 301, &parent, name, sizeof(name)),
                     0);
    assert_int_equal(parent, 21);
    assert_int_equal(mpfs_index_where(f->idx, 304, &parent, name, sizeof(name)),
                     -ENOENT);
    assert_int_equal(mpfs_index_where(f->idx, 305, &parent, name, sizeof(name)),
                     0);
    assert_int_equal(parent, 20);
    assert_string_equal(name, "e");
    /* Other directories untouched. */
    assert_int_equal(mpfs_index_get(f->idx, 21, "a", &out), 0);

    /* An explicit delete removes even a local entry. */
    bt = mpfs_index_batch_new(f->idx);
    mpfs_index_batch_del(bt, 20, "c");
    mpfs_index_batch_put(bt, 20, "b", &b);
    mpfs_index_batch_put(bt, 20, "e", &e);
    mpfs_index_batch_put(bt, 20, "f", &fe);
    mpfs_index_batch_dir_put(bt, 20, &st);
    assert_int_equal(mpfs_index_batch_commit(bt), 0);
    assert_int_equal(mpfs_index_get(f->idx, 20, "c", &out), -ENOENT);
    assert_int_equal(mpfs_index_where(f->idx, 303, &parent, name, sizeof(name)),
                     -ENOENT);

    /* An empty listing empties the directory. */
    bt = mpfs_index_batch_new(f->idx);
    st.entries = 0;
    mpfs_index_batch_dir_put(bt, 20, &st);
    assert_int_equal(mpfs_index_batch_commit(bt), 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(mpfs_index_list(f->idx, 20, collect, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(mpfs_index_where(f->idx, 306, &parent, name, sizeof(name)),
                     -ENOENT);
}

static void batch_order_and_errors(void **state)
{
    struct fixture *f = *state;
    struct mpfs_index_entry a = tix_entry(401, 1, 0), a2 = tix_entry(402, 2, 0),
                            out;
    uint64_t parent;
    char name[MPFS_INDEX_NAME_MAX + 1];

    /* put then del of one name in one batch: gone, reverse key too. */
    struct mpfs_index_batch *bt = mpfs_index_batch_new(f->idx);
    mpfs_index_batch_put(bt, 30, "x", &a);
    mpfs_index_batch_del(bt, 30, "x");
    assert_int_equal(mpfs_index_batch_commit(bt), 0);
    assert_int_equal(mpfs_index_get(f->idx, 30, "x", &out), -ENOENT);
    assert_int_equal(mpfs_index_where(f->idx, 401, &parent, name, sizeof(name)),
                     -ENOENT);

    /* Two puts of one name with different inodes: the last wins and the
     * first inode's reverse key does not survive. */
    bt = mpfs_index_batch_new(f->idx);
    mpfs_index_batch_put(bt, 30, "y", &a);
    mpfs_index_batch_put(bt, 30, "y", &a2);
    assert_int_equal(mpfs_index_batch_commit(bt), 0);
    assert_int_equal(mpfs_index_get(f->idx, 30, "y", &out), 0);
    assert_int_equal(out.ino, 402);
    assert_int_equal(mpfs_index_where(f->idx, 401, &parent, name, sizeof(name)),
                     -ENOENT);
    assert_int_equal(mpfs_index_where(f->idx, 402, &parent, name, sizeof(name)),
                     0);

    /* A bad argument fails the commit and writes nothing. */
    bt = mpfs_index_batch_new(f->idx);
    mpfs_index_batch_put(bt, 30, "z", &a);
    mpfs_index_batch_put(bt, 30, "", &a);
    mpfs_index_batch_del(bt, 30, "y");
    assert_int_equal(mpfs_index_batch_commit(bt), -EINVAL);
    assert_int_equal(mpfs_index_get(f->idx, 30, "z", &out), -ENOENT);
    assert_int_equal(mpfs_index_get(f->idx, 30, "y", &out), 0);

    /* An abandoned batch writes nothing; free(NULL) is fine. */
    bt = mpfs_index_batch_new(f->idx);
    mpfs_index_batch_put(bt, 30, "w", &a);
    mpfs_index_batch_free(bt);
    mpfs_index_batch_free(NULL);
    assert_int_equal(mpfs_index_get(f->idx, 30, "w", &out), -ENOENT);

    /* An empty batch commits. */
    assert_int_equal(mpfs_index_batch_commit(mpfs_index_batch_new(f->idx)), 0);
}

static void drop_dir(void **state)
{
    struct fixture *f = *state;
    uint64_t parent;
    char name[MPFS_INDEX_NAME_MAX + 1];
    struct mpfs_index_entry out;
    struct mpfs_index_dir st = {1, 50};

    for (int i = 0; i < 50; i++) {
        struct mpfs_index_entry e = tix_entry(1000 + i, i, 0);
        snprintf(name, sizeof(name), "n%d", i);
        assert_int_equal(mpfs_index_put(f->idx, 40, name, &e), 0);
    }
    struct mpfs_index_entry keep = tix_entry(2000, 1, 0);
    assert_int_equal(mpfs_index_put(f->idx, 41, "keep", &keep), 0);
    assert_int_equal(mpfs_index_dir_put(f->idx, 40, &st), 0);

    assert_int_equal(mpfs_index_drop_dir(f->idx, 40), 0);
    struct listing l = {0};
    assert_int_equal(mpfs_index_list(f->idx, 40, collect, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(mpfs_index_dir_get(f->idx, 40, &st), -ENOENT);
    assert_int_equal(
        mpfs_index_where(f->idx, 1007, &parent, name, sizeof(name)), -ENOENT);
    assert_int_equal(mpfs_index_get(f->idx, 41, "keep", &out), 0);
    /* Dropping nothing is fine. */
    assert_int_equal(mpfs_index_drop_dir(f->idx, 40), 0);
    assert_int_equal(mpfs_index_drop_dir(f->idx, 0), -EINVAL);
}

static void root_entry(void **state)
{
    struct fixture *f = *state;
    struct mpfs_index_entry r, r2;

    assert_int_equal(mpfs_index_root(f->idx, &r), 0);
    assert_int_equal(r.ino, MPFS_INDEX_ROOT_INO);
    assert_true(S_ISDIR(r.mode));
    assert_int_equal(r.mode & 07777, 0755);
    assert_true(r.mtime_ns > 0);

    r = tix_entry(77, 5, 1); /* ino is forced to 1 */
    r.mode = S_IFDIR | 0700;
    strcpy(r.version, "root-v");
    assert_int_equal(mpfs_index_put_root(f->idx, &r), 0);
    assert_int_equal(mpfs_index_root(f->idx, &r2), 0);
    assert_int_equal(r2.ino, 1);
    assert_int_equal(r2.mode, S_IFDIR | 0700);
    assert_string_equal(r2.version, "root-v");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

#define ALLOC_THREADS 4
#define ALLOC_PER_THREAD 3000

struct alloc_arg {
    struct mpfs_index *idx;
    uint64_t got[ALLOC_PER_THREAD];
};

static void *alloc_thread(void *p)
{
    struct alloc_arg *a = p;
    for (int i = 0; i < ALLOC_PER_THREAD; i++) {
        a->got[i] = mpfs_index_alloc_ino(a->idx);
    }
    return NULL;
}

static void ino_allocator_unique(void **state)
{
    struct fixture *f = *state;
    static struct alloc_arg args[ALLOC_THREADS];
    pthread_t th[ALLOC_THREADS];
    static uint64_t all[ALLOC_THREADS * ALLOC_PER_THREAD];

    uint64_t first = mpfs_index_alloc_ino(f->idx);
    assert_true(first > MPFS_INDEX_ROOT_INO);
    for (int t = 0; t < ALLOC_THREADS; t++) {
        args[t].idx = f->idx;
        assert_int_equal(pthread_create(&th[t], NULL, alloc_thread, &args[t]),
                         0);
    }
    for (int t = 0; t < ALLOC_THREADS; t++) {
        pthread_join(th[t], NULL);
        memcpy(all + (size_t)t * ALLOC_PER_THREAD, args[t].got,
               sizeof(args[t].got));
    }
    size_t n = (size_t)ALLOC_THREADS * ALLOC_PER_THREAD;
    qsort(all, n, sizeof(all[0]), cmp_u64);
    for (size_t i = 0; i < n; i++) {
        assert_true(all[i] > first);
        if (i > 0) {
            assert_true(all[i] > all[i - 1]); /* no duplicates */
        }
    }
    /* Dense: one counter, no holes while nothing fails. */
    assert_int_equal(all[n - 1] - all[0], n - 1);
}

/* Writers and readers on the same index from several threads. */
#define RW_THREADS 4
#define RW_OPS 500

struct rw_arg {
    struct mpfs_index *idx;
    uint64_t dir;
    int failures;
};

static void *rw_thread(void *p)
{
    struct rw_arg *a = p;
    char name[32];
    struct mpfs_index_entry out;
    struct listing *l = malloc(sizeof(*l));

    for (int i = 0; i < RW_OPS; i++) {
        struct mpfs_index_entry e =
            tix_entry(a->dir * 100000 + (uint64_t)i, (uint64_t)i, 0);
        snprintf(name, sizeof(name), "e%04d", i);
        if (mpfs_index_put(a->idx, a->dir, name, &e) != 0 ||
            mpfs_index_get(a->idx, a->dir, name, &out) != 0 ||
            out.ino != e.ino) {
            a->failures++;
        }
        if (i % 100 == 99) {
            /* Also list the shared directory everyone writes to. */
            memset(l, 0, sizeof(*l));
            l->stop_after = 64;
            int rc = mpfs_index_list(a->idx, 999, collect, l);
            if (rc != 0 && rc != 42) {
                a->failures++;
            }
        }
        if (i < 60 && mpfs_index_put(a->idx, 999, name, &e) != 0) {
            a->failures++;
        }
    }
    free(l);
    return NULL;
}

static void threads_read_and_write(void **state)
{
    struct fixture *f = *state;
    struct rw_arg args[RW_THREADS];
    pthread_t th[RW_THREADS];
    struct mpfs_index_stats st;

    for (int t = 0; t < RW_THREADS; t++) {
        args[t] = (struct rw_arg){.idx = f->idx, .dir = 50 + (uint64_t)t};
        pthread_create(&th[t], NULL, rw_thread, &args[t]);
    }
    for (int t = 0; t < RW_THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    mpfs_index_get_stats(f->idx, &st);
    assert_int_equal(st.gets, RW_THREADS * RW_OPS);
    assert_int_equal(st.hits, RW_THREADS * RW_OPS);
    assert_int_equal(st.puts, RW_THREADS * (RW_OPS + 60));

    /* 999 holds one entry per name; its last writer's inode is mapped. */
    uint64_t parent;
    char name[MPFS_INDEX_NAME_MAX + 1];
    for (int i = 0; i < 60; i++) {
        char nm[32];
        struct mpfs_index_entry out;
        snprintf(nm, sizeof(nm), "e%04d", i);
        assert_int_equal(mpfs_index_get(f->idx, 999, nm, &out), 0);
        assert_int_equal(
            mpfs_index_where(f->idx, out.ino, &parent, name, sizeof(name)), 0);
    }
}

static void stats_count(void **state)
{
    struct fixture *f = *state;
    struct mpfs_index_stats st;
    struct mpfs_index_entry e = tix_entry(9, 9, 0), out;

    mpfs_index_get_stats(f->idx, &st);
    assert_int_equal(st.gets, 0);
    mpfs_index_put(f->idx, 1, "s", &e);
    mpfs_index_get(f->idx, 1, "s", &out);
    mpfs_index_get(f->idx, 1, "nope", &out);
    struct mpfs_index_batch *b = mpfs_index_batch_new(f->idx);
    mpfs_index_batch_put(b, 1, "t", &e);
    mpfs_index_batch_put(b, 1, "u", &e);
    assert_int_equal(mpfs_index_batch_commit(b), 0);
    mpfs_index_get_stats(f->idx, &st);
    assert_int_equal(st.gets, 2);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.puts, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(put_get_del, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(list_in_name_order, setup, teardown),
        cmocka_unit_test_setup_teardown(list_callback_may_modify, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reverse_map, setup, teardown),
        cmocka_unit_test_setup_teardown(dir_state, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_replaces_listing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(batch_order_and_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(drop_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(root_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(ino_allocator_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(threads_read_and_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stats_count, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_model.c - the model test of the vfs (issue 6).
 *
 * Seeded random sequences of operations through the fs core (create,
 * write, truncate-open, rename, unlink, fsync, close, reopen, reads by path
 * and through open handles), interleaved with a remote writer on the store
 * (put, delete) and daemon crashes (the process dies with its open files;
 * the next mount replays the journal).  After every step the store and the
 * mount's view are checked against a reference model:
 *   - every name on the store holds exactly what the model says (an
 *     acknowledged write is there; a remote write is never overwritten by
 *     an edit that did not start from it);
 *   - every conflict copy holds one version the model expects, and no more
 *     or fewer copies exist (both versions are kept, nothing is duplicated);
 *   - a read through the mount by path returns exactly the store's bytes;
 *     a read through an open handle returns the handle's own version or
 *     fails with ESTALE, never bytes of two versions;
 *   - a listing shows exactly the store's names plus files being created
 *     here (no ghosts, nothing missing).
 *
 * The rule the model encodes (docs/JOURNAL.md): a commit of an edit goes to
 * the name if the name still holds the version the edit started from (or
 * no longer exists: the edit recreates it); else it goes to a conflict
 * copy, and every later commit of that open file goes to the same copy.
 * Data of a file unlinked here dies with its last handle.
 *
 * Environment: MPFS_MODEL_SEEDS (sequences per mode, default 250),
 * MPFS_MODEL_STEPS (steps per sequence; default 25, and 100 for every
 * tenth seed: many short sequences reach the shallow states fast, the long
 * ones the states that take several crashes and conflicts), MPFS_MODEL_JOBS
 * (forked workers, default one per core), MPFS_MODEL_SEED=S and
 * MPFS_MODEL_MODE=s3|nfs|dualview|s3racy to replay one sequence (a failure
 * prints both).  Modes: s3 and nfs over one in-memory store each; dualview
 * over one dataset seen as an S3 view and a POSIX NFS view with their own
 * version tokens, remote writers using either; s3racy over a versioned
 * bucket that acknowledges conditional puts unchecked (radosgw 16.2): the
 * name takes the newest acknowledged write and the version it replaced is
 * the conflict copy.
 */
#include "tests/fs/fs_fixture.h"

#include "backends/mem.h"
#include "base/util.h"
#include "cache/reader.h"
#include "fs/file.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define NAMES 4
#define MAXH 3
#define MAXD 160
#define MAXCONF 64
#define LOGMAX 8192

struct blob {
    size_t len;
    char d[MAXD];
};

struct mfile {
    int exists;
    struct blob b;
    unsigned gen; /* bumped on every change of the name */
};

struct mhandle {
    int used;
    int name;
    struct mpfs_handle *h;
    int wrote;          /* has its own staged content (b is exact) */
    int dirty;          /* staged content not committed yet */
    struct blob b;      /* what a read through it returns */
    struct blob opened; /* the version it opened (an unlinked, unwritten
                           handle may keep serving it from the cache) */
    int base_exists;    /* the name's state the edit started from */
    unsigned base_gen;
    int conflict;       /* index of its conflict copy, -1 = none */
    int unlinked_here;
    int gone;           /* its file was deleted by the remote writer: a
                           file later made at the name is another file (an
                           edit still recreates the name if it is free) */
};

struct model {
    struct fixture *f;
    struct mpfs_backend *store; /* the raw in-memory store */
    struct mpfs_backend *other; /* dualview: the same data's other view */
    int nfs;
    int acks_all; /* s3racy: the store acknowledges every conditional put */
    const char *mode;
    unsigned seed, rnd;
    int step, steps;
    struct mfile file[NAMES];
    struct mhandle h[MAXH];
    struct blob conf[MAXCONF];
    int nconf;
    char log[LOGMAX];
    size_t loglen;
};

static unsigned rnd(struct model *m, unsigned n)
{
    m->rnd = m->rnd * 1103515245u + 12345u;
    return ((m->rnd >> 8) & 0xffffff) % n;
}

static void note(struct model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct model *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (m->loglen < LOGMAX - 200) {
        m->loglen += (size_t)snprintf(m->log + m->loglen, LOGMAX - m->loglen, "  %3d ", m->step);
        m->loglen += (size_t)vsnprintf(m->log + m->loglen, LOGMAX - m->loglen, fmt, ap);
        m->loglen += (size_t)snprintf(m->log + m->loglen, LOGMAX - m->loglen, "\n");
    }
    va_end(ap);
}

/* Set in a forked worker: a failure ends the worker (cmocka's fail() would
 * jump back into a copy of the test runner); the parent reports it. */
static int in_worker;

static void model_failed(void)
{
    if (in_worker) {
        fflush(stderr);
        _exit(1);
    }
    fail();
}

#define CHECK(m, cond, ...)                                                                 \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "model: seed %u (%s mode) failed at step %d: ", (m)->seed,      \
                    (m)->mode, (m)->step);                                                  \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fprintf(stderr, "\nsteps:\n%s", (m)->log);                                      \
            fprintf(stderr, "replay: MPFS_MODEL_SEED=%u MPFS_MODEL_MODE=%s "                \
                    "MPFS_MODEL_STEPS=%d build/tests/test_model\n", (m)->seed, (m)->mode,   \
                    (m)->steps);                                                            \
            model_failed();                                                                 \
        }                                                                                   \
    } while (0)

static const char *nm(int i)
{
    static const char *names[NAMES] = {"n0", "n1", "n2", "n3"};
    return names[i];
}

static void random_blob(struct model *m, struct blob *b, size_t max)
{
    b->len = 1 + rnd(m, (unsigned)max);
    for (size_t i = 0; i < b->len; i++)
        b->d[i] = (char)('a' + rnd(m, 26));
}

static int handle_on(struct model *m, int name)
{
    for (int i = 0; i < MAXH; i++)
        if (m->h[i].used && m->h[i].name == name)
            return i;
    return -1;
}

static int free_slot(struct model *m)
{
    for (int i = 0; i < MAXH; i++)
        if (!m->h[i].used)
            return i;
    return -1;
}

/* ------------------------------------------------------- the commit rule */

static void model_commit(struct model *m, struct mhandle *h)
{
    if (!h->dirty)
        return;
    h->dirty = 0;
    if (h->unlinked_here)
        return;
    if (h->conflict >= 0) {
        m->conf[h->conflict] = h->b;
        return;
    }
    struct mfile *f = &m->file[h->name];
    int unchanged = f->exists == h->base_exists && f->gen == h->base_gen;
    if (unchanged || !f->exists) {
        f->exists = 1;
        f->b = h->b;
        f->gen++;
        h->base_exists = 1;
        h->base_gen = f->gen;
    } else if (m->acks_all) {
        /* the put was acknowledged over the other writer's version: the
         * version chain shows it, and that version is the conflict copy */
        CHECK(m, m->nconf < MAXCONF, "too many conflicts");
        m->conf[m->nconf++] = f->b;
        f->b = h->b;
        f->gen++;
        h->base_exists = 1;
        h->base_gen = f->gen;
    } else {
        CHECK(m, m->nconf < MAXCONF, "too many conflicts");
        h->conflict = m->nconf;
        m->conf[m->nconf++] = h->b;
    }
}

/* --------------------------------------------------------------- checks */

struct conflicts {
    struct blob v[MAXCONF];
    int n;
    int other; /* names that are neither nX nor conflict copies */
    struct mpfs_backend *store;
};

static int collect_store(void *arg, const char *name, size_t len, const struct mpfs_attr *a,
                         int full)
{
    (void)a;
    (void)full;
    struct conflicts *c = arg;
    char key[300];
    snprintf(key, sizeof(key), "%.*s", (int)len, name);
    if (strstr(key, ".mpfs-conflict-")) {
        if (c->n < MAXCONF) {
            struct blob *b = &c->v[c->n++];
            ssize_t got = mpfs_backend_read(c->store, key, NULL, b->d, MAXD, 0);
            b->len = got < 0 ? 0 : (size_t)got;
        }
    } else if (!(len == 2 && key[0] == 'n' && key[1] >= '0' && key[1] < '0' + NAMES)) {
        c->other++;
    }
    return 0;
}

static int blob_cmp(const void *a, const void *b)
{
    const struct blob *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->d, y->d, x->len);
}

static void check_store(struct model *m)
{
    for (int i = 0; i < NAMES; i++) {
        char buf[MAXD];
        ssize_t got = mpfs_backend_read(m->store, nm(i), NULL, buf, sizeof(buf), 0);
        const struct mfile *f = &m->file[i];
        if (!f->exists) {
            CHECK(m, got == -ENOENT, "%s should not exist on the store (got %zd)", nm(i), got);
        } else {
            CHECK(m, got == (ssize_t)f->b.len && memcmp(buf, f->b.d, f->b.len) == 0,
                  "%s on the store: %zd bytes '%.*s', expected '%.*s'", nm(i), got,
                  got > 0 ? (int)got : 0, buf, (int)f->b.len, f->b.d);
        }
    }
    static struct conflicts c;
    memset(&c, 0, sizeof(c));
    c.store = m->store;
    CHECK(m, mpfs_backend_list(m->store, "", collect_store, &c) == 0, "store listing failed");
    CHECK(m, c.other == 0, "unexpected names on the store");
    CHECK(m, c.n == m->nconf, "%d conflict copies on the store, expected %d", c.n, m->nconf);
    static struct blob want[MAXCONF];
    memcpy(want, m->conf, sizeof(struct blob) * (size_t)m->nconf);
    qsort(want, (size_t)m->nconf, sizeof(struct blob), blob_cmp);
    qsort(c.v, (size_t)c.n, sizeof(struct blob), blob_cmp);
    for (int i = 0; i < c.n; i++)
        CHECK(m, blob_cmp(&want[i], &c.v[i]) == 0, "conflict copy %d holds '%.*s'", i,
              (int)c.v[i].len, c.v[i].d);
}

static void check_mount(struct model *m)
{
    /* the listing: store names, conflict copies, and files created here */
    char *l = fx_list(m->f, "");
    CHECK(m, l != NULL, "listing the root failed");
    int shown[NAMES] = {0}, confs = 0;
    for (char *s = l, *e; s && *s; s = e ? e + 1 : NULL) {
        e = strchr(s, '\n');
        if (e)
            *e = '\0';
        if (strstr(s, ".mpfs-conflict-"))
            confs++;
        else if (strlen(s) == 2 && s[0] == 'n' && s[1] >= '0' && s[1] < '0' + NAMES)
            shown[s[1] - '0'] = 1;
        else
            CHECK(m, 0, "the listing shows '%s'", s);
    }
    free(l);
    CHECK(m, confs == m->nconf, "the listing shows %d conflict copies, expected %d", confs,
          m->nconf);
    for (int i = 0; i < NAMES; i++) {
        int hi = handle_on(m, i);
        int pending_new = hi >= 0 && m->h[hi].dirty && !m->h[hi].unlinked_here &&
                          !m->h[hi].base_exists && !m->file[i].exists && m->h[hi].conflict < 0;
        CHECK(m, shown[i] == (m->file[i].exists || pending_new),
              "the listing %s %s (store: %s)", shown[i] ? "shows" : "misses", nm(i),
              m->file[i].exists ? "present" : "absent");
        if (hi >= 0)
            continue; /* an open file here may show its staged content */
        char buf[MAXD];
        ssize_t got = fx_read_file(m->f, nm(i), buf, sizeof(buf));
        if (!m->file[i].exists) {
            CHECK(m, got == -ENOENT, "reading %s through the mount: %zd, expected ENOENT",
                  nm(i), got);
        } else {
            CHECK(m, got == (ssize_t)m->file[i].b.len &&
                         memcmp(buf, m->file[i].b.d, m->file[i].b.len) == 0,
                  "reading %s through the mount: %zd bytes '%.*s', expected '%.*s'", nm(i),
                  got, got > 0 ? (int)got : 0, buf, (int)m->file[i].b.len, m->file[i].b.d);
        }
    }
}

/* ------------------------------------------------------------ operations */

static void op_write_file(struct model *m, int i)
{
    if (handle_on(m, i) >= 0)
        return;
    struct blob b;
    random_blob(m, &b, MAXD / 2);
    note(m, "mount: write whole %s (%zu bytes)", nm(i), b.len);
    int rc = fx_write_file(m->f, nm(i), b.d, b.len);
    CHECK(m, rc == 0, "writing %s: %d", nm(i), rc);
    m->file[i].exists = 1;
    m->file[i].b = b;
    m->file[i].gen++;
}

static void op_open(struct model *m, int i)
{
    int s = free_slot(m);
    if (s < 0 || handle_on(m, i) >= 0)
        return;
    struct mhandle *h = &m->h[s];
    memset(h, 0, sizeof(*h));
    h->name = i;
    h->conflict = -1;
    struct mpfs_entry e;
    int rc;
    if (!m->file[i].exists) {
        note(m, "mount: create %s (kept open)", nm(i));
        rc = mpfs_vfs_create(m->f->fs, MPFS_ROOT_INO, nm(i), 0644, O_RDWR, NULL, &e, &h->h);
        CHECK(m, rc == 0, "create %s: %d", nm(i), rc);
        h->wrote = h->dirty = 1;
        h->base_exists = 0;
        h->base_gen = m->file[i].gen;
    } else {
        note(m, "mount: open %s", nm(i));
        rc = fx_lookup_path(m->f, nm(i), &e);
        CHECK(m, rc == 0, "lookup %s: %d", nm(i), rc);
        int keep;
        rc = mpfs_vfs_open(m->f->fs, e.ino, O_RDWR, &h->h, &keep);
        CHECK(m, rc == 0, "open %s: %d", nm(i), rc);
        h->b = m->file[i].b;
        h->opened = h->b;
    }
    h->used = 1;
}

static void op_hwrite(struct model *m, struct mhandle *h)
{
    struct blob b;
    random_blob(m, &b, 24);
    size_t off = rnd(m, (unsigned)(h->b.len + 8));
    if (off + b.len > MAXD)
        return;
    note(m, "mount: write %zu bytes at %zu to open %s", b.len, off, nm(h->name));
    struct mfile *f = &m->file[h->name];
    if (h->gone && !h->wrote) {
        ssize_t rc = mpfs_vfs_write(m->f->fs, h->h, b.d, b.len, (off_t)off);
        CHECK(m, rc < 0, "write to open %s after its remote delete: %zd", nm(h->name), rc);
        return;
    }
    if (!h->wrote && !h->unlinked_here && !f->exists) {
        /* the first write fetches the content to edit: it is gone (an
         * empty file needs no fetch: the edit goes on, and recreates it) */
        ssize_t rc = mpfs_vfs_write(m->f->fs, h->h, b.d, b.len, (off_t)off);
        CHECK(m, rc < 0 || (rc == (ssize_t)b.len && h->b.len == 0),
              "first write to %s after its remote delete: %zd", nm(h->name), rc);
        if (rc < 0)
            return;
        h->base_exists = 1;
        h->base_gen = f->gen - 1;
        goto apply;
    }
    if (!h->wrote) {
        /* the edit starts from the version current now */
        if (!h->unlinked_here)
            h->b = f->b;
        h->base_exists = f->exists;
        h->base_gen = f->gen;
    }
    ssize_t rc = mpfs_vfs_write(m->f->fs, h->h, b.d, b.len, (off_t)off);
    CHECK(m, rc == (ssize_t)b.len, "write to %s: %zd", nm(h->name), rc);
apply:
    if (off > h->b.len)
        memset(h->b.d + h->b.len, 0, off - h->b.len);
    memcpy(h->b.d + off, b.d, b.len);
    if (off + b.len > h->b.len)
        h->b.len = off + b.len;
    h->wrote = h->dirty = 1;
}

static void op_hread(struct model *m, struct mhandle *h)
{
    char buf[MAXD];
    ssize_t got = mpfs_vfs_read(m->f->fs, h->h, buf, sizeof(buf), 0);
    note(m, "mount: read open %s -> %zd", nm(h->name), got);
    int exact = got == (ssize_t)h->b.len && memcmp(buf, h->b.d, h->b.len) == 0;
    if (!h->wrote && (h->unlinked_here || h->gone))
        CHECK(m, exact || got == -ESTALE || got == -ENOENT ||
                     (got == (ssize_t)h->opened.len &&
                      memcmp(buf, h->opened.d, h->opened.len) == 0),
              "read through unlinked open %s: %zd bytes '%.*s', expected '%.*s', the opened "
              "version or an error", nm(h->name), got, got > 0 ? (int)got : 0, buf,
              (int)h->b.len, h->b.d);
    else if (h->wrote || h->unlinked_here)
        CHECK(m, exact, "read through open %s: %zd bytes '%.*s', expected '%.*s'",
              nm(h->name), got, got > 0 ? (int)got : 0, buf, (int)h->b.len, h->b.d);
    else
        CHECK(m, exact || got == -ESTALE || got == -ENOENT,
              "read through open %s (pinned): %zd bytes '%.*s', expected '%.*s' or ESTALE",
              nm(h->name), got, got > 0 ? (int)got : 0, buf, (int)h->b.len, h->b.d);
}

static void op_commit(struct model *m, struct mhandle *h, int close)
{
    note(m, "mount: %s %s", close ? "close" : "fsync", nm(h->name));
    int rc = close ? mpfs_vfs_flush(m->f->fs, h->h) : mpfs_vfs_fsync(m->f->fs, h->h);
    CHECK(m, rc == 0, "%s %s: %d", close ? "close" : "fsync", nm(h->name), rc);
    model_commit(m, h);
    if (close) {
        mpfs_vfs_release(m->f->fs, h->h);
        h->used = 0;
    }
}

static void op_unlink(struct model *m, int i)
{
    int hi = handle_on(m, i);
    if (hi >= 0 && (m->h[hi].gone || m->h[hi].conflict >= 0))
        hi = -1; /* its file is gone, or its data belongs to its conflict
                    copy: the name is another file's */
    int pending_new = hi >= 0 && m->h[hi].dirty && !m->h[hi].base_exists &&
                      !m->h[hi].unlinked_here && m->h[hi].conflict < 0;
    int rc = mpfs_vfs_unlink(m->f->fs, MPFS_ROOT_INO, nm(i));
    note(m, "mount: unlink %s -> %d", nm(i), rc);
    if (!m->file[i].exists && !pending_new) {
        CHECK(m, rc == -ENOENT, "unlink of absent %s: %d", nm(i), rc);
        return;
    }
    CHECK(m, rc == 0, "unlink %s: %d", nm(i), rc);
    if (hi >= 0 && !m->h[hi].unlinked_here) {
        struct mhandle *h = &m->h[hi];
        /* an open file keeps what it reads: its own edit, or a local copy
         * of the current version */
        if (!h->wrote && m->file[i].exists)
            h->b = m->file[i].b;
        h->unlinked_here = 1;
        h->dirty = 0;
    }
    if (m->file[i].exists) {
        m->file[i].exists = 0;
        m->file[i].gen++;
    }
}

static void op_rename(struct model *m, int a, int b)
{
    if (a == b || handle_on(m, a) >= 0 || handle_on(m, b) >= 0 || !m->file[a].exists)
        return;
    int rc = mpfs_vfs_rename(m->f->fs, MPFS_ROOT_INO, nm(a), MPFS_ROOT_INO, nm(b), 0);
    note(m, "mount: rename %s -> %s: %d", nm(a), nm(b), rc);
    CHECK(m, rc == 0, "rename %s %s: %d", nm(a), nm(b), rc);
    unsigned gen = m->file[b].gen;
    m->file[b] = m->file[a];
    m->file[b].gen = gen + 1;
    m->file[a].exists = 0;
    m->file[a].gen++;
}

static void op_remote(struct model *m, int i)
{
    /* dualview: through either protocol's view of the one dataset */
    struct mpfs_backend *via = m->other && rnd(m, 2) ? m->other : m->store;
    const char *side = via == m->store ? "" : " via the other view";
    if (m->file[i].exists && rnd(m, 3) == 0) {
        note(m, "remote: delete %s%s", nm(i), side);
        CHECK(m, mpfs_mem_remove_raw(via, nm(i)) == 0, "remote delete failed");
        m->file[i].exists = 0;
        int hi = handle_on(m, i);
        /* (a file created here and not committed yet is not on the store:
         * the remote writer deleted another file) */
        if (hi >= 0 && !m->h[hi].unlinked_here &&
            !(m->h[hi].dirty && !m->h[hi].base_exists && m->h[hi].conflict < 0))
            m->h[hi].gone = 1;
    } else {
        struct blob b;
        random_blob(m, &b, MAXD / 2);
        note(m, "remote: put %s (%zu bytes)%s", nm(i), b.len, side);
        CHECK(m, mpfs_mem_put_raw(via, nm(i), b.d, b.len) == 0, "remote put failed");
        m->file[i].exists = 1;
        m->file[i].b = b;
    }
    m->file[i].gen++;
}

static void op_crash(struct model *m)
{
    note(m, "crash and remount");
    for (int i = 0; i < MAXH; i++) {
        struct mhandle *h = &m->h[i];
        if (!h->used)
            continue;
        /* the process dies with its open files; the journal replay applies
         * the same rule to what was staged */
        model_commit(m, h);
        mpfs_reader_free(h->h->reader);
        pthread_mutex_destroy(&h->h->rlock);
        free(h->h);
        h->used = 0;
    }
    fixture_crash_remount(m->f);
}

static void run_sequence(unsigned seed, const char *mode, int steps)
{
    static struct model m;
    memset(&m, 0, sizeof(m));
    m.seed = seed;
    m.rnd = seed * 2654435761u + 1;
    m.mode = mode;
    m.steps = steps;
    m.nfs = strcmp(mode, "nfs") == 0;
    const char *extra = getenv("MPFS_MODEL_OPTS"); /* e.g. log_level=debug */
    char *opts = mpfs_xasprintf("meta_ttl=0,neg_ttl=0,dir_ttl=0,dir_stale=0,"
                                "cache_ram=1M,block_size=64K,readahead_max=64K,"
                                "prefetch_threads=1%s%s",
                                extra && *extra ? "," : "", extra && *extra ? extra : "");
    m.acks_all = strcmp(mode, "s3racy") == 0;
    m.f = fixture_new(m.acks_all ? "s3versioned" : mode, opts);
    free(opts);
    if (m.acks_all)
        mpfs_mem_ignore_conditions(m.f->s3, 1);
    m.store = m.nfs ? m.f->nfs : m.f->s3;
    m.other = strcmp(mode, "dualview") == 0 ? m.f->nfs : NULL;
    for (m.step = 0; m.step < steps; m.step++) {
        int i = (int)rnd(&m, NAMES);
        int hi = handle_on(&m, i);
        unsigned op = rnd(&m, 100);
        if (op < 14)
            op_write_file(&m, i);
        else if (op < 26)
            op_open(&m, i);
        else if (op < 44 && hi >= 0)
            op_hwrite(&m, &m.h[hi]);
        else if (op < 50 && hi >= 0)
            op_hread(&m, &m.h[hi]);
        else if (op < 56 && hi >= 0)
            op_commit(&m, &m.h[hi], 0);
        else if (op < 66 && hi >= 0)
            op_commit(&m, &m.h[hi], 1);
        else if (op < 72)
            op_unlink(&m, i);
        else if (op < 77)
            op_rename(&m, i, (int)rnd(&m, NAMES));
        else if (op < 95)
            op_remote(&m, i);
        else
            op_crash(&m);
        check_store(&m);
        check_mount(&m);
    }
    for (int i = 0; i < MAXH; i++)
        if (m.h[i].used)
            op_commit(&m, &m.h[i], 1);
    check_store(&m);
    check_mount(&m);
    fixture_free(m.f);
}

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

/* Sequences of one mode, spread over `jobs` forked workers (each mode's
 * seeds are independent; the machine's cores make the run that much
 * shorter).  Worker j runs seeds j+1, j+1+jobs, ... */
static int steps_of(unsigned seed, int fixed)
{
    return fixed > 0 ? fixed : seed % 10 == 0 ? 100 : 25;
}

static void run_seeds(const char *mode, int seeds, int fixed_steps, int jobs)
{
    if (jobs <= 1) {
        for (int s = 1; s <= seeds; s++)
            run_sequence((unsigned)s, mode, steps_of((unsigned)s, fixed_steps));
        return;
    }
    pid_t pid[64];
    fflush(stderr);
    for (int j = 0; j < jobs; j++) {
        pid[j] = fork();
        assert_true(pid[j] >= 0);
        if (pid[j] == 0) {
            in_worker = 1;
            for (int s = j + 1; s <= seeds; s += jobs)
                run_sequence((unsigned)s, mode, steps_of((unsigned)s, fixed_steps));
            fflush(stderr);
            _exit(0);
        }
    }
    int failed = 0;
    for (int j = 0; j < jobs; j++) {
        int status;
        assert_int_equal(waitpid(pid[j], &status, 0), pid[j]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "model: worker %d (%s mode) failed (%s %d); its seed is above\n", j,
                    mode, WIFSIGNALED(status) ? "signal" : "exit",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            failed = 1;
        }
    }
    if (failed)
        fail();
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_mode(const char *mode)
{
    int fixed_steps = env_int("MPFS_MODEL_STEPS", 0);
    const char *one = getenv("MPFS_MODEL_SEED");
    if (one && *one) {
        const char *want = getenv("MPFS_MODEL_MODE");
        unsigned seed = (unsigned)strtoul(one, NULL, 10);
        if (!want || strcmp(want, mode) == 0)
            run_sequence(seed, mode, steps_of(seed, fixed_steps));
        return;
    }
    int seeds = env_int("MPFS_MODEL_SEEDS", 250);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int jobs = MPFS_MIN(env_int("MPFS_MODEL_JOBS", cores > 0 ? (int)cores : 1), 64);
    long total = 0;
    for (int s = 1; s <= seeds; s++)
        total += steps_of((unsigned)s, fixed_steps);
    double t0 = now_s();
    run_seeds(mode, seeds, fixed_steps, jobs);
    fprintf(stderr, "model: %s mode: %d sequences, %ld steps in %.1f s (%d workers)\n", mode,
            seeds, total, now_s() - t0, jobs);
}

static void test_model_s3(void **state)
{
    (void)state;
    run_mode("s3");
}

static void test_model_nfs(void **state)
{
    (void)state;
    run_mode("nfs");
}

/* Dual mode over one dataset with an S3 view and a POSIX NFS view (the
 * ONTAP / VAST case): NFS decides metadata and takes in-place writes, S3
 * serves reads and whole-file commits, and remote writers use either. */
static void test_model_dualview(void **state)
{
    (void)state;
    run_mode("dualview");
}

/* S3 over a versioned bucket that acknowledges every conditional put, as
 * radosgw 16.2 does: the precondition protects nothing, and the version
 * chain must find every overwritten write (defect 11). */
static void test_model_s3racy(void **state)
{
    (void)state;
    run_mode("s3racy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_s3),
        cmocka_unit_test(test_model_nfs),
        cmocka_unit_test(test_model_dualview),
        cmocka_unit_test(test_model_s3racy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_namespace.c - the S3-key-to-POSIX mapping against a reference model.
 *
 * Seeded random sets of raw keys, odd ones included ("a//b", ".", "..",
 * names over 255 bytes, non-UTF-8, "foo" beside "foo/", "dir/" markers),
 * are stored in the in-memory S3-like backend; the tree the fs core shows
 * (walked through the vfs, as the kernel would) must equal what a tiny
 * independent model of the rules in docs/SEMANTICS.md predicts.
 */
#include "tests/fs/fs_fixture.h"

#include "backends/mem.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define MAXE 4096

struct set {
    char *v[MAXE];
    int n;
};

static void set_add(struct set *s, const char *x)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return;
    assert_true(s->n < MAXE);
    s->v[s->n++] = mpfs_xstrdup(x);
}

static int set_has(const struct set *s, const char *x)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return 1;
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void set_free(struct set *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
}

/* ---- the model: written from the rules, not from the code */

static int valid(const char *c)
{
    size_t n = strlen(c);
    return n > 0 && n <= 255 && strcmp(c, ".") && strcmp(c, "..");
}

static void model(char **keys, int nkeys, struct set *out)
{
    struct set dirs = {0}, files = {0};
    for (int k = 0; k < nkeys; k++) {
        char *key = mpfs_xstrdup(keys[k]);
        size_t len = strlen(key);
        int marker = len > 0 && key[len - 1] == '/';
        if (marker)
            key[len - 1] = '\0';
        /* split keeping empty components */
        char path[8192] = "";
        char *p = key;
        int ok = 1;
        for (;;) {
            char *slash = strchr(p, '/');
            if (slash)
                *slash = '\0';
            if (!valid(p)) {
                ok = 0;
                break;
            }
            size_t pl = strlen(path);
            snprintf(path + pl, sizeof(path) - pl, "%s%s", pl ? "/" : "", p);
            int last = slash == NULL;
            if (!last || marker)
                set_add(&dirs, path);
            else
                set_add(&files, path);
            if (last)
                break;
            p = slash + 1;
        }
        (void)ok;
        free(key);
    }
    for (int i = 0; i < dirs.n; i++) {
        char *e = mpfs_xasprintf("%s/", dirs.v[i]);
        set_add(out, e);
        free(e);
    }
    for (int i = 0; i < files.n; i++)
        if (!set_has(&dirs, files.v[i]))
            set_add(out, files.v[i]);
    set_free(&dirs);
    set_free(&files);
}

/* ---- what the mount shows */

static void walk(struct fixture *f, const char *dir, struct set *out)
{
    char *l = fx_list(f, dir);
    assert_non_null(l);
    char *save = NULL;
    for (char *e = strtok_r(l, "\n", &save); e; e = strtok_r(NULL, "\n", &save)) {
        char *full = dir[0] ? mpfs_xasprintf("%s/%s", dir, e) : mpfs_xstrdup(e);
        set_add(out, full);
        size_t n = strlen(full);
        if (full[n - 1] == '/') {
            full[n - 1] = '\0';
            walk(f, full, out);
        }
        free(full);
    }
    free(l);
}

static const char *pool[] = {
    "a", "b", "dir", "foo", "x y", "plus+sign", "per%cent", "\xc3\xa9t\xc3\xa9",
    "\xff\xfe", ".", "..", "", "a.b",
};

static void random_key(unsigned *seed, char *out, size_t size)
{
    int depth = 1 + (int)(rand_r(seed) % 3);
    size_t used = 0;
    out[0] = '\0';
    for (int d = 0; d < depth; d++) {
        const char *c;
        char longname[300];
        if (rand_r(seed) % 25 == 0) {
            size_t n = (rand_r(seed) % 2) ? 255 : 256;
            memset(longname, 'L', n);
            longname[n] = '\0';
            c = longname;
        } else {
            c = pool[rand_r(seed) % MPFS_ARRAY_SIZE(pool)];
        }
        used += (size_t)snprintf(out + used, size - used, "%s%s", d ? "/" : "", c);
    }
    if (rand_r(seed) % 8 == 0)
        snprintf(out + used, size - used, "/");
}

/* opts: the fs configuration under test (flat subtree walk on or off, or
 * cut short so the per-directory fallback runs). */
static void run_seed(unsigned seed, const char *opts)
{
    struct fixture *f = fixture_new("s3", opts);
    char *keys[64];
    int nkeys = 0;
    unsigned s = seed;
    for (int i = 0; i < 40; i++) {
        char k[1024];
        random_key(&s, k, sizeof(k));
        if (k[0] == '\0')
            continue;
        keys[nkeys++] = mpfs_xstrdup(k);
        assert_int_equal(mpfs_mem_put_raw(f->s3, k, "d", 1), 0);
    }
    struct set want = {0}, got = {0};
    model(keys, nkeys, &want);
    walk(f, "", &got);
    qsort(want.v, (size_t)want.n, sizeof(char *), cmp);
    qsort(got.v, (size_t)got.n, sizeof(char *), cmp);
    if (want.n != got.n) {
        for (int i = 0; i < want.n; i++)
            print_message("want %s\n", want.v[i]);
        for (int i = 0; i < got.n; i++)
            print_message("got  %s\n", got.v[i]);
    }
    assert_int_equal(want.n, got.n);
    for (int i = 0; i < want.n; i++)
        assert_string_equal(want.v[i], got.v[i]);
    set_free(&want);
    set_free(&got);
    for (int i = 0; i < nkeys; i++)
        free(keys[i]);
    fixture_free(f);
}

static void test_model_seeds(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 30; seed++) {
        run_seed(seed, NULL);                /* subtree indexed in one flat walk */
        run_seed(seed, "tree_walk_keys=0");  /* one listing per directory */
        run_seed(seed, "tree_walk_keys=7");  /* walk cut short, fallback */
    }
}

static void test_fixed_cases(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    const char *keys[] = {"foo", "foo/bar", "m/", "m/in", "a//b", "../escape", "./dot", "ok"};
    for (size_t i = 0; i < MPFS_ARRAY_SIZE(keys); i++)
        assert_int_equal(mpfs_mem_put_raw(f->s3, keys[i], "x", 1), 0);
    char *l = fx_list(f, "");
    /* "foo" the file is shadowed by the directory; "..", "." hidden;
     * "a" exists as a directory but its only child has an empty name */
    assert_string_equal(l, "a/\nfoo/\nm/\nok");
    free(l);
    l = fx_list(f, "a");
    assert_string_equal(l, "");
    free(l);
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, "foo", &e), 0);
    assert_true(S_ISDIR(e.st.st_mode));
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_cases),
        cmocka_unit_test(test_model_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

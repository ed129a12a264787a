/*
 * test_announce.c - announced reads (fs/announce.h) over the in-memory
 * backend: prefetch in announced order, hits on open, reset, per-caller
 * isolation, the memory bound, bad input, and never two versions.
 */
#include "tests/fs/fs_fixture.h"

#include "backends/fault.h"
#include "backends/mem.h"
#include "base/util.h"
#include "consistency/policy.h"
#include "fs/announce.h"
#include "fs/file.h"
#include "fs/fs_state.h"
#include "fs/node.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define FSIZE (64u << 10)

/* File i's bytes: its index in every byte, so a block of another file
 * (or version: base) shows. */
static void fill(char *buf, size_t len, int i, int base)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = (char)(base + i * 7 + (int)(k % 13));
}

static void make_files(struct fixture *f, int n)
{
    char *buf = mpfs_xmalloc(FSIZE);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "d/f%02d", i);
        fill(buf, FSIZE, i, 0);
        assert_int_equal(mpfs_mem_put_raw(f->s3, name, buf, FSIZE), 0);
    }
    free(buf);
}

/* A fixture with files d/f00.. and one stream on the mount's module. */
static struct fixture *with_stream(const char *opts, int nfiles, struct mpfs_announce_stream **s)
{
    struct fixture *f = fixture_new("s3", opts);
    make_files(f, nfiles);
    assert_int_equal(mpfs_announce_open(f->fs->announce, NULL, 1, s), 0);
    return f;
}

static int announce(struct mpfs_announce_stream *s, const char *text)
{
    return mpfs_announce_write(s, text, strlen(text), NULL);
}

static struct mpfs_announce_stats stats(struct mpfs_announce *a)
{
    struct mpfs_announce_stats st;
    mpfs_announce_get_stats(a, &st);
    return st;
}

/* Poll until fetched + cached reaches n and nothing is in flight. */
static void wait_fetched(struct mpfs_announce *a, uint64_t n)
{
    for (int i = 0; i < 500; i++) {
        struct mpfs_announce_stats st = stats(a);
        if (st.fetched + st.cached + st.errors + st.gone >= n)
            return;
        usleep(10000);
    }
    fail_msg("announced files were not fetched in 5 s");
}

/* Poll until nothing is in flight and held is the given bytes. */
static void wait_held(struct mpfs_announce *a, uint64_t held)
{
    for (int i = 0; i < 500; i++) {
        struct mpfs_announce_stats st = stats(a);
        if (st.in_flight == 0 && st.held_bytes == held)
            return;
        usleep(10000);
    }
    fail_msg("prefetch did not settle in 5 s");
}

/* The version node `path` shows now (what an open pins). */
static void version_of(struct fixture *f, const char *path, char *v, uint64_t *size)
{
    struct mpfs_entry e;
    assert_int_equal(fx_lookup_path(f, path, &e), 0);
    struct mpfs_pin pin;
    assert_int_equal(mpfs_file_pin_ino(f->fs, e.ino, &pin, v, MPFS_VERSION_MAX, size), 0);
}

static void check_file(struct fixture *f, int i, int base)
{
    char name[32];
    snprintf(name, sizeof(name), "d/f%02d", i);
    char *want = mpfs_xmalloc(FSIZE), *got = mpfs_xmalloc(FSIZE + 1);
    fill(want, FSIZE, i, base);
    assert_int_equal(fx_read_file(f, name, got, FSIZE + 1), FSIZE);
    assert_memory_equal(got, want, FSIZE);
    free(want);
    free(got);
}

/* Announced files are fetched ahead; reading them then costs no GET and
 * returns their bytes. */
static void test_prefetched_read_is_a_hit(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    make_files(f, 20);
    struct mpfs_announce_stream *s;
    assert_int_equal(mpfs_announce_open(f->fs->announce, NULL, 1, &s), 0);
    char text[1024] = "";
    for (int i = 19; i >= 0; i--)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "d/f%02d\n", i);
    assert_int_equal(announce(s, text), 0);
    wait_fetched(f->fs->announce, 20);
    assert_int_equal(stats(f->fs->announce).fetched, 20);
    mpfs_fault_reset_calls(f->s3f);
    for (int i = 19; i >= 0; i--)
        check_file(f, i, 0);
    assert_int_equal(mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_READ), 0);
    struct mpfs_announce_stats st = stats(f->fs->announce);
    assert_int_equal(st.hits, 20);
    assert_int_equal(st.hit_bytes, 20ull * FSIZE);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.held_bytes, 0);
    mpfs_announce_close(s);
    fixture_free(f);
}

/* With room for 3 files, the 3 fetched are the first 3 announced (not
 * the first 3 by name), the held bytes never pass the bound, and each
 * claim makes room for the next in order. */
static void test_order_and_memory_bound(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    make_files(f, 10);
    struct mpfs_announce_config cfg = {
        .threads = 4, .queue_max = 64, .memory = 3 * FSIZE, .block_size = 1u << 20};
    struct mpfs_announce *a = mpfs_announce_new(f->fs, &cfg);
    struct mpfs_announce_stream *s;
    assert_int_equal(mpfs_announce_open(a, NULL, 1, &s), 0);
    const int order[10] = {7, 2, 9, 0, 5, 1, 8, 3, 6, 4};
    char text[512] = "";
    for (int i = 0; i < 10; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "d/f%02d\n", order[i]);
    assert_int_equal(announce(s, text), 0);
    for (int i = 0; i < 10; i++) {
        /* fetched and kept (workers starting together may fetch one that
         * is then dropped for an earlier one: fetched again later) */
        uint64_t want = (uint64_t)MPFS_MIN(10, i + 3);
        for (int k = 0; k < 500 && stats(a).fetched - stats(a).dropped < want; k++)
            usleep(10000);
        usleep(20000); /* a worker that would go past the bound has time to */
        struct mpfs_announce_stats st = stats(a);
        assert_true(st.held_bytes <= 3 * FSIZE);
        assert_int_equal(st.fetched - st.dropped, want);
        char name[32], v[MPFS_VERSION_MAX];
        uint64_t size;
        snprintf(name, sizeof(name), "d/f%02d", order[i]);
        version_of(f, name, v, &size);
        assert_int_equal(mpfs_announce_claim(a, name, v, size), FSIZE);
    }
    assert_int_equal(stats(a).hits, 10);
    mpfs_announce_free(a);
    fixture_free(f);
}

/* An entry needed sooner than held ones takes their room: the one needed
 * last is dropped first. */
static void test_needed_last_dropped_first(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    make_files(f, 6);
    struct mpfs_announce_config cfg = {
        .threads = 1, .queue_max = 64, .memory = 3 * FSIZE, .block_size = 1u << 20};
    struct mpfs_announce *a = mpfs_announce_new(f->fs, &cfg);
    struct mpfs_announce_stream *s1, *s2;
    assert_int_equal(mpfs_announce_open(a, NULL, 1, &s1), 0);
    assert_int_equal(mpfs_announce_open(a, NULL, 2, &s2), 0);
    /* s1 fills the budget with its positions 0..2 */
    assert_int_equal(announce(s1, "d/f00\nd/f01\nd/f02\nd/f03\n"), 0);
    wait_fetched(a, 3);
    /* s2's position 0 is needed before s1's position 2 */
    assert_int_equal(announce(s2, "d/f05\n"), 0);
    wait_fetched(a, 4);
    assert_int_equal(stats(a).dropped, 1);
    char v[MPFS_VERSION_MAX];
    uint64_t size;
    version_of(f, "d/f05", v, &size);
    assert_int_equal(mpfs_announce_claim(a, "d/f05", v, size), FSIZE);
    version_of(f, "d/f00", v, &size);
    assert_int_equal(mpfs_announce_claim(a, "d/f00", v, size), FSIZE);
    version_of(f, "d/f01", v, &size);
    assert_int_equal(mpfs_announce_claim(a, "d/f01", v, size), FSIZE);
    /* f02 was the one dropped; it comes back when there is room */
    wait_fetched(a, 5);
    version_of(f, "d/f02", v, &size);
    assert_int_equal(mpfs_announce_claim(a, "d/f02", v, size), FSIZE);
    mpfs_announce_free(a);
    fixture_free(f);
}

/* A reset (new epoch) drops what the stream had queued, held or in flight,
 * and only that stream's; a reader that skips entries cancels them in its
 * own stream only. */
static void test_reset_and_isolation(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    make_files(f, 40);
    struct mpfs_fault_rule slow = {.ops = MPFS_FAULT_OP_READ, .action = MPFS_FAULT_DELAY,
                                   .delay_ms = 30, .count = -1};
    int rule = mpfs_fault_add(f->s3f, &slow);
    struct mpfs_announce_config cfg = {
        .threads = 2, .queue_max = 64, .memory = 64 * FSIZE, .block_size = 1u << 20};
    struct mpfs_announce *a = mpfs_announce_new(f->fs, &cfg);
    struct mpfs_announce_stream *sa, *sb;
    assert_int_equal(mpfs_announce_open(a, NULL, 1, &sa), 0);
    assert_int_equal(mpfs_announce_open(a, NULL, 2, &sb), 0);
    char ta[1024] = "", tb[1024] = "";
    for (int i = 0; i < 20; i++) {
        snprintf(ta + strlen(ta), sizeof(ta) - strlen(ta), "d/f%02d\n", i);
        snprintf(tb + strlen(tb), sizeof(tb) - strlen(tb), "d/f%02d\n", 20 + i);
    }
    assert_int_equal(announce(sa, ta), 0);
    assert_int_equal(announce(sb, tb), 0);
    assert_int_equal(stats(a).queued, 40);
    mpfs_announce_reset(sa);
    struct mpfs_announce_stats st = stats(a);
    assert_int_equal(st.queued, 20);
    assert_int_equal(st.cancelled, 20);
    /* the reset stream takes a new epoch at once */
    assert_int_equal(announce(sa, "d/f00\n#reset\nd/f01\n"), 0);
    assert_int_equal(stats(a).queued, 21);
    assert_int_equal(stats(a).cancelled, 20); /* f00 never got queued */
    mpfs_announce_reset(sa);
    mpfs_fault_remove(f->s3f, rule);
    wait_held(a, 20ull * FSIZE);
    /* b's reader jumps to its 19th entry: the first 2 are skipped (a
     * slack of 16 covers workers out of step), nothing of a is touched */
    char v[MPFS_VERSION_MAX];
    uint64_t size;
    version_of(f, "d/f38", v, &size);
    assert_int_equal(mpfs_announce_claim(a, "d/f38", v, size), FSIZE);
    st = stats(a);
    assert_int_equal(st.skipped, 2);
    assert_int_equal(st.queued, 17);
    /* the end of a stream (its handle closed) drops its entries */
    mpfs_announce_close(sb);
    st = stats(a);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.streams, 1);
    wait_held(a, 0);
    mpfs_announce_free(a);
    fixture_free(f);
}

/* A module of its own with one worker over files d/f00..; the first GET
 * of d/f00 takes delay_ms. */
static struct mpfs_announce *one_worker_slow_f00(struct fixture *f, int nfiles, int delay_ms,
                                                 struct mpfs_announce_stream **s)
{
    make_files(f, nfiles);
    struct mpfs_fault_rule slow = {.ops = MPFS_FAULT_OP_READ, .path = "d/f00",
                                   .action = MPFS_FAULT_DELAY, .delay_ms = delay_ms, .count = 1};
    mpfs_fault_add(f->s3f, &slow);
    struct mpfs_announce_config cfg = {
        .threads = 1, .queue_max = 64, .memory = 64 * FSIZE, .block_size = 1u << 20};
    struct mpfs_announce *a = mpfs_announce_new(f->fs, &cfg);
    assert_int_equal(mpfs_announce_open(a, NULL, 1, s), 0);
    return a;
}

/* An open before the prefetch of its file started: the reader reads it
 * itself and the entry goes (no second GET later). */
static void test_reader_ahead_of_prefetch(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_announce_stream *s;
    struct mpfs_announce *a = one_worker_slow_f00(f, 3, 300, &s);
    assert_int_equal(announce(s, "d/f00\nd/f01\nd/f02\n"), 0);
    for (int i = 0; i < 100 && stats(a).in_flight == 0; i++)
        usleep(1000);
    char v[MPFS_VERSION_MAX];
    uint64_t size;
    version_of(f, "d/f01", v, &size);
    assert_int_equal(mpfs_announce_claim(a, "d/f01", v, size), 0); /* f00 still in flight */
    assert_int_equal(stats(a).late, 1);
    assert_int_equal(stats(a).queued, 2);
    wait_fetched(a, 2);
    assert_int_equal(stats(a).fetched, 2); /* f00 and f02, never f01 */
    mpfs_announce_free(a);
    fixture_free(f);
}

/* Bad input gets its errno and queues nothing of that write. */
static void test_bad_input(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    make_files(f, 2);
    struct mpfs_announce_config cfg = {.threads = 1, .queue_max = 4, .memory = 1u << 20};
    struct mpfs_announce *a = mpfs_announce_new(f->fs, &cfg);
    mpfs_announce_set_mountpoint(a, "/nonexistent-mnt");
    struct mpfs_announce_stream *s;
    assert_int_equal(mpfs_announce_open(a, NULL, 1, &s), 0);
    size_t line = 0;
    const char *bad = "d/f00\nnope\n";
    assert_int_equal(mpfs_announce_write(s, bad, strlen(bad), &line), -ENOENT);
    assert_int_equal(line, 2);
    assert_int_equal(stats(a).queued, 0); /* not even the good first line */
    assert_int_equal(announce(s, "d/../../etc/passwd\n"), -EINVAL);
    assert_int_equal(announce(s, "/etc/passwd\n"), -EXDEV);
    assert_int_equal(announce(s, "d\n"), -EISDIR);
    assert_int_equal(announce(s, "/\n"), -EXDEV);
    assert_int_equal(announce(s, "#bogus\n"), -EINVAL);
    assert_int_equal(announce(s, "d/f00\tx\t1\n"), -EINVAL);
    assert_int_equal(announce(s, "d/f00\t1\n"), -EINVAL);
    assert_int_equal(announce(s, "d/f00\t-1\t5\n"), -EINVAL);
    assert_int_equal(mpfs_announce_write(s, "d/f00\0\n", 7, NULL), -EINVAL);
    char *longline = mpfs_xmalloc(PATH_MAX + 200);
    memset(longline, 'a', PATH_MAX + 100);
    longline[PATH_MAX + 100] = '\n';
    longline[PATH_MAX + 101] = '\0';
    assert_int_equal(announce(s, longline), -ENAMETOOLONG);
    longline[PATH_MAX + 100] = '\0'; /* a line that never ends */
    assert_int_equal(announce(s, longline), -ENAMETOOLONG);
    free(longline);
    assert_int_equal(stats(a).queued, 0);
    /* a flood: more than the stream's queue_max in one write */
    assert_int_equal(announce(s, "d/f00\nd/f01\nd/f00\nd/f01\nd/f00\n"), -ENOBUFS);
    assert_int_equal(stats(a).queued, 0);
    /* absolute paths under the mount point, ./ and // are fine; a line may
     * come in pieces */
    assert_int_equal(announce(s, "/nonexistent-mnt/d/f00\n.//d/./f01\nd/f"), 0);
    assert_int_equal(stats(a).queued, 2);
    assert_int_equal(announce(s, "00\t0\t100\n"), 0);
    assert_int_equal(stats(a).queued, 3);
    assert_int_equal(announce(s, "d/f01\nd/f00\n"), -ENOBUFS);
    /* a refused write resets nothing either */
    assert_int_equal(announce(s, "#reset\nd/f00\nd/f01\nd/f00\nd/f01\nd/f00\n"), -ENOBUFS);
    assert_int_equal(stats(a).queued, 3);
    assert_int_equal(stats(a).rejected, 15);
    /* too many streams */
    struct mpfs_announce_stream *many[MPFS_ANNOUNCE_MAX_STREAMS];
    int opened = 0;
    for (; opened < MPFS_ANNOUNCE_MAX_STREAMS; opened++)
        if (mpfs_announce_open(a, NULL, 1, &many[opened]) < 0)
            break;
    assert_int_equal(opened, MPFS_ANNOUNCE_MAX_STREAMS - 1);
    struct mpfs_announce_stream *x;
    assert_int_equal(mpfs_announce_open(a, NULL, 1, &x), -ENFILE);
    for (int i = 0; i < opened; i++)
        mpfs_announce_close(many[i]);
    mpfs_announce_free(a);
    fixture_free(f);
}

/* The object changes after its prefetch: the open pins the new version,
 * the prefetched bytes are dropped (stale), the read returns only the new
 * bytes.  And a change between the announcement and the fetch: the fetch
 * fails its version check and the reader fetches the new version. */
static void test_no_mixed_versions(void **state)
{
    (void)state;
    struct mpfs_announce_stream *s;
    struct fixture *f = with_stream("meta_ttl=0,neg_ttl=0", 2, &s);
    struct mpfs_announce *a = f->fs->announce;
    assert_int_equal(announce(s, "d/f00\n"), 0);
    wait_fetched(a, 1);
    char *buf = mpfs_xmalloc(FSIZE);
    fill(buf, FSIZE, 0, 100);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "d/f00", buf, FSIZE), 0);
    check_file(f, 0, 100);
    assert_int_equal(stats(a).stale, 1);
    assert_int_equal(stats(a).hits, 0);

    /* the version changes under the prefetch's own GET */
    fill(buf, FSIZE, 1, 50);
    struct mpfs_fault_rule change = {.ops = MPFS_FAULT_OP_READ, .path = "d/f01",
                                     .action = MPFS_FAULT_CHANGE_VERSION, .data = buf,
                                     .data_len = FSIZE, .count = 1};
    mpfs_fault_add(f->s3f, &change);
    assert_int_equal(announce(s, "d/f01\n"), 0);
    wait_fetched(a, 2);
    check_file(f, 1, 50);
    assert_int_equal(stats(a).hits, 0);
    assert_int_equal(stats(a).errors, 1);
    free(buf);
    mpfs_announce_close(s);
    fixture_free(f);
}

/* A whole large file: its first 2 blocks are fetched (the reader's
 * readahead streams the rest); an announced range: its blocks. */
static void test_head_and_ranges(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    size_t big = 5u << 20;
    char *buf = mpfs_xmalloc(big);
    for (size_t k = 0; k < big; k++)
        buf[k] = (char)(k * 31 / 7);
    assert_int_equal(mpfs_mem_put_raw(f->s3, "big", buf, big), 0);
    struct mpfs_announce *a = f->fs->announce;
    struct mpfs_announce_stream *s;
    assert_int_equal(mpfs_announce_open(a, NULL, 1, &s), 0);
    assert_int_equal(announce(s, "big\n"), 0);
    wait_fetched(a, 1);
    assert_int_equal(stats(a).fetched_bytes, 2u << 20);
    /* blocks 1..3 cover [1.5 MiB, 3.5 MiB) */
    assert_int_equal(announce(s, "big\t1572864\t2097152\n"), 0);
    wait_fetched(a, 2);
    assert_int_equal(stats(a).fetched_bytes, (2u << 20) + (3u << 20));
    /* the first claim takes the head, the second the range; all of the
     * file reads right */
    char *got = mpfs_xmalloc(big + 1);
    assert_int_equal(fx_read_file(f, "big", got, big + 1), (ssize_t)big);
    assert_memory_equal(got, buf, big);
    assert_int_equal(fx_read_file(f, "big", got, big + 1), (ssize_t)big);
    assert_memory_equal(got, buf, big);
    assert_int_equal(stats(a).hits, 2);
    assert_int_equal(stats(a).hit_bytes, 5u << 20);
    free(got);
    free(buf);
    mpfs_announce_close(s);
    fixture_free(f);
}

/* Without announcements nothing is queued or fetched ahead, and reads
 * work as before. */
static void test_no_hints_no_change(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    make_files(f, 3);
    for (int i = 0; i < 3; i++)
        check_file(f, i, 0);
    struct mpfs_announce_stats st = stats(f->fs->announce);
    assert_int_equal(st.streams + st.announced + st.fetched + st.hits, 0);
    fixture_free(f);
}

/* An announced path is looked up once, when written: the fetch pins the
 * version of the inode the write found, without a second walk (with
 * meta_ttl=0 every lookup is a HEAD, so the HEADs count lookups). */
static void test_one_lookup_per_announcement(void **state)
{
    (void)state;
    struct mpfs_announce_stream *s;
    struct fixture *f = with_stream("meta_ttl=0,neg_ttl=0", 5, &s);
    struct mpfs_announce *a = f->fs->announce;
    mpfs_fault_reset_calls(f->s3f);
    assert_int_equal(announce(s, "d/f00\nd/f01\nd/f02\nd/f03\nd/f04\n"), 0);
    uint64_t heads = mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_STAT);
    assert_true(heads >= 5); /* the write did look each file up */
    wait_fetched(a, 5);
    assert_int_equal(stats(a).fetched, 5);
    assert_int_equal(mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_STAT), heads);
    assert_int_equal(mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_READ), 5);
    mpfs_announce_close(s);
    fixture_free(f);
}

/* Sleep past the close-to-open grace. */
static void past_grace(void)
{
    usleep((useconds_t)(MPFS_POLICY_CTO_GRACE_NS / 1000) + 50000);
}

/* d/f00.. d/f(N-1) known to the index and confirmed longer ago than the
 * grace (as after a listing): announcing them asks the store nothing,
 * and an open revalidates unless something confirmed them since. */
static void known_past_grace(struct fixture *f, int n)
{
    for (int k = 0; k < n; k++) {
        char name[32];
        struct mpfs_entry e;
        snprintf(name, sizeof(name), "d/f%02d", k);
        assert_int_equal(fx_lookup_path(f, name, &e), 0);
    }
    past_grace();
}

/* Close-to-open with default options: the prefetch's GET is pinned to the
 * version (If-Match), so when it succeeds it confirms the version as an
 * open's own first fetch would.  An open within the close-to-open grace
 * of that GET trusts it and asks the store nothing (it used to send a
 * HEAD: two requests per announced file, one without hints); past the
 * grace the open confirms with a HEAD as before.  The first case is timed:
 * a try that took longer than the grace (a loaded machine) is repeated
 * with the next file; one that did not must have asked nothing. */
static void test_prefetch_confirms_within_grace(void **state)
{
    (void)state;
    struct mpfs_announce_stream *s;
    /* lookups by HEAD: a lookup that reads would cache these small files */
    struct fixture *f = with_stream("lookup_read=0", 6, &s);
    struct mpfs_announce *a = f->fs->announce;
    known_past_grace(f, 6);
    int within = 0, i = 0;
    for (; i < 5 && !within; i++) {
        char line[32];
        snprintf(line, sizeof(line), "d/f%02d\n", i);
        int64_t t0 = mpfs_now_ns();
        assert_int_equal(announce(s, line), 0);
        wait_fetched(a, (uint64_t)i + 1);
        mpfs_fault_reset_calls(f->s3f);
        check_file(f, i, 0);
        if (mpfs_now_ns() - t0 >= MPFS_POLICY_CTO_GRACE_NS)
            continue;
        within = 1;
        assert_int_equal(mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_STAT), 0);
        assert_int_equal(mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_READ), 0);
    }
    assert_true(within);
    assert_int_equal(stats(a).hits, (uint64_t)i);

    /* fetched, then opened after the grace: one HEAD, still no GET */
    char line[32];
    snprintf(line, sizeof(line), "d/f%02d\n", i);
    assert_int_equal(announce(s, line), 0);
    wait_fetched(a, (uint64_t)i + 1);
    past_grace();
    mpfs_fault_reset_calls(f->s3f);
    check_file(f, i, 0);
    assert_int_equal(mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_STAT), 1);
    assert_int_equal(mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_READ), 0);
    assert_int_equal(stats(a).hits, (uint64_t)i + 1);
    mpfs_announce_close(s);
    fixture_free(f);
}

/* "d/fFROM\n" .. "d/f(TO-1)\n" into out. */
static void name_list(int from, int to, char *out, size_t cap)
{
    out[0] = '\0';
    for (int k = from; k < to; k++)
        snprintf(out + strlen(out), cap - strlen(out), "d/f%02d\n", k);
}

/* Announce d/fFROM.. d/f(TO-1) and read them as a reader that works 20 ms
 * on each file: the module measures that pace from the claims. */
static void read_paced(struct fixture *f, struct mpfs_announce_stream *s, int from, int to)
{
    char text[1024];
    name_list(from, to, text, sizeof(text));
    assert_int_equal(announce(s, text), 0);
    for (int k = from; k < to; k++) {
        usleep(20000);
        check_file(f, k, 0);
    }
}

/* Close-to-open, a reader slower than the store: once the reader's pace is
 * measured (its first 10 files), entries are fetched only shortly before
 * their open (within half the grace), so the prefetch's GET is each open's
 * confirmation and no open sends a HEAD.  Fetched as early as the memory
 * allows, the files of the second announcement read after its first
 * 200 ms would each cost a HEAD (20 of 30).  A few HEADs are allowed for
 * a loaded machine (a reader stalled past the grace). */
static void test_close_to_open_prefetch_stays_close(void **state)
{
    (void)state;
    struct mpfs_announce_stream *s;
    struct fixture *f = with_stream("lookup_read=0", 40, &s);
    struct mpfs_announce *a = f->fs->announce;
    known_past_grace(f, 40);
    read_paced(f, s, 0, 10);
    mpfs_fault_reset_calls(f->s3f);
    uint64_t hits = stats(a).hits;
    read_paced(f, s, 10, 40);
    uint64_t heads = mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_STAT);
    if (heads > 3)
        fail_msg("%llu of 30 opens sent a HEAD", (unsigned long long)heads);
    assert_true(stats(a).hits - hits >= 27);
    mpfs_announce_close(s);
    fixture_free(f);
}

/* Close-to-open, files whose data is cached (an earlier epoch): their
 * open would wait for a HEAD.  Announced, a worker sends that HEAD shortly
 * before the open (as it would fetch), so the open trusts the version and
 * does not wait.  HEADs take 40 ms here; an open that waited for one took
 * longer than that (without the confirmation ahead: all 20).  A few are
 * allowed for a loaded machine.  No GET either. */
static void test_cached_confirmed_ahead(void **state)
{
    (void)state;
    struct mpfs_announce_stream *s;
    struct fixture *f = with_stream("lookup_read=0", 30, &s);
    for (int k = 0; k < 30; k++)
        check_file(f, k, 0); /* cached */
    past_grace();
    read_paced(f, s, 0, 10);
    struct mpfs_fault_rule slow = {.ops = MPFS_FAULT_OP_STAT, .action = MPFS_FAULT_DELAY,
                                   .delay_ms = 40, .count = -1};
    mpfs_fault_add(f->s3f, &slow);
    char text[1024];
    name_list(10, 30, text, sizeof(text));
    assert_int_equal(announce(s, text), 0);
    int waited = 0;
    mpfs_fault_reset_calls(f->s3f);
    for (int k = 10; k < 30; k++) {
        usleep(20000);
        int64_t t0 = mpfs_now_ns();
        check_file(f, k, 0);
        if (mpfs_now_ns() - t0 >= 40LL * 1000000)
            waited++;
    }
    if (waited > 3)
        fail_msg("%d of 20 opens waited for a HEAD", waited);
    assert_int_equal(mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_READ), 0);
    mpfs_announce_close(s);
    fixture_free(f);
}

/* A file whose blocks are cached (an earlier epoch) costs its announcement
 * nothing but the write's lookup: no entry is queued, no worker looks it
 * up again, no GET; reading it is an ordinary cache hit. */
static void test_cached_costs_nothing(void **state)
{
    (void)state;
    struct mpfs_announce_stream *s;
    struct fixture *f = with_stream("meta_ttl=0,neg_ttl=0", 6, &s);
    struct mpfs_announce *a = f->fs->announce;
    for (int i = 0; i < 4; i++)
        check_file(f, i, 0); /* f00..f03 cached, f04 and f05 not */
    mpfs_fault_reset_calls(f->s3f);
    assert_int_equal(announce(s, "d/f00\nd/f04\nd/f01\nd/f02\nd/f05\nd/f03\n"), 0);
    uint64_t heads = mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_STAT);
    struct mpfs_announce_stats st = stats(a);
    assert_int_equal(st.cached, 4);
    assert_int_equal(st.announced, 6);
    assert_int_equal(st.queued, 2); /* only the two not cached */
    wait_fetched(a, 6);
    usleep(20000);
    st = stats(a);
    assert_int_equal(st.fetched, 2);
    assert_int_equal(st.cached, 4);
    assert_int_equal(mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_READ), 2);
    assert_int_equal(mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_STAT), heads);
    /* all six now read without a GET */
    for (int i = 0; i < 6; i++)
        check_file(f, i, 0);
    assert_int_equal(mpfs_fault_calls(f->s3f, MPFS_FAULT_OP_READ), 2);
    assert_int_equal(stats(a).hits, 2);
    assert_int_equal(stats(a).queued, 0);
    mpfs_announce_close(s);
    fixture_free(f);
}

/* The lookup references the module takes (one per queued entry) are all
 * given back, whichever way an entry ends: refused write, reset inside a
 * write, cached, claimed, late, skipped, reset, cancelled in flight,
 * stream closed, module freed.  (An extra forget aborts the process on
 * the lookup count's underflow; a missing one shows here.) */
static uint64_t refs(struct fixture *f, uint64_t ino)
{
    pthread_mutex_lock(&f->fs->lock);
    struct mpfs_node *n = mpfs_node_find_locked(f->fs, ino);
    uint64_t r = n ? n->nlookup : 0;
    pthread_mutex_unlock(&f->fs->lock);
    return r;
}

#define NREF 24

static void check_refs(struct fixture *f, const uint64_t *ino, const uint64_t *base, int line)
{
    for (int i = 0; i < NREF; i++)
        if (refs(f, ino[i]) != base[i])
            fail_msg("line %d: d/f%02d holds %llu lookup references, want %llu", line, i,
                     (unsigned long long)refs(f, ino[i]), (unsigned long long)base[i]);
}

static void test_lookup_refs_balanced(void **state)
{
    (void)state;
    /* the lookups below collect inode numbers; with lookup_read they would
     * also cache the files, and cached files are never queued */
    struct fixture *f = fixture_new("s3", "lookup_read=0");
    make_files(f, NREF);
    uint64_t ino[NREF], base[NREF];
    char v[NREF][MPFS_VERSION_MAX];
    uint64_t size[NREF];
    for (int i = 0; i < NREF; i++) {
        char name[32];
        snprintf(name, sizeof(name), "d/f%02d", i);
        struct mpfs_entry e;
        assert_int_equal(fx_lookup_path(f, name, &e), 0);
        ino[i] = e.ino;
        version_of(f, name, v[i], &size[i]);
    }
    for (int i = 0; i < NREF; i++)
        base[i] = refs(f, ino[i]);
    struct mpfs_announce_config cfg = {
        .threads = 1, .queue_max = 64, .memory = 64 * FSIZE, .block_size = 1u << 20};
    struct mpfs_announce *a = mpfs_announce_new(f->fs, &cfg);
    struct mpfs_announce_stream *s;
    assert_int_equal(mpfs_announce_open(a, NULL, 1, &s), 0);

    /* refused writes, a reset inside a write */
    assert_int_equal(announce(s, "d/f00\nd/f01\nnope\n"), -ENOENT);
    check_refs(f, ino, base, __LINE__);
    assert_int_equal(announce(s, "d/f00\nd/f01\n#bogus\n"), -EINVAL);
    check_refs(f, ino, base, __LINE__);
    /* fetches held back: entries stay queued (one in flight) */
    struct mpfs_fault_rule slow = {.ops = MPFS_FAULT_OP_READ, .action = MPFS_FAULT_DELAY,
                                   .delay_ms = 200, .count = -1};
    int rule = mpfs_fault_add(f->s3f, &slow);
    assert_int_equal(announce(s, "d/f00\n#reset\nd/f01\nd/f02\nd/f03\n"), 0);
    assert_int_equal(refs(f, ino[0]), base[0]);     /* gone with the reset */
    assert_int_equal(refs(f, ino[1]), base[1] + 1); /* held while queued */
    assert_int_equal(refs(f, ino[3]), base[3] + 1);
    /* a reset with one in flight: that one is released by its worker */
    mpfs_announce_reset(s);
    wait_held(a, 0);
    check_refs(f, ino, base, __LINE__);
    mpfs_fault_remove(f->s3f, rule);

    /* claimed, late, skipped */
    char text[1024] = "";
    for (int i = 0; i < 20; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "d/f%02d\n", i);
    assert_int_equal(announce(s, text), 0);
    wait_fetched(a, 20);
    assert_int_equal(mpfs_announce_claim(a, "d/f00", v[0], size[0]), FSIZE);
    assert_int_equal(mpfs_announce_claim(a, "d/f19", v[19], size[19]), FSIZE); /* skips 1, 2 */
    assert_int_equal(stats(a).skipped, 2);
    for (int i = 3; i < 19; i++)
        assert_int_equal(refs(f, ino[i]), base[i] + 1);
    mpfs_announce_reset(s);
    check_refs(f, ino, base, __LINE__);

    /* cached: released at once */
    assert_int_equal(announce(s, "d/f00\nd/f19\n"), 0);
    assert_int_equal(stats(a).queued, 0);
    check_refs(f, ino, base, __LINE__);

    /* a late claim (its fetch not started), then the stream's end */
    rule = mpfs_fault_add(f->s3f, &slow);
    assert_int_equal(announce(s, "d/f20\nd/f21\nd/f22\n"), 0);
    for (int i = 0; i < 100 && stats(a).in_flight == 0; i++)
        usleep(1000);
    assert_int_equal(mpfs_announce_claim(a, "d/f21", v[21], size[21]), 0);
    assert_int_equal(stats(a).late, 1);
    assert_int_equal(refs(f, ino[21]), base[21]);
    mpfs_announce_close(s);
    wait_held(a, 0);
    check_refs(f, ino, base, __LINE__);

    /* the module freed with entries queued and one in flight */
    assert_int_equal(mpfs_announce_open(a, NULL, 1, &s), 0);
    assert_int_equal(announce(s, "d/f20\nd/f21\nd/f22\nd/f23\n"), 0);
    for (int i = 0; i < 100 && stats(a).in_flight == 0; i++)
        usleep(1000);
    mpfs_announce_free(a);
    check_refs(f, ino, base, __LINE__);
    mpfs_fault_remove(f->s3f, rule);
    fixture_free(f);
}

/* The in-flight target is sized by the least fetch time lately, not the
 * mean: one slow fetch (a store queueing) does not raise it. */
static void test_fetch_floor(void **state)
{
    (void)state;
    struct fixture *f = fixture_new("s3", NULL);
    struct mpfs_announce_stream *s;
    struct mpfs_announce *a = one_worker_slow_f00(f, 10, 200, &s);
    assert_int_equal(announce(s, "d/f00\nd/f01\nd/f02\nd/f03\nd/f04\nd/f05\nd/f06\nd/f07\n"
                                 "d/f08\nd/f09\n"),
                     0);
    wait_fetched(a, 10);
    struct mpfs_announce_stats st = stats(a);
    assert_true(st.fetch_us > 200000 / 8); /* the mean still carries the slow one */
    assert_true(st.fetch_floor_us < 20000);
    mpfs_announce_free(a);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefetched_read_is_a_hit),
        cmocka_unit_test(test_order_and_memory_bound),
        cmocka_unit_test(test_needed_last_dropped_first),
        cmocka_unit_test(test_reset_and_isolation),
        cmocka_unit_test(test_reader_ahead_of_prefetch),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_no_mixed_versions),
        cmocka_unit_test(test_head_and_ranges),
        cmocka_unit_test(test_no_hints_no_change),
        cmocka_unit_test(test_one_lookup_per_announcement),
        cmocka_unit_test(test_cached_costs_nothing),
        cmocka_unit_test(test_prefetch_confirms_within_grace),
        cmocka_unit_test(test_close_to_open_prefetch_stays_close),
        cmocka_unit_test(test_cached_confirmed_ahead),
        cmocka_unit_test(test_lookup_refs_balanced),
        cmocka_unit_test(test_fetch_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
